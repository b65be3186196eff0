//! Routing-table lookup: longest-prefix match on a mapped
//! snapshot of a generated deck, numbers drawn from its prefixes (random
//! order, so the large tables miss the CPU caches as live traffic would).
//!
//! ```text
//! cargo bench -p trunkline-benches --bench lookup
//! TRUNKLINE_LOOKUP_SIZES=1000000,10000000 cargo bench -p trunkline-benches --bench lookup
//! ```
//!
//! Sizes (rules) come from `TRUNKLINE_LOOKUP_SIZES` (default 1,000,000)
//! when criterion measures (`--bench`); in test mode (`cargo test
//! --benches`, as CI runs them) a 10,000-rule deck keeps it fast.
//! Per-lookup percentiles: `examples/lookup_latency.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use trunkline_benches::routing::fixture;

fn sizes() -> Vec<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return vec![10_000];
    }
    std::env::var("TRUNKLINE_LOOKUP_SIZES")
        .unwrap_or_else(|_| "1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    for size in sizes() {
        let f = fixture(size);
        eprintln!(
            "lookup/{size}: deck generated and built in {:.1} s, {} prefixes",
            f.build_secs,
            f.snapshot.table().entries.len()
        );
        let mask = f.numbers.len() - 1;
        let t = f.snapshot.table();
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("lpm", size), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let r = t.lookup(f.group, black_box(&f.numbers[i & mask]), f.at);
                assert!(r.is_some());
                r.map(|r| r.index())
            })
        });
        let mut gws = Vec::with_capacity(16);
        g.bench_function(BenchmarkId::new("lpm_and_gateways", size), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let r = t.lookup(f.group, black_box(&f.numbers[i & mask]), f.at);
                let r = r.expect("generated numbers match");
                t.gateways_for(&r, i as u64, &mut gws);
                gws.len()
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
    targets = lookup
}
criterion_main!(benches);
