//! Interrupt dispatch: the board's GIC (v2 or v3, chosen from the device tree
//! at boot) and a fixed table of handlers indexed by INTID. No allocation and
//! no locks on the interrupt path.

use bsp_rpi4::devicetree::GicInfo;
use bsp_rpi4::drivers::gic::{Gic, GicV2, GicV3, IrqChip};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::memory::layout::phys_to_virt_addr;
use crate::println;

/// Handlers exist for INTIDs below this (SGIs, PPIs and the first SPIs).
const MAX_INTID: usize = 256;

static GIC: spin::Once<Gic> = spin::Once::new();
static HANDLERS: [AtomicUsize; MAX_INTID] = [const { AtomicUsize::new(0) }; MAX_INTID];
static SPURIOUS: AtomicUsize = AtomicUsize::new(0);

/// Bring up the interrupt controller described by `info` (distributor and this core's interface).
pub fn init(info: GicInfo) {
    let gic = match info {
        // SAFETY: the addresses come from the device tree (or the board's
        // defaults) and lie in the board's MMIO windows, mapped as Device
        // memory at phys + KERNEL_VIRT_OFFSET by the kernel tables.
        GicInfo::V2 { gicd, gicc } => unsafe {
            Gic::V2(GicV2::new(
                phys_to_virt_addr(gicd) as usize,
                phys_to_virt_addr(gicc) as usize,
            ))
        },
        // SAFETY: as above.
        GicInfo::V3 { gicd, gicr } => unsafe {
            Gic::V3(GicV3::new(
                phys_to_virt_addr(gicd) as usize,
                phys_to_virt_addr(gicr) as usize,
            ))
        },
    };
    gic.init_distributor();
    gic.init_cpu();
    let name = match info {
        GicInfo::V2 { gicd, gicc } => ("GICv2", gicd, gicc),
        GicInfo::V3 { gicd, gicr } => ("GICv3", gicd, gicr),
    };
    println!(
        "irq: {} up (distributor {:#x}, cpu/redistributor {:#x})",
        name.0, name.1, name.2
    );
    GIC.call_once(|| gic);
}

/// Route `intid` to `handler` and enable it. Returns false if `intid` is out of range.
pub fn register(intid: u32, handler: fn()) -> bool {
    let Some(slot) = HANDLERS.get(intid as usize) else {
        return false;
    };
    slot.store(handler as usize, Ordering::Release);
    if let Some(gic) = GIC.get() {
        gic.set_priority(intid, 0x80);
        gic.enable(intid);
    }
    true
}

/// Called from the IRQ vector: acknowledge, dispatch and complete every pending interrupt.
pub fn handle() {
    let Some(gic) = GIC.get() else { return };
    while let Some(ack) = gic.acknowledge() {
        let intid = ack.intid();
        let handler = HANDLERS
            .get(intid as usize)
            .map(|h| h.load(Ordering::Acquire))
            .unwrap_or(0);
        if handler != 0 {
            // SAFETY: non-zero slots only ever hold a `fn()` stored by `register`.
            let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(handler) };
            f();
        } else {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
        gic.end_of_interrupt(ack);
    }
}

/// The interrupt controller of a secondary core (on that core): its CPU
/// interface, and its banked timer PPI and SGI `sgi` enabled. Returns the
/// timer's INTID.
pub fn init_secondary(sgi: u32) -> u32 {
    let timer = crate::memory::platform::timer_irq().unwrap_or(bsp_rpi4::board::TIMER_IRQ);
    if let Some(gic) = GIC.get() {
        gic.init_cpu();
        for intid in [timer, sgi] {
            gic.set_priority(intid, 0x80);
            gic.enable(intid);
        }
    }
    timer
}

/// Take every pending interrupt by hand, interrupts masked (an idle
/// secondary after `wfi`): `f` gets each INTID, then it is completed.
pub fn take_masked(mut f: impl FnMut(u32)) {
    let Some(gic) = GIC.get() else { return };
    while let Some(ack) = gic.acknowledge() {
        f(ack.intid());
        gic.end_of_interrupt(ack);
    }
}

/// Send SGI `sgi` to the core whose MPIDR is `mpidr`.
pub fn send_sgi(sgi: u32, mpidr: u64) {
    if let Some(gic) = GIC.get() {
        gic.send_sgi(sgi, mpidr);
    }
}

/// Interrupts that arrived with no handler registered.
pub fn unhandled_count() -> usize {
    SPURIOUS.load(Ordering::Relaxed)
}
