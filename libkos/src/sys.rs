//! System information (`SysInfo` on the kernel handle).

use kos_abi::interfaces::sysinfo::call::{
    MemStats as MemStatsCall, Served as ServedCall, TickLateness,
};
use kos_abi::msg::sysinfo::{Lateness, MemStats, Served};
use kos_abi::{Handle, Rc};

use crate::ipc;

/// Free and total frames, kernel heap use, live processes and threads.
pub fn mem_stats() -> Result<MemStats, Rc> {
    let (stats, _) = ipc::invoke::<MemStatsCall>(Handle::KERNEL, &(), &[], &mut [])?;
    Ok(stats)
}

/// How late the timer interrupt was taken, at worst, since the last call
/// (which starts the next period), and how many ticks that period had.
pub fn tick_lateness() -> Result<Lateness, Rc> {
    let (l, _) = ipc::invoke::<TickLateness>(Handle::KERNEL, &(), &[], &mut [])?;
    Ok(l)
}

/// Kernel calls each endpoint has served past the gate since boot, by
/// endpoint id.
pub fn served() -> Result<Served, Rc> {
    let (s, _) = ipc::invoke::<ServedCall>(Handle::KERNEL, &(), &[], &mut [])?;
    Ok(s)
}
