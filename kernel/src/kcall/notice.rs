//! `kl.core.Notice`: creating a notification receiver (on the kernel
//! handle), subscribing it to objects' events, waiting, signalling.

use kos_abi::interfaces::notice::Method;
use kos_abi::msg::notice;
use kos_abi::{Handle, Rc, Rights};

use super::handles::handle_reply;
use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::object::Object;
use crate::task::process::Lifecycle;

/// `Notice.Create` on the kernel handle.
pub fn create<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let rights = Rights::READ_EVENTS | Rights::SIGNAL | Rights::COPY | Rights::TRANSFER;
    k.create_notice(req.caller, rights)
        .map(|(_, h)| handle_reply(h))
}

/// Methods on a Notice handle.
pub fn call<'a>(k: &mut Kernel, req: &Request, id: kernel_core::slab::Id) -> Result<Reply<'a>, Rc> {
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    match method {
        // On the kernel handle only (the gate checked the object).
        Method::Create => Err(Rc::WrongType),
        Method::Subscribe => {
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
                if k.process(p).is_some_and(|p| p.lifecycle == Lifecycle::Ended));
            k.subscribe(req.caller, id, object, a.mask, a.cookie)?;
            if ended {
                k.notify(object, notice::OBJECT_DESTROYED);
            }
            Ok(Reply::empty())
        }
        Method::Wait => {
            let a: notice::WaitReq = req.args();
            match k.notice_wait(req.caller, id, req.reply, req.cap, a.timeout_ns) {
                Some((rc, len)) => Ok(Reply::Written(rc, len)),
                None => Ok(Reply::Pending),
            }
        }
        Method::Signal => {
            let a: notice::Event = req.args();
            if a.event != notice::USER {
                return Err(Rc::InvalidArgument);
            }
            k.signal_notice(id, a.cookie);
            Ok(Reply::empty())
        }
    }
}
