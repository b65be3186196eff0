//! The `trunkload` binary without SIPp: `-sd`, errors and exit codes, and
//! a uac ↔ uas run of two trunkloads with an injection file.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, scratch, spawn, summary_count, text as show, trunkload, wait};

fn run(c: Command, limit: Duration) -> Output {
    wait(spawn(c), limit)
}

#[test]
fn dump_scenario_prints_the_builtin_and_exits_99() {
    let dir = scratch("sd");
    let mut c = trunkload(&dir);
    c.args(["-sd", "uas"]);
    let o = run(c, Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(99));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        trunkline_loadgen::scenario::builtin("uas").unwrap()
    );
    let mut c = trunkload(&dir);
    c.args(["-sd", "nope"]);
    let o = run(c, Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
}

#[test]
fn a_bad_scenario_names_file_line_and_column() {
    let dir = scratch("bad");
    std::fs::write(
        dir.join("s.xml"),
        "<?xml version=\"1.0\"?>\n<scenario name=\"s\">\n  <send><![CDATA[OPTIONS [nosuchkeyword] SIP/2.0]]></send>\n</scenario>\n",
    )
    .unwrap();
    let mut c = trunkload(&dir);
    c.args(["127.0.0.1:9", "-sf", "s.xml", "-m", "1"]);
    let o = run(c, Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("s.xml:3:"), "{err}");
    assert!(err.contains("nosuchkeyword"), "{err}");
}

#[test]
fn unsupported_options_are_refused_by_name() {
    let dir = scratch("unsupported");
    for args in [
        &["127.0.0.1:9", "-t", "t1"][..],
        &["127.0.0.1:9", "-callid_slash_ign"],
    ] {
        let mut c = trunkload(&dir);
        c.args(args);
        let o = run(c, Duration::from_secs(10));
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", show(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("not supported"),
            "{args:?}: {}",
            show(&o)
        );
    }
}

/// A uac whose From user comes from `-inf` (SEQUENTIAL), against the
/// built-in uas: every line of the file is used, each call succeeds, and
/// both exit 0.
#[test]
fn uac_with_injection_file_against_uas() {
    let dir = scratch("inf");
    let uac = trunkline_loadgen::scenario::builtin("uac")
        .unwrap()
        .replace(
            "From: sipp <sip:sipp@[local_ip]:[local_port]>",
            "From: [field0] <sip:[field0]@[local_ip]:[local_port]>",
        );
    std::fs::write(dir.join("uac_inf.xml"), uac).unwrap();
    std::fs::write(
        dir.join("users.csv"),
        "SEQUENTIAL\nalice;x\nbob;y\ncarol;z\ndave;w\n",
    )
    .unwrap();
    let uas_port = free_port();
    let mut s = trunkload(&dir);
    s.args(["-sn", "uas", "-i", "127.0.0.1", "-p", &uas_port.to_string()])
        .args(["-m", "40", "-timeout", "30s"]);
    let uas = s
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut c = trunkload(&dir);
    c.arg(format!("127.0.0.1:{uas_port}"))
        .args(["-sf", "uac_inf.xml", "-inf", "users.csv", "-i", "127.0.0.1"])
        .args(["-m", "40", "-r", "100", "-timeout", "30s", "-trace_msg"])
        .args(["-message_file", "msgs.log", "--shards", "2"]);
    let o = run(c, Duration::from_secs(40));
    let start = Instant::now();
    let mut uas = uas;
    while start.elapsed() < Duration::from_secs(20) && uas.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = uas.kill();
    let uas_out = uas.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "uac: {}", show(&o));
    assert_eq!(uas_out.status.code(), Some(0), "uas: {}", show(&uas_out));
    let log = std::fs::read_to_string(dir.join("msgs.log")).unwrap();
    let mut users: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("From: "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        users.len(),
        40 * 6,
        "the INVITE, ACK and BYE sent and the 180, 200 and 200 received of 40 calls"
    );
    users.sort();
    users.dedup();
    assert_eq!(users, ["alice", "bob", "carol", "dave"]);
}

/// `-infindex users.csv 0` and the `lookup` action: the line of a key
/// (the last one with it), -1 for an unknown key, in the call's log.
#[test]
fn lookup_finds_lines_of_an_indexed_injection_file() {
    let dir = scratch("lookup");
    std::fs::write(
        dir.join("users.csv"),
        "SEQUENTIAL\nalice;1\nbob;2\ncarol;3\nbob;4\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("lookup.xml"),
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="lookup">
  <send><![CDATA[

      OPTIONS sip:x@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:a@[local_ip]>;tag=[call_number]
      To: <sip:x@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <lookup assign_to="carol" file="users.csv" key="carol"/>
      <lookup assign_to="bob" file="users.csv" key="[field0 line=1]"/>
      <lookup assign_to="nobody" file="users.csv" key="zed"/>
      <log message="carol=[$carol] bob=[$bob] nobody=[$nobody]"/>
    </action>
  </nop>
</scenario>
"#,
    )
    .unwrap();
    let mut c = trunkload(&dir);
    c.args(["127.0.0.1:9", "-sf", "lookup.xml", "-i", "127.0.0.1"])
        .args(["-inf", "users.csv", "-infindex", "users.csv", "0"])
        .args([
            "-m",
            "1",
            "-timeout",
            "10s",
            "-trace_logs",
            "-log_file",
            "calls.log",
        ]);
    let o = run(c, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let log = std::fs::read_to_string(dir.join("calls.log")).unwrap();
    assert!(
        log.contains("carol=2.000000 bob=3.000000 nobody=-1.000000"),
        "{log}"
    );
}

/// `-bg`, as SIPp: prints `Background mode - PID=[N]`, exits 99, and the
/// run goes on in process N (here a uas waiting for calls).
#[test]
fn background_mode_leaves_the_run_in_another_process() {
    let dir = scratch("bg");
    let port = free_port();
    let mut c = trunkload(&dir);
    c.args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "1", "-timeout", "20s", "-bg"]);
    let o = run(c, Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(99), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let pid: u32 = out
        .trim()
        .strip_prefix("Background mode - PID=[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    let cmdline =
        std::fs::read(format!("/proc/{pid}/cmdline")).expect("the background run is alive");
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    assert!(args.contains(&&b"uas"[..]), "{args:?}");
    assert!(!args.contains(&&b"-bg"[..]), "{args:?}");
    // It holds the port: binding it here fails.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the background uas never bound {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").arg(pid.to_string()).status();
}

/// SIPp's remote control: `q` sent to `-cp` stops a uac that would run
/// for minutes; it finishes its open calls and exits.
/// A `-sn uac` against a `-sn uas` (no `-m`: stopped here at the end),
/// with `uac_args` and a remote-control port; `steer` gets a sender of
/// control datagrams while the uac runs (it must end the run). Returns the
/// uac's output, its successful calls, and how long it took to exit once
/// `steer` returned.
fn controlled_run(
    name: &str,
    uac_args: &[&str],
    steer: impl FnOnce(&dyn Fn(&[u8])),
) -> (Output, u64, Duration) {
    let dir = scratch(name);
    let uas_port = free_port();
    let mut s = trunkload(&dir);
    s.args(["-sn", "uas", "-i", "127.0.0.1", "-p", &uas_port.to_string()])
        .args(["-timeout", "60s"]);
    let uas = spawn(s);
    std::thread::sleep(Duration::from_millis(300));
    let cp = free_port();
    let mut c = trunkload(&dir);
    c.arg(format!("127.0.0.1:{uas_port}"))
        .args(["-sn", "uac", "-i", "127.0.0.1", "-cp", &cp.to_string()])
        .args(uac_args)
        .args(["-m", "100000", "-timeout", "60s"]);
    let uac = spawn(c);
    let ctl = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    steer(&|k: &[u8]| {
        ctl.send_to(k, ("127.0.0.1", cp)).unwrap();
    });
    let stopped = Instant::now();
    let o = wait(uac, Duration::from_secs(30));
    let took = stopped.elapsed();
    let _ = wait(uas, Duration::ZERO);
    let ok = summary_count(&o, "Successful call").unwrap_or_else(|| panic!("{}", show(&o)));
    (o, ok, took)
}

#[test]
fn q_on_the_control_port_stops_the_run() {
    let (o, ok, took) = controlled_run("ctrl", &["-r", "20"], |send| {
        std::thread::sleep(Duration::from_millis(1500));
        send(b"q");
    });
    assert!(took < Duration::from_secs(15), "{}", show(&o));
    assert!((1..1000).contains(&ok), "{ok} calls: {}", show(&o));
}

/// `p` on the control port pauses the traffic and `p` again resumes it
/// without a burst for the time paused: 50 calls/s for ~0.6 s, paused
/// ~1.5 s, resumed ~0.6 s, places far fewer than the ~135 calls an
/// unpaused run would.
#[test]
fn p_on_the_control_port_pauses_the_traffic() {
    let (o, ok, _) = controlled_run("pause", &["-r", "50", "-d", "0"], |send| {
        std::thread::sleep(Duration::from_millis(600));
        send(b"p");
        std::thread::sleep(Duration::from_millis(1500));
        send(b"p");
        std::thread::sleep(Duration::from_millis(600));
        send(b"q");
    });
    assert!((20..95).contains(&ok), "{ok} calls: {}", show(&o));
}

/// `cset limit N` on the control port caps the calls open at once: 2 s
/// calls offered at 100/s for ~2.5 s complete in the tens with a limit of
/// 3, where ~250 would without.
#[test]
fn cset_limit_on_the_control_port_caps_open_calls() {
    let (o, ok, _) = controlled_run("limit", &["-r", "100", "-d", "2000"], |send| {
        // Sent until the control socket is up (a datagram before is lost).
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(40));
            send(b"cset limit 3");
        }
        std::thread::sleep(Duration::from_millis(2500));
        send(b"q");
    });
    assert!((1..30).contains(&ok), "{ok} calls: {}", show(&o));
}
