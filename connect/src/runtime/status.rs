//! Connector and task states, as Kafka Connect reports them.

use serde::{Deserialize, Serialize};

/// The state of a connector or a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Not started yet.
    Unassigned,
    /// Running.
    Running,
    /// Paused by a user.
    Paused,
    /// Stopped by a user (no tasks; offsets may be changed).
    Stopped,
    /// Failed; `trace` says why. Tasks are restarted with backoff.
    Failed,
    /// Being restarted.
    Restarting,
}

/// What a user asked a connector to be (kept in the config topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetState {
    /// Running (Kafka's `STARTED`; `RUNNING` is accepted as `initial_state`).
    #[serde(alias = "RUNNING")]
    Started,
    /// Paused: tasks stopped, the connector kept with its tasks.
    Paused,
    /// Stopped: no tasks at all.
    Stopped,
}

impl TargetState {
    /// The state a connector in this target state shows once it is there.
    pub fn shown(self) -> State {
        match self {
            Self::Started => State::Running,
            Self::Paused => State::Paused,
            Self::Stopped => State::Stopped,
        }
    }
}

/// A connector's or a task's state, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The state.
    pub state: State,
    /// Why it failed (empty otherwise).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace: String,
    /// The worker it runs on.
    pub worker_id: String,
}

impl Status {
    /// `state` on `worker_id`, with no trace.
    pub fn new(state: State, worker_id: &str) -> Self {
        Self {
            state,
            trace: String::new(),
            worker_id: worker_id.to_owned(),
        }
    }
}
