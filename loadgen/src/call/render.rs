//! Building a message from a [`Template`]: SIPp's `createSendingMessage`
//! (compat §3.6), keyword by keyword, with `[len]` filled in last.

use std::cell::Cell;

use super::{Call, Env, Value, sipmsg};
use crate::scenario::{Keyword, KeywordKind, Segment, Template};

/// Which message index a rendering is for: a scenario `<send>` (its index
/// names the branch), or one of SIPp's default messages (`-1`), or the
/// `-2` convention (branch of the previous message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Index {
    /// A scenario element.
    At(usize),
    /// SIPp's `-1`.
    Default,
    /// SIPp's `-2`: keyword rendering outside a message (actions).
    Previous,
}

/// What [`Call::render`] reuses from one message to the next.
#[derive(Debug, Default)]
struct Scratch {
    /// A `[last_*]` header as SIPp's `get_header` returns it.
    header: Vec<u8>,
    /// The last received message's header lines, indexed at the first
    /// `[last_*]` keyword of a rendering.
    lines: sipmsg::HeaderLines,
}

thread_local! {
    /// The scratch buffer of [`Call::render`]'s `[last_*]` lookups, kept
    /// across renders so that a message costs no allocation for it (taken
    /// and put back: a nested render finds it empty and uses its own).
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// The headers of the last received message, for the `[last_*]`
/// keywords: indexed at the first lookup of a rendering.
struct LastHeaders<'a> {
    msg: &'a [u8],
    lines: &'a mut sipmsg::HeaderLines,
    block: Option<&'a [u8]>,
    /// The header found last (a buffer reused across renderings).
    found: &'a mut Vec<u8>,
}

impl LastHeaders<'_> {
    /// The header `name` (with its colon) as SIPp's `get_header` returns
    /// it: every occurrence on one line, empty if there is none.
    fn get(&mut self, name: &[u8]) -> &[u8] {
        let block = *self.block.get_or_insert_with(|| self.lines.index(self.msg));
        self.lines.get_header(block, name, false, self.found);
        self.found
    }
}

/// What the keywords of a rendering leave for later: `[len]` and
/// `[authentication]` are filled in last, and a keyword that produced
/// nothing before a line end removes the next literal's leading
/// whitespace (so no empty line appears).
#[derive(Default)]
struct Pending<'t> {
    /// `[len]`: where its five columns start, and its offset.
    len: Option<(usize, i64)>,
    /// `[authentication]`: where the header goes, and its parameters.
    auth: Option<(usize, &'t KeywordKind)>,
    /// Drop the next literal's leading whitespace.
    suppress_crlf: bool,
}

impl Pending<'_> {
    /// Appends a literal segment.
    fn literal(&mut self, lit: &[u8], out: &mut Vec<u8>) {
        let skip = if std::mem::take(&mut self.suppress_crlf) {
            lit.iter()
                .take_while(|b| b.is_ascii_whitespace() || **b == 0x0b)
                .count()
        } else {
            0
        };
        out.extend_from_slice(&lit[skip..]);
    }

    /// After a keyword whose value may be empty: if the output now ends
    /// a line, the next literal's line break goes.
    fn after_value(&mut self, out: &[u8]) {
        self.suppress_crlf = out.last() == Some(&b'\n');
    }
}

impl Call {
    /// Renders `t` into `out` (cleared first).
    pub(crate) fn render(&self, t: &Template, index: Index, env: &Env<'_>, out: &mut Vec<u8>) {
        out.clear();
        let mut reuse = SCRATCH.take();
        let Scratch { header, lines } = &mut reuse;
        let mut last = LastHeaders {
            msg: &self.last_recv,
            lines,
            block: None,
            found: header,
        };
        let mut pending = Pending::default();
        for seg in &t.segments {
            match seg {
                Segment::Literal(lit) => pending.literal(lit, out),
                Segment::Keyword(kw) => {
                    self.keyword(kw, index, env, &mut last, &mut pending, out);
                }
            }
        }
        // The header goes in first: until it does, its empty line looks
        // like the end of the headers to `[len]`.
        if let Some((at, KeywordKind::Authentication { username, password })) = pending.auth {
            match self.authorization(out, at, username.as_ref(), password.as_ref(), env) {
                Ok(h) => {
                    if let Some((len_at, _)) = pending.len.as_mut().filter(|(l, _)| *l >= at) {
                        *len_at += h.len();
                    }
                    drop(out.splice(at..at, h.into_bytes()));
                }
                Err(e) => drop(self.render_error.replace(Some(e))),
            }
        }
        if let Some((at, off)) = pending.len {
            fill_len(out, at, off);
        }
        SCRATCH.set(reuse);
    }

    /// One keyword, by family.
    fn keyword<'t>(
        &self,
        kw: &'t Keyword,
        index: Index,
        env: &Env<'_>,
        last: &mut LastHeaders<'_>,
        pending: &mut Pending<'t>,
        out: &mut Vec<u8>,
    ) {
        use KeywordKind as K;
        let off = kw.offset;
        match &kw.kind {
            K::Service
            | K::RemoteIp
            | K::RemoteHost
            | K::RemotePort
            | K::Transport
            | K::LocalIp
            | K::LocalIpType
            | K::LocalPort
            | K::ServerIp
            | K::MediaIp
            | K::MediaIpType
            | K::MediaPort
            | K::AutoMediaPort => self.address_keyword(&kw.kind, off, out),
            K::CallNumber
            | K::CallId
            | K::Cseq
            | K::Branch
            | K::MsgIndex
            | K::Pid
            | K::PeerTagParam
            | K::Users
            | K::Userid => self.call_keyword(&kw.kind, off, index, out),
            K::LastCseqNumber | K::LastHeader { .. } | K::LastRequestUri | K::LastMessage => {
                self.last_message_keyword(&kw.kind, off, last, pending, out)
            }
            K::Routes => match &self.route_set {
                Some(rs) => {
                    out.extend_from_slice(b"Route: ");
                    out.extend_from_slice(rs);
                }
                None if out.last() == Some(&b'\n') => pending.suppress_crlf = true,
                None => {}
            },
            K::NextUrl => {
                if let Some(u) = &self.next_url {
                    out.extend_from_slice(u);
                }
            }
            K::Field { .. } | K::File(_) | K::Var(_) | K::Fill { .. } => {
                self.data_keyword(&kw.kind, env, pending, out)
            }
            K::ClockTick => num(
                out,
                env.now.duration_since(self.cfg.start).as_millis() as i64,
            ),
            K::Timestamp => {
                out.extend_from_slice(crate::stats::format::format_time(env.wall).as_bytes())
            }
            K::Date => out.extend_from_slice(crate::call::http_date(env.wall).as_bytes()),
            K::SippVersion => out.extend_from_slice(self.cfg.version.as_bytes()),
            K::Custom(v) => out.extend_from_slice(v.as_bytes()),
            K::Len => {
                pending.len = Some((out.len(), off));
                out.extend_from_slice(b"     ");
            }
            K::Authentication { .. } => {
                // Filled in last: `auth-int` hashes the finished body.
                if pending.auth.is_none() {
                    pending.auth = Some((out.len(), &kw.kind));
                } else {
                    drop(self.render_error.replace(Some(
                        "Only one [authentication] keyword is currently supported!".into(),
                    )));
                }
            }
        }
    }

    /// The addresses and ports of the command line (`[service]`,
    /// `[remote_*]`, `[transport]`, `[local_*]`, `[server_ip]`,
    /// `[media_*]`, `[auto_media_port]`).
    fn address_keyword(&self, kind: &KeywordKind, off: i64, out: &mut Vec<u8>) {
        let cfg = &*self.cfg;
        match kind {
            KeywordKind::Service => out.extend_from_slice(cfg.service.as_bytes()),
            KeywordKind::RemoteIp => out.extend_from_slice(cfg.remote_ip.as_bytes()),
            KeywordKind::RemoteHost => out.extend_from_slice(cfg.remote_host.as_bytes()),
            KeywordKind::RemotePort => num(out, cfg.remote_port as i64 + off),
            KeywordKind::Transport => out.extend_from_slice(b"UDP"),
            KeywordKind::LocalIp => out.extend_from_slice(cfg.local_ip.as_bytes()),
            KeywordKind::LocalIpType => out.push(if cfg.local_ipv6 { b'6' } else { b'4' }),
            KeywordKind::LocalPort => num(out, self.local_port as i64 + off),
            KeywordKind::ServerIp => out.extend_from_slice(cfg.server_ip.as_bytes()),
            KeywordKind::MediaIp => out.extend_from_slice(cfg.media_ip.as_bytes()),
            KeywordKind::MediaIpType => out.push(if cfg.media_ipv6 { b'6' } else { b'4' }),
            KeywordKind::MediaPort => num(out, cfg.media_port as i64 + off),
            KeywordKind::AutoMediaPort => num(
                out,
                cfg.media_port as i64 + ((4 * (self.number as i64 - 1)) % 10_000) + off,
            ),
            _ => {}
        }
    }

    /// This call's own values (`[call_number]`, `[call_id]`, `[cseq]`,
    /// `[branch]`, `[msg_index]`, `[pid]`, `[peer_tag_param]`, `[users]`,
    /// `[userid]`).
    fn call_keyword(&self, kind: &KeywordKind, off: i64, index: Index, out: &mut Vec<u8>) {
        let cfg = &*self.cfg;
        match kind {
            KeywordKind::CallNumber => num(out, self.number as i64),
            KeywordKind::CallId => out.extend_from_slice(&self.call_id),
            KeywordKind::Cseq => num(out, self.cseq as i64 + off),
            KeywordKind::Branch => {
                let idx: i64 = match index {
                    Index::At(i) => i as i64,
                    Index::Default => -1,
                    Index::Previous => self.msg_index as i64 - 1,
                };
                out.extend_from_slice(b"z9hG4bK-");
                num(out, cfg.pid as i64);
                out.push(b'-');
                num(out, self.number as i64);
                out.push(b'-');
                num(out, idx + off);
            }
            KeywordKind::MsgIndex => num(
                out,
                match index {
                    Index::At(i) => i as i64,
                    Index::Default => -1,
                    Index::Previous => -2,
                },
            ),
            KeywordKind::Pid => num(out, cfg.pid as i64),
            KeywordKind::PeerTagParam => {
                if let Some(tag) = &self.peer_tag {
                    out.extend_from_slice(b";tag=");
                    out.extend_from_slice(tag);
                }
            }
            KeywordKind::Users => num(out, cfg.users as i64),
            KeywordKind::Userid => num(out, self.user_id as i64),
            _ => {}
        }
    }

    /// What the last received message says (`[last_cseq_number]`,
    /// `[last_Header]`, `[last_Request_URI]`, `[last_message]`).
    fn last_message_keyword(
        &self,
        kind: &KeywordKind,
        off: i64,
        last: &mut LastHeaders<'_>,
        pending: &mut Pending<'_>,
        out: &mut Vec<u8>,
    ) {
        match kind {
            KeywordKind::LastCseqNumber => {
                let n = last.get(b"CSeq:").get(5..).map_or(0, leading_integer);
                num(out, n + off);
            }
            KeywordKind::LastHeader { name, .. } => {
                // The name with its colon, on the stack when it fits.
                let name = name.as_bytes();
                let mut stack = [0u8; 64];
                let owned;
                let n: &[u8] = if name.last() == Some(&b':') {
                    name
                } else if name.len() < stack.len() {
                    stack[..name.len()].copy_from_slice(name);
                    stack[name.len()] = b':';
                    &stack[..=name.len()]
                } else {
                    owned = [name, b":"].concat();
                    &owned
                };
                out.extend_from_slice(last.get(n));
                pending.after_value(out);
            }
            KeywordKind::LastRequestUri => {
                let to = last.get(b"To:");
                if let (Some(a), Some(b)) = (memchr::memchr(b'<', to), memchr::memchr(b'>', to))
                    && b > a
                {
                    out.extend_from_slice(&to[a + 1..b]);
                }
            }
            KeywordKind::LastMessage => out.extend_from_slice(&self.last_recv),
            _ => {}
        }
    }

    /// Values from the injection files, files and variables (`[fieldN]`,
    /// `[file]`, `[$var]`, `[fill]`).
    fn data_keyword(
        &self,
        kind: &KeywordKind,
        env: &Env<'_>,
        pending: &mut Pending<'_>,
        out: &mut Vec<u8>,
    ) {
        match kind {
            KeywordKind::Field { n, file, line } => {
                let line_no = line.as_ref().and_then(|t| {
                    let mut b = Vec::new();
                    self.render(t, Index::Previous, env, &mut b);
                    std::str::from_utf8(&b)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                        .map(|f| f as i64)
                });
                if let Some(v) = self.cfg.field(file.as_deref(), self.inj_line, line_no, *n) {
                    out.extend_from_slice(v.as_bytes());
                }
                pending.after_value(out);
            }
            KeywordKind::File(bytes) => out.extend_from_slice(bytes),
            KeywordKind::Var(id) => {
                match self.var(*id, env) {
                    Value::Unset => {}
                    Value::Str(s) => out.extend_from_slice(s),
                    Value::Double(d) => {
                        if *d != 0.0 {
                            use std::io::Write as _;
                            let _ = write!(out, "{d:.6}");
                        }
                    }
                    Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                }
                pending.after_value(out);
            }
            KeywordKind::Fill { var, text } => {
                let n = match self.var(*var, env) {
                    Value::Double(d) if *d > 0.0 => (*d as usize).min(self.cfg.max_message),
                    _ => 0,
                };
                let t = text.as_bytes();
                if !t.is_empty() {
                    out.extend((0..n).map(|i| t[i % t.len()]));
                }
            }
            _ => {}
        }
    }

    /// The `Authorization:`/`Proxy-Authorization:` header line for the
    /// request rendered in `out` (SIPp's `createSendingMessage`, end), to
    /// go at `at` (the body is after the end of the headers that follows).
    fn authorization(
        &self,
        out: &[u8],
        at: usize,
        username: Option<&Template>,
        password: Option<&Template>,
        env: &Env<'_>,
    ) -> Result<String, String> {
        let Some((challenge, code)) = &self.challenge else {
            return Err("Authentication keyword without dialog_authentication!".into());
        };
        let cfg = &*self.cfg;
        let param = |t: Option<&Template>, default: &str| match t {
            Some(t) => {
                let mut b = Vec::new();
                self.render(t, Index::Previous, env, &mut b);
                b
            }
            None => default.as_bytes().to_vec(),
        };
        let user = param(
            username,
            cfg.auth_username.as_deref().unwrap_or(&cfg.service),
        );
        let pass = param(password, &cfg.auth_password);
        let method = match out.iter().position(|&b| b == b' ') {
            Some(sp) if !out.starts_with(b"SIP/2.0") => &out[..sp],
            _ => return Err("createAuthHeader: authentication requires a method".into()),
        };
        let uri = match &cfg.auth_uri {
            Some(u) => u.clone(),
            None => format!(
                "{}:{}",
                cfg.remote_ip.trim_start_matches('[').trim_end_matches(']'),
                cfg.remote_port
            ),
        };
        let body = sipmsg::body(&out[at.min(out.len())..]).unwrap_or_default();
        let body = &body[..memchr::memchr(0, body).unwrap_or(body.len())];
        let nc = self.next_nonce_count.get();
        self.next_nonce_count.set(nc.wrapping_add(1));
        // SIPp's cnonce is `rand()`; any unpredictable-enough value does.
        let cnonce = (self.number.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ env
                .wall
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(nc))
        .wrapping_mul(0xBF58_476D_1CE4_E5B9)
            >> 33;
        let value = super::auth::authorization(
            challenge,
            &super::auth::Credentials {
                user: &user,
                password: &pass,
                method,
                uri: uri.as_bytes(),
                body,
                nonce_count: nc,
                cnonce: cnonce as u32,
            },
        )?;
        let name = if *code == 401 {
            "Authorization: "
        } else {
            "Proxy-Authorization: "
        };
        Ok(format!("{name}{value}"))
    }
}

/// `[len]`: the body's length (from the first empty line) written
/// right-aligned in the five columns at `at`, as SIPp's `%5u` (wider
/// numbers push the rest along).
fn fill_len(out: &mut Vec<u8>, at: usize, off: i64) {
    let len = match sipmsg::CRLF2.find(out) {
        Some(b) if out.len() - b > 4 => (out.len() - b - 4) as i64 + off,
        _ => 0,
    };
    let mut digits = itoa::Buffer::new();
    let s = digits.format(len.max(0) as u64).as_bytes();
    match 5usize.checked_sub(s.len()) {
        Some(pad) => out[at + pad..at + 5].copy_from_slice(s),
        None => drop(out.splice(at..at + 5, s.iter().copied())),
    }
}

/// SIPp's `atol` of a CSeq value: an optional sign and the leading
/// digits (saturating), after leading whitespace.
fn leading_integer(v: &[u8]) -> i64 {
    let v = &v[v.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let (neg, v) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let mut n: i64 = 0;
    for &d in v.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add((d - b'0') as i64);
    }
    if neg { -n } else { n }
}

/// A decimal number, as SIPp's `%d` writes it.
fn num(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}
