//! The systems' security policies (`policy/systems/<system>.policy`):
//! compiled for a board into the table the kernel embeds, checked, tested
//! and explained (`cargo xtask policy ...`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use policy::Compiled;
use policy::explain::{Question, explain};

use crate::kernel_build::Suite;
use crate::{Board, workspace_root};

/// Each system and the suite whose image runs it.
pub const SYSTEMS: &[(&str, Suite)] = &[
    ("demo", Suite::None),
    ("utest", Suite::Utest),
    ("bench", Suite::Kbench),
];

/// The system whose policy a suite's image carries. The kernel test suites
/// start no user process but einit's start, under the demo policy.
pub fn system_of(suite: Suite) -> &'static str {
    match suite {
        Suite::None | Suite::Ktest => "demo",
        Suite::Utest | Suite::Fuzz(_) | Suite::Stress => "utest",
        Suite::Kbench => "bench",
    }
}

pub fn path(system: &str) -> PathBuf {
    workspace_root()
        .join("policy/systems")
        .join(format!("{system}.policy"))
}

/// Compiles a system's policy for `board`; errors are printed rustc-style.
pub fn compile(system: &str, board: Board) -> Result<Compiled> {
    let src = crate::read_source(&path(system))?;
    let shown = &src.name;
    match policy::compile(&src, board.name()) {
        Ok(c) => Ok(c),
        Err(diags) => {
            eprint!("{}", policy::render(&src, &diags));
            bail!("{shown}: {} error(s) (board {})", diags.len(), board.name())
        }
    }
}

/// Runs a compiled policy's tests; prints each; true if all passed.
pub fn run_tests(system: &str, c: &Compiled, quiet: bool) -> Result<bool> {
    let outcomes = match policy::testing::run(c) {
        Ok(o) => o,
        Err(diags) => {
            eprint!("{}", policy::render(&c.source, &diags));
            bail!("{system}: the policy's tests name unknown things");
        }
    };
    let mut ok = true;
    for o in &outcomes {
        if o.passed() {
            if !quiet {
                println!("policy test {system}::{} ... ok", o.name);
            }
        } else {
            ok = false;
            println!(
                "policy test {system}::{} ... FAILED ({})",
                o.name, o.location
            );
            for f in &o.failures {
                println!("    {f}");
            }
        }
    }
    Ok(ok)
}

/// The test or benchmark programs einit runs in `system`'s image: their
/// ROMFS paths (the class of each is its file name, as einit names it).
/// The demo system's starts are its init description's, checked there.
pub fn run_by_einit(system: &str) -> Vec<String> {
    use crate::user_build::{BENCH_PROGRAMS, TEST_PROGRAMS};
    match system {
        "utest" => TEST_PROGRAMS
            .iter()
            .map(|p| format!("/tests/{p}"))
            .collect(),
        "bench" => BENCH_PROGRAMS
            .iter()
            .map(|p| format!("/bench/{p}"))
            .collect(),
        _ => Vec::new(),
    }
}

/// The image and its policy checked together: the kernel may start einit,
/// and einit may start every program its list names, so that a list the
/// policy would refuse is a build error, not a denial at boot. (The demo
/// system's init description is checked, channels and all, by
/// `init_desc`.)
pub fn check_starts(system: &str, c: &Compiled) -> Result<()> {
    let mut starts = vec![(
        "kernel".to_string(),
        "einit".to_string(),
        "/bin/einit".to_string(),
    )];
    for path in run_by_einit(system) {
        let class = path.rsplit('/').next().unwrap_or(&path).to_string();
        starts.push(("einit".into(), class, path));
    }
    if system == "demo" {
        let src = crate::read_source(&crate::init_desc::path(system))?;
        if let Err(rendered) = crate::init_desc::check(&src, c, &|_| true) {
            bail!("the demo init description and its policy disagree:\n{rendered}");
        }
    }
    for (src, class, path) in starts {
        let q = Question {
            src: src.clone(),
            dst: class.clone(),
            method: "execute".into(),
            event: None,
            fields: vec![("path".into(), path.clone())],
        };
        let answer = explain(c, &q)
            .map_err(|e| anyhow::anyhow!("{system}: {src} starts {path} (class {class}): {e}"))?;
        if !answer.granted {
            bail!(
                "the {system} policy does not let {src} start {path} (class {class}):\n{}",
                answer.text
            );
        }
    }
    Ok(())
}

/// Compiles the policy of `suite`'s system for `board` into `out` (the
/// kernel embeds it: KERNEL_POLICY), after its own tests pass and the
/// programs the image starts are checked against it.
pub fn build_table(suite: Suite, board: Board, out: &Path) -> Result<PathBuf> {
    let system = system_of(suite);
    let c = compile(system, board)?;
    if !run_tests(system, &c, true)? {
        bail!("the {system} policy's own tests fail");
    }
    check_starts(system, &c)?;
    fs::write(out, c.bytes.bytes()).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "xtask: policy {system} ({} rules, {} bytes)",
        c.tables.rules.len(),
        c.bytes.bytes().len()
    );
    Ok(out.to_path_buf())
}

/// `cargo xtask policy check|test`: every system (or one) on every board.
pub fn check_all(only: Option<&str>, test: bool) -> Result<bool> {
    let mut ok = true;
    for (system, _) in SYSTEMS.iter().filter(|(s, _)| only.is_none_or(|o| o == *s)) {
        for board in Board::ALL {
            let c = compile(system, board)?;
            if test {
                println!("policy {system} (board {}):", board.name());
                ok &= run_tests(system, &c, false)?;
            } else {
                // `check` resolves the tests' names too, and checks the
                // image's starts.
                policy::testing::run(&c).map_err(|d| {
                    eprint!("{}", policy::render(&c.source, &d));
                    anyhow::anyhow!("{system}: the policy's tests name unknown things")
                })?;
                check_starts(system, &c)?;
                println!(
                    "policy {system} (board {}): {} classes and instances, {} rules, {} bytes",
                    board.name(),
                    c.subject_names().len(),
                    c.tables.rules.len(),
                    c.bytes.bytes().len()
                );
            }
        }
    }
    if only.is_some_and(|o| !SYSTEMS.iter().any(|(s, _)| *s == o)) {
        bail!(
            "no system `{}` (systems: demo, utest, bench)",
            only.unwrap_or("")
        );
    }
    Ok(ok)
}

/// `cargo xtask policy explain`.
pub fn explain_cmd(system: &str, board: Board, q: &Question) -> Result<bool> {
    let c = compile(system, board)?;
    let answer = explain(&c, q).map_err(|e| anyhow::anyhow!(e))?;
    print!("{}", answer.text);
    Ok(answer.granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every system's policy compiles for every board, passes its own
    /// tests, and lets einit start what the image lists.
    #[test]
    fn every_system_policy_holds() {
        for (system, _) in SYSTEMS {
            for board in Board::ALL {
                let c = compile(system, board).expect("compiles");
                assert!(
                    run_tests(system, &c, true).expect("tests resolve"),
                    "{system}"
                );
                check_starts(system, &c).expect("starts allowed");
            }
        }
    }

    /// A program list the policy does not allow is an error before any
    /// image is built.
    #[test]
    fn a_refused_start_is_a_build_error() {
        let src = policy::Source {
            name: "t.policy".into(),
            text: "class einit, hello;\ngrant execute kernel -> einit;\n\
                   grant execute einit -> hello if path == \"/bin/other\";\n"
                .into(),
        };
        let c = policy::compile(&src, "virt").expect("compiles");
        let err = check_starts("demo", &c).expect_err("/bin/hello is not allowed");
        let text = format!("{err:#}");
        assert!(
            text.contains("/bin/hello") && text.contains("DENIED"),
            "{text}"
        );
    }
}
