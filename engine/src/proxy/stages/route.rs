//! The route stage (RFC 3261 §16.4 - §16.5): where a request goes.
//!
//! In order: a Route set past us is followed (loose or strict routing,
//! [`crate::proxy::next_hop`]); an initial INVITE without one is routed
//! by least-cost routing when a table is configured (stateful mode:
//! failover is per transaction); else the default route (`--to`), else
//! the Request-URI. A next hop given by host name is looked up in the
//! shard's name cache ([`crate::dns::cache`]): answered, it gives the
//! addresses (an INVITE tries each in turn, RFC 3263 §4.3); unknown, the
//! request is parked until the name is looked up. A request a policy rule
//! sends to a dispatcher set (`dispatch = ID`, [`crate::dispatch`]) goes
//! to the set's destinations instead, in the order its algorithm picks
//! (an INVITE tries them in turn, or all at once for `parallel`); with
//! none alive, 503: a `dispatch` rule applies to every initial request
//! it matches. A request for one of our AORs (`[registrar]` domains,
//! [`super::registrar`]) that no rule sent to a set goes to the AOR's
//! bindings, or gets 480 (404) without one. (A pool in front of which we
//! register subscribers: a rule `accept = true` for the pool's sources
//! first, so that their calls reach the bindings, then `dispatch` for
//! the subscribers' calls.)
//!
//! A next hop that is one of our addresses would loop (482); one of an
//! address family we have no listener for cannot be reached (503).
//!
//! The source checks hold for every request that does not follow our
//! Record-Route, whatever it carries: with a routing table, an initial
//! INVITE from a source its ACL does not know (and no policy group) is
//! refused with 403 with or without a preloaded Route (a Route must not
//! reach a gateway the ACL would not let the caller use); with `[security]
//! open_relay = false`, an untrusted source may not choose its next hop
//! (a Route, or its Request-URI without a default route): 403. Trusted
//! sources (`[security] trusted`) are not checked.

use std::net::SocketAddr;
use std::time::Instant;

use trunkline_parser::Method;
use trunkline_routing_tables::At;

use super::{Attributes, Request};
use crate::dns::cache::{Lookup, Names};
use crate::dns::{MAX_ADDRESSES, MAX_NAME, NameQuery, NameRef, srv_order};
use crate::lcr::{GroupName, LcrRequest, MAX_TARGETS, ShardTargets, Target, dialled_number};
use crate::proxy::Counters;
use crate::proxy::next_hop::{self, Locals, NextHopError, NextHopPlan};

/// What the route stage decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// One next hop, leaving by listener `out`; [`Route::plan`] holds the
    /// Route and Request-URI edits.
    Hop { dest: SocketAddr, out: u16 },
    /// Several targets tried one after another ([`Route::targets`]):
    /// least-cost routing's gateways, or a name's addresses. `reason` is
    /// the 503's when none can be sent to.
    Serial { reason: &'static [u8] },
    /// The next hop is a host name not known yet: park the request until
    /// `query` is looked up.
    Park(NameQuery),
    /// It cannot be routed: answer this (an ACK is dropped).
    Refuse { code: u16, reason: &'static [u8] },
}

impl From<NextHopError> for Decision {
    fn from(e: NextHopError) -> Decision {
        let (code, reason) = e.response();
        Decision::Refuse { code, reason }
    }
}

/// The route stage of one shard.
#[derive(Debug)]
pub struct Route {
    default_route: Option<SocketAddr>,
    /// Whether untrusted sources may choose their next hop.
    open_relay: bool,
    /// Least-cost routing: this shard's router over the table.
    lcr: Option<Box<dyn ShardTargets>>,
    /// The plan of the request being routed (reused).
    pub(crate) plan: NextHopPlan,
    /// The targets of a serial search being started (swapped into its
    /// response context: no allocation per call).
    pub(crate) targets: Vec<Target>,
    /// Next hops given by host name: answers and parked requests.
    pub(crate) names: Names,
    /// The registered contacts the targets of a registrar lookup name
    /// (swapped into the response context with the targets).
    pub(crate) contacts: Vec<crate::proxy::contexts::ContactHop>,
    /// The dispatcher sets, this shard's copy (with their probes).
    pub(crate) dispatch: Option<crate::dispatch::ShardDispatch>,
    /// The registrar: requests for our AORs go to their bindings.
    pub(crate) registrar: Option<super::registrar::RegistrarStage>,
    /// How the search of the targets just picked from a dispatcher set
    /// goes on (`None`: they are not a set's).
    pub(crate) picked: Option<crate::dispatch::Picked>,
}

/// What [`Route::decide`] asks for only when it needs it: `at` the
/// wall-clock time (the routing table's time windows), `seed` the draw that
/// orders a name's addresses for this request.
pub(crate) struct Asks<A, S, L> {
    pub at: A,
    pub seed: S,
    /// A dispatcher target's live calls on this shard (`least-calls`).
    pub live: L,
}

impl Route {
    /// The route stage: `default_route` for requests without a Route past
    /// us, `lcr` for initial INVITEs when a table is configured; whether
    /// untrusted sources may choose their next hop (`open_relay`).
    pub fn new(
        default_route: Option<SocketAddr>,
        lcr: Option<Box<dyn ShardTargets>>,
        open_relay: bool,
    ) -> Route {
        Route {
            default_route,
            open_relay,
            lcr,
            plan: NextHopPlan::default(),
            targets: Vec::new(),
            names: Names::default(),
            contacts: Vec::new(),
            dispatch: None,
            registrar: None,
            picked: None,
        }
    }

    /// Sends the requests policy rules name a dispatcher set for to the
    /// set's destinations.
    pub fn set_dispatch(&mut self, dispatch: crate::dispatch::ShardDispatch) {
        self.dispatch = Some(dispatch);
    }

    /// Whether least-cost routing is configured.
    pub fn has_lcr(&self) -> bool {
        self.lcr.is_some()
    }

    /// The routing table's id of gateway `gateway`, for CDRs.
    pub fn gateway_id(&self, gateway: u32) -> Option<Box<str>> {
        self.lcr.as_ref()?.gateway_id(gateway)
    }

    /// The routing table's ACL group of `source` (none without a table).
    pub fn source_group(&self, source: std::net::IpAddr) -> Option<crate::lcr::GroupName> {
        self.lcr.as_ref().and_then(|l| l.source_group(source))
    }

    /// The gateways least-cost routing wants probed, into `out`.
    pub fn probed(&self, out: &mut Vec<SocketAddr>) {
        if let Some(l) = &self.lcr {
            l.probed(out);
        }
    }

    /// Decides where `req` goes at `now`, counting in `counters`; `asks`
    /// gives what is computed only when needed.
    pub(crate) fn decide<A: FnOnce() -> At, S: FnOnce() -> u64, L: Fn(&Target) -> u32>(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
        attrs: &Attributes,
        locals: &Locals,
        counters: &mut Counters,
        asks: Asks<A, S, L>,
    ) -> Decision {
        let Asks { at, seed, live } = asks;
        let msg = req.msg;
        self.picked = None;
        let planned = next_hop::plan(msg, locals, self.default_route, &mut self.plan);
        let by_uri = !self.plan.by_route && self.plan.new_ruri.is_none();
        if let (Some(set), true, true) = (attrs.dispatch, by_uri, req.initial()) {
            if planned != Err(NextHopError::BadRoute) {
                return self.dispatch(now, req, &set, locals, counters, live);
            }
        }
        // A request for one of our AORs that no rule sent to a set: its
        // bindings (stateful only).
        if let (Some(r), true, true, Some(_)) =
            (self.registrar.as_mut(), by_uri, req.initial(), req.server)
        {
            use super::registrar::Found;
            let (names, targets, contacts) =
                (&mut self.names, &mut self.targets, &mut self.contacts);
            match r.lookup(now, req, names, targets, contacts) {
                None => {}
                Some(Found::Refuse(refusal)) => {
                    return Decision::Refuse {
                        code: refusal.code,
                        reason: refusal.reason,
                    };
                }
                Some(Found::Park(query)) => return Decision::Park(query),
                Some(Found::Targets(picked)) => {
                    self.picked = Some(picked);
                    return Decision::Serial {
                        reason: b"Contact Unreachable",
                    };
                }
            }
        }
        let lcr_call = req.server.is_some()
            && req.method() == Method::Invite
            && req.initial()
            && by_uri
            && planned != Err(NextHopError::BadRoute);
        let method = req.method();
        let checked = !attrs.trusted
            && !attrs.source_checked
            && !matches!(method, Method::Ack | Method::Cancel)
            && (req.initial() || !self.plan.routed_to_us);
        if checked {
            let by_lcr = lcr_call && self.lcr.is_some();
            let sender_chose = self.plan.by_route || self.default_route.is_none();
            let unknown_caller = || {
                attrs.group.is_none()
                    && self
                        .lcr
                        .as_ref()
                        .is_some_and(|l| l.source_group(req.src.ip()).is_none())
            };
            if (!by_lcr && method == Method::Invite && req.initial() && unknown_caller())
                || (!self.open_relay && !by_lcr && sender_chose)
            {
                counters.refused_sources += 1;
                return Decision::Refuse {
                    code: 403,
                    reason: b"Forbidden",
                };
            }
        }
        if let (true, Some(lcr)) = (lcr_call, &mut self.lcr) {
            let group = attrs.group.as_ref().map(GroupName::as_str);
            let d = lcr_targets(lcr.as_mut(), &mut self.targets, counters, at(), group, req);
            if let (Decision::Serial { .. }, Some(sets)) = (&d, self.dispatch.as_mut()) {
                expand_sets(now, lcr.as_ref(), sets, req, &live, &mut self.targets);
            }
            return d;
        }
        let dest = match planned {
            Ok(()) => self.plan.dest.expect("planned"),
            Err(NextHopError::NeedsDns) => match self.by_name(now, req, locals, counters, seed) {
                Ok(dest) => dest,
                Err(d) => return d,
            },
            Err(e) => return e.into(),
        };
        if locals.has(dest) {
            return NextHopError::Loop.into();
        }
        match locals.egress(req.local, dest) {
            Some(out) => Decision::Hop { dest, out },
            None => NextHopError::NoListener.into(),
        }
    }

    /// The next hop `plan.name` names, from the shard's answers (the
    /// first address a listener reaches); or a serial search over its
    /// addresses (an INVITE, statefully, with more than one); or a park.
    fn by_name(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
        locals: &Locals,
        counters: &mut Counters,
        seed: impl FnOnce() -> u64,
    ) -> Result<SocketAddr, Decision> {
        let Some((span, port)) = self.plan.name else {
            return Err(NextHopError::NeedsDns.into());
        };
        let name = req.msg.slice(span);
        let mut buf = [0; MAX_NAME];
        let Some(key) = NameRef::new(name, port, &mut buf) else {
            counters.names_failed += 1;
            return Err(NextHopError::NeedsDns.into());
        };
        let found = match self.names.lookup(now, &key) {
            Lookup::Found(found) => found,
            Lookup::Failed => {
                counters.names_failed += 1;
                return Err(NextHopError::NeedsDns.into());
            }
            Lookup::Unknown => return Err(Decision::Park(key.to_query())),
        };
        // This request's order (RFC 2782 for SRV hops, a rotating first
        // address for A/AAAA), then the addresses a listener reaches,
        // ours left out.
        let seed = seed();
        let mut order = [0u8; MAX_ADDRESSES];
        let tries = if found.srv {
            srv_order(&found.hops, &mut fastrand::Rng::with_seed(seed), &mut order)
        } else {
            let n = found.hops.len().min(MAX_ADDRESSES);
            let first = (seed % n.max(1) as u64) as usize;
            for (i, o) in order.iter_mut().take(n).enumerate() {
                *o = ((first + i) % n) as u8;
            }
            n
        };
        self.targets.clear();
        let mut ours = false;
        for a in order[..tries]
            .iter()
            .map(|&i| found.hops[usize::from(i)].addr)
        {
            if locals.has(a) {
                ours = true;
            } else if locals.egress(req.local, a).is_some() {
                self.targets.push(Target::address(a));
            }
        }
        match self.targets.as_slice() {
            [] if ours => Err(NextHopError::Loop.into()),
            [] => Err(NextHopError::NoListener.into()),
            // An INVITE tries each in turn (RFC 3263 §4.3).
            [_, _, ..] if req.server.is_some() && req.method() == Method::Invite => {
                let (_, reason) = NextHopError::NoListener.response();
                Err(Decision::Serial { reason })
            }
            [first, ..] => Ok(first.dest),
        }
    }
}

impl Route {
    /// The targets of an initial request a policy rule sent to dispatcher
    /// set `set`: an INVITE (stateful) searches them, in turn or at once;
    /// another request goes to the first.
    fn dispatch(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
        set: &GroupName,
        locals: &Locals,
        counters: &mut Counters,
        live: impl Fn(&Target) -> u32,
    ) -> Decision {
        let Some(d) = self.dispatch.as_mut() else {
            counters.dispatch_unavailable += 1;
            return Decision::Refuse {
                code: 500,
                reason: b"No Dispatcher Set",
            };
        };
        let Some(picked) = d.targets(now, set, req.msg, req.sum, live, &mut self.targets) else {
            counters.dispatch_unavailable += 1;
            return Decision::Refuse {
                code: 500,
                reason: b"No Dispatcher Set",
            };
        };
        // Our own addresses and unreachable families are left out.
        self.targets
            .retain(|t| !locals.has(t.dest) && locals.egress(req.local, t.dest).is_some());
        self.targets.truncate(MAX_TARGETS);
        let Some(first) = self.targets.first() else {
            counters.dispatch_unavailable += 1;
            return Decision::Refuse {
                code: 503,
                reason: b"No Destination Available",
            };
        };
        counters.dispatched += 1;
        if req.server.is_some() && req.method() == Method::Invite {
            self.picked = Some(picked);
            return Decision::Serial {
                reason: b"No Destination Available",
            };
        }
        let dest = first.dest;
        match locals.egress(req.local, dest) {
            Some(out) => Decision::Hop { dest, out },
            None => NextHopError::NoListener.into(),
        }
    }
}

/// Replaces each least-cost routing target whose gateway stands for a
/// dispatcher set (`attrs` `dispatch=ID`) by the set's destinations, in
/// the set's order (dead ones left out), each with the target's
/// Request-URI and limits: a rule's gateway may be a pool. A set that is
/// not configured leaves the target as it is.
fn expand_sets(
    now: Instant,
    lcr: &dyn ShardTargets,
    sets: &mut crate::dispatch::ShardDispatch,
    req: &Request<'_, '_>,
    live: &dyn Fn(&Target) -> u32,
    targets: &mut Vec<Target>,
) {
    if !targets
        .iter()
        .any(|t| lcr.dispatch_set(t.gateway).is_some())
    {
        return;
    }
    let mut picked = Vec::new();
    let old = std::mem::take(targets);
    for t in old {
        let Some(set) = lcr.dispatch_set(t.gateway) else {
            targets.push(t);
            continue;
        };
        match sets.targets(now, &set, req.msg, req.sum, live, &mut picked) {
            Some(_) => targets.extend(picked.iter().map(|p| t.sent_to(p.dest))),
            None => targets.push(t),
        }
    }
    targets.truncate(MAX_TARGETS);
}

/// Least-cost routing of an initial INVITE: its targets into `targets`.
fn lcr_targets(
    lcr: &mut dyn ShardTargets,
    targets: &mut Vec<Target>,
    counters: &mut Counters,
    at: At,
    group: Option<&str>,
    req: &Request<'_, '_>,
) -> Decision {
    let Some(number) = dialled_number(req.msg) else {
        counters.lcr_no_route += 1;
        return Decision::Refuse {
            code: 404,
            reason: b"No Number To Route",
        };
    };
    targets.clear();
    let lcr_req = LcrRequest {
        number,
        source: req.src.ip(),
        group,
        at,
    };
    if let Err(no) = lcr.targets(&lcr_req, targets) {
        counters.lcr_no_route += 1;
        return Decision::Refuse {
            code: no.code,
            reason: no.reason,
        };
    }
    targets.truncate(MAX_TARGETS);
    counters.lcr_routed += 1;
    if targets.is_empty() {
        return Decision::Refuse {
            code: 404,
            reason: b"No Route",
        };
    }
    // No target could be sent to (all loops or unwritable): 503.
    Decision::Serial {
        reason: b"No Gateway Available",
    }
}
