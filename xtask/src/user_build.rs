//! User programs: built with cargo for `aarch64-unknown-none`, checked
//! against the kernel's process start contract, and laid into the ROMFS
//! images the kernel carries.
//!
//! - system image (every kernel flavor): `kernel/romfs/manifest` + the
//!   system programs (`SYSTEM_PROGRAMS`) + `/etc/init` (the demonstration
//!   system's init description, compiled by `init_desc`);
//! - test image (`Suite::Utest`): the system image, `/tests/<program>` for
//!   each user test program, `/etc/init.tests` (which makes einit run them),
//!   `/tests/data/truncated.elf` (the first 200 bytes of einit), broken
//!   executables (`bad_elves`) and `/tests/data/nop`, `/tests/data/nop1m`
//!   (`DATA_PROGRAMS`);
//! - benchmark image: `/bench/ubench` (run by einit) + `/bench/nop` and
//!   `/bench/nop1m` (a 1 MiB program).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use romfs_builder::Tree;
use xmas_elf::header::Type as ElfType;
use xmas_elf::program::Type;

use crate::kernel_build::{USER_TARGET, target_dir};
use crate::{cargo, run_checked};

/// The cargo packages holding user programs.
pub const PACKAGES: &[&str] = &["einit", "execution-manager", "utest"];

/// Programs of the system image: (cargo bin name, ROMFS path).
pub const SYSTEM_PROGRAMS: &[(&str, &str)] = &[
    ("einit", "/bin/einit"),
    ("hello", "/bin/hello"),
    ("fsusr", "/bin/fsusr"),
    ("demo-counter", "/bin/demo-counter"),
    ("demo-client", "/bin/demo-client"),
    ("demo-app", "/bin/demo-app"),
    ("demo-launcher", "/bin/demo-launcher"),
    ("execution-manager", "/bin/execution-manager"),
];

/// The user test programs, in the order einit runs them (each at
/// `/tests/<name>`).
pub const TEST_PROGRAMS: &[&str] = &[
    "utest-syscall",
    // Early: the hog it leaves behind holds its hoard while every later
    // program runs.
    "utest-hostile",
    "utest-isolation",
    "utest-faults",
    "utest-spawn",
    "utest-sched",
    "utest-handles",
    "utest-ipc",
    "utest-locator",
    "utest-objects",
    "utest-iface",
    "utest-pie",
    "utest-task",
    "utest-task2",
    "utest-process",
    "utest-em",
    "utest-gate",
    "utest-fuzz",
    "utest-policy",
];

/// The initial scheduling policy einit gives a program it runs (`class
/// priority`, after its path in `/etc/init.tests`): the ceiling of every
/// thread it starts. The others start as Normal threads at the default
/// priority. Each of these runs its tests in a Normal thread.
pub const RAISED: &[(&str, &str)] = &[
    ("utest-sched", "Fifo 31"),
    ("utest-policy", "RoundRobin 20"),
    ("ubench", "Fifo 31"),
];

/// Programs carried as data (not run by einit): (cargo bin name, path in
/// the test image, path in the benchmark image).
pub const DATA_PROGRAMS: &[(&str, &str, &str)] = &[
    ("utest-nop", "/tests/data/nop", "/bench/nop"),
    ("utest-nop1m", "/tests/data/nop1m", "/bench/nop1m"),
];

/// The user benchmark programs of the benchmark image (each at
/// `/bench/<name>`, run by einit through `/etc/init.tests`).
pub const BENCH_PROGRAMS: &[&str] = &["ubench"];

/// Bytes of einit kept in `/tests/data/truncated.elf`.
pub const TRUNCATED_LEN: usize = 200;

/// Lowest user address the kernel maps (kos-abi `vm::USER_MIN`).
const USER_MIN: u64 = 0x1_0000;
/// One past the highest user address (kos-abi `vm::USER_END`).
const USER_END: u64 = 1 << 47;
const PAGE: u64 = 4096;

/// Built user programs by cargo bin name.
#[derive(Debug, Default, Clone)]
pub struct UserPrograms {
    pub elves: BTreeMap<String, Vec<u8>>,
}

impl UserPrograms {
    pub fn get(&self, name: &str) -> Result<&[u8]> {
        self.elves
            .get(name)
            .map(Vec::as_slice)
            .with_context(|| format!("user program {name} was not built"))
    }
}

/// Code generation flags of user programs.
pub const USER_RUSTFLAGS: &str = "-C force-frame-pointers=yes";

/// Where user programs are built: `target/user`.
pub fn user_target_dir() -> std::path::PathBuf {
    target_dir().join("user")
}

/// Builds every user program (release, in [`user_target_dir`]) and reads
/// and checks the ELF files.
pub fn build() -> Result<UserPrograms> {
    eprintln!("xtask: building user programs ({})", PACKAGES.join(", "));
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "--target",
        USER_TARGET,
        "--target-dir",
    ])
    .arg(user_target_dir())
    // Frame records in user code, so crash reports can walk the x29
    // chain; the kernel is built without them (they cost on its hot
    // path), hence a target directory of their own.
    .env("RUSTFLAGS", USER_RUSTFLAGS);
    for p in PACKAGES {
        cmd.args(["-p", p]);
    }
    run_checked(&mut cmd)?;
    let dir = user_target_dir().join(USER_TARGET).join("release");
    let mut progs = UserPrograms::default();
    let names = SYSTEM_PROGRAMS
        .iter()
        .map(|(bin, _)| *bin)
        .chain(TEST_PROGRAMS.iter().copied())
        .chain([STRESS_PROGRAM])
        .chain(BENCH_PROGRAMS.iter().copied())
        .chain(DATA_PROGRAMS.iter().map(|(bin, _, _)| *bin));
    for name in names {
        let path = dir.join(name);
        let elf = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        check_user_elf(&elf)
            .with_context(|| format!("{} breaks the start contract", path.display()))?;
        progs.elves.insert(name.to_string(), elf);
    }
    Ok(progs)
}

/// Checks an ELF file against the kernel's process start contract: ELF64
/// AArch64, a static executable (`ET_EXEC`, every PT_LOAD in user space) or
/// a static-pie (`ET_DYN` with PT_DYNAMIC for its relocations, no
/// PT_INTERP; placed at a random offset, so its link addresses only need
/// to fit below the end of user space), every PT_LOAD page aligned and
/// never writable and executable at once, the entry in an executable
/// segment.
pub fn check_user_elf(data: &[u8]) -> Result<()> {
    let elf = crate::image::open_aarch64_elf(data)?;
    let pie = match elf.header.pt2.type_().as_type() {
        ElfType::Executable => false,
        ElfType::SharedObject => true,
        other => bail!(
            "ELF type is {other:?}, expected a static executable (ET_EXEC) or static-pie (ET_DYN)"
        ),
    };
    // A static-pie's lowest link address may be 0: the load offset lifts it.
    let user_min = if pie { 0 } else { USER_MIN };
    let entry = elf.header.pt2.entry_point();
    let mut entry_ok = false;
    let mut loads = 0;
    for ph in elf.program_iter() {
        match ph.get_type() {
            Ok(Type::Load) => {}
            Ok(Type::Interp) => bail!("dynamic executable (PT_INTERP)"),
            Ok(Type::Dynamic) if !pie => bail!("PT_DYNAMIC in a static executable (ET_EXEC)"),
            Ok(Type::Tls) => bail!("thread-local storage (PT_TLS) is not supported"),
            _ => continue,
        }
        loads += 1;
        let (vaddr, memsz, filesz, off) = (
            ph.virtual_addr(),
            ph.mem_size(),
            ph.file_size(),
            ph.offset(),
        );
        let flags = ph.flags();
        let what = format!("PT_LOAD at {vaddr:#x}");
        if vaddr % PAGE != 0 {
            bail!("{what} is not page aligned");
        }
        if off % PAGE != vaddr % PAGE {
            bail!("{what}: file offset {off:#x} not congruent with the address");
        }
        if filesz > memsz
            || off
                .checked_add(filesz)
                .is_none_or(|e| e > data.len() as u64)
        {
            bail!("{what}: sizes inconsistent or beyond the file");
        }
        if vaddr < user_min || vaddr.checked_add(memsz).is_none_or(|e| e > USER_END) {
            bail!("{what} (size {memsz:#x}) lies outside user space");
        }
        if flags.is_write() && flags.is_execute() {
            bail!("{what} is writable and executable");
        }
        if flags.is_execute() && (vaddr..vaddr + memsz).contains(&entry) {
            entry_ok = true;
        }
    }
    if loads == 0 {
        bail!("no PT_LOAD segment");
    }
    if !entry_ok {
        bail!("entry {entry:#x} is not in an executable segment");
    }
    Ok(())
}

/// A test list as einit reads it (`/etc/init.tests`): a comment line, then
/// one path per line, with its initial policy if [`RAISED`] names one.
pub fn init_list(comment: &str, paths: &[&str]) -> String {
    let mut s = format!("# {comment}\n");
    for p in paths {
        s.push_str(p);
        let name = p.rsplit('/').next().unwrap_or(p);
        if let Some((_, policy)) = RAISED.iter().find(|(n, _)| *n == name) {
            s.push(' ');
            s.push_str(policy);
        }
        s.push('\n');
    }
    s
}

/// The system ROMFS tree: the manifest's files plus the system programs.
pub fn system_tree(manifest: &Path, progs: &UserPrograms) -> Result<Tree> {
    let mut tree = romfs_builder::manifest::tree_from_manifest(manifest)
        .with_context(|| format!("cannot read the ROMFS manifest {}", manifest.display()))?;
    add_system(&mut tree, progs)?;
    Ok(tree)
}

/// Adds the system programs to `tree`.
pub fn add_system(tree: &mut Tree, progs: &UserPrograms) -> Result<()> {
    for (bin, path) in SYSTEM_PROGRAMS {
        tree.add_file(path, progs.get(bin)?.to_vec(), true)
            .with_context(|| format!("ROMFS: adding {path}"))?;
    }
    Ok(())
}

/// Adds the user test programs, `/etc/init.tests` and the truncated ELF.
pub fn add_utest(tree: &mut Tree, progs: &UserPrograms) -> Result<()> {
    add_test_image(
        tree,
        progs,
        TEST_PROGRAMS,
        "test programs einit runs, one after another (written by xtask)",
    )
}

/// The test image with only `utest-fuzz` run, and `campaign` in
/// `/etc/fuzz` (`cargo xtask fuzz`).
pub fn add_fuzz(
    tree: &mut Tree,
    progs: &UserPrograms,
    campaign: crate::kernel_build::Campaign,
) -> Result<()> {
    add_test_image(
        tree,
        progs,
        &["utest-fuzz"],
        "a fuzzing campaign (written by cargo xtask fuzz)",
    )?;
    let text = format!("calls {}\nseed {}\n", campaign.calls, campaign.seed);
    tree.add_file("/etc/fuzz", text.into_bytes(), false)
        .context("ROMFS: adding /etc/fuzz")
}

/// The stress program alone (`cargo xtask stress`): not one of
/// [`TEST_PROGRAMS`], so the default suite leaves it out.
pub const STRESS_PROGRAM: &str = "utest-stress";

/// The test image running only [`STRESS_PROGRAM`] (`cargo xtask stress`).
pub fn add_stress(tree: &mut Tree, progs: &UserPrograms) -> Result<()> {
    add_test_image(
        tree,
        progs,
        &[STRESS_PROGRAM],
        "stress across cores (written by cargo xtask stress)",
    )?;
    let path = format!("/tests/{STRESS_PROGRAM}");
    tree.add_file(&path, progs.get(STRESS_PROGRAM)?.to_vec(), true)
        .with_context(|| format!("ROMFS: adding {path}"))
}

/// Every test program and its data, and an `/etc/init.tests` that runs
/// those of `run`.
fn add_test_image(
    tree: &mut Tree,
    progs: &UserPrograms,
    run: &[&str],
    comment: &str,
) -> Result<()> {
    add_programs(tree, progs, "/tests", TEST_PROGRAMS, run, comment)?;
    let einit = progs.get("einit")?;
    let truncated = einit[..TRUNCATED_LEN.min(einit.len())].to_vec();
    tree.add_file("/tests/data/truncated.elf", truncated, false)
        .context("ROMFS: adding /tests/data/truncated.elf")?;
    for (name, bytes) in bad_elves(einit) {
        let path = format!("/tests/data/{name}");
        tree.add_file(&path, bytes, false)
            .with_context(|| format!("ROMFS: adding {path}"))?;
    }
    for (bin, path, _) in DATA_PROGRAMS {
        tree.add_file(path, progs.get(bin)?.to_vec(), true)
            .with_context(|| format!("ROMFS: adding {path}"))?;
    }
    tree.add_file(USER_IMAGE, user_image(progs)?, false)
        .with_context(|| format!("ROMFS: adding {USER_IMAGE}"))?;
    Ok(())
}

/// A ROMFS image inside the test image, for fsusr to serve (utest-process):
/// `/bin/child` (utest-process itself) and `/etc/greeting`.
pub const USER_IMAGE: &str = "/tests/data/user.romfs";

/// The greeting in [`USER_IMAGE`] (utest-process checks it).
pub const USER_GREETING: &str = "hello from a user-space ROMFS\n";

fn user_image(progs: &UserPrograms) -> Result<Vec<u8>> {
    let mut tree = Tree::new();
    tree.add_file("/bin/child", progs.get("utest-process")?.to_vec(), true)?;
    tree.add_file("/etc/greeting", USER_GREETING.as_bytes().to_vec(), false)?;
    tree.to_image("user")
        .context("building the user-space ROMFS image")
}

/// Broken executables for `Create`'s `rcBadExecutable` tests, each einit
/// with one defect (`/tests/data/<name>`): `wrong-machine.elf` (x86-64),
/// `overlap.elf` (the second PT_LOAD at the first's address), `huge.elf`
/// (the first PT_LOAD 128 TiB in memory), `wx.elf` (the first PT_LOAD
/// writable and executable). A file too short to patch is left as is (the
/// build checks einit, so it never is).
pub fn bad_elves(einit: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let u64_at = |b: &[u8], at: usize| {
        b.get(at..at + 8)
            .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap()))
    };
    let phoff = u64_at(einit, 32) as usize;
    let phnum = einit
        .get(56..58)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]])) as usize;
    // Offsets of the PT_LOAD headers.
    let loads: Vec<usize> = (0..phnum)
        .map(|i| phoff + i * 56)
        .filter(|&p| einit.get(p..p + 4) == Some(&1u32.to_le_bytes()[..]))
        .collect();
    let patch = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = einit.to_vec();
        if loads.len() >= 2 {
            edit(&mut b);
        }
        b
    };
    let (first, second) = (
        loads.first().copied().unwrap_or(0),
        loads.get(1).copied().unwrap_or(0),
    );
    vec![
        (
            "wrong-machine.elf",
            patch(&|b| b[18..20].copy_from_slice(&62u16.to_le_bytes())),
        ),
        (
            "overlap.elf",
            patch(&|b| {
                let v = b[first + 16..first + 24].to_vec();
                b[second + 16..second + 24].copy_from_slice(&v);
                b[second + 24..second + 32].copy_from_slice(&v);
            }),
        ),
        (
            "huge.elf",
            patch(&|b| b[first + 40..first + 48].copy_from_slice(&(1u64 << 47).to_le_bytes())),
        ),
        (
            "wx.elf",
            patch(&|b| b[first + 4..first + 8].copy_from_slice(&7u32.to_le_bytes())),
        ),
    ]
}

/// Adds the user benchmark programs and an `/etc/init.tests` that runs them.
pub fn add_ubench(tree: &mut Tree, progs: &UserPrograms) -> Result<()> {
    add_programs(
        tree,
        progs,
        "/bench",
        BENCH_PROGRAMS,
        BENCH_PROGRAMS,
        "benchmark programs einit runs (written by xtask)",
    )?;
    for (bin, _, path) in DATA_PROGRAMS {
        tree.add_file(path, progs.get(bin)?.to_vec(), true)
            .with_context(|| format!("ROMFS: adding {path}"))?;
    }
    Ok(())
}

/// Adds each program of `names` at `<dir>/<name>` and an `/etc/init.tests`
/// that makes einit run those of `run`, in their order there.
fn add_programs(
    tree: &mut Tree,
    progs: &UserPrograms,
    dir: &str,
    names: &[&str],
    run: &[&str],
    comment: &str,
) -> Result<()> {
    for name in names {
        let path = format!("{dir}/{name}");
        tree.add_file(&path, progs.get(name)?.to_vec(), true)
            .with_context(|| format!("ROMFS: adding {path}"))?;
    }
    let paths: Vec<String> = run.iter().map(|name| format!("{dir}/{name}")).collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    tree.add_file(
        "/etc/init.tests",
        init_list(comment, &refs).into_bytes(),
        false,
    )
    .context("ROMFS: adding /etc/init.tests")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use romfs_builder::Image;

    /// Link base of user programs (libkos/user.ld).
    const USER_BASE: u64 = 0x20_0000;
    const PT_LOAD: u32 = 1;
    const PF_X: u32 = 1;
    const PF_W: u32 = 2;
    const PF_R: u32 = 4;

    /// (vaddr, flags, file bytes, memsz)
    type Seg = (u64, u32, usize, u64);

    /// A minimal ELF64 AArch64 executable; segment i's bytes start at file
    /// offset (i + 1) * 4096 + vaddr % 4096.
    fn make_elf(elf_type: u16, entry: u64, segs: &[Seg]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF");
        out.extend_from_slice(&[2, 1, 1, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&elf_type.to_le_bytes());
        out.extend_from_slice(&0xb7u16.to_le_bytes()); // EM_AARCH64
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&entry.to_le_bytes());
        out.extend_from_slice(&64u64.to_le_bytes()); // phoff
        out.extend_from_slice(&0u64.to_le_bytes()); // shoff
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&56u16.to_le_bytes());
        out.extend_from_slice(&(segs.len() as u16).to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for (i, &(vaddr, flags, filesz, memsz)) in segs.iter().enumerate() {
            let off = (i as u64 + 1) * PAGE + vaddr % PAGE;
            out.extend_from_slice(&PT_LOAD.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&vaddr.to_le_bytes());
            out.extend_from_slice(&vaddr.to_le_bytes());
            out.extend_from_slice(&(filesz as u64).to_le_bytes());
            out.extend_from_slice(&memsz.to_le_bytes());
            out.extend_from_slice(&PAGE.to_le_bytes());
        }
        out.resize((segs.len() + 2) * PAGE as usize, 0);
        out
    }

    fn good_segments() -> Vec<Seg> {
        vec![
            (USER_BASE, PF_R | PF_X, 0x800, 0x800),
            (USER_BASE + 0x1000, PF_R, 0x100, 0x100),
            (USER_BASE + 0x2000, PF_R | PF_W, 0x80, 0x200),
        ]
    }

    #[test]
    fn accepts_the_contract() {
        check_user_elf(&make_elf(2, USER_BASE, &good_segments())).unwrap();
    }

    #[test]
    fn rejects_contract_breaks() {
        let err = |elf: Vec<u8>| check_user_elf(&elf).unwrap_err().to_string();
        // Neither ET_EXEC nor ET_DYN (ET_REL).
        assert!(err(make_elf(1, USER_BASE, &good_segments())).contains("ET_EXEC"));
        // Entry in the rodata segment.
        assert!(err(make_elf(2, USER_BASE + 0x1000, &good_segments())).contains("entry"));
        // W+X.
        let mut segs = good_segments();
        segs[2].1 = PF_R | PF_W | PF_X;
        assert!(err(make_elf(2, USER_BASE, &segs)).contains("writable and executable"));
        // Not page aligned.
        let mut segs = good_segments();
        segs[1].0 += 0x10;
        assert!(err(make_elf(2, USER_BASE, &segs)).contains("page aligned"));
        // Below USER_MIN (the null guard) and in the kernel half.
        let mut segs = good_segments();
        segs[0].0 = 0;
        assert!(err(make_elf(2, 0, &segs)).contains("outside user space"));
        let mut segs = good_segments();
        segs[1].0 = 0xffff_0000_0000_0000;
        assert!(err(make_elf(2, USER_BASE, &segs)).contains("outside user space"));
        // Garbage and truncation.
        assert!(check_user_elf(b"not an elf").is_err());
        let elf = make_elf(2, USER_BASE, &good_segments());
        assert!(check_user_elf(&elf[..TRUNCATED_LEN]).is_err());
    }

    /// A static-pie: ET_DYN linked at 0 (segments `good_segments` moved
    /// down to 0), optionally with a PT_DYNAMIC or PT_INTERP header.
    fn make_pie(extra: Option<u32>) -> Vec<u8> {
        let segs: Vec<Seg> = good_segments()
            .into_iter()
            .map(|(v, f, fs, ms)| (v - USER_BASE, f, fs, ms))
            .collect();
        let mut elf = make_elf(3, 0, &segs);
        if let Some(p_type) = extra {
            // Turn the last PT_LOAD (data) into the extra header; the data
            // segment goes, the rest still holds the contract.
            let at = 64 + 2 * 56;
            elf[at..at + 4].copy_from_slice(&p_type.to_le_bytes());
        }
        elf
    }

    #[test]
    fn accepts_static_pie() {
        check_user_elf(&make_pie(None)).unwrap();
        check_user_elf(&make_pie(Some(2))).unwrap(); // PT_DYNAMIC
    }

    #[test]
    fn rejects_pie_contract_breaks() {
        let err = |elf: Vec<u8>| check_user_elf(&elf).unwrap_err().to_string();
        assert!(err(make_pie(Some(3))).contains("PT_INTERP"));
        // PT_DYNAMIC only in a static-pie.
        let mut elf = make_elf(2, USER_BASE, &good_segments());
        let at = 64 + 2 * 56;
        elf[at..at + 4].copy_from_slice(&2u32.to_le_bytes());
        assert!(err(elf).contains("PT_DYNAMIC"));
        // W+X and misaligned segments are refused in a static-pie too.
        let mut elf = make_pie(None);
        let flags_at = 64 + 2 * 56 + 4;
        elf[flags_at..flags_at + 4].copy_from_slice(&(PF_R | PF_W | PF_X).to_le_bytes());
        assert!(err(elf).contains("writable and executable"));
        let mut elf = make_pie(None);
        let vaddr_at = 64 + 56 + 16;
        let v = u64::from_le_bytes(elf[vaddr_at..vaddr_at + 8].try_into().unwrap()) + 0x10;
        elf[vaddr_at..vaddr_at + 8].copy_from_slice(&v.to_le_bytes());
        assert!(err(elf).contains("page aligned"));
    }

    #[test]
    fn bad_elves_are_broken() {
        let good = make_elf(2, USER_BASE, &good_segments());
        let bad: BTreeMap<_, _> = bad_elves(&good).into_iter().collect();
        let err = |name: &str| check_user_elf(&bad[name]).unwrap_err().to_string();
        assert!(err("wrong-machine.elf").contains("AArch64"));
        assert!(err("huge.elf").contains("outside user space"));
        assert!(err("wx.elf").contains("writable and executable"));
        let overlap = &bad["overlap.elf"];
        let vaddr = |i: usize| &overlap[64 + i * 56 + 16..64 + i * 56 + 24];
        assert_eq!(vaddr(0), vaddr(1));
    }

    fn programs() -> UserPrograms {
        let mut p = UserPrograms::default();
        for (bin, _) in SYSTEM_PROGRAMS {
            p.elves.insert(
                bin.to_string(),
                format!("ELF of {bin}").repeat(40).into_bytes(),
            );
        }
        let data = DATA_PROGRAMS.iter().map(|(bin, _, _)| bin);
        for name in TEST_PROGRAMS.iter().chain(BENCH_PROGRAMS).chain(data) {
            p.elves
                .insert(name.to_string(), format!("ELF of {name}").into_bytes());
        }
        p
    }

    #[test]
    fn bench_image_runs_ubench() {
        let progs = programs();
        let mut tree = Tree::new();
        add_system(&mut tree, &progs).unwrap();
        add_ubench(&mut tree, &progs).unwrap();
        let bytes = tree.to_image("t").unwrap();
        let img = Image::new(&bytes).unwrap();
        assert_eq!(read(&img, "/bench/ubench"), b"ELF of ubench");
        let list = String::from_utf8(read(&img, "/etc/init.tests")).unwrap();
        assert_eq!(
            list.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>(),
            // Its initial policy: it measures real-time threads.
            ["/bench/ubench Fifo 31"]
        );
    }

    fn read(img: &Image<'_>, path: &str) -> Vec<u8> {
        let e = img.lookup(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        img.read(&e).unwrap().to_vec()
    }

    #[test]
    fn system_and_test_images() {
        let dir = std::env::temp_dir().join(format!("xtask-romfs-{}", std::process::id()));
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("etc/motd"), "hi\n").unwrap();
        fs::write(dir.join("manifest"), "/etc/motd etc/motd\n").unwrap();
        let progs = programs();

        let sys = system_tree(&dir.join("manifest"), &progs).unwrap();
        let mut test = sys.clone();
        add_utest(&mut test, &progs).unwrap();
        fs::remove_dir_all(&dir).unwrap();

        let bytes = sys.to_image("t").unwrap();
        let img = Image::new(&bytes).unwrap();
        assert_eq!(read(&img, "/etc/motd"), b"hi\n");
        assert_eq!(read(&img, "/bin/einit"), progs.get("einit").unwrap());
        assert_eq!(read(&img, "/bin/hello"), progs.get("hello").unwrap());
        assert!(img.lookup("/etc/init.tests").is_err());
        assert!(img.lookup("/tests").is_err());

        let bytes = test.to_image("t").unwrap();
        let img = Image::new(&bytes).unwrap();
        assert_eq!(read(&img, "/bin/einit"), progs.get("einit").unwrap());
        let list = String::from_utf8(read(&img, "/etc/init.tests")).unwrap();
        let listed: Vec<&str> = list
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(' ').next().unwrap_or(l))
            .collect();
        assert!(list.contains("/tests/utest-sched Fifo 31\n"), "{list}");
        let expected: Vec<String> = TEST_PROGRAMS
            .iter()
            .map(|n| format!("/tests/{n}"))
            .collect();
        assert_eq!(listed, expected);
        for (path, name) in expected.iter().zip(TEST_PROGRAMS) {
            assert_eq!(read(&img, path), progs.get(name).unwrap());
        }
        assert_eq!(
            read(&img, "/tests/data/truncated.elf"),
            &progs.get("einit").unwrap()[..TRUNCATED_LEN]
        );
    }

    #[test]
    fn missing_program_is_an_error() {
        let mut progs = programs();
        progs.elves.remove("utest-sched");
        let mut tree = Tree::new();
        assert!(
            add_utest(&mut tree, &progs)
                .unwrap_err()
                .to_string()
                .contains("utest-sched")
        );
    }
}
