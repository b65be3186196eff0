//! Least-cost routing with serial failover (issue 5): where an initial
//! INVITE goes when a routing table is configured.
//!
//! A [`TargetSource`] (the snapshot-backed router) turns the dialled number
//! and the caller's address into an ordered list of [`Target`]s. The proxy
//! core forwards to the first; when that branch fails with one of the
//! [`FailoverCodes`] (default 408 and 5xx) or times out, it tries the next,
//! and so on (serial forking, RFC 3261 §16.6 with one branch at a time).
//! A 6xx, any other final response, or a CANCEL from the caller ends the
//! search; when every target failed the caller gets the best final
//! response (§16.7 step 6).
//!
//! The Request-URI of each copy is rewritten to `sip:USER@GATEWAY`: the
//! number as the target wants it (digits stripped or prefixed) at the
//! gateway's address, keeping the original URI parameters.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use trunkline_parser::{Edits, Message, Span, Uri, ValidateOptions, validate_with};
use trunkline_shards::tx::TxId;

use super::{In, State, UserRef, route};
use trunkline_parser::Method;

/// The longest Request-URI user part a target can carry (E.164 numbers
/// have at most 15 digits; prefixes and technical prefixes fit easily).
pub const MAX_TARGET_USER: usize = 48;

/// The most targets one call tries (a branch index is 7 bits).
pub const MAX_TARGETS: usize = 32;

/// One next hop of a routed call: a gateway and the user part to send it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Where the copy goes.
    pub dest: SocketAddr,
    /// The gateway's index in the routing table (for counters).
    pub gateway: u32,
    /// What the gateway's caps are counted under: the same for all its
    /// addresses, and across table swaps (indexes change, calls in
    /// progress do not). By default a hash of `dest`.
    pub cap_key: u64,
    /// The gateway's calls-per-second cap across the router (0: none).
    pub cps_limit: u32,
    /// The gateway's cap on calls at once across the router (0: none).
    pub concurrent_limit: u32,
    user: [u8; MAX_TARGET_USER],
    user_len: u8,
    /// Send the Request-URI as it is (an address of a next hop given by
    /// name), not rewritten to `user@dest`.
    keep_uri: bool,
}

impl Target {
    /// A target sending `user` to `dest`; `None` if `user` is longer than
    /// [`MAX_TARGET_USER`].
    pub fn new(dest: SocketAddr, gateway: u32, user: &[u8]) -> Option<Target> {
        if user.len() > MAX_TARGET_USER {
            return None;
        }
        let mut t = Target {
            dest,
            gateway,
            cap_key: address_key(&dest),
            cps_limit: 0,
            concurrent_limit: 0,
            user: [0; MAX_TARGET_USER],
            user_len: user.len() as u8,
            keep_uri: false,
        };
        t.user[..user.len()].copy_from_slice(user);
        Some(t)
    }

    /// A target that sends the request to `dest` with its Request-URI
    /// unchanged: one of the addresses of a next hop given by host name
    /// (RFC 3263 §4.3: tried in turn).
    pub fn address(dest: SocketAddr) -> Target {
        let mut t = Target::new(dest, u32::MAX, b"").expect("empty user fits");
        t.keep_uri = true;
        t
    }

    /// Whether the Request-URI goes out unchanged ([`Target::address`]).
    pub fn keeps_request_uri(&self) -> bool {
        self.keep_uri
    }

    /// The Request-URI user part for this target.
    pub fn user(&self) -> &[u8] {
        &self.user[..self.user_len as usize]
    }

    /// The same target with its caps counted under `key` (shared by the
    /// targets of one gateway).
    pub fn with_cap_key(mut self, key: u64) -> Target {
        self.cap_key = key;
        self
    }

    /// The same target with a calls-per-second cap (0: none).
    pub fn with_cps_limit(mut self, cps: u32) -> Target {
        self.cps_limit = cps;
        self
    }

    /// The same target with a cap on calls at once (0: none).
    pub fn with_concurrent_limit(mut self, calls: u32) -> Target {
        self.concurrent_limit = calls;
        self
    }
}

/// The default [`Target::cap_key`]: caps per address.
fn address_key(dest: &SocketAddr) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6164_6472_6573_7321).hash_one(dest)
}

/// How long an answered call holds its gateway's slot when no BYE is seen
/// (lost, or sent on a path that avoids us): the default of Kamailio's
/// dialog module (`default_timeout`, 12 h).
pub const DIALOG_MAX: Duration = Duration::from_secs(12 * 3600);

/// Calls at once per gateway on one shard, for the concurrent-call caps:
/// attempts in progress (held by their branch) and answered calls (held
/// by their dialog, keyed by a hash of the Call-ID, until a BYE). A
/// gateway is known by its [`Target::cap_key`], as for the CPS caps.
#[derive(Debug)]
pub(super) struct CallSlots {
    /// Slots taken, by gateway cap key.
    pub(super) active: HashMap<u64, u32, foldhash::fast::FixedState>,
    /// Answered calls: Call-ID hash -> (gateway cap key, when to give up on a BYE).
    pub(super) dialogs: HashMap<u64, (u64, Instant), foldhash::fast::FixedState>,
    pub(super) next_sweep: Instant,
    hasher: foldhash::fast::FixedState,
}

impl CallSlots {
    pub(super) fn new(seed: u64) -> CallSlots {
        CallSlots {
            active: HashMap::default(),
            dialogs: HashMap::default(),
            next_sweep: Instant::now(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
        }
    }

    fn key(&self, call_id: &[u8]) -> u64 {
        self.hasher.hash_one(call_id)
    }

    fn put_back(&mut self, gateway: u64) {
        if let Some(n) = self.active.get_mut(&gateway) {
            *n = n.saturating_sub(1);
        }
    }
}

/// A gateway's CPS budget on one shard: a token bucket refilled at the
/// shard's share of the cap (calls spread over shards by Call-ID, so the
/// shares add up to the cap), holding at most one second's worth (and
/// at least one call).
#[derive(Clone, Copy, Debug)]
pub(super) struct CpsBucket {
    tokens: f64,
    last: Instant,
}

impl CpsBucket {
    fn new(now: Instant, rate: f64) -> CpsBucket {
        CpsBucket {
            tokens: rate.max(1.0),
            last: now,
        }
    }

    /// Takes one call's token if there is one.
    fn admit(&mut self, now: Instant, rate: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("dest", &self.dest)
            .field("gateway", &self.gateway)
            .field("cps_limit", &self.cps_limit)
            .field("concurrent_limit", &self.concurrent_limit)
            .field("user", &String::from_utf8_lossy(self.user()))
            .finish()
    }
}

/// What a routing decision is made on.
#[derive(Clone, Copy, Debug)]
pub struct LcrRequest<'a> {
    /// The dialled number: the Request-URI user part (SIP) or number (tel).
    pub number: &'a [u8],
    /// Where the INVITE came from (source ACL → routing group).
    pub source: IpAddr,
}

/// Why a call has no target: the response the caller gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoute {
    /// Status code (404 when no rule matches, unless configured otherwise).
    pub code: u16,
    /// Reason phrase.
    pub reason: &'static [u8],
}

/// Chooses the ordered next hops of an initial INVITE. Implementations
/// must be cheap and lock-free: they run on every shard for every call.
pub trait TargetSource: fmt::Debug + Send + Sync {
    /// Fills `out` (cleared by the caller) with at most [`MAX_TARGETS`]
    /// targets, most preferred first.
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute>;

    /// Appends the gateways to probe with OPTIONS (see [`super::probe`]);
    /// called once per probing round. None by default.
    fn probed(&self, out: &mut Vec<SocketAddr>) {
        let _ = out;
    }
}

/// The final responses that move a call to its next target.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FailoverCodes {
    /// Bit `c - 300` for each code `c` in 300..=599.
    bits: [u64; 5],
}

impl Default for FailoverCodes {
    /// 408 and every 5xx.
    fn default() -> Self {
        let mut f = FailoverCodes::none();
        f.insert(408);
        for c in 500..=599 {
            f.insert(c);
        }
        f
    }
}

impl fmt::Debug for FailoverCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries((300..600).filter(|&c| self.contains(c)))
            .finish()
    }
}

/// An entry of a failover list that is not a 3xx-5xx code or class.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a failover code: give a status 300-599 (`503`) or a class (`5xx`); a 6xx always ends the search (RFC 3261 §16.7)"
)]
pub struct BadFailoverCode(pub String);

impl FailoverCodes {
    /// No code fails over (only timeouts... which are 408: also none).
    pub fn none() -> FailoverCodes {
        FailoverCodes { bits: [0; 5] }
    }

    /// Adds `code` (300..=599; others are ignored).
    pub fn insert(&mut self, code: u16) {
        if (300..600).contains(&code) {
            let i = (code - 300) as usize;
            self.bits[i / 64] |= 1 << (i % 64);
        }
    }

    /// Whether a final response `code` (or a timeout, 408) fails over.
    pub fn contains(&self, code: u16) -> bool {
        (300..600).contains(&code) && {
            let i = (code - 300) as usize;
            self.bits[i / 64] & (1 << (i % 64)) != 0
        }
    }

    /// Parses a list such as `["408", "5xx", "603"]`: codes 300-599 and
    /// classes `3xx`-`5xx`.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, BadFailoverCode> {
        let mut f = FailoverCodes::none();
        for item in items {
            let bad = || BadFailoverCode(item.to_string());
            let t = item.trim();
            match t.as_bytes() {
                [c @ b'3'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                    let base = (c - b'0') as u16 * 100;
                    for code in base..base + 100 {
                        f.insert(code);
                    }
                }
                _ => {
                    let code: u16 = t.parse().map_err(|_| bad())?;
                    if !(300..600).contains(&code) {
                        return Err(bad());
                    }
                    f.insert(code);
                }
            }
        }
        Ok(f)
    }
}

/// The number an INVITE dials: the Request-URI user part up to any `;`
/// (SIP, SIPS) or the tel number (RFC 3966); `None` without one.
pub fn dialled_number<'a>(msg: &Message<'a>) -> Option<&'a [u8]> {
    match msg.request_uri()?.ok()? {
        Uri::Sip(u) => {
            let user = u.user?;
            let end = user.iter().position(|&b| b == b';').unwrap_or(user.len());
            Some(&user[..end]).filter(|n| !n.is_empty())
        }
        Uri::Tel(t) => Some(t.number).filter(|n| !n.is_empty()),
        _ => None,
    }
}

/// Rewrites the Request-URI of the copy for `target`: `sip:USER@DEST`,
/// keeping the scheme and URI parameters of a SIP URI (a tel URI becomes
/// `sip:USER@DEST;user=phone`). `scratch` is a reusable buffer.
pub(super) fn rewrite_request_uri(
    msg: &Message<'_>,
    target: &Target,
    e: &mut Edits,
    scratch: &mut Vec<u8>,
) {
    use std::io::Write;
    let (Some(span), Some(Ok(uri))) = (msg.request_uri_span(), msg.request_uri()) else {
        return;
    };
    scratch.clear();
    let replaced = match uri {
        Uri::Sip(u) => {
            let start = match u.user {
                Some(user) => msg.span_of(user).start,
                None => msg.span_of(u.host.text).start,
            };
            let end = msg.span_of(u.params).start;
            Span::new(start as usize, end as usize)
        }
        _ => {
            scratch.extend_from_slice(b"sip:");
            span
        }
    };
    scratch.extend_from_slice(target.user());
    let _ = write!(scratch, "@{}", target.dest);
    if !matches!(uri, Uri::Sip(_)) {
        scratch.extend_from_slice(b";user=phone");
    }
    let piece = e.scratch(scratch);
    e.replace(replaced, piece);
}

impl State {
    /// Routes an initial INVITE by the routing table and forwards it to
    /// its first target (§16.6, serial forking).
    pub(super) fn forward_lcr(
        &mut self,
        now: Instant,
        inp: &In<'_, '_>,
        server: TxId,
        source: &dyn TargetSource,
    ) {
        let Some(number) = dialled_number(inp.msg) else {
            self.counters.lcr_no_route += 1;
            self.reply(now, inp, Some(server), 404, b"No Number To Route", &[]);
            return;
        };
        let mut targets = std::mem::take(&mut self.targets);
        targets.clear();
        let req = LcrRequest {
            number,
            source: inp.src.ip(),
        };
        if let Err(no) = source.targets(&req, &mut targets) {
            self.counters.lcr_no_route += 1;
            self.targets = targets;
            self.reply(now, inp, Some(server), no.code, no.reason, &[]);
            return;
        }
        targets.truncate(MAX_TARGETS);
        self.counters.lcr_routed += 1;
        if targets.is_empty() {
            self.targets = targets;
            self.reply(now, inp, Some(server), 404, b"No Route", &[]);
            return;
        }
        // No target could be sent to (all loops or unwritable): 503.
        self.start_serial(now, inp, server, targets, b"No Gateway Available");
    }

    /// Starts the serial search of `targets` for `inp` (a new response
    /// context for `server`, the targets moved into it, the first that
    /// can be sent to tried); when none can, answers 503 `reason`.
    /// `targets` goes back to the scratch it came from.
    fn start_serial(
        &mut self,
        now: Instant,
        inp: &In<'_, '_>,
        server: TxId,
        mut targets: Vec<Target>,
        reason: &[u8],
    ) {
        let UserRef {
            slot, generation, ..
        } = self.new_ctx(server, inp.msg);
        let ctx = &mut self.ctxs[slot as usize];
        std::mem::swap(&mut ctx.targets, &mut targets);
        ctx.src = Some(inp.src);
        ctx.local = inp.local;
        self.targets = targets;
        if !self.next_target(now, slot, generation, Some(inp)) {
            let ctx = self.ctx_mut(slot, generation).expect("live");
            ctx.final_sent = true;
            self.local_final(now, slot, generation, server, 503, reason);
        }
    }

    /// Forwards an INVITE whose next hop is a host name with several
    /// addresses: to the first, then, on 503 or a timeout, to the next
    /// (RFC 3263 §4.3), through the same serial search as least-cost
    /// routing (its counters apart).
    pub(super) fn forward_to_addresses(
        &mut self,
        now: Instant,
        inp: &In<'_, '_>,
        server: TxId,
        addrs: &[SocketAddr],
    ) {
        let mut targets = std::mem::take(&mut self.targets);
        targets.clear();
        targets.extend(addrs.iter().take(MAX_TARGETS).map(|&a| Target::address(a)));
        let (_, reason) = route::RouteError::NoListener.response();
        self.start_serial(now, inp, server, targets, reason);
    }

    /// Whether a branch's final `code` (408: it timed out) moves the
    /// context to its next target: the configured failover codes for
    /// least-cost routing, 503 and timeouts for a name's addresses (RFC
    /// 3263 §4.3).
    pub(super) fn fails_over_on(&self, slot: u32, code: u16) -> bool {
        let by_name = self.ctxs[slot as usize]
            .targets
            .first()
            .is_some_and(|t| t.keep_uri);
        if by_name {
            code == 503 || code == 408
        } else {
            self.cfg.failover.contains(code)
        }
    }

    /// After a branch failed with a failover code or timed out: tries the
    /// context's next target if the search may go on. Returns whether a
    /// new branch started.
    pub(super) fn fail_over(&mut self, now: Instant, slot: u32, generation: u32) -> bool {
        let Some(ctx) = self.ctx_mut(slot, generation) else {
            return false;
        };
        let go_on = !ctx.final_sent
            && !ctx.cancelled
            && ctx.next_target < ctx.targets.len()
            && ctx.branches.iter().all(|b| b.done);
        go_on && self.next_target(now, slot, generation, None)
    }

    /// Starts a branch to the next target that can be sent to, from the
    /// request in `inp` or, on failover, the copy kept in the context.
    fn next_target(
        &mut self,
        now: Instant,
        slot: u32,
        generation: u32,
        inp: Option<&In<'_, '_>>,
    ) -> bool {
        if let Some(inp) = inp {
            return self.start_targets(now, slot, generation, inp);
        }
        let Some(ctx) = self.ctx_mut(slot, generation) else {
            return false;
        };
        let (Some(src), local) = (ctx.src, ctx.local) else {
            return false;
        };
        let request = std::mem::take(&mut ctx.request);
        let mut parser = std::mem::take(&mut self.scratch_parser);
        let started = match parser.parse(&request) {
            Ok(msg) => match &validate_with(&msg, &ValidateOptions::PROXY) {
                Ok(sum) => {
                    let inp = In {
                        msg: &msg,
                        sum,
                        src,
                        local,
                    };
                    self.start_targets(now, slot, generation, &inp)
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
        self.scratch_parser = parser;
        match self.ctx_mut(slot, generation) {
            Some(ctx) => ctx.request = request,
            None => self.tx.give_buf(request),
        }
        started
    }

    /// Tries the remaining targets in order until one branch starts.
    fn start_targets(
        &mut self,
        now: Instant,
        slot: u32,
        generation: u32,
        inp: &In<'_, '_>,
    ) -> bool {
        loop {
            let Some(ctx) = self.ctx_mut(slot, generation) else {
                return false;
            };
            let Some(&target) = ctx.targets.get(ctx.next_target) else {
                return false;
            };
            ctx.next_target += 1;
            let b = ctx.branches.len();
            if self.prober.is_down(&target.dest) {
                self.counters.lcr_down_skipped += 1;
                continue;
            }
            // A gateway of an address family we have no listener for
            // could not be sent to: the attempt would only time out.
            if self.cfg.locals.egress(inp.local, target.dest).is_none() {
                self.counters.lcr_family_skipped += 1;
                continue;
            }
            if !self.cps_admits(now, &target) || !self.concurrency_admits(&target) {
                self.counters.lcr_capped += 1;
                continue;
            }
            if self.start_target_branch(now, slot, generation, inp, &target, b) {
                if target.concurrent_limit != 0 {
                    // This attempt holds one of the gateway's call slots
                    // until it fails, or, answered, until its dialog ends.
                    *self.calls.active.entry(target.cap_key).or_default() += 1;
                    if let Some(br) = self.ctxs[slot as usize].branches.get_mut(b) {
                        br.holds = Some(target.cap_key);
                    }
                }
                if b > 0 {
                    if target.keep_uri {
                        self.counters.names_failovers += 1;
                    } else {
                        self.counters.lcr_failovers += 1;
                    }
                }
                return true;
            }
        }
    }

    /// Whether `target`'s gateway is under its CPS cap (taking a token).
    fn cps_admits(&mut self, now: Instant, target: &Target) -> bool {
        if target.cps_limit == 0 {
            return true;
        }
        let rate = target.cps_limit as f64 / self.cfg.shards.max(1) as f64;
        self.cps
            .entry(target.cap_key)
            .or_insert_with(|| CpsBucket::new(now, rate))
            .admit(now, rate)
    }

    /// Whether `target`'s gateway has a call slot free on this shard: its
    /// cap is split over the shards like the CPS cap (calls spread by
    /// Call-ID), the remainder to the lowest shards, so the shares add up
    /// to the cap and never exceed it.
    fn concurrency_admits(&self, target: &Target) -> bool {
        let cap = target.concurrent_limit;
        if cap == 0 {
            return true;
        }
        let shards = u32::from(self.cfg.shards.max(1));
        let share = cap / shards + u32::from(u32::from(self.shard) < cap % shards);
        self.calls.active.get(&target.cap_key).copied().unwrap_or(0) < share
    }

    /// Gives back the call slot a branch holds (its attempt failed or
    /// its context ended), once.
    pub(super) fn release_slot(&mut self, slot: u32, b: usize) {
        let gateway = self.ctxs[slot as usize]
            .branches
            .get_mut(b)
            .and_then(|br| br.holds.take());
        if let Some(g) = gateway {
            self.calls.put_back(g);
        }
    }

    /// A branch holding a call slot was answered with a 2xx: the slot now
    /// belongs to the dialog (by Call-ID) until a BYE or [`DIALOG_MAX`].
    pub(super) fn slot_to_dialog(&mut self, now: Instant, slot: u32, b: usize, call_id: &[u8]) {
        let gateway = self.ctxs[slot as usize]
            .branches
            .get_mut(b)
            .and_then(|br| br.holds.take());
        let Some(g) = gateway else { return };
        let key = self.calls.key(call_id);
        if let Some((old, _)) = self.calls.dialogs.insert(key, (g, now + DIALOG_MAX)) {
            self.calls.put_back(old);
        }
    }

    /// A BYE for `call_id`: its dialog's call slot, if it holds one, is free.
    pub(super) fn dialog_ended(&mut self, call_id: &[u8]) {
        if self.calls.dialogs.is_empty() {
            return;
        }
        let key = self.calls.key(call_id);
        if let Some((g, _)) = self.calls.dialogs.remove(&key) {
            self.calls.put_back(g);
        }
    }

    /// Frees the slots of dialogs older than [`DIALOG_MAX`] (their BYE was
    /// never seen); a sweep at most once a minute.
    pub(super) fn expire_dialogs(&mut self, now: Instant) {
        if self.calls.dialogs.is_empty() || now < self.calls.next_sweep {
            return;
        }
        self.calls.next_sweep = now + Duration::from_secs(60);
        let mut expired = Vec::new();
        self.calls.dialogs.retain(|_, &mut (g, deadline)| {
            let keep = deadline > now;
            if !keep {
                expired.push(g);
            }
            keep
        });
        for g in expired {
            self.calls.put_back(g);
        }
    }

    /// Forwards `inp` to `target` as branch `b` of the context.
    fn start_target_branch(
        &mut self,
        now: Instant,
        slot: u32,
        generation: u32,
        inp: &In<'_, '_>,
        target: &Target,
        b: usize,
    ) -> bool {
        if self.cfg.locals.has(target.dest) || b >= MAX_TARGETS {
            return false;
        }
        self.make_branch(inp);
        if b > 0 {
            // Each copy is its own client transaction (§16.6 step 8).
            use std::io::Write;
            let _ = write!(self.branch, ".{b}");
        }
        let mut plan = std::mem::take(&mut self.plan);
        // Only for our Route values to remove: the next hop is the target,
        // so "no route" outcomes do not apply (requests with a bad Route
        // never reach the table).
        let _ = route::plan(inp.msg, &self.cfg.locals, None, &mut plan);
        let Some(out) = self.cfg.locals.egress(inp.local, target.dest) else {
            self.plan = plan;
            return false;
        };
        let mut buf = self.tx.take_buf();
        let ok = self.build_forward(inp, &plan, Some(target), out, &mut buf);
        self.plan = plan;
        if !ok {
            self.tx.give_buf(buf);
            return false;
        }
        self.counters.requests_forwarded += 1;
        let user = UserRef {
            slot,
            generation,
            branch: b as u8,
            cancel: false,
        };
        self.start_branch(now, user, Method::Invite, buf, target.dest, out);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_codes_parse_codes_and_classes() {
        let f = FailoverCodes::parse(["408", "5xx", "486"]).unwrap();
        for c in [408, 486, 500, 503, 599] {
            assert!(f.contains(c), "{c}");
        }
        for c in [404, 600, 603, 200, 180, 499] {
            assert!(!f.contains(c), "{c}");
        }
        assert_eq!(
            FailoverCodes::parse(["408", "5xx"]).unwrap(),
            FailoverCodes::default()
        );
        for bad in ["603", "6xx", "200", "abc", "5x", ""] {
            assert!(FailoverCodes::parse([bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_target_refuses_an_overlong_user() {
        let d: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert_eq!(Target::new(d, 1, b"+4930123").unwrap().user(), b"+4930123");
        assert!(Target::new(d, 1, &[b'1'; MAX_TARGET_USER + 1]).is_none());
    }

    #[test]
    fn the_dialled_number_comes_from_the_request_uri() {
        let mut p = trunkline_parser::Parser::default();
        let req = |ruri: &str| {
            format!(
                "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n\
To: <sip:b@x>\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"
            )
        };
        let cases = [
            ("sip:+14155550123@gw;user=phone", Some(&b"+14155550123"[..])),
            ("sip:4930123;npdi@gw", Some(b"4930123")),
            ("tel:+4930123", Some(b"+4930123")),
            ("sip:gw.example.net", None),
        ];
        for (ruri, want) in cases {
            let raw = req(ruri);
            let m = p.parse(raw.as_bytes()).unwrap();
            assert_eq!(dialled_number(&m), want, "{ruri}");
        }
    }
}
