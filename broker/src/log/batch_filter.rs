//! What compaction does to one batch: which records survive, and the batch that holds them.
//!
//! A record survives unless
//! - its key has a later record in the offset map (it is superseded),
//! - it has no key (Kafka's cleaner drops these too; produce refuses them on compacted topics, so
//!   they only exist if the topic was switched from `delete`),
//! - it is a tombstone (null value) whose batch carries a delete horizon that has passed.
//!
//! Tombstones follow KIP-534: the first time the cleaner keeps a tombstone, it stamps its batch
//! with a delete horizon, `now + delete.retention.ms`, in the base timestamp (attributes bit 6,
//! record timestamp deltas re-based so that every record keeps its timestamp). A later round at or
//! after the horizon drops the tombstone. The horizon travels with the data, so it survives
//! restarts and does not depend on file modification times.
//!
//! A rewritten batch keeps its base offset, last offset delta, leader epoch, producer id, epoch,
//! base sequence, timestamp type and codec: offsets never change, and replaying the batch into the
//! producer state gives the same result as before. A batch left with no records disappears.

use std::path::Path;

use rill_client::protocol::batch::{self, BatchError, BatchHeader, DELETE_HORIZON_BIT, RecordView, TimestampType};
use rill_client::protocol::builder::{put_record, rebuild_batch};
use rill_client::protocol::compression::record_area;

use super::error::LogError;
use super::offset_map::OffsetMap;

/// The clock and settings that decide the fate of tombstones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TombstonePolicy {
    /// Wall clock, milliseconds.
    pub(crate) now_ms: i64,
    /// `delete.retention.ms`.
    pub(crate) delete_retention_ms: i64,
}

/// What becomes of a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filtered {
    /// Unchanged: copy its bytes.
    Keep,
    /// No record survives.
    Drop,
    /// Some records survive, or a tombstone needs a horizon: the new batch.
    Rewrite(Vec<u8>),
}

/// The outcome for one batch.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) filtered: Filtered,
    /// Records removed.
    pub(crate) removed: usize,
    /// The delete horizon of the tombstones kept in the batch, if it keeps any.
    pub(crate) tombstone_horizon: Option<i64>,
}

/// Decides which records of the batch at `position` in `path` survive, and builds the batch that
/// holds them.
pub(crate) fn filter_batch(
    bytes: &[u8],
    header: &BatchHeader,
    (path, position): (&Path, u64),
    map: &OffsetMap,
    policy: TombstonePolicy,
    max_decompressed: usize,
) -> Result<Verdict, LogError> {
    if header.is_control() {
        // Transaction markers are not Rill's to drop (and Rill writes none yet).
        return Ok(Verdict {
            filtered: Filtered::Keep,
            removed: 0,
            tombstone_horizon: None,
        });
    }
    let codec = header.compression().map_err(|source| LogError::Corrupt {
        path: path.to_owned(),
        position,
        source,
    })?;
    let area = record_area(bytes, header, max_decompressed).map_err(|source| LogError::Records {
        path: path.to_owned(),
        position,
        source,
    })?;
    let horizon = header.delete_horizon_ms();
    let mut kept: Vec<RecordView<'_>> = Vec::with_capacity(header.records_count.max(0) as usize);
    let mut tombstones = false;
    for (index, record) in batch::records(&area).enumerate() {
        let record = record.map_err(|reason| LogError::Corrupt {
            path: path.to_owned(),
            position,
            source: BatchError::BadRecord {
                index: index as i32,
                reason,
            },
        })?;
        let offset = header.base_offset + i64::from(record.offset_delta);
        let Some(key) = record.key else { continue };
        if map.latest(key).is_some_and(|latest| latest > offset) {
            continue;
        }
        if record.value.is_none() {
            if horizon.is_some_and(|h| policy.now_ms >= h) {
                continue;
            }
            tombstones = true;
        }
        kept.push(record);
    }
    let removed = header.records_count.max(0) as usize - kept.len();
    let stamp = tombstones && horizon.is_none();
    let tombstone_horizon =
        tombstones.then(|| horizon.unwrap_or(policy.now_ms.saturating_add(policy.delete_retention_ms)));
    if kept.is_empty() {
        return Ok(Verdict {
            filtered: Filtered::Drop,
            removed,
            tombstone_horizon: None,
        });
    }
    if removed == 0 && !stamp {
        return Ok(Verdict {
            filtered: Filtered::Keep,
            removed,
            tombstone_horizon,
        });
    }
    let mut template = *header;
    let mut records = Vec::with_capacity(area.len());
    if stamp {
        let new_base = tombstone_horizon.unwrap_or(header.base_timestamp);
        template.attributes |= DELETE_HORIZON_BIT;
        template.base_timestamp = new_base;
        for record in &kept {
            let absolute = header.base_timestamp + record.timestamp_delta;
            put_record(&mut records, record, absolute - new_base);
        }
    } else {
        for record in &kept {
            put_record(&mut records, record, record.timestamp_delta);
        }
    }
    if header.timestamp_type() == TimestampType::CreateTime {
        template.max_timestamp = kept
            .iter()
            .map(|r| header.base_timestamp + r.timestamp_delta)
            .max()
            .unwrap_or(header.max_timestamp);
    }
    let rebuilt =
        rebuild_batch(&template, codec, &records, kept.len() as i32).map_err(|source| LogError::Recompress {
            path: path.to_owned(),
            source,
        })?;
    Ok(Verdict {
        filtered: Filtered::Rewrite(rebuilt),
        removed,
        tombstone_horizon,
    })
}
