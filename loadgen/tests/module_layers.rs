//! The library's modules depend on each other one way only (the layers
//! in `src/lib.rs`'s docs): a module may use the modules below it, never
//! one above, so no import cycle can come back.

use std::path::Path;

/// Top-level modules, from the top layer down; modules of one layer may
/// not use each other either.
const LAYERS: &[&[&str]] = &[
    &["runtime"],
    &["call"],
    &["stats"],
    &["options"],
    &["inject", "scenario"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules `text` names as `crate::NAME`.
fn uses(text: &str) -> Vec<&str> {
    text.match_indices("crate::")
        .filter(|(i, _)| {
            // Not part of a longer path such as `trunkline_loadgen::`.
            !text[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn modules_depend_downwards_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for module in LAYERS.iter().flat_map(|l| l.iter()) {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            sources(&dir, &mut files);
        }
        let file = src.join(format!("{module}.rs"));
        if file.is_file() {
            files.push(file);
        }
        assert!(!files.is_empty(), "no source for module {module}");
        let own = layer_of(module).unwrap();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for used in uses(&text) {
                if used == *module {
                    continue;
                }
                match layer_of(used) {
                    Some(l) if l > own => {}
                    _ => violations.push(format!(
                        "{} uses crate::{used}",
                        f.strip_prefix(&src).unwrap().display()
                    )),
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward or sideways dependencies:\n{}",
        violations.join("\n")
    );
}
