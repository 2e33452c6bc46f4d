use std::string::ToString;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::elf::tests::{Ph, build as elf_build, put};
use crate::elf::{self, Segment};

const USER_END: u64 = 1 << 40;
const PT_LOAD: u32 = 1;
const R: u32 = 4;
const RW: u32 = 6;
const RX: u32 = 5;
const DT_RELACOUNT: u64 = 0x6fff_fff9;
const DT_RELR: u64 = 36;
const DT_FLAGS_1: u64 = 0x6fff_fffb;

/// Layout of the test image (linked at 0, as lld links a static-pie):
/// headers and `.rela.dyn` (at `RELA_AT`) in a read-only segment, one page
/// of text, then data whose first bytes are `.dynamic` followed by bss.
const RELA_AT: u64 = 0x200;
const DYN_AT: u64 = 0x2000;
const IMAGE_LEN: usize = 0x2100;

const fn ph(p_type: u32, flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph {
        p_type,
        flags,
        offset,
        vaddr,
        filesz,
        memsz,
    }
}

const RODATA: Ph = ph(PT_LOAD, R, 0, 0, 0x400, 0x400);
const TEXT: Ph = ph(PT_LOAD, RX, 0x1000, 0x1000, 0x100, 0x100);
const DATA: Ph = ph(PT_LOAD, RW, 0x2000, 0x2000, 0x100, 0x2000);
const DYNAMIC: Ph = ph(PT_DYNAMIC, RW, DYN_AT, DYN_AT, 0x100, 0x100);

/// An ELF64 AArch64 `ET_DYN` image (the ELF tests' builder), padded to
/// `IMAGE_LEN`, with the dynamic entries at `DYN_AT` and the relocations
/// `(r_offset, r_info, r_addend)` at `RELA_AT`.
fn build(phs: &[Ph], dynamic: &[(u64, u64)], relas: &[(u64, u64, i64)]) -> Vec<u8> {
    let mut b = elf_build(3, 0x1000, phs, IMAGE_LEN);
    for (i, &(tag, val)) in dynamic.iter().enumerate() {
        let o = DYN_AT as usize + i * DYN_SIZE;
        put(&mut b, o, &tag.to_le_bytes());
        put(&mut b, o + 8, &val.to_le_bytes());
    }
    for (i, &(off, info, addend)) in relas.iter().enumerate() {
        let o = RELA_AT as usize + i * RELA_SIZE;
        put(&mut b, o, &off.to_le_bytes());
        put(&mut b, o + 8, &info.to_le_bytes());
        put(&mut b, o + 16, &addend.to_le_bytes());
    }
    b
}

/// The dynamic section lld emits for `n` relocations (plus tags we ignore).
fn dynamic_for(n: usize) -> Vec<(u64, u64)> {
    vec![
        (DT_RELA, RELA_AT),
        (DT_RELASZ, (n * RELA_SIZE) as u64),
        (DT_RELAENT, RELA_SIZE as u64),
        (DT_RELACOUNT, n as u64),
        (DT_FLAGS_1, 0x0800_0000),
        (DT_NULL, 0),
    ]
}

const fn rel(offset: u64, addend: i64) -> (u64, u64, i64) {
    (offset, R_AARCH64_RELATIVE as u64, addend)
}

/// Targets in each segment, including the last word of each.
const RELAS: [(u64, u64, i64); 6] = [
    rel(0x3f8, 0x1000),
    rel(0x2080, 0x2000),
    (0x2088, R_AARCH64_NONE as u64, 0x1234),
    rel(0x2100, 0x10f8),
    rel(0x3ff8, 0),
    rel(0x10f8, 0x3ff8),
];

fn image(relas: &[(u64, u64, i64)]) -> Vec<u8> {
    build(
        &[RODATA, TEXT, DATA, DYNAMIC],
        &dynamic_for(relas.len()),
        relas,
    )
}

fn plan_of(img: &[u8]) -> LoadPlan {
    elf::plan(img, 0, USER_END).unwrap()
}

/// Relocate `img` at `bias`, recording the writes.
fn run(img: &[u8], bias: u64) -> Result<Vec<(u64, u64)>, RelocError> {
    let plan = plan_of(img);
    let relocs = rela_table(img, &plan)?.expect("PT_DYNAMIC");
    let mut writes = Vec::new();
    let n = relocs.apply(img, &plan, bias, |va, v| {
        writes.push((va, v));
        Ok(())
    })?;
    assert_eq!(n, writes.len());
    Ok(writes)
}

fn table_of(dynamic: &[(u64, u64)]) -> Result<Option<Relocs>, RelocError> {
    let img = build(&[RODATA, TEXT, DATA, DYNAMIC], dynamic, &RELAS);
    rela_table(&img, &plan_of(&img))
}

#[test]
fn happy_path() {
    let img = image(&RELAS);
    let plan = plan_of(&img);
    assert!(plan.position_independent);
    let relocs = rela_table(&img, &plan).unwrap().unwrap();
    assert_eq!(relocs.len(), 6);
    assert!(!relocs.is_empty());
    let start = RELA_AT as usize;
    assert_eq!(relocs.file_range(), start..start + 6 * RELA_SIZE);
    for bias in [0, 0x1000, 0x5555_5555_0000] {
        let expected: Vec<(u64, u64)> = RELAS
            .iter()
            .filter(|r| r.1 == R_AARCH64_RELATIVE as u64)
            .map(|&(o, _, a)| (o + bias, a as u64 + bias))
            .collect();
        assert_eq!(run(&img, bias), Ok(expected));
    }
}

#[test]
fn negative_addend_within_range() {
    let img = image(&[rel(0x2000, -8)]);
    assert_eq!(run(&img, 0x1000), Ok(vec![(0x3000, 0xff8)]));
    assert_eq!(run(&img, 0), Err(RelocError::Overflow { index: 0 }));
}

#[test]
fn no_dynamic_segment() {
    let img = build(&[RODATA, TEXT, DATA], &dynamic_for(6), &RELAS);
    assert_eq!(rela_table(&img, &plan_of(&img)), Ok(None));
}

#[test]
fn dynamic_without_relocations() {
    for dynamic in [
        &[(DT_FLAGS_1, 0), (DT_NULL, 0)][..],
        &[(DT_RELASZ, 0)],
        &[],
        // Everything after DT_NULL is ignored.
        &[(DT_NULL, 0), (DT_RELA, RELA_AT), (DT_NEEDED, 1)],
    ] {
        let relocs = table_of(dynamic).unwrap().unwrap();
        assert!(relocs.is_empty());
        let img = image(&RELAS);
        let n = relocs.apply(&img, &plan_of(&img), 0x1000, |_, _| panic!("write"));
        assert_eq!(n, Ok(0));
    }
    // An empty table with an address is fine too.
    let relocs = table_of(&[(DT_RELA, RELA_AT), (DT_RELASZ, 0)]).unwrap();
    assert!(relocs.unwrap().is_empty());
}

#[test]
fn incomplete_table() {
    assert_eq!(table_of(&[(DT_RELA, RELA_AT)]), Err(RelocError::NoTable));
    assert_eq!(table_of(&[(DT_RELASZ, 24)]), Err(RelocError::NoTable));
}

#[test]
fn entry_size() {
    let mut d = dynamic_for(6);
    d[2].1 = 16;
    assert_eq!(table_of(&d), Err(RelocError::BadEntrySize(16)));
    // DT_RELAENT may be left out.
    d.remove(2);
    assert_eq!(table_of(&d).unwrap().unwrap().len(), 6);
}

#[test]
fn misaligned_table() {
    let mut d = dynamic_for(6);
    d[0].1 = RELA_AT + 4;
    assert_eq!(table_of(&d), Err(RelocError::MisalignedTable));
    let mut d = dynamic_for(6);
    d[1].1 = 25;
    assert_eq!(table_of(&d), Err(RelocError::MisalignedTable));
}

#[test]
fn table_out_of_bounds() {
    let e = Err(RelocError::TableOutOfBounds);
    let at = |addr: u64, size: u64| table_of(&[(DT_RELA, addr), (DT_RELASZ, size)]);
    // Runs past the read-only segment's file bytes.
    assert_eq!(at(0x3f0, 48), e);
    assert_eq!(
        at(0x3e8, 24),
        Ok(Some(Relocs {
            start: 0x3e8,
            count: 1
        }))
    );
    // In bss, in a gap, before every segment, past the address space.
    assert_eq!(at(0x2100, 24), e);
    assert_eq!(at(0x1800, 24), e);
    assert_eq!(at(0x8000, 24), e);
    assert_eq!(at(u64::MAX - 7, 24), e);
    assert_eq!(at(RELA_AT, u64::MAX - 15), e);
    // Found through the text segment: file offset = vaddr here, but not in
    // general, so check the translation with a data segment moved up.
    let data = ph(PT_LOAD, RW, 0x2000, 0x7000, 0x100, 0x1000);
    let dynamic = Ph {
        p_type: PT_DYNAMIC,
        ..data
    };
    let img = build(
        &[RODATA, TEXT, data, dynamic],
        &[(DT_RELA, 0x7040), (DT_RELASZ, 48)],
        &[],
    );
    let relocs = rela_table(&img, &plan_of(&img)).unwrap().unwrap();
    assert_eq!(relocs.file_range(), 0x2040..0x2070);
}

#[test]
fn plan_of_another_image() {
    let img = image(&RELAS);
    let plan = plan_of(&img);
    let relocs = rela_table(&img, &plan).unwrap().unwrap();
    let short = &img[..RELA_AT as usize + 10];
    assert_eq!(
        relocs.apply(short, &plan, 0, |_, _| Ok(())),
        Err(RelocError::TableOutOfBounds)
    );
    // A segment whose file bytes are not in the image.
    let mut plan2 = plan.clone();
    plan2.segments[0].file_offset = IMAGE_LEN as u64;
    assert_eq!(rela_table(&img, &plan2), Err(RelocError::TableOutOfBounds));
    plan2.segments[0].file_offset = u64::MAX - 0x100;
    assert_eq!(rela_table(&img, &plan2), Err(RelocError::TableOutOfBounds));
}

#[test]
fn too_many_entries() {
    let img = image(&RELAS);
    let mut plan = plan_of(&img);
    // A hand-made plan with only 5 words of memory.
    plan.segments.truncate(1);
    plan.segments[0] = Segment {
        mem_size: 40,
        ..plan.segments[0]
    };
    assert_eq!(rela_table(&img, &plan), Err(RelocError::TooManyEntries(6)));
    plan.segments[0].mem_size = 48;
    assert!(rela_table(&img, &plan).is_ok());
}

#[test]
fn duplicate_tags() {
    let mut d = dynamic_for(6);
    d.insert(1, (DT_RELA, RELA_AT));
    assert_eq!(table_of(&d), Err(RelocError::DuplicateTag(DT_RELA)));
    let mut d = dynamic_for(6);
    d.insert(3, (DT_RELAENT, 24));
    assert_eq!(table_of(&d), Err(RelocError::DuplicateTag(DT_RELAENT)));
}

#[test]
fn unsupported_tags() {
    for (tag, val) in [
        (DT_NEEDED, 1),
        (DT_RELSZ, 16),
        (DT_PLTRELSZ, 24),
        (DT_RELRSZ, 8),
    ] {
        let mut d = dynamic_for(6);
        d.insert(2, (tag, val));
        assert_eq!(table_of(&d), Err(RelocError::UnsupportedTag(tag)));
    }
    // Empty tables of the other kinds, and their addresses, are harmless.
    for (tag, val) in [
        (DT_RELSZ, 0),
        (DT_PLTRELSZ, 0),
        (DT_RELRSZ, 0),
        (DT_RELR, 8),
    ] {
        let mut d = dynamic_for(6);
        d.insert(2, (tag, val));
        assert!(table_of(&d).is_ok());
    }
}

#[test]
fn unsupported_types() {
    // ABS64, GLOB_DAT, JUMP_SLOT, IRELATIVE, TLS_TPREL64, garbage.
    for r_type in [257u32, 1025, 1026, 1032, 1030, u32::MAX] {
        let mut relas = RELAS;
        relas[4].1 = u64::from(r_type);
        assert_eq!(
            run(&image(&relas), 0x1000),
            Err(RelocError::UnsupportedType { index: 4, r_type })
        );
    }
}

#[test]
fn symbol_relocation() {
    let mut relas = RELAS;
    relas[1].1 |= 5 << 32;
    assert_eq!(
        run(&image(&relas), 0),
        Err(RelocError::SymbolRelocation {
            index: 1,
            symbol: 5
        })
    );
    // Irrelevant for NONE entries, which are skipped whole.
    let mut relas = RELAS;
    relas[2].1 |= 5 << 32;
    assert!(run(&image(&relas), 0).is_ok());
}

#[test]
fn target_outside_segments() {
    for offset in [
        0x400,     // just past the read-only segment
        0x1100,    // just past the text
        0x4000,    // just past the bss
        0x1800,    // in a gap
        0x10_0000, // far away
        u64::MAX - 7,
    ] {
        let mut relas = RELAS;
        relas[3].0 = offset;
        assert_eq!(
            run(&image(&relas), 0),
            Err(RelocError::TargetOutsideSegments { index: 3, offset })
        );
    }
    // A segment smaller than a word holds no target.
    let img = image(&[rel(0, 0)]);
    let mut plan = plan_of(&img);
    plan.segments[0].mem_size = 4;
    let relocs = rela_table(&img, &plan).unwrap().unwrap();
    assert_eq!(
        relocs.apply(&img, &plan, 0, |_, _| Ok(())),
        Err(RelocError::TargetOutsideSegments {
            index: 0,
            offset: 0
        })
    );
}

#[test]
fn misaligned_target() {
    for offset in [0x2004, 0x3ff9, 0x3ffc] {
        let mut relas = RELAS;
        relas[5].0 = offset;
        assert_eq!(
            run(&image(&relas), 0),
            Err(RelocError::MisalignedTarget { index: 5, offset })
        );
    }
}

#[test]
fn overflow() {
    // The target wraps (and the value too).
    let img = image(&RELAS);
    assert_eq!(
        run(&img, u64::MAX - 0x3f8),
        Err(RelocError::Overflow { index: 0 })
    );
    // Only the target wraps.
    let img = image(&[rel(0x3f8, -0x1000)]);
    assert_eq!(
        run(&img, u64::MAX - 0x3f0),
        Err(RelocError::Overflow { index: 0 })
    );
    // The value wraps, either way.
    let img = image(&[rel(0x2000, i64::MAX), rel(0x2008, -1)]);
    assert!(run(&img, 1 << 63).is_ok());
    assert_eq!(
        run(&img, (1 << 63) + 1),
        Err(RelocError::Overflow { index: 0 })
    );
    let img = image(&[rel(0x2000, 0), rel(0x2008, -1)]);
    assert_eq!(run(&img, 0), Err(RelocError::Overflow { index: 1 }));
}

#[test]
fn write_errors_stop_the_walk() {
    let img = image(&RELAS);
    let plan = plan_of(&img);
    let relocs = rela_table(&img, &plan).unwrap().unwrap();
    let mut calls = 0;
    let r = relocs.apply(&img, &plan, 0x1000, |va, _| {
        calls += 1;
        if va == 0x3100 {
            Err(RelocError::WriteFailed { vaddr: va })
        } else {
            Ok(())
        }
    });
    assert_eq!(r, Err(RelocError::WriteFailed { vaddr: 0x3100 }));
    // Entry 3 is the third RELATIVE one (entry 2 is NONE).
    assert_eq!(calls, 3);
}

#[test]
fn bad_program_headers() {
    let img = image(&RELAS);
    let plan = plan_of(&img);
    let e = Err(RelocError::BadDynamic);
    assert_eq!(rela_table(&img[..63], &plan), e);
    // PT_DYNAMIC past the end of the file, or overflowing.
    let dyn_at = EHDR_SIZE + 3 * PHDR_SIZE;
    for (field, v) in [(8, IMAGE_LEN as u64), (32, 0x200), (8, u64::MAX)] {
        let mut m = img.clone();
        put(&mut m, dyn_at + field, &v.to_le_bytes());
        assert_eq!(rela_table(&m, &plan), e);
    }
    // Header fields `plan` would have refused.
    for (o, v) in [
        (54, &[32u8, 0][..]),
        (56, &[0, 1]),
        (56, &[1, 1]),
        (32, &[0xff; 8]),
    ] {
        let mut m = img.clone();
        put(&mut m, o, v);
        assert_eq!(rela_table(&m, &plan), e);
    }
    // Program header table past the end.
    assert_eq!(rela_table(&img[..EHDR_SIZE + PHDR_SIZE], &plan), e);
}

#[test]
fn every_error_displays() {
    use RelocError::*;
    let all = [
        BadDynamic,
        DuplicateTag(7),
        UnsupportedTag(1),
        NoTable,
        BadEntrySize(16),
        MisalignedTable,
        TableOutOfBounds,
        TooManyEntries(9),
        UnsupportedType {
            index: 1,
            r_type: 257,
        },
        SymbolRelocation {
            index: 1,
            symbol: 2,
        },
        TargetOutsideSegments {
            index: 1,
            offset: 0x1234,
        },
        MisalignedTarget {
            index: 1,
            offset: 0x1234,
        },
        Overflow { index: 1 },
        WriteFailed { vaddr: 0x1000 },
    ];
    for e in all {
        let s = e.to_string();
        assert!(s.starts_with("reloc: ") && s.len() > 15, "{s}");
    }
}

/// What the kernel relies on for any relocation that got written.
fn check_writes(plan: &LoadPlan, bias: u64, writes: &[(u64, u64)]) {
    for &(va, _) in writes {
        let off = va - bias;
        assert_eq!(off % 8, 0);
        assert!(
            plan.segments
                .iter()
                .any(|s| off >= s.vaddr && off + 8 <= s.vaddr + s.mem_size)
        );
    }
}

/// Run the whole path on any input; never panics.
fn exercise(img: &[u8], plan: &LoadPlan, bias: u64) {
    if let Ok(Some(relocs)) = rela_table(img, plan) {
        let r = relocs.file_range();
        assert!(r.end <= img.len() && r.len() == relocs.len() * RELA_SIZE);
        let mut writes = Vec::new();
        let n = relocs.apply(img, plan, bias, |va, v| {
            writes.push((va, v));
            Ok(())
        });
        if let Ok(n) = n {
            assert_eq!(n, writes.len());
            assert!(n <= relocs.len());
        }
        check_writes(plan, bias, &writes);
    }
}

#[test]
fn every_truncation_is_handled() {
    let img = image(&RELAS);
    let plan = plan_of(&img);
    for n in 0..img.len() {
        exercise(&img[..n], &plan, 0x1000);
    }
}

#[test]
fn every_structure_byte_mutation_is_handled() {
    let img = image(&RELAS);
    let plan = plan_of(&img);
    let hdrs = 0..EHDR_SIZE + 4 * PHDR_SIZE;
    let relas = RELA_AT as usize..RELA_AT as usize + RELAS.len() * RELA_SIZE;
    let dynamic = DYN_AT as usize..DYN_AT as usize + 6 * DYN_SIZE;
    for o in hdrs.chain(relas).chain(dynamic) {
        for v in [0x00, 0x01, 0x07, 0x08, 0x18, 0x40, 0x7f, 0x80, 0xfe, 0xff] {
            let mut m = img.clone();
            m[o] = v;
            let p = elf::plan(&m, 0, USER_END).unwrap_or_else(|_| plan.clone());
            exercise(&m, &p, 0x4000);
        }
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            bias in any::<u64>(),
        ) {
            let img = image(&RELAS);
            exercise(&bytes, &plan_of(&img), bias);
        }

        #[test]
        fn random_tables_never_panic(
            dynamic in proptest::collection::vec(
                (prop_oneof![0u64..40, Just(DT_RELACOUNT), any::<u64>()], any::<u64>()),
                0..12,
            ),
            relas in proptest::collection::vec(
                (0u64..0x4100, prop_oneof![Just(1027u64), Just(0), 0u64..2000, any::<u64>()], any::<i64>()),
                0..21,
            ),
            bias in prop_oneof![Just(0u64), (0u64..1 << 36).prop_map(|b| b << 12), any::<u64>()],
        ) {
            let img = build(&[RODATA, TEXT, DATA, DYNAMIC], &dynamic, &relas);
            exercise(&img, &plan_of(&img), bias);
        }

        #[test]
        fn mutated_images_never_panic(
            muts in proptest::collection::vec((0usize..IMAGE_LEN, any::<u64>(), 0usize..4), 1..8),
            cut in 0usize..IMAGE_LEN + 1,
            bias in any::<u64>(),
        ) {
            let mut img = image(&RELAS);
            let plan = plan_of(&img);
            for (o, v, k) in muts {
                // Mostly hit the headers, the table and the dynamic section.
                let o = match o % 4 {
                    0 => o % (EHDR_SIZE + 4 * PHDR_SIZE),
                    1 => RELA_AT as usize + o % (RELAS.len() * RELA_SIZE),
                    2 => DYN_AT as usize + o % (6 * DYN_SIZE),
                    _ => o,
                };
                let end = (o + (1 << k)).min(img.len());
                img[o..end].copy_from_slice(&v.to_le_bytes()[..end - o]);
            }
            let img = &img[..cut];
            let p = elf::plan(img, 0, USER_END).unwrap_or(plan);
            exercise(img, &p, bias);
        }
    }
}
