//! Building a snapshot: CSV files in, validated and indexed
//! [`RoutingTable`] out, written atomically.
//!
//! The builder reads every file to the end and collects every error (up to
//! [`BuildErrors::LIMIT`]) with its file and line, so an operator fixes a
//! deck in one pass. Only a deck without errors is indexed.

mod fields;
mod inputs;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{BuildErrorKind, BuildErrors};
use crate::format::{
    ALWAYS_OPEN, AclEntry, Entry, FORMAT_VERSION, Header, NONE, Namespace, RoutingTable, Rule,
};
use crate::key::{self, KEY_END};
use crate::source::Source;
use crate::window::At;
use crate::zone::Zones;
use inputs::{Inputs, RawRule};

/// The CSV inputs of one build. Gateways and rules are required.
#[derive(Debug)]
pub struct BuildInputs {
    /// `gateways.csv`.
    pub gateways: Source,
    /// `rules.csv`.
    pub rules: Source,
    /// `carriers.csv`.
    pub carriers: Option<Source>,
    /// `dialplan.csv`.
    pub dialplan: Option<Source>,
    /// `acl.csv`.
    pub acl: Option<Source>,
}

/// A built table, ready to write.
#[derive(Debug)]
pub struct Built {
    /// The table.
    pub table: RoutingTable,
    /// xxh3-64 over the inputs' names and bytes.
    pub source_digest: u64,
}

/// Reads, validates and indexes the inputs, at the present time (time
/// zones are computed over a period around it: see [`build_at`]).
pub fn build(inputs: BuildInputs) -> Result<Built, BuildErrors> {
    build_at(inputs, At::now().unix)
}

/// [`build`] as if run at `now` (Unix seconds): the offsets of the time
/// zones named by windows are stored from one year before `now` to twenty
/// years after (`zone.rs`), so a snapshot's zoned windows depend on when it
/// was built, and tests pin that down with this.
pub fn build_at(inputs: BuildInputs, now: i64) -> Result<Built, BuildErrors> {
    let mut errs = BuildErrors::new();
    let mut r = Inputs {
        zones: Zones::new(now, None),
        ..Inputs::default()
    };
    let mut groups = HashMap::new();
    let mut ids = r.read_gateways(inputs.gateways, &mut errs);
    if let Some(c) = inputs.carriers {
        r.read_carriers(c, &mut ids, &mut errs);
    }
    let rules_name = inputs.rules.name().to_path_buf();
    r.read_rules(inputs.rules, &ids, &mut groups, &mut errs);
    if let Some(d) = inputs.dialplan {
        r.read_dialplan(d, &mut groups, &mut errs);
    }
    let acl_name = inputs.acl.as_ref().map(|a| a.name().to_path_buf());
    if let Some(a) = inputs.acl {
        r.read_acl(a, &mut groups, &mut errs);
    }
    drop(ids);
    drop(groups);

    // Final group ids: sorted names, so `group_id` can binary-search.
    let mut order: Vec<u32> = (0..r.groups.len() as u32).collect();
    order.sort_by(|&a, &b| r.groups[a as usize].cmp(&r.groups[b as usize]));
    let mut remap = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old as usize] = new as u32;
    }
    let group_names: Vec<String> = order
        .iter()
        .map(|&o| std::mem::take(&mut r.groups[o as usize]))
        .collect();
    if r.targets.len() >= u32::MAX as usize || r.rules.len() >= u32::MAX as usize {
        errs.push(&rules_name, 0, BuildErrorKind::TooMany("rules"));
    }

    let mut rules = std::mem::take(&mut r.rules);
    for rule in &mut rules {
        rule.ns = remap[(rule.ns / 2) as usize] * 2 + rule.ns % 2;
    }
    rules.sort_unstable_by_key(|r| (r.ns, r.key, r.len, r.priority, r.line));
    check_duplicates(&rules, &r.zones, &rules_name, &mut errs);
    let mut acl = std::mem::take(&mut r.acl);
    for a in &mut acl {
        a.group = remap[a.group as usize];
    }
    acl.sort_unstable_by_key(|a| (a.start, a.len));
    let acl = index_acl(&acl, acl_name.as_deref(), &mut errs);
    if !errs.is_empty() {
        return Err(errs);
    }

    let mut table = RoutingTable {
        sources: r.digests.iter().map(|(n, _)| n.clone()).collect(),
        groups: group_names,
        gateways: r.gateways,
        carriers: r.carriers,
        members: r.members,
        target_offsets: r.target_offsets,
        targets: r.targets,
        attrs: r.attrs,
        acl,
        ..RoutingTable::default()
    };
    std::mem::take(&mut r.zones).store(&mut table);
    index_rules(&mut table, &rules, &rules_name).map_err(|k| {
        let mut e = BuildErrors::new();
        e.push(&rules_name, 0, k);
        e
    })?;
    drop(rules);
    let mut dialplan = std::mem::take(&mut r.dialplan);
    for (g, _) in &mut dialplan {
        *g = remap[*g as usize];
    }
    dialplan.sort_by_key(|(g, d)| (*g, d.priority, d.line));
    let mut offsets = vec![0u32; table.groups.len() + 1];
    for (g, _) in &dialplan {
        offsets[*g as usize + 1] += 1;
    }
    for i in 1..offsets.len() {
        offsets[i] += offsets[i - 1];
    }
    table.dialplan_offsets = offsets;
    table.dialplan = dialplan.into_iter().map(|(_, d)| d).collect();

    let mut digest = xxhash_rust::xxh3::Xxh3::new();
    for (name, d) in &r.digests {
        // Role only (not the path), so moving the files keeps the digest.
        digest.update(name.split('=').next().unwrap_or("").as_bytes());
        digest.update(&d.to_le_bytes());
    }
    Ok(Built {
        table,
        source_digest: digest.digest(),
    })
}

/// Same group, prefix and priority with overlapping windows: in one zone,
/// the same local minute; in two, the same instant at some time (see
/// `zone::overlap_across_zones`).
fn check_duplicates(rules: &[RawRule], zones: &Zones, file: &Path, errs: &mut BuildErrors) {
    let same = |a: &RawRule, b: &RawRule| {
        (a.ns, a.key, a.len, a.priority) == (b.ns, b.key, b.len, b.priority)
    };
    let mut i = 0;
    while i < rules.len() {
        let mut j = i + 1;
        while j < rules.len() && same(&rules[i], &rules[j]) {
            j += 1;
        }
        for b in i + 1..j {
            let (wb, zb) = (&rules[b].window, rules[b].zone);
            if let Some(a) =
                (i..b).find(|&a| zones.windows_overlap(&rules[a].window, rules[a].zone, wb, zb))
            {
                errs.push(
                    file,
                    u64::from(rules[b].line),
                    BuildErrorKind::DuplicateRule {
                        first_line: u64::from(rules[a].line),
                    },
                );
            }
        }
        i = j;
    }
}

/// Builds keys, entries, rules and bucket directories from sorted rules.
fn index_rules(
    t: &mut RoutingTable,
    rules: &[RawRule],
    _file: &Path,
) -> Result<(), BuildErrorKind> {
    let nns = t.groups.len() * 2;
    t.rules.reserve_exact(rules.len());
    t.namespaces = Vec::with_capacity(nns);
    let mut i = 0;
    let mut stack: Vec<(u64, u32)> = Vec::new();
    for ns in 0..nns as u32 {
        let start = t.entries.len() as u32;
        stack.clear();
        while i < rules.len() && rules[i].ns == ns {
            let first = rules[i];
            let idx = t.entries.len() as u32;
            let rules_start = t.rules.len() as u32;
            while i < rules.len()
                && (rules[i].ns, rules[i].key, rules[i].len) == (ns, first.key, first.len)
            {
                let r = &rules[i];
                t.rules.push(Rule {
                    priority: r.priority,
                    targets: r.targets,
                    attrs: r.attrs,
                    line: r.line,
                    win_start: r.window.start,
                    win_end: r.window.end,
                    win_days: r.window.days,
                    win_zone: r.zone,
                });
                i += 1;
            }
            let rules_len = u16::try_from(t.rules.len() as u32 - rules_start)
                .map_err(|_| BuildErrorKind::TooMany("rules on one prefix (65535)"))?;
            // Ranges are nested or disjoint and sorted by start: the
            // enclosing entries are on the stack.
            while stack.last().is_some_and(|&(end, _)| end <= first.key) {
                stack.pop();
            }
            let parent = stack.last().map_or(NONE, |&(_, p)| p);
            stack.push((first.key + key::span(usize::from(first.len)), idx));
            let always = t.rules[rules_start as usize].win_days == 0;
            t.entries.push(Entry {
                key: first.key,
                flags: if always { ALWAYS_OPEN } else { 0 },
                parent,
                rules_start,
                rules_len,
                len: first.len,
                first_targets: t.rules[rules_start as usize].targets,
            });
        }
        let end = t.entries.len() as u32;
        t.namespaces.push(bucket_directory(
            &mut t.buckets,
            &t.entries[start as usize..],
            start,
            end,
        ));
    }
    if t.entries.len() >= NONE as usize {
        return Err(BuildErrorKind::TooMany("prefixes"));
    }
    Ok(())
}

/// About four buckets per entry (see `lookup.rs` for why); `buckets[b]` is
/// the number of keys below bucket `b`'s first key (`b << (63 - bits)`).
fn bucket_directory(buckets: &mut Vec<u32>, entries: &[Entry], start: u32, end: u32) -> Namespace {
    let n = entries.len();
    let bits = if n == 0 {
        0
    } else {
        (n.ilog2() + 2).min(24) as u8
    };
    let bucket_start = buckets.len() as u32;
    let shift = 63 - u32::from(bits);
    let mut k = 0usize;
    for b in 0..=(1u64 << bits) {
        let first = b << shift;
        while k < n && entries[k].key < first {
            k += 1;
        }
        buckets.push(k as u32);
    }
    debug_assert!(entries.iter().all(|e| e.key < KEY_END));
    Namespace {
        start,
        end,
        bucket_start,
        bucket_bits: bits,
    }
}

/// Parents for sorted ACL entries; duplicates are errors.
fn index_acl(acl: &[inputs::RawAcl], file: Option<&Path>, errs: &mut BuildErrors) -> Vec<AclEntry> {
    let mut out: Vec<AclEntry> = Vec::with_capacity(acl.len());
    let mut stack: Vec<u32> = Vec::new();
    for a in acl {
        let end = a.start | if a.len == 128 { 0 } else { u128::MAX >> a.len };
        if let Some(prev) = out.last() {
            if prev.start == a.start && prev.len == a.len {
                errs.push(
                    file.unwrap_or(Path::new("acl")),
                    u64::from(a.line),
                    BuildErrorKind::DuplicateCidr {
                        first_line: u64::from(prev.line),
                    },
                );
                continue;
            }
        }
        while stack.last().is_some_and(|&p| out[p as usize].end < a.start) {
            stack.pop();
        }
        let parent = stack.last().copied().unwrap_or(NONE);
        stack.push(out.len() as u32);
        out.push(AclEntry {
            start: a.start,
            end,
            parent,
            group: a.group,
            len: a.len,
            line: a.line,
        });
    }
    out
}

impl Built {
    /// The snapshot file's bytes: header, then the rkyv body.
    pub fn to_bytes(&self, built_at: u64) -> Vec<u8> {
        let body = rkyv::to_bytes::<rkyv::rancor::Error>(&self.table)
            .expect("serialising plain data into memory cannot fail");
        let header = Header {
            version: FORMAT_VERSION,
            built_at,
            source_digest: self.source_digest,
            body_len: body.len() as u64,
            body_checksum: xxhash_rust::xxh3::xxh3_64(&body),
        };
        let mut out = Vec::with_capacity(crate::format::HEADER_LEN + body.len());
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&body);
        out
    }

    /// Writes the snapshot to `path` atomically; returns its size.
    pub fn write(&self, path: &Path, built_at: u64) -> io::Result<u64> {
        let bytes = self.to_bytes(built_at);
        write_atomic(path, &bytes)?;
        Ok(bytes.len() as u64)
    }
}

/// Writes `bytes` to a temporary file next to `path`, syncs it and renames
/// it over `path`: readers see the old file or the new one, never a partial
/// one, and a mapping of the old file keeps its inode (it is never
/// truncated in place).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
