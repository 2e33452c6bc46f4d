//! The security monitor's check point. Every message to a kernel endpoint
//! (and, with IPC, every message between processes) passes [`check`] after
//! it was decoded and validated and before anything happens. Until the
//! policy exists (the policy issue compiles it into a table) it allows
//! everything; what it sees is already what the policy will decide on.

use kos_abi::Rc;

use crate::task::object::Object;

/// One message, as the monitor sees it.
#[allow(
    dead_code,
    reason = "the policy (a later issue) reads it; the check point is wired now"
)]
pub struct Message<'a> {
    /// The sending process: its PID and class (`eiid`).
    pub source_pid: u32,
    pub source_class: &'a str,
    /// The object the message goes to.
    pub target: Object,
    /// The process that serves it (a task, or a channel's server process):
    /// its PID and class; `None` for the kernel's own objects.
    pub target_task: Option<(u32, &'a str)>,
    pub endpoint: u16,
    pub method: u16,
    /// The fixed part (arguments) and the size of the arena.
    pub fixed: &'a [u8],
    pub arena_len: u32,
}

/// Allow or deny one message. Deny is `rcSecurityDisallow`.
pub fn check(_msg: &Message<'_>) -> Result<(), Rc> {
    Ok(())
}
