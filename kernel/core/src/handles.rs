//! A process's handle table: handle value -> (object, rights), O(1).
//!
//! A handle value ([`kos_abi::Handle`]) is a slot index and the slot's
//! 16-bit generation, so a closed handle is detected even after its slot is
//! reused. A slot whose generation would wrap is retired, never reused, so
//! no stale value can ever name a new handle; the table shrinks by one slot
//! per 65535 handles closed in that slot. The rights mask is kept here, in
//! the kernel, never in the value.
//! A revoked handle keeps its slot as a tombstone, so its holder gets
//! `rcHandleRevoked` (not `rcInvalidHandle`) until it closes it.

use alloc::vec::Vec;

use kos_abi::{Handle, Rc, Rights};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Entry<O> {
    pub object: O,
    pub rights: Rights,
}

struct Slot<O> {
    generation: u16,
    entry: Option<Entry<O>>,
    revoked: bool,
}

pub struct HandleTable<O> {
    slots: Vec<Slot<O>>,
    free: Vec<u16>,
    /// Slots whose generations are used up.
    retired: usize,
    limit: usize,
}

impl<O: Copy> HandleTable<O> {
    /// An empty table of at most `limit` handles (at most 65535).
    pub const fn new(limit: usize) -> Self {
        HandleTable {
            slots: Vec::new(),
            free: Vec::new(),
            retired: 0,
            limit,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len() - self.retired
    }

    /// At most this many handles.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Kernel heap a table of `limit` handles takes once
    /// [`HandleTable::reserve_all`] has reserved it.
    pub const fn size_for(limit: usize) -> usize {
        limit * (core::mem::size_of::<Slot<O>>() + core::mem::size_of::<u16>())
    }

    /// Reserve room for every handle up to the limit now: the table then
    /// never grows, and its size is known ([`HandleTable::size_for`]).
    pub fn reserve_all(&mut self) -> Result<(), Rc> {
        let limit = self.limit.min(u16::MAX as usize);
        self.slots
            .try_reserve_exact(limit.saturating_sub(self.slots.len()))
            .map_err(|_| Rc::OutOfMemory)?;
        self.free
            .try_reserve_exact(limit.saturating_sub(self.free.len()))
            .map_err(|_| Rc::OutOfMemory)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new handle to `object` with `rights`. Freed slots are reused
    /// lowest-first-in, last-out; the first two handles of a fresh table are
    /// indices 0 and 1 with generation 1 (the ABI's well-known handles).
    pub fn insert(&mut self, object: O, rights: Rights) -> Result<Handle, Rc> {
        let entry = Some(Entry { object, rights });
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.entry = entry;
            slot.revoked = false;
            return Ok(Handle::new(index, slot.generation));
        }
        if self.slots.len() >= self.limit.min(u16::MAX as usize) {
            return Err(Rc::QuotaExceeded);
        }
        self.slots.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
        // Room to free every slot later without allocating.
        self.free
            .try_reserve(self.slots.len() + 1 - self.free.len())
            .map_err(|_| Rc::OutOfMemory)?;
        let index = self.slots.len() as u16;
        self.slots.push(Slot {
            generation: 1,
            entry,
            revoked: false,
        });
        Ok(Handle::new(index, 1))
    }

    /// The entry `handle` names: `rcInvalidHandle` if it names none,
    /// `rcHandleRevoked` if it was revoked.
    pub fn get(&self, handle: Handle) -> Result<Entry<O>, Rc> {
        match self.slots.get(handle.index() as usize) {
            Some(s) if s.generation == handle.generation() => match (s.entry, s.revoked) {
                (Some(e), _) => Ok(e),
                (None, true) => Err(Rc::HandleRevoked),
                (None, false) => Err(Rc::InvalidHandle),
            },
            _ => Err(Rc::InvalidHandle),
        }
    }

    /// The entry, if its rights include `needed` (`rcNoCapability` if not).
    pub fn get_with(&self, handle: Handle, needed: Rights) -> Result<Entry<O>, Rc> {
        let e = self.get(handle)?;
        if e.rights.contains(needed) {
            Ok(e)
        } else {
            Err(Rc::NoCapability)
        }
    }

    /// Close `handle`; returns what it named (`None` for a revoked handle,
    /// whose tombstone is freed).
    pub fn remove(&mut self, handle: Handle) -> Result<Option<Entry<O>>, Rc> {
        match self.get(handle) {
            Ok(_) | Err(Rc::HandleRevoked) => {}
            Err(e) => return Err(e),
        }
        let slot = &mut self.slots[handle.index() as usize];
        let entry = slot.entry.take();
        slot.revoked = false;
        // Generation 0 is never issued, so a zeroed value is never valid;
        // past the last one the slot is retired rather than wrap.
        match slot.generation.checked_add(1) {
            Some(next) => {
                slot.generation = next;
                self.free.push(handle.index());
            }
            None => {
                slot.generation = 0;
                self.retired += 1;
            }
        }
        Ok(entry)
    }

    /// Revoke `handle`: its entry goes (returned), its slot stays as a
    /// tombstone until the holder closes it.
    pub fn revoke(&mut self, handle: Handle) -> Result<Entry<O>, Rc> {
        self.get(handle)?;
        let slot = &mut self.slots[handle.index() as usize];
        slot.revoked = true;
        slot.entry.take().ok_or(Rc::InvalidHandle)
    }

    /// Change what a live handle names or its rights.
    pub fn update(&mut self, handle: Handle, entry: Entry<O>) -> Result<(), Rc> {
        self.get(handle)?;
        self.slots[handle.index() as usize].entry = Some(entry);
        Ok(())
    }

    /// Close every handle, yielding what they named.
    pub fn drain(&mut self) -> impl Iterator<Item = Entry<O>> + '_ {
        self.free.clear();
        self.retired = 0;
        self.slots.drain(..).filter_map(|s| s.entry)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Handle, Entry<O>)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.entry.map(|e| (Handle::new(i as u16, s.generation), e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_first_handles() {
        let mut t = HandleTable::new(8);
        assert_eq!(t.insert('a', Rights::all()), Ok(Handle::SELF_TASK));
        assert_eq!(t.insert('b', Rights::empty()), Ok(Handle::KERNEL));
    }

    #[test]
    fn stale_handles_detected() {
        let mut t = HandleTable::new(8);
        let h = t.insert(1, Rights::COPY).unwrap();
        assert_eq!(t.get(h).unwrap().object, 1);
        assert_eq!(t.remove(h).unwrap().map(|e| e.object), Some(1));
        assert_eq!(t.get(h), Err(Rc::InvalidHandle));
        assert_eq!(t.remove(h), Err(Rc::InvalidHandle));
        let h2 = t.insert(2, Rights::COPY).unwrap();
        assert_eq!(h2.index(), h.index());
        assert_eq!(t.get(h), Err(Rc::InvalidHandle));
        assert_eq!(t.get(h2).unwrap().object, 2);
        assert_eq!(t.get(Handle(0x7777_0042)), Err(Rc::InvalidHandle));
        assert_eq!(t.get(Handle::INVALID), Err(Rc::InvalidHandle));
    }

    #[test]
    fn a_slot_is_retired_before_its_generation_wraps() {
        let mut t = HandleTable::new(4);
        let first = t.insert(1, Rights::COPY).unwrap();
        let mut last = first;
        // Generations 1 to 65535 of slot 0, each closed.
        for i in 1..=u16::MAX as u32 {
            let h = if i == 1 {
                first
            } else {
                t.insert(i, Rights::COPY).unwrap()
            };
            assert_eq!((h.index(), h.generation() as u32), (0, i));
            assert_eq!(t.remove(h).unwrap().unwrap().object, i);
            last = h;
        }
        assert!(t.is_empty());
        // The slot is not reused: no earlier value can name the new handle.
        let next = t.insert(7, Rights::COPY).unwrap();
        assert_eq!(next.index(), 1);
        assert_eq!(t.len(), 1);
        for stale in [first, last, Handle::new(0, 0)] {
            assert_eq!(t.get(stale), Err(Rc::InvalidHandle));
            assert_eq!(t.remove(stale), Err(Rc::InvalidHandle));
        }
        assert_eq!(t.iter().count(), 1);
        // Its capacity is one slot less.
        t.insert(8, Rights::COPY).unwrap();
        t.insert(9, Rights::COPY).unwrap();
        assert_eq!(t.insert(10, Rights::COPY), Err(Rc::QuotaExceeded));
    }

    #[test]
    fn revoked_handles_are_tombstones() {
        let mut t = HandleTable::new(8);
        let h = t.insert(1, Rights::COPY).unwrap();
        assert_eq!(t.revoke(h).unwrap().object, 1);
        assert_eq!(t.get(h), Err(Rc::HandleRevoked));
        assert_eq!(t.revoke(h), Err(Rc::HandleRevoked));
        // The slot is not reused until closed.
        let h2 = t.insert(2, Rights::COPY).unwrap();
        assert_ne!(h2.index(), h.index());
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove(h), Ok(None));
        assert_eq!(t.get(h), Err(Rc::InvalidHandle));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn rights_checked_and_limit() {
        let mut t = HandleTable::new(2);
        let h = t.insert(1, Rights::COPY).unwrap();
        assert!(t.get_with(h, Rights::COPY).is_ok());
        assert_eq!(t.get_with(h, Rights::TRANSFER), Err(Rc::NoCapability));
        t.insert(2, Rights::empty()).unwrap();
        assert_eq!(t.insert(3, Rights::empty()), Err(Rc::QuotaExceeded));
        assert_eq!(t.len(), 2);
        assert_eq!(t.drain().count(), 2);
        assert!(t.is_empty());
    }
}
