//! Pike, bans and gates on a virtual clock.

use super::*;
use std::net::SocketAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn shield(cfg: ShieldConfig, trusted: &[&str], t0: Instant) -> Arc<Shield> {
    Arc::new(Shield::new(&cfg, CidrSet::parse(trusted).unwrap(), 0x5eed, t0).unwrap())
}

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

/// At twice the threshold a source is banned within its first second
/// (at its 501st datagram), dropped for `ban` (300 s), then let back;
/// another source is unaffected throughout.
#[test]
fn a_flooder_is_banned_for_ban_s_then_let_back() {
    let t0 = Instant::now();
    let s = shield(ShieldConfig::default(), &[], t0);
    let mut g = s.gate();
    let flooder = ip("127.0.0.3");
    let other = ip("192.0.2.10");
    // 1000 datagrams per second (one per ms).
    let mut first_drop = None;
    for t in 0..1000 {
        let v = g.check(ms(t0, t), flooder);
        if v.is_drop() && first_drop.is_none() {
            assert_eq!(v, Verdict::Drop(DropReason::Flood));
            first_drop = Some(t);
        }
    }
    assert_eq!(first_drop, Some(500), "the 501st datagram, at 0.5 s");
    let banned_at = ms(t0, 500);
    assert!(s.is_banned(ms(t0, 1000), flooder));
    assert_eq!(s.banned_now(ms(t0, 1000)), 1);
    // Every datagram for the rest of the ban, at 1000 per second.
    for t in 1000..300_500 {
        if t % 10 == 0 {
            assert!(g.check(ms(t0, t), other) == Verdict::Pass);
        }
        assert_eq!(
            g.check(ms(t0, t), flooder),
            Verdict::Drop(DropReason::Banned),
            "{t} ms"
        );
    }
    // The ban ends `ban` after it began.
    assert!(s.is_banned(banned_at + Duration::from_millis(299_999), flooder));
    assert!(!s.is_banned(banned_at + Duration::from_secs(300), flooder));
    assert_eq!(g.check(ms(t0, 300_500), flooder), Verdict::Pass);
    assert_eq!(s.banned_now(ms(t0, 300_500)), 0);
    let c = g.counters();
    assert_eq!(c.bans_added, 1);
    // The datagram that crossed the rate, then the ban.
    assert_eq!(c.dropped_flood, 1);
    assert_eq!(c.dropped_banned, 299_999);
    assert_eq!(c.dropped(), 300_000);
    // Still flooding: banned again within a second.
    let again = (300_501..301_500).find(|&t| g.check(ms(t0, t), flooder).is_drop());
    assert!(again.is_some_and(|t| t < 301_500), "{again:?}");
}

/// Spreading over 16 source ports changes nothing: the address is the
/// key.
#[test]
fn sixteen_ports_are_one_source() {
    let t0 = Instant::now();
    let s = shield(ShieldConfig::default(), &[], t0);
    let mut g = s.gate();
    let ports: Vec<SocketAddr> = (0..16)
        .map(|p| SocketAddr::new(ip("127.0.0.3"), 40_000 + p))
        .collect();
    // 2000 per second over 16 ports: 125 per second per port, far
    // below the threshold each.
    let mut dropped_at = None;
    for i in 0..2000u64 {
        let src = ports[i as usize % 16];
        if g.check(ms(t0, i / 2), src.ip()).is_drop() {
            dropped_at.get_or_insert(i / 2);
        }
    }
    assert_eq!(dropped_at, Some(250));
    assert!(s.is_banned(ms(t0, 999), ip("127.0.0.3")));
}

/// An IPv6 host spreading over its /64 is one source; another /64 is
/// another.
#[test]
fn an_ipv6_slash_64_is_one_source() {
    let t0 = Instant::now();
    let s = shield(ShieldConfig::default(), &[], t0);
    let mut g = s.gate();
    for i in 0..600u64 {
        let a = IpAddr::from(
            (0x2001_0db8_0000_0001_0000_0000_0000_0000u128 | u128::from(i)).to_be_bytes(),
        );
        g.check(ms(t0, i), a);
    }
    assert!(s.is_banned(ms(t0, 600), ip("2001:db8:0:1::ffff")));
    assert!(!s.is_banned(ms(t0, 600), ip("2001:db8:0:2::1")));
    // A mapped IPv4 address is its IPv4 address.
    assert_eq!(
        s.ban(t0, ip("::ffff:198.51.100.1"), Duration::from_secs(5)),
        BanOutcome::Added
    );
    assert!(s.is_banned(t0, ip("198.51.100.1")));
}

/// Two shards, each seeing every other datagram of the flooder (the
/// kernel spreading its ports): the shared table sees the whole rate,
/// and both drop it from then on.
#[test]
fn two_shards_each_seeing_half_catch_it() {
    let t0 = Instant::now();
    let s = shield(ShieldConfig::default(), &[], t0);
    let (mut a, mut b) = (s.gate(), s.gate());
    let flooder = ip("127.0.0.3");
    // 800 per second in all: 400 per shard, under the threshold each.
    let mut first = None;
    for i in 0..800u64 {
        let now = t0 + Duration::from_micros(i * 1250);
        let g = if i % 2 == 0 { &mut a } else { &mut b };
        if g.check(now, flooder).is_drop() {
            first.get_or_insert(i);
        }
    }
    assert_eq!(first, Some(500));
    let (ca, cb) = (a.counters(), b.counters());
    assert_eq!(ca.bans_added + cb.bans_added, 1);
    assert_eq!(ca.dropped() + cb.dropped(), 300);
    assert!(ca.dropped() > 100 && cb.dropped() > 100);
    let mut all = ca;
    all += cb;
    assert_eq!(all.passed, 500);
}

/// The same with two real threads hammering the shared table at once:
/// the flooder is banned within its first second of virtual time on
/// both, and a source under the threshold on both never is.
#[test]
fn two_threads_share_the_count() {
    let t0 = Instant::now();
    let s = shield(ShieldConfig::default(), &[], t0);
    // In lockstep, as two shards' clocks are.
    let step = Arc::new(std::sync::Barrier::new(2));
    let run = |gate: Gate| {
        let step = step.clone();
        std::thread::spawn(move || {
            let mut g = gate;
            let mut first = None;
            // Each thread: the flooder at 400/s and a quiet source at
            // 200/s, over 2 s.
            for i in 0..800u64 {
                step.wait();
                let now = t0 + Duration::from_micros(i * 2500);
                if g.check(now, ip("127.0.0.3")).is_drop() {
                    first.get_or_insert(i);
                }
                if i % 2 == 0 {
                    assert_eq!(g.check(now, ip("192.0.2.1")), Verdict::Pass);
                }
            }
            first
        })
    };
    let (x, y) = (run(s.gate()), run(s.gate()));
    let (x, y) = (x.join().unwrap(), y.join().unwrap());
    // 800 per second in all: the 501st is within the first second (each
    // thread's index < 400); both drop it from then on.
    assert!(x.is_some_and(|i| i < 400), "{x:?}");
    assert!(y.is_some_and(|i| i < 400), "{y:?}");
    assert!(s.is_banned(ms(t0, 2000), ip("127.0.0.3")));
    assert!(!s.is_banned(ms(t0, 2000), ip("192.0.2.1")));
}

/// Trusted sources are never counted nor banned, at any rate.
#[test]
fn trusted_sources_are_never_banned() {
    let t0 = Instant::now();
    let s = shield(
        ShieldConfig::default(),
        &["10.0.0.0/8", "2001:db8::/32"],
        t0,
    );
    let mut g = s.gate();
    for i in 0..100_000u64 {
        let now = t0 + Duration::from_micros(i * 10);
        assert_eq!(g.check(now, ip("10.1.2.3")), Verdict::Pass);
        assert_eq!(g.check(now, ip("2001:db8::7")), Verdict::Pass);
        assert_eq!(g.check(now, ip("::ffff:10.9.9.9")), Verdict::Pass);
    }
    assert_eq!(s.rate(ms(t0, 999), ip("10.1.2.3")), 0);
    assert_eq!(
        s.ban(t0, ip("10.1.2.3"), Duration::from_secs(60)),
        BanOutcome::Trusted
    );
    assert!(!s.is_banned(t0, ip("10.1.2.3")));
    let c = g.counters();
    assert_eq!((c.trusted, c.passed, c.dropped()), (300_000, 300_000, 0));
    assert_eq!(s.banned_now(ms(t0, 1000)), 0);
}

/// The server we forward to (`[route] default`) answers at the rate of
/// all our calls: never counted, by address and port; a caller on the
/// same IP (another port) is counted and banned as usual.
#[test]
fn the_next_hop_is_never_counted_its_neighbours_are() {
    let t0 = Instant::now();
    let uas: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let caller: SocketAddr = "127.0.0.1:5061".parse().unwrap();
    let s = Arc::new(
        Shield::new(&ShieldConfig::default(), CidrSet::new(), 0x5eed, t0)
            .unwrap()
            .with_next_hops(Some(uas)),
    );
    let mut g = s.gate();
    let mut caller_dropped = 0;
    for i in 0..10_000u64 {
        let now = t0 + Duration::from_micros(i * 200); // 5000/s each
        assert_eq!(g.check_addr(now, uas), Verdict::Pass, "{i}");
        caller_dropped += u64::from(g.check_addr(now, caller).is_drop());
    }
    assert!(s.is_next_hop(uas) && !s.is_next_hop(caller));
    assert!(caller_dropped > 9_000, "{caller_dropped}");
    assert_eq!(g.counters().trusted, 10_000);
}

/// A routing table's gateway over the rate (a busy carrier's responses)
/// is let through, asked about only once it is over; any other source
/// over the rate is banned.
#[test]
fn our_gateways_over_the_rate_pass() {
    let t0 = Instant::now();
    let gateway = ip("192.0.2.50");
    let asked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = asked.clone();
    let s = Arc::new(
        Shield::new(&ShieldConfig::default(), CidrSet::new(), 0x5eed, t0)
            .unwrap()
            .with_exempt(Arc::new(move |ip| {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                ip == gateway
            })),
    );
    let mut g = s.gate();
    let other = ip("192.0.2.51");
    let mut other_dropped = 0;
    for i in 0..2_000u64 {
        let now = t0 + Duration::from_micros(i * 500); // 2000/s each
        assert_eq!(g.check(now, gateway), Verdict::Pass, "{i}");
        other_dropped += u64::from(g.check(now, other).is_drop());
    }
    assert!(!s.is_banned(ms(t0, 1000), gateway));
    assert!(s.is_banned(ms(t0, 1000), other));
    assert!(other_dropped > 1_000, "{other_dropped}");
    // Asked only past the rate: the gateway's datagrams after its 500th,
    // and the other source's one that crossed it.
    let n = asked.load(std::sync::atomic::Ordering::Relaxed);
    assert!((1_000..=1_600).contains(&n), "{n}");
}

/// A million distinct spoofed sources (one datagram each, 1 M per
/// second) neither grow the tables nor get anyone banned, and a steady
/// source at 200/s is admitted throughout.
#[test]
fn a_million_spoofed_sources_stay_bounded() {
    let t0 = Instant::now();
    let s = shield(ShieldConfig::default(), &[], t0);
    let bytes = s.memory_bytes();
    assert_eq!(bytes, 2 * 65_536 * 8 + 4096 * 16);
    let mut g = s.gate();
    let legit = ip("198.51.100.7");
    for i in 0..1_000_000u32 {
        let now = t0 + Duration::from_micros(u64::from(i));
        let spoofed = IpAddr::from((0x0a00_0000u32 ^ i.wrapping_mul(0x9e37_79b9)).to_be_bytes());
        assert_eq!(g.check(now, spoofed), Verdict::Pass);
        if i % 5000 == 0 {
            assert_eq!(g.check(now, legit), Verdict::Pass, "{i}");
        }
    }
    assert_eq!(s.memory_bytes(), bytes);
    assert_eq!(s.banned_now(ms(t0, 1000)), 0);
    assert_eq!(g.counters().dropped(), 0);
}

/// Many real flooders at once (more than the ban list holds): the ban
/// list stays its size, every flooder is still dropped once over the
/// rate (banned, or refused a place and dropped by the rate), and a
/// steady source is admitted.
#[test]
fn more_flooders_than_bans_stay_bounded() {
    let t0 = Instant::now();
    let cfg = ShieldConfig {
        ban_capacity: 64,
        flood_pps: 50,
        ..ShieldConfig::default()
    };
    let s = shield(cfg, &[], t0);
    let bytes = s.memory_bytes();
    let mut g = s.gate();
    let legit = ip("198.51.100.7");
    // 1000 flooders, 100 datagrams each within 0.5 s: 200/s each.
    for round in 0..100u64 {
        for f in 0..1000u32 {
            let now = t0 + Duration::from_micros(round * 5000 + u64::from(f));
            g.check(now, IpAddr::from((0x0b00_0000u32 + f).to_be_bytes()));
        }
        // 40 per second.
        if round % 5 == 0 {
            let now = t0 + Duration::from_micros(round * 5000);
            assert_eq!(g.check(now, legit), Verdict::Pass);
        }
    }
    let c = g.counters();
    // Each flooder passes its first 50 at most (the sketch only ever
    // counts too high), the rest are dropped.
    assert!(c.passed <= 1000 * 50 + 20, "{c:?}");
    assert!(c.dropped() >= 1000 * 50, "{c:?}");
    // A ban evicted by a later one is added again while over the rate.
    assert!(c.bans_added + c.bans_not_stored >= 1000, "{c:?}");
    assert!(s.banned_now(ms(t0, 600)) <= 64);
    assert_eq!(s.memory_bytes(), bytes);
}

/// Another stage's ban (failed authentication) is checked at the same
/// gate, before pike; lifting it lets the source back.
#[test]
fn other_stages_ban_through_the_shield() {
    let t0 = Instant::now();
    let s = shield(ShieldConfig::default(), &[], t0);
    let mut g = s.gate();
    let bad = ip("203.0.113.9");
    assert_eq!(g.check(t0, bad), Verdict::Pass);
    assert_eq!(s.ban(t0, bad, Duration::from_secs(60)), BanOutcome::Added);
    assert_eq!(
        s.ban(ms(t0, 10), bad, Duration::from_secs(30)),
        BanOutcome::Extended
    );
    assert_eq!(
        g.check(ms(t0, 59_999), bad),
        Verdict::Drop(DropReason::Banned)
    );
    assert_eq!(g.check(ms(t0, 60_000), bad), Verdict::Pass);
    s.ban(ms(t0, 60_000), bad, Duration::from_secs(3600 * 24 * 365));
    assert!(s.is_banned(ms(t0, 60_000) + MAX_BAN - Duration::from_millis(1), bad));
    assert!(s.lift(ms(t0, 61_000), bad));
    assert_eq!(g.check(ms(t0, 61_000), bad), Verdict::Pass);
}

/// `flood_pps = 0` turns pike off; bans still apply.
#[test]
fn pike_off_still_bans() {
    let t0 = Instant::now();
    let cfg = ShieldConfig {
        flood_pps: 0,
        ..ShieldConfig::default()
    };
    let s = shield(cfg, &[], t0);
    let mut g = s.gate();
    for i in 0..10_000u64 {
        assert_eq!(
            g.check(t0 + Duration::from_micros(i), ip("192.0.2.1")),
            Verdict::Pass
        );
    }
    s.ban(t0, ip("192.0.2.1"), Duration::from_secs(1));
    assert!(g.check(t0, ip("192.0.2.1")).is_drop());
}

#[test]
fn settings_out_of_range_are_typed_errors() {
    let t0 = Instant::now();
    let bad = |cfg: ShieldConfig| Shield::new(&cfg, CidrSet::new(), 1, t0).unwrap_err();
    let d = ShieldConfig::default();
    assert_eq!(
        bad(ShieldConfig {
            flood_pps: 300_000,
            ..d
        }),
        SecurityError::FloodPps(300_000)
    );
    assert_eq!(
        bad(ShieldConfig {
            ban: Duration::ZERO,
            ..d
        }),
        SecurityError::Ban(Duration::ZERO)
    );
    assert_eq!(
        bad(ShieldConfig {
            pike_width: 1000,
            ..d
        }),
        SecurityError::PikeWidth(1000)
    );
    assert_eq!(
        bad(ShieldConfig {
            ban_capacity: 4,
            ..d
        }),
        SecurityError::BanCapacity(4)
    );
    assert_eq!(
        bad(ShieldConfig {
            ipv6_prefix: 8,
            ..d
        }),
        SecurityError::Ipv6Prefix(8)
    );
    assert!(d.validate().is_ok());
}
