//! Runs N calls through the sans-IO proxy core, for callgrind instruction
//! counts per call (see `examples/count.rs` for the method):
//!
//! ```text
//! cargo build --profile bench -p trunkline-benches --example proxy_count
//! valgrind --tool=callgrind target/release/examples/proxy_count stateful 20000
//! valgrind --tool=callgrind target/release/examples/proxy_count edge-trunk 20000
//! valgrind --tool=callgrind target/release/examples/proxy_count dialog 20000
//! valgrind --tool=callgrind target/release/examples/proxy_count topology-hiding 20000
//! valgrind --tool=callgrind target/release/examples/proxy_count dispatcher 20000
//! ```
//!
//! The first 12,000 calls bring the core to its steady state; the calls
//! after them are the measured ones (run with N and with 12000, subtract).

use std::time::Duration;

use trunkline_benches::proxy_call::{Driver, record_calls, record_calls_on};
use trunkline_engine::proxy::Mode;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: proxy_count stateful|stateless|edge-trunk|dialog|topology-hiding|dispatcher N";
    let (setup, n) = match &args[1..] {
        [m, n] => (m.as_str(), n.parse::<usize>().expect(usage)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    // edge-trunk: stateful, with examples/edge.toml's policy, the UAC a
    // trusted trunk (the policy's cost on the trunk's path).
    let step = Duration::from_millis(4);
    let (calls, mut d) = match setup {
        "stateful" | "stateless" => {
            let mode = match setup {
                "stateful" => Mode::Stateful,
                _ => Mode::Stateless,
            };
            (record_calls(10_000, mode), Driver::new(mode, step))
        }
        "edge-trunk" => (
            record_calls_on(10_000, Driver::edge_trunk(Duration::from_millis(1))),
            Driver::edge_trunk(step),
        ),
        "dialog" => (
            record_calls_on(10_000, Driver::dialog(Duration::from_millis(1))),
            Driver::dialog(step),
        ),
        "dispatcher" => (
            record_calls_on(10_000, Driver::dispatcher(Duration::from_millis(1))),
            Driver::dispatcher(step),
        ),
        "topology-hiding" => (
            record_calls_on(10_000, Driver::topology_hiding(Duration::from_millis(1))),
            Driver::topology_hiding(step),
        ),
        _ => panic!("{usage}"),
    };
    for call in calls.iter().cycle().take(n) {
        d.run(call);
    }
    eprintln!(
        "sent {} datagrams, {} live transactions, {} CDRs",
        d.sent,
        d.live_transactions(),
        d.cdrs
    );
}
