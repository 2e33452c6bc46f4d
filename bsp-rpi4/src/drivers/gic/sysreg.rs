//! GICv3 CPU interface system registers (and MPIDR_EL1).
//!
//! The ICC_* registers are written with their generic `S3_<op1>_C<n>_C<m>_<op2>`
//! encodings (GICv3 architecture spec, 12.1 "CPU interface registers") so no
//! assembler GIC extension is needed. On other architectures (host builds and
//! tests) the accessors are inert stand-ins: reads return 0 (IAR returns 1023,
//! "spurious") and writes do nothing. They are never reached at run time on
//! the host; they only let the crate build and unit-test there.

#[cfg(target_arch = "aarch64")]
mod imp {
    use core::arch::asm;

    macro_rules! sysreg_rw {
        ($read:ident, $write:ident, $reg:literal) => {
            #[inline(always)]
            pub fn $read() -> u64 {
                let v: u64;
                // SAFETY: reading this GICv3 CPU interface register has no
                // side effects beyond what the architecture defines for it;
                // no memory is accessed.
                unsafe { asm!(concat!("mrs {}, ", $reg), out(reg) v, options(nomem, nostack, preserves_flags)) };
                v
            }

            #[inline(always)]
            pub fn $write(v: u64) {
                // SAFETY: writes only the named CPU interface register; the
                // GIC driver is the sole owner of the CPU interface.
                unsafe { asm!(concat!("msr ", $reg, ", {}"), in(reg) v, options(nostack, preserves_flags)) };
            }
        };
    }

    sysreg_rw!(icc_sre_el1, set_icc_sre_el1, "S3_0_C12_C12_5");
    sysreg_rw!(icc_pmr_el1, set_icc_pmr_el1, "S3_0_C4_C6_0");
    sysreg_rw!(icc_bpr1_el1, set_icc_bpr1_el1, "S3_0_C12_C12_3");
    sysreg_rw!(icc_ctlr_el1, set_icc_ctlr_el1, "S3_0_C12_C12_4");
    sysreg_rw!(icc_igrpen1_el1, set_icc_igrpen1_el1, "S3_0_C12_C12_7");

    /// ICC_IAR1_EL1: reading acknowledges the interrupt (a side effect), so
    /// memory accesses must not be moved across it.
    #[inline(always)]
    pub fn icc_iar1_el1() -> u64 {
        let v: u64;
        // SAFETY: acknowledging is the intended effect; no memory is accessed.
        unsafe { asm!("mrs {}, S3_0_C12_C12_0", out(reg) v, options(nostack, preserves_flags)) };
        v
    }

    /// ICC_SGI1R_EL1 (write-only): sends a Group 1 SGI.
    #[inline(always)]
    pub fn set_icc_sgi1r_el1(v: u64) {
        // SAFETY: generates an SGI; no memory is accessed.
        unsafe { asm!("msr S3_0_C12_C11_5, {}", in(reg) v, options(nostack, preserves_flags)) };
    }

    /// ICC_EOIR1_EL1 (write-only).
    #[inline(always)]
    pub fn set_icc_eoir1_el1(v: u64) {
        // SAFETY: signals end of interrupt to the CPU interface only.
        unsafe { asm!("msr S3_0_C12_C12_1, {}", in(reg) v, options(nostack, preserves_flags)) };
    }

    /// MPIDR_EL1: this core's affinity.
    #[inline(always)]
    pub fn mpidr_el1() -> u64 {
        let v: u64;
        // SAFETY: read-only identification register.
        unsafe { asm!("mrs {}, mpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
        v
    }

    /// Instruction synchronisation barrier: makes system register writes
    /// visible to following instructions.
    #[inline(always)]
    pub fn isb() {
        // SAFETY: a barrier has no effect on memory safety.
        unsafe { asm!("isb", options(nostack, preserves_flags)) };
    }

    /// Orders earlier stores before what follows (an SGI's target sees
    /// them).
    #[inline(always)]
    pub fn dsb_ishst() {
        // SAFETY: a barrier has no effect on memory safety.
        unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
    }
}

#[cfg(not(target_arch = "aarch64"))]
#[allow(missing_docs)]
mod imp {
    //! Host stand-ins so the crate builds and unit-tests off target.

    pub fn icc_sre_el1() -> u64 {
        0
    }
    pub fn set_icc_sre_el1(_: u64) {}
    pub fn icc_pmr_el1() -> u64 {
        0
    }
    pub fn set_icc_pmr_el1(_: u64) {}
    pub fn icc_bpr1_el1() -> u64 {
        0
    }
    pub fn set_icc_bpr1_el1(_: u64) {}
    pub fn icc_ctlr_el1() -> u64 {
        0
    }
    pub fn set_icc_ctlr_el1(_: u64) {}
    pub fn icc_igrpen1_el1() -> u64 {
        0
    }
    pub fn set_icc_igrpen1_el1(_: u64) {}
    pub fn set_icc_sgi1r_el1(_: u64) {}
    /// Reports "spurious" so a stray host call acknowledges nothing.
    pub fn icc_iar1_el1() -> u64 {
        1023
    }
    pub fn set_icc_eoir1_el1(_: u64) {}
    pub fn mpidr_el1() -> u64 {
        0
    }
    pub fn isb() {}
    pub fn dsb_ishst() {}
}

#[allow(unused_imports)]
pub use imp::*;
