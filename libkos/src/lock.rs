//! A lock for user space that backs off to the scheduler.
//!
//! A thread that finds it taken spins briefly, then yields, then sleeps a
//! tick. A real-time thread that preempted the holder would otherwise spin
//! forever, since the holder (of lower priority) never runs again while it
//! does. The heap and the task objects use it.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// Lock attempts spent spinning, then yielding, before sleeping.
const SPINS: u32 = 64;
const YIELDS: u32 = 128;

/// `T` behind the lock; reached only through [`Lock::with`].
pub struct Lock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through `with`, which holds `locked`, so
// at most one thread has it at a time (hence `T: Send` suffices).
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> core::fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The value is not shown: reading it would need the lock.
        f.write_str("Lock { .. }")
    }
}

impl<T> Lock<T> {
    pub const fn new(value: T) -> Self {
        Lock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value with the lock held. `f` must not take the same
    /// lock again (it would wait for itself).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut tries = 0u32;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            tries = tries.saturating_add(1);
            if tries < SPINS {
                core::hint::spin_loop();
            } else if tries < YIELDS {
                crate::syscall::yield_now();
            } else {
                // Blocks for at least a tick: lower-priority holders run.
                let _ = crate::syscall::sleep_ns(1);
            }
        }
        // Released on every way out of `f`, unwinding aside (panics abort).
        struct Release<'a>(&'a AtomicBool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _release = Release(&self.locked);
        // SAFETY: the lock is held: this is the only reference until
        // `_release` drops.
        f(unsafe { &mut *self.value.get() })
    }
}
