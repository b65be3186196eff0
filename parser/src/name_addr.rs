//! `name-addr` and `addr-spec` with header parameters: From, To, Contact,
//! Route, Record-Route, Refer-To, Reply-To, P-Asserted-Identity, ... (RFC 3261
//! §20.10, §20.20, §20.30, §20.34, §20.39, §25.1).
//!
//! `(name-addr / addr-spec) *( SEMI param )` where
//! `name-addr = [ display-name ] LAQUOT addr-spec RAQUOT` and
//! `display-name = *(token LWS) / quoted-string`. In the addr-spec form the
//! URI may not contain `,`, `;` or `?` (§20.10): parameters after it belong
//! to the header (RFC 4475 §3.3.12), and `?headers` make it invalid (§3.1.2.13).

use memchr::memchr;

use crate::error::{ErrorKind, ParseError};
use crate::params::{self, Fault, Params};
use crate::scan;
use crate::uri::{self, Uri};

/// A `name-addr` or `addr-spec` with its header parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written: a quoted string with its quotes, or
    /// the run of tokens; `None` when absent.
    pub display_name: Option<&'a [u8]>,
    /// The URI text, without angle brackets. Check it with [`NameAddr::uri`].
    pub uri: &'a [u8],
    /// Whether the URI was enclosed in `<>` (name-addr form).
    pub bracketed: bool,
    /// The header parameters after the URI (`;tag=..;q=..`), or empty.
    pub params: &'a [u8],
    /// The `tag` parameter, found while the parameters were checked.
    tag: Option<&'a [u8]>,
}

impl<'a> NameAddr<'a> {
    /// Parses exactly one value (a trailing `,` is an error).
    pub fn parse(s: &'a [u8]) -> Result<NameAddr<'a>, ParseError> {
        parse_single(s).map_err(|f| f.locate(s, None))
    }

    /// Parses and validates the URI.
    pub fn uri(&self) -> Result<Uri<'a>, ParseError> {
        Uri::parse(self.uri)
    }

    /// Iterates the header parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first header parameter named `name` (case-insensitive).
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        self.params().get(name)
    }

    /// The `tag` parameter (From/To, §19.3).
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.tag
    }
}

pub(crate) fn parse_single(s: &[u8]) -> Result<NameAddr<'_>, Fault> {
    let (na, end) = parse_name_addr(s, 0)?;
    if end != s.len() {
        return Err(Fault::at(ErrorKind::BadNameAddr, s, end));
    }
    Ok(na)
}

/// Parses one value starting at `s[i]`; returns it and the index where it
/// ends: at the `,` before the next value, or at `s.len()`.
#[inline(always)]
pub(crate) fn parse_name_addr(s: &[u8], i: usize) -> Result<(NameAddr<'_>, usize), Fault> {
    let bad = |i| Fault::at(ErrorKind::BadNameAddr, s, i);
    let mut i = scan::skip_lws(s, i);
    let mut display_name = None;
    match s.get(i) {
        None | Some(b',') => return Err(bad(i)),
        Some(b'"') => {
            let end =
                scan::skip_quoted(s, i).ok_or(Fault::at(ErrorKind::UnterminatedQuote, s, i))?;
            display_name = Some(&s[i..end]);
            i = scan::skip_lws(s, end);
            if s.get(i) != Some(&b'<') {
                return Err(Fault::at(ErrorKind::BadDisplayName, s, i));
            }
        }
        Some(b'<') => {}
        Some(_) => {
            // Tokens separated by LWS followed by '<' are a display name
            // (RFC 4475 §3.1.1.6: the LWS before '<' may be missing).
            // Alphanumeric runs (most of a display name) sixteen bytes a step.
            let mut j = scan::skip_alnum_dot_dash(s, i);
            while j < s.len() && (scan::is(s[j], scan::TOKEN) || scan::is_lws(s[j])) {
                j += 1;
            }
            if s.get(j) == Some(&b'<') {
                display_name = Some(scan::trim_lws(&s[i..j]));
                i = j;
            }
        }
    }
    let (uri, bracketed) = if s.get(i) == Some(&b'<') {
        // The closing '>', with no LWS nor any control inside the brackets
        // (RFC 4475 §3.1.2.14).
        let close = match scan::find_byte_or_ctl(s, i + 1, b'>') {
            Some(c) if s[c] == b'>' => c,
            Some(c) => return Err(bad(c)),
            None => return Err(bad(i)),
        };
        let uri = &s[i + 1..close];
        i = close + 1;
        (uri, true)
    } else {
        let start = i;
        while i < s.len() && !matches!(s[i], b';' | b',') && !scan::is_lws(s[i]) {
            i += 1;
        }
        let uri = &s[start..i];
        if let Some(q) = memchr(b'?', uri) {
            return Err(bad(start + q));
        }
        (uri, false)
    };
    // A URI starts with a scheme and ':'; the full grammar is checked by `uri()`.
    let colon = scan::scheme_end(uri);
    if uri.is_empty() || !uri[0].is_ascii_alphabetic() || uri.get(colon) != Some(&b':') {
        return Err(Fault::at(ErrorKind::BadUri, uri, 0));
    }
    let params_start = i;
    let (end, tag) = params::scan_header_params_tag(s, i)?;
    Ok((
        NameAddr {
            display_name,
            uri,
            bracketed,
            params: scan::trim_lws(&s[params_start..end]),
            tag,
        },
        end,
    ))
}

/// Also validates the URI of a parsed value, for the validator.
pub(crate) fn check_uri(na: &NameAddr<'_>) -> Result<(), Fault> {
    if uri::is_plain_sip(na.uri) {
        return Ok(());
    }
    uri::parse_uri(na.uri).map(|_| ())
}

/// A Contact value: an address, or `*` (§10.2.2, REGISTER only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *`.
    Wildcard,
    /// A contact address.
    Addr(NameAddr<'a>),
}

/// Iterates the comma-separated name-addr values of one header value
/// (Contact, Route, Record-Route, ...). Stops after the first error.
#[derive(Clone, Debug)]
pub struct NameAddrList<'a> {
    s: &'a [u8],
    i: usize,
    done: bool,
}

impl<'a> NameAddrList<'a> {
    /// Iterates the values in `s`.
    pub fn new(s: &'a [u8]) -> NameAddrList<'a> {
        NameAddrList {
            s,
            i: 0,
            done: s.is_empty(),
        }
    }
}

impl<'a> Iterator for NameAddrList<'a> {
    type Item = Result<NameAddr<'a>, Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match parse_name_addr(self.s, self.i) {
            Ok((na, end)) => {
                if end < self.s.len() {
                    self.i = end + 1; // past the ','
                } else {
                    self.done = true;
                }
                Some(Ok(na))
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

    fn one(s: &str) -> NameAddr<'_> {
        NameAddr::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn forms() {
        let na = one(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        );
        assert_eq!(na.display_name, Some(&b"\"J Rosenberg \\\\\\\"\""[..]));
        assert_eq!(na.uri, b"sip:jdrosen@example.com");
        assert_eq!(na.tag(), Some(&b"98asjd8"[..]));

        let na = one("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n");
        assert!(!na.bracketed);
        assert_eq!(na.tag(), Some(&b"1918181833n"[..]));

        let na = one("caller<sip:caller@example.com>;tag=323");
        assert_eq!(na.display_name, Some(&b"caller"[..]));

        let na = one("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;tag=x");
        assert_eq!(
            na.display_name,
            Some(&b"token1~` token2'+_ token3*%!.-"[..])
        );

        // addr-spec form: ';unknownparam' is a header parameter (RFC 4475 §3.3.12).
        let na = one("sip:+19725552222@gw1.example.net;unknownparam");
        assert_eq!(na.uri, b"sip:+19725552222@gw1.example.net");
        assert_eq!(na.param(b"unknownparam"), Some(None));

        let na = one("<sip:+19725552222@gw1.example.net;unknownparam>");
        assert!(na.params.is_empty());
        assert!(one("isbn:2983792873").uri().is_ok());
    }

    #[test]
    fn refuses_rfc4475_invalid_forms() {
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",          // quotbal
            "\"Watson, Thomas\" < sip:t.watson@example.org >", // badaspec
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43", // baddn
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E", // regbadct
            "\"Joe\" <sip:joe@example.org>;;;;",               // badinv01
            "<sip:a@b",
            "",
            "<>",
        ] {
            assert!(NameAddr::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists() {
        let v = b"<sip:a@b;lr>, \"x, y\" <sip:c@d>;q=0.5 ,sip:e@f";
        let all: Vec<_> = NameAddrList::new(v).collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].display_name, Some(&b"\"x, y\""[..]));
        assert_eq!(all[2].uri, b"sip:e@f");
        assert!(NameAddrList::new(b"<sip:a@b>,,<sip:c@d>").any(|r| r.is_err()));
    }
}
