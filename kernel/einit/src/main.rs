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
//! - Otherwise it starts the system `/etc/init` describes (an init
//!   description, compiled and checked by xtask from
//!   `kernel/einit/systems/<system>.yaml`; `kos_abi::init`): it creates
//!   every process (name, class, path, rights, budget, arguments, variables; a class with
//!   a component declaration gets its endpoints), makes the static
//!   channels, starts them all, waits for each, prints how each ended, and
//!   exits 0.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use libkos::abi::components::COMPONENTS;
use libkos::abi::decl::Named;
use libkos::abi::init::Description;
use libkos::abi::sched::{DEFAULT_PRIORITY, SchedClass, SchedPolicy};
use libkos::abi::task::{CreateFlags, ExitInfo};
use libkos::process::{self, Exit, INFINITE, Params, Process};
use libkos::task::{self, Describe, FOREVER, Task};
use libkos::{Rc, Rights, println, romfs};

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

/// Starts the program at `path`, named and classed after its file name,
/// with its initial thread's `policy` if given (the ceiling of its
/// threads), and every right einit has: the test programs exercise the
/// whole kernel (the policy still bounds what each may do).
fn start(path: &str, policy: Option<SchedPolicy>) -> Result<Task, Rc> {
    let name = name_of(path);
    let task = Task::create_as(name, name, path, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)?;
    task.set_initial_rights(Rights::all(), Rights::all())?;
    if let Some(policy) = policy {
        task.set_initial_thread_sched_policy(policy)?;
    }
    task.resume()?;
    Ok(task)
}

/// A list line: the path, then the initial policy if any
/// (`/tests/utest-sched Fifo 31`); `None` if the policy is malformed.
fn entry(line: &str) -> Option<(&str, Option<SchedPolicy>)> {
    let mut words = line.split_whitespace();
    let path = words.next()?;
    let policy = match (words.next(), words.next()) {
        (None, _) => None,
        (Some(class), Some(priority)) => {
            let class = <SchedClass as Named>::VALUES
                .iter()
                .find(|(n, _)| *n == class)?
                .1 as u32;
            Some(SchedPolicy {
                class,
                priority: priority.parse().ok()?,
                ..Default::default()
            })
        }
        (Some(_), None) => return None,
    };
    words.next().is_none().then_some((path, policy))
}

fn run_tests(list: &[u8]) -> i32 {
    let list = programs(list);
    println!("einit: running {} test programs from {TESTS}", list.len());
    let mut failed = 0;
    for line in &list {
        let Some((path, policy)) = entry(line) else {
            failed += 1;
            println!("test einit::{line} ... FAILED malformed line in {TESTS}");
            continue;
        };
        let name = name_of(path);
        let outcome: Result<ExitInfo, Rc> = start(path, policy).and_then(|t| {
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

/// The task object of one entity, not started.
fn init_entity(e: &libkos::abi::init::Entity<'_>) -> Result<Process, Rc> {
    let params = match COMPONENTS.iter().find(|c| c.class == e.class) {
        Some(component) => Params::component(component),
        None => Params::new(e.class),
    };
    let mut params = params.args(e.args()).rights(e.rights.0, e.rights.1);
    if let Some(b) = e.budget {
        params = params.budget(b);
    }
    let p = Process::init_ex(&params, Some(e.name), Some(e.path))?;
    let env: Vec<&str> = e.env().collect();
    p.set_env(&env)?;
    Ok(p)
}

fn run_system(bytes: &[u8]) -> i32 {
    let Some(desc) = Description::parse(bytes) else {
        println!("einit: {INIT} is not an init description");
        return 1;
    };
    let entities: Vec<_> = desc.entities().collect();
    let mut procs = Vec::new();
    for e in &entities {
        match init_entity(e) {
            Ok(p) => {
                println!("einit: created {} (class {}, {})", e.name, e.class, e.path);
                // A budget the description narrows, as the kernel holds it.
                if e.budget.is_some() {
                    match libkos::task::get_budget(p.handle()) {
                        Ok(b) => println!(
                            "einit: {}'s budget: processes {}, threads {}, handles {}, frames {}, memory {} bytes",
                            e.name,
                            b.limit.processes,
                            b.limit.threads,
                            b.limit.handles,
                            b.limit.frames,
                            b.limit.memory
                        ),
                        Err(err) => println!("einit: {}'s budget: {err}", e.name),
                    }
                }
                procs.push(Some(p));
            }
            Err(err) => {
                println!("einit: cannot create {} ({}): {err}", e.name, e.path);
                procs.push(None);
            }
        }
    }
    for (e, client) in entities.iter().zip(&procs) {
        for c in e.connections() {
            let server = procs.get(usize::from(c.server)).and_then(Option::as_ref);
            let (Some(client), Some(server)) = (client, server) else {
                continue;
            };
            match process::connect_to_service(client, server, c.channel) {
                Ok(()) => println!(
                    "einit: channel \"{}\" from {} to {}",
                    c.channel,
                    e.name,
                    server.name()
                ),
                Err(err) => println!("einit: channel {} from {}: {err}", c.channel, e.name),
            }
        }
    }
    let mut running = Vec::new();
    for p in procs.into_iter().flatten() {
        match p.run() {
            Ok(()) => running.push(p),
            Err(err) => println!("einit: cannot start {}: {err}", p.name()),
        }
    }
    for p in &running {
        match p.wait(INFINITE) {
            Ok(Exit::Code(code)) => println!("einit: {} ended with exit code {code}", p.name()),
            Ok(other) => println!("einit: {} ended: {other:?}", p.name()),
            Err(e) => println!("einit: waiting for {}: {e}", p.name()),
        }
    }
    println!("einit: all programs ended");
    0
}
