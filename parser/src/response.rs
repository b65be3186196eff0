//! Building a response to a request (RFC 3261 §8.2.6, §16.7 step 3): the
//! status line, then Via, From, To, Call-ID and CSeq copied from the
//! request as spans, a To tag added where the request had none (not for
//! 100 Trying), Timestamp echoed in 100 Trying (§8.2.6.1), any extra
//! headers, and Content-Length: 0.
//!
//! It writes through the same [`Edits`] writer as forwarded messages: the
//! request is the "original", the start line is replaced, the headers a
//! response does not carry are deleted, and the new ones are inserted.

use crate::edit::{EditError, Edits, LocalCtx, Piece};
use crate::header::HeaderName;
use crate::message::Message;
use crate::span::Span;

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
    let status = edits.scratch_fmt(format_args!("SIP/2.0 {} ", spec.code));
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
