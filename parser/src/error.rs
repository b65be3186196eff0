//! Parse and validation errors, and the response a proxy sends for each.
//!
//! [`ParseError`] is small and `Copy` so the hot path can return it cheaply.
//! Each [`ErrorKind`] is one condition; [`ParseError::status`] maps it to the
//! RFC 3261 response (§8.2, §16.3, §21) and [`ParseError::reason`] gives a
//! reason phrase that says what was wrong.

use crate::HeaderName;

/// What was wrong with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    // --- framing (RFC 3261 §7, §18.3) ---
    /// The buffer holds no message (empty, or only CRLF keep-alives).
    Empty,
    /// The message is larger than [`Limits::max_message`](crate::Limits).
    MessageTooLarge,
    /// More header fields than [`Limits::max_headers`](crate::Limits).
    TooManyHeaders,
    /// A header field line longer than [`Limits::max_header_line`](crate::Limits).
    HeaderTooLong,
    /// The start line or a header line has no line terminator.
    Unterminated,
    /// A byte that may not appear in a start line or header (NUL, bare CR).
    BadByte,
    /// The start line is neither a Request-Line nor a Status-Line.
    BadStartLine,
    /// The method is not a `token`.
    BadMethod,
    /// The Request-URI is malformed (e.g. enclosed in `<>`, embedded LWS).
    BadRequestUri,
    /// The SIP-Version is malformed.
    BadVersion,
    /// A well-formed SIP-Version other than SIP/2.0 (§8.2.2: 505).
    UnsupportedVersion,
    /// The Status-Code is not three digits in 100..=699.
    BadStatusCode,
    /// The reason phrase contains control characters.
    BadReasonPhrase,
    /// A header field name that is not a `token`, or no `:` after it.
    BadHeaderName,
    /// A continuation line (leading SP/HT) where no header can continue.
    BadFolding,
    /// Content-Length is not 1*DIGIT within range.
    BadContentLength,
    /// Content-Length says more bytes than the datagram carries (§18.3).
    BodyTruncated,
    /// The body is larger than [`Limits::max_body`](crate::Limits).
    BodyTooLarge,

    // --- typed header values (RFC 3261 §20, §25) ---
    /// A URI that does not follow its scheme's grammar (§19.1.1, RFC 3966).
    BadUri,
    /// A host that is neither a hostname, an IPv4 address nor an IPv6 reference.
    BadHost,
    /// A port that is not 1*DIGIT within 0..=65535.
    BadPort,
    /// A Via value that does not follow `via-parm` (§20.42).
    BadVia,
    /// A name-addr / addr-spec that does not parse (§20.10, §20.20, §20.39).
    BadNameAddr,
    /// A display name with characters outside `token` / `quoted-string`.
    BadDisplayName,
    /// A quoted string with no closing DQUOTE.
    UnterminatedQuote,
    /// A header parameter (`;name=value`) that does not parse.
    BadParam,
    /// CSeq is not `1*DIGIT LWS Method`, or the number is above 2**31-1 (§8.1.1.5).
    BadCSeq,
    /// Call-ID is not `word ["@" word]`.
    BadCallId,
    /// Max-Forwards is not 1*DIGIT in 0..=255.
    BadMaxForwards,
    /// Expires (or an `expires` parameter) is not delta-seconds within 2**32-1.
    BadExpires,
    /// An Authorization-family header that does not parse (§20.7, §25).
    BadAuth,
    /// A comma-separated token list (Require, Supported, ...) with a non-token.
    BadTokenList,
    /// Any other malformed header value.
    BadHeaderValue,

    // --- validation (RFC 3261 §8.1.1, §8.2, §16.3) ---
    /// A mandatory header is absent (the header names which).
    MissingHeader,
    /// A header that may appear once appears more than once.
    DuplicateHeader,
    /// The CSeq method differs from the request method (§8.1.1.5).
    CSeqMethodMismatch,
    /// The Request-URI scheme is not one we can route (§8.2.2.1: 416).
    UnsupportedUriScheme,
    /// The Request-URI carries `?headers`, forbidden there (§19.1.1).
    HeadersInRequestUri,
    /// A `*` Contact in something other than a REGISTER with Expires: 0 (§10.2.2).
    BadWildcardContact,
}

impl ErrorKind {
    /// The response status a proxy or UAS sends for this error.
    pub const fn status(self) -> u16 {
        match self {
            ErrorKind::UnsupportedVersion => 505,
            ErrorKind::UnsupportedUriScheme => 416,
            ErrorKind::MessageTooLarge | ErrorKind::TooManyHeaders | ErrorKind::HeaderTooLong => {
                513
            }
            ErrorKind::BodyTooLarge => 413,
            _ => 400,
        }
    }

    /// A short description, used as the reason phrase of the response.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorKind::Empty => "Empty Message",
            ErrorKind::MessageTooLarge => "Message Too Large",
            ErrorKind::TooManyHeaders => "Too Many Headers",
            ErrorKind::HeaderTooLong => "Header Too Long",
            ErrorKind::Unterminated => "Unterminated Line",
            ErrorKind::BadByte => "Illegal Character",
            ErrorKind::BadStartLine => "Bad Start Line",
            ErrorKind::BadMethod => "Bad Method",
            ErrorKind::BadRequestUri => "Bad Request-URI",
            ErrorKind::BadVersion => "Bad SIP Version",
            ErrorKind::UnsupportedVersion => "Version Not Supported",
            ErrorKind::BadStatusCode => "Bad Status Code",
            ErrorKind::BadReasonPhrase => "Bad Reason Phrase",
            ErrorKind::BadHeaderName => "Bad Header Name",
            ErrorKind::BadFolding => "Bad Line Folding",
            ErrorKind::BadContentLength => "Bad Content-Length",
            ErrorKind::BodyTruncated => "Body Shorter Than Content-Length",
            ErrorKind::BodyTooLarge => "Body Too Large",
            ErrorKind::BadUri => "Bad URI",
            ErrorKind::BadHost => "Bad Host",
            ErrorKind::BadPort => "Bad Port",
            ErrorKind::BadVia => "Bad Via",
            ErrorKind::BadNameAddr => "Bad Address",
            ErrorKind::BadDisplayName => "Bad Display Name",
            ErrorKind::UnterminatedQuote => "Unterminated Quoted String",
            ErrorKind::BadParam => "Bad Parameter",
            ErrorKind::BadCSeq => "Bad CSeq",
            ErrorKind::BadCallId => "Bad Call-ID",
            ErrorKind::BadMaxForwards => "Bad Max-Forwards",
            ErrorKind::BadExpires => "Bad Expires",
            ErrorKind::BadAuth => "Bad Credentials",
            ErrorKind::BadTokenList => "Bad Option Tags",
            ErrorKind::BadHeaderValue => "Bad Header",
            ErrorKind::MissingHeader => "Missing Header",
            ErrorKind::DuplicateHeader => "Duplicate Header",
            ErrorKind::CSeqMethodMismatch => "CSeq Method Mismatch",
            ErrorKind::UnsupportedUriScheme => "Unsupported URI Scheme",
            ErrorKind::HeadersInRequestUri => "Headers In Request-URI",
            ErrorKind::BadWildcardContact => "Bad Wildcard Contact",
        }
    }

    /// A stable snake_case name for logs, counters and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Empty => "empty",
            ErrorKind::MessageTooLarge => "message_too_large",
            ErrorKind::TooManyHeaders => "too_many_headers",
            ErrorKind::HeaderTooLong => "header_too_long",
            ErrorKind::Unterminated => "unterminated",
            ErrorKind::BadByte => "bad_byte",
            ErrorKind::BadStartLine => "bad_start_line",
            ErrorKind::BadMethod => "bad_method",
            ErrorKind::BadRequestUri => "bad_request_uri",
            ErrorKind::BadVersion => "bad_version",
            ErrorKind::UnsupportedVersion => "unsupported_version",
            ErrorKind::BadStatusCode => "bad_status_code",
            ErrorKind::BadReasonPhrase => "bad_reason_phrase",
            ErrorKind::BadHeaderName => "bad_header_name",
            ErrorKind::BadFolding => "bad_folding",
            ErrorKind::BadContentLength => "bad_content_length",
            ErrorKind::BodyTruncated => "body_truncated",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::BadUri => "bad_uri",
            ErrorKind::BadHost => "bad_host",
            ErrorKind::BadPort => "bad_port",
            ErrorKind::BadVia => "bad_via",
            ErrorKind::BadNameAddr => "bad_name_addr",
            ErrorKind::BadDisplayName => "bad_display_name",
            ErrorKind::UnterminatedQuote => "unterminated_quote",
            ErrorKind::BadParam => "bad_param",
            ErrorKind::BadCSeq => "bad_cseq",
            ErrorKind::BadCallId => "bad_call_id",
            ErrorKind::BadMaxForwards => "bad_max_forwards",
            ErrorKind::BadExpires => "bad_expires",
            ErrorKind::BadAuth => "bad_auth",
            ErrorKind::BadTokenList => "bad_token_list",
            ErrorKind::BadHeaderValue => "bad_header_value",
            ErrorKind::MissingHeader => "missing_header",
            ErrorKind::DuplicateHeader => "duplicate_header",
            ErrorKind::CSeqMethodMismatch => "cseq_method_mismatch",
            ErrorKind::UnsupportedUriScheme => "unsupported_uri_scheme",
            ErrorKind::HeadersInRequestUri => "headers_in_request_uri",
            ErrorKind::BadWildcardContact => "bad_wildcard_contact",
        }
    }
}

/// An error found while parsing or validating a message: what, where (byte
/// offset into the buffer) and in which header, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{} at byte {offset}{}", kind.description(), HeaderSuffix(*header))]
pub struct ParseError {
    /// What was wrong.
    pub kind: ErrorKind,
    /// Byte offset into the message buffer where the problem was found.
    pub offset: u32,
    /// The header the problem concerns (for [`ErrorKind::MissingHeader`] and
    /// [`ErrorKind::DuplicateHeader`], the header that is missing or repeated).
    pub header: Option<HeaderName>,
}

struct HeaderSuffix(Option<HeaderName>);

impl core::fmt::Display for HeaderSuffix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(h) => write!(f, " ({h} header)"),
            None => Ok(()),
        }
    }
}

impl ParseError {
    /// An error of `kind` at `offset`, concerning no particular header.
    #[inline]
    pub const fn new(kind: ErrorKind, offset: usize) -> ParseError {
        ParseError {
            kind,
            offset: offset as u32,
            header: None,
        }
    }

    /// An error of `kind` at `offset` in (or about) `header`.
    #[inline]
    pub const fn in_header(kind: ErrorKind, offset: usize, header: HeaderName) -> ParseError {
        ParseError {
            kind,
            offset: offset as u32,
            header: Some(header),
        }
    }

    /// The response status code a proxy or UAS sends for this error.
    #[inline]
    pub const fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The reason phrase for the response: names the header where that
    /// tells the sender what to fix (`Missing Call-ID`, `Duplicate CSeq`).
    pub fn reason(&self) -> &'static str {
        use ErrorKind::*;
        use HeaderName as H;
        match (self.kind, self.header) {
            (MissingHeader, Some(H::Via)) => "Missing Via",
            (MissingHeader, Some(H::From)) => "Missing From",
            (MissingHeader, Some(H::To)) => "Missing To",
            (MissingHeader, Some(H::CallId)) => "Missing Call-ID",
            (MissingHeader, Some(H::CSeq)) => "Missing CSeq",
            (MissingHeader, Some(H::MaxForwards)) => "Missing Max-Forwards",
            (DuplicateHeader, Some(H::From)) => "Duplicate From",
            (DuplicateHeader, Some(H::To)) => "Duplicate To",
            (DuplicateHeader, Some(H::CallId)) => "Duplicate Call-ID",
            (DuplicateHeader, Some(H::CSeq)) => "Duplicate CSeq",
            (DuplicateHeader, Some(H::MaxForwards)) => "Duplicate Max-Forwards",
            (DuplicateHeader, Some(H::ContentLength)) => "Duplicate Content-Length",
            (DuplicateHeader, Some(H::ContentType)) => "Duplicate Content-Type",
            (DuplicateHeader, Some(H::Expires)) => "Duplicate Expires",
            (BadUri | BadHost | BadPort, Some(H::From)) => "Bad From URI",
            (BadUri | BadHost | BadPort, Some(H::To)) => "Bad To URI",
            (BadUri | BadHost | BadPort, Some(H::Contact)) => "Bad Contact URI",
            (BadUri | BadHost | BadPort, Some(H::Route)) => "Bad Route URI",
            (BadUri | BadHost | BadPort, Some(H::RecordRoute)) => "Bad Record-Route URI",
            (BadNameAddr | BadDisplayName | UnterminatedQuote | BadParam, Some(H::From)) => {
                "Bad From"
            }
            (BadNameAddr | BadDisplayName | UnterminatedQuote | BadParam, Some(H::To)) => "Bad To",
            (BadNameAddr | BadDisplayName | UnterminatedQuote | BadParam, Some(H::Contact)) => {
                "Bad Contact"
            }
            (BadHost | BadPort | BadParam | UnterminatedQuote, Some(H::Via)) => "Bad Via",
            (kind, _) => kind.description(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_header_and_offset() {
        let e = ParseError::in_header(ErrorKind::BadCSeq, 42, HeaderName::CSeq);
        assert_eq!(e.to_string(), "Bad CSeq at byte 42 (CSeq header)");
        assert_eq!(e.status(), 400);
        let e = ParseError::in_header(ErrorKind::MissingHeader, 0, HeaderName::CallId);
        assert_eq!(e.reason(), "Missing Call-ID");
        assert_eq!(
            ParseError::new(ErrorKind::UnsupportedVersion, 3).status(),
            505
        );
        assert_eq!(
            ParseError::new(ErrorKind::UnsupportedUriScheme, 3).status(),
            416
        );
    }
}
