//! Badges (resource transfer contexts): a value attached to a handle when
//! it is copied or transferred; the handle and its descendants carry it, a
//! server sees it on each call through such a channel handle
//! ([`Received::badge`](crate::ipc::Received)), and a notice learns when the
//! badge is gone (every handle to it and carrying it closed).

use kos_abi::interfaces::handle_ops::call::BadgeCreate;
use kos_abi::msg::NO_BADGE;
use kos_abi::msg::handle_ops::BadgeReq;
use kos_abi::{Handle, Rc};

use crate::handle::ops_call;

/// Creates a badge with `value` (handle rights ATTACH | COPY | TRANSFER);
/// when it is destroyed, `notice` (if any) gets a `BADGE_CLOSED` event with
/// `cookie`.
pub fn create(value: u64, notice: Option<Handle>, cookie: u64) -> Result<Handle, Rc> {
    let req = BadgeReq {
        value,
        notice: notice.map_or(NO_BADGE, |h| h.0),
        _reserved: 0,
        cookie,
    };
    ops_call::<BadgeCreate>(&req).map(|r| Handle(r.handle))
}
