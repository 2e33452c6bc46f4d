//! The manifest builder and the command-line tool on real trees.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use romfs_builder::{BuildError, Image, Kind, build, build_from_manifest};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_romfs-builder"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn sample_host_tree(root: &Path) {
    write(&root.join("bin/einit"), b"\x7fELF einit");
    chmod(&root.join("bin/einit"), 0o755);
    write(&root.join("etc/motd"), b"hello\n");
    write(&root.join("etc/conf/a.conf"), b"a=1\n");
    ln_s("motd", &root.join("etc/motd-link"));
    write(&root.join("big"), &noise(2 << 20, 3));
}

#[test]
fn manifest_maps_host_files() {
    let s = Scratch::new("manifest");
    let host = s.path().join("host");
    sample_host_tree(&host);
    let manifest = s.path().join("rom.manifest");
    fs::write(
        &manifest,
        "# system image\n\
         /bin/einit      host/bin/einit\n\
         \n\
         /sbin/init      host/bin/einit\n\
         /etc            host/etc\n\
         /etc/extra.txt  host/etc/motd\n\
         /var/empty\n",
    )
    .unwrap();
    let bytes = build_from_manifest(&manifest, "sys").unwrap();
    assert_eq!(
        build(&manifest, "sys").unwrap(),
        bytes,
        "build() dispatches"
    );
    let img = Image::new(&bytes).unwrap();
    img.verify().unwrap();
    let einit = img.lookup("/bin/einit").unwrap();
    assert!(einit.is_executable());
    assert_eq!(img.read(&einit).unwrap(), b"\x7fELF einit");
    assert_eq!(
        img.lookup("/sbin/init").unwrap(),
        einit,
        "same host file: hard link"
    );
    assert_eq!(
        img.read(&img.lookup("/etc/conf/a.conf").unwrap()).unwrap(),
        b"a=1\n"
    );
    assert_eq!(
        img.lookup_no_follow("/etc/motd-link").unwrap().kind(),
        Kind::Symlink
    );
    assert_eq!(
        img.read(&img.lookup("/etc/motd-link").unwrap()).unwrap(),
        b"hello\n"
    );
    assert_eq!(img.lookup("/var/empty").unwrap().kind(), Kind::Dir);
    // Line order does not matter: entries are sorted.
    let names: Vec<_> = img
        .read_dir(&img.lookup("/etc").unwrap())
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().name().to_vec()).unwrap())
        .collect();
    assert_eq!(names, [".", "..", "conf", "extra.txt", "motd", "motd-link"]);
}

#[test]
fn manifest_errors_name_file_and_line() {
    let s = Scratch::new("manifest-err");
    write(&s.path().join("f"), b"f");
    let m = s.path().join("m");
    fs::write(&m, "/a f\n/a/b f\n").unwrap();
    let err = build_from_manifest(&m, "v").unwrap_err();
    assert!(
        matches!(&err, BuildError::Manifest { line: 2, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}:2:", m.display())) && msg.contains("not a directory"),
        "{msg}"
    );

    fs::write(&m, "# ok\n/x missing-file\n").unwrap();
    let msg = build_from_manifest(&m, "v").unwrap_err().to_string();
    assert!(msg.contains(":2:") && msg.contains("missing-file"), "{msg}");

    fs::write(&m, "/x f\n/x f\n").unwrap();
    let msg = build_from_manifest(&m, "v").unwrap_err().to_string();
    assert!(msg.contains(":2:") && msg.contains("already"), "{msg}");

    fs::write(&m, "/../x f\n").unwrap();
    let msg = build_from_manifest(&m, "v").unwrap_err().to_string();
    assert!(
        msg.contains(":1:") && msg.contains("invalid image path"),
        "{msg}"
    );
}

#[test]
fn cli_build_ls_cat_verify() {
    let s = Scratch::new("cli");
    let tree = s.path().join("tree");
    sample_host_tree(&tree);
    let image = s.path().join("out.img");
    let (tree_s, image_s) = (tree.to_str().unwrap(), image.to_str().unwrap());

    stdout(&cli(&[
        "build", tree_s, "-o", image_s, "--volume", "cli test",
    ]));
    let bytes = fs::read(&image).unwrap();
    assert_matches_genromfs(&tree, &bytes, "cli test");

    let v = stdout(&cli(&["verify", image_s]));
    assert!(v.contains("ok") && v.contains("cli test"), "{v}");

    let root = stdout(&cli(&["ls", image_s]));
    for name in ["bin", "etc", "big"] {
        assert!(
            root.lines().any(|l| l.ends_with(name)),
            "{name} missing in:\n{root}"
        );
    }
    let etc = stdout(&cli(&["ls", image_s, "/etc"]));
    assert!(etc.contains("motd-link -> motd"), "{etc}");
    let bin = stdout(&cli(&["ls", image_s, "/bin/einit"]));
    assert!(bin.starts_with("-0755") && bin.contains("einit"), "{bin}");

    let cat = cli(&["cat", image_s, "/etc/motd-link"]);
    assert_eq!(stdout(&cat), "hello\n");
    let cat = cli(&["cat", image_s, "/big"]);
    assert!(cat.status.success());
    assert_eq!(cat.stdout, noise(2 << 20, 3));

    let missing = cli(&["cat", image_s, "/nope"]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("/nope") && err.contains("no such file"),
        "{err}"
    );

    // A corrupted image is reported, naming the file and the problem.
    let mut bad = bytes.clone();
    bad[40] ^= 1;
    let bad_path = s.path().join("bad.img");
    fs::write(&bad_path, &bad).unwrap();
    let out = cli(&["verify", bad_path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.img") && err.contains("checksum"), "{err}");

    // Sorted builds and manifests work through the CLI too.
    let sorted = s.path().join("sorted.img");
    stdout(&cli(&[
        "build",
        tree_s,
        "-o",
        sorted.to_str().unwrap(),
        "-V",
        "x",
        "--sorted",
    ]));
    assert!(
        Image::new(&fs::read(&sorted).unwrap())
            .unwrap()
            .verify()
            .is_ok()
    );
    let manifest = s.path().join("m.txt");
    fs::write(&manifest, "/init tree/bin/einit\n").unwrap();
    let mimg = s.path().join("m.img");
    stdout(&cli(&[
        "build",
        manifest.to_str().unwrap(),
        "-o",
        mimg.to_str().unwrap(),
        "-V",
        "m",
    ]));
    assert_eq!(
        stdout(&cli(&["cat", mimg.to_str().unwrap(), "init"])),
        "\x7fELF einit"
    );
}

#[test]
fn cli_build_error_names_the_source() {
    let out = cli(&["build", "/definitely/not/here", "-o", "/tmp/never.img"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/definitely/not/here"), "{err}");
}
