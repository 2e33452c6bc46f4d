//! Links the test programs with libkos's user layout; `utest-pie` position
//! independent (the kernel places it at a random offset and applies its
//! relocations).
include!("../../libkos/link.rs");

fn main() {
    link_user_bins("../../libkos", &["utest-pie"]);
}
