//! Processes: an address space, a handle table, threads, and how it ended.

use alloc::vec::Vec;

use heapless::String;
use kernel_core::handles::HandleTable;
use kos_abi::task::{CreateFlags, ExitInfo, ExitStatus, MAX_NAME, MAX_PATH};

use super::object::Cap;
use super::space::AddressSpace;
use super::thread::{Pid, Tid};

/// Handles one process may hold.
pub const MAX_HANDLES: usize = 256;
/// Threads one process may have alive.
pub const MAX_THREADS_PER_PROCESS: usize = 64;
/// Default memory quota: 8192 frames (32 MiB) of pages and tables.
pub const DEFAULT_QUOTA_FRAMES: usize = 8192;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Created, not resumed: its creator may still prepare it.
    Created,
    Running,
    /// A `DUMPABLE` process stopped by an unhandled exception: threads
    /// stopped, memory kept for inspection until `TerminateAfterFreezing`.
    Frozen,
    /// Ended: memory and threads are gone, the exit information stays until
    /// the last handle to it is closed.
    Ended,
}

pub struct Process {
    pub pid: u32,
    pub name: String<MAX_NAME>,
    pub eiid: String<MAX_NAME>,
    pub path: String<MAX_PATH>,
    pub flags: CreateFlags,
    pub lifecycle: Lifecycle,
    /// `None` once ended.
    pub space: Option<AddressSpace>,
    pub handles: HandleTable<Cap>,
    /// Live threads (the initial one first).
    pub threads: Vec<Tid>,
    /// Default stack size of its threads.
    pub stack_size: u64,
    pub exit: ExitInfo,
    /// Handles naming this process, in any process (itself included).
    pub handle_refs: u32,
    /// Threads blocked in `Task.WAIT` on this process.
    pub waiters: Vec<Tid>,
    /// Address and length of its environment data, once set.
    pub env: Option<(u64, u64)>,
    /// Its static channels, by name (made by its parent before it started).
    pub statics: Vec<StaticEnd>,
    /// What was added to the executable's addresses (ASLR); 0 for ET_EXEC.
    pub load_offset: u64,
    /// Its symbol tables, for crash reports and `GetElfSyms`.
    pub syms: Option<Syms>,
    /// The ELF header given with `LoadElfHdr`.
    pub elf_hdr: Option<Vec<u8>>,
    /// Places the position-independent programs this process creates.
    pub aslr: kernel_core::aslr::Aslr,
    /// The initial thread's class, priority and quantum.
    pub initial: (kos_abi::sched::SchedClass, u32, u32),
    /// The cores its threads may run on when they start (`SetAffinity`).
    pub affinity: u64,
    /// The thread whose fault froze it (a frozen process).
    pub fault_thread: Option<Tid>,
    /// Its subject in the security policy (its class, or a named instance
    /// of it) and its state in its class's state machine.
    pub subject: u16,
    /// Its policy state: its class's machine's state, its variables and
    /// sets (`policy_table::State`).
    pub policy: policy_table::State,
    /// Its integrity level: its class's, or its creator's if that is lower.
    pub level: u8,
    /// Kernel heap charged to it, against its budget's `memory`: its
    /// threads' state and the ELF blobs loaded into it (see
    /// [`Kernel::charge`](super::Kernel::charge)).
    pub kmem: u64,
    /// Its creator's PID (0 for the first process).
    pub parent: u32,
    /// Its creator's record, whose budget its own is carved from (kept
    /// while this one exists: see [`super::budget`]).
    pub creator: Option<Pid>,
}

/// `.symtab` and `.strtab` of a process.
pub enum Syms {
    /// Straight from the ROMFS image (which lives as long as the kernel).
    Romfs(&'static [u8], &'static [u8]),
    /// Given with `LoadElfSyms`: the symtab's length, then both tables.
    Owned(usize, Vec<u8>),
}

impl Syms {
    /// Kernel heap it holds (nothing for tables in the ROMFS image).
    pub fn kmem(&self) -> usize {
        match self {
            Syms::Romfs(..) => 0,
            Syms::Owned(_, v) => v.len(),
        }
    }

    pub fn tables(&self) -> (&[u8], &[u8]) {
        match self {
            Syms::Romfs(s, t) => (s, t),
            Syms::Owned(n, v) => v.split_at(*n),
        }
    }
}

/// One end of a static channel a process finds by name.
pub struct StaticEnd {
    pub name: String<{ kos_abi::msg::locator::MAX_NAME }>,
    pub channel: kernel_core::slab::Id,
    /// The server end (else a client end).
    pub server: bool,
}

impl StaticEnd {
    /// The rights a handle to this end gets (and the reference it holds).
    pub fn rights(&self) -> kos_abi::Rights {
        use kos_abi::Rights as R;
        if self.server {
            R::SERVER | R::LISTENER | R::COPY | R::TRANSFER | R::REVOKE | R::WAIT
        } else {
            R::CLIENT | R::COPY | R::TRANSFER | R::REVOKE | R::WAIT
        }
    }
}

impl Process {
    pub fn is_running_or_created(&self) -> bool {
        self.lifecycle != Lifecycle::Ended
    }

    pub fn exit_info(&self) -> ExitInfo {
        let mut info = self.exit;
        match self.lifecycle {
            Lifecycle::Created | Lifecycle::Running => info.status = ExitStatus::Running as u32,
            Lifecycle::Frozen => info.status = ExitStatus::Frozen as u32,
            Lifecycle::Ended => {}
        }
        info
    }
}
