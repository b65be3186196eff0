//! `examples/calls.toml` as a carrier runs it (copied into a temporary
//! directory, where its relative `[cdr] path` lands): a call through it
//! gets its CDR line once the router stops; the customer's limits are
//! what the file says. The SIPp runs are in `calls_sipp.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use trunkline_engine::cdr::{Cdr, Hangup};
use trunkline_engine::config::Config;
use trunkline_engine::testkit::Peer;
use trunkline_engine::testkit::process::RunningRouter;
use trunkline_engine::testkit::sip::{UacCall, respond};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/calls.toml");

#[test]
fn the_example_says_what_the_readme_says() {
    let c = Config::load(Path::new(EXAMPLE)).unwrap_or_else(|e| panic!("{e}"));
    let d = c.proxy.dialogs.expect("calls tracked");
    assert_eq!(d.table.max_duration, Some(Duration::from_secs(7200)));
    assert!(d.check && d.cdr);
    assert!(c.cdr.path.as_ref().unwrap().ends_with("examples/cdr"));
    assert_eq!(c.call_limits.len(), 2);
    assert_eq!(c.call_limits[0].key, "group:retail");
    assert_eq!(c.call_limits[0].concurrent, Some(200));
}

#[test]
fn a_call_through_the_example_gets_its_cdr() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("calls.toml");
    std::fs::copy(EXAMPLE, &config).unwrap();
    // The control socket, for the NOC's view of the limits.
    let control = dir.path().join("control.sock");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = format!("control = {:?}\n{text}", control.to_str().unwrap());
    std::fs::write(&config, text).unwrap();
    let uas = Peer::new();
    let mut r =
        RunningRouter::configured(env!("CARGO_BIN_EXE_trunkline").as_ref(), &config, uas.addr);
    let uac = Peer::new();
    let c = UacCall::new(uac.addr, &format!("sip:bob@{}", r.addr), "cli-cdr-1");
    uac.send(r.addr, &c.invite("z9hG4bKc1"));
    let inv = uas.expect("INVITE ");
    uas.send(
        r.addr,
        &respond(&inv, 200, "OK", Some("b1"), Some(uas.addr)),
    );
    uac.expect_skipping("SIP/2.0 200", &["SIP/2.0 100"], Duration::from_secs(2));
    // The NOC's view: the customer's limit holds the call.
    let ctl = std::process::Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args(["ctl", "--control", control.to_str().unwrap(), "limits"])
        .output()
        .unwrap();
    let limits = String::from_utf8_lossy(&ctl.stdout);
    assert!(
        ctl.status.success(),
        "{limits} {}",
        String::from_utf8_lossy(&ctl.stderr)
    );
    assert_eq!(
        limits.lines().next(),
        Some("group:retail concurrent=1/200 cps_limit=20 admitted=1 refused=0"),
        "{limits}"
    );
    let route = format!("<sip:{};lr>", r.addr);
    let mut bye = c.request("BYE", 2, "z9hG4bKb1", Some("b1"), Some(&route));
    bye = bye.replacen(
        &format!("BYE {} ", c.target),
        &format!("BYE sip:uas@{} ", uas.addr),
        1,
    );
    uac.send(r.addr, &bye);
    let bye = uas.expect("BYE ");
    uas.send(r.addr, &respond(&bye, 200, "OK", None, None));
    uac.expect("SIP/2.0 200");
    // SIGTERM: the router stops, its CDR writer closes the file.
    r.signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the router did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let files: Vec<_> = std::fs::read_dir(dir.path().join("cdr"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_string_lossy().ends_with(".jsonl"), "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let cdrs: Vec<Cdr> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cdrs.len(), 1, "{text}");
    let cdr = &cdrs[0];
    assert_eq!(cdr.call_id, "cli-cdr-1");
    assert_eq!(cdr.group.as_deref(), Some("retail"));
    assert_eq!(
        (cdr.hangup, cdr.cause.as_str(), cdr.sip_code),
        (Hangup::Caller, "normal", 200)
    );
    assert_eq!(cdr.source, uac.addr.to_string());
    assert!(cdr.answer_ms.is_some() && cdr.end_ms >= cdr.answer_ms.unwrap());
}
