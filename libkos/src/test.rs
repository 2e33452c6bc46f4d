//! A small harness for on-target test programs, speaking the console
//! protocol `cargo xtask test` parses (see `xtask/src/testrun.rs`):
//! `test <suite>::<name> ... ` before a test runs, then `ok` or
//! `FAILED <why>` and a newline.
//!
//! ```ignore
//! fn main() -> i32 {
//!     libkos::test::run("utest_x", libkos::tests![first, second])
//! }
//! fn first() -> TestResult {
//!     check!(1 + 1 == 2, "arithmetic is broken: {}", 1 + 1);
//!     Ok(())
//! }
//! ```

use alloc::string::String;

use kos_abi::Rc;

use crate::{print, println};

/// A failed check: what was expected and what happened.
pub type TestResult = Result<(), String>;

/// One test of a suite.
pub struct Test {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// Runs every test in order and prints one line each; returns the exit code
/// for the program: 0 if all passed, 1 otherwise.
pub fn run(suite: &str, tests: &[Test]) -> i32 {
    println!("{suite}: running {} tests", tests.len());
    let mut failed = 0;
    for test in tests {
        print!("test {suite}::{} ... ", test.name);
        match (test.run)() {
            Ok(()) => println!("ok"),
            Err(why) => {
                failed += 1;
                println!("FAILED {why}");
            }
        }
    }
    println!(
        "{suite}: done, passed={} failed={failed}",
        tests.len() - failed
    );
    i32::from(failed != 0)
}

/// `Ok` if `result` is exactly the error `want`; otherwise says what came.
pub fn expect_err<T: core::fmt::Debug>(what: &str, result: Result<T, Rc>, want: Rc) -> TestResult {
    match result {
        Err(rc) if rc == want => Ok(()),
        Err(rc) => Err(crate::__private::format!(
            "{what}: got {rc}, expected {want}"
        )),
        Ok(v) => Err(crate::__private::format!(
            "{what}: succeeded ({v:?}), expected {want}"
        )),
    }
}

/// Fails the current test with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return ::core::result::Result::Err($crate::__private::format!($($arg)*));
        }
    };
}

/// Fails the current test unless the two values are equal, showing both.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr, $($arg:tt)*) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return ::core::result::Result::Err($crate::__private::format!(
                        "{}: {:?} != {:?}",
                        $crate::__private::format!($($arg)*),
                        l,
                        r
                    ));
                }
            }
        }
    };
}

/// Unwraps a `Result<T, Rc>` or fails the current test, naming what failed.
#[macro_export]
macro_rules! check_ok {
    ($result:expr, $($arg:tt)*) => {
        match $result {
            ::core::result::Result::Ok(v) => v,
            ::core::result::Result::Err(e) => {
                return ::core::result::Result::Err($crate::__private::format!(
                    "{}: {}",
                    $crate::__private::format!($($arg)*),
                    e
                ));
            }
        }
    };
}

/// The test table from test functions in scope: `tests![a, b]` is
/// `&[Test { name: "a", run: a }, Test { name: "b", run: b }]`.
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$($crate::test::Test { name: ::core::stringify!($name), run: $name }),*]
    };
}
