//! Syscall decoding: the raw registers of an `svc` (number in x8, arguments
//! in x0..x5) become one typed [`Syscall`], or a return code. User addresses
//! stay [`UserSlice`] "allegations" here: only the address space that owns
//! them can check and follow them.

use kos_abi::syscall as nr;
use kos_abi::{Handle, Rc};

/// A range of user memory named by a syscall, not yet checked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct UserSlice {
    pub addr: u64,
    pub len: u64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Syscall {
    Nop,
    /// Send `request` to the object behind `handle`; the reply goes to `reply`.
    Call {
        handle: Handle,
        request: UserSlice,
        reply: UserSlice,
        timeout_ns: u64,
    },
    /// Wait for a request on a channel's server end.
    Recv {
        handle: Handle,
        buf: UserSlice,
        timeout_ns: u64,
    },
    /// Answer the request `token` names.
    Reply {
        token: u64,
        msg: UserSlice,
    },
    /// Reply (unless `token` is 0), then receive, with no timeout.
    ReplyRecv {
        token: u64,
        msg: UserSlice,
        handle: Handle,
        buf: UserSlice,
    },
    Yield,
    /// Block for at least this many nanoseconds (0 = yield).
    Sleep {
        ns: u64,
    },
    /// End the calling thread with this exit code.
    ThreadExit {
        code: i64,
    },
}

/// Decode syscall `number` with arguments `a` (x0..x5).
pub fn decode(number: u64, a: [u64; 6]) -> Result<Syscall, Rc> {
    Ok(match number {
        nr::NOP => Syscall::Nop,
        nr::CALL => Syscall::Call {
            handle: handle(a[0])?,
            request: UserSlice {
                addr: a[1],
                len: a[2],
            },
            reply: UserSlice {
                addr: a[3],
                len: a[4],
            },
            timeout_ns: a[5],
        },
        nr::RECV => Syscall::Recv {
            handle: handle(a[0])?,
            buf: UserSlice {
                addr: a[1],
                len: a[2],
            },
            timeout_ns: a[3],
        },
        nr::REPLY => Syscall::Reply {
            token: a[0],
            msg: UserSlice {
                addr: a[1],
                len: a[2],
            },
        },
        nr::REPLY_RECV => Syscall::ReplyRecv {
            token: a[0],
            msg: UserSlice {
                addr: a[1],
                len: a[2],
            },
            handle: handle(a[3])?,
            buf: UserSlice {
                addr: a[4],
                len: a[5],
            },
        },
        nr::YIELD => Syscall::Yield,
        nr::SLEEP => Syscall::Sleep { ns: a[0] },
        nr::THREAD_EXIT => Syscall::ThreadExit { code: a[0] as i64 },
        _ => return Err(Rc::InvalidSyscall),
    })
}

/// Handle values are 32 bits; anything above names no handle.
fn handle(v: u64) -> Result<Handle, Rc> {
    u32::try_from(v).map(Handle).map_err(|_| Rc::InvalidHandle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_syscall() {
        assert_eq!(decode(nr::NOP, [9; 6]), Ok(Syscall::Nop));
        assert_eq!(decode(nr::YIELD, [0; 6]), Ok(Syscall::Yield));
        assert_eq!(
            decode(nr::SLEEP, [5, 0, 0, 0, 0, 0]),
            Ok(Syscall::Sleep { ns: 5 })
        );
        assert_eq!(
            decode(nr::THREAD_EXIT, [u64::MAX, 0, 0, 0, 0, 0]),
            Ok(Syscall::ThreadExit { code: -1 })
        );
        assert_eq!(
            decode(nr::CALL, [0x0001_0001, 0x1000, 16, 0x2000, 64, 7]),
            Ok(Syscall::Call {
                handle: Handle::KERNEL,
                request: UserSlice {
                    addr: 0x1000,
                    len: 16
                },
                reply: UserSlice {
                    addr: 0x2000,
                    len: 64
                },
                timeout_ns: 7,
            })
        );
        assert_eq!(
            decode(nr::RECV, [0x0001_0002, 0x3000, 128, 9, 0, 0]),
            Ok(Syscall::Recv {
                handle: Handle::new(2, 1),
                buf: UserSlice {
                    addr: 0x3000,
                    len: 128
                },
                timeout_ns: 9,
            })
        );
        assert_eq!(
            decode(nr::REPLY, [42, 0x4000, 16, 0, 0, 0]),
            Ok(Syscall::Reply {
                token: 42,
                msg: UserSlice {
                    addr: 0x4000,
                    len: 16
                },
            })
        );
    }

    #[test]
    fn bad_numbers_and_handles() {
        assert_eq!(decode(999, [0; 6]), Err(Rc::InvalidSyscall));
        assert_eq!(decode(u64::MAX, [0; 6]), Err(Rc::InvalidSyscall));
        assert_eq!(
            decode(nr::CALL, [1 << 32, 0, 0, 0, 0, 0]),
            Err(Rc::InvalidHandle)
        );
        assert_eq!(
            decode(nr::RECV, [1 << 40, 0, 0, 0, 0, 0]),
            Err(Rc::InvalidHandle)
        );
        assert_eq!(
            decode(nr::REPLY_RECV, [5, 0x10, 16, 0x0001_0002, 0x20, 64]),
            Ok(Syscall::ReplyRecv {
                token: 5,
                msg: UserSlice {
                    addr: 0x10,
                    len: 16
                },
                handle: Handle::new(2, 1),
                buf: UserSlice {
                    addr: 0x20,
                    len: 64
                },
            })
        );
    }
}
