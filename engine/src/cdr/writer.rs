//! [`CdrWriter`]: the thread `trunkline-cdr` that owns the sinks, and
//! [`CdrSender`], the shards' end of its queue.
//!
//! The thread takes records off a bounded crossbeam channel into batches
//! of `batch` (or fewer once the first has waited `flush_ms`), writes
//! each batch to the file sink, then to PostgreSQL (or its spool), and in
//! between closes files that are due and reconnects / replays the spool.
//! It sleeps on the channel until the earliest of those deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::file::FileSink;
use super::postgres::PgSink;
use super::{Cdr, CdrConfig, CdrError};

/// The longest the thread sleeps without a deadline.
const IDLE: Duration = Duration::from_secs(1);

/// The counters, shared by the thread and the senders.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) written_files: AtomicU64,
    pub(crate) written_db: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) db_up: AtomicBool,
}

impl Counters {
    pub(crate) fn add(&self, counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> CdrCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CdrCounts {
            written_files: get(&self.written_files),
            written_db: get(&self.written_db),
            spooled: get(&self.spooled),
            replayed: get(&self.replayed),
            dropped: get(&self.dropped),
            failed: get(&self.failed),
            db_up: self.db_up.load(Ordering::Relaxed),
        }
    }
}

/// What the CDR writer did, in records (since start).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CdrCounts {
    /// Written to JSON-lines files (flushed).
    pub written_files: u64,
    /// Committed to the database, directly or from the spool (a record
    /// whose row was already there counts too).
    pub written_db: u64,
    /// Written to the spool (the database down, or a write failed).
    pub spooled: u64,
    /// Committed from the spool (also in `written_db`).
    pub replayed: u64,
    /// Refused by [`CdrSender::send`]: the queue was full, or the writer
    /// stopped.
    pub dropped: u64,
    /// Taken but not written by a sink: a file write failed, or the
    /// database and the spool both did (logged).
    pub failed: u64,
    /// Whether the database connection is up (false without one).
    pub db_up: bool,
}

/// The shards' end of the queue: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct CdrSender {
    tx: Sender<Cdr>,
    counters: Arc<Counters>,
}

impl CdrSender {
    /// Queues `cdr` for the writer. Never blocks: when `queue` records
    /// are already in flight (or the writer has stopped), the record is
    /// dropped, counted, and `false` returned (logged at the first drop
    /// and each power of two after, not per record).
    pub fn send(&self, cdr: Cdr) -> bool {
        let full = match self.tx.try_send(cdr) {
            Ok(()) => return true,
            Err(TrySendError::Full(_)) => "full",
            Err(TrySendError::Disconnected(_)) => "closed (writer stopped)",
        };
        let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(dropped = n, "CDR queue {full}: record dropped");
        }
        false
    }

    /// The writer's counters.
    pub fn counts(&self) -> CdrCounts {
        self.counters.snapshot()
    }
}

/// The CDR writer: the `trunkline-cdr` thread and the sinks it owns.
/// Dropping it is [`CdrWriter::shutdown`].
#[derive(Debug)]
pub struct CdrWriter {
    tx: Sender<Cdr>,
    /// Dropped to stop the thread.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl CdrWriter {
    /// Opens the sinks `cfg` names (the files' directory and the spool
    /// are made if missing and must be writable; the database is
    /// connected to from the thread, so a database down at start only
    /// spools) and starts the thread.
    pub fn start(cfg: &CdrConfig) -> Result<CdrWriter, CdrError> {
        cfg.validate()?;
        if !cfg.enabled() {
            return Err(CdrError::Setting {
                key: "path",
                message: "neither path nor postgres is set: no sink".to_owned(),
            });
        }
        let counters = Arc::new(Counters::default());
        let file = match &cfg.path {
            Some(path) => Some(
                FileSink::open(path, cfg.rotate_bytes, Duration::from_secs(cfg.rotate_s)).map_err(
                    |source| CdrError::Dir {
                        path: path.clone(),
                        source,
                    },
                )?,
            ),
            None => None,
        };
        let pg = match &cfg.postgres {
            Some(url) => Some(PgSink::new(
                url,
                &cfg.table,
                &cfg.spool_dir(),
                counters.clone(),
            )?),
            None => None,
        };
        let (tx, rx) = crossbeam_channel::bounded(cfg.queue);
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let mut sinks = Sinks {
            file,
            pg,
            counters: counters.clone(),
        };
        let (batch, flush) = (cfg.batch, Duration::from_millis(cfg.flush_ms));
        let thread = std::thread::Builder::new()
            .name("trunkline-cdr".to_owned())
            .spawn(move || sinks.run(&rx, &stopped, batch, flush))
            .map_err(CdrError::Thread)?;
        Ok(CdrWriter {
            tx,
            stop: Some(stop),
            thread: Some(thread),
            counters,
        })
    }

    /// A sender for a shard.
    pub fn sender(&self) -> CdrSender {
        CdrSender {
            tx: self.tx.clone(),
            counters: self.counters.clone(),
        }
    }

    /// The counters.
    pub fn counts(&self) -> CdrCounts {
        self.counters.snapshot()
    }

    /// Stops the thread: what is queued is written (files flushed, fsynced
    /// and closed; the last batch committed, after one more connection
    /// attempt if the database was down, or spooled), then it is joined.
    /// Stop the shards first: records sent after this are dropped.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("CDR writer thread panicked");
            }
        }
    }
}

impl Drop for CdrWriter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Counts a file write of `n` records.
fn count_file(counters: &Counters, n: usize, w: super::file::Written) {
    counters.add(&counters.written_files, w.ok);
    if let Some(e) = w.err {
        tracing::error!("CDR file: {} records not written: {e}", n - w.ok);
        counters.add(&counters.failed, n - w.ok);
    }
}

/// The sinks, on the writer's thread.
struct Sinks {
    file: Option<FileSink>,
    pg: Option<PgSink>,
    counters: Arc<Counters>,
}

impl Sinks {
    fn run(&mut self, rx: &Receiver<Cdr>, stop: &Receiver<()>, size: usize, flush: Duration) {
        let mut batch = Vec::with_capacity(size);
        // When the batch's first record came, plus `flush`.
        let mut due: Option<Instant> = None;
        loop {
            let wait = self.wait(due);
            crossbeam_channel::select! {
                recv(rx) -> cdr => match cdr {
                    Ok(cdr) => {
                        batch.push(cdr);
                        due.get_or_insert_with(|| Instant::now() + flush);
                    }
                    // Unreachable while the writer holds a sender.
                    Err(_) => break,
                },
                // Only ever disconnected: `shutdown`.
                recv(stop) -> _ => break,
                default(wait) => {}
            }
            while batch.len() < size {
                match rx.try_recv() {
                    Ok(cdr) => batch.push(cdr),
                    Err(_) => break,
                }
            }
            if batch.len() >= size || due.is_some_and(|d| Instant::now() >= d) {
                self.write(&batch);
                batch.clear();
                due = None;
            }
            self.tick();
        }
        // Stopping: drain the queue, write what is left.
        for cdr in rx.try_iter() {
            batch.push(cdr);
            if batch.len() >= size {
                self.write(&batch);
                batch.clear();
            }
        }
        if let Some(file) = &mut self.file {
            let w = file.write(&batch, SystemTime::now());
            count_file(&self.counters, batch.len(), w);
            if let Err(e) = file.close() {
                tracing::error!("CDR file: closing at shutdown: {e}");
            }
        }
        if let Some(pg) = &mut self.pg {
            pg.write_final(&batch, Instant::now());
            if pg.spooled_batches() > 0 {
                tracing::info!(
                    "CDR writer stopped with {} batches spooled, replayed at the next start",
                    pg.spooled_batches()
                );
            }
        }
    }

    /// How long to sleep: until the batch is due, a file is to be closed,
    /// or the database has work.
    fn wait(&self, due: Option<Instant>) -> Duration {
        let now = Instant::now();
        let file = self.file.as_ref().and_then(FileSink::deadline).map(|at| {
            now + at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
        let pg = self.pg.as_ref().and_then(PgSink::deadline);
        [due, file, pg]
            .into_iter()
            .flatten()
            .min()
            .map_or(IDLE, |at| at.saturating_duration_since(now).min(IDLE))
    }

    fn write(&mut self, batch: &[Cdr]) {
        if batch.is_empty() {
            return;
        }
        if let Some(file) = &mut self.file {
            let w = file.write(batch, SystemTime::now());
            count_file(&self.counters, batch.len(), w);
        }
        if let Some(pg) = &mut self.pg {
            pg.write(batch, Instant::now());
        }
    }

    fn tick(&mut self) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.tick(SystemTime::now()) {
                tracing::error!("CDR file: closing at rotation: {e}");
            }
        }
        if let Some(pg) = &mut self.pg {
            pg.tick(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = CdrConfig {
            path: Some(dir.path().to_owned()),
            queue: 1,
            ..CdrConfig::default()
        };
        let (tx, _rx) = crossbeam_channel::bounded(cfg.queue);
        let sender = CdrSender {
            tx,
            counters: Arc::default(),
        };
        assert!(sender.send(Cdr::default()));
        assert!(!sender.send(Cdr::default()));
        assert!(!sender.send(Cdr::default()));
        assert_eq!(sender.counts().dropped, 2);
    }

    #[test]
    fn start_needs_a_sink_and_a_writable_directory() {
        assert!(CdrWriter::start(&CdrConfig::default()).is_err());
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("f");
        std::fs::write(&plain, "").unwrap();
        let e = CdrWriter::start(&CdrConfig {
            path: Some(plain.join("cdr")),
            ..CdrConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, CdrError::Dir { .. }), "{e}");
        assert!(e.to_string().contains("/f/cdr"), "{e}");
    }

    #[test]
    fn writes_on_shutdown_and_after_flush_ms() {
        let dir = tempfile::tempdir().unwrap();
        let w = CdrWriter::start(&CdrConfig {
            path: Some(dir.path().to_owned()),
            flush_ms: 20,
            ..CdrConfig::default()
        })
        .unwrap();
        let s = w.sender();
        assert!(s.send(Cdr {
            call_id: "a".into(),
            ..Cdr::default()
        }));
        let t = Instant::now();
        while w.counts().written_files < 1 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(w.counts().written_files, 1);
        assert!(s.send(Cdr::default()));
        w.shutdown();
        assert_eq!(s.counts().written_files, 2);
        assert!(!s.send(Cdr::default()));
        assert_eq!(s.counts().dropped, 1);
    }
}
