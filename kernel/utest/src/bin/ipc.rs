//! Channels between processes: Call/Recv/Reply with empty, maximal fixed
//! and large arena messages, a handle passed in a message and used by the
//! server, size limits, timeouts on both sides, and a peer's death on
//! either side.
//!
//! Each case runs children of this binary (`role=...`) joined by static
//! channels; the server children run [`utest::basic_server`].

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;

use libkos::abi::msg::{DESC_COPY, HEADER_SIZE, HandleDesc, Header, MAX_HANDLES, NO_BADGE};
use libkos::ipc::{self, Out};
use libkos::syscall::{self, FOREVER};
use libkos::test::TestResult;
use libkos::zerocopy::IntoBytes;
use libkos::{Handle, Rc, Rights, channel, check, check_eq, check_ok, locator, notice, thread};
use utest::{
    Child, basic, basic_call, basic_fixed, basic_server, child, child_result, daemon, ms, now,
    pattern, pattern_mismatch, pattern_vec, role, run_group,
};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => libkos::test::run(
            "utest_ipc",
            libkos::tests![
                channel_end_rights,
                recv_timeout,
                call_recv_reply_empty,
                fixed_part_256,
                arena_60k,
                handle_passed_and_used_by_server,
                message_over_limit_refused,
                call_timeout,
                server_death_wakes_clients,
                client_death_reply_peer_died,
            ],
        ),
    }
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        "server" => serve("basic", 70 * 1024),
        "small-server" => serve("basic", 4096),
        "c-empty" => client_empty(),
        "c-fixed" => client_fixed(),
        "c-arena" => client_arena(),
        "c-notify" => client_notify(),
        "c-limits" => client_limits(),
        "c-timeout" => client_timeout(),
        "s-die" => server_die(),
        "c-die" => client_sees_server_die(),
        "s-reply-dead" => server_reply_to_dead(),
        "c-die-in-call" => client_dies_in_call(),
        other => Err(format!("unknown role {other}")),
    }
}

/// One client child and one server child on channel "basic".
fn pair(client_role: &str, server: Child<'_>) -> TestResult {
    let c_name = format!("ipc-{client_role}");
    run_group(
        SELF,
        &[child(&c_name, client_role), server],
        &[(0, 1, "basic")],
    )
}

fn serve(name: &str, req_cap: usize) -> Result<(), String> {
    let h = locator::register(name).map_err(|e| format!("register {name}: {e}"))?;
    basic_server(h, req_cap)
}

fn connect() -> Result<Handle, String> {
    locator::connect("basic").map_err(|e| format!("connect basic: {e}"))
}

// --- in-process cases -------------------------------------------------------

fn channel_end_rights() -> TestResult {
    let ends = check_ok!(channel::create(), "channel create");
    let s = check_ok!(libkos::handle::identify(ends.server), "identify server end");
    let c = check_ok!(libkos::handle::identify(ends.client), "identify client end");
    let kind = libkos::abi::msg::handle_ops::KIND_CHANNEL;
    check_eq!(s.kind, kind, "server end kind");
    check_eq!(c.kind, kind, "client end kind");
    let server_rights = Rights::SERVER
        | Rights::LISTENER
        | Rights::COPY
        | Rights::TRANSFER
        | Rights::REVOKE
        | Rights::WAIT;
    let client_rights =
        Rights::CLIENT | Rights::COPY | Rights::TRANSFER | Rights::REVOKE | Rights::WAIT;
    check_eq!(
        Rights::from_bits_retain(s.rights),
        server_rights,
        "server end rights"
    );
    check_eq!(
        Rights::from_bits_retain(c.rights),
        client_rights,
        "client end rights"
    );
    // Recv needs SERVER, Call needs CLIENT.
    let mut buf = [0u8; 64];
    check_eq!(
        syscall::recv_bytes(ends.client, &mut buf, 0).rc,
        Rc::NoCapability,
        "recv on the client end"
    );
    let req = Header::default();
    let (rc, len) = syscall::call_bytes_timeout(ends.server, req.as_bytes(), &mut buf, 0);
    check_eq!(rc, Rc::NoCapability, "call on the server end");
    check_eq!(len, 0, "reply length of a refused call");
    check_ok!(libkos::handle::close(ends.server), "close server end");
    check_ok!(libkos::handle::close(ends.client), "close client end");
    Ok(())
}

fn recv_timeout() -> TestResult {
    let ends = check_ok!(channel::create(), "channel create");
    let mut buf = [0u8; 64];
    let t0 = now();
    let r = syscall::recv_bytes(ends.server, &mut buf, ms(50));
    let took = now() - t0;
    check_eq!(r.rc, Rc::Timeout, "recv with a 50 ms timeout and no caller");
    check!(
        took >= ms(50),
        "recv timed out after {took} ns, before 50 ms"
    );
    check!(took < ms(2000), "recv took {took} ns for a 50 ms timeout");
    // It never blocks: the quickest of a few tries (a host may stop an
    // emulated core for a while) is well under a tick.
    let mut quickest = u64::MAX;
    for _ in 0..5 {
        let t0 = now();
        let r = syscall::recv_bytes(ends.server, &mut buf, 0);
        quickest = quickest.min(now() - t0);
        check_eq!(r.rc, Rc::Timeout, "recv with timeout 0 and no caller");
    }
    check!(quickest < ms(10), "recv with timeout 0 took {quickest} ns");
    // A call with timeout 0 and nobody receiving: Timeout, nothing delivered.
    let req = Header::default();
    let (rc, len) = syscall::call_bytes_timeout(ends.client, req.as_bytes(), &mut buf, 0);
    check_eq!(rc, Rc::Timeout, "call with timeout 0 and no server waiting");
    check_eq!(len, 0, "reply length of a timed-out call");
    check_eq!(
        syscall::recv_bytes(ends.server, &mut buf, 0).rc,
        Rc::Timeout,
        "recv after the timed-out call (it must not be queued)"
    );
    check_ok!(libkos::handle::close(ends.server), "close server end");
    check_ok!(libkos::handle::close(ends.client), "close client end");
    Ok(())
}

// --- round trips ------------------------------------------------------------

fn call_recv_reply_empty() -> TestResult {
    pair("c-empty", daemon("ipc-s-empty", "server"))
}

fn client_empty() -> Result<(), String> {
    let h = connect()?;
    // Raw: the reply of an empty request is a bare header.
    let req = Header {
        endpoint: basic::ENDPOINT,
        method: basic::EMPTY,
        ..Header::default()
    };
    let mut reply = [0u64; 8];
    let (rc, len) = syscall::call_bytes(h, req.as_bytes(), reply.as_mut_bytes());
    if rc != Rc::Ok || len != HEADER_SIZE {
        return Err(format!(
            "empty call: {rc}, reply length {len} (expected rcOk, {HEADER_SIZE})"
        ));
    }
    let got = ipc::Message::parse(&reply.as_bytes()[..len]).map_err(|e| format!("parse: {e}"))?;
    if got.fixed.len() + got.arena.len() + got.handle_count() != 0 || got.status() != Rc::Ok {
        return Err(format!("empty reply not empty: {:?}", got.header));
    }
    // Through libkos, several times.
    for i in 0..10 {
        basic_call(h, basic::EMPTY, &Out::default(), FOREVER, &mut [], &mut [])
            .map_err(|e| format!("empty call {i}: {e}"))?;
    }
    // A non-empty request to the same method is refused by the server: the
    // status comes back as the call's Rc.
    let r = basic_call(
        h,
        basic::EMPTY,
        &Out {
            fixed: &[1, 2, 3],
            ..Out::default()
        },
        FOREVER,
        &mut [],
        &mut [],
    );
    if r != Err(Rc::InvalidArgument) {
        return Err(format!("server's InvalidArgument status: got {r:?}"));
    }
    let badge: u64 = basic_fixed(h, basic::BADGE, &[], &[]).map_err(|e| format!("badge: {e}"))?;
    if badge != 0 {
        return Err(format!("badge of an unbadged handle: {badge}"));
    }
    Ok(())
}

fn fixed_part_256() -> TestResult {
    pair("c-fixed", daemon("ipc-s-fixed", "server"))
}

fn client_fixed() -> Result<(), String> {
    let h = connect()?;
    let req: [u8; 256] = core::array::from_fn(|i| pattern(7, i));
    let mut out = [0u8; 256];
    let got = basic_call(
        h,
        basic::FIXED,
        &Out {
            fixed: &req,
            ..Out::default()
        },
        FOREVER,
        &mut out,
        &mut [],
    )
    .map_err(|e| format!("256-byte call: {e}"))?;
    if got.fixed_len != 256 {
        return Err(format!("reply fixed part {} bytes", got.fixed_len));
    }
    for i in 0..256 {
        if out[i] != req[i] ^ 0xA5 {
            return Err(format!("reply byte {i}: {:#x}", out[i]));
        }
    }
    Ok(())
}

fn arena_60k() -> TestResult {
    pair("c-arena", daemon("ipc-s-arena", "server"))
}

fn client_arena() -> Result<(), String> {
    let h = connect()?;
    const N: usize = 60 * 1024;
    let req = pattern_vec(1, N);
    let mut out = vec![0u8; N];
    let got = basic_call(
        h,
        basic::ARENA,
        &Out {
            arena: &[&req],
            ..Out::default()
        },
        FOREVER,
        &mut [],
        &mut out,
    )
    .map_err(|e| format!("60 KiB call: {e}"))?;
    if got.arena_len != N {
        return Err(format!("reply arena {} bytes, expected {N}", got.arena_len));
    }
    if let Some(i) = pattern_mismatch(2, &out) {
        return Err(format!("reply arena differs at byte {i}"));
    }
    // A corrupted request is caught by the server (it checks every byte).
    let mut bad = req.clone();
    bad[N - 3] ^= 1;
    let r = basic_call(
        h,
        basic::ARENA,
        &Out {
            arena: &[&bad],
            ..Out::default()
        },
        FOREVER,
        &mut [],
        &mut out,
    );
    if r != Err(Rc::InvalidArgument) {
        return Err(format!("corrupted arena: server answered {r:?}"));
    }
    Ok(())
}

// --- handles in messages ----------------------------------------------------

fn handle_passed_and_used_by_server() -> TestResult {
    pair("c-notify", daemon("ipc-s-notify", "server"))
}

fn client_notify() -> Result<(), String> {
    let h = connect()?;
    let n = notice::create().map_err(|e| format!("notice create: {e}"))?;
    let desc = ipc::copy_of(n, Rights::SIGNAL | Rights::COPY | Rights::TRANSFER);
    let cookie = 0x5157_u64;
    let rc: u32 = basic_fixed(h, basic::NOTIFY, cookie.as_bytes(), &[desc])
        .map_err(|e| format!("notify call: {e}"))?;
    if rc != Rc::Ok as u32 {
        return Err(format!("server's signal on the received notice: rc {rc}"));
    }
    let mut events = [notice::Event::default(); 4];
    let w = notice::wait(n, ms(1000), &mut events).map_err(|e| format!("wait: {e}"))?;
    if w.count != 1 || events[0].cookie != cookie || events[0].event != notice::USER {
        return Err(format!(
            "expected one USER event with cookie {cookie:#x}, got {:?}",
            &events[..w.count]
        ));
    }
    // Our handle was copied, not moved: still ours.
    libkos::handle::identify(n).map_err(|e| format!("identify after copy: {e}"))?;
    Ok(())
}

// --- limits -----------------------------------------------------------------

fn message_over_limit_refused() -> TestResult {
    pair("c-limits", daemon("ipc-s-limits", "small-server"))
}

fn client_limits() -> Result<(), String> {
    let h = connect()?;
    // 8 KiB to a server receiving into 4 KiB: the call fails, the server
    // keeps waiting.
    let big = pattern_vec(1, 8192);
    let r = basic_call(
        h,
        basic::ARENA,
        &Out {
            arena: &[&big],
            ..Out::default()
        },
        FOREVER,
        &mut [],
        &mut [],
    );
    if r != Err(Rc::MessageTooLarge) {
        return Err(format!("8 KiB request to a 4 KiB server: {r:?}"));
    }
    let n: u64 = basic_fixed(h, basic::COUNT, &[], &[]).map_err(|e| format!("count: {e}"))?;
    if n != 1 {
        return Err(format!(
            "server received {n} requests, expected 1 (the count)"
        ));
    }
    // A fixed part over 256 bytes, raw (libkos refuses to build it).
    let mut raw = [0u8; HEADER_SIZE + 264];
    let hdr = Header {
        endpoint: basic::ENDPOINT,
        method: basic::EMPTY,
        fixed_len: 264,
        ..Header::default()
    };
    raw[..HEADER_SIZE].copy_from_slice(hdr.as_bytes());
    let mut reply = [0u64; 8];
    let (rc, len) = syscall::call_bytes(h, &raw, reply.as_mut_bytes());
    if rc != Rc::MessageTooLarge || len != 0 {
        return Err(format!("fixed part of 264: {rc}, length {len}"));
    }
    // More than MAX_HANDLES descriptors.
    let ends = channel::create().map_err(|e| format!("channel: {e}"))?;
    let n_desc = MAX_HANDLES + 1;
    let mut raw = vec![0u8; HEADER_SIZE + n_desc * 24];
    let hdr = Header {
        endpoint: basic::ENDPOINT,
        method: basic::IDENTIFY,
        handles: n_desc as u16,
        ..Header::default()
    };
    raw[..HEADER_SIZE].copy_from_slice(hdr.as_bytes());
    for i in 0..n_desc {
        let d = HandleDesc {
            handle: ends.client.0,
            rights: Rights::CLIENT.bits(),
            mode: DESC_COPY,
            badge: NO_BADGE,
            badge_value: 0,
        };
        raw[HEADER_SIZE + i * 24..HEADER_SIZE + (i + 1) * 24].copy_from_slice(d.as_bytes());
    }
    let (rc, len) = syscall::call_bytes(h, &raw, reply.as_mut_bytes());
    if rc != Rc::MessageTooLarge || len != 0 {
        return Err(format!("{n_desc} handle descriptors: {rc}, length {len}"));
    }
    // A reply larger than our reply buffer: MessageTooLarge, length 0.
    let mut small = [0u8; 1024];
    let r = basic_call(
        h,
        basic::BIG_REPLY,
        &Out {
            fixed: 2048u32.as_bytes(),
            ..Out::default()
        },
        FOREVER,
        &mut [],
        &mut small,
    );
    if r != Err(Rc::MessageTooLarge) {
        return Err(format!("2 KiB reply into a 1 KiB buffer: {r:?}"));
    }
    // The server is fine and counted only what it received.
    let n: u64 = basic_fixed(h, basic::COUNT, &[], &[]).map_err(|e| format!("count: {e}"))?;
    if n != 3 {
        return Err(format!(
            "server received {n} requests, expected 3 (count, big reply, count)"
        ));
    }
    Ok(())
}

// --- timeouts ---------------------------------------------------------------

fn call_timeout() -> TestResult {
    pair("c-timeout", daemon("ipc-s-timeout", "server"))
}

fn client_timeout() -> Result<(), String> {
    let h = connect()?;
    // The server holds the call for 300 ms; we give up after 50.
    let t0 = now();
    let r = basic_call(
        h,
        basic::DELAY,
        &Out {
            fixed: 300u64.as_bytes(),
            ..Out::default()
        },
        ms(50),
        &mut [],
        &mut [],
    );
    let took = now() - t0;
    if r != Err(Rc::Timeout) {
        return Err(format!("call with 50 ms timeout to a 300 ms server: {r:?}"));
    }
    if took < ms(50) || took >= ms(290) {
        return Err(format!("the 50 ms call timeout took {took} ns"));
    }
    // The server is still sleeping: a call with timeout 0 finds nobody
    // waiting.
    let t0 = now();
    let r = basic_call(h, basic::EMPTY, &Out::default(), 0, &mut [], &mut []);
    let took = now() - t0;
    if r != Err(Rc::Timeout) || took > ms(50) {
        return Err(format!(
            "call with timeout 0 to a busy server: {r:?} in {took} ns"
        ));
    }
    // Its reply to our timed-out call got PeerDied.
    let _ = syscall::sleep_ns(ms(400));
    let rc: u32 =
        basic_fixed(h, basic::LAST_REPLY, &[], &[]).map_err(|e| format!("last reply: {e}"))?;
    if rc != Rc::PeerDied as u32 {
        return Err(format!(
            "server's reply to a timed-out call: rc {rc}, expected rcPeerDied"
        ));
    }
    // Once it waits in Recv again (on whichever core it runs), timeout 0
    // is enough: the call is delivered, and its reply waited for however
    // long it takes (here 60 ms, beyond any tick-rounded bound).
    let deadline = now() + ms(5000);
    let delay = Out {
        fixed: 60u64.as_bytes(),
        ..Out::default()
    };
    loop {
        let t0 = now();
        match basic_call(h, basic::DELAY, &delay, 0, &mut [], &mut []) {
            Ok(_) if now() - t0 >= ms(60) => return Ok(()),
            Ok(_) => return Err(format!("a 60 ms call answered in {} ns", now() - t0)),
            Err(Rc::Timeout) if now() < deadline => {
                let _ = syscall::sleep_ns(ms(10));
            }
            Err(e) => return Err(format!("call with timeout 0 to a waiting server: {e}")),
        }
    }
}

// --- peer death -------------------------------------------------------------

fn server_death_wakes_clients() -> TestResult {
    run_group(
        SELF,
        &[child("ipc-c-die", "c-die"), child("ipc-s-die", "s-die")],
        &[(0, 1, "die")],
    )
}

/// Takes one request, never replies, ends 100 ms later.
fn server_die() -> Result<(), String> {
    let h = locator::register("die").map_err(|e| format!("register: {e}"))?;
    let mut buf = [0u8; 256];
    ipc::recv(h, &mut buf, FOREVER).map_err(|e| format!("recv: {e}"))?;
    let _ = syscall::sleep_ns(ms(100));
    Ok(())
}

/// Three threads call the dying server: one is received, two wait in the
/// queue; all three must come back with PeerDied, and so must a later call.
fn client_sees_server_die() -> Result<(), String> {
    let h = locator::connect("die").map_err(|e| format!("connect: {e}"))?;
    let mut threads = vec::Vec::new();
    for _ in 0..3 {
        let t = thread::spawn(thread::normal(16), 0, move || {
            let r = basic_call(h, basic::EMPTY, &Out::default(), FOREVER, &mut [], &mut []);
            match r {
                Err(rc) => rc as i64,
                Ok(_) => -1,
            }
        })
        .map_err(|e| format!("spawn: {e}"))?;
        threads.push(t);
    }
    for (i, t) in threads.iter().enumerate() {
        let code = t
            .join(utest::CHILD_TIMEOUT_NS)
            .map_err(|e| format!("join caller {i}: {e}"))?;
        if code != Rc::PeerDied as i64 {
            return Err(format!(
                "caller {i}: ended with {code}, expected rcPeerDied ({})",
                Rc::PeerDied as i64
            ));
        }
    }
    let r = basic_call(h, basic::EMPTY, &Out::default(), FOREVER, &mut [], &mut []);
    if r != Err(Rc::PeerDied) {
        return Err(format!("call after the server's death: {r:?}"));
    }
    Ok(())
}

fn client_death_reply_peer_died() -> TestResult {
    run_group(
        SELF,
        &[
            child("ipc-c-die-in-call", "c-die-in-call"),
            child("ipc-s-reply-dead", "s-reply-dead"),
        ],
        &[(0, 1, "dead")],
    )
}

/// A thread calls and blocks; the process ends 50 ms later.
fn client_dies_in_call() -> Result<(), String> {
    let h = locator::connect("dead").map_err(|e| format!("connect: {e}"))?;
    let t = thread::spawn(thread::normal(16), 0, move || {
        let _ = basic_call(h, basic::EMPTY, &Out::default(), FOREVER, &mut [], &mut []);
        0
    })
    .map_err(|e| format!("spawn: {e}"))?;
    let _ = syscall::sleep_ns(ms(50));
    core::mem::forget(t);
    Ok(())
}

/// Receives, waits until the caller is gone, replies: PeerDied. A token
/// never received: InvalidArgument.
fn server_reply_to_dead() -> Result<(), String> {
    let h = locator::register("dead").map_err(|e| format!("register: {e}"))?;
    let mut buf = [0u8; 256];
    let req = ipc::recv(h, &mut buf, FOREVER).map_err(|e| format!("recv: {e}"))?;
    let token = req.token;
    let _ = syscall::sleep_ns(ms(300));
    let rc = ipc::reply(token, Rc::Ok, &Out::default());
    if rc != Rc::PeerDied {
        return Err(format!("reply to a dead caller: {rc}, expected rcPeerDied"));
    }
    let rc = ipc::reply_status(syscall::ReplyToken(token.0 ^ 0x5a5a_0000), Rc::Ok);
    if rc != Rc::InvalidArgument {
        return Err(format!("reply to a token never received: {rc}"));
    }
    // And the server end still works: nobody calls, so Recv times out.
    let r = syscall::recv_bytes(h, &mut buf, ms(10));
    if r.rc != Rc::Timeout {
        return Err(format!("recv after the dead caller: {}", r.rc));
    }
    Ok(())
}
