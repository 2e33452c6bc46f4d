//! Whose write the console is in. A `Console.Write` that stops for an
//! interrupt (`task::resume`) keeps the console until it ends, so that what
//! another thread writes meanwhile does not land in the middle of its line:
//! that thread waits its turn, blocked, and makes its call again when the
//! write ends. It waits one to two ticks at most: a writer that does not
//! get the CPU back (starved by a busier thread, or frozen) must not
//! silence everyone else, so after that the call goes ahead.

use super::Kernel;
use super::resume::Work;
use super::thread::{Tid, Wait};

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

    /// Block the current thread until the console's writer is done, or
    /// a whole tick has passed: then it makes the same call again, which
    /// goes ahead (its saved `written: 0` says it has waited once). Not
    /// the next tick: that may be a moment away when the waiter was woken
    /// between two (by another core's tick), which left the writer no
    /// time to end its line.
    pub fn console_wait(&mut self) {
        self.save_resume(Work::Console { written: 0 });
        let after_a_whole_tick = crate::tick::ticks().saturating_add(2);
        self.block_current(Wait::Console, Some(after_a_whole_tick));
    }
}
