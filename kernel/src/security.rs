//! The security monitor: [`check`] decides on every message the gate
//! ([`crate::gate`]) lets through its limits and rights, and on every
//! process start. Until the policy exists (the policy issue compiles it
//! into a table) it allows everything; what it sees is already what the
//! policy will decide on.
//!
//! The user-test kernel (`monitor-test` feature) carries a few fixed rules
//! that the on-target tests of the gate rely on; see [`test_rules`].

#![forbid(unsafe_code)]

use kos_abi::Rc;
use kos_abi::msg::Header;

/// What happens, as the monitor sees it (KasperskyOS's policy events).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A request delivered to a server process.
    Request,
    /// A reply (status rcOk) delivered to a client.
    Reply,
    /// A reply carrying an error status.
    Error,
    /// A call on a kernel object.
    KernelCall,
    /// A process is created (`Task.Create`): the target is the new class.
    Execute,
}

/// One message (or process start), as the monitor sees it.
#[cfg_attr(
    not(feature = "monitor-test"),
    allow(
        dead_code,
        reason = "the policy (the next issue) reads them; the test rules do in the user-test kernel"
    )
)]
pub struct Message<'a> {
    pub event: Event,
    /// The sending process: its PID and class (`eiid`).
    pub source_pid: u32,
    pub source_class: &'a str,
    /// The receiving process (a request's server, a reply's client, a new
    /// process): its PID (0 for one not created yet) and class; `None` for
    /// the kernel's own objects.
    pub target: Option<(u32, &'a str)>,
    /// Endpoint, method, sizes and (for a reply) status.
    pub header: &'a Header,
    /// The fixed part, as it will be delivered (a kernel copy).
    pub fixed: &'a [u8],
}

/// Allow or deny. Deny is `rcSecurityDisallow`.
pub fn check(msg: &Message<'_>) -> Result<(), Rc> {
    #[cfg(feature = "monitor-test")]
    test_rules::check(msg)?;
    let _ = msg;
    Ok(())
}

/// Rules of the user-test kernel only: each refuses one chosen message, so
/// that the gate's tests can see a refusal at each point (a request at its
/// delivery, a reply). The values are the tests' own (`utest-gate`).
#[cfg(feature = "monitor-test")]
pub mod test_rules {
    use kos_abi::Rc;

    use super::{Event, Message};

    /// The class of the gate tests' server.
    pub const SERVER_CLASS: &str = "utest.gate.Server";
    /// A request to that class whose fixed part starts with this is refused.
    pub const REFUSED_REQUEST: u64 = 0x0BAD_0BAD;
    /// A reply from that class whose fixed part starts with this is refused.
    pub const REFUSED_REPLY: u64 = 0x00DE_41ED;
    /// A process of this class cannot be terminated through a Task handle.
    pub const PROTECTED_CLASS: &str = "utest.gate.Protected";

    fn first_word(fixed: &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(fixed.get(..8)?.try_into().ok()?))
    }

    pub fn check(msg: &Message<'_>) -> Result<(), Rc> {
        let word = first_word(msg.fixed);
        let refused = match msg.event {
            Event::Request => {
                msg.target.is_some_and(|(_, class)| class == SERVER_CLASS)
                    && word == Some(REFUSED_REQUEST)
            }
            Event::Reply | Event::Error => {
                msg.source_class == SERVER_CLASS && word == Some(REFUSED_REPLY)
            }
            Event::KernelCall => {
                let terminate = kos_abi::task::Method::Terminate.decl();
                msg.target
                    .is_some_and(|(_, class)| class == PROTECTED_CLASS)
                    && msg.header.endpoint == terminate.endpoint
                    && msg.header.method == terminate.id
            }
            Event::Execute => false,
        };
        if refused {
            crate::println!(
                "security: {:?} from {} refused by a test rule",
                msg.event,
                msg.source_class
            );
            return Err(Rc::SecurityDisallow);
        }
        Ok(())
    }
}
