//! The oracle's side: the calls a case generates, the questions asked,
//! and every figure computed again by plain iteration over the records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The business numbers calls are made on: five registered lines and one
/// that is only ever seen in calls.
pub(super) const LINES: [&str; 6] = [
    "+918047180000",
    "+911140845500",
    "+912261234500",
    "+913340123400",
    "+919876543210",
    "+914440123400",
];
pub(super) const REGISTERED: usize = 5;
/// Group 0 = lines {0, 1}; group 1 = lines {2, 3, 4}.
pub(super) const GROUPS: [&[usize]; 2] = [&[0, 1], &[2, 3, 4]];
/// `department` metadata of the registered lines.
pub(super) const DEPARTMENTS: [&str; REGISTERED] =
    ["sales", "support", "sales", "support", "support"];
pub(super) const TIMEZONES: [&str; 5] = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "America/New_York",
];
pub(super) const STATUSES: [&str; 8] = [
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "in-progress",
    "ringing",
    "queued",
];
pub(super) const CALLERS: [Option<&str>; 7] = [
    Some("+919812345678"),
    Some("+919812345679"),
    Some("+919812345680"),
    Some("+12125550182"),
    Some("anonymous"),
    None,
    Some("+919812345681"),
];

#[derive(Debug, Clone)]
pub(super) struct Call {
    pub(super) id: String,
    pub(super) line: usize,
    pub(super) other: Option<&'static str>,
    pub(super) inbound: bool,
    pub(super) status: &'static str,
    pub(super) started: i64,
    pub(super) duration: i64,
    pub(super) flow: Option<u8>,
}

impl Call {
    pub(super) fn json(&self) -> Value {
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
pub(super) fn anchors(now: i64) -> [i64; 3] {
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
pub(super) enum Lines {
    All,
    One(usize),
    Several(Vec<usize>),
    Group(usize),
    Department(&'static str),
    GroupAndDepartment(usize, &'static str),
}

#[derive(Debug, Clone)]
pub(super) enum When {
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
pub(super) struct Question {
    pub(super) lines: Lines,
    pub(super) tz: &'static str,
    pub(super) when: When,
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

pub(super) fn raw_calls() -> impl Strategy<Value = Vec<RawCall>> {
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
pub(super) fn calls_of(case: u32, raw: Vec<RawCall>, now: i64) -> Vec<Call> {
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

pub(super) fn question_strategy() -> impl Strategy<Value = Question> {
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
pub(super) struct Oracle {
    pub(super) calls: BTreeMap<String, Call>,
    /// The test's start, which anchors the calls' times and the questions'
    /// periods; the clock at the request only decides "today" and "active".
    /// (Anchoring periods at the request's clock shifted the oracle's
    /// windows by the test's running time, and a short window then missed
    /// a call the server rightly counted.)
    pub(super) epoch: i64,
}

pub(super) fn local_date(t: i64, tz: &TimeZone) -> Date {
    Timestamp::from_second(t)
        .unwrap()
        .to_zoned_datetime(tz.clone())
        .date()
}

impl Oracle {
    pub(super) fn lines_of(&self, q: &Lines) -> BTreeSet<usize> {
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
    pub(super) fn in_period(&self, q: &Question, now: i64, c: &Call) -> bool {
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
    pub(super) fn mine(&self, q: &Question) -> Vec<&Call> {
        let lines = self.lines_of(&q.lines);
        self.calls
            .values()
            .filter(|c| lines.contains(&c.line))
            .collect()
    }

    /// The calls of the question's lines and period.
    pub(super) fn period_calls(&self, q: &Question, now: i64) -> Vec<&Call> {
        self.mine(q)
            .into_iter()
            .filter(|c| self.in_period(q, now, c))
            .collect()
    }

    /// The dashboard as it must be, by plain iteration.
    pub(super) fn dashboard(&self, q: &Question, now: i64) -> Value {
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

pub(super) fn pct(a: i64, b: i64) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 * 100.0 / b as f64 * 100.0).round() / 100.0
    }
}

/// The figures every view reports, by plain iteration.
pub(super) fn figures(calls: &[&Call]) -> Value {
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

pub(super) const INTERVALS: [&str; 3] = ["hour", "day", "week"];
pub(super) const BYS: [&str; 7] = [
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
pub(super) fn bucket_key(t: Timestamp, tz: &TimeZone, interval: &str) -> String {
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
pub(super) fn by_value(c: &Call, by: &str, tz: &TimeZone) -> Option<String> {
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
pub(super) fn wilson(k: i64, n: i64) -> Value {
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

pub(super) fn close(a: &Value, b: &Value, tol: f64) -> bool {
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
