//! `cargo xtask bench`: boots the benchmark kernel (`kbench` feature) under
//! `qemu -icount shift=0`, where the PMU's instruction count is exact and
//! repeatable, and prints one line per benchmark:
//! `bench <name>: <N> instructions` (per operation, loop overhead subtracted).

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::kernel_build::{self, KernelFlavor, Suite};
use crate::qemu::{self, TestConfig};
use crate::testrun::{Exit, clean_line, run_captured};
use crate::{Board, describe};

/// Benchmarks a run must report besides the kernel's own: `boot_to_einit`
/// (the kernel, as it enters einit) and the user-space program's (`ubench`).
pub const USER_BENCHMARKS: &[&str] = &[
    "boot_to_einit",
    "null_syscall",
    "thread_switch",
    "thread_switch_cross_as",
    "handle_copy",
    "notify",
    "ipc_roundtrip_empty",
    "ipc_roundtrip_64b",
    "ipc_roundtrip_handle",
    "ipc_roundtrip_4k",
    "ipc_roundtrip_60k",
    "ipc_call",
    "ipc_reply_recv",
    "ipc_cross_core",
    "ipc_one_pair",
    "ipc_four_pairs",
    "revoke_1000",
    "spawn_romfs",
    "spawn_romfs_1mib",
    "tick_lateness_console",
    "tick_lateness_mdl",
    "tick_lateness_vm",
    "tick_lateness_exit",
    "tick_lateness_build",
    "tick_lateness_dump",
];

/// The timer interrupt is taken within 1 ms of virtual time whatever a
/// process asks (`tick_lateness_*`, in ns = instructions under icount).
pub const LATENESS_BOUND: u64 = 1_000_000;

/// The names of those delays (not costs) start so.
pub const LATENESS_PREFIX: &str = "tick_lateness";

/// One benchmark's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchResult {
    pub name: String,
    pub instructions: u64,
}

/// Parses a `bench <name>: <N> instructions` console line.
pub fn parse_line(line: &str) -> Option<BenchResult> {
    let rest = clean_line(line);
    let rest = rest.trim().strip_prefix("bench ")?;
    let (name, count) = rest.split_once(": ")?;
    let n = count.strip_suffix(" instructions")?.parse().ok()?;
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then(|| BenchResult {
        name: name.to_string(),
        instructions: n,
    })
}

/// Cores the benchmark machine has: the cross-core benchmarks use four.
pub const BENCH_CPUS: u32 = 4;

/// The configuration benchmarks run in: the board's first test
/// configuration with [`BENCH_CPUS`] cores (raspi4b always has them).
fn config(board: Board) -> TestConfig {
    let first = qemu::test_configs(board)
        .next()
        .expect("every board has a test configuration");
    TestConfig {
        smp: first.smp.or((board == Board::Virt).then_some(BENCH_CPUS)),
        ..*first
    }
}

/// Builds the benchmark kernel for `board`; returns its image.
pub fn build(board: Board) -> Result<std::path::PathBuf> {
    kernel_build::build_image(KernelFlavor {
        board,
        suite: Suite::Kbench,
        qemu_exit: true,
    })
}

/// The name of the kernel's code size (bytes, not instructions) among the
/// results.
pub const TEXT_SIZE: &str = "kernel_text_bytes";

/// Bytes of code (executable sections) of `board`'s system kernel, the one
/// `cargo xtask qemu` boots.
pub fn kernel_text(board: Board) -> Result<BenchResult> {
    kernel_build::build_image(KernelFlavor {
        board,
        suite: Suite::None,
        qemu_exit: true,
    })?;
    let path = kernel_build::kernel_elf();
    let bytes = std::fs::read(&path)?;
    let elf = xmas_elf::ElfFile::new(&bytes).map_err(|e| anyhow::anyhow!("{path:?}: {e}"))?;
    let text = elf
        .section_iter()
        .filter(|s| s.flags() & xmas_elf::sections::SHF_EXECINSTR != 0)
        .map(|s| s.size())
        .sum();
    Ok(BenchResult {
        name: TEXT_SIZE.into(),
        instructions: text,
    })
}

/// Builds and boots `board`'s benchmark image once; its results in order,
/// then the kernel's code size.
pub fn measure(board: Board, timeout: Duration) -> Result<Vec<BenchResult>> {
    let text = kernel_text(board)?;
    let mut results = run_once(board, &build(board)?, timeout)?;
    results.push(text);
    Ok(results)
}

/// Boots the benchmark image once; returns its results in order.
pub fn run_once(board: Board, image: &Path, timeout: Duration) -> Result<Vec<BenchResult>> {
    let mut args = config(board).qemu_args(image, None);
    args.icount = true;
    let cmd = args.command();
    eprintln!("xtask: {}", describe(&cmd));
    let captured = run_captured(cmd, timeout, |_| {})?;
    let results: Vec<BenchResult> = captured
        .lines
        .iter()
        .filter_map(|l| parse_line(l))
        .collect();
    match captured.exit {
        Exit::Code(0) => {}
        other => {
            for l in captured.lines.iter().rev().take(20).rev() {
                eprintln!("  | {}", clean_line(l));
            }
            bail!("the benchmark kernel ended with {other:?}");
        }
    }
    if results.is_empty() {
        bail!("the benchmark kernel reported no benchmark");
    }
    for name in USER_BENCHMARKS {
        if !results.iter().any(|r| r.name == *name) {
            bail!("the user benchmark {name} did not report (did einit run /bench/ubench?)");
        }
    }
    for r in &results {
        if r.name.starts_with(LATENESS_PREFIX) && r.instructions > LATENESS_BOUND {
            bail!(
                "{}: the timer interrupt waited {} ns, over the {LATENESS_BOUND} ns bound",
                r.name,
                r.instructions
            );
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bench_lines() {
        assert_eq!(
            parse_line("bench frame_alloc_free: 123 instructions\r"),
            Some(BenchResult {
                name: "frame_alloc_free".into(),
                instructions: 123
            })
        );
        assert_eq!(parse_line("bench x: many instructions"), None);
        assert_eq!(parse_line("bench : 3 instructions"), None);
        assert_eq!(parse_line("bench a b: 3 instructions"), None);
        assert_eq!(parse_line("kbench: 6 benchmarks"), None);
    }
}
