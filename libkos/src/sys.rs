//! System information (`SysInfo` on the kernel handle).

use kos_abi::interfaces::sysinfo::call::MemStats as MemStatsCall;
use kos_abi::msg::sysinfo::MemStats;
use kos_abi::{Handle, Rc};

use crate::ipc;

/// Free and total frames, kernel heap use, live processes and threads.
pub fn mem_stats() -> Result<MemStats, Rc> {
    let (stats, _) = ipc::invoke::<MemStatsCall>(Handle::KERNEL, &(), &[], &mut [])?;
    Ok(stats)
}
