//! Running a script's pipeline, and hot reload: a changed script that keeps the same operators
//! is swapped in between two records; one that keeps the same stateful steps restarts the
//! pipeline (offsets committed, state kept in its stores and changelogs); any other change is
//! refused and the running script kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::dsl::{Pipeline, Shape};
use super::{ScriptError, ScriptOptions};
use crate::error::StreamsError;
use crate::runtime::{KafkaStreams, StreamsConfig, StreamsStats};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The script is unchanged.
    Unchanged,
    /// Same operators: the new closures are used from the next record on.
    Swapped,
    /// Same stateful steps, other stateless ones: the pipeline was restarted on the new
    /// topology, its offsets committed and its state kept.
    Restarted,
    /// The stateful steps differ: the running script is kept.
    Kept {
        /// Why.
        reason: String,
    },
}

impl Pipeline {
    /// Compiles `source` and takes it in place of this pipeline if it can (see [`Reload`]):
    /// the topology keeps running with the new closures when the operators are the same;
    /// [`Reload::Restarted`] asks for the new [`Pipeline::topology`] to be run instead. A
    /// script that does not compile is an error, and this pipeline stays as it was.
    pub fn reload(&mut self, source: &str) -> Result<Reload, ScriptError> {
        let next = Pipeline::compile(source, &self.options)?;
        Ok(self.replace_with(next))
    }

    /// Takes `next` in the place of this pipeline if it can: in place when it has the same
    /// operators, as a new topology (to restart on) when only stateless operators differ.
    pub(crate) fn replace_with(&mut self, next: Pipeline) -> Reload {
        let what = |shape: &[Shape]| shape.iter().map(|s| (s.what.clone(), s.stateful)).collect::<Vec<_>>();
        if what(&self.shape) == what(&next.shape) {
            self.slot.swap(std::sync::Arc::clone(&next.program));
            self.program = next.program;
            self.shape = next.shape;
            return Reload::Swapped;
        }
        let stateful = |shape: &[Shape]| {
            shape
                .iter()
                .filter(|s| s.stateful)
                .map(|s| s.what.clone())
                .collect::<Vec<_>>()
        };
        let (old, new) = (stateful(&self.shape), stateful(&next.shape));
        if old == new {
            *self = next;
            return Reload::Restarted;
        }
        let reason = match old.iter().zip(&new).position(|(a, b)| a != b) {
            Some(i) => format!("its stateful step {} is `{}`, was `{}`", i + 1, new[i], old[i]),
            None if new.len() > old.len() => format!("it adds the stateful step `{}`", new[old.len()]),
            None => format!("it removes the stateful step `{}`", old[new.len()]),
        };
        Reload::Kept {
            reason: format!(
                "{reason}: state cannot carry over; restart the pipeline (with a new application id) to apply it"
            ),
        }
    }
}

/// A script's pipeline running as a Streams application.
#[derive(Debug)]
pub struct ScriptApp {
    pipeline: Pipeline,
    source: String,
    streams: Option<KafkaStreams>,
    config: StreamsConfig,
}

impl ScriptApp {
    /// Compiles `source` and runs it with `config`.
    pub async fn start(source: &str, options: &ScriptOptions, config: StreamsConfig) -> Result<Self, ScriptError> {
        let pipeline = Pipeline::compile(source, options)?;
        let streams = KafkaStreams::start(pipeline.topology(), config.clone())
            .await
            .map_err(|e| ScriptError::run(&options.name, e))?;
        Ok(Self {
            pipeline,
            source: source.to_owned(),
            streams: Some(streams),
            config,
        })
    }

    /// The running pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Takes the script `source` in place of the running one (see [`Reload`]); a script that
    /// does not compile is an error and the running one stays.
    pub async fn reload(&mut self, source: &str) -> Result<Reload, ScriptError> {
        if source == self.source {
            return Ok(Reload::Unchanged);
        }
        let outcome = self.pipeline.reload(source)?;
        match &outcome {
            Reload::Kept { .. } | Reload::Unchanged => return Ok(outcome),
            Reload::Swapped => {}
            Reload::Restarted => {
                let name = self.pipeline.options.name.clone();
                if let Some(running) = self.streams.take() {
                    running.close().await.map_err(|e| ScriptError::run(&name, e))?;
                }
                let streams = KafkaStreams::start(self.pipeline.topology(), self.config.clone())
                    .await
                    .map_err(|e| ScriptError::run(&name, e))?;
                self.streams = Some(streams);
            }
        }
        self.source = source.to_owned();
        Ok(outcome)
    }

    /// Progress counters.
    pub fn stats(&self) -> StreamsStats {
        self.streams.as_ref().map(KafkaStreams::stats).unwrap_or_default()
    }

    /// Whether the pipeline stopped (on an error).
    pub fn is_finished(&self) -> bool {
        self.streams.as_ref().is_none_or(KafkaStreams::is_finished)
    }

    /// Stops the pipeline cleanly (offsets committed); its error if it failed.
    pub async fn close(mut self) -> Result<(), StreamsError> {
        match self.streams.take() {
            Some(streams) => streams.close().await,
            None => Ok(()),
        }
    }
}

/// Watches a script file and gives its new content when it changes (editors that write a new
/// file and rename it over the old one included).
#[derive(Debug)]
pub struct ScriptWatcher {
    path: PathBuf,
    last: Option<String>,
    events: mpsc::UnboundedReceiver<()>,
    _watcher: RecommendedWatcher,
}

impl ScriptWatcher {
    /// Watches `path` (its directory, for renames).
    pub fn new(path: &Path) -> Result<Self, notify::Error> {
        let (tx, events) = mpsc::unbounded_channel();
        let name = path.file_name().map(ToOwned::to_owned);
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && event.paths.iter().any(|p| p.file_name() == name.as_deref())
            {
                let _ = tx.send(());
            }
        })?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        Ok(Self {
            path: path.to_path_buf(),
            last: std::fs::read_to_string(path).ok(),
            events,
            _watcher: watcher,
        })
    }

    /// The script's content once it changed and was quiet for 100 ms; `None` when watching
    /// ended.
    pub async fn changed(&mut self) -> Option<String> {
        loop {
            self.events.recv().await?;
            // A write often comes as several events: take the content once they stop.
            while let Ok(Some(())) = tokio::time::timeout(Duration::from_millis(100), self.events.recv()).await {}
            let Ok(content) = std::fs::read_to_string(&self.path) else {
                continue;
            };
            if self.last.as_ref() != Some(&content) {
                self.last = Some(content.clone());
                return Some(content);
            }
        }
    }
}
