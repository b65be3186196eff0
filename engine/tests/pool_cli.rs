//! `examples/pool.toml` as an operator runs it in front of a pool of
//! Asterisk instances: the example file with the pool's addresses moved
//! to loopback (the instances on 127.0.0.2, subscribers on 127.0.0.1),
//! over real sockets. A subscriber registers with digest; the pool's call
//! reaches her phone; an unregistered subscriber gets 480; her call to a
//! number at our domain goes to an instance of the pool, and the next
//! calls to the others, round-robin by weight.
//!
//! The SIPp, baresip and sipvicious versions are in `dispatcher_sipp.rs`,
//! `registrar_sipp.rs` and `registrar_tools.rs`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use trunkline_engine::testkit::Peer;
use trunkline_engine::testkit::process::RunningRouter;
use trunkline_engine::testkit::sip::{UacCall, digest_answer, first_line, header};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/pool.toml");

/// The example, its pool at `pool` (three instances), trusted and matched
/// by its source 127.0.0.2, in `dir`.
fn config(dir: &Path, pool: &[SocketAddr]) -> std::path::PathBuf {
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let subscribers = Path::new(EXAMPLE).with_file_name("pool-subscribers.csv");
    let text = text
        .replace("10.0.0.0/24", "127.0.0.2/32")
        .replace("sip:10.0.0.11:5060", &format!("sip:{}", pool[0]))
        .replace("sip:10.0.0.12:5060", &format!("sip:{}", pool[1]))
        .replace("sip:10.0.0.13:5060", &format!("sip:{}", pool[2]))
        .replace(
            "\"pool-subscribers.csv\"",
            &format!("{:?}", subscribers.display().to_string()),
        );
    assert!(!text.contains("10.0.0."), "the example moved its pool");
    // The control socket, for the NOC's view of the pool.
    let control = dir.join("control.sock");
    let text = format!("control = {:?}\n{text}", control.to_str().unwrap());
    let path = dir.join("pool.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `req` sent by `from`, answered with a challenge, sent again with the
/// digest for `user`; returns the final answer (a 100 skipped).
fn with_digest(from: &Peer, router: SocketAddr, req: &str, uri: &str, method: &str) -> String {
    from.send(router, req);
    let challenge = from.expect_skipping("SIP/2.0 40", &["SIP/2.0 100"], Duration::from_secs(2));
    let (code, header_name) = match first_line(&challenge) {
        l if l.starts_with("SIP/2.0 401") => (401, "Authorization"),
        _ => (407, "Proxy-Authorization"),
    };
    assert!(matches!(code, 401 | 407), "{challenge}");
    let line = digest_answer(
        &challenge,
        "SHA-256",
        ("alice", "alice-secret"),
        method,
        uri,
        1,
    );
    assert!(line.starts_with(header_name), "{line}");
    // The retry: CSeq + 1, a new branch, the credentials.
    let retry = req
        .replacen("CSeq: 1 ", "CSeq: 2 ", 1)
        .replacen(";branch=z9hG4bK", ";branch=z9hG4bKretry", 1)
        .replacen("Content-Length:", &format!("{line}\r\nContent-Length:"), 1);
    from.send(router, &retry);
    from.expect_skipping("SIP/2.0 ", &["SIP/2.0 100"], Duration::from_secs(2))
}

#[test]
fn the_pool_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let pool: Vec<Peer> = (0..3).map(|_| Peer::bind("127.0.0.2:0")).collect();
    let addrs: Vec<SocketAddr> = pool.iter().map(|p| p.addr).collect();
    let config = config(dir.path(), &addrs);
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let r = RunningRouter::start(env!("CARGO_BIN_EXE_trunkline").as_ref(), &args);
    let alice = Peer::new();

    // alice registers (401, digest, 200 listing her binding).
    let register = format!(
        "REGISTER sip:pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP {a};branch=z9hG4bKreg;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@pbx.example.com>;tag=r\r\n\
To: <sip:alice@pbx.example.com>\r\n\
Call-ID: alice-reg\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:alice@{a}>\r\n\
Expires: 600\r\n\
Content-Length: 0\r\n\r\n",
        a = alice.addr
    );
    let ok = with_digest(&alice, r.addr, &register, "sip:pbx.example.com", "REGISTER");
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK", "{ok}");
    assert_eq!(
        header(&ok, "Contact"),
        [format!("<sip:alice@{}>;expires=600", alice.addr)]
    );

    // The pool calls her: her phone rings, at her contact.
    let from_pool = UacCall::new(pool[0].addr, "sip:alice@pbx.example.com", "p1-pool");
    pool[0].send(r.addr, &from_pool.invite("z9hG4bKp1"));
    let ring = alice.expect("INVITE ");
    assert!(
        ring.starts_with(&format!("INVITE sip:alice@{} SIP/2.0", alice.addr)),
        "{ring}"
    );
    // bob has not registered: 480.
    let to_bob = UacCall::new(pool[0].addr, "sip:bob@pbx.example.com", "p2-pool");
    pool[0].send(r.addr, &to_bob.invite("z9hG4bKp2"));
    // (The instances are probed with OPTIONS meanwhile.)
    let no = pool[0].expect_skipping(
        "SIP/2.0 4",
        &["SIP/2.0 100", "OPTIONS "],
        Duration::from_secs(2),
    );
    assert_eq!(
        first_line(&no),
        "SIP/2.0 480 Temporarily Unavailable",
        "{no}"
    );

    // alice dials numbers at our domain: 407, digest, then the pool, by
    // weight (2, 1, 1): forty calls, each instance its share (round-robin
    // is per shard, and the calls spread over the two shards by Call-ID:
    // each shard's cycle of four is exact, the sum within a cycle).
    let mut got = [0usize; 3];
    for i in 0..40 {
        let uri = "sip:5551234@pbx.example.com";
        let call = UacCall::new(alice.addr, uri, &format!("a{i}-alice"));
        alice.send(r.addr, &call.invite(&format!("z9hG4bKa{i}")));
        // (Her phone still rings: the pool's INVITE is retransmitted.)
        let challenge = alice.expect_skipping(
            "SIP/2.0 407",
            &["SIP/2.0 100", "INVITE "],
            Duration::from_secs(2),
        );
        let line = digest_answer(
            &challenge,
            "SHA-256",
            ("alice", "alice-secret"),
            "INVITE",
            uri,
            1,
        );
        let retry = call
            .request("INVITE", 2, &format!("z9hG4bKa{i}b"), None, None)
            .replacen("Content-Length:", &format!("{line}\r\nContent-Length:"), 1);
        alice.send(r.addr, &retry);
        // (The instances do not answer: earlier calls' INVITEs are
        // retransmitted meanwhile.)
        let id = format!("a{i}-alice");
        let invite = |k: usize| {
            while let Some((m, _)) = pool[k].recv(Duration::from_millis(100)) {
                if m.starts_with("INVITE ") && m.contains(&id) {
                    return Some((k, m));
                }
            }
            None
        };
        let (which, m) = (0..3).find_map(invite).expect("an instance got the call");
        assert!(m.starts_with(&format!("INVITE {uri} SIP/2.0")), "{m}");
        got[which] += 1;
    }
    for (k, want) in [(0, 20), (1, 10), (2, 10)] {
        assert!(
            got[k].abs_diff(want) <= 3,
            "weights 2, 1, 1 over 40 calls: {got:?}"
        );
    }

    // The NOC's view: every instance, up on every shard (the probes have
    // not had time to find them silent).
    let ctl = std::process::Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args(["ctl", "--control"])
        .arg(dir.path().join("control.sock"))
        .arg("dispatcher")
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&ctl.stdout);
    assert!(
        ctl.status.success(),
        "{answer} {}",
        String::from_utf8_lossy(&ctl.stderr)
    );
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(lines.len(), 3, "{answer}");
    for (line, a) in lines.iter().zip(&addrs) {
        let (head, up) = line.split_once(" up_on=").expect("up_on");
        assert_eq!(head, format!("asterisk {a}"), "{answer}");
        let (on, of) = up.split_once('/').unwrap();
        assert_eq!(on, of, "{answer}");
    }
}
