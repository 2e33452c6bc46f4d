//! Creating kernel objects for a process: channels, badges, user objects,
//! notices and MDLs, each registered in its table and given to its owner
//! as a handle (nothing is left behind when the handle cannot be made),
//! and subscriptions of notices to objects' events.

use kernel_core::slab::{Id, SlabError};
use kos_abi::msg::notice::BADGE_CLOSED;
use kos_abi::{Handle, Rc, Rights};

use super::Kernel;
use super::object::{Badge, Channel, Charge, Mdl, Notice, Object, Subscription, UserObject, cost};
use super::thread::Pid;

use kos_abi::msg::notice::{MAX_SUBSCRIPTIONS, MAX_SUBSCRIPTIONS_PER_PROCESS};

fn full(e: SlabError) -> Rc {
    match e {
        SlabError::Full => Rc::QuotaExceeded,
        SlabError::OutOfMemory => Rc::OutOfMemory,
    }
}

impl Kernel {
    /// Charge `owner` `bytes` of kernel memory for an object it makes.
    fn charge_object(&mut self, owner: Pid, bytes: u64) -> Result<Charge, Rc> {
        self.charge(owner, 0, bytes)?;
        Ok(Charge {
            to: Some(owner),
            bytes,
        })
    }

    /// An object's memory goes back to whoever it was charged to.
    pub(super) fn uncharge_object(&mut self, c: Charge) {
        if let Some(pid) = c.to {
            let _ = self.charge(pid, c.bytes, 0);
        }
    }

    /// A new channel served by `owner`: its server end (SERVER, LISTENER)
    /// and one client end (CLIENT), both in `owner`'s table.
    pub fn create_channel(&mut self, owner: Pid) -> Result<(Handle, Handle), Rc> {
        let id = self.create_static_channel(owner)?;
        let server_rights = Rights::SERVER
            | Rights::LISTENER
            | Rights::COPY
            | Rights::TRANSFER
            | Rights::REVOKE
            | Rights::WAIT;
        let client_rights =
            Rights::CLIENT | Rights::COPY | Rights::TRANSFER | Rights::REVOKE | Rights::WAIT;
        let server = match self.add_handle(owner, Object::Channel(id), server_rights) {
            Ok(h) => h,
            Err(e) => {
                if let Some(c) = self.channels.remove(id) {
                    self.uncharge_object(c.charge);
                }
                return Err(e);
            }
        };
        match self.add_handle(owner, Object::Channel(id), client_rights) {
            Ok(client) => Ok((server, client)),
            Err(e) => {
                let _ = self.close_handle(owner, server);
                Err(e)
            }
        }
    }

    /// A channel for a static connection, served by `server` (no handle:
    /// the static ends hold it), charged to `server`.
    pub fn create_static_channel(&mut self, server: Pid) -> Result<Id, Rc> {
        let charge = self.charge_object(server, cost::<Channel>())?;
        self.channels
            .insert(Channel {
                server: Some(server),
                charge,
                ..Channel::default()
            })
            .map_err(|e| {
                self.uncharge_object(charge);
                full(e)
            })
    }

    /// A badge with `value` in `owner`'s table; `notice` (with its cookie)
    /// hears when the badge is closed.
    pub fn create_badge(
        &mut self,
        owner: Pid,
        value: u64,
        notice: Option<(Id, u64)>,
    ) -> Result<Handle, Rc> {
        let charge = self.charge_object(owner, cost::<Badge>())?;
        let badge = Badge {
            value,
            refs: 0,
            charge,
        };
        let id = self.badges.insert(badge).map_err(|e| {
            self.uncharge_object(charge);
            full(e)
        })?;
        let h = match self.add_handle(
            owner,
            Object::Badge(id),
            Rights::ATTACH | Rights::COPY | Rights::TRANSFER,
        ) {
            Ok(h) => h,
            Err(e) => {
                if let Some(b) = self.badges.remove(id) {
                    self.uncharge_object(b.charge);
                }
                return Err(e);
            }
        };
        if let Some((n, cookie)) = notice
            && let Err(e) = self.subscribe(owner, n, Object::Badge(id), BADGE_CLOSED, cookie)
        {
            // Closing the only handle destroys the badge.
            let _ = self.close_handle(owner, h);
            return Err(e);
        }
        Ok(h)
    }

    /// A user object of `owner`'s with its `context` (KnHandleCreateUserObject).
    pub fn create_user_object(
        &mut self,
        owner: Pid,
        context: u64,
        rights: Rights,
    ) -> Result<Handle, Rc> {
        let charge = self.charge_object(owner, cost::<UserObject>())?;
        let object = UserObject {
            owner,
            context,
            refs: 0,
            charge,
        };
        let id = self.uobjs.insert(object).map_err(|e| {
            self.uncharge_object(charge);
            full(e)
        })?;
        self.add_handle(owner, Object::UserObject(id), rights)
            .inspect_err(|_| {
                if let Some(o) = self.uobjs.remove(id) {
                    self.uncharge_object(o.charge);
                }
            })
    }

    /// The context of user object `id`, if `pid` created it.
    pub fn user_object_context(&self, pid: Pid, id: Id) -> Option<u64> {
        self.uobjs
            .get(id)
            .filter(|o| o.owner == pid)
            .map(|o| o.context)
    }

    /// A new notice in `owner`'s table, with `rights`.
    pub fn create_notice(&mut self, owner: Pid, rights: Rights) -> Result<(Id, Handle), Rc> {
        // Room for a full queue, as charged: queueing never allocates.
        let mut events = alloc::collections::VecDeque::new();
        events
            .try_reserve_exact(kos_abi::msg::notice::MAX_QUEUED)
            .map_err(|_| Rc::OutOfMemory)?;
        let charge = self.charge_object(owner, Notice::COST)?;
        let notice = Notice {
            charge,
            events,
            ..Notice::default()
        };
        let id = self.notices.insert(notice).map_err(|e| {
            self.uncharge_object(charge);
            full(e)
        })?;
        match self.add_handle(owner, Object::Notice(id), rights) {
            Ok(h) => Ok((id, h)),
            Err(e) => {
                if let Some(n) = self.notices.remove(id) {
                    self.uncharge_object(n.charge);
                }
                Err(e)
            }
        }
    }

    /// Let `notice` hear `object`'s events in `mask`, reported with
    /// `cookie`, on behalf of process `by`.
    pub fn subscribe(
        &mut self,
        by: Pid,
        notice: Id,
        object: Object,
        mask: u32,
        cookie: u64,
    ) -> Result<(), Rc> {
        if self.subs.len() >= MAX_SUBSCRIPTIONS
            || self.subs.iter().filter(|s| s.by == by).count() >= MAX_SUBSCRIPTIONS_PER_PROCESS
        {
            return Err(Rc::QuotaExceeded);
        }
        self.subs.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
        self.subs.push(Subscription {
            notice,
            object,
            mask,
            cookie,
            by,
        });
        Ok(())
    }

    /// Register MDL `m` and give `owner` a handle to it with `rights`.
    /// Its record is charged to `owner`'s memory.
    pub fn create_mdl(&mut self, owner: Pid, mut m: Mdl, rights: Rights) -> Result<Handle, Rc> {
        let pages = m.frames.len();
        let charged = m.charged_to;
        let made = self.mdls.reserve_one().map_err(full).and_then(|()| {
            m.charge = self.charge_object(owner, m.cost())?;
            Ok(())
        });
        if let Err(e) = made {
            self.reclaim.frames(m.frames);
            self.uncharge_frames(charged, pages);
            return Err(e);
        }
        let id = self.mdls.insert(m).map_err(full)?;
        match self.add_handle(owner, Object::Mdl(id), rights) {
            Ok(h) => Ok(h),
            Err(e) => {
                // Unreferenced: releasing it returns its frames.
                self.retain(Object::Mdl(id), Rights::empty());
                self.release(Object::Mdl(id), Rights::empty());
                Err(e)
            }
        }
    }

    /// Charges `pages` MDL frames to `pid`'s frames quota
    /// (rcQuotaExceeded if they do not fit).
    pub fn charge_frames(&mut self, pid: Pid, pages: usize) -> Result<(), Rc> {
        let space = self
            .procs
            .get_mut(pid)
            .and_then(|p| p.space.as_mut())
            .ok_or(Rc::InvalidArgument)?;
        space.charge_frames(pages)
    }

    /// Gives `pages` frames back to the quota of `pid`, if it still exists.
    pub fn uncharge_frames(&mut self, pid: Option<Pid>, pages: usize) {
        if let Some(space) = pid
            .and_then(|pid| self.procs.get_mut(pid))
            .and_then(|p| p.space.as_mut())
        {
            space.uncharge_frames(pages);
        }
    }

    /// MDL `id`, if it exists.
    pub fn mdl(&self, id: Id) -> Option<&Mdl> {
        self.mdls.get(id)
    }

    /// Map MDL `id` into `pid` (writable or not); returns (address, size).
    pub fn map_mdl(&mut self, pid: Pid, id: Id, writable: bool) -> Result<(u64, u64), Rc> {
        let Kernel { mdls, procs, .. } = self;
        let frames = &mdls.get(id).ok_or(Rc::InvalidArgument)?.frames;
        let space = procs
            .get_mut(pid)
            .and_then(|p| p.space.as_mut())
            .ok_or(Rc::InvalidArgument)?;
        let addr = space.map_shared(frames, writable, id)?;
        let size = frames.len() as u64 * kernel_core::addr::PAGE_SIZE;
        // The mapping holds the frames as a handle would.
        self.retain(Object::Mdl(id), Rights::empty());
        Ok((addr, size))
    }

    /// Unmap the MDL mapping at `[addr, addr+size)` of `pid`.
    pub fn unmap_mdl(&mut self, pid: Pid, addr: u64, size: u64) -> Result<(), Rc> {
        let space = self
            .procs
            .get_mut(pid)
            .and_then(|p| p.space.as_mut())
            .ok_or(Rc::InvalidArgument)?;
        let owner = space.unmap_shared(addr, size)?;
        self.release(Object::Mdl(owner), Rights::empty());
        Ok(())
    }
}
