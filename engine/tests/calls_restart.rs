//! A router restart mid-call, as an operator's crash would have it: a
//! call answered through `trunkline run` with `[dialogs] journal`, the
//! router killed (SIGKILL: no shutdown), a new one started on the same
//! port with the same configuration. The caller's BYE through the new
//! router reaches the callee, the customer's limit slot is held until
//! then and given back after, and the CDR of the call is written by the
//! new router, once, with cause `normal`. The SIPp version is in
//! `calls_restart_sipp.rs`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use trunkline_engine::cdr::{Cdr, Hangup};
use trunkline_engine::testkit::Peer;
use trunkline_engine::testkit::process::{RunningRouter, free_udp_port, read_cdrs};
use trunkline_engine::testkit::sip::{UacCall, header, respond};

fn router(config: &Path, listen: &str, uas: SocketAddr) -> RunningRouter {
    let config = config.to_str().unwrap();
    let to = uas.to_string();
    let args = ["--config", config, "--listen", listen, "--to", &to];
    RunningRouter::start(env!("CARGO_BIN_EXE_trunkline").as_ref(), &args)
}

/// Waits until a shard's journal holds something (written within 100 ms
/// of the answer).
fn journaled(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let size: u64 = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        if size > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "nothing journaled in {dir:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_call_survives_a_router_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("router.toml");
    std::fs::write(
        &config,
        "shards = 2\n\
[dialogs]\njournal = \"journal\"\n\
[cdr]\npath = \"cdr\"\n\
[security]\nsecret_file = \"secret\"\n\
[[limit]]\nkey = \"source:127.0.0.0/8\"\nconcurrent = 1\n",
    )
    .unwrap();
    let uas = Peer::new();
    let uac = Peer::new();
    let listen = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
    let mut first = router(&config, &listen, uas.addr);
    let proxy = first.addr;
    assert_eq!(proxy.to_string(), listen);

    // The call, answered and acknowledged through the first router.
    let c = UacCall::new(uac.addr, &format!("sip:bob@{proxy}"), "restart-1");
    uac.send(proxy, &c.invite("z9hG4bKr1"));
    let inv = uas.expect("INVITE ");
    uas.send(proxy, &respond(&inv, 200, "OK", Some("b1"), Some(uas.addr)));
    let ok = uac.expect_skipping("SIP/2.0 200", &["SIP/2.0 100"], Duration::from_secs(2));
    assert_eq!(header(&ok, "Record-Route").len(), 1, "{ok}");
    let route = format!("<sip:{proxy};lr>");
    let request_uri = |m: String| {
        m.replacen(
            &format!(" {} ", c.target),
            &format!(" sip:uas@{} ", uas.addr),
            1,
        )
    };
    uac.send(
        proxy,
        &request_uri(c.request("ACK", 1, "z9hG4bKa1", Some("b1"), Some(&route))),
    );
    uas.expect("ACK ");
    journaled(&dir.path().join("journal"));

    // A crash: no BYE, no CDR, no shutdown.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    drop(first);

    let second = router(&config, &listen, uas.addr);
    assert_eq!(second.addr, proxy, "the same port");
    let report = second.report(2);
    assert_eq!(report.sum("calls_restored"), 1, "{report:?}");
    // The restored call holds the customer's one slot: another is refused.
    let c2 = UacCall::new(uac.addr, &format!("sip:bob@{proxy}"), "restart-2");
    uac.send(proxy, &c2.invite("z9hG4bKr2"));
    uac.expect_skipping("SIP/2.0 503", &["SIP/2.0 100"], Duration::from_secs(2));

    // The caller hangs up through the new router.
    uac.send(
        proxy,
        &request_uri(c.request("BYE", 2, "z9hG4bKb1", Some("b1"), Some(&route))),
    );
    let bye = uas.expect("BYE ");
    uas.send(proxy, &respond(&bye, 200, "OK", None, None));
    uac.expect_skipping("SIP/2.0 200", &["SIP/2.0 503"], Duration::from_secs(2));

    // Its slot came back: the next call is admitted.
    let c3 = UacCall::new(uac.addr, &format!("sip:bob@{proxy}"), "restart-3");
    uac.send(proxy, &c3.invite("z9hG4bKr3"));
    let inv3 = uas.expect("INVITE ");
    assert!(inv3.contains("restart-3"));
    uas.send(proxy, &respond(&inv3, 486, "Busy Here", Some("b3"), None));
    uac.expect_skipping(
        "SIP/2.0 486",
        &["SIP/2.0 100", "SIP/2.0 503"],
        Duration::from_secs(2),
    );

    second.signal("-TERM");
    let mut second = second;
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the router did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let all = read_cdrs(&dir.path().join("cdr"));
    let mine: Vec<&Cdr> = all.iter().filter(|r| r.call_id == c.call_id).collect();
    assert_eq!(mine.len(), 1, "{all:#?}");
    let cdr = mine[0];
    assert_eq!(
        (cdr.hangup, cdr.cause.as_str(), cdr.sip_code),
        (Hangup::Caller, "normal", 200)
    );
    assert_eq!(cdr.source, uac.addr.to_string());
    let answer = cdr.answer_ms.expect("answered");
    assert!(cdr.setup_ms <= answer && answer <= cdr.end_ms, "{cdr:?}");
    assert_eq!(cdr.attempts.len(), 1, "{cdr:?}");
    assert_eq!(cdr.attempts[0].code, 200);
}
