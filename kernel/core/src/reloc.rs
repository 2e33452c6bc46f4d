//! Relocating a position-independent (`ET_DYN`, static-pie) program.
//!
//! A static-pie carries its own dynamic relocations: loaded `bias` bytes
//! above its link address, each `R_AARCH64_RELATIVE` entry says "store
//! `bias + addend` at `r_offset + bias`". The kernel applies them while
//! loading, so user programs need no self-relocating startup code and the
//! kernel decides what gets written where.
//!
//! Same rules as [`crate::elf`]: the image is hostile, every read is
//! bounds-checked, nothing panics or allocates. Only what a static-pie
//! needs is accepted: one `DT_RELA` table of `RELATIVE` (and `NONE`)
//! entries. Anything that would need a dynamic linker or another
//! relocation format (`DT_NEEDED`, symbol relocations, `DT_REL`, `DT_RELR`,
//! PLT relocations) is refused rather than skipped: an unapplied
//! relocation would only show up later as a wild pointer.

use crate::bytes::{u16_at, u32_at, u64_at};
use core::fmt;
use core::ops::Range;

use crate::elf::LoadPlan;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const DYN_SIZE: usize = 16;
/// Size of one `Elf64_Rela`.
pub const RELA_SIZE: usize = 24;
/// Same bound as [`crate::elf::MAX_PROGRAM_HEADERS`].
const MAX_PROGRAM_HEADERS: u16 = crate::elf::MAX_PROGRAM_HEADERS;

const PT_DYNAMIC: u32 = 2;

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_PLTRELSZ: u64 = 2;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_RELSZ: u64 = 18;
const DT_RELRSZ: u64 = 35;

/// `R_AARCH64_NONE`: no-op, skipped.
pub const R_AARCH64_NONE: u32 = 0;
/// `R_AARCH64_RELATIVE`: `*(B + r_offset) = B + r_addend`.
pub const R_AARCH64_RELATIVE: u32 = 1027;

/// Why an image's relocations were refused. `index` is the entry's
/// position in the `Elf64_Rela` table.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum RelocError {
    /// The program headers or `PT_DYNAMIC` are not within the image.
    BadDynamic,
    /// A `DT_*` tag we rely on appears twice (which one wins is unclear).
    DuplicateTag(u64),
    /// A tag that needs a dynamic linker or another relocation format.
    UnsupportedTag(u64),
    /// `DT_RELA` without `DT_RELASZ`, or a non-empty `DT_RELASZ` without
    /// `DT_RELA`.
    NoTable,
    /// `DT_RELAENT` is not 24.
    BadEntrySize(u64),
    /// `DT_RELA` not 8-aligned or `DT_RELASZ` not a multiple of 24.
    MisalignedTable,
    /// The table is not within one segment's file-backed bytes.
    TableOutOfBounds,
    /// More entries than 8-byte words in the loaded memory: a genuine
    /// table relocates each word at most once, so this only bounds the
    /// work a hostile one can cause.
    TooManyEntries(usize),
    UnsupportedType {
        index: usize,
        r_type: u32,
    },
    SymbolRelocation {
        index: usize,
        symbol: u32,
    },
    /// `r_offset` plus 8 bytes is not inside one loaded segment's memory.
    TargetOutsideSegments {
        index: usize,
        offset: u64,
    },
    /// `r_offset` not 8-aligned: required so that a store never straddles
    /// a page and the writer may work one page at a time.
    MisalignedTarget {
        index: usize,
        offset: u64,
    },
    /// `r_offset + bias` or `bias + addend` does not fit 64 bits.
    Overflow {
        index: usize,
    },
    /// For the writer to report that it could not store at `vaddr`.
    WriteFailed {
        vaddr: u64,
    },
}

impl fmt::Display for RelocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RelocError::*;
        match *self {
            BadDynamic => write!(f, "reloc: program headers or PT_DYNAMIC outside the image"),
            DuplicateTag(t) => write!(f, "reloc: dynamic tag {t:#x} appears twice"),
            UnsupportedTag(t) => write!(f, "reloc: unsupported dynamic tag {t:#x}"),
            NoTable => write!(f, "reloc: DT_RELA and DT_RELASZ must come together"),
            BadEntrySize(s) => write!(f, "reloc: DT_RELAENT {s}, expected 24"),
            MisalignedTable => write!(f, "reloc: relocation table misaligned or partial"),
            TableOutOfBounds => {
                write!(f, "reloc: relocation table outside a segment's file bytes")
            }
            TooManyEntries(n) => write!(f, "reloc: {n} relocations exceed the loaded words"),
            UnsupportedType { index, r_type } => {
                write!(f, "reloc: entry {index}: unsupported type {r_type}")
            }
            SymbolRelocation { index, symbol } => {
                write!(f, "reloc: entry {index}: refers to symbol {symbol}")
            }
            TargetOutsideSegments { index, offset } => {
                write!(
                    f,
                    "reloc: entry {index}: target {offset:#x} outside the segments"
                )
            }
            MisalignedTarget { index, offset } => {
                write!(f, "reloc: entry {index}: target {offset:#x} not 8-aligned")
            }
            Overflow { index } => write!(f, "reloc: entry {index}: address overflow"),
            WriteFailed { vaddr } => write!(f, "reloc: cannot write at {vaddr:#x}"),
        }
    }
}

/// A checked `Elf64_Rela` table: where it is in the file and how many
/// entries it has. Only [`rela_table`] makes one.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Relocs {
    start: usize,
    count: usize,
}

/// Where the dynamic relocations of a PIE image are, found from
/// `PT_DYNAMIC` (`DT_RELA`, `DT_RELASZ`, `DT_RELAENT`). `None` if the image
/// has no `PT_DYNAMIC`; an empty table if it has one without relocations.
/// `DT_RELACOUNT` is not needed: every entry's type is checked anyway.
///
/// `plan` must come from [`crate::elf::plan`] on the same `image`; a
/// mismatched one yields errors, never a panic.
pub fn rela_table(image: &[u8], plan: &LoadPlan) -> Result<Option<Relocs>, RelocError> {
    let Some(dynamic) = dynamic_bytes(image)? else {
        return Ok(None);
    };
    let (mut rela, mut relasz, mut relaent) = (None, None, None);
    for d in dynamic.chunks_exact(DYN_SIZE) {
        let (tag, val) = (u64_at(d, 0).unwrap_or(0), u64_at(d, 8).unwrap_or(0));
        let slot = match tag {
            DT_NULL => break,
            DT_RELA => &mut rela,
            DT_RELASZ => &mut relasz,
            DT_RELAENT => &mut relaent,
            DT_NEEDED => return Err(RelocError::UnsupportedTag(tag)),
            DT_RELSZ | DT_PLTRELSZ | DT_RELRSZ if val != 0 => {
                return Err(RelocError::UnsupportedTag(tag));
            }
            _ => continue,
        };
        if slot.replace(val).is_some() {
            return Err(RelocError::DuplicateTag(tag));
        }
    }
    if let Some(e) = relaent.filter(|&e| e != RELA_SIZE as u64) {
        return Err(RelocError::BadEntrySize(e));
    }
    let (addr, size) = match (rela, relasz) {
        (None, None | Some(0)) => return Ok(Some(Relocs { start: 0, count: 0 })),
        (Some(a), Some(s)) => (a, s),
        _ => return Err(RelocError::NoTable),
    };
    if addr % 8 != 0 || size % RELA_SIZE as u64 != 0 {
        return Err(RelocError::MisalignedTable);
    }
    let start = plan
        .segments
        .iter()
        .find_map(|s| {
            let off = addr.checked_sub(s.vaddr)?;
            let end = off.checked_add(size)?;
            (end <= s.file_size).then(|| s.file_offset.checked_add(off))?
        })
        .and_then(|o| usize::try_from(o).ok())
        .ok_or(RelocError::TableOutOfBounds)?;
    // Within a segment's file bytes, so below the image length: no overflow.
    let count = (size / RELA_SIZE as u64) as usize;
    let relocs = Relocs { start, count };
    if image.get(relocs.file_range()).is_none() {
        return Err(RelocError::TableOutOfBounds);
    }
    let words = plan
        .segments
        .iter()
        .fold(0u64, |w, s| w.saturating_add(s.mem_size / 8));
    if count as u64 > words {
        return Err(RelocError::TooManyEntries(count));
    }
    Ok(Some(relocs))
}

impl Relocs {
    /// The table's bytes in the image.
    pub fn file_range(&self) -> Range<usize> {
        self.start
            ..self
                .start
                .saturating_add(self.count.saturating_mul(RELA_SIZE))
    }

    /// Number of entries, `NONE` ones included.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Apply every relocation for load offset `bias` (the image's segments
    /// are at `vaddr + bias`); returns how many values were written. Only
    /// `R_AARCH64_RELATIVE` is accepted (`bias + addend` stored at
    /// `r_offset + bias`), `R_AARCH64_NONE` is skipped; any other type, a
    /// symbol index other than 0, or a target not within a segment's
    /// memory is an error. `write(vaddr, value)` stores one little-endian
    /// u64 (8-aligned) into the process and may fail.
    ///
    /// Entries are applied in order and an error stops at the faulty one,
    /// so a failure leaves the image half relocated: discard the process.
    pub fn apply(
        &self,
        image: &[u8],
        plan: &LoadPlan,
        bias: u64,
        mut write: impl FnMut(u64, u64) -> Result<(), RelocError>,
    ) -> Result<usize, RelocError> {
        let table = image
            .get(self.file_range())
            .ok_or(RelocError::TableOutOfBounds)?;
        let mut written = 0;
        for (index, e) in table.chunks_exact(RELA_SIZE).enumerate() {
            let (Some(offset), Some(info), Some(addend)) =
                (u64_at(e, 0), u64_at(e, 8), u64_at(e, 16))
            else {
                return Err(RelocError::TableOutOfBounds);
            };
            let (r_type, symbol) = (info as u32, (info >> 32) as u32);
            match r_type {
                R_AARCH64_NONE => continue,
                R_AARCH64_RELATIVE => {}
                _ => return Err(RelocError::UnsupportedType { index, r_type }),
            }
            if symbol != 0 {
                return Err(RelocError::SymbolRelocation { index, symbol });
            }
            if offset % 8 != 0 {
                return Err(RelocError::MisalignedTarget { index, offset });
            }
            let inside = plan.segments.iter().any(|s| {
                s.mem_size
                    .checked_sub(8)
                    .is_some_and(|last| offset >= s.vaddr && offset - s.vaddr <= last)
            });
            if !inside {
                return Err(RelocError::TargetOutsideSegments { index, offset });
            }
            let target = offset.checked_add(bias);
            let value = bias.checked_add_signed(addend as i64);
            let (Some(target), Some(value)) = (target, value) else {
                return Err(RelocError::Overflow { index });
            };
            write(target, value)?;
            written += 1;
        }
        Ok(written)
    }
}

/// The file bytes of the first `PT_DYNAMIC`, if any.
fn dynamic_bytes(image: &[u8]) -> Result<Option<&[u8]>, RelocError> {
    let bad = RelocError::BadDynamic;
    if image.len() < EHDR_SIZE {
        return Err(bad);
    }
    let phoff = u64_at(image, 32).ok_or(bad)?;
    let phentsize = u16_at(image, 54).ok_or(bad)?;
    let phnum = u16_at(image, 56).ok_or(bad)?;
    if phentsize as usize != PHDR_SIZE || phnum > MAX_PROGRAM_HEADERS {
        return Err(bad);
    }
    let table = range(phoff, u64::from(phnum) * PHDR_SIZE as u64, image.len()).ok_or(bad)?;
    let table = image.get(table).ok_or(bad)?;
    for ph in table.chunks_exact(PHDR_SIZE) {
        if u32_at(ph, 0) != Some(PT_DYNAMIC) {
            continue;
        }
        let (offset, filesz) = (u64_at(ph, 8).ok_or(bad)?, u64_at(ph, 32).ok_or(bad)?);
        let bytes = range(offset, filesz, image.len()).and_then(|r| image.get(r));
        return bytes.map(Some).ok_or(bad);
    }
    Ok(None)
}

/// `[offset, offset + size)` if it lies within `len` bytes.
fn range(offset: u64, size: u64, len: usize) -> Option<Range<usize>> {
    let end = offset.checked_add(size)?;
    (end <= len as u64).then_some(offset as usize..end as usize)
}

#[cfg(test)]
mod tests;
