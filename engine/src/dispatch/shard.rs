//! The dispatcher in service: the sets shared by the shards and swapped
//! whole on reload ([`Dispatchers`]), and each shard's own copy of them
//! ([`ShardDispatch`]): the algorithms' state, the destinations' health
//! from this shard's OPTIONS probes, the targets of a request.
//!
//! Every shard probes every destination of a probed set on its own, as
//! gateways are probed ([`crate::proxy::probe`]): one OPTIONS per
//! destination per shard per `probe_interval_ms`, no state shared. A
//! probe is a datagram, not a transaction: its timeout is the next round,
//! so an instance that stops answering is down after `down_after`
//! intervals (at most `down_after` × `probe_interval_ms`, plus one
//! interval), and the calls sent to it before that fail over on timeout
//! or on a failover code.
//!
//! `least-calls` counts the calls each destination holds across the
//! shards. Each shard counts its own (an attempt holds one from its start
//! until it fails, an answered call until its BYE: the gateways' call
//! slots, [`crate::lcr::caps`]) and publishes them in a shared table of
//! counters, one per shard and destination ([`Loads`]): before each pick
//! of a least-calls set, and at least every [`PUBLISH_EVERY`]. A pick sums
//! the shards' counters: its own count is exact, another shard's at most
//! [`PUBLISH_EVERY`] old (or as old as that shard's last pick, if newer).
//! Publishing is a plain store per destination; no lock, no
//! read-modify-write shared between shards. A BYE that never passes
//! through us leaves a call counted until
//! [`crate::lcr::caps::DIALOG_MAX`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use trunkline_parser::{Message, Uri};
use trunkline_shards::CallIdMinter;

use super::{Algorithm, CodeSet, DispatchError, DispatchSet, DispatcherConfig, Key};
use crate::lcr::{GroupName, Target};
use crate::proxy::Locals;
use crate::proxy::probe::{probe_local, write_options};

/// How often a shard publishes its least-calls counts at the latest (the
/// bound on how stale another shard's count is).
pub const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The least-calls counters: per shard, per destination of every set in
/// service (in configuration order), each written by its shard only.
#[derive(Debug)]
struct Loads {
    shards: usize,
    /// Where each set's destinations start.
    offsets: Vec<usize>,
    /// Destinations of all sets.
    total: usize,
    counts: Box<[std::sync::atomic::AtomicU32]>,
}

impl Loads {
    fn new(configs: &[DispatcherConfig], shards: usize) -> Loads {
        let shards = shards.max(1);
        let mut offsets = Vec::with_capacity(configs.len());
        let mut total = 0;
        for c in configs {
            offsets.push(total);
            total += c.destinations.len();
        }
        Loads {
            shards,
            offsets,
            total,
            counts: (0..shards * total).map(|_| Default::default()).collect(),
        }
    }

    fn slot(&self, shard: usize, set: usize, dest: usize) -> Option<&std::sync::atomic::AtomicU32> {
        let i = (shard % self.shards) * self.total + self.offsets.get(set)? + dest;
        self.counts.get(i)
    }

    fn publish(&self, shard: usize, set: usize, dest: usize, calls: u32) {
        if let Some(c) = self.slot(shard, set, dest) {
            c.store(calls, Ordering::Relaxed);
        }
    }

    fn sum(&self, set: usize, dest: usize) -> u32 {
        (0..self.shards)
            .filter_map(|s| self.slot(s, set, dest))
            .map(|c| c.load(Ordering::Relaxed))
            .fold(0u32, u32::saturating_add)
    }
}

/// The branch prefix of dispatcher probes: then the set's index, `x`,
/// and the probe number (gateways' probes use `z9hG4bKtlp`).
const PROBE_BRANCH: &str = "z9hG4bKtld";

/// The dispatcher sets in service, shared by the shards: a reload swaps
/// them whole, and each shard takes the new ones before its next request.
#[derive(Debug)]
pub struct Dispatchers {
    sets: ArcSwap<Vec<DispatcherConfig>>,
    generation: AtomicU64,
    /// Which destination holds each answered call (stickiness).
    sticky: Sticky,
    /// Every destination's address, for the flood defence.
    addrs: ArcSwap<Vec<std::net::IpAddr>>,
    /// The shards' least-calls counts (made anew with the sets).
    loads: ArcSwap<Loads>,
}

/// The most answered calls whose destination is remembered for
/// stickiness (about 40 bytes each); beyond, new calls are not.
pub const STICKY_MAX: usize = 1_000_000;

/// Call-ID hash → (the destination holding the call, since when).
type StickyMap = HashMap<u64, (SocketAddr, Instant), foldhash::fast::FixedState>;

/// Which destination holds each answered dispatched call, by Call-ID
/// hash: a request with `Replaces` (RFC 3891) naming it, or a REFER whose
/// Refer-To embeds such a Replaces, goes to the same instance (the
/// incumbents' get_dialog_info pattern). Shared by the shards (the
/// replacing request has a Call-ID of its own, so it may be on another
/// shard), in stripes each behind its own lock; an entry goes with the
/// call's BYE, or after [`crate::lcr::caps::DIALOG_MAX`].
#[derive(Debug)]
struct Sticky {
    stripes: Box<[std::sync::Mutex<StickyMap>]>,
    len: std::sync::atomic::AtomicUsize,
    hasher: foldhash::fast::FixedState,
}

impl Sticky {
    const STRIPES: usize = 64;

    fn new() -> Sticky {
        Sticky {
            stripes: (0..Sticky::STRIPES).map(|_| Default::default()).collect(),
            len: Default::default(),
            hasher: foldhash::fast::FixedState::with_seed(0x7374_6963_6b79),
        }
    }

    fn stripe(&self, call_id: &[u8]) -> (u64, std::sync::MutexGuard<'_, StickyMap>) {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(call_id);
        let m = &self.stripes[(h % Sticky::STRIPES as u64) as usize];
        (h, m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn remember(&self, now: Instant, call_id: &[u8], dest: SocketAddr) {
        let (h, mut s) = self.stripe(call_id);
        if self.len.load(Ordering::Relaxed) >= STICKY_MAX {
            // Full: the stripe's calls past their time go first.
            let before = s.len();
            let max = crate::lcr::caps::DIALOG_MAX;
            s.retain(|_, (_, t)| now.saturating_duration_since(*t) < max);
            self.len.fetch_sub(before - s.len(), Ordering::Relaxed);
            if self.len.load(Ordering::Relaxed) >= STICKY_MAX {
                return;
            }
        }
        if s.insert(h, (dest, now)).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn forget(&self, call_id: &[u8]) {
        let (h, mut s) = self.stripe(call_id);
        if s.remove(&h).is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn holder(&self, now: Instant, call_id: &[u8]) -> Option<SocketAddr> {
        let (h, s) = self.stripe(call_id);
        let &(dest, since) = s.get(&h)?;
        (now.saturating_duration_since(since) < crate::lcr::caps::DIALOG_MAX).then_some(dest)
    }
}

impl Dispatchers {
    /// The sets of `configs` for one shard, each checked
    /// ([`DispatchSet::new`]); ids must be unique.
    pub fn new(configs: Vec<DispatcherConfig>) -> Result<Dispatchers, DispatchError> {
        Dispatchers::for_shards(configs, 1)
    }

    /// [`Dispatchers::new`] for a router of `shards` shards (least-calls
    /// counts each shard's calls).
    pub fn for_shards(
        configs: Vec<DispatcherConfig>,
        shards: usize,
    ) -> Result<Dispatchers, DispatchError> {
        Dispatchers::check(&configs)?;
        Ok(Dispatchers {
            addrs: ArcSwap::from_pointee(addresses(&configs)),
            loads: ArcSwap::from_pointee(Loads::new(&configs, shards)),
            sets: ArcSwap::from_pointee(configs),
            generation: AtomicU64::new(1),
            sticky: Sticky::new(),
        })
    }

    /// Whether `ip` is a destination of a set in service: our pool, whose
    /// answers and probe responses the flood defence must not ban.
    pub fn is_destination(&self, ip: std::net::IpAddr) -> bool {
        self.addrs.load().contains(&ip)
    }

    /// Puts `configs` in service (checked first: on error the sets in
    /// service stay). Health is kept by destination address.
    pub fn swap(&self, configs: Vec<DispatcherConfig>) -> Result<(), DispatchError> {
        Dispatchers::check(&configs)?;
        self.addrs.store(Arc::new(addresses(&configs)));
        // The shards publish their counts again within PUBLISH_EVERY.
        let shards = self.loads.load().shards;
        self.loads.store(Arc::new(Loads::new(&configs, shards)));
        self.sets.store(Arc::new(configs));
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// The sets in service.
    pub fn current(&self) -> Arc<Vec<DispatcherConfig>> {
        self.sets.load_full()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Checks sets before they go in service: each builds, ids are
    /// unique and short enough for a policy action.
    pub fn check(configs: &[DispatcherConfig]) -> Result<(), DispatchError> {
        for (i, c) in configs.iter().enumerate() {
            DispatchSet::new(c, 0)?;
            if GroupName::new(&c.id).is_none() {
                return Err(DispatchError::LongId { set: c.id.clone() });
            }
            if configs[..i].iter().any(|o| o.id == c.id) {
                return Err(DispatchError::DuplicateId { set: c.id.clone() });
            }
        }
        Ok(())
    }
}

/// The destinations' addresses of `configs` (checked: they parse).
fn addresses(configs: &[DispatcherConfig]) -> Vec<std::net::IpAddr> {
    let mut ips: Vec<_> = configs
        .iter()
        .flat_map(|c| &c.destinations)
        .filter_map(|d| super::Destination::parse(d).ok())
        .map(|d| d.addr.ip())
        .collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

/// One set on a shard, with its probing state.
#[derive(Debug)]
struct ShardSet {
    set: DispatchSet,
    name: GroupName,
    /// When its next probing round is due (`None`: before the first).
    next_round: Option<Instant>,
    /// The probe of the current round still unanswered, by destination.
    awaiting: Vec<Option<u64>>,
}

/// What [`ShardDispatch::targets`] picked: how its search goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Picked {
    /// Final codes that move the search to the next destination.
    pub failover: CodeSet,
    /// Every target at once (`parallel`), not one after another.
    pub parallel: bool,
    /// The destination that answers holds the call: a later request
    /// replacing it goes there ([`ShardDispatch::remember`]).
    pub sticky: bool,
}

/// This shard's dispatcher: its copy of the sets, their probes.
#[derive(Debug)]
pub struct ShardDispatch {
    shared: Arc<Dispatchers>,
    generation: u64,
    sets: Vec<ShardSet>,
    seed: u64,
    /// Pending probe number → (set index, destination).
    pending: HashMap<u64, (usize, SocketAddr), foldhash::fast::FixedState>,
    sends: VecDeque<(usize, SocketAddr, u64)>,
    seq: u64,
    minter: CallIdMinter,
    call_id: Vec<u8>,
    order: Vec<usize>,
    live: Vec<u32>,
    /// Requests sent to the destination holding the call they replace.
    pub stuck: u64,
    /// Changes of the destinations' health, and reloads, so far (what a
    /// runtime publishing the states compares).
    pub changes: u64,
    /// Probes sent, and probes unanswered or answered with a failure.
    pub probes_sent: u64,
    pub probe_failures: u64,
    /// This shard's index (its row of the least-calls counters).
    shard: usize,
    /// When this shard next publishes its least-calls counts.
    next_publish: Option<Instant>,
}

impl ShardDispatch {
    /// Shard's copy of `shared`; `seed` seeds `random`, `minter` mints
    /// the probes' Call-IDs (their answers come back to this shard).
    pub fn new(
        shared: Arc<Dispatchers>,
        shard: u16,
        seed: u64,
        minter: CallIdMinter,
    ) -> ShardDispatch {
        let mut d = ShardDispatch {
            shared,
            generation: 0,
            sets: Vec::new(),
            seed,
            pending: HashMap::default(),
            sends: VecDeque::new(),
            seq: 0,
            minter,
            call_id: Vec::new(),
            order: Vec::new(),
            live: Vec::new(),
            stuck: 0,
            changes: 0,
            probes_sent: 0,
            probe_failures: 0,
            shard: usize::from(shard),
            next_publish: None,
        };
        d.refresh();
        d
    }

    /// Takes the sets in service if they changed since: health and the
    /// algorithm's state kept for the sets (by id) and destinations (by
    /// address) that remain.
    pub fn refresh(&mut self) {
        let generation = self.shared.generation();
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        let configs = self.shared.current();
        let mut old = std::mem::take(&mut self.sets);
        for (i, c) in configs.iter().enumerate() {
            // Checked when put in service.
            let Ok(new) = DispatchSet::new(c, self.seed ^ i as u64) else {
                continue;
            };
            let name = GroupName::new(&c.id).expect("checked");
            let n = new.destinations().len();
            let s = match old.iter().position(|o| o.set.id() == c.id) {
                Some(at) => {
                    let mut s = old.swap_remove(at);
                    s.set.reload(new);
                    s
                }
                None => ShardSet {
                    set: new,
                    name,
                    next_round: None,
                    awaiting: Vec::new(),
                },
            };
            self.sets.push(s);
            let s = self.sets.last_mut().expect("pushed");
            // Probes in flight are matched by address from now on.
            s.awaiting = vec![None; n];
        }
        self.pending.clear();
        self.sends.clear();
        self.changes += 1;
    }

    /// Whether any set is configured.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// The index of the set named `name`.
    fn find(&self, name: &GroupName) -> Option<usize> {
        self.sets.iter().position(|s| s.name == *name)
    }

    /// The targets of `msg` in set `name`, in the order to try them (dead
    /// ones left out), into `out`; `live` gives a destination's live calls
    /// on this shard (`least-calls`). `None`: no such set.
    pub fn targets(
        &mut self,
        now: Instant,
        name: &GroupName,
        msg: &Message<'_>,
        summary: &trunkline_parser::Summary<'_>,
        live: impl Fn(&Target) -> u32,
        out: &mut Vec<Target>,
    ) -> Option<Picked> {
        self.refresh();
        let i = self.find(name)?;
        let s = &mut self.sets[i].set;
        let least = s.algorithm() == Algorithm::LeastCalls;
        let target = |addr| {
            let mut t = Target::address(addr);
            if least {
                // Counted like a gateway's call slots (never capped).
                t.concurrent_limit = u32::MAX;
            }
            t
        };
        self.live.clear();
        if least {
            // This shard's counts published, every shard's summed.
            let loads = self.shared.loads.load();
            for (d, dest) in s.destinations().iter().enumerate() {
                loads.publish(self.shard, i, d, live(&target(dest.addr)));
            }
            let n = s.destinations().len();
            self.live.extend((0..n).map(|d| loads.sum(i, d)));
        }
        // Only the key the algorithm hashes is parsed.
        let alg = s.algorithm();
        let key = Key {
            call_id: Some(summary.call_id),
            from_user: (alg == Algorithm::HashFromUser)
                .then(|| uri_user(summary.from.uri))
                .flatten(),
            to_user: (alg == Algorithm::HashToUser)
                .then(|| uri_user(summary.to.uri))
                .flatten(),
            ruri_user: (alg == Algorithm::HashRuriUser)
                .then(|| msg.request_uri_bytes().and_then(uri_user))
                .flatten(),
            live_calls: &self.live,
        };
        s.pick_healthy(&key, &mut self.order);
        out.clear();
        let dests = s.destinations();
        out.extend(self.order.iter().map(|&d| target(dests[d].addr)));
        // A request replacing a call (RFC 3891) goes where that call is,
        // when that destination is alive: first, the others to fail over.
        let held = replaced_call_id(msg).and_then(|id| self.shared.sticky.holder(now, &id));
        if let Some(at) = held.and_then(|h| out.iter().position(|t| t.dest == h)) {
            out[..=at].rotate_right(1);
            self.stuck += 1;
        }
        Some(Picked {
            failover: s.failover_codes(),
            parallel: s.algorithm().forks() && held.is_none(),
            sticky: true,
        })
    }

    /// Call `call_id`, answered by `dest`, is held there.
    pub fn remember(&self, now: Instant, call_id: &[u8], dest: SocketAddr) {
        self.shared.sticky.remember(now, call_id, dest);
    }

    /// Call `call_id` ended (its BYE).
    pub fn forget(&self, call_id: &[u8]) {
        self.shared.sticky.forget(call_id);
    }

    /// When the next probing round of some set is due, or this shard's
    /// least-calls counts are next published.
    pub fn next_round(&self) -> Option<Instant> {
        let probes = self
            .sets
            .iter()
            .filter(|s| s.set.probe_interval().is_some())
            .map(|s| s.next_round)
            .min()
            .flatten();
        [probes, self.next_publish].into_iter().flatten().min()
    }

    /// Publishes this shard's least-calls counts when they are due (every
    /// [`PUBLISH_EVERY`], from the shard's timer), `live` giving a
    /// destination's calls on this shard.
    pub fn publish(&mut self, now: Instant, live: impl Fn(&Target) -> u32) {
        let mut any = false;
        if self.next_publish.is_some_and(|t| t > now) {
            return;
        }
        let loads = self.shared.loads.load();
        for (i, s) in self.sets.iter().enumerate() {
            if s.set.algorithm() != Algorithm::LeastCalls {
                continue;
            }
            any = true;
            for (d, dest) in s.set.destinations().iter().enumerate() {
                let mut t = Target::address(dest.addr);
                t.concurrent_limit = u32::MAX;
                loads.publish(self.shard, i, d, live(&t));
            }
        }
        self.next_publish = any.then(|| now + PUBLISH_EVERY);
    }

    /// Whether a least-calls set waits for its first publication.
    pub fn publish_unstarted(&self) -> bool {
        self.next_publish.is_none()
            && self
                .sets
                .iter()
                .any(|s| s.set.algorithm() == Algorithm::LeastCalls)
    }

    /// Whether a probed set has not had its first round yet.
    pub fn unstarted(&self) -> bool {
        self.sets
            .iter()
            .any(|s| s.set.probe_interval().is_some() && s.next_round.is_none())
    }

    /// Starts the rounds that are due: last round's unanswered probes
    /// count as failures, a new probe per destination is queued (taken
    /// with [`ShardDispatch::write_next`]).
    pub fn round(&mut self, now: Instant) {
        self.refresh();
        for (i, s) in self.sets.iter_mut().enumerate() {
            let Some(interval) = s.set.probe_interval() else {
                continue;
            };
            match s.next_round {
                Some(t) if t > now => continue,
                _ => s.next_round = Some(now + interval),
            }
            for d in 0..s.set.destinations().len() {
                let addr = s.set.destinations()[d].addr;
                if let Some(seq) = s.awaiting[d].take() {
                    self.pending.remove(&seq);
                    self.probe_failures += 1;
                    let t = s.set.on_probe_result(now, d, false);
                    self.changes += u64::from(t.is_some());
                    log(&s.set, addr, t);
                }
                self.seq += 1;
                s.awaiting[d] = Some(self.seq);
                self.pending.insert(self.seq, (i, addr));
                self.sends.push_back((i, addr, self.seq));
            }
        }
    }

    /// Writes the next probe queued into `buf`: where it goes and the
    /// listener it leaves by; `None` when none is left.
    pub fn write_next(&mut self, locals: &Locals, buf: &mut Vec<u8>) -> Option<(SocketAddr, u16)> {
        loop {
            let (set, dest, seq) = self.sends.pop_front()?;
            let Some(local) = probe_local(locals, dest) else {
                continue; // no listener of its family: never answered
            };
            let a = &locals.addrs[local];
            self.call_id.clear();
            self.minter.mint(a.host.as_bytes(), &mut self.call_id);
            let prefix = format!("{PROBE_BRANCH}{set:x}x");
            write_options(buf, dest, &a.host_port, &prefix, seq, &self.call_id);
            self.probes_sent += 1;
            return Some((dest, local as u16));
        }
    }

    /// Takes a response to one of our probes (a final response below 500
    /// other than 408 is an answer); returns whether it was one.
    pub fn on_response(&mut self, now: Instant, msg: &Message<'_>, code: u16) -> bool {
        let Ok(via) = msg.top_via() else {
            return false;
        };
        let Some(rest) = via
            .branch
            .and_then(|b| b.strip_prefix(PROBE_BRANCH.as_bytes()))
        else {
            return false;
        };
        let Some(seq) = rest
            .iter()
            .position(|&b| b == b'x')
            .and_then(|x| std::str::from_utf8(&rest[x + 1..]).ok())
            .and_then(|s| u64::from_str_radix(s, 16).ok())
        else {
            return true; // ours, but not one we sent
        };
        if code < 200 {
            return true;
        }
        let Some((set, addr)) = self.pending.remove(&seq) else {
            return true; // late: its round counted it already
        };
        let Some(s) = self.sets.get_mut(set) else {
            return true;
        };
        let Some(d) = s.set.index_of(addr) else {
            return true;
        };
        s.awaiting[d] = None;
        let ok = code < 500 && code != 408;
        if !ok {
            self.probe_failures += 1;
        }
        let t = s.set.on_probe_result(now, d, ok);
        self.changes += u64::from(t.is_some());
        log(&s.set, addr, t);
        true
    }

    /// Every destination of every set: (set id, address, up).
    pub fn states(&self) -> impl Iterator<Item = (&str, SocketAddr, bool)> + '_ {
        self.sets.iter().flat_map(|s| {
            let set = &s.set;
            set.destinations()
                .iter()
                .enumerate()
                .map(move |(i, d)| (set.id(), d.addr, set.is_alive(i)))
        })
    }
}

fn log(set: &DispatchSet, addr: SocketAddr, t: Option<super::Transition>) {
    match t {
        Some(super::Transition::Down) => {
            tracing::warn!(set = set.id(), destination = %addr, "destination down: OPTIONS unanswered or failed");
        }
        Some(super::Transition::Up) => {
            tracing::info!(set = set.id(), destination = %addr, "destination up again");
        }
        None => {}
    }
}

/// The user part of a SIP URI (or a tel URI's number).
fn uri_user(raw: &[u8]) -> Option<&[u8]> {
    match Uri::parse(raw).ok()? {
        Uri::Sip(u) => u.user,
        Uri::Tel(t) => Some(t.number),
        _ => None,
    }
}

/// The Call-ID of the call `msg` replaces: its `Replaces` header (RFC
/// 3891 §6.1: `call-id;to-tag=...;from-tag=...`), or the `Replaces`
/// embedded in a REFER's Refer-To URI (RFC 3891 §7.1, escaped).
fn replaced_call_id(msg: &Message<'_>) -> Option<Vec<u8>> {
    use trunkline_parser::HeaderName;
    if let Some(v) = msg.header_value(HeaderName::Replaces) {
        let id = v.split(|&b| b == b';').next()?.trim_ascii();
        return (!id.is_empty()).then(|| id.to_vec());
    }
    let refer_to = msg.header_value(HeaderName::ReferTo)?;
    let at = find(refer_to, b"Replaces=")? + b"Replaces=".len();
    let rest = &refer_to[at..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'&' | b'>' | b';'))
        .unwrap_or(rest.len());
    let mut id = Vec::with_capacity(end);
    let mut i = 0;
    let raw = &rest[..end];
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok();
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                // `%3B` ends the Call-ID (the to-tag follows).
                Some(b';') => break,
                Some(b) => {
                    id.push(b);
                    i += 3;
                    continue;
                }
                None => {}
            }
        }
        id.push(raw[i]);
        i += 1;
    }
    (!id.is_empty()).then_some(id)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}
