//! The kernel console (`Console.Write` on [`Handle::KERNEL`]) and the
//! [`print!`](crate::print) / [`println!`](crate::println) macros behind it.
//!
//! Formatting goes into a fixed stack buffer sent in pieces of at most
//! [`CHUNK`] bytes: nothing allocates, so the panic handler can print. A
//! line shorter than that goes out in one write, so lines of concurrent
//! threads and processes do not mix.

use core::fmt;

use kos_abi::interfaces::console::call::Write;
use kos_abi::{Handle, Rc};

use crate::ipc;

/// Bytes per `Console.Write` from the print macros.
pub const CHUNK: usize = 512;

/// Writes `bytes` to the console (one call per [`CHUNK`]; an empty write
/// is still one call).
pub fn write(bytes: &[u8]) -> Result<(), Rc> {
    if bytes.is_empty() {
        return write_once(bytes);
    }
    for piece in bytes.chunks(CHUNK) {
        write_once(piece)?;
    }
    Ok(())
}

fn write_once(bytes: &[u8]) -> Result<(), Rc> {
    ipc::invoke::<Write>(Handle::KERNEL, &(), &[bytes], &mut []).map(drop)
}

/// A formatter that buffers up to [`CHUNK`] bytes and writes them to the
/// console when full and when flushed.
pub struct Writer {
    buf: [u8; CHUNK],
    len: usize,
}

impl Writer {
    pub const fn new() -> Writer {
        Writer {
            buf: [0; CHUNK],
            len: 0,
        }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            // Nowhere to report a console failure: drop it.
            let _ = write_once(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == CHUNK {
                self.flush();
            }
            let n = bytes.len().min(CHUNK - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.flush();
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut w = Writer::new();
    let _ = fmt::Write::write_fmt(&mut w, args);
}

/// Prints to the kernel console (no allocation).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::_print(::core::format_args!($($arg)*))
    };
}

/// Prints a line to the kernel console (no allocation).
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::_print(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::_print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}
