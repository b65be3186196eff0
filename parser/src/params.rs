//! Parameters: `;name[=value]` lists on header values (`generic-param`,
//! RFC 3261 §25.1) and on SIP URIs (`uri-parameter`, §19.1.1), and the
//! internal error position type the grammar modules share.

use crate::error::{ErrorKind, ParseError};
use crate::header::HeaderName;
use crate::scan;

/// An error found inside a slice, located by address so that any layer can
/// turn it into a byte offset of the message (or of a standalone input)
/// with [`Fault::locate`]. The list iterators of [`name_addr`](crate::name_addr)
/// and [`values`](crate::values) yield it; [`Message`](crate::Message)'s
/// accessors turn it into a [`ParseError`] for you.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub(crate) kind: ErrorKind,
    addr: usize,
}

impl Fault {
    /// A fault of `kind` at `s[i]` (`i` may be `s.len()`).
    #[inline]
    pub(crate) fn at(kind: ErrorKind, s: &[u8], i: usize) -> Fault {
        Fault {
            kind,
            addr: s.as_ptr() as usize + i.min(s.len()),
        }
    }

    /// What was wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The fault as a [`ParseError`] with its offset relative to `base`,
    /// the slice that was parsed (or one that contains it).
    #[inline]
    pub fn locate(self, base: &[u8], header: Option<HeaderName>) -> ParseError {
        let b = base.as_ptr() as usize;
        let offset = self.addr.saturating_sub(b).min(base.len());
        ParseError {
            kind: self.kind,
            offset: offset as u32,
            header,
        }
    }
}

/// One parameter: name, and value as written (a quoted value keeps its
/// quotes; use [`unquote`] to strip them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter name.
    pub name: &'a [u8],
    /// The value, `None` for a flag parameter such as `lr` or `rport`.
    pub value: Option<&'a [u8]>,
}

/// Iterates a parameter list that has already been validated, such as the
/// `params` slice of a [`Via`](crate::Via) or [`NameAddr`](crate::NameAddr):
/// `;a=1;b;c="x;y"`. LWS around `;` and `=` is skipped.
#[derive(Clone, Debug)]
pub struct Params<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Params<'a> {
    /// Iterates `s`, a list starting with `;` (or empty).
    pub fn new(s: &'a [u8]) -> Params<'a> {
        Params { s, i: 0 }
    }

    /// The first parameter named `name` (case-insensitive): `Some(None)` for
    /// a flag parameter, `Some(Some(v))` for one with a value.
    pub fn get(self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        let mut it = self;
        it.find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value)
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let s = self.s;
        let mut i = scan::skip_lws(s, self.i);
        if s.get(i) != Some(&b';') {
            self.i = s.len();
            return None;
        }
        i = scan::skip_lws(s, i + 1);
        let name_start = i;
        while i < s.len() && !matches!(s[i], b'=' | b';') && !scan::is_lws(s[i]) {
            i += 1;
        }
        let name = &s[name_start..i];
        let mut j = scan::skip_lws(s, i);
        let value = if s.get(j) == Some(&b'=') {
            j = scan::skip_lws(s, j + 1);
            let v_start = j;
            if s.get(j) == Some(&b'"') {
                j = scan::skip_quoted(s, j).unwrap_or(s.len());
            } else {
                while j < s.len() && s[j] != b';' && !scan::is_lws(s[j]) {
                    j += 1;
                }
            }
            let v = &s[v_start..j];
            i = j;
            Some(v)
        } else {
            None
        };
        self.i = i;
        Some(Param { name, value })
    }
}

/// The content of a quoted string without its DQUOTEs (escapes kept), or
/// the input unchanged if it is not quoted.
pub fn unquote(v: &[u8]) -> &[u8] {
    if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Validates a header parameter list (`*( SEMI generic-param )`) starting
/// at `s[i]`, and returns the index where the value ends: at the `,` before
/// the next list value, or at the end. `generic-param = token [ EQUAL gen-value ]`,
/// `gen-value = token / host / quoted-string`.
pub(crate) fn scan_header_params(s: &[u8], i: usize) -> Result<usize, Fault> {
    scan_header_params_tag(s, i).map(|(end, _)| end)
}

/// [`scan_header_params`], also returning the value of the first `tag`
/// parameter (From/To tags are read on every message: find them in the
/// same pass).
pub(crate) fn scan_header_params_tag(
    s: &[u8],
    mut i: usize,
) -> Result<(usize, Option<&[u8]>), Fault> {
    let mut tag = None;
    // Fast path: `;tag=token` right after the URI, as From and To nearly
    // always have it.
    if s[i.min(s.len())..].starts_with(b";tag=") {
        let v = i + 5;
        let end = scan::skip_token(s, v);
        if end > v
            && matches!(
                s.get(end),
                None | Some(b';' | b',' | b' ' | b'\t' | b'\r' | b'\n')
            )
        {
            tag = Some(&s[v..end]);
            i = end;
        }
    }
    loop {
        let j = scan::skip_lws(s, i);
        match s.get(j) {
            None => return Ok((s.len(), tag)),
            Some(b',') => return Ok((j, tag)),
            Some(b';') => {}
            Some(_) => return Err(Fault::at(ErrorKind::BadParam, s, j)),
        }
        let name_start = scan::skip_lws(s, j + 1);
        let name_end = scan::skip_token(s, name_start);
        if name_end == name_start {
            return Err(Fault::at(ErrorKind::BadParam, s, name_start));
        }
        i = name_end;
        let k = scan::skip_lws(s, name_end);
        if s.get(k) == Some(&b'=') {
            let v = scan::skip_lws(s, k + 1);
            i = scan_gen_value(s, v)?;
            if tag.is_none() && scan::eq_letters(&s[name_start..name_end], b"tag") {
                tag = Some(&s[v..i]);
            }
        }
    }
}

/// `gen-value = token / host / quoted-string` at `s[i]`; returns its end.
pub(crate) fn scan_gen_value(s: &[u8], i: usize) -> Result<usize, Fault> {
    match s.get(i) {
        Some(b'"') => scan::skip_quoted(s, i).ok_or(Fault::at(ErrorKind::UnterminatedQuote, s, i)),
        Some(b'[') => match memchr::memchr(b']', &s[i..]) {
            Some(close) => Ok(i + close + 1),
            None => Err(Fault::at(ErrorKind::BadParam, s, i)),
        },
        _ => {
            let end = scan::skip_token(s, i);
            if end == i {
                Err(Fault::at(ErrorKind::BadParam, s, i))
            } else {
                Ok(end)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_params_with_lws_and_quotes() {
        let p: Vec<_> = Params::new(b" ; tag = 1918181833n;lr; x=\"a;b\"").collect();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, b"tag");
        assert_eq!(p[0].value, Some(&b"1918181833n"[..]));
        assert_eq!(p[1].name, b"lr");
        assert_eq!(p[1].value, None);
        assert_eq!(p[2].value, Some(&b"\"a;b\""[..]));
        assert_eq!(unquote(p[2].value.unwrap()), b"a;b");
        assert_eq!(Params::new(b";LR").get(b"lr"), Some(None));
    }

    #[test]
    fn validates_generic_params() {
        assert_eq!(scan_header_params(b";a=1;b , next", 0), Ok(7));
        assert_eq!(scan_header_params(b";a=\"q\";x=[::1]", 0), Ok(14));
        assert!(scan_header_params(b";=1", 0).is_err());
        assert!(scan_header_params(b";a=\"open", 0).is_err());
        assert!(scan_header_params(b"junk", 0).is_err());
    }
}
