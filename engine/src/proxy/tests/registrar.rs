//! The registrar through the proxy core, on the virtual network: REGISTER
//! for our domain answered here (RFC 3261 §10.3), requests for our AORs
//! forked to their bindings (§16.6, §16.7), 480 for an AOR without one.

use std::path::Path;

use super::*;
use crate::config::Config;
use crate::testkit::sip::first_line;

const DOMAIN: &str = "example.com";
const PHONE1: &str = "192.0.2.31:5060";
const PHONE2: &str = "192.0.2.32:5060";
/// A phone behind a NAT: its Contact says 10.0.0.7, it sends from here.
const NATED: &str = "203.0.113.40:40000";

/// A proxy that is the registrar of example.com, with `extra` in its
/// `[registrar]` table.
fn registrar(extra: &str) -> Net {
    let toml = format!("[registrar]\ndomains = [\"{DOMAIN}\"]\n{extra}\n");
    let cfg = Config::parse(&toml, Path::new("reg.toml")).unwrap_or_else(|e| panic!("{e}"));
    let proxy = ProxyConfig::new(addr(PROXY), None);
    let services = Services {
        registrar: cfg
            .registrar
            .map(|r| Arc::new(stages::registrar::Registrar::new(r, 1))),
        ..Services::default()
    };
    Net::with_services(proxy, services)
}

/// A REGISTER of `user` from `src` with `contact` (a Contact value).
fn register(user: &str, src: &str, contact: &str, call_id: &str, cseq: u32) -> String {
    format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
Via: SIP/2.0/UDP {src};branch=z9hG4bKr{call_id}{cseq};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@{DOMAIN}>;tag=r{cseq}\r\n\
To: <sip:{user}@{DOMAIN}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: {contact}\r\n\
Expires: 600\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// The answer `src` got to `msg`.
fn answer(n: &mut Net, src: &str, msg: &str) -> String {
    n.from(src, msg);
    let out = n.take();
    out.into_iter()
        .rev()
        .find(|(d, m)| *d == addr(src) && m.starts_with("SIP/2.0 ") && !m.contains(" 100 "))
        .map(|(_, m)| m)
        .unwrap_or_else(|| "silence".into())
}

/// An INVITE from the UAC to `user` at our domain.
fn call_to(user: &str, id: &str) -> String {
    UacCall::new(addr(UAC), &format!("sip:{user}@{DOMAIN}"), id).invite(&format!("z9hG4bK{id}"))
}

#[test]
fn register_then_call_reaches_the_contact() {
    let mut n = registrar("");
    let ok = answer(
        &mut n,
        PHONE1,
        &register("alice", PHONE1, &format!("<sip:alice@{PHONE1}>"), "reg1", 1),
    );
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK", "{ok}");
    // §10.3 step 8: the 200 lists the bindings, with their expiry.
    assert!(
        ok.contains(&format!("Contact: <sip:alice@{PHONE1}>;expires=600")),
        "{ok}"
    );
    n.from(UAC, &call_to("alice", "c1"));
    let out = n.take();
    let (dest, inv) = out
        .iter()
        .find(|(d, m)| *d != addr(UAC) && m.starts_with("INVITE"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(*dest, addr(PHONE1));
    // §16.5: the Request-URI is the contact.
    assert!(
        inv.starts_with(&format!("INVITE sip:alice@{PHONE1} SIP/2.0\r\n")),
        "{inv}"
    );
}

#[test]
fn an_unregistered_user_of_our_domain_gets_480() {
    let mut n = registrar("");
    let a = answer(&mut n, UAC, &call_to("nobody", "c2"));
    assert_eq!(first_line(&a), "SIP/2.0 480 Temporarily Unavailable", "{a}");
    let mut n = registrar("no_binding_code = 404");
    let a = answer(&mut n, UAC, &call_to("nobody", "c3"));
    assert_eq!(first_line(&a), "SIP/2.0 404 Not Found", "{a}");
}

#[test]
fn rules_of_register_through_the_core() {
    let mut n = registrar("min_expires = 120");
    // 423 with Min-Expires (§10.3 step 7).
    let short = register(
        "bob",
        PHONE1,
        &format!("<sip:bob@{PHONE1}>;expires=30"),
        "r2",
        1,
    );
    let a = answer(&mut n, PHONE1, &short);
    assert_eq!(first_line(&a), "SIP/2.0 423 Interval Too Brief", "{a}");
    assert!(a.contains("Min-Expires: 120\r\n"), "{a}");
    // Registered, then removed with `*` and Expires: 0.
    let a = answer(
        &mut n,
        PHONE1,
        &register("bob", PHONE1, &format!("<sip:bob@{PHONE1}>"), "r2", 2),
    );
    assert_eq!(first_line(&a), "SIP/2.0 200 OK", "{a}");
    // An older CSeq of the same Call-ID is out of order: 500.
    let old = register("bob", PHONE1, &format!("<sip:bob@{PHONE1}>"), "r2", 1)
        .replace("branch=z9hG4bKrr21", "branch=z9hG4bKanother");
    let a = answer(&mut n, PHONE1, &old);
    assert_eq!(first_line(&a).split(' ').nth(1), Some("500"), "{a}");
    let star = register("bob", PHONE1, "*", "r2", 3).replace("Expires: 600", "Expires: 0");
    let a = answer(&mut n, PHONE1, &star);
    assert_eq!(first_line(&a), "SIP/2.0 200 OK", "{a}");
    assert!(!a.contains("Contact:"), "{a}");
    let a = answer(&mut n, UAC, &call_to("bob", "c4"));
    assert_eq!(first_line(&a), "SIP/2.0 480 Temporarily Unavailable", "{a}");
}

#[test]
fn bindings_expire_on_the_shards_timer() {
    let mut n = registrar("min_expires = 60");
    let reg = register("carol", PHONE1, &format!("<sip:carol@{PHONE1}>"), "r3", 1)
        .replace("Expires: 600", "Expires: 60");
    assert_eq!(first_line(&answer(&mut n, PHONE1, &reg)), "SIP/2.0 200 OK");
    n.advance(Duration::from_secs(61));
    assert_eq!(n.core.registrar_counters().expired, 1);
    let a = answer(&mut n, UAC, &call_to("carol", "c5"));
    assert_eq!(first_line(&a), "SIP/2.0 480 Temporarily Unavailable", "{a}");
}

#[test]
fn parallel_fork_to_every_binding_cancels_the_losers() {
    let mut n = registrar("");
    for (i, phone) in [PHONE1, PHONE2].iter().enumerate() {
        let reg = register(
            "dave",
            phone,
            &format!("<sip:dave@{phone}>"),
            &format!("d{i}"),
            1,
        );
        assert_eq!(first_line(&answer(&mut n, phone, &reg)), "SIP/2.0 200 OK");
    }
    n.from(UAC, &call_to("dave", "c6"));
    let out = n.take();
    let invites: Vec<_> = out
        .iter()
        .filter(|(_, m)| m.starts_with("INVITE"))
        .cloned()
        .collect();
    assert_eq!(invites.len(), 2, "{out:#?}");
    for (d, m) in &invites {
        n.from(*d, &respond(m, 180, "Ringing", Some("x")));
    }
    n.take();
    // PHONE2 answers: 200 upstream, CANCEL to PHONE1 (§16.7 step 10).
    let (d2, m2) = invites.iter().find(|(d, _)| *d == addr(PHONE2)).unwrap();
    n.from(*d2, &respond(m2, 200, "OK", Some("y")));
    let out = n.take();
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(UAC) && first_line(m) == "SIP/2.0 200 OK")
    );
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(PHONE1) && m.starts_with("CANCEL ")),
        "{out:#?}"
    );
}

#[test]
fn serial_fork_tries_bindings_by_q() {
    let mut n = registrar("fork = \"serial\"");
    let low = register(
        "erin",
        PHONE1,
        &format!("<sip:erin@{PHONE1}>;q=0.5"),
        "e1",
        1,
    );
    let high = register(
        "erin",
        PHONE2,
        &format!("<sip:erin@{PHONE2}>;q=0.9"),
        "e2",
        1,
    );
    assert_eq!(first_line(&answer(&mut n, PHONE1, &low)), "SIP/2.0 200 OK");
    assert_eq!(first_line(&answer(&mut n, PHONE2, &high)), "SIP/2.0 200 OK");
    n.from(UAC, &call_to("erin", "c7"));
    let out = n.take();
    let first: Vec<_> = out
        .iter()
        .filter(|(_, m)| m.starts_with("INVITE"))
        .collect();
    assert_eq!(first.len(), 1, "{out:#?}");
    assert_eq!(first[0].0, addr(PHONE2), "highest q first");
    n.from(PHONE2, &respond(&first[0].1, 486, "Busy Here", Some("b")));
    let out = n.take();
    let next: Vec<_> = out
        .iter()
        .filter(|(_, m)| m.starts_with("INVITE"))
        .collect();
    assert_eq!(next.len(), 1, "{out:#?}");
    assert_eq!(next[0].0, addr(PHONE1));
}

#[test]
fn a_nated_binding_is_reached_at_its_source() {
    let mut n = registrar("");
    // Its Contact and Via name a private address; it sends from NATED.
    let reg = register(
        "frank",
        "10.0.0.7:5060",
        "<sip:frank@10.0.0.7:5060>",
        "f1",
        1,
    );
    assert_eq!(first_line(&answer(&mut n, NATED, &reg)), "SIP/2.0 200 OK");
    n.from(UAC, &call_to("frank", "c8"));
    let out = n.take();
    let inv = out.iter().find(|(_, m)| m.starts_with("INVITE")).unwrap();
    assert_eq!(inv.0, addr(NATED), "{out:#?}");
    assert!(inv.1.starts_with("INVITE sip:frank@10.0.0.7:5060 SIP/2.0"));
}

#[test]
fn a_pool_in_front_of_which_subscribers_register() {
    // The farm: the pool's calls reach the subscribers' bindings, every
    // other initial request goes to the pool (subscribers dialling
    // numbers at our domain included).
    let toml = format!(
        "[[dispatcher]]\nid = \"pbx\"\nalgorithm = \"round-robin\"\n\
         destinations = [\"sip:{PHONE2}\"]\nprobe_interval_ms = 0\n\
         [[policy]]\nsource = [\"{pool}/32\"]\naccept = true\n\
         [[policy]]\ndispatch = \"pbx\"\n\
         [registrar]\ndomains = [\"{DOMAIN}\"]\n",
        pool = addr(PHONE2).ip()
    );
    let cfg = Config::parse(&toml, Path::new("reg.toml")).unwrap_or_else(|e| panic!("{e}"));
    let services = Services {
        registrar: cfg
            .registrar
            .map(|r| Arc::new(stages::registrar::Registrar::new(r, 1))),
        policy: Some(Arc::new(crate::policy::PolicyTable::new(
            crate::policy::Policy::compile(&cfg.policy).unwrap(),
        ))),
        dispatchers: Some(Arc::new(
            crate::dispatch::Dispatchers::new(cfg.dispatchers).unwrap(),
        )),
        ..Services::default()
    };
    let mut n = Net::with_services(ProxyConfig::new(addr(PROXY), None), services);
    // REGISTER for our domain: answered here, not dispatched.
    let reg = register("gina", PHONE1, &format!("<sip:gina@{PHONE1}>"), "g1", 1);
    assert_eq!(first_line(&answer(&mut n, PHONE1, &reg)), "SIP/2.0 200 OK");
    // The pool calls gina: her contact. Nobody: 480.
    let pool_call = |user: &str, id: &str| {
        UacCall::new(addr(PHONE2), &format!("sip:{user}@{DOMAIN}"), id)
            .invite(&format!("z9hG4bK{id}"))
    };
    n.from(PHONE2, &pool_call("gina", "p1"));
    let out = n.take();
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(PHONE1) && m.starts_with("INVITE")),
        "{out:#?}"
    );
    let a = answer(&mut n, PHONE2, &pool_call("nobody", "p2"));
    assert_eq!(first_line(&a), "SIP/2.0 480 Temporarily Unavailable", "{a}");
    // gina dials a number at our domain: the pool.
    n.from(
        PHONE1,
        &UacCall::new(addr(PHONE1), &format!("sip:5551234@{DOMAIN}"), "g2").invite("z9hG4bKg2"),
    );
    let out = n.take();
    assert!(
        out.iter()
            .any(|(d, m)| *d == addr(PHONE2) && m.starts_with("INVITE")),
        "{out:#?}"
    );
}

#[test]
fn a_subscriber_registers_its_own_aor_only() {
    use crate::auth::{NonceKey, SubscriberTable, Subscribers};
    use crate::testkit::sip::digest_answer;
    let toml = format!(
        "[registrar]\ndomains = [\"{DOMAIN}\"]\n\
         [auth]\nsubscribers = \"s.csv\"\n\
         [[policy]]\nmethods = [\"REGISTER\"]\nauthenticate = \"digest\"\n"
    );
    let cfg = Config::parse(&toml, Path::new("reg.toml")).unwrap_or_else(|e| panic!("{e}"));
    let subscribers = Subscribers::from_csv(
        format!("user,domain,password\nalice,{DOMAIN},alice-secret\n").as_bytes(),
        "s.csv",
    )
    .unwrap();
    let now = std::time::Instant::now();
    let services = Services {
        registrar: cfg
            .registrar
            .map(|r| Arc::new(stages::registrar::Registrar::new(r, 1))),
        policy: Some(Arc::new(crate::policy::PolicyTable::new(
            crate::policy::Policy::compile(&cfg.policy).unwrap(),
        ))),
        digest: cfg.auth.as_ref().map(|a| {
            Arc::new(DigestService::new(
                Arc::new(NonceKey::from_secret(&[3; 32])),
                Arc::new(SubscriberTable::new(subscribers)),
                a.config,
                cfg.auth_bans,
                now,
            ))
        }),
        ..Services::default()
    };
    let mut n = Net::with_services(ProxyConfig::new(addr(PROXY), None), services);
    // As alice, for alice: 401, then 200. As alice, for bob: 403.
    for (aor, want) in [
        ("alice", "SIP/2.0 200 OK"),
        ("bob", "SIP/2.0 403 Not Your AOR"),
    ] {
        let reg = register(aor, PHONE1, &format!("<sip:{aor}@{PHONE1}>"), aor, 1);
        let challenge = answer(&mut n, PHONE1, &reg);
        assert!(
            first_line(&challenge).starts_with("SIP/2.0 401"),
            "{challenge}"
        );
        let creds = digest_answer(
            &challenge,
            "SHA-256",
            ("alice", "alice-secret"),
            "REGISTER",
            &format!("sip:{DOMAIN}"),
            1,
        );
        let retry = register(aor, PHONE1, &format!("<sip:{aor}@{PHONE1}>"), aor, 2).replacen(
            "Content-Length:",
            &format!("{creds}\r\nContent-Length:"),
            1,
        );
        let a = answer(&mut n, PHONE1, &retry);
        assert_eq!(first_line(&a), want, "{a}");
    }
}

#[test]
fn nated_bindings_get_keepalives_and_their_answers_are_absorbed() {
    let mut n = registrar("nat_keepalive_ms = 1000");
    let reg = register("hank", "10.0.0.8:5060", "<sip:hank@10.0.0.8:5060>", "h1", 1);
    assert_eq!(first_line(&answer(&mut n, NATED, &reg)), "SIP/2.0 200 OK");
    // A phone that is not behind a NAT gets none.
    let reg = register("ivy", PHONE1, &format!("<sip:ivy@{PHONE1}>"), "i1", 1);
    assert_eq!(first_line(&answer(&mut n, PHONE1, &reg)), "SIP/2.0 200 OK");
    n.advance(Duration::from_millis(2500));
    let out = n.take();
    let pings: Vec<_> = out
        .iter()
        .filter(|(_, m)| m.starts_with("OPTIONS "))
        .collect();
    assert!(!pings.is_empty(), "{out:#?}");
    assert!(pings.iter().all(|(d, _)| *d == addr(NATED)), "{pings:#?}");
    assert!(n.core.registrar_counters().keepalives >= 2);
    // Its answer is ours: absorbed, not relayed anywhere.
    n.from(NATED, &respond(&pings[0].1, 200, "OK", Some("k")));
    assert!(n.take().is_empty());
}

#[test]
fn a_register_to_our_address_is_for_the_domain_in_its_to() {
    let mut n = registrar("");
    // The UA knows the registrar by its address: REGISTER sip:PROXY.
    let reg = register("jane", PHONE1, &format!("<sip:jane@{PHONE1}>"), "j1", 1).replacen(
        &format!("REGISTER sip:{DOMAIN} "),
        &format!("REGISTER sip:{PROXY} "),
        1,
    );
    assert_eq!(first_line(&answer(&mut n, PHONE1, &reg)), "SIP/2.0 200 OK");
    n.from(UAC, &call_to("jane", "c12"));
    assert!(
        n.take()
            .iter()
            .any(|(d, m)| *d == addr(PHONE1) && m.starts_with("INVITE"))
    );
    // Another domain's AOR: not ours to register.
    let other = reg.replace("jane@example.com", "jane@elsewhere.example");
    let a = answer(
        &mut n,
        PHONE1,
        &other.replace("branch=z9hG4bKrj11", "branch=z9hG4bKrj12"),
    );
    assert_eq!(first_line(&a), "SIP/2.0 404 Not Found", "{a}");
}

#[test]
fn a_register_requiring_an_unknown_extension_gets_420() {
    let mut n = registrar("");
    let reg = register("kim", PHONE1, &format!("<sip:kim@{PHONE1}>"), "k1", 1).replacen(
        "Expires:",
        "Require: path, gruu\r\nExpires:",
        1,
    );
    let a = answer(&mut n, PHONE1, &reg);
    assert_eq!(first_line(&a), "SIP/2.0 420 Bad Extension", "{a}");
    assert!(a.contains("Unsupported: gruu\r\n"), "{a}");
    // Path alone is ours to support.
    let reg = register("kim", PHONE1, &format!("<sip:kim@{PHONE1}>"), "k2", 1).replacen(
        "Expires:",
        "Require: path\r\nExpires:",
        1,
    );
    assert_eq!(first_line(&answer(&mut n, PHONE1, &reg)), "SIP/2.0 200 OK");
}

#[test]
fn a_contact_by_host_name_is_looked_up_first() {
    use crate::dns::Resolved;
    let mut n = registrar("");
    // Its Contact names a host (its Via is where it sends from: not
    // behind a NAT).
    let reg = register("lou", PHONE1, "<sip:lou@phone.example.com:5060>", "l1", 1);
    let ok = answer(&mut n, PHONE1, &reg);
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK", "{ok}");
    n.from(UAC, &call_to("lou", "c13"));
    let out = n.take();
    assert!(
        out.iter().all(|(d, _)| *d == addr(UAC)),
        "parked meanwhile: {out:#?}"
    );
    let q = n.core.poll_name_query().expect("the contact's name asked");
    n.core
        .handle_name_answer(n.now, &q, Ok(Resolved::of([addr(PHONE2)])));
    n.drain();
    let out = n.take();
    let inv = out
        .iter()
        .find(|(_, m)| m.starts_with("INVITE"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(inv.0, addr(PHONE2));
    assert!(
        inv.1
            .starts_with("INVITE sip:lou@phone.example.com:5060 SIP/2.0"),
        "{}",
        inv.1
    );
}

#[test]
fn requests_to_a_binding_go_through_its_path() {
    use crate::dns::Resolved;
    let mut n = registrar("");
    // RFC 3327: an edge proxy in front of the phones put its Path on.
    let edge_ip = "198.51.100.70:5060";
    let reg = register("mia", PHONE1, &format!("<sip:mia@{PHONE1}>"), "m1", 1).replacen(
        "Expires:",
        &format!("Path: <sip:{edge_ip};lr>\r\nExpires:"),
        1,
    );
    assert_eq!(first_line(&answer(&mut n, PHONE1, &reg)), "SIP/2.0 200 OK");
    n.from(UAC, &call_to("mia", "c14"));
    let out = n.take();
    let inv = out.iter().find(|(_, m)| m.starts_with("INVITE")).unwrap();
    assert_eq!(inv.0, addr(edge_ip), "{out:#?}");
    assert!(
        inv.1.starts_with(&format!(
            "INVITE sip:mia@{PHONE1} SIP/2.0\r\nRoute: <sip:{edge_ip};lr>\r\n"
        )),
        "{}",
        inv.1
    );
    // An edge proxy known by name: looked up first.
    let reg = register("ned", PHONE2, &format!("<sip:ned@{PHONE2}>"), "n1", 1).replacen(
        "Expires:",
        "Path: <sip:edge.example.com;lr>\r\nExpires:",
        1,
    );
    assert_eq!(first_line(&answer(&mut n, PHONE2, &reg)), "SIP/2.0 200 OK");
    n.from(UAC, &call_to("ned", "c15"));
    assert!(n.take().iter().all(|(d, _)| *d == addr(UAC)));
    let q = n.core.poll_name_query().expect("the Path's name asked");
    n.core
        .handle_name_answer(n.now, &q, Ok(Resolved::of([addr(edge_ip)])));
    n.drain();
    let out = n.take();
    let inv = out.iter().find(|(_, m)| m.starts_with("INVITE")).unwrap();
    assert_eq!(inv.0, addr(edge_ip), "{out:#?}");
    assert!(
        inv.1.contains("Route: <sip:edge.example.com;lr>\r\n"),
        "{}",
        inv.1
    );
}

#[test]
fn the_200_to_a_register_carries_a_date() {
    let mut n = registrar("");
    n.core.set_wall_clock_ms(n.now, 1_289_690_940_000);
    let reg = register("olga", PHONE1, &format!("<sip:olga@{PHONE1}>"), "o1", 1);
    let ok = answer(&mut n, PHONE1, &reg);
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK", "{ok}");
    // §10.3 step 8, in RFC 3261 §20.17's form.
    assert_eq!(
        header(&ok, "Date"),
        ["Sat, 13 Nov 2010 23:29:00 GMT"],
        "{ok}"
    );
}
