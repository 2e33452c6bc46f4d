//! User objects: handles to resources a user server implements (like
//! `KnHandleCreateUserObject`). The server gives out handles with the
//! rights it chooses (object-specific bits mean what it says) and learns
//! its own `context` back with [`identify`](crate::handle::identify).

use kos_abi::interfaces::handle_ops::call::UserObjectCreate;
use kos_abi::msg::handle_ops::UserObjectReq;
use kos_abi::{Handle, Rc, Rights};

use crate::handle::ops_call;

/// Creates a user object with `context` and a handle to it with `rights`.
pub fn create(context: u64, rights: Rights) -> Result<Handle, Rc> {
    let req = UserObjectReq {
        context,
        rights: rights.bits(),
        _reserved: 0,
    };
    ops_call::<UserObjectCreate>(&req).map(|r| Handle(r.handle))
}
