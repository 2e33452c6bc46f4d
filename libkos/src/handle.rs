//! Handle operations (`HandleOps` on [`Handle::KERNEL`]): close, copy with
//! fewer rights (and a badge), revoke descendants, identify.

use kos_abi::decl::Invoke;
use kos_abi::interfaces::handle_ops::call as m;
use kos_abi::msg::NO_BADGE;
use kos_abi::msg::handle_ops::{CloseReq, CopyReq};
use kos_abi::{Handle, Rc, Rights};

use crate::ipc;

pub use kos_abi::msg::handle_ops::Identity;

/// Calls `HandleOps` method `M` on the kernel handle.
pub(crate) fn ops_call<M: Invoke>(fixed: &M::Request) -> Result<M::Reply, Rc> {
    ipc::invoke::<M>(Handle::KERNEL, fixed, &[], &mut []).map(|(reply, _)| reply)
}

fn close_req(handle: Handle) -> CloseReq {
    CloseReq {
        handle: handle.0,
        _reserved: 0,
    }
}

/// Closes one handle of this process. Its descendants stay; a revoked
/// handle can still be closed (to free its slot).
pub fn close(handle: Handle) -> Result<(), Rc> {
    ops_call::<m::Close>(&close_req(handle))
}

/// A descendant of `handle` in this process with `rights` (a subset of
/// `handle`'s: more is [`Rc::NoCapability`]; needs COPY).
pub fn copy(handle: Handle, rights: Rights) -> Result<Handle, Rc> {
    copy_raw(handle, rights, Handle(NO_BADGE))
}

/// [`copy`] with the badge `badge` (a Badge handle with ATTACH) attached:
/// the copy and its descendants carry the badge's value.
pub fn copy_badged(handle: Handle, rights: Rights, badge: Handle) -> Result<Handle, Rc> {
    copy_raw(handle, rights, badge)
}

fn copy_raw(handle: Handle, rights: Rights, badge: Handle) -> Result<Handle, Rc> {
    let req = CopyReq {
        handle: handle.0,
        rights: rights.bits(),
        badge: badge.0,
        _reserved: 0,
    };
    ops_call::<m::Copy>(&req).map(|r| Handle(r.handle))
}

/// Closes every descendant of `handle` in every process (needs REVOKE);
/// their later use gets [`Rc::HandleRevoked`]. `handle` itself stays.
pub fn revoke(handle: Handle) -> Result<(), Rc> {
    ops_call::<m::Revoke>(&close_req(handle))
}

/// What `handle` names: kind (`handle_ops::KIND_*`), rights, badge value,
/// and for a user object this process created, its context.
pub fn identify(handle: Handle) -> Result<Identity, Rc> {
    ops_call::<m::Identify>(&close_req(handle))
}

/// A handle closed when dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnedHandle(Handle);

impl OwnedHandle {
    /// Takes ownership of `handle`.
    pub const fn new(handle: Handle) -> OwnedHandle {
        OwnedHandle(handle)
    }

    /// The handle (still owned).
    pub const fn get(&self) -> Handle {
        self.0
    }

    /// Gives the handle up without closing it.
    pub fn into_raw(self) -> Handle {
        let h = self.0;
        core::mem::forget(self);
        h
    }

    /// Closes it, reporting the kernel's answer.
    pub fn close(self) -> Result<(), Rc> {
        close(self.into_raw())
    }
}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        let _ = close(self.0);
    }
}
