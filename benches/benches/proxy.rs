//! The proxy core's CPU per call, without sockets: six datagrams in, seven
//! out, through parse, validation, transactions, routing and editing
//! (`trunkline_benches::proxy_call`). This is the user-space time
//! trunkline owns; the kernel's share of a call is measured end to end.
//!
//! `cargo bench -p trunkline-benches --bench proxy`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trunkline_benches::proxy_call::{Driver, record_calls};
use trunkline_engine::proxy::Mode;

fn proxy(c: &mut Criterion) {
    for (name, mode) in [("stateful", Mode::Stateful), ("stateless", Mode::Stateless)] {
        // 10,000 distinct calls, 4 ms of virtual time apart: a call comes
        // round again after 40 s, when its transactions have ended (32 s),
        // so the core runs at a steady ~40,000 live transactions.
        let calls = record_calls(10_000, mode);
        let mut g = c.benchmark_group("call");
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            let mut d = Driver::new(mode, Duration::from_millis(4));
            // Warm up to the steady state before measuring.
            for call in calls.iter().cycle().take(12_000) {
                d.run(call);
            }
            let mut next = 0usize;
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    d.run(&calls[next]);
                    next = (next + 1) % calls.len();
                }
                t.elapsed()
            });
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = proxy
}
criterion_main!(benches);
