//! The checks the fuzz targets run on every input, shared with the stable
//! tests: `parser/tests/fuzz_corpus.rs` and `parser/tests/props.rs` include
//! this file with `#[path]`, so CI replays the same checks without
//! cargo-fuzz.
//!
//! Network input is hostile: whatever the bytes, the parser must not panic,
//! loop or allocate without bound, and every message it accepts must write
//! back byte-identical through a no-op edit. A message that also validates
//! must survive the proxy's edits (Via, Record-Route, body) and the
//! response builder, with output that parses and validates again.

use trunkline_parser::{
    CSeq, Contact, Credentials, Edits, HeaderName, Limits, LocalCtx, LocalPart, Message, NameAddr,
    ParseError, Parser, Piece, ResponseSpec, SipUri, Uri, ValidateOptions, Via, unquote, validate,
    validate_with, values, write_ack, write_cancel, write_response,
};

/// The `LocalCtx` the edit checks write with.
pub const LOCAL: LocalCtx<'static> = LocalCtx {
    host_port: b"192.0.2.1:5060",
    transport: b"UDP",
};

/// Every header whose value is a list of name-addrs.
pub const NAME_ADDR_LISTS: &[HeaderName] = &[
    HeaderName::Route,
    HeaderName::RecordRoute,
    HeaderName::Path,
    HeaderName::ServiceRoute,
    HeaderName::PAssertedIdentity,
    HeaderName::PPreferredIdentity,
    HeaderName::RemotePartyId,
    HeaderName::Diversion,
];

/// Every single-valued name-addr header.
pub const NAME_ADDR_SINGLES: &[HeaderName] = &[
    HeaderName::From,
    HeaderName::To,
    HeaderName::ReferTo,
    HeaderName::ReferredBy,
    HeaderName::ReplyTo,
];

/// Every option-tag list header.
pub const OPTION_TAG_LISTS: &[HeaderName] = &[
    HeaderName::Require,
    HeaderName::ProxyRequire,
    HeaderName::Supported,
    HeaderName::Unsupported,
];

/// Every Authorization-family header.
pub const AUTH_HEADERS: &[HeaderName] = &[
    HeaderName::Authorization,
    HeaderName::ProxyAuthorization,
    HeaderName::WwwAuthenticate,
    HeaderName::ProxyAuthenticate,
];

/// What [`check_bytes`] found, for the stable tests' statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The bytes parsed as a message.
    pub parsed: bool,
    /// ... and the message validated.
    pub valid: bool,
}

/// Runs every check on `data`: parse, and on success the structural
/// invariants, validation, every accessor, no-op write identity and, for a
/// valid message, the edit and response round trips. Also runs the
/// standalone value parsers on `data` as a header value. Panics on any
/// failure.
pub fn check_bytes(data: &[u8]) -> Outcome {
    check_value_parsers(data);
    let prescan = trunkline_parser::find_call_id(data);
    if let Some(span) = prescan {
        assert!(span.start <= span.end && span.end as usize <= data.len());
    }
    let mut parser = Parser::default();
    match parser.parse(data) {
        Ok(msg) => {
            // find_call_id is the shard pre-scan: it finds the Call-ID the
            // full parse finds, leading CRLFs or not.
            assert_eq!(
                prescan.map(|s| msg.slice(s)),
                msg.call_id(),
                "find_call_id disagrees with the parser"
            );
            let valid = check_message(&msg);
            Outcome {
                parsed: true,
                valid,
            }
        }
        Err(e) => {
            check_error(&e, data.len());
            Outcome::default()
        }
    }
}

/// An error's offset lies within (or just past) the buffer, and its
/// status, reason and text are available.
pub fn check_error(e: &ParseError, len: usize) {
    assert!(
        e.offset as usize <= len,
        "error offset {} beyond the {len}-byte buffer: {e:?}",
        e.offset
    );
    let status = e.status();
    assert!((400..=699).contains(&status), "status {status} for {e:?}");
    assert!(!e.reason().is_empty());
    let _ = e.to_string();
}

fn check_result<T>(r: Result<T, ParseError>, len: usize) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            check_error(&e, len);
            None
        }
    }
}

/// Runs the standalone value parsers on arbitrary bytes (and on the
/// sub-slices a header value would be split into).
pub fn check_value_parsers(s: &[u8]) {
    if let Ok(u) = Uri::parse(s) {
        check_uri(&u);
    }
    if let Ok(u) = SipUri::parse(s) {
        check_sip_uri(&u);
    }
    if let Ok(h) = trunkline_parser::Host::parse(s) {
        let _ = h.ip();
        assert!(h.equivalent(&h));
    }
    if let Ok(v) = Via::parse(s) {
        check_via(&v);
    }
    if let Ok(na) = NameAddr::parse(s) {
        check_name_addr(&na);
    }
    if let Ok(c) = CSeq::parse(s) {
        assert!(c.seq <= values::MAX_CSEQ);
        assert!(!c.method_bytes.is_empty());
    }
    if let Ok(c) = Credentials::parse(s) {
        check_credentials(&c);
    }
    let _ = values::parse_max_forwards(s);
    let _ = values::parse_delta_seconds(s);
    let _ = values::check_call_id(s);
    if let Ok(t) = values::MediaType::parse(s) {
        let _ = t.param(b"charset");
    }
    let n = values::CommaValues::new(s).take(s.len() + 2).count();
    assert!(n <= s.len() + 1, "{n} comma values in {} bytes", s.len());
}

fn check_uri(u: &Uri<'_>) {
    let _ = u.scheme();
    let _ = u.raw();
    if let Some(sip) = u.as_sip() {
        check_sip_uri(sip);
    }
}

fn check_sip_uri(u: &SipUri<'_>) {
    for p in u.params() {
        let _ = p.value.map(unquote);
    }
    let _ = (u.lr(), u.transport(), u.maddr(), u.host.ip());
    let _ = u.header_fields().count();
    // Not asserted: a URI with a repeated parameter (`;a=1;a=2`) is not
    // equivalent to itself, as §19.1.4 compares by first occurrence.
    let _ = u.equivalent(u);
}

fn check_via(v: &Via<'_>) {
    let _ = v.is_rfc3261_branch();
    let _ = v.param_iter().count();
    let _ = v.host.ip();
}

fn check_name_addr(na: &NameAddr<'_>) {
    let _ = na.tag();
    let _ = na.params().count();
    if let Ok(u) = na.uri() {
        check_uri(&u);
    }
}

fn check_credentials(c: &Credentials<'_>) {
    let _ = c.params().take(c.params.len() + 1).count();
    let _ = c.get(b"realm");
    let _ = c.get(b"nonce");
}

/// Checks a parsed message; returns whether it validated.
pub fn check_message(msg: &Message<'_>) -> bool {
    check_structure(msg);
    let len = msg.buffer().len();
    let full = check_result(validate(msg), len);
    let valid = full.is_some();
    let strict = validate_with(
        msg,
        &ValidateOptions {
            require_max_forwards: true,
            ..ValidateOptions::default()
        },
    );
    if check_result(strict, len).is_some() {
        assert!(valid, "the strict options accept what the default refuses");
    }
    // The proxy's scope checks a subset: whatever passes in full passes
    // there too, with the same summary.
    let proxy = check_result(validate_with(msg, &ValidateOptions::PROXY), len);
    if let Some(f) = full {
        assert_eq!(
            proxy,
            Some(f),
            "the proxy scope refuses what full validation accepts"
        );
    }
    check_accessors(msg);
    check_identity(msg);
    check_edits_any(msg);
    if valid {
        check_edits(msg);
        if msg.is_request() {
            check_responses(msg);
            check_ack_cancel(msg);
        }
    }
    valid
}

/// The header index covers the header block exactly, line after line, and
/// every span lies within the buffer.
pub fn check_structure(msg: &Message<'_>) {
    let buf = msg.buffer();
    let bytes = msg.as_bytes();
    assert!(msg.begin() <= msg.headers_start());
    assert!(msg.headers_start() <= msg.headers_end());
    let body = msg.body_span();
    assert!(msg.headers_end() <= body.start as usize);
    assert!(body.start <= body.end && body.end as usize <= buf.len());
    assert_eq!(bytes.len(), body.end as usize - msg.begin());
    assert_eq!(msg.body().len(), body.len());
    if let Some(cl) = msg.content_length() {
        assert_eq!(cl as usize, body.len(), "Content-Length frames the body");
    }
    let mut at = msg.headers_start();
    for h in msg.headers() {
        assert_eq!(h.name.start as usize, at, "header lines are contiguous");
        assert!(h.name.start < h.name.end);
        assert!(h.name.end <= h.value.start && h.value.start <= h.value.end);
        assert!((h.value.end as usize) < h.end as usize);
        assert_eq!(buf[h.end as usize - 1], b'\n');
        assert_eq!(
            HeaderName::from_bytes(msg.slice(h.name)),
            h.kind,
            "the kind matches the name"
        );
        at = h.end as usize;
    }
    assert_eq!(at, msg.headers_end(), "the index ends at the empty line");
    for &k in HeaderName::KNOWN {
        let n = msg.all(k).count();
        let m = msg.headers().iter().filter(|h| h.kind == k).count();
        assert_eq!(n, m, "all({k:?})");
        assert_eq!(msg.first(k).is_some(), m > 0);
        assert_eq!(msg.is_repeated(k), m > 1);
        if let Some(name) = k.canonical() {
            assert_eq!(msg.headers_named(name.as_bytes()).count(), m);
        }
    }
    let _ = msg.trailing();
    let _ = (msg.method(), msg.method_bytes(), msg.status_code());
    let _ = (msg.reason_phrase(), msg.request_uri_bytes());
}

/// Every accessor runs without panicking, and every header value goes
/// through every value parser.
pub fn check_accessors(msg: &Message<'_>) {
    let len = msg.buffer().len();
    let _ = msg.call_id();
    if let Some(c) = check_result(msg.cseq(), len) {
        assert!(c.seq <= values::MAX_CSEQ);
    }
    let _ = check_result(msg.max_forwards(), len);
    let _ = check_result(msg.expires(), len);
    if let Some(Some(t)) = check_result(msg.content_type(), len) {
        let _ = (t.is(b"application", b"sdp"), t.param(b"boundary"));
    }
    if let Some(v) = check_result(msg.top_via(), len) {
        check_via(&v);
    }
    // Each list iterator makes progress: at most one value per byte, plus one.
    let bound = len + 2;
    let vias = msg.vias().take(bound).count();
    assert!(vias < bound, "Via values do not end");
    for v in msg.vias().take(bound) {
        if let Some(v) = check_result(v, len) {
            check_via(&v);
            // A value from a list parses the same on its own.
            let alone = Via::parse(v.raw)
                .unwrap_or_else(|e| panic!("Via {:?} alone: {e}", String::from_utf8_lossy(v.raw)));
            assert_eq!(alone, v, "a Via value parses differently on its own");
        }
    }
    for &k in NAME_ADDR_SINGLES {
        if let Some(Some(na)) = check_result(msg.name_addr(k), len) {
            check_name_addr(&na);
        }
    }
    let _ = check_result(msg.from(), len);
    let _ = check_result(msg.to(), len);
    for &k in NAME_ADDR_LISTS {
        let n = msg.name_addrs(k).take(bound).count();
        assert!(n < bound, "{k:?} values do not end");
        for na in msg.name_addrs(k).take(bound) {
            if let Some(na) = check_result(na, len) {
                check_name_addr(&na);
            }
        }
    }
    let _ = msg.routes().take(bound).count();
    let _ = msg.record_routes().take(bound).count();
    let n = msg.contacts().take(bound).count();
    assert!(n < bound, "Contact values do not end");
    for c in msg.contacts().take(bound) {
        if let Some(Contact::Addr(na)) = check_result(c, len) {
            check_name_addr(&na);
        }
    }
    for &k in OPTION_TAG_LISTS {
        let n = msg.option_tags(k).take(bound).count();
        assert!(n < bound, "{k:?} tags do not end");
        for t in msg.option_tags(k).take(bound) {
            let _ = check_result(t, len);
        }
    }
    for &k in AUTH_HEADERS {
        for c in msg.credentials(k).take(bound) {
            if let Some(c) = check_result(c, len) {
                check_credentials(&c);
            }
        }
    }
    for &k in HeaderName::KNOWN {
        let n = msg.comma_values(k).take(bound).count();
        assert!(n < bound, "{k:?} comma values do not end");
    }
    if let Some(r) = msg.request_uri() {
        if let Some(u) = check_result(r, len) {
            check_uri(&u);
        }
    }
    if let Some(uri) = msg.request_uri_bytes() {
        check_value_parsers(uri);
    }
    for h in msg.headers() {
        let name = msg.slice(h.name);
        let _ = msg.headers_named(name).count();
        let v = msg.slice(h.value);
        check_value_parsers(v);
        for part in values::CommaValues::new(v).take(bound) {
            let _ = Uri::parse(part);
            let _ = NameAddr::parse(part);
            let _ = Via::parse(part);
        }
        let span = msg.span_of(v);
        assert_eq!(span, h.value, "span_of gives back the value span");
    }
}

/// A no-op write is byte-identical to the message.
pub fn check_identity(msg: &Message<'_>) {
    let mut out = Vec::new();
    let n = Edits::new()
        .write(msg, &LocalCtx::default(), &mut out)
        .expect("a no-op write cannot fail");
    assert_eq!(n, out.len());
    assert!(out == msg.as_bytes(), "a no-op write changed the message");
    // Appending after existing bytes, with a local context, is the same.
    let mut out2 = b"prefix".to_vec();
    Edits::new().write(msg, &LOCAL, &mut out2).unwrap();
    assert_eq!(&out2[6..], msg.as_bytes());
}

/// A parser for edited output: the edits add a few header lines and bytes
/// to what the default limits accepted.
fn roomy() -> Parser {
    Parser::new(Limits {
        max_message: 1 << 20,
        max_headers: 1024,
        ..Limits::default()
    })
}

fn reparse<'p>(parser: &'p mut Parser, out: &'p [u8], what: &str) -> Message<'p> {
    match parser.parse(out) {
        Ok(m) => m,
        Err(e) => panic!(
            "{what}: output does not parse ({e}):\n{}",
            String::from_utf8_lossy(out)
        ),
    }
}

fn must_validate(m: &Message<'_>, what: &str) {
    if let Err(e) = validate(m) {
        panic!(
            "{what}: output does not validate ({e}):\n{}",
            String::from_utf8_lossy(m.as_bytes())
        );
    }
}

/// Edits on any parsed message, valid or not, write a message that parses
/// again: edits replace whole lines or spans inside a value, so the framing
/// must survive whatever the values hold.
pub fn check_edits_any(msg: &Message<'_>) {
    let mut edits = Edits::new();
    let mut out = Vec::new();
    let mut p = roomy();
    let branch = edits.scratch(b";branch=z9hG4bKany");
    edits.add_top_via(
        msg,
        &[
            Piece::Static(b"SIP/2.0/UDP "),
            Piece::Local(LocalPart::HostPort),
            branch,
        ],
    );
    edits.add_record_route(msg, &[Piece::Static(b"<sip:192.0.2.1;lr>")]);
    edits.set_body(Piece::Static(b"body"));
    edits
        .write(msg, &LOCAL, &mut out)
        .expect("edits on a parsed message");
    {
        let m = reparse(&mut p, &out, "edits on a parsed message");
        let added = 2 + usize::from(msg.content_length().is_none());
        assert_eq!(m.headers().len(), msg.headers().len() + added);
        assert_eq!(m.body(), b"body");
        assert_eq!(m.content_length(), Some(4));
        assert_eq!(m.method_bytes(), msg.method_bytes());
        assert_eq!(m.request_uri_bytes(), msg.request_uri_bytes());
        assert_eq!(m.status_code(), msg.status_code());
        assert_eq!(m.reason_phrase(), msg.reason_phrase());
        let top = m.top_via().expect("the new top Via");
        assert_eq!(top.branch, Some(&b"z9hG4bKany"[..]));
    }
    // Adding a line and removing it again gives back the message.
    if msg.has_empty_line() {
        for rr in [false, true] {
            edits.clear();
            out.clear();
            if rr {
                edits.add_record_route(msg, &[Piece::Static(b"<sip:192.0.2.1;lr>")]);
            } else {
                edits.add_top_via(msg, &[Piece::Static(b"SIP/2.0/UDP 192.0.2.1")]);
            }
            edits.write(msg, &LOCAL, &mut out).unwrap();
            let m = reparse(&mut p, &out, "add a line");
            let mut undo = Edits::new();
            if rr {
                let i = m.first_index(HeaderName::RecordRoute).unwrap();
                undo.remove_header(&m, i);
            } else {
                assert!(undo.remove_top_via(&m));
            }
            let mut back = Vec::new();
            undo.write(&m, &LOCAL, &mut back).unwrap();
            assert!(
                back == msg.as_bytes(),
                "add then remove is not the identity"
            );
        }
    }
    if msg.is_request() {
        edits.clear();
        out.clear();
        let spec = ResponseSpec {
            code: 480,
            reason: b"Temporarily Unavailable",
            to_tag: Some(b"t1"),
            extra_headers: &[b"Retry-After: 30"],
            via_source: None,
            top_via: None,
        };
        write_response(msg, &spec, &mut edits, &mut out).expect("write_response");
        let m = reparse(&mut p, &out, "write_response to a parsed request");
        assert_eq!(m.status_code(), Some(480));
        assert!(m.body().is_empty());
        assert_eq!(m.content_length(), Some(0));
        assert_eq!(m.call_id(), msg.call_id());
        assert_eq!(m.vias().count(), msg.vias().count());

        // ACK and CANCEL built from any request: refused (overlapping
        // edits, e.g. two CSeq lines) or written so that they parse.
        out.clear();
        if write_cancel(msg, &mut edits, &mut out).is_ok() {
            let m = reparse(&mut p, &out, "write_cancel on a parsed request");
            assert_eq!(m.method_bytes(), Some(&b"CANCEL"[..]));
            assert!(m.body().is_empty());
        }
        out.clear();
        if write_ack(msg, b"<sip:b@example.com>;tag=1", &mut edits, &mut out).is_ok() {
            let m = reparse(&mut p, &out, "write_ack on a parsed request");
            assert_eq!(m.method_bytes(), Some(&b"ACK"[..]));
            assert!(m.body().is_empty());
        }
    }
}

/// ACK and CANCEL built from a valid request (§17.1.1.3, §9.1) parse and
/// validate, with the request's top Via value, Call-ID, From, CSeq number
/// and Route set.
pub fn check_ack_cancel(req: &Message<'_>) {
    let mut edits = Edits::new();
    let mut out = Vec::new();
    let mut p = roomy();
    let top = req.top_via().expect("valid Via").raw;
    let from = req.from().expect("valid From");
    let to = req.to().expect("valid To");
    let seq = req.cseq().expect("valid CSeq").seq;
    let routes: Vec<&[u8]> = req.routes().map(|r| r.expect("valid Route").uri).collect();
    let mut to_tagged = req.slice(req.first(HeaderName::To).unwrap().value).to_vec();
    if to.tag().is_none() {
        to_tagged.extend_from_slice(b";tag=fz1");
    }
    for (method, ack) in [(&b"CANCEL"[..], false), (b"ACK", true)] {
        out.clear();
        let r = if ack {
            write_ack(req, &to_tagged, &mut edits, &mut out)
        } else {
            write_cancel(req, &mut edits, &mut out)
        };
        r.unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(method)));
        let what = if ack { "write_ack" } else { "write_cancel" };
        let m = reparse(&mut p, &out, what);
        must_validate(&m, what);
        assert_eq!(m.method_bytes(), Some(method));
        assert_eq!(m.request_uri_bytes(), req.request_uri_bytes());
        assert_eq!(via_raws(&m), [top], "{what}: only the top Via value");
        assert_eq!(m.call_id(), req.call_id());
        let c = m.cseq().unwrap();
        assert_eq!((c.seq, c.method_bytes), (seq, method));
        let f = m.from().unwrap();
        assert_eq!((f.uri, f.tag()), (from.uri, from.tag()));
        let t = m.to().unwrap();
        assert_eq!(t.uri, to.uri);
        if ack {
            assert!(t.tag().is_some(), "the ACK carries the response's To tag");
        } else {
            assert_eq!(t.tag(), to.tag(), "the CANCEL's To is the request's");
        }
        let got: Vec<&[u8]> = m.routes().map(|r| r.unwrap().uri).collect();
        assert_eq!(got, routes, "{what}: the Route set");
        assert!(m.body().is_empty());
        assert_eq!(m.content_length(), Some(0));
    }
}

/// Via values of a message, top first (raw text).
pub fn via_raws<'a>(m: &Message<'a>) -> Vec<&'a [u8]> {
    m.vias().map(|v| v.expect("valid Via").raw).collect()
}

/// The proxy's edits on a valid message keep it parseable and valid, with
/// the expected Via values, header count and Content-Length.
pub fn check_edits(msg: &Message<'_>) {
    let vias = via_raws(msg);
    let n_headers = msg.headers().len();
    let mut edits = Edits::new();
    let mut out = Vec::new();
    let mut p = roomy();

    // A new top Via with late-bound local parts.
    let branch = edits.scratch(b";branch=z9hG4bKfuzz1");
    edits.add_top_via(
        msg,
        &[
            Piece::Static(b"SIP/2.0/"),
            Piece::Local(LocalPart::Transport),
            Piece::Static(b" "),
            Piece::Local(LocalPart::HostPort),
            branch,
        ],
    );
    edits.write(msg, &LOCAL, &mut out).expect("add_top_via");
    {
        let m = reparse(&mut p, &out, "add_top_via");
        must_validate(&m, "add_top_via");
        let got = via_raws(&m);
        assert_eq!(got.len(), vias.len() + 1);
        assert_eq!(got[0], b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz1");
        assert_eq!(&got[1..], &vias[..]);
        assert_eq!(m.headers().len(), n_headers + 1);
        assert_eq!(m.body(), msg.body());
    }

    // Removing the top Via leaves the others.
    edits.clear();
    out.clear();
    assert!(edits.remove_top_via(msg));
    edits.write(msg, &LOCAL, &mut out).expect("remove_top_via");
    {
        let m = reparse(&mut p, &out, "remove_top_via");
        let got = via_raws_lenient(&m);
        assert_eq!(
            got.as_deref(),
            Some(&vias[1..]),
            "remove_top_via:\n{}",
            String::from_utf8_lossy(&out)
        );
        if vias.len() > 1 {
            must_validate(&m, "remove_top_via");
        }
    }

    // A Record-Route on top.
    edits.clear();
    out.clear();
    let rr = msg.record_routes().count();
    edits.add_record_route(
        msg,
        &[
            Piece::Static(b"<sip:"),
            Piece::Local(LocalPart::HostPort),
            Piece::Static(b";lr>"),
        ],
    );
    edits
        .write(msg, &LOCAL, &mut out)
        .expect("add_record_route");
    {
        let m = reparse(&mut p, &out, "add_record_route");
        must_validate(&m, "add_record_route");
        let got: Vec<_> = m.record_routes().map(|r| r.unwrap()).collect();
        assert_eq!(got.len(), rr + 1);
        assert_eq!(got[0].uri, b"sip:192.0.2.1:5060;lr");
    }

    // A new body: Content-Length follows.
    for body in [
        &b""[..],
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n",
        b"\r\n\r\n",
    ] {
        edits.clear();
        out.clear();
        edits.set_body(Piece::Static(body));
        edits.write(msg, &LOCAL, &mut out).expect("set_body");
        let m = reparse(&mut p, &out, "set_body");
        must_validate(&m, "set_body");
        assert_eq!(m.body(), body);
        assert_eq!(m.content_length(), Some(body.len() as u32));
        assert_eq!(via_raws(&m), vias);
    }

    // Removing any one header line leaves the others.
    for i in 0..msg.headers().len().min(64) {
        edits.clear();
        out.clear();
        edits.remove_header(msg, i);
        edits.write(msg, &LOCAL, &mut out).expect("remove_header");
        let m = reparse(&mut p, &out, "remove_header");
        assert_eq!(m.headers().len(), n_headers - 1);
    }

    // Removing any one value of any header leaves a message that parses.
    for i in 0..msg.headers().len().min(64) {
        for j in 0..4 {
            edits.clear();
            out.clear();
            if !edits.remove_value(msg, i, j) {
                break;
            }
            edits.write(msg, &LOCAL, &mut out).expect("remove_value");
            let _ = reparse(&mut p, &out, "remove_value");
        }
    }
}

/// The Via values, or `None` when one does not parse.
fn via_raws_lenient<'a>(m: &Message<'a>) -> Option<Vec<&'a [u8]>> {
    m.vias().map(|v| v.ok().map(|v| v.raw)).collect()
}

/// Responses built from a valid request parse and validate, and carry the
/// request's Via, From, Call-ID and CSeq, and a To tag.
pub fn check_responses(req: &Message<'_>) {
    let mut edits = Edits::new();
    let mut out = Vec::new();
    let mut p = roomy();
    let req_to = req.to().expect("valid To");
    let req_from = req.from().expect("valid From");
    let req_cseq = req.cseq().expect("valid CSeq");
    let vias = via_raws(req);
    let extra: &[&[u8]] = &[b"Server: trunkline", b"Allow: INVITE, ACK, BYE"];
    for (code, extra_headers) in [
        (100u16, &[][..]),
        (180, extra),
        (200, &[][..]),
        (486, extra),
    ] {
        out.clear();
        let spec = ResponseSpec {
            code,
            reason: b"Some Reason",
            to_tag: Some(b"as83kd9"),
            extra_headers,
            // The top Via stamped as received from another address.
            via_source: (code == 486).then(|| ([192, 0, 2, 77], 5099).into()),
            top_via: None,
        };
        write_response(req, &spec, &mut edits, &mut out).expect("write_response");
        let m = reparse(&mut p, &out, "write_response");
        must_validate(&m, "write_response");
        assert_eq!(m.status_code(), Some(code));
        assert_eq!(m.reason_phrase(), Some(&b"Some Reason"[..]));
        assert_eq!(m.call_id(), req.call_id());
        let cseq = m.cseq().unwrap();
        assert_eq!(
            (cseq.seq, cseq.method_bytes),
            (req_cseq.seq, req_cseq.method_bytes)
        );
        let from = m.from().unwrap();
        assert_eq!(from.uri, req_from.uri);
        assert_eq!(from.tag(), req_from.tag());
        let got = via_raws(&m);
        if code == 486 {
            // Stamped: the top Via carries what the server saw (RFC 3581 §4).
            let top = m.top_via().unwrap();
            assert_eq!(top.received, Some(&b"192.0.2.77"[..]), "{got:?}");
            assert_eq!(&got[1..], &vias[1..]);
        } else {
            assert_eq!(got, vias);
        }
        let to = m.to().unwrap();
        assert_eq!(to.uri, req_to.uri);
        let want_tag = match (req_to.tag(), code) {
            (Some(t), _) => Some(t),
            (None, 100) => None,
            (None, _) => Some(&b"as83kd9"[..]),
        };
        assert_eq!(to.tag(), want_tag, "To tag in a {code}");
        assert_eq!(m.content_length(), Some(0));
        assert!(m.body().is_empty());
        assert_eq!(m.headers_named(b"Server").count(), extra_headers.len() / 2);
    }
}
