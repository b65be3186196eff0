//! The verifier and the challenge together, with credentials built the
//! way a UA (SIPp, trunkload) builds them from the challenge.

use super::*;

const T: u64 = 1_700_000_000;
const RURI: &[u8] = b"sip:bob@127.0.0.1:5060";
const CALL_ID: &[u8] = b"1-4242@127.0.0.1";

fn key() -> Arc<NonceKey> {
    Arc::new(NonceKey::from_secret(&[9; 32]))
}

fn subs() -> Subscribers {
    Subscribers::from_csv(
        b"user,domain,password\nalice,127.0.0.1,alice-secret\n\"q\"\"uote\",127.0.0.1,pw\n",
        "subs.csv",
    )
    .unwrap()
}

fn req() -> DigestRequest<'static> {
    DigestRequest {
        method: b"INVITE",
        request_uri: RURI,
        realm: b"127.0.0.1",
        binding: CALL_ID,
    }
}

/// A challenge's parameters, as a UA reads them.
struct Offer {
    realm: String,
    nonce: String,
    algorithm: Algorithm,
    stale: bool,
}

fn offers(lines: &[u8], name: &str) -> Vec<Offer> {
    lines
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .map(|l| {
            let value = l.strip_prefix(format!("{name}: ").as_bytes()).expect(name);
            let c = Credentials::parse(value).unwrap();
            assert_eq!(c.scheme, b"Digest");
            assert_eq!(c.get(b"qop"), Some(&b"auth"[..]));
            let s = |n: &[u8]| String::from_utf8(c.get(n).unwrap().to_vec()).unwrap();
            Offer {
                realm: s(b"realm"),
                nonce: s(b"nonce"),
                algorithm: Algorithm::from_name(c.get(b"algorithm").unwrap()).unwrap(),
                stale: c.get(b"stale").is_some(),
            }
        })
        .collect()
}

/// What a UA sends back, SIPp's order and quoting (RFC 3261 §22.4: `nc`
/// and `qop` unquoted).
#[allow(clippy::too_many_arguments)]
fn authorization(
    offer: &Offer,
    algorithm: Algorithm,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let hash = algorithm.hash();
    let ha1 = digest::ha1(
        hash,
        user.as_bytes(),
        offer.realm.as_bytes(),
        password.as_bytes(),
    );
    let nc = format!("{nc:08x}");
    let q = Qop {
        qop: b"auth",
        nc: nc.as_bytes(),
        cnonce: cnonce.as_bytes(),
    };
    let response = digest::request_digest(
        algorithm,
        ha1.as_bytes(),
        offer.nonce.as_bytes(),
        Some(&q),
        method.as_bytes(),
        uri.as_bytes(),
    )
    .unwrap();
    let user = user.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "Digest username=\"{user}\",realm=\"{}\",cnonce=\"{cnonce}\",nc={nc},qop=auth,uri=\"{uri}\",nonce=\"{}\",response=\"{response}\",algorithm={}",
        offer.realm,
        offer.nonce,
        algorithm.name()
    )
}

struct Setup {
    challenge: Challenge,
    verifier: Verifier,
    /// Leaked: outcomes borrow it while the verifier is used again.
    subs: &'static Subscribers,
}

fn setup(config: AuthConfig) -> Setup {
    let k = key();
    Setup {
        challenge: Challenge::new(Arc::clone(&k), &config, k.salt_seed(0)),
        verifier: Verifier::new(k, &config),
        subs: Box::leak(Box::new(subs())),
    }
}

impl Setup {
    fn offer(&mut self, now: u64, binding: &[u8]) -> Vec<Offer> {
        let mut out = Vec::new();
        self.challenge.write(
            &mut out,
            ChallengeHeader::Proxy,
            now,
            b"127.0.0.1",
            binding,
            false,
        );
        offers(&out, "Proxy-Authenticate")
    }

    fn verify(&mut self, now: u64, req: &DigestRequest<'_>, auth: &str) -> Outcome<'static> {
        let c = Credentials::parse(auth.as_bytes()).unwrap();
        self.verifier.verify(now, req, &c, self.subs)
    }
}

#[test]
fn a_ua_authenticates_with_either_algorithm() {
    let mut s = setup(AuthConfig::default());
    let offers = s.offer(T, CALL_ID);
    assert_eq!(
        offers.iter().map(|o| o.algorithm).collect::<Vec<_>>(),
        [Algorithm::Sha256, Algorithm::Md5]
    );
    // A UA answers one of them; each run here on a challenge of its own
    // (both lines share the nonce, so nc=1 twice would be a replay).
    for i in 0..2 {
        let o = &s.offer(T, CALL_ID)[i];
        let auth = authorization(
            o,
            o.algorithm,
            "alice",
            "alice-secret",
            "INVITE",
            "sip:bob@127.0.0.1:5060",
            1,
            "6b8b4567",
        );
        assert_eq!(
            s.verify(T + 2, &req(), &auth),
            Outcome::Ok {
                user: "alice",
                domain: "127.0.0.1",
                algorithm: o.algorithm
            }
        );
    }
    // -sess too, on a nonce of its own.
    let o = &s.offer(T, CALL_ID)[0];
    for (i, alg) in [Algorithm::Sha256Sess, Algorithm::Md5Sess]
        .into_iter()
        .enumerate()
    {
        let auth = authorization(
            o,
            alg,
            "alice",
            "alice-secret",
            "INVITE",
            "sip:bob@127.0.0.1:5060",
            i as u32 + 1,
            "0a4f113b",
        );
        assert!(
            matches!(s.verify(T, &req(), &auth), Outcome::Ok { algorithm, .. } if algorithm == alg)
        );
    }
}

#[test]
fn register_gets_a_401() {
    let h = ChallengeHeader::for_method(Method::Register);
    assert_eq!(
        (h.status(), h.reason(), h.name()),
        (401, &b"Unauthorized"[..], "WWW-Authenticate")
    );
    assert_eq!(h.credentials_header(), HeaderName::Authorization);
    let h = ChallengeHeader::for_method(Method::Invite);
    assert_eq!((h.status(), h.name()), (407, "Proxy-Authenticate"));
    assert_eq!(h.credentials_header(), HeaderName::ProxyAuthorization);
    let mut s = setup(AuthConfig::default());
    let mut out = Vec::new();
    s.challenge
        .write(&mut out, ChallengeHeader::Www, T, b"Example.COM", b"", true);
    let text = String::from_utf8(out.clone()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("WWW-Authenticate: Digest realm=\"example.com\", nonce=\""),
        "{text}"
    );
    assert!(
        lines[0].ends_with("\", algorithm=SHA-256, qop=\"auth\", stale=true"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("\", algorithm=MD5, qop=\"auth\", stale=true"),
        "{text}"
    );
    // One nonce for both (as RFC 7616 §3.9.1's example).
    let o = offers(&out, "WWW-Authenticate");
    assert_eq!(o[0].nonce, o[1].nonce);
    assert!(o[0].stale && o[1].stale);
    // A REGISTER's credentials.
    let o = &o[0];
    let auth = authorization(
        o,
        Algorithm::Sha256,
        "alice",
        "alice-secret",
        "REGISTER",
        "sip:example.com",
        1,
        "ab",
    );
    let subs = Subscribers::from_csv(
        b"user,domain,password\nalice,EXAMPLE.com,alice-secret\n",
        "s",
    )
    .unwrap();
    let c = Credentials::parse(auth.as_bytes()).unwrap();
    let r = DigestRequest {
        method: b"REGISTER",
        request_uri: b"sip:example.com",
        realm: b"example.COM",
        binding: b"",
    };
    assert!(matches!(
        s.verifier.verify(T, &r, &c, &subs),
        Outcome::Ok { user: "alice", .. }
    ));
}

#[test]
fn sha256_only_refuses_md5() {
    let config = AuthConfig {
        md5: false,
        ..AuthConfig::default()
    };
    let mut s = setup(config);
    let offers = s.offer(T, CALL_ID);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].algorithm, Algorithm::Sha256);
    let auth = authorization(
        &offers[0],
        Algorithm::Md5,
        "alice",
        "alice-secret",
        "INVITE",
        "sip:bob@127.0.0.1:5060",
        1,
        "c",
    );
    assert_eq!(
        s.verify(T, &req(), &auth),
        Outcome::Failed(Failure::Unsupported)
    );
}

#[test]
fn challenge_writes_without_allocating_once_warm() {
    let mut s = setup(AuthConfig::default());
    let mut out = Vec::new();
    s.challenge.write(
        &mut out,
        ChallengeHeader::Proxy,
        T,
        b"127.0.0.1",
        CALL_ID,
        true,
    );
    let cap = out.capacity();
    let first = out.clone();
    out.clear();
    s.challenge.write(
        &mut out,
        ChallengeHeader::Proxy,
        T,
        b"127.0.0.1",
        CALL_ID,
        true,
    );
    assert_eq!(out.capacity(), cap);
    // Fresh nonce each time.
    assert_ne!(out, first);
    // Nothing that could break the header out of the realm.
    out.clear();
    s.challenge.write(
        &mut out,
        ChallengeHeader::Proxy,
        T,
        b"a\"b\\c\r\nX: y",
        b"",
        false,
    );
    assert!(out.starts_with(b"Proxy-Authenticate: Digest realm=\"abcx: y\", nonce="));
}

#[test]
fn wrong_user_and_wrong_password_look_the_same() {
    let mut s = setup(AuthConfig::default());
    let o = &s.offer(T, CALL_ID)[0];
    let uri = "sip:bob@127.0.0.1:5060";
    let wrong_pw = authorization(
        o,
        Algorithm::Sha256,
        "alice",
        "guess",
        "INVITE",
        uri,
        1,
        "c",
    );
    let wrong_user = authorization(
        o,
        Algorithm::Sha256,
        "mallory",
        "alice-secret",
        "INVITE",
        uri,
        1,
        "c",
    );
    let wrong_case = authorization(
        o,
        Algorithm::Sha256,
        "Alice",
        "alice-secret",
        "INVITE",
        uri,
        1,
        "c",
    );
    let a = s.verify(T, &req(), &wrong_pw);
    let b = s.verify(T, &req(), &wrong_user);
    let c = s.verify(T, &req(), &wrong_case);
    assert_eq!(a, Outcome::Failed(Failure::Credentials));
    assert_eq!(a, b);
    assert_eq!(a, c);
    let long_user = "u".repeat(MAX_USER + 1);
    let d = authorization(o, Algorithm::Sha256, &long_user, "x", "INVITE", uri, 1, "c");
    assert_eq!(s.verify(T, &req(), &d), a);
    // A wrong password on a stale or foreign nonce is a failure, not stale.
    assert_eq!(s.verify(T + 1000, &req(), &wrong_pw), a);
    // A user name with quoted-pairs is unescaped.
    let q = authorization(o, Algorithm::Sha256, "q\"uote", "pw", "INVITE", uri, 1, "c");
    assert!(matches!(
        s.verify(T, &req(), &q),
        Outcome::Ok {
            user: "q\"uote",
            ..
        }
    ));
}

#[test]
fn a_missing_ha1_fails_as_a_wrong_password() {
    let md5 = digest::ha1(HashFn::Md5, b"dave", b"127.0.0.1", b"pw");
    let csv = format!("user,domain,ha1_md5,ha1_sha256\ndave,127.0.0.1,{md5},\n");
    let mut s = setup(AuthConfig::default());
    s.subs = Box::leak(Box::new(
        Subscribers::from_csv(csv.as_bytes(), "s").unwrap(),
    ));
    let uri = "sip:bob@127.0.0.1:5060";
    let offers = s.offer(T, CALL_ID);
    let sha = authorization(
        &offers[0],
        Algorithm::Sha256,
        "dave",
        "pw",
        "INVITE",
        uri,
        1,
        "c",
    );
    assert_eq!(
        s.verify(T, &req(), &sha),
        Outcome::Failed(Failure::Credentials)
    );
    let md5 = authorization(
        &offers[1],
        Algorithm::Md5,
        "dave",
        "pw",
        "INVITE",
        uri,
        1,
        "c",
    );
    assert!(matches!(
        s.verify(T, &req(), &md5),
        Outcome::Ok { user: "dave", .. }
    ));
}

#[test]
fn stale_and_invalid_nonces() {
    let mut s = setup(AuthConfig::default());
    let o = &s.offer(T, CALL_ID)[0];
    let uri = "sip:bob@127.0.0.1:5060";
    let auth = authorization(
        o,
        Algorithm::Sha256,
        "alice",
        "alice-secret",
        "INVITE",
        uri,
        1,
        "c",
    );
    // Too old: stale (right response).
    assert_eq!(s.verify(T + 301, &req(), &auth), Outcome::Stale);
    // Another binding (another call): stale, a new nonce is one round trip.
    let other_call = DigestRequest {
        binding: b"other-call",
        ..req()
    };
    assert_eq!(s.verify(T, &other_call, &auth), Outcome::Stale);
    // A nonce of a previous process (another secret): stale.
    let mut old = Verifier::new(
        Arc::new(NonceKey::from_secret(&[1; 32])),
        &AuthConfig::default(),
    );
    let c = Credentials::parse(auth.as_bytes()).unwrap();
    assert_eq!(old.verify(T, &req(), &c, s.subs), Outcome::Stale);
    // A made-up nonce with a response computed for it by someone who
    // knows the password: stale; by someone who does not: failed.
    let forged = Offer {
        realm: "127.0.0.1".into(),
        nonce: "made-up".into(),
        algorithm: Algorithm::Sha256,
        stale: false,
    };
    let right = authorization(
        &forged,
        Algorithm::Sha256,
        "alice",
        "alice-secret",
        "INVITE",
        uri,
        1,
        "c",
    );
    assert_eq!(s.verify(T, &req(), &right), Outcome::Stale);
    let wrong = authorization(
        &forged,
        Algorithm::Sha256,
        "alice",
        "x",
        "INVITE",
        uri,
        1,
        "c",
    );
    assert_eq!(
        s.verify(T, &req(), &wrong),
        Outcome::Failed(Failure::Credentials)
    );
    // Still fresh within its age.
    assert!(matches!(
        s.verify(T + 300, &req(), &auth),
        Outcome::Ok { .. }
    ));
}

#[test]
fn replayed_counts_are_refused_reordered_ones_accepted() {
    let mut s = setup(AuthConfig::default());
    let o = &s.offer(T, CALL_ID)[0];
    let uri = "sip:bob@127.0.0.1:5060";
    let with = |nc| {
        authorization(
            o,
            Algorithm::Sha256,
            "alice",
            "alice-secret",
            "INVITE",
            uri,
            nc,
            "c",
        )
    };
    assert!(matches!(s.verify(T, &req(), &with(1)), Outcome::Ok { .. }));
    assert_eq!(
        s.verify(T, &req(), &with(1)),
        Outcome::Failed(Failure::Replay)
    );
    assert!(matches!(s.verify(T, &req(), &with(4)), Outcome::Ok { .. }));
    // 2 and 3 arrive late: each once.
    assert!(matches!(s.verify(T, &req(), &with(3)), Outcome::Ok { .. }));
    assert!(matches!(s.verify(T, &req(), &with(2)), Outcome::Ok { .. }));
    assert_eq!(
        s.verify(T, &req(), &with(2)),
        Outcome::Failed(Failure::Replay)
    );
    assert_eq!(
        s.verify(T, &req(), &with(4)),
        Outcome::Failed(Failure::Replay)
    );
    // A wrong response never touches the window.
    let bad = authorization(o, Algorithm::Sha256, "alice", "x", "INVITE", uri, 9, "c");
    assert_eq!(
        s.verify(T, &req(), &bad),
        Outcome::Failed(Failure::Credentials)
    );
    assert!(matches!(s.verify(T, &req(), &with(9)), Outcome::Ok { .. }));
    assert_eq!(s.verifier.replay_window().len(), 1);
}

#[test]
fn the_uri_must_name_the_request_uri() {
    let mut s = setup(AuthConfig::default());
    let o = &s.offer(T, CALL_ID)[0];
    let mut nc = 0;
    let mut with = |s: &mut Setup, uri: &str, method: &str| {
        nc += 1;
        let auth = authorization(
            o,
            Algorithm::Sha256,
            "alice",
            "alice-secret",
            method,
            uri,
            nc,
            "c",
        );
        s.verify(T, &req(), &auth)
    };
    assert!(matches!(
        with(&mut s, "sip:bob@127.0.0.1:5060", "INVITE"),
        Outcome::Ok { .. }
    ));
    // Equivalent (§19.1.4): the host's case, an escaped user character.
    assert!(matches!(
        with(&mut s, "SIP:%62ob@127.0.0.1:5060", "INVITE"),
        Outcome::Ok { .. }
    ));
    for other in [
        "sip:carol@127.0.0.1:5060",
        "sip:bob@127.0.0.1",
        "sip:bob@127.0.0.1:5060;transport=tcp",
        "sip:127.0.0.1:5060",
        "tel:+15551234",
        "*",
    ] {
        assert_eq!(
            with(&mut s, other, "INVITE"),
            Outcome::Failed(Failure::Uri),
            "{other}"
        );
    }
    // The method is in the hash: another one does not verify.
    assert_eq!(
        with(&mut s, "sip:bob@127.0.0.1:5060", "BYE"),
        Outcome::Failed(Failure::Credentials)
    );
    // SIPp's default digest URI, when the operator allows it.
    let mut s = setup(AuthConfig {
        uri_match: UriMatch::HostPort,
        ..AuthConfig::default()
    });
    let o = &s.offer(T, CALL_ID)[0];
    let auth = authorization(
        o,
        Algorithm::Sha256,
        "alice",
        "alice-secret",
        "INVITE",
        "sip:127.0.0.1:5060",
        1,
        "c",
    );
    assert!(matches!(s.verify(T, &req(), &auth), Outcome::Ok { .. }));
    let auth = authorization(
        o,
        Algorithm::Sha256,
        "alice",
        "alice-secret",
        "INVITE",
        "sip:127.0.0.1:5070",
        2,
        "c",
    );
    assert_eq!(s.verify(T, &req(), &auth), Outcome::Failed(Failure::Uri));
}

#[test]
fn what_was_not_offered_fails() {
    let mut s = setup(AuthConfig::default());
    let o = &s.offer(T, CALL_ID)[0];
    let good = authorization(
        o,
        Algorithm::Sha256,
        "alice",
        "alice-secret",
        "INVITE",
        "sip:bob@127.0.0.1:5060",
        1,
        "c",
    );
    let failed = |s: &mut Setup, auth: &str| s.verify(T, &req(), auth);
    let unsupported = Outcome::Failed(Failure::Unsupported);
    assert_eq!(
        failed(
            &mut s,
            &good.replace("algorithm=SHA-256", "algorithm=SHA-512-256")
        ),
        unsupported
    );
    assert_eq!(
        failed(&mut s, &good.replace("qop=auth", "qop=auth-int")),
        unsupported
    );
    assert_eq!(
        failed(&mut s, &format!("{good},userhash=true")),
        unsupported
    );
    // Without qop (RFC 2069): refused unless allowed.
    let bare = format!(
        "Digest username=\"alice\",realm=\"127.0.0.1\",uri=\"sip:bob@127.0.0.1:5060\",nonce=\"{}\",response=\"{}\"",
        o.nonce,
        digest::request_digest(
            Algorithm::Md5,
            digest::ha1(HashFn::Md5, b"alice", b"127.0.0.1", b"alice-secret").as_bytes(),
            o.nonce.as_bytes(),
            None,
            b"INVITE",
            RURI
        )
        .unwrap()
    );
    assert_eq!(failed(&mut s, &bare), unsupported);
    let mut s = setup(AuthConfig {
        no_qop: true,
        ..AuthConfig::default()
    });
    assert!(matches!(
        failed(&mut s, &bare),
        Outcome::Ok {
            algorithm: Algorithm::Md5,
            ..
        }
    ));
    // Each nonce once without qop; the UA is asked again, not failed.
    assert_eq!(failed(&mut s, &bare), Outcome::Stale);
    // -sess without qop has no cnonce to hash.
    assert_eq!(
        failed(&mut s, &format!("{bare},algorithm=MD5-sess")),
        unsupported
    );
    // Another realm.
    let mut s = setup(AuthConfig::default());
    let other = DigestRequest {
        realm: b"example.com",
        ..req()
    };
    let c = Credentials::parse(good.as_bytes()).unwrap();
    assert_eq!(
        s.verifier.verify(T, &other, &c, s.subs),
        Outcome::Failed(Failure::Realm)
    );
}

#[test]
fn malformed_credentials() {
    let mut s = setup(AuthConfig::default());
    let o = &s.offer(T, CALL_ID)[0];
    let good = authorization(
        o,
        Algorithm::Sha256,
        "alice",
        "alice-secret",
        "INVITE",
        "sip:bob@127.0.0.1:5060",
        1,
        "c",
    );
    let cases = [
        good.replace("Digest", "Basic"),
        format!("{good},response=\"00\""),
        format!("{good},Nonce=\"x\""),
        good.replace(",uri=\"sip:bob@127.0.0.1:5060\"", ""),
        good.replace("username=\"alice\",", ""),
        good.replace("nc=00000001", "nc=1"),
        good.replace("nc=00000001", "nc=00000000"),
        good.replace("nc=00000001", "nc=0000000g"),
        good.replace("nc=00000001,", ""),
        good.replace("cnonce=\"c\",", ""),
        good.replace("cnonce=\"c\"", "cnonce=\"\""),
        good.replace(
            "cnonce=\"c\"",
            &format!("cnonce=\"{}\"", "c".repeat(MAX_CNONCE + 1)),
        ),
    ];
    for auth in &cases {
        assert_eq!(s.verify(T, &req(), auth), Outcome::Malformed, "{auth}");
    }
    // Nothing was recorded: the good one still passes.
    assert!(matches!(s.verify(T, &req(), &good), Outcome::Ok { .. }));
    // Hostile sizes: a huge user name, many parameters.
    let huge = good.replace(
        "username=\"alice\"",
        &format!("username=\"{}\"", "a".repeat(100_000)),
    );
    assert_eq!(
        s.verify(T, &req(), &huge),
        Outcome::Failed(Failure::Credentials)
    );
    // Unknown parameters are skipped in one pass (nc 1 was just used:
    // a replay, as it should be).
    let many = format!("{good}{}", ",x=y".repeat(10_000));
    assert_eq!(s.verify(T, &req(), &many), Outcome::Failed(Failure::Replay));
}

#[test]
fn credentials_are_picked_by_realm() {
    let a = Credentials::parse(b"Digest realm=\"other.example\", nonce=\"1\"").unwrap();
    let b = Credentials::parse(b"Digest realm=\"127.0.0.1\", nonce=\"2\"").unwrap();
    let basic = Credentials::parse(b"Basic realm=\"127.0.0.1\"").unwrap();
    let bad = Credentials::parse(b"Digest realm").map(|_| unreachable!());
    let found = find_credentials([Ok(a), bad, Ok(basic), Ok(b)], b"127.0.0.1").unwrap();
    assert_eq!(found.get(b"nonce"), Some(&b"2"[..]));
    assert!(find_credentials([Ok(a)], b"127.0.0.1").is_none());
}

#[test]
fn unescaping_is_bounded() {
    let mut buf = [0u8; 4];
    assert_eq!(unescape(b"ab", &mut buf), Some(&b"ab"[..]));
    assert_eq!(unescape(b"a\\\"b", &mut buf), Some(&b"a\"b"[..]));
    assert_eq!(unescape(b"\\\\\\\\", &mut buf), Some(&b"\\\\"[..]));
    assert_eq!(unescape(b"abcde", &mut buf), None);
    assert_eq!(unescape(b"a\\bcde", &mut buf), None);
    assert_eq!(unescape(b"a\\", &mut buf), None);
}

#[test]
fn md5_only_offers_and_accepts_md5_alone() {
    let config = AuthConfig {
        md5: true,
        md5_first: true,
        sha256: false,
        ..AuthConfig::default()
    };
    let mut s = setup(config);
    let offers = s.offer(T, CALL_ID);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].algorithm, Algorithm::Md5);
    let answer = |algorithm| {
        authorization(
            &offers[0],
            algorithm,
            "alice",
            "alice-secret",
            "INVITE",
            "sip:bob@127.0.0.1:5060",
            1,
            "c",
        )
    };
    // No SHA-256 answer is taken (nothing not offered), MD5 is.
    assert_eq!(
        s.verify(T, &req(), &answer(Algorithm::Sha256)),
        Outcome::Failed(Failure::Unsupported)
    );
    assert!(matches!(
        s.verify(T, &req(), &answer(Algorithm::Md5)),
        Outcome::Ok { user: "alice", .. }
    ));
}
