//! Kernel panics: report and stop. A panic is a kernel bug, never a response
//! to user input (user errors are return codes).

use core::fmt::Write;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    crate::arch::cpu::irq_save();
    let mut out = crate::console::emergency();
    let _ = write!(out, "\n*** kernel panic: {info}\n*** system stopped\n");
    crate::power::shutdown(crate::power::EXIT_PANIC)
}
