//! Exception entry: the vector table (`vectors.s`), the saved context
//! ([`TrapFrame`]) and the dispatch from the thin assembly entry to safe code.
//!
//! An exception nobody expects is fatal: the report (decoded ESR, FAR, ELR,
//! SPSR, registers) goes to the console and the system stops with a failure
//! status. Tests can expect one synchronous exception with [`catch_fault`].

use aarch64_cpu::registers::{ELR_EL1, ESR_EL1, FAR_EL1, Readable, VBAR_EL1, Writeable};
use bsp_rpi4::board;
use core::arch::global_asm;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_core::esr::Esr;

/// Saved context of the interrupted code, laid out as `vectors.s` stores it.
#[repr(C)]
pub struct TrapFrame {
    /// x0..x30.
    pub x: [u64; 31],
    pub sp_el0: u64,
    pub elr: u64,
    pub spsr: u64,
    /// FPCR, FPSR, TPIDR_EL0 and q0..q31 are not stored by the vectors:
    /// they are switched with the thread (`thread_regs`).
    pub fpcr: u64,
    pub fpsr: u64,
    /// The user thread pointer (TLS base), per thread.
    pub tpidr_el0: u64,
    _pad: u64,
    /// q0..q31.
    pub q: [u128; 32],
}

impl TrapFrame {
    /// A zeroed frame on the kernel heap, without panicking when it is full
    /// (user space must never make the kernel panic).
    pub fn try_new_boxed() -> Option<alloc::boxed::Box<TrapFrame>> {
        let layout = core::alloc::Layout::new::<TrapFrame>();
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) }.cast::<TrapFrame>();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `ptr` is a fresh allocation with TrapFrame's layout, and
        // all zeroes is a valid TrapFrame (it holds only integers); Box
        // takes it over and frees it with the same layout.
        Some(unsafe { alloc::boxed::Box::from_raw(ptr) })
    }

    pub const fn zeroed() -> Self {
        Self {
            x: [0; 31],
            sp_el0: 0,
            elr: 0,
            spsr: 0,
            fpcr: 0,
            fpsr: 0,
            tpidr_el0: 0,
            _pad: 0,
            q: [0; 32],
        }
    }
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = {
    assert!(FRAME_SIZE == 816);
    assert!(core::mem::offset_of!(TrapFrame, sp_el0) == 248);
    assert!(core::mem::offset_of!(TrapFrame, elr) == 256);
    assert!(core::mem::offset_of!(TrapFrame, fpcr) == 272);
    assert!(core::mem::offset_of!(TrapFrame, tpidr_el0) == 288);
};

global_asm!(
    include_str!("vectors.s"),
    FRAME_SIZE = const FRAME_SIZE,
    STACK_SHIFT = const super::boot::STACK_SHIFT,
);

/// Where an exception came from and what it was: the vector table's 16 slots.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Kind(u64);

impl Kind {
    /// Synchronous exception at EL1 on SP_EL1 (the kernel's own faults).
    pub const SYNC_EL1: Kind = Kind(4);
    /// Synchronous exception from EL0 in AArch64 (syscalls, user faults).
    pub const SYNC_EL0: Kind = Kind(8);

    fn origin(self) -> &'static str {
        match self.0 / 4 {
            0 => "EL1 with SP_EL0",
            1 => "EL1",
            2 => "EL0 (AArch64)",
            _ => "EL0 (AArch32)",
        }
    }
    fn class(self) -> &'static str {
        match self.0 % 4 {
            0 => "synchronous",
            1 => "IRQ",
            2 => "FIQ",
            _ => "SError",
        }
    }
    pub fn is_irq(self) -> bool {
        self.0 % 4 == 1
    }
    pub fn is_sync(self) -> bool {
        self.0.is_multiple_of(4)
    }
    /// From EL0 (a user thread).
    pub fn is_from_user(self) -> bool {
        self.0 >= 8
    }
    /// From a thread's context (a user thread, or an idle thread at EL1t),
    /// saved into that thread's frame; otherwise from the kernel itself.
    fn is_from_thread(self) -> bool {
        self.0 < 4 || self.0 >= 8
    }
    fn is_sync_from_el1(self) -> bool {
        self.0 == 4
    }
}

/// Install the vector table on this core.
pub fn init() {
    unsafe extern "C" {
        static __exception_vectors: u8;
    }
    // The table is 2 KiB aligned by vectors.s, as VBAR_EL1 requires.
    VBAR_EL1.set((&raw const __exception_vectors) as u64);
    super::cpu::isb();
}

/// Called by `vectors.s` with the saved context of the interrupted code;
/// returns the context to resume.
#[unsafe(no_mangle)]
extern "C" fn exception_dispatch(frame: *mut TrapFrame, kind: u64) -> *mut TrapFrame {
    let kind = Kind(kind);
    if kind == Kind::SYNC_EL0 {
        // SAFETY: the vectors just saved the current thread's context into
        // its frame; while this CPU serves its exception nothing else uses
        // that frame (other code reaches it only through the kernel lock,
        // which `from_thread` takes after this borrow has ended).
        if crate::trap::quick_syscall(unsafe { &mut *frame }) {
            return frame;
        }
    }
    dispatch(frame, kind)
}

/// Everything but a quick syscall (kept out of line, so that the quick
/// path does not pay for the registers this needs).
#[inline(never)]
fn dispatch(frame: *mut TrapFrame, kind: Kind) -> *mut TrapFrame {
    if kind.is_from_thread() {
        return crate::trap::from_thread(kind, frame);
    }
    // SAFETY: for exceptions taken in the kernel, vectors.s passes the frame
    // it just saved on this CPU's stack; nothing else refers to it.
    let frame = unsafe { &mut *frame };
    if kind.is_irq() {
        // The kernel itself is never preempted: it resumes where it was.
        crate::arch::irq::handle();
        return frame;
    }
    let esr = Esr(ESR_EL1.get());
    let far = FAR_EL1.get();
    let probe = probe();
    if kind.is_sync_from_el1() && probe.expecting.swap(false, Ordering::AcqRel) {
        probe.esr.store(esr.0, Ordering::Relaxed);
        probe.far.store(far, Ordering::Relaxed);
        probe.elr.store(frame.elr, Ordering::Relaxed);
        probe.caught.store(true, Ordering::Release);
        // Resume after the faulting instruction (all A64 instructions are 4 bytes).
        frame.elr += 4;
        return frame;
    }
    fatal(kind, esr, far, frame)
}

/// An exception from a thread context that only a kernel or hardware bug
/// explains (a fault in an idle thread, FIQ, SError): report and stop.
pub fn fatal_current(kind: Kind) -> ! {
    let mut out = crate::console::emergency();
    let _ = fmt::write(
        &mut out,
        format_args!(
            "\n*** unexpected exception: {} from {}\n    ESR  {:#018x}  {}\n    FAR  {:#018x}\n    ELR  {:#018x}\n*** system stopped\n",
            kind.class(),
            kind.origin(),
            ESR_EL1.get(),
            Esr(ESR_EL1.get()),
            FAR_EL1.get(),
            ELR_EL1.get()
        ),
    );
    crate::power::shutdown(crate::power::EXIT_UNEXPECTED_EXCEPTION)
}

/// Report an exception nobody expected and stop the system.
fn fatal(kind: Kind, esr: Esr, far: u64, frame: &TrapFrame) -> ! {
    let mut out = crate::console::emergency();
    let _ = fmt::write(
        &mut out,
        format_args!(
            "{}",
            Report {
                kind,
                esr,
                far,
                frame
            }
        ),
    );
    crate::power::shutdown(crate::power::EXIT_UNEXPECTED_EXCEPTION)
}

/// Called by `vectors.s` on the overflow stack when an exception found SP
/// in the guard below a kernel stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_stack_overflow(sp: u64) -> ! {
    static REPORTING: AtomicBool = AtomicBool::new(false);
    if REPORTING.swap(true, Ordering::AcqRel) {
        // A fault while reporting: stop without another word.
        crate::power::shutdown(crate::power::EXIT_UNEXPECTED_EXCEPTION)
    }
    let (esr, far, elr) = (Esr(ESR_EL1.get()), FAR_EL1.get(), ELR_EL1.get());
    let mut out = crate::console::emergency();
    let cpu = crate::memory::layout::stack_slot_of(sp);
    let _ = fmt::write(
        &mut out,
        format_args!(
            "\n*** kernel stack overflow: SP {sp:#018x} is in the guard below CPU {}'s stack\n    \
             ESR  {:#018x}  {}\n    FAR  {far:#018x}\n    ELR  {elr:#018x}\n*** system stopped\n",
            cpu.map_or(-1, |c| c as i64),
            esr.0,
            esr
        ),
    );
    crate::power::shutdown(crate::power::EXIT_UNEXPECTED_EXCEPTION)
}

/// The human-readable report of an unexpected exception.
pub struct Report<'a> {
    pub kind: Kind,
    pub esr: Esr,
    pub far: u64,
    pub frame: &'a TrapFrame,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fr = self.frame;
        writeln!(
            f,
            "\n*** unexpected exception: {} from {}",
            self.kind.class(),
            self.kind.origin()
        )?;
        writeln!(f, "    ESR  {:#018x}  {}", self.esr.0, self.esr)?;
        writeln!(f, "    FAR  {:#018x}", self.far)?;
        writeln!(
            f,
            "    ELR  {:#018x}  SPSR {:#010x}  SP_EL0 {:#018x}",
            fr.elr, fr.spsr, fr.sp_el0
        )?;
        for row in 0..11 {
            for col in 0..3 {
                let r = row + col * 11;
                if r < 31 {
                    write!(f, "    x{:<2} {:#018x}", r, fr.x[r])?;
                }
            }
            writeln!(f)?;
        }
        writeln!(f, "*** system stopped")
    }
}

/// One core's fault probe: whether it expects a fault, and the one it caught.
struct Probe {
    expecting: AtomicBool,
    caught: AtomicBool,
    esr: AtomicU64,
    far: AtomicU64,
    elr: AtomicU64,
}

impl Probe {
    const fn new() -> Self {
        Self {
            expecting: AtomicBool::new(false),
            caught: AtomicBool::new(false),
            esr: AtomicU64::new(0),
            far: AtomicU64::new(0),
            elr: AtomicU64::new(0),
        }
    }
}

/// Per core: a fault is always taken on the core that made it.
static PROBES: [Probe; board::MAX_CPUS] = [const { Probe::new() }; board::MAX_CPUS];

fn probe() -> &'static Probe {
    // core_id() < MAX_CPUS: other cores are parked by boot.s.
    &PROBES[super::cpu::core_id() % board::MAX_CPUS]
}

/// What [`catch_fault`] saw.
#[derive(Copy, Clone, Debug)]
pub struct Fault {
    pub esr: Esr,
    pub far: u64,
    pub elr: u64,
}

/// Run `f`, expecting it to take at most one synchronous exception at EL1;
/// the faulting instruction is skipped and the fault returned. For tests and
/// probes only: per core, not re-entrant.
pub fn catch_fault(f: impl FnOnce()) -> Option<Fault> {
    let probe = probe();
    probe.caught.store(false, Ordering::Relaxed);
    probe.expecting.store(true, Ordering::Release);
    f();
    probe.expecting.store(false, Ordering::Release);
    probe.caught.load(Ordering::Acquire).then(|| Fault {
        esr: Esr(probe.esr.load(Ordering::Relaxed)),
        far: probe.far.load(Ordering::Relaxed),
        elr: probe.elr.load(Ordering::Relaxed),
    })
}
