//! `examples/edge.toml` as a new user runs it: `trunkline run --config
//! examples/edge.toml --listen IP:PORT --to IP:PORT`, attacked over
//! loopback from several source addresses (127.0.0.0/8 is all local):
//! 127.0.0.1 is alice (digest), 127.0.0.2 the trusted trunk, 127.0.0.3
//! and up strangers, scanners and flooders.
//!
//! The tests with real SIPp and sipvicious are in `edge_tools.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trunkline_engine::testkit::Peer;
use trunkline_engine::testkit::process::RunningRouter;
use trunkline_engine::testkit::sip::{UacCall, digest_answer, first_line, header, respond};

/// `trunkline run --config examples/edge.toml --listen 127.0.0.1:0 --to
/// TO`.
fn edge(to: SocketAddr) -> RunningRouter {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/edge.toml");
    RunningRouter::configured(
        env!("CARGO_BIN_EXE_trunkline").as_ref(),
        config.as_ref(),
        to,
    )
}

/// A call from `peer` to bob at the router, From host `from_host`.
fn call(peer: &Peer, router: SocketAddr, id: &str, from_host: &str) -> UacCall {
    UacCall::new(peer.addr, &format!("sip:bob@{router}"), id).with_from_host(from_host)
}

/// `msg` with `line` added after its request line.
fn with_header(msg: &str, line: &str) -> String {
    msg.replacen("\r\n", &format!("\r\n{line}\r\n"), 1)
}

/// The ACK of a non-2xx final response (§17.1.1.3: the INVITE's branch
/// and CSeq number, the response's To).
fn ack(c: &UacCall, branch: &str, response: &str) -> String {
    let to = header(response, "To")[0];
    let cseq: u32 = header(response, "CSeq")[0]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    c.request("ACK", cseq, branch, None, None).replace(
        &format!("To: Bob <{}>\r\n", c.target),
        &format!("To: {to}\r\n"),
    )
}

#[test]
fn the_ingress_recipe() {
    let uas = Peer::new();
    let r = edge(uas.addr);
    let proxy = r.addr;
    let alice = Peer::new();
    let stranger = Peer::bind("127.0.0.3:0");
    let trunk = Peer::bind("127.0.0.2:0");

    // A method we do not serve: 405 with the methods we do.
    let c = call(&alice, proxy, "e-msg", "127.0.0.1");
    alice.send(proxy, &c.request("MESSAGE", 1, "z9hG4bKm1", None, None));
    let m = alice.expect("SIP/2.0 405");
    assert_eq!(
        header(&m, "Allow"),
        ["INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"],
        "{m}"
    );
    assert!(header(&m, "Server").is_empty(), "no fingerprint: {m}");

    // A scanner's OPTIONS is dropped unanswered; the same socket's next,
    // ordinary request is answered (so the silence is the drop).
    let scanner = Peer::bind("127.0.0.4:0");
    let c = call(&scanner, proxy, "e-scan", "example.com");
    let options = c.request("OPTIONS", 1, "z9hG4bKs1", None, None);
    scanner.send(
        proxy,
        &with_header(&options, "User-Agent: friendly-scanner"),
    );
    let c = call(&scanner, proxy, "e-scan2", "example.com");
    scanner.send(proxy, &c.request("OPTIONS", 1, "z9hG4bKs2", None, None));
    let m = scanner.expect("SIP/2.0 407");
    assert_eq!(header(&m, "Call-ID"), ["e-scan2"]);
    scanner.expect_nothing(Duration::from_millis(300), &[]);

    // An IPv4 literal as From host from an untrusted source: 403.
    let c = call(&stranger, proxy, "e-ipfrom", "192.0.2.1");
    stranger.send(proxy, &c.invite("z9hG4bKi1"));
    let m = stranger.expect_skipping("SIP/2.0 403", &["SIP/2.0 100"], Duration::from_secs(2));
    assert_eq!(first_line(&m), "SIP/2.0 403 Use domain name in From");
    stranger.send(proxy, &ack(&c, "z9hG4bKi1", &m));

    // A preloaded Route from an untrusted source: 403, not the gateway.
    let c = call(&stranger, proxy, "e-route", "example.com");
    let route = format!("Route: <sip:{};lr>", uas.addr);
    stranger.send(proxy, &with_header(&c.invite("z9hG4bKr1"), &route));
    let m = stranger.expect_skipping("SIP/2.0 403", &["SIP/2.0 100"], Duration::from_secs(2));
    assert_eq!(first_line(&m), "SIP/2.0 403 Preloaded Route denied");
    stranger.send(proxy, &ack(&c, "z9hG4bKr1", &m));

    // Anyone else proves who they are: 407, MD5 (first: SIPp answers the
    // first challenge only) and SHA-256 offered, the realm being the
    // Request-URI's host.
    let c = call(&stranger, proxy, "e-auth", "example.com");
    stranger.send(proxy, &c.invite("z9hG4bKa1"));
    let m = stranger.expect_skipping("SIP/2.0 407", &["SIP/2.0 100"], Duration::from_secs(2));
    let offered = header(&m, "Proxy-Authenticate");
    assert_eq!(offered.len(), 2, "{m}");
    assert!(offered[0].contains("algorithm=MD5"), "{m}");
    assert!(offered[1].contains("algorithm=SHA-256"), "{m}");
    assert!(offered[0].contains("realm=\"127.0.0.1\""), "{m}");
    stranger.send(proxy, &ack(&c, "z9hG4bKa1", &m));

    // The trusted trunk: an IP From and no credentials, forwarded.
    let c = call(&trunk, proxy, "e-trunk", "127.0.0.2");
    trunk.send(proxy, &c.invite("z9hG4bKt1"));
    let inv = uas.expect("INVITE");
    uas.send(
        proxy,
        &respond(&inv, 200, "OK", Some("b-1"), Some(uas.addr)),
    );
    trunk.expect_skipping("SIP/2.0 200", &["SIP/2.0 100"], Duration::from_secs(2));

    // Alice, with SHA-256 and then MD5 credentials: forwarded.
    for (i, algorithm) in ["SHA-256", "MD5"].into_iter().enumerate() {
        let c = call(&alice, proxy, &format!("e-alice-{i}"), "127.0.0.1");
        let b1 = format!("z9hG4bKal{i}a");
        alice.send(proxy, &c.invite(&b1));
        let m = alice.expect_skipping("SIP/2.0 407", &["SIP/2.0 100"], Duration::from_secs(2));
        alice.send(proxy, &ack(&c, &b1, &m));
        let auth = digest_answer(
            &m,
            algorithm,
            ("alice", "alice-secret"),
            "INVITE",
            &c.target,
            1,
        );
        let b2 = format!("z9hG4bKal{i}b");
        let again = with_header(&c.invite(&b2).replace("CSeq: 1 ", "CSeq: 2 "), &auth);
        alice.send(proxy, &again);
        let inv = uas.expect("INVITE");
        assert_eq!(header(&inv, "Call-ID"), [c.call_id.as_str()]);
        uas.send(
            proxy,
            &respond(&inv, 200, "OK", Some("b-1"), Some(uas.addr)),
        );
        alice.expect_skipping("SIP/2.0 200", &["SIP/2.0 100"], Duration::from_secs(2));
    }

    let report = r.report(2);
    assert_eq!(report.sum("auth_successes"), 2, "{report:?}");
    assert_eq!(report.sum("requests_forwarded"), 3, "{report:?}");
    uas.expect_nothing(Duration::from_millis(100), &[]);
}

/// Ten wrong passwords within the window ban the source: its next
/// attempts go unanswered, while alice on another address is served. The
/// wrong user and the wrong password get the same answer.
#[test]
fn password_guessing_is_banned() {
    let uas = Peer::new();
    let r = edge(uas.addr);
    let proxy = r.addr;
    let guesser = Peer::bind("127.0.0.5:0");
    let mut answers = Vec::new();
    for i in 0..10 {
        let c = call(&guesser, proxy, &format!("g-{i}"), "example.com");
        let b1 = format!("z9hG4bKg{i}a");
        guesser.send(proxy, &c.invite(&b1));
        let m = guesser.expect_skipping("SIP/2.0 407", &["SIP/2.0 100"], Duration::from_secs(2));
        guesser.send(proxy, &ack(&c, &b1, &m));
        let user = if i % 2 == 0 { "alice" } else { "mallory" };
        let auth = digest_answer(
            &m,
            "MD5",
            (user, &format!("guess{i}")),
            "INVITE",
            &c.target,
            1,
        );
        let b2 = format!("z9hG4bKg{i}b");
        let again = with_header(&c.invite(&b2).replace("CSeq: 1 ", "CSeq: 2 "), &auth);
        guesser.send(proxy, &again);
        let answer = loop {
            match guesser.recv(Duration::from_secs(2)) {
                Some((m, _)) if m.starts_with("SIP/2.0 100") => {}
                Some((m, _)) => {
                    guesser.send(proxy, &ack(&c, &b2, &m));
                    break Some(first_line(&m).to_string());
                }
                None => break None,
            }
        };
        answers.push(answer);
    }
    // The first nine: challenged again, the same for either user.
    for a in &answers[..9] {
        assert_eq!(
            a.as_deref(),
            Some("SIP/2.0 407 Proxy Authentication Required")
        );
    }
    // Banned now: silence, while alice is served.
    let c = call(&guesser, proxy, "g-after", "example.com");
    guesser.send(proxy, &c.invite("z9hG4bKgz"));
    guesser.expect_nothing(Duration::from_millis(500), &[]);
    let alice = Peer::new();
    let c = call(&alice, proxy, "g-alice", "127.0.0.1");
    alice.send(proxy, &c.invite("z9hG4bKga"));
    alice.expect_skipping("SIP/2.0 407", &["SIP/2.0 100"], Duration::from_secs(2));
    let report = r.report(2);
    assert!(report.sum("auth_bans") >= 1, "{report:?}");
    assert!(report.sum("auth_failures") >= 10, "{report:?}");
}

/// A flood from 127.0.0.3 over 16 source ports (20,000 OPTIONS/s for 2 s,
/// spread so that it lands on every shard) is banned within its first
/// second and gets no answer after that, while the trusted trunk and
/// alice are answered throughout.
#[test]
fn a_flood_over_16_ports_is_blocked_while_others_are_served() {
    let uas = Peer::new();
    let r = edge(uas.addr);
    let proxy = r.addr;
    let flooders: Vec<Peer> = (0..16).map(|_| Peer::bind("127.0.0.3:0")).collect();
    for f in &flooders {
        f.sock.set_nonblocking(true).unwrap();
    }
    let start = Instant::now();
    let flood = std::thread::scope(|s| {
        let flooding = s.spawn(|| {
            let mut sent = 0u64;
            let mut last_answer = None;
            let mut answers = 0u64;
            let mut buf = [0u8; 4096];
            while start.elapsed() < Duration::from_secs(2) {
                // 20 datagrams a millisecond, over the 16 ports.
                for i in 0..20 {
                    let f = &flooders[(sent as usize + i) % 16];
                    let c = call(f, proxy, &format!("flood-{sent}-{i}"), "example.com");
                    let _ = f.sock.send_to(
                        c.request("OPTIONS", 1, &format!("z9hG4bKf{sent}x{i}"), None, None)
                            .as_bytes(),
                        proxy,
                    );
                }
                sent += 20;
                for f in &flooders {
                    while f.sock.recv_from(&mut buf).is_ok() {
                        answers += 1;
                        last_answer = Some(start.elapsed());
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            for f in &flooders {
                f.sock.set_nonblocking(false).unwrap();
                while f.recv(Duration::from_millis(100)).is_some() {
                    answers += 1;
                    last_answer = Some(start.elapsed());
                }
            }
            (sent, answers, last_answer)
        });
        // Meanwhile the trunk and alice, every 50 ms.
        let trunk = Peer::bind("127.0.0.2:0");
        let alice = Peer::new();
        let mut served = 0;
        let mut i = 0;
        while start.elapsed() < Duration::from_secs(2) {
            let c = call(&trunk, proxy, &format!("trunk-{i}"), "127.0.0.2");
            trunk.send(
                proxy,
                &c.request("OPTIONS", 1, &format!("z9hG4bKo{i}"), None, None),
            );
            let c = call(&alice, proxy, &format!("alice-{i}"), "127.0.0.1");
            alice.send(
                proxy,
                &c.request("OPTIONS", 1, &format!("z9hG4bKp{i}"), None, None),
            );
            // The trunk's OPTIONS goes to the UAS; alice is challenged.
            if let Some(m) = uas.recv(Duration::from_secs(1)).map(|(m, _)| m) {
                uas.send(proxy, &respond(&m, 200, "OK", Some("b-1"), Some(uas.addr)));
                trunk.expect("SIP/2.0 200");
                alice.expect("SIP/2.0 407");
                served += 1;
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(served, i, "every trunk and alice request answered");
        flooding.join().unwrap()
    });
    let (sent, answers, last_answer) = flood;
    // Ten times flood_pps at least (20 a millisecond, less what sleeping
    // costs on a busy machine).
    assert!(sent > 20_000, "{sent}");
    // examples/edge.toml's flood_pps is 2000: at most that many in the
    // second before the ban (and none after).
    assert!(answers <= 2_100, "at most ~flood_pps answered: {answers}");
    let last = last_answer.expect("the flood's first requests are answered");
    assert!(last < Duration::from_millis(1100), "answered at {last:?}");
    let report = r.report(2);
    assert!(report.sum("flood_bans") >= 1, "{report:?}");
    let dropped = report.sum("flood_dropped_banned") + report.sum("flood_dropped_over_rate");
    assert!(dropped > sent / 2, "{sent} sent: {report:?}");
    let line = r.find_line(&report.1, "flood defence");
    assert!(line.contains("banned_sources=1 "), "{line}");
}
