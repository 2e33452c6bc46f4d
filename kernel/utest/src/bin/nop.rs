//! The smallest program: exits 0 at once. `/tests/data/nop` (the Task
//! tests' quota loop) and `/bench/nop` (the `spawn_romfs` benchmark).

#![no_std]
#![no_main]

libkos::main!(main);

fn main() -> i32 {
    0
}
