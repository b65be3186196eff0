//! The registrar against SIPp over loopback (ignored by default: needs
//! `sipp`, Debian `sip-tester`; CI runs them): 10,000 subscribers
//! register, then get 10,000 calls routed to their contacts (the UAS
//! checks each Request-URI is the called user's contact), an unregistered
//! user gets 480; and bindings saved at a graceful stop (`[registrar]
//! snapshot`) are read back by the next router, whose calls reach them
//! without a new REGISTER.
//!
//! Each subscriber registers from the port its UAS will listen on (its
//! Contact is where the REGISTER came from): a loopback Contact on another
//! port than the source's counts as NATed, and would be reached at the
//! REGISTER's source instead (nathelper's `fix_nated_register`).
//!
//! The scenarios and the injection files are written into a temporary
//! directory per test. The tests take turns (one lock): they share the
//! loopback and the CPUs.

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trunkline_engine::testkit::process::{RunningRouter, free_udp_port, sipp_calls};
use trunkline_engine::testkit::sipp::{
    Sipp, SippCommand, error_logs, sipp, turn, uac_call_xml, write_scenario,
};

/// A REGISTER per injection line: `sip:USER@example.com` bound to
/// `sip:USER@127.0.0.1:LOCAL_PORT` for 3600 s; the 200 must list that
/// binding (checked, or the call fails).
const REGISTER_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register">
  <send retrans="500">
    <![CDATA[

      REGISTER sip:example.com SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@example.com>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@example.com>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Expires: 3600
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <recv response="200" rtd="true">
    <action>
      <ereg regexp="&lt;sip:(user[0-9]+)@127\.0\.0\.1:@PORT@>;expires=(3600|3599)" search_in="hdr" header="Contact:" check_it="true" assign_to="contact,cuser,exp"/>
      <ereg regexp="sip:(user[0-9]+)@example\.com" search_in="hdr" header="To:" check_it="true" assign_to="to,touser"/>
      <strcmp assign_to="diff" variable="cuser" variable2="touser"/>
      <test assign_to="mismatch" variable="diff" compare="not_equal" value="0"/>
    </action>
  </recv>

  <nop next="wrong" test="mismatch"/>
  <nop next="done"/>

  <label id="wrong"/>
  <!-- Another user's binding in the 200: the call fails. -->
  <recv request="NEVER" timeout="100"/>

  <label id="done"/>
  <Reference variables="contact,exp,to"/>
</scenario>
"#;

/// SIPp's uas, except that each INVITE's Request-URI must be the called
/// user's contact, `sip:USER@127.0.0.1:@PORT@` with USER the To's user:
/// else 500 (the caller's call fails) and this call fails too.
const UAS_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="contact uas">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="^INVITE sip:(user[0-9]+)@127\.0\.0\.1:@PORT@ SIP/2\.0" search_in="msg" check_it="true" assign_to="ruri,ruser"/>
      <ereg regexp="sip:(user[0-9]+)@example\.com" search_in="hdr" header="To:" check_it="true" assign_to="to,touser"/>
      <strcmp assign_to="diff" variable="ruser" variable2="touser"/>
      <test assign_to="mismatch" variable="diff" compare="not_equal" value="0"/>
    </action>
  </recv>

  <nop next="wrong" test="mismatch"/>

  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>

  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>

  <recv request="ACK" optional="true" rtd="true" crlf="true"/>
  <recv request="BYE"/>

  <send next="done">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>

  <label id="wrong"/>
  <send>
    <![CDATA[

      SIP/2.0 500 Not The Contact
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="NEVER" timeout="100"/>

  <label id="done"/>
  <Reference variables="ruri,to"/>
</scenario>
"#;

/// The scenarios and the injection file of `users` subscribers
/// (`user0`...), in `dir`, for a UAS on `uas_port`.
struct Files {
    dir: PathBuf,
    register: PathBuf,
    call: PathBuf,
    uas: PathBuf,
    users: PathBuf,
}

impl Files {
    fn write(dir: &Path, uas_port: u16, users: u32) -> Files {
        let file = |name: &str, text: &str| {
            write_scenario(dir, name, &text.replace("@PORT@", &uas_port.to_string()))
        };
        let mut csv = String::from("SEQUENTIAL\n");
        for n in 0..users {
            writeln!(csv, "user{n};").unwrap();
        }
        Files {
            dir: dir.to_path_buf(),
            register: file("register.xml", REGISTER_XML),
            call: file("call.xml", &uac_call_xml("[field0]")),
            uas: file("uas.xml", UAS_XML),
            users: file("users.csv", &csv),
        }
    }

    /// SIPp with `args`, its output in `NAME.out` (in the directory,
    /// where its error log goes too).
    fn sipp(&self, name: &str, args: &[&str]) -> SippCommand {
        sipp(args).args(&["-trace_err"]).in_dir(&self.dir, name)
    }

    /// SIPp running `scenario` for the first `n` subscribers, through
    /// the router at `router`, `rate` a second.
    fn uac(
        &self,
        name: &str,
        scenario: &Path,
        router: SocketAddr,
        n: u32,
        rate: u32,
    ) -> SippCommand {
        let (router, n, rate) = (router.to_string(), n.to_string(), rate.to_string());
        let scenario = scenario.to_str().unwrap();
        let users = self.users.to_str().unwrap();
        let args = [
            &router, "-sf", scenario, "-inf", users, "-m", &n, "-r", &rate,
        ];
        self.sipp(name, &args)
    }

    /// Registers `n` subscribers (the first `n` lines) from `port` with
    /// the router at `router`, `rate` a second: every REGISTER answered
    /// 200 with its binding.
    fn register(&self, router: SocketAddr, port: u16, n: u32, rate: u32) {
        let sipp = self.uac("register", &self.register, router, n, rate);
        let sipp = sipp.timeout("60s").port(port).spawn();
        let screen = sipp.finish(Duration::from_secs(60));
        assert_eq!(
            sipp_calls(&screen),
            (u64::from(n), 0),
            "REGISTERs:\n{screen}\n{}",
            error_logs(&self.dir)
        );
    }

    /// The UAS on `port` for `n` calls.
    fn uas(&self, port: u16, n: u32) -> Sipp {
        let n = n.to_string();
        let args = ["-sf", self.uas.to_str().unwrap(), "-m", &n];
        let uas = self.sipp("uas", &args).timeout("90s").port(port).spawn();
        std::thread::sleep(Duration::from_millis(300));
        uas
    }

    /// `n` calls (to the first `n` subscribers) through the router at
    /// `router`, `rate` a second: SIPp's final screen.
    fn calls(&self, router: SocketAddr, n: u32, rate: u32) -> String {
        let sipp = self.uac("calls", &self.call, router, n, rate);
        let sipp = sipp.timeout("90s").spawn();
        sipp.finish(Duration::from_secs(90))
    }
}

/// `trunkline run` on `listen` (two shards), registrar of example.com,
/// with `snapshot` when given. Every SIPp is at 127.0.0.1, past the
/// flood defence's 500 datagrams a second by source: it is off.
fn router(dir: &Path, listen: &str, snapshot: Option<&Path>) -> RunningRouter {
    let config = dir.join("trunkline.toml");
    let mut toml = String::from(
        "shards = 2\n\n[security]\nflood_pps = 0\n\n[registrar]\ndomains = [\"example.com\"]\n",
    );
    if let Some(s) = snapshot {
        writeln!(toml, "snapshot = {:?}", s.to_str().unwrap()).unwrap();
    }
    std::fs::write(&config, toml).unwrap();
    let args = ["--config", config.to_str().unwrap(), "--listen", listen];
    RunningRouter::start(env!("CARGO_BIN_EXE_trunkline").as_ref(), &args)
}

/// Stops the router gracefully (SIGTERM) and waits for it to exit 0.
fn stop(r: RunningRouter) {
    let status = r.stop();
    assert!(status.success(), "the router's exit: {status}");
}

/// An INVITE to `sip:USER@example.com` from a socket of the test: the
/// router's final answer's status line (then ACKed).
fn invite_final(router: SocketAddr, user: &str) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = sock.local_addr().unwrap();
    let branch = "z9hG4bK-unregistered-1";
    let head = |method: &str, cseq: &str| {
        format!(
            "{method} sip:{user}@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch={branch}\r\n\
From: <sip:caller@127.0.0.1>;tag=t1\r\n\
To: <sip:{user}@example.com>\r\n\
Call-ID: unregistered-{user}@127.0.0.1\r\n\
CSeq: 1 {cseq}\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n"
        )
    };
    sock.send_to(head("INVITE", "INVITE").as_bytes(), router)
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no final answer to the INVITE for {user}: {e}"));
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status = text.lines().next().unwrap_or_default().to_owned();
        if status.starts_with("SIP/2.0 1") {
            continue;
        }
        let to = text
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("to:"))
            .unwrap_or_default();
        let ack = head("ACK", "ACK").replace(
            &format!("To: <sip:{user}@example.com>\r\n"),
            &format!("{to}\r\n"),
        );
        sock.send_to(ack.as_bytes(), router).unwrap();
        return status;
    }
}

/// 10,000 subscribers register (2,000 a second), then get a call each
/// (1,000 a second) through the router: every REGISTER answered 200 with
/// its binding, every call completes at both SIPp ends, each INVITE
/// reaching the UAS with the called user's contact as Request-URI; an
/// unregistered user's call gets 480. The shards' counters agree.
#[test]
#[ignore = "needs sipp"]
fn ten_thousand_subscribers_register_then_receive_calls() {
    const USERS: u32 = 10_000;
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let uas_port = free_udp_port("127.0.0.1");
    let files = Files::write(dir.path(), uas_port, USERS);
    let r = router(dir.path(), "127.0.0.1:0", None);

    let started = Instant::now();
    files.register(r.addr, uas_port, USERS, 2000);
    let registered = started.elapsed();

    let uas = files.uas(uas_port, USERS);
    let started = Instant::now();
    let screen = files.calls(r.addr, USERS, 1000);
    let called = started.elapsed();
    assert_eq!(
        sipp_calls(&screen),
        (u64::from(USERS), 0),
        "calls:\n{screen}\n{}",
        error_logs(dir.path())
    );
    let uas_screen = uas.finish(Duration::from_secs(30));
    assert_eq!(
        sipp_calls(&uas_screen),
        (u64::from(USERS), 0),
        "UAS:\n{uas_screen}\n{}",
        error_logs(dir.path())
    );

    assert_eq!(
        invite_final(r.addr, "nobody"),
        "SIP/2.0 480 Temporarily Unavailable"
    );

    let report = r.report(2);
    assert_eq!(report.sum("registered"), u64::from(USERS), "{report:?}");
    assert_eq!(report.sum("register_refused"), 0, "{report:?}");
    assert_eq!(
        report.sum("location_lookups"),
        u64::from(USERS),
        "{report:?}"
    );
    assert_eq!(report.sum("not_registered"), 1, "{report:?}");
    eprintln!("registered {USERS} in {registered:?}, called them in {called:?}");
    stop(r);
}

/// 100 subscribers register with a router that keeps `[registrar]
/// snapshot`; it stops (SIGTERM), a new one starts with the same file
/// and port, and 100 calls to them all complete, no REGISTER in between.
#[test]
#[ignore = "needs sipp"]
fn bindings_survive_a_restart() {
    const USERS: u32 = 100;
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("location");
    let uas_port = free_udp_port("127.0.0.1");
    let files = Files::write(dir.path(), uas_port, USERS);
    let listen = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));

    let first = router(dir.path(), &listen, Some(&snapshot));
    files.register(first.addr, uas_port, USERS, 200);
    let report = first.report(2);
    assert_eq!(report.sum("registered"), u64::from(USERS), "{report:?}");
    stop(first);

    // The bindings on disk: one line each, in location-*.jsonl.
    let mut lines = 0;
    for e in std::fs::read_dir(&snapshot).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("location-") && name.ends_with(".jsonl") {
            let text = std::fs::read_to_string(&p).unwrap();
            lines += text.lines().filter(|l| !l.is_empty()).count();
        }
    }
    assert_eq!(lines, USERS as usize, "bindings in {}", snapshot.display());

    let second = router(dir.path(), &listen, Some(&snapshot));
    let uas = files.uas(uas_port, USERS);
    let screen = files.calls(second.addr, USERS, 100);
    assert_eq!(
        sipp_calls(&screen),
        (u64::from(USERS), 0),
        "calls after the restart:\n{screen}\n{}",
        error_logs(dir.path())
    );
    let uas_screen = uas.finish(Duration::from_secs(30));
    assert_eq!(
        sipp_calls(&uas_screen),
        (u64::from(USERS), 0),
        "UAS:\n{uas_screen}\n{}",
        error_logs(dir.path())
    );
    let report = second.report(2);
    assert_eq!(report.sum("registered"), 0, "{report:?}");
    assert_eq!(
        report.sum("location_lookups"),
        u64::from(USERS),
        "{report:?}"
    );
    assert_eq!(report.sum("not_registered"), 0, "{report:?}");
    stop(second);
}
