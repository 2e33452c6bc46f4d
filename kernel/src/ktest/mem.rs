//! The kernel's `memcpy` and `memset` (`arch/aarch64/memops.s`): every
//! length up to a few turns of each loop, at every alignment, against the
//! bytes expected; nothing outside the destination is touched.

use super::{TestResult, check};

/// Lengths 0..=LONGEST at source and destination offsets 0..16.
const LONGEST: usize = 200;

pub fn memcpy_every_length_and_alignment() -> TestResult {
    let mut src = [0u8; LONGEST + 32];
    for (i, b) in src.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let mut dst = [0u8; LONGEST + 48];
    for from in 0..16 {
        for to in 0..16 {
            for n in 0..=LONGEST {
                dst.fill(0xEE);
                let s = &src[from..from + n];
                // SAFETY: `to` is inside the array.
                let at = unsafe { dst.as_mut_ptr().add(to) };
                // SAFETY: both ranges are inside their arrays and the
                // arrays are distinct; this calls the kernel's memcpy
                // itself (a `copy_from_slice` could be inlined).
                let ret = unsafe { memcpy(at, s.as_ptr(), n) };
                check!(
                    ret == at,
                    "memcpy returned {ret:p}, not its destination {at:p}"
                );
                let (before, rest) = dst.split_at(to);
                let (copied, after) = rest.split_at(n);
                check!(
                    copied == s,
                    "memcpy of {n} bytes from offset {from} to offset {to}: wrong bytes"
                );
                check!(
                    before.iter().chain(after).all(|&b| b == 0xEE),
                    "memcpy of {n} bytes from offset {from} to offset {to} wrote outside"
                );
            }
        }
    }
    Ok(())
}

unsafe extern "C" {
    fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
    fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8;
}

/// `memset` at every length up to [`LONGEST`] and offset 0..16, with a
/// byte whose bits all matter; nothing outside the range is touched.
pub fn memset_every_length_and_alignment() -> TestResult {
    let mut dst = [0u8; LONGEST + 48];
    for to in 0..16 {
        for n in 0..=LONGEST {
            dst.fill(0xEE);
            // SAFETY: `to` is inside the array.
            let at = unsafe { dst.as_mut_ptr().add(to) };
            // SAFETY: the range is inside the array; this calls the
            // kernel's memset itself.
            let ret = unsafe { memset(at, 0x1A5, n) };
            check!(
                ret == at,
                "memset returned {ret:p}, not its destination {at:p}"
            );
            let (before, rest) = dst.split_at(to);
            let (set, after) = rest.split_at(n);
            check!(
                set.iter().all(|&b| b == 0xA5),
                "memset of {n} bytes at offset {to}: wrong bytes"
            );
            check!(
                before.iter().chain(after).all(|&b| b == 0xEE),
                "memset of {n} bytes at offset {to} wrote outside"
            );
        }
    }
    Ok(())
}
