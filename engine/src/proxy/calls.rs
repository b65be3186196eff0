//! Call control (RFC 3261 §12, §16.6 step 4): the dialogs of the calls
//! this shard record-routes, and what hangs on them: the maximum call
//! duration (BYE to both legs, §15.1.1), the CDRs, the limit slots a call
//! holds until it ends.
//!
//! A part of the proxy core with its own state ([`Calls`]), fed by the
//! request and response paths at four points:
//!
//! - an initial INVITE forwarded statefully ([`Calls::on_invite`]): a
//!   call, owned by this shard (the Call-ID's), with what its CDR needs;
//!   each target tried is an attempt ([`Calls::on_attempt`]);
//! - the INVITE's provisional and 2xx responses as they are relayed
//!   ([`Calls::on_response`]): early and confirmed dialogs by To tag;
//!   its final non-2xx only once it is the one sent upstream
//!   ([`Calls::on_final`]: a serial search's failed attempts are not the
//!   call's end);
//! - every in-dialog request ([`Calls::on_request`]): which dialog, a
//!   target refresh, a BYE that ends it; with `[dialogs] check`, 481 for
//!   one that names no live dialog and 500 for an old CSeq (§12.2.2);
//! - time ([`Calls::handle_timeout`]): the maximum duration, the setup
//!   timeout, the linger of ended calls.
//!
//! What comes out: BYEs to send ([`Calls::write_bye`], sent by the core
//! through non-INVITE client transactions of their own), CDRs to hand to
//! the sinks ([`Calls::poll_cdr`]), limit slots to give back.
//!
//! Routing does not depend on this state: in-dialog requests follow their
//! Route sets as before, so a call whose dialog is not held (the table
//! full, a restart) still completes; only its CDR and limit slots need
//! the table.
//!
//! # Across a restart: the journal
//!
//! With the journal on ([`Calls::enable_journal`], `[dialogs] journal`),
//! each call is journaled when its dialog is confirmed, again when a
//! re-INVITE or UPDATE refreshes it, and closed when it is over (the
//! record format: [`trunkline_shards::dialog::journal`]); the records
//! pile up in a buffer the driver drains ([`Calls::take_journal`]) and
//! writes, and [`Calls::snapshot`] writes the live calls' records afresh
//! (to compact the file). The call's `user` blob holds what its CDR needs
//! (users, source, group, attempts, leg, listener) and the keys of the
//! limits whose slots it holds (keys, not indexes: the `[[limit]]` list
//! may change across the restart).
//!
//! A new process takes the records back before it serves
//! ([`Calls::restore`]): each call with one confirmed dialog, the slots of
//! the limits it held taken again without refusing
//! ([`CallLimits::force`]: the call is up already), its maximum duration
//! re-armed with what remains. Its BYE then ends it as if no restart had
//! happened: the CDR carries the original setup and answer times and
//! attempts, the slots are given back. What a restored call does not
//! have: the early dialogs of other forks, and in-dialog CSeqs or target
//! refreshes newer than its last record (a refresh is journaled; other
//! requests are not: a BYE of ours may then carry a CSeq a side has used
//! already, and be answered 500).

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trunkline_parser::{Message, Method, NameAddr, Summary, Uri};
use trunkline_shards::dialog::{
    self, CallRef, DialogConfig, DialogId, DialogTable, Ended, Event, Match, Side,
};

use trunkline_shards::dialog::journal::{self, CallRecord, Cursor, Record};

use crate::cdr::{Attempt, Cdr, Hangup};
use crate::lcr::GroupName;
use crate::lcr::quality::Outcome;
use crate::proxy::next_hop::Locals;
use crate::proxy::stages::edits::Identities;
use crate::security::call_limits::{CallLimits, Held};

/// The `[dialogs]` settings the core runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DialogSettings {
    /// The table's bounds and the default maximum duration.
    pub table: DialogConfig,
    /// Answer in-dialog requests that name no live dialog (481) or come
    /// with an old CSeq (500), instead of routing them by their Route set.
    pub check: bool,
    /// Build a CDR per call ([`Calls::poll_cdr`]).
    pub cdr: bool,
}

/// What the core keeps with each call: its CDR's details and the limit
/// slots it holds.
#[derive(Debug, Default)]
pub struct CallInfo {
    /// From user as received and as sent, Request-URI user as received
    /// and as sent (packed: `caller \0 caller_sent \0 callee \0
    /// callee_sent`), when CDRs are on.
    users: Box<[u8]>,
    source: Option<SocketAddr>,
    /// The routing group (boxed: most calls' slots stay small).
    group: Option<Box<str>>,
    attempts: Vec<AttemptInfo>,
    /// The listener the INVITE came in on (the BYEs leave by it).
    local: u16,
    /// The customer's limit slots and the current target's (given back
    /// through the part's own handle on the limits: no shared reference
    /// count written per call).
    held: Option<Held>,
    target_held: Option<Held>,
    /// The call's record is in the journal (an end record is owed).
    journaled: bool,
    /// A call taken back from the journal: its CDR's times and attempts
    /// as the earlier process had them.
    restored: Option<Box<RestoredCdr>>,
    /// The identities header rules rewrote: as the caller knows them,
    /// and as the callee does (not journaled: after a restart in-dialog
    /// requests keep the identities they carry).
    rewrite: Option<Box<(Identities, Identities)>>,
}

/// What a restored call's CDR takes from its journal record rather than
/// from this process's instants.
#[derive(Debug, Default)]
struct RestoredCdr {
    setup_ms: i64,
    answer_ms: i64,
    leg: u32,
    attempts: Vec<Attempt>,
}

#[derive(Clone, Debug)]
struct AttemptInfo {
    dest: SocketAddr,
    gateway: Option<u32>,
    /// The gateway's id in the routing table (CDRs), when known.
    name: Option<Box<str>>,
    /// The gateway's key for quality routing ([`crate::lcr::Target::cap_key`]).
    key: Option<u64>,
    start: Instant,
    /// The first provisional response other than 100, or the final one.
    first: Option<Instant>,
    code: u16,
}

/// Counters of the call-control part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounters {
    /// Calls tracked.
    pub started: u64,
    /// Dialogs confirmed (2xx).
    pub answered: u64,
    /// Calls over.
    pub ended: u64,
    /// Calls not tracked: the table was full.
    pub untracked: u64,
    /// Dialogs ended by the maximum duration.
    pub max_duration: u64,
    /// BYEs sent by us (two per maximum-duration end).
    pub byes_sent: u64,
    /// BYEs we could not address (a remote target that is not an IP).
    pub byes_unroutable: u64,
    /// In-dialog requests that named no live dialog.
    pub no_dialog: u64,
    /// In-dialog requests with an old CSeq.
    pub out_of_order: u64,
    /// CDRs produced.
    pub cdrs: u64,
    /// Journal records written (calls, refreshes, ends).
    pub journaled: u64,
    /// Calls not journaled: their record would not fit
    /// ([`journal::MAX_USER`]).
    pub journal_skipped: u64,
    /// Calls taken back from the journal at start.
    pub restored: u64,
    /// Journal records not taken back (a duplicate, the table full, a
    /// `user` blob not ours).
    pub restore_refused: u64,
}

/// Why [`Calls::restore`] did not take a record back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// Its `user` blob is not one this version writes.
    User,
    /// The call is held already, the table is full, or a string does not
    /// fit.
    Table,
}

/// The call-control part of one shard (see the module docs).
#[derive(Debug)]
pub struct Calls {
    table: DialogTable<CallInfo>,
    settings: DialogSettings,
    events: Vec<Event>,
    cdrs: VecDeque<Cdr>,
    /// Dialogs ended by us whose BYEs are to be sent.
    byes: VecDeque<DialogId>,
    /// The call limits the calls' slots were taken from.
    limits: Option<Arc<CallLimits>>,
    /// Encoded journal records not yet taken by the driver (`None`: the
    /// journal is off).
    journal: Option<Vec<u8>>,
    /// Calls refreshed since the last settle, to journal again.
    refreshed: Vec<CallRef>,
    /// Quality routing is on: attempts are kept and reported.
    quality: bool,
    quality_events: Vec<QualityEvent>,
    /// Our BYEs' branches: a per-shard salt and a counter.
    bye_salt: u64,
    bye_seq: u64,
    /// Counters.
    pub counters: CallCounters,
}

/// What quality routing learns from the calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QualityEvent {
    /// An attempt got its final response (or timed out).
    Attempt(Outcome),
    /// An answered call through this gateway ended after this long.
    CallEnded(u64, Duration),
}

/// A branch of a BYE of ours, inline.
#[derive(Clone, Copy, Debug)]
pub struct ByeBranch {
    buf: [u8; 48],
    len: usize,
}

impl ByeBranch {
    /// The branch.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The wall clock in Unix milliseconds at a monotonic instant.
pub type UnixMs<'c> = &'c dyn Fn(Instant) -> i64;

impl Calls {
    /// The part with `settings`; `seed` keys the table's hash; `limits`:
    /// the call limits whose slots calls hold.
    pub fn new(settings: DialogSettings, seed: u64, limits: Option<Arc<CallLimits>>) -> Calls {
        Calls {
            limits,
            table: DialogTable::new(settings.table, seed),
            settings,
            events: Vec::with_capacity(8),
            cdrs: VecDeque::new(),
            byes: VecDeque::new(),
            journal: None,
            refreshed: Vec::new(),
            bye_salt: seed.rotate_left(17) & 0xffff_ffff,
            bye_seq: 0,
            quality: false,
            quality_events: Vec::new(),
            counters: CallCounters::default(),
        }
    }

    /// Journals the calls from now on (see the module docs).
    pub fn enable_journal(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    /// Whether the calls are journaled.
    pub fn journals(&self) -> bool {
        self.journal.is_some()
    }

    /// Appends the journal records produced since the last call to `out`
    /// (the driver writes them to the shard's file).
    pub fn take_journal(&mut self, out: &mut Vec<u8>) {
        if let Some(j) = self.journal.as_mut() {
            out.append(j);
        }
    }

    /// Writes the records of every live journaled call to `out`, as they
    /// are now (a compacted journal: these alone restore them); `unix_ms`
    /// converts the table's instants. Returns how many.
    pub fn snapshot(&self, out: &mut Vec<u8>, unix_ms: UnixMs<'_>) -> usize {
        let mut user = Vec::new();
        let mut n = 0;
        for (_, c) in self.table.iter() {
            if !c.user.journaled || c.is_over() {
                continue;
            }
            user.clear();
            if !self.encode_user(c, &mut user, unix_ms) {
                continue;
            }
            if let Some(rec) = c.record(unix_ms, &user) {
                n += usize::from(Record::Call(rec).encode(out));
            }
        }
        n
    }

    /// Takes back a call journaled by an earlier process (see the module
    /// docs): `now` is Unix time `unix_now_ms`.
    pub fn restore(
        &mut self,
        now: Instant,
        unix_now_ms: i64,
        rec: &CallRecord<'_>,
    ) -> Result<CallRef, RestoreError> {
        let Some(info) = self.decode_user(rec) else {
            self.counters.restore_refused += 1;
            return Err(RestoreError::User);
        };
        match self.table.restore(now, unix_now_ms, rec, info) {
            Ok(r) => {
                self.counters.restored += 1;
                Ok(r)
            }
            Err(info) => {
                self.release(&info);
                self.counters.restore_refused += 1;
                Err(RestoreError::Table)
            }
        }
    }

    /// The `user` blob of call `c`'s record (version 1):
    ///
    /// ```text
    /// u8 version, u16 listener, addr source, str group, str users,
    /// u8 leg, u8 n + n str caller limit keys, u8 n + n str target limit
    /// keys, u8 n + n attempts (addr dest, u8 has + u32 gateway,
    /// i64 start_ms, u8 has + u64 pdd_ms, u16 code)
    /// addr: u8 0 (none) | 4 + 4 bytes | 6 + 16 bytes, then u16 port
    /// ```
    ///
    /// `false` when it would be over [`journal::MAX_USER`].
    fn encode_user(
        &self,
        c: &dialog::Call<CallInfo>,
        out: &mut Vec<u8>,
        unix_ms: UnixMs<'_>,
    ) -> bool {
        let info = &c.user;
        journal::put_u8(out, 1);
        journal::put_u16(out, info.local);
        put_addr(out, info.source);
        let group = info.group.as_deref().unwrap_or_default();
        let mut ok = journal::put_str(out, group.as_bytes());
        ok &= journal::put_str(out, &info.users);
        let leg = match &info.restored {
            Some(r) => r.leg,
            None => c
                .dialogs
                .iter()
                .position(|d| d.state == dialog::State::Confirmed)
                .unwrap_or(0) as u32,
        };
        journal::put_u8(out, leg.min(255) as u8);
        for held in [info.held, info.target_held] {
            let limits = self.limits.as_deref();
            let keys: Vec<String> = held
                .iter()
                .flat_map(|h| h.limits())
                .filter_map(|i| Some(limits?.key(i)?.to_string()))
                .collect();
            journal::put_u8(out, keys.len() as u8);
            for k in &keys {
                ok &= journal::put_str(out, k.as_bytes());
            }
        }
        match &info.restored {
            Some(r) => {
                journal::put_u8(out, r.attempts.len() as u8);
                for a in &r.attempts {
                    put_addr(out, a.dest.parse().ok());
                    let gw = a.gateway.strip_prefix("gw").and_then(|g| g.parse().ok());
                    put_attempt(out, gw, a.start_ms, a.pdd_ms, a.code);
                }
            }
            None => {
                journal::put_u8(out, info.attempts.len() as u8);
                for a in &info.attempts {
                    put_addr(out, Some(a.dest));
                    let pdd = a
                        .first
                        .map(|f| f.saturating_duration_since(a.start).as_millis() as u64);
                    put_attempt(out, a.gateway, unix_ms(a.start), pdd, a.code);
                }
            }
        }
        ok && out.len() <= journal::MAX_USER
    }

    /// The call's details from a record's `user` blob (see
    /// [`Calls::encode_user`]), with the slots of the limits it names
    /// taken again (without refusing: the call is up already).
    fn decode_user(&self, rec: &CallRecord<'_>) -> Option<CallInfo> {
        let mut c = Cursor::new(rec.user);
        if c.u8()? != 1 {
            return None;
        }
        let local = c.u16()?;
        let source = get_addr(&mut c)?;
        let group = std::str::from_utf8(c.str()?).ok()?;
        let group = (!group.is_empty()).then(|| group.into());
        let users = c.str()?.into();
        let leg = u32::from(c.u8()?);
        let mut keys: [Vec<&str>; 2] = [Vec::new(), Vec::new()];
        for k in &mut keys {
            let n = c.u8()?;
            for _ in 0..n {
                k.push(std::str::from_utf8(c.str()?).ok()?);
            }
        }
        let n = c.u8()?;
        let mut attempts = Vec::with_capacity(usize::from(n).min(16));
        for _ in 0..n {
            let dest = get_addr(&mut c)?;
            let gateway = match c.u8()? {
                0 => None,
                _ => Some(c.u32()?),
            };
            let start_ms = c.i64()?;
            let pdd_ms = match c.u8()? {
                0 => None,
                _ => Some(c.u64()?),
            };
            let code = c.u16()?;
            let dest = dest.map(|d| d.to_string()).unwrap_or_default();
            attempts.push(Attempt {
                gateway: gateway.map_or_else(|| dest.clone(), |g| format!("gw{g}")),
                dest,
                start_ms,
                code,
                pdd_ms,
            });
        }
        let [caller, target] = keys;
        let force = |keys: &[&str]| {
            let limits = self.limits.as_ref()?;
            let h = limits.force(keys.iter().copied());
            (!h.is_empty()).then_some(h)
        };
        Some(CallInfo {
            users,
            source,
            group,
            attempts: Vec::new(),
            local,
            held: force(&caller),
            target_held: force(&target),
            journaled: true,
            restored: Some(Box::new(RestoredCdr {
                setup_ms: rec.invited_ms,
                answer_ms: rec.answered_ms,
                leg,
                attempts,
            })),
            rewrite: None,
        })
    }

    /// Journals call `r` as it is now (confirmed: once; refreshed: again).
    fn journal_call(&mut self, r: CallRef, unix_ms: UnixMs<'_>) {
        if self.journal.is_none() {
            return;
        }
        let Some(c) = self.table.call(r) else {
            return;
        };
        if c.is_over() {
            return;
        }
        let mut user = Vec::new();
        if !self.encode_user(c, &mut user, unix_ms) {
            self.counters.journal_skipped += 1;
            return;
        }
        let Some(rec) = c.record(unix_ms, &user) else {
            return;
        };
        let out = self.journal.as_mut().expect("on");
        if Record::Call(rec).encode(out) {
            self.counters.journaled += 1;
            if let Some(c) = self.table.call_mut(r) {
                c.user.journaled = true;
            }
        } else {
            self.counters.journal_skipped += 1;
        }
    }

    /// Whether in-dialog requests naming no dialog are answered.
    pub fn checks(&self) -> bool {
        self.settings.check
    }

    /// Calls held (ended ones lingering included).
    pub fn live(&self) -> usize {
        self.table.calls()
    }

    /// Whether a new call would not be tracked.
    pub fn is_full(&self) -> bool {
        self.table.is_full()
    }

    /// An initial INVITE forwarded statefully: its call, with the limit
    /// slots it holds (`held`, on `limits`) and the group it was routed
    /// in. `None` when it is not tracked (held already: a retransmission
    /// parked and let go; or the table is full): the slots are then given
    /// back here.
    #[allow(clippy::too_many_arguments)] // what a call starts with
    pub fn on_invite(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        sum: &Summary<'_>,
        src: SocketAddr,
        local: u16,
        group: Option<GroupName>,
        held: Option<Held>,
        max_duration: Option<Duration>,
    ) -> Option<CallRef> {
        if let Some(r) = self
            .table
            .find_call(sum.call_id, sum.from.tag().unwrap_or_default())
        {
            self.release_one(held);
            return Some(r);
        }
        let contact = first_contact(msg);
        let mut route = Vec::new();
        route_to_caller(msg, &mut route);
        let mut info = CallInfo {
            local,
            group: group.map(|g| g.as_str().into()),
            held,
            ..CallInfo::default()
        };
        if self.settings.cdr {
            let caller = user_of(sum.from.uri);
            let callee = msg.request_uri_bytes().map(user_of).unwrap_or_default();
            let mut users = Vec::with_capacity(2 * caller.len() + 2 * callee.len() + 3);
            users.extend_from_slice(caller);
            users.push(0);
            users.extend_from_slice(caller);
            users.push(0);
            users.extend_from_slice(callee);
            users.push(0);
            users.extend_from_slice(callee);
            info.users = users.into_boxed_slice();
            info.source = Some(src);
        }
        let inv = dialog::Invite {
            call_id: sum.call_id,
            from: sum_value(msg, trunkline_parser::HeaderName::From),
            from_tag: sum.from.tag().unwrap_or_default(),
            to: sum_value(msg, trunkline_parser::HeaderName::To),
            cseq: sum.cseq.seq,
            contact,
            route_to_caller: &route,
            max_duration,
        };
        match self.table.on_invite(now, &inv, info) {
            Ok(r) => {
                self.counters.started += 1;
                Some(r)
            }
            Err(info) => {
                self.counters.untracked += 1;
                self.release(&info);
                None
            }
        }
    }

    /// A target tried for call `r` (least-cost routing's gateway index, if
    /// any); `user` is the Request-URI user it was sent with; `held`:
    /// the slots the target's own limits gave it (the previous
    /// attempt's, if any, are given back).
    pub fn on_attempt(
        &mut self,
        now: Instant,
        r: CallRef,
        dest: SocketAddr,
        gateway: Option<(u32, u64)>,
        user: Option<&[u8]>,
        held: Option<Held>,
    ) {
        let cdr = self.settings.cdr;
        let quality = self.quality;
        let Some(c) = self.table.call_mut(r) else {
            return;
        };
        let info = &mut c.user;
        let old = std::mem::replace(&mut info.target_held, held);
        self.release_one(old);
        let Some(info) = self.table.call_mut(r).map(|c| &mut c.user) else {
            return;
        };
        if !cdr && !quality {
            return;
        }
        if let Some(user) = user.filter(|_| cdr) {
            let keep = info
                .users
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == 0)
                .nth(2)
                .map_or(0, |(i, _)| i + 1);
            let mut users = info.users[..keep].to_vec();
            users.extend_from_slice(user);
            info.users = users.into_boxed_slice();
        }
        if info.attempts.len() < 16 {
            // Most calls make one attempt: no spare capacity (a Vec's
            // first push reserves four).
            info.attempts.reserve_exact(1);
            info.attempts.push(AttemptInfo {
                dest,
                gateway: gateway.map(|(g, _)| g),
                name: None,
                key: gateway.map(|(_, k)| k),
                start: now,
                first: None,
                code: 0,
            });
        }
    }

    /// The From user call `r`'s INVITE was sent with (a header rule's
    /// `set_from_user`), for its CDR.
    pub fn set_caller_sent(&mut self, r: CallRef, user: &[u8]) {
        let Some(info) = self.table.call_mut(r).map(|c| &mut c.user) else {
            return;
        };
        let mut parts = info.users.split(|b| *b == 0);
        let caller = parts.next().unwrap_or_default();
        let _ = parts.next();
        let mut users = Vec::with_capacity(info.users.len() + user.len());
        users.extend_from_slice(caller);
        users.push(0);
        users.extend_from_slice(user);
        for p in parts {
            users.push(0);
            users.extend_from_slice(p);
        }
        info.users = users.into_boxed_slice();
    }

    /// Call `r`'s From/To identities as the caller sent them (`caller`)
    /// and as the callee got them (`callee`): a header rule rewrote them.
    pub fn set_rewrite(&mut self, r: CallRef, caller: Identities, callee: Identities) {
        if let Some(c) = self.table.call_mut(r) {
            c.user.rewrite = Some(Box::new((caller, callee)));
        }
    }

    /// The identities an in-dialog request of dialog `id` from side `from`
    /// is forwarded with, when a header rule rewrote the call's: the
    /// caller's requests get the callee's view, the callee's the caller's
    /// (its To is the caller's From, its From the callee's To).
    pub fn identities_for(&self, id: DialogId, from: Side) -> Option<Identities> {
        let (caller, callee) = self.table.call(id.call())?.user.rewrite.as_deref()?;
        Some(match from {
            Side::Caller => callee.clone(),
            Side::Callee => Identities {
                from: caller.to.clone(),
                to: caller.from.clone(),
            },
        })
    }

    /// Whether CDRs are built (what an attempt's gateway name is for).
    pub fn writes_cdrs(&self) -> bool {
        self.settings.cdr
    }

    /// Names the gateway of call `r`'s current attempt (its routing table
    /// id), for its CDR.
    pub fn name_attempt(&mut self, r: CallRef, name: Box<str>) {
        if let Some(a) = self
            .table
            .call_mut(r)
            .and_then(|c| c.user.attempts.last_mut())
        {
            a.name = Some(name);
        }
    }

    /// Gives back the limit slots call `r`'s current attempt holds (it
    /// failed; the next target is about to be admitted).
    pub fn release_attempt(&mut self, r: CallRef) {
        let held = self
            .table
            .call_mut(r)
            .and_then(|c| c.user.target_held.take());
        self.release_one(held);
    }

    /// A response of the current attempt of call `r` (for its CDR: PDD
    /// and code), relayed or not.
    pub fn on_attempt_response(&mut self, now: Instant, r: CallRef, code: u16) {
        let Some(a) = self
            .table
            .call_mut(r)
            .and_then(|c| c.user.attempts.last_mut())
        else {
            return;
        };
        if code > 100 && a.first.is_none() {
            a.first = Some(now);
        }
        if code >= 200 && a.code == 0 {
            a.code = code;
            let o = outcome(a);
            self.attempt_done(o);
        }
    }

    /// A finished attempt, for quality routing.
    fn attempt_done(&mut self, o: Option<Outcome>) {
        if let (true, Some(o)) = (self.quality, o) {
            self.quality_events.push(QualityEvent::Attempt(o));
        }
    }

    /// Quality routing's inputs (attempts done, answered calls ended),
    /// when `[routing.quality]` is on.
    pub fn set_quality(&mut self, on: bool) {
        self.quality = on;
    }

    /// Hands quality routing's pending inputs to `f`.
    pub fn drain_quality(&mut self, mut f: impl FnMut(QualityEvent)) {
        for e in self.quality_events.drain(..) {
            f(e);
        }
    }

    /// The current attempt of call `r` ended without a response (a
    /// timeout: `code` 408).
    pub fn on_attempt_failed(&mut self, r: CallRef, code: u16) {
        if let Some(a) = self
            .table
            .call_mut(r)
            .and_then(|c| c.user.attempts.last_mut())
            .filter(|a| a.code == 0)
        {
            a.code = code;
            let o = outcome(a);
            self.attempt_done(o);
        }
    }

    /// A provisional (other than 100) or 2xx response to call `r`'s
    /// INVITE, relayed upstream: early and confirmed dialogs.
    pub fn on_response(
        &mut self,
        now: Instant,
        r: CallRef,
        msg: &Message<'_>,
        sum: &Summary<'_>,
        code: u16,
        locals: &Locals,
    ) {
        if self.table.call(r).is_none() || !(101..300).contains(&code) {
            return;
        }
        let mut route = Vec::new();
        route_to_callee(msg, locals, &mut route);
        let rsp = dialog::Response {
            call_id: sum.call_id,
            from_tag: sum.from.tag().unwrap_or_default(),
            to: sum_value(msg, trunkline_parser::HeaderName::To),
            to_tag: sum.to.tag(),
            code,
            contact: first_contact(msg),
            route_to_callee: &route,
        };
        self.table.on_response(now, &rsp, &mut self.events);
    }

    /// The final non-2xx response sent upstream for call `r`.
    pub fn on_final(&mut self, now: Instant, r: CallRef, code: u16) {
        self.table.on_final(now, r, code, &mut self.events);
    }

    /// An in-dialog request (a To tag; not an ACK): which dialog it names.
    pub fn on_request(&mut self, now: Instant, msg: &Message<'_>, sum: &Summary<'_>) -> Match {
        let method = msg.method();
        let refresh = matches!(method, Some(Method::Invite | Method::Update));
        let q = dialog::Request {
            call_id: sum.call_id,
            from_tag: sum.from.tag().unwrap_or_default(),
            to_tag: sum.to.tag().unwrap_or_default(),
            bye: method == Some(Method::Bye),
            cseq: sum.cseq.seq,
            contact: if refresh { first_contact(msg) } else { b"" },
        };
        let m = self.table.on_request(now, &q, &mut self.events);
        if let (
            true,
            Some(_),
            Match::Dialog {
                id, ended: false, ..
            },
        ) = (refresh && !q.contact.is_empty(), &self.journal, m)
        {
            // Its record again, at the next settle (which has the clock).
            self.refreshed.push(id.call());
        }
        match m {
            Match::NoDialog => self.counters.no_dialog += 1,
            Match::OutOfOrder(_) => self.counters.out_of_order += 1,
            Match::Dialog { .. } => {}
        }
        m
    }

    /// When [`Calls::handle_timeout`] has work next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.table.next_deadline()
    }

    /// Runs the table's timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now, &mut self.events);
    }

    /// Acts on what the table reported: counts, the dialogs whose BYEs
    /// we send, CDRs, limit slots given back. `unix_ms` converts the
    /// table's instants to wall-clock time.
    pub fn settle(&mut self, now: Instant, unix_ms: UnixMs<'_>) {
        let mut i = 0;
        while i < self.events.len() {
            let ev = self.events[i];
            i += 1;
            match ev {
                Event::Early(_) => {}
                Event::Confirmed(id) => {
                    self.counters.answered += 1;
                    let first = self
                        .table
                        .call(id.call())
                        .is_some_and(|c| !c.user.journaled);
                    if first {
                        self.journal_call(id.call(), unix_ms);
                    }
                }
                Event::Ended(id, Ended::MaxDuration) => {
                    self.counters.max_duration += 1;
                    self.byes.push_back(id);
                }
                Event::Ended(..) => {}
                Event::CallEnded(r) => {
                    self.counters.ended += 1;
                    self.call_ended(now, r, unix_ms);
                }
            }
        }
        self.events.clear();
        while let Some(r) = self.refreshed.pop() {
            if self.table.call(r).is_some_and(|c| c.user.journaled) {
                self.journal_call(r, unix_ms);
            }
        }
    }

    fn call_ended(&mut self, now: Instant, r: CallRef, unix_ms: UnixMs<'_>) {
        let cdr_on = self.settings.cdr;
        let Some(c) = self.table.call_mut(r) else {
            return;
        };
        let info = std::mem::take(&mut c.user);
        let c = self.table.call(r).expect("held");
        if let (true, Some(out)) = (info.journaled, self.journal.as_mut()) {
            let end = Record::End {
                call_id: c.call_id(),
                from_tag: c.from_tag(),
            };
            if end.encode(out) {
                self.counters.journaled += 1;
            }
        }
        if cdr_on {
            let cdr = build_cdr(c, &info, now, unix_ms);
            self.counters.cdrs += 1;
            self.cdrs.push_back(cdr);
        }
        if self.quality {
            // The answered dialog's duration, for its gateway's ACD.
            let answered = c.dialogs.iter().find_map(|d| Some((d.answered?, d.ended)));
            let gateway = info
                .attempts
                .iter()
                .rev()
                .find(|a| (200..300).contains(&a.code));
            if let (Some((a, ended)), Some(g)) = (answered, gateway.and_then(|g| g.key)) {
                let d = ended.unwrap_or(now).saturating_duration_since(a);
                self.quality_events.push(QualityEvent::CallEnded(g, d));
            }
        }
        self.release(&info);
    }

    /// Gives back the limit slots a call held.
    fn release(&self, info: &CallInfo) {
        self.release_one(info.held);
        self.release_one(info.target_held);
    }

    fn release_one(&self, held: Option<Held>) {
        if let (Some(h), Some(limits)) = (held, self.limits.as_ref()) {
            limits.release(h);
        }
    }

    /// The next CDR for the sinks.
    pub fn poll_cdr(&mut self) -> Option<Cdr> {
        self.cdrs.pop_front()
    }

    /// The next dialog whose BYEs we send.
    pub fn poll_bye(&mut self) -> Option<DialogId> {
        self.byes.pop_front()
    }

    /// Where the BYE we send to side `to` of dialog `id` goes (§12.2.1.1:
    /// the first Route's address, else the remote target's) and the
    /// listener the call came in on; `None` when the dialog is gone or
    /// the address is not an IP (counted).
    pub fn bye_dest(&mut self, id: DialogId, to: Side) -> Option<(SocketAddr, u16)> {
        let (c, d) = self.table.get(id)?;
        let (target, route) = match to {
            Side::Callee => (d.callee_contact(), d.route_to_callee()),
            Side::Caller => (c.caller_contact(), c.route_to_caller()),
        };
        let first_hop = if route.is_empty() {
            target
        } else {
            NameAddr::parse(first_value(route)).map_or(&b""[..], |n| n.uri)
        };
        match uri_addr(first_hop) {
            Some(dest) => Some((dest, c.user.local)),
            None => {
                self.counters.byes_unroutable += 1;
                None
            }
        }
    }

    /// A branch for a BYE of ours: unique on this shard (a counter under
    /// the table's seed), with the RFC 3261 magic cookie.
    pub fn bye_branch(&mut self) -> ByeBranch {
        self.bye_seq += 1;
        let mut b = ByeBranch {
            buf: [0; 48],
            len: 0,
        };
        let mut w = &mut b.buf[..];
        let _ = write!(w, "z9hG4bK-bye-{:x}-{:x}", self.bye_salt, self.bye_seq);
        b.len = 48 - w.len();
        b
    }

    /// Writes the BYE we send to side `to` of dialog `id` into `buf`
    /// (§15.1.1, §12.2.1.1): its remote target as Request-URI, its route
    /// set as Route, the dialog's tags, the next CSeq of the side we speak
    /// for, our Via (`host_port`, `branch`). `false` if the dialog is gone.
    pub fn write_bye(
        &mut self,
        id: DialogId,
        to: Side,
        host_port: &[u8],
        branch: &[u8],
        buf: &mut Vec<u8>,
    ) -> bool {
        let Some((c, d)) = self.table.get(id) else {
            return false;
        };
        let (target, route, from, to_value, cseq) = match to {
            Side::Callee => (
                d.callee_contact(),
                d.route_to_callee(),
                c.from(),
                d.to(),
                c.caller_cseq.wrapping_add(1),
            ),
            Side::Caller => (
                c.caller_contact(),
                c.route_to_caller(),
                d.to(),
                c.from(),
                d.callee_cseq.wrapping_add(1).max(1),
            ),
        };
        buf.clear();
        buf.extend_from_slice(b"BYE ");
        buf.extend_from_slice(target);
        buf.extend_from_slice(b" SIP/2.0\r\nVia: SIP/2.0/UDP ");
        buf.extend_from_slice(host_port);
        buf.extend_from_slice(b";branch=");
        buf.extend_from_slice(branch);
        buf.extend_from_slice(b"\r\nMax-Forwards: 70\r\n");
        if !route.is_empty() {
            buf.extend_from_slice(b"Route: ");
            buf.extend_from_slice(route);
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b"From: ");
        buf.extend_from_slice(from);
        buf.extend_from_slice(b"\r\nTo: ");
        buf.extend_from_slice(to_value);
        buf.extend_from_slice(b"\r\nCall-ID: ");
        buf.extend_from_slice(c.call_id());
        let _ = write!(
            buf,
            "\r\nCSeq: {cseq} BYE\r\nReason: SIP;cause=200;text=\"max-duration\"\r\nContent-Length: 0\r\n\r\n"
        );
        self.counters.byes_sent += 1;
        true
    }
}

/// The call's record, from the table's times and the details kept.
fn build_cdr(
    c: &dialog::Call<CallInfo>,
    info: &CallInfo,
    now: Instant,
    unix_ms: UnixMs<'_>,
) -> Cdr {
    let mut users = info.users.split(|b| *b == 0);
    let mut next = || String::from_utf8_lossy(users.next().unwrap_or_default()).into_owned();
    let (caller, caller_sent, callee, callee_sent) = (next(), next(), next(), next());
    // The answered dialog, else the first.
    let (leg, d) = c
        .dialogs
        .iter()
        .enumerate()
        .find(|(_, d)| d.answered.is_some())
        .or_else(|| c.dialogs.iter().enumerate().next())
        .map_or((0, None), |(i, d)| (i as u32, Some(d)));
    let answered = d.and_then(|d| d.answered);
    let ended = d.and_then(|d| d.ended).unwrap_or(now);
    let why = d.and_then(|d| match d.state {
        dialog::State::Terminated(e) => Some(e),
        _ => None,
    });
    let code = c.final_code.unwrap_or(0);
    let (hangup, cause) = match (why, code) {
        (Some(Ended::CallerBye), _) => (Hangup::Caller, "normal"),
        (Some(Ended::CalleeBye), _) => (Hangup::Callee, "normal"),
        (Some(Ended::MaxDuration), _) => (Hangup::Router, "max-duration"),
        (Some(Ended::SetupTimeout), _) | (None, 408) if answered.is_none() => {
            (Hangup::Router, "setup-timeout")
        }
        (_, 487) => (Hangup::Caller, "cancelled"),
        (_, 480 | 408) => (Hangup::Callee, "no-answer"),
        (_, 486 | 600) => (Hangup::Callee, "busy"),
        (_, 300..=699) => (Hangup::Callee, "rejected"),
        _ => (Hangup::Router, "other"),
    };
    let duration_ms = answered.map_or(0, |a| ended.saturating_duration_since(a).as_millis() as u64);
    let mut cdr = Cdr {
        call_id: String::from_utf8_lossy(c.call_id()).into_owned(),
        leg,
        caller_sent,
        caller,
        callee,
        callee_sent,
        source: info.source.map(addr_string).unwrap_or_default(),
        group: info.group.as_deref().map(str::to_string),
        attempts: info
            .attempts
            .iter()
            .map(|a| {
                let dest = addr_string(a.dest);
                let gateway = match (&a.name, a.gateway) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(g)) => format!("gw{g}"),
                    (None, None) => dest.clone(),
                };
                Attempt {
                    gateway,
                    dest,
                    start_ms: unix_ms(a.start),
                    code: a.code,
                    pdd_ms: a
                        .first
                        .map(|f| f.saturating_duration_since(a.start).as_millis() as u64),
                }
            })
            .collect(),
        setup_ms: unix_ms(c.invited),
        answer_ms: answered.map(unix_ms),
        end_ms: unix_ms(ended),
        duration_ms,
        hangup,
        cause: cause.to_string(),
        sip_code: if answered.is_some() { 200 } else { code },
    };
    if let Some(r) = &info.restored {
        // Taken back from the journal: the earlier process's times (its
        // instants do not map onto ours exactly, or at all before boot).
        cdr.leg = r.leg;
        cdr.setup_ms = r.setup_ms;
        cdr.answer_ms = Some(r.answer_ms);
        cdr.duration_ms = cdr.end_ms.saturating_sub(r.answer_ms).max(0) as u64;
        cdr.attempts = r.attempts.clone();
    }
    cdr
}

/// Appends an address to a `user` blob: u8 0 (none), 4 or 6, the IP's
/// bytes, u16 port.
fn put_addr(out: &mut Vec<u8>, a: Option<SocketAddr>) {
    match a {
        None => journal::put_u8(out, 0),
        Some(SocketAddr::V4(a)) => {
            journal::put_u8(out, 4);
            out.extend_from_slice(&a.ip().octets());
            journal::put_u16(out, a.port());
        }
        Some(SocketAddr::V6(a)) => {
            journal::put_u8(out, 6);
            out.extend_from_slice(&a.ip().octets());
            journal::put_u16(out, a.port());
        }
    }
}

/// An address of a `user` blob (see [`put_addr`]): `Some(None)` when it
/// says none; `None` when the blob does not parse.
fn get_addr(c: &mut Cursor<'_>) -> Option<Option<SocketAddr>> {
    let ip: std::net::IpAddr = match c.u8()? {
        0 => return Some(None),
        4 => <[u8; 4]>::try_from(c.take(4)?).ok()?.into(),
        6 => <[u8; 16]>::try_from(c.take(16)?).ok()?.into(),
        _ => return None,
    };
    Some(Some(SocketAddr::new(ip, c.u16()?)))
}

/// Appends an attempt's gateway, start, post-dial delay and code.
fn put_attempt(out: &mut Vec<u8>, gw: Option<u32>, start_ms: i64, pdd: Option<u64>, code: u16) {
    journal::put_u8(out, u8::from(gw.is_some()));
    if let Some(g) = gw {
        journal::put_u32(out, g);
    }
    journal::put_i64(out, start_ms);
    journal::put_u8(out, u8::from(pdd.is_some()));
    if let Some(p) = pdd {
        journal::put_u64(out, p);
    }
    journal::put_u16(out, code);
}

/// A finished attempt's outcome for quality routing (`None`: not a
/// gateway of the routing table).
fn outcome(a: &AttemptInfo) -> Option<Outcome> {
    Some(Outcome {
        gateway: a.key?,
        code: a.code,
        pdd: a.first.map(|f| f.saturating_duration_since(a.start)),
        dest: a.dest,
    })
}

/// `ip:port` (`[ip]:port` for IPv6) as a string: IPv4 written digit by
/// digit (the formatting machinery costs ~1,700 instructions an address,
/// a third of a CDR's cost on the shard).
fn addr_string(a: SocketAddr) -> String {
    let SocketAddr::V4(v4) = a else {
        return a.to_string();
    };
    let mut s = String::with_capacity(21);
    let mut b = itoa::Buffer::new();
    for (i, o) in v4.ip().octets().iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(b.format(*o));
    }
    s.push(':');
    s.push_str(b.format(v4.port()));
    s
}

/// The user part of a SIP URI (or a `tel:` number); empty if none.
fn user_of(uri: &[u8]) -> &[u8] {
    match Uri::parse(uri) {
        Ok(u) => match u.as_sip() {
            Some(s) => s.user.unwrap_or_default(),
            None => uri
                .iter()
                .position(|b| *b == b':')
                .map_or(&b""[..], |i| &uri[i + 1..]),
        },
        Err(_) => b"",
    }
}

/// The value of the first header `kind`, or empty.
fn sum_value<'a>(msg: &Message<'a>, kind: trunkline_parser::HeaderName) -> &'a [u8] {
    msg.header_value(kind).unwrap_or_default()
}

/// The first Contact's URI, or empty.
fn first_contact<'a>(msg: &Message<'a>) -> &'a [u8] {
    match msg.contacts().next() {
        Some(Ok(trunkline_parser::Contact::Addr(n))) => n.uri,
        _ => b"",
    }
}

/// The first comma-separated value of a Route value we wrote.
fn first_value(route: &[u8]) -> &[u8] {
    // Our route values are `<uri>params` joined by ", ": a URI in angle
    // brackets holds no unquoted comma before its `>`.
    let end = route
        .iter()
        .position(|b| *b == b'>')
        .map_or(route.len(), |i| i + 1);
    &route[..end]
}

/// A name-addr written back as `<uri>params`.
fn push_value(out: &mut Vec<u8>, n: &NameAddr<'_>) {
    if !out.is_empty() {
        out.extend_from_slice(b", ");
    }
    out.push(b'<');
    out.extend_from_slice(n.uri);
    out.push(b'>');
    out.extend_from_slice(n.params);
}

/// The route set from us toward the caller: the INVITE's Record-Route
/// values as received (the proxies between the caller and us, nearest
/// first), §12.1.1 seen from our place in the path.
fn route_to_caller(msg: &Message<'_>, out: &mut Vec<u8>) {
    for n in msg.record_routes().map_while(Result::ok) {
        push_value(out, &n);
    }
}

/// The route set from us toward the callee: the response's Record-Route
/// values above ours (the proxies between us and the callee), reversed so
/// that the nearest comes first.
fn route_to_callee(msg: &Message<'_>, locals: &Locals, out: &mut Vec<u8>) {
    let mut above: [Option<NameAddr<'_>>; 8] = [None; 8];
    let mut n = 0;
    for v in msg.record_routes().map_while(Result::ok) {
        let ours = v
            .uri()
            .ok()
            .and_then(|u| u.as_sip().map(|s| locals.is_me(s)))
            .unwrap_or(false);
        if ours {
            break;
        }
        if n < above.len() {
            above[n] = Some(v);
            n += 1;
        }
    }
    for v in above[..n].iter().rev().flatten() {
        push_value(out, v);
    }
}

/// The address of a SIP URI with an IP host (port 5060 by default).
fn uri_addr(uri: &[u8]) -> Option<SocketAddr> {
    let u = Uri::parse(uri).ok()?;
    let s = u.as_sip()?;
    Some(SocketAddr::new(s.host.ip()?, s.port.unwrap_or(5060)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_values() {
        assert_eq!(first_value(b"<sip:a;lr>, <sip:b;lr>"), b"<sip:a;lr>");
        assert_eq!(
            uri_addr(b"sip:bob@192.0.2.1:5070"),
            Some("192.0.2.1:5070".parse().unwrap())
        );
        assert_eq!(uri_addr(b"sip:bob@example.com"), None);
        assert_eq!(user_of(b"sip:+4930123@gw"), b"+4930123");
        assert_eq!(user_of(b"tel:+4930123"), b"+4930123");
        for a in [
            "192.0.2.1:5060",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[2001:db8::1]:5070",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(addr_string(addr), a);
        }
    }
}
