// Shared by the build scripts of the packages holding user programs
// (`include!`d, so written once): links each of the package's bins with
// libkos's user layout (text RX, rodata R, data RW, each page aligned, at
// 0x20_0000), or, for the bins named in `pie_bins`, position independent
// (static-pie, `ET_DYN` at 0, `libkos/user-pie.ld`: the loader places it
// at a random offset and applies its R_AARCH64_RELATIVE relocations).
// Debug sections are left out (symbols stay): every program is carried in
// a ROMFS inside the kernel image.

/// Emits the link arguments of every `[[bin]]` of the package being built
/// (`libkos`: the libkos folder, relative to the package's).
fn link_user_bins(libkos: &str, pie_bins: &[&str]) {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let root = std::path::Path::new(&dir);
    let libkos = root.join(libkos);
    let ld = libkos.join("user.ld");
    let pie_ld = libkos.join("user-pie.ld");
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
        if pie_bins.contains(&bin.as_str()) {
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
