//! Threads of this process: `Thread.Create` on the own Task handle, then
//! `Thread.Join` / `Thread.Info` on the new thread's handle.

use alloc::boxed::Box;

use kos_abi::interfaces::thread::call as m;
use kos_abi::msg::thread;
use kos_abi::sched::{SchedClass, SchedPolicy};
use kos_abi::{Handle, Rc};

use crate::task::close_handle;
use crate::{ipc, syscall};

pub use kos_abi::msg::thread::ThreadInfo;

/// Values of [`ThreadInfo::state`].
pub mod state {
    pub const READY: u32 = 0;
    pub const RUNNING: u32 = 1;
    pub const BLOCKED: u32 = 2;
    pub const ENDED: u32 = 3;
}

/// A FIFO real-time policy at `priority`.
pub const fn fifo(priority: u32) -> SchedPolicy {
    SchedPolicy {
        class: SchedClass::Fifo as u32,
        priority,
        quantum_ticks: 0,
        _reserved: 0,
    }
}

/// A round-robin real-time policy at `priority`, `quantum_ticks` per turn
/// (0 = default).
pub const fn round_robin(priority: u32, quantum_ticks: u32) -> SchedPolicy {
    SchedPolicy {
        class: SchedClass::RoundRobin as u32,
        priority,
        quantum_ticks,
        _reserved: 0,
    }
}

/// A time-sharing policy at `priority`.
pub const fn normal(priority: u32) -> SchedPolicy {
    SchedPolicy {
        class: SchedClass::Normal as u32,
        priority,
        quantum_ticks: 0,
        _reserved: 0,
    }
}

type Body = Box<dyn FnOnce() -> i64 + Send + 'static>;

/// Where every thread made by [`spawn`] starts: `arg` is the leaked
/// `Box<Body>`; runs it and ends the thread with its result.
extern "C" fn thread_entry(arg: usize) -> ! {
    // SAFETY: `arg` is the pointer `spawn` got from `Box::into_raw` and
    // handed to exactly this one thread, which takes it back once.
    let body: Box<Body> = unsafe { Box::from_raw(arg as *mut Body) };
    let code = body();
    syscall::thread_exit(code)
}

/// Starts a thread running `f` under `policy` with a stack of `stack_size`
/// bytes (0 = the process's default); its exit code is `f`'s result.
pub fn spawn(
    policy: SchedPolicy,
    stack_size: u64,
    f: impl FnOnce() -> i64 + Send + 'static,
) -> Result<JoinHandle, Rc> {
    let body: Box<Body> = Box::new(Box::new(f));
    let arg = Box::into_raw(body);
    let req = thread::CreateReq {
        entry: thread_entry as *const () as u64,
        arg: arg as u64,
        stack_size,
        policy,
    };
    match ipc::invoke::<m::Create>(Handle::SELF_TASK, &req, &[], &mut []) {
        Ok((reply, _)) => Ok(JoinHandle {
            handle: Handle(reply.handle),
            tid: reply.tid,
        }),
        Err(rc) => {
            // SAFETY: no thread was created, so `arg` (from `into_raw`
            // above) is still ours alone: take it back to drop it.
            drop(unsafe { Box::from_raw(arg) });
            Err(rc)
        }
    }
}

/// A thread's handle (closed on drop).
#[derive(Debug)]
pub struct JoinHandle {
    handle: Handle,
    tid: u32,
}

impl JoinHandle {
    /// Waits (at most `timeout_ns`; `u64::MAX` = forever) until the thread
    /// ends; returns its exit code.
    pub fn join(&self, timeout_ns: u64) -> Result<i64, Rc> {
        join_handle(self.handle, timeout_ns)
    }

    /// The thread's state, CPU time and switch count.
    pub fn info(&self) -> Result<ThreadInfo, Rc> {
        info(self.handle)
    }

    /// The cores it may run on from now (bit `n`: core `n`).
    pub fn set_affinity(&self, cores: u64) -> Result<(), Rc> {
        set_affinity(self.handle, cores)
    }

    pub fn tid(&self) -> u32 {
        self.tid
    }

    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Closes the handle, reporting the kernel's answer.
    pub fn close(self) -> Result<(), Rc> {
        let h = self.handle;
        core::mem::forget(self);
        close_handle(h)
    }
}

impl Drop for JoinHandle {
    fn drop(&mut self) {
        let _ = close_handle(self.handle);
    }
}

/// `Thread.Join` on any handle (tests use it on the wrong kinds).
pub fn join_handle(handle: Handle, timeout_ns: u64) -> Result<i64, Rc> {
    let (reply, _) = ipc::invoke::<m::Join>(handle, &thread::JoinReq { timeout_ns }, &[], &mut [])?;
    Ok(reply.exit_code)
}

/// `Thread.SetAffinity` on any handle: the cores the thread may run on
/// from now, those of `cores` its process may run on (at least one of
/// them must run threads, else `rcInvalidArgument`); it moves at once if
/// its core is not one of them.
pub fn set_affinity(handle: Handle, cores: u64) -> Result<(), Rc> {
    ipc::invoke::<m::SetAffinity>(handle, &thread::Affinity { cores }, &[], &mut []).map(|_| ())
}

/// `Thread.Info` on any handle.
pub fn info(handle: Handle) -> Result<ThreadInfo, Rc> {
    ipc::invoke::<m::Info>(handle, &(), &[], &mut []).map(|(reply, _)| reply)
}
