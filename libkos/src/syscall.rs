//! The syscalls: the only place with `svc #0`.
//!
//! Register convention (see [`kos_abi::syscall`]): number in `x8`, arguments
//! in `x0..x5`, the [`Rc`] back in `x0` and results in `x1..`; the kernel
//! preserves every other register, FP/SIMD included.

use core::arch::asm;
use core::time::Duration;

use kos_abi::syscall as nr;
pub use kos_abi::syscall::FOREVER;
use kos_abi::{Handle, Rc};

/// Enters the kernel with syscall `number` and arguments `args` (x0..x5);
/// returns the raw `x0` and `x1`.
///
/// # Safety
///
/// The kernel may read and write user memory as the syscall's arguments
/// say: for [`nr::CALL`], the request range must be memory the caller may
/// let the kernel read, and the reply range memory it owns exclusively and
/// lets the kernel overwrite; for [`nr::REPLY`], the message must be
/// readable. [`nr::RECV`] returns four registers: use [`recv_raw`]. Other
/// numbers touch no user memory.
#[inline(always)]
pub unsafe fn raw(number: u64, args: [u64; 6]) -> (u64, u64) {
    let r0: u64;
    let r1: u64;
    // SAFETY: `svc #0` enters the kernel, which returns to the next
    // instruction with only x0/x1 changed (x2..x5 are declared clobbered as
    // well, to depend on less) and does not touch our stack; what it does
    // to memory is the caller's contract above (no `nomem`/`readonly`, so
    // the compiler assumes any memory may change).
    unsafe {
        asm!(
            "svc #0",
            in("x8") number,
            inlateout("x0") args[0] => r0,
            inlateout("x1") args[1] => r1,
            inlateout("x2") args[2] => _,
            inlateout("x3") args[3] => _,
            inlateout("x4") args[4] => _,
            inlateout("x5") args[5] => _,
            options(nostack),
        );
    }
    (r0, r1)
}

/// A syscall that touches no user memory: only its number and register
/// arguments matter.
fn no_memory(number: u64, args: [u64; 6]) -> (u64, u64) {
    // SAFETY: NOP, YIELD and SLEEP (and unknown numbers, which the kernel
    // refuses) read and write no user memory.
    unsafe { raw(number, args) }
}

/// Does nothing and returns [`Rc::Ok`].
pub fn nop() -> Rc {
    Rc::from_raw(no_memory(nr::NOP, [0; 6]).0)
}

/// Gives the rest of the time slice to threads of the same priority.
pub fn yield_now() {
    no_memory(nr::YIELD, [0; 6]);
}

/// Blocks the calling thread for at least `ns` nanoseconds.
pub fn sleep_ns(ns: u64) -> Rc {
    Rc::from_raw(no_memory(nr::SLEEP, [ns, 0, 0, 0, 0, 0]).0)
}

/// Blocks the calling thread for at least `d`.
pub fn sleep(d: Duration) -> Rc {
    sleep_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Syscall `number` with register arguments only (for tests of the trap
/// layer, e.g. an unknown number): returns the decoded `x0`.
///
/// Only numbers that touch no user memory are accepted here: [`nr::CALL`],
/// [`nr::RECV`], [`nr::REPLY`] and [`nr::REPLY_RECV`] (which do) give [`Rc::InvalidArgument`]
/// without entering the kernel, and [`nr::THREAD_EXIT`] has [`thread_exit`].
pub fn register_only(number: u64, args: [u64; 6]) -> Rc {
    if matches!(
        number,
        nr::CALL | nr::RECV | nr::REPLY | nr::REPLY_RECV | nr::THREAD_EXIT
    ) {
        return Rc::InvalidArgument;
    }
    Rc::from_raw(no_memory(number, args).0)
}

/// Ends the calling thread with `code`; the last thread of a process to end
/// ends the process with that code.
pub fn thread_exit(code: i64) -> ! {
    // SAFETY: THREAD_EXIT touches no user memory and never returns to this
    // thread (`noreturn`).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr::THREAD_EXIT,
            in("x0") code,
            options(nostack, noreturn),
        );
    }
}

/// `Call` with raw pointers and no timeout ([`FOREVER`]): sends `req_len`
/// bytes at `req` to the object behind `handle`; the reply (at most
/// `reply_cap` bytes) lands at `reply`. Returns the [`Rc`] and the reply's
/// length.
///
/// # Safety
///
/// `req..req+req_len` must be readable by the kernel on our behalf and
/// `reply..reply+reply_cap` memory the caller owns exclusively for the call
/// and lets the kernel overwrite. Addresses that are not user memory (null,
/// kernel, read-only) are for testing the kernel's checks: it must refuse
/// them with [`Rc::BadAddress`] without touching them.
pub unsafe fn call_raw(
    handle: Handle,
    req: *const u8,
    req_len: usize,
    reply: *mut u8,
    reply_cap: usize,
) -> (Rc, usize) {
    // SAFETY: the caller's contract is call_raw_timeout's.
    unsafe { call_raw_timeout(handle, req, req_len, reply, reply_cap, FOREVER) }
}

/// [`call_raw`] with a timeout in nanoseconds: a channel call gives up with
/// [`Rc::Timeout`] after `timeout_ns` ([`FOREVER`]: never; 0: unless a
/// server is already waiting, whose reply is then waited for without
/// bound). Kernel objects answer at once and ignore it.
///
/// For a call to a user server, `x0` is the status the server put in its
/// reply's header; a transport failure (`rcPeerDied`, `rcTimeout`,
/// `rcMessageTooLarge`, a bad handle descriptor) comes back with a reply
/// length of 0.
///
/// # Safety
///
/// As for [`call_raw`].
pub unsafe fn call_raw_timeout(
    handle: Handle,
    req: *const u8,
    req_len: usize,
    reply: *mut u8,
    reply_cap: usize,
    timeout_ns: u64,
) -> (Rc, usize) {
    // SAFETY: the caller upholds CALL's memory contract (see above).
    let (rc, len) = unsafe {
        raw(
            nr::CALL,
            [
                u64::from(handle.0),
                req as u64,
                req_len as u64,
                reply as u64,
                reply_cap as u64,
                timeout_ns,
            ],
        )
    };
    (Rc::from_raw(rc), len as usize)
}

/// `Call` with byte buffers: the request is `req`, the reply is written to
/// the start of `reply`. Returns the [`Rc`] and the reply's length.
pub fn call_bytes(handle: Handle, req: &[u8], reply: &mut [u8]) -> (Rc, usize) {
    call_bytes_timeout(handle, req, reply, FOREVER)
}

/// [`call_bytes`] with a timeout (see [`call_raw_timeout`]).
pub fn call_bytes_timeout(
    handle: Handle,
    req: &[u8],
    reply: &mut [u8],
    timeout_ns: u64,
) -> (Rc, usize) {
    // SAFETY: `req` is a live slice the kernel only reads; `reply` is
    // exclusively borrowed for the call and the kernel writes at most
    // `reply.len()` bytes into it.
    let (rc, len) = unsafe {
        call_raw_timeout(
            handle,
            req.as_ptr(),
            req.len(),
            reply.as_mut_ptr(),
            reply.len(),
            timeout_ns,
        )
    };
    (rc, len.min(reply.len()))
}

/// Names a received request for [`reply_raw`]: RECV's `x2` (never 0).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplyToken(pub u64);

/// What [`recv_raw`] returns: RECV's `x0..x3`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecvRaw {
    pub rc: Rc,
    /// Bytes of the message written to the buffer.
    pub len: usize,
    /// Names the caller for [`reply_raw`].
    pub token: ReplyToken,
    /// The badge value of the caller's channel handle (0: none).
    pub badge: u64,
}

/// `Recv(handle, buf, cap, timeout_ns)`: waits (at most `timeout_ns`,
/// [`FOREVER`] for no bound, 0 = do not block) for a request on the server
/// end `handle` (needs SERVER) and writes it to `buf`.
///
/// # Safety
///
/// `buf..buf+cap` must be memory the caller owns exclusively and lets the
/// kernel overwrite.
pub unsafe fn recv_raw(handle: Handle, buf: *mut u8, cap: usize, timeout_ns: u64) -> RecvRaw {
    let r0: u64;
    let r1: u64;
    let r2: u64;
    let r3: u64;
    // SAFETY: `svc #0` returns to the next instruction with x0..x3 set (x4,
    // x5 declared clobbered too); the kernel writes only `buf..buf+cap`,
    // which the caller lets it (no `nomem`: memory may change).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr::RECV,
            inlateout("x0") u64::from(handle.0) => r0,
            inlateout("x1") buf as u64 => r1,
            inlateout("x2") cap as u64 => r2,
            inlateout("x3") timeout_ns => r3,
            inlateout("x4") 0u64 => _,
            inlateout("x5") 0u64 => _,
            options(nostack),
        );
    }
    RecvRaw {
        rc: Rc::from_raw(r0),
        len: r1 as usize,
        token: ReplyToken(r2),
        badge: r3,
    }
}

/// [`recv_raw`] into a byte buffer (the length is bounded by `buf`'s).
pub fn recv_bytes(handle: Handle, buf: &mut [u8], timeout_ns: u64) -> RecvRaw {
    // SAFETY: `buf` is exclusively borrowed for the call and the kernel
    // writes at most `buf.len()` bytes into it.
    let mut r = unsafe { recv_raw(handle, buf.as_mut_ptr(), buf.len(), timeout_ns) };
    r.len = r.len.min(buf.len());
    r
}

/// `Reply(token, msg, len)`: answers the request `token` names with the
/// message at `msg` (header, fixed part, handle descriptors, arena).
///
/// # Safety
///
/// `msg..msg+len` must be readable by the kernel on our behalf.
pub unsafe fn reply_raw(token: ReplyToken, msg: *const u8, len: usize) -> Rc {
    // SAFETY: the kernel only reads `msg..msg+len` (caller's contract).
    let (rc, _) = unsafe { raw(nr::REPLY, [token.0, msg as u64, len as u64, 0, 0, 0]) };
    Rc::from_raw(rc)
}

/// `ReplyRecv(token, msg, len, handle, buf, cap)`: [`reply_raw`] then
/// [`recv_raw`] without timeout, in one trap (a server loop's step).
/// Returns RECV's results and the reply's own [`Rc`]. A `token` of 0
/// skips the reply.
///
/// # Safety
///
/// `msg..msg+len` must be readable by the kernel on our behalf and
/// `buf..buf+cap` memory the caller owns exclusively and lets the kernel
/// overwrite.
pub unsafe fn reply_recv_raw(
    token: ReplyToken,
    msg: *const u8,
    len: usize,
    handle: Handle,
    buf: *mut u8,
    cap: usize,
) -> (RecvRaw, Rc) {
    let r0: u64;
    let r1: u64;
    let r2: u64;
    let r3: u64;
    let r4: u64;
    // SAFETY: `svc #0` returns to the next instruction with x0..x4 set (x5
    // declared clobbered too); the kernel reads only `msg..msg+len` and
    // writes only `buf..buf+cap` (caller's contract; no `nomem`).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr::REPLY_RECV,
            inlateout("x0") token.0 => r0,
            inlateout("x1") msg as u64 => r1,
            inlateout("x2") len as u64 => r2,
            inlateout("x3") u64::from(handle.0) => r3,
            inlateout("x4") buf as u64 => r4,
            inlateout("x5") cap as u64 => _,
            options(nostack),
        );
    }
    (
        RecvRaw {
            rc: Rc::from_raw(r0),
            len: r1 as usize,
            token: ReplyToken(r2),
            badge: r3,
        },
        Rc::from_raw(r4),
    )
}

/// [`reply_recv_raw`] with byte slices: the reply `msg` (empty with a
/// `token` of 0) and the receive buffer `buf` (the length is bounded by
/// `buf`'s).
pub fn reply_recv_bytes(
    token: ReplyToken,
    msg: &[u8],
    handle: Handle,
    buf: &mut [u8],
) -> (RecvRaw, Rc) {
    // SAFETY: `msg` is a live slice the kernel only reads; `buf` is
    // exclusively borrowed for the call and the kernel writes at most
    // `buf.len()` bytes into it.
    let (mut r, replied) = unsafe {
        reply_recv_raw(
            token,
            msg.as_ptr(),
            msg.len(),
            handle,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    r.len = r.len.min(buf.len());
    (r, replied)
}

/// [`reply_raw`] with a byte slice.
pub fn reply_bytes(token: ReplyToken, msg: &[u8]) -> Rc {
    // SAFETY: `msg` is a live slice the kernel only reads.
    unsafe { reply_raw(token, msg.as_ptr(), msg.len()) }
}
