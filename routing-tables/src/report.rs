//! Human-readable views of a snapshot for the `snap` commands: counts and
//! sizes (`inspect`), one line per rule and gateway, and the difference
//! between two snapshots (`diff`).

use std::cmp::Ordering;
use std::fmt::Write as _;

use crate::format::{ArchivedCarrier, ArchivedGateway, ArchivedOrder, ArchivedRoutingTable};
use crate::lookup::RuleRef;
use crate::mapped::Snapshot;

/// `inspect`: header, counts and the size of each array.
pub fn inspect(s: &Snapshot) -> String {
    let t = s.table();
    let h = s.header();
    let mut o = String::new();
    let _ = writeln!(o, "file: {}", s.path().display());
    let _ = writeln!(o, "size: {} bytes", s.len());
    let _ = writeln!(o, "format version: {}", h.version);
    let _ = writeln!(o, "built at: {} ({})", h.built_at, utc(h.built_at));
    let _ = writeln!(o, "source digest: {:016x}", h.source_digest);
    let _ = writeln!(
        o,
        "body checksum: {:016x} ({} bytes)",
        h.body_checksum, h.body_len
    );
    let _ = writeln!(
        o,
        "sources: {}",
        t.sources
            .iter()
            .map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(
        o,
        "groups: {} ({})",
        t.groups.len(),
        t.groups
            .iter()
            .map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(o, "gateways: {}", t.gateways.len());
    let _ = writeln!(
        o,
        "carriers: {} ({} members)",
        t.carriers.len(),
        t.members.len()
    );
    let _ = writeln!(o, "rules: {}", t.rules.len());
    let _ = writeln!(o, "prefixes: {}", t.entries.len());
    let _ = writeln!(
        o,
        "target lists: {} ({} targets)",
        t.target_offsets.len().saturating_sub(1),
        t.targets.len()
    );
    let _ = writeln!(o, "attribute strings: {}", t.attrs.len());
    let _ = writeln!(o, "dialplan rules: {}", t.dialplan.len());
    let _ = writeln!(o, "acl entries: {}", t.acl.len());
    if t.zones.is_empty() {
        let _ = writeln!(o, "time zones: 0 (every window in UTC)");
    } else {
        let _ = writeln!(
            o,
            "time zones: {} ({})",
            t.zones.len(),
            t.zones
                .iter()
                .map(|z| z.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            o,
            "zone offsets: {} transitions from {} to {}, from {}",
            t.zone_transitions.len(),
            utc_signed(t.zone_coverage_start.to_native()),
            utc_signed(t.zone_coverage_end.to_native()),
            t.zone_source
        );
    }
    let sz = |n: usize, each: usize| n * each;
    let _ = writeln!(
        o,
        "bytes: entries {} buckets {} rules {} targets {}",
        sz(
            t.entries.len(),
            std::mem::size_of::<crate::format::ArchivedEntry>()
        ),
        sz(t.buckets.len(), 4),
        sz(
            t.rules.len(),
            std::mem::size_of::<crate::format::ArchivedRule>()
        ),
        sz(t.targets.len() + t.target_offsets.len(), 4),
    );
    if !t.rules.is_empty() {
        let _ = writeln!(
            o,
            "bytes per rule: {:.1}",
            h.body_len as f64 / t.rules.len() as f64
        );
    }
    o
}

/// `YYYY-MM-DDTHH:MM:SSZ` from Unix seconds (civil-from-days).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn utc_signed(secs: i64) -> String {
    crate::window::At::from_unix(secs).to_string()
}

/// One line for a gateway: every field, the address as written (`host`
/// without a port: SRV applies; so a port added or removed is a change).
pub fn gateway_line(g: &ArchivedGateway) -> String {
    format!(
        "{} {} {:?} weight {} probing {} cps_cap {} concurrent_cap {} strip {} prefix {:?} attrs {:?}",
        g.id,
        g.address_as_written(),
        g.transport(),
        g.weight,
        if g.probing { "yes" } else { "no" },
        g.cps_cap,
        g.concurrent_cap,
        g.strip,
        g.prefix.as_str(),
        g.attrs.as_str()
    )
}

fn carrier_line(t: &ArchivedRoutingTable, c: &ArchivedCarrier) -> String {
    let members = t.members
        [c.members_start.to_native() as usize..c.members_end.to_native() as usize]
        .iter()
        .map(|m| {
            format!(
                "{}={}",
                t.gateways[m.gateway.to_native() as usize].id,
                m.weight
            )
        })
        .collect::<Vec<_>>()
        .join(";");
    let order = match c.order {
        ArchivedOrder::Ordered => "ordered",
        ArchivedOrder::Weighted => "weighted",
    };
    format!(
        "{} {members} {order} {}",
        c.id,
        if c.first_only { "first" } else { "all" }
    )
}

/// A rule's identity and its value, for listing and diffing.
fn rule_value(r: &RuleRef<'_>) -> String {
    let targets: Vec<&str> = r.target_ids().collect();
    let mut v = targets.join(";");
    if !r.attrs().is_empty() {
        let _ = write!(v, " attrs {:?}", r.attrs());
    }
    v
}

/// `group prefix priority [window [zone]]`.
pub fn rule_name(t: &ArchivedRoutingTable, r: &RuleRef<'_>) -> String {
    let w = r.window();
    format!(
        "{} {} priority {}{}{}",
        t.group_name(r.group()).unwrap_or("?"),
        if r.prefix().is_empty() {
            "(default)".to_string()
        } else {
            r.prefix()
        },
        r.priority(),
        if w.days == 0 { "" } else { " window " },
        r.window_text()
    )
}

/// Every rule of the table.
pub fn rules(t: &ArchivedRoutingTable) -> impl Iterator<Item = RuleRef<'_>> {
    t.namespaces.iter().enumerate().flat_map(move |(ns, n)| {
        (n.start.to_native()..n.end.to_native()).flat_map(move |e| {
            let entry = &t.entries[e as usize];
            let a = entry.rules_start.to_native();
            (a..a + u32::from(entry.rules_len.to_native())).map(move |rule| RuleRef {
                table: t,
                ns: ns as u32,
                entry: e,
                rule,
                targets: t.rules[rule as usize].targets.to_native(),
            })
        })
    })
}

/// Counts of a diff.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DiffCounts {
    /// Rules only in the new table.
    pub rules_added: usize,
    /// Rules only in the old table.
    pub rules_removed: usize,
    /// Rules in both with other targets or attributes.
    pub rules_changed: usize,
    /// Gateways added, removed or changed (any field).
    pub gateways_changed: usize,
    /// Carriers added, removed or changed.
    pub carriers_changed: usize,
}

/// A rule's identity: group, `+`, prefix key and length, priority, window
/// and its zone (by name: zone indexes differ between snapshots).
type RuleKey<'a> = (&'a str, u32, u64, u8, i32, u8, u16, u16, &'a str);

fn sorted_rules(t: &ArchivedRoutingTable) -> Vec<(RuleKey<'_>, RuleRef<'_>)> {
    let mut v: Vec<_> = rules(t)
        .map(|r| {
            let w = r.window();
            let key = (
                t.group_name(r.group()).unwrap_or(""),
                r.ns % 2,
                t.entries[r.entry as usize].key.to_native(),
                t.entries[r.entry as usize].len,
                r.priority(),
                w.days,
                w.start,
                w.end,
                r.zone().unwrap_or(""),
            );
            (key, r)
        })
        .collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

/// `diff old new`: one line per difference (`+`, `-`, `~`) written to
/// `out`, and the counts.
pub fn diff(
    old: &ArchivedRoutingTable,
    new: &ArchivedRoutingTable,
    out: &mut dyn std::io::Write,
) -> std::io::Result<DiffCounts> {
    let mut c = DiffCounts::default();
    let a = sorted_rules(old);
    let b = sorted_rules(new);
    merge_sorted(&a, &b, |step| {
        match step {
            Merged::Removed(r) => {
                writeln!(out, "- rule {} -> {}", rule_name(old, r), rule_value(r))?;
                c.rules_removed += 1;
            }
            Merged::Added(r) => {
                writeln!(out, "+ rule {} -> {}", rule_name(new, r), rule_value(r))?;
                c.rules_added += 1;
            }
            Merged::Both(ra, rb) => {
                let (x, y) = (rule_value(ra), rule_value(rb));
                if x != y {
                    writeln!(out, "~ rule {} -> {x} => {y}", rule_name(new, rb))?;
                    c.rules_changed += 1;
                }
            }
        }
        Ok(())
    })?;
    let gw = |t: &ArchivedRoutingTable| -> Vec<(String, String)> {
        t.gateways
            .iter()
            .map(|g| (g.id.to_string(), gateway_line(g)))
            .collect()
    };
    c.gateways_changed = diff_named("gateway", &gw(old), &gw(new), out)?;
    let ca = |t: &ArchivedRoutingTable| -> Vec<(String, String)> {
        t.carriers
            .iter()
            .map(|x| (x.id.to_string(), carrier_line(t, x)))
            .collect()
    };
    c.carriers_changed = diff_named("carrier", &ca(old), &ca(new), out)?;
    Ok(c)
}

/// Diffs two id-sorted lists of (id, description).
fn diff_named(
    what: &str,
    a: &[(String, String)],
    b: &[(String, String)],
    out: &mut dyn std::io::Write,
) -> std::io::Result<usize> {
    let mut n = 0;
    merge_sorted(a, b, |step| {
        match step {
            Merged::Removed(x) => writeln!(out, "- {what} {x}")?,
            Merged::Added(y) => writeln!(out, "+ {what} {y}")?,
            Merged::Both(x, y) if x != y => writeln!(out, "~ {what} {x} => {y}")?,
            Merged::Both(..) => return Ok(()),
        }
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

/// One key of a merge of two key-sorted lists: only in the old, only in
/// the new, or in both.
enum Merged<'a, T> {
    Removed(&'a T),
    Added(&'a T),
    Both(&'a T, &'a T),
}

/// Walks two lists sorted by key in step, handing `f` each key's values
/// in key order: one linear pass, as `comm(1)`.
fn merge_sorted<K: Ord, T>(
    a: &[(K, T)],
    b: &[(K, T)],
    mut f: impl FnMut(Merged<'_, T>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                f(Merged::Removed(&a[i].1))?;
                i += 1;
            }
            Ordering::Greater => {
                f(Merged::Added(&b[j].1))?;
                j += 1;
            }
            Ordering::Equal => {
                f(Merged::Both(&a[i].1, &b[j].1))?;
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}
