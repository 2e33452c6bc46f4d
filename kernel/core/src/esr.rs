//! Decoding of ESR_ELx, the Exception Syndrome Register (ARM ARM D19.2.37).

use core::fmt;

/// A raw ESR value with accessors for its fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Esr(pub u64);

impl Esr {
    /// Exception Class, bits [31:26].
    pub fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }
    /// Instruction Length bit [25]: 32-bit instruction when set.
    pub fn il(self) -> bool {
        self.0 & (1 << 25) != 0
    }
    /// Instruction Specific Syndrome, bits [24:0].
    pub fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }

    /// The name of the exception class.
    pub fn class_name(self) -> &'static str {
        match self.ec() {
            0x00 => "unknown reason",
            0x01 => "WFI/WFE trapped",
            0x07 => "FP/SIMD access trapped",
            0x0e => "illegal execution state",
            0x15 => "SVC from AArch64",
            0x16 => "HVC from AArch64",
            0x17 => "SMC from AArch64",
            0x18 => "MSR/MRS/system instruction trapped",
            0x20 => "instruction abort from a lower EL",
            0x21 => "instruction abort, same EL",
            0x22 => "PC alignment fault",
            0x24 => "data abort from a lower EL",
            0x25 => "data abort, same EL",
            0x26 => "SP alignment fault",
            0x2c => "floating-point exception",
            0x2f => "SError",
            0x30 => "breakpoint from a lower EL",
            0x31 => "breakpoint, same EL",
            0x32 => "software step from a lower EL",
            0x33 => "software step, same EL",
            0x34 => "watchpoint from a lower EL",
            0x35 => "watchpoint, same EL",
            0x3c => "BRK instruction",
            _ => "reserved/unhandled class",
        }
    }

    /// Whether this is an instruction or data abort (ISS holds a fault status code).
    pub fn is_abort(self) -> bool {
        matches!(self.ec(), 0x20 | 0x21 | 0x24 | 0x25)
    }

    /// For aborts: the fault status code (IFSC/DFSC, ISS[5:0]).
    pub fn fault_status(self) -> u8 {
        (self.iss() & 0x3f) as u8
    }

    /// For data aborts: WnR, the access was a write.
    pub fn is_write(self) -> bool {
        self.iss() & (1 << 6) != 0
    }
}

/// Name of an abort's fault status code (ISS[5:0]), with the level if it has one.
fn fault_status_name(fsc: u8) -> &'static str {
    match fsc & 0x3c {
        0x00 => "address size fault",
        0x04 => "translation fault",
        0x08 => "access flag fault",
        0x0c => "permission fault",
        _ => match fsc {
            0x10 => "synchronous external abort",
            0x21 => "alignment fault",
            0x30 => "TLB conflict abort",
            _ => "other fault",
        },
    }
}

impl fmt::Display for Esr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EC {:#04x} {} IL {} ISS {:#x}",
            self.ec(),
            self.class_name(),
            self.il() as u8,
            self.iss()
        )?;
        if self.is_abort() {
            let fsc = self.fault_status();
            write!(f, " ({}", fault_status_name(fsc))?;
            if fsc < 0x10 {
                write!(f, ", level {}", fsc & 3)?;
            }
            if matches!(self.ec(), 0x24 | 0x25) {
                write!(f, ", {}", if self.is_write() { "write" } else { "read" })?;
            }
            write!(f, ")")?;
        }
        if self.ec() == 0x3c {
            write!(f, " (comment {:#x})", self.iss() & 0xffff)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn fields() {
        // Data abort, same EL, 32-bit instruction, write, translation fault level 1.
        let esr = Esr((0x25 << 26) | (1 << 25) | (1 << 6) | 0x05);
        assert_eq!(esr.ec(), 0x25);
        assert!(esr.il());
        assert!(esr.is_abort());
        assert!(esr.is_write());
        assert_eq!(esr.fault_status(), 0x05);
        assert_eq!(
            format!("{esr}"),
            "EC 0x25 data abort, same EL IL 1 ISS 0x45 (translation fault, level 1, write)"
        );
    }

    #[test]
    fn brk_comment_and_permission_fault() {
        let brk = Esr((0x3c << 26) | (1 << 25) | 0x42);
        assert_eq!(
            format!("{brk}"),
            "EC 0x3c BRK instruction IL 1 ISS 0x42 (comment 0x42)"
        );
        let perm = Esr((0x21 << 26) | (1 << 25) | 0x0f);
        assert_eq!(
            format!("{perm}"),
            "EC 0x21 instruction abort, same EL IL 1 ISS 0xf (permission fault, level 3)"
        );
    }

    #[test]
    fn every_class_has_a_name_and_no_panic() {
        for ec in 0..64u64 {
            let e = Esr(ec << 26 | 0x1ff_ffff);
            assert!(!e.class_name().is_empty());
            let _ = format!("{e}");
        }
        assert_eq!(Esr(0).class_name(), "unknown reason");
    }
}
