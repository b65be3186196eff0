//! The subscribers digest authentication knows: who may authenticate, in
//! which domain (the realm), with which HA1s, from a CSV file loaded off
//! the shards and swapped in whole ([`SubscriberTable`]).
//!
//! Two forms, told apart by the header line:
//!
//! ```text
//! user,domain,password              (HA1s computed at load: realm = domain)
//! user,domain,ha1_md5,ha1_sha256    (either HA1 may be empty, not both)
//! ```
//!
//! Blank lines and lines starting with `#` are skipped; white space
//! around a field is ignored (so a password cannot start or end with
//! white space unless quoted); a field may be quoted as RFC 4180 quotes
//! (`"p,w"`, `""` for a quote), within one line. The domain is
//! compared without regard to case and kept lower-cased: realms are host
//! names, and [`super::Challenge`] offers the realm lower-cased, so HA1s
//! given in the second form must be computed over the lower-cased domain.
//! Only HA1s are kept in memory, never the passwords.
//!
//! A lookup by (user, realm) allocates nothing: the realm is lower-cased
//! into a stack buffer and the table probed with the hash of the borrowed
//! pair (hashbrown's `HashTable`).

use core::fmt;
use core::hash::BuildHasher as _;
use std::path::Path;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use hashbrown::HashTable;

use super::digest::{self, HashFn, Hex};

/// The longest user name: 256 bytes (RFC 3261 gives none; IMS private
/// identities reach a hundred or so).
pub const MAX_USER: usize = 256;

/// The longest domain: 255 bytes (a host name, RFC 1035 §2.3.4).
pub const MAX_DOMAIN: usize = 255;

/// The longest password: 1,024 bytes.
pub const MAX_PASSWORD: usize = 1024;

/// One subscriber: a user in a domain and their HA1s.
#[derive(Clone, Debug)]
pub struct Subscriber {
    /// The user name (digest `username`), case-sensitive.
    pub user: Box<str>,
    /// The domain (the realm), lower-cased.
    pub domain: Box<str>,
    /// H(user:domain:password) with MD5, if known.
    pub ha1_md5: Option<Hex>,
    /// H(user:domain:password) with SHA-256, if known.
    pub ha1_sha256: Option<Hex>,
    /// The line of the file it comes from.
    pub line: u64,
}

impl Subscriber {
    /// The HA1 for `hash`, if known.
    pub fn ha1(&self, hash: HashFn) -> Option<&Hex> {
        match hash {
            HashFn::Md5 => self.ha1_md5.as_ref(),
            HashFn::Sha256 => self.ha1_sha256.as_ref(),
        }
    }
}

/// What is wrong with a line of a subscriber file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// No header line.
    #[error(
        "no header line: the file must start with `user,domain,password` or `user,domain,ha1_md5,ha1_sha256`"
    )]
    Empty,
    /// A header line of neither form.
    #[error(
        "the header must be `user,domain,password` or `user,domain,ha1_md5,ha1_sha256`, not `{0}`"
    )]
    Header(String),
    /// Not as many fields as the header has.
    #[error("{found} fields where the header has {expected}")]
    FieldCount {
        /// The header's count.
        expected: usize,
        /// This line's.
        found: usize,
    },
    /// A field that must not be empty is.
    #[error("empty {0}")]
    EmptyField(&'static str),
    /// A field longer than its limit.
    #[error("{field} longer than {max} bytes")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its limit.
        max: usize,
    },
    /// A user or domain that is not UTF-8, or has white space or control
    /// characters inside.
    #[error("{0} is not UTF-8 or has white space or control characters")]
    BadChars(&'static str),
    /// An HA1 of the wrong length or not hex.
    #[error("{field} must be {len} hex digits")]
    BadHa1 {
        /// Which column.
        field: &'static str,
        /// The digits it needs.
        len: usize,
    },
    /// Both HA1 columns empty.
    #[error("no HA1: give ha1_md5, ha1_sha256 or both")]
    NoHa1,
    /// user@domain given twice.
    #[error("{user}@{domain} is already defined on line {first}")]
    Duplicate {
        /// The user.
        user: String,
        /// The domain, lower-cased.
        domain: String,
        /// The line of the first definition.
        first: u64,
    },
    /// A quoted field without its closing quote, or with something
    /// other than white space between it and the next comma.
    #[error("a quoted field must end with `\"` before the next `,` or the end of the line")]
    Quote,
}

/// Why a subscriber file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscribersError {
    /// It could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is wrong (lines count from 1).
    #[error("{file}:{line}: {problem}")]
    Line {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// What is wrong with it.
        problem: Problem,
    },
}

/// What a load put in service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSummary {
    /// Where from.
    pub source: String,
    /// How many subscribers.
    pub subscribers: usize,
    /// How many have an MD5 HA1.
    pub md5: usize,
    /// How many have a SHA-256 HA1.
    pub sha256: usize,
}

impl fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "subscribers {}: {} ({} with an MD5 HA1, {} with a SHA-256 HA1)",
            self.source, self.subscribers, self.md5, self.sha256
        )
    }
}

/// A read-only set of subscribers (see the module docs).
pub struct Subscribers {
    table: HashTable<Subscriber>,
    hasher: foldhash::fast::RandomState,
    source: String,
}

impl fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribers")
            .field("source", &self.source)
            .field("len", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers::empty()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Password,
    Ha1,
}

/// The lines of `bytes` that hold something, numbered from 1: blank
/// lines and `#` comments skipped, a trailing CR removed.
fn numbered_lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.trim_ascii().is_empty() && !l.starts_with(b"#"))
}

/// Splits one line into its comma-separated fields (into `out`, cleared
/// first): white space around each field trimmed, a quoted field
/// unquoted (`""` inside stands for `"`).
fn split_fields(line: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Problem> {
    out.clear();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            i += 1;
        }
        let mut field = Vec::new();
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match line.get(i) {
                    None => return Err(Problem::Quote),
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        field.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        field.push(b);
                        i += 1;
                    }
                }
            }
            while line.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
                i += 1;
            }
            if !matches!(line.get(i), None | Some(b',')) {
                return Err(Problem::Quote);
            }
        } else {
            let end = line[i..]
                .iter()
                .position(|&b| b == b',')
                .map_or(line.len(), |e| i + e);
            field.extend_from_slice(line[i..end].trim_ascii());
            i = end;
        }
        out.push(field);
        if i >= line.len() {
            return Ok(());
        }
        i += 1; // the comma
    }
}

/// Whether `s` is a non-empty user or domain without white space or
/// control characters.
fn plain(s: &str) -> bool {
    !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Subscribers {
    /// No subscribers (every authentication fails).
    pub fn empty() -> Subscribers {
        Subscribers {
            table: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            source: "(none)".into(),
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// What was loaded.
    pub fn summary(&self) -> LoadSummary {
        let mut s = LoadSummary {
            source: self.source.clone(),
            subscribers: self.table.len(),
            md5: 0,
            sha256: 0,
        };
        for sub in &self.table {
            s.md5 += usize::from(sub.ha1_md5.is_some());
            s.sha256 += usize::from(sub.ha1_sha256.is_some());
        }
        s
    }

    fn hash(&self, user: &[u8], domain_lower: &[u8]) -> u64 {
        self.hasher.hash_one((user, domain_lower))
    }

    /// The subscriber `user` (exact) in `realm` (any case); allocates
    /// nothing. `None` for an unknown user, and for a realm longer than
    /// [`MAX_DOMAIN`].
    pub fn get(&self, user: &[u8], realm: &[u8]) -> Option<&Subscriber> {
        if realm.len() > MAX_DOMAIN || user.len() > MAX_USER {
            return None;
        }
        let mut buf = [0u8; MAX_DOMAIN];
        let domain = &mut buf[..realm.len()];
        for (o, b) in domain.iter_mut().zip(realm) {
            *o = b.to_ascii_lowercase();
        }
        let domain = &*domain;
        self.table.find(self.hash(user, domain), |s| {
            s.user.as_bytes() == user && s.domain.as_bytes() == domain
        })
    }

    /// Reads the file at `path` (errors name it).
    pub fn from_path(path: &Path) -> Result<Subscribers, SubscribersError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SubscribersError::Read {
            file: file.clone(),
            source,
        })?;
        Subscribers::from_csv(&bytes, &file)
    }

    /// Parses CSV `bytes`; `file` names them in errors and the summary.
    pub fn from_csv(bytes: &[u8], file: &str) -> Result<Subscribers, SubscribersError> {
        let err = |line: u64, problem: Problem| SubscribersError::Line {
            file: file.to_string(),
            line,
            problem,
        };
        // A spreadsheet's UTF-8 byte order mark is not part of the header.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut lines = numbered_lines(bytes);
        let (header_line, header) = lines.next().ok_or_else(|| err(1, Problem::Empty))?;
        let mut fields: Vec<Vec<u8>> = Vec::new();
        split_fields(header, &mut fields).map_err(|p| err(header_line, p))?;
        let names: Vec<String> = fields
            .iter()
            .map(|f| String::from_utf8_lossy(f).to_ascii_lowercase())
            .collect();
        let form = match names.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["user", "domain", "password"] => Form::Password,
            ["user", "domain", "ha1_md5", "ha1_sha256"] => Form::Ha1,
            _ => {
                let header = String::from_utf8_lossy(header).into_owned();
                return Err(err(header_line, Problem::Header(header)));
            }
        };
        let expected = names.len();
        let mut subs = Subscribers {
            table: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            source: file.to_string(),
        };
        for (line, text) in lines {
            split_fields(text, &mut fields).map_err(|p| err(line, p))?;
            let record = &fields;
            if record.len() != expected {
                return Err(err(
                    line,
                    Problem::FieldCount {
                        expected,
                        found: record.len(),
                    },
                ));
            }
            let text = |i: usize, name: &'static str, max: usize| {
                let f = &record[i];
                if f.is_empty() {
                    return Err(err(line, Problem::EmptyField(name)));
                }
                if f.len() > max {
                    return Err(err(line, Problem::TooLong { field: name, max }));
                }
                match core::str::from_utf8(f) {
                    Ok(s) if plain(s) => Ok(s),
                    _ => Err(err(line, Problem::BadChars(name))),
                }
            };
            let user = text(0, "user", MAX_USER)?;
            let domain = text(1, "domain", MAX_DOMAIN)?.to_ascii_lowercase();
            let (ha1_md5, ha1_sha256) = match form {
                Form::Password => {
                    let pw = &record[2];
                    if pw.is_empty() {
                        return Err(err(line, Problem::EmptyField("password")));
                    }
                    if pw.len() > MAX_PASSWORD {
                        return Err(err(
                            line,
                            Problem::TooLong {
                                field: "password",
                                max: MAX_PASSWORD,
                            },
                        ));
                    }
                    let d = domain.as_bytes();
                    (
                        Some(digest::ha1(HashFn::Md5, user.as_bytes(), d, pw)),
                        Some(digest::ha1(HashFn::Sha256, user.as_bytes(), d, pw)),
                    )
                }
                Form::Ha1 => {
                    let ha1 = |i: usize, field: &'static str, hash: HashFn| {
                        let f = &record[i];
                        if f.is_empty() {
                            return Ok(None);
                        }
                        Hex::parse(hash, f).map(Some).ok_or_else(|| {
                            err(
                                line,
                                Problem::BadHa1 {
                                    field,
                                    len: hash.hex_len(),
                                },
                            )
                        })
                    };
                    let md5 = ha1(2, "ha1_md5", HashFn::Md5)?;
                    let sha256 = ha1(3, "ha1_sha256", HashFn::Sha256)?;
                    if md5.is_none() && sha256.is_none() {
                        return Err(err(line, Problem::NoHa1));
                    }
                    (md5, sha256)
                }
            };
            let hash = subs.hash(user.as_bytes(), domain.as_bytes());
            let found = subs
                .table
                .find(hash, |s| *s.user == *user && *s.domain == *domain);
            if let Some(first) = found {
                return Err(err(
                    line,
                    Problem::Duplicate {
                        user: user.to_string(),
                        domain,
                        first: first.line,
                    },
                ));
            }
            let hasher = subs.hasher.clone();
            subs.table.insert_unique(
                hash,
                Subscriber {
                    user: user.into(),
                    domain: domain.into(),
                    ha1_md5,
                    ha1_sha256,
                    line,
                },
                move |s| hasher.hash_one((s.user.as_bytes(), s.domain.as_bytes())),
            );
        }
        Ok(subs)
    }
}

/// The subscribers in service, swapped whole on a reload: the shards read
/// [`SubscriberTable::current`] (an atomic load, no lock, no allocation)
/// while a reload thread parses the next set in full before swapping it
/// in, so a bad file keeps the set in service.
pub struct SubscriberTable {
    current: ArcSwap<Subscribers>,
}

impl fmt::Debug for SubscriberTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberTable")
            .field("current", &*self.current.load())
            .finish()
    }
}

impl Default for SubscriberTable {
    fn default() -> Self {
        SubscriberTable::new(Subscribers::empty())
    }
}

impl SubscriberTable {
    /// A table serving `subscribers`.
    pub fn new(subscribers: Subscribers) -> SubscriberTable {
        SubscriberTable {
            current: ArcSwap::from_pointee(subscribers),
        }
    }

    /// A table serving the file at `path`.
    pub fn open(path: &Path) -> Result<SubscriberTable, SubscribersError> {
        Ok(SubscriberTable::new(Subscribers::from_path(path)?))
    }

    /// Reads and checks the file at `path` in full, then puts it in
    /// service; on any error the set in service stays.
    pub fn load(&self, path: &Path) -> Result<LoadSummary, SubscribersError> {
        Ok(self.install(Subscribers::from_path(path)?))
    }

    /// Puts `subscribers` (already checked: the commit half of a
    /// two-phase reload) in service.
    pub fn install(&self, subscribers: Subscribers) -> LoadSummary {
        let summary = subscribers.summary();
        self.current.store(Arc::new(subscribers));
        summary
    }

    /// The set in service, for one request (hold it no longer).
    pub fn current(&self) -> Guard<Arc<Subscribers>> {
        self.current.load()
    }

    /// What is in service.
    pub fn status(&self) -> LoadSummary {
        self.current.load().summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(csv: &str) -> Result<Subscribers, SubscribersError> {
        Subscribers::from_csv(csv.as_bytes(), "subs.csv")
    }

    fn problem(csv: &str) -> (u64, Problem) {
        match parse(csv) {
            Err(SubscribersError::Line { line, problem, .. }) => (line, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn password_form() {
        let s = parse("\u{feff}user,domain,password\n# the example\nalice,127.0.0.1,alice-secret\n\n bob , Example.COM ,\"p,w\"\n").unwrap();
        assert_eq!(s.len(), 2);
        let a = s.get(b"alice", b"127.0.0.1").unwrap();
        assert_eq!(
            a.ha1_md5.unwrap(),
            digest::ha1(HashFn::Md5, b"alice", b"127.0.0.1", b"alice-secret")
        );
        assert_eq!(
            a.ha1(HashFn::Sha256).copied().unwrap(),
            digest::ha1(HashFn::Sha256, b"alice", b"127.0.0.1", b"alice-secret")
        );
        assert_eq!(a.line, 3);
        // Domains in any case; HA1s over the lower-cased domain.
        let b = s.get(b"bob", b"EXAMPLE.com").unwrap();
        assert_eq!(&*b.domain, "example.com");
        assert_eq!(
            b.ha1_md5.unwrap(),
            digest::ha1(HashFn::Md5, b"bob", b"example.com", b"p,w")
        );
        // Quotes inside quotes, CRLF line ends, white space kept in quotes.
        let s2 = parse("user,domain,password\r\nq,d, \" a\"\"b, \" \r\n").unwrap();
        assert_eq!(
            s2.get(b"q", b"d").unwrap().ha1_md5.unwrap(),
            digest::ha1(HashFn::Md5, b"q", b"d", b" a\"b, ")
        );
        // Users are case-sensitive.
        assert!(s.get(b"Alice", b"127.0.0.1").is_none());
        assert!(s.get(b"alice", b"127.0.0.2").is_none());
        assert!(s.get(b"alice", &[b'a'; 300]).is_none());
        let sum = s.summary();
        assert_eq!((sum.subscribers, sum.md5, sum.sha256), (2, 2, 2));
        assert_eq!(
            sum.to_string(),
            "subscribers subs.csv: 2 (2 with an MD5 HA1, 2 with a SHA-256 HA1)"
        );
    }

    #[test]
    fn ha1_form() {
        let md5 = digest::ha1(HashFn::Md5, b"alice", b"127.0.0.1", b"alice-secret");
        let sha = digest::ha1(HashFn::Sha256, b"carol", b"example.com", b"x");
        let csv = format!(
            "User,Domain,HA1_MD5,HA1_SHA256\nalice,127.0.0.1,{},\ncarol,example.com,,{}\n",
            md5.as_str().to_ascii_uppercase(),
            sha
        );
        let s = parse(&csv).unwrap();
        let a = s.get(b"alice", b"127.0.0.1").unwrap();
        assert_eq!(a.ha1_md5, Some(md5));
        assert_eq!(a.ha1_sha256, None);
        let c = s.get(b"carol", b"example.com").unwrap();
        assert_eq!((c.ha1_md5, c.ha1_sha256), (None, Some(sha)));
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("user,domain,password\nalice,a.example,x\nbob,a.example\n").unwrap_err();
        assert_eq!(e.to_string(), "subs.csv:3: 2 fields where the header has 3");
        assert_eq!(
            problem("user,domain,password\nalice,a.example,x\n\nalice,A.EXAMPLE,y\n"),
            (
                4,
                Problem::Duplicate {
                    user: "alice".into(),
                    domain: "a.example".into(),
                    first: 2
                }
            )
        );
        assert_eq!(problem(""), (1, Problem::Empty));
        assert_eq!(problem("# only a comment\n"), (1, Problem::Empty));
        assert!(matches!(
            problem("user,password\n"),
            (1, Problem::Header(_))
        ));
        assert!(matches!(
            problem("name,domain,password\n"),
            (1, Problem::Header(_))
        ));
        assert_eq!(
            problem("user,domain,password\n,a.example,x\n"),
            (2, Problem::EmptyField("user"))
        );
        assert_eq!(
            problem("user,domain,password\nu,,x\n"),
            (2, Problem::EmptyField("domain"))
        );
        assert_eq!(
            problem("user,domain,password\nu,d,\n"),
            (2, Problem::EmptyField("password"))
        );
        assert_eq!(
            problem("user,domain,password\n\"a b\",d,x\n"),
            (2, Problem::BadChars("user"))
        );
        assert_eq!(
            problem(&format!(
                "user,domain,password\n{},d,x\n",
                "u".repeat(MAX_USER + 1)
            )),
            (
                2,
                Problem::TooLong {
                    field: "user",
                    max: MAX_USER
                }
            )
        );
        assert_eq!(
            problem("user,domain,ha1_md5,ha1_sha256\nu,d,,\n"),
            (2, Problem::NoHa1)
        );
        assert_eq!(
            problem("user,domain,ha1_md5,ha1_sha256\nu,d,abc,\n"),
            (
                2,
                Problem::BadHa1 {
                    field: "ha1_md5",
                    len: 32
                }
            )
        );
        assert_eq!(
            problem("user,domain,password\r\nu,d,\"x\r\n"),
            (2, Problem::Quote)
        );
        assert_eq!(
            problem("user,domain,password\nu,d,\"x\"y\n"),
            (2, Problem::Quote)
        );
        let e = Subscribers::from_path(Path::new("/nonexistent/subs.csv")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/subs.csv: "), "{e}");
    }

    #[test]
    fn table_swaps_only_good_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subs.csv");
        std::fs::write(
            &path,
            "user,domain,password\nalice,127.0.0.1,alice-secret\n",
        )
        .unwrap();
        let table = SubscriberTable::open(&path).unwrap();
        assert!(table.current().get(b"alice", b"127.0.0.1").is_some());
        std::fs::write(
            &path,
            "user,domain,password\nbob,127.0.0.1,x\nbob,127.0.0.1,y\n",
        )
        .unwrap();
        let e = table.load(&path).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("subs.csv:3: bob@127.0.0.1 is already defined on line 2"),
            "{e}"
        );
        // The set in service stayed.
        assert!(table.current().get(b"alice", b"127.0.0.1").is_some());
        std::fs::write(&path, "user,domain,password\nbob,127.0.0.1,x\n").unwrap();
        let sum = table.load(&path).unwrap();
        assert_eq!(sum.subscribers, 1);
        assert!(table.current().get(b"alice", b"127.0.0.1").is_none());
        assert!(table.current().get(b"bob", b"127.0.0.1").is_some());
        assert_eq!(table.status(), sum);
    }
}
