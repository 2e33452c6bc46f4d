//! The IPC fast path: the two syscalls of a round trip in their common
//! case, served without the general decode, the delivery machinery or the
//! scheduler's choice.
//!
//! - `Call` on a channel whose server waits in `Recv`, and
//! - `ReplyRecv` answering a client that waits for the reply,
//!
//! when the message is a header and a fixed part only (no handles, no
//! arena), the call has no timeout, and the sending thread remembers the
//! policy's outright grant of this message kind (`gate::Passage::remembered`:
//! the monitor's own first step). The message is taken into the sender's
//! snapshot as always and written from there; once it is delivered, the
//! waits end and begin through the slow path's own steps (`block_current`,
//! `start_serving`, `wake_handoff`); and the CPU goes straight to the other
//! side when the run queue would have given it the CPU anyway
//! (`schedule::handoff`'s rule). Otherwise a call is left to the slow path,
//! and a replied client is queued by the scheduler as the slow path's is.
//!
//! Every check of the slow path is made here too. Anything else — another
//! case, a refusal, an error of any kind — is left to the slow path
//! (`syscall`), and the fast path changes nothing before it is sure to
//! succeed (the sender's snapshot is taken again by the slow path from the
//! same bytes). So the results are the slow path's, which
//! `SysInfo.FastPath` lets a test compare by turning it off
//! (utest-gate `fast_path_gives_the_slow_paths_results`).

use core::sync::atomic::{AtomicBool, Ordering};

use kernel_core::syscall::UserSlice;
use kos_abi::msg::{HEADER_SIZE, MAX_FIXED, MAX_MESSAGE};
use kos_abi::syscall::FOREVER;
use kos_abi::{Handle, Rc, Rights};

use super::Kernel;
use super::ipc::from_token;
use super::object::Object;
use super::thread::{Pid, State, Tid, Wait};
use crate::arch::exception::TrapFrame;
use crate::gate::Passage;
use crate::security::Event;

/// Whether syscalls may take the fast path (`SysInfo.FastPath`).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// The largest message the fast path carries: a header and a whole fixed
/// part (what a snapshot holds).
const SMALL: u64 = (HEADER_SIZE + MAX_FIXED) as u64;

/// Turn the fast path on or off (for tests that compare it with the slow
/// path); returns whether it was on.
pub fn set_enabled(on: bool) -> bool {
    ENABLED.swap(on, Ordering::Relaxed)
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// How a syscall went on the fast path.
pub enum Fast {
    /// Not for the fast path: nothing changed, the slow path serves it.
    No,
    /// Served; the scheduler chooses what runs next.
    Served,
    /// Served; this frame (the other side of the message) runs next.
    Switched(*mut TrapFrame),
}

/// A reply the fast path delivered, and the receive that follows it.
struct Replied {
    client: Tid,
    /// The client's run-queue level; `None` if it may not run on this
    /// core (its affinity), so it is queued for one it may.
    level: Option<u8>,
    /// The server's process, channel handle and receive buffer.
    pid: Pid,
    handle: u32,
    buf: UserSlice,
}

/// How many calls and replies the fast path served since boot.
#[derive(Copy, Clone, Default)]
pub struct Taken {
    pub calls: u64,
    pub replies: u64,
}

impl Kernel {
    /// What the fast path served so far.
    pub fn fast_taken(&self) -> Taken {
        self.fast
    }

    /// `Call` (registers of the current thread) on the fast path: the frame
    /// to resume (the server's), or `None` to take the slow path, nothing
    /// changed.
    pub fn fast_call(&mut self) -> Option<*mut TrapFrame> {
        let me = self.here.current;
        let t = self.threads.get(me)?;
        let x = &t.frame.x;
        let handle = u32::try_from(x[0]).ok()?;
        let request = UserSlice {
            addr: x[1],
            len: x[2],
        };
        let reply = UserSlice {
            addr: x[3],
            len: x[4],
        };
        if x[5] != FOREVER || reply.len > MAX_MESSAGE as u64 || request.len > SMALL {
            return None;
        }
        // Any order will do: on the first failed check, the slow path
        // makes them all again in its own. Kernel objects leave first.
        let pid = t.process;
        let p = self.procs.get(pid)?;
        let entry = p.handles.get(Handle(handle)).ok()?;
        let Object::Channel(channel) = entry.object.object else {
            return None;
        };
        let ch = self.channels.get(channel)?;
        let &server = ch.receivers.front()?;
        if ch.servers == 0 {
            return None;
        }
        let s = self.threads.get(server)?;
        let Some(Wait::Recv { buf, .. }) = s.wait else {
            return None;
        };
        if s.state != State::Blocked
            || s.deadline.is_some()
            || request.len > buf.len
            || s.affinity & (1 << self.holder) == 0
        {
            return None;
        }
        p.space
            .as_ref()?
            .check_range(reply.addr, reply.len as usize, true)
            .ok()?;
        let (spid, level, ssubject) = (s.process, s.level(), s.subject);
        if !self.takes_cpu_now(level) {
            return None;
        }
        let header = self.take_small(pid, request)?;
        // Where the slow path makes room (`ipc_call`: before the gate).
        if !self.room_to_serve(server) {
            return None;
        }
        let t = self.threads.get(me)?;
        let passage = Passage {
            event: Event::Request,
            src: t.subject,
            dst: ssubject,
            cached: t.granted,
            held: entry.rights,
            needed: Rights::CLIENT,
            endpoint: header.0,
            method: header.1,
        };
        if !passage.remembered() {
            return None;
        }
        // The last check is the write itself (all or nothing); from here
        // on nothing fails.
        self.space(spid)
            .ok()?
            .copy_out(buf.addr, t.sent.head())
            .ok()?;
        // Delivered: the snapshot is no longer the slow path's to keep.
        self.taken = false;
        let badge = self.badge_value(entry.object.node);
        if let Some(c) = self.channels.get_mut(channel) {
            c.receivers.pop_front();
        }
        // What the slow path does from here, and the switch its scheduler
        // would make (the server takes the CPU now, checked above).
        let wait = Wait::Call {
            channel,
            request,
            reply,
            badge,
            served_by: Some(server),
        };
        self.block_current(wait, None);
        self.start_serving(server, me, request.len, badge);
        self.handoff = None;
        self.fast.calls += 1;
        Some(self.switch_to(server))
    }

    /// `ReplyRecv` (registers of the current thread) on the fast path: the
    /// reply delivered and the client woken, then the receive (on the fast
    /// path too if no client is queued, else the slow path's).
    pub fn fast_reply_recv(&mut self) -> Fast {
        let Some(replied) = self.fast_reply() else {
            return Fast::No;
        };
        let Replied {
            client,
            level,
            pid,
            handle,
            buf,
        } = replied;
        if !self.fast_recv(pid, handle, buf) {
            // The slow path's receive.
            if let Err(rc) = self.ipc_recv(pid, Handle(handle), buf, FOREVER)
                && let Some(t) = self.threads.get_mut(self.here.current)
            {
                t.set_return(rc, 0);
            }
            return Fast::Served;
        }
        // The switch the scheduler's handoff would make; else it queues
        // the client (`schedule::handoff`).
        if level.is_some_and(|l| self.takes_cpu_now(l)) {
            self.handoff = None;
            Fast::Switched(self.switch_to(client))
        } else {
            Fast::Served
        }
    }

    /// The reply of a `ReplyRecv` on the fast path, delivered (the client
    /// ready, not queued), or `None`, nothing changed.
    fn fast_reply(&mut self) -> Option<Replied> {
        let me = self.here.current;
        let t = self.threads.get(me)?;
        let x = &t.frame.x;
        let (token_value, handle) = (x[0], u32::try_from(x[3]).ok()?);
        let msg = UserSlice {
            addr: x[1],
            len: x[2],
        };
        let buf = UserSlice {
            addr: x[4],
            len: x[5],
        };
        if token_value == 0 || msg.len > SMALL {
            return None;
        }
        let client = from_token(token_value);
        if !t.serving.contains(&client) {
            return None;
        }
        let pid = t.process;
        let c = self.threads.get(client)?;
        let Some(Wait::Call {
            reply,
            served_by: Some(by),
            ..
        }) = c.wait
        else {
            return None;
        };
        if by != me || c.state != State::Blocked || c.deadline.is_some() || msg.len > reply.len {
            return None;
        }
        // The policy decides on the request's endpoint and method.
        let (endpoint, method) = (c.sent.header.endpoint, c.sent.header.method);
        let here = c.affinity & (1 << self.holder) != 0;
        let (cpid, csubject, level) = (c.process, c.subject, here.then(|| c.level()));
        let status = self.take_small(pid, msg)?.2;
        let status = Rc::from_u32(status).unwrap_or(Rc::NotSupported);
        let t = self.threads.get(me)?;
        let passage = Passage {
            event: if status == Rc::Ok {
                Event::Response
            } else {
                Event::Error
            },
            src: t.subject,
            dst: csubject,
            cached: t.granted,
            held: Rights::empty(),
            needed: Rights::empty(),
            endpoint,
            method,
        };
        if !passage.remembered() {
            return None;
        }
        self.space(cpid)
            .ok()?
            .copy_out(reply.addr, t.sent.head())
            .ok()?;
        self.taken = false;
        // Delivered: the call is over for both, as in `ipc_reply` (the
        // client handed to the scheduler).
        if let Some(t) = self.threads.get_mut(me) {
            t.serving.retain(|&c| c != client);
            t.frame.x[4] = Rc::Ok as u64;
        }
        self.wake_handoff(client, status, msg.len);
        self.fast.replies += 1;
        Some(Replied {
            client,
            level,
            pid,
            handle,
            buf,
        })
    }

    /// The receive of a `ReplyRecv` on the fast path: the current thread
    /// (of `pid`) blocks in `Recv` on `handle`'s channel if no client is
    /// queued there. False, nothing changed, if the slow path must do it.
    fn fast_recv(&mut self, pid: Pid, handle: u32, buf: UserSlice) -> bool {
        let me = self.here.current;
        let Some(p) = self.procs.get(pid) else {
            return false;
        };
        let channel = match p.handles.get(Handle(handle)) {
            Ok(e) if e.rights.contains(Rights::SERVER) => match e.object.object {
                Object::Channel(c) => c,
                _ => return false,
            },
            _ => return false,
        };
        let writable = p
            .space
            .as_ref()
            .is_some_and(|s| s.check_range(buf.addr, buf.len as usize, true).is_ok());
        if !writable {
            return false;
        }
        let Some(c) = self.channels.get_mut(channel) else {
            return false;
        };
        if !c.senders.is_empty() || c.receivers.try_reserve(1).is_err() {
            return false;
        }
        c.server = Some(pid);
        c.receivers.push_back(me);
        self.block_current(Wait::Recv { channel, buf }, None);
        true
    }

    /// The current thread's snapshot of its small message at `msg` (limits
    /// checked as always): its endpoint, method and status, if it has
    /// neither handles nor an arena.
    /// If the slow path is to send it after all, it keeps this snapshot
    /// (`Kernel::taken`, until [`Kernel::syscall_done`]).
    fn take_small(&mut self, pid: Pid, msg: UserSlice) -> Option<(u16, u16, u32)> {
        let h = self.take_sent(pid, msg).ok()?;
        self.taken = true;
        (h.handles == 0 && h.arena_len == 0).then_some((h.endpoint, h.method, h.status))
    }

    /// The syscall is over: a snapshot the fast path took is no longer
    /// its message's.
    #[inline(always)]
    pub fn syscall_done(&mut self) {
        self.taken = false;
    }

    /// Whether a thread of run-queue `level`, just made ready by the
    /// current thread's blocking, takes the CPU now: nothing queued is at
    /// its level or above (`schedule::handoff`'s rule).
    fn takes_cpu_now(&self, level: u8) -> bool {
        self.runq.highest_level().is_none_or(|l| l < level)
    }
}
