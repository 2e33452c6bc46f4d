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
        Some("spin") => loop {
            core::hint::spin_loop();
        },
        Some("unmap") => unmap_under_a_reader(),
        _ => {
            // These are the single core's policies (who runs while who
            // waits): every thread of this process, now and later, runs on
            // core 0.
            if let Err(rc) = libkos::task::set_affinity(libkos::Handle::SELF_TASK, 1) {
                libkos::println!("utest-sched: no core 0 to run on: {rc}");
                return 1;
            }
            utest::in_normal_thread(tests)
        }
    }
}

fn tests() -> i32 {
    let single = libkos::test::run(
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
    );
    // The SMP tests place threads on every core: the process may use them
    // all (a thread's set is always within its process's).
    if let Err(rc) = libkos::task::set_affinity(libkos::Handle::SELF_TASK, u64::MAX) {
        libkos::println!("utest-sched: cannot run on every core: {rc}");
        return single + 1;
    }
    single
        + libkos::test::run(
            "utest_smp",
            libkos::tests![
                affinity_errors,
                every_core_runs_a_thread,
                cores_run_at_once,
                ping_pong_across_cores,
                simd_registers_survive_migration,
                process_ended_while_running_elsewhere,
                unmap_seen_by_every_core,
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

// ------------------------------------------------------------ the cores
//
// This process's threads run on core 0 (`main`); these tests move single
// threads to the other cores with `Thread.SetAffinity`.

/// The tests' threads' policy: the main thread's (time-sharing), so that
/// on one core they take turns with it.
fn shared() -> SchedPolicy {
    thread::normal(libkos::abi::sched::DEFAULT_PRIORITY)
}

/// Above every other test's threads (time-sharing at the default
/// priority), so that the round trips do not wait for their turns.
fn above() -> SchedPolicy {
    thread::normal(libkos::abi::sched::DEFAULT_PRIORITY + 4)
}

/// Spinning threads wait for this (and the tests' threads read it).
static RELEASE: AtomicBool = AtomicBool::new(false);

/// A thread that spins until [`RELEASE`].
fn spinner() -> Result<thread::JoinHandle, Rc> {
    thread::spawn(shared(), 0, || {
        while !RELEASE.load(SeqCst) {
            core::hint::spin_loop();
        }
        0
    })
}

/// The cores that run threads, as `Thread.SetAffinity` accepts them (one
/// at a time, on a spinning thread).
fn cores() -> Result<alloc::vec::Vec<u32>, alloc::string::String> {
    RELEASE.store(false, SeqCst);
    let t = check_ok!(spinner(), "spawn a spinner");
    let mut cores = alloc::vec::Vec::new();
    for c in 0..64u32 {
        match t.set_affinity(1 << c) {
            Ok(()) => cores.push(c),
            Err(Rc::InvalidArgument) => {}
            Err(rc) => return Err(format!("SetAffinity core {c}: {rc}")),
        }
    }
    RELEASE.store(true, SeqCst);
    check_ok!(t.join(JOIN_TIMEOUT), "join the spinner");
    check!(cores.contains(&0), "core 0 does not run threads: {cores:?}");
    Ok(cores)
}

/// Wait (at most a second) until `t` runs on `core` (or is ready there,
/// on core 0, which it shares with this thread).
fn runs_on(t: &thread::JoinHandle, core: u32) -> TestResult {
    let until = now() + ms(1000);
    loop {
        let info = check_ok!(t.info(), "Thread.Info");
        let ready = core == 0 && info.state == state::READY;
        if info.core == core && (info.state == state::RUNNING || ready) {
            return Ok(());
        }
        check!(
            now() < until,
            "the thread is on core {} (state {}), not on core {core}",
            info.core,
            info.state
        );
        syscall::yield_now();
    }
}

/// An empty set, a set of cores that do not run threads, and a handle
/// without the right are refused, and change nothing; a thread of a
/// process kept to core 0 cannot leave it.
fn affinity_errors() -> TestResult {
    let all = cores()?.iter().fold(0u64, |m, &c| m | 1 << c);
    RELEASE.store(false, SeqCst);
    let t = check_ok!(spinner(), "spawn a spinner");
    let before = check_ok!(t.info(), "Thread.Info").affinity;
    check_eq!(
        before,
        all,
        "a new thread's affinity is its process's (every core that runs threads)"
    );
    // Kept to core 0 by Task.SetAffinity (here by itself), the process's
    // threads may narrow their sets within it, never widen them.
    check_ok!(
        libkos::task::set_affinity(libkos::Handle::SELF_TASK, 1),
        "keep the process to core 0"
    );
    let outside = t.set_affinity(all & !1);
    let wider = t.set_affinity(all);
    let kept = t.info().map(|i| i.affinity);
    check_ok!(
        libkos::task::set_affinity(libkos::Handle::SELF_TASK, u64::MAX),
        "every core again"
    );
    check_eq!(
        outside,
        Err(Rc::InvalidArgument),
        "SetAffinity to cores outside its process's"
    );
    check_eq!(wider, Ok(()), "SetAffinity to a set around its process's");
    check_eq!(kept, Ok(1), "what it got of that set: its process's core");
    check_ok!(t.set_affinity(all), "SetAffinity to every core");
    check_eq!(t.set_affinity(0), Err(Rc::InvalidArgument), "no core");
    check_eq!(t.set_affinity(1 << 63), Err(Rc::InvalidArgument), "core 63");
    let weak = check_ok!(
        libkos::handle::copy(t.handle(), libkos::Rights::INFO),
        "a copy with only the INFO right"
    );
    check_eq!(
        thread::set_affinity(weak, 1),
        Err(Rc::NoCapability),
        "SetAffinity without the PLACE right"
    );
    let _ = libkos::handle::close(weak);
    check_eq!(
        check_ok!(t.info(), "Thread.Info").affinity,
        before,
        "affinity after the refusals"
    );
    check_eq!(
        libkos::task::set_affinity(libkos::Handle::SELF_TASK, 0),
        Err(Rc::InvalidArgument),
        "Task.SetAffinity to no core"
    );
    RELEASE.store(true, SeqCst);
    check_ok!(t.join(JOIN_TIMEOUT), "join");
    Ok(())
}

/// A thread moved to each core runs there, as `Thread.Info` says.
fn every_core_runs_a_thread() -> TestResult {
    let cores = cores()?;
    libkos::println!("utest-smp: {} cores run threads: {cores:?}", cores.len());
    RELEASE.store(false, SeqCst);
    let t = check_ok!(spinner(), "spawn a spinner");
    for &c in cores.iter().rev().chain([0].iter()) {
        check_ok!(t.set_affinity(1 << c), "SetAffinity core {c}");
        runs_on(&t, c)?;
        check_eq!(
            check_ok!(t.info(), "Thread.Info").affinity,
            1 << c,
            "affinity"
        );
    }
    RELEASE.store(true, SeqCst);
    check_ok!(t.join(JOIN_TIMEOUT), "join");
    Ok(())
}

static SPAN: [[AtomicU64; 2]; 8] = [const { [AtomicU64::new(0), AtomicU64::new(0)] }; 8];

/// One thread on each core, each spinning 50 ms: their spins overlap (the
/// cores run at once, not in turn).
fn cores_run_at_once() -> TestResult {
    let cores = cores()?;
    if cores.len() < 2 {
        libkos::println!("utest-smp: one core: nothing runs at once");
        return Ok(());
    }
    RELEASE.store(false, SeqCst);
    let mut threads = alloc::vec::Vec::new();
    for (i, &c) in cores.iter().enumerate().take(SPAN.len()) {
        let t = check_ok!(
            thread::spawn(shared(), 0, move || {
                while !RELEASE.load(SeqCst) {
                    core::hint::spin_loop();
                }
                SPAN[i][0].store(now(), SeqCst);
                let until = now() + ms(50);
                while now() < until {
                    core::hint::spin_loop();
                }
                SPAN[i][1].store(now(), SeqCst);
                0
            }),
            "spawn"
        );
        check_ok!(t.set_affinity(1 << c), "SetAffinity core {c}");
        threads.push(t);
    }
    for (t, &c) in threads.iter().zip(&cores) {
        runs_on(t, c)?;
    }
    RELEASE.store(true, SeqCst);
    for t in &threads {
        check_eq!(check_ok!(t.join(JOIN_TIMEOUT), "join"), 0, "exit code");
    }
    let n = threads.len();
    let last_start = SPAN[..n]
        .iter()
        .map(|s| s[0].load(SeqCst))
        .max()
        .unwrap_or(0);
    let first_end = SPAN[..n]
        .iter()
        .map(|s| s[1].load(SeqCst))
        .min()
        .unwrap_or(0);
    check!(
        last_start < first_end,
        "the {n} spins did not overlap: the last began {} us after the first ended",
        (last_start - first_end) / 1000
    );
    Ok(())
}

/// Round trips across cores, at least.
const PING_PONGS: u64 = 1_000;

/// Set once the sleeper of [`ping_pong_across_cores`] woke.
static WOKE: AtomicBool = AtomicBool::new(false);

/// A client on one core and a server on another: every call is answered
/// with its own number plus one (no wake-up lost, none mixed up). Their
/// round trips go on until a sleeper on the time-keeping core 0 wakes: a
/// core switching from idle to a thread thousands of times a second does
/// not stop the clock.
fn ping_pong_across_cores() -> TestResult {
    let cores = cores()?;
    let (a, b) = (cores[0], *cores.last().unwrap_or(&0));
    RELEASE.store(false, SeqCst);
    // On one core the pair, above the sleeper, never lets it run: there
    // is no idle core to switch, and no sleeper to wait for.
    WOKE.store(cores.len() == 1, SeqCst);
    let ends = check_ok!(libkos::channel::create(), "a channel");
    let (server_end, client_end) = (ends.server, ends.client);
    let server = check_ok!(
        thread::spawn(above(), 0, move || {
            let mut buf = [0u64; 4];
            let mut r = syscall::recv_bytes(server_end, buf.as_mut_bytes(), syscall::FOREVER);
            loop {
                if r.rc != Rc::Ok {
                    return 1;
                }
                buf[2] += 1;
                // The client's last call says so.
                if buf[3] != 0 {
                    return match syscall::reply_bytes(r.token, buf.as_bytes()) {
                        Rc::Ok => 0,
                        _ => 2,
                    };
                }
                // Its reply and its next wait in one call: it waits, and
                // its core idles, on every round trip.
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
        }),
        "spawn the server"
    );
    check_ok!(server.set_affinity(1 << a), "server on core {a}");
    let client = check_ok!(
        thread::spawn(above(), 0, move || {
            // A header announcing 16 bytes of fixed part, then the number
            // and whether it is the last.
            let mut req = [0u64; 4];
            let mut reply = [0u64; 4];
            let header = libkos::abi::msg::Header {
                fixed_len: 16,
                ..Default::default()
            };
            req[..2].as_mut_bytes().copy_from_slice(header.as_bytes());
            // Not before it is on its core (asleep meanwhile: it is above
            // the thread that moves it, on the same core).
            while !RELEASE.load(SeqCst) {
                syscall::sleep_ns(ms(1));
            }
            let mut i = 0;
            loop {
                let last = i + 1 >= PING_PONGS && WOKE.load(SeqCst);
                req[2] = i;
                req[3] = last as u64;
                let (rc, _) = syscall::call_bytes(client_end, req.as_bytes(), reply.as_mut_bytes());
                if rc != Rc::Ok {
                    return 10;
                }
                if reply[2] != i + 1 {
                    return 11;
                }
                if last {
                    return 0;
                }
                i += 1;
                if i > 100 * PING_PONGS && !WOKE.load(SeqCst) {
                    // Seconds of round trips: the sleeper's 20 ms never
                    // ended. (The server is told to end all the same.)
                    req[3] = 1;
                    let _ = syscall::call_bytes(client_end, req.as_bytes(), reply.as_mut_bytes());
                    return 12;
                }
            }
        }),
        "spawn the client"
    );
    check_ok!(client.set_affinity(1 << b), "client on core {b}");
    let t0 = now();
    RELEASE.store(true, SeqCst);
    // This thread runs on core 0, which keeps the time.
    syscall::sleep_ns(ms(20));
    WOKE.store(true, SeqCst);
    check_eq!(
        check_ok!(client.join(JOIN_TIMEOUT), "join the client"),
        0,
        "client's result (12: a 20 ms sleep outlasted 100,000 round trips)"
    );
    libkos::println!(
        "utest-smp: {PING_PONGS}+ round trips between cores {a} and {b} in {} us",
        (now() - t0) / 1000
    );
    check_eq!(
        check_ok!(server.join(JOIN_TIMEOUT), "join the server"),
        0,
        "server's result"
    );
    let _ = libkos::handle::close(server_end);
    let _ = libkos::handle::close(client_end);
    Ok(())
}

/// A thread holding a pattern in v0..v31 and TPIDR_EL0 is moved across
/// every core while it waits: it finds them intact.
fn simd_registers_survive_migration() -> TestResult {
    let cores = cores()?;
    RELEASE.store(false, SeqCst);
    SIMD_OK[0].store(false, SeqCst);
    let t = check_ok!(
        thread::spawn(shared(), 0, || {
            let pattern = simd_pattern(0);
            let mut out = [0u8; 512];
            let tp_back: u64;
            // SAFETY: as `simd_worker`: reads `pattern`, writes `out`, reads
            // RELEASE's byte; every vector register is declared clobbered.
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
                    "ldarb {t:w}, [{rel}]",
                    "cbz {t:w}, 2b",
                    "st1 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{o}], #64",
                    "st1 {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{o}], #64",
                    "st1 {{v8.16b, v9.16b, v10.16b, v11.16b}}, [{o}], #64",
                    "st1 {{v12.16b, v13.16b, v14.16b, v15.16b}}, [{o}], #64",
                    "st1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{o}], #64",
                    "st1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [{o}], #64",
                    "st1 {{v24.16b, v25.16b, v26.16b, v27.16b}}, [{o}], #64",
                    "st1 {{v28.16b, v29.16b, v30.16b, v31.16b}}, [{o}], #64",
                    "mrs {tpo}, tpidr_el0",
                    tp = in(reg) tp_value(0),
                    tpo = out(reg) tp_back,
                    p = inout(reg) pattern.as_ptr() => _,
                    o = inout(reg) out.as_mut_ptr() => _,
                    rel = in(reg) RELEASE.as_ptr(),
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
            SIMD_OK[0].store(out == pattern, SeqCst);
            TP_BACK[0].store(tp_back, SeqCst);
            0
        }),
        "spawn"
    );
    // Each core in turn, twice over (so it comes back to cores whose
    // registers another thread's values may hold by then).
    for &c in cores.iter().chain(cores.iter()).rev() {
        check_ok!(t.set_affinity(1 << c), "SetAffinity core {c}");
        runs_on(&t, c)?;
        // Meanwhile core 0's other threads use FP/SIMD too.
        let x = core::hint::black_box(1.5f64) * core::hint::black_box(c as f64 + 2.0);
        check!(x > 0.0, "arithmetic");
    }
    RELEASE.store(true, SeqCst);
    check_ok!(t.join(JOIN_TIMEOUT), "join");
    check!(
        SIMD_OK[0].load(SeqCst),
        "v0..v31 changed while the thread moved"
    );
    check_eq!(
        TP_BACK[0].load(SeqCst),
        tp_value(0),
        "TPIDR_EL0 after the moves"
    );
    Ok(())
}

/// A process whose thread spins on another core is ended: it stops there,
/// and its memory and threads are given back.
fn process_ended_while_running_elsewhere() -> TestResult {
    let cores = cores()?;
    let far = *cores.last().unwrap_or(&0);
    let before = check_ok!(libkos::sys::mem_stats(), "MemStats");
    for round in 0..3 {
        let t = check_ok!(
            Task::create_as("spin", "", SELF, 1, CreateFlags::FROM_ROMFS),
            "create the spinning child"
        );
        check_ok!(
            libkos::task::set_affinity(t.handle(), 1 << far),
            "the child on core {far}"
        );
        check_ok!(t.set_env(b"role=spin"), "the child's role");
        check_ok!(t.resume(), "resume");
        time::spin_ns(ms(20));
        check_ok!(t.terminate(), "terminate (round {round})");
        let exit = check_ok!(t.wait(JOIN_TIMEOUT), "wait");
        check_eq!(
            exit.status,
            libkos::abi::task::ExitStatus::Terminated as u32,
            "status"
        );
    }
    // Given back in steps: a little time for the last of it.
    let until = now() + ms(1000);
    loop {
        let after = check_ok!(libkos::sys::mem_stats(), "MemStats");
        if after.free_frames == before.free_frames
            && after.processes == before.processes
            && after.threads == before.threads
        {
            return Ok(());
        }
        check!(
            now() < until,
            "frames, processes, threads before {}/{}/{}, after {}/{}/{}",
            before.free_frames,
            before.processes,
            before.threads,
            after.free_frames,
            after.processes,
            after.threads
        );
        syscall::sleep_ns(ms(10));
    }
}

/// The child that [`unmap_seen_by_every_core`] starts: a thread on another
/// core reads a page in a loop; once it has read it many times, the page
/// is freed. Its next read must fault (which ends this process): had that
/// core kept the page's TLB entry, it would read on, and this process
/// would end normally a second later.
fn unmap_under_a_reader() -> i32 {
    static READS: AtomicU64 = AtomicU64::new(0);
    static PAGE: AtomicU64 = AtomicU64::new(0);
    let Ok(cores) = cores() else { return 3 };
    let (near, far) = (cores[0], *cores.last().unwrap_or(&0));
    let Ok(page) = libkos::vm::allocate(4096) else {
        return 4;
    };
    PAGE.store(page.addr, SeqCst);
    let reader = thread::spawn(shared(), 0, || {
        let at = PAGE.load(SeqCst) as *const u64;
        loop {
            // SAFETY: the page is this process's until it is freed below;
            // a read after that must fault, which is what is tested.
            let v = unsafe { core::ptr::read_volatile(at) };
            READS.fetch_add(1 + v, SeqCst);
        }
    });
    let Ok(reader) = reader else { return 5 };
    if reader.set_affinity(1 << far).is_err() {
        return 6;
    }
    // The page is freed from another core than the reader's (if there is
    // one), once the reader has read it many times.
    let freer = thread::spawn(shared(), 0, move || {
        let until = now() + ms(2000);
        while READS.load(SeqCst) < 10_000 {
            if now() > until {
                return 7;
            }
            syscall::yield_now();
        }
        // SAFETY: only the reader uses the page, and its use after this
        // is the point of the test.
        if unsafe { libkos::vm::free(page) }.is_err() {
            return 8;
        }
        // The reader has faulted by now (ending this process) unless its
        // core still maps the page.
        syscall::sleep_ns(ms(1000));
        0
    });
    let Ok(freer) = freer else { return 9 };
    if freer.set_affinity(1 << near).is_err() {
        return 10;
    }
    freer.join(JOIN_TIMEOUT).map_or(11, |code| code as i32)
}

/// After an unmap returns, a thread of the process on another core faults
/// on its next access to the page (the TLB entry is gone on every core).
fn unmap_seen_by_every_core() -> TestResult {
    let t = check_ok!(
        Task::create_as(
            "unmap",
            "",
            SELF,
            libkos::abi::sched::DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS
        ),
        "create the child"
    );
    check_ok!(t.set_env(b"role=unmap"), "the child's role");
    check_ok!(t.resume(), "resume");
    let exit = check_ok!(t.wait(JOIN_TIMEOUT), "wait");
    check_eq!(
        exit.status,
        libkos::abi::task::ExitStatus::Exception as u32,
        "how the child ended (code {}): the reader did not fault",
        exit.code
    );
    check_eq!(
        exit.fault,
        libkos::abi::task::FaultKind::Unmapped as u32,
        "the reader's fault (at {:#x})",
        exit.far
    );
    Ok(())
}
