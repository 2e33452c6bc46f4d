//! From a device-tree blob to the RAM the frame allocator gets: the same
//! steps the kernel takes at boot (bsp-rpi4 parses, kernel-core computes),
//! on the blobs QEMU passes and on a Pi 4-like blob.

use bsp_rpi4::devicetree;
use kernel_core::memmap::{Region, RegionSet, usable};

fn blob(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../bsp-rpi4/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// RAM and reserved ranges of `dtb`, as the kernel collects them.
fn ram_and_reserved(dtb: &[u8]) -> (RegionSet<32>, Vec<Region>) {
    let info = devicetree::parse(dtb).expect("parse");
    let mut ram = RegionSet::<32>::new();
    for m in &info.memory {
        ram.add(Region::new(m.base, m.size).unwrap()).unwrap();
    }
    let reserved = info
        .reserved
        .iter()
        .map(|r| Region::new(r.base, r.size).unwrap())
        .collect();
    (ram, reserved)
}

const IMAGE_VIRT: Region = Region {
    start: 0x4008_0000,
    end: 0x4011_7000,
};

#[test]
fn qemu_virt_1g() {
    let dtb = blob("qemu-virt-gicv2.dtb");
    let (ram, reserved) = ram_and_reserved(&dtb);
    assert_eq!(
        ram.as_slice(),
        &[Region {
            start: 0x4000_0000,
            end: 0x8000_0000
        }]
    );
    // QEMU places the DTB at 0x4800_0000 for a 1 GiB virt machine.
    let dtb_region = Region::new(0x4800_0000, dtb.len() as u64).unwrap();
    let mut exclude = reserved.clone();
    exclude.extend([IMAGE_VIRT, dtb_region]);
    let u = usable(&ram, &exclude).unwrap();
    let dtb_end = (0x4800_0000 + dtb.len() as u64).div_ceil(4096) * 4096;
    assert_eq!(
        u.as_slice(),
        &[
            Region {
                start: 0x4000_0000,
                end: 0x4008_0000
            },
            Region {
                start: 0x4011_7000,
                end: 0x4800_0000
            },
            Region {
                start: dtb_end,
                end: 0x8000_0000
            },
        ]
    );
}

#[test]
fn qemu_virt_above_4g() {
    let (ram, reserved) = ram_and_reserved(&blob("qemu-virt-el2-gicv3-5g.dtb"));
    assert_eq!(
        ram.as_slice(),
        &[Region {
            start: 0x4000_0000,
            end: 0x1_8000_0000
        }]
    );
    let mut exclude = reserved;
    exclude.push(IMAGE_VIRT);
    let u = usable(&ram, &exclude).unwrap();
    assert_eq!(u.total_size(), (5 << 30) - IMAGE_VIRT.size());
    assert_eq!(u.highest(), Some(0x1_8000_0000));
}

#[test]
fn pi4_reservations_are_not_usable() {
    let (ram, reserved) = ram_and_reserved(&blob("rpi4.dtb"));
    // The hole at 0xFC00_0000..0x1_0000_0000 holds the peripherals.
    assert_eq!(
        ram.as_slice(),
        &[
            Region {
                start: 0,
                end: 0x3b40_0000
            },
            Region {
                start: 0x4000_0000,
                end: 0xfc00_0000
            },
            Region {
                start: 0x1_0000_0000,
                end: 0x2_0000_0000
            },
        ]
    );
    // /memreserve/ of the armstub page at 0.
    assert!(reserved.iter().any(|r| r.start == 0 && r.end == 0x1000));
    let image = Region {
        start: 0x8_0000,
        end: 0x11_7000,
    };
    let mut exclude = reserved.clone();
    exclude.push(image);
    let u = usable(&ram, &exclude).unwrap();
    for r in exclude.iter().filter(|r| ram.contains(r.start)) {
        assert!(!u.contains(r.start), "{r} is reserved but usable");
    }
    assert!(!u.contains(0));
    assert!(u.contains(0x1000));
    assert!(u.contains(0x11_7000));
    assert_eq!(u.total_size(), ram.total_size() - 0x1000 - image.size());
}

#[test]
fn partial_pages_are_excluded_whole() {
    let mut ram = RegionSet::<4>::new();
    ram.add(Region {
        start: 0x1000,
        end: 0x10_0000,
    })
    .unwrap();
    let u = usable(
        &ram,
        &[Region {
            start: 0x2010,
            end: 0x2020,
        }],
    )
    .unwrap();
    assert_eq!(
        u.as_slice(),
        &[
            Region {
                start: 0x1000,
                end: 0x2000
            },
            Region {
                start: 0x3000,
                end: 0x10_0000
            }
        ]
    );
}
