//! `kl.core.Task`, method by method: each one succeeds once and fails in
//! each way it can — its right missing from the handle's mask (a copy of
//! the Task handle without that one bit: `rcNoCapability`), a handle that is
//! not a Task (`rcWrongType`), the target already running (`rcBusy`), bad
//! addresses, sizes and executables. Frozen processes, ASLR, the task list,
//! building from segments and exhaustion are in `utest-task2`.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use libkos::abi::sched::{DEFAULT_PRIORITY, MAX_PRIORITY, SchedClass, SchedPolicy};
use libkos::abi::task::{CreateFlags, ExitStatus, MAX_SYMS, Method};
use libkos::abi::vm::{MAX_STACK_SIZE, PAGE_SIZE, USER_END, VmPerms};
use libkos::handle::{self, OwnedHandle};
use libkos::task::{self, FOREVER, SegLoad, Task};
use libkos::test::TestResult;
use libkos::{Handle, Rc, Rights, badge, check, check_eq, check_ok, elf, mdl, notice, println};
use utest::{CHILD_TIMEOUT_NS, expect_exit, expect_rc, ms, not_a_task, refuses, role, without};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

fn main() -> i32 {
    match role() {
        Some(r) => child(r),
        None => libkos::test::run(
            "utest_task",
            libkos::tests![
                create_ok_and_errors,
                create_bad_executables,
                vm_reserve_and_free,
                load_seg_and_set_entry,
                resume_errors,
                elf_hdr_and_syms,
                transfer_handle_and_set_env,
                exit_and_free_self_env,
                names_and_pid,
                initial_priority_and_policy,
                terminate_exit_info_and_wait,
                running_process_refuses_preparation,
                initial_rights_least_by_default,
                budgets_narrowed_by_the_creator,
            ],
        ),
    }
}

fn child(role: &str) -> i32 {
    match role {
        "exit0" => 0,
        "exit7" => 7,
        "spin" => loop {
            libkos::syscall::sleep_ns(ms(1000));
        },
        r if r.starts_with("signal=") => {
            // The transferred notice's value, in hex, after `signal=`.
            let Ok(v) = u32::from_str_radix(&r["signal=".len()..], 16) else {
                return 2;
            };
            match notice::signal(Handle(v), 77) {
                Ok(()) => 0,
                Err(e) => {
                    println!("utest-task child: signal through {v:#x}: {e}");
                    3
                }
            }
        }
        "exit-no-right" => {
            // Exit through a copy of the own handle without the Exit right
            // is refused; the process goes on.
            let Ok(h) = without(Handle::SELF_TASK, Method::Exit) else {
                return 2;
            };
            let rc = task::exit_via(h.get(), 9);
            if rc != Rc::NoCapability {
                println!("utest-task child: Exit without the right: {rc}");
                return 3;
            }
            0
        }
        "free-env" => {
            let Ok(h) = without(Handle::SELF_TASK, Method::FreeSelfEnv) else {
                return 2;
            };
            // SAFETY: `role` (in the environment) is not used after the
            // environment is freed.
            if unsafe { task::free_self_env(h.get()) } != Err(Rc::NoCapability) {
                return 3;
            }
            // SAFETY: as above.
            if unsafe { task::free_self_env(Handle::SELF_TASK) }.is_err() {
                return 4;
            }
            0
        }
        r if r.starts_with("rights=") => rights_child(&r["rights=".len()..]),
        "start-two" => start_two(),
        other => {
            println!("utest-task: unknown role {other}");
            64
        }
    }
}

/// A child told which rights it should hold (`<task hex>:<kernel hex>`):
/// it checks that it holds exactly those, that they mean what they say
/// (Create and SysInfo.MemStats work exactly when it holds their right),
/// and that it can give a child of its own no more than it holds. Exit
/// code 0 if all holds.
fn rights_child(want: &str) -> i32 {
    let parse = |s: Option<&str>| s.and_then(|s| u32::from_str_radix(s, 16).ok());
    let mut parts = want.split(':');
    let (Some(t), Some(k)) = (parse(parts.next()), parse(parts.next())) else {
        return 2;
    };
    let (t, k) = (Rights::from_bits_retain(t), Rights::from_bits_retain(k));
    let held = |h| handle::identify(h).map(|i| Rights::from_bits_retain(i.rights));
    if held(Handle::SELF_TASK) != Ok(t) || held(Handle::KERNEL) != Ok(k) {
        println!(
            "utest-task rights child: holds {:?} and {:?}, expected {t:?} and {k:?}",
            held(Handle::SELF_TASK),
            held(Handle::KERNEL)
        );
        return 3;
    }
    let stats = libkos::sys::mem_stats().map(drop);
    if stats
        != (if k.contains(Rights::SYSINFO) {
            Ok(())
        } else {
            Err(Rc::NoCapability)
        })
    {
        println!("utest-task rights child: MemStats {stats:?} holding {k:?}");
        return 4;
    }
    let kid = Task::create(
        "t-rights-kid",
        SELF,
        DEFAULT_PRIORITY,
        CreateFlags::FROM_ROMFS,
    );
    match kid {
        Err(Rc::NoCapability) if !t.contains(Rights::task(Method::Create)) => 0,
        Ok(kid) if t.contains(Rights::task(Method::Create)) => {
            // Not beyond its own, on itself or on the kernel; its own is fine.
            let beyond_task = kid.set_initial_rights(Rights::all(), k);
            let beyond_kernel = kid.set_initial_rights(t, k | Rights::AUDIT);
            let own = kid.set_initial_rights(t, k);
            let _ = kid.close();
            if beyond_task != Err(Rc::NoCapability)
                || beyond_kernel != Err(Rc::NoCapability)
                || own != Ok(())
            {
                println!(
                    "utest-task rights child: giving more: {beyond_task:?}, {beyond_kernel:?}; its own: {own:?}"
                );
                return 5;
            }
            0
        }
        other => {
            println!("utest-task rights child: Create {other:?} holding {t:?}");
            6
        }
    }
}

/// A child whose budget allows one process: it starts one, and is refused
/// a second while the first exists (rcQuotaExceeded); exit code 0 if so.
fn start_two() -> i32 {
    let create = |name| Task::create(name, SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS);
    let first = match create("t-budget-kid1") {
        Ok(t) => t,
        Err(e) => {
            println!("utest-task budget child: the first child: {e}");
            return 2;
        }
    };
    let second = create("t-budget-kid2").map(drop);
    let used = task::get_budget(Handle::SELF_TASK).map(|b| b.used.processes);
    let _ = first.close();
    if second != Err(Rc::QuotaExceeded) || used != Ok(1) {
        println!("utest-task budget child: the second child: {second:?}, processes held {used:?}");
        return 3;
    }
    0
}

// ---------------------------------------------------------------------------
// Helpers

/// A copy of `h` without the generic right `r`.
fn without_generic(h: Handle, r: Rights) -> Result<OwnedHandle, Rc> {
    let rights = Rights::from_bits_retain(handle::identify(h)?.rights);
    handle::copy(h, rights - r).map(OwnedHandle::new)
}

fn romfs_child(name: &str) -> Result<Task, String> {
    Task::create(name, SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
        .map_err(|e| format!("create {name}: {e}"))
}

fn empty_child(name: &str) -> Result<Task, String> {
    Task::create_empty(name, DEFAULT_PRIORITY, CreateFlags::empty())
        .map_err(|e| format!("create empty {name}: {e}"))
}

/// Starts `t` with `role=<role>`, waits for its end.
fn run(t: &Task, role: &str) -> Result<libkos::abi::task::ExitInfo, String> {
    t.set_env(format!("role={role}").as_bytes())
        .map_err(|e| format!("set_env {role}: {e}"))?;
    t.resume().map_err(|e| format!("resume {role}: {e}"))?;
    t.wait(CHILD_TIMEOUT_NS)
        .map_err(|e| format!("wait {role}: {e}"))
}

const RW: VmPerms = VmPerms::READ.union(VmPerms::WRITE);
const RX: VmPerms = VmPerms::READ.union(VmPerms::EXEC);
const RWX: VmPerms = RW.union(VmPerms::EXEC);

// ---------------------------------------------------------------------------
// Create

fn create_ok_and_errors() -> TestResult {
    let t = romfs_child("t-create")?;
    check!(t.created_pid() != 0, "Create returned pid 0");
    check_eq!(
        check_ok!(t.pid(), "GetPid"),
        u64::from(t.created_pid()),
        "GetPid vs Create's pid"
    );
    expect_rc(
        "Create with a live process's name",
        Task::create("t-create", SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS),
        Rc::AlreadyExists,
    )?;
    expect_exit(&run(&t, "exit0")?, 0)?;
    check_ok!(t.close(), "close");

    expect_rc(
        "Create of a missing path",
        Task::create(
            "t-missing",
            "/tests/no-such",
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        ),
        Rc::ResourceNotFound,
    )?;
    expect_rc(
        "Create with priority 32",
        Task::create("t-prio", SELF, MAX_PRIORITY + 1, CreateFlags::FROM_ROMFS),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "Create with a stack over 8 MiB",
        Task::create_ex(
            "t-stack",
            SELF,
            MAX_STACK_SIZE + PAGE_SIZE,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        ),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "Create CRITICAL (not einit)",
        Task::create(
            "t-critical",
            SELF,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS | CreateFlags::CRITICAL,
        ),
        Rc::NoCapability,
    )?;
    refuses("Create", Handle::SELF_TASK, Method::Create, |h| {
        task::create_via(
            h,
            "t-noright",
            "",
            SELF,
            0,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        )
    })
}

fn create_bad_executables() -> TestResult {
    for file in [
        "truncated.elf",
        "wrong-machine.elf",
        "overlap.elf",
        "huge.elf",
        "wx.elf",
    ] {
        let path = format!("/tests/data/{file}");
        check!(
            libkos::romfs::read(&path, 0, &mut [0u8; 4]).is_ok(),
            "{path} is not in the ROMFS"
        );
        expect_rc(
            &format!("Create from {path}"),
            Task::create("t-bad", &path, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS),
            Rc::BadExecutable,
        )?;
    }
    // Not an ELF at all.
    expect_rc(
        "Create from /etc/motd",
        Task::create(
            "t-bad",
            "/etc/motd",
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        ),
        Rc::BadExecutable,
    )
}

// ---------------------------------------------------------------------------
// Preparing an empty process

fn vm_reserve_and_free() -> TestResult {
    let t = empty_child("t-vm")?;
    let a = check_ok!(t.vm_reserve(0, 2 * PAGE_SIZE, RW), "VmReserve anywhere");
    check!(a != 0 && a % PAGE_SIZE == 0, "VmReserve chose {a:#x}");
    let fixed = 0x4000_0000;
    check_eq!(
        check_ok!(
            t.vm_reserve(fixed, PAGE_SIZE, VmPerms::READ),
            "VmReserve at {fixed:#x}"
        ),
        fixed,
        "VmReserve's address"
    );
    expect_rc(
        "VmReserve overlapping",
        t.vm_reserve(fixed, PAGE_SIZE, VmPerms::READ),
        Rc::AlreadyExists,
    )?;
    expect_rc(
        "VmReserve W+X",
        t.vm_reserve(0, PAGE_SIZE, RWX),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "VmReserve size 0",
        t.vm_reserve(0, 0, RW),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "VmReserve misaligned",
        t.vm_reserve(fixed + 0x10_0010, PAGE_SIZE, RW),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "VmReserve beyond user space",
        t.vm_reserve(USER_END, PAGE_SIZE, RW),
        Rc::BadAddress,
    )?;
    refuses("VmReserve", t.handle(), Method::VmReserve, |h| {
        task::vm_reserve(h, 0, PAGE_SIZE, RW)
    })?;

    expect_rc(
        "VmFree of part of a region",
        t.vm_free(a, PAGE_SIZE),
        Rc::InvalidArgument,
    )?;
    refuses("VmFree", t.handle(), Method::VmFree, |h| {
        task::vm_free(h, a, 2 * PAGE_SIZE)
    })?;
    check_ok!(t.vm_free(a, 2 * PAGE_SIZE), "VmFree");
    check_ok!(t.vm_free(fixed, PAGE_SIZE), "VmFree at {fixed:#x}");
    expect_rc(
        "VmFree twice",
        t.vm_free(fixed, PAGE_SIZE),
        Rc::InvalidArgument,
    )?;
    // The freed range may be reserved again.
    check_ok!(
        t.vm_reserve(fixed, PAGE_SIZE, VmPerms::READ),
        "VmReserve after VmFree"
    );
    check_ok!(t.close(), "close");
    Ok(())
}

fn load_seg_and_set_entry() -> TestResult {
    let t = empty_child("t-seg")?;
    let bytes: Vec<u8> = (0..2 * PAGE_SIZE as usize).map(|i| i as u8).collect();
    let m = check_ok!(elf::mdl_with(&bytes), "MDL");
    let seg = |vaddr, perms, mem_size, mdl_offset, file_size| SegLoad {
        mdl: m.get(),
        perms,
        vaddr,
        mem_size,
        mdl_offset,
        file_size,
    };
    let data = seg(0x5000_0010, VmPerms::READ, 0x2000, 0, 0x100);
    check_eq!(
        check_ok!(t.load_seg(&data), "LoadSeg"),
        0x5000_0000,
        "LoadSeg's base"
    );
    expect_rc("LoadSeg overlapping", t.load_seg(&data), Rc::AlreadyExists)?;
    // Address 0: the kernel picks a free, page-aligned one each time.
    let a = check_ok!(
        t.load_seg(&seg(0, VmPerms::READ, 0x1800, 0, 0x100)),
        "LoadSeg at 0"
    );
    let b = check_ok!(
        t.load_seg(&seg(0, VmPerms::READ, 0x1000, 0, 0x100)),
        "LoadSeg at 0 again"
    );
    check!(
        a != 0 && b != 0 && a != b && a.is_multiple_of(PAGE_SIZE) && b.is_multiple_of(PAGE_SIZE),
        "LoadSeg at 0 placed them at {a:#x} and {b:#x}"
    );
    expect_rc(
        "LoadSeg file_size > mem_size",
        t.load_seg(&seg(0x5100_0000, VmPerms::READ, 0x100, 0, 0x200)),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "LoadSeg beyond the MDL",
        t.load_seg(&seg(
            0x5100_0000,
            VmPerms::READ,
            0x1000,
            2 * PAGE_SIZE - 8,
            16,
        )),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "LoadSeg W+X",
        t.load_seg(&seg(0x5100_0000, RWX, 0x1000, 0, 0x10)),
        Rc::InvalidArgument,
    )?;
    let wrong = not_a_task()?;
    expect_rc(
        "LoadSeg from a notice (not an MDL)",
        t.load_seg(&SegLoad {
            mdl: wrong.get(),
            ..seg(0x5100_0000, VmPerms::READ, 0x1000, 0, 0x10)
        }),
        Rc::WrongType,
    )?;
    let unreadable = check_ok!(
        without_generic(m.get(), Rights::MAP_READ),
        "MDL copy without MAP_READ"
    );
    expect_rc(
        "LoadSeg from an MDL without MAP_READ",
        t.load_seg(&SegLoad {
            mdl: unreadable.get(),
            ..seg(0x5100_0000, VmPerms::READ, 0x1000, 0, 0x10)
        }),
        Rc::NoCapability,
    )?;
    refuses("LoadSeg", t.handle(), Method::LoadSeg, |h| {
        task::load_seg(h, &seg(0x5200_0000, VmPerms::READ, 0x1000, 0, 0x10))
    })?;

    // SetEntry: only into executable memory.
    expect_rc(
        "SetEntry into a read-only segment",
        t.set_entry(0x5000_0010, 0),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "SetEntry into unmapped memory",
        t.set_entry(0x7000_0000, 0),
        Rc::InvalidArgument,
    )?;
    check_ok!(
        t.load_seg(&seg(0x6000_0000, RX, 0x1000, 0, 0x1000)),
        "LoadSeg R+X"
    );
    refuses("SetEntry", t.handle(), Method::SetEntry, |h| {
        task::set_entry(h, 0x6000_0000, 0)
    })?;
    check_ok!(t.set_entry(0x6000_0000, 0), "SetEntry");
    // Not started: its garbage code never runs.
    check_ok!(t.close(), "close");
    Ok(())
}

fn resume_errors() -> TestResult {
    let t = empty_child("t-noentry")?;
    expect_rc(
        "Resume of an empty process without SetEntry",
        t.resume(),
        Rc::InvalidArgument,
    )?;
    check_ok!(t.close(), "close");
    let t = romfs_child("t-resume")?;
    check_ok!(t.set_env(b"role=exit0"), "SetEnv");
    refuses("Resume", t.handle(), Method::Resume, task::resume)?;
    check_ok!(t.resume(), "Resume");
    expect_rc("Resume twice", t.resume(), Rc::Busy)?;
    expect_exit(&check_ok!(t.wait(CHILD_TIMEOUT_NS), "Wait"), 0)?;
    expect_rc("Resume after the end", t.resume(), Rc::Busy)
}

fn elf_hdr_and_syms() -> TestResult {
    let mut head = vec![0u8; 4096];
    check_ok!(libkos::romfs::read(SELF, 0, &mut head), "read {SELF}");
    // [0, 4096): the ELF's first page; then a 2-symbol .symtab, a .strtab.
    let mut blob = head.clone();
    let symtab_at = blob.len() as u64;
    blob.extend_from_slice(&[0u8; 48]);
    blob[symtab_at as usize + 24] = 1; // st_name of symbol 1 = "a"
    let strtab_at = blob.len() as u64;
    blob.extend_from_slice(b"\0a\0");
    let m = check_ok!(elf::mdl_with(&blob), "MDL");
    let t = empty_child("t-syms")?;

    expect_rc(
        "GetElfHdr before LoadElfHdr",
        t.elf_hdr(),
        Rc::ResourceNotFound,
    )?;
    check_ok!(t.load_elf_hdr(m.get(), 0, 64), "LoadElfHdr");
    // What it stored is what the process is known by.
    check_eq!(
        check_ok!(t.elf_hdr(), "GetElfHdr"),
        head[..64].to_vec(),
        "GetElfHdr after LoadElfHdr"
    );
    refuses("GetElfHdr", t.handle(), Method::GetElfSyms, |h| {
        task::get_elf_hdr(h)
    })?;
    // A program the kernel loaded: its file's headers, also for itself.
    let own = check_ok!(task::get_elf_hdr(Handle::SELF_TASK), "own GetElfHdr");
    check!(
        own.len() >= 64 && head.starts_with(&own),
        "own headers ({} bytes) are not {SELF}'s first bytes",
        own.len()
    );
    expect_rc(
        "LoadElfHdr over 4096 bytes",
        t.load_elf_hdr(m.get(), 0, 4097),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "LoadElfHdr without the ELF magic",
        t.load_elf_hdr(m.get(), 8, 64),
        Rc::BadExecutable,
    )?;
    refuses("LoadElfHdr", t.handle(), Method::LoadElfHdr, |h| {
        task::load_elf_hdr(h, m.get(), 0, 64)
    })?;

    expect_rc(
        "GetElfSyms before LoadElfSyms",
        t.elf_syms(),
        Rc::ResourceNotFound,
    )?;
    expect_rc(
        "LoadElfSyms with a .symtab not a multiple of 24",
        t.load_elf_syms(m.get(), (symtab_at, 40), (strtab_at, 3)),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "LoadElfSyms over MAX_SYMS",
        t.load_elf_syms(m.get(), (0, MAX_SYMS + 24), (strtab_at, 3)),
        Rc::InvalidArgument,
    )?;
    refuses("LoadElfSyms", t.handle(), Method::LoadElfSyms, |h| {
        task::load_elf_syms(h, m.get(), (symtab_at, 48), (strtab_at, 3))
    })?;
    check_ok!(
        t.load_elf_syms(m.get(), (symtab_at, 48), (strtab_at, 3)),
        "LoadElfSyms"
    );

    // The seed's form: each table in an MDL of its own.
    let two = empty_child("t-syms2")?;
    let strs = check_ok!(
        elf::mdl_with(&blob[strtab_at as usize..]),
        "an MDL of .strtab"
    );
    check_ok!(
        task::load_elf_syms_from(two.handle(), (m.get(), symtab_at, 48), (strs.get(), 0, 3)),
        "LoadElfSyms from two MDLs"
    );
    expect_rc(
        "LoadElfSyms with .strtab beyond its MDL",
        task::load_elf_syms_from(
            two.handle(),
            (m.get(), symtab_at, 48),
            (strs.get(), 4095, 3),
        ),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "LoadElfSyms with a closed .strtab MDL",
        task::load_elf_syms_from(
            two.handle(),
            (m.get(), symtab_at, 48),
            (Handle(0x7777), 0, 3),
        ),
        Rc::InvalidHandle,
    )?;
    let two_syms = check_ok!(two.elf_syms(), "GetElfSyms of the second");
    let owned2 = OwnedHandle::new(two_syms.mdl);
    let map = check_ok!(mdl::map(owned2.get(), false), "map");
    let mut got2 = [0u8; 51];
    let read = map.read(0, &mut got2);
    check_ok!(mdl::unmap(owned2.get(), map), "unmap");
    check_ok!(read, "read");
    check!(
        got2[..] == blob[symtab_at as usize..],
        "the tables from two MDLs differ from what was given"
    );
    drop(owned2);
    check_ok!(two.close(), "close the second");

    let syms = check_ok!(t.elf_syms(), "GetElfSyms");
    let owned = OwnedHandle::new(syms.mdl);
    check_eq!(
        (syms.symtab_size, syms.strtab_size, syms.load_offset),
        (48, 3, 0),
        "GetElfSyms sizes and offset"
    );
    let map = check_ok!(mdl::map(owned.get(), false), "map the symbols' MDL");
    let mut got = [0u8; 51];
    let read = map.read(0, &mut got);
    check_ok!(mdl::unmap(owned.get(), map), "unmap");
    check_ok!(read, "read the symbols");
    check!(
        got[..] == blob[symtab_at as usize..],
        "GetElfSyms bytes differ from what LoadElfSyms gave"
    );
    refuses(
        "GetElfSyms",
        t.handle(),
        Method::GetElfSyms,
        task::get_elf_syms,
    )?;
    check_ok!(t.close(), "close");
    Ok(())
}

// ---------------------------------------------------------------------------
// Handles and environment

fn transfer_handle_and_set_env() -> TestResult {
    let n = OwnedHandle::new(check_ok!(notice::create(), "notice::create"));
    let n_rights =
        Rights::from_bits_retain(check_ok!(handle::identify(n.get()), "identify").rights);
    let t = romfs_child("t-transfer")?;

    let narrow = OwnedHandle::new(check_ok!(
        handle::copy(n.get(), Rights::READ_EVENTS | Rights::COPY),
        "narrow copy"
    ));
    expect_rc(
        "TransferHandle with more rights than the handle has",
        t.transfer_handle(narrow.get(), n_rights, None),
        Rc::NoCapability,
    )?;
    let no_copy = OwnedHandle::new(check_ok!(
        handle::copy(n.get(), Rights::READ_EVENTS),
        "copy without COPY"
    ));
    expect_rc(
        "TransferHandle of a handle without COPY",
        t.transfer_handle(no_copy.get(), Rights::READ_EVENTS, None),
        Rc::NoCapability,
    )?;
    refuses("TransferHandle", t.handle(), Method::TransferHandle, |h| {
        task::transfer_handle(h, n.get(), n_rights, None)
    })?;
    // With a badge too.
    let b = OwnedHandle::new(check_ok!(badge::create(5, None, 0), "badge::create"));
    check_ok!(
        t.transfer_handle(n.get(), n_rights, Some(b.get())),
        "TransferHandle with a badge"
    );
    let v = check_ok!(t.transfer_handle(n.get(), n_rights, None), "TransferHandle");

    refuses("SetEnv", t.handle(), Method::SetEnv, |h| {
        task::set_env(h, b"role=exit0")
    })?;
    let info = run(&t, &format!("signal={:x}", v.0))?;
    expect_exit(&info, 0)?;
    let mut ev = [notice::Event::default(); 4];
    let got = check_ok!(notice::wait(n.get(), 0, &mut ev), "the child's signal");
    check!(
        ev[..got.count]
            .iter()
            .any(|e| e.cookie == 77 && e.event == notice::USER),
        "no USER event with cookie 77 on the notice: {:?}",
        &ev[..got.count]
    );
    Ok(())
}

fn exit_and_free_self_env() -> TestResult {
    let t = romfs_child("t-exit7")?;
    expect_exit(&run(&t, "exit7")?, 7)?;
    let t = romfs_child("t-exit-noright")?;
    expect_exit(&run(&t, "exit-no-right")?, 0)?;
    let t = romfs_child("t-free-env")?;
    expect_exit(&run(&t, "free-env")?, 0)
}

// ---------------------------------------------------------------------------
// Queries and the initial thread

fn names_and_pid() -> TestResult {
    let t = romfs_child("t-names")?;
    check_eq!(check_ok!(t.name(), "GetName"), "t-names", "GetName");
    check_eq!(check_ok!(t.path(), "GetPath"), SELF, "GetPath");
    let own = check_ok!(task::get_name(Handle::SELF_TASK), "own GetName");
    check!(!own.is_empty(), "own GetName is empty");
    check_eq!(
        check_ok!(task::get_path(Handle::SELF_TASK), "own GetPath"),
        SELF,
        "own GetPath"
    );
    refuses("GetName", t.handle(), Method::GetName, task::get_name)?;
    refuses("GetPath", t.handle(), Method::GetPath, task::get_path)?;
    refuses("GetPid", t.handle(), Method::GetPid, task::get_pid)?;
    let e = empty_child("t-names-empty")?;
    check_eq!(
        check_ok!(e.path(), "GetPath of an empty process"),
        "",
        "empty path"
    );
    Ok(())
}

fn initial_priority_and_policy() -> TestResult {
    let t = romfs_child("t-prio")?;
    check_eq!(
        check_ok!(t.initial_thread_priority(), "GetInitialThreadPriority"),
        DEFAULT_PRIORITY,
        "initial priority"
    );
    check_ok!(t.set_initial_thread_priority(5), "SetInitialThreadPriority");
    check_eq!(
        check_ok!(t.initial_thread_priority(), "GetInitialThreadPriority"),
        5,
        "priority after Set"
    );
    expect_rc(
        "SetInitialThreadPriority 32",
        t.set_initial_thread_priority(MAX_PRIORITY + 1),
        Rc::InvalidArgument,
    )?;
    refuses(
        "GetInitialThreadPriority",
        t.handle(),
        Method::GetInitialThreadPriority,
        task::get_initial_thread_priority,
    )?;
    refuses(
        "SetInitialThreadPriority",
        t.handle(),
        Method::SetInitialThreadPriority,
        |h| task::set_initial_thread_priority(h, 4),
    )?;

    let policy = |class: u32, priority| SchedPolicy {
        class,
        priority,
        quantum_ticks: 3,
        _reserved: 0,
    };
    expect_rc(
        "SetInitialThreadSchedPolicy class 9",
        t.set_initial_thread_sched_policy(policy(9, 10)),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "SetInitialThreadSchedPolicy priority 32",
        t.set_initial_thread_sched_policy(policy(SchedClass::RoundRobin as u32, 32)),
        Rc::InvalidArgument,
    )?;
    refuses(
        "SetInitialThreadSchedPolicy",
        t.handle(),
        Method::SetInitialThreadSchedPolicy,
        |h| task::set_initial_thread_sched_policy(h, policy(SchedClass::Normal as u32, 3)),
    )?;
    check_ok!(
        t.set_initial_thread_sched_policy(policy(SchedClass::RoundRobin as u32, 10)),
        "SetInitialThreadSchedPolicy round-robin 10"
    );
    check_eq!(
        check_ok!(t.initial_thread_priority(), "GetInitialThreadPriority"),
        10,
        "priority after SetInitialThreadSchedPolicy"
    );
    expect_exit(&run(&t, "exit0")?, 0)?;
    // Still answered once it ended.
    check_ok!(
        t.initial_thread_priority(),
        "GetInitialThreadPriority after the end"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Ending

fn terminate_exit_info_and_wait() -> TestResult {
    let t = romfs_child("t-term")?;
    check_ok!(t.set_env(b"role=spin"), "SetEnv");
    check_ok!(t.resume(), "Resume");
    let info = check_ok!(t.exit_info(), "GetExitInfo");
    check_eq!(
        task::status(&info),
        Some(ExitStatus::Running),
        "status while running"
    );
    expect_rc("Wait with a 1 ms timeout", t.wait(ms(1)), Rc::Timeout)?;
    refuses(
        "GetExitInfo",
        t.handle(),
        Method::GetExitInfo,
        task::get_exit_info,
    )?;
    refuses("Terminate", t.handle(), Method::Terminate, task::terminate)?;
    let no_wait = check_ok!(
        without_generic(t.handle(), Rights::WAIT),
        "copy without WAIT"
    );
    expect_rc(
        "Wait without WAIT",
        task::wait(no_wait.get(), 0),
        Rc::NoCapability,
    )?;
    let wrong = not_a_task()?;
    expect_rc(
        "Wait on a notice",
        task::wait(wrong.get(), 0),
        Rc::WrongType,
    )?;

    check_ok!(t.terminate(), "Terminate");
    let info = check_ok!(t.wait(CHILD_TIMEOUT_NS), "Wait");
    check_eq!(
        task::status(&info),
        Some(ExitStatus::Terminated),
        "status after Terminate"
    );
    let again = check_ok!(t.exit_info(), "GetExitInfo after the end");
    check_eq!(again, info, "GetExitInfo vs Wait");
    expect_rc("Terminate twice", t.terminate(), Rc::Busy)?;
    // Waiting for an ended process returns at once.
    check_ok!(t.wait(FOREVER), "Wait after the end");
    Ok(())
}

fn running_process_refuses_preparation() -> TestResult {
    let t = romfs_child("t-busy")?;
    let m = check_ok!(elf::mdl_with(&[0u8; 64]), "MDL");
    let n = OwnedHandle::new(check_ok!(notice::create(), "notice::create"));
    let seg = SegLoad {
        mdl: m.get(),
        perms: VmPerms::READ,
        vaddr: 0x5000_0000,
        mem_size: 0x1000,
        mdl_offset: 0,
        file_size: 0x10,
    };
    // What only a process created empty takes.
    let build = || -> [(&str, Result<(), Rc>); 5] {
        [
            ("VmReserve", t.vm_reserve(0, PAGE_SIZE, RW).map(drop)),
            ("VmFree", t.vm_free(0x4000_0000, PAGE_SIZE)),
            ("LoadSeg", t.load_seg(&seg).map(drop)),
            ("LoadElfHdr", t.load_elf_hdr(m.get(), 0, 64)),
            ("LoadElfSyms", t.load_elf_syms(m.get(), (0, 24), (24, 1))),
        ]
    };
    // Not started, but loaded from the ROMFS by the kernel: its image is
    // not open to additions.
    for (what, r) in build() {
        check!(
            r == Err(Rc::Busy),
            "{what} on a process loaded from the ROMFS: {r:?}, expected rcBusy"
        );
    }
    check_ok!(t.set_env(b"role=spin"), "SetEnv");
    check_ok!(t.resume(), "Resume");
    let policy = SchedPolicy {
        class: SchedClass::Normal as u32,
        priority: 3,
        quantum_ticks: 0,
        _reserved: 0,
    };
    let results = build().into_iter().chain([
        ("SetEntry", t.set_entry(0x20_0000, 0)),
        ("SetEnv", t.set_env(b"role=exit0")),
        (
            "TransferHandle",
            t.transfer_handle(n.get(), Rights::READ_EVENTS, None)
                .map(drop),
        ),
        ("SetInitialThreadPriority", t.set_initial_thread_priority(3)),
        (
            "SetInitialThreadSchedPolicy",
            t.set_initial_thread_sched_policy(policy),
        ),
    ]);
    let mut failures = Vec::new();
    for (what, r) in results {
        if r != Err(Rc::Busy) {
            failures.push(format!(
                "{what} on a running process: {r:?}, expected rcBusy"
            ));
        }
    }
    let _ = t.terminate();
    let _ = t.wait(CHILD_TIMEOUT_NS);
    check!(failures.is_empty(), "{}", failures.join("; "));
    Ok(())
}

// ---------------------------------------------------------------------------
// SetInitialRights (ours)

/// A child holds the least a program needs on itself and on the kernel
/// unless its creator gives more before Resume, never beyond the
/// creator's own; the rights it holds are the rights it can use.
fn initial_rights_least_by_default() -> TestResult {
    use libkos::abi::task::{DEFAULT_KERNEL_RIGHTS, DEFAULT_TASK_RIGHTS};
    let role = |t: Rights, k: Rights| format!("rights={:x}:{:x}", t.bits(), k.bits());

    // Nothing said: the defaults, without Create or SysInfo.
    let t = romfs_child("t-rights-default")?;
    expect_exit(
        &run(&t, &role(DEFAULT_TASK_RIGHTS, DEFAULT_KERNEL_RIGHTS))?,
        0,
    )?;
    check_ok!(t.close(), "close");

    // Given more: Create and SysInfo work; it cannot pass on what it lacks.
    let (more_t, more_k) = (
        DEFAULT_TASK_RIGHTS | Rights::task(Method::Create),
        DEFAULT_KERNEL_RIGHTS | Rights::SYSINFO,
    );
    let t = romfs_child("t-rights-more")?;
    check_ok!(t.set_initial_rights(more_t, more_k), "SetInitialRights");
    expect_exit(&run(&t, &role(more_t, more_k))?, 0)?;
    check_ok!(t.close(), "close");

    // The Resume right is needed (whoever starts it decides), on a Task.
    let t2 = romfs_child("t-rights-checked")?;
    refuses("SetInitialRights", t2.handle(), Method::Resume, |h| {
        task::set_initial_rights(h, DEFAULT_TASK_RIGHTS, DEFAULT_KERNEL_RIGHTS)
    })?;

    // Only before Resume, and never on itself (it is running).
    check_ok!(t2.set_env(b"role=spin"), "set_env");
    check_ok!(t2.resume(), "resume");
    expect_rc(
        "SetInitialRights after Resume",
        t2.set_initial_rights(DEFAULT_TASK_RIGHTS, DEFAULT_KERNEL_RIGHTS),
        Rc::Busy,
    )?;
    check_ok!(t2.terminate(), "terminate");
    check_ok!(t2.close(), "close");
    expect_rc(
        "SetInitialRights on itself",
        task::set_initial_rights(Handle::SELF_TASK, Rights::all(), Rights::all()),
        Rc::Busy,
    )
}

// ---------------------------------------------------------------------------
// SetBudget, GetBudget (ours)

/// A process's budget starts as its class's quota (here the policy's
/// default: utest-task has no quota of its own) and is carved from its
/// creator's: what a child holds, its creator holds too. The creator may
/// narrow it before Resume, never widen it or cut it below what the child
/// holds, and what the child then starts is bounded by it.
fn budgets_narrowed_by_the_creator() -> TestResult {
    use libkos::abi::task::{Budget, DEFAULT_KERNEL_RIGHTS, DEFAULT_TASK_RIGHTS};
    let q = policy_table::Quota::DEFAULT;
    let default = Budget {
        processes: q.processes,
        threads: q.threads,
        handles: q.handles,
        frames: q.frames,
        memory: q.memory,
    };
    let before = check_ok!(task::get_budget(Handle::SELF_TASK), "GetBudget on itself");
    check_eq!(before.limit, default, "its own limits (the default quota)");
    check!(
        before.used.threads >= 1 && before.used.frames > 0 && before.used.memory > 0,
        "what it holds: {:?}",
        before.used
    );

    let t = romfs_child("t-budget")?;
    let b = check_ok!(t.budget(), "GetBudget on a child");
    check_eq!(b.limit, default, "the child's limits (its class's)");
    check!(
        b.used.frames > 0 && b.used.memory > 0 && b.used.handles >= 2 && b.used.processes == 0,
        "what the child holds: {:?}",
        b.used
    );
    let after = check_ok!(task::get_budget(Handle::SELF_TASK), "GetBudget again");
    check_eq!(
        after.used.processes,
        before.used.processes + 1,
        "processes held with the child"
    );
    check!(
        after.used.frames >= before.used.frames + b.used.frames,
        "the child's frames count as its creator's: {} then {}, the child {}",
        before.used.frames,
        after.used.frames,
        b.used.frames
    );

    // Never widened, never below what it holds; nothing changes then.
    let wider = Budget {
        threads: default.threads + 1,
        ..default
    };
    expect_rc(
        "SetBudget above the limit",
        t.set_budget(wider),
        Rc::NoCapability,
    )?;
    let below = Budget {
        frames: b.used.frames - 1,
        ..default
    };
    expect_rc(
        "SetBudget below what it holds",
        t.set_budget(below),
        Rc::QuotaExceeded,
    )?;
    check_eq!(
        check_ok!(t.budget(), "GetBudget").limit,
        default,
        "limits after refusals"
    );
    refuses("SetBudget", t.handle(), Method::Resume, |h| {
        task::set_budget(h, default)
    })?;

    // One process: it starts one, and is refused a second.
    let one = Budget {
        processes: 1,
        ..default
    };
    check_ok!(t.set_budget(one), "SetBudget");
    check_eq!(
        check_ok!(t.budget(), "GetBudget").limit,
        one,
        "narrowed limits"
    );
    check_ok!(
        t.set_initial_rights(
            DEFAULT_TASK_RIGHTS | Rights::task(Method::Create),
            DEFAULT_KERNEL_RIGHTS
        ),
        "SetInitialRights"
    );
    expect_exit(&run(&t, "start-two")?, 0)?;
    expect_rc("SetBudget after Resume", t.set_budget(one), Rc::Busy)?;
    check_ok!(t.close(), "close");
    expect_rc(
        "SetBudget on itself",
        task::set_budget(Handle::SELF_TASK, before.limit),
        Rc::Busy,
    )
}
