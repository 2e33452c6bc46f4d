//! AArch64-specific code: boot, exceptions, MMU registers, timer, CPU control.
//! Everything that needs `asm!` or system registers lives here.

pub mod boot;
pub mod cpu;

pub mod exception;
pub mod mmu;
#[cfg(feature = "kbench")]
pub mod pmu;
#[cfg(feature = "qemu-exit")]
pub mod semihosting;
pub mod timer;
pub mod user;
