//! Stopping the system. Under QEMU (`qemu-exit` feature) the exit status
//! reaches the host through semihosting, so tests see pass/fail; on hardware
//! the board powers off (PSCI SYSTEM_OFF on virt, watchdog halt on the Pi 4).

/// Everything went as planned.
pub const EXIT_SUCCESS: u32 = 0;
/// At least one on-target test failed.
pub const EXIT_TEST_FAILURE: u32 = 1;
/// An exception nobody expected was taken.
pub const EXIT_UNEXPECTED_EXCEPTION: u32 = 2;
/// The kernel panicked.
pub const EXIT_PANIC: u32 = 3;

/// Stop the system with `status`.
pub fn shutdown(status: u32) -> ! {
    crate::arch::cpu::irq_save();
    #[cfg(feature = "qemu-exit")]
    crate::arch::semihosting::exit(status);
    #[cfg(not(feature = "qemu-exit"))]
    {
        let _ = status;
        power_off()
    }
}

/// Power the machine off the way the board does it (PSCI `SYSTEM_OFF` on
/// virt, the BCM2711 watchdog halt on the Pi 4), whatever the build. If the
/// firmware ignores the request, the core waits forever.
pub fn power_off() -> ! {
    crate::arch::cpu::irq_save();
    crate::println!("power: off");
    crate::memory::platform::power_off();
    loop {
        aarch64_cpu::asm::wfe();
    }
}
