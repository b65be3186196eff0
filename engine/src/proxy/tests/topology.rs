//! Topology hiding through the proxy core, on the virtual network and
//! clock (see `proxy::topology`). The call: a UAC behind an upstream proxy
//! P1 (two Vias and P1's Record-Route reach us), a UAS behind a downstream
//! proxy P2 that record-routes too. Each side must see only us, and every
//! request of the dialog, in both directions, must reach the other side
//! with its Request-URI and Route set, across a restart too: the plan is
//! the incumbents' bug list (OpenSIPS #2333 re-INVITE losing the route,
//! #2444 / Kamailio #3118 in-dialog requests after a fork or CANCEL,
//! #2108 Contact parameters, Kamailio #1571 NOTIFY/REFER in a dialog).

use std::path::Path;

use super::*;
use crate::config::Config;
use crate::testkit::sip::first_line;

const UAC_A: &str = "192.0.2.10:5060";
const P1: &str = "192.0.2.30:5060";
const P2: &str = "192.0.2.40:5080";
const UAS_B: &str = "192.0.2.20:5070";
const UAS_B2: &str = "192.0.2.21:5070";

/// What must never reach the callee side: the caller side's addresses
/// and branches.
const CALLER_SIDE: [&str; 6] = [
    "192.0.2.10",
    "192.0.2.30",
    "z9hG4bKp1",
    "z9hG4bKua",
    ":5060;ob",
    "alice@",
];
/// What must never reach the caller side.
const CALLEE_SIDE: [&str; 5] = ["192.0.2.20", "192.0.2.21", "192.0.2.40", "z9hG4bKp2", "uas"];

fn th_config(mode: Mode) -> ProxyConfig {
    let mut cfg = ProxyConfig::new(addr(PROXY), None);
    cfg.mode = mode;
    cfg.topology_hiding = true;
    cfg
}

fn th_net() -> Net {
    Net::new(th_config(Mode::Stateful))
}

fn assert_hides(msg: &str, side: &[&str]) {
    for s in side {
        assert!(!msg.contains(s), "`{s}` leaks in:\n{msg}");
    }
}

/// Every value of header `name`, across its lines.
fn values(msg: &str, name: &str) -> Vec<String> {
    header(msg, name)
        .into_iter()
        .flat_map(|v| {
            trunkline_parser::values::CommaValues::new(v.as_bytes())
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The URI of a name-addr value.
fn uri_of(v: &str) -> String {
    let v = &v[v.find('<').expect("bracketed") + 1..];
    v[..v.find('>').expect("closed")].to_string()
}

/// The INVITE as P1 sends it on the UAC's behalf: P1's Via over the
/// UAC's, P1's Record-Route, the UAC's Contact with header parameters.
fn invite(call_id: &str) -> String {
    format!(
        "INVITE sip:bob@{UAS_B} SIP/2.0\r\n\
Via: SIP/2.0/UDP {P1};branch=z9hG4bKp1inv\r\n\
Via: SIP/2.0/UDP {UAC_A};received=192.0.2.10;branch=z9hG4bKuainv;rport=5060\r\n\
Record-Route: <sip:192.0.2.30;lr;ftag=a1>\r\n\
Max-Forwards: 69\r\n\
From: Alice <sip:a@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.net>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@{UAC_A};ob>;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\";expires=3600\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n"
    )
}

/// The UAS's response to the INVITE it got through P2 (P2's
/// Record-Route above ours), from `contact`; what reaches us from P2.
fn callee_response(fwd: &str, code: u16, reason: &str, tag: &str, contact: &str) -> String {
    let via_p2 = fwd.replacen(
        "Record-Route:",
        &format!("Record-Route: <sip:{P2};lr>\r\nRecord-Route:"),
        1,
    );
    crate::testkit::sip::respond(&via_p2, code, reason, Some(tag), Some(addr(contact)))
}

/// What each side of a dialog sends its requests to: the caller's remote
/// target and route set (as the caller got them in the 2xx), and the
/// callee's (as it got them in the INVITE).
#[derive(Clone, Debug)]
struct Dialog {
    call_id: String,
    callee_tag: String,
    /// The Request-URI of the caller's requests (our Contact URI).
    caller_target: String,
    /// Our Record-Route URI as the caller recorded it (after P1's, it is
    /// what reaches us as the top Route).
    caller_route: String,
    callee_target: String,
    callee_route: String,
}

impl Dialog {
    /// A request from the caller as P1 forwards it: P1's Via over the
    /// UAC's, our Route value, the UAC's Contact on target refreshes.
    fn caller_sends(&self, method: &str, cseq: u32, branch: &str) -> String {
        let contact = match method {
            "INVITE" | "UPDATE" | "SUBSCRIBE" | "NOTIFY" | "REFER" => {
                format!("Contact: <sip:alice@{UAC_A};ob>\r\n")
            }
            _ => String::new(),
        };
        format!(
            "{method} {target} SIP/2.0\r\n\
Via: SIP/2.0/UDP {P1};branch=z9hG4bKp1{branch}\r\n\
Via: SIP/2.0/UDP {UAC_A};branch=z9hG4bKua{branch};rport\r\n\
Route: <{route}>\r\n\
Max-Forwards: 69\r\n\
From: Alice <sip:a@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.net>;tag={tag}\r\n\
Call-ID: {cid}\r\n\
CSeq: {cseq} {method}\r\n\
{contact}{event}Content-Length: 0\r\n\r\n",
            target = self.caller_target,
            route = self.caller_route,
            tag = self.callee_tag,
            cid = self.call_id,
            event = event_of(method),
        )
    }

    /// A request from the callee as P2 forwards it.
    fn callee_sends(&self, method: &str, cseq: u32, branch: &str, contact: &str) -> String {
        let contact = match method {
            "INVITE" | "UPDATE" | "SUBSCRIBE" | "NOTIFY" | "REFER" => {
                format!("Contact: <sip:uas@{contact}>;expires=600\r\n")
            }
            _ => String::new(),
        };
        format!(
            "{method} {target} SIP/2.0\r\n\
Via: SIP/2.0/UDP {P2};branch=z9hG4bKp2{branch}\r\n\
Via: SIP/2.0/UDP {UAS_B};branch=z9hG4bKub{branch}\r\n\
Route: <{route}>\r\n\
Max-Forwards: 69\r\n\
From: Bob <sip:bob@example.net>;tag={tag}\r\n\
To: Alice <sip:a@example.com>;tag=a1\r\n\
Call-ID: {cid}\r\n\
CSeq: {cseq} {method}\r\n\
{contact}{event}Content-Length: 0\r\n\r\n",
            target = self.callee_target,
            route = self.callee_route,
            tag = self.callee_tag,
            cid = self.call_id,
            event = event_of(method),
        )
    }
}

fn event_of(method: &str) -> &'static str {
    match method {
        "NOTIFY" => "Event: refer\r\nSubscription-State: active;expires=60\r\n",
        "REFER" => "Refer-To: <sip:carol@example.org>\r\n",
        _ => "",
    }
}

/// Sends `msg` from `src` and returns the one datagram that leaves for
/// `dest` (anything else sent must be a 100 Trying).
fn one_to(n: &mut Net, src: &str, msg: &str, dest: &str) -> String {
    n.from(src, msg);
    let out = n.take();
    let mut to_dest = out.iter().filter(|(d, _)| *d == addr(dest));
    let m = to_dest
        .next()
        .unwrap_or_else(|| panic!("nothing to {dest}: {out:#?}"))
        .1
        .clone();
    assert!(to_dest.next().is_none(), "{out:#?}");
    assert!(
        out.iter()
            .all(|(d, m)| *d == addr(dest) || m.starts_with("SIP/2.0 100 ")),
        "{out:#?}"
    );
    m
}

/// The INVITE through to its 200 and ACK: the dialog, and what the UAS
/// got.
fn established(n: &mut Net, call_id: &str) -> (Dialog, String) {
    let fwd = one_to(n, P1, &invite(call_id), UAS_B);
    let ok = callee_response(&fwd, 200, "OK", "b1", UAS_B);
    let up = one_to(n, P2, &ok, P1);
    let d = Dialog {
        call_id: call_id.into(),
        callee_tag: "b1".into(),
        caller_target: uri_of(&values(&up, "Contact")[0]),
        caller_route: uri_of(&values(&up, "Record-Route")[0]),
        callee_target: uri_of(&values(&fwd, "Contact")[0]),
        callee_route: uri_of(&values(&fwd, "Record-Route")[0]),
    };
    let ack = one_to(n, P1, &d.caller_sends("ACK", 1, "ack1"), P2);
    assert_eq!(first_line(&ack), format!("ACK sip:uas@{UAS_B} SIP/2.0"));
    (d, fwd)
}

/// The INVITE the callee gets, the 180 and 200 the caller gets: one Via,
/// one Record-Route and a Contact of ours downstream; upstream the Vias
/// put back in order, the Record-Route P1's after ours, our Contact, and
/// nothing of the other side anywhere.
#[test]
fn each_side_sees_only_us() {
    let mut n = th_net();
    n.from(P1, &invite("th-1"));
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].0, addr(P1), "100 Trying to P1 (no rport)");
    assert_eq!(
        header(&out[0].1, "Via").len(),
        2,
        "our own 100 has the Vias"
    );
    let (dest, fwd) = &out[1];
    assert_eq!(*dest, addr(UAS_B));
    assert!(fwd.starts_with(&format!("INVITE sip:bob@{UAS_B} SIP/2.0\r\n")));
    let vias = values(fwd, "Via");
    assert_eq!(vias.len(), 1, "{fwd}");
    assert!(
        vias[0].starts_with("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK")
            && vias[0].contains(";tlh="),
        "{fwd}"
    );
    let rr = values(fwd, "Record-Route");
    assert_eq!(rr.len(), 1, "{fwd}");
    assert!(rr[0].starts_with("<sip:192.0.2.1:5060;lr;tlr="), "{fwd}");
    // Contact: ours, the header parameters as they were (OpenSIPS #2108).
    let contact = &values(fwd, "Contact")[0];
    assert!(contact.starts_with("<sip:"), "{contact}");
    assert!(
        contact.ends_with(
            "@192.0.2.1:5060;tlc>;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\";expires=3600"
        ),
        "{contact}"
    );
    assert_hides(fwd, &CALLER_SIDE);
    assert!(header(fwd, "Route").is_empty());
    assert_eq!(header(fwd, "Max-Forwards"), ["68"]);
    assert!(fwd.ends_with("\r\n\r\nv=0\n"), "body untouched");

    // 180 and 200 through P2, which record-routed above us.
    for (code, reason) in [(180, "Ringing"), (200, "OK")] {
        let rsp = callee_response(fwd, code, reason, "b1", UAS_B);
        assert_eq!(values(&rsp, "Record-Route").len(), 2);
        let up = one_to(&mut n, P2, &rsp, P1);
        assert!(
            up.starts_with(&format!("SIP/2.0 {code} {reason}\r\n")),
            "{up}"
        );
        assert_eq!(
            values(&up, "Via"),
            [
                format!("SIP/2.0/UDP {P1};branch=z9hG4bKp1inv"),
                format!("SIP/2.0/UDP {UAC_A};received=192.0.2.10;branch=z9hG4bKuainv;rport=5060"),
            ],
            "the Vias back, in order"
        );
        let rr = values(&up, "Record-Route");
        assert_eq!(rr.len(), 2, "{up}");
        assert!(rr[0].starts_with("<sip:192.0.2.1:5060;lr;tlr="), "{up}");
        assert_ne!(
            rr[0],
            values(fwd, "Record-Route")[0],
            "the caller's token is not the callee's"
        );
        assert_eq!(rr[1], "<sip:192.0.2.30;lr;ftag=a1>", "P1's, as it was");
        let contact = &values(&up, "Contact")[0];
        assert!(
            contact.starts_with("<sip:") && contact.ends_with("@192.0.2.1:5060;tlc>"),
            "{contact}"
        );
        assert_hides(&up, &CALLEE_SIDE);
    }
    assert_eq!(n.core.counters().th_bad_tokens, 0);
}

/// Every in-dialog request, from either side, reaches the other side with
/// its Request-URI (the remote target) and Route set (the proxies on that
/// side), and its response comes back with the sender's Vias; target
/// refreshes from either side (OpenSIPS #2333) keep working, NOTIFY and
/// REFER too (Kamailio #1571).
#[test]
fn in_dialog_requests_both_ways() {
    let mut n = th_net();
    let (mut d, _) = established(&mut n, "th-2");
    let mut cseq_a = 1;
    let mut cseq_b = 0;
    let caller_contact = format!("sip:alice@{UAC_A};ob");
    let mut callee_contact = format!("sip:uas@{UAS_B}");
    for (i, (method, from_caller)) in [
        ("INVITE", true),
        ("UPDATE", true),
        ("INFO", true),
        ("REFER", true),
        ("NOTIFY", false),
        ("INFO", false),
        ("UPDATE", false),
        ("INVITE", false),
        ("INFO", true),
        ("REFER", false),
        ("NOTIFY", true),
    ]
    .into_iter()
    .enumerate()
    {
        let branch = format!("x{i}");
        if from_caller {
            cseq_a += 1;
            let req = d.caller_sends(method, cseq_a, &branch);
            let fwd = one_to(&mut n, P1, &req, P2);
            assert_eq!(
                first_line(&fwd),
                format!("{method} {callee_contact} SIP/2.0"),
                "{fwd}"
            );
            assert_eq!(values(&fwd, "Route"), [format!("<sip:{P2};lr>")], "{fwd}");
            assert_eq!(values(&fwd, "Via").len(), 1, "{fwd}");
            assert!(header(&fwd, "Record-Route").is_empty(), "{fwd}");
            assert_hides(&fwd, &CALLER_SIDE);
            // The callee's answer (a 200 to a target refresh with its
            // Contact) goes back with the caller side's Vias.
            let contact = (method == "INVITE").then(|| addr(UAS_B));
            let ok = crate::testkit::sip::respond(&fwd, 200, "OK", None, contact);
            let up = one_to(&mut n, P2, &ok, P1);
            assert_eq!(values(&up, "Via").len(), 2, "{up}");
            assert!(values(&up, "Via")[1].contains("z9hG4bKua"), "{up}");
            assert_hides(&up, &CALLEE_SIDE);
            if method == "INVITE" {
                let c = uri_of(&values(&up, "Contact")[0]);
                assert!(c.ends_with("@192.0.2.1:5060;tlc"), "{up}");
                let ack = d.caller_sends("ACK", cseq_a, &format!("a{i}"));
                let fwd_ack = one_to(&mut n, P1, &ack, P2);
                assert!(fwd_ack.starts_with("ACK sip:uas@"), "{fwd_ack}");
            }
        } else {
            cseq_b += 1;
            // The callee moves (a new Contact) on its re-INVITE.
            let contact = if method == "INVITE" { UAS_B2 } else { UAS_B };
            let req = d.callee_sends(method, cseq_b, &branch, contact);
            let fwd = one_to(&mut n, P2, &req, P1);
            assert_eq!(
                first_line(&fwd),
                format!("{method} {caller_contact} SIP/2.0"),
                "{fwd}"
            );
            assert_eq!(
                values(&fwd, "Route"),
                ["<sip:192.0.2.30;lr;ftag=a1>"],
                "{fwd}"
            );
            assert_eq!(values(&fwd, "Via").len(), 1, "{fwd}");
            assert_hides(&fwd, &CALLEE_SIDE);
            if let Some(c) = values(&fwd, "Contact").first() {
                assert!(c.ends_with("@192.0.2.1:5060;tlc>;expires=600"), "{c}");
                if method == "INVITE" {
                    // The caller's new remote target (§12.2.1.2).
                    d.caller_target = uri_of(c);
                    callee_contact = format!("sip:uas@{UAS_B2}");
                }
            }
            let ok = crate::testkit::sip::respond(&fwd, 200, "OK", None, None);
            let up = one_to(&mut n, P1, &ok, P2);
            assert_eq!(
                values(&up, "Via"),
                [
                    format!("SIP/2.0/UDP {P2};branch=z9hG4bKp2{branch}"),
                    format!("SIP/2.0/UDP {UAS_B};branch=z9hG4bKub{branch}"),
                ]
            );
            assert_hides(&up, &CALLER_SIDE);
            if method == "INVITE" {
                let ack = d.callee_sends("ACK", cseq_b, &format!("a{i}"), contact);
                let fwd_ack = one_to(&mut n, P2, &ack, P1);
                assert!(fwd_ack.starts_with(&format!("ACK {caller_contact} ")));
            }
        }
    }
    // After the callee's re-INVITE the caller's requests reach its new
    // Contact, through P2 still; then the BYEs.
    cseq_a += 1;
    let bye = one_to(&mut n, P1, &d.caller_sends("BYE", cseq_a, "bye-a"), P2);
    assert_eq!(first_line(&bye), format!("BYE sip:uas@{UAS_B2} SIP/2.0"));
    let bye = one_to(
        &mut n,
        P2,
        &d.callee_sends("BYE", cseq_b + 1, "bye-b", UAS_B2),
        P1,
    );
    assert_eq!(first_line(&bye), format!("BYE {caller_contact} SIP/2.0"));
    assert_eq!(n.core.counters().th_bad_tokens, 0);
}

/// A forked INVITE (OpenSIPS #2444, Kamailio #3118): two early dialogs
/// with their own To tag and Contact, then the second fork answers; each
/// early dialog's requests reach its own fork, and the confirmed dialog's
/// ACK and BYE the one that answered.
#[test]
fn forked_early_dialogs() {
    let mut n = th_net();
    let fwd = one_to(&mut n, P1, &invite("th-fork"), UAS_B);
    let r1 = one_to(
        &mut n,
        P2,
        &callee_response(&fwd, 183, "Session Progress", "f1", UAS_B),
        P1,
    );
    let r2 = one_to(
        &mut n,
        P2,
        &callee_response(&fwd, 183, "Session Progress", "f2", UAS_B2),
        P1,
    );
    for r in [&r1, &r2] {
        assert_hides(r, &CALLEE_SIDE);
        assert_eq!(values(r, "Via").len(), 2);
    }
    let t1 = uri_of(&values(&r1, "Contact")[0]);
    let t2 = uri_of(&values(&r2, "Contact")[0]);
    assert_ne!(t1, t2, "each fork its own target");
    let dialog = |tag: &str, target: &str, rsp: &str| Dialog {
        call_id: "th-fork".into(),
        callee_tag: tag.into(),
        caller_target: target.into(),
        caller_route: uri_of(&values(rsp, "Record-Route")[0]),
        callee_target: uri_of(&values(&fwd, "Contact")[0]),
        callee_route: uri_of(&values(&fwd, "Record-Route")[0]),
    };
    let (d1, d2) = (dialog("f1", &t1, &r1), dialog("f2", &t2, &r2));
    // An UPDATE in each early dialog (RFC 3311) reaches its fork.
    let u1 = one_to(&mut n, P1, &d1.caller_sends("UPDATE", 2, "u1"), P2);
    assert!(u1.starts_with(&format!("UPDATE sip:uas@{UAS_B} ")), "{u1}");
    let u2 = one_to(&mut n, P1, &d2.caller_sends("UPDATE", 3, "u2"), P2);
    assert!(u2.starts_with(&format!("UPDATE sip:uas@{UAS_B2} ")), "{u2}");
    // The second fork answers; P2 cancels the first (not our business).
    let ok = one_to(
        &mut n,
        P2,
        &callee_response(&fwd, 200, "OK", "f2", UAS_B2),
        P1,
    );
    let d = dialog("f2", &uri_of(&values(&ok, "Contact")[0]), &ok);
    assert_eq!(d.caller_target, t2, "same Contact, same token");
    let ack = one_to(&mut n, P1, &d.caller_sends("ACK", 1, "ack"), P2);
    assert!(ack.starts_with(&format!("ACK sip:uas@{UAS_B2} ")), "{ack}");
    let bye = one_to(&mut n, P1, &d.caller_sends("BYE", 4, "bye"), P2);
    assert!(bye.starts_with(&format!("BYE sip:uas@{UAS_B2} ")), "{bye}");
    // The answering fork's BYE reaches the caller.
    let bye = one_to(&mut n, P2, &d.callee_sends("BYE", 1, "bye2", UAS_B2), P1);
    assert!(
        bye.starts_with(&format!("BYE sip:alice@{UAC_A};ob ")),
        "{bye}"
    );
}

/// CANCEL before the answer: the CANCEL we send downstream is built from
/// our INVITE copy (its one Via, token included), the 487 goes upstream
/// with the Vias back, and we ACK it hop by hop; the caller's ACK for the
/// 487 stops here.
#[test]
fn cancel_before_answer() {
    let mut n = th_net();
    let fwd = one_to(&mut n, P1, &invite("th-cancel"), UAS_B);
    one_to(
        &mut n,
        P2,
        &callee_response(&fwd, 180, "Ringing", "b1", UAS_B),
        P1,
    );
    let cancel = invite("th-cancel")
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    n.from(P1, &cancel);
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    let ok = &out.iter().find(|(d, _)| *d == addr(P1)).unwrap().1;
    assert!(ok.starts_with("SIP/2.0 200 OK") && ok.contains("CSeq: 1 CANCEL"));
    let down = &out.iter().find(|(d, _)| *d == addr(UAS_B)).unwrap().1;
    assert!(down.starts_with(&format!("CANCEL sip:bob@{UAS_B} SIP/2.0")));
    assert_eq!(values(down, "Via"), values(&fwd, "Via"), "our INVITE's Via");
    assert_hides(down, &CALLER_SIDE);
    n.from(
        P2,
        &crate::testkit::sip::respond(down, 200, "OK", Some("b1"), None),
    );
    assert!(n.take().is_empty());
    n.from(
        P2,
        &callee_response(&fwd, 487, "Request Terminated", "b1", UAS_B),
    );
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    let ack = &out.iter().find(|(d, _)| *d == addr(UAS_B)).unwrap().1;
    assert!(ack.starts_with("ACK sip:bob@") && ack.contains("CSeq: 1 ACK"));
    assert_eq!(values(ack, "Via"), values(&fwd, "Via"));
    assert_hides(ack, &CALLER_SIDE);
    let up = &out.iter().find(|(d, _)| *d == addr(P1)).unwrap().1;
    assert!(up.starts_with("SIP/2.0 487 Request Terminated"));
    assert_eq!(values(up, "Via").len(), 2);
    assert_hides(up, &CALLEE_SIDE);
    let caller_ack = invite("th-cancel")
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace(
            "To: Bob <sip:bob@example.net>",
            "To: Bob <sip:bob@example.net>;tag=b1",
        );
    n.from(P1, &caller_ack);
    assert!(n.take().is_empty(), "absorbed");
    n.advance(Duration::from_secs(60));
    assert_eq!(n.core.live_transactions(), 0);
    assert_eq!(n.core.live_contexts(), 0);
}

/// Nothing is stored: a new core with the same key (a restart with
/// `secret_file`) routes in-dialog requests built from the tokens the
/// first one issued, both ways, and relays the response to a request the
/// first one forwarded (without a transaction, from our Via's token).
#[test]
fn a_restart_loses_nothing() {
    let mut n = th_net();
    let (d, _) = established(&mut n, "th-restart");
    let bye = d.caller_sends("BYE", 2, "bye");
    let old = one_to(&mut n, P1, &bye, P2);
    drop(n);
    let mut fresh = th_net();
    let new = one_to(&mut fresh, P1, &bye, P2);
    assert_eq!(new, old, "the same copy");
    let mut fresh = th_net();
    let ok = crate::testkit::sip::respond(&old, 200, "OK", None, None);
    let up = one_to(&mut fresh, P2, &ok, P1);
    assert_eq!(
        values(&up, "Via"),
        [
            format!("SIP/2.0/UDP {P1};branch=z9hG4bKp1bye"),
            format!("SIP/2.0/UDP {UAC_A};branch=z9hG4bKuabye;rport"),
        ]
    );
    let mut fresh = th_net();
    let back = one_to(
        &mut fresh,
        P2,
        &d.callee_sends("BYE", 1, "bye-b", UAS_B),
        P1,
    );
    assert!(back.starts_with(&format!("BYE sip:alice@{UAC_A};ob ")));
    // Another key (no secret_file): the tokens are refused.
    let mut cfg = th_config(Mode::Stateful);
    cfg.branch_key[0] ^= 1;
    let mut other = Net::new(cfg);
    other.from(P1, &bye);
    let out = other.take();
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 403 "), "{out:#?}");
    assert_eq!(other.core.counters().th_bad_tokens, 1);
}

/// A forged or altered token is never trusted: the request gets 403 (an
/// ACK is dropped), a response is dropped; each is counted.
#[test]
fn forged_tokens_are_refused_and_counted() {
    let mut n = th_net();
    let (d, fwd) = established(&mut n, "th-forged");
    let flip = |s: &str, at: usize| {
        let mut b = s.as_bytes().to_vec();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    // The Contact token (the Request-URI's user part).
    let mut bad = d.clone();
    bad.caller_target = flip(&d.caller_target, 10);
    n.from(P1, &bad.caller_sends("BYE", 2, "f1"));
    let out = n.take();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].0, addr(P1));
    assert!(out[0].1.starts_with("SIP/2.0 403 Forbidden"), "{out:#?}");
    // The route set's token, in our Route value.
    let mut bad = d.clone();
    bad.caller_route = flip(&d.caller_route, d.caller_route.len() - 3);
    n.from(P1, &bad.caller_sends("BYE", 3, "f2"));
    assert!(n.take()[0].1.starts_with("SIP/2.0 403 "));
    // An ACK with one: dropped.
    let mut bad = d.clone();
    bad.caller_target = flip(&d.caller_target, 12);
    n.from(P1, &bad.caller_sends("ACK", 1, "f3"));
    assert!(n.take().is_empty());
    // A response whose Via token was altered downstream.
    let via = values(&fwd, "Via")[0].clone();
    let altered =
        callee_response(&fwd, 200, "OK", "b1", UAS_B).replace(&via, &flip(&via, via.len() - 2));
    n.from(P2, &altered);
    assert!(n.take().is_empty());
    assert_eq!(n.core.counters().th_bad_tokens, 4);
    // The genuine ones still work.
    one_to(&mut n, P1, &d.caller_sends("BYE", 4, "ok"), P2);
}

/// More than a token holds is refused (403) and counted, before any
/// state is made for it.
#[test]
fn too_much_to_hide_is_refused() {
    let mut n = th_net();
    let vias: String = (0..9)
        .map(|i| format!("Via: SIP/2.0/UDP 198.51.100.{i}:5060;branch=z9hG4bKdeep{i}\r\n"))
        .collect();
    let deep = invite("th-deep").replacen("Via: ", &format!("{vias}Via: "), 1);
    n.from(P1, &deep);
    let out = n.take();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].1.starts_with("SIP/2.0 403 Forbidden"));
    assert_eq!(n.core.counters().th_refused, 1);
    assert_eq!(n.core.live_transactions(), 0);
    // Eight hops in all are fine.
    let vias: String = (0..6)
        .map(|i| format!("Via: SIP/2.0/UDP 198.51.100.{i}:5060;branch=z9hG4bKdeep{i}\r\n"))
        .collect();
    let deep = invite("th-deep2").replacen("Via: ", &format!("{vias}Via: "), 1);
    let fwd = one_to(&mut n, P1, &deep, UAS_B);
    assert_eq!(values(&fwd, "Via").len(), 1);
    n.from(
        UAS_B,
        &crate::testkit::sip::respond(&fwd, 486, "Busy Here", Some("b1"), None),
    );
    let out = n.take();
    let up = &out.iter().find(|(d, _)| *d == addr(P1)).expect("relayed").1;
    assert_eq!(values(up, "Via").len(), 8);
}

/// Stateless mode hides the same way: the response's next hop (and the
/// branch check, §16.11) comes from our Via's token.
#[test]
fn stateless_mode_hides_too() {
    let mut n = Net::new(th_config(Mode::Stateless));
    let fwd = one_to(&mut n, P1, &invite("th-sl"), UAS_B);
    assert_eq!(values(&fwd, "Via").len(), 1);
    assert_hides(&fwd, &CALLER_SIDE);
    let ok = callee_response(&fwd, 200, "OK", "b1", UAS_B);
    let up = one_to(&mut n, P2, &ok, P1);
    assert_eq!(values(&up, "Via").len(), 2);
    assert_hides(&up, &CALLEE_SIDE);
    // A genuine token under another branch: the token is bound to its
    // branch, so this is a bad token, dropped (before the branch check).
    let branch = fwd.split("branch=").nth(1).unwrap()[..23].to_string();
    n.from(P2, &ok.replace(&branch, "z9hG4bK0123456789abcdef"));
    assert!(n.take().is_empty());
    assert_eq!(n.core.counters().th_bad_tokens, 1);
    // The CANCEL gets the INVITE's branch and the same hidden Vias.
    let cancel = invite("th-sl")
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        .replace("Record-Route: <sip:192.0.2.30;lr;ftag=a1>\r\n", "")
        .replace(
            "Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
            "Content-Length: 0\r\n\r\n",
        );
    let down = one_to(&mut n, P1, &cancel, UAS_B);
    let (ours, theirs) = (&values(&down, "Via")[0], &values(&fwd, "Via")[0]);
    assert_eq!(
        ours.split(";tlh").next(),
        theirs.split(";tlh").next(),
        "same branch"
    );
    assert_hides(&down, &CALLER_SIDE);
}

/// Off (the default), nothing changes; the config section turns it on
/// and refuses it without record-routing.
#[test]
fn off_by_default_and_configured_by_section() {
    let mut n = Net::new(ProxyConfig::new(addr(PROXY), None));
    let fwd = one_to(&mut n, P1, &invite("th-off"), UAS_B);
    assert_eq!(values(&fwd, "Via").len(), 3);
    assert!(!fwd.contains("tlh") && !fwd.contains("tlr") && !fwd.contains("tlc"));
    let parse = |s: &str| Config::parse(s, Path::new("th.toml"));
    assert!(!parse("").unwrap().proxy.topology_hiding);
    assert!(
        parse("[topology_hiding]\nenabled = true\n")
            .unwrap()
            .proxy
            .topology_hiding
    );
    let e = parse("record_route = false\n[topology_hiding]\nenabled = true\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("topology_hiding.enabled"), "{e}");
    assert!(parse("[topology_hiding]\nenable = true\n").is_err());
}

/// REGISTER is left alone (a registrar must see the binding).
#[test]
fn register_is_not_hidden() {
    let mut n = th_net();
    let reg = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP {UAC_A};branch=z9hG4bKreg1;rport\r\n\
Route: <sip:{UAS_B};lr>\r\n\
Max-Forwards: 70\r\n\
From: <sip:a@example.com>;tag=r1\r\n\
To: <sip:a@example.com>\r\n\
Call-ID: reg-1\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:alice@{UAC_A}>;expires=600\r\n\
Content-Length: 0\r\n\r\n"
    );
    let fwd = one_to(&mut n, UAC_A, &reg, UAS_B);
    assert_eq!(values(&fwd, "Via").len(), 2);
    assert_eq!(
        values(&fwd, "Contact"),
        [format!("<sip:alice@{UAC_A}>;expires=600")]
    );
    let ok = crate::testkit::sip::respond(&fwd, 200, "OK", Some("x"), None).replace(
        "Content-Length: 0\r\n",
        &format!("Contact: <sip:alice@{UAC_A}>;expires=600\r\nContent-Length: 0\r\n"),
    );
    let up = one_to(&mut n, UAS_B, &ok, UAC_A);
    assert_eq!(
        values(&up, "Contact"),
        [format!("<sip:alice@{UAC_A}>;expires=600")]
    );
}

/// Several proxies on each side: each route set keeps its order (§12.1.1,
/// §12.1.2): the callee side's requests go through P1b then P1a, the
/// caller side's through P2a then P2b; each side records only its own
/// proxies and us.
#[test]
fn route_sets_keep_their_order() {
    let (p1a, p1b) = ("<sip:198.51.100.1;lr>", "<sip:198.51.100.2;lr>");
    let (p2a, p2b) = ("<sip:203.0.113.1:5062;lr>", "<sip:203.0.113.2:5064;lr>");
    let mut n = th_net();
    // P1b forwarded it to us: its value on top of P1a's.
    let inv = invite("th-order").replace(
        "Record-Route: <sip:192.0.2.30;lr;ftag=a1>\r\n",
        &format!("Record-Route: {p1b}\r\nRecord-Route: {p1a}\r\n"),
    );
    let fwd = one_to(&mut n, P1, &inv, UAS_B);
    assert_eq!(values(&fwd, "Record-Route").len(), 1);
    assert_hides(&fwd, &["198.51.100."]);
    // P2a, then P2b, record-route above us on the way down.
    let down = fwd.replacen(
        "Record-Route:",
        &format!("Record-Route: {p2b}, {p2a}\r\nRecord-Route:"),
        1,
    );
    let ok = crate::testkit::sip::respond(&down, 200, "OK", Some("b1"), Some(addr(UAS_B)));
    let up = one_to(&mut n, "203.0.113.1:5062", &ok, P1);
    let rr = values(&up, "Record-Route");
    assert_eq!(rr.len(), 3, "{up}");
    assert_eq!((rr[1].as_str(), rr[2].as_str()), (p1b, p1a));
    assert_hides(&up, &["203.0.113."]);
    let d = Dialog {
        call_id: "th-order".into(),
        callee_tag: "b1".into(),
        caller_target: uri_of(&values(&up, "Contact")[0]),
        caller_route: uri_of(&rr[0]),
        callee_target: uri_of(&values(&fwd, "Contact")[0]),
        callee_route: uri_of(&values(&fwd, "Record-Route")[0]),
    };
    let to_callee = one_to(
        &mut n,
        P1,
        &d.caller_sends("BYE", 2, "o1"),
        "203.0.113.1:5062",
    );
    assert_eq!(values(&to_callee, "Route"), [p2a, p2b]);
    assert_eq!(
        first_line(&to_callee),
        format!("BYE sip:uas@{UAS_B} SIP/2.0")
    );
    let to_caller = one_to(
        &mut n,
        P2,
        &d.callee_sends("BYE", 1, "o2", UAS_B),
        "198.51.100.2:5060",
    );
    assert_eq!(values(&to_caller, "Route"), [p1b, p1a]);
}

/// The previous hop's Via comes back stamped as it would have been left
/// in place (§18.2.1 `received`, RFC 3581 `rport`): what the UAC gets
/// matches what it gets without hiding, for an IPv4 and a NATed source.
#[test]
fn the_previous_hop_is_stamped_as_without_hiding() {
    for (src, rport) in [(UAC_A, true), ("198.51.100.7:40000", true), (UAC_A, false)] {
        let mut c =
            crate::testkit::sip::UacCall::new(addr(UAC_A), &format!("sip:bob@{UAS_B}"), "th-stamp");
        c.rport = rport;
        let mut got = Vec::new();
        for hide in [false, true] {
            let mut cfg = ProxyConfig::new(addr(PROXY), None);
            cfg.topology_hiding = hide;
            let mut n = Net::new(cfg);
            let fwd = one_to(&mut n, src, &c.invite("z9hG4bKst"), UAS_B);
            let rsp = crate::testkit::sip::respond(&fwd, 486, "Busy Here", Some("b1"), None);
            n.from(UAS_B, &rsp);
            let out = n.take();
            let up = &out
                .iter()
                .find(|(_, m)| m.starts_with("SIP/2.0 486"))
                .unwrap()
                .1;
            got.push(values(up, "Via"));
        }
        assert_eq!(got[0], got[1], "{src}");
        assert_eq!(got[1].len(), 1);
    }
}

/// Hiding per policy rule (`topology_hiding = true` in a `[[policy]]`
/// rule): the calls it matches are hidden, through their responses and
/// in-dialog requests; the others pass as without hiding.
#[test]
fn a_policy_rule_hides_the_calls_it_matches() {
    use crate::policy::{Policy, PolicyTable};
    let toml = "[[policy]]\nsource = [\"192.0.2.30/32\"]\ntopology_hiding = true\n";
    let cfg = Config::parse(toml, Path::new("th.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.proxy.topology_hiding_rules && !cfg.proxy.topology_hiding);
    let mut proxy = ProxyConfig::new(addr(PROXY), None);
    proxy.topology_hiding_rules = cfg.proxy.topology_hiding_rules;
    let services = Services {
        policy: Some(Arc::new(PolicyTable::new(
            Policy::compile(&cfg.policy).unwrap(),
        ))),
        ..Services::default()
    };
    let mut n = Net::with_services(proxy, services);
    // From P1 (the rule's source): hidden.
    n.from(P1, &invite("rule-1"));
    let out = n.take();
    let inv = &out
        .iter()
        .find(|(d, _)| *d == addr(UAS_B))
        .unwrap_or_else(|| panic!("{out:#?}"))
        .1;
    assert_hides(inv, &CALLER_SIDE);
    assert_eq!(header(inv, "Via").len(), 1, "ours only");
    let ok = crate::testkit::sip::respond(inv, 200, "OK", Some("b1"), Some(addr(UAS_B)));
    n.from(UAS_B, &ok);
    let out = n.take();
    let relayed = &out.iter().find(|(d, _)| *d == addr(P1)).unwrap().1;
    assert_hides(relayed, &CALLEE_SIDE);
    assert_eq!(
        header(relayed, "Via").len(),
        2,
        "the caller side's Vias back"
    );
    // The caller's BYE through our Contact token reaches the UAS, hidden.
    let contact = uri_of(&values(relayed, "Contact")[0]);
    // P1 sends it with the route set's rest: our Record-Route value.
    let route = values(relayed, "Record-Route")[0].clone();
    let bye = format!(
        "BYE {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {P1};branch=z9hG4bKp1bye\r\n\
Route: {route}\r\nMax-Forwards: 69\r\nFrom: Alice <sip:a@example.com>;tag=a1\r\n\
To: Bob <sip:bob@{UAS_B}>;tag=b1\r\nCall-ID: rule-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(P1, &bye);
    let out = n.take();
    let fwd = &out.iter().find(|(d, _)| *d == addr(UAS_B)).unwrap().1;
    assert!(
        first_line(fwd).starts_with(&format!("BYE sip:uas@{UAS_B}")),
        "{fwd}"
    );
    assert_hides(fwd, &CALLER_SIDE);
    // From another source: not hidden (its Vias and Record-Route pass).
    let other = invite("rule-2").replace(P1, "192.0.2.31:5060");
    n.from("192.0.2.31:5060", &other);
    let out = n.take();
    let inv = &out.iter().find(|(d, _)| *d == addr(UAS_B)).unwrap().1;
    assert_eq!(header(inv, "Via").len(), 3, "ours and the two below: {inv}");
    assert!(inv.contains("192.0.2.10"), "not hidden");
    let ok = crate::testkit::sip::respond(inv, 200, "OK", Some("b2"), Some(addr(UAS_B)));
    n.from(UAS_B, &ok);
    let out = n.take();
    let relayed = &out
        .iter()
        .find(|(d, _)| *d == addr("192.0.2.31:5060"))
        .unwrap()
        .1;
    assert!(
        relayed.contains(UAS_B),
        "the callee's Contact passes: {relayed}"
    );
}
