//! Figures, durations and times as people read them.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// `1234567` → `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds as `45s`, `1m 13s`, `2h 05m`; rounded to the nearest second.
pub fn duration(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds.round() as i64
    } else {
        0
    };
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Rounds to one decimal, halves away from zero (`{:.1}` alone rounds 81.25 down).
fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A percentage with one decimal: `81.3%`.
pub fn percent(p: f64) -> String {
    format!("{:.1}%", one_decimal(p))
}

/// A signed change: `+12.5%`, `−3.0%`; `new` when there is nothing to compare with.
pub fn change_percent(c: Option<f64>) -> String {
    match c {
        None => "new".into(),
        Some(v) if v.abs() < 0.05 => "±0%".into(),
        Some(v) if v > 0.0 => format!("+{:.1}%", one_decimal(v)),
        Some(v) => format!("−{:.1}%", one_decimal(v.abs())),
    }
}

/// A change in percentage points: `+2.1 pts`.
pub fn change_points(v: f64) -> String {
    if v.abs() < 0.05 {
        "±0 pts".into()
    } else if v > 0.0 {
        format!("+{:.1} pts", one_decimal(v))
    } else {
        format!("−{:.1} pts", one_decimal(v.abs()))
    }
}

/// Whether a change is up, down or flat, for colouring.
pub fn trend(c: Option<f64>) -> &'static str {
    match c {
        Some(v) if v >= 0.05 => "up",
        Some(v) if v <= -0.05 => "down",
        _ => "flat",
    }
}

/// A stored instant (whole seconds) in `tz`: `16 Jan 2026, 09:05`, or
/// `16 Jan, 09:05` in the current year.
pub fn when(seconds: i64, tz: &TimeZone) -> String {
    when_as_of(seconds, tz, Timestamp::now())
}

fn when_as_of(seconds: i64, tz: &TimeZone, now: Timestamp) -> String {
    match Timestamp::from_second(seconds) {
        Ok(t) => {
            let z = t.to_zoned_datetime(tz.clone());
            let this_year = now.to_zoned_datetime(tz.clone()).year() == z.year();
            z.strftime(if this_year {
                "%-d %b, %H:%M"
            } else {
                "%-d %b %Y, %H:%M"
            })
            .to_string()
        }
        Err(_) => "—".into(),
    }
}

/// A date: `16 Jan 2026`.
pub fn date(d: Date) -> String {
    d.strftime("%-d %b %Y").to_string()
}

/// A range of days, both ends included: `16 Jan 2026`, `10 – 16 Jan 2026`,
/// `28 Dec 2025 – 3 Jan 2026`.
pub fn date_range(from: Date, last: Date) -> String {
    if from == last {
        date(from)
    } else if from.year() == last.year() && from.month() == last.month() {
        format!("{} – {}", from.day(), date(last))
    } else if from.year() == last.year() {
        format!("{} – {}", from.strftime("%-d %b"), date(last))
    } else {
        format!("{} – {}", date(from), date(last))
    }
}

/// A phone number for people, or the text as given when it is not one.
pub fn phone(number: &str) -> String {
    crate::domain::phone::human(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_durations_and_changes() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1234), "-1,234");
        assert_eq!(duration(0.0), "0s");
        assert_eq!(duration(45.4), "45s");
        assert_eq!(duration(73.0), "1m 13s");
        assert_eq!(duration(73.5), "1m 14s");
        assert_eq!(duration(3725.0), "1h 02m");
        assert_eq!(percent(81.25), "81.3%");
        assert_eq!(change_percent(None), "new");
        assert_eq!(change_percent(Some(12.5)), "+12.5%");
        assert_eq!(change_percent(Some(-3.0)), "−3.0%");
        assert_eq!(change_points(0.0), "±0 pts");
    }

    #[test]
    fn times_are_shown_in_the_timezone() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        let t: Timestamp = "2026-01-16T03:35:12Z".parse().unwrap();
        let later: Timestamp = "2027-03-01T00:00:00Z".parse().unwrap();
        assert_eq!(when_as_of(t.as_second(), &tz, later), "16 Jan 2026, 09:05");
        assert_eq!(when_as_of(t.as_second(), &tz, t), "16 Jan, 09:05");
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(
            date_range(d("2026-01-10"), d("2026-01-16")),
            "10 – 16 Jan 2026"
        );
        assert_eq!(
            date_range(d("2025-12-28"), d("2026-01-03")),
            "28 Dec 2025 – 3 Jan 2026"
        );
        assert_eq!(date_range(d("2026-01-16"), d("2026-01-16")), "16 Jan 2026");
        assert_eq!(phone("+919876543210"), "+91 98765 43210");
    }
}
