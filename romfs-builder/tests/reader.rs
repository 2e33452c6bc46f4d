//! Reader behaviour on valid images built in memory and on hand-made
//! corruptions: every bad image must give the right error, never a panic
//! or a hang.

mod common;

use common::*;
use romfs_builder::{Content, Error, Image, Kind, Tree};

fn sample() -> Vec<u8> {
    let mut t = Tree::new();
    t.add_file("/bin/einit", b"\x7fELF init".to_vec(), true)
        .unwrap();
    t.add_file("/etc/hosts", b"127.0.0.1 localhost\n".to_vec(), false)
        .unwrap();
    t.add_dir("/tmp").unwrap();
    t.add("/etc/link", Content::Symlink(b"hosts".to_vec()))
        .unwrap();
    t.add("/abs", Content::Symlink(b"/bin/einit".to_vec()))
        .unwrap();
    t.add("/dev/console", Content::CharDev { major: 5, minor: 1 })
        .unwrap();
    t.add_hard_link("/bin/init", "/bin/einit").unwrap();
    t.to_image("sample").unwrap()
}

fn offset_of(img: &[u8], path: &str) -> usize {
    Image::new(img)
        .unwrap()
        .lookup_no_follow(path)
        .unwrap()
        .offset() as usize
}

#[test]
fn lookup_read_and_list() {
    let bytes = sample();
    let img = Image::new(&bytes).unwrap();
    assert_eq!(img.volume_name(), b"sample");
    let e = img.lookup("/bin/einit").unwrap();
    assert_eq!(
        (e.kind(), e.size(), e.is_executable()),
        (Kind::File, 9, true)
    );
    assert_eq!(e.mode(), 0o100_755);
    assert_eq!(img.read(&e).unwrap(), b"\x7fELF init");
    assert_eq!(
        img.lookup("bin/init").unwrap(),
        e,
        "hard link resolves to the data"
    );
    assert_eq!(
        img.read(&img.lookup("/etc/link").unwrap()).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    assert_eq!(img.lookup("/abs").unwrap(), e);
    assert_eq!(img.lookup_no_follow("/abs").unwrap().kind(), Kind::Symlink);
    assert_eq!(img.lookup("//etc/./../etc//hosts").unwrap().size(), 20);
    assert_eq!(img.lookup("/dev/console").unwrap().device(), Some((5, 1)));
    assert_eq!(img.lookup("/").unwrap().kind(), Kind::Dir);
    assert_eq!(img.lookup("/..").unwrap().kind(), Kind::Dir);
    let names: Vec<_> = img
        .read_dir(&img.lookup("/etc").unwrap())
        .unwrap()
        .map(|e| e.unwrap().name().to_vec())
        .collect();
    assert_eq!(names, [&b"."[..], b"..", b"hosts", b"link"]);
    let stats = img.verify().unwrap();
    assert_eq!(
        (stats.dirs, stats.files, stats.hard_links, stats.special),
        (4, 4, 1, 1)
    );
}

#[test]
fn request_errors() {
    let bytes = sample();
    let img = Image::new(&bytes).unwrap();
    assert_eq!(img.lookup("/nope"), Err(Error::NotFound));
    assert_eq!(img.lookup("/etc/hosts/x"), Err(Error::NotADirectory));
    assert_eq!(img.read(&img.lookup("/etc").unwrap()), Err(Error::NotAFile));
    assert!(matches!(
        img.read_dir(&img.lookup("/etc/hosts").unwrap()),
        Err(Error::NotADirectory)
    ));
    assert_eq!(img.lookup(&"x".repeat(256)), Err(Error::NameTooLong));
    assert_eq!(img.lookup(&"/".repeat(5000)), Err(Error::PathTooLong));
}

#[test]
fn symlink_loops_are_detected() {
    let mut t = Tree::new();
    t.add("/a", Content::Symlink(b"b".to_vec())).unwrap();
    t.add("/b", Content::Symlink(b"/a".to_vec())).unwrap();
    t.add("/self", Content::Symlink(b"self/x".to_vec()))
        .unwrap();
    let bytes = t.to_image("loops").unwrap();
    let img = Image::new(&bytes).unwrap();
    assert_eq!(img.lookup("/a"), Err(Error::LoopDetected));
    assert_eq!(img.lookup("/self"), Err(Error::LoopDetected));
    assert_eq!(img.lookup_no_follow("/a").unwrap().kind(), Kind::Symlink);
    img.verify().unwrap();
}

#[test]
fn superblock_errors() {
    let good = sample();
    assert_eq!(
        Image::new(&good[..10]).unwrap_err(),
        Error::Truncated { offset: 0 }
    );
    let mut bad = good.clone();
    bad[0] = b'+';
    assert_eq!(Image::new(&bad).unwrap_err(), Error::BadMagic);
    let mut bad = good.clone();
    bad[20] ^= 1;
    assert_eq!(
        Image::new(&bad).unwrap_err(),
        Error::BadChecksum { offset: 0 }
    );
    let size = Image::new(&good).unwrap().size() as usize;
    assert_eq!(
        Image::new(&good[..size - 16]).unwrap_err(),
        Error::Truncated { offset: 0 }
    );
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&7u32.to_be_bytes());
    fix_superblock(&mut bad);
    assert_eq!(Image::new(&bad).unwrap_err(), Error::BadSize { size: 7 });
}

#[test]
fn header_checksum_is_checked() {
    let mut bytes = sample();
    let off = offset_of(&bytes, "/etc/hosts");
    bytes[off + 17] ^= 0x20; // "hosts" -> "hOsts"
    fix_superblock(&mut bytes);
    let img = Image::new(&bytes).unwrap();
    assert_eq!(
        img.lookup("/etc/hosts"),
        Err(Error::BadChecksum { offset: off as u32 })
    );
    assert_eq!(img.verify(), Err(Error::BadChecksum { offset: off as u32 }));
}

#[test]
fn bad_offsets_are_rejected() {
    let good = sample();
    let off = offset_of(&good, "/etc/hosts");
    for (next, want) in [
        (
            0x7fff_fff0 | 2,
            Error::BadOffset {
                offset: 0x7fff_fff0,
            },
        ),
        (16 | 2, Error::BadOffset { offset: 16 }),
    ] {
        let mut bytes = good.clone();
        patch_header(&mut bytes, off, 0, next);
        let img = Image::new(&bytes).unwrap();
        assert_eq!(img.verify(), Err(want));
    }
    // Hard link targets are full offsets: misaligned ones are rejected.
    let mut bytes = good.clone();
    let link = init_link_offset(&bytes);
    patch_header(&mut bytes, link, 1, off as u32 + 4);
    let img = Image::new(&bytes).unwrap();
    assert_eq!(
        img.lookup("/bin/init"),
        Err(Error::BadOffset {
            offset: off as u32 + 4
        })
    );
}

#[test]
fn data_out_of_bounds() {
    let mut bytes = sample();
    let off = offset_of(&bytes, "/etc/hosts");
    patch_header(&mut bytes, off, 2, 0x10_0000);
    let img = Image::new(&bytes).unwrap();
    assert_eq!(
        img.lookup("/etc/hosts"),
        Err(Error::DataOutOfBounds { offset: off as u32 })
    );
}

#[test]
fn unterminated_name() {
    let mut t = Tree::new();
    t.add_file("/f", vec![], false).unwrap();
    let mut bytes = t.to_image("v").unwrap();
    let size = Image::new(&bytes).unwrap().size() as usize;
    let off = offset_of(&bytes, "/f");
    assert_eq!(off + 32, size, "the file is the last header");
    bytes[off + 16..size].fill(b'f');
    fix_superblock(&mut bytes);
    let img = Image::new(&bytes).unwrap();
    assert_eq!(img.verify(), Err(Error::BadName { offset: off as u32 }));
}

#[test]
fn next_chain_cycle() {
    let mut bytes = sample();
    let off = offset_of(&bytes, "/etc/link");
    let low = u32::from_be_bytes(bytes[off..off + 4].try_into().unwrap()) & 0xf;
    patch_header(&mut bytes, off, 0, off as u32 | low);
    let img = Image::new(&bytes).unwrap();
    assert_eq!(img.lookup("/etc/missing"), Err(Error::LoopDetected));
    assert_eq!(img.verify(), Err(Error::LoopDetected));
}

#[test]
fn directory_pointing_at_ancestor() {
    let mut bytes = sample();
    let off = offset_of(&bytes, "/tmp");
    let root_first = offset_of(&bytes, "/.");
    patch_header(&mut bytes, off, 1, root_first as u32);
    let img = Image::new(&bytes).unwrap();
    assert!(matches!(
        img.verify(),
        Err(Error::LoopDetected | Error::TooDeep)
    ));
    // Lookups through the cycle still terminate (each step is bounded).
    assert_eq!(img.lookup("/tmp/tmp/tmp/tmp/bin/einit").unwrap().size(), 9);
}

#[test]
fn hard_link_cycle() {
    let mut bytes = sample();
    let link = init_link_offset(&bytes);
    patch_header(&mut bytes, link, 1, link as u32);
    let img = Image::new(&bytes).unwrap();
    assert_eq!(img.lookup("/bin/init"), Err(Error::LoopDetected));
    assert_eq!(img.verify(), Err(Error::LoopDetected));
}

#[test]
fn too_deep_for_walk() {
    let mut t = Tree::new();
    let path = "/d".repeat(romfs_builder::reader::MAX_DEPTH);
    t.add_file(&format!("{path}/f"), b"deep".to_vec(), false)
        .unwrap_err();
    t.add_file(&format!("{}/f", &path[2..]), b"deep".to_vec(), false)
        .unwrap();
    let bytes = t.to_image("deep").unwrap();
    let img = Image::new(&bytes).unwrap();
    img.verify().unwrap();
    assert_eq!(
        img.read(&img.lookup(&format!("{}/f", &path[2..])).unwrap())
            .unwrap(),
        b"deep"
    );
}

#[test]
fn errors_display_their_problem() {
    assert!(
        Error::BadChecksum { offset: 0x40 }
            .to_string()
            .contains("0x40")
    );
    assert!(Error::LoopDetected.to_string().contains("loop"));
}

#[test]
fn exercise_survives_garbage() {
    let good = sample();
    for cut in 0..good.len().min(600) {
        exercise(&good[..cut]);
    }
    for i in 0..good.len().min(700) {
        let mut b = good.clone();
        b[i] ^= 0xff;
        exercise(&b);
        fix_superblock(&mut b);
        exercise(&b);
    }
}

/// Offset of the sample's `/bin/init` entry header (a hard link), as listed
/// in `/bin` (lookup would follow the link to its target).
fn init_link_offset(bytes: &[u8]) -> usize {
    let img = Image::new(bytes).unwrap();
    img.read_dir(&img.lookup("/bin").unwrap())
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.name() == b"init")
        .unwrap()
        .offset() as usize
}
