//! The dispatcher: sets of equivalent destinations (a pool of PBX or media
//! servers behind one name, `[[dispatcher]]`), the order in which a
//! request tries them, and their health from OPTIONS probes.
//!
//! ```toml
//! [[dispatcher]]
//! id = "pbx"
//! algorithm = "round-robin"
//! destinations = ["sip:10.0.0.1:5060;weight=2", "sip:[2001:db8::7];priority=1"]
//! probe_interval_ms = 5000       # 0: not probed
//! failover_codes = ["408", "5xx"] # the default
//! down_after = 3                 # failed probes in a row that take one down
//! up_after = 2                   # answered probes in a row that bring it back
//! ```
//!
//! A destination is a `sip:` URI (RFC 3261 §19.1) whose host is an IP
//! address (IPv6 in brackets, RFC 3986 §3.2.2), port 5060 by default, with
//! two URI parameters of ours: `weight` (1-1000, default 1) and
//! `priority` (default 0, lower first). Anything else (a user part, a
//! host name, another parameter, headers) is refused with an error naming
//! the set, the destination's index and what is wrong: a pool member is
//! an address, and names belong to [`crate::dns`].
//!
//! # Picking
//!
//! [`DispatchSet::pick`] is sans-IO: the caller says which destinations
//! are alive (its own view, or the set's probes through
//! [`DispatchSet::pick_healthy`]) and gets their indexes in the order to
//! try them: the first choice, then the failover order of a serial
//! search (RFC 3261 §16.6 step 1, §16.7 step 6), dead ones left out. For
//! `parallel` every alive destination is a branch at once (§16.7 fork).
//!
//! - `hash-callid`, `hash-from-user`, `hash-to-user`, `hash-ruri-user`:
//!   weighted rendezvous hashing (HRW; Thaler and Ravishankar, "Using
//!   name-based mappings to increase hit rates", 1998; the weighted score
//!   `w / -ln(u)` of Schindelhauer and Schomaker, "Weighted distributed
//!   hash tables", 2005). Every destination scores the key by a hash of
//!   (key, its address); the best score wins, the next-best are the
//!   failover order. A destination's score does not depend on the others,
//!   so removing one (or its going down) moves only the keys it had, each
//!   to its own next-best; the others keep theirs. A hash modulo the
//!   number of destinations (Kamailio's dispatcher) moves almost every
//!   key instead. The hash is seeded by a constant, so every shard, every
//!   reload and every router of the same build agree. A request without
//!   the key (no From user) falls back to round-robin.
//! - `round-robin`: smooth weighted round-robin, as nginx's upstream
//!   module does it: each pick adds every alive destination's weight to
//!   its current value, takes the highest and subtracts the total. Weights
//!   5, 1, 1 give `a a b a c a a`, not `a a a a a b c`, and the shares are
//!   exact over every cycle. Per shard: the shards' shares add up.
//!   Failover: the alive ones after the pick, in order.
//! - `random`: by weight, from a seeded generator (deterministic tests).
//!   Failover as round-robin.
//! - `priority`: the lowest `priority` first, ties in the order of the
//!   configuration; the same order to fail over.
//! - `least-calls`: the fewest live calls per weight, from counts the
//!   caller passes in [`Key::live_calls`] (in service: summed over the
//!   shards, at most [`PUBLISH_EVERY`] old, see [`ShardDispatch`]);
//!   ties rotate, so that a burst seen with the same stale counts is
//!   spread rather than sent to one.
//! - `parallel`: all alive, in the order of the configuration.
//!
//! Picking allocates nothing: the order is written into the caller's
//! `Vec`, and the scores into a buffer of the set's own, sized once.
//!
//! # Health
//!
//! Each destination is up until `down_after` probes in a row fail, then
//! down until `up_after` in a row are answered ([`DispatchSet::on_probe_result`],
//! the same rule as the gateways' probing in [`crate::proxy`]). Sending
//! the probes is the driver's job; what counts as an answer too (as for
//! gateways: a final response below 500 other than 408). A reload
//! ([`DispatchSet::reload`]) keeps the health of every destination whose
//! address is still in the set, so a reload neither revives a dead
//! instance nor kills a live one.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Deserialize;

mod shard;
#[cfg(test)]
mod tests;

pub use shard::{Dispatchers, PUBLISH_EVERY, Picked, ShardDispatch};

/// The port of a destination without one (RFC 3261 §19.1.2).
pub const DEFAULT_PORT: u16 = 5060;

/// The largest `weight`.
pub const MAX_WEIGHT: u16 = 1000;

/// The seed of the rendezvous hash: a constant, so that shards, reloads
/// and routers agree on where a key goes.
const HRW_SEED: u64 = 0x6469_7370_6174_6368;

/// An algorithm, by its name in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Algorithm {
    /// Rendezvous hash of the Call-ID.
    HashCallid,
    /// Rendezvous hash of the From URI's user.
    HashFromUser,
    /// Rendezvous hash of the To URI's user.
    HashToUser,
    /// Rendezvous hash of the Request-URI's user.
    HashRuriUser,
    /// Smooth weighted round-robin.
    RoundRobin,
    /// Weighted random.
    Random,
    /// The first alive by priority.
    Priority,
    /// The fewest live calls per weight.
    LeastCalls,
    /// All alive at once (forking).
    Parallel,
}

impl Algorithm {
    /// Every algorithm, in the order of the documentation.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::HashCallid,
        Algorithm::HashFromUser,
        Algorithm::HashToUser,
        Algorithm::HashRuriUser,
        Algorithm::RoundRobin,
        Algorithm::Random,
        Algorithm::Priority,
        Algorithm::LeastCalls,
        Algorithm::Parallel,
    ];

    /// The name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HashCallid => "hash-callid",
            Algorithm::HashFromUser => "hash-from-user",
            Algorithm::HashToUser => "hash-to-user",
            Algorithm::HashRuriUser => "hash-ruri-user",
            Algorithm::RoundRobin => "round-robin",
            Algorithm::Random => "random",
            Algorithm::Priority => "priority",
            Algorithm::LeastCalls => "least-calls",
            Algorithm::Parallel => "parallel",
        }
    }

    /// Whether it sends one request to all alive destinations at once.
    pub fn forks(self) -> bool {
        self == Algorithm::Parallel
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// A name that is no [`Algorithm`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown dispatcher algorithm {0:?} (hash-callid, hash-from-user, hash-to-user, \
     hash-ruri-user, round-robin, random, priority, least-calls, parallel)"
)]
pub struct UnknownAlgorithm(pub String);

/// One `[[dispatcher]]` table, as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherConfig {
    /// The set's name (what `dispatch = ID` refers to).
    pub id: String,
    /// How a destination is picked.
    pub algorithm: Algorithm,
    /// `sip:IP[:PORT][;weight=N][;priority=N]`, at least one (here or
    /// in the dispatcher CSV).
    #[serde(default)]
    pub destinations: Vec<String>,
    /// Time between OPTIONS probes, in milliseconds; 0 for none (default
    /// 10,000, the gateways' default).
    #[serde(default = "default_probe_interval_ms")]
    pub probe_interval_ms: u64,
    /// Final codes on which a call fails over to the next destination:
    /// `"408"` or a class `"5xx"` (default `["408", "5xx"]`; a timeout
    /// counts as 408).
    #[serde(default = "default_failover_codes")]
    pub failover_codes: Vec<String>,
    /// Failed probes in a row that take a destination down (default 3).
    #[serde(default = "default_down_after")]
    pub down_after: u8,
    /// Answered probes in a row that bring it back (default 2).
    #[serde(default = "default_up_after")]
    pub up_after: u8,
}

impl Default for DispatcherConfig {
    /// An empty `round-robin` set with the defaults.
    fn default() -> DispatcherConfig {
        DispatcherConfig {
            id: String::new(),
            algorithm: Algorithm::RoundRobin,
            destinations: Vec::new(),
            probe_interval_ms: default_probe_interval_ms(),
            failover_codes: default_failover_codes(),
            down_after: default_down_after(),
            up_after: default_up_after(),
        }
    }
}

fn default_probe_interval_ms() -> u64 {
    10_000
}

fn default_failover_codes() -> Vec<String> {
    vec!["408".to_owned(), "5xx".to_owned()]
}

fn default_down_after() -> u8 {
    3
}

fn default_up_after() -> u8 {
    2
}

/// What is wrong with one destination URI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// Not `sip:` (`sips:` and others are not pool members here).
    #[error("not a sip: URI")]
    Scheme,
    /// `user@host`: a destination is a host.
    #[error("has a user part (a destination is sip:IP[:PORT])")]
    UserPart,
    /// `?header=value`.
    #[error("has URI headers")]
    Headers,
    /// The host is a name, or not an address.
    #[error("host is not an IP address (IPv4, or IPv6 in brackets)")]
    Host,
    /// The port is not a number 1-65535.
    #[error("port is not 1-65535")]
    Port,
    /// `weight` is not a number 1-1000.
    #[error("weight is not 1-{MAX_WEIGHT}")]
    Weight,
    /// `priority` is not a number 0-4294967295.
    #[error("priority is not 0-{}", u32::MAX)]
    Priority,
    /// A parameter other than `weight` and `priority`.
    #[error("unknown URI parameter {0:?} (weight, priority)")]
    UnknownParam(String),
    /// The same parameter twice.
    #[error("URI parameter {0:?} given twice")]
    DuplicateParam(String),
    /// An empty parameter (`;;`, a trailing `;`) or one without a value.
    #[error("malformed URI parameter {0:?}")]
    BadParam(String),
}

/// A `[[dispatcher]]` table that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// `id = ""`.
    #[error("dispatcher with an empty id")]
    EmptyId,
    /// `destinations = []`.
    #[error("dispatcher {set:?}: no destinations")]
    NoDestinations {
        /// The set's id.
        set: String,
    },
    /// A destination that does not parse.
    #[error("dispatcher {set:?}: destination {index} ({uri:?}): {kind}")]
    Destination {
        /// The set's id.
        set: String,
        /// Its index in `destinations` (from 0).
        index: usize,
        /// As written.
        uri: String,
        /// What is wrong.
        kind: DestinationError,
    },
    /// Two destinations with the same address (health is kept by address).
    #[error("dispatcher {set:?}: destination {index} ({addr}) repeats destination {first}")]
    DuplicateDestination {
        /// The set's id.
        set: String,
        /// The repeat's index.
        index: usize,
        /// The first one's index.
        first: usize,
        /// The address.
        addr: SocketAddr,
    },
    /// A failover code that is neither `NNN` (100-699) nor `Nxx` (1-6).
    #[error("dispatcher {set:?}: failover code {code:?} is neither 100-699 nor 1xx-6xx")]
    FailoverCode {
        /// The set's id.
        set: String,
        /// As written.
        code: String,
    },
    /// Two sets with the same id.
    #[error("dispatcher {set:?}: two sets have this id")]
    DuplicateId {
        /// The set's id.
        set: String,
    },
    /// An id longer than a policy action can name (63 bytes).
    #[error("dispatcher {set:?}: the id is longer than 63 bytes")]
    LongId {
        /// The set's id.
        set: String,
    },
    /// `down_after = 0` or `up_after = 0`.
    #[error("dispatcher {set:?}: {field} must be at least 1")]
    ZeroThreshold {
        /// The set's id.
        set: String,
        /// `down_after` or `up_after`.
        field: &'static str,
    },
}

/// One destination of a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Where requests go (and the key of its health).
    pub addr: SocketAddr,
    /// Its share, 1-1000.
    pub weight: u16,
    /// Lower first (`priority`).
    pub priority: u32,
    /// As written in the configuration (for reports).
    pub uri: Box<str>,
}

impl Destination {
    /// Parses `sip:IP[:PORT][;weight=N][;priority=N]`. The scheme and the
    /// parameters' names are case-insensitive (RFC 3261 §19.1.4).
    pub fn parse(uri: &str) -> Result<Destination, DestinationError> {
        let (scheme, rest) = uri.split_once(':').ok_or(DestinationError::Scheme)?;
        if !scheme.eq_ignore_ascii_case("sip") {
            return Err(DestinationError::Scheme);
        }
        if rest.contains('?') {
            return Err(DestinationError::Headers);
        }
        let (hostport, params) = match rest.split_once(';') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        if hostport.contains('@') {
            return Err(DestinationError::UserPart);
        }
        let (ip, port) = parse_hostport(hostport)?;
        let mut weight = None;
        let mut priority = None;
        for param in params.into_iter().flat_map(|p| p.split(';')) {
            let (name, value) = param
                .split_once('=')
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                .ok_or_else(|| DestinationError::BadParam(param.to_owned()))?;
            let (slot, err) = if name.eq_ignore_ascii_case("weight") {
                (&mut weight, DestinationError::Weight)
            } else if name.eq_ignore_ascii_case("priority") {
                (&mut priority, DestinationError::Priority)
            } else {
                return Err(DestinationError::UnknownParam(name.to_owned()));
            };
            if slot.is_some() {
                return Err(DestinationError::DuplicateParam(name.to_owned()));
            }
            *slot = Some(digits::<u32>(value).ok_or(err)?);
        }
        let weight = match weight {
            None => 1,
            Some(w) => u16::try_from(w)
                .ok()
                .filter(|w| (1..=MAX_WEIGHT).contains(w))
                .ok_or(DestinationError::Weight)?,
        };
        Ok(Destination {
            addr: SocketAddr::new(ip, port),
            weight,
            priority: priority.unwrap_or(0),
            uri: uri.into(),
        })
    }
}

/// `IPv4[:port]` or `[IPv6][:port]`.
fn parse_hostport(s: &str) -> Result<(IpAddr, u16), DestinationError> {
    let (ip, port) = if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(DestinationError::Host)?;
        let ip = Ipv6Addr::from_str(host).map_err(|_| DestinationError::Host)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(DestinationError::Host)?),
        };
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let ip = Ipv4Addr::from_str(host).map_err(|_| DestinationError::Host)?;
        (IpAddr::V4(ip), port)
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => digits::<u16>(p)
            .filter(|&p| p != 0)
            .ok_or(DestinationError::Port)?,
    };
    Ok((ip, port))
}

/// ASCII digits only (`str::parse` also takes a leading `+`).
fn digits<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A set of final response codes, 100-699, as a bit set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CodeSet([u64; 10]);

impl CodeSet {
    /// No code.
    pub const EMPTY: CodeSet = CodeSet([0; 10]);

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        match code.checked_sub(100) {
            Some(i) if i < 600 => self.0[usize::from(i / 64)] & (1 << (i % 64)) != 0,
            _ => false,
        }
    }

    fn insert(&mut self, code: u16) {
        let i = code - 100;
        self.0[usize::from(i / 64)] |= 1 << (i % 64);
    }

    /// Parses `"408"` (100-699) or `"5xx"` (a class, 1-6; `X` too) into
    /// the set; false if it is neither.
    pub fn add(&mut self, s: &str) -> bool {
        let b = s.as_bytes();
        if b.len() != 3 || !(b'1'..=b'6').contains(&b[0]) {
            return false;
        }
        if b[1..].eq_ignore_ascii_case(b"xx") {
            let base = u16::from(b[0] - b'0') * 100;
            (base..base + 100).for_each(|c| self.insert(c));
            return true;
        }
        match digits::<u16>(s) {
            Some(c) => {
                self.insert(c);
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for CodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries((100..700).filter(|&c| self.contains(c)))
            .finish()
    }
}

/// What a request is hashed on: the caller extracts them from the
/// message, nothing is parsed here. A missing field for a hashing
/// algorithm makes it fall back to round-robin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Key<'a> {
    /// The Call-ID (`hash-callid`).
    pub call_id: Option<&'a [u8]>,
    /// The From URI's user (`hash-from-user`).
    pub from_user: Option<&'a [u8]>,
    /// The To URI's user (`hash-to-user`).
    pub to_user: Option<&'a [u8]>,
    /// The Request-URI's user (`hash-ruri-user`).
    pub ruri_user: Option<&'a [u8]>,
    /// Live calls per destination index (`least-calls`); a destination
    /// past the end counts as 0.
    pub live_calls: &'a [u32],
}

/// A destination's health from its probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Health {
    up: bool,
    /// Failures in a row while up, answers in a row while down.
    streak: u8,
    /// When `up` last changed (None: not since the set was made).
    since: Option<Instant>,
}

impl Health {
    const UP: Health = Health {
        up: true,
        streak: 0,
        since: None,
    };
}

/// A change of a destination's health, for the driver to log and count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// `down_after` probes in a row failed.
    Down,
    /// `up_after` probes in a row were answered.
    Up,
}

/// A dispatcher set in service on one shard: its destinations, the
/// algorithm's state (round-robin's current weights, the random
/// generator) and the destinations' health.
#[derive(Debug)]
pub struct DispatchSet {
    id: Box<str>,
    algorithm: Algorithm,
    dests: Box<[Destination]>,
    health: Box<[Health]>,
    failover: CodeSet,
    probe_interval: Duration,
    down_after: u8,
    up_after: u8,
    /// Smooth round-robin's current weights, by index.
    current: Box<[i64]>,
    /// Each destination's address hashed once (rendezvous hashing).
    addr_hash: Box<[u64]>,
    /// Rendezvous scores of the pick in progress, by index.
    scores: Box<[f64]>,
    /// Where ties in least-calls start.
    rotation: usize,
    rng: fastrand::Rng,
}

impl DispatchSet {
    /// Builds the set of `cfg`; `seed` seeds `random` (take it from the
    /// shard, so that shards differ and tests repeat).
    pub fn new(cfg: &DispatcherConfig, seed: u64) -> Result<DispatchSet, DispatchError> {
        if cfg.id.is_empty() {
            return Err(DispatchError::EmptyId);
        }
        let set = || cfg.id.clone();
        if cfg.destinations.is_empty() {
            return Err(DispatchError::NoDestinations { set: set() });
        }
        for (v, field) in [(cfg.down_after, "down_after"), (cfg.up_after, "up_after")] {
            if v == 0 {
                return Err(DispatchError::ZeroThreshold { set: set(), field });
            }
        }
        let mut failover = CodeSet::EMPTY;
        for code in &cfg.failover_codes {
            if !failover.add(code) {
                return Err(DispatchError::FailoverCode {
                    set: set(),
                    code: code.clone(),
                });
            }
        }
        let mut dests = Vec::with_capacity(cfg.destinations.len());
        for (index, uri) in cfg.destinations.iter().enumerate() {
            let d = Destination::parse(uri).map_err(|kind| DispatchError::Destination {
                set: set(),
                index,
                uri: uri.clone(),
                kind,
            })?;
            if let Some(first) = dests.iter().position(|o: &Destination| o.addr == d.addr) {
                return Err(DispatchError::DuplicateDestination {
                    set: set(),
                    index,
                    first,
                    addr: d.addr,
                });
            }
            dests.push(d);
        }
        let hasher = foldhash::fast::FixedState::with_seed(HRW_SEED);
        let n = dests.len();
        Ok(DispatchSet {
            id: cfg.id.as_str().into(),
            algorithm: cfg.algorithm,
            addr_hash: dests.iter().map(|d| hasher.hash_one(d.addr)).collect(),
            dests: dests.into(),
            health: vec![Health::UP; n].into(),
            failover,
            probe_interval: Duration::from_millis(cfg.probe_interval_ms),
            down_after: cfg.down_after,
            up_after: cfg.up_after,
            current: vec![0; n].into(),
            scores: vec![0.0; n].into(),
            rotation: 0,
            rng: fastrand::Rng::with_seed(seed),
        })
    }

    /// The set's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Its destinations; their indexes are those of [`Self::pick`].
    pub fn destinations(&self) -> &[Destination] {
        &self.dests
    }

    /// The index of the destination at `addr` (to match a probe's answer
    /// to a destination after a reload).
    pub fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.dests.iter().position(|d| d.addr == addr)
    }

    /// Whether a final `code` fails a call over to the next destination.
    pub fn fails_over(&self, code: u16) -> bool {
        self.failover.contains(code)
    }

    /// The final codes that fail a call over to the next destination.
    pub fn failover_codes(&self) -> CodeSet {
        self.failover
    }

    /// Time between probes; `None` when the set is not probed.
    pub fn probe_interval(&self) -> Option<Duration> {
        (!self.probe_interval.is_zero()).then_some(self.probe_interval)
    }

    /// Fills `out` with the indexes of the alive destinations in the
    /// order to try them (the first choice first); empty if none is
    /// alive. `alive` is asked once per destination.
    pub fn pick(&mut self, key: &Key<'_>, alive: &dyn Fn(usize) -> bool, out: &mut Vec<usize>) {
        out.clear();
        out.extend((0..self.dests.len()).filter(|&i| alive(i)));
        if out.is_empty() {
            return;
        }
        match self.algorithm {
            Algorithm::HashCallid => self.hashed(key.call_id, out),
            Algorithm::HashFromUser => self.hashed(key.from_user, out),
            Algorithm::HashToUser => self.hashed(key.to_user, out),
            Algorithm::HashRuriUser => self.hashed(key.ruri_user, out),
            Algorithm::RoundRobin => self.round_robin(out),
            Algorithm::Random => self.random(out),
            Algorithm::Priority => {
                let d = &self.dests;
                out.sort_unstable_by_key(|&i| (d[i].priority, i));
            }
            Algorithm::LeastCalls => self.least_calls(key.live_calls, out),
            Algorithm::Parallel => {}
        }
    }

    /// [`Self::pick`] with the set's own probes as the judge of alive.
    pub fn pick_healthy(&mut self, key: &Key<'_>, out: &mut Vec<usize>) {
        let health = std::mem::take(&mut self.health);
        self.pick(key, &|i| health[i].up, out);
        self.health = health;
    }

    /// Rendezvous on `key`, or round-robin for a request without it.
    fn hashed(&mut self, key: Option<&[u8]>, out: &mut [usize]) {
        match key {
            Some(k) => self.rendezvous(k, out),
            None => self.round_robin(out),
        }
    }

    /// Weighted rendezvous: the highest `w / -ln(u)` first, `u` uniform
    /// in (0, 1) from the key's and the address's hashes.
    fn rendezvous(&mut self, key: &[u8], out: &mut [usize]) {
        let k = foldhash::fast::FixedState::with_seed(HRW_SEED).hash_one(key);
        for &i in out.iter() {
            let h = fmix64(k ^ self.addr_hash[i]);
            // 53 bits, centred in its step: never 0 nor 1.
            let u = ((h >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
            self.scores[i] = f64::from(self.dests[i].weight) / -u.ln();
        }
        let s = &self.scores;
        out.sort_unstable_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
    }

    /// Smooth weighted round-robin over the alive ones (in `out`), then
    /// the alive ones after the pick.
    fn round_robin(&mut self, out: &mut [usize]) {
        let mut total = 0i64;
        let mut best = 0;
        for (pos, &i) in out.iter().enumerate() {
            let w = i64::from(self.dests[i].weight);
            self.current[i] += w;
            total += w;
            if self.current[i] > self.current[out[best]] {
                best = pos;
            }
        }
        self.current[out[best]] -= total;
        out.rotate_left(best);
    }

    /// By weight at random, then the alive ones after the pick.
    fn random(&mut self, out: &mut [usize]) {
        let total: u32 = out.iter().map(|&i| u32::from(self.dests[i].weight)).sum();
        let mut r = self.rng.u32(0..total);
        let mut pos = 0;
        for (p, &i) in out.iter().enumerate() {
            let w = u32::from(self.dests[i].weight);
            if r < w {
                pos = p;
                break;
            }
            r -= w;
        }
        out.rotate_left(pos);
    }

    /// The fewest calls per weight first; ties from a rotating start.
    fn least_calls(&mut self, calls: &[u32], out: &mut [usize]) {
        let n = self.dests.len();
        let start = self.rotation % n;
        self.rotation = self.rotation.wrapping_add(1);
        let d = &self.dests;
        let load = |i: usize| u64::from(calls.get(i).copied().unwrap_or(0));
        out.sort_unstable_by(|&a, &b| {
            // calls_a / w_a vs calls_b / w_b, without division.
            (load(a) * u64::from(d[b].weight))
                .cmp(&(load(b) * u64::from(d[a].weight)))
                .then(((a + n - start) % n).cmp(&((b + n - start) % n)))
        });
    }

    /// Whether destination `idx` is up by its probes (false if no such
    /// index).
    pub fn is_alive(&self, idx: usize) -> bool {
        self.health.get(idx).is_some_and(|h| h.up)
    }

    /// When destination `idx` last went up or down (`None`: not since the
    /// set, or the first set that had its address, was made).
    pub fn changed_at(&self, idx: usize) -> Option<Instant> {
        self.health.get(idx).and_then(|h| h.since)
    }

    /// A probe of destination `idx` failed (`ok = false`: no answer in
    /// its round, 408 or 5xx) or was answered. Returns the change of
    /// health, if this made one. An index out of range (a probe from
    /// before a reload: map it with [`Self::index_of`]) is ignored.
    pub fn on_probe_result(&mut self, now: Instant, idx: usize, ok: bool) -> Option<Transition> {
        let h = self.health.get_mut(idx)?;
        if h.up == ok {
            // Up and answered, or down and failed: the streak is broken.
            h.streak = 0;
            return None;
        }
        h.streak = h.streak.saturating_add(1);
        let (limit, change) = if h.up {
            (self.down_after, Transition::Down)
        } else {
            (self.up_after, Transition::Up)
        };
        if h.streak < limit {
            return None;
        }
        *h = Health {
            up: !h.up,
            streak: 0,
            since: Some(now),
        };
        Some(change)
    }

    /// Puts `new` (the same set, reloaded) in service, keeping the health
    /// and the round-robin position of every destination whose address
    /// it still has. New destinations start up.
    pub fn reload(&mut self, mut new: DispatchSet) {
        let old: HashMap<SocketAddr, usize, foldhash::fast::FixedState> = self
            .dests
            .iter()
            .enumerate()
            .map(|(i, d)| (d.addr, i))
            .collect();
        for (i, d) in new.dests.iter().enumerate() {
            if let Some(&j) = old.get(&d.addr) {
                new.health[i] = self.health[j];
                new.current[i] = self.current[j];
            }
        }
        new.rotation = self.rotation;
        *self = new;
    }
}

/// MurmurHash3's 64-bit finaliser: every input bit flips about half the
/// output bits, so `key ^ address` hashes score independently.
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}
