//! Locks for kernel data shared with interrupt handlers and other cores.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch::cpu;

/// A spin lock that masks interrupts on this core while held, so an interrupt
/// handler taking the same lock cannot deadlock against the code it interrupted.
///
/// A ticket lock: a core takes the next ticket and waits until it is
/// served, so cores get it in the order they asked and none waits for ever
/// behind the others. Only the holder moves `serving` on, so its release
/// is a plain store.
pub struct IrqLock<T> {
    /// The next ticket to hand out.
    next: AtomicU32,
    /// The ticket that holds the lock.
    serving: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and one guard exists
// at a time (the ticket protocol); `T: Send` lets it be used from any core.
unsafe impl<T: Send> Sync for IrqLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for IrqLock<T> {}

/// Access to the data of an [`IrqLock`]; unmasks interrupts again (if they were) on drop.
pub struct IrqLockGuard<'a, T> {
    lock: &'a IrqLock<T>,
    daif: u64,
    /// Its ticket: the release serves the next one.
    ticket: u32,
}

impl<T> IrqLock<T> {
    pub const fn new(value: T) -> Self {
        Self {
            next: AtomicU32::new(0),
            serving: AtomicU32::new(0),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub fn lock(&self) -> IrqLockGuard<'_, T> {
        let daif = cpu::irq_save();
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        if self.serving.load(Ordering::Acquire) != ticket {
            self.wait_for(ticket);
        }
        IrqLockGuard {
            lock: self,
            daif,
            ticket,
        }
    }

    /// Wait for `ticket`'s turn in `wfe`: the exclusive load arms this
    /// core's monitor on `serving`, and the holder's release, a store to
    /// it, clears the monitor, which is an event. (A core that waits sleeps
    /// instead of spinning; under an emulator it gives its host thread's
    /// time to the core that holds the lock.)
    #[inline(never)]
    #[cold]
    fn wait_for(&self, ticket: u32) {
        // SAFETY: only reads `serving` (an aligned u32 of this lock) with
        // acquire semantics; `sevl` makes the first `wfe` return at once.
        unsafe {
            core::arch::asm!(
                "sevl",
                "2: wfe",
                "ldaxr {s:w}, [{p}]",
                "cmp {s:w}, {t:w}",
                "b.ne 2b",
                s = out(reg) _,
                p = in(reg) self.serving.as_ptr(),
                t = in(reg) ticket,
                options(nostack)
            )
        };
    }

    /// Whether another core waits for the lock (its holder, in a long
    /// operation done in steps, lets it in between them).
    pub fn contended(&self) -> bool {
        let (next, serving) = (
            self.next.load(Ordering::Relaxed),
            self.serving.load(Ordering::Relaxed),
        );
        next.wrapping_sub(serving) > 1
    }
}

impl<T> Deref for IrqLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock, so nothing else reaches the value.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for IrqLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this the only reference.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for IrqLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // The next ticket is served (the release orders this holder's
        // writes before it); then interrupts, so a handler taking the lock
        // never spins on this core's own hold.
        self.lock
            .serving
            .store(self.ticket.wrapping_add(1), Ordering::Release);
        cpu::irq_restore(self.daif);
    }
}
