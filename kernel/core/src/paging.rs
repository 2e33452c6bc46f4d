//! AArch64 VMSAv8-64 stage-1 translation tables: 4 KiB granule, 48-bit VA,
//! four levels (L0..L3), 1 GiB blocks at L1, 2 MiB blocks at L2.
//!
//! Table memory is reached through [`TableAlloc`], so the same code runs on
//! the host (tests) and in the kernel (frame allocator + linear map).
//!
//! The caller owns all barriers and TLB maintenance: after `map` publish the
//! stores (`DSB ISHST`) before the tables are used; after `unmap`/`protect`
//! invalidate the VA (`TLBI VAE1IS`, not the last-level-only `VALE1IS`,
//! because `unmap` may free intermediate tables) and `DSB ISH; ISB`.
//!
//! Invariants maintained here: no writable+executable mapping, no executable
//! device memory, and no empty intermediate table is left linked (failed
//! maps roll back, `unmap` prunes), so "a table where a block would go"
//! always means a real overlapping mapping.

use core::fmt;

use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr};

/// MAIR_EL1: Attr0 = Device-nGnRE, Attr1 = Normal WB-WA inner/outer
/// non-transient, Attr2 = Normal non-cacheable.
pub const MAIR_VALUE: u64 = 0x04 | (0xFF << 8) | (0x44 << 16);

/// Descriptors per table.
pub const ENTRIES: usize = 512;

const VALID: u64 = 1 << 0;
/// Bit 1: table (L0..L2) or page (L3); clear means block at L1/L2.
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDX_SHIFT: u32 = 2;
const ATTR_INDX_MASK: u64 = 0b111 << ATTR_INDX_SHIFT;
/// AP[1]: EL0 access allowed.
const AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only.
const AP_RO: u64 = 1 << 7;
const SH_INNER: u64 = 0b11 << 8;
const AF: u64 = 1 << 10;
const NG: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
/// Output address bits [47:12].
const OA_MASK: u64 = 0x0000_FFFF_FFFF_F000;
const PA_LIMIT: u64 = 1 << 48;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemType {
    Device,
    Normal,
    NormalNonCacheable,
}

impl MemType {
    /// Index into [`MAIR_VALUE`].
    pub const fn mair_index(self) -> u64 {
        match self {
            MemType::Device => 0,
            MemType::Normal => 1,
            MemType::NormalNonCacheable => 2,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// EL1 read/write, EL0 none (AP = 00).
    KernelRw,
    /// EL1 read-only, EL0 none (AP = 10).
    KernelRo,
    /// EL1 and EL0 read/write (AP = 01).
    UserRw,
    /// EL1 and EL0 read-only (AP = 11).
    UserRo,
}

impl Access {
    pub const fn is_writable(self) -> bool {
        matches!(self, Access::KernelRw | Access::UserRw)
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Exec {
    /// PXN = 1, UXN = 1.
    Never,
    /// PXN = 0, UXN = 1.
    Kernel,
    /// PXN = 1, UXN = 0: the kernel never executes user pages.
    User,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attrs {
    pub mem: MemType,
    pub access: Access,
    pub exec: Exec,
    pub global: bool,
}

impl Attrs {
    pub const KERNEL_TEXT: Attrs =
        Attrs::new(MemType::Normal, Access::KernelRo, Exec::Kernel, true);
    pub const KERNEL_RODATA: Attrs =
        Attrs::new(MemType::Normal, Access::KernelRo, Exec::Never, true);
    pub const KERNEL_DATA: Attrs = Attrs::new(MemType::Normal, Access::KernelRw, Exec::Never, true);
    pub const DEVICE: Attrs = Attrs::new(MemType::Device, Access::KernelRw, Exec::Never, true);
    /// User mappings are non-global: they belong to one ASID.
    pub const USER_TEXT: Attrs = Attrs::new(MemType::Normal, Access::UserRo, Exec::User, false);
    pub const USER_RODATA: Attrs = Attrs::new(MemType::Normal, Access::UserRo, Exec::Never, false);
    pub const USER_DATA: Attrs = Attrs::new(MemType::Normal, Access::UserRw, Exec::Never, false);

    pub const fn new(mem: MemType, access: Access, exec: Exec, global: bool) -> Attrs {
        Attrs {
            mem,
            access,
            exec,
            global,
        }
    }

    /// Enforce W^X and never-executable device memory.
    pub const fn validate(self) -> Result<(), PagingError> {
        let exec = !matches!(self.exec, Exec::Never);
        if exec && self.access.is_writable() {
            return Err(PagingError::WritableExecutable);
        }
        if exec && matches!(self.mem, MemType::Device) {
            return Err(PagingError::DeviceExecutable);
        }
        Ok(())
    }

    /// Lower and upper attribute bits of a block/page descriptor (AF set,
    /// NS clear).
    pub const fn bits(self) -> u64 {
        let mut b = (self.mem.mair_index() << ATTR_INDX_SHIFT) | AF;
        b |= match self.access {
            Access::KernelRw => 0,
            Access::KernelRo => AP_RO,
            Access::UserRw => AP_EL0,
            Access::UserRo => AP_RO | AP_EL0,
        };
        // Device shareability is ignored by hardware; leave it 00.
        if !matches!(self.mem, MemType::Device) {
            b |= SH_INNER;
        }
        if !self.global {
            b |= NG;
        }
        b | match self.exec {
            Exec::Never => PXN | UXN,
            Exec::Kernel => UXN,
            Exec::User => PXN,
        }
    }

    /// Inverse of [`Attrs::bits`]. Encodings this module never produces are
    /// mapped conservatively: unknown AttrIndx reads as `Device`, and
    /// PXN = UXN = 0 reads as `Exec::User`.
    pub const fn from_bits(desc: u64) -> Attrs {
        let mem = match (desc & ATTR_INDX_MASK) >> ATTR_INDX_SHIFT {
            1 => MemType::Normal,
            2 => MemType::NormalNonCacheable,
            _ => MemType::Device,
        };
        let access = match (desc & AP_RO != 0, desc & AP_EL0 != 0) {
            (false, false) => Access::KernelRw,
            (true, false) => Access::KernelRo,
            (false, true) => Access::UserRw,
            (true, true) => Access::UserRo,
        };
        let exec = match (desc & PXN != 0, desc & UXN != 0) {
            (true, true) => Exec::Never,
            (false, true) => Exec::Kernel,
            _ => Exec::User,
        };
        Attrs {
            mem,
            access,
            exec,
            global: desc & NG == 0,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum PageSize {
    /// L3 page.
    Size4K,
    /// L2 block.
    Size2M,
    /// L1 block.
    Size1G,
}

impl PageSize {
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => PAGE_SIZE,
            PageSize::Size2M => 2 << 20,
            PageSize::Size1G => 1 << 30,
        }
    }

    /// Table level holding the leaf descriptor.
    pub const fn level(self) -> u8 {
        match self {
            PageSize::Size4K => 3,
            PageSize::Size2M => 2,
            PageSize::Size1G => 1,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PagingError {
    Misaligned,
    AlreadyMapped,
    NotMapped,
    OutOfMemory,
    NonCanonical,
    /// Physical address beyond the 48-bit output range.
    PhysOutOfRange,
    WritableExecutable,
    DeviceExecutable,
}

impl fmt::Display for PagingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PagingError::Misaligned => "paging: address or length misaligned",
            PagingError::AlreadyMapped => "paging: range already mapped",
            PagingError::NotMapped => "paging: no mapping of that size",
            PagingError::OutOfMemory => "paging: out of memory for tables",
            PagingError::NonCanonical => "paging: non-canonical virtual address",
            PagingError::PhysOutOfRange => "paging: physical address beyond 48 bits",
            PagingError::WritableExecutable => "paging: writable and executable (W^X)",
            PagingError::DeviceExecutable => "paging: executable device memory",
        })
    }
}

/// Decoded descriptor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DescKind {
    Invalid,
    Table(PhysAddr),
    Block { pa: PhysAddr, attrs: Attrs },
    Page { pa: PhysAddr, attrs: Attrs },
}

/// L3 page descriptor.
pub const fn page_desc(pa: PhysAddr, attrs: Attrs) -> u64 {
    (pa.0 & OA_MASK) | attrs.bits() | TABLE_OR_PAGE | VALID
}

/// L1/L2 block descriptor.
pub const fn block_desc(pa: PhysAddr, attrs: Attrs) -> u64 {
    (pa.0 & OA_MASK) | attrs.bits() | VALID
}

/// L0..L2 table descriptor (no hierarchical attribute restrictions).
pub const fn table_desc(pa: PhysAddr) -> u64 {
    (pa.0 & OA_MASK) | TABLE_OR_PAGE | VALID
}

/// Interpret `desc` found in a table at `level` (0..=3). Blocks at L0 and
/// 0b01 at L3 are reserved encodings and decode as `Invalid`.
pub const fn decode(desc: u64, level: u8) -> DescKind {
    let pa = PhysAddr(desc & OA_MASK);
    match (desc & 0b11, level) {
        (0b11, 0..=2) => DescKind::Table(pa),
        (0b11, 3) => DescKind::Page {
            pa,
            attrs: Attrs::from_bits(desc),
        },
        (0b01, 1 | 2) => DescKind::Block {
            pa,
            attrs: Attrs::from_bits(desc),
        },
        _ => DescKind::Invalid,
    }
}

/// Bits 63:48 all zero (TTBR0) or all one (TTBR1).
pub const fn is_canonical(va: VirtAddr) -> bool {
    matches!(va.0 >> 48, 0 | 0xFFFF)
}

/// Source and sink of translation-table frames.
pub trait TableAlloc {
    /// Allocate a zeroed 4 KiB table; returns its physical address. The
    /// zeroing must be visible to the table walker before it is linked.
    fn alloc_table(&mut self) -> Option<PhysAddr>;
    /// Release a table. `unmap` calls this before the caller's TLB
    /// invalidation, so walk caches may still reference the frame: do not
    /// reuse it for other purposes until that invalidation is done.
    fn free_table(&mut self, pa: PhysAddr);
    /// The table at `pa` as 512 descriptors.
    fn table(&mut self, pa: PhysAddr) -> &mut [u64; 512];
}

const fn shift(level: u8) -> u32 {
    39 - 9 * level as u32
}

const fn index(va: u64, level: u8) -> usize {
    ((va >> shift(level)) & (ENTRIES as u64 - 1)) as usize
}

const fn is_leaf(desc: u64, level: u8) -> bool {
    match level {
        1 | 2 => desc & 0b11 == 0b01,
        3 => desc & 0b11 == 0b11,
        _ => false,
    }
}

/// Whether `table` has a valid entry, `cleared` (just zeroed) aside. Its
/// neighbours are looked at first: unmapping a range in either direction
/// finds one at once, so a whole scan (512 entries) is left for an entry
/// whose neighbours are both empty, as the last of a range is.
fn in_use(table: &[u64; ENTRIES], cleared: usize) -> bool {
    let near = [cleared.wrapping_sub(1), cleared + 1];
    near.iter().any(|&i| table.get(i).is_some_and(|&d| d != 0)) || table.iter().any(|&d| d != 0)
}

/// Split `[va, va+len)` into the largest blocks both addresses allow.
struct Chunks {
    va: u64,
    pa: u64,
    left: u64,
}

impl Iterator for Chunks {
    type Item = (VirtAddr, PhysAddr, PageSize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let size = [PageSize::Size1G, PageSize::Size2M, PageSize::Size4K]
            .into_iter()
            .find(|s| {
                let b = s.bytes();
                (self.va | self.pa) & (b - 1) == 0 && self.left >= b
            })?;
        let item = (VirtAddr(self.va), PhysAddr(self.pa), size);
        let b = size.bytes();
        // The caller checked that the whole range fits; the final step may
        // wrap `va` to 0 at the very top of the upper half.
        self.va = self.va.wrapping_add(b);
        self.pa += b;
        self.left -= b;
        Some(item)
    }
}

/// One translation regime's tables, identified by the root (L0) table.
///
/// The table does not know whether it serves TTBR0 or TTBR1: bits 63:48
/// only pass the canonical check, so use one `PageTable` per half.
#[derive(Debug, PartialEq, Eq)]
pub struct PageTable {
    root: PhysAddr,
}

impl PageTable {
    /// Allocate an empty root table.
    pub fn new<A: TableAlloc + ?Sized>(alloc: &mut A) -> Result<Self, PagingError> {
        let root = alloc.alloc_table().ok_or(PagingError::OutOfMemory)?;
        Ok(PageTable { root })
    }

    /// Adopt existing tables rooted at `root`.
    pub const fn from_root(root: PhysAddr) -> Self {
        PageTable { root }
    }

    /// Physical address of the L0 table (for TTBRn_EL1).
    pub const fn root(&self) -> PhysAddr {
        self.root
    }

    /// Map one page or block. Fails without side effects on any error.
    pub fn map<A: TableAlloc + ?Sized>(
        &mut self,
        alloc: &mut A,
        va: VirtAddr,
        pa: PhysAddr,
        size: PageSize,
        attrs: Attrs,
    ) -> Result<(), PagingError> {
        attrs.validate()?;
        check_va(va, size)?;
        if !pa.is_aligned(size.bytes()) {
            return Err(PagingError::Misaligned);
        }
        if pa.0 >= PA_LIMIT {
            return Err(PagingError::PhysOutOfRange);
        }
        let level = size.level();
        let table = self.walk_create(alloc, va.0, level)?;
        let slot = &mut alloc.table(table)[index(va.0, level)];
        // A valid slot is a leaf or a non-empty table: both overlap.
        if *slot & VALID != 0 {
            return Err(PagingError::AlreadyMapped);
        }
        *slot = match size {
            PageSize::Size4K => page_desc(pa, attrs),
            _ => block_desc(pa, attrs),
        };
        Ok(())
    }

    /// Map `len` bytes (a multiple of 4 KiB) using the largest blocks that
    /// the alignment of both `va` and `pa` allows. On error, everything this
    /// call mapped is unmapped again.
    pub fn map_range<A: TableAlloc + ?Sized>(
        &mut self,
        alloc: &mut A,
        va: VirtAddr,
        pa: PhysAddr,
        len: u64,
        attrs: Attrs,
    ) -> Result<(), PagingError> {
        attrs.validate()?;
        if !va.is_aligned(PAGE_SIZE) || !pa.is_aligned(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE)
        {
            return Err(PagingError::Misaligned);
        }
        if len == 0 {
            return Ok(());
        }
        let last = va.0.checked_add(len - 1).ok_or(PagingError::NonCanonical)?;
        // Both ends canonical and in the same half.
        if !is_canonical(va) || va.0 >> 48 != last >> 48 {
            return Err(PagingError::NonCanonical);
        }
        match pa.0.checked_add(len - 1) {
            Some(end) if end < PA_LIMIT => {}
            _ => return Err(PagingError::PhysOutOfRange),
        }
        let chunks = || Chunks {
            va: va.0,
            pa: pa.0,
            left: len,
        };
        for (i, (cva, cpa, size)) in chunks().enumerate() {
            if let Err(e) = self.map(alloc, cva, cpa, size, attrs) {
                for (cva, _, size) in chunks().take(i) {
                    let _ = self.unmap(alloc, cva, size);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Remove the mapping of exactly `size` at `va`, returning its physical
    /// address. Intermediate tables left empty are freed (never the root),
    /// see [`TableAlloc::free_table`] for the TLB consequence.
    pub fn unmap<A: TableAlloc + ?Sized>(
        &mut self,
        alloc: &mut A,
        va: VirtAddr,
        size: PageSize,
    ) -> Result<PhysAddr, PagingError> {
        check_va(va, size)?;
        let level = size.level();
        let path = self.walk(alloc, va.0, level)?;
        let leaf = path[level as usize];
        let desc = alloc.table(leaf)[index(va.0, level)];
        if !is_leaf(desc, level) {
            return Err(PagingError::NotMapped);
        }
        alloc.table(leaf)[index(va.0, level)] = 0;
        for l in (1..=level).rev() {
            let table = path[l as usize];
            if in_use(alloc.table(table), index(va.0, l)) {
                break;
            }
            alloc.table(path[l as usize - 1])[index(va.0, l - 1)] = 0;
            alloc.free_table(table);
        }
        Ok(PhysAddr(desc & OA_MASK))
    }

    /// Map 4 KiB pages of `pas` in turn from `va` on, walking the tables
    /// once per last-level table rather than once per page (mapping an
    /// MDL of 4096 frames). Returns how many were mapped: all of them, or
    /// those before the first error, with the error (the caller unmaps
    /// what it keeps no use for).
    pub fn map_pages<A: TableAlloc + ?Sized>(
        &mut self,
        alloc: &mut A,
        va: VirtAddr,
        pas: &[PhysAddr],
        attrs: Attrs,
    ) -> (usize, Result<(), PagingError>) {
        if let Err(e) = attrs.validate() {
            return (0, Err(e));
        }
        let mut done = 0;
        while done < pas.len() {
            let at = va.0 + done as u64 * PAGE_SIZE;
            if let Err(e) = check_va(VirtAddr(at), PageSize::Size4K) {
                return (done, Err(e));
            }
            let table = match self.walk_create(alloc, at, 3) {
                Ok(t) => t,
                Err(e) => return (done, Err(e)),
            };
            let entries = alloc.table(table);
            let first = index(at, 3);
            for slot in entries[first..].iter_mut() {
                let Some(&pa) = pas.get(done) else {
                    break;
                };
                if !pa.is_aligned(PAGE_SIZE) || pa.0 >= PA_LIMIT {
                    return (done, Err(PagingError::Misaligned));
                }
                if *slot & VALID != 0 {
                    return (done, Err(PagingError::AlreadyMapped));
                }
                *slot = page_desc(pa, attrs);
                done += 1;
            }
        }
        (done, Ok(()))
    }

    /// Unmap the 4 KiB pages of `[va, va + count * 4 KiB)` that are mapped
    /// (others are skipped), walking the tables once per last-level table;
    /// `unmapped` gets each page's address and frame. Tables left empty are
    /// freed, as by [`PageTable::unmap`].
    pub fn unmap_pages<A: TableAlloc + ?Sized>(
        &mut self,
        alloc: &mut A,
        va: VirtAddr,
        count: u64,
        mut unmapped: impl FnMut(u64, PhysAddr),
    ) {
        let end = va.0.saturating_add(count.saturating_mul(PAGE_SIZE));
        let mut at = va.0;
        while at < end {
            // The rest of this last-level table's span.
            let span_end = (at | (ENTRIES as u64 * PAGE_SIZE - 1))
                .saturating_add(1)
                .min(end);
            let Ok(path) = self.walk(alloc, at, 3) else {
                at = span_end;
                continue;
            };
            let leaf = path[3];
            let entries = alloc.table(leaf);
            let mut cleared = None;
            for (i, slot) in entries
                .iter_mut()
                .enumerate()
                .take(index(span_end - PAGE_SIZE, 3) + 1)
                .skip(index(at, 3))
            {
                if is_leaf(*slot, 3) {
                    let pa = PhysAddr(*slot & OA_MASK);
                    *slot = 0;
                    unmapped(
                        (at & !(ENTRIES as u64 * PAGE_SIZE - 1)) + i as u64 * PAGE_SIZE,
                        pa,
                    );
                    cleared = Some(i);
                }
            }
            if let Some(i) = cleared {
                // Free what is left empty, upwards, as `unmap` does.
                for l in (1..=3u8).rev() {
                    let table = path[l as usize];
                    let idx = if l == 3 { i } else { index(at, l) };
                    if in_use(alloc.table(table), idx) {
                        break;
                    }
                    alloc.table(path[l as usize - 1])[index(at, l - 1)] = 0;
                    alloc.free_table(table);
                }
            }
            at = span_end;
        }
    }

    /// Replace the attributes of the existing `size` mapping at `va`.
    ///
    /// The descriptor is rewritten in place. Changing memory type or
    /// shareability of a live mapping needs break-before-make: in that case
    /// `unmap`, invalidate, then `map` instead.
    pub fn protect<A: TableAlloc + ?Sized>(
        &mut self,
        alloc: &mut A,
        va: VirtAddr,
        size: PageSize,
        attrs: Attrs,
    ) -> Result<(), PagingError> {
        attrs.validate()?;
        check_va(va, size)?;
        let level = size.level();
        let path = self.walk(alloc, va.0, level)?;
        let slot = &mut alloc.table(path[level as usize])[index(va.0, level)];
        if !is_leaf(*slot, level) {
            return Err(PagingError::NotMapped);
        }
        let pa = PhysAddr(*slot & OA_MASK);
        *slot = match size {
            PageSize::Size4K => page_desc(pa, attrs),
            _ => block_desc(pa, attrs),
        };
        Ok(())
    }

    /// Physical address (including the offset within the page or block)
    /// and attributes for `va`, if mapped.
    pub fn translate<A: TableAlloc + ?Sized>(
        &self,
        alloc: &mut A,
        va: VirtAddr,
    ) -> Option<(PhysAddr, Attrs)> {
        if !is_canonical(va) {
            return None;
        }
        let mut table = self.root;
        for level in 0..=3 {
            match decode(alloc.table(table)[index(va.0, level)], level) {
                DescKind::Invalid => return None,
                DescKind::Table(next) => table = next,
                DescKind::Block { pa, attrs } | DescKind::Page { pa, attrs } => {
                    let offset = va.0 & ((1 << shift(level)) - 1);
                    return Some((PhysAddr(pa.0 | offset), attrs));
                }
            }
        }
        None
    }

    /// Free every table reachable from the root, including the root. Mapped
    /// frames are not touched. The same TLB caveat as `unmap` applies.
    pub fn destroy<A: TableAlloc + ?Sized>(self, alloc: &mut A) {
        free_subtree(alloc, self.root, 0);
    }

    /// Tables from the root down to `target`; every level above `target`
    /// must be a table descriptor.
    fn walk<A: TableAlloc + ?Sized>(
        &self,
        alloc: &mut A,
        va: u64,
        target: u8,
    ) -> Result<[PhysAddr; 4], PagingError> {
        let mut path = [self.root; 4];
        for level in 0..target {
            match decode(alloc.table(path[level as usize])[index(va, level)], level) {
                DescKind::Table(next) => path[level as usize + 1] = next,
                // Missing, or a block of another size covers `va`.
                _ => return Err(PagingError::NotMapped),
            }
        }
        Ok(path)
    }

    /// Like `walk`, creating missing tables. On allocation failure the
    /// tables created by this call are unlinked and freed again.
    fn walk_create<A: TableAlloc + ?Sized>(
        &mut self,
        alloc: &mut A,
        va: u64,
        target: u8,
    ) -> Result<PhysAddr, PagingError> {
        let mut table = self.root;
        let mut created = [(PhysAddr(0), 0usize, PhysAddr(0)); 3];
        let mut n = 0;
        for level in 0..target {
            let idx = index(va, level);
            table = match decode(alloc.table(table)[idx], level) {
                DescKind::Table(next) => next,
                DescKind::Invalid => {
                    let Some(new) = alloc.alloc_table() else {
                        for &(parent, i, child) in created[..n].iter().rev() {
                            alloc.table(parent)[i] = 0;
                            alloc.free_table(child);
                        }
                        return Err(PagingError::OutOfMemory);
                    };
                    debug_assert!(alloc.table(new).iter().all(|&d| d == 0));
                    alloc.table(table)[idx] = table_desc(new);
                    created[n] = (table, idx, new);
                    n += 1;
                    new
                }
                // A larger block already covers `va`.
                _ => return Err(PagingError::AlreadyMapped),
            };
        }
        Ok(table)
    }
}

fn check_va(va: VirtAddr, size: PageSize) -> Result<(), PagingError> {
    if !is_canonical(va) {
        return Err(PagingError::NonCanonical);
    }
    if !va.is_aligned(size.bytes()) {
        return Err(PagingError::Misaligned);
    }
    Ok(())
}

fn free_subtree<A: TableAlloc + ?Sized>(alloc: &mut A, table: PhysAddr, level: u8) {
    for i in 0..ENTRIES {
        if let DescKind::Table(next) = decode(alloc.table(table)[i], level) {
            free_subtree(alloc, next, level + 1);
        }
    }
    alloc.free_table(table);
}

#[cfg(test)]
mod tests;
