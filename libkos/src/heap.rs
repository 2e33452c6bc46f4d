//! The program's heap: a buddy allocator that starts empty and grows with
//! `Vm.Allocate` whenever an allocation does not fit.
//!
//! Its lock is [`crate::lock::Lock`], which backs off to the scheduler.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use buddy_system_allocator::Heap;
use kos_abi::vm::PAGE_SIZE;

use crate::lock::Lock;

/// Buddy orders: blocks up to 2^31 bytes.
const ORDER: usize = 32;
/// Smallest growth step.
const MIN_GROW: usize = 64 * 1024;

#[global_allocator]
static HEAP: KosHeap = KosHeap(Lock::new(Heap::new()));

/// The buddy heap behind the backing-off lock.
struct KosHeap(Lock<Heap<ORDER>>);

impl KosHeap {
    fn with<R>(&self, f: impl FnOnce(&mut Heap<ORDER>) -> R) -> R {
        self.0.with(f)
    }
}

// SAFETY: allocation and deallocation go to the buddy heap under the lock;
// its blocks never overlap and memory added to it is never unmapped.
unsafe impl GlobalAlloc for KosHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.with(|heap| {
            if let Ok(p) = heap.alloc(layout) {
                return p.as_ptr();
            }
            grow(heap, &layout);
            heap.alloc(layout)
                .map_or(core::ptr::null_mut(), |p| p.as_ptr())
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: the caller passes a block this allocator handed out
            // with this layout (GlobalAlloc's contract).
            self.with(|heap| unsafe { heap.dealloc(p, layout) });
        }
    }
}

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

/// Called with the heap locked when an allocation failed: adds fresh
/// memory (if the kernel gives any) for one retry. (`Vm.Allocate`'s message
/// lives on the stack: nothing here allocates.)
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

/// Run `f` with the heap locked (for tests of lock contention): anything
/// that allocates meanwhile waits. `f` must not allocate itself.
pub fn with_heap_locked<R>(f: impl FnOnce() -> R) -> R {
    HEAP.with(|_| f())
}

/// Bytes the heap has handed out and not yet taken back.
pub fn used() -> usize {
    HEAP.with(|h| h.stats_alloc_actual())
}

/// Bytes the heap holds in all (used and free).
pub fn total() -> usize {
    HEAP.with(|h| h.stats_total_bytes())
}
