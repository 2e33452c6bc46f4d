//! Processes: `kl.core.Task`, the kernel's process endpoint.
//!
//! The low-level API (the equivalent of KasperskyOS's `task_api.h`) is one
//! free function per method, taking the Task handle to invoke it on; the
//! [`Task`] type owns a child's handle (closed on drop) and offers the same
//! calls as methods. Each call goes through [`ipc::invoke`] with the
//! method's declaration (`kos_abi::interfaces::task`), so its id and
//! request and reply types are the ones the kernel checks. Every method
//! needs the right its declaration names ([`right`]) in the handle's mask
//! (else [`Rc::NoCapability`]); a handle that is not a Task is
//! [`Rc::WrongType`]. See `docs/task-endpoint.md` for each method's tests
//! and what bounds its danger, and `docs/interfaces.md` for the table.
//!
//! The methods that prepare an empty process (`VmReserve`, `VmFree`,
//! `LoadSeg`, `LoadElfSyms`, `LoadElfHdr`, `SetEntry`, `SetEnv`,
//! `TransferHandle`, the initial thread's priority and policy) work only
//! before `Resume` (afterwards [`Rc::Busy`]). [`crate::elf`] prepares an
//! ELF image and builds an empty child from it with them.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use kos_abi::decl::Invoke;
use kos_abi::interfaces::task::call as m;
use kos_abi::msg::{ArenaRef, MAX_ARENA, NO_BADGE};
use kos_abi::sched::SchedPolicy;
use kos_abi::task::{
    Budget, BudgetInfo, CreateFlags, CreateReq, ElfSymsReply, ExitInfo, ExitReq, ExitStatus,
    FaultKind, LoadBlobReq, LoadSegReq, MAX_NAME, MAX_PATH, Method, NextRegionReq, PriorityReq,
    SeedReq, SetEntryReq, TaskEntry, ThreadContext, ThreadIndex, TransferHandleReq, VmRegion,
    VmReserveReq, WaitReq,
};
use kos_abi::vm::{VmPerms, VmRange};
use kos_abi::{Handle, Rc, Rights};
use zerocopy::FromBytes;

use crate::{ipc, syscall};

pub use kos_abi::task::{MAX_ENV, MAX_SYMS};

/// `u64::MAX` nanoseconds: wait without a timeout.
pub const FOREVER: u64 = u64::MAX;

/// A Task method without arenas: the request and reply types come from
/// the method's declaration (`M` is one of [`m`]'s types).
fn simple<M: Invoke>(task: Handle, fixed: &M::Request) -> Result<M::Reply, Rc> {
    ipc::invoke::<M>(task, fixed, &[], &mut []).map(|(reply, _)| reply)
}

/// The rights bit that lets a Task handle invoke `method`.
pub const fn right(method: Method) -> Rights {
    method.decl().right
}

// ---------------------------------------------------------------------------
// The 26 methods (and Wait), one function each.

/// What [`create`] returns: the child's Task handle (every right) and PID.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub handle: Handle,
    pub pid: u32,
}

/// `Create` (on the own Task handle): creates a process of class `eiid`
/// (empty: the caller's own class) — from the ELF at ROMFS `path` with
/// [`CreateFlags::FROM_ROMFS`], else empty (no memory, no thread) to be
/// prepared with [`load_seg`] .. [`set_entry`]. The security policy decides
/// whether the caller may start that class (`rcSecurityDisallow`). Danger: a
/// privileged class (`eiid`), reserving a name, a process that stops the
/// system on an exception (`CRITICAL`: einit only), loading code,
/// exhausting RAM and kernel memory (bounded by the process quota:
/// [`Rc::QuotaExceeded`]).
pub fn create(
    name: &str,
    eiid: &str,
    path: &str,
    stack_size: u64,
    priority: u32,
    flags: CreateFlags,
) -> Result<Created, Rc> {
    create_via(
        Handle::SELF_TASK,
        name,
        eiid,
        path,
        stack_size,
        priority,
        flags,
    )
}

/// [`create`] through `own`, a handle to the caller's own Task (a copy of
/// [`Handle::SELF_TASK`], perhaps with fewer rights).
pub fn create_via(
    own: Handle,
    name: &str,
    eiid: &str,
    path: &str,
    stack_size: u64,
    priority: u32,
    flags: CreateFlags,
) -> Result<Created, Rc> {
    let len = |s: &str| u32::try_from(s.len()).map_err(|_| Rc::InvalidArgument);
    let (name_len, eiid_len, path_len) = (len(name)?, len(eiid)?, len(path)?);
    let req = CreateReq {
        name: ArenaRef {
            offset: 0,
            len: name_len,
        },
        eiid: ArenaRef {
            offset: name_len,
            len: eiid_len,
        },
        path: ArenaRef {
            offset: name_len + eiid_len,
            len: path_len,
        },
        stack_size,
        priority,
        flags: flags.bits(),
    };
    let (reply, _) = ipc::invoke::<m::Create>(
        own,
        &req,
        &[name.as_bytes(), eiid.as_bytes(), path.as_bytes()],
        &mut [],
    )?;
    Ok(Created {
        handle: Handle(reply.child),
        pid: reply.pid,
    })
}

/// A segment for [`load_seg`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SegLoad {
    /// An MDL handle of the caller (MAP_READ) holding the bytes.
    pub mdl: Handle,
    pub perms: VmPerms,
    /// Absolute address in the child (load offset included).
    pub vaddr: u64,
    pub mem_size: u64,
    pub mdl_offset: u64,
    pub file_size: u64,
}

/// `LoadSeg`: maps `[vaddr & !0xfff, vaddr + mem_size)` into the empty,
/// not-started `task` with `perms`, copying `file_size` bytes from the MDL
/// at `mdl_offset` to `vaddr` (zeros elsewhere; `vaddr` 0: at a free
/// page-aligned address the kernel picks); returns the base. Danger:
/// loads code for later execution (needs the LoadSeg right; never W+X).
pub fn load_seg(task: Handle, seg: &SegLoad) -> Result<u64, Rc> {
    let req = LoadSegReq {
        mdl: seg.mdl.0,
        perms: seg.perms.bits(),
        vaddr: seg.vaddr,
        mem_size: seg.mem_size,
        mdl_offset: seg.mdl_offset,
        file_size: seg.file_size,
    };
    simple::<m::LoadSeg>(task, &req).map(|r| r.addr)
}

/// `VmReserve`: reserves `size` bytes of zeroed memory with `perms` in the
/// empty, not-started `task`, at `addr` (page-aligned) or where the kernel
/// chooses (`addr` 0); returns the address. Danger: kernel memory (page
/// tables, regions) and reserving in another process (needs the right).
pub fn vm_reserve(task: Handle, addr: u64, size: u64, perms: VmPerms) -> Result<u64, Rc> {
    let req = VmReserveReq {
        addr,
        size,
        perms: perms.bits(),
        _reserved: 0,
    };
    simple::<m::VmReserve>(task, &req).map(|r| r.addr)
}

/// `VmFree`: frees a region [`vm_reserve`] returned (exactly `addr`,
/// `size`) in the not-started `task`. Danger: frees another process's
/// memory (needs the right; only before it runs).
pub fn vm_free(task: Handle, addr: u64, size: u64) -> Result<(), Rc> {
    simple::<m::VmFree>(task, &VmRange { addr, size })
}

/// `SetEntry`: the program's entry point and ELF load offset (an empty
/// process gets its initial thread here). Danger: creates the conditions to
/// execute loaded code (the entry must be in an executable region).
pub fn set_entry(task: Handle, entry: u64, load_offset: u64) -> Result<(), Rc> {
    simple::<m::SetEntry>(task, &SetEntryReq { entry, load_offset })
}

/// `LoadElfSyms`: gives the empty `task` its `.symtab` (`symtab` = offset,
/// size in the MDL; a multiple of 24) and `.strtab` (for crash reports and
/// `GetElfSyms`), both in `mdl`; each at most [`MAX_SYMS`]. Danger: none
/// (bounded copy).
pub fn load_elf_syms(
    task: Handle,
    mdl: Handle,
    symtab: (u64, u64),
    strtab: (u64, u64),
) -> Result<(), Rc> {
    load_elf_syms_from(task, (mdl, symtab.0, symtab.1), (mdl, strtab.0, strtab.1))
}

/// [`load_elf_syms`] with each table in an MDL of its own, as the seed
/// has it: `(symMdl, offset, size)`, `(strMdl, offset, size)`.
pub fn load_elf_syms_from(
    task: Handle,
    symtab: (Handle, u64, u64),
    strtab: (Handle, u64, u64),
) -> Result<(), Rc> {
    let req = LoadBlobReq {
        mdl: symtab.0.0,
        mdl2: if strtab.0 == symtab.0 {
            kos_abi::task::SAME_MDL
        } else {
            strtab.0.0
        },
        offset: symtab.1,
        size: symtab.2,
        offset2: strtab.1,
        size2: strtab.2,
    };
    simple::<m::LoadElfSyms>(task, &req)
}

/// `LoadElfHdr`: writes the ELF header (and program headers: `size` ≤
/// 4096 bytes at `offset` in the MDL, starting with the ELF magic) to the
/// empty `task`'s control block. Danger: none.
pub fn load_elf_hdr(task: Handle, mdl: Handle, offset: u64, size: u64) -> Result<(), Rc> {
    let req = LoadBlobReq {
        mdl: mdl.0,
        mdl2: kos_abi::task::SAME_MDL,
        offset,
        size,
        offset2: 0,
        size2: 0,
    };
    simple::<m::LoadElfHdr>(task, &req)
}

/// `SetEnv`: the environment data (≤ [`MAX_ENV`] bytes) the not-started
/// child finds at start. Danger: kernel memory (one bounded copy per
/// process).
pub fn set_env(task: Handle, env: &[u8]) -> Result<(), Rc> {
    ipc::invoke::<m::SetEnv>(task, &(), &[env], &mut []).map(drop)
}

/// `FreeSelfEnv` (through `own`, the caller's own Task handle or a copy):
/// drops this process's environment data (the pages [`crate::env`] reads).
/// Danger: none.
///
/// # Safety
///
/// No slice [`crate::env`] returned may be used after this (copy what is
/// needed first).
pub unsafe fn free_self_env(own: Handle) -> Result<(), Rc> {
    simple::<m::FreeSelfEnv>(own, &())
}

/// `Resume`: starts the process. Danger: executes its code; many started
/// processes take CPU time (watch the initial priority).
pub fn resume(task: Handle) -> Result<(), Rc> {
    simple::<m::Resume>(task, &())
}

/// `Exit` (own handle): ends this process with `code`. Danger: none.
pub fn exit(code: i64) -> ! {
    let _ = simple::<m::Exit>(Handle::SELF_TASK, &ExitReq { code });
    // Exit refused (no right?): ending the thread ends the process when it
    // is the last one.
    syscall::thread_exit(code)
}

/// `Exit` through `own` (a copy of the own Task handle): ends this process
/// with `code`, or returns why the kernel refused (e.g.
/// [`Rc::NoCapability`] without the Exit right).
pub fn exit_via(own: Handle, code: i64) -> Rc {
    match simple::<m::Exit>(own, &ExitReq { code }) {
        Ok(()) => Rc::Ok,
        Err(rc) => rc,
    }
}

/// `Terminate`: ends another process (or this one). Danger: ending any
/// process whose handle (with the right) is held.
pub fn terminate(task: Handle) -> Result<(), Rc> {
    simple::<m::Terminate>(task, &())
}

/// `GetExitInfo`: how the process ended ([`ExitStatus::Running`] while it
/// runs, [`ExitStatus::Frozen`] with the fault while frozen). Danger: none.
pub fn get_exit_info(task: Handle) -> Result<ExitInfo, Rc> {
    simple::<m::GetExitInfo>(task, &())
}

/// `GetThreadContext` of a frozen process: thread `index`'s registers,
/// general and FP/SIMD (0 = the thread that faulted). Danger: breaks the frozen process's isolation
/// (its registers may hold secrets): the right guards it.
pub fn get_thread_context(task: Handle, index: u32) -> Result<ThreadContext, Rc> {
    let req = ThreadIndex {
        index,
        _reserved: 0,
    };
    // 816 bytes: more than a fixed part may hold (MAX_FIXED), so take it
    // from the reply's fixed part or, failing that, its arena.
    let size = core::mem::size_of::<ThreadContext>();
    let mut req_buf = [0u8; 64];
    let mut e = ipc::Encoder::new(&mut req_buf, core::mem::size_of::<ThreadIndex>(), 0)?;
    e.fixed(&req)?;
    let msg = e.finish(
        m::GetThreadContext::ENDPOINT,
        m::GetThreadContext::METHOD,
        Rc::Ok,
    )?;
    ipc::transact(task, syscall::FOREVER, msg, 1024, |m| {
        let bytes = if m.fixed.len() >= size {
            &m.fixed[..size]
        } else {
            m.arena.get(..size).ok_or(Rc::NotSupported)?
        };
        ThreadContext::read_from_bytes(bytes).map_err(|_| Rc::NotSupported)
    })
}

/// `GetNextVmRegion` of a frozen process: the first region at or after
/// `after`, with an MDL handle holding a copy of its bytes (none for a
/// guard: `mdl` = `u32::MAX`). Danger: opens the frozen process's memory.
pub fn get_next_vm_region(task: Handle, after: u64) -> Result<VmRegion, Rc> {
    simple::<m::GetNextVmRegion>(task, &NextRegionReq { after })
}

/// `TerminateAfterFreezing`: ends a frozen process (its exit status stays
/// the fault). Danger: its state is gone for diagnosis.
pub fn terminate_after_freezing(task: Handle) -> Result<(), Rc> {
    simple::<m::TerminateAfterFreezing>(task, &())
}

/// Reads a method's reply arena as text.
fn text<M: Invoke<Request = (), Reply = ()>>(task: Handle, cap: usize) -> Result<String, Rc> {
    let mut buf = vec![0u8; cap];
    let (_, n) = ipc::invoke::<M>(task, &(), &[], &mut buf)?;
    buf.truncate(n);
    String::from_utf8(buf).map_err(|_| Rc::NotSupported)
}

/// `GetName`: the process's name (own handle: this process's). Danger:
/// none.
pub fn get_name(task: Handle) -> Result<String, Rc> {
    text::<m::GetName>(task, MAX_NAME)
}

/// `GetPath`: the ROMFS path the process was created from (empty for one
/// built by hand). Danger: none.
pub fn get_path(task: Handle) -> Result<String, Rc> {
    text::<m::GetPath>(task, MAX_PATH)
}

/// `GetElfHdr` (ours): the ELF header and program headers `task` was made
/// from — what `LoadElfHdr` stored, or its ROMFS file's for a program the
/// kernel loaded (the own handle: this process's). Needs the GetElfSyms
/// right.
pub fn get_elf_hdr(task: Handle) -> Result<Vec<u8>, Rc> {
    let mut buf = vec![0u8; kos_abi::task::MAX_ELF_HDR as usize];
    let (_, n) = ipc::invoke::<m::GetElfHdr>(task, &(), &[], &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// `GetInitialThreadPriority`. Danger: none.
pub fn get_initial_thread_priority(task: Handle) -> Result<u32, Rc> {
    simple::<m::GetInitialThreadPriority>(task, &()).map(|r| r.priority)
}

/// `SetInitialThreadPriority` (≤ 31, before `Resume`). Danger: a high
/// priority takes CPU time from every other thread (watch it).
pub fn set_initial_thread_priority(task: Handle, priority: u32) -> Result<(), Rc> {
    let req = PriorityReq {
        priority,
        _reserved: 0,
    };
    simple::<m::SetInitialThreadPriority>(task, &req)
}

/// What [`get_tasks_list`] returns.
#[derive(Debug)]
pub struct TasksList {
    /// One entry per live process (as many as fit in a reply).
    pub entries: Vec<TaskEntry>,
    /// A Notice that hears `OBJECT_DESTROYED` with cookie = the PID each
    /// time a process ends from now on (the caller closes it).
    pub notice: Handle,
}

/// The NUL-padded text of a [`TaskEntry`] field.
pub fn entry_text(field: &[u8]) -> &str {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    core::str::from_utf8(&field[..end]).unwrap_or("")
}

/// `GetTasksList`: every process (PID, status, name, path) and a notice of
/// their ends. Danger: kernel memory (one notice per call: close it).
pub fn get_tasks_list(task: Handle) -> Result<TasksList, Rc> {
    let mut buf = vec![0u8; MAX_ARENA];
    let (reply, n) = ipc::invoke::<m::GetTasksList>(task, &(), &[], &mut buf)?;
    let size = core::mem::size_of::<TaskEntry>();
    let whole = (n / size).min(reply.count as usize);
    let entries = buf[..whole * size]
        .chunks_exact(size)
        .filter_map(|c| TaskEntry::read_from_bytes(c).ok())
        .collect();
    Ok(TasksList {
        entries,
        notice: Handle(reply.notice),
    })
}

/// `SetInitialThreadSchedPolicy`: class, priority, quantum of the initial
/// thread (before `Resume`). Danger: a real-time thread may take all the
/// CPU time (watch class and priority).
pub fn set_initial_thread_sched_policy(task: Handle, policy: SchedPolicy) -> Result<(), Rc> {
    simple::<m::SetInitialThreadSchedPolicy>(task, &policy)
}

/// `SetInitialRights` (ours): the rights the not-yet-started `task` will
/// hold on itself (`task_rights`, on its `SELF_TASK`) and on the kernel
/// (`kernel_rights`, on its `KERNEL`), each within the caller's own
/// (`rcNoCapability` otherwise); without it the child has
/// [`DEFAULT_TASK_RIGHTS`](crate::abi::task::DEFAULT_TASK_RIGHTS) and
/// [`DEFAULT_KERNEL_RIGHTS`](crate::abi::task::DEFAULT_KERNEL_RIGHTS).
pub fn set_initial_rights(
    task: Handle,
    task_rights: Rights,
    kernel_rights: Rights,
) -> Result<(), Rc> {
    simple::<m::SetInitialRights>(
        task,
        &kos_abi::task::InitialRights {
            task: task_rights.bits(),
            kernel: kernel_rights.bits(),
        },
    )
}

/// `SetBudget` (ours): narrows the not-yet-started `task`'s budget (what
/// it and everything it starts may hold together) to `budget`. It starts
/// with its class's quota; a limit above the current one is
/// `rcNoCapability`, one below what it already holds `rcQuotaExceeded`.
pub fn set_budget(task: Handle, budget: Budget) -> Result<(), Rc> {
    simple::<m::SetBudget>(task, &budget)
}

/// `SetAffinity` (ours): the cores `task`'s threads may run on (bit `n`:
/// core `n`), those it has and those it makes later. At least one of them
/// must run threads, else `rcInvalidArgument`.
pub fn set_affinity(task: Handle, cores: u64) -> Result<(), Rc> {
    simple::<m::SetAffinity>(task, &kos_abi::msg::thread::Affinity { cores })
}

/// `GetBudget` (ours): `task`'s budget and what it and its descendants
/// hold of it.
pub fn get_budget(task: Handle) -> Result<BudgetInfo, Rc> {
    simple::<m::GetBudget>(task, &())
}

/// `ReseedAslr`: reseeds `task`'s ASLR generator, which places the
/// position-independent programs it creates (same seed, same offsets).
/// Danger: none (predictable placement of its own children).
pub fn reseed_aslr(task: Handle, seed: u64) -> Result<(), Rc> {
    simple::<m::ReseedAslr>(task, &SeedReq { seed })
}

/// What [`get_elf_syms`] returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ElfSyms {
    /// A new MDL handle: `.symtab` bytes, then `.strtab` bytes.
    pub mdl: Handle,
    pub symtab_size: u64,
    pub strtab_size: u64,
    /// The ASLR load offset (0 for `ET_EXEC`).
    pub load_offset: u64,
}

/// `GetElfSyms`: the process's symbol tables and load offset
/// ([`Rc::ResourceNotFound`] if it has none). Danger: none.
pub fn get_elf_syms(task: Handle) -> Result<ElfSyms, Rc> {
    let r: ElfSymsReply = simple::<m::GetElfSyms>(task, &())?;
    Ok(ElfSyms {
        mdl: Handle(r.mdl),
        symtab_size: r.symtab_size,
        strtab_size: r.strtab_size,
        load_offset: r.load_offset,
    })
}

/// `TransferHandle`: puts a descendant of the caller's `handle` (needs
/// COPY) with `rights` (a subset) and optionally a badge into the
/// not-started `task`; returns its value there. Danger: kernel memory
/// (handle slots: bounded per process).
pub fn transfer_handle(
    task: Handle,
    handle: Handle,
    rights: Rights,
    badge: Option<Handle>,
) -> Result<Handle, Rc> {
    let req = TransferHandleReq {
        handle: handle.0,
        rights: rights.bits(),
        badge: badge.map_or(NO_BADGE, |b| b.0),
        _reserved: 0,
    };
    simple::<m::TransferHandle>(task, &req).map(|r| Handle(r.handle))
}

/// `GetPid`. Danger: none.
pub fn get_pid(task: Handle) -> Result<u64, Rc> {
    simple::<m::GetPid>(task, &()).map(|r| r.pid)
}

/// `Wait` (method 26, not one of the 26; needs WAIT): blocks until the
/// process ends (at most `timeout_ns`, [`FOREVER`] for no limit). A frozen
/// process does not end until [`terminate_after_freezing`].
pub fn wait(task: Handle, timeout_ns: u64) -> Result<ExitInfo, Rc> {
    simple::<m::Wait>(task, &WaitReq { timeout_ns })
}

// ---------------------------------------------------------------------------
// Task: an owned child handle.

/// A process, named by its Task handle (closed on drop).
#[derive(Debug)]
pub struct Task {
    handle: Handle,
    pid: u32,
}

impl Task {
    /// Creates a process named `name` from the executable at `path` (a
    /// ROMFS path with [`CreateFlags::FROM_ROMFS`]), its initial thread at
    /// `priority`, of the caller's own class. It does not run until
    /// [`Task::resume`].
    pub fn create(name: &str, path: &str, priority: u32, flags: CreateFlags) -> Result<Task, Rc> {
        Task::create_ex(name, path, 0, priority, flags)
    }

    /// [`Task::create`] of class `class` (the policy decides whether the
    /// caller may start it).
    pub fn create_as(
        name: &str,
        class: &str,
        path: &str,
        priority: u32,
        flags: CreateFlags,
    ) -> Result<Task, Rc> {
        let c = create(name, class, path, 0, priority, flags)?;
        Ok(Task {
            handle: c.handle,
            pid: c.pid,
        })
    }

    /// [`Task::create`] with the default thread stack size (0 = the
    /// kernel's default).
    pub fn create_ex(
        name: &str,
        path: &str,
        stack_size: u64,
        priority: u32,
        flags: CreateFlags,
    ) -> Result<Task, Rc> {
        let c = create(name, "", path, stack_size, priority, flags)?;
        Ok(Task {
            handle: c.handle,
            pid: c.pid,
        })
    }

    /// An empty process (no memory, no thread; without `FROM_ROMFS`), to
    /// be prepared with [`Task::load_seg`] .. [`Task::set_entry`] or
    /// [`crate::elf::build`].
    pub fn create_empty(name: &str, priority: u32, flags: CreateFlags) -> Result<Task, Rc> {
        Task::create_ex(name, "", 0, priority, flags - CreateFlags::FROM_ROMFS)
    }

    /// Wraps a Task handle this process holds (closed on drop).
    pub fn from_handle(handle: Handle) -> Task {
        Task { handle, pid: 0 }
    }

    /// The Task handle.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Gives up the handle without closing it.
    pub fn into_handle(self) -> Handle {
        let h = self.handle;
        core::mem::forget(self);
        h
    }

    /// The pid `Create` returned (0 for [`Task::from_handle`]).
    pub fn created_pid(&self) -> u32 {
        self.pid
    }

    /// [`load_seg`].
    pub fn load_seg(&self, seg: &SegLoad) -> Result<u64, Rc> {
        load_seg(self.handle, seg)
    }

    /// [`vm_reserve`].
    pub fn vm_reserve(&self, addr: u64, size: u64, perms: VmPerms) -> Result<u64, Rc> {
        vm_reserve(self.handle, addr, size, perms)
    }

    /// [`vm_free`].
    pub fn vm_free(&self, addr: u64, size: u64) -> Result<(), Rc> {
        vm_free(self.handle, addr, size)
    }

    /// [`set_entry`].
    pub fn set_entry(&self, entry: u64, load_offset: u64) -> Result<(), Rc> {
        set_entry(self.handle, entry, load_offset)
    }

    /// [`load_elf_syms`].
    pub fn load_elf_syms(
        &self,
        mdl: Handle,
        symtab: (u64, u64),
        strtab: (u64, u64),
    ) -> Result<(), Rc> {
        load_elf_syms(self.handle, mdl, symtab, strtab)
    }

    /// [`load_elf_hdr`].
    pub fn load_elf_hdr(&self, mdl: Handle, offset: u64, size: u64) -> Result<(), Rc> {
        load_elf_hdr(self.handle, mdl, offset, size)
    }

    /// Sets the environment data the child finds at start (only before
    /// [`Task::resume`]).
    pub fn set_env(&self, env: &[u8]) -> Result<(), Rc> {
        set_env(self.handle, env)
    }

    /// Starts the child.
    pub fn resume(&self) -> Result<(), Rc> {
        resume(self.handle)
    }

    /// Waits until the child ends (at most `timeout_ns`, [`FOREVER`] for no
    /// limit) and says how.
    pub fn wait(&self, timeout_ns: u64) -> Result<ExitInfo, Rc> {
        wait(self.handle, timeout_ns)
    }

    /// How the child ended ([`ExitStatus::Running`] while it runs).
    pub fn exit_info(&self) -> Result<ExitInfo, Rc> {
        get_exit_info(self.handle)
    }

    /// The child's pid.
    pub fn pid(&self) -> Result<u64, Rc> {
        get_pid(self.handle)
    }

    /// Ends the child (`Task.Terminate`).
    pub fn terminate(&self) -> Result<(), Rc> {
        terminate(self.handle)
    }

    /// [`get_thread_context`].
    pub fn thread_context(&self, index: u32) -> Result<ThreadContext, Rc> {
        get_thread_context(self.handle, index)
    }

    /// [`get_next_vm_region`].
    pub fn next_vm_region(&self, after: u64) -> Result<VmRegion, Rc> {
        get_next_vm_region(self.handle, after)
    }

    /// [`terminate_after_freezing`].
    pub fn terminate_after_freezing(&self) -> Result<(), Rc> {
        terminate_after_freezing(self.handle)
    }

    /// [`get_name`].
    pub fn name(&self) -> Result<String, Rc> {
        get_name(self.handle)
    }

    /// [`get_path`].
    pub fn path(&self) -> Result<String, Rc> {
        get_path(self.handle)
    }

    /// [`get_initial_thread_priority`].
    pub fn initial_thread_priority(&self) -> Result<u32, Rc> {
        get_initial_thread_priority(self.handle)
    }

    /// [`set_initial_thread_priority`].
    pub fn set_initial_thread_priority(&self, priority: u32) -> Result<(), Rc> {
        set_initial_thread_priority(self.handle, priority)
    }

    /// [`set_initial_thread_sched_policy`].
    pub fn set_initial_thread_sched_policy(&self, policy: SchedPolicy) -> Result<(), Rc> {
        set_initial_thread_sched_policy(self.handle, policy)
    }

    /// [`get_elf_hdr`].
    pub fn elf_hdr(&self) -> Result<Vec<u8>, Rc> {
        get_elf_hdr(self.handle)
    }

    /// [`set_initial_rights`].
    pub fn set_initial_rights(&self, task_rights: Rights, kernel_rights: Rights) -> Result<(), Rc> {
        set_initial_rights(self.handle, task_rights, kernel_rights)
    }

    /// [`set_budget`].
    pub fn set_budget(&self, budget: Budget) -> Result<(), Rc> {
        set_budget(self.handle, budget)
    }

    /// [`get_budget`].
    pub fn budget(&self) -> Result<BudgetInfo, Rc> {
        get_budget(self.handle)
    }

    /// [`reseed_aslr`].
    pub fn reseed_aslr(&self, seed: u64) -> Result<(), Rc> {
        reseed_aslr(self.handle, seed)
    }

    /// [`get_elf_syms`].
    pub fn elf_syms(&self) -> Result<ElfSyms, Rc> {
        get_elf_syms(self.handle)
    }

    /// [`transfer_handle`].
    pub fn transfer_handle(
        &self,
        handle: Handle,
        rights: Rights,
        badge: Option<Handle>,
    ) -> Result<Handle, Rc> {
        transfer_handle(self.handle, handle, rights, badge)
    }

    /// [`get_tasks_list`].
    pub fn tasks_list(&self) -> Result<TasksList, Rc> {
        get_tasks_list(self.handle)
    }

    /// Closes the handle, reporting the kernel's answer.
    pub fn close(self) -> Result<(), Rc> {
        close_handle(self.into_handle())
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = close_handle(self.handle);
    }
}

/// Closes one handle of this process (`HandleOps.Close` on the kernel
/// handle; the same as [`handle::close`](crate::handle::close)).
pub fn close_handle(handle: Handle) -> Result<(), Rc> {
    crate::handle::close(handle)
}

/// Decoded [`ExitInfo::status`] (`None` for a value this libkos does not
/// know).
pub fn status(info: &ExitInfo) -> Option<ExitStatus> {
    ExitStatus::from_u32(info.status)
}

/// Decoded [`ExitInfo::fault`].
pub fn fault(info: &ExitInfo) -> FaultKind {
    FaultKind::from_u32(info.fault)
}

/// True if the process ended by itself with exit code `code`.
pub fn exited_with(info: &ExitInfo, code: i64) -> bool {
    status(info) == Some(ExitStatus::Normal) && info.code == code
}

/// Human-readable form of an [`ExitInfo`]: `exit code 3`, `exception:
/// null pointer access (NullPointer) far=0x0 elr=0x20_1234 esr=0x...`, ...
pub struct Describe<'a>(pub &'a ExitInfo);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        match status(info) {
            Some(ExitStatus::Running) => write!(f, "still running"),
            Some(ExitStatus::Normal) => write!(f, "exit code {}", info.code),
            Some(ExitStatus::Terminated) => write!(f, "terminated (code {})", info.code),
            Some(ExitStatus::Exception) => {
                let kind = fault(info);
                write!(
                    f,
                    "exception: {} ({kind:?}) far={:#x} elr={:#x} esr={:#x}",
                    kind.describe(),
                    info.far,
                    info.elr,
                    info.esr
                )
            }
            Some(ExitStatus::Frozen) => {
                let kind = fault(info);
                write!(
                    f,
                    "frozen after: {} ({kind:?}) far={:#x} elr={:#x} esr={:#x}",
                    kind.describe(),
                    info.far,
                    info.elr,
                    info.esr
                )
            }
            None => write!(f, "unknown status {} (code {})", info.status, info.code),
        }
    }
}
