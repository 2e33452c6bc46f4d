//! ARM PrimeCell PL011 UART (QEMU `virt` UART0, BCM2711 UART0..5).
//!
//! Register offsets and bit positions follow the PL011 Technical Reference
//! Manual (ARM DDI 0183G), chapter 3 "Programmers Model".

use core::fmt;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {
    u32,

    /// UARTDR: data register. Reads pop the RX FIFO; the upper bits report
    /// the error flags of the character read alongside it.
    DR [
        /// Received/transmitted character.
        DATA OFFSET(0) NUMBITS(8) [],
        /// Framing error: no valid stop bit.
        FE OFFSET(8) NUMBITS(1) [],
        /// Parity error.
        PE OFFSET(9) NUMBITS(1) [],
        /// Break: RX held low for longer than a full word.
        BE OFFSET(10) NUMBITS(1) [],
        /// Overrun: a character arrived while the RX FIFO was full.
        OE OFFSET(11) NUMBITS(1) []
    ],

    /// UARTRSR (read) / UARTECR (write): receive status / error clear.
    /// Any write clears all four error flags.
    RSR [
        /// Framing error.
        FE OFFSET(0) NUMBITS(1) [],
        /// Parity error.
        PE OFFSET(1) NUMBITS(1) [],
        /// Break error.
        BE OFFSET(2) NUMBITS(1) [],
        /// Overrun error.
        OE OFFSET(3) NUMBITS(1) []
    ],

    /// UARTFR: flag register (read-only).
    FR [
        /// Clear to send (modem status).
        CTS OFFSET(0) NUMBITS(1) [],
        /// UART busy transmitting. Set as soon as the TX FIFO is non-empty,
        /// cleared once the last stop bit has left the shift register.
        BUSY OFFSET(3) NUMBITS(1) [],
        /// Receive FIFO empty (with FIFOs enabled).
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Transmit FIFO full (with FIFOs enabled).
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO full.
        RXFF OFFSET(6) NUMBITS(1) [],
        /// Transmit FIFO empty.
        TXFE OFFSET(7) NUMBITS(1) []
    ],

    /// UARTIBRD: integer part of the baud rate divisor (16 bits).
    IBRD [
        /// BAUDDIVINT; must not be 0.
        BAUD_DIVINT OFFSET(0) NUMBITS(16) []
    ],

    /// UARTFBRD: fractional part of the baud rate divisor, in 1/64ths.
    FBRD [
        /// BAUDDIVFRAC.
        BAUD_DIVFRAC OFFSET(0) NUMBITS(6) []
    ],

    /// UARTLCR_H: line control. A write to LCR_H is what latches new
    /// IBRD/FBRD values, so it must come after them.
    LCR_H [
        /// Send break.
        BRK OFFSET(0) NUMBITS(1) [],
        /// Parity enable.
        PEN OFFSET(1) NUMBITS(1) [],
        /// Even parity select.
        EPS OFFSET(2) NUMBITS(1) [],
        /// Two stop bits.
        STP2 OFFSET(3) NUMBITS(1) [],
        /// FIFO enable; clearing it flushes the transmit FIFO.
        FEN OFFSET(4) NUMBITS(1) [],
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [
            FiveBit = 0b00,
            SixBit = 0b01,
            SevenBit = 0b10,
            EightBit = 0b11
        ],
        /// Stick parity.
        SPS OFFSET(7) NUMBITS(1) []
    ],

    /// UARTCR: control register. Only change it while UARTEN is clear.
    CR [
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) [],
        /// Loopback enable.
        LBE OFFSET(7) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Request to send.
        RTS OFFSET(11) NUMBITS(1) [],
        /// RTS hardware flow control.
        RTSEN OFFSET(14) NUMBITS(1) [],
        /// CTS hardware flow control.
        CTSEN OFFSET(15) NUMBITS(1) []
    ],

    /// UARTIFLS: FIFO level at which the TX/RX interrupts fire.
    IFLS [
        /// Transmit interrupt FIFO level select.
        TXIFLSEL OFFSET(0) NUMBITS(3) [
            OneEighth = 0b000,
            OneQuarter = 0b001,
            OneHalf = 0b010,
            ThreeQuarters = 0b011,
            SevenEighths = 0b100
        ],
        /// Receive interrupt FIFO level select.
        RXIFLSEL OFFSET(3) NUMBITS(3) [
            OneEighth = 0b000,
            OneQuarter = 0b001,
            OneHalf = 0b010,
            ThreeQuarters = 0b011,
            SevenEighths = 0b100
        ]
    ],

    /// Interrupt bits, shared by UARTIMSC (mask: 1 = enabled), UARTRIS (raw),
    /// UARTMIS (masked) and UARTICR (write 1 to clear).
    INT [
        /// nUARTRI modem interrupt.
        RIM OFFSET(0) NUMBITS(1) [],
        /// nUARTCTS modem interrupt.
        CTSM OFFSET(1) NUMBITS(1) [],
        /// nUARTDCD modem interrupt.
        DCDM OFFSET(2) NUMBITS(1) [],
        /// nUARTDSR modem interrupt.
        DSRM OFFSET(3) NUMBITS(1) [],
        /// Receive (FIFO level reached).
        RX OFFSET(4) NUMBITS(1) [],
        /// Transmit (FIFO drained to level).
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive timeout: data sits in the RX FIFO with no new arrivals.
        RT OFFSET(6) NUMBITS(1) [],
        /// Framing error.
        FE OFFSET(7) NUMBITS(1) [],
        /// Parity error.
        PE OFFSET(8) NUMBITS(1) [],
        /// Break error.
        BE OFFSET(9) NUMBITS(1) [],
        /// Overrun error.
        OE OFFSET(10) NUMBITS(1) []
    ]
}

register_structs! {
    /// PL011 register block (offsets from the TRM's register summary).
    #[allow(non_snake_case)]
    RegisterBlock {
        (0x000 => DR: ReadWrite<u32, DR::Register>),
        (0x004 => RSR_ECR: ReadWrite<u32, RSR::Register>),
        (0x008 => _reserved0),
        (0x018 => FR: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x020 => ILPR: ReadWrite<u32>),
        (0x024 => IBRD: ReadWrite<u32, IBRD::Register>),
        (0x028 => FBRD: ReadWrite<u32, FBRD::Register>),
        (0x02c => LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x030 => CR: ReadWrite<u32, CR::Register>),
        (0x034 => IFLS: ReadWrite<u32, IFLS::Register>),
        (0x038 => IMSC: ReadWrite<u32, INT::Register>),
        (0x03c => RIS: ReadOnly<u32, INT::Register>),
        (0x040 => MIS: ReadOnly<u32, INT::Register>),
        (0x044 => ICR: WriteOnly<u32, INT::Register>),
        (0x048 => DMACR: ReadWrite<u32>),
        (0x04c => @END),
    }
}

/// All eleven interrupt bits of IMSC/ICR.
const ALL_INTERRUPTS: u32 = 0x7ff;

/// Upper bound on BUSY polls in [`Pl011::init`]: a UART left in a strange
/// state (disabled with a non-empty FIFO keeps BUSY set forever) must not hang
/// the boot.
const INIT_BUSY_SPINS: u32 = 1_000_000;

/// Baud rate divisors `(IBRD, FBRD)` for a UART reference clock and baud rate.
///
/// The divisor is `clock / (16 * baud)`; IBRD is its integer part and FBRD the
/// fraction in 64ths, rounded to nearest (TRM 3.3.6:
/// `FBRD = integer(frac * 64 + 0.5)`). Computed as one rounded fixed-point
/// value `4 * clock / baud` so a fraction rounding up to 64 carries into IBRD.
/// Out-of-range results are clamped to what the hardware accepts
/// (1..=0xffff integer part); `baud == 0` gives the slowest rate.
pub const fn divisors(clock_hz: u32, baud: u32) -> (u32, u32) {
    if baud == 0 {
        return (0xffff, 0);
    }
    let div64 = (4 * clock_hz as u64 + baud as u64 / 2) / baud as u64;
    let ibrd = div64 >> 6;
    if ibrd == 0 {
        (1, 0)
    } else if ibrd > 0xffff {
        (0xffff, 0)
    } else {
        (ibrd as u32, (div64 & 0x3f) as u32)
    }
}

/// A PL011 UART.
///
/// The handle is `Send + Sync`: concurrent use from several CPUs is
/// memory-safe (each access is a single MMIO read or write), although
/// output from different CPUs may interleave character by character.
#[derive(Debug)]
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// Creates a handle for the PL011 whose registers start at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a PL011 register block (0x1000 bytes),
    /// mapped as Device memory (or identity-mapped with the MMU off), for as
    /// long as the returned value or anything borrowed from it is used. No
    /// other code may reprogram the UART's line settings concurrently.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// The base address this handle was created with.
    pub const fn base(&self) -> usize {
        self.base
    }

    fn regs(&self) -> &RegisterBlock {
        // SAFETY: `new`'s contract: `base` points at a live PL011 register
        // block for the lifetime of `self`. All fields are MMIO cells accessed
        // through volatile operations, so shared references are sound.
        unsafe { &*(self.base as *const RegisterBlock) }
    }

    /// Programs the UART for `baud` 8N1 with FIFOs, interrupts masked, and
    /// enables transmitter and receiver. `clock_hz` is the UART reference
    /// clock (UARTCLK).
    pub fn init(&self, clock_hz: u32, baud: u32) {
        let regs = self.regs();
        // TRM 3.3.8 "UARTCR": disable, let the current character finish,
        // flush the TX FIFO by clearing FEN, then reprogram. Draining before
        // disabling keeps characters already queued (e.g. by firmware).
        let mut spins = 0;
        while regs.FR.is_set(FR::BUSY) && spins < INIT_BUSY_SPINS {
            core::hint::spin_loop();
            spins += 1;
        }
        regs.CR.set(0);
        regs.LCR_H.set(0);
        regs.ICR.set(ALL_INTERRUPTS);

        let (ibrd, fbrd) = divisors(clock_hz, baud);
        regs.IBRD.write(IBRD::BAUD_DIVINT.val(ibrd));
        regs.FBRD.write(FBRD::BAUD_DIVFRAC.val(fbrd));
        // Must follow IBRD/FBRD: this write latches the divisors.
        regs.LCR_H.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);

        regs.IFLS
            .write(IFLS::TXIFLSEL::OneEighth + IFLS::RXIFLSEL::OneEighth);
        // Polled driver: everything masked, nothing pending.
        regs.IMSC.set(0);
        regs.ICR.set(ALL_INTERRUPTS);
        regs.CR.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Sends one byte, spinning while the transmit FIFO is full.
    pub fn write_byte(&self, b: u8) {
        let regs = self.regs();
        while regs.FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        regs.DR.set(u32::from(b));
    }

    /// Sends `s`, translating `"\n"` to `"\r\n"` for serial terminals.
    pub fn write_str(&self, s: &str) {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
    }

    /// Returns the next received byte, or `None` if the receive FIFO is
    /// empty. Receive errors are cleared and the byte is still returned.
    pub fn read_byte(&self) -> Option<u8> {
        let regs = self.regs();
        if regs.FR.is_set(FR::RXFE) {
            return None;
        }
        let dr = regs.DR.extract();
        if dr.matches_any(&[DR::FE::SET, DR::PE::SET, DR::BE::SET, DR::OE::SET]) {
            regs.RSR_ECR.set(0);
        }
        Some(dr.read(DR::DATA) as u8)
    }

    /// Waits until everything written so far has left the UART.
    pub fn flush(&self) {
        let regs = self.regs();
        while regs.FR.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }

    /// Turns internal loopback (UARTCR.LBE) on or off: transmitted bytes are
    /// fed back into the receiver instead of the TX pin. Used by self-tests;
    /// console output is lost while it is on.
    pub fn set_loopback(&self, on: bool) {
        let regs = self.regs();
        self.flush();
        regs.CR
            .modify(if on { CR::LBE::SET } else { CR::LBE::CLEAR });
    }
}

impl fmt::Write for &Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Pl011::write_str(self, s);
        Ok(())
    }
}

impl fmt::Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Pl011::write_str(self, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisors_match_known_rates() {
        assert_eq!(divisors(48_000_000, 115_200), (26, 3));
        // QEMU virt's nominal 24 MHz clock.
        assert_eq!(divisors(24_000_000, 115_200), (13, 1));
        // Fraction rounding up to 64/64 carries into the integer part.
        assert_eq!(divisors(16 * 16 * 1000 - 1, 1000), (16, 0));
        assert_eq!(divisors(3_000_000, 9600), (19, 34));
    }

    #[test]
    fn divisors_clamp() {
        assert_eq!(divisors(1000, 115_200), (1, 0));
        assert_eq!(divisors(u32::MAX, 1), (0xffff, 0));
        assert_eq!(divisors(48_000_000, 0), (0xffff, 0));
    }

    /// A register block in ordinary memory: FR reads 0 (not busy, TX FIFO
    /// not full, RX FIFO not empty), so the driver never spins.
    #[repr(C, align(4096))]
    struct FakeRegs([u32; 0x400]);

    #[test]
    fn init_programs_divisors_and_line_control() {
        let mut mem = Box::new(FakeRegs([0; 0x400]));
        mem.0[0x30 / 4] = 0xffff;
        // SAFETY: `mem` is a 4 KiB, 4-byte aligned buffer that outlives `uart`.
        let uart = unsafe { Pl011::new(mem.0.as_mut_ptr() as usize) };
        uart.init(48_000_000, 115_200);
        uart.write_str("a\n");
        assert_eq!(uart.read_byte(), Some(b'\n'));
        assert_eq!(mem.0[0x24 / 4], 26);
        assert_eq!(mem.0[0x28 / 4], 3);
        assert_eq!(mem.0[0x2c / 4], 0b111 << 4);
        assert_eq!(mem.0[0x30 / 4], 0x301);
        assert_eq!(mem.0[0x38 / 4], 0);
        assert_eq!(mem.0[0x44 / 4], ALL_INTERRUPTS);
        assert_eq!(mem.0[0], u32::from(b'\n'));
    }
}
