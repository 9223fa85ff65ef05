//! Periods of time in a business's timezone.
//!
//! A period is the half-open range of instants `[from, to)`. It can be given
//! as RFC 3339 instants or as calendar dates, which are read as the start of
//! that day in the period's timezone (so `from=2026-01-01&to=2026-02-01` is
//! all of January there, whatever the offset or DST).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime};

use super::Invalid;

/// The longest period we answer for: about ten years.
pub const MAX_PERIOD_DAYS: i64 = 3700;

/// Looks up an IANA timezone name in the bundled database.
pub fn parse_timezone(field: &str, name: &str) -> Result<TimeZone, Invalid> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    TimeZone::get(name).map_err(|_| {
        Invalid::new(
            field,
            format!("'{name}' is not an IANA timezone such as Asia/Kolkata or UTC"),
        )
    })
}

/// A half-open range of instants `[from, to)` and the timezone it was asked in.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub from: Timestamp,
    pub to: Timestamp,
    pub tz: TimeZone,
    /// The IANA name the period was asked in (`Asia/Kolkata`).
    pub tz_name: String,
}

impl Period {
    /// Today in `tz`, as of `now`: from this midnight to the next.
    pub fn today(tz: &TimeZone, tz_name: &str, now: Timestamp) -> Period {
        let date = now.to_zoned_datetime(tz.clone()).date();
        Period {
            from: start_of_day(date, tz),
            to: start_of_day(date.tomorrow().unwrap_or(date), tz),
            tz: tz.clone(),
            tz_name: tz_name.to_string(),
        }
    }

    /// Reads `from`, `to` (RFC 3339 or `YYYY-MM-DD` in `tz`) with today as
    /// the default for whichever is missing.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        tz: &TimeZone,
        tz_name: &str,
        now: Timestamp,
    ) -> Result<Period, Invalid> {
        let today = Period::today(tz, tz_name, now);
        let from_t = match from {
            Some(s) => boundary("from", s, tz)?,
            None => today.from,
        };
        let to_t = match to {
            Some(s) => boundary("to", s, tz)?,
            None if from.is_some() => {
                // An open end runs to the end of today (or of the start's day).
                today.to.max(from_t)
            }
            None => today.to,
        };
        if to_t <= from_t {
            return Err(Invalid::new(
                "to",
                format!(
                    "the period is empty: to ({}) must be after from ({})",
                    to.unwrap_or(&to_t.to_string()),
                    from.unwrap_or(&from_t.to_string())
                ),
            ));
        }
        if to_t.as_second() - from_t.as_second() > MAX_PERIOD_DAYS * 86_400 {
            return Err(Invalid::new(
                "to",
                format!("the period is longer than {MAX_PERIOD_DAYS} days"),
            ));
        }
        Ok(Period {
            from: from_t,
            to: to_t,
            tz: tz.clone(),
            tz_name: tz_name.to_string(),
        })
    }

    /// Whether an instant (to the second) lies in the period.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }

    /// The bounds as whole seconds for a store query `from <= s < to`:
    /// stored instants are whole seconds, so a fractional bound is rounded up.
    pub fn second_bounds(&self) -> (i64, i64) {
        (ceil_second(self.from), ceil_second(self.to))
    }

    /// The period of equal length just before this one.
    pub fn previous(&self) -> Period {
        let len = self.to.duration_since(self.from);
        Period {
            from: self.from.checked_sub(len).unwrap_or(Timestamp::MIN),
            to: self.from,
            tz: self.tz.clone(),
            tz_name: self.tz_name.clone(),
        }
    }
}

fn ceil_second(t: Timestamp) -> i64 {
    let s = t.as_second();
    if t.subsec_nanosecond() > 0 { s + 1 } else { s }
}

/// The first instant of `date` in `tz` (DST-safe: a day that starts in a gap
/// starts at the first instant that exists).
pub fn start_of_day(date: Date, tz: &TimeZone) -> Timestamp {
    date.to_zoned_datetime(tz.clone())
        .and_then(|z: ZonedDateTime| z.start_of_day())
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| {
            date.to_zoned_datetime(TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::UNIX_EPOCH)
        })
}

fn boundary(field: &str, s: &str, tz: &TimeZone) -> Result<Timestamp, Invalid> {
    let s = s.trim();
    if s.len() == 10
        && let Ok(date) = s.parse::<Date>()
    {
        return Ok(start_of_day(date, tz));
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    Err(Invalid::new(
        field,
        format!(
            "'{s}' is neither an RFC 3339 instant (2026-01-16T03:35:12Z) nor a date (2026-01-16)"
        ),
    ))
}

/// Midnight starting the day after `t`'s day in `tz`, used by "to the end of today".
pub fn next_midnight(t: Timestamp, tz: &TimeZone) -> Timestamp {
    let date = t.to_zoned_datetime(tz.clone()).date();
    start_of_day(date.checked_add(1.day()).unwrap_or(date), tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(n: &str) -> TimeZone {
        parse_timezone("tz", n).unwrap()
    }

    #[test]
    fn dates_are_midnights_in_the_timezone() {
        let now: Timestamp = "2026-01-16T12:00:00Z".parse().unwrap();
        let p = Period::parse(
            Some("2026-01-16"),
            Some("2026-01-17"),
            &tz("Asia/Kolkata"),
            "Asia/Kolkata",
            now,
        )
        .unwrap();
        assert_eq!(p.from.to_string(), "2026-01-15T18:30:00Z");
        assert_eq!(p.to.to_string(), "2026-01-16T18:30:00Z");
        let p = Period::parse(
            Some("2026-01-16"),
            Some("2026-01-17"),
            &tz("Asia/Kathmandu"),
            "Asia/Kathmandu",
            now,
        )
        .unwrap();
        assert_eq!(p.from.to_string(), "2026-01-15T18:15:00Z");
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let now = Timestamp::UNIX_EPOCH;
        let ny = tz("America/New_York");
        let spring = Period::parse(
            Some("2026-03-08"),
            Some("2026-03-09"),
            &ny,
            "America/New_York",
            now,
        )
        .unwrap();
        assert_eq!(spring.to.as_second() - spring.from.as_second(), 23 * 3600);
        let fall = Period::parse(
            Some("2026-11-01"),
            Some("2026-11-02"),
            &ny,
            "America/New_York",
            now,
        )
        .unwrap();
        assert_eq!(fall.to.as_second() - fall.from.as_second(), 25 * 3600);
    }

    #[test]
    fn today_is_the_default_and_empty_periods_are_refused() {
        let now: Timestamp = "2026-01-16T20:00:00Z".parse().unwrap();
        let p = Period::parse(None, None, &tz("Asia/Kolkata"), "Asia/Kolkata", now).unwrap();
        assert_eq!(p.from.to_string(), "2026-01-16T18:30:00Z");
        let e = Period::parse(
            Some("2026-01-16"),
            Some("2026-01-16"),
            &TimeZone::UTC,
            "UTC",
            now,
        )
        .unwrap_err();
        assert_eq!(e.field, "to");
        let e = Period::parse(Some("yesterday"), None, &TimeZone::UTC, "UTC", now).unwrap_err();
        assert_eq!(e.field, "from");
        assert!(e.message.contains("yesterday"));
        assert!(
            parse_timezone("tz", "Mars/Base")
                .unwrap_err()
                .message
                .contains("Mars/Base")
        );
    }

    #[test]
    fn fractional_bounds_round_up() {
        let now = Timestamp::UNIX_EPOCH;
        let p = Period::parse(
            Some("2026-01-16T00:00:00.5Z"),
            Some("2026-01-16T00:00:10Z"),
            &TimeZone::UTC,
            "UTC",
            now,
        )
        .unwrap();
        let (a, b) = p.second_bounds();
        assert_eq!(b - a, 9);
    }
}
