//! The worker's REST API, with Kafka Connect's endpoints, JSON shapes and status codes
//! (default listener `http://127.0.0.1:8083`). Errors are `{"error_code": <status>, "message": ..}`.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::runtime::{Config, Plugin, TargetState, Worker, WorkerError, validate};

/// An error answer.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error_code": self.0.as_u16(), "message": self.1 });
        (self.0, Json(body)).into_response()
    }
}

impl From<WorkerError> for ApiError {
    fn from(e: WorkerError) -> Self {
        let status = match &e {
            WorkerError::NotFound(_) | WorkerError::TaskNotFound { .. } => StatusCode::NOT_FOUND,
            WorkerError::Exists(_) => StatusCode::CONFLICT,
            WorkerError::BadRequest(_) | WorkerError::NotStopped(_) => StatusCode::BAD_REQUEST,
            WorkerError::Connect(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self(StatusCode::BAD_REQUEST, format!("Invalid JSON body: {}", e.body_text()))
    }
}

type Reply = Result<Response, ApiError>;

/// The API's routes over `worker`.
pub fn router(worker: Worker) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route(
            "/connectors/{name}/config",
            get(config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/restart", post(restart))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route("/connectors/{name}/tasks/{task}/restart", post(restart_task))
        .route(
            "/connectors/{name}/offsets",
            get(offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/connector-plugins", get(plugins))
        .route("/connector-plugins/{plugin}/config", get(plugin_config))
        .route("/connector-plugins/{plugin}/config/validate", put(validate_config))
        .route("/transforms/test", post(test_transforms))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "HTTP 404 Not Found".to_owned()) })
        .with_state(worker)
}

/// Serves the API on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, worker: Worker, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(worker))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn root(State(worker): State<Worker>) -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": "",
        "kafka_cluster_id": worker.cluster_id().await.unwrap_or_default(),
    }))
}

async fn list(
    State(worker): State<Worker>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let expand: Vec<String> = match query {
        Ok(Query(pairs)) => pairs
            .into_iter()
            .filter(|(k, _)| k == "expand")
            .map(|(_, v)| v)
            .collect(),
        Err(e) => return Err(ApiError(StatusCode::BAD_REQUEST, e.body_text())),
    };
    let names = worker.connectors().await;
    if expand.is_empty() {
        return Ok(Json(names).into_response());
    }
    let mut out = serde_json::Map::new();
    for name in names {
        let mut item = serde_json::Map::new();
        for what in &expand {
            match what.as_str() {
                "status" => {
                    if let Ok(status) = worker.status(&name).await {
                        item.insert("status".to_owned(), json!(status));
                    }
                }
                "info" => {
                    if let Ok(info) = worker.info(&name).await {
                        item.insert("info".to_owned(), json!(info));
                    }
                }
                other => {
                    return Err(ApiError(
                        StatusCode::BAD_REQUEST,
                        format!("expand={other}: not status or info"),
                    ));
                }
            }
        }
        out.insert(name, Value::Object(item));
    }
    Ok(Json(Value::Object(out)).into_response())
}

/// A JSON object's values as strings (numbers and booleans as their text).
fn flat_config(value: &Value) -> Result<Config, ApiError> {
    let Some(map) = value.as_object() else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "The config must be a JSON object".to_owned(),
        ));
    };
    let mut config = BTreeMap::new();
    for (key, value) in map {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        config.insert(key.clone(), value);
    }
    Ok(config)
}

async fn create(State(worker): State<Worker>, body: Result<Json<Value>, JsonRejection>) -> Reply {
    let Json(body) = body?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    if name.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "Connector name is required (\"name\")".to_owned(),
        ));
    }
    let config = flat_config(body.get("config").unwrap_or(&Value::Null))?;
    let initial = match body.get("initial_state") {
        None | Some(Value::Null) => TargetState::Started,
        Some(state) => serde_json::from_value(state.clone()).map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("initial_state {state}: not RUNNING, PAUSED or STOPPED"),
            )
        })?,
    };
    let info = worker.create(&name, config, initial).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/connectors/{name}")) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(info)).into_response())
}

async fn info(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    Ok(Json(worker.info(&name).await?).into_response())
}

async fn delete(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    worker.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn config(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    Ok(Json(worker.config(&name).await?).into_response())
}

async fn put_config(
    State(worker): State<Worker>,
    Path(name): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let Json(body) = body?;
    let (created, info) = worker.put_config(&name, flat_config(&body)?).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(info)).into_response())
}

async fn patch_config(
    State(worker): State<Worker>,
    Path(name): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let Json(body) = body?;
    let Value::Object(patch) = body else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "The config patch must be a JSON object".to_owned(),
        ));
    };
    Ok(Json(worker.patch_config(&name, patch).await?).into_response())
}

async fn status(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    Ok(Json(worker.status(&name).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestartQuery {
    include_tasks: Option<bool>,
    only_failed: Option<bool>,
}

async fn restart(
    State(worker): State<Worker>,
    Path(name): Path<String>,
    query: Result<Query<RestartQuery>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let Query(query) = query.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let with_params = query.include_tasks.is_some() || query.only_failed.is_some();
    let status = worker
        .restart(
            &name,
            query.include_tasks.unwrap_or(false),
            query.only_failed.unwrap_or(false),
        )
        .await?;
    // Kafka Connect: no parameters, 204; with them, 202 and the status.
    if with_params {
        Ok((StatusCode::ACCEPTED, Json(status)).into_response())
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn pause(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    worker.set_target(&name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn resume(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    worker.set_target(&name, TargetState::Started).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn stop(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    worker.set_target(&name, TargetState::Stopped).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn tasks(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    let tasks: Vec<Value> = worker
        .tasks(&name)
        .await?
        .into_iter()
        .map(|(id, config)| json!({ "id": id, "config": config }))
        .collect();
    Ok(Json(tasks).into_response())
}

fn task_number(task: &str) -> Result<usize, ApiError> {
    task.parse()
        .map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("{task} is not a task number")))
}

async fn task_status(State(worker): State<Worker>, Path((name, task)): Path<(String, String)>) -> Reply {
    Ok(Json(worker.task_status(&name, task_number(&task)?).await?).into_response())
}

async fn restart_task(State(worker): State<Worker>, Path((name, task)): Path<(String, String)>) -> Reply {
    worker.restart_task(&name, task_number(&task)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn offsets(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    Ok(Json(json!({ "offsets": worker.offsets(&name).await? })).into_response())
}

async fn alter_offsets(
    State(worker): State<Worker>,
    Path(name): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let Json(body) = body?;
    let Some(offsets) = body.get("offsets").and_then(Value::as_array) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "The body needs an \"offsets\" array".to_owned(),
        ));
    };
    worker.alter_offsets(&name, offsets).await?;
    Ok(Json(json!({ "message": "The offsets for this connector have been altered successfully" })).into_response())
}

async fn reset_offsets(State(worker): State<Worker>, Path(name): Path<String>) -> Reply {
    worker.reset_offsets(&name).await?;
    Ok(Json(json!({ "message": "The offsets for this connector have been reset successfully" })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginsQuery {
    connectors_only: Option<bool>,
}

async fn plugins(query: Result<Query<PluginsQuery>, axum::extract::rejection::QueryRejection>) -> Reply {
    let Query(query) = query.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let version = env!("CARGO_PKG_VERSION");
    let mut out: Vec<Value> = Plugin::ALL
        .iter()
        .map(|p| json!({ "class": p.class(), "type": p.kind(), "version": version }))
        .collect();
    if query.connectors_only == Some(false) {
        for name in crate::transform::transform_types() {
            out.push(json!({ "class": name, "type": "transformation", "version": version }));
        }
        for class in [
            "org.apache.kafka.connect.json.JsonConverter",
            "org.apache.kafka.connect.storage.StringConverter",
        ] {
            out.push(json!({ "class": class, "type": "converter", "version": version }));
        }
    }
    Ok(Json(out).into_response())
}

fn plugin_named(name: &str) -> Result<Plugin, ApiError> {
    Plugin::from_class(name).ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("Unknown plugin {name}")))
}

async fn plugin_config(Path(name): Path<String>) -> Reply {
    Ok(Json(plugin_named(&name)?.definitions()).into_response())
}

/// `POST /transforms/test`: runs a transform chain on sample records, from `{"config": {..},
/// "records": [..]}` or `{"connector": "<name>", "records": [..]}` (that connector's chain).
/// Answers `{"results": [{"record": ..} | {"dropped": true} | {"error": ..}]}`.
async fn test_transforms(State(worker): State<Worker>, body: Result<Json<Value>, JsonRejection>) -> Reply {
    let Json(body) = body?;
    let config = match (body.get("config"), body.get("connector")) {
        (Some(config), None) => flat_config(config)?,
        (None, Some(Value::String(name))) => worker.config(name).await?,
        _ => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "give the transforms' configuration (\"config\") or a connector's name (\"connector\")".to_owned(),
            ));
        }
    };
    let chain = crate::transform::TransformChain::from_config(&config)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "\"records\" must be a list of sample records".to_owned(),
        ));
    };
    let topic = crate::transform::default_sample_topic(&config);
    let results = crate::transform::dry_run(&chain, records, &topic);
    Ok(Json(json!({ "results": results })).into_response())
}

async fn validate_config(Path(name): Path<String>, body: Result<Json<Value>, JsonRejection>) -> Reply {
    let plugin = plugin_named(&name)?;
    let Json(body) = body?;
    let config = flat_config(&body)?;
    if let Some(class) = config.get("connector.class") {
        if Plugin::from_class(class) != Some(plugin) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("connector.class {class} does not match the plugin {name} in the URL"),
            ));
        }
    }
    Ok(Json(validate(plugin, &config)).into_response())
}
