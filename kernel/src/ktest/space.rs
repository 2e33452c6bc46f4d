//! User address spaces as the kernel sees them: checked copies in and out,
//! quotas, stacks with guards, and every frame back after destruction.

use kernel_core::paging::{Access, Attrs, Exec, MemType};
use kos_abi::Rc;
use kos_abi::vm::{PAGE_SIZE, USER_END, USER_MIN};

use super::{TestResult, check};
use crate::memory::frames;
use crate::task::space::{AddressSpace, GUARD_PAGES, RegionKind};

const BASE: u64 = 0x40_0000;

fn space(quota: usize) -> Result<AddressSpace, alloc::string::String> {
    AddressSpace::new(quota, None).map_err(|e| alloc::format!("new space: {e}"))
}

/// Bytes written with copy_out come back with copy_in, across a page
/// boundary; the initial contents come from the fill function.
pub fn copy_roundtrip() -> TestResult {
    let mut s = space(64)?;
    s.map_new(
        BASE,
        BASE + 2 * PAGE_SIZE,
        RegionKind::Heap,
        Attrs::USER_DATA,
        |va, page| {
            // Frames come with a former owner's bytes: dirty all of it,
            // say only byte 0 was written, and the rest must read as 0.
            page.fill(0x5a);
            page[0] = (va >> 12) as u8;
            0..1
        },
    )
    .map_err(|e| alloc::format!("map: {e}"))?;
    let mut b = [0u8; 1];
    s.copy_in(BASE + PAGE_SIZE, &mut b)
        .map_err(|e| alloc::format!("{e}"))?;
    check!(
        b[0] == ((BASE + PAGE_SIZE) >> 12) as u8,
        "fill not applied: {}",
        b[0]
    );
    let mut rest = [0xffu8; PAGE_SIZE as usize - 1];
    s.copy_in(BASE + PAGE_SIZE + 1, &mut rest)
        .map_err(|e| alloc::format!("{e}"))?;
    check!(
        rest.iter().all(|&x| x == 0),
        "bytes the fill did not claim were not zeroed"
    );
    let data: [u8; 64] = core::array::from_fn(|i| i as u8 ^ 0x5A);
    let at = BASE + PAGE_SIZE - 20;
    s.copy_out(at, &data)
        .map_err(|e| alloc::format!("copy_out: {e}"))?;
    let mut back = [0u8; 64];
    s.copy_in(at, &mut back)
        .map_err(|e| alloc::format!("copy_in: {e}"))?;
    check!(back == data, "copied bytes differ");
    s.destroy(|_| {});
    Ok(())
}

/// Bad user addresses are rcBadAddress, and a refused copy_out writes nothing.
pub fn bad_addresses_refused() -> TestResult {
    let mut s = space(64)?;
    s.map_new(
        BASE,
        BASE + PAGE_SIZE,
        RegionKind::Image,
        Attrs::USER_RODATA,
        |_, p| {
            p.fill(0xAB);
            0..p.len()
        },
    )
    .map_err(|e| alloc::format!("map: {e}"))?;
    s.map_new(
        BASE + PAGE_SIZE,
        BASE + 2 * PAGE_SIZE,
        RegionKind::Heap,
        Attrs::USER_DATA,
        |_, _| 0..0,
    )
    .map_err(|e| alloc::format!("map: {e}"))?;
    let mut b = [0u8; 8];
    let cases: [(u64, &str); 6] = [
        (0, "null"),
        (USER_MIN - 8, "below USER_MIN"),
        (BASE + 2 * PAGE_SIZE, "unmapped"),
        (USER_END - 4, "straddling USER_END"),
        (0xFFFF_0000_4000_0000, "kernel address"),
        (u64::MAX - 3, "wrapping"),
    ];
    for (va, what) in cases {
        check!(
            s.copy_in(va, &mut b) == Err(Rc::BadAddress),
            "copy_in from {what} allowed"
        );
        check!(
            s.copy_out(va, &b) == Err(Rc::BadAddress),
            "copy_out to {what} allowed"
        );
    }
    // Writing read-only memory is refused; a copy that runs from a writable
    // page into an unmapped one writes nothing at all.
    check!(
        s.copy_out(BASE, &b) == Err(Rc::BadAddress),
        "copy_out to read-only allowed"
    );
    let end = BASE + 2 * PAGE_SIZE - 4;
    check!(
        s.copy_out(end, &[1u8; 8]) == Err(Rc::BadAddress),
        "copy_out past the end allowed"
    );
    let mut tail = [0u8; 4];
    s.copy_in(end, &mut tail)
        .map_err(|e| alloc::format!("{e}"))?;
    check!(tail == [0; 4], "a refused copy_out wrote {tail:?}");
    s.copy_in(BASE, &mut b)
        .map_err(|e| alloc::format!("read-only read: {e}"))?;
    check!(b == [0xAB; 8], "read-only page contents {b:?}");
    s.destroy(|_| {});
    Ok(())
}

/// Mappings beyond the quota, over an existing region, outside user space or
/// writable and executable are refused, and leave the space as it was.
pub fn refusals_change_nothing() -> TestResult {
    let (free0, _) = frames::counts();
    let mut s = space(8)?;
    let used = |_: &AddressSpace| frames::counts().0;
    let before = used(&s);
    let r = s.map_new(
        BASE,
        BASE + 16 * PAGE_SIZE,
        RegionKind::Heap,
        Attrs::USER_DATA,
        |_, _| 0..0,
    );
    check!(r == Err(Rc::QuotaExceeded), "over quota: {r:?}");
    check!(used(&s) == before, "frames leaked by a refused map");
    s.map_new(
        BASE,
        BASE + PAGE_SIZE,
        RegionKind::Heap,
        Attrs::USER_DATA,
        |_, _| 0..0,
    )
    .map_err(|e| alloc::format!("map: {e}"))?;
    let r = s.map_new(
        BASE,
        BASE + PAGE_SIZE,
        RegionKind::Heap,
        Attrs::USER_DATA,
        |_, _| 0..0,
    );
    check!(r == Err(Rc::AlreadyExists), "overlap: {r:?}");
    let r = s.map_new(0, PAGE_SIZE, RegionKind::Heap, Attrs::USER_DATA, |_, _| {
        0..0
    });
    check!(r == Err(Rc::BadAddress), "page 0: {r:?}");
    let wx = Attrs::new(MemType::Normal, Access::UserRw, Exec::User, false);
    let r = s.map_new(
        BASE + PAGE_SIZE,
        BASE + 2 * PAGE_SIZE,
        RegionKind::Heap,
        wx,
        |_, _| 0..0,
    );
    check!(r == Err(Rc::InvalidArgument), "W+X: {r:?}");
    s.destroy(|_| {});
    check!(frames::counts().0 == free0, "frames not all returned");
    Ok(())
}

/// A stack has an unmapped guard below it that faults are attributed to;
/// allocate/free round trip; destroy returns every frame and table.
pub fn stacks_heap_and_destroy() -> TestResult {
    let (free0, _) = frames::counts();
    let mut s = space(256)?;
    let top = s
        .new_stack(16 * 1024)
        .map_err(|e| alloc::format!("stack: {e}"))?;
    check!(top % 16 == 0, "stack top {top:#x} misaligned");
    let bottom = top - 16 * 1024;
    let mut b = [0u8; 8];
    s.copy_in(bottom, &mut b)
        .map_err(|e| alloc::format!("stack bottom: {e}"))?;
    let guard = bottom - 8;
    check!(
        s.copy_in(guard, &mut b) == Err(Rc::BadAddress),
        "guard page readable"
    );
    check!(
        s.region_of(guard).map(|r| r.kind) == Some(RegionKind::Guard),
        "no guard region below the stack"
    );
    check!(
        s.region_of(bottom - GUARD_PAGES * PAGE_SIZE - 1)
            .map(|r| r.kind)
            != Some(RegionKind::Guard),
        "guard larger than {GUARD_PAGES} pages"
    );
    let a = s
        .allocate(3 * PAGE_SIZE)
        .map_err(|e| alloc::format!("allocate: {e}"))?;
    s.copy_out(a + 3 * PAGE_SIZE - 8, &b)
        .map_err(|e| alloc::format!("{e}"))?;
    check!(
        s.free(a, PAGE_SIZE) == Err(Rc::InvalidArgument),
        "partial free accepted"
    );
    s.free(a, 3 * PAGE_SIZE)
        .map_err(|e| alloc::format!("free: {e}"))?;
    check!(
        s.copy_in(a, &mut b) == Err(Rc::BadAddress),
        "freed memory still mapped"
    );
    s.destroy(|_| {});
    check!(
        frames::counts().0 == free0,
        "frames not all returned after destroy"
    );
    Ok(())
}

/// A buried space is taken apart a page per step: its own pages and
/// tables go back, frames it shares with an MDL are left to their owner,
/// and `released` names each MDL it mapped once, at burial.
pub fn buried_space_torn_down_in_steps() -> TestResult {
    let (free0, _) = frames::counts();
    let shared: alloc::vec::Vec<_> = (0..3).filter_map(|_| frames::alloc()).collect();
    check!(shared.len() == 3, "no frames for the MDL");
    let mut s = space(256)?;
    let a = s
        .allocate(5 * PAGE_SIZE)
        .map_err(|e| alloc::format!("allocate: {e}"))?;
    s.copy_out(a, &[1]).map_err(|e| alloc::format!("{e}"))?;
    let mdl = kernel_core::slab::Id {
        index: 7,
        generation: 3,
    };
    s.map_shared(&shared, true, mdl)
        .map_err(|e| alloc::format!("map_shared: {e}"))?;
    s.new_stack(4 * PAGE_SIZE)
        .map_err(|e| alloc::format!("stack: {e}"))?;
    let mut released = alloc::vec::Vec::new();
    s.bury(|m| released.push(m));
    check!(released == [mdl], "released {released:?}, not the MDL once");
    let mut steps = 0;
    while !s.teardown_step() {
        steps += 1;
        check!(steps <= 5 + 3 + 4, "more steps than pages");
    }
    check!(steps == 5 + 3 + 4, "{steps} steps for 12 pages");
    s.destroy(|_| {});
    for pa in shared {
        check!(
            frames::free(pa).is_ok(),
            "an MDL frame was freed with the space"
        );
    }
    check!(
        frames::counts().0 == free0,
        "frames not all returned after the teardown"
    );
    Ok(())
}

/// Freed addresses are found again: a process that allocates and frees,
/// or starts and ends threads, for ever never runs out of addresses; an
/// allocation that fits in a hole between others goes there, a free page
/// apart from each.
pub fn freed_addresses_are_reused() -> TestResult {
    let mut s = space(256)?;
    let err = |what: &str, e: Rc| alloc::format!("{what}: {e}");
    let a = s.allocate(PAGE_SIZE).map_err(|e| err("a", e))?;
    let b = s.allocate(4 * PAGE_SIZE).map_err(|e| err("b", e))?;
    let c = s.allocate(PAGE_SIZE).map_err(|e| err("c", e))?;
    check!(b == a + 2 * PAGE_SIZE, "no guard page between allocations");
    for round in 0..1000 {
        s.free(b, 4 * PAGE_SIZE).map_err(|e| err("free b", e))?;
        let again = s.allocate(4 * PAGE_SIZE).map_err(|e| err("b again", e))?;
        check!(
            again == b,
            "round {round}: freed range not reused: {again:#x} != {b:#x}"
        );
    }
    // A smaller one fits in the hole too, leaving a page on either side.
    s.free(b, 4 * PAGE_SIZE).map_err(|e| err("free b", e))?;
    let small = s.allocate(PAGE_SIZE).map_err(|e| err("small", e))?;
    check!(
        small == b,
        "small allocation at {small:#x}, not in the hole at {b:#x}"
    );
    let next = s.allocate(PAGE_SIZE).map_err(|e| err("next", e))?;
    check!(
        next == b + 2 * PAGE_SIZE,
        "second one at {next:#x}, not beside the first"
    );
    let too_big = s.allocate(3 * PAGE_SIZE).map_err(|e| err("too big", e))?;
    check!(
        too_big > c,
        "an allocation too big for the hole went into it: {too_big:#x}"
    );
    let top = s.new_stack(16 * 1024).map_err(|e| err("stack", e))?;
    for round in 0..1000 {
        s.release(top - 16 * 1024);
        let again = s.new_stack(16 * 1024).map_err(|e| err("stack again", e))?;
        check!(
            again == top,
            "round {round}: stack range not reused: {again:#x} != {top:#x}"
        );
    }
    s.destroy(|_| {});
    Ok(())
}
