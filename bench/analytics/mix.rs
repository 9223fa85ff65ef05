//! The analytics query mix, answered three ways that must agree: by
//! linewise's library functions (what the HTTP handlers call), by naive SQL
//! over the raw `calls` table (one aggregate a figure set, no rollups), and
//! — in the bench — by DuckDB and chDB over an export (`bench/peers/run.py`,
//! same SQL shapes).
//!
//! Every answer is brought to one canonical JSON shape so they compare with
//! `==`.
#![allow(dead_code)]

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use linewise::analytics::views::{self, By, Interval};
use linewise::analytics::{self, ACTIVE_WINDOW_SECONDS, TOP_FLOWS};
use linewise::domain::filter::metadata_matches;
use linewise::domain::{Period, parse_timezone};
use linewise::store::{LineScope, Store};

use super::traffic;

#[derive(Debug, Clone)]
pub enum Kind {
    Dashboard,
    TimeseriesHour,
    BreakdownFlow,
    Compare(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Query {
    pub name: &'static str,
    pub kind: Kind,
    pub scope: LineScope,
    pub period: Period,
}

/// The instant every query is asked at.
pub fn now() -> Timestamp {
    Timestamp::from_second(traffic::END).expect("in range")
}

/// The local days `[today - days + 1, today]` in the bench timezone.
fn last_days(days: i64) -> Period {
    let tz = parse_timezone("tz", traffic::TZ).expect("tz");
    let today = now().to_zoned_datetime(tz.clone()).date();
    let first = today
        .checked_sub(jiff::Span::new().days(days - 1))
        .expect("in range");
    let next = today.tomorrow().expect("in range");
    Period::parse(
        Some(&first.to_string()),
        Some(&next.to_string()),
        &tz,
        traffic::TZ,
        now(),
    )
    .expect("valid period")
}

/// The mix, with scopes resolved the way `http::access::scope` does (the
/// lines a group or a metadata filter names).
pub async fn build(store: &dyn Store) -> Vec<Query> {
    let lines = store.list_phone_numbers(true).await.expect("lines");
    let groups = store.list_groups().await.expect("groups");
    let group = groups
        .iter()
        .find(|g| g.name == "Sales")
        .expect("the bench's Sales group");
    let mut group_numbers: Vec<String> = lines
        .iter()
        .filter(|l| group.phone_number_ids.contains(&l.id))
        .map(|l| l.number.clone())
        .collect();
    group_numbers.sort();
    let wanted = [("region".to_string(), "south".to_string())];
    let mut region_numbers: Vec<String> = lines
        .iter()
        .filter(|l| metadata_matches(&l.metadata, &wanted))
        .map(|l| l.number.clone())
        .collect();
    region_numbers.sort();
    let five: Vec<String> = [0, 1, 5, 20, 40]
        .iter()
        .map(|&i| traffic::line_number(i))
        .collect();
    vec![
        Query {
            name: "dashboard all lines 30d",
            kind: Kind::Dashboard,
            scope: LineScope::All,
            period: last_days(30),
        },
        Query {
            name: "dashboard one line today",
            kind: Kind::Dashboard,
            scope: LineScope::Only(vec![traffic::line_number(0)]),
            period: last_days(1),
        },
        Query {
            name: "dashboard group 90d",
            kind: Kind::Dashboard,
            scope: LineScope::Only(group_numbers),
            period: last_days(90),
        },
        Query {
            name: "dashboard region=south 7d",
            kind: Kind::Dashboard,
            scope: LineScope::Only(region_numbers),
            period: last_days(7),
        },
        Query {
            name: "timeseries hour 7d",
            kind: Kind::TimeseriesHour,
            scope: LineScope::All,
            period: last_days(7),
        },
        Query {
            name: "breakdown flow 30d",
            kind: Kind::BreakdownFlow,
            scope: LineScope::All,
            period: last_days(30),
        },
        Query {
            name: "compare 5 lines 30d",
            kind: Kind::Compare(five.clone()),
            scope: LineScope::Only(five),
            period: last_days(30),
        },
    ]
}

fn scope_json(scope: &LineScope) -> Value {
    match scope {
        LineScope::All => Value::Null,
        LineScope::Only(v) => json!(v),
    }
}

/// What the peers need to ask the same question: UTC second bounds
/// precomputed, lines spelled out.
pub fn peer_spec(q: &Query) -> Value {
    let (from, to) = q.period.second_bounds();
    let (today_from, today_to) =
        Period::today(&q.period.tz, &q.period.tz_name, now()).second_bounds();
    let (pfrom, pto) = q.period.previous().second_bounds();
    json!({
        "name": q.name,
        "kind": match q.kind {
            Kind::Dashboard => "dashboard",
            Kind::TimeseriesHour => "timeseries_hour",
            Kind::BreakdownFlow => "breakdown_flow",
            Kind::Compare(_) => "compare",
        },
        "from": from, "to": to,
        "today_from": today_from, "today_to": today_to,
        "active_since": now().as_second() - ACTIVE_WINDOW_SECONDS,
        "prev_from": pfrom, "prev_to": pto,
        "lines": scope_json(&q.scope),
        "top": TOP_FLOWS,
    })
}

/// linewise's answer, through the library functions the handlers call.
pub async fn linewise(store: &dyn Store, q: &Query) -> Value {
    match &q.kind {
        Kind::Dashboard => {
            let d = analytics::dashboard(store, &q.scope, &q.period, now())
                .await
                .expect("dashboard");
            json!({
                "calls": d.calls, "answered": d.answered, "missed": d.missed,
                "abandoned": d.abandoned_calls, "failed": d.failed_calls,
                "talk": d.total_talk_seconds, "unique": d.unique_callers,
                "today": d.calls_today, "active": d.active_calls,
                "top": d.top_flows.iter().map(|f| json!([f.flow_id, f.call_count])).collect::<Vec<_>>(),
            })
        }
        Kind::TimeseriesHour => {
            let t = views::timeseries(store, &q.scope, &q.period, Interval::Hour)
                .await
                .expect("timeseries");
            let from = q.period.second_bounds().0;
            let rows: Vec<Value> = t
                .buckets
                .iter()
                .filter(|b| b.figures.calls > 0)
                .map(|b| {
                    let start: Timestamp = b.start.parse().expect("bucket start");
                    let f = &b.figures;
                    json!([
                        (start.as_second() - from) / 3600,
                        f.calls,
                        f.answered,
                        f.missed,
                        f.total_talk_seconds
                    ])
                })
                .collect();
            json!({ "buckets": rows })
        }
        Kind::BreakdownFlow => {
            let b = views::breakdown(store, &q.scope, &q.period, By::Flow)
                .await
                .expect("breakdown");
            let mut rows: Vec<(Option<String>, Value)> = b
                .rows
                .iter()
                .map(|r| {
                    let f = &r.figures;
                    (
                        r.value.clone(),
                        json!([r.value, f.calls, f.answered, f.missed, f.total_talk_seconds]),
                    )
                })
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            json!({ "rows": rows.into_iter().map(|r| r.1).collect::<Vec<_>>() })
        }
        Kind::Compare(lines) => {
            let c = views::compare(store, &q.scope, &q.period, Some(lines.clone()))
                .await
                .expect("compare");
            let mut rows: Vec<(String, Value)> = c
                .rows
                .iter()
                .map(|r| {
                    let (cur, prev) = (&r.current, &r.previous);
                    (
                        r.phone_number.clone(),
                        json!([
                            r.phone_number,
                            cur.figures.calls,
                            cur.figures.answered,
                            cur.figures.missed,
                            cur.figures.total_talk_seconds,
                            cur.unique_callers,
                            prev.figures.calls,
                            prev.figures.answered,
                            prev.figures.missed,
                            prev.figures.total_talk_seconds,
                            prev.unique_callers,
                        ]),
                    )
                })
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            json!({ "rows": rows.into_iter().map(|r| r.1).collect::<Vec<_>>() })
        }
    }
}

/// A connection for naive SQL over the raw `calls` table, on either engine.
pub enum Naive {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// A result row: the first `keys` columns as text, the rest as integers.
type Row = (Vec<Option<String>>, Vec<i64>);

impl Naive {
    pub async fn connect(url: &str) -> Naive {
        if url.starts_with("postgres") {
            Naive::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .connect(url)
                    .await
                    .expect("connect to PostgreSQL"),
            )
        } else {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("sqlite url");
            Naive::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(opts)
                    .await
                    .expect("open SQLite"),
            )
        }
    }

    pub async fn rows(&self, sql: String, keys: usize) -> Vec<Row> {
        use sqlx::Row as _;
        macro_rules! decode {
            ($pool:expr) => {{
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .fetch_all($pool)
                    .await
                    .unwrap_or_else(|e| panic!("naive SQL failed: {e}\n{sql}"));
                rows.iter()
                    .map(|r| {
                        let k = (0..keys).map(|i| r.get::<Option<String>, _>(i)).collect();
                        let n = (keys..r.len()).map(|i| r.get::<i64, _>(i)).collect();
                        (k, n)
                    })
                    .collect()
            }};
        }
        match self {
            Naive::Sqlite(p) => decode!(p),
            Naive::Postgres(p) => decode!(p),
        }
    }

    pub async fn close(&self) {
        match self {
            Naive::Sqlite(p) => p.close().await,
            Naive::Postgres(p) => p.close().await,
        }
    }
}

/// `AND phone_number IN (…)` for a scope (numbers are E.164, safe to inline).
fn scope_sql(scope: &LineScope) -> String {
    match scope {
        LineScope::All => String::new(),
        LineScope::Only(v) if v.is_empty() => " AND 1 = 0".into(),
        LineScope::Only(v) => format!(
            " AND phone_number IN ({})",
            v.iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

const COUNTS: &str = "COUNT(*), \
    CAST(COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0) AS BIGINT), \
    CAST(COALESCE(SUM(CASE WHEN direction = 'inbound' AND status IN ('no-answer', 'busy', 'failed', 'canceled') THEN 1 ELSE 0 END), 0) AS BIGINT), \
    CAST(COALESCE(SUM(CASE WHEN direction = 'inbound' AND status = 'canceled' THEN 1 ELSE 0 END), 0) AS BIGINT), \
    CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT), \
    CAST(COALESCE(SUM(CASE WHEN status = 'completed' THEN duration_seconds ELSE 0 END), 0) AS BIGINT), \
    COUNT(DISTINCT other_party)";

/// The naive answer: one aggregate over the raw `calls` table per figure set,
/// with the table's own indexes: a dashboard computed without rollups.
pub async fn naive(db: &Naive, q: &Query) -> Value {
    let s = spec_bounds(q);
    let scope = scope_sql(&q.scope);
    let range = |f: i64, t: i64| format!("started_at >= {f} AND started_at < {t}{scope}");
    match &q.kind {
        Kind::Dashboard => {
            let c = &db
                .rows(
                    format!("SELECT {COUNTS} FROM calls WHERE {}", range(s.from, s.to)),
                    0,
                )
                .await[0]
                .1;
            let today = db
                .rows(
                    format!(
                        "SELECT COUNT(*) FROM calls WHERE {}",
                        range(s.today_from, s.today_to)
                    ),
                    0,
                )
                .await[0]
                .1[0];
            let active = db
                .rows(
                    format!(
                        "SELECT COUNT(*) FROM calls WHERE status IN ('ringing', 'queued', 'in-progress') \
                         AND started_at > {}{scope}",
                        s.active_since
                    ),
                    0,
                )
                .await[0]
                .1[0];
            let top = db
                .rows(
                    format!(
                        "SELECT flow_id, COUNT(*) FROM calls WHERE flow_id IS NOT NULL AND {} \
                         GROUP BY flow_id ORDER BY 2 DESC, 1 LIMIT {TOP_FLOWS}",
                        range(s.from, s.to)
                    ),
                    1,
                )
                .await;
            json!({
                "calls": c[0], "answered": c[1], "missed": c[2], "abandoned": c[3],
                "failed": c[4], "talk": c[5], "unique": c[6],
                "today": today, "active": active,
                "top": top.iter().map(|(k, n)| json!([k[0], n[0]])).collect::<Vec<_>>(),
            })
        }
        Kind::TimeseriesHour => {
            let rows = db
                .rows(
                    format!(
                        "SELECT CAST((started_at - {f}) / 3600 AS BIGINT) AS h, {COUNTS} FROM calls WHERE {} \
                         GROUP BY 1 ORDER BY 1",
                        range(s.from, s.to),
                        f = s.from
                    ),
                    0,
                )
                .await;
            let rows: Vec<Value> = rows
                .iter()
                .map(|(_, n)| json!([n[0], n[1], n[2], n[3], n[6]]))
                .collect();
            json!({ "buckets": rows })
        }
        Kind::BreakdownFlow => {
            let mut rows = db
                .rows(
                    format!(
                        "SELECT flow_id, {COUNTS} FROM calls WHERE {} GROUP BY flow_id",
                        range(s.from, s.to)
                    ),
                    1,
                )
                .await;
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            let rows: Vec<Value> = rows
                .iter()
                .map(|(k, n)| json!([k[0], n[0], n[1], n[2], n[5]]))
                .collect();
            json!({ "rows": rows })
        }
        Kind::Compare(lines) => {
            let per = |f: i64, t: i64| {
                format!(
                    "SELECT phone_number, {COUNTS} FROM calls WHERE {} GROUP BY phone_number",
                    range(f, t)
                )
            };
            let cur: BTreeMap<Option<String>, Vec<i64>> = db
                .rows(per(s.from, s.to), 1)
                .await
                .into_iter()
                .map(|(k, n)| (k[0].clone(), n))
                .collect();
            let prev: BTreeMap<Option<String>, Vec<i64>> = db
                .rows(per(s.prev_from, s.prev_to), 1)
                .await
                .into_iter()
                .map(|(k, n)| (k[0].clone(), n))
                .collect();
            let mut lines = lines.clone();
            lines.sort();
            let zero = vec![0; 7];
            let rows: Vec<Value> = lines
                .iter()
                .map(|l| {
                    let c = cur.get(&Some(l.clone())).unwrap_or(&zero);
                    let p = prev.get(&Some(l.clone())).unwrap_or(&zero);
                    json!([
                        l, c[0], c[1], c[2], c[5], c[6], p[0], p[1], p[2], p[5], p[6]
                    ])
                })
                .collect();
            json!({ "rows": rows })
        }
    }
}

struct Bounds {
    from: i64,
    to: i64,
    today_from: i64,
    today_to: i64,
    active_since: i64,
    prev_from: i64,
    prev_to: i64,
}

fn spec_bounds(q: &Query) -> Bounds {
    let (from, to) = q.period.second_bounds();
    let (today_from, today_to) =
        Period::today(&q.period.tz, &q.period.tz_name, now()).second_bounds();
    let (prev_from, prev_to) = q.period.previous().second_bounds();
    Bounds {
        from,
        to,
        today_from,
        today_to,
        active_since: now().as_second() - ACTIVE_WINDOW_SECONDS,
        prev_from,
        prev_to,
    }
}

/// Where two answers differ, briefly (for reports and assertion messages);
/// `None` when they are equal.
pub fn diff(want: &Value, got: &Value) -> Option<String> {
    if want == got {
        return None;
    }
    let (w, g) = (want.to_string(), got.to_string());
    let at = w
        .bytes()
        .zip(g.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let lo = at.saturating_sub(60);
    let cut = |s: &str| s.chars().skip(lo).take(160).collect::<String>();
    Some(format!("linewise …{}… vs …{}…", cut(&w), cut(&g)))
}
