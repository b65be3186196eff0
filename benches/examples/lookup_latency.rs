//! Per-lookup latency percentiles and callgrind instruction counts for
//! routing-table lookups on an existing snapshot:
//!
//! ```text
//! trunkline snap gen --rules 10000000 --gateways 2000 --seed 7 -o /tmp/d
//! trunkline snap build … -o /tmp/t.snap
//! cargo build --profile bench -p trunkline-benches --example lookup_latency
//! target/release/examples/lookup_latency /tmp/t.snap 2000000 --time
//! valgrind --tool=callgrind target/release/examples/lookup_latency /tmp/t.snap 100000
//! ```
//!
//! `--distinct K` cycles over K numbers only (hot destinations).
//! `--zipf S` draws each lookup's number from the 2^20 sampled ones with
//! Zipf exponent `S` (rank `r` has weight `1/r^S`; ranks in random table
//! order): live traffic, where a few thousand routes carry most calls.
//! `--copy` serves a private huge-page copy (`Snapshot::open_private`)
//! instead of the file mapping. `--time`: times every lookup on its own with `Instant` (random numbers
//! from the table's prefixes) and prints p50/p90/p99/p99.9, with the cost
//! of an empty timed section shown separately (it is included in the
//! figures). Without it, runs N lookups for callgrind: take the Ir
//! difference between N and N = 0 and divide by N.

use std::hint::black_box;
use std::time::Instant;

use trunkline_benches::routing::BUSINESS_HOUR;
use trunkline_routing_tables::Snapshot;
use trunkline_routing_tables::generate::sample_numbers;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: lookup_latency SNAPSHOT N [--time]");
        std::process::exit(2);
    };
    let snap = if args.iter().any(|a| a == "--copy") {
        Snapshot::open_private(path).expect("open snapshot")
    } else {
        Snapshot::open(path).expect("open snapshot")
    };
    let t = snap.table();
    let group = t.group_id("retail").expect("retail group");
    // `--distinct K` (a power of two): only K different numbers, cycled: the
    // hot-destination case, where the table's lines touched stay cached.
    let distinct = args
        .iter()
        .position(|a| a == "--distinct")
        .and_then(|i| args.get(i + 1))
        .and_then(|k| k.parse::<usize>().ok())
        .filter(|k| k.is_power_of_two())
        .unwrap_or(1 << 20);
    let numbers = sample_numbers(t, group, distinct, 11);
    let mask = numbers.len() - 1;
    // The order in which numbers are looked up: cycled, or Zipf draws.
    let zipf = args
        .iter()
        .position(|a| a == "--zipf")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok());
    let order: Vec<usize> = match zipf {
        None => (0..n).map(|i| i & mask).collect(),
        Some(exp) => zipf_draws(numbers.len(), exp, n, 0x2545_f491_4f6c_dd1d),
    };
    let at = BUSINESS_HOUR;
    if !args.iter().any(|a| a == "--time") {
        let mut hits = 0usize;
        for &j in &order {
            hits += usize::from(t.lookup(group, black_box(&numbers[j]), at).is_some());
        }
        println!("{hits} hits");
        return;
    }
    // The numbers in one contiguous arena, read in order (the hardware
    // prefetcher streams it), so a lookup's cache misses are the table's
    // own; the numbers themselves are in random table order. No warm-up:
    // `open` has already read (and faulted in) every page to verify it.
    // Laid out in lookup order (Zipf draws included), so reading the next
    // number is a sequential read, not a miss of its own.
    let mut arena = String::new();
    let mut offsets = vec![0usize];
    for &j in &order {
        arena.push_str(&numbers[j]);
        offsets.push(arena.len());
    }
    let mut empty = Vec::with_capacity(n);
    let mut ns = Vec::with_capacity(n);
    for j in 0..n {
        let a = Instant::now();
        black_box(&arena[offsets[j]..offsets[j + 1]]);
        empty.push(a.elapsed().as_nanos() as u64);
    }
    for j in 0..n {
        let num = &arena[offsets[j]..offsets[j + 1]];
        let a = Instant::now();
        let r = t.lookup(group, black_box(num), at);
        let d = a.elapsed().as_nanos() as u64;
        assert!(r.is_some());
        ns.push(d);
    }
    let pct = |v: &mut Vec<u64>, p: f64| {
        v.sort_unstable();
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    };
    println!(
        "{path}: {} prefixes, {n} lookups{}: p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns (empty timed section: p50 {} ns, p99 {} ns)",
        t.entries.len(),
        zipf.map_or(String::new(), |s| format!(" (Zipf {s})")),
        pct(&mut ns, 0.50),
        pct(&mut ns, 0.90),
        pct(&mut ns, 0.99),
        pct(&mut ns, 0.999),
        pct(&mut empty, 0.50),
        pct(&mut empty, 0.99),
    );
}

/// `n` indexes below `k`, drawn with Zipf exponent `exp` (index `i` has
/// weight `1 / (i + 1)^exp`) by inverse CDF, from the seeded stream `x`:
/// the same draws for the same arguments.
fn zipf_draws(k: usize, exp: f64, n: usize, x: u64) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(x);
    let mut cdf = Vec::with_capacity(k);
    let mut sum = 0.0;
    for i in 0..k {
        sum += 1.0 / ((i + 1) as f64).powf(exp);
        cdf.push(sum);
    }
    (0..n)
        .map(|_| {
            let u = rng.f64() * sum;
            cdf.partition_point(|&c| c < u).min(k - 1)
        })
        .collect()
}
