//! `kl.core.Task`: all 26 methods of the specification (seed 000), each
//! with its own bit in the Task handle's rights mask, and ours: `Wait`,
//! `SetInitialRights`, `GetElfHdr`, `SetBudget` and `GetBudget`. This module has
//! creating, starting, environment,
//! ending, exit information and names; `task_build` prepares
//! not-yet-started processes and `task_inspect` looks at frozen ones, the
//! process list and symbols.

use kos_abi::task::{
    CreateFlags, CreateReply, CreateReq, ExitReq, ExitStatus, MAX_ENV, MAX_NAME, MAX_PATH, Method,
    PidReply, WaitReq,
};
use kos_abi::vm::{ENV_BASE, PAGE_SIZE};
use kos_abi::{Rc, Rights};

use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::deadline;
use crate::task::object::Object;
use crate::task::process::Lifecycle;
use crate::task::space::RegionKind;
use crate::task::thread::Pid;

/// One Task method on `target`; the gate checked the right and, for the
/// caller's own methods (Create, Exit, FreeSelfEnv), that `target` is the
/// caller.
pub fn call<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    let own = target == req.caller;
    match method {
        Method::Wait => wait(k, req, target),
        Method::Create => create(k, req),
        Method::Resume => {
            // The initial thread's stack is made first, in steps.
            if !k.main_stack_in_steps(target, true)? {
                return Ok(Reply::Again);
            }
            k.resume(target).map(|_| Reply::empty())
        }
        Method::Exit => {
            let a: ExitReq = req.args();
            k.end_process(target, ExitStatus::Normal, a.code, None);
            Ok(Reply::Pending)
        }
        Method::Terminate => {
            let p = k.process(target).ok_or(Rc::InvalidArgument)?;
            // A frozen process is ended only by TerminateAfterFreezing, so
            // that its right means something.
            if matches!(p.lifecycle, Lifecycle::Ended | Lifecycle::Frozen) {
                return Err(Rc::Busy);
            }
            k.end_process(target, ExitStatus::Terminated, 0, None);
            Ok(if own { Reply::Pending } else { Reply::empty() })
        }
        Method::GetExitInfo => {
            let p = k.process(target).ok_or(Rc::InvalidArgument)?;
            Ok(Reply::fixed(&p.exit_info()))
        }
        Method::GetPid => {
            let p = k.process(target).ok_or(Rc::InvalidArgument)?;
            Ok(Reply::fixed(&PidReply { pid: p.pid as u64 }))
        }
        Method::GetName | Method::GetPath => {
            let p = k.process(target).ok_or(Rc::InvalidArgument)?;
            let text = if method == Method::GetName {
                p.name.as_str()
            } else {
                p.path.as_str()
            };
            Ok(Reply::text(text))
        }
        Method::SetEnv => set_env(k, req, target),
        Method::FreeSelfEnv => {
            let p = k.process_mut(target).ok_or(Rc::InvalidArgument)?;
            let (addr, _) = p.env.take().ok_or(Rc::ResourceNotFound)?;
            if let Some(space) = p.space.as_mut() {
                space.release(addr);
            }
            Ok(Reply::empty())
        }
        Method::VmReserve
        | Method::VmFree
        | Method::LoadSeg
        | Method::LoadElfSyms
        | Method::LoadElfHdr
        | Method::SetEntry
        | Method::TransferHandle
        | Method::GetInitialThreadPriority
        | Method::SetInitialThreadPriority
        | Method::SetInitialThreadSchedPolicy
        | Method::ReseedAslr
        | Method::SetInitialRights
        | Method::SetBudget
        | Method::SetAffinity => super::task_build::call(k, req, target, method),
        Method::GetThreadContext
        | Method::GetNextVmRegion
        | Method::TerminateAfterFreezing
        | Method::GetTasksList
        | Method::GetElfSyms
        | Method::GetElfHdr
        | Method::GetBudget => super::task_inspect::call(k, req, target, method),
    }
}

fn create<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let a: CreateReq = req.args();
    let flags = CreateFlags::from_bits(a.flags).ok_or(Rc::InvalidArgument)?;
    if flags.contains(CreateFlags::CRITICAL) && !k.is_init(req.caller) {
        // Stopping the system on a fault is for the first process to grant.
        return Err(Rc::NoCapability);
    }
    let mut name_buf = [0u8; MAX_NAME];
    let mut eiid_buf = [0u8; MAX_NAME];
    let mut path_buf = [0u8; MAX_PATH];
    let name = req.arena_str(k, a.name, &mut name_buf)?;
    let eiid = if a.eiid.len == 0 {
        // No class given: the creator's own (a child gets no privilege its
        // creator does not have, and the policy still decides).
        let own = k
            .process(req.caller)
            .ok_or(Rc::InvalidArgument)?
            .eiid
            .as_bytes();
        let copy = eiid_buf.get_mut(..own.len()).ok_or(Rc::InvalidArgument)?;
        copy.copy_from_slice(own);
        core::str::from_utf8(copy).map_err(|_| Rc::InvalidArgument)?
    } else {
        req.arena_str(k, a.eiid, &mut eiid_buf)?
    };
    let path = req.arena_str(k, a.path, &mut path_buf)?;
    // The new process's subject: the instance its name is, else its class.
    // A class the policy does not name cannot be started.
    let (subject, state, level) = crate::security::subject_of(eiid, name).unwrap_or((
        crate::security::UNNAMED,
        policy_table::State::new(0),
        0,
    ));
    let creator = k.party(req.caller)?;
    // No process starts above its creator's integrity level.
    let level = level.min(creator.level);
    let new = crate::gate::Party {
        pid: 0,
        class: eiid,
        subject,
        state: &state,
        level,
        parent: creator.pid,
    };
    // The monitor sees the whole fixed part, as the kernel call's check did.
    let sent = &k.thread(k.current()).ok_or(Rc::InvalidArgument)?.sent;
    // The path is what the process will run only when the kernel loads it
    // from there; an empty process runs what its creator loads, so the
    // monitor sees no path (a `path` condition cannot be satisfied by a
    // claim).
    let monitor_path = if flags.contains(CreateFlags::FROM_ROMFS) {
        path
    } else {
        ""
    };
    let state =
        crate::gate::execute(creator, new, sent.fixed(), name, monitor_path)?.unwrap_or(state);
    let image = if flags.contains(CreateFlags::FROM_ROMFS) {
        Some(crate::romfs::file(path).map_err(|e| {
            use romfs_builder::Error as E;
            match e {
                E::NotFound | E::NotADirectory | E::NotAFile => Rc::ResourceNotFound,
                _ => Rc::BadExecutable,
            }
        })?)
    } else {
        None
    };
    let child = k.create_process(
        Some(req.caller),
        name,
        eiid,
        path,
        image,
        a.stack_size,
        a.priority,
        flags,
        (subject, state, level),
    )?;
    match k.add_handle(req.caller, Object::Task(child), Rights::all()) {
        Ok(h) => {
            let pid = k.process(child).map_or(0, |p| p.pid);
            Ok(Reply::fixed(&CreateReply { child: h.0, pid }))
        }
        Err(e) => {
            k.end_process(child, ExitStatus::Terminated, 0, None);
            Err(e)
        }
    }
}

fn set_env<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    let len = req.header.arena_len as usize;
    if len > MAX_ENV {
        return Err(Rc::InvalidArgument);
    }
    let mut buf = [0u8; MAX_ENV];
    let data = req.arena_bytes(k, req.whole_arena(), &mut buf)?;
    let p = k.process_mut(target).ok_or(Rc::InvalidArgument)?;
    if p.lifecycle != Lifecycle::Created {
        return Err(Rc::Busy);
    }
    let space = p.space.as_mut().ok_or(Rc::Busy)?;
    if let Some((old, _)) = p.env.take() {
        space.release(old);
    }
    if len > 0 {
        let end = ENV_BASE + (len as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        space.map_new(
            ENV_BASE,
            end,
            RegionKind::Env,
            kernel_core::paging::Attrs::USER_RODATA,
            |va, page| {
                let off = (va - ENV_BASE) as usize;
                let n = data.len().saturating_sub(off).min(page.len());
                page[..n].copy_from_slice(&data[off..off + n]);
                0..n
            },
        )?;
        p.env = Some((ENV_BASE, len as u64));
    }
    Ok(Reply::empty())
}

fn wait<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    if target == req.caller {
        return Err(Rc::InvalidArgument);
    }
    let p = k.process(target).ok_or(Rc::InvalidArgument)?;
    if p.lifecycle == Lifecycle::Ended {
        return Ok(Reply::fixed(&p.exit_info()));
    }
    let a: WaitReq = req.args();
    if a.timeout_ns == 0 {
        return Err(Rc::Timeout);
    }
    k.wait_for_task(target, req.reply, req.cap, deadline(a.timeout_ns))?;
    Ok(Reply::Pending)
}
