//! A compiled script's per-record side: the closures of each step, called through function
//! pointers; records as rhai maps; script errors under the error policy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use rhai::{AST, Dynamic, Engine, EvalAltResult, FnPtr, FuncArgs, ImmutableString, Map};

use super::fast::Predicate;
use super::format::{Format, raw_bytes};
use super::{ErrorPolicy, describe};
use crate::error::StreamsError;
use crate::processor::{Headers, Output, Record, TaskContext};
use crate::serde::Serde;

/// One operator of the script that calls into it.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// The operator (`filter`, `map_values`, `aggregate`, ...).
    pub(crate) kind: &'static str,
    /// The script line of the operator's call.
    pub(crate) line: usize,
    /// Its closures, in argument order.
    pub(crate) fns: Vec<FnPtr>,
    /// An aggregation's initial value (called when it is a function pointer).
    pub(crate) init: Option<Dynamic>,
    /// A `filter`'s closure when it is simple enough to run without the interpreter.
    pub(crate) fast: Option<Predicate>,
}

/// The compiled script and its steps' closures.
#[derive(Debug)]
pub(crate) struct Program {
    pub(crate) engine: Arc<Engine>,
    pub(crate) ast: AST,
    pub(crate) steps: Vec<Step>,
    /// The script's name in messages (its file name).
    pub(crate) name: Arc<str>,
}

/// The program the running topology calls: replaced in place by a hot reload.
#[derive(Debug)]
pub(crate) struct Slot {
    program: RwLock<Arc<Program>>,
    generation: AtomicU64,
    pub(crate) policy: ErrorPolicy,
}

impl Slot {
    pub(crate) fn new(program: Arc<Program>, policy: ErrorPolicy) -> Self {
        Self {
            program: RwLock::new(program),
            generation: AtomicU64::new(0),
            policy,
        }
    }

    pub(crate) fn current(&self) -> Arc<Program> {
        Arc::clone(&self.program.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts `program` in place: records after this see its closures.
    pub(crate) fn swap(&self, program: Arc<Program>) {
        *self.program.write().unwrap_or_else(|p| p.into_inner()) = program;
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// A script error on one record, with where in the script it happened.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) step: &'static str,
    pub(crate) line: usize,
    pub(crate) message: String,
    pub(crate) script: Arc<str>,
}

impl Failure {
    fn error(self) -> StreamsError {
        StreamsError::Script {
            location: format!("{}:{} ({})", self.script, self.line, self.step),
            message: self.message,
        }
    }
}

/// A step's closures as the topology calls them: the program of the moment, cached until a
/// reload changes it.
pub(crate) struct StepFn {
    slot: Arc<Slot>,
    index: usize,
    program: Arc<Program>,
    generation: u64,
    /// The source topic's name as a script string, made once.
    topic: Option<(Arc<str>, ImmutableString)>,
}

impl StepFn {
    pub(crate) fn new(slot: &Arc<Slot>, index: usize) -> Self {
        let generation = slot.generation.load(Ordering::Acquire);
        Self {
            slot: Arc::clone(slot),
            index,
            program: slot.current(),
            generation,
            topic: None,
        }
    }

    fn refresh(&mut self) {
        let generation = self.slot.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.program = self.slot.current();
            self.generation = generation;
        }
    }

    fn step(&self) -> &Step {
        &self.program.steps[self.index]
    }

    /// Calls the step's closure `f` with `args`.
    pub(crate) fn call(&mut self, f: usize, args: impl FuncArgs) -> Result<Dynamic, Failure> {
        self.refresh();
        let program = &self.program;
        let step = &program.steps[self.index];
        step.fns[f]
            .call::<Dynamic>(&program.engine, &program.ast, args)
            .map_err(|e| self.failure_of(&e))
    }

    /// The step's predicate evaluated without the interpreter, when it is simple and the
    /// record's fields let it answer as rhai would.
    pub(crate) fn fast_test(&mut self, ctx: &TaskContext, record: &Record<Dynamic, Dynamic>) -> Option<bool> {
        self.refresh();
        self.step().fast.as_ref()?.test(ctx, record)
    }

    /// A fresh copy of the aggregation's initial value.
    pub(crate) fn init(&mut self) -> Result<Dynamic, Failure> {
        self.refresh();
        match &self.step().init {
            Some(init) if init.is_fnptr() => {
                let f = init.clone().cast::<FnPtr>();
                let program = &self.program;
                f.call::<Dynamic>(&program.engine, &program.ast, ())
                    .map_err(|e| self.failure_of(&e))
            }
            Some(init) => Ok(init.clone()),
            None => Ok(Dynamic::UNIT),
        }
    }

    fn failure_of(&self, error: &EvalAltResult) -> Failure {
        let (line, message) = describe(error);
        self.failure(line, message)
    }

    /// A failure of this step (at `line` of the script, or the step's own line).
    pub(crate) fn failure(&self, line: Option<usize>, message: String) -> Failure {
        let step = self.step();
        Failure {
            step: step.kind,
            line: line.unwrap_or(step.line),
            message,
            script: Arc::clone(&self.program.name),
        }
    }

    /// The record as a script sees it: `#{key, value, timestamp, headers, topic, partition,
    /// offset}` (the last three of the record read from the source topic).
    pub(crate) fn record(
        &mut self,
        ctx: &TaskContext,
        key: Dynamic,
        value: Dynamic,
        timestamp: i64,
        headers: &Headers,
    ) -> Dynamic {
        let mut map = Map::new();
        map.insert("key".into(), key);
        map.insert("value".into(), value);
        map.insert("timestamp".into(), Dynamic::from_int(timestamp));
        map.insert("headers".into(), headers_to_map(headers));
        if let Some((topic, partition, offset)) = &ctx.source {
            let name = match &self.topic {
                Some((t, name)) if Arc::ptr_eq(t, topic) => name.clone(),
                _ => {
                    let name = ImmutableString::from(&**topic);
                    self.topic = Some((Arc::clone(topic), name.clone()));
                    name
                }
            };
            map.insert("topic".into(), Dynamic::from(name));
            map.insert("partition".into(), Dynamic::from_int(i64::from(*partition)));
            map.insert("offset".into(), Dynamic::from_int(*offset));
        }
        Dynamic::from_map(map)
    }

    /// Follows the error policy for a record the step failed on: an error (`fail`), or the
    /// record left out (`skip`, logged and counted) or written to the dead-letter topic.
    pub(crate) fn failed(
        &self,
        ctx: &mut TaskContext,
        failure: Failure,
        record: &Record<Dynamic, Dynamic>,
    ) -> Result<(), StreamsError> {
        match &self.slot.policy {
            ErrorPolicy::Fail => Err(failure.error()),
            ErrorPolicy::Skip => {
                tracing::warn!(script = %failure.script, line = failure.line, step = failure.step, error = %failure.message, "skipping a record the script failed on");
                ctx.skipped_records += 1;
                Ok(())
            }
            ErrorPolicy::DeadLetter(topic) => {
                tracing::warn!(script = %failure.script, line = failure.line, step = failure.step, error = %failure.message, topic = %topic, "sending a record the script failed on to the dead-letter topic");
                let mut headers = record.headers.clone();
                let mut add = |name: &str, value: String| headers.push((name.to_owned(), Some(Bytes::from(value))));
                add(HEADER_ERROR, failure.message);
                add(HEADER_LINE, failure.line.to_string());
                add(HEADER_STEP, failure.step.to_owned());
                add(HEADER_SCRIPT, failure.script.to_string());
                if let Some((t, partition, offset)) = &ctx.source {
                    add(HEADER_TOPIC, t.to_string());
                    add(HEADER_PARTITION, partition.to_string());
                    add(HEADER_OFFSET, offset.to_string());
                }
                let bytes = |v: &Dynamic| Format::Auto.serialize(v).ok().flatten();
                ctx.output.push(Output {
                    topic: Arc::from(topic.as_str()),
                    partition: None,
                    key: bytes(&record.key),
                    value: bytes(&record.value),
                    timestamp: record.timestamp,
                    headers,
                });
                Ok(())
            }
        }
    }
}

/// Dead-letter headers: the error message, the script line, the step, the script, and where
/// the record was read.
pub const HEADER_ERROR: &str = "rill.script.error";
/// The script line of the error.
pub const HEADER_LINE: &str = "rill.script.line";
/// The operator that failed.
pub const HEADER_STEP: &str = "rill.script.step";
/// The script's name.
pub const HEADER_SCRIPT: &str = "rill.script.name";
/// The source topic of the record.
pub const HEADER_TOPIC: &str = "rill.source.topic";
/// Its partition.
pub const HEADER_PARTITION: &str = "rill.source.partition";
/// Its offset.
pub const HEADER_OFFSET: &str = "rill.source.offset";

/// Headers as a script map: name → string (blob when not UTF-8, `()` when null); the last of
/// repeated names.
pub fn headers_to_map(headers: &Headers) -> Dynamic {
    let mut map = Map::new();
    for (name, value) in headers {
        let value = match value {
            None => Dynamic::UNIT,
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => Dynamic::from(ImmutableString::from(s)),
                Err(_) => Dynamic::from_blob(bytes.to_vec()),
            },
        };
        map.insert(name.as_str().into(), value);
    }
    Dynamic::from_map(map)
}

/// Headers from a script map (strings and blobs as they are, other values as JSON, `()` null).
pub fn headers_from_map(value: &Dynamic) -> Result<Headers, String> {
    let Some(map) = value.read_lock::<Map>() else {
        return Err(format!("headers must be a map, not {}", value.type_name()));
    };
    map.iter()
        .map(|(name, v)| {
            let bytes = if v.is_unit() {
                None
            } else {
                match raw_bytes(v) {
                    Some(b) => Some(b),
                    None => Some(Bytes::from(super::format::to_json(v).map_err(|e| e.to_string())?)),
                }
            };
            Ok((name.to_string(), bytes))
        })
        .collect()
}

/// What a `map` closure returned, applied to a record: `key`, `value`, `timestamp` and
/// `headers` replace the record's when present.
pub(crate) fn apply_record(result: Dynamic, record: &mut Record<Dynamic, Dynamic>) -> Result<(), String> {
    let type_name = result.type_name();
    let Some(mut map) = result.try_cast::<Map>() else {
        return Err(format!("expected a record map #{{key, value}}, got {type_name}"));
    };
    if let Some(key) = map.remove("key") {
        record.key = key;
    }
    if let Some(value) = map.remove("value") {
        record.value = value;
    }
    if let Some(ts) = map.remove("timestamp") {
        record.timestamp = ts
            .as_int()
            .map_err(|t| format!("timestamp must be an integer (ms), got {t}"))?;
    }
    if let Some(headers) = map.remove("headers") {
        record.headers = headers_from_map(&headers)?;
    }
    Ok(())
}
