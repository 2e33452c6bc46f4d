//! Memory of what has ended, given back in steps. A process's end, an
//! MDL's last close, a whole tree of processes ending as each one's handles
//! close: each only hands its memory over here, at once and uncharged from
//! its budget, and the kernel frees it a page at a time: a few pages on its
//! way out of every exception ([`STEPS_PER_EXIT`]), and all of it when the
//! CPU would otherwise idle, stopping whenever an interrupt waits
//! ([`resume::should_stop`]). So whatever a process held, its end keeps
//! interrupts masked for no more than a page's work and delays a woken
//! thread by a few pages'. A call that finds no free frame while memory
//! waits here gives it back first and comes back (`kcall::call`), so what
//! waits is never lost to anyone.

use alloc::vec::Vec;

use kernel_core::addr::PhysAddr;

use super::resume::should_stop;

/// Pages given back on the way out of each exception.
pub const STEPS_PER_EXIT: usize = 32;
use super::space::AddressSpace;

pub struct Reclaim {
    /// Address spaces of ended processes, taken apart from their last
    /// region down ([`AddressSpace::teardown_step`]).
    spaces: Vec<AddressSpace>,
    /// Frames of MDLs that went (or were never finished).
    frames: Vec<Vec<PhysAddr>>,
}

impl Reclaim {
    /// Room taken at boot, so that handing over never allocates: twice the
    /// processes and MDLs there can be at once (and one half-made MDL per
    /// thread), since what ended may wait while new ones live.
    #[cfg(not(feature = "ktest"))]
    pub fn new() -> Reclaim {
        use super::{MAX_OBJECTS, MAX_PROCESSES, MAX_THREADS};
        let mut r = Reclaim {
            spaces: Vec::new(),
            frames: Vec::new(),
        };
        let _ = r.spaces.try_reserve_exact(2 * MAX_PROCESSES);
        let _ = r.frames.try_reserve_exact(2 * MAX_OBJECTS + MAX_THREADS);
        r
    }

    /// Nothing waits to be given back (a space no core holds any more
    /// may wait too: see [`Self::run`]).
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.spaces.is_empty() && self.frames.is_empty()
    }

    /// The space of an ended process ([`AddressSpace::bury`] has been
    /// done), which a core may still hold (`loaded(asid)`) until it
    /// switches away from that process's thread: its table and ASID stay
    /// until none does.
    pub fn space(&mut self, space: AddressSpace, loaded: impl Fn(u16) -> bool) {
        if self.spaces.len() < self.spaces.capacity() {
            self.spaces.push(space);
            return;
        }
        // Only if ends outran giving back for long: correct, if slow. Of
        // the spaces waiting (more than there are cores), one no core
        // holds goes whole to make room.
        if let Some(i) = self.spaces.iter().position(|s| !loaded(s.asid())) {
            let done = core::mem::replace(&mut self.spaces[i], space);
            done.destroy(|_| {});
        } else {
            space.destroy(|_| {});
        }
    }

    /// Frames nothing refers to any more.
    pub fn frames(&mut self, frames: Vec<PhysAddr>) {
        if frames.is_empty() {
            return;
        }
        if self.frames.len() < self.frames.capacity() {
            self.frames.push(frames);
        } else {
            for pa in frames {
                let _ = crate::memory::frames::free(pa);
            }
        }
    }

    /// Give memory back a page at a time: at most `pages`, and none after
    /// an interrupt waits (at least one). A space a core still holds
    /// (`loaded(asid)`) waits, and while one does, so do freed MDLs'
    /// frames.
    pub fn run(&mut self, pages: usize, loaded: impl Fn(u16) -> bool) {
        for _ in 0..pages {
            let ready = self
                .spaces
                .iter()
                .rposition(|s| s.asid() == 0 || !loaded(s.asid()));
            if let Some(i) = ready {
                let space = &mut self.spaces[i];
                // No core holds it: its ASID's entries go, then its pages.
                space.retire_asid();
                if space.teardown_step() {
                    self.spaces.swap_remove(i).destroy(|_| {});
                }
            } else if !self.spaces.is_empty() {
                // Every space left is still held by a core, which may run
                // the ended thread for a moment yet (`stop_elsewhere`), its
                // TLB holding what it mapped: an MDL's frames released
                // with its space wait until it has let go.
                return;
            } else if let Some(list) = self.frames.last_mut() {
                match list.pop() {
                    Some(pa) => {
                        let _ = crate::memory::frames::free(pa);
                    }
                    None => drop(self.frames.pop()),
                }
            } else {
                return;
            }
            if should_stop() {
                return;
            }
        }
    }
}
