//! Helpers for the end-to-end tests: a router on loopback with test
//! timers, and scripted UAC/UAS peers on plain UDP sockets.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use trunkline_engine::config::Config;
use trunkline_engine::router::{self, RouterHandle};
use trunkline_parser::{HeaderName, Parser};

/// A router on 127.0.0.1 (a free port), forwarding to `to`, with the
/// RFC's default timers (tests of timeouts shorten them in `tweak`, e.g.
/// with [`short_timers`]).
pub fn start_router(to: Option<SocketAddr>, tweak: impl FnOnce(&mut Config)) -> RouterHandle {
    let mut cfg = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        shards: 2,
        shutdown_grace: Duration::from_millis(500),
        ..Config::default()
    };
    cfg.proxy.default_route = to;
    tweak(&mut cfg);
    router::start(&cfg).expect("router starts")
}

/// T1 = 20 ms, so Timer B (64·T1) fires after 1.28 s.
pub fn short_timers(cfg: &mut Config) {
    cfg.proxy.timers.t1 = Duration::from_millis(20);
    cfg.proxy.timers.t2 = Duration::from_millis(160);
    cfg.proxy.timers.t4 = Duration::from_millis(200);
    cfg.proxy.timers.d = Duration::from_millis(500);
}

/// A SIP peer on a UDP socket of its own.
#[derive(Debug)]
pub struct Peer {
    /// Its socket.
    pub sock: UdpSocket,
    /// Its address.
    pub addr: SocketAddr,
}

impl Default for Peer {
    fn default() -> Self {
        Self::new()
    }
}

impl Peer {
    /// A peer on 127.0.0.1, any free port.
    pub fn new() -> Peer {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        Peer { sock, addr }
    }

    /// A peer on the IPv6 loopback, any free port.
    pub fn new_v6() -> Peer {
        let sock = UdpSocket::bind("[::1]:0").expect("IPv6 loopback");
        let addr = sock.local_addr().unwrap();
        Peer { sock, addr }
    }

    /// Sends `msg` to `to`.
    pub fn send(&self, to: SocketAddr, msg: &str) {
        self.sock.send_to(msg.as_bytes(), to).unwrap();
    }

    /// The next datagram within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<(String, SocketAddr)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    return Some((String::from_utf8_lossy(&buf[..n]).into_owned(), from));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    /// Waits up to 2 s for a message whose first line starts with
    /// `start`; panics, listing what came instead, if none does.
    pub fn expect(&self, start: &str) -> String {
        self.expect_within(start, Duration::from_secs(2))
    }

    /// [`Peer::expect`] with a chosen timeout.
    pub fn expect_within(&self, start: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left) {
                Some((m, _)) if m.starts_with(start) => return m,
                Some((m, _)) => seen.push(m.lines().next().unwrap_or_default().to_string()),
                None => break,
            }
        }
        panic!("peer {} expected `{start}`, got {seen:?}", self.addr);
    }

    /// Asserts that nothing but messages starting with one of `allowed`
    /// arrives within `d`.
    pub fn expect_nothing(&self, d: Duration, allowed: &[&str]) {
        let deadline = Instant::now() + d;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some((m, _)) = self.recv(left) {
                assert!(
                    allowed.iter().any(|a| m.starts_with(a)),
                    "peer {} expected silence, got:\n{m}",
                    self.addr
                );
            }
        }
    }
}

/// An INVITE from `uac` for `call_id`, addressed to `target`.
pub fn invite(uac: &Peer, target: SocketAddr, call_id: &str, branch: &str) -> String {
    format!(
        "INVITE sip:bob@{target} SIP/2.0\r\n\
Via: SIP/2.0/UDP {uac};branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@{uac}>;tag=a-{call_id}\r\n\
To: Bob <sip:bob@{target}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@{uac}>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n",
        uac = uac.addr
    )
}

/// A request in the dialog of `call_id`, through `route` (our RR URI) when given.
pub fn in_dialog(
    uac: &Peer,
    target: SocketAddr,
    method: &str,
    cseq: u32,
    call_id: &str,
    branch: &str,
    route: Option<&str>,
) -> String {
    let route = route.map(|r| format!("Route: {r}\r\n")).unwrap_or_default();
    format!(
        "{method} sip:bob@{target} SIP/2.0\r\n\
Via: SIP/2.0/UDP {uac};branch={branch};rport\r\n\
{route}Max-Forwards: 70\r\n\
From: Alice <sip:alice@{uac}>;tag=a-{call_id}\r\n\
To: Bob <sip:bob@{target}>;tag=b-{call_id}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n",
        uac = uac.addr
    )
}

/// The UAS's response to `req`: Via, From, Call-ID, CSeq and
/// Record-Route copied, a To tag (`b-<Call-ID>`) unless `code` is 100.
pub fn respond(req: &str, code: u16, reason: &str, contact: SocketAddr) -> String {
    let mut p = Parser::default();
    let m = p.parse(req.as_bytes()).expect("request parses");
    let call_id = String::from_utf8_lossy(m.call_id().unwrap_or_default()).into_owned();
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for h in m.headers() {
        let line = String::from_utf8_lossy(m.slice(h.line()));
        match h.kind {
            HeaderName::Via
            | HeaderName::From
            | HeaderName::CallId
            | HeaderName::CSeq
            | HeaderName::RecordRoute => out.push_str(&line),
            HeaderName::To => {
                let v = String::from_utf8_lossy(m.slice(h.value));
                if code == 100 || v.contains(";tag=") {
                    out.push_str(&format!("To: {v}\r\n"));
                } else {
                    out.push_str(&format!("To: {v};tag=b-{call_id}\r\n"));
                }
            }
            _ => {}
        }
    }
    if (200..300).contains(&code) {
        out.push_str(&format!("Contact: <sip:bob@{contact}>\r\n"));
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// The values of header `name` in `msg`.
pub fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .filter_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        })
        .collect()
}
