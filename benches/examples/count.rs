//! Runs one measured operation of the parser benches N times, for
//! instruction counts under callgrind (repeatable, unlike wall time on a
//! shared machine):
//!
//! ```text
//! cargo build --profile bench -p trunkline-benches --example count
//! valgrind --tool=callgrind target/release/examples/count trunkline invite 10000
//! ```
//!
//! Run it with N and with 0 and divide the difference in total Ir by N to
//! take out start-up. `which` is `trunkline`, `trunkline_validate`,
//! `trunkline_summary` or `rsip`; the message is `invite`, `200ok`, `bye`
//! or `register`.
//!
//! With a fourth argument `--time B`, it instead times B batches of N
//! iterations and prints the fastest and the median batch in ns per
//! operation: the fastest batch is the figure least disturbed by other
//! processes on a shared machine.

use std::hint::black_box;
use std::time::Instant;

use trunkline_parser::Parser;

#[path = "../benches/shared/mod.rs"]
mod shared;
use shared::Case;

const USAGE: &str = "usage: count trunkline|trunkline_validate|trunkline_summary|rsip \
                     invite|200ok|bye|register N [--time BATCHES]";

fn run(which: &str, parser: &mut Parser, case: &Case, n: u64) {
    let bytes = case.sample.bytes;
    for _ in 0..n {
        match which {
            "trunkline" => shared::trunkline(parser, black_box(bytes), case),
            "trunkline_validate" => shared::trunkline_validate(parser, black_box(bytes), case),
            "trunkline_summary" => shared::trunkline_summary(parser, black_box(bytes), case),
            "rsip" => shared::rsip(black_box(bytes), case),
            _ => panic!("{USAGE}"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parse_n = |s: &str| s.parse::<u64>().expect(USAGE);
    let (which, name, n, batches) = match &args[1..] {
        [w, m, n] => (w.as_str(), m.as_str(), parse_n(n), None),
        [w, m, n, t, b] if t == "--time" => (w.as_str(), m.as_str(), parse_n(n), Some(parse_n(b))),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let case = Case::all()
        .into_iter()
        .find(|c| c.sample.name == name)
        .expect(USAGE);
    let mut parser = Parser::default();
    let Some(batches) = batches else {
        run(which, &mut parser, &case, n);
        return;
    };
    run(which, &mut parser, &case, n); // warm-up
    let mut ns: Vec<f64> = (0..batches.max(1))
        .map(|_| {
            let t = Instant::now();
            run(which, &mut parser, &case, n);
            t.elapsed().as_nanos() as f64 / n.max(1) as f64
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    println!(
        "{which} {name}: fastest {:.1} ns/op, median {:.1} ns/op ({} batches of {n})",
        ns[0],
        ns[ns.len() / 2],
        ns.len()
    );
}
