//! Return codes: every failure of every syscall and kernel method is one of
//! these, never a kernel fault. Numbers are stable.

use core::fmt;

macro_rules! rcs {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $text:literal; )*) => {
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Rc {
            $( $(#[$doc])* $name = $value, )*
        }

        impl Rc {
            /// Decode a code received from the kernel; unknown values are `None`.
            pub const fn from_u32(v: u32) -> Option<Rc> {
                match v {
                    $( $value => Some(Rc::$name), )*
                    _ => None,
                }
            }

            /// The KasperskyOS-style name (`rcOk`, `rcInvalidArgument`, ...).
            pub const fn name(self) -> &'static str {
                match self {
                    $( Rc::$name => $text, )*
                }
            }
        }
    };
}

rcs! {
    /// Success.
    Ok = 0, "rcOk";
    /// An argument is out of range or malformed.
    InvalidArgument = 1, "rcInvalidArgument";
    /// The handle's rights mask lacks the right the operation needs.
    NoCapability = 2, "rcNoCapability";
    /// The security policy denied the operation.
    SecurityDisallow = 3, "rcSecurityDisallow";
    /// No memory left (frames or kernel heap).
    OutOfMemory = 4, "rcOutOfMemory";
    /// The caller's quota for this resource is used up.
    QuotaExceeded = 5, "rcQuotaExceeded";
    /// A named thing (file, process, endpoint, method) does not exist.
    ResourceNotFound = 6, "rcResourceNotFound";
    /// The object is in use or in the wrong state for the operation.
    Busy = 7, "rcBusy";
    /// A name or address is already taken.
    AlreadyExists = 8, "rcAlreadyExists";
    /// The operation's timeout expired.
    Timeout = 9, "rcTimeout";
    /// The handle was revoked by an ancestor.
    HandleRevoked = 10, "rcHandleRevoked";
    /// The handle value names no live handle (never issued, or closed).
    InvalidHandle = 11, "rcInvalidHandle";
    /// The handle names an object of the wrong type for the operation.
    WrongType = 12, "rcWrongType";
    /// A user address does not name memory the caller may access that way.
    BadAddress = 13, "rcBadAddress";
    /// A message exceeds the size limits or its header is inconsistent.
    MessageTooLarge = 14, "rcMessageTooLarge";
    /// A file is not a valid executable for this system.
    BadExecutable = 15, "rcBadExecutable";
    /// The operation is not (yet) supported.
    NotSupported = 16, "rcNotSupported";
    /// Unknown syscall number.
    InvalidSyscall = 17, "rcInvalidSyscall";
    /// The peer (process or thread) ended while the caller waited on it.
    PeerDied = 18, "rcPeerDied";
}

impl Rc {
    pub const fn is_ok(self) -> bool {
        matches!(self, Rc::Ok)
    }

    /// `Ok(())` for `rcOk`, the code as an error otherwise.
    pub const fn into_result(self) -> Result<(), Rc> {
        match self {
            Rc::Ok => Ok(()),
            e => Err(e),
        }
    }

    /// Decode a raw register value; an unknown value means the ABI was broken,
    /// reported as `rcNotSupported`.
    pub const fn from_raw(v: u64) -> Rc {
        if v > u32::MAX as u64 {
            return Rc::NotSupported;
        }
        match Rc::from_u32(v as u32) {
            Some(rc) => rc,
            None => Rc::NotSupported,
        }
    }
}

impl fmt::Display for Rc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// The numbers are the ABI: pin them.
const _: () = {
    assert!(Rc::Ok as u32 == 0);
    assert!(Rc::InvalidArgument as u32 == 1);
    assert!(Rc::NoCapability as u32 == 2);
    assert!(Rc::SecurityDisallow as u32 == 3);
    assert!(Rc::OutOfMemory as u32 == 4);
    assert!(Rc::QuotaExceeded as u32 == 5);
    assert!(Rc::ResourceNotFound as u32 == 6);
    assert!(Rc::Busy as u32 == 7);
    assert!(Rc::AlreadyExists as u32 == 8);
    assert!(Rc::Timeout as u32 == 9);
    assert!(Rc::HandleRevoked as u32 == 10);
    assert!(Rc::InvalidHandle as u32 == 11);
    assert!(Rc::WrongType as u32 == 12);
    assert!(Rc::BadAddress as u32 == 13);
    assert!(Rc::MessageTooLarge as u32 == 14);
    assert!(Rc::BadExecutable as u32 == 15);
    assert!(Rc::NotSupported as u32 == 16);
    assert!(Rc::InvalidSyscall as u32 == 17);
    assert!(Rc::PeerDied as u32 == 18);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for v in 0..64u32 {
            if let Some(rc) = Rc::from_u32(v) {
                assert_eq!(rc as u32, v);
            }
        }
        assert_eq!(Rc::from_raw(u64::MAX), Rc::NotSupported);
        assert_eq!(Rc::Timeout.name(), "rcTimeout");
    }
}
