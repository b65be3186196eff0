//! The call executor, sans IO: the built-in uac against the built-in uas
//! over a virtual network with a virtual clock, so losses and timers are
//! exact and nothing depends on the machine's speed.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use trunkline_loadgen::call::{Call, CallConfig, Env, Outgoing, Status, Value};
use trunkline_loadgen::scenario::{LoadOptions, builtin, load_builtin, load_str};
use trunkline_loadgen::stats::{FailReason, Stats};

const UAC: &str = "127.0.0.1:5061";
const UAS: &str = "127.0.0.1:5060";

struct Side {
    cfg: Arc<CallConfig>,
    calls: Vec<Call>,
    stats: Stats,
    out: Vec<Outgoing>,
    pool: Vec<Vec<u8>>,
    events: Vec<trunkline_loadgen::call::Event>,
    rng: fastrand::Rng,
    globals: Vec<Value>,
    addr: SocketAddr,
}

impl Side {
    fn new(name: &str, remote: Option<SocketAddr>, addr: &str) -> Side {
        let sc = load_builtin(name, &LoadOptions::default()).expect("built-in loads");
        Side::with(sc, remote, addr)
    }

    fn with(
        sc: trunkline_loadgen::scenario::Scenario,
        remote: Option<SocketAddr>,
        addr: &str,
    ) -> Side {
        let sc = Arc::new(sc);
        let stats = Stats::new(&sc);
        let mut cfg = CallConfig::new(sc);
        cfg.remote_addr = remote;
        cfg.pid = 4242;
        Side {
            cfg: Arc::new(cfg),
            calls: Vec::new(),
            stats,
            out: Vec::new(),
            pool: Vec::new(),
            events: Vec::new(),
            rng: fastrand::Rng::with_seed(7),
            globals: Vec::new(),
            addr: addr.parse().unwrap(),
        }
    }

    fn step<F: FnOnce(&mut Call, &mut Env<'_>) -> Status>(&mut self, i: usize, now: Instant, f: F) {
        let mut env = Env {
            now,
            wall: SystemTime::UNIX_EPOCH,
            stats: &mut self.stats,
            out: &mut self.out,
            pool: &mut self.pool,
            events: &mut self.events,
            rng: &mut self.rng,
            globals: &mut self.globals,
        };
        if f(&mut self.calls[i], &mut env) == Status::Ended {
            self.calls.remove(i);
        }
    }
}

/// A virtual network: `drop(n)` says whether the n-th datagram is lost.
struct Net<F: FnMut(usize, &[u8]) -> bool> {
    now: Instant,
    sent: usize,
    wire: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    drop: F,
}

/// Runs `calls` calls of uac against uas until both sides are idle;
/// returns (uac, uas).
fn run<F: FnMut(usize, &[u8]) -> bool>(calls: u64, drop: F) -> (Side, Side) {
    run_uac(
        Side::new("uac", Some(UAS.parse().unwrap()), UAC),
        calls,
        drop,
    )
}

/// [`run`] with the given uac side (its own scenario).
fn run_uac<F: FnMut(usize, &[u8]) -> bool>(mut uac: Side, calls: u64, drop: F) -> (Side, Side) {
    let mut uas = Side::new("uas", None, UAS);
    let mut net = Net {
        now: Instant::now(),
        sent: 0,
        wire: VecDeque::new(),
        drop,
    };
    for n in 1..=calls {
        let c = Call::outgoing(uac.cfg.clone(), n, 0, 5061, net.now, &mut uac.stats);
        uac.calls.push(c);
        let i = uac.calls.len() - 1;
        uac.step(i, net.now, |c, env| c.on_wake(env));
    }
    for _ in 0..100_000 {
        // Datagrams in flight are delivered at once (a zero-delay network).
        for side in [&mut uac, &mut uas] {
            for o in side.out.drain(..) {
                net.sent += 1;
                if !(net.drop)(net.sent, &o.bytes) {
                    net.wire.push_back((side.addr, o.dest, o.bytes));
                }
            }
        }
        if let Some((from, to, bytes)) = net.wire.pop_front() {
            let side = if to == uac.addr { &mut uac } else { &mut uas };
            let id = call_id(&bytes);
            let pos = side.calls.iter().position(|c| c.call_id == id);
            let i = match pos {
                Some(i) => i,
                None if side.cfg.scenario.mode == trunkline_loadgen::scenario::Mode::Server => {
                    let c =
                        Call::incoming(side.cfg.clone(), 1, id, 0, 5060, net.now, &mut side.stats);
                    side.calls.push(c);
                    side.calls.len() - 1
                }
                None => continue,
            };
            side.step(i, net.now, |c, env| c.on_message(&bytes, from, env));
            continue;
        }
        // Nothing in flight: jump to the next deadline.
        let next = uac
            .calls
            .iter()
            .chain(uas.calls.iter())
            .filter_map(|c| c.wake_at())
            .min();
        let Some(next) = next else { break };
        net.now = net.now.max(next);
        for side in [&mut uac, &mut uas] {
            let mut i = 0;
            while i < side.calls.len() {
                let before = side.calls.len();
                if side.calls[i].wake_at().is_some_and(|t| t <= net.now) {
                    side.step(i, net.now, |c, env| c.on_wake(env));
                }
                if side.calls.len() == before {
                    i += 1;
                }
            }
        }
    }
    (uac, uas)
}

fn call_id(msg: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(msg);
    s.lines()
        .find_map(|l| l.strip_prefix("Call-ID:").or_else(|| l.strip_prefix("i:")))
        .map(|v| v.trim().as_bytes().to_vec())
        .unwrap_or_default()
}

#[test]
fn uac_and_uas_complete_calls() {
    let (uac, uas) = run(20, |_, _| false);
    assert_eq!(uac.stats.successful(), 20);
    assert_eq!(uac.stats.failed(), 0);
    assert_eq!(uas.stats.successful(), 20, "the uas's 4 s timewait ended");
    assert!(uac.calls.is_empty() && uas.calls.is_empty());
}

#[test]
fn a_lost_invite_is_retransmitted() {
    let (uac, uas) = run(1, |n, b| n == 1 && b.starts_with(b"INVITE"));
    assert_eq!(uac.stats.successful(), 1);
    assert_eq!(uas.stats.successful(), 1);
    assert_eq!(
        uac.stats.msgs[0].sent_retrans, 1,
        "one INVITE retransmission"
    );
}

#[test]
fn a_lost_200_is_retransmitted_by_the_uas() {
    // The uas's 200 OK is sent with retrans="500": losing the first copy
    // costs one retransmission, not the call.
    let mut lost = false;
    let (uac, uas) = run(1, |_, b| {
        if !lost && b.starts_with(b"SIP/2.0 200") {
            lost = true;
            return true;
        }
        false
    });
    assert!(lost);
    assert_eq!(uac.stats.successful(), 1);
    assert_eq!(uas.stats.successful(), 1);
    let retrans: u64 = uas.stats.msgs.iter().map(|m| m.sent_retrans).sum();
    assert_eq!(retrans, 1, "one 200 OK retransmission");
}

#[test]
fn no_answer_fails_after_the_invite_retransmissions() {
    let (uac, _) = run(1, |_, b| b.starts_with(b"INVITE"));
    assert_eq!(uac.stats.successful(), 0);
    assert_eq!(uac.stats.failed(), 1);
    assert_eq!(uac.stats.counters.fail(FailReason::MaxUdpRetrans), 1);
    assert_eq!(uac.stats.msgs[0].sent_retrans, 5, "-max_invite_retrans 5");
}

/// `-lost 100`: the INVITE and each of its retransmissions are lost on
/// purpose (SIPp's `send_raw` applies the loss to retransmissions too),
/// each loss counted on the element; the call fails on the retransmission
/// limit.
#[test]
fn lost_100_loses_the_invite_and_its_retransmissions() {
    let mut uac = Side::new("uac", Some(UAS.parse().unwrap()), UAC);
    Arc::get_mut(&mut uac.cfg).unwrap().default_lost = 100.0;
    let mut on_wire = 0;
    let (uac, uas) = run_uac(uac, 1, |_, b| {
        on_wire += usize::from(b.starts_with(b"INVITE"));
        false
    });
    assert_eq!(on_wire, 0);
    assert_eq!(uas.stats.msgs.iter().map(|m| m.recv).sum::<u64>(), 0);
    assert_eq!(uac.stats.counters.fail(FailReason::MaxUdpRetrans), 1);
    let invite = uac.stats.msgs[0];
    assert_eq!((invite.sent, invite.sent_retrans, invite.lost), (1, 5, 6));
}

/// An element's own `lost="0"` wins over `-lost`: SIPp uses the global
/// percentage only for elements without the attribute.
#[test]
fn an_elements_lost_attribute_overrides_lost() {
    let mut sc = load_builtin("uac", &LoadOptions::default()).expect("uac");
    for e in &mut sc.elements {
        e.common.lost = Some(0.0);
    }
    let mut uac = Side::with(sc, Some(UAS.parse().unwrap()), UAC);
    Arc::get_mut(&mut uac.cfg).unwrap().default_lost = 100.0;
    let (uac, uas) = run_uac(uac, 5, |_, _| false);
    assert_eq!(uac.stats.successful(), 5);
    assert_eq!(uas.stats.successful(), 5);
    assert_eq!(uac.stats.msgs.iter().map(|m| m.lost).sum::<u64>(), 0);
}

/// SIPp's uac with explicit transactions (`common::uac_with_transactions`).
fn uac_with_transactions(bye_txn: Option<&str>, bye_response_txn: &str) -> Side {
    let xml = builtin("uac").expect("uac");
    let out = common::uac_with_transactions(xml, bye_txn, bye_response_txn);
    let sc = load_str(&out, "uac-txn.xml", "uac-txn", &LoadOptions::default())
        .expect("scenario with transactions loads");
    Side::with(sc, Some(UAS.parse().unwrap()), UAC)
}

#[test]
fn explicit_transactions_match_responses_by_branch() {
    let (uac, uas) = run_uac(uac_with_transactions(Some("bye"), "bye"), 10, |_, _| false);
    assert_eq!(uac.stats.successful(), 10);
    assert_eq!(uac.stats.failed(), 0);
    assert_eq!(uas.stats.successful(), 10);
}

#[test]
fn a_response_of_another_transaction_is_not_taken() {
    // The 200 to the BYE is awaited as a response of the INVITE's
    // transaction: its branch differs, so it is unexpected and the call
    // fails (without response_txn SIPp would take it by its CSeq method).
    let (uac, _) = run_uac(uac_with_transactions(None, "invite"), 5, |_, _| false);
    assert_eq!(uac.stats.successful(), 0);
    assert_eq!(uac.stats.failed(), 5);
}

/// A request with a body and `[authentication]` (the uac of a proxy that
/// challenges INVITEs): its Content-Length counts the body alone, as
/// SIPp's does. (The header goes in last; before it did, its empty line
/// ended the headers early for `[len]`, and the proxy refused the INVITE
/// as unframable.)
#[test]
fn len_counts_the_body_of_an_authenticated_request() {
    let xml = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac-auth">
  <send><![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      s=-
    ]]>
  </send>
  <recv response="407" auth="true"/>
  <send><![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      [authentication username=alice password=pw]
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      s=-
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#;
    let sc = load_str(xml, "uac-auth.xml", "uac-auth", &LoadOptions::default()).expect("loads");
    let mut uac = Side::with(sc, Some(UAS.parse().unwrap()), UAC);
    let now = Instant::now();
    uac.calls.push(Call::outgoing(
        uac.cfg.clone(),
        1,
        0,
        5061,
        now,
        &mut uac.stats,
    ));
    uac.step(0, now, |c, env| c.on_wake(env));
    let invite = String::from_utf8(uac.out.remove(0).bytes).unwrap();
    let challenge = invite
        .replacen("INVITE sip:service@127.0.0.1:5060 SIP/2.0", "SIP/2.0 407 Proxy Authentication Required", 1)
        .replace("Content-Type: application/sdp\r\n", "")
        .replace(
            "CSeq: 1 INVITE\r\n",
            "CSeq: 1 INVITE\r\nProxy-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\n",
        );
    let challenge = challenge[..challenge.find("Content-Length").unwrap()].to_string()
        + "Content-Length: 0\r\n\r\n";
    let from: SocketAddr = UAS.parse().unwrap();
    uac.step(0, now, |c, env| {
        c.on_message(challenge.as_bytes(), from, env)
    });
    let again = String::from_utf8(uac.out.pop().expect("the INVITE again").bytes).unwrap();
    let (head, body) = again.split_once("\r\n\r\n").expect("a header block");
    assert!(
        head.contains("\r\nProxy-Authorization: Digest username=\"alice\""),
        "{again}"
    );
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Content-Length");
    assert_eq!(len, body.len(), "{again}");
    assert_eq!(body, "v=0\r\ns=-\r\n");
}
