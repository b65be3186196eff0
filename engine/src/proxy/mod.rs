//! The proxy core (RFC 3261 §16): a sans-IO state machine per shard that
//! takes datagrams and time and produces datagrams.
//!
//! The driver (the runtime's shard loop, or a test's virtual network):
//! - [`ProxyCore::handle_datagram`] for every datagram this shard owns,
//!   [`ProxyCore::handle_timeout`] when [`ProxyCore::poll_timeout`] is due,
//!   [`ProxyCore::handle_name_answer`] for each looked-up name;
//! - then drains [`ProxyCore::poll_transmit`] (datagrams to send) and
//!   [`ProxyCore::poll_name_query`] (names to look up off the shard), and
//!   arms one timer for [`ProxyCore::poll_timeout`];
//! - and sets the wall clock now and then ([`ProxyCore::set_wall_clock`]:
//!   routing rules' time windows), as time only ever comes in as `now`.
//!
//! In transaction-stateful mode each request gets a server transaction
//! and each forwarded copy a client transaction (`TxLayer`); a response
//! context ties them together and selects the response to send upstream
//! (§16.7). In stateless mode (§16.11) requests and responses are
//! forwarded without state, with branches computed so that a CANCEL or a
//! non-2xx ACK gets the same branch as its INVITE.
//!
//! Nothing needed to route an in-dialog request lives only in memory: it
//! follows its Route set (our Record-Route URI, then the next hop), so a
//! restart between the 200 and the BYE does not lose the call.
//!
//! # Where each part lives
//!
//! - here: the driver's API and the request path: framing and validation
//!   ([`ingress`]), ACK and CANCEL, the server transaction, then the
//!   pipeline of [`stages`] (validate, policy, auth, limits, route, edits)
//!   and forwarding; requests parked for a name and let go again.
//! - [`responses`]: the response path (§16.7 - §16.10): response contexts'
//!   best-response selection, CANCEL, branch failures and timeouts (Timer
//!   C, §16.8), and responses relayed statelessly.
//! - [`serial`]: a serial search over several targets (least-cost
//!   routing's gateways, a name's addresses), with failover.
//! - parts with their own state: [`contexts`] (response contexts, by
//!   `CtxId`), [`wire`] (writing copies and local responses; the outbox),
//!   [`next_hop`] (the §16.4 - §16.6 routing step), [`probe`] (gateway
//!   probing), the gateways' caps ([`crate::lcr::caps`]), the name cache
//!   ([`crate::dns::cache`]).
//! - [`topology`]: topology hiding (`[topology_hiding]`), stateless: what
//!   it takes off a message travels in tokens in what we put on it.
//! - [`calls`]: call control (`[dialogs]`): the dialogs of the calls we
//!   record-route, their CDRs, the limit slots they hold, the maximum
//!   duration's BYEs, the journal; fed by the request and response paths,
//!   and feeding quality routing ([`crate::lcr::quality`]).

pub mod calls;
pub mod config;
mod contexts;
mod counters;
mod ingress;
pub mod next_hop;
pub mod probe;
mod responses;
mod serial;
pub mod stages;
pub mod topology;
mod wire;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use trunkline_parser::{Message, Method, ParseError, Parser, ValidateOptions, validate_with};
use trunkline_routing_tables::At;
use trunkline_shards::dialog::{Match, Side};
use trunkline_shards::tx::{ClientRequest, RequestOutcome, TxId, TxLayer};
use trunkline_shards::{CallIdMinter, ShardId};

use crate::dns::NameQuery;
use crate::dns::cache::Parked;
use crate::lcr::TargetSource;
use crate::lcr::caps::GatewayCaps;

pub use config::{EdgeConfig, Mode, ProxyConfig, UnknownSource};
pub use counters::Counters;
pub use next_hop::{LocalAddr, Locals, NextHopError, NextHopPlan};
pub use probe::ProbeConfig;
pub use stages::{Attributes, Request, RequestStage, StageCx, Verdict};

use calls::Calls;
use contexts::{Contexts, CtxId, UserRef};
use ingress::{Framed, Ingress};
use probe::Prober;
use stages::auth::Auth;
pub use stages::auth::DigestService;
use stages::edits::HeaderEdits;
use stages::limits::Limits;
use stages::policy::Policy;
use stages::route::{Asks, Decision, Route};
use stages::validate::Validate;
use wire::{Answering, Wire};

/// The services a shard's core asks, besides its settings: shared by the
/// shards, injected by the composition root (the runtime's builder, or a
/// test).
#[derive(Clone, Debug, Default)]
pub struct Services {
    /// Least-cost routing for initial INVITEs without a Route past us
    /// (stateful mode only); `None`: the default route or the Request-URI.
    pub targets: Option<Arc<dyn TargetSource>>,
    /// The request policy in service (`[[policy]]`); `None`: none.
    pub policy: Option<Arc<crate::policy::PolicyTable>>,
    /// Digest authentication (`[auth]`): the nonce key and subscribers;
    /// `None`: a policy rule asking for it gets 403.
    pub digest: Option<Arc<DigestService>>,
    /// The flood defence's ban list (shared with every shard's datagram
    /// gate): where the auth stage bans a source after failed attempts,
    /// so that its datagrams are dropped before parsing on every shard.
    pub shield: Option<Arc<crate::security::Shield>>,
    /// The named rate limits (`[[rate_limit]]`) policy rules invoke.
    pub rate_limits: Option<Arc<crate::security::RateLimits>>,
    /// The call limits (`[[limit]]`): concurrent calls and calls per
    /// second per customer, source, carrier, gateway.
    pub call_limits: Option<Arc<crate::security::call_limits::CallLimits>>,
    /// The dispatcher sets (`[[dispatcher]]`) policy rules send requests
    /// to (`dispatch = ID`), swapped whole on reload.
    pub dispatchers: Option<Arc<crate::dispatch::Dispatchers>>,
    /// The registrar (`[registrar]`): REGISTERs for its domains answered
    /// here, requests for its AORs routed to their bindings.
    pub registrar: Option<Arc<stages::registrar::Registrar>>,
}

/// Where to send the bytes [`ProxyCore::poll_transmit`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The destination.
    pub dest: SocketAddr,
    /// The local socket (listener index) to send from.
    pub local: u16,
}

/// The proxy of one shard. See the module docs.
#[derive(Debug)]
pub struct ProxyCore {
    ingress: Ingress,
    /// Parses requests kept by the core (a context's request for its next
    /// target, a parked request) while the pipeline works on them.
    stored: Stored,
    /// Topology hiding's in-dialog requests revealed, when it is on.
    th: Option<topology::Inbound>,
    pipe: Pipeline,
}

/// A request kept by the core, parsed again: a copy of its bytes (the
/// original stays where it is kept) and a parser.
#[derive(Debug, Default)]
struct Stored {
    parser: Parser,
    bytes: Vec<u8>,
}

/// Everything but framing: the stages and the parts they share, each with
/// its own state. Borrowed field by field, so a stage's state and the
/// message framed by [`Ingress`] are never borrowed together.
#[derive(Debug)]
struct Pipeline {
    cfg: Arc<ProxyConfig>,
    tx: TxLayer,
    ctxs: Contexts,
    wire: Wire,
    validate: Validate,
    policy: Policy,
    auth: Auth,
    limits: Limits,
    route: Route,
    header_edits: HeaderEdits,
    /// Call control: the dialogs of the calls we record-route, when on.
    calls: Option<Calls>,
    /// Quality routing's statistics (`[routing.quality]`), fed by call
    /// control.
    quality: Option<crate::lcr::quality::Quality>,
    /// The From/To identities the request being handled is forwarded
    /// with (an in-dialog request of a call whose identities a header
    /// rule rewrote), set by call control for the forwarding.
    pending_identities: Option<stages::edits::Identities>,
    /// The request being handled came through our topology-hiding tokens
    /// (an in-dialog request of a hidden call): its copies are hidden.
    revealed: bool,
    caps: GatewayCaps,
    prober: Prober,
    clock: WallClock,
    /// The counts of the pipeline and its stages (the prober's are its
    /// own: see [`ProxyCore::counters`]).
    counters: Counters,
    draining: bool,
}

/// The wall clock, as the driver last read it: routing rules' time
/// windows and CDRs need wall-clock time, and the core reads no clock.
#[derive(Clone, Copy, Debug, Default)]
struct WallClock {
    /// A monotonic instant and the Unix time in milliseconds then.
    anchor: Option<(Instant, i64)>,
}

impl WallClock {
    /// The wall-clock time at `now`: the anchor moved on by the monotonic
    /// time since (the Unix epoch before the driver set one).
    fn at(&self, now: Instant) -> At {
        At::from_unix(self.unix_ms(now).div_euclid(1000))
    }

    /// Unix milliseconds at `t` (before or after the anchor).
    fn unix_ms(&self, t: Instant) -> i64 {
        let Some((anchor, ms)) = self.anchor else {
            return 0;
        };
        let ms_of = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match t.checked_duration_since(anchor) {
            Some(d) => ms.saturating_add(ms_of(d)),
            None => ms.saturating_sub(ms_of(anchor.saturating_duration_since(t))),
        }
    }
}

impl ProxyCore {
    /// The core of a lone shard without services; `seed` seeds the
    /// transaction index hash.
    pub fn new(cfg: Arc<ProxyConfig>, seed: u64) -> ProxyCore {
        ProxyCore::for_shard(cfg, &Services::default(), 0, seed)
    }

    /// The core of shard `shard` (the Call-IDs it mints hash back to it),
    /// asking `services`.
    pub fn for_shard(
        cfg: Arc<ProxyConfig>,
        services: &Services,
        shard: u16,
        seed: u64,
    ) -> ProxyCore {
        let mut tx = TxLayer::new(cfg.timers, seed);
        tx.set_max_live(cfg.max_transactions);
        let lcr = services
            .targets
            .clone()
            .filter(|_| cfg.mode == Mode::Stateful)
            .map(|t| t.for_shard(shard, seed ^ 0x6c63_7273_6565_6421));
        let mut route = Route::new(cfg.default_route, lcr, cfg.edge.open_relay);
        if let (Some(r), Mode::Stateful) = (&services.registrar, cfg.mode) {
            route.registrar = Some(stages::registrar::RegistrarStage::new(
                r.clone(),
                shard,
                CallIdMinter::new(ShardId(shard), seed ^ 0x6b65_6570),
            ));
        }
        if let Some(d) = &services.dispatchers {
            route.set_dispatch(crate::dispatch::ShardDispatch::new(
                d.clone(),
                shard,
                seed ^ 0x6469_7370,
                CallIdMinter::new(ShardId(shard), seed ^ 0x7072_6f62),
            ));
        }
        ProxyCore {
            ingress: Ingress::new(cfg.limits),
            stored: Stored::default(),
            th: (cfg.topology_hiding || cfg.topology_hiding_rules)
                .then(|| topology::Inbound::new(cfg.branch_key, cfg.limits)),
            pipe: Pipeline {
                tx,
                ctxs: Contexts::default(),
                wire: Wire::new(
                    cfg.branch_key,
                    cfg.edge.server_header.as_deref().unwrap_or_default(),
                    cfg.topology_hiding,
                    cfg.topology_hiding_rules,
                ),
                validate: Validate::new(cfg.locals.clone()),
                policy: Policy::new(services.policy.clone(), services.rate_limits.clone()),
                auth: Auth::new(
                    cfg.edge.unknown_source,
                    services.digest.clone(),
                    services.shield.clone(),
                    shard,
                ),
                limits: Limits::new(services.rate_limits.clone(), services.call_limits.clone()),
                route,
                header_edits: HeaderEdits::new(services.digest.is_some()),
                calls: cfg.dialogs.filter(|_| cfg.mode == Mode::Stateful).map(|d| {
                    let limits = services.call_limits.clone();
                    let mut calls = Calls::new(d, seed ^ 0x6469_616c_6f67, limits);
                    calls.set_quality(cfg.quality.is_some());
                    calls
                }),
                pending_identities: None,
                revealed: false,
                quality: cfg
                    .quality
                    .filter(|_| cfg.dialogs.is_some())
                    .map(|q| crate::lcr::quality::Quality::new(q, Instant::now())),
                caps: GatewayCaps::new(shard, cfg.shards, seed ^ 0x5bd1_e995),
                prober: Prober::new(cfg.probe, CallIdMinter::new(ShardId(shard), seed)),
                clock: WallClock::default(),
                counters: Counters::default(),
                draining: false,
                cfg,
            },
        }
    }

    /// Tells the core the wall-clock time `wall` at `now` (the driver
    /// reads both clocks; once a second is plenty).
    pub fn set_wall_clock(&mut self, now: Instant, wall: At) {
        self.set_wall_clock_ms(now, wall.unix.saturating_mul(1000));
    }

    /// Tells the core the wall-clock time at `now` in Unix milliseconds
    /// (CDR times are to the millisecond).
    pub fn set_wall_clock_ms(&mut self, now: Instant, unix_ms: i64) {
        self.pipe.clock.anchor = Some((now, unix_ms));
    }

    /// Gives back the memory a burst of transactions left behind (see
    /// `TxLayer::shrink`): for the driver to call now and then, not per
    /// message. Returns the transaction slots given back.
    pub fn shrink(&mut self) -> usize {
        self.pipe.tx.shrink()
    }

    /// The most live transactions this shard holds (`[limits]
    /// max_transactions`).
    pub fn max_transactions(&self) -> usize {
        self.pipe.cfg.max_transactions
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        let p = &self.pipe;
        let a = &p.auth.counters;
        Counters {
            probes_sent: p.prober.counters.sent
                + p.route.dispatch.as_ref().map_or(0, |d| d.probes_sent),
            probe_failures: p.prober.counters.failures
                + p.route.dispatch.as_ref().map_or(0, |d| d.probe_failures),
            dispatch_sticky: p.route.dispatch.as_ref().map_or(0, |d| d.stuck),
            refused_sources: p.counters.refused_sources + a.refused_sources,
            auth_challenges: a.challenges,
            auth_successes: a.successes,
            auth_failures: a.failures,
            auth_bans: a.bans,
            banned_drops: a.banned_drops,
            rate_limited: p.limits.rejected,
            call_limited: p.limits.calls_refused,
            ..p.counters
        }
    }

    /// The call-control part's counters (zero when calls are not tracked).
    pub fn call_counters(&self) -> calls::CallCounters {
        self.pipe
            .calls
            .as_ref()
            .map(|c| c.counters)
            .unwrap_or_default()
    }

    /// Calls held by the call-control part (ended ones lingering included).
    pub fn live_calls(&self) -> usize {
        self.pipe.calls.as_ref().map_or(0, Calls::live)
    }

    /// The next CDR of a call that ended here, for the sinks (the driver
    /// drains these with the datagrams).
    pub fn poll_cdr(&mut self) -> Option<crate::cdr::Cdr> {
        self.pipe.calls.as_mut()?.poll_cdr()
    }

    /// Journals the calls from now on (`[dialogs] journal`; see
    /// [`calls`]); `false` when calls are not tracked.
    pub fn enable_journal(&mut self) -> bool {
        self.pipe
            .calls
            .as_mut()
            .map(Calls::enable_journal)
            .is_some()
    }

    /// Appends the journal records produced since the last call to `out`
    /// (the driver drains these with the datagrams, and writes them).
    pub fn take_journal(&mut self, out: &mut Vec<u8>) {
        if let Some(c) = self.pipe.calls.as_mut() {
            c.take_journal(out);
        }
    }

    /// Writes the records of the live journaled calls to `out` (a
    /// compacted journal); returns how many.
    pub fn journal_snapshot(&self, out: &mut Vec<u8>) -> usize {
        let clock = self.pipe.clock;
        (self.pipe.calls.as_ref()).map_or(0, |c| c.snapshot(out, &|t| clock.unix_ms(t)))
    }

    /// Takes back a journaled call (before serving; the wall clock set
    /// first: [`ProxyCore::set_wall_clock_ms`]).
    pub fn restore_call(
        &mut self,
        now: Instant,
        rec: &trunkline_shards::dialog::journal::CallRecord<'_>,
    ) -> Result<(), calls::RestoreError> {
        let unix_now = self.pipe.clock.unix_ms(now);
        let c = self.pipe.calls.as_mut().ok_or(calls::RestoreError::Table)?;
        c.restore(now, unix_now, rec).map(|_| ())
    }

    /// Transaction layer counters.
    pub fn tx_stats(&self) -> trunkline_shards::tx::TxStats {
        self.pipe.tx.stats()
    }

    /// Live transactions.
    pub fn live_transactions(&self) -> usize {
        self.pipe.tx.live()
    }

    /// Refuses new requests from now on (503), while live transactions
    /// and in-dialog requests carry on: a graceful shutdown.
    pub fn set_draining(&mut self, draining: bool) {
        self.pipe.draining = draining;
    }

    /// Requests still waiting for a final response (what a graceful
    /// shutdown waits for; transactions that only absorb retransmissions
    /// do not count). O(contexts): for shutdown, not the hot path.
    pub fn pending_requests(&self) -> usize {
        self.pipe.ctxs.pending()
    }

    /// Live response contexts.
    pub fn live_contexts(&self) -> usize {
        self.pipe.ctxs.live()
    }

    /// Our addresses, one per listener.
    pub fn locals(&self) -> &Locals {
        &self.pipe.cfg.locals
    }

    /// Processes one datagram received from `src` on listener `local`.
    pub fn handle_datagram(&mut self, now: Instant, buf: &[u8], src: SocketAddr, local: u16) {
        let p = &mut self.pipe;
        p.counters.received += 1;
        if (p.route.has_lcr() && p.prober.next_round().is_none())
            || p.route
                .dispatch
                .as_ref()
                .is_some_and(|d| d.unstarted() || d.publish_unstarted())
        {
            p.probe_round(now); // the first round starts with the traffic
        }
        if p.route
            .registrar
            .as_ref()
            .is_some_and(|r| r.keepalive_unstarted())
        {
            p.registrar_timeout(now);
        }
        let msg = match self.ingress.frame(buf) {
            Framed::Message(m) => m,
            Framed::Keepalive => {
                p.counters.keepalives += 1;
                return;
            }
            Framed::Answer(m, e) => {
                p.counters.parse_errors += 1;
                p.reply_invalid(&m, src, local, &e);
                return;
            }
            Framed::Garbage => {
                p.counters.parse_errors += 1;
                return;
            }
        };
        // §16.3: check what the proxy acts on; forward the rest untouched.
        // Borrowed where validation wrote it: the Summary (~400 bytes) is
        // not copied again.
        let checked = validate_with(&msg, &ValidateOptions::PROXY);
        let sum = match &checked {
            Ok(sum) => sum,
            Err(e) => {
                p.counters.invalid += 1;
                // A request gets the RFC answer; a response or an ACK is dropped.
                if msg.is_request() && msg.method() != Some(Method::Ack) {
                    p.reply_invalid(&msg, src, local, e);
                }
                return;
            }
        };
        let req = Request {
            msg: &msg,
            sum,
            src,
            local,
            server: None,
        };
        if msg.is_request() {
            match self.th.as_mut() {
                Some(th) => p.on_hidden_request(now, th, req, &mut self.stored),
                None => p.on_request(now, req, &mut self.stored),
            }
        } else {
            p.on_response(now, &req, &mut self.stored);
        }
        p.drain_tx_events(now, &mut self.stored);
    }

    /// Runs what is due at `now`: transaction timers, parked requests
    /// past their deadline, a probing round, the call-slot sweep.
    pub fn handle_timeout(&mut self, now: Instant) {
        let p = &mut self.pipe;
        p.tx.handle_timeout(now);
        p.drain_tx_events(now, &mut self.stored);
        p.route.names.expire(now);
        self.unpark_ready(now);
        let p = &mut self.pipe;
        p.probe_round(now);
        p.caps.sweep(now);
        if let Some(calls) = p.calls.as_mut() {
            calls.handle_timeout(now);
        }
        p.registrar_timeout(now);
        p.settle_calls(now);
        p.drain_tx_events(now, &mut self.stored);
    }

    /// The next deadline for [`ProxyCore::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let p = &self.pipe;
        let tx = p.tx.poll_timeout();
        let probe = p.prober.next_round().filter(|_| p.route.has_lcr());
        let sweep = p.caps.next_sweep();
        let names = p.route.names.next_deadline();
        let calls = p.calls.as_ref().and_then(Calls::next_deadline);
        let dispatch = p.route.dispatch.as_ref().and_then(|d| d.next_round());
        let registrar = p.route.registrar.as_ref().and_then(|r| r.next_deadline());
        [tx, probe, sweep, names, calls, dispatch, registrar]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next host name to look up for a parked request
    /// ([`crate::dns::cache`]): the runtime looks it up off the shard and
    /// calls [`ProxyCore::handle_name_answer`].
    pub fn poll_name_query(&mut self) -> Option<NameQuery> {
        self.pipe.route.names.poll_query()
    }

    /// The answer to a [`NameQuery`]: its hops (SRV targets with their
    /// priorities and weights, or A/AAAA addresses), or why the lookup
    /// failed. The requests parked for it go on, or get 503.
    pub fn handle_name_answer(
        &mut self,
        now: Instant,
        query: &NameQuery,
        found: Result<crate::dns::Resolved, String>,
    ) {
        self.pipe.route.names.answer(now, query, found);
        self.unpark_ready(now);
    }

    /// Lets the parked requests that are ready go on: forwarded when
    /// their name was answered, 503 when they waited too long.
    fn unpark_ready(&mut self, now: Instant) {
        let (p, stored) = (&mut self.pipe, &mut self.stored);
        while let Some((parked, answered)) = p.route.names.next_ready() {
            if answered {
                if let Ok(msg) = stored.parser.parse(&parked.bytes) {
                    if let Ok(sum) = validate_with(&msg, &ValidateOptions::PROXY) {
                        let req = Request {
                            msg: &msg,
                            sum: &sum,
                            src: parked.src,
                            local: parked.local,
                            server: parked.server,
                        };
                        // Its source was checked before it was parked.
                        let attrs = Attributes {
                            source_checked: true,
                            ..Attributes::default()
                        };
                        p.forward_with(now, &req, &attrs);
                    }
                }
                p.tx.give_buf(parked.bytes);
            } else {
                p.counters.names_failed += 1;
                let (code, reason) = NextHopError::NeedsDns.response();
                p.answer_parked(now, parked, code, reason, &mut stored.parser);
            }
            p.drain_tx_events(now, stored);
        }
    }

    /// The call limits (`[[limit]]`) this core admits under, shared by
    /// the shards.
    pub fn call_limits(&self) -> Option<&Arc<crate::security::call_limits::CallLimits>> {
        self.pipe.limits.call_limits()
    }

    /// Quality routing's numbers per gateway on this shard (by the address
    /// last tried), when `[routing.quality]` is on.
    pub fn gateway_scores(&self, now: Instant) -> Vec<(SocketAddr, crate::lcr::quality::Score)> {
        self.pipe
            .quality
            .as_ref()
            .map(|q| q.scores(now))
            .unwrap_or_default()
    }

    /// Per rate limit: (name, admitted, rejected) on this shard.
    pub fn rate_limit_counts(&self) -> Vec<(String, u64, u64)> {
        self.pipe.limits.counts()
    }

    /// The policy's hits on this shard: (rule, action, hits).
    pub fn policy_hits(&self) -> Vec<(String, &'static str, u64)> {
        self.pipe.policy.hits()
    }

    /// The registrar's counters on this shard (zero without one).
    pub fn registrar_counters(&self) -> stages::registrar::RegistrarCounters {
        let r = self.pipe.route.registrar.as_ref();
        r.map(|r| r.counters).unwrap_or_default()
    }

    /// Probed gateways on this shard and whether each is up.
    pub fn gateway_states(&self) -> Vec<(SocketAddr, bool)> {
        self.pipe.prober.states().collect()
    }

    /// How many times the dispatcher destinations' health (or the sets)
    /// changed on this shard: when it moves, [`Self::dispatcher_states`]
    /// has news.
    pub fn dispatcher_changes(&self) -> u64 {
        self.pipe.route.dispatch.as_ref().map_or(0, |d| d.changes)
    }

    /// The dispatcher sets' destinations on this shard: (set id, address,
    /// up by this shard's probes).
    pub fn dispatcher_states(&self) -> Vec<(String, SocketAddr, bool)> {
        let d = self.pipe.route.dispatch.as_ref();
        d.into_iter()
            .flat_map(|d| d.states().map(|(s, a, up)| (s.to_string(), a, up)))
            .collect()
    }

    /// The next datagram to send, written into `out`.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Option<Transmit> {
        let p = &mut self.pipe;
        if let Some((t, mut bytes)) = p.wire.pop() {
            std::mem::swap(out, &mut bytes);
            p.tx.give_buf(bytes);
            p.counters.sent += 1;
            return Some(t);
        }
        let t = p.tx.poll_transmit(out)?;
        p.counters.sent += 1;
        Some(Transmit {
            dest: t.dest,
            local: t.local,
        })
    }
}

/// The parts that answer a request here: its server transaction (or the
/// outbox), the writer, the counters.
struct Answerer<'p> {
    tx: &'p mut TxLayer,
    wire: &'p mut Wire,
    counters: &'p mut Counters,
}

impl Answerer<'_> {
    /// A response generated here for `req`: through its server
    /// transaction when it has one, else straight to the requester.
    /// `header`: one extra header line, or empty.
    fn reply(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
        code: u16,
        reason: &[u8],
        header: &[u8],
    ) {
        let Some(buf) = self.write(req, code, reason, header) else {
            return;
        };
        match req.server {
            Some(server) => {
                self.tx.respond(now, server, buf, code);
            }
            None => self.wire.queue(req.response_dest(), req.local, buf),
        }
    }

    /// Answers `req` statelessly: sent once, never retransmitted, even
    /// when it has a server transaction (which the caller ends).
    fn reply_once(&mut self, req: &Request<'_, '_>, code: u16, reason: &[u8], header: &[u8]) {
        if let Some(buf) = self.write(req, code, reason, header) {
            self.wire.queue(req.response_dest(), req.local, buf);
        }
    }

    /// The response to `req` generated here, counted; `None` when it
    /// cannot be written.
    fn write(
        &mut self,
        req: &Request<'_, '_>,
        code: u16,
        reason: &[u8],
        header: &[u8],
    ) -> Option<Vec<u8>> {
        let mut buf = self.tx.take_buf();
        let extra: &[&[u8]] = if header.is_empty() { &[] } else { &[header] };
        let to = Answering {
            msg: req.msg,
            via: &req.sum.top_via,
            call_id: req.sum.call_id,
            from_tag: req.sum.from.tag().unwrap_or_default(),
            seq: req.sum.cseq.seq,
            src: Some(req.src),
        };
        if !self
            .wire
            .responder
            .local_response(&to, code, reason, extra, &mut buf)
        {
            self.tx.give_buf(buf);
            return None;
        }
        self.counters.local_replies += 1;
        Some(buf)
    }
}

/// Whether an address may receive a forwarded response (RFC 4475 §3.3.10:
/// never broadcast; nor multicast or unspecified).
fn sendable(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => !(ip.is_broadcast() || ip.is_multicast() || ip.is_unspecified()),
        IpAddr::V6(ip) => !(ip.is_multicast() || ip.is_unspecified()),
    }
}

/// Whether a request of method `m` can create a dialog (it is
/// record-routed).
fn can_create_dialog(m: Option<Method>) -> bool {
    matches!(
        m,
        Some(
            Method::Invite | Method::Subscribe | Method::Refer | Method::Notify | Method::Extension
        )
    )
}

/// The request path.
impl Pipeline {
    fn on_request(&mut self, now: Instant, mut req: Request<'_, '_>, stored: &mut Stored) {
        let method = req.method();
        self.pending_identities = None;
        let stateful = self.cfg.mode == Mode::Stateful;
        if method == Method::Bye {
            // The end of a call that may hold a gateway's call slot, or
            // a dispatcher destination.
            self.caps.dialog_ended(req.sum.call_id);
            if let Some(d) = &self.route.dispatch {
                d.forget(req.sum.call_id);
            }
        }
        if method == Method::Ack {
            if stateful
                && self
                    .tx
                    .handle_request(now, req.msg, req.sum, req.response_dest(), req.local)
                    == RequestOutcome::AckAbsorbed
            {
                return;
            }
            if let Some(tag) = req.sum.to.tag() {
                let from_tag = req.sum.from.tag().unwrap_or_default();
                let (call_id, seq) = (req.sum.call_id, req.sum.cseq.seq);
                if self.wire.responder.is_our_tag(call_id, from_tag, seq, tag) {
                    // The ACK of a reply of ours, on a branch of its own.
                    self.counters.local_acks += 1;
                    return;
                }
            }
            // (An ACK never creates a transaction, so the cap cannot refuse it.)
            // The ACK for a 2xx travels end to end (§16.6, §17.1.1.3).
            self.forward(now, &req);
            return;
        }
        if method == Method::Cancel && stateful {
            self.on_cancel(now, &req, stored);
            return;
        }
        if self.draining && req.initial() {
            // Shutting down: new dialogs and transactions go elsewhere.
            self.answerer()
                .reply(now, &req, 503, b"Shutting Down", b"Retry-After: 5");
            return;
        }
        if stateful {
            match self
                .tx
                .handle_request(now, req.msg, req.sum, req.response_dest(), req.local)
            {
                RequestOutcome::New(id) => req.server = Some(id),
                RequestOutcome::Overloaded => {
                    self.counters.overloaded += 1;
                    self.answerer()
                        .reply(now, &req, 503, b"Overloaded", b"Retry-After: 5");
                    return;
                }
                _ => return, // retransmission, absorbed
            }
            if !req.initial() && self.in_dialog(now, &req) {
                return;
            }
        }
        // The stages before routing, in order (see `stages`).
        let mut attrs = Attributes {
            trusted: self.cfg.edge.trusted.contains(req.src.ip()),
            ..Attributes::default()
        };
        let route = &self.route;
        let mut cx = StageCx {
            attrs: &mut attrs,
            locals: &self.cfg.locals,
            source_group: &|ip| route.source_group(ip),
        };
        let verdict = match self.validate.on_request(now, &req, &mut cx) {
            Verdict::Continue => match self.policy.on_request(now, &req, &mut cx) {
                Verdict::Continue => match self.auth.on_request(now, &req, &mut cx) {
                    Verdict::Continue => self.limits.on_request(now, &req, &mut cx),
                    v => v,
                },
                v => v,
            },
            v => v,
        };
        match verdict {
            Verdict::Continue => {}
            Verdict::Reply {
                code,
                reason,
                header,
            } => {
                // Answered once, statelessly, and no state kept (§26.3.2.4:
                // questionable requests get a single 401/407, without the
                // retransmissions that would make us an amplifier for a
                // spoofed source); a retransmitted request is judged again
                // and gets the same answer, To tag included. The stage's
                // header line borrows the stage: answered by the parts
                // the stages do not own.
                let mut answerer = Answerer {
                    tx: &mut self.tx,
                    wire: &mut self.wire,
                    counters: &mut self.counters,
                };
                answerer.reply_once(&req, code, reason, header);
                if let Some(server) = req.server {
                    self.tx.terminate(server);
                }
                return;
            }
            Verdict::Drop => {
                // No answer, and no state kept: a retransmission is
                // judged again.
                self.counters.dropped += 1;
                if let Some(server) = req.server {
                    self.tx.terminate(server);
                }
                return;
            }
        }
        if let Some(r) = self.route.registrar.as_mut() {
            if r.takes_register(&req, &self.cfg.locals) {
                // §10.3: we are the registrar for its domain.
                let unix = self.clock.unix_ms(now).div_euclid(1000);
                let (code, reason, header) = r.register(now, unix, &req);
                let mut answerer = Answerer {
                    tx: &mut self.tx,
                    wire: &mut self.wire,
                    counters: &mut self.counters,
                };
                answerer.reply(now, &req, code, reason, header);
                self.release_held(&attrs);
                return;
            }
        }
        if stateful && method == Method::Invite {
            // §16.2: a stateful proxy answers INVITE with 100 at once.
            self.answerer().reply(now, &req, 100, b"Trying", b"");
        }
        self.forward_with(now, &req, &attrs);
    }

    /// Call control's view of an in-dialog request (stateful mode): the
    /// dialog it names, the BYE that ends it; with `[dialogs] check`, 481
    /// when it names none and 500 for an old CSeq (§12.2.2). Returns
    /// whether it was answered here.
    fn in_dialog(&mut self, now: Instant, req: &Request<'_, '_>) -> bool {
        let Some(calls) = self.calls.as_mut() else {
            return false;
        };
        let m = calls.on_request(now, req.msg, req.sum);
        let check = calls.checks();
        if let Match::Dialog { id, from, .. } = m {
            self.pending_identities = calls.identities_for(id, from);
        }
        self.settle_calls(now);
        let (code, reason): (u16, &[u8]) = match m {
            Match::NoDialog if check => (481, b"Call/Transaction Does Not Exist"),
            Match::OutOfOrder(_) if check => (500, b"CSeq Out of Order"),
            _ => return false,
        };
        self.answerer().reply(now, req, code, reason, b"");
        true
    }

    /// Acts on what call control reported: CDRs queued, limit slots given
    /// back (by [`Calls::settle`]), and the BYEs of dialogs we end sent to
    /// both sides through non-INVITE client transactions of their own
    /// (retransmitted until answered; their responses are absorbed).
    fn settle_calls(&mut self, now: Instant) {
        let Some(calls) = self.calls.as_mut() else {
            return;
        };
        let clock = self.clock;
        calls.settle(now, &|t| clock.unix_ms(t));
        if let Some(q) = self.quality.as_mut() {
            calls.drain_quality(|e| match e {
                calls::QualityEvent::Attempt(o) => q.on_attempt(now, o),
                calls::QualityEvent::CallEnded(g, d) => q.on_call_end(now, g, d),
            });
        }
        while let Some(id) = calls.poll_bye() {
            for side in [Side::Callee, Side::Caller] {
                let Some((dest, local)) = calls.bye_dest(id, side) else {
                    continue;
                };
                let out = self.cfg.locals.egress(local, dest).unwrap_or(local);
                let addrs = &self.cfg.locals.addrs;
                let host_port = addrs[usize::from(out) % addrs.len()].host_port.as_bytes();
                let branch = calls.bye_branch();
                let mut buf = self.tx.take_buf();
                if !calls.write_bye(id, side, host_port, branch.as_bytes(), &mut buf) {
                    self.tx.give_buf(buf);
                    continue;
                }
                self.tx.start_client(
                    now,
                    ClientRequest {
                        method: Method::Bye,
                        branch: branch.as_bytes(),
                        bytes: buf,
                        dest,
                        local: out,
                        user: 0, // no context: its responses are absorbed
                        timer_c: false,
                    },
                );
            }
        }
    }

    /// A CANCEL (stateful mode): answered and its INVITE's branches
    /// cancelled (§16.10), or forwarded statelessly when it matches no
    /// INVITE here.
    fn on_cancel(&mut self, now: Instant, req: &Request<'_, '_>, stored: &mut Stored) {
        let Some(invite) = self.tx.find_invite(req.msg, req.sum) else {
            self.forward(now, req);
            return;
        };
        // A retransmitted CANCEL is absorbed (its 200 resent).
        let server =
            match self
                .tx
                .handle_request(now, req.msg, req.sum, req.response_dest(), req.local)
            {
                RequestOutcome::New(c) => Some(c),
                RequestOutcome::Overloaded => None, // answered without state
                _ => return,
            };
        let answer = Request { server, ..*req };
        self.answerer().reply(now, &answer, 200, b"OK", b"");
        if let Some(u) = self.tx.user(invite).and_then(UserRef::unpack) {
            self.cancel_context(now, u.ctx);
        } else if let Some(p) = self.route.names.unpark(invite) {
            // Still waiting for its next hop's name: §16.10, the INVITE
            // gets 487 here.
            self.answer_parked(now, p, 487, b"Request Terminated", &mut stored.parser);
        }
    }

    /// [`Pipeline::forward_with`] a request no stage marked.
    fn forward(&mut self, now: Instant, req: &Request<'_, '_>) {
        self.forward_with(now, req, &Attributes::default());
    }

    /// The route stage, then forwarding: through a new response context
    /// and client transaction when `req` has a server transaction.
    /// `attrs`: what the stages before marked the request with.
    fn forward_with(&mut self, now: Instant, req: &Request<'_, '_>, attrs: &Attributes) {
        let (wire, clock, caps) = (&self.wire, &self.clock, &self.caps);
        let decision = self.route.decide(
            now,
            req,
            attrs,
            &self.cfg.locals,
            &mut self.counters,
            Asks {
                at: || clock.at(now),
                seed: || wire.seed_of(req.sum.call_id, req.sum.cseq.seq),
                live: |t: &crate::lcr::Target| caps.active(t),
            },
        );
        let (dest, out) = match decision {
            Decision::Hop { dest, out } => (dest, out),
            Decision::Serial { reason } => {
                // The route stage decides a serial search only for a
                // request with a server transaction.
                if let Some(server) = req.server {
                    self.start_serial(now, req, attrs, server, reason);
                }
                return;
            }
            Decision::Park(query) => {
                // The call limits' slots are not kept while it waits.
                self.release_held(attrs);
                self.park(now, req, query);
                return;
            }
            Decision::Refuse { code, reason } => {
                self.release_held(attrs);
                if req.method() == Method::Ack {
                    self.counters.dropped += 1;
                } else {
                    self.answerer().reply(now, req, code, reason, b"");
                }
                return;
            }
        };
        if req.sum.max_forwards == Some(0) {
            // Only reached by stateless forwarding (ACK, CANCEL): drop.
            self.counters.dropped += 1;
            return;
        }
        self.wire.make_branch(req, 0);
        self.header_edits.select(self.policy.current(), attrs.edits);
        self.header_edits
            .set_identities(self.pending_identities.take());
        self.wire.set_hiding(attrs.hide_topology || self.revealed);
        let mut buf = self.tx.take_buf();
        let plan = &self.route.plan;
        if !self.wire.forward(
            &self.cfg,
            &self.header_edits,
            req,
            plan,
            None,
            out,
            &mut buf,
        ) {
            self.tx.give_buf(buf);
            self.release_held(attrs);
            self.counters.dropped += 1;
            return;
        }
        self.counters.requests_forwarded += 1;
        let Some(server) = req.server else {
            self.wire.queue(dest, out, buf);
            return;
        };
        let ctx = self.open_ctx(server, req.msg);
        self.keep_identities(req, ctx);
        self.track_call(now, req, attrs, ctx);
        if let (Some(call), Some(calls)) =
            (self.ctxs.get(ctx).and_then(|c| c.call), &mut self.calls)
        {
            calls.on_attempt(now, call, dest, None, None, None);
        }
        self.start_branch(now, UserRef::branch(ctx, 0), req.method(), buf, dest, out);
    }

    /// An initial INVITE forwarded statefully through context `ctx`: its
    /// call, when calls are tracked and we record-route it, with the call
    /// limits' slots the limits stage took (given back now when the call
    /// is not tracked).
    fn track_call(&mut self, now: Instant, req: &Request<'_, '_>, attrs: &Attributes, ctx: CtxId) {
        let Some(calls) = self.calls.as_mut() else {
            return;
        };
        if !(self.cfg.record_route && req.initial() && req.method() == Method::Invite) {
            return;
        }
        let held = attrs.call_held;
        let group = attrs
            .group
            .or_else(|| self.route.source_group(req.src.ip()));
        let call = calls.on_invite(
            now,
            req.msg,
            req.sum,
            req.src,
            req.local,
            group,
            held,
            attrs.max_duration,
        );
        if let (Some(call), Some(user)) = (call, self.header_edits.from_user()) {
            if calls.writes_cdrs() {
                calls.set_caller_sent(call, user);
            }
        }
        if let (Some(call), Some(rw)) = (call, self.header_edits.rewrite()) {
            let (from_user, from_display, to_user) = (rw.from_user, rw.from_display, rw.to_user);
            // The identities as each side knows them, for the call's
            // in-dialog requests (OpenSIPS' uac_replace_from).
            let value = |k| req.msg.header_value(k).unwrap_or_default();
            let (from, to) = (
                value(trunkline_parser::HeaderName::From),
                value(trunkline_parser::HeaderName::To),
            );
            if let Some(caller) = stages::edits::Identities::of(req.msg) {
                let mut callee = stages::edits::Identities {
                    from: stages::edits::rewritten_identity(from, from_user, from_display)
                        .unwrap_or_else(|| caller.from.clone()),
                    to: stages::edits::rewritten_identity(to, to_user, None)
                        .unwrap_or_else(|| caller.to.clone()),
                };
                if self.cfg.topology_hiding {
                    // What the callee sees names only us (as the masking
                    // of the INVITE did).
                    let addrs = &self.cfg.locals.addrs;
                    let us = addrs[usize::from(req.local) % addrs.len()]
                        .host_port
                        .as_bytes();
                    callee.from = stages::edits::masked_identity(&callee.from, us);
                }
                calls.set_rewrite(call, caller, callee);
            }
        }
        if let Some(c) = self.ctxs.get_mut(ctx) {
            c.call = call;
        }
    }

    /// When the copies of `req` carry other From/To identities than it
    /// (header rules), keeps its own in context `ctx` for its responses.
    fn keep_identities(&mut self, req: &Request<'_, '_>, ctx: CtxId) {
        if !self.header_edits.rewrites_identities() {
            return;
        }
        let ids = stages::edits::Identities::of(req.msg).map(Box::new);
        if let Some(c) = self.ctxs.get_mut(ctx) {
            c.restore = ids;
        }
    }

    /// Gives back the call limits' slots the limits stage took for a
    /// request that is not going on.
    fn release_held(&self, attrs: &Attributes) {
        if let (Some(h), Some(limits)) = (attrs.call_held, self.limits.call_limits()) {
            limits.release(h);
        }
    }

    /// A new response context for server transaction `server`, keeping a
    /// copy of its request `msg`, tied to the transaction.
    fn open_ctx(&mut self, server: TxId, msg: &Message<'_>) -> CtxId {
        let mut request = self.tx.take_buf();
        request.extend_from_slice(msg.as_bytes());
        let ctx = self.ctxs.open(server, request);
        self.tx.set_user(server, UserRef::branch(ctx, 0).pack());
        ctx
    }

    /// What answers requests here, borrowed apart from the stages (a
    /// stage's answer may borrow the stage).
    fn answerer(&mut self) -> Answerer<'_> {
        Answerer {
            tx: &mut self.tx,
            wire: &mut self.wire,
            counters: &mut self.counters,
        }
    }

    /// The RFC answer to a request that failed framing or validation,
    /// sent statelessly to its top Via if that much can be parsed.
    fn reply_invalid(&mut self, msg: &Message<'_>, src: SocketAddr, local: u16, e: &ParseError) {
        let Ok(via) = msg.top_via() else { return };
        let mut buf = self.tx.take_buf();
        let to = Answering::of(msg, &via, Some(src));
        let reason = e.reason().as_bytes();
        let written = self
            .wire
            .responder
            .local_response(&to, e.status(), reason, &[], &mut buf);
        if written {
            self.counters.local_replies += 1;
            self.wire
                .queue(stages::response_dest(&via, src), local, buf);
        } else {
            self.tx.give_buf(buf);
        }
    }

    /// The registrar's timers: expiry of this shard's partition, NAT
    /// keep-alives.
    fn registrar_timeout(&mut self, now: Instant) {
        let Some(r) = self.route.registrar.as_mut() else {
            return;
        };
        r.handle_timeout(now);
        let (tx, wire) = (&mut self.tx, &mut self.wire);
        r.keepalives(
            now,
            &self.cfg.locals,
            || tx.take_buf(),
            |dest, local, buf| wire.queue(dest, local, buf),
        );
    }

    /// Runs a probing round when one is due, and queues its probes.
    fn probe_round(&mut self, now: Instant) {
        if let Some(d) = self.route.dispatch.as_mut() {
            let caps = &self.caps;
            d.publish(now, |t| caps.active(t));
            d.round(now);
            loop {
                let mut buf = self.tx.take_buf();
                match d.write_next(&self.cfg.locals, &mut buf) {
                    Some((dest, local)) => self.wire.queue(dest, local, buf),
                    None => {
                        self.tx.give_buf(buf);
                        break;
                    }
                }
            }
        }
        if !self.route.has_lcr() {
            return;
        }
        let locals = &self.cfg.locals;
        let route = &self.route;
        self.prober.round(now, locals, |out| route.probed(out));
        loop {
            let mut buf = self.tx.take_buf();
            match self.prober.write_next(locals, &mut buf) {
                Some((dest, local)) => self.wire.queue(dest, local, buf),
                None => {
                    self.tx.give_buf(buf);
                    break;
                }
            }
        }
    }

    /// Parks `req` until `query` is looked up (a copy of its bytes, with
    /// its server transaction), or answers 503 when a bound is reached.
    fn park(&mut self, now: Instant, req: &Request<'_, '_>, query: NameQuery) {
        let mut bytes = self.tx.take_buf();
        bytes.extend_from_slice(req.msg.as_bytes());
        let parked = Parked {
            query,
            bytes,
            src: req.src,
            local: req.local,
            server: req.server,
            deadline: now + crate::dns::cache::PARK_TIMEOUT,
        };
        match self.route.names.park(now, parked) {
            Ok(()) => self.counters.names_parked += 1,
            Err(_) => {
                self.counters.names_failed += 1;
                if req.method() != Method::Ack {
                    let (code, reason) = NextHopError::NeedsDns.response();
                    self.answerer().reply(now, req, code, reason, b"");
                }
            }
        }
    }

    /// Answers a parked request with `code` (an ACK is dropped).
    fn answer_parked(
        &mut self,
        now: Instant,
        p: Parked,
        code: u16,
        reason: &[u8],
        parser: &mut Parser,
    ) {
        if let Ok(msg) = parser.parse(&p.bytes) {
            if let Ok(sum) = validate_with(&msg, &ValidateOptions::PROXY) {
                if msg.method() != Some(Method::Ack) {
                    let req = Request {
                        msg: &msg,
                        sum: &sum,
                        src: p.src,
                        local: p.local,
                        server: p.server,
                    };
                    self.answerer().reply(now, &req, code, reason, b"");
                }
            }
        }
        self.tx.give_buf(p.bytes);
    }
}

#[cfg(test)]
mod tests;
