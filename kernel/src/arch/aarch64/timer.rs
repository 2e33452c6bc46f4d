//! The ARM generic timer: the EL1 virtual timer drives the periodic tick.
//! (EL1 owns it on every board: boot.s opens the timers to EL1 when we enter at EL2.)

use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTKCTL_EL1, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTV_TVAL_EL0, CNTVCT_EL0, Readable,
    Writeable,
};

/// CNTKCTL_EL1.EVNTEN, EVNTDIR and EVNTI: the event stream's fields.
const EVENT_STREAM: u64 = 0xfc;
/// An event each time counter bit 9 goes from 0 to 1: every 1024 ticks,
/// 16-19 µs at the boards' 54-62.5 MHz.
const EVENT_STREAM_ON: u64 = (1 << 2) | (9 << 4);

/// Turn the counter's event stream on or off (`wfe` then ends by itself
/// every few microseconds); returns what to give
/// [`restore_event_stream`].
pub fn event_stream(on: bool) -> u64 {
    let was = CNTKCTL_EL1.get();
    let fields = if on { EVENT_STREAM_ON } else { 0 };
    CNTKCTL_EL1.set((was & !EVENT_STREAM) | fields);
    super::cpu::isb();
    was
}

/// Put back the event stream [`event_stream`] changed.
pub fn restore_event_stream(was: u64) {
    CNTKCTL_EL1.set(was);
    super::cpu::isb();
}

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
