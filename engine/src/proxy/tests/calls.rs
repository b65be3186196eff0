//! Call control through the proxy core, on the virtual network and clock:
//! each call's dialog followed to its end and its CDR, the maximum
//! duration's BYE on both legs, 481 for a request naming no dialog, and
//! the customer limits' 503, each configured from TOML.

use std::path::Path;
use std::time::Instant;

use super::*;
use crate::cdr::Hangup;
use crate::config::Config;
use crate::security::call_limits::CallLimits;
use crate::testkit::sip::first_line;

/// A proxy on PROXY forwarding to the UAS, call control set up by `toml`.
fn calls(toml: &str) -> Net {
    let cfg = Config::parse(toml, Path::new("calls.toml")).unwrap_or_else(|e| panic!("{e}"));
    let mut proxy = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
    proxy.dialogs = cfg.proxy.dialogs;
    let limits = (!cfg.call_limits.is_empty())
        .then(|| Arc::new(CallLimits::new(&cfg.call_limits, Instant::now()).unwrap()));
    let policy = (!cfg.policy.is_empty()).then(|| {
        let compiled = crate::policy::Policy::compile(&cfg.policy).unwrap();
        Arc::new(crate::policy::PolicyTable::new(compiled))
    });
    let services = Services {
        call_limits: limits,
        policy,
        ..Services::default()
    };
    Net::with_services(proxy, services)
}

const CDRS: &str = "[cdr]\npath = \"/nonexistent-cdr-dir-for-tests\"\n";

/// A call through the proxy to its 200 and ACK: the INVITE the UAS got,
/// and its 200.
fn answered(n: &mut Net, c: &UacCall, branch: &str) -> (String, String) {
    n.from(UAC, &c.invite(branch));
    let out = n.take();
    let inv = out
        .iter()
        .find(|(d, _)| *d == addr(UAS))
        .unwrap_or_else(|| panic!("{out:#?}"))
        .1
        .clone();
    n.from(UAS, &respond(&inv, 180, "Ringing", Some("b1")));
    let ok = respond(&inv, 200, "OK", Some("b1"));
    n.from(UAS, &ok);
    let out = n.take();
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(UAC) && m.starts_with("SIP/2.0 200"))
    );
    let route = "<sip:192.0.2.1:5060;lr>";
    n.from(
        UAC,
        &c.request("ACK", 1, "z9hG4bKack", Some("b1"), Some(route)),
    );
    n.take();
    (inv, ok)
}

fn uac_call(id: &str) -> UacCall {
    UacCall {
        from_tag: format!("a-{}", id.split('@').next().unwrap_or(id)),
        ..UacCall::new(addr(UAC), &format!("sip:bob@{UAS}"), id)
    }
}

#[test]
fn a_call_ends_with_the_callees_bye_and_its_cdr() {
    let mut n = calls(&format!("[dialogs]\n{CDRS}"));
    let c = uac_call("cdr-1@192.0.2.10");
    answered(&mut n, &c, "z9hG4bKc1");
    assert_eq!(n.core.live_calls(), 1);
    assert!(n.core.poll_cdr().is_none(), "not over yet");
    n.advance(Duration::from_secs(30));
    // The callee hangs up: its BYE (From tag b1, to the caller's Contact).
    let bye = format!(
        "BYE sip:alice@{UAC} SIP/2.0\r\nVia: SIP/2.0/UDP {UAS};branch=z9hG4bKbb1\r\n\
Route: <sip:192.0.2.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: Bob <sip:bob@{UAS}>;tag=b1\r\n\
To: Alice <sip:alice@{UAC}>;tag=a-cdr-1\r\nCall-ID: cdr-1@192.0.2.10\r\n\
CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAS, &bye);
    let out = n.take();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].0, addr(UAC), "the BYE routed to the caller");
    let cdr = n.core.poll_cdr().expect("the call's record");
    assert_eq!(cdr.call_id, "cdr-1@192.0.2.10");
    assert_eq!((cdr.caller.as_str(), cdr.callee.as_str()), ("alice", "bob"));
    assert_eq!(cdr.source, UAC);
    assert_eq!(cdr.hangup, Hangup::Callee);
    assert_eq!((cdr.cause.as_str(), cdr.sip_code), ("normal", 200));
    assert_eq!(cdr.duration_ms, 30_000);
    assert_eq!(cdr.attempts.len(), 1);
    assert_eq!(cdr.attempts[0].dest, UAS);
    assert_eq!(cdr.attempts[0].code, 200);
    assert_eq!(cdr.attempts[0].pdd_ms, Some(0));
    assert!(n.core.poll_cdr().is_none(), "one record per call");
    let k = n.core.call_counters();
    assert_eq!((k.started, k.answered, k.ended, k.cdrs), (1, 1, 1, 1));
    // Gone once its linger is over.
    n.advance(Duration::from_secs(40));
    assert_eq!(n.core.live_calls(), 0);
}

#[test]
fn a_rejected_call_has_its_record_too() {
    let mut n = calls(CDRS);
    let c = uac_call("busy-1@192.0.2.10");
    n.from(UAC, &c.invite("z9hG4bKr1"));
    let inv = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAS))
        .unwrap()
        .1;
    n.from(UAS, &respond(&inv, 486, "Busy Here", Some("b9")));
    let out = n.take();
    assert!(out.iter().any(|(_, m)| m.starts_with("SIP/2.0 486")));
    let cdr = n.core.poll_cdr().expect("record");
    assert_eq!((cdr.sip_code, cdr.cause.as_str()), (486, "busy"));
    assert_eq!(cdr.hangup, Hangup::Callee);
    assert_eq!((cdr.answer_ms, cdr.duration_ms), (None, 0));
}

/// The maximum duration: the router sends BYE to both legs itself, each
/// with that side's dialog identifiers, the next CSeq and its Request-URI,
/// retransmitted until answered; the CDR closes with `max-duration`.
#[test]
fn the_maximum_duration_ends_both_legs() {
    let mut n = calls(&format!("[dialogs]\nmax_duration_s = 2\n{CDRS}"));
    let c = uac_call("long-1@192.0.2.10");
    answered(&mut n, &c, "z9hG4bKm1");
    n.advance(Duration::from_millis(1990));
    assert!(n.take().is_empty(), "not before 2 s");
    n.advance(Duration::from_millis(20));
    let out = n.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    let to_uas = &out.iter().find(|(d, _)| *d == addr(UAS)).unwrap().1;
    let to_uac = &out.iter().find(|(d, _)| *d == addr(UAC)).unwrap().1;
    assert_eq!(first_line(to_uas), format!("BYE sip:uas@{UAS} SIP/2.0"));
    assert_eq!(
        header(to_uas, "From")[0],
        format!("Alice <sip:alice@{UAC}>;tag=a-long-1")
    );
    assert_eq!(
        header(to_uas, "To")[0],
        format!("Bob <sip:bob@{UAS}>;tag=b1")
    );
    assert_eq!(header(to_uas, "CSeq"), ["2 BYE"]);
    assert_eq!(first_line(to_uac), format!("BYE sip:alice@{UAC} SIP/2.0"));
    assert_eq!(
        header(to_uac, "From")[0],
        format!("Bob <sip:bob@{UAS}>;tag=b1")
    );
    assert_eq!(
        header(to_uac, "To")[0],
        format!("Alice <sip:alice@{UAC}>;tag=a-long-1")
    );
    assert_eq!(header(to_uac, "CSeq"), ["1 BYE"]);
    for m in [to_uas, to_uac] {
        assert!(header(m, "Via")[0].starts_with("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK"));
        assert_eq!(header(m, "Call-ID"), ["long-1@192.0.2.10"]);
        assert!(header(m, "Route").is_empty(), "no proxies on either side");
    }
    let cdr = n.core.poll_cdr().expect("record");
    assert_eq!(
        (cdr.cause.as_str(), cdr.hangup),
        ("max-duration", Hangup::Router)
    );
    assert_eq!(cdr.duration_ms, 2000);
    // Unanswered, the BYEs are retransmitted (Timer E); answered, not.
    let (bye_uas, bye_uac) = (to_uas.clone(), to_uac.clone());
    n.from(UAS, &respond(&bye_uas, 200, "OK", None));
    assert!(n.take().is_empty(), "the 200 to our BYE is absorbed");
    n.advance(Duration::from_millis(600));
    let again = n.take();
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(again[0].0, addr(UAC));
    n.from(UAC, &respond(&bye_uac, 200, "OK", None));
    assert!(n.take().is_empty());
    assert_eq!(n.core.call_counters().byes_sent, 2);
}

/// `[dialogs] check`: a request naming no live dialog gets 481; without
/// it, it is routed by its Route set as before.
#[test]
fn a_request_naming_no_dialog_gets_481_when_checked() {
    let bye = format!(
        "BYE sip:bob@{UAS} SIP/2.0\r\nVia: SIP/2.0/UDP {UAC};branch=z9hG4bKx9\r\n\
Route: <sip:192.0.2.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:alice@x>;tag=a1\r\n\
To: <sip:bob@x>;tag=b2\r\nCall-ID: unknown-call\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    let mut n = calls("[dialogs]\ncheck = true\n");
    n.from(UAC, &bye);
    let out = n.take();
    assert_eq!(out.len(), 1);
    assert_eq!(
        first_line(&out[0].1),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
    let mut n = calls("[dialogs]\n");
    n.from(UAC, &bye);
    assert_eq!(n.take()[0].0, addr(UAS), "routed");
    assert_eq!(n.core.call_counters().no_dialog, 1);
}

/// A customer limit of one call at once: the second gets 503 with
/// Retry-After; once the first ends, a third is admitted.
#[test]
fn a_customer_over_its_limit_gets_503() {
    let toml = "[[limit]]\nkey = \"source:192.0.2.0/24\"\nconcurrent = 1\n";
    let mut n = calls(toml);
    let first = uac_call("l-1@192.0.2.10");
    answered(&mut n, &first, "z9hG4bKl1");
    n.from(UAC, &uac_call("l-2@192.0.2.10").invite("z9hG4bKl2"));
    let out = n.take();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(first_line(&out[0].1), "SIP/2.0 503 Call Limit Exceeded");
    assert_eq!(header(&out[0].1, "Retry-After"), ["5"]);
    assert_eq!(n.core.counters().call_limited, 1);
    // The first call ends: its slot comes back.
    let route = "<sip:192.0.2.1:5060;lr>";
    n.from(
        UAC,
        &first.request("BYE", 2, "z9hG4bKlb", Some("b1"), Some(route)),
    );
    n.take();
    n.from(UAC, &uac_call("l-3@192.0.2.10").invite("z9hG4bKl3"));
    assert!(n.take().iter().any(|(d, _)| *d == addr(UAS)), "admitted");
    // A refused call holds nothing; a rejected one gives its slot back.
    let limits = n.core.call_limits().unwrap().counts();
    assert_eq!((limits[0].concurrent, limits[0].refused), (1, 1));
}

/// A restart mid-call: core A journals the call at its 200; a fresh core
/// B (another process, a minute later) takes the journal back before it
/// serves, re-taking the customer's limit slot; the caller's BYE through
/// B ends the call, B writes its CDR with A's setup and answer times, the
/// slot comes back and B journals the call's end.
#[test]
fn a_call_restored_from_the_journal_ends_with_its_bye_and_cdr() {
    use trunkline_shards::dialog::journal::{Reader, Record};
    const T0: i64 = 1_700_000_000_000;
    let toml = format!("[[limit]]\nkey = \"source:192.0.2.0/24\"\nconcurrent = 5\n{CDRS}");
    let mut a = calls(&toml);
    assert!(a.core.enable_journal());
    a.core.set_wall_clock_ms(a.now, T0);
    let c = uac_call("j-1@192.0.2.10");
    answered(&mut a, &c, "z9hG4bKj1");
    let mut journal = Vec::new();
    a.core.take_journal(&mut journal);
    let records: Vec<Record<'_>> = Reader::new(&journal).collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let Record::Call(rec) = records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(
        (rec.call_id, rec.to_tag),
        (&b"j-1@192.0.2.10"[..], &b"b1"[..])
    );
    assert_eq!((rec.invited_ms, rec.answered_ms), (T0, T0));
    let mut snap = Vec::new();
    assert_eq!(a.core.journal_snapshot(&mut snap), 1, "a live call");
    assert_eq!(a.core.call_limits().unwrap().counts()[0].concurrent, 1);
    drop(a); // killed: no BYE, no CDR

    let mut b = calls(&toml);
    assert!(b.core.enable_journal());
    b.core.set_wall_clock_ms(b.now, T0 + 60_000);
    b.core.restore_call(b.now, &rec).unwrap();
    assert!(b.core.restore_call(b.now, &rec).is_err(), "held already");
    assert_eq!(b.core.live_calls(), 1);
    let k = b.core.call_counters();
    assert_eq!((k.restored, k.restore_refused), (1, 1));
    let limits = b.core.call_limits().unwrap().clone();
    assert_eq!(limits.counts()[0].concurrent, 1, "the slot taken again");
    b.advance(Duration::from_secs(10));
    let route = "<sip:192.0.2.1:5060;lr>";
    b.from(
        UAC,
        &c.request("BYE", 2, "z9hG4bKjb", Some("b1"), Some(route)),
    );
    let out = b.take();
    let bye = &out
        .iter()
        .find(|(d, _)| *d == addr(UAS))
        .expect("BYE routed")
        .1;
    assert!(bye.starts_with("BYE "), "{bye}");
    b.from(UAS, &respond(bye, 200, "OK", None));
    assert!(
        b.take()
            .iter()
            .any(|(d, m)| *d == addr(UAC) && m.starts_with("SIP/2.0 200"))
    );
    let cdr = b.core.poll_cdr().expect("the call's record, from B");
    assert_eq!(cdr.call_id, "j-1@192.0.2.10");
    assert_eq!(
        (cdr.hangup, cdr.cause.as_str(), cdr.sip_code),
        (Hangup::Caller, "normal", 200)
    );
    assert_eq!((cdr.setup_ms, cdr.answer_ms), (T0, Some(T0)), "A's times");
    assert_eq!((cdr.end_ms, cdr.duration_ms), (T0 + 70_000, 70_000));
    assert_eq!((cdr.caller.as_str(), cdr.callee.as_str()), ("alice", "bob"));
    assert_eq!(cdr.source, UAC);
    assert_eq!(cdr.attempts.len(), 1);
    assert_eq!(
        (cdr.attempts[0].dest.as_str(), cdr.attempts[0].start_ms),
        (UAS, T0)
    );
    assert_eq!(limits.counts()[0].concurrent, 0, "the slot given back");
    let mut end = Vec::new();
    b.core.take_journal(&mut end);
    let records: Vec<Record<'_>> = Reader::new(&end).collect();
    assert!(
        matches!(
            records[..],
            [Record::End {
                call_id: b"j-1@192.0.2.10",
                from_tag: b"a-j-1"
            }]
        ),
        "{records:?}"
    );
    let mut snap = Vec::new();
    assert_eq!(b.core.journal_snapshot(&mut snap), 0, "nothing live");
}

/// A call past its maximum duration when taken back is ended at once by
/// the router: BYE to both sides, CDR `max-duration`.
#[test]
fn a_restored_call_past_its_maximum_duration_is_ended() {
    use trunkline_shards::dialog::journal::{Reader, Record};
    let toml = format!("[dialogs]\nmax_duration_s = 30\n{CDRS}");
    let mut a = calls(&toml);
    a.core.enable_journal();
    a.core.set_wall_clock_ms(a.now, 1_000_000);
    answered(&mut a, &uac_call("j-2@192.0.2.10"), "z9hG4bKj2");
    let mut journal = Vec::new();
    a.core.take_journal(&mut journal);
    let Some(Record::Call(rec)) = Reader::new(&journal).next() else {
        panic!()
    };
    let mut b = calls(&toml);
    b.core.set_wall_clock_ms(b.now, 1_000_000 + 45_000);
    b.core.restore_call(b.now, &rec).unwrap();
    b.advance(Duration::from_millis(1));
    let out = b.take();
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out.iter().all(|(_, m)| m.starts_with("BYE ")));
    let cdr = b.core.poll_cdr().unwrap();
    assert_eq!(
        (cdr.cause.as_str(), cdr.duration_ms),
        ("max-duration", 45_000)
    );
}

/// A target refresh (the callee's re-INVITE with a new Contact) is
/// journaled again: the restored call's BYEs go to the new target.
#[test]
fn a_refresh_is_journaled_again() {
    use trunkline_shards::dialog::journal::{Reader, Record};
    let mut n = calls(&format!("[dialogs]\n{CDRS}"));
    n.core.enable_journal();
    answered(&mut n, &uac_call("j-3@192.0.2.10"), "z9hG4bKj3");
    let reinvite = format!(
        "INVITE sip:alice@{UAC} SIP/2.0\r\nVia: SIP/2.0/UDP {UAS};branch=z9hG4bKri\r\n\
Route: <sip:192.0.2.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: Bob <sip:bob@{UAS}>;tag=b1\r\n\
To: Alice <sip:alice@{UAC}>;tag=a-j-3\r\nCall-ID: j-3@192.0.2.10\r\n\
CSeq: 7 INVITE\r\nContact: <sip:bob@192.0.2.99:5080>\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAS, &reinvite);
    let mut journal = Vec::new();
    n.core.take_journal(&mut journal);
    let calls: Vec<_> = Reader::new(&journal)
        .filter_map(|r| match r {
            Record::Call(c) => Some((c.callee_contact.to_vec(), c.callee_cseq)),
            Record::End { .. } => None,
        })
        .collect();
    assert_eq!(
        calls,
        [
            (format!("sip:uas@{UAS}").into_bytes(), 0),
            (b"sip:bob@192.0.2.99:5080".to_vec(), 7)
        ]
    );
}

/// A policy rule's `max_duration_s` overrides `[dialogs] max_duration_s`
/// for the calls it matches (a customer group's shorter limit).
#[test]
fn a_policy_rule_sets_a_calls_maximum_duration() {
    let toml = "[dialogs]\nmax_duration_s = 3600\n\n[[policy]]\nsource = [\"192.0.2.0/24\"]\n\
                max_duration_s = 5\n";
    let mut n = calls(toml);
    answered(&mut n, &uac_call("short-1@192.0.2.10"), "z9hG4bKs1");
    n.advance(Duration::from_millis(4990));
    assert!(n.take().is_empty(), "not before 5 s");
    n.advance(Duration::from_millis(20));
    let out = n.take();
    assert_eq!(out.len(), 2, "a BYE to each side: {out:#?}");
    assert!(out.iter().all(|(_, m)| m.starts_with("BYE ")));
    assert_eq!(n.core.call_counters().max_duration, 1);
}

/// A header rule's `set_from_user` shows in the CDR as the caller as sent.
#[test]
fn the_cdr_has_the_caller_as_received_and_as_sent() {
    let toml = format!("{CDRS}\n[[policy]]\nset_from_user = \"+15550100\"\n");
    let mut n = calls(&toml);
    let c = uac_call("sent-1@192.0.2.10");
    n.from(UAC, &c.invite("z9hG4bKsent1"));
    let inv = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAS))
        .unwrap()
        .1;
    assert!(header(&inv, "From")[0].contains("sip:+15550100@"), "{inv}");
    n.from(UAS, &respond(&inv, 486, "Busy Here", Some("b9")));
    n.take();
    let cdr = n.core.poll_cdr().expect("record");
    assert_eq!(
        (cdr.caller.as_str(), cdr.caller_sent.as_str()),
        ("alice", "+15550100")
    );
    assert_eq!(
        (cdr.callee.as_str(), cdr.callee_sent.as_str()),
        ("bob", "bob")
    );
}

/// Header rules' From/To rewrites, as OpenSIPS' uac_replace_from: the
/// callee sees the rewritten identities, the caller its own, in the
/// INVITE's responses and in both sides' in-dialog requests and their
/// responses; tags are never touched.
#[test]
fn rewritten_identities_are_restored_on_the_way_back_and_in_dialog() {
    let toml = "[dialogs]\n\n[[policy]]\nset_from_user = \"+15550100\"\n\
                set_from_display = \"ACME\"\nset_to_user = \"+4930123\"\n";
    let mut n = calls(toml);
    let c = uac_call("ids-1@192.0.2.10");
    let (caller_from, caller_to) = (
        format!("Alice <sip:alice@{UAC}>"),
        format!("Bob <sip:bob@{UAS}>"),
    );
    let (callee_from, callee_to) = (
        format!("\"ACME\" <sip:+15550100@{UAC}>"),
        format!("Bob <sip:+4930123@{UAS}>"),
    );
    let (a, b) = (";tag=a-ids-1", ";tag=b1");
    n.from(UAC, &c.invite("z9hG4bKid1"));
    let inv = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAS))
        .unwrap()
        .1;
    assert_eq!(header(&inv, "From"), [format!("{callee_from}{a}")]);
    assert_eq!(header(&inv, "To")[0], callee_to);
    // The 200 reaches the caller with its own identities.
    n.from(UAS, &respond(&inv, 200, "OK", Some("b1")));
    let ok = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAC))
        .unwrap()
        .1;
    assert_eq!(header(&ok, "From"), [format!("{caller_from}{a}")]);
    assert_eq!(header(&ok, "To"), [format!("{caller_to}{b}")]);
    // The caller's re-INVITE: rewritten for the callee, its 200 back.
    let route = format!("<sip:{PROXY};lr>");
    let reinvite = c.request("INVITE", 2, "z9hG4bKid2", Some("b1"), Some(&route));
    n.from(UAC, &reinvite);
    let fwd = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAS))
        .unwrap()
        .1;
    assert_eq!(header(&fwd, "From"), [format!("{callee_from}{a}")]);
    assert_eq!(header(&fwd, "To"), [format!("{callee_to}{b}")]);
    n.from(UAS, &respond(&fwd, 200, "OK", None));
    let ok = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAC))
        .unwrap()
        .1;
    assert_eq!(header(&ok, "From"), [format!("{caller_from}{a}")]);
    assert_eq!(header(&ok, "To"), [format!("{caller_to}{b}")]);
    // The callee hangs up with the identities it knows: the caller gets
    // its own.
    let bye = format!(
        "BYE sip:alice@{UAC} SIP/2.0\r\nVia: SIP/2.0/UDP {UAS};branch=z9hG4bKid3\r\n\
Route: <sip:192.0.2.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: {callee_to}{b}\r\n\
To: {callee_from}{a}\r\nCall-ID: ids-1@192.0.2.10\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    n.from(UAS, &bye);
    let fwd = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAC))
        .unwrap()
        .1;
    assert_eq!(header(&fwd, "From"), [format!("{caller_to}{b}")]);
    assert_eq!(header(&fwd, "To"), [format!("{caller_from}{a}")]);
    n.from(UAC, &respond(&fwd, 200, "OK", None));
    let ok = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAS))
        .unwrap()
        .1;
    assert_eq!(header(&ok, "From"), [format!("{callee_to}{b}")]);
    assert_eq!(header(&ok, "To"), [format!("{callee_from}{a}")]);
}
