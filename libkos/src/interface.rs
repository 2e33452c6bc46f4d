//! Interfaces declared once: [`interface!`](crate::interface) makes the
//! method ids, a typed client stub and the server side (a trait, a
//! `dispatch` and a `serve` loop) from one declaration, the way seL4 and
//! KasperskyOS derive both sides of an IPC interface from one IDL text.
//!
//! ```ignore
//! libkos::interface! {
//!     /// A test service.
//!     pub interface echo = 0x40 {
//!         /// Adds one.
//!         fn ping(x: u32) -> (y: u32) = 1;
//!         /// Joins two byte strings.
//!         fn concat(a: Bytes<64>, b: Str<64>) -> (joined: Bytes<128>, total: u32) = 2;
//!         /// Takes a handle, gives one back.
//!         fn swap(h: Cap) -> (back: Cap) = 3;
//!         fn stop() -> () = 4;
//!     }
//! }
//! ```
//!
//! Each argument and result has a *wire type*, a type implementing
//! [`Wire`]:
//!
//! | wire type | client passes | server gets | server returns | client gets | message |
//! |---|---|---|---|---|---|
//! | `T` (zerocopy `FromBytes + IntoBytes + Immutable`) | `T` | `T` | `T` | `T` | fixed part, aligned to `T` |
//! | [`Bytes<N>`] | `&[u8]` | `&[u8]` | `Vec<u8>` | `Vec<u8>` | an `ArenaRef` in the fixed part, at most `N` bytes in the arena |
//! | [`Str<N>`] | `&str` | `&str` | `String` | `String` | the same, UTF-8 checked |
//! | [`Cap`] | [`HandleDesc`] (see [`ipc::copy_of`], [`ipc::move_of`]) | `HandleDesc` (the server's new handle) | `HandleDesc` | `HandleDesc` | one handle descriptor |
//! | [`Caps<N>`] | `&[HandleDesc]` | `Vec<HandleDesc>` | `Vec<HandleDesc>` | `Vec<HandleDesc>` | a u32 count in the fixed part, then that many descriptors (at most `N`) |
//!
//! Fixed-part fields are laid out in declaration order, each aligned to
//! its type (relative to the fixed part), the whole padded to 8; handle
//! descriptors in declaration order; arena data in declaration order.
//! Limits (fixed part ≤ 256 bytes, ≤ 8 handles, the message ≤
//! `MAX_MESSAGE`) and distinct method ids are checked at compile time.
//!
//! The declaration makes a module (`echo` above) holding:
//!
//! - `ENDPOINT: u16` (the header's endpoint), `methods::<name>::ID` and
//!   `methods::<name>::SHAPE` (a [`Shape`]: sizes of the method's messages),
//!   `REQUEST_CAP` / `REPLY_CAP` (the largest request / reply);
//! - `Client` (`Client::new(handle)`, `.with_timeout(ns)`, `.channel()`),
//!   with one method per declaration: `fn ping(&self, x: u32) -> Result<u32,
//!   Rc>` (no result: `()`; several: a tuple). No allocation for fixed-size
//!   messages up to 1 KiB; `Bytes`/`Str` results are allocated.
//! - `Server`, a trait with one method per declaration: `fn ping(&mut self,
//!   x: u32) -> Result<u32, Rc>`; an `Err(rc)` becomes the reply's status,
//!   which the client's call returns as `Err(rc)`;
//! - `dispatch(&mut impl Server, &Received, &mut [u8]) -> Result<usize,
//!   Rc>`: decodes a request (wrong endpoint or unknown method:
//!   `rcResourceNotFound`; malformed: `rcInvalidArgument`, and any handles
//!   it brought are closed), calls the method, encodes the reply into the
//!   buffer: the shape of [`ipc::Server::serve_one`]'s handler;
//! - `serve(handle, &mut impl Server) -> Rc`: an [`ipc::Server`] with
//!   buffers of `REQUEST_CAP` / `REPLY_CAP` bytes running `dispatch` until
//!   receiving fails.
//!
//! Types in a declaration are resolved in the module holding the
//! `interface!` (the generated module imports all of it), plus `Bytes`,
//! `Str` and `Cap`, which need no import. Methods may not
//! be named `new`, `with_timeout` or `channel` (the client's own).

use alloc::string::String;
use alloc::vec::Vec;

use kos_abi::msg::{HandleDesc, MAX_FIXED, MAX_HANDLES, MAX_MESSAGE};
use kos_abi::{Handle, Rc};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::ipc::{self, Decoder, Encoder};

/// How one argument or result travels in a message.
pub trait Wire {
    /// What a client passes.
    type Arg<'a>;
    /// What a server method receives (may borrow the request).
    type In<'a>;
    /// What a server method returns.
    type Out;
    /// What a client gets back.
    type Ret;
    /// Bytes of the fixed part it takes, and their alignment.
    const FIXED_SIZE: usize;
    const FIXED_ALIGN: usize;
    /// Handle descriptors it takes.
    const HANDLES: usize;
    /// Most arena bytes it takes.
    const ARENA: usize;

    fn put_arg(value: &Self::Arg<'_>, e: &mut Encoder<'_>) -> Result<(), Rc>;
    fn get_in<'a>(d: &mut Decoder<'_, 'a>) -> Result<Self::In<'a>, Rc>;
    fn put_out(value: &Self::Out, e: &mut Encoder<'_>) -> Result<(), Rc>;
    fn get_ret(d: &mut Decoder<'_, '_>) -> Result<Self::Ret, Rc>;

    /// Handle descriptors `value` takes in the message (at most
    /// [`Wire::HANDLES`]; fewer only for [`Caps`]).
    fn arg_handles(_value: &Self::Arg<'_>) -> usize {
        Self::HANDLES
    }
    fn out_handles(_value: &Self::Out) -> usize {
        Self::HANDLES
    }
}

impl<T: FromBytes + IntoBytes + Immutable> Wire for T {
    type Arg<'a> = T;
    type In<'a> = T;
    type Out = T;
    type Ret = T;
    const FIXED_SIZE: usize = core::mem::size_of::<T>();
    const FIXED_ALIGN: usize = core::mem::align_of::<T>();
    const HANDLES: usize = 0;
    const ARENA: usize = 0;

    fn put_arg(value: &T, e: &mut Encoder<'_>) -> Result<(), Rc> {
        e.fixed(value)
    }
    fn get_in<'a>(d: &mut Decoder<'_, 'a>) -> Result<T, Rc> {
        d.fixed()
    }
    fn put_out(value: &T, e: &mut Encoder<'_>) -> Result<(), Rc> {
        e.fixed(value)
    }
    fn get_ret(d: &mut Decoder<'_, '_>) -> Result<T, Rc> {
        d.fixed()
    }
}

/// A byte string of at most `N` bytes, in the arena.
pub struct Bytes<const N: usize>;

/// A UTF-8 string of at most `N` bytes, in the arena.
pub struct Str<const N: usize>;

/// A handle, as a handle descriptor.
pub struct Cap;

/// Up to `N` handles: their count (u32) in the fixed part, then as many
/// handle descriptors.
pub struct Caps<const N: usize>;

fn put_bytes<const N: usize>(bytes: &[u8], e: &mut Encoder<'_>) -> Result<(), Rc> {
    if bytes.len() > N {
        return Err(Rc::InvalidArgument);
    }
    let r = e.arena(bytes)?;
    e.fixed(&r)
}

fn get_bytes<'a, const N: usize>(d: &mut Decoder<'_, 'a>) -> Result<&'a [u8], Rc> {
    let bytes = d.bytes()?;
    if bytes.len() > N {
        return Err(Rc::InvalidArgument);
    }
    Ok(bytes)
}

fn get_str<'a, const N: usize>(d: &mut Decoder<'_, 'a>) -> Result<&'a str, Rc> {
    core::str::from_utf8(get_bytes::<N>(d)?).map_err(|_| Rc::InvalidArgument)
}

const ARENA_REF: (usize, usize) = (
    core::mem::size_of::<kos_abi::msg::ArenaRef>(),
    core::mem::align_of::<kos_abi::msg::ArenaRef>(),
);

impl<const N: usize> Wire for Bytes<N> {
    type Arg<'a> = &'a [u8];
    type In<'a> = &'a [u8];
    type Out = Vec<u8>;
    type Ret = Vec<u8>;
    const FIXED_SIZE: usize = ARENA_REF.0;
    const FIXED_ALIGN: usize = ARENA_REF.1;
    const HANDLES: usize = 0;
    const ARENA: usize = N;

    fn put_arg(value: &&[u8], e: &mut Encoder<'_>) -> Result<(), Rc> {
        put_bytes::<N>(value, e)
    }
    fn get_in<'a>(d: &mut Decoder<'_, 'a>) -> Result<&'a [u8], Rc> {
        get_bytes::<N>(d)
    }
    fn put_out(value: &Vec<u8>, e: &mut Encoder<'_>) -> Result<(), Rc> {
        put_bytes::<N>(value, e)
    }
    fn get_ret(d: &mut Decoder<'_, '_>) -> Result<Vec<u8>, Rc> {
        get_bytes::<N>(d).map(<[u8]>::to_vec)
    }
}

impl<const N: usize> Wire for Str<N> {
    type Arg<'a> = &'a str;
    type In<'a> = &'a str;
    type Out = String;
    type Ret = String;
    const FIXED_SIZE: usize = ARENA_REF.0;
    const FIXED_ALIGN: usize = ARENA_REF.1;
    const HANDLES: usize = 0;
    const ARENA: usize = N;

    fn put_arg(value: &&str, e: &mut Encoder<'_>) -> Result<(), Rc> {
        put_bytes::<N>(value.as_bytes(), e)
    }
    fn get_in<'a>(d: &mut Decoder<'_, 'a>) -> Result<&'a str, Rc> {
        get_str::<N>(d)
    }
    fn put_out(value: &String, e: &mut Encoder<'_>) -> Result<(), Rc> {
        put_bytes::<N>(value.as_bytes(), e)
    }
    fn get_ret(d: &mut Decoder<'_, '_>) -> Result<String, Rc> {
        get_str::<N>(d).map(String::from)
    }
}

impl Wire for Cap {
    type Arg<'a> = HandleDesc;
    type In<'a> = HandleDesc;
    type Out = HandleDesc;
    type Ret = HandleDesc;
    const FIXED_SIZE: usize = 0;
    const FIXED_ALIGN: usize = 1;
    const HANDLES: usize = 1;
    const ARENA: usize = 0;

    fn put_arg(value: &HandleDesc, e: &mut Encoder<'_>) -> Result<(), Rc> {
        e.handle(*value)
    }
    fn get_in<'a>(d: &mut Decoder<'_, 'a>) -> Result<HandleDesc, Rc> {
        d.handle()
    }
    fn put_out(value: &HandleDesc, e: &mut Encoder<'_>) -> Result<(), Rc> {
        e.handle(*value)
    }
    fn get_ret(d: &mut Decoder<'_, '_>) -> Result<HandleDesc, Rc> {
        d.handle()
    }
}

fn put_caps<const N: usize>(value: &[HandleDesc], e: &mut Encoder<'_>) -> Result<(), Rc> {
    if value.len() > N {
        return Err(Rc::InvalidArgument);
    }
    e.fixed(&(value.len() as u32))?;
    value.iter().try_for_each(|d| e.handle(*d))
}

fn get_caps<const N: usize>(d: &mut Decoder<'_, '_>) -> Result<Vec<HandleDesc>, Rc> {
    let n: u32 = d.fixed()?;
    let n = usize::try_from(n).map_err(|_| Rc::InvalidArgument)?;
    if n > N {
        return Err(Rc::InvalidArgument);
    }
    (0..n).map(|_| d.handle()).collect()
}

impl<const N: usize> Wire for Caps<N> {
    type Arg<'a> = &'a [HandleDesc];
    type In<'a> = Vec<HandleDesc>;
    type Out = Vec<HandleDesc>;
    type Ret = Vec<HandleDesc>;
    const FIXED_SIZE: usize = 4;
    const FIXED_ALIGN: usize = 4;
    const HANDLES: usize = N;
    const ARENA: usize = 0;

    fn put_arg(value: &&[HandleDesc], e: &mut Encoder<'_>) -> Result<(), Rc> {
        put_caps::<N>(value, e)
    }
    fn get_in<'a>(d: &mut Decoder<'_, 'a>) -> Result<Vec<HandleDesc>, Rc> {
        get_caps::<N>(d)
    }
    fn put_out(value: &Vec<HandleDesc>, e: &mut Encoder<'_>) -> Result<(), Rc> {
        put_caps::<N>(value, e)
    }
    fn get_ret(d: &mut Decoder<'_, '_>) -> Result<Vec<HandleDesc>, Rc> {
        get_caps::<N>(d)
    }
    fn arg_handles(value: &&[HandleDesc]) -> usize {
        value.len().min(N)
    }
    fn out_handles(value: &Vec<HandleDesc>) -> usize {
        value.len().min(N)
    }
}

/// The sizes of one method's messages.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub endpoint: u16,
    pub id: u16,
    /// Request: fixed part bytes (padded to 8), handle descriptors, most
    /// bytes in all.
    pub req_fixed: usize,
    pub req_handles: usize,
    pub req_cap: usize,
    /// Reply: the same.
    pub reply_fixed: usize,
    pub reply_handles: usize,
    pub reply_cap: usize,
}

impl Shape {
    /// The shape of a method with arguments laid out as `args` and results
    /// as `rets` (each `(fixed size, fixed align, handles, arena)`).
    pub const fn new(
        endpoint: u16,
        id: u16,
        args: &[(usize, usize, usize, usize)],
        rets: &[(usize, usize, usize, usize)],
    ) -> Shape {
        let (req_fixed, req_handles, req_arena) = layout(args);
        let (reply_fixed, reply_handles, reply_arena) = layout(rets);
        let shape = Shape {
            endpoint,
            id,
            req_fixed,
            req_handles,
            req_cap: ipc::message_len(req_fixed, req_handles, req_arena),
            reply_fixed,
            reply_handles,
            reply_cap: ipc::message_len(reply_fixed, reply_handles, reply_arena),
        };
        assert!(
            req_fixed <= MAX_FIXED && reply_fixed <= MAX_FIXED,
            "a fixed part exceeds MAX_FIXED"
        );
        assert!(
            req_handles <= MAX_HANDLES && reply_handles <= MAX_HANDLES,
            "more than MAX_HANDLES handles"
        );
        assert!(
            shape.req_cap <= MAX_MESSAGE && shape.reply_cap <= MAX_MESSAGE,
            "a message exceeds MAX_MESSAGE"
        );
        shape
    }
}

/// Fixed part length (fields aligned in order, padded to 8), handles and
/// arena bytes of a list of wire types.
const fn layout(fields: &[(usize, usize, usize, usize)]) -> (usize, usize, usize) {
    let mut fixed: usize = 0;
    let mut handles = 0;
    let mut arena = 0;
    let mut i = 0;
    while i < fields.len() {
        let (size, align, h, a) = fields[i];
        fixed = fixed.next_multiple_of(align) + size;
        handles += h;
        arena += a;
        i += 1;
    }
    (fixed.next_multiple_of(8), handles, arena)
}

/// The largest of `values` (at least a bare header).
pub const fn max_cap(values: &[usize]) -> usize {
    let mut m = kos_abi::msg::HEADER_SIZE;
    let mut i = 0;
    while i < values.len() {
        if values[i] > m {
            m = values[i];
        }
        i += 1;
    }
    m
}

/// True if no two ids are equal.
pub const fn distinct(ids: &[u16]) -> bool {
    let mut i = 0;
    while i < ids.len() {
        let mut j = i + 1;
        while j < ids.len() {
            if ids[i] == ids[j] {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

/// A client stub's call: encodes the request with `encode` (in a stack
/// buffer up to 1 KiB), calls, decodes the reply in place with `decode`
/// (closing the reply's handles if that fails).
#[inline]
pub fn client_call<R>(
    handle: Handle,
    timeout_ns: u64,
    shape: &Shape,
    handles: usize,
    encode: impl FnOnce(&mut Encoder<'_>) -> Result<(), Rc>,
    decode: impl FnOnce(&mut Decoder<'_, '_>) -> Result<R, Rc>,
) -> Result<R, Rc> {
    ipc::with_buf(shape.req_cap, |s| {
        let mut e = Encoder::in_scratch(s, shape.req_fixed, handles)?;
        encode(&mut e)?;
        let req = e.finish(shape.endpoint, shape.id, Rc::Ok)?;
        ipc::transact(handle, timeout_ns, req, shape.reply_cap, |msg| {
            let mut d = Decoder::new(msg);
            decode(&mut d).inspect_err(|_| msg.close_handles())
        })
    })
}

/// The wire description of `T` for [`Shape::new`].
#[doc(hidden)]
pub const fn wire_of<T: Wire + ?Sized>() -> (usize, usize, usize, usize) {
    (T::FIXED_SIZE, T::FIXED_ALIGN, T::HANDLES, T::ARENA)
}

#[doc(hidden)]
#[macro_export]
macro_rules! __kos_tuple {
    () => { () };
    ($one:ident) => { $one };
    ($($many:ident),+) => { ($($many),+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __kos_tuple_ty {
    () => { () };
    ($one:ty) => { $one };
    ($($many:ty),+) => { ($($many),+) };
}

/// Declares an IPC interface; see the [module documentation](self) for
/// the syntax and what it generates.
#[macro_export]
macro_rules! interface {
    (
        $(#[$imeta:meta])*
        $vis:vis interface $name:ident = $endpoint:literal {
            $(
                $(#[$mmeta:meta])*
                fn $m:ident ( $($a:ident : $at:ty),* $(,)? )
                    -> ( $($r:ident : $rt:ty),* $(,)? ) = $id:literal ;
            )*
        }
    ) => {
        $(#[$imeta])*
        #[allow(unused_imports, unused_labels, unused_mut, clippy::unused_unit)]
        $vis mod $name {
            use super::*;
            use $crate::interface::{Bytes, Cap, Caps, Str};

            /// The endpoint number in the header of this interface's messages.
            pub const ENDPOINT: u16 = $endpoint;

            /// Method ids and message shapes.
            pub mod methods {
                $(
                    #[allow(unused_imports, non_snake_case)]
                    pub mod $m {
                        use super::super::super::*;
                        use $crate::interface::{Bytes, Cap, Caps, Str};
                        /// The method id.
                        pub const ID: u16 = $id;
                        /// Its messages' sizes.
                        pub const SHAPE: $crate::interface::Shape = $crate::interface::Shape::new(
                            super::super::ENDPOINT,
                            ID,
                            &[$($crate::interface::wire_of::<$at>()),*],
                            &[$($crate::interface::wire_of::<$rt>()),*],
                        );
                    }
                )*
            }

            const _: () = ::core::assert!(
                $crate::interface::distinct(&[$($id),*]),
                "two methods of the interface have the same id"
            );

            /// The largest request of the interface, in bytes.
            pub const REQUEST_CAP: usize =
                $crate::interface::max_cap(&[$(methods::$m::SHAPE.req_cap),*]);
            /// The largest reply of the interface, in bytes.
            pub const REPLY_CAP: usize =
                $crate::interface::max_cap(&[$(methods::$m::SHAPE.reply_cap),*]);

            /// The client stub: one method per interface method.
            #[derive(Copy, Clone, Debug, PartialEq, Eq)]
            pub struct Client {
                handle: $crate::Handle,
                timeout_ns: u64,
            }

            impl Client {
                /// Calls through the channel client end `handle`, without
                /// timeout.
                pub const fn new(handle: $crate::Handle) -> Client {
                    Client { handle, timeout_ns: u64::MAX }
                }

                /// The same, each call bounded by `timeout_ns` (0: made
                /// only if a server waits, its reply then waited for
                /// without bound).
                pub const fn with_timeout(self, timeout_ns: u64) -> Client {
                    Client { timeout_ns, ..self }
                }

                /// The channel handle.
                pub const fn channel(&self) -> $crate::Handle {
                    self.handle
                }

                $(
                    $(#[$mmeta])*
                    pub fn $m(
                        &self,
                        $($a: <$at as $crate::interface::Wire>::Arg<'_>),*
                    ) -> ::core::result::Result<
                        $crate::__kos_tuple_ty!($(<$rt as $crate::interface::Wire>::Ret),*),
                        $crate::Rc,
                    > {
                        $crate::interface::client_call(
                            self.handle,
                            self.timeout_ns,
                            &methods::$m::SHAPE,
                            0 $(+ <$at as $crate::interface::Wire>::arg_handles(&$a))*,
                            |__e| {
                                $(<$at as $crate::interface::Wire>::put_arg(&$a, __e)?;)*
                                ::core::result::Result::Ok(())
                            },
                            |__d| {
                                $(let $r = <$rt as $crate::interface::Wire>::get_ret(__d)?;)*
                                ::core::result::Result::Ok($crate::__kos_tuple!($($r),*))
                            },
                        )
                    }
                )*
            }

            /// The server side: one method per interface method.
            pub trait Server {
                $(
                    $(#[$mmeta])*
                    fn $m(
                        &mut self,
                        $($a: <$at as $crate::interface::Wire>::In<'_>),*
                    ) -> ::core::result::Result<
                        $crate::__kos_tuple_ty!($(<$rt as $crate::interface::Wire>::Out),*),
                        $crate::Rc,
                    >;
                )*
            }

            /// Decodes the request `req`, calls the server's method and
            /// encodes its reply into `reply`; returns the reply's length,
            /// or the status to reply with.
            pub fn dispatch<S: Server + ?Sized>(
                server: &mut S,
                req: &$crate::ipc::Received<'_>,
                reply: &mut [u8],
            ) -> ::core::result::Result<usize, $crate::Rc> {
                let msg = &req.msg;
                if msg.header.endpoint != ENDPOINT {
                    msg.close_handles();
                    return ::core::result::Result::Err($crate::Rc::ResourceNotFound);
                }
                match msg.header.method {
                    $(
                        methods::$m::ID => {
                            let mut __d = $crate::ipc::Decoder::new(msg);
                            let __args: ::core::result::Result<_, $crate::Rc> = 'decode: {
                                $(
                                    let $a = match <$at as $crate::interface::Wire>::get_in(&mut __d) {
                                        ::core::result::Result::Ok(v) => v,
                                        ::core::result::Result::Err(e) => break 'decode ::core::result::Result::Err(e),
                                    };
                                )*
                                ::core::result::Result::Ok(($($a,)*))
                            };
                            let ($($a,)*) = match __args {
                                ::core::result::Result::Ok(v) => v,
                                ::core::result::Result::Err(e) => {
                                    msg.close_handles();
                                    return ::core::result::Result::Err(e);
                                }
                            };
                            let __out = server.$m($($a),*)?;
                            let $crate::__kos_tuple!($($r),*) = __out;
                            let shape = &methods::$m::SHAPE;
                            let mut __e = $crate::ipc::Encoder::new(
                                reply,
                                shape.reply_fixed,
                                0 $(+ <$rt as $crate::interface::Wire>::out_handles(&$r))*,
                            )?;
                            $(<$rt as $crate::interface::Wire>::put_out(&$r, &mut __e)?;)*
                            ::core::result::Result::Ok(
                                __e.finish(ENDPOINT, shape.id, $crate::Rc::Ok)?.len(),
                            )
                        }
                    )*
                    _ => {
                        msg.close_handles();
                        ::core::result::Result::Err($crate::Rc::ResourceNotFound)
                    }
                }
            }

            /// Serves requests on the server end `handle` with `server`
            /// until receiving fails; returns why.
            pub fn serve<S: Server + ?Sized>(handle: $crate::Handle, server: &mut S) -> $crate::Rc {
                let mut s = $crate::ipc::Server::new(handle, REQUEST_CAP, REPLY_CAP);
                s.run(|req, reply| dispatch(server, req, reply))
            }
        }
    };
}
