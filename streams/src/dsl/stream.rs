//! `KStream`: a stream of records, each an independent fact, and its stateless operators.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::grouped::KGroupedStream;
use super::table::KTable;
use super::{Data, Grouped, Produced, SharedSerde, StreamsBuilder};
use crate::error::StreamsError;
use crate::processor::{Fanout, FnProcessor, Output, Processor, Record, TaskContext};
use crate::topology::{ChildFactory, Instantiator, Node, NodeKind, NodeRef, TopicName, lock};

/// A stream of records with keys `K` and values `V`.
pub struct KStream<K, V> {
    pub(crate) builder: StreamsBuilder,
    pub(crate) node: NodeRef<K, V>,
    pub(crate) id: usize,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// A key-changing operator came before: grouping must repartition by the new key.
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            builder: self.builder.clone(),
            node: Arc::clone(&self.node),
            id: self.id,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K, V> fmt::Debug for KStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = lock(&self.builder.graph).nodes[self.id].name.clone();
        f.debug_struct("KStream").field("node", &name).finish()
    }
}

/// A predicate on a record's key and value.
type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;
/// The topic for a record ([`KStream::to_dynamic`]).
type TopicExtractor<K, V> = Arc<dyn Fn(&K, &V) -> String + Send + Sync>;

impl<K: Data, V: Data> KStream<K, V> {
    pub(crate) fn from_node(
        builder: StreamsBuilder,
        node: NodeRef<K, V>,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
    ) -> Self {
        let id = lock(&node).id;
        Self {
            builder,
            node,
            id,
            key_serde,
            value_serde,
            repartition_required: false,
        }
    }

    /// A stream on a node that nothing feeds, after a mistake `build` reports.
    pub(crate) fn detached(builder: &StreamsBuilder) -> Self {
        let id = {
            let mut graph = lock(&builder.graph);
            let name = graph.next_name("KSTREAM-DETACHED");
            graph.add_node(name, NodeKind::Processor(Vec::new()), &[])
        };
        let node = Arc::new(Mutex::new(Node {
            id,
            children: Vec::new(),
        }));
        KStream::from_node(builder.clone(), node, None, None)
    }

    /// The name of this stream's node.
    pub(crate) fn name(&self) -> String {
        lock(&self.builder.graph).nodes[self.id].name.clone()
    }

    /// Adds a processor node named `<prefix>-NNNNNNNNNN` after this one; `make` builds a task's
    /// processor for it around the fanout of the new node's children.
    pub(crate) fn add_child<K2: Data, V2: Data>(
        &self,
        prefix: &str,
        make: impl Fn(Fanout<K2, V2>) -> Box<dyn Processor<K, V>> + Send + Sync + 'static,
    ) -> (NodeRef<K2, V2>, usize) {
        self.add_child_with(prefix, move |_, next| Ok(make(next)))
    }

    /// Like [`KStream::add_child`], for a processor that needs its task's instantiator (stores).
    pub(crate) fn add_child_with<K2: Data, V2: Data>(
        &self,
        prefix: &str,
        make: impl Fn(&mut Instantiator<'_>, Fanout<K2, V2>) -> Result<Box<dyn Processor<K, V>>, StreamsError>
        + Send
        + Sync
        + 'static,
    ) -> (NodeRef<K2, V2>, usize) {
        let id = {
            let mut graph = lock(&self.builder.graph);
            let name = graph.next_name(prefix);
            graph.add_node(name, NodeKind::Processor(Vec::new()), &[self.id])
        };
        let child: NodeRef<K2, V2> = Arc::new(Mutex::new(Node {
            id,
            children: Vec::new(),
        }));
        let factory: ChildFactory<K, V> = {
            let child = Arc::clone(&child);
            Arc::new(move |inst: &mut Instantiator<'_>| {
                let next = inst.fanout(&child)?;
                make(inst, next)
            })
        };
        lock(&self.node).children.push(factory);
        (child, id)
    }

    /// A new stream on `node`, keeping this one's serdes where the types stay.
    pub(crate) fn derived<K2: Data, V2: Data>(
        &self,
        node: NodeRef<K2, V2>,
        key_serde: Option<SharedSerde<K2>>,
        value_serde: Option<SharedSerde<V2>>,
        key_changed: bool,
    ) -> KStream<K2, V2> {
        let mut stream = KStream::from_node(self.builder.clone(), node, key_serde, value_serde);
        stream.repartition_required = self.repartition_required || key_changed;
        stream
    }

    /// Adds a terminal node (a sink, or `foreach`).
    pub(crate) fn add_terminal(
        &self,
        prefix: &str,
        kind: impl FnOnce(String) -> NodeKind,
        make: impl Fn() -> Box<dyn Processor<K, V>> + Send + Sync + 'static,
    ) -> String {
        let name = {
            let mut graph = lock(&self.builder.graph);
            let name = graph.next_name(prefix);
            graph.add_node(name.clone(), kind(name.clone()), &[self.id]);
            name
        };
        let factory: ChildFactory<K, V> = Arc::new(move |_inst: &mut Instantiator<'_>| Ok(make()));
        lock(&self.node).children.push(factory);
        name
    }

    /// Records for which `predicate` holds.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        let predicate = Arc::new(predicate);
        let (node, _) = self.add_child("KSTREAM-FILTER", move |mut next: Fanout<K, V>| {
            let predicate = Arc::clone(&predicate);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                if predicate(&r.key, &r.value) {
                    next.forward(ctx, r)
                } else {
                    Ok(())
                }
            }))
        });
        self.derived(node, self.key_serde.clone(), self.value_serde.clone(), false)
    }

    /// Records for which `predicate` does not hold.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Each record mapped to a new key and value (grouping afterwards repartitions).
    pub fn map<K2: Data, V2: Data>(
        &self,
        mapper: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let mapper = Arc::new(mapper);
        let (node, _) = self.add_child("KSTREAM-MAP", move |mut next: Fanout<K2, V2>| {
            let mapper = Arc::clone(&mapper);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                let (key, value) = mapper(r.key, r.value);
                next.forward(
                    ctx,
                    Record {
                        key,
                        value,
                        timestamp: r.timestamp,
                        headers: r.headers,
                    },
                )
            }))
        });
        self.derived(node, None, None, true)
    }

    /// Each record's value mapped; the key stays (no repartition).
    pub fn map_values<V2: Data>(&self, mapper: impl Fn(V) -> V2 + Send + Sync + 'static) -> KStream<K, V2> {
        self.map_values_with_key(move |_, v| mapper(v))
    }

    /// Each record's value mapped, seeing the key.
    pub fn map_values_with_key<V2: Data>(
        &self,
        mapper: impl Fn(&K, V) -> V2 + Send + Sync + 'static,
    ) -> KStream<K, V2> {
        let mapper = Arc::new(mapper);
        let (node, _) = self.add_child("KSTREAM-MAPVALUES", move |mut next: Fanout<K, V2>| {
            let mapper = Arc::clone(&mapper);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                let value = mapper(&r.key, r.value);
                next.forward(
                    ctx,
                    Record {
                        key: r.key,
                        value,
                        timestamp: r.timestamp,
                        headers: r.headers,
                    },
                )
            }))
        });
        self.derived(node, self.key_serde.clone(), None, false)
    }

    /// Each record mapped to zero or more records.
    pub fn flat_map<K2: Data, V2: Data, I>(&self, mapper: impl Fn(K, V) -> I + Send + Sync + 'static) -> KStream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)>,
    {
        let mapper = Arc::new(mapper);
        let (node, _) = self.add_child("KSTREAM-FLATMAP", move |mut next: Fanout<K2, V2>| {
            let mapper = Arc::clone(&mapper);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                let (timestamp, headers) = (r.timestamp, r.headers);
                for (key, value) in mapper(r.key, r.value) {
                    next.forward(
                        ctx,
                        Record {
                            key,
                            value,
                            timestamp,
                            headers: headers.clone(),
                        },
                    )?;
                }
                Ok(())
            }))
        });
        self.derived(node, None, None, true)
    }

    /// Each record's value mapped to zero or more values under the same key.
    pub fn flat_map_values<V2: Data, I>(&self, mapper: impl Fn(V) -> I + Send + Sync + 'static) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2>,
    {
        let mapper = Arc::new(mapper);
        let (node, _) = self.add_child("KSTREAM-FLATMAPVALUES", move |mut next: Fanout<K, V2>| {
            let mapper = Arc::clone(&mapper);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                for value in mapper(r.value.clone()) {
                    next.forward(ctx, r.with(r.key.clone(), value))?;
                }
                Ok(())
            }))
        });
        self.derived(node, self.key_serde.clone(), None, false)
    }

    /// Each record under a new key computed from it (grouping afterwards repartitions).
    pub fn select_key<K2: Data>(&self, selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static) -> KStream<K2, V> {
        let selector = Arc::new(selector);
        let (node, _) = self.add_child("KSTREAM-KEY-SELECT", move |mut next: Fanout<K2, V>| {
            let selector = Arc::clone(&selector);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                let key = selector(&r.key, &r.value);
                next.forward(
                    ctx,
                    Record {
                        key,
                        value: r.value,
                        timestamp: r.timestamp,
                        headers: r.headers,
                    },
                )
            }))
        });
        self.derived(node, None, self.value_serde.clone(), true)
    }

    /// Calls `action` for each record and passes it on unchanged.
    pub fn peek(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        let action = Arc::new(action);
        let (node, _) = self.add_child("KSTREAM-PEEK", move |mut next: Fanout<K, V>| {
            let action = Arc::clone(&action);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                action(&r.key, &r.value);
                next.forward(ctx, r)
            }))
        });
        self.derived(node, self.key_serde.clone(), self.value_serde.clone(), false)
    }

    /// Calls `action` for each record (a terminal operator).
    pub fn foreach(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) {
        let action = Arc::new(action);
        self.add_terminal(
            "KSTREAM-FOREACH",
            |_| NodeKind::Processor(Vec::new()),
            move || {
                let action = Arc::clone(&action);
                Box::new(FnProcessor(move |_: &mut TaskContext, r: Record<K, V>| {
                    action(&r.key, &r.value);
                    Ok(())
                }))
            },
        );
    }

    /// The records of this stream and of `other`, interleaved as they arrive.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let (node, id) = self.add_child("KSTREAM-MERGE", |mut next: Fanout<K, V>| {
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                next.forward(ctx, r)
            }))
        });
        lock(&self.builder.graph).add_parent(id, other.id);
        let factory: ChildFactory<K, V> = {
            let node = Arc::clone(&node);
            Arc::new(move |inst: &mut Instantiator<'_>| {
                let mut next = inst.fanout(&node)?;
                Ok(Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                    next.forward(ctx, r)
                })) as Box<dyn Processor<K, V>>)
            })
        };
        lock(&other.node).children.push(factory);
        let mut merged = self.derived(
            node,
            self.key_serde.clone().or_else(|| other.key_serde.clone()),
            self.value_serde.clone().or_else(|| other.value_serde.clone()),
            false,
        );
        merged.repartition_required |= other.repartition_required;
        merged
    }

    /// Splits the stream into named branches: each record goes to the first branch whose
    /// predicate holds (or to the default branch, if any). Branch names are prefixed with
    /// `prefix`.
    pub fn split(&self, prefix: &str) -> BranchedKStream<K, V> {
        BranchedKStream {
            stream: self.clone(),
            prefix: prefix.to_owned(),
            branches: Vec::new(),
            default: None,
        }
    }

    /// Writes every record to `topic`.
    pub fn to(&self, topic: &str, produced: Produced<K, V>) {
        self.sink(
            TopicName::User(topic.to_owned()),
            produced.key_serde,
            produced.value_serde,
        );
    }

    /// Writes each record to the topic `extractor` names for it.
    pub fn to_dynamic(&self, extractor: impl Fn(&K, &V) -> String + Send + Sync + 'static, produced: Produced<K, V>) {
        let extractor: TopicExtractor<K, V> = Arc::new(extractor);
        let (ks, vs) = (produced.key_serde, produced.value_serde);
        let name = Arc::new(Mutex::new(String::new()));
        let node_name = Arc::clone(&name);
        let sink_name = self.add_terminal(
            "KSTREAM-SINK",
            |_| NodeKind::Sink(None),
            move || {
                Box::new(SinkProcessor {
                    node: lock(&node_name).clone(),
                    topic: SinkTopic::Dynamic(Arc::clone(&extractor)),
                    key_serde: Arc::clone(&ks),
                    value_serde: Arc::clone(&vs),
                })
            },
        );
        *lock(&name) = sink_name;
    }

    pub(crate) fn sink(&self, topic: TopicName, ks: SharedSerde<K>, vs: SharedSerde<V>) -> String {
        let name = Arc::new(Mutex::new(String::new()));
        let node_name = Arc::clone(&name);
        let target = topic.clone();
        let sink_name = self.add_terminal(
            "KSTREAM-SINK",
            |_| NodeKind::Sink(Some(topic)),
            move || {
                Box::new(SinkProcessor {
                    node: lock(&node_name).clone(),
                    topic: SinkTopic::Fixed(target.clone(), None),
                    key_serde: Arc::clone(&ks),
                    value_serde: Arc::clone(&vs),
                })
            },
        );
        *lock(&name) = sink_name.clone();
        sink_name
    }

    /// The stream written to and read back from the internal topic
    /// `<application.id>-<name>-repartition` (a generated name without `name`), so that records
    /// are partitioned by their current key; needs key and value serdes (from the stream, or
    /// given).
    pub fn repartition(
        &self,
        name: Option<&str>,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
    ) -> KStream<K, V> {
        let (Some(ks), Some(vs)) = (
            key_serde.or_else(|| self.key_serde.clone()),
            value_serde.or_else(|| self.value_serde.clone()),
        ) else {
            self.error(format!("repartitioning {} needs key and value serdes", self.name()));
            return KStream::detached(&self.builder);
        };
        let name = match name {
            Some(name) => name.to_owned(),
            None => lock(&self.builder.graph).next_name("KSTREAM-REPARTITION"),
        };
        let topic = TopicName::Internal(format!("{name}-repartition"));
        self.sink(topic.clone(), Arc::clone(&ks), Arc::clone(&vs));
        self.builder.source(topic, ks, vs, None)
    }

    /// Groups records by their key (repartitioning first if an operator changed the key).
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), grouped)
    }

    /// Groups records by a new key computed from each; the stream is repartitioned by it.
    pub fn group_by<K2: Data>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V> {
        KGroupedStream::new(self.select_key(selector), grouped)
    }

    /// Each record joined with the table's current value for its key; records whose key the
    /// table lacks are dropped (the table side never triggers output).
    pub fn join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.table_join(table, "KSTREAM-JOIN", move |v, tv| tv.map(|tv| joiner(v, tv)))
    }

    /// Each record joined with the table's current value for its key, `None` if it has none.
    pub fn left_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.table_join(table, "KSTREAM-LEFTJOIN", move |v, tv| Some(joiner(v, tv)))
    }

    fn table_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        prefix: &str,
        joiner: impl Fn(&V, Option<&VT>) -> Option<VR> + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let (Some(store), Some(ks), Some(vts)) = (
            table.store.clone(),
            self.key_serde.clone().or_else(|| table.stream.key_serde.clone()),
            table.value_serde.clone(),
        ) else {
            self.error(format!(
                "joining {} with a table needs a materialized table and key serdes",
                self.name()
            ));
            return KStream::detached(&self.builder);
        };
        if self.repartition_required {
            self.error(format!(
                "joining {} with a table after a key change needs a repartition first (not supported yet)",
                self.name()
            ));
        }
        let joiner = Arc::new(joiner);
        let store_name = store.clone();
        let (node, id) = self.add_child_with(prefix, move |inst, mut next: Fanout<K, VR>| {
            let store = inst.kv_store(&store_name)?;
            let (ks, vts, joiner, name) = (
                Arc::clone(&ks),
                Arc::clone(&vts),
                Arc::clone(&joiner),
                store_name.clone(),
            );
            Ok(Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                let Some(key) = crate::dsl::grouped::store_key(ctx, &ks, &r.key, &name)? else {
                    return Ok(());
                };
                let found = crate::dsl::grouped::stored_value(&lock(&store), &key, &vts, &name)?;
                match joiner(&r.value, found.as_ref()) {
                    Some(value) => next.forward(ctx, r.with(r.key.clone(), value)),
                    None => Ok(()),
                }
            })) as Box<dyn Processor<K, V>>)
        });
        lock(&self.builder.graph).connect_store(id, &store);
        self.derived(node, self.key_serde.clone(), None, false)
    }

    /// Records an error that `StreamsBuilder::build` reports.
    pub(crate) fn error(&self, message: String) {
        lock(&self.builder.graph).errors.push(message);
    }
}

/// Where a sink writes.
enum SinkTopic<K, V> {
    /// A topic, and its name once resolved in a task.
    Fixed(TopicName, Option<Arc<str>>),
    Dynamic(TopicExtractor<K, V>),
}

/// Serializes records into the task's output.
struct SinkProcessor<K, V> {
    node: String,
    topic: SinkTopic<K, V>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K: Data, V: Data> Processor<K, V> for SinkProcessor<K, V> {
    fn process(&mut self, ctx: &mut TaskContext, r: Record<K, V>) -> Result<(), StreamsError> {
        let topic: Arc<str> = match &mut self.topic {
            SinkTopic::Fixed(t, resolved) => {
                Arc::clone(resolved.get_or_insert_with(|| t.resolve(&ctx.application_id).into()))
            }
            SinkTopic::Dynamic(f) => f(&r.key, &r.value).into(),
        };
        write(ctx, topic, &self.node, &*self.key_serde, &*self.value_serde, r)
    }
}

/// Writes `r` to `topic` (for sink node `node`).
pub(crate) fn write<K: 'static, V: 'static>(
    ctx: &mut TaskContext,
    topic: Arc<str>,
    node: &str,
    key_serde: &dyn crate::serde::Serde<K>,
    value_serde: &dyn crate::serde::Serde<V>,
    r: Record<K, V>,
) -> Result<(), StreamsError> {
    let failed = |source| StreamsError::Serialize {
        target: topic.to_string(),
        node: node.to_owned(),
        source,
    };
    let key = key_serde.serialize_owned(r.key).map_err(failed)?;
    let value = value_serde.serialize_owned(r.value).map_err(failed)?;
    ctx.output.push(Output {
        topic,
        partition: None,
        key,
        value,
        timestamp: r.timestamp,
        headers: r.headers,
    });
    Ok(())
}

/// A stream being split into branches ([`KStream::split`]).
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    prefix: String,
    branches: Vec<(String, Predicate<K, V>)>,
    default: Option<String>,
}

impl<K, V> fmt::Debug for BranchedKStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.branches.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("BranchedKStream")
            .field("prefix", &self.prefix)
            .field("branches", &names)
            .field("default", &self.default)
            .finish()
    }
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    /// A branch of the records for which `predicate` holds (and no earlier branch's did).
    pub fn branch(mut self, name: &str, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.branches.push((name.to_owned(), Arc::new(predicate)));
        self
    }

    /// A branch of the records no other branch took.
    pub fn default_branch(mut self, name: &str) -> Self {
        self.default = Some(name.to_owned());
        self
    }

    /// The branches, by their full names (`<prefix><name>`).
    pub fn branches(self) -> BTreeMap<String, KStream<K, V>> {
        let parent = &self.stream;
        let split_id = {
            let mut graph = lock(&parent.builder.graph);
            let name = graph.next_name("KSTREAM-BRANCH");
            graph.add_node(name, NodeKind::Processor(Vec::new()), &[parent.id])
        };
        let mut names: Vec<String> = self.branches.iter().map(|(n, _)| n.clone()).collect();
        names.extend(self.default.clone());
        let mut nodes: Vec<NodeRef<K, V>> = Vec::new();
        let mut out = BTreeMap::new();
        for name in &names {
            let full = format!("{}{name}", self.prefix);
            let id = lock(&parent.builder.graph).add_node(full.clone(), NodeKind::Processor(Vec::new()), &[split_id]);
            let node: NodeRef<K, V> = Arc::new(Mutex::new(Node {
                id,
                children: Vec::new(),
            }));
            let mut stream = KStream::from_node(
                parent.builder.clone(),
                Arc::clone(&node),
                parent.key_serde.clone(),
                parent.value_serde.clone(),
            );
            stream.repartition_required = parent.repartition_required;
            if out.insert(full.clone(), stream).is_some() {
                parent.error(format!("branch {full} is defined twice"));
            }
            nodes.push(node);
        }
        let predicates: Vec<Predicate<K, V>> = self.branches.iter().map(|(_, p)| Arc::clone(p)).collect();
        let has_default = self.default.is_some();
        let factory: ChildFactory<K, V> = Arc::new(move |inst: &mut Instantiator<'_>| {
            let mut fanouts = Vec::with_capacity(nodes.len());
            for node in &nodes {
                fanouts.push(inst.fanout(node)?);
            }
            let predicates = predicates.clone();
            Ok(Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                let chosen = predicates
                    .iter()
                    .position(|p| p(&r.key, &r.value))
                    .or(has_default.then_some(predicates.len()));
                match chosen {
                    Some(i) => fanouts[i].forward(ctx, r),
                    None => Ok(()),
                }
            })) as Box<dyn Processor<K, V>>)
        });
        lock(&parent.node).children.push(factory);
        out
    }
}
