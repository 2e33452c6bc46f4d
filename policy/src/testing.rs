//! The policy's own tests (`test "..." { let ...; expect ...; }`), run on
//! the compiled tables with the kernel's evaluator. Each test starts from
//! nothing: its processes, their parents and their states are its own.

use std::collections::HashMap;

use kos_abi::decl::FieldKind;
use policy_table::{Event, KERNEL, Policy, Query, State, Subject};

use crate::Diag;
use crate::ast::{EventKw, Span, Stmt, Value, Word};
use crate::compile::{Compiled, number_fits};
use crate::world::FieldInfo;

/// A test's result: the failed expectations (none: it passed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub location: String,
    pub failures: Vec<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A process of a test.
struct Proc {
    subject: Subject,
    parent: Option<usize>,
    state: State,
    /// Its integrity level: its class's, or its creator's if lower.
    level: u8,
}

/// A message of a test (or of `explain`), ready to decide on.
pub struct Message {
    pub event: Event,
    pub endpoint: u16,
    pub method: u16,
    pub fixed: [u8; policy_table::MAX_FIXED],
    pub name: Vec<u8>,
    pub path: Vec<u8>,
}

/// Runs every test. Names a test cannot resolve are errors (`Err`);
/// otherwise each test's outcome.
pub fn run(c: &Compiled) -> Result<Vec<Outcome>, Vec<Diag>> {
    let policy = Policy::parse(c.bytes.bytes()).map_err(|e| {
        vec![Diag::error(
            0..0,
            format!("the compiled table does not read back: {e:?}"),
        )]
    })?;
    let mut diags = Vec::new();
    let mut out = Vec::new();
    for t in &c.tests {
        let mut failures = Vec::new();
        let mut procs = vec![Proc {
            subject: KERNEL,
            parent: None,
            state: State::new(0),
            level: policy.level(KERNEL),
        }];
        let mut vars: HashMap<String, usize> = HashMap::new();
        for stmt in &t.stmts {
            if let Err(d) = step(c, &policy, stmt, &mut procs, &mut vars, &mut failures) {
                diags.push(d);
                break;
            }
        }
        out.push(Outcome {
            name: t.name.clone(),
            location: c.source.location(t.span.start),
            failures,
        });
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

fn step(
    c: &Compiled,
    policy: &Policy<'_>,
    stmt: &Stmt,
    procs: &mut Vec<Proc>,
    vars: &mut HashMap<String, usize>,
    failures: &mut Vec<String>,
) -> Result<(), Diag> {
    match stmt {
        Stmt::Let {
            var,
            class,
            named,
            by,
            fields,
            span,
        } => {
            let (class_name, inst) = class.text.split_once('@').unwrap_or((&class.text, ""));
            if c.subject(class_name).is_none() {
                return Err(Diag::error(
                    class.span.clone(),
                    format!("unknown class `{class_name}`"),
                ));
            }
            let name = named.as_ref().map_or(inst, |n| n.0.as_str());
            let Some(subject) = policy.subject(class_name.as_bytes(), name.as_bytes()) else {
                return Err(Diag::error(
                    class.span.clone(),
                    format!("unknown class `{class_name}`"),
                ));
            };
            // Without `by`, the process is given (no start is checked).
            let Some(by) = by else {
                if !fields.is_empty() {
                    return Err(Diag::error(
                        span.clone(),
                        "fields of a start need `by <process>`",
                    ));
                }
                procs.push(Proc {
                    subject,
                    parent: None,
                    state: State::new(policy.initial_state(subject)),
                    level: policy.level(subject),
                });
                vars.insert(var.text.clone(), procs.len() - 1);
                return Ok(());
            };
            let parent = *vars
                .get(&by.text)
                .or((by.text == crate::compile::KERNEL_ALIAS).then_some(&0))
                .ok_or_else(|| {
                    Diag::error(
                        by.span.clone(),
                        format!("unknown process `{}` (start it with `let`)", by.text),
                    )
                })?;
            let mut msg = message(c, Event::Execute, None, fields, span)?;
            if msg.name.is_empty() {
                msg.name = name.as_bytes().to_vec();
            }
            let level = policy.level(subject).min(procs[parent].level);
            let fresh = State::new(policy.initial_state(subject));
            let mut q = query(&msg, procs[parent].subject, subject, false, false, &fresh);
            q.src_level = procs[parent].level;
            q.dst_level = level;
            let d = policy.decide(&q);
            let state = if d.granted && d.effects {
                policy.effects(&q)
            } else {
                fresh
            };
            if !d.granted {
                failures.push(format!(
                    "{}: `{}` cannot be started by `{}`: {}",
                    c.source.location(span.start),
                    class.text,
                    by.text,
                    why(policy, d.rule)
                ));
                // Go on as if started, to report more.
            }
            procs.push(Proc {
                subject,
                parent: Some(parent),
                state,
                level,
            });
            vars.insert(var.text.clone(), procs.len() - 1);
            Ok(())
        }
        Stmt::Expect {
            grant,
            event,
            event_span,
            src,
            dst,
            method,
            fields,
            span,
        } => {
            let event = match event {
                EventKw::Request => Event::Request,
                EventKw::Response => Event::Response,
                EventKw::Error => Event::Error,
                EventKw::Call => Event::Call,
                EventKw::Execute => Event::Execute,
                EventKw::Security => Event::Security,
                EventKw::Ipc => {
                    return Err(Diag::error(
                        event_span.clone(),
                        "`expect` takes one event: request, response, error, call, execute or security",
                    ));
                }
            };
            let s = process(c, policy, src, procs, vars)?;
            let msg_fields: Vec<(Word, crate::ast::SpannedValue)> = fields.clone();
            let (d_subject, d_index) = if event == Event::Execute {
                let name = msg_fields
                    .iter()
                    .find(|(k, _)| k.text == "name")
                    .and_then(|(_, v)| match &v.value {
                        Value::Str(s) => Some(s.clone()),
                        _ => None,
                    });
                let (class_name, inst) = dst.text.split_once('@').unwrap_or((&dst.text, ""));
                let name = name.unwrap_or_else(|| inst.to_string());
                let subject = policy
                    .subject(class_name.as_bytes(), name.as_bytes())
                    .ok_or_else(|| {
                        Diag::error(dst.span.clone(), format!("unknown class `{class_name}`"))
                    })?;
                (subject, None)
            } else {
                let i = process(c, policy, dst, procs, vars)?;
                (procs[i].subject, Some(i))
            };
            let msg = message(c, event, method.as_ref(), &msg_fields, span)?;
            let target_self = d_index == Some(s);
            let target_child = d_index.is_some_and(|i| procs[i].parent == Some(s));
            let state = d_index.map_or(State::new(policy.initial_state(d_subject)), |i| {
                procs[i].state
            });
            let mut q = query(
                &msg,
                procs[s].subject,
                d_subject,
                target_self,
                target_child,
                &state,
            );
            q.src_level = procs[s].level;
            q.dst_level = match d_index {
                Some(i) => procs[i].level,
                None => policy.level(d_subject).min(procs[s].level),
            };
            let d = policy.decide(&q);
            let after = (d.granted && d.effects).then(|| policy.effects(&q));
            if d.granted != *grant {
                failures.push(format!(
                    "{}: expected {}, got {}: {}",
                    c.source.location(span.start),
                    if *grant { "grant" } else { "deny" },
                    if d.granted { "grant" } else { "deny" },
                    why(policy, d.rule)
                ));
            }
            if let (Some(state), Some(i)) = (after, d_index) {
                procs[i].state = state;
            }
            Ok(())
        }
    }
}

/// The process a test names: a variable, or else a class (a fresh process
/// of it, started by the kernel).
fn process(
    c: &Compiled,
    policy: &Policy<'_>,
    w: &Word,
    procs: &mut Vec<Proc>,
    vars: &HashMap<String, usize>,
) -> Result<usize, Diag> {
    if let Some(&i) = vars.get(&w.text) {
        return Ok(i);
    }
    let subject = c.subject(&w.text).ok_or_else(|| {
        Diag::error(
            w.span.clone(),
            format!("unknown process or class `{}`", w.text),
        )
    })?;
    if subject == KERNEL {
        return Ok(0);
    }
    procs.push(Proc {
        subject,
        parent: None,
        state: State::new(policy.initial_state(subject)),
        level: policy.level(subject),
    });
    Ok(procs.len() - 1)
}

/// Why a decision was made, for a person.
pub fn why(policy: &Policy<'_>, rule: u16) -> String {
    match policy.rule_source(rule) {
        Some((loc, text)) => format!("{loc}: `{text}`"),
        None => "no rule grants it".to_string(),
    }
}

pub(crate) fn query<'a>(
    msg: &'a Message,
    src: Subject,
    dst: Subject,
    target_self: bool,
    target_child: bool,
    dst_state: &'a State,
) -> Query<'a> {
    Query {
        event: msg.event,
        src,
        dst,
        endpoint: msg.endpoint,
        method: msg.method,
        fixed: &msg.fixed,
        name: &msg.name,
        path: &msg.path,
        target_self,
        target_child,
        dst_state,
        src_level: 0,
        dst_level: 0,
    }
}

/// A message of `event` for `method` with these field values.
pub fn message(
    c: &Compiled,
    event: Event,
    method: Option<&Word>,
    fields: &[(Word, crate::ast::SpannedValue)],
    span: &Span,
) -> Result<Message, Diag> {
    let mut msg = Message {
        event,
        endpoint: 0,
        method: 0,
        fixed: [0; policy_table::MAX_FIXED],
        name: Vec::new(),
        path: Vec::new(),
    };
    let known: Vec<FieldInfo> = if event == Event::Execute {
        if let Some(m) = method {
            return Err(Diag::error(m.span.clone(), "a process start has no method"));
        }
        c.world.execute_fields.clone()
    } else {
        let m = method
            .ok_or_else(|| Diag::error(span.clone(), "which method? add `: Interface.Method`"))?;
        let info = c
            .method(&m.text)
            .map_err(|e| Diag::error(m.span.clone(), e))?;
        let kernel = c
            .world
            .interfaces
            .iter()
            .any(|i| i.kernel && i.name == info.interface);
        if kernel != (event == Event::Call) {
            return Err(Diag::error(
                m.span.clone(),
                if kernel {
                    "a kernel method is a `call`"
                } else {
                    "a service method is a `request`, `response` or `error`"
                },
            ));
        }
        msg.endpoint = info.endpoint;
        msg.method = info.id;
        match event {
            Event::Response | Event::Error => info.results.clone(),
            _ => info.fields.clone(),
        }
    };
    for (k, v) in fields {
        let f = known
            .iter()
            .find(|f| f.name == k.text)
            .ok_or_else(|| Diag::error(k.span.clone(), format!("no field `{}` here", k.text)))?;
        if f.kind == FieldKind::Arena {
            if event != Event::Execute {
                return Err(Diag::error(
                    k.span.clone(),
                    format!(
                        "`{}` is in the message's arena, which the policy does not read",
                        f.name
                    ),
                ));
            }
            let Value::Str(s) = &v.value else {
                return Err(Diag::error(v.span.clone(), "a string goes here"));
            };
            match f.name.as_str() {
                "name" => msg.name = s.as_bytes().to_vec(),
                "path" => msg.path = s.as_bytes().to_vec(),
                _ => {
                    return Err(Diag::error(
                        k.span.clone(),
                        "this string field cannot be set here",
                    ));
                }
            }
            continue;
        }
        let value = match &v.value {
            Value::Num(n) => number_fits(f, *n)
                .ok_or_else(|| Diag::error(v.span.clone(), format!("does not fit `{}`", f.name)))?,
            Value::Name(n) => f
                .values
                .iter()
                .find(|(x, _)| x == n)
                .map(|x| x.1)
                .ok_or_else(|| {
                    Diag::error(
                        v.span.clone(),
                        format!("`{n}` is not a value of `{}`", f.name),
                    )
                })?,
            Value::Str(_) => return Err(Diag::error(v.span.clone(), "a number goes here")),
        };
        let end = f.offset + f.size;
        if end > msg.fixed.len() {
            return Err(Diag::error(
                k.span.clone(),
                "field beyond the fixed part conditions read",
            ));
        }
        msg.fixed[f.offset..end].copy_from_slice(&value.to_le_bytes()[..f.size]);
    }
    Ok(msg)
}
