//! REGISTER processing (RFC 3261 §10.3 steps 5-8) on the location
//! service, and the 200's Contact and Path lines (§10.3 step 8, RFC 3327
//! §5.3).
//!
//! Steps 1-4 (Request-URI domain, Require, authentication) belong to the
//! proxy's stages in front; [`register()`] starts at the AOR. It reads
//! and checks the whole request, builds the new bindings, and only then
//! takes the AOR's partition lock, checks the request against the stored
//! bindings (Call-ID and CSeq order, the caps) and applies every change
//! or none.

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;
use std::time::Instant;

use trunkline_parser::{Contact, HeaderName, Message, NameAddr, SipUri, Summary, Uri, Via};

use super::location::{
    Binding, Entry, Location, collect_sorted, flow_key, is_unroutable, printable, same_contact,
};
use super::{Aor, MAX_CALL_ID, MAX_CONTACT, MAX_INSTANCE, MAX_PATH, RegistrarConfig, aor_of};

/// The response a REGISTER gets instead of 200: code, reason phrase and
/// at most one extra header line (`Min-Expires: 60`, `Retry-After: 60`),
/// without its CRLF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: &'static [u8],
    /// An extra header line, without CRLF.
    pub header: Option<String>,
}

impl Refusal {
    /// A refusal without extra header.
    pub const fn new(code: u16, reason: &'static [u8]) -> Refusal {
        Refusal {
            code,
            reason,
            header: None,
        }
    }

    fn with_header(code: u16, reason: &'static [u8], header: String) -> Refusal {
        Refusal {
            code,
            reason,
            header: Some(header),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, String::from_utf8_lossy(self.reason))
    }
}

impl std::error::Error for Refusal {}

const fn bad(reason: &'static [u8]) -> Refusal {
    Refusal::new(400, reason)
}

/// §10.3 step 6: a second REGISTER of a Call-ID whose CSeq is not higher
/// than one already applied arrived out of order (retransmissions are
/// absorbed by the transaction layer before this).
const OUT_OF_ORDER: Refusal = Refusal::new(500, b"Out Of Order");

/// More bindings than `max_contacts`. 403, not 503: a 503 tells the UA
/// to retry (elsewhere or later, §21.5.4), and retrying cannot help.
const TOO_MANY: Refusal = Refusal::new(403, b"Too Many Contacts");

/// A contact of the REGISTER, read and checked, before the table is
/// consulted.
struct Pending<'m> {
    /// The binding it makes (`expires_at` is `now` for a removal).
    binding: Binding,
    /// Its Contact URI, for identity comparisons.
    uri: SipUri<'m>,
    /// The expiry granted, in seconds; 0 removes the binding.
    expires: u32,
}

impl Pending<'_> {
    /// Whether this contact designates `b` (whose URI is `b_uri`, parsed).
    fn designates(&self, b: &Binding, b_uri: Option<&SipUri<'_>>) -> bool {
        match (flow_key(&self.binding), flow_key(b)) {
            (Some(x), Some(y)) => x == y,
            (None, None) => b_uri.is_some_and(|u| same_contact(&self.uri, u)),
            _ => false,
        }
    }
}

/// Applies one REGISTER (already validated, its Summary in `sum`) from
/// `src` on listener `local` to the location service, at `now` (and
/// `unix_now` in Unix seconds); on success returns the AOR and fills
/// `out` (cleared first) with the AOR's bindings after the change, in
/// lookup order, for [`write_ok_headers`]. Without Contact it is a query
/// and changes nothing.
///
/// RFC 3261 §10.3:
/// - step 5: the AOR is the To URI's; a domain not ours gets 404.
/// - step 6: `Contact: *` is allowed alone and with `Expires: 0` only
///   (else 400); it removes every binding, unless one has the request's
///   Call-ID with a CSeq not lower (500, nothing removed).
/// - step 7: each contact's expiry is its `expires` parameter, else the
///   Expires header, else `default_expires`; a nonzero one below
///   `min_expires` gets 423 with `Min-Expires` (for the whole request), one
///   above `max_expires` is shortened. A contact updates the binding of
///   the same identity, removes it with expiry 0, or adds one; a binding
///   with the request's Call-ID and a CSeq not lower fails the request
///   with 500. Bad `q` or `expires` parameters get 400.
/// - more bindings than `max_contacts` get 403, a new AOR in a full table
///   503 with `Retry-After: 60`; an oversized Contact URI, Path or
///   Call-ID 400.
///
/// All checks come first: a refused request changes nothing.
#[allow(clippy::too_many_arguments)]
pub fn register(
    loc: &Location,
    cfg: &RegistrarConfig,
    now: Instant,
    unix_now: i64,
    msg: &Message<'_>,
    sum: &Summary<'_>,
    src: SocketAddr,
    local: u16,
    out: &mut Vec<Binding>,
) -> Result<Aor, Refusal> {
    out.clear();
    let to = sum.to.uri().map_err(|_| bad(b"Bad To URI"))?;
    let sip_to = to.as_sip().ok_or(Refusal::new(404, b"Not Found"))?;
    if !cfg.is_local_domain(sip_to.host.text) {
        return Err(Refusal::new(404, b"Not Found"));
    }
    let aor = aor_of(&to).ok_or(bad(b"Bad Address Of Record"))?;
    let call_id = sum.call_id;
    if call_id.len() > MAX_CALL_ID {
        return Err(bad(b"Call-ID Too Long"));
    }
    let cseq = sum.cseq.seq;
    let header_expires = match msg.header_value(HeaderName::Expires) {
        None => None,
        Some(v) => Some(delta_seconds(v).ok_or(bad(b"Bad Expires"))?),
    };

    let limits = loc.limits();
    // Enough to remove every binding and add as many; more cannot be
    // meant, and bounds the comparisons below.
    let cap = limits.max_contacts.saturating_mul(2);
    let mut wildcard = false;
    let mut seen = 0usize;
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut path: Option<Box<[Box<str>]>> = None;
    let ctx = ContactCtx {
        cfg,
        now,
        unix_now,
        header_expires,
        call_id,
        cseq,
        via: &sum.top_via,
        src,
        local,
    };
    for c in msg.contacts() {
        let c = c.map_err(|_| bad(b"Bad Contact"))?;
        seen += 1;
        if seen > cap {
            return Err(TOO_MANY);
        }
        match c {
            Contact::Wildcard => wildcard = true,
            Contact::Addr(na) => {
                let path = match &path {
                    Some(p) => p.clone(),
                    None => path.insert(request_path(msg)?).clone(),
                };
                pending.push(read_contact(&na, &ctx, path)?);
            }
        }
    }
    if wildcard && (seen > 1 || header_expires != Some(0)) {
        return Err(bad(b"Invalid Wildcard"));
    }

    let Some(mut guard) = loc.lock(loc.partition_of(&aor)) else {
        return Err(Refusal::new(500, b"Server Internal Error"));
    };
    let part = &mut *guard;
    let had_aor = part.aors.contains_key(&aor);
    let existing: &[Binding] = part.aors.get(&aor).map_or(&[], |e| &e.bindings);

    if wildcard {
        if existing
            .iter()
            .any(|b| b.expires_at > now && *b.call_id == *call_id && b.cseq >= cseq)
        {
            return Err(OUT_OF_ORDER);
        }
        if let Some(e) = part.aors.remove(&aor) {
            loc.count_bindings(e.bindings.len(), 0);
            loc.release_aor();
        }
        return Ok(aor);
    }
    if pending.is_empty() {
        collect_sorted(existing, now, out);
        return Ok(aor);
    }

    // Plan: which stored binding each contact designates. A contact
    // designating the same binding as a later one in the request is
    // superseded by it (the last one wins, as applied in order).
    let uris: Vec<Option<SipUri<'_>>> = existing
        .iter()
        .map(|b| SipUri::parse(b.contact.as_bytes()).ok())
        .collect();
    let mut target: Vec<Option<usize>> = vec![None; pending.len()];
    let mut effective = vec![true; pending.len()];
    let (mut adds, mut removes) = (0usize, 0usize);
    for (i, p) in pending.iter().enumerate() {
        let later = &pending[i + 1..];
        if later.iter().any(|q| q.designates(&p.binding, Some(&p.uri))) {
            effective[i] = false;
            continue;
        }
        let k = existing
            .iter()
            .zip(&uris)
            .position(|(b, u)| b.expires_at > now && p.designates(b, u.as_ref()));
        if let Some(k) = k {
            let b = &existing[k];
            if *b.call_id == *call_id && b.cseq >= cseq {
                return Err(OUT_OF_ORDER);
            }
            removes += usize::from(p.expires == 0);
        } else {
            adds += usize::from(p.expires > 0);
        }
        target[i] = k;
    }
    let live = existing.iter().filter(|b| b.expires_at > now).count();
    let after = live - removes + adds;
    if adds > 0 && after > limits.max_contacts {
        return Err(TOO_MANY);
    }
    if !had_aor && after > 0 && !loc.reserve_aor(limits.max_aors) {
        return Err(Refusal::with_header(
            503,
            b"Service Unavailable",
            "Retry-After: 60".into(),
        ));
    }
    drop(uris);

    // Apply: the stored bindings not designated (nor expired), then the
    // request's in order, so that refreshed ones count as the most
    // recently registered.
    let old = part
        .aors
        .get_mut(&aor)
        .map(|e| core::mem::take(&mut e.bindings))
        .unwrap_or_default();
    let before = old.len();
    let mut new = Vec::with_capacity(after);
    for (k, b) in old.into_iter().enumerate() {
        if b.expires_at > now && !target.contains(&Some(k)) {
            new.push(b);
        }
    }
    for (p, keep) in pending.into_iter().zip(effective) {
        if keep && p.expires > 0 {
            new.push(p.binding);
        }
    }
    loc.count_bindings(before, new.len());
    if new.is_empty() {
        if had_aor {
            part.aors.remove(&aor);
            loc.release_aor();
        }
        return Ok(aor);
    }
    collect_sorted(&new, now, out);
    match part.aors.get_mut(&aor) {
        Some(e) => e.bindings = new,
        None => {
            part.aors.insert(aor.clone(), Entry::new(new));
        }
    }
    part.schedule(&aor);
    Ok(aor)
}

/// What every contact of one REGISTER shares.
struct ContactCtx<'a, 'm> {
    cfg: &'a RegistrarConfig,
    now: Instant,
    unix_now: i64,
    header_expires: Option<u32>,
    call_id: &'m [u8],
    cseq: u32,
    via: &'a Via<'m>,
    src: SocketAddr,
    local: u16,
}

/// Reads and checks one Contact value (§10.3 step 7) into the binding it
/// would make.
fn read_contact<'m>(
    na: &NameAddr<'m>,
    ctx: &ContactCtx<'_, 'm>,
    path: Box<[Box<str>]>,
) -> Result<Pending<'m>, Refusal> {
    if na.uri.len() > MAX_CONTACT {
        return Err(bad(b"Contact Too Long"));
    }
    let uri = match Uri::parse(na.uri) {
        Ok(Uri::Sip(u)) => u,
        Ok(_) => return Err(bad(b"Unsupported Contact URI Scheme")),
        Err(_) => return Err(bad(b"Bad Contact")),
    };
    let contact = core::str::from_utf8(na.uri).map_err(|_| bad(b"Bad Contact"))?;

    let cfg = ctx.cfg;
    let mut expires = match na.param(b"expires") {
        None => ctx.header_expires.unwrap_or(cfg.default_expires),
        Some(v) => v.and_then(delta_seconds).ok_or(bad(b"Bad Expires"))?,
    };
    if expires != 0 && expires < cfg.min_expires {
        // §10.3 step 7: 423 only for a request "smaller than one hour";
        // a minimum above an hour raises the request to it instead.
        if expires < 3600 {
            return Err(Refusal::with_header(
                423,
                b"Interval Too Brief",
                format!("Min-Expires: {}", cfg.min_expires),
            ));
        }
        expires = cfg.min_expires;
    }
    expires = expires.min(cfg.max_expires);
    let q = match na.param(b"q") {
        None => 1000,
        Some(v) => v.and_then(qvalue).ok_or(bad(b"Bad q"))?,
    };
    let instance = match na.param(b"+sip.instance") {
        None => None,
        Some(v) => Some(instance_id(v).ok_or(bad(b"Bad +sip.instance"))?),
    };
    let reg_id = match na.param(b"reg-id") {
        None => None,
        Some(v) => Some(v.and_then(reg_id).ok_or(bad(b"Bad reg-id"))?),
    };
    let expires_at = ctx
        .now
        .checked_add(Duration::from_secs(u64::from(expires)))
        .ok_or(bad(b"Bad Expires"))?;
    Ok(Pending {
        binding: Binding {
            contact: contact.into(),
            q,
            expires_at,
            call_id: ctx.call_id.into(),
            cseq: ctx.cseq,
            instance,
            reg_id,
            path,
            source: ctx.src,
            local: ctx.local,
            nat: behind_nat(&uri, ctx.via, ctx.src),
            registered_unix: ctx.unix_now,
        },
        uri,
        expires,
    })
}

/// Whether the UA that sent a REGISTER from `src` with this Contact and
/// top Via is behind a NAT, as nathelper's `nat_uac_test` tells:
/// - the Via's sent-by is not `src` (a name, another address or another
///   port: §18.2.1 would add `received`, RFC 3581 `rport`), or
/// - the Contact is at an unroutable address ([`is_unroutable`]: private,
///   shared, link-local, unique local, loopback) that is not `src`.
///
/// A loopback Contact equal to `src` (a SIPp UA on the same host) is not
/// NATed; a public Contact that is not `src` is left to the Via test (a
/// UA may register another device's address).
pub fn behind_nat(contact: &SipUri<'_>, via: &Via<'_>, src: SocketAddr) -> bool {
    let src_ip = src.ip().to_canonical();
    let tls = via.transport.eq_ignore_ascii_case(b"TLS");
    let via_port = via.port.unwrap_or(if tls { 5061 } else { 5060 });
    let via_is_src =
        via.host.ip().is_some_and(|ip| ip.to_canonical() == src_ip) && via_port == src.port();
    if !via_is_src {
        return true;
    }
    match contact.host.ip() {
        Some(ip) if is_unroutable(ip) => {
            let port = contact
                .port
                .unwrap_or(if contact.secure { 5061 } else { 5060 });
            ip.to_canonical() != src_ip || port != src.port()
        }
        _ => false,
    }
}

/// The REGISTER's Path values in order (RFC 3327 §5.3), each rewritten
/// `<uri>;param=value` (display names dropped, parameters kept): 400 when
/// one is not a SIP URI or they exceed [`MAX_PATH`] bytes together.
pub fn request_path(msg: &Message<'_>) -> Result<Box<[Box<str>]>, Refusal> {
    const BAD_PATH: Refusal = bad(b"Bad Path");
    let mut total = 0usize;
    let mut out = Vec::new();
    for na in msg.name_addrs(HeaderName::Path) {
        let na = na.map_err(|_| BAD_PATH)?;
        // What the value will take at most, checked before building it.
        total += na.uri.len() + na.params.len() + 2;
        if total > MAX_PATH {
            return Err(bad(b"Path Too Long"));
        }
        if !matches!(na.uri(), Ok(Uri::Sip(_))) {
            return Err(BAD_PATH);
        }
        let mut v = String::with_capacity(na.uri.len() + na.params.len() + 2);
        v.push('<');
        v.push_str(core::str::from_utf8(na.uri).map_err(|_| BAD_PATH)?);
        v.push('>');
        for p in na.params() {
            v.push(';');
            v.push_str(core::str::from_utf8(p.name).map_err(|_| BAD_PATH)?);
            if let Some(val) = p.value {
                v.push('=');
                v.push_str(core::str::from_utf8(val).map_err(|_| BAD_PATH)?);
            }
        }
        if !printable(&v) {
            return Err(BAD_PATH);
        }
        out.push(v.into_boxed_str());
    }
    Ok(out.into_boxed_slice())
}

/// Whether the UA supports Path (`Supported: path`): then the 200 echoes
/// the Path (RFC 3327 §5.3).
pub fn supports_path(msg: &Message<'_>) -> bool {
    msg.option_tags(HeaderName::Supported)
        .any(|t| t.is_ok_and(|t| t.eq_ignore_ascii_case(b"path")))
}

/// Writes the 200's header lines (§10.3 step 8): one Contact per binding
/// with the seconds it has left (`expires`, rounded), its q when not 1,
/// its `+sip.instance` and `reg-id` (RFC 5626 §6); then, when `path` is
/// given, one Path line per value (RFC 3327 §5.3: echoed to a UA that
/// supports it). Lines are separated by CRLF, with none after the last
/// (the caller ends it); expired bindings are left out.
pub fn write_ok_headers(
    bindings: &[Binding],
    now: Instant,
    path: Option<&[Box<str>]>,
    out: &mut Vec<u8>,
) {
    let mut first = true;
    let mut line = |out: &mut Vec<u8>| {
        if !first {
            out.extend_from_slice(b"\r\n");
        }
        first = false;
    };
    let mut num = itoa::Buffer::new();
    for b in bindings.iter().filter(|b| b.expires_at > now) {
        line(out);
        out.extend_from_slice(b"Contact: <");
        out.extend_from_slice(b.contact.as_bytes());
        out.extend_from_slice(b">;expires=");
        out.extend_from_slice(num.format(b.remaining_secs(now)).as_bytes());
        if b.q < 1000 {
            out.extend_from_slice(b";q=");
            write_q(b.q, out);
        }
        if let Some(i) = &b.instance {
            out.extend_from_slice(b";+sip.instance=\"");
            out.extend_from_slice(i.as_bytes());
            out.push(b'"');
        }
        if let Some(r) = b.reg_id {
            out.extend_from_slice(b";reg-id=");
            out.extend_from_slice(num.format(r).as_bytes());
        }
    }
    for v in path.unwrap_or_default() {
        line(out);
        out.extend_from_slice(b"Path: ");
        out.extend_from_slice(v.as_bytes());
    }
}

/// A q-value below 1000 as `0.d[d[d]]` without trailing zeros (`0` for 0).
fn write_q(q: u16, out: &mut Vec<u8>) {
    out.push(b'0');
    if q == 0 {
        return;
    }
    let digits = [q / 100, q / 10 % 10, q % 10];
    let n = 3 - digits.iter().rev().take_while(|&&d| d == 0).count();
    out.push(b'.');
    out.extend(digits[..n].iter().map(|&d| b'0' + d as u8));
}

/// `delta-seconds = 1*DIGIT`, saturating at 2^32-1 as §20.19 allows for
/// larger values (which are then shortened to `max_expires` anyway).
fn delta_seconds(v: &[u8]) -> Option<u32> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u32, |n, &d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    }))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (§25.1),
/// times 1,000.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    let whole = match int {
        b"0" => 0,
        b"1" => 1000,
        _ => return None,
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let q = frac
        .iter()
        .zip([100u16, 10, 1])
        .fold(whole, |q, (&d, scale)| q + u16::from(d - b'0') * scale);
    (q <= 1000).then_some(q)
}

/// A `+sip.instance` value (RFC 5626 §4.1: a quoted `<urn>`), without its
/// quotes.
fn instance_id(v: Option<&[u8]>) -> Option<Box<str>> {
    let v = v?;
    let inner = v.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.is_empty() || inner.len() > MAX_INSTANCE {
        return None;
    }
    let s = core::str::from_utf8(inner).ok()?;
    printable(s).then(|| s.into())
}

/// `reg-id = 1*DIGIT`, 1 to 2^31-1 (RFC 5626 §4.2).
fn reg_id(v: &[u8]) -> Option<u32> {
    let n = delta_seconds(v)?;
    (1..=i32::MAX as u32).contains(&n).then_some(n)
}
