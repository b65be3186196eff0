//! The thread-per-core runtime (feature `runtime`): one glommio executor
//! per shard, pinned to its CPU, and a full mesh of SPSC channels between
//! shards for handing datagrams to their owner (glommio's
//! `examples/sharding.rs` model; Seastar's `sharded<T>`).
//!
//! Shards share no mutable state: each owns its maps and talks to the
//! others only by message passing.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use glommio::channels::channel_mesh::{Full, MeshBuilder, Receivers, Senders};
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};

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
    /// When it was received (for latency accounting).
    pub received: Instant,
}

/// What a shard gets to run with.
#[derive(Debug)]
pub struct ShardCtx {
    /// This shard.
    pub id: ShardId,
    /// The Call-ID → shard map shared by all shards.
    pub map: ShardMap,
    /// Senders to every shard (index = shard id).
    pub senders: Senders<Handoff>,
    /// Receivers from every shard.
    pub receivers: Receivers<Handoff>,
}

impl ShardCtx {
    /// Sends `h` to shard `owner`; when its channel is full, waits for
    /// room (backpressure on the receive loop rather than a lost
    /// datagram). `Err` only when the owner's channel is gone (it stopped).
    pub async fn hand_off(
        &self,
        owner: u16,
        h: Handoff,
    ) -> Result<(), glommio::GlommioError<Handoff>> {
        match self.senders.try_send_to(owner as usize, h) {
            Err(glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(h))) => {
                self.senders.send_to(owner as usize, h).await
            }
            other => other,
        }
    }
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
    /// An executor could not be created (often: io_uring needs locked
    /// memory, see `ulimit -l`).
    #[error(
        "cannot start shard {shard} on {placement}: {source} (io_uring needs locked memory: check `ulimit -l`, 512 KiB or more)"
    )]
    Executor {
        /// The shard.
        shard: u16,
        /// Where it was to run.
        placement: String,
        /// What glommio said.
        source: glommio::GlommioError<()>,
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

    /// Depth of each cross-shard channel.
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

    /// Starts every shard running `run(ctx)`; returns once all executors
    /// exist (the futures run on).
    pub fn spawn<F, Fut, T>(self, run: F) -> Result<Runtime<T>, RuntimeError>
    where
        F: Fn(ShardCtx) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        if self.shards == 0 {
            return Err(RuntimeError::NoShards);
        }
        let mesh = MeshBuilder::<Handoff, Full>::full(self.shards as usize, self.mesh_capacity);
        let map = ShardMap::new(self.shards, self.seed);
        let mut handles = Vec::with_capacity(self.shards as usize);
        for i in 0..self.shards {
            let placement = match &self.cpus {
                Some(c) => Placement::Fixed(c[i as usize % c.len()]),
                None => Placement::Unbound,
            };
            let placement_text = format!("{placement:?}");
            let mesh = mesh.clone();
            let map = map.clone();
            let run = run.clone();
            let h = LocalExecutorBuilder::new(placement)
                .name(&format!("{}-{i}", self.name))
                .spawn(move || async move {
                    let (senders, receivers) = mesh.join().await.expect("mesh join");
                    let id = ShardId(senders.peer_id() as u16);
                    run(ShardCtx {
                        id,
                        map,
                        senders,
                        receivers,
                    })
                    .await
                })
                .map_err(|e| RuntimeError::Executor {
                    shard: i,
                    placement: placement_text,
                    source: strip(e),
                })?;
            handles.push(h);
        }
        Ok(Runtime { handles })
    }
}

fn strip<T>(e: glommio::GlommioError<T>) -> glommio::GlommioError<()> {
    match e {
        glommio::GlommioError::IoError(io) => glommio::GlommioError::IoError(io),
        other => glommio::GlommioError::IoError(std::io::Error::other(other.to_string())),
    }
}

/// Running shards.
#[derive(Debug)]
pub struct Runtime<T: Send + 'static> {
    handles: Vec<ExecutorJoinHandle<T>>,
}

impl<T: Send + 'static> Runtime<T> {
    /// Waits for every shard to finish; returns their results in shard order.
    pub fn join(self) -> Vec<Result<T, String>> {
        self.handles
            .into_iter()
            .map(|h| h.join().map_err(|e| e.to_string()))
            .collect()
    }
}
