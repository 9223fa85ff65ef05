//! Rollups stay equal to a recount of the raw calls through every kind of
//! write: inserts, later callbacks merged in, re-sent records that move a
//! call to another line, slot or caller, and a database whose calls predate
//! the rollups.

use linewise::domain::NewCall;
use linewise::domain::phone::Region;
use serde_json::{Value, json};

use crate::helpers::*;

const L1: &str = "+918041234567";
const L2: &str = "+918041234568";

fn call(id: &str, line: &str, caller: &str, at: &str, status: &str, secs: i64) -> Value {
    json!({
        "providerCallId": id, "phoneNumber": line, "otherParty": caller,
        "direction": "inbound", "status": status, "startedAt": at,
        "durationSeconds": secs, "flowId": "menu",
    })
}

fn new_call(v: Value) -> NewCall {
    NewCall::from_json(&v, Region::default()).expect("a valid call")
}

async fn dashboard(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/analytics/dashboard?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Every line's counts over March 2026 (UTC), straight from the store.
async fn march_counts(store: &dyn linewise::store::Store) -> linewise::store::CallCounts {
    store
        .call_counts(
            &linewise::store::LineScope::All,
            1_772_000_000,
            1_774_000_000,
        )
        .await
        .unwrap()
}

async fn assert_no_drift(app: &TestApp) {
    let drift = app.store.rollup_drift().await.unwrap();
    assert!(
        drift.is_empty(),
        "rollups differ from a recount: {drift:#?}"
    );
}

const MARCH: &str = "from=2026-03-01&to=2026-03-31&tz=Asia/Kolkata";

both! {
    async fn every_write_keeps_the_rollups_equal_to_a_recount(app) {
        let (status, body) = app
            .post(
                "/api/calls",
                json!([
                    call("a", L1, "+919876543210", "2026-03-10T10:07:00Z", "ringing", 0),
                    call("b", L1, "+919876543210", "2026-03-10T10:27:00Z", "completed", 60),
                    call("c", L2, "+919876543211", "2026-03-12T23:59:59Z", "no-answer", 0),
                ]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_no_drift(&app).await;
        let d = dashboard(&app, MARCH).await;
        assert_eq!((d["calls"].as_i64(), d["answered"].as_i64()), (Some(3), Some(1)));
        assert_eq!(d["uniqueCallers"], 2, "{d}");
        assert_eq!(d["missed"], 1);

        // A later callback completes call a: counts move, callers do not.
        let out = app
            .store
            .merge_calls(&[new_call(call("a", L1, "+919876543210", "2026-03-10T10:07:00Z", "completed", 30))])
            .await
            .unwrap();
        assert_eq!(out.updated, 1);
        assert_no_drift(&app).await;
        let d = dashboard(&app, MARCH).await;
        assert_eq!((d["answered"].as_i64(), d["totalTalkSeconds"].as_i64()), (Some(2), Some(90)));
        assert_eq!(d["topFlows"][0]["callCount"], 3, "{d}");

        // Re-sent with another line, caller and day: the old buckets lose
        // the call and its caller (who is still there through call b).
        let (status, body) = app
            .post("/api/calls", json!([call("a", L2, "+919876543219", "2026-03-13T04:00:00Z", "busy", 0)]))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_no_drift(&app).await;
        let d = dashboard(&app, MARCH).await;
        assert_eq!((d["calls"].as_i64(), d["uniqueCallers"].as_i64()), (Some(3), Some(3)));
        assert_eq!((d["answered"].as_i64(), d["missed"].as_i64()), (Some(1), Some(2)));
        let one = dashboard(&app, &format!("{MARCH}&phoneNumber={}", L1.replace('+', "%2B"))).await;
        assert_eq!((one["calls"].as_i64(), one["uniqueCallers"].as_i64()), (Some(1), Some(1)));

        // Call b moves away from its slot too: caller X is gone everywhere.
        app.store
            .merge_calls(&[new_call(call("b", L1, "+919876543211", "2026-03-10T10:27:00Z", "completed", 60))])
            .await
            .unwrap();
        assert_no_drift(&app).await;
        let d = dashboard(&app, MARCH).await;
        assert_eq!(d["uniqueCallers"], 2, "{d}");

        // Periods given as instants that cut slots read the raw edges.
        let cut = "from=2026-03-10T10:07:01Z&to=2026-03-12T23:59:59Z&tz=UTC";
        let d = dashboard(&app, cut).await;
        assert_eq!((d["calls"].as_i64(), d["uniqueCallers"].as_i64()), (Some(1), Some(1)), "{d}");
        let d = dashboard(&app, "from=2026-03-10T10:27:00Z&to=2026-03-13T04:00:01Z&tz=UTC").await;
        assert_eq!((d["calls"].as_i64(), d["uniqueCallers"].as_i64()), (Some(3), Some(2)), "{d}");

        // A rebuild from scratch lands on the same rows and figures.
        assert_eq!(app.store.rebuild_rollups().await.unwrap(), 3);
        assert_no_drift(&app).await;
        assert_eq!(dashboard(&app, MARCH).await["uniqueCallers"], 2);
    }

    // A bucket with hundreds of callers: its set is kept apart from the row
    // on SQLite (past INLINE_CALLERS), follows every write, and comes back
    // into the row when the bucket shrinks; hours read their slots' sets.
    async fn a_large_caller_set_is_kept_apart_and_follows_every_write(app) {
        let at = |day: u32, i: usize| format!("2026-03-{day:02}T10:{:02}:{:02}Z", i / 60, i % 60);
        let batch = |day: u32, range: std::ops::Range<usize>| -> Value {
            range
                .map(|i| call(&format!("big-{i}"), L1, &format!("+9198765{i:05}"), &at(day, i), "completed", 30))
                .collect::<Vec<_>>()
                .into()
        };
        // 800 distinct callers in one 15-minute slot of 10 March.
        let (status, body) = app.post("/api/calls", batch(10, 0..800)).await;
        assert_eq!(status, 200, "{body}");
        assert_no_drift(&app).await;
        let apart = "SELECT COUNT(*) FROM rollup_sets";
        let kept_apart = app.sql_count(apart).await;
        if app.backend == Backend::Sqlite {
            // The slot's and the day's rows, the line's and all lines'.
            assert_eq!(kept_apart, 4);
        } else {
            assert_eq!(kept_apart, 0, "PostgreSQL keeps sets inline");
        }
        let d = dashboard(&app, MARCH).await;
        assert_eq!((d["calls"].as_i64(), d["uniqueCallers"].as_i64()), (Some(800), Some(800)), "{d}");
        // A Kolkata day starts at 18:30 UTC: its hours read the slots' sets.
        let day = dashboard(&app, "from=2026-03-10&to=2026-03-11&tz=Asia/Kolkata").await;
        assert_eq!(day["uniqueCallers"], 800, "{day}");
        let cut = dashboard(&app, "from=2026-03-10T09:00:00Z&to=2026-03-10T10:05:00Z&tz=UTC").await;
        assert_eq!((cut["calls"].as_i64(), cut["uniqueCallers"].as_i64()), (Some(300), Some(300)), "{cut}");

        // 700 of the calls move to 20 March: the 10th keeps 100 callers (its
        // sets come back inline), the 20th's sets are kept apart.
        let (status, body) = app.post("/api/calls", batch(20, 100..800)).await;
        assert_eq!(status, 200, "{body}");
        assert_no_drift(&app).await;
        assert_eq!(app.sql_count(apart).await, kept_apart);
        let d = dashboard(&app, MARCH).await;
        assert_eq!((d["calls"].as_i64(), d["uniqueCallers"].as_i64()), (Some(800), Some(800)), "{d}");
        let tenth = dashboard(&app, "from=2026-03-10&to=2026-03-11&tz=Asia/Kolkata").await;
        assert_eq!((tenth["calls"].as_i64(), tenth["uniqueCallers"].as_i64()), (Some(100), Some(100)), "{tenth}");
        let both = dashboard(&app, "from=2026-03-10&to=2026-03-21&tz=Asia/Kolkata").await;
        assert_eq!(both["uniqueCallers"], 800, "{both}");

        // Callers change on the 20th: the bucket is recounted from raw rows.
        let moved: Value = (100..800)
            .map(|i| call(&format!("big-{i}"), L1, &format!("+9198766{:05}", i % 50), &at(20, i), "completed", 30))
            .collect::<Vec<_>>()
            .into();
        let (status, body) = app.post("/api/calls", moved).await;
        assert_eq!(status, 200, "{body}");
        assert_no_drift(&app).await;
        assert_eq!(dashboard(&app, MARCH).await["uniqueCallers"], 150);
        if app.backend == Backend::Sqlite {
            assert_eq!(app.sql_count(apart).await, 0, "every set is small again");
        }

        // A rebuild from scratch lands on the same rows and figures.
        assert_eq!(app.store.rebuild_rollups().await.unwrap(), 800);
        assert_no_drift(&app).await;
        assert_eq!(dashboard(&app, MARCH).await["uniqueCallers"], 150);
    }

    // One batch naming a call several times (a provider's export holds
    // every callback): the reports fold into one record in the order given,
    // each counted once as created, updated or unchanged, and the rollups
    // follow.
    async fn several_reports_of_a_call_in_one_batch_merge_in_order(app) {
        app.store
            .merge_calls(&[new_call(call("s", L2, "+919876543212", "2026-03-20T08:00:00Z", "completed", 45))])
            .await
            .unwrap();
        let batch = [
            call("n", L1, "+919876543210", "2026-03-21T09:00:00Z", "ringing", 0),
            call("s", L2, "+919876543212", "2026-03-20T08:00:00Z", "completed", 45),
            call("n", L1, "+919876543210", "2026-03-21T09:00:00Z", "completed", 70),
            call("n", L1, "+919876543210", "2026-03-21T09:00:00Z", "in-progress", 0),
            call("s", L2, "+919876543213", "2026-03-20T08:00:00Z", "completed", 90),
        ]
        .map(new_call);
        let out = app.store.merge_calls(&batch).await.unwrap();
        // n: created, then completed (updated), then a live status that
        // cannot undo it but adds its raw fields (updated); s: a repeat
        // (unchanged), then a longer talk time and another caller (updated).
        assert_eq!((out.created, out.updated, out.unchanged), (1, 3, 1), "{out:?}");
        let (status, page) = app.get("/api/calls?limit=10").await;
        assert_eq!(status, 200, "{page}");
        let n = page["items"].as_array().unwrap().iter().find(|c| c["providerCallId"] == "n").unwrap();
        assert_eq!((n["durationSeconds"].as_i64(), n["status"].as_str()), (Some(70), Some("completed")), "{n}");
        assert_no_drift(&app).await;
        let d = dashboard(&app, MARCH).await;
        assert_eq!((d["calls"].as_i64(), d["answered"].as_i64()), (Some(2), Some(2)), "{d}");
        assert_eq!(d["totalTalkSeconds"], 160, "{d}");
        let (status, page) = app.get("/api/calls?limit=10").await;
        assert_eq!(status, 200, "{page}");
        let s = page["items"].as_array().unwrap().iter().find(|c| c["providerCallId"] == "s").unwrap();
        assert_eq!((s["durationSeconds"].as_i64(), s["status"].as_str()), (Some(90), Some("completed")));

        // The same batch again: the reports change nothing in the end, so
        // every one is unchanged and nothing moves.
        let again = app.store.merge_calls(&batch).await.unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 5), "{again:?}");
        assert_no_drift(&app).await;
        assert_eq!(dashboard(&app, MARCH).await, d);
    }

    async fn a_batch_of_several_chunks_mixing_new_stored_and_repeated_calls(app) {
        // Calls are written 500 to a statement: 1 200 keys take three, and
        // the repeat of p0499 falls at the start of the second, after its
        // first record ended the first. Every third call is stored already.
        let at = |i: usize| format!("2026-03-{:02}T{:02}:{:02}:00Z", 1 + i % 28, i % 24, i % 60);
        let record = |i: usize, status: &str, secs: i64| {
            let caller = format!("+9198765{:05}", i % 700);
            new_call(call(&format!("p{i:04}"), if i.is_multiple_of(2) { L1 } else { L2 }, &caller, &at(i), status, secs))
        };
        let before: Vec<NewCall> = (0..1_200).filter(|i: &usize| i.is_multiple_of(3)).map(|i| record(i, "completed", 30)).collect();
        let out = app.store.merge_calls(&before).await.unwrap();
        assert_eq!((out.created, out.updated, out.unchanged), (400, 0, 0), "{out:?}");
        let mut batch: Vec<NewCall> = (0..1_200).map(|i| record(i, "completed", 30)).collect();
        batch.push(record(499, "completed", 95));
        let out = app.store.merge_calls(&batch).await.unwrap();
        // 800 new calls; p0499's later report lengthens it; the 400 stored
        // calls come again unchanged.
        assert_eq!((out.created, out.updated, out.unchanged), (800, 1, 400), "{out:?}");
        assert_no_drift(&app).await;
        let d = dashboard(&app, MARCH).await;
        assert_eq!((d["calls"].as_i64(), d["answered"].as_i64()), (Some(1_200), Some(1_200)), "{d}");
        assert_eq!(d["totalTalkSeconds"], 1_199 * 30 + 95, "{d}");
        assert_eq!(d["uniqueCallers"], 700, "{d}");
        let again = app.store.merge_calls(&batch).await.unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 1_201), "{again:?}");
        assert_no_drift(&app).await;
        assert_eq!(dashboard(&app, MARCH).await, d);
    }
}

/// A database written before rollups existed gets them on open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_are_built_for_calls_that_predate_them() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let store = linewise::store::open(&url).await.unwrap();
    store
        .upsert_calls(&[
            new_call(call(
                "x",
                L1,
                "+919876543210",
                "2026-03-10T10:07:00Z",
                "completed",
                10,
            )),
            new_call(call(
                "y",
                L2,
                "+919876543211",
                "2026-03-11T10:07:00Z",
                "busy",
                0,
            )),
        ])
        .await
        .unwrap();
    drop(store);
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM rollups")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let store = linewise::store::open(&url).await.unwrap();
    assert!(store.rollup_drift().await.unwrap().is_empty());
    let c = march_counts(store.as_ref()).await;
    assert_eq!((c.calls, c.answered, c.unique_callers), (2, 1, 2));
}

// A SQLite database written before migration 0009 (large caller sets inline,
// hour rows with sets of their own) is moved to the new layout when opened:
// the large sets go apart at once, hour sets are dropped, and every figure
// stays what a recount gives.
#[tokio::test]
async fn an_older_database_moves_its_large_caller_sets_apart_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("before_0009.db").display());
    let store = linewise::store::open(&url).await.unwrap();
    let calls: Vec<NewCall> = (0..800)
        .map(|i| {
            new_call(call(
                &format!("old-{i}"),
                L1,
                &format!("+9198765{i:05}"),
                &format!("2026-03-10T10:{:02}:{:02}Z", i / 60, i % 60),
                "completed",
                30,
            ))
        })
        .collect();
    store.upsert_calls(&calls).await.unwrap();
    drop(store);

    // Back to the layout before 0009: every set inline, hour rows holding
    // their slot's set, no `callers_ref`, no `rollup_sets`.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for statement in [
        "UPDATE rollups SET callers = (SELECT s.callers FROM rollup_sets s WHERE s.id = rollups.callers_ref) \
         WHERE callers_ref IS NOT NULL",
        "UPDATE rollups SET callers = COALESCE((SELECT s.callers FROM rollups s \
         WHERE s.level = 0 AND s.phone_number = rollups.phone_number AND s.bucket = rollups.bucket * 4), x'') \
         WHERE level = 2",
        "ALTER TABLE rollups DROP COLUMN callers_ref",
        "DROP TABLE rollup_sets",
        "DELETE FROM _sqlx_migrations WHERE version = 9",
    ] {
        sqlx::query(statement)
            .execute(&pool)
            .await
            .expect(statement);
    }
    let inline: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM rollups WHERE length(callers) > 700")
            .fetch_one(&pool)
            .await
            .unwrap();
    // The slot, hour and day rows of the line and of all lines.
    assert_eq!(inline, 6);
    pool.close().await;

    let store = linewise::store::open(&url).await.unwrap();
    let drift = store.rollup_drift().await.unwrap();
    assert!(drift.is_empty(), "{drift:#?}");
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (apart, big, hour_sets): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM rollup_sets), \
         (SELECT COUNT(*) FROM rollups WHERE length(callers) > 700), \
         (SELECT COUNT(*) FROM rollups WHERE level = 2 AND length(callers) > 0)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!((apart, big, hour_sets), (4, 0, 0));
    let c = march_counts(store.as_ref()).await;
    assert_eq!((c.calls, c.unique_callers), (800, 800));

    // Writes after the reopen (the caller-id cache empty): known callers
    // keep their ids, new ones take ids past every stored one.
    let more: Vec<NewCall> = (600..1_000)
        .map(|i| {
            new_call(call(
                &format!("new-{i}"),
                L2,
                &format!("+9198765{i:05}"),
                &format!("2026-03-11T10:{:02}:{:02}Z", (i - 600) / 60, i % 60),
                "completed",
                30,
            ))
        })
        .collect();
    let out = store.upsert_calls(&more).await.unwrap();
    assert_eq!(out.created, 400);
    let drift = store.rollup_drift().await.unwrap();
    assert!(drift.is_empty(), "{drift:#?}");
    let c = march_counts(store.as_ref()).await;
    assert_eq!((c.calls, c.unique_callers), (1_200, 1_000));
}

// A SQLite database written before migration 0010 (callers keyed by number,
// ids handed out from `caller_seq`) keeps every caller's id when its table
// becomes a log in id order, and new callers take the ids after the last.
#[tokio::test]
async fn an_older_database_keeps_its_caller_ids_when_callers_become_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("before_0010.db").display());
    let store = linewise::store::open(&url).await.unwrap();
    let calls = |from: usize, to: usize, line: &str, day: u32| -> Vec<NewCall> {
        (from..to)
            .map(|i| {
                new_call(call(
                    &format!("log-{day}-{i}"),
                    line,
                    &format!("+9198765{i:05}"),
                    &format!("2026-03-{day}T10:{:02}:{:02}Z", (i % 3_600) / 60, i % 60),
                    "completed",
                    30,
                ))
            })
            .collect()
    };
    store.upsert_calls(&calls(0, 500, L1, 10)).await.unwrap();
    drop(store);

    // Back to the layout before 0010 (one connection: a table is replaced).
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    for statement in [
        "CREATE TABLE old_callers (number TEXT NOT NULL PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO old_callers SELECT number, id FROM callers",
        "DROP TABLE callers",
        "ALTER TABLE old_callers RENAME TO callers",
        "CREATE TABLE caller_seq (next INTEGER NOT NULL)",
        "INSERT INTO caller_seq SELECT MAX(id) + 1 FROM callers",
        "DELETE FROM _sqlx_migrations WHERE version = 10",
    ] {
        sqlx::query(statement)
            .execute(&mut *conn)
            .await
            .expect(statement);
    }
    let before: Vec<(String, i64)> = sqlx::query_as("SELECT number, id FROM callers ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(before.len(), 500);
    drop(conn);
    pool.close().await;

    let store = linewise::store::open(&url).await.unwrap();
    // 250 known callers and 250 new ones, on another line and day.
    let out = store.upsert_calls(&calls(250, 750, L2, 11)).await.unwrap();
    assert_eq!(out.created, 500);
    let drift = store.rollup_drift().await.unwrap();
    assert!(drift.is_empty(), "{drift:#?}");
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let after: Vec<(String, i64)> = sqlx::query_as("SELECT number, id FROM callers ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let seq: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'caller_seq'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(&after[..500], &before[..], "stored callers keep their ids");
    assert_eq!(after.len(), 750);
    assert_eq!(
        after[500..].iter().map(|(_, id)| *id).collect::<Vec<_>>(),
        (501..=750).collect::<Vec<_>>()
    );
    assert_eq!(seq, 0, "ids come from the log's last; caller_seq is gone");
    let c = march_counts(store.as_ref()).await;
    assert_eq!((c.calls, c.unique_callers), (1_000, 750));
}
