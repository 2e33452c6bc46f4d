//! The program's heap: a buddy allocator that starts empty and grows with
//! `Vm.Allocate` whenever an allocation does not fit.

use core::alloc::Layout;

use buddy_system_allocator::{Heap, LockedHeapWithRescue};
use kos_abi::vm::PAGE_SIZE;

/// Buddy orders: blocks up to 2^31 bytes.
const ORDER: usize = 32;
/// Smallest growth step.
const MIN_GROW: usize = 64 * 1024;

#[global_allocator]
static HEAP: LockedHeapWithRescue<ORDER> = LockedHeapWithRescue::new(grow);

/// Bytes to ask the kernel for so that `layout` fits: twice the buddy block
/// it needs (so an aligned block of that size lies inside whatever address
/// comes back), in whole pages, at least [`MIN_GROW`].
pub(crate) fn grow_size(layout: &Layout) -> usize {
    let block = layout.size().max(layout.align()).max(1).next_power_of_two();
    block
        .saturating_mul(2)
        .next_multiple_of(PAGE_SIZE as usize)
        .max(MIN_GROW)
}

/// The allocator's rescue: called with the heap locked when an allocation
/// failed; adds fresh memory (if the kernel gives any) and lets it retry.
fn grow(heap: &mut Heap<ORDER>, layout: &Layout) {
    let Ok(range) = crate::vm::allocate(grow_size(layout) as u64) else {
        return;
    };
    let (Ok(start), Ok(size)) = (usize::try_from(range.addr), usize::try_from(range.size)) else {
        return;
    };
    if start == 0 || size == 0 || start.checked_add(size).is_none() {
        return;
    }
    // SAFETY: the kernel just mapped [start, start + size) read-write for
    // this process only; nothing else refers to it, and it is never freed,
    // so the heap may own it from now on.
    unsafe { heap.add_to_heap(start, start + size) };
}

/// Bytes the heap has handed out and not yet taken back.
pub fn used() -> usize {
    HEAP.lock().stats_alloc_actual()
}

/// Bytes the heap holds in all (used and free).
pub fn total() -> usize {
    HEAP.lock().stats_total_bytes()
}
