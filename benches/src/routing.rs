//! Routing-table bench fixtures: a generated deck of N rules
//! built into a snapshot in a temporary directory, opened (mapped) like
//! the router opens it, and a set of dialled numbers that hit its prefixes.

use std::path::Path;
use std::time::Instant;

use trunkline_routing_tables::generate::{self, GenConfig};
use trunkline_routing_tables::{At, BuildInputs, GroupId, Snapshot, Source, build};

/// A mapped snapshot and numbers to look up.
#[derive(Debug)]
pub struct Fixture {
    /// Holds the snapshot file.
    pub dir: tempfile::TempDir,
    /// The snapshot.
    pub snapshot: Snapshot,
    /// The group looked up (`retail`: `+` prefixes).
    pub group: GroupId,
    /// Dialled numbers (power-of-two count).
    pub numbers: Vec<String>,
    /// When lookups happen (a weekday business hour: windows are open).
    pub at: At,
    /// Seconds to generate and build.
    pub build_secs: f64,
}

/// Tuesday 2026-11-24 10:00 UTC: a weekday business hour, when the
/// generated decks' `mon-fri 08:00-18:00` windows are open.
pub const BUSINESS_HOUR: At = At::from_unix(1_795_514_400);

/// Generates and builds a deck of `rules` rules (2,000 gateways, seed 7).
pub fn fixture(rules: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let deck = dir.path().join("deck");
    let started = Instant::now();
    generate::write_deck(
        &GenConfig {
            rules,
            gateways: 2000,
            seed: 7,
        },
        &deck,
    )
    .expect("write deck");
    let path = dir.path().join("table.snap");
    build_into(&deck, &path);
    let build_secs = started.elapsed().as_secs_f64();
    let snapshot = Snapshot::open(&path).expect("open snapshot");
    let group = snapshot.table().group_id("retail").expect("retail group");
    let numbers = generate::sample_numbers(snapshot.table(), group, 1 << 16, 11);
    Fixture {
        dir,
        snapshot,
        group,
        numbers,
        at: BUSINESS_HOUR,
        build_secs,
    }
}

/// Builds the deck in `deck` into `out`.
pub fn build_into(deck: &Path, out: &Path) {
    let src = |n: &str| Source::file(deck.join(n)).expect("deck file");
    let built = build(BuildInputs {
        gateways: src("gateways.csv"),
        rules: src("rules.csv"),
        carriers: Some(src("carriers.csv")),
        dialplan: Some(src("dialplan.csv")),
        acl: Some(src("acl.csv")),
    })
    .expect("generated decks are valid");
    built.write(out, 0).expect("write snapshot");
}
