//! Runs N calls through the sans-IO proxy core, for callgrind instruction
//! counts per call (see `examples/count.rs` for the method):
//!
//! ```text
//! cargo build --profile bench -p trunkline-benches --example proxy_count
//! valgrind --tool=callgrind target/release/examples/proxy_count stateful 20000
//! ```
//!
//! The first 12,000 calls bring the core to its steady state; the calls
//! after them are the measured ones (run with N and with 12000, subtract).

use std::time::Duration;

use trunkline_benches::proxy_call::{Driver, record_calls};
use trunkline_engine::proxy::Mode;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: proxy_count stateful|stateless N";
    let (mode, n) = match &args[1..] {
        [m, n] => (
            match m.as_str() {
                "stateful" => Mode::Stateful,
                "stateless" => Mode::Stateless,
                _ => panic!("{usage}"),
            },
            n.parse::<usize>().expect(usage),
        ),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let calls = record_calls(10_000, mode);
    let mut d = Driver::new(mode, Duration::from_millis(4));
    for call in calls.iter().cycle().take(n) {
        d.run(call);
    }
    eprintln!(
        "sent {} datagrams, {} live transactions",
        d.sent,
        d.live_transactions()
    );
}
