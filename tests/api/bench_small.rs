//! The analytics benchmark's harness at a tiny size, so it never rots: the
//! generator loads through `Store::upsert_calls`, and linewise's answer to
//! every query of the mix equals naive SQL over the raw `calls` table (on
//! SQLite, and on PostgreSQL when `LINEWISE_TEST_POSTGRES_URL` is set).
//! Times are not checked here; `cargo bench --bench analytics` measures them.

#[path = "../../bench/analytics/mix.rs"]
mod mix;
#[path = "../../bench/analytics/traffic.rs"]
mod traffic;

use crate::helpers::{Backend, fresh_database};

const CALLS: u64 = 20_000;

async fn mix_agrees_with_naive_sql(backend: Backend) {
    let Some((url, _dir)) = fresh_database(backend).await else {
        return;
    };
    let store = linewise::store::open(&url).await.expect("open store");
    traffic::load(store.as_ref(), CALLS, |_| {})
        .await
        .expect("load");
    // Loading again changes nothing (the generator is deterministic).
    traffic::load(store.as_ref(), CALLS, |_| {})
        .await
        .expect("reload");
    let naive = mix::Naive::connect(&url).await;
    let queries = mix::build(store.as_ref()).await;
    assert_eq!(queries.len(), 7);
    for q in &queries {
        let want = mix::linewise(store.as_ref(), q).await;
        let got = mix::naive(&naive, q).await;
        if let Some(d) = mix::diff(&want, &got) {
            panic!("{backend:?} {}: {d}", q.name);
        }
        // The data exercises what the query is about.
        match &want {
            serde_json::Value::Object(m) if m.contains_key("calls") => {
                assert!(m["calls"].as_i64().unwrap() > 0, "{}: no calls", q.name);
                assert!(
                    !m["top"].as_array().unwrap().is_empty(),
                    "{}: no flows",
                    q.name
                );
            }
            serde_json::Value::Object(m) => {
                let rows = m.values().next().unwrap().as_array().unwrap();
                assert!(rows.len() > 1, "{}: {want}", q.name);
            }
            _ => unreachable!(),
        }
    }
    naive.close().await;
}

#[tokio::test]
async fn bench_mix_agrees_with_naive_sql_on_sqlite() {
    mix_agrees_with_naive_sql(Backend::Sqlite).await;
}

#[tokio::test]
async fn bench_mix_agrees_with_naive_sql_on_postgres() {
    mix_agrees_with_naive_sql(Backend::Postgres).await;
}

#[test]
fn generator_is_deterministic_and_realistic() {
    let a = traffic::Traffic::new(CALLS).next_batch();
    let b = traffic::Traffic::new(CALLS).next_batch();
    assert_eq!(a, b);
    let lines: std::collections::HashSet<&str> =
        a.iter().map(|c| c.phone_number.as_str()).collect();
    assert!(lines.len() > 30, "most lines get calls: {}", lines.len());
    let callers: std::collections::HashSet<&Option<String>> =
        a.iter().map(|c| &c.other_party).collect();
    assert!(callers.len() < a.len(), "callers repeat");
    for c in &a {
        assert!(c.started_at.as_second() < traffic::END);
        assert!(c.started_at.as_second() >= traffic::END - traffic::DAYS * 86_400);
    }
}
