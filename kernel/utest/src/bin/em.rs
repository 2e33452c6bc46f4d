//! The ExecutionManager (`execution-manager`, IProcessControl): each test
//! starts an ExecutionManager of its own serving the test packages
//! (`kernel/utest/packages/utest-em.json`) and talks to it through the
//! client API: the seed's example; unknown packages, configurations and
//! tokens; every state and exit status reached and observed; a failed
//! start's reason; Normal stops of a cooperative process and of one that
//! ignores the signal; user handles, extra arguments and variables; the
//! parent hierarchy; reduced and revoked tokens.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use core::time::Duration;

use execution_manager::{
    ExitStatus, ProcessContext, ProcessControl, ProcessState, StartOptions, StopPolicy, Token,
    UserHandleItem, rights,
};
use libkos::abi::components::EXECUTION_MANAGER;
use libkos::abi::task::{DEFAULT_KERNEL_RIGHTS, DEFAULT_TASK_RIGHTS, Method};
use libkos::handle::OwnedHandle;
use libkos::process::{Params, Process};
use libkos::test::TestResult;
use libkos::{Rc, Rights, check, check_eq, check_ok, mdl, stop};
use utest::{child_result, expect_rc, ms, now, role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));
const PKG: &str = "utest.em";

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => libkos::test::run(
            "utest_em",
            libkos::tests![
                the_seeds_example,
                unknown_names_and_tokens,
                held_states_and_their_end,
                ends_by_itself_and_failures,
                normal_stop_cooperative_and_stubborn,
                options_arrive,
                parent_hierarchy,
                reduced_and_revoked_tokens,
            ],
        ),
    }
}

/// An ExecutionManager of this test's own, reached through a channel of
/// ours (its end handed over as the resource `execution_manager`).
struct Em {
    process: Process,
    pc: ProcessControl,
    _client: OwnedHandle,
}

impl Em {
    fn start(name: &str) -> Result<Em, String> {
        let p = Process::init_ex(
            // It starts programs, read from the ROMFS.
            &Params::component(&EXECUTION_MANAGER).rights(
                DEFAULT_TASK_RIGHTS | Rights::task(Method::Create),
                DEFAULT_KERNEL_RIGHTS | Rights::ROMFS,
            ),
            Some(name),
            Some("/bin/execution-manager"),
        )
        .map_err(|e| format!("init the ExecutionManager: {e}"))?;
        let ends = libkos::channel::create().map_err(|e| format!("channel: {e}"))?;
        p.transfer_resource(
            ends.server,
            None,
            Rights::SERVER | Rights::LISTENER,
            execution_manager::CHANNEL,
        )
        .map_err(|e| format!("hand it its end: {e}"))?;
        let _ = libkos::handle::close(ends.server);
        p.run().map_err(|e| format!("run it: {e}"))?;
        Ok(Em {
            process: p,
            pc: ProcessControl::new(ends.client),
            _client: OwnedHandle::new(ends.client),
        })
    }
}

impl Drop for Em {
    fn drop(&mut self) {
        let _ = self.process.stop_and_wait(Duration::from_secs(5));
    }
}

fn state(pc: &ProcessControl, t: &Token) -> Result<ProcessContext, String> {
    pc.get_process_state(t)
        .map_err(|e| format!("GetProcessState: {e}"))
}

/// Polls until the process has left `Running` (at most 10 s).
fn ended(pc: &ProcessControl, t: &Token) -> Result<ProcessContext, String> {
    let deadline = now() + ms(10_000);
    loop {
        let c = state(pc, t)?;
        if c.state != ProcessState::Running {
            return Ok(c);
        }
        check!(now() < deadline, "still running after 10 s");
        let _ = libkos::syscall::sleep_ns(ms(2));
    }
}

fn start(pc: &ProcessControl, config: &str) -> Result<Token, String> {
    pc.start_process(PKG, config, &StartOptions::default())
        .map_err(|e| format!("StartProcess {config}: {e}"))
}

fn expect(c: &ProcessContext, state: ProcessState, status: ExitStatus, what: &str) -> TestResult {
    check_eq!((c.state, c.exit_status), (state, status), "{what}");
    Ok(())
}

// ---------------------------------------------------------------------------

/// client.cpp of the seed: start "app", read Running, stop Forced.
fn the_seeds_example() -> TestResult {
    let em = Em::start("em-seed")?;
    let pc = &em.pc;
    let start_options = StartOptions::default();
    let token = check_ok!(
        pc.start_process(PKG, "app", &start_options),
        "Failed to start process"
    );
    let context = check_ok!(pc.get_process_state(&token), "Failed to get process state");
    check_eq!(
        context.state,
        ProcessState::Running,
        "Process state is Running"
    );
    check_eq!(context.exit_reason, Rc::Ok, "exit reason of a good start");
    check_ok!(
        pc.stop_process(&token, StopPolicy::Forced),
        "Failed to stop process"
    );
    let end = state(pc, &token)?;
    expect(
        &end,
        ProcessState::Finished,
        ExitStatus::Terminated,
        "after a Forced stop",
    )?;
    // Its end was reported: the process is gone, its data stays.
    let later = state(pc, &token)?;
    expect(
        &later,
        ProcessState::NotExisting,
        ExitStatus::Terminated,
        "afterwards",
    )?;
    // Stopping what has ended changes nothing.
    check_ok!(pc.stop_process(&token, StopPolicy::Normal), "stop again");
    // The primary configuration: an empty run configuration id.
    let primary = check_ok!(
        pc.start_process(PKG, "", &start_options),
        "start the primary"
    );
    check_eq!(state(pc, &primary)?.state, ProcessState::Running, "primary");
    check_ok!(
        pc.stop_process(&primary, StopPolicy::Forced),
        "stop the primary"
    );
    Ok(())
}

fn unknown_names_and_tokens() -> TestResult {
    let em = Em::start("em-unknown")?;
    let pc = &em.pc;
    let none = StartOptions::default();
    expect_rc(
        "unknown package",
        pc.start_process("no.Such", "app", &none),
        Rc::ResourceNotFound,
    )?;
    expect_rc(
        "unknown configuration",
        pc.start_process(PKG, "nope", &none),
        Rc::ResourceNotFound,
    )?;
    // A token of somebody else: a user object of this process.
    let forged = check_ok!(
        libkos::user_object::create(1, libkos::abi::em::TOKEN_RIGHTS),
        "a user object"
    );
    let forged = check_ok!(Token::from_handle(forged), "wrap it");
    expect_rc(
        "state of a forged token",
        pc.get_process_state(&forged),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "stop a forged token",
        pc.stop_process(&forged, StopPolicy::Forced),
        Rc::InvalidArgument,
    )?;
    // A handle that is no user object at all.
    let n = check_ok!(libkos::notice::create(), "a notice");
    let not_token = check_ok!(Token::from_handle(n), "wrap it");
    expect_rc(
        "state of a notice",
        pc.get_process_state(&not_token),
        Rc::InvalidArgument,
    )?;
    // A forged parent refuses the start.
    let opts = StartOptions {
        parent: Some(&forged),
        ..StartOptions::default()
    };
    expect_rc(
        "a forged parent",
        pc.start_process(PKG, "app", &opts),
        Rc::InvalidArgument,
    )?;
    // The ExecutionManager still works.
    let t = start(pc, "exit")?;
    expect(
        &ended(pc, &t)?,
        ProcessState::Finished,
        ExitStatus::Normal,
        "after refusals",
    )?;
    Ok(())
}

fn held_states_and_their_end() -> TestResult {
    let em = Em::start("em-held")?;
    let pc = &em.pc;
    for hold in [ProcessState::Created, ProcessState::Prepared] {
        let opts = StartOptions {
            hold: Some(hold),
            ..StartOptions::default()
        };
        let t = check_ok!(
            pc.start_process(PKG, "app", &opts),
            "start held at {hold:?}"
        );
        expect(&state(pc, &t)?, hold, ExitStatus::Uninitialized, "held")?;
        check_ok!(pc.stop_process(&t, StopPolicy::Normal), "stop it");
        // It never ran: Finished, not started by the ExecutionManager.
        expect(
            &state(pc, &t)?,
            ProcessState::Finished,
            ExitStatus::Uninitialized,
            "stopped",
        )?;
        expect(
            &state(pc, &t)?,
            ProcessState::NotExisting,
            ExitStatus::Uninitialized,
            "then",
        )?;
    }
    Ok(())
}

fn ends_by_itself_and_failures() -> TestResult {
    let em = Em::start("em-ends")?;
    let pc = &em.pc;
    // Exits by itself with 3.
    let t = start(pc, "exit")?;
    let c = ended(pc, &t)?;
    expect(&c, ProcessState::Finished, ExitStatus::Normal, "exit")?;
    check_eq!(c.exit_code, 3, "exit code");
    let c = state(pc, &t)?;
    expect(
        &c,
        ProcessState::NotExisting,
        ExitStatus::Normal,
        "exit, later",
    )?;
    check_eq!(c.exit_code, 3, "exit code, later");
    // Dies of an exception.
    let t = start(pc, "crash")?;
    let c = ended(pc, &t)?;
    expect(&c, ProcessState::Failed, ExitStatus::Unexpected, "crash")?;
    check_eq!(c.exit_reason, Rc::Ok, "a crash is no failed start");
    // Cannot start: the reason is in exit_reason.
    let t = start(pc, "broken")?;
    let c = state(pc, &t)?;
    expect(
        &c,
        ProcessState::Failed,
        ExitStatus::Uninitialized,
        "broken",
    )?;
    check_eq!(c.exit_reason, Rc::BadExecutable, "why it failed");
    Ok(())
}

fn normal_stop_cooperative_and_stubborn() -> TestResult {
    let em = Em::start("em-normal")?;
    let pc = &em.pc;
    let t = start(pc, "app")?;
    check_ok!(
        pc.stop_process(&t, StopPolicy::Normal),
        "Normal stop of app"
    );
    let c = state(pc, &t)?;
    expect(
        &c,
        ProcessState::Finished,
        ExitStatus::Normal,
        "cooperative",
    )?;
    check_eq!(c.exit_code, 7, "the code it finished with");
    let t = start(pc, "stubborn")?;
    let before = now();
    check_ok!(
        pc.stop_process(&t, StopPolicy::Normal),
        "Normal stop of stubborn"
    );
    let took = now() - before;
    expect(
        &state(pc, &t)?,
        ProcessState::Finished,
        ExitStatus::Terminated,
        "stubborn",
    )?;
    check!(
        took >= ms(200),
        "terminated after {} ms, before its 200 ms timeout",
        took / 1_000_000
    );
    expect_rc(
        "an unknown stop policy",
        execution_manager_raw_stop(pc, &t, 7),
        Rc::InvalidArgument,
    )?;
    Ok(())
}

/// StopProcess with a policy value the client API cannot express.
fn execution_manager_raw_stop(pc: &ProcessControl, t: &Token, policy: u32) -> Result<(), Rc> {
    libkos::services::process_control::Client::new(pc.channel())
        .stop_process(libkos::ipc::copy_of(t.handle(), t.rights()), policy)
}

fn options_arrive() -> TestResult {
    let em = Em::start("em-options")?;
    let pc = &em.pc;
    let report = OwnedHandle::new(check_ok!(mdl::create(4096), "MDL"));
    let opts = StartOptions {
        user_handles: vec![UserHandleItem {
            id: "report",
            handle: report.get(),
            rights: Rights::MAP_READ | Rights::MAP_WRITE | Rights::COPY,
        }],
        extra_args: vec!["x".to_string(), "y z".to_string()],
        extra_envs: vec!["EXTRA=1".to_string()],
        ..StartOptions::default()
    };
    let t = check_ok!(pc.start_process(PKG, "report", &opts), "start report");
    let c = ended(pc, &t)?;
    expect(&c, ProcessState::Finished, ExitStatus::Normal, "report")?;
    check_eq!(c.exit_code, 0, "report's code");
    let map = check_ok!(mdl::map(report.get(), false), "map");
    let mut buf = vec![0u8; 4096];
    let r = map.read(0, &mut buf);
    let _ = mdl::unmap(report.get(), map);
    check_ok!(r, "read");
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    let got = core::str::from_utf8(&buf[..end]).unwrap_or("?");
    check_eq!(
        got,
        "args=--from-config|x|y z env=role=report|CONFIG=1|EXTRA=1",
        "what it was given"
    );
    // More handles than names: refused.
    let mismatched = StartOptions {
        user_handles: vec![
            UserHandleItem {
                id: "a",
                handle: report.get(),
                rights: Rights::MAP_READ | Rights::COPY,
            };
            7
        ],
        ..StartOptions::default()
    };
    check!(
        pc.start_process(PKG, "report", &mismatched).is_err(),
        "7 user handles accepted"
    );
    Ok(())
}

fn parent_hierarchy() -> TestResult {
    let em = Em::start("em-parent")?;
    let pc = &em.pc;
    let parent = start(pc, "app")?;
    let opts = StartOptions {
        parent: Some(&parent),
        ..StartOptions::default()
    };
    let child = check_ok!(pc.start_process(PKG, "app", &opts), "start the child");
    let grandchild = {
        let o = StartOptions {
            parent: Some(&child),
            ..StartOptions::default()
        };
        check_ok!(pc.start_process(PKG, "app", &o), "start the grandchild")
    };
    // A token without the PARENT right cannot be a parent.
    let weak = check_ok!(parent.reduced(rights::STATE), "reduce");
    let o = StartOptions {
        parent: Some(&weak),
        ..StartOptions::default()
    };
    expect_rc(
        "a parent without PARENT",
        pc.start_process(PKG, "app", &o),
        Rc::NoCapability,
    )?;
    check_ok!(
        pc.stop_process(&parent, StopPolicy::Normal),
        "stop the parent"
    );
    for (t, what) in [
        (&grandchild, "grandchild"),
        (&child, "child"),
        (&parent, "parent"),
    ] {
        let c = state(pc, t)?;
        expect(&c, ProcessState::Finished, ExitStatus::Normal, what)?;
        check_eq!(c.exit_code, 7, "{what}'s code");
    }
    Ok(())
}

fn reduced_and_revoked_tokens() -> TestResult {
    let em = Em::start("em-tokens")?;
    let pc = &em.pc;
    let t = start(pc, "app")?;
    let r = check_ok!(t.reduced(rights::STATE), "reduce to STATE");
    expect_rc(
        "stop through STATE only",
        pc.stop_process(&r, StopPolicy::Forced),
        Rc::NoCapability,
    )?;
    check_eq!(
        state(pc, &r)?.state,
        ProcessState::Running,
        "state through STATE"
    );
    let s = check_ok!(t.reduced(rights::STOP), "reduce to STOP");
    expect_rc(
        "state through STOP only",
        pc.get_process_state(&s),
        Rc::NoCapability,
    )?;
    // Another process with the reduced token: it may look, not stop.
    let other = check_ok!(
        Process::init_ex(
            &Params::new(env!("CARGO_BIN_NAME")).env("role", "holder"),
            Some("em-holder"),
            Some(SELF)
        ),
        "init the holder"
    );
    check_ok!(
        other.transfer_resource(r.handle(), None, rights::STATE | Rights::COPY, "token"),
        "give it the token"
    );
    check_ok!(
        other.transfer_resource(
            pc.channel(),
            None,
            Rights::CLIENT,
            execution_manager::CHANNEL
        ),
        "give it the channel"
    );
    check_ok!(other.run(), "run the holder");
    match other.wait(Duration::from_secs(20)) {
        Ok(libkos::process::Exit::Code(0)) => {}
        e => return Err(format!("the holder ended {e:?}")),
    }
    // Revoked: every copy of the token is cut off.
    check_ok!(t.revoke(), "revoke");
    check!(
        pc.get_process_state(&r).is_err(),
        "a revoked copy still works"
    );
    check_eq!(
        state(pc, &t)?.state,
        ProcessState::Running,
        "the original still works"
    );
    check_ok!(pc.stop_process(&t, StopPolicy::Forced), "stop");
    Ok(())
}

fn holder() -> Result<(), String> {
    let token = libkos::process::lookup_resource("token").map_err(|e| format!("token: {e}"))?;
    let token = Token::from_handle(token).map_err(|e| format!("wrap: {e}"))?;
    let pc = ProcessControl::connect().map_err(|e| format!("connect: {e}"))?;
    match pc.get_process_state(&token) {
        Ok(c) if c.state == ProcessState::Running => {}
        r => return Err(format!("state through the given token: {r:?}")),
    }
    match pc.stop_process(&token, StopPolicy::Forced) {
        Err(Rc::NoCapability) => Ok(()),
        r => Err(format!("stop through the given token: {r:?}")),
    }
}

// ---------------------------------------------------------------------------
// What the ExecutionManager starts (class utest.em.App).

#[inline(never)]
fn crash() -> i32 {
    let p = core::hint::black_box(core::ptr::null_mut::<u64>());
    // SAFETY: deliberately not: a write through a null pointer, to fault.
    unsafe { p.write_volatile(1) };
    1
}

fn report() -> Result<(), String> {
    let m = libkos::process::lookup_resource("report").map_err(|e| format!("report: {e}"))?;
    let args: alloc::vec::Vec<&str> = libkos::env::args().skip(1).collect();
    let env: alloc::vec::Vec<String> = libkos::env::vars()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let text = format!("args={} env={}", args.join("|"), env.join("|"));
    let map = mdl::map(m, true).map_err(|e| format!("map: {e}"))?;
    map.write(0, text.as_bytes())
        .map_err(|e| format!("write: {e}"))
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        "app" => {
            // Waits for the stop signal, then finishes with 7.
            match stop::wait(u64::MAX) {
                Ok(true) => libkos::task::exit(7),
                r => Err(format!("stop::wait: {r:?}")),
            }
        }
        "stubborn" => loop {
            let _ = libkos::syscall::sleep_ns(ms(1000));
        },
        "exit" => libkos::task::exit(3),
        "crash" => {
            crash();
            Err("survived a null write".into())
        }
        "report" => report(),
        "holder" => holder(),
        other => Err(format!("unknown role {other}")),
    }
}
