//! What running threads needs from the CPU: EL0 controls, the per-CPU
//! kernel stack pointer the vectors switch to, user address-space switching
//! with ASIDs, cache maintenance for loaded code, and entering a thread.

#![cfg_attr(
    feature = "ktest",
    allow(dead_code, reason = "the kernel test build never starts user space")
)]

use aarch64_cpu::registers::{CNTKCTL_EL1, ReadWriteable, Readable, SCTLR_EL1, Writeable};
use core::arch::asm;
use kernel_core::addr::PhysAddr;

use super::boot::TCR_EPD0;
use super::exception::TrapFrame;

/// SCTLR_EL1 bits for EL0: SA0 (SP alignment checked at EL0), DZE (DC ZVA
/// allowed), UCT (CTR_EL0 readable: user memcpy may ask the cache line size),
/// nTWE (WFE does not trap). nTWI stays clear: a user WFI traps to the kernel,
/// which treats it as a yield, so no process can stall a CPU.
const SCTLR_EL0_BITS: u64 = (1 << 4) | (1 << 14) | (1 << 15) | (1 << 18);

/// SPSR for entering a user thread: EL0t, every interrupt unmasked.
pub const SPSR_EL0: u64 = 0;
/// SPSR for entering an idle thread: EL1t (SP_EL0 as its stack), IRQs unmasked.
pub const SPSR_EL1T: u64 = 0b0100;

/// Prepare this CPU to run threads: `kstack_top` is where the vectors put
/// the kernel stack after saving a thread's context; TTBR0 starts at the
/// empty table with ASID 0 (owned by no process).
pub fn init_cpu(kstack_top: u64, empty_table: PhysAddr) {
    // SAFETY: TPIDR_EL1 is kernel-private scratch, read only by vectors.s.
    unsafe { asm!("msr tpidr_el1, {}", in(reg) kstack_top, options(nostack)) };
    SCTLR_EL1.set(SCTLR_EL1.get() | SCTLR_EL0_BITS);
    // User code may read the virtual counter and its frequency (libkos time).
    CNTKCTL_EL1.modify(CNTKCTL_EL1::EL0VCTEN::SET);
    switch_space(empty_table, 0);
    // SAFETY: TTBR0 now holds an empty table, so enabling walks maps nothing.
    unsafe {
        asm!(
            "mrs {t}, tcr_el1",
            "bic {t}, {t}, {epd0}",
            "msr tcr_el1, {t}",
            "isb",
            t = out(reg) _,
            epd0 = in(reg) TCR_EPD0,
            options(nostack)
        )
    };
    flush_asid(0);
}

/// TTBR0's value for the user table `root` with `asid` (TCR_EL1.A1 = 0, so
/// the ASID comes from TTBR0).
pub const fn ttbr0(root: PhysAddr, asid: u16) -> u64 {
    root.0 | ((asid as u64) << 48)
}

/// The ASID of a [`ttbr0`] value.
pub const fn asid_of(ttbr0: u64) -> u16 {
    (ttbr0 >> 48) as u16
}

/// Install a user address space: `root` with `asid`. No TLB flush: entries
/// are tagged with the ASID.
pub fn switch_space(root: PhysAddr, asid: u16) {
    load_ttbr0(ttbr0(root, asid));
}

/// Install the user address space a [`ttbr0`] value names.
pub fn load_ttbr0(value: u64) {
    // SAFETY: the value names a valid table root (made by `ttbr0` from a
    // live space); kernel code never runs from the lower half, so changing
    // it cannot pull code from under us.
    unsafe { asm!("msr ttbr0_el1, {}", "isb", in(reg) value, options(nostack)) };
}

/// Forget every TLB entry tagged with `asid`, on every core, before the ASID
/// is reused or its tables are freed.
pub fn flush_asid(asid: u16) {
    let arg = (asid as u64) << 48;
    // SAFETY: TLB maintenance only; the barriers complete it.
    unsafe {
        asm!("dsb ishst", "tlbi aside1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack))
    };
}

/// Invalidate one user page's TLB entry for `asid` after unmapping it.
pub fn flush_user_page(asid: u16, va: u64) {
    let arg = ((asid as u64) << 48) | ((va >> 12) & ((1 << 44) - 1));
    // SAFETY: as above.
    unsafe {
        asm!("dsb ishst", "tlbi vae1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack))
    };
}

/// Make code written through the kernel's linear map at `[va, va+len)`
/// visible to instruction fetch: clean the data cache to the point of
/// unification, then invalidate every instruction cache.
pub fn sync_code(va: u64, len: u64) {
    // The smallest data cache line among all cores: CTR_EL0.DminLine (log2 words).
    let ctr: u64;
    // SAFETY: reads an ID register.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let line = 4u64 << ((ctr >> 16) & 0xF);
    let mut p = va & !(line - 1);
    while p < va + len {
        // SAFETY: cache maintenance by VA on mapped kernel memory.
        unsafe { asm!("dc cvau, {}", in(reg) p, options(nostack)) };
        p += line;
    }
    // SAFETY: barriers and a global I-cache invalidate; no memory effect.
    unsafe { asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack)) };
}

/// Resume the context in `frame` (a thread's): restores every register and
/// returns from the exception to it. SP_EL1 is left at the end of `frame`,
/// so the thread's next exception saves its context there again.
///
/// # Safety
/// `frame` must be a valid, fully initialised thread context that stays
/// allocated while the thread runs, with an SPSR naming EL0t or EL1t.
pub unsafe fn enter(frame: *mut TrapFrame) -> ! {
    unsafe extern "C" {
        fn __restore_frame(frame: *mut TrapFrame) -> !;
    }
    // SAFETY: the caller guarantees the frame; __restore_frame never returns.
    unsafe { __restore_frame(frame) }
}
