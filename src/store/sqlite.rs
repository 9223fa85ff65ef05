//! The embedded engine: one SQLite file in WAL mode with foreign keys on.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// SQLite behind the [`Store`](super::Store) trait.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Caller ids already committed, for the rollups' bitmaps.
    callers: super::rollup::CallerIds,
    /// SQLite has one writer at a time. Writers of this process queue here
    /// in arrival order; left to SQLite's busy handler, which retries with
    /// growing sleeps, a steady writer (batch imports) starved the webhook
    /// batcher for over a second. Other processes still meet the busy timeout.
    write_turns: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
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
            // The write-ahead log is checkpointed every 1 000 pages (4 MB,
            // SQLite's default), inside the commit that crosses the mark.
            // At 10 000 pages each checkpoint held every callback waiting
            // on that commit for tens of milliseconds: webhook p99 40 ms
            // against 22 ms (wrk, 64 connections, bench/webhooks.sh), for
            // an import within noise of it (1 M calls, alternating runs:
            // 53 700 against 52 200 calls/s on average).
            .pragma("wal_autocheckpoint", "1000")
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
        SqliteStore {
            pool,
            callers: Default::default(),
            write_turns: Some(Default::default()),
        }
        .prepare()
        .await
    }
}

// Writers take the lock up front so two writers queue on the busy timeout
// instead of failing when a read lock cannot be upgraded.
super::sql::store_impl!(SqliteStore, sqlx::Sqlite, "sqlite", "BEGIN IMMEDIATE", "");
