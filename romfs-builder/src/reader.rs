//! Allocation-free, zero-copy romfs reader.
//!
//! The kernel and the user-space file server read images that they did not
//! build, so nothing in here trusts the image: every header is checked
//! (alignment, bounds, NUL-terminated name, checksum, data within the image)
//! before it is used, every access goes through checked slicing, and every
//! loop is bounded. Directory chains, hard-link chains, symlink resolution and
//! tree walks each have a budget, so a hostile image with cycles yields
//! [`Error::LoopDetected`] instead of hanging the caller.

use core::fmt;
use core::ops::ControlFlow;

use crate::format::{self, ALIGN, HEADER_SIZE, MAGIC, MAX_NAME_LEN, kind};

/// Longest path [`Image::lookup`] accepts, and longest symlink target it
/// follows, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// Symlinks followed during one lookup before giving up, like Linux's ELOOP
/// limit: it both bounds the work and catches symlink cycles.
pub const MAX_SYMLINKS: u32 = 40;

/// Hard links followed in a chain before giving up. genromfs always points a
/// hard link straight at the entry holding the data, so real chains have
/// length 1; anything long is a corrupted or hostile image.
pub const MAX_LINK_CHAIN: u32 = 32;

/// Deepest directory nesting [`Image::walk`] descends into. The walk keeps
/// its state in a fixed array of this many levels (no allocation, bounded
/// stack use in the kernel).
pub const MAX_DEPTH: usize = 64;

/// Why an image or a request was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The image is shorter than the structure at `offset` needs.
    Truncated {
        /// Offset of the structure that runs past the end.
        offset: u32,
    },
    /// The image does not start with `-rom1fs-`.
    BadMagic,
    /// The superblock's size field is not a multiple of 16 or too small.
    BadSize {
        /// The size field as found.
        size: u32,
    },
    /// The checksum of the superblock (offset 0) or of a header is wrong.
    BadChecksum {
        /// Offset of the superblock (0) or header.
        offset: u32,
    },
    /// A header offset is misaligned or outside the image's header area.
    BadOffset {
        /// The offending offset.
        offset: u32,
    },
    /// A name is not NUL-terminated within [`MAX_NAME_LEN`] bytes and the image.
    BadName {
        /// Offset of the header holding the name.
        offset: u32,
    },
    /// A file's data runs past the end of the image.
    DataOutOfBounds {
        /// Offset of the file's header.
        offset: u32,
    },
    /// No entry has the requested path.
    NotFound,
    /// A path component, or the entry passed to [`Image::read_dir`], is not a
    /// directory.
    NotADirectory,
    /// The entry passed to [`Image::read`] has no data (not a file or symlink).
    NotAFile,
    /// A cycle, or a chain too long to be honest: directory entries, hard
    /// links or symlinks.
    LoopDetected,
    /// A path component is longer than [`MAX_NAME_LEN`].
    NameTooLong,
    /// A path or symlink target is longer than [`MAX_PATH_LEN`].
    PathTooLong,
    /// Directories nest deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { offset } => {
                write!(
                    f,
                    "image truncated: structure at {offset:#x} runs past the end"
                )
            }
            Error::BadMagic => write!(f, "not a romfs image (missing \"-rom1fs-\" magic)"),
            Error::BadSize { size } => write!(
                f,
                "bad image size field {size:#x} (must be a multiple of 16, at least 32)"
            ),
            Error::BadChecksum { offset: 0 } => write!(f, "bad superblock checksum"),
            Error::BadChecksum { offset } => write!(f, "bad checksum of header at {offset:#x}"),
            Error::BadOffset { offset } => {
                write!(
                    f,
                    "bad header offset {offset:#x} (misaligned or out of bounds)"
                )
            }
            Error::BadName { offset } => write!(
                f,
                "name of header at {offset:#x} is not NUL-terminated within {MAX_NAME_LEN} bytes"
            ),
            Error::DataOutOfBounds { offset } => {
                write!(
                    f,
                    "data of header at {offset:#x} runs past the end of the image"
                )
            }
            Error::NotFound => write!(f, "no such file or directory"),
            Error::NotADirectory => write!(f, "not a directory"),
            Error::NotAFile => write!(f, "not a regular file or symlink"),
            Error::LoopDetected => {
                write!(
                    f,
                    "loop detected (cyclic directory, hard link or symlink chain)"
                )
            }
            Error::NameTooLong => write!(f, "path component longer than {MAX_NAME_LEN} bytes"),
            Error::PathTooLong => write!(f, "path longer than {MAX_PATH_LEN} bytes"),
            Error::TooDeep => write!(f, "directories nested deeper than {MAX_DEPTH} levels"),
        }
    }
}

impl core::error::Error for Error {}

/// Type of an entry, from the low 3 bits of the header's `next` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Hard link to another header ([`Entry::link_target`]).
    HardLink,
    /// Directory.
    Dir,
    /// Regular file.
    File,
    /// Symbolic link; its data is the target path.
    Symlink,
    /// Block device ([`Entry::device`]).
    BlockDev,
    /// Character device ([`Entry::device`]).
    CharDev,
    /// Unix domain socket.
    Socket,
    /// Named pipe.
    Fifo,
}

impl Kind {
    fn from_bits(bits: u32) -> Kind {
        match bits & format::TYPE_MASK {
            kind::HARD_LINK => Kind::HardLink,
            kind::DIR => Kind::Dir,
            kind::FILE => Kind::File,
            kind::SYMLINK => Kind::Symlink,
            kind::BLOCK_DEV => Kind::BlockDev,
            kind::CHAR_DEV => Kind::CharDev,
            kind::SOCKET => Kind::Socket,
            _ => Kind::Fifo,
        }
    }

    /// The type code stored on disk.
    pub fn bits(self) -> u32 {
        match self {
            Kind::HardLink => kind::HARD_LINK,
            Kind::Dir => kind::DIR,
            Kind::File => kind::FILE,
            Kind::Symlink => kind::SYMLINK,
            Kind::BlockDev => kind::BLOCK_DEV,
            Kind::CharDev => kind::CHAR_DEV,
            Kind::Socket => kind::SOCKET,
            Kind::Fifo => kind::FIFO,
        }
    }
}

/// One verified header: a directory entry.
///
/// Borrowing the image (`'a`) keeps names and data zero-copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    offset: u32,
    next: u32,
    kind: Kind,
    exec: bool,
    spec: u32,
    size: u32,
    data_offset: u32,
    name: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Offset of the header in the image; 0 for the root directory, which
    /// has no header of its own.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// The entry's name as stored (romfs names are bytes, usually UTF-8).
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The name as UTF-8, if it is.
    pub fn name_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.name).ok()
    }

    /// What the entry is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether the executable flag is set (romfs keeps no other permission).
    pub fn is_executable(&self) -> bool {
        self.exec
    }

    /// Whether this is a directory (hard links are not resolved).
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// Whether this is a regular file (hard links are not resolved).
    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }

    /// The size field: bytes of data for files and symlinks (0 otherwise in
    /// images genromfs writes).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The raw `spec.info` field.
    pub fn spec_info(&self) -> u32 {
        self.spec
    }

    /// Offset of the next entry in the same directory, 0 for the last one.
    pub fn next_offset(&self) -> u32 {
        self.next
    }

    /// `(major, minor)` of a block or character device.
    pub fn device(&self) -> Option<(u16, u16)> {
        match self.kind {
            Kind::BlockDev | Kind::CharDev => Some(((self.spec >> 16) as u16, self.spec as u16)),
            _ => None,
        }
    }

    /// Offset of the header a hard link points at.
    pub fn link_target(&self) -> Option<u32> {
        (self.kind == Kind::HardLink).then_some(self.spec)
    }

    /// A Unix mode synthesized the way Linux's romfs driver does it: a fixed
    /// permission per type, plus `0o111` for executable entries and always
    /// for directories.
    pub fn mode(&self) -> u32 {
        let base = match self.kind {
            Kind::HardLink => 0,
            Kind::Dir => 0o040_755,
            Kind::File => 0o100_644,
            Kind::Symlink => 0o120_777,
            Kind::BlockDev => 0o060_600,
            Kind::CharDev => 0o020_600,
            Kind::Socket => 0o140_644,
            Kind::Fifo => 0o010_644,
        };
        if self.exec { base | 0o111 } else { base }
    }
}

/// A validated romfs image borrowed from memory.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    /// The image cut to its `full_size` field: nothing past it is ever read.
    data: &'a [u8],
    volume: &'a [u8],
    /// Offset of the root directory's first header.
    first: u32,
}

impl<'a> Image<'a> {
    /// Checks the superblock (magic, size field, checksum of the first
    /// `min(512, size)` bytes, volume name) and returns the image.
    ///
    /// `bytes` may be longer than the image (genromfs pads to 1 KiB; a flash
    /// partition may be larger): only the first `full_size` bytes are used.
    pub fn new(bytes: &'a [u8]) -> Result<Image<'a>, Error> {
        if bytes.len() < HEADER_SIZE as usize {
            return Err(Error::Truncated { offset: 0 });
        }
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(Error::BadMagic);
        }
        let size = format::be32(bytes, 8).ok_or(Error::Truncated { offset: 0 })?;
        if !size.is_multiple_of(ALIGN) || size < 2 * HEADER_SIZE {
            return Err(Error::BadSize { size });
        }
        let data = bytes
            .get(..size as usize)
            .ok_or(Error::Truncated { offset: 0 })?;
        let sum_len = size.min(format::SUPERBLOCK_CHECKSUM_LEN) as usize;
        if format::checksum(&data[..sum_len]) != 0 {
            return Err(Error::BadChecksum { offset: 0 });
        }
        let name_area = &data[HEADER_SIZE as usize..];
        let nul = name_area
            .iter()
            .position(|&b| b == 0)
            .ok_or(Error::Truncated { offset: 0 })?;
        let volume = &name_area[..nul];
        // nul < size, so this cannot overflow.
        let first =
            format::align_up(HEADER_SIZE + nul as u32 + 1).ok_or(Error::BadSize { size })?;
        if first > size - HEADER_SIZE {
            return Err(Error::Truncated { offset: 0 });
        }
        Ok(Image {
            data,
            volume,
            first,
        })
    }

    /// The image bytes covered by the size field.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The superblock's size field: bytes of the image in use.
    pub fn size(&self) -> u32 {
        self.data.len() as u32
    }

    /// The volume name as stored.
    pub fn volume_name(&self) -> &'a [u8] {
        self.volume
    }

    /// Number of 16-byte slots: an upper bound on the headers an honest
    /// image can hold, used as the budget for every chain walk.
    fn slots(&self) -> u32 {
        self.size() / ALIGN
    }

    /// The root directory. It has no header of its own: its entries start
    /// right after the superblock.
    pub fn root(&self) -> Entry<'a> {
        Entry {
            offset: 0,
            next: 0,
            kind: Kind::Dir,
            exec: true,
            spec: self.first,
            size: 0,
            data_offset: 0,
            name: b"",
        }
    }

    /// Reads and verifies the header at `offset`.
    pub fn entry_at(&self, offset: u32) -> Result<Entry<'a>, Error> {
        if !offset.is_multiple_of(ALIGN)
            || offset < self.first
            || offset > self.size() - HEADER_SIZE
        {
            return Err(Error::BadOffset { offset });
        }
        let off = offset as usize;
        let word =
            |i: usize| format::be32(self.data, off + 4 * i).ok_or(Error::Truncated { offset });
        let next = word(0)?;
        let spec = word(1)?;
        let size = word(2)?;
        let name_start = off + HEADER_SIZE as usize;
        let name_limit = self
            .data
            .len()
            .min(name_start.saturating_add(MAX_NAME_LEN + 1));
        let name_area = self
            .data
            .get(name_start..name_limit)
            .ok_or(Error::Truncated { offset })?;
        let nul = name_area
            .iter()
            .position(|&b| b == 0)
            .ok_or(Error::BadName { offset })?;
        let name = &name_area[..nul];
        // All of these are below the image size (< 4 GiB), so no overflow.
        let header_end =
            format::align_up((name_start + nul + 1) as u32).ok_or(Error::Truncated { offset })?;
        let header = self
            .data
            .get(off..header_end as usize)
            .ok_or(Error::Truncated { offset })?;
        if format::checksum(header) != 0 {
            return Err(Error::BadChecksum { offset });
        }
        let kind = Kind::from_bits(next);
        if matches!(kind, Kind::File | Kind::Symlink)
            && u64::from(header_end) + u64::from(size) > self.data.len() as u64
        {
            return Err(Error::DataOutOfBounds { offset });
        }
        Ok(Entry {
            offset,
            next: next & format::NEXT_MASK,
            kind,
            exec: next & format::EXEC_FLAG != 0,
            spec,
            size,
            data_offset: header_end,
            name,
        })
    }

    /// Follows hard links until a non-link entry.
    pub fn resolve(&self, entry: &Entry<'a>) -> Result<Entry<'a>, Error> {
        let mut e = *entry;
        for _ in 0..MAX_LINK_CHAIN {
            if e.kind != Kind::HardLink {
                return Ok(e);
            }
            e = self.entry_at(e.spec)?;
        }
        Err(Error::LoopDetected)
    }

    /// The data of a file or the target of a symlink (hard links resolved),
    /// borrowed from the image.
    pub fn read(&self, entry: &Entry<'a>) -> Result<&'a [u8], Error> {
        let e = self.resolve(entry)?;
        if !matches!(e.kind, Kind::File | Kind::Symlink) {
            return Err(Error::NotAFile);
        }
        let start = e.data_offset as usize;
        let end = start.checked_add(e.size as usize);
        end.and_then(|end| self.data.get(start..end))
            .ok_or(Error::DataOutOfBounds { offset: e.offset })
    }

    /// Iterates the entries of a directory (hard links resolved), in image
    /// order, "." and ".." included when the image has them.
    pub fn read_dir(&self, dir: &Entry<'a>) -> Result<ReadDir<'a>, Error> {
        let d = self.resolve(dir)?;
        if d.kind != Kind::Dir {
            return Err(Error::NotADirectory);
        }
        Ok(ReadDir {
            image: *self,
            next: d.spec,
            budget: self.slots(),
        })
    }

    /// Looks up `name` (one component) directly in `dir`.
    pub fn find(&self, dir: &Entry<'a>, name: &[u8]) -> Result<Entry<'a>, Error> {
        if name.len() > MAX_NAME_LEN {
            return Err(Error::NameTooLong);
        }
        for e in self.read_dir(dir)? {
            let e = e?;
            if e.name == name {
                return Ok(e);
            }
        }
        Err(Error::NotFound)
    }

    /// Finds the entry at `path` (absolute or relative to the root; empty
    /// components ignored; "." and ".." use the image's own entries), follows
    /// hard links and symlinks, including a symlink as last component. This
    /// is `stat`.
    pub fn lookup(&self, path: &str) -> Result<Entry<'a>, Error> {
        self.lookup_bytes(path.as_bytes(), true)
    }

    /// Like [`Image::lookup`] but does not follow a symlink in the last
    /// component (`lstat`). Hard links are still resolved.
    pub fn lookup_no_follow(&self, path: &str) -> Result<Entry<'a>, Error> {
        self.lookup_bytes(path.as_bytes(), false)
    }

    /// [`Image::lookup`] for byte paths; `follow` says whether a symlink in
    /// the last component is followed.
    pub fn lookup_bytes(&self, path: &[u8], follow: bool) -> Result<Entry<'a>, Error> {
        let mut links = MAX_SYMLINKS;
        self.lookup_from(self.root(), path, follow, &mut links)
    }

    fn lookup_from(
        &self,
        start: Entry<'a>,
        path: &[u8],
        follow_last: bool,
        links: &mut u32,
    ) -> Result<Entry<'a>, Error> {
        if path.len() > MAX_PATH_LEN {
            return Err(Error::PathTooLong);
        }
        let mut cur = if path.first() == Some(&b'/') {
            self.root()
        } else {
            start
        };
        let mut comps = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .peekable();
        while let Some(comp) = comps.next() {
            let last = comps.peek().is_none();
            let found = self.resolve(&self.find(&cur, comp)?)?;
            cur = if found.kind == Kind::Symlink && (follow_last || !last) {
                // Recursion depth is bounded by the symlink budget.
                *links = links.checked_sub(1).ok_or(Error::LoopDetected)?;
                let target = self.read(&found)?;
                self.lookup_from(cur, target, true, links)?
            } else {
                found
            };
        }
        Ok(cur)
    }

    /// Visits every entry of the tree depth-first in image order, skipping
    /// "." and "..", without following hard links or symlinks. `f` gets the
    /// names of the parent directories (root first) and the entry; it stops
    /// the walk early by returning `Break`.
    ///
    /// Terminates on any input: the number of headers visited is bounded by
    /// the image's slot count ([`Error::LoopDetected`] past that) and the
    /// depth by [`MAX_DEPTH`] ([`Error::TooDeep`]).
    pub fn walk<F>(&self, mut f: F) -> Result<(), Error>
    where
        F: FnMut(&[&'a [u8]], &Entry<'a>) -> ControlFlow<()>,
    {
        let mut stack: [Option<ReadDir<'a>>; MAX_DEPTH] = [None; MAX_DEPTH];
        let mut names: [&'a [u8]; MAX_DEPTH] = [&[]; MAX_DEPTH];
        let mut budget = self.slots();
        stack[0] = Some(self.read_dir(&self.root())?);
        // Number of open directories; the innermost is stack[depth - 1].
        let mut depth = 1;
        while depth > 0 {
            let Some(it) = stack[depth - 1].as_mut() else {
                break;
            };
            let entry = match it.next() {
                None => {
                    stack[depth - 1] = None;
                    depth -= 1;
                    continue;
                }
                Some(e) => e?,
            };
            budget = budget.checked_sub(1).ok_or(Error::LoopDetected)?;
            if entry.name == b"." || entry.name == b".." {
                continue;
            }
            if f(&names[..depth - 1], &entry).is_break() {
                return Ok(());
            }
            if entry.kind == Kind::Dir {
                if depth == MAX_DEPTH {
                    return Err(Error::TooDeep);
                }
                names[depth - 1] = entry.name;
                stack[depth] = Some(self.read_dir(&entry)?);
                depth += 1;
            }
        }
        Ok(())
    }

    /// Checks the whole image: walks the tree, reads every file and symlink
    /// and resolves every hard link. Returns counts for reporting.
    pub fn verify(&self) -> Result<Stats, Error> {
        let mut stats = Stats::default();
        let mut err = None;
        self.walk(|_, e| {
            stats.entries += 1;
            let r = match e.kind {
                Kind::Dir => {
                    stats.dirs += 1;
                    Ok(())
                }
                Kind::File | Kind::Symlink => self.read(e).map(|d| {
                    stats.files += 1;
                    stats.bytes += d.len() as u64;
                }),
                Kind::HardLink => self.resolve(e).map(|_| stats.hard_links += 1),
                _ => {
                    stats.special += 1;
                    Ok(())
                }
            };
            match r {
                Ok(()) => ControlFlow::Continue(()),
                Err(x) => {
                    err = Some(x);
                    ControlFlow::Break(())
                }
            }
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }
}

/// Counts reported by [`Image::verify`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries visited ("." and ".." excluded).
    pub entries: u32,
    /// Directories.
    pub dirs: u32,
    /// Regular files and symlinks.
    pub files: u32,
    /// Hard links (other than "." and "..").
    pub hard_links: u32,
    /// Devices, sockets and fifos.
    pub special: u32,
    /// Bytes of file and symlink data.
    pub bytes: u64,
}

/// Iterator over one directory's entries, from [`Image::read_dir`].
///
/// Yields each verified header; after the first error it yields nothing
/// more. It stops with [`Error::LoopDetected`] after more steps than the
/// image has slots, so a cyclic `next` chain cannot make it spin forever.
#[derive(Debug, Clone, Copy)]
pub struct ReadDir<'a> {
    image: Image<'a>,
    next: u32,
    budget: u32,
}

impl<'a> Iterator for ReadDir<'a> {
    type Item = Result<Entry<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == 0 {
            return None;
        }
        let offset = self.next;
        self.next = 0;
        let Some(budget) = self.budget.checked_sub(1) else {
            return Some(Err(Error::LoopDetected));
        };
        self.budget = budget;
        match self.image.entry_at(offset) {
            Ok(e) => {
                self.next = e.next;
                Some(Ok(e))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

impl core::iter::FusedIterator for ReadDir<'_> {}
