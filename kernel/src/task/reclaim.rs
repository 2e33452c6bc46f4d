//! Memory of what has ended, given back in steps. A process's end, an
//! MDL's last close, a whole tree of processes ending as each one's handles
//! close: each only hands its memory over here, at once and uncharged from
//! its budget, and the kernel frees it a page at a time on its way out of
//! every exception, until an interrupt waits ([`resume::should_stop`]).
//! So whatever a process held, its end keeps interrupts masked for no more
//! than a page's work; the CPU goes to giving memory back before user code.

use alloc::vec::Vec;

use kernel_core::addr::PhysAddr;

use super::resume::should_stop;
use super::space::AddressSpace;

pub struct Reclaim {
    /// Address spaces of ended processes, taken apart from their last
    /// region down ([`AddressSpace::teardown_step`]).
    spaces: Vec<AddressSpace>,
    /// Frames of MDLs that went (or were never finished).
    frames: Vec<Vec<PhysAddr>>,
}

impl Reclaim {
    /// Room for as many as there can be at once (every process; every MDL
    /// object and one half-made per thread), taken at boot: handing over
    /// never allocates.
    #[cfg(not(feature = "ktest"))]
    pub fn new() -> Reclaim {
        use super::{MAX_OBJECTS, MAX_PROCESSES, MAX_THREADS};
        let mut r = Reclaim {
            spaces: Vec::new(),
            frames: Vec::new(),
        };
        let _ = r.spaces.try_reserve_exact(MAX_PROCESSES);
        let _ = r.frames.try_reserve_exact(MAX_OBJECTS + MAX_THREADS);
        r
    }

    /// Nothing waits to be given back.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.spaces.is_empty() && self.frames.is_empty()
    }

    /// The space of an ended process, which no thread runs in any more and
    /// no TTBR holds ([`AddressSpace::bury`] has been done).
    pub fn space(&mut self, space: AddressSpace) {
        if self.spaces.len() < self.spaces.capacity() {
            self.spaces.push(space);
        } else {
            // Never, by the room taken at boot; correct if slow.
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

    /// Give memory back a page at a time until all has gone or an
    /// interrupt waits.
    pub fn run(&mut self) {
        loop {
            if let Some(space) = self.spaces.last_mut() {
                if space.teardown_step()
                    && let Some(space) = self.spaces.pop()
                {
                    space.destroy(|_| {});
                }
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
