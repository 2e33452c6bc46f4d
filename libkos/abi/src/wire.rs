//! The byte codec of the records a process is handed at start
//! ([`crate::startup`]) and of the compiled init description
//! ([`crate::init`]): little-endian integers and strings prefixed by a u16
//! length. [`Cursor`] reads without allocating and never panics (every
//! read is bounds-checked and fails with `None`); [`Writer`] (feature
//! `alloc`) builds a record.

/// Reads a record from the front.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub const fn new(bytes: &'a [u8]) -> Self {
        Cursor { rest: bytes }
    }

    /// Bytes not read yet.
    pub const fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    pub fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.bytes(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }

    /// A UTF-8 string with its u16 length before it.
    pub fn str(&mut self) -> Option<&'a str> {
        let n = self.u16()?;
        core::str::from_utf8(self.bytes(usize::from(n))?).ok()
    }
}

/// Builds a record (the inverse of [`Cursor`]).
#[cfg(any(test, feature = "alloc"))]
#[derive(Clone, Debug, Default)]
pub struct Writer {
    pub bytes: alloc::vec::Vec<u8>,
}

#[cfg(any(test, feature = "alloc"))]
impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    /// A string of at most `u16::MAX` bytes (longer: `Err`).
    pub fn str(&mut self, s: &str) -> Result<(), crate::Rc> {
        let n = u16::try_from(s.len()).map_err(|_| crate::Rc::InvalidArgument)?;
        self.u16(n);
        self.bytes.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// A count of at most `u16::MAX` items (more: `Err`).
    pub fn count(&mut self, n: usize) -> Result<(), crate::Rc> {
        self.u16(u16::try_from(n).map_err(|_| crate::Rc::InvalidArgument)?);
        Ok(())
    }
}
