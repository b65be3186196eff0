//! Pike's rate counting: datagrams per source per second, over a sliding
//! window, in a fixed table shared by every shard.
//!
//! The table is a count-min sketch of 2 rows of `width` counters, each
//! counter one `AtomicU64` holding a two-bucket sliding window: the
//! second it counts (28 bits: 8.5 years from the shield's start), the
//! count of that second (`cur`, 18 bits) and of the second before
//! (`prev`, 18 bits). A source's rate at `now` is
//! `prev * (1 - f) + cur`, `f` the fraction of the current second gone
//! (the usual approximation of a sliding one-second window: exact for a
//! steady rate). A source hashes (keyed) to one counter per row and its
//! rate is the smaller of the two: a source is over only if both its
//! counters are, so an innocent source sharing one counter with a
//! flooder is not banned with it (a chance of 1/width² per flooder, not
//! 1/width).
//!
//! Counting is one compare-and-swap per row; a source is counted by
//! every shard into the same two words, so the whole rate is seen
//! whatever shard the kernel gives each datagram to.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bits of a counter: the second (high), then `prev`, then `cur`.
const COUNT_BITS: u32 = 18;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
const SECOND_BITS: u32 = 28;
const SECOND_MASK: u64 = (1 << SECOND_BITS) - 1;

/// Highest `flood_pps`: the counters saturate at 2^18 - 1 per second.
pub const MAX_FLOOD_PPS: u32 = 250_000;

/// Fewest and most counters per row (a power of two).
pub const MIN_PIKE_WIDTH: usize = 1 << 10;
/// See [`MIN_PIKE_WIDTH`]: 2^24 counters per row is 256 MiB.
pub const MAX_PIKE_WIDTH: usize = 1 << 24;

/// The shared rate table (see the module docs).
#[derive(Debug)]
pub struct Pike {
    /// Row 0 then row 1, `width` counters each.
    counters: Box<[AtomicU64]>,
    mask: usize,
    /// Over when the rate exceeds this, in datagrams per 1000 s (the
    /// window's estimate is computed in thousandths).
    limit_milli: u64,
}

impl Pike {
    /// A table of 2 rows of `width` counters (a power of two, checked by
    /// the caller) for `flood_pps`.
    pub(crate) fn new(flood_pps: u32, width: usize) -> Pike {
        let width = width
            .clamp(MIN_PIKE_WIDTH, MAX_PIKE_WIDTH)
            .next_power_of_two();
        Pike {
            counters: (0..2 * width).map(|_| AtomicU64::new(0)).collect(),
            mask: width - 1,
            limit_milli: u64::from(flood_pps) * 1000,
        }
    }

    /// Counters per row.
    pub fn width(&self) -> usize {
        self.mask + 1
    }

    /// Bytes the table takes (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.counters)
    }

    /// Counts one datagram of the source of hash `h` at `now_ms`; whether
    /// the source's rate, this datagram included, is over `flood_pps`.
    #[inline]
    pub(crate) fn count(&self, h: u64, now_ms: u64) -> bool {
        let w = self.mask + 1;
        let a = self.bump(h as usize & self.mask, now_ms);
        // The other half of the hash picks the second row's counter.
        let b = self.bump(w + ((h >> 32) as usize & self.mask), now_ms);
        a.min(b) > self.limit_milli
    }

    /// The rate of the source of hash `h` at `now_ms`, in datagrams per
    /// second (rounded down), without counting.
    pub(crate) fn rate(&self, h: u64, now_ms: u64) -> u64 {
        let w = self.mask + 1;
        let at = |i: usize| {
            let (prev, cur, _) = roll(self.counters[i].load(Ordering::Relaxed), now_ms);
            estimate(prev, cur, now_ms)
        };
        at(h as usize & self.mask).min(at(w + ((h >> 32) as usize & self.mask))) / 1000
    }

    /// Adds one to counter `i` (in bounds: masked by the caller); the
    /// window's estimate after it, in thousandths.
    #[inline]
    fn bump(&self, i: usize, now_ms: u64) -> u64 {
        let c = &self.counters[i];
        let mut old = c.load(Ordering::Relaxed);
        loop {
            let (prev, cur, second) = roll(old, now_ms);
            let cur = (cur + 1).min(COUNT_MAX);
            let new = (second << (2 * COUNT_BITS)) | (prev << COUNT_BITS) | cur;
            match c.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return estimate(prev, cur, now_ms),
                Err(now_there) => old = now_there,
            }
        }
    }
}

/// A counter's `(prev, cur, second)` as of `now_ms`: moved on by one
/// second (cur becomes prev), or reset after a longer silence. A counter
/// a little ahead (another shard's clock read a moment later crossed the
/// second first) is taken as it is.
#[inline]
fn roll(v: u64, now_ms: u64) -> (u64, u64, u64) {
    let second = (now_ms / 1000) & SECOND_MASK;
    let at = v >> (2 * COUNT_BITS);
    let prev = (v >> COUNT_BITS) & COUNT_MAX;
    let cur = v & COUNT_MAX;
    match second.wrapping_sub(at) & SECOND_MASK {
        0 => (prev, cur, at),
        1 => (cur, 0, second),
        d if d >= 1 << (SECOND_BITS - 1) => (prev, cur, at),
        _ => (0, 0, second),
    }
}

/// `prev * (1 - f) + cur` in thousandths, `f` the fraction of the second
/// gone.
#[inline]
fn estimate(prev: u64, cur: u64, now_ms: u64) -> u64 {
    prev * (1000 - now_ms % 1000) + cur * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady rate is measured as itself at any point of a second; a
    /// rate above the limit is over, one below never.
    #[test]
    fn sliding_window_measures_a_steady_rate() {
        let p = Pike::new(500, MIN_PIKE_WIDTH);
        let h = 0x1234_5678_9abc_def0;
        // 400 per second for 4 s: never over, and measured as 400 once a
        // whole window has passed.
        for i in 0..1600u64 {
            let ms = i * 1000 / 400;
            assert!(!p.count(h, ms));
            if ms >= 1000 {
                let r = p.rate(h, ms);
                assert!((398..=401).contains(&r), "{ms}: {r}");
            }
        }
        // 600 per second from another source: over before its first
        // second ends.
        let g = 0x0fed_cba9_8765_4321;
        let first = (0..600u64).position(|i| p.count(g, 10_000 + i * 1000 / 600));
        assert_eq!(first, Some(500), "the 501st datagram is over");
    }

    /// After two silent seconds a counter starts again from zero.
    #[test]
    fn silence_resets_and_prev_fades() {
        let p = Pike::new(10, MIN_PIKE_WIDTH);
        let h = 77;
        for _ in 0..10 {
            assert!(!p.count(h, 500));
        }
        assert!(p.count(h, 999));
        // The next second, half gone: prev weighs half.
        assert_eq!(p.rate(h, 1500), 5);
        assert_eq!(p.rate(h, 3000), 0);
        assert!(!p.count(h, 3000));
    }
}
