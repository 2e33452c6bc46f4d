//! Start-up and the end of a process.
//!
//! The kernel enters `_start` (the ELF entry) at EL0 with SP at the top of
//! the initial thread's stack (16-byte aligned), `x0` = address of the
//! environment data (0 if none), `x1` = its length, `x2` = the stack size.
//! `_start` clears the frame pointer and link register (so backtraces end
//! here) and calls [`start`], which records the environment region, calls the
//! program's `main` (named by [`main!`](crate::main)) and exits with its
//! return value.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kos_abi::startup::StartData;
use kos_abi::task::MAX_ENV;

use crate::{PANIC_EXIT_CODE, println, task};

core::arch::global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    ".type _start, %function",
    ".balign 4",
    "_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "bl {start}",
    // `start` never returns.
    "udf #0",
    ".size _start, . - _start",
    start = sym start,
);

unsafe extern "Rust" {
    /// Defined by [`main!`](crate::main) in the program: sets the program's
    /// name and runs its `main`. Safe: an ordinary Rust function without
    /// preconditions.
    safe fn __libkos_main() -> i32;
}

static ENV_ADDR: AtomicUsize = AtomicUsize::new(0);
static ENV_LEN: AtomicUsize = AtomicUsize::new(0);
static STACK_SIZE: AtomicUsize = AtomicUsize::new(0);
static NAME_PTR: AtomicUsize = AtomicUsize::new(0);
static NAME_LEN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn start(env_addr: usize, env_len: usize, stack_size: usize) -> ! {
    // The kernel bounds the environment by MAX_ENV; an inconsistent pair is
    // ignored rather than trusted.
    if env_addr != 0 && env_len <= MAX_ENV && env_addr.checked_add(env_len).is_some() {
        ENV_ADDR.store(env_addr, Ordering::Relaxed);
        ENV_LEN.store(env_len, Ordering::Relaxed);
    }
    STACK_SIZE.store(stack_size, Ordering::Relaxed);
    let code = __libkos_main();
    task::exit(i64::from(code))
}

/// The environment region as the creator gave it with `SetEnv` (empty if
/// none): start data ([`start_data`]) when the parent used the task API, a
/// raw blob when it called `SetEnv` itself.
pub fn env_region() -> &'static [u8] {
    let addr = ENV_ADDR.load(Ordering::Relaxed);
    let len = ENV_LEN.load(Ordering::Relaxed);
    if addr == 0 || len == 0 {
        return &[];
    }
    // SAFETY: the kernel maps the environment (`x0`, `x1` at start,
    // checked in `start`) read-only for the life of the process and nothing
    // ever writes it, so a shared 'static slice is sound.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
}

/// The start data the parent wrote ([`kos_abi::startup`]), if the
/// environment region holds valid start data.
pub fn start_data() -> Option<StartData<'static>> {
    StartData::parse(env_region())
}

/// The initial thread's stack size, as the kernel gave it.
pub fn initial_stack_size() -> usize {
    STACK_SIZE.load(Ordering::Relaxed)
}

/// Records the program's name (for panic messages). Called by
/// [`main!`](crate::main).
pub fn set_program_name(name: &'static str) {
    NAME_LEN.store(name.len(), Ordering::Relaxed);
    NAME_PTR.store(name.as_ptr() as usize, Ordering::Release);
}

/// The program's name, or `"process"` before it is known.
pub fn program_name() -> &'static str {
    let ptr = NAME_PTR.load(Ordering::Acquire);
    if ptr == 0 {
        return "process";
    }
    let len = NAME_LEN.load(Ordering::Relaxed);
    // SAFETY: ptr/len were stored together from a `&'static str` by
    // `set_program_name` (pointer last, with Release; read with Acquire).
    let bytes = unsafe { core::slice::from_raw_parts(ptr as *const u8, len) };
    core::str::from_utf8(bytes).unwrap_or("process")
}

/// Names the program's entry point: `libkos::main!(main);` with
/// `fn main() -> i32`. The process exits with the returned code.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __libkos_main() -> i32 {
            $crate::rt::set_program_name(::core::env!("CARGO_BIN_NAME"));
            let main: fn() -> i32 = $main;
            main()
        }
    };
}

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        // A panic while reporting one (or in a second thread): just go.
        task::exit(PANIC_EXIT_CODE);
    }
    match info.location() {
        Some(loc) => println!(
            "panic in {}: {} at {}:{}",
            program_name(),
            info.message(),
            loc.file(),
            loc.line()
        ),
        None => println!("panic in {}: {}", program_name(), info.message()),
    }
    task::exit(PANIC_EXIT_CODE)
}
