//! Invariant 1 under random input: children issue thousands of random
//! syscalls — random numbers, registers, pointers (valid, read-only,
//! unmapped, kernel), handles, and well-formed messages to random kernel
//! endpoints and methods with random arguments — and the kernel must
//! survive all of it. Each child may end any way (normally, terminated by
//! its own random Exit/Terminate, or by a fault of its own); the parent
//! then checks that every child ended, that nothing leaked, and that the
//! system still runs programs.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;

use libkos::abi::msg::{HEADER_SIZE, Header};
use libkos::abi::syscall as nr;
use libkos::abi::task::ExitStatus;
use libkos::abi::{Handle, Rc};
use libkos::syscall;
use libkos::test::TestResult;
use libkos::zerocopy::IntoBytes;
use libkos::{check, check_eq, check_ok, task};
use utest::{expect_exit, role, run_role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));
/// Syscalls per child.
const ROUNDS: u32 = 3000;
/// Children (each with its own seed).
const CHILDREN: u32 = 6;

fn main() -> i32 {
    match role() {
        Some("ok") => return 0,
        Some(r) if r.starts_with("seed=") => return child(r[5..].parse().unwrap_or(1)),
        _ => {}
    }
    libkos::test::run("utest_fuzz", libkos::tests![random_syscalls_survived])
}

/// xorshift64*: deterministic, so a failure can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Scratch memory the kernel may write into: nothing else refers to it.
static mut SCRATCH: [u8; 16384] = [0; 16384];
/// Read-only bytes (the kernel must refuse to write there).
static RODATA: [u8; 64] = [0x5A; 64];

/// A pointer of one of the interesting kinds, with a length.
fn pointer(r: &mut Rng) -> (u64, u64) {
    let scratch = (&raw mut SCRATCH) as u64;
    let len = match r.below(4) {
        0 => r.below(32),
        1 => r.below(512),
        2 => r.below(20000),
        _ => r.next(),
    };
    let addr = match r.below(8) {
        0..=2 => scratch + r.below(16384),
        3 => RODATA.as_ptr() as u64,
        4 => 0,
        5 => 0xFFFF_0000_4000_0000 + r.below(1 << 20),
        6 => r.next(),
        _ => 0x7F_0000_0000 - r.below(1 << 16),
    };
    (addr, len)
}

fn handle(r: &mut Rng) -> u64 {
    match r.below(5) {
        0 => Handle::SELF_TASK.0 as u64,
        1 => Handle::KERNEL.0 as u64,
        2 => Handle::new(r.below(8) as u16, 1 + r.below(3) as u16).0 as u64,
        3 => r.next() & 0xFFFF_FFFF,
        _ => r.next(),
    }
}

/// Bounded timeouts only: the child must not block for good.
fn timeout(r: &mut Rng) -> u64 {
    r.below(1_000_000)
}

fn child(seed: u64) -> i32 {
    let mut r = Rng(seed | 1);
    for _ in 0..ROUNDS {
        let mut a = [0u64; 6];
        let number = match r.below(12) {
            0 => nr::NOP,
            1 => nr::YIELD,
            2 => nr::SLEEP,
            3..=8 => nr::CALL,
            9 => nr::RECV,
            10 => nr::REPLY,
            _ => r.next(),
        };
        match number {
            nr::SLEEP => a[0] = r.below(100_000),
            nr::CALL => {
                a[0] = handle(&mut r);
                let scratch = (&raw mut SCRATCH) as u64;
                if r.below(2) == 0 {
                    // A well-formed header to a random endpoint and method,
                    // random fixed part and arena.
                    let fixed = (r.below(33) * 8) as u16;
                    let arena = r.below(600) as u32;
                    // Not the console: random bytes there would garble the
                    // test protocol the host reads.
                    let endpoint = match r.below(12) as u16 {
                        4 => 99,
                        e => e,
                    };
                    let h = Header {
                        endpoint,
                        method: r.below(30) as u16,
                        fixed_len: fixed,
                        handles: 0,
                        arena_len: arena,
                        status: 0,
                    };
                    let total = HEADER_SIZE + fixed as usize + arena as usize;
                    // SAFETY: SCRATCH is this child's own buffer, used by
                    // nothing else; the bytes written stay inside it.
                    unsafe {
                        let buf =
                            core::slice::from_raw_parts_mut((&raw mut SCRATCH).cast::<u8>(), 16384);
                        buf[..HEADER_SIZE].copy_from_slice(h.as_bytes());
                        for b in &mut buf[HEADER_SIZE..total] {
                            *b = r.next() as u8;
                        }
                        // Waits with a random timeout could block for good
                        // (Notice.WAIT, Task.WAIT, Thread.JOIN): make it small.
                        let waits = matches!((h.endpoint, h.method), (9, 2) | (1, 26) | (2, 1));
                        if waits && fixed >= 8 {
                            buf[HEADER_SIZE..HEADER_SIZE + 8]
                                .copy_from_slice(&timeout(&mut r).to_le_bytes());
                        }
                    }
                    a[1] = scratch;
                    a[2] = total as u64;
                    a[3] = scratch + 8192;
                    a[4] = r.below(4096);
                } else {
                    let (p, l) = pointer(&mut r);
                    let (q, m) = pointer(&mut r);
                    (a[1], a[2], a[3], a[4]) = (p, l, q, m);
                }
                a[5] = timeout(&mut r);
            }
            nr::RECV => {
                a[0] = handle(&mut r);
                let (p, l) = pointer(&mut r);
                (a[1], a[2], a[3]) = (p, l, timeout(&mut r));
            }
            nr::REPLY => {
                let (p, l) = pointer(&mut r);
                (a[0], a[1], a[2]) = (r.next(), p, l);
            }
            _ => {
                for x in &mut a {
                    *x = r.next();
                }
            }
        }
        // SAFETY: every pointer passed is either into SCRATCH (which only
        // the kernel writes meanwhile), read-only, or not user memory at
        // all; the kernel must check each and touch nothing else.
        let _ = unsafe { syscall::raw(number, a) };
    }
    0
}

/// Random syscalls from several children: each ends, nothing leaks, the
/// system still runs programs.
fn random_syscalls_survived() -> TestResult {
    let before = check_ok!(libkos::sys::mem_stats(), "mem_stats before");
    for i in 0..CHILDREN {
        let seed = 0x9E37_79B9 * (i as u64 + 1);
        let info = run_role(SELF, &format!("fuzz-{i}"), &format!("seed={seed}"))?;
        let status = task::status(&info);
        check!(
            matches!(
                status,
                Some(ExitStatus::Normal | ExitStatus::Terminated | ExitStatus::Exception)
            ),
            "child with seed {seed} ended as {:?}",
            status
        );
    }
    let after = check_ok!(libkos::sys::mem_stats(), "mem_stats after");
    check_eq!(after.processes, before.processes, "live processes");
    check_eq!(after.threads, before.threads, "live threads");
    let info = run_role(SELF, "fuzz-after", "ok")?;
    expect_exit(&info, 0)?;
    check_eq!(syscall::nop(), Rc::Ok, "nop");
    Ok(())
}
