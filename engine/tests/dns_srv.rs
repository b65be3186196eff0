//! The hickory-backed gateway name resolver against a fake DNS server on
//! loopback (answers built with hickory-proto): SRV hops with their ports,
//! priorities and weights (RFC 3263 §4.2, RFC 2782), the fall back to A
//! records at 5060 for a name without SRV records, a `.` target, failures,
//! and no SRV query for a name written with a port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use trunkline_engine::dns::{DnsResolver, Hop, Resolved};

/// The zone the fake server serves: (name, record data).
fn zone() -> Vec<(&'static str, RData)> {
    let srv = |priority, weight, port, target: &str| {
        RData::SRV(SRV::new(
            priority,
            weight,
            port,
            Name::from_ascii(target).unwrap(),
        ))
    };
    let a = |a, b, c, d| RData::A(A(Ipv4Addr::new(a, b, c, d)));
    vec![
        // Two priorities; the 10s split 60/20; `a` has two addresses,
        // `b` an IPv6 one too.
        (
            "_sip._udp.gw.example.test.",
            srv(10, 60, 5070, "a.gw.example.test."),
        ),
        (
            "_sip._udp.gw.example.test.",
            srv(20, 0, 5080, "c.gw.example.test."),
        ),
        (
            "_sip._udp.gw.example.test.",
            srv(10, 20, 5071, "b.gw.example.test."),
        ),
        ("a.gw.example.test.", a(192, 0, 2, 1)),
        ("a.gw.example.test.", a(192, 0, 2, 2)),
        (
            "b.gw.example.test.",
            RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3))),
        ),
        ("b.gw.example.test.", a(192, 0, 2, 3)),
        ("c.gw.example.test.", a(192, 0, 2, 4)),
        // No SRV records: its A record, at 5060.
        ("plain.example.test.", a(192, 0, 2, 9)),
        // Only ever asked for with a port.
        ("ported.example.test.", a(192, 0, 2, 10)),
        // "Not available here".
        ("_sip._udp.down.example.test.", srv(0, 0, 0, ".")),
        ("down.example.test.", a(192, 0, 2, 11)),
        // An SRV record whose target does not resolve.
        (
            "_sip._udp.dangling.example.test.",
            srv(0, 0, 5060, "nowhere.example.test."),
        ),
    ]
}

/// A DNS server on 127.0.0.1 answering from [`zone`] (NXDOMAIN for names
/// it does not have, an empty answer for other types of names it has,
/// SERVFAIL for `broken.example.test`); every question it got is logged.
struct FakeDns {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<(String, RecordType)>>>,
}

impl FakeDns {
    fn start() -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        let zone = zone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut reply = Message::new();
                reply
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(query.op_code())
                    .set_recursion_desired(query.recursion_desired())
                    .set_recursion_available(true)
                    .set_authoritative(true);
                for q in query.queries() {
                    reply.add_query(q.clone());
                    let name = q.name().to_ascii().to_ascii_lowercase();
                    log.lock().unwrap().push((name.clone(), q.query_type()));
                    if name.starts_with("broken.") || name.contains(".broken.") {
                        reply.set_response_code(ResponseCode::ServFail);
                        continue;
                    }
                    let mut known = false;
                    for (n, data) in &zone {
                        if *n != name {
                            continue;
                        }
                        known = true;
                        if data.record_type() == q.query_type() {
                            reply.add_answer(Record::from_rdata(
                                q.name().clone(),
                                60,
                                data.clone(),
                            ));
                        }
                    }
                    if !known {
                        reply.set_response_code(ResponseCode::NXDomain);
                    }
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), from);
            }
        });
        FakeDns { addr, asked }
    }

    fn asked_for(&self, name: &str, kind: RecordType) -> bool {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .any(|(n, k)| n == name && *k == kind)
    }
}

fn hop(addr: &str, priority: u16, weight: u16) -> (SocketAddr, u16, u16) {
    (addr.parse().unwrap(), priority, weight)
}

#[test]
fn srv_records_give_the_hops_and_a_name_without_them_its_a_records() {
    let dns = FakeDns::start();
    let resolver = DnsResolver::with_name_servers(&[dns.addr]).unwrap();

    // SRV: every target's addresses, at the record's port, priority and
    // weight; a record's addresses share its record number.
    let found = resolver.resolve("gw.example.test", None).unwrap();
    assert!(found.srv, "{found:?}");
    let mut got: Vec<_> = found
        .hops
        .iter()
        .map(|h| (h.addr, h.priority, h.weight))
        .collect();
    got.sort();
    let mut want = vec![
        hop("192.0.2.1:5070", 10, 60),
        hop("192.0.2.2:5070", 10, 60),
        hop("192.0.2.3:5071", 10, 20),
        hop("[2001:db8::3]:5071", 10, 20),
        hop("192.0.2.4:5080", 20, 0),
    ];
    want.sort();
    assert_eq!(got, want, "{found:?}");
    let record = |ip: &str| {
        let ip: IpAddr = ip.parse().unwrap();
        found
            .hops
            .iter()
            .find(|h| h.addr.ip() == ip)
            .unwrap()
            .record
    };
    assert_eq!(record("192.0.2.1"), record("192.0.2.2"));
    assert_eq!(record("192.0.2.3"), record("2001:db8::3"));
    let records = [
        record("192.0.2.1"),
        record("192.0.2.3"),
        record("192.0.2.4"),
    ];
    assert!(records[0] != records[1] && records[1] != records[2] && records[0] != records[2]);
    // IPv4 first within a target.
    let b: Vec<&Hop> = found
        .hops
        .iter()
        .filter(|h| h.addr.port() == 5071)
        .collect();
    assert!(b[0].addr.is_ipv4() && b[1].addr.is_ipv6(), "{b:?}");
    assert!(dns.asked_for("_sip._udp.gw.example.test.", RecordType::SRV));

    // No SRV records: the A record, at 5060.
    let found = resolver.resolve("plain.example.test", None).unwrap();
    assert_eq!(
        found,
        Resolved::addresses(["192.0.2.9".parse().unwrap()], 5060)
    );
    assert!(!found.srv);
    assert!(dns.asked_for("_sip._udp.plain.example.test.", RecordType::SRV));

    // A port written: A/AAAA only, never SRV.
    let found = resolver.resolve("ported.example.test", Some(5090)).unwrap();
    assert_eq!(
        found,
        Resolved::addresses(["192.0.2.10".parse().unwrap()], 5090)
    );
    assert!(dns.asked_for("ported.example.test.", RecordType::A));
    assert!(!dns.asked_for("_sip._udp.ported.example.test.", RecordType::SRV));

    // A `.` target: not available here (no hops, not a failure), and its
    // A record is not used.
    let found = resolver.resolve("down.example.test", None).unwrap();
    assert_eq!(
        found,
        Resolved {
            srv: true,
            hops: Vec::new()
        }
    );

    // Failures are errors (the router keeps the hops it had): a name that
    // does not exist, an SRV target that does not resolve, a server
    // failure (no fall back to A records then).
    let e = resolver.resolve("missing.example.test", None).unwrap_err();
    assert!(e.contains("missing.example.test"), "{e}");
    let e = resolver.resolve("dangling.example.test", None).unwrap_err();
    assert!(e.contains("nowhere.example.test"), "{e}");
    let e = resolver.resolve("broken.example.test", None).unwrap_err();
    assert!(e.contains("_sip._udp.broken.example.test"), "{e}");
    assert!(!dns.asked_for("broken.example.test.", RecordType::A));
}

/// As a router's resolver: the same answers through the `Resolver` type.
#[test]
fn the_resolver_object_serves_as_a_table_routers_resolver() {
    let dns = FakeDns::start();
    let resolve = DnsResolver::with_name_servers(&[dns.addr])
        .unwrap()
        .into_resolver();
    let r = std::thread::spawn(move || resolve("plain.example.test", Some(5062)))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(
        r.hops[0].addr,
        "192.0.2.9:5062".parse::<SocketAddr>().unwrap()
    );
}

/// On the system configuration: a name in the hosts file gets its
/// addresses from it (`localhost`: 127.0.0.1, as `getaddrinfo` gives), and
/// `.invalid` names never resolve (RFC 6761), without a query.
#[test]
fn the_system_resolver_reads_the_hosts_file() {
    let r = DnsResolver::system().unwrap();
    let found = r.resolve("localhost", Some(5070)).unwrap();
    assert!(!found.srv);
    assert_eq!(
        found.hops[0].addr,
        "127.0.0.1:5070".parse::<SocketAddr>().unwrap(),
        "{found:?}"
    );
    assert!(r.resolve("no-such-host.invalid", Some(5060)).is_err());
}

/// A change to the hosts file (or resolv.conf) reaches the next lookup:
/// the resolver is made again, as `getaddrinfo` saw such edits at once.
#[test]
fn a_changed_hosts_file_reaches_the_next_lookup() {
    use std::time::{Duration, SystemTime};
    use trunkline_engine::dns::reloading_resolver;

    let dir = std::env::temp_dir().join(format!("tl-dns-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (resolv, hosts) = (dir.join("resolv.conf"), dir.join("hosts"));
    // The name is in the hosts file: no query reaches this name server.
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    std::fs::write(&hosts, "192.0.2.5 moved.example.test\n").unwrap();
    let (r, h) = (resolv.clone(), hosts.clone());
    let resolve = reloading_resolver(vec![resolv.clone(), hosts.clone()], move || {
        DnsResolver::from_files(&r, &h)
    });
    let first = |resolve: &trunkline_engine::dns::Resolver| {
        resolve("moved.example.test", Some(5080)).map(|r| r.hops[0].addr)
    };
    assert_eq!(first(&resolve), Ok("192.0.2.5:5080".parse().unwrap()));
    // Edited (a later modification time, whatever the clock's resolution).
    std::fs::write(&hosts, "192.0.2.6 moved.example.test\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&hosts)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    assert_eq!(first(&resolve), Ok("192.0.2.6:5080".parse().unwrap()));
    // A resolv.conf that cannot be read any more: the resolver in service stays.
    std::fs::remove_file(&resolv).unwrap();
    assert_eq!(first(&resolve), Ok("192.0.2.6:5080".parse().unwrap()));
    let _ = std::fs::remove_dir_all(&dir);
}
