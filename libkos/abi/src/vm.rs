//! The user address space layout and the `Vm` endpoint (memory of the
//! calling process, invoked on its own Task handle).

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub const PAGE_SIZE: u64 = 4096;
/// Lowest user address the kernel maps: the first 64 KiB stay unmapped so
/// that null pointers plus small offsets fault.
pub const USER_MIN: u64 = 0x1_0000;
/// One past the highest user address (48-bit lower half).
pub const USER_END: u64 = 1 << 47;
/// Thread stacks are carved downwards from here, each with an unmapped
/// guard page below it.
pub const STACK_AREA_TOP: u64 = 0x7F_0000_0000;
/// Memory handed out by `Vm.Allocate` grows upwards from here.
pub const HEAP_AREA_BASE: u64 = 0x10_0000_0000;
/// Where the environment data is mapped (read-only) at start.
pub const ENV_BASE: u64 = 0x0F_0000_0000;
/// Default thread stack size.
pub const DEFAULT_STACK_SIZE: u64 = 64 * 1024;
/// Largest thread stack.
pub const MAX_STACK_SIZE: u64 = 8 * 1024 * 1024;

bitflags! {
    /// Page permissions for `Protect`.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
    pub struct VmPerms: u32 {
        const READ = 1 << 0;
        const WRITE = 1 << 1;
        const EXEC = 1 << 2;
    }
}

#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ProtectReq {
    pub addr: u64,
    pub size: u64,
    /// [`VmPerms`] bits.
    pub perms: u32,
    pub _reserved: u32,
}
crate::fields!(ProtectReq {
    addr: u64,
    size: u64,
    perms: u32 as VmPerms,
    _reserved: u32
});

/// `Allocate`: zeroed read-write memory, `size` rounded up to pages.
/// Reply: [`VmRange`] with the address chosen.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VmRange {
    pub addr: u64,
    pub size: u64,
}
crate::fields!(VmRange {
    addr: u64,
    size: u64
});

const _: () = {
    {
        use crate::interfaces::vm::Method;
        assert!(Method::Allocate as u16 == 0 && Method::Free as u16 == 1);
        assert!(Method::Protect as u16 == 2);
    }
    assert!(VmPerms::READ.bits() == 1 && VmPerms::WRITE.bits() == 2 && VmPerms::EXEC.bits() == 4);
    assert!(core::mem::size_of::<ProtectReq>() == 24);
    assert!(core::mem::size_of::<VmRange>() == 16);
};

impl crate::decl::Named for VmPerms {
    const VALUES: &'static [(&'static str, u64)] = &[
        ("READ", VmPerms::READ.bits() as u64),
        ("WRITE", VmPerms::WRITE.bits() as u64),
        ("EXEC", VmPerms::EXEC.bits() as u64),
    ];
    const BITS: bool = true;
}
