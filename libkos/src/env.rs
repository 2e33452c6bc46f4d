//! The program's arguments and environment variables, as its parent gave
//! them (`KosTaskSetArgs`, `KosTaskSetEnv`; [`crate::process`]), read the
//! way `std::env` reads them: `args()` starts with the program's name.
//! Nothing here allocates: the strings live in the start data the kernel
//! mapped read-only for the life of the process.

use kos_abi::startup::split_var;

/// The program's name, then its arguments.
pub fn args() -> impl Iterator<Item = &'static str> {
    let given = crate::rt::start_data().into_iter().flat_map(|d| d.args());
    core::iter::once(crate::rt::program_name()).chain(given)
}

/// The value of the variable `name` (`None` if unset).
pub fn var(name: &str) -> Option<&'static str> {
    crate::rt::start_data()?.var(name)
}

/// Every variable, as (name, value), in the order given.
pub fn vars() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::rt::start_data()
        .into_iter()
        .flat_map(|d| d.env())
        .filter_map(split_var)
}
