//! Dialogs as a record-routing proxy sees them (RFC 3261 §12, §16.6
//! step 4), sans-IO: a table owned by the shard of the Call-ID, fed with
//! what the proxy learns from the messages it relays, and asked whether
//! an in-dialog request names a live dialog.
//!
//! A *call* is what one initial INVITE starts (its Call-ID and From tag:
//! the caller's side of every dialog it creates). Each To tag a response
//! brings makes a dialog of that call (RFC 3261 §12.1: a provisional
//! response with a tag makes an early dialog, a 2xx a confirmed one; a
//! forking proxy downstream can bring several). A final non-2xx (a
//! CANCEL's 487 included) ends the early ones; a BYE from either side
//! ends a dialog. A dialog that ends is kept a little longer ([`LINGER`])
//! so that the BYE's retransmissions and its 200 still find it.
//!
//! What the table keeps per dialog is what the router needs to end a call
//! itself (the maximum call duration): both sides' From/To values with
//! their tags, remote targets, route sets toward each side and the
//! highest CSeq each side used; and what the CDRs need: when it started,
//! was answered and ended, and why. Strings are stored once per call in
//! one allocation ([`Dialog`] and [`Call`]); nothing is parsed here: the
//! caller hands in byte slices it has parsed already.
//!
//! No clock and no socket: every input takes `now`; expiry is polled
//! ([`DialogTable::next_deadline`], [`DialogTable::handle_timeout`]) and
//! comes out as [`Event`]s the proxy acts on (sending the BYEs).
//!
//! Confirmed calls can be journaled and taken back by another process
//! ([`journal`]: the record format, [`DialogTable::restore`]).

pub mod journal;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use hashbrown::HashMap;

use crate::timer::TimerLists;

/// How long an ended dialog is kept for its BYE's retransmissions (and
/// their 200): 64·T1, a non-INVITE transaction's lifetime.
pub const LINGER: Duration = Duration::from_secs(32);

/// How long a call may wait for its first response with a To tag or its
/// final response: Timer C's default, the longest an INVITE is let ring.
pub const SETUP: Duration = Duration::from_secs(180);

/// Limits of a [`DialogTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DialogConfig {
    /// Calls held at once (each with its dialogs); beyond it a new call
    /// is refused ([`DialogTable::on_invite`] hands it back). Default 1,000,000 per shard.
    pub max_calls: usize,
    /// Dialogs (To tags) one call may have: a forking downstream can
    /// bring several early dialogs; more are not tracked. Default 8.
    pub max_forks: usize,
    /// Confirmed dialogs are ended after this long ([`Ended::MaxDuration`]);
    /// `None`: no limit.
    pub max_duration: Option<Duration>,
}

impl Default for DialogConfig {
    fn default() -> Self {
        DialogConfig {
            max_calls: 1_000_000,
            max_forks: 8,
            max_duration: None,
        }
    }
}

/// Which side sent a request of the dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The caller (the initial INVITE's sender: From tag = the call's).
    Caller,
    /// The callee (its From tag is the dialog's To tag).
    Callee,
}

/// Where a dialog is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// A provisional response with this To tag came (§12.1).
    Early,
    /// A 2xx with this To tag came.
    Confirmed,
    /// Ended (kept [`LINGER`] for retransmissions).
    Terminated(Ended),
}

/// Why a dialog ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A BYE from the caller.
    CallerBye,
    /// A BYE from the callee.
    CalleeBye,
    /// The INVITE's final response was this non-2xx (487 after a CANCEL).
    Rejected(u16),
    /// The maximum call duration: the router sends BYE to both sides.
    MaxDuration,
    /// No final response within [`SETUP`].
    SetupTimeout,
    /// Still early when another To tag's 2xx had answered the call
    /// ([`LINGER`] earlier: §13.2.2.4, the forks that did not answer).
    OtherForkAnswered,
}

/// A dialog's handle: a slot and its generation (a handle of an entry
/// since reused names nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    call: u32,
    generation: u32,
    fork: u8,
}

/// What happened, for the proxy to act on (CDRs, limits, BYEs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An early dialog began (a provisional response with a new To tag).
    Early(DialogId),
    /// A dialog was confirmed (a 2xx).
    Confirmed(DialogId),
    /// A dialog ended, and why.
    Ended(DialogId, Ended),
    /// Every dialog of the call has ended and its INVITE had its final
    /// response (or never will): the call is over (its CDR can be
    /// written, its limit slots given back). It lingers [`LINGER`] more
    /// for retransmissions, then goes without another event.
    CallEnded(CallRef),
}

/// A call's handle: its slot and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallRef {
    slot: u32,
    generation: u32,
}

impl DialogId {
    /// The call the dialog belongs to.
    pub fn call(self) -> CallRef {
        CallRef {
            slot: self.call,
            generation: self.generation,
        }
    }

    /// Which of its call's dialogs it is (0: the first To tag).
    pub fn fork(self) -> u8 {
        self.fork
    }
}

/// What an initial INVITE tells (slices of the parsed message).
#[derive(Clone, Copy, Debug)]
pub struct Invite<'a> {
    /// The Call-ID.
    pub call_id: &'a [u8],
    /// The From header's value, with its tag.
    pub from: &'a [u8],
    /// The From tag.
    pub from_tag: &'a [u8],
    /// The To header's value (no tag yet).
    pub to: &'a [u8],
    /// The CSeq number.
    pub cseq: u32,
    /// The caller's Contact URI (its remote target).
    pub contact: &'a [u8],
    /// The route set from us toward the caller, as a Route header value
    /// (the Record-Route entries below ours; empty: none).
    pub route_to_caller: &'a [u8],
    /// This call's maximum duration, overriding the table's
    /// ([`DialogConfig::max_duration`]) when set: a policy rule's or a
    /// routing group's.
    pub max_duration: Option<Duration>,
}

/// What a response to the INVITE tells.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    /// The Call-ID.
    pub call_id: &'a [u8],
    /// The From tag (the call's).
    pub from_tag: &'a [u8],
    /// The To header's value, with its tag.
    pub to: &'a [u8],
    /// The To tag, if any.
    pub to_tag: Option<&'a [u8]>,
    /// The status.
    pub code: u16,
    /// The callee's Contact URI, if any.
    pub contact: &'a [u8],
    /// The route set from us toward the callee, as a Route header value
    /// (the Record-Route entries above ours, nearest first; empty: none).
    pub route_to_callee: &'a [u8],
}

/// What an in-dialog request tells.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The Call-ID.
    pub call_id: &'a [u8],
    /// The From tag.
    pub from_tag: &'a [u8],
    /// The To tag.
    pub to_tag: &'a [u8],
    /// Whether it is a BYE.
    pub bye: bool,
    /// The CSeq number.
    pub cseq: u32,
    /// A new Contact (re-INVITE, UPDATE: a target refresh, §12.2), or
    /// empty.
    pub contact: &'a [u8],
}

/// What the table says of an in-dialog request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// It names this dialog, sent by this side; `ended` when it ended it
    /// (a BYE).
    Dialog {
        /// The dialog.
        id: DialogId,
        /// Who sent it.
        from: Side,
        /// It was a BYE that ended the dialog now.
        ended: bool,
    },
    /// A CSeq not above the last one of that side (§12.2.2: 500), a
    /// retransmission aside (the same number: the transaction layer
    /// absorbs those first).
    OutOfOrder(DialogId),
    /// No live dialog: 481 (§12.2.2), when dialog checking is on.
    NoDialog,
}

/// One dialog (a To tag of a call).
#[derive(Debug)]
pub struct Dialog {
    /// The callee's To value with the tag, its Contact, the route toward
    /// it: offsets into `text`.
    text: Box<[u8]>,
    to: (u16, u16),
    tag: (u16, u16),
    contact: (u16, u16),
    route: (u16, u16),
    /// The highest CSeq the callee used (0: none yet).
    pub callee_cseq: u32,
    /// Where it is.
    pub state: State,
    /// When the first response with its tag came.
    pub started: Instant,
    /// When its 2xx came.
    pub answered: Option<Instant>,
    /// When it ended.
    pub ended: Option<Instant>,
    /// re-INVITEs and UPDATEs seen (either side).
    pub refreshes: u32,
}

/// One call: what its initial INVITE set, its dialogs, and what the
/// proxy keeps with it (`U`: its CDR's details, the limit slots it holds).
#[derive(Debug)]
pub struct Call<U = ()> {
    key: u64,
    /// Call-ID, From value, From tag, To value, caller Contact, route to
    /// the caller: offsets into `text`.
    text: Box<[u8]>,
    call_id: (u16, u16),
    from: (u16, u16),
    from_tag: (u16, u16),
    to: (u16, u16),
    contact: (u16, u16),
    route: (u16, u16),
    /// The highest CSeq the caller used.
    pub caller_cseq: u32,
    /// When the INVITE came.
    pub invited: Instant,
    /// The INVITE's final response, once it came.
    pub final_code: Option<u16>,
    /// Its dialogs, by To tag.
    pub dialogs: Vec<Dialog>,
    /// Every dialog ended (the call is removed at its linger's end).
    done: bool,
    /// The maximum duration of its confirmed dialogs (`None`: none).
    max_duration: Option<Duration>,
    /// What the proxy keeps with the call.
    pub user: U,
}

/// Where a string lies in a packed allocation: offset and length.
type Span16 = (u16, u16);

/// Strings packed in one allocation, and where each lies.
type Packed<const N: usize> = (Box<[u8]>, [Span16; N]);

fn part(text: &[u8], (at, len): Span16) -> &[u8] {
    text.get(usize::from(at)..usize::from(at) + usize::from(len))
        .unwrap_or_default()
}

/// Packs `parts` into one allocation; `None` if it would not fit in the
/// 16-bit offsets (64 KiB: a message is smaller).
fn pack<const N: usize>(parts: [&[u8]; N]) -> Option<Packed<N>> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total > usize::from(u16::MAX) {
        return None;
    }
    let mut text = Vec::with_capacity(total);
    let mut spans: [Span16; N] = [(0, 0); N];
    for (i, p) in parts.iter().enumerate() {
        spans[i] = (text.len() as u16, p.len() as u16);
        text.extend_from_slice(p);
    }
    Some((text.into_boxed_slice(), spans))
}

impl<U> Call<U> {
    /// The Call-ID.
    pub fn call_id(&self) -> &[u8] {
        part(&self.text, self.call_id)
    }
    /// The caller's From value (with its tag).
    pub fn from(&self) -> &[u8] {
        part(&self.text, self.from)
    }
    /// The call's From tag.
    pub fn from_tag(&self) -> &[u8] {
        part(&self.text, self.from_tag)
    }
    /// The INVITE's To value (no tag).
    pub fn to(&self) -> &[u8] {
        part(&self.text, self.to)
    }
    /// The caller's remote target.
    pub fn caller_contact(&self) -> &[u8] {
        part(&self.text, self.contact)
    }
    /// The route set toward the caller (a Route value; empty: none).
    pub fn route_to_caller(&self) -> &[u8] {
        part(&self.text, self.route)
    }
}

impl Dialog {
    /// The callee's To value, with the tag.
    pub fn to(&self) -> &[u8] {
        part(&self.text, self.to)
    }
    /// The dialog's To tag (the callee's).
    pub fn to_tag(&self) -> &[u8] {
        part(&self.text, self.tag)
    }
    /// The callee's remote target (its latest Contact).
    pub fn callee_contact(&self) -> &[u8] {
        part(&self.text, self.contact)
    }
    /// The route set toward the callee (a Route value; empty: none).
    pub fn route_to_callee(&self) -> &[u8] {
        part(&self.text, self.route)
    }

    fn new(now: Instant, r: &Response<'_>, tag: &[u8], state: State) -> Option<Dialog> {
        let (text, [to, tag, contact, route]) = pack([r.to, tag, r.contact, r.route_to_callee])?;
        Some(Dialog {
            text,
            to,
            tag,
            contact,
            route,
            callee_cseq: 0,
            state,
            started: now,
            answered: (state == State::Confirmed).then_some(now),
            ended: None,
            refreshes: 0,
        })
    }

    /// A target refresh: the callee's new Contact.
    fn refresh_contact(&mut self, contact: &[u8]) {
        if contact.is_empty() || contact == self.callee_contact() {
            return;
        }
        let parts = [self.to(), self.to_tag(), contact, self.route_to_callee()];
        if let Some((text, [to, tag, c, route])) = pack(parts) {
            (self.text, self.to, self.tag, self.contact, self.route) = (text, to, tag, c, route);
        }
    }

    fn live(&self) -> bool {
        !matches!(self.state, State::Terminated(_))
    }
}

/// What a timer is for.
#[derive(Clone, Copy, Debug)]
enum Due {
    /// The call's setup ends ([`SETUP`]).
    Setup,
    /// A confirmed dialog's maximum duration.
    MaxDuration(u8),
    /// The call was answered [`LINGER`] ago: its still-early dialogs end.
    EarlyEnd,
    /// The call's linger ends: remove it.
    Remove,
}

/// The dialogs of one shard (see the module docs); `U` is what the proxy
/// keeps with each call.
#[derive(Debug)]
pub struct DialogTable<U = ()> {
    config: DialogConfig,
    calls: Vec<Option<Call<U>>>,
    /// Each slot's generation (a handle names the call of its generation).
    generations: Vec<u32>,
    free: Vec<u32>,
    index: HashMap<u64, u32>,
    hasher: foldhash::fast::FixedState,
    timers: TimerLists<(u32, u32, Due)>,
    /// Maximum durations of restored calls: what remains of each is any
    /// duration, which the fixed-duration lists do not take (a heap,
    /// filled at start-up only).
    restored: BinaryHeap<Reverse<(Instant, u32, u32, u8)>>,
    live: usize,
}

impl<U> DialogTable<U> {
    /// An empty table; `seed` keys the index's hash (random per process:
    /// peers cannot aim at a bucket).
    pub fn new(config: DialogConfig, seed: u64) -> DialogTable<U> {
        DialogTable {
            config,
            calls: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            timers: TimerLists::new(),
            restored: BinaryHeap::new(),
            live: 0,
        }
    }

    /// The limits.
    pub fn config(&self) -> &DialogConfig {
        &self.config
    }

    /// Calls held (ended ones lingering included).
    pub fn calls(&self) -> usize {
        self.live
    }

    fn key(&self, call_id: &[u8], from_tag: &[u8]) -> u64 {
        self.hasher.hash_one((call_id, from_tag))
    }

    /// The call with this Call-ID and From tag (a collision of the hash
    /// is told apart by the bytes).
    fn find(&self, call_id: &[u8], tag: &[u8]) -> Option<u32> {
        let slot = *self.index.get(&self.key(call_id, tag))?;
        let c = self.calls.get(slot as usize)?.as_ref()?;
        (c.call_id() == call_id && c.from_tag() == tag).then_some(slot)
    }

    /// The call and dialog a handle names, while it exists.
    pub fn get(&self, id: DialogId) -> Option<(&Call<U>, &Dialog)> {
        let c = self.held(id.call, id.generation)?;
        Some((c, c.dialogs.get(usize::from(id.fork))?))
    }

    /// The call a handle names, while it is held.
    pub fn call(&self, r: CallRef) -> Option<&Call<U>> {
        self.held(r.slot, r.generation)
    }

    /// The call a handle names, while it is held, to change what the
    /// proxy keeps with it.
    pub fn call_mut(&mut self, r: CallRef) -> Option<&mut Call<U>> {
        let c = self.calls.get_mut(r.slot as usize)?.as_mut()?;
        (self.generations[r.slot as usize] == r.generation).then_some(c)
    }

    /// The live call with this Call-ID and From tag (the caller's).
    pub fn find_call(&self, call_id: &[u8], from_tag: &[u8]) -> Option<CallRef> {
        let slot = self.find(call_id, from_tag)?;
        Some(CallRef {
            slot,
            generation: self.generations[slot as usize],
        })
    }

    /// The call in `slot` if it is of `generation`.
    fn held(&self, slot: u32, generation: u32) -> Option<&Call<U>> {
        let c = self.calls.get(slot as usize)?.as_ref()?;
        (self.generations[slot as usize] == generation).then_some(c)
    }

    fn id(&self, slot: u32, fork: usize) -> DialogId {
        DialogId {
            call: slot,
            generation: self.generations[slot as usize],
            fork: fork as u8,
        }
    }

    /// An initial INVITE we record-route, with what the proxy keeps with
    /// its call: the new call's handle, or `Err(user)` handed back when it
    /// is the call already held (a retransmission, or a second INVITE of
    /// the same call) or the table is full ([`DialogTable::is_full`]).
    pub fn on_invite(&mut self, now: Instant, inv: &Invite<'_>, user: U) -> Result<CallRef, U> {
        let r = self.insert(now, inv, user)?;
        self.timers
            .insert(now, SETUP, (r.slot, r.generation, Due::Setup));
        Ok(r)
    }

    /// A new call for `inv`, invited at `invited` (no timer armed):
    /// `Err(user)` when it is held already, the table is full, or its
    /// strings do not fit.
    fn insert(&mut self, invited: Instant, inv: &Invite<'_>, user: U) -> Result<CallRef, U> {
        if self.find(inv.call_id, inv.from_tag).is_some() || self.is_full() {
            return Err(user);
        }
        let parts = [
            inv.call_id,
            inv.from,
            inv.from_tag,
            inv.to,
            inv.contact,
            inv.route_to_caller,
        ];
        let Some((text, [call_id, from, from_tag, to, contact, route])) = pack(parts) else {
            return Err(user);
        };
        let key = self.key(inv.call_id, inv.from_tag);
        let slot = self.take_slot();
        let generation = self.generations[slot as usize];
        self.calls[slot as usize] = Some(Call {
            key,
            text,
            call_id,
            from,
            from_tag,
            to,
            contact,
            route,
            caller_cseq: inv.cseq,
            invited,
            final_code: None,
            dialogs: Vec::new(),
            done: false,
            max_duration: inv.max_duration.or(self.config.max_duration),
            user,
        });
        self.index.insert(key, slot);
        self.live += 1;
        Ok(CallRef { slot, generation })
    }

    /// A free slot, of a new generation.
    fn take_slot(&mut self) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.calls.push(None);
                self.generations.push(0);
                (self.calls.len() - 1) as u32
            }
        };
        let generation = self.generations[slot as usize].wrapping_add(1);
        self.generations[slot as usize] = generation;
        slot
    }

    /// The calls held (ended ones lingering included), in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (CallRef, &Call<U>)> + '_ {
        self.calls.iter().enumerate().filter_map(|(slot, c)| {
            let c = c.as_ref()?;
            let r = CallRef {
                slot: slot as u32,
                generation: self.generations[slot],
            };
            Some((r, c))
        })
    }

    /// Whether a new call would be refused ([`DialogConfig::max_calls`]).
    pub fn is_full(&self) -> bool {
        self.live >= self.config.max_calls
    }

    /// A response to the initial INVITE of a call held here; the events
    /// it causes go to `out`.
    pub fn on_response(&mut self, now: Instant, r: &Response<'_>, out: &mut Vec<Event>) {
        let Some(slot) = self.find(r.call_id, r.from_tag) else {
            return;
        };
        let max_forks = self.config.max_forks;
        let generation = self.generations[slot as usize];
        let c = self.calls[slot as usize].as_mut().expect("found");
        let max_duration = c.max_duration;
        let fork = r.to_tag.and_then(|tag| {
            if let Some(i) = c.dialogs.iter().position(|d| d.to_tag() == tag) {
                return Some(i);
            }
            if r.code < 101 || r.code >= 300 || c.dialogs.len() >= max_forks {
                return None;
            }
            let state = if r.code >= 200 {
                State::Confirmed
            } else {
                State::Early
            };
            let d = Dialog::new(now, r, tag, state)?;
            // One dialog is the common case: no spare capacity.
            c.dialogs.reserve_exact(1);
            c.dialogs.push(d);
            Some(c.dialogs.len() - 1)
        });
        let new = fork.is_some_and(|i| i + 1 == c.dialogs.len() && c.dialogs[i].started == now);
        let id = |fork: usize| DialogId {
            call: slot,
            generation,
            fork: fork as u8,
        };
        match r.code {
            101..=199 => {
                if let (Some(i), true) = (fork, new) {
                    out.push(Event::Early(id(i)));
                }
            }
            200..=299 => {
                if c.final_code.is_none() {
                    c.final_code = Some(r.code);
                    self.timers
                        .insert(now, LINGER, (slot, generation, Due::EarlyEnd));
                }
                let Some(i) = fork else { return };
                let d = &mut c.dialogs[i];
                if d.state == State::Early || (new && d.state == State::Confirmed) {
                    d.state = State::Confirmed;
                    d.answered = Some(now);
                    if !r.contact.is_empty() {
                        d.refresh_contact(r.contact);
                    }
                    out.push(Event::Confirmed(id(i)));
                    if let Some(limit) = max_duration {
                        self.timers.insert(
                            now,
                            limit,
                            (slot, generation, Due::MaxDuration(i as u8)),
                        );
                    }
                }
            }
            300..=699 => self.reject(now, slot, r.code, out),
            _ => {}
        }
    }

    /// The final non-2xx response sent upstream for call `r`'s INVITE
    /// when it was generated here (408, 487, 500, 503: no To tag of a
    /// callee), or chosen among the branches' (§16.7): its early dialogs
    /// end and the call is over, unless a 2xx answered it first.
    pub fn on_final(&mut self, now: Instant, r: CallRef, code: u16, out: &mut Vec<Event>) {
        if (300..=699).contains(&code) && self.call(r).is_some() {
            self.reject(now, r.slot, code, out);
        }
    }

    /// The call in `slot` was rejected with `code` (the first final
    /// response counts).
    fn reject(&mut self, now: Instant, slot: u32, code: u16, out: &mut Vec<Event>) {
        let generation = self.generations[slot as usize];
        let c = self.calls[slot as usize].as_mut().expect("held");
        if c.final_code.is_some() {
            return;
        }
        c.final_code = Some(code);
        for (i, d) in c.dialogs.iter_mut().enumerate() {
            if d.state == State::Early {
                d.state = State::Terminated(Ended::Rejected(code));
                d.ended = Some(now);
                let id = DialogId {
                    call: slot,
                    generation,
                    fork: i as u8,
                };
                out.push(Event::Ended(id, Ended::Rejected(code)));
            }
        }
        self.settle(now, slot, out);
    }

    /// An in-dialog request (a To tag): which dialog, and from which side.
    pub fn on_request(&mut self, now: Instant, q: &Request<'_>, out: &mut Vec<Event>) -> Match {
        // The caller's requests carry the call's From tag; the callee's
        // carry its own tag as From and the call's as To.
        let (slot, from, tag) = match self.find(q.call_id, q.from_tag) {
            Some(s) => (s, Side::Caller, q.to_tag),
            None => match self.find(q.call_id, q.to_tag) {
                Some(s) => (s, Side::Callee, q.from_tag),
                None => return Match::NoDialog,
            },
        };
        let generation = self.generations[slot as usize];
        let c = self.calls[slot as usize].as_mut().expect("found");
        let Some(i) = c.dialogs.iter().position(|d| d.to_tag() == tag) else {
            return Match::NoDialog;
        };
        let id = DialogId {
            call: slot,
            generation,
            fork: i as u8,
        };
        let last = match from {
            Side::Caller => c.caller_cseq,
            Side::Callee => c.dialogs[i].callee_cseq,
        };
        let d = &mut c.dialogs[i];
        if let State::Terminated(_) = d.state {
            // The BYE's retransmission (or a late request): it still
            // names the dialog while it lingers.
            return if q.bye {
                Match::Dialog {
                    id,
                    from,
                    ended: false,
                }
            } else {
                Match::NoDialog
            };
        }
        if last != 0 && q.cseq < last {
            return Match::OutOfOrder(id);
        }
        match from {
            Side::Caller => c.caller_cseq = c.caller_cseq.max(q.cseq),
            Side::Callee => d.callee_cseq = d.callee_cseq.max(q.cseq),
        }
        if !q.bye {
            if !q.contact.is_empty() {
                d.refreshes += 1;
                if from == Side::Callee {
                    d.refresh_contact(q.contact);
                }
            }
            return Match::Dialog {
                id,
                from,
                ended: false,
            };
        }
        let why = match from {
            Side::Caller => Ended::CallerBye,
            Side::Callee => Ended::CalleeBye,
        };
        d.state = State::Terminated(why);
        d.ended = Some(now);
        out.push(Event::Ended(id, why));
        self.settle(now, slot, out);
        Match::Dialog {
            id,
            from,
            ended: true,
        }
    }

    /// Once every dialog of a call has ended (and its INVITE had its
    /// final response), the call is over ([`Event::CallEnded`]): it
    /// lingers, then goes.
    fn settle(&mut self, now: Instant, slot: u32, out: &mut Vec<Event>) {
        let generation = self.generations[slot as usize];
        let c = self.calls[slot as usize].as_mut().expect("held");
        if c.done || c.final_code.is_none() || c.dialogs.iter().any(Dialog::live) {
            return;
        }
        c.done = true;
        out.push(Event::CallEnded(CallRef { slot, generation }));
        self.timers
            .insert(now, LINGER, (slot, generation, Due::Remove));
    }

    /// Ends dialog `id` (the proxy sent, or is sending, BYE to both
    /// sides: the maximum duration, an operator's command).
    pub fn end(&mut self, now: Instant, id: DialogId, why: Ended, out: &mut Vec<Event>) {
        if self.held(id.call, id.generation).is_none() {
            return;
        }
        let c = self.calls[id.call as usize].as_mut().expect("held");
        let Some(d) = c.dialogs.get_mut(usize::from(id.fork)) else {
            return;
        };
        if !d.live() {
            return;
        }
        d.state = State::Terminated(why);
        d.ended = Some(now);
        out.push(Event::Ended(id, why));
        self.settle(now, id.call, out);
    }

    /// When [`DialogTable::handle_timeout`] has work next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let restored = self.restored.peek().map(|Reverse((at, ..))| *at);
        [self.timers.next_deadline(), restored]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next timer due at `now`: of the lists, else a restored call's.
    fn pop_due(&mut self, now: Instant) -> Option<(u32, u32, Due)> {
        if let Some((_, t)) = self.timers.pop_expired(now) {
            return Some(t);
        }
        match self.restored.peek() {
            Some(Reverse((at, ..))) if *at <= now => {
                let Reverse((_, slot, generation, fork)) = self.restored.pop()?;
                Some((slot, generation, Due::MaxDuration(fork)))
            }
            _ => None,
        }
    }

    /// Runs the timers due at `now`: calls that never got a final
    /// response end ([`Ended::SetupTimeout`]), confirmed dialogs over the
    /// maximum duration are reported ([`Ended::MaxDuration`]: the proxy
    /// sends the BYEs), lingering calls are removed.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Event>) {
        while let Some((slot, generation, due)) = self.pop_due(now) {
            let Some(c) = self.held(slot, generation) else {
                continue;
            };
            match due {
                Due::Setup => {
                    if c.final_code.is_some() {
                        continue;
                    }
                    let n = c.dialogs.len();
                    for i in 0..n {
                        let id = self.id(slot, i);
                        self.end(now, id, Ended::SetupTimeout, out);
                    }
                    let c = self.calls[slot as usize].as_mut().expect("held");
                    c.final_code = Some(408);
                    self.settle(now, slot, out);
                }
                Due::EarlyEnd => {
                    let early: Vec<usize> = (c.dialogs.iter().enumerate())
                        .filter(|(_, d)| d.state == State::Early)
                        .map(|(i, _)| i)
                        .collect();
                    for i in early {
                        let id = self.id(slot, i);
                        self.end(now, id, Ended::OtherForkAnswered, out);
                    }
                }
                Due::MaxDuration(fork) => {
                    let id = self.id(slot, usize::from(fork));
                    if self
                        .get(id)
                        .is_some_and(|(_, d)| d.state == State::Confirmed)
                    {
                        self.end(now, id, Ended::MaxDuration, out);
                    }
                }
                Due::Remove => {
                    let key = c.key;
                    if self.index.get(&key) == Some(&slot) {
                        self.index.remove(&key);
                    }
                    self.calls[slot as usize] = None;
                    self.free.push(slot);
                    self.live -= 1;
                }
            }
        }
    }

    /// Bytes a call with one dialog holds, besides its strings: its slot
    /// and generation, its dialog, its index entry (key, slot and
    /// hashbrown's control byte, at the table's 7/8 load), and its timers
    /// (setup, early end, maximum duration, linger: at most three armed
    /// at once).
    pub const fn fixed_bytes_per_call() -> usize {
        std::mem::size_of::<Option<Call<U>>>()
            + std::mem::size_of::<u32>()
            + std::mem::size_of::<Dialog>()
            + (std::mem::size_of::<(u64, u32)>() + 1) * 8 / 7
            + 3 * std::mem::size_of::<(Instant, (u32, u32, Due))>()
    }
}
