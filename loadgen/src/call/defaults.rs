//! SIPp's default messages (`-1`/`-2` indices: ack, bye, cancel, 200)
//! and the `[date]` format (`[timestamp]` is the statistics' local-time
//! format, [`crate::stats::format::format_time`]).

use super::*;

/// SIPp's default messages (`call.cpp`, `default_message_strings`),
/// compiled once.
pub(super) fn default_message(which: &str) -> Template {
    use crate::scenario::{Keyword, KeywordKind as K, Segment};
    static CACHE: std::sync::OnceLock<Vec<(&'static str, Template)>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        let lit = |s: &str| Segment::Literal(s.replace('\n', "\r\n").into_bytes());
        let kw = |k: K, offset: i64| Segment::Keyword(Keyword { kind: k, offset });
        let last = |n: &str, colon: bool| {
            kw(
                K::LastHeader {
                    name: n.into(),
                    colon,
                },
                0,
            )
        };
        let contact = |v: &mut Vec<Segment>| {
            v.push(lit("Contact: <sip:sipp@"));
            v.push(kw(K::LocalIp, 0));
            v.push(lit(":"));
            v.push(kw(K::LocalPort, 0));
            v.push(lit(";transport="));
            v.push(kw(K::Transport, 0));
            v.push(lit(">\n"));
        };
        let mut out = Vec::new();
        // ack
        let mut v = vec![lit("ACK "), kw(K::LastRequestUri, 0), lit(" SIP/2.0\n")];
        v.extend([
            last("Via", false),
            lit("\n"),
            last("From", false),
            lit("\n"),
        ]);
        v.extend([last("To", false), lit("\nCall-ID: "), kw(K::CallId, 0)]);
        v.extend([lit("\nCSeq: "), kw(K::LastCseqNumber, 0), lit(" ACK\n")]);
        contact(&mut v);
        v.push(lit(
            "Max-Forwards: 70\nSubject: Performance Test\nContent-Length: 0\n\n",
        ));
        out.push(("ack", Template { segments: v }));
        // bye
        let mut v = vec![lit("BYE "), kw(K::LastRequestUri, 0), lit(" SIP/2.0\n")];
        v.extend([
            lit("Via: SIP/2.0/"),
            kw(K::Transport, 0),
            lit(" "),
            kw(K::LocalIp, 0),
        ]);
        v.extend([
            lit(":"),
            kw(K::LocalPort, 0),
            lit(";branch="),
            kw(K::Branch, 0),
            lit("\n"),
        ]);
        v.extend([last("From", false), lit("\n"), last("To", false)]);
        v.extend([lit("\nCall-ID: "), kw(K::CallId, 0), lit("\nCSeq: ")]);
        v.extend([kw(K::LastCseqNumber, 1), lit(" BYE\nMax-Forwards: 70\n")]);
        contact(&mut v);
        v.push(lit("Content-Length: 0\n\n"));
        out.push(("bye", Template { segments: v }));
        // cancel
        let mut v = vec![lit("CANCEL "), kw(K::LastRequestUri, 0), lit(" SIP/2.0\n")];
        v.extend([
            last("Via", false),
            lit("\n"),
            last("From", false),
            lit("\n"),
        ]);
        v.extend([last("To", false), lit("\nCall-ID: "), kw(K::CallId, 0)]);
        v.extend([
            lit("\nCSeq: "),
            kw(K::LastCseqNumber, 0),
            lit(" CANCEL\nMax-Forwards: 70\n"),
        ]);
        contact(&mut v);
        v.push(lit("Content-Length: 0\n\n"));
        out.push(("cancel", Template { segments: v }));
        // 200
        let mut v = vec![lit("SIP/2.0 200 OK\n")];
        for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
            v.push(last(h, true));
            v.push(lit("\n"));
        }
        v.extend([
            lit("Contact: <sip:"),
            kw(K::LocalIp, 0),
            lit(":"),
            kw(K::LocalPort, 0),
        ]);
        v.extend([
            lit(";transport="),
            kw(K::Transport, 0),
            lit(">\nContent-Length: 0\n\n"),
        ]);
        out.push(("200", Template { segments: v }));
        out
    });
    cache
        .iter()
        .find(|(n, _)| *n == which)
        .map(|(_, t)| t.clone())
        .unwrap_or_default()
}

/// `[date]`: `Mon, 23 Nov 2026 08:00:00 GMT`, RFC 9110's HTTP date (SIPp:
/// `strftime("%a, %d %b %Y %T %Z")` of `gmtime`); empty for a time jiff
/// cannot represent.
pub(crate) fn http_date(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .ok()
        .and_then(|ts| {
            jiff::fmt::rfc2822::DateTimePrinter::new()
                .timestamp_to_rfc9110_string(&ts)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_keyword_is_sipps_gmt_format() {
        for secs in [0u64, 951_782_400, 1_795_346_716] {
            // glibc's `gmtime` names its zone GMT; `date -u` would say UTC.
            let o = std::process::Command::new("date")
                .env("LC_ALL", "C")
                .args(["-u", "-d", &format!("@{secs}"), "+%a, %d %b %Y %T GMT"])
                .output()
                .expect("runs date (coreutils)");
            let want = String::from_utf8(o.stdout).unwrap();
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(http_date(t), want.trim_end(), "{secs}");
        }
    }
}
