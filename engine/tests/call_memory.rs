//! What a live call costs the proxy core with call control on, measured:
//! 20,000 calls of SIPp's shape answered through a core with `[dialogs]`
//! and `[cdr]` (a dialog, the CDR's details, the attempt), held at once
//! after their transactions ended, under a global allocator that tracks
//! the bytes live (this test binary holds this one test). The dialog
//! table alone is measured in `shards/tests/dialog_memory.rs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use trunkline_engine::proxy::ProxyConfig;
use trunkline_engine::proxy::calls::DialogSettings;
use trunkline_engine::testkit::sip::{UacCall, respond};
use trunkline_engine::testkit::{VirtualNet, addr};
use trunkline_shards::dialog::DialogConfig;

struct Tracking;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above, i.e. from System.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller's contract is System's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

const UAC: &str = "192.0.2.10:5060";
const PROXY: &str = "192.0.2.1:5060";
const UAS: &str = "192.0.2.20:5070";

/// Answers `n` calls (INVITE, 200, ACK) through `net`.
fn answer(net: &mut VirtualNet, from: usize, n: usize) {
    for i in from..from + n {
        let c = UacCall {
            from_tag: format!("{i}SIPpTag001"),
            ..UacCall::new(
                addr(UAC),
                &format!("sip:service@{UAS}"),
                &format!("{i}-4242@x"),
            )
        };
        net.from(UAC, &c.invite(&format!("z9hG4bK-{i}")));
        let inv = net
            .take()
            .into_iter()
            .find(|(d, _)| *d == addr(UAS))
            .expect("forwarded")
            .1;
        net.from(
            UAS,
            &respond(&inv, 200, "OK", Some("uas-1"), Some(addr(UAS))),
        );
        net.take();
        let route = format!("<sip:{PROXY};lr>");
        let ack = c.request(
            "ACK",
            1,
            &format!("z9hG4bK-{i}-a"),
            Some("uas-1"),
            Some(&route),
        );
        net.from(UAC, &ack);
        net.take();
    }
}

/// Heap left per call after `CALLS` answered calls' transactions ended,
/// the core set up by `dialogs`.
fn heap_per_call(dialogs: Option<DialogSettings>) -> (f64, usize) {
    const CALLS: usize = 20_000;
    let mut cfg = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
    cfg.dialogs = dialogs;
    let mut net = VirtualNet::new(cfg);
    // Warm up (buffers, pools), then let every transaction end.
    answer(&mut net, 0, 1000);
    net.advance(Duration::from_secs(40));
    net.take();
    net.core.shrink();
    let before = LIVE.load(Ordering::Relaxed);
    answer(&mut net, 1000, CALLS);
    // Their transactions end (Timer D/J, 32 s); the calls stay up.
    net.advance(Duration::from_secs(40));
    net.take();
    net.core.shrink();
    assert_eq!(net.core.live_transactions(), 0);
    let per_call = (LIVE.load(Ordering::Relaxed) - before) as f64 / CALLS as f64;
    (per_call, net.core.live_calls())
}

#[test]
fn a_live_call_with_its_cdr_details_costs_under_a_kibibyte() {
    // What the core keeps of a call without call control (the
    // transaction layer's tables at their grown size): the baseline.
    let (base, live) = heap_per_call(None);
    assert_eq!(live, 0);
    let settings = |cdr| {
        Some(DialogSettings {
            table: DialogConfig::default(),
            check: false,
            cdr,
        })
    };
    let (dialog, live) = heap_per_call(settings(false));
    assert_eq!(live, 21_000);
    let (with_cdr, _) = heap_per_call(settings(true));
    println!(
        "heap per live call: {base:.0} bytes without call control (not the call's); \
         +{:.0} with a dialog, +{:.0} with its CDR's details too",
        dialog - base,
        with_cdr - base
    );
    assert!(
        with_cdr - base < 1024.0,
        "{:.0} bytes a call",
        with_cdr - base
    );
}
