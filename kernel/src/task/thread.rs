//! Threads: a saved context (the whole [`TrapFrame`], so general, FP/SIMD
//! and control registers all survive preemption), a scheduling policy, and
//! what the thread waits for while blocked.

use alloc::boxed::Box;
use alloc::vec::Vec;

use kernel_core::sched::{self as policy, Slice};
use kernel_core::slab::Id;
use kernel_core::syscall::UserSlice;
use kos_abi::sched::SchedClass;

use crate::arch::exception::TrapFrame;

pub type Tid = Id;
pub type Pid = Id;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Created, not yet started (its process was not resumed).
    New,
    Ready,
    Running,
    Blocked,
    /// Its process is frozen: it never runs again.
    Stopped,
    Dead,
}

impl State {
    /// The number `Thread.INFO` reports.
    pub fn abi(self) -> u32 {
        match self {
            State::New | State::Ready => 0,
            State::Running => 1,
            State::Blocked | State::Stopped => 2,
            State::Dead => 3,
        }
    }
}

/// What a blocked thread waits for, and where its reply goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    Sleep,
    /// `Console.Write` while another thread's write is half-way: the call
    /// comes again (`console_turn`).
    Console,
    /// `Call` on a channel: queued (`served_by` None) or received by a
    /// server thread. `badge` is the value the server sees.
    Call {
        channel: kernel_core::slab::Id,
        request: UserSlice,
        reply: UserSlice,
        badge: u64,
        served_by: Option<Tid>,
    },
    /// `Recv` on a channel, into `buf`.
    Recv {
        channel: kernel_core::slab::Id,
        buf: UserSlice,
    },
    /// `Notice.WAIT`: where the events go.
    Notice {
        notice: kernel_core::slab::Id,
        reply: u64,
        cap: u64,
    },
    /// `Thread.JOIN`: the reply buffer of the caller's CALL.
    Join {
        target: Tid,
        reply: u64,
        cap: u64,
    },
    /// `Task.WAIT`.
    TaskEnd {
        target: Pid,
        reply: u64,
        cap: u64,
    },
}

pub struct Thread {
    /// Saved registers; boxed so its address stays fixed while the thread
    /// runs (SP_EL1 points at its end, see vectors.s).
    pub frame: Box<TrapFrame>,
    pub process: Pid,
    /// Its process's policy subject, kept here for the IPC path's policy
    /// check (a process's subject never changes; set with the thread).
    pub subject: u16,
    /// Its process's translation table and ASID as TTBR0 takes them
    /// (`arch::user::ttbr0`; 0 for an idle thread), kept here for the
    /// switch (a process's space is the same for its threads' lives).
    pub ttbr0: u64,
    /// The last two message kinds the policy granted it outright, newest
    /// first (see `gate::pass`; 0: none).
    pub granted: [u64; 2],
    /// The number users see (`ThreadInfo.tid`).
    pub tid: u32,
    pub state: State,
    pub class: SchedClass,
    pub priority: u32,
    pub slice: Slice,
    /// CPU time in counter ticks, and when it was last switched in.
    pub cpu_time: u64,
    pub switched_in_at: u64,
    pub switches: u64,
    /// Start of its stack region (released when it dies); 0 for none.
    pub stack_base: u64,
    pub exit_code: i64,
    /// Handles naming this thread (it is freed when dead and unnamed).
    pub handle_refs: u32,
    /// Threads blocked in `Thread.JOIN` on this one.
    pub joiners: Vec<Tid>,
    /// Clients whose requests this thread received and has not answered.
    pub serving: Vec<Tid>,
    pub wait: Option<Wait>,
    /// While in a queued `Wait::Call`: the request as the gate will see it
    /// and the server receive it.
    pub sent: crate::gate::Snapshot,
    /// Tick at which a blocked wait times out.
    pub deadline: Option<u64>,
    /// A CPU's idle thread: never queued, never blocked.
    pub idle: bool,
    /// The cores it may run on (bit = core).
    pub affinity: u64,
    /// The core whose registers last took its FP/SIMD state (`take_fp`).
    pub fp_cpu: u8,
    /// The core it last ran on (`u8::MAX`: none yet).
    pub last_core: u8,
    /// What is left of a long call it will make again (see `resume`).
    pub resume: Option<super::resume::Resume>,
}

impl Thread {
    /// A thread in state `New`, or `None` if the kernel heap is exhausted
    /// (user space must never make the kernel panic).
    pub fn try_new(
        process: Pid,
        tid: u32,
        class: SchedClass,
        priority: u32,
        quantum: u32,
    ) -> Option<Thread> {
        Some(Thread {
            frame: TrapFrame::try_new_boxed()?,
            process,
            subject: policy_table::KERNEL,
            ttbr0: 0,
            granted: [0; 2],
            tid,
            state: State::New,
            class,
            priority,
            slice: Slice::new(class, quantum),
            cpu_time: 0,
            switched_in_at: 0,
            switches: 0,
            stack_base: 0,
            exit_code: 0,
            handle_refs: 0,
            joiners: Vec::new(),
            serving: Vec::new(),
            wait: None,
            sent: crate::gate::Snapshot::empty(),
            deadline: None,
            idle: false,
            affinity: super::cpus::DEFAULT_AFFINITY,
            fp_cpu: u8::MAX,
            last_core: u8::MAX,
            resume: None,
        })
    }

    /// Keep `key` (a message kind the policy granted outright, see
    /// `gate::pass`) as the newest of the two remembered grants.
    pub fn remember_grant(&mut self, key: u64) {
        self.granted = [key, self.granted[0]];
    }

    /// Its run-queue level (the policy was validated when it was set).
    pub fn level(&self) -> u8 {
        policy::level(self.class, self.priority).unwrap_or(0)
    }

    /// Where the vectors should save this thread's context: the end of its frame.
    pub fn frame_ptr(&mut self) -> *mut TrapFrame {
        &mut *self.frame
    }

    /// Set the syscall results the thread sees when it resumes.
    pub fn set_return(&mut self, rc: kos_abi::Rc, value: u64) {
        self.frame.x[0] = rc as u64;
        self.frame.x[1] = value;
    }
}
