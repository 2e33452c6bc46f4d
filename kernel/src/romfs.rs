//! The ROMFS image built into the kernel: every executable and data file of
//! the system (`path` in `Task.Create` names a file here). The image is made
//! at build time from `kernel/romfs/manifest` (by xtask or build.rs) and read
//! with romfs-builder's `no_std`, zero-copy reader, which treats it as
//! untrusted input like any other.

use romfs_builder::{Error, Image};

use crate::println;

/// Page-aligned bytes: ROMFS aligns file data to 16 bytes within the
/// image, so in memory too, and a segment loaded from a file is copied 64
/// bytes a turn (the kernel's `memcpy` wants source and destination aligned
/// alike; an ELF segment's offset and address agree within a page).
#[repr(C, align(4096))]
struct PageAligned<T: ?Sized>(T);

static IMAGE: &PageAligned<[u8]> =
    &PageAligned(*include_bytes!(concat!(env!("OUT_DIR"), "/romfs.img")));

/// The embedded image, its superblock checked once (a lookup need not
/// checksum it again: it never changes).
pub fn image() -> Result<Image<'static>, Error> {
    static CHECKED: spin::Once<Result<Image<'static>, Error>> = spin::Once::new();
    *CHECKED.call_once(|| Image::new(&IMAGE.0))
}

/// Check the image at boot and show `/etc/motd` if it has one.
pub fn init() {
    let stats = image().and_then(|img| img.verify().map(|s| (img, s)));
    match stats {
        Ok((img, s)) => {
            println!(
                "romfs: volume {:?}, {} bytes, {} files, {} directories",
                core::str::from_utf8(img.volume_name()).unwrap_or("?"),
                img.size(),
                s.files,
                s.dirs
            );
            if let Ok(motd) = img.lookup("/etc/motd").and_then(|e| img.read(&e)) {
                println!(
                    "{}",
                    core::str::from_utf8(motd)
                        .unwrap_or("(motd is not UTF-8)")
                        .trim_end()
                );
            }
        }
        Err(e) => println!("romfs: embedded image unusable: {e}"),
    }
}

/// The contents of the regular file at `path` (symlinks followed).
pub fn file(path: &str) -> Result<&'static [u8], Error> {
    let img = image()?;
    let entry = img.lookup(path)?;
    img.read(&entry)
}
