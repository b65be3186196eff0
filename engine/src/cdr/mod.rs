//! Call detail records: what a wholesale carrier bills from. The proxy
//! core (sans-IO, one per shard) makes one [`Cdr`] per dialog of a call
//! when it ends; this module takes them off the shards and writes them to
//! a directory of JSON-lines files and/or a PostgreSQL table, on a thread
//! of its own, never blocking a shard.
//!
//! # What a record holds
//!
//! [`Cdr`] ([`record`]): the Call-ID and leg (which dialog of a forked
//! call, 0 for the usual one), caller and callee as received and as sent
//! (least-cost routing may rewrite the number), the source address and
//! customer group, every route attempt in order ([`Attempt`]: gateway,
//! destination, start, final code, post-dial delay), setup, answer and
//! end times (Unix ms, UTC), the billed duration (answer to end), who
//! hung up ([`Hangup`]), why, and the INVITE's final code.
//!
//! # The path of a record (feature `runtime`)
//!
//! ```text
//!  shard ── CdrSender::send (try_send; full → dropped, counted, logged)
//!              │  bounded queue of `queue` records
//!              ▼
//!  "trunkline-cdr" thread: batches of `batch` records, or fewer after `flush_ms`
//!              ├─► file sink: cdr-<UTC time>-<seq>.jsonl.part, flushed per batch,
//!              │              fsynced and renamed to .jsonl when rotated
//!              └─► PostgreSQL: binary COPY into a temp table, then INSERT ...
//!                   ON CONFLICT (call_id, leg) DO NOTHING, one transaction
//!                   (down, or failed: the batch is spooled, fsynced, and
//!                    replayed oldest first once the database is back)
//! ```
//!
//! # Guarantees
//!
//! - **A shard never waits.** [`CdrSender::send`] is a `try_send` on a
//!   bounded channel; past `queue` records in flight it returns `false`
//!   and the record is counted as dropped (and logged, at the first drop
//!   and every power of two after). This is the only place a record can
//!   be refused; size `queue` for the longest stall of the writer you
//!   want to absorb (64 Ki records is over a minute at 1,000 calls/s).
//! - **None lost once taken.** A record taken by the writer is in a
//!   file (flushed to the OS at each batch, fsynced at rotation and
//!   shutdown) and, with PostgreSQL, either committed or in a spool file
//!   (written and fsynced before the batch is let go). Spool files are
//!   deleted only after their batch is committed, and the ones a previous
//!   run left are replayed at start. A batch the database refuses as bad
//!   data (SQLSTATE class 22 or 23) is kept as a `.bad` spool file and
//!   logged, not retried forever and not deleted.
//! - **None duplicated.** The file sink writes each record once. The
//!   database is idempotent by `(call_id, leg)`, the primary key: a batch
//!   replayed after a commit whose answer was lost, or a record sent
//!   twice, adds no row.
//! - **Failures are counted, not fatal.** I/O errors after start are
//!   logged (`tracing`) and counted ([`CdrCounts`]); nothing panics.
//!   Errors at start (a directory that cannot be made or written, a bad
//!   URL or table name) are a [`CdrError`] naming the path or URL
//!   (without its password).
//!
//! # Configuration: the `[cdr]` section
//!
//! ```toml
//! [cdr]
//! path = "/var/lib/trunkline/cdr"   # JSON-lines files
//! rotate_bytes = 67108864           # close a file before it passes 64 MiB
//! rotate_s = 3600                   # ... or an hour after it was opened
//! postgres = "postgres://trunkline@127.0.0.1:5432/billing"
//! table = "cdr"                     # created if missing
//! batch = 500                       # records per COPY
//! flush_ms = 200                    # a partial batch waits no longer
//! spool = "/var/spool/trunkline/cdr" # default: `path`/spool
//! queue = 65536                     # records in flight from the shards
//! ```
//!
//! See [`file`] for the file naming and rotation rule and [`postgres`]
//! for the table.

pub mod record;

#[cfg(feature = "runtime")]
pub mod file;
#[cfg(feature = "runtime")]
pub mod postgres;
#[cfg(feature = "runtime")]
pub mod writer;

use std::path::PathBuf;

use serde::Deserialize;

pub use record::{Attempt, Cdr, Hangup};
#[cfg(feature = "runtime")]
pub use writer::{CdrCounts, CdrSender, CdrWriter};

/// Where the spool goes when neither `spool` nor `path` is set.
pub const DEFAULT_SPOOL: &str = "/var/spool/trunkline/cdr";

/// The `[cdr]` section: where call detail records go. Off (no sink) by
/// default; see [`CdrConfig::enabled`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CdrConfig {
    /// Directory of JSON-lines files, created if missing. Default: none
    /// (no files).
    pub path: Option<PathBuf>,
    /// A file is closed and a new one started before it would pass this
    /// size (a single larger record still gets a file of its own).
    /// Default 64 MiB.
    pub rotate_bytes: u64,
    /// ... or this long after it was opened (files are opened at their
    /// first record, so an idle router makes no empty files). Default
    /// 3600 s.
    pub rotate_s: u64,
    /// `postgres://user[:password]@host:port/db` (or the key=value form
    /// of libpq); no TLS. Default: none (no database).
    pub postgres: Option<String>,
    /// The table, created if missing; `name` or `schema.name`, letters,
    /// digits and `_`. Default `cdr`.
    pub table: String,
    /// Records per COPY. Default 500.
    pub batch: usize,
    /// A partial batch is written this long after its first record came.
    /// Default 200 ms.
    pub flush_ms: u64,
    /// Where batches wait while the database is down (one file per
    /// batch). Default: `path`/spool, else [`DEFAULT_SPOOL`].
    pub spool: Option<PathBuf>,
    /// Records in flight from the shards to the writer; beyond, a record
    /// is counted as dropped and logged. Default 65536.
    pub queue: usize,
}

impl Default for CdrConfig {
    fn default() -> Self {
        CdrConfig {
            path: None,
            rotate_bytes: 64 << 20,
            rotate_s: 3600,
            postgres: None,
            table: "cdr".to_owned(),
            batch: 500,
            flush_ms: 200,
            spool: None,
            queue: 65536,
        }
    }
}

impl CdrConfig {
    /// Whether any sink is configured (`path` or `postgres`).
    pub fn enabled(&self) -> bool {
        self.path.is_some() || self.postgres.is_some()
    }

    /// The spool directory: `spool`, else `path`/spool, else
    /// [`DEFAULT_SPOOL`].
    pub fn spool_dir(&self) -> PathBuf {
        match (&self.spool, &self.path) {
            (Some(s), _) => s.clone(),
            (None, Some(p)) => p.join("spool"),
            (None, None) => PathBuf::from(DEFAULT_SPOOL),
        }
    }

    /// Checks the settings that have a range: the counts and durations
    /// must not be 0, the table name must be an identifier (it is put in
    /// SQL).
    pub fn validate(&self) -> Result<(), CdrError> {
        let zero = |key: &'static str, v: u64| {
            if v == 0 {
                Err(CdrError::Setting {
                    key,
                    message: "must be above 0".to_owned(),
                })
            } else {
                Ok(())
            }
        };
        zero("rotate_bytes", self.rotate_bytes)?;
        zero("rotate_s", self.rotate_s)?;
        zero("batch", self.batch as u64)?;
        zero("flush_ms", self.flush_ms)?;
        zero("queue", self.queue as u64)?;
        if !valid_table(&self.table) {
            return Err(CdrError::Setting {
                key: "table",
                message: format!(
                    "{:?} is not `name` or `schema.name` of letters, digits and _",
                    self.table
                ),
            });
        }
        Ok(())
    }
}

/// `name` or `schema.name`, each `[A-Za-z_][A-Za-z0-9_]*`, at most 63
/// bytes (PostgreSQL's identifier length).
fn valid_table(table: &str) -> bool {
    let parts: Vec<&str> = table.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            let mut chars = p.chars();
            p.len() <= 63
                && chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Why the CDR writer could not start: what, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CdrError {
    /// A `[cdr]` setting out of its range.
    #[error("[cdr] {key}: {message}")]
    Setting {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The files' directory cannot be made or written.
    #[error("CDR directory {}: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The spool directory cannot be made, written or read.
    #[error("CDR spool directory {}: {source}", path.display())]
    Spool {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The `postgres` setting does not parse.
    #[error("[cdr] postgres {url}: {message}")]
    Url {
        /// The setting, its password replaced by `***`.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The writer's thread or its tokio runtime could not be made.
    #[error("CDR writer thread: {0}")]
    Thread(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_toml() {
        let c: CdrConfig = toml::from_str("").unwrap();
        assert_eq!(c, CdrConfig::default());
        assert!(!c.enabled());
        assert_eq!(c.spool_dir(), PathBuf::from(DEFAULT_SPOOL));
        c.validate().unwrap();

        let c: CdrConfig = toml::from_str("path = \"/x\"\nbatch = 10").unwrap();
        assert!(c.enabled());
        assert_eq!(c.batch, 10);
        assert_eq!(c.spool_dir(), PathBuf::from("/x/spool"));

        let e = toml::from_str::<CdrConfig>("pathh = \"/x\"").unwrap_err();
        assert!(e.to_string().contains("pathh"), "{e}");
    }

    #[test]
    fn validation() {
        let bad = |f: fn(&mut CdrConfig)| {
            let mut c = CdrConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.batch = 0).contains("batch"));
        assert!(bad(|c| c.queue = 0).contains("queue"));
        assert!(bad(|c| c.table = "cdr; drop".into()).contains("table"));
        assert!(bad(|c| c.table = "a.b.c".into()).contains("table"));
        assert!(bad(|c| c.table = "1cdr".into()).contains("table"));
        for ok in ["cdr", "billing.cdr_2026", "_x"] {
            assert!(valid_table(ok), "{ok}");
        }
    }
}
