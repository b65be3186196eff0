//! The dialog journal on disk (`[dialogs] journal = "DIR"`): live calls
//! survive a restart of the router.
//!
//! The record format and the restore are sans-IO
//! ([`trunkline_shards::dialog::journal`], [`crate::proxy::calls`]); this
//! is the files.
//!
//! # Files
//!
//! `DIR/shard-N.journal`, one per shard, append-only, each written by its
//! shard's thread alone:
//!
//! - **Append.** The core produces a call's record when its dialog is
//!   confirmed (again on a re-INVITE or UPDATE) and an end record when it
//!   is over; the shard collects them and writes them at most every
//!   [`FLUSH_EVERY`] (one `write` for all the records of that time, none
//!   per message). Nothing is fsynced: a crash of the process loses
//!   nothing written (the kernel has it), a crash of the host can lose
//!   what the kernel had not written back, and either loses the records
//!   of the last [`FLUSH_EVERY`]: calls answered in it are not restored
//!   (their BYE is still routed, by its Route set; they get no CDR), and
//!   calls ended in it are restored (they end again at their maximum
//!   duration, or never without one: set `max_duration_s`).
//! - **Compact.** Once the file is past [`COMPACT_MIN_BYTES`] and
//!   [`COMPACT_RATIO`] times its size after the last rewrite, the shard
//!   writes the records of its live calls afresh (from the core's state)
//!   to `shard-N.journal.tmp` and renames it over the file. This is done
//!   in the shard's thread: some milliseconds per 10,000 live calls
//!   (about 0.5 KiB each), amortised over the three times as many bytes
//!   appended since. A write that fails is logged and the next flush
//!   compacts (which rewrites every live call).
//! - **Start.** Before any shard runs, [`load`] reads every
//!   `shard-*.journal` (whatever the shard count was), keeps the calls
//!   whose last record is not an end (an end wins over a record in
//!   another file), hands each to the shard that owns its Call-ID in the
//!   new process (the shard map's seed is per process: calls move), and
//!   rewrites the files: `shard-N.journal` for each new shard with its
//!   calls, each written to a temporary file and synced, then all
//!   renamed, then files of shards beyond the new count removed. A crash
//!   at any point leaves every live call in some file (a duplicate is
//!   restored once). Each shard then takes its calls back into its core
//!   before it serves ([`crate::proxy::ProxyCore::restore_call`]).
//!
//! Damaged records (a torn last write, a stray byte) are skipped and
//! counted in the start-up log line.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trunkline_shards::ShardMap;
use trunkline_shards::dialog::journal::{ReadStats, Reader, Record};

use crate::proxy::ProxyCore;

/// Longest a record waits in memory before it is written.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A journal smaller than this is never compacted.
pub(crate) const COMPACT_MIN_BYTES: u64 = 1 << 20;

/// A journal is compacted when it is this many times its size after its
/// last rewrite (and past [`COMPACT_MIN_BYTES`]).
pub(crate) const COMPACT_RATIO: u64 = 4;

/// The journal of shard `shard` in `dir`.
fn shard_file(dir: &Path, shard: u16) -> PathBuf {
    dir.join(format!("shard-{shard}.journal"))
}

fn tmp_of(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".tmp");
    PathBuf::from(p)
}

/// The shard number of a journal's file name (`shard-N.journal`).
fn shard_of(name: &str) -> Option<u32> {
    name.strip_prefix("shard-")?
        .strip_suffix(".journal")?
        .parse()
        .ok()
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Each new shard's calls: their records' frames, one after another
    /// (what its rewritten file holds).
    pub shards: Vec<Vec<u8>>,
    /// Files read.
    pub files: usize,
    /// Live calls found.
    pub calls: usize,
    /// What the reads skipped, summed.
    pub read: ReadStats,
}

/// Reads the journals in `dir` (created if missing), keeps the live
/// calls, gives each to its owner under `map` and rewrites the files for
/// `map`'s shard count (see the module docs).
pub(crate) fn load(dir: &Path, map: &ShardMap) -> io::Result<Loaded> {
    std::fs::create_dir_all(dir)?;
    let mut files: Vec<(u32, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = shard_of(name) {
            files.push((n, e.path()));
        } else if name.starts_with("shard-") && name.ends_with(".journal.tmp") {
            // A rewrite that did not finish: its file still holds all.
            let _ = std::fs::remove_file(e.path());
        }
    }
    files.sort();
    let texts = files
        .iter()
        .map(|(_, p)| std::fs::read(p))
        .collect::<io::Result<Vec<Vec<u8>>>>()?;
    let mut loaded = Loaded {
        shards: vec![Vec::new(); usize::from(map.shards())],
        files: files.len(),
        ..Loaded::default()
    };
    // The last record of each call, in the order first seen; an end
    // anywhere closes the call for good.
    let mut live: HashMap<(&[u8], &[u8]), usize> = HashMap::new();
    let mut frames: Vec<Option<(&[u8], &[u8])>> = Vec::new();
    let mut ended: HashSet<(&[u8], &[u8])> = HashSet::new();
    for text in &texts {
        let mut r = Reader::new(text);
        while let Some((frame, rec)) = r.next_frame() {
            let key = rec.key();
            match rec {
                Record::Call(c) if !ended.contains(&key) => match live.get(&key) {
                    Some(&i) => frames[i] = Some((frame, c.call_id)),
                    None => {
                        live.insert(key, frames.len());
                        frames.push(Some((frame, c.call_id)));
                    }
                },
                Record::Call(_) => {}
                Record::End { .. } => {
                    if let Some(i) = live.remove(&key) {
                        frames[i] = None;
                    }
                    ended.insert(key);
                }
            }
        }
        let s = r.stats();
        loaded.read.records += s.records;
        loaded.read.corrupt += s.corrupt;
        loaded.read.skipped_bytes += s.skipped_bytes;
        loaded.read.unknown += s.unknown;
    }
    for (frame, call_id) in frames.into_iter().flatten() {
        let owner = map.owner(call_id).index();
        loaded.shards[owner].extend_from_slice(frame);
        loaded.calls += 1;
    }
    // Every new file written and synced before any is renamed: until the
    // renames, the old files hold every call.
    let mut written = Vec::with_capacity(loaded.shards.len());
    for (i, calls) in loaded.shards.iter().enumerate() {
        let path = shard_file(dir, i as u16);
        let tmp = tmp_of(&path);
        let mut f = File::create(&tmp)?;
        f.write_all(calls)?;
        f.sync_all()?;
        written.push((tmp, path));
    }
    for (tmp, path) in &written {
        std::fs::rename(tmp, path)?;
    }
    for (n, path) in &files {
        if *n >= u32::from(map.shards()) {
            std::fs::remove_file(path)?;
        }
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(loaded)
}

/// One shard's journal file: the records waiting to be written, and when
/// to compact (see the module docs).
#[derive(Debug)]
pub(crate) struct ShardJournal {
    shard: u16,
    path: PathBuf,
    file: File,
    /// Records taken from the core, not yet written.
    pub pending: Vec<u8>,
    /// When `pending` is written (set when it stops being empty).
    due: Option<Instant>,
    /// The file's size, and its size after the last rewrite.
    size: u64,
    base: u64,
    /// A write failed: the next flush rewrites the file.
    dirty: bool,
    /// Writes that failed (logged once per [`ShardJournal::take_errors`]).
    errors: u64,
}

impl ShardJournal {
    /// Shard `shard`'s journal in `dir`, as [`load`] left it, opened to
    /// append.
    pub fn open(dir: &Path, shard: u16) -> io::Result<ShardJournal> {
        let path = shard_file(dir, shard);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(ShardJournal {
            shard,
            path,
            file,
            pending: Vec::new(),
            due: None,
            size,
            base: size,
            dirty: false,
            errors: 0,
        })
    }

    /// Takes the core's new records (after each pass: no syscall; the
    /// clock is read only when the first of a batch comes).
    pub fn collect(&mut self, core: &mut ProxyCore) {
        core.take_journal(&mut self.pending);
        if !self.pending.is_empty() && self.due.is_none() {
            self.due = Some(Instant::now() + FLUSH_EVERY);
        }
    }

    /// When [`ShardJournal::flush`] is next due.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Writes what is pending (and compacts when the file has grown, or a
    /// write failed): at `now` past [`ShardJournal::due`], or at once
    /// when `now` is `None` (the shard stops).
    pub fn flush(&mut self, now: Option<Instant>, core: &mut ProxyCore) {
        if let (Some(now), Some(due)) = (now, self.due) {
            if now < due {
                return;
            }
        }
        self.due = None;
        let grown = self.size + self.pending.len() as u64;
        if self.dirty || (grown > COMPACT_MIN_BYTES && grown > COMPACT_RATIO * self.base) {
            self.compact(core);
            return;
        }
        if self.pending.is_empty() {
            return;
        }
        match self.file.write_all(&self.pending) {
            Ok(()) => self.size += self.pending.len() as u64,
            Err(e) => self.failed("append", &e),
        }
        self.pending.clear();
    }

    /// Rewrites the file with the core's live calls (what is pending is
    /// in them, or over).
    fn compact(&mut self, core: &mut ProxyCore) {
        core.take_journal(&mut self.pending);
        self.pending.clear();
        let mut snap = Vec::new();
        let calls = core.journal_snapshot(&mut snap);
        let tmp = tmp_of(&self.path);
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(&snap)?;
            std::fs::rename(&tmp, &self.path)?;
            Ok(f)
        });
        match written {
            Ok(f) => {
                // The renamed file's handle: later appends go to it.
                self.file = f;
                self.size = snap.len() as u64;
                self.base = self.size;
                self.dirty = false;
                tracing::debug!(
                    shard = self.shard,
                    calls,
                    bytes = self.size,
                    "journal compacted"
                );
            }
            Err(e) => self.failed("compact", &e),
        }
    }

    fn failed(&mut self, what: &str, e: &io::Error) {
        self.errors += 1;
        self.dirty = true;
        if self.errors == 1 || self.errors.is_power_of_two() {
            tracing::warn!(
                shard = self.shard,
                path = %self.path.display(),
                errors = self.errors,
                "dialog journal: {what} failed: {e} (the next write rewrites it)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trunkline_shards::dialog::journal::CallRecord;

    fn record(call_id: &str, user: &[u8]) -> Vec<u8> {
        let rec = CallRecord {
            call_id: call_id.as_bytes(),
            from: b"<sip:a@x>;tag=a",
            from_tag: b"a",
            to: b"<sip:b@y>",
            caller_contact: b"sip:a@192.0.2.1",
            route_to_caller: b"",
            callee_to: b"<sip:b@y>;tag=b",
            to_tag: b"b",
            callee_contact: b"sip:b@192.0.2.2",
            route_to_callee: b"",
            caller_cseq: 1,
            callee_cseq: 0,
            code: 200,
            invited_ms: 1,
            answered_ms: 2,
            max_duration: None,
            user,
        };
        let mut out = Vec::new();
        assert!(Record::Call(rec).encode(&mut out));
        out
    }

    fn end(call_id: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let end = Record::End {
            call_id: call_id.as_bytes(),
            from_tag: b"a",
        };
        assert!(end.encode(&mut out));
        out
    }

    fn ids(buf: &[u8]) -> Vec<String> {
        Reader::new(buf)
            .map(|r| String::from_utf8_lossy(r.key().0).into_owned())
            .collect()
    }

    /// A shard's file as a call goes: its record appended at the flush
    /// after the answer (not before); a compaction (forced, as after a
    /// failed write) rewrites the file with the live call alone, the
    /// damage dropped; its end appended to the renamed file; the next
    /// compaction leaves the file empty.
    #[test]
    fn a_shard_appends_and_compacts() {
        use crate::proxy::ProxyConfig;
        use crate::testkit::sip::{UacCall, respond};
        use crate::testkit::{VirtualNet, addr};
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::Config::parse("[dialogs]\n", Path::new("x.toml")).unwrap();
        let mut proxy = ProxyConfig::new(addr("192.0.2.1:5060"), Some(addr("192.0.2.20:5070")));
        proxy.dialogs = cfg.proxy.dialogs;
        let mut n = VirtualNet::new(proxy);
        assert!(n.core.enable_journal());
        let mut j = ShardJournal::open(dir.path(), 3).unwrap();
        let file = || std::fs::read(shard_file(dir.path(), 3)).unwrap();
        let c = UacCall::new(addr("192.0.2.10:5060"), "sip:bob@192.0.2.20:5070", "jc-1");
        n.from("192.0.2.10:5060", &c.invite("z9hG4bKj"));
        let inv = n
            .take()
            .into_iter()
            .find(|(_, m)| m.starts_with("INVITE"))
            .unwrap()
            .1;
        let ok = respond(&inv, 200, "OK", Some("b"), Some(addr("192.0.2.20:5070")));
        n.from("192.0.2.20:5070", &ok);
        j.collect(&mut n.core);
        let due = j.due().expect("a record waits");
        j.flush(Some(due - Duration::from_millis(1)), &mut n.core);
        assert!(file().is_empty(), "not before its time");
        j.flush(Some(due), &mut n.core);
        assert_eq!(ids(&file()), ["jc-1"]);
        assert_eq!(j.due(), None);
        // Damage, then a forced rewrite: the live call alone.
        j.file.write_all(b"TLJ1 torn").unwrap();
        j.dirty = true;
        j.flush(None, &mut n.core);
        let compacted = file();
        assert_eq!(ids(&compacted), ["jc-1"]);
        assert_eq!(Reader::new(&compacted).count(), 1);
        let mut r = Reader::new(&compacted);
        r.by_ref().count();
        assert_eq!(r.stats().corrupt, 0);
        assert!(!tmp_of(&shard_file(dir.path(), 3)).exists());
        // The caller hangs up: the end is appended to the renamed file.
        let route = "<sip:192.0.2.1:5060;lr>";
        n.from(
            "192.0.2.10:5060",
            &c.request("BYE", 2, "z9hG4bKjb", Some("b"), Some(route)),
        );
        j.collect(&mut n.core);
        j.flush(None, &mut n.core);
        let with_end = file();
        assert_eq!(ids(&with_end), ["jc-1", "jc-1"]);
        assert!(matches!(
            Reader::new(&with_end).nth(1),
            Some(Record::End { .. })
        ));
        j.dirty = true;
        j.flush(None, &mut n.core);
        assert!(file().is_empty(), "no live call");
    }

    /// Three shards' files become two: every live call lands in the file
    /// of its new owner (and only there), ended ones nowhere, the third
    /// file is gone, a torn tail is counted.
    #[test]
    fn start_up_moves_live_calls_to_their_new_owners() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut f0 = [record("c1", b"1"), record("c2", b""), end("c1")].concat();
        f0.extend_from_slice(&record("c9", b"")[..20]); // torn
        let f1 = [record("c3", b""), end("c2"), record("c4", b"old")].concat();
        let f2 = [record("c4", b"new"), record("c5", b"")].concat();
        std::fs::write(shard_file(d, 0), f0).unwrap();
        std::fs::write(shard_file(d, 1), f1).unwrap();
        std::fs::write(shard_file(d, 2), f2).unwrap();
        std::fs::write(d.join("shard-1.journal.tmp"), b"half").unwrap();
        std::fs::write(d.join("other"), b"kept").unwrap();
        let map = ShardMap::new(2, 99);
        let l = load(d, &map).unwrap();
        assert_eq!((l.files, l.calls), (3, 3));
        assert_eq!((l.read.corrupt, l.read.records), (1, 8));
        let mut all: Vec<String> = l.shards.iter().flat_map(|b| ids(b)).collect();
        all.sort();
        assert_eq!(all, ["c3", "c4", "c5"]);
        for (i, b) in l.shards.iter().enumerate() {
            for id in ids(b) {
                assert_eq!(map.owner(id.as_bytes()).index(), i, "{id}");
            }
            assert_eq!(&std::fs::read(shard_file(d, i as u16)).unwrap(), b);
        }
        // The latest record of c4 is kept.
        let c4 = l
            .shards
            .iter()
            .flat_map(|b| Reader::new(b).collect::<Vec<_>>());
        let users: Vec<&[u8]> = c4
            .filter_map(|r| match r {
                Record::Call(c) if c.call_id == b"c4" => Some(c.user),
                _ => None,
            })
            .collect();
        assert_eq!(users, [&b"new"[..]]);
        assert!(!shard_file(d, 2).exists());
        assert!(!d.join("shard-1.journal.tmp").exists());
        assert!(d.join("other").exists());
        // Loading again finds the same calls.
        let again = load(d, &map).unwrap();
        assert_eq!((again.files, again.calls, again.read.corrupt), (2, 3, 0));
    }
}
