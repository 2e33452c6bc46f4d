//! The security audit (`kl.core.Audit`): what the policy decided, and the
//! rule behind it. Reading needs the kernel handle's AUDIT right, and the
//! policy must grant the call.

use alloc::vec::Vec;

use kos_abi::interfaces::audit::call::Read as ReadCall;
use kos_abi::msg::audit::{READ_MAX, ReadReply, ReadReq, Record};
use zerocopy::FromBytes;

use crate::{Handle, Rc, ipc};

/// The records after sequence number `after` (at most
/// [`READ_MAX`] of them, oldest first), and what the ring says of the rest.
pub fn read(after: u64) -> Result<(ReadReply, Vec<Record>), Rc> {
    read_via(Handle::KERNEL, after)
}

/// [`read`] through `kernel`, a copy of the kernel handle.
pub fn read_via(kernel: Handle, after: u64) -> Result<(ReadReply, Vec<Record>), Rc> {
    let mut buf = [0u8; READ_MAX * core::mem::size_of::<Record>()];
    let (reply, got) = ipc::invoke::<ReadCall>(kernel, &ReadReq { after }, &[], &mut buf)?;
    let n = (reply.count as usize).min(got / core::mem::size_of::<Record>());
    let records = <[Record]>::ref_from_prefix_with_elems(&buf[..], n)
        .map(|(r, _)| r.to_vec())
        .map_err(|_| Rc::InvalidArgument)?;
    Ok((reply, records))
}

/// Every record after `after` (reading until the ring has no more).
pub fn read_all(mut after: u64) -> Result<Vec<Record>, Rc> {
    let mut all = Vec::new();
    loop {
        let (reply, records) = read(after)?;
        let Some(last) = records.last() else {
            return Ok(all);
        };
        after = last.seq;
        all.extend(records);
        if after >= reply.last {
            return Ok(all);
        }
    }
}
