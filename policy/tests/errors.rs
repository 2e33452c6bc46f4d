//! Every kind of error the compiler reports, with its position: each case
//! is a policy whose one mistake is at a marked place (`⟦` before it); the
//! error must name the problem and point there.

use policy::{Source, compile, render};

/// Classes most cases use.
const HEAD: &str = "class a.A, b.B;\n";

fn src(text: &str) -> (Source, usize) {
    let at = text.find('⟦').expect("a ⟦ marks where the error is");
    let clean = text.replacen('⟦', "", 1);
    (
        Source {
            name: "t.policy".into(),
            text: clean,
        },
        at,
    )
}

/// Compiles (and resolves the tests of) `text`; the first error.
fn first_error(text: &str) -> (Source, usize, policy::Diag) {
    let (s, at) = src(text);
    let diags = match compile(&s, "virt") {
        Err(d) => d,
        Ok(c) => match policy::testing::run(&c) {
            Err(d) => d,
            Ok(_) => panic!("no error in:\n{}", s.text),
        },
    };
    (s, at, diags[0].clone())
}

#[track_caller]
fn expect(text: &str, message: &str) {
    let (s, at, d) = first_error(text);
    assert!(
        d.message.contains(message),
        "expected an error containing {message:?}, got {:?}\nin:\n{}",
        d.message,
        s.text
    );
    assert_eq!(
        d.span.start,
        at,
        "error {:?} at {} ({}), expected at {} ({})",
        d.message,
        d.span.start,
        s.location(d.span.start),
        at,
        s.location(at)
    );
    // Shown rustc-style: the message, file:line:column, the line underlined.
    let (line, col) = s.line_col(at);
    let shown = render(&s, &[d]);
    assert!(shown.starts_with("error: "), "{shown}");
    assert!(shown.contains(&format!("t.policy:{line}:{col}")), "{shown}");
    assert!(shown.contains('^'), "{shown}");
}

#[test]
fn syntax() {
    expect(
        "class a.A\n⟦grant call a.A -> kernel : Console.Write;",
        "expected",
    );
    expect(&format!("{HEAD}grant ⟦talk a.A -> b.B : *;"), "an event");
    expect(
        &format!("{HEAD}grant call a.A -> kernel : Console.Write if priority ⟦=> 3;"),
        "`>=`",
    );
}

#[test]
fn unknown_names() {
    expect(
        &format!("{HEAD}grant call ⟦c.C -> kernel : Console.Write;"),
        "unknown class or set `c.C`",
    );
    expect(
        &format!("{HEAD}grant call ⟦a.A@x -> kernel : Console.Write;"),
        "unknown instance `a.A@x`",
    );
    expect(
        &format!("{HEAD}grant call a.A -> kernel : ⟦Nope.Write;"),
        "unknown interface `Nope`",
    );
    expect(
        &format!("{HEAD}grant call a.A -> kernel : ⟦Console.Shout;"),
        "has no method `Shout`",
    );
    expect(
        &format!("{HEAD}grant call a.A -> self : Task.SetInitialThreadPriority if ⟦prio < 3;"),
        "has no field `prio`",
    );
    expect(
        &format!("{HEAD}grant execute a.A -> b.B if ⟦size == 3;"),
        "a process start has no field `size`",
    );
    expect(
        &format!("{HEAD}grant call ⟦Task.Exit -> kernel : Console.Write;"),
        "is a method",
    );
    expect(&format!("{HEAD}instance ⟦c.C@x;"), "unknown class `c.C`");
    expect(
        &format!("{HEAD}grant request a.A -> b.B : utest.Door.open then ⟦Door = open;"),
        "unknown machine `Door`",
    );
}

#[test]
fn wrong_kinds() {
    expect(
        &format!("{HEAD}grant call a.A -> kernel : ⟦utest.Echo.ping;"),
        "is a service",
    );
    expect(
        &format!("{HEAD}grant request a.A -> b.B : ⟦Console.Write;"),
        "is a kernel interface",
    );
    expect(
        &format!("{HEAD}⟦grant call a.A -> kernel;"),
        "which methods?",
    );
    expect(
        &format!("{HEAD}grant execute a.A -> b.B : ⟦Console.Write;"),
        "a process start has no methods",
    );
    expect(
        &format!("{HEAD}set S = {{ a.A, ⟦Task.Exit }};\ngrant call S -> kernel : Console.Write;"),
        "is a method, but set `S`",
    );
    expect(
        &format!("{HEAD}set S = {{ ⟦S }};\ngrant call S -> kernel : Console.Write;"),
        "contains itself",
    );
    expect(
        &format!("{HEAD}⟦grant request a.A -> kernel : utest.Echo.ping;"),
        "the kernel takes calls",
    );
    expect(
        &format!("{HEAD}grant call a.A -> ⟦b.B : Console.Write;"),
        "its target is `kernel`",
    );
    expect(
        &format!("{HEAD}grant call a.A -> ⟦kernel : Task.Resume;"),
        "its target is a class or `self`",
    );
    expect(
        &format!("{HEAD}grant request ⟦kernel -> a.A : utest.Echo.ping;"),
        "the kernel sends nothing",
    );
    expect(
        &format!("{HEAD}⟦grant execute a.A -> kernel;"),
        "the kernel is not started",
    );
    expect(
        &format!("{HEAD}⟦grant security a.A -> b.B : utest.Gate.echo;"),
        "goes to the kernel",
    );
    expect(
        &format!("{HEAD}grant security a.A -> kernel : ⟦Task.Exit;"),
        "is a kernel interface",
    );
    expect(
        &format!("{HEAD}⟦grant ipc a.A -> b.B : utest.Echo.ping if x == 1;"),
        "an `ipc` rule has no conditions",
    );
    expect(
        &format!(
            "{HEAD}class utest.iface.Server;\ngrant request a.A -> ⟦utest.iface.Server : utest.Door.open;"
        ),
        "does not provide `utest.Door`",
    );
}

#[test]
fn conditions() {
    expect(
        &format!(
            "{HEAD}grant call a.A -> self : Task.SetInitialThreadPriority if priority < ⟦4294967296;"
        ),
        "does not fit",
    );
    expect(
        &format!(
            "{HEAD}grant call a.A -> self : Task.SetInitialThreadSchedPolicy if class in {{ ⟦Batch }};"
        ),
        "is not a value of `class`",
    );
    expect(
        &format!(
            "{HEAD}grant call a.A -> self : Task.SetInitialThreadPriority if ⟦priority has X;"
        ),
        "is not a set of flags",
    );
    expect(
        &format!("{HEAD}grant execute a.A -> b.B if ⟦path < 3;"),
        "is a string",
    );
    expect(
        &format!("{HEAD}grant execute a.A -> b.B if path == ⟦3;"),
        "a string goes here",
    );
    expect(
        &format!("{HEAD}grant call a.A -> kernel : Romfs.Read if ⟦path == \"/x\";"),
        "in the message's arena",
    );
    expect(
        &format!("{HEAD}grant request a.A -> b.B : utest.Echo.ping if ⟦target is child;"),
        "applies to kernel calls",
    );
    expect(
        &format!(
            "{HEAD}grant call a.A -> self : Task.SetInitialThreadPriority if priority == ⟦\"x\";"
        ),
        "is a number, not a string",
    );
}

#[test]
fn machines() {
    let m = "machine M on b.B { states s0, s1; initial s0; }\n";
    expect(
        &format!("{HEAD}{m}grant request a.A -> b.B : utest.Echo.ping then M = ⟦s9;"),
        "`s9` is not a state of `M`",
    );
    expect(
        &format!("{HEAD}{m}grant request b.B -> a.A : utest.Echo.ping then ⟦M = s1;"),
        "has no machine `M`",
    );
    expect(
        &format!("{HEAD}machine M on b.B {{ states s0, s1; initial ⟦s2; }}"),
        "is not a state of `M`",
    );
    expect(
        &format!("{HEAD}{m}machine ⟦M on a.A {{ states x; initial x; }}"),
        "declared twice",
    );
}

#[test]
fn maps_and_hashsets() {
    let decl = "map C on b.B { n }\nhashset S on b.B;\n";
    expect(
        &format!("{HEAD}{decl}grant request a.A -> b.B : utest.Echo.ping if ⟦X.n < 3;"),
        "unknown map or hashset `X`",
    );
    expect(
        &format!("{HEAD}{decl}grant request a.A -> b.B : utest.Echo.ping if ⟦C.m < 3;"),
        "map `C` has no variable `m`",
    );
    expect(
        &format!("{HEAD}{decl}grant request b.B -> a.A : utest.Echo.ping if ⟦C.n < 3;"),
        "the target `a.A` has no `C`",
    );
    expect(
        &format!("{HEAD}{decl}grant request a.A -> b.B : utest.Echo.ping if x in ⟦C;"),
        "is a map, not a hashset",
    );
    expect(
        &format!("{HEAD}{decl}grant request a.A -> b.B : utest.Echo.ping then ⟦S.n += 1;"),
        "is a hashset, not a map",
    );
    expect(
        &format!("{HEAD}{decl}grant request a.A -> b.B : utest.Echo.ping then S add ⟦y;"),
        "has no field `y`",
    );
    expect(
        &format!("{HEAD}map ⟦C on b.B {{ a, b, c, d, e }}"),
        "room for 4 map variables",
    );
    expect(
        &format!("{HEAD}hashset S1 on b.B;\nhashset S2 on b.B;\nhashset ⟦S3 on b.B;"),
        "room for 2 hashsets",
    );
}

#[test]
fn declarations() {
    expect(&format!("{HEAD}class ⟦a.A;"), "declared twice");
    expect(&format!("{HEAD}board ⟦vax {{ }}"), "unknown board `vax`");
    expect(
        &format!("{HEAD}quota a.A {{ ⟦cpus 3; }}"),
        "unknown quota `cpus`",
    );
    expect(
        &format!("{HEAD}quota a.A {{ sched {{ ⟦Batch }}; }}"),
        "unknown scheduling class `Batch`",
    );
    expect(
        &format!("{HEAD}quota default {{ threads 3; }}\nquota ⟦default {{ threads 4; }}"),
        "default quota is already declared",
    );
    expect(
        &format!("{HEAD}quota {{ a.A, ⟦default }} {{ threads 3; }}"),
        "`default` stands alone",
    );
    expect(&format!("{HEAD}class ⟦default;"), "`default` is reserved");
    expect(
        &format!("{HEAD}quota default {{ threads 3; ⟦priority 5; }}"),
        "a default quota sets budgets only",
    );
    expect(
        &format!("{HEAD}set ⟦default = {{ a.A }};"),
        "`default` is reserved",
    );
}

#[test]
fn test_statements() {
    expect(
        &format!("{HEAD}test \"t\" {{ expect grant call ⟦x -> kernel : Console.Write; }}"),
        "unknown process or class `x`",
    );
    expect(
        &format!("{HEAD}test \"t\" {{ let p = a.A by ⟦q; }}"),
        "unknown process `q`",
    );
    expect(
        &format!(
            "{HEAD}test \"t\" {{ expect grant call a.A -> kernel : Console.Write {{ ⟦nope = 1 }}; }}"
        ),
        "no field `nope`",
    );
    expect(
        &format!("{HEAD}test \"t\" {{ expect grant ⟦ipc a.A -> b.B : utest.Echo.ping; }}"),
        "takes one event",
    );
}

/// Errors in a board block not compiled for are still found if they are
/// names the block gives (the block must name a known board); its rules
/// apply on their board only.
#[test]
fn boards_without_templates() {
    let text = format!(
        "{HEAD}grant call a.A -> kernel : Console.Write;\nboard rpi4 {{ grant call a.A -> kernel : SysInfo.MemStats; }}\n"
    );
    let s = Source {
        name: "b.policy".into(),
        text,
    };
    for (board, granted) in [("virt", false), ("rpi4", true)] {
        let c = compile(&s, board).expect("compiles");
        let q = policy::explain::Question {
            src: "a.A".into(),
            dst: "kernel".into(),
            method: "SysInfo.MemStats".into(),
            ..Default::default()
        };
        let a = policy::explain::explain(&c, &q).expect("explains");
        assert_eq!(a.granted, granted, "{board}: {}", a.text);
    }
}
