//! The database sink: records into tables, as Kafka's JDBC sink connector, from schemaless JSON.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
// Statements are built from quoted identifiers; values are always bound.
use sqlx::AssertSqlSafe;

use super::dialect::{Dialect, Pool};
use super::error::DbError;
use crate::record::{ConnectRecord, RecordFailure};

/// Where a row's primary key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkMode {
    /// No key: rows are only inserted.
    None,
    /// The record's key: an object's fields, or a primitive key as the one `pk.fields` column.
    RecordKey,
    /// Fields of the record's value (`pk.fields`).
    RecordValue,
}

/// A database sink's settings (Kafka's JDBC sink keys).
#[derive(Debug, Clone)]
pub struct DbSinkConfig {
    url: String,
    user: Option<String>,
    password: Option<String>,
    upsert: bool,
    pk_mode: PkMode,
    pk_fields: Vec<String>,
    delete_enabled: bool,
    auto_create: bool,
    auto_evolve: bool,
    table_format: String,
    batch_size: usize,
}

fn flag(config: &BTreeMap<String, String>, key: &str) -> Result<bool, DbError> {
    match config.get(key).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(DbError::config(key, format!("{other}: not true or false"))),
    }
}

impl DbSinkConfig {
    /// From a connector's config: `connection.url` (`connection.user`, `connection.password`),
    /// `insert.mode` (insert|upsert), `pk.mode` (none|record_key|record_value), `pk.fields`
    /// (a primitive record key's column defaults to `id`), `delete.enabled`, `auto.create`,
    /// `auto.evolve`, `table.name.format` (`${topic}`), `batch.size` (3000).
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<Self, DbError> {
        let get = |key: &str| config.get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let url = get("connection.url").ok_or_else(|| DbError::config("connection.url", "missing"))?;
        let upsert = match get("insert.mode").as_deref() {
            None | Some("insert") => false,
            Some("upsert") => true,
            Some(other) => return Err(DbError::config("insert.mode", format!("{other}: not insert or upsert"))),
        };
        let pk_mode = match get("pk.mode").as_deref() {
            None | Some("none") => PkMode::None,
            Some("record_key") => PkMode::RecordKey,
            Some("record_value") => PkMode::RecordValue,
            Some(other) => {
                return Err(DbError::config(
                    "pk.mode",
                    format!("{other}: not none, record_key or record_value"),
                ));
            }
        };
        let pk_fields: Vec<String> = config
            .get("pk.fields")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if upsert && pk_mode == PkMode::None {
            return Err(DbError::config(
                "pk.mode",
                "insert.mode=upsert needs a primary key (record_key or record_value)",
            ));
        }
        if pk_mode == PkMode::RecordValue && pk_fields.is_empty() {
            return Err(DbError::config(
                "pk.fields",
                "pk.mode=record_value needs the key's value fields",
            ));
        }
        let delete_enabled = flag(config, "delete.enabled")?;
        if delete_enabled && pk_mode != PkMode::RecordKey {
            return Err(DbError::config(
                "delete.enabled",
                "deleting on tombstones needs pk.mode=record_key",
            ));
        }
        let batch_size = match get("batch.size") {
            None => 3_000,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| DbError::config("batch.size", format!("{v} is not a positive number")))?,
        };
        Ok(Self {
            url,
            user: get("connection.user"),
            password: get("connection.password"),
            upsert,
            pk_mode,
            pk_fields,
            delete_enabled,
            auto_create: flag(config, "auto.create")?,
            auto_evolve: flag(config, "auto.evolve")?,
            table_format: get("table.name.format").unwrap_or_else(|| "${topic}".to_owned()),
            batch_size,
        })
    }
}

/// What a record asks of its table.
#[derive(Debug, Clone)]
enum Op {
    /// Write this row (columns in the row's order).
    Write(Map<String, Value>),
    /// Delete the row of this key.
    Delete(Map<String, Value>),
}

/// A table as the sink knows it.
#[derive(Debug, Default)]
struct Table {
    /// Column name → declared type.
    columns: HashMap<String, String>,
    key: Vec<String>,
}

/// A running database sink.
#[derive(Debug)]
pub struct DbSink {
    config: DbSinkConfig,
    pool: Pool,
    tables: HashMap<String, Table>,
}

/// A row's value as text for a statement (`None` is NULL); the database casts it to the
/// column's type, refusing what does not fit.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl DbSink {
    /// Connects.
    pub async fn open(config: DbSinkConfig) -> Result<Self, DbError> {
        let pool = Pool::connect(&config.url, config.user.as_deref(), config.password.as_deref()).await?;
        Ok(Self {
            config,
            pool,
            tables: HashMap::new(),
        })
    }

    /// The key columns and values of a record, or why it has none.
    fn key_of(&self, record: &ConnectRecord) -> Result<Map<String, Value>, String> {
        match self.config.pk_mode {
            PkMode::None => Ok(Map::new()),
            PkMode::RecordKey => match &record.key {
                None | Some(Value::Null) => Err("the record has no key (pk.mode=record_key)".to_owned()),
                Some(Value::Object(fields)) => {
                    if self.config.pk_fields.is_empty() {
                        Ok(fields.clone())
                    } else {
                        self.config
                            .pk_fields
                            .iter()
                            .map(|f| {
                                fields
                                    .get(f)
                                    .map(|v| (f.clone(), v.clone()))
                                    .ok_or_else(|| format!("the record key has no field {f}"))
                            })
                            .collect()
                    }
                }
                Some(primitive) => {
                    let column = self
                        .config
                        .pk_fields
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "id".to_owned());
                    Ok(Map::from_iter([(column, primitive.clone())]))
                }
            },
            PkMode::RecordValue => {
                let Some(Value::Object(fields)) = &record.value else {
                    return Err("the record value is not a JSON object".to_owned());
                };
                self.config
                    .pk_fields
                    .iter()
                    .map(|f| {
                        fields
                            .get(f)
                            .map(|v| (f.clone(), v.clone()))
                            .ok_or_else(|| format!("the record value has no field {f}"))
                    })
                    .collect()
            }
        }
    }

    /// What `record` asks (and its key as text), or why it cannot be written.
    fn op_of(&self, record: &ConnectRecord) -> Result<Option<(String, Op)>, String> {
        let key = self.key_of(record)?;
        let key_text = if key.is_empty() {
            String::new()
        } else {
            Value::Object(key.clone()).to_string()
        };
        match &record.value {
            None | Some(Value::Null) => {
                if self.config.delete_enabled {
                    Ok(Some((key_text, Op::Delete(key))))
                } else {
                    // A tombstone without delete.enabled writes nothing.
                    Ok(None)
                }
            }
            Some(Value::Object(fields)) => {
                let mut row = key;
                for (k, v) in fields {
                    row.entry(k.clone()).or_insert_with(|| v.clone());
                }
                Ok(Some((key_text, Op::Write(row))))
            }
            Some(other) => Err(format!(
                "the record value is not a JSON object: {}",
                truncate(&other.to_string())
            )),
        }
    }

    /// Writes `records` (committed before it returns). Records that cannot be written come back
    /// as failures with the reason, the rest are written.
    pub async fn put(&mut self, records: &[ConnectRecord]) -> Result<Vec<RecordFailure>, DbError> {
        let mut failures = Vec::new();
        // Per table, in order: the last operation per key (later records of a key win).
        let mut per_table: BTreeMap<String, Vec<(usize, Op)>> = BTreeMap::new();
        let mut last_of_key: HashMap<(String, String), usize> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            match self.op_of(record) {
                Ok(Some((key, op))) => {
                    let table = self.config.table_format.replace("${topic}", &record.topic);
                    let ops = per_table.entry(table.clone()).or_default();
                    if self.config.pk_mode != PkMode::None {
                        if let Some(previous) = last_of_key.insert((table, key), ops.len()) {
                            // Superseded: it counts as written.
                            ops[previous].1 = Op::Delete(Map::new());
                            ops[previous].0 = usize::MAX;
                        }
                    }
                    ops.push((index, op));
                }
                Ok(None) => {}
                Err(reason) => failures.push(RecordFailure { index, reason }),
            }
        }
        for (table, ops) in per_table {
            let ops: Vec<(usize, Op)> = ops.into_iter().filter(|(i, _)| *i != usize::MAX).collect();
            for chunk in ops.chunks(self.config.batch_size) {
                failures.extend(self.write(&table, chunk).await?);
            }
        }
        failures.sort_by_key(|f| f.index);
        Ok(failures)
    }

    /// Makes sure `table` exists with the columns `ops` need (as the config allows).
    async fn prepare(&mut self, table: &str, ops: &[(usize, Op)]) -> Result<(), DbError> {
        let dialect = self.pool.dialect();
        if !self.tables.contains_key(table) {
            let columns = self.pool.columns(table).await?;
            let key = self.pool.primary_key(table).await?;
            self.tables.insert(
                table.to_owned(),
                Table {
                    columns: columns.into_iter().collect(),
                    key,
                },
            );
        }
        let Some(known) = self.tables.get(table) else {
            return Ok(());
        };
        // The columns the rows have that the table has not, with a type from a first value.
        let mut missing: Vec<(String, &'static str)> = Vec::new();
        for (_, op) in ops {
            let Op::Write(row) = op else { continue };
            for (column, value) in row {
                if !known.columns.contains_key(column) && !missing.iter().any(|(c, _)| c == column) {
                    missing.push((column.clone(), dialect.column_type(value)));
                }
            }
        }
        if known.columns.is_empty() {
            if !self.config.auto_create {
                return Err(DbError::NoTable(table.to_owned()));
            }
            let key: Vec<String> = ops
                .iter()
                .find_map(|(_, op)| match op {
                    Op::Write(row) if self.config.pk_mode != PkMode::None => {
                        Some(row.keys().cloned().collect::<Vec<_>>())
                    }
                    _ => None,
                })
                .map(|_| self.pk_columns(ops))
                .unwrap_or_default();
            let mut columns: Vec<String> = missing
                .iter()
                .map(|(c, t)| {
                    let not_null = if key.contains(c) { " NOT NULL" } else { "" };
                    format!("{} {t}{not_null}", dialect.quote(c))
                })
                .collect();
            if !key.is_empty() {
                let quoted: Vec<String> = key.iter().map(|c| dialect.quote(c)).collect();
                columns.push(format!("PRIMARY KEY ({})", quoted.join(", ")));
            }
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} ({})",
                dialect.quote(table),
                columns.join(", ")
            );
            self.execute(&sql)
                .await
                .map_err(DbError::statement("creating the table", table))?;
            tracing::info!(table, "created a table");
            self.tables.remove(table);
            return Box::pin(self.prepare(table, ops)).await;
        }
        if !missing.is_empty() && self.config.auto_evolve {
            for (column, kind) in &missing {
                let sql = format!(
                    "ALTER TABLE {} ADD COLUMN {} {kind}",
                    dialect.quote(table),
                    dialect.quote(column)
                );
                self.execute(&sql)
                    .await
                    .map_err(DbError::statement("adding a column", table))?;
                tracing::info!(table, column, "added a column");
            }
            self.tables.remove(table);
            return Box::pin(self.prepare(table, ops)).await;
        }
        Ok(())
    }

    /// The primary-key columns of the first row's key.
    fn pk_columns(&self, ops: &[(usize, Op)]) -> Vec<String> {
        match self.config.pk_mode {
            PkMode::None => Vec::new(),
            PkMode::RecordValue => self.config.pk_fields.clone(),
            PkMode::RecordKey if !self.config.pk_fields.is_empty() => self.config.pk_fields.clone(),
            PkMode::RecordKey => ops
                .iter()
                .find_map(|(_, op)| match op {
                    Op::Delete(key) if !key.is_empty() => Some(key.keys().cloned().collect()),
                    _ => None,
                })
                .unwrap_or_else(|| vec!["id".to_owned()]),
        }
    }

    async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::query(AssertSqlSafe(sql.to_owned())).execute(p).await.map(|_| ()),
            Pool::Postgres(p) => sqlx::query(AssertSqlSafe(sql.to_owned())).execute(p).await.map(|_| ()),
        }
    }

    /// Writes one batch of a table in a transaction; if the database refuses it, again record
    /// by record to find the ones it refuses.
    async fn write(&mut self, table: &str, ops: &[(usize, Op)]) -> Result<Vec<RecordFailure>, DbError> {
        self.prepare(table, ops).await?;
        let key = self.tables.get(table).map(|t| t.key.clone()).unwrap_or_default();
        if self.pool.dialect() == Dialect::Sqlite || key.is_empty() || ops.len() < 2 {
            return self.write_lane(table, ops).await;
        }
        // PostgreSQL: two connections write at once, each key always on the same one (so its
        // writes stay in order), to use the server's cores.
        let (mut even, mut odd) = (Vec::new(), Vec::new());
        for (index, op) in ops {
            let values = match op {
                Op::Write(row) | Op::Delete(row) => key.iter().map(|k| row.get(k).cloned().unwrap_or(Value::Null)),
            };
            let mut hasher = std::hash::DefaultHasher::new();
            for value in values {
                std::hash::Hash::hash(&value.to_string(), &mut hasher);
            }
            let lane = if std::hash::Hasher::finish(&hasher) % 2 == 0 {
                &mut even
            } else {
                &mut odd
            };
            lane.push((*index, op.clone()));
        }
        let (a, b) = tokio::join!(self.write_lane(table, &even), self.write_lane(table, &odd));
        let mut failures = a?;
        failures.extend(b?);
        Ok(failures)
    }

    /// Writes ops in one transaction; if the database refuses them, again one by one.
    async fn write_lane(&self, table: &str, ops: &[(usize, Op)]) -> Result<Vec<RecordFailure>, DbError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let statements = self.statements(table, ops);
        match self.run(&statements).await {
            Ok(()) => return Ok(Vec::new()),
            Err(e) if is_connection(&e) => return Err(DbError::statement("writing", table)(e)),
            Err(e) => tracing::debug!(table, error = %e, "a batch was refused: writing it record by record"),
        }
        let mut failures = Vec::new();
        for op in ops {
            let statements = self.statements(table, std::slice::from_ref(op));
            match self.run(&statements).await {
                Ok(()) => {}
                Err(e) if is_connection(&e) => return Err(DbError::statement("writing", table)(e)),
                Err(e) => failures.push(RecordFailure {
                    index: op.0,
                    reason: format!("{table}: {}", database_message(&e)),
                }),
            }
        }
        Ok(failures)
    }

    /// The statements (SQL and text parameters) that apply `ops` to `table`.
    fn statements(&self, table: &str, ops: &[(usize, Op)]) -> Vec<(String, Vec<Vec<Option<String>>>)> {
        let dialect = self.pool.dialect();
        let known = self.tables.get(table);
        let key: Vec<String> = known
            .map(|t| t.key.clone())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| self.pk_columns(ops));
        let column_type = |c: &str| {
            known
                .and_then(|t| t.columns.get(c))
                .cloned()
                .unwrap_or_else(|| "TEXT".to_owned())
        };
        let qtable = dialect.quote(table);
        let mut out = Vec::new();
        // Rows with the same columns go in one statement.
        let mut groups: BTreeMap<Vec<String>, Vec<&Map<String, Value>>> = BTreeMap::new();
        for (_, op) in ops {
            match op {
                Op::Write(row) => {
                    // Columns the table lacks (auto.evolve off) are left out.
                    let columns: Vec<String> = row
                        .keys()
                        .filter(|c| known.is_none_or(|t| t.columns.contains_key(*c)))
                        .cloned()
                        .collect();
                    groups.entry(columns).or_default().push(row);
                }
                Op::Delete(k) => {
                    let conditions: Vec<String> = k
                        .keys()
                        .enumerate()
                        .map(|(i, c)| {
                            format!(
                                "{} = {}",
                                dialect.quote(c),
                                cast(dialect, &dialect.param(i + 1), &column_type(c))
                            )
                        })
                        .collect();
                    let sql = format!("DELETE FROM {qtable} WHERE {}", conditions.join(" AND "));
                    out.push((sql, k.values().map(|v| vec![text(v)]).collect()));
                }
            }
        }
        for (columns, rows) in groups {
            let quoted: Vec<String> = columns.iter().map(|c| dialect.quote(c)).collect();
            let upsert = if self.config.upsert && !key.is_empty() {
                let updates: Vec<String> = columns
                    .iter()
                    .filter(|c| !key.contains(c))
                    .map(|c| format!("{q} = EXCLUDED.{q}", q = dialect.quote(c)))
                    .collect();
                let target: Vec<String> = key.iter().map(|c| dialect.quote(c)).collect();
                if updates.is_empty() {
                    format!(" ON CONFLICT ({}) DO NOTHING", target.join(", "))
                } else {
                    format!(
                        " ON CONFLICT ({}) DO UPDATE SET {}",
                        target.join(", "),
                        updates.join(", ")
                    )
                }
            } else {
                String::new()
            };
            match dialect {
                Dialect::Postgres => {
                    // One array parameter per column, whatever the number of rows.
                    let arrays: Vec<String> = (1..=columns.len()).map(|i| format!("${i}::text[]")).collect();
                    let casts: Vec<String> = columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| format!("CAST(u.c{i} AS {})", column_type(c)))
                        .collect();
                    let names: Vec<String> = (0..columns.len()).map(|i| format!("c{i}")).collect();
                    let sql = format!(
                        "INSERT INTO {qtable} ({}) SELECT {} FROM UNNEST({}) AS u({}){upsert}",
                        quoted.join(", "),
                        casts.join(", "),
                        arrays.join(", "),
                        names.join(", ")
                    );
                    let params = columns
                        .iter()
                        .map(|c| rows.iter().map(|r| r.get(c).and_then(text)).collect())
                        .collect();
                    out.push((sql, params));
                }
                Dialect::Sqlite => {
                    let per_statement = (30_000 / columns.len().max(1)).max(1);
                    for part in rows.chunks(per_statement) {
                        let mut n = 0;
                        let values: Vec<String> = part
                            .iter()
                            .map(|_| {
                                let params: Vec<String> = columns
                                    .iter()
                                    .map(|_| {
                                        n += 1;
                                        dialect.param(n)
                                    })
                                    .collect();
                                format!("({})", params.join(", "))
                            })
                            .collect();
                        let sql = format!(
                            "INSERT INTO {qtable} ({}) VALUES {}{upsert}",
                            quoted.join(", "),
                            values.join(", ")
                        );
                        let params = part
                            .iter()
                            .flat_map(|r| columns.iter().map(|c| vec![r.get(c).and_then(sqlite_text)]))
                            .collect();
                        out.push((sql, params));
                    }
                }
            }
        }
        out
    }

    /// Runs statements in one transaction. Each parameter is a text or, for PostgreSQL's
    /// arrays, a column of texts (a one-element list stands for a plain text parameter).
    async fn run(&self, statements: &[(String, Vec<Vec<Option<String>>>)]) -> Result<(), sqlx::Error> {
        match &self.pool {
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                for (sql, params) in statements {
                    let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                    let arrays = sql.starts_with("INSERT");
                    for param in params {
                        query = if arrays {
                            query.bind(param.clone())
                        } else {
                            query.bind(param.first().cloned().flatten())
                        };
                    }
                    query.execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            Pool::Sqlite(p) => {
                let mut tx = p.begin().await?;
                for (sql, params) in statements {
                    let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                    for param in params {
                        query = query.bind(param.first().cloned().flatten());
                    }
                    query.execute(&mut *tx).await?;
                }
                tx.commit().await
            }
        }
    }

    /// Closes the connections.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// SQLite keeps what it is given: numbers and booleans go as text SQLite converts by the
/// column's affinity.
fn sqlite_text(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        other => text(other),
    }
}

fn cast(dialect: Dialect, param: &str, column_type: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("CAST({param} AS {column_type})"),
        Dialect::Sqlite => param.to_owned(),
    }
}

fn truncate(text: &str) -> String {
    if text.len() <= 200 {
        return text.to_owned();
    }
    let mut end = 200;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Whether the error is the connection's (the task stops) rather than the data's.
fn is_connection(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
    )
}

fn database_message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}
