//! Every user service declared in `kos_abi::services`, as client stubs,
//! server traits and dispatch (each module is what [`crate::interface!`]
//! makes): `services::echo::Client`, `services::echo::Server`,
//! `services::echo::serve`, ... The declaration is read from
//! `kos_abi::with_services!`, so the host tools and these stubs cannot
//! disagree.

/// Hands each declared service to [`crate::interface!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __service_stubs {
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
            $crate::interface! {
                $(#[doc = $idoc])*
                pub interface $imod = $eid {
                    $(
                        $(#[doc = $mdoc])*
                        fn $m($($a: $at),*) -> ($($r: $rt),*) = $id;
                    )*
                }
            }
        )*
    };
}

kos_abi::with_services!(crate::__service_stubs);
