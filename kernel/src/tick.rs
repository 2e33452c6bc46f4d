//! The periodic tick: the generic timer re-armed from its interrupt.

use bsp_rpi4::board;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::arch::timer;
use crate::println;

/// Tick rate.
pub const HZ: u64 = 100;

static TICKS: AtomicU64 = AtomicU64::new(0);
/// The core whose tick counts ([`ticks`]): every core's timer interrupts
/// it, for its own slices, but time is counted once.
static KEEPER: AtomicUsize = AtomicUsize::new(0);
static INTERVAL: AtomicU64 = AtomicU64::new(0);
/// The longest delay from a tick's deadline to its handler, in counter
/// ticks, and the ticks taken, since [`take_lateness`] last ran.
static WORST_LATE: AtomicU64 = AtomicU64::new(0);
static PERIOD_TICKS: AtomicU64 = AtomicU64::new(0);

/// Start ticking at [`HZ`].
pub fn init() {
    let freq = timer::frequency();
    let interval = (freq / HZ).max(1);
    INTERVAL.store(interval, Ordering::Relaxed);
    KEEPER.store(crate::arch::cpu::core_id(), Ordering::Relaxed);
    let irq = crate::memory::platform::timer_irq().unwrap_or(board::TIMER_IRQ);
    crate::arch::irq::register(irq, on_tick);
    timer::arm(interval);
    println!(
        "timer: generic timer at {} Hz, tick {} Hz on INTID {}",
        freq, HZ, irq
    );
}

fn on_tick() {
    if crate::arch::cpu::core_id() == KEEPER.load(Ordering::Relaxed) {
        TICKS.fetch_add(1, Ordering::Relaxed);
        PERIOD_TICKS.fetch_add(1, Ordering::Relaxed);
        let late = timer::counter().saturating_sub(timer::deadline());
        WORST_LATE.fetch_max(late, Ordering::Relaxed);
    }
    timer::arm(INTERVAL.load(Ordering::Relaxed));
}

/// The worst lateness of the tick, in ns, and the ticks taken since the
/// last call; starts a new period.
pub fn take_lateness() -> (u64, u64) {
    let late = WORST_LATE.swap(0, Ordering::Relaxed);
    let ticks = PERIOD_TICKS.swap(0, Ordering::Relaxed);
    let ns = (u128::from(late) * 1_000_000_000 / u128::from(timer::frequency().max(1))) as u64;
    (ns, ticks)
}

/// The tick's period, in counter ticks.
pub fn interval() -> u64 {
    INTERVAL.load(Ordering::Relaxed).max(1)
}

/// Whether `core` keeps the time (its tick is counted).
pub fn keeps_time(core: usize) -> bool {
    KEEPER.load(Ordering::Relaxed) == core
}

/// Ticks since [`init`].
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}
