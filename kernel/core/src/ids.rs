//! PIDs and TIDs: numbers a person or a program keeps, so the kernel
//! hands them out counting up and reuses one only after the counter has
//! gone round all 2^32 values, never while its holder lives.

/// The next id after `counter`: never 0, never one `live` says is taken.
/// The counter wraps from `u32::MAX` back to 1. `live` must leave some
/// value free (the kernel's tables hold far fewer than 2^32 entries).
pub fn next(counter: &mut u32, live: impl Fn(u32) -> bool) -> u32 {
    loop {
        let n = *counter;
        *counter = counter.wrapping_add(1).max(1);
        if n != 0 && !live(n) {
            return n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_from_one() {
        let mut c = 1;
        let got: [u32; 3] = core::array::from_fn(|_| next(&mut c, |_| false));
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn wraps_past_the_top_to_one_never_zero() {
        let mut c = u32::MAX - 1;
        let got: [u32; 4] = core::array::from_fn(|_| next(&mut c, |_| false));
        assert_eq!(got, [u32::MAX - 1, u32::MAX, 1, 2]);
        let mut zero = 0;
        assert_eq!(next(&mut zero, |_| false), 1);
    }

    #[test]
    fn skips_ids_still_live_after_a_wrap() {
        // 1, 2 and 4 still live when the counter comes round.
        let live = |n| matches!(n, 1 | 2 | 4);
        let mut c = u32::MAX;
        let got: [u32; 3] = core::array::from_fn(|_| next(&mut c, live));
        assert_eq!(got, [u32::MAX, 3, 5]);
    }
}
