//! On-target kernel tests (the `ktest` build). Each test prints
//! `test <suite>::<name> ... ` before it runs and `ok` or `FAILED <why>`
//! after; the run ends with the exit status (0 = all passed) through
//! semihosting, which `cargo xtask test` reads.
//!
//! With `ktest.fault`, `ktest.overflow` or `ktest.panic` on QEMU's command
//! line (`-append`) the kernel instead takes a deliberate unexpected
//! exception, overflows its stack or panics, so xtask can check that each is
//! reported and stops the system with a failure status; with
//! `ktest.poweroff` it powers off the way real hardware would (no semihosting).

mod console;
mod exception;
mod frames;
mod heap;
mod mem;
mod paging;
mod romfs;
mod security;
mod smp;
mod space;
mod timer;

use alloc::string::String;

use crate::power::{EXIT_SUCCESS, EXIT_TEST_FAILURE, shutdown};
use crate::{print, println};

/// A failed check: what was expected and what happened.
pub type TestResult = Result<(), String>;

/// Fail the current test with a formatted reason unless `cond` holds.
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(alloc::format!($($arg)*));
        }
    };
}
pub(crate) use check;

pub struct Test {
    pub suite: &'static str,
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// The test table: each entry is `module::function`; the module names the
/// suite and the function the test, so a name is written once.
macro_rules! tests {
    ($($suite:ident :: $name:ident),* $(,)?) => {
        &[$(Test { suite: stringify!($suite), name: stringify!($name), run: $suite::$name }),*]
    };
}

static TESTS: &[Test] = tests![
    console::loopback_roundtrip,
    console::output_counted,
    frames::alloc_all_free_all,
    frames::reserved_never_handed_out,
    frames::double_free_rejected,
    frames::contiguous_aligned,
    heap::box_vec_string,
    heap::alignment,
    heap::exhaustion_returns_null,
    paging::map_translate_unmap,
    paging::block_mappings,
    paging::kernel_wx,
    paging::write_to_text_faults,
    paging::stack_guards_unmapped,
    exception::brk_caught_and_reported,
    exception::data_abort_caught,
    mem::memcpy_every_length_and_alignment,
    mem::memset_every_length_and_alignment,
    romfs::embedded_image_valid,
    romfs::lookup_and_read,
    romfs::missing_paths_are_errors,
    romfs::corrupted_images_rejected,
    security::embedded_policy_reads,
    security::denials_are_audited,
    security::audit_ring_is_bounded,
    space::copy_roundtrip,
    space::bad_addresses_refused,
    space::refusals_change_nothing,
    space::stacks_heap_and_destroy,
    space::freed_addresses_are_reused,
    space::buried_space_torn_down_in_steps,
    timer::tick_arrives,
    timer::counter_monotonic,
    smp::every_core_online_with_its_interrupts,
];

pub fn run() -> ! {
    let mut buf = [0u8; 256];
    let cmdline = crate::arch::semihosting::cmdline(&mut buf).unwrap_or("");
    deliberate_failure(cmdline);
    println!("ktest: running {} tests", TESTS.len());
    let (mut passed, mut failed) = (0, 0);
    for test in TESTS {
        print!("test {}::{} ... ", test.suite, test.name);
        match (test.run)() {
            Ok(()) => {
                passed += 1;
                println!("ok");
            }
            Err(why) => {
                failed += 1;
                println!("FAILED {why}");
            }
        }
    }
    println!("ktest: done, passed={passed} failed={failed}");
    shutdown(if failed == 0 {
        EXIT_SUCCESS
    } else {
        EXIT_TEST_FAILURE
    })
}

/// Break the kernel on purpose if the command line asks for it (never returns then).
fn deliberate_failure(cmdline: &str) {
    for word in cmdline.split_whitespace() {
        match word {
            "ktest.fault" => {
                println!("ktest: taking a deliberate unexpected exception ({word})");
                exception::unexpected_fault();
            }
            "ktest.overflow" => {
                println!("ktest: overflowing the kernel stack on purpose ({word})");
                exception::overflow_stack();
            }
            "ktest.panic" => panic!("deliberate panic ({word})"),
            "ktest.poweroff" => {
                println!("ktest: powering off through the board ({word})");
                crate::power::power_off();
            }
            _ => {}
        }
    }
}
