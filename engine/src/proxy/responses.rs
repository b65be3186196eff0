//! Responses to what the proxy forwarded (RFC 3261 §16.7): the response
//! context of each server transaction and its branches, best-response
//! selection, CANCEL (§16.10), branch failures and timeouts (Timer C,
//! §16.8), least-cost failover, and responses relayed statelessly.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use trunkline_parser::{LocalCtx, Message, Method, ResponseSpec, write_cancel, write_response};
use trunkline_shards::tx::{ClientRequest, ResponseOutcome, TxEvent, TxId};

use super::{Ctx, In, Mode, State, UserRef, local_tag, sendable};

impl State {
    pub(super) fn on_response(&mut self, now: Instant, inp: &In<'_, '_>) {
        let msg = inp.msg;
        if self.cfg.mode == Mode::Stateful {
            match self.tx.handle_response(now, msg, inp.sum) {
                ResponseOutcome::Deliver { user, code, .. } => {
                    self.on_branch_response(now, msg, user, code);
                    return;
                }
                ResponseOutcome::Absorbed => return,
                ResponseOutcome::Unmatched => {}
            }
        }
        if self.cfg.lcr.is_some() && self.probe_response(msg, msg.status_code().unwrap_or(0)) {
            return;
        }
        self.forward_response_stateless(msg);
    }

    /// §16.7 step 1 (no transaction) and §16.11: pop our Via and send to
    /// the next one.
    pub(super) fn forward_response_stateless(&mut self, msg: &Message<'_>) {
        let mut vias = msg.vias();
        let ours = match vias.next() {
            Some(Ok(v)) => self.cfg.locals.addrs.iter().position(|a| {
                v.sent_by.eq_ignore_ascii_case(a.host_port.as_bytes())
                    || (v.host.ip().is_some()
                        && v.host.ip() == a.ip
                        && v.port.unwrap_or(5060) == a.port)
            }),
            _ => None,
        };
        let Some(local) = ours else {
            // §18.1.2: a Via that is not ours means not for us.
            self.counters.dropped += 1;
            return;
        };
        let next = match vias.next() {
            Some(Ok(v)) => v,
            _ => {
                self.counters.dropped += 1;
                return;
            }
        };
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
        if let Some(buf) = self.without_top_via(msg) {
            self.counters.responses_forwarded += 1;
            self.queue(dest, out, buf);
        }
    }

    pub(super) fn ctx_mut(&mut self, slot: u32, generation: u32) -> Option<&mut Ctx> {
        self.ctxs
            .get_mut(slot as usize)
            .filter(|c| c.live && (c.generation & 0xff_ffff) == generation)
    }

    /// A new response context for server transaction `server`, keeping a
    /// copy of its request `msg`, tied to the transaction; returns the
    /// handle of its first branch.
    pub(super) fn new_ctx(&mut self, server: TxId, msg: &Message<'_>) -> UserRef {
        let slot = match self.free_ctxs.pop() {
            Some(s) => s,
            None => {
                self.ctxs.push(Ctx::default());
                (self.ctxs.len() - 1) as u32
            }
        };
        let mut request = self.tx.take_buf();
        request.extend_from_slice(msg.as_bytes());
        let c = &mut self.ctxs[slot as usize];
        c.generation = (c.generation + 1) & 0xff_ffff;
        if c.generation == 0 {
            c.generation = 1; // user data 0 means "no context"
        }
        c.live = true;
        c.server = Some(server);
        c.request = request;
        c.branches.clear();
        c.best = None;
        c.final_sent = false;
        c.cancelled = false;
        c.refs = 1; // the server transaction
        c.targets.clear();
        c.next_target = 0;
        c.timed_out = false;
        c.src = None;
        c.local = 0;
        let user = UserRef {
            slot,
            generation: c.generation,
            branch: 0,
            cancel: false,
        };
        self.tx.set_user(server, user.pack());
        user
    }

    pub(super) fn release(&mut self, slot: u32, generation: u32) {
        let Some(c) = self.ctx_mut(slot, generation) else {
            return;
        };
        c.refs = c.refs.saturating_sub(1);
        if c.refs > 0 {
            return;
        }
        c.live = false;
        // A slot still held here belongs to an attempt that never got a
        // final response through us: give it back.
        for b in 0..self.ctxs[slot as usize].branches.len() {
            self.release_slot(slot, b);
        }
        let c = &mut self.ctxs[slot as usize];
        let request = std::mem::take(&mut c.request);
        let best = c.best.take();
        self.tx.give_buf(request);
        if let Some((_, b)) = best {
            self.tx.give_buf(b);
        }
        self.free_ctxs.push(slot);
    }

    /// A response on branch `user` (§16.7 steps 2-10).
    pub(super) fn on_branch_response(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        user: u64,
        code: u16,
    ) {
        let Some(u) = UserRef::unpack(user) else {
            return;
        };
        if u.cancel {
            return; // the response to our own CANCEL
        }
        let Some(ctx) = self.ctx_mut(u.slot, u.generation) else {
            self.counters.dropped += 1;
            return;
        };
        let Some(server) = ctx.server else { return };
        let b = u.branch as usize;
        if code < 200 {
            let pending = ctx
                .branches
                .get(b)
                .is_some_and(|br| br.cancel_pending && !br.cancel_sent);
            if pending {
                self.send_cancel(now, u.slot, u.generation, b);
            }
            if code == 100 {
                return; // §16.7 step 5: 100 is not forwarded
            }
            self.relay_response(now, msg, server, code);
            return;
        }
        if let Some(br) = ctx.branches.get_mut(b) {
            br.done = true;
        }
        if code < 300 {
            if let Some(call_id) = msg.call_id() {
                self.slot_to_dialog(now, u.slot, b, call_id);
            }
            let ctx = self.ctx_mut(u.slot, u.generation).expect("live");
            // §16.7 step 5: 2xx forwarded at once (retransmissions too).
            ctx.final_sent = true;
            self.relay_response(now, msg, server, code);
            self.drop_request(u.slot, u.generation);
            return;
        }
        self.release_slot(u.slot, b);
        let ctx = self.ctx_mut(u.slot, u.generation).expect("live");
        if ctx.final_sent {
            self.counters.dropped += 1;
            return;
        }
        // Step 4/6: keep the best final response.
        let better = ctx.best.as_ref().is_none_or(|(c, _)| rank(code) < rank(*c));
        if better {
            if let Some(buf) = self.without_top_via(msg) {
                let ctx = self.ctx_mut(u.slot, u.generation).expect("live");
                if let Some((_, old)) = ctx.best.replace((code, buf)) {
                    self.tx.give_buf(old);
                }
            }
        }
        if code >= 600 {
            self.cancel_context(now, u.slot, u.generation);
        } else if self.fails_over_on(u.slot, code) && self.fail_over(now, u.slot, u.generation) {
            return;
        }
        self.maybe_send_best(now, u.slot, u.generation);
    }

    /// Sends a response upstream through the server transaction, our Via
    /// removed (§16.7 step 3, 9).
    pub(super) fn relay_response(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        server: TxId,
        code: u16,
    ) {
        if let Some(buf) = self.without_top_via(msg) {
            self.counters.responses_forwarded += 1;
            self.tx.respond(now, server, buf, code);
        }
    }

    /// `msg` with its top Via (ours) removed, in a pooled buffer.
    pub(super) fn without_top_via(&mut self, msg: &Message<'_>) -> Option<Vec<u8>> {
        let mut buf = self.tx.take_buf();
        self.edits.clear();
        self.edits.remove_top_via(msg);
        match self.edits.write(msg, &LocalCtx::default(), &mut buf) {
            Ok(_) => Some(buf),
            Err(_) => {
                self.tx.give_buf(buf);
                None
            }
        }
    }

    /// When every branch has a final response, forward the best (§16.7).
    pub(super) fn maybe_send_best(&mut self, now: Instant, slot: u32, generation: u32) {
        let Some(ctx) = self.ctx_mut(slot, generation) else {
            return;
        };
        if ctx.final_sent || ctx.branches.iter().any(|b| !b.done) {
            return;
        }
        let Some(server) = ctx.server else { return };
        if ctx.timed_out && ctx.best.as_ref().is_none_or(|(c, _)| rank(*c) > rank(408)) {
            // An LCR branch timed out earlier: that 408 is the best (§16.7).
            ctx.final_sent = true;
            if let Some((_, b)) = ctx.best.take() {
                self.tx.give_buf(b);
            }
            self.local_final(now, slot, generation, server, 408, b"Request Timeout");
            return;
        }
        let Some((code, bytes)) = ctx.best.take() else {
            return;
        };
        ctx.final_sent = true;
        if code == 503 {
            // §16.7 step 6: a 503 downstream is not forwarded as such.
            self.tx.give_buf(bytes);
            self.local_final(now, slot, generation, server, 500, b"Server Error");
            return;
        }
        self.counters.responses_forwarded += 1;
        self.tx.respond(now, server, bytes, code);
        self.drop_request(slot, generation);
    }

    /// The final response is out: the request copy kept for local
    /// responses is no longer needed (the context itself lives on until
    /// its transactions end).
    pub(super) fn drop_request(&mut self, slot: u32, generation: u32) {
        if let Some(ctx) = self.ctx_mut(slot, generation) {
            let request = std::mem::take(&mut ctx.request);
            self.tx.give_buf(request);
        }
    }

    /// Sends a response generated here (408, 487, 500) from the stored request.
    pub(super) fn local_final(
        &mut self,
        now: Instant,
        slot: u32,
        generation: u32,
        server: TxId,
        code: u16,
        reason: &[u8],
    ) {
        let Some(ctx) = self.ctx_mut(slot, generation) else {
            return;
        };
        let request = std::mem::take(&mut ctx.request);
        let mut buf = self.tx.take_buf();
        let ok = match self.scratch_parser.parse(&request) {
            Ok(msg) => {
                let branch = msg
                    .top_via()
                    .ok()
                    .and_then(|v| v.branch)
                    .unwrap_or_default();
                local_tag(
                    &self.branch_hash,
                    msg.call_id().unwrap_or_default(),
                    branch,
                    &mut self.tag,
                );
                let spec = ResponseSpec {
                    code,
                    reason,
                    to_tag: Some(&self.tag),
                    extra_headers: &[b"Server: trunkline"],
                };
                write_response(&msg, &spec, &mut self.edits, &mut buf).is_ok()
            }
            Err(_) => false,
        };
        // A final response went out: the copy is no longer needed.
        self.tx.give_buf(request);
        if ok {
            self.counters.local_replies += 1;
            self.tx.respond(now, server, buf, code);
        } else {
            self.tx.give_buf(buf);
        }
    }

    /// §16.10: cancel every branch without a final response.
    pub(super) fn cancel_context(&mut self, now: Instant, slot: u32, generation: u32) {
        let Some(ctx) = self.ctx_mut(slot, generation) else {
            return;
        };
        ctx.cancelled = true;
        for b in 0..ctx.branches.len() {
            let ctx = self.ctx_mut(slot, generation).expect("live");
            let br = &mut ctx.branches[b];
            if br.done || br.cancel_sent {
                continue;
            }
            let Some(tx) = br.tx else { continue };
            if self.tx.got_provisional(tx) {
                self.send_cancel(now, slot, generation, b);
            } else {
                // §9.1: no CANCEL before a provisional response.
                self.ctx_mut(slot, generation).expect("live").branches[b].cancel_pending = true;
            }
        }
    }

    pub(super) fn send_cancel(&mut self, now: Instant, slot: u32, generation: u32, b: usize) {
        let Some(ctx) = self.ctx_mut(slot, generation) else {
            return;
        };
        let Some(br) = ctx.branches.get_mut(b) else {
            return;
        };
        let Some(invite_tx) = br.tx else { return };
        br.cancel_sent = true;
        let branch = br.branch;
        let mut buf = self.tx.take_buf();
        let ok = match self.tx.request_bytes(invite_tx) {
            Some(req) => match self.scratch_parser.parse(req) {
                Ok(inv) => write_cancel(&inv, &mut self.edits, &mut buf).is_ok(),
                Err(_) => false,
            },
            None => false,
        };
        if ok {
            let dest = self.tx.dest(invite_tx).expect("live client transaction");
            let local = self.tx.local(invite_tx).unwrap_or(0);
            let user = UserRef {
                slot,
                generation,
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
            if let Some(ctx) = self.ctx_mut(slot, generation) {
                ctx.refs += 1;
            }
            self.tx.cancel_sent(now, invite_tx);
        } else {
            self.tx.give_buf(buf);
        }
    }

    pub(super) fn drain_tx_events(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            match ev {
                TxEvent::Timeout { user, .. } => {
                    let Some(u) = UserRef::unpack(user) else {
                        continue;
                    };
                    if !u.cancel {
                        self.branch_failed(now, u);
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
                        self.send_cancel(now, u.slot, u.generation, u.branch as usize);
                    } else {
                        // §16.8: as if a 408 arrived.
                        self.tx.terminate(tx);
                        self.branch_failed(now, u);
                    }
                }
                TxEvent::Terminated { user, .. } => {
                    let Some(u) = UserRef::unpack(user) else {
                        continue;
                    };
                    self.release(u.slot, u.generation);
                }
            }
        }
    }

    /// A branch ended without a final response: a 408, or a 487 if the
    /// caller cancelled (§16.7 step 2, §16.8, §16.10).
    pub(super) fn branch_failed(&mut self, now: Instant, u: UserRef) {
        let Some(ctx) = self.ctx_mut(u.slot, u.generation) else {
            return;
        };
        if let Some(b) = ctx.branches.get_mut(u.branch as usize) {
            b.done = true;
        }
        self.release_slot(u.slot, u.branch as usize);
        let ctx = self.ctx_mut(u.slot, u.generation).expect("live");
        if ctx.final_sent || ctx.branches.iter().any(|b| !b.done) {
            return;
        }
        ctx.timed_out = true;
        if self.fails_over_on(u.slot, 408) && self.fail_over(now, u.slot, u.generation) {
            return;
        }
        let ctx = self.ctx_mut(u.slot, u.generation).expect("live");
        let Some(server) = ctx.server else { return };
        let cancelled = ctx.cancelled;
        let best = ctx.best.as_ref().map(|(c, _)| *c);
        let (code, reason): (u16, &[u8]) = if cancelled {
            (487, b"Request Terminated")
        } else {
            (408, b"Request Timeout")
        };
        if best.is_some_and(|c| rank(c) < rank(code)) {
            self.maybe_send_best(now, u.slot, u.generation);
            return;
        }
        let ctx = self.ctx_mut(u.slot, u.generation).expect("live");
        ctx.final_sent = true;
        self.local_final(now, u.slot, u.generation, server, code, reason);
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
