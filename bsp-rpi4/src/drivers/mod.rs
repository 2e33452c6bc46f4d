//! Memory-mapped device drivers.
//!
//! Every driver is a thin handle around a base address. Its constructor is
//! the only `unsafe` part: the caller promises the address maps that device's
//! register block for as long as the handle is used.

pub mod bcm2711_pm;
pub mod gic;
pub mod pl011;
