//! The gate (`kernel/src/gate.rs`): every declared kernel method refuses a
//! handle without its declared right, generated from the declarations; a
//! reply passes the security monitor (a test rule of the user-test kernel
//! refuses one chosen reply); a client cannot rewrite a queued request.
//!
//! The user-test policy (`policy/systems/utest.policy`) refuses a
//! `utest.Gate` request to class [`SERVER_CLASS`] whose `v` is
//! [`REFUSED_REQUEST`], a reply from it whose `v` is [`REFUSED_REPLY`],
//! and `Task.Terminate` of a process of class [`PROTECTED_CLASS`].

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::sync::atomic::{AtomicU64, Ordering};

use libkos::abi::decl::{MethodDecl, Target};
use libkos::abi::interfaces::INTERFACES;
use libkos::abi::msg::{HEADER_SIZE, Header};
use libkos::abi::sched::SchedPolicy;
use libkos::abi::{Handle, Rights};
use libkos::handle::{self, OwnedHandle};
use libkos::ipc::{self, In, Out};
use libkos::syscall::{self, FOREVER};
use libkos::test::TestResult;
use libkos::zerocopy::IntoBytes;
use libkos::{Rc, locator, mdl, notice, sys, thread};
use utest::{child, child_result, daemon, expect_rc, ms, role, run_group};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

/// The classes the policy names (a dotted child name is its class).
const SERVER_CLASS: &str = "utest.gate.Server";
const REFUSED_REQUEST: u64 = 0x0BAD_0BAD;
const REFUSED_REPLY: u64 = 0x00DE_41ED;
/// The policy refuses Task.Terminate on a process of this class.
const PROTECTED_CLASS: &str = "utest.gate.Protected";

/// The test server's endpoint and methods (`utest.Gate`, declared in
/// `kos_abi::services`), spoken here with raw messages.
const ENDPOINT: u16 = libkos::services::gate::ENDPOINT;
const ECHO: u16 = libkos::services::gate::methods::echo::ID;
const DELAY: u16 = libkos::services::gate::methods::delay::ID;

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => libkos::test::run(
            "utest_gate",
            libkos::tests![
                every_method_refuses_a_handle_without_its_right,
                every_method_refuses_the_wrong_object,
                refused_reply_reaches_both_sides,
                kernel_call_target_is_seen,
                queued_request_cannot_be_rewritten,
            ],
        ),
    }
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        "server" => server(),
        "c-reply" => client_reply(),
        "c-rewrite" => client_rewrite(),
        "linger" => {
            let _ = syscall::sleep_ns(ms(200));
            Ok(())
        }
        other => Err(format!("unknown role {other}")),
    }
}

// --- rights, from the declarations ------------------------------------------

/// A handle to an object of the kind `target` names, with every right.
fn object_for(target: Target, thread: Handle) -> Result<OwnedHandle, String> {
    let h = match target {
        Target::Task | Target::OwnTask => Handle::SELF_TASK,
        Target::Kernel => Handle::KERNEL,
        Target::Thread => thread,
        Target::Notice => {
            return notice::create()
                .map(OwnedHandle::new)
                .map_err(|e| format!("notice: {e}"));
        }
        Target::Mdl => {
            return mdl::create(4096)
                .map(OwnedHandle::new)
                .map_err(|e| format!("mdl: {e}"));
        }
    };
    handle::copy(h, Rights::all())
        .map(OwnedHandle::new)
        .map_err(|e| format!("copy: {e}"))
}

/// Calls method `m` through `h` with a zeroed request of its declared
/// size (allocating nothing: the refusal test compares memory use).
fn invoke_zeroed(h: Handle, m: &MethodDecl) -> Result<ipc::Got, Rc> {
    let fixed = [0u8; 64];
    let mut reply = [0u8; 64];
    let mut arena = [0u8; 64];
    ipc::call_with(
        h,
        FOREVER,
        m.endpoint,
        m.id,
        &Out {
            fixed: &fixed[..m.request.size],
            handles: &[],
            arena: &[],
        },
        In {
            fixed: &mut reply[..m.reply.size.min(64)],
            handles: &mut [],
            arena: &mut arena,
        },
    )
}

/// What a refused call must leave as it was.
fn state() -> Result<(u64, u64, u64, u64), String> {
    let s = sys::mem_stats().map_err(|e| format!("mem_stats: {e}"))?;
    Ok((s.free_frames, s.heap_used, s.processes, s.threads))
}

fn every_method_refuses_a_handle_without_its_right() -> TestResult {
    let t = thread::spawn(SchedPolicy::default(), 0, || 7).map_err(|e| format!("spawn: {e}"))?;
    t.join(FOREVER).map_err(|e| format!("join: {e}"))?;
    let mut checked = 0;
    for iface in INTERFACES {
        for m in iface.methods {
            let what = format!("{}.{}", iface.name, m.name);
            let full = object_for(m.target, t.handle())?;
            let rights = Rights::from_bits_retain(
                handle::identify(full.get())
                    .map_err(|e| format!("{what}: identify: {e}"))?
                    .rights,
            );
            let without = handle::copy(full.get(), rights - m.right)
                .map(OwnedHandle::new)
                .map_err(|e| format!("{what}: copy without {}: {e}", m.right_name))?;
            let before = state()?;
            expect_rc(
                &format!("{what} without {}", m.right_name),
                invoke_zeroed(without.get(), m),
                Rc::NoCapability,
            )?;
            let after = state()?;
            if before != after {
                return Err(format!(
                    "{what}: refused, yet (free frames, heap, processes, threads) went from {before:?} to {after:?}"
                ));
            }
            checked += 1;
        }
    }
    // Task (27), Thread (3), Vm (3), Console, SysInfo, Handle (7), Romfs,
    // Locator (3), Notice (4), MDL (3): 53 when this test was written.
    if checked < 53 {
        return Err(format!("only {checked} methods checked"));
    }
    Ok(())
}

fn every_method_refuses_the_wrong_object() -> TestResult {
    // A badge: no kernel method is declared on one.
    let badge = libkos::badge::create(1, None, 0)
        .map(OwnedHandle::new)
        .map_err(|e| format!("badge: {e}"))?;
    for iface in INTERFACES {
        for m in iface.methods {
            expect_rc(
                &format!("{}.{} on a badge", iface.name, m.name),
                invoke_zeroed(badge.get(), m),
                Rc::WrongType,
            )?;
        }
    }
    // Unknown endpoint and method.
    let last = &INTERFACES[INTERFACES.len() - 1];
    let unknown = MethodDecl {
        endpoint: last.id + 1,
        ..last.methods[0]
    };
    expect_rc(
        "an undeclared endpoint",
        invoke_zeroed(Handle::KERNEL, &unknown),
        Rc::ResourceNotFound,
    )?;
    let unknown = MethodDecl {
        id: last.methods.len() as u16,
        ..last.methods[0]
    };
    expect_rc(
        "an undeclared method",
        invoke_zeroed(Handle::KERNEL, &unknown),
        Rc::ResourceNotFound,
    )
}

// --- replies and queued requests pass the monitor ----------------------------

fn group(client_role: &str) -> TestResult {
    run_group(
        SELF,
        &[
            daemon(SERVER_CLASS, "server"),
            child("gate-client", client_role),
        ],
        &[(1, 0, "gate")],
    )
}

fn refused_reply_reaches_both_sides() -> TestResult {
    group("c-reply")
}

/// The monitor sees which process a Task handle names: a rule refusing
/// Terminate on one class refuses it there, and only there.
fn kernel_call_target_is_seen() -> TestResult {
    let protected = utest::start_role(SELF, PROTECTED_CLASS, "linger")?;
    expect_rc(
        "Terminate of a protected process",
        protected.terminate(),
        Rc::SecurityDisallow,
    )?;
    protected
        .pid()
        .map_err(|e| format!("GetPid of the protected process: {e}"))?;
    let info = protected
        .wait(utest::CHILD_TIMEOUT_NS)
        .map_err(|e| format!("wait: {e}"))?;
    utest::expect_exit(&info, 0)?;
    // Another class is terminated as usual.
    let other = utest::start_role(SELF, "utest.gate.Other", "linger")?;
    other
        .terminate()
        .map_err(|e| format!("Terminate of another class: {e}"))?;
    Ok(())
}

fn queued_request_cannot_be_rewritten() -> TestResult {
    group("c-rewrite")
}

fn server() -> Result<(), String> {
    let h = locator::register("gate").map_err(|e| format!("register: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let mut last = Rc::Ok;
    loop {
        let r = ipc::recv(h, &mut buf, FOREVER).map_err(|e| format!("recv: {e}"))?;
        let v: u64 = r.msg.fixed_as().unwrap_or(0);
        let method = r.msg.header.method;
        if method == DELAY {
            let _ = syscall::sleep_ns(ms(v));
        }
        let answer = [v, last as u64, u64::from(method)];
        last = ipc::reply(
            r.token,
            Rc::Ok,
            &Out {
                fixed: answer.as_bytes(),
                handles: &[],
                arena: &[],
            },
        );
    }
}

/// Calls `method` with `v`; the server's answer.
fn call(h: Handle, method: u16, v: u64) -> Result<[u64; 3], Rc> {
    let mut answer = [0u64; 3];
    ipc::call(h, ENDPOINT, method, &v, &[], &mut answer, &mut [0u8; 0][..])?;
    Ok(answer)
}

fn client_reply() -> Result<(), String> {
    let h = locator::connect("gate").map_err(|e| format!("connect: {e}"))?;
    let a = call(h, ECHO, 1).map_err(|e| format!("first call: {e}"))?;
    if a != [1, Rc::Ok as u64, u64::from(ECHO)] {
        return Err(format!("first answer {a:?}"));
    }
    // The server answers with the refused value: the monitor refuses the
    // reply, the client gets the refusal.
    expect_rc(
        "a call whose reply the monitor refuses",
        call(h, ECHO, REFUSED_REPLY),
        Rc::SecurityDisallow,
    )?;
    // Both go on: the server saw its Reply refused, and says so.
    let a = call(h, ECHO, 2).map_err(|e| format!("call after the refusal: {e}"))?;
    if a != [2, Rc::SecurityDisallow as u64, u64::from(ECHO)] {
        return Err(format!(
            "after the refusal: answer {a:?}, expected the server to have seen rcSecurityDisallow"
        ));
    }
    // A request the monitor refuses never reaches the server.
    expect_rc(
        "a request the monitor refuses",
        call(h, ECHO, REFUSED_REQUEST),
        Rc::SecurityDisallow,
    )?;
    let a = call(h, ECHO, 3).map_err(|e| format!("last call: {e}"))?;
    if a != [3, Rc::Ok as u64, u64::from(ECHO)] {
        return Err(format!("last answer {a:?}"));
    }
    Ok(())
}

/// The request the rewrite test queues: header (2 words) and fixed part
/// (1 word), shared with the thread that rewrites it.
static QUEUED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

fn header_words(method: u16) -> [u64; 2] {
    let h = Header {
        endpoint: ENDPOINT,
        method,
        fixed_len: 8,
        handles: 0,
        arena_len: 0,
        status: 0,
    };
    let b = h.as_bytes();
    [
        u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
        u64::from_le_bytes(b[8..16].try_into().unwrap_or_default()),
    ]
}

fn client_rewrite() -> Result<(), String> {
    let h = locator::connect("gate").map_err(|e| format!("connect: {e}"))?;
    // Keep the server busy for 300 ms, so the next call queues.
    let busy = thread::spawn(SchedPolicy::default(), 0, move || {
        match call(h, DELAY, 300) {
            Ok(a) if a[0] == 300 => 0,
            _ => 1,
        }
    })
    .map_err(|e| format!("spawn: {e}"))?;
    let _ = syscall::sleep_ns(ms(50));
    let [w0, w1] = header_words(ECHO);
    QUEUED[0].store(w0, Ordering::SeqCst);
    QUEUED[1].store(w1, Ordering::SeqCst);
    QUEUED[2].store(5, Ordering::SeqCst);
    // Rewrites method and value while the request waits in the queue.
    let rewriter = thread::spawn(SchedPolicy::default(), 0, || {
        let _ = syscall::sleep_ns(ms(100));
        let [w0, _] = header_words(DELAY);
        QUEUED[0].store(w0, Ordering::SeqCst);
        QUEUED[2].store(REFUSED_REQUEST, Ordering::SeqCst);
        0
    })
    .map_err(|e| format!("spawn: {e}"))?;
    let mut reply = [0u64; 2 + 3];
    // SAFETY: QUEUED's 24 bytes are ours for the program's life (the other
    // thread writes them atomically: what the kernel reads is the point of
    // the test); `reply` is ours for the call.
    let (rc, len) = unsafe {
        syscall::call_raw(
            h,
            QUEUED.as_ptr().cast::<u8>(),
            HEADER_SIZE + 8,
            reply.as_mut_ptr().cast::<u8>(),
            core::mem::size_of_val(&reply),
        )
    };
    let rewritten = rewriter.join(FOREVER).map_err(|e| format!("join: {e}"))?;
    let busy = busy.join(FOREVER).map_err(|e| format!("join busy: {e}"))?;
    if rewritten != 0 || busy != 0 {
        return Err(format!("helper threads: rewriter {rewritten}, busy {busy}"));
    }
    if QUEUED[2].load(Ordering::SeqCst) != REFUSED_REQUEST {
        return Err(String::from("the rewrite did not happen"));
    }
    if rc != Rc::Ok || len != HEADER_SIZE + 24 {
        return Err(format!("queued call: {rc}, {len} bytes"));
    }
    if reply[2..] != [5, Rc::Ok as u64, u64::from(ECHO)] {
        return Err(format!(
            "the server received (value, _, method) = {:?}, not what was sent (5, _, {ECHO})",
            &reply[2..]
        ));
    }
    Ok(())
}
