//! A process's address space: its lower-half page table (TTBR0) tagged with
//! an ASID, the regions mapped in it, and checked access to user memory.
//!
//! The kernel never dereferences a user address. Every access goes through
//! [`AddressSpace::copy_in`] / [`AddressSpace::copy_out`], which translate
//! each page through this space's table, check the user permissions, and
//! copy through the kernel's linear map; a bad pointer is an `rcBadAddress`,
//! never a kernel fault.

use alloc::vec::Vec;
use core::ops::Range;

use kernel_core::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use kernel_core::paging::{Access, Attrs, PageSize, PageTable, PagingError, TableAlloc};
use kos_abi::Rc;
use kos_abi::vm::{HEAP_AREA_BASE, STACK_AREA_TOP, USER_END, USER_MIN};

/// The bottom of the stack area (64 GiB below its top); the allocation
/// area ends here.
const STACK_AREA_BASE: u64 = STACK_AREA_TOP - (64 << 30);

use super::budget::{self, Kind, Slot};
use crate::arch::sync::IrqLock;
use crate::arch::user;
use crate::memory::frames::{self, FrameTables};
use crate::memory::layout::phys_to_virt;
use crate::memory::phys;

/// Unmapped pages below every thread stack: an overflow faults here.
pub const GUARD_PAGES: u64 = 16;
/// Pages unmapped at once above which the whole ASID's TLB entries are
/// broken rather than each page's.
const FLUSH_PAGES_MAX: u64 = 64;
/// Regions one address space may have: bounds the kernel heap it uses.
pub const MAX_REGIONS: usize = 1024;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// A segment of the executable.
    Image,
    /// A thread stack.
    Stack,
    /// The unmapped guard below a stack (reserved, never mapped).
    Guard,
    /// Memory from `Vm.Allocate`.
    Heap,
    /// Memory from `VmReserve` (a creator preparing an empty process).
    Reserved,
    /// The environment data (read-only).
    Env,
    /// An MDL buffer's frames: shared, owned by the MDL object (never freed
    /// by the address space).
    Shared(kernel_core::slab::Id),
    /// Memory a call is mapping, unmapping or protecting in steps
    /// (`task::resume`): mapped in part, and no other call takes it.
    Busy,
}

#[derive(Copy, Clone, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub kind: RegionKind,
}

pub struct AddressSpace {
    table: PageTable,
    asid: u16,
    /// Sorted by start, never overlapping.
    regions: Vec<Region>,
    /// Kernel heap its region list was charged (its capacity).
    regions_kmem: u64,
    /// Frames held: mapped user pages plus page-table pages (and the MDL
    /// buffers its process made).
    frames: Frames,
    /// Recent translations (see [`SoftTlb`]).
    tlb: SoftTlb,
}

/// A few recent user-page translations, so that the checked copies of one
/// IPC message (header, fixed part, arena, reply buffer: usually one or two
/// pages) walk the tables once. Emptied whenever a mapping is removed or
/// its permissions change.
struct SoftTlb {
    /// Virtual page numbers (`u64::MAX`: empty).
    vpn: [core::cell::Cell<u64>; 4],
    /// Kernel address of each page; bit 0 set if user-writable.
    kva: [core::cell::Cell<u64>; 4],
    next: core::cell::Cell<usize>,
}

impl SoftTlb {
    fn new() -> Self {
        SoftTlb {
            vpn: core::array::from_fn(|_| core::cell::Cell::new(u64::MAX)),
            kva: core::array::from_fn(|_| core::cell::Cell::new(0)),
            next: core::cell::Cell::new(0),
        }
    }

    fn lookup(&self, vpn: u64, write: bool) -> Option<u64> {
        for i in 0..self.vpn.len() {
            if self.vpn[i].get() == vpn {
                let kva = self.kva[i].get();
                if kva & 1 == 1 || !write {
                    return Some(kva & !1);
                }
            }
        }
        None
    }

    fn insert(&self, vpn: u64, kva: u64, writable: bool) {
        let i = self.next.get();
        self.vpn[i].set(vpn);
        self.kva[i].set(kva | writable as u64);
        self.next.set((i + 1) % self.vpn.len());
    }

    fn flush(&self) {
        for v in &self.vpn {
            v.set(u64::MAX);
        }
    }
}

/// The frames a space holds, counted against its own limit and its
/// process's budget (and so its creator's, see [`budget`]).
struct Frames {
    held: usize,
    limit: usize,
    account: Option<Slot>,
}

impl Frames {
    fn take(&mut self, n: usize) -> Result<(), Rc> {
        if self.held.saturating_add(n) > self.limit {
            return Err(Rc::QuotaExceeded);
        }
        if let Some(a) = self.account {
            budget::charge(a, Kind::Frames, n as u64)?;
        }
        self.held += n;
        Ok(())
    }

    fn give(&mut self, n: usize) {
        let n = n.min(self.held);
        if let Some(a) = self.account {
            budget::uncharge(a, Kind::Frames, n as u64);
        }
        self.held -= n;
    }
}

/// A table allocator that charges table pages to the space.
struct Charged<'a> {
    frames: &'a mut Frames,
    /// A table was refused for the quota (not for want of memory).
    refused: bool,
    tables: FrameTables,
}

impl<'a> Charged<'a> {
    fn new(frames: &'a mut Frames) -> Self {
        Charged {
            frames,
            refused: false,
            tables: FrameTables,
        }
    }

    /// Why a mapping failed.
    fn err(&self, e: PagingError) -> Rc {
        if self.refused {
            Rc::QuotaExceeded
        } else {
            err(e)
        }
    }
}

impl TableAlloc for Charged<'_> {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        if self.frames.take(1).is_err() {
            self.refused = true;
            return None;
        }
        let pa = self.tables.alloc_table();
        if pa.is_none() {
            self.frames.give(1);
        }
        pa
    }
    fn free_table(&mut self, pa: PhysAddr) {
        self.frames.give(1);
        self.tables.free_table(pa)
    }
    fn table(&mut self, pa: PhysAddr) -> &mut [u64; 512] {
        self.tables.table(pa)
    }
}

fn err(e: PagingError) -> Rc {
    match e {
        PagingError::OutOfMemory => Rc::OutOfMemory,
        PagingError::AlreadyMapped => Rc::AlreadyExists,
        _ => Rc::InvalidArgument,
    }
}

impl AddressSpace {
    /// An empty space of at most `quota_frames` frames, charged to the
    /// budget `account` (none for the kernel's own tests).
    pub fn new(quota_frames: usize, account: Option<Slot>) -> Result<AddressSpace, Rc> {
        let asid = asid_alloc().ok_or(Rc::QuotaExceeded)?;
        let mut frames = Frames {
            held: 0,
            limit: quota_frames,
            account,
        };
        let mut alloc = Charged::new(&mut frames);
        let table = match PageTable::new(&mut alloc) {
            Ok(t) => t,
            Err(e) => {
                asid_free(asid);
                return Err(alloc.err(e));
            }
        };
        Ok(AddressSpace {
            table,
            asid,
            regions: Vec::new(),
            regions_kmem: 0,
            frames,
            tlb: SoftTlb::new(),
        })
    }

    pub fn asid(&self) -> u16 {
        self.asid
    }

    pub fn root(&self) -> PhysAddr {
        self.table.root()
    }

    /// Every region, by address.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region holding `va`, if any.
    pub fn region_of(&self, va: u64) -> Option<&Region> {
        self.regions.iter().find(|r| r.start <= va && va < r.end)
    }

    fn check_free(&self, start: u64, end: u64) -> Result<(), Rc> {
        if !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE_SIZE) || start >= end {
            return Err(Rc::InvalidArgument);
        }
        if start < USER_MIN || end > USER_END {
            return Err(Rc::BadAddress);
        }
        if self.regions.iter().any(|r| r.start < end && start < r.end) {
            return Err(Rc::AlreadyExists);
        }
        Ok(())
    }

    fn insert(&mut self, r: Region) -> Result<(), Rc> {
        if self.regions.len() >= MAX_REGIONS {
            return Err(Rc::QuotaExceeded);
        }
        if self.regions.len() == self.regions.capacity() {
            // The list grows in doublings, each charged to the budget's
            // memory until the space goes.
            let more = self
                .regions
                .capacity()
                .max(4)
                .min(MAX_REGIONS - self.regions.len());
            let bytes = (more * core::mem::size_of::<Region>()) as u64;
            if let Some(a) = self.frames.account {
                budget::charge(a, Kind::Memory, bytes)?;
            }
            if self.regions.try_reserve_exact(more).is_err() {
                if let Some(a) = self.frames.account {
                    budget::uncharge(a, Kind::Memory, bytes);
                }
                return Err(Rc::OutOfMemory);
            }
            self.regions_kmem += bytes;
        }
        let at = self.regions.partition_point(|x| x.start < r.start);
        self.regions.insert(at, r);
        Ok(())
    }

    /// Counts `pages` frames held elsewhere (an MDL this process made)
    /// against the quota.
    pub fn charge_frames(&mut self, pages: usize) -> Result<(), Rc> {
        self.frames.take(pages)
    }

    /// The frames [`Self::charge_frames`] counted went back.
    pub fn uncharge_frames(&mut self, pages: usize) {
        self.frames.give(pages);
    }

    /// Map fresh frames over `[start, end)` with `attrs`; `fill` writes
    /// part of each page's initial contents (given the page's address and
    /// its bytes, which still hold a former owner's data) and returns the
    /// range it wrote, every byte of it: the rest is zeroed. On failure
    /// nothing stays mapped.
    pub fn map_new(
        &mut self,
        start: u64,
        end: u64,
        kind: RegionKind,
        attrs: Attrs,
        mut fill: impl FnMut(u64, &mut [u8]) -> Range<usize>,
    ) -> Result<(), Rc> {
        self.check_free(start, end)?;
        attrs.validate().map_err(|_| Rc::InvalidArgument)?;
        // Up to 4 table pages may come with the first page; the rest is exact.
        self.frames_fit(start, end)?;
        let mut va = start;
        while va < end {
            if let Err(e) = self.map_page(va, attrs, &mut fill) {
                self.unmap_pages(start, va);
                return Err(e);
            }
            va += PAGE_SIZE;
        }
        if let Err(e) = self.insert(Region { start, end, kind }) {
            self.unmap_pages(start, end);
            return Err(e);
        }
        if matches!(attrs.exec, kernel_core::paging::Exec::User) {
            self.sync_code(start, end);
        }
        Ok(())
    }

    /// Whether the pages of `[start, end)` fit this space's frames limit
    /// and its budget (`rcQuotaExceeded` if not).
    fn frames_fit(&self, start: u64, end: u64) -> Result<(), Rc> {
        let pages = ((end - start) / PAGE_SIZE) as usize;
        if self.frames.held + pages > self.frames.limit
            || self
                .frames
                .account
                .is_some_and(|a| !budget::fits(a, Kind::Frames, pages as u64))
        {
            return Err(Rc::QuotaExceeded);
        }
        Ok(())
    }

    fn map_page(
        &mut self,
        va: u64,
        attrs: Attrs,
        fill: &mut impl FnMut(u64, &mut [u8]) -> Range<usize>,
    ) -> Result<(), Rc> {
        self.frames.take(1)?;
        let Some(pa) = frames::alloc() else {
            self.frames.give(1);
            return Err(Rc::OutOfMemory);
        };
        // The frame still holds whatever its last owner left: all of it
        // but what `fill` wrote is zeroed.
        phys::with_new_page(pa, |page| {
            let wrote = fill(va, page);
            if wrote.is_empty() {
                crate::arch::mem::zero_page(page);
            } else {
                page[..wrote.start].fill(0);
                page[wrote.end..].fill(0);
            }
        });
        let mut alloc = Charged::new(&mut self.frames);
        match self
            .table
            .map(&mut alloc, VirtAddr(va), pa, PageSize::Size4K, attrs)
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = alloc.err(e);
                let _ = frames::free(pa);
                self.frames.give(1);
                Err(e)
            }
        }
    }

    /// Unmap and free every mapped page in `[start, end)`.
    fn unmap_pages(&mut self, start: u64, end: u64) {
        self.unmap_range(start, end, true);
    }

    /// Unmap every mapped page of `[start, end)`, freeing its frame if the
    /// space `owned` it, then break their TLB entries: page by page for a
    /// few, the whole ASID at once for many (an MDL's 4096 pages).
    fn unmap_range(&mut self, start: u64, end: u64, owned: bool) {
        self.tlb.flush();
        let (asid, count) = (self.asid, end.saturating_sub(start) / PAGE_SIZE);
        let few = count <= FLUSH_PAGES_MAX;
        let mut freed = 0;
        let mut alloc = Charged::new(&mut self.frames);
        self.table
            .unmap_pages(&mut alloc, VirtAddr(start), count, |va, pa| {
                if few {
                    user::flush_user_page(asid, va);
                }
                if owned {
                    let _ = frames::free(pa);
                    freed += 1;
                }
            });
        // Frames freed above are not handed out again before this: the
        // kernel lock is held until it is done (a thread on another core
        // may touch them through a stale entry until then, but nobody can
        // have them yet, and a frame is zeroed when it is handed out).
        if !few {
            user::flush_asid(asid);
        }
        self.frames.give(freed);
    }

    fn sync_code(&mut self, start: u64, end: u64) {
        let mut va = start;
        while va < end {
            if let Some((pa, _)) = self.table.translate(&mut FrameTables, VirtAddr(va)) {
                user::sync_code(phys_to_virt(pa).0, PAGE_SIZE);
            }
            va += PAGE_SIZE;
        }
    }

    /// Where `size` bytes (page-rounded, non-zero) of the allocation area
    /// go: the lowest free range with an unmapped page on either side (so
    /// overruns fault). Freed ranges are found again, so a process that
    /// allocates and frees for ever never runs out of addresses.
    fn heap_range(&self, size: u64) -> Result<(u64, u64), Rc> {
        if size == 0 {
            return Err(Rc::InvalidArgument);
        }
        let mut start = HEAP_AREA_BASE;
        for r in self.regions.iter().filter(|r| r.end > HEAP_AREA_BASE) {
            let fits = start
                .checked_add(size + PAGE_SIZE)
                .is_some_and(|e| e <= r.start);
            if fits {
                break;
            }
            start = start.max(r.end + PAGE_SIZE);
        }
        let end = start.checked_add(size).ok_or(Rc::OutOfMemory)?;
        if end > STACK_AREA_BASE {
            return Err(Rc::OutOfMemory);
        }
        Ok((start, end))
    }

    /// Where a stack of `size` bytes and its guard go: the highest free
    /// range of the stack area (freed stacks are found again).
    fn stack_range(&self, size: u64) -> Result<u64, Rc> {
        let need = size
            .checked_add(GUARD_PAGES * PAGE_SIZE)
            .ok_or(Rc::OutOfMemory)?;
        let mut top = STACK_AREA_TOP;
        for r in self
            .regions
            .iter()
            .rev()
            .filter(|r| r.start < STACK_AREA_TOP)
        {
            if r.end <= top.saturating_sub(need) {
                break;
            }
            top = top.min(r.start);
        }
        match top.checked_sub(need) {
            Some(guard) if guard >= STACK_AREA_BASE => Ok(top),
            _ => Err(Rc::OutOfMemory),
        }
    }

    /// A free range of `size` bytes at an address of the kernel's choosing
    /// (`Vm.Allocate`, and `VmReserve` or `LoadSeg` at address 0), kept
    /// apart from the next by a guard page.
    pub fn pick_range(&self, size: u64) -> Result<u64, Rc> {
        let (start, _) = self.heap_range(round_up(size).ok_or(Rc::InvalidArgument)?)?;
        Ok(start)
    }

    /// Zeroed read-write memory at an address of the kernel's choosing.
    pub fn allocate(&mut self, size: u64) -> Result<u64, Rc> {
        let (start, end) = self.heap_range(round_up(size).ok_or(Rc::InvalidArgument)?)?;
        self.map_new(start, end, RegionKind::Heap, Attrs::USER_DATA, |_, _| 0..0)?;
        Ok(start)
    }

    // A region changed in steps (`task::resume`) is busy meanwhile: mapped
    // in part, and no other call frees, protects or reuses it. `begin_*`
    // makes it busy, `*_step` does one page, [`Self::finish`] ends it.

    /// Hold `[start, end)` for a mapping made in steps ([`Self::map_step`]);
    /// nothing is mapped yet. The quota is checked for all of it now.
    pub fn begin_map(&mut self, start: u64, end: u64) -> Result<(), Rc> {
        self.check_free(start, end)?;
        self.frames_fit(start, end)?;
        self.insert(Region {
            start,
            end,
            kind: RegionKind::Busy,
        })
    }

    /// [`Self::begin_map`] of `size` bytes at an address of the kernel's
    /// choosing; returns it.
    pub fn begin_allocate(&mut self, size: u64) -> Result<u64, Rc> {
        let start = self.pick_range(size)?;
        self.begin_map(start, start + round_up(size).ok_or(Rc::InvalidArgument)?)?;
        Ok(start)
    }

    /// Map a fresh page at `va` (of a busy region) with `attrs`; `fill`
    /// writes its first contents as for [`Self::map_new`].
    pub fn map_step(
        &mut self,
        va: u64,
        attrs: Attrs,
        mut fill: impl FnMut(u64, &mut [u8]) -> Range<usize>,
    ) -> Result<(), Rc> {
        attrs.validate().map_err(|_| Rc::InvalidArgument)?;
        self.map_page(va, attrs, &mut fill)?;
        if matches!(attrs.exec, kernel_core::paging::Exec::User) {
            self.sync_code(va, va + PAGE_SIZE);
        }
        Ok(())
    }

    /// The whole region of `kind` (`Heap`, `Reserved` or `Stack`) at
    /// `start`, of `size` bytes, becomes busy, to be unmapped in steps
    /// ([`Self::unmap_step`]); returns its end.
    pub fn begin_unmap(&mut self, start: u64, size: u64, kind: RegionKind) -> Result<u64, Rc> {
        self.make_busy(start, size, kind)
    }

    /// Unmap and free page `va` (of a busy region).
    pub fn unmap_step(&mut self, va: u64) {
        self.unmap_pages(va, va + PAGE_SIZE);
    }

    /// The whole `Vm.Allocate` region at `start`, of `size` bytes, becomes
    /// busy, its pages to be given new permissions in steps
    /// ([`Self::protect_step`]); returns its end.
    pub fn begin_protect(&mut self, start: u64, size: u64) -> Result<u64, Rc> {
        self.make_busy(start, size, RegionKind::Heap)
    }

    /// Give page `va` (of a busy region) `attrs`. No permission at all
    /// keeps the page mapped but out of user reach.
    pub fn protect_step(&mut self, va: u64, attrs: Attrs) -> Result<(), Rc> {
        attrs.validate().map_err(|_| Rc::InvalidArgument)?;
        // The old permissions may be cached: break them before use.
        self.tlb.flush();
        self.table
            .protect(&mut FrameTables, VirtAddr(va), PageSize::Size4K, attrs)
            .map_err(err)?;
        user::flush_user_page(self.asid, va);
        if matches!(attrs.exec, kernel_core::paging::Exec::User) {
            // The process wrote this code through its data cache.
            self.sync_code(va, va + PAGE_SIZE);
        }
        Ok(())
    }

    fn make_busy(&mut self, start: u64, size: u64, kind: RegionKind) -> Result<u64, Rc> {
        let r = self
            .regions
            .iter_mut()
            .find(|r| r.start == start && r.kind == kind)
            .ok_or(Rc::InvalidArgument)?;
        if round_up(size) != Some(r.end - r.start) {
            return Err(Rc::InvalidArgument);
        }
        r.kind = RegionKind::Busy;
        Ok(r.end)
    }

    /// The end of the busy region at `start`, if there is one.
    pub fn busy_end(&self, start: u64) -> Option<u64> {
        self.regions
            .iter()
            .find(|r| r.start == start && r.kind == RegionKind::Busy)
            .map(|r| r.end)
    }

    /// The busy region at `start` ends at `end` now (a mapping that failed
    /// there: nothing is mapped above).
    pub fn truncate_busy(&mut self, start: u64, end: u64) {
        if let Some(r) = self
            .regions
            .iter_mut()
            .find(|r| r.start == start && r.kind == RegionKind::Busy)
        {
            r.end = end.max(r.start);
        }
    }

    /// The busy region at `start`, done: a region of `kind`, or gone
    /// (`None`: everything in it unmapped already).
    pub fn finish(&mut self, start: u64, kind: Option<RegionKind>) {
        if let Some(at) = self
            .regions
            .iter()
            .position(|r| r.start == start && r.kind == RegionKind::Busy)
        {
            match kind {
                Some(kind) => self.regions[at].kind = kind,
                None => {
                    // With the guard below it if it was to be a stack.
                    self.regions.remove(at);
                    if let Some(g) = self
                        .regions
                        .iter()
                        .position(|g| g.kind == RegionKind::Guard && g.end == start)
                    {
                        self.regions.remove(g);
                    }
                }
            }
        }
    }

    /// Free a whole region that [`AddressSpace::allocate`] returned.
    pub fn free(&mut self, start: u64, size: u64) -> Result<(), Rc> {
        self.free_region(start, size, RegionKind::Heap)
    }

    /// Unmap and free the whole region of `kind` at `start`; `size` must be
    /// its size (page-rounded).
    fn free_region(&mut self, start: u64, size: u64, kind: RegionKind) -> Result<(), Rc> {
        let at = self
            .regions
            .iter()
            .position(|r| r.start == start && r.kind == kind)
            .ok_or(Rc::InvalidArgument)?;
        let r = self.regions[at];
        if round_up(size) != Some(r.end - r.start) {
            return Err(Rc::InvalidArgument);
        }
        self.unmap_pages(r.start, r.end);
        self.regions.remove(at);
        Ok(())
    }

    /// [`Self::begin_map`] of a stack of `size` bytes, with
    /// [`GUARD_PAGES`] unmapped below it; returns its base.
    pub fn begin_stack(&mut self, size: u64) -> Result<u64, Rc> {
        let size = round_up(size).ok_or(Rc::InvalidArgument)?;
        let top = self.stack_range(size)?;
        let bottom = top - size;
        self.begin_map(bottom, top)?;
        let guard = Region {
            start: bottom - GUARD_PAGES * PAGE_SIZE,
            end: bottom,
            kind: RegionKind::Guard,
        };
        if let Err(e) = self.insert(guard) {
            self.release(bottom);
            return Err(e);
        }
        Ok(bottom)
    }

    /// A stack of `size` bytes with [`GUARD_PAGES`] unmapped below it, at
    /// once; returns its top (16-byte aligned, as the AAPCS64 requires).
    pub fn new_stack(&mut self, size: u64) -> Result<u64, Rc> {
        let bottom = self.begin_stack(size)?;
        let top = bottom + round_up(size).ok_or(Rc::InvalidArgument)?;
        let mut va = bottom;
        while va < top {
            if let Err(e) = self.map_step(va, Attrs::USER_DATA, |_, _| 0..0) {
                self.release(bottom);
                return Err(e);
            }
            va += PAGE_SIZE;
        }
        self.finish(bottom, Some(RegionKind::Stack));
        Ok(top)
    }

    /// Unmap the region starting at `start` (and the guard below a stack,
    /// made or being made).
    pub fn release(&mut self, start: u64) {
        if let Some(at) = self
            .regions
            .iter()
            .position(|r| r.start == start && !matches!(r.kind, RegionKind::Shared(_)))
        {
            let r = self.regions.remove(at);
            if r.kind != RegionKind::Guard {
                self.unmap_pages(r.start, r.end);
                // Only stacks have a guard right below them.
                if let Some(g) = self
                    .regions
                    .iter()
                    .position(|g| g.kind == RegionKind::Guard && g.end == r.start)
                {
                    self.regions.remove(g);
                }
            }
        }
    }

    /// Map `frames` (owned by MDL `mdl`) at an address of the kernel's
    /// choosing; returns it. The frames are not charged to this space's
    /// quota: the MDL holds them.
    pub fn map_shared(
        &mut self,
        frames: &[PhysAddr],
        writable: bool,
        mdl: kernel_core::slab::Id,
    ) -> Result<u64, Rc> {
        let (start, end) = self.heap_range(frames.len() as u64 * PAGE_SIZE)?;
        self.check_free(start, end)?;
        let attrs = if writable {
            Attrs::USER_DATA
        } else {
            Attrs::USER_RODATA
        };
        let mut alloc = Charged::new(&mut self.frames);
        let (mapped, r) = self
            .table
            .map_pages(&mut alloc, VirtAddr(start), frames, attrs);
        if let Err(e) = r {
            let e = alloc.err(e);
            self.unmap_shared_pages(start, start + mapped as u64 * PAGE_SIZE);
            return Err(e);
        }
        if let Err(e) = self.insert(Region {
            start,
            end,
            kind: RegionKind::Shared(mdl),
        }) {
            self.unmap_shared_pages(start, end);
            return Err(e);
        }
        Ok(start)
    }

    /// Unmap the MDL mapping at `start` of `size` bytes; returns its MDL.
    pub fn unmap_shared(&mut self, start: u64, size: u64) -> Result<kernel_core::slab::Id, Rc> {
        let at = self
            .regions
            .iter()
            .position(|r| r.start == start && matches!(r.kind, RegionKind::Shared(_)))
            .ok_or(Rc::InvalidArgument)?;
        let r = self.regions[at];
        if round_up(size) != Some(r.end - r.start) {
            return Err(Rc::InvalidArgument);
        }
        self.unmap_shared_pages(r.start, r.end);
        self.regions.remove(at);
        match r.kind {
            RegionKind::Shared(m) => Ok(m),
            _ => Err(Rc::InvalidArgument),
        }
    }

    /// Unmap pages without freeing their frames (someone else owns them).
    fn unmap_shared_pages(&mut self, start: u64, end: u64) {
        self.unmap_range(start, end, false);
    }

    /// Copy `len` bytes from `src_va` here to `dst_va` in `dst` (which may
    /// be this space), page by page through both tables.
    pub fn copy_to(
        &self,
        src_va: u64,
        dst: &AddressSpace,
        dst_va: u64,
        len: u64,
    ) -> Result<(), Rc> {
        let mut done = 0u64;
        while done < len {
            let want = (len - done) as usize;
            let (s, n1) =
                self.user_page(src_va.checked_add(done).ok_or(Rc::BadAddress)?, want, false)?;
            let (d, n2) =
                dst.user_page(dst_va.checked_add(done).ok_or(Rc::BadAddress)?, n1, true)?;
            phys::copy(s, d, n2);
            done += n2 as u64;
        }
        Ok(())
    }

    /// Write `bytes` at `va` whatever the page's user permissions (it must
    /// be mapped): the kernel relocating an image it is loading.
    pub fn poke(&mut self, va: u64, bytes: &[u8]) -> Result<(), Rc> {
        let mut done = 0;
        while done < bytes.len() {
            let at = va.checked_add(done as u64).ok_or(Rc::BadAddress)?;
            let (pa, _) = self
                .table
                .translate(&mut FrameTables, VirtAddr(at))
                .ok_or(Rc::BadAddress)?;
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(bytes.len() - done);
            phys::write(phys::kva(pa), &bytes[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Read `buf.len()` bytes at `va` whatever the page's user permissions
    /// (it must be mapped): inspecting a frozen process.
    pub fn peek(&self, va: u64, buf: &mut [u8]) -> Result<(), Rc> {
        let mut done = 0;
        while done < buf.len() {
            let at = va.checked_add(done as u64).ok_or(Rc::BadAddress)?;
            let (pa, _) = self
                .table
                .translate(&mut FrameTables, VirtAddr(at))
                .ok_or(Rc::BadAddress)?;
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(buf.len() - done);
            phys::read(phys::kva(pa), &mut buf[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// User permissions of the page at `va` (R, W, X bits as `VmPerms`), if mapped.
    pub fn perms_at(&self, va: u64) -> Option<kos_abi::vm::VmPerms> {
        use kos_abi::vm::VmPerms;
        let (_, attrs) = self.table.translate(&mut FrameTables, VirtAddr(va))?;
        let mut p = match attrs.access {
            Access::UserRw => VmPerms::READ | VmPerms::WRITE,
            Access::UserRo => VmPerms::READ,
            _ => VmPerms::empty(),
        };
        if matches!(attrs.exec, kernel_core::paging::Exec::User) {
            p |= VmPerms::EXEC;
        }
        Some(p)
    }

    /// Copy `buf.len()` bytes from user address `va`, which must be user-readable.
    pub fn copy_in(&self, va: u64, buf: &mut [u8]) -> Result<(), Rc> {
        let mut done = 0;
        while done < buf.len() {
            let at = va.checked_add(done as u64).ok_or(Rc::BadAddress)?;
            let (src, n) = self.user_page(at, buf.len() - done, false)?;
            phys::read(src, &mut buf[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Copy `buf` to user address `va`, which must be user-writable.
    pub fn copy_out(&self, va: u64, buf: &[u8]) -> Result<(), Rc> {
        if buf.is_empty() {
            return Ok(());
        }
        // Within one page (the IPC path's usual case), one translation
        // both checks and finds it.
        let (dst, n) = self.user_page(va, buf.len(), true)?;
        if n == buf.len() {
            phys::write(dst, buf);
            return Ok(());
        }
        // Check the whole range first so a failure writes nothing.
        self.check_range(va, buf.len(), true)?;
        let mut done = 0;
        while done < buf.len() {
            let at = va + done as u64;
            let (dst, n) = self.user_page(at, buf.len() - done, true)?;
            phys::write(dst, &buf[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Whether `[va, va+len)` is mapped for user access (writable if asked).
    pub fn check_range(&self, va: u64, len: usize, write: bool) -> Result<(), Rc> {
        let end = va.checked_add(len as u64).ok_or(Rc::BadAddress)?;
        let mut at = va;
        while at < end {
            let (_, n) = self.user_page(at, (end - at) as usize, write)?;
            at += n as u64;
        }
        Ok(())
    }

    /// The kernel address of user address `va` and how many bytes (up to
    /// `want`) are left in its page, if `va` is user-accessible. (Inline:
    /// every checked copy of the IPC path makes one or two.)
    #[inline(always)]
    fn user_page(&self, va: u64, want: usize, write: bool) -> Result<(u64, usize), Rc> {
        if !(USER_MIN..USER_END).contains(&va) {
            return Err(Rc::BadAddress);
        }
        let offset = va % PAGE_SIZE;
        let left = ((PAGE_SIZE - offset) as usize).min(want);
        let vpn = va / PAGE_SIZE;
        if let Some(kva) = self.tlb.lookup(vpn, write) {
            return Ok((kva + offset, left));
        }
        let (pa, attrs) = self
            .table
            .translate(&mut FrameTables, VirtAddr(va))
            .ok_or(Rc::BadAddress)?;
        let writable = match attrs.access {
            Access::UserRw => true,
            Access::UserRo if !write => false,
            _ => return Err(Rc::BadAddress),
        };
        let kva = phys_to_virt(pa).0;
        self.tlb.insert(vpn, kva - offset, writable);
        Ok((kva, left))
    }

    /// Its process has ended: it stops counting against any budget (the
    /// table is never loaded again). `released` is called for each MDL it
    /// maps (its mappings no longer hold them). What is left, its ASID
    /// ([`Self::retire_asid`], once no core holds it), its own pages and
    /// tables ([`Self::teardown_step`]), goes after.
    pub fn bury(&mut self, mut released: impl FnMut(kernel_core::slab::Id)) {
        if let Some(a) = self.frames.account.take() {
            budget::uncharge(a, Kind::Memory, self.regions_kmem);
            budget::uncharge(a, Kind::Frames, self.frames.held as u64);
        }
        self.frames.held = 0;
        self.frames.limit = usize::MAX;
        // Their frames may soon be another's (once no core holds this
        // space: `Reclaim::run`): the teardown only clears their entries.
        for r in self.regions.iter() {
            if let RegionKind::Shared(m) = r.kind {
                released(m);
            }
        }
    }

    /// Its ASID is free again, its TLB entries flushed on every core: once
    /// no core's TTBR0 holds the table (a core that did could walk it
    /// again, speculatively, and refill them).
    pub fn retire_asid(&mut self) {
        if self.asid != 0 {
            user::flush_asid(self.asid);
            asid_free(self.asid);
            self.asid = 0;
        }
    }

    /// One step of taking a buried space apart: the last page of its last
    /// region is unmapped (and freed unless an MDL's), a table going with
    /// the last entry in it. True once no region is left.
    pub fn teardown_step(&mut self) -> bool {
        while let Some(r) = self.regions.last_mut() {
            if r.kind == RegionKind::Guard || r.start >= r.end {
                self.regions.pop();
                continue;
            }
            r.end -= PAGE_SIZE;
            let (va, owned) = (r.end, !matches!(r.kind, RegionKind::Shared(_)));
            let mut alloc = Charged::new(&mut self.frames);
            if let Ok(pa) = self.table.unmap(&mut alloc, VirtAddr(va), PageSize::Size4K)
                && owned
            {
                let _ = frames::free(pa);
            }
            return false;
        }
        true
    }

    /// Free everything: pages, tables, the ASID. Calls `released` for each
    /// MDL whose mapping went (the MDL owns those frames).
    pub fn destroy(mut self, mut released: impl FnMut(kernel_core::slab::Id)) {
        let regions = core::mem::take(&mut self.regions);
        if let Some(a) = self.frames.account {
            budget::uncharge(a, Kind::Memory, self.regions_kmem);
        }
        for r in regions.iter() {
            match r.kind {
                RegionKind::Guard => {}
                RegionKind::Shared(m) => {
                    self.unmap_shared_pages(r.start, r.end);
                    released(m);
                }
                _ => self.unmap_pages(r.start, r.end),
            }
        }
        let mut alloc = Charged::new(&mut self.frames);
        self.table.destroy(&mut alloc);
        // What is left are MDL buffers it made, which outlive it: they stop
        // counting against its budget now.
        let left = self.frames.held;
        self.frames.give(left);
        // A buried space gave its ASID back already.
        if self.asid != 0 {
            user::flush_asid(self.asid);
            asid_free(self.asid);
        }
    }
}

fn round_up(size: u64) -> Option<u64> {
    Some(size.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// 8-bit ASIDs (every AArch64 CPU has them); 0 is the kernel's empty space.
/// A freed ASID's TLB entries are flushed before it is handed out again.
static ASIDS: IrqLock<[u64; 4]> = IrqLock::new([1, 0, 0, 0]);

fn asid_alloc() -> Option<u16> {
    let mut map = ASIDS.lock();
    for (w, word) in map.iter_mut().enumerate() {
        if *word != u64::MAX {
            let bit = (!*word).trailing_zeros();
            *word |= 1 << bit;
            return Some((w * 64) as u16 + bit as u16);
        }
    }
    None
}

fn asid_free(asid: u16) {
    if asid != 0 {
        ASIDS.lock()[asid as usize / 64] &= !(1 << (asid % 64));
    }
}

/// What the gate reads a message through.
impl crate::gate::UserMemory for AddressSpace {
    fn copy_in(&self, va: u64, buf: &mut [u8]) -> Result<(), Rc> {
        AddressSpace::copy_in(self, va, buf)
    }

    fn check_range(&self, va: u64, len: usize, write: bool) -> Result<(), Rc> {
        AddressSpace::check_range(self, va, len, write)
    }
}
