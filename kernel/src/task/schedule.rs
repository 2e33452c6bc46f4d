//! Scheduling: the timer tick (sleepers and slices), yield, picking the
//! next thread and switching to it (address space, CPU time).

use kernel_core::sched::should_preempt;
use kos_abi::Rc;

use super::thread::{Pid, State, Tid, Wait};
use super::{Kernel, qid};
use crate::arch::exception::TrapFrame;
use crate::arch::{thread_regs, timer, user};

/// An idle core's tick, in ticks, on a core that does not keep the time.
const IDLE_TICKS: u64 = 10;

impl Kernel {
    /// Timer tick: wake expired sleepers, charge the running thread's slice.
    pub fn on_tick(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.here.last_tick);
        if elapsed == 0 {
            return;
        }
        self.here.last_tick = now;
        while let Some(&(d, tid)) = self.sleepers.first() {
            if d > now {
                break;
            }
            self.sleepers.remove(0);
            let wait = self.threads.get(tid).and_then(|t| t.wait);
            match wait {
                Some(Wait::Sleep) => self.wake(tid, Rc::Ok, 0),
                Some(Wait::Console) => self.retry(tid),
                Some(_) => {
                    self.forget_waiter(tid, wait);
                    self.wake(tid, Rc::Timeout, 0)
                }
                None => {}
            }
        }
        if let Some(t) = self.threads.get_mut(self.here.current)
            && !t.idle
        {
            for _ in 0..elapsed {
                t.slice.on_tick();
            }
        }
    }

    /// An idle core other than the one that keeps the time needs only a
    /// slow tick (sleepers' deadlines are that core's; slices are for
    /// threads; what other cores queue for it comes with their wake-up
    /// SGI): [`IDLE_TICKS`] ticks apart, until a thread runs there. Its
    /// tick only catches a thread queued behind one it may not run, which
    /// no SGI announced. So idle cores take the lock, and under an
    /// emulator host time, a tenth as often.
    #[inline(always)]
    pub fn idle_tick_slow(&mut self) {
        if self.here.current == self.here.idle && !crate::tick::keeps_time(self.holder) {
            timer::arm(crate::tick::interval() * IDLE_TICKS);
            self.here.slow = true;
        }
    }

    /// The current thread gives up the rest of its slice to its equals;
    /// `result`: what its syscall returns, if it made one (a trapped `WFI`
    /// changes no register).
    pub fn yield_current(&mut self, result: Option<(Rc, u64)>) {
        let cur = self.here.current;
        if let Some(t) = self.threads.get_mut(cur)
            && !t.idle
            && t.state == State::Running
        {
            if let Some((rc, value)) = result {
                t.set_return(rc, value);
            }
            t.slice.reset();
            t.state = State::Ready;
            let level = t.level();
            let _ = self.runq.push_back(qid(cur), level);
        }
    }

    /// `Yield` of the running thread, and the choice that follows, in one
    /// step: what [`Self::yield_current`] then [`Self::schedule`] would do
    /// (the first thread queued at its level or above runs, and it goes to
    /// the back of its level; with none, it goes on with a new slice),
    /// without their general cases. Returns the frame to resume.
    pub fn yield_now(&mut self) -> *mut TrapFrame {
        let cur = self.here.current;
        let highest = self.runq.highest_level();
        let plain = self.handoff.is_none();
        let Some(t) = self.threads.get_mut(cur) else {
            return self.schedule();
        };
        if t.idle || t.state != State::Running || !plain {
            self.yield_current(Some((Rc::Ok, 0)));
            return self.schedule();
        }
        t.set_return(Rc::Ok, 0);
        t.slice.reset();
        let level = t.level();
        if highest.is_none_or(|l| l < level) {
            // Nobody to yield to: it goes on, nothing to switch.
            return t.frame_ptr();
        }
        t.state = State::Ready;
        let _ = self.runq.push_back(qid(cur), level);
        let next = self.pick();
        self.switch_inline(next)
    }

    // ---- scheduling -------------------------------------------------------

    /// Choose what runs next on this CPU and make it current; returns the
    /// frame to resume.
    pub fn schedule(&mut self) -> *mut TrapFrame {
        let handed = if self.handoff.is_some() {
            self.handoff()
        } else {
            None
        };
        let cur = self.here.current;
        let here = 1u64 << self.holder;
        let (running, level, expired, idle, stays) = match self.threads.get(cur) {
            Some(t) => (
                t.state == State::Running,
                t.level(),
                t.slice.expired(),
                t.idle,
                t.affinity & here != 0,
            ),
            None => (false, 0, false, false, true),
        };
        let next = if let Some(next) = handed {
            next
        } else if running && !idle {
            // (A thread whose affinity no longer has this core leaves it.)
            if (!stays || should_preempt(level, expired, self.runq.highest_level()))
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
                // It goes on: nothing to switch (its space, its registers
                // and its state are as they were).
                if let Some(t) = self.threads.get_mut(cur) {
                    if expired {
                        t.slice.reset();
                    }
                    return t.frame_ptr();
                }
                cur
            }
        } else {
            self.pick()
        };
        self.switch_to(next)
    }

    /// The thread [`Kernel::wake_handoff`] readied, if the queue would
    /// give it the CPU now: the current thread no longer runs and nothing
    /// queued is at its level or above (so `pick` would pop it first). It
    /// then skips the queue; otherwise it joins it, at the back of its
    /// level as any woken thread, and the usual choice follows.
    fn handoff(&mut self) -> Option<Tid> {
        let h = self.handoff.take()?;
        let here = 1 << self.holder;
        let level = match self.threads.get(h) {
            Some(t) if t.state == State::Ready && t.affinity & here != 0 => t.level(),
            Some(t) if t.state == State::Ready => {
                // Not for this core: queued, for a core it may run on.
                let _ = self.runq.push_back(qid(h), t.level());
                return None;
            }
            _ => return None,
        };
        let running = self
            .threads
            .get(self.here.current)
            .is_some_and(|t| t.state == State::Running && !t.idle);
        if !running && self.runq.highest_level().is_none_or(|l| l < level) {
            return Some(h);
        }
        let _ = self.runq.push_back(qid(h), level);
        None
    }

    /// The highest ready thread this core may run, or its idle thread.
    pub(super) fn pick(&mut self) -> Tid {
        let here = 1 << self.holder;
        while let Some((id, level)) = self.runq.pop_highest() {
            // Queue entries are slab indices; the slot's live id is O(1).
            if let Some((tid, t)) = self.threads.at(id.0)
                && t.state == State::Ready
            {
                if t.affinity & here != 0 {
                    return tid;
                }
                // Bound to other cores: first in line again, and the first
                // this core may run is looked for behind it.
                let _ = self.runq.push_front(id, level);
                return self.pick_bound(here);
            }
        }
        self.here.idle
    }

    /// [`Self::pick`] past threads bound to other cores than `here`.
    #[inline(never)]
    fn pick_bound(&mut self, here: u64) -> Tid {
        let threads = &self.threads;
        while let Some((id, _)) = self
            .runq
            .pop_first(|id| threads.at(id.0).is_none_or(|(_, t)| t.affinity & here != 0))
        {
            if let Some((tid, t)) = self.threads.at(id.0)
                && t.state == State::Ready
            {
                return tid;
            }
        }
        self.here.idle
    }

    /// Make `next` the running thread (its space, its thread pointer, its
    /// FP/SIMD access), the CPU time of the one it replaces counted;
    /// returns the frame to resume.
    pub(super) fn switch_to(&mut self, next: Tid) -> *mut TrapFrame {
        self.switch_inline(next)
    }

    /// [`Self::switch_to`], in its caller: the yield's (one call less on
    /// the shortest switch there is).
    #[inline(always)]
    fn switch_inline(&mut self, next: Tid) -> *mut TrapFrame {
        let now = timer::counter();
        let prev = self.here.current;
        if prev != next {
            let mut dead = false;
            if let Some(t) = self.threads.get_mut(prev) {
                t.cpu_time += now.saturating_sub(t.switched_in_at);
                if t.state == State::Running {
                    t.state = State::Ready;
                }
                dead = t.state == State::Dead;
                if !t.idle {
                    // Its user thread pointer goes with it (the idle
                    // thread never touches the register).
                    thread_regs::save_tpidr(&mut t.frame);
                    // So do the FP/SIMD registers it may have changed (it
                    // had access, so it holds them): it may run on another
                    // core next.
                    if self.here.fp_on && !dead {
                        thread_regs::save_fp(&mut t.frame);
                    }
                }
            }
            self.here.current = next;
            if dead {
                self.reap_thread(prev);
            }
        }
        let t = self.threads.get_mut(next).expect("picked thread exists");
        if prev != next {
            t.switched_in_at = now;
            t.switches += 1;
            t.last_core = self.holder as u8;
            if !t.idle {
                thread_regs::load_tpidr(&t.frame);
            }
        }
        t.state = State::Running;
        let (frame, ttbr0, idle) = (t.frame_ptr(), t.ttbr0, t.idle);
        if self.here.slow && !idle {
            // A core that ticked slowly while idle (`idle_tick_slow`)
            // ticks at the rate again, for its thread's slice. Only such a
            // core: re-arming the time keeper would push its tick later.
            timer::arm(crate::tick::interval());
            self.here.slow = false;
        }
        let fp_cpu = t.fp_cpu as usize;
        if !idle {
            // FP/SIMD stays trapped unless this core's registers hold
            // `next`'s (it took them here last, and none since).
            let holds_fp = self.here.fp_owner == Some(next) && fp_cpu == self.holder;
            if holds_fp != self.here.fp_on {
                thread_regs::fp_access(holds_fp);
                self.here.fp_on = holds_fp;
            }
        }
        let asid = user::asid_of(ttbr0);
        if asid != self.here.loaded_asid {
            // An idle core holds no space, so that an ended one's table
            // and ASID can go (`cpus::asid_loaded`).
            user::load_ttbr0(if ttbr0 != 0 {
                ttbr0
            } else {
                user::ttbr0(self.empty_root, 0)
            });
            self.here.loaded_asid = asid;
        }
        frame
    }

    /// The current thread used FP/SIMD without holding the registers: the
    /// holder's values go to its frame, the current thread's come from its
    /// own, and the instruction runs again untrapped.
    /// (The holder's values are in its frame already: a thread's FP/SIMD
    /// registers are saved when it is switched out with access to them.)
    pub fn take_fp(&mut self) {
        let cur = self.here.current;
        if let Some(t) = self.threads.get_mut(cur) {
            thread_regs::load_fp(&t.frame);
            t.fp_cpu = self.holder as u8;
        }
        self.here.fp_owner = Some(cur);
        thread_regs::fp_access(true);
        self.here.fp_on = true;
    }

    /// `tid`'s FP/SIMD state into its frame, if the registers hold it (they
    /// may while another thread that has not used them runs): what reads a
    /// thread's registers (`Task.GetThreadContext`) calls this first.
    pub fn fp_to_frame(&mut self, tid: Tid) {
        if self.here.fp_owner == Some(tid)
            && self.here.fp_on
            && self.here.current == tid
            && let Some(t) = self.threads.get_mut(tid)
        {
            thread_regs::save_fp(&mut t.frame);
        }
    }

    /// CPU time of a thread so far, in counter ticks (its running slice included).
    pub fn cpu_time(&self, tid: Tid) -> u64 {
        self.threads.get(tid).map_or(0, |t| {
            let running = if t.state == State::Running {
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
            .get(self.here.current)
            .filter(|t| !t.idle)
            .map(|t| t.process)
    }
}
