//! What a handle can name.

use super::thread::{Pid, Tid};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// A process (`kl.core.Task`, `Thread.CREATE`, `Vm`).
    Task(Pid),
    /// A thread (`Thread.JOIN`, `Thread.INFO`).
    Thread(Tid),
    /// The kernel's core endpoints: console, system information, handle
    /// operations, ROMFS.
    Kernel,
}
