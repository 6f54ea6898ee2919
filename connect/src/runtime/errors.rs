//! What happens to a record that fails (`errors.tolerance`), and the dead-letter topic it may go
//! to with headers saying why and where (Kafka Connect's `__connect.errors.*`; sources too).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use rill_client::producer::{Producer, ProducerRecord};

use super::spec::{Config, boolean, config_error};
use crate::error::{ConnectError, client};
use crate::record::Origin;

/// Where in a task a record failed (Kafka Connect's stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Converting a consumed key to a value.
    KeyConverter,
    /// Converting a consumed value.
    ValueConverter,
    /// A transform.
    Transformation,
    /// A sink writing it.
    TaskPut,
    /// A source reading it.
    TaskPoll,
    /// Producing it.
    KafkaProduce,
}

impl Stage {
    /// Kafka Connect's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::KeyConverter => "KEY_CONVERTER",
            Self::ValueConverter => "VALUE_CONVERTER",
            Self::Transformation => "TRANSFORMATION",
            Self::TaskPut => "TASK_PUT",
            Self::TaskPoll => "TASK_POLL",
            Self::KafkaProduce => "KAFKA_PRODUCE",
        }
    }
}

/// A connector's error settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorPolicy {
    /// `errors.tolerance=all`: failed records are skipped rather than failing the task.
    pub(crate) tolerate: bool,
    pub(crate) log: bool,
    pub(crate) dead_letter_topic: Option<String>,
    pub(crate) dead_letter_replication: i16,
    pub(crate) context_headers: bool,
}

impl ErrorPolicy {
    pub(crate) fn from_config(config: &Config) -> Result<Self, ConnectError> {
        let tolerate = match config.get("errors.tolerance").map(|v| v.trim()) {
            None | Some("" | "none") => false,
            Some("all") => true,
            Some(other) => return Err(config_error("errors.tolerance", format!("{other}: not none or all"))),
        };
        let dead_letter_topic = config
            .get("errors.deadletterqueue.topic.name")
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        if dead_letter_topic.is_some() && !tolerate {
            return Err(config_error(
                "errors.deadletterqueue.topic.name",
                "a dead-letter topic needs errors.tolerance=all",
            ));
        }
        let key = "errors.deadletterqueue.topic.replication.factor";
        let dead_letter_replication = match config.get(key).map(|v| v.trim()) {
            None | Some("") => -1,
            Some(v) => v
                .parse()
                .map_err(|_| config_error(key, format!("{v} is not a number")))?,
        };
        Ok(Self {
            tolerate,
            log: boolean(config, "errors.log.enable", false)?,
            dead_letter_topic,
            dead_letter_replication,
            context_headers: boolean(config, "errors.deadletterqueue.context.headers.enable", true)?,
        })
    }
}

/// A record that failed: what it was (as bytes) and where it came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Errant {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<(String, Option<Bytes>)>,
    pub(crate) origin: Option<Origin>,
    /// Sources: the topic it was going to.
    pub(crate) topic: Option<String>,
}

/// Handles a task's failed records by its connector's policy.
#[derive(Debug)]
pub(crate) struct ErrorReporter {
    policy: ErrorPolicy,
    connector: String,
    task: usize,
    producer: Option<Producer>,
    failed: AtomicU64,
}

impl ErrorReporter {
    /// For task `task` of `connector`; creates the dead-letter topic if there is one.
    pub(crate) async fn new(
        policy: ErrorPolicy,
        connector: &str,
        task: usize,
        bootstrap: &str,
    ) -> Result<Self, ConnectError> {
        let producer = match &policy.dead_letter_topic {
            Some(topic) => {
                crate::topic_store::ensure_topic(bootstrap, topic, policy.dead_letter_replication, &[]).await?;
                Some(
                    Producer::from_properties([("bootstrap.servers", bootstrap), ("linger.ms", "0")])
                        .await
                        .map_err(client)?,
                )
            }
            None => None,
        };
        Ok(Self {
            policy,
            connector: connector.to_owned(),
            task,
            producer,
            failed: AtomicU64::new(0),
        })
    }

    /// A reporter that fails the task on any failed record (`errors.tolerance=none`).
    pub(crate) fn failing(connector: &str) -> Self {
        Self {
            policy: ErrorPolicy {
                tolerate: false,
                log: false,
                dead_letter_topic: None,
                dead_letter_replication: -1,
                context_headers: false,
            },
            connector: connector.to_owned(),
            task: 0,
            producer: None,
            failed: AtomicU64::new(0),
        }
    }

    /// Deals with a failed record: with `errors.tolerance=none` the task fails (this returns the
    /// error); with `all` it is logged if asked, written to the dead-letter topic if there is
    /// one (and that write awaited), and skipped.
    pub(crate) async fn report(&self, stage: Stage, record: Errant, reason: &str) -> Result<(), ConnectError> {
        let place = match (&record.origin, &record.topic) {
            (Some(o), _) => format!("{}-{}@{}", o.topic, o.partition, o.offset),
            (None, Some(topic)) => format!("a record for {topic}"),
            (None, None) => "a record".to_owned(),
        };
        if !self.policy.tolerate {
            return Err(ConnectError::Record {
                stage: stage.name(),
                place,
                reason: reason.to_owned(),
            });
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        if self.policy.log {
            tracing::warn!(connector = %self.connector, task = self.task, stage = stage.name(), record = %place, reason, "record skipped");
        }
        let (Some(producer), Some(topic)) = (&self.producer, &self.policy.dead_letter_topic) else {
            return Ok(());
        };
        let mut out = ProducerRecord::new(topic.as_str());
        out.key = record.key;
        out.value = record.value;
        out.headers = record.headers;
        if self.policy.context_headers {
            let mut add = |name: &str, value: String| {
                out.headers
                    .push((format!("__connect.errors.{name}"), Some(Bytes::from(value))))
            };
            if let Some(origin) = &record.origin {
                add("topic", origin.topic.to_string());
                add("partition", origin.partition.to_string());
                add("offset", origin.offset.to_string());
            } else if let Some(topic) = &record.topic {
                add("topic", topic.clone());
            }
            add("connector.name", self.connector.clone());
            add("task.id", self.task.to_string());
            add("stage", stage.name().to_owned());
            add("exception.class.name", "io.rill.connect.RecordError".to_owned());
            add("exception.message", reason.to_owned());
        }
        let failed = |reason: String| ConnectError::Produce {
            topic: topic.clone(),
            reason,
        };
        let delivery = producer.send(out).await.map_err(client)?;
        delivery.await.map_err(|e| failed(e.to_string()))?;
        Ok(())
    }

    /// Closes the dead-letter producer.
    pub(crate) async fn close(&self) {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed > 0 {
            tracing::info!(connector = %self.connector, task = self.task, failed, "records skipped by errors.tolerance=all");
        }
        if let Some(producer) = &self.producer {
            let _ = producer.close().await;
        }
    }
}
