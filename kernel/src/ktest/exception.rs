//! Synchronous exceptions are caught, decoded and reported.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use super::{TestResult, check};
use crate::arch::exception::{Kind, Report, TrapFrame, catch_fault};

pub fn brk_caught_and_reported() -> TestResult {
    let mut resumed = false;
    let fault = catch_fault(|| {
        // SAFETY: a breakpoint, caught by catch_fault, which resumes after it.
        unsafe { core::arch::asm!("brk #0x42") };
        resumed = true;
    })
    .ok_or("brk did not trap")?;
    check!(resumed, "execution did not resume after the breakpoint");
    check!(
        fault.esr.ec() == 0x3c,
        "EC {:#x}, expected 0x3c (BRK)",
        fault.esr.ec()
    );
    check!(
        fault.esr.iss() & 0xffff == 0x42,
        "BRK comment {:#x}",
        fault.esr.iss() & 0xffff
    );

    // The report that an unexpected exception would print.
    let frame = TrapFrame::zeroed();
    let mut text = String::new();
    let report = Report {
        kind: Kind::SYNC_EL1,
        esr: fault.esr,
        far: 0xdead,
        frame: &frame,
    };
    write!(text, "{report}").map_err(|_| "report formatting failed")?;
    for needle in [
        "unexpected exception",
        "synchronous from EL1",
        "BRK instruction",
        "comment 0x42",
        "FAR  0x000000000000dead",
        "x30",
    ] {
        check!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    Ok(())
}

pub fn data_abort_caught() -> TestResult {
    let addr = 0xFFFF_8000_0000_0000u64; // upper half, never mapped
    let fault = catch_fault(|| {
        // SAFETY: a deliberate read of an unmapped address, expected to fault.
        unsafe { (addr as *const u64).read_volatile() };
    })
    .ok_or("reading an unmapped address did not fault")?;
    check!(fault.esr.ec() == 0x25, "{}", fault.esr);
    check!(
        !fault.esr.is_write(),
        "read reported as a write: {}",
        fault.esr
    );
    check!(
        fault.esr.fault_status() & 0x3c == 0x04,
        "not a translation fault: {}",
        fault.esr
    );
    check!(fault.far == addr, "FAR {:#x}", fault.far);
    let text_region = crate::memory::layout::image().text;
    let elr_pa = crate::memory::layout::image_virt_to_phys(fault.elr);
    check!(
        text_region.contains(elr_pa),
        "ELR {:#x} is not in kernel text",
        fault.elr
    );
    let text = format!("{}", fault.esr);
    check!(
        text.contains("data abort, same EL") && text.contains("translation fault"),
        "decoded as {text}"
    );
    Ok(())
}

/// For the `ktest.fault` run: an access nobody expects. Never returns.
pub fn unexpected_fault() -> ! {
    // SAFETY: deliberately faulting; the exception handler stops the system.
    unsafe { (0xFFFF_8000_DEAD_0000u64 as *const u64).read_volatile() };
    panic!("the unexpected fault did not stop the system");
}

/// For the `ktest.overflow` run: recurse until the stack runs into its
/// guard. Never returns.
pub fn overflow_stack() -> ! {
    #[allow(unconditional_recursion, reason = "running out of stack is the point")]
    fn recurse(depth: u64) -> u64 {
        // A frame that the optimiser cannot drop or turn into a loop.
        let frame = core::hint::black_box([depth; 16]);
        recurse(depth + 1).wrapping_add(core::hint::black_box(frame)[depth as usize % 16])
    }
    let r = recurse(0);
    panic!("recursion returned {r}: the stack did not overflow");
}
