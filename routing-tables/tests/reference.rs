//! Property test: lookups on random tables agree with a brute-force
//! reference (every rule checked against every prefix of the number). Some
//! windows are in time zones; the reference reads their local time with
//! jiff directly, at instants over and around the snapshot's coverage and
//! close to clock changes.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use trunkline_routing_tables::{
    At, BuildErrorKind, BuildInputs, GroupId, Snapshot, Source, WeekMinute, Window, build_at,
};

/// 2026-03-01T00:00:00Z: the build time.
const BUILT: i64 = 1_772_323_200;
/// The coverage that implies: 2025-03-01 to 2046-03-01.
const COVERAGE: (i64, i64) = (1_740_787_200, 2_403_475_200);

/// Zones with DST north and south, a 30-minute DST (Lord Howe), a
/// half-hour offset (Kolkata) and none (Tokyo).
const ZONES: [&str; 5] = [
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Tokyo",
];

#[derive(Debug, Clone)]
struct R {
    group: u8,
    plus: bool,
    digits: String,
    window: Window,
    zone: Option<&'static str>,
    priority: i32,
    line: u32,
}

fn window() -> impl Strategy<Value = (Window, Option<&'static str>)> {
    let zone = prop_oneof![
        3 => Just(None),
        2 => prop::sample::select(&ZONES[..]).prop_map(Some),
    ];
    prop_oneof![
        Just((Window::ALWAYS, None)),
        (1..128u8, 0..48u16, 1..49u16, zone).prop_filter_map(
            "empty window",
            |(days, a, b, zone)| {
                (a != b).then_some((
                    Window {
                        days,
                        start: a * 30,
                        end: b * 30,
                    },
                    zone,
                ))
            }
        ),
    ]
}

fn rules() -> impl Strategy<Value = Vec<R>> {
    prop::collection::vec(
        (
            0..2u8,
            prop::bool::weighted(0.3),
            "[0129]{0,5}",
            window(),
            0..3i32,
        ),
        1..40,
    )
    .prop_map(|raw| {
        // Drop rules in the same zone the builder would reject as
        // duplicates; duplicates across zones are left to the builder.
        let mut out: Vec<R> = Vec::new();
        for (group, plus, digits, (window, zone), priority) in raw {
            let dup = out.iter().any(|o| {
                (o.group, o.plus, &o.digits, o.priority, o.zone)
                    == (group, plus, &digits, priority, zone)
                    && o.window.overlaps(&window)
            });
            if !dup {
                out.push(R {
                    group,
                    plus,
                    digits,
                    window,
                    zone,
                    priority,
                    line: 0,
                });
            }
        }
        out
    })
}

/// Instants: anywhere from 2024 to 2048 (so before and after the
/// coverage too), or within a day of a clock change of one of the zones.
fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![
        1_704_067_200..2_461_449_600i64,
        (0..ZONES.len(), 0..40usize, -90_000..90_000i64).prop_map(|(z, n, delta)| {
            let tz = TimeZone::get(ZONES[z]).unwrap();
            let start = Timestamp::from_second(COVERAGE.0).unwrap();
            let t = tz
                .following(start)
                .nth(n)
                .map_or(COVERAGE.1, |t| t.timestamp().as_second());
            t + delta
        }),
    ]
}

fn numbers() -> impl Strategy<Value = Vec<(u8, bool, String, i64)>> {
    prop::collection::vec(
        (0..2u8, prop::bool::weighted(0.3), "[0129]{0,8}", instant()),
        1..60,
    )
}

/// The minute of the week on `zone`'s clock at `unix`, by jiff, with the
/// snapshot's rule for instants outside the coverage (the offset at its
/// nearer end).
fn local_minute(zone: Option<&str>, unix: i64) -> WeekMinute {
    let tz = match zone {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).unwrap(),
    };
    let clamped = Timestamp::from_second(unix.clamp(COVERAGE.0, COVERAGE.1)).unwrap();
    let offset = tz.to_offset(clamped);
    let local = Timestamp::from_second(unix)
        .unwrap()
        .to_zoned(TimeZone::fixed(offset))
        .datetime();
    WeekMinute {
        day: local.weekday().to_monday_zero_offset() as u8,
        minute: local.hour() as u16 * 60 + local.minute() as u16,
    }
}

fn reference(rules: &[R], group: u8, number: &str, unix: i64) -> Option<u32> {
    let (plus, digits) = match number.strip_prefix('+') {
        Some(d) => (true, d),
        None => (false, number),
    };
    for len in (0..=digits.len()).rev() {
        let best = rules
            .iter()
            .filter(|r| r.group == group && r.plus == plus && r.digits == digits[..len])
            .filter(|r| r.window.contains(local_minute(r.zone, unix)))
            .min_by_key(|r| (r.priority, r.line));
        if let Some(r) = best {
            return Some(r.line);
        }
    }
    None
}

fn csv(rules: &mut [R]) -> String {
    let mut csv = String::from("group,prefix,targets,window,priority\n");
    for (i, r) in rules.iter_mut().enumerate() {
        r.line = i as u32 + 2;
        let window = match r.zone {
            Some(z) => format!("{} {z}", r.window),
            None => r.window.to_string(),
        };
        csv.push_str(&format!(
            "g{},{}{},gw,\"{window}\",{}\n",
            r.group,
            if r.plus { "+" } else { "" },
            r.digits,
            r.priority
        ));
    }
    csv
}

/// Builds `rules`, dropping the rules the builder finds to overlap a rule
/// in another zone (each such report must be across zones: within one zone
/// `rules()` already dropped every overlap).
fn build_dropping_cross_zone_duplicates(
    rules: &mut Vec<R>,
) -> Result<(Snapshot, String), TestCaseError> {
    loop {
        let text = csv(rules);
        let built = build_at(
            BuildInputs {
                gateways: Source::bytes("gw.csv", "id,address\ngw,10.0.0.1\n"),
                rules: Source::bytes("rules.csv", text.clone()),
                carriers: None,
                dialplan: None,
                acl: None,
            },
            BUILT,
        );
        let errors = match built {
            Ok(b) => {
                let snap = Snapshot::from_bytes("mem", &b.to_bytes(0))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                return Ok((snap, text));
            }
            Err(e) => e,
        };
        let mut drop = Vec::new();
        for e in &errors.errors {
            let BuildErrorKind::DuplicateRule { first_line } = e.kind else {
                return Err(TestCaseError::fail(format!("{errors}\n{text}")));
            };
            let zone = |line: u64| rules[line as usize - 2].zone;
            prop_assert_ne!(zone(e.line), zone(first_line), "{}\n{}", errors, text);
            drop.push(e.line as usize - 2);
        }
        drop.sort_unstable();
        drop.dedup();
        for i in drop.into_iter().rev() {
            rules.remove(i);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn lookup_matches_brute_force(rules in rules(), numbers in numbers()) {
        let mut rules = rules;
        let (snap, csv) = build_dropping_cross_zone_duplicates(&mut rules)?;
        let t = snap.table();
        if !t.zones.is_empty() {
            prop_assert_eq!(
                (t.zone_coverage_start.to_native(), t.zone_coverage_end.to_native()),
                COVERAGE
            );
        }
        // Numbers made from rule prefixes too, so long matches are common.
        let mut cases = numbers.clone();
        for (i, r) in rules.iter().enumerate() {
            let (_, p, extra, unix) = numbers[i % numbers.len()].clone();
            cases.push((r.group, r.plus == p || r.plus, format!("{}{}", r.digits, extra), unix));
        }
        for (group, plus, digits, unix) in cases {
            let number = format!("{}{}", if plus { "+" } else { "" }, digits);
            let want = reference(&rules, group, &number, unix);
            let got = t
                .group_id(&format!("g{group}"))
                .and_then(|g: GroupId| snap.lookup(g, &number, At::from_unix(unix)))
                .map(|r| r.line());
            prop_assert_eq!(got, want, "number {} at {} ({})\n{}", number, At::from_unix(unix), unix, csv);
        }
    }
}
