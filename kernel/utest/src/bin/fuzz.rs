//! Invariant 1 under random input: children issue thousands of random
//! syscalls — random numbers, registers, pointers (valid, read-only,
//! unmapped, kernel), handles, and well-formed messages (with handle
//! descriptors) to random kernel endpoints and methods with random
//! arguments; RECV, REPLY, REPLY_RECV, and THREAD_EXIT from threads it
//! starts — and the kernel must survive all of it.
//!
//! Calls go mostly through a handle of the kind each method is declared
//! on (its own Task, the kernel, a notice, an MDL, a thread of its own),
//! so that every kernel endpoint is reached past the gate; each child
//! checks that every one served it (`SysInfo.Served`). What goes to the
//! console is NULs, which do not garble what the host reads.
//!
//! Calls also go to a channel served by an echo process of its own (a
//! `ReplyRecv` loop it cannot reach, answering each request with its
//! header and fixed part), mostly small messages without timeout: the IPC
//! fast path's case, with random contents; the parent checks the fast
//! path served calls and replies.
//!
//! Each child must complete its quota of calls: it steers clear only of
//! what would end it by its own hand (Exit and Terminate of a Task, Vm.Free
//! and Vm.Protect of its own memory, threads at random entries) and exits
//! with the number of calls it made, which the parent checks. Afterwards
//! processes, threads, handles, objects, frames and kernel heap are back
//! where they were (after a first child has grown the kernel's tables),
//! and the system still runs programs.
//!
//! The suite runs [`CHILDREN`] × [`ROUNDS`] calls. `cargo xtask fuzz
//! --calls N --seed S` writes `/etc/fuzz` (`calls N`, `seed S`) into an
//! image that runs only this program, for long campaigns.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use libkos::abi::decl::{MethodDecl, Target};
use libkos::abi::interfaces::INTERFACES;
use libkos::abi::msg::sysinfo::{FAST_PATH_KEEP, MemStats};
use libkos::abi::msg::{
    DESC_COPY, DESC_MOVE, DESC_SIZE, HEADER_SIZE, HandleDesc, Header, NO_BADGE,
};
use libkos::abi::syscall as nr;
use libkos::abi::task::ExitStatus;
use libkos::abi::{Handle, Rc, Rights};
use libkos::syscall;
use libkos::test::TestResult;
use libkos::zerocopy::{FromBytes, IntoBytes};
use libkos::{check, check_eq, mdl, notice, println, romfs, task, thread};
use utest::{CHILD_TIMEOUT_NS, expect_exit, role, run_role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));
/// Syscalls per child.
const ROUNDS: u32 = 8500;
/// Children (each with its own seed): 51,000 calls in all.
const CHILDREN: u32 = 6;
/// The seed the children's seeds come from.
const SEED: u64 = 0x9E37_79B9;
/// A campaign's size and seed, if not the suite's.
const CAMPAIGN: &str = "/etc/fuzz";
/// The console: what the fuzzer writes there is NULs (which the host's
/// reader drops), so that it does not garble the test protocol.
const CONSOLE: u16 = 4;
/// The static channel from each child to its echo process.
const ECHO: &str = "fuzz-echo";
/// Below this many calls a child does not insist on reaching every
/// endpoint.
const REACH_AFTER: u32 = 4000;
/// Pages of the region a child may free and protect at will.
const SACRIFICE_PAGES: u64 = 16;

fn main() -> i32 {
    match role() {
        Some("ok") => return 0,
        Some("echo") => return echo(),
        Some(r) if r.starts_with("seed=") => {
            // `seed=S,calls=N`
            let mut parts = r[5..].split(",calls=");
            let seed = parts.next().and_then(|s| s.parse().ok()).unwrap_or(1);
            let calls = parts.next().and_then(|s| s.parse().ok()).unwrap_or(ROUNDS);
            return child(seed, calls);
        }
        _ => {}
    }
    libkos::test::run("utest_fuzz", libkos::tests![random_syscalls_survived])
}

/// xorshift64*: deterministic, so a failure can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Scratch memory the kernel may write into: nothing else refers to it.
static mut SCRATCH: [u8; 16384] = [0; 16384];
/// Read-only bytes (the kernel must refuse to write there).
static RODATA: [u8; 64] = [0x5A; 64];

/// A pointer of one of the interesting kinds, with a length.
fn pointer(r: &mut Rng) -> (u64, u64) {
    let scratch = (&raw mut SCRATCH) as u64;
    let len = match r.below(4) {
        0 => r.below(32),
        1 => r.below(512),
        2 => r.below(20000),
        _ => r.next(),
    };
    let addr = match r.below(8) {
        0..=2 => scratch + r.below(16384),
        3 => RODATA.as_ptr() as u64,
        4 => 0,
        5 => 0xFFFF_0000_4000_0000 + r.below(1 << 20),
        6 => r.next(),
        _ => 0x7F_0000_0000 - r.below(1 << 16),
    };
    (addr, len)
}

/// Handles of each kind a method may be declared on, made at the start.
struct Pool {
    notice: u64,
    mdl: u64,
    thread: u64,
    /// The client end of the channel to this child's echo process.
    channel: u64,
}

impl Pool {
    fn new() -> Pool {
        let h = |r: Result<Handle, Rc>| r.map_or(u64::MAX, |h| h.0 as u64);
        Pool {
            channel: h(libkos::locator::connect(ECHO)),
            notice: h(notice::create()),
            mdl: h(mdl::create(4096)),
            // A thread that ends at once: its handle stays.
            thread: h(thread::spawn(Default::default(), 0, || 0).map(|t| {
                let h = t.handle();
                // Kept open for the whole run (the process's end closes it).
                core::mem::forget(t);
                h
            })),
        }
    }

    /// Mostly a handle of the kind `decl` (the method called, if it is
    /// declared) is declared on.
    fn handle_for(&self, r: &mut Rng, decl: Option<&MethodDecl>) -> u64 {
        match (decl.map(|m| m.target), r.below(4)) {
            (Some(Target::Task | Target::OwnTask), 0..=2) => Handle::SELF_TASK.0 as u64,
            (Some(Target::Kernel), 0..=2) => Handle::KERNEL.0 as u64,
            (Some(Target::Notice), 0..=2) => self.notice,
            (Some(Target::Mdl), 0..=2) => self.mdl,
            (Some(Target::Thread), 0..=2) => self.thread,
            _ => handle(r),
        }
    }
}

fn handle(r: &mut Rng) -> u64 {
    match r.below(5) {
        0 => Handle::SELF_TASK.0 as u64,
        1 => Handle::KERNEL.0 as u64,
        2 => Handle::new(r.below(8) as u16, 1 + r.below(3) as u16).0 as u64,
        3 => r.next() & 0xFFFF_FFFF,
        _ => r.next(),
    }
}

/// Short timeouts only: the child must not block for good. (With 0 a call
/// is made only if a server waits, and then waits for its reply: the
/// servers here always answer.)
fn timeout(r: &mut Rng) -> u64 {
    // Mostly none: a timed wait lasts until a tick (10 ms), and tens of
    // thousands of them would take minutes.
    if r.below(16) == 0 {
        r.below(1_000_000)
    } else {
        0
    }
}

/// The entry of the threads a child starts through Thread.Create: they
/// end at once through THREAD_EXIT.
extern "C" fn helper(_arg: u64) -> ! {
    syscall::thread_exit(0)
}

/// A handle that names no server end this child could hold (REPLY_RECV
/// has no timeout).
fn never_a_server(r: &mut Rng) -> u64 {
    match r.below(3) {
        0 => Handle::SELF_TASK.0 as u64,
        1 => Handle::KERNEL.0 as u64,
        _ => r.next() | (0xFFFF << 16),
    }
}

fn child(seed: u64, calls: u32) -> i32 {
    let mut r = Rng(seed | 1);
    // A region it may free and protect without harm to itself.
    let sacrifice = libkos::vm::allocate(SACRIFICE_PAGES * 4096).map_or(0, |v| v.addr);
    let pool = Pool::new();
    // What the kernel served before: nothing else runs meanwhile, so what
    // it served after is this child's doing.
    let served_before = libkos::sys::served().map(|s| s.calls).unwrap_or_default();
    let mut done: u32 = 0;
    for _ in 0..calls {
        let mut a = [0u64; 6];
        let pick = r.below(14);
        // A call to the echo process, beside the kernel calls.
        let to_echo = pick == 13;
        let number = match pick {
            0 => nr::NOP,
            1 => nr::YIELD,
            2 => nr::SLEEP,
            3..=8 | 13 => nr::CALL,
            9 => nr::RECV,
            10 => nr::REPLY,
            11 => nr::REPLY_RECV,
            _ => r.next() | 0x100,
        };
        match number {
            nr::SLEEP => a[0] = timeout(&mut r) / 10,
            nr::CALL => {
                a[0] = handle(&mut r);
                let scratch = (&raw mut SCRATCH) as u64;
                if to_echo || r.below(4) != 0 {
                    // A well-formed header to a random endpoint and method,
                    // random fixed part and arena.
                    let arena = r.below(600) as u32;
                    let handles = r.below(3) as u16;
                    // 0 and 13: no such endpoint.
                    let endpoint = r.below(14) as u16;
                    let iface = INTERFACES.iter().find(|i| i.id == endpoint);
                    let methods = iface.map_or(4, |i| i.methods.len() as u64);
                    // Mostly a declared method; now and then one past them.
                    let mut method = r.below(methods + 1) as u16;
                    // Exit and Terminate of a Task: the handle may be its own.
                    if endpoint == 1 && (method == 10 || method == 11) {
                        method = 25;
                    }
                    let decl = iface.and_then(|i| i.methods.get(usize::from(method)));
                    a[0] = pool.handle_for(&mut r, decl);
                    // To the echo process mostly as the fast path takes
                    // them: no handles, no arena, no timeout.
                    let (handles, arena) = if to_echo && r.below(4) != 0 {
                        (0, 0)
                    } else {
                        (handles, arena)
                    };
                    if to_echo {
                        a[0] = pool.channel;
                    }
                    // Mostly the declared size of the request, so that the
                    // method's own checks are reached; else any.
                    let fixed = match decl {
                        Some(m) if r.below(4) != 0 => m.request.size as u16,
                        _ => (r.below(33) * 8) as u16,
                    };
                    let h = Header {
                        endpoint,
                        method,
                        fixed_len: fixed,
                        handles,
                        arena_len: arena,
                        status: 0,
                    };
                    let descs = HEADER_SIZE + fixed as usize;
                    let total = descs + handles as usize * DESC_SIZE + arena as usize;
                    // SAFETY: SCRATCH is this child's own buffer, used by
                    // nothing else; the bytes written stay inside it.
                    unsafe {
                        let buf =
                            core::slice::from_raw_parts_mut((&raw mut SCRATCH).cast::<u8>(), 16384);
                        buf[..HEADER_SIZE].copy_from_slice(h.as_bytes());
                        for b in &mut buf[HEADER_SIZE..total] {
                            *b = r.next() as u8;
                        }
                        if endpoint == CONSOLE {
                            buf[HEADER_SIZE..total].fill(0);
                        }
                        // Waits with a random timeout could block for good
                        // (Notice.WAIT, Task.WAIT, Thread.JOIN): make it small.
                        let waits = matches!((h.endpoint, h.method), (9, 2) | (1, 26) | (2, 1));
                        if waits && fixed >= 8 {
                            buf[HEADER_SIZE..HEADER_SIZE + 8]
                                .copy_from_slice(&timeout(&mut r).to_le_bytes());
                        }
                        // Threads start at `helper`, which ends them.
                        if (h.endpoint, h.method) == (2, 0) && fixed >= 8 {
                            let entry = helper as *const () as u64;
                            buf[HEADER_SIZE..HEADER_SIZE + 8].copy_from_slice(&entry.to_le_bytes());
                        }
                        // Vm.Free and Vm.Protect: the sacrifice, the kernel
                        // half or nothing; never its own code or data.
                        if h.endpoint == 3 && (h.method == 1 || h.method == 2) && fixed >= 8 {
                            let addr = match r.below(3) {
                                0 => sacrifice + r.below(SACRIFICE_PAGES) * 4096,
                                1 => 0xFFFF_0000_4000_0000,
                                _ => 0,
                            };
                            buf[HEADER_SIZE..HEADER_SIZE + 8].copy_from_slice(&addr.to_le_bytes());
                        }
                        for i in 0..handles as usize {
                            let h = handle(&mut r) as u32;
                            let mode = r.below(3) as u32;
                            // Its own Task and kernel handles are never
                            // moved away (to the echo): it needs them.
                            let own = h == Handle::KERNEL.0 || h == Handle::SELF_TASK.0;
                            let d = HandleDesc {
                                handle: h,
                                rights: r.next() as u32,
                                mode: if own && mode == DESC_MOVE {
                                    DESC_COPY
                                } else {
                                    mode
                                },
                                badge: if r.below(2) == 0 {
                                    NO_BADGE
                                } else {
                                    handle(&mut r) as u32
                                },
                                badge_value: 0,
                            };
                            let at = descs + i * DESC_SIZE;
                            buf[at..at + DESC_SIZE].copy_from_slice(d.as_bytes());
                        }
                    }
                    a[1] = scratch;
                    a[2] = total as u64;
                    a[3] = scratch + 8192;
                    a[4] = r.below(4096);
                } else {
                    let (p, l) = pointer(&mut r);
                    let (q, m) = pointer(&mut r);
                    (a[1], a[2], a[3], a[4]) = (p, l, q, m);
                }
                a[5] = timeout(&mut r);
                if a[0] == pool.channel && r.below(8) != 0 {
                    // The echo process always answers.
                    a[5] = syscall::FOREVER;
                }
            }
            nr::RECV => {
                a[0] = handle(&mut r);
                let (p, l) = pointer(&mut r);
                (a[1], a[2], a[3]) = (p, l, timeout(&mut r));
            }
            nr::REPLY => {
                let (p, l) = pointer(&mut r);
                (a[0], a[1], a[2]) = (r.next(), p, l);
            }
            nr::REPLY_RECV => {
                let (p, l) = pointer(&mut r);
                let (q, m) = pointer(&mut r);
                a = [r.next(), p, l, never_a_server(&mut r), q, m];
            }
            _ => {
                for x in &mut a {
                    *x = r.next();
                }
            }
        }
        // SAFETY: every pointer passed is either into SCRATCH (which only
        // the kernel writes meanwhile), read-only, or not user memory at
        // all; the kernel must check each and touch nothing else.
        let _ = unsafe { syscall::raw(number, a) };
        done += 1;
    }
    // Every kernel endpoint served it past the gate (told without
    // allocating: its heap may be spent by now).
    let Ok(served_after) = libkos::sys::served().map(|s| s.calls) else {
        return -2;
    };
    let served = |id: u16| {
        let i = usize::from(id);
        served_after
            .get(i)
            .zip(served_before.get(i))
            .is_some_and(|(a, b)| a != b)
    };
    let mut missed = false;
    for i in INTERFACES.iter().filter(|i| !served(i.id)) {
        if done >= REACH_AFTER {
            println!("utest-fuzz child {seed:#x}: never reached {}", i.name);
            missed = true;
        }
    }
    if missed {
        return -1;
    }
    done as i32
}

/// The echo process: answers each request with its header (status and
/// sizes made from its fixed part) and fixed part, in one `ReplyRecv`
/// trap per request; handles it receives it closes (so the child's check
/// of the endpoints it reached counts these Handle.Close calls too). It
/// serves until its parent ends it.
fn echo() -> i32 {
    let Ok(h) = libkos::locator::register(ECHO) else {
        return 1;
    };
    let mut req = [0u64; 2048];
    let mut reply = [0u64; (HEADER_SIZE + 256) / 8];
    let mut token = syscall::ReplyToken(0);
    let mut len = 0;
    loop {
        let (r, _) =
            syscall::reply_recv_bytes(token, &reply.as_bytes()[..len], h, req.as_mut_bytes());
        if r.rc != Rc::Ok {
            println!("utest-fuzz echo: receive failed: {}", r.rc);
            return 1;
        }
        token = r.token;
        let bytes = req.as_bytes();
        let Ok(header) = Header::read_from_bytes(&bytes[..HEADER_SIZE]) else {
            token = syscall::ReplyToken(0);
            continue;
        };
        let fixed = usize::from(header.fixed_len).min(256);
        for i in 0..usize::from(header.handles).min(8) {
            let at = HEADER_SIZE + fixed + i * DESC_SIZE;
            if let Some(Ok(d)) = bytes
                .get(at..at + DESC_SIZE)
                .map(HandleDesc::read_from_bytes)
            {
                let _ = libkos::handle::close(Handle(d.handle));
            }
        }
        // The first fixed word says how to answer: the status, and now and
        // then a malformed reply first (refused: the client still waits,
        // and the answer below goes to it).
        let word = req[HEADER_SIZE / 8];
        let answer = Header {
            status: if word % 3 == 0 {
                0
            } else {
                (word >> 8) as u32 % 40
            },
            fixed_len: fixed as u16,
            handles: 0,
            arena_len: 0,
            ..header
        };
        if word % 7 == 0 {
            let bad = Header {
                fixed_len: 12,
                ..answer
            };
            let mut msg = [0u8; HEADER_SIZE + 12];
            msg[..HEADER_SIZE].copy_from_slice(bad.as_bytes());
            let _ = syscall::reply_bytes(token, &msg);
        }
        reply.as_mut_bytes()[..HEADER_SIZE].copy_from_slice(answer.as_bytes());
        reply.as_mut_bytes()[HEADER_SIZE..HEADER_SIZE + fixed]
            .copy_from_slice(&bytes[HEADER_SIZE..HEADER_SIZE + fixed]);
        len = HEADER_SIZE + fixed;
    }
}

/// The campaign: the suite's, or the one `/etc/fuzz` gives (`calls N`:
/// in all; `seed S`; `children K`). Per child: (calls, seeds).
fn campaign() -> (u32, alloc::vec::Vec<u64>) {
    let (mut calls, mut seed, mut children) = (u64::from(ROUNDS * CHILDREN), SEED, CHILDREN);
    if let Ok(text) = romfs::read_to_vec(CAMPAIGN) {
        for line in core::str::from_utf8(&text).unwrap_or("").lines() {
            let mut w = line.split_whitespace();
            match (w.next(), w.next().and_then(|v| v.parse::<u64>().ok())) {
                (Some("calls"), Some(n)) => calls = n,
                (Some("seed"), Some(n)) => seed = n,
                (Some("children"), Some(n)) => children = n.clamp(1, 64) as u32,
                _ => {}
            }
        }
    }
    let each = calls.div_ceil(u64::from(children)).min(i32::MAX as u64) as u32;
    let seeds = (1..=u64::from(children))
        .map(|i| seed.wrapping_mul(i))
        .collect();
    (each, seeds)
}

/// Random syscalls from several children: each completes its calls and
/// reaches every endpoint, nothing leaks, the system still runs programs.
fn random_syscalls_survived() -> TestResult {
    let (calls, seeds) = campaign();
    println!(
        "utest-fuzz: {} children, {calls} calls each, seeds {seeds:#x?}",
        seeds.len()
    );
    // The first child grows whatever the kernel keeps grown (tables, heap
    // pages); the others must give back all they take.
    run_child(0x5EED, calls.min(ROUNDS))?;
    let before = settled(None)?;
    let fast = || libkos::sys::fast_path(FAST_PATH_KEEP).map_err(|e| format!("FastPath: {e}"));
    let fast_before = fast()?;
    for seed in seeds {
        run_child(seed, calls)?;
    }
    let fast_after = fast()?;
    check!(
        fast_after.calls > fast_before.calls && fast_after.replies > fast_before.replies,
        "the IPC fast path served no call or no reply of the fuzzers' ({:?} -> {:?})",
        fast_before,
        fast_after
    );
    let after = settled(Some(&before))?;
    check_eq!(after.processes, before.processes, "live processes");
    check_eq!(after.threads, before.threads, "live threads");
    check_eq!(after.handles, before.handles, "live handles");
    check_eq!(after.objects, before.objects, "live objects");
    check_eq!(after.free_frames, before.free_frames, "free frames");
    check_eq!(after.heap_used, before.heap_used, "kernel heap bytes");
    let info = run_role(SELF, "fuzz-after", "ok")?;
    expect_exit(&info, 0)?;
    check_eq!(syscall::nop(), Rc::Ok, "nop");
    Ok(())
}

/// One child with `seed`, holding every right this process has (so that
/// each endpoint can be reached): it must exit by itself having made all
/// its `calls`.
fn run_child(seed: u64, calls: u32) -> TestResult {
    let create = |name| {
        task::Task::create(
            name,
            SELF,
            libkos::abi::sched::DEFAULT_PRIORITY,
            libkos::abi::task::CreateFlags::FROM_ROMFS,
        )
        .map_err(|e| format!("create {name}: {e}"))
    };
    let echo = create("fuzz-echo")?;
    let t = create("fuzz-child")?;
    let started = echo
        .set_env(b"role=echo")
        .and_then(|()| libkos::locator::connect_tasks(t.handle(), echo.handle(), ECHO))
        .and_then(|()| echo.resume());
    let started = started
        .and_then(|()| t.set_initial_rights(Rights::all(), Rights::all()))
        .and_then(|()| t.set_env(format!("role=seed={seed},calls={calls}").as_bytes()))
        .and_then(|()| t.resume());
    if let Err(e) = started {
        let _ = echo.terminate();
        return Err(format!("start the child and its echo: {e}"));
    }
    // A long campaign's child runs for long: its own time, not the suite's.
    let timeout = CHILD_TIMEOUT_NS.max(u64::from(calls) * 200_000);
    let info = t
        .wait(timeout)
        .map_err(|e| format!("wait for the child: {e}"));
    let _ = t.close();
    // The echo serves until it is ended; it must not have ended before.
    let echoed = echo.exit_info();
    let _ = echo.terminate();
    let _ = echo.wait(CHILD_TIMEOUT_NS);
    let _ = echo.close();
    let info = info?;
    let echoed = echoed.map_err(|e| format!("the echo process: {e}"))?;
    check!(
        task::status(&echoed) == Some(ExitStatus::Running),
        "the echo process of seed {seed:#x} ended: {}",
        task::Describe(&echoed)
    );
    check!(
        task::status(&info) == Some(ExitStatus::Normal),
        "child with seed {seed:#x} did not finish its calls: {}",
        task::Describe(&info)
    );
    check_eq!(
        info.code,
        i64::from(calls),
        "calls made by the child with seed {seed:#x} (-1: an endpoint never reached)"
    );
    Ok(())
}

/// MemStats once they stop changing (teardown may lag), at most 2 s; with
/// `want`, as soon as they equal it.
fn settled(want: Option<&MemStats>) -> Result<MemStats, String> {
    let deadline = libkos::time::now_ns() + 2_000_000_000;
    let mut last = libkos::sys::mem_stats().map_err(|e| format!("mem_stats: {e}"))?;
    loop {
        let _ = syscall::sleep_ns(5_000_000);
        let s = libkos::sys::mem_stats().map_err(|e| format!("mem_stats: {e}"))?;
        if want.is_some_and(|w| *w == s) || (want.is_none() && s == last) {
            return Ok(s);
        }
        if libkos::time::now_ns() > deadline {
            return Ok(s);
        }
        last = s;
    }
}
