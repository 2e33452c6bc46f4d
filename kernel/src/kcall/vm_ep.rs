//! `Vm`: memory of the calling process (on its own Task handle).

use kernel_core::paging::{Access, Attrs, Exec, MemType};
use kos_abi::Rc;
use kos_abi::interfaces::vm::Method;
use kos_abi::vm::{PAGE_SIZE, ProtectReq, VmPerms, VmRange};

use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::resume::{self, Work};
use crate::task::space::{AddressSpace, RegionKind};
use crate::task::thread::Pid;

/// The gate checked that `target` is the caller and the right.
pub fn call<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    let a: VmRange = req.args();
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    match method {
        Method::Allocate | Method::Free => in_steps(k, target, method, a),
        Method::Protect => {
            let space = space_mut(k, target)?;
            let p: ProtectReq = req.args();
            let perms = VmPerms::from_bits(p.perms).ok_or(Rc::InvalidArgument)?;
            space
                .protect(p.addr, p.size, attrs_for(perms)?)
                .map(|_| Reply::empty())
        }
    }
}

/// `Allocate` and `Free`, a page at a time: each maps or unmaps up to
/// 16 MiB, so they stop for a waiting interrupt (`task::resume`). The
/// region is busy meanwhile: no other call frees, protects or reuses it.
fn in_steps<'a>(k: &mut Kernel, target: Pid, method: Method, a: VmRange) -> Result<Reply<'a>, Rc> {
    let allocating = method == Method::Allocate;
    let (start, mut next) = match k.take_resume() {
        Some(Work::Allocate { start, next }) if allocating => (start, next),
        Some(Work::Free { start, next }) if !allocating => (start, next),
        other => {
            if let Some(w) = other {
                k.abandon(target, w);
            }
            let space = space_mut(k, target)?;
            let start = if allocating {
                space.begin_allocate(a.size)?.0
            } else {
                space.begin_free(a.addr, a.size)?;
                a.addr
            };
            (start, start)
        }
    };
    let space = space_mut(k, target)?;
    let end = space
        .regions()
        .iter()
        .find(|r| r.start == start && r.kind == RegionKind::Busy)
        .ok_or(Rc::InvalidArgument)?
        .end;
    while next < end {
        let step = if allocating {
            space.allocate_step(start, next)
        } else {
            space.free_step(start, next)
        };
        if let Err(e) = step {
            space.release(start);
            return Err(e);
        }
        next += PAGE_SIZE;
        if next < end && resume::should_stop() {
            let work = if allocating {
                Work::Allocate { start, next }
            } else {
                Work::Free { start, next }
            };
            k.save_resume(work);
            return Ok(Reply::Again);
        }
    }
    space.finish(start, allocating);
    Ok(if allocating {
        Reply::fixed(&VmRange {
            addr: start,
            size: end - start,
        })
    } else {
        Reply::empty()
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
