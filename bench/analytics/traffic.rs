//! Deterministic, realistic call traffic for the analytics benchmark and its
//! small run in the test suite: 50 lines (a few busy, many quiet), three
//! groups, a `region` on every line, twelve IVR flows, a daily and weekly
//! rhythm in Asia/Kolkata, a status mix, repeat callers and talk times.
//!
//! Only the public crate API is used, so the same data loads into whatever
//! store implementation is in the tree.
#![allow(dead_code)]

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use linewise::domain::{CallDirection, CallStatus, E164, NewCall, Provider, Region};
use linewise::store::{PhoneNumberChanges, Store, StoreResult};

/// Bump when the generated data changes: cached databases are keyed on it.
pub const GENERATOR_VERSION: u32 = 2;
const SEED: u64 = 0x011e_5a1a_17c5_2026;
/// The instant the traffic ends at: 2026-11-20T12:00:00Z (17:30 in Kolkata).
pub const END: i64 = 1_795_176_000;
pub const DAYS: i64 = 90;
pub const TZ: &str = "Asia/Kolkata";
pub const LINES: usize = 50;
/// Calls per `Store::upsert_calls` batch: as many as an import writes a
/// transaction. Each batch rewrites every rollup row it touches, the
/// all-lines day's caller set among them (hundreds of thousands of ids at
/// 100 M calls), so 5 000 a batch wrote that set four times as often.
/// Each call depends only on its index: the data is the same at any size.
pub const BATCH: usize = linewise::ingest::import::BATCH;

const DEPARTMENTS: [&str; 3] = ["support", "sales", "billing"];

/// Regions lines are tagged with (`metadata.region`).
pub const REGIONS: [&str; 4] = ["south", "north", "west", "east"];

/// Flow ids and names; names sort like ids, so "ties by name" and "ties by
/// id" rank flows alike on every engine.
pub const FLOWS: [(&str, &str); 12] = [
    ("201", "Accounts IVR"),
    ("202", "Billing IVR"),
    ("203", "Callback queue"),
    ("204", "Delivery status"),
    ("205", "Enquiry menu"),
    ("206", "Feedback survey"),
    ("207", "General menu"),
    ("208", "Hindi menu"),
    ("209", "Insurance claims"),
    ("210", "Job openings"),
    ("211", "Kannada menu"),
    ("212", "Loan enquiries"),
];

/// Share of a day's calls in each local hour.
const HOURLY: [f64; 24] = [
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 4.0, 8.0, 10.0, 9.5, 7.5, 6.5, 8.5, 9.0, 8.0, 6.5, 4.5,
    3.0, 2.0, 1.5, 0.8, 0.4,
];

/// Line `i`'s number: Bengaluru landlines `+91 80 4718 00NN`.
pub fn line_number(i: usize) -> String {
    format!("+91804718{:04}", i)
}

pub fn line_region(i: usize) -> &'static str {
    REGIONS[i % REGIONS.len()]
}

/// Relative volume of line `i` (Zipf-like: a few busy, many quiet).
fn line_weight(i: usize) -> f64 {
    1.0 / ((i + 1) as f64).powf(1.1)
}

/// The flows a line's IVR uses (one to three).
fn line_flows(i: usize) -> Vec<usize> {
    let k = 1 + i % 3;
    (0..k).map(|j| (i * 5 + j * 7) % FLOWS.len()).collect()
}

/// The groups: (name, member line indexes).
pub fn groups() -> Vec<(&'static str, Vec<usize>)> {
    vec![
        ("Support", (0..10).collect()),
        ("Sales", (10..25).collect()),
        (
            "East region",
            (0..LINES).filter(|i| line_region(*i) == "east").collect(),
        ),
    ]
}

/// Registers the lines and groups. Idempotent.
pub async fn register_lines(store: &dyn Store) -> StoreResult<()> {
    let region = Region::default();
    let mut ids = Vec::new();
    for i in 0..LINES {
        let number = E164::parse("line", &line_number(i), region)
            .unwrap_or_else(|e| panic!("bench line {i} is not a valid number: {e:?}"));
        let changes = PhoneNumberChanges {
            friendly_name: Some(Some(format!("Line {i:02}"))),
            kind: Some("exophone".into()),
            is_active: Some(true),
            metadata: Some(json!({
                "region": line_region(i),
                "department": DEPARTMENTS[i % 3],
            })),
            ..Default::default()
        };
        let (row, _) = store
            .upsert_phone_number(
                number.as_str(),
                changes,
                linewise::http::audit::system("bench"),
            )
            .await?;
        ids.push(row.id);
    }
    let existing = store.list_groups().await?;
    for (name, members) in groups() {
        if existing.iter().any(|g| g.name == name) {
            continue;
        }
        let member_ids: Vec<i64> = members.iter().map(|&i| ids[i]).collect();
        store
            .create_group(
                name,
                None,
                &member_ids,
                linewise::http::audit::system("bench"),
            )
            .await?;
    }
    Ok(())
}

/// The calls, `BATCH` at a time, always the same for the same `n`.
pub struct Traffic {
    n: u64,
    next: u64,
    rng: StdRng,
    /// Cumulative weight of each hour cell of the 90 days (hour starts at
    /// `start + 3600 * k`).
    cells: Vec<f64>,
    start: i64,
    lines_cum: Vec<f64>,
    numbers: Vec<E164>,
    callers: u64,
}

impl Traffic {
    pub fn new(n: u64) -> Traffic {
        let tz = TimeZone::get(TZ).expect("bundled tzdb");
        let start = END - DAYS * 86_400;
        let hours = (END - start) / 3600;
        let mut cells = Vec::with_capacity(hours as usize);
        let mut acc = 0.0;
        for k in 0..hours {
            let mid = Timestamp::from_second(start + k * 3600 + 1800).expect("in range");
            let local = mid.to_zoned_datetime(tz.clone());
            let weekly = match local.weekday().to_monday_one_offset() {
                1 => 1.15,
                2..=4 => 1.0,
                5 => 0.9,
                6 => 0.45,
                _ => 0.25,
            };
            // A slow upward trend over the 90 days.
            let trend = 0.8 + 0.4 * k as f64 / hours as f64;
            acc += HOURLY[local.hour() as usize] * weekly * trend;
            cells.push(acc);
        }
        let mut lines_cum = Vec::with_capacity(LINES);
        let mut acc = 0.0;
        for i in 0..LINES {
            acc += line_weight(i);
            lines_cum.push(acc);
        }
        let numbers = (0..LINES)
            .map(|i| E164::from_stored(line_number(i)))
            .collect();
        Traffic {
            n,
            next: 0,
            rng: StdRng::seed_from_u64(SEED ^ n),
            cells,
            start,
            lines_cum,
            numbers,
            callers: (n / 8).max(500),
        }
    }

    fn pick(cum: &[f64], u: f64) -> usize {
        let x = u * cum[cum.len() - 1];
        cum.partition_point(|c| *c <= x).min(cum.len() - 1)
    }

    fn call(&mut self, i: u64) -> NewCall {
        let r = &mut self.rng;
        // Calls come in time order, as a provider's history and live
        // traffic do: call i starts in the hour where the cumulative
        // volume reaches (i + u) / n (stratified, so the daily and weekly
        // rhythm is kept exactly).
        let cell = Self::pick(&self.cells, (i as f64 + r.random::<f64>()) / self.n as f64);
        let started = self.start + cell as i64 * 3600 + r.random_range(0..3600);
        let line = Self::pick(&self.lines_cum, r.random::<f64>());
        let inbound = r.random::<f64>() < 0.8;
        // Each line answers a little better or worse than the others.
        let quality = 0.9 + 0.2 * ((line * 37 % 11) as f64 / 10.0);
        let u = r.random::<f64>();
        let mut status = if inbound {
            let done = 0.68 * quality;
            if u < done {
                CallStatus::Completed
            } else if u < done + 0.14 {
                CallStatus::NoAnswer
            } else if u < done + 0.20 {
                CallStatus::Busy
            } else if u < done + 0.28 {
                CallStatus::Canceled
            } else {
                CallStatus::Failed
            }
        } else {
            let done = 0.55 * quality;
            if u < done {
                CallStatus::Completed
            } else if u < done + 0.25 {
                CallStatus::NoAnswer
            } else if u < done + 0.35 {
                CallStatus::Busy
            } else {
                CallStatus::Failed
            }
        };
        // Calls of the last hour: a few are still going on.
        if END - started < 3600 && r.random::<f64>() < 0.05 {
            status = CallStatus::InProgress;
        }
        let duration = if status == CallStatus::Completed {
            (10.0 - r.random::<f64>().max(1e-9).ln() * 150.0).min(3600.0) as i64
        } else {
            0
        };
        let ring = r.random_range(3..40);
        // Repeat callers: a skewed pick from a pool much smaller than N.
        let caller = (self.callers as f64 * r.random::<f64>().powi(2)) as u64;
        let flows = line_flows(line);
        let flow = (inbound && r.random::<f64>() < 0.85)
            .then(|| FLOWS[flows[r.random_range(0..flows.len())]]);
        NewCall {
            provider: Provider::Exotel,
            provider_call_id: format!("bench-{i}"),
            phone_number: self.numbers[line].clone(),
            other_party: Some(format!("+9198{:08}", caller)),
            direction: if inbound {
                CallDirection::Inbound
            } else {
                CallDirection::Outbound
            },
            status,
            started_at: Timestamp::from_second(started).expect("in range"),
            ended_at: (status != CallStatus::InProgress)
                .then(|| Timestamp::from_second(started + ring + duration).expect("in range")),
            duration_seconds: duration,
            flow_id: flow.map(|f| f.0.to_string()),
            flow_name: flow.map(|f| f.1.to_string()),
            recording_url: None,
            raw: json!({}).into(),
        }
    }

    /// The next batch, empty when all `n` calls were produced.
    pub fn next_batch(&mut self) -> Vec<NewCall> {
        let k = (self.n - self.next).min(BATCH as u64);
        let out = (self.next..self.next + k).map(|i| self.call(i)).collect();
        self.next += k;
        out
    }
}

/// Registers lines and groups and stores `n` calls through
/// `Store::upsert_calls` (the write path that maintains any derived tables).
/// `progress` gets the number of calls stored so far.
pub async fn load(store: &dyn Store, n: u64, mut progress: impl FnMut(u64)) -> StoreResult<()> {
    register_lines(store).await?;
    let mut traffic = Traffic::new(n);
    let mut done = 0;
    loop {
        let batch = traffic.next_batch();
        if batch.is_empty() {
            break;
        }
        store.upsert_calls(&batch).await?;
        done += batch.len() as u64;
        progress(done);
    }
    Ok(())
}
