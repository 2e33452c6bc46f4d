//! Links the ExecutionManager with libkos's user layout.
include!("../libkos/link.rs");

fn main() {
    link_user_bins("../libkos", &[]);
}
