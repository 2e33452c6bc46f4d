//! Error paths of the trap layer and the message checks: every malformed
//! syscall or message must come back as a return code (and the program go
//! on), never as a fault or a kernel crash.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};

use libkos::abi::msg::{Endpoint, HEADER_SIZE, Header, MAX_ARENA, MAX_FIXED, thread};
use libkos::abi::{Handle, Rc};
use libkos::syscall::{self, call_bytes, call_raw};
use libkos::test::TestResult;
use libkos::zerocopy::IntoBytes;
use libkos::{check, check_eq, check_ok, console, ipc};
use utest::expect_rc;

libkos::main!(main);

fn main() -> i32 {
    libkos::test::run(
        "utest_syscall",
        libkos::tests![
            nop_is_ok,
            unknown_syscall_number,
            call_request_null,
            call_request_in_kernel_memory,
            call_reply_in_rodata,
            call_request_shorter_than_header,
            call_header_length_mismatch,
            call_fixed_part_too_large,
            call_arena_too_large,
            unknown_endpoint,
            unknown_method,
            never_issued_handle,
            closed_handle,
            join_on_kernel_handle_is_wrong_type,
            console_write_empty,
            console_lines_stay_whole,
            console_lines_stay_whole_across_cores,
        ],
    )
}

/// A kernel address: the linear map of RAM on virt.
const KERNEL_ADDR: u64 = 0xFFFF_0000_4000_0000;

/// A well-formed `SysInfo.MemStats` request (no side effects).
fn mem_stats_request() -> Header {
    Header {
        endpoint: Endpoint::SysInfo as u16,
        method: libkos::abi::interfaces::sysinfo::Method::MemStats.id(),
        ..Header::default()
    }
}

/// Big enough for any reply used here.
fn reply_buf() -> [u64; 16] {
    [0; 16]
}

fn nop_is_ok() -> TestResult {
    check_eq!(syscall::nop(), Rc::Ok, "nop");
    Ok(())
}

fn unknown_syscall_number() -> TestResult {
    check_eq!(
        syscall::register_only(999, [1, 2, 3, 4, 5, 6]),
        Rc::InvalidSyscall,
        "syscall 999"
    );
    check_eq!(
        syscall::register_only(u64::MAX, [0; 6]),
        Rc::InvalidSyscall,
        "syscall u64::MAX"
    );
    Ok(())
}

fn call_request_null() -> TestResult {
    let mut reply = reply_buf();
    let reply = reply.as_mut_bytes();
    // SAFETY: the request pointer is null on purpose: the kernel must refuse
    // it; the reply buffer is ours.
    let (rc, _) = unsafe {
        call_raw(
            Handle::KERNEL,
            core::ptr::null(),
            16,
            reply.as_mut_ptr(),
            reply.len(),
        )
    };
    check_eq!(rc, Rc::BadAddress, "request at address 0");
    Ok(())
}

fn call_request_in_kernel_memory() -> TestResult {
    let mut reply = reply_buf();
    let reply = reply.as_mut_bytes();
    // SAFETY: a kernel address as the request on purpose: the kernel must
    // refuse it without reading it; the reply buffer is ours.
    let (rc, _) = unsafe {
        call_raw(
            Handle::KERNEL,
            KERNEL_ADDR as *const u8,
            16,
            reply.as_mut_ptr(),
            reply.len(),
        )
    };
    check_eq!(rc, Rc::BadAddress, "request at {KERNEL_ADDR:#x}");
    Ok(())
}

/// Lives in .rodata (immutable, no interior mutability): mapped read-only.
static READ_ONLY: [u8; 128] = [0x5a; 128];

fn call_reply_in_rodata() -> TestResult {
    let req = mem_stats_request();
    let target = READ_ONLY.as_ptr();
    // SAFETY: the reply buffer is our read-only .rodata on purpose: the
    // kernel must refuse to write there (BadAddress). Were it to write
    // anyway, the check below sees it.
    let (rc, _) = unsafe {
        call_raw(
            Handle::KERNEL,
            req.as_bytes().as_ptr(),
            HEADER_SIZE,
            target.cast_mut(),
            READ_ONLY.len(),
        )
    };
    check_eq!(rc, Rc::BadAddress, "reply into .rodata at {target:p}");
    let intact = READ_ONLY.iter().all(|&b| core::hint::black_box(b) == 0x5a);
    check!(intact, "the kernel wrote into read-only memory");
    Ok(())
}

fn call_request_shorter_than_header() -> TestResult {
    let req = mem_stats_request();
    let mut reply = reply_buf();
    let (rc, _) = call_bytes(Handle::KERNEL, &req.as_bytes()[..8], reply.as_mut_bytes());
    check_eq!(rc, Rc::InvalidArgument, "8-byte request");
    let (rc, _) = call_bytes(Handle::KERNEL, &[], reply.as_mut_bytes());
    check_eq!(rc, Rc::InvalidArgument, "empty request");
    Ok(())
}

fn call_header_length_mismatch() -> TestResult {
    // The header announces 16 bytes, the call says 24.
    let mut req = [0u64; 3];
    req.as_mut_bytes()[..HEADER_SIZE].copy_from_slice(mem_stats_request().as_bytes());
    let mut reply = reply_buf();
    let (rc, _) = call_bytes(Handle::KERNEL, req.as_bytes(), reply.as_mut_bytes());
    check_eq!(rc, Rc::InvalidArgument, "header 16 bytes, request 24");
    // The header announces 8 bytes of arena, the call has none.
    let hdr = Header {
        arena_len: 8,
        ..mem_stats_request()
    };
    let (rc, _) = call_bytes(Handle::KERNEL, hdr.as_bytes(), reply.as_mut_bytes());
    check_eq!(rc, Rc::InvalidArgument, "header 24 bytes, request 16");
    Ok(())
}

fn call_fixed_part_too_large() -> TestResult {
    let fixed = MAX_FIXED + 8;
    let hdr = Header {
        fixed_len: fixed as u16,
        ..mem_stats_request()
    };
    let rc = call_with_body(hdr, fixed);
    check_eq!(rc, Rc::MessageTooLarge, "fixed part of {fixed} bytes");
    Ok(())
}

fn call_arena_too_large() -> TestResult {
    let arena = MAX_ARENA + 8;
    let hdr = Header {
        endpoint: Endpoint::Console as u16,
        method: 0,
        arena_len: arena as u32,
        ..Header::default()
    };
    let rc = call_with_body(hdr, arena);
    check_eq!(rc, Rc::MessageTooLarge, "arena of {arena} bytes");
    Ok(())
}

/// Sends `hdr` followed by `body` zero bytes to the kernel handle; returns the rc.
fn call_with_body(hdr: Header, body: usize) -> Rc {
    let mut req = vec![0u64; (HEADER_SIZE + body) / 8];
    req.as_mut_slice().as_mut_bytes()[..HEADER_SIZE].copy_from_slice(hdr.as_bytes());
    let mut reply = reply_buf();
    let (rc, _) = call_bytes(
        Handle::KERNEL,
        req.as_slice().as_bytes(),
        reply.as_mut_bytes(),
    );
    rc
}

fn unknown_endpoint() -> TestResult {
    let r = ipc::call(Handle::KERNEL, 99, 0, &(), &[], &mut (), &mut []);
    expect_rc("endpoint 99 on the kernel handle", r, Rc::ResourceNotFound)
}

fn unknown_method() -> TestResult {
    let r = ipc::call(
        Handle::KERNEL,
        Endpoint::SysInfo as u16,
        77,
        &(),
        &[],
        &mut (),
        &mut [],
    );
    expect_rc("SysInfo method 77", r, Rc::ResourceNotFound)
}

fn never_issued_handle() -> TestResult {
    let r = libkos::thread::info(Handle(0x7777_0042));
    expect_rc("Thread.Info on handle 0x7777_0042", r, Rc::InvalidHandle)
}

fn closed_handle() -> TestResult {
    let t = check_ok!(
        libkos::thread::spawn(libkos::thread::normal(16), 0, || 7),
        "spawn"
    );
    let code = check_ok!(t.join(u64::MAX), "join");
    check_eq!(code, 7, "thread exit code");
    let h = t.handle();
    check_ok!(t.close(), "close");
    let r = libkos::thread::info(h);
    expect_rc("Thread.Info on a closed handle", r, Rc::InvalidHandle)?;
    expect_rc(
        "closing it again",
        libkos::task::close_handle(h),
        Rc::InvalidHandle,
    )
}

fn join_on_kernel_handle_is_wrong_type() -> TestResult {
    let mut reply = thread::JoinReply::default();
    let r = ipc::call(
        Handle::KERNEL,
        Endpoint::Thread as u16,
        libkos::abi::interfaces::thread::Method::Join.id(),
        &thread::JoinReq { timeout_ns: 0 },
        &[],
        &mut reply,
        &mut [],
    );
    expect_rc("Thread.Join on the kernel handle", r, Rc::WrongType)
}

fn console_write_empty() -> TestResult {
    check_ok!(console::write(&[]), "Console.Write of 0 bytes");
    Ok(())
}

/// A console line the test harness checks is whole: `whole-line <tag>
/// <n> ` then `n` times `tag` (xtask's `WholeLines`).
fn whole_line(tag: u8, n: usize) -> Vec<u8> {
    let mut line = alloc::format!("whole-line {} {n} ", tag as char).into_bytes();
    line.resize(line.len() + n, tag);
    line.push(b'\n');
    line
}

/// A thread below this one's priority that writes long `tag` lines (one
/// `Console.Write` each) until `done`; it ends with how many it wrote.
fn long_line_writer(tag: u8, done: &'static AtomicBool) -> Result<libkos::thread::JoinHandle, Rc> {
    libkos::thread::spawn(libkos::thread::normal(12), 0, move || {
        let line = whole_line(tag, libkos::console::CHUNK - 20);
        let mut lines = 0;
        while !done.load(SeqCst) {
            if console::write(&line).is_err() {
                return -1;
            }
            lines += 1;
        }
        lines
    })
}

/// A console write that stops for an interrupt keeps the console till it
/// ends: a lower-priority thread writes long lines while this one wakes
/// at ticks (interrupting those writes) and writes short ones. The harness
/// checks every such line reached the console whole; this checks that
/// writes did stop half-way.
fn console_lines_stay_whole() -> TestResult {
    static DONE: AtomicBool = AtomicBool::new(false);
    /// Both threads on the boot core for the test, so this one's wake-ups
    /// interrupt the writer's writes; every core again afterwards.
    struct OneCore;
    impl Drop for OneCore {
        fn drop(&mut self) {
            let _ = libkos::task::set_affinity(libkos::Handle::SELF_TASK, u64::MAX);
        }
    }
    check_ok!(
        libkos::task::set_affinity(libkos::Handle::SELF_TASK, 1),
        "keep to the boot core"
    );
    let _one_core = OneCore;
    DONE.store(false, SeqCst);
    check_ok!(libkos::sys::tick_lateness(), "start a period");
    let writer = check_ok!(long_line_writer(b'A', &DONE), "start the writer");
    let short = whole_line(b'B', 30);
    for _ in 0..5 {
        syscall::sleep_ns(utest::ms(10));
        check_ok!(console::write(&short), "a short line");
    }
    DONE.store(true, SeqCst);
    let lines = check_ok!(writer.join(20_000_000_000), "join the writer");
    check!(lines > 0, "the writer wrote {lines} lines");
    let resumed = check_ok!(libkos::sys::tick_lateness(), "lateness").resumed;
    check!(
        resumed > 0,
        "no console write stopped for an interrupt ({lines} long lines)"
    );
    libkos::println!("utest_syscall: {lines} long lines, {resumed} stopped");
    Ok(())
}

/// The same across cores: a writer of long lines on each other core, so
/// that writes stop and wait for each other from core to core (a waiter
/// woken as one write ends must not go ahead into another's that stopped
/// meanwhile), while this thread writes short lines at ticks.
fn console_lines_stay_whole_across_cores() -> TestResult {
    static DONE: AtomicBool = AtomicBool::new(false);
    DONE.store(false, SeqCst);
    check_ok!(libkos::sys::tick_lateness(), "start a period");
    let mut writers = Vec::new();
    let mut placed = 0;
    for (core, tag) in [(1, b'C'), (2, b'D'), (3, b'E')] {
        let w = check_ok!(
            long_line_writer(tag, &DONE),
            "start the writer for core {core}"
        );
        // A machine with fewer cores: it writes wherever it runs.
        match w.set_affinity(1 << core) {
            Ok(()) => placed += 1,
            Err(Rc::InvalidArgument) => {}
            Err(rc) => {
                DONE.store(true, SeqCst);
                return Err(alloc::format!("place the writer on core {core}: {rc}"));
            }
        }
        writers.push(w);
    }
    let short = whole_line(b'F', 30);
    for _ in 0..10 {
        syscall::sleep_ns(utest::ms(10));
        if console::write(&short).is_err() {
            DONE.store(true, SeqCst);
            return Err("a short line failed".into());
        }
    }
    DONE.store(true, SeqCst);
    let mut lines = Vec::new();
    for w in &writers {
        lines.push(check_ok!(w.join(20_000_000_000), "join a writer"));
    }
    check!(
        lines.iter().all(|&n| n > 0),
        "every writer wrote lines: {lines:?}"
    );
    let resumed = check_ok!(libkos::sys::tick_lateness(), "lateness").resumed;
    check!(
        resumed > 0,
        "no console write stopped for an interrupt ({lines:?} long lines)"
    );
    libkos::println!(
        "utest_syscall: {lines:?} long lines from {placed} other cores, {resumed} stopped"
    );
    Ok(())
}
