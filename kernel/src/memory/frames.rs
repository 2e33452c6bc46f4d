//! The physical frame allocator: one global bitmap allocator over all usable
//! RAM, and a [`TableAlloc`] on top of it for page tables.

use kernel_core::addr::{PAGE_SIZE, PhysAddr};
use kernel_core::frame::{self, FrameAllocator, FrameError};
use kernel_core::memmap::{Region, RegionSet};
use kernel_core::paging::TableAlloc;

use super::layout::phys_to_virt;
use crate::arch::sync::IrqLock;

static FRAMES: IrqLock<Option<FrameAllocator<'static>>> = IrqLock::new(None);

/// Where the allocator's own bitmap lives (so tests can check it is never handed out).
static BITMAP: spin::Once<Region> = spin::Once::new();

/// Create the allocator over `usable`, placing its bitmap in `usable` first.
/// Returns `None` if there is not even room for the bitmap.
pub fn init<const N: usize>(usable: &mut RegionSet<N>) -> Option<()> {
    let span = Region {
        start: usable.lowest()?,
        end: usable.highest()?,
    };
    let words = frame::bitmap_words(span);
    let bytes = (words as u64 * 8).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let bitmap = usable.take(bytes, PAGE_SIZE)?;
    // SAFETY: `bitmap` was just removed from the usable set, so nothing else
    // will ever use these bytes; they are RAM in the linear map and
    // u64-aligned (page-aligned). The slice lives as long as the kernel.
    let storage = unsafe {
        let ptr = phys_to_virt(PhysAddr(bitmap.start)).0 as *mut u64;
        core::ptr::write_bytes(ptr, 0, words);
        core::slice::from_raw_parts_mut(ptr, words)
    };
    let fa = FrameAllocator::new(usable, storage).ok()?;
    BITMAP.call_once(|| bitmap);
    *FRAMES.lock() = Some(fa);
    Some(())
}

fn with<R>(f: impl FnOnce(&mut FrameAllocator<'static>) -> R) -> Option<R> {
    FRAMES.lock().as_mut().map(f)
}

/// One free 4 KiB frame (contents undefined).
pub fn alloc() -> Option<PhysAddr> {
    with(|fa| fa.alloc()).flatten()
}

/// `count` contiguous frames aligned to `align_frames` frames.
pub fn alloc_contiguous(count: usize, align_frames: usize) -> Option<PhysAddr> {
    with(|fa| fa.alloc_contiguous(count, align_frames)).flatten()
}

/// Zero a frame the caller owns.
pub fn zero(pa: PhysAddr) {
    // SAFETY: the caller owns the frame (just allocated it); it is RAM in
    // the linear map, and the slice lives only for this call.
    let page = unsafe {
        core::slice::from_raw_parts_mut(phys_to_virt(pa).0 as *mut u8, PAGE_SIZE as usize)
    };
    crate::arch::mem::zero_page(page);
}

pub fn free(pa: PhysAddr) -> Result<(), FrameError> {
    with(|fa| fa.free(pa)).unwrap_or(Err(FrameError::OutOfRange))
}

pub fn free_contiguous(pa: PhysAddr, count: usize) -> Result<(), FrameError> {
    with(|fa| fa.free_contiguous(pa, count)).unwrap_or(Err(FrameError::OutOfRange))
}

pub fn free_bytes() -> u64 {
    with(|fa| fa.free_count() as u64 * PAGE_SIZE).unwrap_or(0)
}

/// (free frames, frames usable at boot).
pub fn counts() -> (usize, usize) {
    with(|fa| (fa.free_count(), fa.total_count())).unwrap_or((0, 0))
}

pub fn bitmap_region() -> Option<Region> {
    BITMAP.get().copied()
}

/// Page tables backed by the frame allocator, reached through the linear map.
pub struct FrameTables;

impl TableAlloc for FrameTables {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        let pa = alloc()?;
        // A freshly allocated frame belongs to us alone: zeroed, it holds
        // only invalid descriptors.
        zero(pa);
        Some(pa)
    }

    fn free_table(&mut self, pa: PhysAddr) {
        let _ = free(pa);
    }

    fn table(&mut self, pa: PhysAddr) -> &mut [u64; 512] {
        // SAFETY: the walker only passes addresses of tables this allocator
        // handed out (from descriptors it wrote); they are RAM in the linear map.
        unsafe { &mut *(phys_to_virt(pa).0 as *mut [u64; 512]) }
    }
}
