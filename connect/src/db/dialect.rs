//! What differs between SQLite and PostgreSQL: connecting, quoting, the catalog, and turning
//! rows into JSON.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Number, Value};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::error::DbError;

/// The database kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (`sqlite:path`).
    Sqlite,
    /// PostgreSQL (`postgres://...`).
    Postgres,
}

/// A connection pool of either kind.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Pool {
    /// Connects to `url` (`connection.url`), with `user`/`password` if given apart.
    pub(crate) async fn connect(url: &str, user: Option<&str>, password: Option<&str>) -> Result<Self, DbError> {
        let failed = |source| DbError::Connect {
            url: redact(url),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(failed)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(failed)?;
            Ok(Self::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(failed)?;
            if let Some(user) = user {
                options = options.username(user);
            }
            if let Some(password) = password {
                options = options.password(password);
            }
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(failed)?;
            Ok(Self::Postgres(pool))
        } else {
            Err(DbError::config(
                "connection.url",
                format!("{}: not sqlite:... or postgres://...", redact(url)),
            ))
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }

    /// The table's primary-key columns, in key order (none if it has no primary key).
    pub(crate) async fn primary_key(&self, table: &str) -> Result<Vec<String>, DbError> {
        let failed = DbError::statement("reading the primary key", table);
        match self {
            Self::Sqlite(p) => sqlx::query_scalar("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk")
                .bind(table)
                .fetch_all(p)
                .await
                .map_err(failed),
            Self::Postgres(p) => sqlx::query_scalar(
                "SELECT a.attname::text FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
                 ORDER BY array_position(i.indkey, a.attnum)",
            )
            .bind(table)
            .fetch_all(p)
            .await
            .map_err(failed),
        }
    }

    /// The table's columns and their declared types (empty if the table does not exist).
    pub(crate) async fn columns(&self, table: &str) -> Result<Vec<(String, String)>, DbError> {
        let failed = DbError::statement("reading the columns", table);
        match self {
            Self::Sqlite(p) => sqlx::query_as("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
                .bind(table)
                .fetch_all(p)
                .await
                .map_err(failed),
            Self::Postgres(p) => sqlx::query_as(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            )
            .bind(table)
            .fetch_all(p)
            .await
            .map_err(failed),
        }
    }
}

impl Dialect {
    /// `name` quoted as an identifier.
    pub(crate) fn quote(self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    /// The `n`th (1-based) bind parameter.
    pub(crate) fn param(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("?{n}"),
            Self::Postgres => format!("${n}"),
        }
    }

    /// An expression for `column` as epoch milliseconds (for timestamp modes).
    pub(crate) fn epoch_millis(self, column: &str) -> String {
        match self {
            Self::Sqlite => format!(
                "(CASE WHEN typeof({column}) IN ('integer', 'real') THEN CAST({column} AS INTEGER) \
                 ELSE CAST(ROUND((julianday({column}) - 2440587.5) * 86400000) AS INTEGER) END)"
            ),
            Self::Postgres => format!("(EXTRACT(EPOCH FROM {column}) * 1000)::bigint"),
        }
    }

    /// The column type for a JSON value of this shape.
    pub(crate) fn column_type(self, value: &Value) -> &'static str {
        match (self, value) {
            (Self::Postgres, Value::Number(n)) if n.is_i64() || n.is_u64() => "BIGINT",
            (Self::Postgres, Value::Number(_)) => "DOUBLE PRECISION",
            (Self::Postgres, Value::Bool(_)) => "BOOLEAN",
            (Self::Postgres, Value::Object(_) | Value::Array(_)) => "JSONB",
            (Self::Postgres, _) => "TEXT",
            (Self::Sqlite, Value::Number(n)) if n.is_i64() || n.is_u64() => "INTEGER",
            (Self::Sqlite, Value::Number(_)) => "REAL",
            (Self::Sqlite, Value::Bool(_)) => "INTEGER",
            (Self::Sqlite, _) => "TEXT",
        }
    }
}

fn millis(t: DateTime<Utc>) -> Value {
    Value::from(t.timestamp_millis())
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn hex(bytes: &[u8]) -> Value {
    Value::String(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A PostgreSQL row as a JSON object.
pub(crate) fn pg_row(row: &PgRow) -> Map<String, Value> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let null = row.try_get_raw(i).map_or(true, |v| v.is_null());
        let value = if null {
            Value::Null
        } else {
            match column.type_info().name() {
                "INT2" => row.try_get::<i16, _>(i).map(Value::from).unwrap_or_default(),
                "INT4" => row.try_get::<i32, _>(i).map(Value::from).unwrap_or_default(),
                "INT8" => row.try_get::<i64, _>(i).map(Value::from).unwrap_or_default(),
                "FLOAT4" => row
                    .try_get::<f32, _>(i)
                    .map(|f| float(f64::from(f)))
                    .unwrap_or_default(),
                "FLOAT8" => row.try_get::<f64, _>(i).map(float).unwrap_or_default(),
                "BOOL" => row.try_get::<bool, _>(i).map(Value::from).unwrap_or_default(),
                "JSON" | "JSONB" => row.try_get::<Value, _>(i).unwrap_or_default(),
                "TIMESTAMPTZ" => row.try_get::<DateTime<Utc>, _>(i).map(millis).unwrap_or_default(),
                "TIMESTAMP" => row
                    .try_get::<NaiveDateTime, _>(i)
                    .map(|t| millis(t.and_utc()))
                    .unwrap_or_default(),
                "DATE" => row
                    .try_get::<NaiveDate, _>(i)
                    .map(|d| millis(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
                    .unwrap_or_default(),
                "BYTEA" => row.try_get::<Vec<u8>, _>(i).map(|b| hex(&b)).unwrap_or_default(),
                _ => row.try_get::<String, _>(i).map(Value::String).unwrap_or_default(),
            }
        };
        out.insert(column.name().to_owned(), value);
    }
    out
}

/// A SQLite row as a JSON object (by each value's storage class; DATETIME columns holding text
/// become epoch milliseconds).
pub(crate) fn sqlite_row(row: &SqliteRow) -> Map<String, Value> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let Ok(raw) = row.try_get_raw(i) else { continue };
        let declared = column.type_info().name().to_ascii_uppercase();
        let value = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" if declared == "BOOLEAN" => row.try_get::<bool, _>(i).map(Value::from).unwrap_or_default(),
                "INTEGER" => row.try_get::<i64, _>(i).map(Value::from).unwrap_or_default(),
                "REAL" => row.try_get::<f64, _>(i).map(float).unwrap_or_default(),
                "BLOB" => row.try_get::<Vec<u8>, _>(i).map(|b| hex(&b)).unwrap_or_default(),
                _ => {
                    let text = row.try_get::<String, _>(i).unwrap_or_default();
                    if matches!(declared.as_str(), "DATETIME" | "TIMESTAMP" | "DATE") {
                        parse_time(&text).map_or(Value::String(text), millis)
                    } else {
                        Value::String(text)
                    }
                }
            }
        };
        out.insert(column.name().to_owned(), value);
    }
    out
}

/// Text SQLite stores for a time (`YYYY-MM-DD[ HH:MM:SS[.fff]]`, RFC 3339).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}
