//! A hostile program, contained: it leaves behind a hog (class
//! `utest.hostile.Hog`) that takes all it can of the kernel's resources —
//! notices, MDL frames, memory, threads, processes (through a child that
//! starts its own), handles, notice subscriptions (its share of the
//! system's, GetTasksList's included), kernel heap, and the CPU (it spins at its priority ceiling)
//! — and holds them to the end of the suite. Each kind must stop at the hog's quota
//! (rcQuotaExceeded, never the system running out), and every test program
//! einit runs after this one must still pass (`utest-hostile` runs early).

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use libkos::abi::task::{DEFAULT_KERNEL_RIGHTS, DEFAULT_TASK_RIGHTS, Method};
use libkos::handle::OwnedHandle;
use libkos::process::{Params, Process};
use libkos::test::TestResult;
use libkos::{Handle, Rc, Rights, check, check_ok, mdl, notice, process, task, thread, vm};
use utest::{ms, now, role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));
const HOG: &str = "utest.hostile.Hog";
/// The `processes` of its quota (utest.policy).
const HOG_PROCESSES: i64 = 4;
/// The `priority` of its quota: below every test program's.
const HOG_PRIORITY: u32 = 8;
/// What the hog and its children hold on themselves: the least a program
/// needs, and Create.
const HOG_TASK_RIGHTS: Rights = DEFAULT_TASK_RIGHTS
    .union(Rights::task(Method::Create))
    .union(Rights::task(Method::GetTasksList));
/// The `memory` of its quota.
const HOG_MEMORY: u64 = 64 << 10;
/// Kernel heap a tree may use beyond its budget: the small lists that are
/// not charged (a process's thread list, a channel's queues).
const HEAP_SLACK: u64 = 4 << 10;
/// What a `big-exit` child holds when it ends.
const BIG_EXIT: u64 = 24 << 20;
/// What the hog reports when it holds all it could: one line per kind.
const REPORT_SIZE: u64 = 4096;

fn main() -> i32 {
    match role() {
        Some("hog") => hog(),
        Some(kid) if kid.starts_with("hog-kid-") => hog_kid(kid),
        // Much memory, then the end, three ways: it goes back in steps.
        Some(r @ ("big-exit" | "big-fault" | "big-thread-exit")) => {
            if vm::allocate(BIG_EXIT).is_err() {
                return 1;
            }
            match r {
                "big-fault" => {
                    let p = core::hint::black_box(core::ptr::null_mut::<u64>());
                    // SAFETY: deliberately not: a write through null, to
                    // end by a fault.
                    unsafe { p.write_volatile(1) };
                    2
                }
                "big-thread-exit" => libkos::syscall::thread_exit(7),
                _ => 7,
            }
        }
        Some(r) if r.starts_with("check-seg=") => check_seg(&r["check-seg=".len()..]),
        Some("sleeper") => loop {
            let _ = libkos::syscall::sleep_ns(u64::MAX);
        },
        _ => libkos::test::run(
            "utest_hostile",
            libkos::tests![
                a_hog_is_contained,
                long_calls_stop_for_interrupts,
                building_calls_stop_for_interrupts
            ],
        ),
    }
}

/// Starts the hog, waits for its report, checks each kind stopped at its
/// quota, and leaves it running.
fn a_hog_is_contained() -> TestResult {
    let report = OwnedHandle::new(check_ok!(mdl::create(REPORT_SIZE), "report MDL"));
    let heap_before = check_ok!(libkos::sys::mem_stats(), "kernel memory stats").heap_used;
    let hog = check_ok!(
        Process::init_ex(
            &Params::new(HOG)
                .env("role", "hog")
                .priority(HOG_PRIORITY)
                .rights(HOG_TASK_RIGHTS, DEFAULT_KERNEL_RIGHTS),
            Some("hog"),
            Some(SELF)
        ),
        "init the hog"
    );
    check_ok!(
        hog.transfer_resource(
            report.get(),
            None,
            Rights::MAP_READ | Rights::MAP_WRITE,
            "report"
        ),
        "give it the report"
    );
    // It spins to the end of the suite: on the boot core, below every
    // test program there, rather than holding a core (and on an emulator
    // a host CPU) of its own. Its children keep to its cores.
    check_ok!(
        task::set_affinity(hog.handle(), 1),
        "keep the hog to core 0"
    );
    check_ok!(hog.run(), "run the hog");
    let deadline = now() + ms(30_000);
    let text = loop {
        let t = read(&report)?;
        if t.ends_with("holding\n") {
            break t;
        }
        check!(
            now() < deadline,
            "the hog never said it holds its hoard: {t:?}"
        );
        let _ = libkos::syscall::sleep_ns(ms(10));
    };
    libkos::println!("utest-hostile: the hog holds: {}", text.replace('\n', "; "));
    // What its tree took of the kernel heap is charged to its budget.
    let heap = check_ok!(libkos::sys::mem_stats(), "kernel memory stats").heap_used;
    let took = heap.saturating_sub(heap_before);
    libkos::println!("utest-hostile: the hog's tree took {took} bytes of kernel heap");
    check!(
        took <= HOG_MEMORY + HEAP_SLACK,
        "the hog's tree took {took} bytes of kernel heap, over its {HOG_MEMORY}-byte budget"
    );
    let subs = format!(
        "subscriptions {} rcQuotaExceeded",
        libkos::abi::msg::notice::MAX_SUBSCRIPTIONS_PER_PROCESS
    );
    check!(
        text.contains(&subs),
        "the hog's subscriptions did not stop at its share: {text:?}"
    );
    // Its children's children count against its budget: the whole tree
    // holds at most its `processes` quota.
    let tree: Vec<i64> = text
        .lines()
        .find_map(|l| l.strip_prefix("tree "))
        .map(|l| l.split(' ').filter_map(|w| w.parse().ok()).collect())
        .unwrap_or_default();
    check!(
        tree.len() == 2 && tree[0] >= 1 && tree[1] >= 1 && tree[0] + tree[1] == HOG_PROCESSES,
        "the hog's tree is not {HOG_PROCESSES} processes: {text:?}"
    );
    for kind in [
        "cpu-above",
        "notices",
        "mdl-frames",
        "memory",
        "threads",
        "processes",
        "subscriptions",
        "tasks-list",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(kind))
            .ok_or_else(|| format!("no {kind} line in {text:?}"))?;
        check!(
            line.ends_with("rcQuotaExceeded"),
            "{kind} stopped otherwise than at the hog's quota: {line}"
        );
    }
    // It keeps running with its hoard, spinning at its priority (below
    // every test program's, so each still runs as if it were not there);
    // this process lets go of it.
    check!(
        hog.wait(Duration::ZERO) == Err(Rc::Timeout),
        "the hog is not running"
    );
    Ok(())
}

/// A hog's child: starts sleepers until refused, then ends with their
/// number (they stay behind, still counted against the hog's budget).
fn hog_kid(name: &str) -> i32 {
    let mut made = 0;
    for i in 0..64 {
        let k = task::Task::create_as(
            &format!("{name}-{i}"),
            HOG,
            SELF,
            HOG_PRIORITY,
            libkos::abi::task::CreateFlags::FROM_ROMFS,
        )
        .and_then(|k| {
            k.set_env(b"role=sleeper")?;
            k.resume()
        });
        match k {
            Ok(()) => made += 1,
            Err(Rc::QuotaExceeded) => return made,
            Err(_) => return -1,
        }
    }
    made
}

fn read(m: &OwnedHandle) -> Result<String, String> {
    let map = mdl::map(m.get(), false).map_err(|e| format!("map: {e}"))?;
    let mut buf = alloc::vec![0u8; REPORT_SIZE as usize];
    let r = map.read(0, &mut buf);
    let _ = mdl::unmap(m.get(), map);
    r.map_err(|e| format!("read: {e}"))?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Takes `make` until it fails; the count and why it stopped.
fn hoard<T>(
    most: usize,
    mut make: impl FnMut() -> Result<T, Rc>,
    kept: &mut Vec<T>,
) -> (usize, Rc) {
    let start = kept.len();
    while kept.len() - start < most {
        match make() {
            Ok(x) => kept.push(x),
            Err(e) => return (kept.len() - start, e),
        }
    }
    (kept.len() - start, Rc::Ok)
}

fn hog() -> i32 {
    use core::fmt::Write;
    let Ok(report) = process::lookup_resource("report") else {
        return 1;
    };
    let Ok(map) = mdl::map(report, true) else {
        return 2;
    };
    // Everything it will need later is allocated now: once its frames are
    // gone, its heap cannot grow.
    let mut out = String::with_capacity(REPORT_SIZE as usize);
    let mut kids = Vec::with_capacity(64);
    let mut threads = Vec::with_capacity(64);
    let mut handles: Vec<Handle> = Vec::with_capacity(4096);
    let mut pages = Vec::with_capacity(4096);
    let names: Vec<String> = (0..64).map(|i| format!("hog-kid-{i}")).collect();
    // GetTasksList's reply buffer, allocated once now (freed, it stays in
    // this heap for the second call, made when no frame is left).
    if let Ok(list) = task::get_tasks_list(Handle::SELF_TASK) {
        let _ = libkos::handle::close(list.notice);
    }
    // Processes, each a hog of its own that starts all the processes it
    // can and ends, leaving them behind: the whole tree's count against
    // this one's budget. Then threads (their stacks come from its frames).
    let mut next = names.iter();
    let mut grandkids = 0;
    let (n, rc) = hoard(
        64,
        || {
            let name = next.next().ok_or(Rc::QuotaExceeded)?;
            let k = task::Task::create_as(
                name,
                HOG,
                SELF,
                HOG_PRIORITY,
                libkos::abi::task::CreateFlags::FROM_ROMFS,
            )?;
            k.set_initial_rights(HOG_TASK_RIGHTS, DEFAULT_KERNEL_RIGHTS)?;
            k.set_env(format!("role={name}").as_bytes())?;
            k.resume()?;
            // One at a time, so that its own children come first.
            grandkids += k.wait(u64::MAX).map_or(-1000, |i| i.code);
            Ok(k)
        },
        &mut kids,
    );
    let _ = writeln!(out, "tree {n} children {grandkids} grandchildren");
    let _ = writeln!(out, "processes {n} {rc}");
    let (n, rc) = hoard(
        64,
        || {
            let normal = libkos::abi::sched::SchedPolicy {
                class: libkos::abi::sched::SchedClass::Normal as u32,
                priority: HOG_PRIORITY,
                ..Default::default()
            };
            thread::spawn(normal, 0, || {
                loop {
                    let _ = libkos::syscall::sleep_ns(u64::MAX);
                }
            })
        },
        &mut threads,
    );
    let _ = writeln!(out, "threads {n} {rc}");
    // MDLs of 64 KiB until the frames quota stops them, then pages.
    let (n, rc) = hoard(4000, || mdl::create(64 << 10), &mut handles);
    let _ = writeln!(out, "mdl-frames {n} {rc}");
    let (n, rc) = hoard(4000, || vm::allocate(4096), &mut pages);
    let _ = writeln!(out, "memory {n} {rc}");
    // Subscriptions: its share of the system's, then no more.
    let mut subs = Vec::with_capacity(1024);
    let (n, rc) = match notice::create() {
        Ok(watch) => {
            let mut i = 0u64;
            hoard(
                1000,
                || {
                    i += 1;
                    notice::subscribe(watch, Handle::SELF_TASK, notice::OBJECT_DESTROYED, i)
                },
                &mut subs,
            )
        }
        Err(e) => (0, e),
    };
    let _ = writeln!(out, "subscriptions {n} {rc}");
    // GetTasksList subscribes too (to every end): past its share, refused.
    let rc = task::get_tasks_list(Handle::SELF_TASK).map_or_else(
        |e| e,
        |list| {
            let _ = libkos::handle::close(list.notice);
            Rc::Ok
        },
    );
    let _ = writeln!(out, "tasks-list {rc}");
    // Notices last: they fill whatever handle slots are left.
    let (n, rc) = hoard(4000, notice::create, &mut handles);
    let _ = writeln!(out, "notices {n} {rc}");
    // CPU: no thread above its priority; it spins at that, for ever.
    let above = libkos::abi::sched::SchedPolicy {
        priority: HOG_PRIORITY + 1,
        ..Default::default()
    };
    let rc = thread::spawn(above, 0, || 0).map_or_else(|e| e, |_| Rc::Ok);
    let _ = writeln!(out, "cpu-above {} {rc}", HOG_PRIORITY + 1);
    out.push_str("holding\n");
    let _ = map.write(0, out.as_bytes());
    loop {
        core::hint::spin_loop();
    }
}

/// The longest calls a process can make (a 16 MiB MDL, 16 MiB of memory,
/// the end of a process holding 24 MiB: by Exit, a fault or its last
/// thread's THREAD_EXIT) stop for a waiting timer interrupt
/// and go on afterwards: some did within a few rounds, and each still did
/// all its work — every page zeroed and mapped, every frame back once
/// closed, freed or ended, the exit code kept.
fn long_calls_stop_for_interrupts() -> TestResult {
    const BIG: u64 = 16 << 20;
    const PAGE: usize = 4096;
    let free_before = check_ok!(libkos::sys::mem_stats(), "mem stats").free_frames;
    check_ok!(libkos::sys::tick_lateness(), "start a period");
    let mut resumed = 0;
    for round in 0..50 {
        let m = OwnedHandle::new(check_ok!(mdl::create(BIG), "a 16 MiB MDL"));
        let map = check_ok!(mdl::map(m.get(), true), "map it");
        let mut word = [0xffu8; 8];
        for page in 0..(BIG as usize / PAGE) {
            for at in [page * PAGE, page * PAGE + PAGE - 8] {
                check_ok!(map.read(at, &mut word), "read the MDL");
                check!(word == [0; 8], "MDL byte {at} not zero: {word:?}");
            }
        }
        check_ok!(mdl::unmap(m.get(), map), "unmap");
        drop(m);
        let r = check_ok!(vm::allocate(BIG), "16 MiB of memory");
        check!(r.size == BIG, "allocated {:#x}", r.size);
        // SAFETY: the range is this process's, read-write, and nothing
        // else refers to it; it is freed below, after the last use.
        let words =
            unsafe { core::slice::from_raw_parts_mut(r.addr as *mut u64, BIG as usize / 8) };
        for w in words.iter_mut().step_by(PAGE / 8) {
            check!(*w == 0, "memory not zeroed");
            *w = round;
        }
        // SAFETY: `words` is not used after this.
        check_ok!(unsafe { vm::free(r) }, "free it");
        for role in ["big-exit", "big-fault", "big-thread-exit"] {
            let big = check_ok!(
                task::Task::create(
                    role,
                    SELF,
                    libkos::abi::sched::DEFAULT_PRIORITY,
                    libkos::abi::task::CreateFlags::FROM_ROMFS
                ),
                "create a child"
            );
            check_ok!(
                big.set_env(format!("role={role}").as_bytes()),
                "set its role"
            );
            check_ok!(big.resume(), "start it");
            let info = check_ok!(big.wait(utest::CHILD_TIMEOUT_NS), "wait for it");
            let as_it_should = if role == "big-fault" {
                task::fault(&info) == libkos::abi::task::FaultKind::NullPointer
            } else {
                task::exited_with(&info, 7)
            };
            check!(
                as_it_should,
                "the {role} child holding 24 MiB ended with {}",
                task::Describe(&info)
            );
            check_ok!(big.close(), "close it");
        }
        resumed += check_ok!(libkos::sys::tick_lateness(), "lateness").resumed;
        if resumed > 0 && round >= 2 {
            break;
        }
    }
    check!(
        resumed > 0,
        "no long call stopped for an interrupt in 50 rounds"
    );
    let free_after = check_ok!(libkos::sys::mem_stats(), "mem stats").free_frames;
    check!(
        free_after == free_before,
        "frames: {free_before} free before, {free_after} after"
    );
    Ok(())
}

/// The bytes a hand-loaded segment holds at `offset` (its file part).
fn seg_word(offset: u64) -> u64 {
    offset.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5e6
}

/// Bytes of the hand-loaded segment from its MDL (not page-aligned: the
/// rest of that page and the pages after it are zero), and all of it (the
/// largest copy `GetNextVmRegion` makes).
const SEG_FILE: u64 = (16 << 20) - 2 * 4096 - 1000;
const SEG_MEM: u64 = 16 << 20;

/// The `check-seg=<addr>` child: its segment at `addr` holds what
/// [`seg_word`] says, then zeros; if so it faults (its creator, which made
/// it DUMPABLE, reads the segment again from the frozen process), if not it
/// exits with 1.
fn check_seg(addr: &str) -> i32 {
    let Ok(base) = u64::from_str_radix(addr, 16) else {
        return 2;
    };
    let word = |off: u64| {
        // SAFETY: inside the segment the creator loaded at `base`
        // (readable; `off` < SEG_MEM, 8-aligned).
        unsafe { core::ptr::read_volatile((base + off) as *const u64) }
    };
    let mut off = 0;
    while off < SEG_MEM {
        for at in [off, off + 4096 - 8] {
            let want = if at < SEG_FILE { seg_word(at) } else { 0 };
            if word(at) != want {
                libkos::println!("check-seg: word {at:#x} is {:#x}, not {want:#x}", word(at));
                return 1;
            }
        }
        off += 4096;
    }
    let p = core::hint::black_box(core::ptr::null_mut::<u64>());
    // SAFETY: deliberately not: a write through null, to be frozen.
    unsafe { p.write_volatile(1) };
    3
}

/// The other long calls, each a page at a time and stopped by interrupts,
/// still do all their work: a process built by hand gets 16 MiB reserved
/// (taken and given back) and a 16 MiB segment loaded from an MDL, which it
/// reads back itself, and which its creator reads back again once it is
/// frozen (`GetNextVmRegion` copies it); 16 MiB of memory made read-only
/// and writable again keeps its contents; a thread runs on the largest
/// stack. Every frame is back afterwards.
fn building_calls_stop_for_interrupts() -> TestResult {
    use libkos::abi::sched::DEFAULT_PRIORITY;
    use libkos::abi::task::{CreateFlags, ExitStatus};
    use libkos::abi::vm::{MAX_STACK_SIZE, VmPerms};
    use libkos::task::SegLoad;
    const BIG: u64 = 16 << 20;
    let bytes = check_ok!(libkos::romfs::read_to_vec(SELF), "read own ELF");
    let img = check_ok!(libkos::elf::prepare(&bytes, 0), "elf::prepare");
    // After this process's own heap grew for the ELF.
    let free_before = check_ok!(libkos::sys::mem_stats(), "mem stats").free_frames;
    // The segment's bytes, in an MDL (let go once loaded: the caller's
    // frames hold it and then the copy).
    let segment = || -> Result<OwnedHandle, String> {
        let seg = OwnedHandle::new(check_ok!(mdl::create(SEG_FILE), "the segment's MDL"));
        let map = check_ok!(mdl::map(seg.get(), true), "map it");
        let mut page = [0u8; 4096];
        let mut off = 0;
        while off < SEG_FILE {
            for (i, w) in page.chunks_exact_mut(8).enumerate() {
                w.copy_from_slice(&seg_word(off + 8 * i as u64).to_le_bytes());
            }
            let n = (SEG_FILE - off).min(4096) as usize;
            check_ok!(map.write(off as usize, &page[..n]), "fill");
            off += 4096;
        }
        check_ok!(mdl::unmap(seg.get(), map), "unmap it");
        Ok(seg)
    };
    check_ok!(libkos::sys::tick_lateness(), "start a period");
    let mut resumed = 0;
    for round in 0..20 {
        let seg = segment()?;
        let flags = CreateFlags::DUMPABLE;
        let t = check_ok!(
            libkos::elf::build("big-built", &bytes, &img, DEFAULT_PRIORITY, flags),
            "build a child by hand"
        );
        let rw = VmPerms::READ | VmPerms::WRITE;
        let r = check_ok!(t.vm_reserve(0, BIG, rw), "VmReserve 16 MiB");
        check!(
            t.load_seg(&SegLoad {
                mdl: seg.get(),
                perms: rw,
                vaddr: r,
                mem_size: 4096,
                mdl_offset: 0,
                file_size: 0,
            }) == Err(Rc::AlreadyExists),
            "a segment over reserved memory was loaded"
        );
        check_ok!(t.vm_free(r, BIG), "VmFree it");
        let at = check_ok!(
            t.load_seg(&SegLoad {
                mdl: seg.get(),
                perms: VmPerms::READ,
                vaddr: 0,
                mem_size: SEG_MEM,
                mdl_offset: 0,
                file_size: SEG_FILE,
            }),
            "LoadSeg 16 MiB"
        );
        drop(seg);
        check_ok!(
            t.set_env(format!("role=check-seg={at:x}").as_bytes()),
            "set its role"
        );
        check_ok!(t.resume(), "start it");
        let deadline = now() + utest::CHILD_TIMEOUT_NS;
        let info = loop {
            let info = check_ok!(t.exit_info(), "GetExitInfo");
            match task::status(&info) {
                Some(ExitStatus::Running) if now() < deadline => {
                    let _ = libkos::syscall::sleep_ns(ms(2));
                }
                _ => break info,
            }
        };
        check!(
            task::status(&info) == Some(ExitStatus::Frozen),
            "the child found its segment wrong: {}",
            task::Describe(&info)
        );
        let copy = check_ok!(t.next_vm_region(at), "GetNextVmRegion");
        check!(
            copy.start == at && copy.size == SEG_MEM.next_multiple_of(4096),
            "region {:#x}+{:#x}, not the segment at {at:#x}",
            copy.start,
            copy.size
        );
        let copy = OwnedHandle::new(Handle(copy.mdl));
        let map = check_ok!(mdl::map(copy.get(), false), "map the copy");
        let mut word = [0u8; 8];
        let mut off = 0;
        while off < SEG_MEM {
            let at = off + 4096 - 8;
            check_ok!(map.read(at as usize, &mut word), "read the copy");
            let want = if at < SEG_FILE { seg_word(at) } else { 0 };
            check!(
                u64::from_le_bytes(word) == want,
                "the copy's word {at:#x} is wrong"
            );
            off += 4096;
        }
        check_ok!(mdl::unmap(copy.get(), map), "unmap the copy");
        drop(copy);
        check_ok!(t.terminate_after_freezing(), "end it");
        check_ok!(t.close(), "close it");

        let r = check_ok!(vm::allocate(BIG), "16 MiB of memory");
        // SAFETY: the range is this process's and nothing else refers to
        // it; read-only in between (only read then), freed after the last use.
        let words =
            unsafe { core::slice::from_raw_parts_mut(r.addr as *mut u64, BIG as usize / 8) };
        for (i, w) in words.iter_mut().enumerate().step_by(512) {
            *w = i as u64 + round;
        }
        // SAFETY: only read while read-only.
        check_ok!(
            unsafe { vm::protect(r, VmPerms::READ) },
            "make it read-only"
        );
        for (i, w) in words.iter().enumerate().step_by(512) {
            check!(*w == i as u64 + round, "read-only memory changed");
        }
        // SAFETY: as before it was made read-only.
        check_ok!(
            unsafe { vm::protect(r, VmPerms::READ | VmPerms::WRITE) },
            "writable again"
        );
        words[words.len() - 1] = 1;
        // SAFETY: `words` is not used after this.
        check_ok!(unsafe { vm::free(r) }, "free it");

        let j = check_ok!(
            thread::spawn(thread::normal(DEFAULT_PRIORITY), MAX_STACK_SIZE, || {
                // Deep into the stack: the last of its pages is mapped too.
                let mut deep = [0u8; 64 << 10];
                core::hint::black_box(&mut deep)[0] = 1;
                i64::from(deep[0]) + 41
            }),
            "a thread with the largest stack"
        );
        check!(
            j.join(utest::CHILD_TIMEOUT_NS) == Ok(42),
            "the thread with the largest stack did not end well"
        );
        resumed += check_ok!(libkos::sys::tick_lateness(), "lateness").resumed;
        if resumed > 0 && round >= 1 {
            break;
        }
    }
    check!(
        resumed > 0,
        "no long call stopped for an interrupt in 20 rounds"
    );
    let free_after = check_ok!(libkos::sys::mem_stats(), "mem stats").free_frames;
    check!(
        free_after == free_before,
        "frames: {free_before} free before, {free_after} after"
    );
    Ok(())
}
