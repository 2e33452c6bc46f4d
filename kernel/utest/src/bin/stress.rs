//! Stress across cores (`cargo xtask stress`, outside the default suite):
//! 100,000 round trips between two cores, processes made and ended on
//! every core at once with nothing leaked, handles revoked while threads
//! on other cores use them, notices passed between cores with no wake-up
//! lost (also against a timeout about to fire), and a page unmapped under
//! readers on every other core, which must fault from the moment the
//! unmap has returned. Each test asserts what the system must keep true
//! under it; `cargo xtask stress` boots this image again and again.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use libkos::abi::sched::{DEFAULT_PRIORITY, SchedPolicy};
use libkos::abi::task::{CreateFlags, ExitStatus, FaultKind};
use libkos::handle;
use libkos::task::{self, Task};
use libkos::test::TestResult;
use libkos::thread::{self, JoinHandle};
use libkos::zerocopy::IntoBytes;
use libkos::{Handle, Rc, Rights, check, check_eq, check_ok, notice, println, syscall};
use utest::{expect_exit, ms, now};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));
const JOIN_TIMEOUT: u64 = 120_000_000_000;

fn main() -> i32 {
    match utest::role() {
        Some("exit0") => 0,
        Some(r) if r.starts_with("unmap-") => match r["unmap-".len()..].parse() {
            Ok(round) => unmap_under_a_reader(round),
            Err(_) => 64,
        },
        Some(other) => {
            println!("utest-stress: unknown role {other}");
            64
        }
        None => utest::in_normal_thread(tests),
    }
}

fn tests() -> i32 {
    libkos::test::run(
        "utest_stress",
        libkos::tests![
            ping_pong_100k_across_cores,
            processes_on_every_core_leak_nothing,
            revocation_races_with_use,
            notices_lose_no_wake_up,
            unmap_seen_at_once_by_every_core,
        ],
    )
}

fn normal() -> SchedPolicy {
    thread::normal(DEFAULT_PRIORITY)
}

/// Threads of a test wait for this before they start.
static GO: AtomicBool = AtomicBool::new(false);

/// The cores that run threads, as `Thread.SetAffinity` accepts them (one
/// at a time, on a thread waiting for [`GO`]).
fn cores() -> Result<Vec<u32>, String> {
    GO.store(false, SeqCst);
    let t = check_ok!(
        thread::spawn(normal(), 0, || {
            while !GO.load(SeqCst) {
                syscall::sleep_ns(ms(1));
            }
            0
        }),
        "spawn a prober"
    );
    let mut cores = Vec::new();
    for c in 0..64u32 {
        match t.set_affinity(1 << c) {
            Ok(()) => cores.push(c),
            Err(Rc::InvalidArgument) => {}
            Err(rc) => return Err(format!("SetAffinity core {c}: {rc}")),
        }
    }
    GO.store(true, SeqCst);
    check_ok!(t.join(JOIN_TIMEOUT), "join the prober");
    check!(!cores.is_empty(), "no core runs threads");
    Ok(cores)
}

/// `f` in a new thread on `core`, started once [`GO`] is set.
fn on_core(core: u32, f: impl FnOnce() -> i64 + Send + 'static) -> Result<JoinHandle, String> {
    let t = check_ok!(
        thread::spawn(normal(), 0, move || {
            while !GO.load(SeqCst) {
                syscall::sleep_ns(ms(1));
            }
            f()
        }),
        "spawn a thread for core {core}"
    );
    check_ok!(t.set_affinity(1 << core), "SetAffinity core {core}");
    Ok(t)
}

/// Joins `threads`; every one must return 0.
fn join_all(threads: Vec<(u32, JoinHandle)>, what: &str) -> TestResult {
    let mut failed = Vec::new();
    for (core, t) in threads {
        let code = check_ok!(t.join(JOIN_TIMEOUT), "join {what} on core {core}");
        if code != 0 {
            failed.push((core, code));
        }
    }
    check!(failed.is_empty(), "{what}: (core, code) {failed:?}");
    Ok(())
}

const ROUND_TRIPS: u64 = 100_000;

/// A server on one core and a client on another: 100,000 calls, each
/// answered with its own number plus one, each reply and next wait one
/// call (so the server's core idles and is woken every time). A lost
/// wake-up hangs a side until its join times out; a mixed-up message
/// fails the check.
fn ping_pong_100k_across_cores() -> TestResult {
    let cores = cores()?;
    // Neither on core 0, where this thread waits, if there are three.
    let (a, b) = (cores[cores.len().min(2) - 1], *cores.last().unwrap_or(&0));
    GO.store(false, SeqCst);
    let ends = check_ok!(libkos::channel::create(), "a channel");
    let (server_end, client_end) = (ends.server, ends.client);
    let server = on_core(a, move || {
        let mut buf = [0u64; 4];
        let mut r = syscall::recv_bytes(server_end, buf.as_mut_bytes(), syscall::FOREVER);
        for _ in 1..ROUND_TRIPS {
            if r.rc != Rc::Ok {
                return 1;
            }
            buf[2] += 1;
            let reply = buf;
            let (next, replied) = syscall::reply_recv_bytes(
                r.token,
                reply.as_bytes(),
                server_end,
                buf.as_mut_bytes(),
            );
            if replied != Rc::Ok {
                return 2;
            }
            r = next;
        }
        if r.rc != Rc::Ok {
            return 1;
        }
        buf[2] += 1;
        match syscall::reply_bytes(r.token, buf.as_bytes()) {
            Rc::Ok => 0,
            _ => 2,
        }
    })?;
    let client = on_core(b, move || {
        let mut req = [0u64; 4];
        let mut reply = [0u64; 4];
        let header = libkos::abi::msg::Header {
            fixed_len: 16,
            ..Default::default()
        };
        req[..2].as_mut_bytes().copy_from_slice(header.as_bytes());
        for i in 0..ROUND_TRIPS {
            req[2] = i;
            let (rc, _) = syscall::call_bytes(client_end, req.as_bytes(), reply.as_mut_bytes());
            if rc != Rc::Ok {
                return 10;
            }
            if reply[2] != i + 1 {
                return 11;
            }
        }
        0
    })?;
    let t0 = now();
    GO.store(true, SeqCst);
    join_all(vec_of([(b, client), (a, server)]), "ping-pong")?;
    println!(
        "utest-stress: {ROUND_TRIPS} round trips between cores {a} and {b} in {} ms",
        (now() - t0) / 1_000_000
    );
    let _ = handle::close(server_end);
    let _ = handle::close(client_end);
    Ok(())
}

fn vec_of<const N: usize>(items: [(u32, JoinHandle); N]) -> Vec<(u32, JoinHandle)> {
    items.into_iter().collect()
}

/// Processes each core makes and ends, per round.
const PROCESSES_PER_CORE: u32 = 8;
const PROCESS_ROUNDS: u32 = 3;

/// One thread on every core makes child processes that run there and
/// end, all at once; after a round to warm up, the frames, the kernel
/// heap and the counts of processes, threads, handles and objects are
/// what they were.
fn processes_on_every_core_leak_nothing() -> TestResult {
    let cores = cores()?;
    churn(&cores, 0)?;
    let before = check_ok!(libkos::sys::mem_stats(), "mem_stats before");
    for round in 1..=PROCESS_ROUNDS {
        churn(&cores, round)?;
    }
    let after = check_ok!(libkos::sys::mem_stats(), "mem_stats after");
    check_eq!(after.free_frames, before.free_frames, "free frames");
    check_eq!(after.heap_used, before.heap_used, "kernel heap bytes used");
    check_eq!(after.processes, before.processes, "live processes");
    check_eq!(after.threads, before.threads, "live threads");
    check_eq!(after.handles, before.handles, "live handles");
    check_eq!(after.objects, before.objects, "live objects");
    println!(
        "utest-stress: {} processes made and ended on {} cores",
        (PROCESS_ROUNDS + 1) * PROCESSES_PER_CORE * cores.len() as u32,
        cores.len()
    );
    Ok(())
}

/// One round: a thread per core, each making, running (on its core) and
/// ending [`PROCESSES_PER_CORE`] children one after another.
fn churn(cores: &[u32], round: u32) -> TestResult {
    GO.store(false, SeqCst);
    let mut threads = Vec::new();
    for &c in cores {
        let t = on_core(c, move || {
            for i in 0..PROCESSES_PER_CORE {
                let name = format!("s{c}-{round}-{i}");
                if let Err(code) = one_child(&name, c) {
                    println!("utest-stress: {name}: {code}");
                    return 1;
                }
            }
            0
        })?;
        threads.push((c, t));
    }
    GO.store(true, SeqCst);
    join_all(threads, "process makers")
}

fn one_child(name: &str, core: u32) -> Result<(), String> {
    let t = Task::create(name, SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
        .map_err(|e| format!("create: {e}"))?;
    t.set_env(b"role=exit0")
        .map_err(|e| format!("set_env: {e}"))?;
    task::set_affinity(t.handle(), 1 << core).map_err(|e| format!("set_affinity: {e}"))?;
    t.resume().map_err(|e| format!("resume: {e}"))?;
    let info = t
        .wait(utest::CHILD_TIMEOUT_NS)
        .map_err(|e| format!("wait: {e}"))?;
    expect_exit(&info, 0)?;
    t.close().map_err(|e| format!("close: {e}"))
}

/// Revocations: rounds of them.
const REVOCATIONS: u32 = 50;
/// Uses each thread makes before the revocation may come.
const USES_BEFORE: u64 = 20;

/// Handle copies each user thread has made in the current round.
static USES: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];
/// Set once the current round's `Handle.Revoke` has returned.
static REVOKED: AtomicBool = AtomicBool::new(false);

/// Threads on the other cores copy (and close) their descendant of a
/// handle while this one revokes it: a use either works or is refused
/// with rcHandleRevoked, never works again after that, and nothing made
/// in the race outlives it (handles and objects counted after).
fn revocation_races_with_use() -> TestResult {
    let cores = cores()?;
    let ends = check_ok!(libkos::channel::create(), "a channel");
    race(&cores, ends.client)?;
    let before = check_ok!(libkos::sys::mem_stats(), "mem_stats before");
    for _ in 0..REVOCATIONS {
        race(&cores, ends.client)?;
    }
    let after = check_ok!(libkos::sys::mem_stats(), "mem_stats after");
    check_eq!(after.handles, before.handles, "live handles");
    check_eq!(after.objects, before.objects, "live objects");
    check_eq!(after.heap_used, before.heap_used, "kernel heap bytes used");
    let _ = handle::close(ends.client);
    let _ = handle::close(ends.server);
    Ok(())
}

/// One revocation raced by a user on every core.
fn race(cores: &[u32], channel: Handle) -> TestResult {
    let root = check_ok!(
        handle::copy(channel, Rights::CLIENT | Rights::COPY | Rights::REVOKE),
        "copy the root"
    );
    GO.store(false, SeqCst);
    REVOKED.store(false, SeqCst);
    let mut threads = Vec::new();
    for (slot, &c) in cores.iter().enumerate() {
        let mine = check_ok!(
            handle::copy(root, Rights::CLIENT | Rights::COPY),
            "copy for core {c}"
        );
        USES[slot].store(0, SeqCst);
        let t = on_core(c, move || use_until_revoked(mine, &USES[slot]))?;
        threads.push((c, t));
    }
    GO.store(true, SeqCst);
    // Once every user has used its handle a little: the revocation. (It
    // comes anyway after a minute, so that the users end either way.)
    let until = now() + ms(60_000);
    let uses = || USES[..cores.len()].iter().map(|u| u.load(SeqCst));
    let mut started = true;
    while uses().any(|n| n < USES_BEFORE) {
        if now() > until {
            started = false;
            break;
        }
        syscall::sleep_ns(ms(1));
    }
    check_ok!(handle::revoke(root), "revoke");
    REVOKED.store(true, SeqCst);
    join_all(threads, "users")?;
    check_ok!(handle::close(root), "close the root");
    check!(
        started,
        "the users had not all started after a minute: uses {:?}",
        uses().collect::<Vec<_>>()
    );
    Ok(())
}

/// Copies `mine` and closes the copy until that is refused; returns 0 if
/// the refusal was rcHandleRevoked, every use after it was too, and no
/// copy worked once the revocation had returned (5 if one did).
fn use_until_revoked(mine: Handle, uses: &AtomicU64) -> i64 {
    loop {
        let revoked = REVOKED.load(SeqCst);
        match handle::copy(mine, Rights::CLIENT) {
            Ok(_) if revoked => return 5,
            Ok(h) => {
                // Made in the race: it may be revoked already.
                match handle::close(h) {
                    Ok(()) | Err(Rc::HandleRevoked) => {}
                    Err(_) => return 3,
                }
                uses.fetch_add(1, SeqCst);
            }
            Err(Rc::HandleRevoked) => break,
            Err(_) => return 1,
        }
    }
    for _ in 0..10 {
        if handle::copy(mine, Rights::CLIENT) != Err(Rc::HandleRevoked) {
            return 2;
        }
    }
    match handle::close(mine) {
        Ok(()) | Err(Rc::HandleRevoked) => 0,
        Err(_) => 4,
    }
}

/// Events each pair of threads passes back and forth as fast as it can,
/// then with the signal held back (the race with the poller's timeout).
const NOTICE_TRIPS: u64 = 5_000;
const RACE_TRIPS: u64 = 100;
/// How long the polling side of a pair waits at a time. Deadlines are
/// whole ticks, so this times out at the second tick edge from the wait.
const POLL_NS: u64 = 20_000;
/// In the race trips the waiter signals this long after it got the last
/// event (when the poller started to wait), plus a step a trip: a sweep
/// across the ticks where the poller's timeout fires (10 to 20 ms).
const RACE_FROM_NS: u64 = 5_000_000;
const RACE_STEP_NS: u64 = 200_000;
const RACE_SPAN_NS: u64 = 20_000_000;

/// Round trips each side of the current pair has begun (reported on a
/// failure).
static TRIPS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
/// Race trips whose event came while the poller waited, and those where
/// its wait timed out first (both must happen).
static IN_TIME: AtomicU64 = AtomicU64::new(0);
static TIMED_OUT: AtomicU64 = AtomicU64::new(0);

/// Pairs of threads on two cores pass an event back and forth through two
/// notices, core `i` with core `i + 1` for every core in turn: one side
/// waits forever, the other in short waits that time out, and for the
/// last trips the first side holds its signal back to land around that
/// timeout. Each event must arrive exactly once and in order; a lost
/// wake-up hangs the pair until the join times out. (One pair at a time:
/// four emulated cores spinning for the kernel lock on a two-core host
/// wait for the host's scheduler, which made two pairs at once a hundred
/// times slower here.)
fn notices_lose_no_wake_up() -> TestResult {
    let cores = cores()?;
    IN_TIME.store(0, SeqCst);
    TIMED_OUT.store(0, SeqCst);
    for (i, &a) in cores.iter().enumerate() {
        let b = cores[(i + 1) % cores.len()];
        notice_pair(a, b)?;
    }
    let (in_time, timed_out) = (IN_TIME.load(SeqCst), TIMED_OUT.load(SeqCst));
    check!(
        in_time > 0 && timed_out > 0,
        "the signals never raced the timeout: {in_time} came in time, {timed_out} after one"
    );
    println!("utest-stress: race trips: {in_time} events in time, {timed_out} after a timeout");
    Ok(())
}

/// One pair of [`notices_lose_no_wake_up`]: the waiter on `a`, the
/// poller on `b`.
fn notice_pair(a: u32, b: u32) -> TestResult {
    GO.store(false, SeqCst);
    let to_b = check_ok!(notice::create(), "a notice");
    let to_a = check_ok!(notice::create(), "a notice");
    let waiter = on_core(a, move || {
        let mut got = now();
        for i in 0..NOTICE_TRIPS + RACE_TRIPS {
            TRIPS[0].store(i, SeqCst);
            if let Some(k) = i.checked_sub(NOTICE_TRIPS) {
                // Not a sleep: a sleep ends on a tick, as the timeout does.
                let at = got + RACE_FROM_NS + (k * RACE_STEP_NS) % RACE_SPAN_NS;
                while now() < at {
                    core::hint::spin_loop();
                }
            }
            if notice::signal(to_b, i).is_err() {
                return 1;
            }
            match next_event(to_a, syscall::FOREVER) {
                Ok((c, _)) if c == i => got = now(),
                Ok(_) => return 2,
                Err(code) => return code,
            }
        }
        0
    })?;
    let poller = on_core(b, move || {
        for i in 0..NOTICE_TRIPS + RACE_TRIPS {
            TRIPS[1].store(i, SeqCst);
            let timeouts = match next_event(to_b, POLL_NS) {
                Ok((c, t)) if c == i => t,
                Ok(_) => return 12,
                Err(code) => return 10 + code,
            };
            if i >= NOTICE_TRIPS {
                let count = if timeouts == 0 { &IN_TIME } else { &TIMED_OUT };
                count.fetch_add(1, SeqCst);
            }
            if notice::signal(to_a, i).is_err() {
                return 11;
            }
        }
        0
    })?;
    GO.store(true, SeqCst);
    let joined = join_all(vec_of([(a, waiter), (b, poller)]), "notice pair");
    if joined.is_err() {
        let trips = [TRIPS[0].load(SeqCst), TRIPS[1].load(SeqCst)];
        println!("utest-stress: cores {a} and {b}: trips begun by each side: {trips:?}");
    }
    joined?;
    // Nothing left over: every event was taken once.
    let mut ev = [notice::Event::default(); 1];
    for n in [to_a, to_b] {
        check_eq!(
            notice::wait(n, 0, &mut ev),
            Err(Rc::Timeout),
            "an event left on a notice"
        );
        check_ok!(handle::close(n), "close a notice");
    }
    Ok(())
}

/// The cookie of the next event on `n`, waiting `timeout_ns` at a time,
/// and how many of those waits timed out first; 3 for a wait that failed
/// otherwise or got more than one event.
fn next_event(n: Handle, timeout_ns: u64) -> Result<(u64, u32), i64> {
    let mut ev = [notice::Event::default(); 2];
    let mut timeouts = 0;
    loop {
        match notice::wait(n, timeout_ns, &mut ev) {
            Ok(w) if w.count == 1 && w.left == 0 && ev[0].event == notice::USER => {
                return Ok((ev[0].cookie, timeouts));
            }
            Err(Rc::Timeout) => timeouts += 1,
            _ => return Err(3),
        }
    }
}

/// Children that unmap a page under readers.
const UNMAP_ROUNDS: u32 = 20;
/// The exit code of a reader that read the page after its unmap returned.
const STALE_READ: i64 = 99;

/// Rounds of a child process with a reader on one core reading a page
/// that a thread on core 0 unmaps (the reader's core turns with the
/// round, through every other core): the child must end with the
/// reader's fault on the page; a read that succeeds after the unmap
/// returned (a stale TLB entry on the reader's core) ends it with
/// [`STALE_READ`]. One reader a round: with several, the first fault ends
/// the process, and one core's stale entry would go unseen behind
/// another's fault.
fn unmap_seen_at_once_by_every_core() -> TestResult {
    for round in 0..UNMAP_ROUNDS {
        let t = check_ok!(
            Task::create(
                &format!("unmap{round}"),
                SELF,
                DEFAULT_PRIORITY,
                CreateFlags::FROM_ROMFS
            ),
            "create the child"
        );
        check_ok!(
            t.set_env(format!("role=unmap-{round}").as_bytes()),
            "the child's role"
        );
        check_ok!(t.resume(), "resume");
        let exit = check_ok!(t.wait(JOIN_TIMEOUT), "wait");
        // The reader reads the page's first word: the fault is there.
        check!(
            exit.status == ExitStatus::Exception as u32
                && exit.fault == FaultKind::Unmapped as u32
                && exit.far != 0
                && exit.far % 4096 == 0,
            "round {round}: the child ended {} (fault {} at {:#x}), not on the unmapped page",
            task::Describe(&exit),
            exit.fault,
            exit.far
        );
        check_ok!(t.close(), "close the child");
    }
    Ok(())
}

/// The child of [`unmap_seen_at_once_by_every_core`] in `round`.
fn unmap_under_a_reader(round: usize) -> i32 {
    static READS: AtomicU64 = AtomicU64::new(0);
    static PAGE: AtomicU64 = AtomicU64::new(0);
    static FREED: AtomicBool = AtomicBool::new(false);
    let Ok(cores) = cores() else { return 3 };
    let Ok(page) = libkos::vm::allocate(4096) else {
        return 4;
    };
    PAGE.store(page.addr, SeqCst);
    GO.store(false, SeqCst);
    let (near, far) = match cores.split_first() {
        Some((near, rest)) if !rest.is_empty() => (*near, rest[round % rest.len()]),
        _ => (cores[0], cores[0]),
    };
    {
        let reader = on_core(far, move || {
            let at = PAGE.load(SeqCst) as *const u64;
            loop {
                // Acquire: the read below cannot be made before this load.
                let freed = FREED.load(SeqCst);
                // SAFETY: the page is this process's until the freer frees
                // it; a read after that must fault, which is the test.
                let v = unsafe { core::ptr::read_volatile(at) };
                if freed {
                    task::exit(STALE_READ);
                }
                READS.fetch_add(1 + v, SeqCst);
            }
        });
        if reader.is_err() {
            return 5;
        }
    }
    let freer = on_core(near, move || {
        let until = now() + ms(5000);
        while READS.load(SeqCst) < 1000 {
            if now() > until {
                return 7;
            }
            syscall::sleep_ns(ms(1));
        }
        // SAFETY: only the readers use the page, and their use after this
        // is the point of the test.
        if unsafe { libkos::vm::free(page) }.is_err() {
            return 8;
        }
        FREED.store(true, SeqCst);
        // The reader faults now, ending this process, unless its core
        // still maps the page.
        syscall::sleep_ns(ms(1000));
        0
    });
    let Ok(freer) = freer else { return 9 };
    GO.store(true, SeqCst);
    freer.join(JOIN_TIMEOUT).map_or(11, |code| code as i32)
}
