//! The running router (feature `runtime`): the composition root that
//! builds it from a [`Config`](crate::config::Config) and injected
//! services ([`RouterBuilder`]), the running shards (a pinned thread per
//! core), the one reload path for everything reloadable ([`Reloader`]),
//! the local control socket ([`control`]) and signal handling.
//!
//! `trunkline run` and the end-to-end tests build the router the same
//! way: `RouterBuilder::new(config)`, optionally with a resolver or a
//! routing source of their own, then `start()`.

mod board;
mod builder;
pub mod control;
mod journal;
pub mod location;
pub mod redis_location;
mod reload;
mod secret;
mod shards;
mod signals;

pub use builder::{Router, RouterBuilder, StartError};
pub use reload::{Reloadable, Reloader, Staged};
pub use shards::{ShardReport, Stopper};
