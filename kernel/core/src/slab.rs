//! A slab of kernel objects addressed by [`Id`]: an index plus the slot's
//! generation, so an id kept after its object died never reaches the
//! object that reuses the slot. Lookup is O(1); insertion reuses freed
//! slots first and never panics on allocation failure.

use alloc::vec::Vec;

/// Index and generation of a slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    pub index: u32,
    pub generation: u32,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    limit: usize,
}

/// Why an insertion failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SlabError {
    /// `limit` live objects already.
    Full,
    /// The kernel heap could not grow the slab.
    OutOfMemory,
}

impl<T> Slab<T> {
    /// An empty slab holding at most `limit` live objects.
    pub const fn new(limit: usize) -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            limit,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reserve memory for `limit` objects now, so the slab never grows (and
    /// the kernel heap in use does not change) as objects come and go.
    pub fn reserve_all(&mut self) -> Result<(), SlabError> {
        let more = self.limit.saturating_sub(self.slots.len());
        self.slots
            .try_reserve_exact(more)
            .map_err(|_| SlabError::OutOfMemory)?;
        self.free
            .try_reserve_exact(self.limit.saturating_sub(self.free.len()))
            .map_err(|_| SlabError::OutOfMemory)
    }

    /// Make sure the next [`Slab::insert`] succeeds (room under the limit
    /// and memory reserved), so a caller can build an expensive value only
    /// once it knows it will be kept.
    pub fn reserve_one(&mut self) -> Result<(), SlabError> {
        if self.len >= self.limit {
            return Err(SlabError::Full);
        }
        if !self.free.is_empty() {
            return Ok(());
        }
        self.slots
            .try_reserve(1)
            .map_err(|_| SlabError::OutOfMemory)?;
        self.free
            .try_reserve(self.slots.len() + 1 - self.free.len())
            .map_err(|_| SlabError::OutOfMemory)
    }

    /// The slot index the next [`Slab::insert`] will use.
    pub fn next_index(&self) -> u32 {
        self.free.last().copied().unwrap_or(self.slots.len() as u32)
    }

    pub fn insert(&mut self, value: T) -> Result<Id, SlabError> {
        if self.len >= self.limit {
            return Err(SlabError::Full);
        }
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            self.len += 1;
            return Ok(Id {
                index,
                generation: slot.generation,
            });
        }
        // Reserve room to free this slot later, so `remove` never allocates.
        self.slots
            .try_reserve(1)
            .map_err(|_| SlabError::OutOfMemory)?;
        self.free
            .try_reserve(self.slots.len() + 1 - self.free.len())
            .map_err(|_| SlabError::OutOfMemory)?;
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 1,
            value: Some(value),
        });
        self.len += 1;
        Ok(Id {
            index,
            generation: 1,
        })
    }

    /// The live object in slot `index`, with its id.
    pub fn at(&self, index: u32) -> Option<(Id, &T)> {
        let slot = self.slots.get(index as usize)?;
        let id = Id {
            index,
            generation: slot.generation,
        };
        slot.value.as_ref().map(|v| (id, v))
    }

    /// The id of the live object in slot `index`, if any.
    pub fn id_at(&self, index: u32) -> Option<Id> {
        self.at(index).map(|(id, _)| id)
    }

    pub fn get(&self, id: Id) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.value.as_ref())
            .flatten()
    }

    pub fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Remove the object; its id (and every copy of it) goes stale.
    pub fn remove(&mut self, id: Id) -> Option<T> {
        let slot = self.live_slot(id)?;
        let value = slot.value.take();
        self.retire(id);
        value
    }

    /// Remove the object and drop it where it lies (a large object is not
    /// moved out first, as [`Slab::remove`] does); false if `id` is stale.
    pub fn delete(&mut self, id: Id) -> bool {
        let Some(slot) = self.live_slot(id) else {
            return false;
        };
        slot.value = None;
        self.retire(id);
        true
    }

    fn live_slot(&mut self, id: Id) -> Option<&mut Slot<T>> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation && s.value.is_some())
    }

    /// The slot of `id`, just emptied, is free again under a new
    /// generation.
    fn retire(&mut self, id: Id) {
        if let Some(slot) = self.slots.get_mut(id.index as usize) {
            slot.generation = slot.generation.wrapping_add(1).max(1);
        }
        // Capacity was reserved at insertion: this push does not allocate.
        self.free.push(id.index);
        self.len -= 1;
    }

    pub fn iter(&self) -> impl Iterator<Item = (Id, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|v| {
                (
                    Id {
                        index: i as u32,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_miss() {
        let mut s = Slab::new(4);
        let a = s.insert(1).unwrap();
        assert_eq!(s.get(a), Some(&1));
        assert_eq!(s.remove(a), Some(1));
        assert_eq!(s.get(a), None);
        let b = s.insert(2).unwrap();
        assert_eq!(b.index, a.index);
        assert_ne!(b.generation, a.generation);
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&2));
    }

    #[test]
    fn delete_drops_in_place_and_frees_the_slot() {
        let counted = alloc::rc::Rc::new(());
        let mut s = Slab::new(1);
        let a = s.insert(counted.clone()).unwrap();
        assert_eq!(alloc::rc::Rc::strong_count(&counted), 2);
        assert!(s.delete(a));
        assert_eq!(alloc::rc::Rc::strong_count(&counted), 1, "dropped");
        assert!(s.get(a).is_none() && s.is_empty());
        assert!(!s.delete(a), "a stale id deletes nothing");
        let b = s.insert(counted.clone()).unwrap();
        assert_eq!(b.index, a.index);
        assert!(!s.delete(a), "nor does it reach the slot's new object");
        assert!(s.get(b).is_some());
    }

    #[test]
    fn reserve_one_then_insert_succeeds() {
        let mut s = Slab::new(1);
        assert_eq!(s.reserve_one(), Ok(()));
        s.insert(1).unwrap();
        assert_eq!(s.reserve_one(), Err(SlabError::Full));
    }

    #[test]
    fn limit_enforced() {
        let mut s = Slab::new(2);
        s.insert(1).unwrap();
        let b = s.insert(2).unwrap();
        assert_eq!(s.insert(3), Err(SlabError::Full));
        s.remove(b);
        assert!(s.insert(3).is_ok());
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().count(), 2);
    }
}
