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
//! it knows processes only as [`Party`]s and memory only through
//! [`UserMemory`].

#![forbid(unsafe_code)]

use kos_abi::decl::{MethodDecl, Target};
use kos_abi::msg::{HEADER_SIZE, Header, MAX_ARENA, MAX_FIXED, MAX_HANDLES, MAX_MESSAGE};
use kos_abi::{Rc, Rights};
use zerocopy::FromBytes;

pub use crate::security::Party;
use crate::security::{self, Event};

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
    head: Head,
    len: usize,
}

/// A snapshot's bytes, aligned so that its header reads as words (the
/// kernel's target forbids unaligned loads: a byte-aligned header is
/// read a byte at a time).
#[repr(C, align(8))]
struct Head([u8; HEADER_SIZE + MAX_FIXED]);

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
            head: Head([0; HEADER_SIZE + MAX_FIXED]),
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
        let first = (len as usize).min(self.head.0.len());
        space.copy_in(addr, &mut self.head.0[..first])?;
        let header = *Header::ref_from_prefix(&self.head.0)
            .map_err(|_| Rc::InvalidArgument)?
            .0;
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
        &self.head.0[HEADER_SIZE..self.len.max(HEADER_SIZE)]
    }

    /// Header and fixed part, as they go out.
    pub fn head(&self) -> &[u8] {
        &self.head.0[..self.len]
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

/// A process start (`Task.Create`, and einit's at boot): may `creator`
/// start `new` (its PID 0, its subject the one its class and name give)
/// from `path`? (The monitor's execute event, with the Create request's
/// fixed part.) `Ok` gives the state the new process starts in, if the
/// granting rule sets one.
pub fn execute(
    creator: Party<'_>,
    new: Party<'_>,
    fixed: &[u8],
    name: &str,
    path: &str,
) -> Result<Option<policy_table::State>, Rc> {
    let msg = security::Message {
        event: Event::Execute,
        source: creator,
        target: Some(new),
        endpoint: 0,
        method: 0,
        fixed,
        name,
        path,
    };
    Ok(if security::check(&msg)? {
        security::effects(&msg)
    } else {
        None
    })
}

/// One message passing the gate.
#[derive(Copy, Clone, Debug)]
pub struct Passage {
    pub event: Event,
    /// The policy subjects of the sending process and of the process it
    /// goes to (a server, a client for a reply, the process a Task or
    /// Thread handle names; the kernel's for a kernel object).
    pub src: u16,
    pub dst: u16,
    /// The rights of the handle the message goes through, and the rights
    /// its declaration (or the channel end) needs.
    pub held: Rights,
    pub needed: Rights,
    /// The endpoint and method the policy decides on: the message's own,
    /// or for a reply its request's (the kernel's record of it, not what
    /// the server writes).
    pub endpoint: u16,
    pub method: u16,
    /// The sending thread's last two remembered grants
    /// ([`Granted::remember`]; 0: none).
    pub cached: [u64; 2],
}

/// What the monitor's full check reads (the fast path needs none of it):
/// the sender, the target, the message.
pub type Full<'p> = (Party<'p>, Option<Party<'p>>, &'p Snapshot);

/// A passage's outcome: whether a granting rule changes the target's
/// policy state (its caller applies [`effects`] once the message has
/// taken effect), and a grant the sending thread may remember.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    pub effects: bool,
    /// The key to keep in the sender's two-entry cache ([`Passage::cached`]).
    pub remember: Option<u64>,
}

impl Passage {
    /// The key of a message in the sender's grant cache: the event, the
    /// target subject, endpoint and method (the sender's subject is the
    /// thread's own and never changes). Never 0, the empty cache.
    #[inline(always)]
    fn cache_key(&self) -> u64 {
        (u64::from(self.event as u8) + 1) << 48
            | u64::from(self.dst) << 32
            | u64::from(self.endpoint) << 16
            | u64::from(self.method)
    }
}

impl Passage {
    /// Whether the sending thread remembers an outright grant of this
    /// message kind and the handle holds the right: [`pass`]'s first
    /// step, all the IPC fast path (`task::ipc_fast`) asks of the gate.
    #[inline(always)]
    pub fn remembered(&self) -> bool {
        let key = self.cache_key();
        self.held.contains(self.needed) && (self.cached[0] == key || self.cached[1] == key)
    }
}

/// Steps 2 (the right, once the handle was found) and 3 (the monitor).
/// `Ok` means the effect may happen.
///
/// The monitor's fast path first: the sending thread's last two grants
/// ([`Passage::cached`]) if one was this same message kind, else the
/// table's unconditional grants. Only grants the table gives outright (no
/// conditions, no audit, no transition) are remembered, and the policy
/// never changes at run time, so a remembered grant stays true. `full`
/// gives the sender, the target and the message; it is asked only when
/// the fast path does not decide.
#[inline(always)]
pub fn pass<'p>(p: &Passage, full: impl FnOnce() -> Result<Full<'p>, Rc>) -> Result<Granted, Rc> {
    if !p.held.contains(p.needed) {
        return Err(Rc::NoCapability);
    }
    let key = p.cache_key();
    if p.cached[0] == key || p.cached[1] == key {
        return Ok(Granted::default());
    }
    if security::granted_outright(p.event, p.src, p.dst, p.endpoint, p.method) {
        return Ok(Granted {
            effects: false,
            remember: Some(key),
        });
    }
    let (source, target, message) = full()?;
    let effects = security::check(&message_of(p, source, target, message))?;
    Ok(Granted {
        effects,
        remember: None,
    })
}

/// The target's new policy state after a passage whose grant had effects
/// ([`Granted::effects`]), asked once the message has taken effect, so
/// that a state is kept only with the message's success.
pub fn effects<'p>(
    p: &Passage,
    full: impl FnOnce() -> Result<Full<'p>, Rc>,
) -> Option<policy_table::State> {
    let (source, target, message) = full().ok()?;
    security::effects(&message_of(p, source, target, message))
}

fn message_of<'a>(
    p: &Passage,
    source: Party<'a>,
    target: Option<Party<'a>>,
    message: &'a Snapshot,
) -> security::Message<'a> {
    security::Message {
        event: p.event,
        source,
        target,
        endpoint: p.endpoint,
        method: p.method,
        fixed: message.fixed(),
        name: "",
        path: "",
    }
}
