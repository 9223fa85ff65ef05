//! The embedded engine: one SQLite file in WAL mode with foreign keys on,
//! its write-ahead log copied back by a task beside the writers ([`checkpointer`]).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// SQLite behind the [`Store`](super::Store) trait.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Every committed caller's id, for the rollups' bitmaps (a book: see
    /// [`super::callers`]).
    callers: super::callers::CallerIds,
    /// SQLite has one writer at a time. Writers of this process queue here
    /// in arrival order; left to SQLite's busy handler, which retries with
    /// growing sleeps, a steady writer (batch imports) starved the webhook
    /// batcher for over a second. Other processes still meet the busy timeout.
    write_turns: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// Whether an import's rollups are worked out on a second connection
    /// while its writer inserts the calls: a file's, not an in-memory
    /// database's (`sqlite::memory:` or `?mode=memory`: its connections
    /// share one cache and lock tables).
    beside: bool,
    /// Batches rolled up that way (a test asserts the path is taken).
    rolled_up_beside: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The background checkpointer, stopped with the last clone.
    _checkpointer: std::sync::Arc<AbortOnDrop>,
}

impl SqliteStore {
    /// Opens (creating when missing) the file a `sqlite://` URL names and migrates it.
    pub async fn connect(url: &str) -> super::StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| super::StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // 64 MiB of page cache a connection (SQLite's default is 2 MiB):
            // the indexes of a few million calls stay in memory while an
            // import writes them. Reads map the file instead of copying it,
            // all of it (up to the 1 TiB this build allows: .cargo/config.toml
            // raises SQLite's default cap of 2 GiB). When 10 M calls' rollups,
            // written last, lay beyond a smaller map, every caller set was
            // read with a system call a page.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "1099511627776")
            // The write-ahead log is checkpointed by [`checkpointer`], beside
            // the writers. A commit checkpoints on its own only past
            // 10 000 pages (40 MB), should that task fall behind.
            .pragma("wal_autocheckpoint", BACKSTOP_PAGES.to_string())
            // sqlx's worker thread hands rows over through a channel of 50:
            // a period's rollup rows (hundreds) or a batch's inserted keys
            // (500) made it stop and wake the reader every 50 rows.
            .row_buffer_size(1024);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(super::sql::classify)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let turns: std::sync::Arc<tokio::sync::Mutex<()>> = Default::default();
        let checkpoints = tokio::spawn(checkpointer(pool.clone(), turns.clone()));
        SqliteStore {
            pool,
            callers: super::callers::CallerIds::book(),
            write_turns: Some(turns),
            beside: super::sqlite_path(url).is_some() && !url.contains("mode=memory"),
            rolled_up_beside: Default::default(),
            _checkpointer: std::sync::Arc::new(AbortOnDrop(checkpoints)),
        }
        .prepare()
        .await
    }
}

/// A commit checkpoints the write-ahead log itself only past this many
/// pages, should [`checkpointer`] fall behind.
const BACKSTOP_PAGES: u32 = 10_000;
/// How often [`checkpointer`] copies the write-ahead log into the file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the write-ahead log back into the database file every
/// [`CHECKPOINT_EVERY`], beside the writers instead of inside their commits.
///
/// Left to SQLite, the commit that takes the log past its mark copies the
/// log back and syncs the file before it returns: every callback waiting on
/// that commit, and every one queued behind it, waited 5-14 ms more (about
/// 10 times a second at 5 000 callbacks/s, bench/webhooks.sh). A passive
/// checkpoint here runs while writers go on appending. SQLite starts the log
/// afresh only when a writer begins with every frame copied back, which a
/// steady stream of writers never does (each began before the checkpoint
/// ended), so the log grew to the backstop. So once the bulk is copied, the
/// few frames committed meanwhile are copied in a writer's turn (no write
/// transaction of this process is open then; ~3 ms at 5 000 callbacks/s),
/// and the next writer starts the log from its beginning.
async fn checkpointer(pool: SqlitePool, turns: std::sync::Arc<tokio::sync::Mutex<()>>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The log's length after the last checkpoint in a writer's turn.
    let mut last = None;
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let began = std::time::Instant::now();
        let log = match checkpoint(&pool).await {
            Ok((log, _)) => log,
            Err(e) => {
                tracing::debug!(cause = %e, "checkpoint failed");
                continue;
            }
        };
        // Nothing written since the last look; or -1: not in WAL mode (an
        // in-memory database), so there is no log to copy back.
        if log <= 0 || last == Some(log) {
            continue;
        }
        let beside = began.elapsed();
        let turn = turns.lock().await;
        let waited = began.elapsed() - beside;
        let finished = checkpoint(&pool).await;
        drop(turn);
        tracing::debug!(
            log,
            beside_ms = beside.as_secs_f64() * 1e3,
            waited_ms = waited.as_secs_f64() * 1e3,
            in_turn_ms = (began.elapsed() - beside - waited).as_secs_f64() * 1e3,
            "checkpoint"
        );
        match finished {
            Ok((log, _)) => last = Some(log),
            Err(e) => tracing::debug!(cause = %e, "checkpoint failed"),
        }
    }
}

/// A passive checkpoint: the log's frames and how many of them are now in
/// the database file.
async fn checkpoint(pool: &SqlitePool) -> Result<(i64, i64), sqlx::Error> {
    let (_busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok((log, copied))
}

/// Stops a task when the last clone of its owner is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl SqliteStore {
    fn rolls_up_beside(&self) -> bool {
        self.beside
    }

    fn rolled_up_beside(&self) {
        self.rolled_up_beside
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

// Writers take the lock up front so two writers queue on the busy timeout
// instead of failing when a read lock cannot be upgraded.
super::sql::store_impl!(SqliteStore, sqlx::Sqlite, "sqlite", "BEGIN IMMEDIATE", "");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallDirection, CallStatus, E164, NewCall, Provider};
    use crate::store::Store;

    fn call(id: usize) -> NewCall {
        NewCall {
            provider: Provider::Exotel,
            provider_call_id: format!("ckpt-{id:06}"),
            phone_number: E164::from_stored("+918041234567".into()),
            other_party: Some(format!("+9198{:08}", id % 1000)),
            direction: CallDirection::Inbound,
            status: CallStatus::Completed,
            started_at: jiff::Timestamp::from_second(1_768_550_400 + id as i64).unwrap(),
            ended_at: None,
            duration_seconds: 30,
            flow_id: None,
            flow_name: None,
            recording_url: None,
            raw: serde_json::json!({}).into(),
        }
    }

    /// The log's checkpoint sequence and salts: they change when a writer
    /// starts the log afresh.
    fn log_header(wal: &std::path::Path) -> Vec<u8> {
        std::fs::read(wal).map_or_else(|_| vec![], |b| b.get(12..24).unwrap_or_default().to_vec())
    }

    /// Writers back to back (three of them, so one always waits for its
    /// turn, as the callback batcher does under load), 27 000 calls in
    /// small batches: more frames than the backstop's 10 000 pages, so left
    /// to the backstop the log file would grow to 41 MB. The checkpointer
    /// copies it back and it starts afresh from its beginning well before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steady_writers_see_the_log_checkpointed_and_started_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ckpt.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let wal = dir.path().join("ckpt.db-wal");
        store.merge_calls(&[call(0)]).await.unwrap();
        let first = log_header(&wal);
        assert_eq!(first.len(), 12, "the store runs in WAL mode");
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for b in 0..900 {
                        let n = 1 + w * 1_000_000 + b * 10;
                        let batch: Vec<NewCall> = (n..n + 10).map(call).collect();
                        store.merge_calls(&batch).await.unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        assert_ne!(log_header(&wal), first, "the log never started afresh");
        let size = std::fs::metadata(&wal).unwrap().len();
        // Left to the backstop, the file holds at least its 10 000 pages
        // (41.2 MB here without the task); a loaded debug build gave 9 - 23 MB.
        let backstop = u64::from(BACKSTOP_PAGES) * 4096;
        eprintln!("the log file grew to {size} bytes");
        assert!(
            size < backstop * 9 / 10,
            "the log grew to {size} bytes: checkpointed by the backstop, not beside the writers"
        );
    }

    /// Two processes writing one file, each with its own book of callers
    /// (a second store on the same file stands for the second process):
    /// each reads what the other appended before it appends, so a number
    /// has one id, ids stay dense, and distinct callers stay exact.
    #[tokio::test]
    async fn two_writers_share_one_log_of_callers() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("callers.db").display());
        let with_callers = |first: usize, callers: std::ops::Range<usize>| -> Vec<NewCall> {
            callers
                .enumerate()
                .map(|(k, n)| NewCall {
                    provider_call_id: format!("callers-{:06}", first + k),
                    other_party: Some(format!("+9198{n:08}")),
                    ..call(first + k)
                })
                .collect()
        };
        let ids = |pool: SqlitePool| async move {
            sqlx::query_as::<_, (String, i64)>("SELECT number, id FROM callers ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap()
        };
        let first = SqliteStore::connect(&url).await.unwrap();
        first.merge_calls(&with_callers(0, 0..600)).await.unwrap();
        let before = ids(first.pool.clone()).await;
        assert_eq!(before.len(), 600);
        // The second starts with an empty book: 300 of its numbers are
        // stored already and 300 are new, in its first chunk of 500.
        let second = SqliteStore::connect(&url).await.unwrap();
        second
            .merge_calls(&with_callers(1_000, 300..900))
            .await
            .unwrap();
        // The first's book ends at 600: it must read 601..900 first.
        first
            .merge_calls(&with_callers(2_000, 850..1_000))
            .await
            .unwrap();
        // And one call at a time (a webhook's path), back on the second.
        second
            .upsert_calls(&with_callers(3_000, 990..991))
            .await
            .unwrap();
        second
            .upsert_calls(&with_callers(3_001, 1_000..1_001))
            .await
            .unwrap();
        let after = ids(second.pool.clone()).await;
        assert_eq!(&after[..600], &before[..], "stored callers keep their ids");
        let numbers: std::collections::BTreeSet<&String> = after.iter().map(|(n, _)| n).collect();
        assert_eq!(numbers.len(), after.len(), "a number has one id");
        assert_eq!(after.len(), 1_001);
        let dense: Vec<i64> = (1..=1_001).collect();
        assert_eq!(after.iter().map(|(_, id)| *id).collect::<Vec<_>>(), dense);
        for store in [&first, &second] {
            assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
            let all = store
                .tally(&crate::store::LineScope::All, 0, 4_000_000_000, false)
                .await
                .unwrap();
            assert_eq!(all[""].unique_callers, 1_001);
            assert_eq!(all[""].calls, 600 + 600 + 150 + 2);
            // Cut inside the first slot (its raw rows read, their callers
            // looked up in the book): the first call and its caller drop out.
            let start = 1_768_550_400;
            let cut = store
                .tally(
                    &crate::store::LineScope::All,
                    start + 1,
                    4_000_000_000,
                    false,
                )
                .await
                .unwrap();
            assert_eq!(
                (cut[""].calls, cut[""].unique_callers),
                (600 + 600 + 150 + 2 - 1, 1_000)
            );
        }
    }

    /// A batch as large as an import's (its calls rolled up to their rows
    /// on another thread) leaves rollups equal to a rebuild from the calls.
    #[tokio::test]
    async fn a_large_batch_rolls_up_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("large.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        // 3 000 calls, one every 7 minutes over two weeks, on three lines,
        // from 500 callers: over 1 000 slot rows.
        let lines = ["+918041234567", "+918041234568", "+918041234569"];
        let calls: Vec<NewCall> = (0..3_000)
            .map(|i| NewCall {
                provider_call_id: format!("large-{i:05}"),
                phone_number: E164::from_stored(lines[i % 3].into()),
                other_party: Some(format!("+9198{:08}", i % 500)),
                status: if i % 4 == 0 {
                    CallStatus::NoAnswer
                } else {
                    CallStatus::Completed
                },
                started_at: jiff::Timestamp::from_second(1_768_550_400 + 420 * i as i64).unwrap(),
                ..call(i)
            })
            .collect();
        let mut probe = crate::store::rollup::Delta::default();
        for c in &calls {
            probe.insert(&crate::store::rollup::Fact::of(c));
        }
        assert!(probe.gathers_apart(), "the batch is gathered apart");
        let out = store.merge_calls(&calls).await.unwrap();
        assert_eq!(out.created, 3_000);
        assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
        let all = crate::store::LineScope::All;
        let counts = store
            .call_counts(&all, 1_768_550_400, 1_768_550_400 + 420 * 3_000)
            .await
            .unwrap();
        assert_eq!((counts.calls, counts.answered), (3_000, 2_250));
    }

    /// An import's batches of new calls roll up on a second connection
    /// beside the inserts; a batch with stored calls among them rolls up
    /// after its writes instead. Either way the rollups equal a rebuild
    /// from the calls, caller sets kept apart included, and an in-memory
    /// database (whose connections share locks) never rolls up beside.
    #[tokio::test]
    async fn import_batches_roll_up_beside_the_inserts_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("beside.db").display());
        let lines = ["+918041234567", "+918041234568"];
        // A call a minute over two days, 1 200 callers: day rows hold sets
        // large enough to be kept apart in `rollup_sets`.
        let batch = |from: usize, n: usize, callers: usize| -> Vec<NewCall> {
            (from..from + n)
                .map(|i| NewCall {
                    provider_call_id: format!("beside-{i:06}"),
                    phone_number: E164::from_stored(lines[i % 2].into()),
                    other_party: Some(format!("+9198{:08}", (i * 7) % callers)),
                    started_at: jiff::Timestamp::from_second(1_768_550_400 + 60 * i as i64)
                        .unwrap(),
                    ..call(i)
                })
                .collect()
        };
        let beside = |s: &SqliteStore| {
            s.rolled_up_beside
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let store = SqliteStore::connect(&url).await.unwrap();
        let first = batch(0, 3_000, 1_200);
        assert_eq!(store.merge_calls(&first).await.unwrap().created, 3_000);
        assert_eq!(beside(&store), 1, "new calls roll up beside");
        let (sets,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM rollup_sets")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(sets > 0, "some caller sets are kept apart");
        // New calls whose callers are partly stored already, partly new.
        assert_eq!(
            store
                .merge_calls(&batch(3_000, 2_500, 1_700))
                .await
                .unwrap()
                .created,
            2_500
        );
        assert_eq!(beside(&store), 2);
        assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
        // Stored calls changed (longer talk; ten by another caller, which
        // recounts their buckets' callers), with new calls after them.
        let mut mixed = batch(4_000, 3_000, 1_700);
        for (k, c) in mixed[..1_000].iter_mut().enumerate() {
            c.duration_seconds = 90;
            if k < 10 {
                c.other_party = Some("+919900000001".into());
            }
        }
        let out = store.merge_calls(&mixed).await.unwrap();
        assert_eq!(
            (out.created, out.updated, out.unchanged),
            (1_500, 1_000, 500)
        );
        assert_eq!(beside(&store), 2, "stored calls roll up after the writes");
        assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
        let all = crate::store::LineScope::All;
        let total = store.tally(&all, 0, 4_000_000_000, false).await.unwrap();
        assert_eq!(total[""].calls, 7_000);
        assert_eq!(total[""].talk_seconds, 7_000 * 30 + 1_000 * 60);
        assert_eq!(total[""].unique_callers, 1_701);
        // Upserts (the last record of a call wins) roll up beside their
        // inserts too when every call is new, and after them when not.
        let fresh = batch(7_000, 2_500, 1_700);
        assert_eq!(store.upsert_calls(&fresh).await.unwrap().created, 2_500);
        assert_eq!(beside(&store), 3, "new calls' upsert rolls up beside");
        let mut again = batch(9_500, 2_500, 1_700);
        for c in &mut again[..100] {
            c.provider_call_id = c.provider_call_id.replace("beside-009", "beside-007");
        }
        let up = store.upsert_calls(&again).await.unwrap();
        assert_eq!((up.created, up.updated), (2_400, 100));
        assert_eq!(beside(&store), 3, "stored calls roll up after the writes");
        assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
        let upserted = store.tally(&all, 0, 4_000_000_000, false).await.unwrap();
        assert_eq!(upserted[""].calls, 7_000 + 2_500 + 2_400);
        // The same batches into an in-memory database: the same figures,
        // rolled up after the writes.
        let memory = SqliteStore::connect("sqlite::memory:").await.unwrap();
        for b in [first, batch(3_000, 2_500, 1_700), mixed] {
            memory.merge_calls(&b).await.unwrap();
        }
        assert_eq!(beside(&memory), 0);
        assert_eq!(memory.rollup_drift().await.unwrap(), Vec::<String>::new());
        let again = memory.tally(&all, 0, 4_000_000_000, false).await.unwrap();
        assert_eq!(
            (
                again[""].calls,
                again[""].talk_seconds,
                again[""].unique_callers
            ),
            (
                total[""].calls,
                total[""].talk_seconds,
                total[""].unique_callers
            )
        );
    }

    /// The checkpointer stops with the last clone of its store.
    #[tokio::test]
    async fn the_checkpointer_stops_with_its_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("stop.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let task = store._checkpointer.0.abort_handle();
        let copy = store.clone();
        drop(store);
        tokio::time::sleep(CHECKPOINT_EVERY * 2).await;
        assert!(!task.is_finished(), "a clone of the store is still in use");
        drop(copy);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(task.is_finished());
    }
}
