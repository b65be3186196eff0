//! The wire messages the parser benches use (`benches/messages/*.sip`, CRLF
//! line endings) and the values a proxy reads from each of them.

/// The Request-URI of a request, as the benches check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestUri {
    /// As written on the wire.
    pub raw: &'static str,
    /// The user part, if any.
    pub user: Option<&'static str>,
    /// The host (name or IP address, no port).
    pub host: &'static str,
}

/// What a proxy reads from a message to route it and match its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The Call-ID.
    pub call_id: &'static str,
    /// The CSeq number.
    pub cseq: u32,
    /// The CSeq method.
    pub method: &'static str,
    /// The top Via's branch.
    pub branch: &'static str,
    /// The From tag.
    pub from_tag: &'static str,
    /// The To tag (absent on an initial request).
    pub to_tag: Option<&'static str>,
    /// The Request-URI (requests only).
    pub request_uri: Option<RequestUri>,
}

/// One bench message.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// The criterion group name.
    pub name: &'static str,
    /// The datagram.
    pub bytes: &'static [u8],
    /// What the accessors must return.
    pub expected: Expected,
}

/// A carrier's INVITE over a SIP trunk, with an SDP offer (924 bytes).
pub const INVITE: Sample = Sample {
    name: "invite",
    bytes: include_bytes!("../messages/invite.sip"),
    expected: Expected {
        call_id: "8d2f61c0-3b7a4e19@203.0.113.10",
        cseq: 102,
        method: "INVITE",
        branch: "z9hG4bK7a1c9f3e5b2d4c60",
        from_tag: "4f9c2a7e",
        to_tag: None,
        request_uri: Some(RequestUri {
            raw: "sip:+14155550123@trunk.trunkline.example.net;user=phone",
            user: Some("+14155550123"),
            host: "trunk.trunkline.example.net",
        }),
    },
};

/// The 200 OK to [`INVITE`] as the proxy relays it: two Vias,
/// Record-Route, To tag, Contact and an SDP answer (867 bytes).
pub const OK_200: Sample = Sample {
    name: "200ok",
    bytes: include_bytes!("../messages/200ok.sip"),
    expected: Expected {
        call_id: "8d2f61c0-3b7a4e19@203.0.113.10",
        cseq: 102,
        method: "INVITE",
        branch: "z9hG4bK3f2a.8c1e0d47b6a5f3e2.0",
        from_tag: "4f9c2a7e",
        to_tag: Some("as6b1e3c0d"),
        request_uri: None,
    },
};

/// The callee's BYE for that dialog, with a Route and a Reason (470 bytes).
pub const BYE: Sample = Sample {
    name: "bye",
    bytes: include_bytes!("../messages/bye.sip"),
    expected: Expected {
        call_id: "8d2f61c0-3b7a4e19@203.0.113.10",
        cseq: 2,
        method: "BYE",
        branch: "z9hG4bK5e1c7b2a",
        from_tag: "as6b1e3c0d",
        to_tag: Some("4f9c2a7e"),
        request_uri: Some(RequestUri {
            raw: "sip:+12125550147@203.0.113.10:5060;transport=udp",
            user: Some("+12125550147"),
            host: "203.0.113.10",
        }),
    },
};

/// A PBX's REGISTER with digest credentials (739 bytes).
pub const REGISTER: Sample = Sample {
    name: "register",
    bytes: include_bytes!("../messages/register.sip"),
    expected: Expected {
        call_id: "1j9FpLxk3uxtm8tn@198.51.100.77",
        cseq: 9572,
        method: "REGISTER",
        branch: "z9hG4bK.Qd3nrWn8L",
        from_tag: "a73kszlfl",
        to_tag: None,
        request_uri: Some(RequestUri {
            raw: "sip:registrar.trunkline.example.net",
            user: None,
            host: "registrar.trunkline.example.net",
        }),
    },
};

/// Every bench message, in bench order.
pub const ALL: [Sample; 4] = [INVITE, OK_200, BYE, REGISTER];

#[cfg(test)]
mod tests {
    use super::*;
    use trunkline_parser::{HeaderName, Parser, Uri, validate};

    #[test]
    fn every_message_parses_validates_and_is_framed_exactly() {
        let mut parser = Parser::default();
        for s in ALL {
            let msg = parser
                .parse(s.bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            validate(&msg).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            let sep = s.bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let body = &s.bytes[sep..];
            assert_eq!(msg.body(), body, "{}", s.name);
            assert_eq!(msg.content_length(), Some(body.len() as u32), "{}", s.name);
            assert!(msg.trailing().is_empty(), "{}", s.name);
            // CRLF everywhere: no bare LF.
            for (i, &b) in s.bytes.iter().enumerate() {
                if b == b'\n' {
                    assert_eq!(s.bytes[i - 1], b'\r', "{}: bare LF at {i}", s.name);
                }
            }
            let e = s.expected;
            assert_eq!(msg.call_id(), Some(e.call_id.as_bytes()));
            let cseq = msg.cseq().unwrap();
            assert_eq!((cseq.seq, cseq.method_bytes), (e.cseq, e.method.as_bytes()));
            assert_eq!(msg.top_via().unwrap().branch, Some(e.branch.as_bytes()));
            assert_eq!(msg.from().unwrap().tag(), Some(e.from_tag.as_bytes()));
            assert_eq!(msg.to().unwrap().tag(), e.to_tag.map(str::as_bytes));
            assert_eq!(
                msg.request_uri_bytes(),
                e.request_uri.map(|r| r.raw.as_bytes())
            );
            if let Some(r) = e.request_uri {
                let Ok(Uri::Sip(uri)) = msg.request_uri().unwrap() else {
                    panic!("{}: R-URI", s.name);
                };
                assert_eq!(uri.user, r.user.map(str::as_bytes));
                assert_eq!(uri.host.text, r.host.as_bytes());
            }
        }
        assert!((850..=950).contains(&INVITE.bytes.len()));
        assert_eq!(
            parser
                .parse(INVITE.bytes)
                .unwrap()
                .header_value(HeaderName::ContentType),
            Some(&b"application/sdp"[..])
        );
    }

    #[test]
    fn rsip_reads_the_same_values() {
        use rsip::prelude::*;
        for s in ALL {
            let msg =
                rsip::SipMessage::try_from(s.bytes).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            let e = s.expected;
            assert_eq!(msg.call_id_header().unwrap().value(), e.call_id);
            let cseq = msg.cseq_header().unwrap().typed().unwrap();
            assert_eq!(cseq.seq, e.cseq);
            assert_eq!(cseq.method.to_string(), e.method);
            let via = msg.via_header().unwrap().typed().unwrap();
            assert_eq!(via.branch().map(|b| b.value()), Some(e.branch));
            let from = msg.from_header().unwrap().typed().unwrap();
            assert_eq!(from.tag().map(|t| t.value()), Some(e.from_tag));
            let to = msg.to_header().unwrap().typed().unwrap();
            assert_eq!(to.tag().map(|t| t.value()), e.to_tag);
            match (&msg, e.request_uri) {
                (rsip::SipMessage::Request(req), Some(r)) => {
                    assert_eq!(req.uri.user(), r.user);
                    assert_eq!(req.uri.host_with_port.host.to_string(), r.host);
                }
                (rsip::SipMessage::Response(_), None) => {}
                _ => panic!("{}: request/response mismatch", s.name),
            }
        }
    }
}
