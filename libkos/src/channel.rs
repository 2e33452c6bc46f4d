//! Channels: a server end (SERVER, LISTENER) and client ends (CLIENT).
//! Clients [`call`](crate::ipc::call_with) through a client end; the server
//! takes requests with [`recv`](crate::ipc::recv) on its end.

use kos_abi::interfaces::handle_ops::call::ChannelCreate;
use kos_abi::{Handle, Rc};

use crate::handle::ops_call;

/// The two ends [`create`] returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ends {
    /// SERVER | LISTENER | COPY | TRANSFER | REVOKE | WAIT.
    pub server: Handle,
    /// CLIENT | COPY | TRANSFER | REVOKE | WAIT.
    pub client: Handle,
}

/// Creates a channel (`HandleOps.ChannelCreate`).
pub fn create() -> Result<Ends, Rc> {
    let reply = ops_call::<ChannelCreate>(&())?;
    Ok(Ends {
        server: Handle(reply.server),
        client: Handle(reply.client),
    })
}
