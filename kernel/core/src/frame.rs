//! Physical frame allocator: one bit per 4 KiB frame (1 = used) over the
//! span from the lowest to the highest usable address.
//!
//! Frames in holes of the span are marked used forever. Because holes and
//! allocated frames look alike in the bitmap, the usable regions are kept
//! (at most [`MAX_REGIONS`]) so that freeing a hole frame is rejected.

use core::fmt;

use heapless::Vec;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, PhysAddr, is_aligned};
use crate::memmap::{Region, RegionSet};

/// Maximum number of usable regions the allocator can track.
pub const MAX_REGIONS: usize = 64;

const BITS: usize = u64::BITS as usize;

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum FrameError {
    /// Address not 4 KiB aligned.
    Misaligned,
    /// Address outside the allocator's span.
    OutOfRange,
    /// Frame is already free (double free) or was never usable.
    NotAllocated,
    /// Bitmap storage has fewer words than [`bitmap_words`] requires.
    StorageTooSmall,
    /// A usable region is not 4 KiB aligned at both ends.
    RegionNotAligned,
    /// More than [`MAX_REGIONS`] usable regions.
    TooManyRegions,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::Misaligned => "frame: address not page aligned",
            FrameError::OutOfRange => "frame: address out of range",
            FrameError::NotAllocated => "frame: not allocated (double free or never usable)",
            FrameError::StorageTooSmall => "frame: bitmap storage too small",
            FrameError::RegionNotAligned => "frame: usable region not page aligned",
            FrameError::TooManyRegions => "frame: too many usable regions",
        })
    }
}

/// Bitmap words needed to cover `span` (rounded up to whole frames).
///
/// Carving the bitmap itself out of the usable set afterwards can only
/// shrink the span, so sizing from the span before `take` is safe.
pub fn bitmap_words(span: Region) -> usize {
    let frames = span.size().div_ceil(PAGE_SIZE);
    frames.div_ceil(BITS as u64) as usize
}

pub struct FrameAllocator<'a> {
    bitmap: &'a mut [u64],
    /// Physical address of frame 0.
    base: u64,
    frames: usize,
    free: usize,
    total: usize,
    usable: Vec<Region, MAX_REGIONS>,
    /// Word index where the single-frame search resumes; every word below
    /// it is full, which makes repeated `alloc` amortised O(1).
    next: usize,
}

impl<'a> FrameAllocator<'a> {
    /// Build an allocator where exactly the frames in `usable` are free.
    /// `storage` must hold at least `bitmap_words(usable.span())` words;
    /// extra words are left untouched.
    pub fn new<const N: usize>(
        usable: &RegionSet<N>,
        storage: &'a mut [u64],
    ) -> Result<Self, FrameError> {
        if usable
            .iter()
            .any(|r| !is_aligned(r.start, PAGE_SIZE) || !is_aligned(r.end, PAGE_SIZE))
        {
            return Err(FrameError::RegionNotAligned);
        }
        let mut regions = Vec::new();
        for r in usable.iter() {
            regions.push(*r).map_err(|_| FrameError::TooManyRegions)?;
        }
        let span = usable.span().unwrap_or(Region { start: 0, end: 0 });
        let words = bitmap_words(span);
        if storage.len() < words {
            return Err(FrameError::StorageTooSmall);
        }
        let bitmap = &mut storage[..words];
        // Everything starts used (including tail bits past the span, so
        // whole-word scans never see them as free); then open the usable
        // regions.
        bitmap.fill(!0);
        let mut fa = FrameAllocator {
            bitmap,
            base: span.start,
            frames: (span.size() >> PAGE_SHIFT) as usize,
            free: 0,
            total: 0,
            usable: regions,
            next: 0,
        };
        for i in 0..fa.usable.len() {
            let r = fa.usable[i];
            let first = fa.index(r.start);
            let count = (r.size() >> PAGE_SHIFT) as usize;
            fa.set_range(first, count, false);
            fa.total += count;
        }
        fa.free = fa.total;
        Ok(fa)
    }

    /// Frames free now.
    pub fn free_count(&self) -> usize {
        self.free
    }

    /// Frames that were usable at construction.
    pub fn total_count(&self) -> usize {
        self.total
    }

    /// The physical span covered by the bitmap.
    pub fn span(&self) -> Region {
        Region {
            start: self.base,
            end: self.base + ((self.frames as u64) << PAGE_SHIFT),
        }
    }

    /// Whether the frame containing `pa` is free (false outside the span).
    pub fn is_free(&self, pa: PhysAddr) -> bool {
        match self.frame_of(pa.as_u64() & !(PAGE_SIZE - 1)) {
            Ok(i) => !self.bit(i),
            Err(_) => false,
        }
    }

    /// Allocate one frame (lowest free address at or after the hint).
    pub fn alloc(&mut self) -> Option<PhysAddr> {
        if self.free == 0 {
            return None;
        }
        let words = self.bitmap.len();
        let w = (self.next..words)
            .chain(0..self.next)
            .find(|&w| self.bitmap[w] != !0)?;
        let bit = (!self.bitmap[w]).trailing_zeros() as usize;
        self.bitmap[w] |= 1 << bit;
        self.free -= 1;
        self.next = w;
        Some(self.addr(w * BITS + bit))
    }

    /// Allocate `count` contiguous frames whose first frame's physical
    /// address is aligned to `align_frames` frames (a power of two).
    pub fn alloc_contiguous(&mut self, count: usize, align_frames: usize) -> Option<PhysAddr> {
        if count == 0 || !align_frames.is_power_of_two() || count > self.free {
            return None;
        }
        let align = align_frames as u64;
        let base_pfn = self.base >> PAGE_SHIFT;
        // Smallest index >= i whose physical frame number is aligned.
        let aligned_from = |i: usize| -> Option<usize> {
            let pfn = (base_pfn + i as u64).checked_next_multiple_of(align)?;
            usize::try_from(pfn - base_pfn).ok()
        };
        let mut i = aligned_from(0)?;
        while i.checked_add(count)? <= self.frames {
            match self.first_used(i, i + count) {
                None => {
                    self.set_range(i, count, true);
                    self.free -= count;
                    return Some(self.addr(i));
                }
                Some(used) => i = aligned_from(used + 1)?,
            }
        }
        None
    }

    /// Free one frame previously returned by `alloc`/`alloc_contiguous`.
    pub fn free(&mut self, pa: PhysAddr) -> Result<(), FrameError> {
        self.free_contiguous(pa, 1)
    }

    /// Free `count` frames starting at `pa`. All-or-nothing: every frame
    /// is checked before any is released.
    pub fn free_contiguous(&mut self, pa: PhysAddr, count: usize) -> Result<(), FrameError> {
        let pa = pa.as_u64();
        if !is_aligned(pa, PAGE_SIZE) {
            return Err(FrameError::Misaligned);
        }
        let first = self.frame_of(pa)?;
        if count == 0 {
            return Ok(());
        }
        let end = first.checked_add(count).ok_or(FrameError::OutOfRange)?;
        if end > self.frames {
            return Err(FrameError::OutOfRange);
        }
        // Holes separate usable regions, so a legitimately allocated run
        // lies inside a single region.
        let run = Region {
            start: pa,
            end: pa + ((count as u64) << PAGE_SHIFT),
        };
        let inside = self
            .usable
            .iter()
            .any(|r| r.start <= run.start && run.end <= r.end);
        if !inside || self.first_free(first, end).is_some() {
            return Err(FrameError::NotAllocated);
        }
        self.set_range(first, count, false);
        self.free += count;
        self.next = self.next.min(first / BITS);
        Ok(())
    }

    fn addr(&self, i: usize) -> PhysAddr {
        PhysAddr(self.base + ((i as u64) << PAGE_SHIFT))
    }

    /// Frame index of an aligned address `pa`.
    fn frame_of(&self, pa: u64) -> Result<usize, FrameError> {
        let off = pa.checked_sub(self.base).ok_or(FrameError::OutOfRange)?;
        let i = usize::try_from(off >> PAGE_SHIFT).map_err(|_| FrameError::OutOfRange)?;
        if i >= self.frames {
            return Err(FrameError::OutOfRange);
        }
        Ok(i)
    }

    /// Frame index of `pa` known to be inside the span.
    fn index(&self, pa: u64) -> usize {
        ((pa - self.base) >> PAGE_SHIFT) as usize
    }

    fn bit(&self, i: usize) -> bool {
        self.bitmap[i / BITS] & (1 << (i % BITS)) != 0
    }

    /// Mask of bits [lo, hi) within one word, 0 <= lo < hi <= 64.
    fn mask(lo: usize, hi: usize) -> u64 {
        let upper = if hi == BITS { !0 } else { (1u64 << hi) - 1 };
        upper & !((1u64 << lo) - 1)
    }

    /// Call `f(word, mask)` for each word overlapping frames [start, end).
    fn for_words(start: usize, end: usize, mut f: impl FnMut(usize, u64) -> bool) {
        let mut i = start;
        while i < end {
            let w = i / BITS;
            let hi = end.min((w + 1) * BITS);
            if !f(w, Self::mask(i % BITS, hi - w * BITS)) {
                return;
            }
            i = hi;
        }
    }

    fn set_range(&mut self, start: usize, count: usize, used: bool) {
        let bitmap = &mut *self.bitmap;
        Self::for_words(start, start + count, |w, m| {
            if used {
                bitmap[w] |= m;
            } else {
                bitmap[w] &= !m;
            }
            true
        });
    }

    /// First frame in [start, end) whose bit equals `used`.
    fn find_bit(&self, start: usize, end: usize, used: bool) -> Option<usize> {
        let mut found = None;
        Self::for_words(start, end, |w, m| {
            let bits = if used {
                self.bitmap[w]
            } else {
                !self.bitmap[w]
            } & m;
            if bits != 0 {
                found = Some(w * BITS + bits.trailing_zeros() as usize);
            }
            found.is_none()
        });
        found
    }

    fn first_used(&self, start: usize, end: usize) -> Option<usize> {
        self.find_bit(start, end, true)
    }

    fn first_free(&self, start: usize, end: usize) -> Option<usize> {
        self.find_bit(start, end, false)
    }
}

impl fmt::Debug for FrameAllocator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameAllocator")
            .field("span", &self.span())
            .field("free", &self.free)
            .field("total", &self.total)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const P: u64 = PAGE_SIZE;

    fn usable(rs: &[(u64, u64)]) -> RegionSet<8> {
        let mut s = RegionSet::new();
        for &(a, b) in rs {
            s.add(Region { start: a, end: b }).unwrap();
        }
        s
    }

    fn storage_for(s: &RegionSet<8>) -> std::vec::Vec<u64> {
        vec![0; bitmap_words(s.span().unwrap())]
    }

    #[test]
    fn bitmap_words_rounds_up() {
        assert_eq!(bitmap_words(Region { start: 0, end: 0 }), 0);
        assert_eq!(bitmap_words(Region { start: 0, end: P }), 1);
        assert_eq!(
            bitmap_words(Region {
                start: 0,
                end: 64 * P
            }),
            1
        );
        assert_eq!(
            bitmap_words(Region {
                start: 0,
                end: 65 * P
            }),
            2
        );
        assert_eq!(
            bitmap_words(Region {
                start: 0,
                end: 65 * P - 1
            }),
            2
        );
    }

    #[test]
    fn alloc_all_then_free_all_skips_holes() {
        // Two regions with a 3-frame hole, span not a multiple of 64 frames.
        let u = usable(&[
            (0x10_0000, 0x10_0000 + 70 * P),
            (0x10_0000 + 73 * P, 0x10_0000 + 200 * P),
        ]);
        let mut st = storage_for(&u);
        let mut fa = FrameAllocator::new(&u, &mut st).unwrap();
        assert_eq!(fa.total_count(), 197);
        assert_eq!(fa.free_count(), 197);
        let mut seen = HashSet::new();
        while let Some(pa) = fa.alloc() {
            assert!(pa.is_aligned(P));
            assert!(u.contains(pa.as_u64()), "hole frame {pa} handed out");
            assert!(seen.insert(pa), "duplicate {pa}");
        }
        assert_eq!(seen.len(), 197);
        assert_eq!(fa.free_count(), 0);
        assert_eq!(fa.alloc_contiguous(1, 1), None);
        for &pa in &seen {
            fa.free(pa).unwrap();
        }
        assert_eq!(fa.free_count(), 197);
        // Everything is allocatable again.
        let again: HashSet<_> = std::iter::from_fn(|| fa.alloc()).collect();
        assert_eq!(again, seen);
    }

    #[test]
    fn free_rejects_bad_input_without_state_change() {
        let base = 0x8_0000;
        let u = usable(&[(base, base + 4 * P), (base + 6 * P, base + 10 * P)]);
        let mut st = storage_for(&u);
        let mut fa = FrameAllocator::new(&u, &mut st).unwrap();
        let a = fa.alloc().unwrap();
        assert_eq!(a, PhysAddr(base));
        let before = fa.free_count();
        assert_eq!(fa.free(PhysAddr(base + 1)), Err(FrameError::Misaligned));
        assert_eq!(fa.free(PhysAddr(base - P)), Err(FrameError::OutOfRange));
        assert_eq!(
            fa.free(PhysAddr(base + 10 * P)),
            Err(FrameError::OutOfRange)
        );
        assert_eq!(
            fa.free(PhysAddr(base + 4 * P)),
            Err(FrameError::NotAllocated)
        ); // hole
        assert_eq!(fa.free(PhysAddr(base + P)), Err(FrameError::NotAllocated)); // never allocated
        assert_eq!(fa.free_count(), before);
        fa.free(a).unwrap();
        assert_eq!(fa.free(a), Err(FrameError::NotAllocated)); // double free
        assert_eq!(fa.free_count(), before + 1);
        assert!(fa.is_free(a) && fa.is_free(PhysAddr(a.as_u64() + 5)));
        assert!(!fa.is_free(PhysAddr(base + 4 * P)));
        assert!(!fa.is_free(PhysAddr(0)));
    }

    #[test]
    fn free_contiguous_is_all_or_nothing() {
        let u = usable(&[(0, 16 * P), (17 * P, 32 * P)]);
        let mut st = storage_for(&u);
        let mut fa = FrameAllocator::new(&u, &mut st).unwrap();
        let all: std::vec::Vec<_> = std::iter::from_fn(|| fa.alloc()).collect();
        assert_eq!(all.len(), 31);
        // Range spanning the hole: rejected, nothing freed.
        assert_eq!(
            fa.free_contiguous(PhysAddr(14 * P), 4),
            Err(FrameError::NotAllocated)
        );
        assert_eq!(fa.free_count(), 0);
        fa.free(PhysAddr(3 * P)).unwrap();
        // Includes a free frame: rejected, nothing else freed.
        assert_eq!(
            fa.free_contiguous(PhysAddr(2 * P), 3),
            Err(FrameError::NotAllocated)
        );
        assert_eq!(fa.free_count(), 1);
        assert_eq!(
            fa.free_contiguous(PhysAddr(30 * P), 3),
            Err(FrameError::OutOfRange)
        );
        assert_eq!(
            fa.free_contiguous(PhysAddr(0), usize::MAX),
            Err(FrameError::OutOfRange)
        );
        fa.free_contiguous(PhysAddr(4 * P), 12).unwrap();
        assert_eq!(fa.free_count(), 13);
        fa.free_contiguous(PhysAddr(0), 0).unwrap();
    }

    #[test]
    fn contiguous_alignment_and_holes() {
        // Base deliberately not aligned to 8 frames: alignment is physical.
        let base = 0x4_3000;
        let u = usable(&[(base, base + 40 * P), (base + 41 * P, base + 300 * P)]);
        let mut st = storage_for(&u);
        let mut fa = FrameAllocator::new(&u, &mut st).unwrap();
        let a = fa.alloc_contiguous(8, 8).unwrap();
        assert!(a.is_aligned(8 * P));
        assert!(a.as_u64() >= base);
        let b = fa.alloc_contiguous(64, 64).unwrap();
        assert!(b.is_aligned(64 * P));
        for i in 0..64 {
            let pa = PhysAddr(b.as_u64() + i * P);
            assert!(u.contains(pa.as_u64()) && !fa.is_free(pa));
        }
        // A run that would need to cross the hole must skip past it.
        let c = fa.alloc_contiguous(30, 1).unwrap();
        let hole = base + 40 * P;
        assert!(c.as_u64() + 30 * P <= hole || c.as_u64() > hole);
        assert_eq!(fa.alloc_contiguous(1000, 1), None);
        assert_eq!(fa.alloc_contiguous(0, 1), None);
        assert_eq!(fa.alloc_contiguous(1, 3), None);
        let free = fa.free_count();
        fa.free_contiguous(b, 64).unwrap();
        assert_eq!(fa.free_count(), free + 64);
        assert_eq!(fa.alloc_contiguous(64, 64), Some(b));
    }

    #[test]
    fn single_alloc_reuses_freed_low_frames() {
        let u = usable(&[(0, 200 * P)]);
        let mut st = storage_for(&u);
        let mut fa = FrameAllocator::new(&u, &mut st).unwrap();
        for _ in 0..150 {
            fa.alloc().unwrap();
        }
        fa.free(PhysAddr(5 * P)).unwrap();
        assert_eq!(fa.alloc(), Some(PhysAddr(5 * P)));
        assert_eq!(fa.alloc(), Some(PhysAddr(150 * P)));
    }

    #[test]
    fn construction_errors() {
        let u = usable(&[(0, 128 * P)]);
        let mut small = [0u64; 1];
        assert_eq!(
            FrameAllocator::new(&u, &mut small).unwrap_err(),
            FrameError::StorageTooSmall
        );
        let bad = usable(&[(0x800, 0x2000)]);
        let mut st = [0u64; 4];
        assert_eq!(
            FrameAllocator::new(&bad, &mut st).unwrap_err(),
            FrameError::RegionNotAligned
        );
        let empty = RegionSet::<4>::new();
        let mut fa = FrameAllocator::new(&empty, &mut []).unwrap();
        assert_eq!(fa.alloc(), None);
        assert_eq!(fa.free(PhysAddr(0)), Err(FrameError::OutOfRange));
        // Oversized storage is fine; extra words untouched.
        let mut big = [0xdead_u64; 4];
        let u = usable(&[(0, 64 * P)]);
        let fa = FrameAllocator::new(&u, &mut big).unwrap();
        assert_eq!(fa.free_count(), 64);
        drop(fa);
        assert_eq!(big[1..], [0xdead; 3]);
        assert_eq!(
            FrameError::NotAllocated.to_string(),
            "frame: not allocated (double free or never usable)"
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Random alloc/free sequences against a set model: never a
            /// duplicate, never a hole frame, counts always consistent.
            #[test]
            fn matches_set_model(ops in proptest::collection::vec((0u8..4, 0usize..200, 1usize..9), 1..120)) {
                let u = usable(&[(0x1_0000, 0x1_0000 + 50 * P), (0x1_0000 + 53 * P, 0x1_0000 + 150 * P)]);
                let mut st = storage_for(&u);
                let mut fa = FrameAllocator::new(&u, &mut st).unwrap();
                let mut held: std::vec::Vec<(PhysAddr, usize)> = std::vec::Vec::new();
                let mut used = HashSet::new();
                for (kind, pick, n) in ops {
                    let (pa, n) = match kind {
                        0 => match fa.alloc() {
                            Some(pa) => (pa, 1),
                            None => {
                                prop_assert_eq!(fa.free_count(), 0);
                                continue;
                            }
                        },
                        1 => match fa.alloc_contiguous(n, 1 << (n % 4)) {
                            Some(pa) => {
                                prop_assert!(pa.is_aligned(P << (n % 4)));
                                (pa, n)
                            }
                            // No aligned run of n free frames (exhausted or fragmented).
                            None => continue,
                        },
                        _ if !held.is_empty() => {
                            let (pa, n) = held.swap_remove(pick % held.len());
                            fa.free_contiguous(pa, n).unwrap();
                            for i in 0..n as u64 {
                                used.remove(&(pa.as_u64() + i * P));
                            }
                            prop_assert_eq!(fa.free_contiguous(pa, n), Err(FrameError::NotAllocated));
                            continue;
                        }
                        _ => continue,
                    };
                    // Only a successful allocation is checked (and held).
                    held.push((pa, n));
                    for i in 0..n as u64 {
                        let a = pa.as_u64() + i * P;
                        prop_assert!(u.contains(a));
                        prop_assert!(used.insert(a), "duplicate {:#x}", a);
                    }
                }
                prop_assert_eq!(fa.free_count() + used.len(), fa.total_count());
            }
        }
    }
}
