//! Parser micro-benches: trunkline vs rsip 0.4 on four wire
//! messages (`benches/messages/`). Each measures "parse + read Call-ID,
//! CSeq (number and method), top Via branch, From tag, To tag, R-URI
//! (requests)"; see `shared/mod.rs`.
//!
//! `cargo bench -p trunkline-benches --bench parse`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trunkline_parser::Parser;

mod shared;
use shared::Case;

fn parse(c: &mut Criterion) {
    for case in Case::all() {
        let bytes = case.sample.bytes;
        let mut g = c.benchmark_group(case.sample.name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let mut parser = Parser::default();
        g.bench_function("trunkline", |b| {
            b.iter(|| shared::trunkline(&mut parser, black_box(bytes), &case))
        });
        g.bench_function("trunkline_validate", |b| {
            b.iter(|| shared::trunkline_validate(&mut parser, black_box(bytes), &case))
        });
        g.bench_function("trunkline_summary", |b| {
            b.iter(|| shared::trunkline_summary(&mut parser, black_box(bytes), &case))
        });
        g.bench_function("rsip", |b| b.iter(|| shared::rsip(black_box(bytes), &case)));
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = parse
}
criterion_main!(benches);
