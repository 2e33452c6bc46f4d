//! User-space benchmarks, run by einit in the benchmark image (`cargo xtask
//! bench`): instructions per operation from the PMU's INST_RETIRED counter
//! (the `kbench` kernel lets EL0 read it), exact under `qemu -icount
//! shift=0`. One line each: `bench <name>: <N> instructions`.
//!
//! - `null_syscall`: `svc` with the NOP number and back, loop subtracted.
//! - `thread_switch`: a thread yields and the kernel switches to another
//!   thread of the same priority: one YIELD syscall plus one context switch
//!   (two FIFO threads ping-pong; per yield).

#![no_std]
#![no_main]

use core::arch::asm;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use libkos::println;
use libkos::syscall;
use libkos::thread::{self, fifo};

libkos::main!(main);

const ITERATIONS: u64 = 1000;
const JOIN_TIMEOUT: u64 = 20_000_000_000;

/// Instructions retired so far (PMU event counter 0, INST_RETIRED).
#[inline(always)]
fn instructions() -> u64 {
    let n;
    // SAFETY: reads a PMU counter; the benchmark kernel allows EL0 to
    // (PMUSERENR_EL0), and nothing else happens.
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) n, options(nostack)) };
    n
}

#[inline(never)]
fn nop_op() {
    let _ = syscall::nop();
}

#[inline(never)]
fn empty_op() {}

fn loop_of(op: fn()) -> u64 {
    let op = black_box(op);
    let start = instructions();
    for _ in 0..ITERATIONS {
        op();
    }
    instructions() - start
}

static PING_PONG: AtomicU64 = AtomicU64::new(0);

fn main() -> i32 {
    let null = loop_of(nop_op).saturating_sub(loop_of(empty_op)) / ITERATIONS;
    println!("bench null_syscall: {null} instructions");

    // A FIFO 20 coordinator makes the two FIFO 10 threads; when it blocks in
    // join they have the CPU to themselves and take turns at every yield.
    let coord = thread::spawn(fifo(20), 0, || {
        let a = thread::spawn(fifo(10), 0, || {
            let start = instructions();
            for _ in 0..ITERATIONS {
                syscall::yield_now();
            }
            PING_PONG.store(instructions() - start, SeqCst);
            0
        });
        let b = thread::spawn(fifo(10), 0, || {
            for _ in 0..ITERATIONS {
                syscall::yield_now();
            }
            0
        });
        let (Ok(a), Ok(b)) = (a, b) else {
            return 1;
        };
        let ok = a.join(JOIN_TIMEOUT).is_ok() && b.join(JOIN_TIMEOUT).is_ok();
        if ok { 0 } else { 2 }
    });
    let Ok(coord) = coord else {
        println!("ubench: cannot start the thread_switch threads");
        return 1;
    };
    if coord.join(JOIN_TIMEOUT) != Ok(0) {
        println!("ubench: thread_switch threads failed");
        return 1;
    }
    // Each of a's iterations is two yields (a's and b's), each a switch.
    let per_switch = PING_PONG.load(SeqCst) / (2 * ITERATIONS);
    println!("bench thread_switch: {per_switch} instructions");
    0
}
