//! Linux romfs images for the system's ROM file system.
//!
//! Every executable and data file of a system lives in one romfs image
//! (the standard `-rom1fs-` format, so `genromfs`, `mount -t romfs` and other
//! standard tools can check it).
//!
//! - [`reader`] (always available, `no_std`, no allocation, zero-copy): what
//!   the kernel and the user-space file server use. It treats the image as
//!   hostile: corrupted images give an [`Error`], never a panic, an
//!   out-of-bounds read or an endless loop.
//! - `builder` and `manifest` (feature `std`, on by default): build an image
//!   from a host directory, byte for byte what Debian's `genromfs` 0.5.2
//!   writes, or from a manifest. Used by the `romfs-builder` CLI and by
//!   xtask through [`build_from_dir`], [`build_from_manifest`] or [`Tree`].
//!
//! The kernel depends on this crate with `default-features = false`.
//!
//! # Manifest format
//!
//! A text file, one mapping per line:
//!
//! ```text
//! # comment lines start with '#'; blank lines are ignored
//! /bin/einit        ../target/aarch64-unknown-none/release/einit
//! /etc/hosts        files/hosts
//! /share/fonts      /usr/share/fonts/truetype
//! /tmp
//! ```
//!
//! - The first word is the path in the image; the rest of the line, trimmed,
//!   is the host path (it may contain spaces and `#`). Relative host paths
//!   are relative to the manifest's directory.
//! - A host file is copied (symlinks followed), with the executable flag if
//!   any of its `x` bits is set. Two image paths naming the same host file
//!   become hard links.
//! - A host directory is copied recursively (entries in name order, symlinks
//!   kept as symlinks) and merged with what the image already has there.
//! - A line with only an image path declares an (empty) directory.
//! - Parent directories are implied. The same image path twice is an error.
//! - Entries are laid out in name order, whatever the order of the lines,
//!   so a manifest gives the same image on every host.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod format;
pub mod reader;

#[cfg(feature = "std")]
pub mod builder;
#[cfg(feature = "std")]
pub mod manifest;

pub use reader::{Entry, Error, Image, Kind, ReadDir, Stats};

#[cfg(feature = "std")]
pub use builder::{
    BuildError, Content, DirOrder, Tree, build, build_from_dir, build_from_dir_sorted,
    build_from_manifest, default_volume_name,
};
