//! Call control against SIPp over loopback (ignored by default; CI runs
//! them, `.ci/run` installs Debian `sip-tester`): a customer limit of 10
//! calls at once with SIPp offering 30, and the maximum call duration
//! ending 200 held calls with a BYE to both SIPp sides, their CDRs in
//! `[cdr] path`, one line per call.
//!
//! The tests take turns (one lock): they share the loopback and the CPUs.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use trunkline_engine::cdr::Cdr;
use trunkline_engine::testkit::process::{RunningRouter, read_cdrs, sipp_calls};
use trunkline_engine::testkit::sipp::{Sipp, message_logs, scenario, sipp, turn};

/// A SIPp uas for `calls` calls (it exits once they are done), with
/// `extra` options, in `dir` (where `-trace_msg` writes).
fn uas(dir: &Path, calls: u32, extra: &[&str]) -> Sipp {
    let uas = sipp(&["-sn", "uas", "-m", &calls.to_string(), "-timeout", "120s"])
        .args(&["-trace_screen", "-screen_file"])
        .args(&[dir.join("uas.screen").to_str().unwrap()])
        .args(extra)
        .in_dir(dir, "uas")
        .spawn();
    std::thread::sleep(Duration::from_millis(200));
    uas
}

fn sipp_uac(proxy: SocketAddr, extra: &[&str]) -> Output {
    sipp(&[&proxy.to_string()]).timeout("90s").args(extra).run()
}

/// `trunkline run` with `toml` (written into `dir`), to `to`.
fn router(dir: &Path, toml: &str, to: SocketAddr) -> RunningRouter {
    let config = dir.join("trunkline.toml");
    std::fs::write(&config, toml).unwrap();
    RunningRouter::configured(env!("CARGO_BIN_EXE_trunkline").as_ref(), &config, to)
}

/// The CDRs in the closed files of `dir`.
fn cdrs(dir: &Path) -> Vec<Cdr> {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        assert!(
            !p.to_string_lossy().ends_with(".part"),
            "a file left open: {}",
            p.display()
        );
    }
    read_cdrs(dir)
}

/// A customer (the group a policy rule gives 127.0.0.0/8) limited to 10
/// calls at once; SIPp offers 30 at once, each held 4 s: exactly 20 get
/// 503, the 10 admitted all complete.
#[test]
#[ignore = "needs sipp"]
fn a_customer_limit_of_10_refuses_exactly_the_excess() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let uas = uas(dir.path(), 10, &[]);
    let r = router(
        dir.path(),
        r#"
[[policy]]
name = "retail"
source = ["127.0.0.0/8"]
set_group = "retail"

[[limit]]
key = "group:retail"
concurrent = 10
"#,
        uas.addr,
    );
    let out = sipp_uac(
        r.addr,
        &["-sn", "uac", "-m", "30", "-r", "30", "-d", "4000"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(sipp_calls(&stdout), (10, 20), "{stdout}");
    let report = r.report(2);
    assert_eq!(report.sum("call_limited"), 20, "{report:?}");
    assert_eq!(report.sum("calls_started"), 10, "{report:?}");
    let uas_screen = uas.finish(Duration::from_secs(30));
    assert_eq!(sipp_calls(&uas_screen), (10, 0), "{uas_screen}");
    // Every slot came back.
    let limits = r.find_line(&report.1, "call limit");
    assert!(limits.contains("concurrent=0"), "{limits}");
}

/// `[dialogs] max_duration_s = 2` with SIPp holding each of 200 calls
/// for (up to) 15 s: the router sends BYE to both sides at 2 s, both
/// SIPp sides see their calls through, and `[cdr] path` gets one line
/// per call with cause `max-duration`.
#[test]
#[ignore = "needs sipp"]
fn the_maximum_duration_ends_200_calls_on_both_sides() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let cdr_dir = dir.path().join("cdr");
    let uas = uas(dir.path(), 200, &[]);
    let r = router(
        dir.path(),
        &format!(
            "[dialogs]\nmax_duration_s = 2\n\n[cdr]\npath = {:?}\n",
            cdr_dir.to_str().unwrap()
        ),
        uas.addr,
    );
    let scenario = scenario("uac_wait_bye.xml");
    let started = Instant::now();
    let out = sipp_uac(r.addr, &["-sf", &scenario, "-m", "200", "-r", "100"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(sipp_calls(&stdout), (200, 0), "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the calls lasted their hold time, not 2 s"
    );
    let uas_screen = uas.finish(Duration::from_secs(30));
    assert_eq!(sipp_calls(&uas_screen), (200, 0), "{uas_screen}");
    let report = r.report(2);
    assert_eq!(report.sum("max_duration_ends"), 200, "{report:?}");
    assert_eq!(report.sum("byes_sent"), 400, "{report:?}");
    r.stop();
    let records = cdrs(&cdr_dir);
    assert_eq!(records.len(), 200, "one line per call");
    let ids: HashSet<_> = records.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids.len(), 200, "each call once");
    for c in &records {
        assert_eq!(c.cause, "max-duration", "{c:?}");
        assert!((1990..=2500).contains(&c.duration_ms), "{c:?}");
        assert_eq!(c.sip_code, 200);
        assert!(c.answer_ms.is_some() && c.end_ms >= c.setup_ms);
    }
}

/// The messages SIPp logged with `-trace_msg` in `dir` (`<scenario>_<pid>_messages.log`).
fn trace(dir: &Path, scenario: &str) -> String {
    let text = message_logs(dir, &format!("{scenario}_"));
    assert!(
        !text.is_empty(),
        "no {scenario} message log in {}",
        dir.display()
    );
    text
}

/// `[topology_hiding] enabled = true` with 1000 SIPp calls: every call
/// completes, and neither side's messages (SIPp's -trace_msg) carry the
/// other side's port or Via branches.
#[test]
#[ignore = "needs sipp"]
fn topology_hiding_keeps_each_side_from_the_other() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let (uas_dir, uac_dir) = (dir.path().join("uas"), dir.path().join("uac"));
    std::fs::create_dir_all(&uas_dir).unwrap();
    std::fs::create_dir_all(&uac_dir).unwrap();
    let uas = uas(&uas_dir, 1000, &["-trace_msg"]);
    // flood_pps = 0: SIPp's 200 calls/s from one address are above the
    // flood defence's default per-source rate.
    let toml = "[topology_hiding]\nenabled = true\n\n[security]\nflood_pps = 0\n";
    let r = router(dir.path(), toml, uas.addr);
    let uac = sipp(&[&r.addr.to_string(), "-timeout", "90s", "-trace_msg"])
        .args(&["-sn", "uac", "-m", "1000", "-r", "200", "-d", "0"])
        .in_dir(&uac_dir, "uac");
    let uac_port = uac.addr().port();
    let out = uac.run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(sipp_calls(&stdout), (1000, 0), "{stdout}");
    let uas_port = uas.addr.port();
    let uas_screen = uas.finish(Duration::from_secs(30));
    assert_eq!(sipp_calls(&uas_screen), (1000, 0), "{uas_screen}");
    let (uac_log, uas_log) = (trace(&uac_dir, "uac"), trace(&uas_dir, "uas"));
    // What the UAC put in its Vias: `branch=z9hG4bK-PID-CALL-N`.
    let uac_branches: HashSet<&str> = uac_log
        .split("branch=")
        .skip(1)
        .filter_map(|s| s.split([';', '\r', '\n', ' ']).next())
        .filter(|b| b.starts_with("z9hG4bK-"))
        .collect();
    assert!(
        uac_branches.len() >= 1000,
        "{} branches",
        uac_branches.len()
    );
    let uac_at = format!(":{uac_port}");
    let uas_at = format!(":{uas_port}");
    assert!(uas_log.contains("INVITE sip:"), "the UAS got the calls");
    let leak = |log: &str, what: &str| log.lines().find(|l| l.contains(what)).map(str::to_string);
    assert_eq!(
        leak(&uas_log, &uac_at),
        None,
        "the UAC's port reached the UAS"
    );
    for b in &uac_branches {
        assert!(!uas_log.contains(b), "the UAC's branch {b} reached the UAS");
    }
    assert_eq!(
        leak(&uac_log, &uas_at),
        None,
        "the UAS's port reached the UAC"
    );
}
