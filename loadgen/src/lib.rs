//! trunkload, a SIPp-compatible load generator.
//!
//! It runs SIPp's XML scenarios with SIPp's command line, on every core:
//! `docs/sipp/compat.md` is the compatibility spec.
//!
//! - [`scenario`]: loading scenario XML (elements, attributes, actions,
//!   CDATA clean-up, keywords) and the built-in scenarios.
//! - [`inject`]: `-inf` injection files.
//! - [`options`]: SIPp's command line, table-driven, with its defaults and
//!   exit codes.
//! - [`call`]: the sans-IO call executor (SIPp's call semantics, §4).
//! - [`stats`]: counters, response times and call lengths, and SIPp's
//!   output files and screens (§5).
//! - [`runtime`]: shards, sockets, open-loop pacing, the `trunkload` run.
//!
//! Dependencies point one way, down this list of layers (a module uses
//! only those below it, never one above, so there is no import cycle;
//! `tests/module_layers.rs` checks it):
//!
//! 1. [`runtime`]
//! 2. [`call`]
//! 3. [`stats`]
//! 4. [`options`]
//! 5. [`inject`], [`scenario`] (neither uses the other)
//!
//! So what two layers share lives in the lower one: the default
//! behaviours (`-default_behaviors`) are [`options::Behaviors`], which
//! calls follow; the exit codes are [`options::exit`], which the
//! statistics compute.

pub mod call;
pub mod inject;
pub mod options;
pub mod runtime;
pub mod scenario;
pub mod stats;
