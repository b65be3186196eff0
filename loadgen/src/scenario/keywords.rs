//! Compiling message text into a [`Template`]: SIPp 3.6.1's
//! `SendingMessage` constructor (`src/message.cpp`, compat §3.6).
//!
//! Byte by byte, as SIPp does:
//! - `\x` + up to two hex digits is that byte; the character after the
//!   `\x` sequence is always consumed, so `\x5b` is `[`, `\xAZ` is byte
//!   0x0A (the `Z` is lost) and `\xZ` is nothing;
//! - `\n` becomes `\r\n`;
//! - `[` opens a keyword, which ends at the next `]` outside double quotes.
//!
//! Inside a keyword: unless it starts with `authentication` or `tdmmap`,
//! the first `+` (else the first `-`) followed by a digit starts a numeric
//! offset and ends the name (`[cseq+1]`, `[branch-2]`; note this also cuts
//! `[field0 file="a-1.csv"]`, as in SIPp). Then the name is looked up:
//! SIPp's simple keywords (exact), then the prefixes `field`, `file`, `$`,
//! `fill`, `last_`, `authentication`, then `-key` names. Parameters
//! (`file=`, `line=`, `name=`, `text=`, `variable=`, `username=`, ...) are
//! found by substring and read as SIPp's `getKeywordParam` reads them:
//! `0x` hex, `"quoted"` (backslash escapes the next byte) or bare up to
//! `]` or a non-printable byte.

use super::error::{ErrorKind, ScenarioError};
use super::model::{Keyword, KeywordKind, Segment, SendWhat, Template, VarId};

/// SIPp's `KEYWORD_SIZE`: longer keywords are a syntax error.
const KEYWORD_SIZE: usize = 256;

/// What compiling a keyword needs from the loader.
pub(crate) trait Ctx {
    /// A variable reference (SIPp's `get_var`: allocates, counts the use).
    fn var(&mut self, name: &[u8], at: usize) -> Result<VarId, ScenarioError>;
    /// The value of `-key name`, if given.
    fn key(&self, name: &[u8]) -> Option<String>;
    /// The bytes of the file `path` (`[file name=...]`).
    fn read_file(&self, path: &[u8], at: usize) -> Result<Vec<u8>, ScenarioError>;
    /// An error at offset `at`.
    fn error(&self, at: usize, kind: ErrorKind) -> ScenarioError;
}

/// Compiles `text` (`offs[i]` = source offset of `text[i]`).
pub(crate) fn compile(
    ctx: &mut dyn Ctx,
    text: &[u8],
    offs: &[usize],
) -> Result<Template, ScenarioError> {
    let off_of = |i: usize| -> usize { offs.get(i).or(offs.last()).copied().unwrap_or_default() };
    let mut segments = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'\\' && text.get(i + 1) == Some(&b'x') {
            i += 2;
            if let Some(h) = text.get(i).and_then(|&b| hex(b)) {
                let mut v = h;
                i += 1;
                if let Some(h2) = text.get(i).and_then(|&b| hex(b)) {
                    v = (v << 4) | h2;
                }
                lit.push(v);
            }
            i += 1;
            continue;
        }
        if c == b'\n' {
            lit.extend_from_slice(b"\r\n");
            i += 1;
            continue;
        }
        if c != b'[' {
            lit.push(c);
            i += 1;
            continue;
        }
        let at = off_of(i);
        let body = &text[i + 1..];
        let close = quoted_find(body, b']');
        let open = quoted_find(body, b'[');
        if let (Some(o), Some(k)) = (open, close)
            && o < k
        {
            return Err(ctx.error(
                at,
                ErrorKind::Unsupported(
                    "a '[' inside a [keyword] (SIPp 3.6.1 mangles it; write \\x5b for a literal '[')"
                        .into(),
                ),
            ));
        }
        let k = match close {
            Some(k) if k > 0 && k <= KEYWORD_SIZE => k,
            _ => {
                let line_end = text[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(text.len(), |p| i + p);
                return Err(ctx.error(
                    at,
                    ErrorKind::Keyword(format!(
                        "Syntax error or invalid [keyword] in scenario while parsing '{}'",
                        String::from_utf8_lossy(&text[i..line_end])
                    )),
                ));
            }
        };
        if !lit.is_empty() {
            segments.push(Segment::Literal(std::mem::take(&mut lit)));
        }
        let kw_text = &body[..k];
        let kw = keyword(ctx, kw_text, at)?;
        match kw {
            Compiled::Keyword(k) => segments.push(Segment::Keyword(k)),
            Compiled::Literal(v) => segments.push(Segment::Literal(v)),
        }
        i += 1 + k + 1;
    }
    if !lit.is_empty() {
        segments.push(Segment::Literal(lit));
    }
    Ok(Template { segments })
}

enum Compiled {
    Keyword(Keyword),
    Literal(Vec<u8>),
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// SIPp's `quoted_strchr`: the first `c` outside `"..."`; an unterminated
/// quote hides everything after it.
fn quoted_find(s: &[u8], c: u8) -> Option<usize> {
    let mut p = 0;
    while p < s.len() && s[p] != c {
        if s[p] == b'"' {
            p += 1;
            match s[p..].iter().position(|&b| b == b'"') {
                Some(q) => p += q,
                None => return None,
            }
        }
        p += 1;
    }
    (p < s.len()).then_some(p)
}

/// C's `atoi` on bytes (leading blanks, sign, digits), saturating.
pub(crate) fn atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add((d - b'0') as i64);
        i += 1;
    }
    if neg { -v } else { v }
}

/// SIPp's `getKeywordParam`: the value of `param` (e.g. `b"file="`) in
/// the keyword text, empty when absent.
fn param(kw: &[u8], param: &[u8]) -> Vec<u8> {
    let Some(p) = memchr::memmem::find(kw, param) else {
        return Vec::new();
    };
    let v = &kw[p + param.len()..];
    let mut out = Vec::new();
    if v.starts_with(b"0x") {
        let mut j = 2;
        while let Some(h) = v.get(j).and_then(|&b| hex(b)) {
            let mut b = h;
            j += 1;
            if let Some(h2) = v.get(j).and_then(|&b| hex(b)) {
                b = (b << 4) | h2;
                j += 1;
            }
            out.push(b);
        }
    } else if v.first() == Some(&b'"') {
        let mut j = 1;
        while let Some(&c) = v.get(j) {
            j += 1;
            match c {
                b'"' => break,
                b'\\' => match v.get(j) {
                    Some(&n) => {
                        out.push(n);
                        j += 1;
                    }
                    None => break,
                },
                _ => out.push(c),
            }
        }
    } else {
        out.extend(
            v.iter()
                .take_while(|&&b| b != b']' && (33..=126).contains(&b))
                .copied(),
        );
    }
    out
}

/// SIPp's keywords that take no parameters (`SimpleKeywords` in
/// `message.cpp`, for a build with PCAP and RTP streams like the installed
/// 3.6.1). `None`: known to SIPp, not supported here.
fn simple(name: &[u8]) -> Option<Option<KeywordKind>> {
    use KeywordKind as K;
    Some(Some(match name {
        b"remote_ip" => K::RemoteIp,
        b"remote_host" => K::RemoteHost,
        b"remote_port" => K::RemotePort,
        b"transport" => K::Transport,
        b"local_ip" => K::LocalIp,
        b"local_ip_type" => K::LocalIpType,
        b"local_port" => K::LocalPort,
        b"server_ip" => K::ServerIp,
        b"media_ip" => K::MediaIp,
        b"auto_media_port" => K::AutoMediaPort,
        // Deprecated in 3.6; SIPp prints media_port (without offset).
        b"rtpstream_audio_port" | b"rtpstream_video_port" => K::MediaPort,
        b"media_port" => K::MediaPort,
        b"media_ip_type" => K::MediaIpType,
        b"call_number" => K::CallNumber,
        b"dynamic_id" => return Some(None),
        b"call_id" => K::CallId,
        b"cseq" => K::Cseq,
        b"pid" => K::Pid,
        b"service" => K::Service,
        b"branch" => K::Branch,
        b"msg_index" => K::MsgIndex,
        b"next_url" => K::NextUrl,
        b"len" => K::Len,
        b"peer_tag_param" => K::PeerTagParam,
        b"last_Request_URI" => K::LastRequestUri,
        b"last_cseq_number" => K::LastCseqNumber,
        b"last_message" => K::LastMessage,
        b"routes" => K::Routes,
        b"tdmmap" => return Some(None),
        b"clock_tick" => K::ClockTick,
        b"users" => K::Users,
        b"userid" => K::Userid,
        b"timestamp" => K::Timestamp,
        b"date" => K::Date,
        b"sipp_version" => K::SippVersion,
        _ => return None,
    }))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One keyword's text (between the brackets).
fn keyword(ctx: &mut dyn Ctx, raw: &[u8], at: usize) -> Result<Compiled, ScenarioError> {
    let mut kw = raw;
    let mut offset = 0;
    if !kw.starts_with(b"authentication") && !kw.starts_with(b"tdmmap") {
        let sign = kw
            .iter()
            .position(|&b| b == b'+')
            .or_else(|| kw.iter().position(|&b| b == b'-'));
        if let Some(s) = sign
            && kw.get(s + 1).is_some_and(u8::is_ascii_digit)
        {
            offset = atoi(&kw[s..]);
            kw = &kw[..s];
        }
    }
    let k = |kind| Ok(Compiled::Keyword(Keyword { kind, offset }));
    if let Some(found) = simple(kw) {
        return match found {
            Some(kind) => {
                if kw.starts_with(b"rtpstream_") {
                    return Ok(Compiled::Keyword(Keyword { kind, offset: 0 }));
                }
                k(kind)
            }
            None => Err(ctx.error(
                at,
                ErrorKind::Unsupported(format!("the [{}] keyword", lossy(kw))),
            )),
        };
    }
    if let Some(rest) = kw.strip_prefix(b"field") {
        let n = atoi(rest);
        let n = usize::try_from(n).map_err(|_| {
            ctx.error(
                at,
                ErrorKind::Keyword(format!("invalid field number in [{}]", lossy(kw))),
            )
        })?;
        let file = param(kw, b"file=");
        let line = param(kw, b"line=");
        let line = if line.is_empty() {
            None
        } else {
            Some(compile(ctx, &line, &vec![at; line.len()])?)
        };
        return k(KeywordKind::Field {
            n,
            file: (!file.is_empty()).then(|| lossy(&file)),
            line,
        });
    }
    if kw.starts_with(b"file") {
        let name = param(kw, b"name=");
        if name.is_empty() {
            return Err(ctx.error(
                at,
                ErrorKind::Keyword("No name specified for 'file' keyword!".into()),
            ));
        }
        let t = compile(ctx, &name, &vec![at; name.len()])?;
        let mut path = Vec::new();
        for s in &t.segments {
            match s {
                Segment::Literal(l) => path.extend_from_slice(l),
                Segment::Keyword(_) => {
                    return Err(ctx.error(
                        at,
                        ErrorKind::Unsupported(
                            "keywords in [file name=...] (the file is read at load time)".into(),
                        ),
                    ));
                }
            }
        }
        let bytes = ctx.read_file(&path, at)?;
        return k(KeywordKind::File(bytes));
    }
    if let Some(name) = kw.strip_prefix(b"$") {
        let id = ctx.var(name, at)?;
        return k(KeywordKind::Var(id));
    }
    if kw.starts_with(b"fill") {
        let mut text = param(kw, b"text=");
        if text.is_empty() {
            text = b"X".to_vec();
        }
        let var = param(kw, b"variable=");
        let var = ctx.var(&var, at)?;
        return k(KeywordKind::Fill {
            var,
            text: lossy(&text),
        });
    }
    if let Some(name) = kw.strip_prefix(b"last_") {
        if name.is_empty() || name == b":" {
            return Err(ctx.error(
                at,
                ErrorKind::Keyword(format!("[{}] names no header", lossy(kw))),
            ));
        }
        // `[last_Via::]` looks for "Via::" in SIPp (and finds nothing):
        // only a single final colon is dropped from the name.
        let (name, colon) = match name.strip_suffix(b":") {
            Some(n) if !n.ends_with(b":") => (n, true),
            Some(_) => (name, true),
            None => (name, false),
        };
        return k(KeywordKind::LastHeader {
            name: lossy(name),
            colon,
        });
    }
    if kw.starts_with(b"authentication") {
        if !param(kw, b"aka_K=").is_empty() || !param(kw, b"aka_OP=").is_empty() {
            return Err(ctx.error(
                at,
                ErrorKind::Unsupported("AKAv1-MD5 authentication (aka_K, aka_OP)".into()),
            ));
        }
        let mut template = |name: &[u8]| -> Result<Option<Template>, ScenarioError> {
            let v = param(kw, name);
            if v.is_empty() {
                Ok(None)
            } else {
                compile(ctx, &v, &vec![at; v.len()]).map(Some)
            }
        };
        let username = template(b"username=")?;
        let password = template(b"password=")?;
        return k(KeywordKind::Authentication { username, password });
    }
    if let Some(v) = ctx.key(kw) {
        return Ok(Compiled::Literal(v.into_bytes()));
    }
    Err(ctx.error(
        at,
        ErrorKind::Keyword(format!(
            "Unsupported keyword '{}' in xml scenario file",
            lossy(kw)
        )),
    ))
}

/// SIPp's sanity check on a `<send>` or default message: the first piece
/// must be literal text whose first word is the method, or `SIP/2.0`
/// followed by a code in 100..=699.
pub(crate) fn message_kind(t: &Template) -> Result<SendWhat, String> {
    const KW: &str = "You can not use a keyword for the METHOD or to generate \"SIP/2.0\" to ensure proper [cseq] operation!";
    let Some(Segment::Literal(first)) = t.segments.first() else {
        return Err(KW.into());
    };
    let Some(sp) = first.iter().position(|&b| b == b' ') else {
        return Err(KW.into());
    };
    let start = first
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(first.len());
    let method = first.get(start..sp).unwrap_or_default();
    if method == b"SIP/2.0" {
        let mut q = sp + 1;
        while q < first.len() && is_c_space(first[q]) {
            q += 1;
        }
        let digits: Vec<u8> = first[q..]
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        let after = first.get(q + digits.len()).copied();
        if after.is_some_and(|b| !is_c_space(b)) {
            return Err(format!(
                "Invalid reply code: {}",
                String::from_utf8_lossy(&first[q..])
            ));
        }
        let code = atoi(&digits);
        if !(100..700).contains(&code) {
            return Err("Response codes must be in the range of 100-700".into());
        }
        return Ok(SendWhat::Response(code as u16));
    }
    Ok(SendWhat::Request(
        String::from_utf8_lossy(method).into_owned(),
    ))
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct T {
        vars: Vec<String>,
        keys: HashMap<String, String>,
        files: HashMap<String, Vec<u8>>,
    }

    impl Ctx for T {
        fn var(&mut self, name: &[u8], at: usize) -> Result<VarId, ScenarioError> {
            let n = lossy(name);
            if n.is_empty() || n.contains(['$', ',']) {
                return Err(self.error(at, ErrorKind::Invalid("bad var".into())));
            }
            Ok(match self.vars.iter().position(|v| *v == n) {
                Some(i) => i,
                None => {
                    self.vars.push(n);
                    self.vars.len() - 1
                }
            })
        }
        fn key(&self, name: &[u8]) -> Option<String> {
            self.keys.get(&lossy(name)).cloned()
        }
        fn read_file(&self, path: &[u8], at: usize) -> Result<Vec<u8>, ScenarioError> {
            self.files
                .get(&lossy(path))
                .cloned()
                .ok_or_else(|| self.error(at, ErrorKind::Invalid("no file".into())))
        }
        fn error(&self, at: usize, kind: ErrorKind) -> ScenarioError {
            ScenarioError {
                file: "t".into(),
                line: 1,
                col: at as u32 + 1,
                kind,
            }
        }
    }

    fn comp(t: &mut T, s: &str) -> Result<Vec<Segment>, ScenarioError> {
        let offs: Vec<usize> = (0..s.len()).collect();
        compile(t, s.as_bytes(), &offs).map(|t| t.segments)
    }

    fn lit(s: &[u8]) -> Segment {
        Segment::Literal(s.to_vec())
    }

    fn kw(kind: KeywordKind, offset: i64) -> Segment {
        Segment::Keyword(Keyword { kind, offset })
    }

    #[test]
    fn literals_crlf_and_hex() {
        let mut t = T::default();
        assert_eq!(comp(&mut t, "a\nb\n").unwrap(), vec![lit(b"a\r\nb\r\n")]);
        assert_eq!(comp(&mut t, r"\x5bx\x5D").unwrap(), vec![lit(b"[x]")]);
        // One hex digit: the byte, and the next character is eaten.
        assert_eq!(comp(&mut t, r"\xAZq").unwrap(), vec![lit(b"\x0aq")]);
        // No hex digit: `\x` and the next character vanish.
        assert_eq!(comp(&mut t, r"a\xZb").unwrap(), vec![lit(b"ab")]);
        assert_eq!(comp(&mut t, r"a\x").unwrap(), vec![lit(b"a")]);
        // \x0a is a bare LF (no CR added).
        assert_eq!(comp(&mut t, r"\x0a").unwrap(), vec![lit(b"\n")]);
        assert_eq!(comp(&mut t, r"a\b").unwrap(), vec![lit(br"a\b")]);
    }

    #[test]
    fn simple_keywords_and_offsets() {
        use KeywordKind as K;
        let mut t = T::default();
        assert_eq!(
            comp(&mut t, "CSeq: [cseq+1] [branch-2][len][local_port-10]").unwrap(),
            vec![
                lit(b"CSeq: "),
                kw(K::Cseq, 1),
                lit(b" "),
                kw(K::Branch, -2),
                kw(K::Len, 0),
                kw(K::LocalPort, -10),
            ]
        );
        for (name, kind) in [
            ("service", K::Service),
            ("remote_ip", K::RemoteIp),
            ("remote_host", K::RemoteHost),
            ("remote_port", K::RemotePort),
            ("transport", K::Transport),
            ("local_ip", K::LocalIp),
            ("local_ip_type", K::LocalIpType),
            ("local_port", K::LocalPort),
            ("server_ip", K::ServerIp),
            ("media_ip", K::MediaIp),
            ("media_ip_type", K::MediaIpType),
            ("media_port", K::MediaPort),
            ("auto_media_port", K::AutoMediaPort),
            ("call_number", K::CallNumber),
            ("call_id", K::CallId),
            ("cseq", K::Cseq),
            ("last_cseq_number", K::LastCseqNumber),
            ("branch", K::Branch),
            ("msg_index", K::MsgIndex),
            ("pid", K::Pid),
            ("len", K::Len),
            ("peer_tag_param", K::PeerTagParam),
            ("last_Request_URI", K::LastRequestUri),
            ("last_message", K::LastMessage),
            ("routes", K::Routes),
            ("next_url", K::NextUrl),
            ("clock_tick", K::ClockTick),
            ("timestamp", K::Timestamp),
            ("date", K::Date),
            ("sipp_version", K::SippVersion),
            ("users", K::Users),
            ("userid", K::Userid),
        ] {
            assert_eq!(
                comp(&mut t, &format!("[{name}]")).unwrap(),
                vec![kw(kind, 0)],
                "{name}"
            );
        }
        // '+' not followed by a digit hides a later '-N' (SIPp checks '+' first).
        assert!(comp(&mut t, "[cseq+x-1]").is_err());
        // rtpstream ports are media_port without offset.
        assert_eq!(
            comp(&mut t, "[rtpstream_audio_port+2]").unwrap(),
            vec![kw(K::MediaPort, 0)]
        );
    }

    #[test]
    fn last_headers() {
        let mut t = T::default();
        let last = |n: &str, colon| {
            kw(
                KeywordKind::LastHeader {
                    name: n.into(),
                    colon,
                },
                0,
            )
        };
        assert_eq!(
            comp(&mut t, "[last_Via::]").unwrap(),
            vec![last("Via::", true)]
        );
        assert!(comp(&mut t, "[last_]").is_err());
        assert!(comp(&mut t, "[last_:]").is_err());
        assert_eq!(
            comp(&mut t, "[last_Via:]\n[last_Call-ID][last_To:]").unwrap(),
            vec![
                last("Via", true),
                lit(b"\r\n"),
                last("Call-ID", false),
                last("To", true)
            ]
        );
    }

    #[test]
    fn variables_fill_field_file_keys() {
        let mut t = T::default();
        t.keys.insert("mykey".into(), "val".into());
        t.files.insert("body.txt".into(), b"abc\n".to_vec());
        let s = comp(
            &mut t,
            r#"[$a][$1][fill variable=n][fill variable=n text="a]\\"][mykey][file name="body.txt"]"#,
        )
        .unwrap();
        assert_eq!(
            s,
            vec![
                kw(KeywordKind::Var(0), 0),
                kw(KeywordKind::Var(1), 0),
                kw(
                    KeywordKind::Fill {
                        var: 2,
                        text: "X".into()
                    },
                    0
                ),
                kw(
                    KeywordKind::Fill {
                        var: 2,
                        text: "a]\\".into()
                    },
                    0
                ),
                lit(b"val"),
                kw(KeywordKind::File(b"abc\n".to_vec()), 0),
            ]
        );
        let s = comp(
            &mut t,
            "[field3][field0 file=\"u.csv\" line=\"[$a]\"][field12 file=x.csv line=2]",
        )
        .unwrap();
        assert_eq!(
            s,
            vec![
                kw(
                    KeywordKind::Field {
                        n: 3,
                        file: None,
                        line: None
                    },
                    0
                ),
                kw(
                    KeywordKind::Field {
                        n: 0,
                        file: Some("u.csv".into()),
                        line: Some(Template {
                            segments: vec![kw(KeywordKind::Var(0), 0)]
                        })
                    },
                    0
                ),
                kw(
                    KeywordKind::Field {
                        n: 12,
                        file: Some("x.csv".into()),
                        line: Some(Template {
                            segments: vec![lit(b"2")]
                        })
                    },
                    0
                ),
            ]
        );
        // SIPp cuts at "-1" in the file name: the offset is -1, the file "a".
        let s = comp(&mut t, "[field0 file=\"a-1.csv\"]").unwrap();
        assert_eq!(
            s,
            vec![kw(
                KeywordKind::Field {
                    n: 0,
                    file: Some("a".into()),
                    line: None
                },
                -1
            )]
        );
        // Hex parameter.
        let s = comp(&mut t, "[fill variable=n text=0x414243]").unwrap();
        assert_eq!(
            s,
            vec![kw(
                KeywordKind::Fill {
                    var: 2,
                    text: "ABC".into()
                },
                0
            )]
        );
    }

    #[test]
    fn keyword_errors_point_at_the_bracket() {
        let mut t = T::default();
        let cases = [
            ("ab [nope] x", 4, "Unsupported keyword 'nope'"),
            ("ab [len", 4, "Syntax error"),
            ("[]", 1, "Syntax error"),
            ("x[a[len]]", 2, "'[' inside"),
            ("x[tdmmap]", 2, "not supported"),
            ("x[dynamic_id]", 2, "not supported"),
            ("x[authentication aka_K=00112233]", 2, "not supported"),
            ("x[file]", 2, "No name specified"),
            ("x[file name=\"[$f]\"]", 2, "not supported"),
            ("x[file name=missing]", 2, "no file"),
            ("x[$]", 2, "bad var"),
            ("x[fill]", 2, "bad var"),
            ("[$a,b]", 1, "bad var"),
        ];
        for (src, col, msg) in cases {
            let e = comp(&mut t, src).expect_err(src);
            assert_eq!(e.col, col, "{src}");
            assert!(e.to_string().contains(msg), "{src}: {e}");
        }
        let long = format!("[{}]", "a".repeat(257));
        assert!(comp(&mut t, &long).is_err());
        let ok = format!("[{}]", "a".repeat(256));
        assert!(
            comp(&mut t, &ok)
                .unwrap_err()
                .to_string()
                .contains("Unsupported keyword")
        );
        // A ']' inside quotes does not end the keyword.
        t.keys.insert("k x=\"]\"".into(), "v".into());
        assert_eq!(comp(&mut t, "[k x=\"]\"]").unwrap(), vec![lit(b"v")]);
    }

    #[test]
    fn message_kinds() {
        let mut t = T::default();
        let mk = |t: &mut T, s: &str| {
            let offs: Vec<usize> = (0..s.len()).collect();
            message_kind(&compile(t, s.as_bytes(), &offs).unwrap())
        };
        assert_eq!(
            mk(&mut t, "INVITE sip:x SIP/2.0\n"),
            Ok(SendWhat::Request("INVITE".into()))
        );
        assert_eq!(
            mk(&mut t, "SIP/2.0 180 Ringing\n"),
            Ok(SendWhat::Response(180))
        );
        assert_eq!(mk(&mut t, "SIP/2.0 699\n"), Ok(SendWhat::Response(699)));
        assert!(mk(&mut t, "SIP/2.0 700 X\n").is_err());
        assert!(mk(&mut t, "SIP/2.0 99 X\n").is_err());
        assert!(
            mk(&mut t, "SIP/2.0 2x0 X\n")
                .unwrap_err()
                .contains("Invalid reply code")
        );
        assert!(mk(&mut t, "SIP/2.0 [$a] OK\n").is_err());
        assert!(mk(&mut t, "[service] x\n").is_err());
        assert!(mk(&mut t, "INVITE[service]\n").is_err());
        assert!(mk(&mut t, "\r\n\r\n").is_err());
    }
}
