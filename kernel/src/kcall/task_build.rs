//! The Task methods that prepare a not-yet-started process: its memory
//! (VmReserve, VmFree, LoadSeg), what the kernel keeps about its ELF
//! (LoadElfSyms, LoadElfHdr), its entry point, its first handles and its
//! initial thread's scheduling, its budget, and the ASLR seed.

use kos_abi::msg::NO_BADGE;
use kos_abi::sched::{SchedClass, SchedPolicy};
use kos_abi::task::{
    AddrReply, Budget, CreateFlags, HandleValue, InitialRights, LoadBlobReq, LoadSegReq,
    MAX_ELF_HDR, MAX_SYMS, Method, PriorityReq, SeedReq, SetEntryReq, TransferHandleReq,
    VmReserveReq,
};
use kos_abi::vm::{PAGE_SIZE, VmPerms, VmRange};
use kos_abi::{Handle, Rc, Rights};

use super::{Reply, Request};
use crate::task::object::{Mdl, Object};
use crate::task::process::{Lifecycle, Process, Syms};
use crate::task::resume::{Fill, PageOp};
use crate::task::space::RegionKind;
use crate::task::thread::Pid;
use crate::task::{Kernel, budget};

/// The target, which must not have started yet.
fn created(k: &mut Kernel, target: Pid) -> Result<&mut Process, Rc> {
    let p = k.process_mut(target).ok_or(Rc::InvalidArgument)?;
    if p.lifecycle != Lifecycle::Created {
        return Err(Rc::Busy);
    }
    Ok(p)
}

/// The target, which must not have started yet and must have been created
/// empty: the kernel loaded a ROMFS program's image itself, and nobody adds
/// to or takes from it (`rcBusy`).
fn created_empty(k: &mut Kernel, target: Pid) -> Result<&mut Process, Rc> {
    let p = created(k, target)?;
    if p.flags.contains(CreateFlags::FROM_ROMFS) {
        return Err(Rc::Busy);
    }
    Ok(p)
}

/// Page attributes for user permissions (never writable and executable).
fn attrs_for(perms: u32) -> Result<kernel_core::paging::Attrs, Rc> {
    use kernel_core::paging::Attrs;
    let p = VmPerms::from_bits(perms).ok_or(Rc::InvalidArgument)?;
    Ok(
        match (p.contains(VmPerms::WRITE), p.contains(VmPerms::EXEC)) {
            (true, true) => return Err(Rc::InvalidArgument),
            (true, false) => Attrs::USER_DATA,
            (false, true) => Attrs::USER_TEXT,
            (false, false) => Attrs::USER_RODATA,
        },
    )
}

/// The MDL behind one of the caller's handles, readable by it.
fn mdl_of(k: &Kernel, caller: Pid, handle: u32) -> Result<kernel_core::slab::Id, Rc> {
    let e = k.entry(caller, Handle(handle))?;
    match e.object.object {
        Object::Mdl(m) if e.rights.contains(Rights::MAP_READ) => Ok(m),
        Object::Mdl(_) => Err(Rc::NoCapability),
        _ => Err(Rc::WrongType),
    }
}

pub fn call<'a>(
    k: &mut Kernel,
    req: &Request,
    target: Pid,
    method: Method,
) -> Result<Reply<'a>, Rc> {
    match method {
        Method::VmReserve => {
            let reserve = |op: &PageOp| matches!(op, PageOp::Map { kind, .. } if *kind == RegionKind::Reserved);
            let done = in_steps(k, target, reserve, |k| {
                let a: VmReserveReq = req.args();
                let attrs = attrs_for(a.perms)?;
                let size = a
                    .size
                    .checked_next_multiple_of(PAGE_SIZE)
                    .ok_or(Rc::InvalidArgument)?;
                if size == 0 || !a.addr.is_multiple_of(PAGE_SIZE) {
                    return Err(Rc::InvalidArgument);
                }
                let space = created_empty(k, target)?.space.as_mut().ok_or(Rc::Busy)?;
                let start = match a.addr {
                    0 => space.pick_range(size)?,
                    addr => addr,
                };
                space.begin_map(start, start.checked_add(size).ok_or(Rc::BadAddress)?)?;
                let kind = RegionKind::Reserved;
                let fill = Fill::Zero;
                Ok((start, PageOp::Map { attrs, kind, fill }))
            })?;
            Ok(done.map_or(Reply::Again, |(addr, _)| Reply::fixed(&AddrReply { addr })))
        }
        Method::VmFree => {
            let unmap = PageOp::Unmap {
                kind: RegionKind::Reserved,
            };
            let done = in_steps(
                k,
                target,
                |op| *op == unmap,
                |k| {
                    let a: VmRange = req.args();
                    let space = created_empty(k, target)?.space.as_mut().ok_or(Rc::Busy)?;
                    space.begin_unmap(a.addr, a.size, RegionKind::Reserved)?;
                    Ok((a.addr, unmap))
                },
            )?;
            Ok(done.map_or(Reply::Again, |_| Reply::empty()))
        }
        Method::LoadSeg => load_seg(k, req, target),
        Method::LoadElfSyms | Method::LoadElfHdr => load_blob(k, req, target, method),
        Method::SetEntry => {
            let a: SetEntryReq = req.args();
            let p = created(k, target)?;
            let space = p.space.as_ref().ok_or(Rc::Busy)?;
            if !space
                .perms_at(a.entry)
                .is_some_and(|p| p.contains(VmPerms::EXEC))
                || !a.entry.is_multiple_of(4)
            {
                return Err(Rc::InvalidArgument);
            }
            p.load_offset = a.load_offset;
            match p.threads.first().copied() {
                Some(main) => {
                    if let Some(t) = k.thread_mut(main) {
                        t.frame.elr = a.entry;
                    }
                }
                None => {
                    k.make_initial_thread(target, a.entry)?;
                }
            }
            Ok(Reply::empty())
        }
        Method::TransferHandle => {
            let a: TransferHandleReq = req.args();
            created(k, target)?;
            let src = k.entry(req.caller, Handle(a.handle))?;
            if !src.rights.contains(Rights::COPY) {
                return Err(Rc::NoCapability);
            }
            let badge = if a.badge == NO_BADGE {
                None
            } else {
                Some(k.badge_of(req.caller, a.badge)?)
            };
            let rights = Rights::from_bits_retain(a.rights);
            let h = k.derive_handle(req.caller, Handle(a.handle), target, rights, badge)?;
            Ok(Reply::fixed(&HandleValue {
                handle: h.0,
                _reserved: 0,
            }))
        }
        Method::GetInitialThreadPriority => {
            let p = k.process(target).ok_or(Rc::InvalidArgument)?;
            Ok(Reply::fixed(&PriorityReq {
                priority: p.initial.1,
                _reserved: 0,
            }))
        }
        Method::SetInitialThreadPriority => {
            let a: PriorityReq = req.args();
            let class = created(k, target)?.initial.0;
            set_initial(k, target, class, a.priority, None)
        }
        Method::SetInitialThreadSchedPolicy => {
            let a: SchedPolicy = req.args();
            let class = SchedClass::from_u32(a.class).ok_or(Rc::InvalidArgument)?;
            created(k, target)?;
            set_initial(k, target, class, a.priority, Some(a.quantum_ticks))
        }
        Method::ReseedAslr => {
            let a: SeedReq = req.args();
            let p = k.process_mut(target).ok_or(Rc::InvalidArgument)?;
            p.aslr.reseed(a.seed);
            Ok(Reply::empty())
        }
        Method::SetInitialRights => set_initial_rights(k, req, target),
        Method::SetBudget => {
            let a: Budget = req.args();
            created(k, target)?;
            budget::narrow(budget::Slot::of(target), a.to_array())?;
            Ok(Reply::empty())
        }
        Method::SetAffinity => {
            let a: kos_abi::msg::thread::Affinity = req.args();
            let cores = k.check_affinity(a.cores)?;
            k.set_process_affinity(target, cores)?;
            Ok(Reply::empty())
        }
        _ => Err(Rc::NotSupported),
    }
}

/// Give a not-yet-started process its rights on itself and on the kernel:
/// at most what the caller holds on itself and on the kernel, so no
/// process gives what it was not given. Nothing can have been derived from
/// the target's own handles yet (it has not run), so they may grow.
fn set_initial_rights<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    let a: InitialRights = req.args();
    let (task, kernel) = (
        Rights::from_bits_retain(a.task),
        Rights::from_bits_retain(a.kernel),
    );
    let held = |h: Handle, object: Object| match k.entry(req.caller, h) {
        Ok(e) if e.object.object == object => e.rights,
        _ => Rights::empty(),
    };
    let (own_task, own_kernel) = (
        held(Handle::SELF_TASK, Object::Task(req.caller)),
        held(Handle::KERNEL, Object::Kernel),
    );
    created(k, target)?;
    if !own_task.contains(task) || !own_kernel.contains(kernel) {
        return Err(Rc::NoCapability);
    }
    // Both are roots nothing was derived from (it has not run), so
    // neither can fail after the checks above; checked both first anyway.
    for h in [Handle::SELF_TASK, Handle::KERNEL] {
        k.entry(target, h)?;
    }
    k.reset_rights(target, Handle::SELF_TASK, task)?;
    k.reset_rights(target, Handle::KERNEL, kernel)?;
    Ok(Reply::empty())
}

/// Set the initial thread's class and priority (and quantum if given).
fn set_initial<'a>(
    k: &mut Kernel,
    target: Pid,
    class: SchedClass,
    priority: u32,
    quantum: Option<u32>,
) -> Result<Reply<'a>, Rc> {
    kernel_core::sched::level(class, priority).ok_or(Rc::InvalidArgument)?;
    // Within the quotas of the target's class and of the caller's.
    let caller = k
        .process(k.thread(k.current()).map_or(target, |t| t.process))
        .map(|p| p.subject);
    if let Some(s) = caller {
        crate::security::sched_allowed(s, class, priority)?;
    }
    let p = created(k, target)?;
    crate::security::sched_allowed(p.subject, class, priority)?;
    let quantum = quantum.unwrap_or(p.initial.2);
    p.initial = (class, priority, quantum);
    if let Some(main) = p.threads.first().copied()
        && let Some(t) = k.thread_mut(main)
    {
        t.class = class;
        t.priority = priority;
        t.slice = kernel_core::sched::Slice::new(class, quantum);
    }
    Ok(Reply::empty())
}

/// `LoadSeg`: the segment's pages are mapped and filled from the MDL a
/// page at a time (a segment is as large as the child's quota allows).
fn load_seg<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    let image = |op: &PageOp| matches!(op, PageOp::Map { kind, .. } if *kind == RegionKind::Image);
    let done = in_steps(k, target, image, |k| {
        let mut a: LoadSegReq = req.args();
        let attrs = attrs_for(a.perms)?;
        let mdl = mdl_of(k, req.caller, a.mdl)?;
        if a.file_size > a.mem_size || a.mem_size == 0 {
            return Err(Rc::InvalidArgument);
        }
        let file_end = a
            .mdl_offset
            .checked_add(a.file_size)
            .ok_or(Rc::InvalidArgument)?;
        if file_end > k.mdl(mdl).ok_or(Rc::InvalidArgument)?.size() {
            return Err(Rc::InvalidArgument);
        }
        let space = created_empty(k, target)?.space.as_mut().ok_or(Rc::Busy)?;
        if a.vaddr == 0 {
            // Address 0: the kernel picks one (as the seed says).
            a.vaddr = space.pick_range(a.mem_size)?;
        }
        let end = a.vaddr.checked_add(a.mem_size).ok_or(Rc::InvalidArgument)?;
        let start_page = a.vaddr & !(PAGE_SIZE - 1);
        let end_page = end
            .checked_next_multiple_of(PAGE_SIZE)
            .ok_or(Rc::InvalidArgument)?;
        space.begin_map(start_page, end_page)?;
        let fill = Fill::Mdl {
            mdl,
            offset: a.mdl_offset,
            from: a.vaddr,
            to: a.vaddr + a.file_size,
        };
        let kind = RegionKind::Image;
        Ok((start_page, PageOp::Map { attrs, kind, fill }))
    })?;
    Ok(done.map_or(Reply::Again, |(addr, _)| Reply::fixed(&AddrReply { addr })))
}

/// [`Kernel::pages_in_steps`] on a process being built: it must still be
/// one, also when the call comes back for more (or its work is given up).
fn in_steps(
    k: &mut Kernel,
    target: Pid,
    want: impl FnOnce(&PageOp) -> bool,
    begin: impl FnOnce(&mut Kernel) -> Result<(u64, PageOp), Rc>,
) -> Result<Option<(u64, u64)>, Rc> {
    if let Err(e) = created_empty(k, target) {
        k.drop_resume();
        return Err(e);
    }
    k.pages_in_steps(target, want, begin)
}

fn load_blob<'a>(
    k: &mut Kernel,
    req: &Request,
    target: Pid,
    method: Method,
) -> Result<Reply<'a>, Rc> {
    let a: LoadBlobReq = req.args();
    let mdl_id = mdl_of(k, req.caller, a.mdl)?;
    // LoadElfSyms: .strtab may come from an MDL of its own.
    let mdl2_id = if method == Method::LoadElfSyms && a.mdl2 != kos_abi::task::SAME_MDL {
        mdl_of(k, req.caller, a.mdl2)?
    } else {
        mdl_id
    };
    created_empty(k, target)?;
    k.mdl(mdl_id).ok_or(Rc::InvalidArgument)?;
    let (size1, size2) = if method == Method::LoadElfHdr {
        if a.size > MAX_ELF_HDR || a.size < 4 {
            return Err(Rc::InvalidArgument);
        }
        (a.size, 0)
    } else {
        let total = a.size.checked_add(a.size2).ok_or(Rc::InvalidArgument)?;
        if total > MAX_SYMS || !a.size.is_multiple_of(24) {
            return Err(Rc::InvalidArgument);
        }
        (a.size, a.size2)
    };
    // The blob is charged to the process it goes into, in place of the one
    // it replaces (its class's `memory` quota).
    let old = {
        let p = created(k, target)?;
        if method == Method::LoadElfHdr {
            p.elf_hdr.as_ref().map_or(0, |b| b.len())
        } else {
            p.syms.as_ref().map_or(0, |s| s.kmem())
        }
    } as u64;
    k.charge(target, old, size1 + size2)?;
    let mut bytes = alloc::vec::Vec::new();
    if bytes.try_reserve_exact((size1 + size2) as usize).is_err() {
        k.charge(target, size1 + size2, old).ok();
        return Err(Rc::OutOfMemory);
    }
    bytes.resize((size1 + size2) as usize, 0);
    let (first, second) = bytes.split_at_mut(size1 as usize);
    let (Some(mdl), Some(mdl2)) = (k.mdl(mdl_id), k.mdl(mdl2_id)) else {
        k.charge(target, size1 + size2, old).ok();
        return Err(Rc::InvalidArgument);
    };
    let read = mdl.read(a.offset, first).and_then(|()| {
        if size2 > 0 {
            mdl2.read(a.offset2, second)
        } else {
            Ok(())
        }
    });
    let read = read.and_then(|()| {
        if method == Method::LoadElfHdr && bytes[..4] != *b"\x7fELF" {
            Err(Rc::BadExecutable)
        } else {
            Ok(())
        }
    });
    if let Err(e) = read {
        k.charge(target, size1 + size2, old).ok();
        return Err(e);
    }
    let p = created(k, target)?;
    if method == Method::LoadElfHdr {
        p.elf_hdr = Some(bytes);
    } else {
        p.syms = Some(Syms::Owned(size1 as usize, bytes));
    }
    Ok(Reply::empty())
}

/// A new MDL holding a copy of `bytes`, with a handle for `owner`.
pub fn mdl_with(k: &mut Kernel, owner: Pid, parts: &[&[u8]]) -> Result<Handle, Rc> {
    let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
    if total == 0 || total > kos_abi::msg::mdl::MAX_SIZE {
        return Err(Rc::InvalidArgument);
    }
    let mut m = Mdl::zeroed(total)?;
    let mut at = 0u64;
    for p in parts {
        // In range by construction (the MDL holds `total` bytes).
        let _ = m.write(at, p);
        at += p.len() as u64;
    }
    k.create_mdl(owner, m, Rights::MAP_READ | Rights::COPY | Rights::TRANSFER)
}
