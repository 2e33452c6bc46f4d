//! What a handle can name, and the kernel objects that exist only to be
//! named by handles: channels, badges, user objects, notices, MDL buffers.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kernel_core::addr::PhysAddr;
use kernel_core::cdt::NodeId;
use kernel_core::slab::Id;
use kos_abi::msg::notice::Event;

use super::thread::{Pid, Tid};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::enum_variant_names,
    reason = "UserObject is the KasperskyOS name (KnHandleCreateUserObject)"
)]
pub enum Object {
    /// A process (`kl.core.Task`, `Thread.CREATE`, `Vm`).
    Task(Pid),
    /// A thread (`Thread.JOIN`, `Thread.INFO`).
    Thread(Tid),
    /// The kernel's core endpoints.
    Kernel,
    Channel(Id),
    Badge(Id),
    UserObject(Id),
    Notice(Id),
    Mdl(Id),
}

/// A handle table entry: the object and the handle's node in the
/// inheritance tree (rights live in the table entry).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Cap {
    pub object: Object,
    pub node: NodeId,
    /// The badge the handle carries (also known to the tree; kept here so a
    /// revoke need not ask the tree about nodes it is removing).
    pub badge: Option<Id>,
}

/// An IPC channel: clients `Call` through client ends, servers `Recv` and
/// `Reply` on server ends; all ends name this one object.
#[derive(Default)]
pub struct Channel {
    /// Handles (and static-channel entries) naming it.
    pub refs: u32,
    /// Of those, the ones that can serve (SERVER right, or a server's
    /// static entry): when none is left, the server side is dead.
    pub servers: u32,
    /// Clients waiting for a server to receive their message, in order.
    pub senders: VecDeque<Tid>,
    /// Server threads blocked in `Recv`, in order.
    pub receivers: VecDeque<Tid>,
    /// The process serving it, as the security monitor names the target:
    /// its creator or static server, then whoever last received on it.
    pub server: Option<Pid>,
}

/// A resource transfer context: its value reaches the server with every
/// request made through a handle derived with it attached.
pub struct Badge {
    pub value: u64,
    /// Badge handles plus handle-tree nodes carrying the badge.
    pub refs: u32,
}

/// A server's own resource behind a handle (KnHandleCreateUserObject).
pub struct UserObject {
    pub owner: Pid,
    pub context: u64,
    pub refs: u32,
}

/// A notification receiver: a bounded queue of events and at most one
/// waiting thread.
#[derive(Default)]
pub struct Notice {
    pub refs: u32,
    pub events: VecDeque<Event>,
    pub waiter: Option<Tid>,
}

/// What a notice is told about, and how.
#[derive(Copy, Clone, Debug)]
pub struct Subscription {
    pub notice: Id,
    pub object: Object,
    pub mask: u32,
    pub cookie: u64,
}

/// An MDL buffer: frames shared by every process that maps it.
pub struct Mdl {
    pub frames: Vec<PhysAddr>,
    /// Handles plus live mappings: the frames go back when both are gone.
    pub refs: u32,
}
