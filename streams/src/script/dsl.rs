//! The operators a script builds its pipeline with, registered on its engine.
//!
//! `stream(topic)` and `table(topic)` start a pipeline; streams have `filter`, `filter_not`,
//! `map`, `map_values`, `flat_map`, `flat_map_values`, `select_key`, `peek`, `foreach`,
//! `merge`, `split`, `join`, `left_join`, `to`, `group_by` and `group_by_key`; grouped streams
//! `count`, `reduce`, `aggregate` and the windows `window_tumbling`, `window_hopping`,
//! `window_sliding`, `window_session`; tables `to_stream` and (windowed) `suppress`.
//!
//! Stores are named by their kind and place among the stateful steps (`count-0`,
//! `aggregate-1`, ...) unless the script names them, so that adding a stateless step keeps the
//! state of the others.

use std::sync::{Arc, Mutex};

use rhai::{AST, Array, Dynamic, EvalAltResult, FnPtr, ImmutableString, Map, NativeCallContext, Position};

use super::format::Format;
use super::program::{Program, Slot, Step, StepFn, apply_record};
use super::{ScriptError, ScriptOptions, engine};
use crate::dsl::{
    Consumed, Fold, Grouped, KStream, KTable, Materialized, Produced, SessionWindows, SlidingWindows, StreamsBuilder,
    TimeWindows, Windowed,
};
use crate::error::StreamsError;
use crate::processor::{Fanout, FnProcessor, Processor, Record, TaskContext};
use crate::topology::{NodeKind, Topology, lock};

type D = Dynamic;
type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// A script made into a topology, with what a reload compares.
#[derive(Debug)]
pub struct Pipeline {
    topology: Topology,
    pub(crate) shape: Vec<Shape>,
    pub(crate) slot: Arc<Slot>,
    pub(crate) program: Arc<Program>,
    pub(crate) options: ScriptOptions,
}

/// One operator of the pipeline as built: what it is, and whether it keeps state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) what: String,
    pub(crate) line: usize,
    pub(crate) stateful: bool,
}

impl Pipeline {
    /// Compiles `source` and runs it to build the pipeline.
    pub fn compile(source: &str, options: &ScriptOptions) -> Result<Self, ScriptError> {
        let name: Arc<str> = Arc::from(options.name.as_str());
        let mut engine = engine(&options.limits);
        let ast = engine
            .compile(source)
            .map_err(|e| ScriptError::syntax(&options.name, &e))?;
        let placeholder = Arc::new(Program {
            engine: Arc::new(super::engine(&options.limits)),
            ast: AST::empty(),
            steps: Vec::new(),
            name: Arc::clone(&name),
        });
        let slot = Arc::new(Slot::new(placeholder, options.on_error.clone()));
        let build = Arc::new(Build {
            state: Mutex::new(State {
                builder: Some(StreamsBuilder::new()),
                steps: Vec::new(),
                shape: Vec::new(),
                stateful: 0,
            }),
            slot: Arc::clone(&slot),
            functions: ast
                .iter_functions()
                .map(|f| (f.name.to_owned(), f.params.len()))
                .collect(),
        });
        register(&mut engine, &build);
        let engine = Arc::new(engine);
        engine
            .run_ast(&ast)
            .map_err(|e| ScriptError::build(&options.name, &e))?;
        let mut state = lock(&build.state);
        let builder = state.builder.take().unwrap_or_default();
        let topology = builder.build().map_err(|source| ScriptError::Topology {
            script: options.name.clone(),
            source,
        })?;
        let mut steps = std::mem::take(&mut state.steps);
        for step in &mut steps {
            if matches!(step.kind, "filter" | "filter_not") {
                step.fast = super::fast::Predicate::compile(&ast, &step.fns[0]);
            }
        }
        let program = Arc::new(Program {
            engine,
            ast,
            steps,
            name,
        });
        slot.swap(Arc::clone(&program));
        Ok(Self {
            topology,
            shape: std::mem::take(&mut state.shape),
            slot,
            program,
            options: options.clone(),
        })
    }

    /// The topology, to run ([`crate::KafkaStreams::start`]) or test.
    pub fn topology(&self) -> Topology {
        self.topology.clone()
    }

    /// The script's operators in order, one line each (`filter (line 3)`, ...).
    pub fn describe_steps(&self) -> Vec<String> {
        self.shape
            .iter()
            .map(|s| format!("{} (line {})", s.what, s.line))
            .collect()
    }

    /// The topics the pipeline writes by name, with the dead-letter topic.
    pub fn output_topics(&self) -> std::collections::BTreeSet<String> {
        let mut topics = self.topology.user_sink_topics();
        if let super::ErrorPolicy::DeadLetter(t) = &self.options.on_error {
            topics.insert(t.clone());
        }
        topics
    }
}

/// What the operators add to while the script runs.
struct Build {
    state: Mutex<State>,
    slot: Arc<Slot>,
    /// The script's functions (closures too): name → parameter count.
    functions: Vec<(String, usize)>,
}

struct State {
    builder: Option<StreamsBuilder>,
    steps: Vec<Step>,
    shape: Vec<Shape>,
    stateful: usize,
}

fn error(message: impl Into<String>, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into().into(), pos).into()
}

impl Build {
    fn builder(&self, pos: Position) -> RhaiResult<StreamsBuilder> {
        lock(&self.state).builder.clone().ok_or_else(|| {
            error(
                "stream() and table() build the pipeline: call them at the top of the script",
                pos,
            )
        })
    }

    fn note(&self, what: String, pos: Position, stateful: bool) {
        lock(&self.state).shape.push(Shape {
            what,
            line: pos.line().unwrap_or(0),
            stateful,
        });
    }

    /// Adds a step calling `fns` (each with the parameter count given); its index.
    fn step(
        &self,
        kind: &'static str,
        pos: Position,
        fns: &[(&FnPtr, usize, &str)],
        init: Option<Dynamic>,
    ) -> RhaiResult<usize> {
        for (f, params, what) in fns {
            let expected = params + f.curry().len();
            let found: Vec<usize> = self
                .functions
                .iter()
                .filter(|(name, _)| name == f.fn_name())
                .map(|(_, n)| *n)
                .collect();
            if !found.is_empty() && !found.contains(&expected) {
                let declared = found[0].saturating_sub(f.curry().len());
                return Err(error(
                    format!(
                        "{kind} takes a function of {params} parameter{} ({what}); this one has {declared}",
                        if *params == 1 { "" } else { "s" }
                    ),
                    pos,
                ));
            }
        }
        let mut state = lock(&self.state);
        state.steps.push(Step {
            kind,
            line: pos.line().unwrap_or(0),
            fns: fns.iter().map(|(f, _, _)| (*f).clone()).collect(),
            init,
            fast: None,
        });
        let index = state.steps.len() - 1;
        drop(state);
        self.note(kind.to_owned(), pos, false);
        Ok(index)
    }

    /// The store of the next stateful step: the name given, or `<kind>-<n>`.
    fn store(&self, kind: &str, given: Option<&str>) -> String {
        let mut state = lock(&self.state);
        let n = state.stateful;
        state.stateful += 1;
        given.map_or_else(|| format!("{kind}-{n}"), str::to_owned)
    }
}

/// A stream in a script.
#[derive(Clone)]
struct SStream(KStream<D, D>);

/// A grouped stream in a script (the grouping happens at the aggregation).
#[derive(Clone)]
struct SGrouped {
    stream: KStream<D, D>,
    name: Option<String>,
}

#[derive(Clone, Copy, Debug)]
enum WindowKind {
    Time(i64, i64, i64),
    Sliding(i64, i64),
    Session(i64, i64),
}

/// A windowed grouped stream in a script.
#[derive(Clone)]
struct SWindowed {
    grouped: SGrouped,
    kind: WindowKind,
}

/// A table in a script.
#[derive(Clone)]
enum STable {
    Plain(KTable<D, D>),
    Windowed(KTable<Windowed<D>, D>),
}

/// Milliseconds from `500ms`, `30s`, `1m`, `2h`, `1d` or a number of ms.
fn duration(value: &Dynamic, pos: Position) -> RhaiResult<i64> {
    if let Ok(ms) = value.as_int() {
        return Ok(ms);
    }
    let text = value
        .read_lock::<ImmutableString>()
        .map(|s| s.trim().to_owned())
        .ok_or_else(|| {
            error(
                format!("a duration is a string like \"1m\" or ms, not {}", value.type_name()),
                pos,
            )
        })?;
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "ms" | "" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if scale > 0 => Ok(n * scale),
        _ => Err(error(
            format!("bad duration {text:?} (examples: 500ms, 30s, 1m, 2h, 1d)"),
            pos,
        )),
    }
}

/// Key and value formats from `#{key: "string", value: "json"}`.
fn formats(options: &Map, pos: Position) -> RhaiResult<(Format, Format)> {
    let get = |name: &str| -> RhaiResult<Format> {
        match options.get(name) {
            None => Ok(Format::Auto),
            Some(v) => v
                .to_string()
                .parse()
                .map_err(|e: String| error(format!("{name}: {e}"), pos)),
        }
    };
    for name in options.keys() {
        if !matches!(name.as_str(), "key" | "value" | "name") {
            return Err(error(
                format!("unknown option {name:?} (expected key, value, name)"),
                pos,
            ));
        }
    }
    Ok((get("key")?, get("value")?))
}

fn boolean(f: &StepFn, value: Dynamic, kind: &str) -> Result<bool, super::program::Failure> {
    value
        .as_bool()
        .map_err(|t| f.failure(None, format!("{kind} must return true or false, not {t}")))
}

/// A processor running `body` for each record with the step's closures.
fn script_processor<K2: crate::dsl::Data, V2: crate::dsl::Data>(
    slot: &Arc<Slot>,
    index: usize,
    mut next: Fanout<K2, V2>,
    body: impl Fn(&mut StepFn, &mut TaskContext, Record<D, D>, &mut Fanout<K2, V2>) -> Result<(), StreamsError>
    + Send
    + 'static,
) -> Box<dyn Processor<D, D>> {
    let mut f = StepFn::new(slot, index);
    Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<D, D>| {
        body(&mut f, ctx, r, &mut next)
    }))
}

impl SStream {
    /// A stream of the records after the step `index` that `body` runs.
    fn step<K2: crate::dsl::Data, V2: crate::dsl::Data>(
        &self,
        build: &Build,
        prefix: &str,
        index: usize,
        key_changed: bool,
        body: impl Fn(&mut StepFn, &mut TaskContext, Record<D, D>, &mut Fanout<K2, V2>) -> Result<(), StreamsError>
        + Send
        + Sync
        + Clone
        + 'static,
    ) -> KStream<K2, V2> {
        let slot = Arc::clone(&build.slot);
        let (node, _) = self
            .0
            .add_child(prefix, move |next| script_processor(&slot, index, next, body.clone()));
        self.0.derived(node, None, None, key_changed)
    }

    fn same(&self, stream: KStream<D, D>) -> SStream {
        let (ks, vs) = (self.0.key_serde.clone(), self.0.value_serde.clone());
        let repartition = stream.repartition_required;
        let mut s = KStream::from_node(stream.builder.clone(), stream.node, ks, vs);
        s.repartition_required = repartition;
        SStream(s)
    }
}

/// The record map a step's closure gets, keeping the record (for the next node or a
/// dead-letter copy).
fn record_of(f: &mut StepFn, ctx: &TaskContext, r: &Record<D, D>) -> Dynamic {
    f.record(ctx, r.key.clone(), r.value.clone(), r.timestamp, &r.headers)
}

fn filter(build: &Build, s: &SStream, f: FnPtr, pos: Position, keep: bool) -> RhaiResult<SStream> {
    let kind = if keep { "filter" } else { "filter_not" };
    let index = build.step(kind, pos, &[(&f, 1, "the record")], None)?;
    let out = s.step(build, "KSTREAM-FILTER", index, false, move |f, ctx, r, next| {
        if let Some(pass) = f.fast_test(ctx, &r) {
            return if pass == keep { next.forward(ctx, r) } else { Ok(()) };
        }
        let rec = record_of(f, ctx, &r);
        match f.call(0, (rec,)).and_then(|v| boolean(f, v, kind)) {
            Ok(b) if b == keep => next.forward(ctx, r),
            Ok(_) => Ok(()),
            Err(failure) => f.failed(ctx, failure, &r),
        }
    });
    Ok(s.same(out))
}

fn map(build: &Build, s: &SStream, f: FnPtr, pos: Position) -> RhaiResult<SStream> {
    let index = build.step("map", pos, &[(&f, 1, "the record")], None)?;
    Ok(SStream(s.step(build, "KSTREAM-MAP", index, true, |f, ctx, r, next| {
        let rec = record_of(f, ctx, &r);
        let mut out = r.clone();
        match f
            .call(0, (rec,))
            .and_then(|v| apply_record(v, &mut out).map_err(|m| f.failure(None, format!("map: {m}"))))
        {
            Ok(()) => next.forward(ctx, out),
            Err(failure) => f.failed(ctx, failure, &r),
        }
    })))
}

fn map_values(build: &Build, s: &SStream, f: FnPtr, pos: Position) -> RhaiResult<SStream> {
    let index = build.step("map_values", pos, &[(&f, 1, "the value")], None)?;
    let out = s.step(
        build,
        "KSTREAM-MAPVALUES",
        index,
        false,
        |f, ctx, mut r, next| match f.call(0, (r.value.clone(),)) {
            Ok(v) => {
                r.value = v;
                next.forward(ctx, r)
            }
            Err(failure) => f.failed(ctx, failure, &r),
        },
    );
    let mut out = SStream(out);
    out.0.key_serde = s.0.key_serde.clone();
    Ok(out)
}

fn array_of(f: &StepFn, value: Dynamic, kind: &str) -> Result<Array, super::program::Failure> {
    let type_name = value.type_name();
    value
        .try_cast::<Array>()
        .ok_or_else(|| f.failure(None, format!("{kind} must return an array, not {type_name}")))
}

fn flat_map(build: &Build, s: &SStream, f: FnPtr, pos: Position, values_only: bool) -> RhaiResult<SStream> {
    let kind = if values_only { "flat_map_values" } else { "flat_map" };
    let what = if values_only { "the value" } else { "the record" };
    let index = build.step(kind, pos, &[(&f, 1, what)], None)?;
    let prefix = if values_only {
        "KSTREAM-FLATMAPVALUES"
    } else {
        "KSTREAM-FLATMAP"
    };
    let out = s.step(build, prefix, index, !values_only, move |f, ctx, r, next| {
        let arg = if values_only {
            r.value.clone()
        } else {
            record_of(f, ctx, &r)
        };
        let records = f.call(0, (arg,)).and_then(|v| array_of(f, v, kind)).and_then(|items| {
            items
                .into_iter()
                .map(|item| {
                    let mut out = r.clone();
                    if values_only {
                        out.value = item;
                    } else {
                        apply_record(item, &mut out).map_err(|m| f.failure(None, format!("{kind}: {m}")))?;
                    }
                    Ok(out)
                })
                .collect::<Result<Vec<_>, _>>()
        });
        match records {
            Ok(records) => records.into_iter().try_for_each(|out| next.forward(ctx, out)),
            Err(failure) => f.failed(ctx, failure, &r),
        }
    });
    let mut out = SStream(out);
    if values_only {
        out.0.key_serde = s.0.key_serde.clone();
    }
    Ok(out)
}

fn select_key(build: &Build, s: &SStream, f: FnPtr, pos: Position, kind: &'static str) -> RhaiResult<SStream> {
    let index = build.step(kind, pos, &[(&f, 1, "the record")], None)?;
    let out = s.step(build, "KSTREAM-KEY-SELECT", index, true, |f, ctx, mut r, next| {
        let rec = record_of(f, ctx, &r);
        match f.call(0, (rec,)) {
            Ok(key) => {
                r.key = key;
                next.forward(ctx, r)
            }
            Err(failure) => f.failed(ctx, failure, &r),
        }
    });
    let mut out = SStream(out);
    out.0.value_serde = s.0.value_serde.clone();
    Ok(out)
}

fn peek(build: &Build, s: &SStream, f: FnPtr, pos: Position) -> RhaiResult<SStream> {
    let index = build.step("peek", pos, &[(&f, 1, "the record")], None)?;
    let out = s.step(build, "KSTREAM-PEEK", index, false, |f, ctx, r, next| {
        let rec = record_of(f, ctx, &r);
        match f.call(0, (rec,)) {
            Ok(_) => next.forward(ctx, r),
            Err(failure) => f.failed(ctx, failure, &r),
        }
    });
    Ok(s.same(out))
}

fn foreach(build: &Build, s: &SStream, f: FnPtr, pos: Position) -> RhaiResult<()> {
    let index = build.step("foreach", pos, &[(&f, 1, "the record")], None)?;
    let slot = Arc::clone(&build.slot);
    s.0.add_terminal(
        "KSTREAM-FOREACH",
        |_| NodeKind::Processor(Vec::new()),
        move || {
            let mut f = StepFn::new(&slot, index);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<D, D>| {
                let rec = record_of(&mut f, ctx, &r);
                match f.call(0, (rec,)) {
                    Ok(_) => Ok(()),
                    Err(failure) => f.failed(ctx, failure, &r),
                }
            }))
        },
    );
    Ok(())
}

/// `to(f)`: each record to the topic `f(record)` names.
fn to_dynamic(build: &Build, s: &SStream, f: FnPtr, (kf, vf): (Format, Format), pos: Position) -> RhaiResult<()> {
    let index = build.step("to", pos, &[(&f, 1, "the record")], None)?;
    let slot = Arc::clone(&build.slot);
    s.0.add_terminal(
        "KSTREAM-SINK",
        |_| NodeKind::Processor(Vec::new()),
        move || {
            let mut f = StepFn::new(&slot, index);
            Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<D, D>| {
                let rec = record_of(&mut f, ctx, &r);
                let topic = f.call(0, (rec,)).and_then(|t| match t.read_lock::<ImmutableString>() {
                    Some(name) if !name.is_empty() => Ok(Arc::<str>::from(name.as_str())),
                    _ => Err(f.failure(
                        None,
                        format!("to: the topic must be a non-empty string, not {}", t.type_name()),
                    )),
                });
                let topic = match topic {
                    Ok(topic) => topic,
                    Err(failure) => return f.failed(ctx, failure, &r),
                };
                crate::dsl::write_record(ctx, topic, "to", &kf, &vf, r)
            }))
        },
    );
    Ok(())
}

fn split(build: &Build, s: &SStream, branches: Array, pos: Position) -> RhaiResult<Map> {
    let mut names = Vec::new();
    let mut fns = Vec::new();
    let mut default = None;
    for (i, branch) in branches.into_iter().enumerate() {
        let bad = || error("split takes [[name, predicate], ..., [default name]]", pos);
        let parts = branch.try_cast::<Array>().ok_or_else(bad)?;
        let name = parts
            .first()
            .and_then(|n| n.read_lock::<ImmutableString>().map(|n| n.to_string()));
        match (name, parts.get(1), parts.len()) {
            (Some(name), _, 1) if default.is_none() => default = Some(name),
            (Some(name), Some(f), 2) if default.is_none() && f.is_fnptr() => {
                names.push(name);
                fns.push(f.clone().cast::<FnPtr>());
            }
            (Some(_), _, 1 | 2) => return Err(error(format!("split: branch {i} comes after the default branch"), pos)),
            _ => return Err(bad()),
        }
    }
    let args: Vec<(&FnPtr, usize, &str)> = fns.iter().map(|f| (f, 1, "the record")).collect();
    let index = build.step("split", pos, &args, None)?;
    let count = fns.len();
    let tagged: KStream<D, (usize, D)> = s.step(build, "KSTREAM-BRANCH", index, false, move |f, ctx, r, next| {
        for i in 0..count {
            let rec = record_of(f, ctx, &r);
            match f.call(i, (rec,)).and_then(|v| boolean(f, v, "split")) {
                Ok(true) => return next.forward(ctx, r.with(r.key.clone(), (i, r.value.clone()))),
                Ok(false) => {}
                Err(failure) => return f.failed(ctx, failure, &r),
            }
        }
        next.forward(ctx, r.with(r.key.clone(), (count, r.value.clone())))
    });
    let mut out = Map::new();
    for (i, name) in names.into_iter().chain(default).enumerate() {
        let branch = tagged.filter(move |_, (b, _)| *b == i).map_values(|(_, v)| v);
        out.insert(name.as_str().into(), Dynamic::from(s.same(branch)));
    }
    Ok(out)
}

/// `join(table, f)` / `left_join(table, f)`: `f(value, table value)` for each record (`()` for
/// a key the table lacks, in a left join).
fn join(build: &Build, s: &SStream, table: &STable, f: FnPtr, pos: Position, left: bool) -> RhaiResult<SStream> {
    let kind = if left { "left_join" } else { "join" };
    let STable::Plain(table) = table else {
        return Err(error(
            format!("{kind} needs a table keyed like the stream, not a windowed table"),
            pos,
        ));
    };
    let index = build.step(kind, pos, &[(&f, 2, "the value and the table's value")], None)?;
    let pairs: KStream<D, D> = if left {
        s.0.left_join(table, |v: &D, tv: Option<&D>| {
            Dynamic::from_array(vec![v.clone(), tv.cloned().unwrap_or(Dynamic::UNIT)])
        })
    } else {
        s.0.join(table, |v: &D, tv: &D| Dynamic::from_array(vec![v.clone(), tv.clone()]))
    };
    let pairs = SStream(pairs);
    let out = pairs.step(build, "KSTREAM-JOINER", index, false, |f, ctx, mut r, next| {
        let (v, tv) = match std::mem::take(&mut r.value).try_cast::<Array>() {
            Some(mut pair) if pair.len() == 2 => {
                let tv = pair.pop().unwrap_or_default();
                (pair.pop().unwrap_or_default(), tv)
            }
            _ => (Dynamic::UNIT, Dynamic::UNIT),
        };
        r.value = v.clone();
        match f.call(0, (v, tv)) {
            Ok(joined) => {
                r.value = joined;
                next.forward(ctx, r)
            }
            Err(failure) => f.failed(ctx, failure, &r),
        }
    });
    let mut out = SStream(out);
    out.0.key_serde = s.0.key_serde.clone();
    Ok(out)
}

/// A script fold: `reduce` (`f(aggregate, value)`) or `aggregate` (`f(key, value,
/// aggregate)` from the initial value).
fn script_fold(slot: &Arc<Slot>, index: usize, reduce: bool) -> Fold<D, D, D> {
    let slot = Arc::clone(slot);
    Arc::new(move |ctx, key, value, aggregate, (timestamp, headers)| {
        let mut f = StepFn::new(&slot, index);
        let result = match (reduce, aggregate) {
            (true, None) => return Ok(Some(value)),
            (true, Some(agg)) => f.call(0, (agg, value.clone())),
            (false, agg) => match agg.map_or_else(|| f.init(), Ok) {
                Ok(agg) => f.call(0, (key.clone(), value.clone(), agg)),
                Err(failure) => Err(failure),
            },
        };
        match result {
            Ok(new) => Ok(Some(new)),
            Err(failure) => {
                let record = Record {
                    key: key.clone(),
                    value,
                    timestamp: *timestamp,
                    headers: (*headers).clone(),
                };
                f.failed(ctx, failure, &record).map(|()| None)
            }
        }
    })
}

/// A session merger: the reducer (`f(aggregate, aggregate)`), or an aggregation's merger
/// (`f(key, aggregate, aggregate)`, the step's second closure).
fn script_merger(slot: &Arc<Slot>, index: usize, reduce: bool) -> crate::dsl::Merger<D, D> {
    let slot = Arc::clone(slot);
    Arc::new(move |ctx, key, a, b, (timestamp, headers)| {
        let mut f = StepFn::new(&slot, index);
        let result = if reduce {
            f.call(0, (a.clone(), b))
        } else {
            f.call(1, (key.clone(), a.clone(), b))
        };
        match result {
            Ok(merged) => Ok(Some(merged)),
            Err(failure) => {
                let record = Record {
                    key: key.clone(),
                    value: a,
                    timestamp: *timestamp,
                    headers: (*headers).clone(),
                };
                f.failed(ctx, failure, &record).map(|()| None)
            }
        }
    })
}

/// Counts as script integers.
fn counted<K: crate::dsl::Data>(table: KTable<K, i64>) -> KTable<K, D> {
    let close_after = table.close_after;
    let mut counts = table.map_values(|c| Dynamic::from_int(*c));
    counts.close_after = close_after;
    counts.value_serde = Some(Arc::new(Format::Json));
    counts
}

enum Agg {
    Count,
    Reduce(FnPtr),
    Aggregate(Dynamic, FnPtr, Option<FnPtr>),
}

impl Agg {
    fn kind(&self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::Reduce(_) => "reduce",
            Agg::Aggregate(..) => "aggregate",
        }
    }
}

fn aggregate(
    build: &Build,
    g: &SGrouped,
    window: Option<WindowKind>,
    agg: Agg,
    name: Option<&str>,
    pos: Position,
) -> RhaiResult<STable> {
    let kind = agg.kind();
    let store = build.store(kind, name);
    let index = match &agg {
        Agg::Count => None,
        Agg::Reduce(f) => Some(build.step("reduce", pos, &[(f, 2, "the aggregate and the value")], None)?),
        Agg::Aggregate(init, f, merger) => {
            let mut fns = vec![(f, 3, "the key, the value and the aggregate")];
            if let Some(m) = merger {
                fns.push((m, 3, "the key and two aggregates"));
            }
            Some(build.step("aggregate", pos, &fns, Some(init.clone()))?)
        }
    };
    build.note(
        format!(
            "{kind} into store {store} ({})",
            window.map_or_else(|| "not windowed".to_owned(), |w| format!("{w:?}"))
        ),
        pos,
        true,
    );
    let grouped_name = g.name.clone().unwrap_or_else(|| store.clone());
    let grouped = g
        .stream
        .group_by_key(Grouped::with(Format::Json, Format::Json).named(&grouped_name));
    let materialized = || {
        Materialized::<D, D>::as_(&store)
            .with_key_serde(Format::Json)
            .with_value_serde(Format::Json)
    };
    let fold = |reduce| script_fold(&build.slot, index.unwrap_or(0), reduce);
    let session_merger = || script_merger(&build.slot, index.unwrap_or(0), matches!(agg, Agg::Reduce(_)));
    Ok(match window {
        None => STable::Plain(match &agg {
            Agg::Count => counted(grouped.count(Materialized::as_(&store).with_key_serde(Format::Json))),
            Agg::Reduce(_) => grouped.fold("KSTREAM-REDUCE", materialized(), fold(true)),
            Agg::Aggregate(..) => grouped.fold("KSTREAM-AGGREGATE", materialized(), fold(false)),
        }),
        Some(WindowKind::Session(gap, grace)) => {
            if let Agg::Aggregate(_, _, None) = &agg {
                return Err(error(
                    "aggregate over session windows takes a merger: aggregate(init, |k, v, agg| ..., |k, a, b| ...)",
                    pos,
                ));
            }
            let windowed = grouped.windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(gap, grace));
            STable::Windowed(match &agg {
                Agg::Count => counted(windowed.count(Materialized::as_(&store).with_key_serde(Format::Json))),
                _ => windowed.fold(materialized(), fold(matches!(agg, Agg::Reduce(_))), session_merger()),
            })
        }
        Some(w) => {
            let windowed = match w {
                WindowKind::Time(size, advance, grace) => {
                    grouped.windowed_by(TimeWindows::of_size_and_grace(size, grace).advance_by(advance))
                }
                WindowKind::Sliding(difference, grace) => {
                    grouped.windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(difference, grace))
                }
                WindowKind::Session(..) => unreachable!("handled above"),
            };
            STable::Windowed(match &agg {
                Agg::Count => counted(windowed.count(Materialized::as_(&store).with_key_serde(Format::Json))),
                _ => windowed.fold(materialized(), fold(matches!(agg, Agg::Reduce(_)))),
            })
        }
    })
}

fn to_stream(table: &STable) -> SStream {
    match table {
        STable::Plain(t) => SStream(t.to_stream().map_values(|v: Option<D>| v.unwrap_or_default())),
        STable::Windowed(t) => SStream(t.to_stream().map(|k: Windowed<D>, v: Option<D>| {
            let mut key = Map::new();
            key.insert("key".into(), k.key);
            key.insert("start".into(), Dynamic::from_int(k.window.start));
            key.insert("end".into(), Dynamic::from_int(k.window.end));
            (Dynamic::from_map(key), v.unwrap_or_default())
        })),
    }
}

fn name_of(options: &Map) -> Option<String> {
    options.get("name").map(|n| n.to_string())
}

/// Registers the operators, bound to `build`.
#[allow(clippy::too_many_lines)]
fn register(engine: &mut rhai::Engine, build: &Arc<Build>) {
    engine
        .register_type_with_name::<SStream>("Stream")
        .register_type_with_name::<SGrouped>("GroupedStream")
        .register_type_with_name::<SWindowed>("WindowedStream")
        .register_type_with_name::<STable>("Table");

    // Sources.
    let b = Arc::clone(build);
    let source = move |ncx: &NativeCallContext, topic: &str, options: &Map| -> RhaiResult<SStream> {
        let pos = ncx.call_position();
        let (kf, vf) = formats(options, pos)?;
        b.note(format!("stream {topic} ({kf}, {vf})"), pos, false);
        Ok(SStream(b.builder(pos)?.stream(topic, Consumed::with(kf, vf))))
    };
    let s2 = source.clone();
    engine.register_fn("stream", move |ncx: NativeCallContext, topic: &str| {
        source(&ncx, topic, &Map::new())
    });
    engine.register_fn("stream", move |ncx: NativeCallContext, topic: &str, o: Map| {
        s2(&ncx, topic, &o)
    });
    let b = Arc::clone(build);
    let table = move |ncx: &NativeCallContext, topic: &str, options: &Map| -> RhaiResult<STable> {
        let pos = ncx.call_position();
        let (kf, vf) = formats(options, pos)?;
        let store = b.store("table", name_of(options).as_deref());
        b.note(format!("table {topic} into store {store} ({kf}, {vf})"), pos, true);
        let table = b
            .builder(pos)?
            .table(topic, Consumed::with(kf, vf), Materialized::as_(&store));
        Ok(STable::Plain(table))
    };
    let t2 = table.clone();
    engine.register_fn("table", move |ncx: NativeCallContext, topic: &str| {
        table(&ncx, topic, &Map::new())
    });
    engine.register_fn("table", move |ncx: NativeCallContext, topic: &str, o: Map| {
        t2(&ncx, topic, &o)
    });

    // Stream operators.
    macro_rules! stream_fn {
        ($name:literal, |$b:ident, $s:ident, $f:ident, $pos:ident| $body:expr) => {{
            let $b = Arc::clone(build);
            engine.register_fn(
                $name,
                move |ncx: NativeCallContext, $s: &mut SStream, $f: FnPtr| -> RhaiResult<SStream> {
                    let $pos = ncx.call_position();
                    $body
                },
            );
        }};
    }
    stream_fn!("filter", |b, s, f, pos| filter(&b, s, f, pos, true));
    stream_fn!("filter_not", |b, s, f, pos| filter(&b, s, f, pos, false));
    stream_fn!("map", |b, s, f, pos| map(&b, s, f, pos));
    stream_fn!("map_values", |b, s, f, pos| map_values(&b, s, f, pos));
    stream_fn!("flat_map", |b, s, f, pos| flat_map(&b, s, f, pos, false));
    stream_fn!("flat_map_values", |b, s, f, pos| flat_map(&b, s, f, pos, true));
    stream_fn!("select_key", |b, s, f, pos| select_key(&b, s, f, pos, "select_key"));
    stream_fn!("peek", |b, s, f, pos| peek(&b, s, f, pos));
    let b = Arc::clone(build);
    engine.register_fn("foreach", move |ncx: NativeCallContext, s: &mut SStream, f: FnPtr| {
        foreach(&b, s, f, ncx.call_position())
    });
    let b = Arc::clone(build);
    engine.register_fn(
        "merge",
        move |ncx: NativeCallContext, s: &mut SStream, other: SStream| -> SStream {
            b.note("merge".to_owned(), ncx.call_position(), false);
            s.same(s.0.merge(&other.0))
        },
    );
    let b = Arc::clone(build);
    engine.register_fn(
        "split",
        move |ncx: NativeCallContext, s: &mut SStream, branches: Array| split(&b, s, branches, ncx.call_position()),
    );
    for (name, left) in [("join", false), ("left_join", true)] {
        let b = Arc::clone(build);
        engine.register_fn(
            name,
            move |ncx: NativeCallContext, s: &mut SStream, t: STable, f: FnPtr| {
                join(&b, s, &t, f, ncx.call_position(), left)
            },
        );
    }
    let b = Arc::clone(build);
    let to = move |ncx: &NativeCallContext, s: &SStream, topic: &str, options: &Map| -> RhaiResult<()> {
        let pos = ncx.call_position();
        let (kf, vf) = formats(options, pos)?;
        if topic.is_empty() {
            return Err(error("to: the topic name is empty", pos));
        }
        b.note(format!("to {topic} ({kf}, {vf})"), pos, false);
        s.0.to(topic, Produced::with(kf, vf));
        Ok(())
    };
    let to2 = to.clone();
    engine.register_fn("to", move |ncx: NativeCallContext, s: &mut SStream, topic: &str| {
        to(&ncx, s, topic, &Map::new())
    });
    engine.register_fn(
        "to",
        move |ncx: NativeCallContext, s: &mut SStream, topic: &str, o: Map| to2(&ncx, s, topic, &o),
    );
    let b = Arc::clone(build);
    let b2 = Arc::clone(build);
    engine.register_fn("to", move |ncx: NativeCallContext, s: &mut SStream, f: FnPtr| {
        to_dynamic(&b, s, f, (Format::Auto, Format::Auto), ncx.call_position())
    });
    engine.register_fn(
        "to",
        move |ncx: NativeCallContext, s: &mut SStream, f: FnPtr, o: Map| {
            let pos = ncx.call_position();
            to_dynamic(&b2, s, f, formats(&o, pos)?, pos)
        },
    );

    // Grouping.
    let b = Arc::clone(build);
    let group_by =
        move |ncx: &NativeCallContext, s: &SStream, f: FnPtr, name: Option<String>| -> RhaiResult<SGrouped> {
            let keyed = select_key(&b, s, f, ncx.call_position(), "group_by")?;
            Ok(SGrouped { stream: keyed.0, name })
        };
    let g2 = group_by.clone();
    engine.register_fn("group_by", move |ncx: NativeCallContext, s: &mut SStream, f: FnPtr| {
        group_by(&ncx, s, f, None)
    });
    engine.register_fn(
        "group_by",
        move |ncx: NativeCallContext, s: &mut SStream, f: FnPtr, name: &str| g2(&ncx, s, f, Some(name.to_owned())),
    );
    engine.register_fn("group_by_key", |s: &mut SStream| SGrouped {
        stream: s.0.clone(),
        name: None,
    });

    // Windows.
    let window = |kind: fn(i64, i64, i64) -> WindowKind| {
        move |ncx: NativeCallContext, g: &mut SGrouped, a: Dynamic, b: Dynamic, c: Dynamic| -> RhaiResult<SWindowed> {
            let pos = ncx.call_position();
            let a = duration(&a, pos)?;
            let b = if b.is_unit() { 0 } else { duration(&b, pos)? };
            let c = if c.is_unit() { 0 } else { duration(&c, pos)? };
            if a <= 0 || b < 0 || c < 0 {
                return Err(error("window sizes must be positive and graces not negative", pos));
            }
            Ok(SWindowed {
                grouped: g.clone(),
                kind: kind(a, b, c),
            })
        }
    };
    let tumbling = window(|size, grace, _| WindowKind::Time(size, size, grace));
    let hopping =
        window(|size, advance, grace| WindowKind::Time(size, if advance == 0 { size } else { advance }, grace));
    let sliding = window(|diff, grace, _| WindowKind::Sliding(diff, grace));
    let session = window(|gap, grace, _| WindowKind::Session(gap, grace));
    macro_rules! window_fn {
        ($name:literal, $f:ident) => {{
            let f1 = $f.clone();
            let f2 = $f.clone();
            let f3 = $f;
            engine.register_fn($name, move |n: NativeCallContext, g: &mut SGrouped, a: Dynamic| {
                f1(n, g, a, Dynamic::UNIT, Dynamic::UNIT)
            });
            engine.register_fn(
                $name,
                move |n: NativeCallContext, g: &mut SGrouped, a: Dynamic, b: Dynamic| f2(n, g, a, b, Dynamic::UNIT),
            );
            engine.register_fn(
                $name,
                move |n: NativeCallContext, g: &mut SGrouped, a: Dynamic, b: Dynamic, c: Dynamic| f3(n, g, a, b, c),
            );
        }};
    }
    window_fn!("window_tumbling", tumbling);
    window_fn!("window_hopping", hopping);
    window_fn!("window_sliding", sliding);
    window_fn!("window_session", session);

    // Aggregations, plain and windowed.
    macro_rules! aggregations {
        ($ty:ty, |$g:ident| $grouped:expr, $window:expr) => {{
            let b = Arc::clone(build);
            engine.register_fn("count", move |n: NativeCallContext, $g: &mut $ty| {
                aggregate(&b, &$grouped, $window, Agg::Count, None, n.call_position())
            });
            let b = Arc::clone(build);
            engine.register_fn("count", move |n: NativeCallContext, $g: &mut $ty, name: &str| {
                aggregate(&b, &$grouped, $window, Agg::Count, Some(name), n.call_position())
            });
            let b = Arc::clone(build);
            engine.register_fn("reduce", move |n: NativeCallContext, $g: &mut $ty, f: FnPtr| {
                aggregate(&b, &$grouped, $window, Agg::Reduce(f), None, n.call_position())
            });
            let b = Arc::clone(build);
            engine.register_fn(
                "reduce",
                move |n: NativeCallContext, $g: &mut $ty, f: FnPtr, name: &str| {
                    aggregate(&b, &$grouped, $window, Agg::Reduce(f), Some(name), n.call_position())
                },
            );
            let b = Arc::clone(build);
            engine.register_fn(
                "aggregate",
                move |n: NativeCallContext, $g: &mut $ty, init: Dynamic, f: FnPtr| {
                    aggregate(
                        &b,
                        &$grouped,
                        $window,
                        Agg::Aggregate(init, f, None),
                        None,
                        n.call_position(),
                    )
                },
            );
            let b = Arc::clone(build);
            engine.register_fn(
                "aggregate",
                move |n: NativeCallContext, $g: &mut $ty, init: Dynamic, f: FnPtr, name: &str| {
                    aggregate(
                        &b,
                        &$grouped,
                        $window,
                        Agg::Aggregate(init, f, None),
                        Some(name),
                        n.call_position(),
                    )
                },
            );
            let b = Arc::clone(build);
            engine.register_fn(
                "aggregate",
                move |n: NativeCallContext, $g: &mut $ty, init: Dynamic, f: FnPtr, m: FnPtr| {
                    aggregate(
                        &b,
                        &$grouped,
                        $window,
                        Agg::Aggregate(init, f, Some(m)),
                        None,
                        n.call_position(),
                    )
                },
            );
            let b = Arc::clone(build);
            engine.register_fn(
                "aggregate",
                move |n: NativeCallContext, $g: &mut $ty, init: Dynamic, f: FnPtr, m: FnPtr, name: &str| {
                    aggregate(
                        &b,
                        &$grouped,
                        $window,
                        Agg::Aggregate(init, f, Some(m)),
                        Some(name),
                        n.call_position(),
                    )
                },
            );
        }};
    }
    aggregations!(SGrouped, |g| g, None);
    aggregations!(SWindowed, |w| w.grouped, Some(w.kind));

    // Tables.
    let b = Arc::clone(build);
    engine.register_fn("to_stream", move |n: NativeCallContext, t: &mut STable| {
        b.note("to_stream".to_owned(), n.call_position(), false);
        to_stream(t)
    });
    let b = Arc::clone(build);
    engine.register_fn("suppress", move |n: NativeCallContext, t: &mut STable| -> RhaiResult<STable> {
        let pos = n.call_position();
        match t {
            STable::Windowed(w) => {
                let name = b.store("suppress", None);
                b.note(format!("suppress into store {name}-store"), pos, true);
                let suppressed = crate::dsl::Suppressed::until_window_closes().with_name(&name);
                Ok(STable::Windowed(w.suppress(suppressed)))
            }
            STable::Plain(_) => Err(error("suppress() holds back the updates of a windowed table until its window closes: this table is not windowed", pos)),
        }
    });
}
