//! Next hops given by host name: requests parked while the name is looked
//! up, then forwarded or answered 503, on the virtual network.

use super::*;
use crate::dns::{NameQuery, Resolved};

const SBC: &str = "198.51.100.7:5070";

/// A BYE in the dialog of `call_id`, through our Record-Route, to a
/// remote target given by host name.
fn bye_to_name(call_id: &str, branch: &str) -> String {
    format!(
        "BYE sip:bob@SBC.example.net:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP {UAC};branch={branch}\r\n\
Route: <sip:{PROXY};lr>\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@x>;tag=a1\r\n\
To: <sip:bob@x>;tag=b2\r\n\
Call-ID: {call_id}\r\n\
CSeq: 5 BYE\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn first_line(m: &str) -> &str {
    m.split("\r\n").next().unwrap()
}

fn sbc_query() -> NameQuery {
    NameQuery {
        name: "sbc.example.net".to_string(),
        port: Some(5070),
    }
}

#[test]
fn a_request_waits_for_its_next_hops_name_then_the_name_is_cached() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &bye_to_name("dns-1", "z9hG4bKd1"));
    n.from(UAC, &bye_to_name("dns-2", "z9hG4bKd2"));
    assert!(n.take().is_empty(), "both parked");
    assert_eq!(n.core.poll_name_query(), Some(sbc_query()));
    assert_eq!(n.core.poll_name_query(), None, "one lookup for both");
    assert_eq!(n.core.counters().names_parked, 2);
    // A retransmission while parked is absorbed by its transaction.
    n.from(UAC, &bye_to_name("dns-1", "z9hG4bKd1"));
    assert!(n.take().is_empty());

    n.core
        .handle_name_answer(n.now, &sbc_query(), Ok(Resolved::of([addr(SBC)])));
    n.drain();
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(
        out.iter()
            .all(|(d, m)| *d == addr(SBC) && m.starts_with("BYE "))
    );
    assert!(out.iter().all(|(_, m)| header(m, "Route").is_empty()));

    // The next one goes at once.
    n.from(UAC, &bye_to_name("dns-3", "z9hG4bKd3"));
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr(SBC));
    assert_eq!(n.core.poll_name_query(), None);
}

#[test]
fn a_name_that_does_not_resolve_gets_503_and_an_ack_is_dropped() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &bye_to_name("nx-1", "z9hG4bKn1"));
    let ack = bye_to_name("nx-2", "z9hG4bKn2")
        .replacen("BYE sip:", "ACK sip:", 1)
        .replace("CSeq: 5 BYE", "CSeq: 1 ACK");
    n.from(UAC, &ack);
    assert!(n.take().is_empty());
    let q = n.core.poll_name_query().unwrap();
    n.core.handle_name_answer(n.now, &q, Err("NXDOMAIN".into()));
    n.drain();
    let out = n.take();
    assert_eq!(out.len(), 1, "the BYE's 503, nothing for the ACK: {out:#?}");
    assert!(out[0].1.starts_with("SIP/2.0 503 Next Hop Not Resolved"));
    assert_eq!(header(&out[0].1, "CSeq"), ["5 BYE"]);
    assert_eq!(n.core.counters().names_failed, 2, "the BYE and the ACK");
    // For a while the name fails at once, without a lookup.
    n.from(UAC, &bye_to_name("nx-3", "z9hG4bKn3"));
    assert!(
        n.take()[0]
            .1
            .starts_with("SIP/2.0 503 Next Hop Not Resolved")
    );
    assert_eq!(n.core.poll_name_query(), None);
    assert_eq!(n.core.counters().names_failed, 3);
}

#[test]
fn a_lookup_that_never_answers_gives_503_in_time() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &bye_to_name("slow-1", "z9hG4bKs1"));
    assert!(n.core.poll_name_query().is_some());
    n.advance(crate::dns::cache::PARK_TIMEOUT - Duration::from_millis(1));
    assert!(n.take().is_empty());
    n.advance(Duration::from_millis(1));
    let out = n.take();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].1.starts_with("SIP/2.0 503 Next Hop Not Resolved"));
    assert_eq!(n.core.counters().names_failed, 1);
    // A late answer finds nothing parked.
    n.core
        .handle_name_answer(n.now, &sbc_query(), Ok(Resolved::of([addr(SBC)])));
    n.drain();
    assert!(n.take().is_empty());
}

#[test]
fn cancelling_a_parked_invite_answers_487() {
    let mut n = net(Mode::Stateful, None);
    let inv = invite("z9hG4bKpc1").replacen(
        &format!("INVITE sip:bob@{UAS}"),
        "INVITE sip:bob@sbc.example.net:5070",
        1,
    );
    n.from(UAC, &inv);
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 100 Trying"));
    let cancel = inv
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    n.from(UAC, &cancel);
    let out = n.take();
    let codes: Vec<&str> = out.iter().map(|(_, m)| first_line(m)).collect();
    assert_eq!(
        codes,
        ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"],
        "{out:#?}"
    );
    // The answer comes later: nothing left to forward.
    let q = n.core.poll_name_query().unwrap();
    n.core
        .handle_name_answer(n.now, &q, Ok(Resolved::of([addr(SBC)])));
    n.drain();
    assert!(n.take().iter().all(|(d, _)| *d == addr(UAC)));
}

#[test]
fn an_invite_tries_a_names_addresses_in_turn_on_503_not_on_486() {
    const SBC2: &str = "198.51.100.8:5070";
    let to_name = |branch: &str, call: &str| {
        invite(branch).replace("call-1@", call).replacen(
            &format!("INVITE sip:bob@{UAS}"),
            "INVITE sip:bob@sbc.example.net:5070",
            1,
        )
    };
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &to_name("z9hG4bKaddr1", "call-1@"));
    assert_eq!(n.take().len(), 1, "100 Trying; the INVITE waits");
    let q = n.core.poll_name_query().unwrap();
    let both = Resolved::of([addr(SBC), addr(SBC2)]);
    n.core.handle_name_answer(n.now, &q, Ok(both));
    n.drain();
    let out = n.take();
    assert_eq!(out.len(), 1, "{out:#?}");
    // The first address rotates per request (A records share the load).
    let (first, second) = match out[0].0 == addr(SBC) {
        true => (SBC, SBC2),
        false => (SBC2, SBC),
    };
    assert_eq!(out[0].0, addr(first));
    let kept = "INVITE sip:bob@sbc.example.net:5070 SIP/2.0";
    assert!(out[0].1.starts_with(kept));
    n.from(
        first,
        &respond(&out[0].1, 503, "Service Unavailable", Some("s1")),
    );
    let out = n.take();
    let next = out
        .iter()
        .find(|(d, m)| *d == addr(second) && m.starts_with("INVITE "))
        .unwrap_or_else(|| panic!("the next address: {out:#?}"));
    assert!(next.1.starts_with(kept), "Request-URI kept");
    assert_eq!(n.core.counters().names_failovers, 1);
    assert_eq!(n.core.counters().lcr_failovers, 0);
    n.from(second, &respond(&next.1, 200, "OK", Some("s2")));
    let out = n.take();
    let relayed = |out: &[(SocketAddr, String)], code: &str| {
        out.iter()
            .any(|(d, m)| *d == addr(UAC) && m.starts_with(code))
    };
    assert!(relayed(&out, "SIP/2.0 200"), "{out:#?}");

    // Both addresses lead calls: over 40 calls each is tried first.
    let mut firsts = std::collections::HashSet::new();
    for i in 0..40 {
        n.from(
            UAC,
            &to_name(&format!("z9hG4bKspread{i}"), &format!("spread-{i}@")),
        );
        let out = n.take();
        let sent = out
            .iter()
            .find(|(d, _)| *d != addr(UAC))
            .expect("sent at once");
        firsts.insert(sent.0);
    }
    assert_eq!(firsts.len(), 2, "{firsts:?}");

    // A 486 is the callee's answer, not the server's failure: no failover.
    n.from(UAC, &to_name("z9hG4bKaddr2", "call-2@"));
    let out = n.take();
    let sent = out
        .iter()
        .find(|(d, _)| *d != addr(UAC))
        .expect("sent")
        .clone();
    n.from(sent.0, &respond(&sent.1, 486, "Busy Here", Some("s3")));
    let out = n.take();
    // (The ACK for the 486 goes back hop by hop; no INVITE goes on.)
    assert!(
        out.iter().all(|(_, m)| !m.starts_with("INVITE ")),
        "{out:#?}"
    );
    assert!(relayed(&out, "SIP/2.0 486"));
}
