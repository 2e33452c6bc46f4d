//! The demonstration system's application (package
//! `application.Application`, class `application.Application`), started
//! by the ExecutionManager: it says so, then waits for the stop signal and
//! finishes cleanly (exit code 0) when it comes, or after a minute.

#![no_std]
#![no_main]

use libkos::{println, stop};

libkos::main!(main);

fn main() -> i32 {
    let mode = libkos::env::var("MODE").unwrap_or("?");
    let args: usize = libkos::env::args().count() - 1;
    println!("app: running (mode {mode}, {args} argument(s)); waiting for the stop signal");
    match stop::wait(60_000_000_000) {
        Ok(true) => {
            println!("app: asked to stop; finishing cleanly");
            0
        }
        Ok(false) => {
            println!("app: nobody asked me to stop; ending");
            0
        }
        Err(e) => {
            println!("app: no stop signal to watch ({e}): not started by the ExecutionManager");
            1
        }
    }
}
