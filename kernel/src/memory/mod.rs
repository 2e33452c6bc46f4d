//! Memory management: discovery, the kernel's page tables, the frame allocator.

pub mod frames;
pub mod heap;
pub mod kernel_map;
pub mod layout;
pub mod phys;
pub mod platform;

use kernel_core::addr::PAGE_SIZE;
use kernel_core::memmap::{self, Region, RegionSet};

use crate::println;
use platform::{MAX_REGIONS, Platform, Source};

/// Bring up memory management; returns what was learnt about the machine.
/// Failure here (no RAM at all, tables that cannot be built) is fatal: the
/// kernel cannot run without them.
pub fn init(dtb_pa: u64) -> Platform {
    let p = platform::discover(dtb_pa);
    let source = match p.source {
        Source::DeviceTree => "device tree",
        Source::BoardDefault => "board default",
    };
    for r in p.ram.iter() {
        println!("memory: RAM {r} ({} MiB) from {source}", r.size() >> 20);
    }
    for r in p.reserved.iter() {
        println!("memory: reserved {r}");
    }
    let image = layout::image();
    println!(
        "memory: kernel image {} (text {} KiB, rodata {} KiB, data+bss {} KiB)",
        image.whole(),
        image.text.size() / 1024,
        image.rodata.size() / 1024,
        image.data.size() / 1024
    );

    match kernel_map::build_and_switch(&p.ram) {
        Ok(pages) => {
            println!("mmu: kernel tables built ({pages} table pages), early tables retired")
        }
        Err(e) => panic!("cannot build the kernel page tables: {e}"),
    }

    let mut usable = usable_memory(&p);
    if frames::init(&mut usable).is_none() {
        panic!("no usable RAM for the frame allocator");
    }
    let (free, total) = frames::counts();
    println!(
        "frames: {} of {} frames free ({} MiB usable)",
        free,
        total,
        (total as u64 * PAGE_SIZE) >> 20
    );
    p
}

/// RAM minus the kernel image, the DTB, reserved ranges and page 0, in whole pages.
fn usable_memory(p: &Platform) -> RegionSet<MAX_REGIONS> {
    let mut exclude = RegionSet::<MAX_REGIONS>::new();
    let image = layout::image().whole();
    // Page 0 holds the Pi 4's spin table and armstub; never hand it out.
    let page0 = Region {
        start: 0,
        end: PAGE_SIZE,
    };
    for r in p.reserved.iter().chain([&image, &page0]) {
        if let Err(e) = exclude.add(*r) {
            panic!("cannot record reserved range {r}: {e}");
        }
    }
    memmap::usable(&p.ram, exclude.as_slice())
        .unwrap_or_else(|e| panic!("cannot compute usable RAM: {e}"))
}
