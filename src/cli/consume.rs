//! `rill consume TOPIC`: prints records as `kafka-console-consumer` does (or by a kcat-style
//! format string), from a group or from partitions directly.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use rill_client::TopicPartition;
use rill_client::consumer::{Consumer, ConsumerRecord, TimestampType};

use super::client_args::{ClientArgs, runtime};

/// Arguments of `rill consume`.
#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Topic to read.
    #[arg(value_name = "TOPIC")]
    topic: String,
    /// Start at the earliest offset when there is no committed offset (the default is the end).
    #[arg(long = "from-beginning")]
    from_beginning: bool,
    /// Consume as a member of this group, committing offsets.
    #[arg(long)]
    group: Option<String>,
    /// Read only this partition.
    #[arg(long, conflicts_with = "group")]
    partition: Option<i32>,
    /// Where to start in --partition: earliest, latest, or an offset.
    #[arg(long, requires = "partition")]
    offset: Option<String>,
    /// Exit after this many records.
    #[arg(long = "max-messages")]
    max_messages: Option<u64>,
    /// Exit when no record arrives for this long.
    #[arg(long = "timeout-ms")]
    timeout_ms: Option<u64>,
    /// Exit once every partition has been read to its end.
    #[arg(short = 'e', long = "exit-at-end")]
    exit_at_end: bool,
    /// Print each record's key.
    #[arg(long = "print-key")]
    print_key: bool,
    /// Print each record's headers (`k:v,k2:v2`, or NO_HEADERS).
    #[arg(long = "print-headers")]
    print_headers: bool,
    /// Print each record's timestamp (`CreateTime:1700000000000`).
    #[arg(long = "print-timestamp")]
    print_timestamp: bool,
    /// Print each record's partition.
    #[arg(long = "print-partition")]
    print_partition: bool,
    /// Print each record's offset.
    #[arg(long = "print-offset")]
    print_offset: bool,
    /// Separator between the printed fields.
    #[arg(long = "key-separator", default_value = "\t")]
    key_separator: String,
    /// kcat-style format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp,
    /// %h headers, %K key length, %S value length, %% percent; \n, \t escapes.
    #[arg(short = 'f', long = "format", conflicts_with_all = ["print_key", "print_headers", "print_timestamp", "print_partition", "print_offset"])]
    format: Option<String>,
    /// read_uncommitted or read_committed.
    #[arg(long = "isolation-level", default_value = "read_uncommitted")]
    isolation_level: String,
}

pub(crate) fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let reset = if args.from_beginning { "earliest" } else { "latest" };
    let mut overrides = vec![
        ("auto.offset.reset", reset.to_owned()),
        ("isolation.level", args.isolation_level.clone()),
    ];
    if let Some(group) = &args.group {
        overrides.push(("group.id", group.clone()));
    }
    let props = args.client.properties(&overrides)?;
    let format = args.format.as_deref().map(Format::parse).transpose()?;
    runtime()?.block_on(async move {
        let mut consumer = Consumer::from_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .await
            .with_context(|| format!("connecting to {}", args.client.bootstrap_server))?;
        if args.group.is_some() {
            consumer.subscribe([args.topic.as_str()])?;
        } else {
            let partitions: Vec<TopicPartition> = match args.partition {
                Some(p) => vec![TopicPartition::new(&args.topic, p)],
                None => {
                    let info = consumer.cluster().topic(&args.topic, false).await?;
                    info.partitions
                        .iter()
                        .map(|p| TopicPartition::new(&args.topic, p.partition))
                        .collect()
                }
            };
            consumer.assign(partitions.clone())?;
            if let (Some(offset), Some(tp)) = (&args.offset, partitions.first()) {
                match offset.as_str() {
                    "earliest" => consumer.seek_to_beginning(&partitions)?,
                    "latest" => consumer.seek_to_end(&partitions)?,
                    n => consumer.seek(tp, n.parse().with_context(|| format!("--offset {n} is not an offset"))?)?,
                }
            }
        }
        let result = consume(&mut consumer, &args, format.as_ref()).await;
        let closed = consumer.close().await;
        let processed = result?;
        closed?;
        eprintln!("Processed a total of {processed} messages");
        Ok(())
    })
}

async fn consume(consumer: &mut Consumer, args: &ConsumeArgs, format: Option<&Format>) -> anyhow::Result<u64> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut processed = 0u64;
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let mut idle = Duration::ZERO;
    let mut line = Vec::new();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        if args.max_messages.is_some_and(|max| processed >= max) {
            break;
        }
        let step = idle_limit.map_or(Duration::from_millis(500), |limit| {
            limit.min(Duration::from_millis(500))
        });
        let records = tokio::select! {
            records = consumer.poll(step) => records?,
            _ = &mut interrupted => break,
        };
        if records.is_empty() {
            out.flush()?;
            idle += step;
            if idle_limit.is_some_and(|limit| idle >= limit) {
                break;
            }
            if args.exit_at_end && at_end(consumer) {
                break;
            }
            continue;
        }
        idle = Duration::ZERO;
        let take = args
            .max_messages
            .map_or(records.len(), |max| records.len().min((max - processed) as usize));
        for record in &records[..take] {
            line.clear();
            match format {
                Some(format) => format.write(record, &mut line),
                None => default_format(args, record, &mut line),
            }
            out.write_all(&line)?;
            processed += 1;
        }
        if take < records.len() {
            // Stopped mid-poll: the rest must not count as consumed when the group commits.
            let mut rewound = std::collections::HashSet::new();
            for record in &records[take..] {
                let tp = TopicPartition::new(record.topic.to_string(), record.partition);
                if rewound.insert(tp.clone()) {
                    consumer.seek(&tp, record.offset)?;
                }
            }
        }
        if args.exit_at_end && at_end(consumer) {
            break;
        }
    }
    out.flush()?;
    Ok(processed)
}

/// Whether every assigned partition has been read to its end (as of the last fetch).
fn at_end(consumer: &Consumer) -> bool {
    let assignment = consumer.assignment();
    !assignment.is_empty() && assignment.iter().all(|tp| consumer.lag(tp) == Some(0))
}

fn bytes_or_null(value: Option<&[u8]>) -> &[u8] {
    value.unwrap_or(b"null")
}

/// `kafka-console-consumer`'s DefaultMessageFormatter: the chosen fields in a fixed order.
fn default_format(args: &ConsumeArgs, record: &ConsumerRecord, out: &mut Vec<u8>) {
    let sep = args.key_separator.as_bytes();
    let mut fields: Vec<Vec<u8>> = Vec::new();
    if args.print_timestamp {
        let kind = match record.timestamp_type {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        };
        fields.push(format!("{kind}:{}", record.timestamp).into_bytes());
    }
    if args.print_partition {
        fields.push(format!("Partition:{}", record.partition).into_bytes());
    }
    if args.print_offset {
        fields.push(format!("Offset:{}", record.offset).into_bytes());
    }
    if args.print_headers {
        fields.push(headers(record));
    }
    if args.print_key {
        fields.push(bytes_or_null(record.key.as_deref()).to_vec());
    }
    fields.push(bytes_or_null(record.value.as_deref()).to_vec());
    out.extend_from_slice(&fields.join(sep));
    out.push(b'\n');
}

fn headers(record: &ConsumerRecord) -> Vec<u8> {
    if record.headers.is_empty() {
        return b"NO_HEADERS".to_vec();
    }
    let mut out = Vec::new();
    for (i, (key, value)) in record.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        out.push(b':');
        out.extend_from_slice(bytes_or_null(value.as_deref()));
    }
    out
}

/// One piece of a parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    Timestamp,
    Headers,
    KeyLength,
    ValueLength,
}

/// A kcat-style output format.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Format(Vec<Piece>);

impl Format {
    fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = spec.chars();
        while let Some(c) = chars.next() {
            let piece = match c {
                '%' => match chars.next() {
                    Some('t') => Piece::Topic,
                    Some('p') => Piece::Partition,
                    Some('o') => Piece::Offset,
                    Some('k') => Piece::Key,
                    Some('s') => Piece::Value,
                    Some('T') => Piece::Timestamp,
                    Some('h') => Piece::Headers,
                    Some('K') => Piece::KeyLength,
                    Some('S') => Piece::ValueLength,
                    Some('%') => {
                        literal.push(b'%');
                        continue;
                    }
                    other => bail!("unknown format token %{}", other.map(String::from).unwrap_or_default()),
                },
                '\\' => {
                    match chars.next() {
                        Some('n') => literal.push(b'\n'),
                        Some('t') => literal.push(b'\t'),
                        Some('\\') => literal.push(b'\\'),
                        Some(other) => {
                            literal.push(b'\\');
                            let mut buf = [0; 4];
                            literal.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                        }
                        None => literal.push(b'\\'),
                    }
                    continue;
                }
                other => {
                    let mut buf = [0; 4];
                    literal.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self(pieces))
    }

    fn write(&self, record: &ConsumerRecord, out: &mut Vec<u8>) {
        let len = |v: Option<&[u8]>| v.map_or("-1".to_owned(), |v| v.len().to_string());
        for piece in &self.0 {
            match piece {
                Piece::Literal(bytes) => out.extend_from_slice(bytes),
                Piece::Topic => out.extend_from_slice(record.topic.as_bytes()),
                Piece::Partition => out.extend_from_slice(record.partition.to_string().as_bytes()),
                Piece::Offset => out.extend_from_slice(record.offset.to_string().as_bytes()),
                Piece::Key => out.extend_from_slice(record.key.as_deref().unwrap_or_default()),
                Piece::Value => out.extend_from_slice(record.value.as_deref().unwrap_or_default()),
                Piece::Timestamp => out.extend_from_slice(record.timestamp.to_string().as_bytes()),
                Piece::Headers => {
                    if !record.headers.is_empty() {
                        out.extend_from_slice(&headers(record));
                    }
                }
                Piece::KeyLength => out.extend_from_slice(len(record.key.as_deref()).as_bytes()),
                Piece::ValueLength => out.extend_from_slice(len(record.value.as_deref()).as_bytes()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_tokens_and_escapes() {
        let format = Format::parse("%t/%p@%o %k=%s (%K,%S)\\t%%\\n").expect("valid");
        assert_eq!(
            format.0,
            vec![
                Piece::Topic,
                Piece::Literal(b"/".to_vec()),
                Piece::Partition,
                Piece::Literal(b"@".to_vec()),
                Piece::Offset,
                Piece::Literal(b" ".to_vec()),
                Piece::Key,
                Piece::Literal(b"=".to_vec()),
                Piece::Value,
                Piece::Literal(b" (".to_vec()),
                Piece::KeyLength,
                Piece::Literal(b",".to_vec()),
                Piece::ValueLength,
                Piece::Literal(b")\t%\n".to_vec()),
            ]
        );
        assert!(Format::parse("%q").is_err());
    }
}
