//! Demo traffic: six lines of a business in India with names and metadata,
//! two groups, IVR flows, and `days` of calls up to now with a daily and
//! weekly rhythm, busy and quiet lines, a realistic status mix and repeat
//! callers. Deterministic per day and line, so running it again updates the
//! same records instead of adding new ones.

use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::domain::{CallDirection, CallStatus, E164, NewCall, Provider, Region};
use crate::store::{PhoneNumberChanges, Store, StoreError};

struct Line {
    number: &'static str,
    name: &'static str,
    metadata: serde_json::Value,
    /// Calls on a busy weekday.
    volume: f64,
    flows: &'static [&'static str],
}

/// The demo data's changes, as the audit log names them.
const DEMO: crate::store::Audit<'static> = crate::http::audit::system("demo");

const FLOWS: &[(&str, &str)] = &[
    ("231", "Support menu"),
    ("232", "Sales menu"),
    ("233", "Billing IVR"),
    ("240", "Campaign greeting"),
    ("250", "After-hours voicemail"),
];

fn lines() -> Vec<Line> {
    vec![
        Line {
            number: "+918047180000",
            name: "Customer Support - Bengaluru",
            metadata: json!({"department": "support", "region": "south"}),
            volume: 140.0,
            flows: &["231", "250"],
        },
        Line {
            number: "+911140845500",
            name: "Sales - Delhi",
            metadata: json!({"department": "sales", "region": "north"}),
            volume: 70.0,
            flows: &["232"],
        },
        Line {
            number: "+912261234500",
            name: "Billing - Mumbai",
            metadata: json!({"department": "billing", "region": "west"}),
            volume: 45.0,
            flows: &["233"],
        },
        Line {
            number: "+913340123400",
            name: "Customer Support - Kolkata",
            metadata: json!({"department": "support", "region": "east"}),
            volume: 55.0,
            flows: &["231", "250"],
        },
        Line {
            number: "+919876543210",
            name: "Summer Campaign 2026",
            metadata: json!({"department": "marketing", "campaign": "summer_2026", "channel": "tv_ads"}),
            volume: 35.0,
            flows: &["240", "232"],
        },
        Line {
            number: "+914440123400",
            name: "Partners - Chennai",
            metadata: json!({"department": "sales", "region": "south", "team": "partners"}),
            volume: 12.0,
            flows: &[],
        },
    ]
}

/// What a demo run did.
pub struct DemoReport {
    pub lines: usize,
    pub groups: usize,
    pub calls: usize,
    pub created: u64,
    pub updated: u64,
    pub days: u32,
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "demo data: {} lines, {} groups, {} calls over {} days ({} new, {} refreshed)",
            self.lines, self.groups, self.calls, self.days, self.created, self.updated
        )
    }
}

/// Fills the store with demo lines, groups and `days` of calls ending at `now`.
pub async fn fill(store: &dyn Store, days: u32, now: Timestamp) -> Result<DemoReport, StoreError> {
    let tz = TimeZone::get("Asia/Kolkata").expect("bundled tzdb has Asia/Kolkata");
    let lines = lines();
    let has_primary = store.primary_phone_number().await?.is_some();
    let mut ids = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let changes = PhoneNumberChanges {
            friendly_name: Some(Some(l.name.to_string())),
            kind: Some("exophone".into()),
            is_active: Some(true),
            is_primary: (i == 0 && !has_primary).then_some(true),
            capabilities: Some(json!({"voice": true, "sms": i != 5, "recording": true})),
            metadata: Some(l.metadata.clone()),
            number: None,
        };
        let (row, _) = store.upsert_phone_number(l.number, changes, DEMO).await?;
        ids.push(row.id);
    }
    let groups = [
        (
            "Support lines",
            "Every customer-support line",
            vec![ids[0], ids[3]],
        ),
        ("South region", "Lines in the south", vec![ids[0], ids[5]]),
    ];
    let existing = store.list_groups().await?;
    for (name, desc, members) in &groups {
        match existing.iter().find(|g| g.name == *name) {
            Some(g) => {
                store.add_group_members(g.id, members, DEMO).await?;
            }
            None => {
                store.create_group(name, Some(desc), members, DEMO).await?;
            }
        }
    }

    let today = now.to_zoned_datetime(tz.clone()).date();
    let mut report = DemoReport {
        lines: lines.len(),
        groups: groups.len(),
        calls: 0,
        created: 0,
        updated: 0,
        days,
    };
    let mut batch = Vec::with_capacity(5000);
    for back in (0..days as i64).rev() {
        let date = today.checked_sub(back.days()).unwrap_or(today);
        for (li, line) in lines.iter().enumerate() {
            day_calls(line, li, date, &tz, now, &mut batch);
        }
        if batch.len() >= 4000 {
            flush(store, &mut batch, &mut report).await?;
        }
    }
    flush(store, &mut batch, &mut report).await?;
    Ok(report)
}

async fn flush(
    store: &dyn Store,
    batch: &mut Vec<NewCall>,
    report: &mut DemoReport,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let out = store.upsert_calls(batch).await?;
    report.calls += batch.len();
    report.created += out.created;
    report.updated += out.updated;
    batch.clear();
    Ok(())
}

/// Share of a day's calls in each hour (IST): quiet nights, a morning peak,
/// a lunch dip and an afternoon peak.
const HOURLY: [f64; 24] = [
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 4.0, 8.0, 10.0, 9.5, 7.5, 6.5, 8.5, 9.0, 8.0, 6.5, 4.5,
    3.0, 2.0, 1.5, 0.8, 0.4,
];

fn day_calls(
    line: &Line,
    li: usize,
    date: Date,
    tz: &TimeZone,
    now: Timestamp,
    out: &mut Vec<NewCall>,
) {
    let seed = (date.year() as u64) << 32
        | (date.month() as u64) << 24
        | (date.day() as u64) << 16
        | li as u64;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_11e5);
    let weekday = date.weekday().to_monday_one_offset();
    let weekly = match weekday {
        1 => 1.15,
        2..=4 => 1.0,
        5 => 0.9,
        6 => 0.45,
        _ => 0.25,
    };
    let n = (line.volume * weekly * rng.random_range(0.8..1.2)).round() as usize;
    let total: f64 = HOURLY.iter().sum();
    let region = Region::default();
    let business = E164::parse("demo", line.number, region).expect("demo numbers are valid");
    let midnight = crate::domain::period::start_of_day(date, tz);
    for k in 0..n {
        // Pick an hour by the daily rhythm, then a second within it.
        let mut pick = rng.random_range(0.0..total);
        let mut hour = 0;
        for (h, w) in HOURLY.iter().enumerate() {
            if pick < *w {
                hour = h;
                break;
            }
            pick -= w;
        }
        let started = midnight.as_second() + hour as i64 * 3600 + rng.random_range(0..3600);
        if started > now.as_second() {
            continue;
        }
        let outbound = rng.random_bool(0.15);
        let roll: f64 = rng.random_range(0.0..1.0);
        let mut status = if outbound {
            if roll < 0.62 {
                CallStatus::Completed
            } else if roll < 0.86 {
                CallStatus::NoAnswer
            } else if roll < 0.96 {
                CallStatus::Busy
            } else {
                CallStatus::Failed
            }
        } else {
            let after_hours = !(9..19).contains(&hour);
            let answer = if after_hours { 0.45 } else { 0.8 };
            if roll < answer {
                CallStatus::Completed
            } else if roll < answer + 0.09 {
                CallStatus::NoAnswer
            } else if roll < answer + 0.13 {
                CallStatus::Busy
            } else if roll < answer + 0.18 {
                CallStatus::Canceled
            } else {
                CallStatus::Failed
            }
        };
        let mut duration = if status == CallStatus::Completed {
            // Mostly short calls, with a long tail.
            let base: f64 = rng.random_range(0.0f64..1.0).powf(2.2);
            20 + (base * 900.0) as i64
        } else {
            0
        };
        let age = now.as_second() - started;
        if status == CallStatus::Completed && age < duration {
            status = CallStatus::InProgress;
            duration = 0;
        } else if age < 40 {
            status = CallStatus::Ringing;
            duration = 0;
        }
        // Repeat callers: a few frequent ones, a long tail of one-offs.
        let caller_pool = (line.volume as u64) * 40;
        let c: f64 = rng.random_range(0.0f64..1.0);
        let caller = (c.powi(3) * caller_pool as f64) as u64;
        let other = format!(
            "+9198{:08}",
            10_000_000 + (li as u64 * 1_000_000 + caller) % 89_999_999
        );
        let flow = if line.flows.is_empty() || outbound {
            None
        } else {
            Some(line.flows[rng.random_range(0..line.flows.len())])
        };
        let ended = (!status.is_live()).then(|| started + duration.max(rng.random_range(5..40)));
        out.push(NewCall {
            provider: Provider::Manual,
            provider_call_id: format!("demo-{li}-{date}-{k}"),
            phone_number: business.clone(),
            other_party: Some(other),
            direction: if outbound {
                CallDirection::Outbound
            } else {
                CallDirection::Inbound
            },
            status,
            started_at: Timestamp::from_second(started).expect("in range"),
            ended_at: ended.and_then(|e| Timestamp::from_second(e).ok()),
            duration_seconds: duration,
            flow_id: flow.map(str::to_string),
            flow_name: flow.and_then(|f| {
                FLOWS
                    .iter()
                    .find(|(id, _)| *id == f)
                    .map(|(_, n)| n.to_string())
            }),
            recording_url: (status == CallStatus::Completed)
                .then(|| format!("https://recordings.example.com/demo/{li}/{date}/{k}.mp3")),
            raw: json!({"source": "linewise demo"}).into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_numbers_are_valid() {
        for l in lines() {
            E164::parse("n", l.number, Region::default()).unwrap();
        }
    }

    #[test]
    fn days_are_deterministic() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        let now: Timestamp = "2026-06-10T12:00:00Z".parse().unwrap();
        let date: Date = "2026-06-08".parse().unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        day_calls(&lines()[0], 0, date, &tz, now, &mut a);
        day_calls(&lines()[0], 0, date, &tz, now, &mut b);
        assert_eq!(a, b);
        assert!(a.len() > 100, "a busy Monday has many calls: {}", a.len());
    }
}
