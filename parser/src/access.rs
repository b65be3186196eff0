//! Typed access to header values, parsed on demand from a [`Message`].
//!
//! Each accessor parses only what it returns; errors carry the byte offset
//! in the message and the header concerned.

use crate::error::{ErrorKind, ParseError};
use crate::header::HeaderName;
use crate::message::{HeaderEntry, Message};
use crate::name_addr::{self, Contact, NameAddr, NameAddrList};
use crate::params::Fault;
use crate::uri::Uri;
use crate::values::{self, CSeq, Credentials, MediaType, TokenList};
use crate::via::{self, Via, ViaList};

impl<'a> Message<'a> {
    /// Rebases an error found in `entry`'s value onto the message.
    fn rebase(&self, entry: &HeaderEntry, mut e: ParseError) -> ParseError {
        e.offset += entry.value.start;
        e.header = Some(entry.kind);
        e
    }

    fn locate(&self, f: Fault, kind: HeaderName) -> ParseError {
        f.locate(self.buffer(), Some(kind))
    }

    fn required(&self, kind: HeaderName) -> Result<&'a HeaderEntry, ParseError> {
        self.first(kind).ok_or_else(|| self.missing(kind))
    }

    /// The Request-URI, parsed and validated; `None` for a response.
    pub fn request_uri(&self) -> Option<Result<Uri<'a>, ParseError>> {
        let span = self.request_uri_span()?;
        Some(Uri::parse(span.of(self.buffer())).map_err(|mut e| {
            e.offset += span.start;
            e.kind = ErrorKind::BadRequestUri;
            e
        }))
    }

    /// The CSeq (§20.16).
    pub fn cseq(&self) -> Result<CSeq<'a>, ParseError> {
        let e = self.required(HeaderName::CSeq)?;
        CSeq::parse(e.value.of(self.buffer())).map_err(|err| self.rebase(e, err))
    }

    /// Max-Forwards (§20.22), `None` when absent.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        match self.first(HeaderName::MaxForwards) {
            None => Ok(None),
            Some(e) => values::parse_max_forwards(e.value.of(self.buffer()))
                .map(Some)
                .map_err(|err| self.rebase(e, err)),
        }
    }

    /// Expires (§20.19), `None` when absent.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        match self.first(HeaderName::Expires) {
            None => Ok(None),
            Some(e) => values::parse_delta_seconds(e.value.of(self.buffer()))
                .map(Some)
                .map_err(|err| self.rebase(e, err)),
        }
    }

    /// Content-Type (§20.15), `None` when absent.
    pub fn content_type(&self) -> Result<Option<MediaType<'a>>, ParseError> {
        match self.first(HeaderName::ContentType) {
            None => Ok(None),
            Some(e) => MediaType::parse(e.value.of(self.buffer()))
                .map(Some)
                .map_err(|err| self.rebase(e, err)),
        }
    }

    /// The topmost Via value (§18.2.1: where responses go).
    #[inline(always)]
    pub fn top_via(&self) -> Result<Via<'a>, ParseError> {
        let e = self.required(HeaderName::Via)?;
        via::parse_first_via(e.value.of(self.buffer())).map_err(|f| self.locate(f, HeaderName::Via))
    }

    /// Every Via value, top first, across all Via header lines.
    pub fn vias(&self) -> Values<'a, ViaList<'a>> {
        self.values(HeaderName::Via, ViaList::new)
    }

    /// From (§20.20).
    pub fn from(&self) -> Result<NameAddr<'a>, ParseError> {
        self.name_addr(HeaderName::From)
            .and_then(|o| o.ok_or_else(|| self.missing(HeaderName::From)))
    }

    /// To (§20.39).
    pub fn to(&self) -> Result<NameAddr<'a>, ParseError> {
        self.name_addr(HeaderName::To)
            .and_then(|o| o.ok_or_else(|| self.missing(HeaderName::To)))
    }

    /// A single-valued name-addr header (From, To, Refer-To, Reply-To,
    /// Referred-By, ...); `None` when absent.
    pub fn name_addr(&self, kind: HeaderName) -> Result<Option<NameAddr<'a>>, ParseError> {
        let Some(e) = self.first(kind) else {
            return Ok(None);
        };
        name_addr::parse_single(e.value.of(self.buffer()))
            .map(Some)
            .map_err(|f| self.locate(f, kind))
    }

    /// Every value of a list of name-addrs (Route, Record-Route, Path,
    /// P-Asserted-Identity, ...) across all its header lines, in order.
    pub fn name_addrs(&self, kind: HeaderName) -> Values<'a, NameAddrList<'a>> {
        self.values(kind, NameAddrList::new)
    }

    /// Route values, top first (§20.34).
    pub fn routes(&self) -> Values<'a, NameAddrList<'a>> {
        self.name_addrs(HeaderName::Route)
    }

    /// Record-Route values, top first (§20.30).
    pub fn record_routes(&self) -> Values<'a, NameAddrList<'a>> {
        self.name_addrs(HeaderName::RecordRoute)
    }

    /// Contact values (§20.10), including the `*` wildcard.
    pub fn contacts(&self) -> Values<'a, ContactList<'a>> {
        self.values(HeaderName::Contact, ContactList::new)
    }

    /// The option tags of Require, Proxy-Require, Supported or Unsupported.
    pub fn option_tags(&self, kind: HeaderName) -> Values<'a, TokenList<'a>> {
        self.values(kind, TokenList::new)
    }

    /// Every Authorization-family header of `kind`, parsed.
    pub fn credentials(
        &self,
        kind: HeaderName,
    ) -> impl Iterator<Item = Result<Credentials<'a>, ParseError>> + 'a {
        let buf = self.buffer();
        let msg = *self;
        self.all(kind)
            .map(move |e| Credentials::parse(e.value.of(buf)).map_err(|err| msg.rebase(e, err)))
    }

    /// The comma-separated values of every header of `kind`, split with
    /// quoting and `<>` respected (for list headers without a typed parser).
    pub fn comma_values(&self, kind: HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buffer();
        self.all(kind)
            .flat_map(move |e| values::CommaValues::new(e.value.of(buf)))
    }

    fn values<I>(&self, kind: HeaderName, make: fn(&'a [u8]) -> I) -> Values<'a, I> {
        let entries = self.headers();
        let pos = self.first_index(kind).unwrap_or(entries.len());
        Values {
            buf: self.buffer(),
            entries,
            kind,
            pos,
            cur: None,
            make,
            failed: false,
        }
    }
}

/// Iterates the values of a list header across all its lines, parsing each;
/// stops after the first error.
#[derive(Debug)]
pub struct Values<'a, I> {
    buf: &'a [u8],
    entries: &'a [HeaderEntry],
    kind: HeaderName,
    pos: usize,
    cur: Option<I>,
    make: fn(&'a [u8]) -> I,
    failed: bool,
}

impl<'a, T, I> Iterator for Values<'a, I>
where
    I: Iterator<Item = Result<T, Fault>>,
{
    type Item = Result<T, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(cur) = &mut self.cur {
                match cur.next() {
                    Some(Ok(v)) => return Some(Ok(v)),
                    Some(Err(f)) => {
                        self.failed = true;
                        return Some(Err(f.locate(self.buf, Some(self.kind))));
                    }
                    None => self.cur = None,
                }
            }
            let e = loop {
                let e = self.entries.get(self.pos)?;
                self.pos += 1;
                if e.kind == self.kind {
                    break e;
                }
            };
            self.cur = Some((self.make)(e.value.of(self.buf)));
        }
    }
}

/// Contact values of one header line: `*` or name-addrs.
#[derive(Clone, Debug)]
pub struct ContactList<'a> {
    wildcard: Option<&'a [u8]>,
    list: NameAddrList<'a>,
}

impl<'a> ContactList<'a> {
    fn new(s: &'a [u8]) -> ContactList<'a> {
        let wildcard = (s == b"*").then_some(s);
        ContactList {
            wildcard,
            list: NameAddrList::new(if wildcard.is_some() { &[] } else { s }),
        }
    }
}

impl<'a> Iterator for ContactList<'a> {
    type Item = Result<Contact<'a>, Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.wildcard.take().is_some() {
            return Some(Ok(Contact::Wildcard));
        }
        Some(self.list.next()?.map(Contact::Addr))
    }
}
