//! Property tests: random trees round-trip through the builder and reader,
//! match genromfs when written to disk, and random corruptions of their
//! images never make the reader panic or hang.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::*;
use proptest::prelude::*;
use romfs_builder::{Content, DirOrder, Image, Kind, Tree, build_from_dir};

#[derive(Debug, Clone)]
enum Op {
    File {
        data: Vec<u8>,
        exec: bool,
    },
    Dir,
    Symlink(String),
    /// Hard link to the n-th file added so far (modulo their number).
    HardLink(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    File(Vec<u8>, bool),
    Dir,
    Symlink(Vec<u8>),
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "a",
            "b",
            "c",
            "bin",
            "etc",
            "fifteen-chars-x",
            "sixteen-chars-xy",
            "z"
        ])
        .prop_map(String::from),
        "[a-z0-9._-]{1,40}".prop_filter("not . or ..", |s| s != "." && s != ".."),
    ]
}

fn op() -> impl Strategy<Value = (Vec<String>, Op)> {
    let kind = prop_oneof![
        4 => (prop::collection::vec(any::<u8>(), 0..70), any::<bool>())
            .prop_map(|(data, exec)| Op::File { data, exec }),
        1 => Just(Op::Dir),
        1 => "[a-z/.]{1,20}".prop_map(Op::Symlink),
        1 => any::<usize>().prop_map(Op::HardLink),
    ];
    (prop::collection::vec(name(), 1..5), kind)
}

/// A tree built from random operations, with what each path should hold
/// and the successful operations (to redo them on disk).
struct Built {
    tree: Tree,
    expect: BTreeMap<String, Expect>,
    done: Vec<(String, Op, Option<String>)>,
}

fn build(ops: &[(Vec<String>, Op)]) -> Built {
    let mut tree = Tree::new();
    let mut expect: BTreeMap<String, Expect> = BTreeMap::new();
    let mut files: Vec<String> = Vec::new();
    let mut done = Vec::new();
    for (comps, op) in ops {
        let path = format!("/{}", comps.join("/"));
        let mut link_target = None;
        let (result, exp) = match op {
            Op::File { data, exec } => (
                tree.add_file(&path, data.clone(), *exec),
                Expect::File(data.clone(), *exec),
            ),
            Op::Dir => (tree.add_dir(&path), Expect::Dir),
            Op::Symlink(t) => (
                tree.add(&path, Content::Symlink(t.as_bytes().to_vec())),
                Expect::Symlink(t.as_bytes().to_vec()),
            ),
            Op::HardLink(n) => {
                if files.is_empty() {
                    continue;
                }
                let target = files[n % files.len()].clone();
                let exp = expect[&target].clone();
                link_target = Some(target.clone());
                (tree.add_hard_link(&path, &target), exp)
            }
        };
        if result.is_ok() {
            // Implied parents.
            for i in 1..comps.len() {
                expect.insert(format!("/{}", comps[..i].join("/")), Expect::Dir);
            }
            if matches!(exp, Expect::File(..)) {
                files.push(path.clone());
            }
            expect.insert(path.clone(), exp);
            done.push((path, op.clone(), link_target));
        }
    }
    Built { tree, expect, done }
}

fn check_round_trip(bytes: &[u8], expect: &BTreeMap<String, Expect>) {
    let img = Image::new(bytes).unwrap();
    let stats = img.verify().unwrap();
    assert_eq!(stats.entries as usize, expect.len());
    for (path, exp) in expect {
        let e = img.lookup_no_follow(path).unwrap();
        let got = match e.kind() {
            Kind::Dir => Expect::Dir,
            Kind::File => Expect::File(img.read(&e).unwrap().to_vec(), e.is_executable()),
            Kind::Symlink => Expect::Symlink(img.read(&e).unwrap().to_vec()),
            k => panic!("unexpected kind {k:?} at {path}"),
        };
        assert_eq!(&got, exp, "{path}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_round_trip(ops in prop::collection::vec(op(), 0..30)) {
        let b = build(&ops);
        let bytes = b.tree.to_image("prop").unwrap();
        check_round_trip(&bytes, &b.expect);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The same random tree written to disk: genromfs gives the same bytes
    /// as the readdir-order build, and the sorted build equals the image of
    /// the in-memory tree.
    #[test]
    fn random_trees_match_genromfs(ops in prop::collection::vec(op(), 0..30)) {
        let b = build(&ops);
        let s = Scratch::new("prop");
        let root = s.path();
        for (path, op, link) in &b.done {
            let host = root.join(&path[1..]);
            fs::create_dir_all(host.parent().unwrap()).unwrap();
            match op {
                Op::File { data, exec } => {
                    write(&host, data);
                    chmod(&host, if *exec { 0o755 } else { 0o644 });
                }
                Op::Dir => fs::create_dir_all(&host).unwrap(),
                Op::Symlink(t) => ln_s(t, &host),
                Op::HardLink(_) => {
                    let target = root.join(&link.as_ref().unwrap()[1..]);
                    fs::hard_link(target, &host).unwrap();
                }
            }
        }
        let ours = build_from_dir(root, "prop").unwrap();
        assert_matches_genromfs(root, &ours, "prop");
        check_round_trip(&ours, &b.expect);
        let sorted = Tree::from_dir(root, DirOrder::Sorted).unwrap().to_image("prop").unwrap();
        prop_assert_eq!(sorted, b.tree.to_image("prop").unwrap());
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        mask: u8,
    },
    /// Set a header word to a value and fix the checksums.
    Patch {
        header: usize,
        word: usize,
        value: u32,
    },
    /// Point a header word at another header (plus type bits).
    Repoint {
        header: usize,
        word: usize,
        to: usize,
        bits: u32,
    },
    Truncate {
        at: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), 0..3usize, any::<u32>()).prop_map(|(header, word, value)| {
            Mutation::Patch {
                header,
                word,
                value,
            }
        }),
        (any::<usize>(), 0..2usize, any::<usize>(), 0..16u32).prop_map(
            |(header, word, to, bits)| Mutation::Repoint {
                header,
                word,
                to,
                bits
            }
        ),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_images_never_panic_or_hang(
        ops in prop::collection::vec(op(), 0..12),
        muts in prop::collection::vec(mutation(), 1..6),
        fix_superblock_after in any::<bool>(),
    ) {
        let b = build(&ops);
        let mut bytes = b.tree.to_image("fuzz").unwrap();
        let headers = header_offsets(&bytes);
        for m in muts {
            match m {
                Mutation::Flip { at, mask } => {
                    if !bytes.is_empty() {
                        let i = at % bytes.len();
                        bytes[i] ^= mask;
                    }
                }
                Mutation::Patch { header, word, value } => {
                    let off = headers[header % headers.len()] as usize;
                    if off + 16 < bytes.len() {
                        patch_header(&mut bytes, off, word, value);
                    }
                }
                Mutation::Repoint { header, word, to, bits } => {
                    let off = headers[header % headers.len()] as usize;
                    let target = headers[to % headers.len()] | if word == 0 { bits } else { 0 };
                    if off + 16 < bytes.len() {
                        patch_header(&mut bytes, off, word, target);
                    }
                }
                Mutation::Truncate { at } => {
                    let len = at % (bytes.len() + 1);
                    bytes.truncate(len);
                }
            }
        }
        if fix_superblock_after && bytes.len() >= 16 {
            fix_superblock(&mut bytes);
        }
        exercise(&bytes);
    }
}
