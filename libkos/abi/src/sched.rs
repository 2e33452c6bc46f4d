//! Scheduler classes and priorities, as `SetInitialThreadSchedPolicy` and
//! thread creation take them.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The scheduler class of a thread.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SchedClass {
    /// Real-time, first in first out: runs until it blocks, yields or a
    /// higher-priority thread becomes ready; never time-sliced.
    Fifo = 0,
    /// Real-time round-robin: like FIFO, but threads of equal priority take
    /// turns every `quantum` ticks.
    RoundRobin = 1,
    /// Time-sharing: below every real-time thread; equal priorities take
    /// turns every time slice.
    Normal = 2,
}

impl SchedClass {
    pub const fn from_u32(v: u32) -> Option<SchedClass> {
        match v {
            0 => Some(SchedClass::Fifo),
            1 => Some(SchedClass::RoundRobin),
            2 => Some(SchedClass::Normal),
            _ => None,
        }
    }
}

/// Priorities are `0..=MAX_PRIORITY` within a class; higher runs first.
/// Every real-time priority is above every `Normal` one.
pub const MAX_PRIORITY: u32 = 31;
/// The initial thread's priority when the creator does not choose one.
pub const DEFAULT_PRIORITY: u32 = 16;
/// Time slice of `Normal` threads, and the default round-robin quantum, in
/// scheduler ticks.
pub const DEFAULT_QUANTUM_TICKS: u32 = 2;
/// Scheduler ticks per second.
pub const TICK_HZ: u64 = 100;

/// A scheduling policy: class, priority, class parameters.
#[derive(Copy, Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SchedPolicy {
    /// A [`SchedClass`] value.
    pub class: u32,
    pub priority: u32,
    /// Round-robin quantum in ticks (0 = default); ignored by other classes.
    pub quantum_ticks: u32,
    pub _reserved: u32,
}
/// An ordinary thread: Normal, at the default priority.
impl Default for SchedPolicy {
    fn default() -> Self {
        SchedPolicy {
            class: SchedClass::Normal as u32,
            priority: DEFAULT_PRIORITY,
            quantum_ticks: 0,
            _reserved: 0,
        }
    }
}

crate::fields!(SchedPolicy {
    class: u32 as SchedClass,
    priority: u32,
    quantum_ticks: u32,
    _reserved: u32
});

const _: () = {
    assert!(SchedClass::Fifo as u32 == 0);
    assert!(SchedClass::RoundRobin as u32 == 1);
    assert!(SchedClass::Normal as u32 == 2);
    assert!(core::mem::size_of::<SchedPolicy>() == 16);
};

impl crate::decl::Named for SchedClass {
    const VALUES: &'static [(&'static str, u64)] = &[
        ("Fifo", SchedClass::Fifo as u64),
        ("RoundRobin", SchedClass::RoundRobin as u64),
        ("Normal", SchedClass::Normal as u64),
    ];
    const BITS: bool = false;
}

impl crate::decl::FieldType for SchedPolicy {
    const KIND: crate::decl::FieldKind = crate::decl::FieldKind::Other;
}
