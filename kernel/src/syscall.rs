//! Syscalls: `svc #0` with the number in x8 and arguments in x0..x5 (see
//! `kos_abi::syscall`). The trap entry (vectors.s) saved the thread's
//! registers into its frame; they are decoded into a typed
//! [`Syscall`](kernel_core::syscall::Syscall) (host-tested) and acted on, and
//! the results go back into x0/x1 of the same frame. A `Call` and a
//! `ReplyRecv` try the IPC fast path first (`task::ipc_fast`).

#![forbid(unsafe_code)]

use kernel_core::syscall::{Syscall, decode};
use kos_abi::syscall as nr;
use kos_abi::{Handle, Rc};

use crate::arch::exception::TrapFrame;
use crate::kcall::Outcome;
use crate::task::Kernel;
use crate::task::ipc_fast::{self, Fast};
use crate::task::thread::Wait;

/// Serve the current thread's syscall. `Some`: the frame to resume, chosen
/// by the fast path; `None`: the scheduler chooses.
pub fn handle(k: &mut Kernel) -> Option<*mut TrapFrame> {
    let x = &k.thread(k.current())?.frame.x;
    let (number, handle) = (x[8], x[0]);
    let fast = match number {
        // No argument to decode.
        nr::YIELD => return Some(k.yield_now()),
        // The kernel handle names no channel: its calls go straight on.
        nr::CALL if handle != u64::from(Handle::KERNEL.0) && ipc_fast::enabled() => {
            k.fast_call().map_or(Fast::No, Fast::Switched)
        }
        nr::REPLY_RECV if ipc_fast::enabled() => k.fast_reply_recv(),
        _ => {
            slow(k);
            return None;
        }
    };
    let next = match fast {
        Fast::No => {
            slow(k);
            None
        }
        Fast::Served => None,
        Fast::Switched(f) => Some(f),
    };
    k.syscall_done();
    next
}

/// The current thread's syscall, on the general path (out of line: the
/// fast path's caller does not pay for its stack frame).
#[inline(never)]
fn slow(k: &mut Kernel) {
    let cur = k.current();
    let Some(t) = k.thread(cur) else {
        return;
    };
    let x = &t.frame.x;
    let call = match decode(x[8], [x[0], x[1], x[2], x[3], x[4], x[5]]) {
        Ok(call) => call,
        Err(rc) => return set(k, rc, 0),
    };
    match call {
        Syscall::Nop => set(k, Rc::Ok, 0),
        Syscall::Call {
            handle,
            request,
            reply,
            timeout_ns,
        } => match crate::kcall::call(k, handle, request, reply, timeout_ns) {
            Outcome::Done(rc, len) => set(k, rc, len),
            // Blocked (the reply comes when it is woken) or gone.
            Outcome::Pending => {}
            // Back to the `svc` (4 bytes), registers untouched: the pending
            // interrupt is taken first, then the call goes on.
            Outcome::Again => again(k),
        },
        Syscall::Recv {
            handle,
            buf,
            timeout_ns,
        } => {
            let Some(pid) = k.current_pid() else { return };
            if let Err(rc) = k.ipc_recv(pid, handle, buf, timeout_ns) {
                set(k, rc, 0);
            }
        }
        Syscall::Reply { token, msg } => {
            let Some(pid) = k.current_pid() else { return };
            let rc = k.ipc_reply(pid, token, msg);
            set(k, rc, 0);
        }
        Syscall::ReplyRecv {
            token,
            msg,
            handle,
            buf,
        } => {
            let Some(pid) = k.current_pid() else { return };
            let reply_rc = if token == 0 {
                Rc::Ok
            } else {
                k.ipc_reply(pid, token, msg)
            };
            if let Some(t) = k.thread_mut(cur) {
                t.frame.x[4] = reply_rc as u64;
            }
            if let Err(rc) = k.ipc_recv(pid, handle, buf, kos_abi::syscall::FOREVER) {
                set(k, rc, 0);
            }
        }
        Syscall::Yield | Syscall::Sleep { ns: 0 } => k.yield_current(Some((Rc::Ok, 0))),
        Syscall::Sleep { ns } => {
            set(k, Rc::Ok, 0);
            k.block_current(Wait::Sleep, Some(crate::task::deadline_after(ns)));
        }
        Syscall::ThreadExit { code } => {
            if !k.thread_exit_in_steps(cur, code) {
                again(k);
            }
        }
    }
}

/// Back to the `svc` (4 bytes), registers untouched: the pending
/// interrupt is taken first, then the call goes on (`task::resume`).
fn again(k: &mut Kernel) {
    if let Some(t) = k.thread_mut(k.current()) {
        t.frame.elr -= 4;
    }
}

fn set(k: &mut Kernel, rc: Rc, value: u64) {
    if let Some(t) = k.thread_mut(k.current()) {
        t.set_return(rc, value);
    }
}
