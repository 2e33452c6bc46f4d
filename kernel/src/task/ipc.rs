//! Synchronous IPC over channels: `Call` (client), `Recv` and `Reply`
//! (server), as in KasperskyOS.
//!
//! A message's header and fixed part are copied into the kernel once, when
//! it is sent (the [`Snapshot`] the gate checks); when a server receives it
//! the gate runs on that snapshot, and the receiver gets the snapshot and
//! the rest of the message (handle descriptors checked and derived into
//! its table, the arena copied straight from the sender's memory). A client blocks from its `Call` until the
//! reply is written into its buffer; a server that dies wakes its clients
//! with `rcPeerDied`, and a client that dies leaves its server `rcPeerDied`
//! on `Reply`.

use kernel_core::slab::Id;
use kernel_core::syscall::UserSlice;
use kos_abi::msg::{
    DESC_COPY, DESC_MOVE, DESC_SIZE, HEADER_SIZE, HandleDesc, Header, MAX_HANDLES, NO_BADGE,
};
use kos_abi::syscall::FOREVER;
use kos_abi::{Handle, Rc, Rights};
use zerocopy::IntoBytes;

use crate::gate::{self, Passage};
use crate::security::Event;

use super::Kernel;
use super::object::Object;
use super::thread::{Pid, State, Tid, Wait};

/// The reply token naming a client thread.
fn token(t: Tid) -> u64 {
    ((t.generation as u64) << 32) | t.index as u64
}

pub(super) fn from_token(v: u64) -> Tid {
    Tid {
        index: v as u32,
        generation: (v >> 32) as u32,
    }
}

impl Outgoing {
    fn new(from: Pid, thread: Tid, msg: UserSlice, header: Header) -> Self {
        Outgoing {
            from,
            thread,
            msg,
            header,
            descs: heapless::Vec::new(),
        }
    }
}

/// A validated message: its header and fixed part in the kernel (the
/// sending thread's [`Thread::sent`](super::thread::Thread::sent)), the
/// rest in its sender's memory.
struct Outgoing {
    from: Pid,
    thread: Tid,
    msg: UserSlice,
    header: Header,
    descs: heapless::Vec<HandleDesc, MAX_HANDLES>,
}

impl Kernel {
    /// Read the handle descriptors of a message and check each against the
    /// sender's table: the handle exists, the mode's right is there, the
    /// rights asked are a subset, the badge is a Badge it may attach.
    /// (Filled in place: the descriptor vector is large enough that moving
    /// it shows in the IPC path's instruction count.)
    fn read_descs_into(&self, out: &mut Outgoing) -> Result<(), Rc> {
        let (pid, msg, header) = (out.from, out.msg, out.header);
        let descs = &mut out.descs;
        let n = header.handles as usize;
        if n > 0 {
            // n <= MAX_HANDLES was checked with the header.
            let _ = descs.resize(n, HandleDesc::default());
            let at = msg.addr + HEADER_SIZE as u64 + header.fixed_len as u64;
            self.space(pid)?.copy_in(at, descs.as_mut_bytes())?;
        }
        for (i, d) in descs.iter().enumerate() {
            let e = self.entry(pid, Handle(d.handle))?;
            let needed = match d.mode {
                DESC_COPY => Rights::COPY,
                DESC_MOVE => Rights::TRANSFER,
                _ => return Err(Rc::InvalidArgument),
            };
            let asked = Rights::from_bits_retain(d.rights);
            if !e.rights.contains(needed) || !e.rights.contains(asked) {
                return Err(Rc::NoCapability);
            }
            if d.mode == DESC_MOVE && descs[..i].iter().any(|p| p.handle == d.handle) {
                // A handle moved is gone: it cannot also go again.
                return Err(Rc::InvalidArgument);
            }
            if d.badge != NO_BADGE {
                self.badge_of(pid, d.badge)?;
            }
        }
        Ok(())
    }

    /// The Badge object behind `handle`, if the caller may attach it.
    pub fn badge_of(&self, pid: Pid, handle: u32) -> Result<Id, Rc> {
        let e = self.entry(pid, Handle(handle))?;
        match e.object.object {
            Object::Badge(b) if e.rights.contains(Rights::ATTACH) => Ok(b),
            Object::Badge(_) => Err(Rc::NoCapability),
            _ => Err(Rc::WrongType),
        }
    }

    /// Deliver `out` into `to`'s buffer `dst`: handles derived into `to`'s
    /// table (moved ones closed in the sender's), descriptors rewritten,
    /// bytes copied. Nothing changes on failure. Returns the length.
    fn deliver(&mut self, out: &Outgoing, to: Pid, dst: UserSlice) -> Result<u64, Rc> {
        if out.msg.len > dst.len {
            return Err(Rc::MessageTooLarge);
        }
        let mut given: heapless::Vec<HandleDesc, MAX_HANDLES> = heapless::Vec::new();
        let result = self
            .give_handles(out, to, &mut given)
            .and_then(|_| self.copy_message(out, to, dst.addr, &given));
        if let Err(e) = result {
            for g in &given {
                let _ = self.close_handle(to, Handle(g.handle));
            }
            return Err(e);
        }
        for d in &out.descs {
            if d.mode == DESC_MOVE {
                let _ = self.close_handle(out.from, Handle(d.handle));
            }
        }
        Ok(out.msg.len)
    }

    /// Derive each described handle into `to`'s table, recording in `given`
    /// what the receiver sees (the caller undoes them on error).
    fn give_handles(
        &mut self,
        out: &Outgoing,
        to: Pid,
        given: &mut heapless::Vec<HandleDesc, MAX_HANDLES>,
    ) -> Result<(), Rc> {
        for d in out.descs.iter().copied() {
            let badge = if d.badge == NO_BADGE {
                None
            } else {
                Some(self.badge_of(out.from, d.badge)?)
            };
            let rights = Rights::from_bits_retain(d.rights);
            let h = self.derive_handle(out.from, Handle(d.handle), to, rights, badge)?;
            let node = self.entry(to, h).map(|e| e.object.node);
            // At most MAX_HANDLES descriptors, as `given` holds.
            let _ = given.push(HandleDesc {
                handle: h.0,
                rights: d.rights,
                mode: d.mode,
                badge: 0,
                badge_value: node.map_or(0, |nd| self.badge_value(nd)),
            });
        }
        Ok(())
    }

    /// Write the message: the snapshot's header and fixed part, `descs`
    /// in place of the sender's, and the arena from the sender's memory.
    fn copy_message(
        &self,
        out: &Outgoing,
        to: Pid,
        dst: u64,
        descs: &[HandleDesc],
    ) -> Result<(), Rc> {
        let dstsp = self.space(to)?;
        let sender = self.threads.get(out.thread).ok_or(Rc::PeerDied)?;
        let head = sender.sent.head();
        dstsp.copy_out(dst, head)?;
        let mut at = head.len() as u64;
        if !descs.is_empty() {
            dstsp.copy_out(dst + at, descs.as_bytes())?;
        }
        at += (out.header.handles as usize * DESC_SIZE) as u64;
        if at < out.msg.len {
            let src = self.space(out.from)?;
            src.copy_to(out.msg.addr + at, dstsp, dst + at, out.msg.len - at)?;
        }
        Ok(())
    }

    /// The gate for a message delivered to `to` (a request to its server,
    /// a reply to its client), decided on `(endpoint, method)`: the
    /// request's. `Ok` gives the passage again if a granting rule changes
    /// the target's policy state: [`Kernel::deliver_passed`] applies that
    /// once the message is delivered.
    #[inline(always)]
    fn pass_delivery(
        &mut self,
        event: Event,
        out: &Outgoing,
        (to, to_thread): (Pid, Tid),
        right: Rights,
        (endpoint, method): (u16, u16),
    ) -> Result<Option<Passage>, Rc> {
        let sender = self.threads.get(out.thread).ok_or(Rc::PeerDied)?;
        let (src, cached) = (sender.subject, sender.granted);
        let dst = self.threads.get(to_thread).ok_or(Rc::PeerDied)?.subject;
        let passage = Passage {
            event,
            src,
            dst,
            cached,
            held: right,
            needed: right,
            endpoint,
            method,
        };
        let g = gate::pass(&passage, || self.delivery_parties(out, to))?;
        if let Some(key) = g.remember
            && let Some(t) = self.threads.get_mut(out.thread)
        {
            t.remember_grant(key);
        }
        Ok(g.effects.then_some(passage))
    }

    /// What the monitor's full check of a delivery reads: the sender, the
    /// target and the sender's snapshot.
    fn delivery_parties(&self, out: &Outgoing, to: Pid) -> Result<gate::Full<'_>, Rc> {
        let sent = &self.threads.get(out.thread).ok_or(Rc::PeerDied)?.sent;
        Ok((self.party(out.from)?, Some(self.party(to)?), sent))
    }

    /// Deliver a message that passed the gate, then apply the effects of
    /// its grant on the target's policy state (`pending`, the passage, if
    /// it had any): effects commit only with the delivery.
    fn deliver_passed(
        &mut self,
        out: &Outgoing,
        to: Pid,
        buf: UserSlice,
        pending: Option<Passage>,
    ) -> Result<u64, Rc> {
        let len = self.deliver(out, to, buf)?;
        if let Some(p) = pending {
            let state = gate::effects(&p, || self.delivery_parties(out, to));
            self.enter_state(to, state);
        }
        Ok(len)
    }

    /// `Call` through a channel handle. Returns `None` when the caller
    /// blocked (its results come when it is woken).
    #[allow(
        clippy::too_many_arguments,
        reason = "the syscall's arguments, decoded"
    )]
    pub fn ipc_call(
        &mut self,
        caller: Pid,
        channel: Id,
        node_badge: u64,
        header: Header,
        request: UserSlice,
        reply: UserSlice,
        timeout_ns: u64,
    ) -> Option<(Rc, u64)> {
        let me = self.here.current;
        let Some(ch) = self.channels.get(channel) else {
            return Some((Rc::PeerDied, 0));
        };
        if ch.servers == 0 {
            return Some((Rc::PeerDied, 0));
        }
        // A waiting server takes the message now.
        while let Some(server) = self
            .channels
            .get_mut(channel)
            .and_then(|c| c.receivers.pop_front())
        {
            let Some(Wait::Recv { buf, .. }) = self.threads.get(server).and_then(|t| t.wait) else {
                continue;
            };
            let spid = self.threads.get(server).map(|t| t.process);
            let Some(spid) = spid else { continue };
            // Room on the server's list of clients before anything moves.
            if !self.room_to_serve(server) {
                self.requeue_receiver(channel, server);
                return Some((Rc::OutOfMemory, 0));
            }
            // The caller's decode took the snapshot (limits checked) and
            // checked the CLIENT right; the monitor decides now.
            let mut out = Outgoing::new(caller, me, request, header);
            let result = self
                .read_descs_into(&mut out)
                .and_then(|_| {
                    let key = (out.header.endpoint, out.header.method);
                    self.pass_delivery(Event::Request, &out, (spid, server), Rights::CLIENT, key)
                })
                .and_then(|state| self.deliver_passed(&out, spid, buf, state));
            match result {
                Ok(len) => {
                    self.block_current(
                        Wait::Call {
                            channel,
                            request,
                            reply,
                            badge: node_badge,
                            served_by: Some(server),
                        },
                        // Timeout 0 asked only that a server be waiting:
                        // one was, so the reply is waited for unbounded.
                        crate::task::deadline(match timeout_ns {
                            0 => FOREVER,
                            t => t,
                        }),
                    );
                    self.start_serving(server, me, len, node_badge);
                    return None;
                }
                Err(e) => {
                    self.requeue_receiver(channel, server);
                    return Some((e, 0));
                }
            }
        }
        if timeout_ns == 0 {
            return Some((Rc::Timeout, 0));
        }
        if let Some(c) = self.channels.get_mut(channel) {
            if c.senders.try_reserve(1).is_err() {
                return Some((Rc::OutOfMemory, 0));
            }
            c.senders.push_back(me);
        }
        // Queued: what the server will receive is the snapshot in the
        // caller's `sent`, whatever the caller's memory holds by then.
        self.block_current(
            Wait::Call {
                channel,
                request,
                reply,
                badge: node_badge,
                served_by: None,
            },
            crate::task::deadline(timeout_ns),
        );
        None
    }

    fn requeue_receiver(&mut self, channel: Id, server: Tid) {
        if let Some(c) = self.channels.get_mut(channel) {
            c.receivers.push_front(server);
        }
    }

    /// Whether `server`'s list of clients has room for one more
    /// ([`Kernel::start_serving`] then cannot fail): asked before a
    /// message moves, as a client left off the list could never be
    /// answered.
    pub(super) fn room_to_serve(&mut self, server: Tid) -> bool {
        self.threads
            .get_mut(server)
            .is_some_and(|s| s.serving.try_reserve(1).is_ok())
    }

    /// `server` received `client`'s message (`len` bytes): it returns from
    /// `Recv` with the token and badge. Its list of clients has room
    /// ([`Kernel::room_to_serve`]).
    pub(super) fn start_serving(&mut self, server: Tid, client: Tid, len: u64, badge: u64) {
        let Some(s) = self.threads.get_mut(server) else {
            return;
        };
        if s.serving.try_reserve(1).is_ok() {
            s.serving.push(client);
        }
        s.frame.x[2] = token(client);
        s.frame.x[3] = badge;
        if s.state == State::Blocked {
            self.wake_handoff(server, Rc::Ok, len);
        } else {
            s.set_return(Rc::Ok, len);
        }
    }

    /// `Recv` on a channel's server end. `Ok` when a message was received
    /// (the results are in the thread's registers) or the thread blocked.
    pub fn ipc_recv(
        &mut self,
        pid: Pid,
        handle: Handle,
        buf: UserSlice,
        timeout_ns: u64,
    ) -> Result<(), Rc> {
        let me = self.here.current;
        let e = self.entry(pid, handle)?;
        let channel = match e.object.object {
            Object::Channel(c) if e.rights.contains(Rights::SERVER) => c,
            Object::Channel(_) => return Err(Rc::NoCapability),
            _ => return Err(Rc::WrongType),
        };
        self.space(pid)?
            .check_range(buf.addr, buf.len as usize, true)?;
        if let Some(c) = self.channels.get_mut(channel) {
            c.server = Some(pid);
        }
        // Room on this thread's list of clients before any message moves.
        let queued = self
            .channels
            .get(channel)
            .is_some_and(|c| !c.senders.is_empty());
        if queued && !self.room_to_serve(me) {
            return Err(Rc::OutOfMemory);
        }
        // A queued client is taken now; one whose message cannot be
        // delivered gets the error and the next one is tried.
        while let Some(client) = self
            .channels
            .get_mut(channel)
            .and_then(|c| c.senders.pop_front())
        {
            let Some(t) = self.threads.get(client) else {
                continue;
            };
            // Only a call queued on this channel, not yet served (its
            // snapshot is in its `sent`).
            let Some(Wait::Call {
                request,
                badge,
                channel: on,
                served_by: None,
                ..
            }) = t.wait
            else {
                continue;
            };
            if on != channel {
                continue;
            }
            let cpid = t.process;
            let header = t.sent.header;
            let mut out = Outgoing::new(cpid, client, request, header);
            let result = self
                .read_descs_into(&mut out)
                .and_then(|_| {
                    let key = (out.header.endpoint, out.header.method);
                    self.pass_delivery(Event::Request, &out, (pid, me), Rights::CLIENT, key)
                })
                .and_then(|state| self.deliver_passed(&out, pid, buf, state));
            match result {
                Ok(len) => {
                    if let Some(Wait::Call { served_by, .. }) =
                        self.threads.get_mut(client).and_then(|t| t.wait.as_mut())
                    {
                        *served_by = Some(me);
                    }
                    self.start_serving(me, client, len, badge);
                    return Ok(());
                }
                Err(e) => {
                    if let Some(t) = self.threads.get_mut(client) {
                        t.wait = None;
                    }
                    self.wake(client, e, 0);
                }
            }
        }
        if timeout_ns == 0 {
            return Err(Rc::Timeout);
        }
        if let Some(c) = self.channels.get_mut(channel) {
            c.receivers.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
            c.receivers.push_back(me);
        }
        self.block_current(
            Wait::Recv { channel, buf },
            crate::task::deadline(timeout_ns),
        );
        Ok(())
    }

    /// `Reply` to the request `token` names.
    pub fn ipc_reply(&mut self, pid: Pid, token_value: u64, msg: UserSlice) -> Rc {
        let me = self.here.current;
        let client = from_token(token_value);
        let served = self
            .threads
            .get(me)
            .is_some_and(|t| t.serving.contains(&client));
        // The policy decides on the request's endpoint and method: the
        // client's snapshot of it (it is blocked in Call, so unchanged).
        let waiting = self.threads.get(client).and_then(|t| match t.wait {
            Some(Wait::Call {
                reply,
                served_by: Some(s),
                ..
            }) if s == me => Some((
                t.process,
                reply,
                (t.sent.header.endpoint, t.sent.header.method),
            )),
            _ => None,
        });
        if !served {
            return Rc::InvalidArgument;
        }
        let Some((cpid, reply, key)) = waiting else {
            // The client ended or timed out after we received its request.
            if let Some(t) = self.threads.get_mut(me) {
                t.serving.retain(|&c| c != client);
            }
            return Rc::PeerDied;
        };
        let header = match self.take_sent(pid, msg) {
            Ok(h) => h,
            Err(e) => return e,
        };
        let mut out = Outgoing::new(pid, me, msg, header);
        if let Err(e) = self.read_descs_into(&mut out) {
            return e;
        }
        let status = Rc::from_u32(out.header.status).unwrap_or(Rc::NotSupported);
        let event = if status == Rc::Ok {
            Event::Response
        } else {
            Event::Error
        };
        // The reply token is the server's right to answer (it received the
        // request through a SERVER end).
        let delivered = self
            .pass_delivery(event, &out, (cpid, client), Rights::empty(), key)
            .and_then(|state| self.deliver_passed(&out, cpid, reply, state));
        // A refused or undeliverable reply ends the call for both: the
        // client gets the refusal, the server learns it from Reply.
        let (rc_client, len, rc_server) = match delivered {
            Ok(len) => (status, len, Rc::Ok),
            Err(e) => (e, 0, e),
        };
        if let Some(t) = self.threads.get_mut(me) {
            t.serving.retain(|&c| c != client);
        }
        self.wake_handoff(client, rc_client, len);
        rc_server
    }

    /// Gate step 1 for the message at `msg` the current thread (of `pid`)
    /// sends: its header and fixed part, limits checked, into the thread's
    /// [`sent`](super::thread::Thread::sent) snapshot.
    pub fn take_sent(&mut self, pid: Pid, msg: UserSlice) -> Result<Header, Rc> {
        let Kernel {
            procs,
            threads,
            here,
            taken,
            ..
        } = self;
        if core::mem::take(taken)
            && let Some(t) = threads.get(here.current)
        {
            // The fast path took it in this same syscall, from the same
            // bytes (`ipc_fast`): it stands.
            return Ok(t.sent.header);
        }
        let space = procs
            .get(pid)
            .and_then(|p| p.space.as_ref())
            .ok_or(Rc::InvalidArgument)?;
        let t = threads.get_mut(here.current).ok_or(Rc::InvalidArgument)?;
        t.sent.take(space, msg.addr, msg.len)?;
        Ok(t.sent.header)
    }

    /// The address space of a live process.
    pub fn space(&self, pid: Pid) -> Result<&super::space::AddressSpace, Rc> {
        self.procs
            .get(pid)
            .and_then(|p| p.space.as_ref())
            .ok_or(Rc::PeerDied)
    }

    /// A thread in an IPC wait is leaving it (death, timeout): unlink it.
    pub(super) fn forget_ipc(&mut self, tid: Tid, wait: Wait) {
        match wait {
            Wait::Call {
                channel,
                served_by: None,
                ..
            } => {
                if let Some(c) = self.channels.get_mut(channel) {
                    c.senders.retain(|&t| t != tid);
                }
            }
            // A received call stays on its server's list, so the server's
            // Reply gets a clean rcPeerDied.
            Wait::Call {
                served_by: Some(_), ..
            } => {}
            Wait::Recv { channel, .. } => {
                if let Some(c) = self.channels.get_mut(channel) {
                    c.receivers.retain(|&t| t != tid);
                }
            }
            Wait::Notice { notice, .. } => {
                if let Some(n) = self.notices.get_mut(notice)
                    && n.waiter == Some(tid)
                {
                    n.waiter = None;
                }
            }
            _ => {}
        }
    }

    /// A server thread died: the clients it was serving learn it.
    pub(super) fn abandon_clients(&mut self, server: Tid) {
        let clients = match self.threads.get_mut(server) {
            Some(t) => core::mem::take(&mut t.serving),
            None => return,
        };
        for c in clients {
            let Some(t) = self.threads.get_mut(c) else {
                continue;
            };
            if matches!(t.wait, Some(Wait::Call { served_by: Some(s), .. }) if s == server) {
                t.wait = None;
                self.wake(c, Rc::PeerDied, 0);
            }
        }
    }
}
