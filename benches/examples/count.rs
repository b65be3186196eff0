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

use std::hint::black_box;

use trunkline_parser::Parser;

#[path = "../benches/shared/mod.rs"]
mod shared;
use shared::Case;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: count trunkline|trunkline_validate|trunkline_summary|rsip invite|200ok|bye|register N";
    let (which, name, n) = match &args[1..] {
        [w, m, n] => (w.as_str(), m.as_str(), n.parse::<u64>().expect(usage)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let case = Case::all()
        .into_iter()
        .find(|c| c.sample.name == name)
        .expect(usage);
    let bytes = case.sample.bytes;
    let mut parser = Parser::default();
    for _ in 0..n {
        match which {
            "trunkline" => shared::trunkline(&mut parser, black_box(bytes), &case),
            "trunkline_validate" => {
                shared::trunkline_validate(&mut parser, black_box(bytes), &case)
            }
            "trunkline_summary" => shared::trunkline_summary(&mut parser, black_box(bytes), &case),
            "rsip" => shared::rsip(black_box(bytes), &case),
            _ => panic!("{usage}"),
        }
    }
}
