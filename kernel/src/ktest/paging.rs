//! Page tables on the real MMU: what the tables say is what the hardware does.

use alloc::format;
use kernel_core::addr::{PhysAddr, VirtAddr};
use kernel_core::paging::{Access, Attrs, Exec, PageSize, PageTable};

use super::{TestResult, check};
use crate::arch::exception::catch_fault;
use crate::arch::mmu;
use crate::memory::frames::{self, FrameTables};
use crate::memory::{kernel_map, layout};

/// A lower-half address no one uses (user address spaces come later).
const TEST_VA: u64 = 0x0000_4000_0000_0000;

fn read(va: u64) -> u64 {
    // SAFETY: the address is either mapped by the test or the read is made
    // inside `catch_fault`, which turns the abort into a return.
    unsafe { (va as *const u64).read_volatile() }
}

/// Map a frame at a lower-half address in a fresh table, install it in
/// TTBR0, read and write through it, unmap it and see the access fault.
pub fn map_translate_unmap() -> TestResult {
    let free_before = frames::counts().0;
    let mut t = FrameTables;
    let mut pt = PageTable::new(&mut t).map_err(|e| format!("new table: {e}"))?;
    let frame = frames::alloc().ok_or("out of frames")?;
    let alias = layout::phys_to_virt(frame).0 as *mut u64;
    // SAFETY: the frame is ours; RAM in the linear map.
    unsafe { alias.write_volatile(0x1234_5678_9abc_def0) };

    let va = VirtAddr(TEST_VA + 0x5000);
    pt.map(&mut t, va, frame, PageSize::Size4K, Attrs::KERNEL_DATA)
        .map_err(|e| format!("map: {e}"))?;
    let tr = pt.translate(&mut t, VirtAddr(va.0 + 0x10));
    check!(
        tr.map(|(pa, _)| pa) == Some(PhysAddr(frame.0 + 0x10)),
        "translate gave {tr:?}"
    );
    let again = pt.map(&mut t, va, frame, PageSize::Size4K, Attrs::KERNEL_DATA);
    check!(again.is_err(), "mapping the same page twice was accepted");

    mmu::set_user_table(Some(pt.root()));
    let through_mapping = read(va.0);
    // SAFETY: mapped read-write above.
    unsafe { (va.0 as *mut u64).add(1).write_volatile(0x55aa) };
    // SAFETY: the frame is ours; RAM in the linear map.
    let via_alias = unsafe { alias.add(1).read_volatile() };
    let before_unmap = catch_fault(|| {
        read(va.0);
    });

    let unmapped = pt.unmap(&mut t, va, PageSize::Size4K);
    mmu::flush_tlb_page(va);
    let after_unmap = catch_fault(|| {
        read(va.0);
    });
    mmu::set_user_table(None);
    pt.destroy(&mut t);
    frames::free(frame).map_err(|e| format!("free: {e}"))?;

    check!(
        through_mapping == 0x1234_5678_9abc_def0,
        "read {through_mapping:#x} through the mapping"
    );
    check!(
        via_alias == 0x55aa,
        "write through the mapping not seen in the frame: {via_alias:#x}"
    );
    check!(
        before_unmap.is_none(),
        "mapped access faulted: {:?}",
        before_unmap.map(|f| f.esr)
    );
    check!(unmapped == Ok(frame), "unmap returned {unmapped:?}");
    let f = after_unmap.ok_or("access after unmap did not fault")?;
    check!(f.esr.ec() == 0x25, "fault class {}", f.esr);
    check!(
        f.esr.fault_status() & 0x3c == 0x04,
        "not a translation fault: {}",
        f.esr
    );
    check!(f.far == va.0, "FAR {:#x}, expected {:#x}", f.far, va.0);
    let free_after = frames::counts().0;
    check!(
        free_after == free_before,
        "frames leaked: {free_before} free before, {free_after} after"
    );
    Ok(())
}

/// A 2 MiB block maps 2 MiB of contiguous RAM: the last word of the block
/// is the last word of the frames.
pub fn block_mappings() -> TestResult {
    let mut t = FrameTables;
    let mut pt = PageTable::new(&mut t).map_err(|e| format!("new table: {e}"))?;
    let block = frames::alloc_contiguous(512, 512).ok_or("no 2 MiB of contiguous RAM")?;
    let last = (2 << 20) - 8;
    // SAFETY: the block is ours; RAM in the linear map.
    unsafe { ((layout::phys_to_virt(block).0 + last) as *mut u64).write_volatile(0xb10c) };
    let va = VirtAddr(TEST_VA + (2 << 20));
    let mapped = pt.map(&mut t, va, block, PageSize::Size2M, Attrs::KERNEL_DATA);
    let misaligned = pt.map(
        &mut t,
        VirtAddr(TEST_VA + 0x1000),
        block,
        PageSize::Size2M,
        Attrs::KERNEL_DATA,
    );
    mmu::set_user_table(Some(pt.root()));
    let fault = catch_fault(|| {
        read(va.0 + last);
    });
    let value = if fault.is_none() {
        read(va.0 + last)
    } else {
        0
    };
    mmu::set_user_table(None);
    pt.destroy(&mut t);
    frames::free_contiguous(block, 512).map_err(|e| format!("free: {e}"))?;
    check!(mapped.is_ok(), "map 2 MiB block: {mapped:?}");
    check!(misaligned.is_err(), "a misaligned 2 MiB block was accepted");
    check!(fault.is_none(), "access through the block faulted");
    check!(value == 0xb10c, "read {value:#x} at the end of the block");
    Ok(())
}

/// The kernel's own tables give text R+X, rodata R, data RW+NX, and SCTLR.WXN is on.
pub fn kernel_wx() -> TestResult {
    let text = VirtAddr(kernel_wx as *const () as u64);
    static RODATA: [u8; 4] = *b"ro!!";
    static mut DATA: u64 = 0;
    let rodata = VirtAddr(RODATA.as_ptr() as u64);
    let data = VirtAddr((&raw const DATA) as u64);
    let heap_box = alloc::boxed::Box::new(0u64);
    let heap = VirtAddr(&*heap_box as *const u64 as u64);
    for (what, va, access, exec) in [
        ("text", text, Access::KernelRo, Exec::Kernel),
        ("rodata", rodata, Access::KernelRo, Exec::Never),
        ("data", data, Access::KernelRw, Exec::Never),
        ("heap", heap, Access::KernelRw, Exec::Never),
    ] {
        let (_, attrs) =
            kernel_map::translate(va).ok_or_else(|| format!("{what} at {va} not mapped"))?;
        check!(
            attrs.access == access && attrs.exec == exec,
            "{what} at {va} mapped {attrs:?}"
        );
    }
    let (mmu_on, caches, wxn) = mmu::status();
    check!(
        mmu_on && caches && wxn,
        "SCTLR_EL1: mmu {mmu_on} caches {caches} wxn {wxn}"
    );
    Ok(())
}

/// Writing to kernel code is a permission fault.
pub fn write_to_text_faults() -> TestResult {
    let target = write_to_text_faults as *const () as u64;
    let fault = catch_fault(|| {
        // SAFETY: a deliberate write to read-only code, expected to fault.
        unsafe { (target as *mut u32).write_volatile(0) };
    })
    .ok_or("writing to kernel text did not fault")?;
    check!(
        fault.esr.ec() == 0x25 && fault.esr.is_write(),
        "unexpected fault {}",
        fault.esr
    );
    check!(
        fault.esr.fault_status() & 0x3c == 0x0c,
        "not a permission fault: {}",
        fault.esr
    );
    check!(
        fault.far == target,
        "FAR {:#x}, expected {target:#x}",
        fault.far
    );
    Ok(())
}

/// The guard below every CPU's stack is unmapped: touching it faults, and
/// this test runs inside CPU 0's stack.
pub fn stack_guards_unmapped() -> TestResult {
    let local = core::hint::black_box(0u8);
    let here = core::hint::black_box(&raw const local) as u64;
    let stack0 = layout::stack(0);
    check!(
        stack0.contains(here - layout::KERNEL_VIRT_OFFSET),
        "a local at {here:#x} is not in CPU 0's stack {stack0}"
    );
    for (cpu, guard) in layout::stack_guards().enumerate() {
        check!(
            guard.end == layout::stack(cpu).start,
            "CPU {cpu}'s guard {guard} is not below its stack"
        );
        let va = layout::phys_to_virt(PhysAddr(guard.end - 8)).0;
        check!(
            kernel_map::translate(VirtAddr(va)).is_none(),
            "CPU {cpu}'s guard is mapped"
        );
        let f = catch_fault(|| {
            read(va);
        })
        .ok_or_else(|| format!("reading CPU {cpu}'s guard at {va:#x} did not fault"))?;
        check!(
            f.far == va && f.esr.fault_status() & 0x3c == 0x04,
            "fault {} at {:#x}",
            f.esr,
            f.far
        );
    }
    Ok(())
}
