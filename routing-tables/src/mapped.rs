//! Opening a snapshot: verify, then serve lookups from the mapping.
//!
//! This is the only module with `unsafe`. [`Snapshot::open`] maps the
//! file read-only, checks the header, the body checksum, rkyv's structure
//! (bytecheck, via `rkyv::access`) and the table's own invariants
//! (`validate.rs`), and compiles the dialplan. Only then is a `Snapshot`
//! returned; [`Snapshot::table`] afterwards skips the checks
//! (`access_unchecked`).
//!
//! **The one risk: the file changing under the mapping.** A mapping sees
//! later writes to its file, and truncating a mapped file makes reads past
//! the new end raise SIGBUS. The builder (`snap build`, and `snap push` in
//! phase 2) therefore never writes a snapshot in place: it writes a new
//! file and renames it over the old name ([`write_atomic`](crate::write_atomic)),
//! so a mapped inode is never modified. An operator who edits or truncates
//! a snapshot file in place while it is served breaks that contract; use
//! [`Snapshot::from_bytes`] (a private copy) where that cannot be ruled out.

#![allow(unsafe_code)] // the one module allowed to: see above

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;
use rkyv::util::AlignedVec;

use crate::dialplan::{Compiled, Dialled, Dialplan, DialplanScratch};
use crate::error::SnapError;
use crate::format::{ArchivedRoutingTable, FORMAT_VERSION, HEADER_LEN, Header, MAGIC};
use crate::lookup::{GroupId, RuleRef};
use crate::window::At;

static STAMPS: AtomicU64 = AtomicU64::new(1);

enum Bytes {
    Mapped(Mmap),
    Owned(AlignedVec<16>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A verified routing-table snapshot.
pub struct Snapshot {
    path: PathBuf,
    header: Header,
    bytes: Bytes,
    dialplan: Dialplan,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Maps `path` read-only and verifies it; a damaged file is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Snapshot, SnapError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| SnapError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < HEADER_LEN as u64 {
            return Err(SnapError::TooShort { path, len });
        }
        // The remaining hazard of a file mapping, the file modified or
        // truncated in place afterwards, is excluded by contract: snapshots
        // are only ever replaced by rename (see the module docs). Tested by
        // `tests/snapshot.rs`.
        // SAFETY: the mapping is read-only, never written through, and its contents are verified below before any use.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Snapshot::verified(path, Bytes::Mapped(map))
    }

    /// Reads `path` into a private, read-only anonymous mapping backed by
    /// transparent huge pages where the kernel allows (`MADV_HUGEPAGE`),
    /// and verifies it. Compared with [`Snapshot::open`]: immune to the
    /// file being changed or truncated afterwards, and 2 MiB pages cut the
    /// TLB misses of random lookups in a large table; but the memory is
    /// not shared with the page cache, and opening copies the file.
    pub fn open_private(path: impl AsRef<Path>) -> Result<Snapshot, SnapError> {
        use std::io::Read as _;
        let path = path.as_ref().to_path_buf();
        let io = |source| SnapError::Io {
            path: path.clone(),
            source,
        };
        let mut file = File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < HEADER_LEN as u64 {
            return Err(SnapError::TooShort { path, len });
        }
        let size = usize::try_from(len).map_err(|_| SnapError::TooShort {
            path: path.clone(),
            len,
        })?;
        let mut anon = memmap2::MmapMut::map_anon(size).map_err(io)?;
        #[cfg(target_os = "linux")]
        let _ = anon.advise(memmap2::Advice::HugePage); // best effort
        file.read_exact(&mut anon).map_err(io)?;
        // The file grew while we read it: refuse rather than guess.
        if file.read(&mut [0u8; 1]).map_err(io)? != 0 {
            return Err(SnapError::Length {
                path,
                expected: len,
                actual: len + 1,
            });
        }
        let map = anon.make_read_only().map_err(io)?;
        Snapshot::verified(path, Bytes::Mapped(map))
    }

    /// Verifies a private copy of `bytes` (named `name` in errors).
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: &[u8]) -> Result<Snapshot, SnapError> {
        let mut v = AlignedVec::<16>::with_capacity(bytes.len());
        v.extend_from_slice(bytes);
        Snapshot::verified(name.into(), Bytes::Owned(v))
    }

    fn verified(path: PathBuf, bytes: Bytes) -> Result<Snapshot, SnapError> {
        let header = verify(&path, bytes.as_slice())?;
        let table = checked_table(&path, bytes.as_slice())?;
        let mut dialplan = Dialplan {
            rules: Vec::with_capacity(table.dialplan.len()),
            stamp: STAMPS.fetch_add(1, Ordering::Relaxed),
        };
        for rule in table.dialplan.iter() {
            let c = Compiled::new(rule).map_err(|what| SnapError::Invalid {
                path: path.clone(),
                offset: offset_of(bytes.as_slice(), rule),
                what: format!("dialplan rule (line {}): {what}", rule.line),
            })?;
            dialplan.rules.push(c);
        }
        Ok(Snapshot {
            path,
            header,
            bytes,
            dialplan,
        })
    }

    /// A number no other snapshot opened by this process has: tells a
    /// per-shard cache built for one snapshot from the next one.
    pub fn stamp(&self) -> u64 {
        self.dialplan.stamp
    }

    /// The file this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file's size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.as_slice().len()
    }

    /// Never: a snapshot has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The archived table.
    #[inline]
    pub fn table(&self) -> &ArchivedRoutingTable {
        let body = &self.bytes.as_slice()[HEADER_LEN..];
        // The bytes cannot change: an owned copy is never mutated, and a
        // mapping is read-only and its file is only ever replaced by rename,
        // never written in place (see the module docs). Body offset 64 keeps
        // rkyv's alignment (mappings are page-aligned, the owned copy
        // 16-aligned).
        // SAFETY: `verified` ran `rkyv::access` (bytecheck) on exactly these bytes before this `Snapshot` existed.
        unsafe { rkyv::access_unchecked::<ArchivedRoutingTable>(body) }
    }

    /// Longest-prefix lookup; see [`ArchivedRoutingTable::lookup`].
    #[inline]
    pub fn lookup(&self, group: GroupId, number: &str, at: At) -> Option<RuleRef<'_>> {
        self.table().lookup(group, number, at)
    }

    /// The routing group of a source address.
    pub fn group_for_source(&self, addr: std::net::IpAddr) -> Option<GroupId> {
        self.table().group_for_source(addr)
    }

    /// Applies `group`'s dialplan to `number` (see [`crate::dialplan`]).
    /// The result borrows `number` or `scratch`.
    pub fn apply_dialplan<'a>(
        &self,
        group: GroupId,
        number: &'a str,
        scratch: &'a mut DialplanScratch,
    ) -> Dialled<'a> {
        let t = self.table();
        let g = group.0 as usize;
        let range = match (t.dialplan_offsets.get(g), t.dialplan_offsets.get(g + 1)) {
            (Some(a), Some(b)) => a.to_native() as usize..b.to_native() as usize,
            _ => 0..0,
        };
        self.dialplan.apply(&t.dialplan, range, number, scratch)
    }
}

/// Checks the header and the body checksum of a whole snapshot file.
pub fn verify(path: &Path, bytes: &[u8]) -> Result<Header, SnapError> {
    let path = path.to_path_buf();
    let len = bytes.len() as u64;
    if bytes.len() < HEADER_LEN {
        return Err(SnapError::TooShort { path, len });
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or([0; 8]));
    if bytes[0..8] != MAGIC {
        return Err(SnapError::BadMagic { path });
    }
    if xxhash_rust::xxh3::xxh3_64(&bytes[0..48]) != u64_at(48) {
        return Err(SnapError::HeaderChecksum { path });
    }
    if bytes[56..64] != [0; 8] {
        return Err(SnapError::Invalid {
            path,
            offset: 56,
            what: "reserved header bytes are not zero".into(),
        });
    }
    let version = u32_at(8);
    if version != FORMAT_VERSION || u32_at(12) as usize != HEADER_LEN {
        return Err(SnapError::Version { path, version });
    }
    let header = Header {
        version,
        built_at: u64_at(16),
        source_digest: u64_at(24),
        body_len: u64_at(32),
        body_checksum: u64_at(40),
    };
    let expected = header.body_len.saturating_add(HEADER_LEN as u64);
    if expected != len {
        return Err(SnapError::Length {
            path,
            expected,
            actual: len,
        });
    }
    let computed = xxhash_rust::xxh3::xxh3_64(&bytes[HEADER_LEN..]);
    if computed != header.body_checksum {
        return Err(SnapError::BodyChecksum {
            path,
            end: len,
            stored: header.body_checksum,
            computed,
        });
    }
    Ok(header)
}

/// bytecheck, then the table's own invariants.
fn checked_table<'b>(path: &Path, bytes: &'b [u8]) -> Result<&'b ArchivedRoutingTable, SnapError> {
    let table =
        rkyv::access::<ArchivedRoutingTable, rkyv::rancor::BoxedError>(&bytes[HEADER_LEN..])
            .map_err(|e| SnapError::Structure {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
    crate::validate::check(table).map_err(|b| SnapError::Invalid {
        path: path.to_path_buf(),
        offset: (b.at as usize).wrapping_sub(bytes.as_ptr() as usize) as u64,
        what: b.what,
    })?;
    Ok(table)
}

fn offset_of<T>(bytes: &[u8], item: &T) -> u64 {
    ((item as *const T as usize).wrapping_sub(bytes.as_ptr() as usize)) as u64
}
