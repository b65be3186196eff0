//! The proxy core driven by hostile input, shared by the fuzz target
//! (`fuzz_targets/proxy.rs`) and the stable replay test
//! (`engine/tests/fuzz_corpus.rs` includes this file with `#[path]`).
//!
//! The input is a script of operations, so the fuzzer can reach whole
//! transactions, not only the parser: datagrams from four peers (an IPv4
//! caller, an IPv4 gateway, an IPv6 gateway, and our own address), each
//! on the listener of its family (IPv4 or IPv6), responses to the last request
//! the proxy forwarded (with the branch it chose, which random bytes would
//! never guess), retransmissions, loops, answers to its name lookups, and
//! time. The core routes `+` numbers by a static least-cost table (both
//! gateways, capped) and everything else by Route / Request-URI.
//!
//! The core runs on the test kit's virtual network
//! ([`trunkline_engine::testkit::VirtualNet`]), which checks after every
//! operation that everything the proxy sent frames as a SIP message and
//! leaves by a listener of its destination's address family; the core
//! must not panic, and time must move its timers on.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use trunkline_engine::dns::{Hop, NameQuery, Resolved};
use trunkline_engine::lcr::{GroupName, LcrRequest, NoRoute, Target, TargetSource};
use trunkline_engine::proxy::{Counters, LocalAddr, Mode, ProxyConfig, Services};
use trunkline_engine::testkit::{Check, VirtualNet, sip};

/// The peers datagrams come from: caller, IPv4 gateway, IPv6 gateway, us.
pub const PEERS: [&str; 4] = [
    "192.0.2.10:5060",
    "198.51.100.1:5060",
    "[2001:db8::1]:5060",
    "192.0.2.1:5060",
];

/// Our listeners: IPv4, IPv6.
pub const LISTENERS: [&str; 2] = ["192.0.2.1:5060", "[2001:db8::a]:5060"];

/// Status codes op 1 answers with.
const CODES: [u16; 16] = [
    100, 180, 183, 200, 202, 301, 400, 404, 408, 481, 486, 487, 500, 503, 600, 603,
];

/// Routes `+` numbers to both gateways (IPv6 first), capped; anything
/// else has no route.
#[derive(Debug)]
struct Table;

impl TargetSource for Table {
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        if req.number.first() != Some(&b'+') {
            return Err(NoRoute {
                code: 404,
                reason: b"No Route",
            });
        }
        for (i, gw) in [PEERS[2], PEERS[1]].iter().enumerate() {
            if let Some(t) = Target::new(addr(gw), i as u32, req.number) {
                out.push(t.with_cps_limit(50).with_concurrent_limit(20));
            }
        }
        Ok(())
    }

    fn probed(&self, out: &mut Vec<SocketAddr>) {
        out.extend([addr(PEERS[1]), addr(PEERS[2])]);
    }

    /// Every peer is a customer: the ACL lets every call in.
    fn source_group(&self, _source: std::net::IpAddr) -> Option<GroupName> {
        GroupName::new("customers")
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("valid address")
}

/// Reads the script.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// The proxy under test and what it did.
struct Harness {
    net: VirtualNet,
    /// The last request it sent, where to, and by which listener.
    last_request: Option<(Vec<u8>, SocketAddr, u16)>,
    /// The last datagram it was given, from where, on which listener.
    last_input: Option<(Vec<u8>, SocketAddr, u16)>,
}

impl Harness {
    fn new(mode: Mode, record_route: bool) -> Harness {
        let mut cfg = ProxyConfig::new(addr(LISTENERS[0]), None);
        cfg.mode = mode;
        cfg.record_route = record_route;
        cfg.locals
            .addrs
            .push(LocalAddr::from_socket(addr(LISTENERS[1])));
        cfg.max_transactions = 64;
        let services = Services {
            targets: (mode == Mode::Stateful).then(|| Arc::new(Table) as Arc<dyn TargetSource>),
            ..Services::default()
        };
        Harness {
            net: VirtualNet::with_services(cfg, services).checking(Check::Frames),
            last_request: None,
            last_input: None,
        }
    }

    fn datagram(&mut self, bytes: &[u8], src: SocketAddr, local: u16) {
        self.last_input = Some((bytes.to_vec(), src, local));
        self.net.datagram(src, local, bytes);
        self.note_sent();
    }

    /// Keeps the last request the core sent (the kit checked it frames).
    fn note_sent(&mut self) {
        for s in self.net.take_sent() {
            if !s.bytes.starts_with(b"SIP/2.0 ") {
                self.last_request = Some((s.bytes, s.dest, s.local));
            }
        }
    }

    /// Runs every timer due until `d` from now.
    fn advance(&mut self, d: Duration) {
        self.net.advance(d);
        self.note_sent();
    }

    /// The response `code` to the last request sent, from where it went:
    /// the kit's UAS response (the Record-Route echoed, a Contact on 2xx).
    fn respond(&mut self, code: u16, to_tag: bool) {
        let Some((req, dest, local)) = self.last_request.clone() else {
            return;
        };
        let contact = (200..300).contains(&code).then_some(dest);
        let tag = to_tag.then_some("gw1");
        if let Some(out) = sip::respond_bytes(&req, code, "Whatever", tag, contact) {
            self.datagram(&out, dest, local);
        }
    }

    /// Answers the core's next name lookup: fails, an IPv4 address, SRV
    /// records (IPv6 and IPv4 targets), or our own address.
    fn answer_name(&mut self, which: u8) {
        let Some(q): Option<NameQuery> = self.net.core.poll_name_query() else {
            return;
        };
        let found = match which % 4 {
            0 => Err("NXDOMAIN".to_string()),
            1 => Ok(Resolved::of([addr("198.51.100.7:5070")])),
            // SRV: two records of one priority (an IPv6 and an IPv4
            // target), one of a lower priority.
            2 => Ok(Resolved {
                srv: true,
                hops: [
                    ("[2001:db8::7]:5070", 10, 60, 0),
                    ("198.51.100.8:5060", 10, 40, 1),
                    ("198.51.100.9:5060", 20, 0, 2),
                ]
                .iter()
                .map(|&(a, priority, weight, record)| Hop {
                    addr: addr(a),
                    priority,
                    weight,
                    record,
                })
                .collect(),
            }),
            _ => Ok(Resolved::of([addr(LISTENERS[0])])),
        };
        self.net.answer_name(&q, found);
        self.note_sent();
    }
}

/// The listener a datagram from `src` arrives on: the one of its family.
fn listener_for(src: SocketAddr) -> u16 {
    match src.ip() {
        IpAddr::V4(_) => 0,
        IpAddr::V6(_) => 1,
    }
}

/// Runs one script (see the module docs) and returns the core's counters.
/// The first byte picks the mode.
pub fn run(data: &[u8]) -> Counters {
    let mut s = Script(data);
    let Some(setup) = s.byte() else {
        return Counters::default();
    };
    let mode = if setup & 1 == 0 {
        Mode::Stateful
    } else {
        Mode::Stateless
    };
    let mut h = Harness::new(mode, setup & 2 == 0);
    let mut ops = 0;
    while let Some(op) = s.byte() {
        ops += 1;
        if ops > 256 {
            break;
        }
        let arg = s.byte().unwrap_or(0);
        match op % 6 {
            // A datagram: peer, length (up to 4 KiB), bytes; it arrives on
            // the listener of the peer's address family (a socket of one
            // family receives only from that family).
            0 => {
                let len = usize::from(s.byte().unwrap_or(0)) << 4 | usize::from(arg >> 4);
                let src = addr(PEERS[usize::from(arg % 4)]);
                let bytes = s.bytes(len).to_vec();
                h.datagram(&bytes, src, listener_for(src));
            }
            1 => h.respond(CODES[usize::from(arg % 16)], arg & 16 == 0),
            2 => h.advance(Duration::from_millis(u64::from(arg) * 50)),
            3 => h.answer_name(arg),
            // A retransmission of the last datagram.
            4 => {
                if let Some((b, src, local)) = h.last_input.clone() {
                    h.datagram(&b, src, local);
                }
            }
            // The last forwarded request comes back to us (a loop), from
            // any peer.
            _ => {
                if let Some((b, _, _)) = h.last_request.clone() {
                    let src = addr(PEERS[usize::from(arg % 4)]);
                    h.datagram(&b, src, listener_for(src));
                }
            }
        }
    }
    // Whatever was left in flight ends within the RFC's longest wait.
    h.advance(Duration::from_secs(40));
    h.net.core.counters()
}

/// Encodes a script: a datagram from peer `peer` (`PEERS`).
pub fn op_datagram(out: &mut Vec<u8>, peer: u8, msg: &[u8]) {
    assert!(msg.len() < 4096);
    let len = msg.len();
    out.push(0);
    out.push(((len & 15) as u8) << 4 | (peer % 4));
    out.push((len >> 4) as u8);
    out.extend_from_slice(msg);
}

/// Encodes a script: respond to the last request with `CODES[code]`.
pub fn op_respond(out: &mut Vec<u8>, code: u8, to_tag: bool) {
    out.extend_from_slice(&[1, (code % 16) | if to_tag { 0 } else { 16 }]);
}

/// Encodes a script: let `ms` (a multiple of 50, at most 12,750) pass.
pub fn op_advance(out: &mut Vec<u8>, ms: u32) {
    out.extend_from_slice(&[2, (ms / 50).min(255) as u8]);
}

/// Encodes a script: answer the next name lookup (see `answer_name`).
pub fn op_answer(out: &mut Vec<u8>, which: u8) {
    out.extend_from_slice(&[3, which]);
}
