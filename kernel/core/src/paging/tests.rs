use std::collections::HashMap;

use super::*;

/// Host stand-in for the kernel's table frames.
struct FakeMem {
    tables: HashMap<u64, Box<[u64; 512]>>,
    next: u64,
    /// Maximum number of live tables.
    limit: usize,
}

impl FakeMem {
    fn new() -> Self {
        Self::with_limit(usize::MAX)
    }

    fn with_limit(limit: usize) -> Self {
        FakeMem {
            tables: HashMap::new(),
            next: 0x4000_0000,
            limit,
        }
    }

    fn live(&self) -> usize {
        self.tables.len()
    }
}

impl TableAlloc for FakeMem {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        if self.tables.len() >= self.limit {
            return None;
        }
        let pa = self.next;
        self.next += PAGE_SIZE;
        self.tables.insert(pa, Box::new([0; 512]));
        Some(PhysAddr(pa))
    }

    fn free_table(&mut self, pa: PhysAddr) {
        self.tables.remove(&pa.0).expect("double free of table");
    }

    fn table(&mut self, pa: PhysAddr) -> &mut [u64; 512] {
        self.tables.get_mut(&pa.0).expect("access to a freed table")
    }
}

const K4: u64 = 4 << 10;
const M2: u64 = 2 << 20;
const G1: u64 = 1 << 30;
const UPPER: u64 = 0xFFFF_0000_0000_0000;

fn setup() -> (FakeMem, PageTable) {
    let mut mem = FakeMem::new();
    let pt = PageTable::new(&mut mem).unwrap();
    (mem, pt)
}

/// Level of the leaf descriptor mapping `va`.
fn leaf_level(mem: &mut FakeMem, pt: &PageTable, va: u64) -> Option<u8> {
    let mut table = pt.root();
    for level in 0..=3 {
        match decode(mem.table(table)[index(va, level)], level) {
            DescKind::Invalid => return None,
            DescKind::Table(t) => table = t,
            _ => return Some(level),
        }
    }
    None
}

fn all_attrs() -> Vec<Attrs> {
    let mut v = Vec::new();
    for mem in [
        MemType::Device,
        MemType::Normal,
        MemType::NormalNonCacheable,
    ] {
        for access in [
            Access::KernelRw,
            Access::KernelRo,
            Access::UserRw,
            Access::UserRo,
        ] {
            for exec in [Exec::Never, Exec::Kernel, Exec::User] {
                for global in [false, true] {
                    v.push(Attrs::new(mem, access, exec, global));
                }
            }
        }
    }
    v
}

#[test]
fn mair_layout() {
    assert_eq!(MAIR_VALUE, 0x44_FF_04);
    for mem in [
        MemType::Device,
        MemType::Normal,
        MemType::NormalNonCacheable,
    ] {
        let attr = (MAIR_VALUE >> (8 * mem.mair_index())) & 0xff;
        let want = match mem {
            MemType::Device => 0x04,
            MemType::Normal => 0xff,
            MemType::NormalNonCacheable => 0x44,
        };
        assert_eq!(attr, want);
    }
}

#[test]
fn descriptor_bits_match_arm_arm() {
    let field = |d: u64, hi: u32, lo: u32| (d >> lo) & ((1 << (hi - lo + 1)) - 1);
    let pa = PhysAddr(0x0000_8765_4321_0000);

    let d = page_desc(pa, Attrs::KERNEL_DATA);
    assert_eq!(d, 0x0060_8765_4321_0707);
    assert_eq!(field(d, 1, 0), 0b11);
    assert_eq!(field(d, 4, 2), 1, "AttrIndx");
    assert_eq!(field(d, 5, 5), 0, "NS");
    assert_eq!(field(d, 7, 6), 0b00, "AP");
    assert_eq!(field(d, 9, 8), 0b11, "SH");
    assert_eq!(field(d, 10, 10), 1, "AF");
    assert_eq!(field(d, 11, 11), 0, "nG");
    assert_eq!(field(d, 47, 12) << 12, pa.0);
    assert_eq!(field(d, 53, 53), 1, "PXN");
    assert_eq!(field(d, 54, 54), 1, "UXN");

    let d = page_desc(pa, Attrs::USER_TEXT);
    assert_eq!(field(d, 7, 6), 0b11);
    assert_eq!(field(d, 11, 11), 1);
    assert_eq!((field(d, 53, 53), field(d, 54, 54)), (1, 0));

    let d = page_desc(pa, Attrs::KERNEL_TEXT);
    assert_eq!(field(d, 7, 6), 0b10);
    assert_eq!((field(d, 53, 53), field(d, 54, 54)), (0, 1));

    let d = page_desc(pa, Attrs::USER_DATA);
    assert_eq!(field(d, 7, 6), 0b01);

    let d = block_desc(pa, Attrs::DEVICE);
    assert_eq!(field(d, 1, 0), 0b01);
    assert_eq!(field(d, 4, 2), 0);
    assert_eq!(field(d, 9, 8), 0b00, "device SH");
    assert_eq!(field(d, 10, 10), 1);

    let nc = Attrs::new(
        MemType::NormalNonCacheable,
        Access::KernelRw,
        Exec::Never,
        true,
    );
    let d = page_desc(pa, nc);
    assert_eq!(field(d, 4, 2), 2);
    assert_eq!(field(d, 9, 8), 0b11);

    assert_eq!(table_desc(pa), pa.0 | 0b11);
    // Address bits outside [47:12] never leak into the descriptor.
    assert_eq!(table_desc(PhysAddr(u64::MAX)), OA_MASK | 0b11);
    assert_eq!(
        page_desc(PhysAddr(0x1fff), Attrs::KERNEL_DATA) & OA_MASK,
        0x1000
    );
}

#[test]
fn decode_round_trips() {
    let pa = PhysAddr(0x0000_1234_4000_0000);
    for attrs in all_attrs().into_iter().filter(|a| a.validate().is_ok()) {
        assert_eq!(
            decode(page_desc(pa, attrs), 3),
            DescKind::Page { pa, attrs }
        );
        for level in [1, 2] {
            assert_eq!(
                decode(block_desc(pa, attrs), level),
                DescKind::Block { pa, attrs }
            );
        }
        // Reserved encodings.
        assert_eq!(decode(block_desc(pa, attrs), 0), DescKind::Invalid);
        assert_eq!(decode(block_desc(pa, attrs), 3), DescKind::Invalid);
    }
    for level in 0..=2 {
        assert_eq!(decode(table_desc(pa), level), DescKind::Table(pa));
    }
    assert_eq!(decode(0, 2), DescKind::Invalid);
    assert_eq!(decode(pa.0 | 0b10, 3), DescKind::Invalid);
    assert_eq!(decode(table_desc(pa), 4), DescKind::Invalid);
}

#[test]
fn attrs_validation() {
    for a in all_attrs() {
        let exec = a.exec != Exec::Never;
        let want = if exec && a.access.is_writable() {
            Err(PagingError::WritableExecutable)
        } else if exec && a.mem == MemType::Device {
            Err(PagingError::DeviceExecutable)
        } else {
            Ok(())
        };
        assert_eq!(a.validate(), want, "{a:?}");
    }
    for a in [
        Attrs::KERNEL_TEXT,
        Attrs::KERNEL_RODATA,
        Attrs::KERNEL_DATA,
        Attrs::DEVICE,
        Attrs::USER_TEXT,
        Attrs::USER_RODATA,
        Attrs::USER_DATA,
    ] {
        assert_eq!(a.validate(), Ok(()));
    }
    const { assert!(Attrs::KERNEL_TEXT.global && Attrs::DEVICE.global && !Attrs::USER_DATA.global) };
}

#[test]
fn map_translate_unmap_each_size_both_halves() {
    for half in [0, UPPER] {
        for (size, va, pa) in [
            (PageSize::Size4K, 0x1234_5000, 0x8_0000_1000),
            (PageSize::Size2M, 0x40_0000, 0x20_0000),
            (PageSize::Size1G, 0x80_4000_0000, 0x1_4000_0000),
        ] {
            let (mut mem, mut pt) = setup();
            let va = VirtAddr(half | va);
            pt.map(&mut mem, va, PhysAddr(pa), size, Attrs::KERNEL_DATA)
                .unwrap();
            assert_eq!(leaf_level(&mut mem, &pt, va.0), Some(size.level()));
            let last = size.bytes() - 8;
            assert_eq!(
                pt.translate(&mut mem, VirtAddr(va.0 + last)),
                Some((PhysAddr(pa + last), Attrs::KERNEL_DATA))
            );
            assert_eq!(pt.translate(&mut mem, VirtAddr(va.0 + size.bytes())), None);
            assert_eq!(pt.translate(&mut mem, VirtAddr(va.0 - 1)), None);
            assert_eq!(pt.unmap(&mut mem, va, size), Ok(PhysAddr(pa)));
            assert_eq!(pt.translate(&mut mem, va), None);
            // Empty intermediate tables were pruned: only the root is left.
            assert_eq!(mem.live(), 1);
            assert!(mem.table(pt.root()).iter().all(|&d| d == 0));
        }
    }
}

#[test]
fn upper_half_top_page() {
    let (mut mem, mut pt) = setup();
    let va = VirtAddr(!0xfff);
    pt.map(
        &mut mem,
        va,
        PhysAddr(0x5000),
        PageSize::Size4K,
        Attrs::KERNEL_RODATA,
    )
    .unwrap();
    assert_eq!(
        pt.translate(&mut mem, VirtAddr(u64::MAX)),
        Some((PhysAddr(0x5fff), Attrs::KERNEL_RODATA))
    );
    assert_eq!(index(va.0, 0), 511);
}

#[test]
fn non_canonical_rejected() {
    let (mut mem, mut pt) = setup();
    for va in [
        0x0001_0000_0000_0000,
        0x8000_0000_0000_0000,
        0xFFFE_0000_0000_0000,
    ] {
        let va = VirtAddr(va);
        assert!(!is_canonical(va));
        let a = Attrs::KERNEL_DATA;
        assert_eq!(
            pt.map(&mut mem, va, PhysAddr(0), PageSize::Size4K, a),
            Err(PagingError::NonCanonical)
        );
        assert_eq!(
            pt.unmap(&mut mem, va, PageSize::Size4K),
            Err(PagingError::NonCanonical)
        );
        assert_eq!(pt.translate(&mut mem, va), None);
        assert_eq!(
            pt.map_range(&mut mem, va, PhysAddr(0), K4, a),
            Err(PagingError::NonCanonical)
        );
    }
    // A range running off the end of the lower half.
    assert_eq!(
        pt.map_range(
            &mut mem,
            VirtAddr(0xFFFF_FFFF_F000),
            PhysAddr(0),
            2 * K4,
            Attrs::KERNEL_DATA
        ),
        Err(PagingError::NonCanonical)
    );
    assert_eq!(mem.live(), 1);
}

#[test]
fn misaligned_rejected() {
    let (mut mem, mut pt) = setup();
    let a = Attrs::KERNEL_DATA;
    let cases = [
        (0x1001, 0x0, PageSize::Size4K),
        (0x0, 0x10, PageSize::Size4K),
        (0x1000, 0x0, PageSize::Size2M),
        (0x20_0000, 0x1000, PageSize::Size2M),
        (0x20_0000, 0x0, PageSize::Size1G),
        (0x4000_0000, 0x20_0000, PageSize::Size1G),
    ];
    for (va, pa, size) in cases {
        assert_eq!(
            pt.map(&mut mem, VirtAddr(va), PhysAddr(pa), size, a),
            Err(PagingError::Misaligned)
        );
    }
    assert_eq!(
        pt.unmap(&mut mem, VirtAddr(0x1000), PageSize::Size2M),
        Err(PagingError::Misaligned)
    );
    assert_eq!(
        pt.map_range(&mut mem, VirtAddr(0), PhysAddr(0), 0x1800, a),
        Err(PagingError::Misaligned)
    );
    assert_eq!(
        pt.map(
            &mut mem,
            VirtAddr(0),
            PhysAddr(1 << 48),
            PageSize::Size4K,
            a
        ),
        Err(PagingError::PhysOutOfRange)
    );
    assert_eq!(
        pt.map_range(&mut mem, VirtAddr(0), PhysAddr((1 << 48) - K4), 2 * K4, a),
        Err(PagingError::PhysOutOfRange)
    );
    assert_eq!(mem.live(), 1);
}

#[test]
fn wx_and_device_exec_rejected_without_side_effects() {
    let (mut mem, mut pt) = setup();
    let bad = [
        (
            Attrs::new(MemType::Normal, Access::KernelRw, Exec::Kernel, true),
            PagingError::WritableExecutable,
        ),
        (
            Attrs::new(MemType::Normal, Access::UserRw, Exec::User, false),
            PagingError::WritableExecutable,
        ),
        (
            Attrs::new(MemType::Normal, Access::UserRw, Exec::Kernel, false),
            PagingError::WritableExecutable,
        ),
        (
            Attrs::new(MemType::Device, Access::KernelRo, Exec::Kernel, true),
            PagingError::DeviceExecutable,
        ),
    ];
    for (a, e) in bad {
        assert_eq!(
            pt.map(
                &mut mem,
                VirtAddr(0x1000),
                PhysAddr(0x1000),
                PageSize::Size4K,
                a
            ),
            Err(e)
        );
        assert_eq!(
            pt.map_range(&mut mem, VirtAddr(0x1000), PhysAddr(0x1000), K4, a),
            Err(e)
        );
    }
    assert_eq!(mem.live(), 1);
    pt.map(
        &mut mem,
        VirtAddr(0x1000),
        PhysAddr(0x1000),
        PageSize::Size4K,
        Attrs::USER_DATA,
    )
    .unwrap();
    let wx = Attrs::new(MemType::Normal, Access::UserRw, Exec::User, false);
    assert_eq!(
        pt.protect(&mut mem, VirtAddr(0x1000), PageSize::Size4K, wx),
        Err(PagingError::WritableExecutable)
    );
    assert_eq!(
        pt.translate(&mut mem, VirtAddr(0x1000)).unwrap().1,
        Attrs::USER_DATA
    );
}

#[test]
fn already_mapped_overlaps() {
    let (mut mem, mut pt) = setup();
    let a = Attrs::KERNEL_DATA;
    pt.map(
        &mut mem,
        VirtAddr(0x20_1000),
        PhysAddr(0x1000),
        PageSize::Size4K,
        a,
    )
    .unwrap();
    let tables = mem.live();
    // Same page again.
    assert_eq!(
        pt.map(
            &mut mem,
            VirtAddr(0x20_1000),
            PhysAddr(0x2000),
            PageSize::Size4K,
            a
        ),
        Err(PagingError::AlreadyMapped)
    );
    // A 2M block where a table with a live page sits.
    assert_eq!(
        pt.map(
            &mut mem,
            VirtAddr(0x20_0000),
            PhysAddr(0),
            PageSize::Size2M,
            a
        ),
        Err(PagingError::AlreadyMapped)
    );
    // A 1G block over the same.
    assert_eq!(
        pt.map(&mut mem, VirtAddr(0), PhysAddr(0), PageSize::Size1G, a),
        Err(PagingError::AlreadyMapped)
    );
    // A 2M block, then a page and another 2M/1G inside it.
    pt.map(
        &mut mem,
        VirtAddr(0x60_0000),
        PhysAddr(0x60_0000),
        PageSize::Size2M,
        a,
    )
    .unwrap();
    assert_eq!(
        pt.map(
            &mut mem,
            VirtAddr(0x60_3000),
            PhysAddr(0x3000),
            PageSize::Size4K,
            a
        ),
        Err(PagingError::AlreadyMapped)
    );
    assert_eq!(
        pt.map(
            &mut mem,
            VirtAddr(0x60_0000),
            PhysAddr(0),
            PageSize::Size2M,
            a
        ),
        Err(PagingError::AlreadyMapped)
    );
    // 1G block, then a 2M inside it (block found mid-walk).
    pt.map(&mut mem, VirtAddr(G1), PhysAddr(G1), PageSize::Size1G, a)
        .unwrap();
    assert_eq!(
        pt.map(
            &mut mem,
            VirtAddr(G1 + M2),
            PhysAddr(0),
            PageSize::Size2M,
            a
        ),
        Err(PagingError::AlreadyMapped)
    );
    assert_eq!(mem.live(), tables);
}

#[test]
fn unmap_requires_exact_size() {
    let (mut mem, mut pt) = setup();
    let a = Attrs::KERNEL_DATA;
    assert_eq!(
        pt.unmap(&mut mem, VirtAddr(0), PageSize::Size4K),
        Err(PagingError::NotMapped)
    );
    pt.map(
        &mut mem,
        VirtAddr(0x20_0000),
        PhysAddr(0x20_0000),
        PageSize::Size2M,
        a,
    )
    .unwrap();
    pt.map(
        &mut mem,
        VirtAddr(0x40_0000),
        PhysAddr(0x1000),
        PageSize::Size4K,
        a,
    )
    .unwrap();
    assert_eq!(
        pt.unmap(&mut mem, VirtAddr(0x20_1000), PageSize::Size4K),
        Err(PagingError::NotMapped)
    );
    assert_eq!(
        pt.unmap(&mut mem, VirtAddr(0), PageSize::Size1G),
        Err(PagingError::NotMapped)
    );
    assert_eq!(
        pt.unmap(&mut mem, VirtAddr(0x40_0000), PageSize::Size2M),
        Err(PagingError::NotMapped)
    );
    assert_eq!(
        pt.unmap(&mut mem, VirtAddr(0x40_1000), PageSize::Size4K),
        Err(PagingError::NotMapped)
    );
    assert!(pt.translate(&mut mem, VirtAddr(0x20_1000)).is_some());
    assert!(pt.translate(&mut mem, VirtAddr(0x40_0000)).is_some());
}

#[test]
fn unmap_prunes_only_empty_tables() {
    let (mut mem, mut pt) = setup();
    let a = Attrs::KERNEL_DATA;
    pt.map(
        &mut mem,
        VirtAddr(0x1000),
        PhysAddr(0x1000),
        PageSize::Size4K,
        a,
    )
    .unwrap();
    pt.map(
        &mut mem,
        VirtAddr(0x2000),
        PhysAddr(0x2000),
        PageSize::Size4K,
        a,
    )
    .unwrap();
    assert_eq!(mem.live(), 4);
    pt.unmap(&mut mem, VirtAddr(0x1000), PageSize::Size4K)
        .unwrap();
    assert_eq!(mem.live(), 4);
    assert!(pt.translate(&mut mem, VirtAddr(0x2000)).is_some());
    pt.unmap(&mut mem, VirtAddr(0x2000), PageSize::Size4K)
        .unwrap();
    assert_eq!(mem.live(), 1);
    // The spot can now take a block.
    pt.map(&mut mem, VirtAddr(0), PhysAddr(0), PageSize::Size2M, a)
        .unwrap();
    // L1 table still holds a sibling: only the L3 table goes.
    pt.map(
        &mut mem,
        VirtAddr(G1 + 0x3000),
        PhysAddr(0x3000),
        PageSize::Size4K,
        a,
    )
    .unwrap();
    let before = mem.live();
    pt.unmap(&mut mem, VirtAddr(G1 + 0x3000), PageSize::Size4K)
        .unwrap();
    assert_eq!(mem.live(), before - 2);
    assert!(pt.translate(&mut mem, VirtAddr(0x1000)).is_some());
}

#[test]
fn out_of_memory_rolls_back() {
    // Root plus two tables: a 4K map needs three.
    let mut mem = FakeMem::with_limit(3);
    let mut pt = PageTable::new(&mut mem).unwrap();
    let a = Attrs::KERNEL_DATA;
    assert_eq!(
        pt.map(
            &mut mem,
            VirtAddr(0x1000),
            PhysAddr(0x1000),
            PageSize::Size4K,
            a
        ),
        Err(PagingError::OutOfMemory)
    );
    assert_eq!(mem.live(), 1);
    assert!(mem.table(pt.root()).iter().all(|&d| d == 0));
    // Two tables suffice for a 2M block at the same place.
    pt.map(&mut mem, VirtAddr(0), PhysAddr(0), PageSize::Size2M, a)
        .unwrap();
    assert_eq!(
        pt.translate(&mut mem, VirtAddr(0x1234)),
        Some((PhysAddr(0x1234), a))
    );
    // map_range needing a new L3 table fails and leaves the block alone.
    assert_eq!(
        pt.map_range(&mut mem, VirtAddr(M2), PhysAddr(M2), M2 + K4, a),
        Err(PagingError::OutOfMemory)
    );
    assert_eq!(pt.translate(&mut mem, VirtAddr(M2)), None);
    assert_eq!(mem.live(), 3);
    assert!(PageTable::new(&mut FakeMem::with_limit(0)).is_err());
}

#[test]
fn map_range_picks_largest_blocks() {
    let (mut mem, mut pt) = setup();
    let a = Attrs::KERNEL_RODATA;
    // 4K + 2M + 1G + 2M + 4K, with pa offset by 4 GiB (keeps alignment).
    let va = G1 - M2 - K4;
    let len = K4 + M2 + G1 + M2 + K4;
    let off = 4 * G1;
    pt.map_range(&mut mem, VirtAddr(UPPER | va), PhysAddr(va + off), len, a)
        .unwrap();
    let expect = [
        (va, 3),
        (G1 - M2, 2),
        (G1, 1),
        (2 * G1, 2),
        (2 * G1 + M2, 3),
    ];
    for (v, level) in expect {
        assert_eq!(leaf_level(&mut mem, &pt, UPPER | v), Some(level), "{v:#x}");
    }
    for v in [va, G1 - 8, G1 + 12345, 2 * G1 + M2 + K4 - 1] {
        assert_eq!(
            pt.translate(&mut mem, VirtAddr(UPPER | v)),
            Some((PhysAddr(v + off), a))
        );
    }
    assert_eq!(pt.translate(&mut mem, VirtAddr(UPPER | (va - 1))), None);
    assert_eq!(pt.translate(&mut mem, VirtAddr(UPPER | (va + len))), None);

    // pa only 4K-aligned relative to va: pages only.
    let (mut mem, mut pt) = setup();
    pt.map_range(&mut mem, VirtAddr(M2), PhysAddr(M2 + K4), 2 * M2, a)
        .unwrap();
    for i in 0..(2 * M2 / K4) {
        assert_eq!(leaf_level(&mut mem, &pt, M2 + i * K4), Some(3));
    }
    assert_eq!(
        pt.map_range(&mut mem, VirtAddr(0), PhysAddr(0), 0, a),
        Ok(())
    );
}

#[test]
fn map_range_rolls_back_on_conflict() {
    let (mut mem, mut pt) = setup();
    let a = Attrs::KERNEL_DATA;
    pt.map(
        &mut mem,
        VirtAddr(0x60_5000),
        PhysAddr(0x5000),
        PageSize::Size4K,
        a,
    )
    .unwrap();
    let tables = mem.live();
    assert_eq!(
        pt.map_range(&mut mem, VirtAddr(0x1000), PhysAddr(0x1000), 0x80_0000, a),
        Err(PagingError::AlreadyMapped)
    );
    for v in [0x1000, 0x20_0000, 0x40_0000, 0x60_4000] {
        assert_eq!(pt.translate(&mut mem, VirtAddr(v)), None, "{v:#x}");
    }
    assert_eq!(
        pt.translate(&mut mem, VirtAddr(0x60_5000)),
        Some((PhysAddr(0x5000), a))
    );
    assert_eq!(mem.live(), tables);
}

#[test]
fn protect_changes_attrs_only() {
    let (mut mem, mut pt) = setup();
    pt.map(
        &mut mem,
        VirtAddr(M2),
        PhysAddr(4 * M2),
        PageSize::Size2M,
        Attrs::KERNEL_DATA,
    )
    .unwrap();
    pt.protect(&mut mem, VirtAddr(M2), PageSize::Size2M, Attrs::KERNEL_TEXT)
        .unwrap();
    assert_eq!(
        pt.translate(&mut mem, VirtAddr(M2 + 0x10)),
        Some((PhysAddr(4 * M2 + 0x10), Attrs::KERNEL_TEXT))
    );
    assert_eq!(
        pt.protect(&mut mem, VirtAddr(M2), PageSize::Size4K, Attrs::KERNEL_DATA),
        Err(PagingError::NotMapped)
    );
    assert_eq!(
        pt.protect(
            &mut mem,
            VirtAddr(3 * M2),
            PageSize::Size2M,
            Attrs::KERNEL_DATA
        ),
        Err(PagingError::NotMapped)
    );
    assert_eq!(
        pt.protect(
            &mut mem,
            VirtAddr(M2 + K4),
            PageSize::Size2M,
            Attrs::KERNEL_DATA
        ),
        Err(PagingError::Misaligned)
    );
}

#[test]
fn from_root_and_destroy() {
    let (mut mem, mut pt) = setup();
    pt.map_range(
        &mut mem,
        VirtAddr(0),
        PhysAddr(0),
        2 * G1 + 3 * K4,
        Attrs::USER_RODATA,
    )
    .unwrap();
    // One PageTable serves one half: upper VA 0xffff_0000_0000_0000 walks
    // the same entries as lower VA 0, which holds a 1G block here.
    assert_eq!(
        pt.map(
            &mut mem,
            VirtAddr(UPPER),
            PhysAddr(0),
            PageSize::Size4K,
            Attrs::DEVICE
        ),
        Err(PagingError::AlreadyMapped)
    );
    let other = PageTable::from_root(pt.root());
    assert_eq!(
        other.translate(&mut mem, VirtAddr(G1 + 5)),
        Some((PhysAddr(G1 + 5), Attrs::USER_RODATA))
    );
    assert!(mem.live() > 1);
    pt.destroy(&mut mem);
    assert_eq!(mem.live(), 0);
}

#[test]
fn error_display() {
    assert_eq!(
        PagingError::WritableExecutable.to_string(),
        "paging: writable and executable (W^X)"
    );
    assert_eq!(
        PagingError::NotMapped.to_string(),
        "paging: no mapping of that size"
    );
}

#[test]
fn map_pages_and_unmap_pages_across_tables() {
    let (mut mem, mut pt) = setup();
    // 700 pages from 2 MiB - 100 pages: three last-level tables.
    let va = M2 - 100 * K4;
    let pas: Vec<PhysAddr> = (0..700).map(|i| PhysAddr(0x8000_0000 + i * K4)).collect();
    let (n, r) = pt.map_pages(&mut mem, VirtAddr(va), &pas, Attrs::USER_DATA);
    assert_eq!((n, r), (700, Ok(())));
    for (i, pa) in pas.iter().enumerate() {
        let got = pt.translate(&mut mem, VirtAddr(va + i as u64 * K4));
        assert_eq!(got.map(|(p, _)| p), Some(*pa), "page {i}");
    }
    // Over a mapped page: stops there, reports what it mapped.
    let (n, r) = pt.map_pages(&mut mem, VirtAddr(va - 2 * K4), &pas[..5], Attrs::USER_DATA);
    assert_eq!((n, r), (2, Err(PagingError::AlreadyMapped)));
    let tables = mem.live();
    let mut seen = Vec::new();
    pt.unmap_pages(&mut mem, VirtAddr(va - 2 * K4), 702, |v, pa| {
        seen.push((v, pa))
    });
    assert_eq!(seen.len(), 702);
    assert_eq!(seen[2], (va, pas[0]));
    assert_eq!(seen[701], (va + 699 * K4, pas[699]));
    assert!(pt.translate(&mut mem, VirtAddr(va)).is_none());
    // Every table below the root went with the last page.
    assert!(mem.live() < tables);
    assert_eq!(mem.live(), 1);
}

#[test]
fn unmap_pages_keeps_tables_in_use() {
    let (mut mem, mut pt) = setup();
    let pas: Vec<PhysAddr> = (0..4).map(|i| PhysAddr(0x8000_0000 + i * K4)).collect();
    let (n, _) = pt.map_pages(&mut mem, VirtAddr(M2), &pas, Attrs::USER_DATA);
    assert_eq!(n, 4);
    let mut count = 0;
    pt.unmap_pages(&mut mem, VirtAddr(M2 + K4), 2, |_, _| count += 1);
    assert_eq!(count, 2);
    assert!(pt.translate(&mut mem, VirtAddr(M2)).is_some());
    assert!(pt.translate(&mut mem, VirtAddr(M2 + 3 * K4)).is_some());
    assert!(pt.translate(&mut mem, VirtAddr(M2 + K4)).is_none());
}
