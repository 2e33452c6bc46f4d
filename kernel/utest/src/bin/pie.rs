//! A position-independent (static-pie, `ET_DYN`) test program: the kernel
//! loads it at a random offset chosen by its creator's ASLR generator and
//! applies its relocations. Its tests: absolute pointers in its data
//! (relocated) agree with PC-relative addresses, and its code lies at the
//! load offset `GetElfSyms` reports for it (non-zero). Run by einit as a
//! suite; started by another test with `role=child`, its exit code says
//! the same.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use libkos::Handle;
use libkos::test::TestResult;

libkos::main!(main);

static GREETING: &str = "relocated";
static TABLE: [&u32; 2] = [&ONE, &TWO];
static ONE: u32 = 1;
static TWO: u32 = 2;

fn main() -> i32 {
    if utest::role().is_some() {
        // Started by another test (`role=child`): the exit code is the
        // verdict, and the console stays that test's.
        let failed = data_pointers_relocated().is_err() || code_where_the_kernel_put_it().is_err();
        return i32::from(failed);
    }
    libkos::test::run(
        "utest_pie",
        libkos::tests![data_pointers_relocated, code_where_the_kernel_put_it],
    )
}

fn data_pointers_relocated() -> TestResult {
    // Absolute pointers stored in data must have been relocated. The
    // table is read through an opaque reference, so that the compiler
    // keeps it in memory, pointers and all (else it folds the reads into
    // PC-relative addresses and the program needs no relocation).
    let table: &[&u32; 2] = core::hint::black_box(&TABLE);
    let (one, two) = (table[0], table[1]);
    if !core::ptr::eq(one, &ONE) || !core::ptr::eq(two, &TWO) || *one + *two != 3 {
        return Err(format!("the pointer table reads {one:p} {two:p}"));
    }
    let len = core::hint::black_box(&GREETING).len();
    if len != 9 {
        return Err(format!("the greeting's length reads {len}"));
    }
    Ok(())
}

fn code_where_the_kernel_put_it() -> TestResult {
    // GetElfSyms on the own handle: the kernel's record of where it put
    // this program, which must be where it runs.
    let here = main as *const () as usize as u64;
    let s =
        libkos::task::get_elf_syms(Handle::SELF_TASK).map_err(|e| format!("GetElfSyms: {e}"))?;
    let _ = libkos::handle::close(s.mdl);
    if s.load_offset == 0 || !(s.load_offset..s.load_offset + (1 << 30)).contains(&here) {
        return Err(format!(
            "load offset {:#x}, code at {here:#x}",
            s.load_offset
        ));
    }
    Ok(())
}
