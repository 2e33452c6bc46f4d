//! The performance monitors: event counter 0 counts retired instructions
//! (INST_RETIRED, event 0x08) at EL1 and EL0. Under QEMU with
//! `-icount shift=0` the count is exact and the same run after run, which is
//! what `cargo xtask bench` relies on (QEMU implements the event only then).

use core::arch::asm;

const INST_RETIRED: u64 = 0x08;
/// PMCR_EL0.E: enable the counters; .P: reset the event counters.
const PMCR_E: u64 = 1 << 0;
const PMCR_P: u64 = 1 << 1;

/// Start counter 0 on INST_RETIRED.
pub fn init() {
    // SAFETY: PMU configuration registers; no memory is touched. EL1 may
    // access them (boot.s leaves MDCR_EL2 giving EL1 every counter).
    unsafe {
        asm!(
            "msr pmevtyper0_el0, {ev}",
            "msr pmcntenset_el0, {one}",
            "mrs {tmp}, pmcr_el0",
            "orr {tmp}, {tmp}, {flags}",
            "msr pmcr_el0, {tmp}",
            "isb",
            ev = in(reg) INST_RETIRED,
            one = in(reg) 1u64,
            flags = in(reg) PMCR_E | PMCR_P,
            tmp = out(reg) _,
            options(nostack),
        );
    }
}

/// Instructions retired since [`init`] (after an ISB, so earlier ones are
/// in), modulo 2^32: use only through [`since`].
#[inline(always)]
pub fn instructions() -> u64 {
    let n;
    // SAFETY: reads a counter register.
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) n, options(nostack)) };
    n
}

/// Instructions since the read `start`. The Cortex-A72's event counters
/// are 32 bits (PMUv3 for Armv8.0: PMCR.LP, which would make them 64, is
/// not there), so the difference is taken modulo 2^32: exact for any
/// window shorter than 2^32 instructions, which every measure is.
#[inline(always)]
pub fn since(start: u64) -> u64 {
    u64::from((instructions() as u32).wrapping_sub(start as u32))
}

/// Let EL0 read the counters (PMUSERENR_EL0.EN and .ER), for the user
/// benchmarks. Only the benchmark kernel does this: counters readable by
/// user code are a timing side channel.
pub fn allow_user() {
    // SAFETY: PMU access control; no memory is touched.
    unsafe { asm!("msr pmuserenr_el0, {}", "isb", in(reg) 0b1001u64, options(nostack)) };
}
