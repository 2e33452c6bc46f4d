//! The demonstration system's launcher (class `demo.Launcher`): the
//! IProcessControl example of KasperskyOS's documentation (client.cpp),
//! line for line: start run configuration "app" of package
//! "application.Application", read its state, stop it. It stops the
//! application Normal (the application finishes cleanly) where the
//! example says Forced, then starts it again and stops it Forced.

#![no_std]
#![no_main]

use execution_manager::{ProcessControl, ProcessState, StartOptions, StopPolicy};
use libkos::println;

libkos::main!(main);

fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(why) => {
            println!("launcher: {why}");
            1
        }
    }
}

fn run() -> Result<(), alloc::string::String> {
    use alloc::format;
    let pc = ProcessControl::connect().map_err(|e| format!("no ExecutionManager: {e}"))?;
    let start_options = StartOptions::default();
    let package_id = "application.Application";
    let run_config_id = "app";
    for policy in [StopPolicy::Normal, StopPolicy::Forced] {
        let token = pc
            .start_process(package_id, run_config_id, &start_options)
            .map_err(|e| format!("Failed to start process. res={e}"))?;
        let context = pc
            .get_process_state(&token)
            .map_err(|e| format!("Failed to get process state. res={e}"))?;
        if context.state == ProcessState::Running {
            println!("launcher: Process state is Running.");
        }
        pc.stop_process(&token, policy)
            .map_err(|e| format!("Failed to stop process. res={e}"))?;
        let end = pc
            .get_process_state(&token)
            .map_err(|e| format!("Failed to get process state. res={e}"))?;
        println!(
            "launcher: stopped ({policy:?}): {:?}, {:?}, exit code {}",
            end.state, end.exit_status, end.exit_code
        );
    }
    Ok(())
}

extern crate alloc;
