//! Time windows on rules: days of the week and a time of day, in UTC.
//!
//! Text form (the `window` column of `rules.csv`): `DAYS HH:MM-HH:MM`, where
//! `DAYS` is `*` or a comma list of day names and ranges (`mon-fri`,
//! `sat,sun`). A window contains a minute when the minute's day is listed and
//! its time is in `[start, end)`; when `start > end` the window wraps midnight
//! on the same listed day (`* 22:00-06:00` is every night). `24:00` is
//! allowed as an end. An empty field means "always".

use std::fmt;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A minute of the (UTC) week: the time argument of a lookup. Computed
/// once per call by the caller, so lookups never read the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekMinute {
    /// 0 = Monday … 6 = Sunday.
    pub day: u8,
    /// 0..1440.
    pub minute: u16,
}

impl WeekMinute {
    /// The week minute of a Unix time (seconds). 1970-01-01 was a Thursday.
    pub fn from_unix(secs: u64) -> WeekMinute {
        let days = secs / 86_400;
        WeekMinute {
            day: ((days + 3) % 7) as u8,
            minute: ((secs % 86_400) / 60) as u16,
        }
    }

    /// Now, from the system clock.
    pub fn now() -> WeekMinute {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        WeekMinute::from_unix(secs)
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

    /// Parses the text form; `Err` carries the reason.
    pub fn parse(s: &str) -> Result<Window, &'static str> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Window::ALWAYS);
        }
        let (days, times) = s.split_once(' ').ok_or("expected `DAYS HH:MM-HH:MM`")?;
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
        let (a, b) = times
            .trim()
            .split_once('-')
            .ok_or("expected `HH:MM-HH:MM`")?;
        let start = parse_time(a.trim()).ok_or("bad start time (HH:MM)")?;
        let end = parse_time(b.trim()).ok_or("bad end time (HH:MM)")?;
        if start >= 1440 || end > 1440 || start == end {
            return Err("times must be 00:00..24:00 and differ");
        }
        Ok(Window {
            days: mask,
            start,
            end,
        })
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
}
