//! QEMU command lines: the test configurations and the interactive `cargo xtask qemu`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::Board;
use crate::describe;
use crate::kernel_build::kernel_elf;
use crate::setup::QEMU;

/// One QEMU machine configuration the test kernel is booted in.
#[derive(Debug, Clone, Copy)]
pub struct TestConfig {
    /// Shown before every line of this run, e.g. `[virt gicv2 1G]`.
    pub label: &'static str,
    pub board: Board,
    /// `-M` value.
    pub machine: &'static str,
    /// `-cpu` value, if the machine does not fix it.
    pub cpu: Option<&'static str>,
    /// `-m` value.
    pub mem: &'static str,
    /// `-smp` value, if not the machine's default.
    pub smp: Option<u32>,
    /// `-dtb` file, relative to the workspace root (QEMU fixes up its memory node).
    pub dtb: Option<&'static str>,
    /// Also boot the user-space test image (`Suite::Utest`) here.
    pub utest: bool,
}

/// Every configuration `cargo xtask test` boots the test kernel in, per board.
pub const TEST_CONFIGS: &[TestConfig] = &[
    TestConfig {
        label: "virt gicv2 1G",
        board: Board::Virt,
        machine: "virt",
        cpu: Some("cortex-a72"),
        mem: "1G",
        smp: None,
        dtb: None,
        utest: true,
    },
    TestConfig {
        label: "virt gicv3 el2 3G smp4",
        board: Board::Virt,
        machine: "virt,gic-version=3,virtualization=on",
        cpu: Some("cortex-a72"),
        mem: "3G",
        smp: Some(4),
        dtb: None,
        utest: true,
    },
    // RAM above 4 GiB, GICv2 with an EL2 entry, secondary cores present.
    TestConfig {
        label: "virt gicv2 el2 5G smp4",
        board: Board::Virt,
        machine: "virt,virtualization=on",
        cpu: Some("cortex-a72"),
        mem: "5G",
        smp: Some(4),
        dtb: None,
        utest: false,
    },
    TestConfig {
        label: "virt a53 128M smp4",
        board: Board::Virt,
        machine: "virt",
        cpu: Some("cortex-a53"),
        mem: "128M",
        smp: Some(4),
        dtb: None,
        utest: false,
    },
    TestConfig {
        label: "rpi4 raspi4b 2G",
        board: Board::Rpi4,
        machine: "raspi4b",
        cpu: None,
        mem: "2G",
        smp: None,
        dtb: None,
        utest: true,
    },
    // The Pi 4 with a device tree, as the firmware passes one: memory, GIC and
    // UART come from the DTB (through /soc's bus-address ranges).
    TestConfig {
        label: "rpi4 raspi4b 2G dtb",
        board: Board::Rpi4,
        machine: "raspi4b",
        cpu: None,
        mem: "2G",
        smp: None,
        dtb: Some("bsp-rpi4/tests/data/rpi4.dtb"),
        utest: true,
    },
];

pub fn test_configs(board: Board) -> impl Iterator<Item = &'static TestConfig> {
    TEST_CONFIGS.iter().filter(move |c| c.board == board)
}

/// The configurations the user-space test image boots in, per board.
pub fn utest_configs(board: Board) -> impl Iterator<Item = &'static TestConfig> {
    test_configs(board).filter(|c| c.utest)
}

/// How QEMU's console is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// `-nographic`: serial and monitor on the terminal (Ctrl-A X quits).
    Terminal,
    /// Serial only on stdout, no monitor: for captured test runs.
    Captured,
}

/// A QEMU invocation.
#[derive(Debug, Clone)]
pub struct QemuArgs<'a> {
    pub machine: String,
    pub cpu: Option<String>,
    pub mem: String,
    pub smp: Option<u32>,
    pub gdb: bool,
    pub append: Option<String>,
    /// `-dtb` file.
    pub dtb: Option<std::path::PathBuf>,
    /// `-icount shift=0,sleep=off`: one instruction per virtual ns, so the
    /// PMU counts instructions exactly and repeatably (benchmarks); and
    /// virtual time does not follow the host's while the guest idles, so
    /// that the ticks fall at the same instructions run after run (the
    /// tick-lateness benchmarks depend on where they fall).
    pub icount: bool,
    pub console: Console,
    pub image: &'a Path,
}

impl QemuArgs<'_> {
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["-M".into(), self.machine.clone()];
        if let Some(cpu) = &self.cpu {
            a.extend(["-cpu".into(), cpu.clone()]);
        }
        a.extend(["-m".into(), self.mem.clone()]);
        if let Some(n) = self.smp {
            a.extend(["-smp".into(), n.to_string()]);
        }
        match self.console {
            Console::Terminal => a.push("-nographic".into()),
            Console::Captured => a.extend(
                ["-display", "none", "-serial", "stdio", "-monitor", "none"].map(String::from),
            ),
        }
        // No network: the default NIC needs an option ROM (efi-virtio.rom) that a
        // --no-install-recommends QEMU does not have, and the kernel has no driver.
        a.extend(["-nic".into(), "none".into()]);
        a.push("-semihosting".into());
        a.extend(["-kernel".into(), self.image.display().to_string()]);
        if self.icount {
            a.extend(["-icount".into(), "shift=0,sleep=off".into()]);
        }
        if let Some(dtb) = &self.dtb {
            a.extend(["-dtb".into(), dtb.display().to_string()]);
        }
        if let Some(cmdline) = &self.append {
            a.extend(["-append".into(), cmdline.clone()]);
        }
        if self.gdb {
            a.extend(["-s".into(), "-S".into()]);
        }
        a
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(QEMU);
        c.args(self.args());
        c
    }
}

impl TestConfig {
    pub fn qemu_args<'a>(&self, image: &'a Path, append: Option<&str>) -> QemuArgs<'a> {
        QemuArgs {
            machine: self.machine.into(),
            cpu: self.cpu.map(String::from),
            mem: self.mem.into(),
            smp: self.smp,
            gdb: false,
            append: append.map(String::from),
            dtb: self.dtb.map(|d| crate::workspace_root().join(d)),
            icount: false,
            console: Console::Captured,
            image,
        }
    }
}

/// Options of `cargo xtask qemu`.
pub struct InteractiveOpts {
    pub board: Board,
    pub gdb: bool,
    pub gic: Option<u8>,
    pub el2: bool,
    pub mem: Option<String>,
    pub smp: Option<u32>,
    pub append: Option<String>,
}

impl InteractiveOpts {
    pub fn validate(&self) -> Result<()> {
        if self.board == Board::Rpi4 {
            if self.gic.is_some() {
                bail!("--gic applies to --board virt only: raspi4b always has a GIC-400 (GICv2)");
            }
            if self.el2 {
                bail!(
                    "--el2 applies to --board virt only: raspi4b always starts the kernel at EL2"
                );
            }
            if self.mem.as_deref().is_some_and(|m| m != "2G") {
                bail!("--mem applies to --board virt only: raspi4b has a fixed 2G of memory");
            }
            if self.smp.is_some_and(|n| n != 4) {
                bail!("--smp applies to --board virt only: raspi4b always has 4 CPUs");
            }
        }
        if self.smp == Some(0) {
            bail!("--smp must be at least 1");
        }
        Ok(())
    }

    pub fn qemu_args<'a>(&self, image: &'a Path) -> QemuArgs<'a> {
        let (machine, cpu, mem) = match self.board {
            Board::Virt => {
                let mut m = String::from("virt");
                if self.gic == Some(3) {
                    m.push_str(",gic-version=3");
                }
                if self.el2 {
                    m.push_str(",virtualization=on");
                }
                let mem = self.mem.clone().unwrap_or_else(|| "1G".into());
                (m, Some("cortex-a72".to_string()), mem)
            }
            Board::Rpi4 => ("raspi4b".to_string(), None, "2G".to_string()),
        };
        QemuArgs {
            machine,
            cpu,
            mem,
            smp: if self.board == Board::Virt {
                self.smp
            } else {
                None
            },
            gdb: self.gdb,
            append: self.append.clone(),
            dtb: None,
            icount: false,
            console: Console::Terminal,
            image,
        }
    }
}

/// Boots `image` with QEMU on this terminal; returns QEMU's exit status.
pub fn run_interactive(opts: &InteractiveOpts, image: &Path) -> Result<u8> {
    let mut cmd = opts.qemu_args(image).command();
    eprintln!("xtask: {}", describe(&cmd));
    if opts.gdb {
        eprintln!(
            "xtask: QEMU waits for a debugger; attach with:\n  gdb-multiarch {} -ex 'target remote :1234'",
            kernel_elf().display()
        );
    }
    eprintln!("xtask: quit QEMU with Ctrl-A X");
    let status = cmd.status().with_context(|| format!("cannot run {QEMU}"))?;
    Ok(match status.code() {
        Some(c) => (c & 0xff) as u8,
        None => 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(board: Board) -> InteractiveOpts {
        InteractiveOpts {
            board,
            gdb: false,
            gic: None,
            el2: false,
            mem: None,
            smp: None,
            append: None,
        }
    }

    #[test]
    fn virt_defaults() {
        let img = Path::new("k.bin");
        let a = opts(Board::Virt).qemu_args(img).args().join(" ");
        assert_eq!(
            a,
            "-M virt -cpu cortex-a72 -m 1G -nographic -nic none -semihosting -kernel k.bin"
        );
    }

    #[test]
    fn virt_all_flags() {
        let img = Path::new("k.bin");
        let o = InteractiveOpts {
            gdb: true,
            gic: Some(3),
            el2: true,
            mem: Some("512M".into()),
            smp: Some(4),
            append: Some("ktest.fault".into()),
            ..opts(Board::Virt)
        };
        assert_eq!(
            o.qemu_args(img).args().join(" "),
            "-M virt,gic-version=3,virtualization=on -cpu cortex-a72 -m 512M -smp 4 -nographic \
             -nic none -semihosting -kernel k.bin -append ktest.fault -s -S"
        );
    }

    #[test]
    fn rpi4_rejects_virt_only_flags() {
        assert!(opts(Board::Rpi4).validate().is_ok());
        assert!(
            InteractiveOpts {
                gic: Some(2),
                ..opts(Board::Rpi4)
            }
            .validate()
            .is_err()
        );
        assert!(
            InteractiveOpts {
                el2: true,
                ..opts(Board::Rpi4)
            }
            .validate()
            .is_err()
        );
        assert!(
            InteractiveOpts {
                mem: Some("1G".into()),
                ..opts(Board::Rpi4)
            }
            .validate()
            .is_err()
        );
        assert!(
            InteractiveOpts {
                smp: Some(2),
                ..opts(Board::Rpi4)
            }
            .validate()
            .is_err()
        );
        let a = opts(Board::Rpi4)
            .qemu_args(Path::new("kernel8.img"))
            .args()
            .join(" ");
        assert_eq!(
            a,
            "-M raspi4b -m 2G -nographic -nic none -semihosting -kernel kernel8.img"
        );
    }

    #[test]
    fn test_configs_are_captured() {
        let img = Path::new("k.bin");
        let c = test_configs(Board::Virt).nth(1).unwrap();
        assert_eq!(
            c.qemu_args(img, None).args().join(" "),
            "-M virt,gic-version=3,virtualization=on -cpu cortex-a72 -m 3G -smp 4 -display none \
             -serial stdio -monitor none -nic none -semihosting -kernel k.bin"
        );
        let smp = test_configs(Board::Virt).nth(2).unwrap();
        assert!(
            smp.qemu_args(img, None)
                .args()
                .join(" ")
                .contains("-m 5G -smp 4 ")
        );
        assert_eq!(test_configs(Board::Virt).count(), 4);
        assert_eq!(test_configs(Board::Rpi4).count(), 2);
    }
}
