//! Syscall numbers and register conventions.
//!
//! A syscall is `svc #0` with the number in `x8` and arguments in `x0..x5`.
//! The kernel returns the [`Rc`](crate::Rc) in `x0` and results in `x1..`;
//! every other register is preserved (including FP/SIMD state).
//!
//! There are few syscalls on purpose: everything else is a method of a
//! kernel object reached with [`CALL`] through a handle, so it passes the
//! same IPC path and security check as a call to a user server.

/// Does nothing and returns `rcOk`: the cost of entering and leaving the
/// kernel (the `null_syscall` benchmark).
pub const NOP: u64 = 0;
/// `Call(handle, req_ptr, req_len, reply_ptr, reply_cap, timeout_ns) ->
/// (rc, reply_len)`: send the request message to the object behind `handle`
/// and wait for the reply, which the kernel writes to `reply_ptr` (at most
/// `reply_cap` bytes). For a channel, `timeout_ns` bounds the whole call
/// ([`FOREVER`] = no bound; 0 = only if a server is waiting, whose reply is
/// then waited for without bound); kernel objects answer at once and
/// ignore it.
pub const CALL: u64 = 1;
/// Give up the rest of the time slice to threads of the same priority.
pub const YIELD: u64 = 2;
/// `Sleep(ns)`: block the calling thread for at least `ns` nanoseconds.
pub const SLEEP: u64 = 3;
/// `Recv(server_handle, buf, cap, timeout_ns) -> (rc, len, reply_token,
/// badge)`: wait for a request on a channel's server side (needs
/// [`Rights::SERVER`](crate::Rights)); the message is written to `buf`, its
/// handle descriptors already translated into the receiver's handles.
/// `reply_token` names the caller for [`REPLY`]; `badge` is the value of the
/// resource transfer context the caller's channel handle carries (0: none).
pub const RECV: u64 = 5;
/// `Reply(reply_token, msg, len) -> rc`: answer the request `reply_token`
/// named. `rcPeerDied` if the caller ended meanwhile.
pub const REPLY: u64 = 6;

/// `ReplyRecv(reply_token, msg, len, server_handle, buf, cap) -> (rc, len,
/// reply_token, badge, reply_rc)`: [`REPLY`] then [`RECV`] (no timeout) in
/// one trap, as a server loop does; the results are RECV's, with the
/// reply's own rc in x4. A `reply_token` of 0 skips the reply.
pub const REPLY_RECV: u64 = 7;

/// No timeout.
pub const FOREVER: u64 = u64::MAX;

/// `ThreadExit(code)`: end the calling thread. The last thread of a process
/// to end ends the process with `code` as its exit code. Never returns.
pub const THREAD_EXIT: u64 = 4;

/// Startup registers of a process's initial thread: `x0` = address of its
/// environment data (0 if none), `x1` = its length, `x2` = the initial
/// thread's stack size. A new thread gets its argument in `x0`.
pub const ENTRY_ENV_REG: usize = 0;

const _: () = {
    assert!(NOP == 0 && CALL == 1 && YIELD == 2 && SLEEP == 3 && THREAD_EXIT == 4);
    assert!(RECV == 5 && REPLY == 6 && REPLY_RECV == 7);
};
