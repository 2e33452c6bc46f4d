//! `kl.core.Handle` on the kernel handle: closing, copying, revoking and
//! identifying the caller's handles, and creating channels, badges and
//! user objects.

use kos_abi::interfaces::handle_ops::Method;
use kos_abi::msg::{NO_BADGE, handle_ops as ho};
use kos_abi::{Handle, Rc, Rights};

use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::object::Object;
use crate::task::thread::Pid;

/// A reply naming one new handle.
pub fn handle_reply(h: Handle) -> Reply<'static> {
    Reply::fixed(&ho::HandleReply {
        handle: h.0,
        _reserved: 0,
    })
}

/// The Notice behind one of `pid`'s handles.
pub fn notice_of(k: &Kernel, pid: Pid, handle: u32) -> Result<kernel_core::slab::Id, Rc> {
    match k.entry(pid, Handle(handle))?.object.object {
        Object::Notice(n) => Ok(n),
        _ => Err(Rc::WrongType),
    }
}

pub fn call<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let me = req.caller;
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    // Exhaustive: a method added to the declaration must be served here.
    match method {
        Method::Close => {
            let a: ho::CloseReq = req.args();
            k.close_handle(me, Handle(a.handle)).map(|_| Reply::empty())
        }
        Method::Copy => {
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
        Method::Revoke => {
            let a: ho::CloseReq = req.args();
            // `None`: stopped for an interrupt, descendants left.
            k.revoke_handle(me, Handle(a.handle))
                .map(|done| done.map_or(Reply::Again, |_| Reply::empty()))
        }
        Method::ChannelCreate => {
            let (server, client) = k.create_channel(me)?;
            Ok(Reply::fixed(&ho::ChannelReply {
                server: server.0,
                client: client.0,
            }))
        }
        Method::BadgeCreate => {
            let a: ho::BadgeReq = req.args();
            let notice = if a.notice == NO_BADGE {
                None
            } else {
                Some((notice_of(k, me, a.notice)?, a.cookie))
            };
            k.create_badge(me, a.value, notice).map(handle_reply)
        }
        Method::UserObjectCreate => {
            let a: ho::UserObjectReq = req.args();
            k.create_user_object(me, a.context, Rights::from_bits_retain(a.rights))
                .map(handle_reply)
        }
        Method::Identify => {
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
                    k.user_object_context(me, u).unwrap_or(0),
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
    }
}
