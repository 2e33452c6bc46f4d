//! BCM2711 power management (PM) block: watchdog-based reset and halt.
//!
//! The PM block sits at bus address 0x7E10_0000 (ARM physical 0xFE10_0000 in
//! the Pi 4's low-peripheral mode). Registers used (BCM2835 ARM Peripherals
//! lineage; the layout is unchanged on BCM2711):
//!
//! * PM_RSTC (0x1c): reset control. WRCFG (bits 4..=5) = 0b10 selects a full
//!   chip reset when the watchdog expires.
//! * PM_RSTS (0x20): reset status, preserved across the watchdog reset. The
//!   VideoCore firmware reads the boot "partition" from bits 0, 2, 4, 6, 8
//!   and 10; partition 63 tells it to halt instead of booting again.
//! * PM_WDOG (0x24): watchdog countdown in ~16 µs ticks (20 bits).
//!
//! Every write must carry the password 0x5A in bits 24..=31 or it is ignored.
//!
//! There is no real power-off on a Pi 4: [`Bcm2711Pm::halt`] resets into the
//! firmware with the halt partition set, and the firmware then parks the
//! board in its low-power halt state (the same thing Linux's `poweroff` does
//! through the bcm2835 watchdog driver) until power is cycled.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::ReadWrite;
use tock_registers::{register_bitfields, register_structs};

/// Physical base of the PM block on the Raspberry Pi 4.
pub const PM_BASE: usize = 0xfe10_0000;

/// Write password, required in bits 24..=31 of every PM register write.
pub const PM_PASSWORD: u32 = 0x5a00_0000;

/// The firmware's "halt" partition number.
pub const HALT_PARTITION: u8 = 63;

register_bitfields! {
    u32,

    /// PM_RSTC: reset control.
    PM_RSTC [
        /// Watchdog reset configuration: what happens when PM_WDOG reaches 0.
        WRCFG OFFSET(4) NUMBITS(2) [
            Clear = 0b00,
            FullReset = 0b10
        ],
        /// Write password.
        PASSWD OFFSET(24) NUMBITS(8) []
    ],

    /// PM_WDOG: watchdog countdown.
    PM_WDOG [
        /// Ticks (of ~16 µs) until the configured reset fires.
        TIME OFFSET(0) NUMBITS(20) [],
        /// Write password.
        PASSWD OFFSET(24) NUMBITS(8) []
    ]
}

register_structs! {
    /// The part of the PM register block this driver uses.
    #[allow(non_snake_case)]
    PmRegs {
        (0x00 => _reserved0),
        (0x1c => RSTC: ReadWrite<u32, PM_RSTC::Register>),
        /// Reset status; partition number spread over the even bits 0..=10.
        (0x20 => RSTS: ReadWrite<u32>),
        (0x24 => WDOG: ReadWrite<u32, PM_WDOG::Register>),
        (0x28 => @END),
    }
}

/// PM_RSTS bits that hold the partition number.
const RSTS_PARTITION_MASK: u32 = 0x555;

/// Watchdog ticks before the reset fires: short, but long enough for the
/// RSTC write to land first.
const WDOG_TICKS: u32 = 10;

/// Spreads a 6-bit partition number over PM_RSTS bits 0, 2, 4, 6, 8, 10.
pub const fn rsts_partition_bits(partition: u8) -> u32 {
    let mut bits = 0;
    let mut i = 0;
    while i < 6 {
        if partition & (1 << i) != 0 {
            bits |= 1 << (2 * i);
        }
        i += 1;
    }
    bits
}

/// The BCM2711 power management watchdog.
#[derive(Debug)]
pub struct Bcm2711Pm {
    base: usize,
}

impl Bcm2711Pm {
    /// Creates a handle for the PM block at `base` ([`PM_BASE`] on a Pi 4).
    ///
    /// # Safety
    ///
    /// `base` must map the BCM2711 PM register block as Device memory for as
    /// long as the handle is used. Using it resets the whole machine.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &PmRegs {
        // SAFETY: `new`'s contract: a live PM register block at `base`; all
        // fields are MMIO cells accessed with volatile operations.
        unsafe { &*(self.base as *const PmRegs) }
    }

    /// Resets the board into the firmware, which boots again.
    pub fn reset(&self) -> ! {
        self.set_partition(0);
        self.fire()
    }

    /// Resets into the firmware with the halt partition (63) set: the
    /// firmware then stays halted, the Pi 4's equivalent of power-off.
    pub fn halt(&self) -> ! {
        self.set_partition(HALT_PARTITION);
        self.fire()
    }

    fn set_partition(&self, partition: u8) {
        let regs = self.regs();
        let keep = regs.RSTS.get() & !(RSTS_PARTITION_MASK | 0xff00_0000);
        regs.RSTS
            .set(PM_PASSWORD | keep | rsts_partition_bits(partition));
    }

    fn fire(&self) -> ! {
        let regs = self.regs();
        regs.WDOG
            .write(PM_WDOG::PASSWD.val(0x5a) + PM_WDOG::TIME.val(WDOG_TICKS));
        // Keep RSTC's other configuration bits, as the firmware set them.
        let mut rstc = regs.RSTC.extract();
        rstc.modify(PM_RSTC::PASSWD.val(0x5a) + PM_RSTC::WRCFG::FullReset);
        regs.RSTC.set(rstc.get());
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halt_partition_encoding() {
        assert_eq!(rsts_partition_bits(HALT_PARTITION), 0x555);
        assert_eq!(rsts_partition_bits(0), 0);
        assert_eq!(rsts_partition_bits(1), 0x1);
        assert_eq!(rsts_partition_bits(2), 0x4);
        assert_eq!(rsts_partition_bits(0b101010), 0x444);
    }
}
