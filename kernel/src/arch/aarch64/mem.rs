//! Bulk memory operations, faster than the generic `memset`/`memcpy`
//! (which, the kernel using no FP/SIMD register and no unaligned access,
//! move 8 bytes per loop turn of about four instructions): a page zeroed
//! with `DC ZVA` (one cache block, 64 bytes on the A72, per instruction)
//! and copies of 64 bytes per turn in 16-byte load and store pairs.
//! For memory in the linear map, with the MMU and caches on (`DC ZVA` on
//! Device memory faults).

use core::arch::asm;

/// Below this, the generic copy is as quick.
const BULK: usize = 128;

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

/// Copy `src` into `dst` (same length, not overlapping).
#[inline(always)]
pub fn copy(dst: &mut [u8], src: &[u8]) {
    let (d, s) = (dst.as_mut_ptr() as usize, src.as_ptr() as usize);
    if dst.len() < BULK || (d ^ s) % 16 != 0 {
        dst.copy_from_slice(src);
    } else {
        copy_bulk(dst, src);
    }
}

/// [`copy`] of at least [`BULK`] bytes, co-aligned to 16.
fn copy_bulk(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "a copy between slices of one length");
    let n = dst.len();
    let d = dst.as_mut_ptr() as usize;
    // A head up to 16-byte alignment, 64-byte turns, the tail.
    let head = (16 - d % 16) % 16;
    dst[..head].copy_from_slice(&src[..head]);
    let bulk = (n - head) / 64 * 64;
    debug_assert!(bulk > 0, "n >= BULK leaves at least one turn");
    // SAFETY: [head, head + bulk) is inside both slices (bulk <= n - head),
    // both pointers there are 16-byte aligned, and the slices do not
    // overlap (one is borrowed mutably while the other is borrowed).
    unsafe {
        asm!(
            "1:",
            "ldp {a}, {b}, [{s}]",
            "ldp {c}, {e}, [{s}, #16]",
            "stp {a}, {b}, [{d}]",
            "stp {c}, {e}, [{d}, #16]",
            "ldp {a}, {b}, [{s}, #32]",
            "ldp {c}, {e}, [{s}, #48]",
            "stp {a}, {b}, [{d}, #32]",
            "stp {c}, {e}, [{d}, #48]",
            "add {s}, {s}, #64",
            "add {d}, {d}, #64",
            "subs {left}, {left}, #64",
            "b.ne 1b",
            s = inout(reg) src.as_ptr().add(head) => _,
            d = inout(reg) dst.as_mut_ptr().add(head) => _,
            left = inout(reg) bulk => _,
            a = out(reg) _,
            b = out(reg) _,
            c = out(reg) _,
            e = out(reg) _,
            options(nostack)
        );
    }
    let done = head + bulk;
    dst[done..n].copy_from_slice(&src[done..n]);
}
