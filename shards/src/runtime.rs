//! The thread-per-core runtime (feature `runtime`): one thread per shard,
//! pinned to its CPU, each running its own loop ([`crate::serve`]), and a
//! mesh of bounded lock-free queues between shards for handing datagrams
//! to the shard that owns their Call-ID (Seastar's `sharded<T>` model).
//!
//! Shards share no mutable state: each owns its maps and talks to the
//! others only by message passing. A shard with nothing to do sleeps in
//! the kernel (`epoll_wait`) on its sockets and on an eventfd, its
//! [`Waker`]. Another shard writes that eventfd only when the shard is
//! asleep (a handoff to a busy shard costs no syscall), and other threads
//! (a stop, a name lookup's answer) write it to get the shard's attention.
//!
//! This replaced glommio executors (until 2026-12): glommio parks through
//! io_uring, and every park/unpark cycle cost 9-12 `io_uring_enter` plus a
//! `membarrier` (its executor cancels and re-arms preemption timers on
//! two rings and links the rings before it sleeps), several µs per
//! datagram when the load is low enough that the shard sleeps between
//! datagrams, which is the load carriers run (benches/RESULTS.md,
//! "Wakeups").

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::shard_map::{ShardId, ShardMap};

/// A datagram handed from the shard that received it to the shard that
/// owns its Call-ID: the bytes, where they came from, and on which of our
/// sockets.
#[derive(Debug)]
pub struct Handoff {
    /// The datagram.
    pub bytes: Vec<u8>,
    /// Its source address.
    pub src: SocketAddr,
    /// The listener it arrived on.
    pub local: u16,
    /// When it was received (for latency accounting and timers).
    pub received: Instant,
}

/// Wakes a shard that sleeps: an eventfd its loop waits on beside its
/// sockets, and a flag saying whether it sleeps.
///
/// Two uses: [`Waker::notify`], for other threads (a stop, a counter
/// dump, a name lookup's answer), always writes and has the shard run its
/// timeout handler; handoffs between shards write only when the receiving
/// shard is parked ([`Waker::wake_if_parked`]), so a busy shard receives
/// handoffs without any syscall on either side.
pub struct Waker {
    fd: OwnedFd,
    parked: AtomicBool,
    notified: AtomicBool,
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("fd", &self.fd.as_raw_fd())
            .field("parked", &self.parked.load(Ordering::Relaxed))
            .finish()
    }
}

impl Waker {
    /// A waker with a fresh non-blocking eventfd.
    pub fn new() -> std::io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Waker {
            // SAFETY: `fd` was just opened and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            parked: AtomicBool::new(false),
            notified: AtomicBool::new(false),
        })
    }

    /// Asks the shard to run its timeout handler soon (it checks its
    /// flags there: stop, dump, answers waiting), waking it if it sleeps.
    pub fn notify(&self) {
        self.notified.store(true, Ordering::Release);
        self.kick();
    }

    /// Writes the eventfd: the shard's next wait returns at once.
    pub(crate) fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        // A full counter (EAGAIN) means it is readable already.
        unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                std::ptr::from_ref(&one).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }

    /// After a handoff was queued for this shard: wakes it if it is
    /// parked (or about to park), once per park.
    ///
    /// Pairs with [`Waker::prepare_park`]: the sender's queue push, this
    /// fence, then the load; the shard's store of `parked`, its fence,
    /// then its look at the queue. One of the two sees the other's write
    /// (sequentially consistent fences), so either the shard sees the
    /// handoff before it sleeps or the sender sees it parked and kicks it.
    pub(crate) fn wake_if_parked(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            self.kick();
        }
    }

    /// The shard is about to sleep: from here on senders kick it. The
    /// caller checks its queue (and [`Waker::notified`]) after this and
    /// before sleeping.
    pub(crate) fn prepare_park(&self) {
        self.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// The shard is awake again.
    pub(crate) fn unpark(&self) {
        self.parked.store(false, Ordering::Relaxed);
    }

    /// Whether [`Waker::notify`] was called since the last
    /// [`Waker::take_notified`].
    pub(crate) fn notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Takes the notification, if any.
    pub(crate) fn take_notified(&self) -> bool {
        self.notified.load(Ordering::Relaxed) && self.notified.swap(false, Ordering::AcqRel)
    }

    /// Empties the eventfd. The shard loop never needs to (it waits on
    /// the eventfd edge-triggered); tests do.
    #[cfg(test)]
    pub(crate) fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking
        // eventfd; EAGAIN (already empty) is harmless.
        unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                std::ptr::from_mut(&mut v).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }

    /// The eventfd, for the shard's wait.
    pub(crate) fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// A shard's end of the mesh: a queue to every shard (its own included,
/// unused) with that shard's waker, and its own inbox.
pub struct Mesh {
    to: Vec<(Sender<Handoff>, Arc<Waker>)>,
    inbox: Receiver<Handoff>,
}

impl fmt::Debug for Mesh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mesh")
            .field("shards", &self.to.len())
            .field("inbox", &self.inbox.len())
            .finish()
    }
}

/// Why [`Mesh::try_send`] did not queue a handoff.
#[derive(Debug)]
pub enum SendError {
    /// The owner's inbox is full: try again after doing some work.
    Full(Handoff),
    /// The owner has stopped.
    Gone(Handoff),
}

impl Mesh {
    /// Queues `h` for shard `owner` without waking it (see
    /// [`Mesh::wake`]).
    pub fn try_send(&self, owner: usize, h: Handoff) -> Result<(), SendError> {
        match self.to[owner].0.try_send(h) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(h)) => Err(SendError::Full(h)),
            Err(TrySendError::Disconnected(h)) => Err(SendError::Gone(h)),
        }
    }

    /// Wakes shard `owner` if it sleeps (after queuing it handoffs).
    pub fn wake(&self, owner: usize) {
        self.to[owner].1.wake_if_parked();
    }

    /// Wakes shard `owner` whether it sleeps or not (its inbox is full:
    /// it must drain it).
    pub fn kick(&self, owner: usize) {
        self.to[owner].1.kick();
    }

    /// The next handoff for this shard, if any.
    pub fn try_recv(&self) -> Option<Handoff> {
        self.inbox.try_recv().ok()
    }

    /// Whether handoffs wait in this shard's inbox.
    pub fn has_inbox(&self) -> bool {
        !self.inbox.is_empty()
    }
}

/// What a shard gets to run with.
#[derive(Debug)]
pub struct ShardCtx {
    /// This shard.
    pub id: ShardId,
    /// The Call-ID → shard map shared by all shards.
    pub map: ShardMap,
    /// Queues to the other shards and this one's inbox.
    pub mesh: Mesh,
    /// This shard's waker (the loop sleeps on it).
    pub waker: Arc<Waker>,
}

/// A shard's spare buffers for datagrams it hands to other shards: the
/// buffers of the handoffs it receives come back here, so steady-state
/// handoffs do not allocate.
#[derive(Debug, Default)]
pub struct HandoffPool(std::cell::RefCell<Vec<Vec<u8>>>);

impl HandoffPool {
    /// Most buffers kept.
    const MAX: usize = 4096;

    /// A handoff carrying a copy of `bytes`, in a pooled buffer.
    pub fn handoff(&self, bytes: &[u8], src: SocketAddr, local: u16, received: Instant) -> Handoff {
        let mut buf = self.0.borrow_mut().pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(bytes);
        Handoff {
            bytes: buf,
            src,
            local,
            received,
        }
    }

    /// Takes back the buffer of a handoff this shard has processed.
    pub fn give_back(&self, bytes: Vec<u8>) {
        let mut pool = self.0.borrow_mut();
        if pool.len() < HandoffPool::MAX {
            pool.push(bytes);
        }
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A shard's thread could not be started or pinned to its CPU.
    #[error("cannot start shard {shard} on {placement}: {source}")]
    Executor {
        /// The shard.
        shard: u16,
        /// Where it was to run.
        placement: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A shard count of zero.
    #[error("the shard count must be at least 1")]
    NoShards,
}

/// Builds and starts the shards.
#[derive(Clone, Debug)]
pub struct RuntimeBuilder {
    shards: u16,
    cpus: Option<Vec<usize>>,
    mesh_capacity: usize,
    seed: u64,
    name: String,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            shards: std::thread::available_parallelism().map_or(1, |n| n.get() as u16),
            cpus: None,
            mesh_capacity: 4096,
            seed: 0,
            name: "shard".into(),
        }
    }
}

impl RuntimeBuilder {
    /// A builder with one shard per available CPU.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of shards.
    pub fn shards(mut self, n: u16) -> Self {
        self.shards = n;
        self
    }

    /// Pin shard `i` to `cpus[i % cpus.len()]`; unpinned when `None`.
    pub fn cpus(mut self, cpus: Option<Vec<usize>>) -> Self {
        self.cpus = cpus.filter(|c| !c.is_empty());
        self
    }

    /// Depth of each shard's inbox, per other shard.
    pub fn mesh_capacity(mut self, n: usize) -> Self {
        self.mesh_capacity = n.max(1);
        self
    }

    /// Seed of the Call-ID hash.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Thread name prefix.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Starts every shard's thread running `run(ctx)`; returns once all
    /// of them exist and are pinned (they run on). When one cannot start,
    /// none runs `run`.
    pub fn spawn<F, T>(self, run: F) -> Result<Runtime<T>, RuntimeError>
    where
        F: Fn(ShardCtx) -> T + Send + Sync + Clone + 'static,
        T: Send + 'static,
    {
        if self.shards == 0 {
            return Err(RuntimeError::NoShards);
        }
        let n = self.shards as usize;
        let map = ShardMap::new(self.shards, self.seed);
        let wakers: Vec<Arc<Waker>> = (0..n)
            .map(|i| {
                Waker::new()
                    .map(Arc::new)
                    .map_err(|source| RuntimeError::Executor {
                        shard: i as u16,
                        placement: "eventfd".into(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        let capacity = self.mesh_capacity * n.saturating_sub(1).max(1);
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| crossbeam_channel::bounded::<Handoff>(capacity))
            .unzip();
        let mut handles = Vec::with_capacity(n);
        let mut gos = Vec::with_capacity(n);
        let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
        let mut failed = None;
        for (i, inbox) in rxs.into_iter().enumerate() {
            let cpu = self.cpus.as_ref().map(|c| c[i % c.len()]);
            let placement = cpu.map_or("any CPU".to_string(), |c| format!("CPU {c}"));
            let ctx = ShardCtx {
                id: ShardId(i as u16),
                map: map.clone(),
                mesh: Mesh {
                    to: txs.iter().cloned().zip(wakers.iter().cloned()).collect(),
                    inbox,
                },
                waker: wakers[i].clone(),
            };
            let run = run.clone();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<bool>();
            let pinned = pinned_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{i}", self.name))
                .spawn(move || {
                    let r = cpu.map_or(Ok(()), pin_to);
                    let ok = r.is_ok();
                    let _ = pinned.send((i, r));
                    if ok && go_rx.recv() == Ok(true) {
                        Some(run(ctx))
                    } else {
                        None
                    }
                });
            match spawned {
                Ok(h) => {
                    handles.push(h);
                    gos.push(go_tx);
                }
                Err(source) => {
                    failed = Some(RuntimeError::Executor {
                        shard: i as u16,
                        placement,
                        source,
                    });
                    break;
                }
            }
        }
        drop(pinned_tx);
        for _ in 0..handles.len() {
            match pinned_rx.recv() {
                Ok((_, Ok(()))) => {}
                Ok((i, Err(source))) => {
                    failed.get_or_insert(RuntimeError::Executor {
                        shard: i as u16,
                        placement: self
                            .cpus
                            .as_ref()
                            .map_or("any CPU".into(), |c| format!("CPU {}", c[i % c.len()])),
                        source,
                    });
                }
                Err(_) => break,
            }
        }
        let go = failed.is_none();
        for g in gos {
            let _ = g.send(go);
        }
        if let Some(e) = failed {
            for h in handles {
                let _ = h.join();
            }
            return Err(e);
        }
        Ok(Runtime { handles, wakers })
    }
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: all-zero is an empty cpu_set_t.
    let mut set = unsafe { std::mem::zeroed::<libc::cpu_set_t>() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: `cpu` is within the set's bits (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: passes a live cpu_set_t of its own size; 0 = this thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Running shards.
#[derive(Debug)]
pub struct Runtime<T: Send + 'static> {
    handles: Vec<std::thread::JoinHandle<Option<T>>>,
    wakers: Vec<Arc<Waker>>,
}

impl<T: Send + 'static> Runtime<T> {
    /// Every shard's waker, by shard id: [`Waker::notify`] has a shard
    /// look at its flags now rather than at its next timer.
    pub fn wakers(&self) -> Vec<Arc<Waker>> {
        self.wakers.clone()
    }

    /// Waits for every shard to finish; returns their results in shard order.
    pub fn join(self) -> Vec<Result<T, String>> {
        self.handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(Some(t)) => Ok(t),
                Ok(None) => Err("the shard did not start".into()),
                Err(p) => Err(p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the shard panicked".into())),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shards_start_pinned_and_hand_off() {
        let rt = RuntimeBuilder::new()
            .shards(2)
            .cpus(Some(vec![0]))
            .spawn(|ctx: ShardCtx| {
                let me = ctx.id.index();
                let other = 1 - me;
                let h = Handoff {
                    bytes: vec![me as u8],
                    src: SocketAddr::from(([127, 0, 0, 1], 9)),
                    local: 0,
                    received: Instant::now(),
                };
                ctx.mesh.try_send(other, h).unwrap();
                ctx.mesh.wake(other);
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    if let Some(h) = ctx.mesh.try_recv() {
                        return h.bytes[0] as usize;
                    }
                    assert!(Instant::now() < deadline);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .unwrap();
        assert_eq!(rt.wakers().len(), 2);
        let got: Vec<usize> = rt.join().into_iter().map(Result::unwrap).collect();
        assert_eq!(got, [1, 0]);
    }

    #[test]
    fn a_shard_that_cannot_be_pinned_fails_the_start() {
        let r = RuntimeBuilder::new()
            .shards(1)
            .cpus(Some(vec![100_000]))
            .spawn(|_ctx| panic!("must not run"));
        assert!(matches!(r, Err(RuntimeError::Executor { .. })), "{r:?}");
        assert!(matches!(
            RuntimeBuilder::new().shards(0).spawn(|_| ()),
            Err(RuntimeError::NoShards)
        ));
    }

    #[test]
    fn a_full_inbox_refuses_and_a_parked_shard_is_kicked_once() {
        let w = Arc::new(Waker::new().unwrap());
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mesh = Mesh {
            to: vec![(tx, w.clone())],
            inbox: rx,
        };
        let h = |b: u8| Handoff {
            bytes: vec![b],
            src: SocketAddr::from(([127, 0, 0, 1], 9)),
            local: 0,
            received: Instant::now(),
        };
        mesh.try_send(0, h(1)).unwrap();
        assert!(matches!(mesh.try_send(0, h(2)), Err(SendError::Full(_))));
        assert!(mesh.has_inbox());
        // Not parked: no write.
        mesh.wake(0);
        assert!(!readable(&w));
        // Parked: one write, the flag cleared.
        w.prepare_park();
        mesh.wake(0);
        assert!(readable(&w));
        assert!(!w.parked.load(Ordering::Relaxed));
        w.clear();
        assert!(!readable(&w));
        w.notify();
        assert!(readable(&w) && w.notified());
        assert!(w.take_notified() && !w.take_notified());
        assert_eq!(mesh.try_recv().unwrap().bytes, [1]);
        assert!(mesh.try_recv().is_none());
    }

    fn readable(w: &Waker) -> bool {
        let mut p = libc::pollfd {
            fd: w.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd, no wait.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }
}
