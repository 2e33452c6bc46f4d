//! Classifying an exception taken from user space (EL0) that is not a
//! syscall: what the crash report and `GetExitInfo` call it.

use kos_abi::task::FaultKind;
use kos_abi::vm::{USER_END, USER_MIN};

use crate::esr::Esr;

/// Exception classes (ESR_EL1.EC) seen from EL0.
mod ec {
    pub const UNKNOWN: u8 = 0x00;
    pub const ILLEGAL_STATE: u8 = 0x0E;
    pub const SYSREG: u8 = 0x18;
    pub const INSN_ABORT_LOWER: u8 = 0x20;
    pub const PC_ALIGN: u8 = 0x22;
    pub const DATA_ABORT_LOWER: u8 = 0x24;
    pub const SP_ALIGN: u8 = 0x26;
    pub const BREAKPOINT_LOWER: u8 = 0x30;
    pub const SOFTWARE_STEP_LOWER: u8 = 0x32;
    pub const WATCHPOINT_LOWER: u8 = 0x34;
    pub const BRK: u8 = 0x3C;
}

/// What kind of fault `esr` (with fault address `far`) is. `in_guard`
/// says whether `far` lies in the guard below one of the process's stacks.
pub fn classify(esr: Esr, far: u64, in_guard: bool) -> FaultKind {
    match esr.ec() {
        ec::UNKNOWN | ec::ILLEGAL_STATE | ec::SYSREG => FaultKind::UndefinedInstruction,
        ec::PC_ALIGN | ec::SP_ALIGN => FaultKind::Alignment,
        ec::BRK | ec::BREAKPOINT_LOWER | ec::SOFTWARE_STEP_LOWER | ec::WATCHPOINT_LOWER => {
            FaultKind::Breakpoint
        }
        ec::INSN_ABORT_LOWER | ec::DATA_ABORT_LOWER => {
            abort_kind(esr.fault_status(), far, in_guard)
        }
        _ => FaultKind::Other,
    }
}

/// Whether FAR_EL1 holds a fault address for this syndrome (aborts, PC
/// alignment, watchpoints); for other classes it is UNKNOWN.
pub fn has_address(esr: Esr) -> bool {
    matches!(
        esr.ec(),
        ec::INSN_ABORT_LOWER | ec::DATA_ABORT_LOWER | ec::PC_ALIGN | ec::WATCHPOINT_LOWER
    )
}

fn abort_kind(status: u8, far: u64, in_guard: bool) -> FaultKind {
    const ALIGNMENT: u8 = 0x21;
    match status {
        ALIGNMENT => FaultKind::Alignment,
        // Addresses no user mapping can ever have: kernel memory (or the
        // non-canonical gap below it).
        _ if far >= USER_END => FaultKind::Permission,
        // Permission faults: 0b0011xx.
        0x0C..=0x0F => FaultKind::Permission,
        _ if in_guard => FaultKind::StackOverflow,
        _ if far < USER_MIN => FaultKind::NullPointer,
        _ => FaultKind::Unmapped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esr(ec: u8, iss: u32) -> Esr {
        Esr(((ec as u64) << 26) | (1 << 25) | iss as u64)
    }

    #[test]
    fn kinds() {
        // Data abort, level-3 translation fault.
        assert_eq!(classify(esr(0x24, 0x07), 0, false), FaultKind::NullPointer);
        assert_eq!(
            classify(esr(0x24, 0x07), 0x8, false),
            FaultKind::NullPointer
        );
        assert_eq!(
            classify(esr(0x24, 0x07), 0x7F00_0000, true),
            FaultKind::StackOverflow
        );
        assert_eq!(
            classify(esr(0x24, 0x07), 0x5000_0000, false),
            FaultKind::Unmapped
        );
        // Kernel address: permission fault (level 1), and even a translation fault.
        assert_eq!(
            classify(esr(0x24, 0x0D), 0xFFFF_0000_4000_0000, false),
            FaultKind::Permission
        );
        assert_eq!(
            classify(esr(0x24, 0x04), 0xFFFF_0000_4000_0000, false),
            FaultKind::Permission
        );
        // Write to text: level-3 permission fault.
        assert_eq!(
            classify(esr(0x24, 0x4F), 0x20_1000, false),
            FaultKind::Permission
        );
        // Instruction fetch from a non-executable page.
        assert_eq!(
            classify(esr(0x20, 0x0F), 0x7F00_0000, false),
            FaultKind::Permission
        );
        assert_eq!(
            classify(esr(0x24, 0x21), 0x1001, false),
            FaultKind::Alignment
        );
        assert_eq!(classify(esr(0x22, 0), 0x1001, false), FaultKind::Alignment);
        assert_eq!(classify(esr(0x26, 0), 0, false), FaultKind::Alignment);
        assert_eq!(
            classify(esr(0x00, 0), 0, false),
            FaultKind::UndefinedInstruction
        );
        assert_eq!(
            classify(esr(0x18, 0), 0, false),
            FaultKind::UndefinedInstruction
        );
        assert_eq!(classify(esr(0x3C, 0), 0, false), FaultKind::Breakpoint);
        assert_eq!(classify(esr(0x2F, 0), 0, false), FaultKind::Other);
        assert!(has_address(esr(0x24, 0)) && has_address(esr(0x22, 0)));
        assert!(!has_address(esr(0x00, 0)) && !has_address(esr(0x26, 0)));
    }
}
