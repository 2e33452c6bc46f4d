//! Helpers shared by the integration tests: scratch directories, tree
//! materialization, the genromfs oracle and a full read-back check.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use romfs_builder::{Image, Kind};

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "romfs-test-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `genromfs -d dir -V volume`; `None` (with a message) if it is not
/// installed, so the oracle tests are skipped rather than failed.
pub fn genromfs(dir: &Path, volume: &str) -> Option<Vec<u8>> {
    let out = std::env::temp_dir().join(format!(
        "romfs-oracle-{}-{}.img",
        std::process::id(),
        dir.file_name().unwrap().to_string_lossy()
    ));
    let status = match Command::new("genromfs")
        .arg("-f")
        .arg(&out)
        .arg("-d")
        .arg(dir)
        .arg("-V")
        .arg(volume)
        .status()
    {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "SKIPPED: genromfs is not installed (apt-get install genromfs); oracle comparison skipped"
            );
            return None;
        }
        Err(e) => panic!("running genromfs: {e}"),
    };
    assert!(status.success(), "genromfs failed on {}", dir.display());
    let bytes = fs::read(&out).unwrap();
    let _ = fs::remove_file(&out);
    Some(bytes)
}

/// Asserts that `ours` equals genromfs's image of `dir` byte for byte.
pub fn assert_matches_genromfs(dir: &Path, ours: &[u8], volume: &str) {
    let Some(theirs) = genromfs(dir, volume) else {
        return;
    };
    if ours != theirs {
        let first = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        panic!(
            "image of {} differs from genromfs: lengths {} vs {}, first difference at {:?}",
            dir.display(),
            ours.len(),
            theirs.len(),
            first.map(|p| format!("{p:#x}"))
        );
    }
}

/// What a host tree holds, by relative path: files' contents and symlinks'
/// targets (directories as `None`).
pub type Listing = BTreeMap<String, Option<Vec<u8>>>;

/// Lists a host directory: regular files with contents, symlink targets,
/// directories.
pub fn host_listing(root: &Path) -> Listing {
    fn go(dir: &Path, prefix: &str, out: &mut Listing) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let path = format!("{prefix}/{name}");
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.insert(path.clone(), None);
                go(&e.path(), &path, out);
            } else if ft.is_symlink() {
                let t = fs::read_link(e.path()).unwrap();
                out.insert(path, Some(t.into_os_string().into_encoded_bytes()));
            } else if ft.is_file() && !name.starts_with('@') {
                out.insert(path, Some(fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = Listing::new();
    go(root, "", &mut out);
    out
}

/// Lists an image the same way, through the reader: walk, resolve hard
/// links, read data; also looks every path up and checks it agrees.
pub fn image_listing(bytes: &[u8]) -> Listing {
    let img = Image::new(bytes).expect("image opens");
    img.verify().expect("image verifies");
    let mut out = Listing::new();
    img.walk(|parents, e| {
        let mut path = String::new();
        for p in parents {
            path.push('/');
            path.push_str(std::str::from_utf8(p).unwrap());
        }
        path.push('/');
        path.push_str(e.name_str().unwrap());
        let r = img.resolve(e).unwrap();
        let looked = img.lookup_no_follow(&path).unwrap();
        assert_eq!(looked, r, "lookup of {path}");
        match r.kind() {
            Kind::Dir => {
                out.insert(path, None);
            }
            Kind::File | Kind::Symlink if !e.name().starts_with(b"@") => {
                out.insert(path, Some(img.read(e).unwrap().to_vec()));
            }
            _ => {}
        }
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    out
}

/// Deterministic pseudo-random bytes (xorshift), for big files.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap();
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

pub fn ln_s(target: &str, path: &Path) {
    symlink(target, path).unwrap();
}

/// Calls every reader entry point on `bytes`, ignoring results: used on
/// corrupted images, where the only requirement is to return (no panic,
/// no endless loop).
pub fn exercise(bytes: &[u8]) {
    let Ok(img) = Image::new(bytes) else {
        return;
    };
    let _ = img.verify();
    let _ = img.volume_name();
    if let Ok(rd) = img.read_dir(&img.root()) {
        for e in rd.flatten() {
            let _ = img.resolve(&e);
            let _ = img.read(&e);
            if let Ok(sub) = img.read_dir(&e) {
                sub.for_each(drop);
            }
        }
    }
    let mut visited = 0;
    let _ = img.walk(|parents, e| {
        let mut path = Vec::new();
        for p in parents {
            path.push(b'/');
            path.extend_from_slice(p);
        }
        path.push(b'/');
        path.extend_from_slice(e.name());
        let _ = img.lookup_bytes(&path, true);
        let _ = img.lookup_bytes(&path, false);
        visited += 1;
        if visited > 10_000 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    for p in ["/", "/a", "/a/b/c", "/./..", "/missing", "a/../a/./b"] {
        let _ = img.lookup(p);
    }
}

/// Sets word `word` (0 = next, 1 = spec.info, 2 = size) of the header at
/// `off` and recomputes its checksum and the superblock's, so the change
/// gets past the checksum checks and reaches the structural ones.
pub fn patch_header(img: &mut [u8], off: usize, word: usize, value: u32) {
    img[off + 4 * word..off + 4 * word + 4].copy_from_slice(&value.to_be_bytes());
    fix_header_checksum(img, off);
}

/// Recomputes the checksum of the header at `off` and of the superblock.
pub fn fix_header_checksum(img: &mut [u8], off: usize) {
    // An earlier corruption may have removed the NUL: then leave it be.
    let Some(nul) = img[off + 16..].iter().position(|&b| b == 0) else {
        return;
    };
    let end = (off + 16 + nul + 1).next_multiple_of(16).min(img.len());
    fix_checksum(&mut img[off..end]);
    fix_superblock(img);
}

/// Recomputes the superblock checksum.
pub fn fix_superblock(img: &mut [u8]) {
    let size = u32::from_be_bytes(img[8..12].try_into().unwrap()) as usize;
    let n = size.min(512).min(img.len()) & !3;
    fix_checksum(&mut img[..n]);
}

fn fix_checksum(region: &mut [u8]) {
    if region.len() < 16 {
        return;
    }
    region[12..16].fill(0);
    let sum = romfs_builder::format::checksum(region);
    region[12..16].copy_from_slice(&0u32.wrapping_sub(sum).to_be_bytes());
}

/// Offsets of every header reachable from the root of a valid image,
/// "." and ".." included.
pub fn header_offsets(bytes: &[u8]) -> Vec<u32> {
    let img = Image::new(bytes).unwrap();
    let mut out = Vec::new();
    let mut dirs = vec![img.root()];
    while let Some(d) = dirs.pop() {
        for e in img.read_dir(&d).unwrap() {
            let e = e.unwrap();
            out.push(e.offset());
            if e.is_dir() && e.name() != b"." {
                dirs.push(e);
            }
        }
    }
    out
}
