//! Core-local primitives: identity, interrupt masking, barriers, waiting.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{CurrentEL, DAIF, MPIDR_EL1, Readable, Writeable};

/// This core's index (MPIDR_EL1.Aff0: cores 0..3 on the Pi 4 and virt).
pub fn core_id() -> usize {
    (MPIDR_EL1.get() & 0xff) as usize
}

/// The exception level we run at (1 once boot.s is done).
pub fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// Mask IRQs and return the previous DAIF value for [`irq_restore`].
pub fn irq_save() -> u64 {
    let daif = DAIF.get();
    DAIF.write(DAIF::I::Masked + DAIF::F::Masked + DAIF::A::Masked + DAIF::D::Masked);
    daif
}

/// Restore the mask state saved by [`irq_save`].
pub fn irq_restore(daif: u64) {
    DAIF.set(daif);
}

/// Unmask IRQs on this core.
pub fn irq_enable() {
    DAIF.modify_no_read(DAIF.extract(), DAIF::I::Unmasked);
}

/// Whether IRQs are unmasked.
pub fn irqs_enabled() -> bool {
    !DAIF.is_set(DAIF::I)
}

/// Whether an IRQ is waiting for this core (ISR_EL1.I), masked or not: a
/// long kernel operation stops at its next step when one is.
#[inline(always)]
pub fn irq_pending() -> bool {
    let isr: u64;
    // SAFETY: reading ISR_EL1 has no side effect and touches no memory.
    unsafe {
        core::arch::asm!("mrs {}, isr_el1", out(reg) isr, options(nomem, nostack, preserves_flags))
    };
    isr & (1 << 7) != 0
}

/// Wait for an interrupt.
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// Wait for an event (`sev` from another core, the timer's event stream).
pub fn wait_for_event() {
    aarch64_cpu::asm::wfe();
}

/// Signal an event to every core (after the stores they are to see).
pub fn send_event() {
    // SAFETY: a barrier and an event; no memory is touched.
    unsafe { core::arch::asm!("dsb sy", "sev", options(nostack, preserves_flags)) };
}

/// Instruction synchronisation barrier.
pub fn isb() {
    barrier::isb(barrier::SY);
}
