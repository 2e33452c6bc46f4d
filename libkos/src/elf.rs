//! Preparing an ELF image for an empty process (the equivalent of
//! KasperskyOS's `KnElfCreateVmSegEx`): [`prepare`] parses the headers
//! (every offset and size bounds-checked), chooses the load offset (random,
//! page-aligned, from the caller's seed for `ET_DYN`; 0 for `ET_EXEC`) and
//! lists the segments and symbol tables; [`build`] creates an empty child
//! from them (an MDL with the file, `LoadSeg` per segment, `LoadElfSyms`,
//! `LoadElfHdr`, `SetEntry`).
//!
//! [`load`] applies a position-independent image's `R_AARCH64_RELATIVE`
//! relocations for its load offset (with the kernel's own reader of the
//! relocation table, `kernel_core::reloc`), as the kernel does for
//! `Create` with `FROM_ROMFS`.

use alloc::vec::Vec;

use kos_abi::Rc;
use kos_abi::task::{CreateFlags, MAX_ELF_HDR, MAX_SYMS};
use kos_abi::vm::{PAGE_SIZE, USER_END, USER_MIN, VmPerms};

use crate::handle::OwnedHandle;
use crate::mdl;
use crate::task::{SegLoad, Task};

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const SHDR_SIZE: usize = 64;
const EM_AARCH64: u16 = 183;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const SHT_SYMTAB: u32 = 2;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// Size of one `Elf64_Sym`.
pub const SYM_SIZE: u64 = 24;

/// `ET_DYN` images are placed at `DYN_BASE + k * PAGE_SIZE`,
/// `k < DYN_PAGES` (1 GiB of choices, below the environment and heap areas).
pub const DYN_BASE: u64 = 0x100_0000;
pub const DYN_PAGES: u64 = 1 << 18;

/// One loadable segment, load offset applied.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where it goes in the child (link address + load offset).
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_size: u64,
    /// Where its bytes are in the file.
    pub file_offset: u64,
    pub perms: VmPerms,
}

/// A parsed image, ready to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// `ET_DYN` (position independent).
    pub position_independent: bool,
    /// Added to every link address (0 for `ET_EXEC`).
    pub load_offset: u64,
    /// The entry point, load offset applied.
    pub entry: u64,
    pub segments: Vec<Segment>,
    /// `.symtab` (file offset, size) and its `.strtab`, if present.
    pub symtab: Option<(u64, u64)>,
    pub strtab: Option<(u64, u64)>,
    /// Bytes of the ELF header and program headers from file offset 0 (what
    /// `LoadElfHdr` takes), if they fit in [`MAX_ELF_HDR`].
    pub header_size: u64,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Rc> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(Rc::BadExecutable)
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, Rc> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(Rc::BadExecutable)
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Rc> {
    let s = b.get(at..at + 8).ok_or(Rc::BadExecutable)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

/// `offset + count * size` lies within `len` bytes: the table's start.
fn table(offset: u64, count: u64, size: u64, len: usize) -> Result<usize, Rc> {
    let end = count
        .checked_mul(size)
        .and_then(|n| n.checked_add(offset))
        .ok_or(Rc::BadExecutable)?;
    if end > len as u64 {
        return Err(Rc::BadExecutable);
    }
    Ok(offset as usize)
}

/// SplitMix64: the load offset's generator.
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `ET_DYN` load offset [`prepare`] picks for `seed`.
pub fn load_offset_for(seed: u64) -> u64 {
    DYN_BASE + (splitmix(seed) % DYN_PAGES) * PAGE_SIZE
}

/// Parses `elf` (an AArch64 ELF64 executable): segments, entry, symbol
/// tables; an `ET_DYN` image gets a random page-aligned load offset drawn
/// from `seed`. Everything malformed is [`Rc::BadExecutable`]: not ELF64
/// little-endian AArch64, `ET_EXEC`/`ET_DYN`, tables beyond the file, a
/// segment's bytes beyond the file, `file_size > mem_size`, misaligned
/// (address and offset not congruent), overlapping or W+X segments, a
/// segment outside user space once placed, `PT_INTERP`, no segment, an
/// entry outside every executable segment.
pub fn prepare(elf: &[u8], seed: u64) -> Result<Image, Rc> {
    prepare_at(elf, load_offset_for(seed))
}

/// [`prepare`] with the load offset given (used by an `ET_DYN` image only;
/// page aligned, else [`Rc::InvalidArgument`]).
pub fn prepare_at(elf: &[u8], dyn_offset: u64) -> Result<Image, Rc> {
    if !dyn_offset.is_multiple_of(PAGE_SIZE) {
        return Err(Rc::InvalidArgument);
    }
    if elf.len() < EHDR_SIZE || &elf[..4] != b"\x7fELF" {
        return Err(Rc::BadExecutable);
    }
    // ELFCLASS64, little-endian, version 1.
    if elf[4] != 2 || elf[5] != 1 || elf[6] != 1 {
        return Err(Rc::BadExecutable);
    }
    let e_type = u16_at(elf, 16)?;
    if u16_at(elf, 18)? != EM_AARCH64 || (e_type != ET_EXEC && e_type != ET_DYN) {
        return Err(Rc::BadExecutable);
    }
    let e_entry = u64_at(elf, 24)?;
    let e_phoff = u64_at(elf, 32)?;
    let e_shoff = u64_at(elf, 40)?;
    let e_phentsize = u64::from(u16_at(elf, 54)?);
    let e_phnum = u64::from(u16_at(elf, 56)?);
    let e_shentsize = u64::from(u16_at(elf, 58)?);
    let e_shnum = u64::from(u16_at(elf, 60)?);
    if e_phentsize < PHDR_SIZE as u64 || e_phnum == 0 {
        return Err(Rc::BadExecutable);
    }
    let ph = table(e_phoff, e_phnum, e_phentsize, elf.len())?;
    let position_independent = e_type == ET_DYN;
    let load_offset = if position_independent { dyn_offset } else { 0 };

    let mut segments: Vec<Segment> = Vec::new();
    for i in 0..e_phnum as usize {
        let p = ph + i * e_phentsize as usize;
        let p_type = u32_at(elf, p)?;
        if p_type == PT_INTERP {
            return Err(Rc::BadExecutable);
        }
        if p_type != PT_LOAD {
            continue;
        }
        let flags = u32_at(elf, p + 4)?;
        let offset = u64_at(elf, p + 8)?;
        let vaddr = u64_at(elf, p + 16)?;
        let file_size = u64_at(elf, p + 32)?;
        let mem_size = u64_at(elf, p + 40)?;
        if mem_size == 0 {
            continue;
        }
        if file_size > mem_size
            || offset % PAGE_SIZE != vaddr % PAGE_SIZE
            || offset
                .checked_add(file_size)
                .is_none_or(|e| e > elf.len() as u64)
        {
            return Err(Rc::BadExecutable);
        }
        if flags & PF_W != 0 && flags & PF_X != 0 {
            return Err(Rc::BadExecutable);
        }
        let start = vaddr.checked_add(load_offset).ok_or(Rc::BadExecutable)?;
        let end = start
            .checked_add(mem_size)
            .and_then(|e| e.checked_next_multiple_of(PAGE_SIZE))
            .ok_or(Rc::BadExecutable)?;
        if start < USER_MIN || end > USER_END {
            return Err(Rc::BadExecutable);
        }
        let page = start & !(PAGE_SIZE - 1);
        for s in &segments {
            let s_page = s.vaddr & !(PAGE_SIZE - 1);
            let s_end = (s.vaddr + s.mem_size).next_multiple_of(PAGE_SIZE);
            if page < s_end && s_page < end {
                return Err(Rc::BadExecutable);
            }
        }
        let mut perms = VmPerms::empty();
        perms.set(VmPerms::READ, flags & PF_R != 0);
        perms.set(VmPerms::WRITE, flags & PF_W != 0);
        perms.set(VmPerms::EXEC, flags & PF_X != 0);
        segments.push(Segment {
            vaddr: start,
            mem_size,
            file_size,
            file_offset: offset,
            perms,
        });
    }
    let entry = e_entry.checked_add(load_offset).ok_or(Rc::BadExecutable)?;
    let entry_ok = segments.iter().any(|s| {
        s.perms.contains(VmPerms::EXEC) && (s.vaddr..s.vaddr + s.mem_size).contains(&entry)
    });
    if !entry_ok {
        return Err(Rc::BadExecutable);
    }

    let (symtab, strtab) = symbol_tables(elf, e_shoff, e_shnum, e_shentsize)?;
    let header_end = e_phoff + e_phnum * e_phentsize;
    let header_size = if header_end <= MAX_ELF_HDR && e_phoff >= EHDR_SIZE as u64 {
        header_end
    } else {
        EHDR_SIZE as u64
    };
    Ok(Image {
        position_independent,
        load_offset,
        entry,
        segments,
        symtab,
        strtab,
        header_size,
    })
}

type Range = Option<(u64, u64)>;

/// The first `SHT_SYMTAB` section and the string table it links to, both
/// within the file (absent section headers: none).
fn symbol_tables(elf: &[u8], shoff: u64, shnum: u64, shentsize: u64) -> Result<(Range, Range), Rc> {
    if shoff == 0 || shnum == 0 {
        return Ok((None, None));
    }
    if shentsize < SHDR_SIZE as u64 {
        return Err(Rc::BadExecutable);
    }
    let sh = table(shoff, shnum, shentsize, elf.len())?;
    let section = |i: u64| -> Result<(u32, u64, u64, u32), Rc> {
        let s = sh + (i * shentsize) as usize;
        let (kind, offset, size, link) = (
            u32_at(elf, s + 4)?,
            u64_at(elf, s + 24)?,
            u64_at(elf, s + 32)?,
            u32_at(elf, s + 40)?,
        );
        if offset
            .checked_add(size)
            .is_none_or(|e| e > elf.len() as u64)
        {
            return Err(Rc::BadExecutable);
        }
        Ok((kind, offset, size, link))
    };
    for i in 0..shnum {
        let (kind, offset, size, link) = section(i)?;
        if kind != SHT_SYMTAB {
            continue;
        }
        if u64::from(link) >= shnum || size % SYM_SIZE != 0 {
            return Err(Rc::BadExecutable);
        }
        let (_, str_offset, str_size, _) = section(u64::from(link))?;
        if size > MAX_SYMS || str_size > MAX_SYMS {
            // Too big to hand to the kernel: load without symbols.
            return Ok((None, None));
        }
        return Ok((Some((offset, size)), Some((str_offset, str_size))));
    }
    Ok((None, None))
}

/// Copies `bytes` into a new MDL (read-write handle).
pub fn mdl_with(bytes: &[u8]) -> Result<OwnedHandle, Rc> {
    let h = OwnedHandle::new(mdl::create((bytes.len() as u64).max(1))?);
    let m = mdl::map(h.get(), true)?;
    let written = m.write(0, bytes);
    mdl::unmap(h.get(), m)?;
    written?;
    Ok(h)
}

/// Loads `image` (parsed from `elf` by [`prepare`]) into the empty,
/// not-started `task`: the file's bytes in an MDL, `LoadSeg` per segment,
/// `LoadElfSyms` (if it has symbols), `LoadElfHdr`, then `SetEntry`.
pub fn load(task: &Task, elf: &[u8], image: &Image) -> Result<(), Rc> {
    let relocated;
    let bytes = if image.position_independent {
        relocated = relocate(elf, image)?;
        &relocated[..]
    } else {
        elf
    };
    let file = mdl_with(bytes)?;
    for s in &image.segments {
        task.load_seg(&SegLoad {
            mdl: file.get(),
            perms: s.perms,
            vaddr: s.vaddr,
            mem_size: s.mem_size,
            mdl_offset: s.file_offset,
            file_size: s.file_size,
        })?;
    }
    if let (Some(symtab), Some(strtab)) = (image.symtab, image.strtab) {
        task.load_elf_syms(file.get(), symtab, strtab)?;
    }
    task.load_elf_hdr(file.get(), 0, image.header_size)?;
    task.set_entry(image.entry, image.load_offset)?;
    file.close()
}

/// A copy of `elf` with its relative relocations applied for
/// `image.load_offset`, patched in the file bytes of the segments (a
/// relocation in a segment's zero-filled tail, or any other defect of the
/// table: [`Rc::BadExecutable`]).
pub fn relocate(elf: &[u8], image: &Image) -> Result<Vec<u8>, Rc> {
    use kernel_core::reloc::{self, RelocError};
    let mut out = elf.to_vec();
    let plan = kernel_core::elf::plan(elf, 0, USER_END).map_err(|_| Rc::BadExecutable)?;
    let Some(relocs) = reloc::rela_table(elf, &plan).map_err(|_| Rc::BadExecutable)? else {
        return Ok(out);
    };
    relocs
        .apply(elf, &plan, image.load_offset, |vaddr, value| {
            let at = image
                .segments
                .iter()
                .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr + 8 <= s.file_size)
                .map(|s| (s.file_offset + (vaddr - s.vaddr)) as usize)
                .ok_or(RelocError::WriteFailed { vaddr })?;
            out[at..at + 8].copy_from_slice(&value.to_le_bytes());
            Ok(())
        })
        .map_err(|_| Rc::BadExecutable)?;
    Ok(out)
}

/// Creates the empty process `name` and [`load`]s `image` into it; it
/// runs after [`Task::resume`] (give it an environment and handles first).
pub fn build(
    name: &str,
    elf: &[u8],
    image: &Image,
    priority: u32,
    flags: CreateFlags,
) -> Result<Task, Rc> {
    let task = Task::create_empty(name, priority, flags)?;
    load(&task, elf, image)?;
    Ok(task)
}
