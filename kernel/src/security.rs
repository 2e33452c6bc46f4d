//! The security monitor: [`check`] decides on every message the gate
//! ([`crate::gate`]) lets through its limits and rights, and on every
//! process start, with the system's policy: a table compiled on the host
//! (`policy/`, `cargo xtask policy`) and embedded in the image. A decision
//! is a table lookup (`policy_table::Policy::decide`): no parsing, no
//! allocation. Every denial, and every grant its rule asks to audit, goes
//! to the audit ring ([`crate::audit`]).
//!
//! Without a table that reads (a kernel built without xtask), every
//! message is refused: the monitor fails closed.

#![forbid(unsafe_code)]

use kos_abi::Rc;
pub use policy_table::Event;
use policy_table::{Decision, KERNEL, Policy, Query};

use crate::audit;

/// 8-aligned bytes (a table is read in place with aligned loads).
#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

/// The policy table xtask compiled for this image (empty without xtask).
static TABLE: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/policy.bin")));

static POLICY: spin::Once<Option<Policy<'static>>> = spin::Once::new();

/// Read the table (once, at boot, before the first process).
pub fn init() {
    POLICY.call_once(|| match Policy::parse(&TABLE.0) {
        Ok(p) => {
            crate::println!(
                "security: policy of {} classes and instances, {} rules",
                p.subject_count(),
                p.rule_count()
            );
            Some(p)
        }
        Err(e) => {
            crate::println!("security: no usable policy ({e:?}): every message is refused");
            None
        }
    });
}

#[inline]
fn policy() -> Option<&'static Policy<'static>> {
    POLICY.get().and_then(|p| p.as_ref())
}

/// A process as the monitor knows it.
#[derive(Copy, Clone, Debug)]
pub struct Party<'a> {
    pub pid: u32,
    /// Its class (`eiid`).
    pub class: &'a str,
    /// Its subject in the policy (class or instance) and its state in its
    /// class's state machine.
    pub subject: u16,
    pub state: &'a policy_table::State,
    /// Its integrity level.
    pub level: u8,
    /// Its creator's PID (0: none).
    pub parent: u32,
}

/// One message (or process start), as the monitor sees it.
pub struct Message<'a> {
    pub event: Event,
    pub source: Party<'a>,
    /// The receiving process (a request's server, a reply's client, a new
    /// process, the process a Task or Thread handle names); `None` for the
    /// kernel's own objects.
    pub target: Option<Party<'a>>,
    /// The request's endpoint and method (for a reply: its request's).
    pub endpoint: u16,
    pub method: u16,
    /// The fixed part, as it will be delivered (a kernel copy).
    pub fixed: &'a [u8],
    /// A process start's name and path.
    pub name: &'a str,
    pub path: &'a str,
}

/// The fast path, before any [`Message`] is built: whether one
/// unconditional rule (no conditions, no audit, no transition) grants the
/// message. If not, [`check`] decides.
#[inline(always)]
pub fn granted_outright(event: Event, src: u16, dst: u16, endpoint: u16, method: u16) -> bool {
    match POLICY.get() {
        Some(Some(p)) => p.grants_outright(event, src, dst, endpoint, method),
        _ => false,
    }
}

/// Allow or deny. Deny is `rcSecurityDisallow`; a grant says whether a
/// granting rule changes the target's policy state ([`effects`] gives the
/// new one, once the effect of the message is sure: a state is never moved
/// through the message's path, where copying it would cost more than the
/// decision).
#[inline(never)]
pub fn check(msg: &Message<'_>) -> Result<bool, Rc> {
    let Some(p) = policy() else {
        audit::record(msg, &Decision::DENY, None);
        return Err(Rc::SecurityDisallow);
    };
    let q = query(p, msg);
    let d = p.decide(&q);
    if d.granted {
        if d.audit {
            audit::record(msg, &d, Some(p));
        }
        Ok(d.effects)
    } else {
        audit::record(msg, &d, Some(p));
        Err(Rc::SecurityDisallow)
    }
}

/// The target's new policy state after a message [`check`] granted with
/// effects (`None` if it would not grant now).
#[inline(never)]
pub fn effects(msg: &Message<'_>) -> Option<policy_table::State> {
    let p = policy()?;
    let q = query(p, msg);
    let d = p.decide(&q);
    (d.granted && d.effects).then(|| p.effects(&q))
}

/// The policy's question for a message.
fn query<'a>(p: &Policy<'_>, msg: &Message<'a>) -> Query<'a> {
    let (dst, state, level, own, child): (u16, &policy_table::State, u8, bool, bool) =
        match &msg.target {
            Some(t) => (
                t.subject,
                t.state,
                t.level,
                t.pid == msg.source.pid,
                t.parent == msg.source.pid && t.pid != 0,
            ),
            None => (
                KERNEL,
                &policy_table::NO_STATE,
                p.level(KERNEL),
                false,
                false,
            ),
        };
    Query {
        event: msg.event,
        src: msg.source.subject,
        dst,
        endpoint: msg.endpoint,
        method: msg.method,
        fixed: msg.fixed,
        name: msg.name.as_bytes(),
        path: msg.path.as_bytes(),
        target_self: own,
        target_child: child,
        dst_state: state,
        src_level: msg.source.level,
        dst_level: level,
    }
}

/// The subject of a new process of `class` named `name`, the policy
/// state it starts in and its integrity level as declared; `None` if the
/// policy names neither the class nor the instance (it cannot be started).
pub fn subject_of(class: &str, name: &str) -> Option<(u16, policy_table::State, u8)> {
    let p = policy()?;
    let s = p.subject(class.as_bytes(), name.as_bytes())?;
    Some((s, policy_table::State::new(p.initial_state(s)), p.level(s)))
}

/// The kernel as a party (the first process's creator).
pub fn kernel_party() -> Party<'static> {
    Party {
        pid: 0,
        class: "kl.core.Core",
        subject: KERNEL,
        state: &policy_table::NO_STATE,
        level: policy().map_or(0, |p| p.level(KERNEL)),
        parent: 0,
    }
}

/// The policy's limits for processes of `subject`.
pub fn quota(subject: u16) -> policy_table::Quota {
    policy().map_or(policy_table::Quota::NONE, |p| p.quota(subject))
}

/// The quota the policy gives `subject` itself (none: no limits beyond
/// the machine's), not the default of classes without one.
pub fn own_quota(subject: u16) -> policy_table::Quota {
    policy()
        .and_then(|p| p.own_quota(subject))
        .unwrap_or(policy_table::Quota::NONE)
}

/// Whether a process of `subject` may ask for a thread of scheduling
/// `class` at `priority` (its quota's ceiling and classes); else
/// `rcQuotaExceeded`.
pub fn sched_allowed(
    subject: u16,
    class: kos_abi::sched::SchedClass,
    priority: u32,
) -> Result<(), Rc> {
    let q = quota(subject);
    if priority > u32::from(q.priority) || q.sched & (1 << class as u32) == 0 {
        return Err(Rc::QuotaExceeded);
    }
    Ok(())
}

/// The subject of a process start the policy does not name: the kernel's,
/// which no `execute` rule can target (so the start is refused, and
/// audited, like any other).
pub const UNNAMED: u16 = KERNEL;

/// A decision on a message of subject `src` to `dst`, for the kernel's
/// benchmarks.
#[cfg(feature = "kbench")]
#[inline(never)]
pub fn bench_decide(
    event: Event,
    src: u16,
    dst: u16,
    method: &kos_abi::decl::MethodDecl,
    path: &[u8],
) -> policy_table::Decision {
    use core::hint::black_box;
    let Some(p) = policy() else {
        return Decision::DENY;
    };
    let fixed = [0u8; 40];
    let q = Query {
        event,
        src: black_box(src),
        dst: black_box(dst),
        endpoint: method.endpoint,
        method: method.id,
        fixed: &fixed,
        name: b"",
        path,
        target_self: false,
        target_child: false,
        dst_state: &policy_table::NO_STATE,
        src_level: 0,
        dst_level: 0,
    };
    black_box(p).decide(black_box(&q))
}
