//! URIs: SIP and SIPS (RFC 3261 §19.1), TEL (RFC 3966) and any other
//! `absoluteURI` (§25.1), with SIP URI comparison per §19.1.4.
//!
//! [`Uri::parse`] validates the whole URI against its scheme's grammar and
//! returns slices of the input; nothing is unescaped or copied. Comparison
//! unescapes on the fly.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use memchr::memchr;

use crate::error::{ErrorKind, ParseError};
use crate::params::{Fault, Param, Params};
use crate::scan::{self, Unescaped};

/// A parsed URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:` (RFC 3966).
    Tel(TelUri<'a>),
    /// Any other scheme, kept opaque (RFC 4475 §3.3.2-3.3.4).
    Other(OtherUri<'a>),
}

/// A `sip:` / `sips:` URI (§19.1.1):
/// `sip:[user[:password]@]host[:port][;uri-parameters][?headers]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// Whether the scheme is `sips`.
    pub secure: bool,
    /// The user part, still escaped; may contain `;` (RFC 4475 §3.1.1.9).
    pub user: Option<&'a [u8]>,
    /// The password, still escaped.
    pub password: Option<&'a [u8]>,
    /// The host.
    pub host: Host<'a>,
    /// The port, if given.
    pub port: Option<u16>,
    /// The `uri-parameters`, starting with `;` (or empty). Iterate with
    /// [`SipUri::params`].
    pub params: &'a [u8],
    /// The `headers` after `?` (without the `?`), or empty.
    pub headers: &'a [u8],
    /// The whole URI as written.
    pub raw: &'a [u8],
}

/// A `tel:` URI (RFC 3966): the number and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// `global-number-digits` (starting with `+`) or `local-number-digits`.
    pub number: &'a [u8],
    /// The parameters, starting with `;` (or empty).
    pub params: &'a [u8],
    /// The whole URI as written.
    pub raw: &'a [u8],
}

/// An `absoluteURI` of a scheme we do not interpret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherUri<'a> {
    /// The scheme, without the colon.
    pub scheme: &'a [u8],
    /// Everything after the colon.
    pub rest: &'a [u8],
    /// The whole URI as written.
    pub raw: &'a [u8],
}

/// The kind of a [`Host`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostKind {
    /// A domain name.
    Name,
    /// An IPv4 address in dotted-quad form.
    V4,
    /// An IPv6 reference, `[...]`.
    V6,
}

/// A host as written: a hostname, an IPv4 address or an IPv6 reference
/// (with its brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host<'a> {
    /// The host text as written (brackets included for IPv6).
    pub text: &'a [u8],
    /// Which form it takes.
    pub kind: HostKind,
    /// An IPv4 address's value, kept from its validation (in the
    /// struct's padding): [`Host::ip`] does not parse it again.
    v4: u32,
}

// The cached address costs no space: a host stays three words.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<Host<'static>>() == 24);

impl<'a> Host<'a> {
    /// Parses and validates a host: `hostname / IPv4address / IPv6reference`.
    /// Leniency: `_` is accepted in hostname labels, as deployed DNS names
    /// and Kamailio allow it.
    pub fn parse(text: &'a [u8]) -> Result<Host<'a>, ParseError> {
        parse_host(text).map_err(|f| f.locate(text, None))
    }

    /// The IP address, for IPv4 and IPv6 hosts.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.kind {
            HostKind::Name => None,
            HostKind::V4 => Some(IpAddr::V4(Ipv4Addr::from(self.v4))),
            HostKind::V6 => parse_ipv6(&self.text[1..self.text.len() - 1]).map(IpAddr::V6),
        }
    }

    /// Host equality per §19.1.4: case-insensitive names, addresses by value.
    pub fn equivalent(&self, other: &Host<'_>) -> bool {
        match (self.kind, other.kind) {
            (HostKind::Name, HostKind::Name) => self.text.eq_ignore_ascii_case(other.text),
            (a, b) if a == b => self.ip() == other.ip(),
            _ => false,
        }
    }
}

/// Parses a dotted-quad IPv4 address in one pass: four decimal octets of
/// one to three digits, each at most 255 (leading zeros allowed).
pub(crate) fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    if s.len() > 15 {
        return None;
    }
    let digit = |i: usize| -> Option<u32> {
        let d = s.get(i)?.wrapping_sub(b'0');
        (d <= 9).then_some(d as u32)
    };
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let mut v = digit(i)?;
        i += 1;
        if let Some(d) = digit(i) {
            v = v * 10 + d;
            i += 1;
            if let Some(d) = digit(i) {
                v = v * 10 + d;
                i += 1;
                if v > 255 {
                    return None;
                }
            }
        }
        *octet = v as u8;
    }
    (i == s.len()).then(|| Ipv4Addr::from(octets))
}

fn parse_ipv6(s: &[u8]) -> Option<Ipv6Addr> {
    if s.len() > 45
        || !s
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    {
        return None;
    }
    core::str::from_utf8(s).ok()?.parse().ok()
}

pub(crate) fn parse_host(s: &[u8]) -> Result<Host<'_>, Fault> {
    let bad = |i| Fault::at(ErrorKind::BadHost, s, i);
    match s.first() {
        None => Err(bad(0)),
        Some(b'[') => {
            if s.len() < 3 || s[s.len() - 1] != b']' || parse_ipv6(&s[1..s.len() - 1]).is_none() {
                return Err(bad(0));
            }
            Ok(Host {
                text: s,
                kind: HostKind::V6,
                v4: 0,
            })
        }
        Some(first) => {
            if first.is_ascii_digit() {
                if let Some(a) = parse_ipv4(s) {
                    return Ok(Host {
                        text: s,
                        kind: HostKind::V4,
                        v4: u32::from(a),
                    });
                }
                if s.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
                    return Err(bad(0)); // digits and dots, but no address
                }
            }
            // hostname = *( domainlabel "." ) toplabel [ "." ], in one pass:
            // labels of alphanum / "-" (and "_"), not starting or ending
            // with "-".
            let body = s.strip_suffix(b".").unwrap_or(s);
            if let Some((valid, dot, dash)) = scan::hostname_masks(s) {
                // The label rules on bit masks: every byte allowed, no label
                // empty or starting or ending with '-'. Any fault goes to
                // the byte loop below, which locates it.
                let n = body.len();
                let all = u64::MAX >> (64 - n); // n >= 15
                let (dot, dash) = (dot & all, dash & all);
                let edge = dot | dash;
                if valid & all == all
                    && edge & 1 == 0
                    && edge >> (n - 1) == 0
                    && dot & (edge << 1) == 0
                    && dash & (dot << 1) == 0
                {
                    return Ok(Host {
                        text: s,
                        kind: HostKind::Name,
                        v4: 0,
                    });
                }
            }
            let mut label_start = 0;
            for (i, &b) in body.iter().enumerate() {
                if URI_BYTES[b as usize] & U_ALNUM != 0 {
                    continue; // the common case, one load and a test
                }
                match b {
                    b'.' => {
                        if i == label_start || body[i - 1] == b'-' {
                            return Err(bad(label_start));
                        }
                        label_start = i + 1;
                    }
                    b'-' if i == label_start => return Err(bad(label_start)),
                    b'-' | b'_' => {}
                    _ if b.is_ascii_alphanumeric() => {}
                    _ => return Err(bad(label_start)),
                }
            }
            if label_start == body.len() || body[body.len() - 1] == b'-' {
                return Err(bad(label_start));
            }
            Ok(Host {
                text: s,
                kind: HostKind::Name,
                v4: 0,
            })
        }
    }
}

pub(crate) fn parse_hostport(s: &[u8]) -> Result<(Host<'_>, Option<u16>), Fault> {
    let host_end = if s.first() == Some(&b'[') {
        match memchr(b']', s) {
            Some(i) => i + 1,
            None => return Err(Fault::at(ErrorKind::BadHost, s, 0)),
        }
    } else {
        memchr(b':', s).unwrap_or(s.len())
    };
    let host = parse_host(&s[..host_end])?;
    let port = match s.get(host_end) {
        None => None,
        Some(b':') => Some(parse_port(&s[host_end + 1..])?),
        Some(_) => return Err(Fault::at(ErrorKind::BadHost, s, host_end)),
    };
    Ok((host, port))
}

pub(crate) fn parse_port(s: &[u8]) -> Result<u16, Fault> {
    scan::parse_decimal(s, u16::MAX as u64)
        .map(|p| p as u16)
        .ok_or(Fault::at(ErrorKind::BadPort, s, 0))
}

impl<'a> Uri<'a> {
    /// Parses and validates a URI; `s` must be exactly the URI (no
    /// surrounding LWS or brackets).
    pub fn parse(s: &'a [u8]) -> Result<Uri<'a>, ParseError> {
        parse_uri(s).map_err(|f| f.locate(s, None))
    }

    /// The SIP/SIPS URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The URI as written.
    pub fn raw(&self) -> &'a [u8] {
        match self {
            Uri::Sip(u) => u.raw,
            Uri::Tel(u) => u.raw,
            Uri::Other(u) => u.raw,
        }
    }

    /// The scheme as written.
    pub fn scheme(&self) -> &'a [u8] {
        let raw = self.raw();
        &raw[..memchr(b':', raw).unwrap_or(0)]
    }
}

/// Whether `s` is a `sip:`/`sips:` URI the one-pass scanner accepts: then
/// [`parse_uri`] returns `Ok` for it. A check that builds nothing, for
/// callers that only validate; `false` says nothing (ask [`parse_uri`]).
#[inline]
pub(crate) fn is_plain_sip(s: &[u8]) -> bool {
    let Some(w) = s.first_chunk::<4>().map(|w| u32::from_le_bytes(*w)) else {
        return false;
    };
    if w | 0x0020_2020 == u32::from_le_bytes(*b"sip:") {
        parse_sip_fast(s, &s[4..], false).is_some()
    } else if w | 0x2020_2020 == u32::from_le_bytes(*b"sips") && s.get(4) == Some(&b':') {
        parse_sip_fast(s, &s[5..], true).is_some()
    } else {
        false
    }
}

pub(crate) fn parse_uri(s: &[u8]) -> Result<Uri<'_>, Fault> {
    // `sip:` and `sips:` in any letter case as one word compare (| 0x20
    // folds the letters and maps no other byte onto them); the general
    // scheme scan below reaches the same parse for them.
    if let Some(w) = s.first_chunk::<4>().map(|w| u32::from_le_bytes(*w)) {
        if w | 0x0020_2020 == u32::from_le_bytes(*b"sip:") {
            return parse_sip(s, &s[4..], false).map(Uri::Sip);
        }
        if w | 0x2020_2020 == u32::from_le_bytes(*b"sips") && s.get(4) == Some(&b':') {
            return parse_sip(s, &s[5..], true).map(Uri::Sip);
        }
    }
    let colon = scan::skip_class(s, 0, scan::SCHEME);
    if s.is_empty() || !s[0].is_ascii_alphabetic() || s.get(colon) != Some(&b':') {
        return Err(Fault::at(ErrorKind::BadUri, s, 0));
    }
    let scheme = &s[..colon];
    let rest = &s[colon + 1..];
    if scheme.eq_ignore_ascii_case(b"sip") {
        parse_sip(s, rest, false).map(Uri::Sip)
    } else if scheme.eq_ignore_ascii_case(b"sips") {
        parse_sip(s, rest, true).map(Uri::Sip)
    } else if scheme.eq_ignore_ascii_case(b"tel") {
        parse_tel(s, rest).map(Uri::Tel)
    } else {
        // absoluteURI = scheme ":" ( hier-part / opaque-part ); every byte a `uric`.
        let ok = !rest.is_empty()
            && scan::all_escaped(
                rest,
                scan::RESERVED | scan::UNRESERVED | scan::PARAM_UNRESERVED,
            );
        if !ok {
            return Err(Fault::at(ErrorKind::BadUri, s, colon + 1));
        }
        Ok(Uri::Other(OtherUri {
            scheme,
            rest,
            raw: s,
        }))
    }
}

/// `unreserved / user-unreserved` (`%` escapes are left to the full parser).
const U_USER: u8 = 1;
/// `unreserved / "&" / "=" / "+" / "$" / ","` (password).
const U_PASS: u8 = 2;
/// Hostname bytes: alphanum / "-" / "." / "_".
const U_HOST: u8 = 4;
/// `paramchar` without escapes: `unreserved / param-unreserved`.
const U_PCHAR: u8 = 8;
/// alphanum.
const U_ALNUM: u8 = 16;

/// The byte classes of the one-pass SIP URI scanner, one load per byte.
static URI_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut v = 0;
        let class = scan::CLASSES[c];
        if class & (scan::UNRESERVED | scan::USER_UNRESERVED) != 0 {
            v |= U_USER;
        }
        if class & (scan::UNRESERVED | scan::PASSWORD_EXTRA) != 0 {
            v |= U_PASS;
        }
        if class & scan::HOSTNAME != 0 || b == b'_' {
            v |= U_HOST;
        }
        if class & (scan::UNRESERVED | scan::PARAM_UNRESERVED) != 0 {
            v |= U_PCHAR;
        }
        if b.is_ascii_alphanumeric() {
            v |= U_ALNUM;
        }
        t[c] = v;
        c += 1;
    }
    t
};

/// Index of the first byte at or after `i` outside class `bit` of
/// [`URI_BYTES`], which must contain alphanum, `-` and `.`.
#[inline(always)]
fn run(s: &[u8], i: usize, bit: u8) -> usize {
    let mut i = if bit == U_HOST {
        scan::skip_alnum_dot_dash(s, i)
    } else {
        scan::skip_alnum_dot_dash_plus(s, i) // '+' is in every other class
    };
    while let Some(&b) = s.get(i) {
        if URI_BYTES[b as usize] & bit == 0 {
            break;
        }
        i += 1;
    }
    i
}

/// One pass over a SIP URI (after the scheme) of the usual shape: no `%`
/// escapes, no IPv6 reference, no `?headers`, and valid. `None` when the
/// URI is not of that shape or has any fault: the full parser
/// ([`parse_sip_full`]) then decides, so results and errors are exactly
/// those of the full grammar. Every byte of `rest` is checked against a
/// class without `@`, so the `@` this pass takes as the end of the
/// userinfo is the first one, as in the full parser.
#[inline]
fn parse_sip_fast<'a>(raw: &'a [u8], rest: &'a [u8], secure: bool) -> Option<SipUri<'a>> {
    let j = run(rest, 0, U_USER);
    let (user, password, a) = match rest.get(j) {
        Some(b'@') if j > 0 => (Some(&rest[..j]), None, j + 1),
        Some(b':') if j > 0 => {
            let k = run(rest, j + 1, U_PASS);
            if rest.get(k) == Some(&b'@') {
                (Some(&rest[..j]), Some(&rest[j + 1..k]), k + 1)
            } else {
                (None, None, 0) // no userinfo: `host:port`
            }
        }
        Some(b'@') => return None,
        _ => (None, None, 0),
    };
    let h = run(rest, a, U_HOST);
    let host = parse_host(&rest[a..h]).ok()?;
    let mut i = h;
    let mut port = None;
    if rest.get(i) == Some(&b':') {
        let (value, p) = scan::port_digits(rest, i + 1)?;
        port = Some(value);
        i = p;
    }
    let params_start = i;
    while rest.get(i) == Some(&b';') {
        let name_end = run(rest, i + 1, U_PCHAR);
        if name_end == i + 1 {
            return None;
        }
        i = name_end;
        if rest.get(i) == Some(&b'=') {
            let value_end = run(rest, i + 1, U_PCHAR);
            if value_end == i + 1 {
                return None;
            }
            i = value_end;
        }
    }
    if i != rest.len() {
        return None;
    }
    Some(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params: &rest[params_start..],
        headers: &rest[rest.len()..],
        raw,
    })
}

fn parse_sip<'a>(raw: &'a [u8], rest: &'a [u8], secure: bool) -> Result<SipUri<'a>, Fault> {
    match parse_sip_fast(raw, rest, secure) {
        Some(u) => Ok(u),
        None => parse_sip_full(raw, rest, secure),
    }
}

/// The SIP URI grammar in full, with its errors.
#[cold]
fn parse_sip_full<'a>(raw: &'a [u8], rest: &'a [u8], secure: bool) -> Result<SipUri<'a>, Fault> {
    let bad = |s: &[u8], i| Fault::at(ErrorKind::BadUri, s, i);
    // userinfo ends at the first '@': neither hostport, params nor headers may contain one.
    let (user, password, after) = match memchr(b'@', rest) {
        Some(at) => {
            let info = &rest[..at];
            let (user, password) = match memchr(b':', info) {
                Some(c) => (&info[..c], Some(&info[c + 1..])),
                None => (info, None),
            };
            if user.is_empty() || !scan::all_escaped(user, scan::UNRESERVED | scan::USER_UNRESERVED)
            {
                return Err(bad(rest, 0));
            }
            if let Some(p) = password {
                if !scan::all_escaped(p, scan::UNRESERVED | scan::PASSWORD_EXTRA) {
                    return Err(bad(p, 0));
                }
            }
            (Some(user), password, &rest[at + 1..])
        }
        None => (None, None, rest),
    };
    let hp_end = after
        .iter()
        .position(|&b| b == b';' || b == b'?')
        .unwrap_or(after.len());
    let (host, port) = parse_hostport(&after[..hp_end])?;
    let tail = &after[hp_end..];
    let (params, headers) = match memchr(b'?', tail) {
        Some(q) => (&tail[..q], &tail[q + 1..]),
        None => (tail, &tail[tail.len()..]),
    };
    // uri-parameters: *( ";" pname ["=" pvalue] ), each 1*paramchar.
    let mut i = 0;
    while i < params.len() {
        debug_assert_eq!(params[i], b';');
        let end = memchr(b';', &params[i + 1..]).map_or(params.len(), |e| i + 1 + e);
        let p = &params[i + 1..end];
        let (name, value) = match memchr(b'=', p) {
            Some(eq) => (&p[..eq], Some(&p[eq + 1..])),
            None => (p, None),
        };
        let pchar = scan::UNRESERVED | scan::PARAM_UNRESERVED;
        if name.is_empty()
            || !scan::all_escaped(name, pchar)
            || value.is_some_and(|v| v.is_empty() || !scan::all_escaped(v, pchar))
        {
            return Err(Fault::at(ErrorKind::BadUri, params, i + 1));
        }
        i = end;
    }
    // headers = header *( "&" header ); header = hname "=" hvalue.
    if tail.len() > params.len() {
        let hchar = scan::UNRESERVED | scan::HNV_UNRESERVED;
        for h in headers.split(|&b| b == b'&') {
            let Some(eq) = memchr(b'=', h) else {
                return Err(bad(h, 0));
            };
            let (name, value) = (&h[..eq], &h[eq + 1..]);
            if name.is_empty()
                || !scan::all_escaped(name, hchar)
                || !(value.is_empty() || scan::all_escaped(value, hchar))
            {
                return Err(bad(h, 0));
            }
        }
    }
    Ok(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params,
        headers,
        raw,
    })
}

fn parse_tel<'a>(raw: &'a [u8], rest: &'a [u8]) -> Result<TelUri<'a>, Fault> {
    let end = memchr(b';', rest).unwrap_or(rest.len());
    let number = &rest[..end];
    // global-number-digits = "+" *phonedigit DIGIT *phonedigit
    // local-number-digits  = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex
    let digits = number.strip_prefix(b"+").unwrap_or(number);
    let ok = !digits.is_empty()
        && digits
            .iter()
            .any(|b| b.is_ascii_hexdigit() || *b == b'*' || *b == b'#')
        && digits.iter().all(|&b| {
            b.is_ascii_hexdigit() || matches!(b, b'*' | b'#' | b'-' | b'.' | b'(' | b')')
        });
    if !ok {
        return Err(Fault::at(ErrorKind::BadUri, rest, 0));
    }
    let params = &rest[end..];
    let pchar = scan::UNRESERVED | scan::PARAM_UNRESERVED | scan::RESERVED;
    if !params.is_empty() && !scan::all_escaped(params, pchar) {
        return Err(Fault::at(ErrorKind::BadUri, params, 0));
    }
    Ok(TelUri {
        number,
        params,
        raw,
    })
}

impl<'a> SipUri<'a> {
    /// Parses a `sip:`/`sips:` URI; any other scheme is [`ErrorKind::BadUri`].
    pub fn parse(s: &'a [u8]) -> Result<SipUri<'a>, ParseError> {
        match parse_uri(s) {
            Ok(Uri::Sip(u)) => Ok(u),
            Ok(_) => Err(ParseError::new(ErrorKind::BadUri, 0)),
            Err(f) => Err(f.locate(s, None)),
        }
    }

    /// Iterates the URI parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first URI parameter named `name` (case-insensitive).
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        self.params().get(name)
    }

    /// Whether the URI has the `lr` parameter (loose routing, §16.4).
    pub fn lr(&self) -> bool {
        self.param(b"lr").is_some()
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&'a [u8]> {
        self.param(b"transport").flatten()
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.param(b"maddr").flatten()
    }

    /// Iterates the `?headers` as (name, value), still escaped.
    pub fn header_fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let headers = self.headers;
        headers
            .split(|&b| b == b'&')
            .filter(move |_| !headers.is_empty())
            .map(|h| match memchr(b'=', h) {
                Some(eq) => (&h[..eq], &h[eq + 1..]),
                None => (h, &h[h.len()..]),
            })
    }

    /// URI equivalence per RFC 3261 §19.1.4: userinfo case-sensitive, the
    /// rest case-insensitive, escapes equal to the characters they encode;
    /// `user`, `ttl`, `method`, `maddr` and `transport` parameters must match
    /// when present in either URI, other parameters only when present in
    /// both; headers must match exactly as sets.
    ///
    /// A parameter name repeated in one URI counts once, by its first
    /// value. URIs with more than [`MAX_COMPARED_PARAMS`] parameters or
    /// headers are equivalent only if byte-identical: comparison is
    /// quadratic in their number, and a peer controls it.
    pub fn equivalent(&self, other: &SipUri<'_>) -> bool {
        if self.raw == other.raw {
            return true;
        }
        let many = |u: &SipUri<'_>| {
            u.params().nth(MAX_COMPARED_PARAMS).is_some()
                || u.header_fields().nth(MAX_COMPARED_PARAMS).is_some()
        };
        if many(self) || many(other) {
            return false;
        }
        if self.secure != other.secure
            || !opt_eq(self.user, other.user, false)
            || !opt_eq(self.password, other.password, false)
            || !self.host.equivalent(&other.host)
            || self.port != other.port
        {
            return false;
        }
        const MUST_MATCH: [&[u8]; 5] = [b"user", b"ttl", b"method", b"maddr", b"transport"];
        for (i, Param { name, value }) in self.params().enumerate() {
            if self
                .params()
                .take(i)
                .any(|p| unescaped_eq(p.name, name, true))
            {
                continue; // a repeated name counts once
            }
            match find_param(other.params(), name) {
                Some(v2) if !opt_eq(value, v2, true) => return false,
                Some(_) => {}
                None if MUST_MATCH.iter().any(|m| unescaped_eq(name, m, true)) => return false,
                None => {}
            }
        }
        for Param { name, .. } in other.params() {
            if MUST_MATCH.iter().any(|m| unescaped_eq(name, m, true))
                && find_param(self.params(), name).is_none()
            {
                return false;
            }
        }
        let mine = self.header_fields().count();
        if mine != other.header_fields().count() {
            return false;
        }
        self.header_fields().all(|(n, v)| {
            other
                .header_fields()
                .any(|(n2, v2)| unescaped_eq(n, n2, true) && unescaped_eq(v, v2, false))
        })
    }
}

/// Beyond this many parameters (or headers), [`SipUri::equivalent`]
/// compares bytes only.
pub const MAX_COMPARED_PARAMS: usize = 64;

fn find_param<'a>(params: Params<'a>, name: &[u8]) -> Option<Option<&'a [u8]>> {
    let mut params = params;
    params
        .find(|p| unescaped_eq(p.name, name, true))
        .map(|p| p.value)
}

fn opt_eq(a: Option<&[u8]>, b: Option<&[u8]>, fold_case: bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => unescaped_eq(a, b, fold_case),
        _ => false,
    }
}

/// Compares two escaped strings by the characters they encode.
pub(crate) fn unescaped_eq(a: &[u8], b: &[u8], fold_case: bool) -> bool {
    let mut x = Unescaped::new(a);
    let mut y = Unescaped::new(b);
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) => {
                let same = if fold_case {
                    p.eq_ignore_ascii_case(&q)
                } else {
                    p == q
                };
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        SipUri::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_the_parts_of_a_sip_uri() {
        let u = sip("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=x&h=");
        assert!(u.secure);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"secret"[..]));
        assert_eq!(u.host.kind, HostKind::V6);
        assert_eq!(u.host.text, b"[2001:db8::1]");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some(&b"tcp"[..]));
        assert!(u.lr());
        assert_eq!(u.header_fields().count(), 2);
    }

    #[test]
    fn user_part_may_hold_semicolons_and_escapes() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host.text, b"example.com");
        assert!(u.params.is_empty());
        let u = sip(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        );
        assert_eq!(
            u.password,
            Some(&b"&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"[..])
        );
        let u = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
        assert_eq!(u.params().count(), 2);
    }

    /// Seeded draws for the randomized tests: `next(n)` is in `0..n`.
    fn rng(seed: u64) -> impl FnMut(usize) -> usize {
        let mut rng = fastrand::Rng::with_seed(seed);
        move |n| rng.usize(0..n)
    }

    #[test]
    fn fast_path_agrees_with_the_full_grammar() {
        const PIECES: &[&str] = &[
            "alice",
            "+1212",
            "%41",
            "%4",
            "%zz",
            ":",
            "pw",
            "@",
            "@",
            "host.example.com",
            "1.2.3.4",
            "256.1.1.1",
            "1.2.3",
            "a..b",
            "-a",
            "a-",
            "[::1]",
            "[",
            "]",
            ":5060",
            ":99999",
            ";",
            ";",
            "lr",
            "=",
            "user=phone",
            "?",
            "h=v",
            "&",
            "_sip",
            ".",
            " ",
            "\"",
            "<",
            ">",
            "$",
            ",",
            "/",
            "~",
            "*",
            "(",
            "0",
            "9",
            "\u{e9}",
            "\r\n",
            "",
        ];
        let mut next = rng(0x5eed_1234_5678_9abc);
        let mut text = String::new();
        let mut fast = 0;
        for _ in 0..200_000 {
            text.clear();
            text.push_str(if next(2) == 0 { "sip:" } else { "sips:" });
            for _ in 0..1 + next(8) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            let raw = text.as_bytes();
            let secure = raw[3] == b's';
            let rest = &raw[if secure { 5 } else { 4 }..];
            let full = parse_sip_full(raw, rest, secure);
            if let Some(u) = parse_sip_fast(raw, rest, secure) {
                fast += 1;
                assert_eq!(Ok(u), full, "{text}");
                assert_eq!(u.params.as_ptr(), full.unwrap().params.as_ptr(), "{text}");
            }
            assert_eq!(parse_sip(raw, rest, secure), full, "{text}");
            if is_plain_sip(raw) {
                assert_eq!(parse_uri(raw), full.map(Uri::Sip), "{text}");
            }
        }
        assert!(fast > 3_000, "the fast path ran {fast} times");
    }

    #[test]
    fn ipv4_agrees_with_std_on_random_input() {
        let mut next = rng(0x1234_5678_9abc_def1);
        let mut t = Vec::new();
        for _ in 0..200_000 {
            t.clear();
            for _ in 0..next(17) {
                t.push(b"0123456789.1.25.x"[next(17)]);
            }
            let std_parse = core::str::from_utf8(&t).unwrap().parse::<Ipv4Addr>().ok();
            // std refuses leading zeros, which we accept (RFC 4475 §3.1.1.1).
            let no_leading_zero = t.split(|&b| b == b'.').all(|o| o.len() < 2 || o[0] != b'0');
            if no_leading_zero || parse_ipv4(&t).is_none() {
                assert_eq!(parse_ipv4(&t), std_parse, "{}", String::from_utf8_lossy(&t));
            }
        }
    }

    #[test]
    fn hostname_bit_masks_agree_with_the_byte_loop() {
        const PIECES: &[&str] = &[
            "a", "example", "com", ".", ".", "-", "-", "_", "9", "x1", "", "@", " ", "\u{e9}",
        ];
        let mut next = rng(0x0bad_cafe_f00d_1234);
        let mut text = String::new();
        let mut long = 0;
        for _ in 0..200_000 {
            text.clear();
            for _ in 0..1 + next(14) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            let s = text.as_bytes();
            long += (16..=64).contains(&s.len()) as u32;
            // The byte loop alone, as before the bit masks.
            let body = s.strip_suffix(b".").unwrap_or(s);
            let mut label_start = 0;
            let mut byte_loop = Ok(());
            for (i, &b) in body.iter().enumerate() {
                match b {
                    b'.' => {
                        if i == label_start || body[i - 1] == b'-' {
                            byte_loop = Err(label_start);
                            break;
                        }
                        label_start = i + 1;
                    }
                    b'-' if i == label_start => {
                        byte_loop = Err(label_start);
                        break;
                    }
                    b'-' | b'_' => {}
                    _ if b.is_ascii_alphanumeric() => {}
                    _ => {
                        byte_loop = Err(label_start);
                        break;
                    }
                }
            }
            if byte_loop.is_ok() && (label_start == body.len() || body[body.len() - 1] == b'-') {
                byte_loop = Err(label_start);
            }
            if s.first().is_none_or(u8::is_ascii_digit) {
                continue; // empty, or an address: other paths first
            }
            let want = byte_loop
                .map(|()| Host {
                    text: s,
                    kind: HostKind::Name,
                    v4: 0,
                })
                .map_err(|i| Fault::at(ErrorKind::BadHost, s, i));
            assert_eq!(parse_host(s), want, "{text:?}");
        }
        assert!(long > 10_000, "{long}");
    }

    #[test]
    fn ipv4_parsing() {
        for (t, ok) in [
            ("1.2.3.4", true),
            ("255.255.255.255", true),
            ("0.0.0.0", true),
            ("256.1.1.1", false),
            ("1.2.3", false),
            ("1.2.3.4.5", false),
            ("1..3.4", false),
            ("1.2.3.", false),
            (".1.2.3", false),
            ("1.2.3.0004", false),
            ("1.2.3.a", false),
            ("", false),
            ("1234567890123", false),
            ("999999999999.1", false),
        ] {
            assert_eq!(parse_ipv4(t.as_bytes()).is_some(), ok, "{t}");
            assert_eq!(parse_ipv4(t.as_bytes()), t.parse().ok(), "{t}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(sip("sip:1.2.3.4").host.kind, HostKind::V4);
        assert_eq!(sip("sip:a-b.example.com.").host.kind, HostKind::Name);
        assert_eq!(sip("sip:_sip._udp.example.com").host.kind, HostKind::Name);
        for bad in [
            "sip:1.2.3.999",
            "sip:-a.com",
            "sip:a..com",
            "sip:[::1",
            "sip:[zz::1]",
            "sip:a.com:99999",
            "sip:a.com:",
            "sip:",
            "sip:@a.com",
            "sip:a b.com",
        ] {
            assert!(SipUri::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_schemes_and_tel() {
        assert!(matches!(
            Uri::parse(b"tel:+1-201-555-0123;phone-context=x"),
            Ok(Uri::Tel(_))
        ));
        assert!(matches!(
            Uri::parse(b"nobodyKnowsThisScheme:totallyopaquecontent"),
            Ok(Uri::Other(_))
        ));
        assert!(matches!(
            Uri::parse(b"soap.beep://192.0.2.103:3002"),
            Ok(Uri::Other(_))
        ));
        assert!(matches!(Uri::parse(b"isbn:2983792873"), Ok(Uri::Other(_))));
        assert!(Uri::parse(b"<sip:a@b>").is_err());
        assert!(Uri::parse(b"tel:").is_err());
        let e = Uri::parse(b"sip:a@b.com;=x").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadUri);
        assert_eq!(e.offset, 12);
    }

    #[test]
    fn equivalence_follows_19_1_4() {
        let eq = |a: &str, b: &str| sip(a).equivalent(&sip(b));
        // The RFC's own examples of equivalent URIs.
        assert!(eq(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(eq(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
        // And its non-equivalent ones.
        assert!(!eq(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP"
        ));
        assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com;transport=udp"
        ));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com:6000;transport=tcp"
        ));
        assert!(!eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting"
        ));
        assert!(!eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
        assert!(!eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;security=off"
        ));
        assert!(eq("sip:[::1]", "sip:[0:0::1]"));
        // Reflexive even with a repeated parameter; the first value counts.
        assert!(eq("sip:a@b;x=1;x=2", "sip:a@b;x=1;x=2"));
        assert!(eq("sip:a@b;x=1;x=2", "sip:a@b;x=1"));
        // Hostile parameter counts are compared as bytes, in linear time.
        let many: String = (0..10_000).map(|i| format!(";p{i}")).collect();
        let a = format!("sip:a@b{many}");
        let b = format!("sip:a@B{many}");
        assert!(eq(&a, &a));
        assert!(!eq(&a, &b));
    }
}
