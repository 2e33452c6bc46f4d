//! Long kernel operations in steps. Interrupts are masked while the kernel
//! serves a call, so a call that works page by page (a 16 MiB MDL, 16 MiB
//! of memory) or byte by byte (a 64 KiB console write) checks between
//! steps whether an interrupt is waiting. If one is and work is left, it
//! keeps its progress here, with its thread, and returns to the very `svc`
//! that made it: the interrupt is taken at once, and when the thread runs
//! again it makes the same call (same registers), which goes on from where
//! it stopped. Every entry does at least one step, so the call always ends;
//! no process keeps interrupts masked for longer than one step.
//!
//! A thread that ends half-way gives its work back ([`Kernel::abandon`]).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kernel_core::addr::PAGE_SIZE;
use kernel_core::paging::Attrs;
use kernel_core::slab::Id;
use kos_abi::Rc;

use super::Kernel;
use super::object::Mdl;
use super::space::RegionKind;
use super::thread::Pid;

/// What is left of a call, and the registers that made it.
pub struct Resume {
    /// x0..x5 and x8 of the `svc`: the same call comes back with the same.
    regs: [u64; 7],
    pub work: Work,
}

/// Progress of one kind of long call.
pub enum Work {
    /// `Console.Write`: bytes of the arena already written.
    Console { written: u32 },
    /// `Console.Write` waiting for another thread's stopped write
    /// (`task::console_turn`): it goes ahead once that write ends, or at
    /// tick `until` whatever happens.
    ConsoleTurn { until: u64 },
    /// `Mdl.Create`: the MDL so far (frames zeroed), its `pages` charged to
    /// the caller's frames; for `GetNextVmRegion`, the copy so far of the
    /// region at `copy_of` (process, start).
    Mdl {
        mdl: Mdl,
        pages: usize,
        copy_of: Option<(Pid, u64)>,
    },
    /// `Vm.Allocate`, `Vm.Free`, `Vm.Protect`, `VmReserve`, `VmFree`,
    /// `LoadSeg`, a thread's stack (`Thread.Create`, `Task.Resume`,
    /// `THREAD_EXIT`): `op` on the busy region at `start` of process `pid`,
    /// done up to page `next`.
    Pages {
        pid: Pid,
        start: u64,
        next: u64,
        op: PageOp,
    },
}

/// What a call does to a busy region (`task::space`), a page at a time.
#[derive(Copy, Clone, PartialEq, Eq)]
pub enum PageOp {
    /// Map fresh pages with `attrs`, their contents from `fill`; the
    /// region becomes of `kind`.
    Map {
        attrs: Attrs,
        kind: RegionKind,
        fill: Fill,
    },
    /// Unmap and free its pages (it was of `kind`); the region goes.
    Unmap { kind: RegionKind },
    /// Give its pages `attrs`; it becomes `Vm.Allocate` memory again.
    Protect { attrs: Attrs },
    /// A mapping that failed with `rc`: what it mapped is unmapped, then
    /// the call fails with `rc`.
    Undo { rc: Rc },
}

/// Where a page mapped in steps takes its first contents from.
#[derive(Copy, Clone, PartialEq, Eq)]
pub enum Fill {
    Zero,
    /// `LoadSeg`: addresses `[from, to)` hold MDL `mdl`'s bytes from
    /// `offset` on; the rest is zero. The MDL is looked up at each page (its
    /// id never reaches another object, see `slab`).
    Mdl {
        mdl: Id,
        offset: u64,
        from: u64,
        to: u64,
    },
}

/// Calls stopped for an interrupt since [`take_stopped`] last ran.
static STOPPED: AtomicU64 = AtomicU64::new(0);

/// How many calls stopped for an interrupt (and went on) since the last
/// look; starts counting again.
pub fn take_stopped() -> u64 {
    STOPPED.swap(0, Ordering::Relaxed)
}

/// Steps a long call makes while another core waits for the kernel,
/// before it lets that core in: enough that each entry makes headway, few
/// enough that the wait stays short (a step is at most a page's work).
const STEPS_WHILE_CONTENDED: u32 = 32;

/// Whether a call with more to do should stop now and come back: an
/// interrupt waits, or another core has waited for the kernel for
/// [`STEPS_WHILE_CONTENDED`] of its steps.
#[inline(always)]
pub fn should_stop() -> bool {
    interrupt_waits() || (super::KERNEL.contended() && contended_long_enough())
}

/// Counts the steps made while the lock is contended; true (and starts
/// counting again) once there were [`STEPS_WHILE_CONTENDED`]. Only the
/// lock's holder calls it.
fn contended_long_enough() -> bool {
    static STEPS: AtomicU32 = AtomicU32::new(0);
    let n = STEPS.load(Ordering::Relaxed) + 1;
    let done = n >= STEPS_WHILE_CONTENDED;
    STEPS.store(if done { 0 } else { n }, Ordering::Relaxed);
    done
}

/// Whether an interrupt waits on this core.
#[inline(always)]
pub fn interrupt_waits() -> bool {
    crate::arch::cpu::irq_pending()
}

impl Kernel {
    /// The current thread's syscall registers (x0..x5, x8).
    fn call_regs(&self) -> Option<[u64; 7]> {
        let x = &self.thread(self.current())?.frame.x;
        Some([x[0], x[1], x[2], x[3], x[4], x[5], x[8]])
    }

    /// The work the current thread left when it last made this very call,
    /// if it did. Work left by another call is given back.
    pub fn take_resume(&mut self) -> Option<Work> {
        let regs = self.call_regs()?;
        let cur = self.current();
        let t = self.thread_mut(cur)?;
        let r = t.resume.take()?;
        let pid = t.process;
        if r.regs == regs {
            Some(r.work)
        } else {
            self.abandon(pid, r.work);
            None
        }
    }

    /// Give back whatever work the current thread left for this call.
    pub fn drop_resume(&mut self) {
        if let Some(w) = self.take_resume() {
            let pid = self.thread(self.current()).map(|t| t.process);
            if let Some(pid) = pid {
                self.abandon(pid, w);
            }
        }
    }

    /// A call that changes a region of `pid` a page at a time: goes on with
    /// the work this call left if it is `want`ed, or else `begin`s (making
    /// the region busy: its start and what to do). `Ok(Some((start, end)))`
    /// once done, `Ok(None)` if it stopped for an interrupt (its work kept:
    /// reply [`Reply::Again`](crate::kcall::Reply)); on error the region is
    /// given back (what a mapping mapped, in steps too).
    pub fn pages_in_steps(
        &mut self,
        pid: Pid,
        want: impl FnOnce(&PageOp) -> bool,
        begin: impl FnOnce(&mut Kernel) -> Result<(u64, PageOp), Rc>,
    ) -> Result<Option<(u64, u64)>, Rc> {
        let (start, next, op) = match self.take_resume() {
            Some(Work::Pages {
                pid: p,
                start,
                next,
                op,
            }) if p == pid && (matches!(op, PageOp::Undo { .. }) || want(&op)) => (start, next, op),
            other => {
                if let Some(w) = other {
                    // The work is the calling thread's, whatever `pid` is.
                    let caller = self.thread(self.current()).map_or(pid, |t| t.process);
                    self.abandon(caller, w);
                }
                let (start, op) = begin(self)?;
                (start, start, op)
            }
        };
        let (mut next, mut op) = (next, op);
        let cpus = self.cpus_asids();
        let Kernel {
            procs,
            mdls,
            reclaim,
            ..
        } = self;
        let space = procs
            .get_mut(pid)
            .and_then(|p| p.space.as_mut())
            .ok_or(Rc::InvalidArgument)?;
        let mut end = space.busy_end(start).ok_or(Rc::InvalidArgument)?;
        let mut stopped = false;
        while next < end {
            let step = match op {
                PageOp::Map { attrs, fill, .. } => match fill {
                    Fill::Zero => space.map_step(next, attrs, |_, _| 0..0),
                    Fill::Mdl {
                        mdl,
                        offset,
                        from,
                        to,
                    } => match mdls.get(mdl) {
                        Some(m) => space.map_step(next, attrs, |va, page| {
                            let (lo, hi) = (va.max(from), (va + PAGE_SIZE).min(to));
                            if lo >= hi {
                                return 0..0;
                            }
                            let at = (lo - va) as usize..(hi - va) as usize;
                            // Within the MDL: checked when the call began
                            // (if not, nothing was written).
                            match m.read(offset + (lo - from), &mut page[at.clone()]) {
                                Ok(_) => at,
                                Err(_) => 0..0,
                            }
                        }),
                        None => Err(Rc::InvalidArgument),
                    },
                },
                PageOp::Unmap { .. } | PageOp::Undo { .. } => {
                    space.unmap_step(next);
                    Ok(())
                }
                PageOp::Protect { attrs } => space.protect_step(next, attrs),
            };
            match (step, op) {
                (Ok(()), _) => {}
                (Err(Rc::OutOfMemory), PageOp::Map { .. }) if !reclaim.is_empty() => {
                    // Frames of what ended wait to be given back: they go
                    // first, then this page again.
                    reclaim.run(usize::MAX, |a| cpus.contains(&a));
                    if should_stop() {
                        stopped = true;
                        break;
                    }
                    continue;
                }
                (Err(rc), PageOp::Map { .. }) => {
                    // Undo what was mapped, from the start, in steps too.
                    space.truncate_busy(start, next);
                    (next, end, op) = (start, next, PageOp::Undo { rc });
                    continue;
                }
                (Err(rc), _) => {
                    space.finish(start, Some(RegionKind::Heap));
                    return Err(rc);
                }
            }
            next += PAGE_SIZE;
            if next < end && should_stop() {
                stopped = true;
                break;
            }
        }
        if stopped {
            self.save_resume(Work::Pages {
                pid,
                start,
                next,
                op,
            });
            return Ok(None);
        }
        let kind = match op {
            PageOp::Map { kind, .. } => Some(kind),
            PageOp::Unmap { .. } | PageOp::Undo { .. } => None,
            PageOp::Protect { .. } => Some(RegionKind::Heap),
        };
        space.finish(start, kind);
        match op {
            PageOp::Undo { rc } => Err(rc),
            _ => Ok(Some((start, end))),
        }
    }

    /// An MDL a call makes a frame at a time for `caller` (`Mdl.Create`,
    /// `GetNextVmRegion`'s copy of the region `copy_of` names): the one this
    /// very call left, or else a new one with room for `pages()` frames,
    /// charged to the caller's frames; each step adds a frame with `add`.
    /// `Ok(None)` if it stopped for an interrupt (its work kept: reply
    /// [`Reply::Again`](crate::kcall::Reply)); on error what it holds is
    /// given back.
    pub fn mdl_in_steps(
        &mut self,
        caller: Pid,
        copy_of: Option<(Pid, u64)>,
        pages: impl FnOnce() -> Result<usize, Rc>,
        mut add: impl FnMut(&Kernel, &mut Mdl) -> Result<(), Rc>,
    ) -> Result<Option<Mdl>, Rc> {
        let (mut mdl, pages) = match self.take_resume() {
            Some(Work::Mdl {
                mdl,
                pages,
                copy_of: c,
            }) if c == copy_of => (mdl, pages),
            other => {
                if let Some(w) = other {
                    self.abandon(caller, w);
                }
                let pages = pages()?;
                self.charge_frames(caller, pages)?;
                match Mdl::with_room(pages) {
                    Ok(m) => (m, pages),
                    Err(e) => {
                        self.uncharge_frames(Some(caller), pages);
                        return Err(e);
                    }
                }
            }
        };
        while mdl.frames.len() < pages {
            if let Err(e) = add(self, &mut mdl) {
                self.abandon(
                    caller,
                    Work::Mdl {
                        mdl,
                        pages,
                        copy_of,
                    },
                );
                return Err(e);
            }
            if mdl.frames.len() < pages && should_stop() {
                self.save_resume(Work::Mdl {
                    mdl,
                    pages,
                    copy_of,
                });
                return Ok(None);
            }
        }
        mdl.charged_to = Some(caller);
        Ok(Some(mdl))
    }

    /// Keep `work` with the current thread, which comes back to it.
    pub fn save_resume(&mut self, work: Work) {
        let Some(regs) = self.call_regs() else {
            return;
        };
        // A wait for the console's turn is not a call stopped half-way.
        if !matches!(work, Work::ConsoleTurn { .. }) {
            STOPPED.fetch_add(1, Ordering::Relaxed);
        }
        let cur = self.current();
        if let Some(t) = self.thread_mut(cur) {
            let pid = t.process;
            if let Some(old) = t.resume.replace(Resume { regs, work }) {
                self.abandon(pid, old.work);
            }
        }
    }

    /// Give back what half-done `work` of a thread of `pid` holds.
    pub fn abandon(&mut self, pid: Pid, work: Work) {
        match work {
            Work::Console { .. } | Work::ConsoleTurn { .. } => {}
            Work::Mdl { mdl, pages, .. } => {
                self.reclaim.frames(mdl.frames);
                self.uncharge_frames(Some(pid), pages);
            }
            // A busy region stays busy, and goes with its process (by then
            // given back in steps, see `reclaim`); pages given new
            // permissions keep them.
            Work::Pages { pid, start, op, .. } => {
                if let PageOp::Protect { .. } = op
                    && let Some(space) = self.procs.get_mut(pid).and_then(|p| p.space.as_mut())
                {
                    space.finish(start, Some(RegionKind::Heap));
                }
            }
        }
    }
}
