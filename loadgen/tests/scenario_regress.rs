//! SIPp's own regression vectors for the end of a `<send>`
//! (SIPp's test directory `regress/github-#0034` at v3.6.1: the packet must end in exactly these
//! bytes), loaded through the public API.

use trunkline_loadgen::scenario::{ElementKind, LoadOptions, Segment, load_str};

/// The bytes after the last keyword of the first `<send>`.
fn tail(xml: &str) -> Vec<u8> {
    let sc = load_str(xml, "regress.xml", "regress", &LoadOptions::default()).unwrap();
    let ElementKind::Send(s) = &sc.elements[0].kind else {
        panic!("not a send");
    };
    match s.template.segments.last() {
        Some(Segment::Literal(l)) => l.clone(),
        x => panic!("{x:?}"),
    }
}

#[test]
fn notify_1234() {
    let t = tail(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario>
  <!-- Observe how the CDATA is cut short (no trailing linefeeds).
       Here we *don't* want SIPp to add any CRLF to packet body. -->
  <send retrans="500">
    <![CDATA[

      NOTIFY sip:127.0.0.1:5070 SIP/2.0
      Via: SIP/2.0/UDP 127.0.0.1:5070;branch=[branch]
      From: sip:127.0.0.1:5060;tag=TAG
      To: sip:127.0.0.1:5070
      Call-ID: [call_id]
      CSeq: 1 NOTIFY
      Contact: sip:sipp@127.0.0.1:5060
      Max-Forwards: 70
      Event: telephone-event
      Content-Type: audio/telephone-event
      Content-Length: 4

      \x01\x02\x03\x04]]>
  </send>
</scenario>
"#,
    );
    assert!(
        t.ends_with(b"Content-Length: 4\r\n\r\n\x01\x02\x03\x04"),
        "{t:?}"
    );
}

#[test]
fn notify_manylf() {
    let t = tail(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario>
  <!-- Here we want exactly two CRLFs. -->
  <send retrans="500">
    <![CDATA[

      NOTIFY sip:127.0.0.1:5070 SIP/2.0
      Via: SIP/2.0/UDP 127.0.0.1:5070;branch=[branch]
      From: sip:127.0.0.1:5060;tag=TAG
      To: sip:127.0.0.1:5070
      Call-ID: [call_id]
      CSeq: 2 NOTIFY
      Contact: sip:sipp@127.0.0.1:5060
      Max-Forwards: 70
      Event: telephone-event
      Content-Type: audio/telephone-event
      Content-Length: 0




    ]]></send>
</scenario>
"#,
    );
    assert!(t.ends_with(b"Content-Length: 0\r\n\r\n"), "{t:?}");
    assert!(!t.ends_with(b"\r\n\r\n\r\n"));
}

#[test]
fn notify_nocrlf() {
    let t = tail(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario>
  <!-- Here we want exactly two CRLFs. -->
  <send retrans="500">
    <![CDATA[

      NOTIFY sip:127.0.0.1:5070 SIP/2.0
      Via: SIP/2.0/UDP 127.0.0.1:5070;branch=[branch]
      From: sip:127.0.0.1:5060;tag=TAG
      To: sip:127.0.0.1:5070
      Call-ID: [call_id]
      CSeq: 3 NOTIFY
      Contact: sip:sipp@127.0.0.1:5060
      Max-Forwards: 70
      Event: telephone-event
      Content-Type: audio/telephone-event
      Content-Length: 0]]></send>
</scenario>
"#,
    );
    assert!(t.ends_with(b"Content-Length: 0\r\n\r\n"), "{t:?}");
    assert!(!t.ends_with(b"\r\n\r\n\r\n"));
}

#[test]
fn notify_withlf() {
    let t = tail(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario>
  <!-- Here we want SIPp to add a single CRLF. -->
  <send retrans="500">
    <![CDATA[

      NOTIFY sip:127.0.0.1:5070 SIP/2.0
      Via: SIP/2.0/UDP 127.0.0.1:5070;branch=[branch]
      From: sip:127.0.0.1:5060;tag=TAG
      To: sip:127.0.0.1:5070
      Call-ID: [call_id]
      CSeq: 4 NOTIFY
      Contact: sip:sipp@127.0.0.1:5060
      Max-Forwards: 70
      Event: telephone-event
      Content-Type: audio/telephone-event
      Content-Length: [len]

      X
    ]]>
  </send>
</scenario>
"#,
    );
    assert_eq!(t, b"\r\n\r\nX\r\n");
}

/// `regress/github-#0018`: `\x5b` is a literal `[`, not a keyword.
#[test]
fn notify_brackets() {
    let sc = load_str(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario>
  <!-- We use \x5b to insert a literal bracket. -->
  <send retrans="500">
    <![CDATA[

      NOTIFY sip:127.0.0.1:5070 SIP/2.0
      Via: SIP/2.0/UDP 127.0.0.1:5070;branch=[branch]
      From: sip:127.0.0.1:5060;tag=TAG
      To: sip:127.0.0.1:5070
      Call-ID: [call_id]
      CSeq: 1 NOTIFY
      Contact: sip:sipp@127.0.0.1:5060
      X-Literal: \x5bdate]
      X-Keyword: [date]
      Max-Forwards: 70
      Event: telephone-event
      Content-Type: audio/telephone-event
      Content-Length: 0

    ]]>
  </send>
</scenario>"#,
        "regress.xml",
        "regress",
        &LoadOptions::default(),
    )
    .unwrap();
    let ElementKind::Send(s) = &sc.elements[0].kind else {
        panic!("not a send");
    };
    let lits: Vec<u8> = s
        .template
        .segments
        .iter()
        .filter_map(|x| match x {
            Segment::Literal(l) => Some(l.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let text = String::from_utf8(lits).unwrap();
    assert!(text.contains("X-Literal: [date]\r\n"), "{text}");
    assert!(s.template.segments.iter().any(|x| matches!(
        x,
        Segment::Keyword(trunkline_loadgen::scenario::Keyword {
            kind: trunkline_loadgen::scenario::KeywordKind::Date,
            ..
        })
    )));
}

/// `regress/github-#0364`: `-key keyword ''` gives an empty value.
#[test]
fn empty_keyword_allowed() {
    let xml = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario>
  <send retrans="500">
    <![CDATA[

      NOTIFY sip:127.0.0.1:5070 SIP/2.0
      Via: SIP/2.0/UDP 127.0.0.1:5070;branch=[branch]
      From: sip:127.0.0.1:5060;tag=TAG
      To: sip:127.0.0.1:5070
      Call-ID: [call_id]
      CSeq: 1 NOTIFY
      Contact: sip:sipp@127.0.0.1:5060
      Max-Forwards: 70
      Event: telephone-event
      Content-Type: audio/telephone-event
      X-Keyword: -[keyword]-
      Content-Length: 0

      ]]>
  </send>
</scenario>"#;
    let opts = LoadOptions {
        keys: vec![("keyword".into(), String::new())],
        base_dir: None,
    };
    let sc = load_str(xml, "regress.xml", "regress", &opts).unwrap();
    let ElementKind::Send(s) = &sc.elements[0].kind else {
        panic!("not a send");
    };
    let at = s
        .template
        .segments
        .iter()
        .position(|x| matches!(x, Segment::Literal(l) if l.ends_with(b"X-Keyword: -")))
        .unwrap();
    assert_eq!(s.template.segments[at + 1], Segment::Literal(Vec::new()));
    assert!(matches!(&s.template.segments[at + 2], Segment::Literal(l) if l.starts_with(b"-\r\n")));
    // Without the -key it is an error, as in SIPp.
    assert!(load_str(xml, "regress.xml", "regress", &LoadOptions::default()).is_err());
}

/// Observed on the installed SIPp 3.6.1 (one UDP datagram captured):
/// leading/trailing blanks per line in SIPp's pass order (a space left
/// before a removed tab stays), `\xAZ` = LF with the `Z` eaten, `\xZ`
/// eats the `Z`, and the body ends in exactly one CRLF.
#[test]
fn observed_cleanup_and_hex_quirks() {
    let xml = "<?xml version=\"1.0\"?>\n<scenario name=\"t\">\n<send><![CDATA[\n\t  OPTIONS sip:x SIP/2.0  \n\t x: a\t\n \tY: b \t \n  Z: \\xAZq\\xZr\\x41\\x4a\n\n  body \n\t\t\n  ]]></send>\n</scenario>\n";
    let sc = load_str(xml, "q.xml", "q", &LoadOptions::default()).unwrap();
    let ElementKind::Send(s) = &sc.elements[0].kind else {
        panic!("not a send");
    };
    let wire: &[u8] = b"OPTIONS sip:x SIP/2.0\r\n x: a\r\nY: b \r\nZ: \nqrAJ\r\n\r\nbody\r\n";
    assert_eq!(s.template.segments, vec![Segment::Literal(wire.to_vec())]);
}
