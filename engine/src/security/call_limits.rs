//! Call limits (`[[limit]]`): calls at once and new calls per second per
//! customer group, source prefix, carrier and gateway, exact across
//! shards.
//!
//! ```toml
//! [[limit]]
//! key = "group:retail"   # group:NAME | source:CIDR | carrier:ID | gateway:ID
//! concurrent = 200       # calls at once (optional)
//! cps = 20               # new calls per second (optional; one of the two)
//! burst = 40             # calls at once from a full bucket (default: cps, at least 1)
//! code = 503             # status of a refused customer call (default 503)
//! retry_after_s = 5      # its Retry-After (default: the bucket's wait for cps, 5 for concurrent)
//! ```
//!
//! # Where it runs
//!
//! - Call setup (a new INVITE): [`CallLimits::admit_caller`] checks every
//!   `group:` and `source:` limit the caller matches (its group, and every
//!   source prefix holding its address: nested prefixes all apply). A
//!   refusal is answered with the limit's `code` and `Retry-After`.
//! - Least-cost routing: [`CallLimits::admit_target`] checks a target's
//!   `carrier:` and `gateway:` limits before it is tried; a refused target
//!   is skipped for the next one.
//! - Call end (BYE, a final failure, a timeout): [`CallLimits::release`]
//!   gives back the slots the [`Held`] of the call names, once.
//!
//! [`Held`] is a 20-byte `Copy` value the proxy keeps in its call record.
//! A caller holds at most [`MAX_CALLER_MATCHES`] limits and a target at
//! most 2 (its carrier's and its gateway's), so a caller's hold and a
//! target's merge into one ([`Held::merge`]). Keep them apart while a call
//! fails over between targets (each failed attempt releases its own
//! hold), and merge them once it is answered.
//!
//! # Across shards: shared atomics, not shares
//!
//! Every shard admits against one `CallLimits` behind an `Arc`. Each limit
//! owns one 64-byte cache line of atomics: the calls it holds (a `u32`
//! taken by compare-and-swap only while under the limit, so it never goes
//! above it: admission is exact, with no per-shard share to leave idle on
//! one shard while another refuses), and its token bucket as a GCRA cell
//! (the generic cell rate algorithm: exactly a token bucket of `cps`
//! tokens a second holding `burst`, in one word, the instant in ns since
//! the table's epoch when the bucket is full again; as in [`super::rate_limit`]).
//! One word instead of "tokens + last refill" in two atomics: a bucket
//! updated by one compare-and-swap has no torn state between its two
//! halves, and needs no 128-bit atomics.
//!
//! A call matching several limits takes the concurrent slots of all of
//! them first, then the tokens; if one refuses, what this call took is
//! given back, and the refusal names that limit:
//! - slots are given back exactly (a decrement);
//! - a token is given back by a compare-and-swap from the cell's value
//!   this call wrote back to the one it read: exact when no other call
//!   took from that bucket in between (a window of nanoseconds). If one
//!   did, the token stays taken: the bucket may refuse **one call too
//!   many** per such race, never admit one too many. (Simply adding the
//!   token back would over-admit when the bucket refilled to full in
//!   between.)
//!
//! While a call that is being refused holds its slots and tokens (for
//! those nanoseconds), another call may be refused by them: a limit can
//! under-admit transiently, never over-admit. Likewise a shard whose
//! `now` lags the others' sees a bucket emptier than it is (it refuses
//! sooner); the bucket never admits more than `burst` plus `cps` a second
//! of the latest `now` any shard passed.
//!
//! Cost per call: nothing when no limit matches (the table is asked
//! nothing when it is empty). Per matching limit: one compare-and-swap on
//! its slots (concurrent), one on its bucket (cps) and one add to its
//! admitted counter, all on that limit's one cache line (which moves
//! between cores only when two shards admit under the same limit); a
//! release is one atomic decrement per held slot. Lookups allocate
//! nothing: groups, carriers and gateways through a hash map keyed by
//! `Box<str>` and asked with the `&str`; sources by a scan of the source
//! limits (a mask-and-compare each: meant for a few; hundreds want a trie
//! that returns every match).
//!
//! # Limits
//!
//! At most [`MAX_CALL_LIMITS`] limits; keys unique; `cps` in (0,
//! 1,000,000] (its interval is rounded to whole ns); `burst` in
//! 1..=1,000,000 and `burst / cps` at most a day; `code` 400..=699; at
//! least one of `concurrent` and `cps` (`concurrent = 0` refuses every
//! call: a switch to close a carrier). Source prefixes nest (a source
//! matches every prefix holding it); the table is refused if an address
//! can match more than [`MAX_CALLER_MATCHES`] caller limits (its group's
//! and its prefixes'), so a call's hold always fits its [`Held`].
//!
//! The counts start at zero in a new table: a hold belongs to the table
//! that made it (one released into another table is ignored), so a
//! table built on reload would admit on top of the calls still held in
//! the old one; `[[limit]]` changes are meant to take a restart, as
//! `[[rate_limit]]`'s do.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use serde::Deserialize;

use super::Epoch;
use super::cidr::{Cidr, CidrError};

/// Most limits one table holds.
pub const MAX_CALL_LIMITS: usize = 4096;
/// Most caller limits (`group:` and `source:`) one call can match.
pub const MAX_CALLER_MATCHES: usize = 4;
/// Most target limits one target can match (its carrier's, its gateway's).
pub const MAX_TARGET_MATCHES: usize = 2;
/// Most slots a [`Held`] records: a caller's and a target's.
pub const MAX_HELD: usize = MAX_CALLER_MATCHES + MAX_TARGET_MATCHES;
/// Highest `cps`.
pub const MAX_CPS: f64 = 1_000_000.0;
/// Highest `burst`.
pub const MAX_CALL_BURST: u32 = 1_000_000;
/// Longest `burst / cps` (seconds for an empty bucket to fill): a day,
/// room for daily caps.
pub const MAX_CALL_REFILL_S: f64 = 86_400.0;
/// Status of a refused customer call, unless the limit says otherwise.
pub const DEFAULT_CODE: u16 = 503;
/// Retry-After of a call refused by a concurrent limit, unless the limit
/// says otherwise (when slots come free is not known).
pub const DEFAULT_CONCURRENT_RETRY_S: u32 = 5;

/// One `[[limit]]` table, as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// What it counts: `group:NAME`, `source:CIDR`, `carrier:ID`,
    /// `gateway:ID` ([`LimitKey`]).
    pub key: String,
    /// Calls at once.
    pub concurrent: Option<u32>,
    /// New calls per second.
    pub cps: Option<f64>,
    /// Calls a full bucket admits at once (default `cps` rounded up, at
    /// least 1).
    pub burst: Option<u32>,
    /// Status of a refused customer call (default [`DEFAULT_CODE`]).
    pub code: Option<u16>,
    /// Retry-After of a refusal, seconds (default, or 0: the wait for a
    /// token under `cps`, [`DEFAULT_CONCURRENT_RETRY_S`] under
    /// `concurrent`).
    pub retry_after_s: Option<u32>,
}

/// What a limit counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// The calls of a customer group (the ACL's / routing group).
    Group(String),
    /// The calls of all the sources inside a prefix, together.
    Source(Cidr),
    /// The calls sent to a carrier (all its gateways).
    Carrier(String),
    /// The calls sent to one gateway.
    Gateway(String),
}

impl LimitKey {
    /// Whether it limits targets (`carrier:`, `gateway:`) rather than
    /// callers.
    pub fn is_target(&self) -> bool {
        matches!(self, LimitKey::Carrier(_) | LimitKey::Gateway(_))
    }
}

impl FromStr for LimitKey {
    type Err = LimitErrorKind;

    fn from_str(s: &str) -> Result<LimitKey, LimitErrorKind> {
        let (kind, rest) = s.split_once(':').ok_or(LimitErrorKind::Prefix)?;
        let name = || {
            if rest.is_empty() {
                Err(LimitErrorKind::EmptyName)
            } else {
                Ok(rest.to_owned())
            }
        };
        match kind {
            "group" => name().map(LimitKey::Group),
            "carrier" => name().map(LimitKey::Carrier),
            "gateway" => name().map(LimitKey::Gateway),
            "source" => rest
                .parse()
                .map(LimitKey::Source)
                .map_err(LimitErrorKind::Cidr),
            _ => Err(LimitErrorKind::Prefix),
        }
    }
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitKey::Group(n) => write!(f, "group:{n}"),
            LimitKey::Source(c) => write!(f, "source:{c}"),
            LimitKey::Carrier(n) => write!(f, "carrier:{n}"),
            LimitKey::Gateway(n) => write!(f, "gateway:{n}"),
        }
    }
}

/// A `[[limit]]` table that cannot be put in service: which one
/// (`index`, 0-based, and its `key` as written) and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("limit[{index}] (key {key:?}): {kind}")]
pub struct LimitError {
    /// Its position among the `[[limit]]` tables.
    pub index: usize,
    /// Its key as written.
    pub key: String,
    /// What is wrong.
    pub kind: LimitErrorKind,
}

/// What is wrong with a `[[limit]]` table.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitErrorKind {
    /// The key is not `group:`, `source:`, `carrier:` or `gateway:`
    /// followed by its value.
    #[error("the key is not group:NAME, source:CIDR, carrier:ID or gateway:ID")]
    Prefix,
    /// Nothing after `group:`, `carrier:` or `gateway:`.
    #[error("the key names nothing after its prefix")]
    EmptyName,
    /// `source:` is not followed by a prefix.
    #[error("bad source prefix: {0}")]
    Cidr(#[source] CidrError),
    /// Neither `concurrent` nor `cps`.
    #[error("neither concurrent nor cps is set: it would limit nothing")]
    NoLimit,
    /// `code` not within 400..=699.
    #[error("code {0} is not a 4xx, 5xx or 6xx status")]
    Code(u16),
    /// The same key as an earlier table.
    #[error("the same key as limit[{first}]")]
    Duplicate {
        /// The earlier table's index.
        first: usize,
    },
    /// `cps` not within (0, [`MAX_CPS`]] (or not a number).
    #[error("cps {0} is not within (0, 1000000]")]
    Cps(f64),
    /// `burst` not within 1..=[`MAX_CALL_BURST`].
    #[error("burst {0} is not within 1 and 1000000")]
    Burst(u32),
    /// `burst / cps` above [`MAX_CALL_REFILL_S`].
    #[error("burst / cps is {0} s: at most 86400 (a day)")]
    Refill(f64),
    /// `burst` without `cps` (it sizes the bucket that `cps` fills).
    #[error("burst is set without cps")]
    BurstWithoutCps,
    /// More than [`MAX_CALL_LIMITS`] tables (this one is the first past).
    #[error("more than 4096 limits")]
    TooMany,
    /// An address inside this source prefix matches more caller limits
    /// (nested prefixes, and a group's) than a call can hold.
    #[error(
        "a source inside it matches {0} caller limits (nested prefixes and a group's): at most 4"
    )]
    TooManyMatches(usize),
}

/// A call refused by a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The limit that refused: its index among the `[[limit]]` tables
    /// ([`CallLimits::key`] names it).
    pub key: usize,
    /// The status to answer a refused customer call with.
    pub code: u16,
    /// The Retry-After to answer with, seconds (at least 1).
    pub retry_after_s: u32,
    /// Which of the limit's bounds refused.
    pub over: Over,
}

/// Which bound of a limit refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// Its calls at once.
    Concurrent,
    /// Its calls per second.
    Cps,
}

/// The concurrent slots a call holds: give them back with
/// [`CallLimits::release`], once, when the call ends (the calls-per-second
/// tokens it took are not given back: they were spent when it started).
///
/// Small and `Copy`, for the proxy's call record; it belongs to the table
/// that made it ([`Held::merge`] joins a caller's and a target's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// The table's id (0: none).
    table: u32,
    len: u8,
    slots: [u16; MAX_HELD],
}

impl Held {
    /// Holds nothing.
    pub const EMPTY: Held = Held {
        table: 0,
        len: 0,
        slots: [0; MAX_HELD],
    };

    /// Whether it holds no slot (releasing it does nothing).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many slots it holds.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The indexes of the limits it holds a slot of.
    pub fn limits(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots[..self.len()].iter().map(|&i| usize::from(i))
    }

    /// Both holds in one: `None` if they are of different tables or hold
    /// more than [`MAX_HELD`] slots together (then keep and release them
    /// apart). A caller's hold and a target's of one table always merge.
    pub fn merge(self, other: Held) -> Option<Held> {
        if other.is_empty() {
            return Some(self);
        }
        if self.is_empty() {
            return Some(other);
        }
        let n = self.len() + other.len();
        if self.table != other.table || n > MAX_HELD {
            return None;
        }
        let mut h = self;
        h.slots[self.len()..n].copy_from_slice(&other.slots[..other.len()]);
        h.len = n as u8;
        Some(h)
    }

    fn push(&mut self, i: u16) {
        self.slots[self.len()] = i;
        self.len += 1;
    }
}

/// A limit's counts at one moment (see [`CallLimits::counts`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LimitCounts {
    /// Its key (`group:retail`, ...).
    pub key: String,
    /// Calls it holds now.
    pub concurrent: u32,
    /// Its `concurrent`.
    pub concurrent_limit: Option<u32>,
    /// Its `cps`.
    pub cps_limit: Option<f64>,
    /// Calls admitted under it since the start.
    pub admitted: u64,
    /// Calls it refused since the start.
    pub refused: u64,
}

/// One limit's bounds and shared state: one cache line, written by every
/// shard that admits under it.
#[derive(Debug)]
#[repr(align(64))]
struct Cell {
    /// Calls held now.
    held: AtomicU32,
    /// The bucket's TAT: ns since the epoch when it is full again.
    tat: AtomicU64,
    admitted: AtomicU64,
    refused: AtomicU64,
    /// `concurrent` (`u32::MAX`: none, which no count can reach).
    concurrent: u32,
    /// One token's time, ns (0: no `cps`).
    interval_ns: u64,
    /// `burst` tokens' time, ns: how far ahead of now the TAT may run.
    tau_ns: u64,
    code: u16,
    /// `retry_after_s` (0: the default).
    retry_after_s: u32,
}

/// A token taken from limit `i`'s bucket: its TAT went from `old` to
/// `new` (to give it back).
#[derive(Clone, Copy, Debug, Default)]
struct Token {
    i: u16,
    old: u64,
    new: u64,
}

type Names = HashMap<Box<str>, u16, foldhash::fast::FixedState>;

/// Ids of tables, to tell their holds apart.
static NEXT_TABLE: AtomicU32 = AtomicU32::new(1);

/// The call limits, shared by every shard behind an `Arc` (see the module
/// docs).
#[derive(Debug)]
pub struct CallLimits {
    id: u32,
    keys: Box<[LimitKey]>,
    cps: Box<[Option<f64>]>,
    cells: Box<[Cell]>,
    groups: Names,
    carriers: Names,
    gateways: Names,
    /// Source prefixes and their limits, in table order.
    sources: Box<[(Cidr, u16)]>,
    epoch: Epoch,
}

impl CallLimits {
    /// The limits of `specs`, nothing held and the buckets full; `epoch`
    /// starts the buckets' clock (the `now`s passed later are measured
    /// from it; an earlier one counts as the epoch).
    pub fn new(specs: &[LimitSpec], epoch: Instant) -> Result<CallLimits, LimitError> {
        let hasher = foldhash::fast::FixedState::with_seed(0x7c1d_5a3e_9b24_f061);
        let mut keys = Vec::with_capacity(specs.len());
        let mut cps = Vec::with_capacity(specs.len());
        let mut cells = Vec::with_capacity(specs.len());
        let mut groups = Names::with_hasher(hasher.clone());
        let mut carriers = Names::with_hasher(hasher.clone());
        let mut gateways = Names::with_hasher(hasher.clone());
        let mut sources: Vec<(Cidr, u16)> = Vec::new();
        for (index, s) in specs.iter().enumerate() {
            let fail = |kind| LimitError {
                index,
                key: s.key.clone(),
                kind,
            };
            if index >= MAX_CALL_LIMITS {
                return Err(fail(LimitErrorKind::TooMany));
            }
            let key: LimitKey = s.key.parse().map_err(fail)?;
            let cell = cell(s).map_err(fail)?;
            let i = index as u16;
            let first = match &key {
                LimitKey::Group(n) => insert(&mut groups, n, i),
                LimitKey::Carrier(n) => insert(&mut carriers, n, i),
                LimitKey::Gateway(n) => insert(&mut gateways, n, i),
                LimitKey::Source(c) => {
                    let first = sources.iter().find(|(o, _)| same(o, c)).map(|&(_, j)| j);
                    sources.push((*c, i));
                    first
                }
            };
            if let Some(first) = first {
                return Err(fail(LimitErrorKind::Duplicate {
                    first: usize::from(first),
                }));
            }
            keys.push(key);
            cps.push(s.cps);
            cells.push(cell);
        }
        // The most caller limits one address matches: prefixes holding a
        // common address nest, so the narrowest's network address is in
        // all of them.
        let group = usize::from(!groups.is_empty());
        for (c, i) in &sources {
            let n = group + sources.iter().filter(|(o, _)| o.contains(c.addr())).count();
            if n > MAX_CALLER_MATCHES {
                let index = usize::from(*i);
                return Err(LimitError {
                    index,
                    key: specs[index].key.clone(),
                    kind: LimitErrorKind::TooManyMatches(n),
                });
            }
        }
        Ok(CallLimits {
            id: NEXT_TABLE.fetch_add(1, Ordering::Relaxed).max(1),
            keys: keys.into(),
            cps: cps.into(),
            cells: cells.into(),
            groups,
            carriers,
            gateways,
            sources: sources.into(),
            epoch: Epoch(epoch),
        })
    }

    /// How many limits.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none (then nothing needs asking).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether any limit is a caller's (`group:`, `source:`).
    pub fn has_callers(&self) -> bool {
        !self.groups.is_empty() || !self.sources.is_empty()
    }

    /// Whether any limit is a target's (`carrier:`, `gateway:`): when
    /// not, the route stage needs no carrier or gateway ids.
    pub fn has_targets(&self) -> bool {
        !self.carriers.is_empty() || !self.gateways.is_empty()
    }

    /// The key of limit `index` (a [`Refused::key`]).
    pub fn key(&self, index: usize) -> Option<&LimitKey> {
        self.keys.get(index)
    }

    /// Admits a new call at `now` from `source`, of customer group
    /// `group`, under every `group:` and `source:` limit it matches: takes
    /// a slot of each concurrent one and a token of each cps one, or none
    /// of them and says which refused. Allocates nothing.
    #[inline]
    pub fn admit_caller(
        &self,
        now: Instant,
        source: IpAddr,
        group: Option<&str>,
    ) -> Result<Held, Refused> {
        let mut m = Matches::<MAX_CALLER_MATCHES>::default();
        if let Some(i) = group.and_then(|g| lookup(&self.groups, g)) {
            m.push(i);
        }
        for (c, i) in self.sources.iter() {
            if c.contains(source) {
                m.push(*i);
            }
        }
        self.admit(now, m.as_slice())
    }

    /// Admits a call attempt at `now` to a target of `carrier` and
    /// `gateway` under their limits, as [`CallLimits::admit_caller`] does;
    /// the route stage skips a refused target.
    #[inline]
    pub fn admit_target(
        &self,
        now: Instant,
        carrier: Option<&str>,
        gateway: Option<&str>,
    ) -> Result<Held, Refused> {
        let mut m = Matches::<MAX_TARGET_MATCHES>::default();
        if let Some(i) = carrier.and_then(|c| lookup(&self.carriers, c)) {
            m.push(i);
        }
        if let Some(i) = gateway.and_then(|g| lookup(&self.gateways, g)) {
            m.push(i);
        }
        self.admit(now, m.as_slice())
    }

    /// Gives back the slots of `held` (its call ended). Callers release
    /// each hold once; a hold of another table is ignored. A count
    /// already at zero (a hold released twice) stays there (and panics
    /// in debug builds).
    pub fn release(&self, held: Held) {
        if held.is_empty() || held.table != self.id {
            return;
        }
        for i in held.limits() {
            self.give_slot(i);
        }
    }

    /// Takes a slot of each concurrent limit named by `keys` (as
    /// [`LimitKey`] writes them: `group:retail`) **without refusing**,
    /// even past its bound: for calls taken back after a restart (the
    /// dialog journal), which are up already and must give their slots
    /// back when they end. Keys this table does not have, limits without
    /// `concurrent` and keys past [`MAX_HELD`] are skipped; no token is
    /// taken and nothing is counted as admitted. Give the hold back with
    /// [`CallLimits::release`]. A limit over its bound this way refuses
    /// new calls until enough of them end.
    pub fn force<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Held {
        let mut held = Held {
            table: self.id,
            ..Held::EMPTY
        };
        for key in keys {
            if held.len() == MAX_HELD {
                break;
            }
            let i = match key.parse::<LimitKey>() {
                Ok(LimitKey::Group(n)) => lookup(&self.groups, &n),
                Ok(LimitKey::Carrier(n)) => lookup(&self.carriers, &n),
                Ok(LimitKey::Gateway(n)) => lookup(&self.gateways, &n),
                Ok(LimitKey::Source(c)) => self.sources.iter().find(|(s, _)| *s == c).map(|x| x.1),
                Err(_) => None,
            };
            let Some(i) = i else { continue };
            let c = &self.cells[usize::from(i)];
            if c.concurrent == u32::MAX || held.limits().any(|h| h == usize::from(i)) {
                continue;
            }
            c.held.fetch_add(1, Ordering::Relaxed);
            held.push(i);
        }
        held
    }

    /// Each limit's counts now, in table order (for reports: allocates).
    pub fn counts(&self) -> Vec<LimitCounts> {
        self.keys
            .iter()
            .zip(self.cells.iter())
            .zip(self.cps.iter())
            .map(|((k, c), &cps)| LimitCounts {
                key: k.to_string(),
                concurrent: c.held.load(Ordering::Relaxed),
                concurrent_limit: (c.concurrent != u32::MAX).then_some(c.concurrent),
                cps_limit: cps,
                admitted: c.admitted.load(Ordering::Relaxed),
                refused: c.refused.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Admits a call under the limits `m` (at most [`MAX_CALLER_MATCHES`]):
    /// every slot, then every token; or gives back what it took.
    fn admit(&self, now: Instant, m: &[u16]) -> Result<Held, Refused> {
        let mut held = Held {
            table: self.id,
            ..Held::EMPTY
        };
        if m.is_empty() {
            return Ok(held);
        }
        for &i in m {
            let c = &self.cells[usize::from(i)];
            if c.concurrent == u32::MAX {
                continue;
            }
            let taken = c
                .held
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < c.concurrent).then_some(n + 1)
                })
                .is_ok();
            if !taken {
                self.release(held);
                let retry = nonzero_or(c.retry_after_s, DEFAULT_CONCURRENT_RETRY_S);
                return Err(self.refuse(i, retry, Over::Concurrent));
            }
            held.push(i);
        }
        let now_ns = self.epoch.ns(now);
        let mut tokens = [Token::default(); MAX_CALLER_MATCHES];
        let mut n = 0;
        for &i in m {
            let c = &self.cells[usize::from(i)];
            if c.interval_ns == 0 {
                continue;
            }
            match take_token(c, now_ns) {
                Ok((old, new)) => {
                    tokens[n] = Token { i, old, new };
                    n += 1;
                }
                Err(wait_ns) => {
                    for t in &tokens[..n] {
                        // Given back only if no other call took from the
                        // bucket since (see the module docs).
                        let _ = self.cells[usize::from(t.i)].tat.compare_exchange(
                            t.new,
                            t.old,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    self.release(held);
                    let wait_s = wait_ns
                        .div_ceil(1_000_000_000)
                        .clamp(1, u64::from(u32::MAX));
                    let retry = nonzero_or(c.retry_after_s, wait_s as u32);
                    return Err(self.refuse(i, retry, Over::Cps));
                }
            }
        }
        for &i in m {
            self.cells[usize::from(i)]
                .admitted
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(held)
    }

    fn refuse(&self, i: u16, retry_after_s: u32, over: Over) -> Refused {
        let c = &self.cells[usize::from(i)];
        c.refused.fetch_add(1, Ordering::Relaxed);
        Refused {
            key: usize::from(i),
            code: c.code,
            retry_after_s,
            over,
        }
    }

    fn give_slot(&self, i: usize) {
        let Some(c) = self.cells.get(i) else { return };
        let given = c
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        debug_assert!(given, "limit[{i}]: a slot released twice");
    }
}

/// Takes a token from `c`'s bucket at `now_ns`: the TAT before and after,
/// or the wait in ns until one is there.
#[inline]
fn take_token(c: &Cell, now_ns: u64) -> Result<(u64, u64), u64> {
    let mut old = c.tat.load(Ordering::Relaxed);
    loop {
        let next = old.saturating_sub(now_ns) + c.interval_ns;
        if next > c.tau_ns {
            return Err(next - c.tau_ns);
        }
        let new = now_ns + next;
        match c
            .tat
            .compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => return Ok((old, new)),
            Err(v) => old = v,
        }
    }
}

/// The cell of a spec (its key already read): bounds checked.
fn cell(s: &LimitSpec) -> Result<Cell, LimitErrorKind> {
    if s.concurrent.is_none() && s.cps.is_none() {
        return Err(LimitErrorKind::NoLimit);
    }
    let code = s.code.unwrap_or(DEFAULT_CODE);
    if !(400..=699).contains(&code) {
        return Err(LimitErrorKind::Code(code));
    }
    let (interval_ns, tau_ns) = match s.cps {
        None if s.burst.is_some() => return Err(LimitErrorKind::BurstWithoutCps),
        None => (0, 0),
        Some(cps) => {
            if !(cps > 0.0 && cps <= MAX_CPS) {
                return Err(LimitErrorKind::Cps(cps));
            }
            let burst = s.burst.unwrap_or(cps.max(1.0).ceil() as u32);
            if !(1..=MAX_CALL_BURST).contains(&burst) {
                return Err(LimitErrorKind::Burst(burst));
            }
            let refill = f64::from(burst) / cps;
            if refill > MAX_CALL_REFILL_S {
                return Err(LimitErrorKind::Refill(refill));
            }
            let interval = ((1e9 / cps).round() as u64).max(1);
            (interval, interval * u64::from(burst))
        }
    };
    Ok(Cell {
        held: AtomicU32::new(0),
        tat: AtomicU64::new(0),
        admitted: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        // u32::MAX calls at once is no limit either.
        concurrent: s.concurrent.unwrap_or(u32::MAX),
        interval_ns,
        tau_ns,
        code,
        retry_after_s: s.retry_after_s.unwrap_or(0),
    })
}

/// Adds `name` → `i`; the index already there under `name`, if any.
fn insert(names: &mut Names, name: &str, i: u16) -> Option<u16> {
    match names.get(name) {
        Some(&first) => Some(first),
        None => {
            names.insert(name.into(), i);
            None
        }
    }
}

/// The limit of `name` (hashes the `&str`; no allocation).
#[inline]
fn lookup(names: &Names, name: &str) -> Option<u16> {
    if names.is_empty() {
        None
    } else {
        names.get(name).copied()
    }
}

/// Whether two prefixes cover the same addresses (an IPv4 prefix and its
/// IPv4-mapped IPv6 form included).
fn same(a: &Cidr, b: &Cidr) -> bool {
    a.contains(b.addr()) && b.contains(a.addr()) && family_len(a) == family_len(b)
}

/// A prefix's length in its canonical family (an IPv4-mapped IPv6 prefix
/// of at least 96 bits counts as the IPv4 one).
fn family_len(c: &Cidr) -> u8 {
    match c.addr() {
        IpAddr::V6(v6) if c.prefix_len() >= 96 && v6.to_ipv4_mapped().is_some() => {
            c.prefix_len() - 96
        }
        _ => c.prefix_len(),
    }
}

fn nonzero_or(v: u32, default: u32) -> u32 {
    if v == 0 { default } else { v }
}

/// The limits a call matches, inline (their number is bounded when the
/// table is built).
#[derive(Debug)]
struct Matches<const N: usize> {
    idx: [u16; N],
    len: usize,
}

impl<const N: usize> Default for Matches<N> {
    fn default() -> Self {
        Matches {
            idx: [0; N],
            len: 0,
        }
    }
}

impl<const N: usize> Matches<N> {
    #[inline]
    fn push(&mut self, i: u16) {
        // Bounded by the table's check (`TooManyMatches`): never full.
        debug_assert!(self.len < N, "more matching limits than checked");
        if self.len < N {
            self.idx[self.len] = i;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[u16] {
        &self.idx[..self.len]
    }
}

#[cfg(test)]
#[path = "call_limits_tests.rs"]
mod tests;
