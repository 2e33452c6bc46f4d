//! `Vm`: memory of the calling process (on its own Task handle).

use kernel_core::paging::{Access, Attrs, Exec, MemType};
use kos_abi::Rc;
use kos_abi::interfaces::vm::Method;
use kos_abi::vm::{ProtectReq, VmPerms, VmRange};

use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::resume::{Fill, PageOp};
use crate::task::space::{AddressSpace, RegionKind};
use crate::task::thread::Pid;

/// The gate checked that `target` is the caller and the right. Each call
/// maps, unmaps or changes up to a whole region a page at a time, stopping
/// for a waiting interrupt (`task::resume`).
pub fn call<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    let a: VmRange = req.args();
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    let done = match method {
        Method::Allocate => k.pages_in_steps(
            target,
            |op| matches!(op, PageOp::Map { kind, .. } if *kind == RegionKind::Heap),
            |k| {
                let op = PageOp::Map {
                    attrs: Attrs::USER_DATA,
                    kind: RegionKind::Heap,
                    fill: Fill::Zero,
                };
                Ok((space_mut(k, target)?.begin_allocate(a.size)?, op))
            },
        ),
        Method::Free => k.pages_in_steps(
            target,
            |op| {
                *op == PageOp::Unmap {
                    kind: RegionKind::Heap,
                }
            },
            |k| {
                space_mut(k, target)?.begin_unmap(a.addr, a.size, RegionKind::Heap)?;
                Ok((
                    a.addr,
                    PageOp::Unmap {
                        kind: RegionKind::Heap,
                    },
                ))
            },
        ),
        Method::Protect => k.pages_in_steps(
            target,
            |op| matches!(op, PageOp::Protect { .. }),
            |k| {
                let p: ProtectReq = req.args();
                let perms = VmPerms::from_bits(p.perms).ok_or(Rc::InvalidArgument)?;
                let attrs = attrs_for(perms)?;
                space_mut(k, target)?.begin_protect(p.addr, p.size)?;
                Ok((p.addr, PageOp::Protect { attrs }))
            },
        ),
    }?;
    Ok(match done {
        None => Reply::Again,
        Some((addr, end)) if method == Method::Allocate => Reply::fixed(&VmRange {
            addr,
            size: end - addr,
        }),
        Some(_) => Reply::empty(),
    })
}

/// The address space of live process `pid`, to change.
fn space_mut(k: &mut Kernel, pid: Pid) -> Result<&mut AddressSpace, Rc> {
    k.process_mut(pid)
        .and_then(|p| p.space.as_mut())
        .ok_or(Rc::InvalidArgument)
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
