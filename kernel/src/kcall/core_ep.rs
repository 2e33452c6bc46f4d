//! The kernel's core endpoints on `Handle::KERNEL`: console, system
//! information, handle operations and the ROMFS.

use kos_abi::Rc;
use kos_abi::msg::{Endpoint, console, romfs, sysinfo};

use super::{Reply, Request, space_of};
use crate::task::Kernel;

pub fn call<'a>(k: &mut Kernel, req: &Request, endpoint: Endpoint) -> Result<Reply<'a>, Rc> {
    let method = req.header.method;
    match (endpoint, method) {
        (Endpoint::Console, console::WRITE) => write(k, req),
        (Endpoint::SysInfo, sysinfo::MEM_STATS) => {
            let (free, total) = crate::memory::frames::counts();
            Ok(Reply::fixed(&sysinfo::MemStats {
                free_frames: free as u64,
                total_frames: total as u64,
                heap_used: crate::memory::heap::usage().0 as u64,
                processes: k.counts().0 as u64,
                threads: k.counts().1 as u64,
            }))
        }
        (Endpoint::Romfs, romfs::READ) => read(k, req),
        _ => Err(Rc::ResourceNotFound),
    }
}

/// Console output: the arena's bytes, copied out in small pieces.
fn write<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let mut buf = [0u8; 256];
    let total = req.header.arena_len;
    let mut off = 0u32;
    while off < total {
        let n = (total - off).min(buf.len() as u32);
        let r = kos_abi::msg::ArenaRef {
            offset: off,
            len: n,
        };
        let bytes = req.arena_bytes(k, r, &mut buf)?;
        crate::console::write_bytes(bytes);
        off += n;
    }
    Ok(Reply::empty())
}

fn read<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let a: romfs::ReadReq = req.args();
    let mut path_buf = [0u8; kos_abi::task::MAX_PATH];
    let path = req.arena_str(k, a.path, &mut path_buf)?;
    let data: &'static [u8] = crate::romfs::file(path).map_err(|_| Rc::ResourceNotFound)?;
    if a.offset > data.len() as u64 {
        return Err(Rc::InvalidArgument);
    }
    let _ = space_of(k, req.caller)?;
    let room = (req.cap as usize)
        .saturating_sub(kos_abi::msg::HEADER_SIZE + core::mem::size_of::<romfs::ReadReply>())
        .min(kos_abi::msg::MAX_ARENA);
    let rest = &data[a.offset as usize..];
    let chunk = &rest[..rest.len().min(room)];
    let fixed = romfs::ReadReply {
        size: data.len() as u64,
    };
    Ok(Reply::Data(
        heapless::Vec::from_slice(zerocopy::IntoBytes::as_bytes(&fixed)).unwrap_or_default(),
        chunk,
    ))
}
