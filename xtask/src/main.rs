//! `cargo xtask`: builds the kernel image, boots it in QEMU and runs every test.
//!
//! Run `cargo xtask --help` for the commands. Each command that needs tools
//! (the aarch64 target, QEMU, genromfs) first makes sure they are installed.

mod bench;
mod bench_doc;
mod docs;
mod image;
mod init_desc;
mod kernel_build;
mod packages;
mod policies;
mod qemu;
mod report;
mod sdimage;
mod setup;
mod testrun;
mod user_build;
mod whole_lines;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::kernel_build::{KernelFlavor, Suite};

#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about = "Build, boot and test the kernel", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernel and make a raw image (kernel.bin for virt, kernel8.img for rpi4).
    Build {
        #[arg(long, value_enum, default_value_t = Board::Virt)]
        board: Board,
        /// Build the test kernel (runs the in-kernel test suites after boot).
        #[arg(long, conflicts_with = "utest")]
        ktest: bool,
        /// Build the user-space test image (einit runs the user test programs).
        #[arg(long)]
        utest: bool,
        /// Build for real hardware (SD card): leaves out the QEMU-only semihosting exit.
        #[arg(long)]
        hw: bool,
    },
    /// Write a flashable SD card image for the Raspberry Pi 4 (MBR + FAT32 boot
    /// partition: kernel8.img, config.txt, device tree, GPU firmware).
    Image {
        /// Only rpi4 boots from an SD card.
        #[arg(long, value_enum, default_value_t = Board::Rpi4)]
        board: Board,
        /// Where to write it (default: target/images/rpi4-hw/sdcard.img).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// A folder holding start4.elf, fixup4.dat and bcm2711-rpi-4-b.dtb (for
        /// example boot/ of the Raspberry Pi firmware repository); without it,
        /// Debian's raspi-firmware and linux-image packages.
        #[arg(long, value_name = "DIR")]
        firmware: Option<PathBuf>,
        /// Put the user-test kernel in it (QEMU's semihosting exit included),
        /// to check an image in QEMU.
        #[arg(long)]
        utest: bool,
    },
    /// Build, then boot the kernel in QEMU attached to this terminal (quit: Ctrl-A X).
    Qemu {
        #[arg(long, value_enum, default_value_t = Board::Virt)]
        board: Board,
        /// Wait for a debugger on :1234 before starting (-s -S).
        #[arg(long)]
        gdb: bool,
        /// GIC version of the virt machine.
        #[arg(long, value_parser = clap::value_parser!(u8).range(2..=3))]
        gic: Option<u8>,
        /// Start the virt machine at EL2 (virtualization=on).
        #[arg(long)]
        el2: bool,
        /// Memory size for virt, as QEMU's -m takes it (default 1G; raspi4b is fixed at 2G).
        #[arg(long, value_name = "SIZE")]
        mem: Option<String>,
        /// Number of CPUs (virt; raspi4b always has 4).
        #[arg(long, value_name = "N")]
        smp: Option<u32>,
        /// Boot the test kernel.
        #[arg(long, conflicts_with = "utest")]
        ktest: bool,
        /// Boot the user-space test image (einit runs the user test programs).
        #[arg(long)]
        utest: bool,
        /// Kernel command line (QEMU -append; the kernel reads it through semihosting).
        #[arg(long, value_name = "CMDLINE")]
        append: Option<String>,
    },
    /// Run all tests: host `cargo test`, then the test kernel in every QEMU configuration.
    Test {
        #[arg(long, value_enum, default_value_t = BoardSel::All)]
        board: BoardSel,
        /// Skip the host `cargo test`.
        #[arg(long)]
        no_host: bool,
        /// Timeout of one QEMU run, in seconds (the user test images get
        /// three times it).
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Count instructions per operation of the kernel's benchmarks (QEMU -icount shift=0).
    Bench {
        #[arg(long, value_enum, default_value_t = Board::Virt)]
        board: Board,
        /// Timeout of the QEMU run, in seconds.
        #[arg(long, default_value_t = 120, value_name = "SECONDS")]
        timeout: u64,
        /// Run on both boards and write the table of figures into
        /// docs/benchmarks.md (beside the goals and the seL4 and Linux
        /// figures); print it.
        #[arg(long)]
        markdown: bool,
    },
    /// A long fuzzing campaign: the user test image running only utest-fuzz,
    /// whose children make `--calls` random syscalls in all (the default
    /// suite makes 51,000), from `--seed`; each child must make all its
    /// calls and reach every endpoint, and nothing may leak.
    /// Stress across cores, outside the default suite: the user test image
    /// running only utest-stress (100,000 round trips between cores,
    /// processes made and ended on every core with nothing leaked,
    /// revocation racing with use), booted `--runs` times in a row on each
    /// board; any failure stops it.
    Stress {
        #[arg(long, value_enum, default_value_t = BoardSel::All)]
        board: BoardSel,
        #[arg(long, default_value_t = 20)]
        runs: u32,
        /// Timeout of one QEMU run, in seconds.
        #[arg(long, default_value_t = 300, value_name = "SECONDS")]
        timeout: u64,
    },
    Fuzz {
        #[arg(long, value_enum, default_value_t = Board::Virt)]
        board: Board,
        #[arg(long, default_value_t = 1_000_000)]
        calls: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Timeout of the QEMU run, in seconds.
        #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Lint host crates and the kernel for each board (warnings are errors).
    Clippy,
    /// Write the docs generated from the interface declarations
    /// (docs/interfaces.md, docs/interfaces.json).
    Docs {
        /// Only check that they are current.
        #[arg(long)]
        check: bool,
    },
    /// The systems' security policies (policy/systems/<system>.policy).
    Policy {
        #[command(subcommand)]
        cmd: PolicyCmd,
    },
    /// Format every crate of the workspace.
    Fmt {
        /// Only check, do not rewrite files.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Compile every system's policy for every board and report errors.
    Check {
        /// Only this system (demo, utest, bench).
        #[arg(long)]
        system: Option<String>,
    },
    /// Run the tests written in the policies.
    Test {
        #[arg(long)]
        system: Option<String>,
    },
    /// The decision on one message and the rule (file:line) behind it:
    /// `explain <source class> <target class> <Interface.Method | execute> [field=value ...]`.
    Explain {
        /// Source class (or `class@instance`, or `kernel`).
        src: String,
        /// Target class (`kernel` for calls on kernel objects).
        dst: String,
        /// `Interface.Method`, or `execute` for a process start.
        method: String,
        /// Field values; `target=self|child` for calls on a process;
        /// `state=<name>` for the target's state.
        fields: Vec<String>,
        #[arg(long, default_value = "demo")]
        system: String,
        #[arg(long, value_enum, default_value_t = Board::Virt)]
        board: Board,
        /// `response` or `error` (default: the request or call).
        #[arg(long)]
        event: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Board {
    /// QEMU `virt` machine.
    Virt,
    /// Raspberry Pi 4 (and QEMU `raspi4b`).
    Rpi4,
}

impl Board {
    pub const ALL: [Board; 2] = [Board::Virt, Board::Rpi4];

    pub fn name(self) -> &'static str {
        match self {
            Board::Virt => "virt",
            Board::Rpi4 => "rpi4",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BoardSel {
    Virt,
    Rpi4,
    All,
}

impl BoardSel {
    fn boards(self) -> Vec<Board> {
        match self {
            BoardSel::Virt => vec![Board::Virt],
            BoardSel::Rpi4 => vec![Board::Rpi4],
            BoardSel::All => Board::ALL.to_vec(),
        }
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Reads a source file of the workspace (a policy, an init description, a
/// manifest), named in diagnostics by its path relative to the workspace.
pub fn read_source(p: &std::path::Path) -> anyhow::Result<policy::Source> {
    use anyhow::Context;
    let root = workspace_root();
    let shown = p.strip_prefix(&root).unwrap_or(p).display().to_string();
    policy::Source::read(p, &shown).with_context(|| format!("cannot read {}", p.display()))
}

/// A `cargo` command for the workspace: `$CARGO` (the cargo running us) or `cargo`,
/// run from the workspace root, using the workspace's own target directory.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd.env_remove("CARGO_TARGET_DIR");
    cmd.env_remove("CARGO_BUILD_TARGET_DIR");
    cmd
}

/// Runs a command with inherited stdio; fails if it does not exit 0.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

/// A shell-like rendering of a command, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        s.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
            s.push('\'');
            s.push_str(&a.replace('\'', r"'\''"));
            s.push('\'');
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// The suite a `--ktest` / `--utest` flag pair asks for (clap keeps them exclusive).
fn suite(ktest: bool, utest: bool) -> Suite {
    match (ktest, utest) {
        (true, _) => Suite::Ktest,
        (false, true) => Suite::Utest,
        (false, false) => Suite::None,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::Build {
            board,
            ktest,
            utest,
            hw,
        } => {
            setup::ensure_target()?;
            setup::ensure_tools(setup::Need::Optional)?;
            let flavor = KernelFlavor {
                board,
                suite: suite(ktest, utest),
                qemu_exit: !hw,
            };
            let img = kernel_build::build_image(flavor)?;
            println!("{}", img.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Image {
            board,
            output,
            firmware,
            utest,
        } => {
            let out = sdimage::build(board, firmware.as_deref(), utest, output)?;
            println!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Qemu {
            board,
            gdb,
            gic,
            el2,
            mem,
            smp,
            ktest,
            utest,
            append,
        } => {
            let opts = qemu::InteractiveOpts {
                board,
                gdb,
                gic,
                el2,
                mem,
                smp,
                append,
            };
            // Reject flags that do not apply before spending time on set-up and build.
            opts.validate()?;
            setup::ensure_target()?;
            setup::ensure_tools(setup::Need::Required)?;
            let img = kernel_build::build_image(KernelFlavor {
                board,
                suite: suite(ktest, utest),
                qemu_exit: true,
            })?;
            let code = qemu::run_interactive(&opts, &img)?;
            Ok(ExitCode::from(code))
        }
        Cmd::Test {
            board,
            no_host,
            timeout,
        } => {
            setup::ensure_target()?;
            setup::ensure_tools(setup::Need::Required)?;
            let ok = testrun::run_all(&testrun::TestOpts {
                boards: board.boards(),
                host: !no_host,
                timeout: std::time::Duration::from_secs(timeout),
            });
            Ok(exit_code(ok))
        }
        Cmd::Bench {
            board,
            timeout,
            markdown,
        } => {
            setup::ensure_target()?;
            setup::ensure_tools(setup::Need::Required)?;
            let timeout = std::time::Duration::from_secs(timeout);
            let run = |board| bench::measure(board, timeout);
            if markdown {
                let (virt, rpi4) = (run(Board::Virt)?, run(Board::Rpi4)?);
                let table = bench_doc::render(&virt, &rpi4);
                bench_doc::write(&table)?;
                print!("{table}");
                return Ok(ExitCode::SUCCESS);
            }
            for r in run(board)? {
                let unit = if r.name == bench::TEXT_SIZE {
                    "bytes"
                } else {
                    "instructions"
                };
                println!("bench {}: {} {unit}", r.name, r.instructions);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Fuzz {
            board,
            calls,
            seed,
            timeout,
        } => {
            setup::ensure_target()?;
            setup::ensure_tools(setup::Need::Required)?;
            let campaign = kernel_build::Campaign { calls, seed };
            let ok =
                testrun::fuzz_campaign(board, campaign, std::time::Duration::from_secs(timeout));
            Ok(exit_code(ok))
        }
        Cmd::Stress {
            board,
            runs,
            timeout,
        } => {
            setup::ensure_target()?;
            setup::ensure_tools(setup::Need::Required)?;
            let ok = testrun::stress(
                &board.boards(),
                runs,
                std::time::Duration::from_secs(timeout),
            );
            Ok(exit_code(ok))
        }
        Cmd::Clippy => {
            setup::ensure_target()?;
            run_checked(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
            for (board, suite) in Board::ALL
                .into_iter()
                .flat_map(|b| [Suite::None, Suite::Ktest, Suite::Kbench].map(|s| (b, s)))
            {
                let features = KernelFlavor {
                    board,
                    suite,
                    qemu_exit: true,
                }
                .features();
                run_checked(cargo().args([
                    "clippy",
                    "-p",
                    "kernel",
                    "--target",
                    kernel_build::KERNEL_TARGET,
                    "--features",
                    &features,
                    "--",
                    "-D",
                    "warnings",
                ]))?;
            }
            // User space: libkos and the programs (aarch64 only).
            let mut cmd = cargo();
            cmd.args([
                "clippy",
                "--target",
                kernel_build::USER_TARGET,
                "-p",
                "libkos",
            ]);
            for p in user_build::PACKAGES {
                cmd.args(["-p", p]);
            }
            run_checked(cmd.args(["--", "-D", "warnings"]))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Docs { check } => {
            docs::run(check)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Policy { cmd } => {
            let ok = match cmd {
                PolicyCmd::Check { system } => policies::check_all(system.as_deref(), false)?,
                PolicyCmd::Test { system } => policies::check_all(system.as_deref(), true)?,
                PolicyCmd::Explain {
                    src,
                    dst,
                    method,
                    fields,
                    system,
                    board,
                    event,
                } => {
                    let mut pairs = Vec::new();
                    for f in &fields {
                        let (k, v) = f
                            .split_once('=')
                            .with_context(|| format!("`{f}`: fields are field=value"))?;
                        pairs.push((k.to_string(), v.to_string()));
                    }
                    let q = policy::explain::Question {
                        src,
                        dst,
                        method,
                        event,
                        fields: pairs,
                    };
                    // The answer is the output; a denial is not a failure.
                    policies::explain_cmd(&system, board, &q)?;
                    true
                }
            };
            Ok(exit_code(ok))
        }
        Cmd::Fmt { check } => {
            let mut cmd = cargo();
            cmd.args(["fmt", "--all"]);
            if check {
                cmd.args(["--", "--check"]);
            }
            run_checked(&mut cmd)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Success if `ok`, else failure.
fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
