//! The trap layer: the kernel side of a thread's exception (syscalls,
//! interrupts and faults from user space, interrupts of the idle thread),
//! then the choice of what runs next. Above the dispatch layer
//! (`syscall`, `kcall`) and the object layer (`task`); nothing below
//! imports it (the vectors call [`from_thread`]).

#![forbid(unsafe_code)]

use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable};
use kernel_core::esr::Esr;

use crate::arch::exception::{Kind, TrapFrame};
use crate::arch::thread_regs;
use crate::task::Kernel;

/// ESR_EL1.EC of `svc` from AArch64.
const EC_SVC64: u8 = 0x15;
/// ESR_EL1.EC of a trapped WFI/WFE.
const EC_WFX: u8 = 0x01;

/// A thread took an exception; its context is saved in its own frame.
/// Returns the frame to resume (the same thread's or another's).
pub fn from_thread(kind: Kind, _frame: *mut TrapFrame) -> *mut TrapFrame {
    if kind.is_irq() {
        crate::arch::irq::handle();
    }
    let next = crate::task::with(|k| {
        let chosen = if kind.is_irq() {
            k.on_tick(crate::tick::ticks());
            None
        } else if k.current_stopped() {
            // Another core ended or stopped it while it made this call:
            // nothing of it is done (the scheduler switches away).
            None
        } else if kind.is_sync() && kind.is_from_user() {
            sync_from_user(k)
        } else {
            // FIQ/SError from a thread, or a synchronous exception in an idle
            // thread: the hardware or the kernel is broken.
            crate::arch::exception::fatal_current(kind);
        };
        // The IPC fast path switched already; otherwise the scheduler.
        let next = chosen.unwrap_or_else(|| k.schedule());
        // Other cores that could run what is queued look again.
        k.kick();
        k.idle_tick_slow();
        // After the choice: all of it if the CPU is to idle.
        k.reclaim();
        next
    });
    next.unwrap_or_else(|| crate::arch::exception::fatal_current(kind))
}

/// A syscall that needs nothing of the kernel's state, answered on the
/// way in (no lock, no thread lookup, no scheduling: its thread goes on,
/// and an interrupt that waits is taken right after the `eret`). True if
/// `frame`'s exception was one.
#[inline(always)]
pub fn quick_syscall(frame: &mut TrapFrame) -> bool {
    let quick = Esr(ESR_EL1.get()).ec() == EC_SVC64 && frame.x[8] == kos_abi::syscall::NOP;
    if quick {
        frame.x[0] = kos_abi::Rc::Ok as u64;
        frame.x[1] = 0;
    }
    quick
}

/// A synchronous exception of a user thread. `Some`: the frame to resume,
/// if the syscall chose it (`syscall::handle`).
fn sync_from_user(k: &mut Kernel) -> Option<*mut TrapFrame> {
    let esr = Esr(ESR_EL1.get());
    match esr.ec() {
        EC_SVC64 => return crate::syscall::handle(k),
        EC_WFX => k.yield_current(None),
        thread_regs::EC_FP_TRAP => k.take_fp(),
        _ => {
            let elr = k.thread(k.current()).map_or(0, |t| t.frame.elr);
            crate::task::fault::user_fault(k, esr, FAR_EL1.get(), elr);
        }
    }
    None
}
