//! Physical/virtual address newtypes and alignment helpers.
//!
//! All `align` arguments must be non-zero powers of two (debug-asserted);
//! the helpers are plain masking, which is only correct for powers of two.

use core::fmt;

pub const PAGE_SIZE: u64 = 4096;
pub const PAGE_SHIFT: u32 = 12;

/// Round `x` down to a multiple of `a` (a power of two).
#[inline]
pub const fn align_down(x: u64, a: u64) -> u64 {
    debug_assert!(a.is_power_of_two());
    x & !(a.wrapping_sub(1))
}

/// Round `x` up to a multiple of `a` (a power of two); `None` on overflow.
#[inline]
pub const fn align_up(x: u64, a: u64) -> Option<u64> {
    debug_assert!(a.is_power_of_two());
    match x.checked_add(a.wrapping_sub(1)) {
        Some(v) => Some(align_down(v, a)),
        None => None,
    }
}

/// Whether `x` is a multiple of `a` (a power of two).
#[inline]
pub const fn is_aligned(x: u64, a: u64) -> bool {
    debug_assert!(a.is_power_of_two());
    x & a.wrapping_sub(1) == 0
}

macro_rules! addr_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            #[inline]
            pub const fn new(v: u64) -> Self {
                Self(v)
            }
            #[inline]
            pub const fn as_u64(self) -> u64 {
                self.0
            }
            #[inline]
            pub const fn align_down(self, align: u64) -> Self {
                Self(align_down(self.0, align))
            }
            /// `None` if rounding up would overflow `u64`.
            #[inline]
            pub const fn align_up(self, align: u64) -> Option<Self> {
                match align_up(self.0, align) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            #[inline]
            pub const fn is_aligned(self, align: u64) -> bool {
                is_aligned(self.0, align)
            }
            /// Offset within the 4 KiB page.
            #[inline]
            pub const fn page_offset(self) -> u64 {
                self.0 & (PAGE_SIZE - 1)
            }
            /// `None` on overflow.
            #[inline]
            pub const fn checked_add(self, off: u64) -> Option<Self> {
                match self.0.checked_add(off) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

addr_type!(
    /// A physical (output) address.
    PhysAddr
);
addr_type!(
    /// A virtual (input) address.
    VirtAddr
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_helpers() {
        assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
        assert_eq!(align_up(0x1001, 0x1000), Some(0x2000));
        assert_eq!(align_up(0x1000, 0x1000), Some(0x1000));
        assert_eq!(align_up(0, 0x1000), Some(0));
        assert_eq!(align_up(u64::MAX, 0x1000), None);
        assert_eq!(align_up(u64::MAX - 0xfff, 0x1000), Some(u64::MAX - 0xfff));
        assert!(is_aligned(0x20_0000, 0x20_0000));
        assert!(!is_aligned(0x20_1000, 0x20_0000));
        assert_eq!(align_down(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn addr_methods_and_display() {
        let p = PhysAddr(0x1234);
        assert_eq!(p.align_down(PAGE_SIZE), PhysAddr(0x1000));
        assert_eq!(p.align_up(PAGE_SIZE), Some(PhysAddr(0x2000)));
        assert_eq!(VirtAddr(u64::MAX).align_up(PAGE_SIZE), None);
        assert!(!p.is_aligned(PAGE_SIZE));
        assert_eq!(p.page_offset(), 0x234);
        assert_eq!(p.as_u64(), 0x1234);
        assert_eq!(format!("{p}"), "0x1234");
        assert_eq!(
            format!("{}", VirtAddr(0xffff_0000_0000_0000)),
            "0xffff000000000000"
        );
    }
}
