//! The PostgreSQL sink (tokio-postgres, on a current-thread tokio runtime
//! that only the CDR writer's thread drives), and its spool.
//!
//! # The table
//!
//! Created if missing (`table`, default `cdr`):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS cdr (
//!     call_id        text        NOT NULL,
//!     leg            bigint      NOT NULL,
//!     caller         text        NOT NULL,
//!     callee         text        NOT NULL,
//!     caller_sent    text        NOT NULL,
//!     callee_sent    text        NOT NULL,
//!     source         text        NOT NULL,  -- ip:port
//!     customer_group text,                  -- Cdr::group (GROUP is a keyword)
//!     attempts       jsonb       NOT NULL,  -- [{gateway, dest, start_ms, code, pdd_ms}]
//!     setup_at       timestamptz NOT NULL,
//!     answer_at      timestamptz,
//!     end_at         timestamptz NOT NULL,
//!     duration_ms    bigint      NOT NULL,  -- billed: answer to end
//!     hangup         text        NOT NULL,  -- caller | callee | router | none
//!     cause          text        NOT NULL,
//!     sip_code       integer     NOT NULL,
//!     PRIMARY KEY (call_id, leg)
//! );
//! ```
//!
//! Times are `timestamptz`, converted exactly from the record's Unix
//! milliseconds in SQL (`'epoch' + ms * interval '1 ms'`), so billing
//! queries use dates directly; durations stay integer milliseconds.
//! `leg` is `bigint` to hold every `u32`. NUL characters (which
//! PostgreSQL text cannot hold) are written as U+FFFD.
//!
//! # Writing a batch
//!
//! One transaction: binary `COPY` into a session temp table
//! (`trunkline_cdr_batch`, `ON COMMIT DELETE ROWS`), then `INSERT INTO
//! cdr SELECT ... ON CONFLICT (call_id, leg) DO NOTHING`. A batch written
//! twice (replayed after a commit whose answer was lost, or a record sent
//! twice) adds no row. Connecting and writing have timeouts (5 s, 10 s):
//! a database that hangs is a database that is down. The writer's thread
//! waits for them (a connection attempt to a host that does not answer
//! holds it up to 5 s, once per backoff period); the shards do not, the
//! queue absorbs it.
//!
//! # While the database is down
//!
//! A batch that cannot be committed is spooled: one file per batch in
//! the spool directory, `batch-<unix ms, 16 digits>-<seq, 6 digits>.jsonl`
//! (JSON lines, as the file sink's), written as `.jsonl.tmp`, fsynced,
//! renamed and the directory fsynced before the batch is let go. The sink
//! reconnects with backoff (100 ms doubling to 5 s), and once connected
//! replays the spool oldest first (names sort by time), a file deleted
//! only after its batch is committed, for at most 100 ms at a time so
//! that new records keep flowing. A spool left by a previous run
//! (including a `.tmp` a crash cut short: its complete lines) is replayed
//! the same way. A batch the database refuses as bad data (SQLSTATE
//! class 22, data exception, or 23, integrity constraint) would be
//! refused forever: it is kept as `<name>.bad` and logged, as is a spool
//! file with lines that do not parse (after its good lines are
//! committed). No TLS: use a local socket or a trusted network.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::file::sync_dir;
use super::writer::Counters;
use super::{Attempt, Cdr, CdrError};

/// Connecting, including the table's creation.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One batch's transaction.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first reconnection delay, doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between reconnections.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long one [`PgSink::tick`] replays the spool.
const REPLAY_BUDGET: Duration = Duration::from_millis(100);

/// The temp table batches are copied into.
const BATCH_TABLE: &str = "trunkline_cdr_batch";

/// The COPY's columns and their types, in the temp table's order.
const COLUMNS: [(&str, Type); 16] = [
    ("call_id", Type::TEXT),
    ("leg", Type::INT8),
    ("caller", Type::TEXT),
    ("callee", Type::TEXT),
    ("caller_sent", Type::TEXT),
    ("callee_sent", Type::TEXT),
    ("source", Type::TEXT),
    ("customer_group", Type::TEXT),
    ("attempts", Type::TEXT),
    ("setup_ms", Type::INT8),
    ("answer_ms", Type::INT8),
    ("end_ms", Type::INT8),
    ("duration_ms", Type::INT8),
    ("hangup", Type::TEXT),
    ("cause", Type::TEXT),
    ("sip_code", Type::INT4),
];

/// The PostgreSQL sink: the connection (when up), the spool, the
/// reconnection schedule. Driven by the writer's thread alone.
pub struct PgSink {
    runtime: tokio::runtime::Runtime,
    config: tokio_postgres::Config,
    /// The URL for logs, without its password.
    shown: String,
    /// `"schema"."name"`, quoted.
    table: String,
    client: Option<Client>,
    spool: Spool,
    backoff: Duration,
    next_try: Instant,
    /// Whether this outage was logged.
    down_logged: bool,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for PgSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSink")
            .field("url", &self.shown)
            .field("table", &self.table)
            .field("up", &self.client.is_some())
            .field("spool", &self.spool)
            .finish_non_exhaustive()
    }
}

/// Why a batch was not committed.
enum Failure {
    /// The database refused the data itself (SQLSTATE class 22 or 23):
    /// trying again will not help.
    Data(String),
    /// Anything else (connection lost, timeout, server shutting down):
    /// the database is taken as down.
    Down(String),
}

impl PgSink {
    /// A sink for `url` into `table` (already validated), spooling in
    /// `spool`. Does not connect: the writer's thread does, at its first
    /// tick.
    pub(crate) fn new(
        url: &str,
        table: &str,
        spool: &Path,
        counters: Arc<Counters>,
    ) -> Result<PgSink, CdrError> {
        let shown = redact(url);
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| CdrError::Url {
            url: shown.clone(),
            message: format!("{e}"),
        })?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("trunkline-cdr");
        let spool = Spool::open(spool).map_err(|source| CdrError::Spool {
            path: spool.to_owned(),
            source,
        })?;
        if !spool.is_empty() {
            tracing::info!(
                "CDR spool {}: {} batches left by a previous run, to replay",
                spool.dir.display(),
                spool.len()
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CdrError::Thread)?;
        Ok(PgSink {
            runtime,
            config,
            shown,
            table: table
                .split('.')
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join("."),
            client: None,
            spool,
            backoff: MIN_BACKOFF,
            next_try: Instant::now(),
            down_logged: false,
            counters,
        })
    }

    /// Commits `batch`, or spools it. Connects first if down and due.
    pub fn write(&mut self, batch: &[Cdr], now: Instant) {
        if batch.is_empty() {
            return;
        }
        if self.client.is_none() && now >= self.next_try {
            self.connect(now);
        }
        if self.client.is_some() {
            match self.commit(batch) {
                Ok(()) => {
                    self.counters.add(&self.counters.written_db, batch.len());
                    return;
                }
                Err(Failure::Data(e)) => {
                    tracing::error!(db = %self.shown, "CDR batch refused: {e}; kept in the spool as .bad");
                    if let Ok(path) = self.spool_batch(batch) {
                        self.spool.quarantine(&path);
                    }
                    return;
                }
                Err(Failure::Down(e)) => self.down(now, &e),
            }
        }
        let _ = self.spool_batch(batch);
    }

    /// Commits `batch` or spools it at shutdown: one connection attempt
    /// even when the backoff says wait.
    pub fn write_final(&mut self, batch: &[Cdr], now: Instant) {
        self.next_try = now;
        self.write(batch, now);
    }

    /// Reconnects if down and due; when connected, replays the spool for
    /// a while ([`REPLAY_BUDGET`]).
    pub fn tick(&mut self, now: Instant) {
        if self.client.is_none() {
            if now < self.next_try {
                return;
            }
            self.connect(now);
        }
        let started = Instant::now();
        while self.client.is_some() && started.elapsed() < REPLAY_BUDGET {
            let Some(path) = self.spool.front().map(Path::to_owned) else {
                break;
            };
            let (records, torn) = match Spool::read(&path) {
                Ok(read) => read,
                Err(e) => {
                    tracing::error!("CDR spool file {}: {e}", path.display());
                    self.spool.quarantine(&path);
                    continue;
                }
            };
            match self.commit(&records) {
                Ok(()) => {
                    self.counters.add(&self.counters.written_db, records.len());
                    self.counters.add(&self.counters.replayed, records.len());
                    if torn > 0 {
                        tracing::error!(
                            "CDR spool file {}: {torn} lines do not parse; kept as .bad",
                            path.display()
                        );
                        self.spool.quarantine(&path);
                    } else {
                        self.spool.remove(&path);
                    }
                }
                Err(Failure::Data(e)) => {
                    tracing::error!(
                        "CDR spool file {} refused: {e}; kept as .bad",
                        path.display()
                    );
                    self.spool.quarantine(&path);
                }
                Err(Failure::Down(e)) => self.down(now, &e),
            }
        }
    }

    /// When [`PgSink::tick`] has work: now while connected with a spool
    /// to replay, the next reconnection while down.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.client {
            Some(_) if !self.spool.is_empty() => Some(Instant::now()),
            Some(_) => None,
            None => Some(self.next_try),
        }
    }

    /// Whether a connection is up.
    pub fn is_up(&self) -> bool {
        self.client.is_some()
    }

    /// Batches waiting in the spool.
    pub fn spooled_batches(&self) -> usize {
        self.spool.len()
    }

    fn connect(&mut self, now: Instant) {
        let (config, create, temp) = (&self.config, self.create_sql(), temp_sql());
        let connected = self.runtime.block_on(async {
            let (client, conn) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
                .await
                .map_err(|_| "connect timed out".to_owned())?
                .map_err(|e| format!("connect: {e}"))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("CDR database connection ended: {e}");
                }
            });
            let setup = format!("{create};\n{temp}");
            tokio::time::timeout(CONNECT_TIMEOUT, client.batch_execute(&setup))
                .await
                .map_err(|_| "creating the table timed out".to_owned())?
                .map_err(|e| format!("creating the table: {}", db_message(&e)))?;
            Ok::<_, String>(client)
        });
        match connected {
            Ok(client) => {
                tracing::info!(
                    db = %self.shown,
                    spooled = self.spool.len(),
                    "CDR database connected"
                );
                self.client = Some(client);
                self.backoff = MIN_BACKOFF;
                self.down_logged = false;
                self.counters.db_up.store(true, Ordering::Relaxed);
            }
            Err(e) => self.down(now, &e),
        }
    }

    /// Takes the database as down: drops the connection, schedules the
    /// next attempt.
    fn down(&mut self, now: Instant, why: &str) {
        if self.client.take().is_some() || !self.down_logged {
            tracing::warn!(
                db = %self.shown,
                "CDR database unavailable ({why}); spooling to {}, retrying",
                self.spool.dir.display()
            );
            self.down_logged = true;
        } else {
            tracing::debug!(db = %self.shown, "CDR database still unavailable: {why}");
        }
        self.counters.db_up.store(false, Ordering::Relaxed);
        self.next_try = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn spool_batch(&mut self, batch: &[Cdr]) -> io::Result<PathBuf> {
        match self.spool.write(batch, SystemTime::now()) {
            Ok(path) => {
                self.counters.add(&self.counters.spooled, batch.len());
                Ok(path)
            }
            Err(e) => {
                tracing::error!(
                    "CDR spool {}: cannot write a batch of {} records, lost: {e}",
                    self.spool.dir.display(),
                    batch.len()
                );
                self.counters.add(&self.counters.failed, batch.len());
                Err(e)
            }
        }
    }

    /// One transaction: COPY into the temp table, INSERT ... ON CONFLICT
    /// DO NOTHING.
    fn commit(&mut self, batch: &[Cdr]) -> Result<(), Failure> {
        let insert = self.insert_sql();
        let Some(client) = &mut self.client else {
            return Err(Failure::Down("not connected".to_owned()));
        };
        if client.is_closed() {
            return Err(Failure::Down("connection closed".to_owned()));
        }
        // The timer is made inside the runtime (`timeout` needs its clock).
        let done = self.runtime.block_on(async {
            tokio::time::timeout(WRITE_TIMEOUT, copy_batch(client, &insert, batch)).await
        });
        match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if bad_data(&e) => Err(Failure::Data(db_message(&e))),
            Ok(Err(e)) => Err(Failure::Down(db_message(&e))),
            Err(_) => Err(Failure::Down("write timed out".to_owned())),
        }
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
                call_id text NOT NULL,
                leg bigint NOT NULL,
                caller text NOT NULL,
                callee text NOT NULL,
                caller_sent text NOT NULL,
                callee_sent text NOT NULL,
                source text NOT NULL,
                customer_group text,
                attempts jsonb NOT NULL,
                setup_at timestamptz NOT NULL,
                answer_at timestamptz,
                end_at timestamptz NOT NULL,
                duration_ms bigint NOT NULL,
                hangup text NOT NULL,
                cause text NOT NULL,
                sip_code integer NOT NULL,
                PRIMARY KEY (call_id, leg)
            )",
            self.table
        )
    }

    fn insert_sql(&self) -> String {
        let at = |c: &str| format!("timestamptz 'epoch' + {c} * interval '1 millisecond'");
        format!(
            "INSERT INTO {} (call_id, leg, caller, callee, caller_sent, callee_sent, source,
                customer_group, attempts, setup_at, answer_at, end_at, duration_ms, hangup,
                cause, sip_code)
             SELECT call_id, leg, caller, callee, caller_sent, callee_sent, source,
                customer_group, attempts::jsonb, {}, {}, {}, duration_ms, hangup, cause, sip_code
             FROM {BATCH_TABLE}
             ON CONFLICT (call_id, leg) DO NOTHING",
            self.table,
            at("setup_ms"),
            at("answer_ms"),
            at("end_ms"),
        )
    }
}

fn temp_sql() -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, ty)| format!("{name} {}", ty.name()))
        .collect();
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS {BATCH_TABLE} ({}) ON COMMIT DELETE ROWS",
        columns.join(", ")
    )
}

async fn copy_batch(
    client: &mut Client,
    insert: &str,
    batch: &[Cdr],
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let types: Vec<Type> = COLUMNS.iter().map(|(_, t)| t.clone()).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {BATCH_TABLE} ({}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for cdr in batch {
        let attempts = attempts_json(&cdr.attempts);
        let group = cdr.group.as_deref().map(text);
        let row: [&(dyn ToSql + Sync); 16] = [
            &text(&cdr.call_id),
            &i64::from(cdr.leg),
            &text(&cdr.caller),
            &text(&cdr.callee),
            &text(&cdr.caller_sent),
            &text(&cdr.callee_sent),
            &text(&cdr.source),
            &group,
            &attempts,
            &cdr.setup_ms,
            &cdr.answer_ms,
            &cdr.end_ms,
            &i64::try_from(cdr.duration_ms).unwrap_or(i64::MAX),
            &cdr.hangup.as_str(),
            &text(&cdr.cause),
            &i32::from(cdr.sip_code),
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    tx.execute(insert, &[]).await?;
    tx.commit().await
}

/// `s` as PostgreSQL text can hold it: NUL as U+FFFD.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The attempts as JSON for `jsonb` (which refuses `\u0000`: NUL as
/// U+FFFD).
fn attempts_json(attempts: &[Attempt]) -> String {
    let nul = attempts
        .iter()
        .any(|a| a.gateway.contains('\0') || a.dest.contains('\0'));
    let json = if nul {
        let clean: Vec<Attempt> = attempts
            .iter()
            .map(|a| Attempt {
                gateway: text(&a.gateway).into_owned(),
                dest: text(&a.dest).into_owned(),
                ..a.clone()
            })
            .collect();
        serde_json::to_string(&clean)
    } else {
        serde_json::to_string(attempts)
    };
    // Plain structs of strings and numbers always serialize.
    json.unwrap_or_else(|_| "[]".to_owned())
}

/// Whether the database refused the data (SQLSTATE class 22 or 23).
fn bad_data(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|d| matches!(&d.code().code()[..2], "22" | "23"))
}

/// An error with the server's message and SQLSTATE when it has them.
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} (SQLSTATE {})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

/// `url` without its password (`user:***@`, `password=***`), for logs
/// and errors.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme) = out.find("://") {
        let start = scheme + 3;
        let end = out[start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..end].rfind('@') {
            if let Some(colon) = out[start..start + at].find(':') {
                out.replace_range(start + colon + 1..start + at, "***");
            }
        }
    }
    // `password=...` in a query string or the key=value form.
    let mut from = 0;
    while let Some(i) = out[from..].to_ascii_lowercase().find("password=") {
        let value = from + i + "password=".len();
        let rest = &out[value..];
        let len = if let Some(quoted) = rest.strip_prefix('\'') {
            quoted.find('\'').map_or(rest.len(), |j| j + 2)
        } else {
            rest.find(['&', ' ']).unwrap_or(rest.len())
        };
        out.replace_range(value..value + len, "***");
        from = value + 3;
    }
    out
}

/// The spool: batches waiting for the database, one JSON-lines file
/// each, oldest first.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// The files to replay, oldest first.
    files: VecDeque<PathBuf>,
    seq: u64,
}

impl Spool {
    /// Opens (makes) the spool in `dir`, checks it can be written, and
    /// lists what a previous run left: `.jsonl` files, and `.tmp` ones
    /// (a crash while spooling: renamed, their complete lines replayed).
    pub fn open(dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let probe = dir.join(format!(".trunkline-probe-{}", std::process::id()));
        File::create(&probe)?.write_all(b"")?;
        fs::remove_file(&probe)?;
        let mut files = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with("batch-") {
                continue;
            }
            if let Some(base) = name.strip_suffix(".tmp") {
                let done = dir.join(base);
                fs::rename(dir.join(name), &done)?;
                files.push(done);
            } else if name.ends_with(".jsonl") {
                files.push(dir.join(name));
            }
        }
        files.sort();
        files.dedup();
        Ok(Spool {
            dir: dir.to_owned(),
            files: files.into(),
            seq: 1,
        })
    }

    /// Writes `batch` to a new file, fsynced, named for `now`; returns it.
    pub fn write(&mut self, batch: &[Cdr], now: SystemTime) -> io::Result<PathBuf> {
        let ms = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let (tmp, path, file) = loop {
            let name = format!("batch-{ms:016}-{:06}.jsonl", self.seq);
            self.seq += 1;
            let path = self.dir.join(&name);
            let tmp = self.dir.join(format!("{name}.tmp"));
            if path.exists() {
                continue;
            }
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => break (tmp, path, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        };
        let written = (|| {
            let mut out = BufWriter::new(file);
            for cdr in batch {
                serde_json::to_writer(&mut out, cdr)?;
                out.write_all(b"\n")?;
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.files.push_back(path.clone());
        Ok(path)
    }

    /// Reads a spool file: its records, and how many lines did not parse.
    pub fn read(path: &Path) -> io::Result<(Vec<Cdr>, usize)> {
        let bytes = fs::read(path)?;
        let mut records = Vec::new();
        let mut torn = 0;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice(line) {
                Ok(cdr) => records.push(cdr),
                Err(_) => torn += 1,
            }
        }
        Ok((records, torn))
    }

    /// The oldest file.
    pub fn front(&self) -> Option<&Path> {
        self.files.front().map(PathBuf::as_path)
    }

    /// Files waiting.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Deletes `path` (committed).
    pub fn remove(&mut self, path: &Path) {
        self.files.retain(|p| p != path);
        if let Err(e) = fs::remove_file(path) {
            tracing::error!(
                "CDR spool file {} (committed): cannot delete it: {e}",
                path.display()
            );
        }
    }

    /// Sets `path` aside as `<name>.bad`, never replayed.
    pub fn quarantine(&mut self, path: &Path) {
        self.files.retain(|p| p != path);
        let bad = PathBuf::from(format!("{}.bad", path.display()));
        if let Err(e) = fs::rename(path, &bad) {
            tracing::error!(
                "CDR spool file {}: cannot set it aside: {e}",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::Hangup;

    fn cdr(i: u32) -> Cdr {
        Cdr {
            call_id: format!("c{i}"),
            leg: i % 2,
            caller: "a\0b".into(),
            attempts: vec![Attempt {
                gateway: "gw".into(),
                pdd_ms: Some(5),
                ..Attempt::default()
            }],
            hangup: Hangup::Router,
            answer_ms: Some(5),
            ..Cdr::default()
        }
    }

    #[test]
    fn spool_round_trip_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        assert!(spool.is_empty());
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let a: Vec<Cdr> = (0..3).map(cdr).collect();
        let b: Vec<Cdr> = (3..5).map(cdr).collect();
        let pa = spool.write(&a, t).unwrap();
        let pb = spool.write(&b, t).unwrap();
        assert_eq!(
            pa.file_name().unwrap(),
            "batch-0001700000000123-000001.jsonl"
        );
        assert_eq!(spool.front(), Some(pa.as_path()));
        assert_eq!(Spool::read(&pa).unwrap(), (a.clone(), 0));
        assert_eq!(Spool::read(&pb).unwrap(), (b.clone(), 0));

        // A new process sees both, in order, and a crash's .tmp with a
        // torn line.
        fs::write(
            dir.path().join("batch-0001700000000999-000001.jsonl.tmp"),
            format!(
                "{}\n{{\"call_id\":",
                serde_json::to_string(&cdr(9)).unwrap()
            ),
        )
        .unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.len(), 3);
        assert_eq!(spool.front(), Some(pa.as_path()));
        spool.remove(&pa);
        assert_eq!(spool.front(), Some(pb.as_path()));
        spool.remove(&pb);
        let pc = spool.front().unwrap().to_owned();
        assert_eq!(Spool::read(&pc).unwrap(), (vec![cdr(9)], 1));
        spool.quarantine(&pc);
        assert!(spool.is_empty());
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["batch-0001700000000999-000001.jsonl.bad"]);
        // Names stay unique within one millisecond across runs.
        let p1 = spool.write(&a, t).unwrap();
        let p2 = Spool::open(dir.path()).unwrap().write(&b, t).unwrap();
        assert_ne!(p1, p2);
        assert_eq!(Spool::read(&p1).unwrap(), (a, 0));
        assert_eq!(Spool::read(&p2).unwrap(), (b, 0));
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://bill:s3cr:et@db.example:5432/cdr"),
            "postgres://bill:***@db.example:5432/cdr"
        );
        assert_eq!(redact("postgres://bill@db/cdr"), "postgres://bill@db/cdr");
        assert_eq!(
            redact("postgres://db/cdr?user=u&password=x&sslmode=disable"),
            "postgres://db/cdr?user=u&password=***&sslmode=disable"
        );
        assert_eq!(
            redact("host=db password='a b' user=u"),
            "host=db password=*** user=u"
        );
        assert_eq!(redact("host=db PASSWORD=x"), "host=db PASSWORD=***");
    }

    #[test]
    fn nul_is_replaced_for_postgres() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(text("ab"), Cow::Borrowed("ab")));
        let j = attempts_json(&[Attempt {
            gateway: "g\0".into(),
            ..Attempt::default()
        }]);
        assert!(!j.contains("\\u0000") && j.contains('\u{FFFD}'), "{j}");
    }

    #[test]
    fn bad_urls_are_errors_without_password() {
        let dir = tempfile::tempdir().unwrap();
        let e = PgSink::new(
            "postgres://u:pw@host:notaport/db",
            "cdr",
            dir.path(),
            Arc::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("postgres://u:***@host:notaport/db") && !e.contains("pw"),
            "{e}"
        );
    }

    #[test]
    fn sql_names_the_table_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let sink = PgSink::new(
            "postgres://u@localhost/db",
            "billing.cdr",
            dir.path(),
            Arc::default(),
        )
        .unwrap();
        assert!(sink.create_sql().contains("\"billing\".\"cdr\""));
        assert!(
            sink.insert_sql()
                .contains("ON CONFLICT (call_id, leg) DO NOTHING")
        );
        assert!(temp_sql().contains("sip_code int4"));
    }
}
