//! Device tree parsing against real QEMU blobs and hand-written ones.
//!
//! Fixtures in tests/data:
//! * qemu-virt-*.dtb: QEMU 10 `dumpdtb` output, packed with
//!   `dtc -I dtb -O dtb` (QEMU pads its blob to 1 MiB; content unchanged):
//!   - gicv2: `-M virt,dumpdtb=… -m 1G -cpu cortex-a72 -nic none`
//!   - gicv3: `-M virt,gic-version=3,dumpdtb=… -m 3G -cpu cortex-a72
//!     -smp 4 -nic none`
//!   - el2-gicv3-5g: `-M virt,virtualization=on,gic-version=3,dumpdtb=…
//!     -m 5G -cpu cortex-a72 -smp 2 -nic none`
//! * rpi4.dtb, nested-bus.dtb: compiled from the .dts beside them.
//! * spin-table CPUs (as the Pi 4 firmware lists them): a blob built by
//!   hand in `spin_table_cpus`.

use bsp_rpi4::devicetree::{self, DtError, GicInfo, MemRange, PsciConduit, parse, total_size};

const VIRT_GICV2: &[u8] = include_bytes!("data/qemu-virt-gicv2.dtb");
const VIRT_GICV3: &[u8] = include_bytes!("data/qemu-virt-gicv3.dtb");
const VIRT_EL2_5G: &[u8] = include_bytes!("data/qemu-virt-el2-gicv3-5g.dtb");
const RPI4: &[u8] = include_bytes!("data/rpi4.dtb");
const NESTED: &[u8] = include_bytes!("data/nested-bus.dtb");

const ALL: &[&[u8]] = &[VIRT_GICV2, VIRT_GICV3, VIRT_EL2_5G, RPI4, NESTED];

const GIB: u64 = 1 << 30;

fn mem(base: u64, size: u64) -> MemRange {
    MemRange { base, size }
}

#[test]
fn qemu_virt_gicv2() {
    let info = parse(VIRT_GICV2).unwrap();
    assert_eq!(info.model, Some("linux,dummy-virt"));
    assert_eq!(&info.memory[..], &[mem(0x4000_0000, GIB)]);
    assert!(info.reserved.is_empty());
    assert_eq!(
        info.gic,
        Some(GicInfo::V2 {
            gicd: 0x0800_0000,
            gicc: 0x0801_0000
        })
    );
    assert_eq!(info.uart, Some(0x0900_0000));
    assert_eq!(info.psci, Some(PsciConduit::Hvc));
    assert_eq!(info.timer_irq, Some(27));
    assert_eq!(info.bootargs, None);
}

#[test]
fn qemu_virt_gicv3() {
    let info = parse(VIRT_GICV3).unwrap();
    assert_eq!(&info.memory[..], &[mem(0x4000_0000, 3 * GIB)]);
    assert_eq!(
        info.gic,
        Some(GicInfo::V3 {
            gicd: 0x0800_0000,
            gicr: 0x080a_0000
        })
    );
    assert_eq!(info.uart, Some(0x0900_0000));
    assert_eq!(info.psci, Some(PsciConduit::Hvc));
    assert_eq!(info.timer_irq, Some(27));
}

#[test]
fn qemu_virt_el2_memory_above_4g() {
    let info = parse(VIRT_EL2_5G).unwrap();
    // 5 GiB from 1 GiB: ends at 6 GiB, past the 32-bit boundary.
    assert_eq!(&info.memory[..], &[mem(0x4000_0000, 5 * GIB)]);
    assert!(matches!(
        info.gic,
        Some(GicInfo::V3 {
            gicd: 0x0800_0000,
            gicr: 0x080a_0000
        })
    ));
    // With EL2 emulated, QEMU's PSCI moves to EL3's conduit.
    assert_eq!(info.psci, Some(PsciConduit::Smc));
    assert_eq!(info.timer_irq, Some(27));
}

#[test]
fn rpi4_soc_ranges_translation() {
    let info = parse(RPI4).unwrap();
    assert_eq!(info.model, Some("Raspberry Pi 4 Model B Rev 1.4"));
    assert_eq!(
        &info.memory[..],
        &[
            mem(0, 0x3b40_0000),
            mem(0x4000_0000, 0xbc00_0000),
            mem(0x1_0000_0000, 0x8000_0000),
            mem(0x1_8000_0000, 0x8000_0000),
        ]
    );
    // /memreserve/ plus the nvram node; linux,cma (size only) is skipped.
    assert_eq!(
        &info.reserved[..],
        &[mem(0, 0x1000), mem(0x3ef5_b000, 0x1000)]
    );
    // /soc maps bus 0x4000_0000 → CPU 0xff80_0000.
    assert_eq!(
        info.gic,
        Some(GicInfo::V2 {
            gicd: 0xff84_1000,
            gicc: 0xff84_2000
        })
    );
    // stdout-path "serial1:115200n8" → alias → /soc/serial@7e201000 (UART0).
    assert_eq!(info.uart, Some(0xfe20_1000));
    assert_eq!(info.psci, None);
    assert_eq!(
        info.bootargs,
        Some("coherent_pool=1M 8250.nr_uarts=1 console=ttyS0,115200")
    );
    assert_eq!(info.timer_irq, Some(27));
}

#[test]
fn nested_buses_and_fallback_uart() {
    let info = parse(NESTED).unwrap();
    assert_eq!(&info.memory[..], &[mem(0x2_0000_0000, GIB)]);
    // Two levels: 0x3000 → 0x100_3000 → 0x8100_3000. The stdout node is an
    // ns16550, so the first PL011 is used.
    assert_eq!(info.uart, Some(0x8100_3000));
    assert_eq!(
        info.gic,
        Some(GicInfo::V3 {
            gicd: 0x8010_0000,
            gicr: 0x8020_0000
        })
    );
    assert_eq!(info.psci, Some(PsciConduit::Smc));
    assert_eq!(info.timer_irq, Some(27));
}

#[test]
fn total_size_reads_header() {
    for dtb in ALL {
        assert_eq!(total_size(&dtb[..40]), Some(dtb.len()));
        assert_eq!(total_size(&dtb[..39]), None);
    }
    let mut bad = VIRT_GICV2[..40].to_vec();
    bad[0] = 0;
    assert_eq!(total_size(&bad), None);
    let mut huge = VIRT_GICV2[..40].to_vec();
    huge[4..8].copy_from_slice(&(devicetree::MAX_DTB_SIZE as u32 + 1).to_be_bytes());
    assert_eq!(total_size(&huge), None);
}

#[test]
fn padded_blob_like_qemu_passes_it() {
    // QEMU hands the guest a 1 MiB blob: totalsize covers trailing padding.
    let mut padded = VIRT_GICV3.to_vec();
    padded.resize(1 << 20, 0);
    padded[4..8].copy_from_slice(&(1u32 << 20).to_be_bytes());
    assert_eq!(total_size(&padded), Some(1 << 20));
    let info = parse(&padded).unwrap();
    assert_eq!(info.uart, Some(0x0900_0000));
    // Trailing bytes past totalsize are ignored.
    padded.extend_from_slice(&[0xff; 64]);
    assert!(parse(&padded).is_ok());
}

#[test]
fn header_errors() {
    assert_eq!(parse(&[]).unwrap_err(), DtError::Truncated);
    assert_eq!(parse(&VIRT_GICV2[..100]).unwrap_err(), DtError::Truncated);
    let mut b = VIRT_GICV2.to_vec();
    b[3] ^= 1;
    assert_eq!(parse(&b).unwrap_err(), DtError::BadMagic);
    let mut b = VIRT_GICV2.to_vec();
    b[20..24].copy_from_slice(&16u32.to_be_bytes());
    assert!(matches!(parse(&b).unwrap_err(), DtError::BadHeader(_)));
    let mut b = VIRT_GICV2.to_vec();
    b[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(parse(&b).unwrap_err(), DtError::BadHeader(_)));
    // Display is implemented for every error.
    assert!(!DtError::Malformed.to_string().is_empty());
}

/// Sets `totalsize` to the slice length, so truncation reaches the
/// structure parser instead of being caught by the size check.
fn with_total_size(mut b: Vec<u8>) -> Vec<u8> {
    if b.len() >= 8 {
        let len = b.len() as u32;
        b[4..8].copy_from_slice(&len.to_be_bytes());
    }
    b
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for dtb in ALL {
        for len in 0..dtb.len() {
            assert!(parse(&dtb[..len]).is_err(), "len {len}");
            // Result may be Ok or Err (e.g. only padding was cut); it must
            // not panic.
            let _ = parse(&with_total_size(dtb[..len].to_vec()));
        }
    }
}

#[test]
fn byte_flips_never_panic() {
    // Every byte of the small blobs with three masks, a full QEMU one with
    // one (debug-build parsing is slow enough that all of them takes ~10 s).
    let cases: [(&[u8], &[u8]); 3] = [
        (RPI4, &[0x01, 0x80, 0xff]),
        (NESTED, &[0x01, 0x80, 0xff]),
        (VIRT_GICV3, &[0xff]),
    ];
    for (dtb, masks) in cases {
        let mut b = dtb.to_vec();
        for i in 0..b.len() {
            for &mask in masks {
                b[i] ^= mask;
                let _ = parse(&b);
                b[i] ^= mask;
            }
        }
    }
}

#[test]
fn hostile_cell_sizes_and_lengths_never_panic() {
    // Overwrite every aligned word with values known to upset naive parsers.
    let values = [0u32, 3, 4, 0x7fff_ffff, 0xffff_ffff, 9, 1, 2];
    for dtb in [RPI4, NESTED] {
        let mut b = dtb.to_vec();
        for i in (0..b.len() - 3).step_by(4) {
            let orig = [b[i], b[i + 1], b[i + 2], b[i + 3]];
            for v in values {
                b[i..i + 4].copy_from_slice(&v.to_be_bytes());
                let _ = parse(&b);
            }
            b[i..i + 4].copy_from_slice(&orig);
        }
    }
}

#[test]
fn deep_nesting_does_not_panic() {
    let dtb: &[u8] = include_bytes!("data/deep.dtb");
    let info = parse(dtb).unwrap();
    assert!(info.memory.is_empty());
    for len in 0..dtb.len() {
        let _ = parse(&with_total_size(dtb[..len].to_vec()));
    }
}

#[test]
fn cpus_and_how_they_start() {
    use bsp_rpi4::devicetree::{Cpu, EnableMethod};
    let cpu = |mpidr, enable| Cpu { mpidr, enable };
    // One CPU: QEMU names no enable-method.
    let info = parse(VIRT_GICV2).unwrap();
    assert_eq!(&info.cpus[..], &[cpu(0, EnableMethod::Other)]);
    // Four and two, started through PSCI.
    let info = parse(VIRT_GICV3).unwrap();
    assert_eq!(
        &info.cpus[..],
        &[0, 1, 2, 3].map(|n| cpu(n, EnableMethod::Psci))
    );
    let info = parse(VIRT_EL2_5G).unwrap();
    assert_eq!(
        &info.cpus[..],
        &[cpu(0, EnableMethod::Psci), cpu(1, EnableMethod::Psci)]
    );
    // The stand-in Pi 4 tree lists none (the board's spin table applies).
    assert!(parse(RPI4).unwrap().cpus.is_empty());
}

/// A flattened device tree built by hand: header, an empty memory
/// reservation block, the structure block, the strings block.
#[derive(Default)]
struct FdtBuilder {
    structs: Vec<u8>,
    strings: Vec<u8>,
}

impl FdtBuilder {
    fn word(&mut self, w: u32) {
        self.structs.extend_from_slice(&w.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    fn begin(&mut self, name: &str) -> &mut Self {
        self.word(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.word(3);
        self.word(value.len() as u32);
        self.word(off);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }

    fn text(&mut self, name: &str, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.prop(name, &v)
    }

    fn end(&mut self) -> &mut Self {
        self.word(2);
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        self.word(9);
        let (rsv, st) = (40u32, 56u32);
        let strings_at = st + self.structs.len() as u32;
        let total = strings_at + self.strings.len() as u32;
        let mut b = Vec::new();
        for w in [
            0xd00d_feed,
            total,
            st,
            strings_at,
            rsv,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structs.len() as u32,
        ] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&self.structs);
        b.extend_from_slice(&self.strings);
        b
    }
}

/// The Pi 4 firmware's way: `spin-table` cores with a 64-bit
/// `cpu-release-addr`; a disabled core is not listed, one without a
/// release address or with a method this kernel does not know is `Other`.
#[test]
fn spin_table_cpus() {
    use bsp_rpi4::devicetree::{Cpu, EnableMethod};
    let mut f = FdtBuilder::default();
    f.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[1]);
    f.begin("memory@0")
        .text("device_type", "memory")
        .cells("reg", &[0, 0, 0x4000_0000])
        .end();
    f.begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0]);
    let cpu = |f: &mut FdtBuilder, n: u32, extra: &dyn Fn(&mut FdtBuilder)| {
        f.begin(&format!("cpu@{n}"))
            .text("device_type", "cpu")
            .cells("reg", &[n]);
        extra(f);
        f.end();
    };
    cpu(&mut f, 0, &|f| {
        f.text("enable-method", "spin-table")
            .cells("cpu-release-addr", &[0, 0xd8]);
    });
    cpu(&mut f, 1, &|f| {
        f.text("enable-method", "spin-table")
            .cells("cpu-release-addr", &[0, 0xe0]);
    });
    cpu(&mut f, 2, &|f| {
        f.text("enable-method", "spin-table")
            .cells("cpu-release-addr", &[0, 0xe8])
            .text("status", "disabled");
    });
    cpu(&mut f, 3, &|f| {
        f.text("enable-method", "spin-table");
    });
    cpu(&mut f, 4, &|f| {
        f.text("enable-method", "acpi-parking-protocol");
    });
    f.end().end();
    let dtb = f.finish();
    let info = parse(&dtb).unwrap();
    assert_eq!(
        &info.cpus[..],
        &[
            Cpu {
                mpidr: 0,
                enable: EnableMethod::SpinTable(0xd8)
            },
            Cpu {
                mpidr: 1,
                enable: EnableMethod::SpinTable(0xe0)
            },
            Cpu {
                mpidr: 3,
                enable: EnableMethod::Other
            },
            Cpu {
                mpidr: 4,
                enable: EnableMethod::Other
            },
        ]
    );
}
