//! Flood defence: what [`Gate::check`] costs per datagram (pike and the
//! ban list, before parsing), and a rate limit's `admit`.
//!
//! ```text
//! cargo bench -p trunkline-benches --bench flood
//! ```
//!
//! - `gate/drop_banned`: a banned source (the flood once caught): the
//!   path every flood datagram takes.
//! - `gate/pass_steady`: 64 sources well under `flood_pps`, the clock
//!   moving 1 ms per 16 checks (250 datagrams/s each): the path of
//!   legitimate traffic.
//! - `gate/pass_spoofed`: a new source address every datagram, 1 M per
//!   virtual second: counters all over the 1 MiB table (cache misses).
//! - `gate/trusted`: a source inside a 3-prefix trusted set.
//! - `rate_limit/source`, `rate_limit/global`: `admit` of a per-source
//!   and a global limit, under their rate.
//!
//! Each iteration also moves a virtual clock (an `Instant` addition
//! every 16 or 1024 iterations): a few hundred ps, included.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use trunkline_engine::security::{
    CidrSet, RateKeyKind, RateLimitSpec, RateLimits, RateLimitsConfig, RateSubject, Shield,
    ShieldConfig,
};

fn shield(trusted: &[&str], t0: Instant) -> Arc<Shield> {
    Arc::new(
        Shield::new(
            &ShieldConfig::default(),
            CidrSet::parse(trusted).unwrap(),
            0x5eed,
            t0,
        )
        .unwrap(),
    )
}

fn gate(c: &mut Criterion) {
    let mut g = c.benchmark_group("gate");
    let t0 = Instant::now();

    let s = shield(&[], t0);
    let mut gate = s.gate();
    let flooder: IpAddr = "127.0.0.3".parse().unwrap();
    s.ban(t0, flooder, Duration::from_secs(3600));
    g.bench_function("drop_banned", |b| {
        b.iter(|| gate.check(t0, black_box(flooder)))
    });
    assert!(gate.counters().dropped() > 0 && gate.counters().passed == 0);

    let s = shield(&[], t0);
    let mut gate = s.gate();
    let sources: Vec<IpAddr> = (0..64u32)
        .map(|i| IpAddr::from((0xc633_6400 + i).to_be_bytes()))
        .collect();
    let (mut now, mut i) = (t0, 0usize);
    g.bench_function("pass_steady", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            if i & 15 == 0 {
                now += Duration::from_millis(1);
            }
            gate.check(now, black_box(sources[i & 63]))
        })
    });
    assert_eq!(gate.counters().dropped(), 0, "{:?}", gate.counters());

    let s = shield(&[], t0);
    let mut gate = s.gate();
    let (mut now, mut i) = (t0, 0u32);
    g.bench_function("pass_spoofed", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            if i & 1023 == 0 {
                now += Duration::from_millis(1);
            }
            let src = IpAddr::from((i.wrapping_mul(0x9e37_79b9)).to_be_bytes());
            gate.check(now, black_box(src))
        })
    });
    assert_eq!(gate.counters().dropped(), 0, "{:?}", gate.counters());

    let s = shield(&["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"], t0);
    let mut gate = s.gate();
    let trusted: IpAddr = "192.0.2.77".parse().unwrap();
    g.bench_function("trusted", |b| b.iter(|| gate.check(t0, black_box(trusted))));
    g.finish();
}

fn rate_limit(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate_limit");
    let t0 = Instant::now();
    let specs = [
        RateLimitSpec {
            name: "src".into(),
            rate: 1e6,
            burst: 1000,
            key: RateKeyKind::Source,
        },
        RateLimitSpec {
            name: "all".into(),
            rate: 1e6,
            burst: 1000,
            key: RateKeyKind::Global,
        },
    ];
    let t = Arc::new(RateLimits::new(&specs, RateLimitsConfig::default(), 7, t0).unwrap());
    let mut r = t.limiter();
    let who = RateSubject {
        source: "198.51.100.7".parse().unwrap(),
        group: None,
    };
    for (name, id) in [
        ("source", t.id("src").unwrap()),
        ("global", t.id("all").unwrap()),
    ] {
        // 1000 requests per virtual ms: the limit's own rate.
        let (mut now, mut i) = (t0, 0u32);
        g.bench_function(name, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                if i & 1023 == 0 {
                    now += Duration::from_millis(1);
                }
                r.admit(now, id, black_box(&who))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = gate, rate_limit
}
criterion_main!(benches);
