//! Image builder: an in-memory [`Tree`] laid out exactly the way Debian's
//! `genromfs` 0.5.2 lays out a directory, so images can be checked against it
//! byte for byte.
//!
//! The layout rules (found by observing genromfs's output):
//!
//! - The superblock is followed by the root directory's entries. The root's
//!   "." comes first as a *directory* header whose `spec.info` points at
//!   itself, then ".." as a hard link to it, then the other entries.
//! - Every other directory lists "." (hard link to the directory's header)
//!   and ".." (hard link to the parent's header, which for the root is the
//!   root's ".") wherever `readdir` put them, in raw `readdir` order.
//! - Entries are laid out depth-first in pre-order: a directory's header is
//!   followed by its whole subtree, a file's header by its data.
//! - A directory's `spec.info` is the offset of its first entry; a device's is
//!   `major << 16 | minor`; everything else has 0.
//! - Non-directories sharing a host inode become hard links: the first in
//!   layout order holds the data, later ones are type-0 headers with size 0
//!   pointing at it.
//! - The executable flag is set for regular files and directories with any
//!   `x` permission bit, never for other types or hard links.
//! - Symlink data is the target without a NUL; all data is zero-padded to 16.
//! - `full_size` is the end of the last entry; the file is zero-padded to a
//!   multiple of 1024 bytes after that.
//! - An empty regular file named `@name,T,major,minor` (T = `b`, `c` or `p`)
//!   becomes a block device, char device or fifo called `name`.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::format::{self, ALIGN, HEADER_SIZE, IMAGE_PAD, MAGIC, MAX_NAME_LEN, kind};
use crate::reader::MAX_DEPTH;

/// Identity of a host inode (`st_dev`, `st_ino`): entries sharing one become
/// hard links in the image.
pub type InodeKey = (u64, u64);

/// Order of a scanned directory's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirOrder {
    /// Raw `readdir` order, "." and ".." where the file system puts them
    /// (except in the root, where they come first): genromfs's order, so the
    /// image matches genromfs byte for byte. It depends on the host file
    /// system (ext4 hashes names with a per-file-system seed).
    #[default]
    Readdir,
    /// "." and ".." first, then names in byte order: the same image from the
    /// same tree on any host, for reproducible builds.
    Sorted,
}

/// What an entry holds, for [`Tree::add`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Regular file.
    File {
        /// The file's bytes.
        data: Vec<u8>,
        /// Sets the romfs executable flag.
        executable: bool,
    },
    /// Symbolic link to the given target path.
    Symlink(Vec<u8>),
    /// Block device.
    BlockDev {
        /// Major number (stored in the high 16 bits).
        major: u32,
        /// Minor number (stored in the low 16 bits).
        minor: u32,
    },
    /// Character device.
    CharDev {
        /// Major number (stored in the high 16 bits).
        major: u32,
        /// Minor number (stored in the low 16 bits).
        minor: u32,
    },
    /// Unix domain socket.
    Socket,
    /// Named pipe.
    Fifo,
}

/// Why an image could not be built. Each variant names the host file, image
/// path or manifest line concerned.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// Reading a host file or directory failed.
    Io {
        /// The host path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A host file's type cannot be represented (should not happen on Unix).
    UnsupportedFileType {
        /// The host path.
        path: PathBuf,
    },
    /// An empty file named `@name,T,major,minor` has a device type other than
    /// `b`, `c` or `p` (genromfs skips such files with a warning; silently
    /// dropping a file is worse than failing).
    BadDeviceType {
        /// The host path.
        path: PathBuf,
        /// The type character found.
        found: char,
    },
    /// An image path is empty, has "." or ".." components or a NUL byte.
    InvalidPath {
        /// The image path.
        path: String,
    },
    /// A name is longer than the reader accepts.
    NameTooLong {
        /// The image path, or host path for scanned trees.
        path: String,
    },
    /// Two entries have the same image path.
    AlreadyExists {
        /// The image path.
        path: String,
    },
    /// A path component that must be a directory is something else.
    NotADirectory {
        /// The image path of the component.
        path: String,
    },
    /// The target of [`Tree::add_hard_link`] does not exist or is a directory.
    BadLinkTarget {
        /// The image path of the target.
        path: String,
    },
    /// Directories nest deeper than the reader walks ([`MAX_DEPTH`]).
    TooDeep {
        /// The image or host path of the deepest directory.
        path: String,
    },
    /// The volume name contains a NUL byte.
    BadVolumeName,
    /// The image would not fit the 32-bit size field.
    ImageTooLarge {
        /// Bytes the image would need.
        size: u64,
    },
    /// A manifest line could not be applied.
    Manifest {
        /// The manifest file.
        manifest: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What went wrong on that line.
        source: Box<BuildError>,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BuildError::UnsupportedFileType { path } => {
                write!(f, "{}: unsupported file type", path.display())
            }
            BuildError::BadDeviceType { path, found } => write!(
                f,
                "{}: bad device type {found:?} in @name,type,major,minor (expected b, c or p)",
                path.display()
            ),
            BuildError::InvalidPath { path } => write!(
                f,
                "{path:?}: invalid image path (empty, \".\"/\"..\" component or NUL byte)"
            ),
            BuildError::NameTooLong { path } => {
                write!(f, "{path}: name longer than {MAX_NAME_LEN} bytes")
            }
            BuildError::AlreadyExists { path } => write!(f, "{path}: already in the image"),
            BuildError::NotADirectory { path } => {
                write!(f, "{path}: exists in the image and is not a directory")
            }
            BuildError::BadLinkTarget { path } => {
                write!(f, "{path}: hard link target missing or a directory")
            }
            BuildError::TooDeep { path } => {
                write!(
                    f,
                    "{path}: directories nested deeper than {MAX_DEPTH} levels"
                )
            }
            BuildError::BadVolumeName => write!(f, "volume name contains a NUL byte"),
            BuildError::ImageTooLarge { size } => {
                write!(f, "image of {size} bytes exceeds the 4 GiB romfs limit")
            }
            BuildError::Manifest {
                manifest,
                line,
                source,
            } => write!(f, "{}:{line}: {source}", manifest.display()),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { source, .. } => Some(source),
            BuildError::Manifest { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory: its entries in image order. "." and ".." are explicit
/// because genromfs keeps them where `readdir` returned them.
#[derive(Debug, Clone)]
pub(crate) struct Dir {
    exec: bool,
    entries: Vec<Slot>,
}

#[derive(Debug, Clone)]
enum Slot {
    Dot,
    DotDot,
    Node(Node),
}

#[derive(Debug, Clone)]
struct Node {
    name: Vec<u8>,
    kind: NodeKind,
    inode: Option<InodeKey>,
}

#[derive(Debug, Clone)]
enum NodeKind {
    Dir(Dir),
    Leaf(Content),
}

impl Dir {
    fn new(exec: bool) -> Dir {
        Dir {
            exec,
            entries: vec![Slot::Dot, Slot::DotDot],
        }
    }

    fn find_mut(&mut self, name: &[u8]) -> Option<&mut Node> {
        self.entries.iter_mut().find_map(|s| match s {
            Slot::Node(n) if n.name == name => Some(n),
            _ => None,
        })
    }

    fn find(&self, name: &[u8]) -> Option<&Node> {
        self.entries.iter().find_map(|s| match s {
            Slot::Node(n) if n.name == name => Some(n),
            _ => None,
        })
    }

    /// Inserts keeping names in byte order after "." and "..".
    fn insert_sorted(&mut self, node: Node) {
        let pos = self
            .entries
            .iter()
            .position(|s| matches!(s, Slot::Node(n) if n.name > node.name))
            .unwrap_or(self.entries.len());
        self.entries.insert(pos, Slot::Node(node));
    }
}

/// A file tree to be written as a romfs image.
///
/// Entries added through [`Tree::add`] and friends are kept in byte order of
/// their names, so the image does not depend on insertion order.
#[derive(Debug, Clone)]
pub struct Tree {
    root: Dir,
    next_synthetic_inode: u64,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

/// Splits an image path into validated components.
fn components(path: &str) -> Result<Vec<&[u8]>, BuildError> {
    let comps: Vec<&[u8]> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::as_bytes)
        .collect();
    let invalid = comps.is_empty()
        || comps
            .iter()
            .any(|c| *c == b"." || *c == b".." || c.contains(&0));
    if invalid {
        return Err(BuildError::InvalidPath {
            path: path.to_string(),
        });
    }
    if comps.iter().any(|c| c.len() > MAX_NAME_LEN) {
        return Err(BuildError::NameTooLong {
            path: path.to_string(),
        });
    }
    if comps.len() > MAX_DEPTH {
        return Err(BuildError::TooDeep {
            path: path.to_string(),
        });
    }
    Ok(comps)
}

impl Tree {
    /// An empty tree: just the root directory.
    pub fn new() -> Tree {
        Tree {
            root: Dir::new(true),
            next_synthetic_inode: 0,
        }
    }

    /// Scans a host directory the way genromfs does (see the module docs),
    /// not following symlinks.
    pub fn from_dir(dir: &Path, order: DirOrder) -> Result<Tree, BuildError> {
        let meta = fs::metadata(dir).map_err(io_err(dir))?;
        if !meta.is_dir() {
            return Err(BuildError::Io {
                path: dir.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        let mut root = scan_dir(dir, &meta, order, 0)?;
        // genromfs puts the root's "." and ".." first whatever readdir says.
        root.entries.retain(|s| matches!(s, Slot::Node(_)));
        root.entries.splice(0..0, [Slot::Dot, Slot::DotDot]);
        Ok(Tree {
            root,
            next_synthetic_inode: 0,
        })
    }

    /// Walks to the parent directory of `comps`, creating missing
    /// directories (executable, like `mkdir -p` with a usual umask).
    fn parent_mut<'t>(&'t mut self, comps: &[&[u8]]) -> Result<&'t mut Dir, BuildError> {
        let mut dir = &mut self.root;
        for (i, comp) in comps[..comps.len() - 1].iter().enumerate() {
            if dir.find(comp).is_none() {
                dir.insert_sorted(Node {
                    name: comp.to_vec(),
                    kind: NodeKind::Dir(Dir::new(true)),
                    inode: None,
                });
            }
            match dir.find_mut(comp).map(|n| &mut n.kind) {
                Some(NodeKind::Dir(d)) => dir = d,
                _ => {
                    let prefix: Vec<String> = comps[..=i]
                        .iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    return Err(BuildError::NotADirectory {
                        path: format!("/{}", prefix.join("/")),
                    });
                }
            }
        }
        Ok(dir)
    }

    fn insert(
        &mut self,
        path: &str,
        kind: NodeKind,
        inode: Option<InodeKey>,
    ) -> Result<(), BuildError> {
        let comps = components(path)?;
        let name = comps[comps.len() - 1];
        let parent = self.parent_mut(&comps)?;
        if parent.find(name).is_some() {
            return Err(BuildError::AlreadyExists {
                path: path.to_string(),
            });
        }
        parent.insert_sorted(Node {
            name: name.to_vec(),
            kind,
            inode,
        });
        Ok(())
    }

    /// Creates a directory and its missing parents; succeeds if it exists.
    pub fn add_dir(&mut self, path: &str) -> Result<(), BuildError> {
        let comps = components(path)?;
        let name = comps[comps.len() - 1];
        let parent = self.parent_mut(&comps)?;
        match parent.find(name).map(|n| &n.kind) {
            Some(NodeKind::Dir(_)) => Ok(()),
            Some(NodeKind::Leaf(_)) => Err(BuildError::NotADirectory {
                path: path.to_string(),
            }),
            None => {
                parent.insert_sorted(Node {
                    name: name.to_vec(),
                    kind: NodeKind::Dir(Dir::new(true)),
                    inode: None,
                });
                Ok(())
            }
        }
    }

    /// Adds a non-directory entry, creating missing parent directories.
    pub fn add(&mut self, path: &str, content: Content) -> Result<(), BuildError> {
        self.insert(path, NodeKind::Leaf(content), None)
    }

    /// Adds a regular file, creating missing parent directories.
    pub fn add_file(
        &mut self,
        path: &str,
        data: Vec<u8>,
        executable: bool,
    ) -> Result<(), BuildError> {
        self.add(path, Content::File { data, executable })
    }

    /// Adds a hard link at `path` to the existing non-directory `target`.
    /// Whichever of the two comes first in the image holds the data.
    pub fn add_hard_link(&mut self, path: &str, target: &str) -> Result<(), BuildError> {
        let bad = || BuildError::BadLinkTarget {
            path: target.to_string(),
        };
        let tcomps = components(target)?;
        let mut dir = &mut self.root;
        for comp in &tcomps[..tcomps.len() - 1] {
            match dir.find_mut(comp).map(|n| &mut n.kind) {
                Some(NodeKind::Dir(d)) => dir = d,
                _ => return Err(bad()),
            }
        }
        let node = dir.find_mut(tcomps[tcomps.len() - 1]).ok_or_else(bad)?;
        let NodeKind::Leaf(content) = &node.kind else {
            return Err(bad());
        };
        let content = content.clone();
        let key = match node.inode {
            Some(k) => k,
            None => {
                // Synthetic identities use a device number no host has.
                let k = (u64::MAX, self.next_synthetic_inode);
                self.next_synthetic_inode += 1;
                node.inode = Some(k);
                k
            }
        };
        self.insert(path, NodeKind::Leaf(content), Some(key))
    }

    /// Grafts a scanned host directory's entries under the image directory
    /// `path`, merging with what is there. Used by manifests.
    pub(crate) fn graft(&mut self, path: &str, dir: Dir) -> Result<(), BuildError> {
        let prefix = path.trim_end_matches('/');
        if !prefix.is_empty() {
            self.add_dir(prefix)?;
        }
        for slot in dir.entries {
            let Slot::Node(node) = slot else { continue };
            let child = format!("{prefix}/{}", String::from_utf8_lossy(&node.name));
            match node.kind {
                NodeKind::Dir(d) => self.graft(&child, d)?,
                kind => self.insert(&child, kind, node.inode)?,
            }
        }
        Ok(())
    }

    /// Adds a host file under `path` (following symlinks), keeping its inode
    /// identity so two paths mapped to one host file become hard links.
    pub(crate) fn add_host_file(&mut self, path: &str, host: &Path) -> Result<(), BuildError> {
        let meta = fs::metadata(host).map_err(io_err(host))?;
        if meta.is_dir() {
            let dir = scan_dir(host, &meta, DirOrder::Sorted, 0)?;
            return self.graft(path, dir);
        }
        let content = leaf_content(host, &meta)?;
        self.insert(
            path,
            NodeKind::Leaf(content),
            Some((meta.dev(), meta.ino())),
        )
    }

    /// Lays the tree out as a romfs image with the given volume name.
    pub fn to_image(&self, volume: &str) -> Result<Vec<u8>, BuildError> {
        if volume.as_bytes().contains(&0) {
            return Err(BuildError::BadVolumeName);
        }
        let mut w = Writer {
            buf: Vec::new(),
            headers: Vec::new(),
            inodes: HashMap::new(),
        };
        w.buf.extend_from_slice(MAGIC);
        w.buf.extend_from_slice(&[0; 8]); // size and checksum, filled below
        w.push_name(volume.as_bytes());
        let root_off = w.offset()?;
        w.write_dir(&self.root, None, root_off)?;

        let size = w.offset()?;
        for &(start, end) in &w.headers {
            fix_checksum(&mut w.buf[start..end]);
        }
        w.buf[8..12].copy_from_slice(&size.to_be_bytes());
        let sb_len = size.min(format::SUPERBLOCK_CHECKSUM_LEN) as usize;
        fix_checksum(&mut w.buf[..sb_len]);
        let padded = w.buf.len().div_ceil(IMAGE_PAD) * IMAGE_PAD;
        w.buf.resize(padded, 0);
        Ok(w.buf)
    }
}

/// Stores in bytes 12..16 of `region` the value that makes the region's
/// checksum 0.
fn fix_checksum(region: &mut [u8]) {
    region[12..16].fill(0);
    let sum = format::checksum(region);
    region[12..16].copy_from_slice(&0u32.wrapping_sub(sum).to_be_bytes());
}

struct Writer {
    buf: Vec<u8>,
    /// (start, end) of every header including its padded name.
    headers: Vec<(usize, usize)>,
    /// Offset of the header holding the data of each host inode seen.
    inodes: HashMap<InodeKey, u32>,
}

impl Writer {
    fn offset(&self) -> Result<u32, BuildError> {
        u32::try_from(self.buf.len()).map_err(|_| BuildError::ImageTooLarge {
            size: self.buf.len() as u64,
        })
    }

    fn pad(&mut self) {
        let len = self.buf.len().next_multiple_of(ALIGN as usize);
        self.buf.resize(len, 0);
    }

    fn push_name(&mut self, name: &[u8]) {
        self.buf.extend_from_slice(name);
        self.buf.push(0);
        self.pad();
    }

    /// Writes a header (checksum fixed up later) and returns its offset.
    fn header(
        &mut self,
        kind: u32,
        exec: bool,
        spec: u32,
        size: u32,
        name: &[u8],
    ) -> Result<u32, BuildError> {
        let off = self.offset()?;
        let start = self.buf.len();
        let bits = kind | if exec { format::EXEC_FLAG } else { 0 };
        for word in [bits, spec, size, 0] {
            self.buf.extend_from_slice(&word.to_be_bytes());
        }
        self.push_name(name);
        self.headers.push((start, self.buf.len()));
        Ok(off)
    }

    fn set_word(&mut self, off: u32, index: usize, value: u32) {
        let at = off as usize + 4 * index;
        self.buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }

    /// Writes a directory's entries. `this` is the directory's own header
    /// (`None` for the root) and `parent` the header ".." points at.
    fn write_dir(&mut self, dir: &Dir, this: Option<u32>, parent: u32) -> Result<(), BuildError> {
        let mut prev: Option<u32> = None;
        for slot in &dir.entries {
            let off = self.offset()?;
            if let Some(p) = prev {
                // Keep the type and exec bits, add the offset of this entry.
                let at = p as usize;
                let low = self.buf[at + 3] & 0xf;
                self.set_word(p, 0, off | u32::from(low));
            }
            prev = Some(off);
            match slot {
                Slot::Dot => match this {
                    // The root's "." is a directory header pointing at itself.
                    None => {
                        self.header(kind::DIR, dir.exec, off, 0, b".")?;
                    }
                    Some(me) => {
                        self.header(kind::HARD_LINK, false, me, 0, b".")?;
                    }
                },
                Slot::DotDot => {
                    self.header(kind::HARD_LINK, false, parent, 0, b"..")?;
                }
                Slot::Node(node) => self.write_node(node, this.unwrap_or(parent))?,
            }
        }
        Ok(())
    }

    fn write_node(&mut self, node: &Node, parent: u32) -> Result<(), BuildError> {
        if let Some(key) = node.inode {
            if let Some(&target) = self.inodes.get(&key) {
                self.header(kind::HARD_LINK, false, target, 0, &node.name)?;
                return Ok(());
            }
            let off = self.offset()?;
            self.inodes.insert(key, off);
        }
        let data: &[u8] = match &node.kind {
            NodeKind::Dir(dir) => {
                let first = if dir.entries.is_empty() {
                    0
                } else {
                    self.header_end(&node.name)?
                };
                let me = self.header(kind::DIR, dir.exec, first, 0, &node.name)?;
                return self.write_dir(dir, Some(me), parent);
            }
            NodeKind::Leaf(Content::File { data, executable }) => {
                let size = u32::try_from(data.len()).map_err(|_| BuildError::ImageTooLarge {
                    size: data.len() as u64,
                })?;
                self.header(kind::FILE, *executable, 0, size, &node.name)?;
                data
            }
            NodeKind::Leaf(Content::Symlink(target)) => {
                let size = u32::try_from(target.len()).map_err(|_| BuildError::ImageTooLarge {
                    size: target.len() as u64,
                })?;
                self.header(kind::SYMLINK, false, 0, size, &node.name)?;
                target
            }
            NodeKind::Leaf(Content::BlockDev { major, minor }) => {
                self.header(
                    kind::BLOCK_DEV,
                    false,
                    dev_spec(*major, *minor),
                    0,
                    &node.name,
                )?;
                &[]
            }
            NodeKind::Leaf(Content::CharDev { major, minor }) => {
                self.header(
                    kind::CHAR_DEV,
                    false,
                    dev_spec(*major, *minor),
                    0,
                    &node.name,
                )?;
                &[]
            }
            NodeKind::Leaf(Content::Socket) => {
                self.header(kind::SOCKET, false, 0, 0, &node.name)?;
                &[]
            }
            NodeKind::Leaf(Content::Fifo) => {
                self.header(kind::FIFO, false, 0, 0, &node.name)?;
                &[]
            }
        };
        self.buf.extend_from_slice(data);
        self.pad();
        self.offset().map(|_| ())
    }

    /// Offset just past a header named `name` written at the current offset.
    fn header_end(&self, name: &[u8]) -> Result<u32, BuildError> {
        let end = self.buf.len()
            + HEADER_SIZE as usize
            + (name.len() + 1).next_multiple_of(ALIGN as usize);
        u32::try_from(end).map_err(|_| BuildError::ImageTooLarge { size: end as u64 })
    }
}

/// `spec.info` of a device: major in the high half, minor in the low half,
/// truncated to 32 bits as genromfs does.
fn dev_spec(major: u32, minor: u32) -> u32 {
    (major << 16) | minor
}

/// Splits a Linux `st_rdev` into (major, minor), like glibc's `major()` and
/// `minor()`.
fn split_rdev(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Reads the host entry `path` (not following a symlink at `path` when
/// `meta` came from `symlink_metadata`) into image content.
fn leaf_content(path: &Path, meta: &fs::Metadata) -> Result<Content, BuildError> {
    let ft = meta.file_type();
    Ok(if ft.is_file() {
        Content::File {
            data: fs::read(path).map_err(io_err(path))?,
            executable: meta.mode() & 0o111 != 0,
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(io_err(path))?;
        Content::Symlink(target.as_os_str().as_bytes().to_vec())
    } else if ft.is_block_device() {
        let (major, minor) = split_rdev(meta.rdev());
        Content::BlockDev { major, minor }
    } else if ft.is_char_device() {
        let (major, minor) = split_rdev(meta.rdev());
        Content::CharDev { major, minor }
    } else if ft.is_socket() {
        Content::Socket
    } else if ft.is_fifo() {
        Content::Fifo
    } else {
        return Err(BuildError::UnsupportedFileType {
            path: path.to_path_buf(),
        });
    })
}

/// Names of a directory's entries in raw `readdir` order, "." and ".."
/// included (std's `read_dir` drops those two and with them genromfs's order).
fn read_dir_raw(path: &Path) -> Result<Vec<Vec<u8>>, BuildError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    let dir = rustix::fs::Dir::read_from(&file).map_err(|e| io_err(path)(e.into()))?;
    let mut names = Vec::new();
    for entry in dir {
        let entry = entry.map_err(|e| io_err(path)(e.into()))?;
        names.push(entry.file_name().to_bytes().to_vec());
    }
    Ok(names)
}

/// Scans `path` (a directory with metadata `meta`) recursively.
fn scan_dir(
    path: &Path,
    meta: &fs::Metadata,
    order: DirOrder,
    depth: usize,
) -> Result<Dir, BuildError> {
    if depth > MAX_DEPTH {
        return Err(BuildError::TooDeep {
            path: path.display().to_string(),
        });
    }
    let mut names = read_dir_raw(path)?;
    if order == DirOrder::Sorted {
        names.retain(|n| n != b"." && n != b"..");
        names.sort();
        names.splice(0..0, [b".".to_vec(), b"..".to_vec()]);
    }
    let mut dir = Dir {
        exec: meta.mode() & 0o111 != 0,
        entries: Vec::with_capacity(names.len()),
    };
    for name in names {
        match name.as_slice() {
            b"." => dir.entries.push(Slot::Dot),
            b".." => dir.entries.push(Slot::DotDot),
            _ => {
                let child = path.join(std::ffi::OsStr::from_bytes(&name));
                dir.entries
                    .push(Slot::Node(scan_node(&child, name, order, depth)?));
            }
        }
    }
    Ok(dir)
}

fn scan_node(
    path: &Path,
    name: Vec<u8>,
    order: DirOrder,
    depth: usize,
) -> Result<Node, BuildError> {
    if name.len() > MAX_NAME_LEN {
        return Err(BuildError::NameTooLong {
            path: path.display().to_string(),
        });
    }
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    if meta.is_dir() {
        return Ok(Node {
            name,
            kind: NodeKind::Dir(scan_dir(path, &meta, order, depth + 1)?),
            inode: None,
        });
    }
    let inode = Some((meta.dev(), meta.ino()));
    if meta.is_file()
        && meta.len() == 0
        && let Some((dev_name, kind, major, minor)) = parse_device_name(&name)
    {
        let content = match kind {
            b'b' => Content::BlockDev {
                major: major as u32,
                minor: minor as u32,
            },
            b'c' => Content::CharDev {
                major: major as u32,
                minor: minor as u32,
            },
            b'p' => Content::Fifo,
            other => {
                return Err(BuildError::BadDeviceType {
                    path: path.to_path_buf(),
                    found: char::from(other),
                });
            }
        };
        return Ok(Node {
            name: dev_name.to_vec(),
            kind: NodeKind::Leaf(content),
            inode,
        });
    }
    Ok(Node {
        name,
        kind: NodeKind::Leaf(leaf_content(path, &meta)?),
        inode,
    })
}

/// Parses genromfs's device notation `@name,T,major,minor` the way
/// `sscanf("@%[^,],%c,%d,%d")` does: a non-empty name without commas, any
/// type byte, then two decimal integers (leading white space and a sign
/// allowed, trailing text ignored). `None` if it does not match, in which
/// case the file is an ordinary empty file.
fn parse_device_name(name: &[u8]) -> Option<(&[u8], u8, i32, i32)> {
    let rest = name.strip_prefix(b"@")?;
    let comma = rest.iter().position(|&b| b == b',')?;
    let (dev_name, rest) = (&rest[..comma], &rest[comma + 1..]);
    if dev_name.is_empty() {
        return None;
    }
    let (&kind, rest) = rest.split_first()?;
    let rest = rest.strip_prefix(b",")?;
    let (major, rest) = scan_int(rest)?;
    let rest = rest.strip_prefix(b",")?;
    let (minor, _) = scan_int(rest)?;
    Some((dev_name, kind, major, minor))
}

/// Emulates `%d`: skips white space, reads an optional sign and at least one
/// digit. Out-of-range values saturate to the `long` range and are then
/// truncated to `int`, as glibc does.
fn scan_int(s: &[u8]) -> Option<(i32, &[u8])> {
    let start = s.iter().position(|b| !b" \t\n\x0b\x0c\r".contains(b))?;
    let mut s = &s[start..];
    let neg = match s.first() {
        Some(b'-') => {
            s = &s[1..];
            true
        }
        Some(b'+') => {
            s = &s[1..];
            false
        }
        _ => false,
    };
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in &s[..digits] {
        let d = i64::from(d - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    Some((v as i32, &s[digits..]))
}

/// Builds the image of a host directory exactly as `genromfs -d dir -V
/// volume` would (raw `readdir` order). Prefer [`build_from_dir_sorted`] or a
/// manifest when the image must not depend on the host file system.
pub fn build_from_dir(dir: &Path, volume: &str) -> Result<Vec<u8>, BuildError> {
    Tree::from_dir(dir, DirOrder::Readdir)?.to_image(volume)
}

/// Builds the image of a host directory with entries in name order, so the
/// same tree gives the same bytes on every host.
pub fn build_from_dir_sorted(dir: &Path, volume: &str) -> Result<Vec<u8>, BuildError> {
    Tree::from_dir(dir, DirOrder::Sorted)?.to_image(volume)
}

/// Builds the image described by a manifest file (see the crate docs for
/// the format).
pub fn build_from_manifest(manifest: &Path, volume: &str) -> Result<Vec<u8>, BuildError> {
    crate::manifest::tree_from_manifest(manifest)?.to_image(volume)
}

/// Builds from `source`: a directory ([`build_from_dir`]) or a manifest file
/// ([`build_from_manifest`]).
pub fn build(source: &Path, volume: &str) -> Result<Vec<u8>, BuildError> {
    let meta = fs::metadata(source).map_err(io_err(source))?;
    if meta.is_dir() {
        build_from_dir(source, volume)
    } else {
        build_from_manifest(source, volume)
    }
}

/// The volume name genromfs uses when none is given: `rom ` and the time in
/// hex. `SOURCE_DATE_EPOCH` replaces the clock when set, for reproducible
/// builds.
pub fn default_volume_name() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    format!("rom {secs:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_follow_sscanf() {
        assert_eq!(
            parse_device_name(b"@tty1,c,4,1"),
            Some((&b"tty1"[..], b'c', 4, 1))
        );
        assert_eq!(
            parse_device_name(b"@u,c, 3,4"),
            Some((&b"u"[..], b'c', 3, 4))
        );
        assert_eq!(
            parse_device_name(b"@w,c,-1,5"),
            Some((&b"w"[..], b'c', -1, 5))
        );
        assert_eq!(
            parse_device_name(b"@o,c,4,1x"),
            Some((&b"o"[..], b'c', 4, 1))
        );
        assert_eq!(
            parse_device_name(b"@q,b,010,2"),
            Some((&b"q"[..], b'b', 10, 2))
        );
        assert_eq!(parse_device_name(b"@v,c,70000,1").map(|d| d.2), Some(70000));
        assert_eq!(parse_device_name(b"@x,c,4"), None);
        assert_eq!(parse_device_name(b"@,c,1,1"), None);
        assert_eq!(parse_device_name(b"@t,c,0x10,1"), None);
        assert_eq!(parse_device_name(b"@@"), None);
        assert_eq!(parse_device_name(b"plain"), None);
    }

    #[test]
    fn dev_spec_truncates_like_genromfs() {
        assert_eq!(dev_spec(70000, 1), 0x1170_0001);
        assert_eq!(dev_spec(-1i32 as u32, 5), 0xffff_0005);
    }

    #[test]
    fn rdev_split_matches_glibc() {
        assert_eq!(split_rdev(0x0801), (8, 1));
        assert_eq!(split_rdev(0x0441), (4, 0x41));
    }

    #[test]
    fn tree_paths_are_validated() {
        let mut t = Tree::new();
        assert!(matches!(
            t.add_dir("/"),
            Err(BuildError::InvalidPath { .. })
        ));
        assert!(matches!(
            t.add_dir("/a/../b"),
            Err(BuildError::InvalidPath { .. })
        ));
        t.add_file("/a/f", vec![1], false).unwrap();
        assert!(matches!(
            t.add_file("/a/f", vec![], false),
            Err(BuildError::AlreadyExists { .. })
        ));
        assert!(matches!(
            t.add_file("/a/f/g", vec![], false),
            Err(BuildError::NotADirectory { .. })
        ));
        assert!(matches!(
            t.add_hard_link("/b", "/a"),
            Err(BuildError::BadLinkTarget { .. })
        ));
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            t.add_dir(&long),
            Err(BuildError::NameTooLong { .. })
        ));
    }
}
