//! A router on loopback for the end-to-end tests, built by the same
//! [`RouterBuilder`] as `trunkline run`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::Config;
use crate::runtime::{Router, RouterBuilder};

/// The configuration of a test router: 127.0.0.1 on a free port, two
/// shards, a short shutdown grace, forwarding to `to`, no flood defence
/// (the tests send from one address faster than `flood_pps`; the flood
/// tests turn it on).
pub fn config(to: Option<SocketAddr>) -> Config {
    let mut cfg = Config {
        listen: vec!["127.0.0.1:0".parse().expect("address")],
        shards: 2,
        shutdown_grace: Duration::from_millis(500),
        ..Config::default()
    };
    cfg.proxy.default_route = to;
    cfg.shield.flood_pps = 0;
    cfg
}

/// A router on 127.0.0.1 (a free port), forwarding to `to`, with the
/// RFC's default timers (tests of timeouts shorten them in `tweak`, e.g.
/// with [`short_timers`]).
pub fn start_router(to: Option<SocketAddr>, tweak: impl FnOnce(&mut Config)) -> Router {
    let mut cfg = config(to);
    tweak(&mut cfg);
    RouterBuilder::new(cfg).start().expect("router starts")
}

/// T1 = 20 ms, so Timer B (64·T1) fires after 1.28 s.
pub fn short_timers(cfg: &mut Config) {
    cfg.proxy.timers.t1 = Duration::from_millis(20);
    cfg.proxy.timers.t2 = Duration::from_millis(160);
    cfg.proxy.timers.t4 = Duration::from_millis(200);
    cfg.proxy.timers.d = Duration::from_millis(500);
}
