//! The request policy on the virtual network: every condition and action,
//! from the configuration text to what goes out on the wire.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::Config;
use crate::proxy::{ProxyConfig, Services};
use crate::testkit::sip::{UacCall, first_line};
use crate::testkit::{VirtualNet, addr};

const PROXY: &str = "192.0.2.1:5060";
const UAS: &str = "192.0.2.20:5070";
const CALLER: &str = "192.0.2.10:5060";
const TRUNK: &str = "198.51.100.2:5060";

/// A proxy forwarding to the UAS under the `[[policy]]` rules in `toml`.
fn net(toml: &str) -> VirtualNet {
    let cfg = Config::parse(toml, Path::new("edge.toml")).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::compile(&cfg.policy).unwrap();
    let services = Services {
        policy: Some(Arc::new(PolicyTable::new(policy))),
        digest: Some(Arc::new(crate::proxy::DigestService::new(
            Arc::new(crate::auth::NonceKey::from_secret(&[7; 32])),
            Arc::new(crate::auth::SubscriberTable::new(
                crate::auth::Subscribers::empty(),
            )),
            crate::auth::AuthConfig::default(),
            crate::auth::BanConfig::default(),
            std::time::Instant::now(),
        ))),
        ..Services::default()
    };
    VirtualNet::with_services(ProxyConfig::new(addr(PROXY), Some(addr(UAS))), services)
}

/// A call from `from` (its From URI `sip:alice@FROM_HOST`) to `ruri`.
fn call(from: &str, from_host: &str, ruri: &str, id: &str) -> UacCall {
    UacCall::new(addr(from), ruri, id).with_from_host(from_host)
}

/// What `net` did with `msg` from `src`: the first line of what went back
/// to the sender, or `forwarded`, or `silence`.
fn outcome(n: &mut VirtualNet, src: &str, msg: &str) -> String {
    n.from(src, msg);
    let out = n.take();
    if let Some((_, m)) = out
        .iter()
        .find(|(d, m)| *d == addr(UAS) && !m.starts_with("SIP/"))
    {
        assert!(!m.is_empty());
        return "forwarded".into();
    }
    out.iter()
        .find(|(d, m)| *d == addr(src) && !m.starts_with("SIP/2.0 100 "))
        .map_or("silence".into(), |(_, m)| first_line(m).to_string())
}

const EDGE: &str = r#"
[[policy]]
name = "methods"
not_methods = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"]
reply = 405

[[policy]]
name = "scanners"
user_agent = "(?i)friendly-scanner|sipvicious|sipcli"
drop = true

[[policy]]
name = "trunks"
source = ["198.51.100.0/24"]
accept = true

[[policy]]
name = "ip-from"
from_host = '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$'
reply = 403
reason = "Use domain name in From"

[[policy]]
name = "preloaded-route"
has_route = true
reply = 403
reason = "Preloaded Route Refused"

[[policy]]
name = "retail"
ruri_user = '^\+44'
set_group = "uk"

[[policy]]
name = "auth"
methods = ["INVITE", "REGISTER"]
authenticate = "digest"

[auth]
subscribers = "subscribers.csv"
"#;

#[test]
fn the_edge_recipe_answers_drops_and_lets_through() {
    let mut n = net(EDGE);
    let to = format!("sip:bob@{UAS}");
    // A method we do not serve: 405.
    let msg = call(CALLER, "example.com", &to, "m1").request("MESSAGE", 1, "z9hG4bKm1", None, None);
    assert_eq!(
        outcome(&mut n, CALLER, &msg),
        "SIP/2.0 405 Method Not Allowed"
    );
    // A scanner: dropped, nothing answered, no state kept.
    let scan = call(CALLER, "example.com", &to, "s1")
        .request("OPTIONS", 1, "z9hG4bKs1", None, None)
        .replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nUser-Agent: friendly-scanner\r\n",
        );
    let live = n.core.live_transactions();
    assert_eq!(outcome(&mut n, CALLER, &scan), "silence");
    assert_eq!(
        n.core.live_transactions(),
        live,
        "a dropped request keeps no state"
    );
    // An IPv4 literal in From: 403 with the recipe's reason ...
    let inv = call(CALLER, "192.0.2.10", &to, "f1").invite("z9hG4bKf1");
    assert_eq!(
        outcome(&mut n, CALLER, &inv),
        "SIP/2.0 403 Use domain name in From"
    );
    // ... but not from a trusted trunk, which skips the rest.
    let inv = call(TRUNK, "198.51.100.2", &to, "f2").invite("z9hG4bKf2");
    assert_eq!(outcome(&mut n, TRUNK, &inv), "forwarded");
    // A preloaded Route past us from anyone else: 403.
    let routed = call(CALLER, "example.com", &to, "r1")
        .invite("z9hG4bKr1")
        .replacen(
            "Max-Forwards: 70\r\n",
            "Route: <sip:198.51.100.99;lr>\r\nMax-Forwards: 70\r\n",
            1,
        );
    assert_eq!(
        outcome(&mut n, CALLER, &routed),
        "SIP/2.0 403 Preloaded Route Refused"
    );
    // A Route to us only is not "past us".
    let via_us = call(CALLER, "example.com", &to, "r2")
        .invite("z9hG4bKr2")
        .replacen(
            "Max-Forwards: 70\r\n",
            &format!("Route: <sip:{PROXY};lr>\r\nMax-Forwards: 70\r\n"),
            1,
        );
    assert_eq!(
        outcome(&mut n, CALLER, &via_us),
        "SIP/2.0 407 Proxy Authentication Required"
    );
    // In-dialog requests through our Record-Route skip the policy (the
    // MESSAGE would get 405 otherwise) ...
    let in_dialog = call(CALLER, "example.com", &to, "d1").request(
        "MESSAGE",
        2,
        "z9hG4bKd1",
        Some("b1"),
        Some(&format!("<sip:{PROXY};lr>")),
    );
    assert_eq!(outcome(&mut n, CALLER, &in_dialog), "forwarded");
    // ... but a To tag alone does not.
    let forged =
        call(CALLER, "example.com", &to, "d2").request("MESSAGE", 2, "z9hG4bKd2", Some("b1"), None);
    assert_eq!(
        outcome(&mut n, CALLER, &forged),
        "SIP/2.0 405 Method Not Allowed"
    );

    let hits: Vec<(String, &str, u64)> = n.core.policy_hits();
    let get = |name: &str| hits.iter().find(|h| h.0 == name).map(|h| (h.1, h.2));
    assert_eq!(get("methods"), Some(("reply", 2)));
    assert_eq!(get("scanners"), Some(("drop", 1)));
    assert_eq!(get("trunks"), Some(("accept", 1)));
    assert_eq!(get("ip-from"), Some(("reply", 1)));
    assert_eq!(get("preloaded-route"), Some(("reply", 1)));
    assert_eq!(
        get("auth"),
        Some(("authenticate", 1)),
        "only the INVITE through us"
    );
}

#[test]
fn conditions_on_uris_headers_sources_and_groups() {
    let rules = r#"
[[policy]]
from_user = "^mallory$"
reply = 403

[[policy]]
to_user = "^blocked$"
reply = 404

[[policy]]
ruri_host = '(?i)^forbidden\.example$'
reply = 416

[[policy]]
header = { name = "X-Tenant", regex = "^evil$" }
reply = 402

[[policy]]
header = { name = "subject", regex = "spam" }
drop = true

[[policy]]
source = ["192.0.2.128/25", "2001:db8::/32"]
reply = 480
reason = "Not From There"

[[policy]]
ruri_user = '^\+1'
set_group = "gold"

[[policy]]
group = ["gold"]
reply = 486
"#;
    let mut n = net(rules);
    let to = format!("sip:bob@{UAS}");
    let inv = |c: UacCall, b: &str| c.invite(b);
    let mut mallory = call(CALLER, "example.com", &to, "u1");
    mallory.from_user = "mallory".into();
    assert_eq!(
        outcome(&mut n, CALLER, &inv(mallory, "z9hG4bKu1")),
        "SIP/2.0 403 Forbidden"
    );
    let blocked = call(CALLER, "example.com", "sip:blocked@192.0.2.20:5070", "u2");
    assert_eq!(
        outcome(&mut n, CALLER, &inv(blocked, "z9hG4bKu2")),
        "SIP/2.0 404 Not Found"
    );
    let host = call(CALLER, "example.com", "sip:bob@FORBIDDEN.example", "u3");
    assert_eq!(
        outcome(&mut n, CALLER, &inv(host, "z9hG4bKu3")),
        "SIP/2.0 416 Unsupported URI Scheme"
    );
    let tenant = inv(call(CALLER, "example.com", &to, "u4"), "z9hG4bKu4").replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nx-tenant: evil\r\n",
        1,
    );
    assert_eq!(
        outcome(&mut n, CALLER, &tenant),
        "SIP/2.0 402 Payment Required"
    );
    let spam = inv(call(CALLER, "example.com", &to, "u5"), "z9hG4bKu5").replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\ns: cheap spam here\r\n",
        1,
    );
    assert_eq!(
        outcome(&mut n, CALLER, &spam),
        "silence",
        "compact Subject too"
    );
    let far = "192.0.2.200:5060";
    assert_eq!(
        outcome(
            &mut n,
            far,
            &inv(call(far, "example.com", &to, "u6"), "z9hG4bKu6")
        ),
        "SIP/2.0 480 Not From There"
    );
    // set_group then a group condition: a rule further down sees it.
    let gold = call(CALLER, "example.com", "sip:+15551234@192.0.2.20:5070", "u7");
    assert_eq!(
        outcome(&mut n, CALLER, &inv(gold, "z9hG4bKu7")),
        "SIP/2.0 486 Busy Here"
    );
    // None of them: forwarded.
    assert_eq!(
        outcome(
            &mut n,
            CALLER,
            &inv(call(CALLER, "example.com", &to, "u8"), "z9hG4bKu8")
        ),
        "forwarded"
    );
}

#[test]
fn a_reload_swaps_the_rules_and_resets_their_counters() {
    let first = Config::parse(EDGE, Path::new("a.toml")).unwrap();
    let table = Arc::new(PolicyTable::new(Policy::compile(&first.policy).unwrap()));
    let services = Services {
        policy: Some(Arc::clone(&table)),
        ..Services::default()
    };
    let mut n = VirtualNet::with_services(ProxyConfig::new(addr(PROXY), Some(addr(UAS))), services);
    let to = format!("sip:bob@{UAS}");
    let msg = |id: &str| {
        call(CALLER, "example.com", &to, id).request(
            "MESSAGE",
            1,
            &format!("z9hG4bK{id}"),
            None,
            None,
        )
    };
    assert_eq!(
        outcome(&mut n, CALLER, &msg("a1")),
        "SIP/2.0 405 Method Not Allowed"
    );
    let second = Config::parse(
        "[[policy]]\nname = \"all\"\nmethods = [\"MESSAGE\"]\nreply = 488\n",
        Path::new("b.toml"),
    )
    .unwrap();
    table.replace(Policy::compile(&second.policy).unwrap());
    assert_eq!(
        outcome(&mut n, CALLER, &msg("a2")),
        "SIP/2.0 488 Not Acceptable Here"
    );
    assert_eq!(n.core.policy_hits(), [("all".to_string(), "reply", 1)]);
    // No rules at all: everything goes on.
    table.replace(Policy::default());
    assert_eq!(outcome(&mut n, CALLER, &msg("a3")), "forwarded");
}

#[test]
fn bad_rules_are_refused_naming_file_line_and_key() {
    let e = |toml: &str| Config::parse(toml, Path::new("edge.toml")).unwrap_err();
    let err = e("[[policy]]\nuser_agent = \"(unclosed\"\ndrop = true\n");
    assert_eq!(
        (err.line, err.key.as_deref()),
        (2, Some("policy[0].user_agent"))
    );
    let err = e("[[policy]]\nreply = 403\n\n[[policy]]\nsource = [\"10.0.0.0/40\"]\ndrop = true\n");
    assert_eq!(
        (err.line, err.key.as_deref()),
        (5, Some("policy[1].source"))
    );
    assert!(err.message.contains("10.0.0.0/40"), "{err}");
    let err = e("[[policy]]\nreply = 200\n");
    assert_eq!(err.key.as_deref(), Some("policy[0].reply"));
    let err = e("[[policy]]\nreply = 403\ndrop = true\n");
    assert_eq!((err.line, err.key.as_deref()), (3, Some("policy[0].drop")));
    assert!(err.message.contains("one action per rule"), "{err}");
    let err = e("[[policy]]\nmethods = [\"INVITE\"]\n");
    assert!(err.message.contains("needs one action"), "{err}");
    let err = e("[[policy]]\nauthenticate = \"basic\"\n");
    assert_eq!(err.key.as_deref(), Some("policy[0].authenticate"));
    let err = e("[[policy]]\nmethods = [\"IN VITE\"]\ndrop = true\n");
    assert_eq!(err.key.as_deref(), Some("policy[0].methods"));
    let err = e("[[policy]]\nreason = \"x\"\ndrop = true\n");
    assert_eq!(err.key.as_deref(), Some("policy[0].reason"));
    let err = e("[[policy]]\nfrobnicate = 1\ndrop = true\n");
    assert_eq!(err.line, 2);
    assert!(err.message.contains("frobnicate"), "{err}");
    let err = e("[[policy]]\nheader = { name = \"Bad:Name\", regex = \"x\" }\ndrop = true\n");
    assert_eq!(err.key.as_deref(), Some("policy[0].header.name"));
}
