//! Table–table joins: a table whose row for a key combines both tables' current rows, updated
//! when either side changes (inner, left or outer), as in Kafka Streams.

use std::sync::{Arc, Mutex};

use super::grouped::{store_key, stored_value};
use super::table::{Change, KTable};
use super::{Data, SharedSerde};
use crate::processor::{FnProcessor, Processor, Record, TaskContext};
use crate::topology::{ChildFactory, Instantiator, Node, NodeKind, NodeRef, lock};

/// Combines one side's value with the other's current one; `None`: no row.
type Combine<A, B, VR> = Arc<dyn Fn(Option<&A>, Option<&B>) -> Option<VR> + Send + Sync>;

impl<K: Data, V: Data> KTable<K, V> {
    /// Rows for the keys both tables have, `joiner(this, other)`.
    pub fn join<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.table_join(other, "KTABLE-JOIN", move |a, b| Some(joiner(a?, b?)))
    }

    /// Rows for the keys this table has, `joiner(this, other or None)`.
    pub fn left_join<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.table_join(other, "KTABLE-LEFTJOIN", move |a, b| Some(joiner(a?, b)))
    }

    /// Rows for the keys either table has.
    pub fn outer_join<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.table_join(other, "KTABLE-OUTERJOIN", move |a, b| {
            (a.is_some() || b.is_some()).then(|| joiner(a, b))
        })
    }

    fn table_join<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        prefix: &str,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> Option<VR> + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let builder = &self.stream.builder;
        let key_serde = self.stream.key_serde.clone().or_else(|| other.stream.key_serde.clone());
        let (Some(this_store), Some(other_store), Some(ks), Some(vs), Some(v2s)) = (
            self.store.clone(),
            other.store.clone(),
            key_serde,
            self.value_serde.clone(),
            other.value_serde.clone(),
        ) else {
            self.stream.error(format!(
                "joining table {} with table {} needs both materialized, with serdes",
                self.stream.name(),
                other.stream.name()
            ));
            return KTable::detached(builder);
        };
        let merge_id = {
            let mut graph = lock(&builder.graph);
            let this_name = graph.next_name(&format!("{prefix}THIS"));
            let other_name = graph.next_name(&format!("{prefix}OTHER"));
            let merge_name = graph.next_name("KTABLE-MERGE");
            let this_id = graph.add_node(this_name, NodeKind::Processor(Vec::new()), &[self.stream.id]);
            let other_id = graph.add_node(other_name, NodeKind::Processor(Vec::new()), &[other.stream.id]);
            let merge_id = graph.add_node(merge_name, NodeKind::Processor(Vec::new()), &[this_id, other_id]);
            graph.connect_store(this_id, &other_store);
            graph.connect_store(other_id, &this_store);
            merge_id
        };
        let merged: NodeRef<K, Change<VR>> = Arc::new(Mutex::new(Node {
            id: merge_id,
            children: Vec::new(),
        }));
        let joiner = Arc::new(joiner);
        let this_side: Combine<V, V2, VR> = {
            let joiner = Arc::clone(&joiner);
            Arc::new(move |a, b| joiner(a, b))
        };
        let other_side: Combine<V2, V, VR> = Arc::new(move |b, a| joiner(a, b));
        lock(&self.stream.node)
            .children
            .push(side(&merged, other_store, Arc::clone(&ks), v2s, this_side));
        lock(&other.stream.node)
            .children
            .push(side(&merged, this_store, Arc::clone(&ks), vs, other_side));
        KTable::new(builder.clone(), merged, Some(ks), None, None)
    }
}

/// One side's processor: combines each change with the other table's row for the key.
fn side<K: Data, A: Data, B: Data, VR: Data>(
    merged: &NodeRef<K, Change<VR>>,
    other_store: String,
    key_serde: SharedSerde<K>,
    other_serde: SharedSerde<B>,
    combine: Combine<A, B, VR>,
) -> ChildFactory<K, Change<A>> {
    let merged = Arc::clone(merged);
    Arc::new(move |inst: &mut Instantiator<'_>| {
        let store = inst.kv_store(&other_store)?;
        let mut next = inst.fanout(&merged)?;
        let (key_serde, other_serde, combine, name) = (
            Arc::clone(&key_serde),
            Arc::clone(&other_serde),
            Arc::clone(&combine),
            other_store.clone(),
        );
        Ok(
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, Change<A>>| {
                let Some(key) = store_key(ctx, &key_serde, &r.key, &name)? else {
                    return Ok(());
                };
                let partner = stored_value(&lock(&store), &key, &other_serde, &name)?;
                let change = Change {
                    new: combine(r.value.new.as_ref(), partner.as_ref()),
                    old: combine(r.value.old.as_ref(), partner.as_ref()),
                };
                if change.new.is_none() && change.old.is_none() {
                    return Ok(());
                }
                next.forward(ctx, r.with(r.key.clone(), change))
            })) as Box<dyn Processor<K, Change<A>>>,
        )
    })
}
