//! The kernel's virtual layout.
//!
//! Upper half (TTBR1): every physical address `pa` — RAM and the board's MMIO
//! windows — is mapped at `pa + KERNEL_VIRT_OFFSET` (the linear map). The
//! kernel image is linked at its load address + KERNEL_VIRT_OFFSET, so it is
//! part of the linear map, with per-section permissions (W^X).
//! Lower half (TTBR0): reserved for user address spaces.

use bsp_rpi4::board;
use kernel_core::addr::{PhysAddr, VirtAddr};

use crate::arch::boot::{BOOT_STACK_SIZE, STACK_SLOT};
use kernel_core::memmap::Region;

/// Where physical address 0 appears in the upper half.
pub const KERNEL_VIRT_OFFSET: u64 = 0xFFFF_0000_0000_0000;

/// The linear-map address of a physical address.
pub const fn phys_to_virt_addr(pa: u64) -> u64 {
    pa + KERNEL_VIRT_OFFSET
}

/// The linear-map address of `pa`.
pub fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
    VirtAddr(phys_to_virt_addr(pa.0))
}

/// Physical address of a kernel-image (or linear-map) virtual address.
pub const fn image_virt_to_phys(va: u64) -> u64 {
    va - KERNEL_VIRT_OFFSET
}

unsafe extern "C" {
    static __boot_stacks: u8;
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
}

/// Physical extent of the kernel image's sections, as the linker placed them.
pub struct ImageLayout {
    /// Code: read-only, executable.
    pub text: Region,
    /// Constants: read-only.
    pub rodata: Region,
    /// Data, .bss, boot stacks and early tables: read-write, never executable.
    pub data: Region,
}

impl ImageLayout {
    pub fn whole(&self) -> Region {
        Region {
            start: self.text.start,
            end: self.data.end,
        }
    }
}

pub fn image() -> ImageLayout {
    let pa = |sym: *const u8| image_virt_to_phys(sym as u64);
    let (start, text_end, rodata_end, end) = (
        pa(&raw const __kernel_start),
        pa(&raw const __text_end),
        pa(&raw const __rodata_end),
        pa(&raw const __kernel_end),
    );
    ImageLayout {
        text: Region {
            start,
            end: text_end,
        },
        rodata: Region {
            start: text_end,
            end: rodata_end,
        },
        data: Region {
            start: rodata_end,
            end,
        },
    }
}

/// Physical extent of CPU `cpu`'s stack slot: guard (low half), then stack.
fn slot(cpu: usize) -> Region {
    let base = image_virt_to_phys((&raw const __boot_stacks) as u64);
    let start = base + (cpu * STACK_SLOT) as u64;
    Region {
        start,
        end: start + STACK_SLOT as u64,
    }
}

/// Physical extent of each CPU's stack guard: the low half of its stack
/// slot, left unmapped so that running off the stack faults.
pub fn stack_guards() -> impl Iterator<Item = Region> {
    (0..board::MAX_CPUS).map(|cpu| {
        let s = slot(cpu);
        Region {
            start: s.start,
            end: s.start + BOOT_STACK_SIZE as u64,
        }
    })
}

/// Physical extent of CPU `cpu`'s stack (the high half of its slot).
pub fn stack(cpu: usize) -> Region {
    let s = slot(cpu);
    Region {
        start: s.start + BOOT_STACK_SIZE as u64,
        end: s.end,
    }
}

/// Which CPU's stack slot (guard or stack) the virtual address `sp` lies in.
pub fn stack_slot_of(sp: u64) -> Option<usize> {
    let base = (&raw const __boot_stacks) as u64;
    let cpu = sp.checked_sub(base)? / STACK_SLOT as u64;
    (cpu < board::MAX_CPUS as u64).then_some(cpu as usize)
}
