//! Named rate limits (`[[rate_limit]] name, rate, burst, key`): token
//! buckets that a policy rule invokes by name; over the limit, the
//! request is answered 503 with the Retry-After [`Admission::Limited`]
//! gives.
//!
//! Each bucket is a GCRA cell (the generic cell rate algorithm, exactly a
//! token bucket of `rate` tokens per second holding `burst`): one word,
//! the instant the bucket would be full again (its "theoretical arrival
//! time", TAT). A request at `now` is admitted iff
//! `max(TAT, now) + 1/rate - now <= burst/rate`, and then TAT moves on by
//! `1/rate`; a refused request writes nothing, and the wait until the
//! next admission is exactly that excess (the Retry-After).
//!
//! Across shards:
//! - `global`: one `AtomicU64` TAT (ns since the table's start) per
//!   limit, updated by compare-and-swap from every shard: exact.
//! - `source` and `group`: a shared table of `cells` words (default
//!   65,536, 512 KiB, fixed at construction), a key (the limit and the
//!   source's address, IPv6 cut to its `ipv6_prefix`, or the group) hashed
//!   (keyed) to a pair of adjacent cells; a cell holds a 20-bit tag of
//!   its key and its TAT (44 bits of µs: 203 days, compared modulo). A
//!   key uses the cell of the pair holding its tag; a new key takes a
//!   cell whose bucket is full again (TAT passed: a full bucket is what a
//!   new key starts with, so nothing is lost), else the one of the pair
//!   nearer to full, whose key then starts again with a full bucket.
//!   Bound: each key is exact while it keeps its cell; it loses it only
//!   when two other keys hashing to its pair are active at once (most
//!   active keys ~ cells / 2 before that is common), and then gets at
//!   most one extra `burst`; two keys of one pair with the same tag
//!   (chance 2^-20 per pair of active keys) share one bucket. A spoofed
//!   flood of new sources churns cells but grows nothing.
//!
//! Limits (typed errors, [`super::SecurityError`]): `rate` in
//! (0, 1,000,000] per second; `burst` in 1..=1,000,000; `burst / rate` at
//! most 3,600 s (a key's TAT runs at most that far ahead, far inside the
//! 44-bit µs range, so an idle cell is never taken for a busy one); 4,096
//! limits; names of 1 to 64 bytes, unique. The refill interval is rounded
//! to whole µs (`source`, `group`) or ns (`global`).

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{Epoch, Keyer, SecurityError, source_key};

/// Most limits one table holds.
pub const MAX_LIMITS: usize = 4096;
/// Highest `rate` (tokens per second).
pub const MAX_RATE: f64 = 1_000_000.0;
/// Highest `burst`.
pub const MAX_BURST: u32 = 1_000_000;
/// Longest `burst / rate` (seconds to refill a bucket).
pub const MAX_REFILL_S: f64 = 3600.0;
/// Fewest and most cells of the keyed table (a power of two).
pub const MIN_RATE_CELLS: usize = 1 << 10;
/// See [`MIN_RATE_CELLS`]: 2^24 cells is 128 MiB.
pub const MAX_RATE_CELLS: usize = 1 << 24;

const TAT_BITS: u32 = 44;
const TAT_MASK: u64 = (1 << TAT_BITS) - 1;
/// How far ahead of `now` a live TAT can be, in µs.
const MAX_AHEAD_US: u64 = MAX_REFILL_S as u64 * 1_000_000 + 1_000_000;

/// What a limit counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateKeyKind {
    /// A bucket per source address (IPv6: per prefix).
    Source,
    /// A bucket per group (the policy's).
    Group,
    /// One bucket for all.
    Global,
}

impl FromStr for RateKeyKind {
    type Err = SecurityError;
    fn from_str(s: &str) -> Result<RateKeyKind, SecurityError> {
        match s {
            "source" => Ok(RateKeyKind::Source),
            "group" => Ok(RateKeyKind::Group),
            "global" => Ok(RateKeyKind::Global),
            other => Err(SecurityError::RateKey(other.to_owned())),
        }
    }
}

/// One `[[rate_limit]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitSpec {
    /// How policy rules name it.
    pub name: String,
    /// Tokens per second (may be fractional: 0.5 is one per 2 s).
    pub rate: f64,
    /// Most tokens a bucket holds (requests admitted at once).
    pub burst: u32,
    /// What it counts by.
    pub key: RateKeyKind,
}

/// A limit of a [`RateLimits`], resolved from its name once (when the
/// policy is compiled), valid for that table only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LimitId(u16);

impl LimitId {
    /// Its position in the specs the table was made from.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Who a request comes from, as the limits key it: each limit takes the
/// part its kind counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSubject {
    /// The request's source address.
    pub source: IpAddr,
    /// The group the policy put it in (an id the policy gives its groups);
    /// requests of no group share one bucket of a `group` limit.
    pub group: Option<u64>,
}

/// A limit's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Within the limit (a token was taken).
    Admitted,
    /// Over it: answer 503 with `Retry-After: retry_after_s` (the wait
    /// until a token is back, rounded up to whole seconds, at least 1).
    Limited {
        /// Seconds.
        retry_after_s: u32,
    },
}

impl Admission {
    /// Whether the request may go on.
    pub fn is_admitted(self) -> bool {
        self == Admission::Admitted
    }

    /// The Retry-After to answer with, when limited.
    pub fn retry_after_s(self) -> Option<u32> {
        match self {
            Admission::Admitted => None,
            Admission::Limited { retry_after_s } => Some(retry_after_s),
        }
    }
}

#[derive(Debug)]
struct Limit {
    name: String,
    key: RateKeyKind,
    /// One token's time, in µs (keyed cells) and ns (global).
    interval_us: u64,
    interval_ns: u64,
    /// `burst` tokens' time: how far ahead of now the TAT may run.
    tau_us: u64,
    tau_ns: u64,
}

/// Sizes of the keyed table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitsConfig {
    /// Cells of the `source` / `group` table, shared by all those limits
    /// (a power of two in [`MIN_RATE_CELLS`]..=[`MAX_RATE_CELLS`];
    /// default 65,536: 512 KiB).
    pub cells: usize,
    /// The leading bits of an IPv6 source that key it (default 64: a
    /// host holds a whole /64).
    pub ipv6_prefix: u8,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            cells: 1 << 16,
            ipv6_prefix: 64,
        }
    }
}

/// The limits' shared state: every shard's [`RateLimiter`] reads and
/// writes the same buckets.
#[derive(Debug)]
pub struct RateLimits {
    limits: Box<[Limit]>,
    /// The TAT of each `global` limit, ns since `epoch` (0 for the
    /// others).
    global: Box<[AtomicU64]>,
    cells: Box<[AtomicU64]>,
    mask: usize,
    keyer: Keyer,
    epoch: Epoch,
    ipv6_prefix: u8,
}

impl RateLimits {
    /// The limits of `specs`, their buckets full. `seed` keys the hash of
    /// sources and groups (a random one per process: the cells a key
    /// lands on cannot be predicted from outside); `now` starts the
    /// table's clock.
    pub fn new(
        specs: &[RateLimitSpec],
        cfg: RateLimitsConfig,
        seed: u64,
        now: Instant,
    ) -> Result<RateLimits, SecurityError> {
        if specs.len() > MAX_LIMITS {
            return Err(SecurityError::TooManyLimits(specs.len()));
        }
        if !cfg.cells.is_power_of_two() || !(MIN_RATE_CELLS..=MAX_RATE_CELLS).contains(&cfg.cells) {
            return Err(SecurityError::RateCells(cfg.cells));
        }
        super::check_ipv6_prefix(cfg.ipv6_prefix)?;
        let mut limits = Vec::with_capacity(specs.len());
        for (i, s) in specs.iter().enumerate() {
            if s.name.is_empty() || s.name.len() > 64 {
                return Err(SecurityError::LimitName(s.name.clone()));
            }
            if specs[..i].iter().any(|o| o.name == s.name) {
                return Err(SecurityError::DuplicateLimit(s.name.clone()));
            }
            if !(s.rate > 0.0 && s.rate <= MAX_RATE) {
                return Err(SecurityError::Rate {
                    name: s.name.clone(),
                    rate: s.rate,
                });
            }
            if !(1..=MAX_BURST).contains(&s.burst) {
                return Err(SecurityError::Burst {
                    name: s.name.clone(),
                    burst: s.burst,
                });
            }
            if f64::from(s.burst) / s.rate > MAX_REFILL_S {
                return Err(SecurityError::Refill {
                    name: s.name.clone(),
                    seconds: f64::from(s.burst) / s.rate,
                });
            }
            let interval_us = ((1e6 / s.rate).round() as u64).max(1);
            let interval_ns = ((1e9 / s.rate).round() as u64).max(1);
            limits.push(Limit {
                name: s.name.clone(),
                key: s.key,
                interval_us,
                interval_ns,
                tau_us: interval_us * u64::from(s.burst),
                tau_ns: interval_ns * u64::from(s.burst),
            });
        }
        Ok(RateLimits {
            global: (0..limits.len()).map(|_| AtomicU64::new(0)).collect(),
            limits: limits.into(),
            cells: (0..cfg.cells).map(|_| AtomicU64::new(0)).collect(),
            mask: cfg.cells - 1,
            keyer: Keyer::new(seed),
            epoch: Epoch(now),
            ipv6_prefix: cfg.ipv6_prefix,
        })
    }

    /// The limit called `name`.
    pub fn id(&self, name: &str) -> Option<LimitId> {
        self.limits
            .iter()
            .position(|l| l.name == name)
            .map(|i| LimitId(i as u16))
    }

    /// The name of limit `id`.
    pub fn name(&self, id: LimitId) -> Option<&str> {
        self.limits.get(id.index()).map(|l| l.name.as_str())
    }

    /// How many limits.
    pub fn len(&self) -> usize {
        self.limits.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// Bytes of the buckets (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.cells) + std::mem::size_of_val(&*self.global)
    }

    /// A shard's handle (its own counters).
    pub fn limiter(self: &Arc<Self>) -> RateLimiter {
        RateLimiter {
            admitted: vec![0; self.limits.len()].into(),
            rejected: vec![0; self.limits.len()].into(),
            evictions: 0,
            shared: self.clone(),
        }
    }

    /// One request of `who` against limit `l` at `now`; whether a key
    /// lost its cell to it.
    fn take(&self, i: usize, who: &RateSubject, now: Instant) -> (Admission, bool) {
        let l = &self.limits[i];
        let value = match l.key {
            RateKeyKind::Global => return (self.take_global(i, l, now), false),
            RateKeyKind::Source => source_key(who.source, self.ipv6_prefix),
            RateKeyKind::Group => who.group.map_or(u128::MAX, u128::from),
        };
        let kind = if l.key == RateKeyKind::Source { 1 } else { 2 };
        let h = self.keyer.hash(((i as u64) << 2) | kind, value);
        self.take_keyed(l, h, self.epoch.us(now))
    }

    fn take_global(&self, i: usize, l: &Limit, now: Instant) -> Admission {
        let now = self.epoch.ns(now);
        let cell = &self.global[i];
        let mut old = cell.load(Ordering::Relaxed);
        loop {
            let next = old.saturating_sub(now) + l.interval_ns;
            if next > l.tau_ns {
                return limited(next - l.tau_ns, 1_000_000_000);
            }
            match cell.compare_exchange_weak(old, now + next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Admission::Admitted,
                Err(v) => old = v,
            }
        }
    }

    fn take_keyed(&self, l: &Limit, h: u64, now_us: u64) -> (Admission, bool) {
        let tag = (h >> TAT_BITS) | 1;
        // A pair of adjacent cells (one cache line).
        let i = (h as usize & self.mask) & !1;
        let now = now_us & TAT_MASK;
        loop {
            let a = self.cells[i].load(Ordering::Relaxed);
            let b = self.cells[i + 1].load(Ordering::Relaxed);
            let (slot, old, ahead, evicted) = if a >> TAT_BITS == tag {
                (i, a, ahead(a, now), false)
            } else if b >> TAT_BITS == tag {
                (i + 1, b, ahead(b, now), false)
            } else {
                // Another key's full bucket costs nothing to take; else
                // the pair's fuller one.
                let (da, db) = (ahead(a, now), ahead(b, now));
                if da <= db {
                    (i, a, 0, da > 0)
                } else {
                    (i + 1, b, 0, db > 0)
                }
            };
            let next = ahead + l.interval_us;
            if next > l.tau_us {
                return (limited(next - l.tau_us, 1_000_000), false);
            }
            let new = (tag << TAT_BITS) | ((now + next) & TAT_MASK);
            if self.cells[slot]
                .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return (Admission::Admitted, evicted);
            }
        }
    }
}

/// How far a cell's TAT is ahead of `now` (µs, modulo 2^44); 0 when it
/// has passed (a full bucket) or the cell is free.
#[inline]
fn ahead(cell: u64, now: u64) -> u64 {
    let d = (cell & TAT_MASK).wrapping_sub(now) & TAT_MASK;
    if cell != 0 && d <= MAX_AHEAD_US { d } else { 0 }
}

/// Limited, with a Retry-After of `wait` units (`per_s` a second)
/// rounded up.
fn limited(wait: u64, per_s: u64) -> Admission {
    Admission::Limited {
        retry_after_s: wait.div_ceil(per_s).clamp(1, u64::from(u32::MAX)) as u32,
    }
}

/// A shard's handle on the [`RateLimits`]: admits requests and counts
/// what it did, per limit (no shared counter is written).
#[derive(Debug)]
pub struct RateLimiter {
    shared: Arc<RateLimits>,
    admitted: Box<[u64]>,
    rejected: Box<[u64]>,
    evictions: u64,
}

impl RateLimiter {
    /// One request of `who` against limit `id` at `now`. An id of another
    /// table (a reload happened between) admits.
    #[inline]
    pub fn admit(&mut self, now: Instant, id: LimitId, who: &RateSubject) -> Admission {
        let i = id.index();
        if i >= self.shared.limits.len() {
            return Admission::Admitted;
        }
        let (a, evicted) = self.shared.take(i, who, now);
        self.evictions += u64::from(evicted);
        match a {
            Admission::Admitted => self.admitted[i] += 1,
            Admission::Limited { .. } => self.rejected[i] += 1,
        }
        a
    }

    /// The shared limits.
    pub fn limits(&self) -> &Arc<RateLimits> {
        &self.shared
    }

    /// Requests this shard admitted under limit `id`.
    pub fn admitted(&self, id: LimitId) -> u64 {
        self.admitted.get(id.index()).copied().unwrap_or(0)
    }

    /// Requests this shard refused under limit `id`.
    pub fn rejected(&self, id: LimitId) -> u64 {
        self.rejected.get(id.index()).copied().unwrap_or(0)
    }

    /// Each limit's name, admitted and refused requests (this shard's).
    pub fn counts(&self) -> impl Iterator<Item = (&str, u64, u64)> + '_ {
        self.shared
            .limits
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.as_str(), self.admitted[i], self.rejected[i]))
    }

    /// Keys that lost their cell to another (each may have got one extra
    /// burst): many means the table is too small for the active keys.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(name: &str, rate: f64, burst: u32, key: RateKeyKind) -> RateLimitSpec {
        RateLimitSpec {
            name: name.into(),
            rate,
            burst,
            key,
        }
    }

    fn who(ip: &str) -> RateSubject {
        RateSubject {
            source: ip.parse().unwrap(),
            group: None,
        }
    }

    fn table(specs: &[RateLimitSpec], t0: Instant) -> Arc<RateLimits> {
        Arc::new(RateLimits::new(specs, RateLimitsConfig::default(), 7, t0).unwrap())
    }

    /// A bucket admits `burst` at once, then `rate` per second; the
    /// Retry-After is the wait for the next token.
    #[test]
    fn rate_and_burst_of_every_kind() {
        let t0 = Instant::now();
        for kind in [RateKeyKind::Source, RateKeyKind::Group, RateKeyKind::Global] {
            let t = table(&[spec("l", 10.0, 5, kind)], t0);
            let id = t.id("l").unwrap();
            let mut r = t.limiter();
            let w = who("192.0.2.1");
            for _ in 0..5 {
                assert!(r.admit(t0, id, &w).is_admitted(), "{kind:?}");
            }
            assert_eq!(
                r.admit(t0, id, &w),
                Admission::Limited { retry_after_s: 1 },
                "{kind:?}"
            );
            // One token per 100 ms.
            assert!(
                !r.admit(t0 + Duration::from_millis(99), id, &w)
                    .is_admitted()
            );
            assert!(
                r.admit(t0 + Duration::from_millis(100), id, &w)
                    .is_admitted()
            );
            assert!(
                !r.admit(t0 + Duration::from_millis(150), id, &w)
                    .is_admitted()
            );
            // 10 s at 100 per second: 10 per second get through.
            let mut ok = 0;
            for ms in 0..10_000u64 {
                if ms % 10 == 0 {
                    ok += u32::from(
                        r.admit(t0 + Duration::from_millis(1000 + ms), id, &w)
                            .is_admitted(),
                    );
                }
            }
            // The burst (full again by then) and 10 per second.
            assert!((103..=106).contains(&ok), "{kind:?}: {ok}");
            assert_eq!(r.admitted(id) + r.rejected(id), 9 + 1000);
            // Idle long enough: the burst again.
            let later = t0 + Duration::from_secs(60);
            for _ in 0..5 {
                assert!(r.admit(later, id, &w).is_admitted());
            }
            assert!(!r.admit(later, id, &w).is_admitted());
        }
    }

    #[test]
    fn retry_after_is_the_wait_for_a_token() {
        let t0 = Instant::now();
        let t = table(
            &[
                spec("slow", 0.1, 1, RateKeyKind::Source),
                spec("g", 0.25, 2, RateKeyKind::Global),
            ],
            t0,
        );
        let mut r = t.limiter();
        let (slow, g) = (t.id("slow").unwrap(), t.id("g").unwrap());
        let w = who("192.0.2.1");
        assert!(r.admit(t0, slow, &w).is_admitted());
        assert_eq!(r.admit(t0, slow, &w).retry_after_s(), Some(10));
        let at = t0 + Duration::from_millis(7_500);
        assert_eq!(r.admit(at, slow, &w).retry_after_s(), Some(3));
        assert!(
            r.admit(t0 + Duration::from_secs(10), slow, &w)
                .is_admitted()
        );
        assert!(r.admit(t0, g, &w).is_admitted());
        assert!(r.admit(t0, g, &w).is_admitted());
        assert_eq!(r.admit(t0, g, &w).retry_after_s(), Some(4));
        assert_eq!(r.rejected(g), 1);
        assert_eq!(r.rejected(slow), 2);
    }

    /// Sources and groups have buckets of their own; an IPv6 host's /64
    /// is one source; two shards share every bucket.
    #[test]
    fn keys_are_apart_and_shards_share_them() {
        let t0 = Instant::now();
        let t = table(
            &[
                spec("src", 1.0, 2, RateKeyKind::Source),
                spec("grp", 1.0, 1, RateKeyKind::Group),
            ],
            t0,
        );
        let (src, grp) = (t.id("src").unwrap(), t.id("grp").unwrap());
        let (mut a, mut b) = (t.limiter(), t.limiter());
        assert!(a.admit(t0, src, &who("192.0.2.1")).is_admitted());
        assert!(b.admit(t0, src, &who("192.0.2.1")).is_admitted());
        assert!(!a.admit(t0, src, &who("192.0.2.1")).is_admitted());
        assert!(!b.admit(t0, src, &who("192.0.2.1")).is_admitted());
        assert!(a.admit(t0, src, &who("192.0.2.2")).is_admitted());
        assert!(a.admit(t0, src, &who("2001:db8::1")).is_admitted());
        assert!(b.admit(t0, src, &who("2001:db8::2")).is_admitted());
        assert!(!a.admit(t0, src, &who("2001:db8::3")).is_admitted());
        assert!(a.admit(t0, src, &who("2001:db8:0:1::1")).is_admitted());
        let g = |group| RateSubject {
            source: "192.0.2.1".parse().unwrap(),
            group,
        };
        assert!(a.admit(t0, grp, &g(Some(1))).is_admitted());
        assert!(!b.admit(t0, grp, &g(Some(1))).is_admitted());
        assert!(a.admit(t0, grp, &g(Some(2))).is_admitted());
        assert!(a.admit(t0, grp, &g(None)).is_admitted());
        assert!(!b.admit(t0, grp, &g(None)).is_admitted());
        let counts: Vec<_> = a.counts().collect();
        assert_eq!(counts, vec![("src", 4, 2), ("grp", 3, 0)]);
    }

    /// Two threads on one global limit: exactly `burst` + `rate` x time
    /// admitted in all.
    #[test]
    fn global_is_exact_across_threads() {
        let t0 = Instant::now();
        let t = table(&[spec("g", 1000.0, 100, RateKeyKind::Global)], t0);
        let id = t.id("g").unwrap();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let mut r = t.limiter();
                std::thread::spawn(move || {
                    let w = who("192.0.2.1");
                    // Virtual time: 10,000 requests per thread over 1 s.
                    for i in 0..10_000u64 {
                        r.admit(t0 + Duration::from_micros(i * 100), id, &w);
                    }
                    r.admitted(id)
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        // 100 at once, then one per ms for ~1 s.
        assert!((1099..=1101).contains(&total), "{total}");
    }

    /// A million spoofed sources against a per-source limit: the table
    /// does not grow, and a steady source within its limit is admitted
    /// throughout.
    #[test]
    fn spoofed_sources_stay_bounded() {
        let t0 = Instant::now();
        let t = table(&[spec("src", 20.0, 10, RateKeyKind::Source)], t0);
        let id = t.id("src").unwrap();
        let bytes = t.memory_bytes();
        let mut r = t.limiter();
        let legit = who("198.51.100.7");
        let mut refused = 0;
        for i in 0..1_000_000u32 {
            let now = t0 + Duration::from_micros(u64::from(i));
            let spoofed = RateSubject {
                source: IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()),
                group: None,
            };
            r.admit(now, id, &spoofed);
            // 10 per second: half its limit.
            if i % 100_000 == 0 {
                refused += u32::from(!r.admit(now, id, &legit).is_admitted());
            }
        }
        assert_eq!(refused, 0);
        assert_eq!(t.memory_bytes(), bytes);
    }

    #[test]
    fn bad_specs_are_typed_errors() {
        let t0 = Instant::now();
        let new = |s: &[RateLimitSpec]| RateLimits::new(s, RateLimitsConfig::default(), 1, t0);
        let ok = spec("a", 1.0, 1, RateKeyKind::Source);
        assert!(matches!(
            new(&[ok.clone(), ok.clone()]),
            Err(SecurityError::DuplicateLimit(_))
        ));
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e6] {
            assert!(matches!(
                new(&[spec("a", rate, 1, RateKeyKind::Source)]),
                Err(SecurityError::Rate { .. })
            ));
        }
        assert!(matches!(
            new(&[spec("a", 1.0, 0, RateKeyKind::Source)]),
            Err(SecurityError::Burst { .. })
        ));
        assert!(matches!(
            new(&[spec("a", 0.001, 10, RateKeyKind::Source)]),
            Err(SecurityError::Refill { .. })
        ));
        assert!(matches!(
            new(&[spec("", 1.0, 1, RateKeyKind::Source)]),
            Err(SecurityError::LimitName(_))
        ));
        assert!(matches!(
            RateLimits::new(
                &[],
                RateLimitsConfig {
                    cells: 1000,
                    ..Default::default()
                },
                1,
                t0
            ),
            Err(SecurityError::RateCells(1000))
        ));
        assert_eq!("source".parse::<RateKeyKind>(), Ok(RateKeyKind::Source));
        assert_eq!("global".parse::<RateKeyKind>(), Ok(RateKeyKind::Global));
        assert!("ip".parse::<RateKeyKind>().is_err());
        // An id of another table admits.
        let t = table(&[], t0);
        let mut r = t.limiter();
        assert!(r.admit(t0, LimitId(3), &who("192.0.2.1")).is_admitted());
    }
}
