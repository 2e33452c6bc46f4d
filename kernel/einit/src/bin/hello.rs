//! A tiny demo program: says hello from EL0 and exits 0.

#![no_std]
#![no_main]

use libkos::println;

libkos::main!(main);

fn main() -> i32 {
    let env = libkos::rt::env_region();
    println!(
        "hello: hello from user space (EL0), {} byte(s) of environment, t={} ms",
        env.len(),
        libkos::time::now_ns() / 1_000_000
    );
    0
}
