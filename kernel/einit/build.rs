//! Links the programs with libkos's user layout (text RX, rodata R, data RW,
//! each page aligned, at 0x20_0000). Debug sections are left out (symbols
//! stay): every program is carried in the ROMFS inside the kernel image.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let ld = std::path::Path::new(&dir).join("../../libkos/user.ld");
    println!("cargo:rustc-link-arg-bins=-T{}", ld.display());
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    println!("cargo:rustc-link-arg-bins=--strip-debug");
    println!("cargo:rerun-if-changed={}", ld.display());
}
