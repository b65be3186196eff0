//! The JSON-lines sink: a directory of files, one [`Cdr`] per line
//! (`serde_json`, the field names of [`Cdr`]).
//!
//! # Naming and rotation
//!
//! A file is opened at the first record to write (an idle router makes
//! no empty files) as
//!
//! ```text
//! cdr-<UTC yyyymmddThhmmssZ of opening>-<seq, 6 digits>.jsonl.part
//! ```
//!
//! and written until the next record would take it past `rotate_bytes`
//! (a record larger than that alone gets a file of its own), or until
//! `rotate_s` after it was opened (checked at each batch and at the
//! writer's wake-ups, so an idle file is closed on time too). Closing
//! flushes, fsyncs, renames it to `cdr-...-<seq>.jsonl` (dropping the
//! `.part`) and fsyncs the directory: a collector takes `*.jsonl` only
//! and never sees a file being written; a closed file is never touched
//! again. `seq` counts the files of this process from 1 and is bumped
//! past any name already in the directory, so two files opened in the
//! same second (or by a restarted process) never collide; names sort by
//! opening time.
//!
//! Each batch is flushed to the OS when written (a crash of the process
//! loses nothing taken); fsync happens at rotation and shutdown, so a
//! crash of the machine can lose what the open file got since it was
//! opened (with PostgreSQL configured, the database has it too).
//!
//! A `.part` file left by a previous run is closed at start: cut after
//! its last complete line (a torn last line is logged and dropped) and
//! renamed to `.jsonl`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Cdr;

/// The suffix of a file being written.
pub const PART: &str = ".jsonl.part";
/// The suffix of a closed file, ready for collection.
pub const DONE: &str = ".jsonl";

/// The JSON-lines sink: owns the directory's open file. Time comes in as
/// `now` (the wall clock in service, any clock in tests).
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    rotate_bytes: u64,
    rotate_after: Duration,
    /// The number of the next file.
    seq: u64,
    current: Option<OpenFile>,
    /// One record's line, reused.
    line: Vec<u8>,
}

#[derive(Debug)]
struct OpenFile {
    part: PathBuf,
    done: PathBuf,
    out: BufWriter<File>,
    /// Bytes written (buffered or not).
    len: u64,
    /// Bytes known to be in the file (flushed): what stays if a write fails.
    flushed: u64,
    opened: SystemTime,
}

/// What a batch came to: `ok` records are in files (flushed), the rest
/// of the batch was not written because of `err`.
#[derive(Debug)]
pub struct Written {
    /// Records written and flushed.
    pub ok: usize,
    /// The first error; the records after the `ok` ones were not written.
    pub err: Option<io::Error>,
}

impl FileSink {
    /// Opens the sink on `dir`: makes it if missing, checks that a file
    /// can be made in it, and closes the `.part` files a previous run
    /// left.
    pub fn open(dir: &Path, rotate_bytes: u64, rotate_after: Duration) -> io::Result<FileSink> {
        fs::create_dir_all(dir)?;
        let probe = dir.join(format!(".trunkline-probe-{}", std::process::id()));
        File::create(&probe)?.write_all(b"")?;
        fs::remove_file(&probe)?;
        let mut leftovers = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            if let Some(name) = name.to_str().filter(|n| n.ends_with(PART)) {
                leftovers.push(dir.join(name));
            }
        }
        leftovers.sort();
        for part in leftovers {
            if let Err(e) = close_leftover(&part) {
                tracing::error!("CDR file {} left by a previous run: {e}", part.display());
            }
        }
        Ok(FileSink {
            dir: dir.to_owned(),
            rotate_bytes,
            rotate_after,
            seq: 1,
            current: None,
            line: Vec::with_capacity(1024),
        })
    }

    /// Writes `batch`, one line each, rotating as needed, and flushes.
    /// After an error the file is cut back to what was flushed and closed
    /// (the next batch opens a new one).
    pub fn write(&mut self, batch: &[Cdr], now: SystemTime) -> Written {
        let mut ok = 0;
        // Records written into the open file since its last flush.
        let mut unflushed = 0;
        for cdr in batch {
            self.line.clear();
            if let Err(e) = serde_json::to_writer(&mut self.line, cdr) {
                self.abandon();
                return Written {
                    ok,
                    err: Some(e.into()),
                };
            }
            self.line.push(b'\n');
            let len = self.line.len() as u64;
            let rotate = self.current.as_ref().is_some_and(|f| {
                f.len > 0 && (f.len + len > self.rotate_bytes || self.expired(f, now))
            });
            if rotate {
                if let Err(e) = self.close() {
                    self.abandon();
                    return Written { ok, err: Some(e) };
                }
                ok += unflushed;
                unflushed = 0;
            }
            if let Err(e) = self.append(now) {
                self.abandon();
                return Written { ok, err: Some(e) };
            }
            unflushed += 1;
        }
        if let Some(f) = &mut self.current {
            match f.out.flush() {
                Ok(()) => {
                    f.flushed = f.len;
                    ok += unflushed;
                }
                Err(e) => {
                    self.abandon();
                    return Written { ok, err: Some(e) };
                }
            }
        }
        Written { ok, err: None }
    }

    /// Closes the open file if it is due (`rotate_s` since it was
    /// opened).
    pub fn tick(&mut self, now: SystemTime) -> io::Result<()> {
        match &self.current {
            Some(f) if self.expired(f, now) => self.close(),
            _ => Ok(()),
        }
    }

    /// When the open file is due to be closed, if one is open.
    pub fn deadline(&self) -> Option<SystemTime> {
        self.current.as_ref().map(|f| f.opened + self.rotate_after)
    }

    /// Closes the open file, if any: flush, fsync, rename to `.jsonl`,
    /// fsync the directory. For rotation and shutdown. After an error
    /// it is cut back to what was flushed and closed as best it can be.
    pub fn close(&mut self) -> io::Result<()> {
        let closed = self.try_close();
        if closed.is_err() {
            self.abandon();
        }
        closed
    }

    fn try_close(&mut self) -> io::Result<()> {
        // Left open on an error, for the caller to abandon.
        let Some(f) = &mut self.current else {
            return Ok(());
        };
        f.out.flush()?;
        f.flushed = f.len;
        f.out.get_ref().sync_all()?;
        let Some(f) = self.current.take() else {
            unreachable!("open above")
        };
        fs::rename(&f.part, &f.done)?;
        sync_dir(&self.dir)?;
        tracing::debug!(file = %f.done.display(), bytes = f.len, "CDR file closed");
        Ok(())
    }

    /// The open file (`.part`), if any.
    pub fn current(&self) -> Option<&Path> {
        self.current.as_ref().map(|f| f.part.as_path())
    }

    fn expired(&self, f: &OpenFile, now: SystemTime) -> bool {
        now.duration_since(f.opened).unwrap_or_default() >= self.rotate_after
    }

    /// Appends `self.line` to the open file, opening one if needed.
    fn append(&mut self, now: SystemTime) -> io::Result<()> {
        if self.current.is_none() {
            self.current = Some(self.create(now)?);
        }
        let Some(f) = &mut self.current else {
            unreachable!("opened above")
        };
        f.out.write_all(&self.line)?;
        f.len += self.line.len() as u64;
        Ok(())
    }

    /// Makes the next file, named for `now` and the first free `seq`.
    fn create(&mut self, now: SystemTime) -> io::Result<OpenFile> {
        let stamp = utc_stamp(now);
        loop {
            let base = file_name(&stamp, self.seq);
            self.seq += 1;
            let done = self.dir.join(format!("{base}{DONE}"));
            let part = self.dir.join(format!("{base}{PART}"));
            if done.exists() {
                continue;
            }
            match OpenOptions::new().write(true).create_new(true).open(&part) {
                Ok(file) => {
                    return Ok(OpenFile {
                        part,
                        done,
                        out: BufWriter::with_capacity(64 << 10, file),
                        len: 0,
                        flushed: 0,
                        opened: now,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// After a failed write: cuts the open file back to what was flushed
    /// and closes it as best it can (a file that cannot be closed stays
    /// `.part` and is closed at the next start).
    fn abandon(&mut self) {
        let Some(f) = self.current.take() else {
            return;
        };
        let (part, done, flushed) = (f.part.clone(), f.done.clone(), f.flushed);
        // Without writing the buffer's rest.
        let (file, _unwritten) = f.out.into_parts();
        let closed = file
            .set_len(flushed)
            .and_then(|()| file.sync_all())
            .and_then(|()| fs::rename(&part, &done))
            .and_then(|()| sync_dir(&self.dir));
        if let Err(e) = closed {
            tracing::error!("CDR file {}: cannot close it: {e}", part.display());
        }
    }
}

/// `cdr-<stamp>-<seq>`, without suffix.
pub fn file_name(stamp: &str, seq: u64) -> String {
    format!("cdr-{stamp}-{seq:06}")
}

/// `yyyymmddThhmmssZ`, UTC (times before 1970 are 1970).
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::calendar::civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Closes a `.part` file left by a previous run: cut after its last
/// newline, fsync, rename to `.jsonl` (an empty one is removed).
fn close_leftover(part: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(part)?;
    let len = file.metadata()?.len();
    let keep = last_line_end(&mut file, len)?;
    if keep < len {
        tracing::warn!(
            "CDR file {}: dropped a torn last line ({} bytes) left by a previous run",
            part.display(),
            len - keep
        );
        file.set_len(keep)?;
    }
    let dir = part.parent().unwrap_or(Path::new("."));
    if keep == 0 {
        drop(file);
        fs::remove_file(part)?;
    } else {
        file.sync_all()?;
        let name = part.to_string_lossy();
        let done = PathBuf::from(format!("{}{DONE}", &name[..name.len() - PART.len()]));
        fs::rename(part, &done)?;
        tracing::info!("CDR file {} left by a previous run closed", done.display());
    }
    sync_dir(dir)
}

/// The length of `file` up to and with its last `\n` (0 if none).
fn last_line_end(file: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// fsyncs a directory, so a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdr(i: usize) -> Cdr {
        Cdr {
            call_id: format!("call-{i}@example.net"),
            leg: 0,
            caller: "4930123".into(),
            callee: "4420555".into(),
            caller_sent: "4930123".into(),
            callee_sent: "004420555".into(),
            source: "192.0.2.1:5060".into(),
            group: Some("retail".into()),
            attempts: vec![super::super::Attempt {
                gateway: "gw1".into(),
                dest: "198.51.100.7:5060".into(),
                start_ms: 1_700_000_000_000,
                code: 200,
                pdd_ms: Some(1200),
            }],
            setup_ms: 1_700_000_000_000,
            answer_ms: Some(1_700_000_003_000),
            end_ms: 1_700_000_063_000,
            duration_ms: 60_000,
            hangup: super::super::Hangup::Caller,
            cause: "normal".into(),
            sip_code: 200,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    fn lines(path: &Path) -> Vec<Cdr> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    const T0: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(at(0)), "19700101T000000Z");
        assert_eq!(utc_stamp(at(T0)), "20231114T221320Z");
        assert_eq!(utc_stamp(at(951_782_400)), "20000229T000000Z");
        assert_eq!(utc_stamp(at(4_102_444_799)), "20991231T235959Z");
        assert_eq!(
            file_name("20231114T221320Z", 7),
            "cdr-20231114T221320Z-000007"
        );
    }

    #[test]
    fn json_round_trip() {
        let c = cdr(1);
        let s = serde_json::to_string(&c).unwrap();
        assert!(s.contains(r#""hangup":"caller""#), "{s}");
        assert_eq!(serde_json::from_str::<Cdr>(&s).unwrap(), c);
        let empty = Cdr::default();
        let s = serde_json::to_string(&empty).unwrap();
        assert!(s.contains(r#""group":null"#) && s.contains(r#""hangup":"none""#));
        assert_eq!(serde_json::from_str::<Cdr>(&s).unwrap(), empty);
    }

    #[test]
    fn rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let line = serde_json::to_vec(&cdr(0)).unwrap().len() as u64 + 1;
        // Room for 3 lines (numbers 0..9 keep the length the same).
        let mut sink = FileSink::open(dir.path(), 3 * line + 2, Duration::from_secs(3600)).unwrap();
        let batch: Vec<Cdr> = (0..8).map(cdr).collect();
        let w = sink.write(&batch, at(T0));
        assert!(w.err.is_none());
        assert_eq!(w.ok, 8);
        assert_eq!(
            names(dir.path()),
            [
                "cdr-20231114T221320Z-000001.jsonl",
                "cdr-20231114T221320Z-000002.jsonl",
                "cdr-20231114T221320Z-000003.jsonl.part",
            ]
        );
        sink.close().unwrap();
        let all: Vec<Cdr> = names(dir.path())
            .iter()
            .flat_map(|n| lines(&dir.path().join(n)))
            .collect();
        assert_eq!(all, batch);
        let sizes: Vec<u64> = names(dir.path())
            .iter()
            .map(|n| fs::metadata(dir.path().join(n)).unwrap().len())
            .collect();
        assert_eq!(sizes, [3 * line, 3 * line, 2 * line]);
    }

    #[test]
    fn one_record_larger_than_rotate_bytes_gets_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::open(dir.path(), 10, Duration::from_secs(3600)).unwrap();
        let w = sink.write(&[cdr(1), cdr(2)], at(T0));
        assert_eq!((w.ok, w.err.is_none()), (2, true));
        sink.close().unwrap();
        assert_eq!(names(dir.path()).len(), 2);
    }

    #[test]
    fn rotates_by_time_on_virtual_clock() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::open(dir.path(), 1 << 30, Duration::from_secs(60)).unwrap();
        assert_eq!(sink.deadline(), None);
        // Nothing written yet: no file, nothing to rotate.
        sink.tick(at(T0)).unwrap();
        assert!(names(dir.path()).is_empty());

        sink.write(&[cdr(1)], at(T0));
        assert_eq!(sink.deadline(), Some(at(T0 + 60)));
        sink.tick(at(T0 + 59)).unwrap();
        assert_eq!(
            names(dir.path()),
            ["cdr-20231114T221320Z-000001.jsonl.part"]
        );
        // An idle file is closed on time by the tick.
        sink.tick(at(T0 + 60)).unwrap();
        assert_eq!(names(dir.path()), ["cdr-20231114T221320Z-000001.jsonl"]);
        assert_eq!(sink.deadline(), None);

        // A write past the deadline rotates before writing.
        sink.write(&[cdr(2)], at(T0 + 100));
        sink.write(&[cdr(3)], at(T0 + 170));
        sink.close().unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "cdr-20231114T221320Z-000001.jsonl",
                "cdr-20231114T221500Z-000002.jsonl",
                "cdr-20231114T221610Z-000003.jsonl",
            ]
        );
        // A clock going back does not rotate (nor panic).
        sink.write(&[cdr(4)], at(T0 + 200));
        sink.tick(at(T0)).unwrap();
        assert!(sink.current().is_some());
    }

    #[test]
    fn names_never_collide_and_leftovers_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut sink = FileSink::open(dir.path(), 1 << 30, Duration::from_secs(60)).unwrap();
            sink.write(&[cdr(1), cdr(2)], at(T0));
            // A crash: the file stays .part, with a torn line after.
            let part = sink.current().unwrap().to_owned();
            std::mem::forget(sink);
            let mut f = OpenOptions::new().append(true).open(&part).unwrap();
            f.write_all(br#"{"call_id":"torn"#).unwrap();
        }
        // An empty leftover is removed.
        File::create(dir.path().join("cdr-20231114T221320Z-000009.jsonl.part")).unwrap();
        let mut sink = FileSink::open(dir.path(), 1 << 30, Duration::from_secs(60)).unwrap();
        assert_eq!(names(dir.path()), ["cdr-20231114T221320Z-000001.jsonl"]);
        assert_eq!(
            lines(&dir.path().join("cdr-20231114T221320Z-000001.jsonl")),
            [cdr(1), cdr(2)]
        );
        // The restarted process in the same second skips the taken name.
        sink.write(&[cdr(3)], at(T0));
        assert_eq!(
            sink.current().unwrap().file_name().unwrap(),
            "cdr-20231114T221320Z-000002.jsonl.part"
        );
    }

    #[test]
    fn unwritable_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        File::create(&file).unwrap();
        assert!(FileSink::open(&file.join("sub"), 1, Duration::from_secs(1)).is_err());
    }
}
