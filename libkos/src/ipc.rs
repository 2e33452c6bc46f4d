//! Typed calls to kernel objects: builds the request message (header, fixed
//! part, arena) in a stack buffer, calls, and unpacks the reply.
//!
//! Messages up to [`STACK_MESSAGE`] bytes never allocate (what the console
//! and the panic handler use); bigger ones use a heap buffer.

use alloc::vec;
use alloc::vec::Vec;

use kos_abi::msg::{HEADER_SIZE, Header, MAX_ARENA, MAX_FIXED};
use kos_abi::{Handle, Rc};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::syscall;

/// Largest request (and, separately, reply) built on the stack, in bytes.
pub const STACK_MESSAGE: usize = 1024;
const STACK_WORDS: usize = STACK_MESSAGE / 8;

/// Calls method `method` of endpoint `endpoint` of the object behind
/// `handle`: the request's fixed part is `fixed`, its arena `arena`. The
/// reply's fixed part is copied into `reply_fixed` and its arena into the
/// start of `reply_arena` (which also bounds it). Returns the reply arena's
/// length.
///
/// Any code other than [`Rc::Ok`] is an `Err`. A reply whose fixed part is
/// shorter than `R`, or whose header disagrees with the reply's length, is
/// [`Rc::NotSupported`] (the ABI was broken).
pub fn call<F, R>(
    handle: Handle,
    endpoint: u16,
    method: u16,
    fixed: &F,
    arena: &[u8],
    reply_fixed: &mut R,
    reply_arena: &mut [u8],
) -> Result<usize, Rc>
where
    F: IntoBytes + Immutable + ?Sized,
    R: FromBytes + IntoBytes,
{
    call_parts(
        handle,
        endpoint,
        method,
        fixed.as_bytes(),
        &[arena],
        reply_fixed.as_mut_bytes(),
        reply_arena,
    )
}

/// A byte buffer of `len` bytes: on the stack if it fits, on the heap
/// otherwise. 8-byte aligned either way.
#[allow(
    clippy::large_enum_variant,
    reason = "the stack variant is the point: no allocation for small messages"
)]
enum Buf {
    Stack([u64; STACK_WORDS]),
    Heap(Vec<u64>),
}

impl Buf {
    fn new(len: usize) -> Buf {
        if len <= STACK_MESSAGE {
            Buf::Stack([0; STACK_WORDS])
        } else {
            Buf::Heap(vec![0; len.div_ceil(8)])
        }
    }

    fn bytes(&mut self, len: usize) -> &mut [u8] {
        match self {
            Buf::Stack(words) => &mut words.as_mut_bytes()[..len],
            Buf::Heap(words) => &mut words.as_mut_slice().as_mut_bytes()[..len],
        }
    }
}

/// [`call`] with the fixed parts as bytes and the request arena given as
/// pieces laid end to end.
pub(crate) fn call_parts(
    handle: Handle,
    endpoint: u16,
    method: u16,
    fixed: &[u8],
    arena: &[&[u8]],
    reply_fixed: &mut [u8],
    reply_arena: &mut [u8],
) -> Result<usize, Rc> {
    let fixed_len = fixed.len().next_multiple_of(8);
    let arena_len: usize = arena.iter().map(|p| p.len()).sum();
    if fixed_len > MAX_FIXED || arena_len > MAX_ARENA {
        return Err(Rc::MessageTooLarge);
    }
    let req_len = HEADER_SIZE + fixed_len + arena_len;
    let header = Header {
        endpoint,
        method,
        fixed_len: fixed_len as u16,
        handles: 0,
        arena_len: arena_len as u32,
        status: 0,
    };
    let mut req_buf = Buf::new(req_len);
    let req = req_buf.bytes(req_len);
    req[..HEADER_SIZE].copy_from_slice(header.as_bytes());
    req[HEADER_SIZE..HEADER_SIZE + fixed.len()].copy_from_slice(fixed);
    let mut at = HEADER_SIZE + fixed_len;
    for piece in arena {
        req[at..at + piece.len()].copy_from_slice(piece);
        at += piece.len();
    }

    let reply_fixed_len = reply_fixed.len().next_multiple_of(8);
    let reply_arena_cap = reply_arena.len().min(MAX_ARENA);
    let reply_cap = HEADER_SIZE + reply_fixed_len + reply_arena_cap;
    let mut reply_buf = Buf::new(reply_cap);
    let reply = reply_buf.bytes(reply_cap);

    let (rc, len) = syscall::call_bytes(handle, req, reply);
    drop(req_buf);
    rc.into_result()?;
    let (header, body) = Header::read_from_prefix(&reply[..len]).map_err(|_| Rc::NotSupported)?;
    if header.total_len() > len || header.status != Rc::Ok as u32 {
        return Err(Rc::NotSupported);
    }
    let got_fixed = usize::from(header.fixed_len);
    if got_fixed < reply_fixed.len() {
        return Err(Rc::NotSupported);
    }
    reply_fixed.copy_from_slice(&body[..reply_fixed.len()]);
    let got_arena = (header.arena_len as usize).min(reply_arena_cap);
    reply_arena[..got_arena].copy_from_slice(&body[got_fixed..got_fixed + got_arena]);
    Ok(got_arena)
}
