//! `kl.core.Mdl`: creating an MDL buffer (on the kernel handle), mapping
//! and unmapping it (on an MDL handle).

use kos_abi::interfaces::mdl::Method;
use kos_abi::msg::mdl;
use kos_abi::vm::VmRange;
use kos_abi::{Rc, Rights};

use super::handles::handle_reply;
use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::object::Mdl;

/// `Mdl.Create` on the kernel handle.
pub fn create<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    // Zeroing 16 MiB takes milliseconds: a frame at a time, stopping for a
    // waiting interrupt (`task::resume`). Its frames count against the
    // creator's frames quota until they go back (whoever holds the MDL by
    // then).
    let size = || {
        let a: mdl::CreateReq = req.args();
        if a.size == 0 || a.size > mdl::MAX_SIZE {
            return Err(Rc::InvalidArgument);
        }
        Ok(Mdl::pages_for(a.size))
    };
    let Some(m) = k.mdl_in_steps(req.caller, None, size, |_, m| m.add_zeroed_frame())? else {
        return Ok(Reply::Again);
    };
    let rights =
        Rights::MAP_READ | Rights::MAP_WRITE | Rights::COPY | Rights::TRANSFER | Rights::REVOKE;
    k.create_mdl(req.caller, m, rights).map(handle_reply)
}

/// Methods on an MDL handle.
pub fn call<'a>(k: &mut Kernel, req: &Request, id: kernel_core::slab::Id) -> Result<Reply<'a>, Rc> {
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    match method {
        // On the kernel handle only (the gate checked the object).
        Method::Create => Err(Rc::WrongType),
        Method::Map => {
            let a: mdl::MapReq = req.args();
            let writable = a.writable != 0;
            // The gate checked MAP_READ; writable needs MAP_WRITE too.
            if writable && !req.rights.contains(Rights::MAP_WRITE) {
                return Err(Rc::NoCapability);
            }
            let (addr, size) = k.map_mdl(req.caller, id, writable)?;
            Ok(Reply::fixed(&VmRange { addr, size }))
        }
        Method::Unmap => {
            let a: VmRange = req.args();
            k.unmap_mdl(req.caller, a.addr, a.size)
                .map(|_| Reply::empty())
        }
    }
}
