//! Writing a reply message (header, fixed part, arena) into a waiting
//! caller's buffer: the kernel's answers to kernel calls, and the replies
//! of waits that end later (Notice.Wait, Thread.Join, Task.Wait).

use heapless::Vec as HVec;
use kos_abi::Rc;
use kos_abi::msg::{HEADER_SIZE, Header};
use zerocopy::{Immutable, IntoBytes};

use super::Kernel;
use super::thread::Pid;

/// Write a reply (header with `rc`, `fixed`, `arena`) to `pid`'s buffer at
/// `reply` (capacity `cap`); returns what the syscall should return.
pub fn write_reply<F: IntoBytes + Immutable + ?Sized>(
    k: &Kernel,
    pid: Pid,
    reply: u64,
    cap: u64,
    rc: Rc,
    fixed: &F,
    arena: &[u8],
) -> (Rc, u64) {
    let fixed = fixed.as_bytes();
    let Ok(space) = k.space(pid) else {
        return (rc, 0);
    };
    let header = Header {
        endpoint: 0,
        method: 0,
        fixed_len: fixed.len() as u16,
        handles: 0,
        arena_len: arena.len() as u32,
        status: rc as u32,
    };
    let total = header.total_len() as u64;
    if total > cap {
        // An error still fits as a bare header if there is room for one.
        if rc != Rc::Ok {
            let bare = Header {
                fixed_len: 0,
                arena_len: 0,
                ..header
            };
            if cap >= HEADER_SIZE as u64 && space.copy_out(reply, bare.as_bytes()).is_ok() {
                return (rc, HEADER_SIZE as u64);
            }
            return (rc, 0);
        }
        return (Rc::MessageTooLarge, 0);
    }
    // Header and a small fixed part in one copy, the rest after.
    let mut head: HVec<u8, { HEADER_SIZE + 64 }> = HVec::new();
    let _ = head.extend_from_slice(header.as_bytes());
    let joined = head.extend_from_slice(fixed).is_ok();
    let parts: [&[u8]; 3] = if joined {
        [&head, &[], arena]
    } else {
        [header.as_bytes(), fixed, arena]
    };
    let mut at = reply;
    for part in parts {
        if space.copy_out(at, part).is_err() {
            return (Rc::BadAddress, 0);
        }
        at += part.len() as u64;
    }
    (rc, total)
}
