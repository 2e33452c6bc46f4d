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

impl Object {
    /// Its kind as the interface declarations name it; `None` for objects
    /// no kernel method is declared on.
    pub fn declared_kind(self) -> Option<kos_abi::decl::Target> {
        use kos_abi::decl::Target;
        match self {
            Object::Task(_) => Some(Target::Task),
            Object::Thread(_) => Some(Target::Thread),
            Object::Kernel => Some(Target::Kernel),
            Object::Notice(_) => Some(Target::Notice),
            Object::Mdl(_) => Some(Target::Mdl),
            Object::Channel(_) | Object::Badge(_) | Object::UserObject(_) => None,
        }
    }
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

/// Kernel heap an object holds, charged to the process that made it
/// (against its budget's `memory`) until the object goes.
#[derive(Copy, Clone, Debug, Default)]
pub struct Charge {
    pub to: Option<super::thread::Pid>,
    pub bytes: u64,
}

/// What an object of type `T` costs in kernel heap: its slab slot and the
/// slab's free-list entry.
pub const fn cost<T>() -> u64 {
    (core::mem::size_of::<T>() + 2 * core::mem::size_of::<u32>()) as u64
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
    pub charge: Charge,
}

/// A resource transfer context: its value reaches the server with every
/// request made through a handle derived with it attached.
pub struct Badge {
    pub value: u64,
    /// Badge handles plus handle-tree nodes carrying the badge.
    pub refs: u32,
    pub charge: Charge,
}

/// A server's own resource behind a handle (KnHandleCreateUserObject).
pub struct UserObject {
    pub owner: Pid,
    pub context: u64,
    pub refs: u32,
    pub charge: Charge,
}

/// A notification receiver: a bounded queue of events and at most one
/// waiting thread.
#[derive(Default)]
pub struct Notice {
    pub refs: u32,
    pub events: VecDeque<Event>,
    pub waiter: Option<Tid>,
    pub charge: Charge,
}

impl Notice {
    /// Its record and a full queue.
    pub const COST: u64 = cost::<Notice>()
        + (kos_abi::msg::notice::MAX_QUEUED * core::mem::size_of::<Event>()) as u64;
}

/// What a notice is told about, and how.
#[derive(Copy, Clone, Debug)]
pub struct Subscription {
    pub notice: Id,
    pub object: Object,
    pub mask: u32,
    pub cookie: u64,
    /// The process that made it (its share is bounded).
    pub by: super::thread::Pid,
}

/// An MDL buffer: frames shared by every process that maps it.
pub struct Mdl {
    pub frames: Vec<PhysAddr>,
    /// Handles plus live mappings: the frames go back when both are gone.
    pub refs: u32,
    /// The process whose frames quota holds these frames (its creator, for
    /// `Mdl.Create`), uncharged when they go back.
    pub charged_to: Option<super::thread::Pid>,
    /// Its record and its list of frames.
    pub charge: Charge,
}

impl Mdl {
    /// Zeroed frames for `size` bytes (page-rounded), or `rcOutOfMemory`.
    pub fn zeroed(size: u64) -> Result<Mdl, kos_abi::Rc> {
        let pages = Mdl::pages_for(size);
        let mut m = Mdl::with_room(pages)?;
        while m.frames.len() < pages {
            if let Err(e) = m.add_zeroed_frame() {
                m.free();
                return Err(e);
            }
        }
        Ok(m)
    }

    /// Pages for `size` bytes.
    pub fn pages_for(size: u64) -> usize {
        size.div_ceil(kernel_core::addr::PAGE_SIZE) as usize
    }

    /// An MDL with no frames yet and room for `pages` (so that adding them
    /// never allocates), or `rcOutOfMemory`.
    pub fn with_room(pages: usize) -> Result<Mdl, kos_abi::Rc> {
        let mut frames = Vec::new();
        frames
            .try_reserve_exact(pages)
            .map_err(|_| kos_abi::Rc::OutOfMemory)?;
        Ok(Mdl {
            frames,
            refs: 0,
            charged_to: None,
            charge: Charge::default(),
        })
    }

    /// One more zeroed frame (within the room [`Mdl::with_room`] made).
    pub fn add_zeroed_frame(&mut self) -> Result<(), kos_abi::Rc> {
        if self.frames.len() == self.frames.capacity() {
            return Err(kos_abi::Rc::InvalidArgument);
        }
        let pa = crate::memory::frames::alloc().ok_or(kos_abi::Rc::OutOfMemory)?;
        crate::memory::frames::zero(pa);
        self.frames.push(pa);
        Ok(())
    }

    /// One more frame (within the room [`Mdl::with_room`] made), its
    /// contents written by `fill`.
    pub fn add_frame_with(&mut self, fill: impl FnOnce(&mut [u8])) -> Result<(), kos_abi::Rc> {
        if self.frames.len() == self.frames.capacity() {
            return Err(kos_abi::Rc::InvalidArgument);
        }
        let pa = crate::memory::frames::alloc().ok_or(kos_abi::Rc::OutOfMemory)?;
        crate::memory::phys::with_new_page(pa, fill);
        self.frames.push(pa);
        Ok(())
    }

    /// Gives the frames back (an MDL that never became an object).
    pub fn free(self) {
        for pa in self.frames {
            let _ = crate::memory::frames::free(pa);
        }
    }

    /// Its record and its list of frames.
    pub fn cost(&self) -> u64 {
        cost::<Mdl>() + (self.frames.len() * core::mem::size_of::<PhysAddr>()) as u64
    }

    pub fn size(&self) -> u64 {
        self.frames.len() as u64 * kernel_core::addr::PAGE_SIZE
    }

    /// Copy bytes at `offset` of the buffer into `buf` (`rcInvalidArgument`
    /// if the range is not inside it).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), kos_abi::Rc> {
        self.access(offset, buf.len(), |kva, range| {
            crate::memory::phys::read(kva, &mut buf[range]);
        })
    }

    /// Copy `bytes` into the buffer at `offset`.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), kos_abi::Rc> {
        self.access(offset, bytes.len(), |kva, range| {
            crate::memory::phys::write(kva, &bytes[range]);
        })
    }

    /// Walk `[offset, offset+len)` page by page: `f(kernel address, range
    /// of the caller's buffer)`.
    fn access(
        &self,
        offset: u64,
        len: usize,
        mut f: impl FnMut(u64, core::ops::Range<usize>),
    ) -> Result<(), kos_abi::Rc> {
        use kernel_core::addr::PAGE_SIZE;
        let end = offset
            .checked_add(len as u64)
            .ok_or(kos_abi::Rc::InvalidArgument)?;
        if end > self.size() {
            return Err(kos_abi::Rc::InvalidArgument);
        }
        let mut done = 0usize;
        while done < len {
            let at = offset + done as u64;
            let page = self.frames[(at / PAGE_SIZE) as usize];
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(len - done);
            let kva = crate::memory::layout::phys_to_virt(page).0 + at % PAGE_SIZE;
            f(kva, done..done + n);
            done += n;
        }
        Ok(())
    }
}
