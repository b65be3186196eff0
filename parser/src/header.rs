//! Header field names (RFC 3261 §7.3, §20 and the IANA SIP header registry).
//!
//! One table, [`sip_headers!`], generates the [`HeaderName`] enum, the
//! canonical and compact forms, the per-header properties and the lookup
//! from wire bytes. Adding a header is one line here.

/// Properties of a header that the parser and the validator act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderProps {
    /// The value is a comma-separated list (`#(...)` in the ABNF), so several
    /// header lines and comma-separated values are equivalent (§7.3.1).
    pub list: bool,
    /// At most one instance may appear, and the validator refuses a
    /// duplicate: the headers that fix a message's identity, framing or
    /// hop count (RFC 4475 §3.3.8, §3.3.9). Other single-valued headers
    /// (Date, Subject, ...) are forwarded as they come.
    pub singleton: bool,
}

const LIST: HeaderProps = HeaderProps {
    list: true,
    singleton: false,
};
const SINGLE: HeaderProps = HeaderProps {
    list: false,
    singleton: true,
};
const PLAIN: HeaderProps = HeaderProps {
    list: false,
    singleton: false,
};

macro_rules! sip_headers {
    ($($variant:ident => $canonical:literal, $compact:expr, $props:expr;)*) => {
        /// A header field name: one of the known headers, or [`HeaderName::Other`]
        /// (whose bytes are in the header entry's name span).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canonical, "`")]
                $variant,
            )*
            /// A header this table does not know: forwarded untouched.
            Other,
        }

        impl HeaderName {
            /// Every known header, in table order.
            pub const KNOWN: &'static [HeaderName] = &[$(HeaderName::$variant),*];
            /// Number of variants including [`HeaderName::Other`].
            pub const COUNT: usize = Self::KNOWN.len() + 1;
            const CANONICAL: &'static [&'static str] = &[$($canonical),*];
            const COMPACT: &'static [Option<u8>] = &[$($compact),*];
            const PROPS: &'static [HeaderProps] = &[$($props),*];
        }
    };
}

sip_headers! {
    Via => "Via", Some(b'v'), LIST;
    From => "From", Some(b'f'), SINGLE;
    To => "To", Some(b't'), SINGLE;
    CallId => "Call-ID", Some(b'i'), SINGLE;
    CSeq => "CSeq", None, SINGLE;
    MaxForwards => "Max-Forwards", None, SINGLE;
    Contact => "Contact", Some(b'm'), LIST;
    ContentLength => "Content-Length", Some(b'l'), SINGLE;
    ContentType => "Content-Type", Some(b'c'), SINGLE;
    ContentEncoding => "Content-Encoding", Some(b'e'), LIST;
    Subject => "Subject", Some(b's'), PLAIN;
    Supported => "Supported", Some(b'k'), LIST;
    Route => "Route", None, LIST;
    RecordRoute => "Record-Route", None, LIST;
    Expires => "Expires", None, SINGLE;
    Authorization => "Authorization", None, PLAIN;
    ProxyAuthorization => "Proxy-Authorization", None, PLAIN;
    WwwAuthenticate => "WWW-Authenticate", None, PLAIN;
    ProxyAuthenticate => "Proxy-Authenticate", None, PLAIN;
    AuthenticationInfo => "Authentication-Info", None, PLAIN;
    Require => "Require", None, LIST;
    ProxyRequire => "Proxy-Require", None, LIST;
    Unsupported => "Unsupported", None, LIST;
    Allow => "Allow", None, LIST;
    Accept => "Accept", None, LIST;
    AcceptEncoding => "Accept-Encoding", None, LIST;
    AcceptLanguage => "Accept-Language", None, LIST;
    AlertInfo => "Alert-Info", None, LIST;
    CallInfo => "Call-Info", None, LIST;
    ErrorInfo => "Error-Info", None, LIST;
    ContentDisposition => "Content-Disposition", None, PLAIN;
    ContentLanguage => "Content-Language", None, LIST;
    MimeVersion => "MIME-Version", None, PLAIN;
    Date => "Date", None, PLAIN;
    Timestamp => "Timestamp", None, PLAIN;
    InReplyTo => "In-Reply-To", None, LIST;
    MinExpires => "Min-Expires", None, PLAIN;
    Organization => "Organization", None, PLAIN;
    Priority => "Priority", None, PLAIN;
    ReplyTo => "Reply-To", None, PLAIN;
    RetryAfter => "Retry-After", None, PLAIN;
    Server => "Server", None, PLAIN;
    UserAgent => "User-Agent", None, PLAIN;
    Warning => "Warning", None, LIST;
    Event => "Event", Some(b'o'), PLAIN;
    AllowEvents => "Allow-Events", Some(b'u'), LIST;
    SubscriptionState => "Subscription-State", None, PLAIN;
    ReferTo => "Refer-To", Some(b'r'), PLAIN;
    ReferredBy => "Referred-By", Some(b'b'), PLAIN;
    Replaces => "Replaces", None, PLAIN;
    SessionExpires => "Session-Expires", Some(b'x'), PLAIN;
    MinSe => "Min-SE", None, PLAIN;
    RSeq => "RSeq", None, PLAIN;
    RAck => "RAck", None, PLAIN;
    Path => "Path", None, LIST;
    ServiceRoute => "Service-Route", None, LIST;
    Privacy => "Privacy", None, LIST;
    PAssertedIdentity => "P-Asserted-Identity", None, LIST;
    PPreferredIdentity => "P-Preferred-Identity", None, LIST;
    RemotePartyId => "Remote-Party-ID", None, LIST;
    Diversion => "Diversion", None, LIST;
    Reason => "Reason", None, LIST;
    AcceptContact => "Accept-Contact", Some(b'a'), LIST;
    RejectContact => "Reject-Contact", Some(b'j'), LIST;
    RequestDisposition => "Request-Disposition", Some(b'd'), LIST;
    Identity => "Identity", Some(b'y'), PLAIN;
    IdentityInfo => "Identity-Info", Some(b'n'), PLAIN;
}

impl HeaderName {
    /// The canonical spelling, e.g. `Call-ID`; `None` for [`HeaderName::Other`].
    #[inline]
    pub fn canonical(self) -> Option<&'static str> {
        Self::CANONICAL.get(self as usize).copied()
    }

    /// The compact form (RFC 3261 §7.3.3), if the header has one.
    #[inline]
    pub fn compact(self) -> Option<u8> {
        Self::COMPACT.get(self as usize).copied().flatten()
    }

    /// Properties used by the parser and the validator.
    #[inline]
    pub fn props(self) -> HeaderProps {
        self.props_const()
    }

    pub(crate) const fn props_const(self) -> HeaderProps {
        let i = self as usize;
        if i < Self::PROPS.len() {
            Self::PROPS[i]
        } else {
            PLAIN
        }
    }

    /// Classifies a header field name as it appears on the wire: compact
    /// forms and any letter case (§7.3.1: names are case-insensitive).
    /// `name` must be a `token` (as the message indexer guarantees); other
    /// bytes may match a known name loosely.
    #[inline]
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        Self::classify_in(name, 0, name.len())
    }

    /// Classifies the name `buf[start..end]`. Reading it inside its buffer
    /// lets the comparison load whole words past its end (masked off).
    #[inline(always)]
    pub(crate) fn classify_in(buf: &[u8], start: usize, end: usize) -> HeaderName {
        let name = &buf[start..end];
        let n = name.len();
        if n <= 1 {
            return match name.first() {
                Some(&c) => kind_at(COMPACT_LOOKUP[c as usize]),
                None => HeaderName::Other,
            };
        }
        if n > MAX_NAME {
            return HeaderName::Other;
        }
        let (first, last) = name_words(buf, start, n);
        let mut slot = name_hash(first, last, n);
        loop {
            let e = &NAME_TABLE[slot & (LOOKUP_SLOTS - 1)];
            if e.len == 0 {
                return HeaderName::Other;
            }
            if e.len as usize == n
                && e.first == first
                && e.last == last
                && (n <= 16 || middle_word(buf, start) == e.words[1] | FOLD)
            {
                return e.kind;
            }
            slot += 1;
        }
    }
}

/// Classifies a name of `n` <= 15 bytes given as [`crate::scan::short_name`]
/// reads it: sixteen bytes, letter case folded, 0x20 after the name, as
/// two little-endian words. One hash and usually one two-word compare.
/// Only the bytes of a `token` (or any byte above SP but `:`) can reach
/// here, and setting bit 0x20 maps none of them but letters onto letters
/// and `-`, so a match is exact.
#[inline(always)]
pub(crate) fn classify_short(n: usize, lo: u64, hi: u64) -> HeaderName {
    if n == 1 {
        return kind_at(COMPACT_LOOKUP[(lo & 0xff) as usize]);
    }
    let mut slot = short_hash(lo, n);
    loop {
        let e = &SHORT_TABLE[slot & (SHORT_SLOTS - 1)];
        if e.lo == lo && e.hi == hi {
            return e.kind;
        }
        if e.lo == 0 {
            return HeaderName::Other;
        }
        slot += 1;
    }
}

/// A slot of the short-name table: a canonical name of at most fifteen
/// bytes as [`classify_short`] takes it (`lo == 0`: empty).
#[derive(Clone, Copy)]
struct ShortSlot {
    lo: u64,
    hi: u64,
    kind: HeaderName,
}

const SHORT_SLOTS: usize = 256;

/// Longest name the short-name table holds.
const SHORT_MAX: usize = 15;

#[inline(always)]
const fn short_hash(lo: u64, n: usize) -> usize {
    ((lo ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
}

static SHORT_TABLE: [ShortSlot; SHORT_SLOTS] = {
    let lower = build_lower();
    let mut t = [ShortSlot {
        lo: 0,
        hi: 0,
        kind: HeaderName::Other,
    }; SHORT_SLOTS];
    let mut i = 0;
    while i < lower.len() {
        let (words, n) = lower[i];
        let n = n as usize;
        if n >= 2 && n <= SHORT_MAX {
            let (lo, hi) = (words[0] | FOLD, words[1] | FOLD);
            let mut slot = short_hash(lo, n) & (SHORT_SLOTS - 1);
            while t[slot].lo != 0 {
                slot = (slot + 1) & (SHORT_SLOTS - 1);
            }
            t[slot] = ShortSlot {
                lo,
                hi,
                kind: HeaderName::KNOWN[i],
            };
        }
        i += 1;
    }
    t
};

/// A name's first and last eight bytes (overlapping when it is shorter
/// than 16; the first word zero-padded when shorter than 8), letter case
/// folded by setting bit 0x20 of every byte. For names of up to 16 bytes
/// the two words are the whole name.
#[inline(always)]
fn name_words(buf: &[u8], start: usize, n: usize) -> (u64, u64) {
    let load = |at: usize| {
        buf.get(at..)
            .and_then(|s| s.first_chunk::<8>())
            .map(|c| u64::from_le_bytes(*c))
    };
    let first = if n >= 8 {
        load(start).unwrap_or(0)
    } else {
        let w = match load(start) {
            Some(w) => w,
            None => {
                let mut b = [0u8; 8];
                b[..n].copy_from_slice(&buf[start..start + n]);
                u64::from_le_bytes(b)
            }
        };
        w & ((1u64 << (8 * n)) - 1)
    };
    let last = if n >= 8 {
        load(start + n - 8).unwrap_or(0)
    } else {
        first
    };
    (first | FOLD, last | FOLD)
}

/// A slot of the name table: the canonical name folded to lower case as
/// little-endian words, its length (0: empty slot) and its kind, so a
/// lookup touches one cache line.
#[derive(Clone, Copy)]
struct NameSlot {
    first: u64,
    last: u64,
    words: [u64; MAX_NAME / 8],
    len: u8,
    kind: HeaderName,
}

static NAME_TABLE: [NameSlot; LOOKUP_SLOTS] = {
    let lookup = build_name_lookup();
    let lower = build_lower();
    let mut t = [NameSlot {
        first: 0,
        last: 0,
        words: [0; MAX_NAME / 8],
        len: 0,
        kind: HeaderName::Other,
    }; LOOKUP_SLOTS];
    let mut i = 0;
    while i < LOOKUP_SLOTS {
        let idx = lookup[i];
        if idx != EMPTY {
            let (words, n) = lower[idx as usize];
            let (first, last) = canonical_words(&words, n as usize);
            t[i] = NameSlot {
                first,
                last,
                words: lower[idx as usize].0,
                len: lower[idx as usize].1,
                kind: HeaderName::KNOWN[idx as usize],
            };
        }
        i += 1;
    }
    t
};

const FOLD: u64 = 0x2020_2020_2020_2020;

/// Bytes 8..16 of a name of 17 to 24 bytes at `buf[start..]`, folded:
/// with its first and last eight bytes they cover the whole name, so
/// three word compares decide equality. For `token` bytes, setting bit
/// 0x20 folds letters and maps no other byte onto a letter or `-` (the
/// caller has ruled out controls, so not CR either).
// Out of line: inlined, its set-up was hoisted onto every lookup, though
// only names over 16 bytes need it (+47 instructions on the bench 200 OK).
#[inline(never)]
fn middle_word(buf: &[u8], start: usize) -> u64 {
    buf.get(start + 8..)
        .and_then(|s| s.first_chunk::<8>())
        .map_or(0, |c| u64::from_le_bytes(*c) | FOLD)
}

impl core::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.canonical().unwrap_or("(extension header)"))
    }
}

const EMPTY: u8 = u8::MAX;
const LOOKUP_SLOTS: usize = 256;

#[inline(always)]
fn kind_at(idx: u8) -> HeaderName {
    if (idx as usize) < HeaderName::KNOWN.len() {
        HeaderName::KNOWN[idx as usize]
    } else {
        HeaderName::Other
    }
}

/// A cheap hash of a name's length and its first and last words (folded);
/// collisions are resolved by linear probing and a full compare.
#[inline(always)]
const fn name_hash(first: u64, last: u64, n: usize) -> usize {
    let h = (first ^ last.rotate_left(15) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - 8)) as usize
}

/// [`name_words`] of a canonical name given as lower-case zero-padded words.
const fn canonical_words(words: &[u64; MAX_NAME / 8], n: usize) -> (u64, u64) {
    let first = words[0];
    let last = if n >= 8 {
        // Bytes n-8..n, straddling two words unless n is a multiple of 8.
        let at = n - 8;
        let (k, r) = (at / 8, at % 8);
        if r == 0 {
            words[k]
        } else {
            (words[k] >> (8 * r)) | (words[k + 1] << (8 * (8 - r)))
        }
    } else {
        first
    };
    (first | FOLD, last | FOLD)
}

const fn build_name_lookup() -> [u8; LOOKUP_SLOTS] {
    let mut t = [EMPTY; LOOKUP_SLOTS];
    let names = HeaderName::CANONICAL;
    let lower = build_lower();
    let mut i = 0;
    while i < names.len() {
        let (first, last) = canonical_words(&lower[i].0, lower[i].1 as usize);
        let mut slot = name_hash(first, last, lower[i].1 as usize);
        while t[slot] != EMPTY {
            slot = (slot + 1) & (LOOKUP_SLOTS - 1);
        }
        t[slot] = i as u8;
        i += 1;
    }
    t
}

const fn build_compact_lookup() -> [u8; 256] {
    let mut t = [EMPTY; 256];
    let compact = HeaderName::COMPACT;
    let mut i = 0;
    while i < compact.len() {
        if let Some(c) = compact[i] {
            t[c as usize] = i as u8;
            t[c.to_ascii_uppercase() as usize] = i as u8;
        }
        i += 1;
    }
    t
}

static COMPACT_LOOKUP: [u8; 256] = build_compact_lookup();

/// Longest canonical name, in bytes (a multiple of 8).
const MAX_NAME: usize = 24;
const _: () = assert!(
    MAX_NAME <= 24,
    "classify_in compares three words: first, middle, last"
);

/// The canonical names in lower case as little-endian words, zero-padded,
/// with their lengths: compared a word at a time.
const fn build_lower() -> [([u64; MAX_NAME / 8], u8); HeaderName::COUNT - 1] {
    let mut t = [([0u64; MAX_NAME / 8], 0u8); HeaderName::COUNT - 1];
    let names = HeaderName::CANONICAL;
    let mut i = 0;
    while i < names.len() {
        let b = names[i].as_bytes();
        assert!(b.len() <= MAX_NAME, "raise MAX_NAME");
        let mut j = 0;
        while j < b.len() {
            t[i].0[j / 8] |= (b[j].to_ascii_lowercase() as u64) << (8 * (j % 8));
            j += 1;
        }
        t[i].1 = b.len() as u8;
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_is_found_in_any_case_and_compact_form() {
        for &h in HeaderName::KNOWN {
            let name = h.canonical().unwrap();
            assert_eq!(HeaderName::from_bytes(name.as_bytes()), h, "{name}");
            assert_eq!(
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                h
            );
            assert_eq!(
                HeaderName::from_bytes(name.to_ascii_uppercase().as_bytes()),
                h
            );
            if let Some(c) = h.compact() {
                assert_eq!(HeaderName::from_bytes(&[c]), h);
                assert_eq!(HeaderName::from_bytes(&[c.to_ascii_uppercase()]), h);
            }
        }
    }

    /// The short path (one sixteen-byte block) agrees with the general
    /// classifier on every known name in any case, compact forms and
    /// near misses; longer names are left to the general path.
    #[test]
    fn short_path_agrees_with_the_general_classifier() {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for &h in HeaderName::KNOWN {
            let c = h.canonical().unwrap();
            names.push(c.as_bytes().to_vec());
            names.push(c.to_ascii_lowercase().into_bytes());
            names.push(c.to_ascii_uppercase().into_bytes());
            if let Some(k) = h.compact() {
                names.push(vec![k]);
                names.push(vec![k.to_ascii_uppercase()]);
            }
            let mut near = c.as_bytes().to_vec();
            *near.last_mut().unwrap() ^= 1;
            names.push(near);
            names.push([c.as_bytes(), b"x"].concat());
        }
        for n in [
            &b"X-Foo"[..],
            b"q",
            b"P-Asserted-Identit",
            b"Call-ID-",
            b"!",
        ] {
            names.push(n.to_vec());
        }
        for name in names {
            let line = [&name[..], b": value and more bytes\r\n"].concat();
            let expect = HeaderName::classify_in(&line, 0, name.len());
            match crate::scan::short_name(&line, 0) {
                Some((n, lo, hi)) => {
                    assert_eq!(n, name.len(), "{}", String::from_utf8_lossy(&name));
                    assert_eq!(
                        classify_short(n, lo, hi),
                        expect,
                        "{}",
                        String::from_utf8_lossy(&name)
                    );
                }
                None => assert!(
                    name.len() >= 16 || cfg!(not(target_arch = "x86_64")),
                    "{}",
                    String::from_utf8_lossy(&name)
                ),
            }
        }
        // Fewer than sixteen bytes left: the general path.
        assert_eq!(crate::scan::short_name(b"Via: x\r\n", 0), None);
    }

    #[test]
    fn folding_is_exact_for_tokens() {
        for n in [
            &b"Call_ID"[..],
            b"Call-IDs",
            b"Cal-ID",
            b"CALL-id",
            b"P-Asserted-Identitx",
        ] {
            let expect = if n.eq_ignore_ascii_case(b"call-id") {
                HeaderName::CallId
            } else {
                HeaderName::Other
            };
            assert_eq!(
                HeaderName::from_bytes(n),
                expect,
                "{}",
                String::from_utf8_lossy(n)
            );
        }
        // Inside a buffer, bytes after the name do not count.
        let buf = b"Via: x";
        assert_eq!(HeaderName::classify_in(buf, 0, 3), HeaderName::Via);
        let buf = b"Contact";
        assert_eq!(HeaderName::classify_in(buf, 0, 7), HeaderName::Contact);
        assert_eq!(
            HeaderName::classify_in(b"xxContact-Typexx", 2, 14),
            HeaderName::Other
        );
        assert_eq!(
            HeaderName::classify_in(b"xxContent-Typexx", 2, 14),
            HeaderName::ContentType
        );
    }

    #[test]
    fn unknown_names_are_other() {
        for n in [
            &b"X-Foo"[..],
            b"Vias",
            b"q",
            b"Call-IDs",
            b"NewFangledHeader",
            b"z",
        ] {
            assert_eq!(HeaderName::from_bytes(n), HeaderName::Other);
        }
    }

    #[test]
    fn compact_forms_are_unique_and_probe_chains_short() {
        let mut seen = [false; 256];
        for &h in HeaderName::KNOWN {
            if let Some(c) = h.compact() {
                assert!(!seen[c as usize], "duplicate compact form {}", c as char);
                seen[c as usize] = true;
            }
        }
        // The longest probe chain bounds the cost of classifying an unknown name.
        let mut longest = 0;
        let mut run = 0;
        for slot in 0..2 * LOOKUP_SLOTS {
            if NAME_TABLE[slot % LOOKUP_SLOTS].len != 0 {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
        assert!(longest <= 4, "probe chain of {longest}");
        assert!(HeaderName::COUNT < u8::MAX as usize);
    }

    #[test]
    fn list_headers() {
        assert!(HeaderName::Via.props().list);
        assert!(HeaderName::CallId.props().singleton);
        assert!(!HeaderName::Other.props().singleton);
    }
}
