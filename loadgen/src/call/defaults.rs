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

/// `[date]`: `Mon, 23 Nov 2026 08:00:00 GMT`.
pub(crate) fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (y, mo, da, h, mi, s) = civil(secs);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = DAYS[((secs / 86_400) % 7) as usize];
    format!(
        "{wd}, {da:02} {} {y} {h:02}:{mi:02}:{s:02} GMT",
        MONTHS[(mo - 1) as usize]
    )
}

/// Seconds since the epoch → (year, month, day, hour, minute, second), UTC
/// (Howard Hinnant's `civil_from_days`).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem / 60) % 60) as u32,
        (rem % 60) as u32,
    )
}
