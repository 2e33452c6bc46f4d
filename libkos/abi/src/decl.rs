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
    pub handles: usize,
    pub arena: usize,
    /// "fixed", "bytes", "string" or "handle".
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
