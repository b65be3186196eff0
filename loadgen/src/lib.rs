//! trunkload, a SIPp-compatible load generator (issue 4).
//!
//! It runs SIPp's XML scenarios with SIPp's command line, on every core:
//! `shared/sipp/compat.md` is the compatibility spec.
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

pub mod call;
pub mod inject;
pub mod options;
pub mod runtime;
pub mod scenario;
pub mod stats;
