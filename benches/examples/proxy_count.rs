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
//! valgrind --tool=callgrind target/release/examples/proxy_count registrar 20000
//! valgrind --tool=callgrind --toggle-collect='*Driver::deliver' \
//!     target/release/examples/proxy_count register 20000
//! ```
//!
//! `register`: N REGISTERs of 4,000 users (each user's first one adds
//! its binding, the later ones refresh it); with `--toggle-collect`
//! only their handling is counted (not building them).
//!
//! The first 12,000 calls bring the core to its steady state; the calls
//! after them are the measured ones (run with N and with 12000, subtract).

use std::time::Duration;

use trunkline_benches::proxy_call::{self, Driver, record_calls, record_calls_on};
use trunkline_engine::proxy::Mode;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: proxy_count stateful|stateless|edge-trunk|dialog|topology-hiding|dispatcher|registrar|register N";
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
        "register" => {
            let mut d = Driver::registrar_only(step);
            let users = 4_000;
            let regs: Vec<Vec<u8>> = (0..n)
                .map(|k| {
                    let u = k % users;
                    proxy_call::register(u, &format!("user{u}"), (k / users) as u32 + 1)
                })
                .collect();
            for r in &regs {
                d.deliver(proxy_call::uas(), r);
            }
            eprintln!("{} REGISTERs, sent {} datagrams", regs.len(), d.sent);
            return;
        }
        "registrar" => (
            record_calls_on(10_000, Driver::registrar(Duration::from_millis(1))),
            Driver::registrar(step),
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
