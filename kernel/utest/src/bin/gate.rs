//! The gate (`kernel/src/gate.rs`): every declared kernel method refuses a
//! handle without its declared right, generated from the declarations; a
//! reply passes the security monitor (a test rule of the user-test kernel
//! refuses one chosen reply); a client cannot rewrite a queued request;
//! the IPC fast path gives the slow path's results, good and bad.
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
use libkos::abi::msg::{DESC_SIZE, HEADER_SIZE, HandleDesc, Header};
use libkos::abi::sched::SchedPolicy;
use libkos::abi::task::CreateFlags;
use libkos::abi::{Handle, Rights};
use libkos::handle::{self, OwnedHandle};
use libkos::ipc::{self, In, Out};
use libkos::syscall::{self, FOREVER};
use libkos::task::Task;
use libkos::test::TestResult;
use libkos::zerocopy::{FromBytes, IntoBytes};
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
                fast_path_gives_the_slow_paths_results,
            ],
        ),
    }
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        "server" => server(),
        "c-reply" => client_reply(),
        "c-rewrite" => client_rewrite(),
        r if r.starts_with("rr-server-") => {
            let h = r["rr-server-".len()..]
                .parse::<u32>()
                .map_err(|_| format!("bad role {r}"))?;
            rr_server(Handle(h))
        }
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

// --- the IPC fast path gives the slow path's results -----------------------

/// What the `ReplyRecv` server does on a `delay` request with these values
/// (any other value: the usual answer `[v, last, method]`).
const ANSWER_ERROR: u64 = 1000;
const ANSWER_TOO_LARGE: u64 = 1001;
const ANSWER_AFTER_BAD_REPLY: u64 = 1002;
const ANSWER_UNKNOWN_STATUS: u64 = 1003;
/// The `ReplyRecv` server's receive buffer: a request of a whole fixed
/// part does not fit.
const RR_BUF: usize = 128;

/// A server of bare `ReplyRecv` traps on the server end `h` (the fast
/// path's reply side), answering each request `[v, last, method]`, where
/// `last` is the result of its previous reply (or of a refused one).
fn rr_server(h: Handle) -> Result<(), String> {
    let mut req = [0u64; RR_BUF / 8];
    let mut out = [0u64; (HEADER_SIZE + 256) / 8];
    let mut token = syscall::ReplyToken(0);
    let mut len = 0;
    let mut last = Rc::Ok;
    loop {
        let (r, replied) =
            syscall::reply_recv_bytes(token, &out.as_bytes()[..len], h, req.as_mut_bytes());
        if token.0 != 0 {
            last = replied;
        }
        if r.rc != Rc::Ok {
            return Err(format!("receive: {}", r.rc));
        }
        token = r.token;
        let bytes = req.as_bytes();
        let header = Header::read_from_bytes(&bytes[..HEADER_SIZE]).unwrap_or_default();
        let v = if header.fixed_len >= 8 {
            req[HEADER_SIZE / 8]
        } else {
            0
        };
        if header.handles > 0 {
            // A handle came with it: the received copy is ours to close.
            let at = HEADER_SIZE + header.fixed_len as usize;
            if let Ok(d) = HandleDesc::read_from_bytes(&bytes[at..at + DESC_SIZE]) {
                let _ = handle::close(Handle(d.handle));
            }
        }
        let mut answer = Header::default();
        let method = header.method;
        let mut fixed = 24;
        if method == DELAY && v == ANSWER_AFTER_BAD_REPLY {
            // A reply the kernel refuses (a fixed part of 4 bytes): the
            // client still waits for the next one.
            let bad = Header {
                fixed_len: 4,
                ..Header::default()
            };
            let mut msg = [0u8; HEADER_SIZE + 4];
            msg[..HEADER_SIZE].copy_from_slice(bad.as_bytes());
            last = syscall::reply_bytes(token, &msg);
        }
        match (method, v) {
            (DELAY, ANSWER_ERROR) => {
                answer.status = Rc::ResourceNotFound as u32;
                fixed = 0;
            }
            (DELAY, ANSWER_TOO_LARGE) => fixed = 256,
            (DELAY, ANSWER_UNKNOWN_STATUS) => answer.status = 0xFFFF_0000,
            _ => {}
        }
        answer.fixed_len = fixed as u16;
        out.as_mut_bytes()[..HEADER_SIZE].copy_from_slice(answer.as_bytes());
        out[2] = v;
        out[3] = last as u64;
        out[4] = u64::from(method);
        len = HEADER_SIZE + fixed;
    }
}

/// One step's outcome as the client saw it: the call's rc and length and
/// the reply buffer's words.
type Outcome = (u64, usize, [u64; 6]);

/// A raw call with a fresh reply buffer of 48 bytes.
fn raw_call(h: Handle, req: &[u8], timeout: u64) -> Outcome {
    let mut reply = [0u64; 6];
    // SAFETY: `req` is a live slice the kernel only reads; `reply` is ours
    // for the call and the kernel writes at most its 48 bytes.
    let (rc, len) = unsafe {
        syscall::call_raw_timeout(
            h,
            req.as_ptr(),
            req.len(),
            reply.as_mut_ptr().cast::<u8>(),
            core::mem::size_of_val(&reply),
            timeout,
        )
    };
    (rc as u64, len, reply)
}

/// A request of `method` with `fixed` as its fixed part (`fixed_len` as
/// given, so that it can lie), then `tail` (descriptors, arena).
fn request(
    method: u16,
    fixed_len: u16,
    fixed: &[u8],
    handles: u16,
    arena: u32,
    tail: &[u8],
) -> alloc::vec::Vec<u8> {
    let h = Header {
        endpoint: ENDPOINT,
        method,
        fixed_len,
        handles,
        arena_len: arena,
        status: 0,
    };
    let mut m = alloc::vec::Vec::from(h.as_bytes());
    m.extend_from_slice(fixed);
    m.extend_from_slice(tail);
    m
}

fn delay(v: u64) -> alloc::vec::Vec<u8> {
    request(DELAY, 8, v.as_bytes(), 0, 0, &[])
}

/// A read-only reply buffer (in the program's read-only data).
static READ_ONLY: [u64; 6] = [0; 6];

/// The same sequence of good and bad messages through the channel `h`
/// (and a few other handles): what each step gave.
fn sequence(h: Handle, no_client: Handle, copyable: Handle) -> alloc::vec::Vec<Outcome> {
    let mut out = alloc::vec::Vec::new();
    for v in [
        1,
        ANSWER_ERROR,
        ANSWER_TOO_LARGE,
        2,
        ANSWER_AFTER_BAD_REPLY,
        ANSWER_UNKNOWN_STATUS,
    ] {
        out.push(raw_call(h, &delay(v), FOREVER));
    }
    for v in [3, REFUSED_REQUEST, REFUSED_REPLY] {
        out.push(raw_call(
            h,
            &request(ECHO, 8, v.as_bytes(), 0, 0, &[]),
            FOREVER,
        ));
    }
    out.push(raw_call(h, &delay(4), FOREVER));
    // Refused before anything moves.
    out.push(raw_call(h, &request(DELAY, 4, &[0; 4], 0, 0, &[]), FOREVER));
    out.push(raw_call(
        h,
        &request(DELAY, 16, &[0; 8], 0, 0, &[]),
        FOREVER,
    ));
    out.push(raw_call(no_client, &delay(5), FOREVER));
    out.push(raw_call(Handle(0x7FFF_FFFF), &delay(5), FOREVER));
    out.push(raw_call(Handle::KERNEL, &delay(5), FOREVER));
    out.push(raw_call(
        h,
        &request(DELAY, 256, &[7; 256], 0, 0, &[]),
        FOREVER,
    ));
    // Bad buffers.
    let msg = delay(6);
    let mut reply = [0u64; 6];
    let bad = [
        (
            0x10 as *const u8,
            msg.len(),
            reply.as_mut_ptr().cast::<u8>(),
            48,
        ),
        (msg.as_ptr(), msg.len(), READ_ONLY.as_ptr() as *mut u8, 48),
        (
            msg.as_ptr(),
            msg.len(),
            reply.as_mut_ptr().cast::<u8>(),
            usize::MAX / 2,
        ),
    ];
    for (req, len, rep, cap) in bad {
        // SAFETY: the kernel refuses each of these calls before it reads or
        // writes anything (that is what is tested); `reply` is ours.
        let (rc, n) = unsafe { syscall::call_raw(h, req, len, rep, cap) };
        out.push((rc as u64, n, reply));
    }
    // Taken by the slow path: a handle, an arena, a timeout.
    let desc = HandleDesc {
        handle: copyable.0,
        rights: Rights::CLIENT.bits(),
        mode: libkos::abi::msg::DESC_COPY,
        badge: libkos::abi::msg::NO_BADGE,
        badge_value: 0,
    };
    out.push(raw_call(
        h,
        &request(DELAY, 8, 7u64.as_bytes(), 1, 0, desc.as_bytes()),
        FOREVER,
    ));
    out.push(raw_call(
        h,
        &request(DELAY, 8, 8u64.as_bytes(), 0, 8, &[9; 8]),
        FOREVER,
    ));
    out.push(raw_call(h, &delay(10), ms(1000)));
    out.push(raw_call(h, &delay(11), FOREVER));
    out
}

/// An audit record without its sequence number: event, decision,
/// endpoint, method, rule, source and destination PIDs.
type Audited = (u8, u8, u16, u16, u16, u32, u32);

/// A run of [`sequence`]: its outcomes, the audit records and the calls
/// and replies the fast path served.
type Run = (alloc::vec::Vec<Outcome>, alloc::vec::Vec<Audited>, u64, u64);

/// What the audit recorded after `after`, without sequence numbers.
fn audited(after: u64) -> Result<alloc::vec::Vec<Audited>, String> {
    let records = libkos::audit::read_all(after).map_err(|e| format!("audit read: {e}"))?;
    Ok(records
        .iter()
        .map(|r| {
            (
                r.event, r.decision, r.endpoint, r.method, r.rule, r.src_pid, r.dst_pid,
            )
        })
        .collect())
}

fn last_audit_seq() -> Result<u64, String> {
    Ok(libkos::audit::read(u64::MAX)
        .map_err(|e| format!("audit read: {e}"))?
        .0
        .last)
}

/// Runs [`sequence`] with the fast path `set`: the outcomes, the audit
/// records and how many calls and replies the fast path served.
fn run_with(set: u32, handles: (Handle, Handle, Handle)) -> Result<Run, String> {
    let before = sys::fast_path(set).map_err(|e| format!("FastPath: {e}"))?;
    let seq = last_audit_seq()?;
    let outcomes = sequence(handles.0, handles.1, handles.2);
    let records = audited(seq)?;
    let after = sys::fast_path(libkos::abi::msg::sysinfo::FAST_PATH_KEEP)
        .map_err(|e| format!("FastPath: {e}"))?;
    Ok((
        outcomes,
        records,
        after.calls - before.calls,
        after.replies - before.replies,
    ))
}

/// The same messages, good and bad, through the fast path and with it
/// off: the same replies, errors and audit records; and the fast path did
/// serve calls and replies when on (else this test would compare the slow
/// path with itself).
fn fast_path_gives_the_slow_paths_results() -> TestResult {
    use libkos::abi::msg::sysinfo::{FAST_PATH_OFF, FAST_PATH_ON};
    let ends = libkos::channel::create().map_err(|e| format!("channel: {e}"))?;
    let server = Task::create_as(
        "utest.gate.Server",
        SERVER_CLASS,
        SELF,
        libkos::abi::sched::DEFAULT_PRIORITY,
        CreateFlags::FROM_ROMFS,
    )
    .map_err(|e| format!("create the server: {e}"))?;
    let theirs = server
        .transfer_handle(ends.server, Rights::SERVER, None)
        .map_err(|e| format!("transfer: {e}"))?;
    server
        .set_env(format!("role=rr-server-{}", theirs.0).as_bytes())
        .map_err(|e| format!("set_env: {e}"))?;
    server.resume().map_err(|e| format!("resume: {e}"))?;
    let no_client = handle::copy(ends.client, Rights::COPY).map_err(|e| format!("copy: {e}"))?;
    let handles = (ends.client, no_client, ends.client);
    // A first run fills the grant caches; the next two start alike.
    let result = run_with(FAST_PATH_ON, handles).and_then(|_| {
        let on = run_with(FAST_PATH_ON, handles)?;
        let off = run_with(FAST_PATH_OFF, handles)?;
        Ok((on, off))
    });
    let _ = sys::fast_path(FAST_PATH_ON);
    let _ = server.terminate();
    let _ = server.wait(utest::CHILD_TIMEOUT_NS);
    for h in [no_client, ends.client, ends.server] {
        let _ = handle::close(h);
    }
    let (on, off) = result?;
    for (i, (a, b)) in on.0.iter().zip(&off.0).enumerate() {
        if a != b {
            return Err(format!("step {i}: fast path {a:?}, slow path {b:?}"));
        }
    }
    if on.0.len() != off.0.len() {
        return Err(String::from("the runs differ in length"));
    }
    if on.1 != off.1 {
        return Err(format!(
            "audit records: fast path {:?}, slow path {:?}",
            on.1, off.1
        ));
    }
    if on.1.len() < 2 {
        return Err(format!("expected the two refusals audited, got {:?}", on.1));
    }
    // The good steps answered as the server says.
    if on.0[0].0 != Rc::Ok as u64 || on.0[0].2[2..5] != [1, Rc::Ok as u64, u64::from(DELAY)] {
        return Err(format!("first step: {:?}", on.0[0]));
    }
    if on.2 == 0 || on.3 == 0 {
        return Err(format!(
            "the fast path served {} calls and {} replies",
            on.2, on.3
        ));
    }
    if off.2 != 0 || off.3 != 0 {
        return Err(format!(
            "turned off, it still served {} calls and {} replies",
            off.2, off.3
        ));
    }
    Ok(())
}
