//! Frames through the linear map: the one place where the object layer's
//! copies to and from user pages and kernel-owned frames (MDL buffers, a
//! new page being filled) become pointer operations.
//!
//! Addresses are kernel virtual addresses in the linear map (`kva`) or
//! physical addresses of frames. Callers hand in only frames that a user
//! address space maps or that a kernel object owns (found by walking a
//! user page table, a soft-TLB entry made from such a walk, or an MDL's
//! frame list) and ranges inside one page: never the kernel image, its
//! heap or its stacks, which no user table maps.

use kernel_core::addr::{PAGE_SIZE, PhysAddr};

use super::layout::phys_to_virt;

/// Whether `[kva, kva+len)` stays inside one page.
fn in_one_page(kva: u64, len: usize) -> bool {
    (kva % PAGE_SIZE) as usize + len <= PAGE_SIZE as usize
}

/// Copy `out.len()` bytes at `kva` (inside one frame) into `out`.
pub fn read(kva: u64, out: &mut [u8]) {
    debug_assert!(in_one_page(kva, out.len()));
    // SAFETY: `kva` is a linear-map address of a user-mapped or
    // object-owned frame (module contract), the range stays in its page, and
    // `out` is kernel memory, so the two cannot overlap.
    unsafe { core::ptr::copy_nonoverlapping(kva as *const u8, out.as_mut_ptr(), out.len()) }
}

/// Copy `bytes` to `kva` (inside one frame).
pub fn write(kva: u64, bytes: &[u8]) {
    debug_assert!(in_one_page(kva, bytes.len()));
    // SAFETY: as in `read`, writing into such a frame.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), kva as *mut u8, bytes.len()) }
}

/// Copy `n` bytes from `src` to `dst` (each inside one frame; they may
/// overlap, as a copy within one address space may).
pub fn copy(src: u64, dst: u64, n: usize) {
    debug_assert!(in_one_page(src, n) && in_one_page(dst, n));
    let apart = src + n as u64 <= dst || dst + n as u64 <= src;
    if apart {
        // SAFETY: both are linear-map addresses of such frames (module
        // contract) with the range inside their pages, not overlapping
        // (the kernel's memcpy: 64 bytes a turn when co-aligned).
        unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, n) };
    } else {
        // SAFETY: as above; `copy` allows overlap.
        unsafe { core::ptr::copy(src as *const u8, dst as *mut u8, n) };
    }
}

/// Run `f` on the whole page of frame `pa`, which the caller has just
/// allocated and is the only one to know.
pub fn with_new_page<R>(pa: PhysAddr, f: impl FnOnce(&mut [u8]) -> R) -> R {
    // SAFETY: a frame fresh from the allocator is RAM that nothing else
    // refers to; the slice lives only for `f`.
    let page = unsafe {
        core::slice::from_raw_parts_mut(phys_to_virt(pa).0 as *mut u8, PAGE_SIZE as usize)
    };
    f(page)
}

/// The linear-map address of `pa`.
pub fn kva(pa: PhysAddr) -> u64 {
    phys_to_virt(pa).0
}
