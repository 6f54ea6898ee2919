//! Global tables: every partition of a topic in every instance (no co-partitioning), joined by a
//! key computed from each stream record.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::grouped::{store_key, stored_value};
use super::stream::KStream;
use super::{Consumed, Data, Materialized, SharedSerde, StreamsBuilder};
use crate::processor::{Fanout, FnProcessor, Processor, Record, TaskContext};
use crate::topology::lock;

/// A table of a whole topic, in every instance ([`StreamsBuilder::global_table`]).
pub struct GlobalKTable<K, V> {
    store: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> fmt::Debug for GlobalKTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalKTable").field("store", &self.store).finish()
    }
}

impl<K, V> GlobalKTable<K, V> {
    /// The name of its store.
    pub fn store_name(&self) -> &str {
        &self.store
    }
}

impl StreamsBuilder {
    /// A global table of `topic`: every instance reads all its partitions into the store named
    /// by `materialized` before it processes anything, and keeps it up to date. The store holds
    /// the records' bytes (a null value deletes), so it needs no changelog.
    pub fn global_table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        let mut graph = lock(&self.graph);
        let source = graph.next_name("KSTREAM-SOURCE");
        let processor = graph.next_name("KTABLE-SOURCE");
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| graph.next_name(&format!("{topic}-STATE-STORE")));
        if graph.globals.iter().any(|(t, s, _, _)| t == topic || *s == store) {
            graph
                .errors
                .push(format!("global table {topic} (store {store}) is defined twice"));
        }
        graph.globals.push((topic.to_owned(), store.clone(), source, processor));
        GlobalKTable {
            store,
            key_serde: consumed.key_serde,
            value_serde: consumed.value_serde,
            _types: PhantomData,
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Each record joined with the global table's row for `key_selector(key, value)`; records
    /// whose row is missing are dropped.
    pub fn join_global<GK: Data, GV: Data, VR: Data>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_selector: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, &GV) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.global_join(table, "KSTREAM-JOIN-GLOBAL", key_selector, move |v, g| {
            g.map(|g| joiner(v, g))
        })
    }

    /// Each record joined with the global table's row for `key_selector(key, value)`, `None`
    /// where there is none.
    pub fn left_join_global<GK: Data, GV: Data, VR: Data>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_selector: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&GV>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.global_join(table, "KSTREAM-LEFTJOIN-GLOBAL", key_selector, move |v, g| {
            Some(joiner(v, g))
        })
    }

    fn global_join<GK: Data, GV: Data, VR: Data>(
        &self,
        table: &GlobalKTable<GK, GV>,
        prefix: &str,
        key_selector: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&GV>) -> Option<VR> + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let (store_name, gks, gvs) = (
            table.store.clone(),
            Arc::clone(&table.key_serde),
            Arc::clone(&table.value_serde),
        );
        let (key_selector, joiner) = (Arc::new(key_selector), Arc::new(joiner));
        let (node, _) = self.add_child_with(prefix, move |inst, mut next: Fanout<K, VR>| {
            let store = inst.kv_store(&store_name)?;
            let (gks, gvs, key_selector, joiner, name) = (
                Arc::clone(&gks),
                Arc::clone(&gvs),
                Arc::clone(&key_selector),
                Arc::clone(&joiner),
                store_name.clone(),
            );
            Ok(Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                let lookup = key_selector(&r.key, &r.value);
                let Some(key) = store_key(ctx, &gks, &lookup, &name)? else {
                    return Ok(());
                };
                let row = stored_value(&lock(&store), &key, &gvs, &name)?;
                match joiner(&r.value, row.as_ref()) {
                    Some(value) => next.forward(ctx, r.with(r.key.clone(), value)),
                    None => Ok(()),
                }
            })) as Box<dyn Processor<K, V>>)
        });
        let mut joined = KStream::from_node(self.builder.clone(), node, self.key_serde.clone(), None);
        joined.repartition_required = self.repartition_required;
        joined
    }
}
