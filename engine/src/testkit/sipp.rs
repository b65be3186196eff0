//! SIPp (Debian `sip-tester`) as a child process, for the tests that run
//! it against trunkline: a command line ([`sipp`]), run to its end
//! ([`SippCommand::run`]) or in the background ([`Sipp`], killed when
//! dropped); its logs; the scenarios in `engine/tests/scenarios/` and
//! those a test writes; and the lock the tests take turns with ([`turn`]).
//! SIPp's final call counts are [`sipp_calls`](super::process::sipp_calls).

use std::fmt::Write as _;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::process::free_udp_port;

/// What `expect` says when SIPp cannot be started.
const INSTALLED: &str = "sipp is installed (Debian package sip-tester)";

static TURNS: Mutex<()> = Mutex::new(());

/// The lock of a test binary's tests that take turns (they share the
/// loopback, the CPUs, and ports found free until something binds
/// them); a test that panicked holding it does not poison it.
pub fn turn() -> MutexGuard<'static, ()> {
    TURNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path of `engine/tests/scenarios/NAME`, as SIPp's `-sf` takes it.
pub fn scenario(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name);
    path.to_str().expect("a UTF-8 path").to_string()
}

/// Writes `text` (a scenario, or an injection file) to `dir/NAME`: its
/// path.
pub fn write_scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// SIPp's uac calling `sip:USER@example.com` (`[field0]`: the injection
/// line's user) through the proxy it is pointed at: the INVITE (a PCMU
/// offer), the ACK, a pause (`-d`, 0 ms unless told) and the BYE, both in
/// the dialog (the Record-Route and the Contact of the 200).
pub fn uac_call_xml(user: &str) -> String {
    UAC_CALL_XML.replace("@USER@", user)
}

const UAC_CALL_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="a call to @USER@@example.com">
  <send retrans="500">
    <![CDATA[

      INVITE sip:@USER@@example.com SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:@USER@@example.com>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
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

  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>

  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:@USER@@example.com>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <pause/>

  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:@USER@@example.com>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <recv response="200" crlf="true"/>
</scenario>
"#;

/// A SIPp command line: `sipp ARGS -nostdin -i IP -p PORT`, on 127.0.0.1
/// at a free port unless told otherwise.
#[derive(Debug)]
pub struct SippCommand {
    args: Vec<String>,
    ip: String,
    port: u16,
    dir: Option<(PathBuf, String)>,
}

/// `sipp ARGS` (a scenario, a remote address, counts...): see
/// [`SippCommand`].
pub fn sipp(args: &[&str]) -> SippCommand {
    SippCommand {
        args: Vec::new(),
        ip: String::new(),
        port: 0,
        dir: None,
    }
    .args(args)
    .ip("127.0.0.1")
}

impl SippCommand {
    /// More arguments.
    pub fn args(mut self, args: &[&str]) -> SippCommand {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// `-timeout T` (`90s`): SIPp gives up then.
    pub fn timeout(self, t: &str) -> SippCommand {
        self.args(&["-timeout", t])
    }

    /// On `ip` (`-i`), at a port free there now.
    pub fn ip(mut self, ip: &str) -> SippCommand {
        self.ip = ip.to_string();
        self.port = free_udp_port(ip);
        self
    }

    /// At `port` (`-p`).
    pub fn port(mut self, port: u16) -> SippCommand {
        self.port = port;
        self
    }

    /// Run in `dir` (where its `-trace_*` logs go); started with
    /// [`SippCommand::spawn`], its standard output in `dir/NAME.out` and
    /// its standard error in `dir/NAME.err`.
    pub fn in_dir(mut self, dir: &Path, name: &str) -> SippCommand {
        self.dir = Some((dir.to_path_buf(), name.to_string()));
        self
    }

    /// Where it sends from and listens.
    pub fn addr(&self) -> SocketAddr {
        format!("{}:{}", self.ip, self.port)
            .parse()
            .expect("an IP and a port")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("sipp");
        cmd.args(&self.args)
            .args(["-nostdin", "-i", &self.ip, "-p", &self.port.to_string()]);
        if let Some((dir, _)) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs it to its end: its exit status and output.
    pub fn run(self) -> Output {
        self.command().output().expect(INSTALLED)
    }

    /// Starts it (its output in files with [`SippCommand::in_dir`], else
    /// nowhere).
    pub fn spawn(self) -> Sipp {
        let mut cmd = self.command();
        let (out, dir) = match &self.dir {
            Some((dir, name)) => {
                let file = |ext: &str| {
                    let path = dir.join(format!("{name}.{ext}"));
                    let f =
                        File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    (path, f)
                };
                let ((out, stdout), (_, stderr)) = (file("out"), file("err"));
                cmd.stdout(stdout).stderr(stderr);
                (Some(out), Some(dir.clone()))
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
                (None, None)
            }
        };
        Sipp {
            child: cmd.spawn().expect(INSTALLED),
            addr: self.addr(),
            out,
            dir,
        }
    }
}

/// A SIPp running in the background: killed when dropped.
#[derive(Debug)]
pub struct Sipp {
    /// The process.
    pub child: Child,
    /// Where it sends from and listens.
    pub addr: SocketAddr,
    out: Option<PathBuf>,
    dir: Option<PathBuf>,
}

impl Sipp {
    /// Its standard output so far (its screens, the final one last).
    pub fn output(&self) -> String {
        self.out
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Waits (up to `within`) for it to exit: its exit status and
    /// standard output. Past `within` it is killed, and the test fails
    /// with its output and error logs.
    pub fn wait(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("SIPp's status") {
                return (status, self.output());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let logs = self.dir.as_deref().map(error_logs).unwrap_or_default();
                panic!(
                    "SIPp did not finish within {within:?}:\n{}\n{logs}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (up to `within`) for it to finish (its `-m` calls); its
    /// final screen.
    pub fn finish(self, within: Duration) -> String {
        self.wait(within).1
    }

    /// Stops it (SIGTERM: SIPp prints its final screens and exits) and
    /// waits for it, up to 10 s; its standard output.
    pub fn stop(self) -> String {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(ok.success(), "kill -TERM sipp");
        self.finish(Duration::from_secs(10))
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The start of each SIPp error log in `dir` (`-trace_err`'s
/// `*_errors.log`, the standard errors `*.err`), for failure messages.
pub fn error_logs(dir: &Path) -> String {
    let mut text = String::new();
    for (name, body) in logs(dir, |name| {
        name.ends_with("_errors.log") || name.ends_with(".err")
    }) {
        let head: String = body.chars().take(3000).collect();
        let _ = writeln!(text, "--- {name}:\n{head}");
    }
    text
}

/// The messages SIPp logged with `-trace_msg` in `dir`: its
/// `PREFIX*_messages.log` files (`<scenario>_<pid>_messages.log`), one
/// after the other.
pub fn message_logs(dir: &Path, prefix: &str) -> String {
    logs(dir, |name| {
        name.starts_with(prefix) && name.ends_with("_messages.log")
    })
    .into_iter()
    .map(|(_, body)| body)
    .collect()
}

/// The files of `dir` whose name `pick` picks: (name, text).
fn logs(dir: &Path, pick: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out = Vec::new();
    for e in entries {
        let path = e.expect("a directory entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if pick(&name) {
            let body = std::fs::read_to_string(&path).unwrap_or_default();
            out.push((name.into_owned(), body));
        }
    }
    out
}
