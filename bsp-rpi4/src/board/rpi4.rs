//! Raspberry Pi 4 Model B (BCM2711), low-peripheral mode (the firmware
//! default): peripherals at 0xFC00_0000..0x1_0000_0000.

use super::{DefaultEnable, PowerOff};
use crate::{GicInfo, MemRange};

/// Board name.
pub const NAME: &str = "raspberrypi-4b";
/// Where the firmware loads `kernel8.img` (with `kernel_old=0`).
pub const KERNEL_LOAD_ADDR: u64 = 0x8_0000;
/// PL011 UART0 (bus address 0x7E20_1000).
pub const UART_BASE: u64 = 0xfe20_1000;
/// UART0 reference clock set by the Pi 4 firmware (`init_uart_clock`
/// default, 48 MHz).
pub const UART_CLOCK_HZ: u32 = 48_000_000;
/// GIC-400: GICD at 0xFF84_1000, GICC at 0xFF84_2000.
pub const DEFAULT_GIC: GicInfo = GicInfo::V2 {
    gicd: 0xff84_1000,
    gicc: 0xff84_2000,
};
/// RAM without a DTB: the low 948 MiB the ARM gets with the default
/// `gpu_mem` (the firmware reports 0..0x3B40_0000); present on every Pi 4.
pub const DEFAULT_MEMORY: &[MemRange] = &[MemRange {
    base: 0,
    size: 0x3b40_0000,
}];
/// MMIO to map as Device memory: main peripherals (0xFC00_0000..) up to
/// the ARM local peripherals and GIC-400 (..0x1_0000_0000).
pub const DEVICE_RANGES: &[MemRange] = &[MemRange {
    base: 0xfc00_0000,
    size: 0x0400_0000,
}];
/// INTID of the EL1 virtual timer (PPI 11).
pub const TIMER_IRQ: u32 = 27;
/// The BCM2711 has four Cortex-A72 cores.
pub const MAX_CPUS: usize = 4;
/// Without a device tree, how the other cores start: the firmware's (and
/// QEMU raspi4b's) spin table, core `n` polling `SPIN_TABLE + 8 * n`.
pub const DEFAULT_ENABLE: DefaultEnable = DefaultEnable::SpinTable(0xd8);
/// No PSCI firmware by default (spin-table boot): power-off is the PM
/// watchdog halt.
pub const POWER_OFF: PowerOff = PowerOff::Watchdog;
/// BCM2711 PM block (watchdog) at bus 0x7E10_0000.
pub const PM_BASE: u64 = 0xfe10_0000;
