//! The periodic tick: the generic timer re-armed from its interrupt.

use bsp_rpi4::board;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::timer;
use crate::println;

/// Tick rate.
pub const HZ: u64 = 100;

static TICKS: AtomicU64 = AtomicU64::new(0);
static INTERVAL: AtomicU64 = AtomicU64::new(0);

/// Start ticking at [`HZ`].
pub fn init() {
    let freq = timer::frequency();
    let interval = (freq / HZ).max(1);
    INTERVAL.store(interval, Ordering::Relaxed);
    let irq = crate::memory::platform::timer_irq().unwrap_or(board::TIMER_IRQ);
    crate::arch::irq::register(irq, on_tick);
    timer::arm(interval);
    println!(
        "timer: generic timer at {} Hz, tick {} Hz on INTID {}",
        freq, HZ, irq
    );
}

fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    timer::arm(INTERVAL.load(Ordering::Relaxed));
}

/// Ticks since [`init`].
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}
