//! `kl.core.Locator` on the kernel handle: static channels by name
//! (ServiceLocatorRegister / Connect, and connecting two children).

use kos_abi::msg::locator;
use kos_abi::task::Method;
use kos_abi::{Handle, Rc, Rights};

use super::handles::handle_reply;
use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::object::Object;
use crate::task::process::Lifecycle;
use crate::task::thread::Pid;

pub fn call<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let me = req.caller;
    let mut buf = [0u8; locator::MAX_NAME];
    match req.header.method {
        locator::REGISTER | locator::CONNECT => {
            let a: locator::NameReq = req.args();
            let name = req.arena_str(k, a.name, &mut buf)?;
            let (object, rights) =
                k.static_end(me, name, req.header.method == locator::REGISTER)?;
            k.add_handle(me, object, rights).map(handle_reply)
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
            k.connect_tasks(client, server, name)
                .map(|_| Reply::empty())
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
    match k.process(pid).map(|p| p.lifecycle) {
        Some(Lifecycle::Created) => Ok(pid),
        Some(_) => Err(Rc::Busy),
        None => Err(Rc::InvalidArgument),
    }
}
