//! Replays every file in `tests/fuzz_corpus/` through the checks the fuzz
//! target runs (`fuzz/src/lib.rs`, included below), so CI exercises the
//! fuzzer's findings and seeds on stable, without cargo-fuzz.
//!
//! Files named `seed-*` are realistic messages that must also validate;
//! `crash-*` files are minimised inputs that once made the parser fail a
//! check; the rest are corpus entries the fuzzer found interesting.

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod checks;

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !name(p).starts_with('.'))
        .collect();
    files.sort();
    files
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn corpus_replays_clean() {
    let files = corpus_files();
    assert!(files.len() >= 20, "only {} corpus files", files.len());
    let (mut parsed, mut valid) = (0, 0);
    for path in &files {
        let data = fs::read(path).unwrap();
        assert!(data.len() < 4096, "{} is over 4 KiB", name(path));
        let out = std::panic::catch_unwind(|| checks::check_bytes(&data))
            .unwrap_or_else(|_| panic!("corpus file {} failed a check", name(path)));
        parsed += out.parsed as usize;
        valid += out.valid as usize;
    }
    eprintln!(
        "{} corpus files: {parsed} parsed, {valid} validated",
        files.len()
    );
}

#[test]
fn seeds_are_valid_messages() {
    let seeds: Vec<_> = corpus_files()
        .into_iter()
        .filter(|p| name(p).starts_with("seed-"))
        .collect();
    assert!(seeds.len() >= 6, "only {} seeds", seeds.len());
    for path in &seeds {
        let data = fs::read(path).unwrap();
        let out = checks::check_bytes(&data);
        assert!(out.valid, "seed {} does not validate", name(path));
    }
}
