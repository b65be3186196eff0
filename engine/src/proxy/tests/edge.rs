//! The SBC edge through the proxy core, on the virtual network: sources
//! judged by `[security]`, digest authentication (RFC 3261 §22, RFC 7616)
//! with its stale nonces, replays and bans, and the rate limits, each
//! configured from TOML as an operator writes it.

use std::path::Path;

use super::*;
use crate::auth::{NonceKey, SubscriberTable, Subscribers};
use crate::config::Config;
use crate::policy::{Policy, PolicyTable};
use crate::security::{RateLimits, RateLimitsConfig};
use crate::testkit::sip::{digest_answer, first_line};

const TRUNK: &str = "198.51.100.2:5060";
const STRANGER: &str = "203.0.113.9:5060";

/// A proxy on PROXY forwarding to the UAS, set up by the TOML `toml`
/// with alice (password `alice-secret`) at 192.0.2.1 as its subscriber.
fn edge(toml: &str) -> Net {
    let cfg = Config::parse(toml, Path::new("edge.toml")).unwrap_or_else(|e| panic!("{e}"));
    let mut proxy = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
    proxy.edge = cfg.proxy.edge.clone();
    let now = std::time::Instant::now();
    let limits = (!cfg.rate_limits.is_empty()).then(|| {
        Arc::new(RateLimits::new(&cfg.rate_limits, RateLimitsConfig::default(), 1, now).unwrap())
    });
    let subscribers = Subscribers::from_csv(
        b"user,domain,password\nalice,192.0.2.1,alice-secret\n",
        "subscribers.csv",
    )
    .unwrap();
    let services = Services {
        policy: Some(Arc::new(PolicyTable::new(
            Policy::compile(&cfg.policy).unwrap(),
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
        rate_limits: limits,
        ..Services::default()
    };
    Net::with_services(proxy, services)
}

/// A call from `src` to bob at the proxy's domain.
fn call_from(src: &str, id: &str) -> UacCall {
    UacCall::new(addr(src), &format!("sip:bob@{PROXY}"), id)
}

/// What the proxy did with `msg` from `src`: the first line of its last
/// answer to the sender (a 100 Trying skipped), `forwarded`, or `silence`.
fn outcome(n: &mut Net, src: &str, msg: &str) -> String {
    n.from(src, msg);
    let out = n.take();
    if out
        .iter()
        .any(|(d, m)| *d == addr(UAS) && !m.starts_with("SIP/"))
    {
        return "forwarded".into();
    }
    out.iter()
        .rev()
        .find(|(d, m)| *d == addr(src) && !m.starts_with("SIP/2.0 100 "))
        .map_or("silence".into(), |(_, m)| first_line(m).to_string())
}

/// `msg` with `line` added as a header.
fn with_header(msg: &str, line: &str) -> String {
    msg.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{line}\r\n"),
        1,
    )
}

#[test]
fn unknown_sources_are_refused_or_dropped_and_trusted_ones_pass() {
    let reject = r#"
[security]
trusted = ["198.51.100.0/24"]
unknown_source = "reject"
"#;
    let mut n = edge(reject);
    let inv = call_from(STRANGER, "u1").invite("z9hG4bKu1");
    assert_eq!(outcome(&mut n, STRANGER, &inv), "SIP/2.0 403 Forbidden");
    let inv = call_from(TRUNK, "u2").invite("z9hG4bKu2");
    assert_eq!(outcome(&mut n, TRUNK, &inv), "forwarded");
    // An in-dialog request through our Record-Route is not asked again.
    let bye = call_from(STRANGER, "u3").request(
        "BYE",
        2,
        "z9hG4bKu3",
        Some("b1"),
        Some(&format!("<sip:{PROXY};lr>")),
    );
    assert_eq!(outcome(&mut n, STRANGER, &bye), "forwarded");
    // Nor one without it (the far end did not echo our Record-Route).
    let bye = call_from(STRANGER, "u5").request("BYE", 2, "z9hG4bKu5", Some("b1"), None);
    assert_eq!(outcome(&mut n, STRANGER, &bye), "forwarded");
    assert_eq!(n.core.counters().refused_sources, 1);

    let mut n = edge(&reject.replace("\"reject\"", "\"drop\""));
    let inv = call_from(STRANGER, "u4").invite("z9hG4bKu4");
    assert_eq!(outcome(&mut n, STRANGER, &inv), "silence");
    assert_eq!(
        n.core.live_transactions(),
        0,
        "a dropped request keeps no state"
    );
}

#[test]
fn without_open_relay_an_untrusted_sender_cannot_choose_the_next_hop() {
    let mut n = edge(
        r#"
[security]
trusted = ["198.51.100.0/24"]
open_relay = false
"#,
    );
    let elsewhere = "<sip:203.0.113.200:5060;lr>";
    let routed = |src: &str, id: &str| {
        call_from(src, id).request("INVITE", 1, &format!("z9hG4bK{id}"), None, Some(elsewhere))
    };
    assert_eq!(
        outcome(&mut n, STRANGER, &routed(STRANGER, "r1")),
        "SIP/2.0 403 Forbidden"
    );
    // Without a Route it goes where we send it (the default route).
    let inv = call_from(STRANGER, "r2").invite("z9hG4bKr2");
    assert_eq!(outcome(&mut n, STRANGER, &inv), "forwarded");
    // A trusted trunk may.
    n.from(TRUNK, &routed(TRUNK, "r3"));
    assert!(
        n.take()
            .iter()
            .any(|(d, m)| *d == addr("203.0.113.200:5060") && m.starts_with("INVITE "))
    );
    // Without a default route, the Request-URI is the sender's choice too.
    let mut proxy = ProxyConfig::new(addr(PROXY), None);
    proxy.edge.open_relay = false;
    let mut n = Net::new(proxy);
    let inv = UacCall::new(addr(STRANGER), "sip:bob@203.0.113.200", "r4").invite("z9hG4bKr4");
    assert_eq!(outcome(&mut n, STRANGER, &inv), "SIP/2.0 403 Forbidden");
}

#[test]
fn the_server_header_is_sent_only_when_configured() {
    let mut n = edge("[security]\nserver_header = \"edge-1\"\n");
    n.from(
        UAC,
        &call_from(UAC, "h1").request("MESSAGE", 1, "z9hG4bKh1", None, None),
    );
    n.take();
    let bad = call_from(UAC, "h2")
        .invite("z9hG4bKh2")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    n.from(UAC, &bad);
    let out = n.take();
    assert!(out[0].1.starts_with("SIP/2.0 483 "), "{}", out[0].1);
    assert_eq!(header(&out[0].1, "Server"), ["edge-1"]);
}

const DIGEST: &str = r#"
[[policy]]
name = "everyone"
authenticate = "digest"

[auth]
subscribers = "subscribers.csv"

[security]
auth_failures = 3
auth_window_s = 60
ban_s = 300
"#;

#[test]
fn digest_with_sha256_and_md5_lets_alice_in() {
    let mut n = edge(DIGEST);
    let ruri = format!("sip:bob@{PROXY}");
    for (i, algorithm) in ["SHA-256", "MD5"].into_iter().enumerate() {
        let c = call_from(UAC, &format!("d{i}"));
        n.from(UAC, &c.invite(&format!("z9hG4bKd{i}a")));
        let challenge = n.take().pop().unwrap().1;
        assert!(
            challenge.starts_with("SIP/2.0 407 Proxy Authentication Required"),
            "{challenge}"
        );
        // Both offered, SHA-256 first (RFC 8760 §2.4), realm the
        // Request-URI's host.
        let offers = header(&challenge, "Proxy-Authenticate");
        assert_eq!(offers.len(), 2, "{challenge}");
        assert!(offers[0].contains("algorithm=SHA-256") && offers[1].contains("algorithm=MD5"));
        assert!(offers[0].starts_with("Digest realm=\"192.0.2.1\""));
        // The ACK for the 407 is absorbed.
        n.from(
            UAC,
            &c.request("ACK", 1, &format!("z9hG4bKd{i}a"), Some("x"), None),
        );
        let answer = digest_answer(
            &challenge,
            algorithm,
            ("alice", "alice-secret"),
            "INVITE",
            &ruri,
            1,
        );
        let inv = with_header(&c.invite(&format!("z9hG4bKd{i}b")), &answer)
            .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
        assert_eq!(outcome(&mut n, UAC, &inv), "forwarded", "{algorithm}");
    }
    let c = n.core.counters();
    assert_eq!(
        (c.auth_challenges, c.auth_successes, c.auth_failures),
        (2, 2, 0)
    );
}

/// A challenge is sent once, statelessly. SIPp acknowledges a 407 on a
/// branch of its own, which no transaction would match anyway: the To tag we gave the 407 identifies the ACK as ours, and
/// it is absorbed, not forwarded to the UAS (where it would be a stray
/// ACK); an ACK with another To tag still goes on.
#[test]
fn the_ack_of_our_407_on_a_new_branch_is_absorbed() {
    let mut n = edge(DIGEST);
    let c = call_from(UAC, "k1");
    n.from(UAC, &c.invite("z9hG4bKk1a"));
    let challenge = n.take().pop().unwrap().1;
    // Sent once, no state kept (§26.3.2.4): nothing retransmitted while
    // the ACK is late; a retransmitted INVITE gets the same To tag.
    assert_eq!(n.core.live_transactions(), 0);
    n.advance(std::time::Duration::from_secs(5));
    assert!(n.take().is_empty());
    n.from(UAC, &c.invite("z9hG4bKk1a"));
    let again = n.take().pop().unwrap().1;
    assert_eq!(header(&again, "To"), header(&challenge, "To"));
    let to = header(&challenge, "To")[0].to_string();
    let tag = to.split(";tag=").nth(1).unwrap().to_string();
    let ack = c.request("ACK", 1, "z9hG4bKk1-new", Some(&tag), None);
    assert_eq!(outcome(&mut n, UAC, &ack), "silence");
    assert_eq!(n.core.counters().local_acks, 1);
    // The same ACK with another CSeq number is not of our 407.
    let ack = c.request("ACK", 7, "z9hG4bKk1-other", Some(&tag), None);
    assert_eq!(outcome(&mut n, UAC, &ack), "forwarded");
    // In-dialog requests are not challenged, through our Route or not.
    let bye = c.request("BYE", 3, "z9hG4bKk1-bye", Some("uas-tag"), None);
    assert_eq!(outcome(&mut n, UAC, &bye), "forwarded");
    assert_eq!(
        n.core.counters().auth_challenges,
        2,
        "the INVITE and its retransmission"
    );
}

/// Our credentials are consumed: the forwarded INVITE carries no
/// Proxy-Authorization for our realm, and still carries one for another
/// proxy's.
#[test]
fn our_credentials_are_not_forwarded_others_are() {
    let mut n = edge(DIGEST);
    let c = call_from(UAC, "cc");
    n.from(UAC, &c.invite("z9hG4bKcc1"));
    let challenge = n.take().pop().unwrap().1;
    let ruri = format!("sip:bob@{PROXY}");
    let ours = digest_answer(
        &challenge,
        "MD5",
        ("alice", "alice-secret"),
        "INVITE",
        &ruri,
        1,
    );
    let upstream = "Proxy-Authorization: Digest username=\"a\", realm=\"upstream.example\", \
nonce=\"n\", uri=\"sip:x\", response=\"0\"";
    let inv = with_header(&with_header(&c.invite("z9hG4bKcc2"), &ours), upstream)
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    n.from(UAC, &inv);
    let sent = n.take();
    let fwd = &sent
        .iter()
        .find(|(d, m)| *d == addr(UAS) && m.starts_with("INVITE"))
        .expect("forwarded")
        .1;
    let creds = header(fwd, "Proxy-Authorization");
    assert_eq!(creds.len(), 1, "{fwd}");
    assert!(creds[0].contains("realm=\"upstream.example\""), "{fwd}");
    assert_eq!(n.core.counters().auth_successes, 1);
}

#[test]
fn register_is_challenged_with_401_and_www_authenticate() {
    let mut n = edge(DIGEST);
    // alice registers her own AOR (RFC 3261 §10.3 step 3: the To).
    let alice_reg = || UacCall::new(addr(UAC), &format!("sip:alice@{PROXY}"), "g1");
    let reg = alice_reg().request("REGISTER", 1, "z9hG4bKg1", None, None);
    n.from(UAC, &reg);
    let challenge = n.take().pop().unwrap().1;
    assert!(
        challenge.starts_with("SIP/2.0 401 Unauthorized"),
        "{challenge}"
    );
    assert_eq!(header(&challenge, "WWW-Authenticate").len(), 2);
    let answer = digest_answer(
        &challenge,
        "SHA-256",
        ("alice", "alice-secret"),
        "REGISTER",
        &format!("sip:alice@{PROXY}"),
        1,
    );
    assert!(answer.starts_with("Authorization: Digest "));
    let reg = with_header(
        &alice_reg().request("REGISTER", 2, "z9hG4bKg2", None, None),
        &answer,
    );
    assert_eq!(outcome(&mut n, UAC, &reg), "forwarded");
    // Her credentials do not register bob's AOR.
    let bob = call_from(UAC, "g3").request("REGISTER", 1, "z9hG4bKg3", None, None);
    n.from(UAC, &bob);
    let challenge = n.take().pop().unwrap().1;
    let answer = digest_answer(
        &challenge,
        "SHA-256",
        ("alice", "alice-secret"),
        "REGISTER",
        &format!("sip:bob@{PROXY}"),
        1,
    );
    let bob = with_header(
        &call_from(UAC, "g3").request("REGISTER", 2, "z9hG4bKg4", None, None),
        &answer,
    );
    assert_eq!(outcome(&mut n, UAC, &bob), "SIP/2.0 403 Not Your AOR");
}

#[test]
fn an_old_nonce_is_stale_and_a_replayed_count_is_refused() {
    let mut n = edge(DIGEST);
    let ruri = format!("sip:bob@{PROXY}");
    let c = call_from(UAC, "s1");
    n.from(UAC, &c.invite("z9hG4bKs1a"));
    let challenge = n.take().pop().unwrap().1;
    let answer = |nc| {
        digest_answer(
            &challenge,
            "SHA-256",
            ("alice", "alice-secret"),
            "INVITE",
            &ruri,
            nc,
        )
    };
    let inv = |branch: &str, cseq: u32, line: &str| {
        with_header(&c.invite(branch), line)
            .replace("CSeq: 1 INVITE", &format!("CSeq: {cseq} INVITE"))
    };
    assert_eq!(
        outcome(&mut n, UAC, &inv("z9hG4bKs1b", 2, &answer(1))),
        "forwarded"
    );
    // The same nonce count again: a replay, challenged afresh.
    let replay = outcome(&mut n, UAC, &inv("z9hG4bKs1c", 3, &answer(1)));
    assert_eq!(replay, "SIP/2.0 407 Proxy Authentication Required");
    assert_eq!(n.core.counters().auth_failures, 1);
    // The next count is fine.
    assert_eq!(
        outcome(&mut n, UAC, &inv("z9hG4bKs1d", 4, &answer(2))),
        "forwarded"
    );
    // Five minutes on, the nonce is stale: the right answer gets a new
    // challenge with stale=true (the UA retries without asking anyone).
    n.advance(Duration::from_secs(301));
    n.take();
    n.from(UAC, &inv("z9hG4bKs1e", 5, &answer(3)));
    let stale = n.take().pop().unwrap().1;
    assert!(stale.starts_with("SIP/2.0 407 "), "{stale}");
    assert!(
        header(&stale, "Proxy-Authenticate")[0].ends_with("stale=true"),
        "{stale}"
    );
    assert_eq!(n.core.counters().auth_failures, 1, "stale is not a failure");
}

#[test]
fn wrong_passwords_get_the_same_answer_as_unknown_users_then_a_ban() {
    let mut n = edge(DIGEST);
    let ruri = format!("sip:bob@{PROXY}");
    let mut answers = Vec::new();
    for (i, who) in [
        ("alice", "guess"),
        ("mallory", "alice-secret"),
        ("alice", "x"),
    ]
    .into_iter()
    .enumerate()
    {
        let c = call_from(UAC, &format!("w{i}"));
        n.from(UAC, &c.invite(&format!("z9hG4bKw{i}a")));
        let challenge = n.take().pop().unwrap().1;
        let inv = with_header(
            &c.invite(&format!("z9hG4bKw{i}b")),
            &digest_answer(&challenge, "MD5", who, "INVITE", &ruri, 1),
        )
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
        answers.push(outcome(&mut n, UAC, &inv));
    }
    // No user enumeration: a wrong password and an unknown user are
    // answered alike; the third failure (auth_failures = 3) bans.
    assert_eq!(answers[0], "SIP/2.0 407 Proxy Authentication Required");
    assert_eq!(answers[1], answers[0]);
    assert_eq!(answers[2], "silence");
    let c = n.core.counters();
    assert_eq!((c.auth_failures, c.auth_bans), (3, 1));
    // Banned: even a fresh request is dropped, for ban_s.
    let again = call_from(UAC, "w9").invite("z9hG4bKw9");
    assert_eq!(outcome(&mut n, UAC, &again), "silence");
    n.advance(Duration::from_secs(301));
    n.take();
    let later = call_from(UAC, "w10").invite("z9hG4bKw10");
    assert_eq!(
        outcome(&mut n, UAC, &later),
        "SIP/2.0 407 Proxy Authentication Required"
    );
}

#[test]
fn a_rate_limit_answers_503_with_retry_after() {
    let mut n = edge(
        r#"
[[rate_limit]]
name = "per-source"
rate = 1
burst = 2
key = "source"

[[policy]]
methods = ["INVITE"]
rate_limit = "per-source"
"#,
    );
    let mut outcomes = Vec::new();
    for i in 0..3 {
        let inv = call_from(UAC, &format!("l{i}")).invite(&format!("z9hG4bKl{i}"));
        outcomes.push(outcome(&mut n, UAC, &inv));
    }
    assert_eq!(outcomes[..2], ["forwarded", "forwarded"]);
    assert_eq!(outcomes[2], "SIP/2.0 503 Rate Limit Exceeded");
    // Another source has its own bucket.
    let inv = call_from(TRUNK, "l9").invite("z9hG4bKl9");
    assert_eq!(outcome(&mut n, TRUNK, &inv), "forwarded");
    // The Retry-After says when a token is back.
    let inv = call_from(UAC, "l3").invite("z9hG4bKl3");
    n.from(UAC, &inv);
    let refused = n.take().pop().unwrap().1;
    assert_eq!(header(&refused, "Retry-After"), ["1"]);
    assert_eq!(n.core.counters().rate_limited, 2);
    // A second later one is.
    n.advance(Duration::from_secs(1));
    n.take();
    let inv = call_from(UAC, "l4").invite("z9hG4bKl4");
    assert_eq!(outcome(&mut n, UAC, &inv), "forwarded");
}
