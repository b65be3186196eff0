//! Least-cost routing through the proxy core: serial failover over the
//! targets of a static table, on the virtual network.

use super::*;
use crate::lcr::{FailoverCodes, LcrRequest, NoRoute, Target, TargetSource};

const GW1: &str = "198.51.100.1:5060";
const GW2: &str = "198.51.100.2:5060";
const GW3: &str = "198.51.100.3:5080";

/// A table with one rule: numbers starting `+1` go to GW1 as dialled, to
/// GW2 without the `+`, to GW3 with `00` for the `+`.
#[derive(Debug)]
struct Table;

impl TargetSource for Table {
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        let Some(national) = req.number.strip_prefix(b"+1") else {
            return Err(NoRoute {
                code: 404,
                reason: b"No Route",
            });
        };
        let digits = &req.number[1..];
        out.push(Target::new(addr(GW1), 1, req.number).unwrap());
        out.push(Target::new(addr(GW2), 2, digits).unwrap());
        let mut intl = b"001".to_vec();
        intl.extend_from_slice(national);
        out.push(Target::new(addr(GW3), 3, &intl).unwrap());
        Ok(())
    }

    /// The ACL: the UAC is a customer, nobody else is known.
    fn source_group(&self, source: std::net::IpAddr) -> Option<crate::lcr::GroupName> {
        (source == addr(UAC).ip()).then(|| crate::lcr::GroupName::new("customers").unwrap())
    }
}

fn lcr_net() -> Net {
    net_routing_by(Table)
}

/// A network whose proxy takes its targets from `source`.
fn net_routing_by(source: impl TargetSource + 'static) -> Net {
    net_with(ProxyConfig::new(addr(PROXY), None), source)
}

/// A network with settings `cfg` whose proxy takes its targets from `source`.
fn net_with(cfg: ProxyConfig, source: impl TargetSource + 'static) -> Net {
    let services = Services {
        targets: Some(Arc::new(source)),
        ..Services::default()
    };
    Net::with_services(cfg, services)
}

/// Call `i` from the UAC (Call-ID `TAG-i@`, branch `z9hG4bKTAGi`): where
/// its INVITE went, and the copy sent.
fn place(n: &mut Net, tag: &str, i: u32) -> (SocketAddr, String) {
    let msg = call("+14155550123", &format!("z9hG4bK{tag}{i}"))
        .replace("call-1@", &format!("{tag}-{i}@"));
    n.from(UAC, &msg);
    n.take()
        .into_iter()
        .find(|(d, _)| *d != addr(UAC))
        .expect("forwarded")
}

/// An INVITE for `number` addressed to the proxy, as a carrier sends it.
fn call(number: &str, branch: &str) -> String {
    invite(branch).replacen(
        &format!("INVITE sip:bob@{UAS} SIP/2.0"),
        &format!("INVITE sip:{number}@{PROXY};user=phone SIP/2.0"),
        1,
    )
}

/// The request line of what went to `dest`, and the message.
fn sent_to(out: &[(SocketAddr, String)], dest: &str) -> Option<String> {
    out.iter()
        .find(|(d, _)| *d == addr(dest))
        .map(|(_, m)| m.clone())
}

fn request_line(m: &str) -> &str {
    m.split("\r\n").next().unwrap()
}

#[test]
fn timeout_then_503_then_200_fails_over_through_three_gateways() {
    let mut n = lcr_net();
    n.from(UAC, &call("+14155550123", "z9hG4bKf1"));
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out[0].1.starts_with("SIP/2.0 100 Trying"));
    let inv1 = sent_to(&out, GW1).expect("first gateway first");
    assert_eq!(
        request_line(&inv1),
        "INVITE sip:+14155550123@198.51.100.1:5060;user=phone SIP/2.0"
    );
    assert_eq!(header(&inv1, "Record-Route"), ["<sip:192.0.2.1:5060;lr>"]);

    // GW1 is silent: INVITE retransmissions, then Timer B (64*T1) moves
    // the call on to GW2.
    n.advance(Duration::from_secs(31));
    let out = n.take();
    assert!(
        out.iter().all(|(d, m)| *d == addr(GW1) && *m == inv1),
        "{out:#?}"
    );
    n.advance(Duration::from_millis(1200));
    let mut out = n.take();
    out.retain(|(d, _)| *d != addr(GW1)); // the last Timer A resend
    assert_eq!(out.len(), 1, "{out:#?}");
    let inv2 = sent_to(&out, GW2).expect("second gateway after the timeout");
    assert_eq!(
        request_line(&inv2),
        "INVITE sip:14155550123@198.51.100.2:5060;user=phone SIP/2.0"
    );
    let (b1, b2) = (header(&inv1, "Via")[0], header(&inv2, "Via")[0]);
    assert_ne!(b1, b2, "each copy its own branch");
    assert_eq!(header(&inv2, "Via")[1], header(&inv1, "Via")[1]);
    assert_eq!(header(&inv2, "Max-Forwards"), ["69"]);
    assert!(inv2.ends_with("\r\n\r\nv=0\n"), "body kept");

    // GW2 answers 503: ACKed hop by hop, and GW3 gets the call.
    n.from(GW2, &respond(&inv2, 100, "Trying", None));
    n.from(GW2, &respond(&inv2, 503, "Service Unavailable", Some("g2")));
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    let ack = sent_to(&out, GW2).expect("ACK for the 503");
    assert!(ack.starts_with("ACK sip:14155550123@198.51.100.2:5060;user=phone SIP/2.0"));
    let inv3 = sent_to(&out, GW3).expect("third gateway after the 503");
    assert_eq!(
        request_line(&inv3),
        "INVITE sip:0014155550123@198.51.100.3:5080;user=phone SIP/2.0"
    );
    assert!(sent_to(&out, UAC).is_none(), "the 503 is not relayed");

    // GW3 rings and answers: both reach the caller.
    n.from(GW3, &respond(&inv3, 180, "Ringing", Some("g3")));
    n.from(GW3, &respond(&inv3, 200, "OK", Some("g3")));
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out.iter().all(|(d, _)| *d == addr(UAC)));
    assert!(out[0].1.starts_with("SIP/2.0 180 Ringing"));
    assert!(out[1].1.starts_with("SIP/2.0 200 OK"));
    assert_eq!(header(&out[1].1, "Via").len(), 1);

    n.advance(Duration::from_secs(60));
    assert_eq!(n.core.live_transactions(), 0);
    assert_eq!(n.core.live_contexts(), 0);
}

/// Sends the call and answers each gateway's INVITE with `codes` in turn;
/// returns what the caller got last and how many gateways were tried.
fn answer_each(codes: &[(u16, &str)]) -> (String, usize) {
    let mut n = lcr_net();
    n.from(UAC, &call("+14155550123", "z9hG4bKf2"));
    let mut out = n.take();
    let mut tried = 0;
    for (i, (code, reason)) in codes.iter().enumerate() {
        let gw = [GW1, GW2, GW3][i];
        let Some(inv) = sent_to(&out, gw) else { break };
        tried += 1;
        let tag = format!("g{i}");
        n.from(gw, &respond(&inv, *code, reason, Some(&tag)));
        out = n.take();
    }
    let last = out
        .iter()
        .rev()
        .find(|(d, _)| *d == addr(UAC))
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    (last, tried)
}

#[test]
fn when_every_gateway_fails_the_caller_gets_the_best_response() {
    // 503 ranks last (§16.7 step 6): the 500 wins.
    let (last, tried) = answer_each(&[(503, "Unavailable"), (500, "Oops"), (503, "Unavailable")]);
    assert_eq!(tried, 3);
    assert!(last.starts_with("SIP/2.0 500 Oops"), "{last}");
    // Only 503s: a 500 generated here (a 503 is not forwarded as such).
    let (last, _) = answer_each(&[(503, "A"), (503, "B"), (503, "C")]);
    assert!(last.starts_with("SIP/2.0 500 Server Error"), "{last}");
}

#[test]
fn a_non_failover_code_or_a_6xx_ends_the_search() {
    let (last, tried) = answer_each(&[(503, "Unavailable"), (486, "Busy Here"), (200, "OK")]);
    assert_eq!(tried, 2);
    assert!(last.starts_with("SIP/2.0 486 Busy Here"), "{last}");
    let (last, tried) = answer_each(&[(603, "Decline"), (200, "OK")]);
    assert_eq!(tried, 1);
    assert!(last.starts_with("SIP/2.0 603 Decline"), "{last}");
}

#[test]
fn a_number_without_a_rule_gets_the_tables_answer() {
    let mut n = lcr_net();
    n.from(UAC, &call("+4930123456", "z9hG4bKf3"));
    let out = n.take();
    let last = &out.last().unwrap().1;
    assert!(last.starts_with("SIP/2.0 404 No Route"), "{out:#?}");
    assert!(out.iter().all(|(d, _)| *d == addr(UAC)));
    // No number at all.
    n.from(
        UAC,
        &invite("z9hG4bKf4").replacen(&format!("sip:bob@{UAS}"), &format!("sip:{PROXY}"), 1),
    );
    let out = n.take();
    assert!(
        out.last()
            .unwrap()
            .1
            .starts_with("SIP/2.0 404 No Number To Route"),
        "{out:#?}"
    );
}

#[test]
fn a_cancel_stops_the_search() {
    let mut n = lcr_net();
    n.from(UAC, &call("+14155550123", "z9hG4bKf5"));
    let inv1 = sent_to(&n.take(), GW1).unwrap();
    n.from(GW1, &respond(&inv1, 180, "Ringing", Some("g1")));
    n.take();
    let cancel = call("+14155550123", "z9hG4bKf5")
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        .replace("Content-Type: application/sdp\r\n", "")
        .replace(
            "Content-Length: 4\r\n\r\nv=0\n",
            "Content-Length: 0\r\n\r\n",
        );
    n.from(UAC, &cancel);
    let out = n.take();
    let down = sent_to(&out, GW1).expect("CANCEL to the ringing gateway");
    assert!(down.starts_with("CANCEL "));
    // The gateway's 487 (a failover-neutral 4xx) goes to the caller; no
    // other gateway is tried.
    n.from(GW1, &respond(&inv1, 487, "Request Terminated", Some("g1")));
    let out = n.take();
    assert!(
        sent_to(&out, GW2).is_none() && sent_to(&out, GW3).is_none(),
        "{out:#?}"
    );
    let up = sent_to(&out, UAC).unwrap();
    assert!(up.starts_with("SIP/2.0 487"), "{up}");
}

#[test]
fn in_dialog_requests_and_routed_requests_skip_the_table() {
    // A BYE with a To tag follows its Route set / the default route, and
    // an INVITE with a Route past us goes there: the table is for initial
    // INVITEs addressed by their Request-URI.
    let cfg = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
    let mut n = net_with(cfg, Table);
    let routed = call("+14155550123", "z9hG4bKf6").replacen(
        "Max-Forwards: 70\r\n",
        &format!("Route: <sip:{UAS};lr>\r\nMax-Forwards: 70\r\n"),
        1,
    );
    n.from(UAC, &routed);
    let out = n.take();
    assert!(sent_to(&out, UAS).is_some(), "{out:#?}");
    assert!(sent_to(&out, GW1).is_none());
}

#[test]
fn the_acl_holds_for_a_call_with_a_preloaded_route() {
    // A source the table's ACL does not know cannot reach a gateway by
    // naming it in a Route (the bypass found when attacking it): 403,
    // with or without the Route, and nothing goes out.
    let mut n = net_with(ProxyConfig::new(addr(PROXY), Some(addr(UAS))), Table);
    let stranger = "203.0.113.9:5060";
    let routed = call("+14155550123", "z9hG4bKacl1")
        .replace(UAC, stranger)
        .replacen(
            "Max-Forwards: 70\r\n",
            &format!("Route: <sip:{GW1};lr>\r\nMax-Forwards: 70\r\n"),
            1,
        );
    n.from(stranger, &routed);
    let out = n.take();
    assert!(out.iter().all(|(d, _)| *d == addr(stranger)), "{out:#?}");
    assert!(
        out.last().unwrap().1.starts_with("SIP/2.0 403 "),
        "{out:#?}"
    );
    assert_eq!(n.core.counters().refused_sources, 1);
    // The known customer's call with the same Route goes there.
    let routed = call("+14155550123", "z9hG4bKacl2").replacen(
        "Max-Forwards: 70\r\n",
        &format!("Route: <sip:{GW1};lr>\r\nMax-Forwards: 70\r\n"),
        1,
    );
    n.from(UAC, &routed);
    assert!(sent_to(&n.take(), GW1).is_some());
}

#[test]
fn a_timeout_counts_as_408_when_the_rest_answer_503() {
    let mut n = lcr_net();
    n.from(UAC, &call("+14155550123", "z9hG4bKf7"));
    n.take();
    n.advance(Duration::from_millis(32_200));
    let inv2 = sent_to(&n.take(), GW2).expect("failover after Timer B");
    n.from(GW2, &respond(&inv2, 503, "Unavailable", Some("g2")));
    let inv3 = sent_to(&n.take(), GW3).expect("then the third");
    n.from(GW3, &respond(&inv3, 503, "Unavailable", Some("g3")));
    let up = sent_to(&n.take(), UAC).expect("a final response");
    assert!(up.starts_with("SIP/2.0 408 Request Timeout"), "{up}");
}

#[test]
fn failover_codes_are_configurable() {
    let mut cfg = ProxyConfig::new(addr(PROXY), None);
    cfg.failover = FailoverCodes::parse(["486"]).unwrap();
    let mut n = net_with(cfg, Table);
    n.from(UAC, &call("+14155550123", "z9hG4bKf8"));
    let inv1 = sent_to(&n.take(), GW1).unwrap();
    n.from(GW1, &respond(&inv1, 486, "Busy Here", Some("g1")));
    let inv2 = sent_to(&n.take(), GW2).expect("486 fails over here");
    n.from(GW2, &respond(&inv2, 503, "Unavailable", Some("g2")));
    let out = n.take();
    assert!(sent_to(&out, GW3).is_none(), "503 does not: {out:#?}");
    let up = sent_to(&out, UAC).unwrap();
    assert!(up.starts_with("SIP/2.0 486 Busy Here"), "{up}");
}

/// GW1 capped at 2 calls per second, GW2 uncapped.
#[derive(Debug)]
struct Capped;

impl TargetSource for Capped {
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        out.push(
            Target::new(addr(GW1), 1, req.number)
                .unwrap()
                .with_cps_limit(2),
        );
        out.push(Target::new(addr(GW2), 2, req.number).unwrap());
        Ok(())
    }
}

#[test]
fn a_gateway_at_its_cps_cap_is_skipped() {
    let mut n = net_routing_by(Capped);
    let mut first_hops = Vec::new();
    for i in 0..4 {
        let call_id = format!("Call-ID: cps-{i}@192.0.2.10");
        let msg = call("+14155550123", &format!("z9hG4bKcps{i}"))
            .replace("Call-ID: call-1@192.0.2.10", &call_id);
        n.from(UAC, &msg);
        let out = n.take();
        let hop = out.iter().find(|(d, _)| *d != addr(UAC)).unwrap().0;
        first_hops.push(hop);
    }
    assert_eq!(first_hops, [addr(GW1), addr(GW1), addr(GW2), addr(GW2)]);
    assert_eq!(n.core.counters().lcr_capped, 2);
    // A second later the bucket has refilled.
    n.advance(Duration::from_millis(1000));
    n.take();
    let msg = call("+14155550123", "z9hG4bKcps9").replace("call-1@", "cps-9@");
    n.from(UAC, &msg);
    assert!(sent_to(&n.take(), GW1).is_some());
}

/// GW1 then GW2, both probed.
#[derive(Debug)]
struct Probed;

impl TargetSource for Probed {
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        out.push(Target::new(addr(GW1), 1, req.number).unwrap());
        out.push(Target::new(addr(GW2), 2, req.number).unwrap());
        Ok(())
    }

    fn probed(&self, out: &mut Vec<SocketAddr>) {
        out.extend([addr(GW1), addr(GW2)]);
    }
}

/// The OPTIONS probes in `out`, by gateway.
fn probes(out: &[(SocketAddr, String)]) -> Vec<(SocketAddr, String)> {
    out.iter()
        .filter(|(_, m)| m.starts_with("OPTIONS "))
        .cloned()
        .collect()
}

#[test]
fn probing_takes_a_silent_gateway_out_and_brings_it_back() {
    let mut n = net_routing_by(Probed);
    // The first datagram starts probing: one OPTIONS per gateway.
    n.from(UAC, "\r\n\r\n");
    let round = probes(&n.take());
    assert_eq!(round.len(), 2, "{round:#?}");
    let opt = &round[0].1;
    assert!(opt.starts_with(&format!("OPTIONS sip:{} SIP/2.0\r\n", round[0].0)));
    assert!(
        header(opt, "Call-ID")[0].starts_with("tl0000."),
        "minted for shard 0"
    );
    let answer = |n: &mut Net, round: &[(SocketAddr, String)], gw: &str| {
        let (_, o) = round.iter().find(|(d, _)| *d == addr(gw)).unwrap();
        n.from(gw, &respond(o, 200, "OK", Some("p")));
        assert!(n.take().is_empty(), "probe answers are not forwarded");
    };
    answer(&mut n, &round, GW2);
    // GW1 stays silent for three rounds: down.
    for _ in 0..3 {
        n.advance(Duration::from_secs(10));
        let round = probes(&n.take());
        assert_eq!(round.len(), 2);
        answer(&mut n, &round, GW2);
    }
    assert_eq!(n.core.counters().probe_failures, 3);
    let mut states = n.core.gateway_states();
    states.sort();
    assert_eq!(states, [(addr(GW1), false), (addr(GW2), true)]);
    n.from(UAC, &call("+14155550123", "z9hG4bKp1"));
    let out = n.take();
    assert!(
        sent_to(&out, GW1).is_none() && sent_to(&out, GW2).is_some(),
        "{out:#?}"
    );
    assert_eq!(n.core.counters().lcr_down_skipped, 1);
    // Two answered rounds bring it back.
    for _ in 0..2 {
        n.advance(Duration::from_secs(10));
        let round = probes(&n.take());
        answer(&mut n, &round, GW1);
        answer(&mut n, &round, GW2);
    }
    assert!(n.core.gateway_states().iter().all(|(_, up)| *up));
    let second = call("+14155550123", "z9hG4bKp2").replace("call-1@", "call-2@");
    n.from(UAC, &second);
    assert!(sent_to(&n.take(), GW1).is_some());
}

/// GW1 capped at one call at once, then GW2 (no cap).
#[derive(Debug)]
struct OneCallAtOnce;

impl TargetSource for OneCallAtOnce {
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        out.push(
            Target::new(addr(GW1), 1, req.number)
                .unwrap()
                .with_concurrent_limit(1),
        );
        out.push(Target::new(addr(GW2), 2, req.number).unwrap());
        Ok(())
    }
}

#[test]
fn a_gateway_at_its_concurrent_call_cap_is_skipped_until_a_call_ends() {
    let mut n = net_routing_by(OneCallAtOnce);
    // Call 0 takes GW1's one slot while it rings; call 1 goes to GW2.
    let (gw, inv0) = place(&mut n, "cc", 0);
    assert_eq!(gw, addr(GW1));
    n.from(GW1, &respond(&inv0, 180, "Ringing", Some("g0")));
    n.take();
    assert_eq!(place(&mut n, "cc", 1).0, addr(GW2));
    assert_eq!(n.core.counters().lcr_capped, 1);
    // Answered, call 0 keeps the slot for its dialog.
    n.from(GW1, &respond(&inv0, 200, "OK", Some("g0")));
    n.take();
    assert_eq!(place(&mut n, "cc", 2).0, addr(GW2));
    // Its BYE frees the slot: call 3 goes to GW1 again.
    let bye = format!(
        "BYE sip:+14155550123@{GW1} SIP/2.0\r\nVia: SIP/2.0/UDP {UAC};branch=z9hG4bKccbye\r\n\
Route: <sip:192.0.2.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:alice@x>;tag=a1\r\n\
To: <sip:bob@x>;tag=g0\r\nCall-ID: cc-0@192.0.2.10\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAC, &bye);
    assert!(sent_to(&n.take(), GW1).is_some(), "the BYE goes to GW1");
    let (gw, inv3) = place(&mut n, "cc", 3);
    assert_eq!(gw, addr(GW1));
    // A failed attempt gives its slot back at once (486 ends the search).
    n.from(GW1, &respond(&inv3, 486, "Busy Here", Some("g3")));
    n.take();
    let (gw, inv4) = place(&mut n, "cc", 4);
    assert_eq!(gw, addr(GW1));
    // So does one that times out (Timer B, then the search moves on).
    n.advance(Duration::from_secs(33));
    let out = n.take();
    assert!(sent_to(&out, GW2).is_some(), "{out:#?}");
    assert!(inv4.starts_with("INVITE "));
    let (gw, inv5) = place(&mut n, "cc", 5);
    assert_eq!(gw, addr(GW1));
    assert_eq!(n.core.counters().lcr_capped, 2);
    // An answered call whose BYE never comes holds the slot until
    // DIALOG_MAX (12 h), then gives it back.
    n.from(GW1, &respond(&inv5, 200, "OK", Some("g5")));
    n.take();
    n.advance(Duration::from_secs(3600));
    n.take();
    assert_eq!(place(&mut n, "cc", 6).0, addr(GW2));
    n.advance(crate::lcr::caps::DIALOG_MAX);
    n.take();
    assert_eq!(place(&mut n, "cc", 7).0, addr(GW1));
}

/// One gateway at two addresses (GW1, GW2: one cap key) capped at one
/// call at once, then GW3.
#[derive(Debug)]
struct OneGatewayTwoHosts;

impl TargetSource for OneGatewayTwoHosts {
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        for host in [GW1, GW2] {
            out.push(
                Target::new(addr(host), 1, req.number)
                    .unwrap()
                    .with_cap_key(7)
                    .with_concurrent_limit(1),
            );
        }
        out.push(Target::new(addr(GW3), 3, req.number).unwrap());
        Ok(())
    }
}

#[test]
fn the_addresses_of_one_gateway_share_its_caps() {
    let mut n = net_routing_by(OneGatewayTwoHosts);
    let (gw, inv0) = place(&mut n, "sh", 0);
    assert_eq!(gw, addr(GW1));
    n.from(GW1, &respond(&inv0, 180, "Ringing", Some("s0")));
    n.take();
    // The gateway's one slot is taken: its other address is capped too.
    assert_eq!(place(&mut n, "sh", 1).0, addr(GW3));
    assert_eq!(n.core.counters().lcr_capped, 2);
    // A 503 from the first address moves the call to the second one.
    n.from(GW1, &respond(&inv0, 503, "Service Unavailable", Some("s0")));
    let out = n.take();
    assert!(sent_to(&out, GW2).is_some(), "{out:#?}");
}

/// A dual-stack gateway: its IPv6 address first, then its IPv4 one.
#[derive(Debug)]
struct DualStack;

impl TargetSource for DualStack {
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        let v6: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        out.push(Target::new(v6, 1, req.number).unwrap().with_cap_key(1));
        out.push(
            Target::new(addr(GW1), 1, req.number)
                .unwrap()
                .with_cap_key(1),
        );
        Ok(())
    }

    fn probed(&self, out: &mut Vec<SocketAddr>) {
        out.extend(["[2001:db8::1]:5060".parse().unwrap(), addr(GW1)]);
    }
}

#[test]
fn only_addresses_of_a_listeners_family_are_probed() {
    let mut n = net_routing_by(DualStack);
    n.from(UAC, "\r\n\r\n");
    let round = probes(&n.take());
    let dests: Vec<SocketAddr> = round.iter().map(|(d, _)| *d).collect();
    assert_eq!(dests, [addr(GW1)], "{round:#?}");
    assert_eq!(n.core.gateway_states(), [(addr(GW1), true)]);
}

#[test]
fn an_address_of_the_other_family_than_the_listener_is_skipped() {
    let mut n = net_routing_by(DualStack);
    n.from(UAC, &call("+14155550123", "z9hG4bKfam1"));
    let out = n.take();
    // Straight to the IPv4 address: the IPv4 listener cannot reach the
    // IPv6 one, and an attempt there would wait for Timer B.
    assert!(sent_to(&out, GW1).is_some(), "{out:#?}");
    assert!(out.iter().all(|(d, _)| d.is_ipv4()), "{out:#?}");
    assert_eq!(n.core.counters().lcr_family_skipped, 1);
    assert_eq!(n.core.counters().lcr_failovers, 0);
}

const PROXY6: &str = "[2001:db8::a]:5060";
const GW6: &str = "[2001:db8::1]:5060";

/// A dual-stack proxy (an IPv4 and an IPv6 listener) routing to
/// [`DualStack`].
fn net_dual_stack() -> Net {
    let mut cfg = ProxyConfig::new(addr(PROXY), None);
    cfg.locals.addrs.push(LocalAddr::from_socket(addr(PROXY6)));
    net_with(cfg, DualStack)
}

#[test]
fn a_call_crosses_address_families_by_the_other_listener_and_double_record_routes() {
    let mut n = net_dual_stack();
    n.recv_on(UAC, &call("+14155550123", "z9hG4bKds1"), 0);
    let out = n.take_by();
    let (by, _, inv) = out
        .iter()
        .find(|(_, d, m)| *d == addr(GW6) && m.starts_with("INVITE "))
        .expect("sent to the IPv6 gateway first")
        .clone();
    assert_eq!(by, 1, "leaves by the IPv6 listener");
    assert!(
        header(&inv, "Via")[0].starts_with(&format!("SIP/2.0/UDP {PROXY6};branch=")),
        "{inv}"
    );
    // RFC 5658: the callee's route set starts with the address it reaches.
    let rr = format!("<sip:{PROXY6};lr;r2=on>, <sip:{PROXY};lr;r2=on>");
    assert_eq!(header(&inv, "Record-Route"), [rr.as_str()], "{inv}");
    assert_eq!(n.core.counters().lcr_family_skipped, 0);

    // The 200 comes back on the IPv6 listener and goes to the caller by
    // the IPv4 one, Record-Route intact.
    let ok = respond(&inv, 200, "OK", Some("g6")).replace(
        &format!("Contact: <sip:bob@{UAS}>"),
        &format!("Contact: <sip:bob@{GW6}>"),
    );
    n.recv_on(GW6, &ok, 1);
    let out = n.take_by();
    let (by, _, fwd) = out
        .iter()
        .find(|(_, d, m)| *d == addr(UAC) && m.starts_with("SIP/2.0 200"))
        .expect("200 relayed")
        .clone();
    assert_eq!(by, 0);
    assert_eq!(header(&fwd, "Record-Route"), [rr.as_str()]);

    // The caller's ACK uses the route set reversed: in by IPv4, out by IPv6.
    let ack = format!(
        "ACK sip:bob@{GW6} SIP/2.0\r\n\
Via: SIP/2.0/UDP {UAC};branch=z9hG4bKds1ack\r\n\
Route: <sip:{PROXY};lr;r2=on>, <sip:{PROXY6};lr;r2=on>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@192.0.2.10>;tag=a1\r\n\
To: Bob <sip:bob@192.0.2.20>;tag=g6\r\n\
Call-ID: call-1@192.0.2.10\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\r\n"
    );
    n.recv_on(UAC, &ack, 0);
    let out = n.take_by();
    assert_eq!(out.len(), 1, "{out:#?}");
    let (by, dest, fwd) = &out[0];
    assert_eq!((*by, *dest), (1, addr(GW6)));
    assert!(
        header(fwd, "Route").is_empty(),
        "both Routes were ours: {fwd}"
    );
    assert!(header(fwd, "Via")[0].contains(PROXY6), "{fwd}");

    // The callee's BYE: in by IPv6, out by IPv4.
    let bye = format!(
        "BYE sip:alice@{UAC} SIP/2.0\r\n\
Via: SIP/2.0/UDP {GW6};branch=z9hG4bKds1bye\r\n\
Route: {rr}\r\n\
Max-Forwards: 70\r\n\
From: Bob <sip:bob@192.0.2.20>;tag=g6\r\n\
To: Alice <sip:alice@192.0.2.10>;tag=a1\r\n\
Call-ID: call-1@192.0.2.10\r\n\
CSeq: 1 BYE\r\n\
Content-Length: 0\r\n\r\n"
    );
    n.recv_on(GW6, &bye, 1);
    let out = n.take_by();
    let (by, _, fwd) = out
        .iter()
        .find(|(_, d, m)| *d == addr(UAC) && m.starts_with("BYE "))
        .expect("BYE relayed")
        .clone();
    assert_eq!(by, 0);
    assert!(header(&fwd, "Route").is_empty(), "{fwd}");
    assert!(header(&fwd, "Via")[0].contains(PROXY), "{fwd}");
    assert!(header(&fwd, "Record-Route").is_empty(), "{fwd}");
}

#[test]
fn a_request_for_a_family_we_do_not_listen_on_gets_503() {
    let mut n = net(Mode::Stateful, None);
    let inv = invite("z9hG4bKv6only").replacen(
        &format!("INVITE sip:bob@{UAS} SIP/2.0"),
        &format!("INVITE sip:bob@{GW6} SIP/2.0"),
        1,
    );
    n.from(UAC, &inv);
    let out = n.take();
    assert!(out.iter().all(|(d, _)| *d == addr(UAC)), "{out:#?}");
    assert!(
        out.iter()
            .any(|(_, m)| m.starts_with("SIP/2.0 503 No Listener For Address Family")),
        "{out:#?}"
    );
}

/// Call limits on least-cost routing's targets (`[[limit]] key =
/// "carrier:ID"` / `"gateway:ID"`), with a routing table built from CSV:
/// carrier C of gateways G1 then G2 (GW1, GW2), for every `+1` number.
mod call_limits {
    use std::path::Path;
    use std::time::Instant;

    use trunkline_routing_tables::{BuildInputs, Source, build};

    use super::*;
    use crate::config::Config;
    use crate::lcr::LcrTable;
    use crate::security::call_limits::{CallLimits, LimitCounts};

    /// The table's snapshot file, in `dir`.
    fn table(dir: &Path) -> Arc<LcrTable> {
        let path = dir.join("table.snap");
        let built = build(BuildInputs {
            gateways: Source::bytes("gateways.csv", format!("id,address\nG1,{GW1}\nG2,{GW2}\n")),
            carriers: Some(Source::bytes("carriers.csv", "id,gateways\nC,G1;G2\n")),
            rules: Source::bytes("rules.csv", "group,prefix,targets\ndefault,+1,C\n"),
            dialplan: None,
            acl: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        built.write(&path, 1_700_000_000).unwrap();
        let no_dns: crate::dns::Resolver = Arc::new(|h, _| Err(format!("{h}: no DNS here")));
        Arc::new(LcrTable::open(&path, 404, no_dns).unwrap())
    }

    /// A proxy routing by the table, with the limits and the call control
    /// `toml` sets up; and the limits.
    fn limited(toml: &str) -> (Net, Arc<CallLimits>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::parse(toml, Path::new("lcr.toml")).unwrap_or_else(|e| panic!("{e}"));
        let mut proxy = ProxyConfig::new(addr(PROXY), None);
        proxy.dialogs = cfg.proxy.dialogs;
        assert!(proxy.dialogs.is_some(), "[[limit]] turns call control on");
        let limits = Arc::new(CallLimits::new(&cfg.call_limits, Instant::now()).unwrap());
        let services = Services {
            targets: Some(table(dir.path())),
            call_limits: Some(Arc::clone(&limits)),
            ..Services::default()
        };
        (Net::with_services(proxy, services), limits, dir)
    }

    /// The counts of the one limit.
    fn counts(limits: &CallLimits) -> LimitCounts {
        let mut all = limits.counts();
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    /// The UAC hangs up call `tag-i`, answered by `gw` with To tag `to_tag`.
    fn hang_up(n: &mut Net, gw: &str, tag: &str, i: u32, to_tag: &str) {
        let bye = format!(
            "BYE sip:+14155550123@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {UAC};branch=z9hG4bK{tag}bye{i}\r\n\
Route: <sip:192.0.2.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:alice@x>;tag=a1\r\n\
To: <sip:bob@x>;tag={to_tag}\r\nCall-ID: {tag}-{i}@192.0.2.10\r\nCSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n"
        );
        n.from(UAC, &bye);
        assert!(sent_to(&n.take(), gw).is_some(), "the BYE goes to {gw}");
    }

    #[test]
    fn a_gateway_at_its_limit_is_skipped_until_its_call_ends() {
        let (mut n, limits, _dir) = limited("[[limit]]\nkey = \"gateway:G1\"\nconcurrent = 1\n");
        // Call 0 holds G1's one slot while it rings, and once answered.
        let (gw, inv0) = place(&mut n, "gl", 0);
        assert_eq!(gw, addr(GW1));
        n.from(GW1, &respond(&inv0, 180, "Ringing", Some("g0")));
        n.take();
        assert_eq!(place(&mut n, "gl", 1).0, addr(GW2), "G1 is busy");
        assert_eq!(n.core.counters().lcr_limited, 1);
        n.from(GW1, &respond(&inv0, 200, "OK", Some("g0")));
        n.take();
        let c = counts(&limits);
        assert_eq!((c.key.as_str(), c.concurrent), ("gateway:G1", 1));
        assert_eq!((c.admitted, c.refused), (1, 1));
        // Its BYE gives the slot back: call 2 goes to G1 again.
        hang_up(&mut n, GW1, "gl", 0, "g0");
        assert_eq!(counts(&limits).concurrent, 0);
        let (gw, inv2) = place(&mut n, "gl", 2);
        assert_eq!(gw, addr(GW1));
        assert_eq!(counts(&limits).concurrent, 1);
        // An attempt that fails over gives its slot back with the next
        // attempt; a call that ends unanswered gives back the last.
        n.from(GW1, &respond(&inv2, 503, "Unavailable", Some("g2")));
        let inv2b = sent_to(&n.take(), GW2).expect("failover to G2");
        assert_eq!(counts(&limits).concurrent, 0);
        n.from(GW2, &respond(&inv2b, 486, "Busy Here", Some("g2b")));
        n.take();
        assert_eq!(counts(&limits).concurrent, 0);
        assert_eq!(place(&mut n, "gl", 3).0, addr(GW1));
        let c = counts(&limits);
        assert_eq!((c.concurrent, c.admitted, c.refused), (1, 3, 1));
        assert_eq!(n.core.counters().lcr_limited, 1);
    }

    #[test]
    fn a_carrier_at_its_limit_leaves_the_call_no_gateway() {
        let (mut n, limits, _dir) = limited("[[limit]]\nkey = \"carrier:C\"\nconcurrent = 1\n");
        let (gw, inv0) = place(&mut n, "cl", 0);
        assert_eq!(gw, addr(GW1));
        n.from(GW1, &respond(&inv0, 180, "Ringing", Some("g0")));
        n.take();
        // Both of C's gateways are refused: nothing goes out, 503.
        let msg = call("+14155550123", "z9hG4bKcl1").replace("call-1@", "cl-1@");
        n.from(UAC, &msg);
        let out = n.take();
        assert!(out.iter().all(|(d, _)| *d == addr(UAC)), "{out:#?}");
        let last = &out.last().unwrap().1;
        assert!(
            last.starts_with("SIP/2.0 503 No Gateway Available"),
            "{last}"
        );
        assert_eq!(n.core.counters().lcr_limited, 2);
        let c = counts(&limits);
        assert_eq!((c.key.as_str(), c.concurrent), ("carrier:C", 1));
        assert_eq!((c.admitted, c.refused), (1, 2));
        // Call 0 is rejected: its slot comes back.
        n.from(GW1, &respond(&inv0, 486, "Busy Here", Some("g0")));
        n.take();
        assert_eq!(counts(&limits).concurrent, 0);
        assert_eq!(place(&mut n, "cl", 2).0, addr(GW1));
        assert_eq!(counts(&limits).concurrent, 1);
    }

    /// A call failing over within its carrier, at the carrier's limit:
    /// the failed attempt's slot comes back before the next gateway is
    /// admitted.
    #[test]
    fn failing_over_within_a_carrier_at_its_limit_takes_the_next_gateway() {
        let (mut n, limits, _dir) = limited("[[limit]]\nkey = \"carrier:C\"\nconcurrent = 1\n");
        let (gw, inv0) = place(&mut n, "cf", 0);
        assert_eq!(gw, addr(GW1));
        n.from(GW1, &respond(&inv0, 503, "Unavailable", Some("g0")));
        let inv0b = sent_to(&n.take(), GW2).expect("failover to G2 within C");
        assert_eq!(counts(&limits).concurrent, 1);
        assert_eq!(n.core.counters().lcr_limited, 0);
        n.from(GW2, &respond(&inv0b, 200, "OK", Some("g0b")));
        n.take();
        assert_eq!(counts(&limits).concurrent, 1);
        hang_up(&mut n, GW2, "cf", 0, "g0b");
        assert_eq!(counts(&limits).concurrent, 0);
    }

    /// Quality routing (`[routing.quality]`): G1 answers none of its
    /// calls (503, each failing over to G2): after `min_attempts` it is
    /// demoted, and calls try G2 first; after `demote_s` G1 is first again.
    #[test]
    fn a_gateway_under_its_asr_is_tried_last_then_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "[routing]\ntable = \"t.snap\"\n[routing.quality]\nmin_asr = 0.5\n\
                    min_attempts = 3\ndemote_s = 60\n";
        let cfg = Config::parse(toml, Path::new("q.toml")).unwrap_or_else(|e| panic!("{e}"));
        let mut proxy = ProxyConfig::new(addr(PROXY), None);
        proxy.dialogs = cfg.proxy.dialogs;
        proxy.quality = cfg.proxy.quality;
        assert!(
            proxy.dialogs.is_some(),
            "quality routing turns call control on"
        );
        let services = Services {
            targets: Some(table(dir.path())),
            ..Services::default()
        };
        let mut n = Net::with_services(proxy, services);
        for i in 0..3 {
            let (gw, inv) = place(&mut n, "q", i);
            assert_eq!(gw, addr(GW1), "call {i}");
            n.from(GW1, &respond(&inv, 503, "Unavailable", Some("g1")));
            let inv2 = sent_to(&n.take(), GW2).expect("failover to G2");
            n.from(GW2, &respond(&inv2, 200, "OK", Some("g2")));
            n.take();
        }
        let (gw, inv3) = place(&mut n, "q", 3);
        assert_eq!(gw, addr(GW2), "G1 demoted");
        n.from(GW2, &respond(&inv3, 200, "OK", Some("g3")));
        n.take();
        assert_eq!(n.core.counters().lcr_demoted, 1);
        let scores = n.core.gateway_scores(n.now);
        let g1 = scores.iter().find(|(d, _)| *d == addr(GW1)).unwrap().1;
        assert!(g1.demoted && g1.attempts == 0, "judged afresh: {g1:?}");
        let g2 = scores.iter().find(|(d, _)| *d == addr(GW2)).unwrap().1;
        assert!((g2.asr - 1.0).abs() < 1e-9 && g2.attempts == 4, "{g2:?}");
        n.advance(Duration::from_secs(61));
        n.take();
        assert_eq!(place(&mut n, "q", 4).0, addr(GW1), "back in place");
    }

    /// A CDR names each attempt's gateway by its routing table id.
    #[test]
    fn cdrs_name_the_gateways_tried() {
        let (mut n, _limits, _dir) = limited("[cdr]\npath = \"/nonexistent-cdr-dir\"\n");
        let (gw, inv) = place(&mut n, "cd", 0);
        assert_eq!(gw, addr(GW1));
        n.from(GW1, &respond(&inv, 503, "Unavailable", Some("g1")));
        let inv2 = sent_to(&n.take(), GW2).expect("failover to G2");
        n.from(GW2, &respond(&inv2, 486, "Busy Here", Some("g2")));
        n.take();
        let cdr = n.core.poll_cdr().expect("the call's record");
        let tried: Vec<_> = cdr
            .attempts
            .iter()
            .map(|a| (a.gateway.as_str(), a.code))
            .collect();
        assert_eq!(tried, [("G1", 503), ("G2", 486)]);
        assert_eq!((cdr.sip_code, cdr.cause.as_str()), (486, "busy"));
        assert_eq!(cdr.callee_sent, "+14155550123");
    }

    #[test]
    fn a_limit_on_another_carrier_or_gateway_changes_nothing() {
        let toml = "[[limit]]\nkey = \"gateway:G9\"\nconcurrent = 0\n";
        let (mut n, limits, _dir) = limited(toml);
        for i in 0..3 {
            assert_eq!(place(&mut n, "ol", i).0, addr(GW1));
        }
        let c = counts(&limits);
        assert_eq!((c.concurrent, c.admitted, c.refused), (0, 0, 0));
        assert_eq!(n.core.counters().lcr_limited, 0);
    }
}
