//! Banning the sources of failed authentications: after `failures`
//! failed attempts within `window`, a source is dropped for `ban`
//! (fail2ban's rule, applied in the router so a password guesser costs
//! nothing but a table lookup once banned).
//!
//! A source is an IPv4 address, or an IPv6 /64 ([`BanConfig::v6_prefix`]):
//! one host is given a whole /64 and can change its address within it at
//! will. IPv4-mapped IPv6 addresses count as the IPv4 address.
//!
//! The counts are shared by every shard ([`FailureCounts`], one table of
//! atomics): a guesser's attempts land on the shards of their Call-IDs,
//! and each counts toward the same `failures`, so it gets `failures`
//! attempts, not `shards × failures`. The count is over a fixed window
//! starting at a source's first failure (not a sliding one), at one
//! second's resolution: a guesser times its attempts to fit at most
//! `2 × (failures - 1)` within any span of `window`. A success does not
//! reset the count (else knowing one password would let a source guess
//! others without limit).
//!
//! Memory is fixed: [`BanConfig::capacity`] counting cells of 8 bytes,
//! indexed by a keyed hash of the source (a secret seed per process, so
//! which sources share a cell cannot be known from outside) and tagged
//! with 24 more bits of it. A source landing on a cell that counts
//! another source takes it over: a flood of one-off failures from many
//! addresses can make the router forget a guesser's count (it then gets
//! `failures` more attempts), never ban an innocent source. Bans are kept
//! apart, per shard ([`FailureBans`], at most `capacity`, the least
//! recently banned forgotten first), and in the runtime also in the
//! flood defence's shared ban list, whose datagram gates stop a banned
//! source on every shard before parsing.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::lru::Lru;

/// The limits of [`FailureBans`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BanConfig {
    /// Failed attempts that ban a source (`auth_failures`): 10. 0 never
    /// bans.
    pub failures: u32,
    /// Within how long (`auth_window_s`): 60 s.
    pub window: Duration,
    /// For how long a source is then dropped (`ban_s`): 300 s.
    pub ban: Duration,
    /// How many sources are counted (shared cells of 8 bytes: 128 KiB),
    /// and how many banned per shard (about 1 MiB each), at most: 16,384.
    pub capacity: usize,
    /// How many leading bits of an IPv6 address name a source: 64.
    pub v6_prefix: u8,
}

impl Default for BanConfig {
    fn default() -> Self {
        BanConfig {
            failures: 10,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(300),
            capacity: 16_384,
            v6_prefix: 64,
        }
    }
}

/// A source as counted: the family and the (masked) address.
type Source = (bool, u128);

fn source(config: &BanConfig, ip: IpAddr) -> Source {
    match ip.to_canonical() {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => {
            let bits = u32::from(config.v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            (true, u128::from(v6) & mask)
        }
    }
}

/// 24 bits: a cell's tag and its window start (seconds, wrapping after
/// 194 days: a window is at most a day, see [`FailureCounts::new`]).
const FIELD: u64 = (1 << 24) - 1;

/// The failure counts of every shard (see the module docs): one cell
/// per source slot, `tag:24 | window start (s):24 | failures:16`,
/// updated by compare-and-swap. No lock, no allocation after
/// construction.
#[derive(Debug)]
pub struct FailureCounts {
    config: BanConfig,
    cells: Box<[AtomicU64]>,
    hasher: foldhash::fast::FixedState,
    epoch: Instant,
}

impl FailureCounts {
    /// Counts per `config` (`capacity` rounded up to a power of two, at
    /// least 1024; `window` cut to a day), sources keyed with `seed`
    /// (random per process), seconds counted from `epoch`.
    pub fn new(config: BanConfig, seed: u64, epoch: Instant) -> FailureCounts {
        let n = config.capacity.clamp(1024, 1 << 24).next_power_of_two();
        FailureCounts {
            config,
            cells: (0..n).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            epoch,
        }
    }

    /// Counts a failed attempt of `ip` at `now`; true when the source has
    /// now failed `failures` times or more within its window.
    pub fn record(&self, now: Instant, ip: IpAddr) -> bool {
        if self.config.failures == 0 {
            return false;
        }
        let h = self.hasher.hash_one(source(&self.config, ip));
        let cell = &self.cells[(h as usize) & (self.cells.len() - 1)];
        let tag = (h >> 40) & FIELD;
        let now_s = now.saturating_duration_since(self.epoch).as_secs() & FIELD;
        let window = self.config.window.as_secs().min(86_400);
        let mut cur = cell.load(Ordering::Relaxed);
        loop {
            let (t, start, count) = (cur >> 40, (cur >> 16) & FIELD, cur & 0xFFFF);
            let ongoing = cur != 0 && t == tag && (now_s.wrapping_sub(start) & FIELD) < window;
            let (start, count) = match ongoing {
                true => (start, (count + 1).min(0xFFFF)),
                false => (now_s, 1),
            };
            let new = (tag << 40) | (start << 16) | count;
            match cell.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return count >= u64::from(self.config.failures),
                Err(seen) => cur = seen,
            }
        }
    }

    /// Forgets `ip`'s count (once it is banned: counting starts again
    /// when the ban ends).
    pub fn forget(&self, ip: IpAddr) {
        let h = self.hasher.hash_one(source(&self.config, ip));
        let cell = &self.cells[(h as usize) & (self.cells.len() - 1)];
        let tag = (h >> 40) & FIELD;
        let cur = cell.load(Ordering::Relaxed);
        if cur >> 40 == tag {
            let _ = cell.compare_exchange(cur, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Bytes of the table.
    pub fn memory_bytes(&self) -> usize {
        self.cells.len() * 8
    }

    /// Sources with a count (a scan: for tests and reports).
    pub fn counting(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) != 0)
            .count()
    }
}

/// A shard's failure bans over the shared [`FailureCounts`] (see the
/// module docs).
#[derive(Debug)]
pub struct FailureBans {
    config: BanConfig,
    counts: Arc<FailureCounts>,
    /// Banned sources and when their ban ends; bans all last `ban`, so
    /// the least recently banned is the next to expire, and the one
    /// forgotten first when full.
    banned: Lru<Source, Instant>,
}

impl FailureBans {
    /// Counts with `config`, alone (one shard, or a test).
    pub fn new(config: BanConfig) -> FailureBans {
        let counts = FailureCounts::new(config, 0x00ba_17ed, Instant::now());
        FailureBans::shared(Arc::new(counts))
    }

    /// A shard's bans over counts shared with the other shards.
    pub fn shared(counts: Arc<FailureCounts>) -> FailureBans {
        let config = counts.config;
        FailureBans {
            config,
            banned: Lru::new(config.capacity),
            counts,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &BanConfig {
        &self.config
    }

    /// Whether `ip` is banned at `now` by this shard (an expired ban is
    /// removed).
    pub fn is_banned(&mut self, now: Instant, ip: IpAddr) -> bool {
        let src = source(&self.config, ip);
        match self.banned.peek(&src) {
            Some(&until) if now < until => true,
            Some(_) => {
                self.banned.remove(&src);
                false
            }
            None => false,
        }
    }

    /// Counts a failed attempt from `ip` at `now`; true when this one
    /// bans it (from now to `now + ban`).
    pub fn record_failure(&mut self, now: Instant, ip: IpAddr) -> bool {
        if !self.counts.record(now, ip) {
            return false;
        }
        self.counts.forget(ip);
        let src = source(&self.config, ip);
        let until = now + self.config.ban;
        match self.banned.get_mut(&src) {
            Some(u) => *u = until,
            None => {
                self.banned.insert(src, until);
            }
        }
        true
    }

    /// How many sources are being counted (by every shard) and how many
    /// are banned by this one (bans past their end included until looked
    /// up or pushed out).
    pub fn len(&self) -> (usize, usize) {
        (self.counts.counting(), self.banned.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bans_after_failures_in_the_window_and_expires() {
        let mut b = FailureBans::new(BanConfig::default());
        let t = Instant::now();
        let src = ip("192.0.2.7");
        for i in 0..9 {
            assert!(!b.record_failure(t + Duration::from_secs(i), src));
            assert!(!b.is_banned(t + Duration::from_secs(i), src));
        }
        assert!(b.record_failure(t + Duration::from_secs(9), src));
        assert!(b.is_banned(t + Duration::from_secs(9), src));
        assert!(b.is_banned(t + Duration::from_secs(308), src));
        // Another address is not concerned.
        assert!(!b.is_banned(t + Duration::from_secs(10), ip("192.0.2.8")));
        // The ban ends 300 s after it began, and the count starts again.
        assert!(!b.is_banned(t + Duration::from_secs(309), src));
        assert_eq!(b.len(), (0, 0));
        assert!(!b.record_failure(t + Duration::from_secs(310), src));
    }

    /// Two shards over one table: a guesser whose attempts alternate
    /// between them is banned at its tenth, not its twentieth.
    #[test]
    fn shards_count_together() {
        let counts = Arc::new(FailureCounts::new(BanConfig::default(), 9, Instant::now()));
        let mut shards = [
            FailureBans::shared(counts.clone()),
            FailureBans::shared(counts.clone()),
        ];
        let t = Instant::now();
        let src = ip("192.0.2.7");
        for i in 0..9 {
            assert!(!shards[i % 2].record_failure(t, src), "{i}");
        }
        assert!(shards[1].record_failure(t, src));
        assert!(shards[1].is_banned(t, src));
        // The count starts again (the ban is the shield's and this shard's).
        assert_eq!(counts.counting(), 0);
        assert_eq!(counts.memory_bytes(), 16_384 * 8);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut b = FailureBans::new(BanConfig::default());
        let t = Instant::now();
        let src = ip("192.0.2.7");
        for i in 0..9 {
            assert!(!b.record_failure(t + Duration::from_secs(i), src));
        }
        // The window (from the first failure) is over: counting again.
        for i in 0..9 {
            assert!(!b.record_failure(t + Duration::from_secs(60 + i), src));
        }
        assert!(b.record_failure(t + Duration::from_secs(69), src));
    }

    #[test]
    fn v6_by_prefix_and_mapped_v4() {
        let mut b = FailureBans::new(BanConfig {
            failures: 2,
            ..BanConfig::default()
        });
        let t = Instant::now();
        assert!(!b.record_failure(t, ip("2001:db8:1:2::1")));
        assert!(b.record_failure(t, ip("2001:db8:1:2:ffff::9")));
        assert!(b.is_banned(t, ip("2001:db8:1:2::abcd")));
        assert!(!b.is_banned(t, ip("2001:db8:1:3::1")));
        assert!(!b.record_failure(t, ip("::ffff:192.0.2.1")));
        assert!(b.record_failure(t, ip("192.0.2.1")));
        assert!(b.is_banned(t, ip("::ffff:192.0.2.1")));
        // A /128 prefix counts addresses one by one.
        let mut b = FailureBans::new(BanConfig {
            failures: 2,
            v6_prefix: 128,
            ..BanConfig::default()
        });
        assert!(!b.record_failure(t, ip("2001:db8::1")));
        assert!(!b.record_failure(t, ip("2001:db8::2")));
        let mut b = FailureBans::new(BanConfig {
            failures: 0,
            ..BanConfig::default()
        });
        for _ in 0..100 {
            assert!(!b.record_failure(t, ip("2001:db8::1")));
        }
    }

    #[test]
    fn bounded_under_a_flood_of_sources() {
        let config = BanConfig {
            failures: 2,
            ..BanConfig::default()
        };
        let mut b = FailureBans::new(config);
        let t = Instant::now();
        let attacker = ip("198.51.100.1");
        b.record_failure(t, attacker);
        assert!(b.record_failure(t, attacker));
        // 100,000 distinct sources failing once each.
        for n in 0..100_000u32 {
            let src = IpAddr::from((0x0a00_0000u32 + n).to_be_bytes());
            assert!(!b.record_failure(t, src));
        }
        let (counting, banned) = b.len();
        assert!(counting <= config.capacity, "{counting}");
        assert_eq!(banned, 1);
        // The ban survived the churn.
        assert!(b.is_banned(t, attacker));
        // 100,000 banned sources: the bans are bounded too.
        for n in 0..100_000u32 {
            let src = IpAddr::from((0x0b00_0000u32 + n).to_be_bytes());
            b.record_failure(t, src);
            assert!(b.record_failure(t, src));
        }
        assert_eq!(b.len().1, config.capacity);
    }
}
