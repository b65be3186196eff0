//! The dialog journal, sans-IO: records of confirmed calls that let a
//! restarted router take them back ([`DialogTable::restore`]), so that
//! their BYE still ends them, their CDR still closes and their limit
//! slots are still given back.
//!
//! Routing never needed this state (an in-dialog request follows its
//! Route set); what a restart lost was the call's *bookkeeping*. A call
//! is journaled once, when its dialog is confirmed (a [`Record::Call`]
//! with everything the table keeps of it and the proxy's own details
//! as an opaque `user` blob), and closed by a [`Record::End`] (its
//! Call-ID and From tag) when it is over. A reader keeps the calls whose
//! last record is not an `End`; the driver writes the bytes, appends
//! them to a file per shard and rewrites the file (the live calls' records
//! only) when it has grown; none of that is done here.
//!
//! # Format
//!
//! A journal is a sequence of frames, each one record:
//!
//! ```text
//! offset size
//! 0      4    magic "TLJ1"
//! 4      4    body length n, u32 little-endian, 1..=MAX_RECORD
//! 8      4    CRC-32 (IEEE) of the body, u32 little-endian
//! 12     n    body
//! ```
//!
//! Bodies (integers little-endian; `str` = u16 length, then the bytes):
//!
//! ```text
//! call (kind 1): call_id from from_tag to caller_contact route_to_caller
//!                callee_to to_tag callee_contact route_to_callee (10 str)
//!                caller_cseq u32, callee_cseq u32, code u16,
//!                invited_ms i64, answered_ms i64 (Unix ms),
//!                max_duration_ms u64 (u64::MAX: none),
//!                user (str, at most MAX_USER bytes)
//! end  (kind 2): call_id from_tag (2 str)
//! ```
//!
//! A later version may append fields to a body (a reader ignores what
//! follows the fields it knows) or add kinds (skipped and counted).
//!
//! # A hostile or damaged file
//!
//! [`Reader`] never panics and allocates nothing: a frame whose magic,
//! length (zero, or above [`MAX_RECORD`]), CRC or body does not check is
//! skipped up to the next magic that begins a frame that checks, and
//! counted ([`ReadStats`]). A crash mid-append leaves a truncated last
//! frame: skipped the same way. Each candidate costs at most one CRC over
//! at most [`MAX_RECORD`] bytes; a file crafted to hold a magic every few
//! bytes costs time in proportion (a start-up's read, not a per-message
//! cost).
//!
//! # Times
//!
//! Records carry wall-clock times (Unix ms: instants do not survive a
//! process); [`DialogTable::restore`] maps them back onto the monotonic
//! clock through the `now` and Unix time it is given. The maximum duration
//! counts from the original answer: a restored call has what remains of it
//! (none left: it ends at the first [`DialogTable::handle_timeout`]).

use std::time::{Duration, Instant};

use super::{Call, CallRef, DialogTable, Invite, Response, State};

/// The four bytes that begin every frame.
pub const MAGIC: [u8; 4] = *b"TLJ1";

/// A frame's header: magic, length, CRC.
pub const HEADER: usize = 12;

/// Largest body: a call's strings are two packs of at most 64 KiB each
/// (see [`super::Call`]), plus the user blob and the numbers.
pub const MAX_RECORD: usize = 2 * 65_535 + MAX_USER + 256;

/// Largest `user` blob of a call record.
pub const MAX_USER: usize = 4096;

const KIND_CALL: u8 = 1;
const KIND_END: u8 = 2;

/// A confirmed call as journaled: what the table needs to take it back
/// with one confirmed dialog, and the proxy's `user` blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallRecord<'a> {
    /// The Call-ID.
    pub call_id: &'a [u8],
    /// The caller's From value, with its tag.
    pub from: &'a [u8],
    /// The call's From tag.
    pub from_tag: &'a [u8],
    /// The INVITE's To value (no tag).
    pub to: &'a [u8],
    /// The caller's remote target.
    pub caller_contact: &'a [u8],
    /// The route set toward the caller (a Route value; empty: none).
    pub route_to_caller: &'a [u8],
    /// The callee's To value, with its tag.
    pub callee_to: &'a [u8],
    /// The dialog's To tag.
    pub to_tag: &'a [u8],
    /// The callee's remote target.
    pub callee_contact: &'a [u8],
    /// The route set toward the callee (a Route value; empty: none).
    pub route_to_callee: &'a [u8],
    /// The highest CSeq the caller used (when journaled).
    pub caller_cseq: u32,
    /// The highest CSeq the callee used (0: none yet).
    pub callee_cseq: u32,
    /// The INVITE's final response (a 2xx).
    pub code: u16,
    /// When the INVITE came, Unix ms.
    pub invited_ms: i64,
    /// When the dialog was confirmed, Unix ms.
    pub answered_ms: i64,
    /// The call's maximum duration, from `answered_ms` (`None`: none).
    pub max_duration: Option<Duration>,
    /// What the proxy keeps with the call, encoded by it (at most
    /// [`MAX_USER`] bytes).
    pub user: &'a [u8],
}

/// One journal record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A confirmed call (a later one of the same call replaces it).
    Call(CallRecord<'a>),
    /// The call with this Call-ID and From tag is over.
    End {
        /// The Call-ID.
        call_id: &'a [u8],
        /// The call's From tag.
        from_tag: &'a [u8],
    },
}

impl<'a> Record<'a> {
    /// The call it is about: its Call-ID and From tag.
    pub fn key(&self) -> (&'a [u8], &'a [u8]) {
        match *self {
            Record::Call(c) => (c.call_id, c.from_tag),
            Record::End { call_id, from_tag } => (call_id, from_tag),
        }
    }

    /// Appends its frame to `out`; `false` (and `out` as it was) when a
    /// field is over its bound (a string over 64 KiB, `user` over
    /// [`MAX_USER`]).
    pub fn encode(&self, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[0; 8]);
        let ok = match self {
            Record::Call(c) => {
                put_u8(out, KIND_CALL);
                let strs = [
                    c.call_id,
                    c.from,
                    c.from_tag,
                    c.to,
                    c.caller_contact,
                    c.route_to_caller,
                    c.callee_to,
                    c.to_tag,
                    c.callee_contact,
                    c.route_to_callee,
                ];
                let mut ok = strs.iter().all(|s| put_str(out, s));
                put_u32(out, c.caller_cseq);
                put_u32(out, c.callee_cseq);
                put_u16(out, c.code);
                put_i64(out, c.invited_ms);
                put_i64(out, c.answered_ms);
                let max = c
                    .max_duration
                    .map_or(u64::MAX, |d| (d.as_millis() as u64).min(u64::MAX - 1));
                put_u64(out, max);
                ok &= c.user.len() <= MAX_USER && put_str(out, c.user);
                ok
            }
            Record::End { call_id, from_tag } => {
                put_u8(out, KIND_END);
                put_str(out, call_id) && put_str(out, from_tag)
            }
        };
        let len = out.len() - start - HEADER;
        if !ok || len > MAX_RECORD {
            out.truncate(start);
            return false;
        }
        let crc = crc32(&out[start + HEADER..]);
        out[start + 4..start + 8].copy_from_slice(&(len as u32).to_le_bytes());
        out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
        true
    }

    /// The record of one body (no frame); `None` if it does not parse,
    /// or is of a kind this version does not know.
    fn decode(body: &'a [u8]) -> Option<Record<'a>> {
        let mut c = Cursor::new(body);
        match c.u8()? {
            KIND_CALL => {
                let mut s = [&b""[..]; 10];
                for x in &mut s {
                    *x = c.str()?;
                }
                let [
                    call_id,
                    from,
                    from_tag,
                    to,
                    caller_contact,
                    route_to_caller,
                    callee_to,
                    to_tag,
                    callee_contact,
                    route_to_callee,
                ] = s;
                let caller_cseq = c.u32()?;
                let callee_cseq = c.u32()?;
                let code = c.u16()?;
                let invited_ms = c.i64()?;
                let answered_ms = c.i64()?;
                let max = c.u64()?;
                let user = c.str()?;
                if user.len() > MAX_USER {
                    return None;
                }
                Some(Record::Call(CallRecord {
                    call_id,
                    from,
                    from_tag,
                    to,
                    caller_contact,
                    route_to_caller,
                    callee_to,
                    to_tag,
                    callee_contact,
                    route_to_callee,
                    caller_cseq,
                    callee_cseq,
                    code,
                    invited_ms,
                    answered_ms,
                    max_duration: (max != u64::MAX).then(|| Duration::from_millis(max)),
                    user,
                }))
            }
            KIND_END => Some(Record::End {
                call_id: c.str()?,
                from_tag: c.str()?,
            }),
            _ => None,
        }
    }
}

/// What a [`Reader`] skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records read.
    pub records: u64,
    /// Damaged stretches skipped (a bad frame, a truncated tail), each
    /// counted once however long.
    pub corrupt: u64,
    /// Bytes in them.
    pub skipped_bytes: u64,
    /// Frames that checked but whose body this version does not know.
    pub unknown: u64,
}

/// Reads the records of a journal's bytes, skipping (and counting) what
/// does not check (see the module docs). Allocates nothing.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    stats: ReadStats,
}

impl<'a> Reader<'a> {
    /// A reader of `buf` (a whole file, or the concatenation of frames).
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            stats: ReadStats::default(),
        }
    }

    /// What was read and skipped so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The next record and its frame's bytes (to copy into another
    /// journal as they are).
    pub fn next_frame(&mut self) -> Option<(&'a [u8], Record<'a>)> {
        let mut bad_from: Option<usize> = None;
        while self.pos < self.buf.len() {
            let at = self.pos;
            match frame_at(self.buf, at) {
                Some((end, body)) => {
                    if let Some(from) = bad_from.take() {
                        self.skipped(from, at);
                    }
                    self.pos = end;
                    match Record::decode(body) {
                        Some(r) => {
                            self.stats.records += 1;
                            return Some((&self.buf[at..end], r));
                        }
                        None => self.stats.unknown += 1,
                    }
                }
                None => {
                    bad_from.get_or_insert(at);
                    self.pos = find_magic(self.buf, at + 1);
                }
            }
        }
        if let Some(from) = bad_from {
            self.skipped(from, self.buf.len());
        }
        None
    }

    fn skipped(&mut self, from: usize, to: usize) {
        self.stats.corrupt += 1;
        self.stats.skipped_bytes += (to - from) as u64;
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        self.next_frame().map(|(_, r)| r)
    }
}

/// The frame at `at`, if it checks: its end and its body.
fn frame_at(buf: &[u8], at: usize) -> Option<(usize, &[u8])> {
    let h = buf.get(at..at.checked_add(HEADER)?)?;
    if h[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(h[8..12].try_into().ok()?);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let end = at + HEADER + len;
    let body = buf.get(at + HEADER..end)?;
    (crc32(body) == crc).then_some((end, body))
}

/// The first offset at or after `from` where the magic begins (the end
/// if none).
fn find_magic(buf: &[u8], from: usize) -> usize {
    buf.get(from..)
        .and_then(|rest| rest.windows(MAGIC.len()).position(|w| w == MAGIC))
        .map_or(buf.len(), |i| from + i)
}

/// A bounded reader of little-endian fields: every read checks the
/// length first and says `None` past the end (for the bodies here, and
/// for the `user` blobs the proxy encodes).
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor(b)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A byte.
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    /// A u16.
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }
    /// A u32.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    /// A u64.
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    /// An i64.
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    /// A string of at most 255 bytes (u8 length).
    pub fn str8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    /// A string of at most 64 KiB (u16 length).
    pub fn str(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Appends a byte.
pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}
/// Appends a u16.
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// Appends a u32.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// Appends a u64.
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// Appends an i64.
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// Appends a string of at most 255 bytes; `false` (nothing appended) if
/// longer.
pub fn put_str8(out: &mut Vec<u8>, s: &[u8]) -> bool {
    let Ok(n) = u8::try_from(s.len()) else {
        return false;
    };
    out.push(n);
    out.extend_from_slice(s);
    true
}
/// Appends a string of at most 64 KiB; `false` (nothing appended) if
/// longer.
pub fn put_str(out: &mut Vec<u8>, s: &[u8]) -> bool {
    let Ok(n) = u16::try_from(s.len()) else {
        return false;
    };
    put_u16(out, n);
    out.extend_from_slice(s);
    true
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's), by a table built at
/// compile time.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in bytes {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The instant of Unix time `ms`, given that `now` is Unix time
/// `unix_now`: earlier than `now` by the difference; `now` itself when
/// `ms` is later (a clock stepped back) or earlier than the monotonic
/// clock can express (before the host booted).
fn instant_of(now: Instant, unix_now: i64, ms: i64) -> Instant {
    let ago = unix_now.saturating_sub(ms);
    if ago <= 0 {
        return now;
    }
    now.checked_sub(Duration::from_millis(ago as u64))
        .unwrap_or(now)
}

impl<U> Call<U> {
    /// Whether every dialog has ended (the call lingers, then goes).
    pub fn is_over(&self) -> bool {
        self.done
    }

    /// The maximum duration of its confirmed dialogs (`None`: none).
    pub fn max_duration(&self) -> Option<Duration> {
        self.max_duration
    }

    /// The journal record of its first confirmed dialog, with `user` (the
    /// proxy's details); `unix_ms` gives the wall-clock time of the
    /// table's instants. `None` if no dialog is confirmed (early, or
    /// ended).
    pub fn record<'a>(
        &'a self,
        unix_ms: &dyn Fn(Instant) -> i64,
        user: &'a [u8],
    ) -> Option<CallRecord<'a>> {
        let d = self.dialogs.iter().find(|d| d.state == State::Confirmed)?;
        Some(CallRecord {
            call_id: self.call_id(),
            from: self.from(),
            from_tag: self.from_tag(),
            to: self.to(),
            caller_contact: self.caller_contact(),
            route_to_caller: self.route_to_caller(),
            callee_to: d.to(),
            to_tag: d.to_tag(),
            callee_contact: d.callee_contact(),
            route_to_callee: d.route_to_callee(),
            caller_cseq: self.caller_cseq,
            callee_cseq: d.callee_cseq,
            code: self.final_code.unwrap_or(200),
            invited_ms: unix_ms(self.invited),
            answered_ms: unix_ms(d.answered.unwrap_or(d.started)),
            max_duration: self.max_duration,
            user,
        })
    }
}

impl<U> DialogTable<U> {
    /// Takes back a call journaled by an earlier process (`rec`), with
    /// what the proxy keeps with it: a call with one confirmed dialog,
    /// its times mapped from Unix ms onto the monotonic clock (`now` is
    /// Unix time `unix_now_ms`: see [`instant_of`]), its maximum duration
    /// re-armed with what remains of it (none left: it ends at the next
    /// [`DialogTable::handle_timeout`], [`super::Ended::MaxDuration`]). No
    /// event is reported for it.
    ///
    /// `Err(user)` when the call is held already (a duplicate record), the
    /// table is full, or a string does not fit (a record not ours).
    pub fn restore(
        &mut self,
        now: Instant,
        unix_now_ms: i64,
        rec: &CallRecord<'_>,
        user: U,
    ) -> Result<CallRef, U> {
        if rec.to_tag.is_empty() {
            return Err(user);
        }
        let answered = instant_of(now, unix_now_ms, rec.answered_ms);
        let r = Response {
            call_id: rec.call_id,
            from_tag: rec.from_tag,
            to: rec.callee_to,
            to_tag: Some(rec.to_tag),
            code: rec.code,
            contact: rec.callee_contact,
            route_to_callee: rec.route_to_callee,
        };
        let Some(mut d) = super::Dialog::new(answered, &r, rec.to_tag, State::Confirmed) else {
            return Err(user);
        };
        d.callee_cseq = rec.callee_cseq;
        let inv = Invite {
            call_id: rec.call_id,
            from: rec.from,
            from_tag: rec.from_tag,
            to: rec.to,
            cseq: rec.caller_cseq,
            contact: rec.caller_contact,
            route_to_caller: rec.route_to_caller,
            max_duration: None,
        };
        let invited = instant_of(now, unix_now_ms, rec.invited_ms).min(answered);
        let call = self.insert(invited, &inv, user)?;
        let (slot, generation) = (call.slot, call.generation);
        let c = self.calls[slot as usize].as_mut().expect("just inserted");
        c.final_code = Some(rec.code);
        c.dialogs = vec![d];
        c.max_duration = rec.max_duration;
        if let Some(limit) = rec.max_duration {
            let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
            let left = rec
                .answered_ms
                .saturating_add(limit_ms)
                .saturating_sub(unix_now_ms)
                .max(0);
            let at = now + Duration::from_millis(left as u64);
            self.restored
                .push(std::cmp::Reverse((at, slot, generation, 0)));
        }
        Ok(CallRef { slot, generation })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DialogConfig, Ended, Event, Invite, Match, Request, Side};
    use super::*;

    const CID: &[u8] = b"call-1@192.0.2.10";

    fn call_record(user: &[u8]) -> CallRecord<'_> {
        CallRecord {
            call_id: CID,
            from: b"<sip:alice@example.com>;tag=a",
            from_tag: b"a",
            to: b"<sip:bob@example.net>",
            caller_contact: b"sip:alice@192.0.2.10:5060",
            route_to_caller: b"",
            callee_to: b"<sip:bob@example.net>;tag=b",
            to_tag: b"b",
            callee_contact: b"sip:bob@192.0.2.20:5070",
            route_to_callee: b"<sip:p2.example.net;lr>",
            caller_cseq: 7,
            callee_cseq: 0,
            code: 200,
            invited_ms: 1_000_000,
            answered_ms: 1_002_000,
            max_duration: Some(Duration::from_secs(10)),
            user,
        }
    }

    fn journal() -> Vec<u8> {
        let mut out = Vec::new();
        assert!(Record::Call(call_record(b"u1")).encode(&mut out));
        let mut second = call_record(b"");
        second.call_id = b"call-2";
        second.max_duration = None;
        assert!(Record::Call(second).encode(&mut out));
        let end = Record::End {
            call_id: CID,
            from_tag: b"a",
        };
        assert!(end.encode(&mut out));
        out
    }

    #[test]
    fn records_round_trip() {
        let buf = journal();
        let mut r = Reader::new(&buf);
        let got: Vec<Record<'_>> = r.by_ref().collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Record::Call(call_record(b"u1")));
        let Record::Call(c) = got[1] else { panic!() };
        assert_eq!(
            (c.call_id, c.max_duration, c.user),
            (&b"call-2"[..], None, &b""[..])
        );
        assert_eq!(got[2].key(), (CID, &b"a"[..]));
        assert_eq!(r.stats().records, 3);
        assert_eq!(r.stats().corrupt, 0);
        // The frames come out as they went in.
        let mut copy = Vec::new();
        let mut r = Reader::new(&buf);
        while let Some((frame, _)) = r.next_frame() {
            copy.extend_from_slice(frame);
        }
        assert_eq!(copy, buf);
    }

    #[test]
    fn oversized_fields_are_refused() {
        let big = vec![b'x'; MAX_USER + 1];
        let mut out = b"keep".to_vec();
        assert!(!Record::Call(call_record(&big)).encode(&mut out));
        assert_eq!(out, b"keep", "nothing appended");
        let long = vec![b'x'; 70_000];
        let mut c = call_record(b"");
        c.from = &long;
        assert!(!Record::Call(c).encode(&mut out));
        assert_eq!(out, b"keep");
    }

    #[test]
    fn a_truncated_tail_is_skipped_and_counted() {
        let buf = journal();
        // The last frame (the End) is 35 bytes: cut into it.
        for cut in 1..35 {
            let short = &buf[..buf.len() - cut];
            let mut r = Reader::new(short);
            assert_eq!(r.by_ref().count(), 2, "cut {cut}");
            assert_eq!(r.stats().corrupt, 1, "cut {cut} {:?}", r.stats());
            assert!(r.stats().skipped_bytes > 0);
        }
    }

    #[test]
    fn a_damaged_frame_is_skipped_and_the_next_found() {
        let buf = journal();
        let first = Reader::new(&buf).next_frame().unwrap().0.len();
        // A byte of the first record's body flipped: its CRC fails, the
        // second and third are read.
        let mut bad = buf.clone();
        bad[HEADER + 20] ^= 0x40;
        let mut r = Reader::new(&bad);
        let got: Vec<_> = r.by_ref().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(r.stats().corrupt, 1);
        assert_eq!(r.stats().skipped_bytes, first as u64);
        // Garbage before, between and after; a huge length.
        let mut g = b"garbage TLJ1\xff\xff\xff\xff....".to_vec();
        g.extend_from_slice(&buf[..first]);
        g.extend_from_slice(b"TLJ1\x05\x00\x00\x00\x00\x00\x00\x00ab");
        g.extend_from_slice(&buf[first..]);
        g.extend_from_slice(b"TLJ1");
        let mut r = Reader::new(&g);
        assert_eq!(r.by_ref().count(), 3);
        assert_eq!(r.stats().corrupt, 3);
        // An unknown kind that checks is skipped as unknown.
        let mut u = MAGIC.to_vec();
        u.extend_from_slice(&1u32.to_le_bytes());
        u.extend_from_slice(&crc32(&[9]).to_le_bytes());
        u.push(9);
        let mut r = Reader::new(&u);
        assert_eq!(r.next(), None);
        assert_eq!((r.stats().unknown, r.stats().corrupt), (1, 0));
    }

    #[test]
    fn noise_never_panics() {
        // A xorshift's bytes, with magics and plausible lengths sprinkled.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = Vec::with_capacity(1 << 16);
        while buf.len() < 1 << 16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 7 == 0 {
                buf.extend_from_slice(&MAGIC);
                buf.extend_from_slice(&((x >> 8) as u32 % 300).to_le_bytes());
            } else {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        let journal = journal();
        buf.extend_from_slice(&journal);
        let mut r = Reader::new(&buf);
        let n = r.by_ref().count();
        assert!(n >= 3, "the records after the noise are found");
        assert!(r.stats().corrupt >= 1);
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    fn table() -> DialogTable<u32> {
        DialogTable::new(
            DialogConfig {
                max_calls: 4,
                max_forks: 2,
                max_duration: None,
            },
            3,
        )
    }

    /// A call confirmed in one table is journaled; another table takes it
    /// back with what remains of its maximum duration, and a BYE of the
    /// caller (its CSeq above the journaled one) ends it.
    #[test]
    fn a_restored_call_ends_by_bye_or_its_maximum_duration() {
        let t0 = Instant::now();
        let mut a = table();
        let inv = Invite {
            call_id: CID,
            from: b"<sip:alice@example.com>;tag=a",
            from_tag: b"a",
            to: b"<sip:bob@example.net>",
            cseq: 1,
            contact: b"sip:alice@192.0.2.10:5060",
            route_to_caller: b"<sip:p1;lr>",
            max_duration: Some(Duration::from_secs(10)),
        };
        let r = a.on_invite(t0, &inv, 42).unwrap();
        let ok = Response {
            call_id: CID,
            from_tag: b"a",
            to: b"<sip:bob@example.net>;tag=b",
            to_tag: Some(b"b"),
            code: 200,
            contact: b"sip:bob@192.0.2.20:5070",
            route_to_callee: b"<sip:p2;lr>",
        };
        let mut ev = Vec::new();
        let t1 = t0 + Duration::from_secs(2);
        a.on_response(t1, &ok, &mut ev);
        // Unix time: t0 is 1,000,000 ms.
        let unix = |t: Instant| 1_000_000 + t.duration_since(t0).as_millis() as i64;
        let mut buf = Vec::new();
        let c = a.call(r).unwrap();
        assert!(Record::Call(c.record(&unix, b"user").unwrap()).encode(&mut buf));
        let Some(Record::Call(rec)) = Reader::new(&buf).next() else {
            panic!()
        };
        assert_eq!((rec.invited_ms, rec.answered_ms), (1_000_000, 1_002_000));
        assert_eq!(rec.route_to_caller, b"<sip:p1;lr>");

        // A new process, 6 s after the answer: 4 s remain.
        let n0 = Instant::now();
        let mut b = table();
        let r = b.restore(n0, 1_008_000, &rec, 7).unwrap();
        assert_eq!(b.restore(n0, 1_008_000, &rec, 8), Err(8), "held already");
        assert_eq!(b.calls(), 1);
        let c = b.call(r).unwrap();
        assert_eq!((c.user, c.caller_cseq, c.final_code), (7, 1, Some(200)));
        assert_eq!(c.route_to_caller(), b"<sip:p1;lr>");
        let d = &c.dialogs[0];
        assert_eq!(
            (d.state, d.to_tag(), d.route_to_callee()),
            (State::Confirmed, &b"b"[..], &b"<sip:p2;lr>"[..])
        );
        assert_eq!(b.next_deadline(), Some(n0 + Duration::from_secs(4)));
        let mut ev = Vec::new();
        b.handle_timeout(n0 + Duration::from_millis(3999), &mut ev);
        assert!(ev.is_empty());
        b.handle_timeout(n0 + Duration::from_secs(4), &mut ev);
        assert!(
            matches!(ev[..], [Event::Ended(_, Ended::MaxDuration), Event::CallEnded(x)] if x == r),
            "{ev:?}"
        );

        // Restored again, ended by the caller's BYE instead.
        let mut c = table();
        let r = c.restore(n0, 1_008_000, &rec, 7).unwrap();
        let bye = Request {
            call_id: CID,
            from_tag: b"a",
            to_tag: b"b",
            bye: true,
            cseq: 2,
            contact: b"",
        };
        let mut ev = Vec::new();
        let m = c.on_request(n0 + Duration::from_secs(1), &bye, &mut ev);
        assert!(matches!(
            m,
            Match::Dialog {
                from: Side::Caller,
                ended: true,
                ..
            }
        ));
        assert!(
            matches!(ev[..], [Event::Ended(_, Ended::CallerBye), Event::CallEnded(x)] if x == r)
        );
        let d = &c.call(r).unwrap().dialogs[0];
        assert_eq!(
            d.ended.unwrap().duration_since(d.answered.unwrap()),
            Duration::from_secs(7)
        );
        // The stale max-duration timer finds nothing to end.
        let mut ev = Vec::new();
        c.handle_timeout(n0 + Duration::from_secs(5), &mut ev);
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn a_call_past_its_maximum_duration_ends_at_once() {
        let n0 = Instant::now();
        let mut t = table();
        let rec = call_record(b"");
        // Answered at 1,002,000 with 10 s: over at 1,012,000.
        let r = t.restore(n0, 1_100_000, &rec, 1).unwrap();
        assert_eq!(t.next_deadline(), Some(n0));
        let mut ev = Vec::new();
        t.handle_timeout(n0, &mut ev);
        assert!(
            matches!(ev[..], [Event::Ended(_, Ended::MaxDuration), Event::CallEnded(x)] if x == r)
        );
        // A full table refuses; a record with no To tag is not a dialog.
        let mut t = table();
        for i in 0..4u32 {
            let id = format!("c{i}");
            let mut rec = call_record(b"");
            rec.call_id = id.as_bytes();
            assert!(t.restore(n0, 1_003_000, &rec, i).is_ok());
        }
        assert_eq!(t.restore(n0, 1_003_000, &call_record(b""), 9), Err(9));
        let mut rec = call_record(b"");
        rec.to_tag = b"";
        assert_eq!(table().restore(n0, 1_003_000, &rec, 9), Err(9));
    }
}
