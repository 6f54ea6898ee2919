//! `rill run pipeline.rhai`: a Streams pipeline written in rhai, against a cluster
//! (`--bootstrap-server`) or a broker in this process (`--embedded`), reloaded when the file
//! changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rill_streams::StreamsConfig;
use rill_streams::script::{ErrorPolicy, Limits, Pipeline, Reload, ScriptApp, ScriptOptions, ScriptWatcher};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::client_args::ClientArgs;

/// Arguments of `rill run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The pipeline script (rhai).
    script: PathBuf,
    #[command(flatten)]
    client: ClientArgs,
    /// Run against a broker started in this process (127.0.0.1, a free port), creating the
    /// topics the script reads and writes.
    #[arg(long)]
    embedded: bool,
    /// Where the embedded broker keeps its data (default: a temporary directory).
    #[arg(long = "embedded-data-dir", value_name = "DIR", requires = "embedded")]
    embedded_data_dir: Option<PathBuf>,
    /// The application id (consumer group, internal topic prefix); default: the script's file
    /// name without its extension.
    #[arg(long = "application-id", value_name = "ID")]
    application_id: Option<String>,
    /// What a record the script fails on does.
    #[arg(long = "on-error", value_enum, default_value_t = OnError::Fail)]
    on_error: OnError,
    /// The dead-letter topic of `--on-error dlq` (default: `<application id>-dlq`).
    #[arg(long = "dlq-topic", value_name = "TOPIC")]
    dlq_topic: Option<String>,
    /// Where state stores live (default: a temporary directory; restored from changelogs).
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Operations a script call may take before it is stopped.
    #[arg(long = "max-operations", value_name = "N", default_value_t = Limits::default().max_operations)]
    max_operations: u64,
    /// Do not reload the script when its file changes.
    #[arg(long = "no-watch")]
    no_watch: bool,
    /// Compile the script and print its steps, without running it.
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnError {
    /// Stop the pipeline.
    Fail,
    /// Leave the record out (logged).
    Skip,
    /// Write the record to the dead-letter topic with the error in its headers.
    Dlq,
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    let source = read(&args.script)?;
    let stem = args
        .script
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pipeline".to_owned());
    let application_id = args.application_id.clone().unwrap_or(stem);
    let on_error = match args.on_error {
        OnError::Fail => ErrorPolicy::Fail,
        OnError::Skip => ErrorPolicy::Skip,
        OnError::Dlq => ErrorPolicy::DeadLetter(
            args.dlq_topic
                .clone()
                .unwrap_or_else(|| format!("{application_id}-dlq")),
        ),
    };
    let options = ScriptOptions {
        name: args.script.display().to_string(),
        on_error,
        limits: Limits {
            max_operations: args.max_operations,
            ..Limits::default()
        },
    };
    let pipeline = Pipeline::compile(&source, &options)?;
    if args.check {
        println!("{}: {} steps", options.name, pipeline.describe_steps().len());
        for step in pipeline.describe_steps() {
            println!("  {step}");
        }
        return Ok(());
    }
    super::client_args::runtime()?.block_on(serve(args, source, options, pipeline, application_id))
}

async fn serve(
    args: RunArgs,
    source: String,
    options: ScriptOptions,
    pipeline: Pipeline,
    application_id: String,
) -> anyhow::Result<()> {
    let embedded = match args.embedded {
        true => Some(start_embedded(args.embedded_data_dir.as_deref(), &pipeline).await?),
        false => None,
    };
    let bootstrap = match &embedded {
        Some(broker) => broker.bootstrap(),
        None => args.client.bootstrap_server.clone(),
    };
    let mut config = StreamsConfig::new(&application_id, &bootstrap);
    for (key, value) in args.client.properties(&[])? {
        if key != "bootstrap.servers" {
            config = config.property(&key, &value);
        }
    }
    if let Some(dir) = &args.state_dir {
        config = config.state_dir(dir);
    }
    let mut app = ScriptApp::start(&source, &options, config)
        .await
        .with_context(|| format!("starting {} on {bootstrap}", options.name))?;
    if embedded.is_some() {
        println!("Embedded broker on {bootstrap}");
    }
    println!(
        "Running {} as application {application_id} on {bootstrap} ({} steps){}",
        options.name,
        app.pipeline().describe_steps().len(),
        if args.no_watch {
            ""
        } else {
            "; reloading it when it changes"
        }
    );
    let mut watcher = match args.no_watch {
        true => None,
        false => Some(ScriptWatcher::new(&args.script).with_context(|| format!("watching {}", args.script.display()))?),
    };
    let stop = CancellationToken::new();
    tokio::spawn(super::broker::on_signal(stop.clone()));
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let mut last_report = (tokio::time::Instant::now(), 0_u64);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(changed) = async {
                match watcher.as_mut() {
                    Some(w) => w.changed().await,
                    None => std::future::pending().await,
                }
            } => report(&options.name, app.reload(&changed).await),
            _ = ticks.tick() => {
                if app.is_finished() {
                    break;
                }
                let (at, processed) = last_report;
                if at.elapsed() >= Duration::from_secs(10) {
                    let now = app.stats().processed;
                    let rate = (now - processed) as f64 / at.elapsed().as_secs_f64();
                    info!(processed = now, rate = format!("{rate:.0}/s"), "progress");
                    last_report = (tokio::time::Instant::now(), now);
                }
            }
        }
    }
    let stats = app.stats();
    let closed = app.close().await;
    if let Some(broker) = embedded {
        broker.stop().await.context("stopping the embedded broker")?;
    }
    closed.with_context(|| format!("{} stopped", options.name))?;
    println!("Stopped after {} records", stats.processed);
    Ok(())
}

/// Reports a reload on stdout (and the log).
fn report(script: &str, outcome: Result<Reload, rill_streams::script::ScriptError>) {
    match outcome {
        Ok(Reload::Unchanged) => {}
        Ok(Reload::Swapped) => println!("Reloaded {script}: same steps, new closures from the next record on"),
        Ok(Reload::Restarted) => {
            println!("Reloaded {script}: stateless steps changed, pipeline restarted with its state and offsets")
        }
        Ok(Reload::Kept { reason }) => {
            warn!(script, reason, "not reloaded");
            println!("Not reloaded {script}: {reason}; the running script stays");
        }
        Err(e) => {
            warn!(script, error = %e, "not reloaded");
            println!("Not reloaded: {e}; the running script stays");
        }
    }
}

/// Starts the embedded broker and creates the script's topics (one partition each).
async fn start_embedded(dir: Option<&Path>, pipeline: &Pipeline) -> anyhow::Result<rill_streams::EmbeddedBroker> {
    let broker = rill_streams::EmbeddedBroker::start(dir)
        .await
        .context("starting the embedded broker")?;
    let admin = rill_client::admin::Admin::from_properties([("bootstrap.servers", broker.bootstrap().as_str())])
        .await
        .context("connecting to the embedded broker")?;
    let topology = pipeline.topology();
    let mut names = topology.user_source_topics();
    names.extend(pipeline.output_topics());
    let topics: Vec<rill_client::admin::NewTopic> = names
        .iter()
        .map(|t| rill_client::admin::NewTopic::new(t).partitions(1))
        .collect();
    if !topics.is_empty() {
        for (topic, result) in admin.create_topics(&topics, false).await.context("creating topics")? {
            match result {
                Err(e) if e.kafka() != Some(rill_client::ResponseError::TopicAlreadyExists) => {
                    bail!("creating topic {topic}: {e}")
                }
                _ => {}
            }
        }
    }
    Ok(broker)
}
