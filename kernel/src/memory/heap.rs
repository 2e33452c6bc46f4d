//! The kernel heap: a buddy allocator (buddy_system_allocator) over a
//! contiguous block of frames taken at boot. Interrupt handlers must not
//! allocate (the heap lock does not mask interrupts).

use buddy_system_allocator::LockedHeap;
use kernel_core::addr::PAGE_SIZE;

use crate::memory::{frames, layout::phys_to_virt};
use crate::println;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::new();

/// The heap gets 1/16 of usable RAM, between 1 and 16 MiB.
const MIN_HEAP: u64 = 1 << 20;
const MAX_HEAP: u64 = 16 << 20;

pub fn init() {
    let (_, total) = frames::counts();
    let want = (total as u64 * PAGE_SIZE / 16).clamp(MIN_HEAP, MAX_HEAP);
    let size = want.next_power_of_two().min(MAX_HEAP);
    let frames_needed = (size / PAGE_SIZE) as usize;
    let Some(pa) = frames::alloc_contiguous(frames_needed, 1) else {
        panic!(
            "no {} KiB of contiguous RAM for the kernel heap",
            size / 1024
        );
    };
    // SAFETY: the frames were just allocated for the heap alone and are RAM
    // in the linear map; the heap owns them for the rest of the kernel's life.
    unsafe { HEAP.lock().init(phys_to_virt(pa).0 as usize, size as usize) };
    println!("heap: {} KiB at {:#x}", size / 1024, pa.0);
}

/// (bytes in use, bytes in total) — for tests and diagnostics.
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.stats_alloc_actual(), h.stats_total_bytes())
}
