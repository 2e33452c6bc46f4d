//! Whose write the console is in. A `Console.Write` that stops for an
//! interrupt (`task::resume`) keeps the console until it ends, so that what
//! another thread writes meanwhile does not land in the middle of its line:
//! that thread waits its turn, blocked, and makes its call again when the
//! write ends (or waits again, if another stopped write took the console
//! first). It waits [`PATIENCE`] ticks at most: a writer that does not
//! get the CPU back (starved by a busier thread, or frozen) must not
//! silence everyone else, so after that the call goes ahead.

use super::Kernel;
use super::resume::Work;
use super::thread::{Tid, Wait};

/// Ticks a thread waits at most for another's stopped console write: a
/// few, not one, because the writer may be on another core that is itself
/// stopped a while (an emulated core whose host thread was descheduled; a
/// core serving a long call of a higher thread first).
const PATIENCE: u64 = 5;

impl Kernel {
    /// True if another thread is half-way through a console write that the
    /// current one must wait for.
    pub fn console_taken(&self) -> bool {
        match self.console_writer {
            Some(w) if w != self.here.current => self
                .threads
                .get(w)
                .and_then(|t| t.resume.as_ref())
                .is_some_and(|r| matches!(r.work, Work::Console { .. })),
            _ => false,
        }
    }

    /// The current thread's write stopped half-way: the console stays its.
    pub fn console_keep(&mut self) {
        self.console_writer = Some(self.here.current);
    }

    /// The current thread's write ended: threads waiting for the console
    /// make their calls again (`retry` takes each out of the sleepers).
    pub fn console_done(&mut self) {
        if self.console_writer != Some(self.here.current) {
            return;
        }
        self.console_writer = None;
        let mut i = 0;
        while i < self.sleepers.len() {
            let tid: Tid = self.sleepers[i].1;
            if self
                .threads
                .get(tid)
                .is_some_and(|t| t.wait == Some(Wait::Console))
            {
                self.retry(tid);
            } else {
                i += 1;
            }
        }
    }

    /// Block the current thread, whose `Console.Write` found the console
    /// taken, until the writer is done or tick `until` (first wait:
    /// [`PATIENCE`] whole ticks from now; whole ticks, since the next may be
    /// a moment away when the waiter was woken between two by another
    /// core's tick). Then it makes the same call again. False: the wait is
    /// over, the call goes ahead. A waiter woken because a write ended
    /// waits again, to its first deadline, if another's stopped write took
    /// the console before it got there.
    pub fn console_wait(&mut self, until: Option<u64>) -> bool {
        let now = crate::tick::ticks();
        let until = until.unwrap_or(now.saturating_add(PATIENCE + 1));
        if now >= until {
            return false;
        }
        self.save_resume(Work::ConsoleTurn { until });
        self.block_current(Wait::Console, Some(until));
        true
    }
}
