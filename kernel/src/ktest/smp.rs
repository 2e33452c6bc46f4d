//! The other cores: every core the platform lists comes online, on its
//! own GIC CPU interface and timer, and hears an SGI sent to it.

use super::{TestResult, check};
use crate::arch::{cpu, smp, timer};

/// Every listed core came online; each secondary's own timer ticks (its
/// banked timer PPI through its CPU interface) and a wake-up SGI reaches
/// it and no other core.
pub fn every_core_online_with_its_interrupts() -> TestResult {
    let (online, listed) = (smp::online_count(), smp::listed_count());
    check!(
        online == listed && online >= 1,
        "{online} of {listed} listed cores online"
    );
    let me = cpu::core_id();
    let others: alloc::vec::Vec<usize> = (0..bsp_rpi4::board::MAX_CPUS)
        .filter(|&c| c != me && smp::is_online(c))
        .collect();
    check!(
        others.len() + 1 == online as usize,
        "online cores {others:?} besides this one, {online} counted"
    );
    // Ticks: at least three of each core's own in a second of counter time.
    let start: alloc::vec::Vec<u64> = others.iter().map(|&c| smp::ticks(c)).collect();
    let deadline = timer::counter() + timer::frequency();
    while others
        .iter()
        .zip(&start)
        .any(|(&c, &s)| smp::ticks(c) < s + 3)
        && timer::counter() < deadline
    {
        core::hint::spin_loop();
    }
    for (&c, &s) in others.iter().zip(&start) {
        let got = smp::ticks(c) - s;
        check!(got >= 3, "core {c}: {got} ticks of its timer in a second");
    }
    // SGIs: one to each core in turn, heard by that core alone.
    for (i, &c) in others.iter().enumerate() {
        let before: alloc::vec::Vec<u64> = others.iter().map(|&o| smp::wakes(o)).collect();
        smp::wake(c);
        let deadline = timer::counter() + timer::frequency() / 10;
        while smp::wakes(c) == before[i] && timer::counter() < deadline {
            core::hint::spin_loop();
        }
        for (&o, &b) in others.iter().zip(&before) {
            let got = smp::wakes(o) - b;
            let want = u64::from(o == c);
            check!(
                got == want,
                "SGI to core {c}: core {o} took {got}, expected {want}"
            );
        }
    }
    Ok(())
}
