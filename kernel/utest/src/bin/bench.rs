//! User-space benchmarks, run by einit in the benchmark image (`cargo xtask
//! bench`): instructions per operation from the PMU's INST_RETIRED counter
//! (the `kbench` kernel lets EL0 read it), exact under `qemu -icount
//! shift=0`. One line each: `bench <name>: <N> instructions`.
//!
//! - `null_syscall`: `svc` with the NOP number and back, loop subtracted.
//! - `thread_switch`: a thread yields and the kernel switches to another
//!   thread of the same priority: one YIELD syscall plus one context switch
//!   (two FIFO threads ping-pong; per yield).
//! - `handle_copy`: one `HandleOps.Copy` of a channel client end (the
//!   copies are closed outside the count, 200 at a time).
//! - `notify`: `Notice.Signal` then `Notice.Wait` (timeout 0) taking the
//!   event, same thread.
//! - `ipc_roundtrip_empty`, `ipc_roundtrip_64b`, `ipc_roundtrip_handle`:
//!   Call from a client process to a server process and its reply, counted
//!   on the whole CPU (client, kernel, server): an empty message each way;
//!   a 64-byte fixed part each way; an empty message carrying one handle,
//!   moved to the server in the call and moved back in the reply. The
//!   client calls with a prebuilt message (`syscall::call_bytes`); the
//!   server is `ipc::Server::run` (one `ReplyRecv` trap per request). Both
//!   are children of ubench (`role=bench-client` / `role=bench-server`)
//!   joined by the static channel "bench".
//! - `ipc_cross_core`: an empty round trip between a client thread on
//!   core 1 and its server's thread on core 2 (children `pair-client` and
//!   `pair-server`, one channel per core): the work of both cores, the
//!   wake-up SGI and the idle core's way out of `wfi` included.
//! - `ipc_one_pair`, `ipc_four_pairs`: an empty round trip between a
//!   client and a server thread on the same core, one such pair alone
//!   (core 0), and four at once, one per core (from the first one's start
//!   to the last one's end, over the four pairs' round trips): what sharing
//!   the kernel costs (waits for the lock, which sleep in `wfe`, count a
//!   few instructions each). These three count virtual time, one ns per
//!   instruction of any core under icount: the work of all cores. QEMU
//!   runs the cores in turns, so it cannot show how four pairs scale in
//!   time, only the work they make.
//! - `spawn_romfs`: one process's whole life, counted on the whole CPU:
//!   `Task.Create` (`FROM_ROMFS`, `/bench/nop`, a program that exits at
//!   once), `Resume`, `Wait` until it ends, closing its handle (per
//!   iteration, [`SPAWNS`] of them, loop overhead subtracted).
//! - `spawn_romfs_1mib`: the same for `/bench/nop1m`, a program with 1 MiB
//!   of read-only data ([`SPAWNS_1MIB`] of them): what a start costs per
//!   byte of executable.
//! - `tick_lateness_console`, `tick_lateness_mdl`, `tick_lateness_vm`: the
//!   worst delay of the timer interrupt (`SysInfo.TickLateness`, in virtual
//!   ns, which under `-icount shift=0` are instructions) while this process
//!   asks, over and over for at least [`LATENESS_TICKS`] ticks, for one of
//!   the kernel's longest operations: a 64 KiB `Console.Write` (one message,
//!   as a hostile program would send it), a 16 MiB MDL made, mapped,
//!   unmapped and closed,
//!   16 MiB of memory allocated, made read-only and freed. The kernel must take the
//!   interrupt within 1 ms (1,000,000) whatever a process asks.
//! - `tick_lateness_exit`: the same while children that allocate 24 MiB
//!   and map a 16 MiB MDL 64 times end, over and over.
//! - `tick_lateness_build`: the same while a process is built by hand with
//!   16 MiB reserved, freed and loaded (`VmReserve`, `VmFree`, `LoadSeg`),
//!   and threads get the largest stacks (`Thread.Create`, `Task.Resume`).
//! - `tick_lateness_dump`: the same while a frozen child's 16 MiB region is
//!   copied out (`GetNextVmRegion`) and the child ended.

#![no_std]
#![no_main]

extern crate alloc;

use core::arch::asm;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use libkos::abi::msg::{DESC_MOVE, DESC_SIZE, HEADER_SIZE, HandleDesc, Header, NO_BADGE};
use libkos::abi::sched::DEFAULT_PRIORITY;
use libkos::abi::task::CreateFlags;
use libkos::ipc::Server;
use libkos::task::Task;
use libkos::thread::{self, fifo};
use libkos::zerocopy::{FromBytes, IntoBytes};
use libkos::{Handle, Rc, Rights, channel, handle, locator, notice, println, syscall};

libkos::main!(main);

const ITERATIONS: u64 = 1000;
/// Iterations of `spawn_romfs` (each a whole process).
const SPAWNS: u64 = 50;
/// Starts of the 1 MiB program (each loads all of it).
const SPAWNS_1MIB: u64 = 10;
/// Descendants `revoke_1000` revokes at once, and how many times.
const REVOKED: usize = 1000;
/// Copies each holder child takes.
const HELD: usize = 250;
const REVOKES: u64 = 5;
/// Arena sizes of `ipc_roundtrip_4k` and `ipc_roundtrip_60k`.
const ARENA_4K: usize = 4 << 10;
const ARENA_60K: usize = 60 << 10;
const JOIN_TIMEOUT: u64 = 20_000_000_000;
/// Ticks each long operation is repeated over (the tick is 10 ms).
const LATENESS_TICKS: u64 = 12;
/// What the `big-exit` child allocates before it ends.
const BIG_EXIT: u64 = 24 << 20;
/// The largest MDL (`kos_abi::msg::mdl::MAX_SIZE`).
const BIG_MDL: u64 = libkos::abi::msg::mdl::MAX_SIZE;
/// How many times the `big-exit` child maps its MDL (1 GiB in all).
const MAPPINGS: usize = 64;

/// Lets the kernel finish giving back the memory of what has ended (which
/// it does a little at every trap otherwise, see `task::reclaim`), so that
/// no measure pays for an earlier one.
fn settle() {
    let _ = libkos::sys::mem_stats();
}

/// Instructions retired so far (PMU event counter 0, INST_RETIRED), modulo
/// 2^32: use only through [`between`] and [`since`].
#[inline(always)]
fn instructions() -> u64 {
    let n;
    // SAFETY: reads a PMU counter; the benchmark kernel allows EL0 to
    // (PMUSERENR_EL0), and nothing else happens.
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) n, options(nostack)) };
    n
}

/// Instructions from the read `start` to the read `end`. The Cortex-A72's
/// event counters are 32 bits (PMUv3 for Armv8.0 has no PMCR.LP for 64-bit
/// ones), so they wrap every 2^32 instructions: the difference is taken
/// modulo 2^32, exact for every window shorter than that (the longest
/// measured here is a few million).
fn between(start: u64, end: u64) -> u64 {
    u64::from((end as u32).wrapping_sub(start as u32))
}

/// Instructions since the read `start`.
#[inline(always)]
fn since(start: u64) -> u64 {
    between(start, instructions())
}

#[inline(never)]
fn nop_op() {
    let _ = syscall::nop();
}

#[inline(never)]
fn empty_op() {}

fn loop_of(op: fn()) -> u64 {
    let op = black_box(op);
    let start = instructions();
    for _ in 0..ITERATIONS {
        op();
    }
    since(start)
}

/// Instructions per run of `op`, loop overhead subtracted.
fn per_op(mut op: impl FnMut()) -> u64 {
    let empty = || black_box(());
    let start = instructions();
    for _ in 0..ITERATIONS {
        empty();
    }
    let overhead = since(start);
    let start = instructions();
    for _ in 0..ITERATIONS {
        op();
    }
    since(start).saturating_sub(overhead) / ITERATIONS
}

static PING_PONG: AtomicU64 = AtomicU64::new(0);

const SELF: &str = "/bench/ubench";
const EMPTY: u16 = 0;
const FIXED64: u16 = 1;
const MOVE_BACK: u16 = 2;
/// A request with an arena, answered empty (the arena server).
const ARENA: u16 = 3;
/// Answered with the server's two counts (the one-way server): when its
/// `ReplyRecv` returned with the request and just before it sends the reply.
const TIMED: u16 = 4;
const ENDPOINT: u16 = 0x200;

fn main() -> i32 {
    match core::str::from_utf8(libkos::rt::env_region())
        .ok()
        .and_then(|e| e.strip_prefix("role="))
    {
        Some("bench-server") => bench_server(),
        Some("bench-arena") => arena_server(),
        Some("bench-oneway") => oneway_server(),
        Some("yield-partner") => {
            // A few more than its partner's, so that it outlasts them.
            for _ in 0..ITERATIONS + 10 {
                syscall::yield_now();
            }
            0
        }
        Some("bench-client") => bench_client(),
        Some("pair-server") => pair_server(),
        Some("pair-client") => pair_client(),
        Some("big-exit") => {
            // Much memory and one MDL mapped many times, then the end: all
            // of it goes at once.
            let _ = libkos::vm::allocate(BIG_EXIT);
            if let Ok(m) = libkos::mdl::create(BIG_MDL) {
                for _ in 0..MAPPINGS {
                    let _ = libkos::mdl::map(m, true);
                }
            }
            0
        }
        Some("big-crash") => {
            // A region as large as an MDL may be, then a fault: frozen.
            if let Ok(r) = libkos::vm::allocate(BIG_MDL) {
                // SAFETY: a fresh read-write range of this process.
                unsafe { core::ptr::write_volatile(r.addr as *mut u64, 7) };
            }
            // SAFETY: deliberately not: a write through a null pointer.
            unsafe { core::ptr::write_volatile(black_box(core::ptr::null_mut::<u64>()), 1) };
            1
        }
        Some(other) => {
            println!("ubench: unknown role {other}");
            64
        }
        None => utest::in_normal_thread(bench_main),
    }
}

fn bench_main() -> i32 {
    settle();
    let null = loop_of(nop_op).saturating_sub(loop_of(empty_op)) / ITERATIONS;
    println!("bench null_syscall: {null} instructions");

    // A FIFO 20 coordinator makes the two FIFO 10 threads; when it blocks in
    // join they have the CPU to themselves and take turns at every yield.
    let coord = thread::spawn(fifo(20), 0, || {
        let a = thread::spawn(fifo(10), 0, || {
            let start = instructions();
            for _ in 0..ITERATIONS {
                syscall::yield_now();
            }
            PING_PONG.store(since(start), SeqCst);
            0
        });
        let b = thread::spawn(fifo(10), 0, || {
            for _ in 0..ITERATIONS {
                syscall::yield_now();
            }
            0
        });
        let (Ok(a), Ok(b)) = (a, b) else {
            return 1;
        };
        let ok = a.join(JOIN_TIMEOUT).is_ok() && b.join(JOIN_TIMEOUT).is_ok();
        if ok { 0 } else { 2 }
    });
    let Ok(coord) = coord else {
        println!("ubench: cannot start the thread_switch threads");
        return 1;
    };
    if coord.join(JOIN_TIMEOUT) != Ok(0) {
        println!("ubench: thread_switch threads failed");
        return 1;
    }
    // Each of a's iterations is two yields (a's and b's), each a switch.
    let per_switch = PING_PONG.load(SeqCst) / (2 * ITERATIONS);
    println!("bench thread_switch: {per_switch} instructions");
    match thread_switch_cross_as() {
        Ok(n) => println!("bench thread_switch_cross_as: {n} instructions"),
        Err(e) => {
            println!("ubench: {e}");
            return 1;
        }
    }

    for (name, path, times) in [
        ("spawn_romfs", "/bench/nop", SPAWNS),
        ("spawn_romfs_1mib", "/bench/nop1m", SPAWNS_1MIB),
    ] {
        match spawn_romfs(path, times) {
            Ok(n) => println!("bench {name}: {n} instructions"),
            Err(e) => {
                println!("ubench: {name}: {e}");
                return 1;
            }
        }
    }

    if let Err(e) = tick_lateness() {
        println!("ubench: {e}");
        return 1;
    }
    if let Err(e) = handle_copy_and_notify() {
        println!("ubench: {e}");
        return 1;
    }
    match ipc_roundtrips().and_then(|()| cross_core()) {
        Ok(()) => 0,
        Err(e) => {
            println!("ubench: {e}");
            1
        }
    }
}

fn handle_copy_and_notify() -> Result<(), &'static str> {
    let ends = channel::create().map_err(|_| "channel create failed")?;
    settle();
    const BATCH: usize = 200;
    let mut copies = [Handle::INVALID; BATCH];
    let mut total = 0;
    let mut overhead = 0;
    for _ in 0..ITERATIONS as usize / BATCH {
        let start = instructions();
        for c in copies.iter_mut() {
            *c = black_box(Handle::INVALID);
        }
        overhead += since(start);
        let start = instructions();
        for c in copies.iter_mut() {
            *c = handle::copy(ends.client, Rights::CLIENT).unwrap_or(Handle::INVALID);
        }
        total += since(start);
        for c in copies {
            if handle::close(c).is_err() {
                return Err("handle_copy: a copy failed");
            }
        }
    }
    let per_copy = total.saturating_sub(overhead) / ITERATIONS;
    println!("bench handle_copy: {per_copy} instructions");

    let n = notice::create().map_err(|_| "notice create failed")?;
    let mut ev = [notice::Event::default(); 1];
    settle();
    let mut failed = false;
    let per_notify = per_op(|| {
        let signalled = notice::signal(n, 1).is_ok();
        let got = notice::wait(n, 0, &mut ev);
        failed |= !signalled || !matches!(got, Ok(w) if w.count == 1);
    });
    if failed {
        return Err("notify: signal or wait failed");
    }
    println!("bench notify: {per_notify} instructions");

    // One revoke over REVOKED descendants of a handle: copies of it given
    // to children that never start (a process holds 256 handles at most,
    // and revoked ones until it closes them), made outside the count.
    let mut total = 0;
    for _ in 0..REVOKES {
        let holders = (0..REVOKED.div_ceil(HELD))
            .map(|i| {
                let name = alloc::format!("ubench-holder-{i}");
                Task::create(
                    &name,
                    "/bench/nop",
                    DEFAULT_PRIORITY,
                    CreateFlags::FROM_ROMFS,
                )
            })
            .collect::<Result<alloc::vec::Vec<_>, _>>()
            .map_err(|_| "revoke_1000: cannot create the holders")?;
        let root = handle::copy(ends.client, Rights::CLIENT | Rights::COPY | Rights::REVOKE)
            .map_err(|_| "revoke_1000: copy failed")?;
        for i in 0..REVOKED {
            holders[i / HELD]
                .transfer_handle(root, Rights::CLIENT, None)
                .map_err(|_| "revoke_1000: transfer failed")?;
        }
        settle();
        let start = instructions();
        let revoked = handle::revoke(root);
        total += since(start);
        revoked.map_err(|_| "revoke_1000: revoke failed")?;
        handle::close(root).map_err(|_| "revoke_1000: close failed")?;
        for h in holders {
            let _ = h.close();
        }
    }
    println!("bench revoke_1000: {} instructions", total / REVOKES);
    for h in [n, ends.client, ends.server] {
        let _ = handle::close(h);
    }
    Ok(())
}

/// Instructions per Create + Resume + Wait + close of the program at
/// `path` (which exits 0 at once), over `times` starts.
fn spawn_romfs(path: &str, times: u64) -> Result<u64, &'static str> {
    settle();
    let once = || -> Result<(), &'static str> {
        let t = Task::create(
            "ubench-nop",
            path,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        )
        .map_err(|_| "create failed")?;
        t.resume().map_err(|_| "resume failed")?;
        let info = t.wait(JOIN_TIMEOUT).map_err(|_| "wait failed")?;
        t.close().map_err(|_| "close failed")?;
        if !libkos::task::exited_with(&info, 0) {
            return Err("the program did not exit 0");
        }
        Ok(())
    };
    // Warm-up: this process's heap and the kernel's caches settle.
    once()?;
    let empty = || black_box(());
    let start = instructions();
    for _ in 0..times {
        empty();
    }
    let overhead = since(start);
    let start = instructions();
    for _ in 0..times {
        once()?;
    }
    Ok(since(start).saturating_sub(overhead) / times)
}

/// Repeats `op` until [`LATENESS_TICKS`] ticks have been taken; the
/// worst lateness of the tick meanwhile, in ns.
fn worst_lateness(mut op: impl FnMut() -> Result<(), Rc>) -> Result<u64, Rc> {
    libkos::sys::tick_lateness()?;
    let (mut worst, mut ticks) = (0, 0);
    while ticks < LATENESS_TICKS {
        op()?;
        let l = libkos::sys::tick_lateness()?;
        worst = worst.max(l.worst_ns);
        ticks += l.ticks;
    }
    Ok(worst)
}

/// `thread_switch` between two processes: this process's FIFO 10 thread
/// and a child's (`yield-partner`), which take turns at every yield while
/// a FIFO 20 coordinator waits for both.
fn thread_switch_cross_as() -> Result<u64, &'static str> {
    settle();
    let coord = thread::spawn(fifo(20), 0, || {
        let child = Task::create(
            "ubench-yield",
            SELF,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        )
        .and_then(|c| {
            c.set_env(b"role=yield-partner")?;
            c.set_initial_thread_sched_policy(fifo(10))?;
            Ok(c)
        });
        let Ok(child) = child else {
            return 1;
        };
        let a = thread::spawn(fifo(10), 0, || {
            // The first turn lets the child start up; then count.
            syscall::yield_now();
            let start = instructions();
            for _ in 0..ITERATIONS {
                syscall::yield_now();
            }
            PING_PONG.store(since(start), SeqCst);
            0
        });
        let Ok(a) = a else {
            return 2;
        };
        if child.resume().is_err() || a.join(JOIN_TIMEOUT).is_err() {
            return 3;
        }
        match child.wait(JOIN_TIMEOUT) {
            Ok(info) if libkos::task::exited_with(&info, 0) => 0,
            _ => 4,
        }
    })
    .map_err(|_| "cannot start the thread_switch_cross_as coordinator")?;
    if coord.join(JOIN_TIMEOUT) != Ok(0) {
        return Err("thread_switch_cross_as failed");
    }
    Ok(PING_PONG.load(SeqCst) / (2 * ITERATIONS))
}

fn tick_lateness() -> Result<(), &'static str> {
    use libkos::abi::interfaces::console::call::Write;
    const BIG: u64 = 16 << 20;
    let nuls = alloc::vec![0u8; libkos::abi::msg::MAX_ARENA];
    let console = worst_lateness(|| {
        libkos::ipc::invoke::<Write>(Handle::KERNEL, &(), &[&nuls], &mut []).map(drop)
    })
    .map_err(|_| "tick_lateness: a 64 KiB console write failed")?;
    println!();
    println!("bench tick_lateness_console: {console} instructions");
    let mdl = worst_lateness(|| {
        let m = libkos::mdl::create(BIG)?;
        let mapped = libkos::mdl::map(m, true).and_then(|r| libkos::mdl::unmap(m, r));
        handle::close(m)?;
        mapped
    })
    .map_err(|_| "tick_lateness: a 16 MiB MDL failed")?;
    println!("bench tick_lateness_mdl: {mdl} instructions");
    let vm = worst_lateness(|| {
        let r = libkos::vm::allocate(BIG)?;
        // SAFETY: nothing refers to the range: made read-only, then freed.
        unsafe {
            libkos::vm::protect(r, libkos::abi::vm::VmPerms::READ)?;
            libkos::vm::free(r)
        }
    })
    .map_err(|_| "tick_lateness: 16 MiB of memory failed")?;
    println!("bench tick_lateness_vm: {vm} instructions");
    let exit = worst_lateness(|| {
        let t = Task::create(
            "ubench-big",
            SELF,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        )?;
        t.set_env(b"role=big-exit")?;
        t.resume()?;
        t.wait(JOIN_TIMEOUT)?;
        t.close()
    })
    .map_err(|_| "tick_lateness_exit: a child failed")?;
    println!("bench tick_lateness_exit: {exit} instructions");
    let build = worst_lateness(|| build_big().inspect_err(|e| println!("ubench: build: {e}")))
        .map_err(|_| "tick_lateness_build: a step failed")?;
    println!("bench tick_lateness_build: {build} instructions");
    let dump = worst_lateness(dump_big).map_err(|_| "tick_lateness_dump: a step failed")?;
    println!("bench tick_lateness_dump: {dump} instructions");
    Ok(())
}

/// A process built by hand as large as it may be: 16 MiB reserved and
/// freed, then a 16 MiB segment loaded from an MDL, then let go; a thread
/// with the largest stack, and a process whose first thread has one.
fn build_big() -> Result<(), Rc> {
    use libkos::abi::vm::{MAX_STACK_SIZE, VmPerms};
    use libkos::task::SegLoad;
    let seg = libkos::mdl::create(BIG_MDL)?;
    let rw = VmPerms::READ | VmPerms::WRITE;
    let t = Task::create("ubench-empty", SELF, DEFAULT_PRIORITY, CreateFlags::empty())?;
    let built = t.vm_reserve(0, BIG_MDL, rw).and_then(|r| {
        t.vm_free(r, BIG_MDL)
            .inspect_err(|e| println!("free {e}"))?;
        t.load_seg(&SegLoad {
            mdl: seg,
            perms: rw,
            vaddr: 0,
            mem_size: BIG_MDL,
            mdl_offset: 0,
            file_size: BIG_MDL,
        })
    });
    t.close()?;
    handle::close(seg)?;
    built?;
    let policy = thread::normal(DEFAULT_PRIORITY);
    thread::spawn(policy, MAX_STACK_SIZE, || 0)
        .inspect_err(|e| println!("spawn {e}"))?
        .join(JOIN_TIMEOUT)
        .inspect_err(|e| println!("join {e}"))?;
    let flags = CreateFlags::FROM_ROMFS;
    let c = Task::create_ex(
        "ubench-stack",
        "/bench/nop",
        MAX_STACK_SIZE,
        DEFAULT_PRIORITY,
        flags,
    )?;
    c.resume()?;
    c.wait(JOIN_TIMEOUT)?;
    c.close()
}

/// A child that faults holding a 16 MiB region, frozen: the region
/// copied out (`GetNextVmRegion`), then the child ended.
fn dump_big() -> Result<(), Rc> {
    let flags = CreateFlags::FROM_ROMFS | CreateFlags::DUMPABLE;
    let t = Task::create("ubench-crash", SELF, DEFAULT_PRIORITY, flags)?;
    t.set_env(b"role=big-crash")?;
    t.resume()?;
    loop {
        let info = t.exit_info()?;
        match libkos::task::status(&info) {
            Some(libkos::abi::task::ExitStatus::Running) => syscall::yield_now(),
            Some(libkos::abi::task::ExitStatus::Frozen) => break,
            _ => return Err(Rc::Busy),
        }
    }
    let mut after = 0;
    loop {
        match t.next_vm_region(after) {
            Ok(r) => {
                if r.mdl != u32::MAX {
                    handle::close(Handle(r.mdl))?;
                }
                after = r.start + r.size;
            }
            Err(Rc::ResourceNotFound) => break,
            Err(e) => return Err(e),
        }
    }
    t.terminate_after_freezing()?;
    t.close()
}

/// Starts the server and client children on channel "bench" and waits for
/// the client (blocking: no polling in the count), then ends the server.
fn ipc_roundtrips() -> Result<(), &'static str> {
    let make = |name: &str, role: &[u8]| -> Result<Task, &'static str> {
        let t = Task::create(name, SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
            .map_err(|_| "cannot create a bench child")?;
        t.set_env(role).map_err(|_| "set_env failed")?;
        Ok(t)
    };
    let server = make("ubench-server", b"role=bench-server")?;
    let arena = make("ubench-arena", b"role=bench-arena")?;
    let oneway = make("ubench-oneway", b"role=bench-oneway")?;
    let client = make("ubench-client", b"role=bench-client")?;
    for (s, name) in [
        (&server, "bench"),
        (&arena, "bench-arena"),
        (&oneway, "bench-oneway"),
    ] {
        locator::connect_tasks(client.handle(), s.handle(), name)
            .map_err(|_| "connect_tasks failed")?;
        s.resume().map_err(|_| "resume failed")?;
    }
    settle();
    client.resume().map_err(|_| "resume failed")?;
    let info = client
        .wait(JOIN_TIMEOUT)
        .map_err(|_| "the bench client did not end")?;
    for s in [&server, &arena, &oneway] {
        let _ = s.terminate();
        let _ = s.wait(JOIN_TIMEOUT);
    }
    if !libkos::task::exited_with(&info, 0) {
        return Err("the bench client failed");
    }
    Ok(())
}

/// Answers EMPTY with an empty reply, FIXED64 with the request's fixed
/// part, MOVE_BACK by moving the received handle back.
fn bench_server() -> i32 {
    let Ok(h) = locator::register("bench") else {
        return 1;
    };
    let mut server = Server::new(h, 256, 256);
    let rc = server.run(|req, reply| {
        let m = &req.msg;
        match m.header.method {
            EMPTY => {
                reply[..HEADER_SIZE].copy_from_slice(Header::default().as_bytes());
                Ok(HEADER_SIZE)
            }
            FIXED64 => {
                let header = Header {
                    fixed_len: 64,
                    ..Header::default()
                };
                reply[..HEADER_SIZE].copy_from_slice(header.as_bytes());
                reply[HEADER_SIZE..HEADER_SIZE + 64].copy_from_slice(&m.fixed[..64]);
                Ok(HEADER_SIZE + 64)
            }
            MOVE_BACK => {
                let d = m.handle(0).ok_or(Rc::InvalidArgument)?;
                let header = Header {
                    handles: 1,
                    ..Header::default()
                };
                let back = HandleDesc {
                    handle: d.handle,
                    rights: d.rights,
                    mode: DESC_MOVE,
                    badge: NO_BADGE,
                    badge_value: 0,
                };
                reply[..HEADER_SIZE].copy_from_slice(header.as_bytes());
                reply[HEADER_SIZE..HEADER_SIZE + DESC_SIZE].copy_from_slice(back.as_bytes());
                Ok(HEADER_SIZE + DESC_SIZE)
            }
            _ => Err(Rc::ResourceNotFound),
        }
    });
    println!("ubench server: receive failed: {rc}");
    1
}

/// Answers every request with an empty reply, into a buffer large enough
/// for any arena.
fn arena_server() -> i32 {
    let Ok(h) = locator::register("bench-arena") else {
        return 1;
    };
    let mut server = Server::new(h, libkos::abi::msg::MAX_MESSAGE, 64);
    let rc = server.run(|_, reply| {
        reply[..HEADER_SIZE].copy_from_slice(Header::default().as_bytes());
        Ok(HEADER_SIZE)
    });
    println!("ubench arena server: receive failed: {rc}");
    1
}

/// A server loop of bare `ReplyRecv` traps that reads the instruction
/// counter as the trap returns with a request and again just before the
/// next trap sends its reply, and answers each request with those two
/// counts (16 bytes): the client works out each way's cost.
fn oneway_server() -> i32 {
    let Ok(h) = locator::register("bench-oneway") else {
        return 1;
    };
    let mut req = [0u64; 32];
    let mut reply = [0u64; (HEADER_SIZE + 16) / 8];
    let header = Header {
        fixed_len: 16,
        ..Header::default()
    };
    reply.as_mut_bytes()[..HEADER_SIZE].copy_from_slice(header.as_bytes());
    let mut token = libkos::syscall::ReplyToken(0);
    let mut received = 0;
    loop {
        let (len, msg) = if token.0 == 0 {
            (0, core::ptr::null())
        } else {
            (reply.len() * 8, reply.as_ptr() as *const u8)
        };
        let sent = instructions();
        reply[HEADER_SIZE / 8] = received;
        reply[HEADER_SIZE / 8 + 1] = sent;
        // SAFETY: both buffers are this function's, the reply only read and
        // the request buffer lent whole to the kernel.
        let (r, _) = unsafe {
            syscall::reply_recv_raw(
                token,
                msg,
                len,
                h,
                req.as_mut_ptr() as *mut u8,
                req.len() * 8,
            )
        };
        received = instructions();
        if r.rc != Rc::Ok {
            println!("ubench oneway server: receive failed: {}", r.rc);
            return 1;
        }
        token = r.token;
    }
}

/// Round trips with a 4 KiB and a 60 KiB arena (the cost per byte), and
/// each way of an empty call alone (`ipc_call`: from the client's `svc` to
/// the server's `ReplyRecv` returning; `ipc_reply_recv`: from the server's
/// `ReplyRecv` sending the reply to the client's `svc` returning).
fn bench_client_more() -> Result<(), &'static str> {
    let h = locator::connect("bench-arena").map_err(|_| "connect bench-arena failed")?;
    let mut reply = [0u64; 8];
    let mut req = alloc::vec![0u8; HEADER_SIZE + ARENA_60K];
    for (i, b) in req[HEADER_SIZE..].iter_mut().enumerate() {
        *b = i as u8;
    }
    for (name, size) in [
        ("ipc_roundtrip_4k", ARENA_4K),
        ("ipc_roundtrip_60k", ARENA_60K),
    ] {
        let header = Header {
            endpoint: ENDPOINT,
            method: ARENA,
            arena_len: size as u32,
            ..Header::default()
        };
        req[..HEADER_SIZE].copy_from_slice(header.as_bytes());
        let msg = &req[..HEADER_SIZE + size];
        let mut failed = false;
        let mut call = || {
            let (rc, len) = syscall::call_bytes(h, msg, reply.as_mut_bytes());
            failed |= rc != Rc::Ok || len != HEADER_SIZE;
        };
        call();
        let n = per_op(call);
        if failed {
            return Err("an arena round trip failed");
        }
        println!("bench {name}: {n} instructions");
    }

    let h = locator::connect("bench-oneway").map_err(|_| "connect bench-oneway failed")?;
    let timed = Header {
        endpoint: ENDPOINT,
        method: TIMED,
        ..Header::default()
    };
    let mut reply = [0u64; (HEADER_SIZE + 16) / 8];
    let (mut call, mut back) = (0, 0);
    for i in 0..=ITERATIONS {
        let start = instructions();
        let (rc, len) = syscall::call_bytes(h, timed.as_bytes(), reply.as_mut_bytes());
        let end = instructions();
        if rc != Rc::Ok || len != HEADER_SIZE + 16 {
            return Err("a timed call failed");
        }
        let (received, sent) = (reply[HEADER_SIZE / 8], reply[HEADER_SIZE / 8 + 1]);
        // The first call finds the server not yet waiting: not counted.
        if i > 0 {
            call += between(start, received);
            back += between(sent, end);
        }
    }
    println!("bench ipc_call: {} instructions", call / ITERATIONS);
    println!("bench ipc_reply_recv: {} instructions", back / ITERATIONS);
    Ok(())
}

fn bench_client() -> i32 {
    let Ok(h) = locator::connect("bench") else {
        println!("ubench client: connect failed");
        return 1;
    };
    let mut reply = [0u64; 32];
    let mut failed = false;

    let empty = Header {
        endpoint: ENDPOINT,
        method: EMPTY,
        ..Header::default()
    };
    let mut call = |req: &[u8], want: usize| {
        let (rc, len) = syscall::call_bytes(h, req, reply.as_mut_bytes());
        failed |= rc != Rc::Ok || len != want;
    };
    call(empty.as_bytes(), HEADER_SIZE);
    let n = per_op(|| call(empty.as_bytes(), HEADER_SIZE));
    println!("bench ipc_roundtrip_empty: {n} instructions");

    let mut req = [0u8; HEADER_SIZE + 64];
    let header = Header {
        endpoint: ENDPOINT,
        method: FIXED64,
        fixed_len: 64,
        ..Header::default()
    };
    req[..HEADER_SIZE].copy_from_slice(header.as_bytes());
    for (i, b) in req[HEADER_SIZE..].iter_mut().enumerate() {
        *b = i as u8;
    }
    call(&req, HEADER_SIZE + 64);
    let n = per_op(|| call(&req, HEADER_SIZE + 64));
    println!("bench ipc_roundtrip_64b: {n} instructions");
    if failed {
        println!("ubench client: a round trip failed");
        return 1;
    }

    // The handle goes to the server and comes back (a new value each time).
    let Ok(ends) = channel::create() else {
        return 1;
    };
    let mut moving = ends.client;
    let mut req = [0u8; HEADER_SIZE + DESC_SIZE];
    let header = Header {
        endpoint: ENDPOINT,
        method: MOVE_BACK,
        handles: 1,
        ..Header::default()
    };
    req[..HEADER_SIZE].copy_from_slice(header.as_bytes());
    let mut reply = [0u64; 8];
    let mut round = || {
        let d = HandleDesc {
            handle: moving.0,
            rights: (Rights::CLIENT | Rights::TRANSFER).bits(),
            mode: DESC_MOVE,
            badge: NO_BADGE,
            badge_value: 0,
        };
        req[HEADER_SIZE..].copy_from_slice(d.as_bytes());
        let (rc, len) = syscall::call_bytes(h, &req, reply.as_mut_bytes());
        let back =
            HandleDesc::read_from_bytes(&reply.as_bytes()[HEADER_SIZE..HEADER_SIZE + DESC_SIZE]);
        match back {
            Ok(d) if rc == Rc::Ok && len == HEADER_SIZE + DESC_SIZE => moving = Handle(d.handle),
            _ => failed = true,
        }
    };
    round();
    let n = per_op(&mut round);
    if failed {
        println!("ubench client: a handle round trip failed");
        return 1;
    }
    println!("bench ipc_roundtrip_handle: {n} instructions");
    match bench_client_more() {
        Ok(()) => 0,
        Err(e) => {
            println!("ubench client: {e}");
            1
        }
    }
}

/// Cores the cross-core benchmarks use: the benchmark machine has four.
const PAIRS: usize = 4;
/// Round trips of each pair: under icount QEMU runs the cores in turns of
/// up to a few million instructions, and four pairs overlap only if each
/// runs for several turns (1000 round trips fit in about one).
const PAIR_ITERATIONS: u64 = 10_000;

/// The channel of pair `k` (a server thread on core `k`).
fn pair_channel(k: usize) -> alloc::string::String {
    alloc::format!("bench-pair{k}")
}

/// Starts the pair server and client children joined by the [`PAIRS`]
/// channels and waits for the client, then ends the server.
fn cross_core() -> Result<(), &'static str> {
    let make = |name: &str, role: &[u8]| -> Result<Task, &'static str> {
        let t = Task::create(name, SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
            .map_err(|_| "cannot create a pair child")?;
        t.set_env(role).map_err(|_| "set_env failed")?;
        // Every process of the benchmark kernel keeps to core 0 unless
        // placed: these place their threads on every core.
        libkos::task::set_affinity(t.handle(), u64::MAX)
            .map_err(|_| "the cross-core benchmarks need the children's cores")?;
        Ok(t)
    };
    let server = make("ubench-pair-server", b"role=pair-server")?;
    let client = make("ubench-pair-client", b"role=pair-client")?;
    for k in 0..PAIRS {
        locator::connect_tasks(client.handle(), server.handle(), &pair_channel(k))
            .map_err(|_| "connect_tasks failed")?;
    }
    server.resume().map_err(|_| "resume failed")?;
    settle();
    client.resume().map_err(|_| "resume failed")?;
    let info = client
        .wait(JOIN_TIMEOUT)
        .map_err(|_| "the pair client did not end")?;
    let _ = server.terminate();
    let _ = server.wait(JOIN_TIMEOUT);
    if !libkos::task::exited_with(&info, 0) {
        return Err("the pair client failed");
    }
    Ok(())
}

/// A thread per core `k` serving channel `bench-pair{k}` with bare
/// `ReplyRecv` traps, each reply empty.
fn pair_server() -> i32 {
    let mut threads = alloc::vec::Vec::new();
    for k in 0..PAIRS {
        let Ok(h) = locator::register(&pair_channel(k)) else {
            return 1;
        };
        let Ok(t) = thread::spawn(thread::normal(DEFAULT_PRIORITY), 0, move || serve_empty(h))
        else {
            return 2;
        };
        if t.set_affinity(1 << k).is_err() {
            println!("ubench pair server: no core {k}");
            return 3;
        }
        threads.push(t);
    }
    for t in threads {
        let _ = t.join(u64::MAX);
    }
    4
}

fn serve_empty(h: Handle) -> i64 {
    let mut req = [0u64; 8];
    let reply = Header::default();
    let mut token = syscall::ReplyToken(0);
    loop {
        let (len, msg) = if token.0 == 0 {
            (0, core::ptr::null())
        } else {
            (HEADER_SIZE, reply.as_bytes().as_ptr())
        };
        // SAFETY: both buffers are this function's, the reply only read and
        // the request buffer lent whole to the kernel.
        let (r, _) = unsafe {
            syscall::reply_recv_raw(
                token,
                msg,
                len,
                h,
                req.as_mut_ptr() as *mut u8,
                req.len() * 8,
            )
        };
        if r.rc != Rc::Ok {
            return 1;
        }
        token = r.token;
    }
}

/// Pair threads wait for this before they start.
static PAIRS_GO: AtomicBool = AtomicBool::new(false);
/// Pair threads that made their first call: they start counting together
/// once all have (each spins alone on its core till then, so that no pair
/// starts a tick after another).
static PAIRS_READY: AtomicU64 = AtomicU64::new(0);
/// When each pair's [`PAIR_ITERATIONS`] round trips began and ended (virtual
/// ns: instructions of the whole machine under icount).
static PAIR_SPANS: [(AtomicU64, AtomicU64); PAIRS] =
    [const { (AtomicU64::new(0), AtomicU64::new(0)) }; PAIRS];

/// Round trips on the pair channels, all pairs at once, each `(client
/// core, channel k)` (the server of channel `k` runs on core `k`).
/// Returns the instructions per round trip: from the first pair's start
/// to the last one's end, over all their round trips. Counted in virtual
/// time, which under `-icount shift=0` is one ns per instruction of any
/// core (while one runs): the work of every core. (Each core's PMU
/// counter counts that same machine-wide count too, but from its own
/// start, so one core's counts cannot be set against another's.)
fn run_pairs(pairs: &[(usize, Handle)]) -> Result<u64, &'static str> {
    PAIRS_GO.store(false, SeqCst);
    PAIRS_READY.store(0, SeqCst);
    let n = pairs.len() as u64;
    let mut threads = alloc::vec::Vec::new();
    for (slot, &(core, h)) in pairs.iter().enumerate() {
        let t = thread::spawn(thread::normal(DEFAULT_PRIORITY), 0, move || {
            while !PAIRS_GO.load(SeqCst) {
                syscall::sleep_ns(1_000_000);
            }
            let header = Header {
                endpoint: ENDPOINT,
                method: EMPTY,
                ..Header::default()
            };
            let mut reply = [0u64; 4];
            let mut call = || {
                let (rc, len) = syscall::call_bytes(h, header.as_bytes(), reply.as_mut_bytes());
                rc == Rc::Ok && len == HEADER_SIZE
            };
            // The first call finds the server's thread where it waits.
            if !call() {
                return 1;
            }
            PAIRS_READY.fetch_add(1, SeqCst);
            while PAIRS_READY.load(SeqCst) < n {
                core::hint::spin_loop();
            }
            let start = libkos::time::now_ns();
            for _ in 0..PAIR_ITERATIONS {
                if !call() {
                    return 1;
                }
            }
            let (s, e) = &PAIR_SPANS[slot];
            s.store(start, SeqCst);
            e.store(libkos::time::now_ns(), SeqCst);
            0
        })
        .map_err(|_| "cannot start a pair thread")?;
        t.set_affinity(1 << core)
            .map_err(|_| "the cross-core benchmarks need four cores")?;
        threads.push(t);
    }
    PAIRS_GO.store(true, SeqCst);
    for t in &threads {
        if t.join(JOIN_TIMEOUT) != Ok(0) {
            return Err("a pair's round trip failed");
        }
    }
    let spans = &PAIR_SPANS[..pairs.len()];
    let first = spans.iter().map(|(s, _)| s.load(SeqCst)).min().unwrap_or(0);
    let last = spans.iter().map(|(_, e)| e.load(SeqCst)).max().unwrap_or(0);
    let last_start = spans.iter().map(|(s, _)| s.load(SeqCst)).max().unwrap_or(0);
    let first_end = spans.iter().map(|(_, e)| e.load(SeqCst)).min().unwrap_or(0);
    if last_start >= first_end {
        return Err("the pairs did not run at the same time");
    }
    Ok(last.saturating_sub(first) / (PAIR_ITERATIONS * n))
}

/// `ipc_cross_core`: a client on core 1 and its server on core 2.
/// `ipc_one_pair` / `ipc_four_pairs`: a client and its server on one core,
/// alone / with three more such pairs on the other cores at once.
fn pair_client() -> i32 {
    let mut hs = [Handle::INVALID; PAIRS];
    for (k, h) in hs.iter_mut().enumerate() {
        match locator::connect(&pair_channel(k)) {
            Ok(c) => *h = c,
            Err(_) => return 1,
        }
    }
    let runs = [
        ("ipc_cross_core", alloc::vec![(1, hs[2])]),
        ("ipc_one_pair", alloc::vec![(0, hs[0])]),
        ("ipc_four_pairs", (0..PAIRS).map(|k| (k, hs[k])).collect()),
    ];
    for (name, pairs) in runs {
        match run_pairs(&pairs) {
            Ok(n) => println!("bench {name}: {n} instructions"),
            Err(e) => {
                println!("ubench pair client: {name}: {e}");
                return 1;
            }
        }
    }
    0
}
