//! User services, declared once. [`with_services!`](crate::with_services)
//! holds every declaration and hands it to a macro: here it becomes the
//! tables host tools read ([`SERVICES`], in `docs/interfaces.md` and
//! `docs/interfaces.json`); in libkos it becomes each service's client
//! stub, server trait and dispatch (`libkos::services`, through
//! `libkos::interface!`). A service is reached through a channel, so every
//! method needs the channel's CLIENT right; which class may call which
//! method is the policy's business.
//!
//! Syntax of one service (the same as `libkos::interface!`'s, with the
//! service's name):
//!
//! ```text
//! service "utest.Echo" as echo = 0x40 {
//!     fn ping(x: u32) -> (y: u32) = 1;
//! }
//! ```
//!
//! Argument and result types are zerocopy types (in the fixed part),
//! `Bytes<N>` and `Str<N>` (at most N bytes in the arena) or `Cap` (a
//! handle descriptor); other types are named by their full path from
//! `kos_abi`, since both this crate and libkos read the declaration.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::decl::Field;

/// Every user service.
#[macro_export]
macro_rules! with_services {
    ($($callback:ident)::+) => {
        $($callback)::+! {
            /// The service the on-target tests use to exercise service
            /// declarations and the generated stubs (`utest-iface`): fixed
            /// values, strings and byte strings both ways, handles both
            /// ways, method errors.
            service "utest.Echo" as echo = 0x40 {
                /// y = x + 1.
                fn ping(x: u32) -> (y: u32) = 1;
                /// Vector sum and dot product.
                fn add(a: kos_abi::services::Point, b: kos_abi::services::Point)
                    -> (sum: kos_abi::services::Point, dot: i64) = 2;
                /// a ++ b, and its length.
                fn concat(a: Bytes<64>, b: Str<64>) -> (joined: Bytes<128>, len: u32) = 3;
                /// "hello, <name>".
                fn greet(name: Str<32>) -> (greeting: Str<64>) = 4;
                /// Signals the notice `n` with `cookie`.
                fn signal(n: Cap, cookie: u64) -> () = 5;
                /// A new user object with `context`, moved to the caller.
                fn make_object(context: u64) -> (obj: Cap) = 6;
                /// Fails with the return code `code`.
                fn fail(code: u32) -> () = 7;
                /// Checks pattern 1 in `data`; answers its length and pattern 2.
                fn big(data: Bytes<61440>) -> (len: u64, back: Bytes<61440>) = 8;
                /// Ends the server.
                fn stop() -> () = 9;
            }

            /// The service of the gate's on-target tests (`utest-gate`): the
            /// user-test policy refuses some values of `v`, on the request
            /// and on the reply.
            service "utest.Gate" as gate = 0x41 {
                /// Answers `v`, the return code of the server's previous
                /// Reply, and the method.
                fn echo(v: u64) -> (v: u64, prev: u64, method: u64) = 1;
                /// Sleeps `v` milliseconds, then answers as `echo`.
                fn delay(v: u64) -> (v: u64, prev: u64, method: u64) = 2;
            }

            /// fsusr, the user-space ROMFS server (`kl.core.FSUsr`): it
            /// serves the ROMFS image it was handed (`KnFsChange`) with the
            /// kernel's own reader. A process whose file-system backend is
            /// fsusr reads its files (and loads its children's executables)
            /// through it.
            service "kl.core.FSUsr" as fsusr = 0x43 {
                /// Reads the file at `path` from `offset`: its size and up
                /// to 60 KiB of its bytes (rcResourceNotFound: no such file,
                /// or no image yet).
                fn read(path: Str<256>, offset: u64) -> (size: u64, data: Bytes<61440>) = 1;
                /// `KnFsChange`: serves the ROMFS image held in the MDL
                /// `image` (its first `size` bytes) from now on; an image
                /// that does not parse is rcInvalidArgument and changes
                /// nothing.
                fn change(image: Cap, size: u64) -> () = 2;
            }

            /// The counter of the demonstration system (`cargo xtask
            /// qemu`): its clients add to one total.
            service "demo.Counter" as counter = 0x50 {
                /// Adds `n`; answers the new total.
                fn add(n: u64) -> (total: u64) = 1;
                /// The caller is done; answers the total.
                fn done() -> (total: u64) = 2;
            }

            /// The ExecutionManager's IProcessControl (KasperskyOS's
            /// `alm::execution_manager::IProcessControl`): it starts the
            /// run configurations of the packages it serves, stops them and
            /// tells their state. A token is a handle to a started process
            /// (rights `kos_abi::em::token`); every method takes one.
            service "execution_manager.IProcessControl" as process_control = 0x60 {
                /// StartProcess: run configuration `run_config` (empty:
                /// the primary one) of package `package`. `options` is the
                /// StartOptions record (`kos_abi::em::Options`), `parent`
                /// none or the parent's token (PARENT right), `handles` the
                /// user handles its names name. Answers the new token.
                fn start_process(package: Str<128>, run_config: Str<64>, options: Bytes<4096>,
                    parent: Caps<1>, handles: Caps<6>) -> (token: Cap) = 1;
                /// StopProcess (STOP right): `policy` is a
                /// `kos_abi::em::StopPolicy`.
                fn stop_process(token: Cap, policy: u32) -> () = 2;
                /// GetProcessState (STATE right).
                fn get_process_state(token: Cap) -> (context: kos_abi::em::ProcessContext) = 3;
            }

            /// A door, for the on-target tests of the policy's state
            /// machines (`utest-policy`): the user-test policy lets a
            /// client knock only while the door is open.
            service "utest.Door" as door = 0x42 {
                /// Opens it (rcBusy if open).
                fn open() -> () = 1;
                /// Closes it (rcBusy if closed).
                fn close() -> () = 2;
                /// Knocks.
                fn knock() -> () = 3;
                /// Shouts `v` (its reply is what the policy refuses).
                fn shout(v: u64) -> (v: u64) = 4;
            }
        }
    };
}

/// A point of `utest.Echo`'s `add`.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

/// How a declared argument or result travels: (fixed-part bytes, their
/// alignment, handle descriptors, most arena bytes, what it is). The fixed
/// part lays the fields out in order, each at its alignment (as
/// `libkos::interface` encodes them).
pub trait WireShape {
    const SHAPE: (usize, usize, usize, usize, &'static str);
}

impl<T: FromBytes + IntoBytes + Immutable> WireShape for T {
    const SHAPE: (usize, usize, usize, usize, &'static str) = (
        core::mem::size_of::<T>(),
        core::mem::align_of::<T>(),
        0,
        0,
        "fixed",
    );
}

/// A byte string of at most `N` bytes, in the arena.
pub struct Bytes<const N: usize>;
/// A UTF-8 string of at most `N` bytes, in the arena.
pub struct Str<const N: usize>;
/// A handle, as a handle descriptor.
pub struct Cap;
/// Up to `N` handles: a u32 count in the fixed part, then the descriptors.
pub struct Caps<const N: usize>;

impl<const N: usize> WireShape for Bytes<N> {
    const SHAPE: (usize, usize, usize, usize, &'static str) = (
        core::mem::size_of::<crate::msg::ArenaRef>(),
        core::mem::align_of::<crate::msg::ArenaRef>(),
        0,
        N,
        "bytes",
    );
}
impl<const N: usize> WireShape for Str<N> {
    const SHAPE: (usize, usize, usize, usize, &'static str) = (
        core::mem::size_of::<crate::msg::ArenaRef>(),
        core::mem::align_of::<crate::msg::ArenaRef>(),
        0,
        N,
        "string",
    );
}
impl WireShape for Cap {
    const SHAPE: (usize, usize, usize, usize, &'static str) = (0, 1, 1, 0, "handle");
}
impl<const N: usize> WireShape for Caps<N> {
    const SHAPE: (usize, usize, usize, usize, &'static str) = (4, 4, N, 0, "handles");
}

/// One field of a service method's request or reply.
#[doc(hidden)]
pub const fn field<T: WireShape + ?Sized>(name: &'static str, ty: &'static str) -> Field {
    Field {
        name,
        ty,
        fixed: T::SHAPE.0,
        align: T::SHAPE.1,
        handles: T::SHAPE.2,
        arena: T::SHAPE.3,
        wire: T::SHAPE.4,
    }
}

/// Makes the service tables from [`with_services!`](crate::with_services)'s
/// declarations.
#[doc(hidden)]
#[macro_export]
macro_rules! __service_tables {
    ($(
        $(#[doc = $idoc:literal])*
        service $iname:literal as $imod:ident = $eid:literal {
            $(
                $(#[doc = $mdoc:literal])*
                fn $m:ident ( $($a:ident : $at:ty),* $(,)? )
                    -> ( $($r:ident : $rt:ty),* $(,)? ) = $id:literal ;
            )*
        }
    )*) => {
        $(
            $(#[doc = $idoc])*
            pub mod $imod {
                #[allow(unused_imports, reason = "declarations name these without a path")]
                use $crate::services::{Bytes, Cap, Caps, Str};

                pub const NAME: &str = $iname;
                pub const ENDPOINT: u16 = $eid;
                pub const METHODS: &[$crate::decl::ServiceMethodDecl] = &[
                    $(
                        $crate::decl::ServiceMethodDecl {
                            name: stringify!($m),
                            id: $id,
                            args: &[$($crate::services::field::<$at>(stringify!($a), stringify!($at))),*],
                            results: &[$($crate::services::field::<$rt>(stringify!($r), stringify!($rt))),*],
                            doc: concat!($($mdoc, "\n",)*),
                        },
                    )*
                ];
            }
        )*

        /// Every user service.
        pub const SERVICES: &[$crate::decl::ServiceDecl] = &[
            $(
                $crate::decl::ServiceDecl {
                    name: $iname,
                    endpoint: $eid,
                    doc: concat!($($idoc, "\n",)*),
                    methods: $imod::METHODS,
                },
            )*
        ];
    };
}

crate::with_services!(crate::__service_tables);

const _: () = {
    // Ids distinct within each service, endpoints distinct across them and
    // apart from the kernel's.
    let mut s = 0;
    while s < SERVICES.len() {
        assert!(crate::interfaces::method(SERVICES[s].endpoint, 0).is_none());
        let mut t = s + 1;
        while t < SERVICES.len() {
            assert!(SERVICES[s].endpoint != SERVICES[t].endpoint);
            t += 1;
        }
        let ms = SERVICES[s].methods;
        let mut i = 0;
        while i < ms.len() {
            let mut j = i + 1;
            while j < ms.len() {
                assert!(ms[i].id != ms[j].id, "two methods of a service share an id");
                j += 1;
            }
            i += 1;
        }
        s += 1;
    }
};
