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
mod paging;
mod romfs;
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

const fn t(suite: &'static str, name: &'static str, run: fn() -> TestResult) -> Test {
    Test { suite, name, run }
}

static TESTS: &[Test] = &[
    t("console", "loopback_roundtrip", console::loopback_roundtrip),
    t("console", "output_counted", console::output_counted),
    t("frame", "alloc_all_free_all", frames::alloc_all_free_all),
    t(
        "frame",
        "reserved_never_handed_out",
        frames::reserved_never_handed_out,
    ),
    t(
        "frame",
        "double_free_rejected",
        frames::double_free_rejected,
    ),
    t("frame", "contiguous_aligned", frames::contiguous_aligned),
    t("heap", "box_vec_string", heap::box_vec_string),
    t("heap", "alignment", heap::alignment),
    t(
        "heap",
        "exhaustion_returns_null",
        heap::exhaustion_returns_null,
    ),
    t("paging", "map_translate_unmap", paging::map_translate_unmap),
    t("paging", "block_mappings", paging::block_mappings),
    t("paging", "kernel_wx", paging::kernel_wx),
    t(
        "paging",
        "write_to_text_faults",
        paging::write_to_text_faults,
    ),
    t(
        "paging",
        "stack_guards_unmapped",
        paging::stack_guards_unmapped,
    ),
    t(
        "exception",
        "brk_caught_and_reported",
        exception::brk_caught_and_reported,
    ),
    t(
        "exception",
        "data_abort_caught",
        exception::data_abort_caught,
    ),
    t("romfs", "embedded_image_valid", romfs::embedded_image_valid),
    t("romfs", "lookup_and_read", romfs::lookup_and_read),
    t(
        "romfs",
        "missing_paths_are_errors",
        romfs::missing_paths_are_errors,
    ),
    t(
        "romfs",
        "corrupted_images_rejected",
        romfs::corrupted_images_rejected,
    ),
    t("timer", "tick_arrives", timer::tick_arrives),
    t("timer", "counter_monotonic", timer::counter_monotonic),
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
