//! A tiny demo program: says hello from EL0 (and its class, from the start
//! data einit gave it) and exits 0.

#![no_std]
#![no_main]

use libkos::println;

libkos::main!(main);

fn main() -> i32 {
    let class = libkos::rt::start_data().map_or("?", |d| d.class);
    println!(
        "hello: hello from user space (EL0), class {class}, t={} ms",
        libkos::time::now_ns() / 1_000_000
    );
    0
}
