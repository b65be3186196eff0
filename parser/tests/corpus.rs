//! Realistic messages (`tests/corpus/`): each parses, validates, and shows
//! the values a proxy acts on.

use std::path::Path;

use trunkline_parser::{
    Contact, Edits, HeaderName, LocalCtx, Method, Parser, ResponseSpec, Uri, validate,
    write_response,
};

fn load(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_corpus_message_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut parser = Parser::default();
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let msg = parser
            .parse(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        validate(&msg).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(msg.as_bytes(), &bytes[..], "{}", path.display());
        assert_eq!(Some(msg.body().len() as u32), msg.content_length());
        n += 1;
    }
    assert!(n >= 14);
}

#[test]
fn carrier_invite() {
    let raw = load("invite-carrier.sip");
    let mut p = Parser::default();
    let m = p.parse(&raw).unwrap();
    assert_eq!(m.method(), Some(Method::Invite));
    let Some(Ok(Uri::Sip(ruri))) = m.request_uri() else {
        panic!("R-URI")
    };
    assert_eq!(ruri.user, Some(&b"+442071234567"[..]));
    assert_eq!(ruri.port, Some(5060));
    assert_eq!(ruri.param(b"user"), Some(Some(&b"phone"[..])));
    assert_eq!(
        m.call_id(),
        Some(&b"3c26700b4a1b4d1c8e3a2b9f0d7e6c5a@203.0.113.10"[..])
    );
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (102, Method::Invite));
    let via = m.top_via().unwrap();
    assert_eq!(via.branch, Some(&b"z9hG4bK-524287-1---7b1c3e2f9a"[..]));
    assert_eq!(via.rport, Some(None));
    assert_eq!(via.sent_by, b"203.0.113.10:5060");
    let from = m.from().unwrap();
    assert_eq!(from.display_name, Some(&b"\"ACME Corp\""[..]));
    assert_eq!(from.tag(), Some(&b"as5f1d2e"[..]));
    assert_eq!(m.to().unwrap().tag(), None);
    assert_eq!(m.max_forwards().unwrap(), Some(69));
    let rr: Vec<_> = m.record_routes().map(Result::unwrap).collect();
    assert_eq!(rr.len(), 1);
    assert!(rr[0].uri().unwrap().as_sip().unwrap().lr());
    let supported: Vec<_> = m
        .option_tags(HeaderName::Supported)
        .map(Result::unwrap)
        .collect();
    assert_eq!(supported, [&b"replaces"[..], b"timer", b"100rel"]);
    assert_eq!(m.comma_values(HeaderName::Allow).count(), 10);
    assert_eq!(m.name_addrs(HeaderName::PAssertedIdentity).count(), 1);
    assert!(m.body().starts_with(b"v=0\r\n"));
    let contacts: Vec<_> = m.contacts().map(Result::unwrap).collect();
    assert!(matches!(contacts[..], [Contact::Addr(_)]));
}

#[test]
fn register_with_digest() {
    let raw = load("register-digest.sip");
    let mut p = Parser::default();
    let m = p.parse(&raw).unwrap();
    let creds: Vec<_> = m
        .credentials(HeaderName::Authorization)
        .map(Result::unwrap)
        .collect();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].scheme, b"Digest");
    assert_eq!(creds[0].get(b"username"), Some(&b"bob"[..]));
    assert_eq!(
        creds[0].get(b"nonce"),
        Some(&b"dcd98b7102dd2f0e8b11d0f600bfb0c093"[..])
    );
    assert_eq!(creds[0].get(b"qop"), Some(&b"auth"[..]));
    assert_eq!(creds[0].get(b"algorithm"), Some(&b"MD5"[..]));
    assert_eq!(m.expires().unwrap(), Some(7200));
    let Some(Ok(Contact::Addr(c))) = m.contacts().next() else {
        panic!()
    };
    assert_eq!(c.param(b"expires"), Some(Some(&b"7200"[..])));
}

#[test]
fn responses() {
    let mut p = Parser::default();
    let raw = load("ok-200-invite.sip");
    let m = p.parse(&raw).unwrap();
    assert_eq!(m.status_code(), Some(200));
    assert_eq!(m.reason_phrase(), Some(&b"OK"[..]));
    let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[1].received, Some(&b"203.0.113.10"[..]));
    assert_eq!(vias[1].rport, Some(Some(5060)));
    assert_eq!(m.to().unwrap().tag(), Some(&b"8321234356"[..]));

    let raw = load("many-vias-487.sip");
    let m = p.parse(&raw).unwrap();
    assert_eq!(m.vias().count(), 16);
    assert_eq!(m.vias().last().unwrap().unwrap().transport, b"TCP");
}

#[test]
fn compact_and_folded() {
    let raw = load("compact-folded-invite.sip");
    let mut p = Parser::default();
    let m = p.parse(&raw).unwrap();
    assert_eq!(m.top_via().unwrap().branch, Some(&b"z9hG4bK776asdhds"[..]));
    assert_eq!(m.to().unwrap().uri, b"sip:bob@biloxi.example.com");
    assert_eq!(
        m.header_value(HeaderName::ContentType),
        Some(&b"application/sdp"[..])
    );
    assert_eq!(
        m.first(HeaderName::Supported).map(|e| m.slice(e.name)),
        Some(&b"k"[..])
    );
}

#[test]
fn ipv6() {
    let raw = load("ipv6-invite.sip");
    let mut p = Parser::default();
    let m = p.parse(&raw).unwrap();
    let v = m.top_via().unwrap();
    assert_eq!(v.host.ip(), Some("2001:db8::10".parse().unwrap()));
    assert_eq!(v.port, Some(5060));
}

#[test]
fn responses_built_from_corpus_requests() {
    let mut p = Parser::default();
    let mut edits = Edits::new();
    for name in [
        "invite-carrier.sip",
        "register-digest.sip",
        "compact-folded-invite.sip",
    ] {
        let raw = load(name);
        let req = p.parse(&raw).unwrap();
        let call_id = req.call_id().unwrap().to_vec();
        let vias = req.vias().count();
        let mut out = Vec::new();
        for (code, reason) in [(100, &b"Trying"[..]), (486, b"Busy Here")] {
            out.clear();
            write_response(
                &req,
                &ResponseSpec {
                    code,
                    reason,
                    to_tag: Some(b"tl-1"),
                    extra_headers: &[b"Server: trunkline"],
                    via_source: None,
                    top_via: None,
                },
                &mut edits,
                &mut out,
            )
            .unwrap();
            let mut p2 = Parser::default();
            let resp = p2.parse(&out).unwrap_or_else(|e| {
                panic!("{name} {code}: {e}\n{}", String::from_utf8_lossy(&out))
            });
            validate(&resp).unwrap();
            assert_eq!(resp.status_code(), Some(code));
            assert_eq!(resp.call_id(), Some(&call_id[..]));
            assert_eq!(resp.vias().count(), vias);
            assert_eq!(resp.content_length(), Some(0));
            assert!(resp.body().is_empty());
            assert_eq!(
                resp.header_value(HeaderName::Server),
                Some(&b"trunkline"[..])
            );
            let tag = resp.to().unwrap().tag();
            assert_eq!(
                tag,
                if code == 100 {
                    None
                } else {
                    Some(&b"tl-1"[..])
                }
            );
            assert!(resp.first(HeaderName::ContentType).is_none());
        }
    }
    let _ = LocalCtx::default();
}
