//! The connector plugins a worker runs, the config keys each takes (for
//! `GET /connector-plugins/{type}/config` and validation), and class-name matching.

use serde::Serialize;

/// A connector plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// Tails files into a topic.
    FileSource,
    /// Writes topics to files.
    FileSink,
    /// Polls database tables or queries into topics.
    JdbcSource,
    /// Writes topics into database tables.
    JdbcSink,
}

/// `source` or `sink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginType {
    /// Reads the outside world into topics.
    Source,
    /// Writes topics to the outside world.
    Sink,
}

/// One config key of a plugin, in Kafka Connect's `ConfigKeyInfo` shape.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigDef {
    /// The key.
    pub name: &'static str,
    /// STRING, INT, LONG, BOOLEAN, LIST, CLASS, PASSWORD.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// Its default, if any.
    pub default_value: Option<&'static str>,
    /// HIGH, MEDIUM or LOW.
    pub importance: &'static str,
    /// What it does.
    pub documentation: &'static str,
    /// Its group.
    pub group: &'static str,
    /// Its place in the group.
    pub order_in_group: i32,
    /// SHORT, MEDIUM, LONG or NONE.
    pub width: &'static str,
    /// The name shown.
    pub display_name: &'static str,
    /// Keys that depend on it.
    pub dependents: Vec<&'static str>,
}

const fn def(
    name: &'static str,
    kind: &'static str,
    required: bool,
    default_value: Option<&'static str>,
    importance: &'static str,
    documentation: &'static str,
    group: &'static str,
) -> (
    &'static str,
    &'static str,
    bool,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
) {
    (name, kind, required, default_value, importance, documentation, group)
}

type RawDef = (
    &'static str,
    &'static str,
    bool,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
);

const COMMON: &[RawDef] = &[
    def(
        "name",
        "STRING",
        true,
        None,
        "HIGH",
        "Globally unique name of this connector.",
        "Common",
    ),
    def(
        "connector.class",
        "STRING",
        true,
        None,
        "HIGH",
        "The plugin: its class name or alias.",
        "Common",
    ),
    def(
        "tasks.max",
        "INT",
        false,
        Some("1"),
        "HIGH",
        "The most tasks to run.",
        "Common",
    ),
    def(
        "key.converter",
        "CLASS",
        false,
        None,
        "LOW",
        "JsonConverter or StringConverter, for keys.",
        "Common",
    ),
    def(
        "value.converter",
        "CLASS",
        false,
        None,
        "LOW",
        "JsonConverter or StringConverter, for values.",
        "Common",
    ),
    def(
        "transforms",
        "LIST",
        false,
        Some(""),
        "LOW",
        "Aliases of the transforms applied in order.",
        "Transforms",
    ),
    def(
        "predicates",
        "LIST",
        false,
        Some(""),
        "LOW",
        "Aliases of the predicates transforms use.",
        "Predicates",
    ),
    def(
        "errors.tolerance",
        "STRING",
        false,
        Some("none"),
        "MEDIUM",
        "none: a record that fails stops the task; all: it is skipped (and sent to the dead-letter topic).",
        "Error Handling",
    ),
    def(
        "errors.log.enable",
        "BOOLEAN",
        false,
        Some("false"),
        "MEDIUM",
        "Log each failed record.",
        "Error Handling",
    ),
    def(
        "errors.deadletterqueue.topic.name",
        "STRING",
        false,
        Some(""),
        "MEDIUM",
        "The topic failed records go to (with errors.tolerance=all).",
        "Error Handling",
    ),
    def(
        "errors.deadletterqueue.topic.replication.factor",
        "SHORT",
        false,
        Some("-1"),
        "MEDIUM",
        "Replication factor of the dead-letter topic when created.",
        "Error Handling",
    ),
    def(
        "errors.deadletterqueue.context.headers.enable",
        "BOOLEAN",
        false,
        Some("true"),
        "MEDIUM",
        "Add __connect.errors.* headers saying why and where a record failed.",
        "Error Handling",
    ),
    def(
        "task.restart.backoff.ms",
        "LONG",
        false,
        Some("1000"),
        "LOW",
        "First wait before a failed task is restarted; doubles on each failure.",
        "Error Handling",
    ),
    def(
        "task.restart.backoff.max.ms",
        "LONG",
        false,
        Some("60000"),
        "LOW",
        "Longest wait before a failed task is restarted.",
        "Error Handling",
    ),
];

const SINK_COMMON: &[RawDef] = &[def(
    "topics",
    "LIST",
    true,
    None,
    "HIGH",
    "The topics to consume.",
    "Common",
)];

const FILE_SOURCE: &[RawDef] = &[
    def("topic", "STRING", true, None, "HIGH", "The topic lines go to.", "File"),
    def(
        "file.include",
        "LIST",
        true,
        None,
        "HIGH",
        "Globs of the files to tail (Kafka's `file` is accepted).",
        "File",
    ),
    def(
        "file.exclude",
        "LIST",
        false,
        Some(""),
        "MEDIUM",
        "Globs of files not to tail.",
        "File",
    ),
    def(
        "read.from",
        "STRING",
        false,
        Some("beginning"),
        "MEDIUM",
        "beginning or end: where files found at the first start are read from.",
        "File",
    ),
    def(
        "max.line.bytes",
        "INT",
        false,
        Some("102400"),
        "LOW",
        "Longer lines are cut.",
        "File",
    ),
    def(
        "scan.interval.ms",
        "LONG",
        false,
        Some("1000"),
        "LOW",
        "How often the globs are scanned again besides file-system events.",
        "File",
    ),
    def(
        "offset.flush.interval.ms",
        "LONG",
        false,
        Some("1000"),
        "LOW",
        "How often acknowledged positions are stored.",
        "File",
    ),
    def(
        "multiline.start.pattern",
        "STRING",
        false,
        None,
        "LOW",
        "A regex matching the first line of a multi-line event.",
        "File",
    ),
    def(
        "multiline.timeout.ms",
        "LONG",
        false,
        Some("1000"),
        "LOW",
        "An open multi-line event is complete after this long.",
        "File",
    ),
];

const FILE_SINK: &[RawDef] = &[
    def(
        "file",
        "STRING",
        false,
        None,
        "HIGH",
        "One file all records are appended to (as Kafka's FileStreamSink).",
        "File",
    ),
    def(
        "directory",
        "STRING",
        false,
        None,
        "HIGH",
        "A directory with a file per topic partition (instead of `file`).",
        "File",
    ),
    def(
        "file.roll.bytes",
        "LONG",
        false,
        Some("0"),
        "MEDIUM",
        "Roll a file over at this size (0: never).",
        "File",
    ),
    def(
        "file.roll.ms",
        "LONG",
        false,
        Some("0"),
        "MEDIUM",
        "Roll a file over at this age (0: never).",
        "File",
    ),
    def(
        "offset.flush.interval.ms",
        "LONG",
        false,
        Some("1000"),
        "LOW",
        "How often files are flushed and offsets committed.",
        "File",
    ),
];

const JDBC_SOURCE: &[RawDef] = &[
    def(
        "connection.url",
        "STRING",
        true,
        None,
        "HIGH",
        "sqlite:<path> or postgres://user@host:port/db.",
        "Database",
    ),
    def(
        "mode",
        "STRING",
        true,
        None,
        "HIGH",
        "bulk, incrementing, timestamp or timestamp+incrementing.",
        "Mode",
    ),
    def(
        "incrementing.column.name",
        "STRING",
        false,
        None,
        "MEDIUM",
        "A strictly increasing column.",
        "Mode",
    ),
    def(
        "timestamp.column.name",
        "LIST",
        false,
        None,
        "MEDIUM",
        "Timestamp columns (the first not null counts).",
        "Mode",
    ),
    def(
        "table.whitelist",
        "LIST",
        false,
        None,
        "MEDIUM",
        "Tables to copy (or table.include.list).",
        "Database",
    ),
    def(
        "query",
        "STRING",
        false,
        None,
        "MEDIUM",
        "A query to run instead of tables.",
        "Mode",
    ),
    def(
        "topic.prefix",
        "STRING",
        true,
        None,
        "HIGH",
        "Topics are the prefix and the table's name (the prefix alone for a query).",
        "Connector",
    ),
    def(
        "poll.interval.ms",
        "INT",
        false,
        Some("5000"),
        "HIGH",
        "How often new rows are looked for.",
        "Connector",
    ),
    def(
        "batch.max.rows",
        "INT",
        false,
        Some("1000"),
        "LOW",
        "Rows per table per poll.",
        "Connector",
    ),
    def(
        "timestamp.delay.interval.ms",
        "LONG",
        false,
        Some("0"),
        "HIGH",
        "Rows newer than this are left for a later poll.",
        "Mode",
    ),
];

const JDBC_SINK: &[RawDef] = &[
    def(
        "connection.url",
        "STRING",
        true,
        None,
        "HIGH",
        "sqlite:<path> or postgres://user@host:port/db.",
        "Connection",
    ),
    def(
        "insert.mode",
        "STRING",
        false,
        Some("insert"),
        "HIGH",
        "insert or upsert.",
        "Writes",
    ),
    def(
        "pk.mode",
        "STRING",
        false,
        Some("none"),
        "HIGH",
        "none, record_key or record_value.",
        "Data Mapping",
    ),
    def(
        "pk.fields",
        "LIST",
        false,
        Some(""),
        "MEDIUM",
        "Primary-key columns.",
        "Data Mapping",
    ),
    def(
        "delete.enabled",
        "BOOLEAN",
        false,
        Some("false"),
        "MEDIUM",
        "A tombstone deletes the row of its key.",
        "Writes",
    ),
    def(
        "auto.create",
        "BOOLEAN",
        false,
        Some("false"),
        "MEDIUM",
        "Create a missing table from the record's shape.",
        "DDL Support",
    ),
    def(
        "auto.evolve",
        "BOOLEAN",
        false,
        Some("false"),
        "MEDIUM",
        "Add missing columns.",
        "DDL Support",
    ),
    def(
        "table.name.format",
        "STRING",
        false,
        Some("${topic}"),
        "MEDIUM",
        "The table of a record.",
        "Data Mapping",
    ),
    def(
        "batch.size",
        "INT",
        false,
        Some("3000"),
        "MEDIUM",
        "Records per write.",
        "Writes",
    ),
];

impl Plugin {
    /// Every plugin.
    pub const ALL: [Plugin; 4] = [Self::FileSource, Self::FileSink, Self::JdbcSource, Self::JdbcSink];

    /// The plugin a `connector.class` names: its class, the last part of it, or an alias (Kafka's
    /// FileStreamSource/Sink and Confluent's JDBC class names are accepted).
    pub fn from_class(class: &str) -> Option<Self> {
        let short = class.trim().rsplit('.').next().unwrap_or_default();
        let short = short.strip_suffix("Connector").unwrap_or(short);
        match short {
            "FileSource" | "FileStreamSource" | "file-source" => Some(Self::FileSource),
            "FileSink" | "FileStreamSink" | "file-sink" => Some(Self::FileSink),
            "JdbcSource" | "jdbc-source" | "DbSource" => Some(Self::JdbcSource),
            "JdbcSink" | "jdbc-sink" | "DbSink" => Some(Self::JdbcSink),
            _ => None,
        }
    }

    /// Its class name.
    pub fn class(self) -> &'static str {
        match self {
            Self::FileSource => "io.rill.connect.file.FileSourceConnector",
            Self::FileSink => "io.rill.connect.file.FileSinkConnector",
            Self::JdbcSource => "io.rill.connect.jdbc.JdbcSourceConnector",
            Self::JdbcSink => "io.rill.connect.jdbc.JdbcSinkConnector",
        }
    }

    /// Source or sink.
    pub fn kind(self) -> PluginType {
        match self {
            Self::FileSource | Self::JdbcSource => PluginType::Source,
            Self::FileSink | Self::JdbcSink => PluginType::Sink,
        }
    }

    /// The config keys it takes.
    pub fn definitions(self) -> Vec<ConfigDef> {
        let own: &[RawDef] = match self {
            Self::FileSource => FILE_SOURCE,
            Self::FileSink => FILE_SINK,
            Self::JdbcSource => JDBC_SOURCE,
            Self::JdbcSink => JDBC_SINK,
        };
        let sink: &[RawDef] = if self.kind() == PluginType::Sink {
            SINK_COMMON
        } else {
            &[]
        };
        let mut order = std::collections::HashMap::<&str, i32>::new();
        COMMON
            .iter()
            .chain(sink)
            .chain(own)
            .map(
                |&(name, kind, required, default_value, importance, documentation, group)| {
                    let n = order.entry(group).or_default();
                    *n += 1;
                    ConfigDef {
                        name,
                        kind,
                        required,
                        default_value,
                        importance,
                        documentation,
                        group,
                        order_in_group: *n,
                        width: "NONE",
                        display_name: name,
                        dependents: Vec::new(),
                    }
                },
            )
            .collect()
    }
}
