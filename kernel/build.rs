//! Generates the linker script for the chosen board: the kernel is linked in the
//! upper half at `KERNEL_VIRT_OFFSET + load address`, loaded at the board's
//! physical load address (the firmware/QEMU jumps there with the MMU off).

use std::{env, fs, path::PathBuf};

const KERNEL_VIRT_OFFSET: u64 = 0xFFFF_0000_0000_0000;

fn main() {
    let virt = env::var_os("CARGO_FEATURE_BOARD_VIRT").is_some();
    let rpi4 = env::var_os("CARGO_FEATURE_BOARD_RPI4").is_some();
    let load = match (virt, rpi4) {
        (true, false) => 0x4008_0000u64,
        (false, true) => 0x8_0000u64,
        // Host `cargo check`/clippy without a board: any address links nothing.
        _ => 0x4008_0000u64,
    };
    let template = fs::read_to_string("link.ld").expect("read kernel/link.ld");
    let script = template
        .replace("@LOAD_ADDR@", &format!("{load:#x}"))
        .replace("@VIRT_OFFSET@", &format!("{KERNEL_VIRT_OFFSET:#x}"));
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("link.ld"), script).unwrap();
    println!(
        "cargo:rustc-link-arg-bins=-T{}",
        out.join("link.ld").display()
    );
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
