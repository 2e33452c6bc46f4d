//! Processes: ending this one, and creating, starting, waiting for and
//! inspecting children through their Task handles (`kl.core.Task`).

use core::fmt;

use kos_abi::msg::{ArenaRef, Endpoint};
use kos_abi::task::{
    CreateFlags, CreateReply, CreateReq, ExitInfo, ExitReq, ExitStatus, FaultKind, Method,
    PidReply, WAIT, WaitReq,
};
use kos_abi::{Handle, Rc};
use zerocopy::IntoBytes;

use crate::{ipc, syscall};

/// `u64::MAX` nanoseconds: wait without a timeout.
pub const FOREVER: u64 = u64::MAX;

/// Ends this process with `code` (`Task.Exit` on the own Task handle).
pub fn exit(code: i64) -> ! {
    let _ = ipc::call(
        Handle::SELF_TASK,
        Endpoint::Task as u16,
        Method::Exit as u16,
        &ExitReq { code },
        &[],
        &mut (),
        &mut [],
    );
    // Exit refused (no right?): ending the thread ends the process when it
    // is the last one.
    syscall::thread_exit(code)
}

/// Calls a Task method on `handle`.
fn task_call<R: zerocopy::FromBytes + IntoBytes>(
    handle: Handle,
    method: u16,
    fixed: &[u8],
    arena: &[u8],
    reply: &mut R,
) -> Result<(), Rc> {
    ipc::call_parts(
        handle,
        Endpoint::Task as u16,
        method,
        fixed,
        &[arena],
        reply.as_mut_bytes(),
        &mut [],
    )
    .map(|_| ())
}

/// A child process, named by its Task handle (closed on drop).
#[derive(Debug)]
pub struct Task {
    handle: Handle,
    pid: u32,
}

impl Task {
    /// Creates a process named `name` from the executable at `path` (a
    /// ROMFS path with [`CreateFlags::FROM_ROMFS`]), its initial thread at
    /// `priority`. It does not run until [`Task::resume`].
    pub fn create(name: &str, path: &str, priority: u32, flags: CreateFlags) -> Result<Task, Rc> {
        Task::create_ex(name, path, 0, priority, flags)
    }

    /// [`Task::create`] with the default thread stack size (0 = the
    /// kernel's default).
    pub fn create_ex(
        name: &str,
        path: &str,
        stack_size: u64,
        priority: u32,
        flags: CreateFlags,
    ) -> Result<Task, Rc> {
        let name_len = u32::try_from(name.len()).map_err(|_| Rc::InvalidArgument)?;
        let path_len = u32::try_from(path.len()).map_err(|_| Rc::InvalidArgument)?;
        let req = CreateReq {
            name: ArenaRef {
                offset: 0,
                len: name_len,
            },
            eiid: ArenaRef::default(),
            path: ArenaRef {
                offset: name_len,
                len: path_len,
            },
            stack_size,
            priority,
            flags: flags.bits(),
        };
        let mut reply = CreateReply::default();
        ipc::call_parts(
            Handle::SELF_TASK,
            Endpoint::Task as u16,
            Method::Create as u16,
            req.as_bytes(),
            &[name.as_bytes(), path.as_bytes()],
            reply.as_mut_bytes(),
            &mut [],
        )?;
        Ok(Task {
            handle: Handle(reply.child),
            pid: reply.pid,
        })
    }

    /// Wraps a Task handle this process holds (closed on drop).
    pub fn from_handle(handle: Handle) -> Task {
        Task { handle, pid: 0 }
    }

    /// The Task handle.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Gives up the handle without closing it.
    pub fn into_handle(self) -> Handle {
        let h = self.handle;
        core::mem::forget(self);
        h
    }

    /// The pid `Create` returned (0 for [`Task::from_handle`]).
    pub fn created_pid(&self) -> u32 {
        self.pid
    }

    /// Sets the environment data the child finds at start (only before
    /// [`Task::resume`]).
    pub fn set_env(&self, env: &[u8]) -> Result<(), Rc> {
        task_call(self.handle, Method::SetEnv as u16, &[], env, &mut ())
    }

    /// Starts the child.
    pub fn resume(&self) -> Result<(), Rc> {
        task_call(self.handle, Method::Resume as u16, &[], &[], &mut ())
    }

    /// Waits until the child ends (at most `timeout_ns`, [`FOREVER`] for no
    /// limit) and says how.
    pub fn wait(&self, timeout_ns: u64) -> Result<ExitInfo, Rc> {
        let mut info = ExitInfo::default();
        task_call(
            self.handle,
            WAIT,
            WaitReq { timeout_ns }.as_bytes(),
            &[],
            &mut info,
        )?;
        Ok(info)
    }

    /// How the child ended ([`ExitStatus::Running`] while it runs).
    pub fn exit_info(&self) -> Result<ExitInfo, Rc> {
        let mut info = ExitInfo::default();
        task_call(self.handle, Method::GetExitInfo as u16, &[], &[], &mut info)?;
        Ok(info)
    }

    /// The child's pid.
    pub fn pid(&self) -> Result<u64, Rc> {
        let mut reply = PidReply::default();
        task_call(self.handle, Method::GetPid as u16, &[], &[], &mut reply)?;
        Ok(reply.pid)
    }

    /// Ends the child (`Task.Terminate`).
    pub fn terminate(&self) -> Result<(), Rc> {
        task_call(self.handle, Method::Terminate as u16, &[], &[], &mut ())
    }

    /// Closes the handle, reporting the kernel's answer.
    pub fn close(self) -> Result<(), Rc> {
        close_handle(self.into_handle())
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = close_handle(self.handle);
    }
}

/// Closes one handle of this process (`HandleOps.Close` on the kernel
/// handle; the same as [`handle::close`](crate::handle::close)).
pub fn close_handle(handle: Handle) -> Result<(), Rc> {
    crate::handle::close(handle)
}

/// Decoded [`ExitInfo::status`] (`None` for a value this libkos does not
/// know).
pub fn status(info: &ExitInfo) -> Option<ExitStatus> {
    ExitStatus::from_u32(info.status)
}

/// Decoded [`ExitInfo::fault`].
pub fn fault(info: &ExitInfo) -> FaultKind {
    FaultKind::from_u32(info.fault)
}

/// True if the process ended by itself with exit code `code`.
pub fn exited_with(info: &ExitInfo, code: i64) -> bool {
    status(info) == Some(ExitStatus::Normal) && info.code == code
}

/// Human-readable form of an [`ExitInfo`]: `exit code 3`, `exception:
/// null pointer access (NullPointer) far=0x0 elr=0x20_1234 esr=0x...`, ...
pub struct Describe<'a>(pub &'a ExitInfo);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        match status(info) {
            Some(ExitStatus::Running) => write!(f, "still running"),
            Some(ExitStatus::Normal) => write!(f, "exit code {}", info.code),
            Some(ExitStatus::Terminated) => write!(f, "terminated (code {})", info.code),
            Some(ExitStatus::Exception) => {
                let kind = fault(info);
                write!(
                    f,
                    "exception: {} ({kind:?}) far={:#x} elr={:#x} esr={:#x}",
                    kind.describe(),
                    info.far,
                    info.elr,
                    info.esr
                )
            }
            Some(ExitStatus::Frozen) => {
                let kind = fault(info);
                write!(
                    f,
                    "frozen after: {} ({kind:?}) far={:#x} elr={:#x} esr={:#x}",
                    kind.describe(),
                    info.far,
                    info.elr,
                    info.esr
                )
            }
            None => write!(f, "unknown status {} (code {})", info.status, info.code),
        }
    }
}
