//! ELF -> flat binary, the format QEMU's `-kernel` (raw) and the Pi firmware load.
//!
//! The kernel is linked at a high virtual address but each loadable segment
//! carries its physical load address in `p_paddr`. The image starts at the
//! lowest `p_paddr`; every PT_LOAD segment with file contents is copied to
//! `p_paddr - lowest`. Bytes of `p_memsz` beyond `p_filesz` (BSS) are not in the
//! image: the kernel zeroes them itself.

use anyhow::{Result, bail};
use xmas_elf::ElfFile;
use xmas_elf::header::{Class, Machine};
use xmas_elf::program::Type;

/// Largest image accepted.
pub const MAX_IMAGE: u64 = 64 << 20;

/// A flat image and the physical address its first byte belongs at.
#[derive(Debug)]
pub struct FlatImage {
    pub load_addr: u64,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    paddr: u64,
    offset: u64,
    filesz: u64,
}

/// Parses `data` as a 64-bit AArch64 ELF file whose program header table
/// lies inside the file (xmas-elf indexes that table without bounds checks,
/// so it is checked here before anyone iterates it).
pub fn open_aarch64_elf(data: &[u8]) -> Result<ElfFile<'_>> {
    let elf = ElfFile::new(data).map_err(|e| anyhow::anyhow!("not an ELF file: {e}"))?;
    if elf.header.pt1.class() != Class::SixtyFour {
        bail!("not a 64-bit ELF file");
    }
    let machine = elf.header.pt2.machine().as_machine();
    if machine != Machine::AArch64 {
        bail!("ELF machine is {machine:?}, expected AArch64");
    }
    let ph_off = elf.header.pt2.ph_offset();
    let ph_size = u64::from(elf.header.pt2.ph_entry_size());
    let ph_count = u64::from(elf.header.pt2.ph_count());
    if ph_size < 56 || ph_off.saturating_add(ph_size.saturating_mul(ph_count)) > data.len() as u64 {
        bail!("ELF program header table is truncated or malformed");
    }
    Ok(elf)
}

pub fn elf_to_flat(data: &[u8]) -> Result<FlatImage> {
    let elf = open_aarch64_elf(data)?;
    if elf.header.pt2.ph_count() == 0 {
        bail!("ELF file has no program headers");
    }

    let mut segs = Vec::new();
    for ph in elf.program_iter() {
        if ph.get_type() != Ok(Type::Load) || ph.file_size() == 0 {
            continue;
        }
        let seg = Segment {
            paddr: ph.physical_addr(),
            offset: ph.offset(),
            filesz: ph.file_size(),
        };
        if seg
            .offset
            .checked_add(seg.filesz)
            .is_none_or(|end| end > data.len() as u64)
        {
            bail!(
                "segment at paddr {:#x} (offset {:#x}, size {:#x}) lies beyond the end of the file",
                seg.paddr,
                seg.offset,
                seg.filesz
            );
        }
        if seg.paddr.checked_add(seg.filesz).is_none() {
            bail!("segment at paddr {:#x} wraps the address space", seg.paddr);
        }
        segs.push(seg);
    }
    if segs.is_empty() {
        bail!("ELF file has no PT_LOAD segment with contents");
    }
    segs.sort_by_key(|s| s.paddr);
    for w in segs.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.paddr + a.filesz > b.paddr {
            bail!(
                "PT_LOAD segments overlap: [{:#x}, {:#x}) and [{:#x}, {:#x})",
                a.paddr,
                a.paddr + a.filesz,
                b.paddr,
                b.paddr + b.filesz
            );
        }
    }
    let base = segs[0].paddr;
    let end = segs
        .iter()
        .map(|s| s.paddr + s.filesz)
        .max()
        .expect("non-empty");
    let size = end - base;
    if size > MAX_IMAGE {
        bail!(
            "image would be {size:#x} bytes (paddr {base:#x}..{end:#x}), more than the {} MiB limit: \
             check the linker script's load addresses",
            MAX_IMAGE >> 20
        );
    }
    let mut bytes = vec![0u8; size as usize];
    for s in &segs {
        let dst = (s.paddr - base) as usize;
        let src = s.offset as usize;
        let n = s.filesz as usize;
        bytes[dst..dst + n].copy_from_slice(&data[src..src + n]);
    }
    Ok(FlatImage {
        load_addr: base,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PT_LOAD: u32 = 1;
    const PT_NOTE: u32 = 4;
    const EM_AARCH64: u16 = 0xb7;

    struct Seg {
        ptype: u32,
        vaddr: u64,
        paddr: u64,
        data: Vec<u8>,
        memsz: u64,
    }

    fn load(vaddr: u64, paddr: u64, data: &[u8], memsz: u64) -> Seg {
        Seg {
            ptype: PT_LOAD,
            vaddr,
            paddr,
            data: data.to_vec(),
            memsz,
        }
    }

    /// A minimal little-endian ELF64 executable: header, program headers, then
    /// each segment's bytes one after the other.
    fn make_elf(machine: u16, segs: &[Seg]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF");
        out.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, version 1, SysV
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        out.extend_from_slice(&machine.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0xffff_0000_0008_0000u64.to_le_bytes()); // entry
        out.extend_from_slice(&64u64.to_le_bytes()); // phoff
        out.extend_from_slice(&0u64.to_le_bytes()); // shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // flags
        out.extend_from_slice(&64u16.to_le_bytes()); // ehsize
        out.extend_from_slice(&56u16.to_le_bytes()); // phentsize
        out.extend_from_slice(&(segs.len() as u16).to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes()); // shentsize
        out.extend_from_slice(&0u16.to_le_bytes()); // shnum
        out.extend_from_slice(&0u16.to_le_bytes()); // shstrndx
        assert_eq!(out.len(), 64);
        let mut offset = 64 + 56 * segs.len() as u64;
        for s in segs {
            out.extend_from_slice(&s.ptype.to_le_bytes());
            out.extend_from_slice(&5u32.to_le_bytes()); // R+X
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&s.vaddr.to_le_bytes());
            out.extend_from_slice(&s.paddr.to_le_bytes());
            out.extend_from_slice(&(s.data.len() as u64).to_le_bytes());
            out.extend_from_slice(&s.memsz.to_le_bytes());
            out.extend_from_slice(&0x1000u64.to_le_bytes());
            offset += s.data.len() as u64;
        }
        for s in segs {
            out.extend_from_slice(&s.data);
        }
        out
    }

    const HI: u64 = 0xffff_0000_0000_0000;

    #[test]
    fn places_segments_at_physical_offsets() {
        let elf = make_elf(
            EM_AARCH64,
            &[
                // Listed out of order on purpose.
                load(HI + 0x8_2000, 0x8_2000, b"data", 4),
                load(HI + 0x8_0000, 0x8_0000, b"text", 4),
                Seg {
                    ptype: PT_NOTE,
                    vaddr: 0,
                    paddr: 0,
                    data: b"note".to_vec(),
                    memsz: 4,
                },
                // BSS: memsz only, contributes nothing.
                load(HI + 0x9_0000, 0x9_0000, b"", 0x1000),
            ],
        );
        let img = elf_to_flat(&elf).unwrap();
        assert_eq!(img.load_addr, 0x8_0000);
        assert_eq!(img.bytes.len(), 0x2004);
        assert_eq!(&img.bytes[..4], b"text");
        assert!(img.bytes[4..0x2000].iter().all(|&b| b == 0));
        assert_eq!(&img.bytes[0x2000..], b"data");
    }

    #[test]
    fn ignores_memsz_beyond_filesz() {
        let elf = make_elf(EM_AARCH64, &[load(HI, 0x4008_0000, b"abcdef", 0x10_0000)]);
        let img = elf_to_flat(&elf).unwrap();
        assert_eq!(img.bytes, b"abcdef");
        assert_eq!(img.load_addr, 0x4008_0000);
    }

    #[test]
    fn rejects_overlap() {
        let elf = make_elf(
            EM_AARCH64,
            &[
                load(HI, 0x8_0000, b"12345678", 8),
                load(HI + 4, 0x8_0004, b"abcd", 4),
            ],
        );
        let err = elf_to_flat(&elf).unwrap_err().to_string();
        assert!(err.contains("overlap"), "{err}");
    }

    #[test]
    fn rejects_huge_image() {
        let elf = make_elf(
            EM_AARCH64,
            &[
                load(HI, 0x8_0000, b"a", 1),
                load(HI, 0x8_0000 + MAX_IMAGE, b"b", 1),
            ],
        );
        let err = elf_to_flat(&elf).unwrap_err().to_string();
        assert!(err.contains("MiB limit"), "{err}");
    }

    #[test]
    fn accepts_exactly_max_size() {
        let elf = make_elf(
            EM_AARCH64,
            &[load(HI, 0, b"a", 1), load(HI, MAX_IMAGE - 1, b"b", 1)],
        );
        assert_eq!(elf_to_flat(&elf).unwrap().bytes.len() as u64, MAX_IMAGE);
    }

    #[test]
    fn rejects_wrong_machine_and_garbage() {
        let x86 = make_elf(62, &[load(0, 0, b"a", 1)]);
        assert!(
            elf_to_flat(&x86)
                .unwrap_err()
                .to_string()
                .contains("AArch64")
        );
        assert!(elf_to_flat(b"not an elf file at all, definitely not").is_err());
        assert!(elf_to_flat(&[]).is_err());
    }

    #[test]
    fn rejects_no_loadable_contents() {
        let elf = make_elf(EM_AARCH64, &[load(HI, 0x8_0000, b"", 0x100)]);
        assert!(
            elf_to_flat(&elf)
                .unwrap_err()
                .to_string()
                .contains("no PT_LOAD")
        );
    }

    #[test]
    fn rejects_truncated_file() {
        let mut elf = make_elf(EM_AARCH64, &[load(HI, 0x8_0000, b"abcdefgh", 8)]);
        elf.truncate(elf.len() - 4);
        assert!(
            elf_to_flat(&elf)
                .unwrap_err()
                .to_string()
                .contains("beyond the end")
        );
        let header_only = make_elf(EM_AARCH64, &[load(HI, 0, b"x", 1)])[..80].to_vec();
        assert!(elf_to_flat(&header_only).is_err());
    }
}
