//! Set-up: makes sure the tools the build and the tests need are installed.
//!
//! - the Rust targets of the kernel and of user space (`rustup target add`);
//! - QEMU with the `raspi4b` machine (QEMU >= 9: on Debian bookworm it comes from
//!   bookworm-backports, package `qemu-system-arm`);
//! - `genromfs` (romfs-builder's tests compare against it);
//! - mtools (the SD card image's test reads the image back with it).
//!
//! Installing with apt is only attempted as root on Debian; anywhere else a
//! missing tool is an error that says what to install.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::kernel_build::TARGETS;
use crate::{describe, run_checked};

pub const QEMU: &str = "qemu-system-aarch64";
const BACKPORTS_FILE: &str = "/etc/apt/sources.list.d/bookworm-backports.sources";
const DEBIAN_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
const DEFAULT_URI: &str = "http://deb.debian.org/debian";
const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Whether a missing QEMU/genromfs stops the command (`qemu`, `test`) or only
/// warns (`build`, which can make an SD card image without them).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

/// Installs the Rust targets (kernel, user space) that are missing.
pub fn ensure_target() -> Result<()> {
    TARGETS.iter().try_for_each(|t| ensure_one_target(t))
}

fn ensure_one_target(target: &str) -> Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::inherit())
        .output();
    match listed {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            if text.lines().any(|l| l.trim() == target) {
                return Ok(());
            }
            eprintln!("setup: installing the Rust target {target}");
            run_checked(Command::new("rustup").args(["target", "add", target]))
        }
        _ => {
            // No rustup: accept a toolchain that already ships the target.
            let sysroot = Command::new("rustc")
                .args(["--print", "sysroot"])
                .output()
                .context("neither rustup nor rustc can be run")?;
            let root = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
            if Path::new(&root).join("lib/rustlib").join(target).is_dir() {
                Ok(())
            } else {
                bail!(
                    "the Rust target {target} is not installed and rustup is not available: \
                     install it with `rustup target add {target}`"
                )
            }
        }
    }
}

/// Makes sure QEMU (with `raspi4b`) and genromfs are there, installing them with
/// apt when running as root on Debian.
pub fn ensure_tools(need: Need) -> Result<()> {
    let mut missing = Vec::new();
    if !qemu_has_raspi4b() {
        missing.push(Tool::Qemu);
    }
    if find_in_path("genromfs").is_none() {
        missing.push(Tool::Genromfs);
    }
    if find_in_path("mcopy").is_none() {
        missing.push(Tool::Mtools);
    }
    if missing.is_empty() {
        return Ok(());
    }
    let result = if can_use_apt() {
        install_with_apt(&missing)
    } else {
        Err(anyhow::anyhow!(
            "not root on Debian, so not installing with apt"
        ))
    };
    let result = result.and_then(|()| {
        // Check again: the install may have given an older QEMU.
        let still: Vec<_> = missing
            .iter()
            .copied()
            .filter(|t| match t {
                Tool::Qemu => !qemu_has_raspi4b(),
                Tool::Genromfs => find_in_path("genromfs").is_none(),
                Tool::Mtools => find_in_path("mcopy").is_none(),
            })
            .collect();
        if still.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!("still missing after apt-get install"))
        }
    });
    match (result, need) {
        (Ok(()), _) => Ok(()),
        (Err(e), Need::Required) => bail!("{e:#}\n{}", what_to_install(&missing)),
        (Err(e), Need::Optional) => {
            eprintln!("warning: {e:#}\n{}", what_to_install(&missing));
            Ok(())
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Qemu,
    Genromfs,
    Mtools,
}

fn what_to_install(missing: &[Tool]) -> String {
    let mut s = String::from("missing tools; install:");
    for t in missing {
        match t {
            Tool::Qemu => s.push_str(
                "\n  - QEMU >= 9 with the raspi4b machine (`qemu-system-aarch64 -M help` must list \
                 raspi4b). Debian bookworm: enable bookworm-backports and \
                 `apt-get install -t bookworm-backports --no-install-recommends qemu-system-arm`; \
                 Debian trixie / Ubuntu 24.10+: `apt-get install qemu-system-arm`; \
                 Fedora: `dnf install qemu-system-aarch64`; macOS: `brew install qemu`",
            ),
            Tool::Genromfs => s.push_str(
                "\n  - genromfs (Debian/Ubuntu: `apt-get install genromfs`; Fedora: `dnf install genromfs`)",
            ),
            Tool::Mtools => s.push_str(
                "\n  - mtools (Debian/Ubuntu: `apt-get install mtools`; Fedora: `dnf install mtools`; macOS: `brew install mtools`)",
            ),
        }
    }
    s
}

/// True if `qemu-system-aarch64 -M help` lists the raspi4b machine.
pub fn qemu_has_raspi4b() -> bool {
    let Ok(out) = Command::new(QEMU)
        .args(["-M", "help"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    lists_machine(&String::from_utf8_lossy(&out.stdout), "raspi4b")
}

fn lists_machine(help: &str, machine: &str) -> bool {
    help.lines()
        .any(|l| l.split_whitespace().next() == Some(machine))
}

/// Looks a program up in PATH, like `which`.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn can_use_apt() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    root && Path::new("/etc/debian_version").exists() && find_in_path("apt-get").is_some()
}

/// The distribution's code name (`bookworm`, `trixie`, ...), if known.
fn debian_codename() -> Option<String> {
    if let Ok(text) = fs::read_to_string("/etc/os-release") {
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("VERSION_CODENAME=") {
                let v = v.trim().trim_matches('"');
                if !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    let version = fs::read_to_string("/etc/debian_version").ok()?;
    version
        .trim()
        .starts_with("12")
        .then(|| "bookworm".to_string())
}

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

fn apt_get(args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("apt-get");
    cmd.args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    eprintln!("setup: {}", describe(&cmd));
    run_checked(&mut cmd)
}

fn apt_update() -> Result<()> {
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        apt_get(&["update"])?;
    }
    Ok(())
}

fn install_with_apt(missing: &[Tool]) -> Result<()> {
    if missing.contains(&Tool::Qemu) {
        if debian_codename().as_deref() == Some("bookworm") {
            ensure_backports_source()?;
            apt_update()?;
            apt_get(&[
                "install",
                "-y",
                "--no-install-recommends",
                "-t",
                "bookworm-backports",
                "qemu-system-arm",
            ])?;
        } else {
            apt_update()?;
            apt_get(&[
                "install",
                "-y",
                "--no-install-recommends",
                "qemu-system-arm",
            ])?;
        }
    }
    if missing.contains(&Tool::Genromfs) {
        apt_update()?;
        apt_get(&["install", "-y", "--no-install-recommends", "genromfs"])?;
    }
    if missing.contains(&Tool::Mtools) {
        apt_update()?;
        apt_get(&["install", "-y", "--no-install-recommends", "mtools"])?;
    }
    Ok(())
}

/// Adds the bookworm-backports apt source unless some source already has it.
fn ensure_backports_source() -> Result<()> {
    if let Some(other) = other_source_with("bookworm-backports") {
        eprintln!(
            "setup: bookworm-backports already configured in {}",
            other.display()
        );
        return Ok(());
    }
    let debian = fs::read_to_string(DEBIAN_SOURCES).unwrap_or_default();
    let content = backports_stanza(&debian);
    if fs::read_to_string(BACKPORTS_FILE).ok().as_deref() == Some(content.as_str()) {
        return Ok(());
    }
    eprintln!("setup: writing {BACKPORTS_FILE}");
    fs::write(BACKPORTS_FILE, &content)
        .with_context(|| format!("cannot write {BACKPORTS_FILE}"))?;
    // The package lists must be read again with the new source.
    APT_UPDATED.store(false, Ordering::SeqCst);
    Ok(())
}

/// An apt source file other than ours that mentions `suite`.
fn other_source_with(suite: &str) -> Option<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            let p = e.path();
            let ext = p.extension().and_then(|x| x.to_str());
            if matches!(ext, Some("list" | "sources")) && p != Path::new(BACKPORTS_FILE) {
                files.push(p);
            }
        }
    }
    files.into_iter().find(|f| {
        fs::read_to_string(f).is_ok_and(|t| {
            t.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .any(|l| l.split_whitespace().any(|w| w == suite))
        })
    })
}

/// The deb822 stanza for bookworm-backports, taking URIs and Signed-By from the
/// `bookworm` entry of debian.sources when there is one.
fn backports_stanza(debian_sources: &str) -> String {
    let mut uri = DEFAULT_URI.to_string();
    let mut keyring = DEFAULT_KEYRING.to_string();
    for stanza in debian_sources.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name && !l.starts_with(char::is_whitespace))
                    .then(|| v.trim().to_string())
            })
        };
        let is_bookworm =
            field("Suites").is_some_and(|s| s.split_whitespace().any(|w| w == "bookworm"));
        if is_bookworm {
            if let Some(u) =
                field("URIs").and_then(|u| u.split_whitespace().next().map(String::from))
            {
                uri = u;
            }
            // Only a key file path can be copied; an inline key spans lines.
            if let Some(k) = field("Signed-By").filter(|k| k.starts_with('/')) {
                keyring = k;
            }
            break;
        }
    }
    format!(
        "Types: deb\nURIs: {uri}\nSuites: bookworm-backports\nComponents: main\nSigned-By: {keyring}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_copies_bookworm_entry() {
        let sources = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
                       URIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\
                       Components: main\nSigned-By: /usr/share/keyrings/k.gpg\n\n\
                       Types: deb\nURIs: http://deb.debian.org/debian-security\n\
                       Suites: bookworm-security\nComponents: main\n";
        assert_eq!(
            backports_stanza(sources),
            "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/k.gpg\n"
        );
    }

    #[test]
    fn stanza_defaults_without_sources() {
        assert_eq!(
            backports_stanza(""),
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        );
    }

    #[test]
    fn machine_list() {
        let help = "Supported machines are:\nraspi3b              Raspberry Pi 3B\n\
                    raspi4b              Raspberry Pi 4B (revision 1.5)\nvirt   QEMU\n";
        assert!(lists_machine(help, "raspi4b"));
        assert!(!lists_machine("raspi4bx  foo\n", "raspi4b"));
    }
}
