//! The ABI between user space and the kernel, shared by both sides: syscall
//! numbers, return codes, handle and rights encodings, the IPC message
//! layout, and the request/reply layouts of the kernel's own endpoints.
//!
//! Every number here is part of the ABI: it never changes once released, and
//! the compile-time checks at the bottom of each module pin it. New values are
//! added, old ones are never reused.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "alloc"))]
extern crate alloc;

// Declarations name types by their full path (`kos_abi::...`), read both
// here and in libkos.
extern crate self as kos_abi;

pub mod components;
pub mod decl;
pub mod em;
pub mod handle;
pub mod init;
pub mod interfaces;
pub mod msg;
pub mod rc;
pub mod rights;
pub mod sched;
pub mod services;
pub mod startup;
pub mod syscall;
pub mod task;
pub mod vm;
pub mod wire;

pub use handle::Handle;
pub use rc::Rc;
pub use rights::Rights;
