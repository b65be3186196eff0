//! Forwarding through client transactions, and the serial search: a
//! request with several targets (least-cost routing's gateways, a name's
//! addresses, RFC 3263 §4.3) is forwarded to one at a time (RFC 3261
//! §16.6, serial forking); when a branch fails with a failover code or
//! times out, the next target gets a new copy (its own branch, §16.6 step
//! 8) built from the request kept in the response context.
//!
//! Targets are skipped, and counted, when probing found them down, when
//! no listener has their address family, when their gateway is at its
//! CPS or concurrent-call cap ([`crate::lcr::caps`]), and when their
//! carrier's or gateway's call limit (`[[limit]] key = "carrier:ID"` or
//! `"gateway:ID"`, [`crate::security::call_limits`]) refuses them. The
//! slots a target's call limits gave it are held by the call's attempt
//! ([`super::calls::Calls::on_attempt`]): the next attempt gives them
//! back, and so does the call's end. A call that is not tracked (no
//! `[dialogs]`, or the dialog table full) gives them back as soon as its
//! attempt starts: concurrent call limits on targets need `[dialogs]`
//! (which the configuration turns on with any `[[limit]]`).
//!
//! A failed attempt's slots are given back before the next target is
//! admitted ([`super::calls::Calls::release_attempt`]), so a call failing
//! over between two gateways of a carrier at its concurrent limit takes
//! the next one.

use std::net::SocketAddr;
use std::time::Instant;

use trunkline_parser::{Method, ValidateOptions, validate_with};
use trunkline_shards::tx::{ClientRequest, TxId};

use super::contexts::{Branch, BranchId, CtxId, Followers, UserRef};
use super::{Attributes, Pipeline, Request, Stored, next_hop};
use crate::lcr::{MAX_TARGETS, Target};

impl Pipeline {
    /// Starts the client transaction of branch `user` of its context
    /// (§16.6 step 10: `bytes` to `dest` from listener `local`, Timer C
    /// for an INVITE) with the branch the writer just built, and records
    /// the branch in the context.
    pub(super) fn start_branch(
        &mut self,
        now: Instant,
        user: UserRef,
        method: Method,
        bytes: Vec<u8>,
        dest: SocketAddr,
        local: u16,
    ) {
        let branch = self.wire.branch();
        let client = self.tx.start_client(
            now,
            ClientRequest {
                method,
                branch,
                bytes,
                dest,
                local,
                user: user.pack(),
                timer_c: method == Method::Invite,
            },
        );
        let branch = Branch {
            tx: Some(client),
            branch: BranchId::new(branch),
            dest: Some(dest),
            ..Branch::default()
        };
        self.ctxs.push_branch(user.ctx, branch);
    }

    /// Starts the serial search of the route stage's targets for `req`:
    /// a new response context for `server` that follows the responses,
    /// the targets moved into it, the first that can be sent to tried;
    /// when none can, answers 503 `reason`.
    pub(super) fn start_serial(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
        attrs: &Attributes,
        server: TxId,
        reason: &[u8],
    ) {
        let id = self.open_ctx(server, req.msg);
        self.header_edits.select(self.policy.current(), attrs.edits);
        self.header_edits.set_identities(None);
        self.keep_identities(req, id);
        self.track_call(now, req, attrs, id);
        let ctx = self.ctxs.get_mut(id).expect("just opened");
        // The context's old (empty) lists become the stage's scratch.
        std::mem::swap(&mut ctx.targets, &mut self.route.targets);
        std::mem::swap(&mut ctx.contacts, &mut self.route.contacts);
        ctx.src = Some(req.src);
        ctx.local = req.local;
        ctx.followers.insert(Followers::SERIAL);
        ctx.edits = attrs.edits;
        ctx.hide = attrs.hide_topology || self.revealed;
        let picked = self.route.picked.take();
        ctx.failover = picked.map(|p| p.failover);
        ctx.sticky = picked.is_some_and(|p| p.sticky);
        if let (Some(q), None) = (&self.quality, picked) {
            // Quality routing: demoted gateways are tried last.
            let moved = q.reorder(now, &mut ctx.targets, |t| t.cap_key);
            self.counters.lcr_demoted += moved as u64;
        }
        if picked.is_some_and(|p| p.parallel) {
            // A parallel fork (§16.6, §16.7): every target at once; the
            // best response wins, a 2xx cancels the others.
            let mut started = false;
            while self.start_targets(now, id, req, true) {
                started = true;
            }
            if !started {
                if let Some(ctx) = self.ctxs.get_mut(id) {
                    ctx.final_sent = true;
                }
                self.local_final(now, id, server, 503, reason);
            }
            return;
        }
        if !self.start_targets(now, id, req, true) {
            if let Some(ctx) = self.ctxs.get_mut(id) {
                ctx.final_sent = true;
            }
            self.local_final(now, id, server, 503, reason);
        }
    }

    /// After a branch of context `id` failed with a failover code or
    /// timed out: tries its next target if the search may go on, with a
    /// copy built from the request the context kept. Returns whether a
    /// new branch started.
    pub(super) fn fail_over(&mut self, now: Instant, id: CtxId, stored: &mut Stored) -> bool {
        let Some(ctx) = self.ctxs.get(id) else {
            return false;
        };
        let go_on = !ctx.final_sent
            && !ctx.cancelled
            && ctx.next_target < ctx.targets.len()
            && ctx.branches.iter().all(|b| b.done);
        let (true, Some(src)) = (go_on, ctx.src) else {
            return false;
        };
        let (local, server) = (ctx.local, ctx.server);
        let Stored { parser, bytes } = stored;
        bytes.clear();
        bytes.extend_from_slice(&ctx.request);
        let Ok(msg) = parser.parse(bytes) else {
            return false;
        };
        let Ok(sum) = validate_with(&msg, &ValidateOptions::PROXY) else {
            return false;
        };
        let req = Request {
            msg: &msg,
            sum: &sum,
            src,
            local,
            server,
        };
        self.start_targets(now, id, &req, false)
    }

    /// Tries context `id`'s remaining targets in order until one branch
    /// starts. `planned`: the route stage's plan is `req`'s (it decided
    /// just now), not to be made again.
    fn start_targets(
        &mut self,
        now: Instant,
        id: CtxId,
        req: &Request<'_, '_>,
        planned: bool,
    ) -> bool {
        loop {
            let Some(ctx) = self.ctxs.get_mut(id) else {
                return false;
            };
            let Some(&target) = ctx.targets.get(ctx.next_target) else {
                return false;
            };
            ctx.next_target += 1;
            let b = ctx.branches.len();
            let counters = &mut self.counters;
            if self.prober.is_down(&target.dest) {
                counters.lcr_down_skipped += 1;
                continue;
            }
            // A gateway of an address family we have no listener for
            // could not be sent to: the attempt would only time out.
            if self.cfg.locals.egress(req.local, target.dest).is_none() {
                counters.lcr_family_skipped += 1;
                continue;
            }
            if !self.caps.admits(now, &target) {
                counters.lcr_capped += 1;
                continue;
            }
            // Its carrier's and gateway's call limits (`[[limit]]`): a
            // slot of each taken, or the target skipped. The failed
            // attempt's slots come back first (a call failing over within
            // a carrier at its limit may take the next gateway).
            if b > 0 {
                let call = self.ctxs.get(id).and_then(|c| c.call);
                if let (Some(call), Some(calls)) = (call, self.calls.as_mut()) {
                    calls.release_attempt(call);
                }
            }
            let counters = &mut self.counters;
            let limits = self.limits.target_limits();
            let target_held = match limits.map(|l| l.admit(now, &target)) {
                Some(Ok(held)) => Some(held).filter(|h| !h.is_empty()),
                Some(Err(_)) => {
                    counters.lcr_limited += 1;
                    continue;
                }
                None => None,
            };
            if !self.start_target_branch(now, id, req, &target, b, planned) {
                if let (Some(l), Some(held)) = (self.limits.target_limits(), target_held) {
                    l.limits().release(held);
                }
                continue;
            }
            // This attempt holds one of the gateway's call slots until it
            // fails, or, answered, until its call ends.
            let held = self.caps.take(&target);
            if let Some(br) = self.ctxs.get_mut(id).and_then(|c| c.branches.get_mut(b)) {
                br.holds = held;
            }
            // The call's current attempt holds the target's limit slots
            // until the next attempt or the call's end.
            let call = self.ctxs.get(id).and_then(|c| c.call);
            if let (Some(call), Some(calls)) = (call, self.calls.as_mut()) {
                let user = (!target.keeps_request_uri()).then(|| target.user());
                calls.on_attempt(
                    now,
                    call,
                    target.dest,
                    Some((target.gateway, target.cap_key)),
                    user,
                    target_held,
                );
                if calls.writes_cdrs() && !target.keeps_request_uri() {
                    if let Some(name) = self.route.gateway_id(target.gateway) {
                        calls.name_attempt(call, name);
                    }
                }
            } else if let (Some(l), Some(held)) = (self.limits.target_limits(), target_held) {
                // Not tracked: nothing would give the slots back.
                l.limits().release(held);
            }
            // A target after a failed one (not a parallel fork's other
            // branches, started with the first): a failover, counted by
            // what the targets are (a registrar's serial fork is not).
            if b > 0 && !planned {
                let dispatched = self.ctxs.get(id).is_some_and(|c| c.sticky);
                let counters = &mut self.counters;
                if dispatched {
                    counters.dispatch_failovers += 1;
                } else if target.contact_index().is_some() {
                } else if target.keeps_request_uri() {
                    counters.names_failovers += 1;
                } else {
                    counters.lcr_failovers += 1;
                }
            }
            return true;
        }
    }

    /// Forwards `req` to `target` as branch `b` of context `id`.
    fn start_target_branch(
        &mut self,
        now: Instant,
        id: CtxId,
        req: &Request<'_, '_>,
        target: &Target,
        b: usize,
        planned: bool,
    ) -> bool {
        let locals = &self.cfg.locals;
        if locals.has(target.dest) || b >= MAX_TARGETS {
            return false;
        }
        let Some(out) = locals.egress(req.local, target.dest) else {
            return false;
        };
        self.wire.make_branch(req, b);
        // Only for our Route values to remove: the next hop is the target,
        // so "no route" outcomes do not apply (requests with a bad Route
        // never reach a serial search).
        let (edits, hide) = self
            .ctxs
            .get(id)
            .map(|c| (c.edits, c.hide))
            .unwrap_or_default();
        self.header_edits.select(self.policy.current(), edits);
        self.wire.set_hiding(hide);
        let contact = target
            .contact_index()
            .and_then(|i| self.ctxs.get(id)?.contacts.get(i));
        self.wire.set_contact(contact);
        let plan = &mut self.route.plan;
        if !planned {
            // A later target (failover): the plan was the last request's.
            let _ = next_hop::plan(req.msg, locals, None, plan);
        }
        let mut buf = self.tx.take_buf();
        if !self.wire.forward(
            &self.cfg,
            &self.header_edits,
            req,
            plan,
            Some(target),
            out,
            &mut buf,
        ) {
            self.tx.give_buf(buf);
            return false;
        }
        self.counters.requests_forwarded += 1;
        self.start_branch(
            now,
            UserRef::branch(id, b),
            req.method(),
            buf,
            target.dest,
            out,
        );
        true
    }
}
