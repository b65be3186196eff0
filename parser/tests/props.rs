//! Property tests: hostile bytes never make the parser panic, a no-op edit
//! writes a message back byte for byte, and the proxy's edits and the
//! response builder produce messages that parse and validate again.
//!
//! The per-message checks are the fuzz target's (`fuzz/src/lib.rs`,
//! included below); the seeds are the realistic messages in
//! `tests/fuzz_corpus/seed-*.sip`.

use proptest::prelude::*;
use proptest::sample::{Index, select};
use trunkline_parser::values::CommaValues;
use trunkline_parser::{
    CSeq, Credentials, Edits, ErrorKind, HeaderName, LocalCtx, LocalPart, Message, NameAddr,
    Parser, Piece, ResponseSpec, Uri, Via, validate, write_response,
};

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod checks;

/// Realistic messages, each of which validates.
const SEEDS: &[(&str, &[u8])] = &[
    (
        "invite-sdp",
        include_bytes!("fuzz_corpus/seed-invite-sdp.sip"),
    ),
    (
        "register-digest",
        include_bytes!("fuzz_corpus/seed-register-digest.sip"),
    ),
    (
        "180-ringing",
        include_bytes!("fuzz_corpus/seed-180-ringing.sip"),
    ),
    (
        "200-ok-sdp",
        include_bytes!("fuzz_corpus/seed-200-ok-sdp.sip"),
    ),
    ("ack", include_bytes!("fuzz_corpus/seed-ack.sip")),
    (
        "bye-compact",
        include_bytes!("fuzz_corpus/seed-bye-compact.sip"),
    ),
    ("cancel", include_bytes!("fuzz_corpus/seed-cancel.sip")),
    (
        "options-lf",
        include_bytes!("fuzz_corpus/seed-options-lf.sip"),
    ),
    (
        "response-many-vias",
        include_bytes!("fuzz_corpus/seed-response-many-vias.sip"),
    ),
    ("folded", include_bytes!("fuzz_corpus/seed-folded.sip")),
];

/// A seed, shown by name in proptest's failure reports.
#[derive(Clone, Copy)]
struct Seed(&'static str, &'static [u8]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed-{}", self.0)
    }
}

fn seed() -> impl Strategy<Value = Seed> {
    select(SEEDS).prop_map(|(n, s)| Seed(n, s))
}

fn request_seed() -> impl Strategy<Value = Seed> {
    let requests: Vec<Seed> = SEEDS
        .iter()
        .filter(|(_, s)| !s.starts_with(b"SIP/"))
        .map(|&(n, s)| Seed(n, s))
        .collect();
    select(requests)
}

/// Bytes that matter to the SIP grammar, to be injected into seeds.
const SPECIAL: &[u8] = b"\r\n \t\0\"<>,;:=@?%[]/\\*";

/// Fragments that matter to the SIP grammar.
const FRAGMENTS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"\r\n ",
    b"\n\t",
    b"\"",
    b"\\\"",
    b"<",
    b">",
    b"<sip:",
    b",",
    b";",
    b";tag=",
    b";branch=z9hG4bK",
    b"Via: SIP/2.0/UDP h\r\n",
    b"Content-Length: 9999\r\n",
    b"l: 0\r\n",
    b"Contact: *\r\n",
    b"CSeq: 1 INVITE\r\n",
    b"To: <sip:x@[::1]>\r\n",
    b"%",
    b"%4",
    b"[",
    b"]",
    b"sip:",
    b"tel:+1",
    b"SIP/2.0 ",
    b"\0",
    b"\x7f\xff",
];

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    InsertSpecial(Index, u8),
    InsertFragment(Index, &'static [u8]),
    Delete(Index, usize),
    DuplicateLine(Index),
    DeleteLine(Index),
    SwapLines(Index, Index),
    Cut(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        3 => (any::<Index>(), select(SPECIAL)).prop_map(|(i, b)| Mutation::InsertSpecial(i, b)),
        3 => (any::<Index>(), select(FRAGMENTS)).prop_map(|(i, f)| Mutation::InsertFragment(i, f)),
        3 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        3 => any::<Index>().prop_map(Mutation::DuplicateLine),
        3 => any::<Index>().prop_map(Mutation::DeleteLine),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => any::<Index>().prop_map(Mutation::Cut),
    ]
}

/// Line ranges (terminator included) of `v`.
fn lines(v: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        if b == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < v.len() {
        out.push((start, v.len()));
    }
    out
}

fn apply(v: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &Index, v: &Vec<u8>| i.index(v.len() + 1);
    match m {
        Mutation::Flip(i, bit) if !v.is_empty() => {
            let k = i.index(v.len());
            v[k] ^= 1 << bit;
        }
        Mutation::Set(i, b) if !v.is_empty() => {
            let k = i.index(v.len());
            v[k] = *b;
        }
        Mutation::InsertSpecial(i, b) => {
            let k = at(i, v);
            v.insert(k, *b);
        }
        Mutation::InsertFragment(i, f) => {
            let k = at(i, v);
            v.splice(k..k, f.iter().copied());
        }
        Mutation::Delete(i, n) if !v.is_empty() => {
            let k = i.index(v.len());
            let end = (k + n).min(v.len());
            v.drain(k..end);
        }
        Mutation::DuplicateLine(i) => {
            let ls = lines(v);
            if !ls.is_empty() {
                let (s, e) = ls[i.index(ls.len())];
                let line = v[s..e].to_vec();
                v.splice(e..e, line);
            }
        }
        Mutation::DeleteLine(i) => {
            let ls = lines(v);
            if !ls.is_empty() {
                let (s, e) = ls[i.index(ls.len())];
                v.drain(s..e);
            }
        }
        Mutation::SwapLines(a, b) => {
            let ls = lines(v);
            if ls.len() >= 2 {
                let (x, y) = (a.index(ls.len()), b.index(ls.len()));
                let (x, y) = (x.min(y), x.max(y));
                if x != y {
                    let (xs, xe) = ls[x];
                    let (ys, ye) = ls[y];
                    let mut n = v[..xs].to_vec();
                    n.extend_from_slice(&v[ys..ye]);
                    n.extend_from_slice(&v[xe..ys]);
                    n.extend_from_slice(&v[xs..xe]);
                    n.extend_from_slice(&v[ye..]);
                    *v = n;
                }
            }
        }
        Mutation::Cut(i) => {
            let k = at(i, v);
            v.truncate(k);
        }
        _ => {}
    }
}

/// Start lines for [`sipish_message`].
const STARTS: &[&[u8]] = &[
    b"INVITE sip:bob@example.com SIP/2.0\r\n",
    b"REGISTER sips:[2001:db8::1]:5061 SIP/2.0\r\n",
    b"SIP/2.0 200 OK\r\n",
    b"SIP/2.0 183 \r\n",
    b"\r\n\r\nOPTIONS tel:+1-555 SIP/2.0\n",
    b"ACK sip:a;lr?x=y SIP/2.0\r\n",
];

/// Header names for [`sipish_message`], compact forms included.
const NAMES: &[&[u8]] = &[
    b"Via",
    b"v",
    b"From",
    b"f",
    b"To",
    b"t",
    b"Call-ID",
    b"i",
    b"CSeq",
    b"Max-Forwards",
    b"Expires",
    b"Contact",
    b"m",
    b"Route",
    b"Record-Route",
    b"Require",
    b"Supported",
    b"Authorization",
    b"Content-Length",
    b"l",
    b"X-Custom",
];

/// Extra header lines for the response builder.
const EXTRAS: &[&[u8]] = &[
    b"Server: trunkline",
    b"Retry-After: 30",
    b"Warning: 399 example.com \"x\"",
    b"Contact: <sip:192.0.2.1:5060>",
];

/// Bytes from an alphabet of SIP syntax, to reach deeper than uniform bytes.
fn sipish_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    const ALPHABET: &[u8] =
        b"SIPsipINVTE/2.0 \r\n\t:;,=<>\"@?%[]\\*+-._~!aZz09fFtTvViIlLmM#&$'()`\x00\x7f\xc3";
    prop::collection::vec(select(ALPHABET), 0..max)
}

/// Whole messages built from SIP-ish lines: a start line and header lines
/// whose names are known headers (compact forms included).
fn sipish_message() -> impl Strategy<Value = Vec<u8>> {
    let start = select(STARTS);
    let name = select(NAMES);
    let header = (name, sipish_bytes(48)).prop_map(|(n, v)| {
        let mut l = n.to_vec();
        l.extend_from_slice(b": ");
        l.extend(v);
        l.extend_from_slice(b"\r\n");
        l
    });
    (
        start,
        prop::collection::vec(header, 0..12),
        any::<bool>(),
        sipish_bytes(32),
    )
        .prop_map(|(s, hs, empty_line, body)| {
            let mut m = s.to_vec();
            for h in hs {
                m.extend(h);
            }
            if empty_line {
                m.extend_from_slice(b"\r\n");
                m.extend(body);
            }
            m
        })
}

fn parse_or_skip(data: &[u8], f: impl FnOnce(&Message<'_>)) {
    let mut p = Parser::default();
    if let Ok(m) = p.parse(data) {
        f(&m);
    }
}

/// A no-op write gives back exactly the message's bytes.
fn assert_identity(msg: &Message<'_>) {
    let mut out = Vec::new();
    Edits::new()
        .write(msg, &LocalCtx::default(), &mut out)
        .unwrap();
    assert_eq!(out, msg.as_bytes());
}

#[test]
fn seeds_validate_and_pass_every_check() {
    for (name, s) in SEEDS {
        let mut p = Parser::default();
        let m = p.parse(s).unwrap_or_else(|e| panic!("{name}: {e}"));
        validate(&m).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.as_bytes(), *s, "{name}");
        assert_identity(&m);
        assert!(checks::check_bytes(s).valid, "{name}");
    }
}

#[test]
fn identity_survives_leading_crlfs_and_trailing_octets() {
    for (name, s) in SEEDS {
        let mut framed = b"\r\n\r\n".to_vec();
        framed.extend_from_slice(s);
        let cl = {
            let mut p = Parser::default();
            p.parse(s).unwrap().content_length()
        };
        if cl.is_some() {
            framed.extend_from_slice(b"trailing junk after the body");
        }
        let mut p = Parser::default();
        let m = p.parse(&framed).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.as_bytes(), *s, "{name}");
        assert_identity(&m);
    }
}

#[test]
fn limits_hold_on_oversized_input() {
    // More header lines than the default 256.
    let mut m = SEEDS[0].1.to_vec();
    let at = m.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let extra: Vec<u8> = (0..300)
        .flat_map(|i| format!("X-{i}: v\r\n").into_bytes())
        .collect();
    m.splice(at..at, extra);
    let e = Parser::default().parse(&m).map(|_| ()).unwrap_err();
    assert_eq!((e.kind, e.status()), (ErrorKind::TooManyHeaders, 513));
    checks::check_bytes(&m);

    // More bytes than the largest UDP payload.
    let mut m = SEEDS[0].1.to_vec();
    m.resize(70_000, b'x');
    let e = Parser::default().parse(&m).map(|_| ()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::MessageTooLarge);

    // A Content-Length far beyond the datagram, and beyond u32.
    for cl in [
        &b"4294967295"[..],
        b"4294967296",
        b"99999999999999999999999",
    ] {
        let mut m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: ".to_vec();
        m.extend_from_slice(cl);
        m.extend_from_slice(b"\r\n\r\nbody");
        checks::check_bytes(&m);
        assert!(Parser::default().parse(&m).is_err());
    }

    // One long header value of list separators and quotes.
    let mut m = b"INVITE sip:a@b SIP/2.0\r\nVia: ".to_vec();
    m.extend(std::iter::repeat_n(&b",;\"<"[..], 8000).flatten());
    m.extend_from_slice(b"\r\nRoute: ");
    m.extend(std::iter::repeat_n(&b"<sip:a>,"[..], 4000).flatten());
    m.extend_from_slice(b"\r\n\r\n");
    checks::check_bytes(&m);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Uniformly random bytes: parse, and on success every check.
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        checks::check_bytes(&data);
    }

    /// Bytes from the SIP alphabet, through the message parser and every
    /// standalone value parser.
    #[test]
    fn sipish_bytes_never_panic(data in sipish_bytes(512)) {
        checks::check_bytes(&data);
        let _ = Uri::parse(&data);
        let _ = Via::parse(&data);
        let _ = NameAddr::parse(&data);
        let _ = CSeq::parse(&data);
        let _ = Credentials::parse(&data);
    }

    /// Every sub-slice boundary of SIP-ish bytes through the value parsers.
    #[test]
    fn value_parsers_on_arbitrary_slices(
        data in sipish_bytes(128),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        let (x, y) = (a.index(data.len() + 1), b.index(data.len() + 1));
        let s = &data[x.min(y)..x.max(y)];
        checks::check_value_parsers(s);
    }

    /// Messages assembled from SIP-ish header lines.
    #[test]
    fn sipish_messages_never_panic(data in sipish_message()) {
        checks::check_bytes(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Seeds with random mutations: no check may fail, and every mutant
    /// that parses writes back unchanged.
    #[test]
    fn mutated_seeds_never_panic(
        s in seed(),
        muts in prop::collection::vec(mutation(), 1..8),
    ) {
        let mut data = s.1.to_vec();
        for m in &muts {
            apply(&mut data, m);
        }
        checks::check_bytes(&data);
        parse_or_skip(&data, assert_identity);
    }
}

/// One header line as the model sees it: the kind and the comma-separated
/// values (trimmed, as [`CommaValues`] splits them).
type Line = (HeaderName, Vec<Vec<u8>>);

fn model(msg: &Message<'_>) -> Vec<Line> {
    msg.headers()
        .iter()
        .map(|h| {
            let vals = CommaValues::new(msg.slice(h.value))
                .map(<[u8]>::to_vec)
                .collect();
            (h.kind, vals)
        })
        .collect()
}

#[derive(Clone, Debug)]
struct Plan {
    add_via: bool,
    remove_via: bool,
    add_rr: bool,
    /// Picks a header line (modulo the candidates).
    remove_header: Option<usize>,
    /// Picks a header line and one of its values (modulo their counts).
    remove_value: Option<(usize, usize)>,
    body: Option<Vec<u8>>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<usize>()),
        prop::option::of((any::<usize>(), any::<usize>())),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
    )
        .prop_map(
            |(add_via, remove_via, add_rr, remove_header, remove_value, body)| Plan {
                add_via,
                remove_via,
                add_rr,
                remove_header,
                remove_value,
                body,
            },
        )
}

const NEW_VIA: &[u8] = b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKprop";
const NEW_RR: &[u8] = b"<sip:192.0.2.1:5060;lr>";

/// Applies `plan` to a valid seed, checks the result against a model of the
/// header lines, and that it validates with the right Content-Length.
fn edit_round_trip(s: &[u8], plan: &Plan) {
    let mut p = Parser::default();
    let msg = p.parse(s).unwrap();
    let hs = msg.headers();
    let vias = checks::via_raws(&msg);
    let mut edits = Edits::new();

    // The model: for each original line, the lines inserted before it (in
    // call order), then the line itself (None once removed).
    let mut before: Vec<Vec<Line>> = vec![Vec::new(); hs.len() + 1];
    let mut lines: Vec<Option<Line>> = model(&msg).into_iter().map(Some).collect();

    let first_via = msg.first_index(HeaderName::Via).unwrap();
    let mut expect_vias: Vec<Vec<u8>> = vias.iter().map(|v| v.to_vec()).collect();
    if plan.add_via {
        let branch = edits.scratch(b";branch=z9hG4bKprop");
        edits.add_top_via(
            &msg,
            &[
                Piece::Static(b"SIP/2.0/"),
                Piece::Local(LocalPart::Transport),
                Piece::Static(b" "),
                Piece::Local(LocalPart::HostPort),
                branch,
            ],
        );
        before[first_via].push((HeaderName::Via, vec![NEW_VIA.to_vec()]));
        expect_vias.insert(0, NEW_VIA.to_vec());
    }
    if plan.remove_via {
        assert!(edits.remove_top_via(&msg));
        let line = lines[first_via].as_mut().unwrap();
        line.1.remove(0);
        if line.1.is_empty() {
            lines[first_via] = None;
        }
        expect_vias.remove(usize::from(plan.add_via));
    }
    if plan.add_rr {
        edits.add_record_route(&msg, &[Piece::Static(NEW_RR)]);
        let at = msg.first_index(HeaderName::RecordRoute).unwrap_or(0);
        before[at].push((HeaderName::RecordRoute, vec![NEW_RR.to_vec()]));
    }
    // A value of a list header (or an extension header) with at least two
    // values; never Via's first line, which remove_top_via may edit.
    let mut value_target = None;
    if let Some((hi, vi)) = &plan.remove_value {
        let candidates: Vec<usize> = (0..hs.len())
            .filter(|&i| {
                let k = hs[i].kind;
                i != first_via && (k.props().list || k == HeaderName::Other)
            })
            .filter(|&i| lines[i].as_ref().unwrap().1.len() >= 2)
            .collect();
        if !candidates.is_empty() {
            let i = candidates[hi % candidates.len()];
            let line = lines[i].as_mut().unwrap();
            let j = vi % line.1.len();
            assert!(edits.remove_value(&msg, i, j));
            line.1.remove(j);
            if hs[i].kind == HeaderName::Via {
                let k = usize::from(plan.add_via)
                    + hs[..i]
                        .iter()
                        .filter(|h| h.kind == HeaderName::Via)
                        .map(|h| CommaValues::new(msg.slice(h.value)).count())
                        .sum::<usize>()
                    - usize::from(plan.remove_via)
                    + j;
                expect_vias.remove(k);
            }
            value_target = Some(i);
        }
    }
    // Any line but the ones validation needs, Content-Length and the line
    // whose value was removed.
    if let Some(hi) = &plan.remove_header {
        let keep = [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
            HeaderName::ContentLength,
        ];
        let candidates: Vec<usize> = (0..hs.len())
            .filter(|&i| !keep.contains(&hs[i].kind) && Some(i) != value_target)
            .collect();
        if !candidates.is_empty() {
            let i = candidates[hi % candidates.len()];
            edits.remove_header(&msg, i);
            lines[i] = None;
        }
    }
    let expect_body: Vec<u8> = match &plan.body {
        Some(b) => {
            let piece = edits.scratch(b);
            edits.set_body(piece);
            let len = b.len().to_string().into_bytes();
            match msg.first_index(HeaderName::ContentLength) {
                Some(i) => lines[i].as_mut().unwrap().1 = vec![len],
                None => before[hs.len()].push((HeaderName::ContentLength, vec![len])),
            }
            b.clone()
        }
        None => msg.body().to_vec(),
    };

    let mut out = Vec::new();
    let ctx = LocalCtx {
        host_port: b"192.0.2.1:5060",
        transport: b"UDP",
    };
    let n = edits.write(&msg, &ctx, &mut out).expect("write");
    assert_eq!(n, out.len());

    let mut p2 = Parser::default();
    let m = p2
        .parse(&out)
        .unwrap_or_else(|e| panic!("{plan:?}: {e}\n{}", String::from_utf8_lossy(&out)));
    match validate(&m) {
        Ok(_) => assert!(!expect_vias.is_empty()),
        // The only Via was removed.
        Err(e) if expect_vias.is_empty() => {
            assert_eq!(
                (e.kind, e.header),
                (ErrorKind::MissingHeader, Some(HeaderName::Via))
            );
        }
        Err(e) => panic!("{plan:?}: {e}\n{}", String::from_utf8_lossy(&out)),
    }

    let mut expect_lines = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        expect_lines.append(&mut before[i]);
        expect_lines.extend(line);
    }
    expect_lines.append(&mut before[hs.len()]);
    let got = model(&m);
    assert_eq!(
        got,
        expect_lines,
        "{plan:?}\n{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(m.headers().len(), expect_lines.len());
    let got_vias: Vec<Vec<u8>> = m.vias().map(|v| v.unwrap().raw.to_vec()).collect();
    assert_eq!(got_vias, expect_vias);
    assert_eq!(m.body(), &expect_body[..]);
    assert_eq!(
        m.content_length().map(|n| n as usize),
        match plan.body {
            Some(_) => Some(expect_body.len()),
            None => msg.content_length().map(|n| n as usize),
        }
    );
    assert_eq!(m.start_line_bytes(), msg.start_line_bytes());
    assert_eq!(m.call_id(), msg.call_id());
}

/// The start line, for comparing messages at different offsets.
trait StartLineBytes {
    fn start_line_bytes(&self) -> &[u8];
}

impl StartLineBytes for Message<'_> {
    fn start_line_bytes(&self) -> &[u8] {
        &self.buffer()[self.begin()..self.headers_start()]
    }
}

#[test]
fn every_edit_on_every_seed() {
    for (name, s) in SEEDS {
        for bits in 0u32..64 {
            let plan = Plan {
                add_via: bits & 1 != 0,
                remove_via: bits & 2 != 0,
                add_rr: bits & 4 != 0,
                remove_header: (bits & 8 != 0).then_some(bits as usize),
                remove_value: (bits & 16 != 0).then_some((bits as usize / 3, bits as usize / 5)),
                body: (bits & 32 != 0).then(|| b"v=0\r\n".to_vec()),
            };
            let r = std::panic::catch_unwind(|| edit_round_trip(s, &plan));
            assert!(r.is_ok(), "{name}: {plan:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random combinations of the proxy's edits on the seeds.
    #[test]
    fn edits_round_trip(s in seed(), plan in plan()) {
        edit_round_trip(s.1, &plan);
    }

    /// Responses to every seed request: they parse and validate, and carry
    /// the request's Call-ID, CSeq, From and Vias, and a To tag above 100.
    #[test]
    fn responses_round_trip(
        s in request_seed(),
        code in 100u16..700,
        reason in "[A-Za-z][A-Za-z ]{0,24}",
        tag in "[a-z0-9]{1,16}",
        extra in prop::collection::vec(select(EXTRAS), 0..3),
    ) {
        let mut p = Parser::default();
        let req = p.parse(s.1).unwrap();
        let spec = ResponseSpec {
            code,
            reason: reason.as_bytes(),
            to_tag: Some(tag.as_bytes()),
            extra_headers: &extra,
            via_source: None,
            top_via: None,
        };
        let mut edits = Edits::new();
        let mut out = Vec::new();
        write_response(&req, &spec, &mut edits, &mut out).unwrap();
        let mut p2 = Parser::default();
        let m = p2.parse(&out).unwrap();
        validate(&m).unwrap();
        prop_assert_eq!(m.status_code(), Some(code));
        prop_assert_eq!(m.reason_phrase(), Some(reason.as_bytes()));
        prop_assert_eq!(m.call_id(), req.call_id());
        let (a, b) = (m.cseq().unwrap(), req.cseq().unwrap());
        prop_assert_eq!((a.seq, a.method_bytes), (b.seq, b.method_bytes));
        let (a, b) = (m.from().unwrap(), req.from().unwrap());
        prop_assert_eq!((a.uri, a.tag()), (b.uri, b.tag()));
        prop_assert_eq!(checks::via_raws(&m), checks::via_raws(&req));
        let (to, req_to) = (m.to().unwrap(), req.to().unwrap());
        prop_assert_eq!(to.uri, req_to.uri);
        let want = match req_to.tag() {
            Some(t) => Some(t),
            None if code > 100 => Some(tag.as_bytes()),
            None => None,
        };
        prop_assert_eq!(to.tag(), want);
        prop_assert_eq!(m.content_length(), Some(0));
        prop_assert!(m.body().is_empty());
        let kept = req
            .headers()
            .iter()
            .filter(|h| {
                matches!(
                    h.kind,
                    HeaderName::Via
                        | HeaderName::From
                        | HeaderName::To
                        | HeaderName::CallId
                        | HeaderName::CSeq
                        | HeaderName::ContentLength
                )
            })
            .count();
        let added_cl = usize::from(req.content_length().is_none());
        prop_assert_eq!(m.headers().len(), kept + added_cl + extra.len());
    }
}
