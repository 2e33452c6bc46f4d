//! The gate: every kernel call, every request at the moment it is
//! delivered to a server, and every reply pass [`pass`], in one order:
//!
//! 1. message limits (checked when the [`Snapshot`] is taken);
//! 2. the handle and the right the declaration names for (object,
//!    endpoint, method) ([`kernel_method`] for kernel objects; CLIENT for
//!    a channel);
//! 3. the security monitor ([`crate::security::check`]), on the snapshot;
//! 4. only then the effect.
//!
//! The monitor sees a snapshot of what will be delivered: the header and
//! fixed part are copied into the kernel once, and what is delivered (or
//! what a kernel method decodes) is that copy, so no thread of the sender
//! can change the message between the decision and the delivery.
//!
//! Layers: the gate sits below the object layer (`task`, which calls it
//! when IPC delivers) and the dispatch layer (`kcall`), above the monitor;
//! it knows processes only as (PID, class) and memory only through
//! [`UserMemory`].

#![forbid(unsafe_code)]

use kos_abi::decl::{MethodDecl, Target};
use kos_abi::msg::{HEADER_SIZE, Header, MAX_ARENA, MAX_FIXED, MAX_HANDLES, MAX_MESSAGE};
use kos_abi::{Rc, Rights};
use zerocopy::FromBytes;

use crate::security::{self, Event};

/// A process as the monitor knows it: its PID and class (`eiid`).
pub type Party<'a> = (u32, &'a str);

/// Checked reads of a process's memory (an address space).
pub trait UserMemory {
    /// Copy `buf.len()` bytes from user address `va` (user-readable).
    fn copy_in(&self, va: u64, buf: &mut [u8]) -> Result<(), Rc>;
    /// Whether `[va, va+len)` is mapped for user access (writable if asked).
    fn check_range(&self, va: u64, len: usize, write: bool) -> Result<(), Rc>;
}

/// A message's header and fixed part, copied into the kernel. Each thread
/// has one (`Thread::sent` in the object layer) for what
/// it sends, so taking one writes only the bytes the message has.
pub struct Snapshot {
    pub header: Header,
    /// The header's and the fixed part's bytes, as they go out: the first
    /// `len` bytes are the message's.
    head: [u8; HEADER_SIZE + MAX_FIXED],
    len: usize,
}

impl Snapshot {
    pub const fn empty() -> Snapshot {
        Snapshot {
            header: Header {
                endpoint: 0,
                method: 0,
                fixed_len: 0,
                handles: 0,
                arena_len: 0,
                status: 0,
            },
            head: [0; HEADER_SIZE + MAX_FIXED],
            len: 0,
        }
    }

    /// Take the message of `len` bytes at `addr` in `space`: its header,
    /// checked against the limits and `len`, and its fixed part. The rest
    /// of the message must be readable too.
    pub fn take(&mut self, space: &impl UserMemory, addr: u64, len: u64) -> Result<(), Rc> {
        if len < HEADER_SIZE as u64 {
            return Err(Rc::InvalidArgument);
        }
        if len > MAX_MESSAGE as u64 {
            return Err(Rc::MessageTooLarge);
        }
        self.len = 0;
        // One copy for header and fixed part (and perhaps the start of
        // what follows, which must be readable anyway).
        let first = (len as usize).min(self.head.len());
        space.copy_in(addr, &mut self.head[..first])?;
        let header =
            Header::read_from_bytes(&self.head[..HEADER_SIZE]).map_err(|_| Rc::InvalidArgument)?;
        check_limits(&header, len)?;
        // fixed_len <= MAX_FIXED, and the message holds it: checked with
        // the limits, so `end <= first`.
        let end = HEADER_SIZE + header.fixed_len as usize;
        if len > end as u64 {
            space.check_range(addr, len as usize, false)?;
        }
        self.header = header;
        self.len = end;
        Ok(())
    }

    /// The fixed part.
    pub fn fixed(&self) -> &[u8] {
        &self.head[HEADER_SIZE..self.len.max(HEADER_SIZE)]
    }

    /// Header and fixed part, as they go out.
    pub fn head(&self) -> &[u8] {
        &self.head[..self.len]
    }
}

/// Check a header against the limits and the message length it came with.
fn check_limits(h: &Header, len: u64) -> Result<(), Rc> {
    if h.fixed_len as usize > MAX_FIXED
        || h.arena_len as usize > MAX_ARENA
        || h.handles as usize > MAX_HANDLES
    {
        return Err(Rc::MessageTooLarge);
    }
    if h.total_len() as u64 != len || !h.fixed_len.is_multiple_of(8) {
        return Err(Rc::InvalidArgument);
    }
    Ok(())
}

/// The object a kernel call's handle names, as the declarations see it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Invoked {
    /// Its kind ([`Target::Task`] for any Task); `None` for objects no
    /// kernel method is declared on (channels, badges, user objects).
    pub kind: Option<Target>,
    /// A Task handle to the caller itself.
    pub own: bool,
    /// The handle's rights.
    pub rights: Rights,
}

/// Step 2 for a kernel object: the declared method of the header's
/// endpoint, invoked on the object it is declared for, through a handle
/// holding the right it is declared to need.
pub fn kernel_method(header: &Header, on: Invoked) -> Result<&'static MethodDecl, Rc> {
    let decl =
        kos_abi::interfaces::method(header.endpoint, header.method).ok_or(Rc::ResourceNotFound)?;
    let wanted = match decl.target {
        Target::OwnTask => Target::Task,
        t => t,
    };
    if on.kind != Some(wanted) {
        return Err(Rc::WrongType);
    }
    if !on.rights.contains(decl.right) {
        return Err(Rc::NoCapability);
    }
    if decl.target == Target::OwnTask && !on.own {
        return Err(Rc::InvalidArgument);
    }
    if header.handles != 0 {
        // Kernel methods take no handle descriptors.
        return Err(Rc::InvalidArgument);
    }
    Ok(decl)
}

/// A process start (`Task.Create`): may `creator` start a process of
/// `class`? (The monitor's execute event, with the Create request.)
pub fn execute(creator: Party<'_>, class: &str, header: &Header, fixed: &[u8]) -> Result<(), Rc> {
    security::check(&security::Message {
        event: Event::Execute,
        source_pid: creator.0,
        source_class: creator.1,
        target: Some((0, class)),
        header,
        fixed,
    })
}

/// One message passing the gate.
pub struct Passage<'a> {
    pub event: Event,
    /// The sending process.
    pub source: Party<'a>,
    /// The process it goes to (a server, or a client for a reply); `None`
    /// for a kernel object.
    pub target: Option<Party<'a>>,
    /// The rights of the handle the message goes through, and the rights
    /// its declaration (or the channel end) needs.
    pub held: Rights,
    pub needed: Rights,
    pub message: &'a Snapshot,
}

/// Steps 2 (the right, once the handle was found) and 3 (the monitor).
/// `Ok` means the effect may happen.
pub fn pass(p: &Passage<'_>) -> Result<(), Rc> {
    if !p.held.contains(p.needed) {
        return Err(Rc::NoCapability);
    }
    security::check(&security::Message {
        event: p.event,
        source_pid: p.source.0,
        source_class: p.source.1,
        target: p.target,
        header: &p.message.header,
        fixed: p.message.fixed(),
    })
}
