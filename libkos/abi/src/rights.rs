//! Rights masks: 32 bits per handle. The low [`GENERIC_BITS`] bits are
//! generic (what may be done with the handle itself); the rest are specific
//! to the object type (for a Task: which Task methods may be invoked).
//! A derived handle's mask is always a subset of its source's.

use bitflags::bitflags;

use crate::task::Method;

/// Bits 0..6 are generic, 6..32 object-specific.
pub const GENERIC_BITS: u32 = 6;

bitflags! {
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
    pub struct Rights: u32 {
        /// The handle may be moved to another process.
        const TRANSFER = 1 << 0;
        /// The handle may be copied (to this or another process).
        const COPY = 1 << 1;
        /// The holder may wait for the object's events (a Task's or a
        /// Thread's end) and subscribe a notice to them.
        const WAIT = 1 << 2;
        /// The holder may revoke the handle's descendants.
        const REVOKE = 1 << 3;
        /// Channel: may `Call` through it (a client end).
        const CLIENT = 1 << GENERIC_BITS;
        /// Channel: may `Recv` and `Reply` on it (the server end).
        const SERVER = 1 << (GENERIC_BITS + 1);
        /// Channel: may hand out new client ends (`ServiceLocatorRegister`'s
        /// listener; connecting derives a client handle from it).
        const LISTENER = 1 << (GENERIC_BITS + 2);
        /// Badge: may be attached to a copy or transfer.
        const ATTACH = 1 << GENERIC_BITS;
        /// Notice: may wait for and read its events.
        const READ_EVENTS = 1 << GENERIC_BITS;
        /// Notice: may queue a user event on it (`Notice.Signal`).
        const SIGNAL = 1 << (GENERIC_BITS + 1);
        /// MDL: may be mapped readable / writable.
        const MAP_READ = 1 << GENERIC_BITS;
        const MAP_WRITE = 1 << (GENERIC_BITS + 1);
        /// Thread: may read its information (`Thread.Info`).
        const INFO = 1 << GENERIC_BITS;
        /// Thread: may choose the cores it runs on (`Thread.SetAffinity`).
        const PLACE = 1 << (GENERIC_BITS + 1);
        /// Kernel handle: may write to the console.
        const CONSOLE = 1 << GENERIC_BITS;
        /// Kernel handle: may read system information.
        const SYSINFO = 1 << (GENERIC_BITS + 1);
        /// Kernel handle: may close, copy, revoke and identify its handles.
        const HANDLES = 1 << (GENERIC_BITS + 2);
        /// Kernel handle: may create kernel objects (channels, badges,
        /// user objects, notices, MDLs).
        const CREATE = 1 << (GENERIC_BITS + 3);
        /// Kernel handle: may read the kernel's ROMFS.
        const ROMFS = 1 << (GENERIC_BITS + 4);
        /// Kernel handle: may use the service locator (register, connect,
        /// connect tasks).
        const LOCATOR = 1 << (GENERIC_BITS + 5);
        /// Kernel handle: may read the security audit (`Audit.Read`).
        const AUDIT = 1 << (GENERIC_BITS + 6);
        /// Kernel handle: may ask the security policy (`Security.Check`).
        const ASK = 1 << (GENERIC_BITS + 7);
        /// Every object-specific bit.
        const SPECIFIC = !((1 << GENERIC_BITS) - 1);
        /// Every generic bit.
        const GENERIC = (1 << GENERIC_BITS) - 1;
    }
}

impl Rights {
    /// The object-specific rights of a kernel handle, by name (an init
    /// description gives them by these names).
    pub const KERNEL_NAMED: [(&'static str, Rights); 8] = [
        ("CONSOLE", Rights::CONSOLE),
        ("SYSINFO", Rights::SYSINFO),
        ("HANDLES", Rights::HANDLES),
        ("CREATE", Rights::CREATE),
        ("ROMFS", Rights::ROMFS),
        ("LOCATOR", Rights::LOCATOR),
        ("AUDIT", Rights::AUDIT),
        ("ASK", Rights::ASK),
    ];

    /// The right to invoke one Task method through a Task handle.
    /// (Only the 26 seed methods have one; `Wait` needs [`Rights::WAIT`].
    /// The declarations in [`crate::interfaces`] say which right each
    /// method needs: ask them, not this.)
    pub const fn task(method: Method) -> Rights {
        assert!((method as u16) < crate::task::METHOD_COUNT);
        Rights::from_bits_retain(1 << (GENERIC_BITS + method as u32))
    }

    /// Every Task right plus every generic right.
    pub const TASK_ALL: Rights = Rights::all();
}

const _: () = {
    assert!(Rights::TRANSFER.bits() == 1);
    assert!(Rights::COPY.bits() == 2);
    assert!(Rights::WAIT.bits() == 4);
    assert!(Rights::REVOKE.bits() == 8);
    assert!(Rights::CLIENT.bits() == 1 << 6 && Rights::SERVER.bits() == 1 << 7);
    assert!(Rights::LISTENER.bits() == 1 << 8);
    assert!(Rights::CONSOLE.bits() == 1 << 6 && Rights::LOCATOR.bits() == 1 << 11);
    assert!(Rights::SIGNAL.bits() == 1 << 7 && Rights::INFO.bits() == 1 << 6);
    // 26 Task methods fill the 26 object-specific bits exactly.
    assert!(Rights::task(Method::Create).bits() == 1 << 6);
    assert!(Rights::task(Method::GetPid).bits() == 1 << 31);
};
