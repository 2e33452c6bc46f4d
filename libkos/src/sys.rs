//! System information (`SysInfo` on the kernel handle).

use kos_abi::interfaces::sysinfo::call::{
    FastPath as FastPathCall, MemStats as MemStatsCall, Served as ServedCall, TickLateness,
};
use kos_abi::msg::sysinfo::{FastPath, FastPathReq, Lateness, MemStats, Served};
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

/// Turn the kernel's IPC fast path off or on (`FAST_PATH_OFF`,
/// `FAST_PATH_ON`; `FAST_PATH_KEEP` only reads): whether it was on, and
/// the calls and replies it served since boot. Its results are the slow
/// path's, so only the cost changes.
pub fn fast_path(set: u32) -> Result<FastPath, Rc> {
    let req = FastPathReq { set, _reserved: 0 };
    let (f, _) = ipc::invoke::<FastPathCall>(Handle::KERNEL, &req, &[], &mut [])?;
    Ok(f)
}
