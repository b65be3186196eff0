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

    if let Some(uri) = msg.request_uri() {
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

    for &h in HeaderName::KNOWN {
        if h.props().singleton && msg.is_repeated(h) {
            let second = msg.all(h).nth(1).map_or(0, |e| e.name.start as usize);
            return Err(ParseError::in_header(ErrorKind::DuplicateHeader, second, h));
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
    msg.expires()?;

    let mut from_to = [None, None];
    for (slot, h) in from_to.iter_mut().zip([H::From, H::To]) {
        let na = msg.name_addr(h)?.expect("checked above");
        name_addr::check_uri(&na).map_err(|f| f.locate(msg.buffer(), Some(h)))?;
        if let Some(e) = na.params().find(|p| p.name.eq_ignore_ascii_case(b"tag")) {
            if e.value.is_none() {
                let at = msg.span_of(e.name).start as usize;
                return Err(ParseError::in_header(ErrorKind::BadParam, at, h));
            }
        }
        *slot = Some(na);
    }

    let mut top_via = None;
    for via in msg.vias() {
        let via = via?;
        top_via.get_or_insert(via);
    }

    for h in [H::Route, H::RecordRoute] {
        for na in msg.name_addrs(h) {
            let na = na?;
            name_addr::check_uri(&na).map_err(|f| f.locate(msg.buffer(), Some(h)))?;
        }
    }

    let mut contacts = 0usize;
    let mut wildcard = None;
    for c in msg.contacts() {
        contacts += 1;
        match c? {
            Contact::Wildcard => wildcard = msg.first(H::Contact),
            Contact::Addr(na) => {
                name_addr::check_uri(&na).map_err(|f| f.locate(msg.buffer(), Some(H::Contact)))?;
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

    for h in [H::Require, H::ProxyRequire, H::Supported, H::Unsupported] {
        for tag in msg.option_tags(h) {
            tag?;
        }
    }
    for h in [H::Authorization, H::ProxyAuthorization] {
        for c in msg.credentials(h) {
            c?;
        }
    }
    let [Some(from), Some(to)] = from_to else {
        unreachable!("From and To were parsed above")
    };
    Ok(Summary {
        top_via: top_via.ok_or_else(|| msg.missing(H::Via))?,
        cseq,
        call_id: call_id.value.of(msg.buffer()),
        from,
        to,
        max_forwards,
    })
}
