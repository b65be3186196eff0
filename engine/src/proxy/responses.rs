//! The response path (RFC 3261 §16.7 - §16.10): responses matched to
//! their client transactions flow back through the response context that
//! forwarded the request (best-response selection, CANCEL of the other
//! branches, a serial search's failover); branch failures and timeouts
//! (Timer B/F, Timer C, §16.8) count as 408; responses that match no
//! transaction are relayed statelessly (§16.11) or are our probes'.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use trunkline_parser::{Message, Method, Summary};
use trunkline_shards::tx::{ClientRequest, ResponseOutcome, TxEvent, TxId};

use super::contexts::{CtxId, Followers, UserRef};
use super::{Mode, Pipeline, Request, Stored, sendable};

impl Pipeline {
    pub(super) fn on_response(&mut self, now: Instant, rsp: &Request<'_, '_>, stored: &mut Stored) {
        let msg = rsp.msg;
        if self.cfg.mode == Mode::Stateful {
            match self.tx.handle_response(now, msg, rsp.sum) {
                ResponseOutcome::Deliver { user, code, .. } => {
                    self.on_branch_response(now, msg, rsp.sum, user, code, stored);
                    return;
                }
                ResponseOutcome::Absorbed => return,
                ResponseOutcome::Unmatched => {}
            }
        }
        let code = msg.status_code().unwrap_or(0);
        if self.route.has_lcr() && self.prober.on_response(msg, code) {
            return;
        }
        if let Some(d) = self.route.dispatch.as_mut() {
            if d.on_response(now, msg, code) {
                return;
            }
        }
        if self.route.registrar.is_some()
            && super::stages::registrar::RegistrarStage::is_keepalive_answer(msg)
        {
            return;
        }
        self.forward_response_stateless(msg, rsp.sum);
    }

    /// §16.7 step 1 (no transaction) and §16.11: pop our Via and send to
    /// the next one, if our Via's branch is the one we made for it
    /// (a response with a forged branch is dropped and counted).
    fn forward_response_stateless(&mut self, msg: &Message<'_>, sum: &Summary<'_>) {
        let mut vias = msg.vias();
        let (ours, branch, top) = match vias.next() {
            Some(Ok(v)) => (
                self.cfg.locals.addrs.iter().position(|a| {
                    v.sent_by.eq_ignore_ascii_case(a.host_port.as_bytes())
                        || (v.host.ip().is_some()
                            && v.host.ip() == a.ip
                            && v.port.unwrap_or(5060) == a.port)
                }),
                v.branch.unwrap_or_default(),
                Some(v),
            ),
            _ => (None, &b""[..], None),
        };
        let (Some(local), Some(top)) = (ours, top) else {
            // §18.1.2: a Via that is not ours means not for us.
            self.counters.dropped += 1;
            return;
        };
        // Topology hiding: the next Via is the first our Via's token hid.
        let hidden = match self.wire.open_hidden_vias(&top) {
            Ok(h) => h,
            Err(r) => {
                self.count_refusal(r);
                return;
            }
        };
        let next = if hidden {
            self.wire.first_hidden_via()
        } else {
            vias.next().and_then(Result::ok)
        };
        let Some(next) = next else {
            self.counters.dropped += 1;
            return;
        };
        if !self.wire.is_our_branch(branch, &next, sum) {
            self.counters.forged_responses += 1;
            return;
        }
        let ip = next
            .received
            .and_then(|r| core::str::from_utf8(r).ok()?.parse::<IpAddr>().ok())
            .or_else(|| next.host.ip());
        let port = match next.rport {
            Some(Some(p)) => p,
            _ => next.port.unwrap_or(5060),
        };
        let Some(dest) = ip.map(|ip| SocketAddr::new(ip, port)).filter(sendable) else {
            self.counters.dropped += 1;
            return;
        };
        let Some(out) = self.cfg.locals.egress(local as u16, dest) else {
            self.counters.dropped += 1;
            return;
        };
        let mut buf = self.tx.take_buf();
        match self.wire.relay(&self.cfg, msg, out, &mut buf, None) {
            Ok(true) => {
                self.counters.responses_forwarded += 1;
                self.wire.queue(dest, out, buf);
            }
            r => {
                self.tx.give_buf(buf);
                if let Err(r) = r {
                    self.count_refusal(r);
                }
            }
        }
    }

    /// A transaction referring to context `ctx` ended; the last one
    /// closes it: its buffers go back to the pool, and a call slot still
    /// held by an attempt that never got a final response through us is
    /// given back.
    fn release(&mut self, ctx: CtxId) {
        let Some(c) = self.ctxs.release(ctx) else {
            return;
        };
        for b in &mut c.branches {
            if let Some(key) = b.holds.take() {
                self.caps.put_back(key);
            }
        }
        self.tx.give_buf(std::mem::take(&mut c.request));
        if let Some((_, b)) = c.best.take() {
            self.tx.give_buf(b);
        }
    }

    /// A response on branch `user` (§16.7 steps 2-10).
    fn on_branch_response(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        sum: &Summary<'_>,
        user: u64,
        code: u16,
        stored: &mut Stored,
    ) {
        let Some(u) = UserRef::unpack(user) else {
            return;
        };
        if u.cancel {
            return; // the response to our own CANCEL
        }
        let Some(ctx) = self.ctxs.get_mut(u.ctx) else {
            self.counters.dropped += 1;
            return;
        };
        let Some(server) = ctx.server else { return };
        let b = u.branch as usize;
        if let (Some(call), Some(calls)) = (ctx.call, self.calls.as_mut()) {
            // Call control sees the INVITE's responses as they are
            // relayed: provisional ones and 2xx now, a final non-2xx only
            // once it is the one sent upstream (a serial search's failed
            // attempts do not end the call).
            if code > 100 {
                calls.on_attempt_response(now, call, code);
            }
            if code > 100 && code < 300 {
                calls.on_response(now, call, msg, sum, code, &self.cfg.locals);
                self.settle_calls(now);
            }
        }
        let Some(ctx) = self.ctxs.get_mut(u.ctx) else {
            return;
        };
        if code < 200 {
            let pending = ctx
                .branches
                .get(b)
                .is_some_and(|br| br.cancel_pending && !br.cancel_sent);
            if pending {
                self.send_cancel(now, u.ctx, b);
            }
            if code == 100 {
                return; // §16.7 step 5: 100 is not forwarded
            }
            self.relay_response(now, msg, u.ctx, server, code);
            return;
        }
        if let Some(br) = ctx.branches.get_mut(b) {
            br.done = true;
        }
        if code < 300 {
            // §16.7 step 5: 2xx forwarded at once (retransmissions too).
            ctx.final_sent = true;
            // The attempt's call slot now belongs to the call.
            if let Some(call_id) = msg.call_id() {
                if let Some(key) = ctx.branches.get_mut(b).and_then(|br| br.holds.take()) {
                    self.caps.to_dialog(now, key, call_id);
                }
            }
            // A dispatched call: who holds it, for a later Replaces.
            let holder = ctx.branches.get(b).and_then(|br| br.dest);
            if let (true, Some(dest), Some(d)) = (ctx.sticky, holder, &self.route.dispatch) {
                d.remember(now, sum.call_id, dest);
            }
            self.relay_response(now, msg, u.ctx, server, code);
            self.drop_request(u.ctx);
            // §16.7 step 10: the other branches of a fork are cancelled.
            if self.ctxs.get(u.ctx).is_some_and(|c| c.branches.len() > 1) {
                self.cancel_context(now, u.ctx);
            }
            return;
        }
        self.release_slot(u.ctx, b);
        let ctx = self.ctxs.get_mut(u.ctx).expect("live");
        if ctx.final_sent {
            self.counters.dropped += 1;
            return;
        }
        // Step 4/6: keep the best final response.
        let better = ctx.best.as_ref().is_none_or(|(c, _)| rank(code) < rank(*c));
        if better {
            let mut buf = self.tx.take_buf();
            let up = self.tx.local(server).unwrap_or(0);
            let restore = self.ctxs.get(u.ctx).and_then(|c| c.restore.as_deref());
            match self.wire.relay(&self.cfg, msg, up, &mut buf, restore) {
                Ok(true) => {
                    let ctx = self.ctxs.get_mut(u.ctx).expect("live");
                    if let Some((_, old)) = ctx.best.replace((code, buf)) {
                        self.tx.give_buf(old);
                    }
                }
                r => {
                    self.tx.give_buf(buf);
                    if let Err(r) = r {
                        self.count_refusal(r);
                    }
                }
            }
        }
        if code >= 600 {
            self.cancel_context(now, u.ctx);
        } else if self.fails_over_on(u.ctx, code) && self.fail_over(now, u.ctx, stored) {
            return;
        }
        self.maybe_send_best(now, u.ctx);
    }

    /// Gives back the call slot branch `b` of `ctx` holds (its attempt
    /// failed), once.
    fn release_slot(&mut self, ctx: CtxId, b: usize) {
        let held = self
            .ctxs
            .get_mut(ctx)
            .and_then(|c| c.branches.get_mut(b))
            .and_then(|br| br.holds.take());
        if let Some(key) = held {
            self.caps.put_back(key);
        }
    }

    /// Sends a response upstream through the server transaction, our Via
    /// removed (§16.7 step 3, 9; hidden topology revealed and hidden, see
    /// `topology`).
    fn relay_response(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        ctx: CtxId,
        server: TxId,
        code: u16,
    ) {
        let mut buf = self.tx.take_buf();
        let up = self.tx.local(server).unwrap_or(0);
        let restore = self.ctxs.get(ctx).and_then(|c| c.restore.as_deref());
        match self.wire.relay(&self.cfg, msg, up, &mut buf, restore) {
            Ok(true) => {
                self.counters.responses_forwarded += 1;
                self.tx.respond(now, server, buf, code);
            }
            r => {
                self.tx.give_buf(buf);
                if let Err(r) = r {
                    self.count_refusal(r);
                }
            }
        }
    }

    /// When every branch has a final response, forward the best (§16.7).
    pub(super) fn maybe_send_best(&mut self, now: Instant, id: CtxId) {
        let Some(ctx) = self.ctxs.get_mut(id) else {
            return;
        };
        if ctx.final_sent || ctx.branches.iter().any(|b| !b.done) {
            return;
        }
        let Some(server) = ctx.server else { return };
        if ctx.timed_out && ctx.best.as_ref().is_none_or(|(c, _)| rank(*c) > rank(408)) {
            // A branch of a serial search timed out earlier: that 408 is
            // the best (§16.7).
            ctx.final_sent = true;
            if let Some((_, b)) = ctx.best.take() {
                self.tx.give_buf(b);
            }
            self.local_final(now, id, server, 408, b"Request Timeout");
            return;
        }
        let Some((code, bytes)) = ctx.best.take() else {
            return;
        };
        ctx.final_sent = true;
        let call = ctx.call;
        if code == 503 {
            // §16.7 step 6: a 503 downstream is not forwarded as such.
            self.tx.give_buf(bytes);
            self.local_final(now, id, server, 500, b"Server Error");
            return;
        }
        self.counters.responses_forwarded += 1;
        self.tx.respond(now, server, bytes, code);
        self.drop_request(id);
        self.call_final(now, call, code);
    }

    /// The final non-2xx response `code` went upstream for call `call`.
    fn call_final(
        &mut self,
        now: Instant,
        call: Option<trunkline_shards::dialog::CallRef>,
        code: u16,
    ) {
        if let (Some(call), Some(calls)) = (call, self.calls.as_mut()) {
            calls.on_final(now, call, code);
            self.settle_calls(now);
        }
    }

    /// The final response is out: the request copy kept for local
    /// responses is no longer needed (the context itself lives on until
    /// its transactions end).
    fn drop_request(&mut self, id: CtxId) {
        if let Some(ctx) = self.ctxs.get_mut(id) {
            let request = std::mem::take(&mut ctx.request);
            self.tx.give_buf(request);
        }
    }

    /// Sends a final response generated here (408, 487, 500, 503) to the
    /// request kept in context `id`, which is then no longer needed.
    pub(super) fn local_final(
        &mut self,
        now: Instant,
        id: CtxId,
        server: TxId,
        code: u16,
        reason: &[u8],
    ) {
        let Some(ctx) = self.ctxs.get_mut(id) else {
            return;
        };
        let call = ctx.call;
        let request = std::mem::take(&mut ctx.request);
        let mut buf = self.tx.take_buf();
        let written = self.wire.local_final(&request, code, reason, &mut buf);
        self.tx.give_buf(request);
        if written {
            self.counters.local_replies += 1;
            self.tx.respond(now, server, buf, code);
        } else {
            self.tx.give_buf(buf);
        }
        self.call_final(now, call, code);
    }

    /// §16.10: cancel every branch without a final response.
    pub(super) fn cancel_context(&mut self, now: Instant, id: CtxId) {
        let Some(ctx) = self.ctxs.get_mut(id) else {
            return;
        };
        ctx.cancelled = true;
        for b in 0..ctx.branches.len() {
            let Some(ctx) = self.ctxs.get_mut(id) else {
                return;
            };
            let br = &mut ctx.branches[b];
            if br.done || br.cancel_sent {
                continue;
            }
            let Some(tx) = br.tx else { continue };
            if self.tx.got_provisional(tx) {
                self.send_cancel(now, id, b);
            } else {
                // §9.1: no CANCEL before a provisional response.
                br.cancel_pending = true;
            }
        }
    }

    /// Sends the CANCEL of branch `b` of context `id` (§9.1), through a
    /// client transaction of its own, with the branch of the INVITE.
    fn send_cancel(&mut self, now: Instant, id: CtxId, b: usize) {
        let Some(br) = self.ctxs.get_mut(id).and_then(|c| c.branches.get_mut(b)) else {
            return;
        };
        let Some(invite_tx) = br.tx else { return };
        br.cancel_sent = true;
        let branch = br.branch;
        let mut buf = self.tx.take_buf();
        let written = match self.tx.request_bytes(invite_tx) {
            Some(invite) => self.wire.cancel(invite, &mut buf),
            None => false,
        };
        if !written {
            self.tx.give_buf(buf);
            return;
        }
        let dest = self.tx.dest(invite_tx).expect("live client transaction");
        let local = self.tx.local(invite_tx).unwrap_or(0);
        let user = UserRef {
            ctx: id,
            branch: b as u8,
            cancel: true,
        };
        self.tx.start_client(
            now,
            ClientRequest {
                method: Method::Cancel,
                branch: branch.as_bytes(),
                bytes: buf,
                dest,
                local,
                user: user.pack(),
                timer_c: false,
            },
        );
        self.ctxs.add_ref(id);
        self.tx.cancel_sent(now, invite_tx);
    }

    /// Takes the transaction layer's events: a client transaction's
    /// timeout (Timer B or F, or 64·T1 after our CANCEL), Timer C on a
    /// proxied INVITE (§16.8), a transaction's end.
    pub(super) fn drain_tx_events(&mut self, now: Instant, stored: &mut Stored) {
        while let Some(ev) = self.tx.poll_event() {
            match ev {
                TxEvent::Timeout { user, .. } => {
                    let Some(u) = UserRef::unpack(user) else {
                        continue;
                    };
                    if !u.cancel {
                        self.branch_failed(now, u, stored);
                    }
                }
                TxEvent::TimerC {
                    tx,
                    user,
                    provisional,
                } => {
                    let Some(u) = UserRef::unpack(user) else {
                        continue;
                    };
                    if provisional {
                        self.send_cancel(now, u.ctx, u.branch as usize);
                    } else {
                        // §16.8: as if a 408 arrived.
                        self.tx.terminate(tx);
                        self.branch_failed(now, u, stored);
                    }
                }
                TxEvent::Terminated { user, .. } => {
                    let Some(u) = UserRef::unpack(user) else {
                        continue;
                    };
                    self.release(u.ctx);
                }
            }
        }
    }

    /// A branch ended without a final response: a 408, or a 487 if the
    /// caller cancelled (§16.7 step 2, §16.8, §16.10).
    fn branch_failed(&mut self, now: Instant, u: UserRef, stored: &mut Stored) {
        let Some(ctx) = self.ctxs.get_mut(u.ctx) else {
            return;
        };
        if let Some(b) = ctx.branches.get_mut(u.branch as usize) {
            b.done = true;
        }
        if let (Some(call), Some(calls)) = (ctx.call, self.calls.as_mut()) {
            calls.on_attempt_failed(call, if ctx.cancelled { 487 } else { 408 });
        }
        self.release_slot(u.ctx, u.branch as usize);
        let ctx = self.ctxs.get_mut(u.ctx).expect("live");
        if ctx.final_sent || ctx.branches.iter().any(|b| !b.done) {
            return;
        }
        ctx.timed_out = true;
        if self.fails_over_on(u.ctx, 408) && self.fail_over(now, u.ctx, stored) {
            return;
        }
        let ctx = self.ctxs.get_mut(u.ctx).expect("live");
        let Some(server) = ctx.server else { return };
        let best = ctx.best.as_ref().map(|(c, _)| *c);
        let (code, reason): (u16, &[u8]) = if ctx.cancelled {
            (487, b"Request Terminated")
        } else {
            (408, b"Request Timeout")
        };
        if best.is_some_and(|c| rank(c) < rank(code)) {
            self.maybe_send_best(now, u.ctx);
            return;
        }
        ctx.final_sent = true;
        self.local_final(now, u.ctx, server, code, reason);
    }

    /// Whether a branch's final `code` (408: it timed out) moves context
    /// `id` to its next target: only for a serial search, and then the
    /// configured failover codes for least-cost routing, 503 and timeouts
    /// for a name's addresses (RFC 3263 §4.3).
    fn fails_over_on(&self, id: CtxId, code: u16) -> bool {
        let Some(ctx) = self.ctxs.get(id) else {
            return false;
        };
        if !ctx.followers.contains(Followers::SERIAL) {
            return false;
        }
        if let Some(codes) = &ctx.failover {
            return codes.contains(code);
        }
        match ctx.targets.first() {
            Some(t) if t.keeps_request_uri() => code == 503 || code == 408,
            _ => self.cfg.failover.contains(code),
        }
    }
}

/// Response preference for §16.7 step 6: 6xx first, then the lowest
/// class; a 503 ranks last (it is not forwarded as such).
fn rank(code: u16) -> u32 {
    match code {
        600..=699 => 0,
        503 => 10_000,
        c => c as u32,
    }
}
