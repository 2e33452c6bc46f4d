//! Choosing random load offsets for position-independent programs.
//!
//! The generator is SplitMix64: tiny, `const`-constructible, and every
//! seed gives a full-period stream, so a run reseeded with the same value
//! (`ReseedAslr`) lays out every process identically. It is not a
//! cryptographic generator: one full output reveals the state. Offsets
//! expose only a few dozen bits of each draw, but the kernel should still
//! [`Aslr::stir`] fresh entropy in whenever it has some.
//!
//! Entropy: an offset is uniform over every page position that fits the
//! window, i.e. `log2(positions)` bits ([`load_positions`]). A window that
//! exceeds the image by 256 MiB gives 16 bits; a 512 GiB user range, about
//! 27.

use crate::addr::{PAGE_SIZE, align_down, align_up};

/// The SplitMix64 increment (2^64 / golden ratio, odd).
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijection that spreads every input
/// bit over the whole word.
const fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Mix a raw entropy sample (a timer-jitter delta, an `RNDR` value…) into
/// `seed`. For a fixed seed the result is a bijection of the sample, and
/// for a fixed sample a bijection of the seed, so neither the entropy
/// gathered so far nor a new sample's is ever lost; chain calls to fold
/// in many weak samples.
pub const fn mix(seed: u64, sample: u64) -> u64 {
    finalize(seed.wrapping_add(GOLDEN) ^ finalize(sample))
}

/// A small deterministic generator (SplitMix64) seeded by the kernel from
/// the best entropy it has, or by `ReseedAslr` for reproducible runs.
#[derive(Clone, Debug)]
pub struct Aslr {
    state: u64,
}

impl Aslr {
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Restart the stream: the same seed replays the same offsets.
    pub fn reseed(&mut self, seed: u64) {
        self.state = seed;
    }

    /// Fold an entropy sample into the current state (see [`mix`]).
    pub fn stir(&mut self, sample: u64) {
        self.state = mix(self.state, sample);
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        finalize(self.state)
    }

    /// Uniform in `[0, n)`; 0 if `n` is 0. Lemire's multiply-shift with
    /// rejection, so there is no modulo bias; the loop almost never runs
    /// twice and always ends, as the stream visits every value.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // 2^64 mod n: the low products below it would be over-represented.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if m as u64 >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// A page-aligned load offset for an image spanning `span` bytes from
    /// `link_base` so that it lands inside `[min, max)`: uniform over the
    /// page positions [`load_positions`] counts. `None` if it cannot fit.
    ///
    /// Offsets are never negative (an image linked above `min` only moves
    /// up), so they add to link addresses without wrapping; `link_base` is
    /// rounded down and the span up to whole pages, since pages are what
    /// gets mapped.
    pub fn load_offset(&mut self, link_base: u64, span: u64, min: u64, max: u64) -> Option<u64> {
        let (lowest, positions) = window(link_base, span, min, max)?;
        Some(lowest + self.below(positions) * PAGE_SIZE)
    }
}

/// How many page positions [`Aslr::load_offset`] chooses among (its
/// entropy is the base-2 log of this); `None` if the image cannot fit.
pub fn load_positions(link_base: u64, span: u64, min: u64, max: u64) -> Option<u64> {
    window(link_base, span, min, max).map(|(_, n)| n)
}

/// The smallest offset and the number of page positions.
fn window(link_base: u64, span: u64, min: u64, max: u64) -> Option<(u64, u64)> {
    let base = align_down(link_base, PAGE_SIZE);
    // At least one byte, so the image never starts at `max`.
    let bytes = span.checked_add(link_base - base)?.max(1);
    let pages = align_up(bytes, PAGE_SIZE)?;
    let lowest = align_up(min, PAGE_SIZE)?.max(base);
    let highest = align_down(max.checked_sub(pages)?, PAGE_SIZE);
    let room = highest.checked_sub(lowest)?;
    // Both page-aligned, and room / PAGE_SIZE < 2^52: no overflow.
    Some((lowest - base, room / PAGE_SIZE + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::vec::Vec;

    #[test]
    fn splitmix64_reference_values() {
        // From the reference implementation (seed 1234567).
        let mut r = Aslr::new(1234567);
        let got: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423,
                4593380528125082431,
                16408922859458223821,
            ]
        );
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Aslr::new(42);
        let mut b = Aslr::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert_eq!(
                a.load_offset(0, 0x10_0000, 0x1000, 1 << 39),
                b.load_offset(0, 0x10_0000, 0x1000, 1 << 39)
            );
        }
        // Reseeding replays the stream from the start.
        let first: Vec<u64> = {
            let mut c = Aslr::new(7);
            (0..10).map(|_| c.next_u64()).collect()
        };
        a.reseed(7);
        assert_eq!((0..10).map(|_| a.next_u64()).collect::<Vec<_>>(), first);
        // `const` construction, e.g. for a static.
        const BOOT: Aslr = Aslr::new(7);
        let mut d = BOOT;
        assert_eq!(d.next_u64(), first[0]);
    }

    #[test]
    fn different_seeds_different_offsets() {
        // 2^27 positions: 1000 draws should essentially never collide.
        let offsets: HashSet<u64> = (0..1000u64)
            .map(|s| {
                Aslr::new(s)
                    .load_offset(0, 0x10_0000, 0x1000, 1 << 39)
                    .unwrap()
            })
            .collect();
        assert!(offsets.len() >= 995, "{}", offsets.len());
        // And successive offsets from one generator differ too.
        let mut r = Aslr::new(1);
        let offsets: HashSet<u64> = (0..1000)
            .map(|_| r.load_offset(0, 0x10_0000, 0x1000, 1 << 39).unwrap())
            .collect();
        assert!(offsets.len() >= 995);
    }

    #[test]
    fn stir_and_mix() {
        let mut a = Aslr::new(1);
        let mut b = Aslr::new(1);
        b.stir(0);
        assert_ne!(a.next_u64(), b.next_u64());
        assert_ne!(mix(0, 0), 0);
        assert_ne!(mix(1, 2), mix(2, 1));
        // Every single-bit change of a sample changes the seed.
        let seeds: HashSet<u64> = (0..64).map(|i| mix(5, 1 << i)).collect();
        assert_eq!(seeds.len(), 64);
    }

    #[test]
    fn entropy_of_typical_windows() {
        let mib = 1 << 20;
        // 256 MiB more than the image: 2^16 moves, plus staying put.
        assert_eq!(
            load_positions(0, mib, 0x1000_0000, 0x2010_0000),
            Some((1 << 16) + 1)
        );
        assert_eq!(
            load_positions(0, mib, 0x1000_0000, 0x200f_f000),
            Some(1 << 16)
        );
        // A 512 GiB range: about 27 bits.
        let n = load_positions(0, 16 * mib, 0x1000, 1 << 39).unwrap();
        assert_eq!(n.ilog2(), 26);
        assert_eq!(n, ((1u64 << 39) - 0x1000 - 16 * mib) / PAGE_SIZE + 1);
    }

    #[test]
    fn exact_fits_and_misfits() {
        // The image exactly fills the window: a single position.
        assert_eq!(load_positions(0, 0x3000, 0x1_0000, 0x1_3000), Some(1));
        assert_eq!(
            Aslr::new(9).load_offset(0, 0x3000, 0x1_0000, 0x1_3000),
            Some(0x1_0000)
        );
        // Span rounds up to pages; link_base rounds down.
        assert_eq!(load_positions(0, 0x2001, 0x1_0000, 0x1_3000), Some(1));
        assert_eq!(load_positions(0x800, 0x2801, 0x1_0000, 0x1_3000), None);
        assert_eq!(load_positions(0x800, 0x2800, 0x1_0000, 0x1_3000), Some(1));
        // One page short.
        assert_eq!(load_positions(0, 0x3001, 0x1_0000, 0x1_3000), None);
        // Empty, inverted and degenerate windows.
        assert_eq!(load_positions(0, 0x1000, 0x5000, 0x5000), None);
        assert_eq!(load_positions(0, 0x1000, 0x6000, 0x5000), None);
        assert_eq!(load_positions(0, 0, 0x5000, 0x5000), None);
        assert_eq!(load_positions(0, 0, 0x5000, 0x6000), Some(1));
        // Linked above the window: offsets are never negative.
        assert_eq!(load_positions(0x10_0000, 0x1000, 0x1000, 0x8_0000), None);
        // Linked inside: only upward moves.
        assert_eq!(load_positions(0x4000, 0x1000, 0x1000, 0x8000), Some(4));
        let mut r = Aslr::new(3);
        for _ in 0..50 {
            let off = r.load_offset(0x4000, 0x1000, 0x1000, 0x8000).unwrap();
            assert!(off <= 0x3000 && off.is_multiple_of(PAGE_SIZE));
        }
    }

    #[test]
    fn extreme_values_never_overflow() {
        let m = u64::MAX;
        let mut r = Aslr::new(m);
        for (b, s, lo, hi) in [
            (m, m, m, m),
            (0, m, 0, m),
            (m, 0, 0, m),
            (0, 0, 0, m),
            (0, 0, m, m),
            (m - 0xfff, 0x1000, 0, m),
            (0, m - 0xfff, 0, m),
            (0, 1, 0, 1),
        ] {
            if let Some(off) = r.load_offset(b, s, lo, hi) {
                check(b, s, lo, hi, off);
            }
        }
        // The whole address space but one page.
        assert_eq!(load_positions(0, 0x1000, 0, m), Some(m >> 12));
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
        assert!(r.below(m) < m);
    }

    #[test]
    fn roughly_uniform() {
        let mut r = Aslr::new(11);
        let mut counts = [0u32; 5];
        for _ in 0..10_000 {
            let off = r.load_offset(0, 0x1000, 0, 0x5000).unwrap();
            counts[(off / PAGE_SIZE) as usize] += 1;
        }
        // Expected 2000 each; 6 sigma is about 240.
        assert!(
            counts.iter().all(|&c| (1760..2240).contains(&c)),
            "{counts:?}"
        );
    }

    /// The guarantees, checked in 128-bit arithmetic.
    fn check(link_base: u64, span: u64, min: u64, max: u64, off: u64) {
        assert_eq!(off % PAGE_SIZE, 0);
        let base = u128::from(link_base & !(PAGE_SIZE - 1));
        let start = base + u128::from(off);
        let end = u128::from(link_base) + u128::from(off) + u128::from(span.max(1));
        assert!(u128::from(min) <= start, "starts below min");
        assert!(end <= u128::from(max), "ends above max");
        assert_eq!(start % u128::from(PAGE_SIZE), 0);
    }

    proptest! {
        #[test]
        fn offsets_fit(
            seed in any::<u64>(),
            link_base in prop_oneof![Just(0u64), 0u64..1 << 40, any::<u64>()],
            span in prop_oneof![0u64..1 << 30, any::<u64>()],
            min in prop_oneof![0u64..1 << 40, any::<u64>()],
            max in prop_oneof![0u64..1 << 48, any::<u64>()],
        ) {
            let mut r = Aslr::new(seed);
            let n = load_positions(link_base, span, min, max);
            match r.load_offset(link_base, span, min, max) {
                Some(off) => {
                    check(link_base, span, min, max, off);
                    let (lowest, count) = window(link_base, span, min, max).unwrap();
                    prop_assert_eq!(n, Some(count));
                    prop_assert!(off >= lowest && (off - lowest) / PAGE_SIZE < count);
                }
                None => {
                    prop_assert_eq!(n, None);
                    // No page-aligned, non-negative offset fits: the
                    // lowest candidate already overshoots.
                    let base = u128::from(link_base & !(PAGE_SIZE - 1));
                    let p = u128::from(PAGE_SIZE);
                    let first = (u128::from(min).div_ceil(p) * p).max(base);
                    let pages = (u128::from(link_base) - base + u128::from(span.max(1))).div_ceil(p) * p;
                    prop_assert!(first + pages > u128::from(max));
                }
            }
        }

        #[test]
        fn below_is_in_range(seed in any::<u64>(), n in any::<u64>()) {
            let mut r = Aslr::new(seed);
            let v = r.below(n);
            prop_assert!(v < n || n == 0);
        }
    }
}
