//! The kernel side of a thread's exception: syscalls, interrupts and
//! faults from user space (and interrupts of the idle thread), then the
//! choice of what runs next. Also the start of user space at boot.

use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable};
use kernel_core::esr::Esr;
use kos_abi::task::CreateFlags;

use super::Kernel;
use crate::arch::exception::{Kind, TrapFrame};
use crate::println;

/// ESR_EL1.EC of `svc` from AArch64.
const EC_SVC64: u8 = 0x15;
/// ESR_EL1.EC of a trapped WFI/WFE.
const EC_WFX: u8 = 0x01;

/// A thread took an exception; its context is saved in its own frame.
/// Returns the frame to resume (the same thread's or another's).
pub fn from_thread(kind: Kind, _frame: *mut TrapFrame) -> *mut TrapFrame {
    if kind.is_irq() {
        crate::irq::handle();
    }
    let next = super::with(|k| {
        let ticks = crate::tick::ticks();
        if kind.is_irq() {
            k.on_tick(ticks);
        } else if kind.is_sync() && kind.from_user() {
            sync_from_user(k);
        } else {
            // FIQ/SError from a thread, or a synchronous exception in an idle
            // thread: the hardware or the kernel is broken.
            crate::arch::exception::fatal_current(kind);
        }
        k.schedule()
    });
    next.unwrap_or_else(|| crate::arch::exception::fatal_current(kind))
}

fn sync_from_user(k: &mut Kernel) {
    let esr = Esr(ESR_EL1.get());
    match esr.ec() {
        EC_SVC64 => crate::syscall::handle(k),
        EC_WFX => k.yield_current(),
        _ => {
            let elr = k.threads.get(k.current).map_or(0, |t| t.frame.elr);
            super::fault::user_fault(k, esr, FAR_EL1.get(), elr);
        }
    }
}

/// Path of the first process in the ROMFS.
pub const INIT_PATH: &str = "/bin/einit";

/// Start user space: the first process from the ROMFS, then whatever the
/// scheduler picks. Never returns. Without a usable einit the CPU idles.
pub fn start() -> ! {
    let frame = super::with(|k| {
        match crate::romfs::file(INIT_PATH) {
            Ok(image) => match k.create_process(
                None,
                "einit",
                "einit",
                INIT_PATH,
                image,
                0,
                kos_abi::sched::DEFAULT_PRIORITY,
                CreateFlags::FROM_ROMFS,
            ) {
                Ok(pid) => {
                    k.init = Some(pid);
                    let _ = k.resume(pid);
                    println!("task: started einit (pid 1) from {INIT_PATH}");
                }
                Err(rc) => println!("task: cannot start {INIT_PATH}: {rc}; idling"),
            },
            Err(e) => println!("task: no {INIT_PATH} in the ROMFS ({e}); idling"),
        }
        k.schedule()
    })
    .expect("task::init ran");
    // SAFETY: the frame belongs to the thread the scheduler just made current.
    unsafe { crate::arch::user::enter(frame) }
}
