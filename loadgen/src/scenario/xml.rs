//! The scenario file's XML, read the way SIPp 3.6.1's mini parser
//! (`src/xp_parser.c`) reads it (compat §3.1), into a small tree with
//! positions for error messages.
//!
//! What SIPp's reader does, and so this one:
//! - every `\r` of the file is dropped before parsing
//!   (`xp_set_xml_buffer_from_file`), so CRLF files read as LF files;
//! - the text must start with `<?xml` and contain `?>`;
//! - `<!-- -->` comments, `<!DOCTYPE ...>` and `<?xml-model ...>` are
//!   skipped; `<![CDATA[ ... ]]>` is kept raw;
//! - attribute values are double-quoted, and a backslash escapes inside
//!   them (`xp_get_value`): `\\` `\"` `\n` `\t` `\r` become the character,
//!   any other `\c` stays as the two characters. XML entities are *not*
//!   decoded here: SIPp decodes `&amp; &lt; &gt; &quot;` only for the
//!   attributes it reads with `xp_get_string` ([`unescape`]).
//!
//! Where SIPp is lenient by accident, this reader refuses with a position
//! rather than guessing: single-quoted values (SIPp would read past them),
//! duplicate attributes (SIPp silently takes the first), text outside
//! CDATA (SIPp ignores it: usually a forgotten `<![CDATA[`), anything after
//! the root element, and nesting deeper than SIPp's 256-level stack.

/// A byte offset in the (CR-stripped) text.
pub(crate) type Offset = usize;

/// An attribute as written.
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    /// Its name.
    pub name: String,
    /// The value after backslash processing, as raw bytes.
    pub value: Vec<u8>,
    /// Where the name starts.
    pub at: Offset,
    /// Where the value starts (after the quote).
    pub value_at: Offset,
}

/// A CDATA section.
#[derive(Debug, Clone)]
pub(crate) struct Cdata {
    /// The bytes between `<![CDATA[` and `]]>`.
    pub text: Vec<u8>,
    /// Offset of the first byte of `text`.
    pub at: Offset,
}

/// An element with its attributes, children and CDATA sections.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The tag name.
    pub name: String,
    /// Where `<` is.
    pub at: Offset,
    /// Attributes in order.
    pub attrs: Vec<Attr>,
    /// Child elements in order.
    pub children: Vec<Node>,
    /// CDATA sections directly inside this element, in order.
    pub cdata: Vec<Cdata>,
}

/// A parse failure: what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XmlError {
    /// The message.
    pub msg: String,
    /// Where.
    pub at: Offset,
}

const MAX_DEPTH: usize = 256;

/// Drops every `\r`, as SIPp does when reading a scenario file.
pub(crate) fn strip_cr(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().copied().filter(|&b| b != b'\r').collect()
}

/// Parses a whole document (already CR-stripped) into its root element.
pub(crate) fn parse(doc: &[u8]) -> Result<Node, XmlError> {
    if !doc.starts_with(b"<?xml") {
        return Err(XmlError {
            msg: "Unable to load or parse the scenario: it must start with '<?xml'".into(),
            at: 0,
        });
    }
    let Some(end) = find(doc, 0, b"?>") else {
        return Err(XmlError {
            msg: "Unable to load or parse the scenario: no '?>' ending the XML declaration".into(),
            at: 0,
        });
    };
    let mut p = Parser { doc, pos: end + 2 };
    let mut root = None;
    loop {
        p.skip_ws();
        if p.pos >= doc.len() {
            break;
        }
        if p.skip_misc()? {
            continue;
        }
        if doc[p.pos] != b'<' {
            return Err(p.err("text outside of the <scenario> element"));
        }
        if root.is_some() {
            return Err(p.err("Invalid XML in scenario: an element after the root element"));
        }
        if doc.get(p.pos + 1) == Some(&b'/') {
            return Err(p.err("Invalid XML in scenario: a closing tag without an opening one"));
        }
        root = Some(p.element(0)?);
    }
    root.ok_or(XmlError {
        msg: "No element in xml scenario file".into(),
        at: doc.len(),
    })
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)
        .and_then(|h| memchr::memmem::find(h, needle))
        .map(|i| i + from)
}

struct Parser<'a> {
    doc: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> XmlError {
        XmlError {
            msg: msg.into(),
            at: self.pos,
        }
    }

    fn rest(&self) -> &[u8] {
        self.doc.get(self.pos..).unwrap_or_default()
    }

    fn skip_ws(&mut self) {
        while self.pos < self.doc.len() && matches!(self.doc[self.pos], b' ' | b'\t' | b'\n') {
            self.pos += 1;
        }
    }

    /// Skips a comment, DOCTYPE or `<?xml-model`; true if it did.
    fn skip_misc(&mut self) -> Result<bool, XmlError> {
        let (open, close): (&[u8], &[u8]) = if self.rest().starts_with(b"<!--") {
            (b"<!--", b"-->")
        } else if self.rest().starts_with(b"<!DOCTYPE") {
            (b"<!DOCTYPE", b">")
        } else if self.rest().starts_with(b"<?xml-model") {
            (b"<?xml-model", b">")
        } else if self.rest().starts_with(b"<!") || self.rest().starts_with(b"<?") {
            return Err(self.err("unsupported markup ('<!' or '<?' that is not a comment, CDATA, DOCTYPE or xml-model)"));
        } else {
            return Ok(false);
        };
        match find(self.doc, self.pos + open.len(), close) {
            Some(e) => {
                self.pos = e + close.len();
                Ok(true)
            }
            None => Err(self.err("unterminated comment or declaration")),
        }
    }

    /// Parses the element starting at `self.pos` (on `<`).
    fn element(&mut self, depth: usize) -> Result<Node, XmlError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("elements nested too deeply"));
        }
        let at = self.pos;
        self.pos += 1;
        let name = self.name();
        if name.is_empty() {
            return Err(self.err("an element without a name"));
        }
        let mut node = Node {
            name,
            at,
            attrs: Vec::new(),
            children: Vec::new(),
            cdata: Vec::new(),
        };
        // Attributes up to `>` or `/>`.
        loop {
            self.skip_ws();
            match self.doc.get(self.pos) {
                None => return Err(self.err("unterminated start tag")),
                Some(b'>') => {
                    self.pos += 1;
                    break;
                }
                Some(b'/') if self.doc.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    return Ok(node);
                }
                Some(_) => {}
            }
            let a = self.attr()?;
            if node.attrs.iter().any(|x| x.name == a.name) {
                return Err(XmlError {
                    msg: format!("duplicate attribute '{}'", a.name),
                    at: a.at,
                });
            }
            node.attrs.push(a);
        }
        // Content up to the matching end tag.
        loop {
            let start = self.pos;
            while self.pos < self.doc.len() && self.doc[self.pos] != b'<' {
                self.pos += 1;
            }
            if let Some(off) = self.doc[start..self.pos]
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n'))
            {
                return Err(XmlError {
                    msg: format!(
                        "text outside of CDATA in <{}> (SIPp ignores it; is a '<![CDATA[' missing?)",
                        node.name
                    ),
                    at: start + off,
                });
            }
            if self.pos >= self.doc.len() {
                return Err(XmlError {
                    msg: format!("<{}> is never closed", node.name),
                    at,
                });
            }
            if self.rest().starts_with(b"<![CDATA[") {
                let text_at = self.pos + 9;
                let Some(e) = find(self.doc, text_at, b"]]>") else {
                    return Err(self.err("unterminated CDATA section"));
                };
                node.cdata.push(Cdata {
                    text: self.doc[text_at..e].to_vec(),
                    at: text_at,
                });
                self.pos = e + 3;
            } else if self.skip_misc()? {
            } else if self.doc.get(self.pos + 1) == Some(&b'/') {
                let close_at = self.pos;
                self.pos += 2;
                let name = self.name();
                self.skip_ws();
                if self.doc.get(self.pos) != Some(&b'>') {
                    return Err(self.err("malformed end tag"));
                }
                self.pos += 1;
                if name != node.name {
                    return Err(XmlError {
                        msg: format!("Unexpected </{name}> (expected </{}>)", node.name),
                        at: close_at,
                    });
                }
                return Ok(node);
            } else {
                let child = self.element(depth + 1)?;
                node.children.push(child);
            }
        }
    }

    /// A tag name: up to white space, `/`, `>` (SIPp's `extract_name`).
    fn name(&mut self) -> String {
        let start = self.pos;
        while self.pos < self.doc.len()
            && !matches!(self.doc[self.pos], b' ' | b'\t' | b'\n' | b'/' | b'>')
        {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.doc[start..self.pos]).into_owned()
    }

    fn attr(&mut self) -> Result<Attr, XmlError> {
        let at = self.pos;
        while self.pos < self.doc.len()
            && !matches!(
                self.doc[self.pos],
                b' ' | b'\t' | b'\n' | b'=' | b'>' | b'/' | b'"' | b'\''
            )
        {
            self.pos += 1;
        }
        let name = String::from_utf8_lossy(&self.doc[at..self.pos]).into_owned();
        if name.is_empty() {
            return Err(self.err("malformed attribute"));
        }
        self.skip_ws();
        if self.doc.get(self.pos) != Some(&b'=') {
            return Err(XmlError {
                msg: format!("attribute '{name}' has no value"),
                at,
            });
        }
        self.pos += 1;
        self.skip_ws();
        match self.doc.get(self.pos) {
            Some(b'"') => {}
            Some(b'\'') => {
                return Err(
                    self.err("single-quoted attribute value: SIPp reads only double-quoted values")
                );
            }
            _ => return Err(self.err("attribute value must be double-quoted")),
        }
        self.pos += 1;
        let value_at = self.pos;
        let mut value = Vec::new();
        loop {
            match self.doc.get(self.pos) {
                None => {
                    return Err(XmlError {
                        msg: format!("unterminated value of attribute '{name}'"),
                        at: value_at,
                    });
                }
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let Some(&c) = self.doc.get(self.pos + 1) else {
                        return Err(self.err("unterminated attribute value"));
                    };
                    match c {
                        b'\\' => value.push(b'\\'),
                        b'"' => value.push(b'"'),
                        b'n' => value.push(b'\n'),
                        b't' => value.push(b'\t'),
                        b'r' => value.push(b'\r'),
                        _ => value.extend_from_slice(&[b'\\', c]),
                    }
                    self.pos += 2;
                }
                Some(&c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(Attr {
            name,
            value,
            at,
            value_at,
        })
    }
}

/// SIPp's `xp_unescape`: `&amp; &gt; &lt; &quot;` decoded. As in SIPp an
/// entity name matches when it is a prefix of one of those (`&am;` is `&`),
/// an unknown entity keeps its `&`, and a `&` with no `;` after it is kept.
pub(crate) fn unescape(src: &[u8]) -> Vec<u8> {
    const ESC: [(&[u8], u8); 4] = [
        (b"amp", b'&'),
        (b"gt", b'>'),
        (b"lt", b'<'),
        (b"quot", b'"'),
    ];
    let mut out = Vec::with_capacity(src.len());
    let mut from = src;
    loop {
        let Some(amp) = from.iter().position(|&b| b == b'&') else {
            out.extend_from_slice(from);
            return out;
        };
        out.extend_from_slice(&from[..amp]);
        from = &from[amp + 1..];
        let Some(term) = from.iter().position(|&b| b == b';') else {
            out.push(b'&');
            out.extend_from_slice(from);
            return out;
        };
        let name = &from[..term];
        match ESC.iter().find(|(n, _)| n.starts_with(name)) {
            Some((_, c)) => {
                out.push(*c);
                from = &from[term + 1..];
            }
            None => out.push(b'&'),
        }
    }
}

/// Line and column (1-based; columns count bytes) of `at` in `doc`.
pub(crate) fn line_col(doc: &[u8], at: Offset) -> (u32, u32) {
    let at = at.min(doc.len());
    let before = &doc[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => at - nl,
        None => at + 1,
    };
    (line as u32, col as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Node, XmlError> {
        parse(&strip_cr(s.as_bytes()))
    }

    #[test]
    fn tree_attributes_cdata() {
        let doc = "<?xml version=\"1.0\"?>\r\n<!DOCTYPE scenario SYSTEM \"sipp.dtd\">\n<!-- c -->\n<scenario name=\"a b\">\n <send retrans = \"500\">\n<![CDATA[\nINVITE x\n]]></send>\n<pause/><label id=\"1\" />\n</scenario>\n<!-- end -->\n";
        let n = p(doc).unwrap();
        assert_eq!(n.name, "scenario");
        assert_eq!(n.attrs[0].name, "name");
        assert_eq!(n.attrs[0].value, b"a b");
        assert_eq!(n.children.len(), 3);
        let send = &n.children[0];
        assert_eq!(send.attrs[0].value, b"500");
        assert_eq!(send.cdata[0].text, b"\nINVITE x\n");
        assert_eq!(n.children[1].name, "pause");
        assert_eq!(n.children[2].attrs[0].value, b"1");
        let d = strip_cr(doc.as_bytes());
        assert_eq!(line_col(&d, send.at), (5, 2));
        assert_eq!(line_col(&d, send.attrs[0].at), (5, 8));
    }

    #[test]
    fn backslash_escapes_in_values() {
        let n = p(r#"<?xml?><scenario a="x\"y\\z\n\q" b="&lt;"/>"#).unwrap();
        assert_eq!(n.attrs[0].value, b"x\"y\\z\n\\q");
        assert_eq!(n.attrs[1].value, b"&lt;");
        assert_eq!(unescape(&n.attrs[1].value), b"<");
    }

    #[test]
    fn unescape_like_sipp() {
        assert_eq!(unescape(b"a&amp;b&lt;&gt;&quot;"), b"a&b<>\"");
        assert_eq!(unescape(b"&am;"), b"&");
        assert_eq!(unescape(b"&;"), b"&");
        assert_eq!(unescape(b"&apos;x"), b"&apos;x");
        assert_eq!(unescape(b"a&b"), b"a&b");
        assert_eq!(unescape(b"&ampx;"), b"&ampx;");
    }

    #[test]
    fn errors_with_positions() {
        let cases: &[(&str, (u32, u32))] = &[
            ("<scenario/>", (1, 1)),
            ("<?xml?>\n<scenario a='x'/>", (2, 13)),
            ("<?xml?>\n<scenario a=\"1\" a=\"2\"/>", (2, 17)),
            (
                "<?xml?>\n<scenario>\n  <send>hello</send></scenario>",
                (3, 9),
            ),
            ("<?xml?>\n<scenario>\n<send></recv></scenario>", (3, 7)),
            ("<?xml?>\n<scenario/>\n<scenario/>", (3, 1)),
            ("<?xml?>\n<scenario>\n<send>", (3, 1)),
            (
                "<?xml?>\n<scenario><send><![CDATA[x</send></scenario>",
                (2, 17),
            ),
            ("<?xml?>\n<scenario a=\"x", (2, 14)),
            ("<?xml?>\n", (2, 1)),
        ];
        for (doc, pos) in cases {
            let d = strip_cr(doc.as_bytes());
            let e = parse(&d).expect_err(doc);
            assert_eq!(line_col(&d, e.at), *pos, "{doc}: {}", e.msg);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut s = String::from("<?xml?>");
        for _ in 0..10_000 {
            s.push_str("<a>");
        }
        assert!(p(&s).is_err());
    }

    #[test]
    fn line_col_basics() {
        assert_eq!(line_col(b"ab\ncd", 0), (1, 1));
        assert_eq!(line_col(b"ab\ncd", 3), (2, 1));
        assert_eq!(line_col(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_col(b"ab\ncd", 99), (2, 3));
    }
}
