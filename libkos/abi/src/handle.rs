//! Handle values: what user space holds to name a kernel object.
//!
//! A handle value is an index into the owning process's handle table (low 16
//! bits) and the slot's generation (high 16 bits), so a closed handle is
//! detected even after its slot is reused. The rights mask lives in the
//! kernel's table entry, never in the value, so it cannot be forged.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(transparent)]
pub struct Handle(pub u32);

impl Handle {
    /// Never a valid handle.
    pub const INVALID: Handle = Handle(u32::MAX);
    /// Every process starts with its own Task at index 0 (generation 1),
    /// with the rights its creator granted.
    pub const SELF_TASK: Handle = Handle::new(0, 1);
    /// ... and its channel to the kernel's core endpoints (console, system
    /// information) at index 1.
    pub const KERNEL: Handle = Handle::new(1, 1);

    pub const fn new(index: u16, generation: u16) -> Handle {
        Handle(((generation as u32) << 16) | index as u32)
    }
    pub const fn index(self) -> u16 {
        self.0 as u16
    }
    pub const fn generation(self) -> u16 {
        (self.0 >> 16) as u16
    }
}

const _: () = {
    assert!(Handle::SELF_TASK.0 == 0x0001_0000);
    assert!(Handle::KERNEL.0 == 0x0001_0001);
};
