//! The policy's syntax tree, read from the pest parse of `grammar.pest`.
//! Every node keeps its byte span, so that each later error points at its
//! source.

use std::ops::Range;

use pest::Parser;
use pest::iterators::Pair;

pub type Span = Range<usize>;

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub struct PolicyParser;
}

use grammar::{PolicyParser, Rule as R};

/// A word of the source and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Num(i128),
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpannedValue {
    pub value: Value,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EventKw {
    Request,
    Response,
    Error,
    Ipc,
    Call,
    Execute,
    Security,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `self`: the source itself.
    Own(Span),
    Name(Word),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Methods {
    /// `*`: every method, declared or not.
    Any(Span),
    List(Vec<Word>),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A side of an integrity comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LevelOf {
    Source,
    Target,
    /// A level by name.
    Named(Word),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CondKind {
    /// `target is self` (true) / `target is child` (false).
    TargetIs(bool),
    /// `source level >= target level`, `target level < high`...
    Level(LevelOf, CmpOp, LevelOf),
    /// `Map.var <op> value`.
    Var(Word, CmpOp, SpannedValue),
    /// `field in Set` (a hashset).
    Member(Word, Word),
    In(Word, Vec<SpannedValue>),
    Has(Word, Word),
    Cmp(Word, CmpOp, SpannedValue),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub negate: bool,
    pub kind: CondKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub deny: bool,
    pub event: EventKw,
    pub event_span: Span,
    pub src: Word,
    pub dst: Target,
    pub methods: Option<Methods>,
    pub conds: Vec<Cond>,
    /// `then ...`: what the rule does to the target's state.
    pub then: Vec<Effect>,
    pub audit: bool,
    pub span: Span,
}

/// An effect of a granting rule on the target's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `Machine = state`.
    Machine(Word, Word),
    /// `Map.var = v`, `+= v`, `-= v` (the op: '=', '+', '-').
    Var(Word, char, SpannedValue),
    /// `Set add field`, `Set remove field`.
    Set(Word, bool, Word),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuotaValue {
    Amount(u64),
    Sched(Vec<Word>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    Let {
        var: Word,
        class: Word,
        named: Option<(String, Span)>,
        by: Option<Word>,
        /// The start's fields (`{ path = "/bin/x" }`).
        fields: Vec<(Word, SpannedValue)>,
        span: Span,
    },
    Expect {
        grant: bool,
        event: EventKw,
        event_span: Span,
        src: Word,
        dst: Word,
        method: Option<Word>,
        fields: Vec<(Word, SpannedValue)>,
        span: Span,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Class(Vec<Word>),
    Instance(Vec<Word>),
    Set {
        name: Word,
        members: Vec<Word>,
    },
    Machine {
        name: Word,
        on: Vec<Word>,
        states: Vec<Word>,
        initial: Word,
    },
    /// `map Name on classes { var, ... }` (PSL's StaticMap).
    Map {
        name: Word,
        on: Vec<Word>,
        vars: Vec<Word>,
    },
    /// `hashset Name on classes;` (PSL's HashSet).
    HashSet {
        name: Word,
        on: Vec<Word>,
    },
    Quota {
        on: Vec<Word>,
        items: Vec<(Word, QuotaValue, Span)>,
    },
    AuditGrants,
    /// `levels { low, high }`: integrity levels, lowest first.
    Levels(Vec<Word>),
    /// `level classes = name;`
    Level {
        on: Vec<Word>,
        level: Word,
    },
    Board {
        name: Word,
        items: Vec<Item>,
    },
    Rule(Rule),
    Test {
        name: String,
        span: Span,
        stmts: Vec<Stmt>,
    },
}

/// A syntax error: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

/// Parses a policy file.
pub fn parse(src: &str) -> Result<Vec<Item>, SyntaxError> {
    // Track the literal tokens each failed attempt expected too (`;`,
    // `->`...), so that an error points at the place and names them.
    pest::set_error_detail(true);
    let mut pairs = PolicyParser::parse(R::file, src).map_err(syntax_error)?;
    let file = pairs.next().expect("the grammar's file rule");
    file.into_inner()
        .filter(|p| p.as_rule() != R::EOI)
        .map(item)
        .collect()
}

fn syntax_error(e: pest::error::Error<R>) -> SyntaxError {
    use pest::error::{ErrorVariant, InputLocation};
    if let Some(attempts) = e.parse_attempts() {
        let at = attempts.max_position;
        let mut tokens: Vec<String> = attempts
            .expected_tokens()
            .iter()
            .map(|t| t.to_string())
            // Whitespace and comments may come anywhere, and the letters of
            // a name go on: not worth naming.
            .filter(|t| {
                !matches!(
                    t.as_str(),
                    " " | "\t" | "\r" | "\n" | "#" | "-" | "_" | "." | ".*" | "@"
                ) && !t.contains("..")
            })
            .map(|t| format!("`{t}`"))
            .collect();
        for stack in attempts.call_stacks() {
            if let Some(r) = stack.deepest.get_rule() {
                tokens.push(rule_name(*r).to_string());
            }
        }
        tokens.sort();
        tokens.dedup();
        if !tokens.is_empty() {
            return SyntaxError {
                span: at..at,
                message: format!("expected {}", tokens.join(", ")),
            };
        }
    }
    let span = match e.location {
        InputLocation::Pos(p) => p..p,
        InputLocation::Span((a, b)) => a..b,
    };
    let message = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
            let mut names: Vec<&str> = positives.iter().map(|r| rule_name(*r)).collect();
            names.sort_unstable();
            names.dedup();
            format!("expected {}", names.join(", "))
        }
        ErrorVariant::ParsingError { .. } => "unexpected input".into(),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    SyntaxError { span, message }
}

/// How an error names what the grammar expected.
fn rule_name(r: R) -> &'static str {
    match r {
        R::EOI => "end of file",
        R::ident => "a name",
        R::name => "a class, set or method name",
        R::string => "a string",
        R::number | R::amount => "a number",
        R::item
        | R::class_decl
        | R::instance_decl
        | R::set_decl
        | R::machine_decl
        | R::map_decl
        | R::hashset_decl
        | R::quota_decl
        | R::audit_decl
        | R::levels_decl
        | R::level_decl
        | R::board_block
        | R::rule
        | R::test_block => {
            "a declaration (class, instance, set, machine, quota, audit, levels, level, board, grant, deny, test)"
        }
        R::effect => "`grant` or `deny`",
        R::event => "an event (request, response, error, ipc, call, execute, security)",
        R::target => "a target (a class, a set or `self`)",
        R::methods => "methods or `*`",
        R::cond => "a condition",
        R::cmp_op => "a comparison (==, !=, <, <=, >, >=)",
        R::value => "a value",
        R::unit => "a unit (KiB, MiB, GiB)",
        R::let_stmt | R::expect_stmt => "`let` or `expect`",
        R::fields | R::field_val => "field values",
        R::transition => "`then`",
        _ => "more",
    }
}

fn span(p: &Pair<'_, R>) -> Span {
    let s = p.as_span();
    s.start()..s.end()
}

fn word(p: Pair<'_, R>) -> Word {
    Word {
        text: p.as_str().to_string(),
        span: span(&p),
    }
}

fn names(p: Pair<'_, R>) -> Vec<Word> {
    p.into_inner().map(word).collect()
}

fn event(p: &Pair<'_, R>) -> EventKw {
    match p.as_str() {
        "request" => EventKw::Request,
        "response" => EventKw::Response,
        "error" => EventKw::Error,
        "ipc" => EventKw::Ipc,
        "call" => EventKw::Call,
        "security" => EventKw::Security,
        _ => EventKw::Execute,
    }
}

fn item(p: Pair<'_, R>) -> Result<Item, SyntaxError> {
    let whole = span(&p);
    Ok(match p.as_rule() {
        R::class_decl => Item::Class(names(p)),
        R::instance_decl => Item::Instance(names(p)),
        R::set_decl => {
            let mut it = p.into_inner();
            let name = word(it.next().expect("set name"));
            Item::Set {
                name,
                members: it.map(word).collect(),
            }
        }
        R::machine_decl => {
            let mut it = p.into_inner();
            let name = word(it.next().expect("machine name"));
            let on = names(it.next().expect("machine classes"));
            let mut rest: Vec<Word> = it.map(word).collect();
            let initial = rest.pop().expect("initial state");
            Item::Machine {
                name,
                on,
                states: rest,
                initial,
            }
        }
        R::map_decl => {
            let mut it = p.into_inner();
            let name = word(it.next().expect("map name"));
            let on = names(it.next().expect("map classes"));
            Item::Map {
                name,
                on,
                vars: it.map(word).collect(),
            }
        }
        R::hashset_decl => {
            let mut it = p.into_inner();
            let name = word(it.next().expect("hashset name"));
            let on = names(it.next().expect("hashset classes"));
            Item::HashSet { name, on }
        }
        R::quota_decl => {
            let mut it = p.into_inner();
            let on = names(it.next().expect("quota classes"));
            let mut items = Vec::new();
            for q in it {
                let qspan = span(&q);
                let mut qi = q.into_inner();
                let key = word(qi.next().expect("quota key"));
                let v = qi.next().expect("quota value");
                let value = match v.as_rule() {
                    R::sched_set => QuotaValue::Sched(names(v)),
                    _ => QuotaValue::Amount(amount(v)?),
                };
                items.push((key, value, qspan));
            }
            Item::Quota { on, items }
        }
        R::audit_decl => Item::AuditGrants,
        R::levels_decl => Item::Levels(names(p)),
        R::level_decl => {
            let mut on: Vec<Word> = p.into_inner().map(word).collect();
            let level = on.pop().expect("a level");
            Item::Level { on, level }
        }
        R::board_block => {
            let mut it = p.into_inner();
            let name = word(it.next().expect("board name"));
            Item::Board {
                name,
                items: it.map(item).collect::<Result<_, _>>()?,
            }
        }
        R::rule => Item::Rule(rule(p)?),
        R::test_block => {
            let mut it = p.into_inner();
            let name = string(it.next().expect("test name"));
            let stmts = it.map(stmt).collect::<Result<_, _>>()?;
            Item::Test {
                name: name.0,
                span: whole,
                stmts,
            }
        }
        other => unreachable!("item {other:?}"),
    })
}

fn amount(p: Pair<'_, R>) -> Result<u64, SyntaxError> {
    let s = span(&p);
    let mut it = p.into_inner();
    let n = number(it.next().expect("number"))?;
    let unit = match it.next().map(|u| u.as_str().to_string()).as_deref() {
        Some("KiB") => 1 << 10,
        Some("MiB") => 1 << 20,
        Some("GiB") => 1 << 30,
        _ => 1,
    };
    u64::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or(SyntaxError {
            span: s,
            message: "the amount must be a non-negative 64-bit number".into(),
        })
}

fn number(p: Pair<'_, R>) -> Result<i128, SyntaxError> {
    let text = p.as_str();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => i128::from_str_radix(hex, 16),
        None => text.parse::<i128>(),
    };
    parsed.map_err(|_| SyntaxError {
        span: span(&p),
        message: "number too large".into(),
    })
}

fn string(p: Pair<'_, R>) -> (String, Span) {
    let s = span(&p);
    let inner = p.into_inner().next().map_or("", |i| i.as_str());
    (inner.to_string(), s)
}

fn value(p: Pair<'_, R>) -> Result<SpannedValue, SyntaxError> {
    let s = span(&p);
    let v = p.into_inner().next().expect("value");
    let value = match v.as_rule() {
        R::string => Value::Str(string(v).0),
        R::number => Value::Num(number(v)?),
        _ => Value::Name(v.as_str().to_string()),
    };
    Ok(SpannedValue { value, span: s })
}

fn rule(p: Pair<'_, R>) -> Result<crate::ast::Rule, SyntaxError> {
    let whole = span(&p);
    let mut it = p.into_inner().peekable();
    let deny = it.next().expect("effect").as_str() == "deny";
    let ev = it.next().expect("event");
    let src = word(it.next().expect("source"));
    let t = it
        .next()
        .expect("target")
        .into_inner()
        .next()
        .expect("target");
    let dst = match t.as_rule() {
        R::self_kw => Target::Own(span(&t)),
        _ => Target::Name(word(t)),
    };
    let mut r = crate::ast::Rule {
        deny,
        event: event(&ev),
        event_span: span(&ev),
        src,
        dst,
        methods: None,
        conds: Vec::new(),
        then: Vec::new(),
        audit: false,
        span: whole,
    };
    for part in it {
        match part.as_rule() {
            R::methods => {
                let s = span(&part);
                let inner: Vec<Pair<'_, R>> = part.into_inner().collect();
                r.methods = Some(match inner.first().map(|p| p.as_rule()) {
                    Some(R::any_method) => Methods::Any(s),
                    _ => Methods::List(inner.into_iter().map(word).collect()),
                });
            }
            R::conds => {
                for c in part.into_inner() {
                    r.conds.push(cond(c)?);
                }
            }
            R::transition => {
                for e in part.into_inner() {
                    let e = e.into_inner().next().expect("an effect");
                    let kind = e.as_rule();
                    let mut ei = e.into_inner();
                    let target = word(ei.next().expect("what it changes"));
                    r.then.push(match kind {
                        R::var_change => {
                            let op = match ei.next().expect("op").as_str() {
                                "+=" => '+',
                                "-=" => '-',
                                _ => '=',
                            };
                            Effect::Var(target, op, value(ei.next().expect("value"))?)
                        }
                        R::set_change => {
                            let add = ei.next().expect("add or remove").as_str() == "add";
                            Effect::Set(target, add, word(ei.next().expect("field")))
                        }
                        _ => Effect::Machine(target, word(ei.next().expect("state"))),
                    });
                }
            }
            R::audit_flag => r.audit = true,
            other => unreachable!("rule part {other:?}"),
        }
    }
    Ok(r)
}

fn cond(p: Pair<'_, R>) -> Result<Cond, SyntaxError> {
    let s = span(&p);
    let mut negate = false;
    let mut kind = None;
    for part in p.into_inner() {
        match part.as_rule() {
            R::negation => negate = true,
            R::var_cond => {
                let mut it = part.into_inner();
                let var = word(it.next().expect("variable"));
                let op = cmp_op(it.next().expect("op").as_str());
                let v = value(it.next().expect("value"))?;
                kind = Some(CondKind::Var(var, op, v));
            }
            R::member_cond => {
                let mut it = part.into_inner();
                let field = word(it.next().expect("field"));
                let set = word(it.next().expect("set"));
                kind = Some(CondKind::Member(field, set));
            }
            R::level_cond => {
                let mut it = part.into_inner();
                let side = |p: Pair<'_, R>| match (p.as_rule(), p.as_str()) {
                    (R::party, "source") => LevelOf::Source,
                    (R::party, _) => LevelOf::Target,
                    _ => LevelOf::Named(word(p)),
                };
                let lhs = side(it.next().expect("party"));
                let op = cmp_op(it.next().expect("op").as_str());
                let rhs = side(it.next().expect("level"));
                kind = Some(CondKind::Level(lhs, op, rhs));
            }
            R::target_is => {
                let which = part.into_inner().next().expect("self or child");
                kind = Some(CondKind::TargetIs(which.as_rule() == R::self_kw));
            }
            R::in_cond => {
                let mut it = part.into_inner();
                let field = word(it.next().expect("field"));
                let values = it.map(value).collect::<Result<_, _>>()?;
                kind = Some(CondKind::In(field, values));
            }
            R::has_cond => {
                let mut it = part.into_inner();
                let field = word(it.next().expect("field"));
                let bit = word(it.next().expect("bit"));
                kind = Some(CondKind::Has(field, bit));
            }
            R::cmp_cond => {
                let mut it = part.into_inner();
                let field = word(it.next().expect("field"));
                let op = cmp_op(it.next().expect("op").as_str());
                let v = value(it.next().expect("value"))?;
                kind = Some(CondKind::Cmp(field, op, v));
            }
            other => unreachable!("condition part {other:?}"),
        }
    }
    Ok(Cond {
        negate,
        kind: kind.expect("a condition"),
        span: s,
    })
}

fn stmt(p: Pair<'_, R>) -> Result<Stmt, SyntaxError> {
    let whole = span(&p);
    match p.as_rule() {
        R::let_stmt => {
            let mut var = None;
            let mut class = None;
            let mut named = None;
            let mut by = None;
            let mut fields = Vec::new();
            for part in p.into_inner() {
                match part.as_rule() {
                    R::ident if var.is_none() => var = Some(word(part)),
                    R::name => class = Some(word(part)),
                    R::string => named = Some(string(part)),
                    R::ident => by = Some(word(part)),
                    R::fields => fields = field_values(part)?,
                    other => unreachable!("let part {other:?}"),
                }
            }
            Ok(Stmt::Let {
                var: var.expect("variable"),
                class: class.expect("class"),
                named,
                by,
                fields,
                span: whole,
            })
        }
        _ => {
            let mut it = p.into_inner().peekable();
            let grant = it.next().expect("effect").as_str() == "grant";
            let ev = it.next().expect("event");
            let src = word(it.next().expect("source"));
            let dst = word(it.next().expect("target"));
            let mut method = None;
            let mut fields = Vec::new();
            for part in it {
                match part.as_rule() {
                    R::name => method = Some(word(part)),
                    R::fields => fields = field_values(part)?,
                    other => unreachable!("expect part {other:?}"),
                }
            }
            Ok(Stmt::Expect {
                grant,
                event: event(&ev),
                event_span: span(&ev),
                src,
                dst,
                method,
                fields,
                span: whole,
            })
        }
    }
}

fn field_values(p: Pair<'_, R>) -> Result<Vec<(Word, SpannedValue)>, SyntaxError> {
    p.into_inner()
        .map(|f| {
            let mut fi = f.into_inner();
            let k = word(fi.next().expect("field"));
            let v = value(fi.next().expect("value"))?;
            Ok((k, v))
        })
        .collect()
}

fn cmp_op(s: &str) -> CmpOp {
    match s {
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        _ => CmpOp::Ge,
    }
}
