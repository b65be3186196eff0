//! Interop with real SIPp (Debian package `sip-tester`; CI installs it):
//! `sipp -sn uac` → trunkline → `sipp -sn uas`, 5000 calls at 500 calls/s,
//! stateful and stateless, with zero failed calls.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use trunkline_engine::proxy::Mode;
use trunkline_tests::start_router;

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The two runs take turns: a port `free_port` found free is only free
/// until something binds it, and the other run's router and SIPps bind
/// ports of their own meanwhile (CI once saw SIPp's `-p` port taken).
static TURNS: Mutex<()> = Mutex::new(());

fn sipp_through_trunkline(mode: Mode) {
    let _turn = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    let uas_port = free_port();
    let uas_addr: SocketAddr = format!("127.0.0.1:{uas_port}").parse().unwrap();
    let mut uas = Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &uas_port.to_string()])
        .args(["-nostdin", "-timeout", "120s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp is installed (Debian package sip-tester)");
    let router = start_router(Some(uas_addr), |c| c.proxy.mode = mode);
    let proxy = router.local_addrs()[0];
    let uac = Command::new("sipp")
        .arg(proxy.to_string())
        .args([
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-m", "5000", "-r", "500", "-nostdin", "-timeout", "90s"])
        .output()
        .expect("sipp runs");
    let _ = uas.kill();
    let _ = uas.wait();
    let reports = router.shutdown();
    let stdout = String::from_utf8_lossy(&uac.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("Successful call") || l.contains("Failed call"))
        .collect();
    assert_eq!(
        uac.status.code(),
        Some(0),
        "SIPp uac exit status (0: every call succeeded); {summary:?}\n{}",
        String::from_utf8_lossy(&uac.stderr)
    );
    let ok_line = summary
        .iter()
        .find(|l| l.contains("Successful call"))
        .expect("summary");
    assert!(ok_line.trim_end().ends_with("5000"), "{ok_line}");
    let invalid: u64 = reports
        .iter()
        .map(|r| r.counters.invalid + r.counters.parse_errors)
        .sum();
    assert_eq!(invalid, 0, "{reports:?}");
    let forwarded: u64 = reports.iter().map(|r| r.counters.requests_forwarded).sum();
    assert!(
        forwarded >= 15_000,
        "INVITE, ACK and BYE of 5000 calls: {reports:?}"
    );
}

#[test]
#[ignore = "needs sipp"]
fn sipp_uac_to_sipp_uas_stateful() {
    sipp_through_trunkline(Mode::Stateful);
}

#[test]
#[ignore = "needs sipp"]
fn sipp_uac_to_sipp_uas_stateless() {
    sipp_through_trunkline(Mode::Stateless);
}
