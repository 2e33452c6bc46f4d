//! Processes, threads and the scheduler: the kernel's object store and the
//! operations on it.
//!
//! One [`Kernel`] value holds every process and thread, behind one lock
//! taken by the exception path with interrupts masked (a single big lock
//! for now; per-CPU run queues slot in beside `runq` with SMP). Threads
//! save their context into their own [`Thread::frame`]; the exception path
//! asks [`Kernel::schedule`] which frame to resume (see vectors.s).

pub mod caps;
pub mod fault;
pub mod ipc;
pub mod loader;
pub mod notice;
pub mod object;
pub mod process;
pub mod reply;
pub mod space;
#[cfg(not(feature = "ktest"))]
pub mod start;
pub mod thread;

use alloc::vec::Vec;

use kernel_core::cdt::Cdt;
use kernel_core::handles::HandleTable;
use kernel_core::sched::{RunQueue, ThreadId, should_preempt};
use kernel_core::slab::{Slab, SlabError};
use kos_abi::sched::{SchedClass, SchedPolicy, TICK_HZ};
use kos_abi::task::{CreateFlags, ExitInfo, ExitStatus};
use kos_abi::{Handle, Rc, Rights};

use crate::arch::exception::TrapFrame;
use crate::arch::{timer, user};
use crate::sync::IrqLock;
use object::{Badge, Channel, Mdl, Notice, Object, Subscription, UserObject};
use process::{DEFAULT_QUOTA_FRAMES, Lifecycle, MAX_HANDLES, MAX_THREADS_PER_PROCESS, Process};
use space::AddressSpace;
use thread::{Pid, State, Thread, Tid, Wait};

/// Live processes at most (8-bit ASIDs bound it below 256 anyway).
#[cfg(not(feature = "ktest"))]
pub const MAX_PROCESSES: usize = 128;
/// Live threads at most, idle threads included.
pub const MAX_THREADS: usize = 512;
/// Live handles at most, in all processes (nodes of the inheritance tree).
#[cfg(not(feature = "ktest"))]
pub const MAX_HANDLES_TOTAL: usize = 8192;
/// Live objects of each IPC kind at most (channels, badges, ...).
#[cfg(not(feature = "ktest"))]
pub const MAX_OBJECTS: usize = 1024;

pub struct Kernel {
    pub procs: Slab<Process>,
    pub threads: Slab<Thread>,
    runq: RunQueue<MAX_THREADS>,
    /// The thread this CPU runs (its idle thread if nothing else).
    pub current: Tid,
    idle: Tid,
    /// The ASID whose table is in TTBR0 (0 = the empty table).
    loaded_asid: u16,
    empty_root: kernel_core::addr::PhysAddr,
    /// Blocked threads with a deadline, soonest first.
    sleepers: Vec<(u64, Tid)>,
    next_pid: u32,
    next_tid: u32,
    /// The first process: when it ends, the system stops.
    pub init: Option<Pid>,
    /// The tick last accounted by [`Kernel::on_tick`].
    last_tick: u64,
    /// Places the programs the kernel itself starts (einit), seeded from
    /// the best entropy the board has.
    pub boot_aslr: kernel_core::aslr::Aslr,
    /// Every handle's place in the inheritance tree: key (owner, handle),
    /// badge = a Badge object.
    pub cdt: Cdt<(Pid, Handle), kernel_core::slab::Id>,
    pub channels: Slab<Channel>,
    pub badges: Slab<Badge>,
    pub uobjs: Slab<UserObject>,
    pub notices: Slab<Notice>,
    pub mdls: Slab<Mdl>,
    /// Who wants to hear about which object's events.
    pub subs: Vec<Subscription>,
}

static KERNEL: IrqLock<Option<alloc::boxed::Box<Kernel>>> = IrqLock::new(None);

/// Run `f` on the kernel state (with interrupts masked). `None` before [`init`].
pub fn with<R>(f: impl FnOnce(&mut Kernel) -> R) -> Option<R> {
    KERNEL.lock().as_mut().map(|k| f(k))
}

fn slab_err(e: SlabError) -> Rc {
    match e {
        SlabError::Full => Rc::QuotaExceeded,
        SlabError::OutOfMemory => Rc::OutOfMemory,
    }
}

fn qid(t: Tid) -> ThreadId {
    ThreadId(t.index)
}

/// Deadline tick for a timeout in ns (`u64::MAX` = none).
pub fn deadline(timeout_ns: u64) -> Option<u64> {
    (timeout_ns != u64::MAX).then(|| deadline_after(timeout_ns))
}

impl Kernel {
    /// Live process `pid` as the gate knows it: its PID and class.
    pub fn party(&self, pid: Pid) -> Result<crate::gate::Party<'_>, Rc> {
        self.procs
            .get(pid)
            .map(|p| (p.pid, p.eiid.as_str()))
            .ok_or(Rc::PeerDied)
    }
}

/// The tick at which a wait of at least `ns` nanoseconds started now is
/// over: the current tick is partly gone, so it does not count.
pub fn deadline_after(ns: u64) -> u64 {
    let ticks = ns.div_ceil(1_000_000_000 / TICK_HZ).max(1);
    crate::tick::ticks().saturating_add(ticks).saturating_add(1)
}

/// Set up the object store and this CPU's idle thread.
#[cfg(not(feature = "ktest"))]
pub fn init(empty_root: kernel_core::addr::PhysAddr, idle_stack_top: u64) {
    let mut k = alloc::boxed::Box::new(Kernel {
        procs: Slab::new(MAX_PROCESSES),
        threads: Slab::new(MAX_THREADS),
        runq: RunQueue::new(),
        current: Tid {
            index: 0,
            generation: 0,
        },
        idle: Tid {
            index: 0,
            generation: 0,
        },
        loaded_asid: 0,
        empty_root,
        sleepers: Vec::new(),
        next_pid: 1,
        next_tid: 1,
        init: None,
        last_tick: 0,
        boot_aslr: kernel_core::aslr::Aslr::new(crate::entropy::seed()),
        cdt: Cdt::new(MAX_HANDLES_TOTAL),
        channels: Slab::new(MAX_OBJECTS),
        badges: Slab::new(MAX_OBJECTS),
        uobjs: Slab::new(MAX_OBJECTS),
        notices: Slab::new(MAX_OBJECTS),
        mdls: Slab::new(MAX_OBJECTS),
        subs: Vec::new(),
    });
    // Every process, thread and handle slot up front: the kernel heap in
    // use then does not grow with the number of objects that ever lived.
    let _ = k.procs.reserve_all();
    let _ = k.threads.reserve_all();
    let _ = k.cdt.reserve_all();
    let no_process = Pid {
        index: u32::MAX,
        generation: 0,
    };
    let mut idle = Thread::try_new(no_process, 0, SchedClass::Normal, 0, 0)
        .expect("the heap has room for the first thread at boot");
    idle.idle = true;
    idle.state = State::Running;
    idle.frame.elr = idle_loop as *const () as u64;
    idle.frame.spsr = user::SPSR_EL1T;
    idle.frame.sp_el0 = idle_stack_top;
    let id = k
        .threads
        .insert(idle)
        .expect("the first thread always fits");
    k.idle = id;
    k.current = id;
    *KERNEL.lock() = Some(k);
}

/// What a CPU runs when no thread is ready: at EL1 on SP_EL0, interrupts on.
#[cfg(not(feature = "ktest"))]
extern "C" fn idle_loop() -> ! {
    loop {
        crate::arch::cpu::wait_for_interrupt();
    }
}

impl Kernel {
    // ---- processes ------------------------------------------------------

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
        // Room for the process first: its address space is not dropped
        // lightly (frames and an ASID would leak).
        self.procs.reserve_one().map_err(slab_err)?;
        let stack_size = if stack_size == 0 {
            DEFAULT_STACK_SIZE
        } else {
            stack_size
        };

        // The child's own generator is seeded from its creator's, so that
        // reseeding the creator makes its children's placements repeat.
        let aslr = match creator.and_then(|c| self.procs.get_mut(c)) {
            Some(c) => &mut c.aslr,
            None => &mut self.boot_aslr,
        };
        let child_seed = aslr.next_u64();
        let mut space = AddressSpace::new(DEFAULT_QUOTA_FRAMES)?;
        let loaded = match image {
            Some(image) => loader::load(&mut space, path, image, aslr).map(Some),
            None => Ok(None),
        };
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                space.destroy(|_| {});
                return Err(e);
            }
        };

        let proc = Process {
            pid: self.next_pid,
            name: name_s,
            eiid: eiid_s,
            path: path_s,
            flags,
            lifecycle: Lifecycle::Created,
            space: Some(space),
            handles: HandleTable::new(MAX_HANDLES),
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
            fault_thread: None,
        };
        let pid = match self.procs.insert(proc) {
            Ok(pid) => pid,
            // Reserved above: cannot happen.
            Err(e) => return Err(slab_err(e)),
        };
        // The well-known handles: itself (index 0) and the kernel (index 1).
        let setup = self
            .add_handle(pid, Object::Task(pid), Rights::all())
            .and_then(|h| {
                debug_assert_eq!(h, Handle::SELF_TASK);
                self.add_handle(pid, Object::Kernel, Rights::all())
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
        self.next_pid += 1;
        Ok(pid)
    }

    /// The initial thread of a not-yet-started process: at `entry`, on a
    /// new stack of the process's default size, with its initial policy.
    pub fn make_initial_thread(&mut self, pid: Pid, entry: u64) -> Result<Tid, Rc> {
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        if !p.threads.is_empty() {
            return Err(Rc::AlreadyExists);
        }
        let (class, priority, quantum) = p.initial;
        let stack_size = p.stack_size;
        let space = p.space.as_mut().ok_or(Rc::Busy)?;
        let top = space.new_stack(stack_size)?;
        let base = space.region_of(top - 1).map(|r| r.start).unwrap_or(0);
        let Some(mut t) = Thread::try_new(pid, 0, class, priority, quantum) else {
            space.release(base);
            return Err(Rc::OutOfMemory);
        };
        t.frame.elr = entry;
        t.frame.spsr = user::SPSR_EL0;
        t.frame.sp_el0 = top;
        t.frame.x[2] = stack_size;
        t.stack_base = base;
        match self.add_thread(pid, t) {
            Ok(tid) => Ok(tid),
            Err(e) => {
                if let Some(space) = self.procs.get_mut(pid).and_then(|p| p.space.as_mut()) {
                    space.release(base);
                }
                Err(e)
            }
        }
    }

    fn add_thread(&mut self, pid: Pid, mut t: Thread) -> Result<Tid, Rc> {
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        if p.threads.len() >= MAX_THREADS_PER_PROCESS {
            return Err(Rc::QuotaExceeded);
        }
        p.threads.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
        t.tid = self.next_tid;
        let tid = self.threads.insert(t).map_err(slab_err)?;
        self.next_tid += 1;
        if let Some(p) = self.procs.get_mut(pid) {
            p.threads.push(tid);
        }
        Ok(tid)
    }

    /// Free an ended process nobody names any more.
    pub(super) fn reap(&mut self, pid: Pid) {
        if let Some(p) = self.procs.get(pid)
            && p.lifecycle == Lifecycle::Ended
            && p.handle_refs == 0
        {
            self.procs.remove(pid);
        }
    }

    /// Free a dead thread nobody names any more (never the running one:
    /// its frame is still in use until the switch).
    pub(super) fn reap_thread(&mut self, tid: Tid) {
        if let Some(t) = self.threads.get(tid)
            && t.state == State::Dead
            && t.handle_refs == 0
            && tid != self.current
        {
            self.threads.remove(tid);
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
        let threads = core::mem::take(&mut p.threads);
        let waiters = core::mem::take(&mut p.waiters);
        let mut handles = core::mem::replace(&mut p.handles, HandleTable::new(0));
        let statics = core::mem::take(&mut p.statics);
        let space = p.space.take();
        let info = p.exit;
        let is_init = self.init == Some(pid);

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
            if self.loaded_asid == space.asid() {
                user::switch_space(self.empty_root, 0);
                self.loaded_asid = 0;
            }
            let mut mdls = Vec::new();
            space.destroy(|m| mdls.push(m));
            for m in mdls {
                self.release(Object::Mdl(m), Rights::empty());
            }
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

    /// Mark a thread dead and wake its joiners (its process goes on).
    fn kill_thread(&mut self, tid: Tid, code: i64) {
        let Some(t) = self.threads.get_mut(tid) else {
            return;
        };
        if t.state == State::Dead {
            return;
        }
        t.state = State::Dead;
        t.exit_code = code;
        let wait = t.wait.take();
        let joiners = core::mem::take(&mut t.joiners);
        self.runq.remove(qid(tid));
        self.sleepers.retain(|&(_, s)| s != tid);
        // A thread blocked in a wait is still listed by what it waits on.
        self.forget_waiter(tid, wait);
        self.abandon_clients(tid);
        for j in joiners {
            self.complete_join(j, code);
        }
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
            Some(Wait::Sleep) | None => {}
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
        p.threads.retain(|&x| x != tid);
        if let Some(space) = p.space.as_mut()
            && stack != 0
        {
            space.release(stack);
        }
        if p.threads.is_empty() {
            self.end_process(pid, ExitStatus::Normal, code, None);
        }
    }

    // ---- threads ----------------------------------------------------------

    /// A new thread in `pid`, started at once.
    pub fn spawn_thread(
        &mut self,
        pid: Pid,
        entry: u64,
        arg: u64,
        stack_size: u64,
        policy: &SchedPolicy,
    ) -> Result<Tid, Rc> {
        use kos_abi::vm::{MAX_STACK_SIZE, USER_END, USER_MIN};
        if !(USER_MIN..USER_END).contains(&entry)
            || !entry.is_multiple_of(4)
            || stack_size > MAX_STACK_SIZE
        {
            return Err(Rc::InvalidArgument);
        }
        let class = SchedClass::from_u32(policy.class).ok_or(Rc::InvalidArgument)?;
        let (priority, quantum) = (policy.priority, policy.quantum_ticks);
        kernel_core::sched::level(class, priority).ok_or(Rc::InvalidArgument)?;
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        if p.lifecycle != Lifecycle::Running {
            return Err(Rc::Busy);
        }
        if p.threads.len() >= MAX_THREADS_PER_PROCESS {
            return Err(Rc::QuotaExceeded);
        }
        let size = if stack_size == 0 {
            p.stack_size
        } else {
            stack_size
        };
        let space = p.space.as_mut().ok_or(Rc::Busy)?;
        let top = space.new_stack(size)?;
        let base = space.region_of(top - 1).map(|r| r.start).unwrap_or(0);
        let Some(mut t) = Thread::try_new(pid, 0, class, priority, quantum) else {
            if let Some(space) = self.procs.get_mut(pid).and_then(|p| p.space.as_mut()) {
                space.release(base);
            }
            return Err(Rc::OutOfMemory);
        };
        t.frame.elr = entry;
        t.frame.spsr = user::SPSR_EL0;
        t.frame.sp_el0 = top;
        t.frame.x[0] = arg;
        t.stack_base = base;
        match self.add_thread(pid, t) {
            Ok(tid) => {
                self.make_ready(tid);
                Ok(tid)
            }
            Err(e) => {
                if let Some(space) = self.procs.get_mut(pid).and_then(|p| p.space.as_mut()) {
                    space.release(base);
                }
                Err(e)
            }
        }
    }

    // ---- blocking and waking ----------------------------------------------

    fn make_ready(&mut self, tid: Tid) {
        if let Some(t) = self.threads.get_mut(tid) {
            if t.idle || t.state == State::Dead {
                return;
            }
            t.state = State::Ready;
            let level = t.level();
            let _ = self.runq.push_back(qid(tid), level);
        }
    }

    /// Block the current thread until woken (or `deadline_tick`).
    pub fn block_current(&mut self, wait: Wait, deadline_tick: Option<u64>) {
        let tid = self.current;
        if let Some(t) = self.threads.get_mut(tid) {
            t.state = State::Blocked;
            t.wait = Some(wait);
            t.deadline = deadline_tick;
        }
        if let Some(d) = deadline_tick {
            let at = self.sleepers.partition_point(|&(x, _)| x <= d);
            self.sleepers.insert(at, (d, tid));
        }
    }

    /// Wake a blocked thread with the syscall results it will see.
    pub(super) fn wake(&mut self, tid: Tid, rc: Rc, value: u64) {
        let Some(t) = self.threads.get_mut(tid) else {
            return;
        };
        if t.state != State::Blocked {
            return;
        }
        t.wait = None;
        t.deadline = None;
        t.set_return(rc, value);
        self.sleepers.retain(|&(_, s)| s != tid);
        self.make_ready(tid);
    }

    /// A joiner learns the exit code of the thread it waited for.
    fn complete_join(&mut self, joiner: Tid, code: i64) {
        let Some(t) = self.threads.get(joiner) else {
            return;
        };
        let Some(Wait::Join { reply, cap, .. }) = t.wait else {
            return;
        };
        let pid = t.process;
        let reply_fixed = kos_abi::msg::thread::JoinReply { exit_code: code };
        let (rc, len) =
            crate::task::reply::write_reply(self, pid, reply, cap, Rc::Ok, &reply_fixed, &[]);
        self.wake(joiner, rc, len);
    }

    /// A `Task.WAIT` caller learns how the task ended.
    fn complete_task_wait(&mut self, waiter: Tid, info: &ExitInfo) {
        let Some(t) = self.threads.get(waiter) else {
            return;
        };
        let Some(Wait::TaskEnd { reply, cap, .. }) = t.wait else {
            return;
        };
        let pid = t.process;
        let (rc, len) = crate::task::reply::write_reply(self, pid, reply, cap, Rc::Ok, info, &[]);
        self.wake(waiter, rc, len);
    }

    /// Register the current thread as waiting for `target`'s end.
    pub fn wait_for_task(&mut self, target: Pid, reply: u64, cap: u64, deadline: Option<u64>) {
        let me = self.current;
        if let Some(p) = self.procs.get_mut(target)
            && p.waiters.try_reserve(1).is_ok()
        {
            p.waiters.push(me);
        }
        self.block_current(Wait::TaskEnd { target, reply, cap }, deadline);
    }

    /// Register the current thread as joining `target`.
    pub fn join_thread(&mut self, target: Tid, reply: u64, cap: u64, deadline: Option<u64>) {
        let me = self.current;
        if let Some(t) = self.threads.get_mut(target)
            && t.joiners.try_reserve(1).is_ok()
        {
            t.joiners.push(me);
        }
        self.block_current(Wait::Join { target, reply, cap }, deadline);
    }

    /// Timer tick: wake expired sleepers, charge the running thread's slice.
    pub fn on_tick(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.last_tick);
        if elapsed == 0 {
            return;
        }
        self.last_tick = now;
        while let Some(&(d, tid)) = self.sleepers.first() {
            if d > now {
                break;
            }
            self.sleepers.remove(0);
            let wait = self.threads.get(tid).and_then(|t| t.wait);
            match wait {
                Some(Wait::Sleep) => self.wake(tid, Rc::Ok, 0),
                Some(_) => {
                    self.forget_waiter(tid, wait);
                    self.wake(tid, Rc::Timeout, 0)
                }
                None => {}
            }
        }
        if let Some(t) = self.threads.get_mut(self.current)
            && !t.idle
        {
            for _ in 0..elapsed {
                t.slice.on_tick();
            }
        }
    }

    /// The current thread gives up the rest of its slice to its equals.
    pub fn yield_current(&mut self) {
        let cur = self.current;
        if let Some(t) = self.threads.get_mut(cur)
            && !t.idle
            && t.state == State::Running
        {
            t.slice.reset();
            t.state = State::Ready;
            let level = t.level();
            let _ = self.runq.push_back(qid(cur), level);
        }
    }

    // ---- scheduling -------------------------------------------------------

    /// Choose what runs next on this CPU and make it current; returns the
    /// frame to resume.
    pub fn schedule(&mut self) -> *mut TrapFrame {
        let cur = self.current;
        let (running, level, expired, idle) = match self.threads.get(cur) {
            Some(t) => (
                t.state == State::Running,
                t.level(),
                t.slice.expired(),
                t.idle,
            ),
            None => (false, 0, false, false),
        };
        let next = if running && !idle {
            if should_preempt(level, expired, self.runq.highest_level())
                && let Some(t) = self.threads.get_mut(cur)
            {
                t.state = State::Ready;
                if expired {
                    // Round robin: to the back of its level with a new slice.
                    t.slice.reset();
                    let _ = self.runq.push_back(qid(cur), level);
                } else {
                    // Preempted by a higher level: first in line again.
                    let _ = self.runq.push_front(qid(cur), level);
                }
                self.pick()
            } else {
                if expired && let Some(t) = self.threads.get_mut(cur) {
                    t.slice.reset();
                }
                cur
            }
        } else {
            self.pick()
        };
        self.switch_to(next)
    }

    /// The highest ready thread, or the idle thread.
    fn pick(&mut self) -> Tid {
        while let Some((id, _)) = self.runq.pop_highest() {
            // Queue entries are slab indices; the slot's live id is O(1).
            if let Some(tid) = self.threads.id_at(id.0)
                && self
                    .threads
                    .get(tid)
                    .is_some_and(|t| t.state == State::Ready)
            {
                return tid;
            }
        }
        self.idle
    }

    fn switch_to(&mut self, next: Tid) -> *mut TrapFrame {
        let now = timer::counter();
        let prev = self.current;
        if prev != next {
            if let Some(t) = self.threads.get_mut(prev) {
                t.cpu_time += now.saturating_sub(t.switched_in_at);
                if t.state == State::Running {
                    t.state = State::Ready;
                }
            }
            self.current = next;
            self.reap_thread(prev);
        }
        let (pid, frame) = {
            let t = self.threads.get_mut(next).expect("picked thread exists");
            if prev != next {
                t.switched_in_at = now;
                t.switches += 1;
            }
            t.state = State::Running;
            (t.process, t.frame_ptr())
        };
        if let Some(space) = self.procs.get(pid).and_then(|p| p.space.as_ref())
            && space.asid() != self.loaded_asid
        {
            user::switch_space(space.root(), space.asid());
            self.loaded_asid = space.asid();
        }
        frame
    }

    /// CPU time of a thread so far, in counter ticks (its running slice included).
    pub fn cpu_time(&self, tid: Tid) -> u64 {
        self.threads.get(tid).map_or(0, |t| {
            let running = if tid == self.current {
                timer::counter().saturating_sub(t.switched_in_at)
            } else {
                0
            };
            t.cpu_time + running
        })
    }

    /// The process of the running thread.
    pub fn current_pid(&self) -> Option<Pid> {
        self.threads
            .get(self.current)
            .filter(|t| !t.idle)
            .map(|t| t.process)
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
