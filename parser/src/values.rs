//! Scalar and list header values: CSeq (§20.16), Max-Forwards (§20.22),
//! Expires (§20.19), Call-ID (§20.8), option-tag lists (Require,
//! Proxy-Require, Supported, Unsupported: §20.32, §20.29, §20.37, §20.40),
//! credentials and challenges (§20.7, §20.27, §20.28, §20.44, §25.1), and
//! generic comma-separated list splitting (§7.3.1).

use crate::error::{ErrorKind, ParseError};
use crate::method::Method;
use crate::params::{Fault, unquote};
use crate::scan;

/// The largest CSeq sequence number: it "MUST be less than 2**31" (§8.1.1.5).
pub const MAX_CSEQ: u32 = (1 << 31) - 1;

/// A CSeq value: `1*DIGIT LWS Method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number, at most [`MAX_CSEQ`].
    pub seq: u32,
    /// The method, classified.
    pub method: Method,
    /// The method as written (compare these for extension methods).
    pub method_bytes: &'a [u8],
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value (already trimmed of surrounding LWS).
    pub fn parse(s: &'a [u8]) -> Result<CSeq<'a>, ParseError> {
        // Fast path: up to ten digits within range, one SP, a token to the
        // end; anything else (and every fault) takes the general steps.
        let mut seq: u64 = 0;
        let mut i = 0;
        while i < 10 && i < s.len() && s[i].is_ascii_digit() {
            seq = seq * 10 + (s[i] - b'0') as u64;
            i += 1;
        }
        if i > 0 && seq <= MAX_CSEQ as u64 && s.get(i) == Some(&b' ') {
            let m = i + 1;
            // A method this crate knows is a token: only an extension
            // method needs the byte scan.
            let method_bytes = &s[m.min(s.len())..];
            let method = Method::from_bytes(method_bytes);
            if method != Method::Extension || (m < s.len() && scan::skip_token(s, m) == s.len()) {
                return Ok(CSeq {
                    seq: seq as u32,
                    method,
                    method_bytes,
                });
            }
        }
        let bad = |i| ParseError::new(ErrorKind::BadCSeq, i);
        let digits = scan::skip_class(s, 0, scan::DIGIT);
        let seq = scan::parse_decimal(&s[..digits], MAX_CSEQ as u64).ok_or(bad(0))? as u32;
        let m = scan::skip_lws(s, digits);
        if m == digits {
            return Err(bad(digits));
        }
        let method_bytes = &s[m..];
        if !scan::is_token(method_bytes) {
            return Err(bad(m));
        }
        Ok(CSeq {
            seq,
            method: Method::from_bytes(method_bytes),
            method_bytes,
        })
    }
}

/// Parses a Max-Forwards value: 1*DIGIT in 0..=255.
pub fn parse_max_forwards(s: &[u8]) -> Result<u8, ParseError> {
    scan::parse_decimal(s, 255)
        .map(|v| v as u8)
        .ok_or(ParseError::new(ErrorKind::BadMaxForwards, 0))
}

/// Parses delta-seconds for Expires or an `expires` parameter: 1*DIGIT up
/// to 2**32-1.
pub fn parse_delta_seconds(s: &[u8]) -> Result<u32, ParseError> {
    scan::parse_decimal(s, u32::MAX as u64)
        .map(|v| v as u32)
        .ok_or(ParseError::new(ErrorKind::BadExpires, 0))
}

/// Checks a Call-ID. The grammar is `word ["@" word]`; deployed UAs put
/// `=` and other visible characters in Call-IDs, so any visible ASCII is
/// accepted, but never LWS, controls or non-ASCII (which would break the
/// header on the next hop).
pub fn check_call_id(s: &[u8]) -> Result<(), ParseError> {
    match scan::find_ctl_space_or_high(s, 0) {
        None if !s.is_empty() => Ok(()),
        None => Err(ParseError::new(ErrorKind::BadCallId, 0)),
        Some(i) => Err(ParseError::new(ErrorKind::BadCallId, i)),
    }
}

/// A media type (Content-Type, §20.15): `m-type "/" m-subtype *(SEMI m-parameter)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// The type, e.g. `application`.
    pub kind: &'a [u8],
    /// The subtype, e.g. `sdp`.
    pub subtype: &'a [u8],
    /// The parameters, starting with `;` (or empty).
    pub params: &'a [u8],
}

impl<'a> MediaType<'a> {
    /// Parses a media type.
    pub fn parse(s: &'a [u8]) -> Result<MediaType<'a>, ParseError> {
        let bad = |i| ParseError::new(ErrorKind::BadHeaderValue, i);
        let t_end = scan::skip_token(s, 0);
        let slash = scan::skip_lws(s, t_end);
        if t_end == 0 || s.get(slash) != Some(&b'/') {
            return Err(bad(slash));
        }
        let st = scan::skip_lws(s, slash + 1);
        let st_end = scan::skip_token(s, st);
        if st_end == st {
            return Err(bad(st));
        }
        let end = crate::params::scan_header_params(s, st_end).map_err(|f| f.locate(s, None))?;
        if end != s.len() {
            return Err(bad(end));
        }
        Ok(MediaType {
            kind: &s[..t_end],
            subtype: &s[st..st_end],
            params: scan::trim_lws(&s[st_end..]),
        })
    }

    /// Whether this is `type/subtype`, ignoring case.
    pub fn is(&self, kind: &[u8], subtype: &[u8]) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// The parameter `name` (case-insensitive), quotes removed.
    pub fn param(&self, name: &[u8]) -> Option<&'a [u8]> {
        crate::params::Params::new(self.params)
            .get(name)
            .flatten()
            .map(unquote)
    }
}

/// Splits a header value into its comma-separated values, honouring quoted
/// strings and `<...>`; each value is trimmed of LWS. Used for list headers
/// this crate has no typed parser for, and by the edit API to remove one
/// value. An unterminated quote or bracket ends the last value at the end.
#[derive(Clone, Debug)]
pub struct CommaValues<'a> {
    s: &'a [u8],
    i: usize,
    done: bool,
}

impl<'a> CommaValues<'a> {
    /// Iterates the values of `s`.
    pub fn new(s: &'a [u8]) -> CommaValues<'a> {
        CommaValues {
            s,
            i: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for CommaValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let s = self.s;
        let start = self.i;
        let mut i = start;
        let mut in_angle = false;
        // Jump between the bytes that matter (memchr's SIMD search): out
        // of `<...>` a comma, a quote or `<`; inside it `>` or a quote.
        while i < s.len() {
            let rest = &s[i..];
            let found = if in_angle {
                memchr::memchr2(b'>', b'"', rest)
            } else {
                memchr::memchr3(b',', b'"', b'<', rest)
            };
            let Some(at) = found else {
                i = s.len();
                break;
            };
            i += at;
            match s[i] {
                b'"' => {
                    i = scan::skip_quoted(s, i).unwrap_or(s.len());
                    continue;
                }
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                _ => break, // ',' out of <...>
            }
            i += 1;
        }
        if i >= s.len() {
            self.done = true;
        } else {
            self.i = i + 1;
        }
        Some(scan::trim_lws(&s[start..i.min(s.len())]))
    }
}

/// Iterates an option-tag list (`Require: 100rel, timer`), each a `token`.
#[derive(Clone, Debug)]
pub struct TokenList<'a>(CommaValues<'a>);

impl<'a> TokenList<'a> {
    /// Iterates the tokens of `s`; an empty `s` yields none.
    pub fn new(s: &'a [u8]) -> TokenList<'a> {
        let mut it = CommaValues::new(s);
        if s.is_empty() {
            it.done = true;
        }
        TokenList(it)
    }
}

impl<'a> Iterator for TokenList<'a> {
    type Item = Result<&'a [u8], Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        // Fast path: `LWS token LWS` up to a ',' or the end is exactly the
        // trimmed value the general splitter would return (no quote nor
        // '<' in it).
        let it = &mut self.0;
        if !it.done {
            let s = it.s;
            let start = scan::skip_lws(s, it.i);
            let end = scan::skip_token(s, start);
            let next = scan::skip_lws(s, end);
            if end > start {
                if next == s.len() {
                    it.done = true;
                    return Some(Ok(&s[start..end]));
                }
                if s[next] == b',' {
                    it.i = next + 1;
                    return Some(Ok(&s[start..end]));
                }
            }
        }
        let v = self.0.next()?;
        Some(if scan::is_token(v) {
            Ok(v)
        } else {
            Err(Fault::at(ErrorKind::BadTokenList, v, 0))
        })
    }
}

/// Credentials (Authorization, Proxy-Authorization) or a challenge
/// (WWW-Authenticate, Proxy-Authenticate): an auth scheme and its
/// comma-separated `name=value` parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The scheme, e.g. `Digest`.
    pub scheme: &'a [u8],
    /// The parameters as written. For a non-Digest scheme that does not
    /// use auth-params (e.g. a base64 `token68`) this is that opaque text.
    pub params: &'a [u8],
}

impl<'a> Credentials<'a> {
    /// Parses `auth-scheme LWS auth-param *(COMMA auth-param)`. Digest
    /// parameters must follow `auth-param`; other schemes may carry opaque
    /// data (RFC 4475 §3.3.7: forward unknown schemes unchanged).
    pub fn parse(s: &'a [u8]) -> Result<Credentials<'a>, ParseError> {
        let bad = |i| ParseError::new(ErrorKind::BadAuth, i);
        let end = scan::skip_token(s, 0);
        if end == 0 {
            return Err(bad(0));
        }
        let scheme = &s[..end];
        let p = scan::skip_lws(s, end);
        if p == end && end != s.len() {
            return Err(bad(end));
        }
        let params = &s[p..];
        let creds = Credentials { scheme, params };
        if scheme.eq_ignore_ascii_case(b"Digest") {
            for r in creds.params() {
                r.map_err(|f| f.locate(s, None))?;
            }
        }
        Ok(creds)
    }

    /// Iterates the parameters as (name, value as written).
    pub fn params(&self) -> AuthParams<'a> {
        AuthParams {
            s: self.params,
            i: 0,
        }
    }

    /// The value of parameter `name` (case-insensitive), quotes removed.
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.params()
            .filter_map(Result::ok)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| unquote(v))
    }
}

/// Iterates `auth-param *(COMMA auth-param)`.
#[derive(Clone, Debug)]
pub struct AuthParams<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Iterator for AuthParams<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.s;
        let mut i = scan::skip_lws(s, self.i);
        if i >= s.len() {
            return None;
        }
        let fail = |this: &mut Self, i| {
            this.i = s.len();
            Some(Err(Fault::at(ErrorKind::BadAuth, s, i)))
        };
        let n_end = scan::skip_token(s, i);
        if n_end == i {
            return fail(self, i);
        }
        let name = &s[i..n_end];
        let eq = scan::skip_lws(s, n_end);
        if s.get(eq) != Some(&b'=') {
            return fail(self, eq);
        }
        let v = scan::skip_lws(s, eq + 1);
        let v_end = if s.get(v) == Some(&b'"') {
            match scan::skip_quoted(s, v) {
                Some(e) => e,
                None => return fail(self, v),
            }
        } else {
            scan::skip_token(s, v)
        };
        if v_end == v {
            return fail(self, v);
        }
        i = scan::skip_lws(s, v_end);
        match s.get(i) {
            None => self.i = s.len(),
            Some(b',') => self.i = i + 1,
            Some(_) => return fail(self, i),
        }
        Some(Ok((name, &s[v..v_end])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded draws for the randomized tests: `next(n)` is in `0..n`.
    fn draws(seed: u64) -> impl FnMut(usize) -> usize {
        let mut rng = fastrand::Rng::with_seed(seed);
        move |n| rng.usize(0..n)
    }

    #[test]
    fn cseq() {
        let c = CSeq::parse(b"0009\r\n  INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        let c = CSeq::parse(b"139122385 !interesting-Method0123456789_*+`.%indeed'~").unwrap();
        assert_eq!(c.method, Method::Extension);
        assert_eq!(CSeq::parse(b"2147483647 BYE").unwrap().seq, MAX_CSEQ);
        for bad in [
            &b"2147483648 BYE"[..],
            b"36893488147419103232 REGISTER",
            b"1INVITE",
            b"1 INVITE x",
            b"INVITE",
            b"-1 BYE",
            b"1 ",
        ] {
            assert!(
                CSeq::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(parse_max_forwards(b"0068"), Ok(68));
        assert!(parse_max_forwards(b"300").is_err());
        assert_eq!(parse_delta_seconds(b"4294967295"), Ok(u32::MAX));
        assert!(parse_delta_seconds(b"4294967296").is_err());
        assert!(check_call_id(b"intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_ok());
        assert!(check_call_id(b"a b").is_err());
        assert!(check_call_id(b"").is_err());
    }

    #[test]
    fn media_types() {
        let m = MediaType::parse(b"multipart/mixed ; boundary=\"7a9cbec02ceef655\"").unwrap();
        assert!(m.is(b"Multipart", b"MIXED"));
        assert_eq!(m.param(b"boundary"), Some(&b"7a9cbec02ceef655"[..]));
        assert!(
            MediaType::parse(b"application/sdp")
                .unwrap()
                .is(b"application", b"sdp")
        );
        for bad in [&b"sdp"[..], b"application/", b"/sdp", b"a/b c", b"a/b;"] {
            assert!(
                MediaType::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn comma_values_respect_quotes_and_brackets() {
        let v: Vec<_> = CommaValues::new(b"a, \"b,c\" <sip:x,y>;p=1 ,d").collect();
        assert_eq!(v, [&b"a"[..], b"\"b,c\" <sip:x,y>;p=1", b"d"]);
        let t: Vec<_> = TokenList::new(b"100rel, timer")
            .map(Result::unwrap)
            .collect();
        assert_eq!(t, [&b"100rel"[..], b"timer"]);
        assert_eq!(TokenList::new(b"").count(), 0);
        assert!(TokenList::new(b"a,,b").any(|r| r.is_err()));
    }

    /// The byte-at-a-time splitter `CommaValues` replaced with memchr
    /// jumps: the same values (as spans) on random lists of the pieces
    /// that matter.
    #[test]
    fn comma_values_agree_with_a_byte_at_a_time_splitter() {
        fn reference(s: &[u8]) -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            let mut start = 0;
            loop {
                let mut i = start;
                let mut in_angle = false;
                while i < s.len() {
                    match s[i] {
                        b'"' => {
                            i = scan::skip_quoted(s, i).unwrap_or(s.len());
                            continue;
                        }
                        b'<' => in_angle = true,
                        b'>' => in_angle = false,
                        b',' if !in_angle => break,
                        _ => {}
                    }
                    i += 1;
                }
                let v = scan::trim_lws(&s[start..i.min(s.len())]);
                out.push((v.as_ptr() as usize - s.as_ptr() as usize, v.len()));
                if i >= s.len() {
                    return out;
                }
                start = i + 1;
            }
        }
        const PIECES: &[&[u8]] = &[
            b"sip:a",
            b",",
            b" ",
            b"\t",
            b"\r\n ",
            b"\"a,b\"",
            b"\"x\\\"",
            b"<",
            b">",
            b"<x,y>",
            b";p=1",
            b"\"",
            b"\\",
            b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1",
        ];
        let mut next = draws(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..50_000 {
            let mut s = Vec::new();
            for _ in 0..next(10) {
                s.extend_from_slice(PIECES[next(PIECES.len())]);
            }
            let got: Vec<_> = CommaValues::new(&s)
                .map(|v| (v.as_ptr() as usize - s.as_ptr() as usize, v.len()))
                .collect();
            assert_eq!(got, reference(&s), "{:?}", String::from_utf8_lossy(&s));
        }
    }

    #[test]
    fn token_list_fast_path_agrees_with_the_splitter() {
        const PIECES: &[&[u8]] = &[
            b"100rel", b"timer", b",", b",", b" ", b"\t", b"\r\n ", b"\"a,b\"", b"<x,y>", b"@",
            b"a b", b"", b";", b"\"", b"<", b">",
        ];
        let mut next = draws(0x0123_4567_89ab_cdefu64);
        for _ in 0..50_000 {
            let mut s = Vec::new();
            for _ in 0..next(8) {
                s.extend_from_slice(PIECES[next(PIECES.len())]);
            }
            let general: Vec<_> = {
                let mut it = CommaValues::new(&s);
                it.done = s.is_empty();
                it.map(|v| {
                    if scan::is_token(v) {
                        Ok((v.as_ptr(), v.len()))
                    } else {
                        Err(Fault::at(ErrorKind::BadTokenList, v, 0))
                    }
                })
                .collect()
            };
            let fast: Vec<_> = TokenList::new(&s)
                .map(|r| r.map(|v| (v.as_ptr(), v.len())))
                .collect();
            assert_eq!(fast, general, "{:?}", String::from_utf8_lossy(&s));
        }
    }

    #[test]
    fn cseq_fast_path_agrees_with_the_general_steps() {
        // The general steps alone, as before the fast path.
        fn general(s: &[u8]) -> Result<CSeq<'_>, ParseError> {
            let bad = |i| ParseError::new(ErrorKind::BadCSeq, i);
            let digits = scan::skip_class(s, 0, scan::DIGIT);
            let seq = scan::parse_decimal(&s[..digits], MAX_CSEQ as u64).ok_or(bad(0))? as u32;
            let m = scan::skip_lws(s, digits);
            if m == digits {
                return Err(bad(digits));
            }
            let method_bytes = &s[m..];
            if !scan::is_token(method_bytes) {
                return Err(bad(m));
            }
            Ok(CSeq {
                seq,
                method: Method::from_bytes(method_bytes),
                method_bytes,
            })
        }
        const PIECES: &[&str] = &[
            "0",
            "1",
            "9",
            "2147483647",
            "2147483648",
            "99999999999",
            "00000000001",
            " ",
            " ",
            "\t",
            "\r\n ",
            "INVITE",
            "BYE",
            "invite",
            "x-y",
            "@",
            ",",
            "",
        ];
        let mut next = draws(0x0f0f_1234_abcd_5678u64);
        let mut text = String::new();
        for _ in 0..100_000 {
            text.clear();
            for _ in 0..next(6) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            let s = text.as_bytes();
            let (a, b) = (CSeq::parse(s), general(s));
            assert_eq!(a, b, "{text:?}");
            if let (Ok(a), Ok(b)) = (a, b) {
                assert_eq!(a.method_bytes.as_ptr(), b.method_bytes.as_ptr());
            }
        }
    }

    #[test]
    fn credentials() {
        let c = Credentials::parse(
            b"Digest username=\"bob\", realm=\"biloxi.com\",\r\n nonce=\"dcd98b\", uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, response=\"6629fae4\"",
        )
        .unwrap();
        assert_eq!(c.scheme, b"Digest");
        assert_eq!(c.get(b"REALM"), Some(&b"biloxi.com"[..]));
        assert_eq!(c.get(b"nc"), Some(&b"00000001"[..]));
        assert_eq!(c.params().count(), 7);
        assert!(Credentials::parse(b"NoOneKnowsThisScheme opaque-data=here").is_ok());
        assert!(Credentials::parse(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").is_ok());
        assert!(Credentials::parse(b"Digest username=\"bob").is_err());
        assert!(Credentials::parse(b"Digest username").is_err());
        assert!(Credentials::parse(b"").is_err());
    }
}
