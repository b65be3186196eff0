//! A received message (SIPp's `call::process_incoming`, compat §4.2),
//! phase by phase: retransmission detection, classification, the search
//! of the scenario (forward, then backward), then either the element
//! that matched takes it or the unexpected-message rules apply.

use std::ops::ControlFlow;

use super::*;

/// A received message, classified.
struct Incoming<'m> {
    /// A response's status code (0: a request).
    reply_code: u32,
    /// A request's method (empty: a response).
    request: &'m [u8],
    /// A response's CSeq method.
    cseq_method: &'m [u8],
    /// A response's top-Via branch, when explicit transactions need it.
    txn: Vec<u8>,
}

impl Call {
    /// SIPp's `call::process_incoming`.
    pub(super) fn process_incoming(
        &mut self,
        msg: &[u8],
        src: Option<SocketAddr>,
        env: &mut Env<'_>,
    ) -> Step {
        let Some(cur) = self.element(self.msg_index) else {
            return Step::Blocked;
        };
        let (pause, nop) = (
            matches!(cur.kind, ElementKind::Pause(_)),
            matches!(cur.kind, ElementKind::Nop),
        );
        if self.cfg.pause_msg_ign && pause {
            return Step::Blocked;
        }
        if self.peer.is_none() {
            self.peer = src;
        }
        if self.msg_index == 0 && nop {
            self.queued = Some(msg.to_vec());
            self.paused_until = None;
            return Step::Again;
        }
        if !sipmsg::has_header(msg, b"To:") {
            return self.process_unexpected(msg, env);
        }
        let cookie = match self.retransmission(msg, env) {
            ControlFlow::Continue(cookie) => cookie,
            ControlFlow::Break(step) => return step,
        };
        let Some(inc) = self.classify(msg) else {
            return self.process_unexpected(msg, env);
        };
        let found = match self.search_forward(&inc) {
            Some(i) => Some(i),
            None => match self.search_backward(&inc, msg, env) {
                ControlFlow::Continue(found) => found,
                ControlFlow::Break(step) => return step,
            },
        };
        match found {
            Some(si) => self.take(si, &inc, cookie, msg, env),
            None => self.unmatched(inc.request, msg, env),
        }
    }

    /// With retransmissions on: a retransmission of the message that made
    /// us send gets that send again, one of the last message taken is
    /// ignored (both `Break`); else `Continue` with the message's hash (0
    /// with retransmissions off).
    fn retransmission(&mut self, msg: &[u8], env: &mut Env<'_>) -> ControlFlow<Step, u64> {
        if !self.cfg.retrans_enabled {
            return ControlFlow::Continue(0);
        }
        let cookie = self.msg_hash(msg);
        if let Some((h, ri, si)) = self.recv_retrans
            && h == cookie
        {
            if self.lose(ri, env) {
                return ControlFlow::Break(Step::Blocked);
            }
            env.stats.msg_recv_retrans(ri);
            self.resend_scene(si, env);
            env.stats.msg_retrans(si);
            return ControlFlow::Break(Step::Blocked);
        }
        if let Some(li) = self.last_recv_index
            && self.last_recv_hash == cookie
        {
            env.stats.msg_recv_retrans(li);
            return ControlFlow::Break(Step::Blocked);
        }
        ControlFlow::Continue(cookie)
    }

    /// Response or request, and what matching needs of it; `None` for a
    /// message that is neither (no status code, no method). A response
    /// updates the peer's tag, an ACK establishes the call.
    fn classify<'m>(&mut self, msg: &'m [u8]) -> Option<Incoming<'m>> {
        if !msg.starts_with(b"SIP/2.0") {
            return match memchr::memchr(b' ', msg) {
                Some(sp) if sp < 64 => {
                    let request = &msg[..sp];
                    if request == b"ACK" {
                        self.established = true;
                    }
                    Some(Incoming {
                        reply_code: 0,
                        request,
                        cseq_method: b"",
                        txn: Vec::new(),
                    })
                }
                _ => None,
            };
        }
        let reply_code = sipmsg::reply_code(msg);
        if reply_code == 0 {
            return None;
        }
        if let Some(tag) = sipmsg::peer_tag(msg) {
            // Reuses the buffer: every response of a dialog carries it.
            let t = self.peer_tag.get_or_insert_with(Vec::new);
            t.clear();
            t.extend_from_slice(tag);
        }
        Some(Incoming {
            reply_code,
            request: b"",
            cseq_method: sipmsg::cseq_method(msg),
            // Only `response_txn` matching needs the branch.
            txn: if self.cfg.txn_count > 0 {
                sipmsg::top_branch(msg)
            } else {
                Vec::new()
            },
        })
    }

    /// Forward from the current element over optional receives, up to the
    /// first mandatory element.
    fn search_forward(&self, inc: &Incoming<'_>) -> Option<usize> {
        for i in self.msg_index..self.cfg.scenario.elements.len() {
            if self.matches(i, inc) {
                return Some(i);
            }
            if !self.is_optional(i) {
                break;
            }
        }
        None
    }

    /// Backward over contiguous optional receives (or global ones). A late
    /// response is dealt with here (`Break`): a final one to an INVITE
    /// gets its ACK again, one of an explicit transaction as that
    /// transaction says.
    fn search_backward(
        &mut self,
        inc: &Incoming<'_>,
        msg: &[u8],
        env: &mut Env<'_>,
    ) -> ControlFlow<Step, Option<usize>> {
        let cfg = self.cfg.clone();
        let mut contig = true;
        for i in (0..self.msg_index).rev() {
            let opt = self.optional_of(i);
            if opt == Optional::No {
                contig = false;
            }
            if !self.matches(i, inc) {
                continue;
            }
            if contig || opt == Optional::Global {
                return ControlFlow::Continue(Some(i));
            }
            if let Some(t) = cfg.txn_refs.get(i).and_then(|r| r.response) {
                // A late response of an explicit transaction (it matched,
                // so it is that transaction's): a provisional one changes
                // nothing; a final one of an INVITE transaction gets its
                // ACK again; the final response already taken,
                // retransmitted, is ignored.
                if (100..200).contains(&inc.reply_code) {
                    return ControlFlow::Break(Step::Blocked);
                }
                if let Some(ack) = self.txns.get(t).and_then(|x| x.ack_index) {
                    self.resend_scene(ack, env);
                    return ControlFlow::Break(Step::Blocked);
                }
                let h = self.msg_hash(msg);
                if self.txns.get(t).is_some_and(|x| x.final_hash == Some(h)) {
                    return ControlFlow::Break(Step::Blocked);
                }
                continue;
            }
            // A late response to an INVITE whose ACK follows: send that
            // ACK again to quench it.
            if inc.reply_code != 0
                && b"INVITE".starts_with(inc.cseq_method)
                && let Some(ElementKind::Send(s)) =
                    cfg.scenario.elements.get(i + 1).map(|e| &e.kind)
                && s.what == SendWhat::Request("ACK".into())
            {
                self.resend_scene(i + 1, env);
                return ControlFlow::Break(Step::Blocked);
            }
        }
        ControlFlow::Continue(None)
    }

    /// No element takes the message: the scenario's `_unexp.main` handler
    /// (once), else SIPp's automatic responses and unexpected-message
    /// rules.
    fn unmatched(&mut self, request: &[u8], msg: &[u8], env: &mut Env<'_>) -> Step {
        let cfg = self.cfg.clone();
        let sc = &cfg.scenario;
        let Some(&target) = sc.labels.get("_unexp.main") else {
            return self.automatic_response(request, msg, env);
        };
        if self.in_unexp_jump {
            return self.process_unexpected(msg, env);
        }
        self.in_unexp_jump = true;
        if let Some(ret) = sc.variables.iter().position(|v| v == "_unexp.retaddr") {
            self.set_var(ret, Value::Double(self.msg_index as f64), env);
        }
        self.msg_index = target;
        self.queued = Some(msg.to_vec());
        self.paused_until = None;
        Step::Again
    }

    /// Element `si` takes the message: loss emulation, counters, actions,
    /// then what the message changes in the call (CSeq, retransmission,
    /// route set, challenge), then the call moves on unless the element
    /// is an optional receive without a `next` to take.
    fn take(
        &mut self,
        si: usize,
        inc: &Incoming<'_>,
        cookie: u64,
        msg: &[u8],
        env: &mut Env<'_>,
    ) -> Step {
        if self.lose(si, env) {
            return Step::Blocked;
        }
        let cfg = self.cfg.clone();
        let found_el = &cfg.scenario.elements[si];
        if let Some(t) = cfg.txn_refs.get(si).and_then(|r| r.response) {
            // The transaction's final response (SIPp keeps the last taken).
            self.txn_mut(t).final_hash = Some(self.msg_hash(msg));
        }
        self.bookkeeping(found_el, env);
        env.stats.msg_recv(si);
        if let Some(s) = self.run_actions(&found_el.common.actions, Some(msg), env) {
            return s;
        }
        if !inc.request.is_empty() {
            let r = sipmsg::cseq_value(msg);
            if r > self.cseq {
                self.cseq = r;
            }
        }
        self.stop_retransmission(si, inc, env);
        if inc.reply_code == 200 {
            self.ack_pending = true;
        }
        let ElementKind::Recv(recv) = &found_el.kind else {
            return Step::Blocked;
        };
        if recv.rrs && self.route_set.is_none() {
            self.record_route(msg, inc.reply_code == 0, env);
        }
        if recv.auth && (inc.reply_code == 401 || inc.reply_code == 407) {
            let mut auth = sipmsg::header_content(msg, b"Proxy-Authenticate:");
            if auth.is_empty() {
                auth = sipmsg::header_content(msg, b"WWW-Authenticate:");
            }
            if auth.is_empty() {
                env.events.push(Event::Fatal(
                    "Couldn't find 'Proxy-Authenticate' or 'WWW-Authenticate' in 401 or 407!"
                        .into(),
                ));
                return Step::Blocked;
            }
            self.challenge = Some((auth, inc.reply_code));
            self.next_nonce_count.set(1);
        }
        if !recv.advance_state {
            return Step::Blocked;
        }
        self.last_recv_index = Some(si);
        self.last_recv_hash = cookie;
        self.last_recv.clear();
        self.last_recv.extend_from_slice(msg);
        let test_ok = found_el
            .common
            .test
            .is_none_or(|v| self.var(v, env).is_set());
        if recv.optional == Optional::No || (found_el.common.next.is_some() && test_ok) {
            // SIPp overwrites the index here, so a `jump` in a receive's
            // actions has no effect.
            self.jump = None;
            self.paused_until = None;
            self.msg_index = si;
            return self.next(env);
        }
        Step::Blocked
    }

    /// A received ACK, CANCEL, BYE, PRACK or response for an element after
    /// the last send stops that send's retransmission (a provisional
    /// response to a non-INVITE only slows it to T2).
    fn stop_retransmission(&mut self, si: usize, inc: &Incoming<'_>, env: &Env<'_>) {
        let stops =
            inc.reply_code != 0 || matches!(inc.request, b"ACK" | b"CANCEL" | b"BYE" | b"PRACK");
        if !stops || si <= self.last_send_index {
            return;
        }
        if inc.reply_code == 0 || inc.reply_code >= 200 || b"INVITE".starts_with(inc.cseq_method) {
            self.next_retrans = None;
        } else {
            self.next_retrans = Some(env.now + self.cfg.t2);
            self.last_delay = self.cfg.t2;
        }
    }

    /// `rrs="true"`: the route set and remote target of the dialog, from
    /// the message's Record-Route and Contact.
    fn record_route(&mut self, msg: &[u8], is_request: bool, env: &mut Env<'_>) {
        let rr = sipmsg::header_content(msg, b"Record-Route:");
        let contact = sipmsg::header_content(msg, b"Contact:");
        match sipmsg::route_set_and_target(&rr, &contact, is_request) {
            Some((set, target)) => {
                self.route_set = set;
                self.next_url = Some(target);
            }
            None => self.warn(env, "Cannot record route set if there is no Contact".into()),
        }
    }

    fn optional_of(&self, i: usize) -> Optional {
        match self.element(i).map(|e| &e.kind) {
            Some(ElementKind::Recv(r)) => r.optional,
            _ => Optional::No,
        }
    }

    fn is_optional(&self, i: usize) -> bool {
        self.optional_of(i) != Optional::No
    }

    /// SIPp's `matches_scenario`: whether the receive at `i` takes `inc`.
    fn matches(&self, i: usize, inc: &Incoming<'_>) -> bool {
        let Some(ElementKind::Recv(r)) = self.element(i).map(|e| &e.kind) else {
            return false;
        };
        let request = inc.request;
        match &r.matcher {
            RecvMatch::Request(m) => !request.is_empty() && m.as_bytes() == request,
            RecvMatch::RequestRegex(re) => !request.is_empty() && re.regex.is_match(request),
            RecvMatch::Response(code) => {
                if inc.reply_code == 0 || *code as u32 != inc.reply_code {
                    return false;
                }
                // `response_txn`: only a response of that transaction.
                if let Some(t) = self.cfg.txn_refs.get(i).and_then(|r| r.response) {
                    return self.txn_is(t, &inc.txn);
                }
                if i == 0 {
                    return true;
                }
                let list = &self.cfg.sent_methods[i];
                !list.is_empty() && memchr::memmem::find(list, inc.cseq_method).is_some()
            }
        }
    }

    /// Unexpected BYE/CANCEL/PING and (`-aa`) INFO/NOTIFY/OPTIONS/UPDATE.
    fn automatic_response(&mut self, request: &[u8], msg: &[u8], env: &mut Env<'_>) -> Step {
        let b = self.cfg.behaviors;
        match request {
            b"BYE" | b"CANCEL" => {
                self.last_recv.clear();
                self.last_recv.extend_from_slice(msg);
                env.stats.msg_unexpected(self.msg_index);
                if b.abort_unexp {
                    self.warn(
                        env,
                        format!(
                            "Aborting call on an unexpected {} for call: {}",
                            String::from_utf8_lossy(request),
                            String::from_utf8_lossy(&self.call_id)
                        ),
                    );
                    if b.bye {
                        self.send_default("200", Index::Default, env);
                    }
                    self.fail(FailReason::UnexpectedMessage, env);
                    return Step::Ended;
                }
                Step::Blocked
            }
            b"PING" => {
                self.last_recv.clear();
                self.last_recv.extend_from_slice(msg);
                if b.ping_reply {
                    self.send_default("200", Index::Default, env);
                    env.stats.auto_answered();
                    self.end_silently(env);
                    return Step::Ended;
                }
                Step::Blocked
            }
            b"INFO" | b"NOTIFY" | b"OPTIONS" | b"UPDATE" if self.cfg.auto_answer => {
                self.warn(
                    env,
                    format!(
                        "Automatic response mode for an unexpected INFO, NOTIFY, OPTIONS or UPDATE for call: {}",
                        String::from_utf8_lossy(&self.call_id)
                    ),
                );
                let saved = std::mem::replace(&mut self.last_recv, msg.to_vec());
                self.send_default("200", Index::Default, env);
                self.last_recv = saved;
                env.stats.auto_answered();
                Step::Blocked
            }
            _ => self.process_unexpected(msg, env),
        }
    }

    /// SIPp's `process_unexpected`.
    fn process_unexpected(&mut self, msg: &[u8], env: &mut Env<'_>) -> Step {
        env.stats.msg_unexpected(self.msg_index);
        let b = self.cfg.behaviors;
        let first = msg
            .split(|&c| c == b'\r' || c == b'\n')
            .next()
            .unwrap_or(b"");
        self.warn(
            env,
            format!(
                "{} call on unexpected message for Call-Id '{}' (index {}), received '{}'",
                if b.abort_unexp {
                    "Aborting"
                } else {
                    "Continuing"
                },
                String::from_utf8_lossy(&self.call_id),
                self.msg_index,
                String::from_utf8_lossy(first)
            ),
        );
        if b.abort_unexp {
            self.last_recv.clear();
            self.last_recv.extend_from_slice(msg);
            return self.fail_and_abort(FailReason::UnexpectedMessage, env);
        }
        Step::Blocked
    }
}
