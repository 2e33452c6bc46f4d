//! The Task methods that look at processes: frozen ones (GetThreadContext,
//! GetNextVmRegion, TerminateAfterFreezing), all of them (GetTasksList) and
//! their symbol tables and headers (GetElfSyms, GetElfHdr), and their
//! budgets (GetBudget).

use kos_abi::msg::notice::OBJECT_DESTROYED;
use kos_abi::task::{
    Budget, BudgetInfo, CreateFlags, ElfSymsReply, ExitStatus, MAX_ELF_HDR, MAX_NAME, Method,
    NextRegionReq, TaskEntry, TasksListReply, ThreadContext, ThreadIndex, VmRegion,
};
use kos_abi::vm::PAGE_SIZE;
use kos_abi::{Rc, Rights};
use zerocopy::IntoBytes;

use super::task_build::mdl_with;
use super::{Reply, Request};
use crate::task::object::{Mdl, Object};
use crate::task::process::Lifecycle;
use crate::task::space::RegionKind;
use crate::task::thread::Pid;
use crate::task::{Kernel, budget};

/// Whether the target is frozen: stopped (else Busy), and none of its
/// threads still on a core. One stopped while it ran on another core is
/// there until that core, sent the SGI, switches away and saves its
/// registers: until then false, and the caller makes its call again
/// (`Reply::Again`), as it would find it a moment later.
fn frozen(k: &Kernel, target: Pid) -> Result<bool, Rc> {
    match k.process(target) {
        Some(p) if p.lifecycle == Lifecycle::Frozen => {
            Ok(!p.threads.iter().any(|&t| k.on_a_core(t)))
        }
        Some(_) => Err(Rc::Busy),
        None => Err(Rc::InvalidArgument),
    }
}

pub fn call<'a>(
    k: &mut Kernel,
    req: &Request,
    target: Pid,
    method: Method,
) -> Result<Reply<'a>, Rc> {
    match method {
        Method::GetThreadContext => {
            if !frozen(k, target)? {
                return Ok(Reply::Again);
            }
            let a: ThreadIndex = req.args();
            let p = k.process(target).ok_or(Rc::InvalidArgument)?;
            // The faulting thread first, then the others in creation order.
            let first = p.fault_thread;
            let tid = first
                .into_iter()
                .chain(p.threads.iter().copied().filter(|&t| Some(t) != first))
                .nth(a.index as usize)
                .ok_or(Rc::ResourceNotFound)?;
            k.fp_to_frame(tid);
            let t = k.thread(tid).ok_or(Rc::ResourceNotFound)?;
            let f = &t.frame;
            let ctx = ThreadContext {
                tid: t.tid,
                _reserved: 0,
                x: f.x,
                sp: f.sp_el0,
                pc: f.elr,
                pstate: f.spsr,
                tpidr: f.tpidr_el0,
                fpcr: f.fpcr,
                fpsr: f.fpsr,
                q: f.q,
            };
            // Larger than a fixed part may be (MAX_FIXED): sent as the arena.
            Ok(req.reply_now(k, &[], ctx.as_bytes()))
        }
        Method::GetNextVmRegion => next_vm_region(k, req, target),
        Method::TerminateAfterFreezing => {
            if !frozen(k, target)? {
                return Ok(Reply::Again);
            }
            let info = k.process(target).map(|p| p.exit).unwrap_or_default();
            k.end_process(target, ExitStatus::Exception, 0, Some(info));
            Ok(Reply::empty())
        }
        Method::GetTasksList => tasks_list(k, req),
        Method::GetElfSyms => {
            let p = k.process(target).ok_or(Rc::InvalidArgument)?;
            let syms = p.syms.as_ref().ok_or(Rc::ResourceNotFound)?;
            let (symtab, strtab) = syms.tables();
            let (ss, ts, off) = (symtab.len() as u64, strtab.len() as u64, p.load_offset);
            // Copied out of the borrow of `k` before making the MDL.
            let mut both = alloc::vec::Vec::new();
            both.try_reserve_exact((ss + ts) as usize)
                .map_err(|_| Rc::OutOfMemory)?;
            both.extend_from_slice(symtab);
            both.extend_from_slice(strtab);
            let h = mdl_with(k, req.caller, &[&both])?;
            Ok(Reply::fixed(&ElfSymsReply {
                mdl: h.0,
                _reserved: 0,
                symtab_size: ss,
                strtab_size: ts,
                load_offset: off,
            }))
        }
        Method::GetElfHdr => elf_hdr(k, req, target),
        Method::GetBudget => {
            k.process(target).ok_or(Rc::InvalidArgument)?;
            let (limit, used) = budget::account(budget::Slot::of(target));
            Ok(Reply::fixed(&BudgetInfo {
                limit: Budget::from_array(limit),
                used: Budget::from_array(used),
            }))
        }
        _ => Err(Rc::NotSupported),
    }
}

/// The headers `target` was made from: what LoadElfHdr stored, else (a
/// program the kernel loaded) its ROMFS file's ELF and program headers.
fn elf_hdr<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    use kernel_core::bytes::{u16_at, u64_at};
    let p = k.process(target).ok_or(Rc::InvalidArgument)?;
    let mut buf = [0u8; MAX_ELF_HDR as usize];
    let stored: &[u8] = match &p.elf_hdr {
        Some(h) => h,
        None if p.flags.contains(CreateFlags::FROM_ROMFS) => {
            let file = crate::romfs::file(&p.path).map_err(|_| Rc::ResourceNotFound)?;
            // The loader checked this file: its program headers follow
            // the ELF header.
            let phoff = u64_at(file, 32).unwrap_or(0);
            let phsize =
                u64::from(u16_at(file, 54).unwrap_or(0)) * u64::from(u16_at(file, 56).unwrap_or(0));
            let end = phoff.saturating_add(phsize).clamp(64, MAX_ELF_HDR) as usize;
            file.get(..end).unwrap_or(file)
        }
        None => return Err(Rc::ResourceNotFound),
    };
    let n = stored.len().min(buf.len());
    buf[..n].copy_from_slice(&stored[..n]);
    Ok(req.reply_now(k, &[], &buf[..n]))
}

/// Every process (as many entries as the reply holds) and a notice that
/// hears each later termination.
fn tasks_list<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    const ENTRY: u64 = core::mem::size_of::<TaskEntry>() as u64;
    let head = (kos_abi::msg::HEADER_SIZE + core::mem::size_of::<TasksListReply>()) as u64;
    let room = (req.cap.saturating_sub(head) / ENTRY) as usize;
    let (nid, notice) = k.create_notice(
        req.caller,
        Rights::READ_EVENTS | Rights::COPY | Rights::TRANSFER,
    )?;
    if let Err(e) = k.subscribe(req.caller, nid, Object::Kernel, OBJECT_DESTROYED, 0) {
        // Nothing is left behind: closing the only handle frees the notice.
        let _ = k.close_handle(req.caller, notice);
        return Err(e);
    }
    let mut arena = alloc::vec::Vec::new();
    let mut count = 0u32;
    for p in k.processes() {
        if count as usize >= room || arena.try_reserve(ENTRY as usize).is_err() {
            break;
        }
        let mut e = TaskEntry {
            pid: p.pid,
            status: p.exit_info().status,
            name: [0; MAX_NAME],
            path: [0; 128],
        };
        let n = p.name.len().min(MAX_NAME);
        e.name[..n].copy_from_slice(&p.name.as_bytes()[..n]);
        let n = p.path.len().min(128);
        e.path[..n].copy_from_slice(&p.path.as_bytes()[..n]);
        arena.extend_from_slice(e.as_bytes());
        count += 1;
    }
    let fixed = TasksListReply {
        count,
        notice: notice.0,
    };
    Ok(req.reply_now(k, fixed.as_bytes(), &arena))
}

/// `GetNextVmRegion`: the first region at or after the given address, and
/// a copy of its contents in a new MDL, charged to the caller's frames
/// like one it made (`Mdl.Create`). Copied a page at a time (a region may
/// be 16 MiB), stopping for a waiting interrupt (`task::resume`).
fn next_vm_region<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    match frozen(k, target) {
        Ok(true) => {}
        Ok(false) => return Ok(Reply::Again),
        Err(e) => {
            k.drop_resume();
            return Err(e);
        }
    }
    let a: NextRegionReq = req.args();
    let found = k
        .process(target)
        .and_then(|p| p.space.as_ref())
        .ok_or(Rc::InvalidArgument)
        .and_then(|space| {
            let r = *space
                .regions()
                .iter()
                .find(|r| r.start >= a.after)
                .ok_or(Rc::ResourceNotFound)?;
            let perms = space.perms_at(r.start).map_or(0, |p| p.bits());
            if r.kind != RegionKind::Guard && r.end - r.start > kos_abi::msg::mdl::MAX_SIZE {
                return Err(Rc::QuotaExceeded);
            }
            Ok((r, perms))
        });
    // Nothing to copy (or no copy to make): no work left either.
    let (r, perms) = match found {
        Ok((r, _)) if r.kind == RegionKind::Guard => {
            k.drop_resume();
            return Ok(Reply::fixed(&VmRegion {
                start: r.start,
                size: r.end - r.start,
                perms: 0,
                mdl: u32::MAX,
            }));
        }
        Ok(found) => found,
        Err(e) => {
            k.drop_resume();
            return Err(e);
        }
    };
    let size = r.end - r.start;
    // A copy: the frozen process's own frames stay its own.
    let copy = |k: &Kernel, m: &mut Mdl| {
        let space = k
            .process(target)
            .and_then(|p| p.space.as_ref())
            .ok_or(Rc::InvalidArgument)?;
        let va = r.start + m.frames.len() as u64 * PAGE_SIZE;
        m.add_frame_with(|page| {
            if space.peek(va, page).is_err() {
                page.fill(0);
            }
        })
    };
    let pages = || Ok(Mdl::pages_for(size));
    let Some(m) = k.mdl_in_steps(req.caller, Some((target, r.start)), pages, copy)? else {
        return Ok(Reply::Again);
    };
    let h = k.create_mdl(
        req.caller,
        m,
        Rights::MAP_READ | Rights::COPY | Rights::TRANSFER,
    )?;
    Ok(Reply::fixed(&VmRegion {
        start: r.start,
        size,
        perms,
        mdl: h.0,
    }))
}
