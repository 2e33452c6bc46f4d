//! `kl.core.Task`: the kernel's process endpoint. Method ids follow the order
//! of the specification (seed 000); invoking method `m` through a Task handle
//! needs [`Rights::task(m)`](crate::Rights::task) in that handle's mask.

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::Rights;
use crate::msg::ArenaRef;

/// The methods of `kl.core.Task`, declared in [`crate::interfaces`]: the
/// 26 of the specification in its order, then ours: [`Method::Wait`],
/// [`Method::SetInitialRights`], [`Method::GetElfHdr`],
/// [`Method::SetBudget`] and [`Method::GetBudget`].
pub use crate::interfaces::task::{ALL, Method};

/// The methods of the specification (seed 000); each has its own right bit.
pub const METHOD_COUNT: u16 = 26;

bitflags! {
    /// `Create` flags.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
    pub struct CreateFlags: u32 {
        /// Load the ELF executable at `path` from ROMFS (otherwise the
        /// process is created empty, to be filled segment by segment).
        const FROM_ROMFS = 1 << 0;
        /// Freeze instead of dying on an unhandled exception.
        const DUMPABLE = 1 << 1;
        /// Stop the whole system on an unhandled exception (privileged).
        const CRITICAL = 1 << 2;
    }
}

/// Bounds on names and paths.
pub const MAX_NAME: usize = 64;
pub const MAX_PATH: usize = 256;
/// Bound on the environment data given with `SetEnv`.
pub const MAX_ENV: usize = 4096;

/// `Create`, invoked on the caller's own Task handle. Strings in the arena.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct CreateReq {
    pub name: ArenaRef,
    pub eiid: ArenaRef,
    pub path: ArenaRef,
    /// Default thread stack size in bytes (0 = default).
    pub stack_size: u64,
    pub priority: u32,
    /// [`CreateFlags`] bits.
    pub flags: u32,
}
crate::fields!(CreateReq {
    name: ArenaRef,
    eiid: ArenaRef,
    path: ArenaRef,
    stack_size: u64,
    priority: u32,
    flags: u32 as CreateFlags
});

#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct CreateReply {
    /// The child's Task handle (every right).
    pub child: u32,
    pub pid: u32,
}

/// `Exit`, on the caller's own Task handle. Never returns.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ExitReq {
    pub code: i64,
}
crate::fields!(ExitReq { code: i64 });

/// `Wait`.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct WaitReq {
    /// Nanoseconds; `u64::MAX` = forever.
    pub timeout_ns: u64,
}
crate::fields!(WaitReq { timeout_ns: u64 });

/// `SetEnv`: the environment data is the request's arena (at most
/// [`MAX_ENV`] bytes); the child finds it at start (x0 = address, x1 =
/// length). Only before `Resume`. No fixed part.
///
/// `Resume`, `Terminate`, `GetExitInfo`, `FreeSelfEnv`: no fixed part.
///
/// `GetPid` reply.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PidReply {
    pub pid: u64,
}

/// How a process ended (`GetExitInfo`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ExitStatus {
    /// Still running (or not yet started).
    Running = 0,
    /// It called `Exit` (or its last thread ended): `code` is its exit code.
    Normal = 1,
    /// Another process terminated it.
    Terminated = 2,
    /// An unhandled exception ended it: see `fault`, `esr`, `far`, `elr`.
    Exception = 3,
    /// A `DUMPABLE` process hit an unhandled exception and is frozen: its
    /// threads are stopped, its memory kept for inspection
    /// (`GetThreadContext`, `GetNextVmRegion`) until `TerminateAfterFreezing`.
    Frozen = 4,
}

impl ExitStatus {
    pub const fn from_u32(v: u32) -> Option<ExitStatus> {
        match v {
            0 => Some(ExitStatus::Running),
            1 => Some(ExitStatus::Normal),
            2 => Some(ExitStatus::Terminated),
            3 => Some(ExitStatus::Exception),
            4 => Some(ExitStatus::Frozen),
            _ => None,
        }
    }
}

/// What kind of unhandled exception ended a process.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FaultKind {
    None = 0,
    /// Access to an unmapped address (other than the cases below).
    Unmapped = 1,
    /// Access the page's permissions forbid (kernel memory, write to code, ...).
    Permission = 2,
    /// Access within the first page (a null pointer).
    NullPointer = 3,
    /// Access to the guard page below a thread's stack.
    StackOverflow = 4,
    /// Misaligned access, PC or SP.
    Alignment = 5,
    /// Undefined or not-permitted instruction.
    UndefinedInstruction = 6,
    /// A breakpoint or other debug exception.
    Breakpoint = 7,
    /// Anything else.
    Other = 8,
}

impl FaultKind {
    pub const fn from_u32(v: u32) -> FaultKind {
        match v {
            0 => FaultKind::None,
            1 => FaultKind::Unmapped,
            2 => FaultKind::Permission,
            3 => FaultKind::NullPointer,
            4 => FaultKind::StackOverflow,
            5 => FaultKind::Alignment,
            6 => FaultKind::UndefinedInstruction,
            7 => FaultKind::Breakpoint,
            _ => FaultKind::Other,
        }
    }
    pub const fn describe(self) -> &'static str {
        match self {
            FaultKind::None => "none",
            FaultKind::Unmapped => "access to unmapped memory",
            FaultKind::Permission => "access violates page permissions",
            FaultKind::NullPointer => "null pointer access",
            FaultKind::StackOverflow => "stack overflow",
            FaultKind::Alignment => "alignment fault",
            FaultKind::UndefinedInstruction => "undefined instruction",
            FaultKind::Breakpoint => "breakpoint",
            FaultKind::Other => "unhandled exception",
        }
    }
}

/// `GetExitInfo` / `Wait` reply.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ExitInfo {
    /// An [`ExitStatus`] value.
    pub status: u32,
    /// A [`FaultKind`] value (status `Exception` only).
    pub fault: u32,
    /// Exit code (status `Normal`).
    pub code: i64,
    /// Exception syndrome, fault address and faulting PC (status `Exception`).
    pub esr: u64,
    pub far: u64,
    pub elr: u64,
}

/// `VmReserve` (empty, not-yet-started process): zeroed memory with
/// `perms` ([`VmPerms`](crate::vm::VmPerms) bits, never W+X) at `addr`
/// (page-aligned) or, with `addr` 0, where the kernel chooses. Reply
/// [`AddrReply`]. `VmFree`: request [`VmRange`](crate::vm::VmRange).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VmReserveReq {
    pub addr: u64,
    pub size: u64,
    pub perms: u32,
    pub _reserved: u32,
}
crate::fields!(VmReserveReq {
    addr: u64,
    size: u64,
    perms: u32 as crate::vm::VmPerms,
    _reserved: u32
});

#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct AddrReply {
    pub addr: u64,
}

/// `LoadSeg`: map a segment into the empty, not-yet-started process:
/// `mem_size` bytes at `vaddr` (absolute: the load offset is already added)
/// with `perms`, the first `file_size` bytes copied from the MDL at
/// `mdl_offset`, the rest zeroed. Reply [`AddrReply`] (the segment's base).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct LoadSegReq {
    /// An MDL handle of the caller holding the segment's bytes (MAP_READ).
    pub mdl: u32,
    /// [`VmPerms`](crate::vm::VmPerms) bits; never W+X.
    pub perms: u32,
    pub vaddr: u64,
    pub mem_size: u64,
    pub mdl_offset: u64,
    pub file_size: u64,
}
crate::fields!(LoadSegReq {
    mdl: u32,
    perms: u32 as crate::vm::VmPerms,
    vaddr: u64,
    mem_size: u64,
    mdl_offset: u64,
    file_size: u64
});

/// `LoadElfSyms` (`.symtab`, `.strtab`) and `LoadElfHdr` (the ELF header and
/// program headers): bytes from an MDL, kept by the kernel for the process
/// (crash reports, `GetElfSyms`). For `LoadElfHdr` only the first range is used.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct LoadBlobReq {
    pub mdl: u32,
    /// `LoadElfSyms`: the MDL holding `.strtab` (the seed's `strMdl`);
    /// [`SAME_MDL`]: `mdl`. `LoadElfHdr`: unused.
    pub mdl2: u32,
    pub offset: u64,
    pub size: u64,
    pub offset2: u64,
    pub size2: u64,
}
crate::fields!(LoadBlobReq {
    mdl: u32,
    mdl2: u32,
    offset: u64,
    size: u64,
    offset2: u64,
    size2: u64
});

/// `LoadBlobReq::mdl2`: the second table is in the first MDL too.
pub const SAME_MDL: u32 = u32::MAX;

/// Largest symbol table (`.symtab` + `.strtab`) and ELF header kept per process.
pub const MAX_SYMS: u64 = 4 << 20;
pub const MAX_ELF_HDR: u64 = 4096;

/// `SetEntry`: the initial thread starts at `entry`; `load_offset` is what
/// was added to the ELF's addresses (reported by `GetElfSyms`, used to
/// symbolize). For an empty process this creates the initial thread.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SetEntryReq {
    pub entry: u64,
    pub load_offset: u64,
}
crate::fields!(SetEntryReq {
    entry: u64,
    load_offset: u64
});

/// `TransferHandle`: a descendant of the caller's `handle` (with `rights`,
/// a subset, and optionally a badge) put into the not-yet-started process;
/// reply [`HandleValue`] (the handle's value in the child, which it learns
/// from its environment or a convention).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct TransferHandleReq {
    pub handle: u32,
    pub rights: u32,
    /// A Badge handle of the caller, or `NO_BADGE`.
    pub badge: u32,
    pub _reserved: u32,
}
crate::fields!(TransferHandleReq {
    handle: u32,
    rights: u32,
    badge: u32,
    _reserved: u32
});

#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct HandleValue {
    pub handle: u32,
    pub _reserved: u32,
}

/// `SetInitialRights`: what a not-yet-started process holds on itself and
/// on the kernel ([`Rights`] bits of its `SELF_TASK` and `KERNEL` handles).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct InitialRights {
    pub task: u32,
    pub kernel: u32,
}
crate::fields!(InitialRights {
    task: u32,
    kernel: u32
});

/// What a process holds on itself unless its creator says otherwise
/// (`SetInitialRights`): what any program needs to run — its threads and
/// memory, its environment, its name and end — and nothing that reaches
/// other processes (Create, GetTasksList) or changes its own limits.
pub const DEFAULT_TASK_RIGHTS: Rights = Rights::GENERIC
    .union(Rights::task(Method::Exit))
    .union(Rights::task(Method::FreeSelfEnv))
    .union(Rights::task(Method::GetName))
    .union(Rights::task(Method::GetPath))
    .union(Rights::task(Method::GetPid))
    .union(Rights::task(Method::GetExitInfo))
    .union(Rights::task(Method::GetInitialThreadPriority))
    .union(Rights::task(Method::GetElfSyms))
    // Thread.Create and Vm.Allocate / Free / Protect on itself.
    .union(Rights::task(Method::SetEntry))
    .union(Rights::task(Method::VmReserve))
    .union(Rights::task(Method::VmFree));

/// What a process holds on the kernel unless its creator says otherwise:
/// the console, its own handles, new kernel objects (within its budget) and
/// static channels by name; not the ROMFS, system statistics, the audit or
/// questions to the policy.
pub const DEFAULT_KERNEL_RIGHTS: Rights = Rights::GENERIC
    .union(Rights::CONSOLE)
    .union(Rights::HANDLES)
    .union(Rights::CREATE)
    .union(Rights::LOCATOR);

/// A process's budget (`SetBudget`, `GetBudget`): what it and everything
/// it started may hold together, by kind. Its class's quota in the policy
/// sets it at creation; its creator may narrow it before the start.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Budget {
    /// Processes started (by it or by them) whose records exist.
    pub processes: u32,
    /// Live threads.
    pub threads: u32,
    /// Handles held.
    pub handles: u32,
    /// Frames (4 KiB) mapped, page tables and MDL buffers included.
    pub frames: u32,
    /// Kernel heap bytes.
    pub memory: u64,
}
crate::fields!(Budget {
    processes: u32,
    threads: u32,
    handles: u32,
    frames: u32,
    memory: u64
});

impl Budget {
    /// The kinds in the kernel's order (its accounts are indexed so).
    pub const fn to_array(self) -> [u64; 5] {
        [
            self.processes as u64,
            self.threads as u64,
            self.handles as u64,
            self.frames as u64,
            self.memory,
        ]
    }

    /// From the kernel's order; a count past `u32::MAX` reads as it.
    pub const fn from_array(a: [u64; 5]) -> Budget {
        const fn narrow(v: u64) -> u32 {
            if v > u32::MAX as u64 {
                u32::MAX
            } else {
                v as u32
            }
        }
        Budget {
            processes: narrow(a[0]),
            threads: narrow(a[1]),
            handles: narrow(a[2]),
            frames: narrow(a[3]),
            memory: a[4],
        }
    }
}

/// `GetBudget` reply.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct BudgetInfo {
    /// The limits.
    pub limit: Budget,
    /// What the process and its descendants hold.
    pub used: Budget,
}

/// `Get/SetInitialThreadPriority`.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PriorityReq {
    pub priority: u32,
    pub _reserved: u32,
}
crate::fields!(PriorityReq {
    priority: u32,
    _reserved: u32
});

/// `ReseedAslr`: the seed of the process's ASLR generator, which places the
/// position-independent programs it creates. The same seed gives the same
/// load offsets.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SeedReq {
    pub seed: u64,
}
crate::fields!(SeedReq { seed: u64 });

/// `GetTasksList` reply: `count` [`TaskEntry`]s in the arena (as many as fit),
/// and a Notice handle that hears `OBJECT_DESTROYED` with the PID as cookie
/// each time a process ends.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct TasksListReply {
    pub count: u32,
    pub notice: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct TaskEntry {
    pub pid: u32,
    /// An [`ExitStatus`] value (Running for created and running processes).
    pub status: u32,
    /// NUL-padded.
    pub name: [u8; MAX_NAME],
    /// NUL-padded, cut at 128 bytes.
    pub path: [u8; 128],
}

/// `GetThreadContext` of a frozen process (the [`ThreadContext`], larger
/// than a fixed part may be, comes as the reply's arena): request [`ThreadIndex`] (0 = the
/// thread that faulted), reply [`ThreadContext`]; `rcResourceNotFound` past
/// the last thread.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ThreadIndex {
    pub index: u32,
    pub _reserved: u32,
}
crate::fields!(ThreadIndex {
    index: u32,
    _reserved: u32
});

/// `GetThreadContext`: a frozen thread's registers, general and FP/SIMD.
#[derive(Copy, Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ThreadContext {
    pub tid: u32,
    pub _reserved: u32,
    pub x: [u64; 31],
    pub sp: u64,
    pub pc: u64,
    pub pstate: u64,
    pub tpidr: u64,
    pub fpcr: u64,
    pub fpsr: u64,
    /// q0..q31 (the low 64 bits of each are d0..d31).
    pub q: [u128; 32],
}

/// `GetNextVmRegion` of a frozen process: the first region starting at or
/// after `after`; reply [`VmRegion`] with an MDL handle holding a copy of its
/// contents (unmapped guard regions have none: `mdl` = `u32::MAX`).
/// `rcResourceNotFound` past the last region.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct NextRegionReq {
    pub after: u64,
}
crate::fields!(NextRegionReq { after: u64 });

#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VmRegion {
    pub start: u64,
    pub size: u64,
    /// [`VmPerms`](crate::vm::VmPerms) bits (0 for a guard).
    pub perms: u32,
    pub mdl: u32,
}

/// `GetElfSyms` reply: the symbol tables the process was loaded with, in an
/// MDL (`.symtab` then `.strtab`), and the load offset.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ElfSymsReply {
    pub mdl: u32,
    pub _reserved: u32,
    pub symtab_size: u64,
    pub strtab_size: u64,
    pub load_offset: u64,
}

const _: () = {
    assert!(Method::Create as u16 == 0);
    assert!(Method::Resume as u16 == 9);
    assert!(Method::Exit as u16 == 10);
    assert!(Method::GetExitInfo as u16 == 12);
    assert!(Method::GetPid as u16 == 25);
    // The 26, then Wait, SetInitialRights, GetElfHdr, SetBudget, GetBudget,
    // SetAffinity.
    assert!(ALL.len() == METHOD_COUNT as usize + 6);
    assert!(core::mem::size_of::<Budget>() == 24);
    assert!(core::mem::size_of::<BudgetInfo>() <= crate::msg::MAX_FIXED);
    assert!(CreateFlags::FROM_ROMFS.bits() == 1);
    assert!(CreateFlags::DUMPABLE.bits() == 2);
    assert!(CreateFlags::CRITICAL.bits() == 4);
    assert!(core::mem::size_of::<CreateReq>() == 40);
    assert!(core::mem::size_of::<ExitInfo>() == 40);
    assert!(ExitStatus::Exception as u32 == 3);
    assert!(ExitStatus::Frozen as u32 == 4);
    assert!(core::mem::size_of::<LoadSegReq>() == 40);
    assert!(core::mem::size_of::<TaskEntry>() == 8 + MAX_NAME + 128);
    assert!(core::mem::size_of::<ThreadContext>() == 8 + 31 * 8 + 32 + 16 + 32 * 16);
    assert!(FaultKind::StackOverflow as u32 == 4);
};

impl crate::decl::Named for CreateFlags {
    const VALUES: &'static [(&'static str, u64)] = &[
        ("FROM_ROMFS", CreateFlags::FROM_ROMFS.bits() as u64),
        ("DUMPABLE", CreateFlags::DUMPABLE.bits() as u64),
        ("CRITICAL", CreateFlags::CRITICAL.bits() as u64),
    ];
    const BITS: bool = true;
}
