//! QEMU `-M virt` (memory map from QEMU's hw/arm/virt.c `base_memmap`).

use super::{DefaultEnable, PowerOff};
use crate::{GicInfo, MemRange};

/// Board name.
pub const NAME: &str = "qemu-virt";
/// Where the kernel image is linked and loaded (RAM base + 512 KiB).
pub const KERNEL_LOAD_ADDR: u64 = 0x4008_0000;
/// PL011 UART0.
pub const UART_BASE: u64 = 0x0900_0000;
/// UART reference clock as the DTB describes it; QEMU ignores the divisors.
pub const UART_CLOCK_HZ: u32 = 24_000_000;
/// GICv2 (the default `gic-version`): GICD and GICC.
pub const DEFAULT_GIC: GicInfo = GicInfo::V2 {
    gicd: 0x0800_0000,
    gicc: 0x0801_0000,
};
/// RAM without a DTB: QEMU's 128 MiB minimum at 1 GiB.
pub const DEFAULT_MEMORY: &[MemRange] = &[MemRange {
    base: 0x4000_0000,
    size: 128 << 20,
}];
/// MMIO to map as Device memory: GIC, UART, RTC, fw-cfg, GPIO, virtio-mmio
/// and the platform bus (0x0800_0000..0x1000_0000).
pub const DEVICE_RANGES: &[MemRange] = &[MemRange {
    base: 0x0800_0000,
    size: 0x0800_0000,
}];
/// INTID of the EL1 virtual timer (PPI 11).
pub const TIMER_IRQ: u32 = 27;
/// CPUs the kernel supports on this board.
pub const MAX_CPUS: usize = 4;
/// Without a device tree (QEMU always passes one), only the boot core.
pub const DEFAULT_ENABLE: DefaultEnable = DefaultEnable::BootCoreOnly;
/// PSCI SYSTEM_OFF (conduit from the DTB, `hvc` unless EL2 is emulated).
pub const POWER_OFF: PowerOff = PowerOff::Psci;
