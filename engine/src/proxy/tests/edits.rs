//! The policy's header rules on the forwarded copy, configured from TOML
//! as an operator writes them: headers added, removed by name pattern,
//! replaced; From and To users and the From display name set (tags
//! kept); P-Asserted-Identity set; on each target of a serial search.

use std::path::Path;

use super::*;
use crate::config::Config;
use crate::policy::{Policy, PolicyTable};

/// A proxy forwarding to the UAS with the `[[policy]]` rules of `toml`.
fn with_rules(toml: &str) -> Net {
    let cfg = Config::parse(toml, Path::new("edits.toml")).unwrap_or_else(|e| panic!("{e}"));
    let proxy = ProxyConfig::new(addr(PROXY), Some(addr(UAS)));
    let services = Services {
        policy: Some(Arc::new(PolicyTable::new(
            Policy::compile(&cfg.policy).unwrap(),
        ))),
        ..Services::default()
    };
    Net::with_services(proxy, services)
}

/// The INVITE the UAS gets for `msg`.
fn forwarded(n: &mut Net, msg: &str) -> String {
    n.from(UAC, msg);
    let out = n.take();
    out.into_iter()
        .find(|(d, _)| *d == addr(UAS))
        .unwrap_or_else(|| panic!("not forwarded"))
        .1
}

fn with_headers(msg: &str, lines: &str) -> String {
    msg.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{lines}"),
        1,
    )
}

#[test]
fn headers_are_added_removed_and_replaced() {
    let mut n = with_rules(
        r#"
[[policy]]
name = "strip-x"
remove_header = "X-.*"
add_header = ["X-Carrier: acme", "P-Charge-Info: <sip:+15550001@acme>"]

[[policy]]
name = "billing"
methods = ["INVITE"]
replace_header = { name = "Subject", value = "wholesale" }
set_pai = "<sip:+15551234567@carrier.example>"
"#,
    );
    let inv = with_headers(
        &invite("z9hG4bKe1"),
        "X-Internal: secret\r\nx-trace: 42\r\nSubject: Performance Test\r\n\
P-Asserted-Identity: <sip:spoofed@x>\r\nUser-Agent: ua\r\n",
    );
    let fwd = forwarded(&mut n, &inv);
    assert!(header(&fwd, "X-Internal").is_empty(), "{fwd}");
    assert!(header(&fwd, "x-trace").is_empty(), "{fwd}");
    assert_eq!(header(&fwd, "X-Carrier"), ["acme"]);
    assert_eq!(header(&fwd, "P-Charge-Info"), ["<sip:+15550001@acme>"]);
    assert_eq!(header(&fwd, "Subject"), ["wholesale"]);
    assert_eq!(
        header(&fwd, "P-Asserted-Identity"),
        ["<sip:+15551234567@carrier.example>"]
    );
    assert_eq!(header(&fwd, "User-Agent"), ["ua"], "others untouched");
    assert_eq!(header(&fwd, "Via").len(), 2, "ours and the UAC's");
    let hits = n.core.policy_hits();
    assert!(
        hits.iter()
            .any(|(r, a, h)| r == "strip-x" && *a == "edit" && *h == 1),
        "{hits:?}"
    );
}

#[test]
fn from_and_to_are_rewritten_with_their_tags_kept() {
    let mut n = with_rules(
        r#"
[[policy]]
set_from_user = "+15550100"
set_from_display = "ACME Wholesale"
set_to_user = "+4930123"
"#,
    );
    let fwd = forwarded(&mut n, &invite("z9hG4bKe2"));
    assert_eq!(
        header(&fwd, "From"),
        [format!("\"ACME Wholesale\" <sip:+15550100@{UAC}>;tag=a1")]
    );
    assert_eq!(header(&fwd, "To"), [format!("Bob <sip:+4930123@{UAS}>")]);
    // In-dialog requests through our Record-Route skip the policy.
    let route = format!("<sip:{PROXY};lr>");
    n.from(
        UAC,
        &call().request("BYE", 2, "z9hG4bKe3", Some("b1"), Some(&route)),
    );
    let bye = n
        .take()
        .into_iter()
        .find(|(d, _)| *d == addr(UAS))
        .unwrap()
        .1;
    assert_eq!(
        header(&bye, "From"),
        [format!("Alice <sip:alice@{UAC}>;tag=a1")]
    );
}

#[test]
fn the_proxys_own_headers_cannot_be_edited() {
    for (toml, what) in [
        ("[[policy]]\nremove_header = \"V.*\"\n", "matches `via`"),
        (
            "[[policy]]\nadd_header = [\"Contact: <sip:x@y>\"]\n",
            "the proxy's to write",
        ),
        (
            "[[policy]]\nreplace_header = { name = \"Call-ID\", value = \"x\" }\n",
            "the proxy's",
        ),
        ("[[policy]]\nadd_header = [\"no colon\"]\n", "Name: value"),
        ("[[policy]]\nset_pai = \"not a uri <\"\n", "name-addr"),
        (
            "[[policy]]\nset_from_user = \"a b\"\n",
            "not a SIP URI user",
        ),
        (
            "[[policy]]\nadd_header = [\"X-A: b\"]\ndrop = true\n",
            "one action per rule",
        ),
    ] {
        let e = Config::parse(toml, Path::new("edits.toml")).unwrap_err();
        assert!(e.to_string().contains(what), "{toml}: {e}");
        assert!(e.to_string().contains("policy[0]"), "{e}");
    }
}
