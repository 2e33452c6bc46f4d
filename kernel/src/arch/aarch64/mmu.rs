//! MMU control: the switch to the kernel's own tables, TTBR0 (lower half)
//! control and TLB maintenance. Table contents are built by
//! `kernel_core::paging`; this module only touches the registers.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ReadWriteable, Readable, SCTLR_EL1, TCR_EL1, TTBR0_EL1, Writeable};
use core::arch::asm;
use kernel_core::addr::{PhysAddr, VirtAddr};

use crate::memory::layout;

/// Make `root` the upper-half (kernel) table, with break-before-make, then
/// stop lower-half walks and turn on hardware W^X (SCTLR_EL1.WXN).
///
/// # Safety
/// `root` must map the whole kernel image, its stacks and everything the
/// kernel will touch afterwards at the same virtual addresses as before, and
/// the identity map of the early tables must still be live in TTBR0.
pub unsafe fn switch_kernel_tables(root: PhysAddr) {
    unsafe extern "C" {
        fn __switch_ttbr1(ttbr1: u64, empty_table: u64);
        static __empty_table: u8;
    }
    let empty = layout::image_virt_to_phys((&raw const __empty_table) as u64);
    // Run the switch from its identity-mapped alias so the code doing it is
    // not translated through the tables being replaced.
    let func = layout::image_virt_to_phys(__switch_ttbr1 as *const () as u64);
    // SAFETY: `func` is the physical (identity-mapped) address of
    // __switch_ttbr1, which uses only x0/x1 and no stack; the caller
    // guarantees the new tables map everything that runs afterwards.
    unsafe {
        asm!("blr {f}", f = in(reg) func, in("x0") root.0, in("x1") empty,
             lateout("x30") _, options(nostack));
    }
    TCR_EL1.set(TCR_EL1.get() | super::boot::TCR_EPD0);
    SCTLR_EL1.set(SCTLR_EL1.get() | super::boot::SCTLR_WXN);
    barrier::isb(barrier::SY);
    flush_tlb_all();
}

/// Physical address of a table with no valid entry (walks through it fault).
#[cfg(not(feature = "ktest"))]
/// (walks through it fault).
pub fn empty_table() -> PhysAddr {
    unsafe extern "C" {
        static __empty_table: u8;
    }
    PhysAddr(layout::image_virt_to_phys(
        (&raw const __empty_table) as u64,
    ))
}

/// Install `root` as the lower-half table and enable walks through it
/// (`None` disables lower-half walks again).
pub fn set_user_table(root: Option<PhysAddr>) {
    match root {
        Some(root) => {
            TTBR0_EL1.set(root.0);
            TCR_EL1.modify(TCR_EL1::EPD0::EnableTTBR0Walks);
        }
        None => TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks),
    }
    barrier::isb(barrier::SY);
    flush_tlb_all();
}

/// Invalidate every EL1&0 TLB entry on all cores of the inner-shareable domain.
pub fn flush_tlb_all() {
    // SAFETY: TLB invalidation has no memory-safety effect; barriers order it.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vmalle1is",
            "dsb ish",
            "isb",
            options(nostack)
        )
    };
}

/// Invalidate the TLB entries for one page, all ASIDs, all cores.
pub fn flush_tlb_page(va: VirtAddr) {
    let arg = (va.0 >> 12) & ((1 << 44) - 1);
    // SAFETY: as above.
    unsafe {
        asm!("dsb ishst", "tlbi vaae1is, {0}", "dsb ish", "isb", in(reg) arg, options(nostack))
    };
}

/// Whether SCTLR_EL1 has the MMU, caches and WXN on (for the boot log and tests).
pub fn status() -> (bool, bool, bool) {
    let s = SCTLR_EL1.get();
    (
        s & 1 != 0,
        s & (1 << 2) != 0 && s & (1 << 12) != 0,
        s & (1 << 19) != 0,
    )
}
