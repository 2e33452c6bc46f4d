//! Whose write the console is in. A `Console.Write` that stops for an
//! interrupt (`task::resume`) keeps the console until it ends, so that what
//! another thread writes meanwhile does not land in the middle of its line:
//! that thread waits its turn, blocked. When the write ends, the console
//! passes to the thread that has waited longest, which makes its call
//! again; the others wait on, and so does a writer that comes straight
//! back (first come, first served: a busy writer cannot crowd the waiters
//! out). Both waits are bounded by [`PATIENCE`] ticks: a thread that does
//! not come back to its write or its turn by then (starved by a busier
//! thread, frozen, or making other calls) loses it, and a waiter goes
//! ahead after that long whatever happens, so no writer can silence the
//! others.

use super::Kernel;
use super::resume::Work;
use super::thread::{State, Wait};

/// Ticks a stopped write keeps the console, and a waiter waits at most:
/// not one, because the writer may be on another core that is itself
/// stopped a while (an emulated core whose host thread was descheduled; a
/// core serving a long call of a higher thread first), and waiters queue
/// behind each other. With 5, the demo's first lines, written by several
/// processes at once while four raspi4b cores load programs, were cut in
/// about one boot in four: waiters ran out their wait.
const PATIENCE: u64 = 20;

impl Kernel {
    /// True if another thread is half-way through a console write that the
    /// current one must wait for, or was given its turn: less than
    /// [`PATIENCE`] ticks ago, and it may run to go on with it.
    pub fn console_taken(&self) -> bool {
        let Some((w, since)) = self.console_writer else {
            return false;
        };
        w != self.here.current
            && crate::tick::ticks() < since.saturating_add(PATIENCE)
            && self.threads.get(w).is_some_and(|t| {
                matches!(t.state, State::Ready | State::Running)
                    && t.resume.as_ref().is_some_and(|r| {
                        matches!(r.work, Work::Console { .. } | Work::ConsoleTurn { .. })
                    })
            })
    }

    /// The current thread's write stopped half-way: the console stays its.
    pub fn console_keep(&mut self) {
        self.console_writer = Some((self.here.current, crate::tick::ticks()));
    }

    /// The current thread's write ended: unless another thread holds the
    /// console (the current one went ahead of it after waiting its
    /// fill), the console is the next waiter's (the soonest deadline among
    /// the sleepers is the longest wait), which makes its call again.
    pub fn console_done(&mut self) {
        // None: nobody waits (a thread waits only while the console is
        // someone's), the common end of a write that never stopped.
        if self.console_writer.is_none() || self.console_taken() {
            return;
        }
        self.console_writer = None;
        let next = self.sleepers.iter().map(|&(_, tid)| tid).find(|&tid| {
            self.threads
                .get(tid)
                .is_some_and(|t| t.wait == Some(Wait::Console))
        });
        if let Some(tid) = next {
            self.console_writer = Some((tid, crate::tick::ticks()));
            self.retry(tid);
        }
    }

    /// Block the current thread, whose `Console.Write` found the console
    /// taken, until it is given the console or tick `until` (first wait:
    /// [`PATIENCE`] whole ticks from now; whole ticks, since the next may be
    /// a moment away when the waiter was woken between two by another
    /// core's tick). Then it makes the same call again. False: the wait is
    /// over, the call goes ahead. A waiter that finds the console taken
    /// again waits on, to its first deadline.
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
