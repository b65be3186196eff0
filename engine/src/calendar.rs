//! Unix time as calendar dates, without a date crate on the shards' path:
//! the CDR files' UTC stamps, and the SIP Date header (RFC 3261 §20.17,
//! the RFC 1123 form: `Sat, 13 Nov 2010 23:29:00 GMT`).

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H.
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Appends `unix` (seconds; before 1970 is 1970) as an RFC 1123 date in
/// GMT, the form of SIP's Date header (RFC 3261 §20.17).
pub fn write_sip_date(unix: i64, out: &mut Vec<u8>) {
    use std::io::Write;
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = unix.max(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_dates_are_rfc_1123_in_gmt() {
        let date = |unix| {
            let mut out = Vec::new();
            write_sip_date(unix, &mut out);
            String::from_utf8(out).unwrap()
        };
        // RFC 3261 §20.17's example.
        assert_eq!(date(1_289_690_940), "Sat, 13 Nov 2010 23:29:00 GMT");
        assert_eq!(date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
