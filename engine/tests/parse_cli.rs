//! `trunkline parse` as operators use it: files in, JSON lines out, exit
//! status 0 only when every message is valid.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

fn trunkline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trunkline"))
}

fn parser_tests(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../parser/tests")
        .join(sub)
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn valid_corpus_prints_one_line_each_and_exits_0() {
    let files: Vec<PathBuf> = std::fs::read_dir(parser_tests("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = trunkline().arg("parse").args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports = lines(&out.stdout);
    assert_eq!(reports.len(), files.len());
    let invite = reports
        .iter()
        .find(|r| r["file"].as_str().unwrap().ends_with("invite-carrier.sip"))
        .unwrap();
    assert_eq!(invite["valid"], true);
    assert_eq!(invite["kind"], "request");
    assert_eq!(invite["method"], "INVITE");
    assert_eq!(
        invite["request_uri"],
        "sip:+442071234567@198.51.100.20:5060;user=phone"
    );
    assert_eq!(
        invite["call_id"],
        "3c26700b4a1b4d1c8e3a2b9f0d7e6c5a@203.0.113.10"
    );
    assert_eq!(invite["cseq"]["seq"], 102);
    assert_eq!(invite["cseq"]["method"], "INVITE");
    assert_eq!(invite["via"]["branch"], "z9hG4bK-524287-1---7b1c3e2f9a");
    assert_eq!(invite["via"]["sent_by"], "203.0.113.10:5060");
    assert_eq!(invite["from"]["tag"], "as5f1d2e");
    assert_eq!(invite["to"]["tag"], Value::Null);
    assert_eq!(invite["headers"], 16);
    assert_eq!(invite["body_len"], 285);
    let ok = reports
        .iter()
        .find(|r| r["file"].as_str().unwrap().ends_with("ok-200-invite.sip"))
        .unwrap();
    assert_eq!(ok["kind"], "response");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["to"]["tag"], "8321234356");
}

#[test]
fn invalid_message_reports_the_error_and_exits_1() {
    let bad = parser_tests("torture/invalid-bad_cseq-overlarge-request.sip");
    let good = parser_tests("corpus/bye.sip");
    let out = trunkline()
        .arg("parse")
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let reports = lines(&out.stdout);
    assert_eq!(reports[0]["valid"], true);
    let e = &reports[1];
    assert_eq!(e["valid"], false);
    assert_eq!(e["error"]["kind"], "bad_cseq");
    assert_eq!(e["error"]["header"], "CSeq");
    assert!(e["error"]["offset"].as_u64().unwrap() > 0);
    assert_eq!(e["response"]["status"], 400);
    assert_eq!(e["response"]["reason"], "Bad CSeq");

    // A broken response is dropped, not answered.
    let bad = parser_tests("torture/invalid-bad_status_code-overlarge.sip");
    let out = trunkline().arg("parse").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out.stdout)[0]["response"], Value::Null);

    let bad = parser_tests("torture/invalid-unsupported_version-sip-7.sip");
    let out = trunkline().arg("parse").arg(&bad).output().unwrap();
    assert_eq!(lines(&out.stdout)[0]["response"]["status"], 505);
}

#[test]
fn reads_stdin_and_reports_unreadable_files() {
    let mut child = trunkline()
        .args(["parse", "-", "/nonexistent/message.sip"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let msg = std::fs::read(parser_tests("corpus/options-ping.sip")).unwrap();
    child.stdin.take().unwrap().write_all(&msg).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let reports = lines(&out.stdout);
    assert_eq!(reports[0]["file"], "-");
    assert_eq!(reports[0]["method"], "OPTIONS");
    assert_eq!(reports[1]["valid"], false);
    assert!(reports[1]["io_error"].is_string());
}

#[test]
fn trailing_datagram_octets_are_reported() {
    let f = parser_tests("torture/valid-trailing-octets-in-datagram.sip");
    let out = trunkline().arg("parse").arg(&f).output().unwrap();
    assert!(out.status.success());
    let r = &lines(&out.stdout)[0];
    assert_eq!(r["body_len"], 0);
    assert!(r["trailing"].as_u64().unwrap() > 0);
}
