//! Thread methods: create (on the caller's own Task handle), join and
//! information (on a Thread handle).

use kos_abi::interfaces::thread::Method;
use kos_abi::msg::thread::{Affinity, CreateReply, CreateReq, JoinReply, JoinReq, ThreadInfo};
use kos_abi::{Rc, Rights};

use super::{Reply, Request};
use crate::task::Kernel;
use crate::task::deadline;
use crate::task::object::Object;
use crate::task::thread::{Pid, State, Tid};

/// `Thread.Create`: the gate let through only the method declared on a
/// Task handle, and checked that `target` is the caller.
pub fn create<'a>(k: &mut Kernel, req: &Request, target: Pid) -> Result<Reply<'a>, Rc> {
    let a: CreateReq = req.args();
    // Its handle must fit: undoing a thread with a large stack would take
    // long.
    if !k.handle_fits(req.caller) {
        k.drop_resume();
        return Err(Rc::QuotaExceeded);
    }
    let Some(tid) = k.spawn_thread(target, a.entry, a.arg, a.stack_size, &a.policy)? else {
        return Ok(Reply::Again);
    };
    match k.add_handle(req.caller, Object::Thread(tid), Rights::all()) {
        Ok(h) => {
            let user_tid = k.thread(tid).map_or(0, |t| t.tid);
            Ok(Reply::fixed(&CreateReply {
                handle: h.0,
                tid: user_tid,
            }))
        }
        Err(e) => {
            // No handle, no thread: it has not run yet (the caller still runs).
            k.thread_exit(tid, 0);
            Err(e)
        }
    }
}

pub fn call<'a>(k: &mut Kernel, req: &Request, target: Tid) -> Result<Reply<'a>, Rc> {
    let method = Method::from_u16(req.header.method).ok_or(Rc::ResourceNotFound)?;
    match method {
        // On the own Task handle (`create`; the gate checked the object).
        Method::Create => Err(Rc::WrongType),
        Method::Join => {
            if target == k.current() {
                return Err(Rc::InvalidArgument);
            }
            let t = k.thread(target).ok_or(Rc::InvalidArgument)?;
            if t.state == State::Dead {
                return Ok(Reply::fixed(&JoinReply {
                    exit_code: t.exit_code,
                }));
            }
            let a: JoinReq = req.args();
            if a.timeout_ns == 0 {
                return Err(Rc::Timeout);
            }
            k.join_thread(target, req.reply, req.cap, deadline(a.timeout_ns))?;
            Ok(Reply::Pending)
        }
        Method::Info => {
            let t = k.thread(target).ok_or(Rc::InvalidArgument)?;
            let (tid, state, switches) = (t.tid, t.state.abi(), t.switches);
            let affinity = k.affinity_of(target);
            let core = k.core_of(target);
            let ticks = k.cpu_time(target);
            let freq = crate::arch::timer::frequency().max(1);
            let cpu_ns = (ticks as u128 * 1_000_000_000 / freq as u128) as u64;
            Ok(Reply::fixed(&ThreadInfo {
                tid,
                state,
                cpu_ns,
                switches,
                affinity,
                core,
                _pad: 0,
            }))
        }
        Method::SetAffinity => {
            let a: Affinity = req.args();
            k.place_thread(target, a.cores)?;
            Ok(Reply::empty())
        }
    }
}
