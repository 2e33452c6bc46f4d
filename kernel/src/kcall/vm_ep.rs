//! `Vm`: memory of the calling process (on its own Task handle).

use kos_abi::Rc;
use kos_abi::vm::{ALLOCATE, FREE, VmRange};

use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::thread::Pid;

pub fn call<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    if target != req.caller {
        return Err(Rc::InvalidArgument);
    }
    let a: VmRange = req.args();
    let space = k
        .procs
        .get_mut(target)
        .and_then(|p| p.space.as_mut())
        .ok_or(Rc::InvalidArgument)?;
    match req.header.method {
        ALLOCATE => {
            let addr = space.allocate(a.size)?;
            let size = a.size.div_ceil(kos_abi::vm::PAGE_SIZE) * kos_abi::vm::PAGE_SIZE;
            Ok(Reply::fixed(&VmRange { addr, size }))
        }
        FREE => space.free(a.addr, a.size).map(|_| Reply::empty()),
        _ => Err(Rc::ResourceNotFound),
    }
}
