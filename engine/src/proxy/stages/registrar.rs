//! The registrar in the request path (RFC 3261 §10.3, §16.5; RFC 3327):
//! a REGISTER for one of our domains (`[registrar] domains`) is answered
//! here, after the policy, auth and limits stages (digest authentication
//! comes from a `[[policy]]` rule with `authenticate = "digest"`); an
//! initial request whose Request-URI is one of our AORs is routed to the
//! AOR's bindings: every binding at once (`fork = "parallel"`, §16.7
//! best-response selection, CANCEL of the other branches on a 2xx) or
//! one after another by q (`fork = "serial"`); no binding: 480 (or 404
//! with `no_binding_code = 404`).
//!
//! Bindings live in [`crate::registrar::Location`], partitioned by the
//! hash of the AOR: partition `i` is shard `i`'s, expired on its timer.
//! An INVITE handled on shard A (by its Call-ID) reads the AOR's
//! partition B under that partition's lock rather than hopping to shard B
//! and back: the critical section is one hash lookup and a copy of a few
//! bindings, far cheaper than a round trip between threads.
//!
//! NATed bindings (their Contact or Via does not match where the
//! REGISTER came from) get requests at the REGISTER's source; with
//! `nat_keepalive_ms`, each shard sends its partition's NATed sources an
//! OPTIONS every interval to keep their pinholes open (answers absorbed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trunkline_parser::{Message, Method, Uri};
use trunkline_shards::CallIdMinter;

use super::Request;
use crate::dispatch::{CodeSet, Picked};
use crate::lcr::{MAX_TARGETS, Target};
use crate::proxy::Locals;
use crate::proxy::contexts::ContactHop;
use crate::proxy::probe::write_options;
use crate::registrar::{
    Binding, Fork, Location, LocationLimits, NextHop, Refusal, RegistrarConfig, aor_of,
};

/// The branch prefix of NAT keep-alives (then a number in hex).
const KEEPALIVE_BRANCH: &str = "z9hG4bKtlk";

/// The registrar shared by the shards: its settings and the location
/// table.
#[derive(Debug)]
pub struct Registrar {
    /// `[registrar]`.
    pub cfg: RegistrarConfig,
    /// The bindings.
    pub location: Arc<Location>,
    /// Where the AORs a REGISTER changed go, when the table is shared
    /// (`[registrar] redis`): bounded, never waited on.
    changes: Option<std::sync::mpsc::SyncSender<crate::registrar::Aor>>,
}

impl Registrar {
    /// The registrar of `cfg` over a table of `partitions` partitions
    /// (one per shard).
    pub fn new(cfg: RegistrarConfig, partitions: usize) -> Registrar {
        let location = Location::new(partitions.max(1), LocationLimits::from(&cfg));
        Registrar {
            cfg,
            location: Arc::new(location),
            changes: None,
        }
    }

    /// Hands every AOR a REGISTER changed to `changes` (a shared table's
    /// writer); when it is full the change is dropped.
    pub fn with_changes(
        mut self,
        changes: std::sync::mpsc::SyncSender<crate::registrar::Aor>,
    ) -> Registrar {
        self.changes = Some(changes);
        self
    }
}

/// What a lookup for one of our AORs found.
#[derive(Debug)]
pub(crate) enum Found {
    /// Its bindings' targets (in the route stage's lists) and how to fork.
    Targets(Picked),
    /// None reachable: this answer.
    Refuse(Refusal),
    /// A contact's host name is not known yet: wait for it.
    Park(crate::dns::NameQuery),
}

/// Registrar counters of one shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrarCounters {
    /// REGISTERs answered 200.
    pub registered: u64,
    /// REGISTERs refused (400, 403, 404, 423, 500, 503).
    pub register_refused: u64,
    /// Requests routed to an AOR's bindings.
    pub lookups: u64,
    /// Requests for an AOR without bindings (480 / 404).
    pub not_registered: u64,
    /// Bindings expired by this shard's timer.
    pub expired: u64,
    /// NAT keep-alives sent.
    pub keepalives: u64,
    /// Changes not handed to the shared table's writer (its queue full).
    pub changes_dropped: u64,
}

/// The registrar on one shard.
#[derive(Debug)]
pub struct RegistrarStage {
    shared: Arc<Registrar>,
    partition: usize,
    bindings: Vec<Binding>,
    /// Scratch of lookups: the bindings' fork order.
    order: Vec<usize>,
    header: Vec<u8>,
    next_keepalive: Option<Instant>,
    keepalive_seq: u64,
    sources: Vec<(SocketAddr, u16)>,
    minter: CallIdMinter,
    call_id: Vec<u8>,
    /// This shard's counts.
    pub counters: RegistrarCounters,
}

impl RegistrarStage {
    /// Shard `shard`'s registrar; its probes' Call-IDs minted by `minter`.
    pub fn new(shared: Arc<Registrar>, shard: u16, minter: CallIdMinter) -> RegistrarStage {
        let partition = usize::from(shard) % shared.location.partitions();
        RegistrarStage {
            shared,
            partition,
            bindings: Vec::new(),
            order: Vec::new(),
            header: Vec::new(),
            next_keepalive: None,
            keepalive_seq: 0,
            sources: Vec::new(),
            minter,
            call_id: Vec::new(),
            counters: RegistrarCounters::default(),
        }
    }

    /// Whether `req` is a REGISTER we answer: its Request-URI one of our
    /// domains, or one of our addresses (a UA configured with the
    /// registrar's IP; its To then says the domain, checked by the
    /// REGISTER rules: 404 for another's), not routed past us.
    pub fn takes_register(&self, req: &Request<'_, '_>, locals: &Locals) -> bool {
        if req.method() != Method::Register {
            return false;
        }
        let to_us = match req.msg.request_uri() {
            Some(Ok(Uri::Sip(u))) => {
                self.shared.cfg.is_local_domain(u.host.text) || locals.is_me(&u)
            }
            _ => false,
        };
        to_us && !crate::proxy::next_hop::route_set(req.msg, locals).past_us
    }

    /// Processes a REGISTER (§10.3): the answer's code, reason and header
    /// lines (the bindings on a 200).
    pub fn register(
        &mut self,
        now: Instant,
        unix_now: i64,
        req: &Request<'_, '_>,
    ) -> (u16, &'static [u8], &[u8]) {
        let r = &self.shared;
        // §8.2.2.3: as the UAS of the REGISTER, an extension it requires
        // that we do not support gets 420 naming it (we support Path).
        self.header.clear();
        let unsupported = req
            .msg
            .option_tags(trunkline_parser::HeaderName::Require)
            .filter_map(Result::ok)
            .find(|t| !t.eq_ignore_ascii_case(b"path"));
        if let Some(tag) = unsupported {
            self.counters.register_refused += 1;
            self.header.extend_from_slice(b"Unsupported: ");
            self.header.extend_from_slice(tag);
            return (420, b"Bad Extension", &self.header);
        }
        let done = crate::registrar::register(
            &r.location,
            &r.cfg,
            now,
            unix_now,
            req.msg,
            req.sum,
            req.src,
            req.local,
            &mut self.bindings,
        );
        match done {
            Ok(aor) => {
                self.counters.registered += 1;
                if let Some(c) = &r.changes {
                    if c.try_send(aor).is_err() {
                        self.counters.changes_dropped += 1;
                    }
                }
                let path = crate::registrar::supports_path(req.msg)
                    .then(|| crate::registrar::request_path(req.msg).ok())
                    .flatten();
                crate::registrar::write_ok_headers(
                    &self.bindings,
                    now,
                    path.as_deref(),
                    &mut self.header,
                );
                // §10.3 step 8: a Date (UAs without a clock set theirs).
                if !self.header.is_empty() {
                    self.header.extend_from_slice(b"\r\n");
                }
                self.header.extend_from_slice(b"Date: ");
                crate::calendar::write_sip_date(unix_now, &mut self.header);
                (200, b"OK", &self.header)
            }
            Err(Refusal {
                code,
                reason,
                header,
            }) => {
                self.counters.register_refused += 1;
                if let Some(h) = header {
                    self.header.extend_from_slice(h.as_bytes());
                }
                (code, reason, &self.header)
            }
        }
    }

    /// The targets of an initial request for one of our AORs, into
    /// `targets` and `contacts`: `None` when the Request-URI is not ours
    /// (route it as before); `Some(Err)` when the AOR has no binding we
    /// can reach.
    pub(crate) fn lookup(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
        names: &mut crate::dns::cache::Names,
        targets: &mut Vec<Target>,
        contacts: &mut Vec<ContactHop>,
    ) -> Option<Found> {
        if matches!(
            req.method(),
            Method::Register | Method::Ack | Method::Cancel
        ) {
            return None;
        }
        let Some(Ok(uri)) = req.msg.request_uri() else {
            return None;
        };
        let Uri::Sip(sip) = &uri else { return None };
        if !self.shared.cfg.is_local_domain(sip.host.text) {
            return None;
        }
        let Some(aor) = aor_of(&uri) else {
            return Some(Found::Refuse(Refusal::new(404, b"Not Found")));
        };
        targets.clear();
        contacts.clear();
        let order = &mut self.order;
        let mut park = None;
        self.shared.location.lookup_with(now, &aor, order, |b| {
            if targets.len() == MAX_TARGETS {
                return;
            }
            // A next hop by host name (a contact's, or the first Path's;
            // RFC 3263): the shard's name cache; not known yet, the
            // request waits for it.
            let mut by_name = |host: &[u8], port: Option<u16>| {
                let mut buf = [0; crate::dns::MAX_NAME];
                let key = crate::dns::NameRef::new(host, port, &mut buf)?;
                match names.lookup(now, &key) {
                    crate::dns::cache::Lookup::Found(found) => found.hops.first().map(|h| h.addr),
                    crate::dns::cache::Lookup::Failed => None,
                    crate::dns::cache::Lookup::Unknown => {
                        park.get_or_insert_with(|| key.to_query());
                        None
                    }
                }
            };
            let dest = match b.next_hop() {
                NextHop::Addr(a) => Some(a),
                NextHop::Path(p) => match Uri::parse(p.as_bytes()) {
                    Ok(Uri::Sip(u)) => match u.host.ip() {
                        Some(ip) => Some(SocketAddr::new(
                            ip,
                            u.port.unwrap_or(if u.secure { 5061 } else { 5060 }),
                        )),
                        None => by_name(u.host.text, u.port),
                    },
                    _ => None,
                },
                NextHop::Name { host, port } => by_name(host.as_bytes(), port),
            };
            let Some(dest) = dest else { return };
            let Some(t) = Target::contact(dest, contacts.len()) else {
                return;
            };
            targets.push(t);
            contacts.push(ContactHop {
                uri: b.contact.as_bytes().into(),
                route: match b.path.as_ref() {
                    [] => Box::default(),
                    path => path.join(", ").into_bytes().into(),
                },
            });
        });
        if let Some(query) = park {
            // Forked once every contact's name is known.
            return Some(Found::Park(query));
        }
        if targets.is_empty() {
            self.counters.not_registered += 1;
            return Some(Found::Refuse(self.shared.cfg.no_binding()));
        }
        self.counters.lookups += 1;
        let mut failover = CodeSet::EMPTY;
        for class in ["3xx", "4xx", "5xx"] {
            failover.add(class);
        }
        Some(Found::Targets(Picked {
            failover,
            parallel: self.shared.cfg.fork == Fork::Parallel,
            sticky: false,
        }))
    }

    /// Expires this shard's partition's bindings that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let loc = &self.shared.location;
        if loc.next_expiry(self.partition).is_some_and(|t| t <= now) {
            self.counters.expired += loc.expire(self.partition, now) as u64;
        }
    }

    /// When this shard next has something to do: an expiry, keep-alives.
    pub fn next_deadline(&self) -> Option<Instant> {
        let expiry = self.shared.location.next_expiry(self.partition);
        [expiry, self.next_keepalive].into_iter().flatten().min()
    }

    /// Whether NAT keep-alives are on and their first round is not due
    /// yet scheduled.
    pub fn keepalive_unstarted(&self) -> bool {
        self.shared.cfg.nat_keepalive_ms > 0 && self.next_keepalive.is_none()
    }

    /// The NAT keep-alives due at `now`: each written into a buffer from
    /// `take_buf` and handed to `queue` (destination, listener, bytes).
    pub fn keepalives(
        &mut self,
        now: Instant,
        locals: &Locals,
        mut take_buf: impl FnMut() -> Vec<u8>,
        mut queue: impl FnMut(SocketAddr, u16, Vec<u8>),
    ) {
        let every = self.shared.cfg.nat_keepalive_ms;
        if every == 0 || self.next_keepalive.is_some_and(|t| t > now) {
            return;
        }
        self.next_keepalive = Some(now + Duration::from_millis(every));
        self.shared
            .location
            .nated(self.partition, &mut self.sources);
        for &(dest, local) in &self.sources {
            let Some(a) = locals.addrs.get(usize::from(local)) else {
                continue;
            };
            self.keepalive_seq += 1;
            self.call_id.clear();
            self.minter.mint(a.host.as_bytes(), &mut self.call_id);
            let mut buf = take_buf();
            write_options(
                &mut buf,
                dest,
                &a.host_port,
                KEEPALIVE_BRANCH,
                self.keepalive_seq,
                &self.call_id,
            );
            self.counters.keepalives += 1;
            queue(dest, local, buf);
        }
    }

    /// Whether `msg` answers one of our keep-alives (absorbed).
    pub fn is_keepalive_answer(msg: &Message<'_>) -> bool {
        msg.top_via().is_ok_and(|v| {
            v.branch
                .is_some_and(|b| b.starts_with(KEEPALIVE_BRANCH.as_bytes()))
        })
    }
}
