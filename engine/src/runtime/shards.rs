//! The running shards: one per core (glommio), each with its own
//! SO_REUSEPORT socket per listen address, its own [`ProxyCore`], and the
//! cross-shard mesh that hands every datagram to the shard owning its
//! Call-ID. Started by [`super::RouterBuilder`].
//!
//! Every shard binds the same address:port, so a reply leaves from the
//! advertised address whichever shard sends it.

use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use trunkline_parser::find_call_id;
use trunkline_routing_tables::At;
use trunkline_shards::runtime::{HandoffPool, Runtime, RuntimeBuilder, ShardCtx};
use trunkline_shards::tx::TxStats;
use trunkline_shards::udp::{Datagram, RecvBatch, SendScratch, UdpTransport};

use crate::config::Config;
use crate::dns::lookups::{NameAnswer, NameLookups};
use crate::dns::{NameQuery, Resolver};
use crate::proxy::{Counters, ProxyConfig, ProxyCore, Services};

/// How often each shard runs its transaction timers. SIP timers are
/// counted in hundreds of milliseconds; a 10 ms tick costs nothing.
const TICK: Duration = Duration::from_millis(10);

/// Datagrams read per `recvmmsg`: enough that a busy shard makes one
/// receive syscall for many datagrams, few enough that the first reply of
/// a batch is not held back long (a batch is processed before it is sent).
const RECV_BATCH: usize = 32;

use super::StartError;

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
}

impl std::fmt::Display for ShardReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counters;
        write!(
            f,
            "shard {}: received={} sent={} parse_errors={} invalid={} keepalives={} \
requests_forwarded={} responses_forwarded={} local_replies={} dropped={} overloaded={} \
lcr_routed={} lcr_no_route={} lcr_failovers={} lcr_capped={} lcr_down_skipped={} lcr_family_skipped={} \
names_parked={} names_failed={} names_failovers={} probes_sent={} probe_failures={} gateways_probed={} gateways_down={} transactions_live={} retransmissions={} absorbed={} timeouts={} handoffs_out={} handoffs_in={} send_errors={}",
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
            c.overloaded,
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
        )
    }
}

#[derive(Debug, Default)]
struct Control {
    stop: AtomicBool,
    dump: AtomicU64,
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
    }

    /// Starts a graceful shutdown: new requests get 503, live transactions
    /// finish within the grace period.
    pub fn stop(&self) {
        self.control.stop.store(true, Ordering::Relaxed);
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
    }

    /// Asks every shard to print its counters.
    pub fn dump_counters(&self) {
        self.0.dump.fetch_add(1, Ordering::Relaxed);
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
    resolver: impl Fn() -> Resolver,
) -> Result<RunningShards, StartError> {
    let (bound, holders) = reserve(&cfg.listen)?;
    let proxy = cfg.proxy_for(&bound);
    let control = Arc::new(Control::default());
    let grace = cfg.shutdown_grace;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let lookups = NameLookups::spawn(cfg.shards, resolver).map_err(StartError::Lookups)?;
    let shard_cfg = Arc::new(ShardSetup {
        bound: bound.clone(),
        proxy,
        services,
        control: control.clone(),
        grace,
        seed,
        ready: std::sync::Mutex::new(ready_tx),
        name_queries: lookups.queries,
        name_answers: lookups.answers,
    });
    let runtime = RuntimeBuilder::new()
        .shards(cfg.shards)
        .cpus(cfg.cpus.clone())
        .seed(seed)
        .name("trunkline")
        .spawn(move |ctx| {
            let setup = shard_cfg.clone();
            async move { run_shard(ctx, setup).await }
        })?;
    // Return once every shard has bound its sockets: a datagram sent after
    // `start` returns is never lost.
    for _ in 0..cfg.shards {
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                control.stop.store(true, Ordering::Relaxed);
                let _ = runtime.join();
                return Err(StartError::Bind {
                    addr: bound[0],
                    source,
                });
            }
            Err(_) => {
                control.stop.store(true, Ordering::Relaxed);
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

#[derive(Debug)]
struct ShardSetup {
    bound: Vec<SocketAddr>,
    proxy: Arc<ProxyConfig>,
    services: Services,
    control: Arc<Control>,
    grace: Duration,
    seed: u64,
    ready: std::sync::Mutex<std::sync::mpsc::Sender<std::io::Result<()>>>,
    /// Name lookups to the lookup threads, tagged with the asking shard.
    name_queries: crossbeam_channel::Sender<(u16, NameQuery)>,
    /// Each shard's answers, by shard id.
    name_answers: Vec<crossbeam_channel::Receiver<NameAnswer>>,
}

/// One shard's state, shared by its tasks (single-threaded: Rc/RefCell).
struct Shard {
    id: u16,
    core: RefCell<ProxyCore>,
    sockets: Vec<UdpTransport>,
    ctx: ShardCtx,
    bufs: RefCell<Vec<Vec<u8>>>,
    /// Batches of outgoing datagrams (taken while a flush sends one, so
    /// two tasks flushing at once each have their own).
    out: RefCell<Vec<OutBatch>>,
    /// Buffers of handoffs received, reused for handoffs sent: SIP traffic
    /// flows both ways between shards, so buffers circulate instead of
    /// being allocated per datagram.
    handoff_pool: HandoffPool,
    handoffs_out: Cell<u64>,
    handoffs_in: Cell<u64>,
    send_errors: Cell<u64>,
    /// Where this shard's name lookups go.
    name_queries: crossbeam_channel::Sender<(u16, NameQuery)>,
}

impl Shard {
    fn report(&self) -> ShardReport {
        let core = self.core.borrow();
        let gateways = core.gateway_states();
        ShardReport {
            gateways_probed: gateways.len() as u32,
            gateways_down: gateways.iter().filter(|(_, up)| !up).count() as u32,
            shard: self.id,
            counters: core.counters(),
            tx: core.tx_stats(),
            live_transactions: core.live_transactions(),
            handoffs_out: self.handoffs_out.get(),
            handoffs_in: self.handoffs_in.get(),
            send_errors: self.send_errors.get(),
        }
    }

    /// Processes a datagram this shard owns, then sends what it produced.
    async fn process(&self, bytes: &[u8], src: SocketAddr, local: u16) {
        self.core
            .borrow_mut()
            .handle_datagram(Instant::now(), bytes, src, local);
        self.flush().await;
    }

    /// A datagram from the network: process it here (what it produces is
    /// sent by the next [`Shard::flush`]), or hand it to its owner shard,
    /// found from the Call-ID without parsing the message.
    async fn on_datagram(&self, now: Instant, bytes: &[u8], src: SocketAddr, local: u16) {
        let map = &self.ctx.map;
        if map.shards() > 1 {
            let owner = find_call_id(bytes).map_or(self.id, |s| map.owner(s.of(bytes)).0);
            if owner != self.id {
                // The batch's clock reading: when it was received.
                let h = self.handoff_pool.handoff(bytes, src, local, now);
                self.handoffs_out.set(self.handoffs_out.get() + 1);
                if let Err(e) = self.ctx.hand_off(owner, h).await {
                    tracing::debug!(owner, "handoff failed: {e}");
                }
                return;
            }
        }
        self.core
            .borrow_mut()
            .handle_datagram(now, bytes, src, local);
    }

    /// Sends everything the core has produced: one `sendmmsg` per run of
    /// datagrams leaving from the same socket.
    async fn flush(&self) {
        let mut batch = self.out.borrow_mut().pop().unwrap_or_default();
        {
            let mut core = self.core.borrow_mut();
            // Names to look up go to the lookup threads (never blocking
            // here); a full queue fails the lookup at once.
            while let Some(q) = core.poll_name_query() {
                if let Err(e) = self.name_queries.try_send((self.id, q)) {
                    let (_, q) = e.into_inner();
                    core.handle_name_answer(Instant::now(), &q, Err("lookup queue full".into()));
                }
            }
            let mut bufs = self.bufs.borrow_mut();
            loop {
                let mut buf = bufs.pop().unwrap_or_default();
                let Some(t) = core.poll_transmit(&mut buf) else {
                    bufs.push(buf);
                    break;
                };
                batch.msgs.push(Out {
                    bytes: buf,
                    dest: t.dest,
                    local: t.local,
                });
            }
        }
        let errors = &self.send_errors;
        for run in batch.msgs.chunk_by(|a, b| a.local == b.local) {
            let sock = &self.sockets[run[0].local as usize % self.sockets.len()];
            sock.send_batch(run, &mut batch.scratch, |dest, e| {
                errors.set(errors.get() + 1);
                tracing::debug!(%dest, "send failed: {e}");
            })
            .await;
        }
        self.bufs
            .borrow_mut()
            .extend(batch.msgs.drain(..).map(|o| o.bytes));
        self.out.borrow_mut().push(batch);
    }
}

/// Datagrams produced by the core, sent together by [`Shard::flush`].
#[derive(Default)]
struct OutBatch {
    msgs: Vec<Out>,
    scratch: SendScratch,
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

async fn run_shard(mut ctx: ShardCtx, setup: Arc<ShardSetup>) -> ShardReport {
    let id = ctx.id.0;
    let mut sockets = Vec::new();
    let ready = setup.ready.lock().map(|t| t.clone());
    for addr in &setup.bound {
        match UdpTransport::bind(*addr) {
            Ok(s) => sockets.push(s),
            Err(e) => {
                tracing::error!(shard = id, %addr, "cannot bind: {e}");
                if let Ok(r) = &ready {
                    let _ = r.send(Err(std::io::Error::other(e.to_string())));
                }
                return ShardReport {
                    shard: id,
                    ..ShardReport::default()
                };
            }
        }
    }
    let streams = ctx.receivers.streams();
    let mut core = ProxyCore::for_shard(
        setup.proxy.clone(),
        &setup.services,
        id,
        setup.seed ^ id as u64,
    );
    core.set_wall_clock(Instant::now(), At::now());
    let shard = Rc::new(Shard {
        id,
        core: RefCell::new(core),
        sockets,
        ctx,
        bufs: RefCell::new(Vec::new()),
        out: RefCell::new(Vec::new()),
        handoff_pool: HandoffPool::default(),
        handoffs_out: Cell::new(0),
        handoffs_in: Cell::new(0),
        send_errors: Cell::new(0),
        name_queries: setup.name_queries.clone(),
    });
    let name_answers = setup.name_answers[usize::from(id)].clone();
    let max = setup.proxy.limits.max_message + 1;
    // Task handles: dropping them at the end cancels the tasks, which
    // releases the sockets before the shard reports back.
    let mut tasks = Vec::new();
    for local in 0..shard.sockets.len() {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            let mut batch = RecvBatch::new(RECV_BATCH, max);
            let sock = &shard.sockets[local];
            loop {
                // Drain what is queued, a batch per syscall, sending what
                // each batch produced before reading the next; then wait.
                loop {
                    match sock.try_recv_batch(&mut batch) {
                        Ok(0) => break,
                        Ok(n) => {
                            let now = Instant::now();
                            for i in 0..n {
                                if let Some((bytes, src)) = batch.get(i) {
                                    shard.on_datagram(now, bytes, src, local as u16).await;
                                }
                            }
                            shard.flush().await;
                            if n < batch.capacity() {
                                // Most likely empty: the wait's own
                                // non-blocking peek tells.
                                break;
                            }
                            // Let the handoff and timer tasks run.
                            glommio::yield_if_needed().await;
                        }
                        Err(e) => {
                            tracing::debug!("recv failed: {e}");
                            break;
                        }
                    }
                }
                if let Err(e) = sock.readable().await {
                    tracing::debug!("wait failed: {e}");
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                }
            }
        }));
    }
    for (_, stream) in streams {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            while let Some(h) = stream.recv().await {
                shard.handoffs_in.set(shard.handoffs_in.get() + 1);
                shard.process(&h.bytes, h.src, h.local).await;
                shard.handoff_pool.give_back(h.bytes);
            }
        }));
    }

    if let Ok(r) = ready {
        let _ = r.send(Ok(()));
    }

    // Timers, signals and shutdown.
    let mut dumped = setup.control.dump.load(Ordering::Relaxed);
    let mut stopping: Option<Instant> = None;
    loop {
        glommio::timer::sleep(TICK).await;
        let now = Instant::now();
        while let Ok((q, found)) = name_answers.try_recv() {
            shard.core.borrow_mut().handle_name_answer(now, &q, found);
        }
        {
            let mut core = shard.core.borrow_mut();
            // Routing rules' time windows read the wall clock through the
            // core: set once per tick.
            core.set_wall_clock(now, At::now());
            core.handle_timeout(now);
        }
        shard.flush().await;
        let d = setup.control.dump.load(Ordering::Relaxed);
        if d != dumped {
            dumped = d;
            tracing::info!("{}", shard.report());
            for (gateway, up) in shard.core.borrow().gateway_states() {
                tracing::info!(shard = shard.id, %gateway, up, "gateway");
            }
        }
        if stopping.is_none() && setup.control.stop.load(Ordering::Relaxed) {
            stopping = Some(now);
            shard.core.borrow_mut().set_draining(true);
        }
        if let Some(since) = stopping {
            let pending = shard.core.borrow().pending_requests();
            if pending == 0 || now.duration_since(since) >= setup.grace {
                break;
            }
        }
    }
    let report = shard.report();
    drop(tasks);
    report
}
