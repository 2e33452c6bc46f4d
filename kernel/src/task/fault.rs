//! An exception from user space that is not a syscall: the process that
//! caused it is reported and ended; the kernel and every other process go on.
//! A process created `CRITICAL` stops the system instead.

use kernel_core::esr::Esr;
use kernel_core::ufault;
use kos_abi::task::{CreateFlags, ExitInfo, ExitStatus};

use super::Kernel;
use super::space::RegionKind;

/// Handle a fault of the current thread (`elr` = its PC).
pub fn user_fault(k: &mut Kernel, esr: Esr, far: u64, elr: u64) {
    let Some(pid) = k.current_pid() else {
        return;
    };
    let Some(p) = k.procs.get(pid) else {
        return;
    };
    let in_guard = p
        .space
        .as_ref()
        .and_then(|s| s.region_of(far))
        .is_some_and(|r| r.kind == RegionKind::Guard);
    let kind = ufault::classify(esr, far, in_guard);
    // FAR is only meaningful for aborts and alignment faults.
    let far = if ufault::has_address(esr) { far } else { 0 };
    let tid = k.threads.get(k.current).map_or(0, |t| t.tid);
    crate::println!(
        "*** task {} (pid {}) thread {}: {} at address {:#x}, pc {:#x}\n    ESR {:#010x} {}\n*** task {} ended",
        p.name,
        p.pid,
        tid,
        kind.describe(),
        far,
        elr,
        esr.0,
        esr,
        p.name
    );
    if p.flags.contains(CreateFlags::CRITICAL) {
        crate::println!("*** {} is critical: system stopped", p.name);
        crate::power::shutdown(crate::power::EXIT_UNEXPECTED_EXCEPTION);
    }
    let info = ExitInfo {
        status: ExitStatus::Exception as u32,
        fault: kind as u32,
        code: 0,
        esr: esr.0,
        far,
        elr,
    };
    k.end_process(pid, ExitStatus::Exception, 0, Some(info));
}
