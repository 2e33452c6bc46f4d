//! `explain`: the decision on one message, and every rule that took part,
//! with where it is written.

use kos_abi::decl::FieldKind;
use policy_table::{Event, Policy};

use crate::ast::{SpannedValue, Value, Word};
use crate::compile::Compiled;
use crate::testing::{message, query, why};

/// A question: may `src` send `method` to `dst` (with these fields)?
#[derive(Clone, Debug, Default)]
pub struct Question {
    pub src: String,
    pub dst: String,
    /// `Interface.Method`, or `execute` for a process start.
    pub method: String,
    /// `response` or `error` instead of the method's request or call.
    pub event: Option<String>,
    /// `field=value`; `target=self` or `target=child` for calls on a
    /// process; `state=<name>` for the target's state.
    pub fields: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub granted: bool,
    /// The decision and the rules behind it, for a person.
    pub text: String,
}

fn word(s: &str) -> Word {
    Word {
        text: s.to_string(),
        span: 0..0,
    }
}

pub fn explain(c: &Compiled, q: &Question) -> Result<Answer, String> {
    let policy = Policy::parse(c.bytes.bytes()).map_err(|e| format!("bad table: {e:?}"))?;
    let subject = |name: &str| {
        let name = if name == crate::compile::KERNEL_ALIAS {
            crate::compile::KERNEL_CLASS
        } else {
            name
        };
        let (class, inst) = name.split_once('@').unwrap_or((name, ""));
        c.subject(class)
            .and_then(|_| policy.subject(class.as_bytes(), inst.as_bytes()))
            .ok_or_else(|| {
                format!(
                    "the policy names no class `{name}` (it names {})",
                    c.subject_names().join(", ")
                )
            })
    };
    let src = subject(&q.src)?;
    let dst = subject(&q.dst)?;
    let event = if q.method == "execute" {
        Event::Execute
    } else {
        let m = c.method(&q.method)?;
        let kernel = c
            .world
            .interfaces
            .iter()
            .any(|i| i.kernel && i.name == m.interface);
        match q.event.as_deref() {
            None | Some("request") | Some("call") => {
                if kernel {
                    Event::Call
                } else {
                    Event::Request
                }
            }
            Some("response") if !kernel => Event::Response,
            Some("security") if !kernel => Event::Security,
            Some("error") if !kernel => Event::Error,
            Some(e) => return Err(format!("`{e}` is not an event of `{}`", q.method)),
        }
    };
    let (mut target_self, mut target_child) = (false, false);
    let mut state = policy.initial_state(dst);
    let mut fields = Vec::new();
    for (k, v) in &q.fields {
        match (k.as_str(), v.as_str()) {
            ("target", "self") => target_self = true,
            ("target", "child") => target_child = true,
            ("target", other) => {
                return Err(format!("target={other}: say target=self or target=child"));
            }
            ("state", s) => {
                state = (0..8)
                    .find(|&i| policy.state_name(dst, i) == Some(s))
                    .ok_or_else(|| format!("`{}` has no state `{s}`", q.dst))?;
            }
            _ => {
                let arena = event == Event::Execute
                    && c.world
                        .execute_fields
                        .iter()
                        .any(|f| f.name == *k && f.kind == FieldKind::Arena);
                let value = if arena {
                    Value::Str(v.trim_matches('"').to_string())
                } else if let Some(n) = parse_number(v) {
                    Value::Num(n)
                } else {
                    Value::Name(v.clone())
                };
                fields.push((word(k), SpannedValue { value, span: 0..0 }));
            }
        }
    }
    let method = (event != Event::Execute).then(|| word(&q.method));
    let msg = message(c, event, method.as_ref(), &fields, &(0..0)).map_err(|d| d.message)?;
    let state = policy_table::State::new(state);
    let mut query = query(&msg, src, dst, target_self, target_child, &state);
    // Levels as declared (a process started by a lower one is lower).
    query.src_level = policy.level(src);
    query.dst_level = if event == Event::Execute {
        policy.level(dst).min(query.src_level)
    } else {
        policy.level(dst)
    };
    let d = policy.decide(&query);
    let mut text = format!(
        "{} {} {} -> {}{}: {}\n",
        if d.granted { "GRANTED" } else { "DENIED" },
        event.name(),
        q.src,
        q.dst,
        if event == Event::Execute {
            String::new()
        } else {
            format!(" : {}", q.method)
        },
        if d.granted {
            format!("by {}", why(&policy, d.rule))
        } else {
            why(&policy, d.rule)
        }
    );
    let rules: Vec<u16> = policy.slot_rules(&query).collect();
    if rules.len() > 1 || (!d.granted && !rules.is_empty()) {
        text.push_str("rules for this message (a grant whose conditions hold, and no deny whose conditions hold):\n");
        for r in rules {
            let mark = if r == d.rule { "=>" } else { "  " };
            text.push_str(&format!("{mark} {}\n", why(&policy, r)));
        }
    }
    if d.granted && d.effects {
        let after = policy.effects(&query);
        if after.machine != state.machine
            && let Some(s) = policy.state_name(dst, after.machine)
        {
            text.push_str(&format!("the target enters state `{s}`\n"));
        }
        if after.vars != state.vars || after.sets != state.sets {
            text.push_str("the target's variables or sets change\n");
        }
    }
    Ok(Answer {
        granted: d.granted,
        text,
    })
}

fn parse_number(s: &str) -> Option<i128> {
    match s.strip_prefix("0x") {
        Some(h) => i128::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}
