//! Transaction keys (RFC 3261 §17.1.3, §17.2.3).
//!
//! A key is a byte string built into a reusable buffer and compared whole,
//! so lookups never allocate and never confuse two transactions:
//! - server side, RFC 3261 branch (magic cookie): branch, sent-by, and the
//!   method with ACK folded into INVITE (so the ACK for a non-2xx response
//!   finds its INVITE; CANCEL keeps its own key, §17.2.3);
//! - server side, RFC 2543 fallback (no cookie): Request-URI, From tag,
//!   Call-ID, CSeq number, the whole top Via, and the method class;
//! - client side: our own branch and the method class (§17.1.3: the CSeq
//!   method of the response).

use trunkline_parser::{Message, Method, Summary};

/// Separates key fields; cannot occur in any of them.
const SEP: u8 = 0;

/// The method class used in keys: ACK matches INVITE.
pub(crate) fn method_class(method: Method, bytes: &[u8]) -> &[u8] {
    match method {
        Method::Ack | Method::Invite => b"INVITE",
        _ => bytes,
    }
}

/// Builds the server transaction key of request `msg` into `out`.
/// `class` overrides the method class (CANCEL looks up its INVITE).
pub(crate) fn server_key(
    msg: &Message<'_>,
    sum: &Summary<'_>,
    class: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    out.clear();
    let via = &sum.top_via;
    let method = msg.method().unwrap_or(Method::Extension);
    let class =
        class.unwrap_or_else(|| method_class(method, msg.method_bytes().unwrap_or_default()));
    if via.is_rfc3261_branch() {
        out.push(b'3');
        out.extend_from_slice(via.branch.unwrap_or_default());
        out.push(SEP);
        out.extend_from_slice(via.sent_by);
    } else {
        // RFC 2543 §17.2.3 fallback.
        out.push(b'2');
        out.extend_from_slice(msg.request_uri_bytes().unwrap_or_default());
        out.push(SEP);
        out.extend_from_slice(sum.from.tag().unwrap_or_default());
        out.push(SEP);
        out.extend_from_slice(sum.call_id);
        out.push(SEP);
        let _ = std::io::Write::write_fmt(out, format_args!("{}", sum.cseq.seq));
        out.push(SEP);
        out.extend_from_slice(via.raw);
    }
    out.push(SEP);
    out.extend_from_slice(class);
}

/// Builds a client transaction key from our branch and the method class.
pub(crate) fn client_key(branch: &[u8], class: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(b'c');
    out.extend_from_slice(branch);
    out.push(SEP);
    out.extend_from_slice(class);
}
