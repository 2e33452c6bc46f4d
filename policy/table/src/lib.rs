//! The compiled security policy: its binary layout ([`format`]), the
//! evaluator ([`Policy::decide`]) the kernel runs on every message and the
//! host tools (policy tests, `explain`) run on the same bytes, and (with the
//! `alloc` feature) the writer the compiler uses ([`build`]).
//!
//! A decision is a table lookup: the event, the source and target subjects
//! (a class, or a named instance of one) select a *row*; the endpoint and
//! method select a slot of it. A slot is empty (deny: no rule grants it),
//! a *fast* grant (one unconditional rule) or a list of rules: a message
//! is granted when a `grant` rule's conditions hold on it and no `deny`
//! rule's do. No parsing, no allocation.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
pub mod build;
pub mod format;

use format::{
    CondRec, EffectRec, EndpointRec, Header, MachineRec, QuotaRec, RuleRec, Section, StrRef,
    SubjectRec,
};
use zerocopy::FromBytes;

/// What happens, as the policy sees it (KasperskyOS's events, with kernel
/// calls as their own event).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Event {
    /// A request delivered to a server.
    Request = 0,
    /// A reply (status rcOk) delivered to a client.
    Response = 1,
    /// A reply carrying an error status.
    Error = 2,
    /// A call on a kernel object.
    Call = 3,
    /// A process start: the target is the new process's subject.
    Execute = 4,
    /// A process asks the policy about an operation of its own (a method
    /// of a security interface and its arguments); the target is the
    /// kernel.
    Security = 5,
}

impl Event {
    pub const ALL: [Event; EVENTS] = [
        Event::Request,
        Event::Response,
        Event::Error,
        Event::Call,
        Event::Execute,
        Event::Security,
    ];

    /// How the policy language spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Event::Request => "request",
            Event::Response => "response",
            Event::Error => "error",
            Event::Call => "call",
            Event::Execute => "execute",
            Event::Security => "security",
        }
    }

    pub const fn from_u8(v: u8) -> Option<Event> {
        if (v as usize) < EVENTS {
            Some(Event::ALL[v as usize])
        } else {
            None
        }
    }
}

pub const EVENTS: usize = 6;

/// A subject: an index into the policy's classes and instances.
pub type Subject = u16;
/// The kernel (`kl.core.Core`) is always subject 0: the target of calls on
/// kernel objects, the source of the first process's start.
pub const KERNEL: Subject = 0;
/// [`Decision::rule`] when no rule applied (deny by default).
pub const NO_RULE: u16 = 0xFFFF;
/// A row slot with this bit is one unconditional grant rule (the rest of
/// the bits).
pub const FAST: u16 = 0x8000;
/// The method slot of process starts.
pub const EXECUTE_SLOT: usize = 0;
/// Bounds the compiler keeps to (so that indices fit their fields).
pub const MAX_SUBJECTS: usize = 256;
pub const MAX_RULES: usize = 0x7FFF;
/// The highest endpoint id the endpoint table may index.
pub const MAX_ENDPOINT: u16 = 0x0FFF;
/// Conditions read at most this many bytes of the fixed part.
pub const MAX_FIXED: usize = 64;

/// Variables (PSL's StaticMap) and sets (PSL's HashSet) of a process's
/// policy state, and a set's capacity.
pub const VARS: usize = 4;
pub const SETS: usize = 2;
pub const SET_CAP: usize = 8;

/// A process's policy state: the state of its class's machine, its
/// variables and its sets of values. The kernel keeps one per process;
/// rules read the target's, and granting rules' effects change it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub machine: u8,
    pub set_len: [u8; SETS],
    pub vars: [i64; VARS],
    pub sets: [[u64; SET_CAP]; SETS],
}

impl State {
    /// A new process's state: its machine at `machine`, the rest empty.
    pub const fn new(machine: u8) -> State {
        State {
            machine,
            set_len: [0; SETS],
            vars: [0; VARS],
            sets: [[0; SET_CAP]; SETS],
        }
    }

    fn members(&self, set: usize) -> &[u64] {
        match (self.sets.get(set), self.set_len.get(set)) {
            (Some(s), Some(&n)) => &s[..(n as usize).min(SET_CAP)],
            _ => &[],
        }
    }

    pub fn contains(&self, set: usize, v: u64) -> bool {
        self.members(set).contains(&v)
    }

    /// Whether `v` could be added (already there, or room left).
    pub fn has_room(&self, set: usize, v: u64) -> bool {
        self.contains(set, v)
            || self
                .set_len
                .get(set)
                .is_some_and(|&n| (n as usize) < SET_CAP)
    }

    fn add(&mut self, set: usize, v: u64) {
        if self.contains(set, v) || !self.has_room(set, v) {
            return;
        }
        let n = self.set_len[set] as usize;
        self.sets[set][n] = v;
        self.set_len[set] += 1;
    }

    fn remove(&mut self, set: usize, v: u64) {
        let n = self.members(set).len();
        if let Some(i) = self.members(set).iter().position(|&x| x == v) {
            self.sets[set][i] = self.sets[set][n - 1];
            self.set_len[set] -= 1;
        }
    }
}

/// The state of a party that has none (the kernel; tools that do not care).
pub static NO_STATE: State = State::new(0);

/// A message (or process start) to decide on.
#[derive(Copy, Clone, Debug)]
pub struct Query<'a> {
    pub event: Event,
    pub src: Subject,
    pub dst: Subject,
    /// The header's endpoint and method (of the request, for a reply).
    pub endpoint: u16,
    pub method: u16,
    /// The fixed part as it will be delivered (for a process start, the
    /// `Create` request's).
    pub fixed: &'a [u8],
    /// A process start's name and path.
    pub name: &'a [u8],
    pub path: &'a [u8],
    /// For a call on a process: whether it is the caller itself, or a
    /// child of the caller.
    pub target_self: bool,
    pub target_child: bool,
    /// The target process's policy state.
    pub dst_state: &'a State,
    /// The integrity levels of the source and the target processes.
    pub src_level: u8,
    pub dst_level: u8,
}

impl<'a> Query<'a> {
    /// A query with no message data (fields read as zero).
    pub const fn new(event: Event, src: Subject, dst: Subject, endpoint: u16, method: u16) -> Self {
        Query {
            event,
            src,
            dst,
            endpoint,
            method,
            fixed: &[],
            name: &[],
            path: &[],
            target_self: false,
            target_child: false,
            dst_state: &NO_STATE,
            src_level: 0,
            dst_level: 0,
        }
    }
}

/// What the policy decided.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub granted: bool,
    /// The rule that decided: for a denial the one that refused
    /// ([`NO_RULE`] when none applied), for a grant the first that applied.
    pub rule: u16,
    /// A granting rule asked for its grants to be audited.
    pub audit: bool,
    /// A granting rule changes the target's state: [`Policy::effects`]
    /// gives the new one.
    pub effects: bool,
}

impl Decision {
    pub const DENY: Decision = Decision {
        granted: false,
        rule: NO_RULE,
        audit: false,
        effects: false,
    };

    const fn deny(rule: u16) -> Decision {
        Decision {
            granted: false,
            rule,
            audit: false,
            effects: false,
        }
    }
}

/// Per-subject limits (`u32::MAX`: none), each on what a process and its
/// descendants hold together (the kernel's `task::budget`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Processes started, by it or by them (records that exist).
    pub processes: u32,
    /// Live threads.
    pub threads: u32,
    /// Handles held.
    pub handles: u32,
    /// Frames (4 KiB pages) mapped, page tables and MDL buffers included.
    pub frames: u32,
    /// Kernel heap bytes charged.
    pub memory: u64,
    /// The highest thread priority it may ask for (its own threads, its
    /// children's initial threads).
    pub priority: u8,
    /// The scheduling classes it may ask for (bit = `SchedClass` value).
    pub sched: u8,
}

impl Quota {
    /// The quota of a class the policy gives none (unless it declares its
    /// own `quota default`): a share, so that no tree of processes of
    /// such classes takes the whole machine, and several fit on the
    /// smallest (a 1 GiB board's 16 MiB kernel heap and 512 threads). It
    /// bounds budgets only; priorities and scheduling classes stay open
    /// (the creator's initial policy bounds those).
    pub const DEFAULT: Quota = Quota {
        processes: 16,
        threads: 128,
        handles: 2048,
        // 128 MiB.
        frames: 32768,
        memory: 2 << 20,
        priority: u8::MAX,
        sched: u8::MAX,
    };

    /// No limits (no policy at all, or the machine's whole budget).
    pub const NONE: Quota = Quota {
        processes: u32::MAX,
        threads: u32::MAX,
        handles: u32::MAX,
        frames: u32::MAX,
        memory: u64::MAX,
        priority: u8::MAX,
        sched: u8::MAX,
    };
}

impl From<&QuotaRec> for Quota {
    fn from(q: &QuotaRec) -> Quota {
        Quota {
            processes: q.processes,
            threads: q.threads,
            handles: q.handles,
            frames: q.frames,
            memory: q.memory,
            priority: q.priority,
            sched: q.sched,
        }
    }
}

/// Why bytes are not a policy table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    BadMagic,
    BadVersion,
    /// A section outside the bytes or of the wrong size.
    BadSection(usize),
    /// An index that points outside its section.
    BadIndex(&'static str),
}

/// A policy table, checked once (every index in range), read in place.
#[derive(Copy, Clone, Debug)]
pub struct Policy<'a> {
    subjects: &'a [SubjectRec],
    endpoints: &'a [EndpointRec],
    cells: &'a [u16],
    rows: &'a [u16],
    lists: &'a [u16],
    rules: &'a [RuleRec],
    conds: &'a [CondRec],
    values: &'a [u64],
    strings: &'a [StrRef],
    pool: &'a [u8],
    machines: &'a [MachineRec],
    quotas: &'a [QuotaRec],
    effects: &'a [EffectRec],
    /// Method slots per row.
    methods: usize,
}

fn section<'a, T: FromBytes + zerocopy::Immutable + zerocopy::KnownLayout>(
    bytes: &'a [u8],
    s: &Section,
    i: usize,
) -> Result<&'a [T], FormatError> {
    let (off, len) = (s.offset as usize, s.len as usize);
    let raw = off
        .checked_add(len)
        .and_then(|end| bytes.get(off..end))
        .ok_or(FormatError::BadSection(i))?;
    <[T]>::ref_from_bytes(raw).map_err(|_| FormatError::BadSection(i))
}

impl<'a> Policy<'a> {
    /// Reads and checks a table.
    pub fn parse(bytes: &'a [u8]) -> Result<Policy<'a>, FormatError> {
        use format::Sect;
        let (header, _) = Header::ref_from_prefix(bytes).map_err(|_| FormatError::BadMagic)?;
        if header.magic != format::MAGIC {
            return Err(FormatError::BadMagic);
        }
        if header.version != format::VERSION {
            return Err(FormatError::BadVersion);
        }
        let s = &header.sections;
        let p = Policy {
            subjects: section(bytes, &s[Sect::Subjects as usize], 0)?,
            endpoints: section(bytes, &s[Sect::Endpoints as usize], 1)?,
            cells: section(bytes, &s[Sect::Cells as usize], 2)?,
            rows: section(bytes, &s[Sect::Rows as usize], 3)?,
            lists: section(bytes, &s[Sect::Lists as usize], 4)?,
            rules: section(bytes, &s[Sect::Rules as usize], 5)?,
            conds: section(bytes, &s[Sect::Conds as usize], 6)?,
            values: section(bytes, &s[Sect::Values as usize], 7)?,
            strings: section(bytes, &s[Sect::Strings as usize], 8)?,
            pool: section(bytes, &s[Sect::Pool as usize], 9)?,
            machines: section(bytes, &s[Sect::Machines as usize], 10)?,
            quotas: section(bytes, &s[Sect::Quotas as usize], 11)?,
            effects: section(bytes, &s[Sect::Effects as usize], 12)?,
            methods: header.methods as usize,
        };
        p.check()?;
        Ok(p)
    }

    /// Every index in range, so that decisions never read outside.
    fn check(&self) -> Result<(), FormatError> {
        use FormatError::BadIndex;
        let n = self.subjects.len();
        if n == 0 || n > MAX_SUBJECTS || self.methods < 2 {
            return Err(BadIndex("subject or method count"));
        }
        if self.cells.len() != EVENTS * n * n {
            return Err(BadIndex("cells"));
        }
        if !self.rows.len().is_multiple_of(self.methods) || self.rows.is_empty() {
            return Err(BadIndex("rows"));
        }
        let nrows = self.rows.len() / self.methods;
        if self.cells.iter().any(|&c| c as usize >= nrows) {
            return Err(BadIndex("cell row"));
        }
        if self.endpoints.len() > MAX_ENDPOINT as usize + 1 {
            return Err(BadIndex("endpoint table"));
        }
        for e in self.endpoints {
            let end = e.base as usize + e.count as usize;
            if e.count != 0 && (e.base == 0 || end >= self.methods) {
                return Err(BadIndex("endpoint methods"));
            }
        }
        let rule_ok = |r: u16| (r as usize) < self.rules.len();
        for &v in self.rows {
            if v == 0 {
                continue;
            }
            if v & FAST != 0 {
                if !rule_ok(v & !FAST) {
                    return Err(BadIndex("fast rule"));
                }
                continue;
            }
            let at = v as usize - 1;
            let len = *self.lists.get(at).ok_or(BadIndex("list"))? as usize;
            let ids = self
                .lists
                .get(at + 1..at + 1 + len)
                .ok_or(BadIndex("list"))?;
            if len == 0 || !ids.iter().all(|&r| rule_ok(r)) {
                return Err(BadIndex("list rule"));
            }
        }
        for r in self.rules {
            let (start, len) = (r.conds_start as usize, r.conds_len as usize);
            if start + len > self.conds.len() {
                return Err(BadIndex("rule conditions"));
            }
            if r.effects_start as usize + r.effects_len as usize > self.effects.len() {
                return Err(BadIndex("rule effects"));
            }
            self.str_checked(r.loc)?;
            self.str_checked(r.text)?;
        }
        for c in self.conds {
            let (a, b) = (c.a as usize, c.b as usize);
            match c.kind {
                format::COND_LEVEL if c.a > format::LEVEL_TARGET || c.b > format::LEVEL_VALUE => {
                    return Err(BadIndex("condition level"));
                }
                format::COND_FIELD_IN if a + b > self.values.len() => {
                    return Err(BadIndex("condition values"));
                }
                format::COND_STR_IN if a + b > self.strings.len() => {
                    return Err(BadIndex("condition strings"));
                }
                _ => {}
            }
            if c.offset as usize + c.size as usize > MAX_FIXED
                || !matches!(c.size, 0 | 1 | 2 | 4 | 8)
            {
                return Err(BadIndex("condition field"));
            }
        }
        for e in self.effects {
            let field_ok = matches!(e.size, 0 | 1 | 2 | 4 | 8)
                && e.offset as usize + e.size as usize <= MAX_FIXED;
            let index_ok = match e.kind {
                format::EFF_MACHINE => e.value < 8,
                format::EFF_VAR_SET | format::EFF_VAR_ADD => (e.index as usize) < VARS,
                format::EFF_SET_ADD | format::EFF_SET_REMOVE => (e.index as usize) < SETS,
                _ => false,
            };
            if !field_ok || !index_ok {
                return Err(BadIndex("effect"));
            }
        }
        for s in self.strings {
            self.str_checked(*s)?;
        }
        for m in self.machines {
            self.str_checked(m.name)?;
            let end = m.states_start as usize + m.states as usize;
            if end > self.strings.len() || m.states == 0 || m.states > 8 {
                return Err(BadIndex("machine states"));
            }
        }
        for s in self.subjects {
            self.str_checked(s.class)?;
            self.str_checked(s.instance)?;
            let machine = s.machine;
            if machine != format::NONE16
                && self
                    .machines
                    .get(machine as usize)
                    .is_none_or(|m| s.initial >= m.states as u8)
            {
                return Err(BadIndex("subject machine"));
            }
            if s.quota != format::NONE16 && s.quota as usize >= self.quotas.len() {
                return Err(BadIndex("subject quota"));
            }
        }
        if self.quotas.is_empty() {
            return Err(BadIndex("default quota"));
        }
        Ok(())
    }

    fn str_checked(&self, s: StrRef) -> Result<&'a str, FormatError> {
        let (off, len) = (s.off as usize, s.len as usize);
        self.pool
            .get(off..off + len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .ok_or(FormatError::BadIndex("string"))
    }

    /// A string's bytes (checked UTF-8 at parse; not again on the hot path).
    fn raw(&self, s: StrRef) -> &'a [u8] {
        let (off, len) = (s.off as usize, s.len as usize);
        self.pool.get(off..off + len).unwrap_or(&[])
    }

    fn str(&self, s: StrRef) -> &'a str {
        self.str_checked(s).unwrap_or("")
    }

    /// The slot of `(endpoint, method)` in a row: declared methods have
    /// their own; anything else shares the last.
    #[inline]
    fn method_slot(&self, event: Event, endpoint: u16, method: u16) -> usize {
        if event == Event::Execute {
            return EXECUTE_SLOT;
        }
        match self.endpoints.get(endpoint as usize) {
            Some(e) if method < e.count => e.base as usize + method as usize,
            _ => self.methods - 1,
        }
    }

    /// The slot entry of a message (0: no rule).
    #[inline(always)]
    fn entry(&self, event: Event, src: Subject, dst: Subject, endpoint: u16, method: u16) -> u16 {
        let n = self.subjects.len();
        let cell = (event as usize * n + src as usize) * n + dst as usize;
        let Some(&row) = self.cells.get(cell) else {
            return 0;
        };
        let slot = row as usize * self.methods + self.method_slot(event, endpoint, method);
        self.rows.get(slot).copied().unwrap_or(0)
    }

    /// The fast path: whether one unconditional rule grants the message
    /// outright (no conditions, no audit, no transition). When it does,
    /// [`Policy::decide`] grants it too; when not, ask `decide`.
    #[inline(always)]
    pub fn grants_outright(
        &self,
        event: Event,
        src: Subject,
        dst: Subject,
        endpoint: u16,
        method: u16,
    ) -> bool {
        let n = self.subjects.len();
        (src as usize) < n
            && (dst as usize) < n
            && self.entry(event, src, dst, endpoint, method) & FAST != 0
    }

    /// Decide on a message. Out-of-range subjects are denied.
    #[inline]
    pub fn decide(&self, q: &Query<'_>) -> Decision {
        if q.src as usize >= self.subjects.len() || q.dst as usize >= self.subjects.len() {
            return Decision::DENY;
        }
        let e = self.entry(q.event, q.src, q.dst, q.endpoint, q.method);
        if e & FAST != 0 {
            return Decision {
                granted: true,
                rule: e & !FAST,
                audit: false,
                effects: false,
            };
        }
        if e == 0 {
            return Decision::DENY;
        }
        self.decide_list(e as usize - 1, q)
    }

    /// A slot of several rules (or one with conditions, an audit or a
    /// transition): a `deny` rule whose conditions hold refuses at once;
    /// otherwise the message is granted if a `grant` rule's conditions
    /// hold. The deciding rule of a refusal is the `deny` rule, else the
    /// first `grant` rule whose conditions failed.
    #[inline(never)]
    fn decide_list(&self, at: usize, q: &Query<'_>) -> Decision {
        let len = self.lists.get(at).map_or(0, |v| *v as usize);
        let Some(ids) = self.lists.get(at + 1..at + 1 + len) else {
            return Decision::DENY;
        };
        let mut granted: Option<Decision> = None;
        let mut failed = NO_RULE;
        for &id in ids {
            let Some(r) = self.rules.get(id as usize) else {
                return Decision::DENY;
            };
            let holds = self.conditions_hold(r, q);
            if r.flags & format::RULE_DENY != 0 {
                if holds {
                    return Decision::deny(id);
                }
                continue;
            }
            if !holds {
                if failed == NO_RULE {
                    failed = id;
                }
                continue;
            }
            let d = granted.get_or_insert(Decision {
                granted: true,
                rule: id,
                audit: false,
                effects: false,
            });
            d.audit |= r.flags & format::RULE_AUDIT != 0;
            d.effects |= r.effects_len > 0;
        }
        granted.unwrap_or(Decision::deny(failed))
    }

    /// The target's state after a granted message: the effects of every
    /// granting rule (conditions read the state before any of them).
    pub fn effects(&self, q: &Query<'_>) -> State {
        let mut s = *q.dst_state;
        let e = self.entry(q.event, q.src, q.dst, q.endpoint, q.method);
        if e == 0 || e & FAST != 0 {
            return s;
        }
        let at = e as usize - 1;
        let len = self.lists.get(at).map_or(0, |v| *v as usize);
        let Some(ids) = self.lists.get(at + 1..at + 1 + len) else {
            return s;
        };
        for &id in ids {
            let Some(r) = self.rules.get(id as usize) else {
                continue;
            };
            if r.flags & format::RULE_DENY != 0 || !self.conditions_hold(r, q) {
                continue;
            }
            let start = r.effects_start as usize;
            let Some(effects) = self.effects.get(start..start + r.effects_len as usize) else {
                continue;
            };
            for f in effects {
                let field = read_field(
                    q.fixed,
                    f.offset as usize,
                    f.size,
                    f.flags & format::COND_SIGNED != 0,
                );
                let i = f.index as usize;
                match f.kind {
                    format::EFF_MACHINE => s.machine = f.value as u8,
                    format::EFF_VAR_SET if i < VARS => s.vars[i] = f.value as i64,
                    format::EFF_VAR_ADD if i < VARS => {
                        s.vars[i] = s.vars[i].saturating_add(f.value as i64)
                    }
                    format::EFF_SET_ADD if i < SETS => s.add(i, field),
                    format::EFF_SET_REMOVE if i < SETS => s.remove(i, field),
                    _ => {}
                }
            }
        }
        s
    }

    fn conditions_hold(&self, r: &RuleRec, q: &Query<'_>) -> bool {
        let start = r.conds_start as usize;
        let Some(conds) = self.conds.get(start..start + r.conds_len as usize) else {
            return false;
        };
        conds.iter().all(|c| self.holds(c, q))
    }

    fn holds(&self, c: &CondRec, q: &Query<'_>) -> bool {
        let signed = c.flags & format::COND_SIGNED != 0;
        let field = read_field(q.fixed, c.offset as usize, c.size, signed);
        let (a, b) = (c.a as usize, c.b as usize);
        let v = c.value;
        let yes = match c.kind {
            format::COND_FIELD_CMP => compare(c.op, field, v, signed),
            format::COND_FIELD_IN => self
                .values
                .get(a..a + b)
                .is_some_and(|vs| vs.contains(&field)),
            format::COND_FIELD_HAS => field & v == v,
            format::COND_STR_IN => {
                let s = if c.op == format::STR_PATH {
                    q.path
                } else {
                    q.name
                };
                self.strings
                    .get(a..a + b)
                    .is_some_and(|ss| ss.iter().any(|r| self.raw(*r) == s))
            }
            format::COND_TARGET_SELF => q.target_self,
            format::COND_TARGET_CHILD => q.target_child,
            format::COND_STATE_IN => {
                q.dst_state.machine < 64 && v & (1 << q.dst_state.machine) != 0
            }
            format::COND_VAR_CMP => q
                .dst_state
                .vars
                .get(a)
                .is_some_and(|&x| compare(c.op, x as u64, v, true)),
            format::COND_SET_HAS => q.dst_state.contains(a, field),
            format::COND_SET_ROOM => q.dst_state.has_room(a, field),
            format::COND_LEVEL => {
                let level = |which: u32| match which {
                    format::LEVEL_SOURCE => u64::from(q.src_level),
                    format::LEVEL_TARGET => u64::from(q.dst_level),
                    _ => v,
                };
                compare(c.op, level(c.a), level(c.b), false)
            }
            _ => false,
        };
        yes != (c.flags & format::COND_NEGATE != 0)
    }

    // --- Reading the table (subjects, rules, quotas) ---

    pub fn subject_count(&self) -> usize {
        self.subjects.len()
    }

    /// The subject a process of `class` named `name` is: the instance
    /// declared for that name, else the class; `None` if the policy names
    /// neither (such a process cannot be started).
    pub fn subject(&self, class: &[u8], name: &[u8]) -> Option<Subject> {
        let mut by_class = None;
        for (i, s) in self.subjects.iter().enumerate() {
            if self.str(s.class).as_bytes() != class {
                continue;
            }
            let inst = self.str(s.instance).as_bytes();
            if inst.is_empty() {
                by_class = Some(i as Subject);
            } else if inst == name {
                return Some(i as Subject);
            }
        }
        by_class
    }

    /// A subject's class and instance name (empty for a class).
    pub fn subject_name(&self, s: Subject) -> (&'a str, &'a str) {
        self.subjects
            .get(s as usize)
            .map_or(("?", ""), |r| (self.str(r.class), self.str(r.instance)))
    }

    /// The integrity level declared for `s` (0 if none).
    pub fn level(&self, s: Subject) -> u8 {
        self.subjects.get(s as usize).map_or(0, |r| r.level)
    }

    /// The state a new process of `s` starts in.
    pub fn initial_state(&self, s: Subject) -> u8 {
        self.subjects.get(s as usize).map_or(0, |r| r.initial)
    }

    /// The name of state `state` of `s`'s machine.
    pub fn state_name(&self, s: Subject, state: u8) -> Option<&'a str> {
        let r = self.subjects.get(s as usize)?;
        let m = self.machines.get(r.machine as usize)?;
        if state >= m.states as u8 {
            return None;
        }
        let at = m.states_start as usize + state as usize;
        Some(self.str(*self.strings.get(at)?))
    }

    /// The limits on processes of `s`: its class's (or instance's) own
    /// `quota`, else the policy's default ([`Quota::DEFAULT`] unless it
    /// declares `quota default`).
    pub fn quota(&self, s: Subject) -> Quota {
        self.own_quota(s)
            .or_else(|| self.quotas.first().map(Quota::from))
            .unwrap_or(Quota::NONE)
    }

    /// The quota the policy declares for `s` itself, if any (the kernel
    /// gives the first process the machine's budget unless its class has
    /// one).
    pub fn own_quota(&self, s: Subject) -> Option<Quota> {
        let r = self.subjects.get(s as usize)?;
        if r.quota == format::NONE16 {
            return None;
        }
        self.quotas.get(r.quota as usize).map(Quota::from)
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Where rule `r` is written (`file:line:column`) and its text.
    pub fn rule_source(&self, r: u16) -> Option<(&'a str, &'a str)> {
        let rule = self.rules.get(r as usize)?;
        Some((self.str(rule.loc), self.str(rule.text)))
    }

    /// Whether rule `r` is a `deny` rule.
    pub fn rule_denies(&self, r: u16) -> bool {
        self.rules
            .get(r as usize)
            .is_some_and(|rule| rule.flags & format::RULE_DENY != 0)
    }

    /// The rules a query's slot holds, in order (for `explain`).
    pub fn slot_rules(&self, q: &Query<'_>) -> impl Iterator<Item = u16> + 'a {
        let e = if (q.src as usize) < self.subjects.len() && (q.dst as usize) < self.subjects.len()
        {
            self.entry(q.event, q.src, q.dst, q.endpoint, q.method)
        } else {
            0
        };
        let lists = self.lists;
        let (fast, list) = match e {
            0 => (None, &lists[..0]),
            e if e & FAST != 0 => (Some(e & !FAST), &lists[..0]),
            e => {
                let at = e as usize - 1;
                let len = lists.get(at).map_or(0, |v| *v as usize);
                (None, lists.get(at + 1..at + 1 + len).unwrap_or(&[]))
            }
        };
        fast.into_iter().chain(list.iter().copied())
    }
}

fn read_field(fixed: &[u8], offset: usize, size: u8, signed: bool) -> u64 {
    let size = (size as usize).min(8);
    let mut b = [0u8; 8];
    // A field beyond a short fixed part reads as zero, as the kernel's
    // decoding of a short request does.
    if let Some(src) = fixed.get(offset..offset + size) {
        b[..size].copy_from_slice(src);
    } else if let Some(src) = fixed.get(offset..) {
        b[..src.len()].copy_from_slice(src);
    }
    let v = u64::from_le_bytes(b);
    if signed && size > 0 && size < 8 {
        // Sign-extend.
        let shift = 64 - 8 * size as u32;
        (((v << shift) as i64) >> shift) as u64
    } else {
        v
    }
}

fn compare(op: u8, field: u64, v: u64, signed: bool) -> bool {
    use core::cmp::Ordering::*;
    let ord = if signed {
        (field as i64).cmp(&(v as i64))
    } else {
        field.cmp(&v)
    };
    match op {
        format::OP_EQ => ord == Equal,
        format::OP_NE => ord != Equal,
        format::OP_LT => ord == Less,
        format::OP_LE => ord != Greater,
        format::OP_GT => ord == Greater,
        format::OP_GE => ord != Less,
        _ => false,
    }
}
