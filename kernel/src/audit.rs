//! The security audit: a bounded ring of the monitor's decisions (every
//! denial; grants whose rule asks for it). A process holding the kernel
//! handle's AUDIT right reads it through `kl.core.Audit`; QEMU builds other
//! than the benchmarks also print each denial on the console, with the rule
//! behind it, so that a denial is explained without any set-up.

#![forbid(unsafe_code)]

use kos_abi::msg::audit::{DENIED, GRANTED, NAME_LEN, Record};
use policy_table::{Decision, Policy};

use crate::security::Message;

/// Records kept; older ones are overwritten (readers learn how many they
/// lost).
pub const RING: usize = 64;

struct Ring {
    records: [Record; RING],
    /// Sequence number of the newest record (0: none yet).
    last: u64,
    /// Console lines printed in the current window of ticks, the window's
    /// start, and the denials left unprinted in it.
    printed: u32,
    window: u64,
    unprinted: u64,
}

/// Denials printed per window of [`PRINT_WINDOW`] ticks: a process that
/// provokes refusals in a loop cannot make the console (slow, and written
/// with interrupts masked) its weapon. Every denial is still recorded.
const PRINT_BUDGET: u32 = 16;
const PRINT_WINDOW: u64 = 100;

static AUDIT: spin::Mutex<Ring> = spin::Mutex::new(Ring {
    records: [Record {
        seq: 0,
        src_pid: 0,
        dst_pid: 0,
        endpoint: 0,
        method: 0,
        rule: 0,
        event: 0,
        decision: 0,
        src_class: [0; NAME_LEN],
        dst_class: [0; NAME_LEN],
        rule_at: [0; NAME_LEN],
    }; RING],
    last: 0,
    printed: 0,
    window: 0,
    unprinted: 0,
});

fn name(s: &str) -> [u8; NAME_LEN] {
    let mut out = [0u8; NAME_LEN];
    let b = s.as_bytes();
    // Keep the end of a long rule location (its line and column).
    let from = b.len().saturating_sub(NAME_LEN);
    out[..b.len() - from].copy_from_slice(&b[from..]);
    out
}

/// Record a decision (and print a denial).
#[inline(never)]
pub fn record(m: &Message<'_>, d: &Decision, policy: Option<&Policy<'_>>) {
    let (rule_at, _rule_text) = policy
        .and_then(|p| p.rule_source(d.rule))
        .unwrap_or(("", ""));
    let dst_class = m.target.map_or("kl.core.Core", |t| t.class);
    let mut ring = AUDIT.lock();
    ring.last += 1;
    let seq = ring.last;
    ring.records[(seq % RING as u64) as usize] = Record {
        seq,
        src_pid: m.source.pid,
        dst_pid: m.target.map_or(0, |t| t.pid),
        endpoint: m.endpoint,
        method: m.method,
        rule: d.rule,
        event: m.event as u8,
        decision: if d.granted { GRANTED } else { DENIED },
        src_class: name(m.source.class),
        dst_class: name(dst_class),
        rule_at: name(rule_at),
    };
    #[cfg(not(feature = "kbench"))]
    if !d.granted {
        let now = crate::tick::ticks();
        if now >= ring.window + PRINT_WINDOW {
            let skipped = core::mem::take(&mut ring.unprinted);
            ring.window = now;
            ring.printed = 0;
            if skipped > 0 {
                crate::println!("security: {skipped} more denials recorded, not printed");
            }
        }
        if ring.printed < PRINT_BUDGET {
            ring.printed += 1;
            drop(ring);
            print_denial(m, dst_class, rule_at, _rule_text);
        } else {
            ring.unprinted += 1;
        }
    }
}

#[cfg(not(feature = "kbench"))]
fn print_denial(m: &Message<'_>, dst_class: &str, rule_at: &str, rule_text: &str) {
    let why = Why { rule_at, rule_text };
    crate::println!(
        "security: DENIED {} {} (pid {}) -> {}{}: {why}",
        m.event.name(),
        m.source.class,
        m.source.pid,
        dst_class,
        What(m)
    );
}

/// What a denied message was, as a denial's line says it: formatted in
/// place, since a denial may come when the kernel heap is exhausted.
#[cfg(not(feature = "kbench"))]
struct What<'a, 'm>(&'a Message<'m>);

#[cfg(not(feature = "kbench"))]
impl core::fmt::Display for What<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        if m.event == policy_table::Event::Execute {
            return write!(f, " (path {})", m.path);
        }
        let kernel =
            kos_abi::interfaces::method(m.endpoint, m.method).map(|d| (d.interface, d.name));
        let service = || {
            let s = kos_abi::services::SERVICES
                .iter()
                .find(|s| s.endpoint == m.endpoint)?;
            let d = s.methods.iter().find(|d| d.id == m.method)?;
            Some((s.name, d.name))
        };
        match kernel.or_else(service) {
            Some((interface, method)) => write!(f, " : {interface}.{method}"),
            None => write!(f, " : endpoint {:#x} method {}", m.endpoint, m.method),
        }
    }
}

/// The rule that refused, or that none granted.
#[cfg(not(feature = "kbench"))]
struct Why<'a> {
    rule_at: &'a str,
    rule_text: &'a str,
}

#[cfg(not(feature = "kbench"))]
impl core::fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.rule_at.is_empty() {
            f.write_str("no rule grants it")
        } else {
            write!(f, "{}: `{}`", self.rule_at, self.rule_text)
        }
    }
}

/// Copies the records after `after` (oldest first) into `out`; returns
/// how many, how many after `after` were lost, and the newest's number.
pub fn read(after: u64, out: &mut [Record]) -> (usize, u64, u64) {
    let ring = AUDIT.lock();
    let oldest = ring.last.saturating_sub(RING as u64 - 1).max(1);
    let first = after.saturating_add(1).max(oldest);
    let lost = first - after.saturating_add(1).min(first);
    let mut n = 0;
    let mut seq = first;
    while seq <= ring.last && n < out.len() {
        out[n] = ring.records[(seq % RING as u64) as usize];
        n += 1;
        seq += 1;
    }
    (n, lost, ring.last)
}
