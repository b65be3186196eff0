//! The router over real sockets on loopback, with scripted UAC and UAS
//! peers: whole calls, CANCEL, timeouts, retransmissions, bad input,
//! sharding and a restart in mid-dialog.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use trunkline_engine::dns::Resolved;
use trunkline_engine::proxy::Mode;
use trunkline_engine::runtime::RouterBuilder;
use trunkline_tests::{Peer, header, in_dialog, invite, respond, short_timers, start_router};

const QUIET: Duration = Duration::from_millis(300);

#[test]
fn full_call() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |_| {});
    let proxy = router.local_addrs()[0];
    let rr = format!("<sip:{proxy};lr>");

    uac.send(proxy, &invite(&uac, uas.addr, "full-1", "z9hG4bKf1"));
    let trying = uac.expect("SIP/2.0 100 Trying");
    assert_eq!(header(&trying, "Call-ID"), ["full-1"]);
    let inv = uas.expect("INVITE ");
    assert_eq!(header(&inv, "Record-Route"), [rr.as_str()]);
    assert_eq!(header(&inv, "Max-Forwards"), ["69"]);
    assert_eq!(header(&inv, "Via").len(), 2);
    assert!(header(&inv, "Via")[0].contains(&proxy.to_string()));

    uas.send(proxy, &respond(&inv, 180, "Ringing", uas.addr));
    let ringing = uac.expect("SIP/2.0 180 Ringing");
    assert_eq!(header(&ringing, "Via").len(), 1);
    uas.send(proxy, &respond(&inv, 200, "OK", uas.addr));
    let ok = uac.expect("SIP/2.0 200 OK");
    assert_eq!(header(&ok, "Record-Route"), [rr.as_str()]);

    uac.send(
        proxy,
        &in_dialog(&uac, uas.addr, "ACK", 1, "full-1", "z9hG4bKf1a", Some(&rr)),
    );
    let ack = uas.expect("ACK ");
    assert!(header(&ack, "Route").is_empty(), "our Route is consumed");
    uac.send(
        proxy,
        &in_dialog(&uac, uas.addr, "BYE", 2, "full-1", "z9hG4bKf1b", Some(&rr)),
    );
    let bye = uas.expect("BYE ");
    uas.send(proxy, &respond(&bye, 200, "OK", uas.addr));
    let ok = uac.expect("SIP/2.0 200 OK");
    assert_eq!(header(&ok, "CSeq"), ["2 BYE"]);

    uac.expect_nothing(QUIET, &[]);
    uas.expect_nothing(QUIET, &[]);
    let reports = router.shutdown();
    let sent: u64 = reports.iter().map(|r| r.counters.sent).sum();
    assert_eq!(sent, 7, "100, INVITE, 180, 200, ACK, BYE, 200: {reports:?}");
}

#[test]
fn cancel_before_answer() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |_| {});
    let proxy = router.local_addrs()[0];
    uac.send(proxy, &invite(&uac, uas.addr, "cancel-1", "z9hG4bKc1"));
    uac.expect("SIP/2.0 100");
    let inv = uas.expect("INVITE ");
    uas.send(proxy, &respond(&inv, 180, "Ringing", uas.addr));
    uac.expect("SIP/2.0 180");

    let cancel = invite(&uac, uas.addr, "cancel-1", "z9hG4bKc1")
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    uac.send(proxy, &cancel);
    let ok = uac.expect("SIP/2.0 200 OK");
    assert_eq!(header(&ok, "CSeq"), ["1 CANCEL"]);
    let down = uas.expect("CANCEL ");
    assert_eq!(
        header(&down, "Via")[0],
        header(&inv, "Via")[0],
        "same branch as the INVITE"
    );
    uas.send(proxy, &respond(&down, 200, "OK", uas.addr));
    uas.send(proxy, &respond(&inv, 487, "Request Terminated", uas.addr));
    uac.expect("SIP/2.0 487 Request Terminated");
    // The proxy ACKs the 487 itself, hop by hop.
    let ack = uas.expect("ACK ");
    assert_eq!(header(&ack, "CSeq"), ["1 ACK"]);
    // The UAC's ACK for the 487 stops at the proxy.
    uac.send(
        proxy,
        &in_dialog(&uac, uas.addr, "ACK", 1, "cancel-1", "z9hG4bKc1", None),
    );
    uas.expect_nothing(QUIET, &[]);
    router.shutdown();
}

#[test]
fn downstream_silence_gives_408() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), short_timers);
    let proxy = router.local_addrs()[0];
    uac.send(proxy, &invite(&uac, uas.addr, "silent-1", "z9hG4bKs1"));
    uac.expect("SIP/2.0 100");
    uas.expect("INVITE ");
    // Timer A resends (20, 40, 80 ms ...) reach the UAS; it stays silent.
    uas.expect("INVITE ");
    // Timer B = 64·T1 = 1.28 s.
    let r = uac.expect_within("SIP/2.0 408 Request Timeout", Duration::from_secs(3));
    assert!(header(&r, "To")[0].contains(";tag="));
    router.shutdown();
}

#[test]
fn retransmitted_invite_is_absorbed() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |c| {
        c.proxy.timers.t1 = Duration::from_millis(500)
    });
    let proxy = router.local_addrs()[0];
    let inv = invite(&uac, uas.addr, "retrans-1", "z9hG4bKr1");
    uac.send(proxy, &inv);
    uac.expect("SIP/2.0 100");
    let fwd = uas.expect("INVITE ");
    uac.send(proxy, &inv);
    uac.expect("SIP/2.0 100"); // the 100 again
    uas.expect_nothing(QUIET, &[]); // but one INVITE downstream
    uas.send(proxy, &respond(&fwd, 486, "Busy Here", uas.addr));
    uac.expect("SIP/2.0 486 Busy Here");
    uas.expect("ACK ");
    router.shutdown();
}

#[test]
fn lost_200_retransmitted_by_the_uas_reaches_the_uac() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |_| {});
    let proxy = router.local_addrs()[0];
    uac.send(proxy, &invite(&uac, uas.addr, "lost-1", "z9hG4bKl1"));
    uac.expect("SIP/2.0 100 Trying");
    let inv = uas.expect("INVITE ");
    let ok = respond(&inv, 200, "OK", uas.addr);
    uas.send(proxy, &ok);
    uac.expect("SIP/2.0 200 OK"); // suppose the UAC lost this one...
    uas.send(proxy, &ok); // ...the UAS resends it (§13.3.1.4)
    uac.expect("SIP/2.0 200 OK");
    router.shutdown();
}

#[test]
fn max_forwards_zero_gets_483() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |_| {});
    let proxy = router.local_addrs()[0];
    uac.send(
        proxy,
        &invite(&uac, uas.addr, "mf-1", "z9hG4bKm1").replace("Max-Forwards: 70", "Max-Forwards: 0"),
    );
    uac.expect("SIP/2.0 483 Too Many Hops");
    uas.expect_nothing(QUIET, &[]);
    router.shutdown();
}

#[test]
fn malformed_request_gets_400_and_garbage_is_dropped_and_counted() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |_| {});
    let proxy = router.local_addrs()[0];
    let bad = invite(&uac, uas.addr, "bad-1", "z9hG4bKb1").replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    uac.send(proxy, &bad);
    let r = uac.expect("SIP/2.0 400 CSeq Method Mismatch");
    assert_eq!(header(&r, "Call-ID"), ["bad-1"]);
    uac.sock
        .send_to(b"\x16\x03\x01\x02\x00garbage", proxy)
        .unwrap();
    uac.sock.send_to(b"NOT SIP AT ALL\r\n\r\n", proxy).unwrap();
    uac.sock.send_to(b"\r\n\r\n", proxy).unwrap();
    uac.expect_nothing(QUIET, &[]);
    uas.expect_nothing(QUIET, &[]);
    // The router still works.
    uac.send(proxy, &invite(&uac, uas.addr, "bad-2", "z9hG4bKb2"));
    uas.expect("INVITE ");
    let reports = router.shutdown();
    let sum =
        |f: fn(&trunkline_engine::runtime::ShardReport) -> u64| reports.iter().map(f).sum::<u64>();
    assert_eq!(sum(|r| r.counters.invalid), 1);
    assert_eq!(sum(|r| r.counters.parse_errors), 2);
    assert_eq!(sum(|r| r.counters.keepalives), 1);
}

#[test]
fn calls_land_on_every_shard() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |c| c.shards = 2);
    let proxy = router.local_addrs()[0];
    for i in 0..40 {
        let call = format!("spread-{i}");
        uac.send(
            proxy,
            &invite(&uac, uas.addr, &call, &format!("z9hG4bKsp{i}")),
        );
        uac.expect("SIP/2.0 100");
        let inv = uas.expect("INVITE ");
        assert_eq!(header(&inv, "Call-ID"), [call.as_str()]);
        uas.send(proxy, &respond(&inv, 200, "OK", uas.addr));
        uac.expect("SIP/2.0 200 OK");
    }
    let reports = router.shutdown();
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert!(
            r.counters.requests_forwarded > 0,
            "every shard owns calls: {reports:?}"
        );
    }
    // The UAC's and the UAS's datagrams arrive on one shard each (the
    // kernel hashes the 4-tuple), so some are handed to their owner.
    assert!(reports.iter().map(|r| r.handoffs_in).sum::<u64>() > 0);
}

#[test]
fn restart_between_200_and_bye_still_routes_the_bye() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |_| {});
    let proxy = router.local_addrs()[0];
    let rr = format!("<sip:{proxy};lr>");
    uac.send(proxy, &invite(&uac, uas.addr, "restart-1", "z9hG4bKrs1"));
    uac.expect("SIP/2.0 100 Trying");
    let inv = uas.expect("INVITE ");
    uas.send(proxy, &respond(&inv, 200, "OK", uas.addr));
    uac.expect("SIP/2.0 200 OK");
    uac.send(
        proxy,
        &in_dialog(
            &uac,
            uas.addr,
            "ACK",
            1,
            "restart-1",
            "z9hG4bKrs2",
            Some(&rr),
        ),
    );
    uas.expect("ACK ");
    router.shutdown();

    // A new process on the same address, with no default route: the BYE
    // finds its way by its Route set alone.
    let router = start_router(None, |c| c.listen = vec![proxy]);
    uac.send(
        proxy,
        &in_dialog(
            &uac,
            uas.addr,
            "BYE",
            2,
            "restart-1",
            "z9hG4bKrs3",
            Some(&rr),
        ),
    );
    let bye = uas.expect("BYE ");
    uas.send(proxy, &respond(&bye, 200, "OK", uas.addr));
    uac.expect("SIP/2.0 200 OK");
    router.shutdown();
}

#[test]
fn stateless_mode_full_call() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |c| c.proxy.mode = Mode::Stateless);
    let proxy = router.local_addrs()[0];
    uac.send(proxy, &invite(&uac, uas.addr, "sl-1", "z9hG4bKsl1"));
    let inv = uas.expect("INVITE ");
    uas.send(proxy, &respond(&inv, 200, "OK", uas.addr));
    uac.expect("SIP/2.0 200 OK");
    uac.send(
        proxy,
        &in_dialog(&uac, uas.addr, "BYE", 2, "sl-1", "z9hG4bKsl2", None),
    );
    let bye = uas.expect("BYE ");
    uas.send(proxy, &respond(&bye, 200, "OK", uas.addr));
    uac.expect("SIP/2.0 200 OK");
    let reports = router.shutdown();
    assert_eq!(
        reports
            .iter()
            .map(|r| r.counters.local_replies)
            .sum::<u64>(),
        0,
        "no 100 Trying"
    );
}

#[test]
fn ipv6_full_call() {
    let (uac, uas) = (Peer::new_v6(), Peer::new_v6());
    let router = start_router(Some(uas.addr), |c| {
        c.listen = vec!["[::1]:0".parse().unwrap()]
    });
    let proxy = router.local_addrs()[0];
    assert!(proxy.is_ipv6());
    let rr = format!("<sip:{proxy};lr>");
    uac.send(proxy, &invite(&uac, uas.addr, "v6-1", "z9hG4bKv61"));
    uac.expect("SIP/2.0 100 Trying");
    let inv = uas.expect("INVITE ");
    assert_eq!(header(&inv, "Record-Route"), [rr.as_str()]);
    assert!(header(&inv, "Via")[0].starts_with(&format!("SIP/2.0/UDP {proxy};branch=")));
    uas.send(proxy, &respond(&inv, 200, "OK", uas.addr));
    uac.expect("SIP/2.0 200 OK");
    uac.send(
        proxy,
        &in_dialog(&uac, uas.addr, "BYE", 2, "v6-1", "z9hG4bKv62", Some(&rr)),
    );
    let bye = uas.expect("BYE ");
    uas.send(proxy, &respond(&bye, 200, "OK", uas.addr));
    uac.expect("SIP/2.0 200 OK");
    router.shutdown();
}

/// A dual-stack router: a call from an IPv4 caller to an IPv6 callee
/// leaves by the IPv6 listener, record-routed with both addresses (RFC
/// 5658); the ACK and the callee's BYE each come in by the listener of
/// their sender's family and leave by the other.
#[test]
fn dual_stack_call_crosses_address_families() {
    let (uac, uas) = (Peer::new(), Peer::new_v6());
    let router = start_router(None, |c| {
        c.listen = vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()]
    });
    let (p4, p6) = (router.local_addrs()[0], router.local_addrs()[1]);
    assert!(p4.is_ipv4() && p6.is_ipv6());
    let rr = format!("<sip:{p6};lr;r2=on>, <sip:{p4};lr;r2=on>");
    let rr_back = format!("<sip:{p4};lr;r2=on>, <sip:{p6};lr;r2=on>");

    uac.send(p4, &invite(&uac, uas.addr, "ds-1", "z9hG4bKds1"));
    uac.expect("SIP/2.0 100 Trying");
    let (inv, from) = uas.recv(Duration::from_secs(5)).expect("INVITE");
    assert!(inv.starts_with("INVITE "), "{inv}");
    assert_eq!(from, p6, "left by the IPv6 listener");
    assert_eq!(header(&inv, "Record-Route"), [rr.as_str()]);
    assert!(header(&inv, "Via")[0].starts_with(&format!("SIP/2.0/UDP {p6};branch=")));

    uas.send(p6, &respond(&inv, 200, "OK", uas.addr));
    let (ok, from) = uac.recv(Duration::from_secs(5)).expect("200");
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert_eq!(from, p4);
    assert_eq!(header(&ok, "Record-Route"), [rr.as_str()]);

    uac.send(
        p4,
        &in_dialog(
            &uac,
            uas.addr,
            "ACK",
            1,
            "ds-1",
            "z9hG4bKds1a",
            Some(&rr_back),
        ),
    );
    let (ack, from) = uas.recv(Duration::from_secs(5)).expect("ACK");
    assert!(ack.starts_with("ACK "), "{ack}");
    assert_eq!(from, p6);
    assert!(
        header(&ack, "Route").is_empty(),
        "both Routes are ours: {ack}"
    );

    // The callee hangs up: its route set is the Record-Route in order.
    uas.send(
        p6,
        &in_dialog(&uas, uac.addr, "BYE", 1, "ds-1", "z9hG4bKds1b", Some(&rr)),
    );
    let (bye, from) = uac.recv(Duration::from_secs(5)).expect("BYE");
    assert!(bye.starts_with("BYE "), "{bye}");
    assert_eq!(from, p4);
    assert!(header(&bye, "Route").is_empty(), "{bye}");
    uac.send(p4, &respond(&bye, 200, "OK", uac.addr));
    let (ok, from) = uas.recv(Duration::from_secs(5)).expect("200 to BYE");
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert_eq!(from, p6);
    router.shutdown();
}

/// Next hops given by host name are looked up off the shards: the INVITE
/// to `uas.test` waits for its name, later requests to it go at once, and
/// a name that does not resolve gets 503.
#[test]
fn next_hop_by_host_name() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let lookups = Arc::new(AtomicUsize::new(0));
    let seen = lookups.clone();
    let resolve = move |host: &str, port: Option<u16>| {
        seen.fetch_add(1, Ordering::Relaxed);
        match host {
            "uas.test" => Ok(Resolved::addresses(
                ["127.0.0.1".parse().unwrap()],
                port.unwrap_or(5060),
            )),
            _ => Err(format!("{host}: NXDOMAIN")),
        }
    };
    let mut cfg = trunkline_tests::config(None);
    cfg.shards = 1;
    let router = RouterBuilder::new(cfg)
        .resolver(Arc::new(resolve))
        .start()
        .expect("router starts");
    let proxy = router.local_addrs()[0];
    let port = uas.addr.port();
    let by_name = |m: String| m.replace(&uas.addr.to_string(), &format!("UAS.test:{port}"));

    uac.send(
        proxy,
        &by_name(invite(&uac, uas.addr, "dns-1", "z9hG4bKdn1")),
    );
    uac.expect("SIP/2.0 100 Trying");
    let inv = uas.expect("INVITE ");
    assert!(
        inv.starts_with(&format!("INVITE sip:bob@UAS.test:{port} ")),
        "{inv}"
    );
    uas.send(proxy, &respond(&inv, 200, "OK", uas.addr));
    uac.expect("SIP/2.0 200 OK");
    let rr = format!("<sip:{proxy};lr>");
    uac.send(
        proxy,
        &by_name(in_dialog(
            &uac,
            uas.addr,
            "BYE",
            2,
            "dns-1",
            "z9hG4bKdn2",
            Some(&rr),
        )),
    );
    let bye = uas.expect("BYE ");
    uas.send(proxy, &respond(&bye, 200, "OK", uas.addr));
    uac.expect("SIP/2.0 200 OK");
    assert_eq!(lookups.load(Ordering::Relaxed), 1, "the answer was kept");

    let nx = invite(&uac, uas.addr, "dns-2", "z9hG4bKdn3")
        .replace(&uas.addr.to_string(), "nowhere.test");
    uac.send(proxy, &nx);
    uac.expect("SIP/2.0 100 Trying");
    uac.expect("SIP/2.0 503 Next Hop Not Resolved");
    uas.expect_nothing(QUIET, &[]);
    let reports = router.shutdown();
    assert_eq!(reports[0].counters.names_parked, 2);
}

/// A datagram over `limits.max_message` is cut at the receive buffer
/// (one byte over the cap), refused by the parser and counted, never
/// forwarded, and answered 513 (RFC 3261 §21.5.14: its headers arrived,
/// so the answer can be addressed; the client does not retransmit for
/// 32 s); a request sent right after it (often read in the same batch)
/// still goes through.
#[test]
fn an_oversized_request_is_answered_513_and_counted() {
    let (uac, uas) = (Peer::new(), Peer::new());
    let router = start_router(Some(uas.addr), |cfg| {
        cfg.shards = 1;
        cfg.proxy.limits.max_message = 1500;
    });
    let proxy = router.local_addrs()[0];
    let big = invite(&uac, uas.addr, "big-1", "z9hG4bKbig1").replace(
        "Content-Length: 4\r\n\r\nv=0\n",
        &format!("Content-Length: 3000\r\n\r\n{}", "a".repeat(3000)),
    );
    assert!(big.len() > 3000);
    uac.send(proxy, &big);
    uac.send(proxy, &invite(&uac, uas.addr, "small-1", "z9hG4bKsmall1"));
    let refused = uac.expect("SIP/2.0 513 Message Too Large");
    assert_eq!(header(&refused, "Call-ID"), ["big-1"]);
    uac.expect("SIP/2.0 100 Trying");
    let fwd = uas.expect("INVITE ");
    assert_eq!(header(&fwd, "Call-ID"), ["small-1"]);
    uas.expect_nothing(QUIET, &[]);
    let reports = router.shutdown();
    let parse_errors: u64 = reports.iter().map(|r| r.counters.parse_errors).sum();
    assert_eq!(parse_errors, 1);
}

/// The 200 of an INVITE the previous process forwarded reaches the UAC
/// through a restarted router that keeps its secret (`[security]
/// secret_file`: the new process recognises its branch); without it the
/// new process cannot tell the 200 from a forged response and drops it.
#[test]
fn a_200_across_a_restart_is_relayed_with_a_kept_secret() {
    let dir = std::env::temp_dir().join(format!("trunkline-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    let _ = std::fs::remove_file(&secret);
    for keep in [true, false] {
        let (uac, uas) = (Peer::new(), Peer::new());
        let with_secret = |c: &mut trunkline_engine::config::Config| {
            if keep {
                c.secret_file = Some(secret.clone());
            }
        };
        let router = start_router(Some(uas.addr), with_secret);
        let proxy = router.local_addrs()[0];
        let id = format!("keep-{keep}");
        uac.send(proxy, &invite(&uac, uas.addr, &id, "z9hG4bKks1"));
        uac.expect("SIP/2.0 100 Trying");
        let inv = uas.expect("INVITE ");
        router.shutdown();

        let router = start_router(Some(uas.addr), |c| {
            with_secret(c);
            c.listen = vec![proxy];
        });
        uas.send(proxy, &respond(&inv, 200, "OK", uas.addr));
        if keep {
            let ok = uac.expect("SIP/2.0 200 OK");
            assert_eq!(header(&ok, "Call-ID"), [id.as_str()]);
        } else {
            uac.expect_nothing(QUIET, &[]);
        }
        let forged: u64 = router
            .shutdown()
            .iter()
            .map(|r| r.counters.forged_responses)
            .sum();
        assert_eq!(forged, u64::from(!keep));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
