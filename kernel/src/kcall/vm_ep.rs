//! `Vm`: memory of the calling process (on its own Task handle).

use kernel_core::paging::{Access, Attrs, Exec, MemType};
use kos_abi::Rc;
use kos_abi::interfaces::vm::Method;
use kos_abi::vm::{ProtectReq, VmPerms, VmRange};

use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::thread::Pid;

/// The gate checked that `target` is the caller and the right.
pub fn call<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    let a: VmRange = req.args();
    let space = k
        .process_mut(target)
        .and_then(|p| p.space.as_mut())
        .ok_or(Rc::InvalidArgument)?;
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    match method {
        Method::Allocate => {
            let addr = space.allocate(a.size)?;
            let size = a.size.div_ceil(kos_abi::vm::PAGE_SIZE) * kos_abi::vm::PAGE_SIZE;
            Ok(Reply::fixed(&VmRange { addr, size }))
        }
        Method::Free => space.free(a.addr, a.size).map(|_| Reply::empty()),
        Method::Protect => {
            let p: ProtectReq = req.args();
            let perms = VmPerms::from_bits(p.perms).ok_or(Rc::InvalidArgument)?;
            space
                .protect(p.addr, p.size, attrs_for(perms)?)
                .map(|_| Reply::empty())
        }
    }
}

/// Page attributes for user permissions; write and execute together is refused.
fn attrs_for(perms: VmPerms) -> Result<Attrs, Rc> {
    let (w, x) = (
        perms.contains(VmPerms::WRITE),
        perms.contains(VmPerms::EXEC),
    );
    Ok(match (w, x) {
        (true, true) => return Err(Rc::InvalidArgument),
        (true, false) => Attrs::USER_DATA,
        (false, true) => Attrs::USER_TEXT,
        (false, false) if perms.contains(VmPerms::READ) => Attrs::USER_RODATA,
        // No access: mapped, but only the kernel could reach it (and never does).
        (false, false) => Attrs::new(MemType::Normal, Access::KernelRo, Exec::Never, false),
    })
}
