//! Least-cost routing over real sockets: a snapshot built from
//! CSV, three gateways on loopback, serial failover, and a table swapped
//! while calls are being routed on every shard.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use trunkline_engine::config::{Config, RoutingConfig};
use trunkline_engine::dns::{Hop, Resolved};
use trunkline_engine::lcr::{LcrRequest, LcrTable, NoRoute, Target, TargetSource};
use trunkline_engine::runtime::{Router, RouterBuilder};
use trunkline_routing_tables::{At, BuildInputs, Source, build};
use trunkline_tests::{Peer, config, header, respond, short_timers};

/// A fresh directory for this test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tl-lcr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Builds `table.snap` in `dir` from CSV text.
fn write_table(dir: &Path, file: &str, gateways: &str, rules: &str) -> PathBuf {
    let built = build(BuildInputs {
        gateways: Source::bytes("gateways.csv", gateways.as_bytes().to_vec()),
        rules: Source::bytes("rules.csv", rules.as_bytes().to_vec()),
        carriers: None,
        dialplan: Some(Source::bytes(
            "dialplan.csv",
            b"group,match,pattern,replace\ncustomers,prefix,00,+\n".to_vec(),
        )),
        acl: Some(Source::bytes(
            "acl.csv",
            b"cidr,group\n127.0.0.0/8,customers\n".to_vec(),
        )),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(file);
    built.write(&path, 1_700_000_000).unwrap();
    path
}

/// The targets `router` gives a call to +14155550123 from 127.0.0.1 (the
/// tables of the resolver tests route `+1` in group `customers`).
fn route_us_call(router: &LcrTable) -> Result<Vec<Target>, NoRoute> {
    let req = LcrRequest {
        number: b"+14155550123",
        source: IpAddr::V4(Ipv4Addr::LOCALHOST),
        at: At::now(),
        group: None,
    };
    let mut out = Vec::new();
    router.targets(&req, &mut out).map(|()| out)
}

fn lcr_router(table: &Path, tweak: impl FnOnce(&mut Config)) -> Router {
    let mut cfg = config(None);
    cfg.routing = Some(RoutingConfig::new(table.to_path_buf()));
    tweak(&mut cfg);
    RouterBuilder::new(cfg).start().expect("router starts")
}
/// An INVITE dialling `number` at the router.
fn call(uac: &Peer, proxy: SocketAddr, number: &str, call_id: &str) -> String {
    trunkline_tests::invite(uac, proxy, call_id, &format!("z9hG4bK-{call_id}")).replacen(
        &format!("sip:bob@{proxy}"),
        &format!("sip:{number}@{proxy};user=phone"),
        1,
    )
}

#[test]
fn failover_through_three_gateways_timeout_then_503_then_answer() {
    let dir = scratch_dir("failover");
    let (gw1, gw2, gw3) = (Peer::new(), Peer::new(), Peer::new());
    let gateways = format!(
        "id,address,strip,prefix\ngw1,{},0,\ngw2,{},1,\ngw3,{},1,00\n",
        gw1.addr, gw2.addr, gw3.addr
    );
    let table = write_table(
        &dir,
        "t.snap",
        &gateways,
        "group,prefix,targets\ncustomers,+1,gw1;gw2;gw3\n",
    );
    let router = lcr_router(&table, short_timers);
    let proxy = router.local_addrs()[0];
    let uac = Peer::new();
    // Dialled as 001..., normalised by the dialplan to +1...
    uac.send(proxy, &call(&uac, proxy, "0014155550123", "lcr-1"));
    uac.expect("SIP/2.0 100 Trying");
    let inv1 = gw1.expect("INVITE sip:+14155550123@");
    assert!(inv1.starts_with(&format!(
        "INVITE sip:+14155550123@{};user=phone SIP/2.0",
        gw1.addr
    )));
    // GW1 stays silent: Timer B (1.28 s here) moves the call to GW2.
    let inv2 = gw2.expect_within("INVITE sip:14155550123@", Duration::from_secs(5));
    gw2.send(proxy, &respond(&inv2, 503, "Service Unavailable", gw2.addr));
    gw2.expect("ACK ");
    let inv3 = gw3.expect("INVITE sip:0014155550123@");
    gw3.send(proxy, &respond(&inv3, 180, "Ringing", gw3.addr));
    uac.expect("SIP/2.0 180 Ringing");
    gw3.send(proxy, &respond(&inv3, 200, "OK", gw3.addr));
    let ok = uac.expect("SIP/2.0 200 OK");
    assert_eq!(header(&ok, "Via").len(), 1);
    assert_eq!(header(&ok, "Record-Route").len(), 1);
    let reports = router.shutdown();
    let routed: u64 = reports.iter().map(|r| r.counters.lcr_routed).sum();
    let failovers: u64 = reports.iter().map(|r| r.counters.lcr_failovers).sum();
    assert_eq!((routed, failovers), (1, 2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_numbers_and_sources_get_their_answers() {
    let dir = scratch_dir("noroute");
    let gw = Peer::new();
    let table = write_table(
        &dir,
        "t.snap",
        &format!("id,address\ngw1,{}\n", gw.addr),
        "group,prefix,targets\ncustomers,+1,gw1\n",
    );
    let router = lcr_router(&table, |_| {});
    let proxy = router.local_addrs()[0];
    let uac = Peer::new();
    uac.send(proxy, &call(&uac, proxy, "+4930123456", "lcr-2"));
    uac.expect("SIP/2.0 100 Trying");
    uac.expect("SIP/2.0 404 No Route");
    gw.expect_nothing(Duration::from_millis(200), &[]);
    router.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_table_swapped_under_load_routes_new_calls_by_the_new_table() {
    let dir = scratch_dir("swap");
    let (a, b) = (Peer::new(), Peer::new());
    let gateways = format!("id,address\nga,{}\ngb,{}\n", a.addr, b.addr);
    let to_a = write_table(
        &dir,
        "a.snap",
        &gateways,
        "group,prefix,targets\ncustomers,+1,ga\n",
    );
    let to_b = write_table(
        &dir,
        "b.snap",
        &gateways,
        "group,prefix,targets\ncustomers,+1,gb\n",
    );
    let router = lcr_router(&to_a, short_timers);
    let table = Arc::clone(router.table().expect("a table"));
    let proxy = router.local_addrs()[0];
    // A publisher swaps the table back and forth while calls go through;
    // every call must reach one of the two gateways, on every shard.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (table, stop) = (Arc::clone(&table), Arc::clone(&stop));
        let (to_a, to_b) = (to_a.clone(), to_b.clone());
        std::thread::spawn(move || {
            let mut swaps = 0;
            while !stop.load(Ordering::Relaxed) {
                let next = if swaps % 2 == 0 { &to_b } else { &to_a };
                table.load(next).unwrap();
                swaps += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            swaps
        })
    };
    let uac = Peer::new();
    let calls = 200;
    for i in 0..calls {
        uac.send(
            proxy,
            &call(&uac, proxy, "+14155550123", &format!("swap-{i}")),
        );
    }
    // Every call reaches one of the two gateways (retransmissions are
    // counted once: by Call-ID).
    let mut reached = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reached.len() < calls && std::time::Instant::now() < deadline {
        for gw in [&a, &b] {
            while let Some((m, _)) = gw.recv(Duration::from_millis(5)) {
                if m.starts_with("INVITE ") {
                    reached.insert(header(&m, "Call-ID")[0].to_string());
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 10, "the table was swapped {swaps} times");
    assert_eq!(reached.len(), calls, "calls that reached a gateway");
    // A bad file is refused and the table in service stays.
    let bad = dir.join("bad.snap");
    std::fs::write(&bad, b"not a snapshot").unwrap();
    assert!(table.load(&bad).is_err());
    table.load(&to_a).unwrap();
    assert!(table.status().contains("a.snap"), "{}", table.status());
    table.load(&to_b).unwrap();
    assert!(table.status().contains("b.snap"), "{}", table.status());
    uac.send(proxy, &call(&uac, proxy, "+14155550123", "after-swap"));
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut seen = false;
    while !seen && std::time::Instant::now() < deadline {
        seen = b
            .recv(Duration::from_millis(50))
            .is_some_and(|(m, _)| m.starts_with("INVITE ") && m.contains("Call-ID: after-swap"));
    }
    assert!(
        seen,
        "the call after the swap went to the new table's gateway"
    );
    let reports = router.shutdown();
    assert!(
        reports.iter().all(|r| r.counters.lcr_routed > 0),
        "calls on every shard: {reports:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// gw1's `concurrent_cap` of 2 holds across both shards (each its share
/// of 1): of six answered calls at most two reach gw1, the rest gw2; once
/// gw1's calls end with a BYE, a new call reaches gw1 again.
#[test]
fn a_concurrent_call_cap_holds_across_shards_until_byes() {
    let dir = scratch_dir("concurrent");
    let (gw1, gw2) = (Peer::new(), Peer::new());
    let table = write_table(
        &dir,
        "t.snap",
        &format!(
            "id,address,concurrent_cap\ngw1,{},2\ngw2,{},0\n",
            gw1.addr, gw2.addr
        ),
        "group,prefix,targets\ncustomers,+1,gw1;gw2\n",
    );
    let router = lcr_router(&table, |_| {});
    let proxy = router.local_addrs()[0];
    let uac = Peer::new();
    let mut at_gw1 = Vec::new();
    for i in 0..6 {
        let call_id = format!("cc-{i}");
        uac.send(proxy, &call(&uac, proxy, "+14155550123", &call_id));
        uac.expect("SIP/2.0 100 Trying");
        // Whichever gateway got it answers; the call stays up.
        let mut tries = 0;
        let (inv, gw) = loop {
            tries += 1;
            assert!(tries < 100, "call {call_id} reached no gateway in 10 s");
            if let Some((m, _)) = gw1.recv(Duration::from_millis(50)) {
                if m.starts_with("INVITE ") {
                    break (m, &gw1);
                }
            }
            if let Some((m, _)) = gw2.recv(Duration::from_millis(50)) {
                if m.starts_with("INVITE ") {
                    break (m, &gw2);
                }
            }
        };
        gw.send(proxy, &respond(&inv, 200, "OK", gw.addr));
        uac.expect("SIP/2.0 200 OK");
        if std::ptr::eq(gw, &gw1) {
            at_gw1.push(call_id);
        }
    }
    assert!(
        (1..=2).contains(&at_gw1.len()),
        "gw1 took {} calls at once with a cap of 2",
        at_gw1.len()
    );
    let rr = format!("<sip:{proxy};lr>");
    for (i, call_id) in at_gw1.iter().enumerate() {
        let bye = trunkline_tests::in_dialog(
            &uac,
            gw1.addr,
            "BYE",
            2,
            call_id,
            &format!("z9hG4bK-bye{i}"),
            Some(&rr),
        );
        uac.send(proxy, &bye);
        gw1.expect("BYE ");
    }
    uac.send(proxy, &call(&uac, proxy, "+14155550123", "cc-after"));
    gw1.expect("INVITE ");
    router.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gateway given by host name (`localhost`) is resolved when the table
/// is loaded and gets the call; one whose name does not resolve is left
/// out (the call fails over past it).
#[test]
fn gateways_given_by_host_name_are_resolved_at_load() {
    let dir = scratch_dir("names");
    let gw = Peer::new();
    let table = write_table(
        &dir,
        "t.snap",
        &format!(
            "id,address\nnowhere,no-such-host.invalid:5060\nnamed,localhost:{}\n",
            gw.addr.port()
        ),
        "group,prefix,targets\ncustomers,+1,nowhere;named\n",
    );
    let router = lcr_router(&table, |_| {});
    let proxy = router.local_addrs()[0];
    let uac = Peer::new();
    uac.send(proxy, &call(&uac, proxy, "+14155550123", "lcr-names"));
    uac.expect("SIP/2.0 100 Trying");
    let inv = gw.expect("INVITE sip:+14155550123@");
    assert!(
        inv.starts_with(&format!(
            "INVITE sip:+14155550123@127.0.0.1:{};user=phone SIP/2.0",
            gw.addr.port()
        )),
        "{inv}"
    );
    router.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gateway's host name is resolved again by the router's refresher
/// thread: a new address is used by the next call without a table push; a
/// lookup that fails keeps the address the name had.
#[test]
fn gateway_names_are_re_resolved_while_the_table_stays() {
    use std::sync::Mutex;
    use std::sync::mpsc::channel;

    let dir = scratch_dir("reresolve");
    let table = write_table(
        &dir,
        "t.snap",
        "id,address\nmoving,gw.example.test:5080\n",
        "group,prefix,targets\ncustomers,+1,moving\n",
    );
    let answer: Arc<Mutex<Option<IpAddr>>> =
        Arc::new(Mutex::new(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))));
    let seen = Arc::clone(&answer);
    // Each lookup says so: the test waits for lookups, not for time.
    let (asked, lookups) = channel::<()>();
    let asked = Mutex::new(asked);
    let resolver: trunkline_engine::dns::Resolver = Arc::new(move |host, port| {
        let _ = asked.lock().unwrap().send(());
        if host != "gw.example.test" {
            return Err(format!("{host}: not in this test's DNS"));
        }
        assert_eq!(port, Some(5080));
        match *seen.lock().unwrap() {
            Some(ip) => Ok(Resolved::addresses([ip], 5080)),
            None => Err("timed out".to_string()),
        }
    });
    let mut cfg = config(None);
    cfg.routing = Some(RoutingConfig {
        resolve_every: Duration::from_millis(20),
        ..RoutingConfig::new(table.clone())
    });
    let router = RouterBuilder::new(cfg)
        .resolver(resolver)
        .start()
        .expect("router starts");
    let lcr = Arc::clone(router.table().expect("a table"));
    let dest = || route_us_call(&lcr).map(|out| out[0].dest);
    assert_eq!(dest(), Ok("192.0.2.1:5080".parse().unwrap()));

    // Nothing changed: nothing published.
    assert_eq!(lcr.refresh_names(), None);
    // The name moves: the refresher thread picks it up. A lookup that
    // starts after one that saw the new address has finished means that
    // one's result is published.
    *answer.lock().unwrap() = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    while lookups.try_recv().is_ok() {}
    for _ in 0..2 {
        lookups
            .recv_timeout(Duration::from_secs(5))
            .expect("the refresher looks the name up");
    }
    let moved: SocketAddr = "192.0.2.2:5080".parse().unwrap();
    assert_eq!(dest(), Ok(moved));
    // DNS fails: the last address stays in service.
    *answer.lock().unwrap() = None;
    assert_eq!(lcr.refresh_names(), None);
    assert_eq!(dest(), Ok(moved));
    router.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gateway name with several addresses: a call tries each of them, from
/// a different first one per call, before the next gateway; all of them
/// count against the one gateway's caps.
#[test]
fn a_gateway_name_with_several_addresses_is_tried_at_each() {
    use std::collections::HashSet;

    let dir = scratch_dir("multi-a");
    let table = write_table(
        &dir,
        "t.snap",
        "id,address,concurrent_cap\ncluster,sip.example.test:5080,10\nbackup,192.0.2.99,\n",
        "group,prefix,targets\ncustomers,+1,cluster;backup\n",
    );
    let hosts: Vec<IpAddr> = (1..=3)
        .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)))
        .collect();
    let answer = hosts.clone();
    let router = LcrTable::open(
        &table,
        404,
        Arc::new(move |host, port| {
            assert_eq!((host, port), ("sip.example.test", Some(5080)));
            Ok(Resolved::addresses(answer.clone(), 5080))
        }),
    )
    .unwrap();
    let backup: SocketAddr = "192.0.2.99:5060".parse().unwrap();
    let mut firsts = HashSet::new();
    for _ in 0..12 {
        let out = route_us_call(&router).unwrap();
        let dests: Vec<SocketAddr> = out.iter().map(|t| t.dest).collect();
        assert_eq!(dests.len(), 4, "{dests:?}");
        // The three hosts, each once, in turn from the first, then the backup.
        let got: HashSet<IpAddr> = dests[..3].iter().map(|d| d.ip()).collect();
        assert_eq!(got, hosts.iter().copied().collect::<HashSet<_>>());
        assert!(dests[..3].iter().all(|d| d.port() == 5080));
        let at = hosts.iter().position(|h| *h == dests[0].ip()).unwrap();
        for (k, d) in dests[..3].iter().enumerate() {
            assert_eq!(d.ip(), hosts[(at + k) % 3], "{dests:?}");
        }
        assert_eq!(dests[3], backup);
        // One gateway, one set of caps.
        assert!(out[..3].iter().all(|t| t.cap_key == out[0].cap_key));
        assert!(out[..3].iter().all(|t| t.concurrent_limit == 10));
        assert_ne!(out[3].cap_key, out[0].cap_key);
        firsts.insert(dests[0]);
    }
    assert_eq!(firsts.len(), 3, "every host comes first in some calls");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gateway host name without a port gets its hops from SRV records
/// (RFC 3263 §4.2): every call tries the lowest priority first; within a
/// priority the first pick follows the weights (RFC 2782: 90 against 10,
/// a weight-0 record now and then), a record's addresses one after the
/// other; the next gateway after all of them; all under one gateway's caps.
#[test]
fn srv_hops_are_tried_by_priority_then_weight() {
    let dir = scratch_dir("srv");
    let table = write_table(
        &dir,
        "t.snap",
        "id,address,concurrent_cap\nsrv,gw.example.test,10\nbackup,192.0.2.99,\n",
        "group,prefix,targets\ncustomers,+1,srv;backup\n",
    );
    let hop = |addr: &str, priority, weight, record| Hop {
        addr: addr.parse().unwrap(),
        priority,
        weight,
        record,
    };
    // Given in no particular order (records numbered against priority
    // order): the router sorts them.
    let hops = vec![
        hop("192.0.2.30:5080", 20, 5, 0),
        hop("192.0.2.31:5080", 20, 5, 0),
        hop("192.0.2.1:5070", 10, 90, 1),
        hop("192.0.2.2:5071", 10, 10, 2),
        hop("192.0.2.3:5072", 10, 0, 3),
    ];
    let router = LcrTable::open(
        &table,
        404,
        Arc::new(move |host, port| {
            assert_eq!((host, port), ("gw.example.test", None));
            Ok(Resolved {
                srv: true,
                hops: hops.clone(),
            })
        }),
    )
    .unwrap();
    let ip = |d: &SocketAddr| match d.ip() {
        IpAddr::V4(v4) => v4.octets()[3],
        IpAddr::V6(_) => unreachable!(),
    };
    let (mut heavy, mut light, mut zero) = (0, 0, 0);
    for _ in 0..2000 {
        let out = route_us_call(&router).unwrap();
        let dests: Vec<SocketAddr> = out.iter().map(|t| t.dest).collect();
        assert_eq!(dests.len(), 6, "{dests:?}");
        // Priority 10's three records first, in some order, each at its port.
        let mut first: Vec<u8> = dests[..3].iter().map(ip).collect();
        first.sort();
        assert_eq!(first, [1, 2, 3], "{dests:?}");
        for d in &dests[..3] {
            assert_eq!(d.port(), 5069 + u16::from(ip(d)), "{dests:?}");
        }
        // Then priority 20's record, its two addresses together.
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            dests[3..5],
            [addr("192.0.2.30:5080"), addr("192.0.2.31:5080")],
            "{dests:?}"
        );
        assert_eq!(dests[5], addr("192.0.2.99:5060"));
        assert!(out[..5].iter().all(|t| t.cap_key == out[0].cap_key));
        assert!(out[..5].iter().all(|t| t.concurrent_limit == 10));
        assert_ne!(out[5].cap_key, out[0].cap_key);
        match ip(&dests[0]) {
            1 => heavy += 1,
            2 => light += 1,
            _ => zero += 1,
        }
    }
    // Weights 90 and 10 (and 0): the heavy one leads about 90% of calls.
    assert!((1500..=1900).contains(&heavy), "{heavy} {light} {zero}");
    assert!((100..=400).contains(&light), "{heavy} {light} {zero}");
    assert!((1..=60).contains(&zero), "{heavy} {light} {zero}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SRV records that all weigh 0 share the calls evenly (RFC 2782 leaves
/// their order open; taking the first every time would send it all).
#[test]
fn srv_records_of_weight_zero_share_the_calls() {
    let dir = scratch_dir("srv-zero");
    let table = write_table(
        &dir,
        "t.snap",
        "id,address\nsrv,gw.example.test\n",
        "group,prefix,targets\ncustomers,+1,srv\n",
    );
    let hops: Vec<Hop> = (1..=3)
        .map(|i| Hop {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)), 5060),
            priority: 10,
            weight: 0,
            record: u16::from(i),
        })
        .collect();
    let router = LcrTable::open(
        &table,
        404,
        Arc::new(move |_, _| {
            Ok(Resolved {
                srv: true,
                hops: hops.clone(),
            })
        }),
    )
    .unwrap();
    let mut first = [0u32; 3];
    for _ in 0..3000 {
        let out = route_us_call(&router).unwrap();
        assert_eq!(out.len(), 3);
        let IpAddr::V4(v4) = out[0].dest.ip() else {
            unreachable!()
        };
        first[usize::from(v4.octets()[3]) - 1] += 1;
    }
    assert!(
        first.iter().all(|&n| (800..=1200).contains(&n)),
        "{first:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Only a host name written without a port is asked for SRV; one whose
/// SRV records all say `.` (not available here) is skipped, and one whose
/// lookup fails keeps the hops it had.
#[test]
fn only_a_name_without_a_port_is_asked_for_srv() {
    use std::sync::Mutex;

    let dir = scratch_dir("srv-port");
    let table = write_table(
        &dir,
        "t.snap",
        "id,address\nported,gw.example.test:5080\ndown,down.example.test\nbare,gw.example.test\n",
        "group,prefix,targets\ncustomers,+1,ported;down;bare\n",
    );
    type Asked = Vec<(String, Option<u16>)>;
    let asked: Arc<Mutex<Asked>> = Arc::default();
    let failing = Arc::new(AtomicBool::new(false));
    let (log, fail) = (Arc::clone(&asked), Arc::clone(&failing));
    let router = LcrTable::open(
        &table,
        404,
        Arc::new(move |host, port| {
            log.lock().unwrap().push((host.to_string(), port));
            if fail.load(Ordering::SeqCst) {
                return Err("timed out".to_string());
            }
            let srv = |hops: Vec<Hop>| Ok(Resolved { srv: true, hops });
            match (host, port) {
                ("gw.example.test", Some(p)) => Ok(Resolved::addresses(
                    [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))],
                    p,
                )),
                ("gw.example.test", None) => srv(vec![Hop {
                    addr: "192.0.2.2:5070".parse().unwrap(),
                    priority: 0,
                    weight: 0,
                    record: 0,
                }]),
                ("down.example.test", None) => srv(Vec::new()),
                other => panic!("asked for {other:?}"),
            }
        }),
    )
    .unwrap();
    let mut asked_now = asked.lock().unwrap().clone();
    asked_now.sort();
    assert_eq!(
        asked_now,
        [
            ("down.example.test".to_string(), None),
            ("gw.example.test".to_string(), None),
            ("gw.example.test".to_string(), Some(5080)),
        ]
    );
    let dests = |router: &LcrTable| {
        let out = route_us_call(router).unwrap();
        out.iter().map(|t| t.dest).collect::<Vec<SocketAddr>>()
    };
    let want: Vec<SocketAddr> = vec![
        "192.0.2.1:5080".parse().unwrap(),
        "192.0.2.2:5070".parse().unwrap(),
    ];
    assert_eq!(dests(&router), want);
    // DNS fails: every gateway keeps its hops, the `.` one stays out.
    failing.store(true, Ordering::SeqCst);
    assert_eq!(router.refresh_names(), None);
    assert_eq!(dests(&router), want);
    let _ = std::fs::remove_dir_all(&dir);
}
