//! Blocking and waking threads: the run queue's Ready state, waits with
//! deadlines, and the replies of waits that end later (Thread.Join,
//! Task.Wait).

use kos_abi::Rc;
use kos_abi::task::ExitInfo;

use super::thread::{Pid, State, Tid, Wait};
use super::{Kernel, qid};

impl Kernel {
    pub(super) fn make_ready(&mut self, tid: Tid) {
        if let Some(t) = self.threads.get_mut(tid) {
            if t.idle || t.state == State::Dead {
                return;
            }
            t.state = State::Ready;
            let level = t.level();
            let _ = self.runq.push_back(qid(tid), level);
        }
    }

    /// Block the current thread until woken (or `deadline_tick`).
    pub fn block_current(&mut self, wait: Wait, deadline_tick: Option<u64>) {
        let tid = self.here.current;
        if let Some(t) = self.threads.get_mut(tid) {
            t.state = State::Blocked;
            t.wait = Some(wait);
            t.deadline = deadline_tick;
        }
        if let Some(d) = deadline_tick {
            let at = self.sleepers.partition_point(|&(x, _)| x <= d);
            self.sleepers.insert(at, (d, tid));
        }
    }

    /// Wake a blocked thread that makes its call again (registers as they
    /// were: it blocked on its way back to the `svc`).
    pub(super) fn retry(&mut self, tid: Tid) {
        if self.unblock(tid, None) {
            self.make_ready(tid);
        }
    }

    /// `tid` no longer waits until `deadline` (if it had one): out of the
    /// sleepers, found among those of the same deadline.
    fn forget_deadline(&mut self, tid: Tid, deadline: Option<u64>) {
        let Some(d) = deadline else {
            return;
        };
        let from = self.sleepers.partition_point(|&(x, _)| x < d);
        if let Some(i) = self.sleepers[from..]
            .iter()
            .take_while(|&&(x, _)| x == d)
            .position(|&(_, s)| s == tid)
        {
            self.sleepers.remove(from + i);
        }
    }

    /// Wake a blocked thread with the syscall results it will see.
    pub(super) fn wake(&mut self, tid: Tid, rc: Rc, value: u64) {
        if self.unblock(tid, Some((rc, value))) {
            self.make_ready(tid);
        }
    }

    /// [`Kernel::wake`] for the other side of a message (the server a call
    /// reached, the client a reply did): ready, but handed to the
    /// scheduler directly rather than queued. [`Kernel::schedule`] at the
    /// end of this exception switches to it if the queue would have given
    /// it the CPU anyway, and queues it otherwise (`schedule::handoff`).
    /// Its wait ends whatever its state (a frozen client's call is over
    /// too).
    pub(super) fn wake_handoff(&mut self, tid: Tid, rc: Rc, value: u64) {
        if self.unblock(tid, Some((rc, value))) {
            if let Some(earlier) = self.handoff.replace(tid) {
                self.make_ready(earlier);
            }
        } else if let Some(t) = self.threads.get_mut(tid) {
            t.wait = None;
        }
    }

    /// A blocked thread stops waiting and is ready (not yet queued), with
    /// `result` as its syscall's results if given (else it makes its call
    /// again); false if it was not blocked (or is gone).
    fn unblock(&mut self, tid: Tid, result: Option<(Rc, u64)>) -> bool {
        let Some(t) = self.threads.get_mut(tid) else {
            return false;
        };
        if t.state != State::Blocked {
            return false;
        }
        t.wait = None;
        t.state = State::Ready;
        let deadline = t.deadline.take();
        if let Some((rc, value)) = result {
            t.set_return(rc, value);
        }
        self.forget_deadline(tid, deadline);
        true
    }

    /// A joiner learns the exit code of the thread it waited for.
    pub(super) fn complete_join(&mut self, joiner: Tid, code: i64) {
        let Some(t) = self.threads.get(joiner) else {
            return;
        };
        let Some(Wait::Join { reply, cap, .. }) = t.wait else {
            return;
        };
        let pid = t.process;
        let reply_fixed = kos_abi::msg::thread::JoinReply { exit_code: code };
        let (rc, len) =
            crate::task::reply::write_reply(self, pid, reply, cap, Rc::Ok, &reply_fixed, &[]);
        self.wake(joiner, rc, len);
    }

    /// A `Task.WAIT` caller learns how the task ended.
    pub(super) fn complete_task_wait(&mut self, waiter: Tid, info: &ExitInfo) {
        let Some(t) = self.threads.get(waiter) else {
            return;
        };
        let Some(Wait::TaskEnd { reply, cap, .. }) = t.wait else {
            return;
        };
        let pid = t.process;
        let (rc, len) = crate::task::reply::write_reply(self, pid, reply, cap, Rc::Ok, info, &[]);
        self.wake(waiter, rc, len);
    }

    /// Register the current thread as waiting for `target`'s end
    /// (`rcOutOfMemory`, not blocked, if the list has no room: a waiter
    /// nobody knows of would never be woken).
    pub fn wait_for_task(
        &mut self,
        target: Pid,
        reply: u64,
        cap: u64,
        deadline: Option<u64>,
    ) -> Result<(), Rc> {
        let me = self.here.current;
        let p = self.procs.get_mut(target).ok_or(Rc::InvalidArgument)?;
        p.waiters.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
        p.waiters.push(me);
        self.block_current(Wait::TaskEnd { target, reply, cap }, deadline);
        Ok(())
    }

    /// Register the current thread as joining `target` (`rcOutOfMemory`,
    /// not blocked, if the list has no room).
    pub fn join_thread(
        &mut self,
        target: Tid,
        reply: u64,
        cap: u64,
        deadline: Option<u64>,
    ) -> Result<(), Rc> {
        let me = self.here.current;
        let t = self.threads.get_mut(target).ok_or(Rc::InvalidArgument)?;
        t.joiners.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
        t.joiners.push(me);
        self.block_current(Wait::Join { target, reply, cap }, deadline);
        Ok(())
    }
}
