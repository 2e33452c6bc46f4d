//! Helpers shared by the user-space test programs.
//!
//! A test program that needs a second process starts itself again (same
//! binary, so same addresses: there is no ASLR yet) with environment data
//! `role=<what>`; [`role`] tells the child what it is to do.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use libkos::abi::sched::DEFAULT_PRIORITY;
use libkos::abi::task::{CreateFlags, ExitInfo, ExitStatus, FaultKind};
use libkos::task::{self, Describe, Task};
use libkos::{Rc, time};

/// Generous bound on how long a child may take (they take milliseconds).
pub const CHILD_TIMEOUT_NS: u64 = 20_000_000_000;

/// The role this process was started in (`role=<x>` environment), if any.
pub fn role() -> Option<&'static str> {
    let env = core::str::from_utf8(libkos::env()).ok()?;
    env.strip_prefix("role=")
}

/// Creates `path` as process `name` with environment `role=<role>` and
/// starts it.
pub fn start_role(path: &str, name: &str, role: &str) -> Result<Task, String> {
    let t = Task::create(name, path, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
        .map_err(|e| format!("create {name} ({path}): {e}"))?;
    t.set_env(format!("role={role}").as_bytes())
        .map_err(|e| format!("set_env of {name}: {e}"))?;
    t.resume().map_err(|e| format!("resume {name}: {e}"))?;
    Ok(t)
}

/// Runs `path` in `role` to its end; returns how it ended.
pub fn run_role(path: &str, name: &str, role: &str) -> Result<ExitInfo, String> {
    let t = start_role(path, name, role)?;
    let info = t
        .wait(CHILD_TIMEOUT_NS)
        .map_err(|e| format!("wait for {name}: {e}"))?;
    t.close().map_err(|e| format!("close {name}: {e}"))?;
    Ok(info)
}

/// `Ok` if the child ended normally with `code`.
pub fn expect_exit(info: &ExitInfo, code: i64) -> Result<(), String> {
    if task::exited_with(info, code) {
        Ok(())
    } else {
        Err(format!(
            "ended with {}, expected exit code {code}",
            Describe(info)
        ))
    }
}

/// `Ok` if the child died of an exception of kind `kind`.
pub fn expect_fault(info: &ExitInfo, kind: FaultKind) -> Result<(), String> {
    if task::status(info) == Some(ExitStatus::Exception) && task::fault(info) == kind {
        Ok(())
    } else {
        Err(format!(
            "ended with {}, expected a {kind:?} fault",
            Describe(info)
        ))
    }
}

/// `Ok` if `result` is the error `want`.
pub fn expect_rc<T: core::fmt::Debug>(
    what: &str,
    result: Result<T, Rc>,
    want: Rc,
) -> Result<(), String> {
    libkos::test::expect_err(what, result, want)
}

/// Milliseconds to nanoseconds.
pub const fn ms(n: u64) -> u64 {
    n * 1_000_000
}

/// Nanoseconds since boot.
pub fn now() -> u64 {
    time::now_ns()
}
