//! The ARM generic timer: the EL1 virtual timer drives the periodic tick.
//! (EL1 owns it on every board: boot.s opens the timers to EL1 when we enter at EL2.)

use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTV_TVAL_EL0, CNTVCT_EL0, Readable, Writeable,
};

/// Counter frequency in Hz.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter.
pub fn counter() -> u64 {
    CNTVCT_EL0.get()
}

/// The counter value the timer fires at (or fired at).
pub fn deadline() -> u64 {
    CNTV_CVAL_EL0.get()
}

/// Arm the timer to fire after `ticks` counter ticks, interrupt unmasked.
pub fn arm(ticks: u64) {
    CNTV_TVAL_EL0.set(ticks);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}
