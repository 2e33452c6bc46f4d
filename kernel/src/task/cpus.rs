//! The cores: each one's own scheduling state, kept in the one kernel
//! value under its one lock, and how a core tells the others to look again.
//!
//! Every core runs the same kernel under one lock (`task::with`, the big
//! kernel lock). What is a core's own (the thread it runs, its idle
//! thread, the ASID its TTBR0 holds, whose FP/SIMD state its registers
//! hold) is a [`PerCpu`]. The lock holder's is in `Kernel::here`, so the
//! kernel's paths read it as they would on one core; the others' wait in
//! `Kernel::away` and are traded in when their core takes the lock (one
//! compare when the same core takes it again, which is the common case).
//!
//! A core learns of work through its wake-up SGI ([`Kernel::kick`]): a
//! thread queued that an idle core, or a core running something of a
//! lower level, could run; a thread of its ended or stopped while it runs
//! there. The SGI only makes that core enter the kernel; what it then does
//! is the usual choice (`schedule`).

#![cfg_attr(
    feature = "ktest",
    allow(dead_code, reason = "the kernel test build never starts user space")
)]

use kos_abi::Rc;

use super::thread::{Pid, State, Tid};
use super::{Kernel, MAX_CPUS};
use crate::arch::smp;
#[cfg(not(feature = "ktest"))]
use {
    super::thread::Thread, crate::arch::exception::TrapFrame, crate::arch::thread_regs,
    crate::arch::user, kos_abi::sched::SchedClass,
};

/// A core's scheduling state.
#[derive(Copy, Clone)]
pub(super) struct PerCpu {
    /// The thread it runs (its idle thread if nothing else).
    pub current: Tid,
    pub idle: Tid,
    /// The ASID whose table its TTBR0 holds (0: the empty table).
    pub loaded_asid: u16,
    /// The user thread whose FP/SIMD state its registers hold (valid while
    /// that thread's `fp_cpu` names this core), and whether EL0 may use
    /// FP/SIMD now (`schedule::switch_to`, `take_fp`).
    pub fp_owner: Option<Tid>,
    pub fp_on: bool,
    /// The tick last accounted on it by `on_tick`.
    pub last_tick: u64,
    /// Another core sent it the wake-up SGI and it has not taken the lock
    /// since (so it is not sent again).
    pub kicked: bool,
    /// Another core ended or stopped a thread it was running.
    pub stopped: bool,
    /// Its timer is armed for the idle core's slow tick
    /// (`idle_tick_slow`); the switch to a thread re-arms it at the rate.
    pub slow: bool,
}

/// How many queued threads, first in line, a core looks at for other
/// cores to wake on its way out of the kernel (a bound on that walk).
const KICK_LOOK: usize = 2 * MAX_CPUS;

/// No thread.
const NO_THREAD: Tid = Tid {
    index: u32::MAX,
    generation: 0,
};

impl PerCpu {
    /// A core that runs no thread yet.
    pub const NONE: PerCpu = PerCpu {
        current: NO_THREAD,
        idle: NO_THREAD,
        loaded_asid: 0,
        fp_owner: None,
        fp_on: true,
        last_tick: 0,
        kicked: false,
        stopped: false,
        slow: false,
    };
}

/// Where the first process's threads run unless it places them
/// (`Task.SetAffinity`, `Thread.SetAffinity`): every core. A process
/// starts with its creator's affinity. The benchmark kernel keeps to the
/// boot core, whose instruction counter alone it reads.
pub const DEFAULT_AFFINITY: u64 = if cfg!(feature = "kbench") {
    1
} else {
    u64::MAX >> (64 - MAX_CPUS)
};

impl Kernel {
    /// Make `me` the lock holder: its state into `here`.
    #[inline(always)]
    pub(super) fn enter(&mut self, me: usize) {
        if self.holder != me {
            self.trade(me);
        }
    }

    #[inline(never)]
    fn trade(&mut self, me: usize) {
        if let Some(slot) = self.away.get_mut(self.holder) {
            *slot = self.here;
        }
        let me = me % MAX_CPUS;
        self.here = self.away[me];
        self.here.kicked = false;
        self.holder = me;
    }

    /// Whether another core ended or stopped this core's thread (while it
    /// waited for the lock, say): then nothing of its call is done.
    #[inline(always)]
    pub fn current_stopped(&mut self) -> bool {
        if !self.here.stopped {
            return false;
        }
        self.here.stopped = false;
        !self
            .threads
            .get(self.here.current)
            .is_some_and(|t| t.state == State::Running)
    }

    /// Whether core `c` runs threads.
    fn joined(&self, c: usize) -> bool {
        c < MAX_CPUS && self.joined & (1 << c) != 0
    }

    /// Core `c`'s state (the holder's is `here`).
    fn cpu(&self, c: usize) -> &PerCpu {
        if c == self.holder {
            &self.here
        } else {
            &self.away[c % MAX_CPUS]
        }
    }

    /// The core running `tid`, if one does.
    pub(super) fn running_on(&self, tid: Tid) -> Option<usize> {
        (0..MAX_CPUS).find(|&c| self.joined(c) && self.cpu(c).current == tid)
    }

    /// Whether a core runs `tid` now (its registers are that core's, not
    /// its frame's).
    pub fn on_a_core(&self, tid: Tid) -> bool {
        self.running_on(tid).is_some()
    }

    /// The ASID each core's TTBR0 holds (0: none, or the empty table):
    /// a space's table and ASID stay while one holds it.
    pub(super) fn cpus_asids(&self) -> [u16; MAX_CPUS] {
        core::array::from_fn(|c| {
            if self.joined(c) {
                self.cpu(c).loaded_asid
            } else {
                0
            }
        })
    }

    /// `cores` as an affinity: it must name a core that runs threads.
    pub fn check_affinity(&self, cores: u64) -> Result<u64, Rc> {
        if cores & self.joined == 0 {
            return Err(Rc::InvalidArgument);
        }
        Ok(cores)
    }

    /// Where process `pid`'s threads run: those it has (each as
    /// [`Self::set_affinity`]) and those it makes later.
    pub fn set_process_affinity(&mut self, pid: Pid, cores: u64) -> Result<(), Rc> {
        let p = self.procs.get_mut(pid).ok_or(Rc::InvalidArgument)?;
        if p.lifecycle == super::process::Lifecycle::Ended {
            return Err(Rc::InvalidArgument);
        }
        p.affinity = cores;
        for i in 0..p.threads.len() {
            let tid = self.procs.get(pid).and_then(|p| p.threads.get(i).copied());
            if let Some(tid) = tid {
                let _ = self.set_affinity(tid, cores);
            }
        }
        Ok(())
    }

    /// `Thread.SetAffinity`: thread `tid` runs on those of `cores` that
    /// its process may run on (`Task.SetAffinity`, or its creator's), so
    /// a process pinned by its creator cannot spread its threads; at least
    /// one must be a core that runs threads.
    pub fn place_thread(&mut self, tid: Tid, cores: u64) -> Result<(), Rc> {
        let t = self.threads.get(tid).ok_or(Rc::InvalidArgument)?;
        let allowed = self.procs.get(t.process).map_or(0, |p| p.affinity);
        let cores = self.check_affinity(cores & allowed)?;
        self.set_affinity(tid, cores)
    }

    /// The cores thread `tid` may run on that run threads (what
    /// `Thread.Info` reports), 0 if there is no such thread.
    pub fn affinity_of(&self, tid: Tid) -> u64 {
        self.threads
            .get(tid)
            .map_or(0, |t| t.affinity & self.joined)
    }

    /// Where thread `tid` may run from now: if a core runs it that is not
    /// one of `cores`, that core is told to switch away (the thread joins
    /// the queue, for a core of its new set).
    pub fn set_affinity(&mut self, tid: Tid, cores: u64) -> Result<(), Rc> {
        let t = self.threads.get_mut(tid).ok_or(Rc::InvalidArgument)?;
        if t.idle || t.state == State::Dead {
            return Err(Rc::InvalidArgument);
        }
        t.affinity = cores;
        if let Some(c) = self.running_on(tid)
            && cores & (1 << c) == 0
            && c != self.holder
        {
            smp::wake(c);
        }
        Ok(())
    }

    /// The core `tid` runs on, or last ran on (`u32::MAX`: none yet).
    pub fn core_of(&self, tid: Tid) -> u32 {
        match self.running_on(tid) {
            Some(c) => c as u32,
            None => self
                .threads
                .get(tid)
                .filter(|t| t.last_core != u8::MAX)
                .map_or(u32::MAX, |t| u32::from(t.last_core)),
        }
    }

    /// `tid` was stopped or ended: if another core runs it, that core
    /// enters the kernel and leaves it (`schedule` sees it no longer
    /// running and switches away; its memory goes after that).
    pub(super) fn stop_elsewhere(&mut self, tid: Tid) {
        if let Some(c) = self.running_on(tid)
            && c != self.holder
        {
            self.away[c].stopped = true;
            smp::wake(c);
        }
    }

    /// Tell every other core that could run a queued thread now (idle, or
    /// running one of a lower level, and in the thread's affinity) to look
    /// again: on the way out of every exception, after this core chose.
    #[inline(always)]
    pub fn kick(&mut self) {
        if self.runq.is_empty() || self.joined & !(1 << self.holder) == 0 {
            return;
        }
        self.kick_others();
    }

    #[inline(never)]
    fn kick_others(&mut self) {
        // The other cores the first few in line may run on (one further
        // back is taken by an idle core's slow tick, `idle_tick_slow`, or
        // when a core next chooses): most often none, threads bound to
        // this core, and then nothing more to do.
        let affinity =
            |id: kernel_core::sched::ThreadId| self.threads.at(id.0).map_or(0, |(_, t)| t.affinity);
        let mut want = 0;
        if self.runq.len() == 1 {
            // A thread yielding to another: the head alone, found in O(1).
            if let Some((id, _)) = self.runq.peek_highest() {
                want = affinity(id);
            }
        } else {
            for (id, _) in self.runq.iter().take(KICK_LOOK) {
                want |= affinity(id);
            }
        }
        want &= self.joined & !(1 << self.holder);
        if want != 0 {
            self.kick_for(want);
        }
    }

    /// [`Self::kick_others`] once a queued thread may run on a core of
    /// `want`.
    #[inline(never)]
    fn kick_for(&mut self, want: u64) {
        // Of those, the cores that could take a thread: not told already,
        // and idle or running something (of a level noted; `None`: idle).
        let mut level: [Option<u8>; MAX_CPUS] = [None; MAX_CPUS];
        let mut spare = 0u64;
        for c in (0..MAX_CPUS).filter(|&c| want & (1 << c) != 0) {
            let cpu = &self.away[c];
            if cpu.kicked {
                continue;
            }
            match self.threads.get(cpu.current) {
                Some(t) if !t.idle && t.state == State::Running => level[c] = Some(t.level()),
                // Its thread stopped or ended (it was sent the SGI).
                Some(t) if !t.idle => continue,
                _ => {}
            }
            spare |= 1 << c;
        }
        // The first few in line, each to the first core it may run on that
        // runs nothing of its level or above: one core for one thread.
        for (id, top) in self.runq.iter().take(KICK_LOOK) {
            if spare == 0 {
                return;
            }
            let Some((_, t)) = self.threads.at(id.0) else {
                continue;
            };
            let affinity = t.affinity;
            let fits = (0..MAX_CPUS)
                .find(|&c| affinity & spare & (1 << c) != 0 && level[c].is_none_or(|l| l < top));
            if let Some(c) = fits {
                spare &= !(1 << c);
                self.away[c].kicked = true;
                smp::wake(c);
            }
        }
    }

    #[cfg(not(feature = "ktest"))]
    /// This core starts running threads: its idle thread (on
    /// `idle_stack_top`) becomes its current one.
    pub(super) fn join(&mut self, idle_stack_top: u64) -> Option<()> {
        let no_process = Pid {
            index: u32::MAX,
            generation: 0,
        };
        let mut idle = Thread::try_new(no_process, 0, SchedClass::Normal, 0, 0)?;
        idle.idle = true;
        idle.state = State::Running;
        idle.affinity = 1 << self.holder;
        idle.frame.elr = idle_loop as *const () as u64;
        idle.frame.spsr = user::SPSR_EL1T;
        idle.frame.sp_el0 = idle_stack_top;
        let id = self.threads.insert(idle).ok()?;
        self.here = PerCpu {
            current: id,
            idle: id,
            last_tick: crate::tick::ticks(),
            ..PerCpu::NONE
        };
        // As `fp_on` says: the first user thread's switch sets it right.
        thread_regs::fp_access(true);
        self.joined |= 1 << self.holder;
        Some(())
    }
}

#[cfg(not(feature = "ktest"))]
/// A secondary core starts running threads: its idle thread, then what
/// the scheduler picks; returns the frame to enter. `None` if the kernel
/// is not set up or has no room for its idle thread.
pub fn join_core(idle_stack_top: u64) -> Option<*mut TrapFrame> {
    super::with(|k| {
        k.join(idle_stack_top)?;
        Some(k.schedule())
    })
    .flatten()
}

#[cfg(not(feature = "ktest"))]
/// What a core runs when no thread is ready: at EL1 on SP_EL0, interrupts on.
extern "C" fn idle_loop() -> ! {
    loop {
        crate::arch::cpu::wait_for_interrupt();
    }
}
