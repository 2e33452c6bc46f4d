//! Declarations: what an interface, a method and a component are, and the
//! [`interfaces!`](crate::interfaces) macro that turns one declaration into
//! everything both sides and the host tools need.
//!
//! One declaration of a method gives:
//!
//! - its id (the interface's `Method` enum, dense from 0, checked at compile
//!   time) and its interface's endpoint id (the [`Endpoint`](crate::interfaces::Endpoint) enum);
//! - its request and reply layouts (zerocopy types; the fixed part's
//!   bound is checked at compile time);
//! - the object it is invoked on ([`Target`]) and the right it needs, which
//!   the kernel's gate checks before anything else happens;
//! - a marker type implementing [`Invoke`], from which libkos makes typed
//!   client calls (request and reply types cannot disagree with the kernel);
//! - a [`MethodDecl`] row in [`INTERFACES`](crate::interfaces::INTERFACES),
//!   which the kernel's gate looks up in O(1) and which `cargo xtask docs`
//!   turns into `docs/interfaces.md` and the machine-readable
//!   `docs/interfaces.json` that the host tools (the policy compiler, the
//!   init-description checker) read.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::Rights;

/// The object a method is invoked on (through a handle to it).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Task handle, to any process.
    Task,
    /// A Task handle to the calling process itself (other targets:
    /// `rcInvalidArgument`).
    OwnTask,
    /// A Thread handle.
    Thread,
    /// The kernel handle ([`Handle::KERNEL`](crate::Handle::KERNEL)).
    Kernel,
    /// A Notice handle.
    Notice,
    /// An MDL handle.
    Mdl,
}

impl Target {
    pub const fn name(self) -> &'static str {
        match self {
            Target::Task => "Task",
            Target::OwnTask => "own Task",
            Target::Thread => "Thread",
            Target::Kernel => "kernel",
            Target::Notice => "Notice",
            Target::Mdl => "MDL",
        }
    }
}

/// A request or reply fixed part: its type's name and size.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub name: &'static str,
    pub size: usize,
}

/// How a request field reads, for the policy's conditions on it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An unsigned little-endian integer.
    Unsigned,
    /// A signed little-endian integer.
    Signed,
    /// A range of the arena (a string or bytes the fixed part points at).
    Arena,
    /// Anything else (bytes, nested structs).
    Other,
}

/// One field of a request's fixed part, as the policy compiler reads it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FieldDesc {
    pub name: &'static str,
    /// Bytes from the start of the fixed part, and its size.
    pub offset: usize,
    pub size: usize,
    pub kind: FieldKind,
    /// The names of its values (an enum), or of its bits (flags).
    pub values: &'static [(&'static str, u64)],
    /// Whether `values` are bits (tested with `has`) rather than values.
    pub flags: bool,
}

/// A fixed part whose fields the declarations describe: implemented with
/// [`fields!`](crate::fields), which checks at compile time that the list
/// names every field of the struct with its type.
pub trait Fields {
    const FIELDS: &'static [FieldDesc];
}

impl Fields for () {
    const FIELDS: &'static [FieldDesc] = &[];
}

/// A field's type, as [`FieldDesc::kind`] says it.
pub trait FieldType {
    const KIND: FieldKind;
}

macro_rules! field_types {
    ($($t:ty => $k:ident),* $(,)?) => { $( impl FieldType for $t { const KIND: FieldKind = FieldKind::$k; } )* };
}
field_types!(u8 => Unsigned, u16 => Unsigned, u32 => Unsigned, u64 => Unsigned,
    i32 => Signed, i64 => Signed, crate::msg::ArenaRef => Arena);
impl<const N: usize> FieldType for [u8; N] {
    const KIND: FieldKind = FieldKind::Other;
}

/// A type whose values (or bits) have names, for a field declared `as` it.
pub trait Named {
    const VALUES: &'static [(&'static str, u64)];
    /// The values are bits of a set.
    const BITS: bool;
}

/// Describes the fields of a request struct (in the struct's own module):
/// `fields!(CreateReq { name: ArenaRef, priority: u32, flags: u32 as CreateFlags });`.
/// Every field must be listed, with its type: the expansion destructures
/// the struct and checks each type, so the list cannot disagree with it.
#[macro_export]
macro_rules! fields {
    ($T:ident { $($f:ident : $ft:ty $(as $E:ty)?),* $(,)? }) => {
        impl $crate::decl::Fields for $T {
            const FIELDS: &'static [$crate::decl::FieldDesc] = &[
                $( $crate::decl::FieldDesc {
                    name: stringify!($f),
                    offset: ::core::mem::offset_of!($T, $f),
                    size: ::core::mem::size_of::<$ft>(),
                    kind: <$ft as $crate::decl::FieldType>::KIND,
                    values: $crate::fields!(@values $($E)?),
                    flags: $crate::fields!(@flags $($E)?),
                }, )*
            ];
        }
        const _: () = {
            #[allow(dead_code, reason = "a compile-time check only")]
            fn every_field_listed(v: &$T) {
                let $T { $($f: _),* } = v;
                $( let _: &$ft = &v.$f; )*
            }
        };
    };
    (@values) => { &[] };
    (@values $E:ty) => { <$E as $crate::decl::Named>::VALUES };
    (@flags) => { false };
    (@flags $E:ty) => { <$E as $crate::decl::Named>::BITS };
}

/// One method, as declared.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MethodDecl {
    /// The interface's name (`kl.core.Task`).
    pub interface: &'static str,
    /// The interface's endpoint id (the header's `endpoint`).
    pub endpoint: u16,
    pub name: &'static str,
    /// The header's `method`.
    pub id: u16,
    pub target: Target,
    /// The rights the invoked handle must hold.
    pub right: Rights,
    /// How the declaration spells the right.
    pub right_name: &'static str,
    pub request: Layout,
    /// The request's fields (what the policy's conditions can read).
    pub fields: &'static [FieldDesc],
    pub reply: Layout,
    /// The declaration's doc comment.
    pub doc: &'static str,
}

/// One interface, as declared.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InterfaceDecl {
    pub name: &'static str,
    pub id: u16,
    pub doc: &'static str,
    /// Indexed by method id.
    pub methods: &'static [MethodDecl],
}

/// One user service, as declared in [`crate::services`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServiceDecl {
    pub name: &'static str,
    /// The header's `endpoint` of its messages.
    pub endpoint: u16,
    pub doc: &'static str,
    pub methods: &'static [ServiceMethodDecl],
}

/// One method of a user service. Calling it needs the CLIENT right on a
/// channel to the service.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServiceMethodDecl {
    pub name: &'static str,
    pub id: u16,
    pub args: &'static [Field],
    pub results: &'static [Field],
    pub doc: &'static str,
}

/// An argument or result of a service method.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    /// How the declaration spells its type.
    pub ty: &'static str,
    /// Bytes it takes in the fixed part, handle descriptors, most arena
    /// bytes.
    pub fixed: usize,
    /// The alignment of its fixed-part bytes.
    pub align: usize,
    pub handles: usize,
    pub arena: usize,
    /// "fixed", "bytes", "string", "handle" or "handles".
    pub wire: &'static str,
}

/// A process class (a component) and the endpoints it provides, in the
/// manner of KasperskyOS's EDL/CDL.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ComponentDecl {
    /// The class name (a process's `eiid`).
    pub class: &'static str,
    pub doc: &'static str,
    pub endpoints: &'static [EndpointDecl],
}

/// An endpoint a component provides: its name and the interface it serves.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EndpointDecl {
    pub name: &'static str,
    pub interface: &'static str,
}

/// A declared method, as a type: what a typed call needs to know.
pub trait Invoke {
    const ENDPOINT: u16;
    const METHOD: u16;
    /// The rights the invoked handle must hold.
    const RIGHT: Rights;
    /// The request's fixed part.
    type Request: IntoBytes + FromBytes + Immutable + KnownLayout;
    /// The reply's fixed part.
    type Reply: IntoBytes + FromBytes + Immutable + KnownLayout + Default;
}

/// Declares interfaces: see the module documentation and
/// [`crate::interfaces`] for the declarations themselves.
#[macro_export]
macro_rules! interfaces {
    (
        $(
            $(#[doc = $idoc:literal])*
            interface $iname:literal as $Iface:ident in $imod:ident = $eid:literal {
                $(
                    $(#[doc = $mdoc:literal])*
                    fn $M:ident($req:ty) -> $rep:ty = $mid:literal, on $target:ident, needs $right:expr;
                )*
            }
        )*
    ) => {
        /// The interfaces kernel objects serve: the header's `endpoint`.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Endpoint {
            $( $(#[doc = $idoc])* $Iface = $eid, )*
        }

        impl Endpoint {
            pub const fn from_u16(v: u16) -> Option<Endpoint> {
                match v {
                    $( $eid => Some(Endpoint::$Iface), )*
                    _ => None,
                }
            }

            /// The interface's declaration.
            pub const fn decl(self) -> &'static $crate::decl::InterfaceDecl {
                &INTERFACES[self as usize - 1]
            }
        }

        $(
            $(#[doc = $idoc])*
            pub mod $imod {
                #[allow(unused_imports, reason = "declarations name types from anywhere in the ABI")]
                use $crate::*;
                #[allow(unused_imports, reason = "as above")]
                use $crate::decl::{Invoke, Layout, MethodDecl, Target};

                pub const ENDPOINT: u16 = $eid;
                pub const NAME: &str = $iname;

                /// The interface's methods: the header's `method`.
                #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
                #[repr(u16)]
                pub enum Method {
                    $( $(#[doc = $mdoc])* $M = $mid, )*
                }

                /// Every method, in id order.
                pub const ALL: &[Method] = &[ $( Method::$M, )* ];

                impl Method {
                    pub const fn from_u16(v: u16) -> Option<Method> {
                        if (v as usize) < ALL.len() {
                            Some(ALL[v as usize])
                        } else {
                            None
                        }
                    }

                    pub const fn id(self) -> u16 {
                        self as u16
                    }

                    pub const fn decl(self) -> &'static MethodDecl {
                        &METHODS[self as usize]
                    }
                }

                /// The declarations, indexed by method id.
                pub const METHODS: &[MethodDecl] = &[
                    $(
                        MethodDecl {
                            interface: $iname,
                            endpoint: $eid,
                            name: stringify!($M),
                            id: $mid,
                            target: Target::$target,
                            right: $right,
                            right_name: stringify!($right),
                            request: Layout {
                                name: stringify!($req),
                                size: ::core::mem::size_of::<$req>(),
                            },
                            fields: <$req as $crate::decl::Fields>::FIELDS,
                            reply: Layout {
                                name: stringify!($rep),
                                size: ::core::mem::size_of::<$rep>(),
                            },
                            doc: concat!($($mdoc, "\n",)*),
                        },
                    )*
                ];

                /// One type per method, for typed calls ([`Invoke`]).
                pub mod call {
                    #[allow(unused_imports, reason = "declarations name types from anywhere in the ABI")]
                    use $crate::*;
                    $(
                        $(#[doc = $mdoc])*
                        pub struct $M;
                        impl $crate::decl::Invoke for $M {
                            const ENDPOINT: u16 = $eid;
                            const METHOD: u16 = $mid;
                            const RIGHT: $crate::Rights = super::METHODS[$mid].right;
                            type Request = $req;
                            type Reply = $rep;
                        }
                    )*
                }

                const _: () = {
                    let mut i = 0;
                    while i < ALL.len() {
                        // Ids are dense from 0, so lookups index the table.
                        assert!(ALL[i] as usize == i, "method ids must be 0, 1, 2, ... in order");
                        assert!(METHODS[i].id as usize == i);
                        // Every method needs a right: the gate refuses a handle without it.
                        assert!(!METHODS[i].right.is_empty(), "every method needs a right");
                        assert!(METHODS[i].request.size <= $crate::msg::MAX_FIXED);
                        i += 1;
                    }
                };
            }
        )*

        /// Every interface, indexed by endpoint id - 1.
        pub const INTERFACES: &[$crate::decl::InterfaceDecl] = &[
            $(
                $crate::decl::InterfaceDecl {
                    name: $iname,
                    id: $eid,
                    doc: concat!($($idoc, "\n",)*),
                    methods: $imod::METHODS,
                },
            )*
        ];

        const _: () = {
            let mut i = 0;
            while i < INTERFACES.len() {
                assert!(INTERFACES[i].id as usize == i + 1, "endpoint ids must be 1, 2, 3, ... in order");
                i += 1;
            }
        };

        /// The declaration of `method` of `endpoint`, if both exist (O(1)).
        pub const fn method(endpoint: u16, method: u16) -> Option<&'static $crate::decl::MethodDecl> {
            if endpoint == 0 || endpoint as usize > INTERFACES.len() {
                return None;
            }
            let methods = INTERFACES[endpoint as usize - 1].methods;
            if (method as usize) < methods.len() {
                Some(&methods[method as usize])
            } else {
                None
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::Named;

    /// Each flags type's names are its bitflags names (the `Named` list is
    /// written by hand; this keeps it whole).
    fn same<F: bitflags::Flags<Bits = u32> + Named>() {
        let names: alloc_free::Names = <F as bitflags::Flags>::FLAGS
            .iter()
            .map(|f| (f.name(), u64::from(f.value().bits())))
            .collect();
        assert_eq!(names.as_slice(), F::VALUES);
    }

    mod alloc_free {
        extern crate std;
        pub type Names = std::vec::Vec<(&'static str, u64)>;
    }

    #[test]
    fn flag_names_are_the_bitflags_names() {
        same::<crate::task::CreateFlags>();
        same::<crate::vm::VmPerms>();
    }
}
