//! An exception from user space that is not a syscall: the process that
//! caused it is reported — with its symbolized PC and frame-pointer
//! backtrace when its symbols are known — and ended; the kernel and every
//! other process go on. A `DUMPABLE` process is frozen instead, for its
//! creator to inspect; a `CRITICAL` one stops the system.

use kernel_core::esr::Esr;
use kernel_core::symbols::SymbolTable;
use kernel_core::ufault;
use kos_abi::task::{CreateFlags, ExitInfo, ExitStatus};

use super::Kernel;
use super::process::{Lifecycle, Process};
use super::space::RegionKind;
use super::thread::{Pid, State};

/// Frames a backtrace follows at most.
const MAX_FRAMES: usize = 16;

/// Handle a fault of the current thread (`elr` = its PC).
pub fn user_fault(k: &mut Kernel, esr: Esr, far: u64, elr: u64) {
    let Some(pid) = k.current_pid() else {
        return;
    };
    // Work the thread left half-done (a long call) goes back first.
    k.drop_resume();
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
    let (tid, fp, lr) = k
        .threads
        .get(k.here.current)
        .map_or((0, 0, 0), |t| (t.tid, t.frame.x[29], t.frame.x[30]));
    crate::println!(
        "*** task {} (pid {}) thread {}: {} at address {:#x}, pc {:#x}\n    ESR {:#010x} {}",
        p.name,
        p.pid,
        tid,
        kind.describe(),
        far,
        elr,
        esr.0,
        esr
    );
    backtrace(p, elr, lr, fp);
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
    if p.flags.contains(CreateFlags::DUMPABLE) {
        crate::println!("*** task {} frozen", p.name);
        freeze(k, pid, info);
    } else {
        crate::println!("*** task {} ended", p.name);
        k.end_process(pid, ExitStatus::Exception, 0, Some(info));
    }
}

/// Stop every thread of `pid` where it is and keep its memory.
fn freeze(k: &mut Kernel, pid: Pid, info: ExitInfo) {
    let current = k.here.current;
    let count = match k.procs.get_mut(pid) {
        Some(p) => {
            p.lifecycle = Lifecycle::Frozen;
            p.exit = info;
            p.fault_thread = Some(current);
            p.threads.len()
        }
        None => return,
    };
    // By index, not a copy of the list: nothing here may fail to allocate.
    // Stopping a thread leaves the process's list as it is.
    for i in 0..count {
        if let Some(t) = k.procs.get(pid).and_then(|p| p.threads.get(i).copied()) {
            k.stop_thread(t);
        }
    }
    // Orphaned before it froze (its creator let go of it or ended): nobody
    // can inspect or end it, so it goes now, as the exception it died of.
    if k.stuck_and_unreachable(pid).is_some() {
        k.end_process(pid, ExitStatus::Exception, 0, Some(info));
    }
}

/// Print the faulting PC and the return addresses of the frame-record
/// chain (x29), symbolized when the process's symbols are known.
fn backtrace(p: &Process, pc: u64, lr: u64, mut fp: u64) {
    let syms = p.syms.as_ref().and_then(|s| {
        let (symtab, strtab) = s.tables();
        SymbolTable::new(symtab, strtab)
    });
    let show = |i: usize, addr: u64| {
        let linked = addr.wrapping_sub(p.load_offset);
        match syms.as_ref().and_then(|s| s.lookup(linked)) {
            Some((name, off)) => crate::println!("    #{i} {addr:#x} {name}+{off:#x}"),
            None => crate::println!("    #{i} {addr:#x}"),
        }
    };
    show(0, pc);
    let Some(space) = p.space.as_ref() else {
        return;
    };
    // A leaf function may not have saved LR yet: show it as the caller.
    let mut shown_lr = false;
    for i in 1..MAX_FRAMES {
        let mut record = [0u8; 16];
        if fp == 0 || !fp.is_multiple_of(16) || space.copy_in(fp, &mut record).is_err() {
            if !shown_lr && lr != 0 {
                show(i, lr);
            }
            return;
        }
        let next = u64::from_le_bytes(record[..8].try_into().unwrap_or([0; 8]));
        let ret = u64::from_le_bytes(record[8..].try_into().unwrap_or([0; 8]));
        if ret == 0 {
            return;
        }
        shown_lr |= ret == lr;
        show(i, ret);
        if next <= fp {
            return;
        }
        fp = next;
    }
}

impl Kernel {
    /// Take a thread out of scheduling for good (its process is frozen).
    pub(super) fn stop_thread(&mut self, tid: super::thread::Tid) {
        let wait = match self.threads.get_mut(tid) {
            Some(t) if t.state != State::Dead => {
                t.state = State::Stopped;
                t.wait.take()
            }
            _ => return,
        };
        self.runq_remove(tid);
        self.forget_waiter(tid, wait);
        self.abandon_clients(tid);
        self.stop_elsewhere(tid);
    }
}
