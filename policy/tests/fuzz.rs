//! The fuzz harness that runs on stable in `cargo test` (the cargo-fuzz
//! targets in policy/fuzz go further on nightly): the compiler never
//! panics on any text; the table reader and the evaluator never panic on
//! any bytes, as the kernel's monitor must not.

use policy::{Source, compile};
use policy_table::build::TableBytes;
use policy_table::{Event, Policy, Query};
use proptest::prelude::*;

/// Words of the language and a few wrong ones, to make texts that get far
/// into the parser and the checker.
const WORDS: &[&str] = &[
    "class",
    "instance",
    "set",
    "machine",
    "quota",
    "audit",
    "grants",
    "board",
    "virt",
    "rpi4",
    "grant",
    "deny",
    "request",
    "response",
    "error",
    "ipc",
    "call",
    "execute",
    "->",
    ":",
    ";",
    ",",
    "{",
    "}",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    "if",
    "and",
    "not",
    "then",
    "in",
    "has",
    "target",
    "is",
    "self",
    "child",
    "kernel",
    "*",
    "a.A",
    "b.B",
    "a.A@x",
    "Task.Exit",
    "Task.*",
    "Console.Write",
    "utest.Echo.ping",
    "priority",
    "path",
    "flags",
    "CRITICAL",
    "Normal",
    "\"/bin/x\"",
    "3",
    "0xFFFFFFFFFFFFFFFFFFFF",
    "-1",
    "states",
    "initial",
    "s0",
    "s1",
    "test",
    "\"t\"",
    "let",
    "by",
    "expect",
    "named",
    "threads",
    "sched",
    "@",
    ".",
    "#",
    "\n",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(0..WORDS.len(), 0..60)
        .prop_map(|ws| ws.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" "))
}

const SAMPLE: &str = r#"
class a.A, b.B, c.C;
instance b.B@x;
set S = { a.A, b.B };
machine M on b.B { states s0, s1; initial s0; }
map C on b.B { n }
hashset H on b.B;
quota c.C { threads 2; priority 9; sched { Normal }; }
grant execute kernel -> a.A;
grant execute a.A -> S if path in { "/bin/b", "/bin/c" } and not flags has CRITICAL;
grant call S -> self : Task.*;
grant call S -> kernel : Console.Write;
grant call a.A -> S : Task.SetInitialThreadPriority if target is child and priority <= 10;
grant ipc a.A -> b.B : utest.Echo.*;
grant request a.A -> b.B : utest.Door.open then M = s1, C.n += 2;
grant request a.A -> b.B : utest.Door.shout if not v in H and C.n < 5 then H add v;
deny request a.A -> b.B@x : utest.Door.knock if M in { s0 } audit;
"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_compiler_never_panics(t in text()) {
        let src = Source { name: "f.policy".into(), text: t };
        if let Ok(c) = compile(&src, "virt") {
            prop_assert!(Policy::parse(c.bytes.bytes()).is_ok());
            let _ = policy::testing::run(&c);
        }
    }

    #[test]
    fn any_text_never_panics(t in "\\PC{0,200}") {
        let src = Source { name: "f.policy".into(), text: t };
        let _ = compile(&src, "rpi4");
    }

    #[test]
    fn a_damaged_table_never_panics(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        queries in prop::collection::vec((0u8..5, any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>(), any::<u8>()), 1..16),
    ) {
        let src = Source { name: "s.policy".into(), text: SAMPLE.into() };
        let c = compile(&src, "virt").expect("the sample compiles");
        let mut bytes = c.bytes.bytes().to_vec();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let table = TableBytes::new(&bytes);
        if let Ok(p) = Policy::parse(table.bytes()) {
            for (e, s, d, ep, m, state) in queries {
                let fixed = [state; 64];
                let mut st = policy_table::State::new(state);
                st.vars[0] = i64::from(state) - 3;
                st.set_len = [state % 12, state % 3];
                let q = Query {
                    fixed: &fixed,
                    path: b"/bin/b",
                    dst_state: &st,
                    target_child: state & 1 != 0,
                    ..Query::new(Event::from_u8(e).unwrap_or(Event::Call), s % 8, d % 8, ep % 0x50, m % 32)
                };
                let decision = p.decide(&q);
                if decision.granted && decision.effects {
                    let _ = p.effects(&q);
                }
                let _ = p.slot_rules(&q).count();
                let _ = p.rule_source(decision.rule);
                let _ = p.quota(q.src);
                let _ = p.state_name(q.dst, state);
            }
        }
    }
}
