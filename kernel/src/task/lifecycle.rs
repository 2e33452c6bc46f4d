//! Creating and ending processes and threads: `Task.Create`'s loading,
//! the initial thread, `Resume`, a process's end (its threads, handles,
//! memory and waiters), thread creation and exit.

use alloc::vec::Vec;

use kos_abi::sched::{SchedClass, SchedPolicy};
use kos_abi::task::{
    CreateFlags, DEFAULT_KERNEL_RIGHTS, DEFAULT_TASK_RIGHTS, ExitInfo, ExitStatus,
};
use kos_abi::{Handle, Rc, Rights};

use super::budget::{self, Kind, Slot};
use super::object::Object;
use super::process::{
    DEFAULT_QUOTA_FRAMES, Lifecycle, MAX_HANDLES, MAX_THREADS_PER_PROCESS, Process,
};
use super::resume::{Fill, PageOp};
use super::space::{AddressSpace, RegionKind};
use super::thread::{Pid, State, Thread, Tid, Wait};
use super::{Kernel, MAX_THREADS, loader, process, qid, slab_err};
use crate::arch::user;
use kernel_core::addr::PAGE_SIZE;
use kernel_core::handles::HandleTable;
use kernel_core::paging::Attrs;

impl Kernel {
    /// Create a process (not started: see [`Kernel::resume`]): from the ELF
    /// `image` — a position-independent one at a load offset drawn from the
    /// creator's ASLR generator — or, without one, empty, to be filled by
    /// its creator (VmReserve, LoadSeg, SetEntry...).
    #[allow(clippy::too_many_arguments, reason = "the fields of Task.Create")]
    pub fn create_process(
        &mut self,
        creator: Option<Pid>,
        name: &str,
        eiid: &str,
        path: &str,
        image: Option<&'static [u8]>,
        stack_size: u64,
        priority: u32,
        flags: CreateFlags,
        label: (u16, policy_table::State, u8),
    ) -> Result<Pid, Rc> {
        use kos_abi::sched::MAX_PRIORITY;
        use kos_abi::vm::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE};
        if name.is_empty() || priority > MAX_PRIORITY || stack_size > MAX_STACK_SIZE {
            return Err(Rc::InvalidArgument);
        }
        let name_s = heapless::String::try_from(name).map_err(|_| Rc::InvalidArgument)?;
        let eiid_s = heapless::String::try_from(eiid).map_err(|_| Rc::InvalidArgument)?;
        let path_s = heapless::String::try_from(path).map_err(|_| Rc::InvalidArgument)?;
        if self
            .procs
            .iter()
            .any(|(_, p)| p.is_running_or_created() && p.name == name_s)
        {
            return Err(Rc::AlreadyExists);
        }
        if self.threads.len() >= MAX_THREADS {
            return Err(Rc::QuotaExceeded);
        }
        // The policy's quotas: the creator's (the priority it may give) and
        // the new process's own (its priority ceiling and classes, and the
        // limits of its budget, its address space and its handle table).
        // The first process's are its class's own, if any: it holds the
        // machine, not the default share of classes without a quota.
        crate::security::sched_allowed(label.0, SchedClass::Normal, priority)?;
        let creator = creator.filter(|&c| self.procs.get(c).is_some());
        let quota = match creator {
            Some(_) => crate::security::quota(label.0),
            None => crate::security::own_quota(label.0),
        };
        if let Some(c) = creator.and_then(|c| self.procs.get(c)) {
            crate::security::sched_allowed(c.subject, SchedClass::Normal, priority)?;
        }
        // Room for the process first: its address space is not dropped
        // lightly (frames and an ASID would leak).
        self.procs.reserve_one().map_err(slab_err)?;
        // It counts as one of its creator's (and their creators')
        // processes, and its budget is opened under its creator's.
        let slot = Slot::of(Pid {
            index: self.procs.next_index(),
            generation: 0,
        });
        let creator_slot = creator.map(Slot::of);
        if let Some(c) = creator_slot {
            budget::charge(c, Kind::Processes, 1)?;
        }
        // The first process holds the machine (within its class's own
        // quota, if any); every other its class's quota, carved from its
        // creator's.
        let limits = match creator_slot {
            Some(_) => budget::limits(&quota),
            None => budget::within(budget::machine(), budget::limits(&quota)),
        };
        budget::open(slot, creator_slot, limits);
        let undo = move || {
            if let Some(c) = creator_slot {
                budget::uncharge(c, Kind::Processes, 1);
            }
        };
        let stack_size = if stack_size == 0 {
            DEFAULT_STACK_SIZE
        } else {
            stack_size
        };

        let parent = creator.and_then(|c| self.procs.get(c)).map_or(0, |c| c.pid);
        let affinity = creator
            .and_then(|c| self.procs.get(c))
            .map_or(super::cpus::DEFAULT_AFFINITY, |c| c.affinity);
        // The child's own generator is seeded from its creator's, so that
        // reseeding the creator makes its children's placements repeat.
        let aslr = match creator.and_then(|c| self.procs.get_mut(c)) {
            Some(c) => &mut c.aslr,
            None => &mut self.boot_aslr,
        };
        let child_seed = aslr.next_u64();
        let space = AddressSpace::new(DEFAULT_QUOTA_FRAMES.min(quota.frames as usize), Some(slot));
        let mut space = match space {
            Ok(s) => s,
            Err(e) => {
                undo();
                return Err(e);
            }
        };
        let loaded = match image {
            Some(image) => loader::load(&mut space, path, image, aslr).map(Some),
            None => Ok(None),
        };
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                space.destroy(|_| {});
                undo();
                return Err(e);
            }
        };

        let pid_num = self.fresh_pid();
        let proc = Process {
            pid: pid_num,
            name: name_s,
            eiid: eiid_s,
            path: path_s,
            flags,
            lifecycle: Lifecycle::Created,
            space: Some(space),
            handles: HandleTable::new(MAX_HANDLES.min(quota.handles as usize)),
            threads: Vec::new(),
            stack_size,
            exit: ExitInfo::default(),
            handle_refs: 0,
            waiters: Vec::new(),
            env: None,
            statics: Vec::new(),
            load_offset: loaded.as_ref().map_or(0, |l| l.load_offset),
            syms: loaded
                .as_ref()
                .and_then(|l| l.syms)
                .map(|(s, t)| process::Syms::Romfs(s, t)),
            elf_hdr: None,
            aslr: kernel_core::aslr::Aslr::new(child_seed),
            initial: (SchedClass::Normal, priority, 0),
            affinity,
            fault_thread: None,
            subject: label.0,
            policy: label.1,
            level: label.2,
            kmem: 0,
            parent,
            creator,
        };
        let pid = match self.procs.insert(proc) {
            Ok(pid) => pid,
            // Reserved above: cannot happen.
            Err(e) => {
                undo();
                return Err(slab_err(e));
            }
        };
        debug_assert_eq!(Slot::of(pid), slot);
        // Its handle table, whole, charged to its memory; then the
        // well-known handles: itself (index 0) and the kernel (index 1),
        // with every right for the first process and the least a program
        // needs for the rest (their creator may give more before Resume:
        // SetInitialRights).
        let (own, kernel) = match creator {
            None => (Rights::all(), Rights::all()),
            Some(_) => (DEFAULT_TASK_RIGHTS, DEFAULT_KERNEL_RIGHTS),
        };
        let setup = self
            .reserve_handle_table(pid)
            .and_then(|()| self.add_handle(pid, Object::Task(pid), own))
            .and_then(|h| {
                debug_assert_eq!(h, Handle::SELF_TASK);
                self.add_handle(pid, Object::Kernel, kernel)
            })
            .and_then(|_| match &loaded {
                Some(l) => self.make_initial_thread(pid, l.entry).map(|_| ()),
                None => Ok(()),
            });
        if let Err(e) = setup {
            self.end_process(pid, ExitStatus::Terminated, 0, None);
            self.reap(pid);
            return Err(e);
        }
        Ok(pid)
    }

    /// Reserve `pid`'s handle table to its limit and charge it to its
    /// memory: handles never grow the kernel heap afterwards.
    fn reserve_handle_table(&mut self, pid: Pid) -> Result<(), Rc> {
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        // The limit it was made with (`create_process`).
        let limit = p.handles.limit();
        self.charge(
            pid,
            0,
            HandleTable::<super::object::Cap>::size_for(limit) as u64,
        )?;
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        p.handles.reserve_all()
    }

    /// The initial thread of a not-yet-started process, at `entry`, with
    /// its initial policy. Its stack (of the process's stack size) comes
    /// when the process starts ([`Kernel::main_stack_in_steps`]).
    pub fn make_initial_thread(&mut self, pid: Pid, entry: u64) -> Result<Tid, Rc> {
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        if !p.threads.is_empty() {
            return Err(Rc::AlreadyExists);
        }
        let (initial, stack_size) = (p.initial, p.stack_size);
        // The start-up code finds its stack size in x2.
        self.add_user_thread(pid, entry, None, initial, |t| t.frame.x[2] = stack_size)
    }

    /// The stack of a process's initial thread, made before it first runs:
    /// in steps (`task::resume`) for `Task.Resume`, which makes its call
    /// again while this is false; at once (`stepped` false) for the first
    /// process, which the kernel starts itself.
    pub fn main_stack_in_steps(&mut self, pid: Pid, stepped: bool) -> Result<bool, Rc> {
        let p = self.procs.get(pid).ok_or(Rc::InvalidArgument)?;
        let main = match p.threads.first() {
            Some(&main) if p.lifecycle == Lifecycle::Created => main,
            _ => return Ok(true),
        };
        if self.thread(main).is_none_or(|t| t.stack_base != 0) {
            return Ok(true);
        }
        let size = p.stack_size;
        let stack = if stepped {
            self.stack_in_steps(pid, size)?
        } else {
            let space = self.process_mut(pid).and_then(|p| p.space.as_mut());
            let top = space.ok_or(Rc::Busy)?.new_stack(size)?;
            Some((top - size.next_multiple_of(PAGE_SIZE), top))
        };
        let Some((base, top)) = stack else {
            return Ok(false);
        };
        if let Some(t) = self.thread_mut(main) {
            t.frame.sp_el0 = top;
            t.stack_base = base;
        }
        Ok(true)
    }

    /// A new thread stack of `size` bytes (with its guard) in `pid`,
    /// mapped in steps (`task::resume`): `Some((base, top))` once made,
    /// `None` if the call must come back for the rest.
    fn stack_in_steps(&mut self, pid: Pid, size: u64) -> Result<Option<(u64, u64)>, Rc> {
        let stack =
            |op: &PageOp| matches!(op, PageOp::Map { kind, .. } if *kind == RegionKind::Stack);
        self.pages_in_steps(pid, stack, |k| {
            let space = k.process_mut(pid).and_then(|p| p.space.as_mut());
            let base = space.ok_or(Rc::Busy)?.begin_stack(size)?;
            let op = PageOp::Map {
                attrs: Attrs::USER_DATA,
                kind: RegionKind::Stack,
                fill: Fill::Zero,
            };
            Ok((base, op))
        })
    }

    /// `THREAD_EXIT` of `tid`: its stack (up to 8 MiB) is unmapped in
    /// steps first (`task::resume`) unless its process ends with it (then
    /// [`Kernel::thread_exit`] leaves it to `reclaim`). False while the
    /// call must come back.
    pub fn thread_exit_in_steps(&mut self, tid: Tid, code: i64) -> bool {
        let Some((pid, base)) = self.thread(tid).map(|t| (t.process, t.stack_base)) else {
            return true;
        };
        let alone = self
            .procs
            .get(pid)
            .is_none_or(|p| p.threads.as_slice() == [tid]);
        if base != 0 && !alone {
            let stack = PageOp::Unmap {
                kind: RegionKind::Stack,
            };
            let done = self.pages_in_steps(
                pid,
                |op| *op == stack,
                |k| {
                    let space = k.process_mut(pid).and_then(|p| p.space.as_mut());
                    let space = space.ok_or(Rc::Busy)?;
                    let size = space.region_of(base).map_or(0, |r| r.end - r.start);
                    space.begin_unmap(base, size, RegionKind::Stack)?;
                    Ok((base, stack))
                },
            );
            match done {
                Ok(None) => return false,
                // Gone, guard and all (or never there).
                Ok(Some(_)) | Err(_) => {
                    if let Some(t) = self.thread_mut(tid) {
                        t.stack_base = 0;
                    }
                }
            }
        }
        self.thread_exit(tid, code);
        true
    }

    /// A thread of `pid` at `entry` on `stack` (base, top: made already,
    /// or none yet), with its policy (class, priority, quantum) and
    /// `setup` applied to it, registered; on failure its stack is released
    /// again, at once (the callers check first what could refuse it).
    fn add_user_thread(
        &mut self,
        pid: Pid,
        entry: u64,
        stack: Option<(u64, u64)>,
        (class, priority, quantum): (SchedClass, u32, u32),
        setup: impl FnOnce(&mut Thread),
    ) -> Result<Tid, Rc> {
        let (base, top) = stack.unwrap_or((0, 0));
        let release = |k: &mut Kernel| {
            if let Some(space) = k.procs.get_mut(pid).and_then(|p| p.space.as_mut())
                && base != 0
            {
                space.release(base);
            }
        };
        let Some(p) = self.procs.get(pid) else {
            return Err(Rc::Busy);
        };
        let (subject, affinity) = (p.subject, p.affinity);
        let ttbr0 = p
            .space
            .as_ref()
            .map_or(0, |s| user::ttbr0(s.root(), s.asid()));
        // The policy's quota of the process's class: threads, priority
        // ceiling, scheduling classes.
        let made = crate::security::sched_allowed(subject, class, priority)
            .and_then(|()| {
                budget::fits(Slot::of(pid), Kind::Threads, 1)
                    .then_some(())
                    .ok_or(Rc::QuotaExceeded)
            })
            .and_then(|()| {
                Thread::try_new(pid, 0, class, priority, quantum).ok_or(Rc::OutOfMemory)
            });
        let mut t = match made {
            Ok(t) => t,
            Err(e) => {
                release(self);
                return Err(e);
            }
        };
        t.subject = subject;
        t.affinity = affinity;
        t.ttbr0 = ttbr0;
        t.frame.elr = entry;
        t.frame.spsr = user::SPSR_EL0;
        t.frame.sp_el0 = top;
        t.stack_base = base;
        setup(&mut t);
        self.add_thread(pid, t).inspect_err(|_| release(self))
    }

    pub(super) fn add_thread(&mut self, pid: Pid, mut t: Thread) -> Result<Tid, Rc> {
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        if p.threads.len() >= MAX_THREADS_PER_PROCESS {
            return Err(Rc::QuotaExceeded);
        }
        p.threads.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
        // Room in the sleepers' list for every thread, so that blocking with
        // a deadline never has to grow it.
        let want = self.threads.len() + 1;
        self.sleepers
            .try_reserve(want.saturating_sub(self.sleepers.len()))
            .map_err(|_| Rc::OutOfMemory)?;
        budget::charge(Slot::of(pid), Kind::Threads, 1)?;
        if let Err(e) = self.charge(pid, 0, super::THREAD_KMEM) {
            budget::uncharge(Slot::of(pid), Kind::Threads, 1);
            return Err(e);
        }
        t.tid = self.fresh_tid();
        let tid = match self.threads.insert(t) {
            Ok(tid) => tid,
            Err(e) => {
                self.charge(pid, super::THREAD_KMEM, 0).ok();
                budget::uncharge(Slot::of(pid), Kind::Threads, 1);
                return Err(slab_err(e));
            }
        };
        if let Some(p) = self.procs.get_mut(pid) {
            p.threads.push(tid);
        }
        Ok(tid)
    }

    /// Free an ended process nobody names any more.
    /// Its record stays while it has descendants (their budgets are carved
    /// from its account); freeing it may let its ended creator go too.
    pub(super) fn reap(&mut self, pid: Pid) {
        let mut next = Some(pid);
        while let Some(pid) = next.take() {
            let Some(p) = self.procs.get(pid) else {
                return;
            };
            if p.lifecycle != Lifecycle::Ended
                || p.handle_refs != 0
                || budget::used(Slot::of(pid), Kind::Processes) != 0
            {
                return;
            }
            // What is still charged to its memory (ELF blobs, the state of
            // threads others still name) goes with the record.
            budget::uncharge(Slot::of(pid), Kind::Memory, p.kmem);
            let creator = p.creator;
            self.procs.delete(pid);
            if let Some(c) = creator {
                budget::uncharge(Slot::of(c), Kind::Processes, 1);
                next = Some(c);
            }
        }
    }

    /// Free a dead thread nobody names any more (never one a core still
    /// runs: its frame is in use until that core switches away, and that
    /// switch frees it).
    pub(super) fn reap_thread(&mut self, tid: Tid) {
        if let Some(t) = self.threads.get(tid)
            && t.state == State::Dead
            && t.handle_refs == 0
            && self.running_on(tid).is_none()
        {
            let pid = t.process;
            self.threads.delete(tid);
            self.charge(pid, super::THREAD_KMEM, 0).ok();
        }
    }

    /// Start a created process's initial thread.
    pub fn resume(&mut self, pid: Pid) -> Result<(), Rc> {
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        if p.lifecycle != Lifecycle::Created {
            return Err(Rc::Busy);
        }
        // An empty process needs its entry point first.
        let main = *p.threads.first().ok_or(Rc::InvalidArgument)?;
        p.lifecycle = Lifecycle::Running;
        let env = p.env;
        if let Some(t) = self.threads.get_mut(main)
            && let Some((addr, len)) = env
        {
            t.frame.x[0] = addr;
            t.frame.x[1] = len;
        }
        self.make_ready(main);
        Ok(())
    }

    /// End a process: every thread dies, memory and handles are released,
    /// waiters learn how it ended. The exit information stays until the
    /// last handle to it is closed.
    pub fn end_process(
        &mut self,
        pid: Pid,
        status: ExitStatus,
        code: i64,
        fault: Option<ExitInfo>,
    ) {
        let Some(p) = self.procs.get_mut(pid) else {
            return;
        };
        if p.lifecycle == Lifecycle::Ended {
            return;
        }
        p.lifecycle = Lifecycle::Ended;
        p.exit = fault.unwrap_or_default();
        p.exit.status = status as u32;
        p.exit.code = code;
        // What it kept in the kernel heap for its own use goes now: its
        // symbol tables, ELF header and handle table.
        let kept = p.syms.take().map_or(0, |s| s.kmem())
            + p.elf_hdr.take().map_or(0, |h| h.len())
            + HandleTable::<super::object::Cap>::size_for(p.handles.limit());
        let threads = core::mem::take(&mut p.threads);
        budget::uncharge(Slot::of(pid), Kind::Threads, threads.len() as u64);
        budget::uncharge(Slot::of(pid), Kind::Handles, p.handles.len() as u64);
        let waiters = core::mem::take(&mut p.waiters);
        let mut handles = core::mem::replace(&mut p.handles, HandleTable::new(0));
        let statics = core::mem::take(&mut p.statics);
        let space = p.space.take();
        let info = p.exit;
        let is_init = self.init == Some(pid);

        self.charge(pid, kept as u64, 0).ok();
        for tid in threads {
            self.kill_thread(tid, code);
        }
        for e in handles.drain() {
            self.drop_cap(e.object, e.rights);
        }
        for s in statics {
            self.release(Object::Channel(s.channel), s.rights());
        }
        if let Some(space) = space {
            if self.here.loaded_asid == space.asid() {
                user::switch_space(self.empty_root, 0);
                self.here.loaded_asid = 0;
            }
            // Released as they are found: nothing here may fail to allocate.
            let mut space = space;
            space.bury(|m| self.release(Object::Mdl(m), Rights::empty()));
            // Its table and ASID go once no core holds them (a core that
            // ran one of its threads was told to switch away above).
            let cpus = self.cpus_asids();
            self.reclaim.space(space, |a| cpus.contains(&a));
        }
        self.notify(Object::Task(pid), kos_abi::msg::notice::OBJECT_DESTROYED);
        let pid_num = self.procs.get(pid).map_or(0, |p| p.pid);
        self.notify_task_end(pid_num);
        self.subs.retain(|s| s.object != Object::Task(pid));
        for w in waiters {
            self.complete_task_wait(w, &info);
        }
        if is_init {
            init_ended(&info);
        }
        self.reap(pid);
    }

    /// The next PID: counting up, never 0, and never one a live process
    /// has (`kernel_core::ids`: after 2^32 starts the counter wraps).
    fn fresh_pid(&mut self) -> u32 {
        let procs = &self.procs;
        kernel_core::ids::next(&mut self.next_pid, |n| {
            procs.iter().any(|(_, p)| p.pid == n)
        })
    }

    /// The next TID, the same way.
    fn fresh_tid(&mut self) -> u32 {
        let threads = &self.threads;
        kernel_core::ids::next(&mut self.next_tid, |n| {
            threads.iter().any(|(_, t)| t.tid == n)
        })
    }

    /// Mark a thread dead and wake its joiners (its process goes on).
    pub(super) fn kill_thread(&mut self, tid: Tid, code: i64) {
        let Some(t) = self.threads.get_mut(tid) else {
            return;
        };
        if t.state == State::Dead {
            return;
        }
        t.state = State::Dead;
        t.exit_code = code;
        let wait = t.wait.take();
        let (pid, left) = (t.process, t.resume.take());
        let joiners = core::mem::take(&mut t.joiners);
        self.runq.remove(qid(tid));
        self.sleepers.retain(|&(_, s)| s != tid);
        // A thread blocked in a wait is still listed by what it waits on.
        self.forget_waiter(tid, wait);
        self.abandon_clients(tid);
        if let Some(r) = left {
            self.abandon(pid, r.work);
        }
        for j in joiners {
            self.complete_join(j, code);
        }
        self.stop_elsewhere(tid);
        self.reap_thread(tid);
    }

    /// Take `tid` off the run queue and the sleepers.
    pub(super) fn runq_remove(&mut self, tid: Tid) {
        self.runq.remove(qid(tid));
        self.sleepers.retain(|&(_, s)| s != tid);
    }

    /// Remove `tid` from the waiter list of whatever it was waiting on.
    pub(super) fn forget_waiter(&mut self, tid: Tid, wait: Option<Wait>) {
        match wait {
            Some(Wait::Join { target, .. }) => {
                if let Some(t) = self.threads.get_mut(target) {
                    t.joiners.retain(|&j| j != tid);
                }
            }
            Some(Wait::TaskEnd { target, .. }) => {
                if let Some(p) = self.procs.get_mut(target) {
                    p.waiters.retain(|&w| w != tid);
                }
            }
            Some(w @ (Wait::Call { .. } | Wait::Recv { .. } | Wait::Notice { .. })) => {
                self.forget_ipc(tid, w)
            }
            Some(Wait::Sleep | Wait::Console) | None => {}
        }
    }

    /// The calling thread ends; the last thread to end ends its process.
    pub fn thread_exit(&mut self, tid: Tid, code: i64) {
        let Some(t) = self.threads.get(tid) else {
            return;
        };
        let (pid, stack) = (t.process, t.stack_base);
        self.kill_thread(tid, code);
        let Some(p) = self.procs.get_mut(pid) else {
            return;
        };
        let before = p.threads.len();
        p.threads.retain(|&x| x != tid);
        budget::uncharge(
            Slot::of(pid),
            Kind::Threads,
            (before - p.threads.len()) as u64,
        );
        // The last thread's stack goes with its process (`reclaim`).
        if let Some(space) = p.space.as_mut()
            && stack != 0
            && !p.threads.is_empty()
        {
            space.release(stack);
        }
        if p.threads.is_empty() {
            self.end_process(pid, ExitStatus::Normal, code, None);
        }
    }

    // ---- threads ----------------------------------------------------------

    /// A new thread in `pid`, started at once; `None` while its stack is
    /// still being made (the call comes back, see `task::resume`).
    pub fn spawn_thread(
        &mut self,
        pid: Pid,
        entry: u64,
        arg: u64,
        stack_size: u64,
        policy: &SchedPolicy,
    ) -> Result<Option<Tid>, Rc> {
        use kos_abi::vm::{MAX_STACK_SIZE, USER_END, USER_MIN};
        if !(USER_MIN..USER_END).contains(&entry)
            || !entry.is_multiple_of(4)
            || stack_size > MAX_STACK_SIZE
        {
            return Err(Rc::InvalidArgument);
        }
        let class = SchedClass::from_u32(policy.class).ok_or(Rc::InvalidArgument)?;
        let (priority, quantum) = (policy.priority, policy.quantum_ticks);
        let level = kernel_core::sched::level(class, priority).ok_or(Rc::InvalidArgument)?;
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        if p.lifecycle != Lifecycle::Running {
            return Err(Rc::Busy);
        }
        // No thread ranks above the initial one as its creator set it
        // (SetInitialThreadPriority, SetInitialThreadSchedPolicy): the
        // creator's choice is the process's ceiling, within its class's.
        let (iclass, ipriority, _) = p.initial;
        if kernel_core::sched::level(iclass, ipriority).is_none_or(|ceiling| level > ceiling) {
            return Err(Rc::QuotaExceeded);
        }
        let size = if stack_size == 0 {
            p.stack_size
        } else {
            stack_size
        };
        // What could refuse the thread once its stack is made, checked
        // first (undoing a large stack would take long): its slot, its
        // class's quota, its budget's threads and memory.
        let fits = p.threads.len() < MAX_THREADS_PER_PROCESS
            && crate::security::sched_allowed(p.subject, class, priority).is_ok()
            && budget::fits(Slot::of(pid), Kind::Threads, 1)
            && budget::fits(Slot::of(pid), Kind::Memory, super::THREAD_KMEM);
        if !fits {
            self.drop_resume();
            return Err(Rc::QuotaExceeded);
        }
        let Some(stack) = self.stack_in_steps(pid, size)? else {
            return Ok(None);
        };
        let policy = (class, priority, quantum);
        let tid = self.add_user_thread(pid, entry, Some(stack), policy, |t| t.frame.x[0] = arg)?;
        self.make_ready(tid);
        Ok(Some(tid))
    }
}

/// The first process ended: report it and stop (QEMU builds exit with its
/// status: 0 if it exited with 0, 1 otherwise).
fn init_ended(info: &ExitInfo) -> ! {
    crate::println!(
        "einit ended: status {}, code {}; system stopping",
        info.status,
        info.code
    );
    let ok = info.status == ExitStatus::Normal as u32 && info.code == 0;
    crate::power::shutdown(if ok {
        crate::power::EXIT_SUCCESS
    } else {
        crate::power::EXIT_TEST_FAILURE
    })
}
