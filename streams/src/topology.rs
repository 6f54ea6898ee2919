//! The topology: a graph of named nodes (sources, processors, sinks) and stores, as the DSL built
//! it, with what it takes to instantiate it for one task.
//!
//! The DSL keeps, for every node, the factories of its children's processors; a task's
//! processors are made by calling them from each source down. Nodes are named as Kafka Streams
//! names them (`KSTREAM-FILTER-0000000001`), and [`Topology::describe`] prints Kafka's format.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::StreamsError;
use crate::processor::{Fanout, Processor, RawProcessor, RawRecord, Shared, TaskContext};
use crate::state::{KvStore, changelog_suffix};

/// A topic a node reads or writes: a user topic, or an internal one named after the application.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TopicName {
    User(String),
    /// `<application.id>-<suffix>`.
    Internal(String),
}

impl TopicName {
    pub(crate) fn resolve(&self, application_id: &str) -> String {
        match self {
            TopicName::User(t) => t.clone(),
            TopicName::Internal(suffix) => format!("{application_id}-{suffix}"),
        }
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicName::User(t) | TopicName::Internal(t) => f.write_str(t),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Source(TopicName),
    Processor(Vec<String>),
    Sink(Option<TopicName>),
}

#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<usize>,
}

/// Makes a task's processor for a source.
pub(crate) type SourceFactory =
    Arc<dyn Fn(&mut Instantiator<'_>) -> Result<Box<dyn RawProcessor>, StreamsError> + Send + Sync>;

pub(crate) struct SourceSpec {
    pub(crate) topic: TopicName,
    pub(crate) node: usize,
    pub(crate) factory: SourceFactory,
}

/// A state store of the topology.
#[derive(Debug, Clone)]
pub(crate) struct StoreSpec {
    pub(crate) name: String,
    pub(crate) logged: bool,
    /// For window stores: how long windows are kept (the changelog's `retention.ms` adds a day).
    pub(crate) retention_ms: Option<i64>,
}

/// Everything the DSL built.
#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<NodeInfo>,
    pub(crate) sources: Vec<SourceSpec>,
    pub(crate) stores: Vec<StoreSpec>,
    /// Kafka's running index, shared by node and store names.
    counter: usize,
    /// Mistakes found while building, reported by `build`.
    pub(crate) errors: Vec<String>,
    /// Global tables: (topic, store, source node name, processor name).
    pub(crate) globals: Vec<(String, String, String, String)>,
}

impl Graph {
    /// The next generated name with this prefix: `KSTREAM-FILTER-0000000001`.
    pub(crate) fn next_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}-{:010}", self.counter);
        self.counter += 1;
        name
    }

    pub(crate) fn add_node(&mut self, name: String, kind: NodeKind, parents: &[usize]) -> usize {
        let id = self.nodes.len();
        for &p in parents {
            self.nodes[p].children.push(id);
        }
        self.nodes.push(NodeInfo {
            name,
            kind,
            parents: parents.to_vec(),
            children: Vec::new(),
        });
        id
    }

    pub(crate) fn add_parent(&mut self, node: usize, parent: usize) {
        self.nodes[parent].children.push(node);
        self.nodes[node].parents.push(parent);
    }

    /// Lets `node` use a store another node created.
    pub(crate) fn connect_store(&mut self, node: usize, store: &str) {
        if let NodeKind::Processor(stores) = &mut self.nodes[node].kind {
            stores.push(store.to_owned());
        }
    }

    pub(crate) fn add_store(&mut self, node: usize, store: StoreSpec) {
        if self.stores.iter().any(|s| s.name == store.name) {
            self.errors.push(format!("store name {} is used twice", store.name));
        }
        if let NodeKind::Processor(stores) = &mut self.nodes[node].kind {
            stores.push(store.name.clone());
        }
        self.stores.push(store);
    }

    /// Sub-topologies: groups of nodes connected by parent/child edges or a shared store (topics
    /// between them, such as repartition topics, separate them), numbered by their first node.
    pub(crate) fn subtopologies(&self) -> Vec<Vec<usize>> {
        let mut group: Vec<Option<usize>> = vec![None; self.nodes.len()];
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for start in 0..self.nodes.len() {
            if group[start].is_some() {
                continue;
            }
            let index = groups.len();
            let mut members = Vec::new();
            let mut stack = vec![start];
            while let Some(n) = stack.pop() {
                if group[n].is_some() {
                    continue;
                }
                group[n] = Some(index);
                members.push(n);
                stack.extend(self.nodes[n].children.iter().chain(&self.nodes[n].parents));
                // Nodes that share a store run in one task.
                if let NodeKind::Processor(stores) = &self.nodes[n].kind {
                    stack.extend((0..self.nodes.len()).filter(|&m| {
                        matches!(&self.nodes[m].kind, NodeKind::Processor(other) if other.iter().any(|s| stores.contains(s)))
                    }));
                }
            }
            members.sort_unstable();
            groups.push(members);
        }
        groups
    }
}

/// The node of type `K`, `V` in the DSL: its children's processor factories.
pub(crate) struct Node<K, V> {
    pub(crate) id: usize,
    pub(crate) children: Vec<ChildFactory<K, V>>,
}

pub(crate) type ChildFactory<K, V> =
    Arc<dyn Fn(&mut Instantiator<'_>) -> Result<Box<dyn Processor<K, V>>, StreamsError> + Send + Sync>;

pub(crate) type NodeRef<K, V> = Arc<Mutex<Node<K, V>>>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes one task's processors and stores.
pub(crate) struct Instantiator<'a> {
    graph: &'a Graph,
    /// Instances of nodes with several parents, by node id (`Shared<K, V>` behind `Any`).
    shared: HashMap<usize, Box<dyn Any + Send>>,
    pub(crate) stores: BTreeMap<String, Arc<Mutex<KvStore>>>,
    /// Flushes of the task's record caches, downstream ones first (children are made before
    /// their parents).
    flushes: Vec<Flush>,
}

/// Flushes one record cache of a task.
pub(crate) type Flush = Box<dyn FnMut(&mut TaskContext) -> Result<(), StreamsError> + Send>;

impl<'a> Instantiator<'a> {
    pub(crate) fn new(graph: &'a Graph) -> Self {
        Self {
            graph,
            shared: HashMap::new(),
            stores: BTreeMap::new(),
            flushes: Vec::new(),
        }
    }

    /// Registers a record cache's flush with the task.
    pub(crate) fn on_flush(&mut self, flush: Flush) {
        self.flushes.push(flush);
    }

    /// The processors of `node`'s children, made for this task (once, for a node with several
    /// parents).
    pub(crate) fn fanout<K, V>(&mut self, node: &NodeRef<K, V>) -> Result<Fanout<K, V>, StreamsError>
    where
        K: Clone + Send + 'static,
        V: Clone + Send + 'static,
    {
        let (id, factories) = {
            let n = lock(node);
            (n.id, n.children.clone())
        };
        let shared = self.graph.nodes[id].parents.len() > 1;
        if shared {
            if let Some(existing) = self.shared.get(&id) {
                let arc = existing
                    .downcast_ref::<Arc<Mutex<Fanout<K, V>>>>()
                    .ok_or_else(|| StreamsError::Topology(format!("node {id} has two types")))?;
                return Ok(Fanout::new(vec![Box::new(Shared(Arc::clone(arc)))]));
            }
        }
        let mut children = Vec::with_capacity(factories.len());
        for factory in &factories {
            children.push(factory(self)?);
        }
        let fanout = Fanout::new(children);
        if !shared {
            return Ok(fanout);
        }
        let arc = Arc::new(Mutex::new(fanout));
        self.shared.insert(id, Box::new(Arc::clone(&arc)));
        Ok(Fanout::new(vec![Box::new(Shared(arc))]))
    }

    /// This task's instance of key-value store `name`.
    pub(crate) fn kv_store(&mut self, name: &str) -> Result<Arc<Mutex<KvStore>>, StreamsError> {
        if let Some(store) = self.stores.get(name) {
            return Ok(Arc::clone(store));
        }
        let spec = self
            .graph
            .stores
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| StreamsError::Topology(format!("no store named {name}")))?;
        let store = Arc::new(Mutex::new(KvStore::new(&spec.name, spec.logged)));
        self.stores.insert(name.to_owned(), Arc::clone(&store));
        Ok(store)
    }
}

/// A built topology: what `StreamsBuilder::build` returns, run by the runtime or the test
/// driver.
#[derive(Clone)]
pub struct Topology {
    pub(crate) graph: Arc<Mutex<Graph>>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Topology {
    /// The topology in Kafka Streams' `TopologyDescription` format: sub-topologies, and for each
    /// node its topics or stores, successors (`-->`) and predecessors (`<--`).
    pub fn describe(&self) -> String {
        let graph = lock(&self.graph);
        let mut out = String::from("Topologies:\n");
        for (index, members) in graph.subtopologies().iter().enumerate() {
            let _ = writeln!(out, "   Sub-topology: {index}");
            for &n in members {
                let node = &graph.nodes[n];
                let names = |ids: &[usize]| -> String {
                    if ids.is_empty() {
                        "none".to_owned()
                    } else {
                        ids.iter()
                            .map(|&i| graph.nodes[i].name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                };
                match &node.kind {
                    NodeKind::Source(topic) => {
                        let _ = writeln!(out, "    Source: {} (topics: [{topic}])", node.name);
                    }
                    NodeKind::Processor(stores) => {
                        let _ = writeln!(out, "    Processor: {} (stores: [{}])", node.name, stores.join(", "));
                    }
                    NodeKind::Sink(Some(topic)) => {
                        let _ = writeln!(out, "    Sink: {} (topic: {topic})", node.name);
                    }
                    NodeKind::Sink(None) => {
                        let _ = writeln!(
                            out,
                            "    Sink: {} (extractor class: a function of the record)",
                            node.name
                        );
                    }
                }
                if !matches!(node.kind, NodeKind::Sink(_)) {
                    let _ = writeln!(out, "      --> {}", names(&node.children));
                }
                if !node.parents.is_empty() {
                    let _ = writeln!(out, "      <-- {}", names(&node.parents));
                }
            }
            out.push('\n');
        }
        let count = graph.subtopologies().len();
        for (i, (topic, store, source, processor)) in graph.globals.iter().enumerate() {
            let _ = write!(
                out,
                "   Sub-topology: {} for global store (will not generate tasks)\n    Source: {source} (topics: [{topic}])\n      --> {processor}\n    Processor: {processor} (stores: [{store}])\n      --> none\n      <-- {source}\n\n",
                count + i
            );
        }
        out
    }

    /// The global tables: (topic, store).
    pub(crate) fn global_tables(&self) -> Vec<(String, String)> {
        lock(&self.graph)
            .globals
            .iter()
            .map(|(topic, store, _, _)| (topic.clone(), store.clone()))
            .collect()
    }

    /// A fresh (empty) instance of every global store, shared by all tasks of an instance.
    pub(crate) fn global_stores(&self) -> BTreeMap<String, Arc<Mutex<KvStore>>> {
        self.global_tables()
            .into_iter()
            .map(|(_, store)| {
                let instance = Arc::new(Mutex::new(KvStore::new(&store, false)));
                (store, instance)
            })
            .collect()
    }

    /// The topics the topology reads, with the application id `application_id` for internal
    /// ones.
    pub fn source_topics(&self, application_id: &str) -> BTreeSet<String> {
        lock(&self.graph)
            .sources
            .iter()
            .map(|s| s.topic.resolve(application_id))
            .collect()
    }

    /// The source topics of each sub-topology (a task reads one partition of each topic of its
    /// sub-topology), with the application id `application_id` for internal topics.
    pub fn subtopologies(&self, application_id: &str) -> Vec<BTreeSet<String>> {
        let graph = lock(&self.graph);
        graph
            .subtopologies()
            .iter()
            .map(|members| {
                graph
                    .sources
                    .iter()
                    .filter(|s| members.contains(&s.node))
                    .map(|s| s.topic.resolve(application_id))
                    .collect()
            })
            .collect()
    }

    /// The user topics the topology reads (not internal ones), global tables' included.
    pub fn user_source_topics(&self) -> BTreeSet<String> {
        let graph = lock(&self.graph);
        graph
            .sources
            .iter()
            .filter_map(|s| match &s.topic {
                TopicName::User(t) => Some(t.clone()),
                TopicName::Internal(_) => None,
            })
            .chain(graph.globals.iter().map(|(topic, ..)| topic.clone()))
            .collect()
    }

    /// The user topics the topology writes to by name (not through a topic extractor).
    pub fn user_sink_topics(&self) -> BTreeSet<String> {
        lock(&self.graph)
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Sink(Some(TopicName::User(t))) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    /// The names of the topology's state stores.
    pub fn store_names(&self) -> Vec<String> {
        lock(&self.graph).stores.iter().map(|s| s.name.clone()).collect()
    }

    /// The changelog topics of its stores, for application `application_id`.
    pub fn changelog_topics(&self, application_id: &str) -> Vec<String> {
        lock(&self.graph)
            .stores
            .iter()
            .filter(|s| s.logged)
            .map(|s| TopicName::Internal(changelog_suffix(&s.name)).resolve(application_id))
            .collect()
    }

    /// What the runtime needs to know of each sub-topology: the topics it reads and the internal
    /// topics it writes, and its stores.
    pub(crate) fn layout(&self) -> Vec<SubtopologyLayout> {
        let graph = lock(&self.graph);
        graph
            .subtopologies()
            .iter()
            .map(|members| {
                let mut layout = SubtopologyLayout::default();
                for &n in members {
                    match &graph.nodes[n].kind {
                        NodeKind::Source(topic) => layout.sources.push(topic.clone()),
                        NodeKind::Sink(Some(topic @ TopicName::Internal(_))) => {
                            layout.internal_sinks.push(topic.clone())
                        }
                        NodeKind::Processor(stores) => {
                            for store in stores {
                                let spec = graph.stores.iter().find(|s| &s.name == store);
                                if let Some(spec) = spec.filter(|s| !layout.stores.iter().any(|l| l.name == s.name)) {
                                    layout.stores.push(spec.clone());
                                }
                            }
                        }
                        NodeKind::Sink(_) => {}
                    }
                }
                layout
            })
            .collect()
    }

    /// Instantiates every source (all sub-topologies) for one task of partition `partition`.
    pub(crate) fn task(
        &self,
        application_id: &str,
        partition: i32,
        globals: &BTreeMap<String, Arc<Mutex<KvStore>>>,
    ) -> Result<Task, StreamsError> {
        self.task_of(application_id, None, partition, globals)
    }

    /// Instantiates the sources of sub-topology `subtopology` (all with `None`) for the task of
    /// partition `partition`.
    pub(crate) fn task_of(
        &self,
        application_id: &str,
        subtopology: Option<usize>,
        partition: i32,
        globals: &BTreeMap<String, Arc<Mutex<KvStore>>>,
    ) -> Result<Task, StreamsError> {
        let graph = lock(&self.graph);
        let members: Option<Vec<usize>> = subtopology.map(|i| graph.subtopologies().swap_remove(i));
        let mut inst = Instantiator::new(&graph);
        inst.stores = globals.clone();
        let mut sources = Vec::new();
        for source in graph
            .sources
            .iter()
            .filter(|s| members.as_ref().is_none_or(|m| m.contains(&s.node)))
        {
            let processor = (source.factory)(&mut inst)?;
            sources.push((source.topic.resolve(application_id), processor));
        }
        let stores = std::mem::take(&mut inst.stores);
        let mut flushes = std::mem::take(&mut inst.flushes);
        flushes.reverse();
        drop(inst);
        Ok(Task {
            ctx: TaskContext::new(Arc::from(application_id), partition),
            sources,
            stores,
            flushes,
        })
    }
}

/// A sub-topology's topics and stores.
#[derive(Debug, Clone, Default)]
pub(crate) struct SubtopologyLayout {
    pub(crate) sources: Vec<TopicName>,
    pub(crate) internal_sinks: Vec<TopicName>,
    pub(crate) stores: Vec<StoreSpec>,
}

/// A topology instantiated for one partition: its sources, processors and stores.
pub(crate) struct Task {
    pub(crate) ctx: TaskContext,
    /// Each source topic's processor (a topology reads a handful of topics: a scan beats a hash).
    sources: Vec<(String, Box<dyn RawProcessor>)>,
    pub(crate) stores: BTreeMap<String, Arc<Mutex<KvStore>>>,
    /// The record caches' flushes, upstream ones first.
    flushes: Vec<Flush>,
}

impl Task {
    /// Flushes the record caches: what they held back goes to the changelogs and downstream.
    pub(crate) fn flush(&mut self) -> Result<(), StreamsError> {
        for flush in &mut self.flushes {
            flush(&mut self.ctx)?;
        }
        Ok(())
    }

    pub(crate) fn reads(&self, topic: &str) -> bool {
        self.sources.iter().any(|(t, _)| t == topic)
    }

    /// Processes one record read from `record.topic`.
    pub(crate) fn process(&mut self, record: RawRecord) -> Result<(), StreamsError> {
        let Some((_, source)) = self.sources.iter_mut().find(|(t, _)| **t == *record.topic) else {
            return Err(StreamsError::Usage(format!(
                "the topology does not read topic {}",
                record.topic
            )));
        };
        source.process(&mut self.ctx, record)
    }
}
