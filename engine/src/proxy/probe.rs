//! Gateway probing with OPTIONS: a gateway that stops answering is taken
//! out of least-cost routing until it answers again.
//!
//! Every shard probes the gateways its [`ShardTargets`] lists, on its own:
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
//! [`ShardTargets`]: crate::lcr::ShardTargets

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trunkline_parser::Message;
use trunkline_shards::CallIdMinter;

use super::next_hop::Locals;

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
struct Health {
    up: bool,
    /// Consecutive unanswered (when up) or answered (when down) rounds.
    streak: u8,
    /// The probe of the current round, while unanswered.
    pending: Option<u64>,
    /// The last round that listed this gateway.
    seen: u64,
}

/// Probing's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProbeCounters {
    /// OPTIONS probes sent.
    pub sent: u64,
    /// Probes unanswered within their round, or answered 408 / 5xx.
    pub failures: u64,
}

/// This shard's probing state.
#[derive(Debug)]
pub(crate) struct Prober {
    cfg: ProbeConfig,
    next_round: Option<Instant>,
    round: u64,
    seq: u64,
    gateways: HashMap<SocketAddr, Health, foldhash::fast::FixedState>,
    /// Pending probe number → gateway.
    pending: HashMap<u64, SocketAddr, foldhash::fast::FixedState>,
    /// The gateways of the round being started.
    list: Vec<SocketAddr>,
    /// Probes of this round not written yet.
    sends: VecDeque<(SocketAddr, u64)>,
    /// Call-IDs for our probes, owned by this shard (answers come back here).
    minter: CallIdMinter,
    call_id: Vec<u8>,
    pub counters: ProbeCounters,
}

impl Prober {
    /// A prober minting its Call-IDs with `minter`.
    pub fn new(cfg: ProbeConfig, minter: CallIdMinter) -> Prober {
        Prober {
            cfg,
            next_round: None,
            round: 0,
            seq: 0,
            gateways: HashMap::default(),
            pending: HashMap::default(),
            list: Vec::new(),
            sends: VecDeque::new(),
            minter,
            call_id: Vec::new(),
            counters: ProbeCounters::default(),
        }
    }

    /// Whether `dest` is a probed gateway that is down.
    pub fn is_down(&self, dest: &SocketAddr) -> bool {
        self.gateways.get(dest).is_some_and(|h| !h.up)
    }

    /// When the next round is due (`None` before the first).
    pub fn next_round(&self) -> Option<Instant> {
        self.next_round
    }

    /// Every probed gateway and whether it is up.
    pub fn states(&self) -> impl Iterator<Item = (SocketAddr, bool)> + '_ {
        self.gateways.iter().map(|(a, h)| (*a, h.up))
    }

    /// Starts a probing round when one is due: `gateways` lists the
    /// gateways to probe; their probes are then taken with
    /// [`Prober::write_next`].
    pub fn round(
        &mut self,
        now: Instant,
        locals: &Locals,
        gateways: impl FnOnce(&mut Vec<SocketAddr>),
    ) {
        match self.next_round {
            Some(t) if t > now => return,
            _ => self.next_round = Some(now + self.cfg.interval),
        }
        self.list.clear();
        gateways(&mut self.list);
        self.round += 1;
        for &dest in &self.list {
            if probe_local(locals, dest).is_none() {
                continue; // no listener of its address family: not probed
            }
            let h = self.gateways.entry(dest).or_insert(Health {
                up: true,
                streak: 0,
                pending: None,
                seen: 0,
            });
            if h.seen == self.round {
                continue; // listed twice
            }
            h.seen = self.round;
            if let Some(seq) = h.pending.take() {
                // Last round's probe went unanswered.
                self.pending.remove(&seq);
                self.counters.failures += 1;
                if h.up {
                    h.streak += 1;
                    if h.streak >= self.cfg.down_after {
                        h.up = false;
                        h.streak = 0;
                        tracing::warn!(gateway = %dest, "gateway down: no answer to OPTIONS");
                    }
                } else {
                    h.streak = 0;
                }
            }
            self.seq += 1;
            h.pending = Some(self.seq);
            self.pending.insert(self.seq, dest);
            self.sends.push_back((dest, self.seq));
        }
        // Gateways no longer listed (a new table) stop being tracked.
        let round = self.round;
        self.gateways.retain(|_, h| h.seen == round);
        let gateways = &self.gateways;
        self.pending.retain(|_, a| gateways.contains_key(a));
    }

    /// Writes the next probe of the round into `buf`: where it goes and
    /// the listener it leaves by; `None` when the round's probes are out.
    pub fn write_next(&mut self, locals: &Locals, buf: &mut Vec<u8>) -> Option<(SocketAddr, u16)> {
        loop {
            let (dest, seq) = self.sends.pop_front()?;
            let Some(local) = probe_local(locals, dest) else {
                continue;
            };
            let a = &locals.addrs[local];
            self.call_id.clear();
            self.minter.mint(a.host.as_bytes(), &mut self.call_id);
            write_options(buf, dest, &a.host_port, PROBE_BRANCH, seq, &self.call_id);
            self.counters.sent += 1;
            return Some((dest, local as u16));
        }
    }

    /// Takes a response to one of our probes; returns whether it was one.
    pub fn on_response(&mut self, msg: &Message<'_>, code: u16) -> bool {
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
        let Some(dest) = self.pending.remove(&seq) else {
            return true; // late or duplicate: the round already counted it
        };
        let Some(h) = self.gateways.get_mut(&dest) else {
            return true;
        };
        h.pending = None;
        let answered = code < 500 && code != 408;
        if !answered {
            self.counters.failures += 1;
        }
        match (h.up, answered) {
            (true, true) | (false, false) => h.streak = 0,
            (true, false) => {
                h.streak += 1;
                if h.streak >= self.cfg.down_after {
                    h.up = false;
                    h.streak = 0;
                    tracing::warn!(gateway = %dest, code, "gateway down: OPTIONS answered {code}");
                }
            }
            (false, true) => {
                h.streak += 1;
                if h.streak >= self.cfg.up_after {
                    h.up = true;
                    h.streak = 0;
                    tracing::info!(gateway = %dest, "gateway up again");
                }
            }
        }
        true
    }
}

/// Writes an OPTIONS probe to `dest` from our `host_port` into `buf`: its
/// branch is `branch_prefix` then `seq` in hex (how an answer is matched
/// without a transaction), its Call-ID `call_id` (minted with the shard).
pub(crate) fn write_options(
    buf: &mut Vec<u8>,
    dest: SocketAddr,
    host_port: &str,
    branch_prefix: &str,
    seq: u64,
    call_id: &[u8],
) {
    let _ = write!(
        buf,
        "OPTIONS sip:{dest} SIP/2.0\r\n\
Via: SIP/2.0/UDP {host_port};branch={branch_prefix}{seq:x}\r\n\
Max-Forwards: 70\r\n\
From: <sip:ping@{host_port}>;tag=tlp{seq:x}\r\n\
To: <sip:{dest}>\r\n\
Call-ID: {cid}\r\n\
CSeq: 1 OPTIONS\r\n\
User-Agent: trunkline\r\n\
Content-Length: 0\r\n\r\n",
        cid = String::from_utf8_lossy(call_id),
    );
}

/// The listener a probe to `dest` leaves by: the first that
/// [reaches](super::next_hop::LocalAddr::reaches) it; `None` when none does.
pub(crate) fn probe_local(locals: &Locals, dest: SocketAddr) -> Option<usize> {
    locals.addrs.iter().position(|l| l.reaches(dest))
}
