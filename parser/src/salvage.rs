//! Answering a request that does not frame (RFC 3261 §18.3, §8.2.2,
//! §21.5.14): a body shorter than its Content-Length, a header block cut
//! short, a SIP-Version other than 2.0, a datagram over the size limit.
//!
//! A server answers such a request when it can address the response:
//! [`salvage_request`] copies out the Request-Line and the header lines a
//! response is built from (Via, From, To, Call-ID, CSeq), so the normal
//! parser and [`write_response`](crate::write_response) can build the
//! 400, 505 or 513. One bounded pass over the datagram; the copy is
//! bounded too.

use crate::scan;

/// Most header lines kept (the parser's smallest configurable header
/// limit is 16).
const MAX_LINES: usize = 15;
/// Most bytes kept.
const MAX_BYTES: usize = 16 * 1024;

/// Copies from `buf`, a request that failed to frame, what a response to
/// it needs into `out` (cleared first): its Request-Line with the version
/// written `SIP/2.0`, then every complete Via, From, To, Call-ID and CSeq
/// header line (compact forms and folded continuations too, at most
/// fifteen lines and 16 KiB), then the empty line. Lines cut by the end of
/// the datagram, and everything else, are left out.
///
/// Returns `false`, with nothing to answer, when `buf` does not start with
/// a complete Request-Line (a response, or garbage) or the request is an
/// ACK (never answered, §17.1.1.3).
pub fn salvage_request(buf: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut pos = 0;
    while pos < buf.len() && (buf[pos] == b'\r' || buf[pos] == b'\n') {
        pos += 1;
    }
    let Some(nl) = scan::find_lf(buf, pos) else {
        return false;
    };
    let line = trim_cr(&buf[pos..nl]);
    // METHOD SP Request-URI SP SIP-Version.
    let Some(sp1) = line.iter().position(|&b| b == b' ') else {
        return false;
    };
    let Some(sp2) = line.iter().rposition(|&b| b == b' ') else {
        return false;
    };
    if sp2 <= sp1 + 1 {
        return false; // one space, or an empty Request-URI
    }
    let (method, uri, version) = (&line[..sp1], &line[sp1 + 1..sp2], &line[sp2 + 1..]);
    let sip = |v: &[u8]| v.len() > 4 && v[..4].eq_ignore_ascii_case(b"SIP/");
    if !sip(version) || sip(method) || method == b"ACK" {
        return false;
    }
    if !scan::is_token(method) || uri.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return false;
    }
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(uri);
    out.extend_from_slice(b" SIP/2.0\r\n");

    pos = nl + 1;
    let mut kept = 0;
    let mut keeping = false;
    while pos < buf.len() {
        let Some(nl) = scan::find_lf(buf, pos) else {
            break; // a line cut by the end of the datagram
        };
        let line = trim_cr(&buf[pos..nl]);
        pos = nl + 1;
        if line.is_empty() {
            break; // the end of the header block
        }
        if scan::is_wsp(line[0]) {
            // A continuation of the line before.
            if keeping && out.len() + line.len() + 2 <= MAX_BYTES {
                out.truncate(out.len() - 2);
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            continue;
        }
        keeping = kept < MAX_LINES && out.len() + line.len() + 2 <= MAX_BYTES && needed(line);
        if keeping {
            kept += 1;
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    true
}

/// Whether a header line is one a response copies: Via, From, To,
/// Call-ID or CSeq, by full or compact name (§7.3.3).
fn needed(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = trim_wsp(&line[..colon]);
    [
        &b"via"[..],
        b"v",
        b"from",
        b"f",
        b"to",
        b"t",
        b"call-id",
        b"i",
        b"cseq",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_wsp(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|&b| !scan::is_wsp(b))
        .map_or(0, |i| i + 1);
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, Parser};

    const HEAD: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
f: <sip:alice@example.com>;tag=a\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Subject: folded\r\n  on two lines\r\n";

    fn salvaged(buf: &[u8]) -> Option<String> {
        let mut out = Vec::new();
        salvage_request(buf, &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_truncated_body_keeps_what_a_response_needs() {
        let raw = format!("{HEAD}Content-Length: 100\r\n\r\nv=0\r\n");
        let mut p = Parser::default();
        assert_eq!(
            p.parse(raw.as_bytes()).unwrap_err().kind,
            ErrorKind::BodyTruncated
        );
        let s = salvaged(raw.as_bytes()).unwrap();
        assert_eq!(
            s,
            "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
f: <sip:alice@example.com>;tag=a\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\r\n"
        );
        let m = p.parse(s.as_bytes()).unwrap();
        crate::validate(&m).unwrap();
    }

    #[test]
    fn a_cut_line_and_another_version_are_salvaged() {
        let raw = HEAD.replace("SIP/2.0\r\n", "SIP/3.0\r\n") + "Contact: <sip:al";
        let s = salvaged(raw.as_bytes()).unwrap();
        assert!(
            s.starts_with("INVITE sip:bob@example.com SIP/2.0\r\n"),
            "{s}"
        );
        assert!(!s.contains("Contact"));
        assert!(s.ends_with("CSeq: 1 INVITE\r\n\r\n"));
    }

    #[test]
    fn responses_acks_and_garbage_are_not() {
        assert!(salvaged(b"SIP/2.0 200 OK\r\nVia: x\r\n").is_none());
        assert!(salvaged(b"ACK sip:a@b SIP/2.0\r\nVia: x\r\n").is_none());
        assert!(salvaged(b"INVITE sip:a@b SIP/2.0").is_none());
        assert!(salvaged(b"\x00\x01\x02\n").is_none());
        assert!(salvaged(b"INVITE  SIP/2.0\r\n").is_none());
        assert!(salvaged(b"INVITE SIP/2.0\r\n").is_none());
        assert!(salvaged(b"IN VITE sip:a@b HTTP/1.1\r\n").is_none());
    }

    #[test]
    fn the_copy_is_bounded() {
        let mut raw = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
        for i in 0..1000 {
            raw.push_str(&format!("Via: SIP/2.0/UDP 192.0.2.{}:5060\r\n", i % 250));
        }
        let s = salvaged(raw.as_bytes()).unwrap();
        assert_eq!(s.matches("Via:").count(), MAX_LINES);
        assert!(s.len() <= MAX_BYTES + 64);
    }
}
