//! Windows in time zones: read on the zone's wall clock, daylight saving
//! included; unknown zones are build errors; zones show wherever a window
//! is printed and take part in a diff's rule identity.

use trunkline_routing_tables::{
    At, BuildErrors, BuildInputs, Built, Snapshot, Source, build_at, report,
};

/// 2026-03-01T00:00:00Z: the build time of these tests (offsets stored
/// from 2025-03-01 to 2046-03-01).
const BUILT: i64 = 1_772_323_200;

fn try_build(rules: &str) -> Result<Built, BuildErrors> {
    build_at(
        BuildInputs {
            gateways: Source::bytes("gw.csv", "id,address\ngw1,10.0.0.1\ngw2,10.0.0.2\n"),
            rules: Source::bytes("rules.csv", rules.to_string()),
            carriers: None,
            dialplan: None,
            acl: None,
        },
        BUILT,
    )
}

fn snapshot(rules: &str) -> Snapshot {
    let built = try_build(rules).unwrap_or_else(|e| panic!("{e}"));
    Snapshot::from_bytes("mem", &built.to_bytes(BUILT as u64)).unwrap()
}

fn at(rfc3339: &str) -> At {
    At::parse_rfc3339(rfc3339).unwrap()
}

/// The line of the rule that routes `+44…` at `when`, if any.
fn line(s: &Snapshot, when: &str) -> Option<u32> {
    let g = s.table().group_id("a").unwrap();
    s.lookup(g, "+442071234567", at(when)).map(|r| r.line())
}

#[test]
fn london_business_hours_follow_british_summer_time() {
    let s = snapshot("group,prefix,targets,window\na,+44,gw1,mon-fri 09:00-17:00 Europe/London\n");
    // Summer (BST, UTC+1): 08:30Z is 09:30 in London.
    assert_eq!(line(&s, "2026-07-06T08:30:00Z"), Some(2));
    assert_eq!(line(&s, "2026-07-06T07:59:00Z"), None);
    assert_eq!(line(&s, "2026-07-06T15:59:00Z"), Some(2));
    assert_eq!(line(&s, "2026-07-06T16:00:00Z"), None, "17:00 BST");
    // Winter (GMT): 08:30Z is 08:30 in London, closed; 09:30Z open.
    assert_eq!(line(&s, "2026-01-05T08:30:00Z"), None);
    assert_eq!(line(&s, "2026-01-05T09:30:00Z"), Some(2));
    assert_eq!(line(&s, "2026-01-05T16:30:00Z"), Some(2));
    // The same instants, written with an offset.
    assert_eq!(line(&s, "2026-07-06T09:30:00+01:00"), Some(2));
    assert_eq!(line(&s, "2026-01-05T03:30:00-05:00"), None);
    // A Saturday.
    assert_eq!(line(&s, "2026-07-04T12:00:00Z"), None);
}

#[test]
fn the_day_is_the_zones_day_too() {
    // Monday 00:00-01:00 in Tokyo (UTC+9) is Sunday 15:00-16:00 UTC.
    let s = snapshot("group,prefix,targets,window\na,+44,gw1,mon 00:00-01:00 Asia/Tokyo\n");
    assert_eq!(line(&s, "2026-07-05T15:30:00Z"), Some(2));
    assert_eq!(line(&s, "2026-07-06T00:30:00Z"), None);
    // Friday 17:30-18:00 in Los Angeles (UTC-7 in summer) is Saturday
    // 00:30-01:00 UTC.
    let s =
        snapshot("group,prefix,targets,window\na,+44,gw1,fri 17:30-18:00 America/Los_Angeles\n");
    assert_eq!(line(&s, "2026-07-11T00:45:00Z"), Some(2));
    assert_eq!(line(&s, "2026-07-10T17:45:00Z"), None);
}

#[test]
fn new_york_window_across_daylight_saving_changes() {
    // 08:00-09:00 every day in New York, and the hours around the changes:
    // 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00Z); 2026-11-01 02:00
    // EDT falls back to 01:00 EST (06:00Z).
    let s = snapshot(
        "group,prefix,targets,window,priority\n\
         a,+44,gw1,* 08:00-09:00 America/New_York,0\n\
         a,+44,gw2,sun 02:00-03:00 America/New_York,1\n\
         a,+44,gw1,sun 01:00-02:00 America/New_York,2\n",
    );
    // Saturday before the change, EST: 08:00 is 13:00Z.
    assert_eq!(line(&s, "2026-03-07T12:59:00Z"), None);
    assert_eq!(line(&s, "2026-03-07T13:00:00Z"), Some(2));
    assert_eq!(line(&s, "2026-03-07T13:59:00Z"), Some(2));
    // Sunday of the change, EDT from 07:00Z: 08:00 is 12:00Z.
    assert_eq!(line(&s, "2026-03-08T12:00:00Z"), Some(2));
    assert_eq!(line(&s, "2026-03-08T13:00:00Z"), None);
    // 02:00-03:00 does not exist that night: 06:59Z is 01:59 EST (the
    // 01:00-02:00 rule), 07:00Z is already 03:00 EDT.
    assert_eq!(line(&s, "2026-03-08T06:59:00Z"), Some(4));
    assert_eq!(line(&s, "2026-03-08T07:00:00Z"), None);
    // Monday after, EDT.
    assert_eq!(line(&s, "2026-03-09T12:30:00Z"), Some(2));
    assert_eq!(line(&s, "2026-03-09T13:30:00Z"), None);
    // Fall back: 01:00-02:00 happens twice, 05:00-06:00Z (EDT) and
    // 06:00-07:00Z (EST); both are open.
    assert_eq!(line(&s, "2026-11-01T04:59:00Z"), None);
    assert_eq!(line(&s, "2026-11-01T05:00:00Z"), Some(4));
    assert_eq!(line(&s, "2026-11-01T06:30:00Z"), Some(4));
    assert_eq!(line(&s, "2026-11-01T07:00:00Z"), Some(3), "02:00 EST");
    assert_eq!(line(&s, "2026-11-01T08:00:00Z"), None);
    // And 08:00 EST that day is 13:00Z.
    assert_eq!(line(&s, "2026-11-01T13:00:00Z"), Some(2));
    // What the rule shows.
    let g = s.table().group_id("a").unwrap();
    let r = s.lookup(g, "+44", at("2026-11-01T13:00:00Z")).unwrap();
    assert_eq!(r.zone(), Some("America/New_York"));
    assert_eq!(r.window_text(), "* 08:00-09:00 America/New_York");
    let (offset, local) = r.clock(at("2026-11-01T13:00:00Z"));
    assert_eq!((offset, local.to_string()), (-5 * 3600, "sun 08:00".into()));
    assert_eq!(
        report::rule_name(s.table(), &r),
        "a +44 priority 0 window * 08:00-09:00 America/New_York"
    );
}

#[test]
fn before_and_after_the_coverage_the_end_offsets_apply() {
    let s = snapshot("group,prefix,targets,window\na,+44,gw1,* 09:00-10:00 Europe/London\n");
    let t = s.table();
    assert_eq!(t.zone_coverage_start, 1_740_787_200); // 2025-03-01
    assert_eq!(t.zone_coverage_end, 2_403_475_200); // 2046-03-01
    // 2020-07-01 is before the coverage: the offset at its start (GMT, as
    // on 2025-03-01), not BST.
    assert_eq!(line(&s, "2020-07-01T09:30:00Z"), Some(2));
    assert_eq!(line(&s, "2020-07-01T08:30:00Z"), None);
    // 2050-07-01 is after it: the last offset stored (GMT since October 2045).
    assert_eq!(line(&s, "2050-07-01T09:30:00Z"), Some(2));
}

#[test]
fn utc_written_or_not_is_the_same_and_zone_names_are_shared() {
    let s = snapshot(
        "group,prefix,targets,window\n\
         a,+44,gw1,mon 09:00-10:00 UTC\n\
         a,+45,gw1,mon 09:00-10:00 europe/london\n\
         a,+46,gw1,mon 09:00-10:00 Europe/London\n\
         a,+47,gw1,mon 09:00-10:00\n",
    );
    let t = s.table();
    assert_eq!(t.zones.len(), 1);
    assert_eq!(t.zones[0].name.as_str(), "Europe/London");
    let g = t.group_id("a").unwrap();
    let rule = |n: &str| s.lookup(g, n, at("2026-01-05T09:30:00Z")).unwrap();
    assert_eq!(rule("+441").zone(), None);
    assert_eq!(rule("+441").window_text(), "mon 09:00-10:00");
    assert_eq!(rule("+451").zone(), Some("Europe/London"));
    assert_eq!(rule("+461").zone(), Some("Europe/London"));
    assert_eq!(rule("+471").zone(), None);
    let inspect = report::inspect(&s);
    assert!(
        inspect.contains("time zones: 1 (Europe/London)"),
        "{inspect}"
    );
    assert!(
        inspect
            .contains("from 2025-03-01T00:00:00Z to 2046-03-01T00:00:00Z, from TimeZoneDatabase("),
        "{inspect}"
    );
    // A deck without zones: no zone data, and a body that does not depend
    // on when it was built.
    let utc = "group,prefix,targets,window\na,+44,gw1,mon 09:00-10:00 UTC\n";
    let a = try_build(utc).unwrap();
    let b = build_at(
        BuildInputs {
            gateways: Source::bytes("gw.csv", "id,address\ngw1,10.0.0.1\ngw2,10.0.0.2\n"),
            rules: Source::bytes("rules.csv", utc),
            carriers: None,
            dialplan: None,
            acl: None,
        },
        0,
    )
    .unwrap();
    assert!(a.table.zones.is_empty());
    assert_eq!(a.to_bytes(1), b.to_bytes(1));
    let s = Snapshot::from_bytes("mem", &a.to_bytes(1)).unwrap();
    assert!(report::inspect(&s).contains("time zones: 0 (every window in UTC)"));
}

#[test]
fn unknown_zone_is_a_build_error_with_file_and_line() {
    let e = try_build(
        "group,prefix,targets,window\n\
         a,+44,gw1,mon 09:00-10:00 Europe/London\n\
         a,+45,gw1,mon-fri 09:00-17:00 Europe/Lodnon\n\
         a,+46,gw1,mon 09:00-10:00 Europe/London extra\n\
         a,+47,gw1,mon 09:00-10:00 Mars/Olympus_Mons\n",
    )
    .unwrap_err();
    let lines: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        [
            "rules.csv:3: column `window`: unknown time zone `Europe/Lodnon` (expected an IANA name such as Europe/London, or UTC)",
            "rules.csv:4: column `window`: expected `DAYS HH:MM-HH:MM [ZONE]` (one zone name, last): `mon 09:00-10:00 Europe/London extra`",
            "rules.csv:5: column `window`: unknown time zone `Mars/Olympus_Mons` (expected an IANA name such as Europe/London, or UTC)",
        ]
    );
}

#[test]
fn duplicates_across_zones_are_found_exactly() {
    let dup = |w1: &str, w2: &str| {
        let rules = format!("group,prefix,targets,window\na,+44,gw1,{w1}\na,+44,gw2,{w2}\n");
        match try_build(&rules) {
            Ok(_) => false,
            Err(e) => {
                assert_eq!(
                    e.to_string(),
                    "rules.csv:3: duplicate rule: same group, prefix and priority as line 2, with overlapping time windows"
                );
                true
            }
        }
    };
    // London's 09:00 is 09:00 UTC in winter.
    assert!(dup("mon 09:00-10:00 Europe/London", "mon 09:00-10:00 UTC"));
    assert!(dup("mon 09:00-10:00 UTC", "mon 09:00-10:00 Europe/London"));
    // Tokyo's 09:00 is midnight UTC, all year.
    assert!(!dup("mon 09:00-10:00 Asia/Tokyo", "mon 09:00-10:00 UTC"));
    assert!(dup("mon 09:00-10:00 Asia/Tokyo", "mon 00:59-01:00"));
    assert!(!dup("mon 09:00-10:00 Asia/Tokyo", "sun 23:00-24:00"));
    // Same zone: local minutes compare directly.
    assert!(dup(
        "mon 09:00-10:00 Europe/London",
        "mon 09:59-11:00 Europe/London"
    ));
    assert!(!dup(
        "mon 09:00-10:00 Europe/London",
        "mon 10:00-11:00 Europe/London"
    ));
    // London 09:00 on BST and New York 03:00 on EST would meet, but those
    // offsets are never in effect together.
    assert!(!dup(
        "mon 09:00-09:30 Europe/London",
        "mon 03:00-03:30 America/New_York"
    ));
    assert!(dup(
        "mon 09:00-09:30 Europe/London",
        "mon 04:00-04:30 America/New_York"
    ));
    // An always-open rule overlaps every window.
    assert!(dup("", "mon 09:00-10:00 Asia/Tokyo"));
}

#[test]
fn diff_tells_zones_apart() {
    let a = snapshot("group,prefix,targets,window\na,+44,gw1,mon 09:00-10:00 Europe/London\n");
    let b = snapshot("group,prefix,targets,window\na,+44,gw1,mon 09:00-10:00 Europe/Paris\n");
    let mut out = Vec::new();
    let c = report::diff(a.table(), b.table(), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!((c.rules_added, c.rules_removed, c.rules_changed), (1, 1, 0));
    assert!(
        out.contains("- rule a +44 priority 0 window mon 09:00-10:00 Europe/London -> gw1"),
        "{out}"
    );
    assert!(
        out.contains("+ rule a +44 priority 0 window mon 09:00-10:00 Europe/Paris -> gw1"),
        "{out}"
    );
    let mut out = Vec::new();
    let c = report::diff(a.table(), a.table(), &mut out).unwrap();
    assert_eq!(c.rules_added + c.rules_removed + c.rules_changed, 0);
}
