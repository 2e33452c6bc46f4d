//! Locks for kernel data shared with interrupt handlers.

use core::ops::{Deref, DerefMut};

use crate::arch::cpu;

/// A spin lock that masks interrupts on this core while held, so an interrupt
/// handler taking the same lock cannot deadlock against the code it interrupted.
pub struct IrqLock<T> {
    inner: spin::Mutex<T>,
}

/// Access to the data of an [`IrqLock`]; unmasks interrupts again (if they were) on drop.
pub struct IrqLockGuard<'a, T> {
    guard: core::mem::ManuallyDrop<spin::MutexGuard<'a, T>>,
    daif: u64,
}

impl<T> IrqLock<T> {
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    pub fn lock(&self) -> IrqLockGuard<'_, T> {
        let daif = cpu::irq_save();
        IrqLockGuard {
            guard: core::mem::ManuallyDrop::new(self.inner.lock()),
            daif,
        }
    }
}

impl<T> Deref for IrqLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for IrqLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for IrqLockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard is dropped exactly once, here, before interrupts
        // are unmasked (the lock must be free before a handler can spin on it).
        unsafe { core::mem::ManuallyDrop::drop(&mut self.guard) };
        cpu::irq_restore(self.daif);
    }
}
