//! Loading an ELF executable into a fresh address space: every PT_LOAD
//! segment mapped with its own permissions (never writable and executable),
//! its file bytes copied, the rest zeroed.

use kernel_core::elf;
use kernel_core::paging::Attrs;
use kos_abi::Rc;
use kos_abi::vm::{PAGE_SIZE, USER_END, USER_MIN};

use super::space::{AddressSpace, RegionKind};

/// Load `image` into `space`; returns the entry point. On error the caller
/// destroys the space (segments already mapped go with it).
pub fn load(space: &mut AddressSpace, path: &str, image: &[u8]) -> Result<u64, Rc> {
    let plan = elf::plan(image, USER_MIN, USER_END).map_err(|e| {
        crate::println!("task: {path}: bad executable: {e}");
        Rc::BadExecutable
    })?;
    for seg in &plan.segments {
        let attrs = match (seg.perms.write, seg.perms.exec) {
            (_, true) => Attrs::USER_TEXT,
            (true, false) => Attrs::USER_DATA,
            (false, false) => Attrs::USER_RODATA,
        };
        let (start, end) = seg.pages();
        let bytes = seg.file_bytes(image).ok_or(Rc::BadExecutable)?;
        let file_start = seg.vaddr;
        let file_end = seg.vaddr + bytes.len() as u64;
        space.map_new(start, end, RegionKind::Image, attrs, |page_va, page| {
            // The part of [file_start, file_end) inside this page.
            let lo = page_va.max(file_start);
            let hi = (page_va + PAGE_SIZE).min(file_end);
            if lo < hi {
                let src = &bytes[(lo - file_start) as usize..(hi - file_start) as usize];
                page[(lo - page_va) as usize..(hi - page_va) as usize].copy_from_slice(src);
            }
        })?;
    }
    Ok(plan.entry)
}
