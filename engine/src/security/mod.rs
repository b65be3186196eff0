//! Flood defence and rate limits, sans-IO: pike (per-source datagram
//! rate before parsing), the ban list, named token-bucket rate limits,
//! and the CIDR sets they (and the request policy) match sources with.
//! No clock reads (every call takes `now`), no sockets, no threads; the
//! shared state is plain atomics behind an `Arc`.
//!
//! # Where it runs
//!
//! [`Gate::check`] is meant for the shard loop, on each datagram's source
//! address alone, **before** `find_call_id` and the handoff to the
//! Call-ID's owner (`trunkline_shards::serve`): a dropped datagram costs
//! the check and nothing else (no Call-ID search, no copy into another
//! shard's inbox, no parse). Each shard has its own [`Gate`] (its own
//! counters) on one shared [`Shield`]:
//!
//! ```text
//! for (bytes, src) in batch {
//!     if gate.check(now, src.ip()).is_drop() { continue; }
//!     let owner = find_call_id(bytes) ...; hand off or process
//! }
//! ```
//!
//! Other stages ban through the same shield ([`Shield::ban`]: e.g. the
//! authentication stage after repeated digest failures), and the request
//! policy invokes the rate limits by name ([`RateLimiter::admit`]; 503
//! with the Retry-After it gives).
//!
//! # Across shards: one shared table, not shares of the rate
//!
//! SO_REUSEPORT spreads a source's datagrams over the shards by 4-tuple,
//! so a flooder using many ports lands on every shard. Pike counts into
//! one fixed-size table of atomics shared by all shards ([`pike`]: a
//! count-min sketch of 2 rows × `pike_width` counters, each a two-bucket
//! sliding one-second window, indexed by a keyed hash of the source), so
//! it sees the whole rate of a source wherever its datagrams land,
//! exactly (a counter is only ever too high, by what other sources
//! hashing to both of its counters add).
//!
//! The alternatives were worse: per-shard tables enforcing `rate/shards`
//! ban a legitimate source that happens to hash all its datagrams to one
//! shard (one port is one 4-tuple: a trunk peer at 60 % of the limit is
//! over `rate/2` on a 2-shard box), and routing by the IP's owner shard
//! makes every flood datagram cost a handoff (a copy and a cross-core
//! queue) before it can be dropped.
//!
//! Cost per datagram: a dropped one (its source banned) is a keyed hash
//! and a read of one bucket of the ban list, no write to shared memory,
//! so a banned flood on every shard moves no cache line between cores;
//! an admitted one adds two compare-and-swaps on the source's two
//! counters (these lines move between cores only when two shards count
//! the same source at once, and a flooder stops being counted once
//! banned). No allocation. Measured on the 2-core VM (criterion,
//! `cargo bench -p trunkline-benches --bench flood`): a banned source's
//! datagram 7.6 ns, a source under the rate 20 ns, a new spoofed source
//! every datagram (counters all over the table) 32 ns, a trusted one
//! 12.5 ns. End to end (`cargo run --release -p trunkline-benches
//! --example flood_drop`: a `recvmmsg` reader and the gate against a
//! flood over 16 ports) a flood datagram costs the reader ~0.11 µs of
//! user CPU, the gate ~0.01 µs of it; the kernel's receive path (~1.7 µs
//! of system CPU) is the rest.
//!
//! Memory is fixed at construction and never grows: pike 2 × `pike_width`
//! × 8 bytes (default 1 MiB), the ban list `ban_capacity` × 16 bytes
//! (default 64 KiB), the rate-limit cells 8 bytes each (default 512 KiB).
//! Nothing is evicted by new sources: pike's counters are shared, not
//! owned, so a spoofed flood of millions of distinct sources adds its
//! total rate spread evenly over the counters (R / width per counter per
//! second) and only bans anyone once that reaches `flood_pps` (with the
//! defaults, a spoofed flood of ~30 M datagrams/s, far beyond what one
//! box reads); a legitimate source keeps being admitted below that. The
//! ban list only takes sources that went over the rate; a full bucket
//! replaces its soonest-ending ban or refuses the new one, and a source
//! whose ban could not be stored is still dropped while it is over the
//! rate.
//!
//! # Limits and their defaults ([`ShieldConfig`], [`RateLimitsConfig`])
//!
//! | what | default | range |
//! | --- | --- | --- |
//! | `flood_pps`: datagrams per second per source | 500 | 0 (pike off) ..= 250,000 |
//! | `ban`: how long a flooder is banned | 300 s | 1 s ..= 30 days |
//! | `pike_width`: counters per row | 65,536 | 2^10 ..= 2^24, a power of two |
//! | `ban_capacity`: bans held | 4,096 | 8 ..= 2^24, a power of two |
//! | `ipv6_prefix`: bits that key an IPv6 source | 64 | 16 ..= 128 |
//! | rate-limit `cells` | 65,536 | 2^10 ..= 2^24, a power of two |
//! | rate limits | | 4,096; rate (0, 10^6]/s; burst 1 ..= 10^6; burst/rate ≤ 3,600 s |
//!
//! An IPv6 source is keyed by its /64 (`ipv6_prefix`): a host owns a
//! whole /64, and counting per address would let it spread a flood over
//! 2^64 of them. An IPv4-mapped IPv6 address is its IPv4 address.
//!
//! A ban ends after `ban`; a source still flooding then gets at most
//! `flood_pps` datagrams through in the second it takes to be banned
//! again (once per `ban`). Trusted sources (a [`CidrSet`]) and our
//! configured next hops (address and port, [`Shield::with_next_hops`])
//! are never counted and never banned; a source over the rate is asked
//! about ([`Shield::with_exempt`]: the routing table's gateways, which
//! answer at the rate of all the calls we send them) before it is.

pub mod bans;
pub mod call_limits;
pub mod cidr;
pub mod pike;
pub mod rate_limit;

use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use bans::{BanOutcome, Bans, MAX_BAN_CAPACITY};
pub use call_limits::{
    CallLimits, Held, LimitCounts, LimitError, LimitErrorKind, LimitKey, LimitSpec, Over, Refused,
};
pub use cidr::{Cidr, CidrError, CidrSet};
pub use pike::{MAX_FLOOD_PPS, MAX_PIKE_WIDTH, MIN_PIKE_WIDTH, Pike};
pub use rate_limit::{
    Admission, LimitId, RateKeyKind, RateLimitSpec, RateLimiter, RateLimits, RateLimitsConfig,
    RateSubject,
};

/// Longest ban (pike's `ban`, and [`Shield::ban`]'s durations are cut to
/// it).
pub const MAX_BAN: Duration = Duration::from_secs(30 * 24 * 3600);

/// A setting out of its range (see the module docs' table).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SecurityError {
    /// `flood_pps` above [`MAX_FLOOD_PPS`].
    #[error("flood_pps {0} is above {MAX_FLOOD_PPS}")]
    FloodPps(u32),
    /// `ban` not in 1 s ..= [`MAX_BAN`].
    #[error("ban_s {0:?} is not within 1 s and 30 days")]
    Ban(Duration),
    /// `pike_width` not a power of two in range.
    #[error("pike width {0} is not a power of two in {MIN_PIKE_WIDTH}..={MAX_PIKE_WIDTH}")]
    PikeWidth(usize),
    /// `ban_capacity` not a power of two in range.
    #[error("ban capacity {0} is not a power of two in 8..={MAX_BAN_CAPACITY}")]
    BanCapacity(usize),
    /// `ipv6_prefix` not in 16..=128.
    #[error("ipv6_prefix {0} is not within 16 and 128")]
    Ipv6Prefix(u8),
    /// A rate limit's `key` is not `source`, `group` or `global`.
    #[error("rate limit key {0:?} is not source, group or global")]
    RateKey(String),
    /// More than [`rate_limit::MAX_LIMITS`] rate limits.
    #[error("{0} rate limits: at most 4096")]
    TooManyLimits(usize),
    /// A rate limit's name is empty or longer than 64 bytes.
    #[error("rate limit name {0:?} is empty or longer than 64 bytes")]
    LimitName(String),
    /// Two rate limits of one name.
    #[error("rate limit {0:?} is defined twice")]
    DuplicateLimit(String),
    /// `rate` not in (0, 10^6].
    #[error("rate limit {name:?}: rate {rate} is not within (0, 1000000]")]
    Rate {
        /// The limit.
        name: String,
        /// Its rate.
        rate: f64,
    },
    /// `burst` not in 1..=10^6.
    #[error("rate limit {name:?}: burst {burst} is not within 1 and 1000000")]
    Burst {
        /// The limit.
        name: String,
        /// Its burst.
        burst: u32,
    },
    /// `burst / rate` above 3,600 s.
    #[error("rate limit {name:?}: burst / rate is {seconds} s, at most 3600")]
    Refill {
        /// The limit.
        name: String,
        /// Its refill time.
        seconds: f64,
    },
    /// The rate-limit cells are not a power of two in range.
    #[error("rate limit cells {0} is not a power of two in 1024..=16777216")]
    RateCells(usize),
}

/// Pike's and the ban list's settings (`[security]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShieldConfig {
    /// Datagrams per second a source may send before it is banned
    /// (default 500; 0 turns pike off, bans still apply).
    pub flood_pps: u32,
    /// How long pike bans a flooder (default 300 s).
    pub ban: Duration,
    /// Counters per row of pike's table (default 65,536: 1 MiB).
    pub pike_width: usize,
    /// Bans held at once (default 4,096: 64 KiB).
    pub ban_capacity: usize,
    /// Leading bits that key an IPv6 source (default 64).
    pub ipv6_prefix: u8,
}

impl Default for ShieldConfig {
    fn default() -> Self {
        ShieldConfig {
            flood_pps: 500,
            ban: Duration::from_secs(300),
            pike_width: 1 << 16,
            ban_capacity: 4096,
            ipv6_prefix: 64,
        }
    }
}

impl ShieldConfig {
    /// Whether every setting is in its range.
    pub fn validate(&self) -> Result<(), SecurityError> {
        if self.flood_pps > MAX_FLOOD_PPS {
            return Err(SecurityError::FloodPps(self.flood_pps));
        }
        if self.ban < Duration::from_secs(1) || self.ban > MAX_BAN {
            return Err(SecurityError::Ban(self.ban));
        }
        let w = self.pike_width;
        if !w.is_power_of_two() || !(MIN_PIKE_WIDTH..=MAX_PIKE_WIDTH).contains(&w) {
            return Err(SecurityError::PikeWidth(w));
        }
        let c = self.ban_capacity;
        if !c.is_power_of_two() || !(8..=MAX_BAN_CAPACITY).contains(&c) {
            return Err(SecurityError::BanCapacity(c));
        }
        check_ipv6_prefix(self.ipv6_prefix)
    }
}

fn check_ipv6_prefix(p: u8) -> Result<(), SecurityError> {
    if (16..=128).contains(&p) {
        Ok(())
    } else {
        Err(SecurityError::Ipv6Prefix(p))
    }
}

/// Whether a source is one of ours (see [`Shield::with_exempt`]).
pub type Exempt = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

struct ExemptFn(Exempt);

impl std::fmt::Debug for ExemptFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExemptFn")
    }
}

/// Pike, the ban list and the trusted sources, shared by every shard
/// (through an `Arc`); each shard checks datagrams through its own
/// [`Gate`].
#[derive(Debug)]
pub struct Shield {
    cfg: ShieldConfig,
    trusted: CidrSet,
    /// Our configured next hops (address and port): never counted.
    next_hops: Box<[SocketAddr]>,
    /// Asked about a source that goes over the rate: whether it is one
    /// of our gateways (the routing table's), let through instead.
    exempt: Option<ExemptFn>,
    keyer: Keyer,
    epoch: Epoch,
    pike: Pike,
    bans: Bans,
    ban_ms: u64,
}

impl Shield {
    /// A shield for `cfg`, never counting nor banning `trusted`. `seed`
    /// keys the hash of sources (pass a random one per process, so that
    /// which sources share a counter cannot be known or aimed at from
    /// outside); `now` starts its clock.
    pub fn new(
        cfg: &ShieldConfig,
        trusted: CidrSet,
        seed: u64,
        now: Instant,
    ) -> Result<Shield, SecurityError> {
        cfg.validate()?;
        Ok(Shield {
            cfg: *cfg,
            trusted,
            next_hops: Box::default(),
            exempt: None,
            keyer: Keyer::new(seed),
            epoch: Epoch(now),
            pike: Pike::new(cfg.flood_pps, cfg.pike_width),
            bans: Bans::new(cfg.ban_capacity),
            ban_ms: cfg.ban.as_millis() as u64,
        })
    }

    /// Exempts the servers we forward to (`[route] default`) from
    /// counting, by address and port: their responses and requests come
    /// at the rate of all the calls we send them, far over a caller's
    /// `flood_pps`, and banning them would fail every call. Other sources
    /// on the same IP (another port) are counted as usual.
    pub fn with_next_hops(mut self, hops: impl IntoIterator<Item = SocketAddr>) -> Shield {
        self.next_hops = hops.into_iter().collect();
        self
    }

    /// Lets a source that goes over `flood_pps` through when `exempt`
    /// says it is one of ours (the routing table's gateways, whose
    /// addresses change with the table: asked at that moment, so nothing
    /// needs updating here). Asked only for a source over the rate: no
    /// cost for the others.
    pub fn with_exempt(mut self, exempt: Exempt) -> Shield {
        self.exempt = Some(ExemptFn(exempt));
        self
    }

    /// Whether `src` is one of our configured next hops.
    #[inline]
    pub fn is_next_hop(&self, src: SocketAddr) -> bool {
        self.next_hops.contains(&src)
    }

    /// A shard's gate on this shield.
    pub fn gate(self: &Arc<Self>) -> Gate {
        Gate {
            shield: self.clone(),
            counters: GateCounters::default(),
        }
    }

    /// Bans `ip` for `duration` (at most [`MAX_BAN`]) from `now`, unless
    /// it is trusted. A ban already there ends at the later of the two
    /// ends.
    pub fn ban(&self, now: Instant, ip: IpAddr, duration: Duration) -> BanOutcome {
        let ip = cidr::canonical(ip);
        if self.trusted.contains(ip) {
            return BanOutcome::Trusted;
        }
        let ms = self.epoch.ms(now);
        let until = ms + duration.min(MAX_BAN).as_millis() as u64;
        self.bans.ban(self.hash(ip), ms, until)
    }

    /// Ends the ban of `ip`; whether it was banned.
    pub fn lift(&self, now: Instant, ip: IpAddr) -> bool {
        let ip = cidr::canonical(ip);
        self.bans.lift(self.hash(ip), self.epoch.ms(now))
    }

    /// Whether `ip` is banned at `now`.
    pub fn is_banned(&self, now: Instant, ip: IpAddr) -> bool {
        let ip = cidr::canonical(ip);
        self.bans.is_banned(self.hash(ip), self.epoch.ms(now))
    }

    /// Sources banned at `now` (a scan of the ban list: for reports).
    pub fn banned_now(&self, now: Instant) -> usize {
        self.bans.live(self.epoch.ms(now))
    }

    /// Pike's measure of `ip`'s rate at `now`, datagrams per second (at
    /// least its real rate; more if other sources share its counters).
    pub fn rate(&self, now: Instant, ip: IpAddr) -> u64 {
        let ip = cidr::canonical(ip);
        self.pike.rate(self.hash(ip), self.epoch.ms(now))
    }

    /// Whether `ip` is trusted.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.contains(ip)
    }

    /// The trusted sources.
    pub fn trusted(&self) -> &CidrSet {
        &self.trusted
    }

    /// The settings.
    pub fn config(&self) -> &ShieldConfig {
        &self.cfg
    }

    /// The ban list.
    pub fn bans(&self) -> &Bans {
        &self.bans
    }

    /// Pike's table.
    pub fn pike(&self) -> &Pike {
        &self.pike
    }

    /// Bytes of pike's table and the ban list (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        self.pike.memory_bytes() + self.bans.memory_bytes()
    }

    /// The keyed hash of a canonical source.
    #[inline]
    fn hash(&self, ip: IpAddr) -> u64 {
        self.keyer.hash(0, canonical_key(ip, self.cfg.ipv6_prefix))
    }
}

/// What to do with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: find its Call-ID, hand it off or process it.
    Pass,
    /// Drop it unread.
    Drop(DropReason),
}

impl Verdict {
    /// Whether the datagram is to be dropped.
    #[inline]
    pub fn is_drop(self) -> bool {
        matches!(self, Verdict::Drop(_))
    }
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Its source is banned (by pike or another stage).
    Banned,
    /// Its source just went over `flood_pps` (and is banned from now).
    Flood,
}

/// What a shard's [`Gate`] did (cumulative; add the shards' up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GateCounters {
    /// Datagrams passed (trusted ones included).
    pub passed: u64,
    /// Datagrams of trusted sources and next hops (passed uncounted).
    pub trusted: u64,
    /// Datagrams dropped because their source is banned.
    pub dropped_banned: u64,
    /// Datagrams dropped because their source went over `flood_pps`.
    pub dropped_flood: u64,
    /// Sources this shard banned for flooding.
    pub bans_added: u64,
    /// Flooders whose ban could not be stored (their bucket of the ban
    /// list held longer bans): still dropped while over the rate.
    pub bans_not_stored: u64,
}

impl GateCounters {
    /// Datagrams dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_banned + self.dropped_flood
    }
}

impl std::ops::AddAssign for GateCounters {
    fn add_assign(&mut self, o: GateCounters) {
        self.passed += o.passed;
        self.trusted += o.trusted;
        self.dropped_banned += o.dropped_banned;
        self.dropped_flood += o.dropped_flood;
        self.bans_added += o.bans_added;
        self.bans_not_stored += o.bans_not_stored;
    }
}

/// A shard's check of datagram sources before parsing (see the module
/// docs): banned → drop; over `flood_pps` → ban and drop; else pass.
#[derive(Debug)]
pub struct Gate {
    shield: Arc<Shield>,
    counters: GateCounters,
}

impl Gate {
    /// Checks one datagram from `src` at `now`: a configured next hop
    /// ([`Shield::with_next_hops`]) passes like a trusted source, any
    /// other is checked by its IP ([`Gate::check`]).
    #[inline]
    pub fn check_addr(&mut self, now: Instant, src: SocketAddr) -> Verdict {
        if !self.shield.next_hops.is_empty() && self.shield.is_next_hop(src) {
            self.counters.passed += 1;
            self.counters.trusted += 1;
            return Verdict::Pass;
        }
        self.check(now, src.ip())
    }

    /// Checks one datagram from `src` at `now` (the port plays no part).
    #[inline]
    pub fn check(&mut self, now: Instant, src: IpAddr) -> Verdict {
        let s = &*self.shield;
        let c = &mut self.counters;
        let ip = cidr::canonical(src);
        if s.trusted.contains(ip) {
            c.passed += 1;
            c.trusted += 1;
            return Verdict::Pass;
        }
        let h = s.hash(ip);
        let ms = s.epoch.ms(now);
        if s.bans.is_banned(h, ms) {
            c.dropped_banned += 1;
            return Verdict::Drop(DropReason::Banned);
        }
        if s.cfg.flood_pps != 0 && s.pike.count(h, ms) {
            if s.exempt.as_ref().is_some_and(|ours| (ours.0)(ip)) {
                c.passed += 1;
                c.trusted += 1;
                return Verdict::Pass;
            }
            match s.bans.ban(h, ms, ms + s.ban_ms) {
                BanOutcome::Added | BanOutcome::Evicted => c.bans_added += 1,
                BanOutcome::Full => c.bans_not_stored += 1,
                BanOutcome::Extended | BanOutcome::Trusted => {}
            }
            c.dropped_flood += 1;
            return Verdict::Drop(DropReason::Flood);
        }
        c.passed += 1;
        Verdict::Pass
    }

    /// What this gate did.
    pub fn counters(&self) -> GateCounters {
        self.counters
    }

    /// The shared shield.
    pub fn shield(&self) -> &Arc<Shield> {
        &self.shield
    }
}

/// Keyed 64-bit hashing of sources and rate-limit keys (foldhash with a
/// secret seed: fast, and not predictable from outside; not a
/// cryptographic PRF, which the tables do not need).
#[derive(Clone, Debug)]
struct Keyer(foldhash::fast::FixedState);

impl Keyer {
    fn new(seed: u64) -> Keyer {
        Keyer(foldhash::fast::FixedState::with_seed(seed))
    }

    /// The hash of `value` in `domain` (which table and limit).
    #[inline]
    fn hash(&self, domain: u64, value: u128) -> u64 {
        self.0.hash_one((domain, value))
    }
}

/// Time since a table's start (the `now`s its users pass; an instant
/// before the start counts as the start).
#[derive(Clone, Copy, Debug)]
struct Epoch(Instant);

impl Epoch {
    #[inline]
    fn ms(self, now: Instant) -> u64 {
        now.saturating_duration_since(self.0).as_millis() as u64
    }
    #[inline]
    fn us(self, now: Instant) -> u64 {
        now.saturating_duration_since(self.0).as_micros() as u64
    }
    #[inline]
    fn ns(self, now: Instant) -> u64 {
        now.saturating_duration_since(self.0).as_nanos() as u64
    }
}

/// A source as the tables key it: an IPv4 address as its IPv4-mapped
/// IPv6 form, an IPv6 address cut to its first `ipv6_prefix` bits.
#[inline]
fn source_key(ip: IpAddr, ipv6_prefix: u8) -> u128 {
    canonical_key(cidr::canonical(ip), ipv6_prefix)
}

/// [`source_key`] of an address already canonical.
#[inline]
fn canonical_key(ip: IpAddr, ipv6_prefix: u8) -> u128 {
    match ip {
        IpAddr::V4(v4) => (0xffff << 32) | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let keep = u32::from(ipv6_prefix.clamp(1, 128));
            u128::from(v6) & (u128::MAX << (128 - keep))
        }
    }
}

#[cfg(test)]
mod tests;
