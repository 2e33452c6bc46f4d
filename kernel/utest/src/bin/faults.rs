#![no_std]
#![no_main]
libkos::main!(main);
fn main() -> i32 {
    0
}
