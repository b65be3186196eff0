//! Via (RFC 3261 §20.42, §18.2.1, RFC 3581).
//!
//! `via-parm = sent-protocol LWS sent-by *( SEMI via-params )` with
//! `sent-protocol = protocol-name SLASH protocol-version SLASH transport`
//! and `sent-by = host [ COLON port ]`; SLASH, COLON and SEMI allow LWS
//! around them (RFC 4475 §3.1.1.1 folds a Via across three lines).

use crate::error::{ErrorKind, ParseError};
use crate::params::{Fault, Params};
use crate::scan;
use crate::uri::{self, Host};

/// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub const MAGIC_COOKIE: &[u8] = b"z9hG4bK";

/// One Via value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    /// `protocol-name`, normally `SIP`.
    pub protocol: &'a [u8],
    /// `protocol-version`, normally `2.0`.
    pub version: &'a [u8],
    /// The transport: `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or any token.
    pub transport: &'a [u8],
    /// The sent-by host.
    pub host: Host<'a>,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// The sent-by text as written (`host[:port]`).
    pub sent_by: &'a [u8],
    /// The `branch` parameter.
    pub branch: Option<&'a [u8]>,
    /// The `received` parameter.
    pub received: Option<&'a [u8]>,
    /// The `rport` parameter (RFC 3581): `Some(None)` when present without a value.
    pub rport: Option<Option<u16>>,
    /// The `maddr` parameter.
    pub maddr: Option<&'a [u8]>,
    /// The `ttl` parameter.
    pub ttl: Option<u8>,
    /// All parameters, starting with `;` (or empty).
    pub params: &'a [u8],
    /// The whole value as written.
    pub raw: &'a [u8],
}

impl<'a> Via<'a> {
    /// Parses exactly one Via value.
    pub fn parse(s: &'a [u8]) -> Result<Via<'a>, ParseError> {
        match parse_via(s, 0) {
            Ok((v, end)) if end == s.len() => Ok(v),
            Ok((_, end)) => Err(ParseError::new(ErrorKind::BadVia, end)),
            Err(f) => Err(f.locate(s, None)),
        }
    }

    /// Whether the branch starts with the RFC 3261 magic cookie; without it
    /// transactions are matched by the RFC 2543 rules (§17.2.3).
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch
            .is_some_and(|b| b.len() >= MAGIC_COOKIE.len() && b[..7] == *MAGIC_COOKIE)
    }

    /// Iterates all parameters.
    pub fn param_iter(&self) -> Params<'a> {
        Params::new(self.params)
    }
}

/// Parses one Via value at `s[i]`; returns it and where it ends (at the
/// `,` before the next value, or `s.len()`).
///
/// Inlined so that a caller that keeps only the `Via` builds it in place:
/// returned through an out-of-line call, the ~170-byte result was copied
/// by `memcpy` right after being written field by field, a store-forwarding
/// stall that cost the top-Via access ~5 % of an INVITE's parse.
#[inline(always)]
pub(crate) fn parse_via(s: &[u8], i: usize) -> Result<(Via<'_>, usize), Fault> {
    match parse_via_fast(s, i) {
        // The fast path's `raw` ends where the value does.
        Some(v) => {
            let end = v.raw.as_ptr() as usize - s.as_ptr() as usize + v.raw.len();
            Ok((v, end))
        }
        None => parse_via_full(s, i),
    }
}

/// The first Via value of `s` (the rest of the header value is not
/// looked at): [`parse_via`] without the end position, so the fast path's
/// result goes to the caller's slot with no intermediate copy.
#[inline(always)]
pub(crate) fn parse_first_via(s: &[u8]) -> Result<Via<'_>, Fault> {
    match parse_via_fast(s, 0) {
        Some(v) => Ok(v),
        None => parse_via_full(s, 0).map(|(v, _)| v),
    }
}

/// One pass over a Via of the usual shape: `SIP/2.0/transport SP
/// host[:port]` and `;name[=value]` parameters, with no other LWS and no
/// quoted value. `None` when the value is not of that shape or has any
/// fault: [`parse_via_full`] then decides, so results and errors are
/// exactly those of the full grammar (where there is no LWS, it takes the
/// same steps as this).
#[inline(always)]
fn parse_via_fast(s: &[u8], i: usize) -> Option<Via<'_>> {
    let start = scan::skip_lws(s, i);
    let w = u64::from_le_bytes(*s.get(start..)?.first_chunk::<8>()?);
    // "SIP/2.0/" with the three letters in any case (| 0x20 maps no other
    // byte onto them).
    if w | 0x20_2020 != u64::from_le_bytes(*b"sip/2.0/") {
        return None;
    }
    let t = start + 8;
    let t_end = scan::skip_token(s, t);
    if t_end == t || s.get(t_end) != Some(&b' ') {
        return None;
    }
    let host_start = t_end + 1;
    let host_end = scan::skip_token(s, host_start);
    let host = uri::parse_host(&s[host_start..host_end]).ok()?;
    let mut i = host_end;
    let mut port = None;
    if s.get(i) == Some(&b':') {
        let (value, p_end) = scan::port_digits(s, i + 1)?;
        port = Some(value);
        i = p_end;
    }
    let mut via = Via {
        protocol: &s[start..start + 3],
        version: &s[start + 4..start + 7],
        transport: &s[t..t_end],
        host,
        port,
        sent_by: &s[host_start..i],
        branch: None,
        received: None,
        rport: None,
        maddr: None,
        ttl: None,
        params: &[],
        raw: &[],
    };
    let params_start = i;
    let end = loop {
        match s.get(i) {
            None => break s.len(),
            Some(b',') => break i,
            Some(b';') => {}
            Some(_) => return None,
        }
        let n = i + 1;
        let n_end = scan::skip_token(s, n);
        if n_end == n {
            return None;
        }
        let name = &s[n..n_end];
        i = n_end;
        let mut value = None;
        if s.get(i) == Some(&b'=') {
            let v = i + 1;
            let v_end = scan::skip_host_value(s, v);
            if v_end == v {
                return None; // empty, quoted or LWS: the full grammar
            }
            value = Some(&s[v..v_end]);
            i = v_end;
        }
        match (name.len(), name[0] | 0x20) {
            (6, b'b') if scan::eq_letters(name, b"branch") => via.branch = Some(value?),
            (8, b'r') if scan::eq_letters(name, b"received") => via.received = Some(value?),
            (5, b'r') if scan::eq_letters(name, b"rport") => {
                via.rport = Some(match value {
                    None => None,
                    Some(v) => Some(uri::parse_port(v).ok()?),
                });
            }
            (5, b'm') if scan::eq_letters(name, b"maddr") => via.maddr = Some(value?),
            (3, b't') if scan::eq_letters(name, b"ttl") => {
                via.ttl = Some(scan::parse_decimal(value?, 255)? as u8);
            }
            _ => {}
        }
    };
    via.params = &s[params_start..end];
    via.raw = &s[start..end];
    Some(via)
}

/// The Via grammar in full, with LWS wherever it may appear, and its errors.
#[cold]
fn parse_via_full(s: &[u8], i: usize) -> Result<(Via<'_>, usize), Fault> {
    let bad = |i| Fault::at(ErrorKind::BadVia, s, i);
    let start = scan::skip_lws(s, i);
    let token = |i: usize| -> Result<(&[u8], usize), Fault> {
        let end = scan::skip_token(s, i);
        if end == i {
            Err(bad(i))
        } else {
            Ok((&s[i..end], end))
        }
    };
    let slash = |i: usize| -> Result<usize, Fault> {
        let j = scan::skip_lws(s, i);
        if s.get(j) == Some(&b'/') {
            Ok(scan::skip_lws(s, j + 1))
        } else {
            Err(bad(j))
        }
    };
    // Fast path for the usual `SIP/2.0/<transport> `; the general path
    // takes LWS around the slashes (RFC 4475 §3.1.1.1).
    let (protocol, version, transport, i) = match s.get(start..start + 8) {
        Some(p) if p.eq_ignore_ascii_case(b"SIP/2.0/") => {
            let (transport, i) = token(start + 8)?;
            (&p[..3], &p[4..7], transport, i)
        }
        _ => {
            let (protocol, i) = token(start)?;
            let (version, i) = token(slash(i)?)?;
            let (transport, i) = token(slash(i)?)?;
            (protocol, version, transport, i)
        }
    };
    let host_start = scan::skip_lws(s, i);
    if host_start == i {
        return Err(bad(i));
    }
    let host_end = if s.get(host_start) == Some(&b'[') {
        match memchr::memchr(b']', &s[host_start..]) {
            Some(k) => host_start + k + 1,
            None => return Err(bad(host_start)),
        }
    } else {
        scan::skip_token(s, host_start)
    };
    let host = uri::parse_host(&s[host_start..host_end])?;
    let mut i = host_end;
    let mut port = None;
    let k = scan::skip_lws(s, i);
    if s.get(k) == Some(&b':') {
        let p = scan::skip_lws(s, k + 1);
        let p_end = scan::skip_class(s, p, scan::DIGIT);
        port = Some(uri::parse_port(&s[p..p_end])?);
        i = p_end;
    }
    let sent_by = &s[host_start..i];

    let mut via = Via {
        protocol,
        version,
        transport,
        host,
        port,
        sent_by,
        branch: None,
        received: None,
        rport: None,
        maddr: None,
        ttl: None,
        params: &[],
        raw: &[],
    };
    let params_start = i;
    let end = loop {
        let j = scan::skip_lws(s, i);
        match s.get(j) {
            None => break s.len(),
            Some(b',') => break j,
            Some(b';') => {}
            Some(_) => return Err(bad(j)),
        }
        let n = scan::skip_lws(s, j + 1);
        let (name, n_end) = token(n)?;
        i = n_end;
        let mut value = None;
        let e = scan::skip_lws(s, n_end);
        if s.get(e) == Some(&b'=') {
            let v = scan::skip_lws(s, e + 1);
            let v_end = if s.get(v) == Some(&b'"') {
                scan::skip_quoted(s, v).ok_or(Fault::at(ErrorKind::UnterminatedQuote, s, v))?
            } else {
                // token / host, including IPv6 addresses in `received`.
                scan::skip_host_value(s, v)
            };
            if v_end == v {
                return Err(bad(v));
            }
            value = Some(&s[v..v_end]);
            i = v_end;
        }
        let vpos = value.map_or(n, |v| v.as_ptr() as usize - s.as_ptr() as usize);
        // Dispatch on length and first letter before comparing names.
        match (name.len(), name[0] | 0x20) {
            (6, b'b') if scan::eq_letters(name, b"branch") => {
                via.branch = Some(value.ok_or(bad(n))?);
            }
            (8, b'r') if scan::eq_letters(name, b"received") => {
                via.received = Some(value.ok_or(bad(n))?);
            }
            (5, b'r') if scan::eq_letters(name, b"rport") => {
                via.rport = Some(match value {
                    None => None,
                    Some(v) => Some(uri::parse_port(v).map_err(|_| bad(vpos))?),
                });
            }
            (5, b'm') if scan::eq_letters(name, b"maddr") => {
                via.maddr = Some(value.ok_or(bad(n))?);
            }
            (3, b't') if scan::eq_letters(name, b"ttl") => {
                let v = value.ok_or(bad(n))?;
                via.ttl = Some(scan::parse_decimal(v, 255).ok_or(bad(vpos))? as u8);
            }
            _ => {}
        }
    };
    via.params = scan::trim_lws(&s[params_start..end]);
    via.raw = scan::trim_lws(&s[start..end]);
    Ok((via, end))
}

/// Iterates the comma-separated Via values of one header value.
#[derive(Clone, Debug)]
pub struct ViaList<'a> {
    s: &'a [u8],
    i: usize,
    done: bool,
}

impl<'a> ViaList<'a> {
    /// Iterates the values in `s`.
    pub fn new(s: &'a [u8]) -> ViaList<'a> {
        ViaList {
            s,
            i: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for ViaList<'a> {
    type Item = Result<Via<'a>, Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match parse_via(self.s, self.i) {
            Ok((v, end)) => {
                if end < self.s.len() {
                    self.i = end + 1;
                } else {
                    self.done = true;
                }
                Some(Ok(v))
            }
            Err(f) => {
                self.done = true;
                Some(Err(f))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::HostKind;

    #[test]
    fn parses_a_plain_via() {
        let v = Via::parse(
            b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport;received=10.0.0.1",
        )
        .unwrap();
        assert_eq!(v.transport, b"UDP");
        assert_eq!(v.host.kind, HostKind::V4);
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.sent_by, b"192.0.2.1:5060");
        assert_eq!(v.branch, Some(&b"z9hG4bK776asdhds"[..]));
        assert_eq!(v.rport, Some(None));
        assert_eq!(v.received, Some(&b"10.0.0.1"[..]));
        assert!(v.is_rfc3261_branch());
    }

    #[test]
    fn tolerates_lws_everywhere_the_grammar_does() {
        let s = b"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239";
        let vias: Vec<_> = ViaList::new(s).collect::<Result<_, _>>().unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].branch, Some(&b"z9hG4bK9ikj8"[..]));
        assert_eq!(vias[0].transport, b"TCP");
        assert_eq!(vias[1].host.text, b"192.168.255.111");
        assert_eq!(vias[1].branch, Some(&b"z9hG4bK30239"[..]));
    }

    #[test]
    fn ipv6_and_rport_values() {
        let v = Via::parse(b"SIP/2.0/TLS [2001:db8::9:1]:5061;received=2001:db8::9:255;rport=5062;ttl=16;maddr=224.2.0.1").unwrap();
        assert_eq!(v.host.kind, HostKind::V6);
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.received, Some(&b"2001:db8::9:255"[..]));
        assert_eq!(v.rport, Some(Some(5062)));
        assert_eq!(v.ttl, Some(16));
        assert_eq!(v.maddr, Some(&b"224.2.0.1"[..]));
        assert!(!v.is_rfc3261_branch());
    }

    #[test]
    fn fast_path_agrees_with_the_full_grammar() {
        const PIECES: &[&str] = &[
            "SIP/2.0/UDP",
            "sip/2.0/tcp",
            "SIP/2.0/",
            "SIP",
            "/",
            "2.0",
            "UDP",
            " ",
            " ",
            "  ",
            "\t",
            "\r\n ",
            "192.0.2.1",
            "host.example.com",
            "[2001:db8::1]",
            "1.2.3",
            ":",
            ":5060",
            ":99999",
            ";",
            ";",
            "branch",
            "=",
            "z9hG4bK776",
            ";branch=z9hG4bKx",
            ";rport",
            ";rport=5062",
            ";rport=x",
            ";received=10.0.0.1",
            ";received=2001:db8::9",
            ";maddr=a",
            ";ttl=16",
            ";ttl=300",
            ";ttl",
            ";branch",
            "\"q\"",
            ",",
            ",",
            "x",
            "",
        ];
        let mut rng = fastrand::Rng::with_seed(0x1357_9bdf_2468_ace0);
        let mut next = |n: usize| rng.usize(0..n);
        let mut fast = 0;
        let mut text = String::new();
        for round in 0..300_000 {
            text.clear();
            if round % 2 == 0 {
                text.push_str("SIP/2.0/UDP 192.0.2.1");
            }
            for _ in 0..1 + next(7) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            let s = text.as_bytes();
            for i in [0, next(s.len() + 1)] {
                let full = parse_via_full(s, i);
                if let Some(v) = parse_via_fast(s, i) {
                    fast += 1;
                    let end = v.raw.as_ptr() as usize - s.as_ptr() as usize + v.raw.len();
                    assert_eq!(Ok((v, end)), full, "{text:?} at {i}");
                    let (a, b) = (v, full.unwrap().0);
                    assert_eq!(
                        (a.params.as_ptr(), a.raw.as_ptr(), a.sent_by.as_ptr()),
                        (b.params.as_ptr(), b.raw.as_ptr(), b.sent_by.as_ptr())
                    );
                }
                assert_eq!(parse_via(s, i), full, "{text:?} at {i}");
            }
        }
        assert!(fast > 20_000, "{fast}");
    }

    #[test]
    fn refuses_malformed_vias() {
        for bad in [
            &b"SIP/2.0/UDP 192.0.2.15;;,;,,"[..], // RFC 4475 badinv01
            b"SIP/2.0 192.0.2.1",
            b"SIP/2.0/UDP",
            b"SIP/2.0/UDP192.0.2.1",
            b"SIP/2.0/UDP host:99999",
            b"SIP/2.0/UDP host;branch",
            b"SIP/2.0/UDP host;ttl=300",
            b"SIP/2.0/UDP host;rport=x",
            b"SIP/2.0/UDP host junk",
        ] {
            assert!(Via::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let all: Vec<_> = ViaList::new(b"SIP/2.0/UDP a;branch=z9hG4bK1,").collect();
        assert!(all[1].is_err(), "a trailing comma is an empty value");
    }
}
