//! libkos: the user-space runtime every program of the system links.
//!
//! - start-up (`_start`, see [`rt`]): the kernel enters the program at EL0;
//!   libkos records the environment, then calls the function named by
//!   [`main!`] and ends the process with its return value;
//! - a heap (`alloc` works) that grows with `Vm.Allocate`;
//! - [`syscall`]: the only module with `svc #0`; [`ipc::call`]: typed
//!   messages to kernel objects;
//! - [`print!`] / [`println!`] (no allocation), a panic handler that reports
//!   and exits with [`PANIC_EXIT_CODE`];
//! - [`task`] (child processes), [`thread`], [`time`], [`sys`], [`romfs`],
//!   [`vm`], and [`test`], the on-target test harness.
//!
//! Built for `aarch64-unknown-none` only.

#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod console;
mod heap;
pub mod ipc;
pub mod romfs;
pub mod rt;
pub mod sys;
pub mod syscall;
pub mod task;
pub mod test;
pub mod thread;
pub mod time;
pub mod vm;

pub use kos_abi as abi;
pub use kos_abi::{Handle, Rc};
pub use rt::env;
pub use zerocopy;

/// The exit code of a process that panicked.
pub const PANIC_EXIT_CODE: i64 = 101;

/// What the exported macros need, reachable from any crate.
#[doc(hidden)]
pub mod __private {
    pub use alloc::format;
}
