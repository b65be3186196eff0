//! What the core writes: forwarded copies (RFC 3261 §16.6), responses
//! generated here (§8.2.6, §16.7), our Via branches (§16.11), and the
//! queue of datagrams waiting for [`super::ProxyCore::poll_transmit`].
//!
//! Everything is written in one pass over the received bytes with the
//! parser's [`Edits`], into pooled buffers; nothing here allocates per
//! message once the buffers are warm.

use std::collections::VecDeque;
use std::net::SocketAddr;

use core::hash::{BuildHasher, Hasher};
use trunkline_parser::{
    CSeq, Edits, HeaderName, LocalCtx, LocalPart, Message, Method, NameAddr, Parser, Piece,
    ResponseSpec, Summary, Via, stamp_via, write_response,
};

use super::config::ProxyConfig;
use super::next_hop::NextHopPlan;
use super::stages::{Request, edits::HeaderEdits};
use super::topology::{Refusal, Sealer};
use super::{Transmit, can_create_dialog};
use crate::lcr::{self, Target};

/// A request being answered here: the message, its parsed top Via and
/// Call-ID, and where it came from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answering<'m, 'a> {
    pub msg: &'m Message<'a>,
    pub via: &'m Via<'a>,
    pub call_id: &'a [u8],
    /// The From tag and CSeq number (what our To tag is made of, with
    /// the Call-ID): from the request's summary, or [`Answering::of`].
    pub from_tag: &'a [u8],
    pub seq: u32,
    /// Where it came from: the top Via is stamped with it (none for a
    /// request kept in a context: its copy is stamped already).
    pub src: Option<SocketAddr>,
}

impl<'m, 'a> Answering<'m, 'a> {
    /// A request without a summary (kept in a context, or refused before
    /// validation): its Call-ID, From tag and CSeq number read from the
    /// headers (a rare path: the usual one has them from validation).
    pub fn of(msg: &'m Message<'a>, via: &'m Via<'a>, src: Option<SocketAddr>) -> Self {
        Answering {
            msg,
            via,
            call_id: msg.call_id().unwrap_or_default(),
            from_tag: msg
                .header_value(HeaderName::From)
                .and_then(|v| NameAddr::parse(v).ok())
                .and_then(|f| f.tag())
                .unwrap_or_default(),
            seq: msg
                .header_value(HeaderName::CSeq)
                .and_then(|v| CSeq::parse(v).ok())
                .map_or(0, |c| c.seq),
            src,
        }
    }
}

/// The core's writer and outbox.
#[derive(Debug)]
pub(crate) struct Wire {
    /// Writes responses generated here.
    pub responder: Responder,
    /// Our branch for the copy being built.
    branch: Vec<u8>,
    /// The key of our branches' hash.
    branch_key: [u64; 2],
    out: VecDeque<(Transmit, Vec<u8>)>,
    /// Parses kept requests to write what answers or cancels them.
    parser: Parser,
    /// Topology hiding's tokens, when it is on.
    th: Option<Sealer>,
    /// Every call is hidden (`[topology_hiding] enabled`), not only those
    /// policy rules pick.
    hide_all: bool,
    /// The next copy is hidden ([`Wire::set_hiding`]).
    hide: bool,
    /// The next copy goes to a registered contact ([`Wire::set_contact`]):
    /// its Request-URI and Route (the binding's Path).
    contact: Option<(Vec<u8>, Vec<u8>)>,
}

/// What writes every message: the edits, scratch, and the hash behind
/// local To tags.
#[derive(Debug)]
pub(crate) struct Responder {
    edits: Edits,
    /// Scratch: a local reply's To tag, a rewritten Request-URI.
    tag: Vec<u8>,
    /// The To tag hash (and the per-request draw seed).
    hash: foldhash::fast::FixedState,
    /// `Server: ...` for the responses generated here, or empty.
    server: Box<[u8]>,
}

impl Responder {
    /// Writes a response generated here to `to`'s request into `buf`: the
    /// To tag stable for the transaction (a retransmission answered
    /// statelessly gets the same tag, §8.2.6.2), the configured `Server`
    /// line if any, up to three `extra` header lines, and the top Via's
    /// `received` and `rport` filled as the request arrived (§18.2.1,
    /// RFC 3581 §4).
    pub fn local_response(
        &mut self,
        to: &Answering<'_, '_>,
        code: u16,
        reason: &[u8],
        extra: &[&[u8]],
        buf: &mut Vec<u8>,
    ) -> bool {
        local_tag(&self.hash, to.call_id, to.from_tag, to.seq, &mut self.tag);
        let mut lines: [&[u8]; 4] = [b""; 4];
        let mut n = 0;
        if !self.server.is_empty() {
            lines[0] = &self.server;
            n = 1;
        }
        for e in extra.iter().take(4 - n) {
            lines[n] = e;
            n += 1;
        }
        let spec = ResponseSpec {
            code,
            reason,
            to_tag: Some(&self.tag),
            extra_headers: &lines[..n],
            via_source: to.src,
            top_via: Some(to.via),
        };
        write_response(to.msg, &spec, &mut self.edits, buf).is_ok()
    }

    /// Whether `to_tag` is the tag our replies to the request (`call_id`,
    /// From tag `from_tag`, CSeq number `seq`) carry: an ACK with it
    /// acknowledges a reply of ours (§17.1.1.3), even with a branch that
    /// matches no transaction (SIPp's ACK to a 407 has a new one), and
    /// is absorbed, not forwarded; Kamailio's sl module does the same.
    pub fn is_our_tag(&mut self, call_id: &[u8], from_tag: &[u8], seq: u32, to_tag: &[u8]) -> bool {
        local_tag(&self.hash, call_id, from_tag, seq, &mut self.tag);
        self.tag == to_tag
    }
}

impl Wire {
    /// A writer whose branches are keyed with `branch_key`, whose local
    /// responses carry `server` (a `Server: ...` line, or empty), hiding
    /// every call's topology when `hide`, the calls policy rules pick
    /// when `hide_some` (its tokens keyed from `branch_key` too).
    pub fn new(branch_key: [u64; 2], server: &[u8], hide: bool, hide_some: bool) -> Wire {
        Wire {
            responder: Responder {
                edits: Edits::new(),
                tag: Vec::with_capacity(32),
                hash: foldhash::fast::FixedState::with_seed(branch_key[0] ^ branch_key[1]),
                server: server.into(),
            },
            branch: Vec::with_capacity(40),
            branch_key,
            out: VecDeque::new(),
            parser: Parser::default(),
            th: (hide || hide_some).then(|| Sealer::new(branch_key)),
            hide_all: hide,
            hide,
            contact: None,
        }
    }

    /// The next copy [`Wire::forward`] writes goes to registered contact
    /// `c` (none: as planned). Taken by that copy.
    pub fn set_contact(&mut self, c: Option<&super::contexts::ContactHop>) {
        let Some(c) = c else {
            if let Some((uri, _)) = self.contact.as_mut() {
                uri.clear();
            }
            return;
        };
        let (uri, route) = self.contact.get_or_insert_with(Default::default);
        uri.clear();
        uri.extend_from_slice(&c.uri);
        route.clear();
        route.extend_from_slice(&c.route);
    }

    /// Queues `bytes` for `dest`, leaving by listener `local`.
    pub fn queue(&mut self, dest: SocketAddr, local: u16, bytes: Vec<u8>) {
        self.out.push_back((Transmit { dest, local }, bytes));
    }

    /// The next queued datagram.
    pub fn pop(&mut self) -> Option<(Transmit, Vec<u8>)> {
        self.out.pop_front()
    }

    /// A per-request draw seed, stable for the request (its Call-ID and
    /// CSeq number): orders a name's addresses.
    pub fn seed_of(&self, call_id: &[u8], cseq: u32) -> u64 {
        self.responder.hash.hash_one(call_id) ^ u64::from(cseq)
    }

    /// The branch [`Wire::make_branch`] built last.
    pub fn branch(&self) -> &[u8] {
        &self.branch
    }

    /// Our branch for forwarding `req`: `z9hG4bK` + a keyed hash
    /// (SipHash-1-3) of what identifies the incoming transaction (§16.11),
    /// so a stateless CANCEL or non-2xx ACK gets the branch of its INVITE,
    /// and a response can be checked to answer a request we forwarded
    /// ([`Wire::is_our_branch`]). ACK for 2xx and every other request hash
    /// their own top Via. Copy `k` > 0 of a serial search gets `.k`
    /// appended (each copy is its own client transaction, §16.6 step 8).
    pub fn make_branch(&mut self, req: &Request<'_, '_>, copy: usize) {
        let hash = self.transaction_hash(req.sum);
        self.branch.clear();
        self.branch.extend_from_slice(b"z9hG4bK");
        push_hex(&mut self.branch, hash, 16);
        if copy > 0 {
            self.branch.push(b'.');
            push_decimal(&mut self.branch, copy);
        }
    }

    fn hasher(&self) -> siphasher::sip::SipHasher13 {
        siphasher::sip::SipHasher13::new_with_keys(self.branch_key[0], self.branch_key[1])
    }

    /// The hash our branch carries for a request with top Via `v` and
    /// the Call-ID, From tag and CSeq of `sum`: the Via's branch and
    /// sent-by (RFC 3261 branch), or for an RFC 2543 one what else
    /// identifies the transaction and a response carries as well (its
    /// sent-by, Call-ID, From tag and CSeq number, §17.2.3; a CANCEL has
    /// them all of its INVITE).
    fn transaction_hash_of(&self, v: &Via<'_>, sum: &Summary<'_>) -> u64 {
        let mut h = self.hasher();
        if v.is_rfc3261_branch() {
            h.write(v.branch.unwrap_or_default());
            h.write(v.sent_by);
        } else {
            h.write(v.sent_by);
            h.write(sum.call_id);
            h.write(sum.from.tag().unwrap_or_default());
            h.write_u32(sum.cseq.seq);
        }
        h.finish()
    }

    fn transaction_hash(&self, sum: &Summary<'_>) -> u64 {
        self.transaction_hash_of(&sum.top_via, sum)
    }

    /// Whether `ours`, the branch of the top Via of a response, is one we
    /// made for a request whose top Via was `next` (the response's second
    /// Via; `sum` is the response's): what a response relayed without a
    /// transaction must show (a forged branch would make us reflect
    /// whatever an attacker sends to the address in its second Via).
    pub fn is_our_branch(&self, ours: &[u8], next: &Via<'_>, sum: &Summary<'_>) -> bool {
        let Some(hex) = ours.strip_prefix(b"z9hG4bK") else {
            return false;
        };
        let hex = match hex.iter().position(|&b| b == b'.') {
            Some(dot) => &hex[..dot],
            None => hex,
        };
        if hex.len() != 16 {
            return false;
        }
        let mut expected = [0u8; 16];
        let mut v = self.transaction_hash_of(next, sum);
        for b in expected.iter_mut().rev() {
            *b = b"0123456789abcdef"[(v & 0xf) as usize];
            v >>= 4;
        }
        hex.eq_ignore_ascii_case(&expected)
    }

    /// Writes the copy of `req` to forward (§16.6) into `buf`, with the
    /// branch [`Wire::make_branch`] built, to leave by listener `out`:
    /// the Request-URI for `target` (least-cost routing) or the plan, the
    /// Route set, Max-Forwards, the previous hop's Via (§18.2.1, RFC
    /// 3581), Record-Route, our Via, and the header rules (`edits`);
    /// hiding topology, the Vias, Record-Route values and Contacts of the
    /// sender's side go into tokens (see `topology`). False: it could not
    /// be written (or hidden).
    #[allow(clippy::too_many_arguments)] // one copy's every input
    pub fn forward(
        &mut self,
        cfg: &ProxyConfig,
        header_edits: &HeaderEdits,
        req: &Request<'_, '_>,
        plan: &NextHopPlan,
        target: Option<&Target>,
        out: u16,
        buf: &mut Vec<u8>,
    ) -> bool {
        let (msg, src, local) = (req.msg, req.src, req.local);
        let e = &mut self.responder.edits;
        e.clear();
        if let Some(t) = target.filter(|t| !t.keeps_request_uri()) {
            lcr::rewrite_request_uri(msg, t, e, &mut self.responder.tag);
        }
        // A registered contact (§16.5): the Request-URI is the contact,
        // the binding's Path the Route set (RFC 3327 §5.3).
        if let Some((uri, route)) = self.contact.as_ref().filter(|(u, _)| !u.is_empty()) {
            if let Some(span) = msg.request_uri_span() {
                let piece = e.scratch(uri);
                e.replace(span, piece);
            }
            if !route.is_empty() {
                let value = e.scratch(route);
                e.insert_header_before(msg, 0, b"Route", &[value]);
            }
        }
        if let Some((uri, _)) = self.contact.as_mut() {
            uri.clear();
        }
        // Step 2: the Request-URI (strict routing only; we are not the
        // authority for any domain).
        if let (Some(new), Some(old)) = (plan.new_ruri, msg.request_uri_span()) {
            e.replace(old, Piece::Original(new));
        }
        // §16.4 / step 6: Route values that were ours, or moved.
        let mut i = 0;
        while i < plan.remove.len() {
            let h = plan.remove[i].0;
            let mut idx = [0usize; 8];
            let mut n = 0;
            while i < plan.remove.len() && plan.remove[i].0 == h {
                if n < idx.len() {
                    idx[n] = plan.remove[i].1;
                    n += 1;
                }
                i += 1;
            }
            e.remove_values(msg, h, &idx[..n]);
        }
        if let Some(after) = plan.append_ruri_after {
            if let Some(ruri) = msg.request_uri_span() {
                e.insert_header_after(
                    msg,
                    after,
                    b"Route",
                    &[
                        Piece::Static(b"<"),
                        Piece::Original(ruri),
                        Piece::Static(b">"),
                    ],
                );
            }
        }
        // Step 3: Max-Forwards.
        match msg.first(HeaderName::MaxForwards) {
            Some(h) => {
                let mf = req.sum.max_forwards.unwrap_or(70);
                let v = e.scratch_decimal(b"", u32::from(mf.saturating_sub(1)), b"");
                e.replace(h.value, v);
            }
            None => e.append_header(msg, b"Max-Forwards", &[Piece::Static(b"70")]),
        }
        // Topology hiding (see `topology`): not for REGISTER.
        let hide = self.hide;
        let mut th = self
            .th
            .as_mut()
            .filter(|_| hide && msg.method() != Some(Method::Register));
        // §18.2.1 / RFC 3581 §4 on the previous hop's Via; hiding, every
        // Via goes into our Via's token instead, the previous hop's
        // stamped.
        let hidden_vias = match th.as_mut() {
            Some(th) => match th.hide_vias(e, msg, &req.sum.top_via, src, &self.branch) {
                Ok(token) => Some(token),
                Err(_) => return false,
            },
            None => {
                stamp_via(e, msg, &req.sum.top_via, src);
                None
            }
        };
        // Step 4: Record-Route on requests that can create a dialog
        // (always when hiding: the dialog must come back through us).
        let addrs = &cfg.locals.addrs;
        let a = &addrs[usize::from(out) % addrs.len()];
        let record_route = req.initial() && can_create_dialog(msg.method());
        // Hiding, the Record-Route values already there go into our
        // Record-Route's token (only ours goes on), or just go.
        let rr_token = match th.as_mut() {
            Some(th) => match th.hide_record_routes(e, msg, record_route) {
                Ok(token) => token,
                Err(_) => return false,
            },
            None => None,
        };
        let (tlr, rr_token) = match rr_token {
            Some(t) => (Piece::Static(b";tlr="), t),
            None => (Piece::Static(b""), Piece::Static(b"")),
        };
        // Also when the UA preloaded a Route to us (we are its outbound
        // proxy): the dialog must still come back through us.
        if (cfg.record_route || th.is_some()) && record_route {
            let ingress = &addrs[usize::from(local) % addrs.len()];
            if out == local || ingress.host_port == a.host_port {
                e.add_record_route(
                    msg,
                    &[
                        Piece::Static(b"<sip:"),
                        Piece::Local(LocalPart::HostPort),
                        Piece::Static(b";lr"),
                        tlr,
                        rr_token,
                        Piece::Static(b">"),
                    ],
                );
            } else {
                // RFC 5658 double Record-Route: the copy leaves by another
                // listener (the other address family). The callee's route
                // set starts with the address it can reach, the caller's
                // (reversed) with the one it can; both are ours and both
                // are taken off when a request comes back (§16.4).
                let back = e.scratch(ingress.host_port.as_bytes());
                e.add_record_route(
                    msg,
                    &[
                        Piece::Static(b"<sip:"),
                        Piece::Local(LocalPart::HostPort),
                        Piece::Static(b";lr;r2=on"),
                        tlr,
                        rr_token,
                        Piece::Static(b">, <sip:"),
                        back,
                        Piece::Static(b";lr;r2=on>"),
                    ],
                );
            }
        }
        // Hiding: the sender's Contact behind one of ours.
        if let Some(th) = th.as_mut() {
            if th.hide_contacts(e, msg).is_err() {
                return false;
            }
            if !header_edits.replaces_identities() {
                th.mask_identities(e, msg, &cfg.locals);
            }
        }
        // The header rules' slot (none yet).
        header_edits.apply(req, e);
        // Step 8: our Via (with the hidden ones' token).
        let branch = e.scratch(&self.branch);
        let (tlh, hidden_vias) = match hidden_vias {
            Some(t) => (Piece::Static(b";tlh="), t),
            None => (Piece::Static(b""), Piece::Static(b"")),
        };
        e.add_top_via(
            msg,
            &[
                Piece::Static(b"SIP/2.0/UDP "),
                Piece::Local(LocalPart::HostPort),
                Piece::Static(b";branch="),
                branch,
                tlh,
                hidden_vias,
            ],
        );
        let ctx = LocalCtx {
            host_port: a.host_port.as_bytes(),
            transport: b"UDP",
        };
        e.write(msg, &ctx, buf).is_ok()
    }

    /// Writes `msg` with its top Via (ours) removed into `buf`.
    pub fn without_top_via(&mut self, msg: &Message<'_>, buf: &mut Vec<u8>) -> bool {
        let e = &mut self.responder.edits;
        e.clear();
        e.remove_top_via(msg);
        e.write(msg, &LocalCtx::default(), buf).is_ok()
    }

    /// Writes `msg`, a response going upstream by listener `out`, into
    /// `buf` (§16.7 steps 3 and 9): our Via removed; hiding topology, the
    /// Vias it hid put back and the downstream side hidden (see
    /// `topology`). `Ok(false)`: it could not be written; `Err`: hiding
    /// refused it (a bad token, too much to hide).
    pub fn relay(
        &mut self,
        cfg: &ProxyConfig,
        msg: &Message<'_>,
        out: u16,
        buf: &mut Vec<u8>,
        restore: Option<&crate::proxy::stages::edits::Identities>,
    ) -> Result<bool, Refusal> {
        // Hiding some calls only (policy rules): a response is revealed
        // when our Via carries the hidden Vias (its request was hidden).
        let hidden = self.hide_all
            || msg.top_via().is_ok_and(|v| {
                v.param_iter()
                    .get(crate::proxy::topology::VIA_PARAM)
                    .is_some()
            });
        let Some(th) = self.th.as_mut().filter(|_| hidden) else {
            let Some(ids) = restore else {
                return Ok(self.without_top_via(msg, buf));
            };
            let e = &mut self.responder.edits;
            e.clear();
            e.remove_top_via(msg);
            ids.apply(e, msg);
            return Ok(e.write(msg, &LocalCtx::default(), buf).is_ok());
        };
        let e = &mut self.responder.edits;
        e.clear();
        // Identities put back (header rules) replace what masking would.
        th.reveal_response(e, msg, &cfg.locals, restore.is_none())?;
        if let Some(ids) = restore {
            // The identities the request came with (header rules).
            ids.apply(e, msg);
        }
        let addrs = &cfg.locals.addrs;
        let ctx = LocalCtx {
            host_port: addrs[usize::from(out) % addrs.len()].host_port.as_bytes(),
            transport: b"UDP",
        };
        Ok(e.write(msg, &ctx, buf).is_ok())
    }

    /// Whether the next copy is hidden: every one with `[topology_hiding]
    /// enabled, else those of the calls a policy rule picked.
    pub fn set_hiding(&mut self, hide: bool) {
        self.hide = self.hide_all || hide;
    }

    /// Opens the hidden Vias' token of `top`, our Via on a response
    /// relayed statelessly; `Ok(false)`: it has none (or hiding is off).
    pub fn open_hidden_vias(&mut self, top: &Via<'_>) -> Result<bool, Refusal> {
        match self.th.as_mut() {
            Some(th) => th.open_vias(top),
            None => Ok(false),
        }
    }

    /// The first Via [`Wire::open_hidden_vias`] found: the next hop.
    pub fn first_hidden_via(&self) -> Option<Via<'_>> {
        self.th.as_ref()?.first_hidden_via()
    }

    /// Writes the CANCEL for the INVITE whose bytes we sent, `invite`
    /// (§9.1), into `buf`.
    pub fn cancel(&mut self, invite: &[u8], buf: &mut Vec<u8>) -> bool {
        match self.parser.parse(invite) {
            Ok(inv) => trunkline_parser::write_cancel(&inv, &mut self.responder.edits, buf).is_ok(),
            Err(_) => false,
        }
    }

    /// Writes a final response generated here (408, 487, 500, 503) to the
    /// request a context kept, `request`, into `buf`.
    pub fn local_final(
        &mut self,
        request: &[u8],
        code: u16,
        reason: &[u8],
        buf: &mut Vec<u8>,
    ) -> bool {
        let Ok(msg) = self.parser.parse(request) else {
            return false;
        };
        let Ok(via) = msg.top_via() else {
            return false;
        };
        let to = Answering::of(&msg, &via, None);
        self.responder.local_response(&to, code, reason, &[], buf)
    }
}

/// A To tag for a response generated here: a keyed hash of what an ACK
/// shares with its INVITE (Call-ID, From tag, CSeq number; §17.1.1.3),
/// so that a retransmitted request answered statelessly gets the same
/// tag (§8.2.6.2), and the ACK of the reply is recognised whatever its
/// branch ([`Responder::is_our_tag`]).
fn local_tag(
    hasher: &foldhash::fast::FixedState,
    call_id: &[u8],
    from_tag: &[u8],
    seq: u32,
    out: &mut Vec<u8>,
) {
    let mut h = hasher.build_hasher();
    h.write(call_id);
    h.write_u8(0);
    h.write(from_tag);
    h.write_u32(seq);
    out.clear();
    push_hex(out, h.finish(), 16);
}

/// The low `digits` nibbles of `v` in lowercase hex, most significant
/// first (what `{:0digits$x}` prints for a value that fits; no `core::fmt`
/// on the hot path).
pub(crate) fn push_hex(out: &mut Vec<u8>, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 0xf) as usize]);
    }
}

/// `v` in decimal.
fn push_decimal(out: &mut Vec<u8>, v: usize) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_hex_prints_what_format_prints() {
        let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
        for _ in 0..10_000 {
            let x = rng.u64(..);
            let mut out = Vec::new();
            push_hex(&mut out, x, 16);
            assert_eq!(out, format!("{x:016x}").into_bytes());
            out.clear();
            push_hex(&mut out, x & 0xffff_ffff, 8);
            assert_eq!(out, format!("{:08x}", x as u32).into_bytes());
        }
    }
}
