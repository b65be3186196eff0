//! A shard's next hops given by host name (RFC 3263 §4): its cache of
//! looked-up names, and the requests parked while a name is looked up.
//!
//! Sans-IO: the proxy core parks a request whose next hop (top Route, or
//! Request-URI) is a host name it has no answer for (a copy of its bytes,
//! with its server transaction) and queues a [`NameQuery`], which the
//! runtime looks up off the shard (RFC 3263 §4.2: SRV `_sip._udp.NAME`
//! then A/AAAA for a name without port, A/AAAA for one with) and hands
//! back; the parked requests then go on, or get 503 when the name does not
//! resolve.
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

use hashbrown::HashMap;
use trunkline_shards::tx::TxId;

use super::{NameQuery, NameRef, Resolved};

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
    /// Parked requests whose name was answered (`true`) or that waited
    /// too long (`false`), for the core to take one at a time.
    ready: VecDeque<(Parked, bool)>,
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

    /// Records the answer for `q` (its hops, or why the lookup failed);
    /// the requests parked for it become ready ([`Names::next_ready`]).
    pub fn answer(&mut self, now: Instant, q: &NameQuery, found: Result<Resolved, String>) {
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
                self.ready.push_back((self.parked.swap_remove(i), true));
            } else {
                i += 1;
            }
        }
    }

    /// The next parked request ready to go on: `true` when its name was
    /// answered, `false` when it waited past its deadline.
    pub fn next_ready(&mut self) -> Option<(Parked, bool)> {
        self.ready.pop_front()
    }

    /// Removes and returns the request parked with server transaction
    /// `server` (it was cancelled).
    pub fn unpark(&mut self, server: TxId) -> Option<Parked> {
        let i = self.parked.iter().position(|p| p.server == Some(server))?;
        Some(self.parked.swap_remove(i))
    }

    /// Requests that waited past their deadline become ready
    /// ([`Names::next_ready`]).
    pub fn expire(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.parked.len() {
            if self.parked[i].deadline <= now {
                self.ready.push_back((self.parked.swap_remove(i), false));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MAX_NAME;

    /// How many parked requests are ready.
    fn ready(n: &mut Names) -> usize {
        std::iter::from_fn(|| n.next_ready()).count()
    }

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
        n.answer(now, &name, Ok(a.clone()));
        assert_eq!(ready(&mut n), 2);
        assert_eq!(look(&mut n, now, &name), Lookup::Found(&a));
        assert_eq!(n.poll_query(), None);
        // Stale: still served, looked up again once.
        let later = now + FRESH;
        assert_eq!(look(&mut n, later, &name), Lookup::Found(&a));
        assert_eq!(look(&mut n, later, &name), Lookup::Found(&a));
        assert_eq!(n.poll_query(), Some(name.clone()));
        assert_eq!(n.poll_query(), None);
        // A failed refresh keeps the addresses.
        n.answer(later, &name, Err("timeout".into()));
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
        n.answer(now, &name, Err("NXDOMAIN".into()));
        assert_eq!(ready(&mut n), 1);
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
        n.expire(now + PARK_TIMEOUT);
        assert_eq!(ready(&mut n), MAX_QUERIES);
        assert_eq!(n.next_deadline(), None);
        assert!(NameQuery::new(b"bad name", None).is_none());
        assert!(NameQuery::new(&[b'a'; MAX_NAME + 1], None).is_none());
        assert!(NameQuery::new(&[b'a'; MAX_NAME], None).is_some());
    }
}
