//! Publishing a new snapshot to every shard without locks.
//!
//! [`SnapshotHandle`] is an `ArcSwap<Snapshot>`: a shard's
//! [`load`](SnapshotHandle::load) is a few atomic operations and never
//! waits; [`publish`](SnapshotHandle::publish) swaps the pointer in one
//! step. Each reader holds an `Arc` (or arc-swap's cheaper guard) while it
//! uses a table, so a swap never pulls a table from under a lookup; the old
//! snapshot, and with it the mapping, is dropped when its last reader lets
//! go. A call keeps its resolved gateway list (plain ids) for its lifetime;
//! it does not need to hold the snapshot.

use std::sync::Arc;

use arc_swap::{ArcSwap, Cache, Guard};

use crate::mapped::Snapshot;

/// The snapshot in service.
#[derive(Debug)]
pub struct SnapshotHandle {
    current: ArcSwap<Snapshot>,
}

impl SnapshotHandle {
    /// Starts serving `first`.
    pub fn new(first: Snapshot) -> SnapshotHandle {
        SnapshotHandle {
            current: ArcSwap::from_pointee(first),
        }
    }

    /// The snapshot in service now: lock-free, wait-free on the fast path.
    /// Hold the guard for one routing decision, not across awaits.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The snapshot in service now, as an owned `Arc`.
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A per-shard cache: `cache.load()` is a single pointer compare when
    /// nothing was published since the last call.
    pub fn cache(&self) -> Cache<&ArcSwap<Snapshot>, Arc<Snapshot>> {
        Cache::new(&self.current)
    }

    /// Puts `next` in service; returns the snapshot it replaced (dropped,
    /// with its mapping, when its last reader drops it).
    pub fn publish(&self, next: Snapshot) -> Arc<Snapshot> {
        self.current.swap(Arc::new(next))
    }
}
