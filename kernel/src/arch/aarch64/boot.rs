//! Boot: the assembly entry (`boot.s`) and the constants it is assembled with.
//!
//! `boot.s` leaves EL2 for EL1, zeroes `.bss`, turns the MMU on with two
//! small early tables (identity + upper-half linear map of the low 4 GiB in
//! 1 GiB blocks) and calls [`crate::kernel_entry`] in the upper half.
//! Everything else (the real kernel tables, W^X) is done in Rust. A
//! secondary core, started by `arch::smp`, enters at `_secondary_start`
//! and takes the same way (without the boot core's one-time set-up) to
//! `smp::secondary_entry` on its own stack.

use bsp_rpi4::board;
use core::arch::global_asm;
use kernel_core::paging::MAIR_VALUE;

use crate::memory::layout::KERNEL_VIRT_OFFSET;

/// log2 of each core's boot (and, for now, kernel) stack size.
pub const STACK_SHIFT: usize = 14;
/// Size of each core's stack: 16 KiB, as Linux/arm64 uses.
pub const BOOT_STACK_SIZE: usize = 1 << STACK_SHIFT;
/// Each core has a slot of twice the stack size, aligned to its size: an
/// unmapped guard (low half) below the stack (high half). A valid SP thus
/// has bit STACK_SHIFT set; the exception vectors test that bit to catch a
/// stack overflow before they push anything.
pub const STACK_SLOT: usize = 2 * BOOT_STACK_SIZE;
/// Stack used only to report a kernel stack overflow.
pub const OVERFLOW_STACK_SIZE: usize = 16 * 1024;

/// SCTLR_EL1 bits that are RES1 (ARM ARM D19.2.118): EOS, EIS, SPAN, TSCXT, nTWE?
/// — bits 11, 20, 22, 23, 28, 29.
const SCTLR_RES1: u64 = (1 << 29) | (1 << 28) | (1 << 23) | (1 << 22) | (1 << 20) | (1 << 11);
/// SCTLR_EL1.M: stage 1 translation on.
pub const SCTLR_M: u64 = 1 << 0;
/// SCTLR_EL1.C: data caches on.
pub const SCTLR_C: u64 = 1 << 2;
/// SCTLR_EL1.SA: stack alignment check at EL1.
pub const SCTLR_SA: u64 = 1 << 3;
/// SCTLR_EL1.I: instruction caches on.
pub const SCTLR_I: u64 = 1 << 12;
/// SCTLR_EL1.WXN: every writable page is execute-never (hardware-enforced W^X).
pub const SCTLR_WXN: u64 = 1 << 19;

const SCTLR_EL1_BOOT: u64 = SCTLR_RES1;
const SCTLR_EL1_MMU: u64 = SCTLR_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I;

/// TCR_EL1 (IPS filled in at boot from ID_AA64MMFR0_EL1.PARange): 48-bit VAs in
/// both halves, 4 KiB granules, write-back inner-shareable table walks.
pub const TCR_VALUE: u64 = 16             // T0SZ: 48-bit lower half
    | (0b01 << 8) | (0b01 << 10)          // IRGN0/ORGN0: WB WA
    | (0b11 << 12)                        // SH0: inner shareable
    | (16 << 16)                          // T1SZ: 48-bit upper half
    | (0b01 << 24) | (0b01 << 26)         // IRGN1/ORGN1: WB WA
    | (0b11 << 28)                        // SH1: inner shareable
    | (0b10 << 30); // TG1: 4 KiB
/// TCR_EL1.EPD0: no walks through TTBR0 (no user address space installed).
pub const TCR_EPD0: u64 = 1 << 7;

/// 1 GiB L1 block, Normal WB (MAIR index 1), inner shareable, accessed.
const BOOT_NORMAL_BLOCK: u64 = 0b01 | (1 << 2) | (0b11 << 8) | (1 << 10);
/// 1 GiB L1 block, Device-nGnRE (MAIR index 0), accessed, never executable.
const BOOT_DEVICE_BLOCK: u64 = 0b01 | (1 << 10) | (1 << 53) | (1 << 54);

/// Which of the low four GiBs hold the board's MMIO (bit n = GiB n).
const BOOT_DEVICE_GIB_MASK: u64 = {
    let mut mask = 0u64;
    let mut i = 0;
    while i < board::DEVICE_RANGES.len() {
        let r = board::DEVICE_RANGES[i];
        let mut gib = r.base >> 30;
        while gib < 4 && (gib << 30) < r.base + r.size {
            mask |= 1 << gib;
            gib += 1;
        }
        i += 1;
    }
    mask
};

global_asm!(
    include_str!("boot.s"),
    SCTLR_EL1_BOOT = const SCTLR_EL1_BOOT,
    SCTLR_EL1_MMU = const SCTLR_EL1_MMU,
    BOOT_MAIR = const MAIR_VALUE,
    BOOT_TCR = const TCR_VALUE,
    BOOT_NORMAL_BLOCK = const BOOT_NORMAL_BLOCK,
    BOOT_DEVICE_BLOCK = const BOOT_DEVICE_BLOCK,
    BOOT_DEVICE_GIB_MASK = const BOOT_DEVICE_GIB_MASK,
    STACK_SLOT = const STACK_SLOT,
    MAX_CPUS = const board::MAX_CPUS,
    BOOT_STACKS_TOTAL = const STACK_SLOT * board::MAX_CPUS,
    OVERFLOW_STACK_SIZE = const OVERFLOW_STACK_SIZE,
    KERNEL_VIRT_OFFSET = const KERNEL_VIRT_OFFSET,
);
