//! Benchmarks (the `kbench` build): instructions per operation, counted by
//! the PMU. `cargo xtask bench` runs this kernel under QEMU with
//! `-icount shift=0`, where the count is exact and repeatable, and prints one
//! line per benchmark: `bench <name>: <N> instructions`.
//!
//! Each operation is an `#[inline(never)]` function called `ITERATIONS`
//! times through a function pointer; the same loop around an empty function
//! is subtracted, so the figure is the operation alone. Interrupts are
//! masked while counting, so no tick lands in a measurement.

mod ops;

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::{cpu, pmu, timer};
use crate::power::{EXIT_SUCCESS, shutdown};
use crate::println;

const ITERATIONS: u64 = 1000;

struct Bench {
    name: &'static str,
    /// Prepares state (untimed) and returns the operation to time.
    setup: fn() -> fn(),
    /// Undoes `setup` (untimed).
    teardown: fn(),
}

static BENCHES: &[Bench] = &[
    Bench {
        name: "exception_roundtrip",
        setup: ops::exception_setup,
        teardown: ops::nothing,
    },
    Bench {
        name: "frame_alloc_free",
        setup: ops::frame_setup,
        teardown: ops::nothing,
    },
    Bench {
        name: "heap_alloc_free_64b",
        setup: ops::heap_setup,
        teardown: ops::nothing,
    },
    Bench {
        name: "page_map_unmap_4k",
        setup: ops::paging_setup,
        teardown: ops::paging_teardown,
    },
    Bench {
        name: "irq_lock",
        setup: ops::lock_setup,
        teardown: ops::nothing,
    },
    Bench {
        name: "romfs_lookup",
        setup: ops::romfs_setup,
        teardown: ops::nothing,
    },
    Bench {
        name: "policy_check",
        setup: ops::policy_setup,
        teardown: ops::nothing,
    },
    Bench {
        name: "policy_check_conditional",
        setup: ops::policy_conditional_setup,
        teardown: ops::nothing,
    },
];

/// Counter ticks the kernel's benchmarks took: `boot_to_einit` leaves
/// them out.
static BENCH_TICKS: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn empty() {}

/// Instructions for `ITERATIONS` calls of `op`.
#[inline(never)]
fn count(op: fn()) -> u64 {
    let op = core::hint::black_box(op);
    let start = pmu::instructions();
    for _ in 0..ITERATIONS {
        op();
    }
    pmu::since(start)
}

/// Run the kernel's benchmarks. If the ROMFS carries user space (the
/// benchmark image has einit run the user benchmarks), return so it starts,
/// with the counter readable at EL0; otherwise stop.
pub fn run() {
    let began = timer::counter();
    pmu::init();
    println!(
        "kbench: {} benchmarks, {} iterations each",
        BENCHES.len(),
        ITERATIONS
    );
    for b in BENCHES {
        let op = (b.setup)();
        let daif = cpu::irq_save();
        let base = count(empty);
        let total = count(op);
        cpu::irq_restore(daif);
        (b.teardown)();
        let per_op = total.saturating_sub(base).div_ceil(ITERATIONS);
        println!("bench {}: {} instructions", b.name, per_op);
    }
    println!("kbench: kernel benchmarks done");
    BENCH_TICKS.store(timer::counter() - began, Ordering::Relaxed);
    if crate::romfs::file(crate::task::start::INIT_PATH).is_ok() {
        pmu::allow_user();
        return;
    }
    shutdown(EXIT_SUCCESS)
}

/// A secondary core about to run threads: its own counter counts too,
/// readable at EL0 (the cross-core user benchmarks read each core's).
#[cfg(not(feature = "ktest"))]
pub fn join_core() {
    pmu::init();
    pmu::allow_user();
}

/// `boot_to_einit`, reported just before einit's first instruction runs:
/// the virtual time since reset, the kernel's benchmarks left out. Under
/// `-icount shift=0` one instruction is one nanosecond of virtual time,
/// and the generic counter counts that time from reset (firmware stub,
/// boot, MMU, heap, ROMFS, policy, einit's process built and loaded), to
/// within one counter tick (16 ns on virt, 18.5 on the Pi 4).
pub fn report_boot() {
    let ticks = timer::counter() - BENCH_TICKS.load(Ordering::Relaxed);
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(timer::frequency().max(1));
    println!("bench boot_to_einit: {ns} instructions");
}
