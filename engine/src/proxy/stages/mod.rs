//! The request path as a pipeline of stages (RFC 3261 §16.3 - §16.6 and
//! the SBC stages around them), in this order, each a module that owns
//! its state and is driven with `now`:
//!
//! ```text
//!   validate ─▶ policy ─▶ auth ─▶ limits ─▶ route ─▶ edits ─▶ forward
//!   (§16.3)     (slot)    (slot)  (slot)    (§16.5)  (slot)   (§16.6)
//! ```
//!
//! - [`validate`]: what §16.3 asks of a proxy beyond the parser's
//!   validation (Max-Forwards, Proxy-Require), and OPTIONS addressed to us.
//! - [`policy`], [`auth`], [`limits`]: the request policy (`[[policy]]`),
//!   digest and source authentication, the rate limits and the call
//!   limits (`[[limit]]`: customers' concurrent calls and calls per
//!   second; carriers' and gateways' are the serial search's).
//! - [`route`]: where the request goes (§16.4 - §16.5): its Route set,
//!   `--to`, least-cost routing, or its Request-URI (later: a dispatcher
//!   set, a registrar's bindings).
//! - [`edits`]: the header rules (the policy's header edits, our digest
//!   credentials consumed), applied as the copy is written.
//! - forward: the copy written and sent ([`super::wire`]), through a
//!   client transaction and a response context when stateful
//!   ([`super::contexts`]), one target after another for a serial search
//!   ([`super::serial`]).
//!
//! Each stage answers with a [`Verdict`]: go on, answer the request, or
//! drop it. A stage that wants to see the responses to a request asks for
//! them on the request's response context ([`super::contexts::Followers`]):
//! responses flow back through the stages that asked (§16.7).
//!
//! Before the stages: framing and the parser's validation
//! ([`super::ingress`]), ACK and CANCEL (matched to their transactions,
//! §16.10), and the server transaction (retransmissions absorbed, the
//! transaction cap's 503).

pub mod auth;
pub mod edits;
pub mod limits;
pub mod policy;
pub mod registrar;
pub mod route;
pub mod validate;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use trunkline_parser::{Message, Method, Summary, Via};
use trunkline_shards::tx::TxId;

use crate::lcr::GroupName;
use crate::proxy::next_hop::Locals;
use crate::security::LimitId;

/// A request on its way through the pipeline: parsed and validated once,
/// never parsed again by a stage.
#[derive(Clone, Copy, Debug)]
pub struct Request<'m, 'a> {
    /// The message.
    pub msg: &'m Message<'a>,
    /// What validation parsed.
    pub sum: &'m Summary<'a>,
    /// Where it came from.
    pub src: SocketAddr,
    /// The listener it came in on.
    pub local: u16,
    /// Its server transaction (stateful mode).
    pub server: Option<TxId>,
}

impl Request<'_, '_> {
    /// The method (extension methods as [`Method::Extension`]).
    pub fn method(&self) -> Method {
        self.msg.method().unwrap_or(Method::Extension)
    }

    /// Where responses to it go (§18.2.2, RFC 3581).
    pub fn response_dest(&self) -> SocketAddr {
        response_dest(&self.sum.top_via, self.src)
    }

    /// Outside a dialog: no To tag (§12).
    pub fn initial(&self) -> bool {
        self.sum.to.tag().is_none()
    }
}

/// Where responses to a request go (§18.2.2; RFC 3581 `rport`): the
/// source address, and the Via port unless `rport` asked for the source port.
pub(crate) fn response_dest(via: &Via<'_>, src: SocketAddr) -> SocketAddr {
    if via.rport.is_none() {
        SocketAddr::new(src.ip(), via.port.unwrap_or(5060))
    } else {
        src
    }
}

/// What a stage decides about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<'x> {
    /// On to the next stage.
    Continue,
    /// Answer it (through its server transaction when it has one) and
    /// stop: a status, its reason phrase and an extra header line (empty:
    /// none).
    Reply {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: &'x [u8],
        /// One header line to add (`Name: value`), or empty.
        header: &'x [u8],
    },
    /// Drop it without an answer (the stage counts it).
    Drop,
}

impl Verdict<'_> {
    /// A reply without an extra header.
    pub const fn reply(code: u16, reason: &'static [u8]) -> Verdict<'static> {
        Verdict::Reply {
            code,
            reason,
            header: b"",
        }
    }
}

/// What the stages learn about a request and tell the stages after them;
/// cleared for every request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// The source is trusted (`[security] trusted`): set before the
    /// stages.
    pub trusted: bool,
    /// The route stage checked the source already: a request parked
    /// while its next hop's name was looked up, going on.
    pub source_checked: bool,
    /// The routing group a policy rule gave the call (`set_group`):
    /// least-cost routing routes it there instead of the source's group.
    pub group: Option<GroupName>,
    /// A policy rule asked for digest authentication.
    pub authenticate: bool,
    /// The rate limits (`[[rate_limit]]`) policy rules made the request
    /// count against; at most [`Attributes::MAX_LIMITS`], later ones are
    /// not counted.
    pub rate_limits: [Option<LimitId>; Attributes::MAX_LIMITS],
    /// The call limits' slots (`[[limit]]`) the limits stage took for an
    /// initial INVITE: the call holds them until it ends.
    pub call_held: Option<crate::security::call_limits::Held>,
    /// The policy's header-edit rules that apply to the forwarded copy.
    pub edits: edits::EditSet,
    /// The call's maximum duration, when a policy rule set one
    /// (`max_duration_s`): overrides `[dialogs] max_duration_s`.
    pub max_duration: Option<std::time::Duration>,
    /// A policy rule asked for topology hiding (`topology_hiding = true`).
    pub hide_topology: bool,
    /// The dispatcher set a policy rule sends the request to (`dispatch =
    /// ID`): the route stage picks its destination there.
    pub dispatch: Option<GroupName>,
}

impl Attributes {
    /// The most rate limits one request counts against.
    pub const MAX_LIMITS: usize = 4;

    /// Counts the request against rate limit `id` too.
    pub fn add_rate_limit(&mut self, id: LimitId) {
        if let Some(slot) = self.rate_limits.iter_mut().find(|s| s.is_none()) {
            *slot = Some(id);
        }
    }
}

/// What a stage is given besides the request: the attributes the stages
/// before it set, our addresses, and what the routing table knows of a
/// source.
pub struct StageCx<'c> {
    /// The request's attributes (cleared for each request).
    pub attrs: &'c mut Attributes,
    /// Our addresses.
    pub locals: &'c Locals,
    /// The routing table's ACL group of a source, when there is a table.
    pub source_group: &'c dyn Fn(IpAddr) -> Option<GroupName>,
}

impl std::fmt::Debug for StageCx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageCx")
            .field("attrs", &self.attrs)
            .finish_non_exhaustive()
    }
}

/// A stage of the request path.
pub trait RequestStage {
    /// Looks at a request that reached this stage and decides.
    fn on_request<'s>(
        &'s mut self,
        now: Instant,
        req: &Request<'_, '_>,
        cx: &mut StageCx<'_>,
    ) -> Verdict<'s>;
}
