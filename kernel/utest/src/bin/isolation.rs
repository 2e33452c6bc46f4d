//! Address-space isolation: two processes of the same binary (so the same
//! addresses) do not see each other's memory.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use core::sync::atomic::{AtomicU64, Ordering};

use libkos::abi::task::FaultKind;
use libkos::test::TestResult;
use libkos::{check, check_eq, task};
use utest::{expect_exit, role, run_role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

const SECRET: u64 = 0x5EC2_E7DA_7A00_F00D;
const CHILD_PATTERN: u64 = 0xC41D_C41D_C41D_C41D;

/// The same address in parent and child: the parent writes the secret, the
/// child must see its own (zero) copy.
static SHARED_ADDRESS: AtomicU64 = AtomicU64::new(0);

/// Exit codes of the peeking children.
const SAW_OWN: i32 = 0;
const SAW_SECRET: i32 = 2;
const SAW_OTHER: i32 = 3;

fn main() -> i32 {
    match role() {
        Some("peek") => peek_static(),
        Some(r) if r.starts_with("peek-heap=") => peek_heap(&r["peek-heap=".len()..]),
        Some(r) => {
            libkos::println!("utest-isolation: unknown role {r}");
            64
        }
        None => libkos::test::run(
            "utest_isolation",
            libkos::tests![static_not_shared, heap_not_shared],
        ),
    }
}

/// Child: reads the static the parent filled, then writes its own pattern.
fn peek_static() -> i32 {
    let seen = SHARED_ADDRESS.load(Ordering::SeqCst);
    SHARED_ADDRESS.store(CHILD_PATTERN, Ordering::SeqCst);
    match seen {
        0 => SAW_OWN,
        SECRET => SAW_SECRET,
        _ => SAW_OTHER,
    }
}

/// Child: reads the address where the parent's heap holds the secret,
/// after filling its own heap the same way (so the address is likely mapped
/// here too). Faulting is fine too (the parent accepts that).
fn peek_heap(addr: &str) -> i32 {
    let Ok(addr) = u64::from_str_radix(addr, 16) else {
        return 64;
    };
    let mine = Box::new(AtomicU64::new(0));
    let p = addr as *const AtomicU64;
    let seen = if core::ptr::eq(p, &*mine) {
        mine.load(Ordering::SeqCst)
    } else {
        // The address is not our box: read it raw (it may be unmapped,
        // then the kernel ends us with a fault, which the parent accepts).
        // SAFETY: a deliberate read of an address this process may not
        // own; the atomic load cannot tear and any fault ends the process.
        unsafe { (*p).load(Ordering::SeqCst) }
    };
    match seen {
        0 => SAW_OWN,
        SECRET => SAW_SECRET,
        _ => SAW_OTHER,
    }
}

fn static_not_shared() -> TestResult {
    SHARED_ADDRESS.store(SECRET, Ordering::SeqCst);
    let info = run_role(SELF, "iso-peek", "peek")?;
    expect_exit(&info, i64::from(SAW_OWN)).map_err(|e| {
        if task::exited_with(&info, i64::from(SAW_SECRET)) {
            "the child read the parent's secret".into()
        } else {
            e
        }
    })?;
    check_eq!(
        SHARED_ADDRESS.load(Ordering::SeqCst),
        SECRET,
        "the parent's static after the child wrote its own"
    );
    Ok(())
}

fn heap_not_shared() -> TestResult {
    let secret = Box::new(AtomicU64::new(SECRET));
    let addr = &*secret as *const AtomicU64 as u64;
    let info = run_role(SELF, "iso-peek-heap", &format!("peek-heap={addr:x}"))?;
    let ok = task::exited_with(&info, i64::from(SAW_OWN))
        || (task::status(&info) == Some(libkos::abi::task::ExitStatus::Exception)
            && matches!(task::fault(&info), FaultKind::Unmapped));
    check!(
        ok,
        "child reading {addr:#x}: {} (the secret is {})",
        task::Describe(&info),
        if task::exited_with(&info, i64::from(SAW_SECRET)) {
            "leaked"
        } else {
            "not seen"
        }
    );
    check_eq!(
        secret.load(Ordering::SeqCst),
        SECRET,
        "the parent's heap value"
    );
    Ok(())
}
