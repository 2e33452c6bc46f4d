//! The embedded ROMFS, read on the target with the kernel's reader.

use alloc::format;
use alloc::vec::Vec;
use romfs_builder::{Error, Image};

use super::{TestResult, check};
use crate::romfs;

/// The same file the manifest puts at /etc/motd, read on the host at build time.
const MOTD: &[u8] = include_bytes!("../../romfs/etc/motd");

pub fn embedded_image_valid() -> TestResult {
    let img = romfs::image().map_err(|e| format!("image: {e}"))?;
    check!(
        img.volume_name() == b"kos-system",
        "volume {:?}",
        img.volume_name()
    );
    let stats = img.verify().map_err(|e| format!("verify: {e}"))?;
    check!(stats.files >= 1 && stats.dirs >= 1, "stats {stats:?}");
    Ok(())
}

pub fn lookup_and_read() -> TestResult {
    let img = romfs::image().map_err(|e| format!("image: {e}"))?;
    let entry = img
        .lookup("/etc/motd")
        .map_err(|e| format!("lookup /etc/motd: {e}"))?;
    check!(
        entry.is_file() && entry.size() as usize == MOTD.len(),
        "entry {entry:?}"
    );
    let data = img.read(&entry).map_err(|e| format!("read: {e}"))?;
    check!(data == MOTD, "contents differ from kernel/romfs/etc/motd");
    let etc = img
        .lookup("/etc")
        .map_err(|e| format!("lookup /etc: {e}"))?;
    let names: Vec<&[u8]> = img
        .read_dir(&etc)
        .map_err(|e| format!("read_dir: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.name())
        .collect();
    check!(names.contains(&&b"motd"[..]), "/etc lists {names:?}");
    Ok(())
}

pub fn missing_paths_are_errors() -> TestResult {
    let img = romfs::image().map_err(|e| format!("image: {e}"))?;
    for path in ["/no/such/file", "/etc/motd/below-a-file", "/etc/MOTD"] {
        let r = img.lookup(path);
        check!(r.is_err(), "lookup {path:?} succeeded: {r:?}");
    }
    check!(
        matches!(img.lookup("/no/such/file"), Err(Error::NotFound)),
        "not NotFound"
    );
    let etc = img.lookup("/etc").map_err(|e| format!("{e}"))?;
    check!(
        img.read(&etc).is_err(),
        "reading a directory as a file succeeded"
    );
    Ok(())
}

/// Corrupted copies of the image give errors, never a crash or a hang.
pub fn corrupted_images_rejected() -> TestResult {
    let good = romfs::image()
        .map_err(|e| format!("image: {e}"))?
        .as_bytes()
        .to_vec();
    check!(
        Image::new(&good[..good.len().min(31)]).is_err(),
        "truncated header accepted"
    );
    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xff;
    check!(Image::new(&bad_magic).is_err(), "bad magic accepted");
    let mut bad_sum = good.clone();
    bad_sum[12] ^= 0x01; // superblock checksum
    check!(Image::new(&bad_sum).is_err(), "bad checksum accepted");
    // Flip bytes past the superblock, one at a time: each image either
    // fails to open/verify or still verifies; neither may crash. Every byte
    // of the first 16 KiB (the first files' headers), then every 97th: each
    // try verifies the whole image, so every byte of a megabytes-large
    // image took most of a minute on raspi4b. (The host fuzzes the reader
    // byte by byte: romfs-builder/fuzz.)
    let mut flipped = good.clone();
    let dense = good.len().min(16 * 1024);
    for i in (32..dense).chain((dense..good.len()).step_by(97)) {
        flipped[i] ^= 0x5a;
        if let Ok(img) = Image::new(&flipped) {
            let _ = img.verify();
            let _ = img.lookup("/etc/motd").and_then(|e| img.read(&e));
        }
        flipped[i] = good[i];
    }
    Ok(())
}
