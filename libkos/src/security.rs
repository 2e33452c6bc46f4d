//! Questions to the security policy (`kl.core.Security`, PSL's security
//! event): a process asks whether it may do a method of one of its security
//! interfaces (declared like services in `kos_abi::services`) with given
//! arguments, and the policy's `security` rules answer.

use kos_abi::interfaces::security::call::Check;
use kos_abi::msg::security::{ARGS, CheckReq};

use crate::{Handle, Rc, ipc};

/// May the caller do `method` of the interface at `endpoint` with `args`
/// (its request's fixed part, at most [`ARGS`] bytes)? `Ok`, or
/// `rcSecurityDisallow` (audited like any denial).
pub fn ask(endpoint: u16, method: u16, args: &[u8]) -> Result<(), Rc> {
    if args.len() > ARGS {
        return Err(Rc::InvalidArgument);
    }
    let mut req = CheckReq {
        endpoint,
        method,
        _reserved: 0,
        args: [0; ARGS],
    };
    req.args[..args.len()].copy_from_slice(args);
    ipc::invoke::<Check>(Handle::KERNEL, &req, &[], &mut []).map(drop)
}
