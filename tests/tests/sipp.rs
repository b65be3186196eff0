//! Interop with real SIPp (Debian package `sip-tester`; CI installs it):
//! `sipp -sn uac` → trunkline → `sipp -sn uas`, 5000 calls at 500 calls/s,
//! stateful and stateless, with zero failed calls.

use trunkline_engine::proxy::Mode;
use trunkline_engine::testkit::sipp::{sipp, turn};
use trunkline_tests::start_router;

/// The two runs take turns ([`turn`]): a port found free is only free
/// until something binds it, and the other run's router and SIPps bind
/// ports of their own meanwhile (CI once saw SIPp's `-p` port taken).
fn sipp_through_trunkline(mode: Mode) {
    let _turn = turn();
    let uas = sipp(&["-sn", "uas", "-timeout", "120s"]).spawn();
    let uas_addr = uas.addr;
    let router = start_router(Some(uas_addr), |c| c.proxy.mode = mode);
    let proxy = router.local_addrs()[0];
    let uac = sipp(&[&proxy.to_string(), "-sn", "uac", "-m", "5000", "-r", "500"])
        .timeout("90s")
        .run();
    drop(uas);
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
