//! The kernel heap.

use alloc::alloc::Layout;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::{TestResult, check};
use crate::memory::heap;

pub fn box_vec_string() -> TestResult {
    let (used_before, total) = heap::usage();
    check!(total >= 1 << 20, "heap is only {total} bytes");
    {
        let b = Box::new([7u64; 64]);
        check!(b.iter().all(|&x| x == 7), "box contents");
        let mut v: Vec<u32> = Vec::new();
        for i in 0..10_000 {
            v.push(i);
        }
        check!(
            v.iter().enumerate().all(|(i, &x)| x == i as u32),
            "vec contents"
        );
        let s: String = (0..100)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        check!(
            s.len() == 100 && s.starts_with("abcdefghij"),
            "string {s:?}"
        );
        let (used, _) = heap::usage();
        check!(
            used > used_before,
            "usage did not grow: {used_before} -> {used}"
        );
    }
    let (used_after, _) = heap::usage();
    check!(
        used_after == used_before,
        "leak: {used_before} bytes in use before, {used_after} after"
    );
    Ok(())
}

pub fn alignment() -> TestResult {
    for align in [8usize, 64, 4096, 65536] {
        let layout =
            Layout::from_size_align(align * 2, align).map_err(|e| alloc::format!("{e}"))?;
        // SAFETY: non-zero size; freed with the same layout below.
        let p = unsafe { alloc::alloc::alloc(layout) };
        check!(
            !p.is_null(),
            "allocation of {} bytes aligned {align} failed",
            align * 2
        );
        check!(
            (p as usize).is_multiple_of(align),
            "{p:p} not aligned to {align}"
        );
        // SAFETY: allocated above with this layout.
        unsafe { alloc::alloc::dealloc(p, layout) };
    }
    Ok(())
}

/// Asking for more than the heap holds returns null instead of crashing.
pub fn exhaustion_returns_null() -> TestResult {
    let (_, total) = heap::usage();
    let layout = Layout::from_size_align(total * 2, 8).map_err(|e| alloc::format!("{e}"))?;
    // black_box: the compiler may otherwise assume the allocation succeeds
    // and elide it, since the pointer is never used.
    // SAFETY: non-zero size; a non-null result is freed below.
    let p = core::hint::black_box(unsafe { alloc::alloc::alloc(core::hint::black_box(layout)) });
    if !p.is_null() {
        // SAFETY: allocated above with this layout.
        unsafe { alloc::alloc::dealloc(p, layout) };
    }
    check!(
        p.is_null(),
        "a {} byte allocation from a {total} byte heap succeeded",
        total * 2
    );
    let small = alloc::boxed::Box::new(1u8);
    check!(
        *small == 1,
        "the heap is unusable after a failed allocation"
    );
    Ok(())
}
