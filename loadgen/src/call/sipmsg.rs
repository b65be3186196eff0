//! SIPp's own reading of received messages (`src/sip_parser.cpp` and
//! `src/call.cpp` in SIPp 3.6.1), ported so that `[last_*]`, peer tags,
//! CSeq and route-set handling produce byte-for-byte what SIPp produces.
//!
//! SIPp reads messages as text with case-insensitive substring searches,
//! not with a SIP grammar; scenarios depend on its quirks (a second `Via`
//! joined with `", "`, compact forms tried only when the long form is
//! absent), so these helpers follow it rather than `trunkline-parser`.
//! Every function is bounded by the message length: no panics, no
//! quadratic scans on what a peer sends beyond what a line search needs.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// A substring searcher built once: `memmem::find` builds one (its
/// prefilter set-up included) on every call, which cost more than the
/// search itself on these short messages.
pub(crate) type Needle = LazyLock<Finder<'static>>;

macro_rules! needle {
    ($s:expr) => {
        LazyLock::new(|| Finder::new($s))
    };
}

/// The empty line that ends the headers.
pub(crate) static CRLF2: Needle = needle!(b"\r\n\r\n");
/// What every SIP message holds (SIPp's first check of a datagram).
pub(crate) static SIP_2_0: Needle = needle!(b"SIP/2.0");
static TRIPLE_SLASH: Needle = needle!(b"///");
static CSEQ: Needle = needle!(b"CSeq");
static CSEQ_FORMS: [Needle; 4] = [
    needle!(b"\r\nCSeq:"),
    needle!(b"\r\nCSEQ:"),
    needle!(b"\r\ncseq:"),
    needle!(b"\r\nCseq:"),
];

/// The header block: up to the first empty line (`\r\n\r\n`), or all.
pub(crate) fn header_block(msg: &[u8]) -> &[u8] {
    match CRLF2.find(msg) {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// The body: after the first `\r\n\r\n`, if any.
pub(crate) fn body(msg: &[u8]) -> Option<&[u8]> {
    CRLF2.find(msg).map(|i| &msg[i + 4..])
}

/// Case-insensitive search of `needle` in `hay` from `from`.
fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first_lo = needle[0].to_ascii_lowercase();
    let first_up = needle[0].to_ascii_uppercase();
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let rest = &hay[i..hay.len() - needle.len() + 1];
        let p = memchr::memchr2(first_lo, first_up, rest)?;
        let at = i + p;
        if hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// The compact form SIPp retries when a long name is absent.
fn short_form(name_with_colon: &[u8]) -> Option<&'static [u8]> {
    const PAIRS: [(&[u8], &[u8]); 8] = [
        (b"call-id:", b"i:"),
        (b"contact:", b"m:"),
        (b"content-encoding:", b"e:"),
        (b"content-length:", b"l:"),
        (b"content-type:", b"c:"),
        (b"from:", b"f:"),
        (b"to:", b"t:"),
        (b"via:", b"v:"),
    ];
    PAIRS
        .iter()
        .find(|(long, _)| long.eq_ignore_ascii_case(name_with_colon))
        .map(|(_, s)| *s)
}

/// The LFs of a message's header block, found once and searched by every
/// `[last_*]` keyword of a message being rendered (a uas answer holds five
/// or so, each of which would otherwise rescan the whole block).
#[derive(Debug, Default)]
pub(crate) struct HeaderLines {
    lfs: Vec<u32>,
}

impl HeaderLines {
    /// Indexes `msg`'s header block (see [`header_block`]) and returns it.
    pub(crate) fn index<'m>(&mut self, msg: &'m [u8]) -> &'m [u8] {
        let block = header_block(msg);
        self.lfs.clear();
        self.lfs
            .extend(memchr::memchr_iter(b'\n', block).map(|p| p as u32));
        block
    }

    /// [`get_header`] on the block last given to [`HeaderLines::index`].
    pub(crate) fn get_header(&self, block: &[u8], name: &[u8], content: bool, out: &mut Vec<u8>) {
        collect_header(
            block,
            || self.lfs.iter().map(|&p| p as usize),
            name,
            content,
            out,
        );
    }
}

/// Whether `name` (case-insensitive) follows the LF at `at` in `block`.
fn line_starts_with(block: &[u8], at: usize, name: &[u8]) -> bool {
    block
        .get(at + 1..at + 1 + name.len())
        .is_some_and(|n| n.eq_ignore_ascii_case(name))
}

/// Whether [`get_header`] would find `name` (which ends in `:`), in its
/// long or its compact form: what it tests without copying anything.
pub(crate) fn has_header(msg: &[u8], name: &[u8]) -> bool {
    if !name.contains(&b':') {
        return false;
    }
    let block = header_block(msg);
    let found =
        |n: &[u8]| memchr::memchr_iter(b'\n', block).any(|at| line_starts_with(block, at, n));
    found(name) || short_form(name).is_some_and(found)
}

/// SIPp's `get_header(msg, name, content)`: every line of the header block
/// that starts (after a LF) with `name` (which ends in `:`), joined with
/// `", "`. With `content == false` the first occurrence keeps its name
/// (`[last_Via:]` gives `Via: a, b`); later ones contribute their values.
/// Folded continuation lines are kept, with the CR before the fold
/// removed. Empty when absent (after trying the compact form). Written
/// into `out` without any other allocation: it runs for every `[last_*]`
/// keyword of every message a scenario sends.
pub(crate) fn get_header(msg: &[u8], name: &[u8], content: bool, out: &mut Vec<u8>) {
    let block = header_block(msg);
    collect_header(
        block,
        || memchr::memchr_iter(b'\n', block),
        name,
        content,
        out,
    );
}

/// [`get_header`] over the header block `block` whose LFs, in order,
/// `lfs()` yields.
fn collect_header<I: Iterator<Item = usize>>(
    block: &[u8],
    lfs: impl Fn() -> I,
    name: &[u8],
    content: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    if block.is_empty() || !name.contains(&b':') {
        return;
    }
    let mut name: &[u8] = name;
    let mut tried_short = false;
    let mut first_time = true;
    loop {
        for at in lfs() {
            if !line_starts_with(block, at, name) {
                continue;
            }
            let mut src = at;
            if content || !first_time {
                src += name.len() + 1;
                while block.get(src) == Some(&b' ') {
                    src += 1;
                }
            } else {
                src += 1;
            }
            first_time = false;
            // The line, continued over folds (LF followed by SP/HT).
            let mut end = src;
            loop {
                match memchr::memchr(b'\n', &block[end.min(block.len())..]) {
                    Some(p) => {
                        let nl = end + p;
                        if matches!(block.get(nl + 1), Some(b' ' | b'\t')) {
                            end = nl + 1;
                            continue;
                        }
                        end = nl;
                        break;
                    }
                    None => {
                        end = block.len();
                        break;
                    }
                }
            }
            if !out.is_empty() {
                while matches!(out.last(), Some(b' ' | b'\r' | b'\n' | b'\t')) {
                    out.pop();
                }
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(&block[src.min(end)..end]);
        }
        if !out.is_empty() {
            break;
        }
        if tried_short {
            return;
        }
        tried_short = true;
        match short_form(name) {
            Some(s) => name = s,
            None => return,
        }
    }
    // Trailing SP, CR, HT; leading SP.
    while matches!(out.last(), Some(b' ' | b'\r' | b'\t')) {
        out.pop();
    }
    let lead = out.iter().take_while(|&&b| b == b' ').count();
    out.drain(..lead);
    // A CR before a fold goes; so do doubled CRs and LFs. Compacted in
    // place: the write index never passes the read index, and the bytes
    // looked at ahead of the read index are still the original ones. Only
    // folded lines leave a CR or LF in `out`.
    if memchr::memchr2(b'\r', b'\n', out).is_none() {
        return;
    }
    let mut w = 0;
    for i in 0..out.len() {
        let b = out[i];
        if b == b'\r'
            && out.get(i + 1) == Some(&b'\n')
            && matches!(out.get(i + 2), Some(b' ' | b'\r' | b'\t'))
        {
            continue;
        }
        if (b == b'\r' || b == b'\n') && w > 0 && out[w - 1] == b {
            continue;
        }
        out[w] = b;
        w += 1;
    }
    out.truncate(w);
}

/// `get_header_content(msg, name)` into a fresh vector.
pub(crate) fn header_content(msg: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    get_header(msg, name, true, &mut v);
    v
}

/// SIPp's `internal_find_header`: the start of the value of the first
/// header line named `name` (or `short`), LWS skipped.
fn find_header_value<'a>(msg: &'a [u8], name: &[u8], short: Option<&[u8]>) -> Option<&'a [u8]> {
    let block = header_block(msg);
    let mut pos = 0;
    while pos < block.len() {
        let line_end = memchr::memchr(b'\n', &block[pos..]).map_or(block.len(), |p| pos + p);
        let line = &block[pos..line_end];
        for cand in [Some(name), short].into_iter().flatten() {
            if line.len() >= cand.len() && line[..cand.len()].eq_ignore_ascii_case(cand) {
                let mut t = cand.len();
                while matches!(line.get(t), Some(b' ' | b'\t')) {
                    t += 1;
                }
                if line.get(t) == Some(&b':') {
                    let mut v = pos + t + 1;
                    while matches!(block.get(v), Some(b' ' | b'\t')) {
                        v += 1;
                    }
                    return Some(&block[v.min(block.len())..]);
                }
            }
        }
        pos = line_end + 1;
    }
    None
}

/// The value of a header up to its logical end (CRLF not followed by a
/// fold).
fn value_to_end(v: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\r'
            && v.get(i + 1) == Some(&b'\n')
            && !matches!(v.get(i + 2), Some(b' ' | b'\t'))
        {
            return &v[..i];
        }
        if v[i] == b'\n' && !matches!(v.get(i + 1), Some(b' ' | b'\t')) {
            return &v[..i];
        }
        i += 1;
    }
    v
}

/// The Call-ID (`Call-ID:` or `i:`), as SIPp reads it.
#[allow(dead_code)] // for the runtime (not yet on main)
pub(crate) fn call_id(msg: &[u8]) -> Option<&[u8]> {
    let v = find_header_value(msg, b"Call-ID", Some(b"i"))?;
    let v = value_to_end(v);
    let mut end = v.len();
    while end > 0 && matches!(v[end - 1], b' ' | b'\t' | b'\r') {
        end -= 1;
    }
    (end > 0).then(|| &v[..end])
}

/// The part of a Call-ID that calls are matched on: after `///` if any
/// (SIPp's 3PCC prefix convention).
#[allow(dead_code)] // for the runtime (not yet on main)
pub(crate) fn call_id_key(id: &[u8]) -> &[u8] {
    match TRIPLE_SLASH.find(id) {
        Some(i) => &id[i + 3..],
        None => id,
    }
}

/// The To tag of a response (`get_peer_tag`).
pub(crate) fn peer_tag(msg: &[u8]) -> Option<&[u8]> {
    let v = value_to_end(find_header_value(msg, b"To", Some(b"t"))?);
    let from = memchr::memchr(b'>', v).unwrap_or(0);
    let rest = &v[from..];
    let at = find_ci(rest, b"tag=", 0)?;
    // SIPp's internal_find_param wants the name after ';' or LWS.
    let before = rest[..at].iter().rev().find(|&&b| b != b' ' && b != b'\t');
    if before != Some(&b';') {
        return None;
    }
    let tag = &rest[at + 4..];
    let end = tag
        .iter()
        .position(|&b| matches!(b, b' ' | b';' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(tag.len());
    Some(&tag[..end])
}

/// `get_reply_code`: the number after the first SP/HT.
pub(crate) fn reply_code(msg: &[u8]) -> u32 {
    let mut i = 0;
    while i < msg.len() && msg[i] != b' ' && msg[i] != b'\t' {
        i += 1;
    }
    while i < msg.len() && (msg[i] == b' ' || msg[i] == b'\t') {
        i += 1;
    }
    let mut v: u32 = 0;
    while i < msg.len() && msg[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((msg[i] - b'0') as u32);
        i += 1;
    }
    v
}

/// `get_cseq_value`: the CSeq number (0 when absent).
pub(crate) fn cseq_value(msg: &[u8]) -> u64 {
    let Some(at) = CSEQ_FORMS.iter().find_map(|p| p.find(msg)) else {
        return 0;
    };
    let mut i = at + 7;
    while i < msg.len() && (msg[i] == b' ' || msg[i] == b'\t') {
        i += 1;
    }
    let mut v: u64 = 0;
    while i < msg.len() && msg[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((msg[i] - b'0') as u64);
        i += 1;
    }
    v
}

/// `extract_cseq_method`: the method of the first `CSeq` (case-sensitive
/// search, as SIPp).
pub(crate) fn cseq_method(msg: &[u8]) -> &[u8] {
    let Some(at) = CSEQ.find(msg) else {
        return b"";
    };
    let Some(colon) = memchr::memchr(b':', &msg[at..]).map(|p| at + p + 1) else {
        return b"";
    };
    let sp = |b: u8| b.is_ascii_whitespace();
    let mut i = colon;
    while i < msg.len() && sp(msg[i]) {
        i += 1;
    }
    while i < msg.len() && !sp(msg[i]) {
        i += 1;
    }
    while i < msg.len() && sp(msg[i]) {
        i += 1;
    }
    let start = i;
    while i < msg.len() && msg[i] != b'\r' && msg[i] != b'\n' {
        i += 1;
    }
    &msg[start..i]
}

/// `extract_transaction`: the branch of the first Via.
pub(crate) fn top_branch(msg: &[u8]) -> Vec<u8> {
    let via = header_content(msg, b"via:");
    let Some(at) = memchr::memmem::find(&via, b";branch=") else {
        return Vec::new();
    };
    via[at + 8..]
        .iter()
        .take_while(|&&b| b != b';' && b != b',' && !b.is_ascii_whitespace())
        .copied()
        .collect()
}

/// `formatNextReqUrl`: the URI inside `<...>` of a Contact, or the value.
pub(crate) fn next_req_url(contact: &[u8]) -> Vec<u8> {
    let c = {
        let lead = contact
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        &contact[lead..]
    };
    if let Some(rest) = c.strip_prefix(b"<") {
        match memchr::memchr(b'>', rest) {
            Some(e) => rest[..e].to_vec(),
            None => Vec::new(),
        }
    } else {
        c.to_vec()
    }
}

/// `computeRouteSetAndRemoteTargetUri`: the route set (`Route:` value,
/// `", "`-joined) and the remote target from the Record-Route and Contact
/// of the message that had `rrs="true"`. A UAC (the message was a
/// response) reverses the Record-Route order; a strict first hop becomes
/// the target and the Contact is appended as the last route.
pub(crate) fn route_set_and_target(
    rr: &[u8],
    contact: &[u8],
    request_incoming: bool,
) -> Option<(Option<Vec<u8>>, Vec<u8>)> {
    if contact.is_empty() {
        return None;
    }
    if rr.is_empty() {
        return Some((None, next_req_url(contact)));
    }
    let mut headers: Vec<&[u8]> = rr.split(|&b| b == b',').collect();
    if !request_incoming {
        headers.reverse();
    }
    let trim = |s: &[u8]| -> Vec<u8> {
        let a = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let b = s
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        s[a..s.len().saturating_sub(b).max(a)].to_vec()
    };
    let mut routes: Vec<Vec<u8>> = Vec::new();
    let mut target: Option<Vec<u8>> = None;
    let mut first = true;
    for h in headers {
        if first && memchr::memmem::find(h, b";lr").is_none() {
            target = Some(h.to_vec());
        } else {
            first = false;
            routes.push(trim(h));
        }
    }
    let target = match target {
        Some(t) => {
            routes.push(trim(contact));
            t
        }
        None => contact.to_vec(),
    };
    let set = (!routes.is_empty()).then(|| routes.join(&b", "[..]));
    Some((set, next_req_url(&target)))
}

/// SIPp's `extractSubMessage` for `ereg search_in="hdr"`: the rest of the
/// line after the `occurrence`-th match of `header`.
pub(crate) fn sub_message<'a>(
    msg: &'a [u8],
    header: &[u8],
    case_indep: bool,
    occurrence: usize,
    start_line: bool,
) -> &'a [u8] {
    if header.is_empty() {
        return b"";
    }
    let mut occurrence = occurrence;
    let mut ptr = 0usize;
    let found = loop {
        if ptr >= msg.len() {
            break None;
        }
        let at = if case_indep {
            if start_line && ptr != 0 {
                match memchr::memchr(b'\n', &msg[ptr..]) {
                    Some(p) => ptr += p + 1,
                    None => break None,
                }
                if ptr >= msg.len() {
                    break None;
                }
                if msg.len() - ptr >= header.len()
                    && msg[ptr..ptr + header.len()].eq_ignore_ascii_case(header)
                {
                    ptr
                } else {
                    ptr += 1;
                    continue;
                }
            } else {
                match find_ci(msg, header, ptr) {
                    Some(a) => a,
                    None => break None,
                }
            }
        } else {
            match memchr::memmem::find(&msg[ptr..], header) {
                Some(p) => {
                    let a = ptr + p;
                    if start_line && a != 0 && msg[a - 1] != b'\n' {
                        ptr = a + 1;
                        continue;
                    }
                    a
                }
                None => break None,
            }
        };
        if occurrence <= 1 {
            break Some(at);
        }
        occurrence -= 1;
        ptr = at + 1;
    };
    match found {
        Some(at) => {
            let rest = &msg[at + header.len()..];
            let end = rest
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .unwrap_or(rest.len());
            &rest[..end]
        }
        None => b"",
    }
}

/// SIPp's `-rtcheck loose` hash (`call::hash`, after RFC 2543 §11.5):
/// the contents of To, From, Call-ID and CSeq and, for a response, its
/// status line after `SIP/2.0` and its body, so a retransmission that a
/// middlebox rewrote elsewhere (a Via, a Record-Route) is still one.
pub(crate) fn msg_hash_loose(msg: &[u8]) -> u64 {
    let mut key = Vec::with_capacity(256);
    let mut part = Vec::new();
    for name in [&b"To:"[..], b"From:", b"Call-ID:", b"CSeq:"] {
        get_header(msg, name, true, &mut part);
        key.extend_from_slice(&part);
        key.push(0);
    }
    if let Some(rest) = msg.strip_prefix(b"SIP/2.0") {
        let end = memchr::memchr2(b'\r', 0, rest).unwrap_or(rest.len());
        key.extend_from_slice(&rest[..end]);
        key.push(0);
        if let Some(body) = body(msg) {
            // SIPp hashes the body as a C string: up to a NUL.
            let end = memchr::memchr(0, body).unwrap_or(body.len());
            key.extend_from_slice(&body[..end]);
        }
    }
    msg_hash(&key)
}

/// A 64-bit hash of a whole message, for SIPp's retransmission detection
/// (any good hash does: only equality matters).
pub(crate) fn msg_hash(msg: &[u8]) -> u64 {
    // FNV-1a over 8-byte words, then a final mix: cheap and adequate for
    // telling a retransmission from a new message of the same call.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ msg.len() as u64;
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SIPp's `get_header` as first ported (a pattern and a clean-up vector
    /// allocated per call): the reference the allocation-free one must equal.
    fn reference_get_header(msg: &[u8], name: &[u8], content: bool, out: &mut Vec<u8>) {
        out.clear();
        if msg.is_empty() || !name.contains(&b':') {
            return;
        }
        let block = header_block(msg);
        let mut name: &[u8] = name;
        let mut tried_short = false;
        let mut first_time = true;
        let mut pat = Vec::with_capacity(name.len() + 1);
        loop {
            pat.clear();
            pat.push(b'\n');
            pat.extend_from_slice(name);
            let mut from = 0;
            while let Some(at) = find_ci(block, &pat, from) {
                let mut src = at;
                if content || !first_time {
                    src += name.len() + 1;
                    while block.get(src) == Some(&b' ') {
                        src += 1;
                    }
                } else {
                    src += 1;
                }
                first_time = false;
                // The line, continued over folds (LF followed by SP/HT).
                let mut end = src;
                loop {
                    match memchr::memchr(b'\n', &block[end.min(block.len())..]) {
                        Some(p) => {
                            let nl = end + p;
                            if matches!(block.get(nl + 1), Some(b' ' | b'\t')) {
                                end = nl + 1;
                                continue;
                            }
                            end = nl;
                            break;
                        }
                        None => {
                            end = block.len();
                            break;
                        }
                    }
                }
                if !out.is_empty() {
                    while matches!(out.last(), Some(b' ' | b'\r' | b'\n' | b'\t')) {
                        out.pop();
                    }
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(&block[src.min(end)..end]);
                from = at + 1;
            }
            if !out.is_empty() {
                break;
            }
            if tried_short {
                return;
            }
            tried_short = true;
            match short_form(name) {
                Some(s) => name = s,
                None => return,
            }
        }
        // Trailing SP, CR, HT; leading SP.
        while matches!(out.last(), Some(b' ' | b'\r' | b'\t')) {
            out.pop();
        }
        let lead = out.iter().take_while(|&&b| b == b' ').count();
        out.drain(..lead);
        // A CR before a fold goes; so do doubled CRs and LFs.
        let mut cleaned = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            let b = out[i];
            if b == b'\r'
                && out.get(i + 1) == Some(&b'\n')
                && matches!(out.get(i + 2), Some(b' ' | b'\r' | b'\t'))
            {
                i += 1;
                continue;
            }
            if (b == b'\r' || b == b'\n') && cleaned.last() == Some(&b) {
                i += 1;
                continue;
            }
            cleaned.push(b);
            i += 1;
        }
        *out = cleaned;
    }

    #[test]
    fn loose_hash_sees_through_rewritten_vias() {
        let resp = |via: &str, status: &str, body: &str| {
            format!(
                "SIP/2.0 {status}\r\nVia: {via}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\n\
                 Call-ID: x@h\r\nCSeq: 1 INVITE\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        };
        let a = resp("SIP/2.0/UDP p1;branch=z9hG4bK1", "200 OK", "v=0");
        let b = resp("SIP/2.0/UDP p2;branch=z9hG4bK2", "200 OK", "v=0");
        assert_ne!(msg_hash(&a), msg_hash(&b));
        assert_eq!(msg_hash_loose(&a), msg_hash_loose(&b));
        // A different status line or body is a different response.
        let c = resp("SIP/2.0/UDP p1;branch=z9hG4bK1", "183 Progress", "v=0");
        let d = resp("SIP/2.0/UDP p1;branch=z9hG4bK1", "200 OK", "v=1");
        assert_ne!(msg_hash_loose(&a), msg_hash_loose(&c));
        assert_ne!(msg_hash_loose(&a), msg_hash_loose(&d));
        // Requests: To, From, Call-ID and CSeq only (RFC 2543 §11.5).
        let req = |ruri: &str, cseq: &str| {
            format!(
                "BYE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@h>;tag=1\r\n\
                 To: <sip:b@h>;tag=2\r\ni: x@h\r\nCSeq: {cseq}\r\n\r\n"
            )
            .into_bytes()
        };
        assert_eq!(
            msg_hash_loose(&req("sip:b@h", "2 BYE")),
            msg_hash_loose(&req("sip:b@other", "2 BYE"))
        );
        assert_ne!(
            msg_hash_loose(&req("sip:b@h", "2 BYE")),
            msg_hash_loose(&req("sip:b@h", "3 BYE"))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        #[test]
        fn get_header_equals_the_reference(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "Via", "v", "VIA", "To", "t", "to", "From", "f", "Call-ID", "i",
                        "CSeq", "X-To", "Contact", "m", " To", "",
                    ]),
                    proptest::sample::select(vec![":", " :", ": ", ":  ", "	:", ""]),
                    "[ a-z;=<>@:.\\r\\n\\t]{0,24}",
                    proptest::sample::select(vec!["\r\n", "\n", "\r\n ", "\r\n\t", "\r\r\n", ""]),
                ),
                0..8,
            ),
            body in proptest::sample::select(vec!["", "\r\n", "\r\nv=0\r\nTo: x\r\n"]),
            name in proptest::sample::select(vec![
                "Via:", "To:", "to:", "From:", "Call-ID:", "CSeq:", "Contact:", "X:", "t:", "Via",
            ]),
            content: bool,
        ) {
            let mut msg = b"SIP/2.0 200 OK\r\n".to_vec();
            for (n, sep, v, end) in &lines {
                msg.extend_from_slice(n.as_bytes());
                msg.extend_from_slice(sep.as_bytes());
                msg.extend_from_slice(v.as_bytes());
                msg.extend_from_slice(end.as_bytes());
            }
            msg.extend_from_slice(body.as_bytes());
            let (mut a, mut b) = (Vec::new(), vec![1, 2, 3]);
            reference_get_header(&msg, name.as_bytes(), content, &mut a);
            get_header(&msg, name.as_bytes(), content, &mut b);
            proptest::prop_assert_eq!(&a, &b);
            let mut lines = HeaderLines::default();
            let block = lines.index(&msg);
            lines.get_header(block, name.as_bytes(), content, &mut b);
            proptest::prop_assert_eq!(&a, &b);
            reference_get_header(&msg, name.as_bytes(), false, &mut a);
            proptest::prop_assert_eq!(has_header(&msg, name.as_bytes()), !a.is_empty());
        }
    }

    const RESP: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;received=10.0.0.1\r\n\
v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-2\r\n\
Via: SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-3\r\n\
From: sipp <sip:sipp@10.0.0.1>;tag=abc\r\n\
To: service <sip:service@10.0.0.9>;tag=xyz;foo\r\n\
Call-ID: 7-1234@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\n\
Contact: <sip:uas@10.0.0.9:5070;transport=UDP>\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn last_via_joins_long_forms_and_drops_compact_ones() {
        let mut out = Vec::new();
        get_header(RESP, b"Via:", false, &mut out);
        assert_eq!(
            out,
            b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;received=10.0.0.1, SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-3"
        );
        get_header(RESP, b"Subject:", false, &mut out);
        assert!(out.is_empty());
        get_header(b"SIP/2.0 200 OK\r\nv: a\r\n\r\n", b"Via:", false, &mut out);
        assert_eq!(out, b"v: a");
    }

    #[test]
    fn folded_header_keeps_its_fold_without_the_cr() {
        let m = b"INVITE x SIP/2.0\r\nSubject: a\r\n b\r\nTo: t\r\n\r\n";
        let mut out = Vec::new();
        get_header(m, b"Subject:", false, &mut out);
        assert_eq!(out, b"Subject: a\n b");
    }

    #[test]
    fn ids_tags_codes_and_cseq() {
        assert_eq!(call_id(RESP), Some(&b"7-1234@10.0.0.1"[..]));
        assert_eq!(call_id_key(b"a///b"), b"b");
        assert_eq!(peer_tag(RESP), Some(&b"xyz"[..]));
        assert_eq!(reply_code(RESP), 200);
        assert_eq!(cseq_value(RESP), 1);
        assert_eq!(cseq_method(RESP), b"INVITE");
        assert_eq!(top_branch(RESP), b"z9hG4bK-1");
        assert_eq!(peer_tag(b"SIP/2.0 180 R\r\nTo: <sip:a>\r\n\r\n"), None);
    }

    #[test]
    fn route_set_of_a_uac_is_reversed_and_target_is_the_contact() {
        let rr = header_content(RESP, b"Record-Route:");
        let contact = header_content(RESP, b"Contact:");
        let (set, target) = route_set_and_target(&rr, &contact, false).unwrap();
        assert_eq!(set.unwrap(), b"<sip:p2;lr>, <sip:p1;lr>");
        assert_eq!(target, b"sip:uas@10.0.0.9:5070;transport=UDP");
        let (set, _) = route_set_and_target(&rr, &contact, true).unwrap();
        assert_eq!(set.unwrap(), b"<sip:p1;lr>, <sip:p2;lr>");
        // A strict router first: it is the target, the Contact goes last.
        let (set, target) = route_set_and_target(b"<sip:strict>", b"<sip:c>", true).unwrap();
        assert_eq!(set.unwrap(), b"<sip:c>");
        assert_eq!(target, b"sip:strict");
    }

    #[test]
    fn ereg_header_search() {
        let m = b"INVITE x SIP/2.0\r\nFrom: ua25 <sip:a>\r\nTo: ua2\r\n\r\n";
        assert_eq!(sub_message(m, b"From: ", false, 1, false), b"ua25 <sip:a>");
        assert_eq!(sub_message(m, b"from: ", true, 1, true), b"ua25 <sip:a>");
        assert_eq!(sub_message(m, b"Nope: ", false, 1, false), b"");
        assert_eq!(sub_message(m, b"ua2", false, 2, false), b"");
    }

    #[test]
    fn helpers_never_panic_on_junk() {
        let junk: &[&[u8]] = &[
            b"",
            b"\r\n",
            b"SIP/2.0",
            b"To:",
            b"\nTo:\n",
            b"CSeq",
            b"CSeq:",
            b"x\r\nCall-ID:\r\n",
        ];
        let mut out = Vec::new();
        for m in junk {
            get_header(m, b"To:", false, &mut out);
            let _ = (call_id(m), peer_tag(m), reply_code(m), cseq_value(m));
            let _ = (
                cseq_method(m),
                top_branch(m),
                sub_message(m, b"To", true, 3, true),
            );
        }
    }
}
