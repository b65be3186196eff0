//! The next hop of a request: Route preprocessing (RFC 3261 §16.4),
//! target determination (§16.5) and next-hop postprocessing (§16.6 steps
//! 6-7), as pure functions of the request, our addresses ([`Locals`]) and
//! the default route, written into a reusable [`NextHopPlan`]. The route
//! stage (`stages::route`) decides with it; the writer (`wire`) applies
//! its Route and Request-URI edits to the copy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use trunkline_parser::{Host, HostKind, Message, SipUri, Span, Uri};

/// One address we answer on, as advertised in Via and Record-Route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAddr {
    /// Advertised host (IP literal or name), as put in Via/Record-Route.
    pub host: String,
    /// The IP behind it, when `host` is a literal.
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: u16,
    /// `host:port` as written in our Via sent-by and Record-Route URI.
    pub host_port: String,
}

impl LocalAddr {
    /// A local address advertised as `addr`.
    pub fn from_socket(addr: SocketAddr) -> LocalAddr {
        let host = match addr.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        LocalAddr {
            host_port: format!("{host}:{}", addr.port()),
            host,
            ip: Some(addr.ip()),
            port: addr.port(),
        }
    }

    /// A local address advertised under a name or another IP (NAT).
    pub fn advertised(host: &str, port: u16, bound: IpAddr) -> LocalAddr {
        let parsed = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok();
        LocalAddr {
            host: host.to_string(),
            ip: parsed.or(Some(bound)),
            port,
            host_port: format!("{host}:{port}"),
        }
    }

    /// Whether a copy can leave by this listener for `dest`: its socket
    /// is of one address family (IPv6 ones are v6-only), and reaches only
    /// addresses of that family.
    pub fn reaches(&self, dest: SocketAddr) -> bool {
        self.ip.is_none_or(|ip| ip.is_ipv4() == dest.is_ipv4())
    }

    fn matches(&self, host: &Host<'_>, port: Option<u16>) -> bool {
        if port.unwrap_or(5060) != self.port {
            return false;
        }
        match host.kind {
            HostKind::Name => host.text.eq_ignore_ascii_case(self.host.as_bytes()),
            _ => host.ip().is_some_and(|ip| Some(ip) == self.ip),
        }
    }
}

/// Our addresses: what "this proxy" means in §16.4.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locals {
    /// Every address we listen on, in listener order.
    pub addrs: Vec<LocalAddr>,
}

impl Locals {
    /// Whether `uri` designates this proxy: its host and port (default
    /// 5060) are one of ours, or its `maddr` is (§16.4).
    pub fn is_me(&self, uri: &SipUri<'_>) -> bool {
        let target = match uri.maddr().map(Host::parse) {
            Some(Ok(h)) => h,
            Some(Err(_)) => return false,
            None => uri.host,
        };
        self.addrs.iter().any(|a| a.matches(&target, uri.port))
    }

    /// Whether `addr` is one of our listeners' (a copy sent there would
    /// come back to us: a loop).
    pub fn has(&self, addr: SocketAddr) -> bool {
        self.addrs
            .iter()
            .any(|a| a.ip == Some(addr.ip()) && a.port == addr.port())
    }

    /// The listener a copy for `dest` leaves by: `ingress` (the one the
    /// request came in on) when it [reaches](LocalAddr::reaches) `dest`,
    /// else the first of `dest`'s address family, one on `ingress`'s port
    /// first; `None` when no listener has that family. A copy that leaves
    /// by another listener than it came in on is record-routed twice (RFC
    /// 5658), so the dialog's requests come back by the listener each side
    /// can reach.
    pub fn egress(&self, ingress: u16, dest: SocketAddr) -> Option<u16> {
        let i = usize::from(ingress);
        if self.addrs.get(i).is_none_or(|a| a.reaches(dest)) {
            return Some(ingress);
        }
        let port = self.addrs[i].port;
        let reaching = || {
            self.addrs
                .iter()
                .enumerate()
                .filter(|(_, a)| a.reaches(dest))
        };
        reaching()
            .find(|(_, a)| a.port == port)
            .or_else(|| reaching().next())
            .map(|(j, _)| j as u16)
    }

    /// Whether `raw` is a URI we put in a Record-Route: ours, no user
    /// part, `lr` (a strict router copies it into the Request-URI whole).
    fn is_our_record_route(&self, raw: &[u8]) -> bool {
        matches!(Uri::parse(raw), Ok(Uri::Sip(u)) if u.user.is_none() && u.lr() && self.is_me(&u))
    }
}

/// Why a request cannot be routed; each maps to a response (§16.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHopError {
    /// The next hop's URI is not a SIP URI we can reach (416).
    UnsupportedScheme,
    /// The next hop is a host name: the proxy core looks it up (RFC 3263)
    /// and parks the request meanwhile; 503 when it does not resolve.
    NeedsDns,
    /// The Request-URI designates this proxy and no route is configured (404).
    NotFound,
    /// The next hop is us: forwarding would loop (482).
    Loop,
    /// A Route value does not parse (400).
    BadRoute,
    /// The next hop's address family (IPv4 or IPv6) is not one we listen
    /// on (503: no socket could send the copy).
    NoListener,
}

impl NextHopError {
    /// The response status and reason phrase.
    pub fn response(self) -> (u16, &'static [u8]) {
        match self {
            NextHopError::UnsupportedScheme => (416, b"Unsupported URI Scheme"),
            NextHopError::NeedsDns => (503, b"Next Hop Not Resolved"),
            NextHopError::NotFound => (404, b"Not Found"),
            NextHopError::Loop => (482, b"Loop Detected"),
            NextHopError::BadRoute => (400, b"Bad Route"),
            NextHopError::NoListener => (503, b"No Listener For Address Family"),
        }
    }
}

/// The routing decision for one request: where it goes and which edits
/// the Route set and Request-URI need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NextHopPlan {
    /// The next hop.
    pub dest: Option<SocketAddr>,
    /// Route values to remove, as (header index, value index) in
    /// ascending order; value indexes refer to the original header.
    pub remove: Vec<(usize, usize)>,
    /// A new Request-URI (a span of the message: a Route value's URI).
    pub new_ruri: Option<Span>,
    /// Append the (original) Request-URI as the last Route value, after
    /// header index `.0` (strict-router next hop, §16.6 step 6).
    pub append_ruri_after: Option<usize>,
    /// Whether the request arrived with a Route for us (loose routing).
    pub routed_to_us: bool,
    /// Whether the next hop comes from a Route value (not the
    /// Request-URI or the default route).
    pub by_route: bool,
    /// With [`NextHopError::NeedsDns`]: the next hop's host name (a span of
    /// the message) and its URI's port.
    pub name: Option<(Span, Option<u16>)>,
    /// Scratch: every Route value as (header index, value index, URI span).
    routes: Vec<(usize, usize, Span)>,
}

/// Plans where `msg` goes (§16.4 - §16.6). `default_route` is the
/// configured destination for requests that carry no Route past us.
pub fn plan(
    msg: &Message<'_>,
    locals: &Locals,
    default_route: Option<SocketAddr>,
    plan: &mut NextHopPlan,
) -> Result<(), NextHopError> {
    plan.dest = None;
    plan.remove.clear();
    plan.new_ruri = None;
    plan.append_ruri_after = None;
    plan.routed_to_us = false;
    plan.by_route = false;
    plan.name = None;
    collect_routes(msg, &mut plan.routes)?;
    plan_with(msg, locals, default_route, plan)
}

fn plan_with(
    msg: &Message<'_>,
    locals: &Locals,
    default_route: Option<SocketAddr>,
    plan: &mut NextHopPlan,
) -> Result<(), NextHopError> {
    let NextHopPlan {
        dest,
        remove,
        new_ruri,
        append_ruri_after,
        routed_to_us,
        by_route,
        name,
        routes,
    } = plan;
    let uri = |i: usize| msg.slice(routes[i].2);
    let mut first = 0; // index into `routes` of the first value still in effect
    let mut last = routes.len();

    // §16.4: a strict router before us put our Record-Route URI in the
    // Request-URI: the real one is the last Route value.
    let ruri = msg.request_uri_bytes().unwrap_or_default();
    if !routes.is_empty() && locals.is_our_record_route(ruri) {
        let (header, index, span) = routes[last - 1];
        *new_ruri = Some(span);
        remove.push((header, index));
        last -= 1;
    }
    // §16.4: remove the top Route if it is us (twice if we record-routed
    // on two interfaces). Each Route URI is parsed once.
    let mut top = None;
    while first < last {
        match Uri::parse(uri(first)) {
            Ok(Uri::Sip(u)) if locals.is_me(&u) => {
                remove.push((routes[first].0, routes[first].1));
                *routed_to_us = true;
                first += 1;
            }
            parsed => {
                top = Some(parsed);
                break;
            }
        }
    }
    remove.sort_unstable();

    if first < last {
        *by_route = true;
        // §16.6 step 6-7: the next hop is the top Route.
        let (header, index, span) = routes[first];
        let top = match top {
            Some(Ok(Uri::Sip(u))) => u,
            _ => return Err(NextHopError::UnsupportedScheme),
        };
        if !top.lr() {
            // Strict router next: it gets the Request-URI it expects.
            *new_ruri = Some(span);
            remove.push((header, index));
            remove.sort_unstable();
            *append_ruri_after = Some(routes[last - 1].0);
        }
        return next_hop(msg, &top, dest, name);
    }
    // The default route is for requests that did not follow our
    // Record-Route: an in-dialog request that did (its Route set was
    // ours) goes to its Request-URI when that names a remote target
    // (§16.5): a callee's BYE must reach the caller, not the default
    // route. (A UA that targets us, as SIPp's scenarios do, still gets
    // the default route.)
    let in_dialog_via_us = *routed_to_us
        && to_tagged(msg)
        && matches!(Uri::parse(ruri), Ok(Uri::Sip(u)) if !locals.is_me(&u));
    if let Some(d) = default_route.filter(|_| !in_dialog_via_us) {
        *dest = Some(d);
        return Ok(());
    }
    // §16.5: the Request-URI is the target.
    let target = match new_ruri {
        Some(span) => msg.slice(*span),
        None => ruri,
    };
    match Uri::parse(target) {
        Ok(Uri::Sip(u)) => {
            if locals.is_me(&u) {
                return Err(NextHopError::NotFound);
            }
            next_hop(msg, &u, dest, name)
        }
        _ => Err(NextHopError::UnsupportedScheme),
    }
}

/// Sets `dest` to the address `uri` designates; for a host name, records
/// the name in `name` and fails with [`NextHopError::NeedsDns`].
fn next_hop(
    msg: &Message<'_>,
    uri: &SipUri<'_>,
    dest: &mut Option<SocketAddr>,
    name: &mut Option<(Span, Option<u16>)>,
) -> Result<(), NextHopError> {
    match resolve(uri) {
        Ok(addr) => {
            *dest = Some(addr);
            Ok(())
        }
        Err(NextHopError::NeedsDns) => {
            let host = match uri.maddr().map(Host::parse) {
                Some(Ok(h)) => h,
                _ => uri.host,
            };
            *name = Some((msg.span_of(host.text), uri.port));
            Err(NextHopError::NeedsDns)
        }
        Err(e) => Err(e),
    }
}

/// What a request's Route set says about us (§16.4), without planning:
/// whether it starts with us (it follows our Record-Route), and whether a
/// value other than ours follows (a Route past us: preloaded, or the rest
/// of a dialog's route set). A value that does not parse counts as past us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteSet {
    /// The top Route is one of our addresses.
    pub starts_with_us: bool,
    /// A Route value that is not ours is present.
    pub past_us: bool,
}

/// Reads `msg`'s Route set against our addresses (see [`RouteSet`]);
/// parses values only until the first that is not ours.
pub fn route_set(msg: &Message<'_>, locals: &Locals) -> RouteSet {
    let mut out = RouteSet::default();
    let Some(first) = msg.first_index(trunkline_parser::HeaderName::Route) else {
        return out;
    };
    let mut top = true;
    for e in msg.headers()[first..]
        .iter()
        .filter(|e| e.kind == trunkline_parser::HeaderName::Route)
    {
        for na in trunkline_parser::name_addr::NameAddrList::new(msg.slice(e.value)) {
            let ours = matches!(
                na.map(|na| Uri::parse(na.uri)),
                Ok(Ok(Uri::Sip(u))) if locals.is_me(&u)
            );
            if ours {
                out.starts_with_us |= top;
            } else {
                out.past_us = true;
                return out;
            }
            top = false;
        }
    }
    out
}

/// Every Route value as (header index, value index, URI span), into `out`.
fn collect_routes(
    msg: &Message<'_>,
    out: &mut Vec<(usize, usize, Span)>,
) -> Result<(), NextHopError> {
    out.clear();
    let Some(first) = msg.first_index(trunkline_parser::HeaderName::Route) else {
        return Ok(());
    };
    for (header, e) in msg.headers().iter().enumerate().skip(first) {
        if e.kind != trunkline_parser::HeaderName::Route {
            continue;
        }
        let values = trunkline_parser::name_addr::NameAddrList::new(msg.slice(e.value));
        for (index, na) in values.enumerate() {
            let na = na.map_err(|_| NextHopError::BadRoute)?;
            out.push((header, index, msg.span_of(na.uri)));
        }
    }
    Ok(())
}

/// The socket address a SIP URI designates: `maddr` or host, and port
/// (default 5060). Host names other than `localhost` need DNS.
pub fn resolve(uri: &SipUri<'_>) -> Result<SocketAddr, NextHopError> {
    if uri.secure {
        return Err(NextHopError::UnsupportedScheme); // SIPS needs TLS
    }
    let host = match uri.maddr().map(Host::parse) {
        Some(Ok(h)) => h,
        Some(Err(_)) => return Err(NextHopError::UnsupportedScheme),
        None => uri.host,
    };
    let ip = match host.ip() {
        Some(ip) => ip,
        None if host.text.eq_ignore_ascii_case(b"localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        None => return Err(NextHopError::NeedsDns),
    };
    Ok(SocketAddr::new(ip, uri.port.unwrap_or(5060)))
}

/// Whether `msg` carries a To tag (is in a dialog, §12).
fn to_tagged(msg: &Message<'_>) -> bool {
    matches!(msg.to(), Ok(to) if to.tag().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trunkline_parser::Parser;

    fn locals() -> Locals {
        Locals {
            addrs: vec![LocalAddr::from_socket("192.0.2.1:5060".parse().unwrap())],
        }
    }

    fn req(ruri: &str, routes: &str) -> Vec<u8> {
        format!(
            "BYE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n{routes}\
To: <sip:b@x>;tag=2\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n"
        )
        .into_bytes()
    }

    fn run(raw: &[u8], default: Option<&str>) -> Result<NextHopPlan, NextHopError> {
        let mut p = Parser::default();
        let m = p.parse(raw).unwrap();
        let mut out = NextHopPlan::default();
        plan(&m, &locals(), default.map(|d| d.parse().unwrap()), &mut out).map(|()| out)
    }

    #[test]
    fn loose_routing_removes_our_route_and_goes_to_the_next() {
        let r = run(
            &req(
                "sip:bob@192.0.2.50:5070",
                "Route: <sip:192.0.2.1;lr>, <sip:192.0.2.7:5080;lr>\r\n",
            ),
            None,
        )
        .unwrap();
        assert_eq!(r.remove, [(1, 0)]);
        assert_eq!(r.dest, Some("192.0.2.7:5080".parse().unwrap()));
        assert!(r.routed_to_us);
        assert_eq!(r.new_ruri, None);
    }

    #[test]
    fn our_route_only_then_request_uri() {
        let r = run(
            &req(
                "sip:bob@192.0.2.50:5070",
                "Route: <sip:192.0.2.1:5060;lr>\r\n",
            ),
            None,
        )
        .unwrap();
        assert_eq!(r.dest, Some("192.0.2.50:5070".parse().unwrap()));
        // The default route does not override a Route set's target, nor
        // the remote target of an in-dialog request that followed our
        // Record-Route (the callee's BYE goes to the caller)...
        let r = run(
            &req("sip:bob@192.0.2.50:5070", "Route: <sip:192.0.2.1;lr>\r\n"),
            Some("192.0.2.99:5060"),
        )
        .unwrap();
        assert_eq!(r.dest, Some("192.0.2.50:5070".parse().unwrap()));
        // ... but with a Request-URI naming us, the default applies.
        let r = run(
            &req("sip:bob@192.0.2.1", "Route: <sip:192.0.2.1;lr>\r\n"),
            Some("192.0.2.99:5060"),
        )
        .unwrap();
        assert_eq!(r.dest, Some("192.0.2.99:5060".parse().unwrap()));
    }

    #[test]
    fn strict_router_before_us() {
        // R-URI is our RR URI; the remote target is the last Route value.
        let raw = req(
            "sip:192.0.2.1;lr",
            "Route: <sip:192.0.2.7;lr>, <sip:bob@192.0.2.50:5070>\r\n",
        );
        let r = run(&raw, None).unwrap();
        assert_eq!(r.remove, [(1, 1)]);
        let mut p = Parser::default();
        let m = p.parse(&raw).unwrap();
        assert_eq!(m.slice(r.new_ruri.unwrap()), b"sip:bob@192.0.2.50:5070");
        assert_eq!(r.dest, Some("192.0.2.7:5060".parse().unwrap()));
    }

    #[test]
    fn strict_router_after_us() {
        let raw = req("sip:bob@192.0.2.50", "Route: <sip:192.0.2.8:5062>\r\n");
        let r = run(&raw, None).unwrap();
        assert_eq!(r.remove, [(1, 0)]);
        assert!(r.new_ruri.is_some());
        assert_eq!(r.append_ruri_after, Some(1));
        assert_eq!(r.dest, Some("192.0.2.8:5062".parse().unwrap()));
    }

    #[test]
    fn targets_and_errors() {
        assert_eq!(
            run(&req("sip:bob@192.0.2.50", ""), None).unwrap().dest,
            Some("192.0.2.50:5060".parse().unwrap())
        );
        assert_eq!(
            run(&req("sip:bob@[2001:db8::5]:5070", ""), None)
                .unwrap()
                .dest,
            Some("[2001:db8::5]:5070".parse().unwrap())
        );
        assert_eq!(
            run(&req("sip:bob@h.example.com;maddr=192.0.2.60", ""), None)
                .unwrap()
                .dest,
            Some("192.0.2.60:5060".parse().unwrap())
        );
        assert_eq!(
            run(&req("sip:bob@example.com", ""), None),
            Err(NextHopError::NeedsDns)
        );
        assert_eq!(
            run(&req("tel:+15551234", ""), None),
            Err(NextHopError::UnsupportedScheme)
        );
        assert_eq!(
            run(&req("sip:bob@192.0.2.1", ""), None),
            Err(NextHopError::NotFound)
        );
        assert_eq!(
            run(&req("sip:bob@192.0.2.1", ""), Some("192.0.2.99:5060"))
                .unwrap()
                .dest,
            Some("192.0.2.99:5060".parse().unwrap())
        );
        assert_eq!(
            run(&req("tel:+15551234", ""), Some("192.0.2.99:5060"))
                .unwrap()
                .dest,
            Some("192.0.2.99:5060".parse().unwrap())
        );
        assert_eq!(
            run(&req("sip:a@b", "Route: <http://x>\r\n"), None),
            Err(NextHopError::UnsupportedScheme)
        );
        assert_eq!(
            run(&req("sip:a@b", "Route: <sip:x;lr>,,\r\n"), None),
            Err(NextHopError::BadRoute)
        );
    }

    #[test]
    fn a_copy_leaves_by_a_listener_of_its_destinations_family() {
        let l = |a: &str| LocalAddr::from_socket(a.parse().unwrap());
        let locals = Locals {
            addrs: vec![
                l("192.0.2.1:5060"),
                l("[2001:db8::a]:5080"),
                l("198.51.100.1:5080"),
                l("[2001:db8::b]:5060"),
            ],
        };
        let v4: SocketAddr = "203.0.113.9:5060".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::9]:5060".parse().unwrap();
        // The listener it came in on when that one reaches it.
        assert_eq!(locals.egress(0, v4), Some(0));
        assert_eq!(locals.egress(2, v4), Some(2));
        assert_eq!(locals.egress(1, v6), Some(1));
        // Else one of the other family on the same port, else the first.
        assert_eq!(locals.egress(0, v6), Some(3));
        assert_eq!(locals.egress(1, v4), Some(2));
        assert_eq!(locals.egress(3, v4), Some(0));
        let only_v4 = Locals {
            addrs: vec![l("192.0.2.1:5060")],
        };
        assert_eq!(only_v4.egress(0, v6), None);
    }
}
