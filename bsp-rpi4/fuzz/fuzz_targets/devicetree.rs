//! Feeds arbitrary bytes to the device-tree parser, as the kernel does with
//! the blob the firmware hands it. The first byte selects a mode: odd values
//! use the rest as is; even values splice it into a real QEMU blob (at an
//! offset chosen by the second byte) so most inputs get past the header.
#![no_main]

use libfuzzer_sys::fuzz_target;

static SEED: &[u8] = include_bytes!("../../tests/data/qemu-virt-gicv3.dtb");

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        check(rest);
        return;
    }
    let Some((&at, patch)) = rest.split_first() else {
        return;
    };
    let mut blob = SEED.to_vec();
    let start = (usize::from(at) * 32).min(blob.len());
    let end = (start + patch.len()).min(blob.len());
    blob[start..end].copy_from_slice(&patch[..end - start]);
    check(&blob);
});

fn check(blob: &[u8]) {
    let _ = bsp_rpi4::devicetree::total_size(blob);
    if let Ok(info) = bsp_rpi4::devicetree::parse(blob) {
        // Whatever parses must describe sane ranges.
        for m in info.memory.iter().chain(info.reserved.iter()) {
            let _ = m.base.checked_add(m.size);
        }
    }
}
