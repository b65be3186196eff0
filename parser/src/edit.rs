//! One-pass message editing: SER/Kamailio/OpenSIPS "lumps" under a plain
//! name.
//!
//! An [`Edits`] list records insertions, deletions and replacements by
//! byte offset into the received message; nothing is copied until
//! [`Edits::write`], which sorts the edits, sizes the output once, and
//! copies the unchanged spans between them as slices. Our own address is
//! bound late through [`LocalCtx`] (Kamailio's `SUBST_SND_*` lumps), so the
//! same edit list can be written for whichever socket sends it. When the
//! body changes, Content-Length is fixed in the same pass.
//!
//! ```
//! use trunkline_parser::{Edits, LocalCtx, LocalPart, Parser, Piece};
//! let raw = b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n\
//! Max-Forwards: 70\r\nTo: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n\
//! Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
//! let mut parser = Parser::default();
//! let msg = parser.parse(raw).unwrap();
//! let mut edits = Edits::new();
//! let branch = edits.scratch(b";branch=z9hG4bKabc");
//! edits.add_top_via(&msg, &[
//!     Piece::Static(b"SIP/2.0/"), Piece::Local(LocalPart::Transport), Piece::Static(b" "),
//!     Piece::Local(LocalPart::HostPort), branch,
//! ]);
//! let mut out = Vec::new();
//! edits.write(&msg, &LocalCtx { host_port: b"192.0.2.1:5060", transport: b"UDP" }, &mut out).unwrap();
//! assert!(out.starts_with(b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\nVia: SIP/2.0/UDP a.example.com"));
//! ```

use core::fmt::Write as _;
use core::ops::Range;

use crate::header::HeaderName;
use crate::message::Message;
use crate::span::Span;
use crate::values::CommaValues;

/// A part of our own identity, filled in when the message is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LocalPart {
    /// The advertised `host:port` of the sending socket (Via sent-by,
    /// Record-Route URI).
    HostPort,
    /// The transport token of the sending socket (`UDP`, `TCP`, ...).
    Transport,
}

/// Values for [`LocalPart`]s, given at write time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalCtx<'c> {
    /// The advertised `host:port`.
    pub host_port: &'c [u8],
    /// The transport token.
    pub transport: &'c [u8],
}

impl LocalCtx<'_> {
    fn get(&self, part: LocalPart) -> &[u8] {
        match part {
            LocalPart::HostPort => self.host_port,
            LocalPart::Transport => self.transport,
        }
    }
}

/// Bytes to insert: a constant, bytes kept in the edit list's scratch
/// buffer, a span of the original message, or a late-bound local part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Constant bytes.
    Static(&'static [u8]),
    /// A range of [`Edits`]' scratch buffer (see [`Edits::scratch`]).
    Scratch(Range<u32>),
    /// A span of the message being edited (to move or duplicate a part).
    Original(Span),
    /// Our own address, bound by [`LocalCtx`] at write time.
    Local(LocalPart),
}

/// An edit that [`Edits::write`] could not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// Two edits change overlapping bytes.
    #[error("edits overlap at byte {at}")]
    Overlap {
        /// Where the second edit starts.
        at: u32,
    },
    /// An edit refers to bytes outside the message.
    #[error("edit at byte {at} lies outside the message")]
    OutOfBounds {
        /// The offending offset.
        at: u32,
    },
}

#[derive(Clone, Debug)]
struct Op {
    /// Bytes `start..end` of the message are replaced by `piece`
    /// (`start == end`: insertion; `piece == None`: deletion).
    start: u32,
    end: u32,
    piece: Option<Piece>,
    seq: u32,
}

/// A list of edits to one message. Reuse it (`clear`) across messages: its
/// storage stays allocated.
#[derive(Clone, Debug, Default)]
pub struct Edits {
    ops: Vec<Op>,
    scratch: Vec<u8>,
    seq: u32,
    body: Option<Piece>,
}

impl Edits {
    /// An empty edit list.
    pub fn new() -> Edits {
        Edits::default()
    }

    /// Forgets all edits, keeping the storage.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.scratch.clear();
        self.seq = 0;
        self.body = None;
    }

    /// Whether there are no edits.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.body.is_none()
    }

    /// Copies `bytes` into the scratch buffer and returns a piece for them.
    pub fn scratch(&mut self, bytes: &[u8]) -> Piece {
        let start = self.scratch.len() as u32;
        self.scratch.extend_from_slice(bytes);
        Piece::Scratch(start..self.scratch.len() as u32)
    }

    /// `prefix`, `n` in decimal and `suffix` in the scratch buffer (no
    /// `core::fmt` on the hot path: Max-Forwards, ports, status codes).
    pub fn scratch_decimal(&mut self, prefix: &[u8], n: u32, suffix: &[u8]) -> Piece {
        let start = self.scratch.len() as u32;
        self.scratch.extend_from_slice(prefix);
        self.scratch
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.scratch.extend_from_slice(suffix);
        Piece::Scratch(start..self.scratch.len() as u32)
    }

    /// Formats into the scratch buffer and returns a piece for the result.
    pub fn scratch_fmt(&mut self, args: core::fmt::Arguments<'_>) -> Piece {
        let start = self.scratch.len() as u32;
        let _ = ScratchWriter(&mut self.scratch).write_fmt(args);
        Piece::Scratch(start..self.scratch.len() as u32)
    }

    fn push(&mut self, span: Span, piece: Option<Piece>) {
        self.ops.push(Op {
            start: span.start,
            end: span.end,
            piece,
            seq: self.seq,
        });
        self.seq += 1;
    }

    /// Inserts `piece` at byte offset `at`. Insertions at the same offset
    /// are written in the order they were made.
    pub fn insert(&mut self, at: usize, piece: Piece) {
        self.push(Span::empty(at), Some(piece));
    }

    /// Deletes `span`.
    pub fn delete(&mut self, span: Span) {
        self.push(span, None);
    }

    /// Replaces `span` with `piece` (the Request-URI, a parameter value, ...).
    pub fn replace(&mut self, span: Span, piece: Piece) {
        self.push(span, Some(piece));
    }

    /// Inserts the header line `name: value\r\n` at `at`, which must be the
    /// start of a header line or [`Message::headers_end`].
    pub fn insert_header(&mut self, at: usize, name: &'static [u8], value: &[Piece]) {
        self.insert(at, Piece::Static(name));
        self.insert(at, Piece::Static(b": "));
        for p in value {
            self.insert(at, p.clone());
        }
        self.insert(at, Piece::Static(b"\r\n"));
    }

    /// Inserts a header line before header `index` of `msg`.
    pub fn insert_header_before(
        &mut self,
        msg: &Message<'_>,
        index: usize,
        name: &'static [u8],
        value: &[Piece],
    ) {
        let at = msg.headers()[index].name.start as usize;
        self.insert_header(at, name, value);
    }

    /// Inserts a header line after header `index` of `msg`.
    pub fn insert_header_after(
        &mut self,
        msg: &Message<'_>,
        index: usize,
        name: &'static [u8],
        value: &[Piece],
    ) {
        let at = msg.headers()[index].end as usize;
        self.insert_header(at, name, value);
    }

    /// Appends a header line at the end of the header block.
    pub fn append_header(&mut self, msg: &Message<'_>, name: &'static [u8], value: &[Piece]) {
        self.insert_header(msg.headers_end(), name, value);
    }

    /// Removes header `index` of `msg` (the whole line, folds included).
    pub fn remove_header(&mut self, msg: &Message<'_>, index: usize) {
        self.delete(msg.headers()[index].line());
    }

    /// Removes value number `value_index` of the comma-separated header
    /// `index`, with its separating comma; removes the whole line if it
    /// was the only value. Returns false if there is no such value.
    pub fn remove_value(&mut self, msg: &Message<'_>, index: usize, value_index: usize) -> bool {
        self.remove_values(msg, index, &[value_index])
    }

    /// Removes the values numbered `value_indexes` (ascending) of the
    /// comma-separated header `index`, with their separating commas; the
    /// whole line goes if no value is left. Returns false, and edits
    /// nothing, if an index is out of range or the list is not ascending.
    pub fn remove_values(
        &mut self,
        msg: &Message<'_>,
        index: usize,
        value_indexes: &[usize],
    ) -> bool {
        let entry = &msg.headers()[index];
        let value = entry.value.of(msg.buffer());
        if value_indexes == [0] {
            // The common case (the top Via, our own Route): one pass over
            // the first two values.
            let mut it = CommaValues::new(value);
            let Some(first) = it.next() else { return false };
            match it.next() {
                None => self.remove_header(msg, index),
                Some(second) => {
                    let (a, b) = (msg.span_of(first), msg.span_of(second));
                    self.delete(Span {
                        start: a.start,
                        end: b.start,
                    });
                }
            }
            return true;
        }
        let count = CommaValues::new(value).count();
        if value_indexes.windows(2).any(|w| w[0] >= w[1])
            || value_indexes.last().is_some_and(|&i| i >= count)
        {
            return false;
        }
        if value_indexes.len() == count {
            self.remove_header(msg, index);
            return true;
        }
        // Each run of removed values is deleted with one span: from its
        // first value to the next kept value, or, for a run at the end,
        // from the previous kept value's end. Runs never overlap.
        let spans = || CommaValues::new(value).map(|v| msg.span_of(v));
        let mut prev_kept: Option<Span> = None;
        let mut run_start: Option<Span> = None;
        let mut run_end = Span::default();
        for (i, s) in spans().enumerate() {
            if value_indexes.binary_search(&i).is_ok() {
                run_start.get_or_insert(s);
                run_end = s;
            } else {
                if let Some(first) = run_start.take() {
                    self.delete(Span {
                        start: first.start,
                        end: s.start,
                    });
                }
                prev_kept = Some(s);
            }
        }
        if run_start.is_some() {
            let p = prev_kept.expect("not every value is removed");
            self.delete(Span {
                start: p.end,
                end: run_end.end,
            });
        }
        true
    }

    /// Adds a Via on top (§16.6 step 8): a new `Via:` line before the
    /// first Via header, or at the top of the header block.
    pub fn add_top_via(&mut self, msg: &Message<'_>, value: &[Piece]) {
        let at = msg
            .first(HeaderName::Via)
            .map_or(msg.headers_start(), |e| e.name.start as usize);
        self.insert_header(at, b"Via", value);
    }

    /// Removes the topmost Via value (§16.7 step 3: responses going upstream).
    pub fn remove_top_via(&mut self, msg: &Message<'_>) -> bool {
        match msg.first_index(HeaderName::Via) {
            Some(i) => self.remove_value(msg, i, 0),
            None => false,
        }
    }

    /// Adds a Record-Route value on top (§16.6 step 4): a new line before
    /// the first Record-Route header, or at the top of the header block.
    pub fn add_record_route(&mut self, msg: &Message<'_>, value: &[Piece]) {
        let at = msg
            .first(HeaderName::RecordRoute)
            .map_or(msg.headers_start(), |e| e.name.start as usize);
        self.insert_header(at, b"Record-Route", value);
    }

    /// Replaces the body; Content-Length is fixed (or added) when written.
    pub fn set_body(&mut self, body: Piece) {
        self.body = Some(body);
    }

    fn piece_bytes<'p>(
        &'p self,
        msg: &'p Message<'_>,
        ctx: &'p LocalCtx<'_>,
        p: &Piece,
    ) -> &'p [u8] {
        match p {
            Piece::Static(b) => b,
            Piece::Scratch(r) => &self.scratch[r.start as usize..r.end as usize],
            Piece::Original(s) => s.of(msg.buffer()),
            Piece::Local(l) => ctx.get(*l),
        }
    }

    /// Writes the edited message into `out` (appending) in one pass and
    /// returns the number of bytes written. Leading CRLFs and octets after
    /// the body are not copied. With no edits the output is the message's
    /// own bytes, unchanged.
    ///
    /// Edits must lie within the header block (up to
    /// [`Message::headers_end`]) or within the body; edits across the empty
    /// line, or overlapping each other, are refused.
    pub fn write(
        &mut self,
        msg: &Message<'_>,
        ctx: &LocalCtx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<usize, EditError> {
        let buf = msg.buffer();
        let begin = msg.begin();
        let hend = msg.headers_end();
        let body = msg.body_span();
        let has_empty_line = msg.has_empty_line();
        // By offset; at one offset, insertions (in call order) before the
        // deletion or replacement that starts there.
        self.ops
            .sort_unstable_by_key(|op| (op.start, op.end > op.start, op.seq));

        let mut cursor = begin;
        let mut added = 0usize;
        let mut body_delta = 0isize;
        for op in &self.ops {
            let (s, e) = (op.start as usize, op.end as usize);
            let in_headers = s >= begin && e <= hend && s <= e;
            let in_body =
                has_empty_line && s >= body.start as usize && e <= body.end as usize && s <= e;
            if !in_headers && !in_body {
                return Err(EditError::OutOfBounds { at: op.start });
            }
            if s < cursor {
                return Err(EditError::Overlap { at: op.start });
            }
            cursor = e;
            let len = op
                .piece
                .as_ref()
                .map_or(0, |p| self.piece_bytes(msg, ctx, p).len());
            added += len;
            if in_body {
                if self.body.is_some() {
                    return Err(EditError::Overlap { at: op.start });
                }
                body_delta += len as isize - (e - s) as isize;
            }
        }
        let body_changed = self.body.is_some() || body_delta != 0;
        let new_body_len = match &self.body {
            Some(p) => self.piece_bytes(msg, ctx, p).len(),
            None => (body.len() as isize + body_delta) as usize,
        };

        // Content-Length: rewrite its value, or add the header.
        let mut digits = [0u8; 20];
        let cl_text = fmt_usize(&mut digits, new_body_len);
        let mut cl_fix: Option<(Span, bool)> = if body_changed {
            match msg.first(HeaderName::ContentLength) {
                Some(e) => Some((e.value, false)),
                None => Some((Span::empty(hend), true)),
            }
        } else {
            None
        };
        if let Some((span, false)) = cl_fix {
            if self
                .ops
                .iter()
                .any(|op| op.start < span.end && op.end > span.start)
            {
                return Err(EditError::Overlap { at: span.start });
            }
        }
        let add_empty_line = !has_empty_line && !self.is_empty();

        out.reserve((body.end as usize - begin) + added + new_body_len + 40);
        let before = out.len();
        let mut cursor = begin;
        let mut flush_cl = |out: &mut Vec<u8>, cursor: &mut usize, upto: usize| {
            if let Some((span, add)) = cl_fix {
                if span.start as usize <= upto {
                    out.extend_from_slice(&buf[*cursor..span.start as usize]);
                    if add {
                        out.extend_from_slice(b"Content-Length: ");
                        out.extend_from_slice(cl_text);
                        out.extend_from_slice(b"\r\n");
                    } else {
                        out.extend_from_slice(cl_text);
                    }
                    *cursor = span.end as usize;
                    cl_fix = None;
                }
            }
        };
        for op in &self.ops {
            let (s, e) = (op.start as usize, op.end as usize);
            flush_cl(out, &mut cursor, s);
            out.extend_from_slice(&buf[cursor..s]);
            if let Some(p) = &op.piece {
                out.extend_from_slice(self.piece_bytes(msg, ctx, p));
            }
            cursor = e;
        }
        flush_cl(out, &mut cursor, hend);
        if add_empty_line {
            out.extend_from_slice(&buf[cursor..hend]);
            out.extend_from_slice(b"\r\n");
            cursor = hend;
        }
        if let Some(p) = &self.body {
            out.extend_from_slice(&buf[cursor..body.start as usize]);
            out.extend_from_slice(self.piece_bytes(msg, ctx, p));
            cursor = body.end as usize;
        }
        out.extend_from_slice(&buf[cursor..body.end as usize]);
        Ok(out.len() - before)
    }
}

struct ScratchWriter<'v>(&'v mut Vec<u8>);

impl core::fmt::Write for ScratchWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Formats `n` in decimal into `buf`; returns the digits.
pub(crate) fn fmt_usize(buf: &mut [u8; 20], mut n: usize) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}
