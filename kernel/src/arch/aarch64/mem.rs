//! Memory operations faster than the generic ones (which, the kernel
//! using no FP/SIMD register and no unaligned access, move 8 bytes per
//! loop turn of about four instructions, and misaligned data a byte at a
//! time): the kernel's `memcpy` and `memset` (`memops.s`: every copy and
//! fill, struct moves included; 64 bytes a turn in store pairs, a copy
//! whose ends are not co-aligned by shifted words), and a page zeroed
//! with `DC ZVA` (one cache block, 64 bytes on the A72, per instruction;
//! for memory in the linear map with the MMU and caches on, as `DC ZVA` on
//! Device memory faults).

use core::arch::{asm, global_asm};

// The kernel's `memcpy` and `memset` (every copy and fill the compiler
// emits, struct moves included): see the file for how.
global_asm!(include_str!("memops.s"));

/// Zero `page` (4 KiB, page-aligned, in the linear map).
pub fn zero_page(page: &mut [u8]) {
    debug_assert!(page.len() == 4096 && (page.as_ptr() as usize).is_multiple_of(4096));
    let dczid: u64;
    // SAFETY: reads an ID register.
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack)) };
    // DZP: DC ZVA prohibited (never on the A72; a hypervisor may).
    if dczid & (1 << 4) != 0 {
        page.fill(0);
        return;
    }
    let block = 4usize << (dczid & 0xf);
    let start = page.as_mut_ptr();
    // SAFETY: the loop zeroes whole blocks from the page's start to its
    // end, all inside `page` (a block is at most 2 KiB and divides 4 KiB);
    // the slice is borrowed mutably, so nothing else sees the bytes.
    unsafe {
        asm!(
            "1:",
            "dc zva, {p}",
            "add {p}, {p}, {block}",
            "cmp {p}, {end}",
            "b.lo 1b",
            p = inout(reg) start => _,
            block = in(reg) block,
            end = in(reg) start.add(page.len()),
            options(nostack)
        );
    }
}
