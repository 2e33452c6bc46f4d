//! The board's MMIO devices the kernel drives directly, at their kernel
//! addresses.

use bsp_rpi4::board;
use bsp_rpi4::drivers::pl011::Pl011;

use crate::memory::layout::phys_to_virt_addr;

/// The console UART.
pub fn uart() -> Pl011 {
    // SAFETY: UART_BASE is the board's PL011 register block, mapped as Device
    // memory at phys + KERNEL_VIRT_OFFSET by both the early and the kernel tables.
    unsafe { Pl011::new(phys_to_virt_addr(board::UART_BASE) as usize) }
}
