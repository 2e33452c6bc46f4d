//! IPC messages: building them, calling kernel objects and user servers,
//! receiving and replying on a channel's server end.
//!
//! A message is a [`Header`], a fixed part (`fixed_len` bytes, a multiple
//! of 8), `handles` [`HandleDesc`]s, then the arena (see [`kos_abi::msg`]).
//!
//! - Clients: [`call`] (kernel objects: fixed part and arena),
//!   [`call_with`] (any object: handle descriptors too, a timeout),
//!   [`transact`] (an encoded request, the reply decoded in place).
//! - Servers: [`recv`] / [`reply`] / [`reply_status`], or a [`Server`]
//!   holding its buffers and serving one request at a time.
//! - Building and reading: [`Encoder`], [`Message`], [`Decoder`].
//!
//! Messages up to [`STACK_MESSAGE`] bytes are built on the stack, without
//! allocation and without zeroing more than the message (the console and
//! the panic handler rely on it); bigger ones use a heap buffer. Interfaces
//! declared with [`interface!`](crate::interface) use the same machinery.

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::mem::MaybeUninit;

use kos_abi::msg::{
    ArenaRef, DESC_COPY, DESC_MOVE, DESC_SIZE, HEADER_SIZE, HandleDesc, Header, MAX_ARENA,
    MAX_FIXED, MAX_HANDLES, MAX_MESSAGE, NO_BADGE,
};
use kos_abi::{Handle, Rc, Rights};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::syscall::{self, FOREVER, ReplyToken};

/// Largest request (and, separately, reply) built on the stack, in bytes.
pub const STACK_MESSAGE: usize = 1024;
const STACK_WORDS: usize = STACK_MESSAGE / 8;

/// The length of a message with a fixed part of `fixed` bytes (rounded up
/// to 8), `handles` descriptors and `arena` bytes of arena.
pub const fn message_len(fixed: usize, handles: usize, arena: usize) -> usize {
    HEADER_SIZE + fixed.next_multiple_of(8) + handles * DESC_SIZE + arena
}

// ---------------------------------------------------------------------------
// Scratch buffers

/// Uninitialised message memory of `cap` bytes, 8-byte aligned, lent to a
/// closure by [`with_buf`]. Only what was written (by an [`Encoder`] or by
/// the kernel) is ever read.
pub struct Scratch<'a> {
    ptr: *mut u8,
    cap: usize,
    _buf: PhantomData<&'a mut [u8]>,
}

impl Scratch<'_> {
    /// Capacity in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The first `len` bytes (at most the capacity), zeroed.
    pub fn zeroed(&mut self, len: usize) -> &mut [u8] {
        let len = len.min(self.cap);
        // SAFETY: `ptr..ptr+cap` is memory this Scratch borrows exclusively
        // (see `with_buf`); it is zeroed before the slice is formed, so the
        // slice covers initialised bytes only.
        unsafe {
            core::ptr::write_bytes(self.ptr, 0, len);
            core::slice::from_raw_parts_mut(self.ptr, len)
        }
    }
}

/// Runs `f` with a [`Scratch`] of `cap` bytes: on the stack up to
/// [`STACK_MESSAGE`], on the heap beyond (`cap` is bounded by
/// [`MAX_MESSAGE`]).
#[inline(always)]
pub fn with_buf<R>(cap: usize, f: impl FnOnce(&mut Scratch<'_>) -> R) -> R {
    let cap = cap.min(MAX_MESSAGE);
    if cap <= STACK_MESSAGE {
        let mut words = MaybeUninit::<[u64; STACK_WORDS]>::uninit();
        f(&mut Scratch {
            ptr: words.as_mut_ptr().cast(),
            cap,
            _buf: PhantomData,
        })
    } else {
        let mut words: Vec<u64> = Vec::with_capacity(cap.div_ceil(8));
        f(&mut Scratch {
            ptr: words.as_mut_ptr().cast(),
            cap,
            _buf: PhantomData,
        })
    }
}

// ---------------------------------------------------------------------------
// Building messages

/// Writes a message into a buffer: the fixed part field by field (each
/// aligned to its type, relative to the fixed part's start), handle
/// descriptors, arena pieces; [`Encoder::finish`] writes the header.
///
/// The header, fixed part and descriptor slots are zeroed at the start;
/// arena bytes are copied in whole, so the finished message has no
/// uninitialised byte.
pub struct Encoder<'a> {
    ptr: *mut u8,
    cap: usize,
    fixed_len: usize,
    fixed_at: usize,
    handles: usize,
    handle_at: usize,
    arena_len: usize,
    _buf: PhantomData<&'a mut [u8]>,
}

impl<'a> Encoder<'a> {
    /// An encoder over `buf` for a message with a fixed part of `fixed_len`
    /// bytes (rounded up to 8) and exactly `handles` descriptors.
    pub fn new(buf: &'a mut [u8], fixed_len: usize, handles: usize) -> Result<Encoder<'a>, Rc> {
        // SAFETY: `buf` is an initialised slice borrowed exclusively for 'a.
        unsafe { Encoder::from_raw(buf.as_mut_ptr(), buf.len(), fixed_len, handles) }
    }

    /// An encoder over a [`Scratch`] buffer.
    pub fn in_scratch(
        s: &'a mut Scratch<'_>,
        fixed_len: usize,
        handles: usize,
    ) -> Result<Encoder<'a>, Rc> {
        // SAFETY: the Scratch's memory is exclusively borrowed for 'a; the
        // encoder only writes it and never reads bytes it did not write.
        unsafe { Encoder::from_raw(s.ptr, s.cap, fixed_len, handles) }
    }

    /// # Safety
    ///
    /// `ptr..ptr+cap` is writable memory borrowed exclusively for `'a`.
    unsafe fn from_raw(
        ptr: *mut u8,
        cap: usize,
        fixed_len: usize,
        handles: usize,
    ) -> Result<Encoder<'a>, Rc> {
        let fixed_len = fixed_len.next_multiple_of(8);
        if fixed_len > MAX_FIXED || handles > MAX_HANDLES {
            return Err(Rc::MessageTooLarge);
        }
        let prefix = message_len(fixed_len, handles, 0);
        if prefix > cap {
            return Err(Rc::MessageTooLarge);
        }
        // SAFETY: `prefix <= cap` and the memory is ours (caller's contract).
        unsafe { core::ptr::write_bytes(ptr, 0, prefix) };
        Ok(Encoder {
            ptr,
            cap,
            fixed_len,
            fixed_at: 0,
            handles,
            handle_at: 0,
            arena_len: 0,
            _buf: PhantomData,
        })
    }

    /// Copies `bytes` to `at` (an offset in the message) if they fit.
    fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Rc> {
        if at.checked_add(bytes.len()).is_none_or(|end| end > self.cap) {
            return Err(Rc::MessageTooLarge);
        }
        // SAFETY: `at + len <= cap`, the range is ours; `bytes` is a live
        // slice that cannot overlap memory we borrow exclusively.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), bytes.len()) };
        Ok(())
    }

    /// Appends `value` to the fixed part, aligned to its type.
    pub fn fixed<T: IntoBytes + Immutable>(&mut self, value: &T) -> Result<(), Rc> {
        let at = self.fixed_at.next_multiple_of(core::mem::align_of::<T>());
        self.fixed_at = at;
        self.fixed_bytes(value.as_bytes())
    }

    /// Appends raw bytes to the fixed part (no alignment).
    pub fn fixed_bytes(&mut self, bytes: &[u8]) -> Result<(), Rc> {
        let end = self.fixed_at + bytes.len();
        if end > self.fixed_len {
            return Err(Rc::InvalidArgument);
        }
        self.put(HEADER_SIZE + self.fixed_at, bytes)?;
        self.fixed_at = end;
        Ok(())
    }

    /// Appends a handle descriptor.
    pub fn handle(&mut self, desc: HandleDesc) -> Result<(), Rc> {
        if self.handle_at == self.handles {
            return Err(Rc::InvalidArgument);
        }
        let at = HEADER_SIZE + self.fixed_len + self.handle_at * DESC_SIZE;
        self.put(at, desc.as_bytes())?;
        self.handle_at += 1;
        Ok(())
    }

    /// Appends `bytes` to the arena; returns where they are.
    pub fn arena(&mut self, bytes: &[u8]) -> Result<ArenaRef, Rc> {
        let offset = self.arena_len;
        let end = offset + bytes.len();
        if end > MAX_ARENA {
            return Err(Rc::MessageTooLarge);
        }
        self.put(message_len(self.fixed_len, self.handles, offset), bytes)?;
        self.arena_len = end;
        Ok(ArenaRef {
            offset: offset as u32,
            len: bytes.len() as u32,
        })
    }

    /// Writes the header; returns the whole message. Every announced
    /// descriptor must have been written.
    pub fn finish(self, endpoint: u16, method: u16, status: Rc) -> Result<&'a [u8], Rc> {
        if self.handle_at != self.handles {
            return Err(Rc::InvalidArgument);
        }
        let header = Header {
            endpoint,
            method,
            fixed_len: self.fixed_len as u16,
            handles: self.handles as u16,
            arena_len: self.arena_len as u32,
            status: status as u32,
        };
        let len = header.total_len();
        let mut this = self;
        this.put(0, header.as_bytes())?;
        // SAFETY: bytes 0..len were all written: the zeroed prefix (header,
        // fixed part, descriptors) and the arena, copied contiguously.
        Ok(unsafe { core::slice::from_raw_parts(this.ptr, len) })
    }
}

/// Encodes a whole message into `buf`: header, `fixed` (padded to 8),
/// `handles`, the `arena` pieces laid end to end. Returns its length.
pub fn encode(
    buf: &mut [u8],
    endpoint: u16,
    method: u16,
    status: Rc,
    out: &Out<'_>,
) -> Result<usize, Rc> {
    let mut e = Encoder::new(buf, out.fixed.len(), out.handles.len())?;
    e.fixed_bytes(out.fixed)?;
    for d in out.handles {
        e.handle(*d)?;
    }
    for piece in out.arena {
        e.arena(piece)?;
    }
    Ok(e.finish(endpoint, method, status)?.len())
}

/// A descriptor passing a copy of `handle` with `rights` (needs COPY).
pub const fn copy_of(handle: Handle, rights: Rights) -> HandleDesc {
    HandleDesc {
        handle: handle.0,
        rights: rights.bits(),
        mode: DESC_COPY,
        badge: NO_BADGE,
        badge_value: 0,
    }
}

/// A descriptor moving `handle` with `rights` (needs TRANSFER; the handle
/// is closed once the message is delivered).
pub const fn move_of(handle: Handle, rights: Rights) -> HandleDesc {
    HandleDesc {
        handle: handle.0,
        rights: rights.bits(),
        mode: DESC_MOVE,
        badge: NO_BADGE,
        badge_value: 0,
    }
}

/// `desc` with the badge `badge` (a Badge handle with ATTACH) attached.
pub const fn badged(desc: HandleDesc, badge: Handle) -> HandleDesc {
    HandleDesc {
        badge: badge.0,
        ..desc
    }
}

/// The handle a received descriptor names.
pub const fn received(desc: &HandleDesc) -> Handle {
    Handle(desc.handle)
}

// ---------------------------------------------------------------------------
// Reading messages

/// A message read from a buffer (not copied): header, fixed part, handle
/// descriptors, arena.
#[derive(Copy, Clone, Debug)]
pub struct Message<'a> {
    pub header: Header,
    pub fixed: &'a [u8],
    handles: &'a [u8],
    pub arena: &'a [u8],
}

impl<'a> Message<'a> {
    /// Reads a message; [`Rc::InvalidArgument`] if `bytes` is shorter than
    /// its header says.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, Rc> {
        let (header, rest) = Header::read_from_prefix(bytes).map_err(|_| Rc::InvalidArgument)?;
        if header.total_len() > bytes.len() {
            return Err(Rc::InvalidArgument);
        }
        let (fixed, rest) = rest.split_at(usize::from(header.fixed_len));
        let (handles, rest) = rest.split_at(usize::from(header.handles) * DESC_SIZE);
        Ok(Message {
            header,
            fixed,
            handles,
            arena: &rest[..header.arena_len as usize],
        })
    }

    /// The header's status as a return code.
    pub fn status(&self) -> Rc {
        Rc::from_raw(u64::from(self.header.status))
    }

    /// The fixed part's first bytes as a `T` (copied), if it is long enough.
    pub fn fixed_as<T: FromBytes>(&self) -> Option<T> {
        T::read_from_prefix(self.fixed).ok().map(|(v, _)| v)
    }

    /// How many handle descriptors it carries.
    pub fn handle_count(&self) -> usize {
        usize::from(self.header.handles)
    }

    /// Handle descriptor `i`.
    pub fn handle(&self, i: usize) -> Option<HandleDesc> {
        let at = i.checked_mul(DESC_SIZE)?;
        HandleDesc::read_from_bytes(self.handles.get(at..at + DESC_SIZE)?).ok()
    }

    /// Every handle descriptor.
    pub fn handles(&self) -> impl Iterator<Item = HandleDesc> + '_ {
        (0..self.handle_count()).filter_map(|i| self.handle(i))
    }

    /// Closes every handle the message brought (a received message whose
    /// handles nobody took).
    pub fn close_handles(&self) {
        for d in self.handles() {
            let _ = crate::handle::close(Handle(d.handle));
        }
    }

    /// The arena bytes `r` names.
    pub fn arena_ref(&self, r: ArenaRef) -> Option<&'a [u8]> {
        r.get(self.arena)
    }
}

/// Reads a message's fixed part field by field (the order and alignment
/// [`Encoder`] wrote them in) and its handle descriptors in order. Every
/// failure is [`Rc::InvalidArgument`].
pub struct Decoder<'m, 'a> {
    msg: &'m Message<'a>,
    fixed_at: usize,
    handle_at: usize,
}

impl<'m, 'a> Decoder<'m, 'a> {
    pub fn new(msg: &'m Message<'a>) -> Decoder<'m, 'a> {
        Decoder {
            msg,
            fixed_at: 0,
            handle_at: 0,
        }
    }

    /// The next fixed-part field.
    pub fn fixed<T: FromBytes>(&mut self) -> Result<T, Rc> {
        let at = self.fixed_at.next_multiple_of(core::mem::align_of::<T>());
        let end = at + core::mem::size_of::<T>();
        let bytes = self.msg.fixed.get(at..end).ok_or(Rc::InvalidArgument)?;
        self.fixed_at = end;
        T::read_from_bytes(bytes).map_err(|_| Rc::InvalidArgument)
    }

    /// The next handle descriptor.
    pub fn handle(&mut self) -> Result<HandleDesc, Rc> {
        let d = self.msg.handle(self.handle_at).ok_or(Rc::InvalidArgument)?;
        self.handle_at += 1;
        Ok(d)
    }

    /// The arena bytes `r` names.
    pub fn arena(&self, r: ArenaRef) -> Result<&'a [u8], Rc> {
        self.msg.arena_ref(r).ok_or(Rc::InvalidArgument)
    }

    /// The next fixed-part field as an [`ArenaRef`], resolved.
    pub fn bytes(&mut self) -> Result<&'a [u8], Rc> {
        let r: ArenaRef = self.fixed()?;
        self.arena(r)
    }
}

// ---------------------------------------------------------------------------
// Calls

/// The parts of an outgoing message.
#[derive(Copy, Clone, Debug, Default)]
pub struct Out<'a> {
    /// The fixed part's bytes (padded to 8 with zeros).
    pub fixed: &'a [u8],
    pub handles: &'a [HandleDesc],
    /// Arena pieces, laid end to end.
    pub arena: &'a [&'a [u8]],
}

/// Where the parts of a reply go.
#[derive(Debug, Default)]
pub struct In<'a> {
    /// Filled from the reply's fixed part (which must be at least as long).
    pub fixed: &'a mut [u8],
    /// The reply's handle descriptors (also the most it may bring: more
    /// are closed and the call fails with [`Rc::MessageTooLarge`]).
    pub handles: &'a mut [HandleDesc],
    /// The reply's arena (also its bound).
    pub arena: &'a mut [u8],
}

/// What a reply brought.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Got {
    /// Bytes of the reply's fixed part.
    pub fixed_len: usize,
    /// Handle descriptors written to [`In::handles`].
    pub handles: usize,
    /// Arena bytes written to [`In::arena`].
    pub arena_len: usize,
}

/// Calls method `method` of endpoint `endpoint` of the object behind
/// `handle` (a kernel object: no timeout, no handles): the request's fixed
/// part is `fixed`, its arena `arena`. The reply's fixed part is copied
/// into `reply_fixed` and its arena into the start of `reply_arena` (which
/// also bounds it). Returns the reply arena's length.
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

/// Invokes the declared kernel method `M` (a marker type from
/// [`kos_abi::interfaces`], e.g. `interfaces::task::call::GetPid`) on the
/// object behind `handle`: the request and reply types, the endpoint and
/// the method id all come from the one declaration the kernel checks
/// against. The request arena is given as pieces laid end to end; the
/// reply's arena goes into `reply_arena`. Returns the reply's fixed part
/// and its arena's length.
pub fn invoke<M: kos_abi::decl::Invoke>(
    handle: Handle,
    request: &M::Request,
    arena: &[&[u8]],
    reply_arena: &mut [u8],
) -> Result<(M::Reply, usize), Rc> {
    if arena.is_empty()
        && reply_arena.is_empty()
        && core::mem::size_of::<M::Request>() <= MAX_FIXED
        && core::mem::size_of::<M::Reply>() <= MAX_FIXED
    {
        return invoke_fixed::<M>(handle, request).map(|r| (r, 0));
    }
    let mut reply = M::Reply::default();
    let n = call_parts(
        handle,
        M::ENDPOINT,
        M::METHOD,
        request.as_bytes(),
        arena,
        reply.as_mut_bytes(),
        reply_arena,
    )?;
    Ok((reply, n))
}

/// [`invoke`] of a request and a reply that are fixed parts only (most
/// kernel calls; each at most [`MAX_FIXED`]): the message is built and the
/// reply read in place, with
/// the same outcome as [`call_with`] and [`transact`] give (their checks,
/// in their order), without their general encoder and decoder.
fn invoke_fixed<M: kos_abi::decl::Invoke>(
    handle: Handle,
    request: &M::Request,
) -> Result<M::Reply, Rc> {
    const WORDS: usize = (HEADER_SIZE + MAX_FIXED) / 8;
    let fixed = request.as_bytes();
    let mut reply = M::Reply::default();
    let want = reply.as_bytes().len();
    let header = Header {
        endpoint: M::ENDPOINT,
        method: M::METHOD,
        fixed_len: fixed.len().next_multiple_of(8) as u16,
        handles: 0,
        arena_len: 0,
        status: Rc::Ok as u32,
    };
    // The request: header, fixed part, its padding to 8 bytes (zero); the
    // rest of the buffer is neither written nor sent (zeroing all of it
    // cost more than the call's own work in user space).
    let total = header.total_len();
    let mut buf = MaybeUninit::<[u64; WORDS]>::uninit();
    let at = buf.as_mut_ptr().cast::<u8>();
    // SAFETY: `total` = HEADER_SIZE + `fixed` rounded up to 8 <= WORDS * 8
    // (the fixed part is at most MAX_FIXED, checked by `invoke`), so the
    // three writes stay inside `buf` and together initialise its first
    // `total` bytes.
    let req = unsafe {
        core::ptr::copy_nonoverlapping(header.as_bytes().as_ptr(), at, HEADER_SIZE);
        core::ptr::copy_nonoverlapping(fixed.as_ptr(), at.add(HEADER_SIZE), fixed.len());
        let pad = HEADER_SIZE + fixed.len();
        core::ptr::write_bytes(at.add(pad), 0, total - pad);
        core::slice::from_raw_parts(at.cast_const(), total)
    };
    // The reply's room, left uninitialised: only what the kernel writes is
    // read.
    let mut room = MaybeUninit::<[u64; WORDS]>::uninit();
    let cap = message_len(want, 0, 0);
    // SAFETY: `req` is a live slice the kernel only reads; `room` holds
    // WORDS * 8 >= cap bytes, ours alone for the call, and the kernel
    // writes at most `cap` of them.
    let (rc, len) = unsafe {
        syscall::call_raw_timeout(
            handle,
            req.as_ptr(),
            req.len(),
            room.as_mut_ptr().cast(),
            cap,
            FOREVER,
        )
    };
    let len = len.min(cap);
    if len == 0 {
        return Err(if rc == Rc::Ok { Rc::NotSupported } else { rc });
    }
    // SAFETY: the kernel wrote the reply's `len` bytes at the start of
    // `room` (the `svc` may write memory), so they are initialised.
    let bytes = unsafe { core::slice::from_raw_parts(room.as_ptr().cast::<u8>(), len) };
    let got = Message::parse(bytes).map_err(|_| Rc::NotSupported)?;
    if rc != Rc::Ok {
        got.close_handles();
        return Err(rc);
    }
    if got.fixed.len() < want {
        got.close_handles();
        return Err(Rc::NotSupported);
    }
    if got.handle_count() > 0 {
        got.close_handles();
        return Err(Rc::MessageTooLarge);
    }
    reply.as_mut_bytes().copy_from_slice(&got.fixed[..want]);
    Ok(reply)
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
    let out = Out {
        fixed,
        handles: &[],
        arena,
    };
    let into = In {
        fixed: reply_fixed,
        handles: &mut [],
        arena: reply_arena,
    };
    call_with(handle, FOREVER, endpoint, method, &out, into).map(|got| got.arena_len)
}

/// [`call`] for any object, with handle descriptors and a timeout
/// ([`FOREVER`]: none; honoured by channels): sends `out` as method
/// `method` of `endpoint` and unpacks the reply into `into`.
///
/// `Err` is the reply's status (the server's or kernel's verdict) or a
/// transport failure; a malformed reply (shorter fixed part than
/// `into.fixed`, more handles than `into.handles` holds) is
/// [`Rc::NotSupported`] / [`Rc::MessageTooLarge`], and any handles it
/// brought are closed.
pub fn call_with(
    handle: Handle,
    timeout_ns: u64,
    endpoint: u16,
    method: u16,
    out: &Out<'_>,
    into: In<'_>,
) -> Result<Got, Rc> {
    let arena_len: usize = out.arena.iter().map(|p| p.len()).sum();
    if out.fixed.len() > MAX_FIXED || out.handles.len() > MAX_HANDLES || arena_len > MAX_ARENA {
        return Err(Rc::MessageTooLarge);
    }
    let req_len = message_len(out.fixed.len(), out.handles.len(), arena_len);
    let reply_cap = message_len(
        into.fixed.len(),
        into.handles.len(),
        into.arena.len().min(MAX_ARENA),
    );
    with_buf(req_len, |s| {
        let mut e = Encoder::in_scratch(s, out.fixed.len(), out.handles.len())?;
        e.fixed_bytes(out.fixed)?;
        for d in out.handles {
            e.handle(*d)?;
        }
        for piece in out.arena {
            e.arena(piece)?;
        }
        let req = e.finish(endpoint, method, Rc::Ok)?;
        transact(handle, timeout_ns, req, reply_cap, |reply| {
            unpack(reply, into).inspect_err(|_| reply.close_handles())
        })
    })
}

/// Copies a reply's parts into `into`.
fn unpack(reply: &Message<'_>, into: In<'_>) -> Result<Got, Rc> {
    if reply.fixed.len() < into.fixed.len() {
        return Err(Rc::NotSupported);
    }
    if reply.handle_count() > into.handles.len() {
        return Err(Rc::MessageTooLarge);
    }
    into.fixed.copy_from_slice(&reply.fixed[..into.fixed.len()]);
    for (slot, d) in into.handles.iter_mut().zip(reply.handles()) {
        *slot = d;
    }
    let arena_len = reply.arena.len().min(into.arena.len());
    into.arena[..arena_len].copy_from_slice(&reply.arena[..arena_len]);
    Ok(Got {
        fixed_len: reply.fixed.len(),
        handles: reply.handle_count(),
        arena_len,
    })
}

/// Sends the encoded request `req` through `handle` (timeout `timeout_ns`)
/// with a reply buffer of `reply_cap` bytes, and hands the reply to
/// `decode` while it is still in that buffer.
///
/// `Err(rc)` without calling `decode`: a transport failure (reply length
/// 0) or a reply whose status is not [`Rc::Ok`] (any handles it brought are
/// closed). A reply whose header disagrees with its length is
/// [`Rc::NotSupported`].
#[inline]
pub fn transact<R>(
    handle: Handle,
    timeout_ns: u64,
    req: &[u8],
    reply_cap: usize,
    decode: impl FnOnce(&Message<'_>) -> Result<R, Rc>,
) -> Result<R, Rc> {
    with_buf(reply_cap, |s| {
        // SAFETY: `req` is a live slice the kernel only reads; the Scratch's
        // `cap` bytes are ours alone for the call and the kernel writes at
        // most that many.
        let (rc, len) = unsafe {
            syscall::call_raw_timeout(handle, req.as_ptr(), req.len(), s.ptr, s.cap, timeout_ns)
        };
        let len = len.min(s.cap);
        // SAFETY: the kernel wrote the reply's `len` bytes at `s.ptr` (the
        // `svc` asm may write memory), so they are initialised.
        let bytes = unsafe { core::slice::from_raw_parts(s.ptr.cast_const(), len) };
        if len == 0 {
            return Err(if rc == Rc::Ok { Rc::NotSupported } else { rc });
        }
        let reply = Message::parse(bytes).map_err(|_| Rc::NotSupported)?;
        if rc != Rc::Ok {
            reply.close_handles();
            return Err(rc);
        }
        decode(&reply)
    })
}

// ---------------------------------------------------------------------------
// Server side

/// A request taken by [`recv`].
#[derive(Copy, Clone, Debug)]
pub struct Received<'a> {
    pub msg: Message<'a>,
    /// Names the caller for [`reply`].
    pub token: ReplyToken,
    /// The badge value of the caller's channel handle (0: none).
    pub badge: u64,
}

/// Waits (at most `timeout_ns`; [`FOREVER`]; 0 = do not block) for a
/// request on the server end `handle` and reads it into `buf` (a request
/// longer than `buf` fails the client's call with `rcMessageTooLarge` and
/// this keeps waiting).
pub fn recv(handle: Handle, buf: &mut [u8], timeout_ns: u64) -> Result<Received<'_>, Rc> {
    let r = syscall::recv_bytes(handle, buf, timeout_ns);
    r.rc.into_result()?;
    let msg = Message::parse(&buf[..r.len]).map_err(|_| Rc::NotSupported)?;
    Ok(Received {
        msg,
        token: r.token,
        badge: r.badge,
    })
}

/// Replies to `token` with status `status` and the parts of `out`.
pub fn reply(token: ReplyToken, status: Rc, out: &Out<'_>) -> Rc {
    let arena_len: usize = out.arena.iter().map(|p| p.len()).sum();
    let len = message_len(out.fixed.len(), out.handles.len(), arena_len);
    if len > MAX_MESSAGE {
        return Rc::MessageTooLarge;
    }
    with_buf(len, |s| {
        let mut e = match Encoder::in_scratch(s, out.fixed.len(), out.handles.len()) {
            Ok(e) => e,
            Err(rc) => return rc,
        };
        let built = (|| {
            e.fixed_bytes(out.fixed)?;
            for d in out.handles {
                e.handle(*d)?;
            }
            for piece in out.arena {
                e.arena(piece)?;
            }
            e.finish(0, 0, status)
        })();
        match built {
            Ok(msg) => syscall::reply_bytes(token, msg),
            Err(rc) => rc,
        }
    })
}

/// Replies to `token` with a bare header carrying `status`.
pub fn reply_status(token: ReplyToken, status: Rc) -> Rc {
    let header = Header {
        status: status as u32,
        ..Header::default()
    };
    syscall::reply_bytes(token, header.as_bytes())
}

/// A server end with its request and reply buffers (allocated once).
pub struct Server {
    handle: Handle,
    req: Vec<u64>,
    req_cap: usize,
    reply: Vec<u64>,
    reply_cap: usize,
}

impl Server {
    /// A server on the server end `handle` taking requests of up to
    /// `req_cap` bytes and sending replies of up to `reply_cap` bytes
    /// (each at most [`MAX_MESSAGE`]).
    pub fn new(handle: Handle, req_cap: usize, reply_cap: usize) -> Server {
        let req_cap = req_cap.clamp(HEADER_SIZE, MAX_MESSAGE);
        let reply_cap = reply_cap.clamp(HEADER_SIZE, MAX_MESSAGE);
        Server {
            handle,
            req: vec![0; req_cap.div_ceil(8)],
            req_cap,
            reply: vec![0; reply_cap.div_ceil(8)],
            reply_cap,
        }
    }

    /// The server end.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Takes one request (waiting at most `timeout_ns`) and answers it with
    /// what `handle` makes: `Ok(len)` is a reply message of `len` bytes it
    /// encoded in the buffer it was given (e.g. with [`Encoder::new`]),
    /// `Err(rc)` a bare reply with status `rc`.
    ///
    /// `Err` if receiving failed (the server end is gone or revoked, the
    /// timeout); otherwise `Ok` with the return code of the reply
    /// (`rcPeerDied` if the caller ended meanwhile).
    pub fn serve_one<F>(&mut self, timeout_ns: u64, handle: F) -> Result<Rc, Rc>
    where
        F: FnOnce(&Received<'_>, &mut [u8]) -> Result<usize, Rc>,
    {
        let req_buf = &mut self.req.as_mut_bytes()[..self.req_cap];
        let req = recv(self.handle, req_buf, timeout_ns)?;
        let reply_buf = &mut self.reply.as_mut_bytes()[..self.reply_cap];
        Ok(match handle(&req, reply_buf) {
            Ok(len) => syscall::reply_bytes(req.token, &reply_buf[..len.min(self.reply_cap)]),
            Err(rc) => reply_status(req.token, rc),
        })
    }

    /// Serves requests with `handle` (see [`Server::serve_one`]) until
    /// receiving fails; returns why. Each reply and the next receive are
    /// one `ReplyRecv` trap; failed replies (the caller gone) are ignored.
    pub fn run<F>(&mut self, mut handle: F) -> Rc
    where
        F: FnMut(&Received<'_>, &mut [u8]) -> Result<usize, Rc>,
    {
        let mut token = ReplyToken(0);
        let mut reply_len = 0;
        loop {
            let req_buf = &mut self.req.as_mut_bytes()[..self.req_cap];
            let reply_buf = &mut self.reply.as_mut_bytes()[..self.reply_cap];
            // SAFETY: the reply's `reply_len` bytes are initialised (our
            // buffer) and only read; the request buffer is exclusively
            // borrowed and the kernel writes at most `req_cap` bytes.
            let (r, _reply_rc) = unsafe {
                syscall::reply_recv_raw(
                    token,
                    reply_buf.as_ptr(),
                    reply_len,
                    self.handle,
                    req_buf.as_mut_ptr(),
                    req_buf.len(),
                )
            };
            if r.rc != Rc::Ok {
                return r.rc;
            }
            let Ok(msg) = Message::parse(&req_buf[..r.len.min(self.req_cap)]) else {
                return Rc::NotSupported;
            };
            let req = Received {
                msg,
                token: r.token,
                badge: r.badge,
            };
            token = r.token;
            reply_len = match handle(&req, reply_buf) {
                Ok(len) => len.min(self.reply_cap),
                Err(rc) => {
                    let header = Header {
                        status: rc as u32,
                        ..Header::default()
                    };
                    reply_buf[..HEADER_SIZE].copy_from_slice(header.as_bytes());
                    HEADER_SIZE
                }
            };
        }
    }
}
