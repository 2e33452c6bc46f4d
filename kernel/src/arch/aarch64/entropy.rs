//! Entropy for ASLR seeds: the best source the board has, mixed together.
//!
//! - the CPU's random number instruction (`RNDR`, FEAT_RNG) when it has one;
//! - on the Raspberry Pi 4, the BCM2711's RNG200 (`iproc-rng200`);
//! - always, the jitter of the counter around short busy loops (weak on
//!   its own, and deterministic under QEMU `-icount`).
//!
//! None of this is a cryptographic RNG for user space: it only seeds the
//! load-offset generators (`kernel_core::aslr`).

use core::arch::asm;

use kernel_core::aslr::mix;

use crate::arch::timer;

/// A seed from every source available now.
pub fn seed() -> u64 {
    let mut s = 0x6a09_e667_f3bc_c908;
    if let Some(v) = rndr() {
        s = mix(s, v);
    }
    if let Some(v) = rng200() {
        s = mix(s, v);
    }
    for i in 0..64u64 {
        let a = timer::counter();
        for _ in 0..(i % 7) * 13 {
            core::hint::spin_loop();
        }
        let b = timer::counter();
        s = mix(s, (b.wrapping_sub(a) << 32) ^ b);
    }
    s
}

/// One value from `RNDR`, if the CPU implements FEAT_RNG and it succeeds.
fn rndr() -> Option<u64> {
    let isar0: u64;
    // SAFETY: reads an ID register.
    unsafe { asm!("mrs {}, id_aa64isar0_el1", out(reg) isar0, options(nomem, nostack)) };
    if (isar0 >> 60) & 0xF == 0 {
        return None;
    }
    for _ in 0..16 {
        let (v, ok): (u64, u64);
        // SAFETY: RNDR (s3_3_c2_c4_0) exists (checked above); it sets NZCV,
        // Z clear on success.
        unsafe {
            asm!(
                "mrs {v}, s3_3_c2_c4_0",
                "cset {ok}, ne",
                v = out(reg) v,
                ok = out(reg) ok,
                options(nomem, nostack)
            )
        };
        if ok != 0 {
            return Some(v);
        }
    }
    None
}

/// Up to 4 words from the BCM2711 RNG200 (Raspberry Pi 4 only). It is
/// started if needed and polled a bounded number of times: a missing or
/// silent generator (QEMU's raspi4b has none) gives `None`, never a hang.
#[cfg(feature = "board-rpi4")]
fn rng200() -> Option<u64> {
    use crate::memory::layout::phys_to_virt_addr;
    const BASE: u64 = 0xFE10_4000;
    const CTRL: u64 = 0x00;
    const FIFO_DATA: u64 = 0x20;
    const FIFO_COUNT: u64 = 0x24;
    const RBGEN: u32 = 1;
    let reg = |off: u64| phys_to_virt_addr(BASE + off) as *mut u32;
    // Probe first: a board (or emulator: QEMU's raspi4b) without the block
    // answers with an external abort, which must not stop the kernel.
    let mut ctrl = 0;
    let fault = crate::arch::exception::catch_fault(|| {
        // SAFETY: BASE is the RNG200 block inside the board's MMIO window,
        // mapped as Device memory by the kernel tables; a 32-bit read.
        ctrl = unsafe { reg(CTRL).read_volatile() };
    });
    if fault.is_some() {
        return None;
    }
    if ctrl & RBGEN == 0 {
        // SAFETY: as above; the block answered, so it exists.
        unsafe { reg(CTRL).write_volatile(ctrl | RBGEN) };
    }
    let mut v = 0u64;
    let mut got = 0;
    for _ in 0..10_000 {
        // SAFETY: as above.
        let count = unsafe { reg(FIFO_COUNT).read_volatile() } & 0xFF;
        if count > 0 {
            // SAFETY: as above.
            let w = unsafe { reg(FIFO_DATA).read_volatile() };
            v = mix(v, w as u64);
            got += 1;
            if got == 4 {
                break;
            }
        }
    }
    (got > 0).then_some(v)
}

#[cfg(not(feature = "board-rpi4"))]
fn rng200() -> Option<u64> {
    None
}
