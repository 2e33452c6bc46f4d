//! The generic timer and its interrupt through the GIC.

use super::{TestResult, check};
use crate::arch::{cpu, timer};
use crate::tick;

/// Ticks arrive: the timer interrupt goes through the GIC to its handler.
pub fn tick_arrives() -> TestResult {
    check!(cpu::irqs_enabled(), "IRQs are masked");
    let unhandled = crate::arch::irq::unhandled_count();
    let start = tick::ticks();
    let deadline = timer::counter() + timer::frequency() * 5;
    while tick::ticks() < start + 3 && timer::counter() < deadline {
        cpu::wait_for_interrupt();
    }
    let got = tick::ticks() - start;
    check!(
        got >= 3,
        "{got} ticks in 5 s of counter time, expected at least 3"
    );
    let stray = crate::arch::irq::unhandled_count() - unhandled;
    check!(stray == 0, "{stray} interrupts arrived with no handler");
    Ok(())
}

pub fn counter_monotonic() -> TestResult {
    let f = timer::frequency();
    check!(f >= 1_000_000, "counter frequency {f} Hz");
    let a = timer::counter();
    let mut x = 0u64;
    for i in 0..10_000 {
        x = core::hint::black_box(x.wrapping_add(i));
    }
    let b = timer::counter();
    check!(b > a, "counter went from {a} to {b}");
    Ok(())
}
