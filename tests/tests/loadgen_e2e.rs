//! trunkload's built-in uac → trunkline (stateful, record-routing) →
//! trunkload's built-in uas, in one process over loopback: the whole
//! path of the end-to-end bench, checked call for call. Needs no SIPp.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use trunkline_loadgen::call::CallConfig;
use trunkline_loadgen::runtime::{self, DriveParams, Report, RunParams, Sink};
use trunkline_loadgen::scenario::{LoadOptions, load_builtin};
use trunkline_loadgen::stats::Stats;
use trunkline_tests::start_router;

/// Keeps the first error lines, drops the rest.
#[derive(Default)]
struct Collect {
    errors: Vec<String>,
}

impl Sink for Collect {
    fn tick(&mut self, _: &Stats, _: SystemTime) {}
    fn report(&mut self, r: Report) {
        if let Report::Error(e) = r
            && self.errors.len() < 5
        {
            self.errors.push(e);
        }
    }
}

fn params(name: &str, remote: Option<SocketAddr>, calls: u64, cps: f64) -> RunParams {
    let sc = Arc::new(load_builtin(name, &LoadOptions::default()).unwrap());
    let mut cfg = CallConfig::new(sc);
    cfg.remote_addr = remote;
    if let Some(r) = remote {
        cfg.remote_port = r.port();
    }
    RunParams {
        cfg: Arc::new(cfg),
        ooc: None,
        init: None,
        shards: 2,
        cpus: None,
        bind_ip: "127.0.0.1".parse().unwrap(),
        port: Some(0),
        rate_cps: cps,
        limit: None,
        max_calls: Some(calls),
        users: None,
        deadcall_wait: Duration::from_secs(33),
        max_message: 65_536,
        trace_messages: false,
        trace_rtt: false,
        socket_per_call: false,
        max_socket: 50_000,
        globals: Vec::new(),
    }
}

#[test]
fn trunkload_uac_through_trunkline_to_trunkload_uas() {
    through_trunkline(2000, false);
}

/// `-t un`: every call sends from a socket of its own, and the replies
/// (routed by its Via) come back to it.
#[test]
fn socket_per_call_through_trunkline() {
    through_trunkline(500, true);
}

/// One run at a time: each starts six shards' worth of threads, and the
/// test binaries are unoptimised; two at once on a 2-core machine would
/// test the machine's overload, not the call flow.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[allow(non_snake_case)]
fn through_trunkline(CALLS: u64, socket_per_call: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let uas = runtime::start(params("uas", None, CALLS, 0.0)).expect("uas starts");
    let uas_addr = uas.local_addrs[0];
    let router = start_router(Some(uas_addr), |_| {});
    let proxy = router.local_addrs()[0];
    let uas_sc = load_builtin("uas", &LoadOptions::default()).unwrap();
    let uas_thread = std::thread::spawn(move || {
        let dp = DriveParams {
            server_max_calls: Some(CALLS),
            timeout: Some(Duration::from_secs(60)),
            ..DriveParams::default()
        };
        let mut sink = Collect::default();
        let (stats, _) = runtime::drive(uas, &uas_sc, &dp, &mut sink);
        (stats, sink.errors)
    });
    let mut p = params("uac", Some(proxy), CALLS, 1000.0);
    p.socket_per_call = socket_per_call;
    let uac = runtime::start(p).expect("uac starts");
    let uac_sc = load_builtin("uac", &LoadOptions::default()).unwrap();
    let dp = DriveParams {
        timeout: Some(Duration::from_secs(60)),
        ..DriveParams::default()
    };
    let mut sink = Collect::default();
    let (uac_stats, outcome) = runtime::drive(uac, &uac_sc, &dp, &mut sink);
    let (uas_stats, uas_errors) = uas_thread.join().unwrap();
    let reports = router.shutdown();
    assert_eq!(outcome, runtime::Outcome::Normal, "{:?}", sink.errors);
    assert_eq!(
        uac_stats.successful(),
        CALLS,
        "uac errors: {:?}",
        sink.errors
    );
    assert_eq!(uac_stats.failed(), 0);
    assert_eq!(uas_stats.successful(), CALLS, "uas errors: {uas_errors:?}");
    assert_eq!(uas_stats.failed(), 0);
    let forwarded: u64 = reports.iter().map(|r| r.counters.requests_forwarded).sum();
    assert!(forwarded >= 3 * CALLS, "INVITE, ACK, BYE each: {reports:?}");
    // Every INVITE→200 response time was recorded.
    assert_eq!(uac_stats.rtd_percentiles(0).count, CALLS);
}
