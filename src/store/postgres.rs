//! PostgreSQL: the engine for several stateless linewise nodes over one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// PostgreSQL behind the [`Store`](super::Store) trait.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Caller ids already committed, for the rollups' bitmaps.
    callers: super::callers::CallerIds,
    /// None: PostgreSQL queues writers itself, row by row.
    writer_queue: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn connect(url: &str) -> super::StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| super::StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // While the database is unreachable a request waits this long
            // (sqlx retries the connection) before it is answered 503.
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(super::sql::classify)?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        PostgresStore {
            pool,
            callers: Default::default(),
            writer_queue: None,
        }
        .prepare()
        .await
    }
}

impl PostgresStore {
    /// PostgreSQL writers run concurrently: a batch's rollup rows are read
    /// (and locked) in its own transaction.
    fn rolls_up_beside_inserts(&self) -> bool {
        false
    }

    fn rolled_up_beside(&self) {}
}

super::sql::store_impl!(
    PostgresStore,
    sqlx::Postgres,
    "postgres",
    "BEGIN",
    " FOR UPDATE"
);
