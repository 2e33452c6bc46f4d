//! The per-CPU run queue and the time-slice policy.
//!
//! Threads are queued by [`ThreadId`], a dense slot index `0..CAP` (the
//! kernel's thread-table index, not a user-visible handle). The queue owns
//! one link record per slot, so every operation is O(1) and nothing is
//! allocated: 64 FIFO levels, each a doubly linked list threaded through
//! the link arrays, plus a bitmap of non-empty levels so picking the
//! highest level is one `leading_zeros`.
//!
//! Levels fold class and priority into one order: `Normal` priorities are
//! levels `0..=31`, `Fifo`/`RoundRobin` priorities are `32..=63`, so every
//! real-time thread outranks every time-sharing one (see [`level`]).
//!
//! A queue only knows its own links: keeping a thread in at most one CPU's
//! queue at a time is the caller's job.

use core::fmt;

use kos_abi::sched::{DEFAULT_QUANTUM_TICKS, MAX_PRIORITY, SchedClass};

/// Number of run-queue levels; valid levels are `0..LEVELS`, higher first.
pub const LEVELS: usize = 64;

/// Link value meaning "no thread".
const NIL: u32 = u32::MAX;
/// `level_of` value of a thread that is not queued.
const NOT_QUEUED: u8 = u8::MAX;

/// A thread's slot index in the kernel's thread table.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub struct ThreadId(pub u32);

/// The run-queue level of `priority` in `class`, or `None` if the
/// priority is above [`MAX_PRIORITY`].
pub const fn level(class: SchedClass, priority: u32) -> Option<u8> {
    if priority > MAX_PRIORITY {
        return None;
    }
    let base = match class {
        SchedClass::Fifo | SchedClass::RoundRobin => MAX_PRIORITY + 1,
        SchedClass::Normal => 0,
    };
    Some((base + priority) as u8)
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum QueueError {
    /// The thread is already in this queue (at any level).
    AlreadyQueued,
    /// The id is not below the queue's capacity.
    BadId,
    /// The level is not below [`LEVELS`].
    BadLevel,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueError::AlreadyQueued => "run queue: thread already queued",
            QueueError::BadId => "run queue: thread id beyond capacity",
            QueueError::BadLevel => "run queue: level out of range",
        })
    }
}

/// A run queue for thread ids `0..CAP`. FIFO within a level, highest level
/// first; every operation is O(1).
pub struct RunQueue<const CAP: usize> {
    /// Per-thread successor/predecessor within its level, or `NIL`.
    next: [u32; CAP],
    prev: [u32; CAP],
    /// Per-thread level, or `NOT_QUEUED`.
    level_of: [u8; CAP],
    head: [u32; LEVELS],
    tail: [u32; LEVELS],
    /// Bit `l` set iff level `l` is non-empty.
    nonempty: u64,
    len: usize,
}

impl<const CAP: usize> Default for RunQueue<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAP: usize> RunQueue<CAP> {
    /// An empty queue (usable in a `static`).
    pub const fn new() -> Self {
        // Ids are stored as u32 with u32::MAX reserved for NIL.
        const { assert!(CAP < NIL as usize) };
        RunQueue {
            next: [NIL; CAP],
            prev: [NIL; CAP],
            level_of: [NOT_QUEUED; CAP],
            head: [NIL; LEVELS],
            tail: [NIL; LEVELS],
            nonempty: 0,
            len: 0,
        }
    }

    /// Threads queued.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The highest non-empty level.
    pub fn highest_level(&self) -> Option<u8> {
        if self.nonempty == 0 {
            None
        } else {
            Some(63 - self.nonempty.leading_zeros() as u8)
        }
    }

    /// The level `id` is queued at, if it is queued.
    pub fn level_of(&self, id: ThreadId) -> Option<u8> {
        match self.level_of.get(id.0 as usize) {
            Some(&l) if l != NOT_QUEUED => Some(l),
            _ => None,
        }
    }

    pub fn contains(&self, id: ThreadId) -> bool {
        self.level_of(id).is_some()
    }

    /// The thread `pop_highest` would return, without removing it.
    pub fn peek_highest(&self) -> Option<(ThreadId, u8)> {
        let l = self.highest_level()?;
        Some((ThreadId(self.head[l as usize]), l))
    }

    /// Queue `id` behind every thread of `level` (a thread that became
    /// ready, or whose slice expired).
    pub fn push_back(&mut self, id: ThreadId, level: u8) -> Result<(), QueueError> {
        let (i, l) = self.check_new(id, level)?;
        let tail = self.tail[l];
        self.prev[i] = tail;
        self.next[i] = NIL;
        match self.next.get_mut(tail as usize) {
            Some(t) => *t = id.0,
            // NIL: the level was empty.
            None => self.head[l] = id.0,
        }
        self.tail[l] = id.0;
        self.linked(i, level);
        Ok(())
    }

    /// Queue `id` ahead of every thread of `level` (a preempted thread that
    /// keeps its turn, as POSIX requires for FIFO).
    pub fn push_front(&mut self, id: ThreadId, level: u8) -> Result<(), QueueError> {
        let (i, l) = self.check_new(id, level)?;
        self.next[i] = self.head[l];
        self.prev[i] = NIL;
        match self.head[l] {
            NIL => self.tail[l] = id.0,
            h => self.prev[h as usize] = id.0,
        }
        self.head[l] = id.0;
        self.linked(i, level);
        Ok(())
    }

    /// Dequeue the first thread of the highest non-empty level. (The head
    /// of a list has no predecessor: its unlinking is the short case of
    /// [`Self::unlink`], which every switch makes.)
    pub fn pop_highest(&mut self) -> Option<(ThreadId, u8)> {
        let level = self.highest_level()?;
        let l = level as usize % LEVELS;
        let id = self.head[l];
        let i = id as usize;
        let next = *self.next.get(i)?;
        self.head[l] = next;
        match next {
            NIL => {
                self.tail[l] = NIL;
                self.nonempty &= !(1 << l);
            }
            n => {
                if let Some(p) = self.prev.get_mut(n as usize) {
                    *p = NIL;
                }
            }
        }
        self.next[i] = NIL;
        self.level_of[i] = NOT_QUEUED;
        self.len -= 1;
        Some((ThreadId(id), level))
    }

    /// Dequeue the first thread, highest level first, that `may_run`
    /// accepts; those passed over keep their places. One look per thread
    /// passed over (a core's pick when the head is bound to other cores).
    pub fn pop_first(
        &mut self,
        mut may_run: impl FnMut(ThreadId) -> bool,
    ) -> Option<(ThreadId, u8)> {
        let (id, level) = self.iter().find(|&(id, _)| may_run(id))?;
        self.unlink(id.0 as usize, level);
        Some((id, level))
    }

    /// The queued threads with their levels, in the order `pop_highest`
    /// would give them.
    pub fn iter(&self) -> impl Iterator<Item = (ThreadId, u8)> + '_ {
        let mut levels = self.nonempty;
        let (mut at, mut level) = (NIL, 0u8);
        core::iter::from_fn(move || {
            while at == NIL {
                if levels == 0 {
                    return None;
                }
                level = 63 - levels.leading_zeros() as u8;
                levels &= !(1u64 << level);
                at = self.head[level as usize % LEVELS];
            }
            let id = at;
            at = self.next.get(id as usize).copied().unwrap_or(NIL);
            Some((ThreadId(id), level))
        })
    }

    /// Take `id` out of the queue wherever it is (it blocked or died while
    /// ready). Returns whether it was queued.
    pub fn remove(&mut self, id: ThreadId) -> bool {
        match self.level_of(id) {
            Some(l) => {
                self.unlink(id.0 as usize, l);
                true
            }
            None => false,
        }
    }

    /// Validate an enqueue; returns the id and level as indices.
    fn check_new(&self, id: ThreadId, level: u8) -> Result<(usize, usize), QueueError> {
        let i = id.0 as usize;
        if i >= CAP {
            return Err(QueueError::BadId);
        }
        if level as usize >= LEVELS {
            return Err(QueueError::BadLevel);
        }
        if self.level_of[i] != NOT_QUEUED {
            return Err(QueueError::AlreadyQueued);
        }
        // (The remainder tells the compiler what was just checked.)
        Ok((i, level as usize % LEVELS))
    }

    /// Bookkeeping after `i` was linked into `level`.
    fn linked(&mut self, i: usize, level: u8) {
        self.level_of[i] = level;
        self.nonempty |= 1 << level;
        self.len += 1;
    }

    /// Unlink queued thread `i` from its level `level`.
    fn unlink(&mut self, i: usize, level: u8) {
        let l = level as usize;
        let (p, n) = (self.prev[i], self.next[i]);
        match p {
            NIL => self.head[l] = n,
            p => self.next[p as usize] = n,
        }
        match n {
            NIL => self.tail[l] = p,
            n => self.prev[n as usize] = p,
        }
        if self.head[l] == NIL {
            self.nonempty &= !(1 << level);
        }
        self.next[i] = NIL;
        self.prev[i] = NIL;
        self.level_of[i] = NOT_QUEUED;
        self.len -= 1;
    }
}

impl<const CAP: usize> fmt::Debug for RunQueue<CAP> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunQueue")
            .field("len", &self.len)
            .field("nonempty", &format_args!("{:#018x}", self.nonempty))
            .finish()
    }
}

/// The running thread's time slice.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Slice {
    class: SchedClass,
    quantum: u32,
    remaining: u32,
}

impl Slice {
    /// A full slice. `quantum_ticks` is the round-robin quantum (0 means
    /// [`DEFAULT_QUANTUM_TICKS`]); `Normal` always gets the default and
    /// `Fifo` has no slice at all.
    pub const fn new(class: SchedClass, quantum_ticks: u32) -> Slice {
        let quantum = match class {
            SchedClass::RoundRobin if quantum_ticks != 0 => quantum_ticks,
            _ => DEFAULT_QUANTUM_TICKS,
        };
        Slice {
            class,
            quantum,
            remaining: quantum,
        }
    }

    pub const fn class(&self) -> SchedClass {
        self.class
    }

    /// Ticks per full slice (meaningless for `Fifo`).
    pub const fn quantum(&self) -> u32 {
        self.quantum
    }

    /// Ticks left before expiry (never decreases for `Fifo`).
    pub const fn remaining(&self) -> u32 {
        self.remaining
    }

    /// Whether the slice is used up; always false for `Fifo`.
    pub const fn expired(&self) -> bool {
        !matches!(self.class, SchedClass::Fifo) && self.remaining == 0
    }

    /// Account one timer tick to the running thread; returns whether the
    /// slice has expired (and stays expired until [`reset`](Self::reset)).
    pub fn on_tick(&mut self) -> bool {
        if !matches!(self.class, SchedClass::Fifo) {
            self.remaining = self.remaining.saturating_sub(1);
        }
        self.expired()
    }

    /// Refill the slice (the thread was requeued or picked again).
    pub fn reset(&mut self) {
        self.remaining = self.quantum;
    }
}

/// Whether the running thread at `current` must give up the CPU, given the
/// highest level waiting in the run queue.
///
/// A strictly higher level always preempts. An expired slice yields only
/// to an equal or higher level, so equals take turns and a lone thread
/// keeps running; a `Fifo` slice never expires, so FIFO never yields to
/// its equals.
pub fn should_preempt(current: u8, slice_expired: bool, highest_waiting: Option<u8>) -> bool {
    match highest_waiting {
        None => false,
        Some(w) => w > current || (slice_expired && w == current),
    }
}

#[cfg(test)]
mod tests;
