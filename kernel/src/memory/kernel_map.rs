//! The kernel's own page tables (upper half): the linear map of all RAM
//! (read-write, never executable), the kernel image with per-section
//! permissions (text RX, rodata R, data RW — W^X), and the board's MMIO
//! windows as Device memory. Built from a static pool of table pages because
//! the frame allocator does not exist yet when they are made.

use bsp_rpi4::board;
use core::fmt;
use kernel_core::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use kernel_core::memmap::{self, MemMapError, Region, RegionSet};
use kernel_core::paging::{Attrs, PageTable, PagingError, TableAlloc};

use super::layout::{self, ImageLayout, image_virt_to_phys, phys_to_virt};

/// Table pages for the kernel map: L0, L1s, L2s for the edges of RAM and the
/// image, L3s for the image (4 KiB granularity is needed there for W^X).
const POOL_PAGES: usize = 48;

#[repr(C, align(4096))]
struct Pool([[u64; 512]; POOL_PAGES]);

static mut POOL: Pool = Pool([[0; 512]; POOL_PAGES]);

/// Hands out the pool's pages in order; kernel tables are never freed.
struct PoolAlloc {
    next: usize,
}

impl TableAlloc for PoolAlloc {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        if self.next == POOL_PAGES {
            return None;
        }
        let va = (&raw mut POOL) as u64 + (self.next as u64) * PAGE_SIZE;
        self.next += 1;
        Some(PhysAddr(image_virt_to_phys(va))) // .bss: already zero
    }

    fn free_table(&mut self, _pa: PhysAddr) {}

    fn table(&mut self, pa: PhysAddr) -> &mut [u64; 512] {
        // SAFETY: `pa` is a pool page handed out by alloc_table (the walker
        // only follows descriptors it wrote), mapped in the linear map.
        unsafe { &mut *(phys_to_virt(pa).0 as *mut [u64; 512]) }
    }
}

fn map(
    pt: &mut PageTable,
    alloc: &mut PoolAlloc,
    r: Region,
    attrs: Attrs,
) -> Result<(), PagingError> {
    if r.is_empty() {
        return Ok(());
    }
    pt.map_range(
        alloc,
        phys_to_virt(PhysAddr(r.start)),
        PhysAddr(r.start),
        r.size(),
        attrs,
    )
}

/// Why the kernel tables could not be built.
#[derive(Debug)]
pub enum MapError {
    Paging(PagingError),
    Regions(MemMapError),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Paging(e) => write!(f, "{e}"),
            MapError::Regions(e) => write!(f, "{e}"),
        }
    }
}

impl From<PagingError> for MapError {
    fn from(e: PagingError) -> Self {
        MapError::Paging(e)
    }
}

impl From<MemMapError> for MapError {
    fn from(e: MemMapError) -> Self {
        MapError::Regions(e)
    }
}

/// Build the kernel tables and switch to them. Returns the number of table pages used.
pub fn build_and_switch(
    ram: &RegionSet<{ super::platform::MAX_REGIONS }>,
) -> Result<usize, MapError> {
    let mut alloc = PoolAlloc { next: 0 };
    let mut pt = PageTable::new(&mut alloc)?;
    let image: ImageLayout = layout::image();

    // Whole pages of RAM outside the image: data, never executable.
    for r in memmap::usable(ram, &[image.whole()])?.iter() {
        map(&mut pt, &mut alloc, *r, Attrs::KERNEL_DATA)?;
    }
    map(&mut pt, &mut alloc, image.text, Attrs::KERNEL_TEXT)?;
    map(&mut pt, &mut alloc, image.rodata, Attrs::KERNEL_RODATA)?;
    // Data, minus the guard below each CPU's stack (left unmapped).
    let mut data = RegionSet::<{ super::platform::MAX_REGIONS }>::new();
    data.add(image.data)?;
    let guards: heapless::Vec<Region, { board::MAX_CPUS }> = layout::stack_guards().collect();
    for r in memmap::usable(&data, &guards)?.iter() {
        map(&mut pt, &mut alloc, *r, Attrs::KERNEL_DATA)?;
    }
    for d in board::DEVICE_RANGES {
        map(
            &mut pt,
            &mut alloc,
            Region {
                start: d.base,
                end: d.base + d.size,
            },
            Attrs::DEVICE,
        )?;
    }
    // SAFETY: the new tables map the whole image (with the stacks and the
    // early tables in .bss), all RAM and the MMIO windows at the same
    // addresses as the early tables did; TTBR0 still holds the identity map.
    unsafe { crate::arch::mmu::switch_kernel_tables(pt.root()) };
    ROOT.call_once(|| pt.root());
    Ok(alloc.next)
}

static ROOT: spin::Once<PhysAddr> = spin::Once::new();

/// Translate a kernel virtual address with the kernel tables (tests, diagnostics).
pub fn translate(va: VirtAddr) -> Option<(PhysAddr, Attrs)> {
    let root = *ROOT.get()?;
    PageTable::from_root(root).translate(&mut PoolAlloc { next: POOL_PAGES }, va)
}
