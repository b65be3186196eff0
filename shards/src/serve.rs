//! The shard loop shared by the router and the load generator (feature
//! `runtime`): read a batch → find each datagram's owner → hand it off or
//! process it → flush what was produced → wait.
//!
//! # Why it is written this way
//!
//! At the loads carriers run (a few thousand calls/s on a core) a shard
//! is idle most of the time and wakes for nearly every datagram, so what
//! a wakeup costs decides the CPU per call more than what processing a
//! message costs. The loop therefore makes as few syscalls per wakeup as
//! it can:
//!
//! - **Drain, then one wait per batch.** A readable socket is read with
//!   non-blocking `recvmmsg` (up to [`ServeOptions::batch`] datagrams);
//!   everything the batch produced leaves with one `sendmmsg` per socket;
//!   only a read that came back short lets the shard wait again, and it
//!   waits with one `epoll_wait` on all its sockets and its [`Waker`]
//!   (level-triggered, so nothing is lost by not reading until
//!   `EAGAIN`). One datagram at a time costs `epoll_pwait2` + `recvmmsg`
//!   + `sendmmsg`; a blocking `recvfrom` + `sendto` relay costs two.
//! - **Timers only when one is due.** The service says when it next needs
//!   [`Service::on_timeout`] ([`Service::poll_timeout`]); the wait's
//!   timeout is that instant, or none at all. Timer runs are at least
//!   [`ServeOptions::timer_granularity`] apart (SIP timers are counted in
//!   hundreds of ms; a deadline every 0.5 ms at 2,000 calls/s must not
//!   become a wakeup each), and a run that is due happens in whatever
//!   pass comes first, usually one woken by a datagram, so under load
//!   timers cost no wakeup of their own.
//! - **No spinning.** An idle shard sleeps in the kernel until a datagram,
//!   a handoff, a notification or its next timer.
//! - **Handoffs without syscalls when the owner is busy.** A datagram
//!   owned by another shard (its Call-ID hashes there) is queued in that
//!   shard's inbox (a bounded lock-free queue) and the owner's eventfd is
//!   written only if it sleeps, once per sleep, at the end of the batch.
//!   A full inbox is backpressure: the sender kicks the owner, works off
//!   its own inbox (two shards full towards each other cannot deadlock)
//!   and tries again; nothing valid is dropped.
//!
//! A service (the proxy core, a load generator's calls) implements
//! [`Service`]: who owns a datagram, what to do with one, when its timers
//! are due and what to do then, and what to send. It never touches a
//! socket: [`serve`] reads, hands off, sends and waits for it.

use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use hashbrown::HashMap;

use crate::runtime::{HandoffPool, SendError, ShardCtx, Waker};
use crate::shard_map::{ShardId, ShardMap};
use crate::udp::{Datagram, RecvBatch, SendScratch, UdpTransport};

/// An outgoing datagram and the socket it leaves from (the key it was
/// added under, [`Io::add_socket`]).
pub trait Outbound: Datagram {
    /// The socket's key.
    fn socket(&self) -> u32;
}

/// What a shard does with its datagrams and timers. Called only from the
/// shard's own thread, one method at a time.
pub trait Service {
    /// A datagram to send.
    type Out: Outbound;

    /// Whether a datagram from `src` is let in: asked first, for every
    /// datagram this shard reads, before its owner is looked for (a flood
    /// defence drops here, on the address alone, before any parsing or
    /// handoff). Default: all are.
    #[inline]
    fn admit(&mut self, now: Instant, src: SocketAddr) -> bool {
        let _ = (now, src);
        true
    }

    /// The shard that owns this datagram (its Call-ID's). Asked only when
    /// there is more than one shard; the shard's own id means "here".
    fn owner(&self, map: &ShardMap, bytes: &[u8]) -> ShardId;

    /// Processes one datagram this shard owns, from `src` on socket
    /// `socket`. `now` is the pass's clock reading, for handoffs from
    /// other shards too (their own readings may be earlier than this
    /// shard's last one, and a shard's `now` never goes backwards).
    fn on_datagram(&mut self, now: Instant, bytes: &[u8], src: SocketAddr, socket: u32);

    /// Runs what is due at `now`: called once [`Service::poll_timeout`]'s
    /// instant has passed (at most once per
    /// [`ServeOptions::timer_granularity`]), after the shard's [`Waker`]
    /// was notified, and on the loop's first pass. `Break` ends the loop
    /// (after one last flush).
    fn on_timeout(&mut self, now: Instant, io: &mut Io) -> ControlFlow<()>;

    /// When [`Service::on_timeout`] is next needed; `None`: only when
    /// notified. Asked after every pass.
    fn poll_timeout(&self, now: Instant) -> Option<Instant>;

    /// Moves the datagrams to send into `out` (empty when called).
    fn poll_transmit(&mut self, out: &mut Vec<Self::Out>);

    /// The datagrams of the last [`Service::poll_transmit`] were sent (or
    /// reported to [`Service::send_failed`]): take their buffers back.
    /// The loop clears `out` afterwards.
    fn sent(&mut self, out: &mut Vec<Self::Out>);

    /// A datagram to `dest` could not be sent.
    fn send_failed(&mut self, dest: SocketAddr, err: io::Error) {
        let _ = (dest, err);
    }

    /// Reading socket `socket` failed.
    fn recv_failed(&mut self, socket: u32, err: io::Error) {
        let _ = (socket, err);
    }

    /// After each pass: add or remove sockets (a load generator's
    /// per-call sockets).
    fn update_sockets(&mut self, io: &mut Io) {
        let _ = io;
    }
}

/// Tuning of [`serve`].
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Datagrams read per `recvmmsg`: enough that a busy shard makes one
    /// receive syscall for many datagrams, few enough that the first
    /// reply of a batch is not held back long (a batch is processed
    /// before it is sent).
    pub batch: usize,
    /// Room per datagram: one byte more than the largest accepted, so a
    /// longer one is seen cut.
    pub slot_len: usize,
    /// Least time between two timer runs (not counting notifications).
    pub timer_granularity: Duration,
    /// Most handoffs taken from the inbox per pass (then the sockets get
    /// their turn).
    pub inbox_budget: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            batch: 32,
            slot_len: 65_536,
            timer_granularity: Duration::from_millis(1),
            inbox_budget: 256,
        }
    }
}

/// What a shard's loop did (cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Passes of the loop.
    pub passes: u64,
    /// Times it slept in `epoll_wait`.
    pub waits: u64,
    /// Wakeups by the shard's eventfd (handoffs while asleep, notifications).
    pub kicks: u64,
    /// Runs of [`Service::on_timeout`].
    pub timeouts: u64,
    /// `recvmmsg` calls.
    pub recv_calls: u64,
    /// Datagrams read from the sockets.
    pub received: u64,
    /// Datagrams the kernel dropped before they were read (a socket's
    /// receive buffer was full), as the datagrams read after them tell
    /// (`SO_RXQ_OVFL`, [`RecvBatch::kernel_drops`]).
    pub kernel_drops: u64,
    /// Datagrams handed to their owner shard.
    pub handoffs_out: u64,
    /// Datagrams handed to this shard.
    pub handoffs_in: u64,
    /// Times an owner's inbox was full (the handoff waited).
    pub handoffs_full: u64,
    /// Handoffs dropped because their owner had stopped.
    pub handoffs_lost: u64,
    /// Datagrams given to the sockets to send.
    pub sent: u64,
    /// Datagrams that could not be sent.
    pub send_errors: u64,
}

/// The eventfd's key among the epoll keys (sockets use their u32 key).
const WAKE_KEY: u64 = u64::MAX;

/// Most events taken from one `epoll_wait`.
const MAX_EVENTS: usize = 64;

/// A shard's sockets, its epoll instance and its receive buffers.
pub struct Io {
    epoll: OwnedFd,
    sockets: HashMap<u32, UdpTransport>,
    /// The first socket added: sends for an unknown key leave from it.
    first: Option<u32>,
    /// Sockets that may have datagrams queued.
    ready: Vec<u32>,
    batch: RecvBatch,
    granularity: Duration,
    inbox_budget: usize,
    /// Whether `epoll_pwait2` (ns timeouts, Linux 5.11) is there.
    pwait2: bool,
    stats: ServeStats,
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("epoll", &self.epoll.as_raw_fd())
            .field("sockets", &self.sockets.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Io {
    /// An epoll instance watching `waker`, and no socket yet.
    pub fn new(waker: &Waker, opts: &ServeOptions) -> io::Result<Io> {
        // SAFETY: no pointers; the result is checked.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `ep` was just opened and is owned by nobody else.
        let epoll = unsafe { OwnedFd::from_raw_fd(ep) };
        // Edge-triggered: every write to the eventfd is an event, so the
        // loop never reads it back (a syscall saved per wakeup; its
        // counter would take centuries to fill).
        epoll_ctl(
            ep,
            libc::EPOLL_CTL_ADD,
            waker.raw_fd(),
            WAKE_KEY,
            libc::EPOLLIN | libc::EPOLLET,
        )?;
        Ok(Io {
            epoll,
            sockets: HashMap::new(),
            first: None,
            ready: Vec::new(),
            batch: RecvBatch::new(opts.batch, opts.slot_len.max(1)),
            granularity: opts.timer_granularity,
            inbox_budget: opts.inbox_budget.max(1),
            pwait2: true,
            stats: ServeStats::default(),
        })
    }

    /// Reads `sock` from now on as socket `key` (replacing any socket of
    /// that key).
    pub fn add_socket(&mut self, key: u32, sock: UdpTransport) -> io::Result<()> {
        epoll_ctl(
            self.epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            sock.raw_fd(),
            u64::from(key),
            libc::EPOLLIN,
        )?;
        if let Some(old) = self.sockets.insert(key, sock) {
            let _ = epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                old.raw_fd(),
                0,
                0,
            );
        }
        self.first.get_or_insert(key);
        // Datagrams may be queued already.
        self.ready.push(key);
        Ok(())
    }

    /// Stops reading socket `key` and returns it (closed when dropped).
    pub fn remove_socket(&mut self, key: u32) -> Option<UdpTransport> {
        let sock = self.sockets.remove(&key)?;
        let _ = epoll_ctl(
            self.epoll.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            sock.raw_fd(),
            0,
            0,
        );
        if self.first == Some(key) {
            self.first = self.sockets.keys().min().copied();
        }
        Some(sock)
    }

    /// The socket of key `key`.
    pub fn socket(&self, key: u32) -> Option<&UdpTransport> {
        self.sockets.get(&key)
    }

    /// Number of sockets read.
    pub fn sockets(&self) -> usize {
        self.sockets.len()
    }

    /// What the loop has done so far.
    pub fn stats(&self) -> ServeStats {
        self.stats
    }

    /// Waits for events until `timeout` (`None`: forever); returns how
    /// many were written into `events`.
    fn wait(
        &mut self,
        events: &mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let ep = self.epoll.as_raw_fd();
        let max = events.len() as libc::c_int;
        if self.pwait2 {
            let ts = timeout.map(|d| libc::timespec {
                tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
            });
            let tsp = ts.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
            // SAFETY: `events` is a live buffer of `max` entries; `tsp` is
            // null or points at `ts`, alive until the call returns.
            let r =
                unsafe { libc::epoll_pwait2(ep, events.as_mut_ptr(), max, tsp, std::ptr::null()) };
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOSYS) {
                return Err(e);
            }
            self.pwait2 = false;
        }
        // Before Linux 5.11: milliseconds, rounded up (a timer never fires
        // early).
        let ms = timeout.map_or(-1, |d| {
            d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int
        });
        // SAFETY: `events` is a live buffer of `max` entries.
        let r = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), max, ms) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }
}

fn epoll_ctl(
    ep: RawFd,
    op: libc::c_int,
    fd: RawFd,
    key: u64,
    events: libc::c_int,
) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: events as u32,
        u64: key,
    };
    // SAFETY: `ev` is a live epoll_event for the duration of the call.
    let r = unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs the shard's loop until [`Service::on_timeout`] breaks it; returns
/// what the loop did. The sockets stay in `io` (dropping it closes them).
pub fn serve<S: Service>(ctx: &ShardCtx, io: &mut Io, svc: &mut S) -> ServeStats {
    let me = ctx.id;
    let many = ctx.map.shards() > 1;
    let pool = HandoffPool::default();
    let mut out: Vec<S::Out> = Vec::new();
    let mut scratch = SendScratch::default();
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
    let mut to_wake = vec![false; usize::from(ctx.map.shards())];
    // The first pass runs the timers (a service's start-up work).
    let mut timer_at = Some(Instant::now());
    let mut last_timer: Option<Instant> = None;
    loop {
        let now = Instant::now();
        io.stats.passes += 1;
        if ctx.waker.take_notified() || timer_at.is_some_and(|t| t <= now) {
            last_timer = Some(now);
            io.stats.timeouts += 1;
            if svc.on_timeout(now, io).is_break() {
                flush(svc, io, &mut out, &mut scratch);
                break;
            }
        }

        // Handoffs from the other shards.
        let mut more = false;
        let mut taken = 0;
        while taken < io.inbox_budget {
            let Some(h) = ctx.mesh.try_recv() else { break };
            svc.on_datagram(now, &h.bytes, h.src, u32::from(h.local));
            pool.give_back(h.bytes);
            io.stats.handoffs_in += 1;
            taken += 1;
        }
        if taken == io.inbox_budget {
            more = ctx.mesh.has_inbox();
        }

        // One batch from each readable socket.
        let mut i = 0;
        while i < io.ready.len() {
            let key = io.ready[i];
            let Some(sock) = io.sockets.get(&key) else {
                io.ready.swap_remove(i);
                continue;
            };
            match sock.try_recv_batch(&mut io.batch) {
                Ok(got) => {
                    io.stats.recv_calls += 1;
                    io.stats.received += got as u64;
                    io.stats.kernel_drops += io.batch.kernel_drops();
                    for j in 0..got {
                        let Some((bytes, src)) = io.batch.get(j) else {
                            continue;
                        };
                        if !svc.admit(now, src) {
                            continue;
                        }
                        if many {
                            let owner = svc.owner(&ctx.map, bytes);
                            if owner != me && owner.index() < to_wake.len() {
                                hand_off(
                                    ctx,
                                    &pool,
                                    svc,
                                    &mut io.stats,
                                    owner.index(),
                                    (bytes, src, key, now),
                                );
                                to_wake[owner.index()] = true;
                                continue;
                            }
                        }
                        svc.on_datagram(now, bytes, src, key);
                    }
                    if got < io.batch.capacity() {
                        // Most likely empty now: the next wait tells.
                        io.ready.swap_remove(i);
                    } else {
                        i += 1;
                    }
                }
                Err(e) => {
                    io.ready.swap_remove(i);
                    svc.recv_failed(key, e);
                }
            }
        }

        flush(svc, io, &mut out, &mut scratch);
        for (owner, w) in to_wake.iter_mut().enumerate() {
            if std::mem::take(w) {
                ctx.mesh.wake(owner);
            }
        }
        svc.update_sockets(io);
        let granularity = io.granularity;
        timer_at = svc
            .poll_timeout(now)
            .map(|t| last_timer.map_or(t, |l| t.max(l + granularity)));
        if more || !io.ready.is_empty() {
            continue;
        }

        // Nothing left: sleep until a datagram, a handoff, a notification
        // or the next timer.
        ctx.waker.prepare_park();
        if ctx.mesh.has_inbox() || ctx.waker.notified() {
            ctx.waker.unpark();
            continue;
        }
        let timeout = timer_at.map(|t| t.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) {
            ctx.waker.unpark();
            continue;
        }
        io.stats.waits += 1;
        let woke = io.wait(&mut events, timeout);
        ctx.waker.unpark();
        match woke {
            Ok(n) => {
                for ev in &events[..n] {
                    let key = ev.u64;
                    if key == WAKE_KEY {
                        io.stats.kicks += 1;
                    } else {
                        io.ready.push(key as u32);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Not expected (EBADF, EFAULT, EINVAL): do not spin on it.
                tracing_free_warn(&e);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    io.stats
}

/// The shards crate logs nothing; a failing wait is reported once on
/// stderr.
fn tracing_free_warn(e: &io::Error) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("shard: epoll_wait failed: {e}");
    }
}

/// Queues a datagram for shard `owner` (woken at the end of the pass).
/// A full inbox is backpressure: kick the owner, work off this shard's
/// own inbox meanwhile, and try again.
fn hand_off<S: Service>(
    ctx: &ShardCtx,
    pool: &HandoffPool,
    svc: &mut S,
    stats: &mut ServeStats,
    owner: usize,
    (bytes, src, key, now): (&[u8], SocketAddr, u32, Instant),
) {
    let mut h = pool.handoff(bytes, src, key as u16, now);
    loop {
        match ctx.mesh.try_send(owner, h) {
            Ok(()) => {
                stats.handoffs_out += 1;
                return;
            }
            Err(SendError::Full(back)) => {
                h = back;
                stats.handoffs_full += 1;
                ctx.mesh.kick(owner);
                while let Some(mine) = ctx.mesh.try_recv() {
                    svc.on_datagram(now, &mine.bytes, mine.src, u32::from(mine.local));
                    pool.give_back(mine.bytes);
                    stats.handoffs_in += 1;
                }
                std::thread::yield_now();
            }
            Err(SendError::Gone(back)) => {
                pool.give_back(back.bytes);
                stats.handoffs_lost += 1;
                return;
            }
        }
    }
}

/// Sends what the service produced: one `sendmmsg` per run of datagrams
/// leaving from the same socket.
fn flush<S: Service>(svc: &mut S, io: &mut Io, out: &mut Vec<S::Out>, scratch: &mut SendScratch) {
    svc.poll_transmit(out);
    if out.is_empty() {
        return;
    }
    let mut errors = 0;
    for run in out.chunk_by(|a, b| a.socket() == b.socket()) {
        let sock = io
            .sockets
            .get(&run[0].socket())
            .or_else(|| io.first.and_then(|k| io.sockets.get(&k)));
        match sock {
            Some(sock) => sock.send_batch(run, scratch, |dest, e| {
                errors += 1;
                svc.send_failed(dest, e);
            }),
            None => {
                for d in run {
                    errors += 1;
                    svc.send_failed(d.dest(), io::Error::other("no socket to send from"));
                }
            }
        }
    }
    io.stats.sent += out.len() as u64;
    io.stats.send_errors += errors;
    svc.sent(out);
    out.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeBuilder;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Echoes every datagram back from the shard that owns it (the first
    /// byte's parity), prefixed with that shard's id; a timer armed
    /// `after` each datagram counts its runs.
    struct Echo {
        id: ShardId,
        out: Vec<(Vec<u8>, SocketAddr)>,
        stop: Arc<AtomicBool>,
        timer: Option<Instant>,
        after: Option<Duration>,
        fired: u32,
        /// The last `now` seen: it must never go backwards.
        last: Option<Instant>,
    }

    impl Outbound for (Vec<u8>, SocketAddr) {
        fn socket(&self) -> u32 {
            0
        }
    }

    impl Service for Echo {
        type Out = (Vec<u8>, SocketAddr);
        fn owner(&self, map: &ShardMap, bytes: &[u8]) -> ShardId {
            ShardId(u16::from(bytes[0]) % map.shards())
        }
        fn on_datagram(&mut self, now: Instant, bytes: &[u8], src: SocketAddr, _socket: u32) {
            assert!(self.last.is_none_or(|l| l <= now), "time went backwards");
            self.last = Some(now);
            let mut b = vec![self.id.0 as u8];
            b.extend_from_slice(bytes);
            self.out.push((b, src));
            if let Some(after) = self.after {
                self.timer = Some(now + after);
            }
        }
        fn on_timeout(&mut self, now: Instant, _io: &mut Io) -> ControlFlow<()> {
            assert!(self.last.is_none_or(|l| l <= now), "time went backwards");
            self.last = Some(now);
            if self.timer.is_some_and(|t| t <= now) {
                self.timer = None;
                self.fired += 1;
            }
            if self.stop.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        fn poll_timeout(&self, _now: Instant) -> Option<Instant> {
            self.timer
        }
        fn poll_transmit(&mut self, out: &mut Vec<Self::Out>) {
            out.append(&mut self.out);
        }
        fn sent(&mut self, _out: &mut Vec<Self::Out>) {}
    }

    /// Two shards on one SO_REUSEPORT port: every datagram is answered by
    /// its owner, whichever shard the kernel gave it to; an idle shard
    /// makes no pass (no spinning, no tick); a timer fires once; a
    /// notification stops the loops.
    #[test]
    fn two_shards_answer_from_the_owner_and_sleep_when_idle() {
        let probe = crate::udp::reuseport_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = probe.local_addr().unwrap().as_socket().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stats_tx, stats_rx) = std::sync::mpsc::channel();
        let stop2 = stop.clone();
        let rt = RuntimeBuilder::new()
            .shards(2)
            .spawn(move |ctx: ShardCtx| {
                let mut io = Io::new(&ctx.waker, &ServeOptions::default()).unwrap();
                io.add_socket(0, UdpTransport::bind(addr).unwrap()).unwrap();
                let _ = ready_tx.send(());
                let mut svc = Echo {
                    id: ctx.id,
                    out: Vec::new(),
                    stop: stop2.clone(),
                    timer: None,
                    after: Some(Duration::from_millis(20)),
                    fired: 0,
                    last: None,
                };
                let stats = serve(&ctx, &mut io, &mut svc);
                let _ = stats_tx.send((ctx.id.0, svc.fired, stats));
            })
            .unwrap();
        drop(probe);
        ready_rx.recv().unwrap();
        ready_rx.recv().unwrap();
        // Many source ports, so both shards receive some.
        let mut answers = 0;
        for round in 0..8u8 {
            let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            for b in 0..16u8 {
                c.send_to(&[b, round], addr).unwrap();
            }
            let mut buf = [0u8; 16];
            for _ in 0..16 {
                let (n, _) = c.recv_from(&mut buf).unwrap();
                assert_eq!(n, 3);
                assert_eq!(buf[0], buf[1] % 2, "answered by the owner");
                assert_eq!(buf[2], round);
                answers += 1;
            }
        }
        assert_eq!(answers, 128);
        // Idle: timers fire once 20 ms after the last datagram, then no
        // pass at all.
        std::thread::sleep(Duration::from_millis(100));
        let wakers = rt.wakers();
        stop.store(true, Ordering::Relaxed);
        for w in &wakers {
            w.notify();
        }
        let mut total_out = 0;
        let mut total_in = 0;
        for _ in 0..2 {
            let (_id, fired, stats) = stats_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(fired, 1, "{stats:?}");
            // 128 datagrams in at most 128 passes, one timer run, the
            // first and the last: nothing while idle.
            assert!(stats.passes <= 2 * 128 + 4, "{stats:?}");
            assert_eq!(stats.kernel_drops, 0, "{stats:?}");
            total_out += stats.handoffs_out;
            total_in += stats.handoffs_in;
        }
        assert_eq!(total_out, total_in);
        for r in rt.join() {
            r.unwrap();
        }
    }

    /// An idle shard with no timer sleeps until notified: a few passes in
    /// 260 ms, not one per ms; every notification is seen.
    #[test]
    fn no_timer_no_wakeup() {
        let stop = Arc::new(AtomicBool::new(false));
        let rt = RuntimeBuilder::new().shards(1).spawn({
            let stop = stop.clone();
            move |ctx: ShardCtx| {
                let mut io = Io::new(&ctx.waker, &ServeOptions::default()).unwrap();
                io.add_socket(
                    0,
                    UdpTransport::bind_with("127.0.0.1:0".parse().unwrap(), false).unwrap(),
                )
                .unwrap();
                let mut svc = Echo {
                    id: ctx.id,
                    out: Vec::new(),
                    stop: stop.clone(),
                    timer: None,
                    after: None,
                    fired: 0,
                    last: None,
                };
                serve(&ctx, &mut io, &mut svc)
            }
        });
        let rt = rt.unwrap();
        std::thread::sleep(Duration::from_millis(200));
        // Each notification wakes it (the eventfd is edge-triggered and
        // never read back: every write must still be an event).
        for _ in 0..3 {
            rt.wakers()[0].notify();
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        rt.wakers()[0].notify();
        let stats = rt.join().pop().unwrap().unwrap();
        // The first pass, three notifications and the stop.
        assert_eq!(stats.timeouts, 5, "{stats:?}");
        assert!(stats.passes <= 8, "{stats:?}");
        assert!(stats.waits <= 5, "{stats:?}");
    }
}
