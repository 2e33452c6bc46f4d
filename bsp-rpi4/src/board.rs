//! Constants for the board selected by the `rpi4` or `virt` feature, for use
//! before (or without) a device tree. The device tree, when present, wins.

pub use crate::{GicInfo, MemRange};

/// How the board is switched off.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PowerOff {
    /// PSCI SYSTEM_OFF, through the conduit named in the device tree.
    Psci,
    /// BCM2711 PM watchdog reset into the firmware's halt state
    /// ([`crate::drivers::bcm2711_pm::Bcm2711Pm::halt`]).
    Watchdog,
}

/// How the other cores start when no device tree says (cores `0..MAX_CPUS`,
/// MPIDR Aff0 = core number).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DefaultEnable {
    /// A spin table at this physical address: core `n` waits on the word at
    /// `address + 8 * n`.
    SpinTable(u64),
    /// The boot core alone.
    BootCoreOnly,
}

#[cfg(feature = "rpi4")]
mod rpi4;
#[cfg(feature = "rpi4")]
pub use rpi4::*;

#[cfg(feature = "virt")]
mod virt;
#[cfg(feature = "virt")]
pub use virt::*;

/// Whether `[base, base + size)` lies inside one of [`DEVICE_RANGES`].
pub fn is_device(base: u64, size: u64) -> bool {
    DEVICE_RANGES.iter().any(|r| r.contains(base, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_consistent() {
        assert!(is_device(UART_BASE, 0x1000));
        let (a, b) = match DEFAULT_GIC {
            GicInfo::V2 { gicd, gicc } => (gicd, gicc),
            GicInfo::V3 { gicd, gicr } => (gicd, gicr),
        };
        assert!(is_device(a, 0x1000) && is_device(b, 0x1000));
        assert!(
            DEFAULT_MEMORY
                .iter()
                .any(|r| r.contains(KERNEL_LOAD_ADDR, 0x1000))
        );
        for m in DEFAULT_MEMORY {
            assert!(
                DEVICE_RANGES
                    .iter()
                    .all(|d| m.end() <= d.base || d.end() <= m.base)
            );
        }
        assert_eq!(TIMER_IRQ, 27);
        const { assert!(MAX_CPUS >= 1) };
        let _ = (NAME, UART_CLOCK_HZ, POWER_OFF, DEFAULT_ENABLE);
    }
}
