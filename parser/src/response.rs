//! Building a response to a request (RFC 3261 §8.2.6, §16.7 step 3): the
//! status line, then Via, From, To, Call-ID and CSeq copied from the
//! request as spans, a To tag added where the request had none (not for
//! 100 Trying), Timestamp echoed in 100 Trying (§8.2.6.1), any extra
//! headers, and Content-Length: 0.
//!
//! It writes through the same [`Edits`] writer as forwarded messages: the
//! request is the "original", the start line is replaced, the headers a
//! response does not carry are deleted, and the new ones are inserted.

use std::net::SocketAddr;

use crate::edit::{EditError, Edits, LocalCtx, Piece};
use crate::header::HeaderName;
use crate::message::Message;
use crate::span::Span;
use crate::via::Via;

/// A response to build from a request.
#[derive(Clone, Debug)]
pub struct ResponseSpec<'r> {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: &'r [u8],
    /// The To tag to add when the request's To has none (ignored for 100).
    pub to_tag: Option<&'r [u8]>,
    /// Extra header lines, each `Name: value` without the CRLF.
    pub extra_headers: &'r [&'r [u8]],
    /// Where the request came from: when given, the top Via gets its
    /// `received` and `rport` as a server fills them on receipt
    /// ([`stamp_via`]), so the response names the address it goes to.
    pub via_source: Option<SocketAddr>,
    /// The request's top Via, when the caller has it parsed already
    /// (it is then not parsed again for `via_source`).
    pub top_via: Option<&'r Via<'r>>,
}

/// Fills the top Via `via` of `msg` as a server does on receipt, through
/// `edits`: `received=IP` when the sent-by host is not the source address
/// `src` (§18.2.1), or always when the Via asks for `rport`, whose value
/// is then set to the source port (RFC 3581 §4), whatever the sent-by
/// port says.
pub fn stamp_via(edits: &mut Edits, msg: &Message<'_>, via: &Via<'_>, src: SocketAddr) {
    let asked = via.rport == Some(None);
    // The rport value first: when `rport` is the last parameter both
    // insertions land at the Via's end, and they are written in order.
    if asked {
        if let Some(p) = via
            .param_iter()
            .find(|p| p.name.eq_ignore_ascii_case(b"rport"))
        {
            let at = msg.span_of(p.name).end as usize;
            let v = edits.scratch_decimal(b"=", u32::from(src.port()), b"");
            edits.insert(at, v);
        }
    }
    if asked || via.host.ip() != Some(src.ip()) {
        let end = msg.span_of(via.raw).end as usize;
        let v = edits.scratch_fmt(format_args!(";received={}", src.ip()));
        edits.insert(end, v);
    }
}

/// Writes the response `spec` to `request` into `out` (appending) and
/// returns its length. `edits` is scratch storage, cleared first.
pub fn write_response(
    request: &Message<'_>,
    spec: &ResponseSpec<'_>,
    edits: &mut Edits,
    out: &mut Vec<u8>,
) -> Result<usize, EditError> {
    edits.clear();
    let start_line = Span::new(request.begin(), request.headers_start());
    let status = edits.scratch_decimal(b"SIP/2.0 ", u32::from(spec.code), b" ");
    edits.insert(start_line.start as usize, status);
    let reason = edits.scratch(spec.reason);
    edits.insert(start_line.start as usize, reason);
    edits.replace(start_line, Piece::Static(b"\r\n"));

    let mut to_done = false;
    for (i, h) in request.headers().iter().enumerate() {
        // Content-Length stays: the writer sets it to 0.
        let keep = matches!(
            h.kind,
            HeaderName::Via
                | HeaderName::From
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::ContentLength
        ) || (h.kind == HeaderName::Timestamp && spec.code == 100);
        if h.kind == HeaderName::To && !to_done {
            to_done = true;
            if spec.code > 100 {
                if let Some(tag) = spec.to_tag {
                    let has_tag = request.to().ok().and_then(|t| t.tag()).is_some();
                    if !has_tag {
                        edits.insert(h.value.end as usize, Piece::Static(b";tag="));
                        let tag = edits.scratch(tag);
                        edits.insert(h.value.end as usize, tag);
                    }
                }
            }
        } else if !keep {
            edits.remove_header(request, i);
        }
    }
    if let Some(src) = spec.via_source {
        match spec.top_via {
            Some(via) => stamp_via(edits, request, via, src),
            None => {
                if let Ok(via) = request.top_via() {
                    stamp_via(edits, request, &via, src);
                }
            }
        }
    }
    let at = request.headers_end();
    for line in spec.extra_headers {
        let line = edits.scratch(line);
        edits.insert(at, line);
        edits.insert(at, Piece::Static(b"\r\n"));
    }
    // The request's body is not carried; an empty body sets Content-Length: 0.
    edits.set_body(Piece::Static(b""));
    edits.write(request, &LocalCtx::default(), out)
}

/// Writes the ACK for a non-2xx final response to `invite` (§17.1.1.3):
/// the INVITE's Request-URI, Call-ID, From, CSeq number, top Via and Route
/// set; CSeq method ACK; the To of the response (`response_to`, its value
/// including the tag); no body.
pub fn write_ack(
    invite: &Message<'_>,
    response_to: &[u8],
    edits: &mut Edits,
    out: &mut Vec<u8>,
) -> Result<usize, EditError> {
    write_derived(invite, b"ACK", Some(response_to), edits, out)
}

/// Writes the CANCEL for `invite` (§9.1): the INVITE's Request-URI,
/// Call-ID, To, From, CSeq number, top Via (same branch) and Route set;
/// CSeq method CANCEL; no body.
pub fn write_cancel(
    invite: &Message<'_>,
    edits: &mut Edits,
    out: &mut Vec<u8>,
) -> Result<usize, EditError> {
    write_derived(invite, b"CANCEL", None, edits, out)
}

fn write_derived(
    invite: &Message<'_>,
    method: &'static [u8],
    to: Option<&[u8]>,
    edits: &mut Edits,
    out: &mut Vec<u8>,
) -> Result<usize, EditError> {
    edits.clear();
    if let crate::StartLine::Request { method_span, .. } = invite.start_line() {
        edits.replace(*method_span, Piece::Static(method));
    }
    let mut seen_via = false;
    for (i, h) in invite.headers().iter().enumerate() {
        match h.kind {
            HeaderName::Via if !seen_via => {
                seen_via = true;
                // Keep only the first value of the top Via line: delete
                // from its end to the end of the last value.
                let mut values = crate::values::CommaValues::new(h.value.of(invite.buffer()));
                if let (Some(first), Some(last)) = (values.next(), values.last()) {
                    edits.delete(Span {
                        start: invite.span_of(first).end,
                        end: invite.span_of(last).end,
                    });
                }
            }
            HeaderName::CSeq => {
                if let Ok(c) = invite.cseq() {
                    edits.replace(invite.span_of(c.method_bytes), Piece::Static(method));
                }
            }
            HeaderName::To => {
                if let Some(to) = to {
                    let v = edits.scratch(to);
                    edits.replace(h.value, v);
                }
            }
            HeaderName::Route
            | HeaderName::From
            | HeaderName::CallId
            | HeaderName::MaxForwards
            | HeaderName::ContentLength => {}
            _ => edits.remove_header(invite, i),
        }
    }
    edits.set_body(Piece::Static(b""));
    edits.write(invite, &LocalCtx::default(), out)
}

/// The reason phrase RFC 3261 §21 (and the RFCs after it) give status
/// `code`; for a code without one, its class's (`"Client Error"`, ...).
pub const fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity-Info",
        437 => "Unsupported Certificate",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        440 => "Max-Breadth Exceeded",
        469 => "Bad Info Package",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        555 => "Push Notification Service Not Supported",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        608 => "Rejected",
        _ => match code / 100 {
            1 => "Provisional",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Parser, validate};

    const INVITE: &[u8] = b"INVITE sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKours, SIP/2.0/UDP a.example.com;branch=z9hG4bKa\r\n\
Via: SIP/2.0/UDP b.example.com;branch=z9hG4bKb\r\n\
Max-Forwards: 69\r\n\
Route: <sip:next.example.com;lr>\r\n\
Record-Route: <sip:proxy.example.com;lr>\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn ack_for_non_2xx() {
        let mut p = Parser::default();
        let inv = p.parse(INVITE).unwrap();
        let mut out = Vec::new();
        write_ack(
            &inv,
            b"Bob <sip:bob@biloxi.example.com>;tag=8321234356",
            &mut Edits::new(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ACK sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKours\r\n\
Max-Forwards: 69\r\n\
Route: <sip:next.example.com;lr>\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 ACK\r\n\
Content-Length: 0\r\n\
\r\n"
        );
    }

    #[test]
    fn cancel() {
        let mut p = Parser::default();
        let inv = p.parse(INVITE).unwrap();
        let mut out = Vec::new();
        write_cancel(&inv, &mut Edits::new(), &mut out).unwrap();
        let mut p2 = Parser::default();
        let c = p2.parse(&out).unwrap();
        validate(&c).unwrap();
        assert_eq!(c.method(), Some(crate::Method::Cancel));
        assert_eq!(c.vias().count(), 1);
        assert_eq!(c.top_via().unwrap().branch, Some(&b"z9hG4bKours"[..]));
        assert_eq!(c.to().unwrap().tag(), None);
        assert_eq!(c.cseq().unwrap().seq, 314159);
        assert_eq!(c.routes().count(), 1);
        assert!(c.first(HeaderName::RecordRoute).is_none());
        assert!(c.first(HeaderName::Contact).is_none());
        assert_eq!(c.content_length(), Some(0));
    }
}
