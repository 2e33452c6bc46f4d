//! What the kernel learns about the machine at boot: RAM, reserved ranges,
//! interrupt controller, PSCI — from the device tree when one is passed,
//! otherwise from the board's defaults (QEMU raspi4b without `-dtb`).

use bsp_rpi4::board;
use bsp_rpi4::board::DefaultEnable;
use bsp_rpi4::devicetree::{self, Cpu, EnableMethod, GicInfo, PsciConduit};
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use kernel_core::memmap::{Region, RegionSet};

use super::layout::phys_to_virt_addr;
use crate::println;

/// Capacity of the RAM and reserved region lists.
pub const MAX_REGIONS: usize = 32;

/// Where the memory map came from, for the boot log.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Source {
    DeviceTree,
    BoardDefault,
}

/// The machine as discovered at boot.
pub struct Platform {
    pub source: Source,
    /// All RAM (what the linear map covers).
    pub ram: RegionSet<MAX_REGIONS>,
    /// Ranges the frame allocator must not hand out (besides the kernel image).
    pub reserved: RegionSet<MAX_REGIONS>,
    /// The device tree blob itself.
    pub dtb: Option<Region>,
    pub gic: GicInfo,
    /// The cores this kernel can run on (MPIDR Aff0 below
    /// `board::MAX_CPUS`, higher affinity levels 0: their stack slots),
    /// the boot core included, and how each starts.
    pub cpus: heapless::Vec<Cpu, { board::MAX_CPUS }>,
}

static PSCI: AtomicU8 = AtomicU8::new(0); // 0 none, 1 hvc, 2 smc
static TIMER_IRQ: AtomicU32 = AtomicU32::new(0);

/// The DTB must be readable through the early tables (low 4 GiB, Normal memory).
fn dtb_slice(dtb_pa: u64) -> Option<&'static [u8]> {
    if dtb_pa == 0 || !dtb_pa.is_multiple_of(8) || dtb_pa >= (4 << 30) - 40 {
        return None;
    }
    let va = phys_to_virt_addr(dtb_pa) as *const u8;
    // SAFETY: the early tables map the low 4 GiB; 40 bytes of header fit below 4 GiB.
    let header = unsafe { core::slice::from_raw_parts(va, 40) };
    // total_size checks the magic and bounds the size (devicetree::MAX_DTB_SIZE).
    let size = devicetree::total_size(header)?;
    if dtb_pa + size as u64 > 4 << 30 {
        return None;
    }
    // SAFETY: the whole blob lies in the low 4 GiB (checked above), which the
    // early tables map; nothing writes to it. It is only read during
    // discovery, before the kernel tables replace the early ones.
    Some(unsafe { core::slice::from_raw_parts(va, size) })
}

/// Discover the machine. Never fails: a missing or unusable DTB falls back
/// to the board defaults, and the log says which was used.
pub fn discover(dtb_pa: u64) -> Platform {
    let mut p = Platform {
        source: Source::BoardDefault,
        ram: RegionSet::new(),
        reserved: RegionSet::new(),
        dtb: None,
        gic: board::DEFAULT_GIC,
        cpus: heapless::Vec::new(),
    };
    let mut dt_cpus = None;
    let blob = dtb_slice(dtb_pa);
    match blob.map(devicetree::parse) {
        Some(Ok(info)) if !info.memory.is_empty() => {
            p.source = Source::DeviceTree;
            p.dtb = blob.and_then(|b| Region::new(dtb_pa, b.len() as u64));
            for m in &info.memory {
                add_or_warn(&mut p.ram, m.base, m.size, "memory");
            }
            for r in &info.reserved {
                add_or_warn(&mut p.reserved, r.base, r.size, "reserved");
            }
            if let Some(gic) = info.gic {
                p.gic = gic;
            }
            if let Some(psci) = info.psci {
                PSCI.store(
                    if psci == PsciConduit::Hvc { 1 } else { 2 },
                    Ordering::Relaxed,
                );
            }
            if let Some(irq) = info.timer_irq {
                TIMER_IRQ.store(irq, Ordering::Relaxed);
            }
            if !info.cpus.is_empty() {
                dt_cpus = Some(info.cpus.clone());
            }
            println!("dtb: {:#x}, model {:?}", dtb_pa, info.model.unwrap_or("?"));
        }
        Some(Ok(_)) => println!("dtb: {dtb_pa:#x} has no memory node; using board defaults"),
        Some(Err(e)) => println!("dtb: {dtb_pa:#x} unusable ({e}); using board defaults"),
        None if dtb_pa == 0 => println!("dtb: none passed; using board defaults"),
        None => println!("dtb: {dtb_pa:#x} not a valid blob in reach; using board defaults"),
    }
    if p.source == Source::BoardDefault {
        for m in board::DEFAULT_MEMORY {
            add_or_warn(&mut p.ram, m.base, m.size, "memory");
        }
    }
    if let Some(dtb) = p.dtb {
        add_or_warn(&mut p.reserved, dtb.start, dtb.size(), "dtb");
    }
    let listed = dt_cpus.unwrap_or_else(default_cpus);
    for cpu in &listed {
        // A spin table's release address must be RAM the kernel maps.
        let reachable = match cpu.enable {
            EnableMethod::SpinTable(at) => {
                p.ram.contains(at) && p.ram.contains(at.saturating_add(7))
            }
            _ => true,
        };
        if cpu.mpidr >= board::MAX_CPUS as u64 {
            println!(
                "smp: cpu {:#x} beyond this kernel's {} left alone",
                cpu.mpidr,
                board::MAX_CPUS
            );
        } else if !reachable {
            println!(
                "smp: cpu {:#x}: its release address is not RAM; left alone",
                cpu.mpidr
            );
        } else {
            let _ = p.cpus.push(*cpu);
        }
    }
    p
}

/// The cores the board has when no device tree lists them.
fn default_cpus() -> heapless::Vec<Cpu, { devicetree::MAX_DT_CPUS }> {
    let mut cpus = heapless::Vec::new();
    let n = match board::DEFAULT_ENABLE {
        DefaultEnable::SpinTable(_) => board::MAX_CPUS,
        DefaultEnable::BootCoreOnly => 1,
    };
    for core in 0..n {
        let enable = match board::DEFAULT_ENABLE {
            DefaultEnable::SpinTable(at) => EnableMethod::SpinTable(at + 8 * core as u64),
            DefaultEnable::BootCoreOnly => EnableMethod::Other,
        };
        let _ = cpus.push(Cpu {
            mpidr: core as u64,
            enable,
        });
    }
    cpus
}

/// A PSCI call through the device tree's conduit: its result (PSCI's
/// int32), or `None` without PSCI.
pub fn psci(function: u64, a1: u64, a2: u64, a3: u64) -> Option<i32> {
    // One call, through `hvc` or `smc`: the firmware reads x0..x3 and
    // returns in x0; by the SMC Calling Convention x1..x17 may come back
    // changed, so they are marked so.
    macro_rules! call {
        ($insn:literal) => {{
            let mut r = function;
            // SAFETY: a PSCI call touches no memory of ours; the
            // registers it may change are declared.
            unsafe {
                core::arch::asm!($insn,
                    inout("x0") r, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                    lateout("x4") _, lateout("x5") _, lateout("x6") _, lateout("x7") _,
                    lateout("x8") _, lateout("x9") _, lateout("x10") _, lateout("x11") _,
                    lateout("x12") _, lateout("x13") _, lateout("x14") _, lateout("x15") _,
                    lateout("x16") _, lateout("x17") _, options(nostack))
            };
            r
        }};
    }
    let r = match PSCI.load(Ordering::Relaxed) {
        1 => call!("hvc #0"),
        2 => call!("smc #0"),
        _ => return None,
    };
    Some(r as i32)
}

fn add_or_warn<const N: usize>(set: &mut RegionSet<N>, base: u64, size: u64, what: &str) {
    match Region::new(base, size) {
        Some(r) if !r.is_empty() => {
            if let Err(e) = set.add(r) {
                println!("memory: ignoring {what} range {r}: {e}");
            }
        }
        _ => println!("memory: ignoring bad {what} range {base:#x}+{size:#x}"),
    }
}

/// The timer interrupt named by the device tree, if any.
pub fn timer_irq() -> Option<u32> {
    match TIMER_IRQ.load(Ordering::Relaxed) {
        0 => None,
        irq => Some(irq),
    }
}

/// Power the machine off, if the board knows how; returns if it could not.
#[allow(
    dead_code,
    reason = "unused in QEMU builds, which exit through semihosting"
)]
pub fn power_off() {
    const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
    // SYSTEM_OFF does not return on success.
    if psci(PSCI_SYSTEM_OFF, 0, 0, 0).is_none() {
        board_power_off();
    }
}

#[cfg(feature = "board-rpi4")]
fn board_power_off() {
    use bsp_rpi4::drivers::bcm2711_pm::Bcm2711Pm;
    // SAFETY: PM_BASE is the BCM2711 PM block, inside the board's MMIO window
    // that the kernel tables map as Device memory.
    let pm = unsafe { Bcm2711Pm::new(phys_to_virt_addr(board::PM_BASE) as usize) };
    pm.halt();
}

#[cfg(not(feature = "board-rpi4"))]
fn board_power_off() {}
