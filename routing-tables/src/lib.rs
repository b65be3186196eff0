//! Routing tables as memory-mapped snapshots (to come, issue 5).
//!
//! This crate will own the snapshot file format (a small fixed header and
//! an rkyv archive), the builders from gateway/rule/dialplan/ACL CSV files,
//! longest-prefix lookup that runs directly on the mapped bytes, and the
//! atomic publication of a new snapshot to every shard.
