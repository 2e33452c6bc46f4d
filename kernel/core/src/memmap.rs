//! Usable physical memory computation: a small, fixed-capacity set of
//! half-open address ranges, kept sorted and fully merged so that later
//! consumers (frame allocator, `take`) can reason about it simply.

use core::fmt;

use heapless::Vec;

use crate::addr::{PAGE_SIZE, align_down, align_up};

/// Half-open address range `[start, end)`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
}

impl Region {
    /// `[start, start + size)`; `None` if the end would overflow `u64`.
    pub const fn new(start: u64, size: u64) -> Option<Region> {
        match start.checked_add(size) {
            Some(end) => Some(Region { start, end }),
            None => None,
        }
    }

    pub const fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Whether the two ranges share at least one address (empty ranges
    /// overlap nothing).
    pub const fn overlaps(&self, other: &Region) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum MemMapError {
    /// The operation would need more than the set's fixed capacity.
    TooManyRegions,
}

impl fmt::Display for MemMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemMapError::TooManyRegions => f.write_str("memory map: too many regions"),
        }
    }
}

/// Sorted set of non-empty, non-overlapping, non-adjacent regions.
///
/// Every mutating operation either fully succeeds or leaves the set as it
/// was, so a failed `add`/`remove` never corrupts the memory map.
#[derive(Clone, Debug, Default)]
pub struct RegionSet<const N: usize> {
    regions: Vec<Region, N>,
}

impl<const N: usize> RegionSet<N> {
    pub const fn new() -> Self {
        RegionSet {
            regions: Vec::new(),
        }
    }

    pub fn iter(&self) -> core::slice::Iter<'_, Region> {
        self.regions.iter()
    }

    pub fn as_slice(&self) -> &[Region] {
        &self.regions
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Sum of all region sizes in bytes.
    pub fn total_size(&self) -> u64 {
        self.regions.iter().map(Region::size).sum()
    }

    pub fn contains(&self, addr: u64) -> bool {
        // Last region starting at or below `addr` is the only candidate.
        let i = self.regions.partition_point(|r| r.start <= addr);
        i > 0 && self.regions[i - 1].contains(addr)
    }

    /// Lowest address in the set.
    pub fn lowest(&self) -> Option<u64> {
        self.regions.first().map(|r| r.start)
    }

    /// Exclusive upper bound of the set (end of the last region).
    pub fn highest(&self) -> Option<u64> {
        self.regions.last().map(|r| r.end)
    }

    /// `[lowest, highest)`: the span a frame bitmap must cover.
    pub fn span(&self) -> Option<Region> {
        Some(Region {
            start: self.lowest()?,
            end: self.highest()?,
        })
    }

    /// Union `r` into the set, merging with overlapping or adjacent regions.
    pub fn add(&mut self, r: Region) -> Result<(), MemMapError> {
        if r.is_empty() {
            return Ok(());
        }
        // Regions touching `r` (overlapping or adjacent) form a contiguous
        // index range [lo, hi) because the set is sorted and disjoint.
        let lo = self.regions.partition_point(|x| x.end < r.start);
        let hi = self.regions.partition_point(|x| x.start <= r.end);
        if lo == hi {
            return self
                .regions
                .insert(lo, r)
                .map_err(|_| MemMapError::TooManyRegions);
        }
        let merged = Region {
            start: r.start.min(self.regions[lo].start),
            end: r.end.max(self.regions[hi - 1].end),
        };
        self.regions[lo] = merged;
        for _ in lo + 1..hi {
            self.regions.remove(lo + 1);
        }
        Ok(())
    }

    /// Subtract `r` from the set; a region strictly containing `r` is split.
    pub fn remove(&mut self, r: Region) -> Result<(), MemMapError> {
        if r.is_empty() {
            return Ok(());
        }
        // Regions overlapping `r` are [lo, hi).
        let lo = self.regions.partition_point(|x| x.end <= r.start);
        let hi = self.regions.partition_point(|x| x.start < r.end);
        if lo >= hi {
            return Ok(());
        }
        let first = self.regions[lo];
        let last = self.regions[hi - 1];
        let left = Region {
            start: first.start,
            end: r.start,
        };
        let right = Region {
            start: r.end,
            end: last.end,
        };
        // Replace [lo, hi) with the surviving pieces; check capacity first.
        let pieces = usize::from(!left.is_empty()) + usize::from(!right.is_empty());
        if self.regions.len() - (hi - lo) + pieces > N {
            return Err(MemMapError::TooManyRegions);
        }
        for _ in lo..hi {
            self.regions.remove(lo);
        }
        let mut at = lo;
        for piece in [left, right] {
            if !piece.is_empty() {
                // Capacity was checked above.
                let _ = self.regions.insert(at, piece);
                at += 1;
            }
        }
        Ok(())
    }

    /// Shrink every region to whole pages, dropping those left empty.
    pub fn page_align_inward(&mut self) {
        self.regions.retain_mut(|r| {
            let Some(start) = align_up(r.start, PAGE_SIZE) else {
                return false;
            };
            r.start = start;
            r.end = align_down(r.end, PAGE_SIZE);
            !r.is_empty()
        });
    }

    /// Carve `size` bytes aligned to `align` (a power of two) out of the
    /// first region that can hold them, removing the block from the set.
    ///
    /// A placement that would split a region when the set is full is
    /// skipped rather than failing, so `take` only returns `None` when no
    /// region can supply the block.
    pub fn take(&mut self, size: u64, align: u64) -> Option<Region> {
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        for i in 0..self.regions.len() {
            let r = self.regions[i];
            let Some(block) = align_up(r.start, align).and_then(|s| Region::new(s, size)) else {
                continue;
            };
            if block.end <= r.end && self.remove(block).is_ok() {
                return Some(block);
            }
            // Fallback: the highest aligned slot ends closer to r.end and
            // may avoid a split when the set is full.
            let Some(start) = r.end.checked_sub(size).map(|s| align_down(s, align)) else {
                continue;
            };
            let block = Region {
                start,
                end: start + size,
            };
            if block.start >= r.start && self.remove(block).is_ok() {
                return Some(block);
            }
        }
        None
    }
}

/// Usable RAM: `ram` minus every range in `exclude` (kernel image, device
/// tree, firmware reservations, ...), in whole pages. Exclusions are widened
/// to whole pages: a page that is partly reserved is not usable.
pub fn usable<const N: usize>(
    ram: &RegionSet<N>,
    exclude: &[Region],
) -> Result<RegionSet<N>, MemMapError> {
    let mut usable = ram.clone();
    for r in exclude.iter().filter(|r| !r.is_empty()) {
        let start = align_down(r.start, PAGE_SIZE);
        let end = align_up(r.end, PAGE_SIZE).unwrap_or(align_down(u64::MAX, PAGE_SIZE));
        usable.remove(Region { start, end })?;
    }
    usable.page_align_inward();
    Ok(usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(start: u64, end: u64) -> Region {
        Region { start, end }
    }

    fn set<const N: usize>(rs: &[(u64, u64)]) -> RegionSet<N> {
        let mut s = RegionSet::new();
        for &(a, b) in rs {
            s.add(reg(a, b)).unwrap();
        }
        s
    }

    fn pairs<const N: usize>(s: &RegionSet<N>) -> std::vec::Vec<(u64, u64)> {
        s.iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn region_basics() {
        let r = Region::new(0x1000, 0x2000).unwrap();
        assert_eq!(r, reg(0x1000, 0x3000));
        assert_eq!(r.size(), 0x2000);
        assert!(r.contains(0x1000) && r.contains(0x2fff) && !r.contains(0x3000));
        assert!(!r.contains(0xfff));
        assert!(Region::new(u64::MAX, 2).is_none());
        assert!(Region::new(u64::MAX, 0).unwrap().is_empty());
        assert!(r.overlaps(&reg(0x2fff, 0x4000)));
        assert!(!r.overlaps(&reg(0x3000, 0x4000)));
        assert!(!r.overlaps(&reg(0x2000, 0x2000)));
        assert_eq!(format!("{r}"), "[0x1000, 0x3000)");
    }

    #[test]
    fn add_merges_overlapping_and_adjacent() {
        let mut s: RegionSet<8> = set(&[(0x1000, 0x2000), (0x5000, 0x6000)]);
        s.add(reg(0x2000, 0x3000)).unwrap(); // adjacent on the right
        assert_eq!(pairs(&s), [(0x1000, 0x3000), (0x5000, 0x6000)]);
        s.add(reg(0x4000, 0x5000)).unwrap(); // adjacent on the left
        assert_eq!(pairs(&s), [(0x1000, 0x3000), (0x4000, 0x6000)]);
        s.add(reg(0x2800, 0x4800)).unwrap(); // bridges both
        assert_eq!(pairs(&s), [(0x1000, 0x6000)]);
        s.add(reg(0x1800, 0x1900)).unwrap(); // contained
        assert_eq!(pairs(&s), [(0x1000, 0x6000)]);
        s.add(reg(0x0, 0x10000)).unwrap(); // swallows all
        assert_eq!(pairs(&s), [(0x0, 0x10000)]);
        s.add(reg(0x20000, 0x20000)).unwrap(); // empty is a no-op
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn add_keeps_sorted_order() {
        let s: RegionSet<8> = set(&[(0x9000, 0xa000), (0x1000, 0x2000), (0x5000, 0x6000)]);
        assert_eq!(
            pairs(&s),
            [(0x1000, 0x2000), (0x5000, 0x6000), (0x9000, 0xa000)]
        );
        assert_eq!(s.total_size(), 0x3000);
        assert_eq!(s.lowest(), Some(0x1000));
        assert_eq!(s.highest(), Some(0xa000));
        assert_eq!(s.span(), Some(reg(0x1000, 0xa000)));
        assert!(s.contains(0x5000) && !s.contains(0x6000) && !s.contains(0));
    }

    #[test]
    fn add_capacity_error_leaves_set_unchanged() {
        let mut s: RegionSet<2> = set(&[(0x1000, 0x2000), (0x5000, 0x6000)]);
        assert_eq!(s.add(reg(0x8000, 0x9000)), Err(MemMapError::TooManyRegions));
        assert_eq!(pairs(&s), [(0x1000, 0x2000), (0x5000, 0x6000)]);
        // Merging still works when full.
        s.add(reg(0x2000, 0x5000)).unwrap();
        assert_eq!(pairs(&s), [(0x1000, 0x6000)]);
    }

    #[test]
    fn remove_edge_cases() {
        let mut s: RegionSet<8> = set(&[(0x1000, 0x4000), (0x6000, 0x9000)]);
        s.remove(reg(0x0, 0x1000)).unwrap(); // touching only: no-op
        assert_eq!(pairs(&s), [(0x1000, 0x4000), (0x6000, 0x9000)]);
        s.remove(reg(0x2000, 0x3000)).unwrap(); // split
        assert_eq!(
            pairs(&s),
            [(0x1000, 0x2000), (0x3000, 0x4000), (0x6000, 0x9000)]
        );
        s.remove(reg(0x3800, 0x7000)).unwrap(); // trims two regions
        assert_eq!(
            pairs(&s),
            [(0x1000, 0x2000), (0x3000, 0x3800), (0x7000, 0x9000)]
        );
        s.remove(reg(0x1000, 0x2000)).unwrap(); // exact removal
        assert_eq!(pairs(&s), [(0x3000, 0x3800), (0x7000, 0x9000)]);
        s.remove(reg(0x0, u64::MAX)).unwrap(); // everything
        assert!(s.is_empty());
        assert_eq!(s.lowest(), None);
    }

    #[test]
    fn remove_split_when_full_fails_unchanged() {
        let mut s: RegionSet<2> = set(&[(0x1000, 0x4000), (0x6000, 0x9000)]);
        assert_eq!(
            s.remove(reg(0x2000, 0x3000)),
            Err(MemMapError::TooManyRegions)
        );
        assert_eq!(pairs(&s), [(0x1000, 0x4000), (0x6000, 0x9000)]);
        // Removing a whole region frees a slot, so a split across two works.
        s.remove(reg(0x2000, 0x7000)).unwrap();
        assert_eq!(pairs(&s), [(0x1000, 0x2000), (0x7000, 0x9000)]);
    }

    #[test]
    fn page_align_inward_drops_small() {
        let mut s: RegionSet<8> = set(&[
            (0x800, 0x1800),
            (0x2001, 0x5fff),
            (0x7000, 0x8000),
            (u64::MAX - 5, u64::MAX),
        ]);
        s.page_align_inward();
        assert_eq!(pairs(&s), [(0x3000, 0x5000), (0x7000, 0x8000)]);
    }

    #[test]
    fn take_respects_alignment_and_removes() {
        let mut s: RegionSet<8> = set(&[(0x1000, 0x3000), (0x10_1000, 0x50_0000)]);
        let b = s.take(0x20_0000, 0x20_0000).unwrap();
        assert_eq!(b, reg(0x20_0000, 0x40_0000));
        assert_eq!(
            pairs(&s),
            [
                (0x1000, 0x3000),
                (0x10_1000, 0x20_0000),
                (0x40_0000, 0x50_0000)
            ]
        );
        let b = s.take(0x1000, 0x1000).unwrap();
        assert_eq!(b, reg(0x1000, 0x2000));
        assert_eq!(s.take(0x1000_0000, 0x1000), None);
        assert_eq!(s.take(0, 0x1000), None);
        assert_eq!(s.take(0x1000, 3), None);
        assert!(!s.contains(0x20_0000));
    }

    #[test]
    fn take_when_full_avoids_split() {
        let mut s: RegionSet<1> = set(&[(0x1000, 0x10_0000)]);
        // Aligned start 0x8000 would split; the tail placement does not.
        let b = s.take(0x8000, 0x8000).unwrap();
        assert_eq!(b, reg(0xf_8000, 0x10_0000));
        assert_eq!(pairs(&s), [(0x1000, 0xf_8000)]);
        // Neither placement works without splitting: give up.
        let mut s: RegionSet<1> = set(&[(0x1000, 0x2f000)]);
        assert_eq!(s.take(0x10000, 0x10000), None);
        assert_eq!(pairs(&s), [(0x1000, 0x2f000)]);
    }

    #[test]
    fn error_display() {
        assert_eq!(
            MemMapError::TooManyRegions.to_string(),
            "memory map: too many regions"
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        const UNITS: u64 = 96;
        const CAP: usize = 4;

        #[derive(Debug, Clone)]
        enum Op {
            Add(u64, u64),
            Remove(u64, u64),
        }

        fn op() -> impl Strategy<Value = Op> {
            (any::<bool>(), 0..UNITS, 0..24u64).prop_map(|(add, s, len)| {
                let e = (s + len).min(UNITS);
                if add { Op::Add(s, e) } else { Op::Remove(s, e) }
            })
        }

        fn runs(model: &[bool]) -> std::vec::Vec<(u64, u64)> {
            let mut out = std::vec::Vec::new();
            let mut i = 0;
            while i < model.len() {
                if model[i] {
                    let s = i;
                    while i < model.len() && model[i] {
                        i += 1;
                    }
                    out.push((s as u64, i as u64));
                } else {
                    i += 1;
                }
            }
            out
        }

        proptest! {
            #[test]
            fn matches_bitset_model(ops in proptest::collection::vec(op(), 1..40)) {
                let mut s: RegionSet<CAP> = RegionSet::new();
                let mut model = [false; UNITS as usize];
                for op in ops {
                    let mut next = model;
                    let res = match op {
                        Op::Add(a, b) => {
                            next[a as usize..b as usize].fill(true);
                            s.add(reg(a, b))
                        }
                        Op::Remove(a, b) => {
                            next[a as usize..b as usize].fill(false);
                            s.remove(reg(a, b))
                        }
                    };
                    // Fails exactly when the result would not fit.
                    prop_assert_eq!(res.is_err(), runs(&next).len() > CAP);
                    if res.is_ok() {
                        model = next;
                    }
                    prop_assert_eq!(pairs(&s), runs(&model));
                    for a in 0..UNITS {
                        prop_assert_eq!(s.contains(a), model[a as usize]);
                    }
                }
            }
        }
    }
}
