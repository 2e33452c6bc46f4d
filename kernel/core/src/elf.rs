//! Checking a user program's ELF image and planning how to load it.
//!
//! The image is hostile: every field is validated here, every read is
//! bounds-checked, and nothing panics or allocates whatever the bytes are.
//! The headers are read by hand (little-endian field reads at fixed
//! offsets) rather than through `xmas-elf`: its reader (`zero::read`)
//! asserts that the slice is aligned for the header structs, which an
//! image at an arbitrary ROMFS offset need not be, and its section-name
//! lookups index and UTF-8-decode unchecked offsets. Both would be panics
//! on input we do not control; the few fields needed here are simpler to
//! read safely than to pre-validate for it.
//!
//! Accepted: ELF64, little-endian, AArch64, `ET_EXEC` (or `ET_DYN`, loaded
//! at bias 0 and flagged position-independent), no interpreter, 1 to
//! [`MAX_SEGMENTS`] non-empty `PT_LOAD` segments that each fit the file and
//! the user range, are page-congruent, never writable and executable, and
//! never share a page; the entry point lies in an executable segment.

use crate::bytes::{u16_at, u32_at, u64_at};
use core::fmt;
use core::ops::Range;

use heapless::Vec;

use crate::addr::{PAGE_SIZE, align_down, align_up};

/// Most `PT_LOAD` segments a program may have.
pub const MAX_SEGMENTS: usize = 16;
/// Most program headers of any type (bounds the work on hostile input;
/// also rules out `PN_XNUM` extended numbering).
pub const MAX_PROGRAM_HEADERS: u16 = 256;
/// Default cap on a program's page-rounded memory, checked before the
/// kernel allocates anything for it.
pub const MAX_LOAD_BYTES: u64 = 256 << 20;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const SHDR_SIZE: usize = 64;
const SYM_SIZE: u64 = 24;

const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u32 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_AARCH64: u16 = 183;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;

/// Why an image was refused. `segment` is the program-header index, as
/// `readelf -l` numbers segments.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ElfError {
    TooShort,
    BadMagic,
    Not64Bit,
    NotLittleEndian,
    BadVersion,
    WrongMachine(u16),
    WrongType(u16),
    BadPhEntrySize(u16),
    PhTableOutOfBounds,
    TooManyProgramHeaders(u16),
    NeedsInterpreter,
    NoLoadSegments,
    TooManyLoadSegments,
    FileSizeExceedsMemSize { segment: usize },
    FileRangeOutOfBounds { segment: usize },
    AddressOverflow { segment: usize },
    OutsideUserRange { segment: usize },
    NotPageCongruent { segment: usize },
    WritableAndExecutable { segment: usize },
    SegmentsOverlap { first: usize, second: usize },
    EntryNotExecutable(u64),
    TooLarge { limit: u64 },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ElfError::*;
        match *self {
            TooShort => write!(f, "elf: image shorter than its header"),
            BadMagic => write!(f, "elf: bad magic (not an ELF file)"),
            Not64Bit => write!(f, "elf: not a 64-bit ELF"),
            NotLittleEndian => write!(f, "elf: not little-endian"),
            BadVersion => write!(f, "elf: unknown ELF version"),
            WrongMachine(m) => write!(f, "elf: machine {m} is not AArch64 (183)"),
            WrongType(t) => write!(f, "elf: type {t} is not an executable (EXEC or DYN)"),
            BadPhEntrySize(s) => write!(f, "elf: program header entry size {s}, expected 56"),
            PhTableOutOfBounds => write!(f, "elf: program header table outside the file"),
            TooManyProgramHeaders(n) => {
                write!(f, "elf: {n} program headers (max {MAX_PROGRAM_HEADERS})")
            }
            NeedsInterpreter => write!(f, "elf: dynamically linked (has an interpreter)"),
            NoLoadSegments => write!(f, "elf: no loadable segment"),
            TooManyLoadSegments => write!(f, "elf: more than {MAX_SEGMENTS} loadable segments"),
            FileSizeExceedsMemSize { segment } => {
                write!(
                    f,
                    "elf: segment {segment} file size exceeds its memory size"
                )
            }
            FileRangeOutOfBounds { segment } => {
                write!(f, "elf: segment {segment} file range outside the image")
            }
            AddressOverflow { segment } => {
                write!(f, "elf: segment {segment} address range overflows")
            }
            OutsideUserRange { segment } => {
                write!(f, "elf: segment {segment} outside the user address range")
            }
            NotPageCongruent { segment } => {
                write!(
                    f,
                    "elf: segment {segment} offset and address differ modulo the page size"
                )
            }
            WritableAndExecutable { segment } => {
                write!(f, "elf: segment {segment} is writable and executable")
            }
            SegmentsOverlap { first, second } => {
                write!(f, "elf: segments {first} and {second} share a page")
            }
            EntryNotExecutable(e) => {
                write!(f, "elf: entry point {e:#x} not in an executable segment")
            }
            TooLarge { limit } => write!(f, "elf: program needs more than {limit} bytes of memory"),
        }
    }
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct SegPerms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// One `PT_LOAD` segment: map `[vaddr, vaddr + mem_size)`, fill its start
/// with `file_size` bytes from `file_offset`, zero the rest.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub perms: SegPerms,
}

impl Segment {
    /// The page-aligned span `[start, end)` the segment occupies. Exact for
    /// segments from [`plan`] (which checked it cannot overflow); saturates
    /// for hand-made ones.
    pub fn pages(&self) -> (u64, u64) {
        let end = self.vaddr.saturating_add(self.mem_size);
        let end = align_up(end, PAGE_SIZE).unwrap_or(align_down(u64::MAX, PAGE_SIZE));
        (align_down(self.vaddr, PAGE_SIZE), end)
    }

    /// The bytes to copy into the segment, or `None` if they are not in
    /// `image` (never for the image the segment was planned from).
    pub fn file_bytes<'a>(&self, image: &'a [u8]) -> Option<&'a [u8]> {
        let start = usize::try_from(self.file_offset).ok()?;
        let len = usize::try_from(self.file_size).ok()?;
        image.get(start..start.checked_add(len)?)
    }

    fn contains(&self, va: u64) -> bool {
        va >= self.vaddr && va - self.vaddr < self.mem_size
    }
}

/// What to map and copy to start a program. `segments` are in file order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LoadPlan {
    pub entry: u64,
    pub segments: Vec<Segment, MAX_SEGMENTS>,
    /// `ET_DYN`: linked to run anywhere, but loaded at bias 0 for now.
    pub position_independent: bool,
}

/// Check `image` and plan its loading into `[user_min, user_end)`, with at
/// most [`MAX_LOAD_BYTES`] of memory.
pub fn plan(image: &[u8], user_min: u64, user_end: u64) -> Result<LoadPlan, ElfError> {
    plan_with_limit(image, user_min, user_end, MAX_LOAD_BYTES)
}

/// [`plan`] with an explicit cap on the page-rounded memory size.
pub fn plan_with_limit(
    image: &[u8],
    user_min: u64,
    user_end: u64,
    max_bytes: u64,
) -> Result<LoadPlan, ElfError> {
    let h = header(image)?;
    let mut segments: Vec<Segment, MAX_SEGMENTS> = Vec::new();
    // Program-header index of each planned segment, for error reports.
    let mut index = [0usize; MAX_SEGMENTS];
    let mut total = 0u64;
    for i in 0..h.phnum as usize {
        let ph = phdr(image, &h, i).ok_or(ElfError::PhTableOutOfBounds)?;
        match ph.p_type {
            PT_INTERP => return Err(ElfError::NeedsInterpreter),
            PT_LOAD => {}
            _ => continue,
        }
        let Some(seg) = check_segment(&ph, i, image.len(), user_min, user_end)? else {
            continue;
        };
        let (start, end) = seg.pages();
        total = total
            .checked_add(end - start)
            .filter(|&t| t <= max_bytes)
            .ok_or(ElfError::TooLarge { limit: max_bytes })?;
        if let Some((j, _)) = segments
            .iter()
            .enumerate()
            .find(|(_, s)| share_page(s, &seg))
        {
            return Err(ElfError::SegmentsOverlap {
                first: index[j],
                second: i,
            });
        }
        segments
            .push(seg)
            .map_err(|_| ElfError::TooManyLoadSegments)?;
        index[segments.len() - 1] = i;
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadSegments);
    }
    if !segments.iter().any(|s| s.perms.exec && s.contains(h.entry)) {
        return Err(ElfError::EntryNotExecutable(h.entry));
    }
    Ok(LoadPlan {
        entry: h.entry,
        segments,
        position_independent: h.e_type == ET_DYN,
    })
}

/// Byte ranges of the symbol table (`SHT_SYMTAB`) and its linked string
/// table, if the image is a valid header-wise ELF with both in bounds.
/// Found by section type and `sh_link`, so section names are never read.
pub fn symbols(image: &[u8]) -> Option<(Range<usize>, Range<usize>)> {
    let h = header(image).ok()?;
    if h.shentsize as usize != SHDR_SIZE || h.shnum == 0 {
        return None;
    }
    let table = table_range(h.shoff, h.shnum, SHDR_SIZE, image.len())?;
    let section = |i: usize| shdr(image, table.start + i * SHDR_SIZE);
    let sym = (0..h.shnum as usize)
        .filter_map(section)
        .find(|s| s.sh_type == SHT_SYMTAB)?;
    if sym.entsize != SYM_SIZE || sym.size % SYM_SIZE != 0 || sym.link >= h.shnum as u32 {
        return None;
    }
    let strtab = section(sym.link as usize).filter(|s| s.sh_type == SHT_STRTAB)?;
    Some((
        byte_range(sym.offset, sym.size, image.len())?,
        byte_range(strtab.offset, strtab.size, image.len())?,
    ))
}

/// The header fields we use, after the identity checks.
struct Header {
    e_type: u16,
    entry: u64,
    phoff: u64,
    phnum: u16,
    shoff: u64,
    shentsize: u16,
    shnum: u16,
}

fn header(image: &[u8]) -> Result<Header, ElfError> {
    match image.get(..4) {
        None => return Err(ElfError::TooShort),
        Some(m) if m != MAGIC => return Err(ElfError::BadMagic),
        Some(_) => {}
    }
    if image.len() < EHDR_SIZE {
        return Err(ElfError::TooShort);
    }
    // In bounds from here on: every offset below is < EHDR_SIZE.
    let r16 = |o| u16_at(image, o).unwrap_or(0);
    let r64 = |o| u64_at(image, o).unwrap_or(0);
    if image[4] != ELFCLASS64 {
        return Err(ElfError::Not64Bit);
    }
    if image[5] != ELFDATA2LSB {
        return Err(ElfError::NotLittleEndian);
    }
    if image[6] != EV_CURRENT as u8 || u32_at(image, 20) != Some(EV_CURRENT) {
        return Err(ElfError::BadVersion);
    }
    let machine = r16(18);
    if machine != EM_AARCH64 {
        return Err(ElfError::WrongMachine(machine));
    }
    let e_type = r16(16);
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Err(ElfError::WrongType(e_type));
    }
    let h = Header {
        e_type,
        entry: r64(24),
        phoff: r64(32),
        phnum: r16(56),
        shoff: r64(40),
        shentsize: r16(58),
        shnum: r16(60),
    };
    let phentsize = r16(54);
    if phentsize as usize != PHDR_SIZE {
        return Err(ElfError::BadPhEntrySize(phentsize));
    }
    if h.phnum > MAX_PROGRAM_HEADERS {
        return Err(ElfError::TooManyProgramHeaders(h.phnum));
    }
    table_range(h.phoff, h.phnum, PHDR_SIZE, image.len()).ok_or(ElfError::PhTableOutOfBounds)?;
    Ok(h)
}

struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

/// Program header `i`; `None` only if out of bounds (checked by `header`).
fn phdr(image: &[u8], h: &Header, i: usize) -> Option<Phdr> {
    let o = usize::try_from(h.phoff).ok()?.checked_add(i * PHDR_SIZE)?;
    let b = image.get(o..o.checked_add(PHDR_SIZE)?)?;
    Some(Phdr {
        p_type: u32_at(b, 0)?,
        flags: u32_at(b, 4)?,
        offset: u64_at(b, 8)?,
        vaddr: u64_at(b, 16)?,
        filesz: u64_at(b, 32)?,
        memsz: u64_at(b, 40)?,
    })
}

/// Validate one `PT_LOAD`; `None` for an empty one (nothing to map).
fn check_segment(
    ph: &Phdr,
    i: usize,
    image_len: usize,
    user_min: u64,
    user_end: u64,
) -> Result<Option<Segment>, ElfError> {
    if ph.filesz > ph.memsz {
        return Err(ElfError::FileSizeExceedsMemSize { segment: i });
    }
    if byte_range(ph.offset, ph.filesz, image_len).is_none() {
        return Err(ElfError::FileRangeOutOfBounds { segment: i });
    }
    if ph.memsz == 0 {
        return Ok(None);
    }
    let end = ph
        .vaddr
        .checked_add(ph.memsz)
        .and_then(|e| align_up(e, PAGE_SIZE))
        .ok_or(ElfError::AddressOverflow { segment: i })?;
    if align_down(ph.vaddr, PAGE_SIZE) < user_min || end > user_end {
        return Err(ElfError::OutsideUserRange { segment: i });
    }
    if ph.offset % PAGE_SIZE != ph.vaddr % PAGE_SIZE {
        return Err(ElfError::NotPageCongruent { segment: i });
    }
    let perms = SegPerms {
        read: ph.flags & PF_R != 0,
        write: ph.flags & PF_W != 0,
        exec: ph.flags & PF_X != 0,
    };
    if perms.write && perms.exec {
        return Err(ElfError::WritableAndExecutable { segment: i });
    }
    Ok(Some(Segment {
        vaddr: ph.vaddr,
        mem_size: ph.memsz,
        file_offset: ph.offset,
        file_size: ph.filesz,
        perms,
    }))
}

fn share_page(a: &Segment, b: &Segment) -> bool {
    let (a, b) = (a.pages(), b.pages());
    a.0 < b.1 && b.0 < a.1
}

struct Shdr {
    sh_type: u32,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

fn shdr(image: &[u8], o: usize) -> Option<Shdr> {
    let b = image.get(o..o.checked_add(SHDR_SIZE)?)?;
    Some(Shdr {
        sh_type: u32_at(b, 4)?,
        offset: u64_at(b, 24)?,
        size: u64_at(b, 32)?,
        link: u32_at(b, 40)?,
        entsize: u64_at(b, 56)?,
    })
}

/// `[offset, offset + size)` if it lies within `image_len` bytes.
fn byte_range(offset: u64, size: u64, image_len: usize) -> Option<Range<usize>> {
    let end = offset.checked_add(size)?;
    (end <= image_len as u64).then_some(offset as usize..end as usize)
}

/// The byte range of a table of `count` entries of `size` bytes.
fn table_range(offset: u64, count: u16, size: usize, image_len: usize) -> Option<Range<usize>> {
    byte_range(offset, u64::from(count) * size as u64, image_len)
}

#[cfg(test)]
pub(crate) mod tests;
