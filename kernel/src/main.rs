//! The kernel: boots on the Raspberry Pi 4 and QEMU virt, brings up memory
//! management, exceptions, the interrupt controller and the timer.
//!
//! Boot flow (see docs/architecture.md): `arch::aarch64::boot` (asm) →
//! [`kernel_entry`] → console → memory discovery and the kernel's own page
//! tables → frame allocator and heap → interrupt controller and timer →
//! the embedded ROMFS → idle
//! (or, in the `ktest` build, the on-target test suites).

#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Parts of the kernel API (fault probes, lower-half tables, frame and tick
// queries) have no user in the plain build until user space arrives; the
// `ktest` build uses all of it, so dead code is still caught there.
#![cfg_attr(
    not(feature = "ktest"),
    allow(
        dead_code,
        reason = "API exercised by the ktest build; user space will use it"
    )
)]

extern crate alloc;

#[path = "arch/aarch64/mod.rs"]
mod arch;
mod audit;
mod console;
mod gate;
#[cfg(feature = "kbench")]
mod kbench;
mod kcall;
#[cfg(feature = "ktest")]
mod ktest;
mod memory;
mod panic;
mod power;
mod romfs;
mod security;
mod syscall;
mod task;
mod tick;
mod trap;

use bsp_rpi4::board;

/// First Rust code, entered from `boot.s` on the boot core: upper half, early
/// page tables, IRQs masked. `dtb_pa` is the device tree's physical address
/// (0 if none); `entry_el` the exception level the firmware entered us at.
#[unsafe(no_mangle)]
pub extern "C" fn kernel_entry(dtb_pa: u64, entry_el: u64) -> ! {
    arch::exception::init();
    console::init();
    println!();
    println!("kernel {} starting", env!("CARGO_PKG_VERSION"));
    println!("board: {}", board::NAME);
    println!(
        "cpu: core {} of {} max, entered at EL{}, running at EL{}",
        arch::cpu::core_id(),
        board::MAX_CPUS,
        entry_el,
        arch::cpu::current_el()
    );

    let platform = memory::init(dtb_pa);
    let (mmu, caches, wxn) = arch::mmu::status();
    println!("mmu: on={mmu} caches={caches} wxn={wxn}, kernel in the upper half (TTBR1)");
    memory::heap::init();
    arch::irq::init(platform.gic);
    tick::init();
    arch::smp::start(&platform.cpus);
    arch::cpu::irq_enable();
    romfs::init();
    security::init();
    println!(
        "boot: done, {} KiB free",
        memory::frames::free_bytes() / 1024
    );

    #[cfg(feature = "ktest")]
    ktest::run();

    #[cfg(feature = "kbench")]
    kbench::run();

    #[cfg(not(feature = "ktest"))]
    start_user_space()
}

/// Each core's idle thread's stack: it only ever runs `wfi` in a loop.
#[cfg(not(feature = "ktest"))]
#[repr(C, align(16))]
struct IdleStack([u8; 1024]);
#[cfg(not(feature = "ktest"))]
static mut IDLE_STACKS: [IdleStack; board::MAX_CPUS] =
    [const { IdleStack([0; 1024]) }; board::MAX_CPUS];

/// The top of core `core`'s idle stack, and this core prepared to run
/// threads (its kernel stack for the vectors, the empty user table).
#[cfg(not(feature = "ktest"))]
fn prepare_core(core: usize) -> u64 {
    let kstack_top =
        memory::layout::phys_to_virt(kernel_core::addr::PhysAddr(memory::layout::stack(core).end))
            .0;
    arch::user::init_cpu(kstack_top, arch::mmu::empty_table());
    let stack = (&raw mut IDLE_STACKS) as u64
        + (core % board::MAX_CPUS * core::mem::size_of::<IdleStack>()) as u64;
    stack + core::mem::size_of::<IdleStack>() as u64
}

/// Threads from here on: this CPU's idle thread, then einit from the ROMFS;
/// the other cores join.
#[cfg(not(feature = "ktest"))]
fn start_user_space() -> ! {
    // Masked until the first thread is entered (its SPSR unmasks them).
    let _ = arch::cpu::irq_save();
    let idle_top = prepare_core(arch::cpu::core_id());
    task::init(arch::mmu::empty_table(), idle_top);
    arch::smp::release_to_threads();
    let frame = task::start::start();
    #[cfg(feature = "kbench")]
    kbench::report_boot();
    // SAFETY: the frame belongs to the thread the scheduler just made current.
    unsafe { arch::user::enter(frame) }
}

/// A secondary core, once the boot core has set up the kernel's objects
/// (`arch::smp`): it runs threads too. `None` if it cannot (no room for
/// its idle thread): it stays idle.
#[cfg(not(feature = "ktest"))]
pub fn secondary_threads(core: usize) -> Option<core::convert::Infallible> {
    #[cfg(feature = "kbench")]
    kbench::join_core();
    let idle_top = prepare_core(core);
    let frame = task::cpus::join_core(idle_top)?;
    // SAFETY: the frame belongs to the thread the scheduler just made current.
    unsafe { arch::user::enter(frame) }
}
