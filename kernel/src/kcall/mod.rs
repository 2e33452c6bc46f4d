//! Kernel endpoints: `Call` on a handle to a kernel object. The request's
//! header and fixed part are copied into the kernel once and pass the gate
//! ([`crate::gate`]: limits, handle and declared right, security monitor);
//! only then does the endpoint's method run, on that copy. The reply is
//! written back to the caller.

#![forbid(unsafe_code)]

mod core_ep;
mod handles;
mod locator;
mod mdl;
mod notice;
mod task_build;
mod task_ep;
mod task_inspect;
mod thread_ep;
mod vm_ep;

use heapless::Vec as HVec;
use kernel_core::syscall::UserSlice;
use kos_abi::decl::MethodDecl;
use kos_abi::msg::{ArenaRef, Endpoint, Header, MAX_MESSAGE};
use kos_abi::{Handle, Rc, Rights};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::gate;
use crate::security::Event;
use crate::task::Kernel;
use crate::task::object::Object;
use crate::task::reply::write_reply;
use crate::task::thread::{Pid, Tid};
use core::sync::atomic::{AtomicU32, Ordering};

/// How a call ended for its caller.
pub enum Outcome {
    /// Reply written (or not, on error): the syscall returns `(rc, len)`.
    Done(Rc, u64),
    /// The caller blocked (its reply comes when it is woken) or ended.
    Pending,
    /// The caller makes the same call again (`svc` re-executed).
    Again,
}

/// The largest fixed part of a kernel method's request (checked against
/// every declaration below): what [`Request`] keeps of the snapshot.
const KERNEL_FIXED: usize = 64;

const _: () = {
    let ifaces = kos_abi::interfaces::INTERFACES;
    let mut i = 0;
    while i < ifaces.len() {
        let mut m = 0;
        while m < ifaces[i].methods.len() {
            assert!(ifaces[i].methods[m].request.size <= KERNEL_FIXED);
            m += 1;
        }
        i += 1;
    }
};

/// A decoded, validated request.
pub struct Request {
    pub caller: Pid,
    pub header: Header,
    /// Its declaration (resolved and checked by the gate).
    pub decl: &'static MethodDecl,
    /// The fixed part, as the gate saw it (bytes past the declared
    /// request's size are not kept; bytes past `fixed_len` read as zero).
    fixed: [u8; KERNEL_FIXED],
    /// User address of the arena (validated readable for `header.arena_len`).
    arena: u64,
    pub reply: u64,
    pub cap: u64,
    pub rights: Rights,
}

impl Request {
    /// The fixed part as `T` (missing bytes read as zero, so an older,
    /// shorter request still decodes; extra bytes are ignored).
    pub fn args<T: FromBytes + IntoBytes>(&self) -> T {
        let mut t = T::new_zeroed();
        let have = KERNEL_FIXED.min(core::mem::size_of::<T>());
        t.as_mut_bytes()[..have].copy_from_slice(&self.fixed[..have]);
        t
    }

    /// Copy the arena bytes `r` names into `buf`; returns them.
    pub fn arena_bytes<'b>(
        &self,
        k: &Kernel,
        r: ArenaRef,
        buf: &'b mut [u8],
    ) -> Result<&'b [u8], Rc> {
        let end = (r.offset as u64)
            .checked_add(r.len as u64)
            .ok_or(Rc::InvalidArgument)?;
        if end > self.header.arena_len as u64 || r.len as usize > buf.len() {
            return Err(Rc::InvalidArgument);
        }
        let space = space_of(k, self.caller)?;
        let out = &mut buf[..r.len as usize];
        space.copy_in(self.arena + r.offset as u64, out)?;
        Ok(out)
    }

    /// A successful reply of `fixed` and `arena` written to the caller now:
    /// for what [`Reply::Data`] cannot carry (more than 64 fixed bytes, or
    /// bytes borrowed from the kernel).
    pub fn reply_now(&self, k: &Kernel, fixed: &[u8], arena: &[u8]) -> Reply<'static> {
        let (rc, len) = write_reply(k, self.caller, self.reply, self.cap, Rc::Ok, fixed, arena);
        Reply::Written(rc, len)
    }

    /// The arena bytes `r` names, as UTF-8 text.
    pub fn arena_str<'b>(&self, k: &Kernel, r: ArenaRef, buf: &'b mut [u8]) -> Result<&'b str, Rc> {
        let b = self.arena_bytes(k, r, buf)?;
        core::str::from_utf8(b).map_err(|_| Rc::InvalidArgument)
    }

    /// The whole arena as one reference.
    pub fn whole_arena(&self) -> ArenaRef {
        ArenaRef {
            offset: 0,
            len: self.header.arena_len,
        }
    }
}

/// What a method returns to its caller.
pub enum Reply<'a> {
    /// A fixed part (up to 64 bytes) and an arena.
    Data(HVec<u8, 64>, &'a [u8]),
    /// Text copied out of a kernel object (a name or path) as the arena.
    Text(heapless::String<{ kos_abi::task::MAX_PATH }>),
    /// Already written to the caller's reply buffer: the syscall's results.
    Written(Rc, u64),
    /// Nothing to write now: the caller blocked or ended.
    Pending,
    /// Work is left and an interrupt waits: the caller makes the same call
    /// again and it goes on (`task::resume`).
    Again,
}

impl Reply<'_> {
    pub fn fixed<T: IntoBytes + Immutable>(v: &T) -> Reply<'static> {
        const {
            assert!(
                core::mem::size_of::<T>() <= 64,
                "larger replies are written directly"
            )
        };
        Reply::Data(HVec::from_slice(v.as_bytes()).unwrap_or_default(), &[])
    }
    pub fn empty() -> Reply<'static> {
        Reply::Data(HVec::new(), &[])
    }
    /// `s` as the reply's arena (cut at the ABI's path limit).
    pub fn text(s: &str) -> Reply<'static> {
        let mut t = heapless::String::new();
        for c in s.chars() {
            if t.push(c).is_err() {
                break;
            }
        }
        Reply::Text(t)
    }
}

/// The address space of live process `pid`.
pub fn space_of(k: &Kernel, pid: Pid) -> Result<&crate::task::space::AddressSpace, Rc> {
    k.process(pid)
        .and_then(|p| p.space.as_ref())
        .ok_or(Rc::InvalidArgument)
}

/// Handle `Call(handle, request, reply)` from the current thread: a
/// channel passes the message to its server (the gate runs when it is
/// delivered); a kernel object serves it here, once it passed the gate.
pub fn call(
    k: &mut Kernel,
    handle: Handle,
    request: UserSlice,
    reply: UserSlice,
    timeout_ns: u64,
) -> Outcome {
    let Some(caller) = k.current_pid() else {
        return Outcome::Done(Rc::InvalidArgument, 0);
    };
    let d = match decode(k, caller, handle, request, reply) {
        Ok(d) => d,
        Err(rc) => return Outcome::Done(rc, 0),
    };
    let Some(decl) = d.decl else {
        // A channel: the CLIENT right now, the rest of the gate at delivery.
        let Object::Channel(channel) = d.object else {
            return Outcome::Done(Rc::WrongType, 0);
        };
        if !d.rights.contains(Rights::CLIENT) {
            return Outcome::Done(Rc::NoCapability, 0);
        }
        let badge = k.badge_value(d.node);
        return match k.ipc_call(caller, channel, badge, d.header, request, reply, timeout_ns) {
            Some((rc, len)) => Outcome::Done(rc, len),
            None => Outcome::Pending,
        };
    };
    let header = d.header;
    let mut req = Request {
        caller,
        header,
        decl,
        fixed: [0; KERNEL_FIXED],
        arena: request.addr + (header.total_len() - header.arena_len as usize) as u64,
        reply: reply.addr,
        cap: reply.len,
        rights: d.rights,
    };
    if let Some(sent) = k.thread(k.current()).map(|t| t.sent.fixed()) {
        let n = sent.len().min(KERNEL_FIXED);
        req.fixed[..n].copy_from_slice(&sent[..n]);
    }
    let (reply_addr, cap) = (reply.addr, reply.len);
    // The calling thread (dispatch may block it and pick another).
    let me = k.current();
    let result = dispatch(k, &req, d.object);
    // A granting rule's effects on the target's policy state commit with
    // the call's success.
    if let (Ok(r), Some((passage, pid))) = (&result, d.effects)
        && !matches!(r, Reply::Again)
    {
        let state = gate::effects(&passage, || call_parties(k, me, caller, Some(pid)));
        k.enter_state(pid, state);
    }
    match result {
        Ok(Reply::Data(fixed, arena)) => {
            let (rc, len) = write_reply(k, caller, reply_addr, cap, Rc::Ok, &fixed[..], arena);
            Outcome::Done(rc, len)
        }
        Ok(Reply::Text(text)) => {
            let (rc, len) = write_reply(
                k,
                caller,
                reply_addr,
                cap,
                Rc::Ok,
                &[0u8; 0][..],
                text.as_bytes(),
            );
            Outcome::Done(rc, len)
        }
        Ok(Reply::Written(rc, len)) => Outcome::Done(rc, len),
        Ok(Reply::Pending) => Outcome::Pending,
        Ok(Reply::Again) => Outcome::Again,
        // No frame free, but memory of what ended waits to be given back
        // (`task::reclaim`): it goes first, and the call (which changed
        // nothing) comes back.
        Err(Rc::OutOfMemory) if !k.reclaimed() => {
            k.reclaim_all();
            Outcome::Again
        }
        Err(rc) => {
            let (_, len) = write_reply(k, caller, reply_addr, cap, rc, &[0u8; 0][..], &[]);
            Outcome::Done(rc, len)
        }
    }
}

/// What `decode` learnt: the header, the handle's object and, for a
/// kernel object, the method's declaration.
struct Decoded {
    header: Header,
    object: Object,
    rights: Rights,
    node: kernel_core::cdt::NodeId,
    decl: Option<&'static MethodDecl>,
    /// The passage and its target process, if its grant changes the
    /// target's policy state: applied if the call succeeds.
    effects: Option<(gate::Passage, Pid)>,
}

/// The gate's steps for a call, in order: limits (taking the snapshot into
/// the calling thread's `sent`) and a writable reply buffer, the handle,
/// and for a kernel object the declared method and its right, then the
/// monitor on the snapshot. A channel message passes the rest of the gate
/// when it is delivered.
fn decode(
    k: &mut Kernel,
    caller: Pid,
    handle: Handle,
    request: UserSlice,
    reply: UserSlice,
) -> Result<Decoded, Rc> {
    let me = k.current();
    if reply.len > MAX_MESSAGE as u64 {
        return Err(Rc::MessageTooLarge);
    }
    let header = k.take_sent(caller, request)?;
    let p = k.process(caller).ok_or(Rc::InvalidArgument)?;
    let space = p.space.as_ref().ok_or(Rc::InvalidArgument)?;
    // The reply buffer must be writable before anything happens.
    space.check_range(reply.addr, reply.len as usize, true)?;
    let entry = p.handles.get(handle)?;
    let object = entry.object.object;
    if let Object::Channel(_) = object {
        return Ok(Decoded {
            header,
            object,
            rights: entry.rights,
            node: entry.object.node,
            decl: None,
            effects: None,
        });
    }
    let decl = gate::kernel_method(
        &header,
        gate::Invoked {
            kind: object.declared_kind(),
            own: object == Object::Task(caller),
            rights: entry.rights,
        },
    )?;
    // The process a Task or Thread handle names is the call's target (the
    // policy tells a call on one's own child from one on another class).
    let target_pid = match object {
        Object::Task(pid) => Some(pid),
        Object::Thread(tid) => k.thread(tid).map(|t| t.process),
        _ => None,
    };
    let dst = target_pid.and_then(|p| k.process(p)).map(|p| p.subject);
    let caller_thread = k.thread(me).ok_or(Rc::InvalidArgument)?;
    let passage = gate::Passage {
        event: Event::Call,
        src: caller_thread.subject,
        cached: caller_thread.granted,
        dst: dst.unwrap_or(policy_table::KERNEL),
        held: entry.rights,
        needed: decl.right,
        endpoint: header.endpoint,
        method: header.method,
    };
    let g = gate::pass(&passage, || call_parties(k, me, caller, target_pid))?;
    if let Some(key) = g.remember
        && let Some(t) = k.thread_mut(me)
    {
        t.remember_grant(key);
    }

    Ok(Decoded {
        header,
        object,
        rights: entry.rights,
        node: entry.object.node,
        decl: Some(decl),
        effects: target_pid.filter(|_| g.effects).map(|pid| (passage, pid)),
    })
}

/// What the monitor's full check of a kernel call reads: the caller, the
/// process its handle names (if any), the caller's snapshot.
fn call_parties(
    k: &Kernel,
    me: Tid,
    caller: Pid,
    target: Option<Pid>,
) -> Result<gate::Full<'_>, Rc> {
    let sent = &k.thread(me).ok_or(Rc::InvalidArgument)?.sent;
    Ok((k.party(caller)?, target.and_then(|p| k.party(p).ok()), sent))
}

/// Kernel calls each endpoint has served (past the gate), by endpoint id:
/// `SysInfo.Served`, so that a fuzzer can tell what it reached.
static SERVED: [AtomicU32; SERVED_ENDPOINTS] = [const { AtomicU32::new(0) }; SERVED_ENDPOINTS];
const SERVED_ENDPOINTS: usize = kos_abi::msg::sysinfo::SERVED_ENDPOINTS;

/// What [`SERVED`] counts.
pub fn served() -> [u32; SERVED_ENDPOINTS] {
    core::array::from_fn(|i| SERVED[i].load(Ordering::Relaxed))
}

fn dispatch<'a>(k: &mut Kernel, req: &Request, object: Object) -> Result<Reply<'a>, Rc> {
    let endpoint = Endpoint::from_u16(req.decl.endpoint).ok_or(Rc::ResourceNotFound)?;
    if let Some(n) = SERVED.get(usize::from(req.decl.endpoint)) {
        n.fetch_add(1, Ordering::Relaxed);
    }
    match (object, endpoint) {
        (Object::Task(pid), Endpoint::Task) => task_ep::call(k, req, pid),
        (Object::Task(pid), Endpoint::Thread) => thread_ep::create(k, req, pid),
        (Object::Task(pid), Endpoint::Vm) => vm_ep::call(k, req, pid),
        (Object::Thread(tid), Endpoint::Thread) => thread_ep::call(k, req, tid),
        (
            Object::Kernel,
            Endpoint::Console
            | Endpoint::SysInfo
            | Endpoint::Romfs
            | Endpoint::Audit
            | Endpoint::Security,
        ) => core_ep::call(k, req, endpoint),
        (Object::Kernel, Endpoint::HandleOps) => handles::call(k, req),
        (Object::Kernel, Endpoint::Locator) => locator::call(k, req),
        // The gate let through only the methods declared on the kernel
        // handle: Notice.Create and Mdl.Create.
        (Object::Kernel, Endpoint::Notice) => notice::create(k, req),
        (Object::Kernel, Endpoint::Mdl) => mdl::create(k, req),
        (Object::Notice(id), Endpoint::Notice) => notice::call(k, req, id),
        (Object::Mdl(id), Endpoint::Mdl) => mdl::call(k, req, id),
        _ => Err(Rc::WrongType),
    }
}
