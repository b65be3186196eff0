//! trunkline as a registrar (`[registrar]`, REGISTER behind digest)
//! against real tools (ignored by default, like `edge_tools.rs`): Debian's
//! `baresip` registers with digest and takes a call SIPp places to its
//! AOR through trunkline; `svwar` (sipvicious) finds no extension, beside
//! a control registrar that leaks its users (401 for them, 404 for
//! others) in which it does find them, and raw REGISTERs show a known
//! user and an unknown one answered alike.
//!
//! The tests take turns (one lock): they share the loopback and the CPUs.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use trunkline_engine::testkit::Peer;
use trunkline_engine::testkit::process::{RunningRouter, free_udp_port, sipp_calls};
use trunkline_engine::testkit::sip::{UacCall, digest_answer, first_line, header, respond};
use trunkline_engine::testkit::sipp::{sipp, turn, uac_call_xml, write_scenario};

/// The subscribers of every test: `user,domain,password`.
const SUBSCRIBERS: &str =
    "user,domain,password\nalice,example.com,secret\nbob,example.com,bob-secret\n";

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("trunkline-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// trunkline as the registrar of example.com, REGISTER challenged
/// (`[auth] extra` added, e.g. `algorithms`), from `dir`, on a free port
/// of 127.0.0.1, two shards.
fn registrar(dir: &Path, auth_extra: &str) -> RunningRouter {
    std::fs::write(dir.join("subscribers.csv"), SUBSCRIBERS).unwrap();
    let config = format!(
        "shards = 2\n\
         [registrar]\n\
         domains = [\"example.com\"]\n\
         [auth]\n\
         subscribers = \"subscribers.csv\"\n\
         {auth_extra}\n\
         [[policy]]\n\
         methods = [\"REGISTER\"]\n\
         authenticate = \"digest\"\n"
    );
    let path = dir.join("trunkline.toml");
    std::fs::write(&path, config).unwrap();
    RunningRouter::start(
        env!("CARGO_BIN_EXE_trunkline").as_ref(),
        &[
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    )
}

/// A child process killed when dropped, its stdout and stderr merged
/// line by line.
struct Tool {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Tool {
    fn spawn(cmd: &mut Command, what: &str) -> Tool {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let (tx, rx) = mpsc::channel();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped")),
            Box::new(child.stderr.take().expect("piped")),
        ];
        for pipe in pipes {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Tool {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// The next line containing `what`, within `within`; panics, with
    /// everything printed so far, on a line containing one of `fatal`,
    /// on silence or on exit.
    fn wait_for(&mut self, what: &str, fatal: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                    if fatal.iter().any(|f| line.contains(f)) {
                        panic!("`{line}` before `{what}`:\n{}", self.seen.join("\n"));
                    }
                }
                Err(_) => panic!(
                    "no `{what}` within {within:?} (exit: {:?}):\n{}",
                    self.child.try_wait(),
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's baresip 1.0.0 with nothing but what a headless run needs:
/// G.711, and `aubridge` as audio source and player (no sound card; the
/// `ausine` source only runs at 48 kHz and fails on a PCMU call), no UI
/// module (stdio needs a terminal), bound to 127.0.0.1 (`-n`: its default
/// interface is the first non-loopback one). Alice's account registers
/// through `outbound` (the REGISTER goes to `sip:example.com` with a
/// Route to the router) and answers calls at once.
fn baresip(dir: &Path, router: SocketAddr) -> (Tool, u16) {
    let port = free_udp_port("127.0.0.1");
    let config = format!(
        "poll_method\tepoll\n\
         sip_listen\t127.0.0.1:{port}\n\
         call_local_timeout\t120\n\
         call_max_calls\t4\n\
         audio_player\taubridge,nil\n\
         audio_source\taubridge,nil\n\
         audio_alert\taubridge,nil\n\
         module_path\t/usr/lib/baresip/modules\n\
         module\tg711.so\n\
         module\taubridge.so\n\
         module_tmp\taccount.so\n\
         module_app\tmenu.so\n"
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!(
            "<sip:alice@example.com>;auth_pass=secret;outbound=\"sip:{router}\";\
             regint=600;answermode=auto\n"
        ),
    )
    .unwrap();
    let tool = Tool::spawn(
        Command::new("baresip")
            .arg("-f")
            .arg(dir)
            .args(["-n", "127.0.0.1"]),
        "baresip is installed (Debian package baresip)",
    );
    (tool, port)
}

/// An INVITE to alice's AOR from a raw UAC: the router's final answer
/// (ACKed when not a 2xx).
fn invite_alice(router: SocketAddr) -> String {
    let uac = Peer::new();
    let call = UacCall::new(uac.addr, "sip:alice@example.com", "before-register");
    uac.send(router, &call.invite("z9hG4bKbefore"));
    let answer = uac.expect_skipping("SIP/2.0 4", &["SIP/2.0 1"], Duration::from_secs(5));
    let to_tag = header(&answer, "To")[0]
        .split(";tag=")
        .nth(1)
        .map(str::to_string);
    uac.send(
        router,
        &call.request("ACK", 1, "z9hG4bKbefore", to_tag.as_deref(), None),
    );
    answer
}

/// baresip registers alice (MD5 digest, see below) at trunkline; SIPp
/// calls sip:alice@example.com through trunkline, baresip answers, SIPp
/// ACKs and hangs up. Before the REGISTER, the same INVITE gets 480.
///
/// baresip 1.0.0 (libre 1.1.0, Debian 12) gives up on a 401 in which any
/// challenge names an algorithm other than MD5 (ENOSYS, "Register:
/// Function not implemented"), whatever their order: `algorithms =
/// ["MD5", "SHA-256"]` is not enough, the registrar has to offer MD5 only.
#[test]
#[ignore = "needs baresip"]
fn baresip_registers_with_digest_and_receives_a_call() {
    let _turn = turn();
    let dir = Scratch::new("baresip");
    let r = registrar(&dir.0, "algorithms = [\"MD5\"]");

    let answer = invite_alice(r.addr);
    assert_eq!(
        first_line(&answer),
        "SIP/2.0 480 Temporarily Unavailable",
        "no binding yet:\n{answer}"
    );

    let ua_dir = dir.0.join("baresip");
    std::fs::create_dir_all(&ua_dir).unwrap();
    let (mut ua, ua_port) = baresip(&ua_dir, r.addr);
    let registered = ua.wait_for(
        "alice@example.com: {0/UDP/v4} 200 OK",
        &["reg: ", "Register:", "failed"],
        Duration::from_secs(10),
    );
    assert!(registered.contains("[1 binding]"), "{registered}");
    let report = r.report(2);
    assert_eq!(report.sum("registered"), 1, "{report:?}");
    assert!(report.sum("auth_challenges") >= 1, "{report:?}");

    // SIPp's uac to alice's AOR (not to the router's address), hanging
    // up a second after the ACK.
    let scenario = write_scenario(&dir.0, "call_alice.xml", &uac_call_xml("alice"));
    let scenario = scenario.to_str().unwrap();
    let uac = sipp(&[
        &r.addr.to_string(),
        "-sf",
        scenario,
        "-m",
        "1",
        "-d",
        "1000",
    ]);
    let sipp_port = uac.addr().port();
    let started = Instant::now();
    let out = uac.timeout("30s").run();
    let screen =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    eprintln!("the call took {:?}", started.elapsed());
    assert_eq!(
        sipp_calls(&screen),
        (1, 0),
        "baresip:\n{}\nSIPp:\n{screen}",
        ua.seen.join("\n")
    );
    assert_eq!(out.status.code(), Some(0), "{screen}");
    let established = ua.wait_for("Call established", &[], Duration::from_secs(5));
    assert!(
        established.contains(&format!("sip:sipp@127.0.0.1:{sipp_port}")),
        "{established}"
    );
    ua.wait_for("terminated", &[], Duration::from_secs(5));
    let report = r.report(2);
    assert_eq!(report.sum("location_lookups"), 1, "{report:?}");
    assert_eq!(report.sum("not_registered"), 1, "{report:?}");
    eprintln!("baresip on port {ua_port}:\n{}", ua.seen.join("\n"));
}

/// A REGISTER for `user`@example.com from `peer`, CSeq `cseq`, with an
/// `Authorization` line when given; Call-ID, tag and branch derived from
/// `user` and `cseq` only, so that two users' requests differ by the name.
fn register(peer: &Peer, user: &str, cseq: u32, auth: Option<&str>) -> String {
    let addr = peer.addr;
    let auth = auth.map(|a| format!("{a}\r\n")).unwrap_or_default();
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP {addr};branch=z9hG4bK-{user}-{cseq};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@example.com>;tag=from-{user}\r\n\
To: <sip:{user}@example.com>\r\n\
Call-ID: reg-{user}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:{user}@{addr}>\r\n\
Expires: 600\r\n\
{auth}Content-Length: 0\r\n\r\n"
    )
}

/// `request` sent to `router` from `peer`: the final answer.
fn final_answer(peer: &Peer, router: SocketAddr, request: &str) -> String {
    peer.send(router, request);
    peer.expect_skipping("SIP/2.0 ", &["SIP/2.0 1"], Duration::from_secs(5))
}

/// `response` with what may differ between two users masked: the To tag,
/// the nonces, and the user name itself (`USER`).
fn masked(response: &str, user: &str) -> String {
    response
        .split("\r\n")
        .map(|line| {
            let mut line = line.to_string();
            if line.to_ascii_lowercase().starts_with("to:") {
                if let Some(at) = line.find(";tag=") {
                    line.truncate(at);
                    line.push_str(";tag=*");
                }
            }
            while let Some(at) = line.find("nonce=\"") {
                let start = at + "nonce=\"".len();
                let end = start + line[start..].find('"').expect("a closing quote");
                line.replace_range(at..=end, "NONCE=*");
            }
            line.replace(user, "USER")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A registrar that gives its users away (the control): 401 to a
/// REGISTER for alice or bob, 404 to any other; until dropped.
struct LeakyRegistrar {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LeakyRegistrar {
    fn start() -> LeakyRegistrar {
        let peer = Peer::new();
        let addr = peer.addr;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Some((m, from)) = peer.recv(Duration::from_millis(50)) else {
                    continue;
                };
                if !m.starts_with("REGISTER ") {
                    continue;
                }
                let to = header(&m, "To").first().copied().unwrap_or_default();
                let known = ["sip:alice@", "sip:bob@"].iter().any(|u| to.contains(u));
                let answer = match known {
                    true => respond(&m, 401, "Unauthorized", Some("leak"), None).replacen(
                        "\r\n\r\n",
                        "\r\nWWW-Authenticate: Digest realm=\"example.com\", nonce=\"n\"\r\n\r\n",
                        1,
                    ),
                    false => respond(&m, 404, "Not Found", Some("leak"), None),
                };
                peer.send(from, &answer);
            }
        });
        LeakyRegistrar {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LeakyRegistrar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// svwar (REGISTER, the default method) for the names of `dictionary`
/// in example.com at `target`: its output.
fn svwar(target: SocketAddr, dictionary: &Path, extra: &[&str]) -> String {
    let port = free_udp_port("127.0.0.1");
    let out = Command::new("svwar")
        .arg("-d")
        .arg(dictionary)
        .args(["--domain", "example.com", "-b", "127.0.0.1"])
        .args(["-P", &port.to_string()])
        .args(["-p", &target.port().to_string()])
        .args(extra)
        .arg(target.ip().to_string())
        .output()
        .expect("svwar is installed (Debian package sipvicious)");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// svwar, trying 100 to 110, alice and bob in example.com by REGISTER,
/// finds alice and bob at the control registrar (401 for them, 404 for
/// others) and nothing at trunkline, where bob is registered and alice a
/// subscriber; with `--force` (scan though the unknown name is
/// challenged) neither. Raw REGISTERs for bob (registered), alice and
/// mallory (unknown) get the same answer but for the To tag and the
/// nonces, without credentials and with a wrong password alike.
#[test]
#[ignore = "needs sipvicious"]
fn svwar_finds_no_extension_when_register_needs_digest() {
    let _turn = turn();
    let dir = Scratch::new("svwar");
    let dictionary = dir.0.join("names.txt");
    let mut names: String = (100..=110).map(|i| format!("{i}\n")).collect();
    names.push_str("alice\nbob\n");
    std::fs::write(&dictionary, names).unwrap();

    let leaky = LeakyRegistrar::start();
    let text = svwar(leaky.addr, &dictionary, &[]);
    for user in ["alice", "bob"] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("| {user} ")) && l.contains("reqauth")),
            "the control: svwar finds {user}:\n{text}"
        );
    }
    assert!(!text.contains("found nothing"), "{text}");
    drop(leaky);

    let r = registrar(&dir.0, "");
    let bob = Peer::new();
    let challenge = final_answer(&bob, r.addr, &register(&bob, "bob", 1, None));
    assert_eq!(
        first_line(&challenge),
        "SIP/2.0 401 Unauthorized",
        "{challenge}"
    );
    let auth = digest_answer(
        &challenge,
        "SHA-256",
        ("bob", "bob-secret"),
        "REGISTER",
        "sip:example.com",
        1,
    );
    let ok = final_answer(&bob, r.addr, &register(&bob, "bob", 2, Some(&auth)));
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK", "{ok}");
    assert!(
        header(&ok, "Contact")
            .iter()
            .any(|c| c.contains(&format!("sip:bob@{}", bob.addr))),
        "{ok}"
    );

    let text = svwar(r.addr, &dictionary, &[]);
    assert!(
        text.contains("authentication request for an unknown extension"),
        "svwar's check of an unknown name saw the 401:\n{text}"
    );
    let forced = svwar(r.addr, &dictionary, &["--force"]);
    for text in [&text, &forced] {
        assert!(text.contains("found nothing"), "{text}");
        for result in ["reqauth", "noauth", "weird", "Extension"] {
            assert!(!text.contains(result), "{result}:\n{text}");
        }
    }
    let report = r.report(2);
    assert!(report.sum("auth_challenges") >= 3, "{report:?}");
    assert_eq!(report.sum("registered"), 1, "bob only: {report:?}");

    // Raw: the same REGISTER (but for the name) from one source.
    let peer = Peer::new();
    let users = ["bob", "alice", "mallory"];
    let mut challenges = Vec::new();
    let mut refusals = Vec::new();
    for user in users {
        let cseq = 10;
        let challenge = final_answer(&peer, r.addr, &register(&peer, user, cseq, None));
        let auth = digest_answer(
            &challenge,
            "SHA-256",
            (user, "wrong-password"),
            "REGISTER",
            "sip:example.com",
            1,
        );
        let refusal = final_answer(&peer, r.addr, &register(&peer, user, cseq + 1, Some(&auth)));
        eprintln!("{user}:\n{challenge}\n{refusal}");
        challenges.push(masked(&challenge, user));
        refusals.push(masked(&refusal, user));
    }
    assert!(
        challenges[0].starts_with("SIP/2.0 401 Unauthorized\r\n"),
        "{}",
        challenges[0]
    );
    assert!(challenges[0].contains("NONCE=*"), "{}", challenges[0]);
    for i in 1..users.len() {
        assert_eq!(
            challenges[i], challenges[0],
            "the challenges of {} and {}",
            users[i], users[0]
        );
        assert_eq!(
            refusals[i], refusals[0],
            "wrong passwords of {} and {}",
            users[i], users[0]
        );
    }
    let refused = first_line(&refusals[0]);
    assert!(
        refused.starts_with("SIP/2.0 401") || refused.starts_with("SIP/2.0 403"),
        "{refused}"
    );
}
