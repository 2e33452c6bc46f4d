//! Board support for the kernel: Raspberry Pi 4 (BCM2711) and QEMU `virt`.
//!
//! * [`drivers`]: MMIO drivers (PL011 UART, GICv2/GICv3, BCM2711 power
//!   management watchdog). Each has one `unsafe` constructor taking the
//!   register block's base address; everything after that is safe.
//! * [`devicetree`]: what the kernel needs from the flattened device tree.
//! * `board` (only with the `rpi4` or `virt` feature): constants for the
//!   chosen board, used before (or without) a device tree.
//!
//! Addresses handed to the constructors must be usable by the CPU at the time
//! of the call (identity-mapped physical addresses before the MMU is on, or
//! the kernel's Device-memory mapping of them afterwards).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(all(feature = "rpi4", feature = "virt"))]
compile_error!("features `rpi4` and `virt` are mutually exclusive: choose one board");

pub mod devicetree;
pub mod drivers;

#[cfg(any(feature = "rpi4", feature = "virt"))]
pub mod board;

pub use devicetree::{DtError, DtInfo, GicInfo, MemRange, PsciConduit};
