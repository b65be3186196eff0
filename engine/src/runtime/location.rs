//! The registrar's bindings on disk (`[registrar] snapshot = "DIR"`): a
//! snapshot of each partition of the location table, written every
//! [`SAVE_EVERY`] and at shutdown as `DIR/location-<i>.jsonl` (one
//! [`BindingRecord`] per line, JSON, expiry as Unix time), through a
//! temporary file renamed over the old one (a crash mid-write leaves the
//! previous snapshot whole). At start every `location-*.jsonl` is read
//! back, whatever the number of partitions then: a binding goes to the
//! partition of its AOR, with the lifetime it had left; expired ones are
//! dropped. A restart loses at most the changes of the last interval.
//!
//! [`BindingRecord`]: crate::registrar::BindingRecord

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::registrar::{BindingRecord, Location};

/// How often the snapshots are written.
pub const SAVE_EVERY: Duration = Duration::from_secs(5);

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads every `location-*.jsonl` of `dir` into `location`; returns
/// (bindings taken back, lines refused). A missing directory is created.
pub fn restore(dir: &Path, location: &Location) -> std::io::Result<(usize, usize)> {
    std::fs::create_dir_all(dir)?;
    let (now, unix) = (Instant::now(), unix_now());
    let (mut taken, mut refused) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !(name.starts_with("location-") && name.ends_with(".jsonl")) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let rec = serde_json::from_str::<BindingRecord>(line).map_err(|e| e.to_string());
            match rec.and_then(|r| location.import(now, unix, r).map_err(|e| e.to_string())) {
                Ok(()) => taken += 1,
                Err(e) => {
                    refused += 1;
                    tracing::debug!("{}:{}: binding not restored: {e}", path.display(), n + 1);
                }
            }
        }
    }
    Ok((taken, refused))
}

/// Writes every partition of `location` to `dir`.
pub fn save(dir: &Path, location: &Location) -> std::io::Result<usize> {
    let (now, unix) = (Instant::now(), unix_now());
    let mut saved = 0;
    for p in 0..location.partitions() {
        let mut out = Vec::new();
        for rec in location.export(p, now, unix) {
            serde_json::to_writer(&mut out, &rec).map_err(std::io::Error::other)?;
            out.push(b'\n');
            saved += 1;
        }
        let path = dir.join(format!("location-{p}.jsonl"));
        let tmp = path.with_extension("jsonl.part");
        std::fs::write(&tmp, &out)?;
        std::fs::rename(&tmp, &path)?;
    }
    // Partitions beyond today's count (fewer shards than last time) were
    // read back at start and are in today's files now.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let index = name
                .strip_prefix("location-")
                .and_then(|n| n.strip_suffix(".jsonl"))
                .and_then(|n| n.parse::<usize>().ok());
            if index.is_some_and(|i| i >= location.partitions()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(saved)
}

/// The thread that writes the snapshots; writes a last one when dropped.
#[derive(Debug)]
pub struct LocationSaver {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocationSaver {
    /// Saves `location` to `dir` every [`SAVE_EVERY`].
    pub fn start(dir: PathBuf, location: Arc<Location>) -> std::io::Result<LocationSaver> {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tl-location".into())
            .spawn(move || {
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(SAVE_EVERY),
                        Err(RecvTimeoutError::Timeout)
                    );
                    if let Err(e) = save(&dir, &location) {
                        tracing::warn!("cannot save the bindings to {}: {e}", dir.display());
                    }
                    if last {
                        break;
                    }
                }
            })?;
        Ok(LocationSaver {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for LocationSaver {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
