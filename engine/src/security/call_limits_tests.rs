use super::*;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

fn spec(key: &str) -> LimitSpec {
    LimitSpec {
        key: key.into(),
        concurrent: None,
        cps: None,
        burst: None,
        code: None,
        retry_after_s: None,
    }
}

fn conc(key: &str, n: u32) -> LimitSpec {
    LimitSpec {
        concurrent: Some(n),
        ..spec(key)
    }
}

fn cps(key: &str, cps: f64, burst: Option<u32>) -> LimitSpec {
    LimitSpec {
        cps: Some(cps),
        burst,
        ..spec(key)
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn err(specs: &[LimitSpec]) -> LimitError {
    CallLimits::new(specs, Instant::now()).unwrap_err()
}

#[test]
fn every_key_form_parses_and_prints_back() {
    let g: LimitKey = "group:retail".parse().unwrap();
    assert_eq!(g, LimitKey::Group("retail".into()));
    assert_eq!(
        "source:10.0.0.0/8".parse::<LimitKey>().unwrap(),
        LimitKey::Source("10.0.0.0/8".parse().unwrap())
    );
    assert_eq!(
        "source:2001:db8::/32".parse::<LimitKey>().unwrap(),
        LimitKey::Source("2001:db8::/32".parse().unwrap())
    );
    assert_eq!(
        "source:192.0.2.7".parse::<LimitKey>().unwrap(),
        LimitKey::Source(Cidr::host(ip("192.0.2.7")))
    );
    assert_eq!(
        "carrier:acme".parse::<LimitKey>().unwrap(),
        LimitKey::Carrier("acme".into())
    );
    let gw: LimitKey = "gateway:gw-1".parse().unwrap();
    assert_eq!(gw, LimitKey::Gateway("gw-1".into()));
    assert!(gw.is_target() && !g.is_target());
    for s in [
        "group:retail",
        "source:10.0.0.0/8",
        "carrier:acme",
        "gateway:gw-1",
    ] {
        assert_eq!(s.parse::<LimitKey>().unwrap().to_string(), s);
    }
}

#[test]
fn every_error_names_the_limit_and_what_is_wrong() {
    let ok = conc("group:a", 1);
    let cases: Vec<(LimitSpec, LimitErrorKind)> = vec![
        (conc("customer:a", 1), LimitErrorKind::Prefix),
        (conc("retail", 1), LimitErrorKind::Prefix),
        (conc("group:", 1), LimitErrorKind::EmptyName),
        (conc("carrier:", 1), LimitErrorKind::EmptyName),
        (conc("gateway:", 1), LimitErrorKind::EmptyName),
        (
            conc("source:10.0.0.1/8", 1),
            LimitErrorKind::Cidr("10.0.0.1/8".parse::<Cidr>().unwrap_err()),
        ),
        (
            conc("source:nope", 1),
            LimitErrorKind::Cidr(CidrError::Syntax("nope".into())),
        ),
        (spec("group:b"), LimitErrorKind::NoLimit),
        (
            LimitSpec {
                code: Some(302),
                ..conc("group:b", 1)
            },
            LimitErrorKind::Code(302),
        ),
        (
            LimitSpec {
                code: Some(700),
                ..conc("group:b", 1)
            },
            LimitErrorKind::Code(700),
        ),
        (conc("group:a", 2), LimitErrorKind::Duplicate { first: 0 }),
        (cps("group:b", 0.0, None), LimitErrorKind::Cps(0.0)),
        (cps("group:b", -1.0, None), LimitErrorKind::Cps(-1.0)),
        (
            cps("group:b", f64::INFINITY, None),
            LimitErrorKind::Cps(f64::INFINITY),
        ),
        (cps("group:b", 2e6, None), LimitErrorKind::Cps(2e6)),
        (cps("group:b", 5.0, Some(0)), LimitErrorKind::Burst(0)),
        (
            cps("group:b", 0.001, Some(100)),
            LimitErrorKind::Refill(100_000.0),
        ),
        (
            LimitSpec {
                burst: Some(5),
                ..conc("group:b", 1)
            },
            LimitErrorKind::BurstWithoutCps,
        ),
    ];
    for (bad, kind) in cases {
        let key = bad.key.clone();
        let e = err(&[ok.clone(), bad]);
        assert_eq!(
            e,
            LimitError {
                index: 1,
                key,
                kind
            },
            "{e}"
        );
    }
    // NaN is no cps either (compared by its message: NaN != NaN).
    let e = err(&[cps("group:b", f64::NAN, None)]);
    assert!(matches!(e.kind, LimitErrorKind::Cps(c) if c.is_nan()));
    // Duplicates: the same prefix written two ways; carrier and gateway
    // names are apart from groups.
    let e = err(&[
        conc("source:10.0.0.0/8", 1),
        conc("source:::ffff:10.0.0.0/104", 1),
    ]);
    assert_eq!(e.kind, LimitErrorKind::Duplicate { first: 0 });
    assert!(
        CallLimits::new(
            &[
                conc("group:x", 1),
                conc("carrier:x", 1),
                conc("gateway:x", 1)
            ],
            Instant::now()
        )
        .is_ok()
    );
    let e = err(&[conc("gateway:x", 1), conc("gateway:x", 2)]);
    assert_eq!(e.kind, LimitErrorKind::Duplicate { first: 0 });
    // The message names the table and the key.
    assert_eq!(
        err(&[spec("group:b")]).to_string(),
        "limit[0] (key \"group:b\"): neither concurrent nor cps is set: it would limit nothing"
    );
}

#[test]
fn too_many_limits_or_nested_prefixes_are_refused() {
    let many: Vec<_> = (0..=MAX_CALL_LIMITS)
        .map(|i| conc(&format!("gateway:{i}"), 1))
        .collect();
    let e = err(&many);
    assert_eq!(
        (e.index, e.kind),
        (MAX_CALL_LIMITS, LimitErrorKind::TooMany)
    );
    // Four nested prefixes: fine alone, one too many with a group limit.
    let nested = [
        conc("source:10.0.0.0/8", 1),
        conc("source:10.1.0.0/16", 1),
        conc("source:10.1.2.0/24", 1),
        conc("source:10.1.2.3/32", 1),
    ];
    assert!(CallLimits::new(&nested, Instant::now()).is_ok());
    let mut with_group = nested.to_vec();
    with_group.push(conc("group:g", 1));
    let e = err(&with_group);
    assert_eq!((e.index, e.kind), (3, LimitErrorKind::TooManyMatches(5)));
    // Disjoint prefixes add nothing to each other.
    let mut disjoint = nested[..3].to_vec();
    disjoint.push(conc("group:g", 1));
    disjoint.extend((0..8).map(|i| conc(&format!("source:192.0.{i}.0/24"), 1)));
    assert!(CallLimits::new(&disjoint, Instant::now()).is_ok());
}

#[test]
fn specs_read_from_toml() {
    #[derive(Deserialize)]
    struct File {
        limit: Vec<LimitSpec>,
    }
    let f: File = toml::from_str(
        r#"
        [[limit]]
        key = "group:retail"
        concurrent = 200
        cps = 20
        burst = 40
        code = 486
        retry_after_s = 7

        [[limit]]
        key = "carrier:acme"
        cps = 2.5
        "#,
    )
    .unwrap();
    assert_eq!(
        f.limit[0],
        LimitSpec {
            key: "group:retail".into(),
            concurrent: Some(200),
            cps: Some(20.0),
            burst: Some(40),
            code: Some(486),
            retry_after_s: Some(7),
        }
    );
    assert_eq!(f.limit[1], cps("carrier:acme", 2.5, None));
    let l = CallLimits::new(&f.limit, Instant::now()).unwrap();
    assert!(l.has_callers() && l.has_targets() && l.len() == 2);
    assert!(toml::from_str::<File>("[[limit]]\nkey = \"group:a\"\nmax = 3\n").is_err());
}

#[test]
fn empty_table_admits_everything_for_free() {
    let l = CallLimits::new(&[], Instant::now()).unwrap();
    assert!(l.is_empty() && !l.has_targets() && !l.has_callers());
    let h = l
        .admit_caller(Instant::now(), ip("192.0.2.1"), Some("x"))
        .unwrap();
    assert!(h.is_empty());
    l.release(h);
    assert!(l.counts().is_empty());
}

#[test]
fn group_lookup_by_str_and_source_prefixes() {
    let t0 = Instant::now();
    let l = CallLimits::new(
        &[
            conc("group:retail", 1),
            conc("source:10.0.0.0/8", 2),
            conc("source:10.1.0.0/16", 1),
        ],
        t0,
    )
    .unwrap();
    assert!(l.has_callers() && !l.has_targets());
    // The group's name from any &str (here a slice of a longer buffer).
    let buf = String::from("retail,wholesale");
    let h = l
        .admit_caller(t0, ip("192.0.2.1"), Some(&buf[..6]))
        .unwrap();
    assert_eq!(h.limits().collect::<Vec<_>>(), [0]);
    let r = l
        .admit_caller(t0, ip("192.0.2.1"), Some("retail"))
        .unwrap_err();
    assert_eq!((r.key, r.code, r.over), (0, 503, Over::Concurrent));
    assert_eq!(r.retry_after_s, DEFAULT_CONCURRENT_RETRY_S);
    // Another group, or none: no limit.
    assert!(
        l.admit_caller(t0, ip("192.0.2.1"), Some("wholesale"))
            .unwrap()
            .is_empty()
    );
    assert!(
        l.admit_caller(t0, ip("192.0.2.1"), None)
            .unwrap()
            .is_empty()
    );
    l.release(h);
    // 10.1.2.3 is in both prefixes; an IPv4-mapped address is its IPv4.
    let a = l.admit_caller(t0, ip("::ffff:10.1.2.3"), None).unwrap();
    assert_eq!(a.limits().collect::<Vec<_>>(), [1, 2]);
    let r = l.admit_caller(t0, ip("10.1.9.9"), None).unwrap_err();
    assert_eq!(r.key, 2);
    let b = l.admit_caller(t0, ip("10.2.0.1"), None).unwrap();
    assert_eq!(b.limits().collect::<Vec<_>>(), [1]);
    assert_eq!(l.admit_caller(t0, ip("10.2.0.2"), None).unwrap_err().key, 1);
    l.release(a);
    l.release(b);
    assert!(l.counts().iter().all(|c| c.concurrent == 0));
}

#[test]
fn a_refusal_gives_back_what_the_call_took() {
    let t0 = Instant::now();
    let l = CallLimits::new(
        &[
            LimitSpec {
                cps: Some(100.0),
                ..conc("group:g", 10)
            },
            conc("source:192.0.2.0/24", 1),
            cps("source:198.51.100.0/24", 1.0, Some(1)),
        ],
        t0,
    )
    .unwrap();
    let (a, b) = (ip("192.0.2.1"), ip("198.51.100.1"));
    let h1 = l.admit_caller(t0, a, Some("g")).unwrap();
    // The second limit's slot refuses: the first's slot is given back
    // (no token was taken: slots come first).
    let r = l.admit_caller(t0, a, Some("g")).unwrap_err();
    assert_eq!((r.key, r.over), (1, Over::Concurrent));
    assert_eq!(l.counts()[0].concurrent, 1);
    let h2 = l.admit_caller(t0, b, Some("g")).unwrap();
    // The third limit's bucket refuses after the group's slot and token
    // were taken: both given back.
    let r = l.admit_caller(t0, b, Some("g")).unwrap_err();
    assert_eq!((r.key, r.over, r.retry_after_s), (2, Over::Cps, 1));
    assert_eq!(l.counts()[0].concurrent, 2);
    l.release(h1);
    l.release(h2);
    // The group's bucket: 100, less the two admitted calls' tokens.
    let other = ip("203.0.113.1");
    let n = (0..200)
        .filter(|_| {
            l.admit_caller(t0, other, Some("g"))
                .map(|h| l.release(h))
                .is_ok()
        })
        .count();
    assert_eq!(n, 98);
    let c = l.counts();
    assert_eq!(
        (c[0].concurrent, c[0].admitted, c[0].refused),
        (0, 100, 102)
    );
    assert_eq!((c[1].concurrent, c[1].admitted, c[1].refused), (0, 1, 1));
    assert_eq!((c[2].admitted, c[2].refused), (1, 1));
}

#[test]
fn cps_bucket_in_virtual_time() {
    let t0 = Instant::now();
    let l = Arc::new(CallLimits::new(&[cps("group:g", 20.0, Some(20))], t0).unwrap());
    // Two threads together at t0: exactly the burst.
    let barrier = Arc::new(Barrier::new(2));
    let admitted: usize = (0..2)
        .map(|_| {
            let (l, barrier) = (l.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                (0..50)
                    .filter(|_| l.admit_caller(t0, ip("192.0.2.1"), Some("g")).is_ok())
                    .count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(admitted, 20);
    // Empty: the next token in 50 ms, answered as 1 s.
    let r = l.admit_caller(t0, ip("192.0.2.1"), Some("g")).unwrap_err();
    assert_eq!((r.over, r.retry_after_s, r.code), (Over::Cps, 1, 503));
    // Then cps a second: 10 in half a second, 20 in the next second.
    let burst = |at: Duration| {
        (0..100)
            .filter(|_| l.admit_caller(t0 + at, ip("192.0.2.1"), Some("g")).is_ok())
            .count()
    };
    assert_eq!(burst(Duration::from_millis(500)), 10);
    assert_eq!(burst(Duration::from_millis(1500)), 20);
    assert_eq!(burst(Duration::from_millis(1549)), 0);
    assert_eq!(burst(Duration::from_millis(1550)), 1);
    // Idle for long: never more than the burst.
    assert_eq!(burst(Duration::from_secs(100)), 20);
    let c = &l.counts()[0];
    assert_eq!(
        (c.admitted, c.cps_limit, c.concurrent_limit),
        (71, Some(20.0), None)
    );

    // A slow bucket: the wait rounded up to whole seconds; a configured
    // Retry-After wins.
    let l = CallLimits::new(
        &[
            cps("carrier:slow", 0.1, None),
            LimitSpec {
                retry_after_s: Some(30),
                code: Some(480),
                ..cps("gateway:gw", 0.25, Some(2))
            },
        ],
        t0,
    )
    .unwrap();
    assert!(l.admit_target(t0, Some("slow"), None).is_ok());
    let r = l.admit_target(t0, Some("slow"), None).unwrap_err();
    assert_eq!((r.key, r.retry_after_s), (0, 10));
    let r = l
        .admit_target(t0 + Duration::from_millis(2500), Some("slow"), None)
        .unwrap_err();
    assert_eq!(r.retry_after_s, 8);
    assert!(l.admit_target(t0, None, Some("gw")).is_ok());
    assert!(l.admit_target(t0, None, Some("gw")).is_ok());
    let r = l.admit_target(t0, None, Some("gw")).unwrap_err();
    assert_eq!((r.key, r.code, r.retry_after_s), (1, 480, 30));
    // An unknown carrier or gateway has no limit.
    assert!(
        l.admit_target(t0, Some("other"), Some("gw2"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn concurrent_is_exact_across_threads() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let t0 = Instant::now();
    let l = Arc::new(
        CallLimits::new(&[conc("group:g", 10), conc("source:192.0.2.0/24", 2)], t0).unwrap(),
    );
    let barrier = Arc::new(Barrier::new(THREADS));
    let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (l, barrier, now, max) = (l.clone(), barrier.clone(), now.clone(), max.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut ok = 0u64;
                // Each thread holds up to 5 calls: 20 wanted, 10 allowed.
                let mut mine = Vec::with_capacity(5);
                for r in 0..ROUNDS {
                    // Half the calls match the source prefix too.
                    let src = if (r + t) % 2 == 0 {
                        "192.0.2.1"
                    } else {
                        "203.0.113.1"
                    };
                    match l.admit_caller(t0, ip(src), Some("g")) {
                        Ok(h) => {
                            ok += 1;
                            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                            max.fetch_max(n, Ordering::SeqCst);
                            assert!(n <= 10);
                            mine.push(h);
                        }
                        Err(_) if mine.is_empty() => continue,
                        Err(_) => {}
                    }
                    let c = l.counts();
                    assert!(c[0].concurrent <= 10 && c[1].concurrent <= 2);
                    if mine.len() == 5 || r % 3 == 0 {
                        if let Some(h) = mine.pop() {
                            now.fetch_sub(1, Ordering::SeqCst);
                            l.release(h);
                        }
                    }
                }
                for h in mine {
                    now.fetch_sub(1, Ordering::SeqCst);
                    l.release(h);
                }
                ok
            })
        })
        .collect();
    let ok: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let c = l.counts();
    assert!(max.load(Ordering::SeqCst) <= 10);
    // Both limits were reached: the test pressed on them.
    assert!(c[0].refused > 0 && c[1].refused > 0, "{c:?}");
    assert_eq!((c[0].concurrent, c[1].concurrent), (0, 0));
    assert_eq!(c[0].admitted, ok);
    assert_eq!(
        c[0].admitted + c[0].refused + c[1].refused,
        (THREADS * ROUNDS) as u64
    );
}

#[test]
fn holds_merge_and_release_once() {
    let t0 = Instant::now();
    let l = CallLimits::new(
        &[
            conc("group:g", 5),
            conc("source:10.0.0.0/8", 5),
            conc("source:10.1.0.0/16", 5),
            conc("source:10.1.2.0/24", 5),
            conc("carrier:c", 5),
            conc("gateway:gw", 5),
        ],
        t0,
    )
    .unwrap();
    let caller = l.admit_caller(t0, ip("10.1.2.3"), Some("g")).unwrap();
    let target = l.admit_target(t0, Some("c"), Some("gw")).unwrap();
    assert_eq!((caller.len(), target.len()), (4, 2));
    let both = caller.merge(target).unwrap();
    assert_eq!(both.limits().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
    assert!(both.merge(Held::EMPTY) == Some(both) && Held::EMPTY.merge(both) == Some(both));
    assert_eq!(both.merge(target), None, "over capacity");
    assert!(l.counts().iter().all(|c| c.concurrent == 1));
    l.release(both);
    assert!(
        l.counts()
            .iter()
            .all(|c| c.concurrent == 0 && c.admitted == 1)
    );
    // Another table's hold is not this one's to release.
    let other = CallLimits::new(&[conc("group:g", 5)], t0).unwrap();
    let h = other.admit_caller(t0, ip("10.1.2.3"), Some("g")).unwrap();
    assert_eq!(caller.merge(h), None);
    l.release(h);
    assert_eq!(other.counts()[0].concurrent, 1);
    other.release(h);
    assert_eq!(other.counts()[0].concurrent, 0);
}

#[test]
fn a_limit_is_one_cache_line_and_a_hold_is_small() {
    assert_eq!(std::mem::size_of::<Cell>(), 64);
    assert!(std::mem::size_of::<Held>() <= 20);
}

#[test]
fn concurrent_zero_closes() {
    let t0 = Instant::now();
    let l = CallLimits::new(&[conc("carrier:closed", 0)], t0).unwrap();
    let r = l.admit_target(t0, Some("closed"), None).unwrap_err();
    assert_eq!((r.key, r.over), (0, Over::Concurrent));
    assert_eq!(l.counts()[0].refused, 1);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "released twice")]
fn a_double_release_is_caught_in_debug_builds() {
    let t0 = Instant::now();
    let l = CallLimits::new(&[conc("group:g", 1)], t0).unwrap();
    let h = l.admit_caller(t0, ip("192.0.2.1"), Some("g")).unwrap();
    l.release(h);
    l.release(h);
}
