//! Build-time inputs of the kernel image:
//!
//! - the linker script for the chosen board: the kernel is linked in the
//!   upper half at `KERNEL_VIRT_OFFSET + load address`, loaded at the board's
//!   physical load address (the firmware/QEMU jumps there with the MMU off);
//! - the ROMFS image the kernel embeds: the file named by `KERNEL_ROMFS`
//!   (xtask builds it and sets that), or else one built here from
//!   `romfs/manifest` with the same library;
//! - the security policy table the kernel embeds: the file named by
//!   `KERNEL_POLICY` (xtask compiles the system's policy and sets that), or
//!   else none, and the kernel then refuses every message (fail closed).

use std::{env, fs, path::PathBuf};

const KERNEL_VIRT_OFFSET: u64 = 0xFFFF_0000_0000_0000;
const DEFAULT_MANIFEST: &str = "romfs/manifest";
const ROMFS_VOLUME: &str = "kos-system";

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    linker_script(&out);
    romfs_image(&out);
    policy_table(&out);
    println!("cargo:rerun-if-changed=build.rs");
}

fn linker_script(out: &std::path::Path) {
    let virt = env::var_os("CARGO_FEATURE_BOARD_VIRT").is_some();
    let rpi4 = env::var_os("CARGO_FEATURE_BOARD_RPI4").is_some();
    let load = match (virt, rpi4) {
        (true, false) => 0x4008_0000u64,
        (false, true) => 0x8_0000u64,
        // Without exactly one board bsp-rpi4 refuses to compile; any value does here.
        _ => 0x4008_0000u64,
    };
    let template = fs::read_to_string("link.ld").expect("read kernel/link.ld");
    let script = template
        .replace("@LOAD_ADDR@", &format!("{load:#x}"))
        .replace("@VIRT_OFFSET@", &format!("{KERNEL_VIRT_OFFSET:#x}"));
    fs::write(out.join("link.ld"), script).unwrap();
    println!(
        "cargo:rustc-link-arg-bins=-T{}",
        out.join("link.ld").display()
    );
    println!("cargo:rerun-if-changed=link.ld");
}

fn romfs_image(out: &std::path::Path) {
    println!("cargo:rerun-if-env-changed=KERNEL_ROMFS");
    let image = match env::var_os("KERNEL_ROMFS") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            fs::read(&path).unwrap_or_else(|e| panic!("KERNEL_ROMFS={}: {e}", path.display()))
        }
        None => {
            // Track the manifest and everything under romfs/ it may name.
            println!("cargo:rerun-if-changed=romfs");
            romfs_builder::build_from_manifest(DEFAULT_MANIFEST.as_ref(), ROMFS_VOLUME)
                .unwrap_or_else(|e| panic!("building the ROMFS image: {e}"))
        }
    };
    fs::write(out.join("romfs.img"), image).unwrap();
}

fn policy_table(out: &std::path::Path) {
    println!("cargo:rerun-if-env-changed=KERNEL_POLICY");
    let table = match env::var_os("KERNEL_POLICY") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            fs::read(&path).unwrap_or_else(|e| panic!("KERNEL_POLICY={}: {e}", path.display()))
        }
        None => Vec::new(),
    };
    fs::write(out.join("policy.bin"), table).unwrap();
}
