//! The ExecutionManager (class `execution_manager.ExecutionManager`):
//! serves `execution_manager.IProcessControl` on its channel
//! `execution_manager` (a static channel from the init description, else
//! the resource of that name its parent gave it) over the packages of
//! `/etc/packages` (compiled by xtask from the packages' manifests). At
//! start it starts every `autorun` run configuration. With `--until-idle`
//! it ends once a client has asked it for a start, everything it started
//! has ended and no request has come for half a second (for systems that
//! should stop when their work is done).
//! docs/execution-manager.md tells the whole story.

#![no_std]
#![no_main]

extern crate alloc;

mod manager;
mod service;

use alloc::boxed::Box;
use alloc::vec::Vec;

use libkos::abi::em::registry::Registry;
use libkos::abi::em::{Options, ProcessState};
use libkos::services::process_control;
use libkos::{Rc, ipc, locator, println, process, romfs};

use execution_manager::CHANNEL;
use manager::{Manager, Start};

libkos::main!(main);

const PACKAGES: &str = "/etc/packages";

/// How long the server waits for a request before it looks whether its
/// work is done (`--until-idle`).
const IDLE_NS: u64 = 500_000_000;

fn main() -> i32 {
    let bytes: &'static [u8] = match romfs::read_to_vec(PACKAGES) {
        Ok(b) => Box::leak(b.into_boxed_slice()),
        Err(e) => {
            println!("execution-manager: cannot read {PACKAGES}: {e}");
            return 1;
        }
    };
    let Some(registry) = Registry::parse(bytes) else {
        println!("execution-manager: {PACKAGES} is not a package registry");
        return 1;
    };
    let Ok(end) = locator::register(CHANNEL).or_else(|_| process::lookup_resource(CHANNEL)) else {
        println!("execution-manager: no {CHANNEL} channel to serve");
        return 1;
    };
    let until_idle = libkos::env::args().any(|a| a == "--until-idle");
    let mut m = Manager::new(registry);
    autorun(&mut m);
    let mut server = ipc::Server::new(
        end,
        process_control::REQUEST_CAP,
        process_control::REPLY_CAP,
    );
    loop {
        let timeout = if until_idle { IDLE_NS } else { u64::MAX };
        match server.serve_one(timeout, |req, reply| {
            process_control::dispatch(&mut service::Service { m: &mut m }, req, reply)
        }) {
            Ok(_) => {}
            Err(Rc::Timeout) => {
                if until_idle && m.served_a_client() && m.all_ended() {
                    println!("execution-manager: all its processes ended");
                    return 0;
                }
            }
            Err(e) => {
                println!("execution-manager: receive failed: {e}; stopping its processes");
                m.stop_all();
                return 1;
            }
        }
    }
}

/// Starts every autorun run configuration (their tokens stay with the
/// ExecutionManager).
fn autorun(m: &mut Manager) {
    let autoruns: Vec<(&'static str, &'static str)> = m
        .registry()
        .packages()
        .flat_map(|p| p.configs().filter(|c| c.autorun).map(move |c| (p.id, c.id)))
        .collect();
    for (package, config) in autoruns {
        let start = Start {
            package,
            config,
            options: Options::parse(&[]).expect("empty options"),
            parent: None,
            handles: &[],
        };
        match m.start(&start) {
            Ok((i, _)) => {
                // What the start achieved (the process may have ended
                // already: a short one runs before this line does).
                let state = m.recorded(i);
                println!("execution-manager: autorun {package}/{config}: {state:?}");
                if state != ProcessState::Running {
                    println!("execution-manager: autorun {package}/{config} did not start");
                }
            }
            Err(e) => println!("execution-manager: autorun {package}/{config}: {e}"),
        }
    }
}
