//! `-inf` injection files (`docs/sipp/compat.md` §2.6), read as SIPp
//! 3.6.1's `FileContents` (`src/infile.cpp`) reads them.
//!
//! The rules, all from `FileContents::FileContents` and `getField`:
//! - the first line names the order: it is searched (as a substring, in
//!   this order) for `RANDOM`, `SEQUENTIAL`, `USER`; anything else is an
//!   error. `PRINTF=` files are rejected here (see [`InjectError::Printf`]).
//! - every further line is a data line, except lines starting with `#`;
//!   the first *empty* line ends the file (SIPp stops reading there), so
//!   the lines after a blank line are never used.
//! - lines are split on `\n` only: a CRLF file keeps the `\r` at the end of
//!   its last field, as 3.6.1 does (3.7 strips it).
//! - field `n` is the `n`-th piece of the line split on `;` (0-based); a
//!   field past the last `;` does not exist.
//! - a file without data lines is an error.

use std::path::{Path, PathBuf};

/// How calls pick their line (the first line of the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectMode {
    /// `SEQUENTIAL`: call n uses line n mod lines.
    Sequential,
    /// `RANDOM`: a random line per call.
    Random,
    /// `USER`: line = user id - 1 (with `-users`).
    User,
}

/// Why an injection file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The file cannot be read.
    #[error("Unable to open file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The first line names no known order (SIPp's message).
    #[error(
        "Unknown file type (valid values are RANDOM, SEQUENTIAL, and USER) for {path}:{first_line}"
    )]
    UnknownMode {
        /// The file.
        path: PathBuf,
        /// Its first line.
        first_line: String,
    },
    /// `PRINTF=N` virtual lines: not supported by trunkload.
    #[error("{path}: PRINTF injection files are not supported by trunkload")]
    Printf {
        /// The file.
        path: PathBuf,
    },
    /// No data line before the end or the first empty line (SIPp's message).
    #[error("Input file has zero lines: {path}")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A data line is not UTF-8 (fields are handed out as `&str`).
    #[error("{path}: line {line} is not valid UTF-8")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        line: usize,
    },
}

/// A loaded `-inf` file.
#[derive(Clone, Debug)]
pub struct InjectionFile {
    mode: InjectMode,
    lines: Vec<String>,
    /// `-infindex`: the indexed field and its value → line map.
    index: Option<(usize, std::collections::HashMap<String, usize>)>,
}

impl InjectionFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<InjectionFile, InjectError> {
        let bytes = std::fs::read(path).map_err(|source| InjectError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        InjectionFile::parse(&bytes, path)
    }

    /// Parses the contents of a file; `path` only names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<InjectionFile, InjectError> {
        let mut it = bytes.split(|&b| b == b'\n');
        let first = it.next().unwrap_or_default();
        let first_text = String::from_utf8_lossy(first).into_owned();
        let mode = if first_text.contains("RANDOM") {
            InjectMode::Random
        } else if first_text.contains("SEQUENTIAL") {
            InjectMode::Sequential
        } else if first_text.contains("USER") {
            InjectMode::User
        } else {
            return Err(InjectError::UnknownMode {
                path: path.to_path_buf(),
                first_line: first_text,
            });
        };
        if first_text.contains("PRINTF") {
            return Err(InjectError::Printf {
                path: path.to_path_buf(),
            });
        }
        let mut lines = Vec::new();
        for (i, line) in it.enumerate() {
            if line.is_empty() {
                break;
            }
            if line[0] == b'#' {
                continue;
            }
            let s = std::str::from_utf8(line).map_err(|_| InjectError::NotUtf8 {
                path: path.to_path_buf(),
                line: i + 2,
            })?;
            lines.push(s.to_owned());
        }
        if lines.is_empty() {
            return Err(InjectError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(InjectionFile {
            mode,
            lines,
            index: None,
        })
    }

    /// `-infindex FILE FIELD`: indexes the lines by field `field` (a
    /// line without it is indexed under the empty string, as SIPp's
    /// `getField` gives ""); a value on several lines maps to the last.
    pub fn index(&mut self, field: usize) {
        let mut map = std::collections::HashMap::with_capacity(self.lines.len());
        for (i, l) in self.lines.iter().enumerate() {
            map.insert(l.split(';').nth(field).unwrap_or("").to_string(), i);
        }
        self.index = Some((field, map));
    }

    /// The `lookup` action: the line whose indexed field is `key`, -1 when
    /// none; `None` when the file has no `-infindex`.
    pub fn lookup(&self, key: &str) -> Option<i64> {
        let (_, map) = self.index.as_ref()?;
        Some(map.get(key).map_or(-1, |&l| l as i64))
    }

    /// The line order named by the first line.
    pub fn mode(&self) -> InjectMode {
        self.mode
    }

    /// How many data lines.
    pub fn lines(&self) -> usize {
        self.lines.len()
    }

    /// Data line `line` (0-based), whole.
    pub fn line(&self, line: usize) -> Option<&str> {
        self.lines.get(line).map(String::as_str)
    }

    /// Field `n` (0-based, `;`-separated) of data line `line`; `None` when
    /// the line or the field does not exist (SIPp then inserts nothing).
    pub fn field(&self, line: usize, n: usize) -> Option<&str> {
        self.lines.get(line)?.split(';').nth(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infindex_lookup() {
        let mut f = parse("SEQUENTIAL\nalice;1\nbob;2\ncarol\nbob;4\n").unwrap();
        assert_eq!(f.lookup("bob"), None, "no -infindex yet");
        f.index(0);
        assert_eq!(f.lookup("alice"), Some(0));
        assert_eq!(f.lookup("bob"), Some(3), "the last line with the key wins");
        assert_eq!(f.lookup("nobody"), Some(-1));
        f.index(1);
        assert_eq!(f.lookup("2"), Some(1));
        assert_eq!(f.lookup(""), Some(2), "a line without the field: \"\"");
    }

    fn parse(s: &str) -> Result<InjectionFile, InjectError> {
        InjectionFile::parse(s.as_bytes(), Path::new("t.csv"))
    }

    #[test]
    fn modes_are_found_as_substrings_random_first() {
        assert_eq!(
            parse("SEQUENTIAL\na\n").unwrap().mode(),
            InjectMode::Sequential
        );
        assert_eq!(parse("RANDOM\na\n").unwrap().mode(), InjectMode::Random);
        assert_eq!(parse("USER\na\n").unwrap().mode(), InjectMode::User);
        assert_eq!(
            parse("xx SEQUENTIAL RANDOM\na\n").unwrap().mode(),
            InjectMode::Random
        );
        let e = parse("sequential\na\n").unwrap_err();
        assert!(matches!(e, InjectError::UnknownMode { .. }), "{e}");
        assert!(e.to_string().starts_with("Unknown file type"), "{e}");
    }

    #[test]
    fn comments_skipped_and_blank_line_ends_the_file() {
        let f = parse("SEQUENTIAL\n#c\na;b\n#d\nc;d;e\n\nnot;read\n").unwrap();
        assert_eq!(f.lines(), 2);
        assert_eq!(f.line(0), Some("a;b"));
        assert_eq!(f.line(1), Some("c;d;e"));
        assert_eq!(f.line(2), None);
    }

    #[test]
    fn fields_split_on_semicolons() {
        let f = parse("SEQUENTIAL\nalice;;secret;\nbob").unwrap();
        assert_eq!(f.field(0, 0), Some("alice"));
        assert_eq!(f.field(0, 1), Some(""));
        assert_eq!(f.field(0, 2), Some("secret"));
        assert_eq!(f.field(0, 3), Some(""));
        assert_eq!(f.field(0, 4), None);
        assert_eq!(f.field(1, 0), Some("bob"));
        assert_eq!(f.field(1, 1), None);
        assert_eq!(f.field(2, 0), None);
    }

    #[test]
    fn crlf_kept_as_in_3_6_1() {
        let f = parse("SEQUENTIAL\r\na;b\r\n").unwrap();
        assert_eq!(f.mode(), InjectMode::Sequential);
        assert_eq!(f.field(0, 1), Some("b\r"));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse("SEQUENTIAL\n"),
            Err(InjectError::Empty { .. })
        ));
        assert!(matches!(
            parse("SEQUENTIAL\n\na\n"),
            Err(InjectError::Empty { .. })
        ));
        assert!(matches!(
            parse("SEQUENTIAL,PRINTF=10\na\n"),
            Err(InjectError::Printf { .. })
        ));
        assert!(matches!(
            InjectionFile::parse(b"USER\n\xff\n", Path::new("x")),
            Err(InjectError::NotUtf8 { line: 2, .. })
        ));
        assert!(matches!(
            InjectionFile::load(Path::new("/nonexistent/trunkload.csv")),
            Err(InjectError::Io { .. })
        ));
    }
}
