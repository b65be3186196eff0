//! The transaction layer on a virtual clock: every timer of RFC 3261 §17
//! fires when the RFC says, without sleeping.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trunkline_parser::{Method, Parser, validate};

use super::*;

const UAS: &str = "192.0.2.20:5060";
const UAC: &str = "192.0.2.10:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn invite(branch: &str) -> Vec<u8> {
    format!(
        "INVITE sip:bob@192.0.2.20 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKuac\r\n\
Max-Forwards: 69\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
Call-ID: call-1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn request(method: &str, branch: &str, cseq_method: &str) -> Vec<u8> {
    format!(
        "{method} sip:bob@192.0.2.20 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
Call-ID: call-1\r\n\
CSeq: 1 {cseq_method}\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn response(code: u16, branch: &str, method: &str) -> Vec<u8> {
    format!(
        "SIP/2.0 {code} Whatever\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKuac\r\n\
To: <sip:bob@example.com>;tag=b2\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
Call-ID: call-1\r\n\
CSeq: 1 {method}\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The layer plus a virtual clock and the output drained after each step.
struct Harness {
    tx: TxLayer,
    t0: Instant,
    now: Instant,
    sent: Vec<(Duration, Transmit, Vec<u8>)>,
    events: Vec<TxEvent>,
}

impl Harness {
    fn new() -> Harness {
        let t0 = Instant::now();
        Harness {
            tx: TxLayer::new(Timers::default(), 1),
            t0,
            now: t0,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        let mut buf = Vec::new();
        while let Some(t) = self.tx.poll_transmit(&mut buf) {
            self.sent.push((self.now - self.t0, t, buf.clone()));
        }
        while let Some(e) = self.tx.poll_event() {
            self.events.push(e);
        }
    }

    /// Advances the clock deadline by deadline up to `until` (from t0).
    fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        for _ in 0..10_000 {
            match self.tx.poll_timeout() {
                Some(d) if d <= end => {
                    self.now = self.now.max(d);
                    self.tx.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
    }

    fn request(&mut self, bytes: &[u8]) -> RequestOutcome {
        let mut p = Parser::default();
        let m = p.parse(bytes).unwrap();
        let sum = validate(&m).unwrap();
        let r = self.tx.handle_request(self.now, &m, &sum, addr(UAC), 0);
        self.drain();
        r
    }

    fn response(&mut self, bytes: &[u8]) -> ResponseOutcome {
        let mut p = Parser::default();
        let m = p.parse(bytes).unwrap();
        let sum = validate(&m).unwrap();
        let r = self.tx.handle_response(self.now, &m, &sum);
        self.drain();
        r
    }

    fn client(&mut self, method: Method, branch: &str, bytes: Vec<u8>, timer_c: bool) -> TxId {
        let id = self.tx.start_client(
            self.now,
            ClientRequest {
                method,
                branch: branch.as_bytes(),
                bytes,
                dest: addr(UAS),
                local: 0,
                user: 77,
                timer_c,
            },
        );
        self.drain();
        id
    }

    fn respond(&mut self, id: TxId, bytes: &[u8], code: u16) -> bool {
        let ok = self.tx.respond(self.now, id, bytes.to_vec(), code);
        self.drain();
        ok
    }

    fn send_times(&self) -> Vec<u64> {
        self.sent
            .iter()
            .map(|(t, _, _)| t.as_millis() as u64)
            .collect()
    }
}

#[test]
fn unanswered_invite_is_resent_by_timer_a_then_times_out_by_timer_b() {
    let mut h = Harness::new();
    let id = h.client(Method::Invite, "z9hG4bKa1", invite("z9hG4bKa1"), false);
    h.run_until(Duration::from_secs(40));
    assert_eq!(h.send_times(), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert!(
        h.sent
            .iter()
            .all(|(_, t, b)| t.dest == addr(UAS) && b.starts_with(b"INVITE "))
    );
    assert_eq!(
        h.events,
        [
            TxEvent::Timeout {
                tx: id,
                user: 77,
                timer: Timer::B
            },
            TxEvent::Terminated {
                tx: id,
                user: 77,
                role: Role::Client
            }
        ]
    );
    assert_eq!(h.tx.live(), 0);
    // Cancelled timers are dropped lazily, when they come due.
    h.run_until(Duration::from_secs(70));
    assert_eq!(h.tx.poll_timeout(), None, "no timer left behind");
    assert_eq!(h.sent.len(), 7);
}

#[test]
fn invite_client_provisional_then_2xx_and_its_retransmissions() {
    let mut h = Harness::new();
    let id = h.client(Method::Invite, "z9hG4bKa2", invite("z9hG4bKa2"), false);
    h.run_until(ms(600)); // one Timer A resend
    assert_eq!(h.sent.len(), 2);
    let r = h.response(&response(100, "z9hG4bKa2", "INVITE"));
    assert_eq!(
        r,
        ResponseOutcome::Deliver {
            tx: id,
            user: 77,
            code: 100
        }
    );
    assert_eq!(h.tx.state(id), Some(State::Proceeding));
    h.run_until(Duration::from_secs(60)); // no more resends, and no Timer B
    assert_eq!(h.sent.len(), 2);
    assert!(h.events.is_empty());
    assert_eq!(
        h.response(&response(200, "z9hG4bKa2", "INVITE")),
        ResponseOutcome::Deliver {
            tx: id,
            user: 77,
            code: 200
        }
    );
    assert_eq!(h.tx.state(id), Some(State::Accepted));
    // RFC 6026: a retransmitted 2xx still reaches the proxy, to forward.
    assert_eq!(
        h.response(&response(200, "z9hG4bKa2", "INVITE")),
        ResponseOutcome::Deliver {
            tx: id,
            user: 77,
            code: 200
        }
    );
    // A late provisional is absorbed.
    assert_eq!(
        h.response(&response(180, "z9hG4bKa2", "INVITE")),
        ResponseOutcome::Absorbed
    );
    // Timer M ends it 64·T1 later.
    h.run_until(Duration::from_secs(60 + 33));
    assert_eq!(
        h.events,
        [TxEvent::Terminated {
            tx: id,
            user: 77,
            role: Role::Client
        }]
    );
}

#[test]
fn invite_client_acks_a_non_2xx_final_itself() {
    let mut h = Harness::new();
    let id = h.client(Method::Invite, "z9hG4bKa3", invite("z9hG4bKa3"), false);
    let r = h.response(&response(486, "z9hG4bKa3", "INVITE"));
    assert_eq!(
        r,
        ResponseOutcome::Deliver {
            tx: id,
            user: 77,
            code: 486
        }
    );
    assert_eq!(h.tx.state(id), Some(State::Completed));
    let (_, t, ack) = h.sent.last().unwrap().clone();
    assert_eq!(t.dest, addr(UAS));
    let ack = String::from_utf8(ack).unwrap();
    assert!(
        ack.starts_with("ACK sip:bob@192.0.2.20 SIP/2.0\r\n"),
        "{ack}"
    );
    assert!(ack.contains("To: <sip:bob@example.com>;tag=b2\r\n"));
    assert!(ack.contains("CSeq: 1 ACK\r\n"));
    assert!(ack.contains(";branch=z9hG4bKa3\r\n"));
    assert!(!ack.contains("z9hG4bKuac"), "only the top Via: {ack}");
    // The 486 again: our ACK was lost; resend it, absorb the response.
    assert_eq!(
        h.response(&response(486, "z9hG4bKa3", "INVITE")),
        ResponseOutcome::Absorbed
    );
    assert_eq!(h.sent.len(), 3);
    assert!(h.sent[2].2.starts_with(b"ACK "));
    // Timer D (32 s) ends it; no resends of the INVITE meanwhile.
    h.run_until(Duration::from_secs(31));
    assert!(h.events.is_empty());
    h.run_until(Duration::from_secs(33));
    assert_eq!(
        h.events,
        [TxEvent::Terminated {
            tx: id,
            user: 77,
            role: Role::Client
        }]
    );
    assert_eq!(h.sent.len(), 3);
}

#[test]
fn non_invite_client_timer_e_doubles_to_t2_then_timer_f() {
    let mut h = Harness::new();
    let id = h.client(
        Method::Options,
        "z9hG4bKo1",
        request("OPTIONS", "z9hG4bKo1", "OPTIONS"),
        false,
    );
    h.run_until(Duration::from_secs(40));
    assert_eq!(
        h.send_times(),
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        h.events[0],
        TxEvent::Timeout {
            tx: id,
            user: 77,
            timer: Timer::F
        }
    );
}

#[test]
fn non_invite_client_proceeding_resends_every_t2_and_completes() {
    let mut h = Harness::new();
    let id = h.client(
        Method::Bye,
        "z9hG4bKb1",
        request("BYE", "z9hG4bKb1", "BYE"),
        false,
    );
    assert_eq!(
        h.response(&response(100, "z9hG4bKb1", "BYE")),
        ResponseOutcome::Deliver {
            tx: id,
            user: 77,
            code: 100
        }
    );
    h.run_until(ms(9000));
    // 0, then Timer E at 0.5 (interval becomes T2 once Proceeding), 4.5, 8.5.
    assert_eq!(h.send_times(), [0, 500, 4500, 8500]);
    assert_eq!(
        h.response(&response(200, "z9hG4bKb1", "BYE")),
        ResponseOutcome::Deliver {
            tx: id,
            user: 77,
            code: 200
        }
    );
    assert_eq!(
        h.response(&response(200, "z9hG4bKb1", "BYE")),
        ResponseOutcome::Absorbed
    );
    h.run_until(ms(9000 + 5001)); // Timer K = T4
    assert_eq!(
        h.events,
        [TxEvent::Terminated {
            tx: id,
            user: 77,
            role: Role::Client
        }]
    );
    assert_eq!(h.sent.len(), 4);
}

#[test]
fn invite_server_resends_responses_and_absorbs_the_ack() {
    let mut h = Harness::new();
    let inv = request("INVITE", "z9hG4bKs1", "INVITE");
    let RequestOutcome::New(id) = h.request(&inv) else {
        panic!()
    };
    assert_eq!(h.tx.state(id), Some(State::Proceeding));
    assert!(h.respond(id, b"SIP/2.0 100 Trying\r\n\r\n", 100));
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.sent[0].1.dest, addr(UAC));
    // A retransmitted INVITE gets the last provisional again.
    assert_eq!(h.request(&inv), RequestOutcome::Retransmission(id));
    assert_eq!(h.sent.len(), 2);
    assert!(h.respond(id, b"SIP/2.0 486 Busy\r\n\r\n", 486));
    assert_eq!(h.tx.state(id), Some(State::Completed));
    h.run_until(ms(8000));
    // Timer G: 0.5, 1.5, 3.5, 7.5 (interval capped at T2 = 4 s).
    assert_eq!(h.send_times(), [0, 0, 0, 500, 1500, 3500, 7500]);
    let ack = request("ACK", "z9hG4bKs1", "ACK");
    assert_eq!(h.request(&ack), RequestOutcome::AckAbsorbed);
    assert_eq!(h.tx.state(id), Some(State::Confirmed));
    assert_eq!(h.request(&ack), RequestOutcome::AckAbsorbed);
    h.run_until(ms(8000 + 5001)); // Timer I = T4
    assert_eq!(h.send_times().len(), 7, "no resends after the ACK");
    assert_eq!(
        h.events,
        [TxEvent::Terminated {
            tx: id,
            user: 0,
            role: Role::Server
        }]
    );
}

#[test]
fn invite_server_without_ack_ends_by_timer_h() {
    let mut h = Harness::new();
    let RequestOutcome::New(id) = h.request(&request("INVITE", "z9hG4bKs2", "INVITE")) else {
        panic!()
    };
    h.respond(id, b"SIP/2.0 500 Oops\r\n\r\n", 500);
    h.run_until(Duration::from_secs(40));
    assert_eq!(
        h.events,
        [TxEvent::Terminated {
            tx: id,
            user: 0,
            role: Role::Server
        }]
    );
    // 0, .5, 1.5, 3.5, 7.5, 11.5, ... 31.5: resent until Timer H at 32 s.
    assert_eq!(*h.send_times().last().unwrap(), 31_500);
}

#[test]
fn invite_server_2xx_goes_to_accepted_and_forwards_2xx_retransmissions() {
    let mut h = Harness::new();
    let inv = request("INVITE", "z9hG4bKs3", "INVITE");
    let RequestOutcome::New(id) = h.request(&inv) else {
        panic!()
    };
    assert!(h.respond(id, b"SIP/2.0 200 OK\r\n\r\n", 200));
    assert_eq!(h.tx.state(id), Some(State::Accepted));
    assert!(h.respond(id, b"SIP/2.0 200 OK\r\n\r\n", 200));
    assert_eq!(h.sent.len(), 2);
    // A retransmitted INVITE is absorbed without a response.
    assert_eq!(h.request(&inv), RequestOutcome::Retransmission(id));
    assert_eq!(h.sent.len(), 2);
    // The ACK for the 2xx has its own branch: end to end.
    assert_eq!(
        h.request(&request("ACK", "z9hG4bKack", "ACK")),
        RequestOutcome::AckUnmatched
    );
    // No provisional or error after the 2xx.
    assert!(!h.respond(id, b"SIP/2.0 500 X\r\n\r\n", 500));
    h.run_until(Duration::from_secs(33)); // Timer L
    assert_eq!(
        h.events,
        [TxEvent::Terminated {
            tx: id,
            user: 0,
            role: Role::Server
        }]
    );
}

#[test]
fn non_invite_server_answers_retransmissions_until_timer_j() {
    let mut h = Harness::new();
    let bye = request("BYE", "z9hG4bKs4", "BYE");
    let RequestOutcome::New(id) = h.request(&bye) else {
        panic!()
    };
    assert_eq!(h.tx.state(id), Some(State::Trying));
    assert_eq!(h.request(&bye), RequestOutcome::Retransmission(id));
    assert!(h.sent.is_empty(), "nothing to resend yet");
    h.respond(id, b"SIP/2.0 200 OK\r\n\r\n", 200);
    assert_eq!(h.request(&bye), RequestOutcome::Retransmission(id));
    assert_eq!(h.sent.len(), 2);
    h.run_until(Duration::from_secs(33));
    assert_eq!(
        h.events,
        [TxEvent::Terminated {
            tx: id,
            user: 0,
            role: Role::Server
        }]
    );
    // After Timer J the same request is new again.
    assert!(matches!(h.request(&bye), RequestOutcome::New(_)));
}

#[test]
fn cancel_finds_its_invite_but_is_its_own_transaction() {
    let mut h = Harness::new();
    let RequestOutcome::New(inv) = h.request(&request("INVITE", "z9hG4bKc1", "INVITE")) else {
        panic!()
    };
    let cancel = request("CANCEL", "z9hG4bKc1", "CANCEL");
    let mut p = Parser::default();
    let m = p.parse(&cancel).unwrap();
    assert_eq!(h.tx.find_invite(&m, &validate(&m).unwrap()), Some(inv));
    let RequestOutcome::New(c) = h.request(&cancel) else {
        panic!()
    };
    assert_ne!(c, inv);
    let other = request("CANCEL", "z9hG4bKother", "CANCEL");
    let m = p.parse(&other).unwrap();
    assert_eq!(h.tx.find_invite(&m, &validate(&m).unwrap()), None);
}

#[test]
fn rfc2543_requests_match_without_a_branch() {
    let mut h = Harness::new();
    let inv = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP old.example.com\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=x\r\n\
Call-ID: legacy-1\r\n\
CSeq: 7 INVITE\r\n\r\n";
    let RequestOutcome::New(id) = h.request(inv) else {
        panic!()
    };
    assert_eq!(h.request(inv), RequestOutcome::Retransmission(id));
    h.respond(id, b"SIP/2.0 404 Not Found\r\n\r\n", 404);
    let ack = b"ACK sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP old.example.com\r\n\
To: <sip:bob@example.com>;tag=resp\r\n\
From: <sip:alice@example.com>;tag=x\r\n\
Call-ID: legacy-1\r\n\
CSeq: 7 ACK\r\n\r\n";
    assert_eq!(h.request(ack), RequestOutcome::AckAbsorbed);
}

#[test]
fn timer_c_fires_for_a_proxied_invite_and_cancel_waits_64_t1() {
    let mut h = Harness::new();
    let id = h.client(Method::Invite, "z9hG4bKtc", invite("z9hG4bKtc"), true);
    h.response(&response(180, "z9hG4bKtc", "INVITE"));
    h.run_until(Duration::from_secs(179));
    assert!(h.events.is_empty());
    // A provisional other than 100 resets Timer C.
    h.response(&response(183, "z9hG4bKtc", "INVITE"));
    h.run_until(Duration::from_secs(179 + 179));
    assert!(h.events.is_empty());
    h.run_until(Duration::from_secs(179 + 181));
    assert_eq!(
        h.events,
        [TxEvent::TimerC {
            tx: id,
            user: 77,
            provisional: true
        }]
    );
    h.tx.cancel_sent(h.now, id);
    h.run_until(Duration::from_secs(179 + 181 + 33));
    assert_eq!(
        h.events[1],
        TxEvent::Timeout {
            tx: id,
            user: 77,
            timer: Timer::AfterCancel
        }
    );
    assert_eq!(
        h.events[2],
        TxEvent::Terminated {
            tx: id,
            user: 77,
            role: Role::Client
        }
    );
}

#[test]
fn stray_and_foreign_responses_are_unmatched() {
    let mut h = Harness::new();
    h.client(Method::Invite, "z9hG4bKm1", invite("z9hG4bKm1"), false);
    assert_eq!(
        h.response(&response(200, "z9hG4bKnope", "INVITE")),
        ResponseOutcome::Unmatched
    );
    // Same branch, other method: another transaction (§17.1.3).
    assert_eq!(
        h.response(&response(200, "z9hG4bKm1", "CANCEL")),
        ResponseOutcome::Unmatched
    );
}

#[test]
fn stale_ids_do_not_reach_a_reused_slot() {
    let mut h = Harness::new();
    let RequestOutcome::New(a) = h.request(&request("OPTIONS", "z9hG4bKr1", "OPTIONS")) else {
        panic!()
    };
    h.tx.terminate(a);
    let RequestOutcome::New(b) = h.request(&request("OPTIONS", "z9hG4bKr2", "OPTIONS")) else {
        panic!()
    };
    assert_ne!(a, b);
    assert_eq!(h.tx.state(a), None);
    assert!(!h.respond(a, b"SIP/2.0 200 OK\r\n\r\n", 200));
    assert_eq!(h.tx.state(b), Some(State::Trying));
}

#[test]
fn a_hundred_thousand_transactions_expire_cleanly() {
    let mut h = Harness::new();
    for i in 0..100_000 {
        let b = format!("z9hG4bKmany{i}");
        let RequestOutcome::New(id) = h.request(&request("OPTIONS", &b, "OPTIONS")) else {
            panic!()
        };
        h.respond(id, b"SIP/2.0 200 OK\r\n\r\n", 200);
        h.sent.clear();
    }
    assert_eq!(h.tx.live(), 100_000);
    h.run_until(Duration::from_secs(33));
    assert_eq!(h.tx.live(), 0);
    assert_eq!(h.events.len(), 100_000);
}

#[test]
fn the_live_transaction_cap_refuses_new_requests() {
    let mut h = Harness::new();
    h.tx.set_max_live(2);
    assert!(matches!(
        h.request(&request("OPTIONS", "z9hG4bKcap1", "OPTIONS")),
        RequestOutcome::New(_)
    ));
    assert!(matches!(
        h.request(&request("OPTIONS", "z9hG4bKcap2", "OPTIONS")),
        RequestOutcome::New(_)
    ));
    assert_eq!(
        h.request(&request("OPTIONS", "z9hG4bKcap3", "OPTIONS")),
        RequestOutcome::Overloaded
    );
    // Retransmissions of live ones are still absorbed.
    assert!(matches!(
        h.request(&request("OPTIONS", "z9hG4bKcap1", "OPTIONS")),
        RequestOutcome::Retransmission(_)
    ));
    assert_eq!(h.tx.live(), 2);
}

#[test]
fn a_flooding_source_cannot_take_the_whole_table() {
    let mut h = Harness::new();
    h.tx.set_max_live(1000);
    let flooder = addr("203.0.113.66:5060");
    let mut p = Parser::default();
    let mut admitted = 0;
    for i in 0..2000 {
        let bytes = request("INVITE", &format!("z9hG4bKflood{i}"), "INVITE");
        let m = p.parse(&bytes).unwrap();
        let sum = validate(&m).unwrap();
        if let RequestOutcome::New(_) = h.tx.handle_request(h.now, &m, &sum, flooder, 0) {
            admitted += 1;
        }
    }
    // Alone, it gets half the table and no more.
    assert_eq!(admitted, 500);
    // Every other caller still gets a transaction.
    for i in 0..100 {
        let r = h.request(&request("INVITE", &format!("z9hG4bKcaller{i}"), "INVITE"));
        assert!(matches!(r, RequestOutcome::New(_)), "caller {i}: {r:?}");
    }
    assert_eq!(h.tx.live(), 600);
}

#[test]
fn shrinking_after_a_burst_gives_the_slots_back_and_old_ids_stay_dead() {
    let mut h = Harness::new();
    let mut first = None;
    for i in 0..10_000 {
        let b = format!("z9hG4bKburst{i}");
        let RequestOutcome::New(id) = h.request(&request("OPTIONS", &b, "OPTIONS")) else {
            panic!()
        };
        first.get_or_insert(id);
        h.respond(id, b"SIP/2.0 200 OK\r\n\r\n", 200);
        h.sent.clear();
    }
    h.run_until(Duration::from_secs(33));
    assert_eq!(h.tx.live(), 0);
    assert_eq!(h.tx.shrink(), 10_000);
    // A new transaction in slot 0 is not the old one of slot 0.
    let RequestOutcome::New(new) = h.request(&request("OPTIONS", "z9hG4bKafter", "OPTIONS")) else {
        panic!()
    };
    let old = first.unwrap();
    assert_eq!(new.slot, old.slot);
    assert_ne!(new, old);
    assert!(
        !h.tx
            .respond(h.now, old, b"SIP/2.0 200 OK\r\n\r\n".to_vec(), 200)
    );
    assert!(h.tx.respond(h.now, new, b"SIP/2.0 200 OK\r\n\r\n".to_vec(), 200));
}
