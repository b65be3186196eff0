//! Two routers sharing the registrar's location table through a real
//! `redis-server` (`[registrar] redis`): a phone registers with router A,
//! a call through router B reaches it; a router started later reads the
//! bindings from Redis at start; a binding removed on A is gone on B.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use trunkline_engine::testkit::Peer;
use trunkline_engine::testkit::process::{RunningRouter, free_udp_port};
use trunkline_engine::testkit::sip::UacCall;

/// A `redis-server` on its own port, without persistence; killed when
/// dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        // redis listens on TCP: a port free for UDP is as good a guess.
        let port = free_udp_port("127.0.0.1");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian redis-server) runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn router(dir: &Path, name: &str, redis: u16) -> RunningRouter {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "shards = 2\n[registrar]\ndomains = [\"example.com\"]\n\
             redis = \"redis://127.0.0.1:{redis}/\"\n"
        ),
    )
    .unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    RunningRouter::start(env!("CARGO_BIN_EXE_trunkline").as_ref(), &args)
}

/// A REGISTER of alice at `phone` with `expires`, CSeq `cseq`.
fn register(phone: &Peer, router: SocketAddr, expires: u32, cseq: u32) -> String {
    let msg = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP {p};branch=z9hG4bKreg{cseq};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=reg\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: alice-reg\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:alice@{p}>\r\n\
Expires: {expires}\r\n\
Content-Length: 0\r\n\r\n",
        p = phone.addr
    );
    phone.send(router, &msg);
    phone.expect("SIP/2.0 200 OK")
}

/// Calls alice through `router` until the INVITE reaches `phone` (the
/// change may take a moment to travel); panics after 5 s.
fn call_reaches(uac: &Peer, phone: &Peer, router: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut i = 0;
    while Instant::now() < deadline {
        i += 1;
        let call = UacCall::new(uac.addr, "sip:alice@example.com", &format!("c{i}-x"));
        uac.send(router, &call.invite(&format!("z9hG4bKinv{i}")));
        if let Some((m, _)) = phone.recv(Duration::from_millis(300)) {
            if m.starts_with("INVITE sip:alice@") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The final answer (4xx) the UAC gets within a second to a call to
/// alice through `router`, if any.
fn final_answer(uac: &Peer, router: SocketAddr, id: &str) -> Option<String> {
    let call = UacCall::new(uac.addr, "sip:alice@example.com", id);
    uac.send(router, &call.invite(&format!("z9hG4bK{id}")));
    let deadline = Instant::now() + Duration::from_secs(1);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match uac.recv(left) {
            Some((m, _)) if m.starts_with("SIP/2.0 4") && m.contains(id) => return Some(m),
            Some(_) => {}
            None => break,
        }
    }
    None
}

#[test]
#[ignore = "needs redis-server"]
fn two_routers_share_the_location_table() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path());
    let a = router(dir.path(), "a", redis.port);
    let b = router(dir.path(), "b", redis.port);
    let (phone, uac) = (Peer::new(), Peer::new());
    // Not registered anywhere: 480 from B.
    let no = final_answer(&uac, b.addr, "before-x");
    assert!(
        no.as_deref().is_some_and(|m| m.starts_with("SIP/2.0 480")),
        "{no:?}"
    );
    let ok = register(&phone, a.addr, 600, 1);
    assert!(ok.contains("Contact: <sip:alice@"), "{ok}");
    assert!(
        call_reaches(&uac, &phone, b.addr),
        "B never routed to A's binding"
    );
    // A router started now reads the binding from Redis.
    let c = router(dir.path(), "c", redis.port);
    assert!(
        call_reaches(&uac, &phone, c.addr),
        "C did not load the binding"
    );
    // Unregistered on A: gone on B.
    register(&phone, a.addr, 0, 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        while phone.recv(Duration::from_millis(50)).is_some() {}
        let id = format!("after-{}-x", fastrand_id());
        let answer = final_answer(&uac, b.addr, &id);
        if answer.is_some_and(|m| m.starts_with("SIP/2.0 480")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B still routes to a removed binding"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh id for a Call-ID.
fn fastrand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
