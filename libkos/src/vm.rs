//! The calling process's memory (`Vm` endpoint on its own Task handle).

use kos_abi::msg::Endpoint;
use kos_abi::vm::{ALLOCATE, FREE, PROTECT, ProtectReq, VmPerms, VmRange};
use kos_abi::{Handle, Rc};

use crate::ipc;

/// Maps `size` bytes (rounded up to pages) of zeroed read-write memory;
/// returns where.
pub fn allocate(size: u64) -> Result<VmRange, Rc> {
    let mut reply = VmRange::default();
    ipc::call(
        Handle::SELF_TASK,
        Endpoint::Vm as u16,
        ALLOCATE,
        &VmRange { addr: 0, size },
        &[],
        &mut reply,
        &mut [],
    )?;
    Ok(reply)
}

/// Unmaps a range [`allocate`] returned.
///
/// # Safety
///
/// Nothing may use the range any more: no reference or pointer into it is
/// used after this call (in particular, memory the heap owns must never be
/// freed this way).
pub unsafe fn free(range: VmRange) -> Result<(), Rc> {
    ipc::call(
        Handle::SELF_TASK,
        Endpoint::Vm as u16,
        FREE,
        &range,
        &[],
        &mut (),
        &mut [],
    )
    .map(|_| ())
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
    ipc::call(
        Handle::SELF_TASK,
        Endpoint::Vm as u16,
        PROTECT,
        &req,
        &[],
        &mut (),
        &mut [],
    )
    .map(|_| ())
}

/// Heap statistics of this process: (bytes in use, bytes held).
pub fn heap_stats() -> (usize, usize) {
    (crate::heap::used(), crate::heap::total())
}

pub use crate::heap::with_heap_locked;
