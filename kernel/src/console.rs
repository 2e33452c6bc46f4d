//! The kernel console: the board's PL011 UART, shared behind an [`IrqLock`].

#![forbid(unsafe_code)]

use bsp_rpi4::board;
use bsp_rpi4::drivers::pl011::Pl011;
use core::fmt::{self, Write};

use crate::arch::sync::IrqLock;

const BAUD: u32 = 115_200;

use crate::arch::devices::uart;

pub struct Console {
    uart: Pl011,
    written: usize,
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.uart.write_str(s);
        self.written += s.len();
        Ok(())
    }
}

static CONSOLE: IrqLock<Option<Console>> = IrqLock::new(None);

/// Set up the UART (115200 8N1) and make it the console.
pub fn init() {
    let uart = uart();
    uart.init(board::UART_CLOCK_HZ, BAUD);
    *CONSOLE.lock() = Some(Console { uart, written: 0 });
}

/// Run `f` with the console locked (tests use it to drive the UART directly).
pub fn with<R>(f: impl FnOnce(&mut Console) -> R) -> Option<R> {
    CONSOLE.lock().as_mut().map(f)
}

impl Console {
    pub fn uart(&self) -> &Pl011 {
        &self.uart
    }
    /// Bytes written through the console since boot.
    pub fn written(&self) -> usize {
        self.written
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    if let Some(c) = CONSOLE.lock().as_mut() {
        let _ = c.write_fmt(args);
    }
}

/// A writer that bypasses the console lock, for reports when the system is
/// dying (the lock may be held by the code that faulted).
pub fn emergency() -> impl Write {
    struct Emergency(Pl011);
    impl Write for Emergency {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.write_str(s);
            Ok(())
        }
    }
    Emergency(uart())
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}

/// Write raw bytes (user output): valid UTF-8 as is, anything else as U+FFFD.
pub fn write_bytes(bytes: &[u8]) {
    with(|c| {
        for chunk in bytes.utf8_chunks() {
            let _ = c.write_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                let _ = c.write_str("\u{FFFD}");
            }
        }
    });
}
