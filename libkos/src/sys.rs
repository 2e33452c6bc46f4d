//! System information (`SysInfo` on the kernel handle).

use kos_abi::msg::Endpoint;
use kos_abi::msg::sysinfo::{MEM_STATS, MemStats};
use kos_abi::{Handle, Rc};

use crate::ipc;

/// Free and total frames, kernel heap use, live processes and threads.
pub fn mem_stats() -> Result<MemStats, Rc> {
    let mut stats = MemStats::default();
    ipc::call(
        Handle::KERNEL,
        Endpoint::SysInfo as u16,
        MEM_STATS,
        &(),
        &[],
        &mut stats,
        &mut [],
    )?;
    Ok(stats)
}
