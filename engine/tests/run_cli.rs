//! `trunkline run` and `trunkline check-config` as operators use them.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use trunkline_engine::testkit::process::RunningRouter;

fn trunkline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trunkline"))
}

/// `trunkline run` on a free port, two shards.
fn run() -> RunningRouter {
    RunningRouter::start(
        env!("CARGO_BIN_EXE_trunkline").as_ref(),
        &["--listen", "127.0.0.1:0", "--shards", "2"],
    )
}

#[test]
fn runs_answers_prints_counters_and_stops_cleanly() {
    let mut router = run();
    let proxy = router.addr;
    // A keep-alive OPTIONS to the proxy itself is answered.
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = peer.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKka1\r\nMax-Forwards: 70\r\n\
From: <sip:mon@{me}>;tag=1\r\nTo: <sip:{proxy}>\r\nCall-ID: ka-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    peer.send_to(options.as_bytes(), proxy).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200 OK"));

    router.signal("-USR1");
    let line = router.wait_for("shard ");
    assert!(
        line.contains("received=") && line.contains("handoffs_out="),
        "{line}"
    );

    router.signal("-TERM");
    let status = router.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let total = router.wait_for("total:");
    assert!(
        total.contains("received=1 ") && total.contains("local_replies=1 "),
        "{total}"
    );
}

#[test]
fn refuses_a_taken_port() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = trunkline()
        .args(["run", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn check_config_names_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("trunkline-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "listen = [\"127.0.0.1:5080\"]\nmode = \"stateless\"\n[route]\ndefault = \"127.0.0.1:5070\"\n").unwrap();
    let out = trunkline().arg("check-config").arg(&good).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "listen = [\"127.0.0.1:5080\"]\n\n[timers]\nt1_ms = 0\n",
    )
    .unwrap();
    let out = trunkline().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4:9: key `timers.t1_ms`"), "{err}");
    let out = trunkline()
        .args(["run", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
