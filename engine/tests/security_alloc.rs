//! The flood defence's datagram path allocates nothing: a million
//! spoofed sources, flooders being banned, banned sources dropped,
//! trusted sources, and rate-limit admissions, under a global allocator
//! that counts (this test binary holds this one test, so nothing else
//! allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use trunkline_engine::security::{
    CidrSet, RateKeyKind, RateLimitSpec, RateLimits, RateLimitsConfig, RateSubject, Shield,
    ShieldConfig,
};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from System.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller's contract is System's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_datagram_path_allocates_nothing() {
    let t0 = Instant::now();
    let shield = Arc::new(
        Shield::new(
            &ShieldConfig {
                ban_capacity: 64,
                ..ShieldConfig::default()
            },
            CidrSet::parse(["10.0.0.0/8", "2001:db8::/32"]).unwrap(),
            42,
            t0,
        )
        .unwrap(),
    );
    let mut gate = shield.gate();
    let limits = Arc::new(
        RateLimits::new(
            &[
                RateLimitSpec {
                    name: "src".into(),
                    rate: 10.0,
                    burst: 5,
                    key: RateKeyKind::Source,
                },
                RateLimitSpec {
                    name: "all".into(),
                    rate: 100.0,
                    burst: 50,
                    key: RateKeyKind::Global,
                },
            ],
            RateLimitsConfig::default(),
            42,
            t0,
        )
        .unwrap(),
    );
    let mut limiter = limits.limiter();
    let (src, all) = (limits.id("src").unwrap(), limits.id("all").unwrap());
    let trusted: IpAddr = "10.1.2.3".parse().unwrap();
    let v6: IpAddr = "2001:db9::1".parse().unwrap();

    let before = ALLOCS.load(Ordering::Relaxed);
    for i in 0..1_000_000u32 {
        let now = t0 + Duration::from_micros(u64::from(i));
        // Spoofed sources, and 200 flooders cycling (banned, evicting
        // each other from a small ban list).
        let spoofed = IpAddr::from(i.wrapping_mul(0x9e37_79b9).to_be_bytes());
        let flooder = IpAddr::from((0x0b00_0000 + i % 200).to_be_bytes());
        std::hint::black_box(gate.check(now, spoofed));
        std::hint::black_box(gate.check(now, flooder));
        std::hint::black_box(gate.check(now, trusted));
        std::hint::black_box(gate.check(now, v6));
        let who = RateSubject {
            source: spoofed,
            group: None,
        };
        std::hint::black_box(limiter.admit(now, src, &who));
        std::hint::black_box(limiter.admit(now, all, &who));
        if i % 1000 == 0 {
            std::hint::black_box(shield.ban(now, spoofed, Duration::from_secs(1)));
        }
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the datagram path");
    let c = gate.counters();
    assert!(
        c.dropped() > 0 && c.bans_added > 0 && c.trusted >= 1_000_000,
        "{c:?}"
    );
    assert!(limiter.rejected(all) > 0);
}
