//! The other cores: started at boot, each on its own stack slot with its
//! own GIC CPU interface and timer.
//!
//! The boot core starts every core the platform lists (the device tree's
//! `/cpus`, else the board's defaults) the way it says: PSCI `CPU_ON`
//! through the device tree's conduit, or the spin table (the entry's
//! physical address written where the core polls, then `sev`). A started
//! core enters `boot.s`'s `_secondary_start`, leaves EL2 as the boot core
//! did, turns its MMU on with the early tables and arrives in
//! [`secondary_entry`] on the stack of its slot (MPIDR.Aff0): it switches
//! to the kernel's tables, sets its vectors, wakes its GIC CPU interface,
//! enables its timer and the wake-up SGI, says it is online and idles.
//!
//! Until the boot core has set up the kernel's objects, a secondary idles
//! with interrupts masked and takes them by hand after each `wfi` (which a
//! pending interrupt ends whatever the mask), counting its timer ticks and
//! SGIs (the `ktest` build stays there: its tests run on the boot core).
//! Then ([`release_to_threads`]) it runs threads like the boot core
//! (`task::cpus`), through the same vectors and the same kernel lock.

#[cfg(not(feature = "ktest"))]
use core::sync::atomic::AtomicBool;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{Readable, TTBR1_EL1};
use bsp_rpi4::board;
use bsp_rpi4::devicetree::{Cpu, EnableMethod};
use kernel_core::addr::PhysAddr;

use super::{cpu, exception, irq, mmu, timer};
use crate::memory::layout;
use crate::println;

/// The SGI that wakes an idle core.
pub const WAKE_SGI: u32 = 0;

/// How long the boot core waits for the cores it started to say they are
/// online.
const START_TIMEOUT_MS: u64 = 100;

/// PSCI `CPU_ON`, SMC64 (target MPIDR, entry point, context).
const PSCI_CPU_ON: u64 = 0xc400_0003;

/// Cores that reached [`secondary_entry`], and the boot core (bit = core).
static ONLINE: AtomicU64 = AtomicU64::new(0);
/// Cores the platform lists that this kernel can run on (bit = core).
static LISTED: AtomicU64 = AtomicU64::new(0);
/// Per core: timer interrupts and wake-up SGIs an idle core took.
static TICKS: [AtomicU64; board::MAX_CPUS] = [const { AtomicU64::new(0) }; board::MAX_CPUS];
static WAKES: [AtomicU64; board::MAX_CPUS] = [const { AtomicU64::new(0) }; board::MAX_CPUS];
/// The kernel's root table, for a secondary's switch to it.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
/// The kernel's objects are set up: secondaries run threads.
#[cfg(not(feature = "ktest"))]
static THREADS: AtomicBool = AtomicBool::new(false);

/// TTBR1_EL1.BADDR: the table's address without ASID or CnP.
const BADDR: u64 = 0x0000_ffff_ffff_fffe;

/// Start every core of `cpus` but this one, waiting for each to come
/// online (at most [`START_TIMEOUT_MS`] each: one that does not is left
/// out and said so).
pub fn start(cpus: &[Cpu]) {
    unsafe extern "C" {
        fn _secondary_start();
    }
    let me = cpu::core_id();
    ONLINE.fetch_or(1 << me, Ordering::Release);
    // The wake-up SGI reaches the boot core too (another core's thread
    // readied work for it); it only makes the core enter the kernel.
    irq::register(WAKE_SGI, count_wake);
    KERNEL_ROOT.store(TTBR1_EL1.get() & BADDR, Ordering::Release);
    let entry = layout::image_virt_to_phys(_secondary_start as *const () as u64);
    for c in cpus {
        LISTED.fetch_or(1 << c.mpidr, Ordering::Relaxed);
    }
    // Start them all, then wait for them together.
    let mut started = 0u64;
    for c in cpus.iter().filter(|c| c.mpidr != me as u64) {
        let core = c.mpidr as usize;
        let rc = match c.enable {
            EnableMethod::Psci => {
                match crate::memory::platform::psci(PSCI_CPU_ON, c.mpidr, entry, 0) {
                    Some(0) => 0,
                    Some(rc) => rc,
                    // No PSCI conduit in the device tree.
                    None => -1,
                }
            }
            EnableMethod::SpinTable(at) => {
                release(at, entry);
                0
            }
            EnableMethod::Other => -1,
        };
        if rc == 0 {
            started |= 1 << core;
        } else {
            println!("smp: core {core} not started ({:?}, {rc})", c.enable);
        }
    }
    wait_online(started);
    let late = started & !ONLINE.load(Ordering::Acquire);
    for core in (0..64).filter(|c| late & (1 << c) != 0) {
        println!("smp: core {core} did not come online");
    }
    println!(
        "smp: {} of {} cores online",
        online_count(),
        LISTED.load(Ordering::Relaxed).count_ones()
    );
}

/// Write the entry point where a spin-table core polls, make it visible
/// to a core whose MMU and caches are off, and wake it.
fn release(at: u64, entry: u64) {
    let va = layout::phys_to_virt_addr(at) as *mut u64;
    // SAFETY: `at` is the core's release address in RAM (the device tree's
    // `cpu-release-addr`, or the board's spin table in the firmware's
    // reserved first page), mapped by the kernel's linear map; nothing else
    // of the kernel's lives there.
    unsafe {
        core::ptr::write_volatile(va, entry);
        core::arch::asm!(
            "dc civac, {va}",
            "dsb sy",
            "sev",
            va = in(reg) va,
            options(nostack, preserves_flags)
        );
    }
}

/// Wait until every core of `cores` is online, or [`START_TIMEOUT_MS`]
/// have passed. Between looks the core waits for an event (a started core
/// sends one when it is online; the timer's event stream, on meanwhile,
/// sends one every few microseconds, so a core that never starts cannot
/// hold it): it spends no instructions spinning.
fn wait_online(cores: u64) {
    let deadline = timer::counter() + timer::frequency() * START_TIMEOUT_MS / 1000;
    let events = timer::event_stream(true);
    while ONLINE.load(Ordering::Acquire) & cores != cores && timer::counter() < deadline {
        cpu::wait_for_event();
    }
    timer::restore_event_stream(events);
}

/// Cores online (the boot core included).
pub fn online_count() -> u32 {
    ONLINE.load(Ordering::Acquire).count_ones()
}

/// Cores the platform lists that this kernel can run on.
pub fn listed_count() -> u32 {
    LISTED.load(Ordering::Relaxed).count_ones()
}

/// Whether `core` is online.
pub fn is_online(core: usize) -> bool {
    core < 64 && ONLINE.load(Ordering::Acquire) & (1 << core) != 0
}

/// Timer interrupts idle core `core` took.
pub fn ticks(core: usize) -> u64 {
    TICKS.get(core).map_or(0, |t| t.load(Ordering::Relaxed))
}

/// Wake-up SGIs idle core `core` took.
pub fn wakes(core: usize) -> u64 {
    WAKES.get(core).map_or(0, |t| t.load(Ordering::Relaxed))
}

/// The wake-up SGI's handler: counted (the scheduler runs after every
/// interrupt anyway).
fn count_wake() {
    if let Some(w) = WAKES.get(cpu::core_id()) {
        w.fetch_add(1, Ordering::Relaxed);
    }
}

/// Wake idle core `core` (an SGI).
pub fn wake(core: usize) {
    irq::send_sgi(WAKE_SGI, core as u64);
}

#[cfg(not(feature = "ktest"))]
/// The kernel's objects are set up: every other online core starts
/// running threads (it is woken to see this).
pub fn release_to_threads() {
    THREADS.store(true, Ordering::Release);
    let me = cpu::core_id();
    let online = ONLINE.load(Ordering::Acquire);
    for core in (0..board::MAX_CPUS).filter(|&c| c != me && online & (1 << c) != 0) {
        wake(core);
    }
}

/// A secondary core's first Rust code (from `boot.s`): upper half, early
/// tables, its own stack, interrupts masked.
#[unsafe(no_mangle)]
extern "C" fn secondary_entry(core: u64, _entry_el: u64) -> ! {
    let root = PhysAddr(KERNEL_ROOT.load(Ordering::Acquire));
    // SAFETY: the boot core's tables map the kernel image, the stacks and
    // the linear map at the addresses the early tables do, and this core's
    // TTBR0 still holds the early identity map (`boot.s`).
    unsafe { mmu::switch_kernel_tables(root) };
    exception::init();
    let timer_irq = irq::init_secondary(WAKE_SGI);
    let interval = crate::tick::interval();
    timer::arm(interval);
    let core = core as usize;
    ONLINE.fetch_or(1 << core, Ordering::Release);
    // The boot core waits for this (`wait_online`).
    cpu::send_event();
    #[cfg(not(feature = "ktest"))]
    let mut joined = false;
    loop {
        #[cfg(not(feature = "ktest"))]
        if !joined && THREADS.load(Ordering::Acquire) {
            joined = true;
            // Returns only if it cannot: then it idles as before.
            let _ = crate::secondary_threads(core);
        }
        cpu::wait_for_interrupt();
        irq::take_masked(|intid| {
            if intid == timer_irq {
                if let Some(t) = TICKS.get(core) {
                    t.fetch_add(1, Ordering::Relaxed);
                }
                timer::arm(interval);
            } else if intid == WAKE_SGI
                && let Some(w) = WAKES.get(core)
            {
                w.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}
