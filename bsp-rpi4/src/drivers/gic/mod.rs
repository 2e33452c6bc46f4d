//! ARM Generic Interrupt Controllers: GICv2 (GIC-400 on the BCM2711, QEMU
//! `virt` default) and GICv3 (QEMU `virt,gic-version=3`).
//!
//! Interrupt numbers are GIC INTIDs throughout: SGIs 0..=15, PPIs 16..=31
//! (PPI n is INTID 16 + n; the EL1 virtual timer is INTID 27, the EL1
//! physical timer INTID 30), SPIs from 32.

pub mod gicv2;
pub mod gicv3;
// Not every accessor is used (reads kept for symmetry and debugging).
#[allow(dead_code)]
mod sysreg;

pub use gicv2::GicV2;
pub use gicv3::GicV3;

/// Priority given to every interrupt by the initialisation code. Lower is
/// more urgent; 0xA0 sits in the middle of the range a non-secure kernel can
/// use, leaving room above and below.
pub const DEFAULT_PRIORITY: u8 = 0xa0;

/// First INTID of the special range: 1020..=1023 are never real interrupts
/// (1023 means "spurious, nothing pending").
pub const SPECIAL_INTID_START: u32 = 1020;

/// An acknowledged interrupt, to be handed back to
/// [`IrqChip::end_of_interrupt`] unchanged: on GICv2 the acknowledge value of
/// an SGI also names the CPU that sent it, and the end-of-interrupt write
/// must repeat it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The value read from the acknowledge register (written back at EOI).
    raw: u32,
    intid: u32,
}

impl Ack {
    /// The interrupt's INTID.
    pub const fn intid(self) -> u32 {
        self.intid
    }
}

/// Operations the kernel needs from an interrupt controller.
pub trait IrqChip {
    /// Global, once-only set-up (boot CPU): disable everything, give every
    /// SPI the default priority, route it to the boot CPU, level-triggered,
    /// then enable forwarding.
    fn init_distributor(&self);
    /// Per-CPU set-up, on each CPU: banked SGIs/PPIs disabled and given the
    /// default priority, CPU interface unmasking all priorities.
    fn init_cpu(&self);
    /// Enables forwarding of `intid` (SGI/PPI: on the calling CPU only).
    fn enable(&self, intid: u32);
    /// Disables forwarding of `intid` (SGI/PPI: on the calling CPU only).
    fn disable(&self, intid: u32);
    /// Sets the priority of `intid` (lower value = higher priority).
    fn set_priority(&self, intid: u32, prio: u8);
    /// Acknowledges the highest-priority pending interrupt, or returns
    /// `None` if nothing was pending (INTIDs 1020..=1023).
    fn acknowledge(&self) -> Option<Ack>;
    /// Signals the end of handling of an interrupt returned by
    /// [`IrqChip::acknowledge`] (priority drop and deactivation).
    fn end_of_interrupt(&self, ack: Ack);
}

/// An interrupt controller chosen at run time from the device tree.
#[derive(Debug)]
pub enum Gic {
    /// GICv2 / GIC-400.
    V2(GicV2),
    /// GICv3.
    V3(GicV3),
}

impl Gic {
    /// Creates the driver matching `info`.
    ///
    /// # Safety
    ///
    /// The addresses in `info` must satisfy the contract of
    /// [`GicV2::new`] or [`GicV3::new`] respectively.
    pub const unsafe fn from_info(info: crate::GicInfo) -> Self {
        match info {
            crate::GicInfo::V2 { gicd, gicc } => {
                // SAFETY: forwarded from this function's contract.
                Gic::V2(unsafe { GicV2::new(gicd as usize, gicc as usize) })
            }
            crate::GicInfo::V3 { gicd, gicr } => {
                // SAFETY: forwarded from this function's contract.
                Gic::V3(unsafe { GicV3::new(gicd as usize, gicr as usize) })
            }
        }
    }
}

impl Gic {
    /// Send SGI `sgi` (0..16) to the core whose MPIDR is `mpidr` (on a
    /// GICv2, its CPU interface number is its MPIDR.Aff0, as on the Pi 4
    /// and QEMU virt).
    pub fn send_sgi(&self, sgi: u32, mpidr: u64) {
        match self {
            Gic::V2(g) => {
                if let Ok(core) = u8::try_from(mpidr & 0xff)
                    && core < 8
                {
                    // Stores before it are seen by the target.
                    sysreg::dsb_ishst();
                    g.send_sgi(sgi, 1 << core);
                }
            }
            Gic::V3(g) => g.send_sgi(sgi, mpidr),
        }
    }
}

impl IrqChip for Gic {
    fn init_distributor(&self) {
        match self {
            Gic::V2(g) => g.init_distributor(),
            Gic::V3(g) => g.init_distributor(),
        }
    }

    fn init_cpu(&self) {
        match self {
            Gic::V2(g) => g.init_cpu(),
            Gic::V3(g) => g.init_cpu(),
        }
    }

    fn enable(&self, intid: u32) {
        match self {
            Gic::V2(g) => g.enable(intid),
            Gic::V3(g) => g.enable(intid),
        }
    }

    fn disable(&self, intid: u32) {
        match self {
            Gic::V2(g) => g.disable(intid),
            Gic::V3(g) => g.disable(intid),
        }
    }

    fn set_priority(&self, intid: u32, prio: u8) {
        match self {
            Gic::V2(g) => g.set_priority(intid, prio),
            Gic::V3(g) => g.set_priority(intid, prio),
        }
    }

    fn acknowledge(&self) -> Option<Ack> {
        match self {
            Gic::V2(g) => g.acknowledge(),
            Gic::V3(g) => g.acknowledge(),
        }
    }

    fn end_of_interrupt(&self, ack: Ack) {
        match self {
            Gic::V2(g) => g.end_of_interrupt(ack),
            Gic::V3(g) => g.end_of_interrupt(ack),
        }
    }
}

/// Register index and bit mask of `intid` in a one-bit-per-interrupt array
/// (ISENABLER, ICENABLER, ICPENDR, IGROUPR, ...).
const fn bit_reg(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}
