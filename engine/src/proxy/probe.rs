//! Gateway probing with OPTIONS (issue 5): a gateway that stops answering
//! is taken out of least-cost routing until it answers again.
//!
//! Every shard probes the gateways its [`TargetSource`] lists, on its own:
//! no state is shared between shards (the cost is one OPTIONS per gateway
//! per shard per interval). A probe is a single datagram, not a client
//! transaction: its "timeout" is the next round, so a gateway goes down
//! after `down_after` rounds without an answer, and up again after
//! `up_after` answered rounds. An answer is any final response below 500
//! other than 408 (gateways often answer OPTIONS with 404 or 405; a 5xx
//! says it cannot take calls). Probe Call-IDs are minted with the shard
//! (so the answers come back to it) and the branch carries the probe
//! number (so an answer is matched without a transaction).
//!
//! [`TargetSource`]: super::TargetSource

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trunkline_parser::Message;

use super::State;

/// The branch prefix of our probes: `z9hG4bK` + `tlp` + the probe number.
const PROBE_BRANCH: &str = "z9hG4bKtlp";

/// How gateways are probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Time between rounds (and how long a probe has to be answered).
    pub interval: Duration,
    /// Unanswered rounds in a row that take a gateway down.
    pub down_after: u8,
    /// Answered rounds in a row that bring a down gateway back.
    pub up_after: u8,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            interval: Duration::from_secs(10),
            down_after: 3,
            up_after: 2,
        }
    }
}

/// One probed gateway on this shard.
#[derive(Clone, Copy, Debug)]
pub(super) struct Health {
    up: bool,
    /// Consecutive unanswered (when up) or answered (when down) rounds.
    streak: u8,
    /// The probe of the current round, while unanswered.
    pending: Option<u64>,
    /// The last round that listed this gateway.
    seen: u64,
}

/// This shard's probing state.
#[derive(Debug, Default)]
pub(super) struct Prober {
    next_round: Option<Instant>,
    round: u64,
    seq: u64,
    gateways: HashMap<SocketAddr, Health, foldhash::fast::FixedState>,
    /// Pending probe number → gateway.
    pending: HashMap<u64, SocketAddr, foldhash::fast::FixedState>,
    scratch: Vec<SocketAddr>,
    sends: Vec<(SocketAddr, u64)>,
    call_id: Vec<u8>,
}

impl Prober {
    /// Whether `dest` is a probed gateway that is down.
    pub(super) fn is_down(&self, dest: &SocketAddr) -> bool {
        self.gateways.get(dest).is_some_and(|h| !h.up)
    }

    /// When the next round is due.
    pub(super) fn next_round(&self) -> Option<Instant> {
        self.next_round
    }

    /// Every probed gateway and whether it is up.
    pub(super) fn states(&self) -> impl Iterator<Item = (SocketAddr, bool)> + '_ {
        self.gateways.iter().map(|(a, h)| (*a, h.up))
    }
}

impl State {
    /// Runs a probing round when one is due.
    pub(super) fn probe_round(&mut self, now: Instant) {
        let Some(source) = self.cfg.lcr.clone() else {
            return;
        };
        let interval = self.cfg.probe.interval;
        match self.prober.next_round {
            Some(t) if t > now => return,
            _ => self.prober.next_round = Some(now + interval),
        }
        let mut list = std::mem::take(&mut self.prober.scratch);
        let mut sends = std::mem::take(&mut self.prober.sends);
        list.clear();
        sends.clear();
        source.probed(&mut list);
        let p = &mut self.prober;
        p.round += 1;
        let locals = &self.cfg.locals;
        for &dest in &list {
            if probe_local(locals, dest).is_none() {
                continue; // no listener of its address family: not probed
            }
            let h = p.gateways.entry(dest).or_insert(Health {
                up: true,
                streak: 0,
                pending: None,
                seen: 0,
            });
            if h.seen == p.round {
                continue; // listed twice
            }
            h.seen = p.round;
            if let Some(seq) = h.pending.take() {
                // Last round's probe went unanswered.
                p.pending.remove(&seq);
                self.counters.probe_failures += 1;
                if h.up {
                    h.streak += 1;
                    if h.streak >= self.cfg.probe.down_after {
                        h.up = false;
                        h.streak = 0;
                        tracing::warn!(gateway = %dest, "gateway down: no answer to OPTIONS");
                    }
                } else {
                    h.streak = 0;
                }
            }
            p.seq += 1;
            h.pending = Some(p.seq);
            p.pending.insert(p.seq, dest);
            sends.push((dest, p.seq));
        }
        // Gateways no longer listed (a new table) stop being tracked.
        let round = p.round;
        p.gateways.retain(|_, h| h.seen == round);
        let gateways = &p.gateways;
        p.pending.retain(|_, a| gateways.contains_key(a));
        for &(dest, seq) in &sends {
            self.send_probe(dest, seq);
        }
        self.prober.scratch = list;
        self.prober.sends = sends;
    }

    fn send_probe(&mut self, dest: SocketAddr, seq: u64) {
        let Some(local) = probe_local(&self.cfg.locals, dest) else {
            return;
        };
        let a = &self.cfg.locals.addrs[local];
        let mut call_id = std::mem::take(&mut self.prober.call_id);
        call_id.clear();
        self.minter.mint(a.host.as_bytes(), &mut call_id);
        let mut buf = self.tx.take_buf();
        let _ = write!(
            buf,
            "OPTIONS sip:{dest} SIP/2.0\r\n\
Via: SIP/2.0/UDP {hp};branch={branch}{seq:x}\r\n\
Max-Forwards: 70\r\n\
From: <sip:ping@{hp}>;tag=tlp{seq:x}\r\n\
To: <sip:{dest}>\r\n\
Call-ID: {cid}\r\n\
CSeq: 1 OPTIONS\r\n\
User-Agent: trunkline\r\n\
Content-Length: 0\r\n\r\n",
            hp = a.host_port,
            branch = PROBE_BRANCH,
            cid = String::from_utf8_lossy(&call_id),
        );
        self.prober.call_id = call_id;
        self.counters.probes_sent += 1;
        self.queue(dest, local as u16, buf);
    }

    /// Takes a response to one of our probes; returns whether it was one.
    pub(super) fn probe_response(&mut self, msg: &Message<'_>, code: u16) -> bool {
        let Ok(via) = msg.top_via() else {
            return false;
        };
        let Some(seq) = via
            .branch
            .and_then(|b| b.strip_prefix(PROBE_BRANCH.as_bytes()))
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| u64::from_str_radix(s, 16).ok())
        else {
            return false;
        };
        if code < 200 {
            return true;
        }
        let Some(dest) = self.prober.pending.remove(&seq) else {
            return true; // late or duplicate: the round already counted it
        };
        let Some(h) = self.prober.gateways.get_mut(&dest) else {
            return true;
        };
        h.pending = None;
        let answered = code < 500 && code != 408;
        if !answered {
            self.counters.probe_failures += 1;
        }
        match (h.up, answered) {
            (true, true) | (false, false) => h.streak = 0,
            (true, false) => {
                h.streak += 1;
                if h.streak >= self.cfg.probe.down_after {
                    h.up = false;
                    h.streak = 0;
                    tracing::warn!(gateway = %dest, code, "gateway down: OPTIONS answered {code}");
                }
            }
            (false, true) => {
                h.streak += 1;
                if h.streak >= self.cfg.probe.up_after {
                    h.up = true;
                    h.streak = 0;
                    tracing::info!(gateway = %dest, "gateway up again");
                }
            }
        }
        true
    }
}

/// The listener a probe to `dest` leaves by: the first that
/// [reaches](super::route::LocalAddr::reaches) it; `None` when none does.
fn probe_local(locals: &super::route::Locals, dest: SocketAddr) -> Option<usize> {
    locals.addrs.iter().position(|l| l.reaches(dest))
}
