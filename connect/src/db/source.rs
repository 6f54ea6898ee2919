//! The database source: polls tables or a query for new rows, as Kafka's JDBC source connector.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
// Statements are built from quoted identifiers; values are always bound.
use sqlx::AssertSqlSafe;

use super::dialect::{Dialect, Pool, pg_row, sqlite_row};
use super::error::DbError;
use crate::record::{ConnectRecord, SourceRecord};

/// How new rows are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole table on every poll.
    Bulk,
    /// Rows whose incrementing column is above the last seen (new rows; not updates).
    Incrementing,
    /// Rows whose timestamp is after the last seen (new and updated rows).
    Timestamp,
    /// Timestamp, with the incrementing column telling rows of the same timestamp apart.
    TimestampIncrementing,
}

/// A database source's settings (Kafka's JDBC source keys).
#[derive(Debug, Clone)]
pub struct DbSourceConfig {
    url: String,
    user: Option<String>,
    password: Option<String>,
    mode: Mode,
    incrementing: Option<String>,
    timestamps: Vec<String>,
    tables: Vec<String>,
    query: Option<String>,
    topic_prefix: String,
    poll_interval: Duration,
    batch_max_rows: i64,
    delay_ms: i64,
    timestamp_initial: Option<i64>,
}

fn list(config: &BTreeMap<String, String>, key: &str) -> Vec<String> {
    config
        .get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn number(config: &BTreeMap<String, String>, key: &str, default: i64) -> Result<i64, DbError> {
    match config.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| DbError::config(key, format!("{v} is not a number"))),
    }
}

impl DbSourceConfig {
    /// From a connector's config: `connection.url` (`connection.user`, `connection.password`),
    /// `mode`, `incrementing.column.name`, `timestamp.column.name`, `table.whitelist` (or
    /// `table.include.list`) or `query`, `topic.prefix`, `poll.interval.ms` (5000),
    /// `batch.max.rows` (1000), `timestamp.delay.interval.ms` (0), `timestamp.initial`.
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<Self, DbError> {
        let get = |key: &str| config.get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let url = get("connection.url").ok_or_else(|| DbError::config("connection.url", "missing"))?;
        let mode = match get("mode").as_deref() {
            Some("bulk") => Mode::Bulk,
            Some("incrementing") => Mode::Incrementing,
            Some("timestamp") => Mode::Timestamp,
            Some("timestamp+incrementing") => Mode::TimestampIncrementing,
            Some(other) => {
                return Err(DbError::config(
                    "mode",
                    format!("{other}: not bulk, incrementing, timestamp or timestamp+incrementing"),
                ));
            }
            None => return Err(DbError::config("mode", "missing")),
        };
        let incrementing = get("incrementing.column.name");
        let timestamps = list(config, "timestamp.column.name");
        if matches!(mode, Mode::Incrementing | Mode::TimestampIncrementing) && incrementing.is_none() {
            return Err(DbError::config("incrementing.column.name", "needed in this mode"));
        }
        if matches!(mode, Mode::Timestamp | Mode::TimestampIncrementing) && timestamps.is_empty() {
            return Err(DbError::config("timestamp.column.name", "needed in this mode"));
        }
        let mut tables = list(config, "table.whitelist");
        tables.extend(list(config, "table.include.list"));
        let query = get("query");
        match (tables.is_empty(), &query) {
            (true, None) => return Err(DbError::config("table.whitelist", "name the tables (or give a query)")),
            (false, Some(_)) => return Err(DbError::config("query", "give either tables or a query, not both")),
            _ => {}
        }
        // Required, but may be empty (topics named as the tables).
        let topic_prefix = config
            .get("topic.prefix")
            .map(|p| p.trim().to_owned())
            .ok_or_else(|| DbError::config("topic.prefix", "missing"))?;
        let timestamp_initial = match get("timestamp.initial") {
            None => None,
            Some(_) => Some(number(config, "timestamp.initial", -1)?),
        };
        let poll = number(config, "poll.interval.ms", 5_000)?;
        Ok(Self {
            url,
            user: get("connection.user"),
            password: get("connection.password"),
            mode,
            incrementing,
            timestamps,
            tables,
            query,
            topic_prefix,
            poll_interval: Duration::from_millis(u64::try_from(poll).unwrap_or(5_000)),
            batch_max_rows: number(config, "batch.max.rows", 1_000)?.max(1),
            delay_ms: number(config, "timestamp.delay.interval.ms", 0)?.max(0),
            timestamp_initial,
        })
    }

    /// How often new rows are looked for.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }
}

/// A table or the query, and where its reading stands.
#[derive(Debug)]
struct Target {
    /// The table or query, as named in offsets.
    name: String,
    partition: Value,
    topic: String,
    /// `SELECT ... FROM ...` without conditions.
    select: String,
    key_columns: Vec<String>,
    incrementing: i64,
    timestamp: i64,
}

/// A running database source.
#[derive(Debug)]
pub struct DbSource {
    config: DbSourceConfig,
    pool: Pool,
    targets: Vec<Target>,
    /// Bulk mode: when the tables are read again.
    next_bulk: Instant,
}

/// The column the timestamp modes read a row's time from.
const TS: &str = "__rill_ts";

impl DbSource {
    /// Connects and resumes from `stored` offsets (keyed by the partition's JSON text).
    pub async fn open(config: DbSourceConfig, stored: &HashMap<String, Value>) -> Result<Self, DbError> {
        let pool = Pool::connect(&config.url, config.user.as_deref(), config.password.as_deref()).await?;
        let dialect = pool.dialect();
        let ts_expr = (!config.timestamps.is_empty()).then(|| {
            let columns: Vec<String> = config.timestamps.iter().map(|c| dialect.quote(c)).collect();
            let column = if columns.len() == 1 {
                columns[0].clone()
            } else {
                format!("COALESCE({})", columns.join(", "))
            };
            dialect.epoch_millis(&column)
        });
        let extra = ts_expr.map(|e| format!(", {e} AS {TS}")).unwrap_or_default();
        let initial_ts = match config.timestamp_initial {
            Some(-1) => chrono::Utc::now().timestamp_millis(),
            Some(t) => t,
            None => i64::MIN / 2,
        };
        let mut targets = Vec::new();
        let named: Vec<(String, Value, String, String)> = match &config.query {
            Some(query) => vec![(
                query.clone(),
                json!({ "protocol": "1", "query": query }),
                config.topic_prefix.clone(),
                format!("SELECT *{extra} FROM ({query}) AS q"),
            )],
            None => config
                .tables
                .iter()
                .map(|t| {
                    (
                        t.clone(),
                        json!({ "protocol": "1", "table": t }),
                        format!("{}{t}", config.topic_prefix),
                        format!("SELECT *{extra} FROM {}", dialect.quote(t)),
                    )
                })
                .collect(),
        };
        for (name, partition, topic, select) in named {
            let key_columns = if config.query.is_some() {
                config.incrementing.iter().cloned().collect()
            } else {
                let pk = pool.primary_key(&name).await?;
                if pk.is_empty() && pool.columns(&name).await?.is_empty() {
                    return Err(DbError::NoTable(name));
                }
                pk
            };
            let offset = stored.get(&partition.to_string());
            let field = |f: &str| offset.and_then(|o| o.get(f)).and_then(Value::as_i64);
            targets.push(Target {
                incrementing: field("incrementing").unwrap_or(-1),
                timestamp: field("timestamp").unwrap_or(initial_ts),
                name,
                partition,
                topic,
                select,
                key_columns,
            });
        }
        Ok(Self {
            config,
            pool,
            targets,
            next_bulk: Instant::now(),
        })
    }

    /// One poll of every table (or the query): new rows as records with their offsets.
    pub async fn poll(&mut self) -> Result<Vec<SourceRecord>, DbError> {
        let mut out = Vec::new();
        if self.config.mode == Mode::Bulk {
            if Instant::now() < self.next_bulk {
                return Ok(out);
            }
            self.next_bulk = Instant::now() + self.config.poll_interval;
        }
        let dialect = self.pool.dialect();
        for target in &mut self.targets {
            let (sql, binds) = statement(&self.config, dialect, target);
            let rows = fetch(&self.pool, &sql, &binds)
                .await
                .map_err(DbError::statement("polling", &target.name))?;
            for mut row in rows {
                let ts = row.remove(TS).and_then(|v| v.as_i64());
                if let Some(column) = &self.config.incrementing {
                    if let Some(inc) = row.get(column).and_then(Value::as_i64) {
                        target.incrementing = inc;
                    }
                }
                if let Some(ts) = ts {
                    target.timestamp = ts;
                }
                let offset = match self.config.mode {
                    Mode::Bulk => Value::Null,
                    Mode::Incrementing => json!({ "incrementing": target.incrementing }),
                    Mode::Timestamp => json!({ "timestamp": target.timestamp }),
                    Mode::TimestampIncrementing => {
                        json!({ "timestamp": target.timestamp, "incrementing": target.incrementing })
                    }
                };
                let key = (!target.key_columns.is_empty()).then(|| {
                    Value::Object(
                        target
                            .key_columns
                            .iter()
                            .map(|c| (c.clone(), row.get(c).cloned().unwrap_or(Value::Null)))
                            .collect(),
                    )
                });
                let mut record = ConnectRecord::new(target.topic.clone(), key, Some(Value::Object(row)));
                record.timestamp = ts;
                out.push(SourceRecord {
                    record,
                    partition: target.partition.clone(),
                    offset,
                });
            }
        }
        Ok(out)
    }

    /// Closes the connections.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// The statement that reads a target's new rows, and its parameters.
fn statement(config: &DbSourceConfig, dialect: Dialect, target: &Target) -> (String, Vec<i64>) {
    let inc = config
        .incrementing
        .as_deref()
        .map(|c| dialect.quote(c))
        .unwrap_or_default();
    let ts = TS;
    let limit = config.batch_max_rows;
    let until = chrono::Utc::now().timestamp_millis() - config.delay_ms;
    let p = |n| dialect.param(n);
    let select = &target.select;
    match config.mode {
        Mode::Bulk => (select.clone(), Vec::new()),
        Mode::Incrementing => (
            format!(
                "SELECT * FROM ({select}) AS t WHERE {inc} > {} ORDER BY {inc} LIMIT {limit}",
                p(1)
            ),
            vec![target.incrementing],
        ),
        // No limit: rows of one timestamp must come in one poll, or those past a limit would
        // be missed (timestamp+incrementing tells them apart).
        Mode::Timestamp => (
            format!(
                "SELECT * FROM ({select}) AS t WHERE {ts} > {} AND {ts} < {} ORDER BY {ts}",
                p(1),
                p(2)
            ),
            vec![target.timestamp, until],
        ),
        Mode::TimestampIncrementing => (
            format!(
                "SELECT * FROM ({select}) AS t WHERE (({ts} = {p1} AND {inc} > {p2}) OR {ts} > {p1}) AND {ts} < {p3} \
                 ORDER BY {ts}, {inc} LIMIT {limit}",
                p1 = p(1),
                p2 = p(2),
                p3 = p(3)
            ),
            vec![target.timestamp, target.incrementing, until],
        ),
    }
}

async fn fetch(pool: &Pool, sql: &str, binds: &[i64]) -> Result<Vec<Map<String, Value>>, sqlx::Error> {
    match pool {
        Pool::Sqlite(p) => {
            let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
            for b in binds {
                query = query.bind(*b);
            }
            Ok(query.fetch_all(p).await?.iter().map(sqlite_row).collect())
        }
        Pool::Postgres(p) => {
            let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
            for b in binds {
                query = query.bind(*b);
            }
            Ok(query.fetch_all(p).await?.iter().map(pg_row).collect())
        }
    }
}
