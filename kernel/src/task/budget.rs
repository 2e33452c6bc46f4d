//! Budgets: what a process and everything it started may hold together.
//!
//! Each process has an account in the slot of its process record. An
//! account counts what its process *and its descendants* use, of five
//! kinds, against the limits of the process's class (the policy's
//! `quota`, or its default), which its creator may narrow before it starts
//! (`SetBudget`); the first process's are the machine's. A charge walks from the process up to the first process,
//! checks every account on the way and only then adds to each: so a
//! child's budget is carved from its creator's (whatever it uses, its
//! creator has used too), and a process tree never takes more than its
//! root's class allows, however it is shaped.
//!
//! A process's record (and so its account) stays until its last
//! descendant has gone, so the walk never meets a freed slot, and ended
//! ancestors still count: a process cannot shed its budget by letting
//! its creator end. A process counts as one of its ancestors' `processes`
//! from its creation until its record is freed.
//!
//! The accounts are fixed tables indexed by process slot: charging never
//! allocates. The big kernel lock serialises charges (the atomics only
//! make the tables shareable statics).

use core::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};

use kos_abi::Rc;

use super::thread::Pid;
use super::{MAX_HANDLES_TOTAL, MAX_PROCESSES, MAX_THREADS};

/// What an account counts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Descendants whose records exist (alive, or ended and still named).
    Processes = 0,
    /// Live threads.
    Threads,
    /// Handles held.
    Handles,
    /// Frames (4 KiB) mapped, page tables and MDL buffers included.
    Frames,
    /// Kernel heap bytes (thread state, ELF blobs, objects).
    Memory,
}

/// As many as `kos_abi::task::Budget` has fields, in its order.
pub const KINDS: usize = 5;

/// A process's account: its slot in the process table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Slot(u16);

impl Slot {
    /// The account of process `pid` (the process table holds at most
    /// [`MAX_PROCESSES`], so its index is a slot).
    pub fn of(pid: Pid) -> Slot {
        Slot(pid.index as u16)
    }
}

const NO_PARENT: u16 = u16::MAX;

struct Account {
    parent: AtomicU16,
    limit: [AtomicU64; KINDS],
    used: [AtomicU64; KINDS],
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Account = Account {
    parent: AtomicU16::new(NO_PARENT),
    limit: [const { AtomicU64::new(0) }; KINDS],
    used: [const { AtomicU64::new(0) }; KINDS],
};

static ACCOUNTS: [Account; MAX_PROCESSES] = [EMPTY; MAX_PROCESSES];

/// The limits of a class's quota, by kind.
pub fn limits(q: &policy_table::Quota) -> [u64; KINDS] {
    [
        u64::from(q.processes),
        u64::from(q.threads),
        u64::from(q.handles),
        u64::from(q.frames),
        q.memory,
    ]
}

/// The machine's whole budget: the kernel's fixed pools, the frames it
/// manages and its heap. The first process's account gets it (within its
/// class's own quota, if the policy gives one), so every process's budget
/// is carved from what the machine has.
pub fn machine() -> [u64; KINDS] {
    [
        MAX_PROCESSES as u64,
        MAX_THREADS as u64,
        MAX_HANDLES_TOTAL as u64,
        crate::memory::frames::counts().1 as u64,
        crate::memory::heap::usage().1 as u64,
    ]
}

/// Each limit of `a` within `b`'s.
pub fn within(a: [u64; KINDS], b: [u64; KINDS]) -> [u64; KINDS] {
    core::array::from_fn(|i| a[i].min(b[i]))
}

/// Open `slot`'s account, empty, under `parent`'s, with `limit`.
pub fn open(slot: Slot, parent: Option<Slot>, limit: [u64; KINDS]) {
    let Some(a) = ACCOUNTS.get(slot.0 as usize) else {
        return;
    };
    a.parent.store(parent.map_or(NO_PARENT, |p| p.0), Relaxed);
    for ((l, u), want) in a.limit.iter().zip(&a.used).zip(limit) {
        l.store(want, Relaxed);
        u.store(0, Relaxed);
    }
}

/// The accounts from `slot` up to the first process's.
fn chain(slot: Slot) -> impl Iterator<Item = &'static Account> {
    let mut next = slot.0;
    // A chain is at most one account per process slot.
    (0..MAX_PROCESSES).map_while(move |_| {
        let a = ACCOUNTS.get(next as usize)?;
        next = a.parent.load(Relaxed);
        Some(a)
    })
}

/// Whether `n` more of `kind` fit in `slot`'s account and every account
/// above it.
pub fn fits(slot: Slot, kind: Kind, n: u64) -> bool {
    let k = kind as usize;
    chain(slot).all(|a| {
        a.used[k]
            .load(Relaxed)
            .checked_add(n)
            .is_some_and(|t| t <= a.limit[k].load(Relaxed))
    })
}

/// Count `n` more of `kind` against `slot` and every account above it;
/// `rcQuotaExceeded` (and nothing counted) if any would go over its limit.
pub fn charge(slot: Slot, kind: Kind, n: u64) -> Result<(), Rc> {
    if !fits(slot, kind, n) {
        return Err(Rc::QuotaExceeded);
    }
    for a in chain(slot) {
        a.used[kind as usize].fetch_add(n, Relaxed);
    }
    Ok(())
}

/// `n` of `kind` counted by [`charge`] went back.
pub fn uncharge(slot: Slot, kind: Kind, n: u64) {
    for a in chain(slot) {
        let u = &a.used[kind as usize];
        u.store(u.load(Relaxed).saturating_sub(n), Relaxed);
    }
}

/// Narrow `slot`'s limits to `want`: `rcNoCapability` if any is above
/// its limit (a budget never grows), `rcQuotaExceeded` if any is below
/// what the account already holds; nothing changes on an error.
pub fn narrow(slot: Slot, want: [u64; KINDS]) -> Result<(), Rc> {
    let a = ACCOUNTS.get(slot.0 as usize).ok_or(Rc::InvalidArgument)?;
    for ((l, u), w) in a.limit.iter().zip(&a.used).zip(want) {
        if w > l.load(Relaxed) {
            return Err(Rc::NoCapability);
        }
        if w < u.load(Relaxed) {
            return Err(Rc::QuotaExceeded);
        }
    }
    for (l, w) in a.limit.iter().zip(want) {
        l.store(w, Relaxed);
    }
    Ok(())
}

/// `slot`'s limits and what its process and descendants hold.
pub fn account(slot: Slot) -> ([u64; KINDS], [u64; KINDS]) {
    let Some(a) = ACCOUNTS.get(slot.0 as usize) else {
        return ([0; KINDS], [0; KINDS]);
    };
    (
        core::array::from_fn(|i| a.limit[i].load(Relaxed)),
        core::array::from_fn(|i| a.used[i].load(Relaxed)),
    )
}

/// What `slot`'s process and its descendants hold of `kind`.
pub fn used(slot: Slot, kind: Kind) -> u64 {
    ACCOUNTS
        .get(slot.0 as usize)
        .map_or(0, |a| a.used[kind as usize].load(Relaxed))
}
