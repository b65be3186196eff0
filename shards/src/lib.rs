//! Thread-per-core runtime and sans-IO state machines (to come, issue 3).
//!
//! This crate will own:
//! - `ShardMap`: Call-ID → shard hashing (seeded, non-cryptographic), and a
//!   Call-ID minter whose ids carry their owner shard;
//! - the RFC 3261 §17 transaction state machines (INVITE/non-INVITE, client
//!   and server) as values driven by `handle_*(now, input)` and polled for
//!   actions, with per-shard fixed-duration timer lists;
//! - dialog tracking and CDR events;
//! - behind the `runtime` feature, the glommio executor per core and the
//!   cross-shard handoff mesh.
//!
//! State machines never touch a socket or a clock: time comes in as `now`.
