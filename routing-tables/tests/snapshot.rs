//! Damaged snapshots are refused: every flipped byte, every truncation.
//! A body altered with its checksums recomputed (a crafted file) opens or
//! is refused, but never panics, and lookups on what opens never panic.

use std::io::Write;

use trunkline_routing_tables::{
    At, BuildInputs, Built, DialplanScratch, GroupId, SnapError, Snapshot, Source, build_at,
    format::HEADER_LEN, write_atomic,
};

const GATEWAYS: &str = "id,address\ngw1,10.0.0.1\ngw2,10.0.0.2:5070\n";
const CARRIERS: &str = "id,gateways,order\nc1,gw1;gw2=5,weighted\n";
const RULES: &str = "group,prefix,targets,window,priority\n\
a,+44,gw1,,1\na,+4420,c1,,1\na,+4420,gw2,sat 10:00-12:00,0\nb,1,gw2;c1,,0\nb,,gw1,,0\n\
b,1,gw1,mon-fri 09:00-17:00 Europe/London,-1\n";
const DIALPLAN: &str = "group,match,pattern,replace\na,prefix,00,+\na,regex,^0(\\d+)$,+44$1\n";
const ACL: &str = "cidr,group\n10.0.0.0/8,a\n10.1.0.0/16,b\n";

/// Built as of 2023-11-14 (zone offsets from 2022 to 2043).
fn built() -> Built {
    build_at(
        BuildInputs {
            gateways: Source::bytes("gw.csv", GATEWAYS),
            rules: Source::bytes("rules.csv", RULES),
            carriers: Some(Source::bytes("c.csv", CARRIERS)),
            dialplan: Some(Source::bytes("dp.csv", DIALPLAN)),
            acl: Some(Source::bytes("acl.csv", ACL)),
        },
        1_700_000_000,
    )
    .unwrap()
}

fn bytes() -> Vec<u8> {
    built().to_bytes(1_700_000_000)
}

/// Recomputes both checksums, as a forger would.
fn reseal(b: &mut [u8]) {
    let body = xxhash_rust_digest(&b[HEADER_LEN..]);
    b[40..48].copy_from_slice(&body.to_le_bytes());
    let head = xxhash_rust_digest(&b[0..48]);
    b[48..56].copy_from_slice(&head.to_le_bytes());
}

fn xxhash_rust_digest(b: &[u8]) -> u64 {
    // Same function the crate uses (xxh3-64), through its public verify:
    // recompute by brute force is not possible, so use the crate's dep.
    xxhash_rust::xxh3::xxh3_64(b)
}

fn exercise(s: &Snapshot) {
    let t = s.table();
    let mut scratch = DialplanScratch::default();
    let mut gws = Vec::new();
    for g in 0..t.groups.len() as u32 + 1 {
        for n in ["+442071234567", "0044207", "02071", "1555", "", "+", "9"] {
            let d = s
                .apply_dialplan(GroupId(g), n, &mut scratch)
                .number
                .to_string();
            // Every day at 11:00 UTC, in winter and in summer, and the ends
            // of time (no overflow in the offset arithmetic).
            let days = (0..7).map(|d| 1_700_046_000 + d * 86_400);
            let summer = (0..7).map(|d| 1_719_831_600 + d * 86_400);
            for unix in days.chain(summer).chain([i64::MIN, -1, i64::MAX]) {
                let at = At::from_unix(unix);
                if let Some(r) = s.lookup(GroupId(g), &d, at) {
                    t.gateways_for(&r, 3, &mut gws);
                    let _ = (r.prefix(), r.attrs(), r.target_ids().count());
                    let _ = (r.window_text(), r.clock(at));
                }
            }
        }
    }
    let _ = s.group_for_source("10.1.2.3".parse().unwrap());
}

#[test]
fn intact_snapshot_opens() {
    let s = Snapshot::from_bytes("mem", &bytes()).unwrap();
    exercise(&s);
    assert_eq!(s.table().rules.len(), 6);
    assert_eq!(s.table().zones.len(), 1);
}

#[test]
fn every_flipped_byte_is_refused() {
    let good = bytes();
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x40;
        let err = Snapshot::from_bytes("mem", &b).expect_err(&format!("flip at {i} accepted"));
        if i >= HEADER_LEN {
            assert!(
                matches!(err, SnapError::BodyChecksum { .. }),
                "byte {i}: {err}"
            );
        }
    }
}

#[test]
fn every_truncation_and_extension_is_refused() {
    let good = bytes();
    for len in 0..good.len() {
        assert!(
            Snapshot::from_bytes("mem", &good[..len]).is_err(),
            "len {len}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        Snapshot::from_bytes("mem", &longer),
        Err(SnapError::Length { .. })
    ));
}

#[test]
fn resealed_corruption_never_panics() {
    let good = bytes();
    let mut refused = 0;
    for i in HEADER_LEN..good.len() {
        for bit in [0x01u8, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] ^= bit;
            reseal(&mut b);
            match Snapshot::from_bytes("mem", &b) {
                Ok(s) => exercise(&s),
                Err(e) => {
                    assert!(
                        matches!(e, SnapError::Structure { .. } | SnapError::Invalid { .. }),
                        "{e}"
                    );
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 0);
}

#[test]
fn files_on_disk_truncated_or_damaged_are_refused_with_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.snap");
    let good = bytes();
    write_atomic(&path, &good).unwrap();
    let s = Snapshot::open(&path).unwrap();
    exercise(&s);

    // Truncated: a new file via rename (the mapping above keeps its inode).
    write_atomic(&path, &good[..good.len() - 10]).unwrap();
    let e = Snapshot::open(&path).unwrap_err().to_string();
    assert!(
        e.contains("t.snap") && e.contains(&format!("byte {}", good.len() - 10)),
        "{e}"
    );
    exercise(&s); // the old mapping is still served

    write_atomic(&path, &good[..10]).unwrap();
    let e = Snapshot::open(&path).unwrap_err().to_string();
    assert!(e.contains("byte 10: truncated"), "{e}");

    let mut bad = good.clone();
    bad[good.len() / 2] ^= 1;
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&bad)
        .unwrap();
    let e = Snapshot::open(&path).unwrap_err().to_string();
    assert!(e.contains("body checksum mismatch"), "{e}");

    // The private huge-page copy checks the same way.
    let private = dir.path().join("private.snap");
    write_atomic(&private, &good).unwrap();
    exercise(&Snapshot::open_private(&private).unwrap());
    write_atomic(&private, &good[..good.len() - 1]).unwrap();
    assert!(matches!(
        Snapshot::open_private(&private),
        Err(SnapError::Length { .. })
    ));

    let e = Snapshot::open(dir.path().join("missing.snap")).unwrap_err();
    assert!(matches!(e, SnapError::Io { .. }));
}

/// A table whose zone data was damaged before it was sealed (a crafted or
/// mis-built file with valid checksums and rkyv structure) is refused by
/// the invariant checks, with the record's offset; it is never mapped.
#[test]
fn damaged_zone_data_is_refused() {
    let refused = |damage: &dyn Fn(&mut Built), want: &str| {
        let mut b = built();
        damage(&mut b);
        let e = Snapshot::from_bytes("mem", &b.to_bytes(1)).expect_err(want);
        assert!(
            matches!(e, SnapError::Invalid { .. }) && e.to_string().contains(want),
            "{want}: {e}"
        );
    };
    let zoned = |b: &mut Built| b.table.rules.iter().position(|r| r.win_zone != 0).unwrap();
    assert_eq!(built().table.rules[0].win_days, 0);
    refused(
        &|b| {
            let i = zoned(b);
            b.table.rules[i].win_zone = 2;
        },
        "rule time zone index out of range",
    );
    refused(
        &|b| b.table.rules[0].win_zone = 1, // a rule without a window
        "rule without a window has a time zone",
    );
    refused(
        &|b| b.table.zone_transitions.swap(3, 4),
        "time zone transitions not sorted",
    );
    refused(
        &|b| {
            let t = &mut b.table.zone_transitions;
            t[5].at = t[4].at;
        },
        "time zone transitions not sorted",
    );
    refused(
        &|b| b.table.zones[0].transitions_end += 1,
        "time zone transition range empty or out of bounds",
    );
    refused(
        &|b| b.table.zones[0].transitions_end = b.table.zones[0].transitions_start,
        "time zone transition range empty or out of bounds",
    );
    refused(
        &|b| b.table.zone_transitions[2].offset = i32::MIN,
        "time zone offset out of range",
    );
    // Not zone data, but the same kind of damage: an entry that routes by
    // another target list than its first rule's.
    refused(
        &|b| b.table.entries[0].first_targets ^= 1,
        "entry first_targets is not its first rule's",
    );
    // And the intact one opens.
    exercise(&Snapshot::from_bytes("mem", &built().to_bytes(1)).unwrap());
}

/// Files in the previous formats (version 2, no zones; version 3, no
/// `port_given`; version 4, no `first_targets` (a `snap gen --rules 5
/// --gateways 4` deck); each built by the code of its time and kept in
/// tests/data) are refused with a message that says to rebuild them.
#[test]
fn old_format_is_refused_with_the_rebuild_message() {
    for old in [2u32, 3, 4] {
        let path = format!(
            "{}/tests/data/format-v{old}.snap",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[8..12], &old.to_le_bytes());
        let e = Snapshot::open(&path).unwrap_err();
        assert!(
            matches!(e, SnapError::Version { version, .. } if version == old),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.contains(&format!(
                "format-v{old}.snap: byte 8: snapshot format version {old}"
            )) && text.contains("reads only version 5")
                && text.contains("rebuild the snapshot from its CSV files")
                && text.contains("snap build"),
            "{text}"
        );
    }
}

/// Whether a gateway's port was written is kept (SRV applies without
/// one), the port reads 5060 either way when absent, and a table whose
/// gateway has no written port but another port is refused.
#[test]
fn a_gateway_port_written_or_not_is_kept() {
    let s = Snapshot::from_bytes("mem", &bytes()).unwrap();
    let t = s.table();
    let gw = |id: &str| t.gateway(t.gateway_by_id(id).unwrap()).unwrap();
    let (gw1, gw2) = (gw("gw1"), gw("gw2"));
    assert!(!gw1.port_given && gw1.port == 5060);
    assert!(gw2.port_given && gw2.port == 5070);
    assert_eq!(gw1.address(), "10.0.0.1:5060");
    assert_eq!(gw1.address_as_written(), "10.0.0.1");
    assert_eq!(gw2.address_as_written(), "10.0.0.2:5070");
    // `snap diff`: writing the default port is a change (SRV no longer
    // applies to a host name).
    let written = build_at(
        BuildInputs {
            gateways: Source::bytes("gw.csv", GATEWAYS.replace("10.0.0.1\n", "10.0.0.1:5060\n")),
            rules: Source::bytes("rules.csv", RULES),
            carriers: Some(Source::bytes("c.csv", CARRIERS)),
            dialplan: Some(Source::bytes("dp.csv", DIALPLAN)),
            acl: Some(Source::bytes("acl.csv", ACL)),
        },
        1_700_000_000,
    )
    .unwrap();
    let w = Snapshot::from_bytes("mem", &written.to_bytes(1)).unwrap();
    let mut out = Vec::new();
    let c = trunkline_routing_tables::report::diff(t, w.table(), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!((c.gateways_changed, c.rules_changed), (1, 0), "{out}");
    assert!(
        out.contains("~ gateway gw1 10.0.0.1 Udp") && out.contains("=> gw1 10.0.0.1:5060 Udp"),
        "{out}"
    );
    let mut b = built();
    b.table.gateways[0].port = 5070;
    let e = Snapshot::from_bytes("mem", &b.to_bytes(1)).unwrap_err();
    assert!(
        matches!(e, SnapError::Invalid { .. })
            && e.to_string()
                .contains("gateway without a written port has a port other than 5060"),
        "{e}"
    );
}
