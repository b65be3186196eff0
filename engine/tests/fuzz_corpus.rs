//! Replays proxy-core scripts through the fuzz target's driver
//! (`fuzz/src/lib.rs`, included below), so CI exercises it on stable,
//! without cargo-fuzz: the seed scripts built here (whole calls through
//! least-cost routing across address families, a next hop by host name,
//! CANCEL, garbage) and every file in `tests/fuzz_corpus/` (`corpus-*`:
//! a sample of a 10-minute fuzzing run's corpus; `crash-*`: minimised
//! inputs that once failed a check).
//!
//! `TRUNKLINE_WRITE_SEEDS=DIR cargo test -p trunkline-engine --test
//! fuzz_corpus` also writes the seeds to DIR, to start a fuzzing run from.

use std::fs;
use std::path::Path;

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod driver;

use driver::{op_advance, op_answer, op_datagram, op_respond};
use trunkline_engine::testkit::addr;
use trunkline_engine::testkit::sip::UacCall;

const CALLER: u8 = 0;
const GW6: u8 = 2;

/// The caller's call `call_id` to `ruri` (the test kit's UAC).
fn call(ruri: &str, call_id: &str) -> UacCall {
    UacCall {
        from_tag: "a1".into(),
        ..UacCall::new(addr("192.0.2.10:5060"), ruri, call_id)
    }
}

fn invite(ruri: &str, call_id: &str) -> String {
    call(ruri, call_id).invite(&format!("z9hG4bK{call_id}"))
}

/// A request in the dialog of `call_id` from `via`, through `route`.
fn in_dialog(method: &str, cseq: u32, ruri: &str, route: &str, call_id: &str, via: &str) -> String {
    let c = UacCall {
        uac: addr(via),
        rport: false,
        ..call(ruri, call_id)
    };
    let branch = format!("z9hG4bK{call_id}{method}");
    c.request(method, cseq, &branch, Some("gw1"), Some(route))
}

/// The seed scripts, by name.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();

    // A call routed by the table to the IPv6 gateway, answered, ended by
    // the caller, in stateful mode with record-routing.
    let mut s = vec![0];
    op_datagram(
        &mut s,
        CALLER,
        invite("sip:+14155550123@192.0.2.1", "lcr1").as_bytes(),
    );
    op_respond(&mut s, 1, true); // 180
    op_respond(&mut s, 3, true); // 200
    let back = "<sip:192.0.2.1:5060;lr;r2=on>, <sip:[2001:db8::a]:5060;lr;r2=on>";
    let gw = "sip:gw@[2001:db8::1]:5060";
    op_datagram(
        &mut s,
        CALLER,
        in_dialog("ACK", 1, gw, back, "lcr1", "192.0.2.10:5060").as_bytes(),
    );
    op_datagram(
        &mut s,
        CALLER,
        in_dialog("BYE", 2, gw, back, "lcr1", "192.0.2.10:5060").as_bytes(),
    );
    op_respond(&mut s, 3, true);
    op_advance(&mut s, 5000);
    out.push(("seed-lcr-call-across-families", s));

    // The first gateway fails with 503, the second times out.
    let mut s = vec![0];
    op_datagram(
        &mut s,
        CALLER,
        invite("sip:+4420@192.0.2.1", "lcr2").as_bytes(),
    );
    op_respond(&mut s, 13, true); // 503
    op_advance(&mut s, 12_750);
    op_advance(&mut s, 12_750);
    op_advance(&mut s, 12_750);
    out.push(("seed-lcr-failover", s));

    // A BYE whose next hop is a host name: parked, answered, forwarded.
    let mut s = vec![0];
    let route = "<sip:192.0.2.1:5060;lr>";
    let bye = in_dialog(
        "BYE",
        5,
        "sip:bob@sbc.example.net:5070",
        route,
        "dns1",
        "192.0.2.10:5060",
    );
    op_datagram(&mut s, CALLER, bye.as_bytes());
    op_answer(&mut s, 2);
    op_respond(&mut s, 3, false);
    let bye = in_dialog(
        "BYE",
        6,
        "sip:bob@nx.example.net",
        route,
        "dns2",
        "192.0.2.10:5060",
    );
    op_datagram(&mut s, CALLER, bye.as_bytes());
    op_answer(&mut s, 0);
    out.push(("seed-next-hop-by-name", s));

    // An INVITE to a name with two addresses: the first answers 503.
    let mut s = vec![0];
    // (Routed past us: an initial INVITE by Request-URI would go to the
    // table.)
    let inv = invite("sip:bob@example.com", "dns3").replace(
        "Max-Forwards: 70\r\n",
        "Route: <sip:192.0.2.1:5060;lr>, <sip:sbc.example.net;lr>\r\nMax-Forwards: 70\r\n",
    );
    op_datagram(&mut s, CALLER, inv.as_bytes());
    op_answer(&mut s, 2);
    op_respond(&mut s, 13, true); // 503
    op_respond(&mut s, 3, true); // 200 from the second
    out.push(("seed-invite-to-a-names-addresses", s));

    // A routed INVITE, cancelled after a provisional.
    let mut s = vec![0];
    let inv = invite("sip:+33@192.0.2.1", "can1");
    op_datagram(&mut s, CALLER, inv.as_bytes());
    op_respond(&mut s, 1, true);
    let cancel = inv
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    op_datagram(&mut s, CALLER, cancel.as_bytes());
    op_respond(&mut s, 3, true); // 200 to the CANCEL
    op_advance(&mut s, 500);
    out.push(("seed-cancel", s));

    // Stateless, without record-routing: the same request, and a BYE from
    // the IPv6 gateway.
    let mut s = vec![3];
    op_datagram(
        &mut s,
        CALLER,
        invite("sip:bob@[2001:db8::1]:5060", "sl1").as_bytes(),
    );
    op_respond(&mut s, 3, true);
    let bye = in_dialog(
        "BYE",
        1,
        "sip:alice@192.0.2.10:5060",
        "<sip:[2001:db8::a]:5060;lr>",
        "sl1",
        "[2001:db8::1]:5060",
    );
    op_datagram(&mut s, GW6, bye.as_bytes());
    out.push(("seed-stateless", s));

    // Garbage and a truncated request.
    let mut s = vec![0];
    op_datagram(&mut s, CALLER, b"\x00\xffINVITE \r\n\r\n");
    op_datagram(
        &mut s,
        CALLER,
        &invite("sip:+1@192.0.2.1", "cut").as_bytes()[..120],
    );
    out.push(("seed-garbage", s));
    out
}

#[test]
fn seeds_and_corpus_replay_clean() {
    let seeds = seeds();
    if let Ok(dir) = std::env::var("TRUNKLINE_WRITE_SEEDS") {
        fs::create_dir_all(&dir).unwrap();
        for (name, s) in &seeds {
            fs::write(Path::new(&dir).join(name), s).unwrap();
        }
    }
    for (name, s) in &seeds {
        let c = std::panic::catch_unwind(|| driver::run(s))
            .unwrap_or_else(|_| panic!("seed {name} failed a check"));
        // Each seed reaches what it is for (a driver that silently did
        // nothing would replay "clean").
        let reached = match *name {
            "seed-lcr-call-across-families" => {
                c.lcr_routed == 1 && c.requests_forwarded >= 3 && c.responses_forwarded >= 3
            }
            "seed-lcr-failover" => c.lcr_failovers == 1,
            "seed-next-hop-by-name" => c.names_parked == 2 && c.requests_forwarded == 1,
            "seed-cancel" => {
                c.lcr_routed == 1 && c.local_replies >= 2 && c.responses_forwarded == 1
            }
            "seed-stateless" => c.requests_forwarded == 2 && c.responses_forwarded == 1,
            "seed-invite-to-a-names-addresses" => {
                c.names_failovers == 1 && c.responses_forwarded == 1
            }
            "seed-garbage" => c.parse_errors + c.invalid >= 1,
            _ => true,
        };
        assert!(reached, "seed {name}: {c:?}");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} corpus files", files.len());
    for path in &files {
        let data = fs::read(path).unwrap();
        let _ = std::panic::catch_unwind(|| driver::run(&data))
            .unwrap_or_else(|_| panic!("corpus file {} failed a check", path.display()));
    }
}

/// The seeds do what they are for: the call across families reaches the
/// IPv6 gateway by the IPv6 listener, and the BYE by name is forwarded.
/// (A driver that silently did nothing would replay "clean".)
#[test]
fn seeds_reach_the_paths_they_seed() {
    use trunkline_engine::dns::Resolved;
    use trunkline_engine::proxy::{LocalAddr, ProxyConfig};
    use trunkline_engine::testkit::VirtualNet;

    let mut cfg = ProxyConfig::new(addr(driver::LISTENERS[0]), None);
    cfg.locals
        .addrs
        .push(LocalAddr::from_socket(addr(driver::LISTENERS[1])));
    let mut net = VirtualNet::new(cfg);
    let bye = in_dialog(
        "BYE",
        5,
        "sip:bob@sbc.example.net:5070",
        "<sip:192.0.2.1:5060;lr>",
        "dns1",
        "192.0.2.10:5060",
    );
    net.from(driver::PEERS[0], &bye);
    let q = net.core.poll_name_query().expect("looked up");
    net.answer_name(&q, Ok(Resolved::of([addr("[2001:db8::7]:5070")])));
    let sent = net.take_sent();
    let [s] = sent.as_slice() else {
        panic!("one BYE forwarded: {sent:?}");
    };
    assert_eq!((s.dest, s.local), (addr("[2001:db8::7]:5070"), 1));
    assert!(s.bytes.starts_with(b"BYE sip:bob@sbc.example.net:5070 "));
}
