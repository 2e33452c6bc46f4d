//! The operations the benchmarks time, with their untimed set-up.

use alloc::boxed::Box;
use core::hint::black_box;
use kernel_core::addr::VirtAddr;
use kernel_core::paging::{Attrs, PageSize, PageTable};

use crate::arch::sync::IrqLock;
use crate::arch::{exception, mmu};
use crate::memory::frames::{self, FrameTables};

pub fn nothing() {}

/// A synchronous exception (BRK) taken and returned from: vector entry,
/// full context save, dispatch, restore, `eret`.
pub fn exception_setup() -> fn() {
    #[inline(never)]
    fn op() {
        exception::catch_fault(|| {
            // SAFETY: caught by catch_fault, which resumes after it.
            unsafe { core::arch::asm!("brk #0") };
        });
    }
    op
}

pub fn frame_setup() -> fn() {
    #[inline(never)]
    fn op() {
        if let Some(pa) = frames::alloc() {
            let _ = frames::free(black_box(pa));
        }
    }
    op
}

pub fn heap_setup() -> fn() {
    #[inline(never)]
    fn op() {
        drop(black_box(Box::new([0u8; 64])));
    }
    op
}

/// A lower-half table whose intermediate tables already exist (a neighbour
/// page stays mapped), so the figure is the leaf map + unmap + TLB invalidate.
static TABLE: IrqLock<Option<(PageTable, kernel_core::addr::PhysAddr)>> = IrqLock::new(None);
const BENCH_VA: u64 = 0x0000_4000_0000_0000;

pub fn paging_setup() -> fn() {
    let mut t = FrameTables;
    let frame = frames::alloc().expect("a frame for the paging benchmark");
    let mut pt = PageTable::new(&mut t).expect("a table for the paging benchmark");
    pt.map(
        &mut t,
        VirtAddr(BENCH_VA),
        frame,
        PageSize::Size4K,
        Attrs::KERNEL_DATA,
    )
    .expect("neighbour mapping");
    *TABLE.lock() = Some((pt, frame));
    #[inline(never)]
    fn op() {
        let mut guard = TABLE.lock();
        let Some((pt, frame)) = guard.as_mut() else {
            return;
        };
        let va = VirtAddr(BENCH_VA + 0x1000);
        let mut t = FrameTables;
        if pt
            .map(&mut t, va, *frame, PageSize::Size4K, Attrs::KERNEL_DATA)
            .is_ok()
        {
            let _ = pt.unmap(&mut t, va, PageSize::Size4K);
            mmu::flush_tlb_page(va);
        }
    }
    op
}

pub fn paging_teardown() {
    if let Some((pt, frame)) = TABLE.lock().take() {
        pt.destroy(&mut FrameTables);
        let _ = frames::free(frame);
    }
}

static LOCK: IrqLock<u64> = IrqLock::new(0);

pub fn lock_setup() -> fn() {
    #[inline(never)]
    fn op() {
        *LOCK.lock() += 1;
    }
    op
}

pub fn romfs_setup() -> fn() {
    #[inline(never)]
    fn op() {
        if let Ok(img) = crate::romfs::image() {
            let _ = black_box(img.lookup(black_box("/etc/motd")));
        }
    }
    op
}

/// The subjects of the policy benchmarks' messages (looked up in set-up).
static SUBJECTS: [core::sync::atomic::AtomicU16; 2] = [
    core::sync::atomic::AtomicU16::new(0),
    core::sync::atomic::AtomicU16::new(0),
];

fn subjects(src: &str, dst: &str) -> (u16, u16) {
    use core::sync::atomic::Ordering::Relaxed;
    crate::security::init();
    let s = crate::security::subject_of(src, src).map_or(u16::MAX, |x| x.0);
    let d = crate::security::subject_of(dst, dst).map_or(u16::MAX, |x| x.0);
    SUBJECTS[0].store(s, Relaxed);
    SUBJECTS[1].store(d, Relaxed);
    (s, d)
}

fn prepared() -> (u16, u16) {
    use core::sync::atomic::Ordering::Relaxed;
    (SUBJECTS[0].load(Relaxed), SUBJECTS[1].load(Relaxed))
}

/// One policy decision (`Policy::decide`, the monitor's full path, as a
/// sending thread's grant cache would not have it): ubench's console
/// write, granted by one unconditional rule of the benchmark policy.
pub fn policy_setup() -> fn() {
    subjects("ubench", "kl.core.Core");
    #[inline(never)]
    fn op() {
        let (s, d) = prepared();
        let d = crate::security::bench_decide(
            policy_table::Event::Call,
            s,
            d,
            kos_abi::interfaces::console::Method::Write.decl(),
            b"",
        );
        black_box(d);
    }
    op
}

/// One decision of a rule with a condition: einit starting ubench, granted
/// if the path is `/bench/ubench`.
pub fn policy_conditional_setup() -> fn() {
    subjects("einit", "ubench");
    #[inline(never)]
    fn op() {
        let (s, d) = prepared();
        let d = crate::security::bench_decide(
            policy_table::Event::Execute,
            s,
            d,
            kos_abi::interfaces::task::Method::Create.decl(),
            b"/bench/ubench",
        );
        black_box(d);
    }
    op
}
