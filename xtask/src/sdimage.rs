//! `cargo xtask image --board rpi4`: a flashable SD card image for the
//! Raspberry Pi 4. An MBR with one FAT32 partition (bootable, type 0x0C)
//! holding the kernel, `config.txt`, the Pi 4 device tree and the GPU
//! firmware that loads them. Built in memory with `fatfs` and `mbrman`: no
//! root, no loop devices, no external tools.

use std::fs;
use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::kernel_build::{self, KernelFlavor, Suite};
use crate::{Board, setup};

/// The whole image: 64 MiB (the partition starts at 1 MiB, as SD cards
/// are erased in blocks of that order).
pub const IMAGE_SIZE: u64 = 64 << 20;
/// Sector size of the partition table and the FAT volume.
pub const SECTOR: u64 = 512;
/// First sector of the boot partition.
pub const PARTITION_START_LBA: u32 = 2048;
/// MBR partition type: FAT32 with LBA addressing.
pub const FAT32_LBA: u8 = 0x0C;
/// The volume label (11 bytes, space-padded).
pub const VOLUME_LABEL: [u8; 11] = *b"KOS BOOT   ";

/// The firmware files the Pi 4's boot ROM and GPU need, and where each
/// comes from.
pub const FIRMWARE: [(&str, &str); 3] = [
    (
        "start4.elf",
        "the GPU firmware: Debian package raspi-firmware (non-free-firmware, \
         /usr/lib/raspi-firmware/), or boot/ of https://github.com/raspberrypi/firmware",
    ),
    (
        "fixup4.dat",
        "its memory split: Debian package raspi-firmware (/usr/lib/raspi-firmware/), \
         or boot/ of https://github.com/raspberrypi/firmware",
    ),
    (
        "bcm2711-rpi-4-b.dtb",
        "the Pi 4 device tree: an arm64 linux-image package \
         (/usr/lib/linux-image-*/broadcom/), or boot/ of https://github.com/raspberrypi/firmware",
    ),
];

/// `config.txt`: what the firmware must do for this kernel.
pub const CONFIG_TXT: &str = "\
# Written by `cargo xtask image`: the settings this kernel needs.
# A 64-bit kernel, loaded at 0x80000 and entered at EL2; the other cores
# wait on the spin table.
arm_64bit=1
kernel=kernel8.img
# The kernel's console is the PL011 (UART0) on GPIO 14 (TX) and 15 (RX),
# 115200 8N1: move Bluetooth off it to the mini UART, and keep the UART on.
dtoverlay=disable-bt
enable_uart=1
# The kernel drives the GIC-400 (the Pi 4's default, said so it stays).
enable_gic=1
";

/// `cargo xtask image`: finds the firmware (before building anything),
/// builds the kernel (the system, or with `utest` the user-test kernel) and
/// writes the image; returns its path.
pub fn build(
    board: Board,
    firmware: Option<&Path>,
    utest: bool,
    out: Option<PathBuf>,
) -> Result<PathBuf> {
    if board != Board::Rpi4 {
        bail!("an SD card image is for the Raspberry Pi 4: use --board rpi4");
    }
    let fw = find_firmware(firmware)?;
    setup::ensure_target()?;
    setup::ensure_tools(setup::Need::Optional)?;
    let flavor = KernelFlavor {
        board,
        suite: if utest { Suite::Utest } else { Suite::None },
        qemu_exit: utest,
    };
    let kernel = kernel_build::build_image(flavor)?;
    let out = match out {
        Some(p) => p,
        None => kernel
            .parent()
            .context("the kernel image has no folder")?
            .join("sdcard.img"),
    };
    let bytes = fs::read(&kernel).with_context(|| format!("reading {}", kernel.display()))?;
    write_image(&out, &boot_files(&bytes, &fw)?)?;
    Ok(out)
}

/// Where the firmware files were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    pub start4: PathBuf,
    pub fixup4: PathBuf,
    pub dtb: PathBuf,
}

/// Finds the firmware files: in `dir` if given (the device tree there or
/// in its `broadcom/`), else where Debian's packages put them. An error
/// names every missing file and where to get it.
pub fn find_firmware(dir: Option<&Path>) -> Result<Firmware> {
    find_firmware_in(dir, Path::new("/"))
}

/// [`find_firmware`], with Debian's files looked for under `root`.
fn find_firmware_in(dir: Option<&Path>, root: &Path) -> Result<Firmware> {
    let candidates: [Vec<PathBuf>; 3] = match dir {
        Some(d) => [
            vec![d.join("start4.elf")],
            vec![d.join("fixup4.dat")],
            vec![
                d.join("bcm2711-rpi-4-b.dtb"),
                d.join("broadcom/bcm2711-rpi-4-b.dtb"),
            ],
        ],
        None => [
            vec![root.join("usr/lib/raspi-firmware/start4.elf")],
            vec![root.join("usr/lib/raspi-firmware/fixup4.dat")],
            debian_dtbs(&root.join("usr/lib")),
        ],
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for ((name, source), paths) in FIRMWARE.iter().zip(candidates) {
        match paths.into_iter().find(|p| p.is_file()) {
            Some(p) => found.push(p),
            None => missing.push(format!("  - {name}: {source}")),
        }
    }
    if !missing.is_empty() {
        let place = match dir {
            Some(d) => format!("in {}", d.display()),
            None => "in Debian's packages (no --firmware DIR given)".into(),
        };
        bail!(
            "firmware files missing {place}:\n{}\nGive a folder holding them with --firmware DIR.",
            missing.join("\n")
        );
    }
    let mut it = found.into_iter();
    // Three candidates lists, three found: `missing` is empty.
    let (Some(start4), Some(fixup4), Some(dtb)) = (it.next(), it.next(), it.next()) else {
        bail!("firmware lookup: internal error");
    };
    Ok(Firmware {
        start4,
        fixup4,
        dtb,
    })
}

/// The Pi 4 device trees arm64 linux-image packages install under `lib`
/// (`linux-image-<version>/broadcom/`), the greatest version name first.
fn debian_dtbs(lib: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("linux-image-"))
        })
        .map(|p| p.join("broadcom/bcm2711-rpi-4-b.dtb"))
        .collect();
    v.sort();
    v.reverse();
    v
}

/// The files of the boot partition, in the order they are written.
pub fn boot_files(kernel: &[u8], fw: &Firmware) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let read = |p: &Path| fs::read(p).with_context(|| format!("reading {}", p.display()));
    Ok(vec![
        ("config.txt", CONFIG_TXT.as_bytes().to_vec()),
        ("start4.elf", read(&fw.start4)?),
        ("fixup4.dat", read(&fw.fixup4)?),
        ("bcm2711-rpi-4-b.dtb", read(&fw.dtb)?),
        ("kernel8.img", kernel.to_vec()),
    ])
}

/// Writes the image to `out`: the partition table, then the FAT32 volume
/// holding `files`.
pub fn write_image(out: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    let part_bytes = IMAGE_SIZE - u64::from(PARTITION_START_LBA) * SECTOR;
    let volume = fat_volume(part_bytes, files)?;

    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    f.set_len(IMAGE_SIZE)?;
    let mut mbr = mbrman::MBR::new_from(&mut f, SECTOR as u32, *b"KOS4")
        .context("making the partition table")?;
    mbr[1] = mbrman::MBRPartitionEntry {
        boot: mbrman::BOOT_ACTIVE,
        first_chs: mbrman::CHS::empty(),
        sys: FAT32_LBA,
        last_chs: mbrman::CHS::empty(),
        starting_lba: PARTITION_START_LBA,
        sectors: (part_bytes / SECTOR) as u32,
    };
    mbr.write_into(&mut f)
        .context("writing the partition table")?;
    f.seek(SeekFrom::Start(u64::from(PARTITION_START_LBA) * SECTOR))?;
    f.write_all(&volume)
        .with_context(|| format!("writing {}", out.display()))?;
    f.sync_all()?;
    Ok(())
}

/// Every file's timestamp: the first valid FAT date, 1980-01-01 00:00, so
/// an image depends only on its contents (fatfs's own default, without a
/// clock, writes month 0, which checkers reject).
#[derive(Debug)]
struct FixedTime;

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 1980,
            month: 1,
            day: 1,
        }
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

static FIXED_TIME: FixedTime = FixedTime;

/// A FAT32 volume of `size` bytes holding `files` in its root.
fn fat_volume(size: u64, files: &[(&str, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut disk = Cursor::new(vec![0u8; size as usize]);
    fatfs::format_volume(
        &mut disk,
        fatfs::FormatVolumeOptions::new()
            .fat_type(fatfs::FatType::Fat32)
            .bytes_per_cluster(512)
            .volume_label(VOLUME_LABEL),
    )
    .context("formatting the FAT32 volume")?;
    {
        let options = fatfs::FsOptions::new().time_provider(&FIXED_TIME);
        let fs =
            fatfs::FileSystem::new(&mut disk, options).context("opening the new FAT32 volume")?;
        for (name, bytes) in files {
            let mut file = fs
                .root_dir()
                .create_file(name)
                .with_context(|| format!("creating {name} in the FAT volume"))?;
            file.truncate()?;
            file.write_all(bytes)
                .with_context(|| format!("writing {name} into the FAT volume (full?)"))?;
            file.flush()?;
        }
        fs.unmount().context("closing the FAT32 volume")?;
    }
    Ok(disk.into_inner())
}

/// Reads the boot partition of `img` back with mtools (which finds the
/// partition through the MBR itself) into `out`, and checks each file
/// against what went in: `config.txt`, the firmware files of `fw_dir`, and
/// the user-test kernel ([`build`] with `utest`).
pub fn read_back_with_mtools(img: &Path, out: &Path, fw_dir: &Path) -> Result<()> {
    fs::create_dir_all(out)?;
    let start = partition_start(&fs::read(img)?)?;
    // mtools reads the FAT volume at that offset (its own `partition=`
    // refuses images it takes for "big disks" on some builds).
    let volume = format!("{}@@{}", img.display(), start);
    let kernel = KernelFlavor {
        board: Board::Rpi4,
        suite: Suite::Utest,
        qemu_exit: true,
    }
    .image_path();
    let expected: [(&str, Vec<u8>); 5] = [
        ("config.txt", CONFIG_TXT.as_bytes().to_vec()),
        ("start4.elf", fs::read(fw_dir.join("start4.elf"))?),
        ("fixup4.dat", fs::read(fw_dir.join("fixup4.dat"))?),
        (
            "bcm2711-rpi-4-b.dtb",
            fs::read(fw_dir.join("bcm2711-rpi-4-b.dtb"))?,
        ),
        ("kernel8.img", fs::read(&kernel)?),
    ];
    for (name, want) in &expected {
        let dest = out.join(name);
        let _ = fs::remove_file(&dest);
        let status = std::process::Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-n", "-o", "-i", &volume, &format!("::/{name}")])
            .arg(&dest)
            .status()
            .context("running mcopy (mtools)")?;
        if !status.success() {
            bail!("mcopy ::/{name} failed ({status}): the FAT volume is unreadable");
        }
        let got = fs::read(&dest)?;
        if &got != want {
            bail!(
                "{name}: read back {} bytes that differ from the {} written",
                got.len(),
                want.len()
            );
        }
    }
    Ok(())
}

/// The byte offset of the bootable FAT32 partition, read from the MBR by
/// hand (not with the library that wrote it).
pub fn partition_start(image: &[u8]) -> Result<u64> {
    if image.len() < 512 || image[510..512] != [0x55, 0xAA] {
        bail!("no MBR boot signature");
    }
    let e = &image[446..462];
    if e[0] != 0x80 || e[4] != FAT32_LBA {
        bail!(
            "partition 1 is not a bootable FAT32 (LBA) partition: flag {:#x}, type {:#x}",
            e[0],
            e[4]
        );
    }
    let lba = u32::from_le_bytes([e[8], e[9], e[10], e[11]]);
    let sectors = u32::from_le_bytes([e[12], e[13], e[14], e[15]]);
    let end = (u64::from(lba) + u64::from(sectors)) * SECTOR;
    if lba == 0 || end > image.len() as u64 {
        bail!("partition 1 ({lba}+{sectors} sectors) lies outside the image");
    }
    Ok(u64::from(lba) * SECTOR)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-sdimage-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn fake_firmware(dir: &Path) {
        fs::write(dir.join("start4.elf"), vec![0x5A; 3000]).unwrap();
        fs::write(dir.join("fixup4.dat"), b"fixup").unwrap();
        fs::create_dir_all(dir.join("broadcom")).unwrap();
        fs::write(
            dir.join("broadcom/bcm2711-rpi-4-b.dtb"),
            [0xD0, 0x0D, 0xFE, 0xED],
        )
        .unwrap();
    }

    #[test]
    fn missing_firmware_is_an_error_naming_each_file() {
        let d = temp_dir("missing");
        fs::write(d.join("fixup4.dat"), b"x").unwrap();
        let e = format!("{:#}", find_firmware(Some(&d)).unwrap_err());
        assert!(e.contains("start4.elf"), "{e}");
        assert!(e.contains("bcm2711-rpi-4-b.dtb"), "{e}");
        assert!(!e.contains("  - fixup4.dat"), "{e}");
        assert!(e.contains("--firmware DIR"), "{e}");
    }

    #[test]
    fn debian_packages_are_found() {
        let root = temp_dir("debian");
        let fw = root.join("usr/lib/raspi-firmware");
        fs::create_dir_all(&fw).unwrap();
        fs::write(fw.join("start4.elf"), b"s").unwrap();
        fs::write(fw.join("fixup4.dat"), b"f").unwrap();
        // Without a linux-image package the device tree is missing, and
        // only it is named.
        let e = format!("{:#}", find_firmware_in(None, &root).unwrap_err());
        assert!(
            e.contains("bcm2711-rpi-4-b.dtb") && !e.contains("  - start4.elf"),
            "{e}"
        );
        for v in ["6.1.0-25-arm64", "6.1.0-28-arm64"] {
            let b = root.join(format!("usr/lib/linux-image-{v}/broadcom"));
            fs::create_dir_all(&b).unwrap();
            fs::write(b.join("bcm2711-rpi-4-b.dtb"), v).unwrap();
        }
        let found = find_firmware_in(None, &root).unwrap();
        assert_eq!(found.start4, fw.join("start4.elf"));
        assert!(
            found
                .dtb
                .to_str()
                .unwrap()
                .contains("linux-image-6.1.0-28-arm64")
        );
    }

    #[test]
    fn image_has_the_partition_and_the_files() {
        let d = temp_dir("image");
        fake_firmware(&d);
        let fw = find_firmware(Some(&d)).unwrap();
        assert!(fw.dtb.ends_with("broadcom/bcm2711-rpi-4-b.dtb"));
        let kernel: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let files = boot_files(&kernel, &fw).unwrap();
        let img = d.join("sd.img");
        write_image(&img, &files).unwrap();

        let bytes = fs::read(&img).unwrap();
        assert_eq!(bytes.len() as u64, IMAGE_SIZE);
        // The partition table, read by hand: bootable FAT32 from 1 MiB to
        // the end of the image.
        let start = partition_start(&bytes).unwrap();
        assert_eq!(start, u64::from(PARTITION_START_LBA) * SECTOR);
        let sectors = u32::from_le_bytes(bytes[458..462].try_into().unwrap()) as u64;
        assert_eq!(
            u64::from(PARTITION_START_LBA) + sectors,
            IMAGE_SIZE / SECTOR
        );
        let mut broken = bytes.clone();
        broken[446 + 4] = 0x83;
        assert!(partition_start(&broken).is_err());
        // The volume, read back.
        let mut vol = Cursor::new(bytes[start as usize..].to_vec());
        let fs = fatfs::FileSystem::new(&mut vol, fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), fatfs::FatType::Fat32);
        for (name, want) in &files {
            let mut got = Vec::new();
            fs.root_dir()
                .open_file(name)
                .unwrap()
                .read_to_end(&mut got)
                .unwrap();
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn config_sets_what_the_kernel_needs() {
        for line in [
            "arm_64bit=1",
            "enable_uart=1",
            "dtoverlay=disable-bt",
            "enable_gic=1",
            "kernel=kernel8.img",
        ] {
            assert!(CONFIG_TXT.lines().any(|l| l == line), "{line}");
        }
    }
}
