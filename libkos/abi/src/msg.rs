//! The IPC message layout. A message is a [`Header`], then `fixed_len` bytes
//! of fixed-size arguments, then `handles` [`HandleDesc`]s, then `arena_len`
//! bytes of arena (strings and sequences, referenced from the fixed part by
//! [`ArenaRef`]). Requests and
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
/// Upper bound of handle descriptors in one message.
pub const MAX_HANDLES: usize = 8;
/// Upper bound of a whole message.
pub const MAX_MESSAGE: usize = HEADER_SIZE + MAX_FIXED + MAX_HANDLES * DESC_SIZE + MAX_ARENA;
pub const HEADER_SIZE: usize = core::mem::size_of::<Header>();
pub const DESC_SIZE: usize = core::mem::size_of::<HandleDesc>();

/// A handle passed in a message. The sender names one of its handles and
/// the rights and badge the receiver's copy gets; the kernel rewrites the
/// descriptor the receiver sees with the receiver's new handle and the
/// value of the badge of the transfer subtree it lies in.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct HandleDesc {
    /// Sender: its handle. Receiver: the new handle in its table.
    pub handle: u32,
    /// Rights of the receiver's handle: a subset of the sender's, else the
    /// call fails with `rcNoCapability`.
    pub rights: u32,
    /// [`DESC_COPY`] (needs the COPY right) or [`DESC_MOVE`] (needs TRANSFER;
    /// the sender's handle is closed once the message is delivered).
    pub mode: u32,
    /// Sender: a Badge handle to attach ([`NO_BADGE`]: none). Receiver: 0.
    pub badge: u32,
    /// Receiver: the badge value the new handle carries (0: none).
    pub badge_value: u64,
}

pub const DESC_COPY: u32 = 0;
pub const DESC_MOVE: u32 = 1;
/// No badge handle.
pub const NO_BADGE: u32 = u32::MAX;

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
    /// Handle descriptors after the fixed part (at most [`MAX_HANDLES`];
    /// kernel methods take none).
    pub handles: u16,
    /// Bytes of arena after the fixed part.
    pub arena_len: u32,
    /// In a reply: the method's [`Rc`](crate::Rc). In a request: 0.
    pub status: u32,
}

impl Header {
    /// Total message length the header announces.
    pub const fn total_len(&self) -> usize {
        HEADER_SIZE
            + self.fixed_len as usize
            + self.handles as usize * DESC_SIZE
            + self.arena_len as usize
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

/// The endpoints kernel objects serve, declared in [`crate::interfaces`].
pub use crate::interfaces::Endpoint;

/// System information: its layouts (the methods are declared in
/// [`crate::interfaces`]).
pub mod sysinfo {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

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
        /// Live handles, in every process.
        pub handles: u64,
        /// Live kernel objects: channels, badges, user objects, notices,
        /// MDLs, notice subscriptions.
        pub objects: u64,
    }

    /// Endpoint ids [`Served`] counts (0..16).
    pub const SERVED_ENDPOINTS: usize = 16;

    /// `Served`: kernel calls each endpoint served past the gate since
    /// boot, by endpoint id (wrapping).
    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct Served {
        pub calls: [u32; SERVED_ENDPOINTS],
    }

    /// `FastPath`: what to do with the IPC fast path.
    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct FastPathReq {
        /// [`FAST_PATH_OFF`], [`FAST_PATH_ON`] or [`FAST_PATH_KEEP`].
        pub set: u32,
        pub _reserved: u32,
    }
    crate::fields!(FastPathReq {
        set: u32,
        _reserved: u32
    });

    /// Turn the fast path off: every call and reply takes the slow path.
    pub const FAST_PATH_OFF: u32 = 0;
    /// Turn it on (as it is at boot).
    pub const FAST_PATH_ON: u32 = 1;
    /// Leave it as it is (only read the counts).
    pub const FAST_PATH_KEEP: u32 = 2;

    /// `FastPath`'s reply: whether it was on before the call, and the
    /// calls and replies it served since boot.
    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct FastPath {
        pub was_on: u32,
        pub _reserved: u32,
        pub calls: u64,
        pub replies: u64,
    }

    /// `TickLateness`: the timer interrupt's delays over a period.
    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct Lateness {
        /// The longest time from a tick's deadline to its handler, in ns:
        /// how long the kernel kept interrupts masked at worst.
        pub worst_ns: u64,
        /// Ticks taken in the period.
        pub ticks: u64,
        /// Long calls that stopped for a waiting interrupt and went on
        /// afterwards, in the period.
        pub resumed: u64,
    }
}

/// Handle operations.
pub mod handle_ops {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    /// Object kinds [`Identity::kind`] reports.
    pub const KIND_TASK: u32 = 1;
    pub const KIND_THREAD: u32 = 2;
    pub const KIND_KERNEL: u32 = 3;
    pub const KIND_CHANNEL: u32 = 4;
    pub const KIND_BADGE: u32 = 5;
    pub const KIND_USER_OBJECT: u32 = 6;
    pub const KIND_NOTICE: u32 = 7;
    pub const KIND_MDL: u32 = 8;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct CopyReq {
        pub handle: u32,
        pub rights: u32,
        /// A Badge handle to attach, or [`NO_BADGE`](super::NO_BADGE).
        pub badge: u32,
        pub _reserved: u32,
    }
    crate::fields!(CopyReq {
        handle: u32,
        rights: u32,
        badge: u32,
        _reserved: u32
    });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct HandleReply {
        pub handle: u32,
        pub _reserved: u32,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ChannelReply {
        pub server: u32,
        pub client: u32,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct BadgeReq {
        pub value: u64,
        /// A Notice handle to tell when the badge is closed, or `NO_BADGE`.
        pub notice: u32,
        pub _reserved: u32,
        /// The cookie that notice reports.
        pub cookie: u64,
    }
    crate::fields!(BadgeReq {
        value: u64,
        notice: u32,
        _reserved: u32,
        cookie: u64
    });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct UserObjectReq {
        /// The server's own value for the resource (seen again through IDENTIFY).
        pub context: u64,
        /// Rights of the handle (object-specific bits mean what the server says).
        pub rights: u32,
        pub _reserved: u32,
    }
    crate::fields!(UserObjectReq {
        context: u64,
        rights: u32,
        _reserved: u32
    });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct Identity {
        /// One of the `KIND_*` values.
        pub kind: u32,
        pub rights: u32,
        /// The badge value of the handle's transfer subtree (0: none).
        pub badge_value: u64,
        /// For a user object the caller created: its context; else 0.
        pub context: u64,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct CloseReq {
        pub handle: u32,
        pub _reserved: u32,
    }
    crate::fields!(CloseReq {
        handle: u32,
        _reserved: u32
    });
}

/// Static channels by name (`ServiceLocatorRegister` / `Connect`).
pub mod locator {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    use super::ArenaRef;

    /// Longest channel name.
    pub const MAX_NAME: usize = 64;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct NameReq {
        pub name: ArenaRef,
    }
    crate::fields!(NameReq { name: ArenaRef });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ConnectTasksReq {
        pub client: u32,
        pub server: u32,
        pub name: ArenaRef,
    }
    crate::fields!(ConnectTasksReq {
        client: u32,
        server: u32,
        name: ArenaRef
    });
}

/// Notification receivers.
pub mod notice {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    /// The object was destroyed (its last handle closed) or, for a task,
    /// it ended.
    pub const OBJECT_DESTROYED: u32 = 1 << 0;
    /// A badge was closed (every handle to it).
    pub const BADGE_CLOSED: u32 = 1 << 1;
    /// The other end of a channel is gone.
    pub const PEER_DIED: u32 = 1 << 2;
    /// Sent by [`SIGNAL`].
    pub const USER: u32 = 1 << 3;
    /// Events a notice queues at most before it drops the oldest.
    pub const MAX_QUEUED: usize = 64;
    /// Subscriptions in the whole system at most.
    pub const MAX_SUBSCRIPTIONS: usize = 4096;
    /// Subscriptions one process makes at most (Subscribe, GetTasksList,
    /// badges with a close notice): no process can take them all.
    pub const MAX_SUBSCRIPTIONS_PER_PROCESS: usize = 256;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct SubscribeReq {
        pub object: u32,
        pub mask: u32,
        pub cookie: u64,
    }
    crate::fields!(SubscribeReq {
        object: u32,
        mask: u32,
        cookie: u64
    });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct WaitReq {
        /// Nanoseconds; `u64::MAX` = forever; 0 = do not block.
        pub timeout_ns: u64,
    }
    crate::fields!(WaitReq { timeout_ns: u64 });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct WaitReply {
        /// Events in the arena.
        pub count: u32,
        /// Events still queued.
        pub left: u32,
    }

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct Event {
        pub cookie: u64,
        pub event: u32,
        pub _reserved: u32,
    }
    crate::fields!(Event {
        cookie: u64,
        event: u32,
        _reserved: u32
    });
}

/// MDL buffers: physical memory shared by handle.
pub mod mdl {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    /// Largest MDL buffer.
    pub const MAX_SIZE: u64 = 16 << 20;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct CreateReq {
        pub size: u64,
    }
    crate::fields!(CreateReq { size: u64 });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct MapReq {
        /// Nonzero: map writable.
        pub writable: u32,
        pub _reserved: u32,
    }
    crate::fields!(MapReq {
        writable: u32,
        _reserved: u32
    });
}

/// The security audit: its records and the layouts of `Audit.Read`.
pub mod audit {
    use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

    /// Records one `Audit.Read` returns at most.
    pub const READ_MAX: usize = 8;
    /// Bytes of a class name or rule location a record keeps.
    pub const NAME_LEN: usize = 32;
    /// [`Record::decision`]: refused, granted (and audited).
    pub const DENIED: u8 = 0;
    pub const GRANTED: u8 = 1;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ReadReq {
        /// Records with a greater sequence number are returned.
        pub after: u64,
    }
    crate::fields!(ReadReq { after: u64 });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ReadReply {
        /// Records in the arena.
        pub count: u32,
        /// Records after `after` that the bounded ring lost.
        pub lost: u32,
        /// The sequence number of the newest record so far.
        pub last: u64,
    }

    /// One decision. Names are cut to [`NAME_LEN`] bytes, NUL-padded.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
    #[repr(C)]
    pub struct Record {
        /// 1, 2, 3, ... in the order of the decisions.
        pub seq: u64,
        pub src_pid: u32,
        /// 0 for the kernel's own objects and for a process not created yet.
        pub dst_pid: u32,
        pub endpoint: u16,
        pub method: u16,
        /// The rule that decided (0xFFFF: none granted it).
        pub rule: u16,
        /// The policy's event: request 0, response 1, error 2, call 3,
        /// execute 4.
        pub event: u8,
        pub decision: u8,
        pub src_class: [u8; NAME_LEN],
        pub dst_class: [u8; NAME_LEN],
        /// Where the rule is written (`file:line:column`, cut to fit).
        pub rule_at: [u8; NAME_LEN],
    }

    impl Default for Record {
        fn default() -> Record {
            Record::new_zeroed()
        }
    }

    /// A name field as text.
    pub fn text(field: &[u8; NAME_LEN]) -> &str {
        let end = field.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        core::str::from_utf8(&field[..end]).unwrap_or("?")
    }

    const _: () = assert!(core::mem::size_of::<Record>() == 120);
}

/// Questions to the security policy: `Security.Check`.
pub mod security {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    /// Bytes of arguments a question carries.
    pub const ARGS: usize = 48;

    #[derive(Copy, Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
    #[repr(C)]
    pub struct CheckReq {
        /// The security interface's endpoint and the method asked about.
        pub endpoint: u16,
        pub method: u16,
        pub _reserved: u32,
        /// Its arguments, laid out as the method's request fixed part.
        pub args: [u8; ARGS],
    }
    crate::fields!(CheckReq {
        endpoint: u16,
        method: u16,
        _reserved: u32,
        args: [u8; 48]
    });
}

/// The ROMFS: its layouts (the methods are declared in
/// [`crate::interfaces`]).
pub mod romfs {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    use super::ArenaRef;

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ReadReq {
        pub path: ArenaRef,
        pub offset: u64,
    }
    crate::fields!(ReadReq {
        path: ArenaRef,
        offset: u64
    });

    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct ReadReply {
        /// The whole file's size.
        pub size: u64,
    }
}

/// Threads: their layouts (the methods are declared in
/// [`crate::interfaces`]).
pub mod thread {
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    use crate::sched::SchedPolicy;

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
    crate::fields!(CreateReq {
        entry: u64,
        arg: u64,
        stack_size: u64,
        policy: SchedPolicy
    });

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
    crate::fields!(JoinReq { timeout_ns: u64 });

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
        /// The cores it may run on (bit = core; `SetAffinity`).
        pub affinity: u64,
        /// The core it runs on, or last ran on (`u32::MAX`: none yet).
        pub core: u32,
        pub _pad: u32,
    }

    /// `Thread.SetAffinity`, `Task.SetAffinity`: the cores a thread may
    /// run on, bit `n` for core `n` (MPIDR.Aff0). At least one of them
    /// must run threads; bits of cores that do not are kept but unused.
    #[derive(
        Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct Affinity {
        pub cores: u64,
    }
    crate::fields!(Affinity { cores: u64 });
}

const _: () = {
    assert!(HEADER_SIZE == 16);
    assert!(DESC_SIZE == 24);
    assert!(Endpoint::Locator as u16 == 8 && Endpoint::Mdl as u16 == 10);
    {
        use crate::interfaces::handle_ops::Method;
        assert!(Method::Copy as u16 == 1 && Method::Revoke as u16 == 2);
        assert!(Method::Identify as u16 == 6);
    }
    assert!(core::mem::size_of::<handle_ops::BadgeReq>() == 24);
    assert!(core::mem::size_of::<notice::Event>() == 16);
    assert!(core::mem::size_of::<ArenaRef>() == 8);
    assert!(Endpoint::Task as u16 == 1 && Endpoint::HandleOps as u16 == 6);
    assert!(core::mem::size_of::<thread::CreateReq>() == 40);
    assert!(core::mem::size_of::<sysinfo::MemStats>() == 56);
    assert!(core::mem::size_of::<sysinfo::Lateness>() == 24);
    assert!(core::mem::size_of::<sysinfo::Served>() == 64);
};
