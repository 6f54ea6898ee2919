//! Errors of the database connectors.

/// What went wrong talking to a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A configuration value is wrong.
    #[error("bad configuration {key}: {reason}")]
    Config {
        /// The configuration key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The database could not be reached.
    #[error("connecting to {url}: {source}")]
    Connect {
        /// The connection URL (without password).
        url: String,
        /// The error.
        #[source]
        source: sqlx::Error,
    },
    /// A statement failed in a way that stops the task.
    #[error("{doing} on {table}: {source}")]
    Statement {
        /// What was being done.
        doing: &'static str,
        /// The table or query.
        table: String,
        /// The error.
        #[source]
        source: sqlx::Error,
    },
    /// A table the connector needs is missing (and `auto.create` is off).
    #[error("table {0} does not exist (set auto.create=true to create it)")]
    NoTable(String),
}

impl DbError {
    /// The config key the error is about, if it is a configuration error.
    pub fn config_key(&self) -> Option<&str> {
        match self {
            Self::Config { key, .. } => Some(key),
            _ => None,
        }
    }

    pub(crate) fn config(key: &str, reason: impl Into<String>) -> Self {
        Self::Config {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn statement<'a>(doing: &'static str, table: &'a str) -> impl FnOnce(sqlx::Error) -> Self + 'a {
        move |source| Self::Statement {
            doing,
            table: table.to_owned(),
            source,
        }
    }
}
