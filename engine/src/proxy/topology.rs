//! Topology hiding (`[topology_hiding] enabled = true`): each side of a
//! call sees only us. No Via, Record-Route, Route or Contact of the other
//! side reaches it, and no per-call state is kept: what we need to undo
//! the hiding travels in the messages themselves, in authenticated and
//! encrypted tokens that only we can read (Kamailio's topoh does the same
//! with masked parameters). A restarted process reads the tokens the old
//! one issued, as long as it has the same key (`[security] secret_file`).
//!
//! # What goes where
//!
//! A request we forward (RFC 3261 §16.6), but REGISTER (hiding applies to
//! dialogs; a registrar must see the real binding):
//!
//! - **Via** (§16.6 step 8, §18.2.1): every Via is taken off. Their values
//!   go into a token in our own Via, `;tlh=TOKEN`; the top one is sealed
//!   stamped with `received`/`rport` as §18.2.1 and RFC 3581 §4 would have
//!   stamped it in place. The token is bound to our branch. The next hop
//!   sees only our Via.
//! - **Record-Route** (§16.6 step 4, §12.1.1): on a request that can
//!   create a dialog, the values already there (the upstream side's) are
//!   taken off and go into a token in our Record-Route URI,
//!   `<sip:US;lr;tlr=TOKEN>`: the route set from us to the upstream side,
//!   which the downstream side's in-dialog requests bring back in their
//!   Route (§12.2.1.1). On any other request, Record-Route values are
//!   taken off. Hiding forces record-routing: the config refuses
//!   `record_route = false` with it.
//! - **Contact** (§8.1.1.8, §12.1.1): each URI is replaced by one of ours,
//!   `<sip:TOKEN@US;tlc>`, the token holding the original URI. The header
//!   parameters (`expires`, `q`, `+sip.instance`, ...) stay as they were.
//!
//! A response we relay upstream (§16.7 steps 3 and 9), whichever path
//! takes it (a provisional or 2xx through the server transaction, the
//! best final response, or statelessly, §16.11):
//!
//! - **Via**: ours is taken off and the Vias its token holds put back, in
//!   order. The stateless path checks our branch (§16.11) against the
//!   first of them, as it would against the next Via.
//! - **Record-Route**: the values above ours (the downstream side's)
//!   are taken off; reversed, they are the route set from us to the
//!   downstream side (§12.1.2), sealed into a new `tlr` token on our value.
//!   Our value is followed by the upstream side's values from the token
//!   our value came back with. The upstream side thus records `[its
//!   proxies..., us]` and nothing more. A response with Record-Route
//!   values but none of ours (to an in-dialog request) loses them all.
//! - **Contact**: as in requests (the callee's target, the 3xx targets).
//!
//! An in-dialog request reaching us (§16.4, §12.2.1.1) carries our
//! Record-Route URI as its top Route and usually one of our Contact URIs
//! as its Request-URI. Before the pipeline sees it, it is rewritten:
//! the Request-URI becomes the Contact its token holds (the far side's
//! remote target), and the route set the `tlr` token holds goes in just
//! after our Route values. From there on nothing differs from a request
//! that came with those values: §16.4 takes our Route values off, the next
//! hop is the first route left or the Request-URI (loose routing), the
//! branch is computed from the top Via, which is untouched (so CANCEL and
//! ACK for a non-2xx match their INVITE), and the copy is written and hidden
//! as above. A request whose Request-URI is one of our Contacts but that
//! carries none of our Route values gets ours added when it is in a
//! dialog, so that it counts as following our Record-Route (a UA that
//! dropped its route set still reaches the far side).
//!
//! # Why the route set rides in the Record-Route, not in the Contact
//!
//! Carrying the route set toward a side in the Contact token we give the
//! other side works for the first requests, but not for a target refresh
//! (re-INVITE, UPDATE, the NOTIFY of a SUBSCRIBE refresh) from the callee
//! side: its new Contact must be hidden behind a token that holds the
//! route set toward the callee, and nothing in that request tells it (its
//! Route holds only us; the callee side's Record-Route values were learnt
//! from the 2xx, after we had given the callee its Contact token). The
//! route set of a dialog never changes once set (§12.1.1, §12.1.2,
//! §12.2.1.2), and each side brings its own back in every request: so the
//! route set from us toward the far side goes into *our Record-Route URI
//! as that side records it*, and the Contact token holds only the target.
//! Our Record-Route value thus differs between the two sides (its `tlr`
//! token), which is what an SBC's two legs look like; each side treats it
//! as opaque.
//!
//! # Tokens
//!
//! A token is `base64url(ciphertext || tag)`, without padding (token,
//! URI user and URI parameter characters alike, §25.1). The plaintext is a
//! list of values, each a 16-bit length and its bytes: at most
//! [`MAX_HIDDEN`] values and [`MAX_PLAIN`] bytes. It is sealed with
//! AES-256-GCM-SIV (RFC 8452, RustCrypto's `aes-gcm-siv`), the token's
//! kind (Via, Record-Route, Contact: one cannot stand for another) and
//! what it is bound to (our branch, for a Via token) authenticated as
//! associated data; the 16-byte tag authenticates the rest. GCM-SIV is
//! deterministic with a fixed nonce and safe so (it reveals only that two
//! tokens hold the same values): a retransmission gets the same token,
//! and no nonce has to be unique. The key is derived from
//! `ProxyConfig::branch_key`, so it survives a restart with
//! `secret_file`. A token that does not
//! decode or whose tag is wrong is never trusted: a request carrying one
//! is refused with 403 (an ACK dropped), a response dropped; both counted
//! (`th_bad_tokens`).
//!
//! # Bounds
//!
//! More than [`MAX_HIDDEN`] Vias, Record-Route values or Contacts to hide
//! in a message, or more than [`MAX_PLAIN`] bytes of them, and the request
//! is refused with 403 (the response dropped), counted (`th_refused`):
//! hiding eight hops' Vias costs ~1.5 kB already. Every pass over peer
//! input is linear, nothing allocates per message once the buffers are
//! warm, and nothing panics on what a peer sends.
//!
//! # Not hidden
//!
//! From, To, Call-ID, the body (SDP: a media relay's job), Refer-To,
//! Replaces, Path, P-Asserted-Identity and other headers naming hosts, and
//! the BYEs call control sends itself (`[dialogs] max_duration_s`), which
//! carry only our Via. A strict router (§16.4, no `lr`) next to us is not
//! supported while hiding: decoded route sets are used as loose routes.
//! Tokens do not expire (a dialog may last for days and nothing is
//! stored): a peer that saw a Contact token can reach its target through
//! us for as long as the key lives.

use std::net::SocketAddr;
use std::time::Instant;

use aes_gcm_siv::aead::AeadInPlace as _;
use aes_gcm_siv::{Aes256GcmSiv, KeyInit as _, Nonce, Tag};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use trunkline_parser::values::CommaValues;
use trunkline_parser::{
    Edits, HeaderName, Limits, LocalCtx, LocalPart, Message, Method, NameAddr, Parser, Piece, Span,
    Uri, ValidateOptions, Via, validate_with,
};

use super::next_hop::Locals;
use super::{Pipeline, Request, Stored};

/// The most values one token holds (Vias, Record-Route values), and the
/// most Contacts one message may have hidden.
pub const MAX_HIDDEN: usize = 8;
/// The most plaintext bytes one token holds.
pub const MAX_PLAIN: usize = 2048;
/// The AES-GCM-SIV tag, in bytes.
const TAG_LEN: usize = 16;
/// The most bytes a token is bound to (its kind and our branch).
const MAX_BIND: usize = 64;
/// The one nonce: AES-GCM-SIV (RFC 8452) is built for nonce reuse, which
/// then reveals only that two tokens hold the same values (what a
/// retransmission needs anyway: the same input seals to the same token).
const NONCE: [u8; 12] = *b"trunkline-th";
/// The longest token text that can be ours.
const MAX_TEXT: usize = (MAX_PLAIN + TAG_LEN).div_ceil(3) * 4;

/// Our Via's parameter holding the hidden Vias.
pub(crate) const VIA_PARAM: &[u8] = b"tlh";
/// Our Record-Route URI's parameter holding the route set toward the far side.
const RR_PARAM: &[u8] = b"tlr";
/// The URI parameter marking our Contact URIs (the token is the user part).
const CONTACT_PARAM: &[u8] = b"tlc";

const B64: &data_encoding::Encoding = &data_encoding::BASE64URL_NOPAD;

/// What a token is for (part of what its tag covers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Vias = b'V',
    Routes = b'R',
    Contact = b'C',
}

/// Why a message could not be hidden or revealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A token that does not decode, or whose tag is wrong: not ours, or
    /// altered on the way.
    BadToken,
    /// More than [`MAX_HIDDEN`] values, or [`MAX_PLAIN`] bytes, to hide.
    TooMany,
    /// A value to hide (a Contact, a Record-Route value) does not parse.
    Malformed,
}

/// Seals values into tokens and opens them: the key and the buffers.
/// A token is `base64url(ciphertext ‖ tag)` of AES-256-GCM-SIV (RFC 8452,
/// RustCrypto's `aes-gcm-siv`: AES-NI and CLMUL where the CPU has them),
/// the values encrypted and authenticated, the token's kind and what it
/// is bound to (our branch, for the Via token) authenticated as
/// associated data.
pub(crate) struct Sealer {
    cipher: Aes256GcmSiv,
    /// The associated data of the token being sealed or opened.
    aad: [u8; 1 + MAX_BIND],
    /// The values being sealed: (16-bit length, bytes)*.
    plain: Vec<u8>,
    /// How many values `plain` holds.
    count: usize,
    /// The values of the token opened last (same layout).
    opened: Vec<u8>,
    /// Tag and ciphertext.
    raw: Vec<u8>,
    /// The token text sealed last.
    text: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive() // no keys in logs
    }
}

impl Sealer {
    /// A sealer keyed from `branch_key` (the AES key derived from it with
    /// HMAC-SHA256 and a label).
    pub fn new(branch_key: [u64; 2]) -> Sealer {
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&branch_key[0].to_le_bytes());
        secret[8..].copy_from_slice(&branch_key[1].to_le_bytes());
        // HMAC takes keys of any length: these cannot fail.
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut m = <Hmac<Sha256> as hmac::Mac>::new_from_slice(&secret)
                .unwrap_or_else(|_| unreachable!());
            m.update(label);
            m.finalize().into_bytes().into()
        };
        Sealer {
            cipher: Aes256GcmSiv::new(&derive(b"trunkline topology hiding: aes-gcm-siv").into()),
            aad: [0; 1 + MAX_BIND],
            plain: Vec::with_capacity(512),
            count: 0,
            opened: Vec::with_capacity(512),
            raw: Vec::with_capacity(512),
            text: Vec::with_capacity(700),
        }
    }

    /// Starts a new list of values to seal.
    fn begin(&mut self) {
        self.plain.clear();
        self.count = 0;
    }

    /// Adds `value` to the list being sealed.
    fn push(&mut self, value: &[u8]) -> Result<(), Refusal> {
        self.push_with(|out| out.extend_from_slice(value))
    }

    /// Adds the value `write` appends to the list being sealed.
    fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Refusal> {
        if self.count == MAX_HIDDEN {
            return Err(Refusal::TooMany);
        }
        let at = self.plain.len();
        self.plain.extend_from_slice(&[0, 0]);
        write(&mut self.plain);
        let len = self.plain.len() - at - 2;
        if self.plain.len() > MAX_PLAIN {
            return Err(Refusal::TooMany);
        }
        // MAX_PLAIN < 65536: the length fits.
        self.plain[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
        self.count += 1;
        Ok(())
    }

    /// The associated data of a token of `kind` bound to `bind`.
    fn aad(&mut self, kind: Kind, bind: &[u8]) -> usize {
        let n = bind.len().min(MAX_BIND);
        self.aad[0] = kind as u8;
        self.aad[1..=n].copy_from_slice(&bind[..n]);
        1 + n
    }

    /// Seals the values pushed since [`Sealer::begin`] into a token of
    /// `kind` bound to `bind`; returns its text.
    fn seal(&mut self, kind: Kind, bind: &[u8]) -> &[u8] {
        let n = self.aad(kind, bind);
        self.raw.clear();
        self.raw.extend_from_slice(&self.plain);
        // Fails only past AES-GCM-SIV's 2^36-byte bound: not for MAX_PLAIN.
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&NONCE), &self.aad[..n], &mut self.raw)
            .unwrap_or_default();
        self.raw.extend_from_slice(&tag);
        self.text.clear();
        self.text.resize(B64.encode_len(self.raw.len()), 0);
        B64.encode_mut(&self.raw, &mut self.text);
        &self.text
    }

    /// Opens `text`, a token of `kind` bound to `bind`: its values are
    /// then [`Sealer::opened`].
    fn open(&mut self, kind: Kind, bind: &[u8], text: &[u8]) -> Result<(), Refusal> {
        if text.len() > MAX_TEXT {
            return Err(Refusal::BadToken);
        }
        let len = B64.decode_len(text.len()).map_err(|_| Refusal::BadToken)?;
        self.raw.clear();
        self.raw.resize(len, 0);
        let len = B64
            .decode_mut(text, &mut self.raw)
            .map_err(|_| Refusal::BadToken)?;
        if len < TAG_LEN {
            return Err(Refusal::BadToken);
        }
        let n = self.aad(kind, bind);
        let (ct, tag) = self.raw[..len].split_at(len - TAG_LEN);
        let tag = *Tag::from_slice(tag);
        self.opened.clear();
        self.opened.extend_from_slice(ct);
        let nonce = Nonce::from_slice(&NONCE);
        if self
            .cipher
            .decrypt_in_place_detached(nonce, &self.aad[..n], &mut self.opened, &tag)
            .is_err()
        {
            self.opened.clear();
            return Err(Refusal::BadToken);
        }
        // Ours, so well formed; checked anyway (a bug must not panic).
        let mut rest = &self.opened[..];
        let mut n = 0;
        while !rest.is_empty() {
            let l = match rest {
                [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
                _ => return Err(Refusal::BadToken),
            };
            if rest.len() < 2 + l || n == MAX_HIDDEN {
                return Err(Refusal::BadToken);
            }
            rest = &rest[2 + l..];
            n += 1;
        }
        Ok(())
    }

    /// The values of the token opened last.
    fn opened(&self) -> Values<'_> {
        Values(&self.opened)
    }
}

/// The values of a token's plaintext, in order.
#[derive(Clone, Debug)]
struct Values<'a>(&'a [u8]);

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let [a, b, rest @ ..] = self.0 else {
            return None;
        };
        let l = usize::from(u16::from_be_bytes([*a, *b]));
        let (value, rest) = rest.split_at_checked(l)?;
        self.0 = rest;
        Some(value)
    }
}

/// Whether `uri` is one of our Contact URIs: ours, with a user part (the
/// token) and the marker parameter. Returns the token.
fn our_contact_token<'a>(uri: &Uri<'a>, locals: &Locals) -> Option<&'a [u8]> {
    match uri {
        Uri::Sip(u) if u.param(CONTACT_PARAM).is_some() && locals.is_me(u) => u.user,
        _ => None,
    }
}

/// The request path: what [`super::wire::Wire::forward`] asks.
impl Sealer {
    /// Takes every Via of `msg` off through `e` and seals their values,
    /// the top one (`top`, from `src`) stamped as §18.2.1 and RFC 3581 §4
    /// ask, into a token bound to our `branch`: returns the token, a piece
    /// of `e`'s scratch, for our Via's `tlh` parameter.
    pub fn hide_vias(
        &mut self,
        e: &mut Edits,
        msg: &Message<'_>,
        top: &Via<'_>,
        src: SocketAddr,
        branch: &[u8],
    ) -> Result<Piece, Refusal> {
        self.begin();
        self.push_with(|out| push_stamped(out, msg, top, src))?;
        let mut first = true;
        for (i, h) in msg.headers().iter().enumerate() {
            if h.kind != HeaderName::Via {
                continue;
            }
            for v in CommaValues::new(msg.slice(h.value)) {
                if first {
                    first = false; // the top one, stamped above
                } else {
                    self.push(v)?;
                }
            }
            e.remove_header(msg, i);
        }
        let token = self.seal(Kind::Vias, branch);
        Ok(e.scratch(token))
    }

    /// Takes every Record-Route value of `msg` off through `e`; with
    /// `seal`, seals them (the route set from us back toward where they
    /// came from, §12.1.1) into a token, returned as a piece of `e`'s
    /// scratch for our Record-Route URI's `tlr` parameter (`None` when
    /// there were none).
    pub fn hide_record_routes(
        &mut self,
        e: &mut Edits,
        msg: &Message<'_>,
        seal: bool,
    ) -> Result<Option<Piece>, Refusal> {
        self.begin();
        let Some(first) = msg.first_index(HeaderName::RecordRoute) else {
            return Ok(None);
        };
        for (i, h) in msg.headers().iter().enumerate().skip(first) {
            if h.kind != HeaderName::RecordRoute {
                continue;
            }
            if seal {
                for v in CommaValues::new(msg.slice(h.value)) {
                    NameAddr::parse(v).map_err(|_| Refusal::Malformed)?;
                    self.push(v)?;
                }
            }
            e.remove_header(msg, i);
        }
        if self.count == 0 {
            return Ok(None);
        }
        let token = self.seal(Kind::Routes, b"");
        Ok(Some(e.scratch(token)))
    }

    /// Replaces every Contact URI of `msg` (but `*`) by one of ours,
    /// `sip:TOKEN@US;tlc` (bracketed), its header parameters kept; `US` is
    /// the sending listener's address, bound when written.
    pub fn hide_contacts(&mut self, e: &mut Edits, msg: &Message<'_>) -> Result<(), Refusal> {
        let Some(first) = msg.first_index(HeaderName::Contact) else {
            return Ok(());
        };
        let mut n = 0;
        for h in &msg.headers()[first..] {
            if h.kind != HeaderName::Contact {
                continue;
            }
            for v in CommaValues::new(msg.slice(h.value)) {
                if v == b"*" {
                    continue;
                }
                n += 1;
                if n > MAX_HIDDEN {
                    return Err(Refusal::TooMany);
                }
                let na = NameAddr::parse(v).map_err(|_| Refusal::Malformed)?;
                self.begin();
                self.push(na.uri)?;
                let token = e.scratch(self.seal(Kind::Contact, b""));
                let span = msg.span_of(na.uri);
                let at = span.start as usize;
                // Insertions at one offset are written in order, before
                // the deletion that starts there.
                let open: &'static [u8] = if na.bracketed { b"sip:" } else { b"<sip:" };
                let close: &'static [u8] = if na.bracketed { b";tlc" } else { b";tlc>" };
                e.insert(at, Piece::Static(open));
                e.insert(at, token);
                e.insert(at, Piece::Static(b"@"));
                e.insert(at, Piece::Local(LocalPart::HostPort));
                e.insert(at, Piece::Static(close));
                e.delete(span);
            }
        }
        Ok(())
    }
}

impl Sealer {
    /// Masks the host and port of the From and To URIs (SIP URIs not
    /// already ours) with ours, user part, parameters and tags kept:
    /// a caller's From names its address and port (SIPp's does), which
    /// the other side must not see. Dialogs are matched by tags, not
    /// URIs (RFC 3261 §12), so nothing needs restoring: each side keeps
    /// seeing the values it sent or was sent.
    pub fn mask_identities(&self, e: &mut Edits, msg: &Message<'_>, locals: &Locals) {
        for kind in [HeaderName::From, HeaderName::To] {
            let Ok(Some(na)) = msg.name_addr(kind) else {
                continue;
            };
            let Ok(Uri::Sip(u)) = na.uri() else { continue };
            if locals.is_me(&u) {
                continue;
            }
            let host = msg.span_of(u.host.text);
            if host.is_empty() {
                continue;
            }
            let mut end = host.end as usize;
            if u.port.is_some() {
                let buf = msg.buffer();
                if buf.get(end) == Some(&b':') {
                    end += 1;
                    while buf.get(end).is_some_and(u8::is_ascii_digit) {
                        end += 1;
                    }
                }
            }
            e.replace(
                trunkline_parser::Span::new(host.start as usize, end),
                Piece::Local(LocalPart::HostPort),
            );
        }
    }
}

/// Appends `via` (the top Via of `msg`, received from `src`) as
/// [`trunkline_parser::stamp_via`] would have left it: `rport` given the
/// source port when asked for, `received` when asked for or when the
/// sent-by host is not the source address.
fn push_stamped(out: &mut Vec<u8>, msg: &Message<'_>, via: &Via<'_>, src: SocketAddr) {
    use std::io::Write as _;
    let raw = via.raw;
    let asked = via.rport == Some(None);
    let rport_end = via
        .param_iter()
        .find(|p| asked && p.name.eq_ignore_ascii_case(b"rport"))
        .map(|p| {
            msg.span_of(p.name)
                .end
                .saturating_sub(msg.span_of(raw).start) as usize
        })
        .filter(|&at| at <= raw.len());
    match rport_end {
        Some(at) => {
            out.extend_from_slice(&raw[..at]);
            out.push(b'=');
            out.extend_from_slice(itoa::Buffer::new().format(src.port()).as_bytes());
            out.extend_from_slice(&raw[at..]);
        }
        None => out.extend_from_slice(raw),
    }
    if asked || via.host.ip() != Some(src.ip()) {
        let _ = write!(out, ";received={}", src.ip());
    }
}

/// The response path: what [`super::wire::Wire::relay`] asks.
impl Sealer {
    /// Opens the token of `top`, our Via on a response; returns whether
    /// it has one (a request forwarded before hiding was on has none).
    pub fn open_vias(&mut self, top: &Via<'_>) -> Result<bool, Refusal> {
        match top.param_iter().get(VIA_PARAM) {
            Some(Some(token)) => {
                self.open(Kind::Vias, top.branch.unwrap_or_default(), token)?;
                Ok(true)
            }
            Some(None) => Err(Refusal::BadToken),
            None => Ok(false),
        }
    }

    /// The first Via the token opened by [`Sealer::open_vias`] holds (the
    /// next hop of a response relayed statelessly).
    pub fn first_hidden_via(&self) -> Option<Via<'_>> {
        Via::parse(self.opened().next()?).ok()
    }

    /// Edits `msg`, a response going upstream, through `e` (§16.7 step 3):
    /// our Via off and the ones it hid back, the downstream side's
    /// Record-Route values hidden behind ours and the upstream side's put
    /// back, Contact URIs hidden (but a REGISTER's).
    pub fn reveal_response(
        &mut self,
        e: &mut Edits,
        msg: &Message<'_>,
        locals: &Locals,
        mask: bool,
    ) -> Result<(), Refusal> {
        let top = msg.top_via().map_err(|_| Refusal::Malformed)?;
        if self.open_vias(&top)? {
            // Every Via line off (below ours there is nothing the
            // downstream side should have put), the hidden ones in place
            // of the first.
            let at = msg.first(HeaderName::Via).map_or(0, |h| h.name.start) as usize;
            for v in Values(&self.opened) {
                let v = e.scratch(v);
                e.insert_header(at, b"Via", &[v]);
            }
            for (i, h) in msg.headers().iter().enumerate() {
                if h.kind == HeaderName::Via {
                    e.remove_header(msg, i);
                }
            }
        } else {
            e.remove_top_via(msg);
        }
        self.reveal_record_routes(e, msg, locals)?;
        let register = msg.cseq().is_ok_and(|c| c.method == Method::Register);
        if !register {
            self.hide_contacts(e, msg)?;
            if mask {
                self.mask_identities(e, msg, locals);
            }
        }
        Ok(())
    }

    /// The Record-Route part of [`Sealer::reveal_response`].
    fn reveal_record_routes(
        &mut self,
        e: &mut Edits,
        msg: &Message<'_>,
        locals: &Locals,
    ) -> Result<(), Refusal> {
        let Some(first) = msg.first_index(HeaderName::RecordRoute) else {
            return Ok(());
        };
        // The values above ours (downstream), ours, and below (upstream,
        // on a response to a request forwarded unhidden): spans of `msg`.
        let mut above = [Span::default(); MAX_HIDDEN];
        let mut ours = [Span::default(); 4];
        let mut below = [Span::default(); MAX_HIDDEN];
        let (mut n_above, mut n_ours, mut n_below) = (0, 0, 0);
        let mut token: Option<&[u8]> = None;
        for h in &msg.headers()[first..] {
            if h.kind != HeaderName::RecordRoute {
                continue;
            }
            for v in CommaValues::new(msg.slice(h.value)) {
                let na = NameAddr::parse(v).map_err(|_| Refusal::Malformed)?;
                let (slot, n) = match Uri::parse(na.uri) {
                    Ok(Uri::Sip(u)) if n_below == 0 && locals.is_me(&u) => {
                        if token.is_none() {
                            token = u.param(RR_PARAM).flatten();
                        }
                        (&mut ours[..], &mut n_ours)
                    }
                    _ if n_ours == 0 => (&mut above[..], &mut n_above),
                    _ => (&mut below[..], &mut n_below),
                };
                *slot.get_mut(*n).ok_or(Refusal::TooMany)? = msg.span_of(v);
                *n += 1;
            }
        }
        let at = msg.headers()[first].name.start as usize;
        for (i, h) in msg.headers().iter().enumerate().skip(first) {
            if h.kind == HeaderName::RecordRoute {
                e.remove_header(msg, i);
            }
        }
        if n_ours == 0 {
            return Ok(()); // none of ours: all the far side's, all hidden
        }
        // The upstream side's values (kept in `opened` while the new
        // token is sealed from `plain`).
        let hidden = match token {
            Some(t) => {
                self.open(Kind::Routes, b"", t)?;
                true
            }
            None => false,
        };
        let new_token = (n_above > 0).then(|| {
            self.begin();
            for s in above[..n_above].iter().rev() {
                // At most MAX_HIDDEN values: fails only on size.
                self.push(msg.slice(*s))?;
            }
            Ok(e.scratch(self.seal(Kind::Routes, b"")))
        });
        let new_token = new_token.transpose()?;
        e.insert(at, Piece::Static(b"Record-Route: "));
        for (i, s) in ours[..n_ours].iter().enumerate() {
            if i > 0 {
                e.insert(at, Piece::Static(b", "));
            }
            let v = msg.slice(*s);
            let na = NameAddr::parse(v).map_err(|_| Refusal::Malformed)?;
            let uri = msg.span_of(na.uri);
            // Our URI without its old token (ours put it last, but take
            // it out wherever it is).
            let (keep_to, resume) = param_span(msg, na.uri, RR_PARAM).unwrap_or((uri.end, uri.end));
            e.insert(at, Piece::Static(b"<"));
            e.insert(
                at,
                Piece::Original(Span::new(uri.start as usize, keep_to as usize)),
            );
            e.insert(
                at,
                Piece::Original(Span::new(resume as usize, uri.end as usize)),
            );
            if let (0, Some(t)) = (i, &new_token) {
                e.insert(at, Piece::Static(b";tlr="));
                e.insert(at, t.clone());
            }
            e.insert(at, Piece::Static(b">"));
            if !na.params.is_empty() {
                e.insert(at, Piece::Original(msg.span_of(na.params)));
            }
        }
        if hidden {
            for v in Values(&self.opened) {
                e.insert(at, Piece::Static(b", "));
                let v = e.scratch(v);
                e.insert(at, v);
            }
        } else {
            for s in &below[..n_below] {
                e.insert(at, Piece::Static(b", "));
                e.insert(at, Piece::Original(*s));
            }
        }
        e.insert(at, Piece::Static(b"\r\n"));
        Ok(())
    }
}

/// Where URI parameter `name` of `uri` (a part of `msg`) starts (its `;`)
/// and ends, as offsets of `msg`.
fn param_span(msg: &Message<'_>, uri: &[u8], name: &[u8]) -> Option<(u32, u32)> {
    let Ok(Uri::Sip(u)) = Uri::parse(uri) else {
        return None;
    };
    let p = u.params().find(|p| p.name.eq_ignore_ascii_case(name))?;
    let name_at = msg.span_of(p.name);
    let end = p.value.map_or(name_at.end, |v| msg.span_of(v).end);
    let start = msg.span_of(uri).start;
    let semi = msg.slice(Span::new(start as usize, name_at.start as usize));
    let semi = semi.iter().rposition(|&b| b == b';')?;
    Some((start + semi as u32, end))
}

/// Reveals the in-dialog requests that reach us (see the module docs):
/// rewrites them into a buffer of its own, parsed again for the pipeline.
#[derive(Debug)]
pub(crate) struct Inbound {
    sealer: Sealer,
    edits: Edits,
    bytes: Vec<u8>,
    parser: Parser,
}

impl Inbound {
    /// An inbound revealer keyed from `branch_key`, parsing within
    /// `limits` (one header more: the Route it may add).
    pub fn new(branch_key: [u64; 2], limits: Limits) -> Inbound {
        Inbound {
            sealer: Sealer::new(branch_key),
            edits: Edits::new(),
            bytes: Vec::new(),
            parser: Parser::new(Limits {
                max_headers: limits.max_headers + 1,
                max_message: 65_535,
                ..limits
            }),
        }
    }

    /// Rewrites `req` into `self.bytes` when it carries our tokens (see
    /// the module docs); returns whether it did. Refuses a request with a
    /// bad token, or with more to hide than the bounds allow.
    fn reveal(&mut self, req: &Request<'_, '_>, locals: &Locals) -> Result<bool, Refusal> {
        let msg = req.msg;
        if req.method() == Method::Register {
            return Ok(false);
        }
        check_bounds(msg)?;
        let e = &mut self.edits;
        e.clear();
        let mut target = false;
        if let (Some(Ok(uri)), Some(span)) = (msg.request_uri(), msg.request_uri_span()) {
            if let Some(token) = our_contact_token(&uri, locals) {
                self.sealer.open(Kind::Contact, b"", token)?;
                let Some(contact) = self.sealer.opened().next() else {
                    return Err(Refusal::BadToken);
                };
                let v = e.scratch(contact);
                e.replace(span, v);
                target = true;
            }
        }
        // Our Route values on top: the end of the last, and the route set
        // toward the far side the first token holds.
        let mut ours_end = None;
        let mut routes = false;
        let first = msg.first_index(HeaderName::Route);
        let headers = msg.headers();
        'values: for h in headers[first.unwrap_or(headers.len())..]
            .iter()
            .filter(|h| h.kind == HeaderName::Route)
        {
            for v in CommaValues::new(msg.slice(h.value)) {
                let Ok(na) = NameAddr::parse(v) else {
                    break 'values; // §16.4 answers it (400)
                };
                match Uri::parse(na.uri) {
                    Ok(Uri::Sip(u)) if locals.is_me(&u) => {
                        ours_end = Some(msg.span_of(v).end as usize);
                        if let (false, Some(Some(t))) = (routes, u.param(RR_PARAM)) {
                            self.sealer.open(Kind::Routes, b"", t)?;
                            routes = true;
                        }
                    }
                    _ => break 'values,
                }
            }
        }
        match ours_end {
            Some(at) if routes => {
                for v in self.sealer.opened() {
                    let na = NameAddr::parse(v).map_err(|_| Refusal::Malformed)?;
                    let uri = e.scratch(na.uri);
                    e.insert(at, Piece::Static(b", <"));
                    e.insert(at, uri);
                    e.insert(at, Piece::Static(b">"));
                }
            }
            None if target && !req.initial() => {
                // A UA that dropped its route set: ours, so that the
                // request counts as following our Record-Route.
                let a = &locals.addrs[usize::from(req.local) % locals.addrs.len().max(1)];
                let ours = e.scratch(a.host_port.as_bytes());
                let value = [Piece::Static(b"<sip:"), ours, Piece::Static(b";lr>")];
                match first {
                    Some(i) => e.insert_header_before(msg, i, b"Route", &value),
                    None => e.append_header(msg, b"Route", &value),
                }
            }
            _ if !target => return Ok(false),
            _ => {}
        }
        self.bytes.clear();
        e.write(msg, &LocalCtx::default(), &mut self.bytes)
            .map_err(|_| Refusal::Malformed)?;
        Ok(true)
    }
}

/// Refuses a request with more Vias, Record-Route values or Contacts to
/// hide than a token holds (what hiding its copy would refuse later, found
/// before any state is made for it).
fn check_bounds(msg: &Message<'_>) -> Result<(), Refusal> {
    let (mut vias, mut via_bytes) = (0usize, 0usize);
    let (mut rrs, mut rr_bytes) = (0usize, 0usize);
    let (mut contacts, mut contact_bytes) = (0usize, 0usize);
    for h in msg.headers() {
        let (n, bytes) = match h.kind {
            HeaderName::Via => (&mut vias, &mut via_bytes),
            HeaderName::RecordRoute => (&mut rrs, &mut rr_bytes),
            HeaderName::Contact => (&mut contacts, &mut contact_bytes),
            _ => continue,
        };
        for v in CommaValues::new(msg.slice(h.value)) {
            *n += 1;
            *bytes += v.len() + 2;
            if h.kind == HeaderName::Via || v == b"*" {
                continue;
            }
            // A Record-Route value or Contact must parse to be hidden,
            // and a Contact fit a token of its own.
            if *n > MAX_HIDDEN || v.len() + 2 > MAX_PLAIN {
                return Err(Refusal::TooMany);
            }
            NameAddr::parse(v).map_err(|_| Refusal::Malformed)?;
        }
    }
    // The top Via grows by its stamp (`;received=` an IPv6 address and
    // an rport value: 64 bytes at most).
    if vias > MAX_HIDDEN
        || via_bytes + 64 > MAX_PLAIN
        || rrs > MAX_HIDDEN
        || rr_bytes > MAX_PLAIN
        || contacts > MAX_HIDDEN
    {
        return Err(Refusal::TooMany);
    }
    Ok(())
}

impl Pipeline {
    /// A request, with topology hiding on: revealed (see the module docs)
    /// and then on through the pipeline; refused with 403 (an ACK
    /// dropped) when it carries a bad token or too much to hide.
    pub(super) fn on_hidden_request(
        &mut self,
        now: Instant,
        th: &mut Inbound,
        req: Request<'_, '_>,
        stored: &mut Stored,
    ) {
        match th.reveal(&req, &self.cfg.locals) {
            Ok(false) => self.on_request(now, req, stored),
            Ok(true) => {
                let Inbound { parser, bytes, .. } = th;
                let Ok(msg) = parser.parse(bytes) else {
                    self.counters.dropped += 1;
                    return;
                };
                let Ok(sum) = validate_with(&msg, &ValidateOptions::PROXY) else {
                    self.counters.dropped += 1;
                    return;
                };
                let revealed = Request {
                    msg: &msg,
                    sum: &sum,
                    ..req
                };
                // A hidden call's request: its copies are hidden too
                // (when policy rules pick the calls to hide).
                self.revealed = true;
                self.on_request(now, revealed, stored);
                self.revealed = false;
            }
            Err(r) => {
                self.count_refusal(r);
                if req.method() != Method::Ack {
                    self.answerer().reply_once(&req, 403, b"Forbidden", b"");
                }
            }
        }
    }

    /// Counts a message refused by topology hiding.
    pub(super) fn count_refusal(&mut self, r: Refusal) {
        match r {
            Refusal::BadToken => self.counters.th_bad_tokens += 1,
            Refusal::TooMany | Refusal::Malformed => self.counters.th_refused += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_any_change() {
        let mut s = Sealer::new([1, 2]);
        s.begin();
        s.push(b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa")
            .unwrap();
        s.push(b"").unwrap();
        s.push(&[b'x'; 300]).unwrap();
        let token = s.seal(Kind::Vias, b"z9hG4bK1").to_vec();
        assert!(
            token
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(b))
        );
        assert!(!token.windows(5).any(|w| w == b"192.0"), "encrypted");
        s.open(Kind::Vias, b"z9hG4bK1", &token).unwrap();
        let values: Vec<&[u8]> = s.opened().collect();
        assert_eq!(values.len(), 3);
        assert_eq!(values[0], b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa");
        assert_eq!(values[2], &[b'x'; 300][..]);
        // Another kind, another binding, another key, any flipped byte.
        assert_eq!(
            s.open(Kind::Contact, b"z9hG4bK1", &token),
            Err(Refusal::BadToken)
        );
        assert_eq!(
            s.open(Kind::Vias, b"z9hG4bK2", &token),
            Err(Refusal::BadToken)
        );
        let mut other = Sealer::new([1, 3]);
        assert_eq!(
            other.open(Kind::Vias, b"z9hG4bK1", &token),
            Err(Refusal::BadToken)
        );
        for i in 0..token.len() {
            let mut t = token.clone();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            assert!(s.open(Kind::Vias, b"z9hG4bK1", &t).is_err(), "byte {i}");
        }
        for junk in [&b""[..], b"!!!!", b"AAAA", &[b'A'; 5000]] {
            assert_eq!(s.open(Kind::Vias, b"", junk), Err(Refusal::BadToken));
        }
    }

    #[test]
    fn sealing_is_bounded() {
        let mut s = Sealer::new([1, 2]);
        s.begin();
        for _ in 0..MAX_HIDDEN {
            s.push(b"v").unwrap();
        }
        assert_eq!(s.push(b"v"), Err(Refusal::TooMany));
        s.begin();
        assert_eq!(s.push(&[0; MAX_PLAIN]), Err(Refusal::TooMany));
        s.begin();
        s.push(&[0; MAX_PLAIN - 2]).unwrap();
        let t = s.seal(Kind::Routes, b"").to_vec();
        assert!(t.len() <= MAX_TEXT);
        s.open(Kind::Routes, b"", &t).unwrap();
    }
}
