//! The kernel's core endpoints on `Handle::KERNEL`: console, system
//! information, the ROMFS, the security audit and questions to the policy.

use kernel_core::utf8_cut;
use kos_abi::Rc;
use kos_abi::interfaces::{audit, console, romfs, security, sysinfo};
use kos_abi::msg::Endpoint;
use kos_abi::msg::romfs::{ReadReply, ReadReq};
use kos_abi::msg::sysinfo::{
    FAST_PATH_KEEP, FAST_PATH_OFF, FAST_PATH_ON, FastPath, FastPathReq, Lateness, MemStats, Served,
};

use super::{Reply, Request, space_of};
use crate::task::Kernel;
use crate::task::ipc_fast;
use crate::task::resume::{self, Work};

pub fn call<'a>(k: &mut Kernel, req: &Request, endpoint: Endpoint) -> Result<Reply<'a>, Rc> {
    // One method each (the gate checked it is declared); the matches are
    // exhaustive, so a method added to a declaration must be served here.
    let m = req.header.method;
    match endpoint {
        Endpoint::Console => match console::Method::from_u16(m).ok_or(Rc::ResourceNotFound)? {
            console::Method::Write => write(k, req),
        },
        Endpoint::SysInfo => match sysinfo::Method::from_u16(m).ok_or(Rc::ResourceNotFound)? {
            sysinfo::Method::MemStats => {
                // Counts with all ended memory back: what is left to give
                // back goes first, and the call comes back for more if an
                // interrupt waits (`task::reclaim`).
                k.reclaim_all();
                if !k.reclaimed() {
                    return Ok(Reply::Again);
                }
                Ok(Reply::fixed(&mem_stats(k)))
            }
            sysinfo::Method::Served => Ok(Reply::fixed(&Served {
                calls: super::served(),
            })),
            sysinfo::Method::FastPath => {
                let was_on = match req.args::<FastPathReq>().set {
                    FAST_PATH_OFF => ipc_fast::set_enabled(false),
                    FAST_PATH_ON => ipc_fast::set_enabled(true),
                    FAST_PATH_KEEP => ipc_fast::enabled(),
                    _ => return Err(Rc::InvalidArgument),
                };
                let taken = k.fast_taken();
                Ok(Reply::fixed(&FastPath {
                    was_on: u32::from(was_on),
                    _reserved: 0,
                    calls: taken.calls,
                    replies: taken.replies,
                }))
            }
            sysinfo::Method::TickLateness => {
                let (worst_ns, ticks) = crate::tick::take_lateness();
                let resumed = resume::take_stopped();
                Ok(Reply::fixed(&Lateness {
                    worst_ns,
                    ticks,
                    resumed,
                }))
            }
        },
        Endpoint::Romfs => match romfs::Method::from_u16(m).ok_or(Rc::ResourceNotFound)? {
            romfs::Method::Read => read(k, req),
        },
        Endpoint::Audit => match audit::Method::from_u16(m).ok_or(Rc::ResourceNotFound)? {
            audit::Method::Read => read_audit(k, req),
        },
        Endpoint::Security => match security::Method::from_u16(m).ok_or(Rc::ResourceNotFound)? {
            security::Method::Check => ask(k, req),
        },
        _ => Err(Rc::ResourceNotFound),
    }
}

fn mem_stats(k: &Kernel) -> MemStats {
    let (free, total) = crate::memory::frames::counts();
    let (processes, threads) = k.counts();
    let (handles, objects) = k.object_counts();
    MemStats {
        handles: handles as u64,
        objects: objects as u64,
        free_frames: free as u64,
        total_frames: total as u64,
        heap_used: crate::memory::heap::usage().0 as u64,
        processes: processes as u64,
        threads: threads as u64,
    }
}

/// Console output: the arena's bytes, copied out in small pieces and
/// written a few at a time, so that a long write stops for a waiting
/// interrupt (`task::resume`) after at most [`STEP`] bytes. A write that
/// stopped keeps the console till it ends (`task::console_turn`).
fn write<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    /// Bytes written between two looks for a waiting interrupt: about the
    /// UART's FIFO, so a slow line never holds interrupts off for long.
    const STEP: usize = 16;
    let mut buf = [0u8; 256];
    let total = req.header.arena_len;
    // Where a stopped write goes on; or, for a new one, till when it may
    // wait for the console (a wait it began before).
    let (resumed, waited) = match k.take_resume() {
        Some(Work::Console { written }) if written <= total => (Some(written), None),
        Some(Work::ConsoleTurn { until }) => (None, Some(until)),
        Some(other) => {
            k.abandon(req.caller, other);
            (None, None)
        }
        None => (None, None),
    };
    let mut off = match resumed {
        Some(written) => written,
        // Another thread's write stopped half-way: its turn first.
        None if k.console_taken() && k.console_wait(waited) => return Ok(Reply::Again),
        None => 0,
    };
    while off < total {
        let n = (total - off).min(buf.len() as u32);
        let r = kos_abi::msg::ArenaRef {
            offset: off,
            len: n,
        };
        let mut bytes = match req.arena_bytes(k, r, &mut buf) {
            Ok(b) => b,
            Err(rc) => {
                // Its write is over: waiters need not sit out their wait.
                k.console_done();
                return Err(rc);
            }
        };
        if off + n < total {
            // A character cut by the piece's end goes with the next piece.
            bytes = &bytes[..utf8_cut::whole_chars(bytes).max(1)];
        }
        while !bytes.is_empty() {
            let piece = &bytes[..utf8_cut::char_start(bytes, STEP.min(bytes.len()))];
            crate::console::write_bytes(piece);
            off += piece.len() as u32;
            bytes = &bytes[piece.len()..];
            // Only for an interrupt, not for a core waiting for the lock:
            // the console's turn keeps other writers out, and a write split
            // more often would only be cut more often by a tick's wait.
            if off < total && resume::interrupt_waits() {
                k.save_resume(Work::Console { written: off });
                k.console_keep();
                return Ok(Reply::Again);
            }
        }
    }
    k.console_done();
    Ok(Reply::empty())
}

fn read<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let a: ReadReq = req.args();
    let mut path_buf = [0u8; kos_abi::task::MAX_PATH];
    let path = req.arena_str(k, a.path, &mut path_buf)?;
    let data: &'static [u8] = crate::romfs::file(path).map_err(|_| Rc::ResourceNotFound)?;
    if a.offset > data.len() as u64 {
        return Err(Rc::InvalidArgument);
    }
    let _ = space_of(k, req.caller)?;
    let room = (req.cap as usize)
        .saturating_sub(kos_abi::msg::HEADER_SIZE + core::mem::size_of::<ReadReply>())
        .min(kos_abi::msg::MAX_ARENA);
    let rest = &data[a.offset as usize..];
    let chunk = &rest[..rest.len().min(room)];
    let fixed = ReadReply {
        size: data.len() as u64,
    };
    Ok(Reply::Data(
        heapless::Vec::from_slice(zerocopy::IntoBytes::as_bytes(&fixed)).unwrap_or_default(),
        chunk,
    ))
}

/// `Audit.Read`: the records after `after`, as many as `READ_MAX`.
fn read_audit<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    use kos_abi::msg::audit::{READ_MAX, ReadReply, ReadReq, Record};
    use zerocopy::{FromZeros, IntoBytes};
    let a: ReadReq = req.args();
    let mut records = [Record::new_zeroed(); READ_MAX];
    let (n, lost, last) = crate::audit::read(a.after, &mut records);
    let fixed = ReadReply {
        count: n as u32,
        lost: u32::try_from(lost).unwrap_or(u32::MAX),
        last,
    };
    Ok(req.reply_now(k, fixed.as_bytes(), records[..n].as_bytes()))
}

/// `Security.Check`: the policy's security event on the caller's question.
fn ask<'a>(k: &mut Kernel, req: &Request) -> Result<Reply<'a>, Rc> {
    let a: kos_abi::msg::security::CheckReq = req.args();
    crate::security::check(&crate::security::Message {
        event: crate::security::Event::Security,
        source: k.party(req.caller)?,
        target: None,
        endpoint: a.endpoint,
        method: a.method,
        fixed: &a.args,
        name: "",
        path: "",
    })?;
    Ok(Reply::empty())
}
