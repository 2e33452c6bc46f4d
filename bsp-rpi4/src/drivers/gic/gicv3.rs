//! GICv3 (QEMU `virt,gic-version=3`).
//!
//! Layout from the GICv3/v4 architecture specification (ARM IHI 0069),
//! 12.8 "The GIC Distributor register map", 12.10 "The GIC Redistributor
//! register map" and 12.11 (SGI_base frame). The CPU interface is used
//! through system registers (ICC_*_EL1), see the `sysreg` module.
//!
//! Affinity routing is enabled and every interrupt is put in (Non-secure)
//! Group 1, signalled as IRQ through ICC_IGRPEN1_EL1. That works both for a
//! Non-secure kernel on a GIC with two security states and for a GIC with a
//! single security state (GICD_CTLR.DS = 1, QEMU's default).
//!
//! Requirement on boot code: if the kernel was entered at EL2 and drops to
//! EL1, ICC_SRE_EL2 must have SRE and Enable set first, or EL1 cannot use the
//! system register interface.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

use super::{Ack, DEFAULT_PRIORITY, IrqChip, SPECIAL_INTID_START, bit_reg, sysreg};

register_bitfields! {
    u32,

    /// GICD_CTLR. Bit meanings below are for a Non-secure access; with a
    /// single security state (DS = 1) bit 0 is EnableGrp0, bit 1 EnableGrp1
    /// and bit 4 ARE, so the same value enables everything there too.
    GICD_CTLR [
        /// Enable Non-secure Group 1 (DS = 1: Group 0).
        ENABLE_GRP1 OFFSET(0) NUMBITS(1) [],
        /// Alias used by Non-secure software for Group 1 (DS = 1: EnableGrp1).
        ENABLE_GRP1A OFFSET(1) NUMBITS(1) [],
        /// Affinity routing enable (Non-secure state / DS = 1: ARE).
        ARE_NS OFFSET(4) NUMBITS(1) [],
        /// Disable security (reads 1 on a single-security-state GIC).
        DS OFFSET(6) NUMBITS(1) [],
        /// Register write pending: an earlier CTLR or ICENABLER write has not
        /// taken effect everywhere yet.
        RWP OFFSET(31) NUMBITS(1) []
    ],

    /// GICD_TYPER.
    GICD_TYPER [
        /// SPI lines: max INTID is 32 * (N + 1) - 1 (capped at 1019).
        IT_LINES_NUMBER OFFSET(0) NUMBITS(5) []
    ],

    /// GICR_CTLR.
    GICR_CTLR [
        /// Register write pending for ICENABLER0 in the SGI frame.
        RWP OFFSET(3) NUMBITS(1) []
    ],

    /// GICR_WAKER: power handshake between a PE and its redistributor.
    GICR_WAKER [
        /// 1: the PE is asleep; the redistributor will not forward to it.
        PROCESSOR_SLEEP OFFSET(1) NUMBITS(1) [],
        /// Reads 1 while the interface to the PE is still quiescent.
        CHILDREN_ASLEEP OFFSET(2) NUMBITS(1) []
    ]
}

register_bitfields! {
    u64,

    /// GICR_TYPER.
    GICR_TYPER [
        /// Virtual LPIs supported: GICv4 frame layout, four 64 KiB frames
        /// per redistributor instead of two.
        VLPIS OFFSET(1) NUMBITS(1) [],
        /// This is the last redistributor of the contiguous region.
        LAST OFFSET(4) NUMBITS(1) [],
        /// Processor number.
        PROCESSOR_NUMBER OFFSET(8) NUMBITS(16) [],
        /// Aff3.Aff2.Aff1.Aff0 of the PE this redistributor serves.
        AFFINITY_VALUE OFFSET(32) NUMBITS(32) []
    ]
}

register_structs! {
    /// GICv3 distributor (64 KiB frame; only the part used is declared).
    #[allow(non_snake_case)]
    DistributorRegs {
        (0x0000 => CTLR: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => TYPER: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => IIDR: ReadOnly<u32>),
        (0x000c => _reserved0),
        /// Group per SPI: 1 = Group 1 (entry 0, SGIs/PPIs, is in the
        /// redistributor when affinity routing is on).
        (0x0080 => IGROUPR: [ReadWrite<u32>; 32]),
        (0x0100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x0180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x0200 => ISPENDR: [ReadWrite<u32>; 32]),
        (0x0280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x0300 => ISACTIVER: [ReadWrite<u32>; 32]),
        (0x0380 => ICACTIVER: [ReadWrite<u32>; 32]),
        /// One priority byte per interrupt.
        (0x0400 => IPRIORITYR: [ReadWrite<u8>; 1020]),
        (0x07fc => _reserved1),
        /// Two bits per interrupt; bit 1 of each pair: 0 level, 1 edge.
        (0x0c00 => ICFGR: [ReadWrite<u32>; 64]),
        /// Group modifier (Secure only; left alone).
        (0x0d00 => IGRPMODR: [ReadWrite<u32>; 32]),
        (0x0d80 => _reserved2),
        /// SPI routing, one 64-bit affinity per INTID; entries 0..32 are
        /// reserved, so the array starts at INTID 32 (0x6000 + 8 * 32).
        (0x6100 => IROUTER: [ReadWrite<u64>; 988]),
        (0x7fe0 => @END),
    }
}

register_structs! {
    /// Redistributor RD_base frame (control).
    #[allow(non_snake_case)]
    RdRegs {
        (0x0000 => CTLR: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0004 => IIDR: ReadOnly<u32>),
        (0x0008 => TYPER: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => STATUSR: ReadWrite<u32>),
        (0x0014 => WAKER: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => @END),
    }
}

register_structs! {
    /// Redistributor SGI_base frame (RD_base + 64 KiB): the banked SGI/PPI
    /// configuration of one PE.
    #[allow(non_snake_case)]
    SgiRegs {
        (0x0000 => _reserved0),
        (0x0080 => IGROUPR0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => ISENABLER0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => ICENABLER0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        (0x0200 => ISPENDR0: ReadWrite<u32>),
        (0x0204 => _reserved4),
        (0x0280 => ICPENDR0: ReadWrite<u32>),
        (0x0284 => _reserved5),
        (0x0300 => ISACTIVER0: ReadWrite<u32>),
        (0x0304 => _reserved6),
        (0x0380 => ICACTIVER0: ReadWrite<u32>),
        (0x0384 => _reserved7),
        (0x0400 => IPRIORITYR: [ReadWrite<u8>; 32]),
        (0x0420 => _reserved8),
        /// ICFGR0 (SGIs, read-only edge) and ICFGR1 (PPIs).
        (0x0c00 => ICFGR: [ReadWrite<u32>; 2]),
        (0x0c08 => @END),
    }
}

/// Offset of the SGI_base frame from RD_base.
const SGI_FRAME: usize = 0x1_0000;
/// Redistributor stride: RD_base + SGI_base frames (GICv3).
const RD_STRIDE: usize = 0x2_0000;
/// Stride with GICv4 virtual LPI support: two extra frames.
const RD_STRIDE_VLPI: usize = 0x4_0000;
/// Bound on the redistributor scan, against a missing `Last` bit.
const MAX_REDISTRIBUTORS: usize = 512;
/// Bound on RWP / ChildrenAsleep polls.
const MAX_SPINS: u32 = 10_000_000;
/// ICC_SRE_EL1: SRE (system register interface) | DFB | DIB.
const ICC_SRE_ENABLE: u64 = 0b111;
/// ICC_CTLR_EL1.EOImode: split priority drop / deactivation (kept clear).
const ICC_CTLR_EOIMODE: u64 = 1 << 1;

/// Aff3.Aff2.Aff1.Aff0 packed as in GICR_TYPER bits 63..=32, from an MPIDR
/// value.
pub const fn mpidr_to_affinity(mpidr: u64) -> u32 {
    ((((mpidr >> 32) & 0xff) << 24) | (mpidr & 0x00ff_ffff)) as u32
}

/// IROUTER value routing to the PE with the given MPIDR (Interrupt_Routing_Mode
/// 0: that PE only).
const fn mpidr_to_irouter(mpidr: u64) -> u64 {
    mpidr & 0xff_00ff_ffff
}

fn spin_while(cond: impl Fn() -> bool) {
    let mut spins = 0;
    while cond() && spins < MAX_SPINS {
        core::hint::spin_loop();
        spins += 1;
    }
}

/// A GICv3 distributor plus redistributor region; the CPU interface is the
/// calling CPU's system registers.
#[derive(Debug)]
pub struct GicV3 {
    gicd: usize,
    gicr: usize,
}

impl GicV3 {
    /// Creates a handle for the GICv3 with distributor at `gicd_base` and the
    /// first redistributor (of a contiguous region ending at GICR_TYPER.Last)
    /// at `gicr_base`.
    ///
    /// # Safety
    ///
    /// Both addresses must map the respective GICv3 frames (distributor:
    /// 64 KiB; redistributors: the whole region) as Device memory for as long
    /// as the handle is used, and no other driver may program the GIC
    /// concurrently.
    pub const unsafe fn new(gicd_base: usize, gicr_base: usize) -> Self {
        Self {
            gicd: gicd_base,
            gicr: gicr_base,
        }
    }

    fn gicd(&self) -> &DistributorRegs {
        // SAFETY: `new`'s contract: a live distributor frame at `gicd`; all
        // fields are MMIO cells accessed with volatile operations.
        unsafe { &*(self.gicd as *const DistributorRegs) }
    }

    fn rd_at(&self, offset: usize) -> &RdRegs {
        // SAFETY: callers only pass offsets of redistributors inside the
        // region covered by `new`'s contract (see `find_redistributor`).
        unsafe { &*((self.gicr + offset) as *const RdRegs) }
    }

    fn sgi_at(&self, offset: usize) -> &SgiRegs {
        // SAFETY: as `rd_at`; the SGI frame is part of each redistributor.
        unsafe { &*((self.gicr + offset + SGI_FRAME) as *const SgiRegs) }
    }

    /// Offset (from `gicr_base`) of the redistributor serving the PE with
    /// this MPIDR, if the region has one.
    pub fn find_redistributor(&self, mpidr: u64) -> Option<usize> {
        let want = mpidr_to_affinity(mpidr);
        let mut offset = 0;
        for _ in 0..MAX_REDISTRIBUTORS {
            let typer = self.rd_at(offset).TYPER.extract();
            if typer.read(GICR_TYPER::AFFINITY_VALUE) as u32 == want {
                return Some(offset);
            }
            if typer.is_set(GICR_TYPER::LAST) {
                return None;
            }
            offset += if typer.is_set(GICR_TYPER::VLPIS) {
                RD_STRIDE_VLPI
            } else {
                RD_STRIDE
            };
        }
        None
    }

    fn current_sgi_frame(&self) -> Option<(&RdRegs, &SgiRegs)> {
        let offset = self.find_redistributor(sysreg::mpidr_el1())?;
        Some((self.rd_at(offset), self.sgi_at(offset)))
    }

    fn wait_dist_rwp(&self) {
        spin_while(|| self.gicd().CTLR.is_set(GICD_CTLR::RWP));
    }

    /// Send SGI `sgi` (0..16) to the PE whose MPIDR is `mpidr` (affinity
    /// routing: its Aff3.Aff2.Aff1 and one bit of the target list for its
    /// Aff0, which must be below 16).
    pub fn send_sgi(&self, sgi: u32, mpidr: u64) {
        let aff0 = mpidr & 0xff;
        if aff0 >= 16 {
            return;
        }
        let value = (((mpidr >> 32) & 0xff) << 48)
            | (((mpidr >> 16) & 0xff) << 32)
            | (u64::from(sgi & 0xf) << 24)
            | (((mpidr >> 8) & 0xff) << 16)
            | (1 << aff0);
        // The write is ordered after the caller's memory writes the
        // target is to see.
        sysreg::dsb_ishst();
        sysreg::set_icc_sgi1r_el1(value);
        sysreg::isb();
    }

    /// Number of INTIDs the distributor implements (SGIs/PPIs included).
    pub fn num_intids(&self) -> u32 {
        let lines = self.gicd().TYPER.read(GICD_TYPER::IT_LINES_NUMBER);
        (32 * (lines + 1)).min(SPECIAL_INTID_START)
    }

    /// Per-CPU set-up for the PE whose MPIDR_EL1 is `mpidr` (must be the
    /// calling CPU: the CPU interface part uses its system registers).
    /// Wakes its redistributor, configures the banked SGIs/PPIs as Group 1,
    /// disabled, default priority, and enables the CPU interface.
    pub fn init_cpu_with_mpidr(&self, mpidr: u64) {
        if let Some(offset) = self.find_redistributor(mpidr) {
            let rd = self.rd_at(offset);
            let sgi = self.sgi_at(offset);
            rd.WAKER.write(GICR_WAKER::PROCESSOR_SLEEP::CLEAR);
            spin_while(|| rd.WAKER.is_set(GICR_WAKER::CHILDREN_ASLEEP));

            sgi.ICENABLER0.set(u32::MAX);
            spin_while(|| rd.CTLR.is_set(GICR_CTLR::RWP));
            sgi.ICPENDR0.set(u32::MAX);
            sgi.IGROUPR0.set(u32::MAX);
            for prio in sgi.IPRIORITYR.iter() {
                prio.set(DEFAULT_PRIORITY);
            }
            sgi.ICFGR[1].set(0); // PPIs level-sensitive
        }

        sysreg::set_icc_sre_el1(sysreg::icc_sre_el1() | ICC_SRE_ENABLE);
        sysreg::isb();
        sysreg::set_icc_pmr_el1(0xff);
        sysreg::set_icc_bpr1_el1(0);
        sysreg::set_icc_ctlr_el1(sysreg::icc_ctlr_el1() & !ICC_CTLR_EOIMODE);
        sysreg::set_icc_igrpen1_el1(1);
        sysreg::isb();
    }
}

impl IrqChip for GicV3 {
    fn init_distributor(&self) {
        let d = self.gicd();
        d.CTLR.set(0);
        self.wait_dist_rwp();

        let n = self.num_intids();
        for block in 1..(n / 32) as usize {
            d.ICENABLER[block].set(u32::MAX);
            d.ICPENDR[block].set(u32::MAX);
            d.IGROUPR[block].set(u32::MAX);
        }
        self.wait_dist_rwp();
        for intid in 32..n as usize {
            d.IPRIORITYR[intid].set(DEFAULT_PRIORITY);
        }
        for reg in 2..(n / 16) as usize {
            d.ICFGR[reg].set(0); // all level-sensitive
        }

        d.CTLR.write(
            GICD_CTLR::ARE_NS::SET + GICD_CTLR::ENABLE_GRP1A::SET + GICD_CTLR::ENABLE_GRP1::SET,
        );
        self.wait_dist_rwp();

        // IROUTER is only meaningful once ARE is set.
        let route = mpidr_to_irouter(sysreg::mpidr_el1());
        for intid in 32..n as usize {
            d.IROUTER[intid - 32].set(route);
        }
    }

    fn init_cpu(&self) {
        self.init_cpu_with_mpidr(sysreg::mpidr_el1());
    }

    fn enable(&self, intid: u32) {
        if intid < 32 {
            if let Some((_, sgi)) = self.current_sgi_frame() {
                sgi.ISENABLER0.set(1 << intid);
            }
        } else if intid < SPECIAL_INTID_START {
            let (reg, bit) = bit_reg(intid);
            self.gicd().ISENABLER[reg].set(bit);
        }
    }

    fn disable(&self, intid: u32) {
        if intid < 32 {
            if let Some((rd, sgi)) = self.current_sgi_frame() {
                sgi.ICENABLER0.set(1 << intid);
                spin_while(|| rd.CTLR.is_set(GICR_CTLR::RWP));
            }
        } else if intid < SPECIAL_INTID_START {
            let (reg, bit) = bit_reg(intid);
            self.gicd().ICENABLER[reg].set(bit);
            self.wait_dist_rwp();
        }
    }

    fn set_priority(&self, intid: u32, prio: u8) {
        if intid < 32 {
            if let Some((_, sgi)) = self.current_sgi_frame() {
                sgi.IPRIORITYR[intid as usize].set(prio);
            }
        } else if intid < SPECIAL_INTID_START {
            self.gicd().IPRIORITYR[intid as usize].set(prio);
        }
    }

    fn acknowledge(&self) -> Option<Ack> {
        let intid = (sysreg::icc_iar1_el1() & 0xff_ffff) as u32;
        // 1020..=1023 are special; LPIs (>= 8192) are never enabled here.
        (intid < SPECIAL_INTID_START).then_some(Ack { raw: intid, intid })
    }

    fn end_of_interrupt(&self, ack: Ack) {
        sysreg::set_icc_eoir1_el1(u64::from(ack.raw));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_packing() {
        assert_eq!(mpidr_to_affinity(0x8000_0000), 0);
        assert_eq!(mpidr_to_affinity(0x8000_0003), 3);
        assert_eq!(mpidr_to_affinity(0x12_8103_0201), 0x1203_0201);
        assert_eq!(mpidr_to_irouter(0x12_8103_0201), 0x12_0003_0201);
    }

    #[test]
    fn finds_redistributor_by_affinity() {
        // Four redistributors of 128 KiB, affinities 0..4, last one flagged.
        let mut mem = vec![0u64; 4 * RD_STRIDE / 8];
        for i in 0..4 {
            let typer = ((i as u64) << 32) | if i == 3 { 1 << 4 } else { 0 };
            mem[i * RD_STRIDE / 8 + 1] = typer;
        }
        // SAFETY: `mem` covers the four redistributors scanned and outlives
        // `gic`; the distributor is never touched.
        let gic = unsafe { GicV3::new(0, mem.as_mut_ptr() as usize) };
        assert_eq!(gic.find_redistributor(0x8000_0000), Some(0));
        assert_eq!(gic.find_redistributor(0x8000_0002), Some(2 * RD_STRIDE));
        assert_eq!(gic.find_redistributor(0x8000_0003), Some(3 * RD_STRIDE));
        assert_eq!(gic.find_redistributor(0x8000_0100), None);
    }
}
