//! Helpers shared by the tests that run the `trunkload` binary (and SIPp).

#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The count on the final screen's "Successful call" / "Failed call"
/// line (cumulative column).
pub fn summary_count(o: &Output, what: &str) -> Option<u64> {
    let s = String::from_utf8_lossy(&o.stdout);
    let line = s.lines().rev().find(|l| l.contains(what))?;
    line.split('|').next_back()?.trim().parse().ok()
}

/// A UDP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh directory for one test's output files.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trunkload-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `trunkload`, run in `dir` with no stdin.
pub fn trunkload(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trunkload"));
    c.current_dir(dir).stdin(Stdio::null());
    c
}

/// Starts `c` with its output captured.
pub fn spawn(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns (sipp is Debian package sip-tester)")
}

/// Waits for `child` up to `limit`; kills it after that.
pub fn wait(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// SIPp's built-in uac (`xml`, as `-sd uac` prints it) with explicit
/// transactions: the INVITE starts `invite` and the BYE `bye_txn` (none:
/// a plain send), the INVITE's responses are taken only from `invite`, the
/// BYE's from `bye_response_txn`, and the ACK belongs to `invite`.
pub fn uac_with_transactions(xml: &str, bye_txn: Option<&str>, bye_response_txn: &str) -> String {
    let (mut sends, mut out) = (0, String::new());
    for line in xml.lines() {
        let mut l = line.to_string();
        if l.contains("<send retrans=\"500\">") {
            sends += 1;
            let txn = if sends == 1 { Some("invite") } else { bye_txn };
            if let Some(txn) = txn {
                l = l.replace(
                    "<send retrans=\"500\">",
                    &format!("<send retrans=\"500\" start_txn=\"{txn}\">"),
                );
            }
        } else if l.trim() == "<send>" {
            l = l.replace("<send>", "<send ack_txn=\"invite\">");
        } else if l.contains("<recv response=") {
            let txn = if sends == 1 {
                "invite"
            } else {
                bye_response_txn
            };
            l = l.replace("<recv ", &format!("<recv response_txn=\"{txn}\" "));
        }
        out.push_str(&l);
        out.push('\n');
    }
    assert_eq!(sends, 2, "two retransmitted sends in SIPp's uac");
    out
}
