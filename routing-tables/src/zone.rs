//! Time zones of rule windows: resolved when a snapshot is built, with
//! jiff; read when a call is routed, from two flat arrays of the snapshot,
//! without jiff.
//!
//! **Why not ask jiff per call.** A time zone database lookup (a cache
//! behind a lock, TZif data, POSIX rules for the years past the table) does
//! not belong on a path that runs for every INVITE, and a snapshot should
//! route the same on every machine that maps it, whatever tz database that
//! machine has. So the builder asks jiff once per zone for its UTC offsets
//! over a *coverage period*, from one year before the build to twenty years
//! after, and the snapshot stores them ([`Zone`], [`ZoneTransition`]): from
//! a transition's `at` on, local time is UTC plus its `offset`. A zone's
//! first entry is at the start of the coverage and holds the offset in
//! effect then, which also applies before it; the last entry's offset
//! applies after the end. A lookup on a zoned rule binary-searches the
//! zone's entries (about two per year: some 40); lookups on rules without a
//! window, the common case, never get here.
//!
//! **Which database.** jiff's global one (`jiff::tz::db()`): the system's
//! copy (`$TZDIR`, else `/usr/share/zoneinfo`) when there is one, else the
//! copy compiled into the binary (the `tzdb-bundle-always` feature), so a
//! build works on a machine without zoneinfo. The snapshot records which
//! one was used (`zone_source`, shown by `snap inspect`). A snapshot holds
//! the rules as they stood when it was built: rebuild it after a tz
//! database update that changes a zone in use, and well before its coverage
//! ends.

use std::collections::HashMap;

use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{Timestamp, ToSpan as _};

use crate::error::BuildErrorKind;
use crate::format::{ArchivedRoutingTable, RoutingTable, Zone, ZoneTransition};
use crate::window::{At, WEEK_MINUTES, WeekMinute, Window};

/// Years of coverage before and after the build time.
pub const COVERAGE_YEARS_BEFORE: i64 = 1;
/// See [`COVERAGE_YEARS_BEFORE`].
pub const COVERAGE_YEARS_AFTER: i64 = 20;

/// The largest UTC offset a snapshot may hold (jiff's limit: 25:59:59).
pub(crate) const MAX_OFFSET: i32 = 93_599;

/// One zone's offset changes: `(at, offset)`, `at` strictly increasing.
pub(crate) type Offsets = Vec<(i64, i32)>;

/// The zones named by a deck's rules, as the builder collects them.
/// Zone index 0 is UTC; index `k` is `names[k - 1]`.
pub(crate) struct Zones {
    /// jiff's database, opened when the first zone is named (a deck in UTC
    /// only never touches it).
    db: Option<TimeZoneDatabase>,
    /// Unix seconds `[start, end]` the offsets are computed over.
    coverage: (i64, i64),
    /// Canonical names (jiff's spelling: `Europe/London`).
    names: Vec<String>,
    /// Per zone, its offsets over the coverage.
    offsets: Vec<Offsets>,
    /// Name as written (or canonical) → index, so each spelling asks jiff
    /// once and `europe/london` and `Europe/London` share a zone.
    by_name: HashMap<String, u16>,
    /// UTC's single entry.
    utc: [(i64, i32); 1],
}

impl std::fmt::Debug for Zones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zones")
            .field("coverage", &self.coverage)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl Default for Zones {
    fn default() -> Zones {
        Zones::new(0, None)
    }
}

impl Zones {
    /// Zones for a build at `now` (Unix seconds), resolved in `db` (`None`:
    /// jiff's global database, opened on first use).
    pub(crate) fn new(now: i64, db: Option<TimeZoneDatabase>) -> Zones {
        let coverage = coverage(now);
        Zones {
            db,
            coverage,
            names: Vec::new(),
            offsets: Vec::new(),
            by_name: HashMap::new(),
            utc: [(coverage.0, 0)],
        }
    }

    /// The zone index of `name` (a zone name as written in a window, not
    /// `UTC`): resolved in the tz database on first sight.
    pub(crate) fn resolve(&mut self, name: &str) -> Result<u16, BuildErrorKind> {
        if let Some(&k) = self.by_name.get(name) {
            return Ok(k);
        }
        let db = self.db.get_or_insert_with(|| jiff::tz::db().clone());
        let tz = db
            .get(name)
            .map_err(|_| BuildErrorKind::UnknownZone(name.to_string()))?;
        let canonical = tz.iana_name().unwrap_or(name).to_string();
        if let Some(&k) = self.by_name.get(&canonical) {
            self.by_name.insert(name.to_string(), k);
            return Ok(k);
        }
        let k = u16::try_from(self.names.len() + 1)
            .map_err(|_| BuildErrorKind::TooMany("time zones (65535)"))?;
        self.offsets.push(offsets(&tz, self.coverage));
        self.names.push(canonical.clone());
        self.by_name.insert(canonical, k);
        self.by_name.insert(name.to_string(), k);
        Ok(k)
    }

    /// Zone `k`'s offsets (UTC's: one entry, 0).
    pub(crate) fn offsets(&self, k: u16) -> &[(i64, i32)] {
        match k.checked_sub(1) {
            Some(i) => self.offsets.get(usize::from(i)).map_or(&self.utc, |o| o),
            None => &self.utc,
        }
    }

    /// Whether windows `a` in zone `za` and `b` in zone `zb` are ever open
    /// at the same instant, as a snapshot of these zones would route.
    pub(crate) fn windows_overlap(&self, a: &Window, za: u16, b: &Window, zb: u16) -> bool {
        if za == zb {
            // One clock: local minutes compare as they are.
            return a.overlaps(b);
        }
        overlap_across_zones(a, self.offsets(za), b, self.offsets(zb))
    }

    /// Moves the zones into `t`. A deck without zones stores no coverage
    /// and no source, so its snapshot body does not depend on the build
    /// time.
    pub(crate) fn store(self, t: &mut RoutingTable) {
        if self.names.is_empty() {
            return;
        }
        t.zone_coverage_start = self.coverage.0;
        t.zone_coverage_end = self.coverage.1;
        t.zone_source = self.db.map(|db| format!("{db:?}")).unwrap_or_default();
        for (name, offsets) in self.names.into_iter().zip(self.offsets) {
            let start = t.zone_transitions.len() as u32;
            t.zone_transitions.extend(
                offsets
                    .into_iter()
                    .map(|(at, offset)| ZoneTransition { at, offset }),
            );
            t.zones.push(Zone {
                name,
                transitions_start: start,
                transitions_end: t.zone_transitions.len() as u32,
            });
        }
    }
}

/// `[now - 1 year, now + 20 years]` in Unix seconds (calendar years, in
/// UTC; mean Gregorian years if `now` is outside jiff's range).
pub(crate) fn coverage(now: i64) -> (i64, i64) {
    const YEAR: i64 = 31_556_952;
    let years = |n: i64| -> Option<i64> {
        let z = Timestamp::from_second(now).ok()?.to_zoned(TimeZone::UTC);
        z.checked_add(n.years())
            .ok()
            .map(|z| z.timestamp().as_second())
    };
    (
        years(-COVERAGE_YEARS_BEFORE)
            .unwrap_or_else(|| now.saturating_sub(COVERAGE_YEARS_BEFORE * YEAR)),
        years(COVERAGE_YEARS_AFTER)
            .unwrap_or_else(|| now.saturating_add(COVERAGE_YEARS_AFTER * YEAR)),
    )
}

/// `tz`'s offsets over `[start, end]`: the one in effect at `start`, then
/// every change up to `end` (transitions that change only the abbreviation
/// or the DST flag are left out: lookups need the offset alone).
fn offsets(tz: &TimeZone, (start, end): (i64, i64)) -> Offsets {
    let first = Timestamp::from_second(start).unwrap_or(if start < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    let mut out = vec![(start, tz.to_offset(first).seconds())];
    for t in tz.following(first) {
        let at = t.timestamp().as_second();
        if at > end {
            break;
        }
        let offset = t.offset().seconds();
        if out
            .last()
            .is_some_and(|&(prev_at, prev)| at > prev_at && offset != prev)
        {
            out.push((at, offset));
        }
    }
    out
}

/// The offset in effect at `unix` in a zone's sorted `(at, offset)` list:
/// the last entry at or before it, else the first.
fn offset_in(offsets: &[(i64, i32)], unix: i64) -> i32 {
    let i = offsets.partition_point(|&(at, _)| at <= unix);
    offsets.get(i.saturating_sub(1)).map_or(0, |&(_, o)| o)
}

/// 64-bit words in a week of minutes.
const WORDS: usize = (WEEK_MINUTES as usize).div_ceil(64);

/// The UTC minutes of the week during which `w` is open on a clock
/// `offset` seconds east of UTC. A UTC minute whose seconds fall in two
/// local minutes (an offset that is not whole minutes, which no zone has
/// used since 1972) counts as open if either is.
fn utc_minutes(w: &Window, offset: i32) -> [u64; WORDS] {
    let mut bits = [0u64; WORDS];
    let (whole, part) = (offset.div_euclid(60), offset.rem_euclid(60));
    let week = i64::from(WEEK_MINUTES);
    for u in 0..WEEK_MINUTES {
        let local = (i64::from(u) + i64::from(whole)).rem_euclid(week) as u32;
        let open = w.contains(WeekMinute::from_index(local))
            || (part != 0 && w.contains(WeekMinute::from_index(local + 1)));
        if open {
            bits[u as usize / 64] |= 1 << (u % 64);
        }
    }
    bits
}

/// Whether `a` on a clock with offsets `ta` and `b` on one with offsets
/// `tb` are ever open at the same instant, with the snapshot's semantics
/// (before a zone's first entry its first offset applies, after its last
/// entry its last). Exact: the time line is cut wherever either zone's
/// offset changes; each piece has one pair of offsets, whose two windows
/// are mapped to UTC minutes of the week and intersected, over the whole
/// week for a piece a week long or more (the first and last are endless),
/// and over the minutes it spans for a shorter one (between two nearby
/// clock changes). So two windows that would overlap only for an offset
/// pair that never occurs together are not reported.
pub(crate) fn overlap_across_zones(
    a: &Window,
    ta: &[(i64, i32)],
    b: &Window,
    tb: &[(i64, i32)],
) -> bool {
    let mut cuts: Vec<i64> = ta
        .iter()
        .skip(1)
        .chain(tb.iter().skip(1))
        .map(|&(at, _)| at)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut both: HashMap<(i32, i32), [u64; WORDS]> = HashMap::new();
    let mut start: Option<i64> = None; // None: since forever
    for i in 0..=cuts.len() {
        let end = cuts.get(i).copied(); // None: for ever after
        let probe = start.unwrap_or(i64::MIN);
        let pair = (offset_in(ta, probe), offset_in(tb, probe));
        let bits = both.entry(pair).or_insert_with(|| {
            let (x, y) = (utc_minutes(a, pair.0), utc_minutes(b, pair.1));
            std::array::from_fn(|w| x[w] & y[w])
        });
        let hit = match (start, end) {
            (Some(s), Some(e)) if e - s < i64::from(WEEK_MINUTES) * 60 => {
                // Every UTC minute the piece touches, from its first.
                let first = At::from_unix(s).week_minute(0).index();
                let n = (e.div_euclid(60) + i64::from(e.rem_euclid(60) != 0)) - s.div_euclid(60);
                (0..n as u32).any(|m| {
                    let u = (first + m) % WEEK_MINUTES;
                    bits[u as usize / 64] & (1 << (u % 64)) != 0
                })
            }
            _ => bits.iter().any(|&w| w != 0),
        };
        if hit {
            return true;
        }
        start = end;
    }
    false
}

impl ArchivedRoutingTable {
    /// The UTC offset, in seconds east, of zone `zone` at `at` (0 for
    /// UTC, zone 0). A binary search in the zone's transitions; no jiff.
    #[inline]
    pub fn zone_offset(&self, zone: u16, at: At) -> i32 {
        let Some(z) = zone
            .checked_sub(1)
            .and_then(|k| self.zones.get(usize::from(k)))
        else {
            return 0;
        };
        let range =
            z.transitions_start.to_native() as usize..z.transitions_end.to_native() as usize;
        let Some(tr) = self.zone_transitions.get(range) else {
            return 0;
        };
        let i = tr.partition_point(|t| t.at.to_native() <= at.unix);
        tr.get(i.saturating_sub(1))
            .map_or(0, |t| t.offset.to_native())
    }

    /// Zone `zone`'s name; `None` for UTC (zone 0) or an index out of range.
    pub fn zone_name(&self, zone: u16) -> Option<&str> {
        let k = zone.checked_sub(1)?;
        self.zones.get(usize::from(k)).map(|z| z.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-01T00:00:00Z.
    const BUILT: i64 = 1_772_323_200;

    fn zones(db: Option<TimeZoneDatabase>) -> Zones {
        Zones::new(BUILT, db)
    }

    fn w(s: &str) -> Window {
        Window::parse(s).unwrap()
    }

    #[test]
    fn coverage_is_one_year_back_twenty_ahead() {
        let (a, b) = coverage(BUILT);
        assert_eq!(a, 1_740_787_200); // 2025-03-01
        assert_eq!(b, 2_403_475_200); // 2046-03-01
    }

    #[test]
    fn london_offsets_over_the_coverage() {
        let mut z = zones(None);
        let k = z.resolve("europe/london").unwrap();
        assert_eq!(
            z.resolve("Europe/London"),
            Ok(k),
            "one zone per canonical name"
        );
        assert_eq!(z.names, ["Europe/London"]);
        let o = z.offsets(k);
        // Starts at the coverage start in GMT, then BST from 2025-03-30 01:00Z.
        assert_eq!(o[0], (1_740_787_200, 0));
        assert_eq!(o[1], (1_743_296_400, 3600));
        assert_eq!(o[2], (1_761_440_400, 0)); // 2025-10-26 01:00Z
        // Two changes a year, none past the end.
        assert!((40..=44).contains(&o.len()), "{}", o.len());
        assert!(o.windows(2).all(|p| p[0].0 < p[1].0 && p[0].1 != p[1].1));
        assert!(o.last().unwrap().0 <= coverage(BUILT).1);
        assert!(matches!(
            z.resolve("Europe/Lodnon"),
            Err(BuildErrorKind::UnknownZone(n)) if n == "Europe/Lodnon"
        ));
    }

    /// The copy compiled in (for machines without zoneinfo) gives the same
    /// offsets as the database jiff picks here.
    #[test]
    fn bundled_database_is_compiled_in_and_agrees() {
        let bundled = TimeZoneDatabase::bundled();
        for name in ["Europe/London", "America/New_York", "Asia/Kolkata"] {
            let mut a = zones(Some(bundled.clone()));
            let mut b = zones(None);
            let (ka, kb) = (a.resolve(name).unwrap(), b.resolve(name).unwrap());
            assert_eq!(a.offsets(ka), b.offsets(kb), "{name}");
        }
    }

    #[test]
    fn overlap_across_zones_is_exact() {
        let mut z = zones(None);
        let london = z.resolve("Europe/London").unwrap();
        let tokyo = z.resolve("Asia/Tokyo").unwrap();
        let ny = z.resolve("America/New_York").unwrap();
        let hour = w("mon 09:00-10:00");
        // London is UTC in winter: the same hour.
        assert!(z.windows_overlap(&hour, london, &hour, 0));
        // Tokyo's 09:00 is 00:00 UTC: never the UTC rule's hour.
        assert!(!z.windows_overlap(&hour, tokyo, &hour, 0));
        // It is Monday 00:00-01:00 UTC.
        assert!(z.windows_overlap(&hour, tokyo, &w("mon 00:30-00:31"), 0));
        assert!(!z.windows_overlap(&hour, tokyo, &w("sun 23:00-24:00"), 0));
        // London 09:00 (08:00 or 09:00 UTC) against New York 04:00 (08:00
        // or 09:00 UTC): they meet.
        assert!(z.windows_overlap(&hour, london, &w("mon 04:00-05:00"), ny));
        // London 09:00-09:30 is 08:00 UTC only on BST (+1), New York
        // 03:00-03:30 only on EST (-5): BST runs from late March to late
        // October, EST from early November to mid-March, so never both.
        assert!(!z.windows_overlap(&w("mon 09:00-09:30"), london, &w("mon 03:00-03:30"), ny));
        // Checking every pair of offsets the zones take, together or not,
        // would call that an overlap.
        let every_pair = {
            let (a, b) = (w("mon 09:00-09:30"), w("mon 03:00-03:30"));
            let x = utc_minutes(&a, 3600);
            let y = utc_minutes(&b, -5 * 3600);
            x.iter().zip(&y).any(|(p, q)| p & q != 0)
        };
        assert!(every_pair);
    }

    #[test]
    fn short_pieces_check_only_their_minutes() {
        // Zone A switches +0 → +1 at t0; zone B at t0 + 1 h. Between them
        // (one hour) the pair is (+1, 0); outside, the offsets agree.
        let t0 = 1_743_296_400; // a Sunday 01:00 UTC
        let ta = [(0, 0), (t0, 3600)];
        let tb = [(0, 0), (t0 + 3600, 3600)];
        // Same local window in both: during the hour A reads 02:xx, B 01:xx.
        let a = w("sun 02:00-02:30");
        let b = w("sun 01:00-01:30");
        assert!(overlap_across_zones(&a, &ta, &b, &tb));
        // On Mondays the hour never comes: no overlap, though (+1, 0) would
        // meet on a Monday too were it in effect a whole week.
        let a = w("mon 02:00-02:30");
        let b = w("mon 01:00-01:30");
        assert!(!overlap_across_zones(&a, &ta, &b, &tb));
    }
}
