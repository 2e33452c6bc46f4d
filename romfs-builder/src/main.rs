//! `romfs-builder`: build, list, extract and check romfs images.
//!
//! ```text
//! romfs-builder build <dir|manifest> -o <image> [--volume NAME] [--sorted]
//! romfs-builder ls <image> [path]
//! romfs-builder cat <image> <path>
//! romfs-builder verify <image>
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use romfs_builder::{DirOrder, Entry, Image, Kind, Tree, build_from_manifest, default_volume_name};

#[derive(Parser)]
#[command(version, about = "Build and inspect romfs (-rom1fs-) images")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image from a directory (same bytes as genromfs) or a manifest.
    Build {
        /// Source directory, or manifest file (`<image path> <host path>` lines).
        source: PathBuf,
        /// Output image file.
        #[arg(short, long)]
        output: PathBuf,
        /// Volume name (default: "rom " and the time in hex, like genromfs;
        /// SOURCE_DATE_EPOCH replaces the time when set).
        #[arg(short = 'V', long)]
        volume: Option<String>,
        /// Order a source directory's entries by name instead of readdir
        /// order, so the image does not depend on the host file system.
        #[arg(long)]
        sorted: bool,
    },
    /// List a directory of an image (or show one entry).
    Ls {
        /// Image file.
        image: PathBuf,
        /// Path in the image (default: the root).
        #[arg(default_value = "/")]
        path: String,
    },
    /// Write a file of an image to standard output.
    Cat {
        /// Image file.
        image: PathBuf,
        /// Path in the image.
        path: String,
    },
    /// Check every header, checksum, link and file of an image.
    Verify {
        /// Image file.
        image: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("romfs-builder: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn read_image(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn open<'a>(path: &Path, bytes: &'a [u8]) -> Result<Image<'a>, String> {
    Image::new(bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Build {
            source,
            output,
            volume,
            sorted,
        } => {
            let volume = volume.unwrap_or_else(default_volume_name);
            let meta =
                std::fs::metadata(&source).map_err(|e| format!("{}: {e}", source.display()))?;
            let image = if meta.is_dir() {
                let order = if sorted {
                    DirOrder::Sorted
                } else {
                    DirOrder::Readdir
                };
                Tree::from_dir(&source, order).and_then(|t| t.to_image(&volume))
            } else {
                build_from_manifest(&source, &volume)
            }
            .map_err(|e| e.to_string())?;
            std::fs::write(&output, &image).map_err(|e| format!("{}: {e}", output.display()))
        }
        Command::Ls { image, path } => {
            let bytes = read_image(&image)?;
            let img = open(&image, &bytes)?;
            let err = |e: romfs_builder::Error| format!("{}:{path}: {e}", image.display());
            let entry = img.lookup_no_follow(&path).map_err(err)?;
            let mut out = std::io::stdout().lock();
            if entry.kind() == Kind::Dir {
                for e in img.read_dir(&entry).map_err(err)? {
                    let e = e.map_err(err)?;
                    if e.name() != b"." && e.name() != b".." {
                        print_entry(&mut out, &img, &e);
                    }
                }
            } else {
                print_entry(&mut out, &img, &entry);
            }
            Ok(())
        }
        Command::Cat { image, path } => {
            let bytes = read_image(&image)?;
            let img = open(&image, &bytes)?;
            let err = |e: romfs_builder::Error| format!("{}:{path}: {e}", image.display());
            let entry = img.lookup(&path).map_err(err)?;
            let data = img.read(&entry).map_err(err)?;
            std::io::stdout()
                .write_all(data)
                .map_err(|e| format!("stdout: {e}"))
        }
        Command::Verify { image } => {
            let bytes = read_image(&image)?;
            let img = open(&image, &bytes)?;
            let stats = img
                .verify()
                .map_err(|e| format!("{}: {e}", image.display()))?;
            println!(
                "{}: ok: volume {:?}, {} bytes, {} entries ({} dirs, {} files/symlinks, {} hard links, {} special), {} data bytes",
                image.display(),
                String::from_utf8_lossy(img.volume_name()),
                img.size(),
                stats.entries,
                stats.dirs,
                stats.files,
                stats.hard_links,
                stats.special,
                stats.bytes
            );
            Ok(())
        }
    }
}

/// One `ls -l`-like line: type and mode, size, name, and where links point.
fn print_entry(out: &mut impl Write, img: &Image<'_>, e: &Entry<'_>) {
    let name = String::from_utf8_lossy(e.name());
    let (tag, mode, size, extra) = match img.resolve(e) {
        Ok(r) => {
            let tag = match r.kind() {
                Kind::Dir => 'd',
                Kind::File => '-',
                Kind::Symlink => 'l',
                Kind::BlockDev => 'b',
                Kind::CharDev => 'c',
                Kind::Socket => 's',
                Kind::Fifo | Kind::HardLink => 'p',
            };
            let mut extra = String::new();
            if e.kind() == Kind::HardLink {
                extra = format!(" => {}", String::from_utf8_lossy(r.name()));
            }
            if r.kind() == Kind::Symlink
                && let Ok(t) = img.read(&r)
            {
                extra.push_str(&format!(" -> {}", String::from_utf8_lossy(t)));
            }
            if let Some((major, minor)) = r.device() {
                extra.push_str(&format!(" [{major}, {minor}]"));
            }
            (tag, r.mode() & 0o7777, r.size(), extra)
        }
        Err(err) => ('?', 0, 0, format!(" ({err})")),
    };
    let _ = writeln!(out, "{tag}{mode:04o} {size:>10} {name}{extra}");
}
