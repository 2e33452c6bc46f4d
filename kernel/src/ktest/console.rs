//! The console: the PL011 really transmits and receives (internal loopback).

use super::{TestResult, check};
use crate::console;

/// With the PL011's loopback on, every byte sent comes back in the receive FIFO.
pub fn loopback_roundtrip() -> TestResult {
    // QEMU also copies looped-back bytes to the serial output, so the
    // payload is printable and ends the line.
    let msg = b"[pl011 loopback 0123456789 abcdef]\r\n";
    let got = console::with(|c| {
        let uart = c.uart();
        uart.flush();
        while uart.read_byte().is_some() {}
        uart.set_loopback(true);
        let mut got = [0u8; 64];
        let mut n = 0;
        for &b in msg {
            uart.write_byte(b);
            // Wait for the byte to come back (bounded: the FIFO is 16 deep
            // and the UART is idle otherwise).
            for _ in 0..1_000_000 {
                if let Some(r) = uart.read_byte() {
                    got[n] = r;
                    n += 1;
                    break;
                }
            }
        }
        uart.flush();
        uart.set_loopback(false);
        (got, n)
    });
    let Some((got, n)) = got else {
        return Err("no console".into());
    };
    check!(&got[..n] == msg, "sent {:?}, received {:?}", msg, &got[..n]);
    Ok(())
}

/// Console output is counted byte for byte.
pub fn output_counted() -> TestResult {
    let before = console::with(|c| c.written()).unwrap_or(0);
    crate::print!("[console check]\n");
    let after = console::with(|c| c.written()).unwrap_or(0);
    check!(
        after - before == 16,
        "wrote 16 bytes, console counted {}",
        after - before
    );
    Ok(())
}
