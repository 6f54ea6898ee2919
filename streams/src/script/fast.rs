//! Simple predicates evaluated without the interpreter.
//!
//! A `filter` closure whose body is only comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`) of
//! record fields (`r.value.level`, `r.key`, `r.timestamp`, ...) with literals, joined by `&&`,
//! `||` and `!`, is compiled into a [`Predicate`] evaluated straight on the record: no record map,
//! no interpreter call. It answers only where its answer is certain to be rhai's — fields that
//! are strings, integers, booleans or `()`, compared with values of the same type — and gives
//! `None` otherwise, for the step to call the closure as usual (which also reports errors as
//! rhai does).

use std::cmp::Ordering;

use rhai::{AST, ASTNode, Dynamic, Expr, FnPtr, INT, ImmutableString, Map, Stmt, Token};

use crate::processor::{Record, TaskContext};

/// A compiled predicate.
#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    Const(Leaf),
    /// A record field, then map properties.
    Path(Field, Vec<ImmutableString>),
    Compare(Op, Box<Predicate>, Box<Predicate>),
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Key,
    Value,
    Timestamp,
    Topic,
    Partition,
    Offset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A value the predicate can reason about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Leaf {
    Str(ImmutableString),
    Int(INT),
    Bool(bool),
    Unit,
}

impl Predicate {
    /// The predicate of closure `f` (one parameter, nothing captured) in `ast`, if its body is
    /// simple enough.
    pub(crate) fn compile(ast: &AST, f: &FnPtr) -> Option<Self> {
        if !f.curry().is_empty() {
            return None;
        }
        let def = ast
            .iter_fn_def()
            .find(|def| def.name.as_str() == f.fn_name() && def.params.len() == 1)?;
        let param = def.params[0].to_string();
        // An AST of that function alone, to walk its body.
        let mut lib = rhai::Module::new();
        lib.set_script_fn(rhai::Shared::clone(def));
        let only = AST::new(Vec::<Stmt>::new(), lib);
        let mut roots: Vec<Stmt> = Vec::new();
        only.walk(&mut |path: &[ASTNode]| {
            if let [ASTNode::Stmt(stmt)] = path {
                roots.push((*stmt).clone());
            }
            true
        });
        match roots.as_slice() {
            [Stmt::Expr(expr)] => Self::of(expr, &param),
            // A body that is one call (`a == b`) is kept as a call statement.
            [Stmt::FnCall(call, pos)] => Self::of(&Expr::FnCall(call.clone(), *pos), &param),
            _ => None,
        }
    }

    fn of(expr: &Expr, param: &str) -> Option<Self> {
        match expr {
            Expr::StringConstant(s, _) => Some(Self::Const(Leaf::Str(s.clone()))),
            Expr::IntegerConstant(i, _) => Some(Self::Const(Leaf::Int(*i))),
            Expr::BoolConstant(b, _) => Some(Self::Const(Leaf::Bool(*b))),
            Expr::Unit(_) => Some(Self::Const(Leaf::Unit)),
            Expr::Dot(binary, flags, _) if flags.is_empty() => {
                let Expr::Variable(var, _, _) = &binary.lhs else {
                    return None;
                };
                if var.1.as_str() != param {
                    return None;
                }
                let mut props = Vec::new();
                properties(&binary.rhs, &mut props)?;
                let field = match props.first()?.as_str() {
                    "key" => Field::Key,
                    "value" => Field::Value,
                    "timestamp" => Field::Timestamp,
                    "topic" => Field::Topic,
                    "partition" => Field::Partition,
                    "offset" => Field::Offset,
                    _ => return None,
                };
                props.remove(0);
                if field != Field::Key && field != Field::Value && !props.is_empty() {
                    return None;
                }
                Some(Self::Path(field, props))
            }
            Expr::And(items, _) => items
                .iter()
                .map(|e| Self::of(e, param))
                .collect::<Option<_>>()
                .map(Self::And),
            Expr::Or(items, _) => items
                .iter()
                .map(|e| Self::of(e, param))
                .collect::<Option<_>>()
                .map(Self::Or),
            Expr::FnCall(call, _) if call.namespace.is_empty() => {
                let op = match call.op_token.as_ref()? {
                    Token::EqualsTo => Op::Eq,
                    Token::NotEqualsTo => Op::Ne,
                    Token::LessThan => Op::Lt,
                    Token::LessThanEqualsTo => Op::Le,
                    Token::GreaterThan => Op::Gt,
                    Token::GreaterThanEqualsTo => Op::Ge,
                    Token::Bang if call.args.len() == 1 => {
                        return Some(Self::Not(Box::new(Self::of(&call.args[0], param)?)));
                    }
                    _ => return None,
                };
                let [a, b] = call.args.as_slice() else {
                    return None;
                };
                Some(Self::Compare(
                    op,
                    Box::new(Self::of(a, param)?),
                    Box::new(Self::of(b, param)?),
                ))
            }
            _ => None,
        }
    }

    /// Whether `record` passes, or `None` when only rhai can say.
    pub(crate) fn test(&self, ctx: &TaskContext, record: &Record<Dynamic, Dynamic>) -> Option<bool> {
        match self.eval(ctx, record)? {
            Leaf::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn eval(&self, ctx: &TaskContext, record: &Record<Dynamic, Dynamic>) -> Option<Leaf> {
        match self {
            Self::Const(leaf) => Some(leaf.clone()),
            Self::Path(field, props) => match field {
                Field::Key => lookup(&record.key, props),
                Field::Value => lookup(&record.value, props),
                Field::Timestamp => Some(Leaf::Int(record.timestamp)),
                Field::Topic => ctx
                    .source
                    .as_ref()
                    .map(|(t, _, _)| Leaf::Str(ImmutableString::from(&**t))),
                Field::Partition => ctx.source.as_ref().map(|(_, p, _)| Leaf::Int(INT::from(*p))),
                Field::Offset => ctx.source.as_ref().map(|(_, _, o)| Leaf::Int(*o)),
            },
            Self::Compare(op, a, b) => {
                let ordering = match (a.eval(ctx, record)?, b.eval(ctx, record)?) {
                    (Leaf::Str(a), Leaf::Str(b)) => a.as_str().cmp(b.as_str()),
                    (Leaf::Int(a), Leaf::Int(b)) => a.cmp(&b),
                    (Leaf::Bool(a), Leaf::Bool(b)) if matches!(op, Op::Eq | Op::Ne) => a.cmp(&b),
                    // Mixed types and () are rhai's to decide.
                    _ => return None,
                };
                Some(Leaf::Bool(match op {
                    Op::Eq => ordering == Ordering::Equal,
                    Op::Ne => ordering != Ordering::Equal,
                    Op::Lt => ordering == Ordering::Less,
                    Op::Le => ordering != Ordering::Greater,
                    Op::Gt => ordering == Ordering::Greater,
                    Op::Ge => ordering != Ordering::Less,
                }))
            }
            Self::And(items) => Self::short_circuit(items, false, ctx, record),
            Self::Or(items) => Self::short_circuit(items, true, ctx, record),
            Self::Not(inner) => match inner.eval(ctx, record)? {
                Leaf::Bool(b) => Some(Leaf::Bool(!b)),
                _ => None,
            },
        }
    }

    /// `&&` (stops at the first `false`) or `||` (stops at the first `true`): `stop_at` is the
    /// value that decides the whole expression.
    fn short_circuit(
        items: &[Self],
        stop_at: bool,
        ctx: &TaskContext,
        record: &Record<Dynamic, Dynamic>,
    ) -> Option<Leaf> {
        for item in items {
            match item.eval(ctx, record)? {
                Leaf::Bool(b) if b == stop_at => return Some(Leaf::Bool(stop_at)),
                Leaf::Bool(_) => {}
                _ => return None,
            }
        }
        Some(Leaf::Bool(!stop_at))
    }
}

/// The property names of a chain `a.b.c` (after the variable).
fn properties(expr: &Expr, out: &mut Vec<ImmutableString>) -> Option<()> {
    match expr {
        Expr::Property(prop, _) => {
            out.push(prop.2.clone());
            Some(())
        }
        Expr::Dot(binary, flags, _) if flags.is_empty() => {
            properties(&binary.lhs, out)?;
            properties(&binary.rhs, out)
        }
        _ => None,
    }
}

/// `value.p1.p2...` as a leaf: properties of maps (a missing one is `()`, as in rhai).
fn lookup(value: &Dynamic, props: &[ImmutableString]) -> Option<Leaf> {
    let Some((first, rest)) = props.split_first() else {
        return leaf(value);
    };
    let map = value.read_lock::<Map>()?;
    match map.get(first.as_str()) {
        Some(next) => lookup(next, rest),
        None if rest.is_empty() => Some(Leaf::Unit),
        // `().x` is an error in rhai.
        None => None,
    }
}

fn leaf(value: &Dynamic) -> Option<Leaf> {
    if value.is_unit() {
        return Some(Leaf::Unit);
    }
    if let Ok(i) = value.as_int() {
        return Some(Leaf::Int(i));
    }
    if let Ok(b) = value.as_bool() {
        return Some(Leaf::Bool(b));
    }
    value.read_lock::<ImmutableString>().map(|s| Leaf::Str(s.clone()))
}

#[cfg(test)]
mod tests {
    use rhai::Engine;

    use super::*;

    /// The predicate of the closure `source` evaluates to, with the engine and AST to run it.
    fn compiled(source: &str) -> (Option<Predicate>, Engine, AST, FnPtr) {
        let engine = Engine::new();
        let ast = engine.compile(source).expect("compiles");
        let f: FnPtr = engine.eval_ast(&ast).expect("a closure");
        (Predicate::compile(&ast, &f), engine, ast, f)
    }

    fn predicate(source: &str) -> Option<Predicate> {
        compiled(source).0
    }

    fn record(value: &str) -> Record<Dynamic, Dynamic> {
        Record::new(
            Dynamic::from("k"),
            crate::script::from_json(value.as_bytes()).expect("json"),
            5,
        )
    }

    /// The fast answer, checked against rhai's wherever it gives one.
    fn test(source: &str, value: &str) -> Option<bool> {
        let (p, engine, ast, f) = compiled(source);
        let p = p.expect("a simple predicate");
        let ctx = TaskContext::new("app".into(), 0);
        let r = record(value);
        let fast = p.test(&ctx, &r);
        if let Some(fast) = fast {
            let mut map = Map::new();
            map.insert("key".into(), r.key.clone());
            map.insert("value".into(), r.value.clone());
            map.insert("timestamp".into(), Dynamic::from_int(r.timestamp));
            let rhai: bool = f
                .call(&engine, &ast, (Dynamic::from_map(map),))
                .expect("rhai agrees it is a boolean");
            assert_eq!(fast, rhai, "{source} on {value}");
        }
        fast
    }

    #[test]
    fn simple_predicates_compile_and_agree_with_rhai() {
        let p = r#"|r| r.value.level == "ERROR" && !(r.value.n < 3) || r.key == "z""#;
        assert_eq!(test(p, r#"{"level":"ERROR","n":3}"#), Some(true));
        assert_eq!(test(p, r#"{"level":"ERROR","n":2}"#), Some(false));
        assert_eq!(test(p, r#"{"level":"INFO","n":9}"#), Some(false));
        // A missing field is (): comparing it with a string is left to rhai.
        assert_eq!(test(p, r#"{"n":9}"#), None);
        // Not a map: rhai reports the error.
        assert_eq!(test(p, r#"[1]"#), None);
        let p = r#"|r| r.value.level == "ERROR""#;
        assert_eq!(test(p, r#"{"level":"ERROR"}"#), Some(true));
        assert_eq!(test(p, r#"{"level":"error"}"#), Some(false));
        let p = r#"|r| r.value.name < "m" || r.value.n >= 10 || r.value.n != 3"#;
        assert_eq!(test(p, r#"{"name":"k","n":3}"#), Some(true));
        assert_eq!(test(p, r#"{"name":"z","n":3}"#), Some(false));
        assert_eq!(test(p, r#"{"name":"z","n":4}"#), Some(true));
        let p = r#"|r| r.timestamp >= 5 && r.value.deep.er == true"#;
        assert_eq!(test(p, r#"{"deep":{"er":true}}"#), Some(true));
        assert_eq!(test(p, r#"{"deep":{"er":false}}"#), Some(false));
        assert_eq!(test(p, r#"{"deep":{"er":1}}"#), None);
    }

    #[test]
    fn anything_else_is_left_to_rhai() {
        assert!(predicate(r#"|r| r.value.level.len() > 3"#).is_none());
        assert!(predicate(r#"let x = "a"; |r| r.value == x"#).is_none());
        assert!(predicate(r#"|r| { let l = r.value.level; l == "E" }"#).is_none());
        assert!(predicate(r#"|r| r.headers.h == "x""#).is_none());
        assert!(predicate(r#"|r| r.value?.level == "x""#).is_none());
        assert!(predicate(r#"|r| r.value["level"] == "x""#).is_none());
    }
    #[test]
    fn a_pipeline_filter_gets_its_fast_predicate() {
        let script = r#"stream("in").filter(|r| r.value.level == "ERROR").filter(|r| r.value.len() > 2).to("out");"#;
        let p = crate::script::Pipeline::compile(script, &crate::script::ScriptOptions::named("t")).expect("compiles");
        let fast: Vec<bool> = p.program.steps.iter().map(|s| s.fast.is_some()).collect();
        assert_eq!(fast, [true, false]);
    }
}
