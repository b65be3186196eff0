//! SIPp's CDATA clean-up (`clean_cdata` in `src/scenario.cpp`, compat
//! §3.1), byte for byte, carrying each byte's source offset so a keyword
//! error can point into the file.
//!
//! The steps, in SIPp's order:
//! 1. drop leading spaces, tabs and newlines;
//! 2. drop trailing spaces, tabs and newlines, counting the newlines;
//!    exactly one byte left is "Empty cdata" (SIPp's `ptr == msg` check;
//!    nothing left passes and fails later, at the method check);
//! 3. remove every `"\n "` (repeatedly), then every `" \n"`, then every
//!    `"\n\t"`, then every `"\t\n"`: each pass runs to a fixed point on
//!    the result of the previous one, so `"\n\t x"` keeps its space;
//! 4. append `"\n\n"` if the text has no empty line;
//! 5. (`<send>` only, done by the caller with [`Cleaned::removed_newlines`])
//!    append `"\n"` if the text does not end in one and step 2 removed one.
//!
//! LF → CRLF and `\xHH` happen later, when keywords are compiled.

/// Text with the source offset of each byte.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Spanned {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `offs[i]` is where `bytes[i]` came from.
    pub offs: Vec<usize>,
}

impl Spanned {
    /// `text` starting at offset `at`.
    pub(crate) fn new(text: &[u8], at: usize) -> Spanned {
        Spanned {
            bytes: text.to_vec(),
            offs: (at..at + text.len()).collect(),
        }
    }

    fn push(&mut self, b: u8, off: usize) {
        self.bytes.push(b);
        self.offs.push(off);
    }

    fn pop(&mut self) {
        self.bytes.pop();
        self.offs.pop();
    }

    /// Appends `s`, placed at the end of the text.
    pub(crate) fn append(&mut self, s: &[u8], end: usize) {
        for &b in s {
            self.push(b, end);
        }
    }
}

/// The result of [`clean_cdata`].
#[derive(Debug)]
pub(crate) struct Cleaned {
    /// The cleaned text.
    pub text: Spanned,
    /// Newlines removed from the end (step 2).
    pub removed_newlines: usize,
}

/// The CDATA is one byte long once trimmed (SIPp: "Empty cdata").
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EmptyCdata;

fn ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// Steps 1-4 of SIPp's `clean_cdata`; `end` is where appended bytes are
/// placed.
pub(crate) fn clean_cdata(src: &Spanned, end: usize) -> Result<Cleaned, EmptyCdata> {
    let b = &src.bytes;
    let start = b.iter().position(|&c| !ws(c)).unwrap_or(b.len());
    let mut stop = b.len();
    let mut removed_newlines = 0;
    while stop > start && ws(b[stop - 1]) {
        if b[stop - 1] == b'\n' {
            removed_newlines += 1;
        }
        stop -= 1;
    }
    if stop - start == 1 {
        return Err(EmptyCdata);
    }
    let mut t = Spanned {
        bytes: b[start..stop].to_vec(),
        offs: src.offs[start..stop].to_vec(),
    };
    t = drop_after_newline(&t, b' ');
    t = drop_before_newline(&t, b' ');
    t = drop_after_newline(&t, b'\t');
    t = drop_before_newline(&t, b'\t');
    if memchr::memmem::find(&t.bytes, b"\n\n").is_none() {
        t.append(b"\n\n", end);
    }
    Ok(Cleaned {
        text: t,
        removed_newlines,
    })
}

/// Removing every `"\n" c` until none is left: each `c` directly after a
/// kept `\n` goes.
fn drop_after_newline(t: &Spanned, c: u8) -> Spanned {
    let mut out = Spanned::default();
    for (&b, &o) in t.bytes.iter().zip(&t.offs) {
        if b == c && out.bytes.last() == Some(&b'\n') {
            continue;
        }
        out.push(b, o);
    }
    out
}

/// Removing every `c "\n"` until none is left: the run of `c` before each
/// `\n` goes.
fn drop_before_newline(t: &Spanned, c: u8) -> Spanned {
    let mut out = Spanned::default();
    for (&b, &o) in t.bytes.iter().zip(&t.offs) {
        if b == b'\n' {
            while out.bytes.last() == Some(&c) {
                out.pop();
            }
        }
        out.push(b, o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> Result<(String, usize), EmptyCdata> {
        let c = clean_cdata(&Spanned::new(s.as_bytes(), 0), s.len())?;
        assert_eq!(c.text.bytes.len(), c.text.offs.len());
        Ok((String::from_utf8(c.text.bytes).unwrap(), c.removed_newlines))
    }

    /// SIPp's loops, literally (strstr + memmove until none is found).
    fn sipp_literal(s: &str) -> Option<String> {
        let t = s.trim_start_matches([' ', '\t', '\n']);
        let mut t = t.trim_end_matches([' ', '\t', '\n']).to_string();
        if t.len() == 1 {
            return None;
        }
        for pat in ["\n ", " \n", "\n\t", "\t\n"] {
            while let Some(i) = t.find(pat) {
                let drop = if pat.starts_with('\n') { i + 1 } else { i };
                t.remove(drop);
            }
        }
        if !t.contains("\n\n") {
            t.push_str("\n\n");
        }
        Some(t)
    }

    #[test]
    fn uac_invite_shape() {
        let src = "\n\n      INVITE sip:x SIP/2.0\n      Content-Length: [len]\n\n      v=0\n      a=rtpmap:0 PCMU/8000\n\n    ";
        let (t, n) = clean(src).unwrap();
        assert_eq!(
            t,
            "INVITE sip:x SIP/2.0\nContent-Length: [len]\n\nv=0\na=rtpmap:0 PCMU/8000"
        );
        assert_eq!(n, 2);
    }

    #[test]
    fn header_only_gets_its_empty_line() {
        let (t, n) = clean("\n  ACK x SIP/2.0\n  Content-Length: 0\n").unwrap();
        assert_eq!(t, "ACK x SIP/2.0\nContent-Length: 0\n\n");
        assert_eq!(n, 1);
        let (t, n) = clean("OPTIONS x SIP/2.0").unwrap();
        assert_eq!(t, "OPTIONS x SIP/2.0\n\n");
        assert_eq!(n, 0);
    }

    #[test]
    fn passes_run_in_sipp_order() {
        // "\n\t x": the tab goes in pass 3, after pass 1 ran: the space stays.
        assert_eq!(clean("a\n\t x\n\nb").unwrap().0, "a\n x\n\nb");
        // "\n \tx": pass 1 takes the space, pass 3 the tab.
        assert_eq!(clean("a\n \tx\n\nb").unwrap().0, "a\nx\n\nb");
        // trailing blanks of lines, and blank lines made empty
        assert_eq!(clean("a  \n   \n b\t\t\nc").unwrap().0, "a\n\nb\nc");
    }

    #[test]
    fn empty_cdata_rules() {
        assert_eq!(clean("  x \n"), Err(EmptyCdata));
        assert_eq!(clean(" \n\t ").unwrap().0, "\n\n");
        assert_eq!(clean("").unwrap().0, "\n\n");
        assert_eq!(clean("xy").unwrap().0, "xy\n\n");
    }

    #[test]
    fn offsets_follow_bytes() {
        let c = clean_cdata(&Spanned::new(b"\n  AB\n  C", 10), 99).unwrap();
        assert_eq!(c.text.bytes, b"AB\nC\n\n");
        assert_eq!(c.text.offs, vec![13, 14, 15, 18, 99, 99]);
    }

    proptest::proptest! {
        #[test]
        fn equals_sipp_literal_loops(s in "[ \t\na-c]{0,40}") {
            let ours = clean(&s).ok().map(|x| x.0);
            proptest::prop_assert_eq!(ours, sipp_literal(&s));
        }
    }
}
