//! Files of the ROMFS the kernel carries (`Romfs.Read` on the kernel
//! handle).

use alloc::vec;
use alloc::vec::Vec;

use kos_abi::interfaces::romfs::call::Read as ReadCall;
use kos_abi::msg::romfs::ReadReq;
use kos_abi::msg::{ArenaRef, MAX_ARENA};
use kos_abi::{Handle, Rc};

use crate::ipc;

/// What one read returned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Bytes placed at the start of the buffer.
    pub len: usize,
    /// The whole file's size.
    pub size: u64,
}

/// Reads the file at `path` from `offset` into `buf` (at most
/// [`MAX_ARENA`] bytes per call).
pub fn read(path: &str, offset: u64, buf: &mut [u8]) -> Result<Read, Rc> {
    let len = u32::try_from(path.len()).map_err(|_| Rc::InvalidArgument)?;
    let req = ReadReq {
        path: ArenaRef { offset: 0, len },
        offset,
    };
    let cap = buf.len().min(MAX_ARENA);
    let (reply, got) =
        ipc::invoke::<ReadCall>(Handle::KERNEL, &req, &[path.as_bytes()], &mut buf[..cap])?;
    Ok(Read {
        len: got,
        size: reply.size,
    })
}

/// Reads a whole file.
pub fn read_to_vec(path: &str) -> Result<Vec<u8>, Rc> {
    // Small files (the usual case) come in one call.
    let mut chunk = vec![0u8; 4096];
    let first = read(path, 0, &mut chunk)?;
    let size = usize::try_from(first.size).map_err(|_| Rc::OutOfMemory)?;
    let mut data = Vec::with_capacity(size);
    data.extend_from_slice(&chunk[..first.len.min(size)]);
    while data.len() < size {
        chunk.resize((size - data.len()).min(MAX_ARENA), 0);
        let r = read(path, data.len() as u64, &mut chunk)?;
        if r.len == 0 {
            // The file shrank?: the kernel's ROMFS never changes, so this
            // is a broken reply.
            return Err(Rc::NotSupported);
        }
        data.extend_from_slice(&chunk[..r.len.min(size - data.len())]);
    }
    Ok(data)
}
