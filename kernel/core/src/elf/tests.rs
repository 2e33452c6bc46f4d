use std::string::ToString;
use std::vec::Vec;

use super::*;

const USER_MIN: u64 = 0x1000;
const USER_END: u64 = 1 << 40;
const R: u32 = PF_R;
const RW: u32 = PF_R | PF_W;
const RX: u32 = PF_R | PF_X;

/// A program header to assemble (also used by the relocation tests).
#[derive(Copy, Clone)]
pub(crate) struct Ph {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

const fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph {
        p_type: PT_LOAD,
        flags,
        offset,
        vaddr,
        filesz,
        memsz,
    }
}

/// text: one page of code at 0x40_1000; data: 16 file bytes + bss.
const TEXT: Ph = load(RX, 0x1000, 0x40_1000, 0x100, 0x100);
const DATA: Ph = load(RW, 0x2000, 0x40_2000, 0x10, 0x3000);
const ENTRY: u64 = 0x40_1000;

pub(crate) fn put(b: &mut [u8], o: usize, v: &[u8]) {
    b[o..o + v.len()].copy_from_slice(v);
}

/// Assemble an ELF64 AArch64 header, the program headers right after it,
/// and zero padding up to `len` bytes.
pub(crate) fn build(e_type: u16, entry: u64, phs: &[Ph], len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(EHDR_SIZE + phs.len() * PHDR_SIZE)];
    put(&mut b, 0, &MAGIC);
    b[4] = ELFCLASS64;
    b[5] = ELFDATA2LSB;
    b[6] = 1;
    put(&mut b, 16, &e_type.to_le_bytes());
    put(&mut b, 18, &EM_AARCH64.to_le_bytes());
    put(&mut b, 20, &1u32.to_le_bytes());
    put(&mut b, 24, &entry.to_le_bytes());
    put(&mut b, 32, &(EHDR_SIZE as u64).to_le_bytes());
    put(&mut b, 52, &(EHDR_SIZE as u16).to_le_bytes());
    put(&mut b, 54, &(PHDR_SIZE as u16).to_le_bytes());
    put(&mut b, 56, &(phs.len() as u16).to_le_bytes());
    for (i, p) in phs.iter().enumerate() {
        let o = EHDR_SIZE + i * PHDR_SIZE;
        put(&mut b, o, &p.p_type.to_le_bytes());
        put(&mut b, o + 4, &p.flags.to_le_bytes());
        put(&mut b, o + 8, &p.offset.to_le_bytes());
        put(&mut b, o + 16, &p.vaddr.to_le_bytes());
        put(&mut b, o + 24, &p.vaddr.to_le_bytes());
        put(&mut b, o + 32, &p.filesz.to_le_bytes());
        put(&mut b, o + 40, &p.memsz.to_le_bytes());
        put(&mut b, o + 48, &PAGE_SIZE.to_le_bytes());
    }
    b
}

fn exec(phs: &[Ph]) -> Vec<u8> {
    build(ET_EXEC, ENTRY, phs, 0x2010)
}

fn valid() -> Vec<u8> {
    exec(&[TEXT, DATA])
}

fn plan_of(img: &[u8]) -> Result<LoadPlan, ElfError> {
    plan(img, USER_MIN, USER_END)
}

/// Append a section header table [null, .symtab -> 2, .strtab] and the
/// two tables' contents; returns their expected byte ranges.
fn with_symbols(img: &mut Vec<u8>) -> (Range<usize>, Range<usize>) {
    let sym_at = img.len();
    img.extend_from_slice(&[0u8; 2 * SYM_SIZE as usize]);
    let str_at = img.len();
    img.extend_from_slice(b"\0_start\0");
    let sh_at = img.len();
    img.resize(sh_at + 3 * SHDR_SIZE, 0);
    let mut sh = |i: usize, ty: u32, off: usize, size: usize, link: u32, entsize: u64| {
        let o = sh_at + i * SHDR_SIZE;
        put(img, o + 4, &ty.to_le_bytes());
        put(img, o + 24, &(off as u64).to_le_bytes());
        put(img, o + 32, &(size as u64).to_le_bytes());
        put(img, o + 40, &link.to_le_bytes());
        put(img, o + 56, &entsize.to_le_bytes());
    };
    sh(1, SHT_SYMTAB, sym_at, str_at - sym_at, 2, SYM_SIZE);
    sh(2, SHT_STRTAB, str_at, sh_at - str_at, 0, 0);
    put(img, 40, &(sh_at as u64).to_le_bytes());
    put(img, 58, &(SHDR_SIZE as u16).to_le_bytes());
    put(img, 60, &3u16.to_le_bytes());
    (sym_at..str_at, str_at..sh_at)
}

#[test]
fn happy_path() {
    let img = valid();
    let p = plan_of(&img).unwrap();
    assert_eq!(p.entry, ENTRY);
    assert!(!p.position_independent);
    assert_eq!(p.segments.len(), 2);
    let (t, d) = (p.segments[0], p.segments[1]);
    assert_eq!(
        t,
        Segment {
            vaddr: 0x40_1000,
            mem_size: 0x100,
            file_offset: 0x1000,
            file_size: 0x100,
            perms: SegPerms {
                read: true,
                write: false,
                exec: true
            },
        }
    );
    assert_eq!(t.pages(), (0x40_1000, 0x40_2000));
    assert_eq!(d.pages(), (0x40_2000, 0x40_5000));
    assert_eq!(
        d.perms,
        SegPerms {
            read: true,
            write: true,
            exec: false
        }
    );
    assert_eq!(t.file_bytes(&img), Some(&img[0x1000..0x1100]));
    assert_eq!(d.file_bytes(&img).map(<[u8]>::len), Some(0x10));
    // Other program header types are skipped, empty loads too.
    let note = Ph {
        p_type: 4,
        ..load(R, 0, 0, 0, 0)
    };
    let empty = load(RW | PF_X, 0, 0xdead_0000, 0, 0);
    assert_eq!(
        plan_of(&exec(&[note, TEXT, empty, DATA])).unwrap().segments,
        p.segments
    );
}

#[test]
fn unaligned_slice_is_fine() {
    let mut buf = vec![0u8];
    buf.extend_from_slice(&valid());
    assert!(plan_of(&buf[1..]).is_ok());
}

#[test]
fn dyn_is_position_independent() {
    let img = build(ET_DYN, ENTRY, &[TEXT, DATA], 0x2010);
    assert!(plan_of(&img).unwrap().position_independent);
}

#[test]
fn unaligned_segment_bounds_round_to_pages() {
    let t = load(RX, 0x1010, 0x40_1010, 0x10, 0x20);
    let img = build(ET_EXEC, 0x40_1010, &[t], 0x1100);
    let s = plan_of(&img).unwrap().segments[0];
    assert_eq!(s.pages(), (0x40_1000, 0x40_2000));
}

#[test]
fn too_short_and_bad_magic() {
    let img = valid();
    assert_eq!(plan_of(&[]), Err(ElfError::TooShort));
    assert_eq!(plan_of(&img[..3]), Err(ElfError::TooShort));
    assert_eq!(plan_of(&img[..63]), Err(ElfError::TooShort));
    assert_eq!(plan_of(b"MZ\x90\x00"), Err(ElfError::BadMagic));
    let mut m = img.clone();
    m[1] = b'e';
    assert_eq!(plan_of(&m), Err(ElfError::BadMagic));
}

fn patched(o: usize, v: &[u8]) -> Vec<u8> {
    let mut b = valid();
    put(&mut b, o, v);
    b
}

#[test]
fn identity_checks() {
    assert_eq!(plan_of(&patched(4, &[1])), Err(ElfError::Not64Bit));
    assert_eq!(plan_of(&patched(5, &[2])), Err(ElfError::NotLittleEndian));
    assert_eq!(plan_of(&patched(6, &[0])), Err(ElfError::BadVersion));
    assert_eq!(plan_of(&patched(20, &[2])), Err(ElfError::BadVersion));
    assert_eq!(
        plan_of(&patched(18, &62u16.to_le_bytes())),
        Err(ElfError::WrongMachine(62))
    );
    assert_eq!(
        plan_of(&patched(16, &1u16.to_le_bytes())),
        Err(ElfError::WrongType(1))
    );
    assert_eq!(
        plan_of(&patched(16, &4u16.to_le_bytes())),
        Err(ElfError::WrongType(4))
    );
}

#[test]
fn program_header_table_checks() {
    assert_eq!(
        plan_of(&patched(54, &32u16.to_le_bytes())),
        Err(ElfError::BadPhEntrySize(32))
    );
    assert_eq!(
        plan_of(&patched(54, &64u16.to_le_bytes())),
        Err(ElfError::BadPhEntrySize(64))
    );
    // Table runs past the end, or its offset overflows.
    assert_eq!(
        plan_of(&patched(32, &0x2000u64.to_le_bytes())),
        Err(ElfError::PhTableOutOfBounds)
    );
    assert_eq!(
        plan_of(&patched(32, &u64::MAX.to_le_bytes())),
        Err(ElfError::PhTableOutOfBounds)
    );
    assert_eq!(
        plan_of(&patched(56, &200u16.to_le_bytes())),
        Err(ElfError::PhTableOutOfBounds)
    );
    // PN_XNUM and other huge counts.
    assert_eq!(
        plan_of(&patched(56, &0xffffu16.to_le_bytes())),
        Err(ElfError::TooManyProgramHeaders(0xffff))
    );
}

#[test]
fn interpreter_refused() {
    let interp = Ph {
        p_type: PT_INTERP,
        ..load(R, 0x200, 0, 0x10, 0x10)
    };
    assert_eq!(
        plan_of(&exec(&[interp, TEXT, DATA])),
        Err(ElfError::NeedsInterpreter)
    );
}

#[test]
fn no_load_segments() {
    assert_eq!(plan_of(&exec(&[])), Err(ElfError::NoLoadSegments));
    let empty = load(RX, 0x1000, 0x40_1000, 0, 0);
    assert_eq!(plan_of(&exec(&[empty])), Err(ElfError::NoLoadSegments));
}

#[test]
fn too_many_load_segments() {
    let mut phs: Vec<Ph> = (0..MAX_SEGMENTS as u64)
        .map(|i| load(R, 0, 0x50_0000 + i * 0x1000, 0, 0x1000))
        .collect();
    phs[0] = TEXT;
    assert!(plan_of(&exec(&phs)).is_ok());
    phs.push(load(R, 0, 0x90_0000, 0, 0x1000));
    assert_eq!(plan_of(&exec(&phs)), Err(ElfError::TooManyLoadSegments));
}

#[test]
fn file_size_exceeds_mem_size() {
    let d = load(RW, 0x2000, 0x40_2000, 0x10, 0x8);
    assert_eq!(
        plan_of(&exec(&[TEXT, d])),
        Err(ElfError::FileSizeExceedsMemSize { segment: 1 })
    );
}

#[test]
fn file_range_out_of_bounds() {
    let d = load(RW, 0x2000, 0x40_2000, 0x11, 0x3000);
    let e = ElfError::FileRangeOutOfBounds { segment: 1 };
    assert_eq!(plan_of(&exec(&[TEXT, d])), Err(e));
    let d = load(RW, u64::MAX - 0xfff, 0x40_2000, 0x10, 0x3000);
    assert_eq!(plan_of(&exec(&[TEXT, d])), Err(e));
}

#[test]
fn address_overflow() {
    let d = load(RW, 0x2000, u64::MAX - 0xfff, 0x10, 0x1000);
    assert_eq!(
        plan_of(&exec(&[TEXT, d])),
        Err(ElfError::AddressOverflow { segment: 1 })
    );
    // End fits but rounding it up to a page does not.
    let d = load(RW, 0x2000, u64::MAX - 0x1fff, 0x10, 0x1001);
    assert_eq!(
        plan_of(&exec(&[TEXT, d])),
        Err(ElfError::AddressOverflow { segment: 1 })
    );
}

#[test]
fn outside_user_range() {
    let e = Err(ElfError::OutsideUserRange { segment: 0 });
    assert_eq!(plan(&valid(), 0x40_2000, USER_END), e);
    assert_eq!(plan(&valid(), USER_MIN, 0x40_1000), e);
    // The data segment's last page must fit too.
    assert_eq!(
        plan(&valid(), USER_MIN, 0x40_4000),
        Err(ElfError::OutsideUserRange { segment: 1 })
    );
    assert!(plan(&valid(), 0x40_1000, 0x40_5000).is_ok());
    // An ET_DYN linked at 0 needs user_min 0 until it can be relocated.
    let t = load(RX, 0, 0, 0x100, 0x100);
    let img = build(ET_DYN, 0, &[t], 0x100);
    assert_eq!(plan_of(&img), e);
}

#[test]
fn not_page_congruent() {
    let d = load(RW, 0x2008, 0x40_2000, 0x8, 0x3000);
    assert_eq!(
        plan_of(&exec(&[TEXT, d])),
        Err(ElfError::NotPageCongruent { segment: 1 })
    );
}

#[test]
fn writable_and_executable() {
    let d = load(RW | PF_X, 0x2000, 0x40_2000, 0x10, 0x3000);
    let e = ElfError::WritableAndExecutable { segment: 2 };
    // Indices count every program header, as `readelf -l` does.
    let note = Ph { p_type: 4, ..TEXT };
    assert_eq!(plan_of(&exec(&[TEXT, note, d])), Err(e));
    assert_eq!(e.to_string(), "elf: segment 2 is writable and executable");
}

#[test]
fn segments_sharing_a_page() {
    // Data starts in the text's last page (a real W^X hazard).
    let d = load(RW, 0x1100, 0x40_1100, 0x10, 0x100);
    let e = Err(ElfError::SegmentsOverlap {
        first: 0,
        second: 1,
    });
    assert_eq!(plan_of(&exec(&[TEXT, d])), e);
    // Order in the file does not matter.
    assert_eq!(
        plan_of(&exec(&[d, TEXT])),
        Err(ElfError::SegmentsOverlap {
            first: 0,
            second: 1
        })
    );
    // Containment.
    let big = load(R, 0, 0x40_0000, 0, 0x10_0000);
    assert_eq!(
        plan_of(&exec(&[TEXT, DATA, big])),
        Err(ElfError::SegmentsOverlap {
            first: 0,
            second: 2
        })
    );
    // Adjacent pages are fine.
    let d = load(RW, 0x1000, 0x40_2000, 0, 0x10);
    assert!(plan_of(&exec(&[TEXT, d])).is_ok());
}

#[test]
fn entry_not_executable() {
    for entry in [0x40_1100, 0x40_0fff, 0x40_2000, 0] {
        let img = build(ET_EXEC, entry, &[TEXT, DATA], 0x2010);
        assert_eq!(plan_of(&img), Err(ElfError::EntryNotExecutable(entry)));
    }
    let img = build(ET_EXEC, 0x40_10ff, &[TEXT, DATA], 0x2010);
    assert!(plan_of(&img).is_ok());
}

#[test]
fn too_large() {
    let img = valid();
    // Four pages in all.
    assert!(plan_with_limit(&img, USER_MIN, USER_END, 4 * PAGE_SIZE).is_ok());
    assert_eq!(
        plan_with_limit(&img, USER_MIN, USER_END, 4 * PAGE_SIZE - 1),
        Err(ElfError::TooLarge {
            limit: 4 * PAGE_SIZE - 1
        })
    );
    // A huge bss is refused by the default limit before anything else.
    let d = load(RW, 0x2000, 0x40_2000, 0x10, 1 << 39);
    assert_eq!(
        plan_of(&exec(&[TEXT, d])),
        Err(ElfError::TooLarge {
            limit: MAX_LOAD_BYTES
        })
    );
}

#[test]
fn every_error_displays() {
    use ElfError::*;
    let all = [
        TooShort,
        BadMagic,
        Not64Bit,
        NotLittleEndian,
        BadVersion,
        WrongMachine(3),
        WrongType(1),
        BadPhEntrySize(0),
        PhTableOutOfBounds,
        TooManyProgramHeaders(300),
        NeedsInterpreter,
        NoLoadSegments,
        TooManyLoadSegments,
        FileSizeExceedsMemSize { segment: 1 },
        FileRangeOutOfBounds { segment: 1 },
        AddressOverflow { segment: 1 },
        OutsideUserRange { segment: 1 },
        NotPageCongruent { segment: 1 },
        WritableAndExecutable { segment: 1 },
        SegmentsOverlap {
            first: 0,
            second: 1,
        },
        EntryNotExecutable(0x1234),
        TooLarge { limit: 1 },
    ];
    for e in all {
        let s = e.to_string();
        assert!(s.starts_with("elf: ") && s.len() > 10, "{s}");
    }
}

#[test]
fn symbols_found_by_type_and_link() {
    let mut img = valid();
    assert_eq!(symbols(&img), None);
    let (sym, strs) = with_symbols(&mut img);
    assert_eq!(symbols(&img), Some((sym, strs.clone())));
    assert_eq!(&img[strs], b"\0_start\0");
    // Loading is unaffected by the section headers.
    assert!(plan_of(&img).is_ok());
}

#[test]
fn symbols_rejects_bad_tables() {
    let mut base = valid();
    with_symbols(&mut base);
    let sh_at = base.len() - 3 * SHDR_SIZE;
    let bad = |o: usize, v: &[u8]| {
        let mut b = base.clone();
        put(&mut b, o, v);
        symbols(&b)
    };
    let sym = sh_at + SHDR_SIZE;
    let strs = sh_at + 2 * SHDR_SIZE;
    assert_eq!(bad(58, &40u16.to_le_bytes()), None); // shentsize
    assert_eq!(bad(60, &4u16.to_le_bytes()), None); // table past the end
    assert_eq!(bad(40, &u64::MAX.to_le_bytes()), None); // shoff overflow
    assert_eq!(bad(sym + 56, &16u64.to_le_bytes()), None); // sym entsize
    assert_eq!(bad(sym + 32, &25u64.to_le_bytes()), None); // partial symbol
    assert_eq!(bad(sym + 40, &3u32.to_le_bytes()), None); // link out of range
    assert_eq!(bad(sym + 40, &1u32.to_le_bytes()), None); // link not a strtab
    assert_eq!(bad(sym + 24, &u64::MAX.to_le_bytes()), None); // symtab offset
    assert_eq!(bad(strs + 32, &0x1_0000u64.to_le_bytes()), None); // strtab size
    assert_eq!(bad(sym + 4, &0u32.to_le_bytes()), None); // no symtab
    assert_eq!(bad(18, &62u16.to_le_bytes()), None); // not our ELF
    assert!(symbols(&base[..base.len() - 1]).is_none());
}

/// `xmas-elf` as an independent reader of the images built here: it
/// must see the same header and segments (it needs an aligned buffer).
#[test]
fn xmas_elf_agrees() {
    use xmas_elf::ElfFile;
    use xmas_elf::program::Type;

    #[repr(C, align(8))]
    struct Aligned([u8; 0x3000]);
    let mut img = valid();
    let (sym, strs) = with_symbols(&mut img);
    let mut buf = Box::new(Aligned([0; 0x3000]));
    buf.0[..img.len()].copy_from_slice(&img);
    let elf = ElfFile::new(&buf.0[..img.len()]).unwrap();
    assert_eq!(elf.header.pt2.entry_point(), ENTRY);
    let theirs: Vec<Segment> = elf
        .program_iter()
        .filter(|p| p.get_type() == Ok(Type::Load))
        .map(|p| Segment {
            vaddr: p.virtual_addr(),
            mem_size: p.mem_size(),
            file_offset: p.offset(),
            file_size: p.file_size(),
            perms: SegPerms {
                read: p.flags().is_read(),
                write: p.flags().is_write(),
                exec: p.flags().is_execute(),
            },
        })
        .collect();
    assert_eq!(theirs[..], plan_of(&img).unwrap().segments[..]);
    let s = elf.section_header(1).unwrap();
    assert_eq!(s.offset() as usize..(s.offset() + s.size()) as usize, sym);
    let s = elf.section_header(s.link() as u16).unwrap();
    assert_eq!(s.offset() as usize..(s.offset() + s.size()) as usize, strs);
}

#[test]
fn every_truncation_is_handled() {
    let mut img = valid();
    with_symbols(&mut img);
    for n in 0..img.len() {
        let r = plan_of(&img[..n]);
        assert!(r.is_err() || n >= 0x2010, "{n}: {r:?}");
        let _ = symbols(&img[..n]);
    }
}

#[test]
fn every_header_byte_mutation_is_handled() {
    let mut img = valid();
    with_symbols(&mut img);
    let hdrs = EHDR_SIZE + 2 * PHDR_SIZE;
    let sh_at = img.len() - 3 * SHDR_SIZE;
    for o in (0..hdrs).chain(sh_at..img.len()) {
        for v in [0x00, 0x01, 0x07, 0x10, 0x38, 0x40, 0x7f, 0x80, 0xfe, 0xff] {
            let mut m = img.clone();
            m[o] = v;
            if let Ok(p) = plan_of(&m) {
                check_plan_invariants(&m, &p, USER_MIN, USER_END);
            }
            if let Some((a, b)) = symbols(&m) {
                assert!(a.end <= m.len() && b.end <= m.len());
            }
        }
    }
}

/// What the kernel relies on in any accepted plan.
fn check_plan_invariants(img: &[u8], p: &LoadPlan, lo: u64, hi: u64) {
    assert!(!p.segments.is_empty() && p.segments.len() <= MAX_SEGMENTS);
    let mut total = 0;
    for (i, s) in p.segments.iter().enumerate() {
        let (a, b) = s.pages();
        assert!(lo <= a && a < b && b <= hi);
        assert!(s.file_size <= s.mem_size);
        assert!(s.file_bytes(img).is_some());
        assert!(!(s.perms.write && s.perms.exec));
        assert_eq!(s.file_offset % PAGE_SIZE, s.vaddr % PAGE_SIZE);
        for t in &p.segments[i + 1..] {
            let (c, d) = t.pages();
            assert!(b <= c || d <= a);
        }
        total += b - a;
    }
    assert!(total <= MAX_LOAD_BYTES);
    assert!(
        p.segments
            .iter()
            .any(|s| s.perms.exec && s.vaddr <= p.entry && p.entry - s.vaddr < s.mem_size)
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(p) = plan_of(&bytes) {
                check_plan_invariants(&bytes, &p, USER_MIN, USER_END);
            }
            let _ = symbols(&bytes);
        }

        #[test]
        fn random_headers_never_panic(
            mut bytes in proptest::collection::vec(any::<u8>(), 64..600),
            e_type in 2u16..4,
            phnum in 0u16..8,
        ) {
            // Valid identity so the program headers get parsed.
            let id = build(e_type, 0, &[], 0);
            bytes[..16].copy_from_slice(&id[..16]);
            put(&mut bytes, 16, &e_type.to_le_bytes());
            put(&mut bytes, 18, &EM_AARCH64.to_le_bytes());
            put(&mut bytes, 20, &1u32.to_le_bytes());
            put(&mut bytes, 32, &64u64.to_le_bytes());
            put(&mut bytes, 54, &(PHDR_SIZE as u16).to_le_bytes());
            put(&mut bytes, 56, &phnum.to_le_bytes());
            for lo in [0, USER_MIN] {
                if let Ok(p) = plan(&bytes, lo, USER_END) {
                    check_plan_invariants(&bytes, &p, lo, USER_END);
                }
            }
            let _ = symbols(&bytes);
        }

        #[test]
        fn mutated_images_never_panic(
            muts in proptest::collection::vec((0usize..0x2200, any::<u64>(), 0usize..4), 1..8),
            cut in 0usize..0x2200,
        ) {
            let mut img = valid();
            with_symbols(&mut img);
            for (o, v, k) in muts {
                // Mostly hit the headers; write 1, 2, 4 or 8 bytes.
                let o = if o % 2 == 0 { o % (EHDR_SIZE + 2 * PHDR_SIZE) } else { o % img.len() };
                let w = 1 << k;
                let end = (o + w).min(img.len());
                img[o..end].copy_from_slice(&v.to_le_bytes()[..end - o]);
            }
            let img = &img[..cut.min(img.len())];
            if let Ok(p) = plan_of(img) {
                check_plan_invariants(img, &p, USER_MIN, USER_END);
            }
            if let Some((a, b)) = symbols(img) {
                prop_assert!(a.end <= img.len() && b.end <= img.len());
            }
        }
    }
}
