//! The proxy core's settings: plain data, built from the engine's
//! configuration (`crate::config`). The services the core asks (least-cost
//! routing) are not settings: they come with [`super::Services`].

use std::net::SocketAddr;

use trunkline_parser::Limits;
use trunkline_shards::tx::Timers;

use super::next_hop::{LocalAddr, Locals};
use super::probe::ProbeConfig;
use crate::lcr::FailoverCodes;
use crate::security::CidrSet;

/// What happens to a request from a source no ACL knows
/// (`[security] unknown_source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownSource {
    /// Let it through to the stages after (the default).
    #[default]
    Allow,
    /// Answer 403.
    Reject,
    /// Drop it without an answer.
    Drop,
}

/// The edge's settings (`[security]`): who is trusted, what unknown
/// sources get, whether untrusted ones may relay, what we tell scanners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Trusted sources (trunks, our own pools): never subject to
    /// `unknown_source`, `open_relay`, flood counting or bans.
    pub trusted: CidrSet,
    /// What a source that is neither trusted, nor in the routing table's
    /// ACL, nor given a group or digest authentication by the policy gets.
    pub unknown_source: UnknownSource,
    /// Whether an untrusted source may choose the next hop (a Route, its
    /// Request-URI); false: it is routed by the default route or the
    /// routing table only, anything else is refused with 403.
    pub open_relay: bool,
    /// The `Server` header line of the responses generated here
    /// (`Server: ...`); none by default: a scanner learns nothing.
    pub server_header: Option<Box<[u8]>>,
}

impl Default for EdgeConfig {
    /// Today's open behaviour: nobody trusted, unknown sources allowed,
    /// relaying open, no Server header.
    fn default() -> Self {
        EdgeConfig {
            trusted: CidrSet::default(),
            unknown_source: UnknownSource::Allow,
            open_relay: true,
            server_header: None,
        }
    }
}

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
    /// The key of our branches' keyed hash (SipHash-1-3): a response
    /// whose branch is not the hash of the Via under ours was not to a
    /// request we forwarded, and is dropped rather than relayed. The
    /// runtime draws a random one per process; fixed here so that tests
    /// are repeatable.
    pub branch_key: [u64; 2],
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
    /// The edge's settings (`[security]`).
    pub edge: EdgeConfig,
    /// Call control (`[dialogs]`, and what needs it: CDRs, call limits):
    /// `None`, calls are not tracked.
    pub dialogs: Option<super::calls::DialogSettings>,
    /// Topology hiding (`[topology_hiding] enabled`, default off): each
    /// side of a call sees only us (see [`super::topology`]); it
    /// record-routes every dialog, and its tokens are keyed from
    /// `branch_key`.
    pub topology_hiding: bool,
    /// Some `[[policy]]` rule hides the topology of the calls it matches
    /// (`topology_hiding = true`): the tokens are read, and calls hidden
    /// per rule. Set by the configuration from its rules (a reload that
    /// adds such rules to a router started without them is refused).
    pub topology_hiding_rules: bool,
    /// Quality routing (`[routing.quality]`): demote gateways whose ASR,
    /// NER or PDD falls under thresholds; needs `dialogs`.
    pub quality: Option<crate::lcr::quality::QualityConfig>,
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
            branch_key: [0x7472_756e_6b6c_696e, 0x6272_616e_6368_6b79],
            max_transactions: 1_000_000,
            failover: FailoverCodes::default(),
            shards: 1,
            probe: ProbeConfig::default(),
            edge: EdgeConfig::default(),
            dialogs: None,
            topology_hiding: false,
            topology_hiding_rules: false,
            quality: None,
        }
    }
}
