//! Notification receivers (`Notice`): subscribe to objects' events (a
//! task's end, a channel's peer gone, a badge closed, any object destroyed),
//! signal user events, wait for them.

use kos_abi::interfaces::notice::call as m;
use kos_abi::msg::notice::{SubscribeReq, WaitReq};
use kos_abi::{Handle, Rc};
use zerocopy::IntoBytes;

use crate::ipc;

pub use kos_abi::msg::notice::{
    BADGE_CLOSED, Event, MAX_QUEUED, OBJECT_DESTROYED, PEER_DIED, USER,
};

/// Creates a notice (handle rights READ_EVENTS | SIGNAL | COPY | TRANSFER).
pub fn create() -> Result<Handle, Rc> {
    let (reply, _) = ipc::invoke::<m::Create>(Handle::KERNEL, &(), &[], &mut [])?;
    Ok(Handle(reply.handle))
}

/// Reports the `mask` events of the object behind `object` (a handle of
/// this process) to `notice`, with `cookie`.
pub fn subscribe(notice: Handle, object: Handle, mask: u32, cookie: u64) -> Result<(), Rc> {
    let req = SubscribeReq {
        object: object.0,
        mask,
        cookie,
    };
    ipc::invoke::<m::Subscribe>(notice, &req, &[], &mut []).map(drop)
}

/// What [`wait`] got.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Waited {
    /// Events written to the start of the slice.
    pub count: usize,
    /// Events still queued.
    pub left: u32,
}

/// Waits at most `timeout_ns` (`u64::MAX` = forever, 0 = do not block) for
/// events and reads as many as `events` holds. [`Rc::Timeout`] if none came.
pub fn wait(notice: Handle, timeout_ns: u64, events: &mut [Event]) -> Result<Waited, Rc> {
    let (reply, got) =
        ipc::invoke::<m::Wait>(notice, &WaitReq { timeout_ns }, &[], events.as_mut_bytes())?;
    let whole = got / core::mem::size_of::<Event>();
    Ok(Waited {
        count: (reply.count as usize).min(whole),
        left: reply.left,
    })
}

/// Queues a [`USER`] event with `cookie` on `notice`, waking a waiter.
pub fn signal(notice: Handle, cookie: u64) -> Result<(), Rc> {
    let ev = Event {
        cookie,
        event: USER,
        _reserved: 0,
    };
    ipc::invoke::<m::Signal>(notice, &ev, &[], &mut []).map(drop)
}
