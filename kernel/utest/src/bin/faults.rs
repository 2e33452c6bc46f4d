//! Faults in user space end only the faulting process: each child breaks
//! itself in one way; the parent sees how it ended (status Exception, the
//! fault kind, the fault address / faulting PC) and keeps running.

#![no_std]
#![no_main]

extern crate alloc;

use core::arch::{asm, global_asm};
use core::hint::black_box;
use core::sync::atomic::{AtomicU32, AtomicU64};

use libkos::abi::task::{ExitInfo, FaultKind};
use libkos::abi::vm::VmPerms;
use libkos::test::TestResult;
use libkos::{check, check_eq, check_ok, println};
use utest::{expect_exit, expect_fault, role, run_role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

/// A kernel address: the linear map of RAM on virt.
const KERNEL_ADDR: u64 = 0xFFFF_0000_4000_0000;

// Code at known addresses (same binary in parent and child): an undefined
// instruction, and a function the child tries to overwrite.
global_asm!(
    ".section .text.utest_fault_targets, \"ax\"",
    ".balign 4",
    ".global utest_udf_insn",
    "utest_udf_insn:",
    "udf #0",
    ".global utest_text_target",
    "utest_text_target:",
    "ret",
);

unsafe extern "C" {
    fn utest_udf_insn();
    fn utest_text_target();
}

/// Data the child tries to execute: `ret` instructions, in a RW,
/// never-executable page.
static DATA_CODE: [AtomicU32; 2] = [AtomicU32::new(RET), AtomicU32::new(RET)];
/// `ret`.
const RET: u32 = 0xd65f_03c0;
/// Something to load from at an odd address.
static ALIGN_TARGET: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

fn main() -> i32 {
    match role() {
        Some(r) => child(r),
        None => libkos::test::run(
            "utest_faults",
            libkos::tests![
                read_kernel_memory,
                null_pointer_read,
                stack_overflow,
                undefined_instruction,
                unaligned_exclusive_load,
                write_to_own_text,
                execute_data,
                execute_stack,
                protect_rw_to_rx_runs_code,
                write_after_protect_faults,
                parent_unaffected,
            ],
        ),
    }
}

/// What a child does; returning at all means the fault did not happen.
fn child(role: &str) -> i32 {
    match role {
        "ok" => return 0,
        "kernel-read" => load(KERNEL_ADDR),
        "null-read" => load(0),
        "stack-overflow" => {
            let depth = recurse(0);
            println!("utest-faults: recursion ended at depth {depth}?");
        }
        // SAFETY (all below): deliberate faults; the kernel must end this
        // process before any of these instructions completes.
        "udf" => unsafe { asm!("b {f}", f = sym utest_udf_insn, options(noreturn)) },
        "unaligned-ldxr" => unsafe {
            asm!(
                "ldxr {v}, [{a}]",
                a = in(reg) odd_address(),
                v = out(reg) _,
                options(nostack),
            );
        },
        "write-text" => unsafe {
            asm!(
                "str {v}, [{a}]",
                a = in(reg) utest_text_target as *const () as usize,
                v = in(reg) 0u64,
                options(nostack),
            );
        },
        "exec-data" => unsafe {
            asm!(
                "blr {a}",
                a = in(reg) DATA_CODE.as_ptr() as usize,
                clobber_abi("C"),
            );
        },
        "exec-stack" => {
            let code = black_box([RET; 4]);
            // SAFETY: see above; `code` lives on this (never-executable)
            // stack until after the call.
            unsafe {
                asm!("blr {a}", a = in(reg) code.as_ptr() as usize, clobber_abi("C"));
            }
            black_box(code);
        }
        "write-after-protect" => {
            let page = protected_page(VmPerms::READ);
            // SAFETY: deliberate fault: the page was made read-only.
            unsafe { asm!("str {v}, [{a}]", a = in(reg) page, v = in(reg) 1u64, options(nostack)) };
        }
        other => {
            println!("utest-faults: unknown role {other}");
            return 64;
        }
    }
    println!("utest-faults: role {role}: no fault happened");
    3
}

fn load(addr: u64) {
    // SAFETY: a deliberate load from an address this process may not read
    // (the kernel must end the process); no Rust reference is involved.
    unsafe {
        asm!(
            "ldr {v}, [{a}]",
            a = in(reg) addr,
            v = out(reg) _,
            options(nostack, readonly),
        );
    }
}

fn odd_address() -> usize {
    ALIGN_TARGET.as_ptr() as usize + 1
}

/// Recurses until the stack runs into its guard page (the frame is kept
/// alive and the recursion not turned into a loop with `black_box`).
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return frame[1];
    }
    recurse(depth + 1).wrapping_add(black_box(frame)[7])
}

fn fault_child(name: &str, role: &str) -> Result<ExitInfo, alloc::string::String> {
    run_role(SELF, name, role)
}

fn read_kernel_memory() -> TestResult {
    let info = fault_child("fault-kread", "kernel-read")?;
    expect_fault(&info, FaultKind::Permission)?;
    check_eq!(info.far, KERNEL_ADDR, "fault address");
    Ok(())
}

fn null_pointer_read() -> TestResult {
    let info = fault_child("fault-null", "null-read")?;
    expect_fault(&info, FaultKind::NullPointer)?;
    check_eq!(info.far, 0, "fault address");
    Ok(())
}

fn stack_overflow() -> TestResult {
    let info = fault_child("fault-stack", "stack-overflow")?;
    expect_fault(&info, FaultKind::StackOverflow)
}

fn undefined_instruction() -> TestResult {
    let info = fault_child("fault-udf", "udf")?;
    expect_fault(&info, FaultKind::UndefinedInstruction)?;
    check_eq!(
        info.elr,
        utest_udf_insn as *const () as usize as u64,
        "faulting PC (the udf)"
    );
    Ok(())
}

fn unaligned_exclusive_load() -> TestResult {
    let info = fault_child("fault-align", "unaligned-ldxr")?;
    expect_fault(&info, FaultKind::Alignment)?;
    check_eq!(info.far, odd_address() as u64, "fault address");
    Ok(())
}

fn write_to_own_text() -> TestResult {
    let info = fault_child("fault-wtext", "write-text")?;
    expect_fault(&info, FaultKind::Permission)?;
    check_eq!(
        info.far,
        utest_text_target as *const () as usize as u64,
        "fault address (the function written to)"
    );
    Ok(())
}

fn execute_data() -> TestResult {
    let info = fault_child("fault-xdata", "exec-data")?;
    expect_fault(&info, FaultKind::Permission)?;
    check_eq!(
        info.far,
        DATA_CODE.as_ptr() as u64,
        "fault address (the data jumped to)"
    );
    Ok(())
}

fn execute_stack() -> TestResult {
    let info = fault_child("fault-xstack", "exec-stack")?;
    expect_fault(&info, FaultKind::Permission)?;
    // The child's stack address is its own; it must at least be the PC.
    check_eq!(info.far, info.elr, "fault address = faulting PC");
    Ok(())
}

/// `mov w0, #42`.
const MOV_W0_42: u32 = 0x5280_0540;

/// A fresh page holding `mov w0, #42; ret`, then given `perms`; returns its address.
fn protected_page(perms: VmPerms) -> u64 {
    let Ok(range) = libkos::vm::allocate(4096) else {
        println!("utest-faults: allocate failed");
        libkos::task::exit(65)
    };
    let code = [MOV_W0_42, RET];
    // SAFETY: the page was just mapped read-write for this process and
    // nothing else refers to it.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), range.addr as *mut u32, 2) };
    // SAFETY: nothing keeps a reference into the page.
    if let Err(rc) = unsafe { libkos::vm::protect(range, perms) } {
        println!("utest-faults: protect failed: {rc}");
        libkos::task::exit(66)
    }
    range.addr
}

/// Code written into a read-write page runs once the page is made
/// read+execute (stale permissions or a stale I-cache would fault or run
/// garbage); writable and executable at once is refused.
fn protect_rw_to_rx_runs_code() -> TestResult {
    let addr = protected_page(VmPerms::READ | VmPerms::EXEC);
    // SAFETY: the page holds a complete function `extern "C" fn() -> u32`.
    let f: extern "C" fn() -> u32 = unsafe { core::mem::transmute(addr as usize) };
    check_eq!(f(), 42, "result of the code in the protected page");
    let range = libkos::abi::vm::VmRange { addr, size: 4096 };
    // SAFETY: the request is refused, so nothing changes.
    let rc = unsafe { libkos::vm::protect(range, VmPerms::WRITE | VmPerms::EXEC) };
    check_eq!(rc, Err(libkos::Rc::InvalidArgument), "W+X protect");
    // SAFETY: as above: a partial range is refused.
    let rc = unsafe {
        libkos::vm::protect(
            libkos::abi::vm::VmRange {
                addr,
                size: 1 << 20,
            },
            VmPerms::READ,
        )
    };
    check_eq!(
        rc,
        Err(libkos::Rc::InvalidArgument),
        "protect of a wrong size"
    );
    check_eq!(f(), 42, "code still runs after refused protects");
    Ok(())
}

/// A write to a page made read-only ends the writer with a permission fault.
fn write_after_protect_faults() -> TestResult {
    let info = fault_child("fault-wprot", "write-after-protect")?;
    expect_fault(&info, FaultKind::Permission)?;
    check!(
        info.far >= libkos::abi::vm::HEAP_AREA_BASE && info.far % 4096 == 0,
        "fault address {:#x} is not the protected page",
        info.far
    );
    Ok(())
}

/// After all those faults, this process and new ones still work.
fn parent_unaffected() -> TestResult {
    check_eq!(libkos::syscall::nop(), libkos::Rc::Ok, "nop");
    let v = alloc::vec![7u8; 10_000];
    check!(v.iter().all(|&b| b == 7), "heap");
    let stats = check_ok!(libkos::sys::mem_stats(), "mem_stats");
    check!(stats.processes >= 2, "processes = {}", stats.processes);
    let info = fault_child("fault-none", "ok")?;
    expect_exit(&info, 0)
}
