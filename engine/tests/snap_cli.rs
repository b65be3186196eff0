//! `trunkline snap …` as operators use it: gen → build → inspect, lookup,
//! diff and verify, and the exit status 1 on every error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trunkline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(args: &[&str]) -> String {
    let out = trunkline(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

fn fails(args: &[&str]) -> String {
    let out = trunkline(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Generates a deck in `dir/name` and builds `dir/name.snap`.
fn gen_and_build(dir: &Path, name: &str, seed: &str) -> PathBuf {
    let deck = dir.join(name);
    ok(&[
        "snap",
        "gen",
        "--rules",
        "5000",
        "--gateways",
        "40",
        "--seed",
        seed,
        "-o",
        s(&deck),
    ]);
    let snap = dir.join(format!("{name}.snap"));
    let out = ok(&[
        "snap",
        "build",
        "--gateways",
        s(&deck.join("gateways.csv")),
        "--carriers",
        s(&deck.join("carriers.csv")),
        "--rules",
        s(&deck.join("rules.csv")),
        "--dialplan",
        s(&deck.join("dialplan.csv")),
        "--acl",
        s(&deck.join("acl.csv")),
        "-o",
        s(&snap),
    ]);
    assert!(out.contains("5000 rules"), "{out}");
    snap
}

#[test]
fn gen_build_inspect_verify() {
    let dir = tempfile::tempdir().unwrap();
    let snap = gen_and_build(dir.path(), "a", "1");
    let out = ok(&["snap", "inspect", s(&snap)]);
    for want in [
        "format version: 5",
        "rules: 5000",
        "gateways: 40",
        "carriers: 10",
        "groups: 3 (premium, retail, wholesale)",
        "dialplan rules: 6",
        "acl entries: 7",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let out = ok(&["snap", "verify", s(&snap)]);
    assert!(out.contains(": ok (5000 rules"), "{out}");
}

#[test]
fn lookup_applies_dialplan_and_lists_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let snap = gen_and_build(dir.path(), "a", "1");
    let out = ok(&[
        "snap",
        "lookup",
        s(&snap),
        "--group",
        "retail",
        "--at",
        "mon 10:00",
        "0044207946000",
    ]);
    assert!(
        out.contains("dialplan: line 2 prefix \"00\" -> \"+\": +44207946000"),
        "{out}"
    );
    assert!(out.contains("rule: line "), "{out}");
    assert!(out.contains("retail +44"), "{out}");
    assert!(out.contains("gateways:\n  1. gw"), "{out}");
    // The group from the source address (acl.csv: 172.17.0.0/16 → wholesale).
    let out = ok(&[
        "snap",
        "lookup",
        s(&snap),
        "--source",
        "172.17.9.9",
        "--at",
        "tue 03:00",
        "0049301234567",
    ]);
    assert!(out.contains("group: wholesale"), "{out}");
    assert!(
        out.contains("dialplan: line 6 prefix \"00\" -> \"\": 49301234567"),
        "{out}"
    );
    let err = fails(&["snap", "lookup", s(&snap), "--group", "retail", "+999"]);
    assert!(err.contains("no route for +999"), "{err}");
    let err = fails(&["snap", "lookup", s(&snap), "--group", "nope", "+44"]);
    assert!(err.contains("no routing group `nope`"), "{err}");
}

#[test]
fn diff_reports_rules_and_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let a = gen_and_build(dir.path(), "a", "1");
    let out = ok(&["snap", "diff", s(&a), s(&a)]);
    assert_eq!(
        out,
        "rules: 0 added, 0 removed, 0 changed; gateways: 0 changed; carriers: 0 changed\n"
    );
    // Edit the deck: drop a rule, change one, add one, change a gateway.
    let deck = dir.path().join("a");
    let rules = std::fs::read_to_string(deck.join("rules.csv")).unwrap();
    let mut lines: Vec<String> = rules.lines().map(String::from).collect();
    let removed = lines.remove(5);
    lines[6] = lines[6].replacen(",10,", ",10,changed", 1);
    lines.push("retail,+999,gw00001,,10,".into());
    std::fs::write(deck.join("rules.csv"), lines.join("\n") + "\n").unwrap();
    let gws = std::fs::read_to_string(deck.join("gateways.csv")).unwrap();
    std::fs::write(
        deck.join("gateways.csv"),
        gws.replacen("10.0.0.2:", "10.9.9.2:", 1),
    )
    .unwrap();
    let b = dir.path().join("b.snap");
    ok(&[
        "snap",
        "build",
        "--gateways",
        s(&deck.join("gateways.csv")),
        "--carriers",
        s(&deck.join("carriers.csv")),
        "--rules",
        s(&deck.join("rules.csv")),
        "-o",
        s(&b),
    ]);
    let out = ok(&["snap", "diff", s(&a), s(&b)]);
    assert!(
        out.ends_with(
            "rules: 1 added, 1 removed, 1 changed; gateways: 1 changed; carriers: 0 changed\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("+ rule retail +999 priority 10 -> gw00001"),
        "{out}"
    );
    let prefix = removed.split(',').nth(1).unwrap();
    assert!(
        out.contains(&format!(
            "- rule {} {prefix} ",
            removed.split(',').next().unwrap()
        )),
        "{removed}\n{out}"
    );
    assert!(out.contains("attrs \"changed"), "{out}");
    assert!(out.contains("~ gateway gw00002 10.0.0.2:"), "{out}");
    let out = ok(&["snap", "diff", "--summary", s(&a), s(&b)]);
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn build_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let gw = dir.path().join("gw.csv");
    let rules = dir.path().join("rules.csv");
    std::fs::write(&gw, "id,address\ngw1,10.0.0.1\n").unwrap();
    std::fs::write(
        &rules,
        "group,prefix,targets\na,+44,gw1\na,+4x,gw1\na,1,gw9\na,+44,gw1\n",
    )
    .unwrap();
    let out = dir.path().join("t.snap");
    let err = fails(&[
        "snap",
        "build",
        "--gateways",
        s(&gw),
        "--rules",
        s(&rules),
        "-o",
        s(&out),
    ]);
    let r = s(&rules);
    assert!(err.contains(&format!("{r}:3: column `prefix`")), "{err}");
    assert!(
        err.contains(&format!("{r}:4: unknown target `gw9`")),
        "{err}"
    );
    assert!(err.contains(&format!("{r}:5: duplicate rule")), "{err}");
    assert!(!out.exists(), "nothing written on error");
    let err = fails(&[
        "snap",
        "build",
        "--gateways",
        s(&dir.path().join("none.csv")),
        "--rules",
        s(&rules),
        "-o",
        s(&out),
    ]);
    assert!(err.contains("none.csv:0: cannot read"), "{err}");
}

#[test]
fn verify_refuses_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let snap = gen_and_build(dir.path(), "a", "1");
    let bytes = std::fs::read(&snap).unwrap();
    let flipped = dir.path().join("flipped.snap");
    let mut b = bytes.clone();
    b[bytes.len() / 3] ^= 0x10;
    std::fs::write(&flipped, &b).unwrap();
    let err = fails(&["snap", "verify", s(&flipped)]);
    assert!(
        err.contains("flipped.snap: bytes 64..") && err.contains("body checksum mismatch"),
        "{err}"
    );
    let truncated = dir.path().join("truncated.snap");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1]).unwrap();
    let err = fails(&["snap", "verify", s(&snap), s(&truncated)]);
    assert!(err.contains("truncated.snap: byte"), "{err}");
    let err = fails(&["snap", "inspect", s(&truncated)]);
    assert!(err.contains("truncated or extended"), "{err}");
    let err = fails(&["snap", "lookup", s(&truncated), "--group", "retail", "+44"]);
    assert!(err.contains("truncated or extended"), "{err}");
}

/// `snap push` swaps the table of a running router through its control
/// socket; a damaged file is refused and the table in service stays.
#[test]
fn push_swaps_the_table_of_a_running_router() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = gen_and_build(dir, "a", "1");
    let b = gen_and_build(dir, "b", "2");
    let sock = dir.join("control.sock");
    let mut router = Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args(["run", "--listen", "127.0.0.1:0", "--shards", "1"])
        .args(["--table", s(&a), "--control", s(&sock)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Ready when it says so (its control socket is bound before its
    // shards start): a line, not a sleep.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = router.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("trunkline running") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the router says it is running");
    assert!(sock.exists());
    let out = ok(&["snap", "push", s(&b), "--control", s(&sock)]);
    assert!(
        out.starts_with("in service: ") && out.contains("b.snap"),
        "{out}"
    );
    // A damaged file: refused here, with its offset.
    let bad = dir.join("bad.snap");
    let mut bytes = std::fs::read(&b).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&bad, &bytes).unwrap();
    let err = fails(&["snap", "push", s(&bad), "--control", s(&sock)]);
    assert!(err.contains("bad.snap"), "{err}");
    // No router on the other end.
    let err = fails(&[
        "snap",
        "push",
        s(&a),
        "--control",
        s(&dir.join("none.sock")),
    ]);
    assert!(err.contains("cannot reach"), "{err}");
    let _ = Command::new("kill")
        .args(["-TERM", &router.id().to_string()])
        .status();
    assert!(router.wait().unwrap().success());
    assert!(!sock.exists(), "control socket removed at exit");
}
