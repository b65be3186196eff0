//! The proxy core (RFC 3261 §16): a sans-IO state machine per shard that
//! takes datagrams and time and produces datagrams.
//!
//! - [`ProxyCore::handle_datagram`] for every datagram this shard owns,
//!   [`ProxyCore::handle_timeout`] when [`ProxyCore::poll_timeout`] is due;
//! - then drain [`ProxyCore::poll_transmit`].
//!
//! In transaction-stateful mode each request gets a server transaction
//! and each forwarded copy a client transaction ([`TxLayer`]); a response
//! context ties them together and selects the response to send upstream
//! (§16.7). In stateless mode (§16.11) requests and responses are
//! forwarded without state, with branches computed so that a CANCEL or a
//! non-2xx ACK gets the same branch as its INVITE.
//!
//! Nothing needed to route an in-dialog request lives only in memory: it
//! follows its Route set (our Record-Route URI, then the next hop), so a
//! restart between the 200 and the BYE does not lose the call.
//!
//! A copy leaves by the listener its request came in on when that one can
//! reach the next hop, else by one of the next hop's address family
//! ([`Locals::egress`]); a dialog-creating request that changes listener
//! is record-routed with both addresses (RFC 5658 double Record-Route).
//!
//! Here: requests in (§16.3 - §16.6) and local replies; `responses`: the
//! response context (§16.7 - §16.10); `lcr`: least-cost routing's serial
//! search; `dns`: next hops given by host name; `route`: where a request
//! goes; `probe`: gateway probing.

pub mod dns;
pub mod lcr;
pub mod probe;
mod responses;
pub mod route;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use core::hash::{BuildHasher, Hasher};
use trunkline_parser::{
    Edits, ErrorKind, HeaderName, Limits, LocalCtx, LocalPart, Message, Method, ParseError, Parser,
    Piece, ResponseSpec, Summary, Uri, ValidateOptions, Via, validate_with, write_response,
};
use trunkline_shards::tx::{ClientRequest, RequestOutcome, Timers, TxId, TxLayer};

pub use dns::NameQuery;
pub use lcr::{FailoverCodes, LcrRequest, MAX_TARGETS, NoRoute, Target, TargetSource};
pub use probe::ProbeConfig;
pub use route::{LocalAddr, Locals, RouteError, RoutePlan};

/// How the proxy keeps state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Transaction-stateful (§16.2 ff.): retransmissions absorbed,
    /// 100 Trying sent, response selection, CANCEL handling, Timer C.
    Stateful,
    /// Stateless (§16.11): every message forwarded on its own.
    Stateless,
}

/// What the proxy core needs to know; built from the engine config.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Stateful or stateless.
    pub mode: Mode,
    /// Add a Record-Route to initial requests that can create a dialog.
    pub record_route: bool,
    /// Where requests go that carry no Route past us (`--to`).
    pub default_route: Option<SocketAddr>,
    /// Our addresses, one per listener (index = local socket id).
    pub locals: Locals,
    /// Transaction timers.
    pub timers: Timers,
    /// Parser limits.
    pub limits: Limits,
    /// Seed of the branch hash. Fixed by default so that branches are the
    /// same across restarts (a stateless ACK or CANCEL must match).
    pub branch_seed: u64,
    /// Most live server transactions per shard; beyond it new requests get
    /// 503 without state (a flood cannot exhaust memory).
    pub max_transactions: usize,
    /// Least-cost routing for initial INVITEs that carry no Route past us
    /// (stateful mode only); `None`: the default route or the Request-URI.
    pub lcr: Option<Arc<dyn TargetSource>>,
    /// Final responses (and timeouts, as 408) that move an LCR call to its
    /// next target.
    pub failover: FailoverCodes,
    /// Shards in the router: each enforces its share of a gateway's CPS cap.
    pub shards: u16,
    /// Gateway probing (for the gateways the LCR source lists).
    pub probe: ProbeConfig,
}

impl ProxyConfig {
    /// A stateful record-routing proxy on `listen` forwarding to `to`.
    pub fn new(listen: SocketAddr, to: Option<SocketAddr>) -> ProxyConfig {
        ProxyConfig {
            mode: Mode::Stateful,
            record_route: true,
            default_route: to,
            locals: Locals {
                addrs: vec![LocalAddr::from_socket(listen)],
            },
            timers: Timers::default(),
            limits: Limits::default(),
            branch_seed: 0x7472_756e_6b6c_696e,
            max_transactions: 1_000_000,
            lcr: None,
            failover: FailoverCodes::default(),
            shards: 1,
            probe: ProbeConfig::default(),
        }
    }
}

/// Per-shard counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams handed to this core.
    pub received: u64,
    /// Datagrams produced.
    pub sent: u64,
    /// Datagrams that could not be framed (dropped).
    pub parse_errors: u64,
    /// Messages that failed validation (answered 4xx/5xx, or dropped if
    /// a response or an ACK).
    pub invalid: u64,
    /// CRLF keep-alives (ignored).
    pub keepalives: u64,
    /// Requests forwarded.
    pub requests_forwarded: u64,
    /// Responses forwarded.
    pub responses_forwarded: u64,
    /// Responses generated here (100 Trying, errors, 200 to CANCEL, ...).
    pub local_replies: u64,
    /// Messages dropped for other reasons (foreign or broadcast Via, ...).
    pub dropped: u64,
    /// New requests refused with 503 at the transaction cap.
    pub overloaded: u64,
    /// Initial INVITEs routed by the routing table.
    pub lcr_routed: u64,
    /// Initial INVITEs the table had no route for (answered 404 or the
    /// configured code).
    pub lcr_no_route: u64,
    /// Copies sent to a next gateway after a failure.
    pub lcr_failovers: u64,
    /// Gateways skipped because they were at their CPS cap.
    pub lcr_capped: u64,
    /// Gateways skipped because probing found them down.
    pub lcr_down_skipped: u64,
    /// Gateway addresses skipped because no listener has their address
    /// family (an IPv6 hop of a dual-stack name when we listen on IPv4
    /// only, or the reverse).
    pub lcr_family_skipped: u64,
    /// Requests parked while their next hop's host name was looked up.
    pub names_parked: u64,
    /// Requests answered 503 because their next hop's name did not
    /// resolve in time, or a bound on lookups was reached.
    pub names_failed: u64,
    /// INVITE copies sent to a name's next address after 503 or a timeout.
    pub names_failovers: u64,
    /// OPTIONS probes sent.
    pub probes_sent: u64,
    /// Probes unanswered within their round, or answered 408 / 5xx.
    pub probe_failures: u64,
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
    parser: Parser,
    st: State,
}

#[derive(Debug)]
struct State {
    cfg: Arc<ProxyConfig>,
    tx: TxLayer,
    ctxs: Vec<Ctx>,
    free_ctxs: Vec<u32>,
    edits: Edits,
    scratch_parser: Parser,
    out: VecDeque<(Transmit, Vec<u8>)>,
    counters: Counters,
    plan: RoutePlan,
    branch_hash: foldhash::fast::FixedState,
    /// Scratch for a local reply's To tag and our branch.
    tag: Vec<u8>,
    branch: Vec<u8>,
    draining: bool,
    /// Scratch target list, swapped into a context (no allocation per call).
    targets: Vec<Target>,
    /// Gateway probing on this shard.
    prober: probe::Prober,
    /// Call-IDs for requests we originate (probes), owned by this shard.
    minter: trunkline_shards::CallIdMinter,
    /// Per-gateway CPS budgets of this shard, by cap key.
    cps: std::collections::HashMap<u64, lcr::CpsBucket, foldhash::fast::FixedState>,
    /// Per-gateway calls at once on this shard (concurrent-call caps).
    calls: lcr::CallSlots,
    /// This shard's number (its share of the caps).
    shard: u16,
    /// Next hops given by host name: answers and parked requests.
    names: dns::Names,
    /// Parses parked requests again when their name is answered.
    names_parser: Parser,
    /// Scratch: parked requests ready to go on.
    unparked: Vec<dns::Parked>,
}

/// A response context (§16.7): one server transaction and its branches.
#[derive(Debug, Default)]
struct Ctx {
    generation: u32,
    live: bool,
    server: Option<TxId>,
    /// The request as received, for responses generated here.
    request: Vec<u8>,
    branches: Vec<Branch>,
    /// The best final response so far (our Via removed), and its code.
    best: Option<(u16, Vec<u8>)>,
    final_sent: bool,
    cancelled: bool,
    /// Live transactions referring to this context.
    refs: u32,
    /// LCR: the targets in order, and the next one to try.
    targets: Vec<Target>,
    next_target: usize,
    /// LCR: a branch timed out (it counts as a 408 in §16.7 selection).
    timed_out: bool,
    /// Where the request came from (to rebuild it for the next target).
    src: Option<SocketAddr>,
    local: u16,
}

#[derive(Debug, Default)]
struct Branch {
    tx: Option<TxId>,
    branch: BranchId,
    done: bool,
    cancel_pending: bool,
    cancel_sent: bool,
    /// LCR: the cap key of the gateway whose concurrent-call slot this
    /// attempt holds.
    holds: Option<u64>,
}

/// Our Via branch for one forwarded copy, kept inline (no allocation).
#[derive(Clone, Copy, Debug, Default)]
struct BranchId {
    buf: [u8; 32],
    len: u8,
}

impl BranchId {
    fn new(b: &[u8]) -> BranchId {
        let mut id = BranchId::default();
        let n = b.len().min(id.buf.len());
        id.buf[..n].copy_from_slice(&b[..n]);
        id.len = n as u8;
        id
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// A context reference packed into a transaction's user data:
/// slot (32 bits), generation (24), branch (7), CANCEL flag (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UserRef {
    slot: u32,
    generation: u32,
    branch: u8,
    cancel: bool,
}

impl UserRef {
    fn pack(self) -> u64 {
        self.slot as u64
            | ((self.generation as u64 & 0xff_ffff) << 32)
            | ((self.branch as u64 & 0x7f) << 56)
            | ((self.cancel as u64) << 63)
    }

    fn unpack(v: u64) -> Option<UserRef> {
        (v != 0).then_some(UserRef {
            slot: v as u32,
            generation: ((v >> 32) & 0xff_ffff) as u32,
            branch: ((v >> 56) & 0x7f) as u8,
            cancel: v >> 63 != 0,
        })
    }
}

impl ProxyCore {
    /// A proxy core; `seed` seeds the transaction index hash.
    pub fn new(cfg: Arc<ProxyConfig>, seed: u64) -> ProxyCore {
        ProxyCore::for_shard(cfg, seed, 0)
    }

    /// The proxy core of shard `shard` (the Call-IDs it mints hash back to it).
    pub fn for_shard(cfg: Arc<ProxyConfig>, seed: u64, shard: u16) -> ProxyCore {
        ProxyCore {
            parser: Parser::new(cfg.limits),
            st: State {
                tx: {
                    let mut tx = TxLayer::new(cfg.timers, seed);
                    tx.set_max_live(cfg.max_transactions);
                    tx
                },
                branch_hash: foldhash::fast::FixedState::with_seed(cfg.branch_seed),
                cfg,
                ctxs: Vec::new(),
                free_ctxs: Vec::new(),
                edits: Edits::new(),
                scratch_parser: Parser::default(),
                out: VecDeque::new(),
                counters: Counters::default(),
                plan: RoutePlan::default(),
                tag: Vec::with_capacity(32),
                branch: Vec::with_capacity(40),
                draining: false,
                targets: Vec::new(),
                cps: Default::default(),
                calls: lcr::CallSlots::new(seed ^ 0x5bd1_e995),
                shard,
                prober: probe::Prober::default(),
                minter: trunkline_shards::CallIdMinter::new(trunkline_shards::ShardId(shard), seed),
                names: dns::Names::default(),
                names_parser: Parser::default(),
                unparked: Vec::new(),
            },
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        self.st.counters
    }

    /// Transaction layer counters.
    pub fn tx_stats(&self) -> trunkline_shards::tx::TxStats {
        self.st.tx.stats()
    }

    /// Live transactions.
    pub fn live_transactions(&self) -> usize {
        self.st.tx.live()
    }

    /// Refuses new requests from now on (503), while live transactions
    /// and in-dialog requests carry on: a graceful shutdown.
    pub fn set_draining(&mut self, draining: bool) {
        self.st.draining = draining;
    }

    /// Requests still waiting for a final response (what a graceful
    /// shutdown waits for; transactions that only absorb retransmissions
    /// do not count). O(contexts): for shutdown, not the hot path.
    pub fn pending_requests(&self) -> usize {
        self.st
            .ctxs
            .iter()
            .filter(|c| c.live && !c.final_sent)
            .count()
    }

    /// Live response contexts.
    pub fn live_contexts(&self) -> usize {
        self.st.ctxs.len() - self.st.free_ctxs.len()
    }

    /// Processes one datagram received from `src` on listener `local`.
    pub fn handle_datagram(&mut self, now: Instant, buf: &[u8], src: SocketAddr, local: u16) {
        let st = &mut self.st;
        st.counters.received += 1;
        if st.cfg.lcr.is_some() && st.prober.next_round().is_none() {
            st.probe_round(now); // the first round starts with the traffic
        }
        let msg = match self.parser.parse(buf) {
            Ok(m) => m,
            Err(e) if e.kind == ErrorKind::Empty => {
                st.counters.keepalives += 1;
                return;
            }
            Err(_) => {
                st.counters.parse_errors += 1;
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
                st.counters.invalid += 1;
                // A request gets the RFC answer; a response or an ACK is dropped.
                if msg.is_request() && msg.method() != Some(Method::Ack) {
                    st.reply_invalid(&msg, src, local, e);
                }
                return;
            }
        };
        let inp = In {
            msg: &msg,
            sum,
            src,
            local,
        };
        if msg.is_request() {
            st.on_request(now, &inp);
        } else {
            st.on_response(now, &inp);
        }
        st.drain_tx_events(now);
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.st.tx.handle_timeout(now);
        self.st.drain_tx_events(now);
        let mut ready = std::mem::take(&mut self.st.unparked);
        self.st.names.expired(now, &mut ready);
        for p in ready.drain(..) {
            self.st.unpark(now, p, false);
        }
        self.st.unparked = ready;
        self.st.drain_tx_events(now);
        self.st.probe_round(now);
        self.st.expire_dialogs(now);
    }

    /// The next deadline for [`ProxyCore::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = self.st.tx.poll_timeout();
        let probe = self.st.cfg.lcr.as_ref().and(self.st.prober.next_round());
        // Answered calls holding a gateway slot are swept once a minute.
        let sweep = (!self.st.calls.dialogs.is_empty()).then_some(self.st.calls.next_sweep);
        let names = self.st.names.next_deadline();
        [tx, probe, sweep, names].into_iter().flatten().min()
    }

    /// The next host name to look up for a parked request (see
    /// [`dns`]): the runtime looks it up off the shard and calls
    /// [`ProxyCore::handle_name_answer`].
    pub fn poll_name_query(&mut self) -> Option<NameQuery> {
        self.st.names.poll_query()
    }

    /// The answer to a [`NameQuery`]: its hops (SRV targets with their
    /// priorities and weights, or A/AAAA addresses), or why the lookup
    /// failed. The requests parked for it go on, or get 503.
    pub fn handle_name_answer(
        &mut self,
        now: Instant,
        query: &NameQuery,
        found: Result<crate::srv::Resolved, String>,
    ) {
        let mut ready = std::mem::take(&mut self.st.unparked);
        self.st.names.answer(now, query, found, &mut ready);
        for p in ready.drain(..) {
            self.st.unpark(now, p, true);
        }
        self.st.unparked = ready;
        self.st.drain_tx_events(now);
    }

    /// Probed gateways on this shard and whether each is up.
    pub fn gateway_states(&self) -> Vec<(SocketAddr, bool)> {
        self.st.prober.states().collect()
    }

    /// The next datagram to send, written into `out`.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Option<Transmit> {
        let st = &mut self.st;
        if let Some((t, mut bytes)) = st.out.pop_front() {
            std::mem::swap(out, &mut bytes);
            st.tx.give_buf(bytes);
            st.counters.sent += 1;
            return Some(t);
        }
        let t = st.tx.poll_transmit(out)?;
        st.counters.sent += 1;
        Some(Transmit {
            dest: t.dest,
            local: t.local,
        })
    }
}

/// A validated message with what it came with.
struct In<'m, 'a> {
    msg: &'m Message<'a>,
    /// What validation parsed: never parsed again.
    sum: &'m Summary<'a>,
    src: SocketAddr,
    local: u16,
}

impl In<'_, '_> {
    fn dest(&self) -> SocketAddr {
        response_dest(&self.sum.top_via, self.src)
    }

    fn initial(&self) -> bool {
        self.sum.to.tag().is_none()
    }
}

/// Where responses to a request go (§18.2.2; RFC 3581 `rport`): the
/// source address, and the Via port unless `rport` asked for the source port.
fn response_dest(via: &Via<'_>, src: SocketAddr) -> SocketAddr {
    if via.rport.is_none() {
        SocketAddr::new(src.ip(), via.port.unwrap_or(5060))
    } else {
        src
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

fn can_create_dialog(m: Option<Method>) -> bool {
    matches!(
        m,
        Some(
            Method::Invite | Method::Subscribe | Method::Refer | Method::Notify | Method::Extension
        )
    )
}

impl State {
    fn queue(&mut self, dest: SocketAddr, local: u16, bytes: Vec<u8>) {
        self.out.push_back((Transmit { dest, local }, bytes));
    }

    fn on_request(&mut self, now: Instant, inp: &In<'_, '_>) {
        let msg = inp.msg;
        let method = msg.method().unwrap_or(Method::Extension);
        let dest = inp.dest();
        let stateful = self.cfg.mode == Mode::Stateful;
        if method == Method::Bye {
            // The end of a call that may hold a gateway's call slot.
            self.dialog_ended(inp.sum.call_id);
        }
        if method == Method::Ack {
            if stateful
                && self.tx.handle_request(now, msg, inp.sum, dest, inp.local)
                    == RequestOutcome::AckAbsorbed
            {
                return;
            }
            // (An ACK never creates a transaction, so the cap cannot refuse it.)
            // The ACK for a 2xx travels end to end (§16.6, §17.1.1.3).
            self.forward_request(now, inp, None);
            return;
        }
        if method == Method::Cancel && stateful {
            match self.tx.find_invite(msg, inp.sum) {
                Some(invite) => {
                    // A retransmitted CANCEL is absorbed (its 200 resent).
                    let server = match self.tx.handle_request(now, msg, inp.sum, dest, inp.local) {
                        RequestOutcome::New(c) => Some(c),
                        RequestOutcome::Overloaded => None, // answered without state
                        _ => return,
                    };
                    // §16.10: answer the CANCEL, then cancel the branches.
                    self.reply(now, inp, server, 200, b"OK", &[]);
                    if let Some(u) = self.tx.user(invite).and_then(UserRef::unpack) {
                        self.cancel_context(now, u.slot, u.generation);
                    } else if let Some(p) = self.names.unpark(invite) {
                        // Still waiting for its next hop's name: §16.10,
                        // the INVITE gets 487 here.
                        self.answer_parked(now, p, 487, b"Request Terminated");
                    }
                }
                // No context: forward statelessly (§16.10).
                None => self.forward_request(now, inp, None),
            }
            return;
        }
        if self.draining && inp.initial() {
            // Shutting down: new dialogs and transactions go elsewhere.
            self.reply(now, inp, None, 503, b"Shutting Down", &[b"Retry-After: 5"]);
            return;
        }
        let server = if stateful {
            match self.tx.handle_request(now, msg, inp.sum, dest, inp.local) {
                RequestOutcome::New(id) => Some(id),
                RequestOutcome::Overloaded => {
                    self.counters.overloaded += 1;
                    self.reply(now, inp, None, 503, b"Overloaded", &[b"Retry-After: 5"]);
                    return;
                }
                _ => return, // retransmission, absorbed
            }
        } else {
            None
        };
        // §16.3 step 3: Max-Forwards.
        if inp.sum.max_forwards == Some(0) {
            self.reply(now, inp, server, 483, b"Too Many Hops", &[]);
            return;
        }
        // §16.3 step 5: we support no extension that a proxy must understand.
        if let Some(e) = msg.first(HeaderName::ProxyRequire) {
            self.tag.clear();
            self.tag.extend_from_slice(b"Unsupported: ");
            self.tag.extend_from_slice(msg.slice(e.value));
            let line = std::mem::take(&mut self.tag);
            self.reply(now, inp, server, 420, b"Bad Extension", &[&line]);
            self.tag = line;
            return;
        }
        // Keep-alive OPTIONS addressed to us: answer it.
        if method == Method::Options && msg.first(HeaderName::Route).is_none() {
            if let Some(Ok(Uri::Sip(u))) = msg.request_uri() {
                if u.user.is_none() && self.cfg.locals.is_me(&u) {
                    self.reply(now, inp, server, 200, b"OK", &[]);
                    return;
                }
            }
        }
        if stateful && method == Method::Invite {
            // §16.2: a stateful proxy answers INVITE with 100 at once.
            self.reply(now, inp, server, 100, b"Trying", &[]);
        }
        self.forward_request(now, inp, server);
    }

    /// Routes and forwards a request; with `server`, through a new
    /// response context and client transaction.
    fn forward_request(&mut self, now: Instant, inp: &In<'_, '_>, server: Option<TxId>) {
        let (msg, local) = (inp.msg, inp.local);
        let mut plan = std::mem::take(&mut self.plan);
        let planned = route::plan(msg, &self.cfg.locals, self.cfg.default_route, &mut plan);
        if let (Some(server), Some(source)) = (server, &self.cfg.lcr) {
            let by_uri = !plan.by_route && plan.new_ruri.is_none();
            let invite = msg.method() == Some(Method::Invite);
            if invite && inp.initial() && by_uri && planned != Err(RouteError::BadRoute) {
                let source = Arc::clone(source);
                self.plan = plan;
                self.forward_lcr(now, inp, server, &*source);
                return;
            }
        }
        let planned = match planned {
            Err(RouteError::NeedsDns) => match self.next_hop_by_name(now, inp, server, &plan) {
                Some(Ok(dest)) => {
                    plan.dest = Some(dest);
                    Ok(())
                }
                Some(Err(e)) => Err(e),
                None => {
                    // Parked until the name is answered, or forwarded.
                    self.plan = plan;
                    return;
                }
            },
            planned => planned,
        };
        let routed = planned.and_then(|()| {
            let dest = plan.dest.expect("planned");
            if self.cfg.locals.has(dest) {
                Err(RouteError::Loop)
            } else {
                Ok(dest)
            }
        });
        let routed = routed.and_then(|dest| {
            let out = self.cfg.locals.egress(local, dest);
            out.map(|out| (dest, out)).ok_or(RouteError::NoListener)
        });
        let (dest, out) = match routed {
            Ok(d) => d,
            Err(e) => {
                self.plan = plan;
                if msg.method() == Some(Method::Ack) {
                    self.counters.dropped += 1;
                } else {
                    let (code, reason) = e.response();
                    self.reply(now, inp, server, code, reason, &[]);
                }
                return;
            }
        };
        if inp.sum.max_forwards == Some(0) {
            // Only reached by stateless forwarding (ACK, CANCEL): drop.
            self.plan = plan;
            self.counters.dropped += 1;
            return;
        }
        self.make_branch(inp);
        let mut buf = self.tx.take_buf();
        let ok = self.build_forward(inp, &plan, None, out, &mut buf);
        self.plan = plan;
        if !ok {
            self.tx.give_buf(buf);
            self.counters.dropped += 1;
            return;
        }
        self.counters.requests_forwarded += 1;
        let Some(server) = server else {
            self.queue(dest, out, buf);
            return;
        };
        let method = msg.method().unwrap_or(Method::Extension);
        let user = self.new_ctx(server, msg);
        self.start_branch(now, user, method, buf, dest, out);
    }

    /// Starts the client transaction of a new branch of context
    /// `user.slot` (§16.6 step 10: `bytes` to `dest` from `local`, Timer C
    /// for an INVITE), with the branch id just built in `self.branch` and
    /// `user` as its handle, and records the branch in the context.
    fn start_branch(
        &mut self,
        now: Instant,
        user: UserRef,
        method: Method,
        bytes: Vec<u8>,
        dest: SocketAddr,
        local: u16,
    ) {
        let branch = std::mem::take(&mut self.branch);
        let client = self.tx.start_client(
            now,
            ClientRequest {
                method,
                branch: &branch,
                bytes,
                dest,
                local,
                user: user.pack(),
                timer_c: method == Method::Invite,
            },
        );
        let ctx = &mut self.ctxs[user.slot as usize];
        ctx.refs += 1;
        ctx.branches.push(Branch {
            tx: Some(client),
            branch: BranchId::new(&branch),
            ..Branch::default()
        });
        self.branch = branch;
    }

    /// Our branch for forwarding `msg`: `z9hG4bK` + a hash of what
    /// identifies the incoming transaction (§16.11), so a stateless CANCEL
    /// or non-2xx ACK gets the branch of its INVITE. ACK for 2xx and every
    /// other request hash their own top Via.
    fn make_branch(&mut self, inp: &In<'_, '_>) {
        let v = &inp.sum.top_via;
        let mut h = self.branch_hash.build_hasher();
        if v.is_rfc3261_branch() {
            h.write(v.branch.unwrap_or_default());
            h.write(v.sent_by);
        } else {
            // RFC 2543: what identifies the transaction (§16.11).
            h.write(v.raw);
            h.write(inp.sum.call_id);
            h.write(inp.msg.request_uri_bytes().unwrap_or_default());
            h.write(inp.sum.from.tag().unwrap_or_default());
            h.write_u32(inp.sum.cseq.seq);
        }
        self.branch.clear();
        self.branch.extend_from_slice(b"z9hG4bKtl");
        push_hex(&mut self.branch, h.finish(), 16);
    }

    /// Writes the forwarded copy of `msg` (§16.6) into `buf`, to leave by
    /// listener `out`.
    fn build_forward(
        &mut self,
        inp: &In<'_, '_>,
        plan: &RoutePlan,
        target: Option<&Target>,
        out: u16,
        buf: &mut Vec<u8>,
    ) -> bool {
        let (msg, src, local) = (inp.msg, inp.src, inp.local);
        let e = &mut self.edits;
        e.clear();
        if let Some(t) = target.filter(|t| !t.keeps_request_uri()) {
            lcr::rewrite_request_uri(msg, t, e, &mut self.tag);
        }
        // Step 2: the Request-URI (strict routing only; we are not the
        // authority for any domain).
        if let (Some(new), Some(old)) = (plan.new_ruri, msg.request_uri_span()) {
            e.replace(old, Piece::Original(new));
        }
        // §16.4 / step 6: Route values that were ours, or moved.
        let mut i = 0;
        while i < plan.remove.len() {
            let h = plan.remove[i].0;
            let mut idx = [0usize; 8];
            let mut n = 0;
            while i < plan.remove.len() && plan.remove[i].0 == h {
                if n < idx.len() {
                    idx[n] = plan.remove[i].1;
                    n += 1;
                }
                i += 1;
            }
            e.remove_values(msg, h, &idx[..n]);
        }
        if let Some(after) = plan.append_ruri_after {
            if let Some(ruri) = msg.request_uri_span() {
                e.insert_header_after(
                    msg,
                    after,
                    b"Route",
                    &[
                        Piece::Static(b"<"),
                        Piece::Original(ruri),
                        Piece::Static(b">"),
                    ],
                );
            }
        }
        // Step 3: Max-Forwards.
        match msg.first(HeaderName::MaxForwards) {
            Some(h) => {
                let mf = inp.sum.max_forwards.unwrap_or(70);
                let v = e.scratch_decimal(b"", u32::from(mf.saturating_sub(1)), b"");
                e.replace(h.value, v);
            }
            None => e.append_header(msg, b"Max-Forwards", &[Piece::Static(b"70")]),
        }
        // §18.2.1 / RFC 3581 on the previous hop's Via.
        {
            let via = &inp.sum.top_via;
            let end = msg.span_of(via.raw).end as usize;
            let src_ip = src.ip();
            let same = via.host.ip() == Some(src_ip);
            if !same {
                let v = e.scratch_fmt(format_args!(";received={}", src_ip));
                e.insert(end, v);
            }
            if via.rport == Some(None) {
                if let Some(p) = via
                    .param_iter()
                    .find(|p| p.name.eq_ignore_ascii_case(b"rport"))
                {
                    let at = msg.span_of(p.name).end as usize;
                    let v = e.scratch_decimal(b"=", u32::from(src.port()), b"");
                    e.insert(at, v);
                }
            }
        }
        // Step 4: Record-Route on requests that can create a dialog.
        let initial = inp.initial();
        // Also when the UA preloaded a Route to us (we are its outbound
        // proxy): the dialog must still come back through us.
        let addrs = &self.cfg.locals.addrs;
        let a = &addrs[usize::from(out) % addrs.len()];
        if self.cfg.record_route && initial && can_create_dialog(msg.method()) {
            let ingress = &addrs[usize::from(local) % addrs.len()];
            if out == local || ingress.host_port == a.host_port {
                e.add_record_route(
                    msg,
                    &[
                        Piece::Static(b"<sip:"),
                        Piece::Local(LocalPart::HostPort),
                        Piece::Static(b";lr>"),
                    ],
                );
            } else {
                // RFC 5658 double Record-Route: the copy leaves by another
                // listener (the other address family). The callee's route
                // set starts with the address it can reach, the caller's
                // (reversed) with the one it can; both are ours and both
                // are taken off when a request comes back (§16.4).
                let back = e.scratch(ingress.host_port.as_bytes());
                e.add_record_route(
                    msg,
                    &[
                        Piece::Static(b"<sip:"),
                        Piece::Local(LocalPart::HostPort),
                        Piece::Static(b";lr;r2=on>, <sip:"),
                        back,
                        Piece::Static(b";lr;r2=on>"),
                    ],
                );
            }
        }
        // Step 8: our Via.
        let branch = e.scratch(&self.branch);
        e.add_top_via(
            msg,
            &[
                Piece::Static(b"SIP/2.0/UDP "),
                Piece::Local(LocalPart::HostPort),
                Piece::Static(b";branch="),
                branch,
            ],
        );
        let ctx = LocalCtx {
            host_port: a.host_port.as_bytes(),
            transport: b"UDP",
        };
        e.write(msg, &ctx, buf).is_ok()
    }

    /// A response generated here: through the server transaction when
    /// there is one, else straight to the requester.
    fn reply(
        &mut self,
        now: Instant,
        inp: &In<'_, '_>,
        server: Option<TxId>,
        code: u16,
        reason: &[u8],
        extra: &[&[u8]],
    ) {
        let mut buf = self.tx.take_buf();
        let branch = inp.sum.top_via.branch.unwrap_or_default();
        if !self.write_local_response(
            inp.msg,
            inp.sum.call_id,
            branch,
            code,
            reason,
            extra,
            &mut buf,
        ) {
            self.tx.give_buf(buf);
            return;
        }
        self.counters.local_replies += 1;
        match server {
            Some(server) => {
                self.tx.respond(now, server, buf, code);
            }
            None => self.queue(inp.dest(), inp.local, buf),
        }
    }

    /// The RFC answer to a request that failed validation, sent statelessly
    /// to its top Via if that much can be parsed.
    fn reply_invalid(&mut self, msg: &Message<'_>, src: SocketAddr, local: u16, e: &ParseError) {
        let Ok(via) = msg.top_via() else { return };
        let mut buf = self.tx.take_buf();
        let call_id = msg.call_id().unwrap_or_default();
        let branch = via.branch.unwrap_or_default();
        let reason = e.reason().as_bytes();
        if self.write_local_response(msg, call_id, branch, e.status(), reason, &[], &mut buf) {
            self.counters.local_replies += 1;
            self.queue(response_dest(&via, src), local, buf);
        } else {
            self.tx.give_buf(buf);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_local_response(
        &mut self,
        msg: &Message<'_>,
        call_id: &[u8],
        branch: &[u8],
        code: u16,
        reason: &[u8],
        extra: &[&[u8]],
        buf: &mut Vec<u8>,
    ) -> bool {
        local_tag(&self.branch_hash, call_id, branch, &mut self.tag);
        let mut lines: [&[u8]; 4] = [b"Server: trunkline", b"", b"", b""];
        let n = 1 + extra.len().min(3);
        lines[1..n].copy_from_slice(&extra[..n - 1]);
        let spec = ResponseSpec {
            code,
            reason,
            to_tag: Some(&self.tag),
            extra_headers: &lines[..n],
        };
        write_response(msg, &spec, &mut self.edits, buf).is_ok()
    }
}

/// A To tag for a response generated here, stable for the transaction so
/// that a retransmitted request answered statelessly gets the same tag
/// (§8.2.6.2).
fn local_tag(
    hasher: &foldhash::fast::FixedState,
    call_id: &[u8],
    branch: &[u8],
    out: &mut Vec<u8>,
) {
    let mut h = hasher.build_hasher();
    h.write(call_id);
    h.write(branch);
    out.clear();
    out.extend_from_slice(b"tl");
    push_hex(out, h.finish() & 0xffff_ffff, 8);
}

/// The low `digits` nibbles of `v` in lowercase hex, most significant
/// first (what `{:0digits$x}` prints for a value that fits; no `core::fmt`
/// on the hot path).
fn push_hex(out: &mut Vec<u8>, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests;
