//! The built-in `uac` and `uas` compiled by the loader produce, with a
//! minimal keyword substitution, exactly the bytes real SIPp 3.6.1 put on
//! the wire (`docs/sipp/samples/*_messages.call1.log`, pid 23194/23196,
//! uac on 127.0.0.1:15171, uas on 127.0.0.1:15170). This checks the CDATA
//! clean-up, CRLF conversion, keyword splitting and `[len]` end to end.

use trunkline_loadgen::scenario::{
    ElementKind, KeywordKind, LoadOptions, Scenario, Segment, Template, load_builtin,
};

/// The values behind the keywords, for one side of the sample call.
struct Side {
    pid: u32,
    local_port: u16,
    remote_port: u16,
    media_port: u16,
    last: &'static str,
    cseq: u32,
}

/// A header line of `msg` (`[last_Name:]`), found case-insensitively.
fn last_header(msg: &str, name: &str) -> String {
    let want = format!("{}:", name.trim_end_matches(':')).to_ascii_lowercase();
    msg.split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&want))
        .unwrap_or_default()
        .to_string()
}

fn render(t: &Template, index: usize, s: &Side) -> Vec<u8> {
    let mut out = Vec::new();
    let mut len_at = None;
    for seg in &t.segments {
        let kw = match seg {
            Segment::Literal(l) => {
                out.extend_from_slice(l);
                continue;
            }
            Segment::Keyword(k) => k,
        };
        let v = match &kw.kind {
            KeywordKind::Service => "service".to_string(),
            KeywordKind::RemoteIp | KeywordKind::LocalIp | KeywordKind::MediaIp => {
                "127.0.0.1".into()
            }
            KeywordKind::RemotePort => s.remote_port.to_string(),
            KeywordKind::LocalPort => s.local_port.to_string(),
            KeywordKind::MediaPort => s.media_port.to_string(),
            KeywordKind::Transport => "UDP".into(),
            KeywordKind::LocalIpType | KeywordKind::MediaIpType => "4".into(),
            KeywordKind::Pid => s.pid.to_string(),
            KeywordKind::CallNumber => "1".into(),
            KeywordKind::CallId => "1-23196@127.0.0.1".into(),
            KeywordKind::Cseq => (s.cseq as i64 + kw.offset).to_string(),
            KeywordKind::Branch => format!("z9hG4bK-{}-1-{}", s.pid, index as i64 + kw.offset),
            KeywordKind::PeerTagParam => ";tag=23194SIPpTag011".into(),
            KeywordKind::LastHeader { name, .. } => last_header(s.last, name),
            KeywordKind::Len => {
                len_at = Some(out.len());
                "     ".into()
            }
            k => panic!("unexpected keyword {k:?}"),
        };
        out.extend_from_slice(v.as_bytes());
    }
    if let Some(at) = len_at {
        let body = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let l = format!("{:5}", out.len() - body);
        out.splice(at..at + 5, l.bytes());
    }
    out
}

fn sends(sc: &Scenario) -> Vec<(usize, &Template)> {
    sc.elements
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            ElementKind::Send(s) => Some((i, &s.template)),
            _ => None,
        })
        .collect()
}

fn same(got: Vec<u8>, want: &str) {
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

#[test]
fn uac_sends_what_sipp_sent() {
    let sc = load_builtin("uac", &LoadOptions::default()).unwrap();
    let s = sends(&sc);
    assert_eq!(s.len(), 3);
    let mut side = Side {
        pid: 23196,
        local_port: 15171,
        remote_port: 15170,
        media_port: 6012,
        last: "",
        cseq: 1,
    };
    same(render(s[0].1, s[0].0, &side), UAC_INVITE);
    side.last = UAC_200_RECEIVED;
    same(render(s[1].1, s[1].0, &side), UAC_ACK);
    same(render(s[2].1, s[2].0, &side), UAC_BYE);
}

#[test]
fn uas_sends_what_sipp_sent() {
    let sc = load_builtin("uas", &LoadOptions::default()).unwrap();
    let s = sends(&sc);
    assert_eq!(s.len(), 3);
    let mut side = Side {
        pid: 23194,
        local_port: 15170,
        remote_port: 15171,
        media_port: 6008,
        last: UAC_INVITE,
        cseq: 1,
    };
    same(render(s[0].1, s[0].0, &side), UAS_180);
    same(render(s[1].1, s[1].0, &side), UAS_200);
    side.last = UAS_BYE_RECEIVED;
    same(render(s[2].1, s[2].0, &side), UAS_200_BYE);
}

const UAC_INVITE: &str = "\
INVITE sip:service@127.0.0.1:15170 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:15170>\r\n\
Call-ID: 1-23196@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:15171\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length:   129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6012 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
";
const UAC_200_RECEIVED: &str = "\
SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r\n\
Call-ID: 1-23196@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:127.0.0.1:15170;transport=UDP>\r\n\
Content-Type: application/sdp\r\n\
Content-Length:   129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6008 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
";
const UAC_ACK: &str = "\
ACK sip:service@127.0.0.1:15170 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-5\r\n\
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r\n\
Call-ID: 1-23196@127.0.0.1\r\n\
CSeq: 1 ACK\r\n\
Contact: sip:sipp@127.0.0.1:15171\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\
\r\n\
";
const UAC_BYE: &str = "\
BYE sip:service@127.0.0.1:15170 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-7\r\n\
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r\n\
Call-ID: 1-23196@127.0.0.1\r\n\
CSeq: 2 BYE\r\n\
Contact: sip:sipp@127.0.0.1:15171\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\
\r\n\
";

const UAS_180: &str = "\
SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r\n\
Call-ID: 1-23196@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:127.0.0.1:15170;transport=UDP>\r\n\
Content-Length: 0\r\n\
\r\n\
";
const UAS_200: &str = "\
SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r\n\
Call-ID: 1-23196@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:127.0.0.1:15170;transport=UDP>\r\n\
Content-Type: application/sdp\r\n\
Content-Length:   129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6008 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
";
const UAS_BYE_RECEIVED: &str = "\
BYE sip:service@127.0.0.1:15170 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-7\r\n\
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r\n\
Call-ID: 1-23196@127.0.0.1\r\n\
CSeq: 2 BYE\r\n\
Contact: sip:sipp@127.0.0.1:15171\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\
\r\n\
";
const UAS_200_BYE: &str = "\
SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-7\r\n\
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r\n\
Call-ID: 1-23196@127.0.0.1\r\n\
CSeq: 2 BYE\r\n\
Contact: <sip:127.0.0.1:15170;transport=UDP>\r\n\
Content-Length: 0\r\n\
\r\n\
";
