//! `examples/edge.toml` against real tools (ignored by default; CI runs
//! them, `.ci/run` installs Debian `sip-tester` and `sipvicious`): SIPp
//! calling as alice with digest, without credentials and from the trusted
//! trunk; a flood from one address over 16 ports while the trunk calls;
//! `svmap` and `svcrack` as an attacker runs them, each beside a control
//! run where what defends is off, so that a defence that did nothing
//! would fail the test.
//!
//! The tests take turns (one lock): they share the loopback, the CPUs
//! and the port `svmap`/`svcrack` bind.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use trunkline_engine::testkit::Peer;
use trunkline_engine::testkit::process::{RunningRouter, sipp_calls};
use trunkline_engine::testkit::sip::{UacCall, respond};
use trunkline_engine::testkit::sipp::{Sipp, scenario, sipp, turn};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `trunkline run --config CONFIG --listen 127.0.0.1:0 --to TO`.
fn router(config: &Path, to: SocketAddr) -> RunningRouter {
    RunningRouter::configured(env!("CARGO_BIN_EXE_trunkline").as_ref(), config, to)
}

fn edge(to: SocketAddr) -> RunningRouter {
    router(&repo().join("examples/edge.toml"), to)
}

/// `sipp -sn uas` on 127.0.0.1 (`-aa`: answering INFO, NOTIFY, OPTIONS
/// and UPDATE with 200 too).
fn sipp_uas(aa: bool) -> (Sipp, SocketAddr) {
    let aa: &[&str] = if aa { &["-aa"] } else { &[] };
    let uas = sipp(&["-sn", "uas", "-timeout", "180s"]).args(aa).spawn();
    // SIPp binds within a few ms; the first INVITE is retransmitted
    // anyway if it comes sooner.
    std::thread::sleep(Duration::from_millis(200));
    let addr = uas.addr;
    (uas, addr)
}

/// Runs a SIPp uac against `proxy` from `ip`: `extra` names the scenario
/// and the call count and rate.
fn sipp_uac(proxy: SocketAddr, ip: &str, extra: &[&str]) -> Output {
    sipp(&[&proxy.to_string()])
        .ip(ip)
        .timeout("90s")
        .args(extra)
        .run()
}

#[test]
#[ignore = "needs sipp"]
fn sipp_as_alice_with_digest_completes_1000_calls() {
    let _turn = turn();
    let (_uas, uas) = sipp_uas(false);
    let r = edge(uas);
    let scenario = scenario("uac_auth.xml");
    let out = sipp_uac(
        r.addr,
        "127.0.0.1",
        &[
            "-sf",
            &scenario,
            "-au",
            "alice",
            "-ap",
            "alice-secret",
            "-m",
            "1000",
            "-r",
            "100",
        ],
    );
    assert_eq!(sipp_calls(&String::from_utf8_lossy(&out.stdout)), (1000, 0));
    assert_eq!(out.status.code(), Some(0));
    let report = r.report(2);
    assert_eq!(report.sum("auth_successes"), 1000, "{report:?}");
    assert_eq!(report.sum("auth_failures"), 0, "{report:?}");
    assert_eq!(report.sum("local_acks"), 1000, "SIPp's ACKs of the 407s");
}

#[test]
#[ignore = "needs sipp"]
fn sipp_without_credentials_completes_none() {
    let _turn = turn();
    let (_uas, uas) = sipp_uas(false);
    let r = edge(uas);
    let out = sipp_uac(r.addr, "127.0.0.1", &["-sn", "uac", "-m", "50", "-r", "50"]);
    assert_eq!(sipp_calls(&String::from_utf8_lossy(&out.stdout)), (0, 50));
    let report = r.report(2);
    assert_eq!(report.sum("requests_forwarded"), 0, "{report:?}");
    assert!(report.sum("auth_challenges") >= 50, "{report:?}");
}

#[test]
#[ignore = "needs sipp"]
fn sipp_from_the_trusted_trunk_is_not_challenged() {
    let _turn = turn();
    let (_uas, uas) = sipp_uas(false);
    let r = edge(uas);
    let out = sipp_uac(
        r.addr,
        "127.0.0.2",
        &["-sn", "uac", "-m", "1000", "-r", "200"],
    );
    assert_eq!(sipp_calls(&String::from_utf8_lossy(&out.stdout)), (1000, 0));
    let report = r.report(2);
    assert_eq!(report.sum("auth_challenges"), 0, "{report:?}");
    assert_eq!(report.sum("requests_forwarded"), 3000, "{report:?}");
}

/// While SIPp makes 2000 calls at 200 calls/s from the trusted trunk,
/// 127.0.0.3 floods OPTIONS over 16 source ports as fast as one thread
/// sends: at least 99.9 % of the calls succeed, and the flooder gets no
/// answer after its first second.
#[test]
#[ignore = "needs sipp"]
fn a_flood_does_not_stop_the_trunk() {
    let _turn = turn();
    let (_uas, uas) = sipp_uas(false);
    let r = edge(uas);
    let proxy = r.addr;
    let flooders: Vec<Peer> = (0..16).map(|_| Peer::bind("127.0.0.3:0")).collect();
    for f in &flooders {
        f.sock.set_nonblocking(true).unwrap();
    }
    let datagrams: Vec<String> = (0..64)
        .map(|i| {
            let c = UacCall::new(flooders[i % 16].addr, &format!("sip:{i}@{proxy}"), "f");
            c.request("OPTIONS", 1, &format!("z9hG4bKflood{i}"), None, None)
                .replace("Call-ID: f", &format!("Call-ID: flood-{i}"))
        })
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (out, (sent, answers, last_answer)) = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            let start = Instant::now();
            let (mut sent, mut answers, mut last_answer) = (0u64, 0u64, None);
            let mut buf = [0u8; 2048];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, d) in datagrams.iter().enumerate() {
                    if flooders[i % 16].sock.send_to(d.as_bytes(), proxy).is_ok() {
                        sent += 1;
                    }
                }
                for f in &flooders {
                    while f.sock.recv_from(&mut buf).is_ok() {
                        answers += 1;
                        last_answer = Some(start.elapsed());
                    }
                }
            }
            (sent, answers, last_answer)
        });
        std::thread::sleep(Duration::from_millis(200));
        let out = sipp_uac(
            proxy,
            "127.0.0.2",
            &["-sn", "uac", "-m", "2000", "-r", "200"],
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, flood.join().unwrap())
    });
    let (ok, failed) = sipp_calls(&String::from_utf8_lossy(&out.stdout));
    eprintln!(
        "flood: {sent} sent, {answers} answered (last at {last_answer:?}); calls: {ok} ok, {failed} failed"
    );
    assert!(ok >= 1998, "{ok} succeeded, {failed} failed, of 2000");
    assert!(sent > 100_000, "a flood: {sent} datagrams");
    let last = last_answer.expect("the flood's first datagrams are answered");
    assert!(
        last < Duration::from_millis(1000),
        "the flooder was answered at {last:?} ({answers} answers)"
    );
    let report = r.report(2);
    assert!(report.sum("flood_bans") >= 1, "{report:?}");
    assert!(
        report.sum("flood_dropped_banned") > sent / 2,
        "{sent} sent: {report:?}"
    );
}

/// svmap finds a SIP device at a plain trunkline (the control), and none
/// at examples/edge.toml, with the same SIPp uas answering anything
/// behind both.
#[test]
#[ignore = "needs sipvicious"]
fn svmap_finds_nothing() {
    let _turn = turn();
    let (_uas, uas) = sipp_uas(true);
    let svmap = |target: SocketAddr| {
        let out = Command::new("svmap")
            .arg(target.ip().to_string())
            .args(["-p", &target.port().to_string()])
            .output()
            .expect("svmap is installed (Debian package sipvicious)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (text.contains(&target.to_string()), text)
    };
    let plain = RunningRouter::start(
        env!("CARGO_BIN_EXE_trunkline").as_ref(),
        &["--listen", "127.0.0.1:0", "--to", &uas.to_string()],
    );
    let (found, text) = svmap(plain.addr);
    assert!(found, "the control: svmap finds a plain proxy\n{text}");
    drop(plain);
    let r = edge(uas);
    let (found, text) = svmap(r.addr);
    assert!(!found && text.contains("found nothing"), "{text}");
}

/// A registrar stand-in behind the router: answers every request but ACK
/// with 200 (SIPp's `-aa` does not answer REGISTER), until dropped.
struct AnswerAll {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AnswerAll {
    fn start() -> AnswerAll {
        let peer = Peer::new();
        let addr = peer.addr;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some((m, from)) = peer.recv(Duration::from_millis(50)) {
                    if !m.starts_with("SIP/") && !m.starts_with("ACK ") {
                        peer.send(from, &respond(&m, 200, "OK", Some("reg"), Some(addr)));
                    }
                }
            }
        });
        AnswerAll {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for AnswerAll {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// svcrack with 300 passwords, alice's last: it finds it with the
/// defences off (the control); not with the scanner rule off but failure
/// bans on; not with examples/edge.toml as shipped.
#[test]
#[ignore = "needs sipvicious"]
fn svcrack_does_not_find_alices_password() {
    let _turn = turn();
    let dir = std::env::temp_dir().join(format!("trunkline-svcrack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut words: String = (1..300).map(|i| format!("guess{i}\n")).collect();
    words.push_str("alice-secret\n");
    std::fs::write(dir.join("words.txt"), words).unwrap();
    std::fs::copy(
        repo().join("examples/subscribers.csv"),
        dir.join("subscribers.csv"),
    )
    .unwrap();
    let shipped = std::fs::read_to_string(repo().join("examples/edge.toml")).unwrap();
    let scanners = shipped.find("[[policy]]\nname = \"scanners\"").unwrap();
    let next = scanners + shipped[scanners + 1..].find("[[policy]]").unwrap() + 1;
    let no_scanner_rule = format!("{}{}", &shipped[..scanners], &shipped[next..]);
    std::fs::write(dir.join("bans.toml"), &no_scanner_rule).unwrap();
    let control = no_scanner_rule.replace("auth_failures = 10", "auth_failures = 0");
    assert_ne!(control, no_scanner_rule);
    std::fs::write(dir.join("control.toml"), control).unwrap();

    let registrar = AnswerAll::start();
    let svcrack = |config: &Path| {
        let r = router(config, registrar.addr);
        let out = Command::new("svcrack")
            .args(["-u", "alice", "-d"])
            .arg(dir.join("words.txt"))
            .arg(r.addr.ip().to_string())
            .args(["-p", &r.addr.port().to_string()])
            .output()
            .expect("svcrack is installed (Debian package sipvicious)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (text, r.report(2))
    };
    let (text, _) = svcrack(&dir.join("control.toml"));
    assert!(
        text.contains("alice-secret"),
        "the control finds it:\n{text}"
    );
    let (text, report) = svcrack(&dir.join("bans.toml"));
    assert!(!text.contains("alice-secret"), "{text}");
    assert_eq!(
        report.sum("auth_bans"),
        1,
        "banned by its failures: {report:?}"
    );
    let (text, _) = svcrack(&repo().join("examples/edge.toml"));
    assert!(!text.contains("alice-secret"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
