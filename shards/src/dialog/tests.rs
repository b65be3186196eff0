//! Dialog lifecycles on a virtual clock: who hangs up, re-INVITE and
//! UPDATE, forked early dialogs, CANCEL, 481, the maximum duration, the
//! setup timeout, and the table's bounds.

use super::*;

const CID: &[u8] = b"call-1@192.0.2.10";
const A: &[u8] = b"a-tag";

fn table(max_duration: Option<Duration>) -> DialogTable {
    DialogTable::new(
        DialogConfig {
            max_calls: 4,
            max_forks: 3,
            max_duration,
        },
        7,
    )
}

fn invite(call_id: &'static [u8]) -> Invite<'static> {
    Invite {
        call_id,
        from: b"<sip:alice@example.com>;tag=a-tag",
        from_tag: A,
        to: b"<sip:bob@example.net>",
        cseq: 1,
        contact: b"sip:alice@192.0.2.10:5060",
        route_to_caller: b"",
        max_duration: None,
    }
}

fn response(code: u16, tag: Option<&'static [u8]>) -> Response<'static> {
    Response {
        call_id: CID,
        from_tag: A,
        to: b"<sip:bob@example.net>;tag=b",
        to_tag: tag,
        code,
        contact: b"sip:bob@192.0.2.20:5070",
        route_to_callee: b"<sip:p2.example.net;lr>",
    }
}

/// A request of the dialog with To tag `b`, sent by `side`.
fn request(side: Side, b: &'static [u8], bye: bool, cseq: u32) -> Request<'static> {
    let (from_tag, to_tag) = match side {
        Side::Caller => (A, b),
        Side::Callee => (b, A),
    };
    Request {
        call_id: CID,
        from_tag,
        to_tag,
        bye,
        cseq,
        contact: b"",
    }
}

fn after(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

/// The usual call: 180 and 200 with the callee's tag, ACK, the callee
/// hangs up; the BYE's retransmission still finds the dialog while it
/// lingers, then the call is gone and a late BYE gets 481.
#[test]
fn the_callee_hangs_up() {
    let t0 = Instant::now();
    let mut t = table(None);
    let mut ev = Vec::new();
    t.on_invite(t0, &invite(CID), ()).unwrap();
    t.on_response(t0, &response(100, None), &mut ev);
    assert!(ev.is_empty(), "a 100 has no tag: no dialog");
    t.on_response(t0, &response(180, Some(b"b")), &mut ev);
    let [Event::Early(id)] = ev[..] else {
        panic!("{ev:?}")
    };
    t.on_response(after(t0, 2), &response(200, Some(b"b")), &mut ev);
    assert_eq!(ev[1], Event::Confirmed(id));
    let (call, d) = t.get(id).unwrap();
    assert_eq!(call.call_id(), CID);
    assert_eq!(call.from(), b"<sip:alice@example.com>;tag=a-tag");
    assert_eq!(d.to(), b"<sip:bob@example.net>;tag=b");
    assert_eq!(d.callee_contact(), b"sip:bob@192.0.2.20:5070");
    assert_eq!(d.route_to_callee(), b"<sip:p2.example.net;lr>");
    assert_eq!((d.started, d.answered), (t0, Some(after(t0, 2))));

    let ack = t.on_request(
        after(t0, 2),
        &request(Side::Caller, b"b", false, 1),
        &mut ev,
    );
    assert_eq!(
        ack,
        Match::Dialog {
            id,
            from: Side::Caller,
            ended: false
        }
    );
    let bye = request(Side::Callee, b"b", true, 1);
    let m = t.on_request(after(t0, 60), &bye, &mut ev);
    assert_eq!(
        m,
        Match::Dialog {
            id,
            from: Side::Callee,
            ended: true
        }
    );
    assert_eq!(ev[2], Event::Ended(id, Ended::CalleeBye));
    assert_eq!(t.get(id).unwrap().1.ended, Some(after(t0, 60)));
    // Its retransmission, within the linger.
    let again = t.on_request(after(t0, 61), &bye, &mut ev);
    assert!(matches!(again, Match::Dialog { ended: false, .. }));
    assert_eq!(ev[3], Event::CallEnded(id.call()), "the call is over");
    assert_eq!(ev.len(), 4, "ended once");
    // Gone after the linger (32 s from the BYE).
    t.handle_timeout(after(t0, 91), &mut ev);
    assert_eq!(t.calls(), 1);
    t.handle_timeout(after(t0, 92), &mut ev);
    assert_eq!(t.calls(), 0);
    assert!(t.get(id).is_none());
    assert_eq!(t.on_request(after(t0, 94), &bye, &mut ev), Match::NoDialog);
}

/// The caller re-INVITEs (a target refresh) and the callee UPDATEs with
/// a new Contact; a request older than the side's last CSeq is out of
/// order; the caller hangs up.
#[test]
fn re_invite_update_and_the_caller_hangs_up() {
    let t0 = Instant::now();
    let mut t = table(None);
    let mut ev = Vec::new();
    t.on_invite(t0, &invite(CID), ()).unwrap();
    t.on_response(t0, &response(200, Some(b"b")), &mut ev);
    let [Event::Confirmed(id)] = ev[..] else {
        panic!("{ev:?}")
    };
    let mut reinvite = request(Side::Caller, b"b", false, 2);
    reinvite.contact = b"sip:alice@192.0.2.11:5060";
    assert!(matches!(
        t.on_request(t0, &reinvite, &mut ev),
        Match::Dialog {
            from: Side::Caller,
            ended: false,
            ..
        }
    ));
    let mut update = request(Side::Callee, b"b", false, 7);
    update.contact = b"sip:bob@198.51.100.20:5070";
    t.on_request(t0, &update, &mut ev);
    let d = t.get(id).unwrap().1;
    assert_eq!(d.callee_contact(), b"sip:bob@198.51.100.20:5070");
    assert_eq!((d.refreshes, d.callee_cseq), (2, 7));
    assert_eq!(t.get(id).unwrap().0.caller_cseq, 2);
    // An old CSeq from the caller: out of order (500), nothing changes.
    assert_eq!(
        t.on_request(t0, &request(Side::Caller, b"b", false, 1), &mut ev),
        Match::OutOfOrder(id)
    );
    let m = t.on_request(t0, &request(Side::Caller, b"b", true, 3), &mut ev);
    assert!(matches!(m, Match::Dialog { ended: true, .. }));
    assert_eq!(
        ev[ev.len() - 2..],
        [
            Event::Ended(id, Ended::CallerBye),
            Event::CallEnded(id.call())
        ]
    );
}

/// A forking downstream: two early dialogs; one answers; the other ends
/// LINGER later (§13.2.2.4); more forks than max_forks are not tracked.
#[test]
fn forked_early_dialogs() {
    let t0 = Instant::now();
    let mut t = table(None);
    let mut ev = Vec::new();
    t.on_invite(t0, &invite(CID), ()).unwrap();
    for tag in [&b"b1"[..], b"b2", b"b3", b"b4"] {
        let tag: &'static [u8] = Box::leak(tag.to_vec().into_boxed_slice());
        t.on_response(t0, &response(183, Some(tag)), &mut ev);
    }
    assert_eq!(ev.len(), 3, "max_forks = 3: {ev:?}");
    let early: Vec<DialogId> = ev
        .iter()
        .map(|e| match e {
            Event::Early(id) => *id,
            _ => panic!("{e:?}"),
        })
        .collect();
    ev.clear();
    t.on_response(after(t0, 1), &response(200, Some(b"b2")), &mut ev);
    assert_eq!(ev, [Event::Confirmed(early[1])]);
    // A request of a fork that is still early names it.
    let m = t.on_request(
        after(t0, 1),
        &request(Side::Callee, b"b1", false, 1),
        &mut ev,
    );
    assert!(matches!(m, Match::Dialog { id, .. } if id == early[0]));
    t.handle_timeout(after(t0, 40), &mut ev);
    assert_eq!(
        ev[1..],
        [
            Event::Ended(early[0], Ended::OtherForkAnswered),
            Event::Ended(early[2], Ended::OtherForkAnswered)
        ]
    );
    assert_eq!(t.get(early[1]).unwrap().1.state, State::Confirmed);
    // The answered one hangs up: the call lingers, then goes.
    t.on_request(
        after(t0, 50),
        &request(Side::Caller, b"b2", true, 2),
        &mut ev,
    );
    t.handle_timeout(after(t0, 83), &mut ev);
    assert_eq!(t.calls(), 0);
}

/// CANCEL: the INVITE's 487 ends the early dialog; a request then gets
/// 481; a call rejected before any tag leaves nothing behind.
#[test]
fn cancel_and_rejection() {
    let t0 = Instant::now();
    let mut t = table(None);
    let mut ev = Vec::new();
    t.on_invite(t0, &invite(CID), ()).unwrap();
    t.on_response(t0, &response(180, Some(b"b")), &mut ev);
    t.on_response(after(t0, 3), &response(487, Some(b"b")), &mut ev);
    let [
        Event::Early(id),
        Event::Ended(ended, Ended::Rejected(487)),
        Event::CallEnded(call),
    ] = ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((id, id.call()), (ended, call));
    // A retransmitted 487 changes nothing.
    t.on_response(after(t0, 3), &response(487, Some(b"b")), &mut ev);
    assert_eq!(ev.len(), 3);
    let info = request(Side::Caller, b"b", false, 2);
    assert_eq!(t.on_request(after(t0, 4), &info, &mut ev), Match::NoDialog);
    t.handle_timeout(after(t0, 36), &mut ev);
    assert_eq!(t.calls(), 0);

    let other: &'static [u8] = b"call-2@192.0.2.10";
    t.on_invite(t0, &invite(other), ()).unwrap();
    let mut busy = response(486, Some(b"x"));
    busy.call_id = other;
    t.on_response(t0, &busy, &mut ev);
    let second = t.find_call(other, A).unwrap();
    assert_eq!(ev[3..], [Event::CallEnded(second)], "no dialog to end");
    t.handle_timeout(after(t0, 33), &mut ev);
    assert_eq!(t.calls(), 0);
}

/// No dialog, no 481 to guess: a request with tags nobody holds.
#[test]
fn a_request_naming_no_dialog() {
    let t0 = Instant::now();
    let mut t = table(None);
    let mut ev = Vec::new();
    assert_eq!(
        t.on_request(t0, &request(Side::Caller, b"b", true, 2), &mut ev),
        Match::NoDialog
    );
    t.on_invite(t0, &invite(CID), ()).unwrap();
    t.on_response(t0, &response(200, Some(b"b")), &mut ev);
    // The right call, another To tag.
    assert_eq!(
        t.on_request(t0, &request(Side::Caller, b"zz", true, 2), &mut ev),
        Match::NoDialog
    );
}

/// The maximum duration ends a confirmed dialog, with what the proxy
/// needs to send BYE to both sides; early dialogs and calls still ringing
/// are not concerned.
#[test]
fn the_maximum_duration() {
    let t0 = Instant::now();
    let mut t = table(Some(Duration::from_secs(2)));
    let mut ev = Vec::new();
    t.on_invite(t0, &invite(CID), ()).unwrap();
    t.on_response(t0, &response(180, Some(b"b")), &mut ev);
    t.handle_timeout(after(t0, 5), &mut ev);
    assert_eq!(ev.len(), 1, "ringing is not talking: {ev:?}");
    t.on_response(after(t0, 5), &response(200, Some(b"b")), &mut ev);
    let Event::Confirmed(id) = ev[1] else {
        panic!("{ev:?}")
    };
    t.handle_timeout(after(t0, 6), &mut ev);
    assert_eq!(ev.len(), 2);
    assert_eq!(t.next_deadline(), Some(after(t0, 7)));
    t.handle_timeout(after(t0, 7), &mut ev);
    assert_eq!(ev[2], Event::Ended(id, Ended::MaxDuration));
    let (call, d) = t.get(id).unwrap();
    assert_eq!(call.caller_contact(), b"sip:alice@192.0.2.10:5060");
    assert_eq!(d.to_tag(), b"b");
    assert_eq!(d.state, State::Terminated(Ended::MaxDuration));
    // The BYE a side sends meanwhile still finds it; no second end.
    let m = t.on_request(after(t0, 7), &request(Side::Callee, b"b", true, 1), &mut ev);
    assert!(matches!(m, Match::Dialog { ended: false, .. }));
    assert_eq!(ev[3], Event::CallEnded(id.call()));
    assert_eq!(ev.len(), 4);
}

/// A call that never gets a final response ends after SETUP.
#[test]
fn the_setup_timeout() {
    let t0 = Instant::now();
    let mut t = table(None);
    let mut ev = Vec::new();
    t.on_invite(t0, &invite(CID), ()).unwrap();
    t.on_response(t0, &response(183, Some(b"b")), &mut ev);
    t.handle_timeout(after(t0, 179), &mut ev);
    assert_eq!(ev.len(), 1);
    t.handle_timeout(after(t0, 180), &mut ev);
    let Event::Ended(_, Ended::SetupTimeout) = ev[1] else {
        panic!("{ev:?}")
    };
    t.handle_timeout(after(t0, 212), &mut ev);
    assert_eq!(t.calls(), 0);
}

/// At most max_calls; a slot freed is reused under a new generation, so
/// an old handle names nothing; a retransmitted INVITE is the same call.
#[test]
fn bounded_and_handles_do_not_outlive_their_call() {
    let t0 = Instant::now();
    let mut t = table(None);
    let mut ev = Vec::new();
    let ids: [&'static [u8]; 5] = [b"c0", b"c1", b"c2", b"c3", b"c4"];
    for id in &ids[..4] {
        t.on_invite(t0, &invite(id), ()).unwrap();
        assert!(t.on_invite(t0, &invite(id), ()).is_err(), "held already");
    }
    assert_eq!(t.calls(), 4);
    assert!(t.is_full());
    assert_eq!(t.on_invite(t0, &invite(ids[4]), ()), Err(()));
    let mut ok = response(200, Some(b"b"));
    ok.call_id = ids[0];
    t.on_response(t0, &ok, &mut ev);
    let Event::Confirmed(old) = ev[0] else {
        panic!("{ev:?}")
    };
    let mut bye = request(Side::Caller, b"b", true, 2);
    bye.call_id = ids[0];
    t.on_request(t0, &bye, &mut ev);
    t.handle_timeout(after(t0, 33), &mut ev);
    assert_eq!(t.calls(), 3);
    t.on_invite(after(t0, 33), &invite(ids[4]), ()).unwrap();
    assert!(
        t.get(old).is_none(),
        "the slot's new call is not the old one"
    );
}

/// What one call with one dialog costs: the fixed part and typical
/// strings stay under 1 KiB (the aim; RESULTS.md has the
/// measured figure).
#[test]
fn a_dialog_fits_in_a_kibibyte() {
    let fixed = DialogTable::<()>::fixed_bytes_per_call();
    let inv = invite(CID);
    let r = response(200, Some(b"b"));
    let strings = [inv.call_id, inv.from, inv.from_tag, inv.to, inv.contact]
        .iter()
        .chain([r.to, b"b".as_slice(), r.contact, r.route_to_callee].iter())
        .map(|s| s.len())
        .sum::<usize>();
    eprintln!("a call with one dialog: {fixed} bytes fixed + {strings} of strings");
    assert!(fixed + strings < 1024, "{fixed} + {strings}");
}
