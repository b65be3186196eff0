//! Golden tests against the real SIPp (Debian package `sip-tester`; CI
//! installs it): trunkload and SIPp place and answer each other's calls,
//! send the same bytes for the built-in scenarios, write the same CSV
//! header and exit with the same codes (the minimal compatibility of
//! `docs/sipp/compat.md` §0).
//!
//! Each test needs `sipp` on the PATH and fails (never skips) without it.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{free_port, scratch, spawn, summary_count, text, trunkload, wait};

fn sipp(dir: &Path) -> Command {
    let mut c = Command::new("sipp");
    c.current_dir(dir).stdin(Stdio::null());
    c
}

/// `sipp` or `trunkload`, in `dir`.
fn driver_cmd(driver: &str, dir: &Path) -> Command {
    if driver == "sipp" {
        sipp(dir)
    } else {
        trunkload(dir)
    }
}

/// A real `sipp -sn uas` for `calls` calls on a free port, given time to
/// bind; returns it and its port.
fn sipp_uas(dir: &Path, calls: u32, timeout: &str) -> (Child, u16) {
    let port = free_port();
    let mut s = sipp(dir);
    s.args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &calls.to_string(), "-timeout", timeout, "-nostdin"]);
    let uas = spawn(s);
    std::thread::sleep(Duration::from_millis(300));
    (uas, port)
}

const CALLS: &str = "1000";

fn uas_args(c: &mut Command, port: u16, extra: &[&str]) {
    c.args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", CALLS, "-timeout", "60s", "-nostdin"])
        .args(extra);
}

fn uac_args(c: &mut Command, uas: u16, port: u16, extra: &[&str]) {
    c.arg(format!("127.0.0.1:{uas}"))
        .args(["-sn", "uac", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", CALLS, "-r", "200", "-timeout", "60s", "-nostdin"])
        .args(extra);
}

#[test]
#[ignore = "needs sipp"]
fn trunkload_uac_to_sipp_uas() {
    let dir = scratch("uac");
    let uas_port = free_port();
    let mut s = sipp(&dir);
    uas_args(&mut s, uas_port, &[]);
    let uas = spawn(s);
    std::thread::sleep(Duration::from_millis(300));
    let mut t = trunkload(&dir);
    uac_args(&mut t, uas_port, free_port(), &[]);
    let uac = wait(spawn(t), Duration::from_secs(90));
    let uas = wait(uas, Duration::from_secs(30));
    assert_eq!(uac.status.code(), Some(0), "trunkload uac: {}", text(&uac));
    assert_eq!(
        summary_count(&uac, "Successful call"),
        Some(1000),
        "{}",
        text(&uac)
    );
    assert_eq!(
        summary_count(&uac, "Failed call"),
        Some(0),
        "{}",
        text(&uac)
    );
    assert_eq!(uas.status.code(), Some(0), "sipp uas: {}", text(&uas));
    assert_eq!(
        summary_count(&uas, "Successful call"),
        Some(1000),
        "{}",
        text(&uas)
    );
}

#[test]
#[ignore = "needs sipp"]
fn sipp_uac_to_trunkload_uas() {
    let dir = scratch("uas");
    let uas_port = free_port();
    let mut t = trunkload(&dir);
    uas_args(&mut t, uas_port, &[]);
    let uas = spawn(t);
    std::thread::sleep(Duration::from_millis(300));
    let mut s = sipp(&dir);
    uac_args(&mut s, uas_port, free_port(), &[]);
    let uac = wait(spawn(s), Duration::from_secs(90));
    let uas = wait(uas, Duration::from_secs(30));
    assert_eq!(uac.status.code(), Some(0), "sipp uac: {}", text(&uac));
    assert_eq!(
        summary_count(&uac, "Successful call"),
        Some(1000),
        "{}",
        text(&uac)
    );
    assert_eq!(uas.status.code(), Some(0), "trunkload uas: {}", text(&uas));
    assert_eq!(
        summary_count(&uas, "Successful call"),
        Some(1000),
        "{}",
        text(&uas)
    );
    assert_eq!(
        summary_count(&uas, "Failed call"),
        Some(0),
        "{}",
        text(&uas)
    );
}

/// The messages a `-trace_msg` log says were sent, in order.
fn sent_messages(log: &Path) -> Vec<String> {
    let s = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    s.split("----------------------------------------------- ")
        .filter(|e| e.lines().nth(1).is_some_and(|l| l.contains("message sent")))
        .map(|e| {
            let body = e.split_once("\n\n").map_or("", |(_, b)| b);
            body.trim_end_matches('\n').to_string()
        })
        .collect()
}

/// Replaces what differs between runs: the pids, the ports and the media
/// port.
fn normalise(msg: &str, pids: &[u32], ports: &[u16]) -> String {
    let mut m = msg.to_string();
    for p in ports {
        m = m.replace(&format!(":{p}"), ":PORT");
    }
    for pid in pids {
        m = m.replace(&pid.to_string(), "PID");
    }
    let mut out = String::with_capacity(m.len());
    for line in m.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("m=audio ") {
            let tail = rest.split_once(' ').map_or("", |(_, t)| t);
            out.push_str("m=audio MPORT ");
            out.push_str(tail);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// One call of the built-in uac against a SIPp uas, by `driver`; returns
/// the sent messages normalised, and those the uas sent.
fn one_call(driver: &str, dir: &Path) -> (Vec<String>, Vec<String>) {
    let uas_port = free_port();
    let uac_port = free_port();
    let uas_log = dir.join(format!("{driver}-uas.log"));
    let uac_log = dir.join(format!("{driver}-uac.log"));
    let mut s = sipp(dir);
    s.args(["-sn", "uas", "-i", "127.0.0.1", "-p", &uas_port.to_string()])
        .args([
            "-m",
            "1",
            "-timeout",
            "20s",
            "-nostdin",
            "-trace_msg",
            "-message_file",
        ])
        .arg(&uas_log);
    let uas = spawn(s);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = driver_cmd(driver, dir);
    c.arg(format!("127.0.0.1:{uas_port}"))
        .args(["-sn", "uac", "-i", "127.0.0.1", "-p", &uac_port.to_string()])
        .args([
            "-m",
            "1",
            "-timeout",
            "20s",
            "-nostdin",
            "-trace_msg",
            "-message_file",
        ])
        .arg(&uac_log);
    let uac_child = spawn(c);
    let uac_pid = uac_child.id();
    let uas_pid = uas.id();
    let uac = wait(uac_child, Duration::from_secs(30));
    let uas = wait(uas, Duration::from_secs(30));
    assert_eq!(uac.status.code(), Some(0), "{driver} uac: {}", text(&uac));
    assert_eq!(uas.status.code(), Some(0), "sipp uas: {}", text(&uas));
    let pids = [uac_pid, uas_pid];
    let ports = [uas_port, uac_port];
    let norm = |v: Vec<String>| v.iter().map(|m| normalise(m, &pids, &ports)).collect();
    (norm(sent_messages(&uac_log)), norm(sent_messages(&uas_log)))
}

#[test]
#[ignore = "needs sipp"]
fn uac_wire_bytes_match_sipp() {
    let dir = scratch("wire-uac");
    let (sipp_sent, _) = one_call("sipp", &dir);
    let (ours, _) = one_call("trunkload", &dir);
    assert_eq!(sipp_sent.len(), 3, "INVITE, ACK, BYE: {sipp_sent:#?}");
    assert_eq!(ours, sipp_sent);
}

/// One call of a SIPp uac against the built-in uas run by `driver`;
/// returns what the uas sent, normalised.
fn one_answer(driver: &str, dir: &Path) -> Vec<String> {
    let uas_port = free_port();
    let uac_port = free_port();
    let uas_log = dir.join(format!("{driver}-answer.log"));
    let mut c = driver_cmd(driver, dir);
    c.args(["-sn", "uas", "-i", "127.0.0.1", "-p", &uas_port.to_string()])
        .args([
            "-m",
            "1",
            "-timeout",
            "20s",
            "-nostdin",
            "-trace_msg",
            "-message_file",
        ])
        .arg(&uas_log);
    let uas = spawn(c);
    std::thread::sleep(Duration::from_millis(300));
    let mut s = sipp(dir);
    s.arg(format!("127.0.0.1:{uas_port}"))
        .args(["-sn", "uac", "-i", "127.0.0.1", "-p", &uac_port.to_string()])
        .args(["-m", "1", "-timeout", "20s", "-nostdin"]);
    let uac_child = spawn(s);
    let pids = [uac_child.id(), uas.id()];
    let uac = wait(uac_child, Duration::from_secs(30));
    let uas = wait(uas, Duration::from_secs(30));
    assert_eq!(uac.status.code(), Some(0), "sipp uac: {}", text(&uac));
    assert_eq!(uas.status.code(), Some(0), "{driver} uas: {}", text(&uas));
    let ports = [uas_port, uac_port];
    sent_messages(&uas_log)
        .iter()
        .map(|m| normalise(m, &pids, &ports))
        .collect()
}

#[test]
#[ignore = "needs sipp"]
fn uas_wire_bytes_match_sipp() {
    let dir = scratch("wire-uas");
    let theirs = one_answer("sipp", &dir);
    let ours = one_answer("trunkload", &dir);
    assert_eq!(theirs.len(), 3, "180, 200, 200 to BYE: {theirs:#?}");
    assert_eq!(ours, theirs);
}

/// A 10-call `-sn uac` run of `driver` (in `dir`) against SIPp's uas,
/// with `extra` arguments; its output.
fn ten_uac_calls(driver: &str, dir: &Path, timeout: &str, extra: &[&std::ffi::OsStr]) -> Output {
    let (uas, uas_port) = sipp_uas(dir, 10, timeout);
    let mut c = driver_cmd(driver, dir);
    c.arg(format!("127.0.0.1:{uas_port}"))
        .args(["-sn", "uac", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-m", "10", "-r", "50", "-timeout", timeout, "-nostdin"])
        .args(extra);
    let uac = wait(spawn(c), Duration::from_secs(30));
    let _ = wait(uas, Duration::from_secs(30));
    uac
}

/// The first line of the `-trace_stat` file of a 10-call uac run.
fn stat_header(driver: &str, dir: &Path) -> String {
    let stf = dir.join(format!("{driver}.csv"));
    let flags = ["-trace_stat".as_ref(), "-stf".as_ref(), stf.as_os_str()];
    let uac = ten_uac_calls(driver, dir, "20s", &flags);
    assert_eq!(uac.status.code(), Some(0), "{driver}: {}", text(&uac));
    let csv = std::fs::read_to_string(&stf).unwrap_or_else(|e| panic!("{}: {e}", stf.display()));
    csv.lines().next().unwrap_or_default().to_string()
}

#[test]
#[ignore = "needs sipp"]
fn stat_csv_header_matches_sipp() {
    let dir = scratch("csv");
    let theirs = stat_header("sipp", &dir);
    let ours = stat_header("trunkload", &dir);
    assert!(theirs.starts_with("StartTime;"), "{theirs}");
    assert_eq!(ours, theirs);
}

/// The first line of the `-trace_counts` file of a 10-call uac run with
/// `-lost 5` (loss emulation adds Lost columns).
fn lossy_counts_header(driver: &str, dir: &Path) -> String {
    let dir = dir.join(driver);
    std::fs::create_dir_all(&dir).unwrap();
    let flags = ["-lost".as_ref(), "5".as_ref(), "-trace_counts".as_ref()];
    // Losses may fail a call: the exit code is not the point here.
    let _ = ten_uac_calls(driver, &dir, "10s", &flags);
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_counts.csv"))
        .unwrap_or_else(|| panic!("{driver}: no counts file in {}", dir.display()));
    let csv = std::fs::read_to_string(&file).unwrap();
    csv.lines().next().unwrap_or_default().to_string()
}

#[test]
#[ignore = "needs sipp"]
fn lost_counts_header_matches_sipp() {
    let dir = scratch("lost");
    let theirs = lossy_counts_header("sipp", &dir);
    let ours = lossy_counts_header("trunkload", &dir);
    assert!(theirs.contains("0_INVITE_Lost;"), "{theirs}");
    assert_eq!(ours, theirs);
}

/// Runs both binaries with `args` (in `dir`), one after the other, and
/// returns their outputs.
fn both(dir: &Path, args: &[&str]) -> (Output, Output) {
    let mut s = sipp(dir);
    s.args(args);
    let s = wait(spawn(s), Duration::from_secs(30));
    let mut t = trunkload(dir);
    t.args(args);
    (s, wait(spawn(t), Duration::from_secs(30)))
}

#[test]
#[ignore = "needs sipp"]
fn exit_codes_match_sipp() {
    let dir = scratch("exit");
    // -sd: the scenario on stdout, exit 99.
    for name in ["uac", "uas", "regexp", "branchc", "branchs", "ooc_default"] {
        let (s, t) = both(&dir, &["-sd", name]);
        assert_eq!(s.status.code(), Some(99), "sipp -sd {name}");
        assert_eq!(t.status.code(), s.status.code(), "-sd {name}: {}", text(&t));
        assert_eq!(t.stdout, s.stdout, "-sd {name}");
    }
    // A call that fails: nobody answers, no retransmissions, 1 s timeout.
    let dead = format!("127.0.0.1:{}", free_port());
    let fail = [
        dead.as_str(),
        "-sn",
        "uac",
        "-i",
        "127.0.0.1",
        "-m",
        "1",
        "-nr",
        "-recv_timeout",
        "1000",
        "-nostdin",
    ];
    let (s, t) = both(&dir, &fail);
    assert_eq!(s.status.code(), Some(1), "sipp: {}", text(&s));
    assert_eq!(t.status.code(), Some(1), "trunkload: {}", text(&t));
    // A scenario with an unknown element.
    let bad = dir.join("bad.xml");
    std::fs::write(
        &bad,
        "<?xml version=\"1.0\"?>\n<scenario name=\"bad\">\n  <sned><![CDATA[x]]></sned>\n</scenario>\n",
    )
    .unwrap();
    let bad = bad.to_string_lossy().into_owned();
    let (s, t) = both(
        &dir,
        &["127.0.0.1:5999", "-sf", &bad, "-m", "1", "-nostdin"],
    );
    assert_eq!(
        t.status.code(),
        s.status.code(),
        "sipp: {}\ntrunkload: {}",
        text(&s),
        text(&t)
    );
    assert!(
        String::from_utf8_lossy(&t.stderr).contains("bad.xml:3"),
        "the error names the file and line: {}",
        text(&t)
    );
}

/// SIPp's built-in uac with explicit transactions
/// (`common::uac_with_transactions`), from `sipp -sd uac`, written into
/// `dir`.
fn uac_with_transactions(dir: &Path) -> std::path::PathBuf {
    let o = sipp(dir)
        .args(["-sd", "uac"])
        .output()
        .expect("sipp -sd uac");
    let out =
        common::uac_with_transactions(&String::from_utf8_lossy(&o.stdout), Some("bye"), "bye");
    let path = dir.join("uac-txn.xml");
    std::fs::write(&path, out).unwrap();
    path
}

/// The same scenario with explicit transactions, placed by SIPp and by
/// trunkload against a SIPp uas: 200 calls each, none failed.
#[test]
#[ignore = "needs sipp"]
fn explicit_transactions_run_like_sipps() {
    let dir = scratch("txn");
    let scenario = uac_with_transactions(&dir);
    for driver in ["sipp", "trunkload"] {
        let (uas, uas_port) = sipp_uas(&dir, 200, "60s");
        let mut c = driver_cmd(driver, &dir);
        c.arg(format!("127.0.0.1:{uas_port}"))
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
            .args(["-m", "200", "-r", "200", "-timeout", "60s", "-nostdin"]);
        let uac = wait(spawn(c), Duration::from_secs(90));
        let uas = wait(uas, Duration::from_secs(30));
        assert_eq!(uac.status.code(), Some(0), "{driver} uac: {}", text(&uac));
        assert_eq!(
            summary_count(&uac, "Successful call"),
            Some(200),
            "{driver}: {}",
            text(&uac)
        );
        assert_eq!(
            summary_count(&uac, "Failed call"),
            Some(0),
            "{driver}: {}",
            text(&uac)
        );
        assert_eq!(
            uas.status.code(),
            Some(0),
            "sipp uas for {driver}: {}",
            text(&uas)
        );
    }
}

/// A REGISTER challenged with 401 and resent with `[authentication]`:
/// SIPp's own `verifyauth` (as uas) accepts every one of trunkload's
/// digests (qop=auth, nc, cnonce), and a wrong password is refused; then
/// the other way round, trunkload's `verifyauth` judges SIPp's digests
/// the same way.
#[test]
#[ignore = "needs sipp"]
fn digest_authentication_passes_sipps_verifyauth() {
    let dir = scratch("auth");
    let uas_xml = dir.join("challenge.xml");
    std::fs::write(
        &uas_xml,
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="challenge">
  <recv request="REGISTER"/>
  <send><![CDATA[

      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="test.example", nonce="47ebe028cda119c35d4877b383027d28", qop="auth", opaque="0pq"
      Content-Length: 0

    ]]>
  </send>
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="ok" username="alice" password="s3cret"/>
    </action>
  </recv>
  <nop next="good" test="ok"/>
  <send next="end"><![CDATA[

      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="good"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="end"/>
</scenario>
"#,
    )
    .unwrap();
    let uac_xml = dir.join("register.xml");
    let uac = |password: &str| {
        format!(
            r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[

      REGISTER sip:[remote_ip] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:alice@[remote_ip]>;tag=[call_number]
      To: <sip:alice@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      Expires: 3600
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[

      REGISTER sip:[remote_ip] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:alice@[remote_ip]>;tag=[call_number]
      To: <sip:alice@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:alice@[local_ip]:[local_port]>
      [authentication username=alice password={password}]
      Max-Forwards: 70
      Expires: 3600
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#
        )
    };
    for uac_is_trunkload in [true, false] {
        for (password, calls, want_ok) in [("s3cret", 20, 20), ("wrong", 3, 0)] {
            std::fs::write(&uac_xml, uac(password)).unwrap();
            let uas_port = free_port();
            let (mut uas, mut uac) = if uac_is_trunkload {
                (sipp(&dir), trunkload(&dir))
            } else {
                (trunkload(&dir), sipp(&dir))
            };
            uas.arg("-sf")
                .arg(&uas_xml)
                .args(["-i", "127.0.0.1", "-p", &uas_port.to_string()])
                .args(["-m", &calls.to_string(), "-timeout", "20s", "-nostdin"]);
            let uas = spawn(uas);
            std::thread::sleep(Duration::from_millis(300));
            uac.arg(format!("127.0.0.1:{uas_port}"))
                .arg("-sf")
                .arg(&uac_xml)
                .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
                .args(["-m", &calls.to_string(), "-r", "50", "-timeout", "20s"])
                .args(["-nostdin"]);
            let c = wait(spawn(uac), Duration::from_secs(30));
            let s = wait(uas, Duration::from_secs(30));
            assert_eq!(
                summary_count(&c, "Successful call"),
                Some(want_ok),
                "uac is trunkload: {uac_is_trunkload}, password {password}: uac: {}\nuas: {}",
                text(&c),
                text(&s)
            );
        }
    }
}
