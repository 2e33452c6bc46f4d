//! On-disk layout of a Linux romfs image ("-rom1fs-").
//!
//! Everything is big-endian and every header starts on a 16-byte boundary.
//!
//! ```text
//! superblock  0  "-rom1fs-"            magic, 8 bytes
//!             8  full_size  (be32)     bytes of the image that are used
//!            12  checksum   (be32)     makes the first min(512, full_size)
//!                                      bytes sum to 0 as be32 words
//!            16  volume name           NUL-terminated, padded to 16
//! file header 0  next       (be32)     offset of the next entry of the same
//!                                      directory (0 = last); the low 4 bits
//!                                      are the type (bits 0..=2) and the
//!                                      executable flag (bit 3)
//!             4  spec.info  (be32)     meaning depends on the type
//!             8  size       (be32)     bytes of data following the name
//!            12  checksum   (be32)     makes header + padded name sum to 0
//!            16  name                  NUL-terminated, padded to 16
//!                data                  `size` bytes, padded to 16
//! ```
//!
//! The constants and helpers here are shared by the reader and the builder so
//! that both sides agree on one definition of the format.

/// The 8 magic bytes that open every image.
pub const MAGIC: &[u8; 8] = b"-rom1fs-";

/// Headers, names and data are aligned to this many bytes.
pub const ALIGN: u32 = 16;

/// Size of the fixed part of a file header (and of the superblock before the
/// volume name).
pub const HEADER_SIZE: u32 = 16;

/// The superblock checksum covers at most this many leading bytes.
pub const SUPERBLOCK_CHECKSUM_LEN: u32 = 512;

/// genromfs pads the image file (not the `full_size` field) to a multiple of
/// this, the block size Linux mounts romfs with.
pub const IMAGE_PAD: usize = 1024;

/// Longest entry name accepted, in bytes (without the NUL). Host file systems
/// cap names at 255 bytes, so genromfs never writes longer ones; refusing
/// longer ones bounds the work the reader does per header.
pub const MAX_NAME_LEN: usize = 255;

/// Mask of the `next` field that holds the offset of the next header.
pub const NEXT_MASK: u32 = !0xf;
/// Mask of the `next` field that holds the entry type.
pub const TYPE_MASK: u32 = 0x7;
/// Bit of the `next` field set for executable files and directories.
pub const EXEC_FLAG: u32 = 0x8;

/// Entry type codes stored in the low 3 bits of `next`.
pub mod kind {
    /// Hard link: `spec.info` is the offset of the linked header.
    pub const HARD_LINK: u32 = 0;
    /// Directory: `spec.info` is the offset of its first entry.
    pub const DIR: u32 = 1;
    /// Regular file: the data follows the name.
    pub const FILE: u32 = 2;
    /// Symbolic link: the data is the target path.
    pub const SYMLINK: u32 = 3;
    /// Block device: `spec.info` is `major << 16 | minor`.
    pub const BLOCK_DEV: u32 = 4;
    /// Character device: `spec.info` is `major << 16 | minor`.
    pub const CHAR_DEV: u32 = 5;
    /// Unix domain socket.
    pub const SOCKET: u32 = 6;
    /// Named pipe.
    pub const FIFO: u32 = 7;
}

/// Rounds `n` up to the next multiple of [`ALIGN`], or `None` on overflow.
pub const fn align_up(n: u32) -> Option<u32> {
    match n.checked_add(ALIGN - 1) {
        Some(v) => Some(v & !(ALIGN - 1)),
        None => None,
    }
}

/// Reads the big-endian word at `off`, or `None` if it is out of bounds.
pub fn be32(bytes: &[u8], off: usize) -> Option<u32> {
    let end = off.checked_add(4)?;
    let w = bytes.get(off..end)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// Sum of the big-endian 32-bit words of `bytes`, wrapping: the romfs
/// checksum. A correct region sums to 0. A trailing partial word is padded
/// with zeros (never happens for aligned regions, but keeps this total).
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(4);
    let mut sum = 0u32;
    for w in &mut chunks {
        sum = sum.wrapping_add(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 4];
        w[..rest.len()].copy_from_slice(rest);
        sum = sum.wrapping_add(u32::from_be_bytes(w));
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_up_rounds_to_16() {
        assert_eq!(align_up(0), Some(0));
        assert_eq!(align_up(1), Some(16));
        assert_eq!(align_up(16), Some(16));
        assert_eq!(align_up(17), Some(32));
        assert_eq!(align_up(u32::MAX), None);
    }

    #[test]
    fn checksum_wraps_and_pads() {
        assert_eq!(checksum(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]), 0);
        assert_eq!(checksum(&[0, 0, 0, 1, 0x80]), 0x8000_0001);
    }
}
