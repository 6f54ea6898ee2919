//! Pipelines written in [rhai](https://rhai.rs): a script builds a topology with the same
//! operators as the Rust DSL, its closures called per record.
//!
//! ```
//! use rill_streams::script::{Format, Pipeline, ScriptOptions, from_json};
//! use rill_streams::{TestTopic, TopologyTestDriver};
//! use rill_streams::script::rhai::Dynamic;
//!
//! let script = r#"
//!     stream("logs")
//!         .filter(|r| r.value.level == "ERROR")
//!         .map_values(|v| #{ msg: v.msg })
//!         .to("errors");
//! "#;
//! let pipeline = Pipeline::compile(script, &ScriptOptions::named("errors.rhai"))?;
//! let mut driver = TopologyTestDriver::new(pipeline.topology(), "errors")?;
//! let logs = TestTopic::new("logs", Format::Auto, Format::Auto);
//! driver.pipe(&logs, Dynamic::UNIT, from_json(br#"{"level":"ERROR","msg":"disk full"}"#)?, 1)?;
//! driver.pipe(&logs, Dynamic::UNIT, from_json(br#"{"level":"INFO","msg":"ok"}"#)?, 2)?;
//! let out = driver.read_raw("errors");
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].value.as_deref(), Some(&br#"{"msg":"disk full"}"#[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Records are maps: `#{key, value, timestamp, headers, topic, partition, offset}`, the key and
//! value read with a [`Format`] (`auto` by default: JSON objects and arrays decoded, other text
//! as strings). The script is compiled once; each operator's closure is a function pointer
//! called per record, under [`Limits`] that are always on. A closure that fails on a record
//! follows the [`ErrorPolicy`]. [`ScriptApp`] runs a pipeline and swaps in a changed script
//! without losing state or offsets.

mod app;
mod dsl;
mod fast;
mod format;
mod program;

use rhai::{Engine, EvalAltResult, ParseError};
use std::fmt;

pub use rhai;

pub use self::app::{Reload, ScriptApp, ScriptWatcher};
pub use self::dsl::Pipeline;
pub use self::format::{Format, from_json, to_json};
pub use self::program::{
    HEADER_ERROR, HEADER_LINE, HEADER_OFFSET, HEADER_PARTITION, HEADER_SCRIPT, HEADER_STEP, HEADER_TOPIC,
    headers_from_map, headers_to_map,
};

/// What a script may use, per call of one of its closures (and for building the pipeline).
/// Always on: a runaway loop or a string that keeps growing stops with an error naming the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Operations (expressions, statements, calls) per call.
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Nesting of an expression (and inside functions).
    pub max_expr_depth: usize,
    /// Bytes of a string.
    pub max_string_size: usize,
    /// Items of an array (and bytes of a blob).
    pub max_array_size: usize,
    /// Properties of a map.
    pub max_map_size: usize,
    /// Variables in scope.
    pub max_variables: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 1_000_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            max_variables: 1_000,
        }
    }
}

/// A rhai engine with `limits` and no access to files or modules: what scripts of the
/// pipelines and of Connect's `rhai` transform run in. `print` and `debug` go to the log.
pub fn engine(limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    // 0 means unlimited to rhai; a limit is always on here.
    engine
        .set_max_operations(limits.max_operations.max(1))
        .set_max_call_levels(limits.max_call_levels.max(1))
        .set_max_expr_depths(limits.max_expr_depth.max(1), limits.max_expr_depth.max(1))
        .set_max_string_size(limits.max_string_size.max(1))
        .set_max_array_size(limits.max_array_size.max(1))
        .set_max_map_size(limits.max_map_size.max(1))
        .set_max_variables(limits.max_variables.max(1))
        .set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.on_print(|text| tracing::info!(target: "rill::script", "{text}"));
    engine.on_debug(|text, source, pos| tracing::debug!(target: "rill::script", source, line = pos.line(), "{text}"));
    engine
}

/// What a step does with a record its closure fails on (an error, a wrong result type, a limit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// Stop the pipeline with the error.
    #[default]
    Fail,
    /// Leave the record out (logged, counted as skipped).
    Skip,
    /// Write the record as it reached the step to this topic, with the error, the script line
    /// and the step in headers ([`HEADER_ERROR`], [`HEADER_LINE`], ...).
    DeadLetter(String),
}

/// How a script is compiled.
#[derive(Debug, Clone, Default)]
pub struct ScriptOptions {
    /// The script's name in messages (its file name).
    pub name: String,
    /// What a failed closure does.
    pub on_error: ErrorPolicy,
    /// Limits of the script's calls.
    pub limits: Limits,
}

impl ScriptOptions {
    /// Default options for the script named `name`.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }
}

/// A script that cannot become a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The script does not parse.
    #[error("{script}:{line}:{column}: syntax error: {message}")]
    Syntax {
        /// Script name.
        script: String,
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Running the script to build the pipeline failed (a bad operator call, a limit, ...).
    #[error("{script}:{line}: {message}")]
    Build {
        /// Script name.
        script: String,
        /// Line (0 when rhai knows none).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The pipeline could not be (re)started.
    #[error("{script}: {source}")]
    Run {
        /// Script name.
        script: String,
        /// Why.
        source: crate::StreamsError,
    },
    /// The pipeline it built is not a valid topology.
    #[error("{script}: {source}")]
    Topology {
        /// Script name.
        script: String,
        /// Why.
        source: crate::StreamsError,
    },
}

impl ScriptError {
    /// The script line at fault, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScriptError::Syntax { line, .. } | ScriptError::Build { line, .. } => Some(*line).filter(|l| *l > 0),
            ScriptError::Topology { .. } | ScriptError::Run { .. } => None,
        }
    }

    pub(crate) fn syntax(script: &str, e: &ParseError) -> Self {
        let pos = e.position();
        ScriptError::Syntax {
            script: script.to_owned(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            message: e.err_type().to_string(),
        }
    }

    pub(crate) fn run(script: &str, source: crate::StreamsError) -> Self {
        ScriptError::Run {
            script: script.to_owned(),
            source,
        }
    }

    pub(crate) fn build(script: &str, e: &EvalAltResult) -> Self {
        let (line, message) = describe(e);
        ScriptError::Build {
            script: script.to_owned(),
            line: line.unwrap_or(0),
            message,
        }
    }
}

/// The innermost cause of a rhai error (inside the closure that failed) and its line.
pub fn describe(error: &EvalAltResult) -> (Option<usize>, String) {
    let inner = error.unwrap_inner();
    let pos = inner.position();
    let line = pos.line().or_else(|| error.position().line());
    let mut message = Message(inner).to_string();
    if !pos.is_none()
        && let Some(stripped) = message.strip_suffix(&format!(" ({pos})"))
    {
        message.truncate(stripped.len());
    }
    (line, message)
}

/// An error's message, with rhai's hints for limits.
struct Message<'a>(&'a EvalAltResult);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            EvalAltResult::ErrorTooManyOperations(_) => {
                f.write_str("too many operations (a runaway loop?): the limit is max_operations per call")
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => write!(f, "{what} is larger than the limit"),
            EvalAltResult::ErrorStackOverflow(_) => f.write_str("too many nested calls"),
            EvalAltResult::ErrorRuntime(message, _) => write!(f, "{message}"),
            other => write!(f, "{other}"),
        }
    }
}
