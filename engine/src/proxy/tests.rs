//! The proxy core on a virtual network and clock: whole calls through it,
//! message by message, with no sockets and no sleeping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::testkit::sip::{UacCall, header};
use crate::testkit::{VirtualNet as Net, addr};

const UAC: &str = "192.0.2.10:5060";
const PROXY: &str = "192.0.2.1:5060";
const UAS: &str = "192.0.2.20:5070";

/// A virtual network whose proxy (stateful or stateless) forwards to `to`.
fn net(mode: Mode, to: Option<&str>) -> Net {
    let mut cfg = ProxyConfig::new(addr(PROXY), to.map(addr));
    cfg.mode = mode;
    Net::new(cfg)
}

/// The test call: from the UAC to bob at the UAS.
fn call() -> UacCall {
    UacCall {
        from_tag: "a1".into(),
        ..UacCall::new(addr(UAC), &format!("sip:bob@{UAS}"), "call-1@192.0.2.10")
    }
}

fn invite(branch: &str) -> String {
    call().invite(branch)
}

/// The UAS's response to a request it received (Vias and Record-Route
/// echoed, its Contact on a 2xx).
fn respond(req: &str, code: u16, reason: &str, to_tag: Option<&str>) -> String {
    let contact = (200..300).contains(&code).then(|| addr(UAS));
    crate::testkit::sip::respond(req, code, reason, to_tag, contact)
}

#[test]
fn full_call_through_a_stateful_proxy() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &invite("z9hG4bKc1"));
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    // 100 Trying to the UAC (rport: source port), the INVITE to the UAS.
    assert_eq!(out[0].0, addr(UAC));
    assert!(out[0].1.starts_with("SIP/2.0 100 Trying\r\n"));
    assert!(
        header(&out[0].1, "To")[0].ends_with("<sip:bob@192.0.2.20:5070>"),
        "no To tag on 100"
    );
    // RFC 3581 §4: the Via of our own response says where the request
    // came from, the port too, though it equals the sent-by port.
    assert_eq!(
        header(&out[0].1, "Via"),
        ["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKc1;rport=5060;received=192.0.2.10"]
    );
    let (dest, fwd) = &out[1];
    assert_eq!(*dest, addr(UAS));
    assert!(fwd.starts_with(&format!("INVITE sip:bob@{UAS} SIP/2.0\r\n")));
    let vias = header(fwd, "Via");
    // Our branch: the magic cookie and a keyed hash, nothing that names
    // the product (a scanner's fingerprint).
    let branch = vias[0]
        .strip_prefix("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK")
        .unwrap_or_else(|| panic!("{fwd}"));
    assert_eq!(branch.len(), 16, "{fwd}");
    assert!(branch.bytes().all(|b| b.is_ascii_hexdigit()), "{fwd}");
    // Nor do the responses generated here.
    assert!(header(&out[0].1, "Server").is_empty());
    assert!(header(&out[0].1, "User-Agent").is_empty());
    // RFC 3581 §4: `received` too when `rport` is asked for, even when
    // it equals the sent-by host.
    assert_eq!(
        vias[1],
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKc1;rport=5060;received=192.0.2.10"
    );
    assert_eq!(header(fwd, "Record-Route"), ["<sip:192.0.2.1:5060;lr>"]);
    assert_eq!(header(fwd, "Max-Forwards"), ["69"]);
    assert!(fwd.ends_with("\r\n\r\nv=0\n"), "body untouched");

    // 180 and 200 from the UAS go back with our Via removed.
    n.from(UAS, &respond(fwd, 100, "Trying", None));
    assert!(n.take().is_empty(), "100 is not forwarded");
    n.from(UAS, &respond(fwd, 180, "Ringing", Some("b2")));
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr(UAC));
    assert!(out[0].1.starts_with("SIP/2.0 180 Ringing"));
    assert_eq!(header(&out[0].1, "Via").len(), 1);
    let ok = respond(fwd, 200, "OK", Some("b2"));
    n.from(UAS, &ok);
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 200 OK"));
    assert_eq!(
        header(&out[0].1, "Record-Route"),
        ["<sip:192.0.2.1:5060;lr>"]
    );

    // The UAC's ACK and BYE follow the route set: us, then the UAS's Contact.
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} sip:bob@{UAS} SIP/2.0\r\n\
Via: SIP/2.0/UDP {UAC};branch={branch}\r\n\
Route: <sip:192.0.2.1:5060;lr>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@192.0.2.10>;tag=a1\r\n\
To: Bob <sip:bob@192.0.2.20>;tag=b2\r\n\
Call-ID: call-1@192.0.2.10\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n"
        )
    };
    n.from(UAC, &in_dialog("ACK", 1, "z9hG4bKack1"));
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr(UAS));
    assert!(out[0].1.starts_with("ACK sip:bob@"));
    assert!(header(&out[0].1, "Route").is_empty(), "our Route removed");
    assert!(
        header(&out[0].1, "Record-Route").is_empty(),
        "no RR on in-dialog requests"
    );
    let bye = in_dialog("BYE", 2, "z9hG4bKbye1");
    n.from(UAC, &bye);
    let out = n.take();
    assert_eq!(out.len(), 1);
    let fwd_bye = out[0].1.clone();
    n.from(UAS, &respond(&fwd_bye, 200, "OK", None));
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 200 OK") && out[0].1.contains("CSeq: 2 BYE"));

    // Everything ends once the timers run out.
    n.advance(Duration::from_secs(60));
    assert!(n.take().is_empty(), "nothing resent");
    assert_eq!(n.core.live_transactions(), 0);
    assert_eq!(n.core.live_contexts(), 0);
}

#[test]
fn cancel_before_answer() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &invite("z9hG4bKc2"));
    let fwd = n.take().pop().unwrap().1;
    n.from(UAS, &respond(&fwd, 180, "Ringing", Some("b2")));
    n.take();
    let cancel = format!(
        "CANCEL sip:bob@{UAS} SIP/2.0\r\n\
Via: SIP/2.0/UDP {UAC};branch=z9hG4bKc2;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@192.0.2.10>;tag=a1\r\n\
To: Bob <sip:bob@192.0.2.20>\r\n\
Call-ID: call-1@192.0.2.10\r\n\
CSeq: 1 CANCEL\r\n\
Content-Length: 0\r\n\r\n"
    );
    n.from(UAC, &cancel);
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].0, addr(UAC));
    assert!(out[0].1.starts_with("SIP/2.0 200 OK") && out[0].1.contains("CSeq: 1 CANCEL"));
    assert_eq!(out[1].0, addr(UAS));
    let down_cancel = &out[1].1;
    assert!(down_cancel.starts_with(&format!("CANCEL sip:bob@{UAS} SIP/2.0")));
    assert_eq!(
        header(down_cancel, "Via"),
        [header(&fwd, "Via")[0]],
        "same branch as our INVITE"
    );
    // A retransmitted CANCEL is answered again, not forwarded again.
    n.from(UAC, &cancel);
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 200 OK"));
    // The UAS answers the CANCEL and 487s the INVITE.
    n.from(UAS, &respond(down_cancel, 200, "OK", Some("b2")));
    assert!(n.take().is_empty());
    n.from(UAS, &respond(&fwd, 487, "Request Terminated", Some("b2")));
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    // We ACK the 487 downstream (hop by hop) and forward it upstream.
    let ack = out.iter().find(|(d, _)| *d == addr(UAS)).unwrap();
    assert!(ack.1.starts_with("ACK sip:bob@") && ack.1.contains("CSeq: 1 ACK"));
    let up = out.iter().find(|(d, _)| *d == addr(UAC)).unwrap();
    assert!(up.1.starts_with("SIP/2.0 487 Request Terminated"));
    // The UAC's ACK for the 487 stops here.
    let uac_ack = format!(
        "ACK sip:bob@{UAS} SIP/2.0\r\nVia: SIP/2.0/UDP {UAC};branch=z9hG4bKc2;rport\r\nMax-Forwards: 70\r\n\
From: Alice <sip:alice@192.0.2.10>;tag=a1\r\nTo: Bob <sip:bob@192.0.2.20>;tag=b2\r\n\
Call-ID: call-1@192.0.2.10\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAC, &uac_ack);
    assert!(n.take().is_empty());
    n.advance(Duration::from_secs(60));
    assert_eq!(n.core.live_transactions(), 0);
    assert_eq!(n.core.live_contexts(), 0);
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &invite("z9hG4bKc3"));
    let fwd = n.take().pop().unwrap().1;
    let cancel = format!(
        "CANCEL sip:bob@{UAS} SIP/2.0\r\nVia: SIP/2.0/UDP {UAC};branch=z9hG4bKc3\r\nMax-Forwards: 70\r\n\
From: Alice <sip:alice@192.0.2.10>;tag=a1\r\nTo: Bob <sip:bob@192.0.2.20>\r\n\
Call-ID: call-1@192.0.2.10\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAC, &cancel);
    let out = n.take();
    assert_eq!(out.len(), 1, "only the 200 to the CANCEL: §9.1 {out:#?}");
    n.from(UAS, &respond(&fwd, 100, "Trying", None));
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("CANCEL "));
}

#[test]
fn downstream_silence_gives_408_after_timer_b() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &invite("z9hG4bKc4"));
    n.take();
    n.advance(Duration::from_millis(31_900));
    let resent = n.take();
    assert_eq!(resent.len(), 6, "Timer A resends");
    assert!(
        resent
            .iter()
            .all(|(d, m)| *d == addr(UAS) && m.starts_with("INVITE "))
    );
    n.advance(Duration::from_millis(200));
    let out = n.take();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].0, addr(UAC));
    assert!(out[0].1.starts_with("SIP/2.0 408 Request Timeout"));
    assert!(header(&out[0].1, "To")[0].contains(";tag="));
    // The 408 is resent (Timer G) until the UAC ACKs it.
    n.advance(Duration::from_millis(600));
    assert_eq!(n.take().len(), 1);
}

#[test]
fn retransmitted_invite_is_absorbed() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &invite("z9hG4bKc5"));
    assert_eq!(n.take().len(), 2);
    n.from(UAC, &invite("z9hG4bKc5"));
    let out = n.take();
    assert_eq!(out.len(), 1, "the 100 again, no second INVITE downstream");
    assert!(out[0].1.starts_with("SIP/2.0 100 Trying"));
}

#[test]
fn lost_200_retransmitted_by_the_uas_reaches_the_uac() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &invite("z9hG4bKc6"));
    let fwd = n.take().pop().unwrap().1;
    let ok = respond(&fwd, 200, "OK", Some("b2"));
    n.from(UAS, &ok);
    assert_eq!(n.take().len(), 1);
    n.advance(Duration::from_millis(500));
    n.from(UAS, &ok);
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 200 OK"));
    assert_eq!(out[0].0, addr(UAC));
}

#[test]
fn max_forwards_zero_gets_483() {
    let mut n = net(Mode::Stateful, None);
    n.from(
        UAC,
        &invite("z9hG4bKc7").replace("Max-Forwards: 70", "Max-Forwards: 0"),
    );
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 483 Too Many Hops"));
}

#[test]
fn malformed_request_gets_400_and_is_not_forwarded() {
    let mut n = net(Mode::Stateful, None);
    n.from(
        UAC,
        &invite("z9hG4bKc8").replace("CSeq: 1 INVITE", "CSeq: 99999999999 INVITE"),
    );
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr(UAC));
    assert!(out[0].1.starts_with("SIP/2.0 400 Bad CSeq"), "{}", out[0].1);
    assert_eq!(n.core.counters().invalid, 1);
    n.from(UAC, "\x00\x01garbage\r\n\r\n");
    n.from(UAC, "\r\n\r\n");
    assert!(n.take().is_empty());
    let c = n.core.counters();
    assert_eq!((c.parse_errors, c.keepalives), (1, 1));
}

/// A request that does not frame gets the RFC's answer where its
/// response can be addressed (§18.3, §8.2.2, §21.5.14), instead of the
/// client retransmitting for 32 s; a response or an ACK is dropped.
#[test]
fn requests_that_do_not_frame_get_400_505_or_513() {
    let mut cfg = ProxyConfig::new(addr(PROXY), None);
    cfg.limits.max_message = 2048;
    let mut n = Net::new(cfg);
    let answer = |n: &mut Net, msg: &str| -> String {
        n.from(UAC, msg);
        let out = n.take();
        assert_eq!(out.len(), 1, "{msg}\n{out:#?}");
        assert_eq!(out[0].0, addr(UAC), "to the top Via's rport address");
        let m = &out[0].1;
        assert_eq!(header(m, "Call-ID"), ["call-1@192.0.2.10"], "{m}");
        assert_eq!(header(m, "CSeq"), ["1 INVITE"], "{m}");
        m.clone()
    };
    // A body shorter than its Content-Length.
    let short = invite("z9hG4bKf1").replace("Content-Length: 4", "Content-Length: 400");
    let m = answer(&mut n, &short);
    assert!(
        m.starts_with("SIP/2.0 400 Body Shorter Than Content-Length\r\n"),
        "{m}"
    );
    assert!(
        header(&m, "To")[0].contains(";tag="),
        "a final response has a To tag"
    );
    // A header block cut short by the end of the datagram.
    let inv = invite("z9hG4bKf2");
    let cut = &inv[..inv.find("Contact:").unwrap() + 12];
    let m = answer(&mut n, cut);
    assert!(m.starts_with("SIP/2.0 400 Unterminated Line\r\n"), "{m}");
    // Another SIP version.
    let m = answer(
        &mut n,
        &invite("z9hG4bKf3").replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1),
    );
    assert!(
        m.starts_with("SIP/2.0 505 Version Not Supported\r\n"),
        "{m}"
    );
    // Over the size limit (the kernel truncates a datagram to the
    // receive buffer: what arrives is cut, here in a long last header).
    let big = invite("z9hG4bKf4").replacen(
        "Content-Type:",
        &format!("X-Pad: {}\r\nContent-Type:", "p".repeat(3000)),
        1,
    );
    let m = answer(&mut n, &big[..2049]);
    assert!(m.starts_with("SIP/2.0 513 Message Too Large\r\n"), "{m}");
    assert!(!m.contains("X-Pad"));
    // An ACK, a response, and a request missing what a response needs
    // are dropped.
    let ack = call().request("ACK", 1, "z9hG4bKf5", Some("b1"), None);
    n.from(UAC, &ack.replace("Content-Length: 0", "Content-Length: 9"));
    n.from(
        UAS,
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nContent-Length: 9\r\n\r\n",
    );
    n.from(UAC, &short.replace("Call-ID: call-1@192.0.2.10\r\n", ""));
    assert!(n.take().is_empty());
    let c = n.core.counters();
    assert_eq!((c.parse_errors, c.local_replies), (7, 4));
    assert_eq!(n.core.live_transactions(), 0, "answered without state");
}

#[test]
fn proxy_require_gets_420_with_unsupported() {
    let mut n = net(Mode::Stateful, None);
    n.from(
        UAC,
        &invite("z9hG4bKc9").replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nProxy-Require: foo, bar\r\n",
        ),
    );
    let out = n.take();
    assert!(out[0].1.starts_with("SIP/2.0 420 Bad Extension"));
    assert_eq!(header(&out[0].1, "Unsupported"), ["foo, bar"]);
    // A long list is echoed whole.
    let tags: Vec<String> = (0..100).map(|i| format!("ext{i}")).collect();
    let tags = tags.join(", ");
    n.from(
        UAC,
        &invite("z9hG4bKc10").replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\nProxy-Require: {tags}\r\n"),
        ),
    );
    let out = n.take();
    assert_eq!(header(&out[0].1, "Unsupported"), [tags.as_str()]);
}

#[test]
fn stateless_mode_forwards_without_state() {
    let mut n = net(Mode::Stateless, Some(UAS));
    n.from(UAC, &invite("z9hG4bKs1"));
    let out = n.take();
    assert_eq!(out.len(), 1, "no 100 Trying when stateless");
    let fwd = out[0].1.clone();
    let ok = respond(&fwd, 200, "OK", Some("b2"));
    n.from(UAS, &ok);
    n.from(UAS, &ok);
    let out = n.take();
    assert_eq!(out.len(), 2, "every response forwarded");
    assert!(
        out.iter()
            .all(|(d, m)| *d == addr(UAC) && header(m, "Via").len() == 1)
    );
    // A CANCEL gets the same branch as the INVITE it cancels.
    let cancel = invite("z9hG4bKs1")
        .replace("INVITE sip", "CANCEL sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    n.from(UAC, &cancel);
    let out = n.take();
    assert_eq!(header(&out[0].1, "Via")[0], header(&fwd, "Via")[0]);
    assert_eq!(n.core.live_transactions(), 0);
}

#[test]
fn a_response_with_a_forged_branch_is_not_relayed() {
    // An attacker sends a "response" with our address as top Via and a
    // victim as the second: without the branch we would have made for
    // that Via, it is dropped, not reflected.
    let mut n = net(Mode::Stateless, Some(UAS));
    n.from(UAC, &invite("z9hG4bKf1"));
    let fwd = n.take().remove(0).1;
    let ok = respond(&fwd, 200, "OK", Some("b2"));
    let our_branch = header(&fwd, "Via")[0].rsplit("branch=").next().unwrap();
    for forged in [
        ok.replace(our_branch, "z9hG4bK0123456789abcdef"),
        ok.replace(our_branch, "z9hG4bKtl0123456789abcdef"),
        ok.replace("branch=z9hG4bKf1", "branch=z9hG4bKf2"),
    ] {
        n.from(UAS, &forged);
        assert!(n.take().is_empty(), "{forged}");
    }
    assert_eq!(n.core.counters().forged_responses, 3);
    n.from(UAS, &ok);
    assert_eq!(n.take().len(), 1);
}

#[test]
fn in_dialog_bye_routes_after_a_restart() {
    // A fresh core (as after a restart) routes a BYE by its Route set.
    let mut n = net(Mode::Stateful, None);
    let bye = format!(
        "BYE sip:bob@{UAS} SIP/2.0\r\nVia: SIP/2.0/UDP {UAC};branch=z9hG4bKb9\r\n\
Route: <sip:192.0.2.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:alice@x>;tag=a1\r\n\
To: <sip:bob@x>;tag=b2\r\nCall-ID: old-call\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAC, &bye);
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr(UAS));
    // And a 200 for a transaction it never saw is relayed statelessly.
    let stray = respond(&out[0].1, 200, "OK", None);
    let mut fresh = net(Mode::Stateful, None);
    fresh.from(UAS, &stray);
    let out = fresh.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr(UAC));
}

#[test]
fn default_route_takes_requests_without_route() {
    let mut n = net(Mode::Stateful, Some("192.0.2.99:5080"));
    // SIPp's uac sends the INVITE to the proxy's own address...
    n.from(
        UAC,
        &invite("z9hG4bKd1").replace(&format!("sip:bob@{UAS}"), &format!("sip:service@{PROXY}")),
    );
    let out = n.take();
    assert_eq!(out[1].0, addr("192.0.2.99:5080"));
    // ... and its ACK and BYE without a Route.
    let bye = format!(
        "BYE sip:service@{UAS} SIP/2.0\r\nVia: SIP/2.0/UDP {UAC};branch=z9hG4bKd2\r\nMax-Forwards: 70\r\n\
From: <sip:alice@x>;tag=a1\r\nTo: <sip:bob@x>;tag=b2\r\nCall-ID: c9\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAC, &bye);
    assert_eq!(n.take()[0].0, addr("192.0.2.99:5080"));
}

#[test]
fn keepalive_options_to_us_is_answered() {
    let mut n = net(Mode::Stateful, Some(UAS));
    let opt = format!(
        "OPTIONS sip:{PROXY} SIP/2.0\r\nVia: SIP/2.0/UDP {UAC};branch=z9hG4bKo1\r\nMax-Forwards: 70\r\n\
From: <sip:mon@x>;tag=m1\r\nTo: <sip:{PROXY}>\r\nCall-ID: ping1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAC, &opt);
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 200 OK"));
}

#[test]
fn unroutable_requests_get_their_status() {
    let mut n = net(Mode::Stateful, None);
    n.from(
        UAC,
        &invite("z9hG4bKe1").replace(
            &format!("INVITE sip:bob@{UAS}"),
            "INVITE sip:bob@example.com",
        ),
    );
    let out = n.take();
    assert!(
        out.iter().all(|(_, m)| m.starts_with("SIP/2.0 100")),
        "parked while example.com is looked up: {out:#?}"
    );
    let q = n.core.poll_name_query().expect("a lookup");
    n.core
        .handle_name_answer(n.now, &q, Err("NXDOMAIN".to_string()));
    n.drain();
    let out = n.take();
    assert!(
        out.iter()
            .any(|(_, m)| m.starts_with("SIP/2.0 503 Next Hop Not Resolved")),
        "{out:#?}"
    );
    n.from(
        UAC,
        &invite("z9hG4bKe2").replace(&format!("INVITE sip:bob@{UAS}"), "INVITE tel:+15551234"),
    );
    assert!(n.take().iter().any(|(_, m)| m.starts_with("SIP/2.0 416")));
    n.from(
        UAC,
        &invite("z9hG4bKe3").replace(
            &format!("INVITE sip:bob@{UAS}"),
            &format!("INVITE sip:bob@{PROXY}"),
        ),
    );
    assert!(n.take().iter().any(|(_, m)| m.starts_with("SIP/2.0 404")));
}

#[test]
fn busy_here_is_relayed_and_acked() {
    let mut n = net(Mode::Stateful, None);
    n.from(UAC, &invite("z9hG4bKf1"));
    let fwd = n.take().pop().unwrap().1;
    n.from(UAS, &respond(&fwd, 486, "Busy Here", Some("b2")));
    let out = n.take();
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(UAC) && m.starts_with("SIP/2.0 486 Busy Here"))
    );
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(UAS) && m.starts_with("ACK "))
    );
    // A 503 downstream becomes a 500 upstream (§16.7 step 6).
    n.from(UAC, &invite("z9hG4bKf2").replace("call-1@", "call-2@"));
    let fwd = n.take().pop().unwrap().1;
    n.from(UAS, &respond(&fwd, 503, "Service Unavailable", Some("b3")));
    let out = n.take();
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(UAC) && m.starts_with("SIP/2.0 500 ")),
        "{out:#?}"
    );
}

#[test]
fn preloaded_route_to_us_still_record_routes() {
    let mut n = net(Mode::Stateful, None);
    let inv = invite("z9hG4bKp1").replace(
        "Max-Forwards: 70\r\n",
        "Route: <sip:192.0.2.1:5060;lr>\r\nMax-Forwards: 70\r\n",
    );
    n.from(UAC, &inv);
    let fwd = n.take().pop().unwrap().1;
    assert!(header(&fwd, "Route").is_empty());
    assert_eq!(header(&fwd, "Record-Route"), ["<sip:192.0.2.1:5060;lr>"]);
}

#[test]
fn the_transaction_cap_answers_503_without_state() {
    let mut cfg = ProxyConfig::new(addr(PROXY), None);
    cfg.max_transactions = 1;
    let mut n = Net::new(cfg);
    n.from(UAC, &invite("z9hG4bKo1"));
    assert_eq!(n.take().len(), 2); // 100 + INVITE
    n.from(UAC, &invite("z9hG4bKo2").replace("call-1@", "call-2@"));
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 503 Overloaded"));
    assert_eq!(n.core.counters().overloaded, 1);
}

mod calls;
mod dispatch;
mod dns;
mod edge;
mod edits;
mod lcr;
mod registrar;
mod topology;
