//! Property test: random calls posted through the API, then dashboard
//! figures for random filters, periods and timezones, compared with an
//! oracle written here by plain iteration over the generated records.
//!
//! One server per engine takes every case; the oracle mirrors everything
//! posted so far (including re-sent calls that update earlier ones), so "no
//! filter" questions cover the whole accumulated data set. `model.rs` is
//! the oracle; this file asks the server and compares.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::helpers::*;

mod model;
use model::*;

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
