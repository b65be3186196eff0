//! Property test: lookups on random tables agree with a brute-force
//! reference (every rule checked against every prefix of the number).

use proptest::prelude::*;
use trunkline_routing_tables::{BuildInputs, GroupId, Snapshot, Source, WeekMinute, Window, build};

#[derive(Debug, Clone)]
struct R {
    group: u8,
    plus: bool,
    digits: String,
    window: Window,
    priority: i32,
    line: u32,
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        Just(Window::ALWAYS),
        (1..128u8, 0..24u16, 1..25u16).prop_filter_map("empty window", |(days, a, b)| {
            (a != b).then_some(Window {
                days,
                start: a * 60,
                end: b * 60,
            })
        }),
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
        // Drop rules the builder would reject as duplicates.
        let mut out: Vec<R> = Vec::new();
        for (group, plus, digits, window, priority) in raw {
            let dup = out.iter().any(|o| {
                (o.group, o.plus, &o.digits, o.priority) == (group, plus, &digits, priority)
                    && o.window.overlaps(&window)
            });
            if !dup {
                let line = out.len() as u32 + 2;
                out.push(R {
                    group,
                    plus,
                    digits,
                    window,
                    priority,
                    line,
                });
            }
        }
        out
    })
}

fn numbers() -> impl Strategy<Value = Vec<(u8, bool, String, u8, u16)>> {
    prop::collection::vec(
        (
            0..2u8,
            prop::bool::weighted(0.3),
            "[0129]{0,8}",
            0..7u8,
            0..1440u16,
        ),
        1..60,
    )
}

fn reference(rules: &[R], group: u8, number: &str, at: WeekMinute) -> Option<u32> {
    let (plus, digits) = match number.strip_prefix('+') {
        Some(d) => (true, d),
        None => (false, number),
    };
    for len in (0..=digits.len()).rev() {
        let best = rules
            .iter()
            .filter(|r| r.group == group && r.plus == plus && r.digits == digits[..len])
            .filter(|r| r.window.contains(at))
            .min_by_key(|r| (r.priority, r.line));
        if let Some(r) = best {
            return Some(r.line);
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn lookup_matches_brute_force(rules in rules(), numbers in numbers()) {
        let mut csv = String::from("group,prefix,targets,window,priority\n");
        for r in &rules {
            csv.push_str(&format!(
                "g{},{}{},gw,\"{}\",{}\n",
                r.group, if r.plus { "+" } else { "" }, r.digits, r.window, r.priority
            ));
        }
        let built = build(BuildInputs {
            gateways: Source::bytes("gw.csv", "id,address\ngw,10.0.0.1\n"),
            rules: Source::bytes("rules.csv", csv.clone()),
            carriers: None,
            dialplan: None,
            acl: None,
        })
        .map_err(|e| TestCaseError::fail(format!("{e}\n{csv}")))?;
        let snap = Snapshot::from_bytes("mem", &built.to_bytes(0)).unwrap();
        let t = snap.table();
        // Numbers made from rule prefixes too, so long matches are common.
        let mut cases = numbers.clone();
        for (i, r) in rules.iter().enumerate() {
            let (g, p, extra, day, minute) = numbers[i % numbers.len()].clone();
            let _ = g;
            cases.push((r.group, r.plus == p || r.plus, format!("{}{}", r.digits, extra), day, minute));
        }
        for (group, plus, digits, day, minute) in cases {
            let number = format!("{}{}", if plus { "+" } else { "" }, digits);
            let at = WeekMinute { day, minute };
            let want = reference(&rules, group, &number, at);
            let got = t
                .group_id(&format!("g{group}"))
                .and_then(|g: GroupId| snap.lookup(g, &number, at))
                .map(|r| r.line());
            prop_assert_eq!(got, want, "number {} at {:?}\n{}", number, at, csv);
        }
    }
}
