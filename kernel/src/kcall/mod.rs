//! Kernel endpoints: `Call` on a handle to a kernel object. The request is
//! read from the caller's memory and validated in full (sizes, addresses,
//! handle, endpoint), passes the security monitor, and only then reaches
//! the endpoint's method; the reply is written back to the caller.

mod core_ep;
mod objects_ep;
mod task_ep;
mod thread_ep;
mod vm_ep;

use heapless::Vec as HVec;
use kernel_core::syscall::UserSlice;
use kos_abi::msg::{ArenaRef, Endpoint, HEADER_SIZE, Header, MAX_FIXED, MAX_MESSAGE};
use kos_abi::{Handle, Rc, Rights};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::task::Kernel;
use crate::task::object::Object;
use crate::task::thread::Pid;

/// How a call ended for its caller.
pub enum Outcome {
    /// Reply written (or not, on error): the syscall returns `(rc, len)`.
    Done(Rc, u64),
    /// The caller blocked (its reply comes when it is woken) or ended.
    Pending,
}

/// A decoded, validated request.
pub struct Request {
    pub caller: Pid,
    pub header: Header,
    fixed: [u8; MAX_FIXED],
    /// User address of the arena (validated readable for `header.arena_len`).
    arena: u64,
    pub reply: u64,
    pub cap: u64,
    pub rights: Rights,
}

impl Request {
    /// The fixed part as `T` (missing bytes read as zero, so an older,
    /// shorter request still decodes; extra bytes are ignored).
    pub fn args<T: FromBytes>(&self) -> T {
        let n = core::mem::size_of::<T>().min(MAX_FIXED);
        let mut buf = [0u8; MAX_FIXED];
        let have = (self.header.fixed_len as usize).min(n);
        buf[..have].copy_from_slice(&self.fixed[..have]);
        T::read_from_prefix(&buf[..])
            .map(|(t, _)| t)
            .unwrap_or_else(|_| T::new_zeroed())
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
}

impl Reply<'_> {
    pub fn fixed<T: IntoBytes + Immutable>(v: &T) -> Reply<'static> {
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

pub fn space_of(k: &Kernel, pid: Pid) -> Result<&crate::task::space::AddressSpace, Rc> {
    k.procs
        .get(pid)
        .and_then(|p| p.space.as_ref())
        .ok_or(Rc::InvalidArgument)
}

/// Handle `Call(handle, request, reply)` from the current thread: a
/// channel passes the message to its server; a kernel object serves it here.
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
    let (req, req_len, reply_addr, cap) = (request.addr, request.len, reply.addr, reply.len);
    let (request_d, object) = match decode(k, caller, handle, req, req_len, reply_addr, cap) {
        Ok(r) => r,
        Err(rc) => return Outcome::Done(rc, 0),
    };
    if let Object::Channel(channel) = object {
        if !request_d.rights.contains(Rights::CLIENT) {
            return Outcome::Done(Rc::NoCapability, 0);
        }
        let badge = k
            .entry(caller, handle)
            .map_or(0, |e| k.badge_value(e.object.node));
        return match k.ipc_call(caller, channel, badge, request, reply, timeout_ns) {
            Some((rc, len)) => Outcome::Done(rc, len),
            None => Outcome::Pending,
        };
    }
    if request_d.header.handles != 0 {
        // Kernel methods take no handle descriptors.
        return Outcome::Done(Rc::InvalidArgument, 0);
    }
    let result = dispatch(k, &request_d, object);
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
        Err(rc) => {
            let (_, len) = write_reply(k, caller, reply_addr, cap, rc, &[0u8; 0][..], &[]);
            Outcome::Done(rc, len)
        }
    }
}

fn decode(
    k: &Kernel,
    caller: Pid,
    handle: Handle,
    req: u64,
    req_len: u64,
    reply: u64,
    cap: u64,
) -> Result<(Request, Object), Rc> {
    let p = k.procs.get(caller).ok_or(Rc::InvalidArgument)?;
    let space = p.space.as_ref().ok_or(Rc::InvalidArgument)?;
    if req_len < HEADER_SIZE as u64 {
        return Err(Rc::InvalidArgument);
    }
    if req_len > MAX_MESSAGE as u64 {
        return Err(Rc::MessageTooLarge);
    }
    let mut hbuf = [0u8; HEADER_SIZE];
    space.copy_in(req, &mut hbuf)?;
    let header = Header::read_from_bytes(&hbuf).map_err(|_| Rc::InvalidArgument)?;
    crate::task::ipc::check_header(&header, req_len)?;
    let mut fixed = [0u8; MAX_FIXED];
    space.copy_in(
        req + HEADER_SIZE as u64,
        &mut fixed[..header.fixed_len as usize],
    )?;
    let arena = req + (header.total_len() - header.arena_len as usize) as u64;
    space.check_range(arena, header.arena_len as usize, false)?;
    // The reply buffer must be writable before anything happens.
    if cap > MAX_MESSAGE as u64 {
        return Err(Rc::MessageTooLarge);
    }
    space.check_range(reply, cap as usize, true)?;

    let entry = p.handles.get(handle)?;
    let object = entry.object.object;
    if !matches!(object, Object::Channel(_)) {
        Endpoint::from_u16(header.endpoint).ok_or(Rc::ResourceNotFound)?;
    }
    let server = match object {
        Object::Task(t) => Some(t),
        Object::Channel(c) => k.channels.get(c).and_then(|c| c.server),
        _ => None,
    };
    let target_task = server
        .and_then(|t| k.procs.get(t))
        .map(|t| (t.pid, t.eiid.as_str()));
    crate::security::check(&crate::security::Message {
        source_pid: p.pid,
        source_class: &p.eiid,
        target: object,
        target_task,
        endpoint: header.endpoint,
        method: header.method,
        fixed: &fixed[..header.fixed_len as usize],
        arena_len: header.arena_len,
    })?;
    Ok((
        Request {
            caller,
            header,
            fixed,
            arena,
            reply,
            cap,
            rights: entry.rights,
        },
        object,
    ))
}

fn dispatch<'a>(k: &mut Kernel, req: &Request, object: Object) -> Result<Reply<'a>, Rc> {
    let endpoint = Endpoint::from_u16(req.header.endpoint).ok_or(Rc::ResourceNotFound)?;
    match (object, endpoint) {
        (Object::Task(pid), Endpoint::Task) => task_ep::call(k, req, pid),
        (Object::Task(pid), Endpoint::Thread) => thread_ep::create(k, req, pid),
        (Object::Task(pid), Endpoint::Vm) => vm_ep::call(k, req, pid),
        (Object::Thread(tid), Endpoint::Thread) => thread_ep::call(k, req, tid),
        (Object::Kernel, Endpoint::Console | Endpoint::SysInfo | Endpoint::Romfs) => {
            core_ep::call(k, req, endpoint)
        }
        (Object::Kernel, Endpoint::HandleOps) => objects_ep::handle_ops(k, req),
        (Object::Kernel, Endpoint::Locator) => objects_ep::locator(k, req),
        (Object::Kernel, Endpoint::Notice) => objects_ep::notice_create(k, req),
        (Object::Kernel, Endpoint::Mdl) => objects_ep::mdl_create(k, req),
        (Object::Notice(id), Endpoint::Notice) => objects_ep::notice_call(k, req, id),
        (Object::Mdl(id), Endpoint::Mdl) => objects_ep::mdl_call(k, req, id),
        _ => Err(Rc::WrongType),
    }
}

/// Write a reply (header with `rc`, `fixed`, `arena`) to `pid`'s buffer at
/// `reply` (capacity `cap`); returns what the syscall should return.
pub fn write_reply<F: IntoBytes + Immutable + ?Sized>(
    k: &Kernel,
    pid: Pid,
    reply: u64,
    cap: u64,
    rc: Rc,
    fixed: &F,
    arena: &[u8],
) -> (Rc, u64) {
    let fixed = fixed.as_bytes();
    let Ok(space) = space_of(k, pid) else {
        return (rc, 0);
    };
    let header = Header {
        endpoint: 0,
        method: 0,
        fixed_len: fixed.len() as u16,
        handles: 0,
        arena_len: arena.len() as u32,
        status: rc as u32,
    };
    let total = header.total_len() as u64;
    if total > cap {
        // An error still fits as a bare header if there is room for one.
        if rc != Rc::Ok {
            let bare = Header {
                fixed_len: 0,
                arena_len: 0,
                ..header
            };
            if cap >= HEADER_SIZE as u64 && space.copy_out(reply, bare.as_bytes()).is_ok() {
                return (rc, HEADER_SIZE as u64);
            }
            return (rc, 0);
        }
        return (Rc::MessageTooLarge, 0);
    }
    let parts = [header.as_bytes(), fixed, arena];
    let mut at = reply;
    for part in parts {
        if space.copy_out(at, part).is_err() {
            return (Rc::BadAddress, 0);
        }
        at += part.len() as u64;
    }
    (rc, total)
}

/// Deadline tick for a timeout in ns (`u64::MAX` = none).
pub fn deadline(timeout_ns: u64) -> Option<u64> {
    (timeout_ns != u64::MAX).then(|| crate::task::deadline_after(timeout_ns))
}
