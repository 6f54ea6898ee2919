//! A task's work, by plugin: the loops of sink and polling source tasks around their
//! connectors, with transforms, converters and the error policy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rill_client::consumer::{Consumer, ConsumerRecord};
use rill_client::producer::{Producer, ProducerRecord};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::errors::{Errant, ErrorReporter, Stage};
use super::spec::{Job, Spec, millis};
use crate::db::{DbSink, DbSource, DbSourceConfig};
use crate::error::{ConnectError, client};
use crate::file::{FileSink, LineHeaders, Processing, run_file_source_with};
use crate::offsets::OffsetStore;
use crate::record::{ConnectRecord, Origin, RecordFailure, SourceRecord};

/// What a task runs with.
#[derive(Debug, Clone)]
pub(crate) struct TaskContext {
    pub(crate) spec: Arc<Spec>,
    pub(crate) task: usize,
    pub(crate) bootstrap: String,
    pub(crate) offsets: Arc<OffsetStore>,
    pub(crate) stop: CancellationToken,
}

/// Runs the task until it is stopped (`Ok`) or fails.
pub(crate) async fn run(ctx: &TaskContext) -> Result<(), ConnectError> {
    match &ctx.spec.job {
        Job::FileSource(config) => {
            let producer =
                Producer::from_properties([("bootstrap.servers", ctx.bootstrap.as_str()), ("linger.ms", "5")])
                    .await
                    .map_err(client)?;
            let spec = &ctx.spec;
            let errors = ErrorReporter::new(spec.errors.clone(), &spec.name, ctx.task, &ctx.bootstrap).await?;
            let mut processing = Processing {
                headers: LineHeaders::new(config),
                transforms: &spec.transforms,
                key_converter: spec.key_converter,
                value_converter: spec.value_converter,
                errors: &errors,
            };
            let outcome =
                run_file_source_with(config, &producer, &ctx.offsets, ctx.stop.clone(), &mut processing).await;
            let _ = producer.close().await;
            errors.close().await;
            outcome.map(|_| ())
        }
        Job::FileSink(config) => run_sink(ctx, SinkWriter::File(FileSink::open(config.clone())?)).await,
        Job::JdbcSource(configs) => {
            let config = configs.get(ctx.task).cloned().ok_or_else(|| ConnectError::Config {
                key: "tasks.max".to_owned(),
                reason: format!("no task {}", ctx.task),
            })?;
            run_polling_source(ctx, config).await
        }
        Job::JdbcSink(config) => run_sink(ctx, SinkWriter::Db(DbSink::open(config.clone()).await?)).await,
    }
}

/// A sink's connector.
enum SinkWriter {
    File(FileSink),
    Db(DbSink),
}

impl SinkWriter {
    async fn put(&mut self, records: &[ConnectRecord]) -> Result<Vec<RecordFailure>, ConnectError> {
        match self {
            Self::File(sink) => sink.put(records),
            Self::Db(sink) => Ok(sink.put(records).await?),
        }
    }

    /// Makes everything put so far durable (before offsets are committed).
    fn flush(&mut self) -> Result<(), ConnectError> {
        match self {
            Self::File(sink) => sink.flush(),
            // Each put commits its transaction.
            Self::Db(_) => Ok(()),
        }
    }

    async fn close(self) {
        match self {
            Self::File(_) => {}
            Self::Db(sink) => sink.close().await,
        }
    }
}

fn errant_of(record: &ConsumerRecord) -> Errant {
    Errant {
        key: record.key.clone(),
        value: record.value.clone(),
        headers: record.headers.clone(),
        origin: Some(origin_of(record)),
        topic: None,
    }
}

fn origin_of(record: &ConsumerRecord) -> Origin {
    Origin {
        topic: Arc::clone(&record.topic),
        partition: record.partition,
        offset: record.offset,
    }
}

/// A consumed record as the connector sees it (converted and transformed), or `None` when it
/// failed (and was reported) or a transform dropped it.
async fn convert(
    spec: &Spec,
    reporter: &ErrorReporter,
    record: &ConsumerRecord,
) -> Result<Option<ConnectRecord>, ConnectError> {
    let key = match spec.key_converter.decode(record.key.as_deref()) {
        Ok(key) => key,
        Err(reason) => {
            return reporter
                .report(Stage::KeyConverter, errant_of(record), &reason)
                .await
                .map(|()| None);
        }
    };
    let value = match spec.value_converter.decode(record.value.as_deref()) {
        Ok(value) => value,
        Err(reason) => {
            return reporter
                .report(Stage::ValueConverter, errant_of(record), &reason)
                .await
                .map(|()| None);
        }
    };
    let converted = ConnectRecord {
        topic: record.topic.to_string(),
        partition: Some(record.partition),
        key,
        value,
        timestamp: Some(record.timestamp),
        headers: record.headers.clone(),
        origin: Some(origin_of(record)),
    };
    match spec.transforms.apply(converted) {
        Ok(out) => Ok(out),
        Err(e) => reporter
            .report(Stage::Transformation, errant_of(record), &e.to_string())
            .await
            .map(|()| None),
    }
}

/// A sink task: consumes its topics in the group `connect-<name>`, hands records to the
/// connector, and commits offsets only after the connector made what it was given durable.
async fn run_sink(ctx: &TaskContext, mut writer: SinkWriter) -> Result<(), ConnectError> {
    let spec = &ctx.spec;
    let reporter = ErrorReporter::new(spec.errors.clone(), &spec.name, ctx.task, &ctx.bootstrap).await?;
    let group = format!("connect-{}", spec.name);
    let commit_every = match &spec.job {
        Job::FileSink(config) => config.flush_interval,
        _ => millis(&spec.task_configs[ctx.task], "offset.flush.interval.ms", 1_000)?,
    };
    let mut consumer = Consumer::from_properties([
        ("bootstrap.servers", ctx.bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("client.id", &format!("connector-consumer-{}-{}", spec.name, ctx.task)),
    ])
    .await
    .map_err(client)?;
    consumer.subscribe(spec.topics.iter().cloned()).map_err(client)?;
    let outcome = sink_loop(ctx, &reporter, &mut consumer, &mut writer, commit_every).await;
    let _ = consumer.close().await;
    writer.close().await;
    reporter.close().await;
    outcome
}

async fn sink_loop(
    ctx: &TaskContext,
    reporter: &ErrorReporter,
    consumer: &mut Consumer,
    writer: &mut SinkWriter,
    commit_every: Duration,
) -> Result<(), ConnectError> {
    let mut next_commit = Instant::now() + commit_every;
    let mut uncommitted = false;
    loop {
        let polled = tokio::select! {
            biased;
            () = ctx.stop.cancelled() => break,
            polled = consumer.poll(Duration::from_millis(200)) => polled.map_err(client)?,
        };
        let mut batch = Vec::with_capacity(polled.len());
        let mut sources = Vec::with_capacity(polled.len());
        for record in &polled {
            if let Some(converted) = convert(&ctx.spec, reporter, record).await? {
                batch.push(converted);
                sources.push(record);
            }
        }
        if !batch.is_empty() {
            for failure in writer.put(&batch).await? {
                let errant = sources.get(failure.index).map(|r| errant_of(r)).unwrap_or_default();
                reporter.report(Stage::TaskPut, errant, &failure.reason).await?;
            }
        }
        uncommitted |= !polled.is_empty();
        if uncommitted && Instant::now() >= next_commit {
            writer.flush()?;
            consumer.commit_sync().await.map_err(client)?;
            uncommitted = false;
            next_commit = Instant::now() + commit_every;
        }
    }
    writer.flush()?;
    if uncommitted {
        consumer.commit_sync().await.map_err(client)?;
    }
    Ok(())
}

/// A polling source task (the database source): polls, sends what it got through the
/// transforms, and stores the offsets reached once the broker acknowledged the records.
async fn run_polling_source(ctx: &TaskContext, config: DbSourceConfig) -> Result<(), ConnectError> {
    let spec = &ctx.spec;
    let stored = ctx.offsets.load(&spec.name).await?;
    let poll_interval = config.poll_interval();
    let mut source = DbSource::open(config, &stored).await?;
    let reporter = ErrorReporter::new(spec.errors.clone(), &spec.name, ctx.task, &ctx.bootstrap).await?;
    let producer = Producer::from_properties([("bootstrap.servers", ctx.bootstrap.as_str()), ("linger.ms", "5")])
        .await
        .map_err(client)?;
    let outcome = poll_loop(ctx, &mut source, &reporter, &producer, poll_interval).await;
    let _ = producer.close().await;
    reporter.close().await;
    source.close().await;
    outcome
}

async fn poll_loop(
    ctx: &TaskContext,
    source: &mut DbSource,
    reporter: &ErrorReporter,
    producer: &Producer,
    poll_interval: Duration,
) -> Result<(), ConnectError> {
    let spec = &ctx.spec;
    while !ctx.stop.is_cancelled() {
        let records = tokio::select! {
            biased;
            () = ctx.stop.cancelled() => break,
            records = source.poll() => records?,
        };
        if records.is_empty() {
            tokio::select! {
                biased;
                () = ctx.stop.cancelled() => break,
                () = tokio::time::sleep(poll_interval) => continue,
            }
        }
        let mut reached: BTreeMap<String, (Value, Value)> = BTreeMap::new();
        let mut deliveries = Vec::with_capacity(records.len());
        for SourceRecord {
            record,
            partition,
            offset,
        } in records
        {
            reached.insert(partition.to_string(), (partition, offset));
            let original = (!spec.transforms.is_empty()).then(|| record.clone());
            let record = match spec.transforms.apply(record) {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(e) => {
                    let errant = original.map(|r| errant_for_source(spec, r)).unwrap_or_default();
                    reporter.report(Stage::Transformation, errant, &e.to_string()).await?;
                    continue;
                }
            };
            let topic = record.topic.clone();
            let out = ProducerRecord {
                topic: topic.as_str().into(),
                partition: record.partition,
                key: spec.key_converter.encode(record.key.as_ref()),
                value: spec.value_converter.encode(record.value.as_ref()),
                headers: record.headers,
                timestamp: record.timestamp,
            };
            deliveries.push((topic, producer.send(out).await.map_err(client)?));
        }
        for (topic, delivery) in deliveries {
            delivery.await.map_err(|e| ConnectError::Produce {
                topic,
                reason: e.to_string(),
            })?;
        }
        let offsets: Vec<(Value, Option<Value>)> = reached
            .into_values()
            .map(|(partition, offset)| (partition, Some(offset)))
            .collect();
        ctx.offsets.save(&spec.name, &offsets).await?;
    }
    Ok(())
}

/// A source's record as its bytes, for the dead-letter topic.
fn errant_for_source(spec: &Spec, record: ConnectRecord) -> Errant {
    Errant {
        key: spec.key_converter.encode(record.key.as_ref()),
        value: spec.value_converter.encode(record.value.as_ref()),
        headers: record.headers,
        origin: None,
        topic: Some(record.topic),
    }
}
