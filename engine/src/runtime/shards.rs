//! The running shards: one per core, each a pinned thread with its own
//! SO_REUSEPORT socket per listen address, its own [`ProxyCore`], and the
//! cross-shard mesh that hands every datagram to the shard owning its
//! Call-ID. Started by [`super::RouterBuilder`].
//!
//! Every shard binds the same address:port, so a reply leaves from the
//! advertised address whichever shard sends it. Each shard runs the loop
//! of [`trunkline_shards::serve`] (read a batch, hand off or process,
//! flush, wait) with its proxy core as the [`Service`]: it sleeps in the
//! kernel until a datagram arrives or a transaction timer is due, and
//! other threads (a stop, a counter dump, a name lookup's answer) wake it
//! through its [`Waker`].
//!
//! With `[dialogs] journal`, the journal is read (and its files rewritten
//! for this shard count) before the shards start, each shard takes back
//! the calls whose Call-ID it owns before it serves, and then appends its
//! records every 100 ms ([`super::journal`]).

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use trunkline_parser::find_call_id;
use trunkline_shards::runtime::{Runtime, RuntimeBuilder, ShardCtx, Waker};
use trunkline_shards::serve::{Io, Outbound, ServeOptions, ServeStats, Service, serve};
use trunkline_shards::tx::TxStats;
use trunkline_shards::udp::{Datagram, UdpTransport};
use trunkline_shards::{ShardId, ShardMap};

use trunkline_shards::dialog::journal::{Reader, Record};

use super::journal::{self, ShardJournal};
use crate::config::Config;
use crate::dns::lookups::{NameAnswer, NameLookups};
use crate::dns::{NameQuery, Resolver};
use crate::proxy::{Counters, ProxyConfig, ProxyCore, Services};
use crate::security::{DropReason, Gate, GateCounters, Verdict as GateVerdict};

/// Least time between two runs of a shard's transaction timers (they run
/// only when one is due). SIP timers are counted in hundreds of
/// milliseconds; at 2,000 calls/s a deadline falls every 0.5 ms, and
/// running them at most every 10 ms keeps that from costing wakeups.
const TICK: Duration = Duration::from_millis(10);

/// Datagrams read per `recvmmsg`: enough that a busy shard makes one
/// receive syscall for many datagrams, few enough that the first reply of
/// a batch is not held back long (a batch is processed before it is sent).
const RECV_BATCH: usize = 32;

/// How often a shard looks after itself: logs an overload (once per
/// period, not per refused request) and gives back the memory a burst
/// left behind.
const HOUSEKEEPING: Duration = Duration::from_secs(10);

/// Transaction slots given back at once above which the allocator is
/// asked to return free memory to the system too.
const TRIM_AFTER: usize = 10_000;

use super::StartError;

/// A random number from the system's generator (the time, if it has
/// none).
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    })
}

/// The wall clock in Unix milliseconds.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One shard's counters at exit (or on request).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardReport {
    /// The shard.
    pub shard: u16,
    /// Proxy counters.
    pub counters: Counters,
    /// Transaction counters.
    pub tx: TxStats,
    /// Live transactions when the report was made.
    pub live_transactions: usize,
    /// Datagrams this shard handed to their owner.
    pub handoffs_out: u64,
    /// Datagrams handed to this shard.
    pub handoffs_in: u64,
    /// Sends the OS refused.
    pub send_errors: u64,
    /// Gateways this shard probes, and how many of them are down.
    pub gateways_probed: u32,
    /// Probed gateways found down (skipped by least-cost routing).
    pub gateways_down: u32,
    /// Datagrams the kernel dropped because this shard's receive buffer
    /// was full (`SO_RXQ_OVFL`).
    pub kernel_drops: u64,
    /// The flood defence's counts at this shard's gate: datagrams
    /// dropped (banned source, or over `flood_pps`), sources it banned.
    pub gate: GateCounters,
    /// Call control's counts (zero when calls are not tracked).
    pub calls: crate::proxy::calls::CallCounters,
    /// Calls held when the report was made.
    pub live_calls: usize,
    /// Dispatcher destinations this shard probes, and how many are down.
    pub destinations_probed: u32,
    /// Probed destinations found down (skipped by the dispatcher).
    pub destinations_down: u32,
    /// The registrar's counts (zero without `[registrar]`).
    pub registrar: crate::proxy::stages::registrar::RegistrarCounters,
}

impl std::fmt::Display for ShardReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counters;
        write!(
            f,
            "shard {}: received={} sent={} parse_errors={} invalid={} keepalives={} \
requests_forwarded={} responses_forwarded={} local_replies={} dropped={} local_acks={} overloaded={} \
forged_responses={} refused_sources={} auth_challenges={} auth_successes={} auth_failures={} auth_bans={} banned_drops={} rate_limited={} \
flood_dropped_banned={} flood_dropped_over_rate={} flood_bans={} kernel_drops={} \
lcr_routed={} lcr_no_route={} lcr_failovers={} lcr_capped={} lcr_down_skipped={} lcr_family_skipped={} \
names_parked={} names_failed={} names_failovers={} probes_sent={} probe_failures={} gateways_probed={} gateways_down={} transactions_live={} retransmissions={} absorbed={} timeouts={} handoffs_out={} handoffs_in={} send_errors={} \
calls_live={} calls_started={} calls_answered={} calls_ended={} calls_untracked={} call_limited={} max_duration_ends={} byes_sent={} byes_unroutable={} no_dialog={} out_of_order={} cdrs={} \
calls_restored={} restore_refused={} journal_records={} journal_skipped={} \
lcr_limited={} lcr_demoted={} th_bad_tokens={} th_refused={} \
dispatched={} dispatch_unavailable={} dispatch_failovers={} dispatch_sticky={} destinations_probed={} destinations_down={} \
registered={} register_refused={} location_lookups={} not_registered={} bindings_expired={} nat_keepalives={} location_changes_dropped={}",
            self.shard,
            c.received,
            c.sent,
            c.parse_errors,
            c.invalid,
            c.keepalives,
            c.requests_forwarded,
            c.responses_forwarded,
            c.local_replies,
            c.dropped,
            c.local_acks,
            c.overloaded,
            c.forged_responses,
            c.refused_sources,
            c.auth_challenges,
            c.auth_successes,
            c.auth_failures,
            c.auth_bans,
            c.banned_drops,
            c.rate_limited,
            self.gate.dropped_banned,
            self.gate.dropped_flood,
            self.gate.bans_added,
            self.kernel_drops,
            c.lcr_routed,
            c.lcr_no_route,
            c.lcr_failovers,
            c.lcr_capped,
            c.lcr_down_skipped,
            c.lcr_family_skipped,
            c.names_parked,
            c.names_failed,
            c.names_failovers,
            c.probes_sent,
            c.probe_failures,
            self.gateways_probed,
            self.gateways_down,
            self.live_transactions,
            self.tx.retransmissions,
            self.tx.absorbed,
            self.tx.timeouts,
            self.handoffs_out,
            self.handoffs_in,
            self.send_errors,
            self.live_calls,
            self.calls.started,
            self.calls.answered,
            self.calls.ended,
            self.calls.untracked,
            c.call_limited,
            self.calls.max_duration,
            self.calls.byes_sent,
            self.calls.byes_unroutable,
            self.calls.no_dialog,
            self.calls.out_of_order,
            self.calls.cdrs,
            self.calls.restored,
            self.calls.restore_refused,
            self.calls.journaled,
            self.calls.journal_skipped,
            c.lcr_limited,
            c.lcr_demoted,
            c.th_bad_tokens,
            c.th_refused,
            c.dispatched,
            c.dispatch_unavailable,
            c.dispatch_failovers,
            c.dispatch_sticky,
            self.destinations_probed,
            self.destinations_down,
            self.registrar.registered,
            self.registrar.register_refused,
            self.registrar.lookups,
            self.registrar.not_registered,
            self.registrar.expired,
            self.registrar.keepalives,
            self.registrar.changes_dropped,
        )
    }
}

#[derive(Debug, Default)]
struct Control {
    stop: AtomicBool,
    dump: AtomicU64,
    /// The shards' wakers, once they run: a shard sleeps until a datagram
    /// or a timer, so a stop or a dump must wake it.
    wakers: OnceLock<Vec<Arc<Waker>>>,
}

impl Control {
    /// Has every shard look at the flags now.
    fn wake_all(&self) {
        for w in self.wakers.get().into_iter().flatten() {
            w.notify();
        }
    }

    /// Has shard `shard` look at its answers now.
    fn wake(&self, shard: u16) {
        if let Some(w) = self.wakers.get().and_then(|w| w.get(usize::from(shard))) {
            w.notify();
        }
    }
}

/// The running shards.
#[derive(Debug)]
pub(crate) struct RunningShards {
    local_addrs: Vec<SocketAddr>,
    control: Arc<Control>,
    runtime: Runtime<ShardReport>,
}

impl RunningShards {
    /// The addresses listened on (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Asks every shard to print its counters (what SIGUSR1 does).
    pub fn dump_counters(&self) {
        self.control.dump.fetch_add(1, Ordering::Relaxed);
        self.control.wake_all();
    }

    /// Starts a graceful shutdown: new requests get 503, live transactions
    /// finish within the grace period.
    pub fn stop(&self) {
        self.control.stop.store(true, Ordering::Relaxed);
        self.control.wake_all();
    }

    /// A handle that can stop the router from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.control.clone())
    }

    /// Waits for the shards to finish (after [`RunningShards::stop`]).
    pub fn wait(self) -> Vec<ShardReport> {
        self.runtime
            .join()
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|e| {
                    tracing::error!(shard = i, "shard failed: {e}");
                    ShardReport {
                        shard: i as u16,
                        ..ShardReport::default()
                    }
                })
            })
            .collect()
    }
}

/// Stops or signals a running router from another thread.
#[derive(Clone, Debug)]
pub struct Stopper(Arc<Control>);

impl Stopper {
    /// Starts a graceful shutdown.
    pub fn stop(&self) {
        self.0.stop.store(true, Ordering::Relaxed);
        self.0.wake_all();
    }

    /// Asks every shard to print its counters.
    pub fn dump_counters(&self) {
        self.0.dump.fetch_add(1, Ordering::Relaxed);
        self.0.wake_all();
    }
}

/// Resolves port 0 and checks that each address is free: a plain bind
/// (without SO_REUSEPORT) fails if anything else holds the port, which
/// the shards' SO_REUSEPORT binds would otherwise silently share.
///
/// A port just released by a previous instance can stay busy for a
/// moment (the kernel tears io_uring rings down asynchronously), so a busy
/// port is retried for up to 2 s.
///
/// For port 0 the kernel picks the port with an SO_REUSEPORT socket that
/// is returned and held until the shards have bound it, so no other
/// socket can take the port in between; nobody knows the port yet, so no
/// datagram can be lost to it.
fn reserve(listen: &[SocketAddr]) -> Result<(Vec<SocketAddr>, Vec<socket2::Socket>), StartError> {
    let mut bound = Vec::with_capacity(listen.len());
    let mut holders = Vec::new();
    for &addr in listen {
        if addr.port() == 0 {
            let err = |source| StartError::Bind { addr, source };
            let t = trunkline_shards::udp::reuseport_socket(addr).map_err(err)?;
            let local = t.local_addr().map_err(err)?.as_socket().ok_or_else(|| {
                err(std::io::Error::other(
                    "bound address is not an IP socket address",
                ))
            })?;
            bound.push(local);
            holders.push(t);
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let s = loop {
            match StdUdpSocket::bind(addr) {
                Ok(s) => break s,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => return Err(StartError::Bind { addr, source }),
            }
        };
        bound.push(
            s.local_addr()
                .map_err(|source| StartError::Bind { addr, source })?,
        );
    }
    Ok((bound, holders))
}

/// Starts the shards of `cfg`, their cores asking `services`, their next
/// hops given by name looked up by resolvers `resolver` makes (one per
/// lookup thread).
pub(crate) fn start(
    cfg: &Config,
    services: Services,
    cdr: Option<crate::cdr::CdrSender>,
    board: Option<Arc<super::board::Board>>,
    resolver: impl Fn() -> Resolver,
) -> Result<RunningShards, StartError> {
    let (bound, holders) = reserve(&cfg.listen)?;
    // The branch key comes with the configuration (the builder draws it,
    // or reads it from `[security] secret_file`): peers cannot forge our
    // branches.
    let proxy = cfg.proxy_for(&bound);
    let control = Arc::new(Control::default());
    let grace = cfg.shutdown_grace;
    let seed = random_u64();
    let journal = match (&cfg.journal, cfg.shards) {
        (Some(dir), 1..) => Some(load_journal(dir, &ShardMap::new(cfg.shards, seed))?),
        _ => None,
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let wake = {
        let control = control.clone();
        move |shard: u16| control.wake(shard)
    };
    let lookups = NameLookups::spawn(cfg.shards, resolver, wake).map_err(StartError::Lookups)?;
    let shard_cfg = Arc::new(ShardSetup {
        bound: bound.clone(),
        proxy,
        services,
        cdr,
        board,
        control: control.clone(),
        grace,
        seed,
        ready: std::sync::Mutex::new(ready_tx),
        name_queries: lookups.queries,
        name_answers: lookups.answers,
        journal,
    });
    let runtime = RuntimeBuilder::new()
        .shards(cfg.shards)
        .cpus(cfg.cpus.clone())
        .seed(seed)
        .name("trunkline")
        .spawn(move |ctx| run_shard(ctx, shard_cfg.clone()))?;
    let _ = control.wakers.set(runtime.wakers());
    // Return once every shard has bound its sockets: a datagram sent after
    // `start` returns is never lost.
    for _ in 0..cfg.shards {
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                control.stop.store(true, Ordering::Relaxed);
                control.wake_all();
                let _ = runtime.join();
                return Err(StartError::Bind {
                    addr: bound[0],
                    source,
                });
            }
            Err(_) => {
                control.stop.store(true, Ordering::Relaxed);
                control.wake_all();
                return Err(StartError::Bind {
                    addr: bound[0],
                    source: std::io::Error::other("shards did not start within 10 s"),
                });
            }
        }
    }
    drop(holders);
    tracing::info!(
        listen = ?bound,
        shards = cfg.shards,
        mode = ?cfg.proxy.mode,
        default_route = ?cfg.proxy.default_route,
        "trunkline running"
    );
    Ok(RunningShards {
        local_addrs: bound,
        control,
        runtime,
    })
}

/// Reads the journal in `dir` for the shards of `map` (the runtime's),
/// rewrites its files, and opens each shard's: what each shard takes.
fn load_journal(dir: &std::path::Path, map: &ShardMap) -> Result<ShardJournals, StartError> {
    let err = |source| StartError::Journal {
        path: dir.to_path_buf(),
        source,
    };
    let loaded = journal::load(dir, map).map_err(err)?;
    tracing::info!(
        dir = %dir.display(),
        files = loaded.files,
        calls = loaded.calls,
        records = loaded.read.records,
        damaged = loaded.read.corrupt,
        damaged_bytes = loaded.read.skipped_bytes,
        unknown = loaded.read.unknown,
        "dialog journal read"
    );
    let mut each = Vec::with_capacity(loaded.shards.len());
    for (i, calls) in loaded.shards.into_iter().enumerate() {
        each.push(Some((
            ShardJournal::open(dir, i as u16).map_err(err)?,
            calls,
        )));
    }
    Ok(std::sync::Mutex::new(each))
}

/// Each shard's journal file and the records of the calls it takes back,
/// taken by the shard when it starts.
type ShardJournals = std::sync::Mutex<Vec<Option<(ShardJournal, Vec<u8>)>>>;

#[derive(Debug)]
struct ShardSetup {
    bound: Vec<SocketAddr>,
    proxy: Arc<ProxyConfig>,
    services: Services,
    /// Where the shards hand their CDRs.
    cdr: Option<crate::cdr::CdrSender>,
    /// Where the shards publish quality scores for the control socket.
    board: Option<Arc<super::board::Board>>,
    control: Arc<Control>,
    grace: Duration,
    seed: u64,
    ready: std::sync::Mutex<std::sync::mpsc::Sender<std::io::Result<()>>>,
    /// Name lookups to the lookup threads, tagged with the asking shard.
    name_queries: crossbeam_channel::Sender<(u16, NameQuery)>,
    /// Each shard's answers, by shard id.
    name_answers: Vec<crossbeam_channel::Receiver<NameAnswer>>,
    /// The dialog journal (`[dialogs] journal`), when on.
    journal: Option<ShardJournals>,
}

/// One shard: its proxy core, run by the shared shard loop.
struct RouterShard {
    id: u16,
    core: ProxyCore,
    /// Spare buffers for the datagrams the core writes.
    bufs: Vec<Vec<u8>>,
    /// Where this shard's name lookups go, and where their answers come.
    name_queries: crossbeam_channel::Sender<(u16, NameQuery)>,
    name_answers: crossbeam_channel::Receiver<NameAnswer>,
    control: Arc<Control>,
    grace: Duration,
    /// The dump requests already answered.
    dumped: u64,
    /// The dispatcher changes last published on the board.
    pools_published: u64,
    /// Since when the shard drains (after a stop).
    stopping: Option<Instant>,
    /// When the shard next looks after itself.
    housekeeping: Instant,
    /// Requests refused for the transaction cap at the last housekeeping.
    overloaded: u64,
    /// The flood defence's gate, asked for every datagram before parsing.
    gate: Option<Gate>,
    /// The gate's bans already logged.
    bans_logged: u64,
    /// Where the core's CDRs go (the writer thread's queue).
    cdr: Option<crate::cdr::CdrSender>,
    /// Where this shard publishes its quality scores.
    board: Option<Arc<super::board::Board>>,
    /// This shard's dialog journal, when on.
    journal: Option<ShardJournal>,
}

impl RouterShard {
    fn report(&self, io: &ServeStats) -> ShardReport {
        let core = &self.core;
        let gateways = core.gateway_states();
        let destinations = core.dispatcher_states();
        ShardReport {
            gateways_probed: gateways.len() as u32,
            gateways_down: gateways.iter().filter(|(_, up)| !up).count() as u32,
            shard: self.id,
            counters: core.counters(),
            tx: core.tx_stats(),
            live_transactions: core.live_transactions(),
            handoffs_out: io.handoffs_out,
            handoffs_in: io.handoffs_in,
            send_errors: io.send_errors,
            kernel_drops: io.kernel_drops,
            gate: self.gate.as_ref().map(Gate::counters).unwrap_or_default(),
            calls: core.call_counters(),
            live_calls: core.live_calls(),
            destinations_probed: destinations.len() as u32,
            destinations_down: destinations.iter().filter(|(_, _, up)| !up).count() as u32,
            registrar: core.registrar_counters(),
        }
    }
}

impl RouterShard {
    /// Every [`HOUSEKEEPING`]: an overload since the last time is logged
    /// once, and memory left by a burst is given back.
    fn look_after(&mut self, now: Instant) {
        if let Some(b) = &self.board {
            b.publish(self.id, self.core.gateway_scores(now));
        }
        let refused = self.core.counters().overloaded;
        if refused > self.overloaded {
            tracing::warn!(
                shard = self.id,
                refused = refused - self.overloaded,
                live = self.core.live_transactions(),
                max = self.core.max_transactions(),
                "overload: new requests refused with 503 (the transaction table is full, or \
                 their source holds its share of it) in the last {} s",
                HOUSEKEEPING.as_secs()
            );
            self.overloaded = refused;
        }
        if self.core.shrink() >= TRIM_AFTER {
            trim_heap();
        }
    }
}

/// Asks the allocator to return its free memory to the system (glibc
/// keeps freed memory in its arenas: after a flood, the RSS would stay at
/// its peak).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // takes the arena locks itself and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Service for RouterShard {
    type Out = Out;

    /// The flood defence, on the source address alone: a banned source,
    /// or one over `flood_pps` (then banned), is dropped here.
    #[inline]
    fn admit(&mut self, now: Instant, src: SocketAddr) -> bool {
        let Some(gate) = self.gate.as_mut() else {
            return true;
        };
        match gate.check_addr(now, src) {
            GateVerdict::Pass => true,
            GateVerdict::Drop(DropReason::Banned) => false,
            GateVerdict::Drop(DropReason::Flood) => {
                let shield = gate.shield();
                if shield.is_banned(now, src.ip()) && gate.counters().bans_added > self.bans_logged
                {
                    self.bans_logged = gate.counters().bans_added;
                    tracing::warn!(
                        shard = self.id,
                        source = %src.ip(),
                        "flood: more than {} datagrams/s, dropped for {} s \
                         ([security] flood_pps, ban_s; trusted sources are never counted)",
                        shield.config().flood_pps,
                        shield.config().ban.as_secs()
                    );
                }
                false
            }
        }
    }

    /// The Call-ID's shard, found without parsing the message.
    fn owner(&self, map: &ShardMap, bytes: &[u8]) -> ShardId {
        find_call_id(bytes).map_or(ShardId(self.id), |s| map.owner(s.of(bytes)))
    }

    fn on_datagram(&mut self, now: Instant, bytes: &[u8], src: SocketAddr, socket: u32) {
        self.core.handle_datagram(now, bytes, src, socket as u16);
    }

    /// Transaction timers, name answers, counter dumps and the stop.
    fn on_timeout(&mut self, now: Instant, io: &mut Io) -> ControlFlow<()> {
        while let Ok((q, found)) = self.name_answers.try_recv() {
            self.core.handle_name_answer(now, &q, found);
        }
        // Routing rules' time windows read the wall clock through the
        // core: set whenever its timers run.
        self.core.set_wall_clock_ms(now, unix_ms());
        self.core.handle_timeout(now);
        // The dispatcher destinations' health, for `ctl dispatcher`, as
        // soon as it changes.
        let changes = self.core.dispatcher_changes();
        if let (Some(b), true) = (&self.board, changes != self.pools_published) {
            self.pools_published = changes;
            b.publish_pools(self.id, self.core.dispatcher_states());
        }
        let d = self.control.dump.load(Ordering::Relaxed);
        if d != self.dumped {
            self.dumped = d;
            tracing::info!("{}", self.report(&io.stats()));
            for (gateway, up) in self.core.gateway_states() {
                tracing::info!(shard = self.id, %gateway, up, "gateway");
            }
            for (set, destination, up) in self.core.dispatcher_states() {
                tracing::info!(shard = self.id, set, %destination, up, "dispatcher destination");
            }
            for (gateway, s) in self.core.gateway_scores(now) {
                tracing::info!(
                    shard = self.id,
                    %gateway,
                    attempts = s.attempts,
                    asr = format_args!("{:.3}", s.asr),
                    ner = format_args!("{:.3}", s.ner),
                    acd_s = format_args!("{:.1}", s.acd_s),
                    pdd_ms = format_args!("{:.0}", s.pdd_ms),
                    demoted = s.demoted,
                    "gateway quality"
                );
            }
            for (rule, action, hits) in self.core.policy_hits() {
                tracing::info!(shard = self.id, rule, action, hits, "policy rule");
            }
            for (limit, admitted, rejected) in self.core.rate_limit_counts() {
                tracing::info!(shard = self.id, limit, admitted, rejected, "rate limit");
            }
            if let (0, Some(limits)) = (self.id, self.core.call_limits()) {
                // Shared by the shards: one reports them.
                for l in limits.counts() {
                    tracing::info!(
                        key = l.key,
                        concurrent = l.concurrent,
                        concurrent_limit = ?l.concurrent_limit,
                        cps_limit = ?l.cps_limit,
                        admitted = l.admitted,
                        refused = l.refused,
                        "call limit"
                    );
                }
            }
            if let (0, Some(gate)) = (self.id, self.gate.as_ref()) {
                // The ban list is shared: one shard counts it (a scan of
                // `ban_capacity` entries, on demand only).
                let shield = gate.shield();
                tracing::info!(
                    banned_sources = shield.banned_now(now),
                    ban_capacity = shield.bans().capacity(),
                    "flood defence"
                );
            }
        }
        if let Some(j) = self.journal.as_mut() {
            j.flush(Some(now), &mut self.core);
        }
        if now >= self.housekeeping {
            self.housekeeping = now + HOUSEKEEPING;
            self.look_after(now);
        }
        if self.stopping.is_none() && self.control.stop.load(Ordering::Relaxed) {
            self.stopping = Some(now);
            self.core.set_draining(true);
        }
        if let Some(since) = self.stopping {
            let pending = self.core.pending_requests();
            if pending == 0 || now.duration_since(since) >= self.grace {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        let journal = self.journal.as_ref().and_then(ShardJournal::due);
        let due = Some(
            [self.core.poll_timeout(), journal]
                .into_iter()
                .flatten()
                .fold(self.housekeeping, Instant::min),
        );
        if self.stopping.is_some() {
            // Draining: look at the pending requests every tick.
            return due.map(|d| d.min(now + TICK));
        }
        due
    }

    /// Everything the core has produced; names to look up go to the
    /// lookup threads (never blocking here; a full queue fails the lookup
    /// at once).
    fn poll_transmit(&mut self, out: &mut Vec<Out>) {
        if let Some(j) = self.journal.as_mut() {
            j.collect(&mut self.core);
        }
        while let Some(cdr) = self.core.poll_cdr() {
            // Never blocks: a full queue counts the record as dropped.
            if let Some(s) = &self.cdr {
                s.send(cdr);
            }
        }
        while let Some(q) = self.core.poll_name_query() {
            if let Err(e) = self.name_queries.try_send((self.id, q)) {
                let (_, q) = e.into_inner();
                self.core
                    .handle_name_answer(Instant::now(), &q, Err("lookup queue full".into()));
            }
        }
        loop {
            let mut buf = self.bufs.pop().unwrap_or_default();
            let Some(t) = self.core.poll_transmit(&mut buf) else {
                self.bufs.push(buf);
                break;
            };
            out.push(Out {
                bytes: buf,
                dest: t.dest,
                local: t.local,
            });
        }
    }

    fn sent(&mut self, out: &mut Vec<Out>) {
        self.bufs.extend(out.drain(..).map(|o| o.bytes));
    }

    fn send_failed(&mut self, dest: SocketAddr, err: std::io::Error) {
        tracing::debug!(%dest, "send failed: {err}");
    }

    fn recv_failed(&mut self, _socket: u32, err: std::io::Error) {
        tracing::debug!("recv failed: {err}");
    }
}

/// One datagram to send, and the local socket it leaves from.
struct Out {
    bytes: Vec<u8>,
    dest: SocketAddr,
    local: u16,
}

impl Datagram for Out {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn dest(&self) -> SocketAddr {
        self.dest
    }
}

impl Outbound for Out {
    fn socket(&self) -> u32 {
        u32::from(self.local)
    }
}

fn run_shard(ctx: ShardCtx, setup: Arc<ShardSetup>) -> ShardReport {
    let id = ctx.id.0;
    // `start` records the wakers right after the threads start: wait for
    // it, so a name answer or a stop can never find them missing.
    while setup.control.wakers.get().is_none() {
        std::thread::yield_now();
    }
    let ready = setup.ready.lock().map(|t| t.clone());
    let failed = |e: std::io::Error| {
        if let Ok(r) = &ready {
            let _ = r.send(Err(std::io::Error::other(e.to_string())));
        }
        ShardReport {
            shard: id,
            ..ShardReport::default()
        }
    };
    let opts = ServeOptions {
        batch: RECV_BATCH,
        slot_len: setup.proxy.limits.max_message + 1,
        timer_granularity: TICK,
        ..ServeOptions::default()
    };
    let mut io = match Io::new(&ctx.waker, &opts) {
        Ok(io) => io,
        Err(e) => {
            tracing::error!(shard = id, "cannot wait for events: {e}");
            return failed(e);
        }
    };
    for (local, addr) in setup.bound.iter().enumerate() {
        if let Err(e) = UdpTransport::bind(*addr).and_then(|s| io.add_socket(local as u32, s)) {
            tracing::error!(shard = id, %addr, "cannot bind: {e}");
            return failed(e);
        }
    }
    let mut core = ProxyCore::for_shard(
        setup.proxy.clone(),
        &setup.services,
        id,
        setup.seed ^ id as u64,
    );
    core.set_wall_clock_ms(Instant::now(), unix_ms());
    let journal = take_journal(&setup, id, &mut core);
    let mut shard = RouterShard {
        id,
        core,
        bufs: Vec::new(),
        name_queries: setup.name_queries.clone(),
        name_answers: setup.name_answers[usize::from(id)].clone(),
        control: setup.control.clone(),
        grace: setup.grace,
        dumped: setup.control.dump.load(Ordering::Relaxed),
        pools_published: u64::MAX,
        stopping: None,
        housekeeping: Instant::now() + HOUSEKEEPING,
        overloaded: 0,
        gate: setup.services.shield.as_ref().map(|s| s.gate()),
        bans_logged: 0,
        cdr: setup.cdr.clone(),
        board: setup.board.clone(),
        journal,
    };
    if let Ok(r) = ready {
        let _ = r.send(Ok(()));
    }
    let stats = serve(&ctx, &mut io, &mut shard);
    if let Some(j) = shard.journal.as_mut() {
        // What the last passes produced (a stop is not a call's end: the
        // live calls stay in the journal for the next start).
        j.collect(&mut shard.core);
        j.flush(None, &mut shard.core);
    }
    // The sockets close before the shard reports back.
    drop(io);
    shard.report(&stats)
}

/// Shard `id`'s journal, with the calls it owns taken back into `core`
/// (before it serves); `None` without a journal, or when the core tracks
/// no calls (stateless mode: the file keeps them for a later start).
fn take_journal(setup: &ShardSetup, id: u16, core: &mut ProxyCore) -> Option<ShardJournal> {
    let (journal, records) = setup
        .journal
        .as_ref()?
        .lock()
        .ok()?
        .get_mut(usize::from(id))?
        .take()?;
    if !core.enable_journal() {
        if id == 0 {
            tracing::warn!("[dialogs] journal: calls are not tracked (stateless mode): not used");
        }
        return None;
    }
    let now = Instant::now();
    let (mut restored, mut refused) = (0u64, 0u64);
    for rec in Reader::new(&records) {
        if let Record::Call(c) = rec {
            match core.restore_call(now, &c) {
                Ok(()) => restored += 1,
                Err(_) => refused += 1,
            }
        }
    }
    if restored + refused > 0 {
        tracing::info!(
            shard = id,
            restored,
            refused,
            "calls taken back from the dialog journal"
        );
    }
    Some(journal)
}
