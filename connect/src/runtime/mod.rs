//! The Connect runtime: a worker running connectors' tasks, with their configs, target states
//! and statuses kept in compacted topics; sink and source task loops around the connectors,
//! with converters, transforms and the error policy (dead-letter topic).

mod errors;
mod plugin;
mod spec;
mod status;
mod task;
mod validate;
mod worker;

pub use errors::Stage;
pub(crate) use errors::{Errant, ErrorReporter};
pub use plugin::{ConfigDef, Plugin, PluginType};
pub use spec::Config;
pub use status::{State, Status, TargetState};
pub use validate::validate;
pub use worker::{ConnectorInfo, ConnectorState, TaskId, TaskState, Worker, WorkerConfig, WorkerError};
