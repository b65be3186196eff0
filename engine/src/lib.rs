//! trunkline's engine: the sans-IO proxy pipeline, least-cost routing,
//! DNS, configuration, and (feature `runtime`, on by default) the running
//! router, its composition root and the `trunkline` command line.
//!
//! # Module map
//!
//! Sans-IO (builds without the runtime: no sockets, no clocks, no
//! threads on the request path; time comes in as `now`):
//! - [`proxy`]: the proxy core of one shard ([`proxy::ProxyCore`]) and
//!   its pipeline of [`proxy::stages`].
//! - [`lcr`]: least-cost routing: the [`lcr::TargetSource`] contract, the
//!   table in service ([`lcr::LcrTable`], a memory-mapped snapshot of
//!   `trunkline-routing-tables`), the gateways' caps.
//! - [`dns`]: host names: SRV/A answers and their per-call order (RFC
//!   2782, RFC 3263), a shard's name cache; with the runtime, the hickory
//!   resolver and the lookup threads.
//! - [`config`]: the configuration, plain data, from TOML or the built-in
//!   default.
//! - [`security`]: flood defence before parsing (pike, the ban list:
//!   [`security::Gate`] per shard on a shared [`security::Shield`]),
//!   named rate limits, CIDR sets.
//! - [`dispatch`]: dispatcher sets (`[[dispatcher]]`): the algorithms,
//!   each shard's copy with its probes, stickiness for Replaces.
//! - [`registrar`]: the registrar's REGISTER rules and the location
//!   table (partitioned by the AOR's hash), its snapshots' records; the
//!   pipeline's side is [`proxy::stages::registrar`].
//!
//! Runtime (feature `runtime`: the shard threads, tokio, hickory, clap,
//! signals):
//! - `runtime`: [`runtime::RouterBuilder`], the one composition root
//!   (`trunkline run` and the tests build the router with it), the
//!   running shards, the reload path, the control socket, signals.
//! - `cli`: `trunkline run | check-config | parse | snap`.
//!
//! # Data flow
//!
//! ```text
//!            datagram (a shard's socket, or handed over by the shard
//!               │       that received it: the Call-ID's owner runs it)
//!               ▼
//!   ┌─ ProxyCore::handle_datagram(now, bytes, src, listener) ───────────┐
//!   │  ingress: frame (§7, §18.3); unframable request → 400/505/513    │
//!   │  validate_with(PROXY) (§16.3 steps 1, 2, 6) → 400/416/...        │
//!   │                                                                  │
//!   │  request:  ACK/CANCEL → their transaction (§17, §16.10)          │
//!   │            server transaction (§17.2; cap → 503, retrans absorbed)│
//!   │            stages: validate (§16.3 steps 3, 5) → policy → auth   │
//!   │                    → limits → REGISTER for our domains answered  │
//!   │                    (§10.3) → route (§16.4-16.5: Route set, a     │
//!   │                    dispatcher set, our AORs' bindings, LCR,      │
//!   │                    --to, Request-URI, names) → edits             │
//!   │            forward (§16.6): wire writes the copy, client         │
//!   │                    transaction + response context (§16.7);       │
//!   │                    serial search: one target after another,      │
//!   │                    or a parallel fork (§16.7 best response)      │
//!   │  response: client transaction (§17.1) → response context:        │
//!   │            best response, CANCEL, failover (§16.7-16.10);        │
//!   │            unmatched → relayed statelessly (§16.11) or a probe's │
//!   └──────────────────────────────────────────────────────────────────┘
//!               │ poll_transmit                │ poll_name_query
//!               ▼                              ▼
//!        datagrams out                lookup threads (dns) → handle_name_answer
//! ```
//!
//! Timers (Timer A-M of the transaction layer, Timer C, parked names,
//! probing rounds) all come back through `handle_timeout(now)` at the
//! instant `poll_timeout()` gave.

pub mod auth;
pub mod calendar;
pub mod cdr;
pub mod config;
pub mod dispatch;
pub mod dns;
pub mod lcr;
pub mod policy;
pub mod proxy;
pub mod registrar;
pub mod security;

#[cfg(feature = "runtime")]
pub mod cli;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
