//! AArch64-specific code: boot, exceptions, MMU registers, timer, CPU control.
//! Everything that needs `asm!`, system registers or a device's MMIO
//! lives here: also the interrupt dispatch, the interrupt-masking lock
//! and the entropy sources.

pub mod boot;
pub mod cpu;
pub mod devices;
#[cfg(not(feature = "ktest"))]
pub mod entropy;

pub mod exception;
pub mod irq;
pub mod mem;
pub mod mmu;
#[cfg(feature = "kbench")]
pub mod pmu;
#[cfg(feature = "qemu-exit")]
pub mod semihosting;
pub mod smp;
pub mod sync;
pub mod thread_regs;
pub mod timer;
pub mod user;
