//! Arm semihosting (only under QEMU `-semihosting`, never on hardware, where
//! `hlt` would be an undefined instruction): exit with a status, and read the
//! command line QEMU was given with `-append`.

use core::arch::asm;

const SYS_GET_CMDLINE: u64 = 0x15;
const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// # Safety
/// `param` must point to the parameter block the operation expects.
unsafe fn call(op: u64, param: u64) -> u64 {
    let ret;
    // SAFETY: the semihosting trap reads/writes only the parameter block.
    unsafe { asm!("hlt #0xf000", inout("x0") op => ret, in("x1") param, options(nostack)) };
    ret
}

/// End the QEMU process with `status` as its exit code.
pub fn exit(status: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, status as u64];
    // SAFETY: SYS_EXIT takes a pointer to a two-word block (reason, subcode).
    unsafe { call(SYS_EXIT, block.as_ptr() as u64) };
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Copy the command line into `buf`; returns the filled part.
pub fn cmdline(buf: &mut [u8]) -> Option<&str> {
    let mut block = [buf.as_mut_ptr() as u64, buf.len() as u64];
    // SAFETY: SYS_GET_CMDLINE writes at most block[1] bytes to block[0] and
    // stores the length back in block[1].
    let rc = unsafe { call(SYS_GET_CMDLINE, block.as_mut_ptr() as u64) };
    if rc != 0 {
        return None;
    }
    let len = (block[1] as usize).min(buf.len());
    core::str::from_utf8(&buf[..len]).ok()
}
