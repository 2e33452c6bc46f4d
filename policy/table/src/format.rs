//! The binary layout of a policy table. Integers are little-endian (both
//! the kernel's aarch64 and the hosts that compile tables are), records
//! are naturally aligned, and a table starts 8-aligned, so that it is read
//! in place with aligned loads (the kernel's target forbids unaligned
//! ones, which would split every load into bytes).
//!
//! A table is a [`Header`] followed by sections, each an array of one record
//! type, each 8-aligned; the header gives their offsets and lengths in bytes.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[cfg(target_endian = "big")]
compile_error!("policy tables are little-endian, read in place");

pub const MAGIC: [u8; 4] = *b"KPOL";
pub const VERSION: u16 = 2;

/// "None" in a 16-bit index.
pub const NONE16: u16 = 0xFFFF;

/// The sections, in header order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Sect {
    /// [`SubjectRec`], indexed by subject.
    Subjects = 0,
    /// [`EndpointRec`], indexed by endpoint id.
    Endpoints,
    /// `U16` row index per (event, source, target).
    Cells,
    /// `U16` slots, `methods` per row: 0, `FAST | rule`, or list index + 1.
    Rows,
    /// `U16`: a list is its length then its rule ids.
    Lists,
    /// [`RuleRec`].
    Rules,
    /// [`CondRec`].
    Conds,
    /// `U64` values of `in` conditions.
    Values,
    /// [`StrRef`]: strings of `in` conditions and state names.
    Strings,
    /// The bytes every [`StrRef`] points into.
    Pool,
    /// [`MachineRec`].
    Machines,
    /// [`QuotaRec`]: the default quota (of subjects without their own),
    /// then the declared ones.
    Quotas,
    /// [`EffectRec`].
    Effects,
}

pub const SECTIONS: usize = 13;

#[derive(Copy, Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Section {
    pub offset: u32,
    pub len: u32,
}

#[derive(Copy, Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Header {
    pub magic: [u8; 4],
    pub version: u16,
    /// Method slots per row: slot 0 is process start, the last is every
    /// undeclared endpoint or method.
    pub methods: u16,
    pub sections: [Section; SECTIONS],
}

/// A string in the pool.
#[derive(Copy, Clone, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct StrRef {
    pub off: u32,
    pub len: u32,
}

#[derive(Copy, Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SubjectRec {
    pub class: StrRef,
    /// Empty for the class itself; else the instance's process name.
    pub instance: StrRef,
    /// Its class's state machine ([`NONE16`]: none) and initial state.
    pub machine: u16,
    /// Its own quota ([`NONE16`]: none, so the default, record 0).
    pub quota: u16,
    pub initial: u8,
    /// Its integrity level (0 the lowest): a process of it gets this, or
    /// its creator's if that is lower.
    pub level: u8,
    pub _pad: [u8; 2],
}

/// Where an endpoint's methods start in a row, and how many it has.
#[derive(Copy, Clone, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct EndpointRec {
    pub base: u16,
    pub count: u16,
}

pub const RULE_DENY: u8 = 1;
pub const RULE_AUDIT: u8 = 2;

#[derive(Copy, Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct RuleRec {
    /// `file:line:column`.
    pub loc: StrRef,
    /// The rule as written.
    pub text: StrRef,
    pub conds_start: u16,
    pub conds_len: u16,
    /// What it does to the target's state when it grants.
    pub effects_start: u16,
    pub effects_len: u16,
    /// [`RULE_DENY`], [`RULE_AUDIT`].
    pub flags: u8,
    pub _pad: [u8; 7],
}

/// Condition kinds.
pub const COND_FIELD_CMP: u8 = 0;
pub const COND_FIELD_IN: u8 = 1;
/// Every bit of `value` is set in the field.
pub const COND_FIELD_HAS: u8 = 2;
/// The start's name (op [`STR_NAME`]) or path ([`STR_PATH`]) is one of
/// `strings[a..a+b]`.
pub const COND_STR_IN: u8 = 3;
pub const COND_TARGET_SELF: u8 = 4;
pub const COND_TARGET_CHILD: u8 = 5;
/// The target's state is a bit of `value`.
pub const COND_STATE_IN: u8 = 6;
/// An integrity level compared: `a`'s level (LEVEL_SOURCE or LEVEL_TARGET)
/// against `b`'s (either, or LEVEL_VALUE: `value`).
pub const COND_LEVEL: u8 = 7;

/// The target's variable `a` compared (signed) with `value`.
pub const COND_VAR_CMP: u8 = 8;
/// The target's set `a` holds the field's value.
pub const COND_SET_HAS: u8 = 9;
/// The target's set `a` holds the field's value or has room for it (the
/// compiler adds it to a rule that adds the value).
pub const COND_SET_ROOM: u8 = 10;

pub const LEVEL_SOURCE: u32 = 0;
pub const LEVEL_TARGET: u32 = 1;
pub const LEVEL_VALUE: u32 = 2;

pub const OP_EQ: u8 = 0;
pub const OP_NE: u8 = 1;
pub const OP_LT: u8 = 2;
pub const OP_LE: u8 = 3;
pub const OP_GT: u8 = 4;
pub const OP_GE: u8 = 5;
pub const STR_NAME: u8 = 0;
pub const STR_PATH: u8 = 1;

pub const COND_NEGATE: u8 = 1;
pub const COND_SIGNED: u8 = 2;

#[derive(Copy, Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct CondRec {
    pub value: u64,
    /// A range of `Values` or `Strings`.
    pub a: u32,
    pub b: u32,
    /// The field's offset in the fixed part.
    pub offset: u16,
    pub kind: u8,
    pub op: u8,
    /// The field's size in bytes (0 for conditions on no field).
    pub size: u8,
    /// [`COND_NEGATE`], [`COND_SIGNED`].
    pub flags: u8,
    pub _pad: [u8; 2],
}

#[derive(Copy, Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MachineRec {
    pub name: StrRef,
    /// Its state names: `Strings[states_start..][..states]` (at most 8).
    pub states_start: u16,
    pub states: u16,
    pub _pad: u32,
}

#[derive(Copy, Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct QuotaRec {
    pub memory: u64,
    pub processes: u32,
    pub threads: u32,
    pub handles: u32,
    pub frames: u32,
    pub priority: u8,
    pub sched: u8,
    pub _pad: [u8; 6],
}

/// Effect kinds.
pub const EFF_MACHINE: u8 = 0;
pub const EFF_VAR_SET: u8 = 1;
pub const EFF_VAR_ADD: u8 = 2;
pub const EFF_SET_ADD: u8 = 3;
pub const EFF_SET_REMOVE: u8 = 4;

/// One change a granting rule makes to the target's state.
#[derive(Copy, Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct EffectRec {
    /// The new machine state, the variable's new value or its increment.
    pub value: u64,
    /// The field a set effect reads.
    pub offset: u16,
    pub kind: u8,
    /// The variable or the set.
    pub index: u8,
    pub size: u8,
    /// `COND_SIGNED` for a signed field.
    pub flags: u8,
    pub _pad: [u8; 2],
}
