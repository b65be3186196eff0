//! Next hops given by host name (RFC 3263 §4): the shard's cache of
//! looked-up names, and the requests parked while a name is looked up.
//!
//! The proxy core never blocks and never touches a socket: a request whose
//! next hop (top Route, or Request-URI) is a host name it has no answer
//! for is *parked* (a copy of its bytes, with its server transaction), and
//! a [`NameQuery`] is queued for the runtime ([`super::ProxyCore::poll_name_query`]),
//! which looks it up off the shard (RFC 3263 §4.2: SRV `_sip._udp.NAME`
//! then A/AAAA for a name without port, A/AAAA for one with) and hands the
//! answer back ([`super::ProxyCore::handle_name_answer`]); the parked
//! requests then go on, or get 503 when the name does not resolve. An
//! INVITE to a name with several addresses tries them in turn on 503 or a
//! timeout (§4.3), through the serial search least-cost routing uses; the
//! order is drawn per request (RFC 2782 for SRV records, a rotating first
//! address for A/AAAA; [`crate::srv`]).
//!
//! Answers are kept [`FRESH`] (failures [`NEGATIVE`]); an expired answer
//! still serves while it is looked up again, so a busy name never parks
//! its calls. Everything is bounded, as any peer can name any host: at
//! most [`MAX_NAMES`] names per shard, [`MAX_PARKED`] parked requests and
//! [`MAX_QUERIES`] lookups outstanding; past a bound the request gets 503
//! at once. A parked request waits at most [`PARK_TIMEOUT`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hashbrown::{Equivalent, HashMap};
use trunkline_shards::tx::TxId;

use core::hash::BuildHasher;
use trunkline_parser::{Method, ValidateOptions, validate_with};
use trunkline_routing_tables::SplitMix;

use super::route::{RouteError, RoutePlan};
use super::{In, State};
use crate::srv::{MAX_ADDRESSES, Resolved};

/// How long an answer is used before it is looked up again (the
/// resolver's own cache keeps records for their TTL, so asking again is
/// cheap while they live).
pub const FRESH: Duration = Duration::from_secs(30);
/// How long a failed lookup answers 503 before the name is tried again.
pub const NEGATIVE: Duration = Duration::from_secs(5);
/// Names cached per shard.
pub const MAX_NAMES: usize = 4096;
/// Requests parked per shard.
pub const MAX_PARKED: usize = 1024;
/// Lookups outstanding per shard.
pub const MAX_QUERIES: usize = 256;
/// The longest a request waits for its name (past the resolver's own
/// timeouts: 5 s, two attempts).
pub const PARK_TIMEOUT: Duration = Duration::from_secs(12);
/// The longest host name (RFC 1035 §2.3.4: 255 octets).
pub const MAX_NAME: usize = 255;

/// A name to look up: a host name as the URI gave it, and the port when
/// the URI had one (then A/AAAA only; without, SRV first).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NameQuery {
    /// The host name, lower-cased.
    pub name: String,
    /// The URI's port, if it had one.
    pub port: Option<u16>,
}

impl NameQuery {
    /// The query for `name` (ASCII, any case) and `port`; `None` when the
    /// name is empty, longer than [`MAX_NAME`] or not printable ASCII.
    pub fn new(name: &[u8], port: Option<u16>) -> Option<NameQuery> {
        let mut buf = [0; MAX_NAME];
        let key = NameRef::new(name, port, &mut buf)?;
        Some(NameQuery {
            name: key.name.to_string(),
            port,
        })
    }
}

/// A [`NameQuery`] borrowed from a lower-casing buffer on the stack, to
/// look names up without allocating. Hashes as the owned query does
/// (`str`, then the port).
#[derive(Debug, Hash)]
pub struct NameRef<'b> {
    name: &'b str,
    port: Option<u16>,
}

impl<'b> NameRef<'b> {
    /// `name` lower-cased into `buf`; `None` when it is empty, longer than
    /// [`MAX_NAME`] or not printable ASCII.
    pub fn new(name: &[u8], port: Option<u16>, buf: &'b mut [u8; MAX_NAME]) -> Option<Self> {
        if name.is_empty() || name.len() > MAX_NAME || !name.iter().all(u8::is_ascii_graphic) {
            return None;
        }
        let out = &mut buf[..name.len()];
        for (o, b) in out.iter_mut().zip(name) {
            *o = b.to_ascii_lowercase();
        }
        let name = core::str::from_utf8(out).ok()?;
        Some(NameRef { name, port })
    }

    fn to_query(&self) -> NameQuery {
        NameQuery {
            name: self.name.to_string(),
            port: self.port,
        }
    }
}

impl Equivalent<NameQuery> for NameRef<'_> {
    fn equivalent(&self, q: &NameQuery) -> bool {
        self.name == q.name && self.port == q.port
    }
}

/// What the cache says about a name.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Its hops (SRV or A/AAAA, normalised; never empty).
    Found(&'a Resolved),
    /// It did not resolve (recently).
    Failed,
    /// Not known yet: park the request.
    Unknown,
}

#[derive(Debug)]
struct Entry {
    /// Its hops; none: the lookup failed (or every SRV target was `.`).
    found: Resolved,
    /// When the answer goes stale (it is looked up again at first use).
    fresh_until: Instant,
    /// A lookup is outstanding.
    pending: bool,
    /// Answered at least once.
    answered: bool,
}

/// A request waiting for its next hop's name.
#[derive(Debug)]
pub struct Parked {
    pub query: NameQuery,
    pub bytes: Vec<u8>,
    pub src: SocketAddr,
    pub local: u16,
    pub server: Option<TxId>,
    pub deadline: Instant,
}

/// Per-shard state for next hops given by name.
#[derive(Debug, Default)]
pub struct Names {
    cache: HashMap<NameQuery, Entry, foldhash::fast::FixedState>,
    parked: Vec<Parked>,
    queries: VecDeque<NameQuery>,
    outstanding: usize,
}

/// Why a request could not be parked.
#[derive(Debug, PartialEq, Eq)]
pub enum ParkError {
    /// Too many parked requests, names or lookups on this shard.
    Full,
}

impl Names {
    /// What is known of `q` at `now`; queues a lookup for a stale name
    /// (once). Allocation-free unless it queues one.
    pub fn lookup(&mut self, now: Instant, q: &NameRef<'_>) -> Lookup<'_> {
        let (stale, pending, answered) = match self.cache.get(q) {
            Some(e) => (now >= e.fresh_until, e.pending, e.answered),
            None => return Lookup::Unknown,
        };
        if stale && !pending && self.outstanding < MAX_QUERIES {
            self.queries.push_back(q.to_query());
            self.outstanding += 1;
            if let Some(e) = self.cache.get_mut(q) {
                e.pending = true;
            }
        }
        match self.cache.get(q) {
            Some(e) if answered && !e.found.hops.is_empty() => Lookup::Found(&e.found),
            Some(_) if answered && !stale => Lookup::Failed,
            _ => Lookup::Unknown,
        }
    }

    /// Parks a request until `p.query` is answered, queueing its lookup
    /// unless one is outstanding.
    pub fn park(&mut self, now: Instant, p: Parked) -> Result<(), ParkError> {
        if self.parked.len() >= MAX_PARKED {
            return Err(ParkError::Full);
        }
        let pending = self.cache.get(&p.query).is_some_and(|e| e.pending);
        if !pending {
            if self.outstanding >= MAX_QUERIES {
                return Err(ParkError::Full);
            }
            if !self.cache.contains_key(&p.query) && !self.make_room(now) {
                return Err(ParkError::Full);
            }
            let e = self.cache.entry(p.query.clone()).or_insert(Entry {
                found: Resolved::default(),
                fresh_until: p.deadline,
                pending: false,
                answered: false,
            });
            e.pending = true;
            self.queries.push_back(p.query.clone());
            self.outstanding += 1;
        }
        self.parked.push(p);
        Ok(())
    }

    /// Room for one more name: drops names gone stale, then, if every
    /// slot is still taken (a flood of names), any not being looked up.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.cache.len() < MAX_NAMES {
            return true;
        }
        self.cache.retain(|_, e| e.pending || e.fresh_until > now);
        if self.cache.len() >= MAX_NAMES {
            let excess = self.cache.len() + 1 - MAX_NAMES;
            let drop: Vec<NameQuery> = self
                .cache
                .iter()
                .filter(|(_, e)| !e.pending)
                .map(|(k, _)| k.clone())
                .take(excess)
                .collect();
            for k in drop {
                self.cache.remove(&k);
            }
        }
        self.cache.len() < MAX_NAMES
    }

    /// The next lookup for the runtime.
    pub fn poll_query(&mut self) -> Option<NameQuery> {
        self.queries.pop_front()
    }

    /// Records the answer for `q` (its hops, or why the lookup failed)
    /// and returns the requests parked for it.
    pub fn answer(
        &mut self,
        now: Instant,
        q: &NameQuery,
        found: Result<Resolved, String>,
        out: &mut Vec<Parked>,
    ) {
        self.outstanding = self.outstanding.saturating_sub(1);
        let failed = found.is_err();
        match self.cache.get_mut(q) {
            Some(e) => {
                e.pending = false;
                match found {
                    Ok(mut found) => {
                        found.normalise();
                        e.found = found;
                        e.answered = true;
                        e.fresh_until = now + FRESH;
                    }
                    // A failed refresh keeps a name's last addresses (a
                    // DNS outage does not cut calls off); a name never
                    // answered fails for a while.
                    Err(_) if !e.found.hops.is_empty() => e.fresh_until = now + NEGATIVE,
                    Err(_) => {
                        e.answered = true;
                        e.fresh_until = now + NEGATIVE;
                    }
                }
            }
            None => return,
        }
        if failed {
            tracing::debug!(name = %q.name, port = ?q.port, "next hop did not resolve");
        }
        let mut i = 0;
        while i < self.parked.len() {
            if self.parked[i].query == *q {
                out.push(self.parked.swap_remove(i));
            } else {
                i += 1;
            }
        }
    }

    /// Removes and returns the request parked with server transaction
    /// `server` (it was cancelled).
    pub fn unpark(&mut self, server: TxId) -> Option<Parked> {
        let i = self.parked.iter().position(|p| p.server == Some(server))?;
        Some(self.parked.swap_remove(i))
    }

    /// Requests that waited past their deadline, into `out`.
    pub fn expired(&mut self, now: Instant, out: &mut Vec<Parked>) {
        let mut i = 0;
        while i < self.parked.len() {
            if self.parked[i].deadline <= now {
                out.push(self.parked.swap_remove(i));
            } else {
                i += 1;
            }
        }
    }

    /// The earliest parked deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.parked.iter().map(|p| p.deadline).min()
    }

    /// Requests parked now.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }
}

/// The proxy core's side: parking a request, and letting it go on.
impl State {
    /// The address of the next hop `plan.name` names: `Some(Ok)` from
    /// the shard's answers (the first address a listener reaches),
    /// `Some(Err)` when it does not resolve (or cannot be waited for),
    /// `None` when the request was parked until it is looked up, or (an
    /// INVITE to a name with several addresses) forwarded to them in turn.
    pub(super) fn next_hop_by_name(
        &mut self,
        now: Instant,
        inp: &In<'_, '_>,
        server: Option<TxId>,
        plan: &RoutePlan,
    ) -> Option<Result<SocketAddr, RouteError>> {
        let Some((span, port)) = plan.name else {
            return Some(Err(RouteError::NeedsDns));
        };
        let name = inp.msg.slice(span);
        let mut buf = [0; MAX_NAME];
        let Some(key) = NameRef::new(name, port, &mut buf) else {
            self.counters.names_failed += 1;
            return Some(Err(RouteError::NeedsDns));
        };
        match self.names.lookup(now, &key) {
            Lookup::Found(found) => {
                // This request's order (RFC 2782 for SRV hops, a rotating
                // first address for A/AAAA), then the addresses a
                // listener reaches, ours left out.
                let seed = self.branch_hash.hash_one(inp.sum.call_id) ^ u64::from(inp.sum.cseq.seq);
                let mut order = [0u8; MAX_ADDRESSES];
                let tries = if found.srv {
                    crate::srv::srv_order(&found.hops, &mut SplitMix(seed), &mut order)
                } else {
                    let n = found.hops.len().min(MAX_ADDRESSES);
                    let first = (seed % n.max(1) as u64) as usize;
                    for (i, o) in order.iter_mut().take(n).enumerate() {
                        *o = ((first + i) % n) as u8;
                    }
                    n
                };
                let locals = &self.cfg.locals;
                let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
                let mut reach = [unspecified; MAX_ADDRESSES];
                let (mut n, mut ours) = (0, false);
                for a in order[..tries]
                    .iter()
                    .map(|&i| found.hops[usize::from(i)].addr)
                {
                    if locals.has(a) {
                        ours = true;
                    } else if locals.egress(inp.local, a).is_some() {
                        reach[n] = a;
                        n += 1;
                    }
                }
                return match (n, server) {
                    (0, _) if ours => Some(Err(RouteError::Loop)),
                    (0, _) => Some(Err(RouteError::NoListener)),
                    // An INVITE tries each in turn (RFC 3263 §4.3).
                    (2.., Some(server)) if inp.msg.method() == Some(Method::Invite) => {
                        self.forward_to_addresses(now, inp, server, &reach[..n]);
                        None
                    }
                    _ => Some(Ok(reach[0])),
                };
            }
            Lookup::Failed => {
                self.counters.names_failed += 1;
                return Some(Err(RouteError::NeedsDns));
            }
            Lookup::Unknown => {}
        }
        let Some(query) = NameQuery::new(name, port) else {
            return Some(Err(RouteError::NeedsDns));
        };
        let mut bytes = self.tx.take_buf();
        bytes.extend_from_slice(inp.msg.as_bytes());
        let parked = Parked {
            query,
            bytes,
            src: inp.src,
            local: inp.local,
            server,
            deadline: now + PARK_TIMEOUT,
        };
        match self.names.park(now, parked) {
            Ok(()) => {
                self.counters.names_parked += 1;
                None
            }
            Err(_) => {
                self.counters.names_failed += 1;
                Some(Err(RouteError::NeedsDns))
            }
        }
    }

    /// A parked request whose name was answered goes on (`answered`), or
    /// one that waited too long gets 503.
    pub(super) fn unpark(&mut self, now: Instant, p: Parked, answered: bool) {
        if answered {
            let mut parser = std::mem::take(&mut self.names_parser);
            if let Ok(msg) = parser.parse(&p.bytes) {
                if let Ok(sum) = validate_with(&msg, &ValidateOptions::PROXY) {
                    let inp = In {
                        msg: &msg,
                        sum: &sum,
                        src: p.src,
                        local: p.local,
                    };
                    self.forward_request(now, &inp, p.server);
                }
            }
            self.names_parser = parser;
            self.tx.give_buf(p.bytes);
        } else {
            self.counters.names_failed += 1;
            let (code, reason) = RouteError::NeedsDns.response();
            self.answer_parked(now, p, code, reason);
        }
    }

    /// Answers a parked request with `code` (an ACK is dropped).
    pub(super) fn answer_parked(&mut self, now: Instant, p: Parked, code: u16, reason: &[u8]) {
        let mut parser = std::mem::take(&mut self.names_parser);
        if let Ok(msg) = parser.parse(&p.bytes) {
            if let Ok(sum) = validate_with(&msg, &ValidateOptions::PROXY) {
                if msg.method() != Some(Method::Ack) {
                    let inp = In {
                        msg: &msg,
                        sum: &sum,
                        src: p.src,
                        local: p.local,
                    };
                    self.reply(now, &inp, p.server, code, reason, &[]);
                }
            }
        }
        self.names_parser = parser;
        self.tx.give_buf(p.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str) -> NameQuery {
        NameQuery::new(name.as_bytes(), None).unwrap()
    }

    /// `Names::lookup` of `q`.
    fn look<'n>(n: &'n mut Names, now: Instant, q: &NameQuery) -> Lookup<'n> {
        let mut buf = [0; MAX_NAME];
        n.lookup(
            now,
            &NameRef::new(q.name.as_bytes(), q.port, &mut buf).unwrap(),
        )
    }

    fn parked(query: NameQuery, deadline: Instant) -> Parked {
        Parked {
            query,
            bytes: Vec::new(),
            src: "192.0.2.1:5060".parse().unwrap(),
            local: 0,
            server: None,
            deadline,
        }
    }

    #[test]
    fn one_lookup_per_name_then_cached_then_refreshed_while_serving() {
        let now = Instant::now();
        let mut n = Names::default();
        let name = q("SBC.Example.NET");
        assert_eq!(name.name, "sbc.example.net");
        assert_eq!(look(&mut n, now, &name), Lookup::Unknown);
        n.park(now, parked(name.clone(), now + PARK_TIMEOUT))
            .unwrap();
        n.park(now, parked(name.clone(), now + PARK_TIMEOUT))
            .unwrap();
        assert_eq!(n.poll_query(), Some(name.clone()));
        assert_eq!(n.poll_query(), None, "one lookup for both");
        let a = Resolved::of(["198.51.100.7:5060".parse().unwrap()]);
        let mut out = Vec::new();
        n.answer(now, &name, Ok(a.clone()), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(look(&mut n, now, &name), Lookup::Found(&a));
        assert_eq!(n.poll_query(), None);
        // Stale: still served, looked up again once.
        let later = now + FRESH;
        assert_eq!(look(&mut n, later, &name), Lookup::Found(&a));
        assert_eq!(look(&mut n, later, &name), Lookup::Found(&a));
        assert_eq!(n.poll_query(), Some(name.clone()));
        assert_eq!(n.poll_query(), None);
        // A failed refresh keeps the addresses.
        n.answer(later, &name, Err("timeout".into()), &mut out);
        assert_eq!(look(&mut n, later, &name), Lookup::Found(&a));
    }

    #[test]
    fn a_name_that_does_not_resolve_fails_for_a_while() {
        let now = Instant::now();
        let mut n = Names::default();
        let name = q("nx.example");
        n.park(now, parked(name.clone(), now + PARK_TIMEOUT))
            .unwrap();
        n.poll_query();
        let mut out = Vec::new();
        n.answer(now, &name, Err("NXDOMAIN".into()), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(look(&mut n, now, &name), Lookup::Failed);
        assert_eq!(n.poll_query(), None);
        // Then it is tried again.
        assert_eq!(look(&mut n, now + NEGATIVE, &name), Lookup::Unknown);
        assert_eq!(n.poll_query(), Some(name));
    }

    #[test]
    fn bounds_hold_against_a_flood_of_names() {
        let now = Instant::now();
        let mut n = Names::default();
        let mut refused = 0;
        for i in 0..MAX_PARKED + 10 {
            let r = n.park(now, parked(q(&format!("h{i}.example")), now + PARK_TIMEOUT));
            refused += usize::from(r.is_err());
        }
        assert_eq!(
            n.parked(),
            MAX_QUERIES,
            "one lookup each, at most MAX_QUERIES"
        );
        assert_eq!(refused, MAX_PARKED + 10 - MAX_QUERIES);
        let mut queued = 0;
        while n.poll_query().is_some() {
            queued += 1;
        }
        assert_eq!(queued, MAX_QUERIES);
        let mut out = Vec::new();
        n.expired(now + PARK_TIMEOUT, &mut out);
        assert_eq!(out.len(), MAX_QUERIES);
        assert_eq!(n.next_deadline(), None);
        assert!(NameQuery::new(b"bad name", None).is_none());
        assert!(NameQuery::new(&[b'a'; MAX_NAME + 1], None).is_none());
        assert!(NameQuery::new(&[b'a'; MAX_NAME], None).is_some());
    }
}
