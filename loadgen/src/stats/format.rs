//! SIPp's value formats (`stat.cpp`): local times, `HH:MM:SS`,
//! `HH:MM:SS:uuuuuu`, C++ stream floats (`%g`, 6 significant digits) and
//! `time_string` pause descriptions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// The local civil time of second `secs` since the epoch, as SIPp's
/// `localtime` gives it: in the system's time zone (`TZ`, else
/// `/etc/localtime`; jiff caches it). `None` outside jiff's years
/// -9999..=9999.
fn local_time(secs: i64, tz: &TimeZone) -> Option<DateTime> {
    Some(tz.to_datetime(Timestamp::from_second(secs).ok()?))
}

fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_micros()),
        Err(e) => {
            // Before 1970: floor to whole seconds below.
            let d = e.duration();
            let mut s = -(d.as_secs() as i64);
            let mut us = d.subsec_micros();
            if us > 0 {
                s -= 1;
                us = 1_000_000 - us;
            }
            (s, us)
        }
    }
}

/// `CStat::formatTime(tv)`: `YYYY-MM-DD\tHH:MM:SS.uuuuuu\tEPOCH.uuuuuu`,
/// local time (the stat CSV, counts file, short-message and error logs).
pub fn format_time(t: SystemTime) -> String {
    format_time_in(t, &TimeZone::system())
}

/// [`format_time`] in the time zone `tz`.
pub fn format_time_in(t: SystemTime, tz: &TimeZone) -> String {
    let (s, us) = split(t);
    match local_date_time(s, us, tz, '\t') {
        Some(dt) => format!("{dt}\t{s:010}.{us:06}"),
        None => String::new(),
    }
}

/// `YYYY-MM-DD{sep}HH:MM:SS.uuuuuu` at `s` seconds and `us` microseconds
/// after the epoch, on the wall clock of `tz`.
fn local_date_time(s: i64, us: u32, tz: &TimeZone, sep: char) -> Option<String> {
    let dt = local_time(s, tz)?;
    Some(format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}.{:06}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        us
    ))
}

/// `CStat::formatTime(tv, true)`: `YYYY-MM-DD HH:MM:SS.uuuuuu`, local time
/// (the `-trace_msg` separators).
pub fn format_time_short(t: SystemTime) -> String {
    format_time_short_in(t, &TimeZone::system())
}

/// [`format_time_short`] in the time zone `tz`.
pub fn format_time_short_in(t: SystemTime, tz: &TimeZone) -> String {
    let (s, us) = split(t);
    local_date_time(s, us, tz, ' ').unwrap_or_default()
}

/// `CStat::msToHHMMSS`: `HH:MM:SS` (hours not capped at 2 digits).
pub fn ms_to_hhmmss(ms: u64) -> String {
    let s = ms / 1000;
    let hh = s / 3600;
    let mm = (s - hh * 3600) / 60;
    let ss = s - hh * 3600 - mm * 60;
    format!("{hh:02}:{mm:02}:{ss:02}")
}

/// `CStat::msToHHMMSSus`: `HH:MM:SS:uuuuuu` where the microseconds are
/// the milliseconds times 1000 (SIPp's values are whole ms).
pub fn ms_to_hhmmssus(ms: u64) -> String {
    let sec = ms / 1000;
    let hh = sec / 3600;
    let mm = (sec - hh * 3600) / 60;
    let ss = sec - hh * 3600 - mm * 60;
    let us = 1000 * (ms - hh * 3_600_000 - mm * 60_000 - ss * 1000);
    format!("{hh:02}:{mm:02}:{ss:02}:{us:06}")
}

/// SIPp's `computeDiffTimeInMs(tf, ti)`: whole milliseconds from `ti` to
/// `tf` (0 if `tf` is earlier).
pub fn diff_ms(tf: SystemTime, ti: SystemTime) -> u64 {
    tf.duration_since(ti)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A C++ `ostream << double` with the default precision: `%g` with 6
/// significant digits (`9.93542`, `5`, `0.996016`, `1e+06`).
pub fn format_g(x: f64) -> String {
    format_g_prec(x, 6)
}

/// `%.{prec}g`.
pub fn format_g_prec(x: f64, prec: usize) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = prec.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// SIPp's `time_string(ms)`: how pauses are described on the screen
/// (`200ms`, `1.50ms`, `12.5s`, `2:05`, `1:02:03`).
pub fn time_string(ms: f64) -> String {
    if ms < 10000.0 {
        if (ms + 0.9999) as i64 == ms as i64 {
            format!("{}ms", ms as i64)
        } else if ms < 1000.0 {
            format!("{ms:.2}ms")
        } else {
            format!("{ms:.1}ms")
        }
    } else if ms < 60000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else if ms < 3_600_000.0 {
        let s = (ms / 1000.0) as u64;
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        let s = (ms / 1000.0) as u64;
        let m = s / 60;
        let h = m / 60;
        format!("{}:{:02}:{:02}", h, m % 60, s % 60)
    }
}

/// Whole microseconds of a duration, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Whole milliseconds of a duration (SIPp's clock is in ms), saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format_like_cpp() {
        assert_eq!(format_g(5.0), "5");
        assert_eq!(format_g(10.0), "10");
        assert_eq!(format_g(4.008016032), "4.00802");
        assert_eq!(format_g(0.99601593), "0.996016");
        assert_eq!(format_g(1.6592), "1.6592");
        assert_eq!(format_g(224.001), "224.001");
        assert_eq!(format_g(1012.0), "1012");
        assert_eq!(format_g(123456.7), "123457");
        assert_eq!(format_g(1234567.0), "1.23457e+06");
        assert_eq!(format_g(0.0001), "0.0001");
        assert_eq!(format_g(0.00001), "1e-05");
        assert_eq!(format_g(0.0), "0");
        assert_eq!(format_g(7.5), "7.5");
    }

    #[test]
    fn hhmmss() {
        assert_eq!(ms_to_hhmmss(0), "00:00:00");
        assert_eq!(ms_to_hhmmss(2219), "00:00:02");
        assert_eq!(ms_to_hhmmss(3_726_000), "01:02:06");
        assert_eq!(ms_to_hhmmssus(9), "00:00:00:009000");
        assert_eq!(ms_to_hhmmssus(4213), "00:00:04:213000");
        assert_eq!(ms_to_hhmmssus(2219), "00:00:02:219000");
    }

    #[test]
    fn pause_descriptions() {
        assert_eq!(time_string(0.0), "0ms");
        assert_eq!(time_string(200.0), "200ms");
        assert_eq!(time_string(4000.0), "4000ms");
        assert_eq!(time_string(1.5), "1.50ms");
        assert_eq!(time_string(1500.5), "1500.5ms");
        assert_eq!(time_string(12500.0), "12.5s");
        assert_eq!(time_string(125_000.0), "2:05");
        assert_eq!(time_string(3_723_000.0), "1:02:03");
    }

    /// What `date` (libc's `localtime`, as SIPp uses) prints for second
    /// `secs`, with `TZ` set to `tz` (`None`: inherited).
    fn date(secs: i64, tz: Option<&str>) -> String {
        let mut c = std::process::Command::new("date");
        c.arg("-d")
            .arg(format!("@{secs}"))
            .arg("+%Y-%m-%d %H:%M:%S");
        if let Some(tz) = tz {
            c.env("TZ", tz);
        }
        let o = c.output().expect("runs date (coreutils)");
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap().trim_end().to_string()
    }

    /// Instants around daylight-saving changes (Europe, the US, the
    /// southern hemisphere), the epoch and now.
    fn instants() -> Vec<i64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut v = vec![0, 1_774_746_000, 1_793_512_800, 1_775_404_800, now];
        v.extend([1_774_745_999, 1_793_512_799, 1_775_404_799]);
        v
    }

    #[test]
    fn local_time_is_the_systems_as_libc_gives_it() {
        for secs in instants() {
            let t = UNIX_EPOCH + Duration::new(secs as u64, 250_000_000);
            assert_eq!(
                format_time_short(t),
                format!("{}.250000", date(secs, None)),
                "{secs}"
            );
        }
    }

    #[test]
    fn local_time_follows_the_zone_as_libc_does() {
        for zone in [
            "America/New_York",
            "Europe/Paris",
            "Australia/Sydney",
            "UTC",
        ] {
            let tz = TimeZone::get(zone).unwrap();
            for secs in instants() {
                let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
                assert_eq!(
                    format_time_short_in(t, &tz),
                    format!("{}.000000", date(secs, Some(zone))),
                    "{zone} {secs}"
                );
            }
        }
    }

    #[test]
    fn time_shape() {
        let t = UNIX_EPOCH + Duration::new(1_795_346_716, 143_164_000);
        let s = format_time(t);
        let parts: Vec<&str> = s.split('\t').collect();
        assert_eq!(parts.len(), 3, "{s}");
        assert_eq!(parts[2], "1795346716.143164");
        assert_eq!(parts[0].len(), 10);
        assert!(parts[1].ends_with(".143164"), "{s}");
        let short = format_time_short(t);
        assert_eq!(short.len(), 26, "{short}");
        assert_eq!(
            short.replace(' ', "\t"),
            format!("{}\t{}", parts[0], parts[1])
        );
    }
}
