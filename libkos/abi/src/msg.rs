//! The IPC message layout. A message is a [`Header`], then `fixed_len` bytes
//! of fixed-size arguments, then `arena_len` bytes of arena (strings and
//! sequences, referenced from the fixed part by [`ArenaRef`]). Requests and
//! replies have the same layout; a reply's header carries the method's
//! return code in `status`.
//!
//! Kernel objects are invoked with the same messages (`Call` on a Task,
//! Thread or kernel handle), so one security check point sees every call.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Upper bound of the fixed part, in bytes.
pub const MAX_FIXED: usize = 256;
/// Upper bound of the arena, in bytes.
pub const MAX_ARENA: usize = 64 * 1024;
/// Upper bound of a whole message.
pub const MAX_MESSAGE: usize = HEADER_SIZE + MAX_FIXED + MAX_ARENA;
pub const HEADER_SIZE: usize = core::mem::size_of::<Header>();

#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Header {
    /// Which endpoint of the object (see [`Endpoint`]).
    pub endpoint: u16,
    /// Which method of the endpoint.
    pub method: u16,
    /// Bytes of fixed part after the header (multiple of 8).
    pub fixed_len: u16,
    /// Handle descriptors carried (reserved: must be 0 until handle transfer).
    pub handles: u16,
    /// Bytes of arena after the fixed part.
    pub arena_len: u32,
    /// In a reply: the method's [`Rc`](crate::Rc). In a request: 0.
    pub status: u32,
}

impl Header {
    /// Total message length the header announces.
    pub const fn total_len(&self) -> usize {
        HEADER_SIZE + self.fixed_len as usize + self.arena_len as usize
    }
}

/// A byte range of the arena: `offset` from the arena's start.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ArenaRef {
    pub offset: u32,
    pub len: u32,
}

impl ArenaRef {
    /// The referenced bytes, if they lie inside `arena`.
    pub fn get(self, arena: &[u8]) -> Option<&[u8]> {
        let start = self.offset as usize;
        arena.get(start..start.checked_add(self.len as usize)?)
    }
}

/// The endpoints kernel objects serve.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Endpoint {
    /// `kl.core.Task`, on a Task handle (see [`crate::task`]).
    Task = 1,
    /// Thread management, on a Task handle (create) or a Thread handle.
    Thread = 2,
    /// Virtual memory of the calling process, on its own Task handle.
    Vm = 3,
    /// Kernel console, on [`Handle::KERNEL`](crate::Handle::KERNEL).
    Console = 4,
    /// System information, on [`Handle::KERNEL`](crate::Handle::KERNEL).
    SysInfo = 5,
    /// Handle operations (close), on [`Handle::KERNEL`](crate::Handle::KERNEL).
    HandleOps = 6,
    /// The ROMFS the kernel embeds, read-only, on
    /// [`Handle::KERNEL`](crate::Handle::KERNEL).
    Romfs = 7,
}

impl Endpoint {
    pub const fn from_u16(v: u16) -> Option<Endpoint> {
        match v {
            1 => Some(Endpoint::Task),
            2 => Some(Endpoint::Thread),
            3 => Some(Endpoint::Vm),
            4 => Some(Endpoint::Console),
            5 => Some(Endpoint::SysInfo),
            6 => Some(Endpoint::HandleOps),
            7 => Some(Endpoint::Romfs),
            _ => None,
        }
    }
}

/// Console methods.
pub mod console {
    /// Write the arena's bytes to the console. No fixed part.
    pub const WRITE: u16 = 0;
}

/// System information methods.
pub mod sysinfo {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    /// Reply: [`MemStats`].
    pub const MEM_STATS: u16 = 0;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct MemStats {
        /// Free physical frames (4 KiB).
        pub free_frames: u64,
        /// Frames usable at boot.
        pub total_frames: u64,
        /// Kernel heap bytes in use.
        pub heap_used: u64,
        /// Live processes.
        pub processes: u64,
        /// Live threads.
        pub threads: u64,
    }
}

/// Handle operations.
pub mod handle_ops {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    /// Request: [`CloseReq`]. Closes one handle of the caller.
    pub const CLOSE: u16 = 0;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct CloseReq {
        pub handle: u32,
        pub _reserved: u32,
    }
}

/// ROMFS methods.
pub mod romfs {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    use super::ArenaRef;

    /// Request [`ReadReq`] (the path in the arena); reply [`ReadReply`] with
    /// the bytes from `offset` in the reply's arena (as many as fit in the
    /// caller's reply buffer, at most `MAX_ARENA`).
    pub const READ: u16 = 0;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ReadReq {
        pub path: ArenaRef,
        pub offset: u64,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ReadReply {
        /// The whole file's size.
        pub size: u64,
    }
}

/// Thread methods.
pub mod thread {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    use crate::sched::SchedPolicy;

    /// On a Task handle (the caller's own): request [`CreateReq`], reply
    /// [`CreateReply`]. The kernel maps the stack (with a guard page below)
    /// and starts the thread at `entry` with `arg` in x0.
    pub const CREATE: u16 = 0;
    /// On a Thread handle: request [`JoinReq`], reply [`JoinReply`]: wait
    /// until the thread ends (needs `WAIT`).
    pub const JOIN: u16 = 1;
    /// On a Thread handle: reply [`ThreadInfo`].
    pub const INFO: u16 = 2;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct CreateReq {
        pub entry: u64,
        pub arg: u64,
        /// Stack size in bytes (0 = the process's default).
        pub stack_size: u64,
        pub policy: SchedPolicy,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct CreateReply {
        pub handle: u32,
        pub tid: u32,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct JoinReq {
        /// Nanoseconds; `u64::MAX` = forever.
        pub timeout_ns: u64,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct JoinReply {
        pub exit_code: i64,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ThreadInfo {
        pub tid: u32,
        /// 0 ready, 1 running, 2 blocked, 3 ended.
        pub state: u32,
        /// CPU time consumed, nanoseconds.
        pub cpu_ns: u64,
        /// Times it was switched in.
        pub switches: u64,
    }
}

const _: () = {
    assert!(HEADER_SIZE == 16);
    assert!(core::mem::size_of::<ArenaRef>() == 8);
    assert!(Endpoint::Task as u16 == 1 && Endpoint::HandleOps as u16 == 6);
    assert!(core::mem::size_of::<thread::CreateReq>() == 40);
    assert!(core::mem::size_of::<sysinfo::MemStats>() == 40);
};
