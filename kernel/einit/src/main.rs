//! einit: the first process. The kernel loads it from `/bin/einit` in the
//! ROMFS.
//!
//! - If `/etc/init.tests` exists, it runs each program listed there (one
//!   ROMFS path per line, `#` starts a comment) one after another: create
//!   (named after the file), resume, wait; it prints
//!   `test einit::<name> ... ok` when the program exited normally with code
//!   0, else `test einit::<name> ... FAILED <how it ended>`, and exits 0 if
//!   all passed, 1 otherwise (the kernel then stops the system with that
//!   status).
//! - Otherwise it starts every program listed in `/etc/init` (same format),
//!   waits for each, prints how each ended, and exits 0.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use libkos::abi::sched::DEFAULT_PRIORITY;
use libkos::abi::task::{CreateFlags, ExitInfo};
use libkos::task::{self, Describe, FOREVER, Task};
use libkos::{Rc, println, romfs};

libkos::main!(main);

const TESTS: &str = "/etc/init.tests";
const INIT: &str = "/etc/init";

fn main() -> i32 {
    match romfs::read_to_vec(TESTS) {
        Ok(list) => return run_tests(&list),
        Err(Rc::ResourceNotFound) => {}
        Err(e) => {
            println!("einit: cannot read {TESTS}: {e}");
            return 1;
        }
    }
    match romfs::read_to_vec(INIT) {
        Ok(list) => run_system(&list),
        Err(Rc::ResourceNotFound) => {
            println!("einit: no {INIT}: nothing to start");
            0
        }
        Err(e) => {
            println!("einit: cannot read {INIT}: {e}");
            1
        }
    }
}

/// The program paths of an init list: one per line, `#` comments, blank
/// lines ignored.
fn programs(list: &[u8]) -> Vec<&str> {
    let text = core::str::from_utf8(list).unwrap_or("");
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .collect()
}

/// The process name for a path: its file name.
fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Starts the program at `path`, named and classed after its file name.
fn start(path: &str) -> Result<Task, Rc> {
    let name = name_of(path);
    let task = Task::create_as(name, name, path, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)?;
    task.resume()?;
    Ok(task)
}

fn run_tests(list: &[u8]) -> i32 {
    let list = programs(list);
    println!("einit: running {} test programs from {TESTS}", list.len());
    let mut failed = 0;
    for path in &list {
        let name = name_of(path);
        let outcome: Result<ExitInfo, Rc> = start(path).and_then(|t| {
            let info = t.wait(FOREVER);
            let _ = t.close();
            info
        });
        match outcome {
            Ok(info) if task::exited_with(&info, 0) => println!("test einit::{name} ... ok"),
            Ok(info) => {
                failed += 1;
                println!("test einit::{name} ... FAILED {}", Describe(&info));
            }
            Err(e) => {
                failed += 1;
                println!("test einit::{name} ... FAILED cannot run {path}: {e}");
            }
        }
    }
    println!(
        "einit: done, passed={} failed={failed}",
        list.len() - failed
    );
    i32::from(failed != 0)
}

fn run_system(list: &[u8]) -> i32 {
    let list = programs(list);
    let mut running = Vec::new();
    for path in list {
        match start(path) {
            Ok(task) => running.push((path, task)),
            Err(e) => println!("einit: cannot start {path}: {e}"),
        }
    }
    for (path, task) in running {
        match task.wait(FOREVER) {
            Ok(info) => println!("einit: {} ended: {}", name_of(path), Describe(&info)),
            Err(e) => println!("einit: waiting for {path}: {e}"),
        }
    }
    println!("einit: all programs ended");
    0
}
