//! Every CSV problem is reported with its file and line, all of them in
//! one build.

use trunkline_routing_tables::{BuildErrorKind, BuildErrors, BuildInputs, Source, build};

fn errors(gw: &str, carriers: &str, rules: &str, dp: &str, acl: &str) -> BuildErrors {
    build(BuildInputs {
        gateways: Source::bytes("gw.csv", gw),
        rules: Source::bytes("rules.csv", rules),
        carriers: Some(Source::bytes("carriers.csv", carriers)),
        dialplan: Some(Source::bytes("dp.csv", dp)),
        acl: Some(Source::bytes("acl.csv", acl)),
    })
    .expect_err("the deck has errors")
}

const GW: &str = "id,address\ngw1,10.0.0.1\ngw2,10.0.0.2\n";
const C: &str = "id,gateways\nc1,gw1\n";
const R: &str = "group,prefix,targets\na,1,gw1\n";
const DP: &str = "group,match,pattern,replace\n";
const ACL: &str = "cidr,group\n";

fn lines(e: &BuildErrors) -> Vec<String> {
    e.errors.iter().map(|e| e.to_string()).collect()
}

#[test]
fn gateway_errors() {
    let gw = "id,address,transport,weight,probing\n\
              gw1,10.0.0.1,udp,1,yes\n\
              gw1,10.0.0.2,udp,1,yes\n\
              gw3,10.0.0.3:99999,udp,1,yes\n\
              gw4,10.0.0.4,sctp,1,yes\n\
              gw5,10.0.0.5,udp,-1,yes\n\
              gw6,10.0.0.6,udp,1,maybe\n\
              bad id,10.0.0.7,udp,1,yes\n";
    let e = errors(gw, C, R, DP, ACL);
    assert_eq!(
        lines(&e),
        [
            "gw.csv:3: duplicate id `gw1` (first defined at gw.csv:2)",
            "gw.csv:4: column `address`: bad port: `10.0.0.3:99999`",
            "gw.csv:5: column `transport`: expected udp, tcp or tls: `sctp`",
            "gw.csv:6: column `weight`: not a number in range: `-1`",
            "gw.csv:7: column `probing`: expected yes or no: `maybe`",
            "gw.csv:8: column `id`: ids are letters, digits and _ . - @ :: `bad id`",
        ]
    );
}

#[test]
fn rule_errors_all_reported() {
    let rules = "group,prefix,targets,window,priority\n\
                 a,+44,gw1,,1\n\
                 a,+44,gw2,,1\n\
                 a,+4x,gw1,,1\n\
                 a,1234567890123456789,gw1,,1\n\
                 a,1,nope,,1\n\
                 a,1,gw1;c1;ghost,,1\n\
                 a,2,gw1,someday 10:00-11:00,1\n\
                 a,3,gw1,,high\n\
                 ,4,gw1,,1\n\
                 a,+44,gw2,sat 10:00-11:00,1\n\
                 a,5,,,1\n";
    let e = errors(GW, C, rules, DP, ACL);
    let l = lines(&e);
    assert_eq!(
        l,
        [
            "rules.csv:4: column `prefix`: digits only, optionally after a leading +: `+4x`",
            "rules.csv:5: column `prefix`: longer than 18 digits: `1234567890123456789`",
            "rules.csv:6: unknown target `nope` (neither a gateway nor a carrier id)",
            "rules.csv:7: unknown target `ghost` (neither a gateway nor a carrier id)",
            "rules.csv:8: column `window`: unknown day (mon, tue, wed, thu, fri, sat, sun or *): `someday 10:00-11:00`",
            "rules.csv:9: column `priority`: not a number in range: `high`",
            "rules.csv:10: column `group`: empty: ``",
            "rules.csv:12: column `targets`: empty: ``",
            "rules.csv:3: duplicate rule: same group, prefix and priority as line 2, with overlapping time windows",
            "rules.csv:11: duplicate rule: same group, prefix and priority as line 2, with overlapping time windows",
        ]
    );
}

#[test]
fn carrier_dialplan_acl_and_header_errors() {
    let c =
        "id,gateways,order,use\nc1,gw1;gw9,ordered,all\ngw1,gw2,ordered,all\nc3,gw1,random,all\n";
    let dp =
        "group,match,pattern,replace\na,regex,^(0+,x\na,regex,^0(1),$2\na,glob,0,+\na,prefix,,+\n";
    let acl = "cidr,group\n10.0.0.1/8,a\n10.0.0.0/8,a\n10.0.0.0/8,b\n300.1.1.1,a\n";
    let e = errors(GW, c, R, dp, acl);
    let l = lines(&e);
    assert_eq!(l[0], "carriers.csv:2: unknown gateway `gw9`");
    assert!(
        l[1].starts_with("carriers.csv:3: duplicate id `gw1`"),
        "{}",
        l[1]
    );
    assert_eq!(
        l[2],
        "carriers.csv:4: column `order`: expected ordered or weighted: `random`"
    );
    assert!(l[3].starts_with("dp.csv:2: bad regex: `^(0+`"), "{}", l[3]);
    assert!(
        l[4].starts_with("dp.csv:3: bad regex: `$2`: replacement refers to $2"),
        "{}",
        l[4]
    );
    assert_eq!(
        l[5],
        "dp.csv:4: column `match`: expected prefix or regex: `glob`"
    );
    assert_eq!(l[6], "dp.csv:5: column `pattern`: empty: ``");
    assert_eq!(
        l[7],
        "acl.csv:2: column `cidr`: host bits set: `10.0.0.1/8`"
    );
    assert_eq!(l[8], "acl.csv:5: column `cidr`: bad address: `300.1.1.1`");
    assert_eq!(l[9], "acl.csv:4: duplicate CIDR (first at line 3)");
    assert_eq!(l.len(), 10);
}

#[test]
fn header_and_csv_structure_errors() {
    let e = errors(GW, C, "group,prefix,target\na,1,gw1\n", DP, ACL);
    assert!(matches!(
        e.errors[0].kind,
        BuildErrorKind::UnknownColumn(..)
    ));
    assert!(lines(&e)[0].starts_with("rules.csv:1: unknown column `target`"));
    let e = errors(GW, C, "group,prefix\na,1\n", DP, ACL);
    assert_eq!(
        lines(&e)[0],
        "rules.csv:1: missing column `targets` in the header row"
    );
    let e = errors(GW, C, "group,prefix,targets\na,1,gw1\na,2\n", DP, ACL);
    assert!(
        lines(&e)[0].starts_with("rules.csv:3: malformed CSV"),
        "{:?}",
        lines(&e)
    );
}

#[test]
fn many_errors_are_capped_and_counted() {
    let mut rules = String::from("group,prefix,targets\n");
    for i in 0..250 {
        rules.push_str(&format!("a,{i},missing\n"));
    }
    let e = errors(GW, C, &rules, DP, ACL);
    assert_eq!(e.errors.len(), BuildErrors::LIMIT);
    assert_eq!(e.more, 150);
    assert!(e.to_string().ends_with("… and 150 more"));
}
