//! What the kernel needs from the flattened device tree (DTB).
//!
//! [`parse`] validates the header itself, then walks the tree once with the
//! `fdt` crate's non-panicking API and decodes every property it uses by
//! hand, so a malformed or hostile blob yields a [`DtError`], never a panic.
//! (The header checks matter: `fdt` 0.2.0-alpha3 indexes with unchecked
//! header offsets.)
//!
//! Addresses in [`DtInfo`] are CPU physical addresses: `reg` values are
//! translated through the `ranges` of every enclosing bus (e.g. the Pi 4's
//! `/soc`, bus 0x7e00_0000 → CPU 0xfe00_0000). Addresses and sizes of more
//! than two cells (PCI) are not decoded.
//!
//! Limits: the walk stops at the first node nested more than 15 levels deep
//! (the `fdt` walker's limit; real trees use fewer than 8).

use core::fmt;

use fdt::Fdt;
use fdt::nodes::{AsNode, Node};
use fdt::parsing::NoPanic;
use fdt::parsing::unaligned::UnalignedParser;

/// Largest blob accepted, in bytes. Linux/arm64 uses the same 2 MiB limit
/// (MAX_FDT_SIZE); real ones are a few tens of KiB. QEMU pads its DTB to
/// 1 MiB, which stays within the limit.
pub const MAX_DTB_SIZE: usize = 2 * 1024 * 1024;

const FDT_MAGIC: u32 = 0xd00d_feed;
const HEADER_LEN: usize = 40;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END: u32 = 9;
/// Nodes deeper than this are not visited (the `fdt` walker's own limit).
const MAX_DEPTH: usize = 16;

/// Maximum number of memory / reserved ranges kept in [`DtInfo`].
pub const MAX_RANGES: usize = 16;

/// A physical address range.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MemRange {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl MemRange {
    /// One past the last byte (saturating).
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether `[base, base + size)` lies inside `self`.
    pub const fn contains(&self, base: u64, size: u64) -> bool {
        base >= self.base && base.saturating_add(size) <= self.end()
    }
}

/// Which GIC the machine has, with the CPU physical addresses of its frames.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum GicInfo {
    /// GICv2 / GIC-400: distributor and CPU interface.
    V2 {
        /// GICD base.
        gicd: u64,
        /// GICC base.
        gicc: u64,
    },
    /// GICv3: distributor and the first redistributor region.
    V3 {
        /// GICD base.
        gicd: u64,
        /// GICR base (first redistributor).
        gicr: u64,
    },
}

/// How to call PSCI firmware (`/psci` `method`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// `hvc #0` (firmware at EL2, e.g. QEMU without EL2 emulation).
    Hvc,
    /// `smc #0` (firmware at EL3, or QEMU emulating EL2).
    Smc,
}

/// How a CPU is started (`enable-method` of its `/cpus` node).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    /// PSCI `CPU_ON`, through the `/psci` conduit.
    Psci,
    /// The spin table: the entry point's physical address is written to
    /// this (`cpu-release-addr`), then `sev`.
    SpinTable(u64),
    /// None this kernel knows: the CPU stays where the firmware left it.
    Other,
}

/// A CPU the device tree lists.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// Its MPIDR affinity fields (`reg`).
    pub mpidr: u64,
    /// How it is started.
    pub enable: EnableMethod,
}

/// CPUs kept from the device tree (more are left where they are).
pub const MAX_DT_CPUS: usize = 8;

/// Facts extracted from the device tree.
#[derive(Clone, Debug)]
pub struct DtInfo<'a> {
    /// Root `model`.
    pub model: Option<&'a str>,
    /// RAM: `reg` of every `device_type = "memory"` node, zero-sized entries
    /// skipped. Entries beyond [`MAX_RANGES`] are dropped (less RAM is safe).
    pub memory: heapless::Vec<MemRange, MAX_RANGES>,
    /// Memory the kernel must not use: `/memreserve/` entries plus every
    /// `/reserved-memory` child with a `reg` (dynamically placed ones, with
    /// only `size`, are skipped). More than [`MAX_RANGES`] is an error.
    pub reserved: heapless::Vec<MemRange, MAX_RANGES>,
    /// Interrupt controller.
    pub gic: Option<GicInfo>,
    /// PL011 base: the `/chosen` `stdout-path` node if it is an `arm,pl011`,
    /// else the first enabled `arm,pl011` node.
    pub uart: Option<u64>,
    /// PSCI conduit from `/psci` `method`.
    pub psci: Option<PsciConduit>,
    /// `/chosen` `bootargs`.
    pub bootargs: Option<&'a str>,
    /// INTID of the EL1 virtual timer (third `interrupts` entry of the
    /// `arm,armv8-timer` node).
    pub timer_irq: Option<u32>,
    /// The enabled `/cpus/cpu` nodes, in order (beyond [`MAX_DT_CPUS`]
    /// dropped).
    pub cpus: heapless::Vec<Cpu, MAX_DT_CPUS>,
}

/// Why a blob was rejected.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DtError {
    /// Shorter than the header or than its `totalsize`.
    Truncated,
    /// Wrong magic number.
    BadMagic,
    /// `totalsize` above [`MAX_DTB_SIZE`].
    TooLarge,
    /// Inconsistent header field (the field is named).
    BadHeader(&'static str),
    /// The structure block (nodes and properties) is malformed.
    Malformed,
    /// More than [`MAX_RANGES`] reserved memory ranges.
    TooManyReserved,
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtError::Truncated => f.write_str("device tree blob is truncated"),
            DtError::BadMagic => f.write_str("not a device tree blob (bad magic)"),
            DtError::TooLarge => write!(f, "device tree blob larger than {MAX_DTB_SIZE} bytes"),
            DtError::BadHeader(field) => write!(f, "device tree header: bad {field}"),
            DtError::Malformed => f.write_str("device tree structure block is malformed"),
            DtError::TooManyReserved => {
                write!(f, "more than {MAX_RANGES} reserved memory ranges")
            }
        }
    }
}

fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    let b = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some((u64::from(be32(bytes, offset)?) << 32) | u64::from(be32(bytes, offset + 4)?))
}

/// The blob's `totalsize`, from at least its first 40 bytes (the header).
///
/// Lets the kernel, holding only a pointer from the boot loader, learn how
/// much memory to put in a slice. `None` if the magic is wrong, the header
/// is cut short, or the size is below the header size or above
/// [`MAX_DTB_SIZE`].
pub fn total_size(header: &[u8]) -> Option<usize> {
    if header.len() < HEADER_LEN || be32(header, 0)? != FDT_MAGIC {
        return None;
    }
    let size = usize::try_from(be32(header, 4)?).ok()?;
    (HEADER_LEN..=MAX_DTB_SIZE).contains(&size).then_some(size)
}

/// Header fields needed after validation.
struct Header {
    total: usize,
    rsvmap: usize,
}

/// Checks every header field the parsers rely on, so that later slicing
/// (ours and the `fdt` crate's) stays in bounds.
fn check_header(dtb: &[u8]) -> Result<Header, DtError> {
    if dtb.len() < HEADER_LEN {
        return Err(DtError::Truncated);
    }
    let field = |i: usize| be32(dtb, 4 * i).map(|v| v as usize).unwrap_or(0);
    if field(0) as u32 != FDT_MAGIC {
        return Err(DtError::BadMagic);
    }
    let total = field(1);
    if total > MAX_DTB_SIZE {
        return Err(DtError::TooLarge);
    }
    if total < HEADER_LEN {
        return Err(DtError::BadHeader("totalsize"));
    }
    if total > dtb.len() {
        return Err(DtError::Truncated);
    }
    let (off_struct, off_strings, off_rsvmap) = (field(2), field(3), field(4));
    let (version, last_comp) = (field(5), field(6));
    let (size_strings, size_struct) = (field(8), field(9));
    // Version 17 is the current format; 16 lacks size_dt_struct, which the
    // `fdt` crate needs.
    if version < 17 || last_comp > 17 {
        return Err(DtError::BadHeader("version"));
    }
    // Sizes are bounded by MAX_DTB_SIZE, so these sums cannot overflow.
    if off_struct % 4 != 0
        || size_struct % 4 != 0
        || size_struct < 8
        || off_struct < HEADER_LEN
        || off_struct + size_struct > total
    {
        return Err(DtError::BadHeader("structure block"));
    }
    if off_strings + size_strings > total {
        return Err(DtError::BadHeader("strings block"));
    }
    if off_rsvmap % 8 != 0 || off_rsvmap < HEADER_LEN || off_rsvmap >= total {
        return Err(DtError::BadHeader("memory reservation block"));
    }
    // The walker expects BEGIN_NODE first (a leading NOP would make it index
    // before the block start) and END last.
    if be32(dtb, off_struct) != Some(FDT_BEGIN_NODE)
        || be32(dtb, off_struct + size_struct - 4) != Some(FDT_END)
    {
        return Err(DtError::Malformed);
    }
    Ok(Header {
        total,
        rsvmap: off_rsvmap,
    })
}

/// Up to the first NUL, as UTF-8.
fn prop_str(value: &[u8]) -> Option<&str> {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    core::str::from_utf8(&value[..end]).ok()
}

/// The NUL-separated strings of a string-list property.
fn str_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == 0).filter(|s| !s.is_empty())
}

fn has_compatible(value: Option<&[u8]>, wanted: &[&str]) -> bool {
    value.is_some_and(|v| str_list(v).any(|c| wanted.iter().any(|w| w.as_bytes() == c)))
}

fn prop_u32(value: &[u8]) -> Option<u32> {
    if value.len() == 4 {
        be32(value, 0)
    } else {
        None
    }
}

/// Reads a `cells`-cell number (0..=2 cells) from the front of `bytes`,
/// returning it and the rest.
fn take_cells(bytes: &[u8], cells: u32) -> Option<(u64, &[u8])> {
    let len = 4 * cells as usize;
    let value = match cells {
        0 => 0,
        1 => u64::from(be32(bytes, 0)?),
        2 => be64(bytes, 0)?,
        _ => return None,
    };
    Some((value, bytes.get(len..)?))
}

/// Entries of a `reg` property: (address, size) pairs.
fn reg_entries(reg: &[u8], addr_cells: u32, size_cells: u32) -> impl Iterator<Item = (u64, u64)> {
    let mut rest = reg;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (addr, r) = take_cells(rest, addr_cells)?;
        let (size, r) = take_cells(r, size_cells)?;
        rest = r;
        Some((addr, size))
    })
}

/// A bus's `ranges` property.
#[derive(Copy, Clone, Debug)]
enum Ranges<'a> {
    /// No `ranges`: children are not reachable from the parent bus.
    Absent,
    /// Empty `ranges`: identity mapping.
    Identity,
    /// `(child-addr, parent-addr, length)` triples.
    Map(&'a [u8]),
}

/// What is remembered about each ancestor of the node being visited.
#[derive(Copy, Clone, Debug)]
struct Level<'a> {
    /// Node name without unit address, and the unit address.
    name: &'a str,
    unit: Option<&'a str>,
    addr_cells: u32,
    size_cells: u32,
    ranges: Ranges<'a>,
    interrupt_parent: Option<u32>,
}

impl Level<'_> {
    const ROOT_DEFAULT: Level<'static> = Level {
        name: "",
        unit: None,
        addr_cells: 2,
        size_cells: 1,
        ranges: Ranges::Identity,
        interrupt_parent: None,
    };
}

/// Maps `addr` through one bus's `ranges` triples.
fn map_through_ranges(
    ranges: &[u8],
    addr: u64,
    child_cells: u32,
    parent_cells: u32,
    size_cells: u32,
) -> Option<u64> {
    let mut rest = ranges;
    while !rest.is_empty() {
        let (child, r) = take_cells(rest, child_cells)?;
        let (parent, r) = take_cells(r, parent_cells)?;
        let (len, r) = take_cells(r, size_cells)?;
        rest = r;
        if addr >= child && addr - child < len {
            return parent.checked_add(addr - child);
        }
    }
    None
}

/// Translates an address from the `reg` of the node at `stack[depth]` into a
/// CPU physical address, through the `ranges` of each ancestor bus below the
/// root. `None` if some bus does not map it.
fn translate(stack: &[Level<'_>], depth: usize, mut addr: u64) -> Option<u64> {
    let mut bus = depth.checked_sub(1)?;
    while bus > 0 {
        let this = stack.get(bus)?;
        let parent = stack.get(bus - 1)?;
        match this.ranges {
            Ranges::Absent => return None,
            Ranges::Identity => {}
            Ranges::Map(map) => {
                addr = map_through_ranges(
                    map,
                    addr,
                    this.addr_cells,
                    parent.addr_cells,
                    this.size_cells,
                )?;
            }
        }
        bus -= 1;
    }
    Some(addr)
}

/// Whether the node whose ancestors-and-self are `names[1..=depth]` has path
/// `path` (components may omit the unit address).
fn path_matches(path: &str, names: &[Level<'_>], depth: usize) -> bool {
    let Some(path) = path.strip_prefix('/') else {
        return false;
    };
    let mut components = path.split('/').filter(|c| !c.is_empty());
    for level in names.iter().take(depth + 1).skip(1) {
        let Some(c) = components.next() else {
            return false;
        };
        let (base, unit) = match c.split_once('@') {
            Some((base, unit)) => (base, Some(unit)),
            None => (c, None),
        };
        if base != level.name || (unit.is_some() && unit != level.unit) {
            return false;
        }
    }
    components.next().is_none()
}

/// The properties of one node that the parser looks at.
#[derive(Default)]
struct Props<'a> {
    compatible: Option<&'a [u8]>,
    reg: Option<&'a [u8]>,
    ranges: Option<&'a [u8]>,
    address_cells: Option<u32>,
    size_cells: Option<u32>,
    device_type: Option<&'a [u8]>,
    status: Option<&'a [u8]>,
    interrupts: Option<&'a [u8]>,
    interrupt_parent: Option<u32>,
    interrupt_cells: Option<u32>,
    phandle: Option<u32>,
    method: Option<&'a [u8]>,
    model: Option<&'a [u8]>,
    bootargs: Option<&'a [u8]>,
    stdout_path: Option<&'a [u8]>,
    enable_method: Option<&'a [u8]>,
    release_addr: Option<&'a [u8]>,
}

type FdtNode<'a> = Node<'a, (UnalignedParser<'a>, NoPanic)>;

fn props<'a>(node: &FdtNode<'a>) -> Result<Props<'a>, DtError> {
    let mut p = Props::default();
    for prop in node.properties().map_err(|_| DtError::Malformed)?.iter() {
        let prop = prop.map_err(|_| DtError::Malformed)?;
        let v = prop.value;
        match prop.name {
            "compatible" => p.compatible = Some(v),
            "reg" => p.reg = Some(v),
            "ranges" => p.ranges = Some(v),
            "#address-cells" => p.address_cells = prop_u32(v),
            "#size-cells" => p.size_cells = prop_u32(v),
            "device_type" => p.device_type = Some(v),
            "status" => p.status = Some(v),
            "interrupts" => p.interrupts = Some(v),
            "interrupt-parent" => p.interrupt_parent = prop_u32(v),
            "#interrupt-cells" => p.interrupt_cells = prop_u32(v),
            "phandle" => p.phandle = prop_u32(v),
            "method" => p.method = Some(v),
            "model" => p.model = Some(v),
            "bootargs" => p.bootargs = Some(v),
            "stdout-path" => p.stdout_path = Some(v),
            "enable-method" => p.enable_method = Some(v),
            "cpu-release-addr" => p.release_addr = Some(v),
            _ => {}
        }
    }
    Ok(p)
}

fn is_enabled(status: Option<&[u8]>) -> bool {
    status
        .and_then(prop_str)
        .is_none_or(|s| s == "okay" || s == "ok")
}

/// The path `stdout-path` refers to: options after ':' dropped, an alias
/// resolved through `/aliases`.
fn stdout_target<'a>(
    fdt: &Fdt<'a, (UnalignedParser<'a>, NoPanic)>,
    stdout: &'a str,
) -> Result<Option<&'a str>, DtError> {
    let path = stdout.split(':').next().unwrap_or(stdout);
    if path.starts_with('/') {
        return Ok(Some(path));
    }
    let Some(aliases) = fdt.find_node("/aliases").map_err(|_| DtError::Malformed)? else {
        return Ok(None);
    };
    let alias = aliases.raw_property(path).map_err(|_| DtError::Malformed)?;
    Ok(alias.and_then(|p| prop_str(p.value)))
}

/// Walks the `/memreserve/` block.
fn memreserve(
    dtb: &[u8],
    header: &Header,
    out: &mut heapless::Vec<MemRange, MAX_RANGES>,
) -> Result<(), DtError> {
    let mut off = header.rsvmap;
    loop {
        if off + 16 > header.total {
            return Err(DtError::BadHeader("memory reservation block"));
        }
        let base = be64(dtb, off).ok_or(DtError::Truncated)?;
        let size = be64(dtb, off + 8).ok_or(DtError::Truncated)?;
        if base == 0 && size == 0 {
            return Ok(());
        }
        if size != 0 {
            out.push(MemRange { base, size })
                .map_err(|_| DtError::TooManyReserved)?;
        }
        off += 16;
    }
}

/// Extracts [`DtInfo`] from a device tree blob. Never panics; anything
/// malformed is an error. `dtb` may be longer than the blob's `totalsize`.
pub fn parse(dtb: &[u8]) -> Result<DtInfo<'_>, DtError> {
    let header = check_header(dtb)?;
    let dtb = &dtb[..header.total];

    let mut info = DtInfo {
        model: None,
        memory: heapless::Vec::new(),
        reserved: heapless::Vec::new(),
        gic: None,
        uart: None,
        psci: None,
        bootargs: None,
        timer_irq: None,
        cpus: heapless::Vec::new(),
    };
    memreserve(dtb, &header, &mut info.reserved)?;

    let fdt = Fdt::new_unaligned_fallible(dtb).map_err(|_| DtError::Malformed)?;
    let root = fdt.root().map_err(|_| DtError::Malformed)?;
    let root_props = props(&root.as_node())?;
    info.model = root_props.model.and_then(prop_str);

    let mut stdout_path = None;
    if let Some(chosen) = fdt.find_node("/chosen").map_err(|_| DtError::Malformed)? {
        let chosen = props(&chosen)?;
        info.bootargs = chosen.bootargs.and_then(prop_str);
        if let Some(stdout) = chosen.stdout_path.and_then(prop_str) {
            stdout_path = stdout_target(&fdt, stdout)?;
        }
    }

    let mut stack = [Level::ROOT_DEFAULT; MAX_DEPTH];
    stack[0] = Level {
        name: "",
        unit: None,
        addr_cells: root_props.address_cells.unwrap_or(2),
        size_cells: root_props.size_cells.unwrap_or(1),
        ranges: Ranges::Identity,
        interrupt_parent: root_props.interrupt_parent,
    };

    let mut first_uart = None;
    let mut gic_phandle = None;
    let mut gic_interrupt_cells = None;
    let mut timer: Option<(&[u8], Option<u32>)> = None;

    for item in fdt.all_nodes().map_err(|_| DtError::Malformed)? {
        let (depth, node) = item.map_err(|_| DtError::Malformed)?;
        if depth == 0 || depth >= MAX_DEPTH {
            return Err(DtError::Malformed);
        }
        let name = node.name().map_err(|_| DtError::Malformed)?;
        let p = props(&node)?;
        let parent = stack[depth - 1];
        stack[depth] = Level {
            name: name.name,
            unit: name.unit_address,
            addr_cells: p.address_cells.unwrap_or(2),
            size_cells: p.size_cells.unwrap_or(1),
            ranges: match p.ranges {
                None => Ranges::Absent,
                Some([]) => Ranges::Identity,
                Some(map) => Ranges::Map(map),
            },
            interrupt_parent: p.interrupt_parent.or(parent.interrupt_parent),
        };
        // This node's `reg` entries as (CPU address, size); the address is
        // `None` where some enclosing bus does not map it.
        let regs = || {
            p.reg
                .into_iter()
                .flat_map(|r| reg_entries(r, parent.addr_cells, parent.size_cells))
                .map(|(a, s)| (translate(&stack, depth, a), s))
        };

        let is_memory = p.device_type.and_then(prop_str) == Some("memory")
            || (depth == 1 && name.name == "memory" && p.device_type.is_none());
        if is_memory && is_enabled(p.status) {
            for (base, size) in regs() {
                if let (Some(base), true) = (base, size != 0) {
                    // Dropping RAM beyond the limit is safe.
                    let _ = info.memory.push(MemRange { base, size });
                }
            }
        }

        if depth == 2 && stack[1].name == "reserved-memory" {
            for (base, size) in regs() {
                if let (Some(base), true) = (base, size != 0) {
                    info.reserved
                        .push(MemRange { base, size })
                        .map_err(|_| DtError::TooManyReserved)?;
                }
            }
        }

        let compatible = p.compatible;
        if info.gic.is_none() {
            let v2 = has_compatible(
                compatible,
                &[
                    "arm,gic-400",
                    "arm,cortex-a15-gic",
                    "arm,gic-v2",
                    "arm,cortex-a7-gic",
                ],
            );
            let v3 = has_compatible(compatible, &["arm,gic-v3"]);
            if v2 || v3 {
                let mut it = regs();
                if let (Some((Some(a), _)), Some((Some(b), _))) = (it.next(), it.next()) {
                    info.gic = Some(if v3 {
                        GicInfo::V3 { gicd: a, gicr: b }
                    } else {
                        GicInfo::V2 { gicd: a, gicc: b }
                    });
                    gic_phandle = p.phandle;
                    gic_interrupt_cells = p.interrupt_cells;
                }
            }
        }

        if has_compatible(compatible, &["arm,pl011"]) {
            let base = regs().next().and_then(|(a, _)| a);
            if let Some(base) = base {
                if stdout_path.is_some_and(|path| path_matches(path, &stack, depth)) {
                    info.uart = Some(base);
                } else if first_uart.is_none() && is_enabled(p.status) {
                    first_uart = Some(base);
                }
            }
        }

        if has_compatible(compatible, &["arm,armv8-timer", "arm,armv7-timer"])
            && let Some(irqs) = p.interrupts
        {
            timer = Some((irqs, stack[depth].interrupt_parent));
        }

        let is_cpu = depth == 2
            && stack[1].name == "cpus"
            && p.device_type.and_then(prop_str) == Some("cpu");
        if is_cpu
            && is_enabled(p.status)
            && let Some((mpidr, _)) = p
                .reg
                .and_then(|r| reg_entries(r, parent.addr_cells, 0).next())
        {
            let release = p.release_addr.and_then(|v| match v.len() {
                4 => be32(v, 0).map(u64::from),
                8 => be64(v, 0),
                _ => None,
            });
            let enable = match (p.enable_method.and_then(prop_str), release) {
                (Some("psci"), _) => EnableMethod::Psci,
                (Some("spin-table"), Some(at)) => EnableMethod::SpinTable(at),
                _ => EnableMethod::Other,
            };
            // CPUs beyond the limit stay where the firmware left them.
            let _ = info.cpus.push(Cpu { mpidr, enable });
        }

        let is_psci = has_compatible(compatible, &["arm,psci", "arm,psci-0.2", "arm,psci-1.0"])
            || (depth == 1 && name.name == "psci");
        if is_psci && info.psci.is_none() {
            info.psci = match p.method.and_then(prop_str) {
                Some("hvc") => Some(PsciConduit::Hvc),
                Some("smc") => Some(PsciConduit::Smc),
                _ => None,
            };
        }
    }

    if info.uart.is_none() {
        info.uart = first_uart;
    }
    if let Some((irqs, parent)) = timer {
        // The timer's interrupts are in the GIC's format (3 cells: type,
        // number, flags) unless its interrupt parent is something else.
        let parent_is_gic = parent.is_none() || gic_phandle.is_none() || parent == gic_phandle;
        if parent_is_gic {
            info.timer_irq = timer_intid(irqs, gic_interrupt_cells.unwrap_or(3));
        }
    }
    Ok(info)
}

/// INTID of the third entry (EL1 virtual timer) of a GIC-format
/// `interrupts` property.
fn timer_intid(irqs: &[u8], cells: u32) -> Option<u32> {
    if cells < 2 {
        return None;
    }
    let entry = 2 * cells as usize * 4;
    let kind = be32(irqs, entry)?;
    let number = be32(irqs, entry + 4)?;
    match kind {
        1 if number < 16 => Some(16 + number),
        0 if number < 988 => Some(32 + number),
        _ => None,
    }
}
