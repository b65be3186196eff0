//! Errors: [`BuildError`] names the CSV file and line, [`SnapError`] the
//! snapshot file and byte offset.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::format::FORMAT_VERSION;

/// One problem in the CSV input, at `file:line` (line 0: the file itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {kind}", file.display())]
pub struct BuildError {
    /// The input file.
    pub file: PathBuf,
    /// 1-based line of the record (the header row is line 1).
    pub line: u64,
    /// What is wrong.
    pub kind: BuildErrorKind,
}

/// What is wrong with a CSV record.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildErrorKind {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// Malformed CSV (quoting, field count).
    #[error("malformed CSV: {0}")]
    Csv(String),
    /// A required column is missing from the header row.
    #[error("missing column `{0}` in the header row")]
    MissingColumn(&'static str),
    /// The header row names a column this file does not have.
    #[error("unknown column `{0}` in the header row (expected: {1})")]
    UnknownColumn(String, &'static str),
    /// A field does not parse.
    #[error("column `{column}`: {reason}: `{value}`")]
    BadField {
        /// Column name.
        column: &'static str,
        /// The field as written.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A gateway or carrier id is defined twice (they share one namespace).
    #[error("duplicate id `{id}` (first defined at {first})")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first defined (`file:line`).
        first: String,
    },
    /// A carrier names a gateway that does not exist.
    #[error("unknown gateway `{0}`")]
    UnknownGateway(String),
    /// A window names a time zone the tz database does not have.
    #[error(
        "column `window`: unknown time zone `{0}` (expected an IANA name such as Europe/London, or UTC)"
    )]
    UnknownZone(String),
    /// A rule target is neither a gateway nor a carrier.
    #[error("unknown target `{0}` (neither a gateway nor a carrier id)")]
    UnknownTarget(String),
    /// Two rules with the same group, prefix and priority whose time
    /// windows overlap: which one applies would be arbitrary.
    #[error(
        "duplicate rule: same group, prefix and priority as line {first_line}, with overlapping time windows"
    )]
    DuplicateRule {
        /// The earlier rule's line.
        first_line: u64,
    },
    /// The same CIDR is listed twice.
    #[error("duplicate CIDR (first at line {first_line})")]
    DuplicateCidr {
        /// The earlier entry's line.
        first_line: u64,
    },
    /// A dialplan regex does not compile or its replacement refers to a
    /// group it does not have.
    #[error("bad regex: {0}")]
    BadRegex(String),
    /// A table exceeds the format's limits.
    #[error("too many {0} for the snapshot format")]
    TooMany(&'static str),
}

/// Every problem found in one build (validation does not stop at the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildErrors {
    /// The errors, in input order per file (at most [`BuildErrors::LIMIT`]).
    pub errors: Vec<BuildError>,
    /// How many more were found but not kept.
    pub more: usize,
}

impl BuildErrors {
    /// The most errors kept.
    pub const LIMIT: usize = 100;

    pub(crate) fn new() -> BuildErrors {
        BuildErrors {
            errors: Vec::new(),
            more: 0,
        }
    }

    pub(crate) fn push(&mut self, file: &std::path::Path, line: u64, kind: BuildErrorKind) {
        if self.errors.len() < Self::LIMIT {
            self.errors.push(BuildError {
                file: file.to_path_buf(),
                line,
                kind,
            });
        } else {
            self.more += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for BuildErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        if self.more > 0 {
            write!(f, "\n… and {} more", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildErrors {}

/// Why a snapshot file is refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    /// Opening, reading or mapping failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Shorter than the header.
    #[error("{}: byte {len}: truncated: the file ends inside the 64-byte header", path.display())]
    TooShort {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// Not a snapshot.
    #[error("{}: byte 0: not a trunkline snapshot (bad magic)", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// Written by another format version (older files lack what lookups
    /// now read, such as time zones): rebuild it.
    #[error(
        "{}: byte 8: snapshot format version {version}, this trunkline reads only version {FORMAT_VERSION}: rebuild the snapshot from its CSV files with this version's `trunkline snap build`",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// The header's own checksum does not match.
    #[error("{}: byte 48: header checksum mismatch (header damaged)", path.display())]
    HeaderChecksum {
        /// The file.
        path: PathBuf,
    },
    /// The file is not as long as the header says.
    #[error(
        "{}: byte {actual}: the header says the file is {expected} bytes, it is {actual} (truncated or extended)",
        path.display()
    )]
    Length {
        /// The file.
        path: PathBuf,
        /// Header plus body length from the header.
        expected: u64,
        /// The file length.
        actual: u64,
    },
    /// The body checksum does not match.
    #[error(
        "{}: bytes 64..{end}: body checksum mismatch (stored {stored:016x}, computed {computed:016x})",
        path.display()
    )]
    BodyChecksum {
        /// The file.
        path: PathBuf,
        /// End of the body.
        end: u64,
        /// Checksum in the header.
        stored: u64,
        /// Checksum of the bytes.
        computed: u64,
    },
    /// rkyv's structural check (bytecheck) failed.
    #[error("{}: bytes 64..: archive structure invalid: {message}", path.display())]
    Structure {
        /// The file.
        path: PathBuf,
        /// rkyv's description.
        message: String,
    },
    /// The archive is well-formed but breaks an invariant lookups rely on.
    #[error("{}: byte {offset}: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// File offset of the offending record.
        offset: u64,
        /// Which invariant.
        what: String,
    },
}
