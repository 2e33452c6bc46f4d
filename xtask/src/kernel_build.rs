//! Builds the kernel ELF with cargo and turns it into the raw image the boards load.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::{Board, cargo, image, run_checked, user_build, workspace_root};

/// The kernel's target: no FP/SIMD register is ever touched by kernel code
/// (as Linux's `-mgeneral-regs-only`), so a thread's FP/SIMD state stays in
/// the registers across its exceptions and is switched only with the thread.
pub const KERNEL_TARGET: &str = "aarch64-unknown-none-softfloat";
/// User programs' target (FP/SIMD in use).
pub const USER_TARGET: &str = "aarch64-unknown-none";
/// Every Rust target the build needs.
pub const TARGETS: [&str; 2] = [KERNEL_TARGET, USER_TARGET];

/// What the kernel runs after boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// Nothing: the system itself.
    None,
    /// The on-target test suites (`ktest` feature).
    Ktest,
    /// The benchmarks (`kbench` feature).
    Kbench,
    /// The system kernel with the user test programs in its ROMFS: einit
    /// runs them (`/etc/init.tests`) and the kernel stops with its status.
    Utest,
    /// The user test image running only `utest-fuzz`, with a campaign
    /// (`cargo xtask fuzz`).
    Fuzz(Campaign),
    /// The user test image running only `utest-stress` (`cargo xtask
    /// stress`).
    Stress,
}

/// A fuzzing campaign: calls in all, and the seed of the children's seeds
/// (`/etc/fuzz` in the image, which utest-fuzz reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Campaign {
    pub calls: u64,
    pub seed: u64,
}

impl Suite {
    fn feature(self) -> Option<&'static str> {
        match self {
            Suite::None => None,
            Suite::Ktest => Some("ktest"),
            Suite::Kbench => Some("kbench"),
            Suite::Utest | Suite::Fuzz(_) | Suite::Stress => None,
        }
    }

    /// Suffix of the image directory (`target/images/<board>-<tag>`).
    fn dir_tag(self) -> Option<&'static str> {
        match self {
            Suite::None => None,
            Suite::Ktest => Some("ktest"),
            Suite::Kbench => Some("kbench"),
            Suite::Utest => Some("utest"),
            Suite::Fuzz(_) => Some("fuzz"),
            Suite::Stress => Some("stress"),
        }
    }
}

/// Which kernel to build.
#[derive(Clone, Copy, Debug)]
pub struct KernelFlavor {
    pub board: Board,
    pub suite: Suite,
    /// Semihosting exit for QEMU (`qemu-exit` feature); off for real hardware.
    pub qemu_exit: bool,
}

impl KernelFlavor {
    /// The kernel crate's cargo features for this flavor.
    pub fn features(&self) -> String {
        let mut f = vec![format!("board-{}", self.board.name())];
        if self.qemu_exit {
            f.push("qemu-exit".into());
        }
        f.extend(self.suite.feature().map(String::from));
        f.join(",")
    }

    /// `target/images/<board>[-ktest|-kbench|-utest][-hw]/<file>`.
    pub fn image_path(&self) -> PathBuf {
        let mut dir = self.board.name().to_string();
        if let Some(suite) = self.suite.dir_tag() {
            dir.push('-');
            dir.push_str(suite);
        }
        if !self.qemu_exit {
            dir.push_str("-hw");
        }
        target_dir()
            .join("images")
            .join(dir)
            .join(image_file_name(self.board))
    }
}

/// The system's ROMFS manifest: what the kernel image carries.
pub fn romfs_manifest() -> PathBuf {
    workspace_root().join("kernel/romfs/manifest")
}

/// Volume name of the system ROMFS (fixed, so images are reproducible).
pub const ROMFS_VOLUME: &str = "kos-system";

/// Written beside the kernel image; the kernel embeds it (KERNEL_ROMFS).
pub const ROMFS_FILE: &str = "romfs.img";

/// Builds the user programs and the ROMFS image for `suite` into `out`:
/// the manifest's files and the system programs, plus the user test
/// programs for [`Suite::Utest`] and the user benchmarks for
/// [`Suite::Kbench`]. Returns `out`.
pub fn build_romfs(suite: Suite, board: Board, out: &std::path::Path) -> Result<PathBuf> {
    let progs = user_build::build()?;
    let manifest = romfs_manifest();
    let mut tree = user_build::system_tree(&manifest, &progs)?;
    match suite {
        Suite::Utest => user_build::add_utest(&mut tree, &progs)?,
        Suite::Kbench => user_build::add_ubench(&mut tree, &progs)?,
        Suite::Fuzz(c) => user_build::add_fuzz(&mut tree, &progs, c)?,
        Suite::Stress => user_build::add_stress(&mut tree, &progs)?,
        Suite::None | Suite::Ktest => {}
    }
    // /etc/init: the demonstration system's init description, checked
    // against this image's files and the demo policy.
    let without_init = tree
        .to_image(ROMFS_VOLUME)
        .context("cannot build the ROMFS image")?;
    let files = romfs_builder::Image::new(&without_init)
        .map_err(|e| anyhow::anyhow!("the ROMFS image just built does not parse: {e}"))?;
    let demo = crate::policies::compile("demo", board)?;
    let init = crate::init_desc::compile("demo", &demo, &|p| files.lookup(p).is_ok())?;
    tree.add_file("/etc/init", init, false)
        .context("ROMFS: adding /etc/init")?;
    // /etc/packages: what the ExecutionManager serves in this image.
    let system = crate::policies::system_of(suite);
    let policy = crate::policies::compile(system, board)?;
    let packages = crate::packages::compile(system, &policy, &|p| files.lookup(p).is_ok())?;
    tree.add_file("/etc/packages", packages, false)
        .context("ROMFS: adding /etc/packages")?;
    let image = tree
        .to_image(ROMFS_VOLUME)
        .with_context(|| format!("cannot build the ROMFS image from {}", manifest.display()))?;
    fs::write(out, &image).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("xtask: romfs {} ({} bytes)", out.display(), image.len());
    Ok(out.to_path_buf())
}

/// Written beside the kernel image; the kernel embeds it (KERNEL_POLICY).
pub const POLICY_FILE: &str = "policy.bin";

/// The file name each board's loader expects.
pub fn image_file_name(board: Board) -> &'static str {
    match board {
        Board::Virt => "kernel.bin",
        // The Pi 4 firmware loads kernel8.img for a 64-bit kernel.
        Board::Rpi4 => "kernel8.img",
    }
}

/// The workspace's target directory (xtask never follows CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    workspace_root().join("target")
}

/// Where cargo leaves the kernel ELF (also what gdb should load).
pub fn kernel_elf() -> PathBuf {
    target_dir()
        .join(KERNEL_TARGET)
        .join("release")
        .join("kernel")
}

/// Builds the kernel ELF for `flavor` and writes its flat image; returns the image path.
pub fn build_image(flavor: KernelFlavor) -> Result<PathBuf> {
    let out = flavor.image_path();
    let out_dir = out.parent().expect("image path has a directory");
    fs::create_dir_all(out_dir)?;
    let romfs = build_romfs(flavor.suite, flavor.board, &out_dir.join(ROMFS_FILE))?;
    let policy =
        crate::policies::build_table(flavor.suite, flavor.board, &out_dir.join(POLICY_FILE))?;

    let features = flavor.features();
    eprintln!("xtask: building kernel ({features})");
    run_checked(
        cargo()
            .env("KERNEL_ROMFS", &romfs)
            .env("KERNEL_POLICY", &policy)
            .args([
                "build",
                "-p",
                "kernel",
                "--release",
                "--target",
                KERNEL_TARGET,
                "--target-dir",
            ])
            .arg(target_dir())
            .args(["--features", &features]),
    )?;

    let elf_path = kernel_elf();
    let elf = fs::read(&elf_path).with_context(|| format!("cannot read {}", elf_path.display()))?;
    let flat = image::elf_to_flat(&elf)
        .with_context(|| format!("cannot make a flat image of {}", elf_path.display()))?;
    fs::write(&out, &flat.bytes).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "xtask: image {} ({} bytes, load address {:#x})",
        out.display(),
        flat.bytes.len(),
        flat.load_addr
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_and_paths() {
        let f = KernelFlavor {
            board: Board::Rpi4,
            suite: Suite::Ktest,
            qemu_exit: true,
        };
        assert_eq!(f.features(), "board-rpi4,qemu-exit,ktest");
        assert!(
            f.image_path()
                .ends_with("target/images/rpi4-ktest/kernel8.img")
        );
        let hw = KernelFlavor {
            board: Board::Rpi4,
            suite: Suite::None,
            qemu_exit: false,
        };
        assert_eq!(hw.features(), "board-rpi4");
        assert!(
            hw.image_path()
                .ends_with("target/images/rpi4-hw/kernel8.img")
        );
        let virt = KernelFlavor {
            board: Board::Virt,
            suite: Suite::None,
            qemu_exit: true,
        };
        assert!(virt.image_path().ends_with("target/images/virt/kernel.bin"));
        let utest = KernelFlavor {
            board: Board::Virt,
            suite: Suite::Utest,
            qemu_exit: true,
        };
        assert_eq!(utest.features(), "board-virt,qemu-exit");
        assert!(
            utest
                .image_path()
                .ends_with("target/images/virt-utest/kernel.bin")
        );
    }
}
