//! Build small decks in memory and check lookups, dialplan, ACLs and
//! gateway expansion.

use std::net::IpAddr;

use trunkline_routing_tables::{
    At, BuildInputs, DialplanScratch, GatewayId, Snapshot, Source, WeekMinute, build,
};

const GATEWAYS: &str = "\
id,address,transport,weight,probing,cps_cap,concurrent_cap,strip,prefix,attrs
gw-a,10.0.0.1:5060,udp,10,yes,100,500,1,00,tier=1
gw-b,10.0.0.2,tcp,30,no,,,,,
gw-c,[2001:db8::1]:5080,tls,0,no,,,,,
gw-d,gw-d.example.net:5061,tls,1,yes,,,,,
";
const CARRIERS: &str = "\
id,gateways,order,use
cheap,gw-b;gw-c,weighted,all
premium,gw-d;gw-a,ordered,first
";
const RULES: &str = r#"group,prefix,targets,window,priority,attrs
retail,+44,gw-a,,10,
retail,+4420,cheap;gw-a,,10,london
retail,+4420,premium,mon-fri 08:00-18:00,5,business-hours
retail,+442079,gw-d,"sat,sun 00:00-24:00",1,weekend
wholesale,,gw-b,,0,default
wholesale,1,gw-c,,0,
"#;
const DIALPLAN: &str = "\
group,match,pattern,replace,priority
retail,prefix,00,+,10
retail,regex,^0([1-9][0-9]+)$,+44$1,20
";
const ACL: &str = "\
cidr,group
10.0.0.0/8,wholesale
10.1.0.0/16,retail
2001:db8::/32,retail
";

fn snapshot() -> Snapshot {
    let built = build(BuildInputs {
        gateways: Source::bytes("gw.csv", GATEWAYS),
        rules: Source::bytes("rules.csv", RULES),
        carriers: Some(Source::bytes("carriers.csv", CARRIERS)),
        dialplan: Some(Source::bytes("dp.csv", DIALPLAN)),
        acl: Some(Source::bytes("acl.csv", ACL)),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    Snapshot::from_bytes("mem", &built.to_bytes(1)).unwrap()
}

/// `DAY HH:MM` UTC in the week of Monday 2026-11-23.
fn at(s: &str) -> At {
    let m = WeekMinute::parse(s).unwrap();
    At::from_unix(1_795_392_000 + i64::from(m.day) * 86_400 + i64::from(m.minute) * 60)
}

#[test]
fn longest_prefix_priority_and_windows() {
    let s = snapshot();
    let t = s.table();
    let retail = t.group_id("retail").unwrap();
    let line = |n: &str, when: &str| s.lookup(retail, n, at(when)).map(|r| r.line());
    assert_eq!(line("+441234", "mon 10:00"), Some(2));
    // Business hours: the priority-5 rule; out of hours: priority 10.
    assert_eq!(line("+442071234567", "mon 10:00"), Some(4));
    assert_eq!(line("+442071234567", "mon 19:00"), Some(3));
    // Weekend rule on the longer prefix; on weekdays it falls back to +4420.
    assert_eq!(line("+442079000000", "sat 10:00"), Some(5));
    assert_eq!(line("+442079000000", "tue 19:00"), Some(3));
    assert_eq!(line("+33123", "mon 10:00"), None);
    assert_eq!(line("442071234567", "mon 10:00"), None);
    assert_eq!(line("+44x", "mon 10:00"), None);
    let r = s.lookup(retail, "+442071234567", at("mon 10:00")).unwrap();
    assert_eq!(r.prefix(), "+4420");
    assert_eq!(r.priority(), 5);
    assert_eq!(r.attrs(), "business-hours");
    assert_eq!(r.window().to_string(), "mon,tue,wed,thu,fri 08:00-18:00");
    let wholesale = t.group_id("wholesale").unwrap();
    let w = |n: &str| s.lookup(wholesale, n, at("mon 10:00")).map(|r| r.prefix());
    assert_eq!(w("1555").as_deref(), Some("1"));
    assert_eq!(w("2555").as_deref(), Some(""));
    assert_eq!(w("").as_deref(), Some(""));
    assert_eq!(w("+1555"), None);
}

#[test]
fn gateway_expansion() {
    let s = snapshot();
    let t = s.table();
    let retail = t.group_id("retail").unwrap();
    let ids = |r, seed| {
        let mut out = Vec::new();
        t.gateways_for(&r, seed, &mut out);
        out.iter()
            .map(|&g| t.gateway(g).unwrap().id.to_string())
            .collect::<Vec<_>>()
    };
    // premium: ordered, first only → gw-d.
    let r = s.lookup(retail, "+442071234567", at("mon 10:00")).unwrap();
    assert_eq!(ids(r, 0), ["gw-d"]);
    // cheap (weighted gw-b 30, gw-c 0 → gw-b first always), then gw-a.
    let r = s.lookup(retail, "+442071234567", at("mon 20:00")).unwrap();
    for seed in 0..50 {
        assert_eq!(ids(r, seed), ["gw-b", "gw-c", "gw-a"]);
    }
    let a = t.gateway(t.gateway_by_id("gw-a").unwrap()).unwrap();
    assert_eq!(a.address(), "10.0.0.1:5060");
    assert!(a.probing);
    assert_eq!(a.cps_cap, 100);
    let mut out = String::new();
    a.rewrite("+442071234567", &mut out);
    assert_eq!(out, "00442071234567");
    let c = t.gateway(GatewayId(2)).unwrap();
    assert_eq!(c.address(), "[2001:db8::1]:5080");
}

#[test]
fn dialplan_and_acl() {
    let s = snapshot();
    let t = s.table();
    let retail = t.group_id("retail").unwrap();
    let mut scratch = DialplanScratch::default();
    let d = s.apply_dialplan(retail, "00442071234567", &mut scratch);
    assert_eq!((d.number, d.rule), ("+442071234567", Some(0)));
    let d = s.apply_dialplan(retail, "02071234567", &mut scratch);
    assert_eq!((d.number, d.rule), ("+442071234567", Some(1)));
    let d = s.apply_dialplan(retail, "+15551234", &mut scratch);
    assert_eq!((d.number, d.rule), ("+15551234", None));
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let name = |a| t.group_for_source(ip(a)).and_then(|g| t.group_name(g));
    assert_eq!(name("10.2.3.4"), Some("wholesale"));
    assert_eq!(name("10.1.3.4"), Some("retail"));
    assert_eq!(name("::ffff:10.1.3.4"), Some("retail"));
    assert_eq!(name("2001:db8:1::5"), Some("retail"));
    assert_eq!(name("192.0.2.1"), None);
    assert_eq!(name("11.0.0.0"), None);
}
