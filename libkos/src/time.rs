//! Time from the generic timer's virtual counter (readable at EL0).

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTVCT_EL0, Readable};

/// Counter ticks per second.
pub fn counter_hz() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// The virtual counter's value.
pub fn ticks() -> u64 {
    CNTVCT_EL0.get()
}

/// Nanoseconds since the counter started (boot).
pub fn now_ns() -> u64 {
    ticks_to_ns(ticks(), counter_hz())
}

/// `ticks` of a counter running at `hz`, in nanoseconds.
pub const fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    (ticks as u128 * 1_000_000_000 / hz as u128) as u64
}

/// Busy-waits `ns` nanoseconds of wall time (the thread may be preempted
/// meanwhile).
pub fn spin_ns(ns: u64) {
    let end = now_ns().saturating_add(ns);
    while now_ns() < end {
        core::hint::spin_loop();
    }
}
