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
    /// The message: its header (endpoint, method, sizes) and its bytes,
    /// still in the sender's memory, for the policy to read what it needs
    /// (no copy is made for a policy that looks only at the header).
    pub header: &'a kos_abi::msg::Header,
    pub message: Bytes<'a>,
}

/// Bytes of a message in its sender's address space (validated readable).
pub struct Bytes<'a> {
    pub space: &'a crate::task::space::AddressSpace,
    pub addr: u64,
    pub len: u64,
}

impl Bytes<'_> {
    /// Copy `buf.len()` bytes from `offset` of the message.
    #[allow(dead_code, reason = "for the policy's rules on message contents")]
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Rc> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or(Rc::InvalidArgument)?;
        if end > self.len {
            return Err(Rc::InvalidArgument);
        }
        self.space.copy_in(self.addr + offset, buf)
    }
}

/// Allow or deny one message. Deny is `rcSecurityDisallow`.
pub fn check(_msg: &Message<'_>) -> Result<(), Rc> {
    Ok(())
}
