//! Links the programs with libkos's user layout (text RX, rodata R, data RW,
//! each page aligned, at 0x20_0000). Debug sections are left out (symbols
//! stay): every program is carried in the ROMFS inside the kernel image.
//!
//! `utest-pie` is linked position independent instead (static-pie,
//! `ET_DYN` at 0, `libkos/user-pie.ld`): the kernel places it at a random
//! offset and applies its R_AARCH64_RELATIVE relocations.

/// The bins linked as static-pie.
const PIE_BINS: &[&str] = &["utest-pie"];

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let root = std::path::Path::new(&dir);
    let ld = root.join("../../libkos/user.ld");
    let pie_ld = root.join("../../libkos/user-pie.ld");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    // Every [[bin]]'s name (the line after the section header).
    let mut bins = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(v) = line.strip_prefix("name = ") {
            bins.push(v.trim_matches('"').to_string());
        }
    }
    for bin in &bins {
        let arg = |a: &str| println!("cargo:rustc-link-arg-bin={bin}={a}");
        if PIE_BINS.contains(&bin.as_str()) {
            arg(&format!("-T{}", pie_ld.display()));
            arg("-pie");
            arg("--no-dynamic-linker");
            arg("-znotext");
        } else {
            arg(&format!("-T{}", ld.display()));
        }
        arg("-zmax-page-size=4096");
        arg("--strip-debug");
    }
    println!("cargo:rerun-if-changed={}", ld.display());
    println!("cargo:rerun-if-changed={}", pie_ld.display());
    println!("cargo:rerun-if-changed=Cargo.toml");
}
