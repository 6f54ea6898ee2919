//! Stream–stream joins: records of two co-partitioned streams with the same key whose timestamps
//! are at most a time difference apart, inner, left or outer, as in Kafka Streams 3.1 and later.
//!
//! Each side keeps its records in a window store (`<node>-store`, logged) for the join window
//! plus grace. A record joins every record of the other side in `[ts - diff, ts + diff]`, and
//! the result has the later of the two timestamps. For left and outer joins, a record that has
//! found no partner is held in a shared store and emitted with `None` for the other side only
//! when its window closes (stream time passes `ts + diff + grace`), so that a partner arriving
//! late but in time replaces the `None` result instead of following it.

use super::sliding::Expiry;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use super::grouped::{store_key, to_store_bytes};
use super::stream::KStream;
use super::{Data, SharedSerde};
use crate::error::StreamsError;
use crate::processor::{Fanout, FnProcessor, Processor, Record, TaskContext};
use crate::serde::Serde;
use crate::state::KvStore;
use crate::topology::{ChildFactory, Instantiator, Node, NodeKind, StoreSpec, lock};

/// How far apart in time two records may be to join, and how long after that late records are
/// still accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    difference: i64,
    grace: i64,
}

impl JoinWindows {
    /// Records at most `difference_ms` apart join; later records are dropped.
    pub fn of_time_difference_with_no_grace(difference_ms: i64) -> Self {
        Self::of_time_difference_and_grace(difference_ms, 0)
    }

    /// Records at most `difference_ms` apart join; records are accepted until stream time
    /// passes their window by `grace_ms`.
    pub fn of_time_difference_and_grace(difference_ms: i64, grace_ms: i64) -> Self {
        Self {
            difference: difference_ms,
            grace: grace_ms,
        }
    }
}

/// The serdes a stream–stream join stores its sides with.
pub struct StreamJoined<K, V1, V2> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) this_serde: Option<SharedSerde<V1>>,
    pub(crate) other_serde: Option<SharedSerde<V2>>,
}

impl<K, V1, V2> Default for StreamJoined<K, V1, V2> {
    fn default() -> Self {
        Self {
            key_serde: None,
            this_serde: None,
            other_serde: None,
        }
    }
}

impl<K, V1, V2> StreamJoined<K, V1, V2> {
    /// Stores with these serdes (otherwise the streams' own are used).
    pub fn with(key: impl Serde<K>, this: impl Serde<V1>, other: impl Serde<V2>) -> Self {
        Self {
            key_serde: Some(Arc::new(key)),
            this_serde: Some(Arc::new(this)),
            other_serde: Some(Arc::new(other)),
        }
    }
}

impl<K, V1, V2> fmt::Debug for StreamJoined<K, V1, V2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamJoined")
    }
}

/// Which unmatched records are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inner,
    Left,
    Outer,
}

type Joiner<V1, V2, VR> = Arc<dyn Fn(Option<&V1>, Option<&V2>) -> VR + Send + Sync>;

impl<K: Data, V1: Data> KStream<K, V1> {
    /// Pairs of records with the same key at most the window's time difference apart.
    pub fn join_windowed<V2: Data, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V1, &V2) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V1, V2>,
    ) -> KStream<K, VR> {
        let joiner = move |a: Option<&V1>, b: Option<&V2>| match (a, b) {
            (Some(a), Some(b)) => joiner(a, b),
            _ => unreachable!("an inner join emits pairs only"),
        };
        self.stream_join(other, Kind::Inner, Arc::new(joiner), windows, joined)
    }

    /// As [`KStream::join_windowed`], and every record of this stream that found no partner by
    /// the time its window closed, with `None`.
    pub fn left_join_windowed<V2: Data, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V1, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V1, V2>,
    ) -> KStream<K, VR> {
        let joiner = move |a: Option<&V1>, b: Option<&V2>| match a {
            Some(a) => joiner(a, b),
            None => unreachable!("a left join never emits a lone right record"),
        };
        self.stream_join(other, Kind::Left, Arc::new(joiner), windows, joined)
    }

    /// As [`KStream::left_join_windowed`], for records of both streams.
    pub fn outer_join_windowed<V2: Data, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(Option<&V1>, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V1, V2>,
    ) -> KStream<K, VR> {
        self.stream_join(other, Kind::Outer, Arc::new(joiner), windows, joined)
    }

    fn stream_join<V2: Data, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        kind: Kind,
        joiner: Joiner<V1, V2, VR>,
        windows: JoinWindows,
        joined: StreamJoined<K, V1, V2>,
    ) -> KStream<K, VR> {
        let ks = joined
            .key_serde
            .or_else(|| self.key_serde.clone())
            .or_else(|| other.key_serde.clone());
        let (Some(ks), Some(v1s), Some(v2s)) = (
            ks,
            joined.this_serde.or_else(|| self.value_serde.clone()),
            joined.other_serde.or_else(|| other.value_serde.clone()),
        ) else {
            self.error(format!(
                "joining {} with {} needs key and value serdes: give them in StreamJoined::with",
                self.name(),
                other.name()
            ));
            return KStream::detached(&self.builder);
        };
        if self.repartition_required || other.repartition_required {
            self.error(format!(
                "joining {} with {} after a key change needs a repartition first (not supported yet)",
                self.name(),
                other.name()
            ));
        }
        if windows.difference < 0 || windows.grace < 0 {
            self.error(format!("join windows must not be negative: {windows:?}"));
        }
        // Nodes: this side, the other side, and the merge of their results.
        let (merge_id, names) = {
            let mut graph = lock(&self.builder.graph);
            let this_name = graph.next_name("KSTREAM-JOINTHIS");
            let other_name = graph.next_name(match kind {
                Kind::Outer => "KSTREAM-OUTEROTHER",
                _ => "KSTREAM-JOINOTHER",
            });
            let merge_name = graph.next_name("KSTREAM-MERGE");
            let this_id = graph.add_node(this_name.clone(), NodeKind::Processor(Vec::new()), &[self.id]);
            let other_id = graph.add_node(other_name.clone(), NodeKind::Processor(Vec::new()), &[other.id]);
            let merge_id = graph.add_node(merge_name, NodeKind::Processor(Vec::new()), &[this_id, other_id]);
            let stores = [
                format!("{this_name}-store"),
                format!("{other_name}-store"),
                format!("{this_name}-outer-store"),
            ];
            let retention = Some(windows.difference * 2 + windows.grace);
            graph.add_store(
                this_id,
                StoreSpec {
                    name: stores[0].clone(),
                    logged: true,
                    retention_ms: retention,
                },
            );
            graph.add_store(
                other_id,
                StoreSpec {
                    name: stores[1].clone(),
                    logged: true,
                    retention_ms: retention,
                },
            );
            graph.connect_store(this_id, &stores[1]);
            graph.connect_store(other_id, &stores[0]);
            if kind != Kind::Inner {
                graph.add_store(
                    this_id,
                    StoreSpec {
                        name: stores[2].clone(),
                        logged: true,
                        retention_ms: retention,
                    },
                );
                graph.connect_store(other_id, &stores[2]);
            }
            (merge_id, stores)
        };
        let merged: crate::topology::NodeRef<K, VR> = Arc::new(Mutex::new(Node {
            id: merge_id,
            children: Vec::new(),
        }));
        let shared = Arc::new(JoinSpec {
            kind,
            windows,
            key_serde: ks,
            this_serde: v1s,
            other_serde: v2s,
            joiner,
            stores: names,
        });
        let this_factory = side_factory(&merged, &shared, true, Either::This);
        let other_factory = side_factory(&merged, &shared, false, Either::Other);
        lock(&self.node).children.push(this_factory);
        lock(&other.node).children.push(other_factory);
        KStream::from_node(self.builder.clone(), merged, self.key_serde.clone(), None)
    }
}

/// Makes a task's processor for one side of the join; `wrap` tags its values.
fn side_factory<K: Data, V1: Data, V2: Data, VR: Data, V: Data>(
    merged: &crate::topology::NodeRef<K, VR>,
    spec: &Arc<JoinSpec<K, V1, V2, VR>>,
    is_this: bool,
    wrap: fn(V) -> Either<V1, V2>,
) -> ChildFactory<K, V> {
    let (merged, spec) = (Arc::clone(merged), Arc::clone(spec));
    Arc::new(move |inst: &mut Instantiator<'_>| {
        let side = JoinSide::new(inst, &spec, is_this)?;
        let mut next = inst.fanout(&merged)?;
        let spec = Arc::clone(&spec);
        Ok(Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
            side.process(ctx, &spec, r.key.clone(), wrap(r.value.clone()), &r, &mut next)
        })) as Box<dyn Processor<K, V>>)
    })
}

struct JoinSpec<K, V1, V2, VR> {
    kind: Kind,
    windows: JoinWindows,
    key_serde: SharedSerde<K>,
    this_serde: SharedSerde<V1>,
    other_serde: SharedSerde<V2>,
    joiner: Joiner<V1, V2, VR>,
    /// This side's store, the other side's, and the store of records without a partner yet.
    stores: [String; 3],
}

enum Either<V1, V2> {
    This(V1),
    Other(V2),
}

/// One side's view of the join's stores in a task.
struct JoinSide {
    is_this: bool,
    own: Arc<Mutex<KvStore>>,
    partner: Arc<Mutex<KvStore>>,
    outer: Option<Arc<Mutex<KvStore>>>,
    /// This side's records by time, to drop those that can no longer join.
    expiry: Mutex<Expiry>,
}

/// Sequence numbers so that records with the same key and timestamp are all kept.
static SEQUENCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl JoinSide {
    fn new<K, V1, V2, VR>(
        inst: &mut Instantiator<'_>,
        spec: &JoinSpec<K, V1, V2, VR>,
        is_this: bool,
    ) -> Result<Self, StreamsError> {
        let (own, partner) = if is_this { (0, 1) } else { (1, 0) };
        Ok(Self {
            is_this,
            own: inst.kv_store(&spec.stores[own])?,
            partner: inst.kv_store(&spec.stores[partner])?,
            outer: match spec.kind {
                Kind::Inner => None,
                _ => Some(inst.kv_store(&spec.stores[2])?),
            },
            expiry: Mutex::new(Expiry::default()),
        })
    }

    fn process<K: Data, V1: Data, V2: Data, VR: Data, V>(
        &self,
        ctx: &mut TaskContext,
        spec: &JoinSpec<K, V1, V2, VR>,
        key: K,
        value: Either<V1, V2>,
        r: &Record<K, V>,
        next: &mut Fanout<K, VR>,
    ) -> Result<(), StreamsError> {
        let store_name = &spec.stores[if self.is_this { 0 } else { 1 }];
        let Some(key_bytes) = store_key(ctx, &spec.key_serde, &key, store_name)? else {
            return Ok(());
        };
        let (diff, grace) = (spec.windows.difference, spec.windows.grace);
        let ts = r.timestamp;
        if ts + diff + grace < ctx.stream_time {
            ctx.dropped_late_records += 1;
            return Ok(());
        }
        let value_bytes = match &value {
            Either::This(v) => to_store_bytes(&spec.this_serde, v, store_name)?,
            Either::Other(v) => to_store_bytes(&spec.other_serde, v, store_name)?,
        }
        .unwrap_or_default();
        let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let own_key = window_entry_key(&key_bytes, ts, seq);
        lock(&self.own).put(ctx, own_key.clone(), Some(value_bytes.clone()), ts);
        {
            let mut expiry = lock(&self.expiry);
            expiry.index_restored(&self.own, |k| (k.len() >= 12).then(|| entry_time(k)))?;
            expiry.track(ts, own_key.clone());
        }
        // Partners in [ts - diff, ts + diff].
        let partners: Vec<(Bytes, i64, Bytes)> = {
            let partner = lock(&self.partner);
            partner
                .range(
                    &window_entry_key(&key_bytes, ts - diff, 0),
                    &window_entry_key(&key_bytes, ts + diff, u32::MAX),
                )?
                .into_iter()
                .filter(|(k, _)| k.len() == key_bytes.len() + 12 && k.starts_with(&key_bytes))
                .map(|(k, v)| {
                    let time = entry_time(&k);
                    (k, time, v)
                })
                .collect()
        };
        if partners.is_empty() {
            let held = match spec.kind {
                Kind::Inner => false,
                Kind::Left => self.is_this,
                Kind::Outer => true,
            };
            if held {
                let outer = self.outer.as_ref().expect("left and outer joins have the store");
                let mut held_key = BytesMut::with_capacity(own_key.len() + 9);
                put_time(&mut held_key, ts);
                held_key.put_u8(u8::from(!self.is_this));
                held_key.put_slice(&own_key);
                lock(outer).put(ctx, held_key.freeze(), Some(value_bytes), ts);
            }
        }
        for (partner_key, partner_ts, partner_value) in partners {
            // The partner found its match: it no longer waits for a `None` result.
            if let Some(outer) = &self.outer {
                let mut held_key = BytesMut::with_capacity(partner_key.len() + 9);
                put_time(&mut held_key, partner_ts);
                held_key.put_u8(u8::from(self.is_this));
                held_key.put_slice(&partner_key);
                let held_key = held_key.freeze();
                let mut outer = lock(outer);
                if outer.get(&held_key)?.is_some() {
                    outer.put(ctx, held_key, None, ts);
                }
            }
            let joined = match &value {
                Either::This(v) => {
                    let other = decode(&spec.other_serde, &partner_value, store_name)?;
                    (spec.joiner)(Some(v), Some(&other))
                }
                Either::Other(v) => {
                    let this = decode(&spec.this_serde, &partner_value, store_name)?;
                    (spec.joiner)(Some(&this), Some(v))
                }
            };
            next.forward(
                ctx,
                Record {
                    key: key.clone(),
                    value: joined,
                    timestamp: ts.max(partner_ts),
                    headers: r.headers.clone(),
                },
            )?;
        }
        self.emit_closed(ctx, spec, next)?;
        // This side's records that can no longer join (older than the window and grace) go.
        lock(&self.expiry).expire_before(&self.own, ctx.stream_time - 2 * diff - grace);
        Ok(())
    }

    /// Emits, with `None` for the missing side, the held records whose window has closed.
    fn emit_closed<K: Data, V1: Data, V2: Data, VR: Data>(
        &self,
        ctx: &mut TaskContext,
        spec: &JoinSpec<K, V1, V2, VR>,
        next: &mut Fanout<K, VR>,
    ) -> Result<(), StreamsError> {
        let Some(outer) = &self.outer else {
            return Ok(());
        };
        let (diff, grace) = (spec.windows.difference, spec.windows.grace);
        let closed_before = ctx.stream_time - diff - grace;
        let closed: Vec<(Bytes, Bytes)> = {
            let outer = lock(outer);
            let mut upto = BytesMut::new();
            put_time(&mut upto, closed_before - 1);
            upto.put_u8(u8::MAX);
            outer
                .range(&[0u8; 0], &upto)?
                .into_iter()
                .filter(|(k, _)| k.len() >= 9 + 12)
                .collect()
        };
        for (held_key, value) in closed {
            lock(outer).put(ctx, held_key.clone(), None, ctx.stream_time);
            let ts = get_time(&held_key[..8]);
            let from_this = held_key[8] == 0;
            let entry = &held_key[9..];
            let key = spec
                .key_serde
                .deserialize(Some(&entry[..entry.len() - 12]))
                .map_err(|e| store_error(&spec.stores[2], e))?;
            let result = if from_this {
                let v = decode(&spec.this_serde, &value, &spec.stores[2])?;
                (spec.joiner)(Some(&v), None)
            } else {
                let v = decode(&spec.other_serde, &value, &spec.stores[2])?;
                (spec.joiner)(None, Some(&v))
            };
            next.forward(ctx, Record::new(key, result, ts))?;
        }
        Ok(())
    }
}

/// A join store's key: the record key's bytes, its timestamp and a sequence number.
fn window_entry_key(key: &[u8], ts: i64, seq: u32) -> Bytes {
    let mut out = BytesMut::with_capacity(key.len() + 12);
    out.put_slice(key);
    put_time(&mut out, ts);
    out.put_u32(seq);
    out.freeze()
}

fn entry_time(entry: &[u8]) -> i64 {
    let at = entry.len() - 12;
    get_time(&entry[at..at + 8])
}

/// A timestamp as 8 bytes that sort like the numbers (the sign bit flipped), so that ranges
/// starting before the epoch work.
fn put_time(out: &mut BytesMut, ts: i64) {
    out.put_u64((ts as u64) ^ (1 << 63));
}

fn get_time(bytes: &[u8]) -> i64 {
    (u64::from_be_bytes(bytes.try_into().unwrap_or_default()) ^ (1 << 63)) as i64
}

fn decode<T: 'static>(serde: &SharedSerde<T>, bytes: &Bytes, store: &str) -> Result<T, StreamsError> {
    serde.deserialize(Some(bytes)).map_err(|e| store_error(store, e))
}

fn store_error(store: &str, e: crate::serde::SerdeError) -> StreamsError {
    StreamsError::Store {
        store: store.to_owned(),
        reason: e.to_string(),
    }
}
