//! The shard-local nonce-count window (RFC 7616 §3.4 `nc`, §5.5 replay):
//! which (nonce, nc) pairs this shard has accepted, so that a captured
//! request cannot be played again.
//!
//! Per nonce: the highest nc accepted and a 64-bit map of the 64 counts
//! below it, the anti-replay window of IPsec (RFC 4303 §3.4.3). A count
//! above the highest is accepted and slides the window; a count within
//! the 64 below it is accepted once; anything older is refused. Why not
//! strictly increasing: a UA that reuses a nonce numbers its requests in
//! the order it sends them, not the order they arrive (UDP reorders, and
//! a UA sends a REGISTER refresh, a SUBSCRIBE and an INVITE at once); a
//! strict rule would refuse the late one although it was never seen.
//! Each count is still accepted at most once.
//!
//! Bounded: at most `capacity` nonces ([`DEFAULT_CAPACITY`]), the least
//! recently used forgotten first. A forgotten nonce must not become
//! usable again, so the window keeps a watermark: the latest issue time
//! among the nonces it forgot. A nonce it does not know, issued at or
//! before the watermark, may have been seen: it is
//! [`Use::Forgotten`] (the verifier re-challenges with `stale=true`, a
//! fresh nonce costs the UA one round trip). Only nonces whose response
//! was right are recorded, so a flood of made-up nonces never reaches the
//! window.

use super::lru::Lru;
use super::nonce::NonceId;

/// How many nonces a shard remembers by default: 16,384 (about 1 MiB),
/// at least 8 s of turnover at 2,000 new nonces a second per shard,
/// far above a challenge's round trip.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// How far below the highest accepted count a late count is still
/// accepted (once): 64.
pub const REORDER_WINDOW: u32 = 64;

#[derive(Clone, Copy, Debug)]
struct Counts {
    /// When the nonce was issued (for the watermark).
    issued: u64,
    /// The highest nc accepted.
    top: u32,
    /// Bit i: `top - i` was accepted.
    seen: u64,
}

/// What the window says of a nonce count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Not seen before: accepted and recorded.
    Fresh,
    /// Seen before (or too far below the highest): refused.
    Replayed,
    /// A nonce this window may have forgotten: refused, ask for a new one.
    Forgotten,
}

/// The window of one shard (see the module docs).
#[derive(Debug)]
pub struct ReplayWindow {
    nonces: Lru<NonceId, Counts>,
    /// The latest issue time of a forgotten nonce (0: none forgotten).
    forgotten_until: u64,
}

impl ReplayWindow {
    /// A window of at most `capacity` nonces (at least 1).
    pub fn new(capacity: usize) -> ReplayWindow {
        ReplayWindow {
            nonces: Lru::new(capacity),
            forgotten_until: 0,
        }
    }

    /// How many nonces it holds.
    pub fn len(&self) -> usize {
        self.nonces.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.nonces.len() == 0
    }

    /// The most it holds.
    pub fn capacity(&self) -> usize {
        self.nonces.capacity()
    }

    /// Accepts count `nc` (at least 1) of the nonce `id` issued at
    /// `issued` if it was not accepted before, and records it.
    pub fn check(&mut self, id: &NonceId, issued: u64, nc: u32) -> Use {
        if nc == 0 {
            return Use::Replayed; // counts start at 1
        }
        if let Some(c) = self.nonces.get_mut(id) {
            if nc > c.top {
                let shift = nc - c.top;
                c.seen = if shift >= 64 {
                    1
                } else {
                    (c.seen << shift) | 1
                };
                c.top = nc;
                return Use::Fresh;
            }
            let back = c.top - nc;
            if back >= REORDER_WINDOW || c.seen & (1 << back) != 0 {
                return Use::Replayed;
            }
            c.seen |= 1 << back;
            return Use::Fresh;
        }
        if issued <= self.forgotten_until {
            return Use::Forgotten;
        }
        let counts = Counts {
            issued,
            top: nc,
            seen: 1,
        };
        if let Some((_, old)) = self.nonces.insert(*id, counts) {
            self.forgotten_until = self.forgotten_until.max(old.issued);
        }
        Use::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> NonceId {
        let mut i = [0; 16];
        i[..4].copy_from_slice(&n.to_be_bytes());
        i
    }

    #[test]
    fn increasing_counts_and_replays() {
        let mut w = ReplayWindow::new(8);
        let a = id(1);
        assert_eq!(w.check(&a, 100, 1), Use::Fresh);
        assert_eq!(w.check(&a, 100, 1), Use::Replayed);
        assert_eq!(w.check(&a, 100, 2), Use::Fresh);
        assert_eq!(w.check(&a, 100, 2), Use::Replayed);
        assert_eq!(w.check(&a, 100, 1), Use::Replayed);
        assert_eq!(w.check(&a, 100, 0), Use::Replayed);
        // Another nonce has its own counts.
        assert_eq!(w.check(&id(2), 100, 1), Use::Fresh);
        // A first use need not start at 1 (the earlier ones went to
        // another shard, or were lost).
        assert_eq!(w.check(&id(3), 100, 7), Use::Fresh);
        assert_eq!(w.check(&id(3), 100, 7), Use::Replayed);
    }

    #[test]
    fn reordered_counts_once_each() {
        let mut w = ReplayWindow::new(8);
        let a = id(1);
        assert_eq!(w.check(&a, 100, 5), Use::Fresh);
        assert_eq!(w.check(&a, 100, 3), Use::Fresh); // late, never seen
        assert_eq!(w.check(&a, 100, 4), Use::Fresh);
        assert_eq!(w.check(&a, 100, 3), Use::Replayed);
        assert_eq!(w.check(&a, 100, 4), Use::Replayed);
        assert_eq!(w.check(&a, 100, 5), Use::Replayed);
        // A jump slides the window: 64 below the top is the edge.
        assert_eq!(w.check(&a, 100, 100), Use::Fresh);
        assert_eq!(w.check(&a, 100, 100 - 63), Use::Fresh);
        assert_eq!(w.check(&a, 100, 100 - 63), Use::Replayed);
        assert_eq!(w.check(&a, 100, 100 - 64), Use::Replayed);
        assert_eq!(w.check(&a, 100, 5), Use::Replayed);
        // A jump beyond the window forgets the bits (all below refused).
        assert_eq!(w.check(&a, 100, 1000), Use::Fresh);
        assert_eq!(w.check(&a, 100, 999), Use::Fresh);
        assert_eq!(w.check(&a, 100, 100), Use::Replayed);
        assert_eq!(w.check(&a, 100, u32::MAX), Use::Fresh);
        assert_eq!(w.check(&a, 100, u32::MAX), Use::Replayed);
    }

    #[test]
    fn forgotten_nonces_are_not_replayable() {
        let mut w = ReplayWindow::new(2);
        assert_eq!(w.check(&id(1), 100, 1), Use::Fresh);
        assert_eq!(w.check(&id(2), 101, 1), Use::Fresh);
        assert_eq!(w.check(&id(1), 100, 2), Use::Fresh); // 2 is the oldest now
        assert_eq!(w.check(&id(3), 102, 1), Use::Fresh); // forgets 2 (issued 101)
        assert_eq!(w.check(&id(2), 101, 1), Use::Forgotten);
        assert_eq!(w.check(&id(2), 101, 2), Use::Forgotten);
        // Unknown but issued after every forgotten nonce: first use.
        assert_eq!(w.check(&id(4), 102, 1), Use::Fresh);
        // Issued at the watermark or before: cannot tell.
        assert_eq!(w.check(&id(5), 101, 1), Use::Forgotten);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn bounded_under_a_flood_of_nonces() {
        let mut w = ReplayWindow::new(DEFAULT_CAPACITY);
        for n in 0..100_000u32 {
            assert_eq!(w.check(&id(n), 1_000 + u64::from(n), 1), Use::Fresh);
        }
        assert_eq!(w.len(), DEFAULT_CAPACITY);
        assert_eq!(w.capacity(), DEFAULT_CAPACITY);
        // The most recent are still known; the forgotten stay refused.
        assert_eq!(w.check(&id(99_999), 1_000 + 99_999, 1), Use::Replayed);
        assert_eq!(w.check(&id(5), 1_005, 1), Use::Forgotten);
    }
}
