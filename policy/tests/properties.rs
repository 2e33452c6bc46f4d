//! Properties of compiled policies, checked on many generated ones: deny
//! by default; a rule grants exactly what it names; a rule on sets decides
//! as its expansion into single rules does.

use policy::{Compiled, Source, compile};
use policy_table::{Event, Policy, Query};
use proptest::prelude::*;

const CLASSES: [&str; 4] = ["p.A", "p.B", "p.C", "p.D"];
/// Kernel methods (calls) and service methods (messages) the universe uses.
const CALLS: [&str; 3] = ["Task.GetPid", "Task.Resume", "Thread.Info"];
const MESSAGES: [&str; 3] = ["utest.Echo.ping", "utest.Echo.greet", "utest.Door.knock"];

fn compiled(text: &str) -> Compiled {
    let src = Source {
        name: "p.policy".into(),
        text: format!("class {};\n{text}", CLASSES.join(", ")),
    };
    match compile(&src, "virt") {
        Ok(c) => c,
        Err(d) => panic!("{}\n{}", policy::render(&src, &d), src.text),
    }
}

/// One message of the universe: event, source, target, method (None for
/// a process start).
type Msg = (Event, usize, usize, Option<&'static str>);

fn universe() -> Vec<Msg> {
    let mut v = Vec::new();
    for s in 0..CLASSES.len() {
        for d in 0..CLASSES.len() {
            v.push((Event::Execute, s, d, None));
            for m in CALLS {
                v.push((Event::Call, s, d, Some(m)));
            }
            for e in [Event::Request, Event::Response, Event::Error] {
                for m in MESSAGES {
                    v.push((e, s, d, Some(m)));
                }
            }
        }
    }
    v
}

fn decide(c: &Compiled, (event, s, d, m): Msg) -> bool {
    let p = Policy::parse(c.bytes.bytes()).expect("table reads back");
    let (endpoint, method) = match m {
        Some(m) => {
            let info = c.method(m).expect("declared");
            (info.endpoint, info.id)
        }
        None => (0, 0),
    };
    let src = c.subject(CLASSES[s]).expect("class");
    let dst = c.subject(CLASSES[d]).expect("class");
    let fixed = [0u8; 64];
    let q = Query {
        fixed: &fixed,
        ..Query::new(event, src, dst, endpoint, method)
    };
    let decision = p.decide(&q);
    // The kernel's fast path never disagrees with the full decision.
    if p.grants_outright(event, src, dst, endpoint, method) {
        assert!(decision.granted);
    }
    decision.granted
}

fn event_word(e: Event) -> &'static str {
    e.name()
}

fn arb_msg() -> impl Strategy<Value = Msg> {
    let u = universe();
    (0..u.len()).prop_map(move |i| u[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn deny_by_default(extra in 0usize..3) {
        // Declarations, sets and machines grant nothing by themselves.
        let text = ["", "set S = { p.A, p.B };\n", "machine M on p.C { states x, y; initial x; }\n"][extra];
        let c = compiled(text);
        for m in universe() {
            prop_assert!(!decide(&c, m), "{m:?} granted by {text:?}");
        }
    }

    #[test]
    fn a_rule_grants_exactly_what_it_names(named in arb_msg()) {
        let (event, s, d, m) = named;
        let text = match m {
            Some(m) => format!("grant {} {} -> {} : {m};", event_word(event), CLASSES[s], CLASSES[d]),
            None => format!("grant execute {} -> {};", CLASSES[s], CLASSES[d]),
        };
        let c = compiled(&text);
        for other in universe() {
            prop_assert_eq!(decide(&c, other), other == named, "{:?} under {}", other, text);
        }
    }

    #[test]
    fn a_set_rule_is_its_expansion(
        srcs in proptest::sample::subsequence(CLASSES.to_vec(), 1..=4),
        dsts in proptest::sample::subsequence(CLASSES.to_vec(), 1..=4),
        calls in proptest::sample::subsequence(CALLS.to_vec(), 1..=3),
        with_condition in any::<bool>(),
    ) {
        let cond = if with_condition { " if not target is self" } else { "" };
        let sets = format!(
            "set S = {{ {} }};\nset T = {{ {} }};\nset M = {{ {} }};\ngrant call S -> T : M{cond};",
            srcs.join(", "), dsts.join(", "), calls.join(", ")
        );
        let mut pairs = String::new();
        for s in &srcs {
            for d in &dsts {
                for m in &calls {
                    pairs.push_str(&format!("grant call {s} -> {d} : {m}{cond};\n"));
                }
            }
        }
        let (a, b) = (compiled(&sets), compiled(&pairs));
        for m in universe() {
            prop_assert_eq!(decide(&a, m), decide(&b, m), "{:?}", m);
        }
    }

    #[test]
    fn a_deny_rule_overrides_grants(named in arb_msg()) {
        let (event, s, d, m) = named;
        let Some(m) = m else { return Ok(()) };
        let ev = event_word(event);
        let text = format!(
            "grant {ev} {} -> {} : *;\ndeny {ev} {} -> {} : {m};",
            CLASSES[s], CLASSES[d], CLASSES[s], CLASSES[d]
        );
        let c = compiled(&text);
        prop_assert!(!decide(&c, named));
        for other in universe() {
            if other.0 == event && (other.1, other.2) == (s, d) && other.3 != Some(m) {
                prop_assert!(decide(&c, other), "{:?}", other);
            }
        }
    }
}
