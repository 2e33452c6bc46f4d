//! Handles as capabilities: creating, deriving (copy and transfer), closing
//! and revoking them, and the reference counts that destroy an object when
//! its last handle goes.
//!
//! Every handle is a node of the inheritance tree (`kernel_core::cdt`): a
//! derived handle is a child whose rights are a subset of its parent's and
//! which carries the badge attached on the way (or inherits its parent's).
//! Revoking a handle closes all its descendants in every process; their
//! slots stay as tombstones answering `rcHandleRevoked`.

use kernel_core::cdt::NodeId;
use kernel_core::handles::Entry;
use kernel_core::slab::Id;
use kos_abi::msg::notice::{BADGE_CLOSED, Event, OBJECT_DESTROYED, PEER_DIED};
use kos_abi::{Handle, Rc, Rights};

use super::Kernel;
use super::budget;
use super::object::{Cap, Object};
use super::process::Lifecycle;
use super::thread::Pid;

/// A node id that names nothing (a placeholder until the real one exists).
const NO_NODE: NodeId = NodeId {
    index: u32::MAX,
    generation: 0,
};

impl Kernel {
    /// Whether one more handle would fit `owner`'s table and budget and
    /// the inheritance tree (a call checks before work it would undo).
    pub fn handle_fits(&self, owner: Pid) -> bool {
        self.procs
            .get(owner)
            .is_some_and(|p| p.handles.len() < p.handles.limit())
            && budget::fits(budget::Slot::of(owner), budget::Kind::Handles, 1)
            && self.cdt.len() < super::MAX_HANDLES_TOTAL
    }

    /// A new handle to `obj` in `owner`'s table: the root of a new tree.
    pub fn add_handle(&mut self, owner: Pid, obj: Object, rights: Rights) -> Result<Handle, Rc> {
        self.insert_handle(owner, obj, rights, None, None)
    }

    /// A handle to the object `src` (in `from`'s table) names, for `to`,
    /// as a descendant of `src`: `rights` must be a subset of `src`'s
    /// (`rcNoCapability` otherwise) and `badge` (a Badge object) is attached.
    pub fn derive_handle(
        &mut self,
        from: Pid,
        src: Handle,
        to: Pid,
        rights: Rights,
        badge: Option<Id>,
    ) -> Result<Handle, Rc> {
        let e = self.entry(from, src)?;
        if !e.rights.contains(rights) {
            return Err(Rc::NoCapability);
        }
        self.insert_handle(to, e.object.object, rights, Some(e.object.node), badge)
    }

    fn insert_handle(
        &mut self,
        owner: Pid,
        obj: Object,
        rights: Rights,
        parent: Option<NodeId>,
        badge: Option<Id>,
    ) -> Result<Handle, Rc> {
        let p = self.procs.get_mut(owner).ok_or(Rc::InvalidArgument)?;
        let placeholder = Cap {
            object: obj,
            node: NO_NODE,
            badge: None,
        };
        let account = budget::Slot::of(owner);
        budget::charge(account, budget::Kind::Handles, 1)?;
        let h = match p.handles.insert(placeholder, rights) {
            Ok(h) => h,
            Err(e) => {
                budget::uncharge(account, budget::Kind::Handles, 1);
                return Err(e);
            }
        };
        let node = match parent {
            None => self.cdt.insert_root((owner, h), rights, badge),
            Some(parent) => self.cdt.derive(parent, (owner, h), rights, badge),
        };
        let node = match node {
            Ok(n) => n,
            Err(e) => {
                if let Some(p) = self.procs.get_mut(owner) {
                    let _ = p.handles.remove(h);
                }
                budget::uncharge(account, budget::Kind::Handles, 1);
                return Err(e);
            }
        };
        let badge = self.cdt.badge(node);
        if let Some(p) = self.procs.get_mut(owner) {
            let _ = p.handles.update(
                h,
                Entry {
                    object: Cap {
                        object: obj,
                        node,
                        badge,
                    },
                    rights,
                },
            );
        }
        self.retain(obj, rights);
        if let Some(b) = badge {
            self.retain(Object::Badge(b), Rights::empty());
        }
        Ok(h)
    }

    /// The live entry `h` names in `owner`'s table.
    pub fn entry(&self, owner: Pid, h: Handle) -> Result<Entry<Cap>, Rc> {
        self.procs
            .get(owner)
            .ok_or(Rc::InvalidArgument)?
            .handles
            .get(h)
    }

    /// Give `owner`'s handle `h` other rights, more or fewer: only for a
    /// handle nothing was derived from and that was derived from nothing
    /// (a process's own handles before it runs), so no handle ever holds
    /// more than its source.
    pub fn reset_rights(&mut self, owner: Pid, h: Handle, rights: Rights) -> Result<(), Rc> {
        let mut e = self.entry(owner, h)?;
        self.cdt.set_root_rights(e.object.node, rights)?;
        e.rights = rights;
        let p = self.procs.get_mut(owner).ok_or(Rc::InvalidArgument)?;
        p.handles.update(h, e)
    }

    /// Close `h` in `owner`'s table. Its descendants stay (they move up
    /// the tree); a revoked handle's tombstone is freed.
    pub fn close_handle(&mut self, owner: Pid, h: Handle) -> Result<(), Rc> {
        let p = self.procs.get_mut(owner).ok_or(Rc::InvalidArgument)?;
        let entry = p.handles.remove(h)?;
        budget::uncharge(budget::Slot::of(owner), budget::Kind::Handles, 1);
        if let Some(e) = entry {
            self.drop_cap(e.object, e.rights);
        }
        Ok(())
    }

    /// Close every descendant of `h` (not `h` itself), in every process:
    /// how many, or `None` if it stopped for a waiting interrupt with some
    /// left (the call comes back for them).
    pub fn revoke_handle(&mut self, owner: Pid, h: Handle) -> Result<Option<usize>, Rc> {
        let e = self.entry(owner, h)?;
        if !e.rights.contains(Rights::REVOKE) {
            return Err(Rc::NoCapability);
        }
        // A batch at a time (no allocation), stopping for a waiting
        // interrupt: a handle may have thousands of descendants. The tree
        // keeps the progress; the call, made again, goes on.
        const BATCH: usize = 32;
        let mut total = 0;
        loop {
            let mut victims = [None; BATCH];
            let mut at = 0;
            let (n, done) = self.cdt.revoke_some(e.object.node, BATCH, |key| {
                victims[at] = Some(key);
                at += 1;
            });
            total += n;
            for (pid, vh) in victims.into_iter().flatten() {
                let Some(p) = self.procs.get_mut(pid) else {
                    continue;
                };
                if let Ok(entry) = p.handles.revoke(vh) {
                    self.release(entry.object.object, entry.rights);
                    if let Some(b) = entry.object.badge {
                        self.release(Object::Badge(b), Rights::empty());
                    }
                }
            }
            if done {
                return Ok(Some(total));
            }
            if super::resume::should_stop() {
                return Ok(None);
            }
        }
    }

    /// A handle went away (closed, or its process ended): its tree node,
    /// its object reference and its badge reference go with it.
    pub(super) fn drop_cap(&mut self, cap: Cap, rights: Rights) {
        self.cdt.remove(cap.node);
        self.release(cap.object, rights);
        if let Some(b) = cap.badge {
            self.release(Object::Badge(b), Rights::empty());
        }
    }

    /// The count of handles (and, for an MDL, mappings) naming `obj`; `None`
    /// for the kernel's core endpoints and for objects already gone.
    fn refs_mut(&mut self, obj: Object) -> Option<&mut u32> {
        match obj {
            Object::Task(pid) => self.procs.get_mut(pid).map(|p| &mut p.handle_refs),
            Object::Thread(tid) => self.threads.get_mut(tid).map(|t| &mut t.handle_refs),
            Object::Kernel => None,
            Object::Channel(id) => self.channels.get_mut(id).map(|c| &mut c.refs),
            Object::Badge(id) => self.badges.get_mut(id).map(|b| &mut b.refs),
            Object::UserObject(id) => self.uobjs.get_mut(id).map(|u| &mut u.refs),
            Object::Notice(id) => self.notices.get_mut(id).map(|n| &mut n.refs),
            Object::Mdl(id) => self.mdls.get_mut(id).map(|m| &mut m.refs),
        }
    }

    /// One more handle (with `rights`) names `obj`.
    pub(crate) fn retain(&mut self, obj: Object, rights: Rights) {
        if let Some(r) = self.refs_mut(obj) {
            *r += 1;
        }
        if let Object::Channel(id) = obj
            && rights.contains(Rights::SERVER)
            && let Some(c) = self.channels.get_mut(id)
        {
            c.servers += 1;
        }
    }

    /// One handle (with `rights`) naming `obj` went away: destroy the
    /// object when it was the last, and tell whoever subscribed.
    pub(crate) fn release(&mut self, obj: Object, rights: Rights) {
        let Some(r) = self.refs_mut(obj) else {
            return;
        };
        *r = r.saturating_sub(1);
        let last = *r == 0;
        match obj {
            Object::Task(pid) => {
                match self.stuck_and_unreachable(pid) {
                    Some(Lifecycle::Created) => {
                        // Nobody can ever start it: it goes, as a terminated
                        // process.
                        self.end_process(pid, kos_abi::task::ExitStatus::Terminated, 0, None);
                    }
                    Some(Lifecycle::Frozen) => {
                        // Nobody can inspect or end it any more: it goes, as
                        // the exception it died of.
                        let info = self.procs.get(pid).map(|p| p.exit);
                        self.end_process(pid, kos_abi::task::ExitStatus::Exception, 0, info);
                    }
                    _ => {}
                }
                self.reap(pid);
            }
            Object::Thread(tid) => self.reap_thread(tid),
            Object::Kernel => {}
            Object::Channel(id) => {
                if rights.contains(Rights::SERVER)
                    && let Some(c) = self.channels.get_mut(id)
                {
                    c.servers = c.servers.saturating_sub(1);
                    if c.servers == 0 {
                        self.server_gone(id);
                    }
                }
                if last {
                    if let Some(c) = self.channels.remove(id) {
                        self.uncharge_object(c.charge);
                    }
                    self.object_destroyed(obj);
                }
            }
            Object::Badge(id) if last => {
                if let Some(b) = self.badges.remove(id) {
                    self.uncharge_object(b.charge);
                }
                self.notify(obj, BADGE_CLOSED);
                self.object_destroyed(obj);
            }
            Object::UserObject(id) if last => {
                if let Some(o) = self.uobjs.remove(id) {
                    self.uncharge_object(o.charge);
                }
                self.object_destroyed(obj);
            }
            Object::Notice(id) if last => {
                if let Some(w) = self.notices.get_mut(id).and_then(|n| n.waiter.take()) {
                    self.wake(w, Rc::PeerDied, 0);
                }
                if let Some(n) = self.notices.remove(id) {
                    self.uncharge_object(n.charge);
                }
                self.subs.retain(|s| s.notice != id);
                self.object_destroyed(obj);
            }
            Object::Mdl(id) if last => {
                if let Some(m) = self.mdls.remove(id) {
                    let (charged, pages, charge) = (m.charged_to, m.frames.len(), m.charge);
                    self.reclaim.frames(m.frames);
                    self.uncharge_frames(charged, pages);
                    self.uncharge_object(charge);
                }
                self.object_destroyed(obj);
            }
            Object::Badge(_) | Object::UserObject(_) | Object::Notice(_) | Object::Mdl(_) => {}
        }
    }

    /// An object is gone: its subscribers hear it once, then forget it.
    fn object_destroyed(&mut self, obj: Object) {
        self.notify(obj, OBJECT_DESTROYED);
        self.subs.retain(|s| s.object != obj);
    }

    /// The last server end of a channel went: its waiting clients learn it.
    fn server_gone(&mut self, id: Id) {
        let senders = match self.channels.get_mut(id) {
            Some(c) => core::mem::take(&mut c.senders),
            None => return,
        };
        for t in senders {
            if let Some(th) = self.threads.get_mut(t) {
                th.wait = None;
            }
            self.wake(t, Rc::PeerDied, 0);
        }
        self.notify(Object::Channel(id), PEER_DIED);
    }

    /// Queue `event` on every notice subscribed to it for `obj`, waking
    /// their waiters.
    pub fn notify(&mut self, obj: Object, event: u32) {
        self.notify_subscribers(obj, event, None);
    }

    /// A process ended: every notice from `GetTasksList` hears it, with the
    /// PID as the cookie.
    pub fn notify_task_end(&mut self, pid: u32) {
        self.notify_subscribers(Object::Kernel, OBJECT_DESTROYED, Some(pid as u64));
    }

    /// `event` for each subscription to `obj` that wants it, with the
    /// subscription's cookie unless `cookie` replaces it.
    fn notify_subscribers(&mut self, obj: Object, event: u32, cookie: Option<u64>) {
        let mut i = 0;
        while i < self.subs.len() {
            let s = self.subs[i];
            i += 1;
            if s.object == obj && s.mask & event != 0 {
                let e = Event {
                    cookie: cookie.unwrap_or(s.cookie),
                    event,
                    _reserved: 0,
                };
                self.queue_event(s.notice, e);
            }
        }
    }

    /// The lifecycle of a process that cannot go on by itself (never
    /// started, or frozen) and that only its own handles name: nobody can
    /// start, inspect or end it any more.
    pub(super) fn stuck_and_unreachable(&self, pid: Pid) -> Option<Lifecycle> {
        let p = self.procs.get(pid)?;
        if !matches!(p.lifecycle, Lifecycle::Created | Lifecycle::Frozen) {
            return None;
        }
        let own = p
            .handles
            .iter()
            .filter(|(_, e)| e.object.object == Object::Task(pid))
            .count() as u32;
        (p.handle_refs <= own).then_some(p.lifecycle)
    }

    /// The badge value carried by the handle at `node` (0: none).
    pub fn badge_value(&self, node: NodeId) -> u64 {
        self.cdt
            .badge(node)
            .and_then(|b| self.badges.get(b))
            .map_or(0, |b| b.value)
    }
}
