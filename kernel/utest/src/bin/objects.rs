//! MDL buffers shared between processes, and notices: timeouts, user
//! signals, a task's end, a channel peer's death.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use libkos::abi::msg::handle_ops::KIND_NOTICE;
use libkos::ipc::{self, Out};
use libkos::notice::{self, Event};
use libkos::syscall::{self, FOREVER};
use libkos::test::TestResult;
use libkos::zerocopy::IntoBytes;
use libkos::{
    Handle, Rc, Rights, channel, check, check_eq, check_ok, handle, locator, mdl, thread,
};
use utest::{
    basic_fixed, child, child_result, expect_rc, ms, now, pattern_mismatch, pattern_vec, role,
    run_group, start_role,
};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => libkos::test::run(
            "utest_objects",
            libkos::tests![
                mdl_map_unmap_limits,
                mdl_shared_both_ways,
                notice_wait_timeout,
                notice_signal_and_wait,
                notice_wakes_blocked_waiter,
                notice_task_end,
                notice_channel_peer_died,
            ],
        ),
    }
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        "exit0" => Ok(()),
        "c-mdl" => client_mdl(),
        "s-mdl" => server_mdl(),
        other => Err(format!("unknown role {other}")),
    }
}

// --- MDL --------------------------------------------------------------------

fn mdl_map_unmap_limits() -> TestResult {
    check!(
        mdl::create(mdl::MAX_SIZE + 1).is_err(),
        "an MDL over MAX_SIZE was created"
    );
    let h = check_ok!(mdl::create(5000), "create 5000 bytes");
    let m = check_ok!(mdl::map(h, true), "map writable");
    check_eq!(m.len(), 8192, "size rounded up to pages");
    let mut buf = [0xFFu8; 8192];
    check_ok!(m.read(0, &mut buf), "read");
    check!(buf.iter().all(|b| *b == 0), "a new MDL is not zeroed");
    check_ok!(m.write(100, b"hello"), "write");
    check_ok!(mdl::unmap(h, m), "unmap");
    // Mapped again: the same pages, the data is still there.
    let m = check_ok!(mdl::map(h, false), "map read-only");
    let mut got = [0u8; 5];
    check_ok!(m.read(100, &mut got), "read again");
    check_eq!(&got, b"hello", "data after unmap and map");
    check_ok!(mdl::unmap(h, m), "unmap");
    let ro = check_ok!(handle::copy(h, Rights::MAP_READ), "copy MAP_READ only");
    expect_rc(
        "map writable without MAP_WRITE",
        mdl::map(ro, true),
        Rc::NoCapability,
    )?;
    let m = check_ok!(mdl::map(ro, false), "map read-only through the copy");
    check_ok!(mdl::unmap(ro, m), "unmap");
    check_ok!(handle::close(ro), "close");
    check_ok!(handle::close(h), "close");
    Ok(())
}

fn mdl_shared_both_ways() -> TestResult {
    run_group(
        SELF,
        &[child("obj-c-mdl", "c-mdl"), child("obj-s-mdl", "s-mdl")],
        &[(0, 1, "mdl")],
    )
}

const TAKE: u16 = 1;
const RECHECK: u16 = 2;
const SIZE: usize = 3 * 4096;

fn client_mdl() -> Result<(), String> {
    let ch = locator::connect("mdl").map_err(|e| format!("connect: {e}"))?;
    let h = mdl::create(SIZE as u64).map_err(|e| format!("mdl create: {e}"))?;
    let m = mdl::map(h, true).map_err(|e| format!("map: {e}"))?;
    m.write(0, &pattern_vec(1, 8192))
        .map_err(|e| format!("write: {e}"))?;
    // Pass it: one writable copy, one read-only copy.
    let descs = [
        ipc::copy_of(h, Rights::MAP_READ | Rights::MAP_WRITE),
        ipc::copy_of(h, Rights::MAP_READ),
    ];
    let rc: u32 = basic_fixed(ch, TAKE, &[], &descs).map_err(|e| format!("take call: {e}"))?;
    if rc != 0 {
        return Err(format!(
            "the server failed step {rc} of TAKE (see its message)"
        ));
    }
    // The server wrote pattern 2 into page 2 of its mapping: we see it.
    let mut page = alloc::vec![0u8; 4096];
    m.read(8192, &mut page).map_err(|e| format!("read: {e}"))?;
    if let Some(i) = pattern_mismatch(2, &page) {
        return Err(format!("page 2 written by the server differs at byte {i}"));
    }
    // We write again while it keeps its mapping: it sees the new data.
    m.write(0, &pattern_vec(4, 4096))
        .map_err(|e| format!("write: {e}"))?;
    let rc: u32 = basic_fixed(ch, RECHECK, &[], &[]).map_err(|e| format!("recheck call: {e}"))?;
    if rc != 0 {
        return Err(format!("the server failed step {rc} of RECHECK"));
    }
    mdl::unmap(h, m).map_err(|e| format!("unmap: {e}"))?;
    Ok(())
}

fn server_mdl() -> Result<(), String> {
    let ch = locator::register("mdl").map_err(|e| format!("register: {e}"))?;
    let mut buf = [0u8; 512];
    let req = ipc::recv(ch, &mut buf, FOREVER).map_err(|e| format!("recv: {e}"))?;
    let (Some(rw), Some(ro)) = (req.msg.handle(0), req.msg.handle(1)) else {
        return Err(String::from("TAKE without two handles"));
    };
    let (rw, ro) = (Handle(rw.handle), Handle(ro.handle));
    let reply_step = |token, step: u32| {
        ipc::reply(
            token,
            Rc::Ok,
            &Out {
                fixed: step.as_bytes(),
                ..Out::default()
            },
        )
    };
    let m = match mdl::map(rw, true) {
        Ok(m) => m,
        Err(e) => {
            reply_step(req.token, 1);
            return Err(format!("map the writable copy: {e}"));
        }
    };
    let mut data = alloc::vec![0u8; 8192];
    m.read(0, &mut data).map_err(|e| format!("read: {e}"))?;
    if let Some(i) = pattern_mismatch(1, &data) {
        reply_step(req.token, 2);
        return Err(format!("the client's pattern differs at byte {i}"));
    }
    if let Err(e) = m.write(8192, &pattern_vec(2, 4096)) {
        reply_step(req.token, 3);
        return Err(format!("write: {e}"));
    }
    match mdl::map(ro, true) {
        Err(Rc::NoCapability) => {}
        r => {
            reply_step(req.token, 4);
            return Err(format!("map writable through the MAP_READ copy: {r:?}"));
        }
    }
    let m_ro = mdl::map(ro, false).map_err(|e| format!("map read-only: {e}"))?;
    let mut first = [0u8; 16];
    m_ro.read(0, &mut first)
        .map_err(|e| format!("read ro: {e}"))?;
    if pattern_mismatch(1, &first).is_some() {
        reply_step(req.token, 5);
        return Err(String::from("the read-only mapping shows other data"));
    }
    reply_step(req.token, 0);

    let req = ipc::recv(ch, &mut buf, FOREVER).map_err(|e| format!("recv 2: {e}"))?;
    let mut page = alloc::vec![0u8; 4096];
    m.read(0, &mut page).map_err(|e| format!("read: {e}"))?;
    let ok = pattern_mismatch(4, &page).is_none();
    reply_step(req.token, if ok { 0 } else { 6 });
    if !ok {
        return Err(String::from("the client's second write is not visible"));
    }
    mdl::unmap(rw, m).map_err(|e| format!("unmap: {e}"))?;
    mdl::unmap(ro, m_ro).map_err(|e| format!("unmap ro: {e}"))?;
    Ok(())
}

// --- notices ----------------------------------------------------------------

fn notice_wait_timeout() -> TestResult {
    let n = check_ok!(notice::create(), "notice create");
    let i = check_ok!(handle::identify(n), "identify");
    check_eq!(i.kind, KIND_NOTICE, "kind");
    check_eq!(
        Rights::from_bits_retain(i.rights),
        Rights::READ_EVENTS | Rights::SIGNAL | Rights::COPY | Rights::TRANSFER,
        "rights"
    );
    let mut ev = [Event::default(); 2];
    let t0 = now();
    let r = notice::wait(n, ms(50), &mut ev);
    let took = now() - t0;
    expect_rc("wait 50 ms, no event", r, Rc::Timeout)?;
    check!(took >= ms(50), "the 50 ms wait ended after {took} ns");
    check!(took < ms(2000), "the 50 ms wait took {took} ns");
    // It never blocks: the quickest of a few tries (a host may stop an
    // emulated core for a while) is well under a tick.
    let mut quickest = u64::MAX;
    for _ in 0..5 {
        let t0 = now();
        expect_rc("wait 0, no event", notice::wait(n, 0, &mut ev), Rc::Timeout)?;
        quickest = quickest.min(now() - t0);
    }
    check!(quickest < ms(10), "wait 0 took {quickest} ns");
    check_ok!(handle::close(n), "close");
    Ok(())
}

fn notice_signal_and_wait() -> TestResult {
    let n = check_ok!(notice::create(), "notice create");
    for c in [11, 22, 33] {
        check_ok!(notice::signal(n, c), "signal {c}");
    }
    let mut ev = [Event::default(); 2];
    let w = check_ok!(notice::wait(n, 0, &mut ev), "wait (room for 2)");
    check_eq!((w.count, w.left), (2, 1), "count, left");
    check_eq!((ev[0].cookie, ev[1].cookie), (11, 22), "cookies in order");
    check_eq!(
        (ev[0].event, ev[1].event),
        (notice::USER, notice::USER),
        "events"
    );
    let w = check_ok!(notice::wait(n, 0, &mut ev), "wait again");
    check_eq!(
        (w.count, w.left, ev[0].cookie),
        (1, 0, 33),
        "count, left, cookie"
    );
    expect_rc(
        "wait when drained",
        notice::wait(n, 0, &mut ev),
        Rc::Timeout,
    )?;
    check_ok!(handle::close(n), "close");
    Ok(())
}

fn notice_wakes_blocked_waiter() -> TestResult {
    let n = check_ok!(notice::create(), "notice create");
    let waiter = check_ok!(
        thread::spawn(thread::normal(16), 0, move || {
            let mut ev = [Event::default(); 1];
            match notice::wait(n, FOREVER, &mut ev) {
                Ok(w) if w.count == 1 => ev[0].cookie as i64,
                Ok(_) => -2,
                Err(rc) => -(rc as i64) - 100,
            }
        }),
        "spawn waiter"
    );
    let _ = syscall::sleep_ns(ms(30));
    check_ok!(notice::signal(n, 4242), "signal");
    let code = check_ok!(waiter.join(utest::CHILD_TIMEOUT_NS), "join waiter");
    check_eq!(code, 4242, "cookie the blocked waiter got");
    check_ok!(handle::close(n), "close");
    Ok(())
}

fn notice_task_end() -> TestResult {
    let n = check_ok!(notice::create(), "notice create");
    let t = start_role(SELF, "obj-task-end", "exit0")?;
    check_ok!(
        notice::subscribe(n, t.handle(), notice::OBJECT_DESTROYED, 0x7A5C),
        "subscribe to the child"
    );
    let mut ev = [Event::default(); 2];
    let w = check_ok!(
        notice::wait(n, ms(5000), &mut ev),
        "wait for the child's end"
    );
    check_eq!(w.count, 1, "events");
    check_eq!(
        (ev[0].event, ev[0].cookie),
        (notice::OBJECT_DESTROYED, 0x7A5C),
        "event"
    );
    let info = check_ok!(t.wait(utest::CHILD_TIMEOUT_NS), "wait child");
    utest::expect_exit(&info, 0)?;
    check_ok!(handle::close(n), "close");
    Ok(())
}

fn notice_channel_peer_died() -> TestResult {
    let n = check_ok!(notice::create(), "notice create");
    let ends = check_ok!(channel::create(), "channel create");
    check_ok!(
        notice::subscribe(n, ends.client, notice::PEER_DIED, 0xDEAD),
        "subscribe to the client end"
    );
    let mut ev = [Event::default(); 2];
    expect_rc(
        "wait before the server end is closed",
        notice::wait(n, 0, &mut ev),
        Rc::Timeout,
    )?;
    check_ok!(handle::close(ends.server), "close the server end");
    let w = check_ok!(notice::wait(n, ms(1000), &mut ev), "wait for PEER_DIED");
    check_eq!(w.count, 1, "events");
    check_eq!(
        (ev[0].event, ev[0].cookie),
        (notice::PEER_DIED, 0xDEAD),
        "event"
    );
    // And a call through the client end now fails with PeerDied.
    let mut reply = [0u8; 64];
    let (rc, len) = syscall::call_bytes(
        ends.client,
        libkos::abi::msg::Header::default().as_bytes(),
        &mut reply,
    );
    check_eq!(
        (rc, len),
        (Rc::PeerDied, 0),
        "call after the server end closed"
    );
    check_ok!(handle::close(ends.client), "close");
    check_ok!(handle::close(n), "close");
    Ok(())
}
