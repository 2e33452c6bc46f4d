//! The registers of a thread that the kernel never uses: FP/SIMD (q0..q31,
//! FPCR, FPSR; the kernel is built soft-float) and TPIDR_EL0 (the user
//! thread pointer). They keep the running thread's values through its
//! exceptions, so no exception saves them; `task::schedule` moves them
//! between the CPU and the threads' [`TrapFrame`]s. TPIDR_EL0 moves with
//! every switch between threads (two instructions each way). FP/SIMD moves
//! lazily: a thread that
//! does not hold them runs with FP/SIMD trapped at EL0, and its first use
//! traps ([`EC_FP_TRAP`]) and takes them; a thread that never touches them
//! (most servers) costs nothing to switch.

use core::arch::asm;

use super::exception::TrapFrame;

/// ESR_EL1.EC of an FP/SIMD access trapped by CPACR_EL1.FPEN.
pub const EC_FP_TRAP: u8 = 0x07;

/// CPACR_EL1.FPEN: no trap (0b11), or trap EL0 only (0b01; the kernel never
/// uses them).
const FPEN_ON: u64 = 0b11 << 20;
const FPEN_EL0_TRAPS: u64 = 0b01 << 20;

/// Let EL0 use FP/SIMD (`on`) or trap its first use.
pub fn fp_access(on: bool) {
    let v = if on { FPEN_ON } else { FPEN_EL0_TRAPS };
    // SAFETY: only FP/SIMD trapping changes; the isb makes it take effect
    // before the return to EL0.
    unsafe { asm!("msr cpacr_el1, {}", "isb", in(reg) v, options(nostack, preserves_flags)) };
}

/// Store this CPU's TPIDR_EL0 into `f`.
pub fn save_tpidr(f: &mut TrapFrame) {
    let v: u64;
    // SAFETY: reads a register only.
    unsafe { asm!("mrs {}, tpidr_el0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    f.tpidr_el0 = v;
}

/// Load this CPU's TPIDR_EL0 from `f`.
pub fn load_tpidr(f: &TrapFrame) {
    // SAFETY: TPIDR_EL0 is the user thread pointer; the kernel does not use it.
    unsafe {
        asm!("msr tpidr_el0, {}", in(reg) f.tpidr_el0, options(nomem, nostack, preserves_flags))
    };
}

/// Store this CPU's FP/SIMD registers into `f`.
pub fn save_fp(f: &mut TrapFrame) {
    let q = f.q.as_mut_ptr();
    let (fpcr, fpsr): (u64, u64);
    // SAFETY: `q` points at 32 writable, 16-byte aligned u128s (the frame
    // is borrowed mutably); only FP/SIMD registers are read.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "stp q0, q1, [{q}, #32 * 0]",
            "stp q2, q3, [{q}, #32 * 1]",
            "stp q4, q5, [{q}, #32 * 2]",
            "stp q6, q7, [{q}, #32 * 3]",
            "stp q8, q9, [{q}, #32 * 4]",
            "stp q10, q11, [{q}, #32 * 5]",
            "stp q12, q13, [{q}, #32 * 6]",
            "stp q14, q15, [{q}, #32 * 7]",
            "stp q16, q17, [{q}, #32 * 8]",
            "stp q18, q19, [{q}, #32 * 9]",
            "stp q20, q21, [{q}, #32 * 10]",
            "stp q22, q23, [{q}, #32 * 11]",
            "stp q24, q25, [{q}, #32 * 12]",
            "stp q26, q27, [{q}, #32 * 13]",
            "stp q28, q29, [{q}, #32 * 14]",
            "stp q30, q31, [{q}, #32 * 15]",
            "mrs {fpcr}, fpcr",
            "mrs {fpsr}, fpsr",
            q = in(reg) q,
            fpcr = out(reg) fpcr,
            fpsr = out(reg) fpsr,
            options(nostack, preserves_flags)
        );
    }
    f.fpcr = fpcr;
    f.fpsr = fpsr;
}

/// Load this CPU's FP/SIMD registers from `f`.
pub fn load_fp(f: &TrapFrame) {
    let q = f.q.as_ptr();
    // SAFETY: `q` points at 32 readable, 16-byte aligned u128s; only FP/SIMD
    // registers (which the kernel does not use) are written.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "ldp q0, q1, [{q}, #32 * 0]",
            "ldp q2, q3, [{q}, #32 * 1]",
            "ldp q4, q5, [{q}, #32 * 2]",
            "ldp q6, q7, [{q}, #32 * 3]",
            "ldp q8, q9, [{q}, #32 * 4]",
            "ldp q10, q11, [{q}, #32 * 5]",
            "ldp q12, q13, [{q}, #32 * 6]",
            "ldp q14, q15, [{q}, #32 * 7]",
            "ldp q16, q17, [{q}, #32 * 8]",
            "ldp q18, q19, [{q}, #32 * 9]",
            "ldp q20, q21, [{q}, #32 * 10]",
            "ldp q22, q23, [{q}, #32 * 11]",
            "ldp q24, q25, [{q}, #32 * 12]",
            "ldp q26, q27, [{q}, #32 * 13]",
            "ldp q28, q29, [{q}, #32 * 14]",
            "ldp q30, q31, [{q}, #32 * 15]",
            "msr fpcr, {fpcr}",
            "msr fpsr, {fpsr}",
            q = in(reg) q,
            fpcr = in(reg) f.fpcr,
            fpsr = in(reg) f.fpsr,
            options(nostack, preserves_flags, readonly)
        );
    }
}
