//! Syscall decoding: `svc #0` with the number in x8 and arguments in x0..x5
//! (see `kos_abi::syscall`). The trap entry (vectors.s) saved the thread's
//! registers into its frame; this reads the arguments from there, acts, and
//! writes the results back into x0/x1 of the same frame.

use kos_abi::syscall as nr;
use kos_abi::{Handle, Rc};

use crate::task::Kernel;
use crate::task::thread::Wait;

pub fn handle(k: &mut Kernel) {
    let cur = k.current;
    let Some(t) = k.threads.get(cur) else {
        return;
    };
    let x = t.frame.x;
    let (number, a) = (x[8], [x[0], x[1], x[2], x[3], x[4], x[5]]);
    match number {
        nr::NOP => set(k, Rc::Ok, 0),
        nr::CALL => {
            let handle = Handle(a[0] as u32);
            match crate::kcall::call(k, handle, a[1], a[2], a[3], a[4]) {
                crate::kcall::Outcome::Done(rc, len) => set(k, rc, len),
                // Blocked (the reply comes when it is woken) or gone.
                crate::kcall::Outcome::Pending => {}
            }
        }
        nr::YIELD => {
            set(k, Rc::Ok, 0);
            k.yield_current();
        }
        nr::SLEEP => {
            set(k, Rc::Ok, 0);
            if a[0] == 0 {
                k.yield_current();
            } else {
                k.block_current(Wait::Sleep, Some(crate::task::deadline_after(a[0])));
            }
        }
        nr::THREAD_EXIT => k.thread_exit(cur, a[0] as i64),
        _ => set(k, Rc::InvalidSyscall, 0),
    }
}

fn set(k: &mut Kernel, rc: Rc, value: u64) {
    if let Some(t) = k.threads.get_mut(k.current) {
        t.set_return(rc, value);
    }
}
