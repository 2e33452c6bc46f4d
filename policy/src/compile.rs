//! From the syntax tree to tables: names resolved against the policy's own
//! declarations (classes, instances, sets, machines) and the system's
//! (interfaces, methods, fields, components); every rule expanded to the
//! (event, source, target, method) slots it covers.

use std::collections::{BTreeSet, HashMap};

use kos_abi::decl::FieldKind;
use policy_table::build::{CondIn, EffectIn, FieldAt, MachineIn, RuleIn, SubjectIn, Tables};
use policy_table::format::{OP_EQ, OP_GE, OP_GT, OP_LE, OP_LT, OP_NE};
use policy_table::{Event, KERNEL, MAX_RULES, MAX_SUBJECTS, Quota, Subject};

use crate::ast::{
    self, CmpOp, CondKind, Effect, EventKw, Item, LevelOf, Methods, QuotaValue, Span, Target,
    Value, Word,
};
use crate::world::{FieldInfo, MethodInfo, World};
use crate::{Diag, Source};

/// The kernel's class, and the short name the language gives it.
pub const KERNEL_CLASS: &str = "kl.core.Core";
pub const KERNEL_ALIAS: &str = "kernel";
/// The name `quota` gives the quota of every class without its own.
pub const DEFAULT_QUOTA: &str = "default";

/// A method a rule or a test names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A declared method (index into `World::interfaces`, method index).
    Method(usize, usize),
    /// Every endpoint and method not declared.
    Other,
}

/// A policy, compiled: its tables, and what tests and `explain` need to
/// name things the way the source does.
#[derive(Debug)]
pub struct Compiled {
    pub tables: Tables,
    pub bytes: policy_table::build::TableBytes,
    pub world: World,
    pub(crate) names: Names,
    pub(crate) tests: Vec<TestDef>,
    pub source: Source,
}

#[derive(Clone, Debug)]
pub(crate) struct TestDef {
    pub name: String,
    pub span: Span,
    pub stmts: Vec<ast::Stmt>,
}

/// Names the policy declared.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names {
    /// `class` or `class@instance` → subject.
    pub subjects: HashMap<String, Subject>,
    pub instances: HashMap<Subject, Vec<Subject>>,
    pub sets: HashMap<String, (Word, Vec<Word>)>,
    /// Machine name → (index, states).
    pub machines: HashMap<String, (u16, Vec<String>)>,
    /// Integrity levels, lowest first.
    pub levels: Vec<String>,
    /// Maps and hashsets by name.
    pub stores: HashMap<String, Store>,
    /// Instances given a quota or a level of their own.
    pub explicit_quota: BTreeSet<Subject>,
    pub explicit_level: BTreeSet<Subject>,
}

/// A map (its variables) or a hashset, and the subjects that have it.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    /// The variables of a map and their indices; `None` for a hashset.
    pub vars: Option<Vec<(String, u8)>>,
    /// A hashset's index.
    pub set: u8,
    pub subjects: Vec<Subject>,
}

struct Compiler<'a> {
    world: &'a World,
    src: &'a Source,
    board: &'a str,
    diags: Vec<Diag>,
    names: Names,
    tables: Tables,
    audit_all: bool,
}

/// The boards a policy can single out with `board <name> { ... }`.
pub const BOARDS: &[&str] = &["virt", "rpi4"];

pub fn compile(src: &Source, board: &str) -> Result<Compiled, Vec<Diag>> {
    let items = ast::parse(&src.text).map_err(|e| vec![Diag::error(e.span, e.message)])?;
    let world = World::declared();
    let mut c = Compiler {
        world: &world,
        src,
        board,
        diags: Vec::new(),
        names: Names::default(),
        tables: Tables::default(),
        audit_all: false,
    };
    let mut flat = Vec::new();
    c.flatten(items, &mut flat);
    c.declare(&flat);
    let mut tests = Vec::new();
    for item in &flat {
        match item {
            Item::Rule(r) => c.rule(r),
            Item::Test { name, span, stmts } => tests.push(TestDef {
                name: name.clone(),
                span: span.clone(),
                stmts: stmts.clone(),
            }),
            _ => {}
        }
    }
    if c.tables.rules.len() > MAX_RULES {
        c.diags
            .push(Diag::error(0..0, format!("more than {MAX_RULES} rules")));
    }
    if !c.diags.is_empty() {
        return Err(c.diags);
    }
    let tables = c.tables;
    let names = c.names;
    let bytes = tables.to_bytes().map_err(|what| {
        vec![Diag::error(
            0..0,
            format!("the policy is too large for its table ({what})"),
        )]
    })?;
    Ok(Compiled {
        tables,
        bytes,
        world,
        names,
        tests,
        source: src.clone(),
    })
}

impl Compiler<'_> {
    fn error(&mut self, span: &Span, message: impl Into<String>) {
        self.diags.push(Diag::error(span.clone(), message.into()));
    }

    /// Board blocks for this board are read as if written at top level;
    /// other boards' are left out (but must name a known board).
    fn flatten(&mut self, items: Vec<Item>, out: &mut Vec<Item>) {
        for item in items {
            match item {
                Item::Board { name, items } => {
                    if !BOARDS.contains(&name.text.as_str()) {
                        self.error(
                            &name.span,
                            format!(
                                "unknown board `{}` (boards: {})",
                                name.text,
                                BOARDS.join(", ")
                            ),
                        );
                    } else if name.text == self.board {
                        self.flatten(items, out);
                    }
                }
                other => out.push(other),
            }
        }
    }

    /// Classes, instances, sets, machines, quotas and audit settings.
    fn declare(&mut self, items: &[Item]) {
        self.tables.subjects.push(SubjectIn {
            class: KERNEL_CLASS.into(),
            ..SubjectIn::default()
        });
        self.names.subjects.insert(KERNEL_CLASS.into(), KERNEL);
        for i in &self.world.interfaces {
            self.tables.endpoints.insert(i.endpoint, i.slots);
        }
        for item in items {
            if let Item::Class(words) = item {
                for w in words {
                    self.new_class(w);
                }
            }
        }
        for item in items {
            if let Item::Instance(words) = item {
                for w in words {
                    self.new_instance(w);
                }
            }
        }
        for item in items {
            match item {
                Item::Set { name, members } => {
                    if self.names.subjects.contains_key(&name.text)
                        || self.names.sets.contains_key(&name.text)
                        || name.text == KERNEL_ALIAS
                    {
                        self.error(&name.span, format!("`{}` is already declared", name.text));
                    } else if name.text == DEFAULT_QUOTA {
                        self.error(&name.span, "`default` is reserved (`quota default`)");
                    } else {
                        self.names
                            .sets
                            .insert(name.text.clone(), (name.clone(), members.clone()));
                    }
                }
                Item::AuditGrants => self.audit_all = true,
                _ => {}
            }
        }
        for item in items {
            if let Item::Machine {
                name,
                on,
                states,
                initial,
            } = item
            {
                self.machine(name, on, states, initial);
            }
        }
        for item in items {
            if let Item::Quota { on, items } = item {
                self.quota(on, items);
            }
        }
        self.levels(items);
        self.stores(items);
    }

    /// `map` and `hashset` declarations: each class's variables and sets
    /// get indices in its processes' policy state.
    fn stores(&mut self, items: &[Item]) {
        use policy_table::{SETS, VARS};
        let mut used_vars: HashMap<Subject, usize> = HashMap::new();
        let mut used_sets: HashMap<Subject, usize> = HashMap::new();
        for item in items {
            let (name, on, vars) = match item {
                Item::Map { name, on, vars } => (name, on, Some(vars)),
                Item::HashSet { name, on } => (name, on, None),
                _ => continue,
            };
            if self.names.stores.contains_key(&name.text)
                || self.names.machines.contains_key(&name.text)
            {
                self.error(&name.span, format!("`{}` is declared twice", name.text));
                continue;
            }
            let mut subjects = Vec::new();
            for w in on {
                let Some(ss) = self.subjects(w, false) else {
                    continue;
                };
                if ss.contains(&KERNEL) {
                    self.error(&w.span, "the kernel keeps no policy state");
                    continue;
                }
                subjects.extend(ss);
            }
            let used = if vars.is_some() {
                &mut used_vars
            } else {
                &mut used_sets
            };
            let base = subjects
                .iter()
                .map(|s| used.get(s).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            let n = vars.map_or(1, |v| v.len());
            let limit = if vars.is_some() { VARS } else { SETS };
            if base + n > limit {
                self.error(
                    &name.span,
                    format!(
                        "a process has room for {limit} {} in its policy state",
                        if vars.is_some() {
                            "map variables"
                        } else {
                            "hashsets"
                        }
                    ),
                );
                continue;
            }
            for s in &subjects {
                used.insert(*s, base + n);
            }
            let store = Store {
                vars: vars.map(|v| {
                    v.iter()
                        .enumerate()
                        .map(|(i, w)| (w.text.clone(), (base + i) as u8))
                        .collect()
                }),
                set: base as u8,
                subjects,
            };
            self.names.stores.insert(name.text.clone(), store);
        }
    }

    /// The store `w` names, which every target must have.
    fn store_of_targets(&mut self, w: &Word, targets: &BTreeSet<Subject>) -> Option<Store> {
        let Some(store) = self.names.stores.get(&w.text).cloned() else {
            self.error(&w.span, format!("unknown map or hashset `{}`", w.text));
            return None;
        };
        for t in targets {
            if !store.subjects.contains(t) {
                let class = self.tables.subjects[*t as usize].class.clone();
                self.error(&w.span, format!("the target `{class}` has no `{}`", w.text));
                return None;
            }
        }
        Some(store)
    }

    /// `Map.var`: its index, on every target.
    fn var_of_targets(&mut self, w: &Word, targets: &BTreeSet<Subject>) -> Option<u8> {
        let (map, var) = w.text.split_once('.').unwrap_or((&w.text, ""));
        let map_word = Word {
            text: map.to_string(),
            span: w.span.clone(),
        };
        let store = self.store_of_targets(&map_word, targets)?;
        let Some(vars) = store.vars else {
            self.error(&w.span, format!("`{map}` is a hashset, not a map"));
            return None;
        };
        match vars.iter().find(|(n, _)| n == var) {
            Some((_, i)) => Some(*i),
            None => {
                self.error(&w.span, format!("map `{map}` has no variable `{var}`"));
                None
            }
        }
    }

    /// A hashset's index, on every target.
    fn set_of_targets(&mut self, w: &Word, targets: &BTreeSet<Subject>) -> Option<u8> {
        let store = self.store_of_targets(w, targets)?;
        if store.vars.is_some() {
            self.error(&w.span, format!("`{}` is a map, not a hashset", w.text));
            return None;
        }
        Some(store.set)
    }

    fn integer(&mut self, v: &SpannedName) -> Option<i64> {
        match &v.value {
            Value::Num(n) => match i64::try_from(*n) {
                Ok(x) => Some(x),
                Err(_) => {
                    self.error(&v.span, "a 64-bit signed number goes here");
                    None
                }
            },
            _ => {
                self.error(&v.span, "a number goes here");
                None
            }
        }
    }

    /// One `then` effect; a hashset `add` also adds its room as a condition
    /// (a full set refuses).
    fn effect(
        &mut self,
        e: &Effect,
        r: &ast::Rule,
        slots: &[Slot],
        targets: &BTreeSet<Subject>,
        conds: &mut Vec<(CondIn, bool)>,
    ) -> Option<EffectIn> {
        if r.event == EventKw::Execute {
            // The target of a start is the new process: its state is new.
        }
        match e {
            Effect::Machine(m, st) => {
                let machine = self.machine_of_targets(m, targets)?;
                match machine.1.iter().position(|x| *x == st.text) {
                    Some(i) => Some(EffectIn::Machine(i as u8)),
                    None => {
                        self.error(
                            &st.span,
                            format!("`{}` is not a state of `{}`", st.text, m.text),
                        );
                        None
                    }
                }
            }
            Effect::Var(var, op, v) => {
                let i = self.var_of_targets(var, targets)?;
                let x = self.integer(v)?;
                Some(match op {
                    '+' => EffectIn::VarAdd(i, x),
                    '-' => match x.checked_neg() {
                        Some(n) => EffectIn::VarAdd(i, n),
                        None => {
                            self.error(&v.span, "too large to subtract");
                            return None;
                        }
                    },
                    _ => EffectIn::VarSet(i, x),
                })
            }
            Effect::Set(set, add, field) => {
                let i = self.set_of_targets(set, targets)?;
                let f = self.field(field, r.event, slots, r.event == EventKw::Execute)?;
                if !matches!(f.kind, FieldKind::Unsigned | FieldKind::Signed) {
                    self.error(&field.span, format!("`{}` is not a number", f.name));
                    return None;
                }
                let at = FieldAt {
                    offset: f.offset as u16,
                    size: f.size as u8,
                    signed: f.kind == FieldKind::Signed,
                };
                if *add {
                    conds.push((
                        CondIn::SetRoom {
                            index: i,
                            field: at,
                        },
                        false,
                    ));
                    Some(EffectIn::SetAdd(i, at))
                } else {
                    Some(EffectIn::SetRemove(i, at))
                }
            }
        }
    }

    /// `levels { ... }` once, then `level classes = name;`. The kernel is
    /// at the highest level; a class not given one is at the lowest.
    fn levels(&mut self, items: &[Item]) {
        for item in items {
            let Item::Levels(words) = item else { continue };
            if !self.names.levels.is_empty() {
                self.error(&words[0].span, "`levels` is declared twice");
                continue;
            }
            if words.len() > 16 {
                self.error(&words[16].span, "at most 16 levels");
                continue;
            }
            for (i, w) in words.iter().enumerate() {
                if words[..i].iter().any(|x| x.text == w.text) {
                    self.error(&w.span, format!("level `{}` is listed twice", w.text));
                }
            }
            self.names.levels = words.iter().map(|w| w.text.clone()).collect();
            self.tables.subjects[KERNEL as usize].level = (words.len() - 1) as u8;
        }
        for item in items {
            let Item::Level { on, level } = item else {
                continue;
            };
            let Some(l) = self.level_index(level) else {
                continue;
            };
            for (w, s, explicit) in self.targets_of(on) {
                if s == KERNEL {
                    self.error(&w.span, "the kernel is at the highest level");
                    continue;
                }
                if !explicit && self.names.explicit_level.contains(&s) {
                    continue;
                }
                self.tables.subjects[s as usize].level = l;
                if explicit {
                    self.names.explicit_level.insert(s);
                }
            }
        }
    }

    fn level_index(&mut self, w: &Word) -> Option<u8> {
        if self.names.levels.is_empty() {
            self.error(&w.span, "no `levels { ... }` declared");
            return None;
        }
        match self.names.levels.iter().position(|l| *l == w.text) {
            Some(i) => Some(i as u8),
            None => {
                let msg = format!(
                    "unknown level `{}` (levels: {})",
                    w.text,
                    self.names.levels.join(", ")
                );
                self.error(&w.span, msg);
                None
            }
        }
    }

    fn new_subject(&mut self, key: String, s: SubjectIn, span: &Span) -> Option<Subject> {
        if self.names.subjects.contains_key(&key) || key == KERNEL_ALIAS {
            self.error(span, format!("`{key}` is declared twice"));
            return None;
        }
        if key == DEFAULT_QUOTA {
            self.error(span, "`default` is reserved (`quota default`)");
            return None;
        }
        if self.tables.subjects.len() >= MAX_SUBJECTS {
            self.error(
                span,
                format!("more than {MAX_SUBJECTS} classes and instances"),
            );
            return None;
        }
        let id = self.tables.subjects.len() as Subject;
        self.tables.subjects.push(s);
        self.names.subjects.insert(key, id);
        Some(id)
    }

    fn new_class(&mut self, w: &Word) {
        if w.text.contains('@') || w.text.ends_with(".*") {
            self.error(&w.span, "a class name is dotted words (`demo.Client`)");
            return;
        }
        if w.text.len() > kos_abi::task::MAX_NAME {
            self.error(
                &w.span,
                format!("a class name is at most {} bytes", kos_abi::task::MAX_NAME),
            );
            return;
        }
        let s = SubjectIn {
            class: w.text.clone(),
            ..SubjectIn::default()
        };
        self.new_subject(w.text.clone(), s, &w.span);
    }

    fn new_instance(&mut self, w: &Word) {
        let Some((class, inst)) = w.text.split_once('@') else {
            self.error(&w.span, "an instance is written `Class@name`");
            return;
        };
        let Some(&cs) = self.names.subjects.get(class) else {
            self.error(
                &w.span,
                format!("unknown class `{class}` (declare it with `class {class};`)"),
            );
            return;
        };
        if cs == KERNEL {
            self.error(&w.span, "the kernel has no instances");
            return;
        }
        let s = SubjectIn {
            class: class.into(),
            instance: inst.into(),
            ..SubjectIn::default()
        };
        if let Some(id) = self.new_subject(w.text.clone(), s, &w.span) {
            self.names.instances.entry(cs).or_default().push(id);
        }
    }

    fn machine(&mut self, name: &Word, on: &[Word], states: &[Word], initial: &Word) {
        if self.names.machines.contains_key(&name.text) {
            self.error(
                &name.span,
                format!("machine `{}` is declared twice", name.text),
            );
            return;
        }
        if states.len() > 8 {
            self.error(&name.span, "a machine has at most 8 states");
            return;
        }
        let names: Vec<String> = states.iter().map(|s| s.text.clone()).collect();
        for (i, s) in states.iter().enumerate() {
            if names[..i].contains(&s.text) {
                self.error(&s.span, format!("state `{}` is listed twice", s.text));
            }
        }
        let Some(init) = names.iter().position(|s| *s == initial.text) else {
            self.error(
                &initial.span,
                format!("`{}` is not a state of `{}`", initial.text, name.text),
            );
            return;
        };
        let index = self.tables.machines.len() as u16;
        self.tables.machines.push(MachineIn {
            name: name.text.clone(),
            states: names.clone(),
        });
        self.names
            .machines
            .insert(name.text.clone(), (index, names));
        for w in on {
            let Some(subjects) = self.subjects(w, false) else {
                continue;
            };
            for s in subjects {
                if s == KERNEL {
                    self.error(&w.span, "the kernel has no state machine");
                    continue;
                }
                let subject = &self.tables.subjects[s as usize];
                if subject.machine.is_some() {
                    let msg = format!("`{}` already has a state machine", subject.class);
                    self.error(&w.span, msg);
                    continue;
                }
                self.tables.subjects[s as usize].machine = Some((index, init as u8));
            }
        }
    }

    fn quota(&mut self, on: &[Word], items: &[(Word, QuotaValue, Span)]) {
        let mut q = Quota::NONE;
        for (key, value, span) in items {
            let amount = |v: &QuotaValue| match v {
                QuotaValue::Amount(a) => Some(*a),
                QuotaValue::Sched(_) => None,
            };
            let small = |c: &mut Self, v: u64| -> u32 {
                u32::try_from(v).unwrap_or_else(|_| {
                    c.error(span, "too large");
                    0
                })
            };
            match (key.text.as_str(), value) {
                ("sched", QuotaValue::Sched(classes)) => {
                    q.sched = 0;
                    for c in classes {
                        match <kos_abi::sched::SchedClass as kos_abi::decl::Named>::VALUES
                            .iter()
                            .find(|(n, _)| *n == c.text)
                        {
                            Some((_, v)) => q.sched |= 1 << v,
                            None => self.error(
                                &c.span,
                                format!("unknown scheduling class `{}` (Fifo, RoundRobin, Normal)", c.text),
                            ),
                        }
                    }
                }
                ("processes", v) if amount(v).is_some() => q.processes = small(self, amount(v).unwrap_or(0)),
                ("threads", v) if amount(v).is_some() => q.threads = small(self, amount(v).unwrap_or(0)),
                ("handles", v) if amount(v).is_some() => q.handles = small(self, amount(v).unwrap_or(0)),
                ("frames", v) if amount(v).is_some() => q.frames = small(self, amount(v).unwrap_or(0)),
                ("memory", v) if amount(v).is_some() => q.memory = amount(v).unwrap_or(0),
                ("priority", v) if amount(v).is_some() => {
                    let p = amount(v).unwrap_or(0);
                    if p > u64::from(kos_abi::sched::MAX_PRIORITY) {
                        self.error(span, format!("priorities are 0..={}", kos_abi::sched::MAX_PRIORITY));
                    }
                    q.priority = p as u8;
                }
                _ => self.error(
                    &key.span,
                    format!(
                        "unknown quota `{}` (processes, threads, handles, frames, memory, priority: a number; sched: {{classes}})",
                        key.text
                    ),
                ),
            }
        }
        // `quota default { ... }`: the budget of every class without a
        // quota. Budgets only: a priority ceiling or classes there would
        // bind einit's own threads too.
        if let [w] = on
            && w.text == DEFAULT_QUOTA
        {
            if let Some((key, _, _)) = items
                .iter()
                .find(|(k, _, _)| k.text == "priority" || k.text == "sched")
            {
                self.error(
                    &key.span,
                    "a default quota sets budgets only (processes, threads, handles, frames, memory)",
                );
                return;
            }
            if self.tables.default_quota.replace(q).is_some() {
                self.error(&w.span, "the default quota is already declared");
            }
            return;
        }
        if let Some(w) = on.iter().find(|w| w.text == DEFAULT_QUOTA) {
            self.error(&w.span, "`default` stands alone in a quota");
            return;
        }
        let index = self.tables.quotas.len() as u16;
        self.tables.quotas.push(q);
        for (w, s, explicit) in self.targets_of(on) {
            if s == KERNEL {
                self.error(&w.span, "the kernel has no quota");
                continue;
            }
            if !explicit && self.names.explicit_quota.contains(&s) {
                continue;
            }
            let subject = &self.tables.subjects[s as usize];
            let again = if explicit {
                self.names.explicit_quota.contains(&s)
            } else {
                subject.quota.is_some() && subject.instance.is_empty()
            };
            if again {
                let msg = format!("`{}` already has a quota", w.text);
                self.error(&w.span, msg);
                continue;
            }
            self.tables.subjects[s as usize].quota = Some(index);
            if explicit {
                self.names.explicit_quota.insert(s);
            }
        }
    }

    /// The subjects a declaration on `on` applies to, and whether each is
    /// named as an instance (`Class@name`). An instance's own declaration
    /// wins over its class's, whatever their order: a class's declaration
    /// skips the instances that have their own.
    fn targets_of(&mut self, on: &[Word]) -> Vec<(Word, Subject, bool)> {
        let mut out = Vec::new();
        for w in on {
            let explicit = w.text.contains('@');
            let Some(subjects) = self.subjects(w, false) else {
                continue;
            };
            out.extend(subjects.into_iter().map(|s| (w.clone(), s, explicit)));
        }
        out
    }

    /// The subjects `w` names. A class includes its instances, except as
    /// the target of a process start (starting an instance needs a rule
    /// that names it).
    fn subjects(&mut self, w: &Word, start_target: bool) -> Option<Vec<Subject>> {
        let mut out = BTreeSet::new();
        let mut seen = Vec::new();
        self.subjects_into(w, start_target, &mut out, &mut seen)?;
        Some(out.into_iter().collect())
    }

    fn subjects_into(
        &mut self,
        w: &Word,
        start_target: bool,
        out: &mut BTreeSet<Subject>,
        seen: &mut Vec<String>,
    ) -> Option<()> {
        let text = if w.text == KERNEL_ALIAS {
            KERNEL_CLASS
        } else {
            w.text.as_str()
        };
        if let Some(&s) = self.names.subjects.get(text) {
            out.insert(s);
            if !start_target && !text.contains('@') {
                out.extend(self.names.instances.get(&s).into_iter().flatten().copied());
            }
            return Some(());
        }
        if let Some((_, members)) = self.names.sets.get(text).cloned() {
            if seen.contains(&w.text) {
                self.error(&w.span, format!("set `{}` contains itself", w.text));
                return None;
            }
            seen.push(w.text.clone());
            for m in &members {
                if self.method_like(&m.text) {
                    self.error(
                        &m.span,
                        format!(
                            "`{}` is a method, but set `{}` is used here as a set of classes",
                            m.text, w.text
                        ),
                    );
                    return None;
                }
                self.subjects_into(m, start_target, out, seen)?;
            }
            seen.pop();
            return Some(());
        }
        if text.contains('@') {
            self.error(
                &w.span,
                format!("unknown instance `{text}` (declare it with `instance {text};`)"),
            );
        } else if self.method_like(text) {
            self.error(
                &w.span,
                format!("`{text}` is a method; a class or a set of classes goes here"),
            );
        } else {
            self.error(
                &w.span,
                format!("unknown class or set `{text}` (declare it with `class {text};`)"),
            );
        }
        None
    }

    /// Whether `text` reads as a method (`Interface.Method`, `Interface.*`).
    fn method_like(&self, text: &str) -> bool {
        if let Some((_, members)) = self.names.sets.get(text) {
            return members
                .first()
                .is_some_and(|m| m.text != text && self.method_like(&m.text));
        }
        text.rsplit_once('.')
            .is_some_and(|(iface, _)| !self.world.interfaces_named(iface).is_empty())
    }

    /// The methods `w` names (a method, `Interface.*`, a set of methods).
    fn methods(&mut self, w: &Word, seen: &mut Vec<String>, out: &mut Vec<Slot>) -> Option<()> {
        if let Some((_, members)) = self.names.sets.get(&w.text).cloned() {
            if seen.contains(&w.text) {
                self.error(&w.span, format!("set `{}` contains itself", w.text));
                return None;
            }
            seen.push(w.text.clone());
            for m in &members {
                if self.names.subjects.contains_key(&m.text) || m.text == KERNEL_ALIAS {
                    self.error(
                        &m.span,
                        format!(
                            "`{}` is a class, but set `{}` is used here as a set of methods",
                            m.text, w.text
                        ),
                    );
                    return None;
                }
                self.methods(m, seen, out)?;
            }
            seen.pop();
            return Some(());
        }
        match resolve_method(self.world, &w.text) {
            Ok(slots) => {
                for s in slots {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
                Some(())
            }
            Err(e) => {
                self.error(&w.span, e);
                None
            }
        }
    }

    fn rule(&mut self, r: &ast::Rule) {
        let execute = r.event == EventKw::Execute;
        let Some(srcs) = self.subjects(&r.src, false) else {
            return;
        };
        let pairs: Vec<(Subject, Subject)> = match &r.dst {
            Target::Own(_) => srcs.iter().map(|&s| (s, s)).collect(),
            Target::Name(w) => {
                let Some(dsts) = self.subjects(w, execute) else {
                    return;
                };
                srcs.iter()
                    .flat_map(|&s| dsts.iter().map(move |&d| (s, d)))
                    .collect()
            }
        };
        let dst_subjects: BTreeSet<Subject> = pairs.iter().map(|p| p.1).collect();
        if matches!(
            r.event,
            EventKw::Request | EventKw::Response | EventKw::Error | EventKw::Ipc
        ) && dst_subjects.contains(&KERNEL)
        {
            self.error(&r.span, "the kernel takes calls (`call`), not messages");
            return;
        }
        if r.event == EventKw::Security && dst_subjects.iter().any(|&d| d != KERNEL) {
            self.error(
                &r.span,
                "a security question goes to the kernel: `security <class> -> kernel : ...`",
            );
            return;
        }
        if execute && dst_subjects.contains(&KERNEL) {
            self.error(&r.span, "the kernel is not started by anyone");
            return;
        }
        if r.event != EventKw::Execute && pairs.iter().any(|p| p.0 == KERNEL) {
            self.error(
                &r.src.span,
                "the kernel sends nothing but the first process's start (`execute kernel -> ...`)",
            );
            return;
        }

        // The methods.
        let kernel_methods = r.event == EventKw::Call;
        let slots: Vec<Slot> = match (&r.methods, execute) {
            (Some(m), true) => {
                let span = match m {
                    Methods::Any(s) => s.clone(),
                    Methods::List(ws) => ws[0].span.clone(),
                };
                self.error(&span, "a process start has no methods");
                return;
            }
            (None, true) => vec![],
            (None, false) => {
                self.error(
                    &r.span,
                    "which methods? end the rule with `: Interface.Method`, a set of methods or `*`",
                );
                return;
            }
            (Some(Methods::Any(_)), false) => {
                let mut v: Vec<Slot> = Vec::new();
                for (i, iface) in self.world.interfaces.iter().enumerate() {
                    if iface.kernel == kernel_methods {
                        v.extend((0..iface.methods.len()).map(|m| Slot::Method(i, m)));
                    }
                }
                v.push(Slot::Other);
                v
            }
            (Some(Methods::List(ws)), false) => {
                let mut v = Vec::new();
                for w in ws {
                    let mut one = Vec::new();
                    if self.methods(w, &mut Vec::new(), &mut one).is_none() {
                        return;
                    }
                    for s in &one {
                        if let Slot::Method(i, _) = s {
                            let iface = &self.world.interfaces[*i];
                            if iface.kernel != kernel_methods {
                                let msg = if kernel_methods {
                                    format!(
                                        "`{}` is a service; a `call` names kernel methods (services take `request`, `response`, `error`, `ipc`)",
                                        iface.name
                                    )
                                } else {
                                    format!(
                                        "`{}` is a kernel interface; kernel methods are `call`s",
                                        iface.name
                                    )
                                };
                                self.error(&w.span, msg);
                                return;
                            }
                        }
                    }
                    v.extend(one);
                }
                v
            }
        };

        // A kernel method's target is the kernel, or the process its handle
        // names: a rule naming the other can never apply.
        if r.event == EventKw::Call && !matches!(r.methods, Some(Methods::Any(_))) {
            let to_kernel = dst_subjects.contains(&KERNEL);
            let to_process = dst_subjects.iter().any(|&d| d != KERNEL);
            for s in &slots {
                let Slot::Method(i, m) = s else { continue };
                let method = &self.world.interfaces[*i].methods[*m];
                let span = match &r.dst {
                    Target::Name(w) => w.span.clone(),
                    Target::Own(s) => s.clone(),
                };
                if method.on_process && to_kernel {
                    self.error(&span, format!("`{}` is called on a process (a Task or Thread handle): its target is a class or `self`, not the kernel", method.full_name()));
                    return;
                }
                if !method.on_process && to_process {
                    self.error(
                        &span,
                        format!(
                            "`{}` is called on a kernel object: its target is `kernel`",
                            method.full_name()
                        ),
                    );
                    return;
                }
            }
        }

        // A server class with a component declaration must provide what
        // its clients are allowed to ask of it (`*` means whatever it
        // serves, and anything undeclared).
        if matches!(r.event, EventKw::Request | EventKw::Ipc)
            && !matches!(r.methods, Some(Methods::Any(_)))
        {
            for &d in &dst_subjects {
                let class = self.tables.subjects[d as usize].class.clone();
                let Some(comp) = self.world.component(&class) else {
                    continue;
                };
                for s in &slots {
                    if let Slot::Method(i, _) = s {
                        let iface = self.world.interfaces[*i].name;
                        if !comp.endpoints.iter().any(|e| e.interface == iface) {
                            let span = match &r.dst {
                                Target::Name(w) => w.span.clone(),
                                Target::Own(s) => s.clone(),
                            };
                            self.error(&span, format!("`{class}` does not provide `{iface}` (its component declaration says what it serves)"));
                            return;
                        }
                    }
                }
            }
        }

        // Conditions, typed by the fields every named method has.
        let mut conds = Vec::new();
        if r.event == EventKw::Ipc && (!r.conds.is_empty() || !r.then.is_empty()) {
            self.error(&r.span, "an `ipc` rule has no conditions or transitions: write its request and response rules apart");
            return;
        }
        if let (EventKw::Call, Target::Own(_)) = (r.event, &r.dst) {
            conds.push((CondIn::TargetSelf, false));
        }
        for c in &r.conds {
            match self.condition(c, r, &slots, &dst_subjects) {
                Some(ci) => conds.push((ci, c.negate)),
                None => return,
            }
        }
        let mut effects = Vec::new();
        for e in &r.then {
            match self.effect(e, r, &slots, &dst_subjects, &mut conds) {
                Some(x) => effects.push(x),
                None => return,
            }
        }

        let id = self.tables.rules.len() as u16;
        self.tables.rules.push(RuleIn {
            deny: r.deny,
            audit: r.audit || self.audit_all,
            effects,
            conds,
            loc: self.src.location(r.span.start),
            text: self.src.text[r.span.clone()]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        });
        let events: &[(Event, bool)] = match r.event {
            EventKw::Request => &[(Event::Request, false)],
            EventKw::Response => &[(Event::Response, false)],
            EventKw::Error => &[(Event::Error, false)],
            EventKw::Ipc => &[
                (Event::Request, false),
                (Event::Response, true),
                (Event::Error, true),
            ],
            EventKw::Call => &[(Event::Call, false)],
            EventKw::Execute => &[(Event::Execute, false)],
            EventKw::Security => &[(Event::Security, false)],
        };
        for &(event, swap) in events {
            for &(s, d) in &pairs {
                let (a, b) = if swap { (d, s) } else { (s, d) };
                let slot_ids: Vec<usize> = if execute {
                    vec![policy_table::EXECUTE_SLOT]
                } else if matches!(r.methods, Some(Methods::Any(_))) {
                    // `*`: every method slot, declared or not (ids a
                    // declaration skips included).
                    (1..self.tables.methods()).collect()
                } else {
                    slots.iter().map(|s| self.slot_index(event, s)).collect()
                };
                for slot in slot_ids {
                    let list = self.tables.slots.entry((event, a, b, slot)).or_default();
                    if !list.contains(&id) {
                        list.push(id);
                    }
                }
            }
        }
    }

    fn slot_index(&self, event: Event, s: &Slot) -> usize {
        match s {
            Slot::Method(i, m) => {
                let iface = &self.world.interfaces[*i];
                self.tables
                    .slot(event, iface.endpoint, iface.methods[*m].id)
            }
            Slot::Other => self.tables.other_slot(),
        }
    }

    /// The machine `m`, which every target must have.
    fn machine_of_targets(
        &mut self,
        m: &Word,
        targets: &BTreeSet<Subject>,
    ) -> Option<(u16, Vec<String>)> {
        let Some(machine) = self.names.machines.get(&m.text).cloned() else {
            self.error(&m.span, format!("unknown machine `{}`", m.text));
            return None;
        };
        for &t in targets {
            if self.tables.subjects[t as usize].machine.map(|x| x.0) != Some(machine.0) {
                let class = self.tables.subjects[t as usize].class.clone();
                self.error(
                    &m.span,
                    format!("the target `{class}` has no machine `{}`", m.text),
                );
                return None;
            }
        }
        Some(machine)
    }

    fn condition(
        &mut self,
        c: &ast::Cond,
        r: &ast::Rule,
        slots: &[Slot],
        targets: &BTreeSet<Subject>,
    ) -> Option<CondIn> {
        let execute = r.event == EventKw::Execute;
        let field_word = match &c.kind {
            CondKind::Level(lhs, op, rhs) => {
                use policy_table::format::{LEVEL_SOURCE, LEVEL_TARGET, LEVEL_VALUE};
                let side = |c: &mut Self, l: &LevelOf| -> Option<(u32, u64)> {
                    match l {
                        LevelOf::Source => Some((LEVEL_SOURCE, 0)),
                        LevelOf::Target => Some((LEVEL_TARGET, 0)),
                        LevelOf::Named(w) => c.level_index(w).map(|i| (LEVEL_VALUE, u64::from(i))),
                    }
                };
                if self.names.levels.is_empty() {
                    self.error(&c.span, "no `levels { ... }` declared");
                    return None;
                }
                let (lhs, _) = side(self, lhs)?;
                let (rhs, value) = side(self, rhs)?;
                return Some(CondIn::Level {
                    lhs,
                    op: op_code(*op),
                    rhs,
                    value,
                });
            }
            CondKind::Var(var, op, v) => {
                let index = self.var_of_targets(var, targets)?;
                let value = self.integer(v)?;
                return Some(CondIn::VarCmp {
                    index,
                    op: op_code(*op),
                    value,
                });
            }
            CondKind::Member(field, set) => {
                let index = self.set_of_targets(set, targets)?;
                let f = self.field(field, r.event, slots, execute)?;
                if !matches!(f.kind, FieldKind::Unsigned | FieldKind::Signed) {
                    self.error(&field.span, format!("`{}` is not a number", f.name));
                    return None;
                }
                return Some(CondIn::SetHas {
                    index,
                    field: FieldAt {
                        offset: f.offset as u16,
                        size: f.size as u8,
                        signed: f.kind == FieldKind::Signed,
                    },
                });
            }
            CondKind::TargetIs(is_self) => {
                if r.event != EventKw::Call {
                    self.error(
                        &c.span,
                        "`target is ...` applies to kernel calls on a process (`call`)",
                    );
                    return None;
                }
                return Some(if *is_self {
                    CondIn::TargetSelf
                } else {
                    CondIn::TargetChild
                });
            }
            CondKind::In(f, _) | CondKind::Has(f, _) | CondKind::Cmp(f, _, _) => f,
        };
        // A machine's state.
        if self.names.machines.contains_key(&field_word.text) {
            let machine = self.machine_of_targets(field_word, targets)?;
            let names: Vec<&SpannedName> = match &c.kind {
                CondKind::In(_, vs) => vs.iter().collect(),
                CondKind::Cmp(_, CmpOp::Eq, v) => vec![v],
                _ => {
                    self.error(
                        &c.span,
                        "a state is tested with `machine in {states}` or `machine == state`",
                    );
                    return None;
                }
            };
            let mut mask = 0u64;
            for v in names {
                let Value::Name(n) = &v.value else {
                    self.error(&v.span, "a state name goes here");
                    return None;
                };
                match machine.1.iter().position(|s| s == n) {
                    Some(i) => mask |= 1 << i,
                    None => {
                        self.error(
                            &v.span,
                            format!("`{n}` is not a state of `{}`", field_word.text),
                        );
                        return None;
                    }
                }
            }
            return Some(CondIn::StateIn(mask));
        }
        let field = self.field(field_word, r.event, slots, execute)?;
        let fat = FieldAt {
            offset: field.offset as u16,
            size: field.size as u8,
            signed: field.kind == FieldKind::Signed,
        };
        if field.kind == FieldKind::Arena && !execute {
            // The kernel decides on the fixed part it snapshotted; strings
            // in the arena are not part of it (a process start's name and
            // path are: the kernel reads them first).
            self.error(
                &field_word.span,
                format!("`{}` is a string in the message's arena: conditions read the fixed part only (strings: a process start's `name` and `path`)", field.name),
            );
            return None;
        }
        if field.kind == FieldKind::Arena {
            // The strings of a process start.
            let path = field.name == "path";
            let strings = |c: &mut Self, vs: &[&SpannedName]| -> Option<Vec<String>> {
                vs.iter()
                    .map(|v| match &v.value {
                        Value::Str(s) => Some(s.clone()),
                        _ => {
                            c.error(&v.span, "a string goes here");
                            None
                        }
                    })
                    .collect()
            };
            return match &c.kind {
                CondKind::In(_, vs) => {
                    let vs: Vec<&SpannedName> = vs.iter().collect();
                    Some(CondIn::StrIn {
                        path,
                        strings: strings(self, &vs)?,
                    })
                }
                CondKind::Cmp(_, CmpOp::Eq, v) => Some(CondIn::StrIn {
                    path,
                    strings: strings(self, &[v])?,
                }),
                _ => {
                    self.error(
                        &c.span,
                        format!(
                            "`{}` is a string: test it with `==` or `in {{...}}` (and `not`)",
                            field.name
                        ),
                    );
                    None
                }
            };
        }
        if field.kind == FieldKind::Other {
            self.error(
                &field_word.span,
                format!(
                    "`{}` is not a number: conditions cannot read it",
                    field.name
                ),
            );
            return None;
        }
        match &c.kind {
            CondKind::Has(_, bit) => {
                if !field.flags {
                    self.error(&c.span, format!("`{}` is not a set of flags", field.name));
                    return None;
                }
                let v = self.named_value(&field, &bit.text, &bit.span)?;
                Some(CondIn::FieldHas {
                    field: fat,
                    mask: v,
                })
            }
            CondKind::In(_, vs) => {
                let mut values = Vec::new();
                for v in vs {
                    values.push(self.value(&field, v)?);
                }
                Some(CondIn::FieldIn { field: fat, values })
            }
            CondKind::Cmp(_, op, v) => {
                let value = self.value(&field, v)?;
                let op = match op {
                    CmpOp::Eq => OP_EQ,
                    CmpOp::Ne => OP_NE,
                    CmpOp::Lt => OP_LT,
                    CmpOp::Le => OP_LE,
                    CmpOp::Gt => OP_GT,
                    CmpOp::Ge => OP_GE,
                };
                Some(CondIn::FieldCmp {
                    field: fat,
                    op,
                    value,
                })
            }
            CondKind::TargetIs(_)
            | CondKind::Level(..)
            | CondKind::Var(..)
            | CondKind::Member(..) => None,
        }
    }

    /// The field `w` of every method the rule names (same place, same
    /// type), or of a process start.
    fn field(
        &mut self,
        w: &Word,
        event: EventKw,
        slots: &[Slot],
        execute: bool,
    ) -> Option<FieldInfo> {
        let result = field_of(self.world, &w.text, event, slots, execute);
        match result {
            Ok(f) => Some(f),
            Err(e) => {
                self.error(&w.span, e);
                None
            }
        }
    }

    fn named_value(&mut self, field: &FieldInfo, name: &str, span: &Span) -> Option<u64> {
        match field.values.iter().find(|(n, _)| n == name) {
            Some((_, v)) => Some(*v),
            None => {
                let known: Vec<&str> = field.values.iter().map(|(n, _)| n.as_str()).collect();
                self.error(
                    span,
                    if known.is_empty() {
                        format!("`{}` takes numbers", field.name)
                    } else {
                        format!(
                            "`{name}` is not a value of `{}` ({})",
                            field.name,
                            known.join(", ")
                        )
                    },
                );
                None
            }
        }
    }

    fn value(&mut self, field: &FieldInfo, v: &SpannedName) -> Option<u64> {
        match &v.value {
            Value::Num(n) => match number_fits(field, *n) {
                Some(x) => Some(x),
                None => {
                    self.error(
                        &v.span,
                        format!("{n} does not fit `{}` ({} bytes)", field.name, field.size),
                    );
                    None
                }
            },
            Value::Name(n) => self.named_value(field, n, &v.span),
            Value::Str(_) => {
                self.error(
                    &v.span,
                    format!("`{}` is a number, not a string", field.name),
                );
                None
            }
        }
    }
}

type SpannedName = ast::SpannedValue;

fn op_code(op: CmpOp) -> u8 {
    match op {
        CmpOp::Eq => OP_EQ,
        CmpOp::Ne => OP_NE,
        CmpOp::Lt => OP_LT,
        CmpOp::Le => OP_LE,
        CmpOp::Gt => OP_GT,
        CmpOp::Ge => OP_GE,
    }
}

/// A number as a field of this size and sign holds it (bits as stored).
pub(crate) fn number_fits(field: &FieldInfo, n: i128) -> Option<u64> {
    let bits = 8 * field.size as u32;
    if field.kind == FieldKind::Signed {
        let min = -(1i128 << (bits - 1));
        let max = (1i128 << (bits - 1)) - 1;
        (min..=max).contains(&n).then_some(n as i64 as u64)
    } else {
        let max = if bits >= 64 {
            u64::MAX as i128
        } else {
            (1i128 << bits) - 1
        };
        (0..=max).contains(&n).then_some(n as u64)
    }
}

/// `Interface.Method`, `Interface.*` (the interface by its full name or a
/// unique last part: `Task.Exit`).
pub(crate) fn resolve_method(world: &World, text: &str) -> Result<Vec<Slot>, String> {
    let Some((iface, method)) = text.rsplit_once('.') else {
        return Err(format!(
            "unknown method or set `{text}` (methods are `Interface.Method`)"
        ));
    };
    let found = world.interfaces_named(iface);
    let i = match found.as_slice() {
        [] => return Err(format!("unknown interface `{iface}`")),
        [one] => world
            .interfaces
            .iter()
            .position(|x| x.name == one.name)
            .expect("found above"),
        many => {
            let names: Vec<&str> = many.iter().map(|i| i.name).collect();
            return Err(format!("`{iface}` is ambiguous: {}", names.join(", ")));
        }
    };
    let info = &world.interfaces[i];
    if method == "*" {
        return Ok((0..info.methods.len())
            .map(|m| Slot::Method(i, m))
            .collect());
    }
    match info.methods.iter().position(|m| m.name == method) {
        Some(m) => Ok(vec![Slot::Method(i, m)]),
        None => {
            let names: Vec<&str> = info.methods.iter().map(|m| m.name).collect();
            Err(format!(
                "`{}` has no method `{method}` (it has {})",
                info.name,
                names.join(", ")
            ))
        }
    }
}

/// The field `name` common to every slot (or of a process start).
pub(crate) fn field_of(
    world: &World,
    name: &str,
    event: EventKw,
    slots: &[Slot],
    execute: bool,
) -> Result<FieldInfo, String> {
    if execute {
        return world
            .execute_fields
            .iter()
            .find(|f| f.name == name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = world
                    .execute_fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect();
                format!(
                    "a process start has no field `{name}` (it has {})",
                    names.join(", ")
                )
            });
    }
    let mut found: Option<FieldInfo> = None;
    for s in slots {
        let Slot::Method(i, m) = s else {
            return Err(format!("undeclared methods (`*`) have no field `{name}`"));
        };
        let method: &MethodInfo = &world.interfaces[*i].methods[*m];
        // A response or error carries the reply's fields.
        let fields = match event {
            EventKw::Response | EventKw::Error => &method.results,
            _ => &method.fields,
        };
        let Some(f) = fields.iter().find(|f| f.name == name) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "`{}` has no field `{name}`{}",
                method.full_name(),
                if names.is_empty() {
                    " (it has none)".to_string()
                } else {
                    format!(" (it has {})", names.join(", "))
                }
            ));
        };
        if f.offset + f.size > policy_table::MAX_FIXED {
            return Err(format!(
                "`{name}` lies beyond the first {} bytes of the fixed part, which conditions read",
                policy_table::MAX_FIXED
            ));
        }
        match &found {
            Some(prev) if prev.offset != f.offset || prev.size != f.size || prev.kind != f.kind => {
                return Err(format!(
                    "`{name}` is not the same field in every method of this rule"
                ));
            }
            _ => found = Some(f.clone()),
        }
    }
    found.ok_or_else(|| format!("no method names a field `{name}`"))
}

impl Compiled {
    /// The subject of a class or `class@instance` (or `kernel`).
    pub fn subject(&self, name: &str) -> Option<Subject> {
        let key = if name == KERNEL_ALIAS {
            KERNEL_CLASS
        } else {
            name
        };
        self.names.subjects.get(key).copied()
    }

    /// The classes and instances the policy names.
    pub fn subject_names(&self) -> Vec<String> {
        let mut v: Vec<(Subject, String)> = self
            .names
            .subjects
            .iter()
            .map(|(k, &s)| (s, k.clone()))
            .collect();
        v.sort();
        v.into_iter().map(|x| x.1).collect()
    }

    /// One declared method by name.
    pub fn method(&self, text: &str) -> Result<&MethodInfo, String> {
        match resolve_method(&self.world, text)?.as_slice() {
            [Slot::Method(i, m)] => Ok(&self.world.interfaces[*i].methods[*m]),
            _ => Err(format!("`{text}` names more than one method")),
        }
    }

    /// The quota of processes of `s` (its own, else the default).
    pub fn quota(&self, s: Subject) -> policy_table::Quota {
        policy_table::Policy::parse(self.bytes.bytes())
            .map_or(policy_table::Quota::NONE, |p| p.quota(s))
    }

    /// Whether a static channel from `client` to `server` for `interface`
    /// would work: the policy grants its requests and their responses.
    /// (Checks made where channels are declared call this.)
    pub fn channel_allowed(&self, client: Subject, server: Subject, interface: &str) -> bool {
        let policy = match policy_table::Policy::parse(self.bytes.bytes()) {
            Ok(p) => p,
            Err(_) => return false,
        };
        let Some(iface) = self.world.interfaces.iter().find(|i| i.name == interface) else {
            return false;
        };
        iface.methods.iter().any(|m| {
            let rq = policy_table::Query::new(Event::Request, client, server, m.endpoint, m.id);
            let rs = policy_table::Query::new(Event::Response, server, client, m.endpoint, m.id);
            policy.decide(&rq).granted && policy.decide(&rs).granted
        })
    }
}
