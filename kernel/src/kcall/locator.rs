//! `kl.core.Locator` on the kernel handle: static channels by name
//! (ServiceLocatorRegister / Connect, and connecting two children).

use kos_abi::interfaces::locator::Method;
use kos_abi::msg::locator;

use kos_abi::{Handle, Rc};

use super::handles::handle_reply;
use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::object::Object;
use crate::task::process::Lifecycle;
use crate::task::thread::Pid;

pub fn call<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let me = req.caller;
    let mut buf = [0u8; locator::MAX_NAME];
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    match method {
        Method::Register | Method::Connect => {
            let a: locator::NameReq = req.args();
            let name = req.arena_str(k, a.name, &mut buf)?;
            let (object, rights) = k.static_end(me, name, method == Method::Register)?;
            k.add_handle(me, object, rights).map(handle_reply)
        }
        Method::ConnectTasks => {
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
            k.connect_tasks(client, server, name)
                .map(|_| Reply::empty())
        }
    }
}

/// The not-yet-started process behind a Task handle the caller may
/// transfer handles into.
fn task_for_connect(k: &Kernel, me: Pid, handle: u32) -> Result<Pid, Rc> {
    let e = k.entry(me, Handle(handle))?;
    let Object::Task(pid) = e.object.object else {
        return Err(Rc::WrongType);
    };
    if !e
        .rights
        .contains(kos_abi::task::Method::TransferHandle.decl().right)
    {
        return Err(Rc::NoCapability);
    }
    match k.process(pid).map(|p| p.lifecycle) {
        Some(Lifecycle::Created) => Ok(pid),
        Some(_) => Err(Rc::Busy),
        None => Err(Rc::InvalidArgument),
    }
}
