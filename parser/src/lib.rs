//! Zero-copy SIP message parsing, validation and one-pass editing.
//!
//! A [`Message`] is a view over the received bytes. [`Parser::parse`] makes
//! one pass over the header block (with `memchr`) that records the start
//! line and every header's name and value spans in a reusable
//! [`HeaderTable`]; typed values are parsed when an accessor asks for them.
//! Nothing is copied, and once the table has reached its working size
//! nothing is allocated.
//!
//! ```
//! use trunkline_parser::{Parser, validate};
//! let raw = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
//! Max-Forwards: 70\r\n\
//! To: Bob <sip:bob@biloxi.example.com>\r\n\
//! From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
//! CSeq: 314159 INVITE\r\n\
//! Content-Length: 0\r\n\r\n";
//! let mut parser = Parser::default();
//! let msg = parser.parse(raw).unwrap();
//! validate(&msg).unwrap();
//! assert_eq!(msg.call_id(), Some(&b"a84b4c76e66710@pc33.atlanta.example.com"[..]));
//! assert_eq!(msg.top_via().unwrap().branch, Some(&b"z9hG4bK776asdhds"[..]));
//! assert_eq!(msg.from().unwrap().tag(), Some(&b"1928301774"[..]));
//! assert_eq!(msg.cseq().unwrap().seq, 314159);
//! ```
//!
//! Modules follow RFC 3261: [`message`] frames a datagram (§7, §18.3),
//! [`uri`] handles URIs (§19.1), [`via`], [`name_addr`] and [`values`] the
//! header grammars (§20, §25), [`validate`](validate()) the checks a proxy
//! runs (§8.2, §16.3), [`edit`] the one-pass writer (Kamailio's lumps) and
//! [`response`] builds responses (§8.2.6).
//!
//! Errors are [`ParseError`]s: a `Copy` value with the [`ErrorKind`], the
//! byte offset and the header concerned, and the response a proxy should
//! send ([`ParseError::status`], [`ParseError::reason`]).

// `unsafe` is denied but for the measured SSE2 scans in `scan` (each with a
// SAFETY comment and a test against a plain loop).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod access;
pub mod edit;
mod error;
mod header;
pub mod message;
mod method;
pub mod name_addr;
mod params;
pub mod response;
mod salvage;
mod scan;
mod span;
pub mod uri;
mod validate;
pub mod values;
pub mod via;

pub use access::{ContactList, Values};
pub use edit::{EditError, Edits, LocalCtx, LocalPart, Piece};
pub use error::{ErrorKind, ParseError};
pub use header::{HeaderName, HeaderProps};
pub use message::{HeaderEntry, HeaderTable, Limits, Message, Parser, StartLine, find_call_id};
pub use method::{Method, MethodSet};
pub use name_addr::{Contact, NameAddr};
pub use params::{Fault, Param, Params, unquote};
pub use response::{
    ResponseSpec, reason_phrase, stamp_via, write_ack, write_cancel, write_response,
};
pub use salvage::salvage_request;
pub use span::Span;
pub use uri::{Host, HostKind, SipUri, Uri};
pub use validate::{Summary, ValidateOptions, validate, validate_with};
pub use values::{CSeq, Credentials, MediaType};
pub use via::Via;
