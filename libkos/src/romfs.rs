//! Files of the ROMFS: the kernel's (`Romfs.Read` on the kernel handle) or
//! fsusr's (the `kl.core.FSUsr` channel), whichever is this process's
//! file-system backend ([`crate::process::self_fs_backend`]).

use alloc::vec;
use alloc::vec::Vec;

use core::sync::atomic::{AtomicU32, Ordering};
use kos_abi::interfaces::romfs::call::Read as ReadCall;
use kos_abi::msg::romfs::ReadReq;
use kos_abi::msg::{ArenaRef, MAX_ARENA};

use kos_abi::startup::{FSUSR, FsBackend};
use kos_abi::{Handle, Rc};

use crate::{ipc, locator, process, services};

/// What one read returned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Bytes placed at the start of the buffer.
    pub len: usize,
    /// The whole file's size.
    pub size: u64,
}

/// Reads the file at `path` from `offset` into `buf` (at most
/// [`MAX_ARENA`] bytes per call), from this process's backend.
pub fn read(path: &str, offset: u64, buf: &mut [u8]) -> Result<Read, Rc> {
    match process::self_fs_backend() {
        FsBackend::Kernel => read_kernel(path, offset, buf),
        FsBackend::User => read_fsusr(path, offset, buf),
    }
}

/// The fsusr channel in use (0: not looked up yet).
static FSUSR_CHANNEL: AtomicU32 = AtomicU32::new(0);

/// This process's channel to fsusr: the one given to [`set_fsusr_channel`],
/// else its static channel [`FSUSR`], else the resource of that name its
/// parent gave it.
pub fn fsusr_channel() -> Option<Handle> {
    match FSUSR_CHANNEL.load(Ordering::Relaxed) {
        0 => {}
        h => return Some(Handle(h)),
    }
    // Looked up once: a static channel lookup makes a new handle each time.
    let h = locator::connect(FSUSR)
        .or_else(|_| process::lookup_resource(FSUSR))
        .ok()?;
    match FSUSR_CHANNEL.compare_exchange(0, h.0, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => Some(h),
        Err(first) => {
            // Another thread was first: keep its handle.
            let _ = crate::handle::close(h);
            Some(Handle(first))
        }
    }
}

/// Uses `channel` (a client end to fsusr) for this process's fsusr reads
/// (for a process that made its own channel to an fsusr child); one is in
/// use already: [`Rc::AlreadyExists`].
pub fn set_fsusr_channel(channel: Handle) -> Result<(), Rc> {
    FSUSR_CHANNEL
        .compare_exchange(0, channel.0, Ordering::Relaxed, Ordering::Relaxed)
        .map(drop)
        .map_err(|_| Rc::AlreadyExists)
}

/// `KnFsChange`: has fsusr serve the ROMFS image `image` from now on (to
/// every process it serves). An image that does not parse:
/// [`Rc::InvalidArgument`], and fsusr keeps the one it had.
pub fn fs_change(image: &[u8]) -> Result<(), Rc> {
    let ch = fsusr_channel().ok_or(Rc::ResourceNotFound)?;
    let mdl = crate::elf::mdl_with(image)?;
    let desc = ipc::copy_of(mdl.get(), kos_abi::Rights::MAP_READ);
    services::fsusr::Client::new(ch).change(desc, image.len() as u64)
}

fn read_fsusr(path: &str, offset: u64, buf: &mut [u8]) -> Result<Read, Rc> {
    let ch = fsusr_channel().ok_or(Rc::ResourceNotFound)?;
    let (size, data) = services::fsusr::Client::new(ch).read(path, offset)?;
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);
    Ok(Read { len: n, size })
}

fn read_kernel(path: &str, offset: u64, buf: &mut [u8]) -> Result<Read, Rc> {
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
