//! Pure, host-testable kernel logic: address arithmetic, physical memory
//! maps, the frame allocator, AArch64 page-table manipulation and
//! exception-syndrome decoding.
//!
//! Nothing here touches hardware: the kernel supplies memory (bitmap
//! storage, page-table frames) and performs all barriers and TLB
//! maintenance itself, so every line can be unit-tested on the host.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod addr;
pub mod aslr;
pub mod bytes;
pub mod cdt;
pub mod elf;
pub mod esr;
pub mod frame;
pub mod handles;
pub mod ids;
pub mod memmap;
pub mod paging;
pub mod reloc;
pub mod sched;
pub mod slab;
pub mod symbols;
pub mod syscall;
pub mod ufault;
pub mod utf8_cut;

pub use addr::{PAGE_SHIFT, PAGE_SIZE, PhysAddr, VirtAddr};
