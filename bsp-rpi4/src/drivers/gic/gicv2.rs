//! GICv2 (GIC-400 on the BCM2711; QEMU `virt` default).
//!
//! Layout from the GICv2 architecture specification (ARM IHI 0048B), 4.1.2
//! "Distributor register map" and 4.1.3 "CPU interface register map", and
//! the GIC-400 TRM (DDI 0471B).
//!
//! Security: the kernel normally runs Non-secure on a GIC with the Security
//! Extensions (Pi 4 firmware/armstub, QEMU with `secure=on`). Then firmware
//! has already put every interrupt in Group 1 and the Non-secure view of
//! GICD_CTLR/GICC_CTLR has a single enable bit (bit 0). Without Security
//! Extensions (QEMU `virt` default) interrupts reset to Group 0, which is
//! signalled as IRQ while GICC_CTLR.FIQEn is clear, and both group enables
//! (bits 0 and 1) are set. Group configuration is never touched.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use super::{Ack, DEFAULT_PRIORITY, IrqChip, SPECIAL_INTID_START, bit_reg};

register_bitfields! {
    u32,

    /// GICD_CTLR: distributor control.
    GICD_CTLR [
        /// Secure/no-security view: forward Group 0. Non-secure view: forward
        /// Group 1 (the only bit there).
        ENABLE_GRP0 OFFSET(0) NUMBITS(1) [],
        /// Secure/no-security view: forward Group 1.
        ENABLE_GRP1 OFFSET(1) NUMBITS(1) []
    ],

    /// GICD_TYPER: what the distributor implements (read-only).
    GICD_TYPER [
        /// Number of 32-interrupt blocks minus one: max INTID is
        /// 32 * (N + 1) - 1, capped at 1019.
        IT_LINES_NUMBER OFFSET(0) NUMBITS(5) [],
        /// Number of CPU interfaces minus one.
        CPU_NUMBER OFFSET(5) NUMBITS(3) [],
        /// Security Extensions implemented.
        SECURITY_EXTN OFFSET(10) NUMBITS(1) []
    ],

    /// GICD_SGIR: software generated interrupt (write-only).
    GICD_SGIR [
        /// SGI INTID (0..=15).
        SGIINTID OFFSET(0) NUMBITS(4) [],
        /// Secure-only: send as Group 1.
        NSATT OFFSET(15) NUMBITS(1) [],
        /// One bit per target CPU interface.
        CPU_TARGET_LIST OFFSET(16) NUMBITS(8) [],
        /// Who receives it.
        TARGET_LIST_FILTER OFFSET(24) NUMBITS(2) [
            List = 0,
            AllOthers = 1,
            SelfOnly = 2
        ]
    ],

    /// GICC_CTLR: CPU interface control.
    GICC_CTLR [
        /// Secure/no-security view: signal Group 0. Non-secure view: signal
        /// Group 1 (the only enable there).
        ENABLE_GRP0 OFFSET(0) NUMBITS(1) [],
        /// Secure/no-security view: signal Group 1.
        ENABLE_GRP1 OFFSET(1) NUMBITS(1) [],
        /// Signal Group 0 as FIQ (left clear: everything is IRQ).
        FIQ_EN OFFSET(3) NUMBITS(1) [],
        /// Split priority drop (EOIR) and deactivation (DIR); left clear.
        EOI_MODE OFFSET(9) NUMBITS(1) []
    ],

    /// GICC_IAR / GICC_EOIR: interrupt acknowledge / end of interrupt.
    GICC_IAR [
        /// The INTID; 1020..=1023 are special (1023: spurious).
        INTERRUPT_ID OFFSET(0) NUMBITS(10) [],
        /// For SGIs: the requesting CPU. Must be echoed back in EOIR.
        CPUID OFFSET(10) NUMBITS(3) []
    ]
}

register_structs! {
    /// GICv2 distributor registers (4 KiB).
    #[allow(non_snake_case)]
    DistributorRegs {
        (0x000 => CTLR: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => TYPER: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => IIDR: ReadOnly<u32>),
        (0x00c => _reserved0),
        /// Group per interrupt (0/1), one bit each.
        (0x080 => IGROUPR: [ReadWrite<u32>; 32]),
        /// Write 1 to enable forwarding.
        (0x100 => ISENABLER: [ReadWrite<u32>; 32]),
        /// Write 1 to disable forwarding.
        (0x180 => ICENABLER: [ReadWrite<u32>; 32]),
        /// Write 1 to set pending.
        (0x200 => ISPENDR: [ReadWrite<u32>; 32]),
        /// Write 1 to clear pending.
        (0x280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x300 => ISACTIVER: [ReadWrite<u32>; 32]),
        (0x380 => ICACTIVER: [ReadWrite<u32>; 32]),
        /// One priority byte per interrupt (byte-accessible).
        (0x400 => IPRIORITYR: [ReadWrite<u8>; 1020]),
        (0x7fc => _reserved1),
        /// One CPU-target bitmap byte per interrupt (byte-accessible; SGI
        /// and PPI entries are read-only and name the reading CPU).
        (0x800 => ITARGETSR: [ReadWrite<u8>; 1020]),
        (0xbfc => _reserved2),
        /// Two bits per interrupt; bit 1 of each pair: 0 level, 1 edge.
        (0xc00 => ICFGR: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved3),
        (0xf00 => SGIR: WriteOnly<u32, GICD_SGIR::Register>),
        (0xf04 => _reserved4),
        (0x1000 => @END),
    }
}

register_structs! {
    /// GICv2 CPU interface registers (first page; DIR at 0x1000 is unused
    /// because EOImode stays 0).
    #[allow(non_snake_case)]
    CpuInterfaceRegs {
        (0x000 => CTLR: ReadWrite<u32, GICC_CTLR::Register>),
        /// Priority mask: only priorities numerically lower are signalled.
        (0x004 => PMR: ReadWrite<u32>),
        /// Binary point: preemption group split.
        (0x008 => BPR: ReadWrite<u32>),
        (0x00c => IAR: ReadOnly<u32, GICC_IAR::Register>),
        (0x010 => EOIR: WriteOnly<u32, GICC_IAR::Register>),
        (0x014 => RPR: ReadOnly<u32>),
        (0x018 => HPPIR: ReadOnly<u32>),
        (0x01c => _reserved0),
        (0x0fc => IIDR: ReadOnly<u32>),
        (0x100 => @END),
    }
}

/// Maximum number of INTIDs a GICv2 distributor can implement.
const MAX_INTIDS: u32 = 1020;

/// A GICv2 distributor plus CPU interface.
#[derive(Debug)]
pub struct GicV2 {
    gicd: usize,
    gicc: usize,
}

impl GicV2 {
    /// Creates a handle for the GICv2 with distributor at `gicd_base` and CPU
    /// interface at `gicc_base`.
    ///
    /// # Safety
    ///
    /// Both addresses must map the respective GICv2 register frames as Device
    /// memory for as long as the handle is used, and no other driver may
    /// program the GIC concurrently.
    pub const unsafe fn new(gicd_base: usize, gicc_base: usize) -> Self {
        Self {
            gicd: gicd_base,
            gicc: gicc_base,
        }
    }

    fn gicd(&self) -> &DistributorRegs {
        // SAFETY: `new`'s contract: a live distributor frame at `gicd`; all
        // fields are MMIO cells accessed with volatile operations.
        unsafe { &*(self.gicd as *const DistributorRegs) }
    }

    fn gicc(&self) -> &CpuInterfaceRegs {
        // SAFETY: `new`'s contract: a live CPU interface frame at `gicc`.
        unsafe { &*(self.gicc as *const CpuInterfaceRegs) }
    }

    /// Number of INTIDs the distributor implements (including SGIs/PPIs).
    pub fn num_intids(&self) -> u32 {
        let lines = self.gicd().TYPER.read(GICD_TYPER::IT_LINES_NUMBER);
        (32 * (lines + 1)).min(MAX_INTIDS)
    }

    /// Enable value for GICD_CTLR/GICC_CTLR: see the module comment.
    fn group_enables(&self) -> u32 {
        if self.gicd().TYPER.is_set(GICD_TYPER::SECURITY_EXTN) {
            0b01
        } else {
            0b11
        }
    }

    /// Sends SGI `sgi` (0..=15) to the CPU interfaces in `targets` (bit n =
    /// CPU interface n).
    pub fn send_sgi(&self, sgi: u32, targets: u8) {
        self.gicd().SGIR.write(
            GICD_SGIR::SGIINTID.val(sgi & 0xf)
                + GICD_SGIR::CPU_TARGET_LIST.val(u32::from(targets))
                + GICD_SGIR::TARGET_LIST_FILTER::List,
        );
    }
}

impl IrqChip for GicV2 {
    fn init_distributor(&self) {
        let d = self.gicd();
        d.CTLR.set(0);
        let n = self.num_intids();
        for block in 1..(n / 32) as usize {
            d.ICENABLER[block].set(u32::MAX);
            d.ICPENDR[block].set(u32::MAX);
        }
        for intid in 32..n as usize {
            d.IPRIORITYR[intid].set(DEFAULT_PRIORITY);
            // Route every SPI to CPU interface 0 (the boot CPU).
            d.ITARGETSR[intid].set(0x01);
        }
        for reg in 2..(n / 16) as usize {
            d.ICFGR[reg].set(0); // all level-sensitive
        }
        d.CTLR.set(self.group_enables());
    }

    fn init_cpu(&self) {
        let d = self.gicd();
        // SGI/PPI registers are banked per CPU.
        d.ICENABLER[0].set(u32::MAX);
        d.ICPENDR[0].set(u32::MAX);
        for intid in 0..32 {
            d.IPRIORITYR[intid].set(DEFAULT_PRIORITY);
        }
        let c = self.gicc();
        c.PMR.set(0xff); // let every priority through
        c.BPR.set(0); // all priority bits take part in preemption
        c.CTLR.set(self.group_enables());
    }

    fn enable(&self, intid: u32) {
        if intid < MAX_INTIDS {
            let (reg, bit) = bit_reg(intid);
            self.gicd().ISENABLER[reg].set(bit);
        }
    }

    fn disable(&self, intid: u32) {
        if intid < MAX_INTIDS {
            let (reg, bit) = bit_reg(intid);
            self.gicd().ICENABLER[reg].set(bit);
        }
    }

    fn set_priority(&self, intid: u32, prio: u8) {
        if intid < MAX_INTIDS {
            self.gicd().IPRIORITYR[intid as usize].set(prio);
        }
    }

    fn acknowledge(&self) -> Option<Ack> {
        // GICC_IAR: INTID in bits 0..=9; for SGIs the source CPU in 10..=12,
        // which the EOI write must repeat.
        let raw = self.gicc().IAR.get() & 0x1fff;
        let intid = raw & 0x3ff;
        (intid < SPECIAL_INTID_START).then_some(Ack { raw, intid })
    }

    fn end_of_interrupt(&self, ack: Ack) {
        self.gicc().EOIR.set(ack.raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(4096))]
    struct Frame([u32; 0x400]);

    #[test]
    fn init_and_enable_on_fake_frames() {
        let mut gicd = Box::new(Frame([0; 0x400]));
        let mut gicc = Box::new(Frame([0; 0x400]));
        gicd.0[1] = 2; // TYPER: 96 INTIDs, no security extensions
        gicc.0[3] = 1023; // IAR: spurious
        // SAFETY: two 4 KiB aligned buffers that outlive `gic`.
        let gic = unsafe { GicV2::new(gicd.0.as_mut_ptr() as usize, gicc.0.as_mut_ptr() as usize) };
        assert_eq!(gic.num_intids(), 96);
        gic.init_distributor();
        gic.init_cpu();
        gic.enable(33);
        gic.set_priority(27, 0x80);
        assert_eq!(gic.acknowledge(), None);
        // An SGI (INTID 5) sent by CPU 2: the EOI must name the sender too.
        gicc.0[3] = (2 << 10) | 5;
        let ack = gic.acknowledge().expect("SGI pending");
        assert_eq!(ack.intid(), 5);
        gic.end_of_interrupt(ack);
        assert_eq!(gicc.0[4], (2 << 10) | 5, "GICC_EOIR");
        gicc.0[3] = 1023;
        assert_eq!(gicd.0[0], 0b11);
        assert_eq!(gicd.0[0x100 / 4 + 1], 1 << 1);
        assert_eq!(gicd.0[0x180 / 4 + 2], u32::MAX);
        assert_eq!(gicd.0[0x400 / 4 + 8], 0xa0a0_a0a0);
        assert_eq!(gicd.0[0x400 / 4 + 6], 0x80a0_a0a0);
        assert_eq!(gicd.0[0x800 / 4 + 23], 0x0101_0101);
        assert_eq!(gicd.0[0x800 / 4 + 24], 0);
        assert_eq!(gicc.0[0], 0b11);
        assert_eq!(gicc.0[1], 0xff);
    }
}
