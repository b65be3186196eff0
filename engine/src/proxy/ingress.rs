//! Framing (RFC 3261 §7, §18.3) and what to do with a datagram that does
//! not frame: a request whose response can still be addressed gets the
//! RFC's answer (400 for a body shorter than its Content-Length or a
//! header block cut short, 505 for another SIP version, 513 for a message
//! over the size limit, 413 for a body over its limit); anything else is
//! dropped and counted. CRLF keep-alives are counted and ignored.

use trunkline_parser::{
    ErrorKind, HeaderName, Limits, Message, ParseError, Parser, salvage_request,
};

/// What a datagram turned out to be.
#[derive(Debug)]
pub(crate) enum Framed<'a> {
    /// A message, framed.
    Message(Message<'a>),
    /// Only CRLFs: a keep-alive (RFC 5626 §4.4.1 style, or §7.5 padding).
    Keepalive,
    /// A request that does not frame, with what was salvaged of it to
    /// answer with `error`'s status.
    Answer(Message<'a>, ParseError),
    /// Nothing that can be answered.
    Garbage,
}

/// The core's framing: the parser of datagrams as they arrive, and a
/// second one for what is salvaged of a request that does not frame.
#[derive(Debug)]
pub(crate) struct Ingress {
    parser: Parser,
    salvage_parser: Parser,
    salvage: Vec<u8>,
}

impl Ingress {
    pub fn new(limits: Limits) -> Ingress {
        Ingress {
            parser: Parser::new(limits),
            salvage_parser: Parser::new(limits),
            salvage: Vec::new(),
        }
    }

    /// Frames one datagram.
    pub fn frame<'a>(&'a mut self, buf: &'a [u8]) -> Framed<'a> {
        let e = match self.parser.parse(buf) {
            Ok(m) => return Framed::Message(m),
            Err(e) if e.kind == ErrorKind::Empty => return Framed::Keepalive,
            Err(e) => e,
        };
        if !salvage_request(buf, &mut self.salvage) {
            return Framed::Garbage;
        }
        match self.salvage_parser.parse(&self.salvage) {
            Ok(m) if answerable(&m) => Framed::Answer(m, e),
            _ => Framed::Garbage,
        }
    }
}

/// Whether a response can be built from `m`: it has what one copies.
fn answerable(m: &Message<'_>) -> bool {
    m.top_via().is_ok()
        && [
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ]
        .into_iter()
        .all(|h| m.first(h).is_some())
}
