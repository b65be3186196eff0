//! Message framing and the header index (RFC 3261 §7, §18.3).
//!
//! [`Parser::parse`] makes one pass over a datagram: it checks the start
//! line, records every header's name and value spans in a reusable
//! [`HeaderTable`], and frames the body by Content-Length. Nothing is copied
//! and nothing is allocated once the table has grown to its working size.
//! Typed values (Via, From, CSeq, ...) are parsed when asked for, by the
//! accessors on [`Message`].

use memchr::memchr;

use crate::error::{ErrorKind, ParseError};
use crate::header::{self, HeaderName};
use crate::method::Method;
use crate::scan;
use crate::span::Span;

/// Caps on what a peer can make the parser hold. Network input is hostile:
/// every dimension a sender controls is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, in bytes (default 65,535: the largest UDP
    /// payload; RFC 3261 §18.1.1). Over it: [`ErrorKind::MessageTooLarge`], 513.
    pub max_message: usize,
    /// Most header fields (lines) in one message (default 256). Over it:
    /// [`ErrorKind::TooManyHeaders`], 513.
    pub max_headers: usize,
    /// Largest body accepted (default: no cap beyond `max_message`). Over it:
    /// [`ErrorKind::BodyTooLarge`], 413.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 65_535,
            max_headers: 256,
            max_body: usize::MAX,
        }
    }
}

/// One header field line, as indexed by the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderEntry {
    /// The header, classified from its name (compact forms folded in).
    pub kind: HeaderName,
    /// The field name as written.
    pub name: Span,
    /// The field value, without the surrounding LWS; may contain folds.
    pub value: Span,
    /// One past the line's terminator (CRLF or LF): `name.start..end` is the
    /// whole line, which is what removing the header deletes.
    pub end: u32,
}

impl HeaderEntry {
    /// The whole header line, including its terminator.
    #[inline]
    pub fn line(&self) -> Span {
        Span {
            start: self.name.start,
            end: self.end,
        }
    }
}

const NONE: u16 = u16::MAX;
const _: () = assert!(HeaderName::COUNT <= 128, "the duplicate mask is a u128");

/// The reusable index of a message's headers: every entry in order, and the
/// position of the first instance of each known header for O(1) access.
///
/// Keep one per receive loop and hand it to [`Parser::parse`] each time;
/// its storage is reused, so steady-state parsing does not allocate.
#[derive(Clone, Debug)]
pub struct HeaderTable {
    /// `max_headers` slots, allocated once; the first `len` are this
    /// message's. Storing into a slot costs one bounds check, where a
    /// `Vec::push` also checked and grew the capacity.
    slots: Vec<HeaderEntry>,
    len: usize,
    first: [u16; HeaderName::COUNT],
    /// Bit `k` set when header kind `k` appears more than once.
    repeated: u128,
}

impl HeaderTable {
    /// A table for messages of at most `max_headers` header lines.
    fn new(max_headers: usize) -> Self {
        const EMPTY: HeaderEntry = HeaderEntry {
            kind: HeaderName::Other,
            name: Span { start: 0, end: 0 },
            value: Span { start: 0, end: 0 },
            end: 0,
        };
        HeaderTable {
            slots: vec![EMPTY; max_headers],
            len: 0,
            first: [NONE; HeaderName::COUNT],
            repeated: 0,
        }
    }

    /// The entries of the last message parsed.
    #[inline]
    fn entries(&self) -> &[HeaderEntry] {
        &self.slots[..self.len]
    }

    /// Whether another entry would exceed `max_headers`.
    #[inline]
    fn is_full(&self) -> bool {
        self.len >= self.slots.len()
    }

    #[inline]
    fn clear(&mut self) {
        self.len = 0;
        self.first = [NONE; HeaderName::COUNT];
        self.repeated = 0;
    }

    #[inline]
    fn push(&mut self, e: HeaderEntry) {
        // `Other` has a slot too (`first` holds `COUNT` entries), written
        // but never read: the readers check for `Other` instead, off the
        // indexing loop.
        let k = e.kind as usize;
        if self.first[k] == NONE {
            self.first[k] = self.len as u16;
        } else {
            self.repeated |= 1u128 << k;
        }
        self.slots[self.len] = e;
        self.len += 1;
    }
}

/// The first line of a message (§7.1, §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method, classified (extension methods are in `method_span`).
        method: Method,
        /// The method token as written.
        method_span: Span,
        /// The Request-URI as written.
        uri: Span,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The status code, 100..=699.
        code: u16,
        /// The reason phrase (may be empty).
        reason: Span,
    },
}

/// Parses messages into [`Message`] views, reusing one [`HeaderTable`].
#[derive(Clone, Debug)]
pub struct Parser {
    limits: Limits,
    table: HeaderTable,
}

/// A parsed SIP message: a view over the received bytes. `Copy`, and cheap
/// to pass around; typed header values are parsed on access.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
    table: &'a HeaderTable,
    start: StartLine,
    /// Where the start line begins (leading CRLFs skipped, §7.5).
    begin: u32,
    /// Where the first header line begins (just after the start line).
    headers_start: u32,
    /// Where the empty line that ends the headers begins (or the buffer
    /// end if the datagram has none).
    headers_end: u32,
    body: Span,
    content_length: Option<u32>,
}

/// What [`frame`] found.
struct Framing {
    start: StartLine,
    begin: usize,
    headers_start: usize,
    headers_end: usize,
    body: Span,
    content_length: Option<u32>,
}

impl Default for Parser {
    /// A parser with [`Limits::default`].
    fn default() -> Self {
        Parser::new(Limits::default())
    }
}

impl Parser {
    /// A parser with the given limits. Limits beyond what the index can
    /// address are clamped: at most 65,534 headers (positions are `u16`)
    /// and messages below 4 GiB (spans are `u32`).
    pub fn new(limits: Limits) -> Parser {
        let limits = Limits {
            max_headers: limits.max_headers.min(u16::MAX as usize - 1),
            max_message: limits.max_message.min(u32::MAX as usize - 1),
            ..limits
        };
        Parser {
            table: HeaderTable::new(limits.max_headers),
            limits,
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Parses one message received as a datagram (UDP semantics, §18.3):
    /// the body is framed by Content-Length when present, else by the end
    /// of the datagram; octets after the Content-Length body are ignored
    /// (see [`Message::trailing`]); a Content-Length beyond the datagram is
    /// [`ErrorKind::BodyTruncated`].
    ///
    /// Leniencies, each one that deployed stacks rely on:
    /// - CRLFs before the start line are skipped (§7.5, keep-alives).
    /// - Lines may end in a bare LF as well as CRLF (Kamailio, OpenSIPS and
    ///   SIPp accept it).
    /// - A datagram may end right after the last header line with no empty
    ///   line; the body is then empty.
    pub fn parse<'a>(&'a mut self, buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        self.table.clear();
        let f = frame(buf, &self.limits, &mut self.table)?;
        Ok(Message {
            buf,
            table: &self.table,
            start: f.start,
            begin: f.begin as u32,
            headers_start: f.headers_start as u32,
            headers_end: f.headers_end as u32,
            body: f.body,
            content_length: f.content_length,
        })
    }
}

/// One pass over the datagram: start line, header index, body framing.
#[inline]
fn frame(buf: &[u8], limits: &Limits, table: &mut HeaderTable) -> Result<Framing, ParseError> {
    use ErrorKind as E;
    if buf.len() > limits.max_message {
        return Err(ParseError::new(E::MessageTooLarge, limits.max_message));
    }
    let mut pos = 0;
    while pos < buf.len() && (buf[pos] == b'\r' || buf[pos] == b'\n') {
        pos += 1;
    }
    if pos == buf.len() {
        return Err(ParseError::new(E::Empty, pos));
    }
    let begin = pos;
    let Some(nl) = scan::find_lf(buf, pos) else {
        return Err(ParseError::new(E::Unterminated, buf.len()));
    };
    let line_end = if nl > pos && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let start = start_line(buf, pos, line_end)?;
    pos = nl + 1;
    let headers_start = pos;

    let (headers_end, body_start) = loop {
        // The common line, `Name: value` with a name of up to fifteen
        // bytes, takes the short path: one sixteen-byte load finds the
        // colon and classifies the name. Everything else (the empty line,
        // the end of the datagram, long or odd names, errors) takes the
        // general one.
        let entry = match scan::short_name(buf, pos) {
            Some((n, lo, hi)) if n > 0 && buf[pos + n] == b':' => {
                let kind = header::classify_short(n, lo, hi);
                if kind == HeaderName::Other && !scan::is_token(&buf[pos..pos + n]) {
                    return Err(slow_name_error(buf, pos));
                }
                // The name holds no LF, so the line-end search may start
                // at the line start: its loads then wait for nothing but
                // `pos`, and run alongside the name's classification.
                header_value(buf, pos, pos + n, pos + n, kind, pos)?
            }
            _ => {
                if pos >= buf.len() {
                    // Datagram ended after a complete header line: no empty line.
                    break (buf.len(), buf.len());
                }
                match buf[pos] {
                    b'\n' => break (pos, pos + 1),
                    b'\r' if buf.get(pos + 1) == Some(&b'\n') => break (pos, pos + 2),
                    b' ' | b'\t' => return Err(ParseError::new(E::BadFolding, pos)),
                    _ => {}
                }
                header_line(buf, pos)?
            }
        };
        if table.is_full() {
            return Err(ParseError::new(E::TooManyHeaders, pos));
        }
        pos = entry.end as usize;
        table.push(entry);
    };

    // Content-Length from the index (kept out of the loop above, which
    // then holds fewer live values): exactly one, a decimal below 2^32.
    let cl = HeaderName::ContentLength as usize;
    let content_length = match table.first[cl] {
        NONE => None,
        at => {
            if table.repeated & (1u128 << cl) != 0 {
                let second = table.entries()[at as usize + 1..]
                    .iter()
                    .find(|e| e.kind == HeaderName::ContentLength)
                    .map_or(0, |e| e.name.start as usize);
                return Err(ParseError::in_header(
                    E::DuplicateHeader,
                    second,
                    HeaderName::ContentLength,
                ));
            }
            let value = table.entries()[at as usize].value;
            match scan::parse_decimal(value.of(buf), u32::MAX as u64) {
                Some(n) => Some(n as u32),
                None => {
                    return Err(ParseError::in_header(
                        E::BadContentLength,
                        value.start as usize,
                        HeaderName::ContentLength,
                    ));
                }
            }
        }
    };

    let available = buf.len() - body_start;
    let body_len = match content_length {
        Some(n) if n as usize > available => {
            return Err(ParseError::in_header(
                E::BodyTruncated,
                buf.len(),
                HeaderName::ContentLength,
            ));
        }
        Some(n) => n as usize,
        None => available,
    };
    if body_len > limits.max_body {
        return Err(ParseError::new(E::BodyTooLarge, body_start));
    }
    Ok(Framing {
        start,
        begin,
        headers_start,
        headers_end,
        body: Span::new(body_start, body_start + body_len),
        content_length,
    })
}

/// Indexes one header line starting at `pos` (not SP/HT, not an empty line):
/// `field-name *(SP/HT) ":" value`, continued over folded lines.
#[inline]
fn header_line(buf: &[u8], pos: usize) -> Result<HeaderEntry, ParseError> {
    // The name: everything up to the first ':' or control/SP, found 16
    // bytes at a time; then optional SP/HT and the colon. Known names are
    // recognised by a case-folded compare, which matches no byte outside
    // their letters and '-'; only extension names need the token check.
    let (name_end, colon) = match scan::find_byte_or_ctl(buf, pos, b':') {
        Some(c) if c > pos && buf[c] == b':' => (c, c),
        Some(c) if c > pos && scan::is_wsp(buf[c]) => {
            let mut colon = c + 1;
            while colon < buf.len() && scan::is_wsp(buf[colon]) {
                colon += 1;
            }
            if buf.get(colon) != Some(&b':') {
                return Err(slow_name_error(buf, pos));
            }
            (c, colon)
        }
        _ => return Err(slow_name_error(buf, pos)),
    };
    let kind = HeaderName::classify_in(buf, pos, name_end);
    if kind == HeaderName::Other && !scan::is_token(&buf[pos..name_end]) {
        return Err(slow_name_error(buf, pos));
    }
    header_value(buf, pos, name_end, colon, kind, colon + 1)
}

/// Finishes the header line whose name is `buf[pos..name_end]` and whose
/// colon is at `colon`: finds the end of the logical line (a LF not
/// followed by SP/HT: folds continue it) and the value without the LWS
/// around it. `lf_from` is where to start looking for the line end: any
/// position from the line start to just after the colon (no LF lies
/// before it).
#[inline(always)]
fn header_value(
    buf: &[u8],
    pos: usize,
    name_end: usize,
    colon: usize,
    kind: HeaderName,
    lf_from: usize,
) -> Result<HeaderEntry, ParseError> {
    // One SP after the colon is the norm; other LWS is trimmed below.
    let mut v_start = colon + 1;
    if buf.get(v_start) == Some(&b' ') {
        v_start += 1;
    }
    let mut from = lf_from;
    let nl = loop {
        let Some(nl) = scan::find_lf(buf, from) else {
            return Err(ParseError::new(ErrorKind::Unterminated, buf.len()));
        };
        match buf.get(nl + 1) {
            Some(b' ' | b'\t') => from = nl + 1,
            _ => break nl,
        }
    };
    // `v_start <= nl`: the byte skipped after the colon, if any, was a SP.
    // The value lies in `line` (one bounds check here; the indexing below
    // is then provably in bounds and compiles without checks).
    let line = &buf[..nl];
    let mut v_end = nl;
    if v_end > v_start && line[v_end - 1] == b'\r' {
        v_end -= 1;
    }
    // Tabs, more SPs or a fold before the value, LWS after it: rare. LWS
    // bytes are all <= SP, so one compare per end screens for them (a
    // control byte there also takes the exact loops, which trim LWS only).
    if v_start < v_end && (line[v_start] <= b' ' || line[v_end - 1] <= b' ') {
        while v_start < v_end && scan::is_lws(line[v_start]) {
            v_start += 1;
        }
        while v_end > v_start && scan::is_lws(line[v_end - 1]) {
            v_end -= 1;
        }
    }
    Ok(HeaderEntry {
        kind,
        name: Span::new(pos, name_end),
        value: Span::new(v_start, v_end),
        end: (nl + 1) as u32,
    })
}

/// The error for a header line whose name is not `token *(SP/HT) ":"`,
/// located at the first byte that breaks it.
#[cold]
fn slow_name_error(buf: &[u8], pos: usize) -> ParseError {
    let name_end = scan::skip_token(buf, pos);
    if name_end == pos {
        return ParseError::new(ErrorKind::BadHeaderName, pos);
    }
    let mut colon = name_end;
    while colon < buf.len() && scan::is_wsp(buf[colon]) {
        colon += 1;
    }
    ParseError::new(ErrorKind::BadHeaderName, colon)
}

/// Parses the Request-Line or Status-Line in `buf[s..e]` (terminator excluded).
fn start_line(buf: &[u8], s: usize, e: usize) -> Result<StartLine, ParseError> {
    use ErrorKind as E;
    let line = &buf[s..e];
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = scan::find_byte(line, 0, b' ').ok_or(ParseError::new(E::BadStartLine, e))?;
        check_version(&line[..sp], s)?;
        let code_at = sp + 1;
        let code = line.get(code_at..code_at + 3).unwrap_or(&[]);
        let code = match scan::parse_decimal(code, 699) {
            Some(c) if c >= 100 && code.len() == 3 => c as u16,
            _ => return Err(ParseError::new(E::BadStatusCode, s + code_at)),
        };
        let after = code_at + 3;
        let reason = match line.get(after) {
            None => Span::empty(e),
            Some(b' ') => Span::new(s + after + 1, e),
            Some(_) => return Err(ParseError::new(E::BadStatusCode, s + code_at)),
        };
        if let Some(i) = reason
            .of(buf)
            .iter()
            .position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(ParseError::new(
                E::BadReasonPhrase,
                reason.start as usize + i,
            ));
        }
        return Ok(StartLine::Response { code, reason });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let sp1 = scan::find_byte(line, 0, b' ').ok_or(ParseError::new(E::BadStartLine, s))?;
    let method = &line[..sp1];
    if !scan::is_token(method) {
        return Err(ParseError::new(E::BadMethod, s));
    }
    let rest = &line[sp1 + 1..];
    // One pass finds the SP after the URI and proves the URI free of
    // controls, SP and non-ASCII; anything else takes the general checks.
    let first_odd = scan::find_ctl_space_or_high(rest, 0);
    let clean = first_odd.is_some_and(|i| rest[i] == b' ');
    let sp2 = match first_odd {
        Some(i) if clean => i,
        _ => memchr(b' ', rest).ok_or(ParseError::new(E::BadStartLine, e))?,
    };
    let uri = &rest[..sp2];
    let uri_at = s + sp1 + 1;
    if uri.is_empty() {
        return Err(ParseError::new(E::BadStartLine, uri_at));
    }
    // absoluteURI starts with a scheme and ':' (§25.1); catches `<sip:..>`.
    let colon = scan::scheme_end(uri);
    if !uri[0].is_ascii_alphabetic() || uri.get(colon) != Some(&b':') {
        return Err(ParseError::new(E::BadRequestUri, uri_at));
    }
    if !clean && scan::has_ctl_or_space_or_high(uri) {
        let i = uri
            .iter()
            .position(|&b| b <= b' ' || b >= 0x7f)
            .unwrap_or(0);
        return Err(ParseError::new(E::BadRequestUri, uri_at + i));
    }
    let version = &rest[sp2 + 1..];
    let version_at = uri_at + sp2 + 1;
    if !is_sip_2_0(version) && version.contains(&b' ') {
        // More SP-separated elements: LWS inside the URI or trailing SP (RFC 4475 §3.1.2.8-10).
        return Err(ParseError::new(E::BadStartLine, version_at));
    }
    check_version(version, version_at)?;
    Ok(StartLine::Request {
        method: Method::from_bytes(method),
        method_span: Span::new(s, s + sp1),
        uri: Span::new(uri_at, uri_at + sp2),
    })
}

/// Whether `v` is "SIP/2.0" in any letter case (as [`check_version`]'s
/// first step): then it holds no SP.
#[inline]
fn is_sip_2_0(v: &[u8]) -> bool {
    if let Ok(b) = <[u8; 7]>::try_from(v) {
        let mut w = [0u8; 8];
        w[..7].copy_from_slice(&b);
        const SIP20: u64 = u64::from_le_bytes(*b"sip/2.0\0");
        return u64::from_le_bytes(w) | 0x20_2020 == SIP20;
    }
    false
}

/// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; only 2.0 is supported (§8.2.2: 505).
fn check_version(v: &[u8], at: usize) -> Result<(), ParseError> {
    // "SIP/2.0" in any letter case, as one word compare: only the three
    // letters are case-folded.
    if let Ok(b) = <[u8; 7]>::try_from(v) {
        let mut w = [0u8; 8];
        w[..7].copy_from_slice(&b);
        const SIP20: u64 = u64::from_le_bytes(*b"sip/2.0\0");
        if u64::from_le_bytes(w) | 0x20_2020 == SIP20 {
            return Ok(());
        }
    }
    let well_formed = v.len() > 4 && v[..4].eq_ignore_ascii_case(b"SIP/") && {
        let num = &v[4..];
        match memchr(b'.', num) {
            Some(dot) => {
                scan::all(&num[..dot], scan::DIGIT) && scan::all(&num[dot + 1..], scan::DIGIT)
            }
            None => false,
        }
    };
    Err(ParseError::new(
        if well_formed {
            ErrorKind::UnsupportedVersion
        } else {
            ErrorKind::BadVersion
        },
        at,
    ))
}

impl<'a> Message<'a> {
    /// The whole buffer the message was parsed from (including any trailing
    /// octets after the body).
    #[inline]
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// The message's own bytes: start line to the end of the body, without
    /// leading CRLFs or trailing octets.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        &self.buf[self.begin as usize..self.body.end as usize]
    }

    /// Octets after the Content-Length body, which §18.3 says to discard.
    #[inline]
    pub fn trailing(&self) -> &'a [u8] {
        &self.buf[self.body.end as usize..]
    }

    /// Offset of the start line (after skipped leading CRLFs).
    #[inline]
    pub fn begin(&self) -> usize {
        self.begin as usize
    }

    /// Offset just after the start line: where a header inserted at the
    /// top of the header block goes.
    #[inline]
    pub fn headers_start(&self) -> usize {
        self.headers_start as usize
    }

    /// Offset of the empty line that ends the headers: where a header
    /// appended at the bottom goes.
    #[inline]
    pub fn headers_end(&self) -> usize {
        self.headers_end as usize
    }

    /// Whether the header block ends with an empty line (a datagram may
    /// omit it when there is no body; see [`Parser::parse`]).
    #[inline]
    pub fn has_empty_line(&self) -> bool {
        self.headers_end < self.body.start
    }

    /// The start line.
    #[inline]
    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    /// Whether this is a request.
    #[inline]
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, or `None` for a response.
    #[inline]
    pub fn method(&self) -> Option<Method> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The method token as written (requests), or `None` for a response.
    #[inline]
    pub fn method_bytes(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Request { method_span, .. } => Some(method_span.of(self.buf)),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI span, or `None` for a response.
    #[inline]
    pub fn request_uri_span(&self) -> Option<Span> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as written, or `None` for a response.
    #[inline]
    pub fn request_uri_bytes(&self) -> Option<&'a [u8]> {
        self.request_uri_span().map(|s| s.of(self.buf))
    }

    /// The status code, or `None` for a request.
    #[inline]
    pub fn status_code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase, or `None` for a request.
    #[inline]
    pub fn reason_phrase(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Response { reason, .. } => Some(reason.of(self.buf)),
            StartLine::Request { .. } => None,
        }
    }

    /// Every header line, in order.
    #[inline]
    pub fn headers(&self) -> &'a [HeaderEntry] {
        self.table.entries()
    }

    /// Index (into [`Message::headers`]) of the first header of `kind`.
    #[inline]
    pub fn first_index(&self, kind: HeaderName) -> Option<usize> {
        let k = kind as usize;
        if k >= HeaderName::KNOWN.len() {
            return None;
        }
        match self.table.first[k] {
            NONE => None,
            i => Some(i as usize),
        }
    }

    /// The first header of `kind`.
    #[inline]
    pub fn first(&self, kind: HeaderName) -> Option<&'a HeaderEntry> {
        self.first_index(kind).map(|i| &self.table.entries()[i])
    }

    /// Bit `k` is set when the known header kind `k` appears more than once.
    pub(crate) fn repeated_mask(&self) -> u128 {
        self.table.repeated
    }

    /// Whether a header kind appears on more than one line.
    #[inline]
    pub fn is_repeated(&self, kind: HeaderName) -> bool {
        let k = kind as usize;
        k < HeaderName::KNOWN.len() && self.table.repeated & (1u128 << k) != 0
    }

    /// Every header of `kind`, in order (for [`HeaderName::Other`], use
    /// [`Message::headers_named`]).
    pub fn all(&self, kind: HeaderName) -> impl Iterator<Item = &'a HeaderEntry> + 'a {
        let entries: &'a [HeaderEntry] = self.table.entries();
        let from = self.first_index(kind).unwrap_or(entries.len());
        let to = if self.is_repeated(kind) {
            entries.len()
        } else {
            (from + 1).min(entries.len())
        };
        entries[from..to].iter().filter(move |e| e.kind == kind)
    }

    /// Every header whose name equals `name`, ignoring case (extension headers).
    pub fn headers_named<'n>(&self, name: &'n [u8]) -> impl Iterator<Item = &'a HeaderEntry> + 'n
    where
        'a: 'n,
    {
        let buf = self.buf;
        let kind = HeaderName::from_bytes(name);
        self.table.entries().iter().filter(move |e| {
            if kind == HeaderName::Other {
                e.kind == HeaderName::Other && e.name.of(buf).eq_ignore_ascii_case(name)
            } else {
                e.kind == kind
            }
        })
    }

    /// The value of the first header of `kind`.
    #[inline]
    pub fn header_value(&self, kind: HeaderName) -> Option<&'a [u8]> {
        self.first(kind).map(|e| e.value.of(self.buf))
    }

    /// The bytes of `span` in this message's buffer.
    #[inline]
    pub fn slice(&self, span: Span) -> &'a [u8] {
        span.of(self.buf)
    }

    /// The span of a sub-slice of this message's buffer (as returned by the
    /// typed accessors). Slices from elsewhere give an empty span at 0.
    pub fn span_of(&self, part: &[u8]) -> Span {
        let base = self.buf.as_ptr() as usize;
        let p = part.as_ptr() as usize;
        if p >= base && p + part.len() <= base + self.buf.len() {
            Span::new(p - base, p - base + part.len())
        } else {
            Span::empty(0)
        }
    }

    /// The body (framed by Content-Length, or the rest of the datagram).
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        self.body.of(self.buf)
    }

    /// The body span.
    #[inline]
    pub fn body_span(&self) -> Span {
        self.body
    }

    /// The Content-Length value, if the header is present.
    #[inline]
    pub fn content_length(&self) -> Option<u32> {
        self.content_length
    }

    /// The Call-ID value, if present (not validated: see [`crate::validate`]).
    #[inline]
    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.header_value(HeaderName::CallId)
    }

    /// The "missing header" error for `kind`.
    pub(crate) fn missing(&self, kind: HeaderName) -> ParseError {
        ParseError::in_header(ErrorKind::MissingHeader, self.begin as usize, kind)
    }
}

/// Finds the Call-ID value without parsing the message: the cheap pre-scan
/// a shard runs to learn which shard owns a datagram before handing it over
/// (§20.8; compact form `i`). Returns the trimmed value of the first
/// Call-ID header, the same bytes [`Message::call_id`] returns after a full
/// parse, or `None` if there is none before the end of the headers.
pub fn find_call_id(buf: &[u8]) -> Option<Span> {
    // Skip leading CRLFs as `Parser::parse` does (§7.5), then the start line.
    let begin = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let mut pos = begin + memchr(b'\n', &buf[begin..])? + 1;
    while pos < buf.len() {
        let line_end = memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
        let line = &buf[pos..line_end];
        if line.is_empty() || line == b"\r" {
            return None; // end of headers
        }
        let name_end = scan::skip_token(line, 0);
        let name = &line[..name_end];
        if name.eq_ignore_ascii_case(b"Call-ID") || name.eq_ignore_ascii_case(b"i") {
            let mut colon = name_end;
            while colon < line.len() && scan::is_wsp(line[colon]) {
                colon += 1;
            }
            if line.get(colon) == Some(&b':') {
                // The value may continue on folded lines.
                let mut end = line_end;
                while end + 1 < buf.len() && scan::is_wsp(buf[end + 1]) {
                    end = memchr(b'\n', &buf[end + 1..]).map_or(buf.len(), |i| end + 1 + i);
                }
                let v = Span::new(pos + colon + 1, end);
                let t = scan::trim_lws(v.of(buf));
                let start = t.as_ptr() as usize - buf.as_ptr() as usize;
                return Some(Span::new(start, start + t.len()));
            }
        }
        pos = line_end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_call_id_agrees_with_the_parser() {
        let msgs: [&[u8]; 5] = [
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID:  abc@h \r\nCSeq: 1 INVITE\r\n\r\n",
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\ni:x-1\r\n\r\n",
            b"BYE sip:a@b SIP/2.0\nX-Call-ID: no\ncall-id :\r\n folded\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\nCall-ID: in-body\r\n",
            b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nCall-ID: after-keepalive\r\n\r\n",
        ];
        let mut p = Parser::default();
        for m in msgs {
            let fast = find_call_id(m).map(|s| s.of(m));
            let full = p.parse(m).ok().and_then(|msg| msg.call_id());
            assert_eq!(fast, full, "{}", String::from_utf8_lossy(m));
        }
        assert_eq!(
            find_call_id(msgs[0]).map(|s| s.of(msgs[0])),
            Some(&b"abc@h"[..])
        );
        assert_eq!(find_call_id(msgs[3]), None);
        assert_eq!(find_call_id(b""), None);
        assert_eq!(find_call_id(b"\n\n"), None);
    }

    #[test]
    fn max_headers_is_exact_and_the_table_is_reused() {
        let limits = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        let mut p = Parser::new(limits);
        let three = b"OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\nA: 3\r\n\r\n";
        let four = b"OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert_eq!(p.parse(three).map(|m| m.headers().len()), Ok(3));
        let e = p.parse(four).map(|_| ()).unwrap_err();
        assert_eq!((e.kind, e.offset), (ErrorKind::TooManyHeaders, 43)); // the fourth line
        // A shorter message after a longer one sees only its own entries.
        let one = b"OPTIONS sip:a@b SIP/2.0\r\nZ: 9\r\n\r\n";
        let m = p.parse(one).unwrap();
        assert_eq!(m.headers().len(), 1);
        assert_eq!(m.headers_named(b"a").count(), 0);
    }
}
