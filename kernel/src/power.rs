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
        crate::memory::platform::power_off();
    }
    #[allow(
        unreachable_code,
        reason = "power_off returns only if the firmware ignored it"
    )]
    loop {
        aarch64_cpu::asm::wfe();
    }
}
