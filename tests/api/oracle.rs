//! Property test: random calls posted through the API, then dashboard
//! figures for random filters, periods and timezones, compared with an
//! oracle written here by plain iteration over the generated records.
//!
//! One server per engine takes every case; the oracle mirrors everything
//! posted so far (including re-sent calls that update earlier ones), so "no
//! filter" questions cover the whole accumulated data set.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::helpers::*;

/// The business numbers calls are made on: five registered lines and one
/// that is only ever seen in calls.
const LINES: [&str; 6] = [
    "+918047180000",
    "+911140845500",
    "+912261234500",
    "+913340123400",
    "+919876543210",
    "+914440123400",
];
const REGISTERED: usize = 5;
/// Group 0 = lines {0, 1}; group 1 = lines {2, 3, 4}.
const GROUPS: [&[usize]; 2] = [&[0, 1], &[2, 3, 4]];
/// `department` metadata of the registered lines.
const DEPARTMENTS: [&str; REGISTERED] = ["sales", "support", "sales", "support", "support"];
const TIMEZONES: [&str; 5] = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "America/New_York",
];
const STATUSES: [&str; 8] = [
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "in-progress",
    "ringing",
    "queued",
];
const CALLERS: [Option<&str>; 7] = [
    Some("+919812345678"),
    Some("+919812345679"),
    Some("+919812345680"),
    Some("+12125550182"),
    Some("anonymous"),
    None,
    Some("+919812345681"),
];

#[derive(Debug, Clone)]
struct Call {
    id: String,
    line: usize,
    other: Option<&'static str>,
    inbound: bool,
    status: &'static str,
    started: i64,
    duration: i64,
    flow: Option<u8>,
}

impl Call {
    fn json(&self) -> Value {
        let mut v = json!({
            "providerCallId": self.id, "phoneNumber": LINES[self.line],
            "direction": if self.inbound { "inbound" } else { "outbound" },
            "status": self.status, "startedAt": Timestamp::from_second(self.started).unwrap().to_string(),
            "durationSeconds": self.duration,
        });
        if let Some(o) = self.other {
            v["otherParty"] = json!(o);
        }
        if let Some(f) = self.flow {
            v["flowId"] = json!(f.to_string());
            // Odd flows arrive with their name, even ones never do.
            if f % 2 == 1 {
                v["flowName"] = json!(format!("Menu {f}"));
            }
        }
        v
    }
}

/// When the data is: around both 2026 New York DST changes and around now.
fn anchors(now: i64) -> [i64; 3] {
    [
        "2026-03-08T07:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_second(),
        "2026-11-01T06:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_second(),
        now,
    ]
}

#[derive(Debug, Clone)]
enum Lines {
    All,
    One(usize),
    Several(Vec<usize>),
    Group(usize),
    Department(&'static str),
    GroupAndDepartment(usize, &'static str),
}

#[derive(Debug, Clone)]
enum When {
    Today,
    Dates {
        anchor: usize,
        from_day: i64,
        days: i64,
    },
    Instants {
        anchor: usize,
        from: i64,
        len: i64,
        half: bool,
    },
}

#[derive(Debug, Clone)]
struct Question {
    lines: Lines,
    tz: &'static str,
    when: When,
}

/// A generated call before it gets its id: (line, caller, inbound, status,
/// anchor, offset from the anchor, talk time, flow, re-send of an earlier id).
type RawCall = (
    usize,
    usize,
    bool,
    usize,
    usize,
    i64,
    i64,
    Option<u8>,
    Option<u32>,
);

fn raw_calls() -> impl Strategy<Value = Vec<RawCall>> {
    let one = (
        0..LINES.len(),
        0..CALLERS.len(),
        prop::bool::weighted(0.8),
        0..STATUSES.len(),
        0usize..3,
        -14 * 86_400i64..14 * 86_400,
        0i64..900,
        prop::option::weighted(0.7, 0u8..8),
        // Re-send an earlier call id (an update) about one time in eight.
        prop::option::weighted(0.12, 0u32..1000),
    );
    prop::collection::vec(one, 0..120)
}

/// Gives the case's calls their ids: new ones unique to the case, re-sent
/// ones naming a call of an earlier case.
fn calls_of(case: u32, raw: Vec<RawCall>, now: i64) -> Vec<Call> {
    raw.into_iter()
        .enumerate()
        .map(
            |(i, (line, caller, inbound, status, anchor, offset, duration, flow, resend))| {
                let id = match resend {
                    Some(k) if case > 1 => format!("c{}-{}", 1 + k % (case - 1), k % 20),
                    _ => format!("c{case}-{i}"),
                };
                Call {
                    id,
                    line,
                    other: CALLERS[caller],
                    inbound,
                    status: STATUSES[status],
                    started: anchors(now)[anchor] + offset,
                    duration: if STATUSES[status] == "completed" {
                        duration
                    } else {
                        0
                    },
                    flow,
                }
            },
        )
        .collect()
}

fn question_strategy() -> impl Strategy<Value = Question> {
    let lines = prop_oneof![
        Just(Lines::All),
        (0..LINES.len()).prop_map(Lines::One),
        prop::collection::btree_set(0..LINES.len(), 1..4)
            .prop_map(|s| Lines::Several(s.into_iter().collect())),
        (0..GROUPS.len()).prop_map(Lines::Group),
        prop::sample::select(vec!["sales", "support", "nobody"]).prop_map(Lines::Department),
        (
            0..GROUPS.len(),
            prop::sample::select(vec!["sales", "support"])
        )
            .prop_map(|(g, d)| Lines::GroupAndDepartment(g, d)),
    ];
    let when = prop_oneof![
        1 => Just(When::Today),
        3 => (0usize..3, -16i64..14, 1i64..20).prop_map(|(anchor, from_day, days)| When::Dates { anchor, from_day, days }),
        2 => (0usize..3, -15 * 86_400i64..15 * 86_400, 1i64..20 * 86_400, any::<bool>())
            .prop_map(|(anchor, from, len, half)| When::Instants { anchor, from, len, half }),
    ];
    (lines, prop::sample::select(TIMEZONES.to_vec()), when).prop_map(|(lines, tz, when)| Question {
        lines,
        tz,
        when,
    })
}

/// Everything the server was sent, as the oracle knows it.
#[derive(Clone)]
struct Oracle {
    calls: BTreeMap<String, Call>,
    /// The test's start, which anchors the calls' times and the questions'
    /// periods; the clock at the request only decides "today" and "active".
    /// (Anchoring periods at the request's clock shifted the oracle's
    /// windows by the test's running time, and a short window then missed
    /// a call the server rightly counted.)
    epoch: i64,
}

fn local_date(t: i64, tz: &TimeZone) -> Date {
    Timestamp::from_second(t)
        .unwrap()
        .to_zoned_datetime(tz.clone())
        .date()
}

impl Oracle {
    fn lines_of(&self, q: &Lines) -> BTreeSet<usize> {
        let all: BTreeSet<usize> = (0..LINES.len()).collect();
        let dept = |d: &str| {
            (0..REGISTERED)
                .filter(|&i| DEPARTMENTS[i] == d)
                .collect::<BTreeSet<_>>()
        };
        match q {
            Lines::All => all,
            Lines::One(i) => [*i].into(),
            Lines::Several(v) => v.iter().copied().collect(),
            Lines::Group(g) => GROUPS[*g].iter().copied().collect(),
            Lines::Department(d) => dept(d),
            Lines::GroupAndDepartment(g, d) => GROUPS[*g]
                .iter()
                .copied()
                .filter(|i| dept(d).contains(i))
                .collect(),
        }
    }

    /// Whether a call lies in the question's period, judged by the call's
    /// local date (for dates) or its instant (for instants).
    fn in_period(&self, q: &Question, now: i64, c: &Call) -> bool {
        let tz = TimeZone::get(q.tz).unwrap();
        match &q.when {
            When::Today => local_date(c.started, &tz) == local_date(now, &tz),
            When::Dates {
                anchor,
                from_day,
                days,
            } => {
                let base = local_date(anchors(self.epoch)[*anchor], &tz);
                let from = base.checked_add(jiff::Span::new().days(*from_day)).unwrap();
                let to = from.checked_add(jiff::Span::new().days(*days)).unwrap();
                let d = local_date(c.started, &tz);
                from <= d && d < to
            }
            When::Instants {
                anchor,
                from,
                len,
                half,
            } => {
                // A bound of x.5 seconds: a call at second s is in iff x.5 <= s.
                let start = anchors(self.epoch)[*anchor] + from;
                let lo = if *half { start + 1 } else { start };
                let hi = start + len;
                lo <= c.started && c.started < hi
            }
        }
    }

    /// The calls of the question's lines.
    fn mine(&self, q: &Question) -> Vec<&Call> {
        let lines = self.lines_of(&q.lines);
        self.calls
            .values()
            .filter(|c| lines.contains(&c.line))
            .collect()
    }

    /// The calls of the question's lines and period.
    fn period_calls(&self, q: &Question, now: i64) -> Vec<&Call> {
        self.mine(q)
            .into_iter()
            .filter(|c| self.in_period(q, now, c))
            .collect()
    }

    /// The dashboard as it must be, by plain iteration.
    fn dashboard(&self, q: &Question, now: i64) -> Value {
        let tz = TimeZone::get(q.tz).unwrap();
        let lines = self.lines_of(&q.lines);
        let in_period = |c: &Call| self.in_period(q, now, c);
        let mine: Vec<&Call> = self
            .calls
            .values()
            .filter(|c| lines.contains(&c.line))
            .collect();
        let period: Vec<&Call> = mine.iter().copied().filter(|c| in_period(c)).collect();
        let answered = period.iter().filter(|c| c.status == "completed").count() as i64;
        let missed_kind = ["no-answer", "busy", "failed", "canceled"];
        let missed = period
            .iter()
            .filter(|c| c.inbound && missed_kind.contains(&c.status))
            .count() as i64;
        let abandoned = period
            .iter()
            .filter(|c| c.inbound && c.status == "canceled")
            .count() as i64;
        let failed = period.iter().filter(|c| c.status == "failed").count() as i64;
        let talk: i64 = period
            .iter()
            .filter(|c| c.status == "completed")
            .map(|c| c.duration)
            .sum();
        let unique = period
            .iter()
            .filter_map(|c| c.other)
            .collect::<BTreeSet<_>>()
            .len() as i64;
        let today = mine
            .iter()
            .filter(|c| local_date(c.started, &tz) == local_date(now, &tz))
            .count() as i64;
        let live = ["in-progress", "ringing", "queued"];
        let active = mine
            .iter()
            .filter(|c| live.contains(&c.status) && c.started > now - 4 * 3600)
            .count() as i64;
        let calls = period.len() as i64;
        let pct = |a: i64, b: i64| {
            if b == 0 {
                0.0
            } else {
                (a as f64 * 100.0 / b as f64 * 100.0).round() / 100.0
            }
        };
        let avg = if answered == 0 {
            0.0
        } else {
            (talk as f64 / answered as f64 * 100.0).round() / 100.0
        };
        let mut flows: HashMap<u8, (i64, i64)> = HashMap::new();
        for c in &period {
            if let Some(f) = c.flow {
                let e = flows.entry(f).or_default();
                e.0 += 1;
                if c.status == "completed" {
                    e.1 += 1;
                }
            }
        }
        let named: BTreeSet<u8> = self
            .calls
            .values()
            .filter_map(|c| c.flow)
            .filter(|f| f % 2 == 1)
            .collect();
        let name = |f: u8| {
            if named.contains(&f) {
                format!("Menu {f}")
            } else {
                format!("Flow {f}")
            }
        };
        let mut ranked: Vec<(u8, i64, i64)> =
            flows.into_iter().map(|(f, (n, a))| (f, n, a)).collect();
        ranked.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(name(a.0).cmp(&name(b.0)))
                .then(a.0.to_string().cmp(&b.0.to_string()))
        });
        let top: Vec<Value> = ranked
            .into_iter()
            .take(5)
            .map(|(f, n, a)| json!({"flowId": f.to_string(), "flowName": name(f), "callCount": n, "successRate": pct(a, n)}))
            .collect();
        json!({
            "callsToday": today, "avgCallDuration": avg, "successRate": pct(answered, calls), "topFlows": top,
            "completedCalls": answered, "missedCalls": missed, "abandonedCalls": abandoned, "failedCalls": failed,
            "activeCalls": active, "calls": calls, "answered": answered, "missed": missed,
            "uniqueCallers": unique, "totalTalkSeconds": talk,
        })
    }
}

fn pct(a: i64, b: i64) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 * 100.0 / b as f64 * 100.0).round() / 100.0
    }
}

/// The figures every view reports, by plain iteration.
fn figures(calls: &[&Call]) -> Value {
    let n = calls.len() as i64;
    let answered = calls.iter().filter(|c| c.status == "completed").count() as i64;
    let missed = calls
        .iter()
        .filter(|c| c.inbound && ["no-answer", "busy", "failed", "canceled"].contains(&c.status))
        .count() as i64;
    let talk: i64 = calls
        .iter()
        .filter(|c| c.status == "completed")
        .map(|c| c.duration)
        .sum();
    let avg = if answered == 0 {
        0.0
    } else {
        (talk as f64 / answered as f64 * 100.0).round() / 100.0
    };
    json!({"calls": n, "answered": answered, "missed": missed, "avgCallDuration": avg, "successRate": pct(answered, n), "totalTalkSeconds": talk})
}

const INTERVALS: [&str; 3] = ["hour", "day", "week"];
const BYS: [&str; 7] = [
    "flow",
    "status",
    "direction",
    "phoneNumber",
    "hourOfDay",
    "dayOfWeek",
    "metadata.department",
];

/// A bucket's identity in local time: the hour (with its offset, so the
/// repeated hour of a DST change is two buckets), the date, or the Monday.
fn bucket_key(t: Timestamp, tz: &TimeZone, interval: &str) -> String {
    let z = t.to_zoned_datetime(tz.clone());
    match interval {
        "hour" => format!("{} {:02} {}", z.date(), z.hour(), z.offset()),
        "day" => z.date().to_string(),
        _ => {
            let back = i64::from(z.date().weekday().to_monday_zero_offset());
            z.date()
                .checked_sub(jiff::Span::new().days(back))
                .unwrap()
                .to_string()
        }
    }
}

/// A value a call has for a breakdown.
fn by_value(c: &Call, by: &str, tz: &TimeZone) -> Option<String> {
    let z = Timestamp::from_second(c.started)
        .unwrap()
        .to_zoned_datetime(tz.clone());
    match by {
        "flow" => c.flow.map(|f| f.to_string()),
        "status" => Some(c.status.to_string()),
        "direction" => Some(if c.inbound { "inbound" } else { "outbound" }.to_string()),
        "phoneNumber" => Some(LINES[c.line].to_string()),
        "hourOfDay" => Some(z.hour().to_string()),
        "dayOfWeek" => Some((z.date().weekday().to_monday_zero_offset() + 1).to_string()),
        _ => (c.line < REGISTERED).then(|| DEPARTMENTS[c.line].to_string()),
    }
}

/// Wilson's 95 % interval, written out from the textbook formula.
fn wilson(k: i64, n: i64) -> Value {
    if n == 0 {
        return Value::Null;
    }
    let (k, n, z) = (k as f64, n as f64, 1.96f64);
    let p = k / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let d = 1.0 + z * z / n;
    json!([
        ((centre - spread) / d * 100.0).max(0.0),
        ((centre + spread) / d * 100.0).min(100.0)
    ])
}

fn close(a: &Value, b: &Value, tol: f64) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| close(p, q, tol))
        }
        (Value::Object(x), Value::Object(y)) => y
            .iter()
            .all(|(k, v)| x.get(k).is_some_and(|w| close(w, v, tol))),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(p), Some(q)) => (p - q).abs() <= tol,
            _ => a == b,
        },
    }
}

/// Timeseries, breakdown, compare and export for one question, each against
/// the oracle.
async fn check_views(
    app: &TestApp,
    o: &Oracle,
    q: &Question,
    k: usize,
    base: &str,
    now: i64,
) -> Result<(), String> {
    let tz = TimeZone::get(q.tz).unwrap();
    let period = o.period_calls(q, now);
    let params = base
        .split_once('?')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();

    // Timeseries: every call in the bucket of its local hour/day/week.
    let interval = INTERVALS[k % 3];
    let path = format!("/api/analytics/timeseries?{params}&interval={interval}");
    let (status, ts) = app.get(&path).await;
    if status != 200 {
        return Err(format!("{path}: {status} {ts}"));
    }
    let buckets = ts["buckets"].as_array().ok_or(format!("{path}: {ts}"))?;
    let mut by_key: BTreeMap<String, Vec<&Call>> = BTreeMap::new();
    for b in buckets {
        let start: Timestamp = b["start"].as_str().unwrap().parse().unwrap();
        if by_key
            .insert(bucket_key(start, &tz, interval), vec![])
            .is_some()
        {
            return Err(format!("{path}: two buckets for {start}"));
        }
    }
    for c in &period {
        let key = bucket_key(Timestamp::from_second(c.started).unwrap(), &tz, interval);
        by_key
            .get_mut(&key)
            .ok_or(format!("{path}: no bucket {key} for call {}", c.id))?
            .push(c);
    }
    for b in buckets {
        let start: Timestamp = b["start"].as_str().unwrap().parse().unwrap();
        let want = figures(&by_key[&bucket_key(start, &tz, interval)]);
        if !close(b, &want, 1e-9) {
            return Err(format!("{path}: bucket {start}: got {b}, want {want}"));
        }
    }

    // Breakdown: every call under its value.
    let by = BYS[k % BYS.len()];
    let path = format!("/api/analytics/breakdown?{params}&by={by}");
    let (status, bd) = app.get(&path).await;
    if status != 200 {
        return Err(format!("{path}: {status} {bd}"));
    }
    let mut want: BTreeMap<Option<String>, Vec<&Call>> = BTreeMap::new();
    if by == "hourOfDay" || by == "dayOfWeek" {
        let (lo, hi) = if by == "hourOfDay" { (0, 24) } else { (1, 8) };
        for v in lo..hi {
            want.insert(Some(v.to_string()), vec![]);
        }
    }
    for c in &period {
        want.entry(by_value(c, by, &tz)).or_default().push(c);
    }
    let rows = bd["rows"].as_array().unwrap();
    let got: BTreeMap<Option<String>, &Value> = rows
        .iter()
        .map(|r| (r["value"].as_str().map(str::to_string), r))
        .collect();
    if got.len() != rows.len() || got.len() != want.len() {
        return Err(format!(
            "{path}: values {:?}, want {:?}",
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        ));
    }
    for (v, calls) in &want {
        let w = figures(calls);
        if !close(got[v], &w, 1e-9) {
            return Err(format!("{path}: {v:?}: got {}, want {w}", got[v]));
        }
    }

    // Compare: each line now and in the period of equal length before.
    let cmp_params = if matches!(q.lines, Lines::All) {
        format!("{params}&by=phoneNumber")
    } else {
        params.clone()
    };
    let path = format!("/api/analytics/compare?{cmp_params}");
    let (status, cmp) = app.get(&path).await;
    if status != 200 {
        return Err(format!("{path}: {status} {cmp}"));
    }
    let from: Timestamp = cmp["period"]["from"].as_str().unwrap().parse().unwrap();
    let to: Timestamp = cmp["period"]["to"].as_str().unwrap().parse().unwrap();
    let pfrom: Timestamp = cmp["previousPeriod"]["from"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    if cmp["previousPeriod"]["to"] != cmp["period"]["from"]
        || to.duration_since(from) != from.duration_since(pfrom)
    {
        return Err(format!(
            "{path}: the previous period is not the one just before: {cmp}"
        ));
    }
    let mine = o.mine(q);
    let before: Vec<&Call> = mine
        .iter()
        .copied()
        .filter(|c| {
            let t = Timestamp::from_second(c.started).unwrap();
            pfrom <= t && t < from
        })
        .collect();
    let numbers: BTreeSet<usize> = if matches!(q.lines, Lines::All) {
        period.iter().chain(before.iter()).map(|c| c.line).collect()
    } else {
        o.lines_of(&q.lines)
    };
    let rows = cmp["rows"].as_array().unwrap();
    if rows.len() != numbers.len() {
        return Err(format!(
            "{path}: {} rows, want {}",
            rows.len(),
            numbers.len()
        ));
    }
    for line in numbers {
        let row = rows
            .iter()
            .find(|r| r["phoneNumber"] == LINES[line])
            .ok_or(format!("{path}: no row for {}", LINES[line]))?;
        let now_calls: Vec<&Call> = period.iter().copied().filter(|c| c.line == line).collect();
        let then_calls: Vec<&Call> = before.iter().copied().filter(|c| c.line == line).collect();
        let (cur, prev) = (figures(&now_calls), figures(&then_calls));
        let uniq = |cs: &[&Call]| {
            cs.iter()
                .filter_map(|c| c.other)
                .collect::<BTreeSet<_>>()
                .len()
        };
        let change = |a: f64, b: f64| {
            if b == 0.0 {
                Value::Null
            } else {
                json!(((a - b) * 100.0 / b * 100.0).round() / 100.0)
            }
        };
        let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
        let want = json!({
            "current": {"uniqueCallers": uniq(&now_calls), "lowSample": now_calls.len() < 30},
            "previous": {"uniqueCallers": uniq(&then_calls)},
            "change": {
                "calls": change(f(&cur, "calls"), f(&prev, "calls")),
                "successRate": ((f(&cur, "successRate") - f(&prev, "successRate")) * 100.0).round() / 100.0,
                "avgCallDuration": change(f(&cur, "avgCallDuration"), f(&prev, "avgCallDuration")),
            },
        });
        let ok = close(&row["current"], &cur, 1e-9)
            && close(&row["previous"], &prev, 1e-9)
            && close(row, &want, 1e-9)
            && close(
                &row["current"]["successRateInterval"],
                &wilson(f(&cur, "answered") as i64, now_calls.len() as i64),
                0.011,
            );
        if !ok {
            return Err(format!(
                "{path}: {}: got {row}, want current {cur} previous {prev} {want}",
                LINES[line]
            ));
        }
    }

    // Export: exactly the period's calls, one CSV row each.
    if !matches!(q.when, When::Today) {
        let path = format!("/api/analytics/export.csv?{params}");
        let res = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            return Err(format!("{path}: {}", res.status()));
        }
        let text = res.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        if &header[2] != "providerCallId" {
            return Err(format!("{path}: header {header:?}"));
        }
        let got: BTreeSet<String> = reader
            .records()
            .map(|r| r.unwrap()[2].to_string())
            .collect();
        let want: BTreeSet<String> = period.iter().map(|c| c.id.clone()).collect();
        if got != want {
            return Err(format!("{path}: {} rows, want {}", got.len(), want.len()));
        }
    }
    Ok(())
}

fn query(q: &Question, group_ids: &[i64], now: i64) -> String {
    let mut parts = vec![format!("tz={}", enc(q.tz))];
    match &q.lines {
        Lines::All => {}
        // The literal '+' that arrives as a space.
        Lines::One(i) => parts.push(format!("phoneNumber={}", LINES[*i])),
        Lines::Several(v) => parts.push(format!(
            "phoneNumbers={}",
            enc(&v.iter().map(|i| LINES[*i]).collect::<Vec<_>>().join(","))
        )),
        Lines::Group(g) => parts.push(format!("groupId={}", group_ids[*g])),
        Lines::Department(d) => parts.push(format!("metadata.department={d}")),
        Lines::GroupAndDepartment(g, d) => {
            parts.push(format!("groupId={}", group_ids[*g]));
            parts.push(format!("metadata.department={d}"));
        }
    }
    let tz = TimeZone::get(q.tz).unwrap();
    match &q.when {
        When::Today => {}
        When::Dates {
            anchor,
            from_day,
            days,
        } => {
            let base = local_date(anchors(now)[*anchor], &tz);
            let from = base.checked_add(jiff::Span::new().days(*from_day)).unwrap();
            let to = from.checked_add(jiff::Span::new().days(*days)).unwrap();
            parts.push(format!("from={from}&to={to}"));
        }
        When::Instants {
            anchor,
            from,
            len,
            half,
        } => {
            let start = Timestamp::from_second(anchors(now)[*anchor] + from).unwrap();
            let end = Timestamp::from_second(anchors(now)[*anchor] + from + len).unwrap();
            let start = if *half {
                start.to_string().replace('Z', ".5Z")
            } else {
                start.to_string()
            };
            parts.push(format!("from={}&to={}", enc(&start), enc(&end.to_string())));
        }
    }
    format!("/api/analytics/dashboard?{}", parts.join("&"))
}

/// Compares the figures the oracle defines (not the echoed period).
fn same(actual: &Value, expected: &Value) -> Result<(), String> {
    for (k, want) in expected.as_object().unwrap() {
        let got = &actual[k];
        let equal = match (got.as_f64(), want.as_f64()) {
            (Some(a), Some(b)) if !got.is_array() => (a - b).abs() < 1e-9,
            _ => got == want,
        };
        if !equal {
            return Err(format!("{k}: got {got}, want {want}"));
        }
    }
    Ok(())
}

fn run(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(app) = rt.block_on(try_spawn(backend)) else {
        eprintln!("PostgreSQL suite not configured (LINEWISE_TEST_POSTGRES_URL); skipped");
        return;
    };
    let group_ids: Vec<i64> = rt.block_on(async {
        let mut ids = Vec::new();
        for i in 0..REGISTERED {
            ids.push(
                app.line(
                    LINES[i],
                    &format!("Line {i}"),
                    json!({"department": DEPARTMENTS[i]}),
                )
                .await,
            );
        }
        let mut groups = Vec::new();
        for (g, members) in GROUPS.iter().enumerate() {
            let member_ids: Vec<i64> = members.iter().map(|&i| ids[i]).collect();
            let (status, body) = app
                .post(
                    "/api/phone-number-groups",
                    json!({"name": format!("Group {g}"), "phoneNumberIds": member_ids}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            groups.push(body["id"].as_i64().unwrap());
        }
        groups
    });
    let now = Timestamp::now().as_second();
    let oracle = Mutex::new(Oracle {
        calls: BTreeMap::new(),
        epoch: now,
    });
    let case_no = Mutex::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (raw_calls(), prop::collection::vec(question_strategy(), 6));
    let result = runner.run(&strategy, |(raw, questions)| {
        // Cases are numbered as they run, so new call ids stay unique.
        let case = {
            let mut n = case_no.lock().unwrap();
            *n += 1;
            *n
        };
        let calls = calls_of(case, raw, now);
        rt.block_on(async {
            if !calls.is_empty() {
                let body: Vec<Value> = calls.iter().map(Call::json).collect();
                let (status, res) = app.post("/api/calls", Value::Array(body)).await;
                prop_assert_eq!(status, 200, "{}", res);
                let mut o = oracle.lock().unwrap();
                for c in &calls {
                    o.calls.insert(c.id.clone(), c.clone());
                }
            }
            for (k, q) in questions.iter().enumerate() {
                let path = query(q, &group_ids, now);
                let before = Timestamp::now().as_second();
                let (status, got) = app.get(&path).await;
                let after = Timestamp::now().as_second();
                prop_assert_eq!(status, 200, "{} -> {}", path, got);
                let o = oracle.lock().unwrap().clone();
                // "Today" and "active" move with the clock: accept the oracle at either end of the request.
                let ok = same(&got, &o.dashboard(q, before))
                    .or_else(|_| same(&got, &o.dashboard(q, after)));
                if let Err(e) = ok {
                    return Err(TestCaseError::fail(format!(
                        "{path} ({:?}): {e}\nserver: {got}",
                        q
                    )));
                }
                if !matches!(q.when, When::Today)
                    || local_date(before, &TimeZone::get(q.tz).unwrap())
                        == local_date(after, &TimeZone::get(q.tz).unwrap())
                {
                    check_views(&app, &o, q, k + case as usize, &path, before)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("({q:?}) {e}")))?;
                }
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!(
            "{} analytics differ from the oracle: {e}",
            match backend {
                Backend::Sqlite => "SQLite",
                Backend::Postgres => "PostgreSQL",
            }
        );
    }
    let drift = rt.block_on(app.store.rollup_drift()).unwrap();
    assert!(
        drift.is_empty(),
        "rollups differ from a recount of the raw calls: {drift:#?}"
    );
    let total = oracle.lock().unwrap().calls.len();
    assert!(
        total > 500,
        "the property test stored too few calls to mean much: {total}"
    );
}

#[test]
fn every_view_equals_a_plain_count_on_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn every_view_equals_a_plain_count_on_postgres() {
    run(Backend::Postgres);
}
