use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

fn cfg(algorithm: Algorithm, destinations: &[&str]) -> DispatcherConfig {
    DispatcherConfig {
        id: "pbx".to_owned(),
        algorithm,
        destinations: destinations.iter().map(|d| d.to_string()).collect(),
        probe_interval_ms: 5000,
        failover_codes: vec!["408".to_owned(), "5xx".to_owned()],
        down_after: 3,
        up_after: 2,
    }
}

fn set(algorithm: Algorithm, destinations: &[&str]) -> DispatchSet {
    DispatchSet::new(&cfg(algorithm, destinations), 7).unwrap()
}

fn all(_: usize) -> bool {
    true
}

const FIVE: [&str; 5] = [
    "sip:10.0.0.1",
    "sip:10.0.0.2",
    "sip:10.0.0.3",
    "sip:10.0.0.4",
    "sip:10.0.0.5",
];

#[test]
fn config_from_toml_with_defaults() {
    #[derive(Debug, Deserialize)]
    struct File {
        dispatcher: Vec<DispatcherConfig>,
    }
    let f: File = toml::from_str(
        r#"
        [[dispatcher]]
        id = "pbx"
        algorithm = "round-robin"
        destinations = ["sip:10.0.0.1:5060;weight=2", "sip:10.0.0.2"]
        probe_interval_ms = 5000
        "#,
    )
    .unwrap();
    let c = &f.dispatcher[0];
    assert_eq!(c.algorithm, Algorithm::RoundRobin);
    assert_eq!((c.down_after, c.up_after), (3, 2));
    assert_eq!(c.failover_codes, ["408", "5xx"]);
    let s = DispatchSet::new(c, 1).unwrap();
    assert_eq!(s.probe_interval(), Some(Duration::from_secs(5)));
    assert!(s.fails_over(408) && s.fails_over(500) && s.fails_over(599));
    assert!(!s.fails_over(486) && !s.fails_over(600) && !s.fails_over(404));

    let bad = toml::from_str::<File>(
        "[[dispatcher]]\nid = \"a\"\nalgorithm = \"rr\"\ndestinations = []\n",
    );
    assert!(bad.is_err());
    let unknown = toml::from_str::<File>(
        "[[dispatcher]]\nid = \"a\"\nalgorithm = \"random\"\ndestinations = []\nweight = 1\n",
    );
    assert!(unknown.unwrap_err().to_string().contains("weight"));
}

#[test]
fn algorithm_names_round_trip() {
    for a in Algorithm::ALL {
        assert_eq!(a.name().parse::<Algorithm>(), Ok(a));
    }
    assert!("least-call".parse::<Algorithm>().is_err());
    assert!(Algorithm::Parallel.forks() && !Algorithm::Priority.forks());
}

#[test]
fn destinations_parse() {
    let d = Destination::parse("sip:10.0.0.1:5070;weight=2;priority=5").unwrap();
    assert_eq!(d.addr, "10.0.0.1:5070".parse::<SocketAddr>().unwrap());
    assert_eq!((d.weight, d.priority), (2, 5));
    let d = Destination::parse("SIP:10.0.0.1;Weight=1000").unwrap();
    assert_eq!((d.addr.port(), d.weight, d.priority), (5060, 1000, 0));
    let d = Destination::parse("sip:[2001:db8::7]:5080").unwrap();
    assert_eq!(d.addr, "[2001:db8::7]:5080".parse::<SocketAddr>().unwrap());
    let d = Destination::parse("sip:[::1];priority=3").unwrap();
    assert_eq!((d.addr.port(), d.weight, d.priority), (5060, 1, 3));
}

#[test]
fn destination_errors() {
    use DestinationError as E;
    let cases: &[(&str, E)] = &[
        ("10.0.0.1", E::Scheme),
        ("sips:10.0.0.1", E::Scheme),
        ("tel:+15551234", E::Scheme),
        ("sip:alice@10.0.0.1", E::UserPart),
        ("sip:10.0.0.1?X=1", E::Headers),
        ("sip:pbx1.example", E::Host),
        ("sip:", E::Host),
        ("sip:10.0.0.256", E::Host),
        ("sip:2001:db8::1", E::Host),
        ("sip:[2001:db8::1", E::Host),
        ("sip:[10.0.0.1]", E::Host),
        ("sip:[::1]5060", E::Host),
        ("sip:10.0.0.1:0", E::Port),
        ("sip:10.0.0.1:65536", E::Port),
        ("sip:10.0.0.1:+50", E::Port),
        ("sip:10.0.0.1:", E::Port),
        ("sip:10.0.0.1;weight=0", E::Weight),
        ("sip:10.0.0.1;weight=1001", E::Weight),
        ("sip:10.0.0.1;weight=-1", E::Weight),
        ("sip:10.0.0.1;weight=99999999999", E::Weight),
        ("sip:10.0.0.1;priority=x", E::Priority),
        ("sip:10.0.0.1;priority=4294967296", E::Priority),
        (
            "sip:10.0.0.1;transport=tcp",
            E::UnknownParam("transport".into()),
        ),
        (
            "sip:10.0.0.1;weight=1;WEIGHT=2",
            E::DuplicateParam("WEIGHT".into()),
        ),
        ("sip:10.0.0.1;", E::BadParam(String::new())),
        ("sip:10.0.0.1;lr", E::BadParam("lr".into())),
        ("sip:10.0.0.1;weight=", E::BadParam("weight=".into())),
    ];
    for (uri, want) in cases {
        assert_eq!(Destination::parse(uri).as_ref(), Err(want), "{uri}");
    }
}

#[test]
fn set_errors_name_the_set_and_the_destination() {
    let c = cfg(Algorithm::Random, &["sip:10.0.0.1", "sip:pbx2.example"]);
    let e = DispatchSet::new(&c, 0).unwrap_err();
    assert_eq!(
        e,
        DispatchError::Destination {
            set: "pbx".into(),
            index: 1,
            uri: "sip:pbx2.example".into(),
            kind: DestinationError::Host,
        }
    );
    assert_eq!(
        e.to_string(),
        "dispatcher \"pbx\": destination 1 (\"sip:pbx2.example\"): \
         host is not an IP address (IPv4, or IPv6 in brackets)"
    );

    let c = cfg(
        Algorithm::Random,
        &["sip:10.0.0.1", "sip:10.0.0.1:5060;weight=3"],
    );
    assert!(matches!(
        DispatchSet::new(&c, 0),
        Err(DispatchError::DuplicateDestination {
            index: 1,
            first: 0,
            ..
        })
    ));

    let c = cfg(Algorithm::Random, &[]);
    assert!(matches!(
        DispatchSet::new(&c, 0),
        Err(DispatchError::NoDestinations { .. })
    ));

    let mut c = cfg(Algorithm::Random, &["sip:10.0.0.1"]);
    c.id.clear();
    assert_eq!(DispatchSet::new(&c, 0).unwrap_err(), DispatchError::EmptyId);

    for (bad, field) in [((0, 2), "down_after"), ((3, 0), "up_after")] {
        let mut c = cfg(Algorithm::Random, &["sip:10.0.0.1"]);
        (c.down_after, c.up_after) = bad;
        assert_eq!(
            DispatchSet::new(&c, 0).unwrap_err(),
            DispatchError::ZeroThreshold {
                set: "pbx".into(),
                field
            }
        );
    }

    for code in ["7xx", "099", "40", "4x", "x08", "5xy", "", "700"] {
        let mut c = cfg(Algorithm::Random, &["sip:10.0.0.1"]);
        c.failover_codes = vec![code.to_owned()];
        assert_eq!(
            DispatchSet::new(&c, 0).unwrap_err(),
            DispatchError::FailoverCode {
                set: "pbx".into(),
                code: code.into()
            },
            "{code:?}"
        );
    }
}

#[test]
fn failover_codes_and_no_probing() {
    let mut c = cfg(Algorithm::Random, &["sip:10.0.0.1"]);
    c.failover_codes = vec!["486".into(), "6XX".into()];
    c.probe_interval_ms = 0;
    let s = DispatchSet::new(&c, 0).unwrap();
    assert!(s.fails_over(486) && s.fails_over(600) && s.fails_over(699));
    assert!(!s.fails_over(408) && !s.fails_over(503) && !s.fails_over(700));
    assert_eq!(s.probe_interval(), None);
}

fn counts(s: &mut DispatchSet, picks: usize, alive: &dyn Fn(usize) -> bool) -> Vec<usize> {
    let mut n = vec![0; s.destinations().len()];
    let mut out = Vec::new();
    for _ in 0..picks {
        s.pick(&Key::default(), alive, &mut out);
        n[out[0]] += 1;
    }
    n
}

fn within(counts: &[usize], weights: &[usize], tolerance: f64) {
    let total: usize = counts.iter().sum();
    let wsum: usize = weights.iter().sum();
    for (c, w) in counts.iter().zip(weights) {
        let want = total as f64 * *w as f64 / wsum as f64;
        assert!(
            (*c as f64 - want).abs() <= want * tolerance,
            "{counts:?} vs weights {weights:?}"
        );
    }
}

#[test]
fn round_robin_follows_the_weights_smoothly() {
    let mut s = set(
        Algorithm::RoundRobin,
        &["sip:10.0.0.1;weight=5", "sip:10.0.0.2", "sip:10.0.0.3"],
    );
    let mut out = Vec::new();
    let mut seq = Vec::new();
    for _ in 0..7 {
        s.pick(&Key::default(), &all, &mut out);
        seq.push(out[0]);
    }
    // nginx's example: a a b a c a a.
    assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0]);

    let mut s = set(
        Algorithm::RoundRobin,
        &[
            "sip:10.0.0.1;weight=5",
            "sip:10.0.0.2;weight=3",
            "sip:10.0.0.3;weight=2",
        ],
    );
    within(&counts(&mut s, 10_000, &all), &[5, 3, 2], 0.02);
    // One down: the others share by their weights.
    within(&counts(&mut s, 10_000, &|i| i != 0), &[0, 3, 2], 0.02);
}

#[test]
fn round_robin_fails_over_to_the_next_alive() {
    let mut s = set(Algorithm::RoundRobin, &FIVE);
    let mut out = Vec::new();
    s.pick(&Key::default(), &all, &mut out);
    assert_eq!(out, [0, 1, 2, 3, 4]);
    s.pick(&Key::default(), &|i| i != 3, &mut out);
    assert_eq!(out, [1, 2, 4, 0]);
    s.pick(&Key::default(), &|_| false, &mut out);
    assert!(out.is_empty());
}

#[test]
fn random_follows_the_weights() {
    let mut s = set(
        Algorithm::Random,
        &[
            "sip:10.0.0.1;weight=5",
            "sip:10.0.0.2;weight=3",
            "sip:10.0.0.3;weight=2",
        ],
    );
    within(&counts(&mut s, 20_000, &all), &[5, 3, 2], 0.05);
    let mut out = Vec::new();
    s.pick(&Key::default(), &|i| i == 2, &mut out);
    assert_eq!(out, [2]);
}

fn hash_picks(s: &mut DispatchSet, keys: usize) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    (0..keys)
        .map(|k| {
            let id = format!("call-{k}@host");
            let key = Key {
                call_id: Some(id.as_bytes()),
                ..Key::default()
            };
            s.pick(&key, &all, &mut out);
            s.destinations()[out[0]].addr
        })
        .collect()
}

#[test]
fn rendezvous_removing_one_moves_only_its_share() {
    let mut five = set(Algorithm::HashCallid, &FIVE);
    let before = hash_picks(&mut five, 10_000);
    let four: Vec<&str> = FIVE.iter().copied().filter(|d| *d != FIVE[2]).collect();
    let mut four = set(Algorithm::HashCallid, &four);
    let after = hash_picks(&mut four, 10_000);
    let gone = Destination::parse(FIVE[2]).unwrap().addr;
    let mut share = 0;
    for (b, a) in before.iter().zip(&after) {
        if *b == gone {
            share += 1;
        } else {
            assert_eq!(a, b, "a key of a remaining destination moved");
        }
    }
    // Its share (a fifth, about 2000) moved, and nothing else.
    assert!((1700..2300).contains(&share), "{share}");
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    assert_eq!(moved, share);
}

#[test]
fn rendezvous_follows_the_weights_and_sticks() {
    let mut s = set(
        Algorithm::HashCallid,
        &[
            "sip:10.0.0.1;weight=3",
            "sip:10.0.0.2",
            "sip:[2001:db8::1];weight=2",
        ],
    );
    let picks = hash_picks(&mut s, 10_000);
    let counts: Vec<usize> = s
        .destinations()
        .iter()
        .map(|d| picks.iter().filter(|p| **p == d.addr).count())
        .collect();
    within(&counts, &[3, 1, 2], 0.05);
    // The same key goes to the same place, pick after pick.
    assert_eq!(hash_picks(&mut s, 10_000), picks);
}

#[test]
fn hashing_uses_the_algorithms_key() {
    for (algorithm, field) in [
        (Algorithm::HashCallid, 0),
        (Algorithm::HashFromUser, 1),
        (Algorithm::HashToUser, 2),
        (Algorithm::HashRuriUser, 3),
    ] {
        let mut s = set(algorithm, &FIVE);
        let mut out = Vec::new();
        let mut firsts = std::collections::HashSet::new();
        for k in 0..200 {
            let v = format!("user{k}");
            let other = format!("other{}", k % 3);
            let mut f = [Some(other.as_bytes()); 4];
            f[field] = Some(v.as_bytes());
            let key = Key {
                call_id: f[0],
                from_user: f[1],
                to_user: f[2],
                ruri_user: f[3],
                live_calls: &[],
            };
            s.pick(&key, &all, &mut out);
            let first = out[0];
            s.pick(&key, &all, &mut out);
            assert_eq!(out[0], first, "{algorithm}: not sticky");
            firsts.insert(first);
        }
        // The varying field spreads; the others (3 values) would not.
        assert_eq!(firsts.len(), 5, "{algorithm}");
    }
}

#[test]
fn hashing_without_its_key_falls_back_to_round_robin() {
    let mut s = set(Algorithm::HashFromUser, &FIVE);
    let mut out = Vec::new();
    let key = Key {
        call_id: Some(b"c1"),
        ..Key::default()
    };
    let firsts: Vec<usize> = (0..5)
        .map(|_| {
            s.pick(&key, &all, &mut out);
            out[0]
        })
        .collect();
    assert_eq!(firsts, [0, 1, 2, 3, 4]);
}

#[test]
fn rendezvous_failover_is_the_next_best_alive() {
    let mut s = set(Algorithm::HashCallid, &FIVE);
    let mut full = Vec::new();
    let mut out = Vec::new();
    for k in 0..100 {
        let id = format!("c{k}");
        let key = Key {
            call_id: Some(id.as_bytes()),
            ..Key::default()
        };
        s.pick(&key, &all, &mut full);
        assert_eq!(full.len(), 5);
        let dead = full[0];
        s.pick(&key, &|i| i != dead, &mut out);
        // The same ranking without the dead one: the first choice fails
        // over to its next-best.
        assert_eq!(out, full[1..], "{id}");
    }
}

#[test]
fn priority_picks_the_first_alive() {
    let mut s = set(
        Algorithm::Priority,
        &[
            "sip:10.0.0.1;priority=2",
            "sip:10.0.0.2;priority=1",
            "sip:10.0.0.3;priority=1",
            "sip:10.0.0.4",
        ],
    );
    let mut out = Vec::new();
    s.pick(&Key::default(), &all, &mut out);
    assert_eq!(out, [3, 1, 2, 0]);
    s.pick(&Key::default(), &|i| i != 3 && i != 1, &mut out);
    assert_eq!(out, [2, 0]);
}

#[test]
fn least_calls_picks_the_minimum() {
    let mut s = set(
        Algorithm::LeastCalls,
        &[
            "sip:10.0.0.1",
            "sip:10.0.0.2",
            "sip:10.0.0.3",
            "sip:10.0.0.4;weight=4",
        ],
    );
    let mut out = Vec::new();
    let calls = [5, 2, 7, 12];
    let key = Key {
        live_calls: &calls,
        ..Key::default()
    };
    s.pick(&key, &all, &mut out);
    // 12 calls on weight 4 is 3 per unit: after 2, before 5 and 7.
    assert_eq!(out, [1, 3, 0, 2]);
    s.pick(&key, &|i| i != 1, &mut out);
    assert_eq!(out, [3, 0, 2]);
    // Ties rotate; a destination without a count has none.
    let key = Key {
        live_calls: &[0, 0],
        ..Key::default()
    };
    let firsts: std::collections::HashSet<usize> = (0..4)
        .map(|_| {
            s.pick(&key, &|i| i < 3, &mut out);
            out[0]
        })
        .collect();
    assert_eq!(firsts.len(), 3);
}

#[test]
fn parallel_returns_all_alive() {
    let mut s = set(Algorithm::Parallel, &FIVE);
    let mut out = Vec::new();
    s.pick(&Key::default(), &all, &mut out);
    assert_eq!(out, [0, 1, 2, 3, 4]);
    s.pick(&Key::default(), &|i| i % 2 == 0, &mut out);
    assert_eq!(out, [0, 2, 4]);
}

#[test]
fn failover_order_excludes_the_dead_for_every_algorithm() {
    for a in Algorithm::ALL {
        let mut s = set(a, &FIVE);
        let mut out = Vec::new();
        let key = Key {
            call_id: Some(b"x"),
            from_user: Some(b"x"),
            to_user: Some(b"x"),
            ruri_user: Some(b"x"),
            live_calls: &[3, 1, 4, 1, 5],
        };
        for _ in 0..20 {
            s.pick(&key, &|i| i != 1 && i != 4, &mut out);
            let mut sorted = out.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 2, 3], "{a}");
        }
    }
}

#[test]
fn health_goes_down_and_up() {
    let mut s = set(Algorithm::RoundRobin, &FIVE);
    let t0 = Instant::now();
    let at = |n: u64| t0 + Duration::from_secs(5 * n);
    assert!(s.is_alive(1));
    assert_eq!(s.on_probe_result(at(1), 1, false), None);
    assert_eq!(s.on_probe_result(at(2), 1, false), None);
    // An answer breaks the streak.
    assert_eq!(s.on_probe_result(at(3), 1, true), None);
    assert_eq!(s.on_probe_result(at(4), 1, false), None);
    assert_eq!(s.on_probe_result(at(5), 1, false), None);
    assert!(s.is_alive(1));
    assert_eq!(s.on_probe_result(at(6), 1, false), Some(Transition::Down));
    assert!(!s.is_alive(1));
    assert_eq!(s.changed_at(1), Some(at(6)));

    let mut out = Vec::new();
    s.pick_healthy(&Key::default(), &mut out);
    assert!(!out.contains(&1) && out.len() == 4);

    assert_eq!(s.on_probe_result(at(7), 1, true), None);
    assert_eq!(s.on_probe_result(at(8), 1, false), None);
    assert_eq!(s.on_probe_result(at(9), 1, true), None);
    assert!(!s.is_alive(1));
    assert_eq!(s.on_probe_result(at(10), 1, true), Some(Transition::Up));
    assert!(s.is_alive(1));
    assert_eq!(s.changed_at(1), Some(at(10)));
    // Out of range: ignored.
    assert_eq!(s.on_probe_result(at(11), 9, false), None);
    assert!(!s.is_alive(9));
}

#[test]
fn reload_keeps_health_by_address() {
    let mut s = set(Algorithm::RoundRobin, &FIVE);
    let now = Instant::now();
    for _ in 0..3 {
        s.on_probe_result(now, 2, false); // 10.0.0.3 down
        s.on_probe_result(now, 4, false); // 10.0.0.5 down
    }
    let new = set(
        Algorithm::RoundRobin,
        &[
            "sip:10.0.0.6",
            "sip:10.0.0.3;weight=4",
            "sip:10.0.0.1",
            "sip:10.0.0.5:5070",
        ],
    );
    s.reload(new);
    assert_eq!(s.destinations().len(), 4);
    assert!(s.is_alive(0), "new: up");
    assert!(!s.is_alive(1), "10.0.0.3 stays down");
    assert_eq!(s.changed_at(1), Some(now));
    assert!(s.is_alive(2), "10.0.0.1 stays up");
    assert!(s.is_alive(3), "another port is another destination");
    assert_eq!(s.index_of("10.0.0.3:5060".parse().unwrap()), Some(1));
    // It still comes back by its probes.
    s.on_probe_result(now, 1, true);
    assert_eq!(s.on_probe_result(now, 1, true), Some(Transition::Up));
}
