//! Torture messages derived from RFC 3261's grammar and the RFC 4475
//! categories, one file each under `tests/torture/`:
//! `valid-*.sip` must parse and validate; `invalid-<kind>-*.sip` must be
//! refused with the error kind named in the file (see `ErrorKind::name`).

use std::path::Path;

use trunkline_parser::{ErrorKind, Parser, validate};

fn check(parser: &mut Parser, path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let name = path.file_stem().unwrap().to_str().unwrap();
    let outcome = parser
        .parse(&bytes)
        .and_then(|m| validate(&m).map(|_| m.headers().len()));
    if name.starts_with("valid-") {
        return match outcome {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("{name}: refused: {e}")),
        };
    }
    let kind = name
        .strip_prefix("invalid-")
        .and_then(|s| s.split('-').next())
        .ok_or(format!("{name}: not valid-* or invalid-<kind>-*"))?;
    match outcome {
        Ok(_) => Err(format!("{name}: accepted, expected {kind}")),
        Err(e) if e.kind.name() == kind => {
            if e.offset as usize > bytes.len() {
                return Err(format!("{name}: offset {} past the end", e.offset));
            }
            // The response a proxy sends is a real SIP error status.
            assert!(matches!(e.status(), 400 | 413 | 416 | 505 | 513), "{name}");
            Ok(())
        }
        Err(e) => Err(format!(
            "{name}: refused as {} ({e}), expected {kind}",
            e.kind.name()
        )),
    }
}

#[test]
fn torture_messages() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    let mut parser = Parser::default();
    let mut failures = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        seen += 1;
        if let Err(e) = check(&mut parser, &path) {
            failures.push(e);
        }
    }
    assert!(
        seen >= 80,
        "only {seen} torture files found in {}",
        dir.display()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_error_kind_named_in_a_file_exists() {
    // Guards against typos in file names silently testing nothing: every
    // kind named must be one the parser can produce.
    let kinds = [
        ErrorKind::Empty,
        ErrorKind::MessageTooLarge,
        ErrorKind::TooManyHeaders,
        ErrorKind::Unterminated,
        ErrorKind::BadStartLine,
        ErrorKind::BadMethod,
        ErrorKind::BadRequestUri,
        ErrorKind::BadVersion,
        ErrorKind::UnsupportedVersion,
        ErrorKind::BadStatusCode,
        ErrorKind::BadReasonPhrase,
        ErrorKind::BadHeaderName,
        ErrorKind::BadFolding,
        ErrorKind::BadContentLength,
        ErrorKind::BodyTruncated,
        ErrorKind::BadUri,
        ErrorKind::BadHost,
        ErrorKind::BadPort,
        ErrorKind::BadVia,
        ErrorKind::BadNameAddr,
        ErrorKind::UnterminatedQuote,
        ErrorKind::BadParam,
        ErrorKind::BadCSeq,
        ErrorKind::BadCallId,
        ErrorKind::BadMaxForwards,
        ErrorKind::BadExpires,
        ErrorKind::BadAuth,
        ErrorKind::BadTokenList,
        ErrorKind::MissingHeader,
        ErrorKind::DuplicateHeader,
        ErrorKind::CSeqMethodMismatch,
        ErrorKind::HeadersInRequestUri,
        ErrorKind::BadWildcardContact,
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(rest) = name.strip_prefix("invalid-") {
            let kind = rest.split('-').next().unwrap();
            assert!(
                kinds.iter().any(|k| k.name() == kind),
                "{name}: unknown kind {kind}"
            );
        }
    }
    // And each of those kinds is exercised by at least one file.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for k in kinds {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(&format!("invalid-{}-", k.name()))),
            "no torture file for {}",
            k.name()
        );
    }
}
