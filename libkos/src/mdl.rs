//! MDL buffers: physical pages shared by handle. Create one, pass the
//! handle to another process, and both map the same pages.

use kos_abi::interfaces::mdl::call as m;
use kos_abi::msg::mdl::{CreateReq, MapReq};
use kos_abi::vm::VmRange;
use kos_abi::{Handle, Rc};

use crate::ipc;

pub use kos_abi::msg::mdl::MAX_SIZE;

/// Creates a buffer of `size` bytes (rounded up to pages, zeroed; at most
/// [`MAX_SIZE`]); handle rights MAP_READ | MAP_WRITE | COPY | TRANSFER |
/// REVOKE.
pub fn create(size: u64) -> Result<Handle, Rc> {
    let (reply, _) = ipc::invoke::<m::Create>(Handle::KERNEL, &CreateReq { size }, &[], &mut [])?;
    Ok(Handle(reply.handle))
}

/// Maps the buffer into this process (readable; writable too if asked and
/// the handle has MAP_WRITE); returns where.
pub fn map(handle: Handle, writable: bool) -> Result<Mapping, Rc> {
    let req = MapReq {
        writable: u32::from(writable),
        _reserved: 0,
    };
    let (range, _) = ipc::invoke::<m::Map>(handle, &req, &[], &mut [])?;
    Ok(Mapping { range, writable })
}

/// Unmaps a mapping [`map`] made.
pub fn unmap(handle: Handle, mapping: Mapping) -> Result<(), Rc> {
    ipc::invoke::<m::Unmap>(handle, &mapping.range, &[], &mut []).map(|_| ())
}

/// A mapped MDL buffer. Other processes may write it at any time, so it is
/// read and written with volatile byte accesses, never through references.
#[derive(Debug, PartialEq, Eq)]
pub struct Mapping {
    range: VmRange,
    writable: bool,
}

impl Mapping {
    /// Where it is mapped.
    pub fn range(&self) -> VmRange {
        self.range
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.range.size as usize
    }

    pub fn is_empty(&self) -> bool {
        self.range.size == 0
    }

    /// Copies bytes from `offset` into `out` ([`Rc::InvalidArgument`]
    /// beyond the end).
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), Rc> {
        self.check(offset, out.len())?;
        let base = (self.range.addr as usize + offset) as *const u8;
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: in range (checked) of a mapping that stays mapped
            // while this Mapping lives (unmap consumes it); plain bytes,
            // volatile because another process may write them.
            *b = unsafe { base.add(i).read_volatile() };
        }
        Ok(())
    }

    /// Copies `data` to `offset` ([`Rc::InvalidArgument`] beyond the end,
    /// [`Rc::NoCapability`] if it was mapped read-only).
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), Rc> {
        if !self.writable {
            return Err(Rc::NoCapability);
        }
        self.check(offset, data.len())?;
        let base = (self.range.addr as usize + offset) as *mut u8;
        for (i, b) in data.iter().enumerate() {
            // SAFETY: in range of a writable mapping that stays mapped
            // while this Mapping lives; no Rust reference covers it.
            unsafe { base.add(i).write_volatile(*b) };
        }
        Ok(())
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), Rc> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(Rc::InvalidArgument),
        }
    }
}
