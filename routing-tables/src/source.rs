//! Reading the CSV inputs: sources, header rows by column name, and the
//! digest of every byte read (the snapshot's source digest).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::error::{BuildError, BuildErrorKind};

/// One CSV input: a name for error messages and its bytes.
pub struct Source {
    pub(crate) name: PathBuf,
    pub(crate) reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("name", &self.name).finish()
    }
}

impl Source {
    /// Opens a file; the error names it (line 0).
    pub fn file(path: impl AsRef<Path>) -> Result<Source, BuildError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| BuildError {
            file: path.to_path_buf(),
            line: 0,
            kind: BuildErrorKind::Io(e.to_string()),
        })?;
        Ok(Source {
            name: path.to_path_buf(),
            reader: Box::new(io::BufReader::with_capacity(1 << 20, file)),
        })
    }

    /// In-memory CSV text, named `name` in errors.
    pub fn bytes(name: impl Into<PathBuf>, data: impl Into<Vec<u8>>) -> Source {
        Source {
            name: name.into(),
            reader: Box::new(io::Cursor::new(data.into())),
        }
    }

    /// The name used in errors.
    pub fn name(&self) -> &Path {
        &self.name
    }
}

/// Hashes everything read through it.
struct Hashing<R> {
    inner: R,
    hash: Xxh3,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// A CSV file with its columns looked up by name.
pub(crate) struct Table {
    pub(crate) name: PathBuf,
    reader: csv::Reader<Hashing<Box<dyn Read + Send>>>,
    columns: Vec<Option<usize>>,
}

impl Table {
    /// Reads the header row. `columns` lists this file's columns, the
    /// first `required` of them mandatory.
    pub(crate) fn open(
        source: Source,
        columns: &'static [&'static str],
        required: usize,
        expected: &'static str,
    ) -> Result<Table, BuildError> {
        let name = source.name;
        let err = |line, kind| BuildError {
            file: name.clone(),
            line,
            kind,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(Hashing {
                inner: source.reader,
                hash: Xxh3::new(),
            });
        let headers = reader
            .headers()
            .map_err(|e| err(1, BuildErrorKind::Csv(e.to_string())))?
            .clone();
        let mut found = vec![None; columns.len()];
        for (i, h) in headers.iter().enumerate() {
            match columns.iter().position(|c| c.eq_ignore_ascii_case(h)) {
                Some(c) => found[c] = Some(i),
                None => {
                    return Err(err(
                        1,
                        BuildErrorKind::UnknownColumn(h.to_string(), expected),
                    ));
                }
            }
        }
        for (c, f) in columns.iter().zip(&found).take(required) {
            if f.is_none() {
                return Err(err(1, BuildErrorKind::MissingColumn(c)));
            }
        }
        Ok(Table {
            name,
            reader,
            columns: found,
        })
    }

    /// Reads the next record into `rec`; `Ok(None)` at the end. Returns its
    /// line.
    pub(crate) fn next(&mut self, rec: &mut csv::StringRecord) -> Result<Option<u64>, BuildError> {
        match self.reader.read_record(rec) {
            Ok(true) => Ok(Some(rec.position().map_or(0, |p| p.line()))),
            Ok(false) => Ok(None),
            Err(e) => Err(BuildError {
                file: self.name.clone(),
                line: e.position().map_or(0, |p| p.line()),
                kind: BuildErrorKind::Csv(e.to_string()),
            }),
        }
    }

    /// [`Table::next`] for the readers' loops: the next record's line, or
    /// `None` at the end or on a CSV error (recorded in `errs`: the rest of
    /// the file cannot be read reliably).
    pub(crate) fn next_or_report(
        &mut self,
        rec: &mut csv::StringRecord,
        errs: &mut crate::error::BuildErrors,
    ) -> Option<u64> {
        match self.next(rec) {
            Ok(line) => line,
            Err(e) => {
                errs.push(&e.file, e.line, e.kind);
                None
            }
        }
    }

    /// Field `column` (an index into the `columns` given to `open`), or ""
    /// when the column is absent.
    pub(crate) fn get<'r>(&self, rec: &'r csv::StringRecord, column: usize) -> &'r str {
        self.columns[column].and_then(|i| rec.get(i)).unwrap_or("")
    }

    /// Finishes reading; returns the xxh3-64 of the bytes read.
    pub(crate) fn digest(mut self) -> u64 {
        // Drain whatever csv did not consume (nothing, after the last record).
        let inner = self.reader.get_mut();
        let _ = io::copy(inner, &mut io::sink());
        self.reader.into_inner().hash.digest()
    }
}

/// A field error.
pub(crate) fn bad(column: &'static str, value: &str, reason: impl Into<String>) -> BuildErrorKind {
    BuildErrorKind::BadField {
        column,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses an unsigned integer field; empty gives `default`.
pub(crate) fn parse_num<T: std::str::FromStr>(
    column: &'static str,
    value: &str,
    default: T,
) -> Result<T, BuildErrorKind> {
    if value.is_empty() {
        return Ok(default);
    }
    value
        .parse()
        .map_err(|_| bad(column, value, "not a number in range"))
}

/// Parses yes/no.
pub(crate) fn parse_bool(column: &'static str, value: &str) -> Result<bool, BuildErrorKind> {
    match value.to_ascii_lowercase().as_str() {
        "" | "no" | "false" | "0" | "off" => Ok(false),
        "yes" | "true" | "1" | "on" => Ok(true),
        _ => Err(bad(column, value, "expected yes or no")),
    }
}

/// Checks a gateway or carrier id: letters, digits and `_ . - @ :`.
pub(crate) fn check_id(column: &'static str, value: &str) -> Result<(), BuildErrorKind> {
    if value.is_empty() {
        return Err(bad(column, value, "empty"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-@:".contains(&b))
    {
        return Err(bad(column, value, "ids are letters, digits and _ . - @ :"));
    }
    Ok(())
}
