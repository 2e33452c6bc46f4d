//! `cargo xtask test`: host tests, then the test kernel in every QEMU
//! configuration, then the expected-failure (fault) boot.
//!
//! Console protocol of the test kernel (PL011 serial):
//! - before a test runs it prints `test <suite>::<name> ... ` (no newline);
//! - after, on the same line, `ok` or `FAILED <why>`, then a newline.
//!
//! Output printed by the test itself may split that line; the result then
//! comes as `ok` / `FAILED <why>` alone on a later line (or after other text on
//! a line: `... FAILED <why>`). A test whose start was printed but whose result
//! never came (crash, hang, next test started) counts as failed. The kernel
//! ends the run with a semihosting exit: status 0 when all passed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::kernel_build::{self, KernelFlavor, Suite};
use crate::qemu::{self, TestConfig};
use crate::report::Report;
use crate::whole_lines::WholeLines;
use crate::{Board, cargo, describe};

/// A boot of the test kernel that must end in a given way: told by its
/// command line, the kernel breaks itself (or powers off); it must say so on
/// the console and stop with the expected status (not hang).
pub struct ExpectedFailure {
    /// `-append` text the test kernel acts on.
    pub cmdline: &'static str,
    /// The result's name, per board.
    pub test: &'static str,
    /// What the console must contain (case-insensitive).
    pub needles: &'static [&'static str],
    /// QEMU must exit with status 0 (a board power-off) rather than non-zero.
    pub expect_success: bool,
}

/// Every such boot, run once per board.
pub const EXPECTED_FAILURES: &[ExpectedFailure] = &[
    ExpectedFailure {
        cmdline: "ktest.fault",
        test: "boot::unexpected_exception_stops_system",
        needles: &["unexpected exception", "ESR", "FAR", "x30"],
        expect_success: false,
    },
    ExpectedFailure {
        cmdline: "ktest.overflow",
        test: "boot::kernel_stack_overflow_stops_system",
        needles: &["kernel stack overflow", "guard", "ESR"],
        expect_success: false,
    },
    ExpectedFailure {
        cmdline: "ktest.panic",
        test: "boot::kernel_panic_stops_system",
        needles: &["kernel panic", "deliberate panic"],
        expect_success: false,
    },
    // The board's own power-off (PSCI on virt, the BCM2711 watchdog halt on
    // the Pi 4), as on hardware: QEMU must exit by itself.
    ExpectedFailure {
        cmdline: "ktest.poweroff",
        test: "boot::board_power_off",
        needles: &["power: off"],
        expect_success: true,
    },
];
/// The user test image runs some twenty programs, one after another, each
/// starting children: its run may take this many times the per-run
/// timeout (a hang is still caught).
const UTEST_TIMEOUT_FACTOR: u32 = 3;
/// Lines of console shown when a run fails.
const TAIL_LINES: usize = 40;

pub struct TestOpts {
    pub boards: Vec<Board>,
    pub host: bool,
    pub timeout: Duration,
}

/// Runs everything; prints `N passed, N failed` last. Returns true if all passed.
pub fn run_all(opts: &TestOpts) -> bool {
    let mut report = Report::default();
    if opts.host {
        section("host tests: cargo test --no-fail-fast");
        host_tests(&mut report);
    }
    for &board in &opts.boards {
        let flavor = KernelFlavor {
            board,
            suite: Suite::Ktest,
            qemu_exit: true,
        };
        section(&format!(
            "{}: building the test kernel ({})",
            board.name(),
            flavor.features()
        ));
        let image = match kernel_build::build_image(flavor) {
            Ok(p) => p,
            Err(e) => {
                println!("[{}] test boot::build ... FAILED {e:#}", board.name());
                report.fail(format!("[{}] boot::build: {e:#}", board.name()));
                continue;
            }
        };
        for cfg in qemu::test_configs(board) {
            section(&format!("{}: booting the test kernel", cfg.label));
            ktest_run(cfg, cfg.label, &image, opts.timeout, &mut report);
        }
        if let Some(cfg) = qemu::test_configs(board).next() {
            for expected in EXPECTED_FAILURES {
                section(&format!(
                    "{}: deliberate end (-append {})",
                    board.name(),
                    expected.cmdline
                ));
                fault_run(cfg, expected, &image, opts.timeout, &mut report);
            }
        }
        demo_run(board, opts.timeout, &mut report);
        section(&format!("{}: benchmark kernel, twice", board.name()));
        bench_run(board, opts.timeout, &mut report);
        utest_runs(board, opts.timeout * UTEST_TIMEOUT_FACTOR, &mut report);
        if board == Board::Rpi4 {
            sd_image_run(opts.timeout * UTEST_TIMEOUT_FACTOR, &mut report);
        }
    }
    report.finish()
}

/// What the demonstration system must say on the console: einit wires the
/// static channels of its init description, the clients and the counter
/// talk over them, the ExecutionManager starts its autorun configuration
/// and the launcher's application (stopped Normal, then Forced), every
/// process ends with 0.
const DEMO_NEEDLES: &[&str] = &[
    "einit: channel \"counter\" from alice to counter",
    "einit: channel \"counter\" from bob to counter",
    "alice: Hello from Alice! I will add 1..=3",
    "bob: Bob here! I will add 1..=5",
    "counter: all 2 clients done, total 21",
    "einit: counter ended with exit code 0",
    "einit: alice ended with exit code 0",
    "einit: bob ended with exit code 0",
    "einit: hello ended with exit code 0",
    "execution-manager: autorun application.Application/hello: Running",
    "class application.Hello",
    "launcher: stopped (Normal): Finished, Normal, exit code 0",
    "launcher: stopped (Forced): Finished, Terminated",
    "einit: em ended with exit code 0",
    "einit: launcher ended with exit code 0",
    "einit: all programs ended",
    // The init description's budget as the kernel holds it (the limits
    // it does not name are its class's quota).
    "einit: em's budget: processes 8, threads 64, handles ",
    ", memory 1048576 bytes",
];

/// The demonstration system (what `cargo xtask qemu` boots), built from
/// its init description and booted to its end.
fn demo_run(board: Board, timeout: Duration, report: &mut Report) {
    let flavor = KernelFlavor {
        board,
        suite: Suite::None,
        qemu_exit: true,
    };
    let label = format!("{} demo", board.name());
    section(&format!("{label}: the demonstration system"));
    let outcome = match (
        kernel_build::build_image(flavor),
        qemu::test_configs(board).next(),
    ) {
        (Ok(image), Some(cfg)) => {
            let cmd = cfg.qemu_args(&image, None).command();
            println!("[{label}] {}", describe(&cmd));
            match run_captured(cmd, timeout, |_| {}) {
                Ok(c) => {
                    let o = check_fault_run(&c.lines, c.exit, DEMO_NEEDLES, true);
                    if o != Outcome::Ok {
                        print_tail(&label, &c.lines);
                    }
                    o
                }
                Err(e) => Outcome::Failed(format!("{e:#}")),
            }
        }
        (Err(e), _) => Outcome::Failed(format!("build: {e:#}")),
        (_, None) => Outcome::Failed("no QEMU configuration".into()),
    };
    let r = TestResult {
        name: "demo::system_from_its_init_description".into(),
        outcome,
    };
    println!("[{label}] {}", r.line());
    match r.outcome {
        Outcome::Ok => report.pass(),
        Outcome::Failed(_) => report.fail(format!("[{label}] {}", r.line())),
    }
}

/// The user-space test image: the system kernel with the user test programs
/// in its ROMFS; einit runs each and reports it (`test einit::<program>`),
/// each program reports its own tests, and the run ends with einit's status.
fn utest_runs(board: Board, timeout: Duration, report: &mut Report) {
    let flavor = KernelFlavor {
        board,
        suite: Suite::Utest,
        qemu_exit: true,
    };
    section(&format!(
        "{}: building the user test image ({} + user programs)",
        board.name(),
        flavor.features()
    ));
    let image = match kernel_build::build_image(flavor) {
        Ok(p) => p,
        Err(e) => {
            println!("[{} utest] test boot::build ... FAILED {e:#}", board.name());
            report.fail(format!("[{} utest] boot::build: {e:#}", board.name()));
            return;
        }
    };
    for cfg in qemu::utest_configs(board) {
        let label = format!("{} utest", cfg.label);
        section(&format!("{label}: booting the user test image"));
        ktest_run(cfg, &label, &image, timeout, report);
    }
}

/// A fuzzing campaign (`cargo xtask fuzz`): the image that runs only
/// utest-fuzz with `campaign`, booted on `board`'s first user-test
/// configuration. True if it passed.
pub fn fuzz_campaign(board: Board, campaign: kernel_build::Campaign, timeout: Duration) -> bool {
    let mut report = Report::default();
    let flavor = KernelFlavor {
        board,
        suite: Suite::Fuzz(campaign),
        qemu_exit: true,
    };
    section(&format!(
        "{}: fuzzing: {} calls, seed {}",
        board.name(),
        campaign.calls,
        campaign.seed
    ));
    match kernel_build::build_image(flavor) {
        Ok(image) => match qemu::utest_configs(board).next() {
            Some(cfg) => ktest_run(
                cfg,
                &format!("{} fuzz", cfg.label),
                &image,
                timeout,
                &mut report,
            ),
            None => report.fail(format!("{}: no user test configuration", board.name())),
        },
        Err(e) => report.fail(format!("[{} fuzz] boot::build: {e:#}", board.name())),
    }
    report.finish()
}

/// utest-stress booted `runs` times in a row on each board of `boards`
/// (in a user-test configuration with four cores);
/// stops at the first run that fails.
pub fn stress(boards: &[Board], runs: u32, timeout: Duration) -> bool {
    let mut report = Report::default();
    for &board in boards {
        let flavor = KernelFlavor {
            board,
            suite: Suite::Stress,
            qemu_exit: true,
        };
        section(&format!("{}: stress, {runs} runs", board.name()));
        let image = match kernel_build::build_image(flavor) {
            Ok(image) => image,
            Err(e) => {
                report.fail(format!("[{} stress] boot::build: {e:#}", board.name()));
                break;
            }
        };
        // Four cores: raspi4b always has them; virt's configuration that
        // asks for them.
        let four = |c: &&TestConfig| c.board == Board::Rpi4 || c.smp.is_some_and(|n| n >= 4);
        let Some(cfg) = qemu::utest_configs(board).find(four) else {
            report.fail(format!(
                "{}: no four-core user test configuration",
                board.name()
            ));
            break;
        };
        for run in 1..=runs {
            let failed = report.failed;
            let label = format!("{} stress {run}/{runs}", cfg.label);
            ktest_run(cfg, &label, &image, timeout, &mut report);
            if report.failed > failed {
                return report.finish();
            }
        }
    }
    report.finish()
}

/// The SD card image: written with stand-in firmware files and the Pi 4
/// device tree the DTB boots use; read back with mtools (a FAT and MBR
/// reader independent of the writer); its kernel8.img and device tree,
/// taken out of the image, booted on raspi4b through the user suite.
fn sd_image_run(timeout: Duration, report: &mut Report) {
    let label = "rpi4 sd image";
    section("rpi4: SD card image (written, read back with mtools, booted)");
    let mut check = |name: &str, result: Result<()>| match result {
        Ok(()) => {
            println!("[{label}] test {name} ... ok");
            report.pass();
        }
        Err(e) => {
            println!("[{label}] test {name} ... FAILED {e:#}");
            report.fail(format!("[{label}] {name}: {e:#}"));
        }
    };
    let dir = crate::kernel_build::target_dir().join("images/rpi4-sdtest");
    let fw = dir.join("firmware");
    let made = (|| -> Result<std::path::PathBuf> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&fw)?;
        std::fs::write(
            fw.join("start4.elf"),
            b"stand-in start4.elf for the image test\n",
        )?;
        std::fs::write(fw.join("fixup4.dat"), b"stand-in fixup4.dat\n")?;
        std::fs::copy(
            crate::workspace_root().join("bsp-rpi4/tests/data/rpi4.dtb"),
            fw.join("bcm2711-rpi-4-b.dtb"),
        )?;
        crate::sdimage::build(Board::Rpi4, Some(&fw), true, Some(dir.join("sdcard.img")))
    })();
    let img = match made {
        Ok(p) => p,
        Err(e) => return check("sdimage::build", Err(e)),
    };
    check("sdimage::build", Ok(()));
    let out = dir.join("read-back");
    let read_back = crate::sdimage::read_back_with_mtools(&img, &out, &fw);
    let read_ok = read_back.is_ok();
    check("sdimage::files_read_back_by_mtools", read_back);
    if !read_ok {
        return;
    }
    // The raspi4b user-test configuration, with the device tree from the image.
    let Some(cfg) = qemu::utest_configs(Board::Rpi4).next() else {
        return check(
            "sdimage::boot",
            Err(anyhow::anyhow!("no raspi4b configuration")),
        );
    };
    let kernel = out.join("kernel8.img");
    let mut args = cfg.qemu_args(&kernel, None);
    args.dtb = Some(out.join("bcm2711-rpi-4-b.dtb"));
    run_suite(&format!("{label} utest"), args.command(), timeout, report);
}

/// The benchmark kernel runs, reports every benchmark, and counts the same
/// instructions twice in a row (what makes `cargo xtask bench` trustworthy).
/// Benchmarks are not timed tests: only that they run and repeat is checked.
fn bench_run(board: Board, timeout: Duration, report: &mut Report) {
    let label = format!("{} kbench", board.name());
    let outcome = (|| -> Result<()> {
        let text = crate::bench::kernel_text(board)?;
        let image = crate::bench::build(board)?;
        let mut first = crate::bench::run_once(board, &image, timeout)?;
        let mut second = crate::bench::run_once(board, &image, timeout)?;
        first.push(text.clone());
        second.push(text);
        for r in &first {
            println!(
                "[{label}] bench {}: {} instructions",
                r.name, r.instructions
            );
        }
        // Costs must repeat exactly. Delays (`tick_lateness_*`) depend on
        // where the ticks fall, which icount with sleep=off makes repeat
        // too; they are held to their bound (run_once), not to equality,
        // so that a host's timing never fails the suite.
        let costs = |rs: &[crate::bench::BenchResult]| {
            rs.iter()
                .filter(|r| !r.name.starts_with(crate::bench::LATENESS_PREFIX))
                .cloned()
                .collect::<Vec<_>>()
        };
        anyhow::ensure!(
            costs(&first) == costs(&second),
            "two runs differ: {first:?} vs {second:?}"
        );
        crate::bench_doc::check(board, &first)
    })();
    let r = TestResult {
        name: "bench::runs_and_repeats".into(),
        outcome: match outcome {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::Failed(format!("{e:#}")),
        },
    };
    println!("[{label}] {}", r.line());
    match r.outcome {
        Outcome::Ok => report.pass(),
        Outcome::Failed(_) => report.fail(format!("[{label}] {}", r.line())),
    }
}

fn section(title: &str) {
    println!("\n==> {title}");
}

// ---------------------------------------------------------------- host tests

/// `cargo test` of the default members (not `--workspace`: the kernel is not a
/// host crate); counts from libtest's summary lines.
fn host_tests(report: &mut Report) {
    let mut cmd = cargo();
    // --no-fail-fast: a failing crate must not hide the other crates' counts.
    cmd.args(["test", "--no-fail-fast"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            report.fail(format!("host: cannot run {}: {e}", describe(&cmd)));
            return;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    let mut failed_names = Vec::new();
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line);
        println!("{}", line.trim_end_matches('\r'));
        if let Some(name) = libtest_failed_name(&line) {
            failed_names.push(name);
        }
        if let Some((p, f)) = parse_libtest_summary(&line) {
            passed += p;
            failed += f;
        }
    }
    let status = child.wait();
    report.add_counts(passed, failed, "host cargo test");
    for name in failed_names {
        report.failures.push(format!("host: {name}"));
    }
    match status {
        Ok(s) if s.success() => {}
        Ok(s) if failed == 0 => report.fail(format!(
            "host: cargo test failed ({s}) without a failed test (build error?)"
        )),
        Ok(_) => {}
        Err(e) => report.fail(format!("host: cargo test: {e}")),
    }
}

/// `test a::b ... FAILED` (libtest's live line) -> `a::b`.
pub fn libtest_failed_name(line: &str) -> Option<String> {
    let rest = line.trim_end().strip_prefix("test ")?;
    let name = rest.strip_suffix(" ... FAILED")?;
    (!name.is_empty()).then(|| name.to_string())
}

/// `test result: ok. 5 passed; 1 failed; 0 ignored; ...` -> (5, 1).
pub fn parse_libtest_summary(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (mut passed, mut failed) = (None, None);
    for part in rest.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(what), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => passed = Some(n),
            "failed" => failed = Some(n),
            _ => {}
        }
    }
    Some((passed?, failed?))
}

// ----------------------------------------------------------- console parsing

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub outcome: Outcome,
}

impl TestResult {
    pub fn line(&self) -> String {
        match &self.outcome {
            Outcome::Ok => format!("test {} ... ok", self.name),
            Outcome::Failed(why) if why.is_empty() => format!("test {} ... FAILED", self.name),
            Outcome::Failed(why) => format!("test {} ... FAILED {why}", self.name),
        }
    }
}

/// Honest counts: each suite announces how many tests it runs
/// (`<suite>: running N tests`, einit's `running N test programs`) and
/// ends with `<suite>: done, passed=P failed=F`. The results parsed in
/// between must be exactly that many, with those outcomes; a suite that
/// never says it is done did not run all its tests. A test program einit
/// says passed must have run its own suite (`utest-x` runs `utest_x`): one
/// that exited 0 without a word ran nothing. Each disagreement is a failed
/// result `<suite>::counts`.
#[derive(Default, Debug)]
pub struct CountChecker {
    /// Open suites, innermost last: (name, announced, ok, failed).
    open: Vec<(String, u64, u64, u64)>,
    /// Suites that said they were done.
    done: Vec<String>,
    /// Programs einit says passed.
    passed: Vec<String>,
}

impl CountChecker {
    /// A result parsed: counted to the open suite its name starts with
    /// (`<suite>::`), else to the innermost (the kernel's own tests are
    /// named by module).
    pub fn result(&mut self, r: &TestResult) {
        let i = self
            .open
            .iter()
            .rposition(|(name, ..)| r.name.starts_with(&format!("{name}::")))
            .or_else(|| self.open.len().checked_sub(1));
        if let (Some(program), Outcome::Ok) = (r.name.strip_prefix("einit::"), &r.outcome) {
            self.passed.push(program.to_string());
        }
        if let Some(i) = i {
            let s = &mut self.open[i];
            match r.outcome {
                Outcome::Ok => s.2 += 1,
                Outcome::Failed(_) => s.3 += 1,
            }
        }
    }

    /// A console line (cleaned); returns the failures it reveals.
    pub fn line(&mut self, line: &str) -> Vec<TestResult> {
        let mut out = Vec::new();
        for word_at in line.match_indices(": running ").map(|(i, _)| i) {
            let suite = line[..word_at].rsplit(' ').next().unwrap_or("");
            let mut words = line[word_at + ": running ".len()..].split(' ');
            let n = words.next().and_then(|n| n.parse::<u64>().ok());
            let n = n.filter(|_| words.next().is_some_and(|w| w.starts_with("test")));
            if let (false, Some(n)) = (suite.is_empty(), n) {
                self.open.push((suite.to_string(), n, 0, 0));
            }
        }
        for at in line.match_indices(": done, passed=").map(|(i, _)| i) {
            let suite = line[..at].rsplit(' ').next().unwrap_or("");
            let rest = &line[at + ": done, passed=".len()..];
            let passed = rest.split(' ').next().and_then(|n| n.parse::<u64>().ok());
            let failed = rest
                .split("failed=")
                .nth(1)
                .and_then(|f| f.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<u64>().ok());
            let Some(i) = self.open.iter().rposition(|(name, ..)| name == suite) else {
                continue;
            };
            let (name, announced, ok, bad) = self.open.remove(i);
            self.done.push(name.clone());
            let said = (passed.unwrap_or(u64::MAX), failed.unwrap_or(u64::MAX));
            if ok + bad != announced || said != (ok, bad) {
                out.push(TestResult {
                    name: format!("{name}::counts"),
                    outcome: Outcome::Failed(format!(
                        "announced {announced} tests and said passed={} failed={}, but {} results were seen ({ok} ok, {bad} failed)",
                        said.0, said.1, ok + bad
                    )),
                });
            }
        }
        out
    }

    /// The end of the console: suites that never said they were done, and
    /// programs that passed without running their suite.
    pub fn finish(&mut self) -> Vec<TestResult> {
        let mut out: Vec<TestResult> = self
            .open
            .drain(..)
            .map(|(name, announced, ok, bad)| TestResult {
                name: format!("{name}::counts"),
                outcome: Outcome::Failed(format!(
                    "announced {announced} tests, {} results seen, and it never said it was done",
                    ok + bad
                )),
            })
            .collect();
        for program in &self.passed {
            let suite = program.replace('-', "_");
            if !self.done.contains(&suite) {
                out.push(TestResult {
                    name: format!("einit::{program}::counts"),
                    outcome: Outcome::Failed(format!("exited 0 but never ran its suite `{suite}`")),
                });
            }
        }
        out
    }
}

/// Incremental parser of the test kernel's console, fed one line at a time.
#[derive(Default, Debug)]
pub struct ConsoleParser {
    pending: Option<String>,
}

impl ConsoleParser {
    /// Feeds one console line (without its `\n`); returns results it completed.
    pub fn feed(&mut self, raw: &str) -> Vec<TestResult> {
        let line = clean_line(raw);
        let mut out = Vec::new();
        let starts = find_starts(&line);
        // Text before the first `test ` start belongs to the pending test.
        let head_end = starts.first().map_or(line.len(), |s| s.at);
        if let Some(name) = self.pending.take() {
            match result_in_continuation(&line[..head_end]) {
                Some(outcome) => out.push(TestResult { name, outcome }),
                None if !starts.is_empty() => out.push(TestResult {
                    name,
                    outcome: Outcome::Failed("no result (the next test started)".into()),
                }),
                None => self.pending = Some(name),
            }
        }
        for (i, s) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(line.len(), |n| n.at);
            let rest = &line[s.rest..end];
            match result_on_start_line(rest) {
                Some(outcome) => out.push(TestResult {
                    name: s.name.clone(),
                    outcome,
                }),
                None if i + 1 < starts.len() => out.push(TestResult {
                    name: s.name.clone(),
                    outcome: Outcome::Failed("no result (the next test started)".into()),
                }),
                None => self.pending = Some(s.name.clone()),
            }
        }
        out
    }

    /// End of console: a test still waiting for its result failed.
    pub fn finish(&mut self, why: &str) -> Option<TestResult> {
        self.pending.take().map(|name| TestResult {
            name,
            outcome: Outcome::Failed(why.into()),
        })
    }
}

struct Start {
    /// Byte offset of `test `.
    at: usize,
    name: String,
    /// Byte offset just after `...`.
    rest: usize,
}

/// Removes `\r`, ANSI escape sequences and trailing blanks.
pub fn clean_line(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // NUL: what the on-target fuzzer writes to the console.
            '\r' | '\0' => {}
            '\x1b' => {
                // CSI: ESC [ params final-byte(@..~); otherwise drop ESC and one char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// Every `test <name> ...` in a line (at a word boundary).
fn find_starts(line: &str) -> Vec<Start> {
    let mut v = Vec::new();
    let mut from = 0;
    while let Some(off) = line[from..].find("test ") {
        let at = from + off;
        from = at + 5;
        let boundary = line[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if !boundary {
            continue;
        }
        let after = &line[at + 5..];
        let name_len = after.find(char::is_whitespace).unwrap_or(after.len());
        let name = &after[..name_len];
        let tail = &after[name_len..];
        let dots = tail.trim_start_matches(' ');
        if name.is_empty() || !dots.starts_with("...") {
            continue;
        }
        let rest = at + 5 + name_len + (tail.len() - dots.len()) + 3;
        v.push(Start {
            at,
            name: name.to_string(),
            rest,
        });
        from = rest;
    }
    v
}

/// Result text right after `test x::y ...` on the same line.
fn result_on_start_line(rest: &str) -> Option<Outcome> {
    let rest = rest.trim();
    if rest == "ok" {
        return Some(Outcome::Ok);
    }
    failed_in(rest).or_else(|| result_in_continuation(rest))
}

/// Result on a later line while a test is pending: the line is `ok`,
/// ends with `... ok`, or holds `FAILED <why>`.
fn result_in_continuation(text: &str) -> Option<Outcome> {
    let t = text.trim();
    if t == "ok" || t.ends_with("... ok") || t.ends_with("...ok") {
        return Some(Outcome::Ok);
    }
    failed_in(t)
}

/// `FAILED <why>` as a word anywhere in the text: the reason is what follows.
fn failed_in(text: &str) -> Option<Outcome> {
    let mut from = 0;
    while let Some(off) = text[from..].find("FAILED") {
        let at = from + off;
        from = at + 6;
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = &text[at + 6..];
        let after_ok = after.chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            return Some(Outcome::Failed(after.trim().to_string()));
        }
    }
    None
}

// ------------------------------------------------------------- QEMU running

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Ended by a signal.
    Signal,
    /// Killed by us after the timeout.
    Timeout,
}

pub struct Captured {
    pub lines: Vec<String>,
    pub exit: Exit,
}

/// Runs `cmd` with stdin detached, stdout and stderr read line by line
/// (each line handed to `on_line` as it comes), killing it after `timeout`.
pub fn run_captured(
    mut cmd: Command,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<Captured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", describe(&cmd)))?;
    let (tx, rx) = mpsc::channel::<String>();
    let readers = [
        child.stdout.take().map(|s| spawn_reader(s, tx.clone())),
        child.stderr.take().map(|s| spawn_reader(s, tx.clone())),
    ];
    drop(tx);

    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    let mut status: Option<ExitStatus> = None;
    let mut timed_out = false;
    let mut pipes_open = true;
    while status.is_none() {
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break;
        }
        let wait = (deadline - now).min(Duration::from_millis(50));
        if pipes_open {
            match rx.recv_timeout(wait) {
                Ok(line) => {
                    on_line(&line);
                    lines.push(line);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => pipes_open = false,
            }
        } else {
            thread::sleep(wait);
        }
        status = child.try_wait().context("waiting for QEMU")?;
    }
    // Lines still in the pipes after exit (bounded: a leftover grandchild could
    // keep a pipe open).
    let drain_until = Instant::now() + Duration::from_secs(2);
    while let Some(left) = drain_until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                on_line(&line);
                lines.push(line);
            }
            Err(_) => break,
        }
    }
    for r in readers.into_iter().flatten() {
        if r.is_finished() {
            let _ = r.join();
        }
    }
    let exit = if timed_out {
        Exit::Timeout
    } else {
        match status.and_then(|s| s.code()) {
            Some(c) => Exit::Code(c),
            None => Exit::Signal,
        }
    };
    Ok(Captured { lines, exit })
}

fn spawn_reader(
    src: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut r = BufReader::new(src);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

fn print_tail(label: &str, lines: &[String]) {
    let tail: VecDeque<_> = lines.iter().rev().take(TAIL_LINES).rev().collect();
    println!("[{label}] ---- last {} console lines ----", tail.len());
    for l in tail {
        println!("[{label}] | {}", clean_line(l));
    }
    println!("[{label}] ---- end of console ----");
}

/// One boot of a test image (test kernel or user test image): every test
/// line becomes a result; results are shown as `[label] ...`.
fn ktest_run(
    cfg: &TestConfig,
    label: &str,
    image: &std::path::Path,
    timeout: Duration,
    report: &mut Report,
) {
    run_suite(label, cfg.qemu_args(image, None).command(), timeout, report);
}

/// Boots `cmd` (a QEMU command line), reports each test the console shows
/// and how the run ended.
fn run_suite(label: &str, cmd: Command, timeout: Duration, report: &mut Report) {
    println!("[{label}] {}", describe(&cmd));
    let mut parser = ConsoleParser::default();
    let mut counts = CountChecker::default();
    let mut whole = WholeLines::default();
    let mut results: Vec<TestResult> = Vec::new();
    let record = |r: TestResult, results: &mut Vec<TestResult>| {
        println!("[{label}] {}", r.line());
        results.push(r);
    };
    let captured = run_captured(cmd, timeout, |line| {
        for r in parser.feed(line) {
            counts.result(&r);
            record(r, &mut results);
        }
        let line = clean_line(line);
        whole.line(&line);
        for r in counts.line(&line) {
            record(r, &mut results);
        }
    });
    let captured = match captured {
        Ok(c) => c,
        Err(e) => {
            println!("[{label}] test boot::qemu ... FAILED {e:#}");
            report.fail(format!("[{label}] boot::qemu: {e:#}"));
            return;
        }
    };
    let why = match captured.exit {
        Exit::Timeout => "no result (timeout: hang)",
        _ => "no result (the kernel stopped: crash?)",
    };
    if let Some(r) = parser.finish(why) {
        counts.result(&r);
        record(r, &mut results);
    }
    for r in counts.finish().into_iter().chain(whole.finish()) {
        record(r, &mut results);
    }
    let mut run_failed = false;
    for r in &results {
        match &r.outcome {
            Outcome::Ok => report.pass(),
            Outcome::Failed(_) => {
                run_failed = true;
                report.fail(format!("[{label}] {}", r.line()));
            }
        }
    }
    let mut synthetic = |name: &str, why: String| {
        let r = TestResult {
            name: name.into(),
            outcome: Outcome::Failed(why),
        };
        println!("[{label}] {}", r.line());
        report.fail(format!("[{label}] {}", r.line()));
    };
    match captured.exit {
        Exit::Timeout => {
            synthetic(
                "boot::timeout",
                format!("(timeout: hang) after {}s", timeout.as_secs()),
            );
            run_failed = true;
        }
        Exit::Code(0) => {}
        Exit::Code(c) => {
            synthetic("boot::exit_status", format!("status {c}"));
            run_failed = true;
        }
        Exit::Signal => {
            synthetic("boot::exit_status", "QEMU killed by a signal".into());
            run_failed = true;
        }
    }
    if results.is_empty() {
        synthetic("boot::tests_reported", "the kernel reported no test".into());
        run_failed = true;
    }
    if run_failed {
        print_tail(label, &captured.lines);
    } else {
        println!("[{label}] {} tests passed", results.len());
    }
}

/// Outcome of an expected-failure boot, from its console and exit.
pub fn check_fault_run(
    lines: &[String],
    exit: Exit,
    needles: &[&str],
    expect_success: bool,
) -> Outcome {
    let text = lines
        .iter()
        .map(|l| clean_line(l))
        .collect::<Vec<_>>()
        .join("\n");
    let mut problems = Vec::new();
    match (exit, expect_success) {
        (Exit::Timeout, _) => problems.push("timeout: hang (the system did not stop)".to_string()),
        (Exit::Code(0), false) => problems.push("exit status 0 (expected non-zero)".to_string()),
        (Exit::Code(0), true) | (Exit::Code(_) | Exit::Signal, false) => {}
        (Exit::Code(_) | Exit::Signal, true) => {
            problems.push(format!("{exit:?} (expected exit status 0)"))
        }
    }
    let text = text.to_lowercase();
    for needle in needles {
        if !text.contains(&needle.to_lowercase()) {
            problems.push(format!("console lacks `{needle}`"));
        }
    }
    if problems.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Failed(problems.join("; "))
    }
}

/// Boots with `-append <cmdline>`: the kernel must report what went wrong
/// and stop the system with a non-zero status.
fn fault_run(
    cfg: &TestConfig,
    expected: &ExpectedFailure,
    image: &std::path::Path,
    timeout: Duration,
    report: &mut Report,
) {
    let label = format!("{} {}", cfg.board.name(), expected.cmdline);
    let cmd = cfg.qemu_args(image, Some(expected.cmdline)).command();
    println!("[{label}] {}", describe(&cmd));
    let outcome = match run_captured(cmd, timeout, |_| {}) {
        Ok(c) => {
            let o = check_fault_run(&c.lines, c.exit, expected.needles, expected.expect_success);
            if o != Outcome::Ok {
                print_tail(&label, &c.lines);
            }
            o
        }
        Err(e) => Outcome::Failed(format!("{e:#}")),
    };
    let r = TestResult {
        name: expected.test.into(),
        outcome,
    };
    println!("[{label}] {}", r.line());
    match r.outcome {
        Outcome::Ok => report.pass(),
        Outcome::Failed(_) => report.fail(format!("[{label}] {}", r.line())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_checked() {
        use super::{ConsoleParser, CountChecker, Outcome};
        let run = |text: &str| {
            let mut p = ConsoleParser::default();
            let mut c = CountChecker::default();
            let mut bad = Vec::new();
            for line in text.lines() {
                for r in p.feed(line) {
                    c.result(&r);
                }
                bad.extend(c.line(line));
            }
            bad.extend(c.finish());
            bad.into_iter()
                .filter(|r| r.outcome != Outcome::Ok)
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        let honest = "einit: running 1 test programs from /etc/init.tests\n\
                      s: running 2 tests\n\
                      test s::a ... ok\n\
                      test s::b ... FAILED why\n\
                      s: done, passed=1 failed=1\n\
                      test einit::s ... FAILED exit code 1\n\
                      einit: done, passed=0 failed=1\n";
        assert!(run(honest).is_empty(), "{:?}", run(honest));
        // One test never ran.
        let short = honest.replace("test s::b ... FAILED why\n", "");
        assert_eq!(run(&short), ["s::counts"]);
        // A program that says it passed more than it ran.
        let liar = honest.replace("passed=1 failed=1", "passed=2 failed=0");
        assert_eq!(run(&liar), ["s::counts"]);
        // A program that never finished.
        let cut = honest.replace("s: done, passed=1 failed=1\n", "");
        assert_eq!(run(&cut), ["s::counts"]);
        // A program that exits 0 without running its suite.
        let quiet = "einit: running 1 test programs from /etc/init.tests\n\
                     test einit::utest-quiet ... ok\n\
                     einit: done, passed=1 failed=0\n";
        assert_eq!(run(quiet), ["einit::utest-quiet::counts"]);
        let spoken = quiet.replace(
            "test einit::",
            "utest_quiet: running 0 tests\nutest_quiet: done, passed=0 failed=0\ntest einit::",
        );
        assert!(run(&spoken).is_empty(), "{:?}", run(&spoken));
        // The kernel's own suite, its tests named by module.
        let ktest = "ktest: running 2 tests\ntest romfs::a ... ok\ntest heap::b ... ok\nktest: done, passed=2 failed=0\n";
        assert!(run(ktest).is_empty());
    }

    use super::*;

    fn parse(text: &str) -> Vec<TestResult> {
        let mut p = ConsoleParser::default();
        let mut v = Vec::new();
        for l in text.split('\n') {
            v.extend(p.feed(l));
        }
        v.extend(p.finish("no result"));
        v
    }

    fn ok(name: &str) -> TestResult {
        TestResult {
            name: name.into(),
            outcome: Outcome::Ok,
        }
    }

    fn failed(name: &str, why: &str) -> TestResult {
        TestResult {
            name: name.into(),
            outcome: Outcome::Failed(why.into()),
        }
    }

    #[test]
    fn simple_lines_with_crlf() {
        let text = "kernel booting\r\nrunning 3 tests\r\ntest frame::alloc_all ... ok\r\n\
                    test heap::grow ... FAILED expected 4, got 5\r\n\
                    test gic::timer_tick ... ok\r\n";
        assert_eq!(
            parse(text),
            vec![
                ok("frame::alloc_all"),
                failed("heap::grow", "expected 4, got 5"),
                ok("gic::timer_tick")
            ]
        );
    }

    #[test]
    fn result_split_by_other_output() {
        let text = "test mmu::map ... [ 0.01] mapping 512 pages\n[ 0.02] done\nok\n\
                    test mmu::wx ... [warn] something\r\nFAILED page writable and executable\n\
                    test a::b ... \r\n   ok  \n";
        assert_eq!(
            parse(text),
            vec![
                ok("mmu::map"),
                failed("mmu::wx", "page writable and executable"),
                ok("a::b")
            ]
        );
    }

    #[test]
    fn log_line_ending_in_ok_does_not_pass_a_test() {
        // Only a bare `ok` (or `... ok`) completes a pending test.
        let text = "test x::y ... \n[log] looks ok\n";
        assert_eq!(parse(text), vec![failed("x::y", "no result")]);
    }

    #[test]
    fn missing_results() {
        // Started, then the next test started: the first never finished.
        let text = "test a::one ... \ntest a::two ... ok\ntest a::three ... \n\
                    panic at kernel/src/x.rs:3\n";
        assert_eq!(
            parse(text),
            vec![
                failed("a::one", "no result (the next test started)"),
                ok("a::two"),
                failed("a::three", "no result"),
            ]
        );
    }

    #[test]
    fn start_after_junk_and_two_on_one_line() {
        let text = "\x1b[32m[boot]\x1b[0m test s::a ... ok test s::b ... ok\n\
                    garbage test s::c ... ok\nattest s::d ... ok\n";
        assert_eq!(parse(text), vec![ok("s::a"), ok("s::b"), ok("s::c")]);
    }

    #[test]
    fn failed_without_reason_and_cr_only() {
        let text = "test a::b ... FAILED\ntest a::c ...\rok\r\n";
        assert_eq!(parse(text), vec![failed("a::b", ""), ok("a::c")]);
    }

    #[test]
    fn nuls_are_dropped() {
        // What the fuzzer writes to the console lands inside result lines.
        let text = "test a::b ... \0\0\0ok\ntest a::c ... \0FAILED x\0\n";
        assert_eq!(parse(text), vec![ok("a::b"), failed("a::c", "x")]);
    }

    #[test]
    fn summary_lines_are_not_tests() {
        assert!(parse("test result: ok. 3 passed; 0 failed\nrunning 3 tests\n").is_empty());
    }

    #[test]
    fn result_line_round_trip() {
        assert_eq!(ok("a::b").line(), "test a::b ... ok");
        assert_eq!(
            failed("a::b", "status 3").line(),
            "test a::b ... FAILED status 3"
        );
    }

    #[test]
    fn libtest_summary() {
        assert_eq!(
            parse_libtest_summary(
                "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"
            ),
            Some((12, 0))
        );
        assert_eq!(
            parse_libtest_summary("test result: FAILED. 3 passed; 2 failed; 0 ignored"),
            Some((3, 2))
        );
        assert_eq!(parse_libtest_summary("test foo ... ok"), None);
        assert_eq!(parse_libtest_summary("running 3 tests"), None);
        assert_eq!(
            libtest_failed_name("test drivers::pl011::tests::divisors ... FAILED\r"),
            Some("drivers::pl011::tests::divisors".into())
        );
        assert_eq!(libtest_failed_name("test a::b ... ok"), None);
    }

    #[test]
    fn fault_run_checks() {
        let lines: Vec<String> = [
            "booting",
            "\r*** unexpected exception: synchronous, current EL with SP_ELx",
            "ESR_EL1 = 0x96000045 ELR_EL1 = 0xffff000000081234\r",
        ]
        .map(String::from)
        .to_vec();
        let needles = &["unexpected exception", "ESR"];
        assert_eq!(
            check_fault_run(&lines, Exit::Code(1), needles, false),
            Outcome::Ok
        );
        assert!(matches!(
            check_fault_run(&lines, Exit::Code(0), needles, false),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            check_fault_run(&lines, Exit::Timeout, needles, false),
            Outcome::Failed(_)
        ));
        assert_eq!(
            check_fault_run(&lines, Exit::Code(0), needles, true),
            Outcome::Ok
        );
        assert!(matches!(
            check_fault_run(&lines, Exit::Code(2), needles, true),
            Outcome::Failed(_)
        ));
        let no_esr = vec!["unexpected exception".to_string()];
        assert!(
            matches!(check_fault_run(&no_esr, Exit::Code(1), needles, false), Outcome::Failed(w) if w.contains("ESR"))
        );
    }

    #[test]
    fn captured_run_with_timeout() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'test a::b ... '; echo ok; echo err >&2; exit 3"]);
        let mut seen = Vec::new();
        let c = run_captured(cmd, Duration::from_secs(20), |l| seen.push(l.to_string())).unwrap();
        assert_eq!(c.exit, Exit::Code(3));
        assert!(seen.contains(&"ok".to_string()) && seen.contains(&"err".to_string()));

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let t = Instant::now();
        let c = run_captured(cmd, Duration::from_millis(500), |_| {}).unwrap();
        assert_eq!(c.exit, Exit::Timeout);
        assert_eq!(c.lines, vec!["started".to_string()]);
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
