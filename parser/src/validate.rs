//! Message validation in the spirit of OpenSIPS `sipmsg_validate` and
//! RFC 3261 §8.1.1, §8.2, §16.3: the checks a proxy runs before acting on
//! a request or relaying a response. Each rule fails with its own
//! [`ErrorKind`], the byte offset and the header concerned.
//!
//! Only what a proxy relies on is checked: the Request-URI, the headers
//! that identify the transaction and dialog (Via, From, To, Call-ID,
//! CSeq), hop count, routing headers and option tags. Headers a proxy does
//! not interpret (Date, Subject, unknown extensions) are forwarded as they
//! come, as RFC 4475 §3.1.2.12 and §3.1.1.1 expect.

use crate::error::{ErrorKind, ParseError};
use crate::header::HeaderName;
use crate::message::Message;
use crate::name_addr::{self, Contact, NameAddr};
use crate::uri::Uri;
use crate::values::{self, CSeq};
use crate::via::Via;

/// The values a proxy acts on, parsed once by [`validate`] so that nothing
/// downstream parses them again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary<'a> {
    /// The topmost Via value.
    pub top_via: Via<'a>,
    /// The CSeq.
    pub cseq: CSeq<'a>,
    /// The Call-ID.
    pub call_id: &'a [u8],
    /// From.
    pub from: NameAddr<'a>,
    /// To.
    pub to: NameAddr<'a>,
    /// Max-Forwards, if present.
    pub max_forwards: Option<u8>,
}

/// Validation switches. The defaults accept everything RFC 4475 calls
/// valid, including RFC 2543 requests (§3.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Refuse requests without Max-Forwards. Off by default: RFC 2543 UAs
    /// omit it, and a proxy adds one (§16.6 step 3).
    pub require_max_forwards: bool,
    /// Check only what a proxy acts on: the start line, the Request-URI's
    /// headers, the top Via, From and To as name-addrs with their tags,
    /// Call-ID, CSeq, Max-Forwards and duplicates. RFC 3261 §16.3 step 1:
    /// "Any other components, well-formed or not, SHOULD be ignored and
    /// remain unchanged when the message is forwarded." Off by default
    /// (`trunkline parse` checks every header it knows).
    pub proxy_scope: bool,
}

impl ValidateOptions {
    /// The checks a proxy runs before forwarding (§16.3).
    pub const PROXY: ValidateOptions = ValidateOptions {
        require_max_forwards: false,
        proxy_scope: true,
    };
}

/// Validates `msg` with the default options; returns the values it parsed.
pub fn validate<'a>(msg: &Message<'a>) -> Result<Summary<'a>, ParseError> {
    validate_with(msg, &ValidateOptions::default())
}

/// Validates `msg`: mandatory headers, no duplicates of singleton headers,
/// a well-formed Request-URI without `?headers`, CSeq method equal to the
/// request method, and the typed grammar of Via, From, To, Call-ID, CSeq,
/// Max-Forwards, Expires, Contact, Route, Record-Route, option-tag lists and
/// credentials. Content-Length was checked when the message was framed.
pub fn validate_with<'a>(
    msg: &Message<'a>,
    opts: &ValidateOptions,
) -> Result<Summary<'a>, ParseError> {
    use HeaderName as H;

    // The Request-URI: in full; in proxy scope only when it has a '?',
    // which may start `?headers` (forbidden there, RFC 4475 §3.1.2.11).
    let check_ruri =
        !opts.proxy_scope || msg.request_uri_bytes().is_some_and(|r| r.contains(&b'?'));
    if let Some(uri) = msg.request_uri().filter(|_| check_ruri) {
        let uri = uri?;
        if let Uri::Sip(sip) = uri {
            if !sip.headers.is_empty() || sip.raw.last() == Some(&b'?') {
                let at = msg.span_of(sip.headers).start.saturating_sub(1);
                return Err(ParseError::new(ErrorKind::HeadersInRequestUri, at as usize));
            }
        }
    }

    let mandatory: &[HeaderName] = if msg.is_request() && opts.require_max_forwards {
        &[H::Via, H::From, H::To, H::CallId, H::CSeq, H::MaxForwards]
    } else {
        &[H::Via, H::From, H::To, H::CallId, H::CSeq]
    };
    for &h in mandatory {
        if msg.first(h).is_none() {
            return Err(ParseError::in_header(
                ErrorKind::MissingHeader,
                msg.begin(),
                h,
            ));
        }
    }

    if msg.repeated_mask() & SINGLETONS != 0 {
        for &h in HeaderName::KNOWN {
            if h.props().singleton && msg.is_repeated(h) {
                let second = msg.all(h).nth(1).map_or(0, |e| e.name.start as usize);
                return Err(ParseError::in_header(ErrorKind::DuplicateHeader, second, h));
            }
        }
    }

    let call_id = msg.first(H::CallId).expect("checked above");
    values::check_call_id(call_id.value.of(msg.buffer())).map_err(|mut e| {
        e.offset += call_id.value.start;
        e.header = Some(H::CallId);
        e
    })?;

    let cseq = msg.cseq()?;
    if let Some(method) = msg.method_bytes() {
        if cseq.method_bytes != method {
            let at = msg.span_of(cseq.method_bytes).start as usize;
            return Err(ParseError::in_header(
                ErrorKind::CSeqMethodMismatch,
                at,
                H::CSeq,
            ));
        }
    }
    let max_forwards = msg.max_forwards()?;
    let full = !opts.proxy_scope;
    if full {
        msg.expires()?;
    }

    let from = checked_name_addr(msg, H::From, full)?;
    let to = checked_name_addr(msg, H::To, full)?;

    // Built where it is returned (a macro, not a closure: the Summary is
    // written in place rather than copied through arguments and results).
    // The top Via is parsed last, straight into its field: a Via is ~170
    // bytes, and each `Option`/`Result` it passed through was a copy read
    // back at once (store-forwarding stalls).
    macro_rules! summary {
        ($from:expr, $to:expr, $top_via:expr) => {
            Ok(Summary {
                cseq,
                call_id: call_id.value.of(msg.buffer()),
                from: $from,
                to: $to,
                max_forwards,
                top_via: $top_via,
            })
        };
    }
    if opts.proxy_scope {
        // The Vias below the top one are the next hops' business.
        return summary!(from, to, msg.top_via()?);
    }
    let mut top_via = None;
    for via in msg.vias() {
        top_via.get_or_insert(via?);
    }

    for h in [H::Route, H::RecordRoute] {
        if msg.first_index(h).is_none() {
            continue;
        }
        for na in msg.name_addrs(h) {
            let na = na?;
            name_addr::check_uri(&na).map_err(|f| f.locate(msg.buffer(), Some(h)))?;
        }
    }

    let mut contacts = 0usize;
    let mut wildcard = None;
    if msg.first_index(H::Contact).is_some() {
        for c in msg.contacts() {
            contacts += 1;
            match c? {
                Contact::Wildcard => wildcard = msg.first(H::Contact),
                Contact::Addr(na) => {
                    name_addr::check_uri(&na)
                        .map_err(|f| f.locate(msg.buffer(), Some(H::Contact)))?;
                    if let Some(Some(v)) = na.param(b"expires") {
                        values::parse_delta_seconds(v).map_err(|_| {
                            ParseError::in_header(
                                ErrorKind::BadExpires,
                                msg.span_of(v).start as usize,
                                H::Contact,
                            )
                        })?;
                    }
                }
            }
        }
    }
    // `Contact: *` stands alone, and only in REGISTER (§10.2.2, §20.10).
    if let Some(e) = wildcard {
        if contacts > 1 || msg.method() != Some(crate::Method::Register) {
            return Err(ParseError::in_header(
                ErrorKind::BadWildcardContact,
                e.value.start as usize,
                H::Contact,
            ));
        }
    }

    // Absent headers skipped before an iterator is even built.
    for h in [H::Require, H::ProxyRequire, H::Supported, H::Unsupported] {
        if msg.first_index(h).is_some() {
            for tag in msg.option_tags(h) {
                tag?;
            }
        }
    }
    for h in [H::Authorization, H::ProxyAuthorization] {
        if msg.first_index(h).is_some() {
            for c in msg.credentials(h) {
                c?;
            }
        }
    }
    summary!(from, to, top_via.ok_or_else(|| msg.missing(H::Via))?)
}

/// From or To (present: checked by the caller) as a name-addr, with its
/// URI checked when `full`, and a `tag` parameter, if any, with a value.
#[inline(always)]
fn checked_name_addr<'a>(
    msg: &Message<'a>,
    h: HeaderName,
    full: bool,
) -> Result<NameAddr<'a>, ParseError> {
    let na = msg.name_addr(h)?.ok_or_else(|| msg.missing(h))?;
    if full {
        name_addr::check_uri(&na).map_err(|f| f.locate(msg.buffer(), Some(h)))?;
    }
    // A first parameter `;tag=` (the usual case) is the first tag and
    // has a value (the scan checked one follows '='): no need to look.
    if !na.params.starts_with(b";tag=") {
        if let Some(e) = na.params().find(|p| p.name.eq_ignore_ascii_case(b"tag")) {
            if e.value.is_none() {
                let at = msg.span_of(e.name).start as usize;
                return Err(ParseError::in_header(ErrorKind::BadParam, at, h));
            }
        }
    }
    Ok(na)
}

/// The headers [`crate::HeaderProps::singleton`] marks, as a mask of kinds.
const SINGLETONS: u128 = {
    let mut m = 0u128;
    let mut i = 0;
    while i < HeaderName::KNOWN.len() {
        if HeaderName::KNOWN[i].props_const().singleton {
            m |= 1u128 << i;
        }
        i += 1;
    }
    m
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Parser;

    const BASE: &str = "INVITE sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n";

    fn check(extra: &str, opts: &ValidateOptions) -> Result<(), ErrorKind> {
        let raw = format!("{BASE}{extra}Content-Length: 0\r\n\r\n");
        let mut p = Parser::default();
        let m = p.parse(raw.as_bytes()).unwrap();
        validate_with(&m, opts).map(|_| ()).map_err(|e| e.kind)
    }

    #[test]
    fn proxy_scope_ignores_what_a_proxy_does_not_use() {
        let full = ValidateOptions::default();
        let proxy = ValidateOptions::PROXY;
        // §16.3: components a proxy does not act on are forwarded as they are.
        for extra in [
            "Contact: <sip:a@-bad-host->\r\n",
            "Record-Route: <sip:p@999.1.1.1;lr>\r\n",
            "Expires: forever\r\n",
            "Authorization: Digest realm=\"unterminated\r\n",
            "Via: SIP/2.0/UDP second.example.com;;\r\n",
        ] {
            assert!(check(extra, &full).is_err(), "{extra}");
            assert_eq!(check(extra, &proxy), Ok(()), "{extra}");
        }
        // What a proxy uses is still checked.
        assert_eq!(
            check("CSeq: 2 INVITE\r\n", &proxy),
            Err(ErrorKind::DuplicateHeader)
        );
        let raw = BASE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE") + "\r\n";
        let mut p = Parser::default();
        let m = p.parse(raw.as_bytes()).unwrap();
        assert_eq!(
            validate_with(&m, &proxy).unwrap_err().kind,
            ErrorKind::CSeqMethodMismatch
        );
        let raw = BASE.replace("sip:b@192.0.2.2 SIP", "sip:b@192.0.2.2?Route=x SIP") + "\r\n";
        let m = p.parse(raw.as_bytes()).unwrap();
        assert_eq!(
            validate_with(&m, &proxy).unwrap_err().kind,
            ErrorKind::HeadersInRequestUri
        );
    }
}
