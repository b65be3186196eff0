//! Whole calls through the sans-IO proxy core, for the proxy benches: the
//! user-space CPU per call that trunkline owns (parse, validate,
//! transactions, routing, editing), without sockets.
//!
//! A call is the six datagrams a proxy receives for SIPp's `uac`/`uas`
//! with a route set: INVITE, 180, 200, ACK, BYE, 200 (it sends seven:
//! 100 Trying too). The UAS side's messages carry the proxy's own Via
//! branch, so they are recorded once from a first pass (branches are a
//! deterministic hash) and replayed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trunkline_engine::config::Config;
use trunkline_engine::policy::{Policy, PolicyTable};
use trunkline_engine::proxy::{Mode, ProxyConfig, ProxyCore, Services};
use trunkline_engine::security::Cidr;
use trunkline_engine::testkit::sip;

const UAC: &str = "127.0.0.1:5061";
const PROXY: &str = "127.0.0.1:5060";
const UAS: &str = "127.0.0.1:5070";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// One call's incoming datagrams, in order, with their sources.
#[derive(Debug, Clone)]
pub struct Call {
    /// (source, bytes).
    pub messages: Vec<(SocketAddr, Vec<u8>)>,
}

/// A proxy core with a virtual clock.
#[derive(Debug)]
pub struct Driver {
    core: ProxyCore,
    now: Instant,
    step: Duration,
    out: Vec<u8>,
    /// Datagrams sent so far.
    pub sent: u64,
    /// CDRs the core produced so far.
    pub cdrs: u64,
}

impl Driver {
    /// A stateful (or stateless) record-routing core forwarding to the UAS;
    /// the clock advances by `step` per call.
    pub fn new(mode: Mode, step: Duration) -> Driver {
        let mut cfg = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
        cfg.mode = mode;
        Driver::with(ProxyCore::new(Arc::new(cfg), 7), step)
    }

    /// A stateful core running `examples/edge.toml`'s `[security]` and
    /// `[[policy]]` rules, the UAC (127.0.0.1) added to its trusted
    /// trunks: the trunk's path through the policy (no digest).
    pub fn edge_trunk(step: Duration) -> Driver {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/edge.toml");
        let config = Config::load(path.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
        cfg.edge = config.proxy.edge.clone();
        cfg.edge.trusted.insert(Cidr::host(addr(UAC).ip()));
        let policy = Policy::compile(&config.policy).unwrap_or_else(|e| panic!("{e}"));
        let services = Services {
            policy: Some(Arc::new(PolicyTable::new(policy))),
            ..Services::default()
        };
        Driver::with(ProxyCore::for_shard(Arc::new(cfg), &services, 0, 7), step)
    }

    /// A stateful core whose every initial request a `[[policy]]` rule
    /// sends to a `[[dispatcher]]` set of one destination (the UAS),
    /// picked round-robin: the dispatcher's cost on plain stateful
    /// proxying (probing is off: its OPTIONS are not per call).
    pub fn dispatcher(step: Duration) -> Driver {
        let toml = format!(
            "[[dispatcher]]\nid = \"pool\"\nalgorithm = \"round-robin\"\n\
             destinations = [\"sip:{UAS}\"]\nprobe_interval_ms = 0\n\
             [[policy]]\ndispatch = \"pool\"\n"
        );
        let config =
            Config::parse(&toml, "dispatcher.toml".as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let cfg = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
        let policy = Policy::compile(&config.policy).unwrap_or_else(|e| panic!("{e}"));
        let sets = trunkline_engine::dispatch::Dispatchers::new(config.dispatchers)
            .unwrap_or_else(|e| panic!("{e}"));
        let services = Services {
            policy: Some(Arc::new(PolicyTable::new(policy))),
            dispatchers: Some(Arc::new(sets)),
            ..Services::default()
        };
        Driver::with(ProxyCore::for_shard(Arc::new(cfg), &services, 0, 7), step)
    }

    /// A stateful core that is the registrar of 127.0.0.1 (the host of
    /// the recorded INVITEs' Request-URI) with `service` registered at the
    /// UAS: every call goes through a location lookup and the
    /// Request-URI rewrite to the contact, the registrar's cost on a call.
    pub fn registrar(step: Duration) -> Driver {
        let mut d = Driver::registrar_only(step);
        let reg = register(0, "service", 1);
        let ok = d
            .feed(addr(UAS), &reg, Some(addr(UAS)))
            .expect("registered");
        assert!(
            ok.starts_with(b"SIP/2.0 200 "),
            "{}",
            String::from_utf8_lossy(&ok)
        );
        d
    }

    /// A stateful core that is the registrar of 127.0.0.1, with no
    /// binding yet (for REGISTERs per second).
    pub fn registrar_only(step: Duration) -> Driver {
        let toml = "[registrar]\ndomains = [\"127.0.0.1\"]\n";
        let config =
            Config::parse(toml, "registrar.toml".as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let cfg = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
        let registrar = config.registrar.expect("[registrar]");
        let services = Services {
            registrar: Some(Arc::new(
                trunkline_engine::proxy::stages::registrar::Registrar::new(registrar, 1),
            )),
            ..Services::default()
        };
        Driver::with(ProxyCore::for_shard(Arc::new(cfg), &services, 0, 7), step)
    }

    /// Delivers one datagram from `src` and drains what the core sends
    /// (what a bench counts, e.g. with callgrind's `--toggle-collect`).
    #[inline(never)]
    pub fn deliver(&mut self, src: SocketAddr, bytes: &[u8]) {
        self.feed(src, bytes, None);
    }

    /// A stateful core with call control: a dialog per call and its CDR
    /// (`[dialogs]` + `[cdr]`: the record built on the shard; writing it
    /// is the CDR thread's, not measured here).
    pub fn dialog(step: Duration) -> Driver {
        Driver::calls(step, false)
    }

    /// [`Driver::dialog`] with topology hiding (`[topology_hiding]`).
    pub fn topology_hiding(step: Duration) -> Driver {
        Driver::calls(step, true)
    }

    fn calls(step: Duration, hide: bool) -> Driver {
        let mut cfg = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
        cfg.topology_hiding = hide;
        cfg.dialogs = Some(trunkline_engine::proxy::calls::DialogSettings {
            table: trunkline_shards::dialog::DialogConfig::default(),
            check: false,
            cdr: true,
        });
        Driver::with(ProxyCore::new(Arc::new(cfg), 7), step)
    }

    fn with(core: ProxyCore, step: Duration) -> Driver {
        Driver {
            core,
            now: Instant::now(),
            step,
            out: Vec::with_capacity(2048),
            sent: 0,
            cdrs: 0,
        }
    }

    /// Feeds one datagram and drains what the core sends; returns the last
    /// datagram sent to `to`, if asked (for recording).
    fn feed(
        &mut self,
        src: SocketAddr,
        bytes: &[u8],
        capture: Option<SocketAddr>,
    ) -> Option<Vec<u8>> {
        self.core.handle_datagram(self.now, bytes, src, 0);
        let mut got = None;
        while let Some(t) = self.core.poll_transmit(&mut self.out) {
            self.sent += 1;
            if Some(t.dest) == capture {
                got = Some(self.out.clone());
            }
        }
        got
    }

    /// Runs one call and its share of timer work.
    pub fn run(&mut self, call: &Call) {
        for (src, bytes) in &call.messages {
            self.feed(*src, bytes, None);
        }
        self.now += self.step;
        self.core.handle_timeout(self.now);
        while self.core.poll_transmit(&mut self.out).is_some() {
            self.sent += 1;
        }
        while self.core.poll_cdr().is_some() {
            self.cdrs += 1;
        }
    }

    /// Live transactions.
    pub fn live_transactions(&self) -> usize {
        self.core.live_transactions()
    }
}

/// Records `n` distinct calls (distinct Call-IDs and branches).
pub fn record_calls(n: usize, mode: Mode) -> Vec<Call> {
    record_calls_on(n, Driver::new(mode, Duration::from_millis(1)))
}

/// Records `n` distinct calls through `d` (set up as the driver that
/// replays them: the UAS's messages carry its branches).
pub fn record_calls_on(n: usize, mut d: Driver) -> Vec<Call> {
    let (uac, uas) = (addr(UAC), addr(UAS));
    (0..n)
        .map(|i| {
            let invite = invite(i);
            let fwd = d.feed(uac, &invite, Some(uas)).expect("INVITE forwarded");
            let ringing = respond(&fwd, 180, "Ringing");
            let ok = respond(&fwd, 200, "OK");
            d.feed(uas, &ringing, None);
            let relayed = d.feed(uas, &ok, Some(uac)).expect("200 relayed");
            // The UAC's remote target and route set, as the 200 it got
            // gives them (topology hiding's tokens among them).
            let target = route_of(&relayed);
            let ack = in_dialog_to(i, "ACK", 1, &target);
            d.feed(uac, &ack, None);
            let bye = in_dialog_to(i, "BYE", 2, &target);
            let fwd_bye = d.feed(uac, &bye, Some(uas)).expect("BYE forwarded");
            let bye_ok = respond(&fwd_bye, 200, "OK");
            d.feed(uas, &bye_ok, None);
            Call {
                messages: vec![
                    (uac, invite),
                    (uas, ringing),
                    (uas, ok),
                    (uac, ack),
                    (uac, bye),
                    (uas, bye_ok),
                ],
            }
        })
        .collect()
}

/// SIPp `uac`'s INVITE for call `i` (about 600 bytes with SDP), byte for
/// byte as SIPp 3.6.1 sends it (the test kit's UAC writes other headers).
fn invite(i: usize) -> Vec<u8> {
    let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:service@{PROXY} SIP/2.0\r\n\
Via: SIP/2.0/UDP {UAC};branch=z9hG4bK-{i}-1-0\r\n\
From: sipp <sip:sipp@{UAC}>;tag={i}SIPpTag001\r\n\
To: service <sip:service@{PROXY}>\r\n\
Call-ID: {i}-4242@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@{UAC}\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

/// A REGISTER of `user` at 127.0.0.1 from the UAS (its Contact there,
/// an hour), the `cseq`th of its registration (Call-ID `reg-N`): a
/// refresh when `cseq` > 1.
pub fn register(n: usize, user: &str, cseq: u32) -> Vec<u8> {
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP {UAS};branch=z9hG4bK-reg-{n}-{cseq}\r\n\
From: <sip:{user}@127.0.0.1>;tag=r{n}\r\n\
To: <sip:{user}@127.0.0.1>\r\n\
Call-ID: reg-{n}@127.0.0.1\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:{user}@{UAS}>\r\n\
Expires: 3600\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The UAS's address (where REGISTERs come from in [`register`]).
pub fn uas() -> SocketAddr {
    addr(UAS)
}

/// The Request-URI and Route of the UAC's in-dialog requests from the
/// 2xx it received (§12.1.2: its Contact; its Record-Route reversed).
fn route_of(ok: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(ok);
    let contact = sip::header(&text, "Contact")
        .first()
        .map(|c| {
            c.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or(c)
                .to_string()
        })
        .unwrap_or_else(|| format!("sip:service@{UAS}"));
    let mut rr: Vec<&str> = sip::header(&text, "Record-Route")
        .into_iter()
        .flat_map(|v| v.split(", "))
        .collect();
    rr.reverse();
    (contact, rr.join(", "))
}

fn in_dialog_to(i: usize, method: &str, cseq: u32, (target, route): &(String, String)) -> Vec<u8> {
    format!(
        "{method} {target} SIP/2.0\r\n\
Via: SIP/2.0/UDP {UAC};branch=z9hG4bK-{i}-{cseq}-{}\r\n\
Route: {route}\r\n\
From: sipp <sip:sipp@{UAC}>;tag={i}SIPpTag001\r\n\
To: service <sip:service@{PROXY}>;tag=uas-1\r\n\
Call-ID: {i}-4242@127.0.0.1\r\n\
CSeq: {cseq} {method}\r\n\
Contact: sip:sipp@{UAC}\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\r\n",
        cseq + 3
    )
    .into_bytes()
}

/// The UAS's response to a forwarded request, by the test kit's UAS
/// (the parser's response writer: Via, From, To, Call-ID, CSeq copied, a
/// To tag, the Record-Route echoed, a Contact).
fn respond(req: &[u8], code: u16, reason: &str) -> Vec<u8> {
    sip::respond_bytes(req, code, reason, Some("uas-1"), Some(addr(UAS)))
        .expect("a response to the forwarded request")
}
