//! The one-pass writer: what each edit produces, byte for byte.

use trunkline_parser::{
    EditError, Edits, HeaderName, LocalCtx, LocalPart, Parser, Piece, validate,
};

const CTX: LocalCtx<'static> = LocalCtx {
    host_port: b"192.0.2.1:5060",
    transport: b"UDP",
};

fn apply(
    raw: &[u8],
    f: impl FnOnce(&trunkline_parser::Message<'_>, &mut Edits),
) -> Result<String, EditError> {
    let mut p = Parser::default();
    let msg = p.parse(raw).unwrap();
    let mut e = Edits::new();
    f(&msg, &mut e);
    let mut out = b"prefix:".to_vec(); // write appends
    let n = e.write(&msg, &CTX, &mut out)?;
    assert_eq!(n, out.len() - 7);
    Ok(String::from_utf8(out[7..].to_vec()).unwrap())
}

const REQ: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@biloxi.example.com>\r\n\
From: <sip:alice@atlanta.example.com>;tag=1\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 4\r\n\
\r\n\
body";

#[test]
fn no_edits_is_identity() {
    assert_eq!(apply(REQ, |_, _| {}).unwrap().as_bytes(), REQ);
    // Leading keep-alive CRLFs and trailing octets are not part of the message.
    let mut padded = b"\r\n".to_vec();
    padded.extend_from_slice(REQ);
    padded.extend_from_slice(b"garbage");
    assert_eq!(apply(&padded, |_, _| {}).unwrap().as_bytes(), REQ);
}

#[test]
fn proxy_forwarding_edits() {
    let out = apply(REQ, |m, e| {
        // §16.6: R-URI rewrite, Max-Forwards decrement, Record-Route, Via.
        let uri = m.request_uri_span().unwrap();
        let new = e.scratch(b"sip:bob@192.0.2.99:5080");
        e.replace(uri, new);
        let mf = m.first(HeaderName::MaxForwards).unwrap().value;
        e.replace(mf, Piece::Static(b"69"));
        e.add_record_route(
            m,
            &[
                Piece::Static(b"<sip:"),
                Piece::Local(LocalPart::HostPort),
                Piece::Static(b";lr>"),
            ],
        );
        let branch = e.scratch_fmt(format_args!(";branch=z9hG4bK{:x}", 0xbeefu32));
        e.add_top_via(
            m,
            &[
                Piece::Static(b"SIP/2.0/"),
                Piece::Local(LocalPart::Transport),
                Piece::Static(b" "),
                Piece::Local(LocalPart::HostPort),
                branch,
            ],
        );
    })
    .unwrap();
    assert_eq!(
        out,
        "INVITE sip:bob@192.0.2.99:5080 SIP/2.0\r\n\
Record-Route: <sip:192.0.2.1:5060;lr>\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbeef\r\n\
Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n\
Max-Forwards: 69\r\n\
To: <sip:bob@biloxi.example.com>\r\n\
From: <sip:alice@atlanta.example.com>;tag=1\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 4\r\n\
\r\n\
body"
    );
    let mut p = Parser::default();
    validate(&p.parse(out.as_bytes()).unwrap()).unwrap();
}

#[test]
fn remove_top_via_from_a_response() {
    let resp = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP us.example.com;branch=z9hG4bKus, SIP/2.0/UDP them.example.com;branch=z9hG4bKthem\r\n\
v: SIP/2.0/UDP far.example.com;branch=z9hG4bKfar\r\n\
Content-Length: 0\r\n\r\n";
    let out = apply(resp, |m, e| assert!(e.remove_top_via(m))).unwrap();
    assert_eq!(
        out,
        "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP them.example.com;branch=z9hG4bKthem\r\n\
v: SIP/2.0/UDP far.example.com;branch=z9hG4bKfar\r\n\
Content-Length: 0\r\n\r\n"
    );
    // A Via line with one value goes entirely.
    let once = apply(out.as_bytes(), |m, e| assert!(e.remove_top_via(m))).unwrap();
    assert_eq!(
        once,
        "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP far.example.com;branch=z9hG4bKfar\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn remove_values() {
    let raw = b"OPTIONS sip:x@example.com SIP/2.0\r\nRoute: <sip:a;lr>, <sip:b;lr> ,<sip:c;lr>\r\nContent-Length: 0\r\n\r\n";
    let mid = apply(raw, |m, e| assert!(e.remove_value(m, 0, 1))).unwrap();
    assert!(mid.contains("Route: <sip:a;lr>, <sip:c;lr>\r\n"), "{mid}");
    let last = apply(raw, |m, e| assert!(e.remove_value(m, 0, 2))).unwrap();
    assert!(last.contains("Route: <sip:a;lr>, <sip:b;lr>\r\n"), "{last}");
    let first = apply(raw, |m, e| assert!(e.remove_value(m, 0, 0))).unwrap();
    assert!(
        first.contains("Route: <sip:b;lr> ,<sip:c;lr>\r\n"),
        "{first}"
    );
    assert!(apply(raw, |m, e| assert!(!e.remove_value(m, 0, 3))).is_ok());
}

#[test]
fn headers_inserted_and_removed() {
    let out = apply(REQ, |m, e| {
        e.insert_header_after(m, 0, b"X-After-Via", &[Piece::Static(b"1")]);
        e.insert_header_before(m, 0, b"X-Before-Via", &[Piece::Static(b"2")]);
        e.remove_header(m, 1); // Max-Forwards
        e.append_header(
            m,
            b"X-Last",
            &[Piece::Original(m.first(HeaderName::CallId).unwrap().value)],
        );
    })
    .unwrap();
    assert!(out.starts_with("INVITE sip:bob@biloxi.example.com SIP/2.0\r\nX-Before-Via: 2\r\nVia: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\nX-After-Via: 1\r\nTo:"), "{out}");
    assert!(
        out.ends_with("Content-Length: 4\r\nX-Last: c1\r\n\r\nbody"),
        "{out}"
    );
    assert!(!out.contains("Max-Forwards"));
}

#[test]
fn body_changes_fix_content_length() {
    let out = apply(REQ, |_, e| e.set_body(Piece::Static(b"a longer body"))).unwrap();
    assert!(
        out.ends_with("Content-Length: 13\r\n\r\na longer body"),
        "{out}"
    );
    // An edit inside the body counts too.
    let out = apply(REQ, |m, e| {
        e.insert(m.body_span().end as usize, Piece::Static(b"!!"))
    })
    .unwrap();
    assert!(out.ends_with("Content-Length: 6\r\n\r\nbody!!"), "{out}");
    // No Content-Length header: one is added.
    let raw = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n\r\nold";
    let out = apply(raw, |_, e| e.set_body(Piece::Static(b""))).unwrap();
    assert_eq!(
        out,
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn missing_empty_line_is_restored_when_editing() {
    let raw = b"OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n";
    assert_eq!(apply(raw, |_, _| {}).unwrap().as_bytes(), raw);
    let out = apply(raw, |m, e| {
        e.append_header(m, b"X-A", &[Piece::Static(b"1")])
    })
    .unwrap();
    assert_eq!(
        out,
        "OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nX-A: 1\r\n\r\n"
    );
}

#[test]
fn conflicting_edits_are_refused() {
    let err = apply(REQ, |m, e| {
        e.remove_header(m, 0);
        e.remove_top_via(m);
    });
    assert!(matches!(err, Err(EditError::Overlap { .. })), "{err:?}");
    let err = apply(REQ, |_, e| e.delete(trunkline_parser::Span::new(0, 10_000)));
    assert!(matches!(err, Err(EditError::OutOfBounds { .. })), "{err:?}");
    // A deletion across the empty line is refused: it would change framing.
    let err = apply(REQ, |m, e| {
        e.delete(trunkline_parser::Span::new(
            m.headers_end() - 2,
            m.body_span().start as usize + 1,
        ))
    });
    assert!(matches!(err, Err(EditError::OutOfBounds { .. })), "{err:?}");
    // Rewriting Content-Length by hand while the body changes is a conflict.
    let err = apply(REQ, |m, e| {
        e.replace(
            m.first(HeaderName::ContentLength).unwrap().value,
            Piece::Static(b"9"),
        );
        e.set_body(Piece::Static(b"x"));
    });
    assert!(matches!(err, Err(EditError::Overlap { .. })), "{err:?}");
}

#[test]
fn the_same_edits_write_for_different_sockets() {
    let mut p = Parser::default();
    let msg = p.parse(REQ).unwrap();
    let mut e = Edits::new();
    e.add_top_via(
        &msg,
        &[
            Piece::Static(b"SIP/2.0/UDP "),
            Piece::Local(LocalPart::HostPort),
        ],
    );
    let mut a = Vec::new();
    let mut b = Vec::new();
    e.write(&msg, &CTX, &mut a).unwrap();
    e.write(
        &msg,
        &LocalCtx {
            host_port: b"[2001:db8::1]:5060",
            transport: b"UDP",
        },
        &mut b,
    )
    .unwrap();
    assert!(
        String::from_utf8(a)
            .unwrap()
            .contains("Via: SIP/2.0/UDP 192.0.2.1:5060\r\n")
    );
    assert!(
        String::from_utf8(b)
            .unwrap()
            .contains("Via: SIP/2.0/UDP [2001:db8::1]:5060\r\n")
    );
}

#[test]
fn remove_several_values() {
    let raw = b"OPTIONS sip:x@example.com SIP/2.0\r\nRoute: <sip:a;lr>, <sip:b;lr>, <sip:c;lr>, <sip:d;lr>\r\nContent-Length: 0\r\n\r\n";
    let route = |idx: &[usize]| {
        let idx = idx.to_vec();
        apply(raw, move |m, e| assert!(e.remove_values(m, 0, &idx))).unwrap()
    };
    assert!(route(&[0, 1]).contains("Route: <sip:c;lr>, <sip:d;lr>\r\n"));
    assert!(route(&[0, 3]).contains("Route: <sip:b;lr>, <sip:c;lr>\r\n"));
    assert!(route(&[1, 2]).contains("Route: <sip:a;lr>, <sip:d;lr>\r\n"));
    assert!(route(&[2, 3]).contains("Route: <sip:a;lr>, <sip:b;lr>\r\n"));
    assert!(route(&[0, 2]).contains("Route: <sip:b;lr>, <sip:d;lr>\r\n"));
    assert!(!route(&[0, 1, 2, 3]).contains("Route"));
    assert!(apply(raw, |m, e| assert!(!e.remove_values(m, 0, &[1, 0]))).is_ok());
    assert!(apply(raw, |m, e| assert!(!e.remove_values(m, 0, &[4]))).is_ok());
}
