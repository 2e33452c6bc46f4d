//! Notification receivers (`Notice`): subscribe to objects' events (a
//! task's end, a channel's peer gone, a badge closed, any object destroyed),
//! signal user events, wait for them.

use kos_abi::msg::Endpoint;
use kos_abi::msg::handle_ops::HandleReply;
use kos_abi::msg::notice::{self, SubscribeReq, WaitReply, WaitReq};
use kos_abi::{Handle, Rc};
use zerocopy::IntoBytes;

use crate::ipc;

pub use kos_abi::msg::notice::{
    BADGE_CLOSED, Event, MAX_QUEUED, OBJECT_DESTROYED, PEER_DIED, USER,
};

fn notice_call<F, R>(
    handle: Handle,
    method: u16,
    fixed: &F,
    reply: &mut R,
    arena: &mut [u8],
) -> Result<usize, Rc>
where
    F: IntoBytes + zerocopy::Immutable,
    R: zerocopy::FromBytes + IntoBytes,
{
    ipc::call(
        handle,
        Endpoint::Notice as u16,
        method,
        fixed,
        &[],
        reply,
        arena,
    )
}

/// Creates a notice (handle rights READ_EVENTS | COPY | TRANSFER).
pub fn create() -> Result<Handle, Rc> {
    let mut reply = HandleReply::default();
    notice_call(Handle::KERNEL, notice::CREATE, &(), &mut reply, &mut [])?;
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
    notice_call(notice, notice::SUBSCRIBE, &req, &mut (), &mut []).map(|_| ())
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
    let mut reply = WaitReply::default();
    let got = notice_call(
        notice,
        notice::WAIT,
        &WaitReq { timeout_ns },
        &mut reply,
        events.as_mut_bytes(),
    )?;
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
    notice_call(notice, notice::SIGNAL, &ev, &mut (), &mut []).map(|_| ())
}
