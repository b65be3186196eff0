//! The dispatcher through the proxy core, on the virtual network: a
//! `[[policy]]` with only `dispatch = ID` sends every initial request to
//! a set's destinations, configured from TOML as an operator writes it;
//! weighted round-robin, failover, OPTIONS probing, parallel forking.

use std::path::Path;

use super::*;
use crate::config::Config;
use crate::dispatch::Dispatchers;
use crate::policy::{Policy, PolicyTable};
use crate::testkit::sip::first_line;

const PBX1: &str = "198.51.100.11:5060";
const PBX2: &str = "198.51.100.12:5060";
const PBX3: &str = "198.51.100.13:5060";

/// A proxy set up by the TOML `toml` (its `[[dispatcher]]` and
/// `[[policy]]`), with no default route.
fn dispatcher(toml: &str) -> Net {
    let cfg = Config::parse(toml, Path::new("pool.toml")).unwrap_or_else(|e| panic!("{e}"));
    let proxy = ProxyConfig::new(addr(PROXY), None);
    let services = Services {
        policy: Some(Arc::new(PolicyTable::new(
            Policy::compile(&cfg.policy).unwrap(),
        ))),
        dispatchers: Some(Arc::new(Dispatchers::new(cfg.dispatchers).unwrap())),
        ..Services::default()
    };
    Net::with_services(proxy, services)
}

fn pool(algorithm: &str, extra: &str) -> String {
    let extra = match extra.contains("probe_interval_ms") {
        true => extra.to_owned(),
        false => format!("probe_interval_ms = 0\n{extra}"),
    };
    format!(
        "[[dispatcher]]\nid = \"pbx\"\nalgorithm = \"{algorithm}\"\n\
         destinations = [\"sip:{PBX1};weight=2\", \"sip:{PBX2}\", \"sip:{PBX3}\"]\n\
         {extra}\n\
         [[policy]]\ndispatch = \"pbx\"\n"
    )
}

/// Call `i` to bob at the proxy: its INVITE.
fn invite_n(i: u32) -> String {
    UacCall::new(addr(UAC), &format!("sip:bob@{PROXY}"), &format!("c{i}-uac"))
        .invite(&format!("z9hG4bKd{i}"))
}

/// Where each message the proxy sent that was not to the UAC went.
fn forwarded(out: &[(SocketAddr, String)]) -> Vec<(SocketAddr, String)> {
    out.iter()
        .filter(|(d, _)| *d != addr(UAC))
        .cloned()
        .collect()
}

#[test]
fn every_initial_request_goes_to_the_set_by_weight() {
    let mut n = dispatcher(&pool("round-robin", ""));
    let mut counts = std::collections::HashMap::new();
    for i in 0..400 {
        n.from(UAC, &invite_n(i));
        let all = n.take();
        let out = forwarded(&all);
        assert_eq!(out.len(), 1, "{all:#?}");
        // The Request-URI is untouched: the destination is the next hop.
        assert!(
            out[0]
                .1
                .starts_with(&format!("INVITE sip:bob@{PROXY} SIP/2.0"))
        );
        *counts.entry(out[0].0).or_insert(0) += 1;
    }
    // Smooth weighted round-robin: exact shares over every cycle.
    assert_eq!(counts[&addr(PBX1)], 200);
    assert_eq!(counts[&addr(PBX2)], 100);
    assert_eq!(counts[&addr(PBX3)], 100);
    // A non-INVITE initial request goes to the set too.
    let msg = UacCall::new(addr(UAC), &format!("sip:bob@{PROXY}"), "m1-uac").request(
        "MESSAGE",
        1,
        "z9hG4bKm1",
        None,
        None,
    );
    n.from(UAC, &msg);
    let out = forwarded(&n.take());
    assert!(
        [addr(PBX1), addr(PBX2), addr(PBX3)].contains(&out[0].0),
        "{out:#?}"
    );
}

#[test]
fn a_failed_destination_fails_over_to_the_next() {
    let mut n = dispatcher(&pool("priority", ""));
    n.from(UAC, &invite_n(1));
    let out = forwarded(&n.take());
    assert_eq!(out[0].0, addr(PBX1));
    // 503 from the first: the same call goes to the second.
    n.from(
        PBX1,
        &respond(&out[0].1, 503, "Service Unavailable", Some("p1")),
    );
    let out = n.take();
    let next: Vec<_> = forwarded(&out)
        .into_iter()
        .filter(|(_, m)| m.starts_with("INVITE"))
        .collect();
    assert_eq!(next.len(), 1, "{out:#?}");
    assert_eq!(next[0].0, addr(PBX2));
    assert!(next[0].1.starts_with("INVITE "), "{}", next[0].1);
    assert_eq!(n.core.counters().dispatch_failovers, 1);
    // A 486 is the callee's answer, not the instance's: no failover.
    n.from(PBX2, &respond(&next[0].1, 486, "Busy Here", Some("p2")));
    let out = n.take();
    assert!(
        forwarded(&out)
            .iter()
            .all(|(_, m)| !m.starts_with("INVITE"))
    );
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(UAC) && first_line(m) == "SIP/2.0 486 Busy Here"),
        "{out:#?}"
    );
    // A timeout fails over too (408 is in the default codes).
    n.from(UAC, &invite_n(2));
    let out = forwarded(&n.take());
    assert_eq!(out[0].0, addr(PBX1));
    n.advance(Duration::from_secs(200)); // Timer C / B
    let later = forwarded(&n.take());
    assert!(
        later
            .iter()
            .any(|(d, m)| *d == addr(PBX2) && m.starts_with("INVITE")),
        "{later:#?}"
    );
}

#[test]
fn probes_take_a_silent_destination_out_and_bring_it_back() {
    let mut n = dispatcher(&pool(
        "priority",
        "down_after = 2\nup_after = 2\nprobe_interval_ms = 1000",
    ));
    // The first round starts with the traffic.
    n.from(UAC, &invite_n(1));
    let answer_probes = |n: &mut Net, out: &[(SocketAddr, String)], who: &[&str]| {
        for (d, m) in out {
            if m.starts_with("OPTIONS ") && who.iter().any(|w| addr(w) == *d) {
                let r = respond(m, 200, "OK", Some("x"));
                n.from(*d, &r);
            }
        }
    };
    let out = n.take();
    let probes = out
        .iter()
        .filter(|(_, m)| m.starts_with("OPTIONS "))
        .count();
    assert_eq!(probes, 3, "{out:#?}");
    // PBX1 stops answering; the others answer every round.
    answer_probes(&mut n, &out, &[PBX2, PBX3]);
    for _ in 0..3 {
        n.advance(Duration::from_millis(1000));
        let out = n.take();
        answer_probes(&mut n, &out, &[PBX2, PBX3]);
    }
    n.from(UAC, &invite_n(2));
    let out = forwarded(&n.take());
    let invite = out.iter().find(|(_, m)| m.starts_with("INVITE")).unwrap();
    assert_eq!(invite.0, addr(PBX2), "PBX1 is down: the next by priority");
    assert!(
        n.core
            .dispatcher_states()
            .contains(&("pbx".into(), addr(PBX1), false))
    );
    // It answers again: up after two answered rounds.
    for _ in 0..3 {
        n.advance(Duration::from_millis(1000));
        let out = n.take();
        answer_probes(&mut n, &out, &[PBX1, PBX2, PBX3]);
    }
    n.from(UAC, &invite_n(3));
    let out = forwarded(&n.take());
    let invite = out.iter().find(|(_, m)| m.starts_with("INVITE")).unwrap();
    assert_eq!(invite.0, addr(PBX1));
    assert!(n.core.counters().probes_sent >= 12);
}

#[test]
fn hashing_keeps_a_key_on_one_destination() {
    let mut n = dispatcher(&pool("hash-from-user", ""));
    let mut seen = None;
    for i in 0..20 {
        // The same caller each time, a new Call-ID.
        n.from(UAC, &invite_n(i));
        let out = forwarded(&n.take());
        match seen {
            None => seen = Some(out[0].0),
            Some(d) => assert_eq!(out[0].0, d),
        }
    }
}

#[test]
fn parallel_forks_to_all_and_cancels_the_losers() {
    let mut n = dispatcher(&pool("parallel", ""));
    n.from(UAC, &invite_n(1));
    let out = forwarded(&n.take());
    assert_eq!(out.len(), 3, "{out:#?}");
    // Everyone rings; PBX2 answers.
    for (d, m) in &out {
        n.from(*d, &respond(m, 180, "Ringing", Some("r")));
    }
    n.take();
    n.from(PBX2, &respond(&out[1].1, 200, "OK", Some("r")));
    let after = n.take();
    assert!(
        after
            .iter()
            .any(|(d, m)| *d == addr(UAC) && first_line(m) == "SIP/2.0 200 OK")
    );
    // §16.7 step 10: CANCEL to the branches still pending.
    let cancels: Vec<_> = after
        .iter()
        .filter(|(_, m)| m.starts_with("CANCEL "))
        .map(|(d, _)| *d)
        .collect();
    assert_eq!(cancels.len(), 2, "{after:#?}");
    assert!(cancels.contains(&addr(PBX1)) && cancels.contains(&addr(PBX3)));
    // A fork's branches are not failovers.
    assert_eq!(n.core.counters().dispatch_failovers, 0);
}

#[test]
fn config_names_the_set_a_policy_asks_for() {
    let bad = "[[policy]]\ndispatch = \"nope\"\n";
    let e = Config::parse(bad, Path::new("pool.toml")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("policy[0].dispatch"), "{e}");
    let bad = "[[dispatcher]]\nid = \"a\"\nalgorithm = \"round-robin\"\n\
               destinations = [\"sip:pbx.example:5060\"]\n";
    let e = Config::parse(bad, Path::new("pool.toml")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("dispatcher[0]"), "{e}");
    assert_eq!(e.line, 1, "{e}");
}

#[test]
fn a_replacing_request_goes_to_the_instance_holding_the_call() {
    let mut n = dispatcher(&pool("round-robin", ""));
    // Call 1 is answered by whichever destination took it.
    n.from(UAC, &invite_n(1));
    let out = forwarded(&n.take());
    let (holder, inv) = out[0].clone();
    n.from(holder, &respond(&inv, 200, "OK", Some("held")));
    n.take();
    // Whatever round-robin would pick next, a request with Replaces
    // naming call 1 goes to its holder (RFC 3891), five times over.
    for i in 2..7 {
        let replacing = invite_n(i).replacen(
            "Content-Type:",
            "Replaces: c1-uac;to-tag=held;from-tag=a-c1-uac\r\nContent-Type:",
            1,
        );
        n.from(UAC, &replacing);
        let out = forwarded(&n.take());
        assert_eq!(out[0].0, holder, "call {i}");
    }
    // A REFER whose Refer-To embeds the Replaces (escaped) too.
    let refer = UacCall::new(addr(UAC), &format!("sip:bob@{PROXY}"), "r1-uac")
        .request("REFER", 1, "z9hG4bKref1", None, None)
        .replacen(
            "Content-Length:",
            "Refer-To: <sip:carol@example.com?Replaces=c1-uac%3Bto-tag%3Dheld%3Bfrom-tag%3Da>\r\nContent-Length:",
            1,
        );
    n.from(UAC, &refer);
    let out = forwarded(&n.take());
    assert_eq!(out[0].0, holder);
    assert_eq!(n.core.counters().dispatch_sticky, 6);
    // The call's BYE ends the stickiness.
    let bye = UacCall::new(addr(UAC), &format!("sip:bob@{PROXY}"), "c1-uac").request(
        "BYE",
        2,
        "z9hG4bKbye1",
        Some("held"),
        None,
    );
    n.from(UAC, &bye);
    n.take();
    let mut seen = std::collections::HashSet::new();
    for i in 10..14 {
        let replacing = invite_n(i).replacen(
            "Content-Type:",
            "Replaces: c1-uac;to-tag=held;from-tag=a-c1-uac\r\nContent-Type:",
            1,
        );
        n.from(UAC, &replacing);
        seen.insert(forwarded(&n.take())[0].0);
    }
    assert!(seen.len() > 1, "round-robin again after the BYE");
}

/// A routing table whose one rule's gateway (index 7) stands for the
/// dispatcher set `pbx` (`attrs` `dispatch=pbx`).
#[derive(Debug)]
struct PoolRule;

impl crate::lcr::TargetSource for PoolRule {
    fn targets(
        &self,
        req: &crate::lcr::LcrRequest<'_>,
        out: &mut Vec<crate::lcr::Target>,
    ) -> Result<(), crate::lcr::NoRoute> {
        out.push(crate::lcr::Target::new(addr("192.0.2.99:5060"), 7, req.number).unwrap());
        Ok(())
    }

    fn source_group(&self, _: std::net::IpAddr) -> Option<crate::lcr::GroupName> {
        crate::lcr::GroupName::new("customers")
    }

    fn dispatch_set(&self, gateway: u32) -> Option<crate::lcr::GroupName> {
        (gateway == 7)
            .then(|| crate::lcr::dispatch_attr("quality=a;dispatch=pbx"))
            .flatten()
    }
}

#[test]
fn a_routing_rule_may_target_a_set() {
    let cfg = Config::parse(&pool("priority", ""), Path::new("pool.toml")).unwrap();
    let services = Services {
        targets: Some(Arc::new(PoolRule)),
        dispatchers: Some(Arc::new(Dispatchers::new(cfg.dispatchers).unwrap())),
        ..Services::default()
    };
    let mut n = Net::with_services(ProxyConfig::new(addr(PROXY), None), services);
    let number = "+14155550123";
    let call = UacCall::new(
        addr(UAC),
        &format!("sip:{number}@{PROXY};user=phone"),
        "l1-uac",
    );
    n.from(UAC, &call.invite("z9hG4bKl1"));
    let out = forwarded(&n.take());
    // The set's first by priority, with least-cost routing's Request-URI.
    assert_eq!(out[0].0, addr(PBX1), "{out:#?}");
    assert!(
        out[0].1.starts_with(&format!("INVITE sip:{number}@{PBX1}")),
        "{}",
        out[0].1
    );
    // 503: the set's next destination.
    n.from(
        PBX1,
        &respond(&out[0].1, 503, "Service Unavailable", Some("x")),
    );
    let next: Vec<_> = forwarded(&n.take())
        .into_iter()
        .filter(|(_, m)| m.starts_with("INVITE"))
        .collect();
    assert_eq!(next[0].0, addr(PBX2), "{next:#?}");
    assert!(crate::lcr::dispatch_attr("cli=required").is_none());
}

#[test]
fn a_gateway_of_a_snapshot_table_may_stand_for_a_set() {
    use trunkline_routing_tables::{BuildInputs, Source, build};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table.snap");
    let built = build(BuildInputs {
        gateways: Source::bytes(
            "gateways.csv",
            "id,address,transport,weight,probing,cps_cap,concurrent_cap,strip,prefix,attrs\n\
             POOL,192.0.2.99,udp,1,no,0,0,,,dispatch=pbx\n",
        ),
        carriers: None,
        rules: Source::bytes("rules.csv", "group,prefix,targets\ndefault,+1,POOL\n"),
        dialplan: None,
        acl: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    built.write(&path, 1_700_000_000).unwrap();
    let no_dns: crate::dns::Resolver = Arc::new(|h, _| Err(format!("{h}: no DNS here")));
    let table = Arc::new(crate::lcr::LcrTable::open(&path, 404, no_dns).unwrap());
    let cfg = Config::parse(&pool("round-robin", ""), Path::new("pool.toml")).unwrap();
    let services = Services {
        targets: Some(table),
        dispatchers: Some(Arc::new(Dispatchers::new(cfg.dispatchers).unwrap())),
        ..Services::default()
    };
    let mut n = Net::with_services(ProxyConfig::new(addr(PROXY), None), services);
    let mut seen = std::collections::HashSet::new();
    for i in 0..4 {
        let number = "+14155550123";
        let call = UacCall::new(
            addr(UAC),
            &format!("sip:{number}@{PROXY}"),
            &format!("t{i}-uac"),
        );
        n.from(UAC, &call.invite(&format!("z9hG4bKt{i}")));
        let out = forwarded(&n.take());
        assert!(
            out[0]
                .1
                .starts_with(&format!("INVITE sip:{number}@{}", out[0].0)),
            "{}",
            out[0].1
        );
        seen.insert(out[0].0);
    }
    // Round-robin over the pool, never the stand-in's own address.
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(!seen.contains(&addr("192.0.2.99:5060")));
}

#[test]
fn least_calls_counts_the_calls_of_every_shard() {
    use crate::dispatch::ShardDispatch;
    use trunkline_shards::{CallIdMinter, ShardId};
    let cfg = Config::parse(&pool("least-calls", ""), Path::new("pool.toml")).unwrap();
    let sets = Arc::new(Dispatchers::for_shards(cfg.dispatchers, 2).unwrap());
    let shard = |i: u16| ShardDispatch::new(sets.clone(), i, 7, CallIdMinter::new(ShardId(i), 7));
    let (mut a, mut b) = (shard(0), shard(1));
    // Shard 0 holds 4 calls on PBX1 and 1 on PBX2 (weights 2, 1, 1:
    // per weight 2, 1, 0).
    let held = |t: &crate::lcr::Target| match t.dest {
        d if d == addr(PBX1) => 4,
        d if d == addr(PBX2) => 1,
        _ => 0,
    };
    let now = std::time::Instant::now();
    a.publish(now, held);
    // Shard 1 holds none itself, and still picks PBX3 first, then PBX2's
    // and PBX1's tie by weight.
    let bytes = invite_n(1);
    let mut parser = trunkline_parser::Parser::default();
    let msg = parser.parse(bytes.as_bytes()).unwrap();
    let sum = trunkline_parser::validate(&msg).unwrap();
    let name = crate::lcr::GroupName::new("pbx").unwrap();
    let mut out = Vec::new();
    b.targets(now, &name, &msg, &sum, |_| 0, &mut out).unwrap();
    assert_eq!(out[0].dest, addr(PBX3), "{out:?}");
    // Before shard 0 published, shard 1 saw nothing: PBX1 (weight 2) first.
    let fresh = Arc::new(
        Dispatchers::for_shards(
            Config::parse(&pool("least-calls", ""), Path::new("pool.toml"))
                .unwrap()
                .dispatchers,
            2,
        )
        .unwrap(),
    );
    let mut c = ShardDispatch::new(fresh, 1, 7, CallIdMinter::new(ShardId(1), 7));
    c.targets(now, &name, &msg, &sum, |_| 0, &mut out).unwrap();
    assert_eq!(out[0].dest, addr(PBX1), "{out:?}");
}
