//! Integrity levels (PSL's Mic): a process is at its class's level, or its
//! creator's if that is lower; conditions compare the source's and the
//! target's levels, or a level with a named one.

use policy::{Source, compile, testing};

fn outcomes(text: &str) -> Vec<testing::Outcome> {
    let src = Source {
        name: "l.policy".into(),
        text: text.into(),
    };
    let c = compile(&src, "virt").unwrap_or_else(|d| panic!("{}", policy::render(&src, &d)));
    testing::run(&c).unwrap_or_else(|d| panic!("{}", policy::render(&src, &d)))
}

const POLICY: &str = r#"
class hi.H, lo.L, w.W;
levels { low, mid, high }
level hi.H = high;
level w.W = mid;
grant execute kernel -> hi.H;
grant execute kernel -> lo.L;
grant execute hi.H -> w.W;
grant execute lo.L -> w.W;
# Writes only down or level, reads only up or level.
grant request hi.H -> w.W : utest.Echo.ping if source level >= target level;
grant request lo.L -> w.W : utest.Echo.ping if source level >= target level;
grant call hi.H -> w.W : Task.GetPath if source level <= target level;
grant call hi.H -> w.W : Task.GetPid if target level == mid;
"#;

#[test]
fn a_process_is_never_above_its_creator() {
    let text = format!(
        "{POLICY}
test \"a high creator: its child is at its class's level\" {{
    let h = hi.H by kernel;
    let w = w.W by h;
    expect grant request h -> w : utest.Echo.ping;
    expect grant call h -> w : Task.GetPid;
    expect deny call h -> w : Task.GetPath;
}}
test \"a low creator: its child is low too\" {{
    let l = lo.L by kernel;
    let h = hi.H by kernel;
    let w = w.W by l;
    expect grant request l -> w : utest.Echo.ping;
    expect deny call h -> w : Task.GetPid;
}}
"
    );
    for o in outcomes(&text) {
        assert!(o.passed(), "{}: {:?}", o.name, o.failures);
    }
}

#[test]
fn the_same_test_fails_when_the_levels_say_otherwise() {
    // A low process writing up: the expectation of a grant fails.
    let text = format!(
        "{POLICY}
test \"writing up\" {{
    let l = lo.L by kernel;
    let w = w.W;
    expect grant request l -> w : utest.Echo.ping;
}}
"
    );
    let o = outcomes(&text);
    assert!(!o[0].passed());
    assert!(
        o[0].failures[0].contains("expected grant, got deny"),
        "{:?}",
        o[0].failures
    );
}

/// An instance's own level and quota win over its class's, whichever is
/// written first.
#[test]
fn instance_declarations_win() {
    for order in [0, 1] {
        let class = "level d.D = high;\nquota d.D { threads 9; }\n";
        let inst = "level d.D@front = low;\nquota d.D@front { threads 1; }\n";
        let (first, second) = if order == 0 {
            (class, inst)
        } else {
            (inst, class)
        };
        let text =
            format!("class d.D;\ninstance d.D@front;\nlevels {{ low, high }}\n{first}{second}");
        let src = Source {
            name: "i.policy".into(),
            text,
        };
        let c = compile(&src, "virt").unwrap_or_else(|d| panic!("{}", policy::render(&src, &d)));
        let p = policy_table::Policy::parse(c.bytes.bytes()).expect("table");
        let front = p.subject(b"d.D", b"front").expect("instance");
        let other = p.subject(b"d.D", b"other").expect("class");
        assert_ne!(front, other);
        assert_eq!(
            (p.level(front), p.quota(front).threads),
            (0, 1),
            "order {order}"
        );
        assert_eq!(
            (p.level(other), p.quota(other).threads),
            (1, 9),
            "order {order}"
        );
    }
}

/// A class without a quota of its own has the default: the policy's
/// `quota default`, else the built-in share; its own quota is none.
#[test]
fn classes_without_a_quota_get_the_default() {
    for (default, want) in [
        ("", policy_table::Quota::DEFAULT),
        (
            "quota default { threads 7; memory 1 MiB; }\n",
            policy_table::Quota {
                threads: 7,
                memory: 1 << 20,
                ..policy_table::Quota::NONE
            },
        ),
    ] {
        let text = format!("class d.D, e.E;\nquota d.D {{ threads 9; }}\n{default}");
        let src = Source {
            name: "q.policy".into(),
            text,
        };
        let c = compile(&src, "virt").unwrap_or_else(|d| panic!("{}", policy::render(&src, &d)));
        let p = policy_table::Policy::parse(c.bytes.bytes()).expect("table");
        let own = p.subject(b"d.D", b"").expect("d.D");
        let other = p.subject(b"e.E", b"").expect("e.E");
        assert_eq!(p.quota(own).threads, 9);
        assert_eq!(p.own_quota(own).map(|q| q.threads), Some(9));
        assert_eq!(p.quota(other), want, "with {default:?}");
        assert_eq!(p.own_quota(other), None);
    }
}

#[test]
fn level_errors() {
    for (text, want) in [
        ("class a.A;\nlevel a.A = high;\n", "no `levels"),
        (
            "class a.A;\nlevels { low }\nlevel a.A = high;\n",
            "unknown level `high`",
        ),
        ("class a.A;\nlevels { low, low }\n", "listed twice"),
        (
            "class a.A;\ngrant call a.A -> self : Task.GetPid if source level > target level;\n",
            "no `levels",
        ),
    ] {
        let src = Source {
            name: "e.policy".into(),
            text: text.into(),
        };
        let d = compile(&src, "virt")
            .err()
            .unwrap_or_else(|| panic!("no error in {text}"));
        assert!(d[0].message.contains(want), "{text}: {:?}", d[0].message);
    }
}
