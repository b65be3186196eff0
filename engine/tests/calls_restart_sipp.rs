//! A router restart mid-call against SIPp over loopback (ignored by
//! default: needs `sipp`, Debian `sip-tester`): SIPp holds 50 calls for
//! 6 s each; at 2 s the router is killed (SIGKILL) and a new one started
//! on the same port with the same `[dialogs] journal`. Every call's BYE
//! goes through the new router, both SIPp sides see every call through,
//! and every call's CDR is written (by the new router), once, `normal`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use trunkline_engine::cdr::{Cdr, Hangup};
use trunkline_engine::testkit::process::{RunningRouter, free_udp_port, read_cdrs, sipp_calls};
use trunkline_engine::testkit::sipp::sipp;

const CALLS: u64 = 50;

fn router(config: &Path, listen: &str, uas: SocketAddr) -> RunningRouter {
    let config = config.to_str().unwrap();
    let to = uas.to_string();
    let args = ["--config", config, "--listen", listen, "--to", &to];
    RunningRouter::start(env!("CARGO_BIN_EXE_trunkline").as_ref(), &args)
}

#[test]
#[ignore = "needs sipp"]
fn a_router_restart_mid_call_still_closes_each_cdr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("router.toml");
    std::fs::write(
        &config,
        "shards = 2\n[dialogs]\njournal = \"journal\"\n[cdr]\npath = \"cdr\"\n\
[security]\nsecret_file = \"secret\"\n",
    )
    .unwrap();
    let n = CALLS.to_string();
    let uas = sipp(&["-sn", "uas", "-m", &n, "-timeout", "60s"])
        .in_dir(d, "uas")
        .spawn();
    let uas_addr = uas.addr;
    std::thread::sleep(Duration::from_millis(200));
    let listen = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
    let mut first = router(&config, &listen, uas_addr);
    let started = Instant::now();
    let uac = sipp(&[&listen, "-sn", "uac", "-m", &n, "-r", "50", "-d", "6000"])
        .timeout("60s")
        .in_dir(d, "uac")
        .spawn();
    // Every call answered (and journaled) by 2 s; then a crash.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(started.elapsed()));
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    drop(first);
    let second = router(&config, &listen, uas_addr);
    let uac_screen = uac.finish(Duration::from_secs(40));
    assert_eq!(sipp_calls(&uac_screen), (CALLS, 0), "{uac_screen}");
    let uas_screen = uas.finish(Duration::from_secs(30));
    assert_eq!(sipp_calls(&uas_screen), (CALLS, 0), "{uas_screen}");
    let report = second.report(2);
    assert_eq!(report.sum("calls_restored"), CALLS, "{report:?}");
    assert_eq!(report.sum("cdrs"), CALLS, "{report:?}");
    second.stop();
    let records: Vec<Cdr> = read_cdrs(&d.join("cdr"));
    assert_eq!(records.len() as u64, CALLS, "one line per call");
    let ids: HashSet<_> = records.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids.len() as u64, CALLS, "each call once");
    for c in &records {
        assert_eq!(
            (c.hangup, c.cause.as_str(), c.sip_code),
            (Hangup::Caller, "normal", 200),
            "{c:?}"
        );
        let answer = c.answer_ms.expect("answered");
        // Answered before the crash, ended by the BYE at about 6 s.
        assert!((5500..=8000).contains(&c.duration_ms), "{c:?}");
        assert!(c.setup_ms <= answer && answer < c.end_ms, "{c:?}");
    }
}
