//! Time windows on rules: days of the week and a time of day, in UTC or
//! in the wall-clock time of an IANA time zone; and [`At`], the instant a
//! lookup is made at.
//!
//! Text form (the `window` column of `rules.csv`): `DAYS HH:MM-HH:MM [ZONE]`,
//! where `DAYS` is `*` or a comma list of day names and ranges (`mon-fri`,
//! `sat,sun`). A window contains a minute when the minute's day is listed and
//! its time is in `[start, end)`; when `start > end` the window wraps midnight
//! on the same listed day (`* 22:00-06:00` is every night). `24:00` is
//! allowed as an end. An empty field means "always".
//!
//! `ZONE` is an IANA time zone name (`Europe/London`, `America/New_York`) or
//! `UTC`, and without it the window is in UTC, so decks written before zones
//! existed keep their meaning. In a zone, days and times are read on that
//! zone's wall clock, daylight saving included: `mon-fri 09:00-17:00
//! Europe/London` opens at 08:00 UTC in summer and 09:00 UTC in winter. On
//! the day a clock goes forward, the skipped local minutes never occur (a
//! window inside them does not open that day); on the day it goes back, the
//! repeated local minutes are open both times.
//!
//! Zone names are resolved when the snapshot is built (`zone.rs`), never
//! per lookup: a [`Window`] itself holds only days and minutes, and the
//! rule that carries it holds the index of its zone.

use std::fmt;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A minute of the week on some clock: UTC for a UTC window, the zone's
/// wall clock for a zoned one. [`Window::contains`] tests one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekMinute {
    /// 0 = Monday … 6 = Sunday.
    pub day: u8,
    /// 0..1440.
    pub minute: u16,
}

/// Minutes in a week.
pub(crate) const WEEK_MINUTES: u32 = 7 * 1440;

impl WeekMinute {
    /// The UTC week minute of a Unix time (seconds). 1970-01-01 was a Thursday.
    pub fn from_unix(secs: u64) -> WeekMinute {
        At::from_unix(i64::try_from(secs).unwrap_or(i64::MAX)).week_minute(0)
    }

    /// Now, in UTC, from the system clock.
    pub fn now() -> WeekMinute {
        At::now().week_minute(0)
    }

    /// Parses `DAY HH:MM` (e.g. `mon 09:30`).
    pub fn parse(s: &str) -> Option<WeekMinute> {
        let (day, time) = s.trim().split_once(' ')?;
        let day = DAYS
            .iter()
            .position(|d| d.eq_ignore_ascii_case(day.trim()))? as u8;
        let minute = parse_time(time.trim())?;
        (minute < 1440).then_some(WeekMinute { day, minute })
    }

    /// Minutes since Monday 00:00 (0..[`WEEK_MINUTES`]).
    pub(crate) fn index(self) -> u32 {
        u32::from(self.day) * 1440 + u32::from(self.minute)
    }

    /// The inverse of [`WeekMinute::index`] (taken modulo a week).
    pub(crate) fn from_index(i: u32) -> WeekMinute {
        let i = i % WEEK_MINUTES;
        WeekMinute {
            day: (i / 1440) as u8,
            minute: (i % 1440) as u16,
        }
    }
}

impl fmt::Display for WeekMinute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:02}:{:02}",
            DAYS[usize::from(self.day % 7)],
            self.minute / 60,
            self.minute % 60
        )
    }
}

/// An instant, in whole seconds since the Unix epoch: the time argument of
/// a lookup. A lookup needs the instant, not a UTC week minute, because a
/// zoned window's local minute depends on the zone's offset at that
/// instant. Read once per call by the caller ([`At::now`]), so lookups never
/// read the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At {
    /// Seconds since 1970-01-01T00:00:00Z (negative before).
    pub unix: i64,
}

/// 1970-01-05T00:00:00Z, the first Monday after the epoch: week minutes
/// count from a Monday midnight.
const FIRST_MONDAY: i64 = 4 * 86_400;
const WEEK_SECS: i64 = 7 * 86_400;

impl At {
    /// The instant `secs` seconds after the Unix epoch.
    pub const fn from_unix(secs: i64) -> At {
        At { unix: secs }
    }

    /// Now, from the system clock (a clock set before 1970 gives a
    /// negative time, not an error).
    pub fn now() -> At {
        let now = std::time::SystemTime::now();
        let unix = match now.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
        };
        At { unix }
    }

    /// The minute of the week on a clock `offset` seconds east of UTC
    /// (0: UTC). A few integer operations: no table, no allocation.
    #[inline]
    pub fn week_minute(self, offset: i32) -> WeekMinute {
        let local = self.unix.saturating_add(i64::from(offset));
        let into_week = secs_into_week(local);
        WeekMinute {
            day: (into_week / 86_400) as u8,
            minute: (into_week % 86_400 / 60) as u16,
        }
    }

    /// The most recent instant at or before `now` whose UTC week minute is
    /// `minute` (the first second of that minute): what `snap lookup --at
    /// "mon 10:00"` means.
    pub fn latest(minute: WeekMinute, now: At) -> At {
        let into = i64::from(minute.index() % WEEK_MINUTES) * 60;
        // Seconds back from `now` to that minute of its week (negative:
        // the minute is later this week, so a week earlier).
        let mut back = secs_into_week(now.unix) - into;
        if back < 0 {
            back += WEEK_SECS;
        }
        At::from_unix(now.unix.saturating_sub(back))
    }

    /// Parses an RFC 3339 timestamp with its offset
    /// (`2026-07-01T09:30:00Z`, `2026-07-01T10:30:00+01:00`) with jiff,
    /// which also takes the ISO 8601 forms RFC 3339 leaves out (seconds
    /// omitted, a `[zone]` suffix). Fractions of a second are dropped.
    pub fn parse_rfc3339(s: &str) -> Result<At, String> {
        s.trim()
            .parse::<jiff::Timestamp>()
            .map(|t| At::from_unix(t.as_second()))
            .map_err(|e| e.to_string())
    }
}

/// Seconds since the last Monday 00:00 before `unix`; no overflow at the
/// ends of `i64`.
fn secs_into_week(unix: i64) -> i64 {
    (unix.rem_euclid(WEEK_SECS) + WEEK_SECS - FIRST_MONDAY) % WEEK_SECS
}

impl fmt::Display for At {
    /// RFC 3339 in UTC (`2026-07-06T08:30:00Z`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_second(self.unix) {
            Ok(t) => write!(f, "{t}"),
            // Outside jiff's years -9999..=9999.
            Err(_) => write!(f, "@{}", self.unix),
        }
    }
}

/// A parsed window. `days == 0` means "no window" (always open); otherwise
/// bit `d` is day `d` (0 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Window {
    /// Day bits; 0 = always.
    pub days: u8,
    /// Start minute of the day, 0..=1440.
    pub start: u16,
    /// End minute of the day (exclusive), 0..=1440.
    pub end: u16,
}

impl Window {
    /// Always open.
    pub const ALWAYS: Window = Window {
        days: 0,
        start: 0,
        end: 0,
    };

    /// Parses the text form of a UTC window; `Err` carries the reason. A
    /// trailing `UTC` is accepted; any other zone is refused (see
    /// [`Window::parse_zoned`]).
    pub fn parse(s: &str) -> Result<Window, &'static str> {
        match Window::parse_zoned(s)? {
            (w, None) => Ok(w),
            (_, Some(_)) => Err("a time zone other than UTC is not allowed here"),
        }
    }

    /// Parses `DAYS HH:MM-HH:MM [ZONE]`: the window, and the zone name as
    /// written (`None` for UTC, written or not). Whether the zone exists is
    /// the builder's business: it needs the time zone database.
    pub fn parse_zoned(s: &str) -> Result<(Window, Option<&str>), &'static str> {
        let s = s.trim();
        if s.is_empty() {
            return Ok((Window::ALWAYS, None));
        }
        let (days, rest) = s
            .split_once(' ')
            .ok_or("expected `DAYS HH:MM-HH:MM [ZONE]`")?;
        // Times are digits, `:` and `-` (spaces around the `-` allowed):
        // a last word with a letter in it is the zone.
        let rest = rest.trim();
        let (times, zone) = match rest.rsplit_once(char::is_whitespace) {
            Some((times, zone)) if zone.bytes().any(|b| b.is_ascii_alphabetic()) => {
                (times.trim(), Some(zone))
            }
            _ => (rest, None),
        };
        if times.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err("expected `DAYS HH:MM-HH:MM [ZONE]` (one zone name, last)");
        }
        let zone = zone.filter(|z| !z.eq_ignore_ascii_case("UTC"));
        let mut mask = 0u8;
        for part in days.split(',') {
            let part = part.trim();
            if part == "*" {
                mask = 0x7f;
                continue;
            }
            let day = |d: &str| {
                DAYS.iter()
                    .position(|n| n.eq_ignore_ascii_case(d.trim()))
                    .ok_or("unknown day (mon, tue, wed, thu, fri, sat, sun or *)")
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    if a > b {
                        return Err("day range runs backwards");
                    }
                    for d in a..=b {
                        mask |= 1 << d;
                    }
                }
                None => mask |= 1 << day(part)?,
            }
        }
        let (a, b) = times.split_once('-').ok_or("expected `HH:MM-HH:MM`")?;
        let start = parse_time(a.trim()).ok_or("bad start time (HH:MM)")?;
        let end = parse_time(b.trim()).ok_or("bad end time (HH:MM)")?;
        if start >= 1440 || end > 1440 || start == end {
            return Err("times must be 00:00..24:00 and differ");
        }
        let window = Window {
            days: mask,
            start,
            end,
        };
        Ok((window, zone))
    }

    /// Whether the window is open at `at`.
    #[inline]
    pub fn contains(&self, at: WeekMinute) -> bool {
        if self.days == 0 {
            return true;
        }
        if self.days & (1 << at.day) == 0 {
            return false;
        }
        let m = at.minute;
        if self.start < self.end {
            self.start <= m && m < self.end
        } else {
            m >= self.start || m < self.end
        }
    }

    /// Whether some minute of the week is in both windows. Every listed
    /// day has the same minute ranges, so two windows overlap when they
    /// share a day and their daily ranges intersect.
    pub fn overlaps(&self, other: &Window) -> bool {
        let days = |w: &Window| if w.days == 0 { 0x7f } else { w.days };
        if days(self) & days(other) == 0 {
            return false;
        }
        self.daily().into_iter().flatten().any(|(a0, a1)| {
            other
                .daily()
                .into_iter()
                .flatten()
                .any(|(b0, b1)| a0 < b1 && b0 < a1)
        })
    }

    /// The minute ranges `[start, end)` the window covers on a listed day.
    fn daily(&self) -> [Option<(u16, u16)>; 2] {
        if self.days == 0 {
            [Some((0, 1440)), None]
        } else if self.start < self.end {
            [Some((self.start, self.end)), None]
        } else {
            [
                Some((self.start, 1440)),
                (self.end > 0).then_some((0, self.end)),
            ]
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days == 0 {
            return Ok(());
        }
        if self.days == 0x7f {
            f.write_str("*")?;
        } else {
            let mut first = true;
            for (d, name) in DAYS.iter().enumerate() {
                if self.days & (1 << d) != 0 {
                    if !first {
                        f.write_str(",")?;
                    }
                    f.write_str(name)?;
                    first = false;
                }
            }
        }
        write!(
            f,
            " {:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

fn parse_time(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contains() {
        let w = Window::parse("mon-fri 08:00-18:00").unwrap();
        assert_eq!(w.days, 0x1f);
        assert!(w.contains(WeekMinute::parse("tue 08:00").unwrap()));
        assert!(!w.contains(WeekMinute::parse("tue 18:00").unwrap()));
        assert!(!w.contains(WeekMinute::parse("sat 12:00").unwrap()));
        let night = Window::parse("* 22:00-06:00").unwrap();
        assert!(night.contains(WeekMinute::parse("sun 23:59").unwrap()));
        assert!(night.contains(WeekMinute::parse("mon 05:00").unwrap()));
        assert!(!night.contains(WeekMinute::parse("mon 12:00").unwrap()));
        assert!(!w.overlaps(&night));
        assert!(w.overlaps(&Window::parse("fri 17:00-09:00").unwrap()));
        // Against the minute-by-minute definition.
        let all = [
            "",
            "mon 08:00-18:00",
            "* 22:00-06:00",
            "sat,sun 00:00-24:00",
            "tue 18:00-08:00",
            "mon 17:59-18:00",
            "mon 18:00-19:00",
            "wed 23:00-00:00",
        ];
        for a in all {
            for b in all {
                let (a, b) = (Window::parse(a).unwrap(), Window::parse(b).unwrap());
                let slow = (0..7u8).any(|day| {
                    (0..1440u16).any(|minute| {
                        let at = WeekMinute { day, minute };
                        a.contains(at) && b.contains(at)
                    })
                });
                assert_eq!(a.overlaps(&b), slow, "{a} / {b}");
            }
        }
        let weekend = Window::parse("sat,sun 00:00-24:00").unwrap();
        assert!(!w.overlaps(&weekend));
        assert_eq!(weekend.to_string(), "sat,sun 00:00-24:00");
        assert_eq!(Window::parse("").unwrap(), Window::ALWAYS);
        assert!(Window::parse("xyz 01:00-02:00").is_err());
        assert!(Window::parse("mon 01:00-01:00").is_err());
        assert!(Window::parse("mon 25:00-26:00").is_err());
        // 2026-11-23 is a Monday.
        assert_eq!(WeekMinute::from_unix(1_795_392_000).day, 0);
    }

    #[test]
    fn zones_in_the_text_form() {
        let p = |s| Window::parse_zoned(s);
        let w = Window::parse("mon-fri 09:00-17:00").unwrap();
        assert_eq!(
            p("mon-fri 09:00-17:00 Europe/London"),
            Ok((w, Some("Europe/London")))
        );
        assert_eq!(
            p("mon-fri 09:00 - 17:00  Europe/London "),
            Ok((w, Some("Europe/London")))
        );
        assert_eq!(p("mon-fri 09:00-17:00 UTC"), Ok((w, None)));
        assert_eq!(p("mon-fri 09:00-17:00 utc"), Ok((w, None)));
        assert_eq!(p("mon-fri 09:00 - 17:00"), Ok((w, None)));
        assert_eq!(
            p("* 09:00-17:00 Etc/GMT+5").map(|x| x.1),
            Ok(Some("Etc/GMT+5"))
        );
        assert_eq!(p(""), Ok((Window::ALWAYS, None)));
        assert!(p("Europe/London").is_err());
        assert!(p("mon 09:00-17:00 Europe/London UTC").is_err());
        assert!(p("mon 09:00-17:00Europe/London").is_err());
        assert_eq!(Window::parse("mon-fri 09:00-17:00 UTC"), Ok(w));
        assert!(Window::parse("mon-fri 09:00-17:00 Europe/London").is_err());
    }

    #[test]
    fn instants_and_their_week_minutes() {
        // 1970-01-05T00:00Z was a Monday; 1970-01-01 a Thursday.
        assert_eq!(
            At::from_unix(4 * 86_400).week_minute(0),
            WeekMinute { day: 0, minute: 0 }
        );
        assert_eq!(
            At::from_unix(0).week_minute(0),
            WeekMinute { day: 3, minute: 0 }
        );
        // Before the epoch: 1969-12-31T23:59Z, a Wednesday.
        assert_eq!(
            At::from_unix(-60).week_minute(0),
            WeekMinute {
                day: 2,
                minute: 1439
            }
        );
        // Offsets move the clock, across midnight and the week's end.
        let sun_2330 = At::from_unix(1_795_392_000 - 1800); // 2026-11-22T23:30Z
        assert_eq!(sun_2330.week_minute(0).to_string(), "sun 23:30");
        assert_eq!(sun_2330.week_minute(3600).to_string(), "mon 00:30");
        assert_eq!(sun_2330.week_minute(-5 * 3600).to_string(), "sun 18:30");
        assert_eq!(sun_2330.week_minute(19_800).to_string(), "mon 05:00"); // +05:30
        // No overflow at the ends of time.
        let _ = At::from_unix(i64::MAX).week_minute(93_599);
        let _ = At::from_unix(i64::MIN).week_minute(-93_599);
        assert_eq!(
            WeekMinute::from_unix(u64::MAX),
            At::from_unix(i64::MAX).week_minute(0)
        );
    }

    #[test]
    fn latest_minute_at_or_before_now() {
        let now = At::from_unix(1_795_392_000 + 86_400 + 10 * 3600 + 30); // tue 10:00:30Z
        let at = |s| At::latest(WeekMinute::parse(s).unwrap(), now);
        assert_eq!(at("tue 10:00").to_string(), "2026-11-24T10:00:00Z");
        assert_eq!(at("tue 09:59").to_string(), "2026-11-24T09:59:00Z");
        assert_eq!(at("mon 00:00").to_string(), "2026-11-23T00:00:00Z");
        assert_eq!(at("tue 10:01").to_string(), "2026-11-17T10:01:00Z");
        assert_eq!(at("sun 23:59").to_string(), "2026-11-22T23:59:00Z");
        assert_eq!(at("wed 00:00").to_string(), "2026-11-18T00:00:00Z");
    }

    #[test]
    fn rfc3339() {
        let a = At::parse_rfc3339("2026-07-01T09:30:00Z").unwrap();
        assert_eq!(a, At::parse_rfc3339("2026-07-01T10:30:00+01:00").unwrap());
        assert_eq!(a, At::parse_rfc3339(" 2026-07-01T05:30:00-04:00 ").unwrap());
        assert_eq!(a.unix, 1_782_898_200);
        assert_eq!(a.to_string(), "2026-07-01T09:30:00Z");
        // An offset is required: a civil time names no instant.
        assert!(At::parse_rfc3339("2026-07-01T09:30:00").is_err());
        assert!(At::parse_rfc3339("mon 09:30").is_err());
    }
}
