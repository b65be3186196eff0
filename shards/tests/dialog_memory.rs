//! What a live dialog costs in heap, measured: 100,000 calls of SIPp's
//! shape, each answered (one confirmed dialog, a maximum duration
//! armed), held at once in one shard's table, under a global allocator
//! that tracks the bytes live (this test binary holds this one test).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use trunkline_shards::dialog::{DialogConfig, DialogTable, Invite, Response};

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

#[test]
fn a_live_dialog_costs_under_a_kibibyte() {
    const CALLS: usize = 100_000;
    let t0 = Instant::now();
    let mut table = DialogTable::new(
        DialogConfig {
            max_calls: CALLS,
            max_duration: Some(Duration::from_secs(3600)),
            ..DialogConfig::default()
        },
        1,
    );
    let mut events = Vec::with_capacity(4);
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..CALLS {
        let call_id = format!("{i}-4242@192.0.2.10");
        let from = format!("sipp <sip:sipp@192.0.2.10:5061>;tag={i}SIPpTag001");
        let from_tag = format!("{i}SIPpTag001");
        let to_tag = format!("{i}SIPpTag011");
        let to = format!("service <sip:service@192.0.2.1:5060>;tag={to_tag}");
        table
            .on_invite(
                t0,
                &Invite {
                    call_id: call_id.as_bytes(),
                    from: from.as_bytes(),
                    from_tag: from_tag.as_bytes(),
                    to: b"service <sip:service@192.0.2.1:5060>",
                    cseq: 1,
                    contact: b"sip:sipp@192.0.2.10:5061",
                    route_to_caller: b"",
                    max_duration: None,
                },
                (),
            )
            .unwrap();
        events.clear();
        table.on_response(
            t0,
            &Response {
                call_id: call_id.as_bytes(),
                from_tag: from_tag.as_bytes(),
                to: to.as_bytes(),
                to_tag: Some(to_tag.as_bytes()),
                code: 200,
                contact: b"<sip:192.0.2.20:5070;transport=UDP>",
                route_to_callee: b"",
            },
            &mut events,
        );
        assert_eq!(events.len(), 1);
    }
    let per_call = (LIVE.load(Ordering::Relaxed) - before) as f64 / CALLS as f64;
    eprintln!("{CALLS} live dialogs: {per_call:.0} bytes of heap each");
    assert_eq!(table.calls(), CALLS);
    assert!(per_call < 1024.0, "{per_call:.0} bytes a dialog");
}
