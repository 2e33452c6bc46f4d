//! Writing a table: the compiler fills [`Tables`] and calls
//! [`Tables::to_bytes`]; [`Policy::parse`](crate::Policy::parse) reads the
//! result. Rows and rule lists that are the same are stored once.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use zerocopy::IntoBytes;

use crate::format::*;
use crate::{EVENTS, EXECUTE_SLOT, Event, FAST, Quota, Subject};

/// A subject, as the compiler gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectIn {
    pub class: String,
    /// Empty for the class itself.
    pub instance: String,
    /// Its machine and initial state.
    pub machine: Option<(u16, u8)>,
    pub quota: Option<u16>,
    /// Its integrity level (0 the lowest).
    pub level: u8,
}

/// A condition, as the compiler gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CondIn {
    FieldCmp {
        field: FieldAt,
        op: u8,
        value: u64,
    },
    FieldIn {
        field: FieldAt,
        values: Vec<u64>,
    },
    FieldHas {
        field: FieldAt,
        mask: u64,
    },
    /// The start's path (else its name) is one of `strings`.
    StrIn {
        path: bool,
        strings: Vec<String>,
    },
    TargetSelf,
    TargetChild,
    /// The target's state is one of these (bits).
    StateIn(u64),
    /// Integrity levels compared: `lhs` (LEVEL_SOURCE, LEVEL_TARGET)
    /// against `rhs` (either, or LEVEL_VALUE and `value`).
    Level {
        lhs: u32,
        op: u8,
        rhs: u32,
        value: u64,
    },
    /// The target's variable compared with a value.
    VarCmp {
        index: u8,
        op: u8,
        value: i64,
    },
    /// The target's set holds the field's value.
    SetHas {
        index: u8,
        field: FieldAt,
    },
    /// The target's set holds it or has room for it.
    SetRoom {
        index: u8,
        field: FieldAt,
    },
}

/// A change a granting rule makes to the target's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EffectIn {
    Machine(u8),
    VarSet(u8, i64),
    VarAdd(u8, i64),
    SetAdd(u8, FieldAt),
    SetRemove(u8, FieldAt),
}

/// Where a field is in the fixed part.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FieldAt {
    pub offset: u16,
    pub size: u8,
    pub signed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleIn {
    pub deny: bool,
    pub audit: bool,
    pub effects: Vec<EffectIn>,
    /// Each condition, and whether it is negated.
    pub conds: Vec<(CondIn, bool)>,
    pub loc: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineIn {
    pub name: String,
    pub states: Vec<String>,
}

/// Everything a table holds, before layout.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    /// Subject 0 must be the kernel.
    pub subjects: Vec<SubjectIn>,
    /// Declared endpoints and their method counts.
    pub endpoints: BTreeMap<u16, u16>,
    pub rules: Vec<RuleIn>,
    pub machines: Vec<MachineIn>,
    /// Explicit quotas, as subjects' `quota` indexes them.
    pub quotas: Vec<Quota>,
    /// The quota of subjects without one (`None`: [`Quota::DEFAULT`]).
    pub default_quota: Option<Quota>,
    /// The rules of each (event, source, target, slot), in order.
    pub slots: BTreeMap<(Event, Subject, Subject, usize), Vec<u16>>,
}

impl Tables {
    /// Method slots per row.
    pub fn methods(&self) -> usize {
        2 + self.endpoints.values().map(|&c| c as usize).sum::<usize>()
    }

    /// The row slot of `(endpoint, method)` of a declared endpoint; the
    /// last slot for anything else.
    pub fn slot(&self, event: Event, endpoint: u16, method: u16) -> usize {
        if event == Event::Execute {
            return EXECUTE_SLOT;
        }
        let mut base = 1;
        for (&e, &count) in &self.endpoints {
            if e == endpoint {
                return if method < count {
                    base + method as usize
                } else {
                    self.methods() - 1
                };
            }
            base += count as usize;
        }
        self.methods() - 1
    }

    /// The slot every undeclared endpoint and method shares.
    pub fn other_slot(&self) -> usize {
        self.methods() - 1
    }

    /// The table's bytes; an error names an index that would not fit its
    /// field (a policy far larger than any system's).
    pub fn to_bytes(&self) -> Result<TableBytes, &'static str> {
        if self.subjects.len() > crate::MAX_SUBJECTS || self.subjects.is_empty() {
            return Err("subjects");
        }
        if self.rules.len() > crate::MAX_RULES {
            return Err("rules");
        }
        let mut w = Writer::default();
        let n = self.subjects.len();
        let methods = self.methods();

        let subjects: Vec<SubjectRec> = self
            .subjects
            .iter()
            .map(|s| SubjectRec {
                class: w.str(&s.class),
                instance: w.str(&s.instance),
                machine: (s.machine.map_or(NONE16, |m| m.0)),
                initial: s.machine.map_or(0, |m| m.1),
                level: s.level,
                _pad: [0; 2],
                // Record 0 is the default quota.
                quota: s.quota.map_or(NONE16, |q| q + 1),
            })
            .collect();

        let max_ep = self.endpoints.keys().copied().max().unwrap_or(0) as usize;
        let mut endpoints = vec![EndpointRec::default(); max_ep + 1];
        let mut base = 1u16;
        for (&e, &count) in &self.endpoints {
            endpoints[e as usize] = EndpointRec {
                base: (base),
                count: (count),
            };
            base += count;
        }

        let mut strings: Vec<StrRef> = Vec::new();
        let mut values: Vec<u64> = Vec::new();
        let mut conds: Vec<CondRec> = Vec::new();
        let mut effects: Vec<EffectRec> = Vec::new();
        let rules: Vec<RuleRec> = self
            .rules
            .iter()
            .map(|r| {
                let start = conds.len();
                for (c, negate) in &r.conds {
                    conds.push(cond(c, *negate, &mut w, &mut values, &mut strings));
                }
                let effects_start = effects.len();
                effects.extend(r.effects.iter().map(effect));
                RuleRec {
                    flags: if r.deny { RULE_DENY } else { 0 }
                        | if r.audit { RULE_AUDIT } else { 0 },
                    effects_start: effects_start as u16,
                    effects_len: r.effects.len() as u16,
                    conds_start: (start as u16),
                    conds_len: (r.conds.len() as u16),
                    loc: w.str(&r.loc),
                    text: w.str(&r.text),
                    _pad: [0; 7],
                }
            })
            .collect();

        let machines: Vec<MachineRec> = self
            .machines
            .iter()
            .map(|m| {
                let start = strings.len();
                for s in &m.states {
                    strings.push(w.str(s));
                }
                MachineRec {
                    name: w.str(&m.name),
                    states_start: (start as u16),
                    states: (m.states.len() as u16),
                    _pad: 0,
                }
            })
            .collect();

        let default = self.default_quota.unwrap_or(Quota::DEFAULT);
        let quotas: Vec<QuotaRec> = core::iter::once(&default)
            .chain(&self.quotas)
            .map(|q| QuotaRec {
                processes: (q.processes),
                threads: (q.threads),
                handles: (q.handles),
                frames: (q.frames),
                memory: (q.memory),
                priority: q.priority,
                sched: q.sched,
                _pad: [0; 6],
            })
            .collect();

        // Rows: row 0 is empty; equal rows and equal lists are shared.
        let mut lists: Vec<u16> = Vec::new();
        let mut list_at: BTreeMap<Vec<u16>, u16> = BTreeMap::new();
        let mut rows: Vec<Vec<u16>> = vec![vec![0; methods]];
        let mut row_at: BTreeMap<Vec<u16>, u16> = BTreeMap::new();
        row_at.insert(vec![0; methods], 0);
        let mut cells = vec![0u16; EVENTS * n * n];
        let mut current: Option<(Event, Subject, Subject)> = None;
        let mut row = vec![0u16; methods];
        let mut flush = |key: Option<(Event, Subject, Subject)>, row: &mut Vec<u16>| {
            if let Some((e, s, d)) = key {
                let next = rows.len() as u16;
                let idx = *row_at.entry(row.clone()).or_insert_with(|| {
                    rows.push(row.clone());
                    next
                });
                cells[(e as usize * n + s as usize) * n + d as usize] = idx;
            }
            row.iter_mut().for_each(|v| *v = 0);
        };
        for (&(e, s, d, slot), ids) in &self.slots {
            if current != Some((e, s, d)) {
                flush(current, &mut row);
                current = Some((e, s, d));
            }
            let fast = ids.len() == 1 && {
                let r = &self.rules[ids[0] as usize];
                !r.deny && !r.audit && r.effects.is_empty() && r.conds.is_empty()
            };
            row[slot] = if ids.is_empty() {
                0
            } else if fast {
                FAST | ids[0]
            } else {
                let next = lists.len() as u16 + 1;
                *list_at.entry(ids.clone()).or_insert_with(|| {
                    lists.push(ids.len() as u16);
                    lists.extend(ids.iter().copied());
                    next
                })
            };
        }
        flush(current, &mut row);
        let (rows_count, lists_len) = (rows.len(), lists.len());
        let (conds_len, effects_len, strings_len) = (conds.len(), effects.len(), strings.len());
        let rows: Vec<u16> = rows.iter().flatten().copied().collect();

        // Layout: header, then each section in `Sect` order.
        let sections: [&[u8]; SECTIONS] = [
            subjects.as_bytes(),
            endpoints.as_bytes(),
            cells.as_bytes(),
            rows.as_bytes(),
            lists.as_bytes(),
            rules.as_bytes(),
            conds.as_bytes(),
            values.as_bytes(),
            strings.as_bytes(),
            &w.pool,
            machines.as_bytes(),
            quotas.as_bytes(),
            effects.as_bytes(),
        ];
        let mut header = Header {
            magic: MAGIC,
            version: (VERSION),
            methods: (methods as u16),
            sections: [Section {
                offset: (0),
                len: (0),
            }; SECTIONS],
        };
        let mut at = core::mem::size_of::<Header>();
        for (i, s) in sections.iter().enumerate() {
            at = at.next_multiple_of(8);
            header.sections[i] = Section {
                offset: (at as u32),
                len: (s.len() as u32),
            };
            at += s.len();
        }
        let mut out = Vec::with_capacity(at);
        out.extend_from_slice(header.as_bytes());
        for s in sections {
            out.resize(out.len().next_multiple_of(8), 0);
            out.extend_from_slice(s);
        }
        // Every 16-bit index the layout stores must have fit: rows, list
        // indices (below the FAST bit), condition and effect starts, state
        // name starts.
        let fits = |n: usize| n <= u16::MAX as usize;
        if !fits(rows_count)
            || lists_len + 1 >= FAST as usize
            || !fits(conds_len)
            || !fits(effects_len)
            || !fits(strings_len)
            || !fits(methods)
        {
            return Err("a table index (rows, lists, conditions, effects or strings)");
        }
        Ok(TableBytes::new(&out))
    }
}

fn cond(
    c: &CondIn,
    negate: bool,
    w: &mut Writer,
    values: &mut Vec<u64>,
    strings: &mut Vec<StrRef>,
) -> CondRec {
    let mut r = CondRec {
        kind: 0,
        op: 0,
        size: 0,
        flags: if negate { COND_NEGATE } else { 0 },
        offset: 0,
        _pad: [0; 2],
        a: (0),
        b: (0),
        value: (0),
    };
    let at = |f: &FieldAt, r: &mut CondRec| {
        r.offset = f.offset;
        r.size = f.size;
        if f.signed {
            r.flags |= COND_SIGNED;
        }
    };
    match c {
        CondIn::FieldCmp { field, op, value } => {
            at(field, &mut r);
            r.kind = COND_FIELD_CMP;
            r.op = *op;
            r.value = *value;
        }
        CondIn::FieldIn { field, values: vs } => {
            at(field, &mut r);
            r.kind = COND_FIELD_IN;
            r.a = values.len() as u32;
            r.b = vs.len() as u32;
            values.extend(vs.iter().copied());
        }
        CondIn::FieldHas { field, mask } => {
            at(field, &mut r);
            r.kind = COND_FIELD_HAS;
            r.value = *mask;
        }
        CondIn::StrIn { path, strings: ss } => {
            r.kind = COND_STR_IN;
            r.op = if *path { STR_PATH } else { STR_NAME };
            r.a = strings.len() as u32;
            r.b = ss.len() as u32;
            for s in ss {
                strings.push(w.str(s));
            }
        }
        CondIn::TargetSelf => r.kind = COND_TARGET_SELF,
        CondIn::TargetChild => r.kind = COND_TARGET_CHILD,
        CondIn::StateIn(mask) => {
            r.kind = COND_STATE_IN;
            r.value = *mask;
        }
        CondIn::VarCmp { index, op, value } => {
            r.kind = COND_VAR_CMP;
            r.a = u32::from(*index);
            r.op = *op;
            r.value = *value as u64;
        }
        CondIn::SetHas { index, field } | CondIn::SetRoom { index, field } => {
            at(field, &mut r);
            r.kind = if matches!(c, CondIn::SetHas { .. }) {
                COND_SET_HAS
            } else {
                COND_SET_ROOM
            };
            r.a = u32::from(*index);
        }
        CondIn::Level {
            lhs,
            op,
            rhs,
            value,
        } => {
            r.kind = COND_LEVEL;
            r.op = *op;
            r.a = *lhs;
            r.b = *rhs;
            r.value = *value;
        }
    }
    r
}

fn effect(e: &EffectIn) -> EffectRec {
    let mut r = EffectRec {
        value: 0,
        offset: 0,
        kind: 0,
        index: 0,
        size: 0,
        flags: 0,
        _pad: [0; 2],
    };
    let field = |r: &mut EffectRec, f: &FieldAt| {
        r.offset = f.offset;
        r.size = f.size;
        if f.signed {
            r.flags = COND_SIGNED;
        }
    };
    match e {
        EffectIn::Machine(s) => {
            r.kind = EFF_MACHINE;
            r.value = u64::from(*s);
        }
        EffectIn::VarSet(i, v) => {
            r.kind = EFF_VAR_SET;
            r.index = *i;
            r.value = *v as u64;
        }
        EffectIn::VarAdd(i, v) => {
            r.kind = EFF_VAR_ADD;
            r.index = *i;
            r.value = *v as u64;
        }
        EffectIn::SetAdd(i, f) => {
            r.kind = EFF_SET_ADD;
            r.index = *i;
            field(&mut r, f);
        }
        EffectIn::SetRemove(i, f) => {
            r.kind = EFF_SET_REMOVE;
            r.index = *i;
            field(&mut r, f);
        }
    }
    r
}

/// The string pool: each distinct string once.
#[derive(Default)]
struct Writer {
    pool: Vec<u8>,
    at: BTreeMap<String, StrRef>,
}

impl Writer {
    fn str(&mut self, s: &str) -> StrRef {
        if let Some(r) = self.at.get(s) {
            return *r;
        }
        let r = StrRef {
            off: (self.pool.len() as u32),
            len: s.len() as u32,
        };
        self.pool.extend_from_slice(s.as_bytes());
        self.at.insert(s.into(), r);
        r
    }
}

/// A table's bytes, 8-aligned (as [`Policy::parse`](crate::Policy::parse)
/// needs them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableBytes {
    words: Vec<u64>,
    len: usize,
}

impl TableBytes {
    pub fn new(bytes: &[u8]) -> TableBytes {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        words.as_mut_bytes()[..bytes.len()].copy_from_slice(bytes);
        TableBytes {
            words,
            len: bytes.len(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.words.as_bytes()[..self.len]
    }
}
