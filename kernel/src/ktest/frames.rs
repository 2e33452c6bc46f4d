//! The frame allocator over the real RAM of the machine.

use alloc::format;
use kernel_core::addr::{PAGE_SIZE, PhysAddr};
use kernel_core::frame::FrameError;
use kernel_core::memmap::Region;

use super::{TestResult, check};
use crate::memory::{frames, layout};

/// Allocate every free frame: each is page-aligned, outside the kernel image
/// and the allocator's bitmap, and really RAM; no frame is handed out twice;
/// freeing them all restores the free count.
///
/// The allocated frames are chained through their own memory (word 0: the
/// previous frame, word 1: the frame's own address inverted), so the check
/// needs no memory of its own. A frame handed out twice breaks the chain:
/// the walk then frees a frame twice or ends early, and the test fails.
pub fn alloc_all_free_all() -> TestResult {
    const END: u64 = 1; // not a frame address: marks the end of the chain
    let (free_before, total) = frames::counts();
    check!(
        free_before > 0 && free_before <= total,
        "counts {free_before}/{total}"
    );
    let image = layout::image().whole();
    let bitmap = frames::bitmap_region().ok_or("no bitmap region")?;
    let mut count = 0usize;
    let mut chain = END;
    while let Some(pa) = frames::alloc() {
        count += 1;
        check!(pa.0 % PAGE_SIZE == 0, "frame {pa} misaligned");
        check!(
            !image.contains(pa.0),
            "frame {pa} inside the kernel image {image}"
        );
        check!(
            !bitmap.contains(pa.0),
            "frame {pa} inside the bitmap {bitmap}"
        );
        let va = layout::phys_to_virt(pa).0 as *mut u64;
        // SAFETY: the frame is ours until freed; it is RAM in the linear map.
        unsafe {
            va.write_volatile(chain);
            va.add(1).write_volatile(!pa.0);
        }
        chain = pa.0;
    }
    check!(
        count == free_before,
        "allocated {count} frames, {free_before} were free"
    );
    check!(
        frames::counts().0 == 0,
        "free count {} after allocating all",
        frames::counts().0
    );
    let mut walked = 0usize;
    let mut pa = chain;
    while pa != END {
        check!(
            walked < count,
            "chain longer than the {count} frames allocated"
        );
        let va = layout::phys_to_virt(PhysAddr(pa)).0 as *const u64;
        // SAFETY: still allocated to this test; RAM in the linear map.
        let (next, tag) = unsafe { (va.read_volatile(), va.add(1).read_volatile()) };
        check!(
            tag == !pa,
            "frame {pa:#x} was overwritten: handed out twice"
        );
        frames::free(PhysAddr(pa)).map_err(|e| format!("free {pa:#x}: {e}"))?;
        walked += 1;
        pa = next;
    }
    check!(
        walked == count,
        "chain has {walked} frames, {count} were allocated"
    );
    let free_after = frames::counts().0;
    check!(
        free_after == free_before,
        "free count {free_after} after freeing all, was {free_before}"
    );
    Ok(())
}

/// Frames of the kernel image, the bitmap and the heap are never handed out,
/// and freeing them is refused.
pub fn reserved_never_handed_out() -> TestResult {
    let image = layout::image().whole();
    let bitmap = frames::bitmap_region().ok_or("no bitmap region")?;
    for r in [
        image,
        bitmap,
        Region {
            start: 0,
            end: PAGE_SIZE,
        },
    ] {
        let e = frames::free(PhysAddr(r.start & !(PAGE_SIZE - 1)));
        check!(
            e.is_err(),
            "freeing reserved frame {:#x} ({r}) was accepted",
            r.start
        );
    }
    Ok(())
}

pub fn double_free_rejected() -> TestResult {
    let before = frames::counts().0;
    let pa = frames::alloc().ok_or("out of frames")?;
    frames::free(pa).map_err(|e| format!("first free: {e}"))?;
    let e = frames::free(pa);
    check!(
        e == Err(FrameError::NotAllocated),
        "second free of {pa} gave {e:?}"
    );
    check!(
        frames::free(PhysAddr(pa.0 + 8)) == Err(FrameError::Misaligned),
        "unaligned free accepted"
    );
    check!(
        frames::free(PhysAddr(!0xfff)).is_err(),
        "free outside RAM accepted"
    );
    check!(
        frames::counts().0 == before,
        "free count changed: {} -> {}",
        before,
        frames::counts().0
    );
    Ok(())
}

pub fn contiguous_aligned() -> TestResult {
    let before = frames::counts().0;
    let pa = frames::alloc_contiguous(512, 512).ok_or("no 2 MiB of contiguous RAM")?;
    check!(
        pa.0 % (2 << 20) == 0,
        "2 MiB block at {pa} is not 2 MiB aligned"
    );
    check!(
        frames::counts().0 == before - 512,
        "free count after alloc: {}",
        frames::counts().0
    );
    frames::free_contiguous(pa, 512).map_err(|e| format!("free_contiguous: {e}"))?;
    check!(
        frames::counts().0 == before,
        "free count after free: {}",
        frames::counts().0
    );
    Ok(())
}
