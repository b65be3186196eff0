//! Thread-per-core runtime and sans-IO state machines.
//!
//! - [`shard_map`]: Call-ID → shard hashing, and Call-IDs that carry their
//!   owner shard.
//! - [`tx`]: the RFC 3261 §17 transaction layer (with RFC 6026), a value
//!   driven by `handle_*(now, input)` and polled for output.
//! - [`dialog`]: the dialogs of the calls a shard record-routes (RFC 3261
//!   §12), early/confirmed/terminated per To tag, and their expiry.
//! - [`timer`]: fixed-duration timer lists, O(1) per operation.
//! - `runtime` (feature `runtime`): a pinned thread per shard and the
//!   mesh of queues between them; `serve`: the shard loop (read, hand
//!   off, process, flush, wait) shared by the router and trunkload;
//!   `udp`: batched sockets.
//!
//! State machines never touch a socket or a clock: time comes in as `now`,
//! so tests drive them deterministically.

pub mod dialog;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "runtime")]
pub mod serve;
pub mod shard_map;
pub mod timer;
pub mod tx;
#[cfg(feature = "runtime")]
pub mod udp;

pub use shard_map::{CallIdMinter, ShardId, ShardMap};
