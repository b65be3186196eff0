//! The proxy core on a virtual network and clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trunkline_parser::{Parser, validate};

use crate::dns::{NameQuery, Resolved};
use crate::proxy::{ProxyConfig, ProxyCore, Services};

/// A datagram the core sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Its destination.
    pub dest: SocketAddr,
    /// The listener it left by.
    pub local: u16,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Sent {
    /// Its text; panics when it is not UTF-8 (tests that send only text
    /// get only text back).
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes.clone()).expect("UTF-8 on the wire")
    }
}

/// How the datagrams the core sends are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// They frame, and validate (but a 400 echoing the header it refuses).
    Valid,
    /// They frame: for hostile input, which the core forwards with what
    /// it does not act on untouched (§16.3).
    Frames,
}

/// A proxy core, its virtual clock, the datagrams waiting to reach it and
/// the ones it sent. See the module docs.
#[derive(Debug)]
pub struct VirtualNet {
    /// The core under test.
    pub core: ProxyCore,
    /// The virtual clock.
    pub now: Instant,
    inbound: VecDeque<(SocketAddr, u16, Vec<u8>)>,
    sent: Vec<Sent>,
    check: Check,
    checker: Parser,
}

impl VirtualNet {
    /// A core with settings `cfg` and no services.
    pub fn new(cfg: ProxyConfig) -> VirtualNet {
        VirtualNet::with_services(cfg, Services::default())
    }

    /// A core with settings `cfg` asking `services`.
    pub fn with_services(cfg: ProxyConfig, services: Services) -> VirtualNet {
        VirtualNet {
            core: ProxyCore::for_shard(Arc::new(cfg), &services, 0, 1),
            now: Instant::now(),
            inbound: VecDeque::new(),
            sent: Vec::new(),
            check: Check::Valid,
            checker: Parser::default(),
        }
    }

    /// Checks what the core sends as `check` says (default: [`Check::Valid`]).
    pub fn checking(mut self, check: Check) -> VirtualNet {
        self.check = check;
        self
    }

    /// `msg` from `src` reaches the core now, on listener 0; what it sends
    /// is collected (see [`VirtualNet::take`]).
    pub fn from(&mut self, src: impl Into<SocketAddrText>, msg: &str) {
        self.recv_on(src, msg, 0);
    }

    /// `msg` from `src` reaches the core now, on listener `local`.
    pub fn recv_on(&mut self, src: impl Into<SocketAddrText>, msg: &str, local: u16) {
        self.datagram(src.into().0, local, msg.as_bytes());
    }

    /// Raw bytes from `src` reach the core now, on listener `local`.
    pub fn datagram(&mut self, src: SocketAddr, local: u16, bytes: &[u8]) {
        self.core.handle_datagram(self.now, bytes, src, local);
        self.drain();
    }

    /// Queues a datagram from `src` on listener `local`, for
    /// [`VirtualNet::step`] to deliver.
    pub fn deliver(&mut self, src: SocketAddr, local: u16, bytes: &[u8]) {
        self.inbound.push_back((src, local, bytes.to_vec()));
    }

    /// One step: the next queued datagram reaches the core; when none is
    /// queued, the clock moves to the core's next deadline and its timers
    /// run. Returns whether anything was left to do.
    pub fn step(&mut self) -> bool {
        if let Some((src, local, bytes)) = self.inbound.pop_front() {
            self.datagram(src, local, &bytes);
            return true;
        }
        let Some(t) = self.core.poll_timeout() else {
            return false;
        };
        self.now = self.now.max(t);
        self.core.handle_timeout(self.now);
        self.drain();
        true
    }

    /// Steps until nothing is left: every queued datagram delivered and
    /// every timer run (transactions ended). Panics after 100,000 steps:
    /// a core that never settles is a livelock.
    pub fn drive(&mut self) {
        assert!(
            self.drive_bounded(100_000),
            "the core did not settle within 100,000 steps"
        );
    }

    /// Steps at most `max` times; returns whether everything settled.
    pub fn drive_bounded(&mut self, max: usize) -> bool {
        for _ in 0..max {
            if !self.step() {
                return true;
            }
        }
        !self.step()
    }

    /// Lets `d` pass: every timer due within it runs, at its time.
    /// Panics when timers do not move on (100,000 rounds).
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let mut rounds = 0;
        while let Some(t) = self.core.poll_timeout() {
            if t > end {
                break;
            }
            rounds += 1;
            assert!(rounds < 100_000, "timers do not move on");
            self.now = self.now.max(t);
            self.core.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    /// Answers the core's name lookup `query` with `found`.
    pub fn answer_name(&mut self, query: &NameQuery, found: Result<Resolved, String>) {
        self.core.handle_name_answer(self.now, query, found);
        self.drain();
    }

    /// Collects what the core sent, checking each datagram: it leaves by a
    /// listener that reaches its destination's address family, it frames,
    /// and (with [`Check::Valid`]) it validates unless it is a 400 echoing
    /// the bad header it complains about. Panics when the core keeps
    /// producing datagrams (10,000 at once).
    pub fn drain(&mut self) {
        let mut buf = Vec::new();
        let mut n = 0;
        while let Some(t) = self.core.poll_transmit(&mut buf) {
            n += 1;
            assert!(n < 10_000, "the core keeps producing datagrams");
            let listener = self
                .core
                .locals()
                .addrs
                .get(usize::from(t.local))
                .unwrap_or_else(|| panic!("no listener {}", t.local));
            assert!(listener.reaches(t.dest), "{t:?} from {listener:?}");
            let text = || String::from_utf8_lossy(&buf).into_owned();
            let m = match self.checker.parse(&buf) {
                Ok(m) => m,
                Err(e) => panic!("the core sent what does not frame: {e}\n{}", text()),
            };
            if self.check == Check::Valid && m.status_code() != Some(400) {
                if let Err(e) = validate(&m) {
                    panic!("the core sent what does not validate: {e}\n{}", text());
                }
            }
            self.sent.push(Sent {
                dest: t.dest,
                local: t.local,
                bytes: std::mem::take(&mut buf),
            });
        }
    }

    /// What the core sent since the last take, as it was sent.
    pub fn take_sent(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    /// What the core sent since the last take: (destination, text).
    pub fn take(&mut self) -> Vec<(SocketAddr, String)> {
        self.sent.drain(..).map(|s| (s.dest, s.text())).collect()
    }

    /// Like [`VirtualNet::take`], with the listener each left by.
    pub fn take_by(&mut self) -> Vec<(u16, SocketAddr, String)> {
        self.sent
            .drain(..)
            .map(|s| (s.local, s.dest, s.text()))
            .collect()
    }
}

/// An address given as a [`SocketAddr`] or as text (`"192.0.2.1:5060"`).
#[derive(Clone, Copy, Debug)]
pub struct SocketAddrText(pub SocketAddr);

impl From<SocketAddr> for SocketAddrText {
    fn from(a: SocketAddr) -> Self {
        SocketAddrText(a)
    }
}

impl From<&str> for SocketAddrText {
    fn from(s: &str) -> Self {
        SocketAddrText(super::addr(s))
    }
}
