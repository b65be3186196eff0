//! The measured operations: parse one message and read what a proxy reads
//! (Call-ID, CSeq number and method, top Via branch, From tag, To tag and,
//! for requests, the Request-URI). Shared by `benches/parse.rs` and
//! `examples/count.rs` (callgrind instruction counts).
//!
//! Every value read is checked with `assert!` inside the measured code,
//! as httparse's benches do, so nothing can be optimised away.

use trunkline_benches::messages::Sample;
use trunkline_parser::{Method, Parser, Uri, validate};

/// A message with its expected values pre-converted for both parsers (the
/// conversions are not measured).
#[derive(Debug)]
pub struct Case {
    /// The message and its expected values.
    pub sample: Sample,
    method: Method,
    rsip_method: rsip::Method,
    rsip_host: Option<rsip::Host>,
}

impl Case {
    /// Prepares `sample`.
    pub fn new(sample: Sample) -> Case {
        let e = sample.expected;
        Case {
            sample,
            method: Method::from_bytes(e.method.as_bytes()),
            rsip_method: e.method.parse().expect("rsip knows the method"),
            rsip_host: e
                .request_uri
                .map(|r| r.host.parse().expect("rsip host from str")),
        }
    }

    /// Every bench message, prepared.
    pub fn all() -> Vec<Case> {
        trunkline_benches::messages::ALL
            .into_iter()
            .map(Case::new)
            .collect()
    }
}

/// Accessors shared by the two trunkline variants.
#[inline(always)]
fn trunkline_accessors(msg: &trunkline_parser::Message<'_>, c: &Case) {
    let e = &c.sample.expected;
    assert_eq!(msg.call_id(), Some(e.call_id.as_bytes()));
    let cseq = msg.cseq().expect("CSeq");
    assert_eq!(cseq.seq, e.cseq);
    assert_eq!(cseq.method, c.method);
    let via = msg.top_via().expect("Via");
    assert_eq!(via.branch, Some(e.branch.as_bytes()));
    assert_eq!(msg.from().expect("From").tag(), Some(e.from_tag.as_bytes()));
    assert_eq!(msg.to().expect("To").tag(), e.to_tag.map(str::as_bytes));
    // The raw span is what a proxy forwards.
    assert_eq!(
        msg.request_uri_bytes(),
        e.request_uri.map(|r| r.raw.as_bytes())
    );
}

/// trunkline: parse with a reused [`Parser`] (its header table is reused,
/// as in the proxy's receive loop), then the accessors.
#[inline(never)]
pub fn trunkline(parser: &mut Parser, bytes: &[u8], c: &Case) {
    let msg = parser.parse(bytes).expect("trunkline parses");
    trunkline_accessors(&msg, c);
}

/// [`trunkline`] plus `validate(&msg)` and the Request-URI parsed with
/// `msg.request_uri()` (user and host checked).
#[inline(never)]
pub fn trunkline_validate(parser: &mut Parser, bytes: &[u8], c: &Case) {
    let msg = parser.parse(bytes).expect("trunkline parses");
    validate(&msg).expect("valid");
    trunkline_accessors(&msg, c);
    if let Some(r) = c.sample.expected.request_uri {
        let Some(Ok(Uri::Sip(uri))) = msg.request_uri() else {
            panic!("R-URI");
        };
        assert_eq!(uri.user, r.user.map(str::as_bytes));
        assert_eq!(uri.host.text, r.host.as_bytes());
    }
}

/// parse + `validate(&msg)`, reading the values from the [`Summary`] that
/// `validate` returns (the proxy's path: nothing is parsed twice) and the
/// Request-URI as written.
///
/// [`Summary`]: trunkline_parser::Summary
#[inline(never)]
pub fn trunkline_summary(parser: &mut Parser, bytes: &[u8], c: &Case) {
    let e = &c.sample.expected;
    let msg = parser.parse(bytes).expect("trunkline parses");
    let s = validate(&msg).expect("valid");
    assert_eq!(s.call_id, e.call_id.as_bytes());
    assert_eq!(s.cseq.seq, e.cseq);
    assert_eq!(s.cseq.method, c.method);
    assert_eq!(s.top_via.branch, Some(e.branch.as_bytes()));
    assert_eq!(s.from.tag(), Some(e.from_tag.as_bytes()));
    assert_eq!(s.to.tag(), e.to_tag.map(str::as_bytes));
    assert_eq!(
        msg.request_uri_bytes(),
        e.request_uri.map(|r| r.raw.as_bytes())
    );
}

/// rsip 0.4: `SipMessage::try_from(bytes)` (which already parses the
/// Request-URI into a typed `Uri`), then the typed accessors: Call-ID,
/// typed CSeq, typed top Via's branch, typed From/To tags, R-URI user and
/// host.
#[inline(never)]
pub fn rsip(bytes: &[u8], c: &Case) {
    use rsip::prelude::*;
    let e = &c.sample.expected;
    let msg = rsip::SipMessage::try_from(bytes).expect("rsip parses");
    assert_eq!(msg.call_id_header().expect("Call-ID").value(), e.call_id);
    let cseq = msg.cseq_header().expect("CSeq").typed().expect("CSeq");
    assert_eq!(cseq.seq, e.cseq);
    assert_eq!(cseq.method, c.rsip_method);
    let via = msg.via_header().expect("Via").typed().expect("Via");
    assert_eq!(via.branch().map(|b| b.value()), Some(e.branch));
    let from = msg.from_header().expect("From").typed().expect("From");
    assert_eq!(from.tag().map(|t| t.value()), Some(e.from_tag));
    let to = msg.to_header().expect("To").typed().expect("To");
    assert_eq!(to.tag().map(|t| t.value()), e.to_tag);
    match (&msg, e.request_uri) {
        (rsip::SipMessage::Request(req), Some(r)) => {
            assert_eq!(req.uri.user(), r.user);
            assert_eq!(Some(&req.uri.host_with_port.host), c.rsip_host.as_ref());
        }
        (rsip::SipMessage::Response(_), None) => {}
        _ => panic!("request/response mismatch"),
    }
}
