//! Loading an ELF executable into a fresh address space: every PT_LOAD
//! segment mapped with its own permissions (never writable and executable),
//! its file bytes copied, the rest zeroed. A position-independent program
//! (ET_DYN, static-pie) goes at a random page-aligned offset and its
//! `R_AARCH64_RELATIVE` relocations are applied; the symbol tables are kept
//! (by reference into the ROMFS) for crash reports and `GetElfSyms`.

use kernel_core::aslr::Aslr;
use kernel_core::elf::{self, LoadPlan};
use kernel_core::paging::Attrs;
use kernel_core::reloc;
use kos_abi::Rc;
use kos_abi::vm::{ENV_BASE, PAGE_SIZE, USER_END, USER_MIN};

use super::space::{AddressSpace, RegionKind};

/// Where position-independent programs may be placed: above the usual
/// link address of fixed ones and below the environment page.
const PIE_MIN: u64 = 0x100_0000;
const PIE_MAX: u64 = ENV_BASE;

/// What loading produced.
pub struct Loaded {
    pub entry: u64,
    /// Added to every address of the image (0 for ET_EXEC).
    pub load_offset: u64,
    /// `.symtab` and `.strtab`, if the image has them.
    pub syms: Option<(&'static [u8], &'static [u8])>,
}

/// Load `image` into `space`, a position-independent one at an offset from
/// `aslr`. On error the caller destroys the space.
pub fn load(
    space: &mut AddressSpace,
    path: &str,
    image: &'static [u8],
    aslr: &mut Aslr,
) -> Result<Loaded, Rc> {
    let bad = |e: &dyn core::fmt::Display| {
        crate::println!("task: {path}: bad executable: {e}");
        Rc::BadExecutable
    };
    // A PIE is linked near 0, so plan it first against the whole range.
    let plan = elf::plan(image, 0, USER_END).map_err(|e| bad(&e))?;
    let (plan, bias) = if plan.position_independent {
        let lo = plan.segments.iter().map(|s| s.pages().0).min().unwrap_or(0);
        let hi = plan.segments.iter().map(|s| s.pages().1).max().unwrap_or(0);
        let bias = aslr
            .load_offset(lo, hi - lo, PIE_MIN, PIE_MAX)
            .ok_or_else(|| bad(&"too large to place"))?;
        (plan, bias)
    } else {
        // A fixed-address program must lie in user space as linked.
        (
            elf::plan(image, USER_MIN, USER_END).map_err(|e| bad(&e))?,
            0,
        )
    };
    map_segments(space, image, &plan, bias)?;
    if plan.position_independent {
        relocate(space, image, &plan, bias).map_err(|e| bad(&e))?;
    }
    let syms = elf::symbols(image).and_then(|(s, t)| Some((image.get(s)?, image.get(t)?)));
    Ok(Loaded {
        entry: plan.entry + bias,
        load_offset: bias,
        syms,
    })
}

fn map_segments(
    space: &mut AddressSpace,
    image: &[u8],
    plan: &LoadPlan,
    bias: u64,
) -> Result<(), Rc> {
    for seg in &plan.segments {
        let attrs = match (seg.perms.write, seg.perms.exec) {
            (_, true) => Attrs::USER_TEXT,
            (true, false) => Attrs::USER_DATA,
            (false, false) => Attrs::USER_RODATA,
        };
        let (start, end) = seg.pages();
        let bytes = seg.file_bytes(image).ok_or(Rc::BadExecutable)?;
        let file_start = seg.vaddr + bias;
        let file_end = file_start + bytes.len() as u64;
        space.map_new(
            start + bias,
            end + bias,
            RegionKind::Image,
            attrs,
            |page_va, page| {
                // The part of [file_start, file_end) inside this page.
                let lo = page_va.max(file_start);
                let hi = (page_va + PAGE_SIZE).min(file_end);
                if lo >= hi {
                    return 0..0;
                }
                let src = &bytes[(lo - file_start) as usize..(hi - file_start) as usize];
                let at = (lo - page_va) as usize..(hi - page_va) as usize;
                page[at.clone()].copy_from_slice(src);
                at
            },
        )?;
    }
    Ok(())
}

/// Apply the image's relative relocations for `bias` (read-only segments
/// included: the kernel writes through its own mapping).
fn relocate(
    space: &mut AddressSpace,
    image: &[u8],
    plan: &LoadPlan,
    bias: u64,
) -> Result<usize, reloc::RelocError> {
    let Some(relocs) = reloc::rela_table(image, plan)? else {
        return Ok(0);
    };
    relocs.apply(image, plan, bias, |vaddr, value| {
        space
            .poke(vaddr, &value.to_le_bytes())
            .map_err(|_| reloc::RelocError::WriteFailed { vaddr })
    })
}
