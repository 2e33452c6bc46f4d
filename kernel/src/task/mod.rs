//! Processes, threads and the scheduler: the kernel's object store and the
//! operations on it.
//!
//! One [`Kernel`] value holds every process and thread, behind one lock
//! taken by the exception path with interrupts masked, on every core (the
//! big kernel lock; each core's own state is `cpus::PerCpu`). Threads
//! save their context into their own [`Thread::frame`]; the exception path
//! asks [`Kernel::schedule`] which frame to resume (see vectors.s).

#![forbid(unsafe_code)]

pub mod budget;
pub mod caps;
mod console_turn;
pub mod cpus;
mod create;
pub mod fault;
pub mod ipc;
pub mod ipc_fast;
mod lifecycle;
pub mod loader;
pub mod notice;
pub mod object;
pub mod process;
mod reclaim;
pub mod reply;
pub mod resume;
mod schedule;
pub mod space;
#[cfg(not(feature = "ktest"))]
pub mod start;
mod statics;
pub mod thread;
mod wait;

use alloc::vec::Vec;

use kernel_core::cdt::Cdt;
use kernel_core::sched::{RunQueue, ThreadId};
use kernel_core::slab::{Slab, SlabError};
use kos_abi::sched::TICK_HZ;
use kos_abi::{Handle, Rc};

use crate::arch::sync::IrqLock;
use object::{Badge, Channel, Mdl, Notice, Subscription, UserObject};
use process::Process;
use thread::{Pid, Thread, Tid};

/// Live processes at most (8-bit ASIDs bound it below 256 anyway).
pub const MAX_PROCESSES: usize = 128;
/// Live threads at most, idle threads included.
pub const MAX_THREADS: usize = 512;
/// Live handles at most, in all processes (nodes of the inheritance tree).
pub const MAX_HANDLES_TOTAL: usize = 8192;
/// Live objects of each IPC kind at most (channels, badges, ...).
#[cfg(not(feature = "ktest"))]
pub const MAX_OBJECTS: usize = 1024;
/// Kernel heap a thread holds (its record and its saved registers), as
/// charged to its process's `memory` quota.
/// Cores the kernel runs threads on at most (per-CPU state is indexed by
/// MPIDR.Aff0).
pub const MAX_CPUS: usize = bsp_rpi4::board::MAX_CPUS;
pub const THREAD_KMEM: u64 = (core::mem::size_of::<thread::Thread>()
    + core::mem::size_of::<crate::arch::exception::TrapFrame>())
    as u64;

pub struct Kernel {
    procs: Slab<Process>,
    threads: Slab<Thread>,
    runq: RunQueue<MAX_THREADS>,
    /// The state of the core that holds the lock (`cpus`): its running
    /// thread, idle thread, loaded ASID, FP/SIMD owner.
    here: cpus::PerCpu,
    /// The other cores' state while they do not hold the lock, by core.
    away: [cpus::PerCpu; MAX_CPUS],
    /// The core whose state is in `here`.
    holder: usize,
    /// Cores that run threads (bit = core): their idle thread exists.
    joined: u64,
    empty_root: kernel_core::addr::PhysAddr,
    /// Blocked threads with a deadline, soonest first.
    sleepers: Vec<(u64, Tid)>,
    next_pid: u32,
    next_tid: u32,
    /// The first process: when it ends, the system stops.
    init: Option<Pid>,
    /// Places the programs the kernel itself starts (einit), seeded from
    /// the best entropy the board has.
    boot_aslr: kernel_core::aslr::Aslr,
    /// Every handle's place in the inheritance tree: key (owner, handle),
    /// badge = a Badge object.
    cdt: Cdt<(Pid, Handle), kernel_core::slab::Id>,
    channels: Slab<Channel>,
    badges: Slab<Badge>,
    uobjs: Slab<UserObject>,
    notices: Slab<Notice>,
    mdls: Slab<Mdl>,
    /// Who wants to hear about which object's events.
    subs: Vec<Subscription>,
    /// Memory of ended processes and MDLs, given back in steps.
    reclaim: reclaim::Reclaim,
    /// The thread half-way through a console write, and the tick its
    /// write last stopped at (`console_turn`).
    console_writer: Option<(Tid, u64)>,
    /// A thread made ready by this exception for the scheduler to switch
    /// to directly (`schedule::handoff`): ready, not in the run queue.
    handoff: Option<Tid>,
    /// What the IPC fast path served (`ipc_fast`).
    fast: ipc_fast::Taken,
    /// The current thread's snapshot holds its syscall's message, taken by
    /// the fast path before it left the syscall to the slow path (whose
    /// `take_sent` then keeps it); cleared with the syscall.
    taken: bool,
}

static KERNEL: IrqLock<Option<alloc::boxed::Box<Kernel>>> = IrqLock::new(None);

/// Run `f` on the kernel state, as this core (with interrupts masked, the
/// one kernel lock held). `None` before [`init`].
pub fn with<R>(f: impl FnOnce(&mut Kernel) -> R) -> Option<R> {
    let mut k = KERNEL.lock();
    let k = k.as_mut()?;
    k.enter(crate::arch::cpu::core_id());
    Some(f(k))
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

/// What the layers above (dispatch, trap) read and change, through
/// methods: the object layer keeps its tables and their invariants.
impl Kernel {
    /// Give back a little memory of what has ended (`reclaim`): on the
    /// way out of every exception; all of it if this CPU is about to idle.
    #[inline(always)]
    pub fn reclaim(&mut self) {
        if !self.reclaim.is_empty() {
            let idle = self.here.current == self.here.idle;
            let cpus = self.cpus_asids();
            self.reclaim.run(
                if idle {
                    usize::MAX
                } else {
                    reclaim::STEPS_PER_EXIT
                },
                |a| cpus.contains(&a),
            );
        }
    }

    /// Give back memory of what has ended until none is left or an
    /// interrupt waits.
    pub fn reclaim_all(&mut self) {
        let cpus = self.cpus_asids();
        self.reclaim.run(usize::MAX, |a| cpus.contains(&a));
    }

    /// Nothing ended waits to be given back (its memory all free).
    pub fn reclaimed(&self) -> bool {
        self.reclaim.is_empty()
    }

    /// Live process `pid`.
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.procs.get(pid)
    }

    pub fn process_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        self.procs.get_mut(pid)
    }

    /// Every live process.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.procs.iter().map(|(_, p)| p)
    }

    /// Thread `tid`, if it exists.
    pub fn thread(&self, tid: Tid) -> Option<&Thread> {
        self.threads.get(tid)
    }

    pub fn thread_mut(&mut self, tid: Tid) -> Option<&mut Thread> {
        self.threads.get_mut(tid)
    }

    /// The thread this CPU runs.
    pub fn current(&self) -> Tid {
        self.here.current
    }

    /// Whether `pid` is the first process (einit).
    pub fn is_init(&self, pid: Pid) -> bool {
        self.init == Some(pid)
    }

    /// Live processes and threads.
    pub fn counts(&self) -> (usize, usize) {
        (self.procs.len(), self.threads.len())
    }

    /// Live handles (in every table: nodes of the inheritance tree) and
    /// live objects (channels, badges, user objects, notices, MDLs,
    /// subscriptions).
    pub fn object_counts(&self) -> (usize, usize) {
        let objects = self.channels.len()
            + self.badges.len()
            + self.uobjs.len()
            + self.notices.len()
            + self.mdls.len()
            + self.subs.len();
        (self.cdt.len(), objects)
    }

    /// Live process `pid` as the gate knows it.
    #[inline]
    pub fn party(&self, pid: Pid) -> Result<crate::gate::Party<'_>, Rc> {
        self.procs
            .get(pid)
            .map(|p| crate::gate::Party {
                pid: p.pid,
                class: p.eiid.as_str(),
                subject: p.subject,
                state: &p.policy,
                level: p.level,
                parent: p.parent,
            })
            .ok_or(Rc::PeerDied)
    }

    /// Charge `pid`'s kernel memory `new` bytes in place of `old`, within
    /// its budget (else `rcQuotaExceeded`, nothing charged). Giving back
    /// never fails.
    pub fn charge(&mut self, pid: Pid, old: u64, new: u64) -> Result<(), Rc> {
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        let slot = budget::Slot::of(pid);
        if new > old {
            budget::charge(slot, budget::Kind::Memory, new - old)?;
            p.kmem += new - old;
        } else {
            // Never more than it holds: its creators' accounts hold others'.
            let back = (old - new).min(p.kmem);
            budget::uncharge(slot, budget::Kind::Memory, back);
            p.kmem -= back;
        }
        Ok(())
    }

    /// Put `pid` in the state a granting rule named.
    pub fn enter_state(&mut self, pid: Pid, state: Option<policy_table::State>) {
        if let (Some(s), Some(p)) = (state, self.procs.get_mut(pid)) {
            p.policy = s;
        }
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
        here: cpus::PerCpu::NONE,
        away: [cpus::PerCpu::NONE; MAX_CPUS],
        holder: crate::arch::cpu::core_id() % MAX_CPUS,
        joined: 0,
        empty_root,
        sleepers: Vec::new(),
        next_pid: 1,
        next_tid: 1,
        init: None,
        boot_aslr: kernel_core::aslr::Aslr::new(crate::arch::entropy::seed()),
        cdt: Cdt::new(MAX_HANDLES_TOTAL),
        channels: Slab::new(MAX_OBJECTS),
        badges: Slab::new(MAX_OBJECTS),
        uobjs: Slab::new(MAX_OBJECTS),
        notices: Slab::new(MAX_OBJECTS),
        mdls: Slab::new(MAX_OBJECTS),
        subs: Vec::new(),
        reclaim: reclaim::Reclaim::new(),
        console_writer: None,
        handoff: None,
        fast: ipc_fast::Taken::default(),
        taken: false,
    });
    // Every process, thread, handle and subscription slot up front: the
    // kernel heap in use then does not grow with the number of objects
    // that ever lived, and none of these is taken from it on a process's
    // behalf (their shares are bounded by budgets instead).
    let _ = k.procs.reserve_all();
    let _ = k.threads.reserve_all();
    let _ = k.cdt.reserve_all();
    let _ = k.channels.reserve_all();
    let _ = k.badges.reserve_all();
    let _ = k.uobjs.reserve_all();
    let _ = k.notices.reserve_all();
    let _ = k.mdls.reserve_all();
    let _ = k
        .subs
        .try_reserve_exact(kos_abi::msg::notice::MAX_SUBSCRIPTIONS);
    k.join(idle_stack_top)
        .expect("the heap has room for the first thread at boot");
    *KERNEL.lock() = Some(k);
}
