//! SIPp 3.6.1's built-in scenarios (`docs/sipp/compat.md` §6), as
//! `sipp -sd NAME` prints them: the files in `builtin/` are that output,
//! byte for byte (the ignored test `builtin_text_equals_sipp_sd` checks it
//! against the installed binary).

/// The built-in names, in SIPp's `scenario_table` order. `3pcc-C-A` and
/// `3pcc-C-B` (3PCC `sendCmd`/`recvCmd`) and `uac_pcap`
/// (`play_pcap_audio`) are listed so `-sd` can print them, but loading
/// them fails: trunkload does not support those elements and actions.
/// (`3pcc-A`/`3pcc-B` are plain SIP and load.)
pub const BUILTIN_NAMES: &[&str] = &[
    "uac",
    "uas",
    "regexp",
    "3pcc-C-A",
    "3pcc-C-B",
    "3pcc-A",
    "3pcc-B",
    "branchc",
    "branchs",
    "uac_pcap",
    "ooc_default",
    "ooc_dummy",
];

/// The XML text of built-in `name` (what `sipp -sd name` prints).
pub fn builtin(name: &str) -> Option<&'static str> {
    Some(match name {
        "uac" => include_str!("builtin/uac.xml"),
        "uas" => include_str!("builtin/uas.xml"),
        "regexp" => include_str!("builtin/regexp.xml"),
        "3pcc-C-A" => include_str!("builtin/3pcc-C-A.xml"),
        "3pcc-C-B" => include_str!("builtin/3pcc-C-B.xml"),
        "3pcc-A" => include_str!("builtin/3pcc-A.xml"),
        "3pcc-B" => include_str!("builtin/3pcc-B.xml"),
        "branchc" => include_str!("builtin/branchc.xml"),
        "branchs" => include_str!("builtin/branchs.xml"),
        "uac_pcap" => include_str!("builtin/uac_pcap.xml"),
        "ooc_default" => include_str!("builtin/ooc_default.xml"),
        "ooc_dummy" => include_str!("builtin/ooc_dummy.xml"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_text_and_unknown_has_none() {
        for n in BUILTIN_NAMES {
            let t = builtin(n).unwrap_or_else(|| panic!("{n}"));
            assert!(t.starts_with("<?xml"), "{n}");
            assert!(t.contains("<scenario name="), "{n}");
        }
        assert!(builtin("nope").is_none());
        assert!(builtin("UAC").is_none());
    }
}
