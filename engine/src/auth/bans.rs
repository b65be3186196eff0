//! Banning the sources of failed authentications, per shard: after
//! `failures` failed attempts within `window`, a source is dropped for
//! `ban` (fail2ban's rule, applied in the router so a password guesser
//! costs nothing but a table lookup once banned).
//!
//! A source is an IPv4 address, or an IPv6 /64 ([`BanConfig::v6_prefix`]):
//! one host is given a whole /64 and can change its address within it at
//! will. IPv4-mapped IPv6 addresses count as the IPv4 address.
//!
//! The count is over a fixed window starting at a source's first failure
//! (not a sliding one): cheap, 24 bytes a source; a guesser times its
//! attempts to fit at most `2 × (failures - 1)` within any span of
//! `window`. A success does not reset the count (else knowing one
//! password would let a source guess others without limit).
//!
//! Memory is bounded: at most [`BanConfig::capacity`] sources being
//! counted and as many banned, each table forgetting its least recently
//! used entry first. The two are apart so that a flood of one-off
//! failures from many addresses churns the counts but leaves the bans.
//!
//! Bans are per shard: a source whose requests spread over shards (the
//! owner of each Call-ID runs it) is counted by each of them, so with `n`
//! shards it gets up to `n × failures` attempts before every shard bans
//! it.

use std::net::IpAddr;
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
    /// How many sources are counted, and how many banned, at most: 16,384
    /// each (about 1 MiB each per shard).
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

#[derive(Clone, Copy, Debug)]
struct Count {
    since: Instant,
    failures: u32,
}

/// The failure counts and bans of one shard (see the module docs).
#[derive(Debug)]
pub struct FailureBans {
    config: BanConfig,
    counting: Lru<Source, Count>,
    /// Banned sources and when their ban ends; bans all last `ban`, so
    /// the least recently banned is the next to expire, and the one
    /// forgotten first when full.
    banned: Lru<Source, Instant>,
}

impl FailureBans {
    /// Counts with `config`.
    pub fn new(config: BanConfig) -> FailureBans {
        FailureBans {
            config,
            counting: Lru::new(config.capacity),
            banned: Lru::new(config.capacity),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &BanConfig {
        &self.config
    }

    fn source(&self, ip: IpAddr) -> Source {
        match ip.to_canonical() {
            IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => {
                let bits = u32::from(self.config.v6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                (true, u128::from(v6) & mask)
            }
        }
    }

    /// Whether `ip` is banned at `now` (an expired ban is removed).
    pub fn is_banned(&mut self, now: Instant, ip: IpAddr) -> bool {
        let src = self.source(ip);
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
    /// bans it (from now to `now + ban`). A failure from a source already
    /// banned extends nothing (it should have been dropped before).
    pub fn record_failure(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.config.failures == 0 {
            return false;
        }
        let src = self.source(ip);
        let failures = match self.counting.get_mut(&src) {
            Some(c) if now.saturating_duration_since(c.since) < self.config.window => {
                c.failures = c.failures.saturating_add(1);
                c.failures
            }
            Some(c) => {
                *c = Count {
                    since: now,
                    failures: 1,
                };
                1
            }
            None => {
                self.counting.insert(
                    src,
                    Count {
                        since: now,
                        failures: 1,
                    },
                );
                1
            }
        };
        if failures < self.config.failures {
            return false;
        }
        self.counting.remove(&src);
        let until = now + self.config.ban;
        match self.banned.get_mut(&src) {
            Some(u) => *u = until,
            None => {
                self.banned.insert(src, until);
            }
        }
        true
    }

    /// How many sources are being counted and how many are banned (bans
    /// past their end included until looked up or pushed out).
    pub fn len(&self) -> (usize, usize) {
        (self.counting.len(), self.banned.len())
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
        assert_eq!(counting, config.capacity);
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
