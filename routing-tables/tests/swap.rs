//! Readers on several threads look numbers up while another thread
//! publishes new snapshots; every result comes from one published table,
//! and replaced snapshots (and their mappings) are freed once no reader
//! holds them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread;

use trunkline_routing_tables::{
    At, BuildInputs, Snapshot, SnapshotHandle, Source, build, write_atomic,
};

const TABLES: usize = 6;
const NUMBERS: [&str; 4] = ["+442071234567", "+4420", "+4915112345", "+1212555"];

/// Table `i` routes every rule to gateway `gw{i}`, with a different deck
/// shape each time (rules added and removed).
fn table(i: usize) -> Vec<u8> {
    let mut gw = String::from("id,address\n");
    for g in 0..TABLES {
        gw.push_str(&format!("gw{g},10.0.0.{g}\n"));
    }
    let mut rules = String::from("group,prefix,targets\n");
    for p in ["+44", "+4420", "+49", "+1"] {
        rules.push_str(&format!("a,{p},gw{i}\n"));
    }
    for n in 0..(100 * (i + 1)) {
        rules.push_str(&format!("a,+3{n},gw{i}\n"));
    }
    build(BuildInputs {
        gateways: Source::bytes("gw.csv", gw),
        rules: Source::bytes("rules.csv", rules),
        carriers: None,
        dialplan: None,
        acl: None,
    })
    .unwrap()
    .to_bytes(i as u64)
}

/// The table a lookup result came from: the gateway index.
fn which(s: &Snapshot, number: &str) -> usize {
    let t = s.table();
    let g = t.group_id("a").unwrap();
    let r = s.lookup(g, number, At::from_unix(0)).unwrap();
    let mut out = Vec::new();
    t.gateways_for(&r, 0, &mut out);
    assert_eq!(out.len(), 1);
    t.gateway(out[0]).unwrap().id.as_str()[2..].parse().unwrap()
}

#[test]
fn lookups_stay_consistent_while_snapshots_are_published() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..TABLES)
        .map(|i| {
            let p = dir.path().join(format!("t{i}.snap"));
            write_atomic(&p, &table(i)).unwrap();
            p
        })
        .collect();
    let handle = Arc::new(SnapshotHandle::new(Snapshot::open(&paths[0]).unwrap()));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let handle = handle.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut seen = [0u64; TABLES];
                let mut cache = handle.cache();
                while !stop.load(Ordering::Relaxed) {
                    // One routing decision: every lookup under one load
                    // sees the same table.
                    let snap = if r == 0 {
                        cache.load().clone()
                    } else {
                        handle.load_full()
                    };
                    let first = which(&snap, NUMBERS[0]);
                    for n in &NUMBERS[1..] {
                        assert_eq!(which(&snap, n), first, "mixed tables in one snapshot");
                    }
                    seen[first] += 1;
                }
                seen
            })
        })
        .collect();
    let mut replaced: Vec<Weak<Snapshot>> = Vec::new();
    for round in 1..300 {
        let next = Snapshot::open(&paths[round % TABLES]).unwrap();
        replaced.push(Arc::downgrade(&handle.publish(next)));
        thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = [0u64; TABLES];
    for r in readers {
        for (t, n) in total.iter_mut().zip(r.join().unwrap()) {
            *t += n;
        }
    }
    assert!(total.iter().sum::<u64>() > 0);
    // Readers are gone: every replaced snapshot has been dropped (unmapped).
    assert!(replaced.iter().all(|w| w.upgrade().is_none()));
    assert_eq!(which(&handle.load(), NUMBERS[0]), 299 % TABLES);
}
