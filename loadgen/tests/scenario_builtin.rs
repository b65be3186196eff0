//! Every built-in scenario: its text is `sipp -sd NAME` and it loads (or,
//! for the 3PCC and pcap ones, fails with a clear "not supported").

use trunkline_loadgen::scenario::{
    BUILTIN_NAMES, ElementKind, ErrorKind, LoadOptions, Mode, builtin, load_builtin,
};

const UNSUPPORTED: &[&str] = &["3pcc-C-A", "3pcc-C-B", "uac_pcap"];

#[test]
fn supported_builtins_load() {
    let opts = LoadOptions::default();
    for name in BUILTIN_NAMES.iter().filter(|n| !UNSUPPORTED.contains(n)) {
        let sc = load_builtin(name, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sc.file_stem, *name);
        assert!(!sc.elements.is_empty(), "{name}");
    }
}

#[test]
fn unsupported_builtins_fail_clearly() {
    let opts = LoadOptions::default();
    for name in UNSUPPORTED {
        let e = load_builtin(name, &opts).expect_err(name);
        assert!(matches!(e.kind, ErrorKind::Unsupported(_)), "{name}: {e}");
        assert!(e.to_string().starts_with(&format!("{name}:")), "{e}");
        assert!(e.line > 0, "{e}");
    }
    let e = load_builtin("nope", &opts).unwrap_err();
    assert!(
        e.to_string().contains("Invalid default scenario name"),
        "{e}"
    );
}

#[test]
fn modes() {
    let opts = LoadOptions::default();
    let mode = |n| load_builtin(n, &opts).unwrap().mode;
    assert_eq!(mode("uac"), Mode::Client);
    assert_eq!(mode("regexp"), Mode::Client);
    assert_eq!(mode("branchc"), Mode::Client);
    assert_eq!(mode("uas"), Mode::Server);
    assert_eq!(mode("branchs"), Mode::Server);
    assert_eq!(mode("ooc_default"), Mode::Server);
    assert_eq!(mode("ooc_dummy"), Mode::Server);
}

#[test]
fn uac_shape() {
    let sc = load_builtin("uac", &LoadOptions::default()).unwrap();
    assert_eq!(sc.name, "Basic Sipstone UAC");
    assert_eq!(sc.elements.len(), 9);
    assert_eq!(sc.rtds, vec!["1".to_string()]);
    assert_eq!(
        sc.response_time_repartition,
        vec![10, 20, 30, 40, 50, 100, 150, 200]
    );
    assert_eq!(
        sc.call_length_repartition,
        vec![10, 50, 100, 500, 1000, 5000, 10000]
    );
    assert!(matches!(sc.elements[6].kind, ElementKind::Pause(_)));
    assert!(sc.elements[8].common.crlf);
    assert_eq!(sc.elements[4].common.rtd, Some(0));
}

/// `sipp -sd NAME` must print exactly the stored text. Needs the real
/// SIPp 3.6.1 binary: it fails (does not skip) when `sipp` is missing.
#[test]
#[ignore = "needs sipp"]
fn builtin_text_equals_sipp_sd() {
    for name in BUILTIN_NAMES {
        let out = std::process::Command::new("sipp")
            .args(["-sd", name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run sipp: {e}"));
        assert_eq!(out.status.code(), Some(99), "sipp -sd {name} exit code");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            builtin(name).unwrap(),
            "sipp -sd {name}"
        );
    }
}
