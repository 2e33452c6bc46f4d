//! Feeds arbitrary bytes to the romfs reader and walks the whole image.
//! The reader must return (Ok or Err) without panicking, reading out of
//! bounds or looping forever, whatever the input.
//!
//! The first byte selects a mode: odd values use the rest of the input as
//! is; even values first give it a valid magic, size and superblock checksum,
//! so that most inputs get past `Image::new` and exercise the header checks.
#![no_main]

use core::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use romfs_builder::Image;
use romfs_builder::format;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode % 2 == 0 && bytes.len() >= 32 {
        let size = (bytes.len() as u32) & !15;
        bytes[..8].copy_from_slice(format::MAGIC);
        bytes[8..12].copy_from_slice(&size.to_be_bytes());
        bytes[12..16].fill(0);
        let n = size.min(format::SUPERBLOCK_CHECKSUM_LEN) as usize;
        let sum = format::checksum(&bytes[..n]);
        bytes[12..16].copy_from_slice(&0u32.wrapping_sub(sum).to_be_bytes());
    }
    exercise(&bytes);
});

fn exercise(bytes: &[u8]) {
    let Ok(img) = Image::new(bytes) else {
        return;
    };
    let _ = img.verify();
    if let Ok(dir) = img.read_dir(&img.root()) {
        for entry in dir.flatten() {
            let _ = img.read(&entry);
            if let Ok(sub) = img.read_dir(&entry) {
                sub.for_each(drop);
            }
        }
    }
    // Look every walked entry up again by its path (follows links).
    let _ = img.walk(|parents, entry| {
        let mut path = [0u8; 1024];
        let mut len = 0;
        for name in parents.iter().chain(core::iter::once(&entry.name())) {
            if len + 1 + name.len() > path.len() {
                return ControlFlow::Continue(());
            }
            path[len] = b'/';
            path[len + 1..len + 1 + name.len()].copy_from_slice(name);
            len += 1 + name.len();
        }
        let _ = img.lookup_bytes(&path[..len], true);
        let _ = img.lookup_bytes(&path[..len], false);
        let _ = img.resolve(entry);
        ControlFlow::Continue(())
    });
    for path in ["/", "/bin/einit", "/./../a/b", "a/b/c/d/e/f"] {
        let _ = img.lookup(path);
    }
}
