//! Named static channels and the service locator: a parent connects its
//! not-yet-started children by name (`connect_tasks`), the server child
//! takes its end with `register`, the client child with `connect`.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use libkos::abi::msg::handle_ops::KIND_CHANNEL;
use libkos::abi::sched::DEFAULT_PRIORITY;
use libkos::abi::task::CreateFlags;
use libkos::ipc::{self, Out};
use libkos::syscall::{self, FOREVER};
use libkos::task::Task;
use libkos::test::TestResult;
use libkos::zerocopy::IntoBytes;
use libkos::{Handle, Rc, check_ok, locator};
use utest::{
    CHILD_TIMEOUT_NS, basic, basic_fixed, basic_server, child, child_result, daemon, expect_exit,
    expect_rc, role, run_group,
};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => libkos::test::run(
            "utest_locator",
            libkos::tests![
                no_static_channels_here,
                connect_tasks_needs_unstarted_tasks,
                connect_by_name,
                several_clients_share_a_name,
                one_client_two_channels,
            ],
        ),
    }
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        "exit0" => Ok(()),
        "s-alpha" => {
            match locator::register("nope") {
                Err(Rc::ResourceNotFound) => {}
                r => return Err(format!("register of an unknown name: {r:?}")),
            }
            let h = locator::register("alpha").map_err(|e| format!("register alpha: {e}"))?;
            basic_server(h, 4096)
        }
        "c-alpha" => client_alpha(),
        "s-shared" => server_shared(),
        r if r.starts_with("c-shared-") => {
            let id: u64 = r["c-shared-".len()..].parse().map_err(|_| "bad id")?;
            let h = locator::connect("shared").map_err(|e| format!("connect: {e}"))?;
            let echoed: u64 =
                basic_fixed(h, 0, id.as_bytes(), &[]).map_err(|e| format!("call: {e}"))?;
            if echoed != id * 10 {
                return Err(format!("sent {id}, server answered {echoed}"));
            }
            Ok(())
        }
        "s-two" => server_two(),
        "c-two" => client_two(),
        other => Err(format!("unknown role {other}")),
    }
}

fn no_static_channels_here() -> TestResult {
    expect_rc("register", locator::register("basic"), Rc::ResourceNotFound)?;
    expect_rc("connect", locator::connect("basic"), Rc::ResourceNotFound)?;
    Ok(())
}

fn create(name: &str) -> Result<Task, String> {
    let t = Task::create(name, SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
        .map_err(|e| format!("create {name}: {e}"))?;
    t.set_env(b"role=exit0")
        .map_err(|e| format!("set_env: {e}"))?;
    Ok(t)
}

fn connect_tasks_needs_unstarted_tasks() -> TestResult {
    let a = create("loc-busy-a")?;
    let b = create("loc-busy-b")?;
    expect_rc(
        "connect_tasks with this (running) process as client",
        locator::connect_tasks(Handle::SELF_TASK, b.handle(), "x"),
        Rc::Busy,
    )?;
    check_ok!(
        locator::connect_tasks(a.handle(), b.handle(), "x"),
        "connect_tasks"
    );
    check_ok!(a.resume(), "resume a");
    expect_rc(
        "connect_tasks after the client started",
        locator::connect_tasks(a.handle(), b.handle(), "y"),
        Rc::Busy,
    )?;
    check_ok!(b.resume(), "resume b");
    for t in [a, b] {
        let info = check_ok!(t.wait(CHILD_TIMEOUT_NS), "wait");
        expect_exit(&info, 0)?;
    }
    Ok(())
}

// --- one pair ---------------------------------------------------------------

fn connect_by_name() -> TestResult {
    run_group(
        SELF,
        &[
            child("loc-c-alpha", "c-alpha"),
            daemon("loc-s-alpha", "s-alpha"),
        ],
        &[(0, 1, "alpha")],
    )
}

fn client_alpha() -> Result<(), String> {
    match locator::connect("nope") {
        Err(Rc::ResourceNotFound) => {}
        r => return Err(format!("connect to an unknown name: {r:?}")),
    }
    let h1 = locator::connect("alpha").map_err(|e| format!("connect: {e}"))?;
    let h2 = locator::connect("alpha").map_err(|e| format!("second connect: {e}"))?;
    if h1 == h2 {
        return Err(format!("two connects returned the same handle {h1:?}"));
    }
    for h in [h1, h2] {
        let i = libkos::handle::identify(h).map_err(|e| format!("identify: {e}"))?;
        if i.kind != KIND_CHANNEL {
            return Err(format!("connected handle kind {}", i.kind));
        }
    }
    let n1: u64 = basic_fixed(h1, basic::COUNT, &[], &[]).map_err(|e| format!("call 1: {e}"))?;
    let n2: u64 = basic_fixed(h2, basic::COUNT, &[], &[]).map_err(|e| format!("call 2: {e}"))?;
    if (n1, n2) != (1, 2) {
        return Err(format!(
            "server counts {n1}, {n2}: expected 1, 2 (one server)"
        ));
    }
    Ok(())
}

// --- several clients, one name ----------------------------------------------

fn several_clients_share_a_name() -> TestResult {
    run_group(
        SELF,
        &[
            child("loc-shared-s", "s-shared"),
            child("loc-shared-1", "c-shared-1"),
            child("loc-shared-2", "c-shared-2"),
            child("loc-shared-3", "c-shared-3"),
        ],
        &[(1, 0, "shared"), (2, 0, "shared"), (3, 0, "shared")],
    )
}

/// Takes three requests on its one "shared" end (u64 id each), answers id
/// × 10, and checks it heard 1, 2 and 3.
fn server_shared() -> Result<(), String> {
    let h = locator::register("shared").map_err(|e| format!("register: {e}"))?;
    let mut buf = [0u8; 256];
    let mut ids = Vec::new();
    for _ in 0..3 {
        let req = ipc::recv(h, &mut buf, FOREVER).map_err(|e| format!("recv: {e}"))?;
        let id = req.msg.fixed_as::<u64>().unwrap_or(0);
        ids.push(id);
        let answer = id * 10;
        let rc = ipc::reply(
            req.token,
            Rc::Ok,
            &Out {
                fixed: answer.as_bytes(),
                ..Out::default()
            },
        );
        if rc != Rc::Ok {
            return Err(format!("reply: {rc}"));
        }
    }
    ids.sort_unstable();
    if ids != [1, 2, 3] {
        return Err(format!("heard from {ids:?}, expected [1, 2, 3]"));
    }
    Ok(())
}

// --- one client, two channels to one server -----------------------------------

fn one_client_two_channels() -> TestResult {
    run_group(
        SELF,
        &[child("loc-two-c", "c-two"), child("loc-two-s", "s-two")],
        &[(0, 1, "a"), (0, 1, "b")],
    )
}

fn client_two() -> Result<(), String> {
    let a = locator::connect("a").map_err(|e| format!("connect a: {e}"))?;
    let b = locator::connect("b").map_err(|e| format!("connect b: {e}"))?;
    for (h, tag) in [(a, 0xAu64), (b, 0xB)] {
        let echoed: u64 =
            basic_fixed(h, 0, tag.as_bytes(), &[]).map_err(|e| format!("call {tag:x}: {e}"))?;
        if echoed != tag {
            return Err(format!("channel {tag:x}: answered {echoed:x}"));
        }
    }
    Ok(())
}

/// Receives on "a" (must be the client's 0xA), then on "b" (0xB); nothing
/// else arrives on "a".
fn server_two() -> Result<(), String> {
    let a = locator::register("a").map_err(|e| format!("register a: {e}"))?;
    let b = locator::register("b").map_err(|e| format!("register b: {e}"))?;
    if a == b {
        return Err(String::from("a and b gave the same handle"));
    }
    let mut buf = [0u8; 256];
    for (h, tag) in [(a, 0xAu64), (b, 0xB)] {
        let req = ipc::recv(h, &mut buf, FOREVER).map_err(|e| format!("recv {tag:x}: {e}"))?;
        let got = req.msg.fixed_as::<u64>().unwrap_or(0);
        let rc = ipc::reply(
            req.token,
            Rc::Ok,
            &Out {
                fixed: got.as_bytes(),
                ..Out::default()
            },
        );
        if got != tag {
            return Err(format!("channel {tag:x} received {got:x}"));
        }
        if rc != Rc::Ok {
            return Err(format!("reply: {rc}"));
        }
    }
    let r = syscall::recv_bytes(a, &mut buf, 0);
    if r.rc != Rc::Timeout {
        return Err(format!("a third request on a: {}", r.rc));
    }
    Ok(())
}
