//! The header rules: the policy's header edits (`add_header`,
//! `remove_header`, `replace_header`, `set_from_user`, `set_from_display`,
//! `set_to_user`, `set_pai`; [`crate::policy::EditRule`]) and the
//! consumption of our own digest credentials, applied in the same
//! one-pass write as the proxy's own edits of the forwarded copy (§16.6):
//! nothing is copied or parsed again for them.
//!
//! The policy stage marks a request with the rules whose edits apply
//! ([`EditSet`]: their indexes in the policy in service and its
//! generation); the pipeline selects them here before the copy is written
//! ([`HeaderEdits::select`]), for each target of a serial search too. A
//! reload between two attempts of one call leaves the later attempts
//! without the edits (the indexes would name another policy's rules).
//!
//! Headers the proxy and the dialog own (Via, From, To, Call-ID, CSeq,
//! Route, Record-Route, Contact, Max-Forwards, Content-*) cannot be
//! added, removed or replaced ([`crate::policy::PROTECTED_HEADERS`],
//! checked when the configuration is read); From and To change only
//! through `set_from_user`, `set_from_display`, `set_to_user`, which keep
//! their tags (RFC 3261 §12: dialogs are matched by tags, not URIs).
//!
//! Rewritten identities are kept with the call (call control,
//! [`crate::proxy::calls`]) as each side knows them ([`Identities`]):
//! the INVITE's responses get the caller's back, and each in-dialog
//! request gets the other side's view, its responses the sender's (what
//! OpenSIPS' `uac_replace_from` does). Not journaled: after a restart a
//! call's in-dialog requests carry what their sender put.

use std::sync::Arc;

use trunkline_parser::{Credentials, Edits, HeaderName, NameAddr, Piece, Span, Uri};

use super::Request;
use crate::policy::{EditRule, Policy};

/// The most header-edit rules one request applies (later ones are not).
pub const MAX_EDIT_RULES: usize = 4;

/// The header-edit rules a request matched: their indexes in the policy
/// of `generation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EditSet {
    rules: [u16; MAX_EDIT_RULES],
    len: u8,
    generation: u64,
}

impl EditSet {
    /// Adds rule `rule` of the policy of `generation`.
    pub fn push(&mut self, rule: usize, generation: u64) {
        if usize::from(self.len) < MAX_EDIT_RULES {
            if let Ok(r) = u16::try_from(rule) {
                self.rules[usize::from(self.len)] = r;
                self.len += 1;
                self.generation = generation;
            }
        }
    }

    /// Whether no rule applies.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.rules[..usize::from(self.len)]
            .iter()
            .map(|&r| usize::from(r))
    }
}

/// The identity parts (display name and URI: what precedes the header
/// parameters, tags included in those) of a From and a To value: what a
/// rewritten call's messages carry on one side, put in place of what
/// they carry on the other (OpenSIPS' `uac_replace_from` semantics: each
/// side keeps seeing the identities it knows).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identities {
    /// The From's.
    pub from: Box<[u8]>,
    /// The To's.
    pub to: Box<[u8]>,
}

impl Identities {
    /// The identities `msg`'s From and To carry.
    pub fn of(msg: &trunkline_parser::Message<'_>) -> Option<Identities> {
        let part = |kind| -> Option<Box<[u8]>> {
            let value = msg.header_value(kind)?;
            Some(identity_part(value)?.into())
        };
        Some(Identities {
            from: part(HeaderName::From)?,
            to: part(HeaderName::To)?,
        })
    }

    /// Puts these identities in place of `msg`'s From and To ones (their
    /// parameters, tags included, kept).
    pub fn apply(&self, e: &mut Edits, msg: &trunkline_parser::Message<'_>) {
        let buf = msg.buffer();
        for (kind, new) in [(HeaderName::From, &self.from), (HeaderName::To, &self.to)] {
            let Some(value) = msg.header_value(kind) else {
                continue;
            };
            let Some(old) = identity_part(value).and_then(|p| span_of(buf, p)) else {
                continue;
            };
            let p = e.scratch(new);
            e.replace(old, p);
        }
    }
}

/// The identity part of a From/To value: up to its header parameters
/// (a name-addr's `>`, or an addr-spec's first `;`).
fn identity_part(value: &[u8]) -> Option<&[u8]> {
    let na = NameAddr::parse(value).ok()?;
    let end = if na.bracketed {
        let uri_end = span_of(value, na.uri)?.end as usize;
        value[uri_end..].iter().position(|b| *b == b'>')? + uri_end + 1
    } else {
        span_of(value, na.uri)?.end as usize
    };
    Some(&value[..end])
}

/// The identity part `value` gets from the rewrite `user` (the URI's user
/// part) and `display` (written quoted), the rest as it was; `None` when
/// it is not a SIP URI's.
pub fn rewritten_identity(
    value: &[u8],
    user: Option<&[u8]>,
    display: Option<&[u8]>,
) -> Option<Box<[u8]>> {
    let na = NameAddr::parse(value).ok()?;
    let Ok(Uri::Sip(u)) = na.uri() else {
        return None;
    };
    let mut out = Vec::with_capacity(value.len() + 32);
    match (display, na.display_name) {
        (Some(d), _) => {
            out.push(b'"');
            out.extend_from_slice(d);
            out.extend_from_slice(b"\" ");
        }
        (None, Some(d)) => {
            out.extend_from_slice(d);
            out.push(b' ');
        }
        (None, None) => {}
    }
    out.push(b'<');
    match (user, u.user.and_then(|old| span_of(na.uri, old))) {
        (Some(new), Some(old)) => {
            out.extend_from_slice(&na.uri[..old.start as usize]);
            out.extend_from_slice(new);
            out.extend_from_slice(&na.uri[old.end as usize..]);
        }
        (Some(new), None) => {
            let at = scheme_len(na.uri);
            out.extend_from_slice(&na.uri[..at]);
            out.extend_from_slice(new);
            out.push(b'@');
            out.extend_from_slice(&na.uri[at..]);
        }
        (None, _) => out.extend_from_slice(na.uri),
    }
    out.push(b'>');
    Some(out.into())
}

/// `identity` with its SIP URI's host and port replaced by `host_port`
/// (topology hiding: the other side sees only us).
pub fn masked_identity(identity: &[u8], host_port: &[u8]) -> Box<[u8]> {
    let Ok(na) = NameAddr::parse(identity) else {
        return identity.into();
    };
    let Ok(Uri::Sip(u)) = na.uri() else {
        return identity.into();
    };
    let Some(host) = span_of(identity, u.host.text) else {
        return identity.into();
    };
    let mut end = host.end as usize;
    if u.port.is_some() && identity.get(end) == Some(&b':') {
        end += 1;
        while identity.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    [
        &identity[..host.start as usize],
        host_port,
        &identity[end..],
    ]
    .concat()
    .into()
}

/// What the selected header rules set of From and To.
#[derive(Clone, Copy, Debug)]
pub struct Rewrite<'r> {
    /// The From URI's user.
    pub from_user: Option<&'r [u8]>,
    /// The From display name.
    pub from_display: Option<&'r [u8]>,
    /// The To URI's user.
    pub to_user: Option<&'r [u8]>,
}

/// The header rules.
#[derive(Debug, Default)]
pub struct HeaderEdits {
    /// Remove the `Proxy-Authorization` values for our realm (the
    /// Request-URI's host, what the auth stage challenges with) from the
    /// forwarded copy: they were meant for us, and the next hop has no
    /// use for a user's digest (Kamailio's default script calls
    /// `consume_credentials()` for the same reason; RFC 3261 §22.3).
    /// Credentials for other realms go on. Set when digest
    /// authentication is configured.
    consume_credentials: bool,
    /// The policy the selected rules belong to (cloned only when a new
    /// one is put in service, not per request).
    policy: Option<Arc<Policy>>,
    /// The rules whose edits the next copy gets.
    selected: EditSet,
    /// The From/To identities the next copy gets (an in-dialog request
    /// of a call whose identities a rule rewrote).
    identities: Option<Identities>,
}

impl HeaderEdits {
    /// The rules; `consume_credentials`: see the field.
    pub fn new(consume_credentials: bool) -> HeaderEdits {
        HeaderEdits {
            consume_credentials,
            ..HeaderEdits::default()
        }
    }

    /// Selects the edit rules `set` for the copies written next; `current`
    /// is the policy in service and its generation (none, or another
    /// generation than `set`'s: no edits).
    pub fn select(&mut self, current: Option<(&Arc<Policy>, u64)>, set: EditSet) {
        self.selected = EditSet::default();
        if set.is_empty() {
            return;
        }
        let Some((policy, generation)) = current.filter(|(_, g)| *g == set.generation) else {
            return;
        };
        if !self.policy.as_ref().is_some_and(|p| Arc::ptr_eq(p, policy)) {
            self.policy = Some(Arc::clone(policy));
        }
        self.selected = set;
        self.selected.generation = generation;
    }

    /// The From/To identities the next copy gets instead of its own
    /// (`None`: its own, or the selected rules').
    pub fn set_identities(&mut self, identities: Option<Identities>) {
        self.identities = identities;
    }

    /// Whether the next copy's From and To identities are replaced whole
    /// ([`HeaderEdits::set_identities`]).
    pub fn replaces_identities(&self) -> bool {
        self.identities.is_some()
    }

    /// Whether the next copy's From or To is rewritten (by the selected
    /// rules, or identities set): its responses must get the request's
    /// back.
    pub fn rewrites_identities(&self) -> bool {
        self.identities.is_some() || self.rewrite().is_some()
    }

    /// The selected rules' From user, From display name and To user.
    pub fn rewrite(&self) -> Option<Rewrite<'_>> {
        let policy = self.policy.as_ref()?;
        let rules = || self.selected.iter().filter_map(|i| policy.edit_rule(i));
        let r = Rewrite {
            from_user: rules().find_map(|r| r.from_user.as_deref()),
            from_display: rules().find_map(|r| r.from_display.as_deref()),
            to_user: rules().find_map(|r| r.to_user.as_deref()),
        };
        (r.from_user.is_some() || r.from_display.is_some() || r.to_user.is_some()).then_some(r)
    }

    /// The From user the selected rules send (`set_from_user`), if any.
    pub fn from_user(&self) -> Option<&[u8]> {
        let policy = self.policy.as_ref()?;
        self.selected
            .iter()
            .filter_map(|i| policy.edit_rule(i)?.from_user.as_deref())
            .next()
    }

    /// Adds the rules' edits for `req`'s forwarded copy to `edits`.
    #[inline]
    pub fn apply(&self, req: &Request<'_, '_>, edits: &mut Edits) {
        if self.consume_credentials && req.msg.first(HeaderName::ProxyAuthorization).is_some() {
            self.consume(req, edits);
        }
        if !self.selected.is_empty() {
            self.apply_rules(req, edits);
        }
        if let Some(ids) = &self.identities {
            ids.apply(edits, req.msg);
        }
    }

    #[cold]
    fn consume(&self, req: &Request<'_, '_>, edits: &mut Edits) {
        let msg = req.msg;
        let Some(Ok(Uri::Sip(uri))) = msg.request_uri() else {
            return;
        };
        let realm = uri.host.text;
        for (i, h) in msg.headers().iter().enumerate() {
            if h.kind != HeaderName::ProxyAuthorization {
                continue;
            }
            let ours = Credentials::parse(msg.slice(h.value)).is_ok_and(|c| {
                c.scheme.eq_ignore_ascii_case(b"Digest")
                    && c.get(b"realm")
                        .is_some_and(|r| r.eq_ignore_ascii_case(realm))
            });
            if ours {
                edits.remove_header(msg, i);
            }
        }
    }

    /// The selected rules' edits. Each header is removed at most once
    /// (two rules removing it, or removing and replacing it, would edit
    /// the same bytes twice), and From/To parts are set by the first rule
    /// that sets them.
    fn apply_rules(&self, req: &Request<'_, '_>, e: &mut Edits) {
        let Some(policy) = &self.policy else { return };
        let msg = req.msg;
        let rules: [Option<&EditRule>; MAX_EDIT_RULES] = {
            let mut out = [None; MAX_EDIT_RULES];
            for (k, i) in self.selected.iter().enumerate() {
                out[k] = policy.edit_rule(i);
            }
            out
        };
        let rules = rules.iter().flatten().copied();
        // Removals: by regex, by replacement, by a new P-Asserted-Identity.
        for (i, h) in msg.headers().iter().enumerate() {
            if is_protected(h.kind) {
                continue;
            }
            let name = msg.slice(h.name);
            let gone = rules.clone().any(|r| {
                r.remove.as_ref().is_some_and(|re| re.is_match(name))
                    || r.replace
                        .as_ref()
                        .is_some_and(|(n, _)| name.eq_ignore_ascii_case(n))
                    || (r.pai.is_some() && name.eq_ignore_ascii_case(b"P-Asserted-Identity"))
            });
            if gone {
                e.remove_header(msg, i);
            }
        }
        let end = msg.headers_end();
        for r in rules.clone() {
            if let Some((name, line)) = &r.replace {
                // Replaced where present; `add_header` adds.
                if msg
                    .headers()
                    .iter()
                    .any(|h| msg.slice(h.name).eq_ignore_ascii_case(name))
                {
                    let p = e.scratch(line);
                    e.insert(end, p);
                }
            }
            if let Some(line) = &r.pai {
                let p = e.scratch(line);
                e.insert(end, p);
            }
            if !r.add.is_empty() {
                let p = e.scratch(&r.add);
                e.insert(end, p);
            }
        }
        let buf = msg.buffer();
        if let Some(user) = rules.clone().find_map(|r| r.from_user.as_deref()) {
            set_user(e, buf, &req.sum.from, user);
        }
        if let Some(display) = rules.clone().find_map(|r| r.from_display.as_deref()) {
            set_display(e, buf, &req.sum.from, display);
        }
        if let Some(user) = rules.clone().find_map(|r| r.to_user.as_deref()) {
            set_user(e, buf, &req.sum.to, user);
        }
    }
}

/// Headers no rule touches (checked at load by name; here by kind too,
/// for their compact forms).
fn is_protected(kind: HeaderName) -> bool {
    use HeaderName as H;
    matches!(
        kind,
        H::Via
            | H::From
            | H::To
            | H::CallId
            | H::CSeq
            | H::ContentLength
            | H::ContentType
            | H::Route
            | H::RecordRoute
            | H::MaxForwards
            | H::Contact
            | H::ProxyAuthorization
    )
}

/// Where `part` (a slice of `buf`) lies in it.
fn span_of(buf: &[u8], part: &[u8]) -> Option<Span> {
    let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    (start + part.len() <= buf.len()).then(|| Span::new(start, start + part.len()))
}

/// Sets the user part of a From/To URI (a SIP URI; others are left).
fn set_user(e: &mut Edits, buf: &[u8], na: &NameAddr<'_>, user: &[u8]) {
    let Ok(Uri::Sip(u)) = na.uri() else { return };
    let p = e.scratch(user);
    match u.user.and_then(|old| span_of(buf, old)) {
        Some(span) => e.replace(span, p),
        None => {
            // No user yet: `sip:host` becomes `sip:user@host`.
            let Some(uri) = span_of(buf, na.uri) else {
                return;
            };
            let at = uri.start as usize + scheme_len(na.uri);
            e.insert(at, p);
            e.insert(at, Piece::Static(b"@"));
        }
    }
}

/// The length of `sip:` / `sips:` at the start of a URI.
fn scheme_len(uri: &[u8]) -> usize {
    uri.iter().position(|b| *b == b':').map_or(0, |i| i + 1)
}

/// Sets the display name of a From value, written quoted; an addr-spec
/// value gets its angle brackets (its parameters stay header parameters).
fn set_display(e: &mut Edits, buf: &[u8], na: &NameAddr<'_>, display: &[u8]) {
    let quoted = [&b"\""[..], display, b"\""].concat();
    let p = e.scratch(&quoted);
    match na.display_name.and_then(|d| span_of(buf, d)) {
        Some(span) => e.replace(span, p),
        None => {
            let Some(uri) = span_of(buf, na.uri) else {
                return;
            };
            if na.bracketed {
                // `<sip:..>`: the name goes before the `<`.
                let at = uri.start as usize - 1;
                e.insert(at, p);
                e.insert(at, Piece::Static(b" "));
            } else {
                e.insert(uri.start as usize, p);
                e.insert(uri.start as usize, Piece::Static(b" <"));
                e.insert(uri.end as usize, Piece::Static(b">"));
            }
        }
    }
}
