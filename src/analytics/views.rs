//! Timeseries, breakdowns and comparisons: the dashboard's figures cut by
//! time bucket, by a value, or by line. Built from per-slot and per-value
//! counts the store takes, with the same metric definitions as the dashboard.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use super::{PeriodView, mean, percent};
use crate::domain::period::start_of_day;
use crate::domain::{Invalid, Period};
use crate::store::{
    CallColumn, CallCounts, LineScope, PhoneNumberRow, SLOT_SECONDS, Store, StoreError,
};

/// The most buckets one timeseries answers with.
pub const MAX_BUCKETS: usize = 10_000;
/// Fewer calls than this and a rate says little: rows carry `lowSample`.
pub const LOW_SAMPLE: i64 = 30;

/// The figures of a set of calls, as every view reports them.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub calls: i64,
    pub answered: i64,
    pub missed: i64,
    pub avg_call_duration: f64,
    pub success_rate: f64,
    pub total_talk_seconds: i64,
}

impl From<CallCounts> for Figures {
    fn from(c: CallCounts) -> Self {
        Figures {
            calls: c.calls,
            answered: c.answered,
            missed: c.missed,
            avg_call_duration: mean(c.talk_seconds, c.answered),
            success_rate: percent(c.answered, c.calls),
            total_talk_seconds: c.talk_seconds,
        }
    }
}

fn add(a: &mut CallCounts, b: &CallCounts) {
    a.calls += b.calls;
    a.answered += b.answered;
    a.missed += b.missed;
    a.abandoned += b.abandoned;
    a.failed += b.failed;
    a.talk_seconds += b.talk_seconds;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    Week,
}

impl Interval {
    pub fn parse(s: &str) -> Result<Interval, Invalid> {
        match s {
            "hour" => Ok(Interval::Hour),
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            _ => Err(Invalid::new(
                "interval",
                format!("'{s}' is not one of hour, day, week"),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
        }
    }

    fn nominal_seconds(self) -> i64 {
        match self {
            Interval::Hour => 3600,
            Interval::Day => 86_400,
            Interval::Week => 7 * 86_400,
        }
    }
}

/// The bucket starts covering a period, aligned to the period's timezone:
/// local hours, local midnights (DST days have 23 or 25 hours), Mondays.
pub fn bucket_starts(period: &Period, interval: Interval) -> Result<Vec<Timestamp>, Invalid> {
    let span = period.to.as_second() - period.from.as_second();
    if span / interval.nominal_seconds() > MAX_BUCKETS as i64 + 1 {
        return Err(too_many(span / interval.nominal_seconds(), interval));
    }
    let tz = &period.tz;
    let local = period.from.to_zoned_datetime(tz.clone());
    let date = local.date();
    let first = match interval {
        Interval::Hour => {
            let h = date
                .at(local.hour(), 0, 0, 0)
                .to_zoned_datetime(tz.clone())
                .map(|z| z.timestamp())
                .unwrap_or(period.from);
            h.min(period.from)
        }
        Interval::Day => start_of_day(date, tz),
        Interval::Week => {
            let back = i64::from(date.weekday().to_monday_zero_offset());
            start_of_day(date.checked_sub(back.days()).unwrap_or(date), tz)
        }
    };
    let mut starts = vec![first];
    let mut day: Date = first.to_zoned_datetime(tz.clone()).date();
    loop {
        let last = *starts.last().expect("one start");
        let next = match interval {
            Interval::Hour => {
                Timestamp::from_second(last.as_second() + 3600).unwrap_or(Timestamp::MAX)
            }
            Interval::Day | Interval::Week => {
                let step = if interval == Interval::Day { 1 } else { 7 };
                day = day.checked_add(step.days()).unwrap_or(day);
                start_of_day(day, tz)
            }
        };
        if next >= period.to || next <= last {
            break;
        }
        starts.push(next);
        if starts.len() > MAX_BUCKETS {
            return Err(too_many(starts.len() as i64, interval));
        }
    }
    Ok(starts)
}

fn too_many(n: i64, interval: Interval) -> Invalid {
    Invalid::new(
        "interval",
        format!(
            "the period has about {n} {} buckets; at most {MAX_BUCKETS}: choose a longer interval or a shorter period",
            interval.as_str()
        ),
    )
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub start: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Timeseries {
    pub interval: &'static str,
    pub period: PeriodView,
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Calls over time in `interval` buckets, empty buckets included.
pub async fn timeseries(
    store: &dyn Store,
    scope: &LineScope,
    period: &Period,
    interval: Interval,
) -> Result<Timeseries, ViewError> {
    let starts = bucket_starts(period, interval)?;
    let (from, to) = period.second_bounds();
    let base = starts[0].as_second();
    let slots = store.slot_counts(scope, from, to, base).await?;
    let mut counts = vec![CallCounts::default(); starts.len()];
    for s in slots {
        let t = Timestamp::from_second(base + s.slot * SLOT_SECONDS).unwrap_or(Timestamp::MAX);
        let i = starts.partition_point(|b| *b <= t).saturating_sub(1);
        add(&mut counts[i], &s.counts);
    }
    Ok(Timeseries {
        interval: interval.as_str(),
        period: period.into(),
        buckets: starts
            .iter()
            .zip(counts)
            .map(|(s, c)| Bucket {
                start: s.to_string(),
                figures: c.into(),
            })
            .collect(),
    })
}

/// What a breakdown groups by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum By {
    Flow,
    Status,
    Direction,
    PhoneNumber,
    HourOfDay,
    DayOfWeek,
    Metadata(String),
}

impl By {
    pub fn parse(s: &str) -> Result<By, Invalid> {
        Ok(match s {
            "flow" => By::Flow,
            "status" => By::Status,
            "direction" => By::Direction,
            "phoneNumber" => By::PhoneNumber,
            "hourOfDay" => By::HourOfDay,
            "dayOfWeek" => By::DayOfWeek,
            _ => match s.strip_prefix("metadata.") {
                Some(k) if !k.is_empty() => By::Metadata(k.to_string()),
                _ => {
                    return Err(Invalid::new(
                        "by",
                        format!(
                            "'{s}' is not one of flow, status, direction, phoneNumber, hourOfDay, dayOfWeek, metadata.KEY"
                        ),
                    ));
                }
            },
        })
    }

    fn name(&self) -> String {
        match self {
            By::Flow => "flow".into(),
            By::Status => "status".into(),
            By::Direction => "direction".into(),
            By::PhoneNumber => "phoneNumber".into(),
            By::HourOfDay => "hourOfDay".into(),
            By::DayOfWeek => "dayOfWeek".into(),
            By::Metadata(k) => format!("metadata.{k}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakdownRow {
    /// The value grouped on; `null` for calls without one (no flow, no metadata).
    pub value: Option<String>,
    pub label: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Breakdown {
    pub by: String,
    pub period: PeriodView,
    pub rows: Vec<BreakdownRow>,
}

/// A line's label: its name, else its number for people.
fn line_label(number: &str, lines: &HashMap<String, PhoneNumberRow>) -> String {
    lines
        .get(number)
        .and_then(|l| l.friendly_name.clone())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| crate::domain::phone::human(number))
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The period's figures per value of `by`.
pub async fn breakdown(
    store: &dyn Store,
    scope: &LineScope,
    period: &Period,
    by: By,
) -> Result<Breakdown, ViewError> {
    let (from, to) = period.second_bounds();
    let lines: HashMap<String, PhoneNumberRow> = store
        .list_phone_numbers(true)
        .await?
        .into_iter()
        .map(|l| (l.number.clone(), l))
        .collect();
    let mut rows: Vec<BreakdownRow> = match &by {
        By::HourOfDay | By::DayOfWeek => {
            let hourly = by == By::HourOfDay;
            let n = if hourly { 24 } else { 7 };
            let base = from - from.rem_euclid(SLOT_SECONDS);
            let mut counts = vec![CallCounts::default(); n];
            for s in store.slot_counts(scope, from, to, base).await? {
                let t =
                    Timestamp::from_second(base + s.slot * SLOT_SECONDS).unwrap_or(Timestamp::MAX);
                let local = t.to_zoned_datetime(period.tz.clone());
                let i = if hourly {
                    local.hour() as usize
                } else {
                    local.weekday().to_monday_zero_offset() as usize
                };
                add(&mut counts[i], &s.counts);
            }
            counts
                .into_iter()
                .enumerate()
                .map(|(i, c)| BreakdownRow {
                    value: Some(if hourly {
                        i.to_string()
                    } else {
                        (i + 1).to_string()
                    }),
                    label: if hourly {
                        format!("{i:02}:00–{:02}:00", (i + 1) % 24)
                    } else {
                        WEEKDAYS[i].to_string()
                    },
                    figures: c.into(),
                })
                .collect()
        }
        By::Metadata(key) => {
            let mut per: BTreeMap<Option<String>, CallCounts> = BTreeMap::new();
            for (number, c) in store
                .grouped_counts(scope, from, to, CallColumn::PhoneNumber)
                .await?
            {
                let value =
                    number
                        .and_then(|n| lines.get(&n))
                        .and_then(|l| match l.metadata.get(key) {
                            None | Some(serde_json::Value::Null) => None,
                            Some(serde_json::Value::String(s)) => Some(s.clone()),
                            Some(other) => Some(other.to_string()),
                        });
                add(per.entry(value).or_default(), &c);
            }
            per.into_iter()
                .map(|(value, c)| BreakdownRow {
                    label: value.clone().unwrap_or_else(|| format!("No {key}")),
                    value,
                    figures: c.into(),
                })
                .collect()
        }
        _ => {
            let column = match by {
                By::Flow => CallColumn::Flow,
                By::Status => CallColumn::Status,
                By::Direction => CallColumn::Direction,
                _ => CallColumn::PhoneNumber,
            };
            let names = if by == By::Flow {
                store.flow_names().await?
            } else {
                HashMap::new()
            };
            store
                .grouped_counts(scope, from, to, column)
                .await?
                .into_iter()
                .map(|(value, c)| {
                    let label = match (&by, &value) {
                        (By::Flow, Some(id)) => names
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| format!("Flow {id}")),
                        (By::Flow, None) => "No flow".into(),
                        (By::PhoneNumber, Some(n)) => line_label(n, &lines),
                        (_, Some(v)) => v.clone(),
                        (_, None) => "None".into(),
                    };
                    BreakdownRow {
                        value,
                        label,
                        figures: c.into(),
                    }
                })
                .collect()
        }
    };
    if !matches!(by, By::HourOfDay | By::DayOfWeek) {
        rows.sort_by(|a, b| {
            b.figures
                .calls
                .cmp(&a.figures.calls)
                .then_with(|| a.value.cmp(&b.value))
        });
    }
    Ok(Breakdown {
        by: by.name(),
        period: period.into(),
        rows,
    })
}

/// The 95 % Wilson score interval of a success rate, in percent, two
/// decimals; `None` without calls.
pub fn wilson(answered: i64, calls: i64) -> Option<[f64; 2]> {
    if calls == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n = calls as f64;
    let p = answered as f64 / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n) + z * z / (4.0 * n * n)).sqrt() / denom;
    let r = |x: f64| super::round2((x * 100.0).clamp(0.0, 100.0));
    Some([r(centre - half), r(centre + half)])
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentFigures {
    #[serde(flatten)]
    pub figures: Figures,
    pub unique_callers: i64,
    /// The success rate's 95 % Wilson interval `[low, high]`; `null` without calls.
    #[schema(value_type = Option<Vec<f64>>, min_items = 2, max_items = 2)]
    pub success_rate_interval: Option<[f64; 2]>,
    pub low_sample: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousFigures {
    #[serde(flatten)]
    pub figures: Figures,
    pub unique_callers: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Percent change in calls; `null` when the previous period had none.
    pub calls: Option<f64>,
    /// Change in success rate, in percentage points.
    pub success_rate: f64,
    /// Percent change in average talk time; `null` when the previous was 0.
    pub avg_call_duration: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompareRow {
    pub phone_number: String,
    pub label: String,
    pub current: CurrentFigures,
    pub previous: PreviousFigures,
    pub change: Change,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub period: PeriodView,
    pub previous_period: PeriodView,
    pub rows: Vec<CompareRow>,
}

fn pct_change(now: f64, before: f64) -> Option<f64> {
    (before != 0.0).then(|| super::round2((now - before) * 100.0 / before))
}

/// One row per line: the period's figures, the preceding period's of equal
/// length, and the change. `lines` fixes the rows; with `None` every line
/// with calls in either period gets one.
pub async fn compare(
    store: &dyn Store,
    scope: &LineScope,
    period: &Period,
    lines: Option<Vec<String>>,
) -> Result<Comparison, ViewError> {
    let previous = period.previous();
    let (from, to) = period.second_bounds();
    let (pfrom, pto) = previous.second_bounds();
    let cur: HashMap<Option<String>, CallCounts> = store
        .grouped_counts(scope, from, to, CallColumn::PhoneNumber)
        .await?
        .into_iter()
        .collect();
    let prev: HashMap<Option<String>, CallCounts> = store
        .grouped_counts(scope, pfrom, pto, CallColumn::PhoneNumber)
        .await?
        .into_iter()
        .collect();
    let registry: HashMap<String, PhoneNumberRow> = store
        .list_phone_numbers(true)
        .await?
        .into_iter()
        .map(|l| (l.number.clone(), l))
        .collect();
    let numbers: Vec<String> = match lines {
        Some(l) => l,
        None => {
            let mut all: Vec<String> = cur.keys().chain(prev.keys()).flatten().cloned().collect();
            all.sort();
            all.dedup();
            all
        }
    };
    let mut rows: Vec<CompareRow> = numbers
        .into_iter()
        .map(|n| {
            let c = cur.get(&Some(n.clone())).copied().unwrap_or_default();
            let p = prev.get(&Some(n.clone())).copied().unwrap_or_default();
            let (cf, pf) = (Figures::from(c), Figures::from(p));
            CompareRow {
                label: line_label(&n, &registry),
                phone_number: n,
                current: CurrentFigures {
                    figures: cf,
                    unique_callers: c.unique_callers,
                    success_rate_interval: wilson(c.answered, c.calls),
                    low_sample: c.calls < LOW_SAMPLE,
                },
                previous: PreviousFigures {
                    figures: pf,
                    unique_callers: p.unique_callers,
                },
                change: Change {
                    calls: pct_change(cf.calls as f64, pf.calls as f64),
                    success_rate: super::round2(cf.success_rate - pf.success_rate),
                    avg_call_duration: pct_change(cf.avg_call_duration, pf.avg_call_duration),
                },
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.current
            .figures
            .calls
            .cmp(&a.current.figures.calls)
            .then_with(|| a.phone_number.cmp(&b.phone_number))
    });
    Ok(Comparison {
        period: period.into(),
        previous_period: (&previous).into(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_timezone;

    fn period(from: &str, to: &str, tz: &str) -> Period {
        Period::parse(
            Some(from),
            Some(to),
            &parse_timezone("tz", tz).unwrap(),
            tz,
            Timestamp::UNIX_EPOCH,
        )
        .unwrap()
    }

    #[test]
    fn buckets_follow_the_timezone_and_dst() {
        let p = period("2026-03-07", "2026-03-10", "America/New_York");
        let days = bucket_starts(&p, Interval::Day).unwrap();
        let s: Vec<String> = days.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            s,
            [
                "2026-03-07T05:00:00Z",
                "2026-03-08T05:00:00Z",
                "2026-03-09T04:00:00Z"
            ]
        );
        let p = period("2026-01-16", "2026-01-17", "Asia/Kolkata");
        let hours = bucket_starts(&p, Interval::Hour).unwrap();
        assert_eq!(hours.len(), 24);
        assert_eq!(hours[0].to_string(), "2026-01-15T18:30:00Z");
        let p = period("2026-01-14", "2026-01-30", "UTC");
        let weeks = bucket_starts(&p, Interval::Week).unwrap();
        assert_eq!(
            weeks[0].to_string(),
            "2026-01-12T00:00:00Z",
            "weeks start on Monday"
        );
        assert_eq!(weeks.len(), 3);
        let p = period("2020-01-01", "2029-12-31", "UTC");
        assert_eq!(
            bucket_starts(&p, Interval::Hour).unwrap_err().field,
            "interval"
        );
    }

    #[test]
    fn wilson_interval_matches_the_textbook() {
        assert_eq!(wilson(0, 0), None);
        // 8 of 10: [49.02 %, 94.33 %].
        assert_eq!(wilson(8, 10), Some([49.02, 94.33]));
        assert_eq!(wilson(10, 10).unwrap()[1], 100.0);
    }
}
