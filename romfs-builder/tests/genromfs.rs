//! Byte-for-byte comparison with Debian's genromfs on assorted trees, and a
//! full read-back of every image.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use romfs_builder::{Image, build_from_dir};

const VOLUME: &str = "test volume";

/// Builds `dir`, compares with genromfs, reads everything back.
fn check(dir: &Path) -> Vec<u8> {
    let ours = build_from_dir(dir, VOLUME).unwrap();
    assert_eq!(ours.len() % 1024, 0);
    assert_matches_genromfs(dir, &ours, VOLUME);
    assert_eq!(
        image_listing(&ours),
        host_listing(dir),
        "round trip of {}",
        dir.display()
    );
    ours
}

#[test]
fn empty_tree() {
    let s = Scratch::new("empty");
    let img = check(s.path());
    let image = Image::new(&img).unwrap();
    assert_eq!(image.volume_name(), VOLUME.as_bytes());
    let names: Vec<_> = image
        .read_dir(&image.root())
        .unwrap()
        .map(|e| e.unwrap().name().to_vec())
        .collect();
    assert_eq!(names, [b".".to_vec(), b"..".to_vec()]);
}

#[test]
fn file_sizes_around_alignment() {
    let s = Scratch::new("sizes");
    for (i, len) in [
        0usize, 1, 2, 3, 4, 15, 16, 17, 31, 32, 33, 511, 512, 513, 1023, 1024, 1025,
    ]
    .into_iter()
    .enumerate()
    {
        write(&s.path().join(format!("f{len}")), &noise(len, i as u64 + 1));
    }
    write(&s.path().join("empty"), b"");
    check(s.path());
}

#[test]
fn multi_mib_files() {
    let s = Scratch::new("big");
    write(&s.path().join("three-mib"), &noise(3 << 20, 7));
    write(&s.path().join("odd"), &noise((1 << 20) + 5, 9));
    write(&s.path().join("small"), b"x");
    let img = check(s.path());
    let image = Image::new(&img).unwrap();
    let e = image.lookup("/three-mib").unwrap();
    assert_eq!(image.read(&e).unwrap(), &noise(3 << 20, 7)[..]);
}

#[test]
fn deep_directories() {
    let s = Scratch::new("deep");
    let mut p = s.path().to_path_buf();
    for i in 0..40 {
        p.push(format!("level{i}"));
        write(&p.join("file"), format!("depth {i}").as_bytes());
    }
    write(&s.path().join("level0/sibling/x"), b"sib");
    check(s.path());
}

#[test]
fn long_and_odd_names() {
    let s = Scratch::new("names");
    for len in [1usize, 14, 15, 16, 17, 31, 32, 100, 254, 255] {
        write(&s.path().join("n".repeat(len)), &noise(len, len as u64));
    }
    write(&s.path().join("with space"), b"s");
    write(&s.path().join(".hidden"), b"h");
    write(&s.path().join("backup~"), b"b");
    write(&s.path().join("ünïcödé"), b"u");
    fs::create_dir(s.path().join("d".repeat(255))).unwrap();
    write(
        &s.path().join("d".repeat(255)).join("e".repeat(255)),
        b"deep long",
    );
    check(s.path());
}

#[test]
fn hard_links() {
    let s = Scratch::new("links");
    let p = s.path();
    write(&p.join("a/orig"), b"shared data");
    fs::hard_link(p.join("a/orig"), p.join("top")).unwrap();
    fs::hard_link(p.join("a/orig"), p.join("a/same-dir")).unwrap();
    write(&p.join("b/c/deep"), b"deep data");
    fs::hard_link(p.join("b/c/deep"), p.join("deep-link")).unwrap();
    write(&p.join("exe"), b"#!/bin/sh\n");
    chmod(&p.join("exe"), 0o755);
    fs::hard_link(p.join("exe"), p.join("b/exe-link")).unwrap();
    write(&p.join("empty1"), b"");
    fs::hard_link(p.join("empty1"), p.join("b/empty2")).unwrap();
    ln_s("exe", &p.join("sym"));
    fs::hard_link(p.join("sym"), p.join("b/sym-link")).unwrap();
    mkfifo(&p.join("pipe"));
    fs::hard_link(p.join("pipe"), p.join("b/pipe-link")).unwrap();
    let img = check(p);
    let image = Image::new(&img).unwrap();
    let a = image.lookup("/top").unwrap();
    let b = image.lookup("/a/same-dir").unwrap();
    assert_eq!(a.offset(), b.offset(), "hard links resolve to one header");
}

#[test]
fn modes_symlinks_fifos_and_device_notation() {
    let s = Scratch::new("special");
    let p = s.path();
    write(&p.join("plain"), b"p");
    write(&p.join("exec-user"), b"x");
    chmod(&p.join("exec-user"), 0o700);
    write(&p.join("exec-other"), b"x");
    chmod(&p.join("exec-other"), 0o601);
    // Empty, so that it can be scanned without search permission.
    fs::create_dir(p.join("noexec-dir")).unwrap();
    chmod(&p.join("noexec-dir"), 0o644);
    ln_s("plain", &p.join("rel-link"));
    ln_s("/plain", &p.join("abs-link"));
    ln_s("0123456789abcdef", &p.join("link16"));
    ln_s("missing/target", &p.join("dangling"));
    mkfifo(&p.join("fifo"));
    for name in [
        "@tty1,c,4,1",
        "@sda,b,8,0",
        "@pipe,p,0,0",
        "@big,c,70000,1",
        "@neg,c,-1,5",
        "@short,c,4",
        "@nonempty,c,1,1",
    ] {
        write(
            &p.join(name),
            if name.contains("nonempty") { b"x" } else { b"" },
        );
    }
    let ours = build_from_dir(p, VOLUME).unwrap();
    assert_matches_genromfs(p, &ours, VOLUME);

    let image = Image::new(&ours).unwrap();
    image.verify().unwrap();
    assert!(image.lookup("/exec-user").unwrap().is_executable());
    assert!(image.lookup("/exec-other").unwrap().is_executable());
    assert!(!image.lookup("/plain").unwrap().is_executable());
    assert!(!image.lookup("/noexec-dir").unwrap().is_executable());
    assert_eq!(image.lookup("/tty1").unwrap().device(), Some((4, 1)));
    assert_eq!(
        image.lookup("/sda").unwrap().kind(),
        romfs_builder::Kind::BlockDev
    );
    assert_eq!(
        image.lookup("/pipe").unwrap().kind(),
        romfs_builder::Kind::Fifo
    );
    assert!(image.lookup("/@short,c,4").unwrap().is_file());
    assert_eq!(
        image.read(&image.lookup("/rel-link").unwrap()).unwrap(),
        b"p"
    );
    assert_eq!(
        image.read(&image.lookup("/abs-link").unwrap()).unwrap(),
        b"p"
    );
    assert_eq!(
        image.lookup("/dangling"),
        Err(romfs_builder::Error::NotFound)
    );
    let link = image.lookup_no_follow("/dangling").unwrap();
    assert_eq!(image.read(&link).unwrap(), b"missing/target");
}

#[test]
fn bad_device_type_names_the_file() {
    let s = Scratch::new("baddev");
    write(&s.path().join("@x,z,1,1"), b"");
    let err = build_from_dir(s.path(), VOLUME).unwrap_err().to_string();
    assert!(
        err.contains("@x,z,1,1") && err.contains("device type"),
        "{err}"
    );
}

#[test]
fn many_entries_in_hash_order() {
    let s = Scratch::new("many");
    for i in 0..150 {
        write(
            &s.path().join(format!("file-{i:03}")),
            format!("{i}").as_bytes(),
        );
    }
    for i in 0..20 {
        write(&s.path().join(format!("dir-{i}/inner-{i}")), b"in");
    }
    check(s.path());
}

#[test]
fn volume_names() {
    let s = Scratch::new("volumes");
    write(&s.path().join("f"), b"f");
    for vol in [
        "",
        "a",
        "fifteen chars!!",
        "sixteen chars!!!",
        &"V".repeat(600),
    ] {
        let ours = build_from_dir(s.path(), vol).unwrap();
        assert_matches_genromfs(s.path(), &ours, vol);
        assert_eq!(Image::new(&ours).unwrap().volume_name(), vol.as_bytes());
    }
}

#[test]
fn image_exactly_one_kib_is_not_padded() {
    let s = Scratch::new("kib");
    // superblock 32 + "." 32 + ".." 32 + header 32 + 896 data = 1024.
    write(&s.path().join("f"), &[7; 896]);
    let ours = check(s.path());
    assert_eq!(ours.len(), 1024);
    assert_eq!(Image::new(&ours).unwrap().size(), 1024);
}
