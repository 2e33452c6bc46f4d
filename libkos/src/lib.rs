//! libkos: the user-space runtime every program of the system links.
//!
//! - start-up (`_start`, see [`rt`]): the kernel enters the program at EL0;
//!   libkos records the environment, then calls the function named by
//!   [`main!`] and ends the process with its return value;
//! - a heap (`alloc` works) that grows with `Vm.Allocate`;
//! - [`syscall`]: the only module with `svc #0`; [`ipc`]: messages to
//!   kernel objects and user servers (call, recv, reply, handles in
//!   messages); [`interface!`]: typed client stubs and server dispatch from
//!   one interface declaration;
//! - [`handle`] (copy, revoke, close, identify), [`channel`], [`locator`]
//!   (static channels by name), [`badge`], [`user_object`], [`notice`],
//!   [`mdl`] (shared buffers);
//! - [`print!`] / [`println!`] (no allocation), a panic handler that reports
//!   and exits with [`PANIC_EXIT_CODE`];
//! - [`task`] (every `kl.core.Task` method; child processes), [`elf`]
//!   (building a child from an ELF image by hand), [`thread`], [`time`], [`sys`], [`romfs`],
//!   [`vm`], and [`test`], the on-target test harness.
//!
//! Built for `aarch64-unknown-none` only.

#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod audit;
pub mod badge;
pub mod channel;
pub mod console;
pub mod elf;
pub mod env;
pub mod handle;
pub mod heap;
pub mod interface;
pub mod ipc;
pub mod locator;
pub mod lock;
pub mod mdl;
pub mod notice;
pub mod process;
pub mod romfs;
pub mod rt;
pub mod security;
pub mod services;
pub mod stop;
pub mod sys;
pub mod syscall;
pub mod task;
pub mod test;
pub mod thread;
pub mod time;
pub mod user_object;
pub mod vm;

pub use kos_abi as abi;
pub use kos_abi::{Handle, Rc, Rights};
pub use zerocopy;

/// The exit code of a process that panicked.
pub const PANIC_EXIT_CODE: i64 = 101;

/// What the exported macros need, reachable from any crate.
#[doc(hidden)]
pub mod __private {
    pub use alloc::format;
}
