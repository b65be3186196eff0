//! The proxy core's settings: plain data, built from the engine's
//! configuration (`crate::config`). The services the core asks (least-cost
//! routing) are not settings: they come with [`super::Services`].

use std::net::SocketAddr;

use trunkline_parser::Limits;
use trunkline_shards::tx::Timers;

use super::next_hop::{LocalAddr, Locals};
use super::probe::ProbeConfig;
use crate::lcr::FailoverCodes;

/// How the proxy keeps state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Transaction-stateful (§16.2 ff.): retransmissions absorbed,
    /// 100 Trying sent, response selection, CANCEL handling, Timer C.
    Stateful,
    /// Stateless (§16.11): every message forwarded on its own.
    Stateless,
}

/// What the proxy core needs to know.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyConfig {
    /// Stateful or stateless.
    pub mode: Mode,
    /// Add a Record-Route to initial requests that can create a dialog.
    pub record_route: bool,
    /// Where requests go that carry no Route past us (`--to`).
    pub default_route: Option<SocketAddr>,
    /// Our addresses, one per listener (index = local socket id).
    pub locals: Locals,
    /// Transaction timers.
    pub timers: Timers,
    /// Parser limits.
    pub limits: Limits,
    /// Seed of the branch hash. Fixed by default so that branches are the
    /// same across restarts (a stateless ACK or CANCEL must match).
    pub branch_seed: u64,
    /// Most live server transactions per shard; beyond it new requests get
    /// 503 without state (a flood cannot exhaust memory).
    pub max_transactions: usize,
    /// Final responses (and timeouts, as 408) that move a routed call to
    /// its next target.
    pub failover: FailoverCodes,
    /// Shards in the router: each enforces its share of a gateway's caps.
    pub shards: u16,
    /// Gateway probing (for the gateways least-cost routing lists).
    pub probe: ProbeConfig,
}

impl ProxyConfig {
    /// A stateful record-routing proxy on `listen` forwarding to `to`.
    pub fn new(listen: SocketAddr, to: Option<SocketAddr>) -> ProxyConfig {
        ProxyConfig {
            mode: Mode::Stateful,
            record_route: true,
            default_route: to,
            locals: Locals {
                addrs: vec![LocalAddr::from_socket(listen)],
            },
            timers: Timers::default(),
            limits: Limits::default(),
            branch_seed: 0x7472_756e_6b6c_696e,
            max_transactions: 1_000_000,
            failover: FailoverCodes::default(),
            shards: 1,
            probe: ProbeConfig::default(),
        }
    }
}
