//! Notification receivers: a notice queues the events of the objects it is
//! subscribed to (see [`Kernel::notify`]); one thread at a time waits on
//! it, with a timeout.

use kernel_core::slab::Id;
use kos_abi::Rc;
use kos_abi::msg::HEADER_SIZE;
use kos_abi::msg::notice::{Event, MAX_QUEUED, WaitReply};
use zerocopy::IntoBytes;

use super::Kernel;
use super::thread::{Pid, Tid, Wait};

/// Reply bytes before the events: header and [`WaitReply`].
const REPLY_HEAD: u64 = (HEADER_SIZE + core::mem::size_of::<WaitReply>()) as u64;

impl Kernel {
    /// Take as many queued events as a reply of `cap` bytes holds; also
    /// how many stay queued.
    fn take_events(&mut self, notice: Id, cap: u64) -> (heapless::Vec<Event, MAX_QUEUED>, usize) {
        let mut out = heapless::Vec::new();
        let room = (cap.saturating_sub(REPLY_HEAD) / core::mem::size_of::<Event>() as u64) as usize;
        let mut left = 0;
        if let Some(no) = self.notices.get_mut(notice) {
            while out.len() < room.min(MAX_QUEUED) {
                let Some(e) = no.events.pop_front() else {
                    break;
                };
                // out.len() < MAX_QUEUED: the push cannot fail.
                let _ = out.push(e);
            }
            left = no.events.len();
        }
        (out, left)
    }

    /// `Notice.WAIT` by the current thread of `pid`: `Some((rc, len))` if it
    /// is answered now, `None` if it blocked.
    pub fn notice_wait(
        &mut self,
        pid: Pid,
        notice: Id,
        reply: u64,
        cap: u64,
        timeout_ns: u64,
    ) -> Option<(Rc, u64)> {
        let queued = self.notices.get(notice).map(|n| n.events.len());
        match queued {
            None => Some((Rc::InvalidArgument, 0)),
            Some(0) if timeout_ns == 0 => Some((Rc::Timeout, 0)),
            Some(0) => {
                let busy = self.notices.get(notice).is_some_and(|n| n.waiter.is_some());
                if busy {
                    return Some((Rc::Busy, 0));
                }
                if let Some(n) = self.notices.get_mut(notice) {
                    n.waiter = Some(self.here.current);
                }
                self.block_current(
                    Wait::Notice { notice, reply, cap },
                    crate::task::deadline(timeout_ns),
                );
                None
            }
            Some(_) => {
                if cap < REPLY_HEAD + core::mem::size_of::<Event>() as u64 {
                    return Some((Rc::MessageTooLarge, 0));
                }
                Some(self.reply_events(pid, notice, reply, cap))
            }
        }
    }

    /// `Notice.SIGNAL`: queue a USER event with `cookie` and wake the waiter.
    pub fn signal_notice(&mut self, notice: Id, cookie: u64) {
        let event = Event {
            cookie,
            event: kos_abi::msg::notice::USER,
            _reserved: 0,
        };
        self.queue_event(notice, event);
    }

    /// Queue `event` on `notice` (dropping the oldest when full) and answer
    /// its waiter, if any.
    pub fn queue_event(&mut self, notice: Id, event: Event) {
        let Some(n) = self.notices.get_mut(notice) else {
            return;
        };
        if n.events.len() >= MAX_QUEUED {
            n.events.pop_front();
        }
        // Room for MAX_QUEUED was reserved with the notice.
        if n.events.try_reserve(1).is_ok() {
            n.events.push_back(event);
        }
        if let Some(w) = n.waiter.take() {
            self.complete_notice_wait(w, notice);
        }
    }

    /// Events came for the notice `waiter` waits on: answer it.
    pub(super) fn complete_notice_wait(&mut self, waiter: Tid, notice: Id) {
        let Some(t) = self.threads.get(waiter) else {
            return;
        };
        let Some(Wait::Notice { reply, cap, .. }) = t.wait else {
            return;
        };
        let pid = t.process;
        let (rc, len) = self.reply_events(pid, notice, reply, cap);
        self.wake(waiter, rc, len);
    }

    /// Answer a `Notice.WAIT` of `pid` with as many queued events as its
    /// reply buffer (`reply`, `cap` bytes) holds; returns the syscall's results.
    fn reply_events(&mut self, pid: Pid, notice: Id, reply: u64, cap: u64) -> (Rc, u64) {
        let (events, left) = self.take_events(notice, cap);
        let head = WaitReply {
            count: events.len() as u32,
            left: left as u32,
        };
        crate::task::reply::write_reply(self, pid, reply, cap, Rc::Ok, &head, events.as_bytes())
    }
}
