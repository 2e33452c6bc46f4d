//! The ExecutionManager's stop signal, for the programs it starts: a
//! Normal `StopProcess` signals it, and a program that watches it can
//! finish cleanly before the ExecutionManager's stop timeout makes it
//! terminate the program. The signal is a notice the ExecutionManager
//! handed over under the name `kos_abi::em::STOP_SIGNAL`.

use core::sync::atomic::{AtomicBool, Ordering};

use kos_abi::em::{STOP_COOKIE, STOP_SIGNAL};
use kos_abi::{Handle, Rc};

use crate::{notice, process};

/// Set once the signal has been seen (a notice's event is read only once).
static STOPPING: AtomicBool = AtomicBool::new(false);

fn signal() -> Result<Handle, Rc> {
    process::lookup_resource(STOP_SIGNAL)
}

/// Whether this process may be asked to stop (the ExecutionManager started
/// it).
pub fn watchable() -> bool {
    signal().is_ok()
}

/// Waits at most `timeout_ns` (`u64::MAX`: forever; 0: just look) for the
/// stop signal; true once it has come. A process the ExecutionManager did
/// not start: [`Rc::ResourceNotFound`].
pub fn wait(timeout_ns: u64) -> Result<bool, Rc> {
    if STOPPING.load(Ordering::Relaxed) {
        return Ok(true);
    }
    let n = signal()?;
    let mut events = [notice::Event::default(); 4];
    match notice::wait(n, timeout_ns, &mut events) {
        Ok(w) => {
            let asked = events[..w.count]
                .iter()
                .any(|e| e.event == notice::USER && e.cookie == STOP_COOKIE);
            if asked {
                STOPPING.store(true, Ordering::Relaxed);
            }
            Ok(asked)
        }
        Err(Rc::Timeout) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the stop signal has come (does not block).
pub fn requested() -> bool {
    wait(0).unwrap_or(false)
}
