//! The registrar on real REGISTER texts, parsed and validated as the
//! proxy does, on virtual time: `T0` plus offsets, and Unix time `UNIX0`
//! plus the same offsets.

use core::net::SocketAddr;
use core::time::Duration;
use std::time::Instant;

use trunkline_parser::{Parser, ValidateOptions, validate_with};

use super::location::Partition;
use super::*;

const UNIX0: i64 = 1_700_000_000;
const SIPP: &str = "127.0.0.1:5061";
const INSTANCE: &str = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A registrar for `example.com` on a table of four partitions, and the
/// clock's origin.
struct Reg {
    cfg: RegistrarConfig,
    loc: Location,
    t0: Instant,
}

impl Reg {
    fn new() -> Reg {
        Reg::with(RegistrarConfig::new(["example.com", "127.0.0.1"]))
    }

    fn with(cfg: RegistrarConfig) -> Reg {
        cfg.validate().unwrap();
        Reg {
            loc: Location::new(4, LocationLimits::from(&cfg)),
            cfg,
            t0: Instant::now(),
        }
    }

    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    /// Runs `raw` from `src` at `T0 + secs`.
    fn send_from(&self, secs: f64, raw: &str, src: &str) -> Result<Vec<Binding>, Refusal> {
        let mut parser = Parser::default();
        let msg = parser.parse(raw.as_bytes()).expect("parses");
        let sum = validate_with(&msg, &ValidateOptions::PROXY).expect("valid");
        let mut out = vec![binding_stub()]; // cleared by register
        let unix = UNIX0 + secs as i64;
        let aor = register(
            &self.loc,
            &self.cfg,
            self.at(secs),
            unix,
            &msg,
            &sum,
            addr(src),
            3,
            &mut out,
        );
        match aor {
            Ok(aor) => {
                assert_eq!(aor, alice());
                Ok(out)
            }
            Err(e) => {
                assert!(out.is_empty(), "{e}: out not cleared");
                Err(e)
            }
        }
    }

    fn send(&self, secs: f64, raw: &str) -> Result<Vec<Binding>, Refusal> {
        self.send_from(secs, raw, SIPP)
    }

    fn lookup(&self, secs: f64) -> Vec<Binding> {
        let mut out = Vec::new();
        self.loc.lookup(self.at(secs), &alice(), &mut out);
        out
    }

    fn contacts(&self, secs: f64) -> Vec<String> {
        self.lookup(secs)
            .iter()
            .map(|b| b.contact.to_string())
            .collect()
    }

    fn partition(&self) -> usize {
        self.loc.partition_of(&alice())
    }
}

fn alice() -> Aor {
    Aor::from_key("alice@example.com").unwrap()
}

fn binding_stub() -> Binding {
    Binding {
        contact: "sip:x@y".into(),
        q: 1000,
        expires_at: Instant::now(),
        call_id: Box::new([]),
        cseq: 0,
        instance: None,
        reg_id: None,
        path: Box::new([]),
        source: addr(SIPP),
        local: 0,
        nat: false,
        registered_unix: 0,
    }
}

/// A REGISTER for alice@example.com from SIPp at 127.0.0.1:5061, with
/// `extra` header lines (each ending in CRLF).
fn register_text(call_id: &str, cseq: u32, extra: &str) -> String {
    register_via(SIPP, call_id, cseq, extra)
}

fn register_via(via: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via};branch=z9hG4bK-{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=f{cseq}\r\n\
         To: <sip:alice@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

fn contact(uri: &str) -> String {
    format!("Contact: <{uri}>\r\n")
}

fn secs_left(r: &Reg, b: &Binding, secs: f64) -> u64 {
    b.remaining_secs(r.at(secs))
}

#[test]
fn adds_a_binding() {
    let r = Reg::new();
    let extra = format!("{}Expires: 1800\r\n", contact("sip:alice@127.0.0.1:5061"));
    let out = r.send(0.0, &register_text("c1", 1, &extra)).unwrap();
    assert_eq!(out.len(), 1);
    let b = &out[0];
    assert_eq!(&*b.contact, "sip:alice@127.0.0.1:5061");
    assert_eq!(b.expires_at, r.at(1800.0));
    assert_eq!((&*b.call_id, b.cseq, b.q), (&b"c1"[..], 1, 1000));
    assert_eq!((b.source, b.local, b.nat), (addr(SIPP), 3, false));
    assert_eq!(b.registered_unix, UNIX0);
    assert!(b.path.is_empty());
    assert_eq!(r.lookup(1.0), out);
    assert_eq!((r.loc.len(), r.loc.bindings()), (1, 1));
    assert!(r.loc.contains_aor(&alice()));
    assert_eq!(r.loc.next_expiry(r.partition()), Some(r.at(1800.0)));
}

#[test]
fn refreshes_a_binding() {
    let r = Reg::new();
    let c = contact("sip:alice@127.0.0.1:5061");
    r.send(0.0, &register_text("c1", 1, &c)).unwrap();
    // The same URI, now with an expires parameter.
    let extra = "Contact: <sip:alice@127.0.0.1:5061>;expires=600\r\n";
    let out = r.send(100.0, &register_text("c1", 2, extra)).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].expires_at, r.at(700.0));
    assert_eq!(out[0].cseq, 2);
    assert_eq!((r.loc.len(), r.loc.bindings()), (1, 1));
    // Host case does not make another binding; the user's case does.
    let upper = contact("sip:alice@EXAMPLE.net");
    r.send(101.0, &register_text("c1", 3, &upper)).unwrap();
    let lower = contact("sip:alice@example.net");
    assert_eq!(
        r.send(102.0, &register_text("c1", 4, &lower))
            .unwrap()
            .len(),
        2
    );
    let user = contact("sip:Alice@example.net");
    assert_eq!(
        r.send(103.0, &register_text("c1", 5, &user)).unwrap().len(),
        3
    );
}

#[test]
fn removes_with_expires_zero() {
    let r = Reg::new();
    let c = contact("sip:alice@127.0.0.1:5061");
    r.send(0.0, &register_text("c1", 1, &c)).unwrap();
    let extra = "Contact: <sip:alice@127.0.0.1:5061>;expires=0\r\n";
    let out = r.send(1.0, &register_text("c1", 2, extra)).unwrap();
    assert!(out.is_empty());
    assert_eq!((r.loc.len(), r.loc.bindings()), (0, 0));
    assert!(!r.loc.contains_aor(&alice()));
    // The Expires header removes too; removing what is not there is fine.
    let extra = format!("{c}Expires: 0\r\n");
    assert!(
        r.send(2.0, &register_text("c1", 3, &extra))
            .unwrap()
            .is_empty()
    );
    // The old timer finds nothing.
    assert_eq!(r.loc.expire(r.partition(), r.at(4000.0)), 0);
}

#[test]
fn wildcard_removes_everything() {
    let r = Reg::new();
    let extra = "Contact: <sip:alice@127.0.0.1:5061>, <sip:alice@192.0.2.1>\r\n";
    assert_eq!(
        r.send(0.0, &register_text("c1", 1, extra)).unwrap().len(),
        2
    );
    let other = contact("sip:alice@192.0.2.2");
    r.send(0.0, &register_text("c2", 1, &other)).unwrap();
    assert_eq!(r.loc.bindings(), 3);
    let out = r
        .send(1.0, &register_text("c3", 1, "Contact: *\r\nExpires: 0\r\n"))
        .unwrap();
    assert!(out.is_empty());
    assert_eq!((r.loc.len(), r.loc.bindings()), (0, 0));
}

#[test]
fn wildcard_only_alone_and_with_expires_zero() {
    let r = Reg::new();
    let c = contact("sip:alice@127.0.0.1:5061");
    r.send(0.0, &register_text("c1", 1, &c)).unwrap();
    for extra in [
        "Contact: *\r\n".to_string(),
        "Contact: *\r\nExpires: 60\r\n".to_string(),
        format!("Contact: *\r\n{c}Expires: 0\r\n"),
        format!("{c}Contact: *\r\nExpires: 0\r\n"),
        "Contact: *\r\nContact: *\r\nExpires: 0\r\n".to_string(),
    ] {
        let e = r.send(1.0, &register_text("c2", 1, &extra)).unwrap_err();
        assert_eq!(
            (e.code, e.reason),
            (400, &b"Invalid Wildcard"[..]),
            "{extra}"
        );
    }
    assert_eq!(r.loc.bindings(), 1);
}

#[test]
fn too_brief_gets_423_with_min_expires() {
    let r = Reg::new();
    let c = contact("sip:alice@127.0.0.1:5061");
    for extra in [
        format!("{c}Expires: 30\r\n"),
        "Contact: <sip:alice@127.0.0.1:5061>;expires=59\r\nExpires: 3600\r\n".into(),
        // One brief contact refuses the whole request.
        format!("{c}Contact: <sip:alice@192.0.2.1>;expires=1\r\n"),
    ] {
        let e = r.send(0.0, &register_text("c1", 1, &extra)).unwrap_err();
        assert_eq!(e.code, 423);
        assert_eq!(e.reason, b"Interval Too Brief");
        assert_eq!(e.header.as_deref(), Some("Min-Expires: 60"));
    }
    assert!(r.loc.is_empty());
    // The minimum itself is fine.
    let extra = format!("{c}Expires: 60\r\n");
    assert_eq!(
        r.send(0.0, &register_text("c1", 2, &extra)).unwrap()[0].expires_at,
        r.at(60.0)
    );
}

#[test]
fn clamps_to_max_expires_and_defaults() {
    let r = Reg::new();
    let extra = "Contact: <sip:alice@127.0.0.1:5061>;expires=99999999999\r\n";
    let out = r.send(0.0, &register_text("c1", 1, extra)).unwrap();
    assert_eq!(out[0].expires_at, r.at(3600.0));
    let extra = "Contact: <sip:alice@192.0.2.1>\r\nExpires: 7200\r\n";
    let out = r.send(0.0, &register_text("c1", 2, extra)).unwrap();
    assert!(out.iter().all(|b| b.expires_at == r.at(3600.0)));
    // Neither parameter nor header: default_expires.
    let mut cfg = RegistrarConfig::new(["example.com"]);
    cfg.default_expires = 120;
    let r = Reg::with(cfg);
    let c = contact("sip:alice@127.0.0.1:5061");
    let out = r.send(0.0, &register_text("c1", 1, &c)).unwrap();
    assert_eq!(out[0].expires_at, r.at(120.0));
}

#[test]
fn call_id_and_cseq_order() {
    let r = Reg::new();
    let c = contact("sip:alice@127.0.0.1:5061");
    r.send(0.0, &register_text("c1", 5, &c)).unwrap();
    for cseq in [4, 5] {
        let e = r.send(1.0, &register_text("c1", cseq, &c)).unwrap_err();
        assert_eq!((e.code, e.reason), (500, &b"Out Of Order"[..]));
        let remove = format!("{c}Expires: 0\r\n");
        assert_eq!(
            r.send(1.0, &register_text("c1", cseq, &remove))
                .unwrap_err()
                .code,
            500
        );
        let star = "Contact: *\r\nExpires: 0\r\n";
        assert_eq!(
            r.send(1.0, &register_text("c1", cseq, star))
                .unwrap_err()
                .code,
            500
        );
    }
    // Nothing changed, even partly: a request that also adds another
    // contact adds nothing.
    let both = format!("{c}Contact: <sip:alice@192.0.2.1>\r\n");
    assert_eq!(
        r.send(1.0, &register_text("c1", 5, &both))
            .unwrap_err()
            .code,
        500
    );
    let now = r.lookup(1.0);
    assert_eq!(now.len(), 1);
    assert_eq!((now[0].cseq, now[0].expires_at), (5, r.at(3600.0)));
    // Another Call-ID replaces, whatever its CSeq.
    let out = r.send(2.0, &register_text("c2", 1, &c)).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!((&*out[0].call_id, out[0].cseq), (&b"c2"[..], 1));
    assert_eq!(r.send(3.0, &register_text("c2", 2, &c)).unwrap()[0].cseq, 2);
}

#[test]
fn max_contacts_gets_403_and_changes_nothing() {
    let mut cfg = RegistrarConfig::new(["example.com"]);
    cfg.max_contacts = 2;
    let r = Reg::with(cfg);
    let two = "Contact: <sip:alice@192.0.2.1>, <sip:alice@192.0.2.2>\r\n";
    r.send(0.0, &register_text("c1", 1, two)).unwrap();
    let third = "Contact: <sip:alice@192.0.2.1>;expires=100, <sip:alice@192.0.2.3>\r\n";
    let e = r.send(1.0, &register_text("c1", 2, third)).unwrap_err();
    assert_eq!(
        (e.code, e.reason, e.header),
        (403, &b"Too Many Contacts"[..], None)
    );
    assert!(r.lookup(1.0).iter().all(|b| b.expires_at == r.at(3600.0)));
    // Refreshing is fine, and so is replacing one by another.
    r.send(2.0, &register_text("c1", 3, two)).unwrap();
    let swap = "Contact: <sip:alice@192.0.2.1>;expires=0, <sip:alice@192.0.2.3>\r\n";
    let out = r.send(3.0, &register_text("c1", 4, swap)).unwrap();
    let mut got: Vec<_> = out.iter().map(|b| b.contact.to_string()).collect();
    got.sort();
    assert_eq!(got, ["sip:alice@192.0.2.2", "sip:alice@192.0.2.3"]);
    assert_eq!(r.loc.bindings(), 2);
    // Expired bindings do not count.
    let out = r
        .send(
            3700.0,
            &register_text("c1", 5, "Contact: <sip:alice@192.0.2.9>\r\n"),
        )
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(r.loc.bindings(), 1);
}

#[test]
fn full_table_gets_503_with_retry_after() {
    let mut cfg = RegistrarConfig::new(["example.com"]);
    cfg.max_aors = 1;
    let r = Reg::with(cfg);
    let bob = r
        .send_bob(0.0, 1, "Contact: <sip:bob@192.0.2.1>\r\n")
        .unwrap();
    assert_eq!(bob, 1);
    let c = contact("sip:alice@127.0.0.1:5061");
    let e = r.send(1.0, &register_text("c1", 1, &c)).unwrap_err();
    assert_eq!((e.code, e.reason), (503, &b"Service Unavailable"[..]));
    assert_eq!(e.header.as_deref(), Some("Retry-After: 60"));
    assert_eq!(r.loc.len(), 1);
    // A query or a removal for the new AOR needs no room.
    assert!(r.send(1.0, &register_text("c1", 2, "")).unwrap().is_empty());
    let gone = format!("{c}Expires: 0\r\n");
    assert!(
        r.send(1.0, &register_text("c1", 3, &gone))
            .unwrap()
            .is_empty()
    );
    // Bob's refresh goes on; once bob leaves, alice fits.
    assert_eq!(
        r.send_bob(2.0, 2, "Contact: <sip:bob@192.0.2.1>\r\n")
            .unwrap(),
        1
    );
    assert_eq!(
        r.send_bob(3.0, 3, "Contact: *\r\nExpires: 0\r\n").unwrap(),
        0
    );
    assert_eq!(r.send(4.0, &register_text("c1", 4, &c)).unwrap().len(), 1);
    assert_eq!(r.loc.len(), 1);
}

impl Reg {
    /// A REGISTER for bob@example.com; the number of bindings after.
    fn send_bob(&self, secs: f64, cseq: u32, extra: &str) -> Result<usize, Refusal> {
        let raw = register_text("bob-1", cseq, extra).replace("To: <sip:alice@", "To: <sip:bob@");
        let mut parser = Parser::default();
        let msg = parser.parse(raw.as_bytes()).unwrap();
        let sum = validate_with(&msg, &ValidateOptions::PROXY).unwrap();
        let mut out = Vec::new();
        let aor = register(
            &self.loc,
            &self.cfg,
            self.at(secs),
            UNIX0,
            &msg,
            &sum,
            addr(SIPP),
            0,
            &mut out,
        )?;
        assert_eq!(aor.as_str(), "bob@example.com");
        Ok(out.len())
    }
}

#[test]
fn lookup_orders_by_q_then_most_recent() {
    let r = Reg::new();
    let extra = "Contact: <sip:alice@192.0.2.1>;q=0.5, <sip:alice@192.0.2.2>, \
                 <sip:alice@192.0.2.3>;q=0.8\r\n";
    let out = r.send(0.0, &register_text("c1", 1, extra)).unwrap();
    let q: Vec<_> = out.iter().map(|b| b.q).collect();
    assert_eq!(q, [1000, 800, 500]);
    // Equal q: the most recently registered first; a refresh counts.
    r.send(
        1.0,
        &register_text("c1", 2, "Contact: <sip:alice@192.0.2.4>;q=0.5\r\n"),
    )
    .unwrap();
    r.send(
        2.0,
        &register_text("c1", 3, "Contact: <sip:alice@192.0.2.1>;q=0.500\r\n"),
    )
    .unwrap();
    assert_eq!(
        r.contacts(3.0),
        [
            "sip:alice@192.0.2.2",
            "sip:alice@192.0.2.3",
            "sip:alice@192.0.2.1",
            "sip:alice@192.0.2.4"
        ]
    );
}

#[test]
fn bad_parameters_get_400() {
    let r = Reg::new();
    for (param, reason) in [
        ("q=1.5", &b"Bad q"[..]),
        ("q=0.1234", b"Bad q"),
        ("q=2", b"Bad q"),
        ("q=1.001", b"Bad q"),
        ("q", b"Bad q"),
        ("expires=soon", b"Bad Expires"),
        ("expires", b"Bad Expires"),
        ("reg-id=0", b"Bad reg-id"),
        ("reg-id=x", b"Bad reg-id"),
        ("+sip.instance=unquoted", b"Bad +sip.instance"),
    ] {
        let extra = format!("Contact: <sip:alice@192.0.2.1>;{param}\r\n");
        let e = r.send(0.0, &register_text("c1", 1, &extra)).unwrap_err();
        assert_eq!((e.code, e.reason), (400, reason), "{param}");
    }
    let e = r
        .send(
            0.0,
            &register_text("c1", 1, "Contact: <sip:a@b>\r\nExpires: -1\r\n"),
        )
        .unwrap_err();
    assert_eq!((e.code, e.reason), (400, &b"Bad Expires"[..]));
    let e = r
        .send(0.0, &register_text("c1", 1, "Contact: <tel:+15551234>\r\n"))
        .unwrap_err();
    assert_eq!(e.code, 400);
    let e = r
        .send(0.0, &register_text("c1", 1, "Contact: <sip:a@b>,,\r\n"))
        .unwrap_err();
    assert_eq!((e.code, e.reason), (400, &b"Bad Contact"[..]));
    let long = format!("Contact: <sip:{}@192.0.2.1>\r\n", "a".repeat(600));
    let e = r.send(0.0, &register_text("c1", 1, &long)).unwrap_err();
    assert_eq!((e.code, e.reason), (400, &b"Contact Too Long"[..]));
    let e = r
        .send(
            0.0,
            &register_text(&"x".repeat(300), 1, "Contact: <sip:a@b>\r\n"),
        )
        .unwrap_err();
    assert_eq!((e.code, e.reason), (400, &b"Call-ID Too Long"[..]));
    // Good ones.
    let ok = "Contact: <sip:alice@192.0.2.1>;q=0;expires=100, \
              <sip:alice@192.0.2.2>;q=1.000, <sip:alice@192.0.2.3>;q=0.05;Q=0.9\r\n";
    let out = r.send(0.0, &register_text("c1", 1, ok)).unwrap();
    let q: Vec<_> = out.iter().map(|b| b.q).collect();
    assert_eq!(q, [1000, 50, 0]);
    assert!(r.loc.len() == 1 && r.loc.bindings() == 3);
}

#[test]
fn to_outside_our_domains_gets_404() {
    let r = Reg::new();
    let raw = register_text("c1", 1, "Contact: <sip:a@192.0.2.1>\r\n")
        .replace("To: <sip:alice@example.com>", "To: <sip:alice@example.org>");
    let e = r.send(0.0, &raw).unwrap_err();
    assert_eq!((e.code, e.reason), (404, &b"Not Found"[..]));
    let raw = register_text("c1", 1, "Contact: <sip:a@192.0.2.1>\r\n")
        .replace("To: <sip:alice@example.com>", "To: <tel:+15551234>");
    assert_eq!(r.send(0.0, &raw).unwrap_err().code, 404);
    // Our domain in any case, with a port: the same AOR.
    let raw = register_text("c1", 1, "Contact: <sip:a@192.0.2.1>\r\n").replace(
        "To: <sip:alice@example.com>",
        "To: \"Alice\" <sips:alice@EXAMPLE.COM:5061;transport=tls>",
    );
    r.send(0.0, &raw).unwrap();
    assert_eq!(r.lookup(0.0).len(), 1);
}

#[test]
fn expires_on_the_timer_list() {
    let r = Reg::new();
    let p = r.partition();
    let extra = "Contact: <sip:alice@192.0.2.1>;expires=60, <sip:alice@192.0.2.2>;expires=120\r\n";
    r.send(0.0, &register_text("c1", 1, extra)).unwrap();
    assert_eq!(r.loc.next_expiry(p), Some(r.at(60.0)));
    assert_eq!(r.contacts(59.9).len(), 2);
    // At its expiry a binding is gone from lookups before the timer runs.
    assert_eq!(r.contacts(60.0), ["sip:alice@192.0.2.2"]);
    assert_eq!(r.loc.expire(p, r.at(59.0)), 0);
    assert_eq!(r.loc.bindings(), 2);
    assert_eq!(r.loc.expire(p, r.at(60.0)), 1);
    assert_eq!((r.loc.len(), r.loc.bindings()), (1, 1));
    assert_eq!(r.loc.next_expiry(p), Some(r.at(120.0)));
    // A refresh moves the expiry later: the old timer fires early and
    // finds nothing, then the real one.
    r.send(
        90.0,
        &register_text("c1", 2, "Contact: <sip:alice@192.0.2.2>;expires=100\r\n"),
    )
    .unwrap();
    assert_eq!(r.loc.expire(p, r.at(120.0)), 0);
    assert_eq!(r.loc.next_expiry(p), Some(r.at(190.0)));
    assert_eq!(r.contacts(189.0).len(), 1);
    assert_eq!(r.loc.expire(p, r.at(190.0)), 1);
    assert_eq!((r.loc.len(), r.loc.bindings()), (0, 0));
    assert_eq!(r.loc.next_expiry(p), None);
    // Other partitions, and ones that do not exist, have nothing.
    assert_eq!(r.loc.expire(99, r.at(1e6)), 0);
    assert_eq!(r.loc.next_expiry(99), None);
}

#[test]
fn timer_list_stays_bounded() {
    let r = Reg::new();
    let p = r.partition();
    // Every other REGISTER shortens the expiry (a new timer), every other
    // one removes the AOR (leaving its timer stale).
    for i in 0..20_000u32 {
        let extra = if i % 2 == 0 {
            format!(
                "Contact: <sip:alice@192.0.2.1>;expires={}\r\n",
                3600 - i / 2 % 3000
            )
        } else {
            "Contact: <sip:alice@192.0.2.1>;expires=0\r\n".into()
        };
        r.send(0.0, &register_text("c1", i + 1, &extra)).unwrap();
    }
    let part: std::sync::MutexGuard<'_, Partition> = r.loc.lock(p).unwrap();
    assert!(part.aors.is_empty());
    assert!(part.timer_entries() <= 1030, "{}", part.timer_entries());
}

#[test]
fn instance_and_reg_id_identify_a_flow() {
    let r = Reg::new();
    let flow = |uri: &str, reg_id: u32| {
        format!("Contact: <{uri}>;+sip.instance=\"{INSTANCE}\";reg-id={reg_id}\r\n")
    };
    let out = r
        .send(
            0.0,
            &register_text("c1", 1, &flow("sip:alice@192.0.2.1", 1)),
        )
        .unwrap();
    assert_eq!(out[0].instance.as_deref(), Some(INSTANCE));
    assert_eq!(out[0].reg_id, Some(1));
    // The UA moved (a new Contact URI), same flow: replaced.
    let out = r
        .send(
            1.0,
            &register_text("c2", 1, &flow("sip:alice@192.0.2.9:5070", 1)),
        )
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(&*out[0].contact, "sip:alice@192.0.2.9:5070");
    // A second flow of the same instance: another binding.
    let out = r
        .send(
            2.0,
            &register_text("c2", 2, &flow("sip:alice@192.0.2.9:5070", 2)),
        )
        .unwrap();
    assert_eq!(out.len(), 2);
    // The same URI without reg-id is identified by its URI: a third.
    let plain = format!("Contact: <sip:alice@192.0.2.9:5070>;+sip.instance=\"{INSTANCE}\"\r\n");
    let out = r.send(3.0, &register_text("c2", 3, &plain)).unwrap();
    assert_eq!(out.len(), 3);
    // Removing flow 1 by its identity, under any URI.
    let gone = format!(
        "Contact: <sip:elsewhere@192.0.2.200>;+sip.instance=\"{INSTANCE}\";reg-id=1;expires=0\r\n"
    );
    let out = r.send(4.0, &register_text("c2", 4, &gone)).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|b| b.reg_id != Some(1)));
}

#[test]
fn stores_path_and_routes_through_it() {
    let r = Reg::new();
    let extra = "Contact: <sip:alice@10.0.0.5:5060>\r\n\
                 Path: <sip:edge1.example.net;lr>, \"Edge\" <sip:192.0.2.50:5080;lr>;x=1\r\n\
                 Path: <sip:edge3.example.net;lr>\r\n\
                 Supported: timer, path\r\n";
    let raw = register_via("10.0.0.5:5060", "c1", 1, extra);
    let out = r.send_from(0.0, &raw, "203.0.113.7:40000").unwrap();
    let b = &out[0];
    let want = [
        "<sip:edge1.example.net;lr>",
        "<sip:192.0.2.50:5080;lr>;x=1",
        "<sip:edge3.example.net;lr>",
    ];
    assert_eq!(b.path.iter().map(|p| &**p).collect::<Vec<_>>(), want);
    assert!(b.nat);
    // The Path comes first, NAT or not.
    assert_eq!(
        b.next_hop(),
        NextHop::Path("sip:edge1.example.net;lr".into())
    );

    let mut parser = Parser::default();
    let msg = parser.parse(raw.as_bytes()).unwrap();
    assert!(supports_path(&msg));
    assert_eq!(request_path(&msg).unwrap().len(), 3);

    // Without Path, none stored; a bad or oversized Path gets 400.
    let out = r
        .send(
            1.0,
            &register_text("c1", 2, "Contact: <sip:alice@10.0.0.5:5060>\r\n"),
        )
        .unwrap();
    assert!(out[0].path.is_empty());
    let bad = "Contact: <sip:a@192.0.2.1>\r\nPath: <tel:+1555>\r\n";
    assert_eq!(
        r.send(2.0, &register_text("c1", 3, bad))
            .unwrap_err()
            .reason,
        b"Bad Path"
    );
    let long = "Contact: <sip:a@192.0.2.1>\r\n".to_string()
        + &"Path: <sip:proxy.example.net;lr;a-long-parameter-to-fill-the-path-up=1>\r\n".repeat(20);
    let e = r.send(2.0, &register_text("c1", 4, &long)).unwrap_err();
    assert_eq!((e.code, e.reason), (400, &b"Path Too Long"[..]));
}

#[test]
fn nat_detection() {
    let r = Reg::new();
    let nat = |via: &str, contact_uri: &str, src: &str| -> Binding {
        let raw = register_via(
            via,
            &format!("c-{via}-{contact_uri}"),
            1,
            &contact(contact_uri),
        );
        r.send_from(0.0, &raw, src)
            .unwrap()
            .into_iter()
            .find(|b| &*b.contact == contact_uri)
            .unwrap()
    };
    // A private Contact and Via from a public source: NATed, requests to
    // the source (fix_nated_register).
    let b = nat(
        "192.168.1.20:5060",
        "sip:alice@192.168.1.20:5060",
        "203.0.113.7:40000",
    );
    assert!(b.nat);
    assert_eq!(b.next_hop(), NextHop::Addr(addr("203.0.113.7:40000")));
    // A Via that says the public address (STUN), Contact still private.
    let b = nat(
        "203.0.113.7:40000",
        "sip:alice@10.1.2.3",
        "203.0.113.7:40000",
    );
    assert!(b.nat);
    // A Via with another port than the source's.
    let b = nat(
        "198.51.100.4:5060",
        "sip:alice@198.51.100.4",
        "198.51.100.4:33333",
    );
    assert!(b.nat);
    // SIPp on the loopback, Contact = source: not NATed.
    let b = nat(SIPP, "sip:alice@127.0.0.1:5061", SIPP);
    assert!(!b.nat);
    assert_eq!(b.next_hop(), NextHop::Addr(addr(SIPP)));
    // A loopback Contact on another port than the source's is.
    let b = nat(SIPP, "sip:alice@127.0.0.1:5070", SIPP);
    assert!(b.nat);
    // A public UA, Contact by name: not NATed, the name looked up.
    let b = nat(
        "198.51.100.4:5060",
        "sip:alice@UA.Example.net",
        "198.51.100.4:5060",
    );
    assert!(!b.nat);
    assert_eq!(
        b.next_hop(),
        NextHop::Name {
            host: "ua.example.net".into(),
            port: None
        }
    );
    let b = nat(
        "198.51.100.4:5060",
        "sips:alice@198.51.100.9",
        "198.51.100.4:5060",
    );
    assert_eq!(b.next_hop(), NextHop::Addr(addr("198.51.100.9:5061")));
    // IPv6: unique local from a global source.
    let b = nat(
        "[2001:db8::1]:5060",
        "sip:alice@[fd00::7]",
        "[2001:db8::1]:5060",
    );
    assert!(b.nat);
    let b = nat(
        "[2001:db8::1]:5060",
        "sip:alice@[2001:db8::1]",
        "[2001:db8::1]:5060",
    );
    assert!(!b.nat);
    // nated(): each source once, with its listener.
    let mut out = vec![(addr("192.0.2.99:1"), 9)];
    r.loc.nated(r.partition(), &mut out);
    assert!(out.contains(&(addr("203.0.113.7:40000"), 3)));
    assert!(!out.contains(&(addr("192.0.2.99:1"), 9)));
    let mut dedup = out.clone();
    dedup.dedup();
    assert_eq!(dedup, out);
    assert_eq!(
        out.iter()
            .filter(|(a, _)| *a == addr("203.0.113.7:40000"))
            .count(),
        1
    );
}

#[test]
fn unroutable_addresses() {
    for (ip, want) in [
        ("10.1.2.3", true),
        ("172.16.0.1", true),
        ("172.31.255.255", true),
        ("172.32.0.1", false),
        ("192.168.0.1", true),
        ("100.64.0.1", true),
        ("100.127.255.255", true),
        ("100.128.0.1", false),
        ("169.254.1.1", true),
        ("127.0.0.1", true),
        ("8.8.8.8", false),
        ("fc00::1", true),
        ("fdff::1", true),
        ("fe80::1", true),
        ("febf::1", true),
        ("fec0::1", false),
        ("::1", true),
        ("::ffff:192.168.1.1", true),
        ("2001:db8::1", false),
    ] {
        assert_eq!(is_unroutable(ip.parse().unwrap()), want, "{ip}");
    }
}

#[test]
fn export_and_import_keep_the_remaining_lifetime() {
    let r = Reg::new();
    let extra = format!(
        "Contact: <sip:alice@192.0.2.1>;q=0.7;+sip.instance=\"{INSTANCE}\";reg-id=2\r\n\
         Contact: <sip:alice@192.0.2.2>;expires=600\r\n\
         Path: <sip:edge.example.net;lr>\r\n"
    );
    let raw = register_via("192.168.0.9:5060", "c1", 7, &extra);
    r.send_from(0.0, &raw, "203.0.113.7:4000").unwrap();
    let recs = r.loc.export(r.partition(), r.at(100.0), UNIX0 + 100);
    assert_eq!(recs.len(), 2);
    let rec = recs
        .iter()
        .find(|r| r.contact == "sip:alice@192.0.2.1")
        .unwrap();
    assert_eq!(rec.aor, "alice@example.com");
    assert_eq!(rec.expires_unix, UNIX0 + 3600);
    assert_eq!((rec.q, rec.cseq, rec.reg_id), (700, 7, Some(2)));
    assert_eq!(rec.instance.as_deref(), Some(INSTANCE));
    assert_eq!(rec.path, ["<sip:edge.example.net;lr>"]);
    assert_eq!(
        (rec.source, rec.local, rec.nat),
        (addr("203.0.113.7:4000"), 3, true)
    );
    // Nothing of the other partitions.
    let others: usize = (0..4)
        .filter(|&i| i != r.partition())
        .map(|i| r.loc.export(i, r.at(100.0), UNIX0 + 100).len())
        .sum();
    assert_eq!(others, 0);

    // A restart: another clock origin, 300 s later in Unix time.
    let t1 = Instant::now() + Duration::from_secs(5);
    let fresh = Location::new(2, LocationLimits::from(&r.cfg));
    for rec in recs.iter().cloned() {
        fresh.import(t1, UNIX0 + 300, rec).unwrap();
    }
    assert_eq!((fresh.len(), fresh.bindings()), (1, 2));
    let mut out = Vec::new();
    fresh.lookup(t1, &alice(), &mut out);
    let left: Vec<_> = out
        .iter()
        .map(|b| (&*b.contact, b.expires_at.duration_since(t1).as_secs()))
        .collect();
    assert_eq!(
        left,
        [("sip:alice@192.0.2.2", 300), ("sip:alice@192.0.2.1", 3300)]
    );
    assert_eq!(out[1].path.len(), 1);
    assert_eq!(out[1].instance.as_deref(), Some(INSTANCE));
    assert!(out[1].nat);
    assert_eq!(
        out[1].next_hop(),
        NextHop::Path("sip:edge.example.net;lr".into())
    );
    assert_eq!(
        fresh.next_expiry(fresh.partition_of(&alice())),
        Some(t1 + Duration::from_secs(300))
    );
    // Importing the same records again replaces, not duplicates.
    for rec in recs.iter().cloned() {
        fresh.import(t1, UNIX0 + 300, rec).unwrap();
    }
    assert_eq!(fresh.bindings(), 2);
    // The 600 s binding expired at UNIX0 + 600.
    let mut late = recs.clone();
    late.retain(|r| r.contact == "sip:alice@192.0.2.2");
    assert_eq!(
        Location::new(1, LocationLimits::from(&r.cfg)).import(t1, UNIX0 + 600, late[0].clone()),
        Err(ImportError::Expired)
    );
    // What a REGISTER could not store is refused.
    let bad = |f: &dyn Fn(&mut BindingRecord)| {
        let mut rec = recs[0].clone();
        f(&mut rec);
        Location::new(1, LocationLimits::from(&r.cfg))
            .import(t1, UNIX0, rec)
            .unwrap_err()
    };
    assert_eq!(
        bad(&|r| r.contact = "tel:+1555".into()),
        ImportError::Invalid("contact")
    );
    assert_eq!(bad(&|r| r.aor = "@@".into()), ImportError::Invalid("aor"));
    assert_eq!(bad(&|r| r.q = 1001), ImportError::Invalid("q"));
    assert_eq!(
        bad(&|r| r.call_id = "a b".into()),
        ImportError::Invalid("call_id")
    );
    assert_eq!(
        bad(&|r| r.path = vec!["<sip:x;lr>\r\nX: y".into()]),
        ImportError::Invalid("path")
    );
    // And past the caps.
    let tiny = Location::new(
        1,
        LocationLimits {
            max_aors: 1,
            max_contacts: 1,
        },
    );
    tiny.import(t1, UNIX0, recs[0].clone()).unwrap();
    let mut second = recs[0].clone();
    second.contact = "sip:alice@192.0.2.77".into();
    second.instance = None;
    assert_eq!(
        tiny.import(t1, UNIX0, second.clone()),
        Err(ImportError::TooManyContacts)
    );
    second.aor = "bob@example.com".into();
    assert_eq!(tiny.import(t1, UNIX0, second), Err(ImportError::TableFull));
}

#[cfg(feature = "runtime")]
#[test]
fn records_round_trip_as_json_lines() {
    let r = Reg::new();
    let extra = format!("Contact: <sip:alice@192.0.2.1>;+sip.instance=\"{INSTANCE}\";reg-id=1\r\n");
    r.send(0.0, &register_text("c1", 1, &extra)).unwrap();
    r.send(
        0.0,
        &register_text("c1", 2, "Contact: <sip:alice@192.0.2.2>\r\n"),
    )
    .unwrap();
    let recs = r.loc.export(r.partition(), r.at(0.0), UNIX0);
    let lines: String = recs
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    assert!(lines.contains("\"source\":\"127.0.0.1:5061\""), "{lines}");
    let back: Vec<BindingRecord> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, recs);
}

#[test]
fn a_query_lists_the_bindings() {
    let r = Reg::new();
    assert!(r.send(0.0, &register_text("c1", 1, "")).unwrap().is_empty());
    assert!(r.loc.is_empty());
    let two = "Contact: <sip:alice@192.0.2.1>;q=0.1, <sip:alice@192.0.2.2>\r\n";
    r.send(0.0, &register_text("c1", 2, two)).unwrap();
    // A query changes nothing, whatever its Call-ID and CSeq.
    let out = r
        .send(10.0, &register_text("c1", 1, "Expires: 0\r\n"))
        .unwrap();
    assert_eq!(
        out.iter().map(|b| &*b.contact).collect::<Vec<_>>(),
        ["sip:alice@192.0.2.2", "sip:alice@192.0.2.1"]
    );
    assert_eq!(r.loc.bindings(), 2);
}

#[test]
fn ok_headers_text() {
    let r = Reg::new();
    let extra = format!(
        "Contact: <sip:alice@127.0.0.1:5061>, \
         <sip:alice@192.0.2.1:5062;transport=udp>;q=0.5;expires=1800;\
         +sip.instance=\"{INSTANCE}\";reg-id=1\r\n\
         Expires: 3600\r\n"
    );
    let out = r.send(0.0, &register_text("c1", 1, &extra)).unwrap();
    let path: Vec<Box<str>> = vec![
        "<sip:edge.example.net;lr>".into(),
        "<sip:192.0.2.50;lr>".into(),
    ];
    let mut text = Vec::new();
    write_ok_headers(&out, r.at(1.4), Some(&path), &mut text);
    let want = format!(
        "Contact: <sip:alice@127.0.0.1:5061>;expires=3599\r\n\
         Contact: <sip:alice@192.0.2.1:5062;transport=udp>;expires=1799;q=0.5;\
         +sip.instance=\"{INSTANCE}\";reg-id=1\r\n\
         Path: <sip:edge.example.net;lr>\r\n\
         Path: <sip:192.0.2.50;lr>"
    );
    assert_eq!(String::from_utf8(text).unwrap(), want);
    // Rounded to the nearest second; expired bindings left out; no Path
    // without one.
    let mut text = Vec::new();
    write_ok_headers(&out, r.at(1800.6), None, &mut text);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "Contact: <sip:alice@127.0.0.1:5061>;expires=1799"
    );
    let mut text = Vec::new();
    write_ok_headers(&[], r.at(0.0), None, &mut text);
    assert!(text.is_empty());
    // q-values as written back.
    for (q, want) in [
        (0, "0"),
        (5, "0.005"),
        (50, "0.05"),
        (120, "0.12"),
        (999, "0.999"),
    ] {
        let mut b = out[0].clone();
        b.q = q;
        let mut text = Vec::new();
        write_ok_headers(&[b], r.at(0.0), None, &mut text);
        let text = String::from_utf8(text).unwrap();
        assert!(text.ends_with(&format!(";q={want}")), "{text}");
    }
    assert!(secs_left(&r, &out[0], 0.5) == 3600 && secs_left(&r, &out[0], 0.49) == 3600);
    assert_eq!(secs_left(&r, &out[0], 1.5), 3599);
}

#[test]
fn hostile_contact_lists_stay_bounded() {
    let r = Reg::new();
    // 1,000 contacts on one line: refused at the cap, the rest unread.
    let many: Vec<String> = (0..1000).map(|i| format!("<sip:a{i}@192.0.2.1>")).collect();
    let extra = format!("Contact: {}\r\n", many.join(", "));
    let e = r.send(0.0, &register_text("c1", 1, &extra)).unwrap_err();
    assert_eq!((e.code, e.reason), (403, &b"Too Many Contacts"[..]));
    // 200 Contact lines.
    let extra: String = (0..200)
        .map(|i| format!("Contact: <sip:a{i}@192.0.2.1>\r\n"))
        .collect();
    assert_eq!(
        r.send(0.0, &register_text("c1", 2, &extra))
            .unwrap_err()
            .code,
        403
    );
    // 1,000 copies of one contact: no more than the cap either.
    let extra = format!("Contact: {}\r\n", vec!["<sip:a@192.0.2.1>"; 1000].join(","));
    assert_eq!(
        r.send(0.0, &register_text("c1", 3, &extra))
            .unwrap_err()
            .code,
        403
    );
    assert!(r.loc.is_empty() && r.loc.bindings() == 0);
    // Twice max_contacts is still taken: the duplicates collapse.
    let extra = format!("Contact: {}\r\n", vec!["<sip:a@192.0.2.1>"; 20].join(","));
    assert_eq!(
        r.send(0.0, &register_text("c1", 4, &extra)).unwrap().len(),
        1
    );
}

#[test]
fn config_from_toml() {
    let cfg: RegistrarConfig = toml::from_str("domains = [\"Example.COM\"]").unwrap();
    assert_eq!(cfg, RegistrarConfig::new(["Example.COM"]));
    assert_eq!(
        (cfg.min_expires, cfg.max_expires, cfg.default_expires),
        (60, 3600, 3600)
    );
    assert_eq!(
        (cfg.max_contacts, cfg.max_aors, cfg.no_binding_code),
        (10, 1_000_000, 480)
    );
    assert_eq!((cfg.fork, cfg.nat_keepalive_ms), (Fork::Parallel, 0));
    assert!(cfg.snapshot.is_none() && cfg.redis.is_none());
    cfg.validate().unwrap();
    assert!(cfg.is_local_domain(b"example.com"));
    assert!(cfg.is_local_domain(b"EXAMPLE.com."));
    assert!(!cfg.is_local_domain(b"example.org"));
    assert_eq!(
        cfg.no_binding(),
        Refusal::new(480, b"Temporarily Unavailable")
    );

    let cfg: RegistrarConfig = toml::from_str(
        "domains = [\"a.example\", \"192.0.2.1\"]\nfork = \"serial\"\nno_binding_code = 404\n\
         min_expires = 30\nmax_expires = 7200\ndefault_expires = 600\nmax_contacts = 3\n\
         max_aors = 5\nnat_keepalive_ms = 15000\nsnapshot = \"/var/lib/trunkline\"\n\
         redis = \"redis://127.0.0.1/\"\n",
    )
    .unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.fork, Fork::Serial);
    assert_eq!(cfg.no_binding().code, 404);
    assert!(cfg.is_local_domain(b"192.0.2.1"));

    assert!(toml::from_str::<RegistrarConfig>("domains = [\"a\"]\nmax_contact = 3").is_err());
    assert!(toml::from_str::<RegistrarConfig>("min_expires = 3").is_err());
    assert!(toml::from_str::<RegistrarConfig>("domains = [\"a\"]\nfork = \"both\"").is_err());
    let refused = |edit: &dyn Fn(&mut RegistrarConfig), key: &str| {
        let mut cfg = RegistrarConfig::new(["example.com"]);
        edit(&mut cfg);
        let e = cfg.validate().unwrap_err();
        assert!(e.contains(key), "{e}");
    };
    refused(&|c| c.domains.clear(), "domains");
    refused(&|c| c.domains.push("a b".into()), "domains");
    refused(&|c| c.min_expires = 4000, "min_expires");
    refused(&|c| c.default_expires = 4000, "max_expires");
    refused(&|c| c.default_expires = 0, "default_expires");
    refused(&|c| c.no_binding_code = 486, "no_binding_code");
    refused(&|c| c.max_contacts = 0, "max_contacts");
    refused(&|c| c.max_aors = 0, "max_aors");
    refused(&|c| c.nat_keepalive_ms = 10, "nat_keepalive_ms");
}

#[test]
fn aors_and_partitions() {
    let aor = |s: &str| aor_of(&trunkline_parser::Uri::parse(s.as_bytes()).unwrap());
    let a = aor("sip:Alice@EXAMPLE.com:5060;transport=udp").unwrap();
    assert_eq!(a.as_str(), "Alice@example.com");
    assert_eq!((a.user(), a.domain()), (Some("Alice"), "example.com"));
    assert_eq!(aor("sips:Alice@example.com."), Some(a.clone()));
    assert_ne!(aor("sip:alice@example.com"), Some(a.clone()));
    assert_eq!(aor("sip:example.com").unwrap().as_str(), "example.com");
    assert_eq!(
        aor("sip:bob@[2001:DB8::1]").unwrap().as_str(),
        "bob@[2001:db8::1]"
    );
    assert_eq!(aor("tel:+15551234"), None);
    assert_eq!(aor(&format!("sip:{}@example.com", "u".repeat(600))), None);
    assert_eq!(Aor::from_key("Alice@EXAMPLE.com"), Some(a.clone()));
    assert_eq!(Aor::from_key("a b@x"), None);

    let loc = Location::new(
        8,
        LocationLimits {
            max_aors: 10,
            max_contacts: 1,
        },
    );
    assert_eq!(loc.partitions(), 8);
    assert_eq!(loc.partition_of(&a), (aor_hash(&a) % 8) as usize);
    assert_eq!(
        aor_hash(&a),
        aor_hash(&Aor::from_key("Alice@example.com").unwrap())
    );
    // Spread over the partitions.
    let mut used = [false; 8];
    for i in 0..200 {
        used[loc.partition_of(&Aor::from_key(&format!("u{i}@example.com")).unwrap())] = true;
    }
    assert!(used.iter().all(|&u| u));
    assert_eq!(Location::new(0, loc.limits()).partitions(), 1);
}
