//! The transaction layer (RFC 3261 §17, with RFC 6026's Accepted states):
//! a sans-IO state machine per shard holding every live transaction.
//!
//! # The contract
//!
//! `TxLayer` does no I/O and reads no clock: time comes in as `now`.
//! - Input: [`TxLayer::handle_request`], [`TxLayer::handle_response`],
//!   [`TxLayer::handle_timeout`].
//! - Commands from the transaction user (the proxy core):
//!   [`TxLayer::respond`] on a server transaction,
//!   [`TxLayer::start_client`] for a new client transaction,
//!   [`TxLayer::cancel_sent`], [`TxLayer::terminate`].
//! - Output, to poll after every input or command, in this order:
//!   [`TxLayer::poll_transmit`] (bytes to send) until `None`, then
//!   [`TxLayer::poll_event`] (timeouts and terminations) until `None`, then
//!   [`TxLayer::poll_timeout`] for the one deadline to arm.
//!
//! The driver owns the sockets and the clock; tests drive the layer with a
//! virtual clock and never sleep.
//!
//! # What each transaction does
//!
//! | kind | states | timers (unreliable transport) |
//! |---|---|---|
//! | INVITE client (§17.1.1) | Calling, Proceeding, Completed, Accepted | A (resend, doubling), B (64·T1 in Calling), C (proxy, §16.8), D (Completed), M (Accepted) |
//! | non-INVITE client (§17.1.2) | Trying, Proceeding, Completed | E (resend, doubling to T2), F (64·T1), K (T4) |
//! | INVITE server (§17.2.1) | Proceeding, Completed, Confirmed, Accepted | G (resend final, doubling to T2), H (64·T1), I (T4), L (64·T1) |
//! | non-INVITE server (§17.2.2) | Trying, Proceeding, Completed | J (64·T1) |
//!
//! The INVITE client transaction sends the ACK for a non-2xx final response
//! itself (§17.1.1.3) and resends it when that response is retransmitted.

mod key;
mod shares;

pub use shares::MIN_SHARE;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use core::hash::BuildHasher;
use hashbrown::HashTable;
use trunkline_parser::{Edits, Message, Method, Parser, Summary, write_ack};

use crate::timer::TimerLists;

/// Timer values (RFC 3261 §17.1.1.1, Table 4). Configuration, not state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE
    /// responses (default 4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Timer C, proxy INVITE transaction timeout (§16.8; default 180 s).
    pub c: Duration,
    /// Timer D, wait for response retransmissions (default 32 s).
    pub d: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            c: Duration::from_secs(180),
            d: Duration::from_secs(32),
        }
    }
}

/// Identifies a transaction; a stale id (the slot was reused) never
/// matches the new occupant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxId {
    slot: u32,
    generation: u32,
}

/// Which side of the transaction we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Transaction states, named as in RFC 3261 §17 and RFC 6026.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// INVITE client, request sent.
    Calling,
    /// Non-INVITE client or server, no provisional response yet.
    Trying,
    /// A provisional response was received or sent.
    Proceeding,
    /// A final response (non-2xx for INVITE) was received or sent.
    Completed,
    /// INVITE server: the ACK arrived.
    Confirmed,
    /// INVITE, a 2xx was received or sent (RFC 6026).
    Accepted,
}

/// What [`TxLayer::handle_request`] made of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A new server transaction: the transaction user must act on it.
    New(TxId),
    /// A retransmission, absorbed (the last response, if any, is resent).
    Retransmission(TxId),
    /// An ACK for a non-2xx final response we sent: absorbed hop by hop.
    AckAbsorbed,
    /// An ACK matching no INVITE server transaction: the ACK for a 2xx,
    /// which travels end to end (forward it).
    AckUnmatched,
    /// A new request, but the layer holds its maximum of live transactions
    /// ([`TxLayer::set_max_live`]): answer 503 without state.
    Overloaded,
}

/// What [`TxLayer::handle_response`] made of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// For the transaction user (forward it upstream, select, ...).
    Deliver {
        /// The client transaction.
        tx: TxId,
        /// Its user data.
        user: u64,
        /// The status code.
        code: u16,
    },
    /// A retransmission handled inside the layer.
    Absorbed,
    /// Matches no client transaction: §16.7 has the proxy forward it
    /// statelessly (late 2xx responses, or responses to requests sent
    /// before a restart).
    Unmatched,
}

/// Something that happened without input: a timeout or an end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A client transaction got no final response: Timer B or F fired, or
    /// the 64·T1 wait after a CANCEL. The transaction user acts as if a
    /// 408 arrived (§16.7 step 2, §16.8).
    Timeout {
        /// The client transaction.
        tx: TxId,
        /// Its user data.
        user: u64,
        /// Which timer fired: [`Timer::B`], [`Timer::F`] or
        /// [`Timer::AfterCancel`].
        timer: Timer,
    },
    /// Timer C fired on a proxied INVITE (§16.8). With a provisional
    /// response the transaction user sends a CANCEL; without one it acts
    /// as if a 408 arrived.
    TimerC {
        /// The client transaction.
        tx: TxId,
        /// Its user data.
        user: u64,
        /// Whether a provisional response was received.
        provisional: bool,
    },
    /// The transaction ended and was freed.
    Terminated {
        /// The transaction.
        tx: TxId,
        /// Its user data.
        user: u64,
        /// Client or server.
        role: Role,
    },
}

/// Where to send the bytes [`TxLayer::poll_transmit`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The destination.
    pub dest: SocketAddr,
    /// The local socket (listener index) to send from.
    pub local: u16,
}

/// A request for a new client transaction.
#[derive(Debug)]
pub struct ClientRequest<'b> {
    /// The method.
    pub method: Method,
    /// The branch we put in our Via.
    pub branch: &'b [u8],
    /// The wire bytes of the request (ours to keep for retransmission).
    pub bytes: Vec<u8>,
    /// Where to send it.
    pub dest: SocketAddr,
    /// The local socket to send from.
    pub local: u16,
    /// Opaque data handed back with every event (the proxy's context).
    pub user: u64,
    /// Run Timer C (§16.8): for INVITEs a proxy forwards.
    pub timer_c: bool,
}

/// Counters of the layer's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Server transactions created.
    pub server_created: u64,
    /// Client transactions created.
    pub client_created: u64,
    /// Requests and responses resent by a timer or for a retransmission.
    pub retransmissions: u64,
    /// Retransmitted requests and responses absorbed.
    pub absorbed: u64,
    /// Client transactions that timed out.
    pub timeouts: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

impl Kind {
    fn role(self) -> Role {
        match self {
            Kind::InviteClient | Kind::NonInviteClient => Role::Client,
            Kind::InviteServer | Kind::NonInviteServer => Role::Server,
        }
    }
}

/// The transaction timers, by their RFC 3261 names (§17, Table 4; C is
/// §16.8's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client: retransmit the request (T1, doubling).
    A,
    /// INVITE client: no final response within 64·T1.
    B,
    /// Proxy INVITE: no final response within Timer C (§16.8).
    C,
    /// INVITE client: absorb response retransmissions after a non-2xx.
    D,
    /// Non-INVITE client: retransmit the request (T1, doubling to T2).
    E,
    /// Non-INVITE client: no final response within 64·T1.
    F,
    /// INVITE server: retransmit the final response (doubling to T2).
    G,
    /// INVITE server: no ACK for the final response within 64·T1.
    H,
    /// INVITE server: absorb ACK retransmissions (T4).
    I,
    /// Non-INVITE server: absorb request retransmissions (64·T1).
    J,
    /// Non-INVITE client: absorb response retransmissions (T4).
    K,
    /// INVITE server: absorb INVITE retransmissions after a 2xx (RFC
    /// 6026, 64·T1).
    L,
    /// INVITE client: forward 2xx retransmissions (RFC 6026, 64·T1).
    M,
    /// INVITE client: no final response within 64·T1 of our CANCEL (§9.1;
    /// the RFC gives it no letter).
    AfterCancel,
}

impl Timer {
    /// The slot the timer takes in its transaction: one retransmission
    /// timer, one that ends the state, and Timer C, each armed at most
    /// once at a time.
    fn slot(self) -> Slot {
        match self {
            Timer::A | Timer::E | Timer::G => Slot::Resend,
            Timer::C => Slot::C,
            _ => Slot::End,
        }
    }
}

/// Timer slots per transaction: each holds at most one armed [`Timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// A, E, G: retransmission.
    Resend = 0,
    /// B, D, F, H, I, J, K, L, M, or the wait after a CANCEL.
    End = 1,
    /// C: the proxy INVITE timeout.
    C = 2,
}

#[derive(Clone, Copy, Debug)]
struct TimerRef {
    id: TxId,
    timer: Timer,
    epoch: u32,
}

#[derive(Debug)]
struct Tx {
    generation: u32,
    kind: Kind,
    state: State,
    key: Key,
    key_hash: u64,
    /// Client: the request (then the ACK in Completed). Server: the last
    /// response sent, for retransmission.
    last: Vec<u8>,
    dest: SocketAddr,
    local: u16,
    user: u64,
    interval: Duration,
    epochs: [u32; 3],
    provisional: bool,
    timer_c: bool,
    live: bool,
}

/// A transaction key, inline when short (nearly always: a branch, a
/// sent-by and a method), so a lookup compares it without another pointer
/// chase.
#[derive(Debug)]
enum Key {
    Inline([u8; 94], u8),
    Heap(Vec<u8>),
}

impl Default for Key {
    fn default() -> Self {
        Key::Inline([0; 94], 0)
    }
}

impl Key {
    fn new(bytes: &[u8], pool: &mut Pool) -> Key {
        if bytes.len() <= 94 {
            let mut b = [0u8; 94];
            b[..bytes.len()].copy_from_slice(bytes);
            Key::Inline(b, bytes.len() as u8)
        } else {
            let mut v = pool.take();
            v.extend_from_slice(bytes);
            Key::Heap(v)
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(b, n) => &b[..*n as usize],
            Key::Heap(v) => v,
        }
    }
}

/// A pool of byte buffers, so steady-state work does not allocate.
#[derive(Debug)]
struct Pool {
    free: Vec<Vec<u8>>,
    /// Capacity of a new buffer.
    size: usize,
}

impl Pool {
    /// Free buffers kept: what a burst leaves beyond that is freed.
    const MAX: usize = 4096;

    fn new(size: usize) -> Pool {
        Pool {
            free: Vec::new(),
            size,
        }
    }

    /// Keeps at most `keep` free buffers, and no spare room for more.
    fn shrink(&mut self, keep: usize) {
        self.free.truncate(keep);
        self.free.shrink_to_fit();
    }

    fn take(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.size))
    }

    fn give(&mut self, mut v: Vec<u8>) {
        // A buffer grown for a large message is not kept: a flood of
        // 64 KB datagrams must not leave the pool holding 64 KB each.
        if v.capacity() > 0 && self.free.len() < Self::MAX && v.capacity() <= 4 * self.size {
            v.clear();
            self.free.push(v);
        }
    }
}

#[derive(Debug)]
enum Pending {
    /// Resend or send the transaction's `last` bytes.
    Last(TxId),
    /// Send these bytes once (a 2xx forwarded through an Accepted server
    /// transaction is not kept: the UAS retransmits it).
    Once {
        bytes: Vec<u8>,
        dest: SocketAddr,
        local: u16,
    },
}

/// All transactions of one shard. See the module docs for the contract.
#[derive(Debug)]
pub struct TxLayer {
    timers_cfg: Timers,
    slab: Vec<Tx>,
    free_slots: Vec<u32>,
    index: HashTable<TxId>,
    hasher: foldhash::fast::FixedState,
    timers: TimerLists<TimerRef>,
    pending: VecDeque<Pending>,
    events: VecDeque<TxEvent>,
    pool: Pool,
    /// Small buffers for transaction keys.
    keys: Pool,
    scratch_key: Vec<u8>,
    parser: Parser,
    edits: Edits,
    live: usize,
    max_live: usize,
    /// The generation a new slot starts at: above every generation of the
    /// slots [`TxLayer::shrink`] gave back, so no stale id matches.
    generation_base: u32,
    /// Live server transactions per source: the cap's fair shares.
    shares: shares::Shares,
    stats: TxStats,
}

impl TxLayer {
    /// An empty layer with the given timer values; `seed` seeds the index hash.
    pub fn new(timers: Timers, seed: u64) -> TxLayer {
        TxLayer {
            timers_cfg: timers,
            slab: Vec::new(),
            free_slots: Vec::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            timers: TimerLists::new(),
            pending: VecDeque::new(),
            events: VecDeque::new(),
            pool: Pool::new(1536),
            keys: Pool::new(128),
            scratch_key: Vec::with_capacity(256),
            parser: Parser::default(),
            edits: Edits::new(),
            live: 0,
            max_live: usize::MAX,
            generation_base: 0,
            shares: shares::Shares::new(seed),
            stats: TxStats::default(),
        }
    }

    /// The timer values in use.
    pub fn timers(&self) -> &Timers {
        &self.timers_cfg
    }

    /// Number of live transactions.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Caps the live transactions: a peer cannot make the layer grow
    /// without bound. New server transactions beyond the cap are refused
    /// ([`RequestOutcome::Overloaded`]), and from half the cap on, those
    /// of a source holding more than its fair share of the table (see
    /// `shares.rs`); client transactions are not capped (each belongs to
    /// a server transaction, or to a CANCEL).
    pub fn set_max_live(&mut self, max: usize) {
        self.max_live = max;
    }

    /// Gives back the memory a burst of transactions left behind: the
    /// free slots at the end of the slot table, spare room in the index,
    /// the timer lists and the buffer pools. For the driver to call now
    /// and then (it walks the free slots: not per message); returns the
    /// slots given back. Free slots are reused lowest first from here on,
    /// so the end of the table drains for the next call.
    pub fn shrink(&mut self) -> usize {
        let before = self.slab.len();
        while self.slab.last().is_some_and(|t| !t.live) {
            if let Some(t) = self.slab.pop() {
                self.generation_base = self.generation_base.max(t.generation.wrapping_add(1));
            }
        }
        let len = self.slab.len();
        self.free_slots.retain(|&s| (s as usize) < len);
        self.free_slots.sort_unstable_by(|a, b| b.cmp(a));
        self.slab.shrink_to(len + len / 4);
        self.free_slots.shrink_to(self.free_slots.len() + len / 4);
        let slab = &self.slab;
        self.index
            .shrink_to(self.live, |i| slab[i.slot as usize].key_hash);
        self.shares.shrink();
        self.timers.shrink();
        self.pending.shrink_to(64);
        self.events.shrink_to(64);
        self.pool.shrink(Pool::MAX / 4);
        self.keys.shrink(Pool::MAX / 16);
        before - len
    }

    /// Work counters.
    pub fn stats(&self) -> TxStats {
        self.stats
    }

    /// A buffer from the layer's pool, to build a message to hand back
    /// through [`TxLayer::respond`] or [`TxLayer::start_client`].
    pub fn take_buf(&mut self) -> Vec<u8> {
        self.pool.take()
    }

    /// Returns a buffer to the pool.
    pub fn give_buf(&mut self, v: Vec<u8>) {
        self.pool.give(v)
    }

    /// The state of a live transaction.
    pub fn state(&self, id: TxId) -> Option<State> {
        self.get(id).map(|t| t.state)
    }

    /// The user data of a live transaction.
    pub fn user(&self, id: TxId) -> Option<u64> {
        self.get(id).map(|t| t.user)
    }

    /// Sets the user data of a live transaction.
    pub fn set_user(&mut self, id: TxId, user: u64) {
        if let Some(t) = self.get_mut(id) {
            t.user = user;
        }
    }

    /// Where responses of a server transaction go.
    pub fn dest(&self, id: TxId) -> Option<SocketAddr> {
        self.get(id).map(|t| t.dest)
    }

    /// The local socket a transaction sends from.
    pub fn local(&self, id: TxId) -> Option<u16> {
        self.get(id).map(|t| t.local)
    }

    /// The request a client transaction sent (until it is replaced by the
    /// ACK in Completed), e.g. to build a CANCEL.
    pub fn request_bytes(&self, id: TxId) -> Option<&[u8]> {
        self.get(id)
            .filter(|t| t.kind.role() == Role::Client && t.state != State::Completed)
            .filter(|t| !t.last.is_empty())
            .map(|t| &t.last[..])
    }

    /// Whether a client transaction has received a provisional response.
    pub fn got_provisional(&self, id: TxId) -> bool {
        self.get(id).is_some_and(|t| t.provisional)
    }

    fn get(&self, id: TxId) -> Option<&Tx> {
        self.slab
            .get(id.slot as usize)
            .filter(|t| t.live && t.generation == id.generation)
    }

    fn get_mut(&mut self, id: TxId) -> Option<&mut Tx> {
        self.slab
            .get_mut(id.slot as usize)
            .filter(|t| t.live && t.generation == id.generation)
    }

    fn lookup(&self, key: &[u8]) -> Option<TxId> {
        let h = self.hasher.hash_one(key);
        self.index
            .find(h, |id| self.slab[id.slot as usize].key.as_bytes() == key)
            .copied()
    }

    fn reliable(&self) -> bool {
        // UDP only for now; stream transports will skip resends and zero
        // the wait timers (§17.1.1.2 ff.).
        false
    }

    /// Allocates a transaction keyed by `self.scratch_key`.
    fn create(
        &mut self,
        kind: Kind,
        state: State,
        dest: SocketAddr,
        local: u16,
        user: u64,
    ) -> TxId {
        let key = Key::new(&self.scratch_key, &mut self.keys);
        let key_hash = self.hasher.hash_one(key.as_bytes());
        // Filled by the first send; empty (unallocated) until then.
        let last = Vec::new();
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.slab.push(Tx {
                    generation: self.generation_base,
                    kind,
                    state,
                    key: Key::default(),
                    key_hash: 0,
                    last: Vec::new(),
                    dest,
                    local,
                    user,
                    interval: Duration::ZERO,
                    epochs: [0; 3],
                    provisional: false,
                    timer_c: false,
                    live: false,
                });
                (self.slab.len() - 1) as u32
            }
        };
        let t = &mut self.slab[slot as usize];
        t.generation = t.generation.wrapping_add(1);
        t.kind = kind;
        t.state = state;
        t.key = key;
        t.key_hash = key_hash;
        t.last = last;
        t.dest = dest;
        t.local = local;
        t.user = user;
        t.interval = self.timers_cfg.t1;
        t.provisional = false;
        t.timer_c = false;
        t.live = true;
        let id = TxId {
            slot,
            generation: t.generation,
        };
        let slab = &self.slab;
        self.index
            .insert_unique(key_hash, id, |i| slab[i.slot as usize].key_hash);
        self.live += 1;
        id
    }

    fn arm(&mut self, now: Instant, id: TxId, timer: Timer, after: Duration) {
        let slot = timer.slot() as usize;
        let t = &mut self.slab[id.slot as usize];
        t.epochs[slot] = t.epochs[slot].wrapping_add(1);
        let epoch = t.epochs[slot];
        self.timers
            .insert(now, after, TimerRef { id, timer, epoch });
    }

    fn disarm(&mut self, id: TxId, slot: Slot) {
        if let Some(t) = self.get_mut(id) {
            t.epochs[slot as usize] = t.epochs[slot as usize].wrapping_add(1);
        }
    }

    /// Ends a transaction now: frees it and queues [`TxEvent::Terminated`].
    pub fn terminate(&mut self, id: TxId) {
        let Some(t) = self.get_mut(id) else { return };
        t.live = false;
        t.epochs = t.epochs.map(|e| e.wrapping_add(1));
        let key_hash = t.key_hash;
        let user = t.user;
        let role = t.kind.role();
        let source = t.dest.ip();
        let key = std::mem::take(&mut t.key);
        let last = std::mem::take(&mut t.last);
        if let Ok(entry) = self.index.find_entry(key_hash, |i| *i == id) {
            entry.remove();
        }
        if let Key::Heap(v) = key {
            self.keys.give(v);
        }
        self.pool.give(last);
        self.free_slots.push(id.slot);
        self.live -= 1;
        if role == Role::Server {
            self.shares.remove(source);
        }
        self.events
            .push_back(TxEvent::Terminated { tx: id, user, role });
    }

    /// Matches a request against the server transactions (§17.2.3) and
    /// creates one for a new request. `src` is where the request came from
    /// and `response_dest` where its responses go (§18.2.2, RFC 3581).
    /// `sum` is what validating the request returned.
    pub fn handle_request(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        sum: &Summary<'_>,
        response_dest: SocketAddr,
        local: u16,
    ) -> RequestOutcome {
        let method = msg.method().unwrap_or(Method::Extension);
        let mut key = std::mem::take(&mut self.scratch_key);
        key::server_key(msg, sum, None, &mut key);
        self.scratch_key = key;
        let found = self.lookup(&self.scratch_key);
        if method == Method::Ack {
            let Some(id) = found else {
                return RequestOutcome::AckUnmatched;
            };
            let t = &self.slab[id.slot as usize];
            return match (t.kind, t.state) {
                (Kind::InviteServer, State::Completed) => {
                    // §17.2.1: ACK received; stop resending, absorb ACK copies for T4.
                    self.slab[id.slot as usize].state = State::Confirmed;
                    self.set_last(id, Vec::new()); // nothing left to resend
                    self.disarm(id, Slot::Resend);
                    let t4 = if self.reliable() {
                        Duration::ZERO
                    } else {
                        self.timers_cfg.t4
                    };
                    self.arm(now, id, Timer::I, t4);
                    RequestOutcome::AckAbsorbed
                }
                (Kind::InviteServer, State::Confirmed) => {
                    self.stats.absorbed += 1;
                    RequestOutcome::AckAbsorbed
                }
                _ => RequestOutcome::AckUnmatched,
            };
        }
        if let Some(id) = found {
            self.stats.absorbed += 1;
            let t = &self.slab[id.slot as usize];
            // Resend the last response in Proceeding or Completed (§17.2.1,
            // §17.2.2); in Accepted the UAS's own 2xx retransmissions do it.
            if matches!(t.state, State::Proceeding | State::Completed) && !t.last.is_empty() {
                self.stats.retransmissions += 1;
                self.pending.push_back(Pending::Last(id));
            }
            return RequestOutcome::Retransmission(id);
        }
        let (kind, state) = if method == Method::Invite {
            (Kind::InviteServer, State::Proceeding)
        } else {
            (Kind::NonInviteServer, State::Trying)
        };
        if !self
            .shares
            .admits(response_dest.ip(), self.live, self.max_live)
        {
            return RequestOutcome::Overloaded;
        }
        self.shares.add(response_dest.ip());
        self.stats.server_created += 1;
        RequestOutcome::New(self.create(kind, state, response_dest, local, 0))
    }

    /// The INVITE server transaction a CANCEL refers to (§9.2: same branch
    /// and sent-by, method INVITE), if it is live.
    pub fn find_invite(&mut self, cancel: &Message<'_>, sum: &Summary<'_>) -> Option<TxId> {
        let mut key = std::mem::take(&mut self.scratch_key);
        key::server_key(cancel, sum, Some(b"INVITE"), &mut key);
        self.scratch_key = key;
        self.lookup(&self.scratch_key)
            .filter(|id| self.slab[id.slot as usize].kind == Kind::InviteServer)
    }

    /// Sends a response on server transaction `id` (the bytes are the
    /// complete response, `code` its status). Returns false, and recycles
    /// the bytes, if the transaction is gone or can no longer respond.
    pub fn respond(&mut self, now: Instant, id: TxId, bytes: Vec<u8>, code: u16) -> bool {
        let reliable = self.reliable();
        let timers = self.timers_cfg;
        let Some(t) = self.get(id) else {
            self.pool.give(bytes);
            return false;
        };
        let (kind, state, dest, local) = (t.kind, t.state, t.dest, t.local);
        match (kind, state) {
            (Kind::InviteServer, State::Proceeding) if code < 200 => {
                self.set_last(id, bytes);
                self.pending.push_back(Pending::Last(id));
            }
            (Kind::InviteServer, State::Proceeding) if code < 300 => {
                // RFC 6026: Accepted; the 2xx is not kept (the UAS resends it).
                self.slab[id.slot as usize].state = State::Accepted;
                self.set_last(id, Vec::new());
                self.pending.push_back(Pending::Once { bytes, dest, local });
                self.arm(now, id, Timer::L, 64 * timers.t1);
            }
            (Kind::InviteServer, State::Proceeding) => {
                self.slab[id.slot as usize].state = State::Completed;
                self.set_last(id, bytes);
                self.pending.push_back(Pending::Last(id));
                if !reliable {
                    self.slab[id.slot as usize].interval = timers.t1;
                    self.arm(now, id, Timer::G, timers.t1);
                }
                self.arm(now, id, Timer::H, 64 * timers.t1);
            }
            (Kind::InviteServer, State::Accepted) if (200..300).contains(&code) => {
                self.pending.push_back(Pending::Once { bytes, dest, local });
            }
            (Kind::NonInviteServer, State::Trying | State::Proceeding) => {
                self.set_last(id, bytes);
                self.pending.push_back(Pending::Last(id));
                if code < 200 {
                    self.slab[id.slot as usize].state = State::Proceeding;
                } else {
                    self.slab[id.slot as usize].state = State::Completed;
                    let j = if reliable {
                        Duration::ZERO
                    } else {
                        64 * timers.t1
                    };
                    self.arm(now, id, Timer::J, j);
                }
            }
            _ => {
                self.pool.give(bytes);
                return false;
            }
        }
        true
    }

    fn set_last(&mut self, id: TxId, bytes: Vec<u8>) {
        let t = &mut self.slab[id.slot as usize];
        let old = std::mem::replace(&mut t.last, bytes);
        // The last message was queued but not sent yet (a 100 Trying
        // followed at once by a final response): it still goes, as it was.
        if matches!(self.pending.back(), Some(Pending::Last(p)) if *p == id) && !old.is_empty() {
            let (dest, local) = (t.dest, t.local);
            if let Some(back) = self.pending.back_mut() {
                *back = Pending::Once {
                    bytes: old,
                    dest,
                    local,
                };
            }
            return;
        }
        self.pool.give(old);
    }

    /// Starts a client transaction and sends its request (§17.1.1.2,
    /// §17.1.2.2).
    pub fn start_client(&mut self, now: Instant, req: ClientRequest<'_>) -> TxId {
        let class: &[u8] = match req.method {
            Method::Invite => b"INVITE",
            m => m.as_str().map(str::as_bytes).unwrap_or(b"?"),
        };
        let class = if req.method == Method::Extension {
            // Extension methods key on their bytes; take them from the request line.
            let sp = memchr_space(&req.bytes);
            &req.bytes[..sp]
        } else {
            class
        };
        let mut key = std::mem::take(&mut self.scratch_key);
        key::client_key(req.branch, class, &mut key);
        self.scratch_key = key;
        let (kind, state) = if req.method == Method::Invite {
            (Kind::InviteClient, State::Calling)
        } else {
            (Kind::NonInviteClient, State::Trying)
        };
        // A duplicate branch would make two transactions unmatchable;
        // the older one loses.
        if let Some(old) = self.lookup(&self.scratch_key) {
            self.terminate(old);
        }
        let id = self.create(kind, state, req.dest, req.local, req.user);
        self.stats.client_created += 1;
        let t1 = self.timers_cfg.t1;
        let reliable = self.reliable();
        self.set_last(id, req.bytes);
        self.slab[id.slot as usize].timer_c = req.timer_c && kind == Kind::InviteClient;
        self.pending.push_back(Pending::Last(id));
        let invite = kind == Kind::InviteClient;
        if !reliable {
            self.arm(now, id, if invite { Timer::A } else { Timer::E }, t1);
        }
        self.arm(now, id, if invite { Timer::B } else { Timer::F }, 64 * t1);
        if req.timer_c && invite {
            self.arm(now, id, Timer::C, self.timers_cfg.c);
        }
        id
    }

    /// Tells an INVITE client transaction that a CANCEL for it was sent:
    /// if no final response arrives within 64·T1, it ends with a
    /// [`TxEvent::Timeout`] (§9.1).
    pub fn cancel_sent(&mut self, now: Instant, id: TxId) {
        let t1 = self.timers_cfg.t1;
        if self
            .get(id)
            .is_some_and(|t| t.kind == Kind::InviteClient && t.state != State::Completed)
        {
            self.disarm(id, Slot::C);
            self.arm(now, id, Timer::AfterCancel, 64 * t1);
        }
    }

    /// Matches a response to a client transaction by the branch of its
    /// top Via and its CSeq method (§17.1.3) and runs the state machine.
    pub fn handle_response(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        sum: &Summary<'_>,
    ) -> ResponseOutcome {
        let code = msg.status_code().unwrap_or(0);
        let cseq = &sum.cseq;
        let Some(branch) = sum.top_via.branch else {
            return ResponseOutcome::Unmatched;
        };
        let mut key = std::mem::take(&mut self.scratch_key);
        key::client_key(
            branch,
            key::method_class(cseq.method, cseq.method_bytes),
            &mut key,
        );
        self.scratch_key = key;
        let Some(id) = self.lookup(&self.scratch_key) else {
            return ResponseOutcome::Unmatched;
        };
        let timers = self.timers_cfg;
        let reliable = self.reliable();
        let t = &self.slab[id.slot as usize];
        let (kind, state, user, timer_c) = (t.kind, t.state, t.user, t.timer_c);
        let deliver = ResponseOutcome::Deliver { tx: id, user, code };
        let slot = id.slot as usize;
        match (kind, state) {
            (Kind::InviteClient, State::Calling | State::Proceeding) => {
                if code < 200 {
                    self.slab[slot].state = State::Proceeding;
                    self.slab[slot].provisional = true;
                    self.disarm(id, Slot::Resend);
                    // Timer B no longer applies once a provisional arrived;
                    // Timer C, reset by provisionals other than 100, guards
                    // (§16.7 step 2).
                    if state == State::Calling {
                        self.disarm(id, Slot::End);
                    }
                    if code > 100 && timer_c {
                        self.arm(now, id, Timer::C, timers.c);
                    }
                } else if code < 300 {
                    self.slab[slot].state = State::Accepted;
                    self.set_last(id, Vec::new()); // the INVITE is not resent again
                    self.disarm(id, Slot::Resend);
                    self.disarm(id, Slot::C);
                    self.arm(now, id, Timer::M, 64 * timers.t1);
                } else {
                    self.slab[slot].state = State::Completed;
                    self.disarm(id, Slot::Resend);
                    self.disarm(id, Slot::C);
                    self.build_ack(id, msg);
                    self.pending.push_back(Pending::Last(id));
                    let d = if reliable { Duration::ZERO } else { timers.d };
                    self.arm(now, id, Timer::D, d);
                }
                deliver
            }
            (Kind::InviteClient, State::Completed) => {
                if code >= 300 {
                    // The final response again: our ACK was lost (§17.1.1.2).
                    self.stats.retransmissions += 1;
                    self.pending.push_back(Pending::Last(id));
                }
                self.stats.absorbed += 1;
                ResponseOutcome::Absorbed
            }
            (Kind::InviteClient, State::Accepted) if (200..300).contains(&code) => {
                deliver // RFC 6026: 2xx retransmissions go to the TU.
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding) => {
                if code < 200 {
                    self.slab[slot].state = State::Proceeding;
                    self.slab[slot].provisional = true;
                } else {
                    self.slab[slot].state = State::Completed;
                    self.set_last(id, Vec::new()); // only absorbs copies now
                    self.disarm(id, Slot::Resend);
                    let k = if reliable { Duration::ZERO } else { timers.t4 };
                    self.arm(now, id, Timer::K, k);
                }
                deliver
            }
            _ => {
                self.stats.absorbed += 1;
                ResponseOutcome::Absorbed
            }
        }
    }

    /// Replaces the INVITE kept by client transaction `id` with the ACK
    /// for the non-2xx final response `resp` (§17.1.1.3).
    fn build_ack(&mut self, id: TxId, resp: &Message<'_>) {
        let to = resp
            .header_value(trunkline_parser::HeaderName::To)
            .unwrap_or_default();
        let mut ack = self.pool.take();
        let invite = std::mem::take(&mut self.slab[id.slot as usize].last);
        let ok = match self.parser.parse(&invite) {
            Ok(inv) => write_ack(&inv, to, &mut self.edits, &mut ack).is_ok(),
            Err(_) => false,
        };
        self.pool.give(invite);
        if !ok {
            ack.clear();
        }
        self.slab[id.slot as usize].last = ack;
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((_, r)) = self.timers.pop_expired(now) {
            let Some(t) = self.get(r.id) else { continue };
            if t.epochs[r.timer.slot() as usize] != r.epoch {
                continue; // disarmed or re-armed since
            }
            self.fire(now, r.id, r.timer);
        }
    }

    /// Timer `timer` of transaction `id` fired.
    fn fire(&mut self, now: Instant, id: TxId, timer: Timer) {
        let timers = self.timers_cfg;
        let t = &self.slab[id.slot as usize];
        let (kind, state, user, interval, provisional) =
            (t.kind, t.state, t.user, t.interval, t.provisional);
        match timer {
            Timer::A | Timer::E | Timer::G => {
                // A (INVITE client, doubling), E (non-INVITE client, to T2;
                // T2 once Proceeding), G (INVITE server final, to T2).
                let next = match (kind, state) {
                    (Kind::InviteClient, State::Calling) => interval * 2,
                    (Kind::NonInviteClient, State::Trying) => (interval * 2).min(timers.t2),
                    (Kind::NonInviteClient, State::Proceeding) => timers.t2,
                    (Kind::InviteServer, State::Completed) => (interval * 2).min(timers.t2),
                    _ => return,
                };
                self.slab[id.slot as usize].interval = next;
                self.stats.retransmissions += 1;
                self.pending.push_back(Pending::Last(id));
                self.arm(now, id, timer, next);
            }
            Timer::B | Timer::F | Timer::AfterCancel => {
                // No final response: the transaction user acts as if a 408
                // came (B and the wait after a CANCEL end the INVITE's
                // Calling or Proceeding, F the non-INVITE's Trying or
                // Proceeding; the states check a race with a response).
                let timed_out = matches!(
                    (kind, state),
                    (Kind::InviteClient, State::Calling | State::Proceeding)
                        | (Kind::NonInviteClient, State::Trying | State::Proceeding)
                );
                if timed_out {
                    self.stats.timeouts += 1;
                    self.events.push_back(TxEvent::Timeout {
                        tx: id,
                        user,
                        timer,
                    });
                }
                self.terminate(id);
            }
            Timer::D | Timer::H | Timer::I | Timer::J | Timer::K | Timer::L | Timer::M => {
                // The state's wait is over: the transaction simply ends.
                self.terminate(id);
            }
            Timer::C => {
                if kind == Kind::InviteClient && matches!(state, State::Calling | State::Proceeding)
                {
                    self.events.push_back(TxEvent::TimerC {
                        tx: id,
                        user,
                        provisional,
                    });
                }
            }
        }
    }

    /// The next transmission, written into `out` (cleared first).
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Option<Transmit> {
        loop {
            let p = self.pending.pop_front()?;
            out.clear();
            match p {
                Pending::Last(id) => {
                    let Some(t) = self.get(id) else { continue };
                    if t.last.is_empty() {
                        continue;
                    }
                    out.extend_from_slice(&t.last);
                    return Some(Transmit {
                        dest: t.dest,
                        local: t.local,
                    });
                }
                Pending::Once { bytes, dest, local } => {
                    out.extend_from_slice(&bytes);
                    self.pool.give(bytes);
                    return Some(Transmit { dest, local });
                }
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// The next deadline at which [`TxLayer::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}

fn memchr_space(b: &[u8]) -> usize {
    b.iter().position(|&c| c == b' ').unwrap_or(b.len())
}

#[cfg(test)]
mod tests;
