//! `kl.core.Task`, whole scenarios: a child built from segments by hand
//! (`libkos::elf`) and one from ROMFS, each given a handle and an
//! environment; a `DUMPABLE` child that crashes and is inspected frozen;
//! ASLR of a position-independent program and `ReseedAslr`; the task list
//! and its notice; process exhaustion and recovery.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use libkos::abi::msg::sysinfo::MemStats;
use libkos::abi::sched::DEFAULT_PRIORITY;
use libkos::abi::task::{CreateFlags, ExitInfo, ExitStatus, FaultKind, Method};
use libkos::abi::vm::VmPerms;
use libkos::handle::{self, OwnedHandle};
use libkos::task::{self, Task};
use libkos::test::TestResult;
use libkos::{Handle, Rc, Rights, check, check_eq, check_ok, elf, mdl, notice, println};
use utest::{CHILD_TIMEOUT_NS, expect_exit, expect_rc, ms, now, refuses, role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));
const PIE: &str = "/tests/utest-pie";
const NOP: &str = "/tests/data/nop";

fn main() -> i32 {
    match role() {
        Some(r) => child(r),
        None => libkos::test::run(
            "utest_task2",
            libkos::tests![
                elf_prepare_refuses_bad_images,
                child_from_segments_and_from_romfs,
                frozen_process_inspected,
                frozen_orphans_are_reclaimed,
                aslr_offsets_and_reseed,
                tasks_list_and_end_notice,
                exhaustion_and_recovery,
            ],
        ),
    }
}

/// What the crash role leaves in d31 (and x-registers) as it faults.
const FP_MARK: u64 = 0x1234_5678_9abc_def0;

/// Where the crash role faults (read back from the frozen thread's PC),
/// with [`FP_MARK`] in d31.
#[inline(never)]
fn crash() -> i32 {
    let p = core::hint::black_box(core::ptr::null_mut::<u64>());
    // SAFETY: deliberately not: a write through a null pointer, to fault;
    // d31 is declared clobbered.
    unsafe {
        core::arch::asm!(
            "fmov d31, {m}",
            "str {m}, [{p}]",
            m = in(reg) FP_MARK,
            p = in(reg) p,
            out("v31") _,
        )
    };
    1
}

fn child(role: &str) -> i32 {
    match role {
        "exit0" => 0,
        "crash" => crash(),
        "crash-later" => {
            // Its creator lets go of it first.
            let _ = libkos::syscall::sleep_ns(ms(20));
            crash()
        }
        r if r.starts_with("signal=") => {
            let Ok(v) = u32::from_str_radix(&r["signal=".len()..], 16) else {
                return 2;
            };
            match notice::signal(Handle(v), 77) {
                Ok(()) => 0,
                Err(e) => {
                    println!("utest-task2 child: signal through {v:#x}: {e}");
                    3
                }
            }
        }
        other => {
            println!("utest-task2: unknown role {other}");
            64
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers

fn romfs(path: &str) -> Result<Vec<u8>, String> {
    libkos::romfs::read_to_vec(path).map_err(|e| format!("read {path}: {e}"))
}

/// Gives `t` the notice `n`, `role=signal=<its value>`, starts it, waits;
/// `Ok` if it exited 0 and its signal arrived.
fn signal_through(t: &Task, n: Handle, what: &str) -> TestResult {
    let rights = Rights::from_bits_retain(check_ok!(handle::identify(n), "identify").rights);
    let v = check_ok!(t.transfer_handle(n, rights, None), "{what}: TransferHandle");
    check_ok!(
        t.set_env(format!("role=signal={:x}", v.0).as_bytes()),
        "{what}: SetEnv"
    );
    check_ok!(t.resume(), "{what}: Resume");
    let info = check_ok!(t.wait(CHILD_TIMEOUT_NS), "{what}: Wait");
    expect_exit(&info, 0).map_err(|e| format!("{what}: {e}"))?;
    let mut ev = [notice::Event::default(); 4];
    let got = check_ok!(notice::wait(n, 0, &mut ev), "{what}: the child's signal");
    check!(
        ev[..got.count].iter().any(|e| e.cookie == 77),
        "{what}: no signal with cookie 77: {:?}",
        &ev[..got.count]
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Building children

fn elf_prepare_refuses_bad_images() -> TestResult {
    for file in [
        "truncated.elf",
        "wrong-machine.elf",
        "overlap.elf",
        "huge.elf",
        "wx.elf",
    ] {
        let bytes = romfs(&format!("/tests/data/{file}"))?;
        expect_rc(
            &format!("elf::prepare({file})"),
            elf::prepare(&bytes, 0),
            Rc::BadExecutable,
        )?;
    }
    expect_rc(
        "elf::prepare(b\"\")",
        elf::prepare(b"", 0),
        Rc::BadExecutable,
    )?;
    let me = romfs(SELF)?;
    let img = check_ok!(elf::prepare(&me, 99), "elf::prepare({SELF})");
    check!(
        !img.position_independent && img.load_offset == 0,
        "ET_EXEC got offset {:#x}",
        img.load_offset
    );
    let pie = romfs(PIE)?;
    let a = check_ok!(elf::prepare(&pie, 1), "elf::prepare({PIE}, 1)");
    let b = check_ok!(elf::prepare(&pie, 2), "elf::prepare({PIE}, 2)");
    check!(a.position_independent, "{PIE} is not ET_DYN");
    check!(
        a.load_offset % 4096 == 0 && a.load_offset != 0 && a.load_offset != b.load_offset,
        "PIE offsets {:#x} (seed 1), {:#x} (seed 2)",
        a.load_offset,
        b.load_offset
    );
    check_eq!(
        check_ok!(elf::prepare(&pie, 1), "again").load_offset,
        a.load_offset,
        "same seed, same offset"
    );
    Ok(())
}

fn child_from_segments_and_from_romfs() -> TestResult {
    let n = OwnedHandle::new(check_ok!(notice::create(), "notice::create"));
    let bytes = romfs(SELF)?;
    let img = check_ok!(elf::prepare(&bytes, 0), "elf::prepare");
    check!(img.symtab.is_some(), "{SELF} has no .symtab");
    let t = check_ok!(
        elf::build(
            "t2-segs",
            &bytes,
            &img,
            DEFAULT_PRIORITY,
            CreateFlags::empty()
        ),
        "elf::build"
    );
    let syms = check_ok!(t.elf_syms(), "GetElfSyms of the hand-built child");
    let _ = handle::close(syms.mdl);
    check_eq!(
        (syms.symtab_size, syms.strtab_size, syms.load_offset),
        (img.symtab.unwrap().1, img.strtab.map_or(0, |s| s.1), 0),
        "GetElfSyms vs the ELF"
    );
    signal_through(&t, n.get(), "built from segments")?;

    let r = check_ok!(
        Task::create("t2-romfs", SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS),
        "Create"
    );
    let syms = check_ok!(r.elf_syms(), "GetElfSyms of the ROMFS child");
    let _ = handle::close(syms.mdl);
    check_eq!(
        syms.symtab_size,
        img.symtab.unwrap().1,
        "ROMFS child's .symtab size"
    );
    signal_through(&r, n.get(), "from ROMFS")
}

// ---------------------------------------------------------------------------
// Frozen

fn wait_frozen(t: &Task) -> Result<ExitInfo, String> {
    let deadline = now() + CHILD_TIMEOUT_NS;
    loop {
        let info = t.exit_info().map_err(|e| format!("GetExitInfo: {e}"))?;
        match task::status(&info) {
            Some(ExitStatus::Running) if now() < deadline => {
                libkos::syscall::sleep_ns(ms(2));
            }
            Some(ExitStatus::Frozen) => return Ok(info),
            _ => {
                return Err(format!("expected Frozen, got {}", task::Describe(&info)));
            }
        }
    }
}

/// A DUMPABLE child started in `role`.
fn start_orphan(role: &str) -> Result<Task, String> {
    let t = Task::create(
        "t2-orphan",
        SELF,
        DEFAULT_PRIORITY,
        CreateFlags::FROM_ROMFS | CreateFlags::DUMPABLE,
    )
    .map_err(|e| format!("Create: {e}"))?;
    t.set_env(format!("role={role}").as_bytes())
        .map_err(|e| format!("SetEnv: {e}"))?;
    t.resume().map_err(|e| format!("Resume: {e}"))?;
    Ok(t)
}

/// More DUMPABLE children (130) than the system has process slots (128) crash and are
/// let go (their only handle closed): each frozen orphan is ended, so the
/// system keeps its processes.
fn frozen_orphans_are_reclaimed() -> TestResult {
    let mem = || libkos::sys::mem_stats().map_err(|e| format!("mem_stats: {e}"));
    let before = mem()?.processes;
    for i in 0..130 {
        let t = start_orphan("crash").map_err(|e| format!("orphan {i}: {e}"))?;
        wait_frozen(&t)?;
        check_ok!(t.close(), "close orphan {i}");
    }
    check_eq!(
        mem()?.processes,
        before,
        "processes after 130 frozen orphans"
    );
    // Orphaned before it froze: nobody can name it when it faults, so it
    // goes then.
    let t = start_orphan("crash-later").map_err(|e| format!("the early orphan: {e}"))?;
    check_ok!(t.close(), "close the early orphan");
    let mut left = mem()?.processes;
    for _ in 0..200 {
        if left == before {
            break;
        }
        let _ = libkos::syscall::sleep_ns(ms(5));
        left = mem()?.processes;
    }
    check_eq!(left, before, "processes after an orphan froze");
    Ok(())
}

fn frozen_process_inspected() -> TestResult {
    let bytes = romfs(SELF)?;
    let img = check_ok!(elf::prepare(&bytes, 0), "elf::prepare");
    let t = check_ok!(
        Task::create(
            "t2-dump",
            SELF,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS | CreateFlags::DUMPABLE
        ),
        "Create DUMPABLE"
    );
    // Not frozen yet (not even started).
    expect_rc("GetThreadContext before", t.thread_context(0), Rc::Busy)?;
    expect_rc("GetNextVmRegion before", t.next_vm_region(0), Rc::Busy)?;
    expect_rc(
        "TerminateAfterFreezing before",
        t.terminate_after_freezing(),
        Rc::Busy,
    )?;
    check_ok!(t.set_env(b"role=crash"), "SetEnv");
    check_ok!(t.resume(), "Resume");
    let info = wait_frozen(&t)?;
    check_eq!(task::fault(&info), FaultKind::NullPointer, "fault kind");
    check_eq!(info.far, 0, "fault address");
    let crash_at = crash as *const () as u64;
    check!(
        (crash_at..crash_at + 64).contains(&info.elr),
        "faulting pc {:#x} not in crash() at {crash_at:#x}",
        info.elr
    );
    // Wait does not return for a frozen process.
    expect_rc("Wait on a frozen process", t.wait(ms(5)), Rc::Timeout)?;

    let ctx = check_ok!(t.thread_context(0), "GetThreadContext 0");
    check_eq!(ctx.pc, info.elr, "thread 0's pc vs the fault's");
    check_eq!(ctx.q[31] as u64, FP_MARK, "thread 0's d31 (FP/SIMD state)");
    check!(
        ctx.sp != 0 && ctx.sp % 16 == 0,
        "thread 0's sp {:#x}",
        ctx.sp
    );
    expect_rc(
        "GetThreadContext past the last thread",
        t.thread_context(1),
        Rc::ResourceNotFound,
    )?;
    refuses(
        "GetThreadContext",
        t.handle(),
        Method::GetThreadContext,
        |h| task::get_thread_context(h, 0),
    )?;
    refuses(
        "GetNextVmRegion",
        t.handle(),
        Method::GetNextVmRegion,
        |h| task::get_next_vm_region(h, 0),
    )?;

    // Walk the regions; read the code around the faulting pc from its copy.
    let text = img
        .segments
        .iter()
        .find(|s| (s.vaddr..s.vaddr + s.mem_size).contains(&info.elr))
        .copied();
    let Some(text) = text else {
        return Err(format!("pc {:#x} outside the ELF's segments", info.elr));
    };
    let mut after = 0;
    let mut regions = 0;
    let mut code_checked = false;
    let mut stack_seen = false;
    loop {
        let r = match t.next_vm_region(after) {
            Ok(r) => r,
            Err(Rc::ResourceNotFound) => break,
            Err(e) => return Err(format!("GetNextVmRegion({after:#x}): {e}")),
        };
        regions += 1;
        check!(
            regions < 64,
            "more than 64 regions: the walk does not advance"
        );
        check!(
            r.start >= after && r.size > 0,
            "region {:#x}+{:#x} after {after:#x}",
            r.start,
            r.size
        );
        if r.perms == 0 {
            check_eq!(r.mdl, u32::MAX, "a guard region's MDL");
        } else {
            let m = OwnedHandle::new(Handle(r.mdl));
            if (r.start..r.start + r.size).contains(&info.elr) {
                check!(
                    VmPerms::from_bits_retain(r.perms).contains(VmPerms::EXEC),
                    "the code region is not executable: {:#x}",
                    r.perms
                );
                let map = check_ok!(mdl::map(m.get(), false), "map the code copy");
                let mut got = [0u8; 16];
                let read = map.read((info.elr - r.start) as usize, &mut got);
                check_ok!(mdl::unmap(m.get(), map), "unmap");
                check_ok!(read, "read the code copy");
                let at = (text.file_offset + (info.elr - text.vaddr)) as usize;
                check!(
                    got[..] == bytes[at..at + 16],
                    "the region's bytes at the pc differ from the file's"
                );
                code_checked = true;
            }
            stack_seen |= (r.start..r.start + r.size).contains(&ctx.sp);
        }
        after = r.start + r.size;
    }
    check!(code_checked, "no region held the faulting pc");
    check!(stack_seen, "no region held thread 0's sp {:#x}", ctx.sp);

    refuses(
        "TerminateAfterFreezing",
        t.handle(),
        Method::TerminateAfterFreezing,
        task::terminate_after_freezing,
    )?;
    // Terminate does not end a frozen process: only TerminateAfterFreezing
    // (and its right) does.
    expect_rc("Terminate of a frozen process", t.terminate(), Rc::Busy)?;
    check_eq!(
        task::status(&check_ok!(t.exit_info(), "GetExitInfo")),
        Some(ExitStatus::Frozen),
        "still frozen"
    );
    check_ok!(t.terminate_after_freezing(), "TerminateAfterFreezing");
    let end = check_ok!(
        t.wait(CHILD_TIMEOUT_NS),
        "Wait after TerminateAfterFreezing"
    );
    check_eq!(
        task::status(&end),
        Some(ExitStatus::Exception),
        "final status"
    );
    check_eq!(
        (task::fault(&end), end.elr),
        (FaultKind::NullPointer, info.elr),
        "final fault"
    );
    expect_rc(
        "TerminateAfterFreezing twice",
        t.terminate_after_freezing(),
        Rc::Busy,
    )?;
    expect_rc(
        "GetThreadContext after the end",
        t.thread_context(0),
        Rc::Busy,
    )
}

// ---------------------------------------------------------------------------
// ASLR

/// Creates the PIE program, reads its load offset, runs it (it checks its
/// own relocations and offset), returns the offset.
fn pie_offset(name: &str) -> Result<u64, String> {
    let t = Task::create(name, PIE, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
        .map_err(|e| format!("create {PIE}: {e}"))?;
    let s = t.elf_syms().map_err(|e| format!("GetElfSyms: {e}"))?;
    let _ = handle::close(s.mdl);
    t.set_env(b"role=child")
        .map_err(|e| format!("set_env: {e}"))?;
    t.resume().map_err(|e| format!("resume: {e}"))?;
    let info = t.wait(CHILD_TIMEOUT_NS).map_err(|e| format!("wait: {e}"))?;
    expect_exit(&info, 0).map_err(|e| format!("{PIE} at {:#x}: {e}", s.load_offset))?;
    if s.load_offset == 0 || s.load_offset % 4096 != 0 {
        return Err(format!("load offset {:#x}", s.load_offset));
    }
    Ok(s.load_offset)
}

fn aslr_offsets_and_reseed() -> TestResult {
    let a = pie_offset("t2-pie-a")?;
    let b = pie_offset("t2-pie-b")?;
    check!(a != b, "two starts at the same offset {a:#x}");
    refuses("ReseedAslr", Handle::SELF_TASK, Method::ReseedAslr, |h| {
        task::reseed_aslr(h, 1)
    })?;
    check_ok!(task::reseed_aslr(Handle::SELF_TASK, 0x5eed), "ReseedAslr");
    let c = pie_offset("t2-pie-c")?;
    check_ok!(
        task::reseed_aslr(Handle::SELF_TASK, 0x5eed),
        "ReseedAslr again"
    );
    let d = pie_offset("t2-pie-d")?;
    check_eq!(c, d, "offsets after the same seed");
    check_ok!(
        task::reseed_aslr(Handle::SELF_TASK, 0x5eee),
        "ReseedAslr other"
    );
    let e = pie_offset("t2-pie-e")?;
    check!(e != c, "another seed gave the same offset {e:#x}");
    // An ET_EXEC program's offset is 0.
    let t = check_ok!(
        Task::create("t2-exec", NOP, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS),
        "create {NOP}"
    );
    let s = check_ok!(t.elf_syms(), "GetElfSyms of {NOP}");
    let _ = handle::close(s.mdl);
    check_eq!(s.load_offset, 0, "ET_EXEC load offset");
    Ok(())
}

// ---------------------------------------------------------------------------
// The task list

fn tasks_list_and_end_notice() -> TestResult {
    let a = check_ok!(
        Task::create("t2-list-a", SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS),
        "create a"
    );
    let b = check_ok!(
        Task::create("t2-list-b", NOP, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS),
        "create b"
    );
    let list = check_ok!(task::get_tasks_list(Handle::SELF_TASK), "GetTasksList");
    let notice = OwnedHandle::new(list.notice);
    for (t, name, path) in [(&a, "t2-list-a", SELF), (&b, "t2-list-b", NOP)] {
        let e = list
            .entries
            .iter()
            .find(|e| task::entry_text(&e.name) == name);
        let Some(e) = e else {
            let names: Vec<&str> = list
                .entries
                .iter()
                .map(|e| task::entry_text(&e.name))
                .collect();
            return Err(format!("{name} not in the list: {names:?}"));
        };
        check_eq!(e.pid, t.created_pid(), "{name}'s pid");
        check_eq!(task::entry_text(&e.path), path, "{name}'s path");
        check_eq!(e.status, ExitStatus::Running as u32, "{name}'s status");
    }
    let own_pid = check_ok!(task::get_pid(Handle::SELF_TASK), "own pid");
    check!(
        list.entries.iter().any(|e| u64::from(e.pid) == own_pid),
        "this process ({own_pid}) is not in the list"
    );
    // Any Task handle with the right will do.
    let via_child = check_ok!(a.tasks_list(), "GetTasksList through a child's handle");
    let _ = handle::close(via_child.notice);
    refuses(
        "GetTasksList",
        a.handle(),
        Method::GetTasksList,
        task::get_tasks_list,
    )?;

    // b ends: the list's notice hears its pid.
    check_ok!(b.resume(), "resume b");
    expect_exit(&check_ok!(b.wait(CHILD_TIMEOUT_NS), "wait b"), 0)?;
    let pid_b = u64::from(b.created_pid());
    let deadline = now() + CHILD_TIMEOUT_NS;
    let mut seen = Vec::new();
    loop {
        let mut ev = [notice::Event::default(); 8];
        let got = match notice::wait(notice.get(), ms(100), &mut ev) {
            Ok(got) => got,
            Err(Rc::Timeout) if now() < deadline => continue,
            Err(e) => return Err(format!("the list's notice: {e}; heard {seen:?}")),
        };
        seen.extend(ev[..got.count].iter().map(|e| (e.cookie, e.event)));
        if seen.contains(&(pid_b, notice::OBJECT_DESTROYED)) {
            break;
        }
    }
    // a never ran: end it without a notice check.
    drop(a);
    Ok(())
}

// ---------------------------------------------------------------------------
// Exhaustion

/// Creates `nop` processes (not started) until the kernel refuses, then
/// closes them all; returns how many were made and the refusal.
fn exhaust(names: &[String], tasks: &mut Vec<Task>) -> Result<(usize, Rc), String> {
    let mut refused = None;
    for name in names {
        match Task::create(name, NOP, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS) {
            Ok(t) => tasks.push(t),
            Err(rc) => {
                refused = Some(rc);
                break;
            }
        }
    }
    let made = tasks.len();
    let mut failures = Vec::new();
    for t in tasks.drain(..) {
        if let Err(e) = t.close() {
            failures.push(format!("close: {e}"));
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    match refused {
        Some(rc @ (Rc::QuotaExceeded | Rc::OutOfMemory)) if made > 0 => Ok((made, rc)),
        other => Err(format!(
            "creating {} processes ended with {other:?} after {made}",
            names.len()
        )),
    }
}

/// MemStats once they stop changing (teardown may be deferred), at most 2 s.
fn settled(want: &MemStats) -> Result<MemStats, String> {
    let deadline = now() + ms(2000);
    loop {
        let s = libkos::sys::mem_stats().map_err(|e| format!("mem_stats: {e}"))?;
        if s == *want || now() > deadline {
            return Ok(s);
        }
        libkos::syscall::sleep_ns(ms(10));
    }
}

fn exhaustion_and_recovery() -> TestResult {
    let names: Vec<String> = (0..300).map(|i| format!("t2-q-{i:03}")).collect();
    let mut tasks: Vec<Task> = Vec::with_capacity(names.len());
    // Round 1 grows whatever grows to its peak (kernel tables sized for the
    // most processes, heap pages kept); round 2 must give back exactly what
    // it took.
    let start = check_ok!(libkos::sys::mem_stats(), "mem_stats at the start");
    let (made1, rc1) = exhaust(&names, &mut tasks)?;
    let after1 = settled(&start)?;
    check_eq!(
        after1.processes,
        start.processes,
        "live processes after round 1"
    );
    check_eq!(after1.threads, start.threads, "live threads after round 1");
    let before = after1;
    let (made2, rc2) = exhaust(&names, &mut tasks)?;
    let after = settled(&before)?;
    println!(
        "utest-task2: {made1} processes, then {rc1}; again {made2}, then {rc2}; \
         round 1 kept {} frames and {} kernel heap bytes",
        start.free_frames as i64 - before.free_frames as i64,
        before.heap_used as i64 - start.heap_used as i64
    );
    check_eq!(made2, made1, "processes created in round 2 vs round 1");
    check_eq!(after.processes, before.processes, "live processes");
    check_eq!(after.threads, before.threads, "live threads");
    check_eq!(after.heap_used, before.heap_used, "kernel heap bytes used");
    check_eq!(after.free_frames, before.free_frames, "free frames");
    // The system still runs programs.
    let t = check_ok!(
        Task::create("t2-q-after", NOP, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS),
        "create after exhaustion"
    );
    check_ok!(t.resume(), "resume after exhaustion");
    expect_exit(&check_ok!(t.wait(CHILD_TIMEOUT_NS), "wait"), 0)
}
