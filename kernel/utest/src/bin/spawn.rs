//! Process creation and ending: no leaks over many processes, exit codes,
//! and every error `Create`, `SetEnv`, `Resume`, `Wait` must report.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;

use libkos::abi::sched::{DEFAULT_PRIORITY, MAX_PRIORITY};
use libkos::abi::task::{CreateFlags, ExitStatus, MAX_ENV};
use libkos::task::{self, FOREVER, Task};
use libkos::test::TestResult;
use libkos::{Rc, check_eq, check_ok, println};
use utest::{expect_exit, expect_rc, ms, role, run_role, start_role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

fn main() -> i32 {
    match role() {
        Some(r) => child(r),
        None => libkos::test::run(
            "utest_spawn",
            libkos::tests![
                create_and_end_leaks_nothing,
                exit_code_propagates,
                panic_exits_101,
                create_missing_path,
                create_not_an_elf,
                create_truncated_elf,
                create_name_taken,
                create_priority_too_high,
                set_env_too_big,
                running_child_state_and_errors,
            ],
        ),
    }
}

fn child(role: &str) -> i32 {
    match role {
        "exit0" => 0,
        "exit42" => 42,
        "panic" => panic!("deliberate panic (role=panic)"),
        r if r.starts_with("sleep=") => {
            let Ok(n) = r["sleep=".len()..].parse::<u64>() else {
                return 64;
            };
            libkos::syscall::sleep_ns(ms(n));
            0
        }
        other => {
            println!("utest-spawn: unknown role {other}");
            64
        }
    }
}

fn create(name: &str, path: &str) -> Result<Task, Rc> {
    Task::create(name, path, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
}

/// One full cycle: create, set the environment, resume, wait, close.
fn cycle(name: &str) -> Result<(), String> {
    let info = run_role(SELF, name, "exit0")?;
    expect_exit(&info, 0)
}

fn create_and_end_leaks_nothing() -> TestResult {
    // Warm-up: whatever this process's heap grows by for a cycle has grown.
    cycle("leak-warmup")?;
    let before = check_ok!(libkos::sys::mem_stats(), "mem_stats before");
    for i in 0..30 {
        cycle(&format!("leak-{i:02}"))?;
    }
    let after = check_ok!(libkos::sys::mem_stats(), "mem_stats after");
    check_eq!(after.free_frames, before.free_frames, "free frames");
    check_eq!(after.heap_used, before.heap_used, "kernel heap bytes used");
    check_eq!(after.processes, before.processes, "live processes");
    check_eq!(after.threads, before.threads, "live threads");
    Ok(())
}

fn exit_code_propagates() -> TestResult {
    let info = run_role(SELF, "exit-42", "exit42")?;
    expect_exit(&info, 42)
}

fn panic_exits_101() -> TestResult {
    let info = run_role(SELF, "exit-panic", "panic")?;
    expect_exit(&info, libkos::PANIC_EXIT_CODE)
}

fn create_missing_path() -> TestResult {
    expect_rc(
        "create /tests/no-such-program",
        create("missing", "/tests/no-such-program"),
        Rc::ResourceNotFound,
    )
}

fn create_not_an_elf() -> TestResult {
    expect_rc(
        "create /etc/motd",
        create("motd", "/etc/motd"),
        Rc::BadExecutable,
    )
}

fn create_truncated_elf() -> TestResult {
    expect_rc(
        "create /tests/data/truncated.elf",
        create("truncated", "/tests/data/truncated.elf"),
        Rc::BadExecutable,
    )
}

/// Ends a created, not yet resumed child.
fn finish(t: Task, what: &str) -> TestResult {
    check_ok!(t.set_env(b"role=exit0"), "{what}: set_env");
    check_ok!(t.resume(), "{what}: resume");
    let info = check_ok!(t.wait(FOREVER), "{what}: wait");
    expect_exit(&info, 0)?;
    check_ok!(t.close(), "{what}: close");
    Ok(())
}

fn create_name_taken() -> TestResult {
    let first = check_ok!(create("dup-name", SELF), "first create");
    let second = create("dup-name", SELF);
    let verdict = expect_rc(
        "second create with the same name",
        second,
        Rc::AlreadyExists,
    );
    finish(first, "first")?;
    verdict
}

fn create_priority_too_high() -> TestResult {
    expect_rc(
        "create with priority MAX_PRIORITY + 1",
        Task::create("prio", SELF, MAX_PRIORITY + 1, CreateFlags::FROM_ROMFS),
        Rc::InvalidArgument,
    )
}

fn set_env_too_big() -> TestResult {
    let t = check_ok!(create("env-big", SELF), "create");
    let verdict = expect_rc(
        "set_env of MAX_ENV + 1 bytes",
        t.set_env(&vec![b'x'; MAX_ENV + 1]),
        Rc::InvalidArgument,
    );
    finish(t, "env-big")?;
    verdict
}

/// A child that sleeps 1 s: it is Running, cannot be resumed again or get
/// a new environment, and a short wait times out.
fn running_child_state_and_errors() -> TestResult {
    let t = start_role(SELF, "sleeper", "sleep=1000")?;
    let results = [
        expect_rc("second resume", t.resume(), Rc::Busy),
        expect_rc("set_env after resume", t.set_env(b"role=exit0"), Rc::Busy),
        match t.exit_info() {
            Ok(info) if task::status(&info) == Some(ExitStatus::Running) => Ok(()),
            Ok(info) => Err(format!(
                "exit info of a running child: {}",
                task::Describe(&info)
            )),
            Err(e) => Err(format!("exit info of a running child: {e}")),
        },
        expect_rc("wait 10 ms", t.wait(ms(10)), Rc::Timeout),
        match t.pid() {
            Ok(pid) if pid == u64::from(t.created_pid()) => Ok(()),
            Ok(pid) => Err(format!(
                "GetPid says {pid}, Create said {}",
                t.created_pid()
            )),
            Err(e) => Err(format!("GetPid of a running child: {e}")),
        },
    ];
    let info = check_ok!(t.wait(FOREVER), "wait forever");
    expect_exit(&info, 0)?;
    check_ok!(t.close(), "close");
    results.into_iter().collect()
}
