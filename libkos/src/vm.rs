//! The calling process's memory (`Vm` endpoint on its own Task handle).

use kos_abi::interfaces::vm::call as m;
use kos_abi::vm::{ProtectReq, VmPerms, VmRange};
use kos_abi::{Handle, Rc};

use crate::ipc;

/// Maps `size` bytes (rounded up to pages) of zeroed read-write memory;
/// returns where.
pub fn allocate(size: u64) -> Result<VmRange, Rc> {
    ipc::invoke::<m::Allocate>(Handle::SELF_TASK, &VmRange { addr: 0, size }, &[], &mut [])
        .map(|(reply, _)| reply)
}

/// Unmaps a range [`allocate`] returned.
///
/// # Safety
///
/// Nothing may use the range any more: no reference or pointer into it is
/// used after this call (in particular, memory the heap owns must never be
/// freed this way).
pub unsafe fn free(range: VmRange) -> Result<(), Rc> {
    ipc::invoke::<m::Free>(Handle::SELF_TASK, &range, &[], &mut []).map(drop)
}

/// Changes the permissions of a whole range [`allocate`] returned (never
/// writable and executable at once).
///
/// # Safety
///
/// Nothing may rely on the old permissions: no reference into the range
/// may be used for an access the new permissions forbid.
pub unsafe fn protect(range: VmRange, perms: VmPerms) -> Result<(), Rc> {
    let req = ProtectReq {
        addr: range.addr,
        size: range.size,
        perms: perms.bits(),
        _reserved: 0,
    };
    ipc::invoke::<m::Protect>(Handle::SELF_TASK, &req, &[], &mut []).map(drop)
}

/// Heap statistics of this process: (bytes in use, bytes held).
pub fn heap_stats() -> (usize, usize) {
    (crate::heap::used(), crate::heap::total())
}

pub use crate::heap::with_heap_locked;
