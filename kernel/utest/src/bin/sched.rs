//! The scheduler as user space sees it: preemption by a higher priority,
//! round-robin time slicing, FIFO without it, blocked threads costing no
//! CPU, and FP/SIMD registers surviving preemption.
//!
//! Real-time pairs are started by a coordinator thread (FIFO 20) so both
//! exist before either runs; the coordinator then blocks in `join` and the
//! pair has the CPU to itself (the main thread is time-sharing, below every
//! real-time thread). The coordinator allocates nothing while they run (the
//! heap lock is a spin lock).

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};

use libkos::abi::sched::SchedPolicy;
use libkos::abi::task::CreateFlags;
use libkos::task::Task;
use libkos::test::TestResult;
use libkos::thread::{self, fifo, round_robin, state};
use libkos::zerocopy::IntoBytes;
use libkos::{Rc, check, check_eq, check_ok, syscall, time};
use utest::{ms, now};

libkos::main!(main);

fn main() -> i32 {
    match utest::role() {
        Some(r) if r.starts_with("ceiling-") => ceiling_child(r),
        _ => utest::in_normal_thread(tests),
    }
}

fn tests() -> i32 {
    libkos::test::run(
        "utest_sched",
        libkos::tests![
            higher_priority_preempts,
            threads_bounded_by_the_initial_policy,
            round_robin_takes_turns,
            fifo_runs_to_completion,
            blocked_thread_uses_no_cpu,
            simd_registers_survive_preemption,
            realtime_allocation_under_contention,
            woken_server_waits_its_turn,
        ],
    )
}

const JOIN_TIMEOUT: u64 = 20_000_000_000;
const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

/// No thread of a process ranks above its initial thread as its creator
/// set it (SetInitialThreadPriority / SetInitialThreadSchedPolicy): a child
/// started Normal at 12 may start Normal threads up to 12 and no real-time
/// one (all above the hog utest-hostile leaves spinning at 8); one started FIFO at 3 may start FIFO or round-robin threads up to
/// 3 and any Normal one.
fn threads_bounded_by_the_initial_policy() -> TestResult {
    for (role, initial) in [("ceiling-normal12", None), ("ceiling-fifo3", Some(fifo(3)))] {
        let t = check_ok!(
            Task::create_as(role, "", SELF, 12, CreateFlags::FROM_ROMFS),
            "create {role}"
        );
        if let Some(p) = initial {
            check_ok!(
                t.set_initial_thread_sched_policy(p),
                "{role}'s initial policy"
            );
        }
        check_ok!(
            t.set_env(format!("role={role}").as_bytes()),
            "{role}'s role"
        );
        check_ok!(t.resume(), "start {role}");
        let info = check_ok!(t.wait(JOIN_TIMEOUT), "wait for {role}");
        utest::expect_exit(&info, 0).map_err(|e| format!("{role}: {e}"))?;
    }
    Ok(())
}

/// A child of [`threads_bounded_by_the_initial_policy`]: the threads it may
/// and may not start; exits with the number of answers that were wrong.
fn ceiling_child(role: &str) -> i32 {
    let normal = |priority| SchedPolicy {
        class: libkos::abi::sched::SchedClass::Normal as u32,
        priority,
        ..Default::default()
    };
    let cases: &[(SchedPolicy, bool)] = match role {
        "ceiling-normal12" => &[
            (normal(12), true),
            (normal(9), true),
            (normal(13), false),
            (fifo(0), false),
            (round_robin(0, 1), false),
        ],
        _ => &[
            (fifo(3), true),
            (round_robin(3, 1), true),
            (normal(31), true),
            (fifo(4), false),
            (round_robin(31, 1), false),
        ],
    };
    let mut wrong = 0;
    for (policy, allowed) in cases {
        match thread::spawn(*policy, 0, || 0) {
            Ok(t) if *allowed => {
                let _ = t.join(JOIN_TIMEOUT);
            }
            Err(Rc::QuotaExceeded) if !allowed => {}
            other => {
                wrong += 1;
                libkos::println!(
                    "{role}: a thread of {policy:?}: {:?}, expected {}",
                    other.map(|_| ()),
                    if *allowed { "Ok" } else { "rcQuotaExceeded" }
                );
            }
        }
    }
    wrong
}

// ------------------------------------------------------------ preemption

static FLAG: AtomicBool = AtomicBool::new(false);
static MAIN_SPINNING: AtomicBool = AtomicBool::new(false);
static SAW_MAIN_SPINNING: AtomicBool = AtomicBool::new(false);

/// The main thread (Normal 16) spins; a FIFO 10 thread that slept 30 ms
/// must get the CPU while it does.
fn higher_priority_preempts() -> TestResult {
    FLAG.store(false, SeqCst);
    SAW_MAIN_SPINNING.store(false, SeqCst);
    MAIN_SPINNING.store(true, SeqCst);
    let start = now();
    let t = thread::spawn(fifo(10), 0, || {
        syscall::sleep_ns(ms(30));
        SAW_MAIN_SPINNING.store(MAIN_SPINNING.load(SeqCst), SeqCst);
        FLAG.store(true, SeqCst);
        0
    });
    while !FLAG.load(SeqCst) && now() - start < ms(2000) {
        core::hint::spin_loop();
    }
    MAIN_SPINNING.store(false, SeqCst);
    let waited = now() - start;
    let t = check_ok!(t, "spawn");
    check_eq!(check_ok!(t.join(JOIN_TIMEOUT), "join"), 0, "exit code");
    check!(FLAG.load(SeqCst), "the thread never set the flag");
    check!(
        SAW_MAIN_SPINNING.load(SeqCst),
        "the thread ran only after the main thread stopped spinning ({} ms): no preemption",
        waited / ms(1)
    );
    check!(
        waited >= ms(25),
        "the flag came after {} us: the 30 ms sleep was cut short",
        waited / 1000
    );
    Ok(())
}

// ------------------------------------------------- pairs of RT threads

static COUNT: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static SAW_OTHER: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
static START_NS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static END_NS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static START_ORDER: AtomicU32 = AtomicU32::new(0);
static ORDER: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
static SWITCHES: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// What went wrong in the coordinator (an `Rc` value), step in the high bits.
static COORD_ERROR: AtomicU64 = AtomicU64::new(0);

fn reset_pair() {
    for i in 0..2 {
        COUNT[i].store(0, SeqCst);
        SAW_OTHER[i].store(false, SeqCst);
        START_NS[i].store(0, SeqCst);
        END_NS[i].store(0, SeqCst);
        ORDER[i].store(0, SeqCst);
        SWITCHES[i].store(0, SeqCst);
    }
    START_ORDER.store(0, SeqCst);
    COORD_ERROR.store(0, SeqCst);
}

/// Spins `spin_ns` of wall time counting in `COUNT[i]`; records whether
/// the other thread's counter moved meanwhile.
fn counting_worker(i: usize, spin_ns: u64) -> i64 {
    ORDER[i].store(START_ORDER.fetch_add(1, SeqCst), SeqCst);
    let start = now();
    START_NS[i].store(start, SeqCst);
    let other = &COUNT[1 - i];
    let other_at_start = other.load(SeqCst);
    let mut saw = false;
    while now() - start < spin_ns {
        COUNT[i].fetch_add(1, SeqCst);
        saw |= other.load(SeqCst) != other_at_start;
    }
    SAW_OTHER[i].store(saw, SeqCst);
    END_NS[i].store(now(), SeqCst);
    0
}

/// Runs `worker(0)` and `worker(1)` under `policy` from a FIFO 20
/// coordinator and waits for all three.
fn run_pair(policy: SchedPolicy, worker: fn(usize) -> i64) -> TestResult {
    reset_pair();
    let coord = thread::spawn(fifo(20), 0, move || {
        let fail = |step: u64, rc: Rc| {
            COORD_ERROR.store((step << 32) | rc as u64, SeqCst);
            -1
        };
        let a = match thread::spawn(policy, 0, move || worker(0)) {
            Ok(t) => t,
            Err(rc) => return fail(1, rc),
        };
        let b = match thread::spawn(policy, 0, move || worker(1)) {
            Ok(t) => t,
            Err(rc) => return fail(2, rc),
        };
        for (i, t) in [&a, &b].into_iter().enumerate() {
            if let Err(rc) = t.join(JOIN_TIMEOUT) {
                return fail(3 + i as u64, rc);
            }
            if let Ok(info) = t.info() {
                SWITCHES[i].store(info.switches, SeqCst);
            }
        }
        0
    });
    let coord = check_ok!(coord, "spawn the coordinator");
    let code = check_ok!(coord.join(JOIN_TIMEOUT), "join the coordinator");
    if code != 0 {
        let e = COORD_ERROR.load(SeqCst);
        let step = ["?", "spawn 0", "spawn 1", "join 0", "join 1"]
            .get((e >> 32) as usize)
            .copied()
            .unwrap_or("?");
        let rc = Rc::from_raw(e & 0xffff_ffff);
        return Err(format!("coordinator: {step}: {rc}"));
    }
    Ok(())
}

fn rr_worker(i: usize) -> i64 {
    counting_worker(i, ms(150))
}

/// Two round-robin threads of equal priority, quantum 1 tick, each
/// spinning 150 ms: each must see the other run during its spin.
fn round_robin_takes_turns() -> TestResult {
    run_pair(round_robin(5, 1), rr_worker)?;
    for i in 0..2 {
        check!(COUNT[i].load(SeqCst) > 0, "thread {i} never counted");
        check!(
            SAW_OTHER[i].load(SeqCst),
            "thread {i} never saw the other run during its 150 ms (no time slicing); switches {:?}",
            [SWITCHES[0].load(SeqCst), SWITCHES[1].load(SeqCst)]
        );
    }
    Ok(())
}

/// Two FIFO threads of equal priority: the first to run keeps the CPU for
/// its whole spin (the other's counter stays 0); the second runs after.
fn fifo_runs_to_completion() -> TestResult {
    run_pair(fifo(5), rr_worker)?;
    let first = if ORDER[0].load(SeqCst) == 0 { 0 } else { 1 };
    let second = 1 - first;
    check!(
        !SAW_OTHER[first].load(SeqCst),
        "thread {first} (first) saw thread {second} run during its spin: FIFO was time-sliced"
    );
    check!(COUNT[second].load(SeqCst) > 0, "thread {second} never ran");
    check!(
        START_NS[second].load(SeqCst) >= END_NS[first].load(SeqCst),
        "thread {second} started before thread {first} ended"
    );
    Ok(())
}

// ------------------------------------------------------- blocked thread

/// A thread sleeping 300 ms, looked at after 100 ms: blocked, and (almost)
/// no CPU time.
fn blocked_thread_uses_no_cpu() -> TestResult {
    let t = check_ok!(
        thread::spawn(fifo(10), 0, || {
            syscall::sleep_ns(ms(300));
            0
        }),
        "spawn"
    );
    time::spin_ns(ms(100));
    let info = check_ok!(t.info(), "Thread.Info");
    check_eq!(info.state, state::BLOCKED, "state of the sleeping thread");
    check!(
        info.cpu_ns < ms(2),
        "the sleeping thread used {} us of CPU",
        info.cpu_ns / 1000
    );
    check_eq!(check_ok!(t.join(JOIN_TIMEOUT), "join"), 0, "exit code");
    Ok(())
}

// ------------------------------------------------------------- FP/SIMD

static SIMD_OK: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
/// The TPIDR_EL0 (thread pointer) each SIMD worker read back after its spin.
static TP_BACK: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// The thread pointer worker `i` sets.
fn tp_value(i: usize) -> u64 {
    0x7470_0000_0000 + i as u64
}

/// The bytes thread `i` loads into v0..v31.
fn simd_pattern(i: usize) -> [u8; 512] {
    let mut p = [0u8; 512];
    for (k, b) in p.iter_mut().enumerate() {
        *b = (k as u8).wrapping_mul(7).wrapping_add(1 + 101 * i as u8);
    }
    p
}

/// Loads a distinct pattern into all 32 vector registers and a distinct
/// thread pointer into TPIDR_EL0, spins 100 ms (counting, inside the same
/// asm block so no compiled code touches them), then checks every register
/// still holds its value.
fn simd_worker(i: usize) -> i64 {
    ORDER[i].store(START_ORDER.fetch_add(1, SeqCst), SeqCst);
    let pattern = simd_pattern(i);
    let mut out = [0u8; 512];
    let other = &COUNT[1 - i];
    let other_at_start = other.load(SeqCst);
    let deadline = time::ticks() + time::counter_hz() / 10;
    START_NS[i].store(now(), SeqCst);
    // SAFETY: reads 512 bytes from `pattern` and writes 512 to `out` (both
    // ours, 512 bytes long), increments `COUNT[i]` through its pointer (an
    // aligned u64 store, single-copy atomic, as other threads read it with
    // atomic loads); every vector register it touches is declared
    // clobbered.
    let tp_back: u64;
    unsafe {
        asm!(
            "msr tpidr_el0, {tp}",
            "ld1 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{p}], #64",
            "ld1 {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{p}], #64",
            "ld1 {{v8.16b, v9.16b, v10.16b, v11.16b}}, [{p}], #64",
            "ld1 {{v12.16b, v13.16b, v14.16b, v15.16b}}, [{p}], #64",
            "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{p}], #64",
            "ld1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [{p}], #64",
            "ld1 {{v24.16b, v25.16b, v26.16b, v27.16b}}, [{p}], #64",
            "ld1 {{v28.16b, v29.16b, v30.16b, v31.16b}}, [{p}], #64",
            "2:",
            "ldr {t}, [{cnt}]",
            "add {t}, {t}, #1",
            "str {t}, [{cnt}]",
            "mrs {t}, cntvct_el0",
            "cmp {t}, {dl}",
            "b.lo 2b",
            "st1 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{o}], #64",
            "st1 {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{o}], #64",
            "st1 {{v8.16b, v9.16b, v10.16b, v11.16b}}, [{o}], #64",
            "st1 {{v12.16b, v13.16b, v14.16b, v15.16b}}, [{o}], #64",
            "st1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{o}], #64",
            "st1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [{o}], #64",
            "st1 {{v24.16b, v25.16b, v26.16b, v27.16b}}, [{o}], #64",
            "st1 {{v28.16b, v29.16b, v30.16b, v31.16b}}, [{o}], #64",
            "mrs {tpo}, tpidr_el0",
            tp = in(reg) tp_value(i),
            tpo = out(reg) tp_back,
            p = inout(reg) pattern.as_ptr() => _,
            o = inout(reg) out.as_mut_ptr() => _,
            cnt = in(reg) COUNT[i].as_ptr(),
            dl = in(reg) deadline,
            t = out(reg) _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        );
    }
    END_NS[i].store(now(), SeqCst);
    SAW_OTHER[i].store(other.load(SeqCst) != other_at_start, SeqCst);
    SIMD_OK[i].store(out == pattern, SeqCst);
    TP_BACK[i].store(tp_back, SeqCst);
    0
}

/// Two round-robin threads (quantum 1 tick) each hold their own pattern in
/// v0..v31 and their own TPIDR_EL0 across ~10 preemptions: both must find it intact.
fn simd_registers_survive_preemption() -> TestResult {
    SIMD_OK[0].store(false, SeqCst);
    SIMD_OK[1].store(false, SeqCst);
    run_pair(round_robin(5, 1), simd_worker)?;
    for i in 0..2 {
        let preempted = SAW_OTHER[i].load(SeqCst) || SWITCHES[i].load(SeqCst) >= 2;
        check!(
            preempted,
            "thread {i} was never preempted during its 100 ms (switches {}): nothing tested",
            SWITCHES[i].load(SeqCst)
        );
        check!(
            SIMD_OK[i].load(SeqCst),
            "thread {i}: v0..v31 changed across preemption"
        );
        let tp = TP_BACK[i].load(SeqCst);
        check!(
            tp == tp_value(i),
            "thread {i}: TPIDR_EL0 {tp:#x} after preemption, set {:#x}",
            tp_value(i)
        );
    }
    Ok(())
}

// ------------------------------------------------- heap lock contention

static WANTS_HEAP: AtomicBool = AtomicBool::new(false);

/// A FIFO thread preempts the (time-sharing) main thread while main holds
/// the heap lock, then allocates. It must not spin on the lock forever: a
/// lower-priority holder never runs while it does. libkos's lock backs off
/// to the scheduler (spin, yield, then sleep a tick), so main gets to
/// release the lock. With a plain spin lock this test hangs.
fn realtime_allocation_under_contention() -> TestResult {
    WANTS_HEAP.store(false, SeqCst);
    let rt = thread::spawn(fifo(15), 0, || {
        syscall::sleep_ns(ms(20));
        WANTS_HEAP.store(true, SeqCst);
        let v = alloc::vec![7u8; 256];
        i64::from(core::hint::black_box(v)[255])
    });
    let rt = check_ok!(rt, "spawn");
    let start = now();
    // Holds the lock until the real-time thread has woken up and asked for
    // the heap (it preempts us right there), or 2 s.
    let asked = libkos::vm::with_heap_locked(|| {
        while !WANTS_HEAP.load(SeqCst) && now() - start < ms(2000) {
            core::hint::spin_loop();
        }
        WANTS_HEAP.load(SeqCst)
    });
    let held = now() - start;
    check!(asked, "the real-time thread never asked for the heap");
    // It asked after ~20 ms; backing off lets us go within a tick or two.
    // (A plain spin lock starves us for as long as the spinning lasts.)
    check!(
        held < ms(1000),
        "the lock holder was starved: it got the CPU back after {} ms",
        held / ms(1)
    );
    check_eq!(
        check_ok!(rt.join(JOIN_TIMEOUT), "join"),
        7,
        "its allocation"
    );
    Ok(())
}

// ------------------------------------------------- a woken server's turn

/// When each of the two FIFO 10 threads ran: 1 + its place in line.
static TURN: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
static NEXT_TURN: AtomicU32 = AtomicU32::new(1);

/// A call hands its server to the scheduler directly only when the run
/// queue would have given it the CPU anyway: here a FIFO 10 server waits
/// in Recv, a FIFO 10 client calls it while another FIFO 10 thread is
/// ready, and that thread, first in line, runs before the woken server
/// (which joins the back of its level, as any woken thread).
fn woken_server_waits_its_turn() -> TestResult {
    for t in &TURN {
        t.store(0, SeqCst);
    }
    NEXT_TURN.store(1, SeqCst);
    let ends = check_ok!(libkos::channel::create(), "a channel");
    let (server_end, client_end) = (ends.server, ends.client);
    let coord = thread::spawn(fifo(20), 0, move || {
        // Spawned in this order, all at FIFO 10: the server runs first
        // (and waits in Recv), then the client (which calls), then the
        // other thread, queued since its start.
        let server = thread::spawn(fifo(10), 0, move || {
            let mut buf = [0u64; 8];
            let r = syscall::recv_bytes(server_end, buf.as_mut_bytes(), syscall::FOREVER);
            if r.rc != Rc::Ok {
                return 1;
            }
            TURN[1].store(NEXT_TURN.fetch_add(1, SeqCst), SeqCst);
            let reply = libkos::abi::msg::Header::default();
            i64::from(syscall::reply_bytes(r.token, reply.as_bytes()) != Rc::Ok)
        });
        let client = thread::spawn(fifo(10), 0, move || {
            let req = libkos::abi::msg::Header::default();
            let mut reply = [0u64; 8];
            let (rc, _) = syscall::call_bytes(client_end, req.as_bytes(), reply.as_mut_bytes());
            i64::from(rc != Rc::Ok)
        });
        let other = thread::spawn(fifo(10), 0, || {
            TURN[0].store(NEXT_TURN.fetch_add(1, SeqCst), SeqCst);
            0
        });
        let mut worst = 0;
        for t in [server, client, other] {
            worst = worst.max(match t {
                Ok(t) => t.join(JOIN_TIMEOUT).unwrap_or(-1),
                Err(_) => -1,
            });
        }
        worst
    });
    let coord = check_ok!(coord, "spawn the coordinator");
    let code = check_ok!(coord.join(JOIN_TIMEOUT), "join the coordinator");
    let _ = libkos::handle::close(server_end);
    let _ = libkos::handle::close(client_end);
    check_eq!(code, 0, "the threads' worst exit code");
    let (other, server) = (TURN[0].load(SeqCst), TURN[1].load(SeqCst));
    check!(
        other == 1 && server == 2,
        "the thread first in line ran at turn {other}, the woken server at turn {server}"
    );
    Ok(())
}
