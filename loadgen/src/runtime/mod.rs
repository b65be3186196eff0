//! Running a scenario on every core: what trunkload adds to SIPp.
//!
//! One pinned thread per shard running the shard loop of
//! `trunkline-shards` (`serve`: read a batch, hand off or process, flush,
//! wait), shared with the router; a shard's calls are its `Service`.
//! Each shard owns its calls, its timers and its statistics; nothing
//! mutable is shared but a few atomics the main thread uses to steer the
//! run (quit, rate) and count calls (`-m` in server mode, and the calls
//! in progress for `-l`, which holds for the whole run).
//!
//! - **Client scenarios** (the first element is a `<send>`): every shard
//!   has a socket of its own (shard 0 on `-p`, the others on ephemeral
//!   ports) and places its share of the rate, so a call lives on the shard
//!   that created it and every reply comes back to that shard's port (its
//!   `[local_port]` is in the Via and the Contact). The rate is paced open
//!   loop: shard `i` of `n` places call `k` at `start + (i + k·n)/rate`,
//!   and response times and call lengths count from that intended instant,
//!   so a late sender shows up in the latency instead of hiding it
//!   (no coordinated omission).
//! - **Server scenarios** (the first element is a `<recv>`): every shard
//!   binds `-p` with SO_REUSEPORT; a datagram that lands on a shard which
//!   does not own its Call-ID is handed to the owner raw, through the
//!   runtime's channel mesh.
//!
//! SIPp's receive path (`socket.cpp::process_message`) is followed: a
//! message without `SIP/2.0` or without a Call-ID is dropped with a
//! warning; a known Call-ID goes to its call; a recently ended one is a
//! dead-call message; an unknown one creates a call (server); in a client
//! a request with an unknown Call-ID runs the out-of-call scenario
//! (`-oocsf`/`-oocsn`), or with `-aa` an INFO, NOTIFY, OPTIONS or UPDATE
//! is answered 200, and anything else is discarded and counted out of
//! call ([`OutOfCall`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hashbrown::HashMap;
use trunkline_shards::runtime::{RuntimeBuilder, ShardCtx};
use trunkline_shards::serve::{Io, Outbound, ServeOptions, Service, serve};
use trunkline_shards::udp::{UdpTransport, udp_socket};
use trunkline_shards::{ShardId, ShardMap};

use crate::call::{Call, CallConfig, Env, Event, Outgoing, Status, Value, sipmsg};
use crate::inject::InjectMode;
use crate::scenario::Mode;
use crate::stats::{Peak, Stats};

mod drive;
mod remote;

pub use drive::{DriveParams, Outcome, RateIncrease, Sink, drive};
pub use remote::RemoteControl;

/// How the run is steered; built by `main` from the options.
#[derive(Debug, Clone)]
pub struct RunParams {
    /// The main scenario's call configuration.
    pub cfg: Arc<CallConfig>,
    /// What a client does with a request whose Call-ID it does not know
    /// (`None`: discard it, counted in `OutOfCallMsgs`).
    pub ooc: Option<OutOfCall>,
    /// The `<init>` stanza as a scenario of its own, run once per shard
    /// before anything else (it sets `<Global>` variables).
    pub init: Option<Arc<CallConfig>>,
    /// Number of shards.
    pub shards: u16,
    /// CPUs to pin shards to (`--cpus`).
    pub cpus: Option<Vec<usize>>,
    /// Local address to bind (`-i` with `-bind_local`, else the wildcard).
    pub bind_ip: IpAddr,
    /// `-p`; `None` tries 5060..5119, then an ephemeral port, as SIPp does.
    pub port: Option<u16>,
    /// Calls per second (`-r` over `-rp`).
    pub rate_cps: f64,
    /// `-l`: most calls open at once.
    pub limit: Option<u64>,
    /// `-m`: stop after this many calls.
    pub max_calls: Option<u64>,
    /// `-users`: a fixed population of users, one call each at a time.
    pub users: Option<u64>,
    /// `-deadcall_wait`.
    pub deadcall_wait: Duration,
    /// Largest datagram accepted.
    pub max_message: usize,
    /// `-trace_msg` / `-trace_shortmsg`: report every message.
    pub trace_messages: bool,
    /// `-trace_rtt`: keep every response-time sample.
    pub trace_rtt: bool,
    /// `-t un`: client calls each get a socket of their own (ephemeral
    /// port), up to `max_socket` open per run; past that a call uses its
    /// shard's socket.
    pub socket_per_call: bool,
    /// `-max_socket`.
    pub max_socket: u32,
    /// `-set NAME VALUE`: initial values of `<Global>` variables.
    pub globals: Vec<Value>,
}

/// How a client answers a request whose Call-ID it does not know (SIPp's
/// `process_message`); without either, it is discarded and counted in
/// `OutOfCallMsgs`.
#[derive(Debug, Clone)]
pub enum OutOfCall {
    /// `-oocsf` / `-oocsn`: every such request starts a call of this
    /// scenario (a response is still counted out of call).
    Scenario(Arc<CallConfig>),
    /// `-aa` (and no out-of-call scenario): an INFO, NOTIFY, OPTIONS or
    /// UPDATE starts a call of `ooc_dummy`, whose automatic response
    /// answers it 200 OK; anything else is discarded.
    AutoAnswer(Arc<CallConfig>),
}

impl OutOfCall {
    /// The configuration of the calls it starts.
    pub fn cfg(&self) -> &Arc<CallConfig> {
        match self {
            OutOfCall::Scenario(c) | OutOfCall::AutoAnswer(c) => c,
        }
    }
}

/// What a shard reports to the main thread.
#[derive(Debug)]
pub enum Report {
    /// A snapshot of a shard's statistics (cumulative), with the
    /// `-trace_rtt` samples taken since the previous one.
    Stats {
        /// The shard.
        shard: u16,
        /// The snapshot.
        stats: Box<Stats>,
        /// When it was taken: every sample of the shard taken before is
        /// in this snapshot or an earlier one.
        taken: SystemTime,
        /// The shard's last report.
        last: bool,
    },
    /// A message sent or received, for `-trace_msg` / `-trace_shortmsg`.
    Message {
        /// Sent (true) or received.
        sent: bool,
        /// The peer.
        peer: SocketAddr,
        /// Our socket.
        local: SocketAddr,
        /// When.
        wall: SystemTime,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// A warning or an error for the error log.
    Error(String),
    /// `<log>` output.
    Log(Vec<u8>),
    /// `<exec command>`: run through `sh -c` by the main thread.
    Exec(String),
    /// `stop_gracefully`.
    StopGracefully,
    /// `stop_now` (exit 97).
    StopNow,
    /// `<error>` (exit 255).
    Fatal(String),
}

/// Quit levels, as SIPp's `quitting` (first `q` / SIGINT: no new calls;
/// second: abort the calls in progress).
pub mod quit {
    /// Running.
    pub const RUN: u8 = 0;
    /// No new calls; let the open ones finish.
    pub const GRACEFUL: u8 = 1;
    /// Abort the open calls (BYE/CANCEL) and stop.
    pub const ABORT: u8 = 2;
}

/// Shared between the main thread and the shards.
#[derive(Debug, Default)]
pub struct Control {
    /// [`quit`] level.
    pub quit: AtomicU8,
    /// Calls per second (f64 bits); changed by `-rate_increase`.
    pub rate_bits: AtomicU64,
    /// Traffic paused (remote control `p`): no new calls until resumed.
    pub paused: std::sync::atomic::AtomicBool,
    /// The open-call limit set by the remote control's `cset limit N`
    /// (0: none set; `-l` stays in force), for the whole run.
    pub limit: AtomicU64,
    /// Calls of the main scenario in progress on every shard (`-l`).
    pub calls: OpenCalls,
    /// Calls ended (all shards).
    pub ended: AtomicU64,
    /// Server calls created (all shards): `-m` in server mode.
    pub created: AtomicU64,
    /// Server call numbers handed out (all shards).
    pub numbered: AtomicU64,
    /// Shards that have finished.
    pub done: AtomicUsize,
}

/// The calls of the main scenario in progress on every shard (SIPp's
/// `CurrentCall`), counted where they start and end so that `-l` holds
/// for the whole run, and their true peak: one atomic read-modify-write
/// per call start and end (and one more when the peak rises), no lock,
/// no syscall. (Splitting `-l` between the shards could not: a share of
/// 0 or 1 per shard either breaks a limit below the shard count or
/// idles a shard while another has room.)
#[derive(Debug)]
pub struct OpenCalls {
    open: AtomicU64,
    /// The peak: calls << [`PEAK_SECS_BITS`] | seconds since `start`, in
    /// one word so that the two always go together.
    peak: AtomicU64,
    start: Instant,
}

/// Bits of [`OpenCalls`]'s peak word for the seconds (194 days; later
/// peaks keep the largest time).
const PEAK_SECS_BITS: u32 = 24;

impl Default for OpenCalls {
    fn default() -> Self {
        OpenCalls {
            open: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            start: Instant::now(),
        }
    }
}

impl OpenCalls {
    /// A call starts if fewer than `limit` are in progress (`None`: no
    /// limit); `false`: it may not (the due call is skipped, as SIPp's
    /// call generation does over `-l`).
    pub fn try_open(&self, limit: Option<u64>) -> bool {
        let before = match limit {
            None => self.open.fetch_add(1, Ordering::Relaxed),
            Some(limit) => match self
                .open
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < limit).then_some(n + 1)
                }) {
                Ok(n) => n,
                Err(_) => return false,
            },
        };
        self.raise_peak(before + 1);
        true
    }

    /// Records `open` calls in progress as the peak if it is one (SIPp's
    /// `computeStat` on a call's creation).
    fn raise_peak(&self, open: u64) {
        if open <= self.peak.load(Ordering::Relaxed) >> PEAK_SECS_BITS {
            return;
        }
        let secs = self
            .start
            .elapsed()
            .as_secs()
            .min((1 << PEAK_SECS_BITS) - 1);
        let word = open << PEAK_SECS_BITS | secs;
        let _ = self
            .peak
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                (open > p >> PEAK_SECS_BITS).then_some(word)
            });
    }

    /// The peak so far.
    pub fn peak(&self) -> Peak {
        let p = self.peak.load(Ordering::Relaxed);
        Peak {
            calls: p >> PEAK_SECS_BITS,
            after_s: p & ((1 << PEAK_SECS_BITS) - 1),
        }
    }

    /// A call ended.
    pub fn close(&self) {
        let _ = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Calls in progress now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }
}

impl Control {
    /// The current rate, calls per second.
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
    /// Sets the rate.
    pub fn set_rate(&self, cps: f64) {
        self.rate_bits.store(cps.to_bits(), Ordering::Relaxed);
    }
    /// Raises the quit level (never lowers it).
    pub fn quit(&self, level: u8) {
        self.quit.fetch_max(level, Ordering::Relaxed);
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A socket could not be bound (SIPp exits 254 then).
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The shards could not start.
    #[error(transparent)]
    Runtime(#[from] trunkline_shards::runtime::RuntimeError),
}

/// A started run.
#[derive(Debug)]
pub struct Running {
    /// Steering.
    pub control: Arc<Control>,
    /// Reports from the shards.
    pub reports: mpsc::Receiver<Report>,
    /// The local address of each shard's socket.
    pub local_addrs: Vec<SocketAddr>,
    runtime: trunkline_shards::runtime::Runtime<Stats>,
    shards: usize,
}

impl Running {
    /// Whether every shard has finished.
    pub fn finished(&self) -> bool {
        self.control.done.load(Ordering::Acquire) >= self.shards
    }

    /// Waits for the shards and returns their final statistics.
    pub fn join(self) -> Vec<Stats> {
        self.runtime
            .join()
            .into_iter()
            .filter_map(|r| {
                r.map_err(|e| eprintln!("trunkload: a shard failed: {e}"))
                    .ok()
            })
            .collect()
    }
}

/// Binds the sockets (so a port problem is reported before anything
/// starts) and starts the shards.
pub fn start(params: RunParams) -> Result<Running, RunError> {
    let shards = params.shards.max(1);
    let mode = params.cfg.scenario.mode;
    let sockets = bind_sockets(&params, shards, mode)?;
    let local_addrs: Vec<SocketAddr> = sockets
        .iter()
        .map(|s| {
            s.local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .unwrap_or_else(|| SocketAddr::new(params.bind_ip, 0))
        })
        .collect();
    let control = Arc::new(Control::default());
    control.set_rate(params.rate_cps);
    let (tx, rx) = mpsc::channel();
    let setup = Arc::new(Setup {
        params,
        control: control.clone(),
        sockets: Mutex::new(sockets.into_iter().map(Some).collect()),
        local_addrs: local_addrs.clone(),
        reports: Mutex::new(tx),
        start: Instant::now(),
    });
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let runtime = RuntimeBuilder::new()
        .shards(shards)
        .cpus(setup.params.cpus.clone())
        .seed(seed)
        .name("trunkload")
        .spawn(move |ctx| {
            let stats = run_shard(ctx, setup.clone(), seed);
            setup.control.done.fetch_add(1, Ordering::Release);
            stats
        })?;
    Ok(Running {
        control,
        reports: rx,
        local_addrs,
        runtime,
        shards: shards as usize,
    })
}

fn bind_sockets(p: &RunParams, shards: u16, mode: Mode) -> Result<Vec<socket2::Socket>, RunError> {
    let bind = |port: u16, reuse: bool| {
        let addr = SocketAddr::new(p.bind_ip, port);
        udp_socket(addr, reuse).map_err(|source| RunError::Bind { addr, source })
    };
    // The first socket: `-p`, or the first free of 5060..5119, or any.
    let first_port = |reuse: bool| -> Result<socket2::Socket, RunError> {
        match p.port {
            Some(port) => bind(port, reuse),
            None => {
                for port in 5060..5120 {
                    if let Ok(s) = bind(port, reuse) {
                        return Ok(s);
                    }
                }
                bind(0, reuse)
            }
        }
    };
    let mut out = Vec::with_capacity(shards as usize);
    match mode {
        Mode::Client => {
            out.push(first_port(false)?);
            for _ in 1..shards {
                out.push(bind(0, false)?);
            }
        }
        Mode::Server => {
            // Check the port is ours alone first: SO_REUSEPORT would
            // otherwise share it silently with another process of ours.
            let probe = first_port(false)?;
            let port = probe
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .map_or(0, |a| a.port());
            drop(probe);
            for _ in 0..shards {
                out.push(bind(port, true)?);
            }
        }
    }
    Ok(out)
}

#[derive(Debug)]
struct Setup {
    params: RunParams,
    control: Arc<Control>,
    sockets: Mutex<Vec<Option<socket2::Socket>>>,
    local_addrs: Vec<SocketAddr>,
    reports: Mutex<mpsc::Sender<Report>>,
    start: Instant,
}

/// A live call and its bookkeeping.
#[derive(Debug)]
struct Slot {
    call: Call,
    /// Bumped when the slot is reused, so stale timer entries are ignored.
    generation: u32,
    /// The instant of the timer entry that is current, if any.
    armed: Option<Instant>,
    /// The `-users` user it belongs to.
    user: Option<u64>,
    /// An out-of-call call (statistics go to the out-of-call scenario).
    ooc: bool,
    /// Its key in the Call-ID map.
    key: Vec<u8>,
}

/// How often a shard sends its statistics to the main thread.
const STATS_EVERY: Duration = Duration::from_millis(250);
/// Longest time between two ticks (how quickly a shard sees the quit
/// flag and rate changes from the main thread).
const MAX_SLEEP: Duration = Duration::from_millis(10);
/// Least time between two ticks: due timers and calls are handled in
/// batches this far apart at least.
const TIMER_GRANULARITY: Duration = Duration::from_micros(500);
/// Most dead-call entries kept per shard.
const MAX_DEAD: usize = 1 << 20;

/// One shard's state. Only touched from its own executor.
struct State {
    id: u16,
    nshards: u16,
    setup: Arc<Setup>,
    reports: mpsc::Sender<Report>,
    local_port: u16,
    local_addr: SocketAddr,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    generations: Vec<u32>,
    by_id: HashMap<Vec<u8>, u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    dead: HashMap<Vec<u8>, Instant>,
    dead_order: VecDeque<(Instant, Vec<u8>)>,
    stats: Stats,
    ooc_stats: Stats,
    out: Vec<Outgoing>,
    pool: Vec<Vec<u8>>,
    events: Vec<Event>,
    rng: fastrand::Rng,
    globals: Vec<Value>,
    /// Client pacing: rate slots used by this shard (a slot skipped for
    /// `-l` counts), calls created, and what is left of `-m`.
    placed: u64,
    created: u64,
    budget: Option<u64>,
    free_users: VecDeque<u64>,
    /// Pacing epoch: (instant, calls placed then, per-shard rate).
    epoch: (Instant, u64, f64),
    /// Calls of the main scenario open on this shard (`-l`).
    open_main: u64,
    /// `-t un`: the calls' own sockets (number → port; 0 is the
    /// shard's), those opened but not yet read by the shard loop, and
    /// those to close.
    call_sockets: HashMap<u32, u16>,
    next_socket: u32,
    sockets_opened: Vec<(u32, socket2::Socket)>,
    sockets_closed: Vec<u32>,
    max_call_sockets: usize,
    last_stats: Instant,
}

impl State {
    fn report(&self, r: Report) {
        let _ = self.reports.send(r);
    }

    fn env_parts(&mut self) -> EnvParts<'_> {
        EnvParts {
            stats: &mut self.stats,
            ooc_stats: &mut self.ooc_stats,
            out: &mut self.out,
            pool: &mut self.pool,
            events: &mut self.events,
            rng: &mut self.rng,
            globals: &mut self.globals,
        }
    }

    fn insert(&mut self, call: Call, key: Vec<u8>, user: Option<u64>, ooc: bool) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.generations.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.generations[idx as usize];
        if !ooc {
            self.open_main += 1;
        }
        self.by_id.insert(key.clone(), idx);
        self.slots[idx as usize] = Some(Slot {
            call,
            generation,
            armed: None,
            user,
            ooc,
            key,
        });
        idx
    }

    /// After a call moved: re-arm its timer, or retire it.
    fn settle(&mut self, idx: u32, status: Status, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        match status {
            Status::Alive => {
                let at = slot.call.wake_at();
                if at.is_some() && at != slot.armed {
                    let t = at.unwrap_or(now);
                    self.timers.push(Reverse((t, idx, slot.generation)));
                }
                slot.armed = at;
            }
            Status::Ended => self.retire(idx, now),
        }
    }

    fn retire(&mut self, idx: u32, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx as usize).and_then(|s| s.take()) else {
            return;
        };
        self.generations[idx as usize] = self.generations[idx as usize].wrapping_add(1);
        self.free.push(idx);
        self.by_id.remove(&slot.key);
        if !slot.ooc {
            self.open_main = self.open_main.saturating_sub(1);
            self.setup.control.calls.close();
            self.setup.control.ended.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(u) = slot.user {
            self.free_users.push_back(u);
        }
        let sock = slot.call.socket;
        if sock != 0 && self.call_sockets.remove(&sock).is_some() {
            self.sockets_closed.push(sock);
        }
        let wait = self.setup.params.deadcall_wait;
        if !wait.is_zero() {
            if self.dead_order.len() >= MAX_DEAD
                && let Some((_, k)) = self.dead_order.pop_front()
            {
                self.dead.remove(&k);
            }
            let exp = now + wait;
            self.dead.insert(slot.key.clone(), exp);
            self.dead_order.push_back((exp, slot.key));
        }
    }

    fn run_call<F>(&mut self, idx: u32, now: Instant, wall: SystemTime, f: F)
    where
        F: FnOnce(&mut Call, &mut Env<'_>) -> Status,
    {
        let Some(mut slot) = self.slots.get_mut(idx as usize).and_then(|s| s.take()) else {
            return;
        };
        let status = {
            let parts = self.env_parts();
            let stats = if slot.ooc {
                parts.ooc_stats
            } else {
                parts.stats
            };
            let mut env = Env {
                now,
                wall,
                stats,
                out: parts.out,
                pool: parts.pool,
                events: parts.events,
                rng: parts.rng,
                globals: parts.globals,
            };
            f(&mut slot.call, &mut env)
        };
        let ooc = slot.ooc;
        self.slots[idx as usize] = Some(slot);
        if ooc {
            self.stats.take_global_counters(&mut self.ooc_stats);
        }
        self.settle(idx, status, now);
        self.drain_events();
    }

    fn drain_events(&mut self) {
        if self.events.is_empty() {
            return;
        }
        for e in std::mem::take(&mut self.events) {
            let r = match e {
                Event::Warning(w) => Report::Error(w),
                Event::Log(l) => Report::Log(l),
                Event::Exec(c) => Report::Exec(c),
                Event::StopGracefully => Report::StopGracefully,
                Event::StopNow => Report::StopNow,
                Event::Fatal(f) => Report::Fatal(f),
            };
            self.report(r);
        }
    }

    fn warn(&mut self, text: String) {
        self.stats.warning();
        self.report(Report::Error(text));
    }

    /// A datagram this shard owns (SIPp's `process_message`).
    fn on_datagram(&mut self, bytes: &[u8], src: SocketAddr) {
        let now = Instant::now();
        let wall = SystemTime::now();
        if self.setup.params.trace_messages {
            self.report(Report::Message {
                sent: false,
                peer: src,
                local: self.local_addr,
                wall,
                bytes: bytes.to_vec(),
            });
        }
        if sipmsg::SIP_2_0.find(bytes).is_none() {
            if bytes.len() == 4 && (bytes == b"\r\n\r\n" || bytes == [0u8; 4]) {
                return;
            }
            self.warn(format!(
                "non SIP message discarded: \"{}\" ({})",
                String::from_utf8_lossy(bytes),
                bytes.len()
            ));
            return;
        }
        let key = match sipmsg::call_id(bytes) {
            Some(id) if !id.is_empty() => sipmsg::call_id_key(id),
            _ => {
                self.warn("SIP message without Call-ID discarded".into());
                return;
            }
        };
        if let Some(&idx) = self.by_id.get(key) {
            self.run_call(idx, now, wall, |c, env| c.on_message(bytes, src, env));
            return;
        }
        if let Some(&exp) = self.dead.get(key) {
            if exp > now {
                self.stats.dead_call();
                let text = format!(
                    "Dead call {} (successful), received '{}'",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(bytes)
                );
                self.warn(text);
                return;
            }
            self.dead.remove(key);
        }
        let setup = self.setup.clone();
        let cfg = &setup.params.cfg;
        match cfg.scenario.mode {
            Mode::Server => {
                let quitting = self.setup.control.quit.load(Ordering::Relaxed) >= quit::GRACEFUL;
                let over = setup.params.max_calls.is_some_and(|m| {
                    self.setup.control.created.fetch_add(1, Ordering::Relaxed) >= m
                });
                if quitting || over {
                    self.stats.out_of_call();
                    return;
                }
                // Numbered across shards in arrival order, as SIPp's
                // single counter ([call_number] is in the uas's To tag).
                let number = self.setup.control.numbered.fetch_add(1, Ordering::Relaxed) + 1;
                self.setup.control.calls.try_open(None);
                let call = Call::incoming(
                    cfg.clone(),
                    number,
                    sipmsg::call_id(bytes).unwrap_or(key).to_vec(),
                    0,
                    self.local_port,
                    now,
                    &mut self.stats,
                );
                let idx = self.insert(call, key.to_vec(), None, false);
                self.run_call(idx, now, wall, |c, env| c.on_message(bytes, src, env));
            }
            Mode::Client => self.out_of_call(bytes, key, src, now, wall),
        }
    }

    /// A message with an unknown Call-ID in a client run (SIPp's
    /// `process_message`): see [`OutOfCall`]. The automatic and
    /// out-of-call calls count in `AutoAnswered`, not in the run's calls.
    fn out_of_call(
        &mut self,
        bytes: &[u8],
        key: &[u8],
        src: SocketAddr,
        now: Instant,
        wall: SystemTime,
    ) {
        let is_request = sipmsg::reply_code(bytes) == 0;
        let cfg = match &self.setup.params.ooc {
            Some(OutOfCall::Scenario(cfg)) if is_request => {
                let first = bytes
                    .iter()
                    .position(|b| b.is_ascii_whitespace())
                    .map_or(bytes, |n| &bytes[..n]);
                let text = format!(
                    "Received out-of-call {} message, using the out-of-call scenario",
                    String::from_utf8_lossy(first)
                );
                let cfg = cfg.clone();
                self.warn(text);
                cfg
            }
            // A response: counted, nothing else (even with -aa).
            Some(OutOfCall::Scenario(_)) => return self.stats.out_of_call(),
            // SIPp compares the start of the message only.
            Some(OutOfCall::AutoAnswer(cfg))
                if is_request
                    && [&b"INFO"[..], b"NOTIFY", b"OPTIONS", b"UPDATE"]
                        .iter()
                        .any(|m| bytes.starts_with(m)) =>
            {
                cfg.clone()
            }
            _ => {
                self.stats.out_of_call();
                self.warn(format!(
                    "Discarding message which can't be mapped to a known SIPp call:\n{}",
                    String::from_utf8_lossy(bytes)
                ));
                return;
            }
        };
        self.stats.auto_answered();
        let call = Call::incoming(
            cfg,
            0,
            sipmsg::call_id(bytes).unwrap_or(key).to_vec(),
            0,
            self.local_port,
            now,
            &mut self.ooc_stats,
        );
        let idx = self.insert(call, key.to_vec(), None, true);
        self.run_call(idx, now, wall, |c, env| c.on_message(bytes, src, env));
    }

    /// Timers, pacing, dead-call expiry, statistics and quitting. Returns
    /// the next instant the shard has work, or `None` when it is done.
    fn tick(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let quit_level = self.setup.control.quit.load(Ordering::Relaxed);
        if quit_level >= quit::ABORT {
            let idxs: Vec<u32> = self.by_id.values().copied().collect();
            for idx in idxs {
                self.run_call(idx, now, wall, |c, env| {
                    c.end_on_shutdown(env);
                    Status::Ended
                });
            }
        }
        // Due timers.
        while let Some(Reverse((t, idx, generation))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let current = matches!(
                self.slots.get(idx as usize),
                Some(Some(s)) if s.generation == generation && s.armed == Some(t)
            );
            if current {
                if let Some(Some(s)) = self.slots.get_mut(idx as usize) {
                    s.armed = None;
                }
                self.run_call(idx, now, wall, |c, env| c.on_wake(env));
            }
        }
        // New calls.
        if self.setup.params.cfg.scenario.mode == Mode::Client && quit_level == quit::RUN {
            if self.setup.control.paused.load(Ordering::Relaxed) {
                // Resuming starts a new pacing epoch: the calls a pause
                // skipped are not made up in a burst (SIPp's set_paused).
                self.epoch.2 = f64::NAN;
            } else {
                self.place_calls(now, wall);
            }
        }
        // Dead calls.
        while let Some((exp, _)) = self.dead_order.front() {
            if *exp > now {
                break;
            }
            if let Some((exp, k)) = self.dead_order.pop_front()
                && self.dead.get(&k) == Some(&exp)
            {
                self.dead.remove(&k);
            }
        }
        if now.duration_since(self.last_stats) >= STATS_EVERY {
            self.last_stats = now;
            self.stats.counters.peak = self.setup.control.calls.peak();
            let snap = self.stats.snapshot();
            self.report(Report::Stats {
                shard: self.id,
                stats: Box::new(snap),
                taken: SystemTime::now(),
                last: false,
            });
        }
        let placing_done = match self.setup.params.cfg.scenario.mode {
            Mode::Client => quit_level >= quit::GRACEFUL || self.budget == Some(0),
            Mode::Server => quit_level >= quit::GRACEFUL,
        };
        if placing_done && self.open_main_calls() == 0 {
            // As SIPp's `abort_all_tasks` at the end: out-of-call calls
            // (an automatic one waits forever) do not keep the run going.
            self.abort_out_of_call(now, wall);
            return None;
        }
        let mut next = now + MAX_SLEEP;
        if let Some(Reverse((t, _, _))) = self.timers.peek() {
            next = next.min(*t);
        }
        if let Some(t) = self.next_placement() {
            next = next.min(t);
        }
        Some(next)
    }

    /// Aborts the out-of-call calls still open, each with SIPp's
    /// warning (`call::abort`).
    fn abort_out_of_call(&mut self, now: Instant, wall: SystemTime) {
        let open: Vec<(u32, String)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
            .filter(|(_, s)| s.ooc)
            .map(|(i, s)| {
                (
                    i as u32,
                    String::from_utf8_lossy(&s.call.call_id).into_owned(),
                )
            })
            .collect();
        for (idx, call_id) in open {
            self.warn(format!("Aborted call with Call-ID '{call_id}'"));
            self.run_call(idx, now, wall, |c, env| {
                c.end_on_shutdown(env);
                Status::Ended
            });
        }
    }

    /// When the pacer places the next call.
    fn next_placement(&self) -> Option<Instant> {
        if self.setup.params.cfg.scenario.mode != Mode::Client
            || self.budget == Some(0)
            || self.setup.control.paused.load(Ordering::Relaxed)
        {
            return None;
        }
        if self.setup.params.users.is_some() {
            // Closed loop: at once when a user is free.
            return (!self.free_users.is_empty()).then_some(self.epoch.0);
        }
        let (at, base, rate) = self.epoch;
        if rate <= 0.0 {
            return None;
        }
        let k = (self.placed - base) as f64;
        let offset = (self.id as f64 / self.nshards as f64) / rate;
        Some(at + Duration::from_secs_f64(k / rate + offset))
    }

    /// Runs the `<init>` stanza to its end (bounded: it may only hold
    /// `nop`s and labels), with statistics of its own.
    fn run_init(&mut self, init: Arc<CallConfig>) {
        let now = Instant::now();
        let mut scratch = Stats::new(&init.scenario);
        let mut call = Call::outgoing(init, 0, 0, self.local_port, now, &mut scratch);
        let parts = self.env_parts();
        let mut env = Env {
            now,
            wall: SystemTime::now(),
            stats: &mut scratch,
            out: parts.out,
            pool: parts.pool,
            events: parts.events,
            rng: parts.rng,
            globals: parts.globals,
        };
        for _ in 0..1000 {
            if call.on_wake(&mut env) == Status::Ended {
                break;
            }
        }
        self.out.clear();
        self.drain_events();
    }

    /// SIPp's `CallGenerationTask::run`, open loop: the calls due by now
    /// are placed, each with its intended instant. Over `-l` (calls in
    /// progress on every shard, [`OpenCalls`]), a due call is skipped, not
    /// queued (SIPp counts it as opened); with `-users`,
    /// every free user starts a call at once (closed loop).
    fn place_calls(&mut self, now: Instant, wall: SystemTime) {
        let rate = self.setup.control.rate() / self.nshards as f64;
        if rate != self.epoch.2 {
            self.epoch = (now, self.placed, rate);
        }
        // At most this many per tick, so a stall does not become an
        // unbounded burst of work in one go.
        let mut room = 10_000u32;
        while room > 0 && self.budget != Some(0) {
            let (intended, user) = if self.setup.params.users.is_some() {
                match self.free_users.pop_front() {
                    Some(u) => {
                        self.setup.control.calls.try_open(None);
                        (now, Some(u))
                    }
                    None => return,
                }
            } else {
                let Some(intended) = self.next_placement() else {
                    return;
                };
                if intended > now {
                    return;
                }
                self.placed += 1;
                let limit = match self.setup.control.limit.load(Ordering::Relaxed) {
                    0 => self.setup.params.limit,
                    set => Some(set),
                };
                if !self.setup.control.calls.try_open(limit) {
                    continue;
                }
                (intended, None)
            };
            room -= 1;
            let k = self.created;
            self.created += 1;
            if let Some(b) = self.budget.as_mut() {
                *b -= 1;
            }
            let number = k * self.nshards as u64 + self.id as u64 + 1;
            let cfg = self.setup.params.cfg.clone();
            let (socket, port) = self.call_socket();
            let mut call =
                Call::outgoing(cfg.clone(), number, socket, port, intended, &mut self.stats);
            if let Some(u) = user {
                call.set_user(u);
            }
            if let Some((_, f)) = cfg.injection.first() {
                match f.mode() {
                    InjectMode::Random if f.lines() > 0 => {
                        call.set_injection_line(self.rng.usize(0..f.lines()));
                    }
                    InjectMode::User => {
                        if let Some(u) = user {
                            call.set_injection_line(u.saturating_sub(1) as usize);
                        }
                    }
                    _ => {}
                }
            }
            let key = sipmsg::call_id_key(&call.call_id).to_vec();
            let idx = self.insert(call, key, user, false);
            self.run_call(idx, now, wall, |c, env| c.on_wake(env));
        }
    }

    /// The socket a new client call sends from: with `-t un` one of its
    /// own (until `-max_socket`), else the shard's.
    fn call_socket(&mut self) -> (u32, u16) {
        if !self.setup.params.socket_per_call || self.call_sockets.len() >= self.max_call_sockets {
            return (0, self.local_port);
        }
        let addr = SocketAddr::new(self.local_addr.ip(), 0);
        let opened = udp_socket(addr, false).and_then(|s| {
            let port = s.local_addr()?.as_socket().map_or(0, |a| a.port());
            Ok((s, port))
        });
        match opened {
            Ok((s, port)) => {
                let id = self.next_socket;
                self.next_socket = self.next_socket.wrapping_add(1).max(1);
                self.call_sockets.insert(id, port);
                self.sockets_opened.push((id, s));
                (id, port)
            }
            Err(e) => {
                self.warn(format!("cannot open a socket for a call (-t un): {e}"));
                (0, self.local_port)
            }
        }
    }

    fn open_main_calls(&self) -> u64 {
        self.open_main
    }
}

struct EnvParts<'a> {
    stats: &'a mut Stats,
    ooc_stats: &'a mut Stats,
    out: &'a mut Vec<Outgoing>,
    pool: &'a mut Vec<Vec<u8>>,
    events: &'a mut Vec<Event>,
    rng: &'a mut fastrand::Rng,
    globals: &'a mut Vec<Value>,
}

/// The share of `total` that shard `id` of `n` takes.
fn share(total: u64, id: u16, n: u16) -> u64 {
    total / n as u64 + u64::from((id as u64) < total % n as u64)
}

/// One shard: its calls, run by the shared shard loop.
struct Shard {
    state: State,
    id: ShardId,
    /// Server scenarios share a port and hand datagrams to their owner.
    server: bool,
    /// When the last tick asked to run again (`None` before the first).
    next_tick: Option<Instant>,
}

impl Service for Shard {
    type Out = Outgoing;

    /// Client calls live where they were placed (their port says so);
    /// only server shards share a port and need the Call-ID's owner.
    fn owner(&self, map: &ShardMap, bytes: &[u8]) -> ShardId {
        if !self.server {
            return self.id;
        }
        sipmsg::call_id(bytes)
            .map(sipmsg::call_id_key)
            .map_or(self.id, |k| map.owner(k))
    }

    fn on_datagram(&mut self, _now: Instant, bytes: &[u8], src: SocketAddr, _socket: u32) {
        self.state.on_datagram(bytes, src);
    }

    /// Timers, pacing, dead calls, statistics and quitting.
    fn on_timeout(&mut self, _now: Instant, _io: &mut Io) -> ControlFlow<()> {
        self.next_tick = self.state.tick();
        match self.next_tick {
            Some(_) => ControlFlow::Continue(()),
            None => ControlFlow::Break(()),
        }
    }

    /// The last tick's answer, or earlier when a datagram armed an
    /// earlier timer or freed a user (`-users`). Timers and pacing work
    /// in batches at least TIMER_GRANULARITY apart (SIPp's own clock ticks
    /// in ms): at 30k calls/s a wakeup per due call would cost a wait
    /// each; response times still count from each call's intended instant.
    fn poll_timeout(&self, _now: Instant) -> Option<Instant> {
        let mut next = self.next_tick?;
        if let Some(Reverse((t, _, _))) = self.state.timers.peek() {
            next = next.min(*t);
        }
        if self.state.setup.params.users.is_some()
            && let Some(t) = self.state.next_placement()
        {
            next = next.min(t);
        }
        Some(next)
    }

    fn poll_transmit(&mut self, out: &mut Vec<Outgoing>) {
        out.append(&mut self.state.out);
    }

    /// Reports what was sent (`-trace_msg`) and keeps the buffers.
    fn sent(&mut self, out: &mut Vec<Outgoing>) {
        let st = &mut self.state;
        if st.setup.params.trace_messages {
            let local = st.local_addr;
            let wall = SystemTime::now();
            for o in out.iter() {
                st.report(Report::Message {
                    sent: true,
                    peer: o.dest,
                    local,
                    wall,
                    bytes: o.bytes.clone(),
                });
            }
        }
        for o in out.drain(..) {
            if st.pool.len() < 1024 {
                let mut b = o.bytes;
                b.clear();
                st.pool.push(b);
            }
        }
    }

    fn send_failed(&mut self, dest: SocketAddr, e: std::io::Error) {
        self.state.stats.udp_send_error();
        self.state.report(Report::Error(format!(
            "Unable to send UDP message to {dest}: {e}"
        )));
    }

    fn recv_failed(&mut self, _socket: u32, _e: std::io::Error) {
        self.state.stats.udp_recv_error();
    }

    /// Reads the calls' new sockets (`-t un`) and closes those of ended
    /// calls.
    fn update_sockets(&mut self, io: &mut Io) {
        let st = &mut self.state;
        if st.sockets_opened.is_empty() && st.sockets_closed.is_empty() {
            return;
        }
        for (id, sock) in std::mem::take(&mut st.sockets_opened) {
            if let Err(e) = UdpTransport::from_socket(sock).and_then(|t| io.add_socket(id, t)) {
                st.warn(format!("cannot read a call's socket (-t un): {e}"));
            }
        }
        for id in std::mem::take(&mut st.sockets_closed) {
            io.remove_socket(id);
        }
    }
}

impl trunkline_shards::udp::Datagram for Outgoing {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn dest(&self) -> SocketAddr {
        self.dest
    }
}

impl Outbound for Outgoing {
    fn socket(&self) -> u32 {
        self.socket
    }
}

/// Datagrams read per `recvmmsg` (one buffer for all of a shard's
/// sockets, a call's own ones with `-t un` included).
const RECV_BATCH: usize = 32;

fn run_shard(ctx: ShardCtx, setup: Arc<Setup>, seed: u64) -> Stats {
    let id = ctx.id.0;
    let nshards = setup.params.shards.max(1);
    let scenario = setup.params.cfg.scenario.clone();
    let taken = setup
        .sockets
        .lock()
        .ok()
        .and_then(|mut v| v.get_mut(id as usize).and_then(|s| s.take()));
    let reports = match setup.reports.lock() {
        Ok(r) => r.clone(),
        Err(p) => p.into_inner().clone(),
    };
    let Some(sock) = taken else {
        let _ = reports.send(Report::Fatal(format!("shard {id}: no socket")));
        return Stats::new(&scenario);
    };
    let socket = match UdpTransport::from_socket(sock) {
        Ok(s) => s,
        Err(e) => {
            let _ = reports.send(Report::Fatal(format!("shard {id}: {e}")));
            return Stats::new(&scenario);
        }
    };
    let local_addr = setup.local_addrs[id as usize];
    let p = &setup.params;
    let budget = p.max_calls.map(|m| share(m, id, nshards));
    let free_users: VecDeque<u64> = match p.users {
        Some(u) => (0..share(u, id, nshards))
            .map(|k| k * nshards as u64 + id as u64 + 1)
            .collect(),
        None => VecDeque::new(),
    };
    let now = Instant::now();
    let state = State {
        id,
        nshards,
        setup: setup.clone(),
        reports,
        local_port: local_addr.port(),
        local_addr,
        slots: Vec::new(),
        free: Vec::new(),
        generations: Vec::new(),
        by_id: HashMap::new(),
        timers: BinaryHeap::new(),
        dead: HashMap::new(),
        dead_order: VecDeque::new(),
        stats: {
            let mut s = Stats::new(&scenario);
            s.set_rtt_trace(setup.params.trace_rtt);
            s
        },
        ooc_stats: Stats::new(
            setup
                .params
                .ooc
                .as_ref()
                .map_or(&scenario, |o| &o.cfg().scenario),
        ),
        out: Vec::new(),
        pool: Vec::new(),
        events: Vec::new(),
        rng: fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(id as u64 + 1)),
        globals: setup.params.globals.clone(),
        placed: 0,
        created: 0,
        budget,
        free_users,
        epoch: (setup.start, 0, setup.control.rate() / nshards as f64),
        open_main: 0,
        call_sockets: HashMap::new(),
        next_socket: 1,
        sockets_opened: Vec::new(),
        sockets_closed: Vec::new(),
        max_call_sockets: (p.max_socket as usize / nshards as usize).max(1),
        last_stats: now,
    };
    let opts = ServeOptions {
        batch: RECV_BATCH,
        slot_len: setup.params.max_message.max(1500) + 1,
        timer_granularity: TIMER_GRANULARITY,
        ..ServeOptions::default()
    };
    let mut io = match Io::new(&ctx.waker, &opts).and_then(|mut io| {
        io.add_socket(0, socket)?;
        Ok(io)
    }) {
        Ok(io) => io,
        Err(e) => {
            let _ = state
                .reports
                .send(Report::Fatal(format!("shard {id}: {e}")));
            return Stats::new(&scenario);
        }
    };
    let mut shard = Shard {
        state,
        id: ctx.id,
        server: scenario.mode == Mode::Server,
        next_tick: None,
    };
    if let Some(init) = &setup.params.init {
        shard.state.run_init(init.clone());
    }
    serve(&ctx, &mut io, &mut shard);
    // The sockets close before the final report.
    drop(io);
    let st = &mut shard.state;
    st.stats.counters.peak = st.setup.control.calls.peak();
    let _ = st.reports.send(Report::Stats {
        shard: id,
        stats: Box::new(st.stats.clone()),
        taken: SystemTime::now(),
        last: true,
    });
    st.stats.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads racing to open calls under a limit never have more open
    /// than the limit, and the count returns to zero.
    #[test]
    fn open_calls_never_pass_the_limit() {
        let calls = Arc::new(OpenCalls::default());
        let most = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (calls, most) = (calls.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        if calls.try_open(Some(3)) {
                            most.fetch_max(calls.open(), Ordering::Relaxed);
                            calls.close();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(most.load(Ordering::Relaxed) <= 3);
        assert_eq!(calls.open(), 0);
        assert!(calls.try_open(Some(1)));
        assert!(!calls.try_open(Some(1)));
        assert!(calls.try_open(None));
        assert_eq!(calls.open(), 2);
    }

    /// The peak is the most calls ever open at once, not the latest
    /// count, with the second it was first reached.
    #[test]
    fn open_calls_keep_their_peak() {
        let calls = OpenCalls::default();
        assert_eq!(calls.peak(), Peak::default());
        for _ in 0..5 {
            assert!(calls.try_open(None));
        }
        for _ in 0..4 {
            calls.close();
        }
        assert!(calls.try_open(Some(10)));
        assert_eq!(calls.open(), 2);
        assert_eq!(
            calls.peak(),
            Peak {
                calls: 5,
                after_s: 0
            }
        );
    }
}
