//! Endpoints of the IPC objects: handle operations (copy, revoke, close,
//! identify, and creating channels, badges and user objects), the
//! static-channel locator, notification receivers and MDL buffers.

use kernel_core::addr::PAGE_SIZE;
use kos_abi::msg::{NO_BADGE, handle_ops as ho, locator, mdl, notice};
use kos_abi::task::Method;
use kos_abi::vm::VmRange;
use kos_abi::{Handle, Rc, Rights};

use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::object::{Badge, Channel, Mdl, Notice, Object, Subscription, UserObject};
use crate::task::process::{Lifecycle, StaticEnd};
use crate::task::thread::Pid;

fn handle_reply(h: Handle) -> Reply<'static> {
    Reply::fixed(&ho::HandleReply {
        handle: h.0,
        _reserved: 0,
    })
}

fn full(e: kernel_core::slab::SlabError) -> Rc {
    match e {
        kernel_core::slab::SlabError::Full => Rc::QuotaExceeded,
        kernel_core::slab::SlabError::OutOfMemory => Rc::OutOfMemory,
    }
}

/// Handle operations, on the kernel handle.
pub fn handle_ops<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let me = req.caller;
    match req.header.method {
        ho::CLOSE => {
            let a: ho::CloseReq = req.args();
            k.close_handle(me, Handle(a.handle)).map(|_| Reply::empty())
        }
        ho::COPY => {
            let a: ho::CopyReq = req.args();
            let e = k.entry(me, Handle(a.handle))?;
            if !e.rights.contains(Rights::COPY) {
                return Err(Rc::NoCapability);
            }
            let badge = if a.badge == NO_BADGE {
                None
            } else {
                Some(k.badge_of(me, a.badge)?)
            };
            let rights = Rights::from_bits_retain(a.rights);
            k.derive_handle(me, Handle(a.handle), me, rights, badge)
                .map(handle_reply)
        }
        ho::REVOKE => {
            let a: ho::CloseReq = req.args();
            k.revoke_handle(me, Handle(a.handle))
                .map(|_| Reply::empty())
        }
        ho::CHANNEL_CREATE => {
            let channel = Channel {
                server: Some(me),
                ..Channel::default()
            };
            let id = k.channels.insert(channel).map_err(full)?;
            let server_rights = Rights::SERVER
                | Rights::LISTENER
                | Rights::COPY
                | Rights::TRANSFER
                | Rights::REVOKE
                | Rights::WAIT;
            let client_rights =
                Rights::CLIENT | Rights::COPY | Rights::TRANSFER | Rights::REVOKE | Rights::WAIT;
            let server = match k.add_handle(me, Object::Channel(id), server_rights) {
                Ok(h) => h,
                Err(e) => {
                    k.channels.remove(id);
                    return Err(e);
                }
            };
            match k.add_handle(me, Object::Channel(id), client_rights) {
                Ok(client) => Ok(Reply::fixed(&ho::ChannelReply {
                    server: server.0,
                    client: client.0,
                })),
                Err(e) => {
                    let _ = k.close_handle(me, server);
                    Err(e)
                }
            }
        }
        ho::BADGE_CREATE => {
            let a: ho::BadgeReq = req.args();
            let notice = if a.notice == NO_BADGE {
                None
            } else {
                Some(notice_of(k, me, a.notice)?)
            };
            let id = k
                .badges
                .insert(Badge {
                    value: a.value,
                    refs: 0,
                })
                .map_err(full)?;
            let h = match k.add_handle(
                me,
                Object::Badge(id),
                Rights::ATTACH | Rights::COPY | Rights::TRANSFER,
            ) {
                Ok(h) => h,
                Err(e) => {
                    k.badges.remove(id);
                    return Err(e);
                }
            };
            if let Some(n) = notice {
                subscribe(k, n, Object::Badge(id), notice::BADGE_CLOSED, a.cookie)?;
            }
            Ok(handle_reply(h))
        }
        ho::USER_OBJECT_CREATE => {
            let a: ho::UserObjectReq = req.args();
            let id = k
                .uobjs
                .insert(UserObject {
                    owner: me,
                    context: a.context,
                    refs: 0,
                })
                .map_err(full)?;
            match k.add_handle(
                me,
                Object::UserObject(id),
                Rights::from_bits_retain(a.rights),
            ) {
                Ok(h) => Ok(handle_reply(h)),
                Err(e) => {
                    k.uobjs.remove(id);
                    Err(e)
                }
            }
        }
        ho::IDENTIFY => {
            let a: ho::CloseReq = req.args();
            let e = k.entry(me, Handle(a.handle))?;
            let (kind, context) = match e.object.object {
                Object::Task(_) => (ho::KIND_TASK, 0),
                Object::Thread(_) => (ho::KIND_THREAD, 0),
                Object::Kernel => (ho::KIND_KERNEL, 0),
                Object::Channel(_) => (ho::KIND_CHANNEL, 0),
                Object::Badge(_) => (ho::KIND_BADGE, 0),
                Object::UserObject(u) => (
                    ho::KIND_USER_OBJECT,
                    k.uobjs
                        .get(u)
                        .filter(|o| o.owner == me)
                        .map_or(0, |o| o.context),
                ),
                Object::Notice(_) => (ho::KIND_NOTICE, 0),
                Object::Mdl(_) => (ho::KIND_MDL, 0),
            };
            Ok(Reply::fixed(&ho::Identity {
                kind,
                rights: e.rights.bits(),
                badge_value: k.badge_value(e.object.node),
                context,
            }))
        }
        _ => Err(Rc::ResourceNotFound),
    }
}

/// The Notice behind one of `pid`'s handles.
fn notice_of(k: &Kernel, pid: Pid, handle: u32) -> Result<kernel_core::slab::Id, Rc> {
    match k.entry(pid, Handle(handle))?.object.object {
        Object::Notice(n) => Ok(n),
        _ => Err(Rc::WrongType),
    }
}

fn subscribe(
    k: &mut Kernel,
    notice: kernel_core::slab::Id,
    object: Object,
    mask: u32,
    cookie: u64,
) -> Result<(), Rc> {
    const MAX_SUBSCRIPTIONS: usize = 4096;
    if k.subs.len() >= MAX_SUBSCRIPTIONS {
        return Err(Rc::QuotaExceeded);
    }
    k.subs.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
    k.subs.push(Subscription {
        notice,
        object,
        mask,
        cookie,
    });
    Ok(())
}

/// The static-channel locator, on the kernel handle.
pub fn locator<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let me = req.caller;
    let mut buf = [0u8; locator::MAX_NAME];
    match req.header.method {
        locator::REGISTER | locator::CONNECT => {
            let a: locator::NameReq = req.args();
            let name = req.arena_str(k, a.name, &mut buf)?;
            let server = req.header.method == locator::REGISTER;
            let p = k.procs.get(me).ok_or(Rc::InvalidArgument)?;
            let end = p
                .statics
                .iter()
                .find(|s| s.name == name && s.server == server)
                .ok_or(Rc::ResourceNotFound)?;
            let (channel, rights) = (end.channel, end.rights());
            k.add_handle(me, Object::Channel(channel), rights)
                .map(handle_reply)
        }
        locator::CONNECT_TASKS => {
            let a: locator::ConnectTasksReq = req.args();
            let name = req.arena_str(k, a.name, &mut buf)?;
            if name.is_empty() {
                return Err(Rc::InvalidArgument);
            }
            let client = task_for_connect(k, me, a.client)?;
            let server = task_for_connect(k, me, a.server)?;
            if client == server {
                return Err(Rc::InvalidArgument);
            }
            connect_tasks(k, client, server, name).map(|_| Reply::empty())
        }
        _ => Err(Rc::ResourceNotFound),
    }
}

/// The not-yet-started process behind a Task handle the caller may
/// transfer handles into.
fn task_for_connect(k: &Kernel, me: Pid, handle: u32) -> Result<Pid, Rc> {
    let e = k.entry(me, Handle(handle))?;
    let Object::Task(pid) = e.object.object else {
        return Err(Rc::WrongType);
    };
    if !e.rights.contains(Rights::task(Method::TransferHandle)) {
        return Err(Rc::NoCapability);
    }
    match k.procs.get(pid).map(|p| p.lifecycle) {
        Some(Lifecycle::Created) => Ok(pid),
        Some(_) => Err(Rc::Busy),
        None => Err(Rc::InvalidArgument),
    }
}

/// Make (or join) the static channel `name` from `client` to `server`.
fn connect_tasks(k: &mut Kernel, client: Pid, server: Pid, name: &str) -> Result<(), Rc> {
    let name_s = heapless::String::try_from(name).map_err(|_| Rc::InvalidArgument)?;
    let cp = k.procs.get(client).ok_or(Rc::InvalidArgument)?;
    if cp.statics.iter().any(|s| s.name == name_s && !s.server) {
        return Err(Rc::AlreadyExists);
    }
    const MAX_STATICS: usize = 64;
    if cp.statics.len() >= MAX_STATICS {
        return Err(Rc::QuotaExceeded);
    }
    let existing = k
        .procs
        .get(server)
        .and_then(|p| p.statics.iter().find(|s| s.name == name_s && s.server))
        .map(|s| s.channel);
    let channel = match existing {
        Some(c) => c,
        None => {
            let sp = k.procs.get_mut(server).ok_or(Rc::InvalidArgument)?;
            if sp.statics.len() >= MAX_STATICS {
                return Err(Rc::QuotaExceeded);
            }
            sp.statics.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
            let channel = Channel {
                server: Some(server),
                ..Channel::default()
            };
            let id = k.channels.insert(channel).map_err(full)?;
            let end = StaticEnd {
                name: name_s.clone(),
                channel: id,
                server: true,
            };
            let rights = end.rights();
            if let Some(sp) = k.procs.get_mut(server) {
                sp.statics.push(end);
            }
            k.retain(Object::Channel(id), rights);
            id
        }
    };
    let cp = k.procs.get_mut(client).ok_or(Rc::InvalidArgument)?;
    cp.statics.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
    let end = StaticEnd {
        name: name_s,
        channel,
        server: false,
    };
    let rights = end.rights();
    cp.statics.push(end);
    k.retain(Object::Channel(channel), rights);
    Ok(())
}

/// `Notice.CREATE` on the kernel handle.
pub fn notice_create<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    if req.header.method != notice::CREATE {
        return Err(Rc::ResourceNotFound);
    }
    let id = k.notices.insert(Notice::default()).map_err(full)?;
    match k.add_handle(
        req.caller,
        Object::Notice(id),
        Rights::READ_EVENTS | Rights::SIGNAL | Rights::COPY | Rights::TRANSFER,
    ) {
        Ok(h) => Ok(handle_reply(h)),
        Err(e) => {
            k.notices.remove(id);
            Err(e)
        }
    }
}

/// Methods on a Notice handle.
pub fn notice_call<'a>(
    k: &mut Kernel,
    req: &Request,
    id: kernel_core::slab::Id,
) -> Result<Reply<'a>, Rc> {
    match req.header.method {
        notice::SUBSCRIBE => {
            let a: notice::SubscribeReq = req.args();
            let e = k.entry(req.caller, Handle(a.object))?;
            let object = e.object.object;
            // Watching a task or thread end is waiting on it.
            if matches!(object, Object::Task(_) | Object::Thread(_))
                && !e.rights.contains(Rights::WAIT)
            {
                return Err(Rc::NoCapability);
            }
            // A task that has already ended is reported at once.
            let ended = matches!(object, Object::Task(p)
                if k.procs.get(p).is_some_and(|p| p.lifecycle == Lifecycle::Ended));
            subscribe(k, id, object, a.mask, a.cookie)?;
            if ended {
                k.notify(object, notice::OBJECT_DESTROYED);
            }
            Ok(Reply::empty())
        }
        notice::WAIT => {
            let a: notice::WaitReq = req.args();
            match k.notice_wait(req.caller, id, req.reply, req.cap, a.timeout_ns) {
                Some((rc, len)) => Ok(Reply::Written(rc, len)),
                None => Ok(Reply::Pending),
            }
        }
        notice::SIGNAL => {
            let a: notice::Event = req.args();
            if a.event != notice::USER {
                return Err(Rc::InvalidArgument);
            }
            k.signal_notice(id, a.cookie);
            Ok(Reply::empty())
        }
        _ => Err(Rc::ResourceNotFound),
    }
}

/// `Mdl.CREATE` on the kernel handle.
pub fn mdl_create<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    if req.header.method != mdl::CREATE {
        return Err(Rc::ResourceNotFound);
    }
    let a: mdl::CreateReq = req.args();
    if a.size == 0 || a.size > mdl::MAX_SIZE {
        return Err(Rc::InvalidArgument);
    }
    let m = Mdl::zeroed(a.size)?;
    let rights =
        Rights::MAP_READ | Rights::MAP_WRITE | Rights::COPY | Rights::TRANSFER | Rights::REVOKE;
    super::task_build::new_mdl_handle(k, req.caller, m, rights).map(handle_reply)
}

/// Methods on an MDL handle.
pub fn mdl_call<'a>(
    k: &mut Kernel,
    req: &Request,
    id: kernel_core::slab::Id,
) -> Result<Reply<'a>, Rc> {
    match req.header.method {
        mdl::MAP => {
            let a: mdl::MapReq = req.args();
            let writable = a.writable != 0;
            // The gate checked MAP_READ; writable needs MAP_WRITE too.
            if writable && !req.rights.contains(Rights::MAP_WRITE) {
                return Err(Rc::NoCapability);
            }
            let Kernel { mdls, procs, .. } = k;
            let frames = &mdls.get(id).ok_or(Rc::InvalidArgument)?.frames;
            let space = procs
                .get_mut(req.caller)
                .and_then(|p| p.space.as_mut())
                .ok_or(Rc::InvalidArgument)?;
            let addr = space.map_shared(frames, writable, id)?;
            let size = frames.len() as u64 * PAGE_SIZE;
            // The mapping holds the frames as a handle would.
            k.retain(Object::Mdl(id), Rights::empty());
            Ok(Reply::fixed(&VmRange { addr, size }))
        }
        mdl::UNMAP => {
            let a: VmRange = req.args();
            let space = k
                .procs
                .get_mut(req.caller)
                .and_then(|p| p.space.as_mut())
                .ok_or(Rc::InvalidArgument)?;
            let owner = space.unmap_shared(a.addr, a.size)?;
            k.release(Object::Mdl(owner), Rights::empty());
            Ok(Reply::empty())
        }
        _ => Err(Rc::ResourceNotFound),
    }
}
