//! The ban list: sources whose datagrams are dropped before parsing until
//! their ban ends. Pike adds a flooding source; other stages add what
//! they catch (a source failing digest authentication again and again)
//! through [`super::Shield::ban`].
//!
//! One table shared by every shard, fixed at construction: buckets of 8
//! entries (a keyed 63-bit hash of the source and the end of its ban, in
//! ms since the shield's start), a bucket per hash. Checking a source
//! reads one bucket's tags (one cache line), and its end only on a match:
//! no write, so a banned flood hitting every shard costs no cache line
//! moving between cores. Adding takes a free or expired entry of the
//! bucket; in a bucket of 8 live bans, the one ending first gives way to
//! a ban that ends later ([`BanOutcome::Evicted`]) or the new ban is not
//! stored ([`BanOutcome::Full`]; pike still drops the source while it is
//! over its rate). Nothing grows and nothing is swept: an expired entry
//! just stops matching and is reused.
//!
//! An entry is two words (tag, end). The tag is claimed before the end is
//! written and set after it, and a reader checks the tag again after
//! reading the end (a one-entry seqlock), so an end is never read for the
//! wrong source.

use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Entries per bucket: their tags fill one 64-byte cache line.
const WAYS: usize = 8;

/// A tag being written (never a source's: tags have the top bit clear).
const BUSY: u64 = u64::MAX;

/// Most entries a ban list holds: 2^24 (256 MiB).
pub const MAX_BAN_CAPACITY: usize = 1 << 24;

/// What [`super::Shield::ban`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BanOutcome {
    /// A new ban.
    Added,
    /// The source was banned already; its ban now ends at the later of
    /// the two ends.
    Extended,
    /// A new ban, in place of the ban ending soonest of a full bucket.
    Evicted,
    /// Not stored: the source's bucket holds 8 bans that all end later.
    Full,
    /// A trusted source is never banned.
    Trusted,
}

#[repr(C, align(64))]
#[derive(Debug)]
struct Bucket {
    /// 0: free; [`BUSY`]: being written; else a source's tag.
    tags: [AtomicU64; WAYS],
    /// When each entry's ban ends (ms since the shield's start).
    until: [AtomicU64; WAYS],
}

/// The shared ban list (see the module docs).
#[derive(Debug)]
pub struct Bans {
    buckets: Box<[Bucket]>,
    mask: usize,
}

impl Bans {
    /// Room for `capacity` bans (rounded up to a power of two, at least
    /// one bucket; the caller checked it against [`MAX_BAN_CAPACITY`]).
    pub(crate) fn new(capacity: usize) -> Bans {
        let n = capacity.clamp(WAYS, MAX_BAN_CAPACITY).next_power_of_two() / WAYS;
        let buckets = (0..n)
            .map(|_| Bucket {
                tags: std::array::from_fn(|_| AtomicU64::new(0)),
                until: std::array::from_fn(|_| AtomicU64::new(0)),
            })
            .collect();
        Bans {
            buckets,
            mask: n - 1,
        }
    }

    /// Entries the table holds.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// Bytes the table takes (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    /// Sources banned at `now_ms` (a scan of the table: for reports, not
    /// for the datagram path).
    pub(crate) fn live(&self, now_ms: u64) -> usize {
        let mut n = 0;
        for b in self.buckets.iter() {
            let mut seen = [0u64; WAYS];
            for w in 0..WAYS {
                let t = b.tags[w].load(Ordering::Acquire);
                if t != 0 && t != BUSY && b.until[w].load(Ordering::Relaxed) > now_ms {
                    // A source two shards added at the same instant may
                    // hold two entries until they end: count it once.
                    if !seen[..w].contains(&t) {
                        n += 1;
                    }
                    seen[w] = t;
                }
            }
        }
        n
    }

    fn bucket(&self, h: u64) -> &Bucket {
        // In bounds: `mask` is the bucket count less one.
        &self.buckets[(h >> 32) as usize & self.mask]
    }

    /// Whether the source of hash `h` is banned at `now_ms`.
    #[inline]
    pub(crate) fn is_banned(&self, h: u64, now_ms: u64) -> bool {
        let tag = tag(h);
        let b = self.bucket(h);
        for w in 0..WAYS {
            if b.tags[w].load(Ordering::Acquire) != tag {
                continue;
            }
            let until = b.until[w].load(Ordering::Relaxed);
            // The tag again: unchanged, so `until` was written for it.
            fence(Ordering::Acquire);
            if b.tags[w].load(Ordering::Relaxed) == tag && until > now_ms {
                return true;
            }
        }
        false
    }

    /// Bans the source of hash `h` until `until_ms`.
    pub(crate) fn ban(&self, h: u64, now_ms: u64, until_ms: u64) -> BanOutcome {
        let tag = tag(h);
        let b = self.bucket(h);
        // Bounded: each failed claim means another writer changed the
        // bucket; after a few, give up rather than spin.
        for _ in 0..4 {
            if let Some(w) = (0..WAYS).find(|&w| b.tags[w].load(Ordering::Acquire) == tag) {
                if let Some(before) = extend(b, w, tag, until_ms) {
                    return if before > now_ms {
                        BanOutcome::Extended
                    } else {
                        BanOutcome::Added
                    };
                }
                // The entry was taken for another source meanwhile.
                continue;
            }
            // A free or expired entry, else the live one ending first.
            let mut pick: Option<(usize, u64, u64)> = None;
            let mut live = true;
            for w in 0..WAYS {
                let t = b.tags[w].load(Ordering::Acquire);
                if t == BUSY {
                    continue;
                }
                let until = if t == 0 {
                    0
                } else {
                    b.until[w].load(Ordering::Relaxed)
                };
                if until <= now_ms {
                    pick = Some((w, t, until));
                    live = false;
                    break;
                }
                if pick.is_none_or(|(_, _, u)| until < u) {
                    pick = Some((w, t, until));
                }
            }
            let Some((w, old, old_until)) = pick else {
                continue;
            };
            if live && old_until >= until_ms {
                return BanOutcome::Full;
            }
            if b.tags[w]
                .compare_exchange(old, BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            fence(Ordering::Release);
            b.until[w].store(until_ms, Ordering::Relaxed);
            b.tags[w].store(tag, Ordering::Release);
            // Another shard may have added the same source meanwhile (two
            // shards crossing the rate at once): keep one entry (a
            // duplicate can remain if both wrote at once; it only takes
            // a slot until it ends).
            if (0..w).any(|o| b.tags[o].load(Ordering::Acquire) == tag) {
                b.until[w].store(0, Ordering::Relaxed);
                let _ = b.tags[w].compare_exchange(tag, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
            return if live {
                BanOutcome::Evicted
            } else {
                BanOutcome::Added
            };
        }
        BanOutcome::Full
    }

    /// Ends the ban of the source of hash `h`; whether it was banned.
    pub(crate) fn lift(&self, h: u64, now_ms: u64) -> bool {
        let tag = tag(h);
        let b = self.bucket(h);
        let mut was = false;
        for w in 0..WAYS {
            if b.tags[w].load(Ordering::Acquire) == tag {
                was |= b.until[w].load(Ordering::Relaxed) > now_ms;
                let _ = b.tags[w].compare_exchange(tag, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
        was
    }
}

/// Moves the end of entry `w` (holding `tag`) to `until_ms` if that is
/// later; the end before. `None` if the entry stopped holding `tag` (an
/// eviction took it): an end is only ever changed for its own source.
fn extend(b: &Bucket, w: usize, tag: u64, until_ms: u64) -> Option<u64> {
    loop {
        let before = b.until[w].load(Ordering::Relaxed);
        // The tag after the end was read: still ours, so `before` is ours,
        // and an evictor's store of its own end would change the value
        // the swap below expects.
        fence(Ordering::Acquire);
        if b.tags[w].load(Ordering::Relaxed) != tag {
            return None;
        }
        if before >= until_ms {
            return Some(before);
        }
        if b.until[w]
            .compare_exchange(before, until_ms, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return Some(before);
        }
    }
}

/// A source's tag: its hash less the top bit, never 0 (free) or
/// [`BUSY`].
#[inline]
fn tag(h: u64) -> u64 {
    (h >> 1) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_expire_extend_and_lift() {
        // Hashes that differ above the lowest bit (tags drop it).
        let b = Bans::new(64);
        assert_eq!(b.capacity(), 64);
        assert!(!b.is_banned(42 << 8, 0));
        assert_eq!(b.ban(42 << 8, 0, 1000), BanOutcome::Added);
        assert!(b.is_banned(42 << 8, 0));
        assert!(b.is_banned(42 << 8, 999));
        assert!(!b.is_banned(42 << 8, 1000));
        assert!(!b.is_banned(43 << 8, 10));
        assert_eq!(b.ban(42 << 8, 10, 2000), BanOutcome::Extended);
        assert_eq!(b.ban(42 << 8, 10, 1500), BanOutcome::Extended);
        assert!(b.is_banned(42 << 8, 1999));
        assert_eq!(b.live(10), 1);
        assert!(b.lift(42 << 8, 10));
        assert!(!b.is_banned(42 << 8, 10));
        assert!(!b.lift(42 << 8, 10));
        // Expired: banning again is a new ban.
        assert_eq!(b.ban(42 << 8, 0, 100), BanOutcome::Added);
        assert_eq!(b.ban(42 << 8, 200, 300), BanOutcome::Added);
        assert_eq!(b.live(200), 1);
        assert_eq!(b.live(300), 0);
    }

    /// A bucket of live bans: a later-ending ban evicts the one ending
    /// first, an earlier-ending one is not stored; expired entries are
    /// reused; nothing grows.
    #[test]
    fn a_full_bucket_evicts_the_soonest_or_refuses() {
        let b = Bans::new(8);
        let bytes = b.memory_bytes();
        // One bucket: every hash lands in it.
        for i in 0..8u64 {
            assert_eq!(b.ban(i << 8, 0, 1000 + i), BanOutcome::Added);
        }
        assert_eq!(b.ban(99 << 8, 0, 500), BanOutcome::Full);
        assert!(!b.is_banned(99 << 8, 0));
        assert_eq!(b.ban(100 << 8, 0, 5000), BanOutcome::Evicted);
        assert!(b.is_banned(100 << 8, 0));
        assert!(!b.is_banned(0, 0), "the soonest-ending ban gave way");
        assert!(b.is_banned(1 << 8, 0));
        assert_eq!(b.live(0), 8);
        // All but one expired at 1008: reused without eviction.
        assert_eq!(b.ban(200 << 8, 1008, 9000), BanOutcome::Added);
        assert_eq!(b.live(1008), 2);
        assert_eq!(b.memory_bytes(), bytes);
    }

    /// Two threads adding and checking the same sources: every ban is
    /// seen by both, and a source is stored once.
    #[test]
    fn shared_between_threads() {
        let b = std::sync::Arc::new(Bans::new(1024));
        let hs: Vec<u64> = (0..200u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                let hs = hs.clone();
                std::thread::spawn(move || {
                    for &h in &hs {
                        let _ = b.ban(h, 0, 10_000);
                        assert!(b.is_banned(h, 1));
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        for &h in &hs {
            assert!(b.is_banned(h, 1));
        }
        assert_eq!(b.live(1), 200);
    }
}
