//! A cache in front of any [`Store`]: analytics reads (and the line and
//! group lists they resolve filters with) are answered from memory until the
//! next write.
//!
//! Every cached answer is keyed by the store's *data version*. A write
//! through this node bumps it after it commits; with PostgreSQL the write
//! also sends `NOTIFY linewise_changes`, and every node `LISTEN`s and bumps
//! its own version when one arrives (or when its listening connection was
//! lost, since a notification may have been missed). Nothing is ever served
//! from an older version, so there is no time-based staleness to tune.
//!
//! Users (read on every authenticated request) are cached the same way under
//! a second version, the *registry version*, which only writes to users,
//! lines and groups bump (a line's deletion changes who may see it), so a
//! steady stream of calls does not empty it. Those writes announce
//! themselves as `registry`, calls as `calls`; a node that hears anything
//! else, or lost its listening connection, bumps both. A password change or
//! a deactivation therefore bites on this node at once and on the others
//! when the notification arrives. Settings are never cached.
//!
//! Ingest keys (looked up on every provider callback: at 5 000 callbacks/s
//! about half the statements the database ran) are cached under
//! the registry version too, so creating or revoking one through any node
//! bites as a user change does. On SQLite a lookup is also reused for at
//! most [`KEY_TTL`]: a second server process on one SQLite file cannot tell
//! this one about a key it revoked, and the log it writes cannot tell a
//! revocation from a call. On PostgreSQL the notification (or the bump when
//! the listening connection was lost) is what ends it; [`KEY_TTL_NOTIFIED`]
//! is only a backstop.
//!
//! SQLite has no notifications, but another process (a `linewise import`
//! beside the server) may write the file. Every commit, by any process,
//! rewrites the wal-index header in the `-shm` file, so the user lookup
//! that every signed-in request begins with first reads that header (a
//! `stat` and a 96-byte read) and bumps both versions when it differs from
//! the last one seen: another process's commit is in this node's very next
//! answer (see `sqlite::CommitWatch`). The cached reads that follow in the
//! same request answer as of that look; looking again before each of them
//! cost cached dashboards over HTTP about a fifth of their rate.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::*;

/// The channel nodes announce writes on.
pub const CHANNEL: &str = "linewise_changes";
/// The payload of a write to calls only.
const CALLS: &str = "calls";
/// The payload of a write to users, lines, groups or ingest keys.
const REGISTRY: &str = "registry";
/// The longest an ingest key's lookup is reused on SQLite.
pub const KEY_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest an ingest key's lookup is reused on PostgreSQL, where other
/// nodes' revocations arrive as notifications: a backstop only. Long
/// enough that a node refusing a revoked key within seconds shows the
/// notification arrived (`tests/api/nodes.rs`).
pub const KEY_TTL_NOTIFIED: std::time::Duration = std::time::Duration::from_secs(60);

type Entry = Arc<dyn Any + Send + Sync>;

/// Cache hits and misses since start, for operators (`/metrics`).
#[derive(Debug, Default, Clone)]
pub struct CacheStats {
    pub hits: prometheus_client::metrics::counter::Counter,
    pub misses: prometheus_client::metrics::counter::Counter,
}

pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: moka::sync::Cache<String, Entry>,
    version: Arc<AtomicU64>,
    users: moka::sync::Cache<(u64, i64), UserRow>,
    /// Whether a token was signed out, by registry version and fingerprint.
    revoked: moka::sync::Cache<(u64, String), bool>,
    /// Ingest key lookups (found or not) by registry version and key hash.
    keys: moka::sync::Cache<(u64, String), Option<IngestKeyRow>>,
    registry_version: Arc<AtomicU64>,
    /// SQLite: the wal-index, where every process's commits show.
    wal: Option<sqlite::CommitWatch>,
    /// PostgreSQL: where writes are announced to the other nodes.
    notify: Option<sqlx::PgPool>,
    pub stats: CacheStats,
}

impl CachedStore {
    /// Wraps `inner`; with a PostgreSQL `url`, also listens for other
    /// nodes' writes (the listener runs until the process ends).
    pub async fn wrap(inner: Arc<dyn Store>, url: &str) -> StoreResult<CachedStore> {
        let version = Arc::new(AtomicU64::new(0));
        let registry_version = Arc::new(AtomicU64::new(0));
        let notify = if inner.engine() == "postgres" {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                // An announcement waits no longer than this for a connection
                // while the database is down (see `changed`).
                .acquire_timeout(std::time::Duration::from_secs(2))
                .connect(url)
                .await
                .map_err(sql::classify)?;
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
                .await
                .map_err(sql::classify)?;
            listener.listen(CHANNEL).await.map_err(sql::classify)?;
            let v = version.clone();
            let r = registry_version.clone();
            tokio::spawn(async move {
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) if n.payload() == CALLS => {
                            v.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Some(_)) => {
                            r.fetch_add(1, Ordering::SeqCst);
                            v.fetch_add(1, Ordering::SeqCst);
                        }
                        // The connection was lost; it reconnects on the next
                        // call. Whatever was said meanwhile is unknown.
                        Ok(None) => {
                            r.fetch_add(1, Ordering::SeqCst);
                            v.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            r.fetch_add(1, Ordering::SeqCst);
                            v.fetch_add(1, Ordering::SeqCst);
                            tracing::warn!(cause = %e, "change listener failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        }
                    }
                }
            });
            Some(pool)
        } else {
            None
        };
        let key_ttl = if notify.is_some() {
            KEY_TTL_NOTIFIED
        } else {
            KEY_TTL
        };
        let wal = (inner.engine() == "sqlite" && !url.contains("mode=memory"))
            .then(|| sqlite_path(url))
            .flatten()
            .map(|p| sqlite::CommitWatch::new(&p));
        Ok(CachedStore {
            inner,
            cache: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
            version,
            keys: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(key_ttl)
                .build(),
            users: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
            revoked: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
            registry_version,
            wal,
            notify,
            stats: Default::default(),
        })
    }

    /// Bumps both versions when anything was committed to the SQLite file
    /// since the last look (by this process too: its own writes bumped
    /// them already). The bump lands before any other look returns, so no
    /// read goes on under the old versions.
    fn notice_other_writers(&self) {
        if let Some(wal) = &self.wal {
            wal.look(|| {
                self.registry_version.fetch_add(1, Ordering::SeqCst);
                self.version.fetch_add(1, Ordering::SeqCst);
            });
        }
    }

    /// The data version answers are keyed by.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    async fn cached<T, F>(&self, key: String, load: F) -> StoreResult<T>
    where
        T: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = StoreResult<T>>,
    {
        let version = self.version();
        let key = format!("{version}|{key}");
        if let Some(hit) = self
            .cache
            .get(&key)
            .and_then(|e| e.downcast_ref::<T>().cloned())
        {
            self.stats.hits.inc();
            return Ok(hit);
        }
        self.stats.misses.inc();
        let value = load.await?;
        // A write that landed while loading may or may not be in the value:
        // keep it only when none did.
        if self.version() == version {
            self.cache.insert(key, Arc::new(value.clone()));
        }
        Ok(value)
    }

    /// After a write to calls: drop this node's answers and tell the others.
    async fn changed<T>(&self, result: StoreResult<T>) -> StoreResult<T> {
        self.announce(result, CALLS).await
    }

    /// After a write to users, lines, groups or ingest keys: drop this
    /// node's answers, users and keys, and tell the others.
    async fn registry_changed<T>(&self, result: StoreResult<T>) -> StoreResult<T> {
        self.registry_version.fetch_add(1, Ordering::SeqCst);
        self.announce(result, REGISTRY).await
    }

    async fn announce<T>(&self, result: StoreResult<T>, what: &str) -> StoreResult<T> {
        self.version.fetch_add(1, Ordering::SeqCst);
        // A failed write changed nothing to announce; while the database is
        // down, announcing would only delay its 503.
        if let (Some(pool), true) = (&self.notify, result.is_ok()) {
            // The write has committed either way; a lost notification only
            // costs other nodes freshness until their listener reconnects.
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(what)
                .execute(pool)
                .await
            {
                tracing::warn!(cause = %e, "could not announce a change to other nodes");
            }
        }
        result
    }
}

fn scope_key(s: &LineScope) -> String {
    match s {
        LineScope::All => "*".into(),
        LineScope::Only(v) => v.join(","),
    }
}

#[async_trait]
impl Store for CachedStore {
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }

    async fn list_phone_numbers(&self, include_inactive: bool) -> StoreResult<Vec<PhoneNumberRow>> {
        self.cached(
            format!("lines|{include_inactive}"),
            self.inner.list_phone_numbers(include_inactive),
        )
        .await
    }
    async fn get_phone_number(&self, id: i64) -> StoreResult<PhoneNumberRow> {
        self.inner.get_phone_number(id).await
    }
    async fn primary_phone_number(&self) -> StoreResult<Option<PhoneNumberRow>> {
        self.inner.primary_phone_number().await
    }
    async fn upsert_phone_number(
        &self,
        number: &str,
        changes: PhoneNumberChanges,
        audit: Audit<'_>,
    ) -> StoreResult<(PhoneNumberRow, bool)> {
        let r = self.inner.upsert_phone_number(number, changes, audit).await;
        self.registry_changed(r).await
    }
    async fn update_phone_numbers(
        &self,
        updates: Vec<(i64, PhoneNumberChanges)>,
        audit: Audit<'_>,
    ) -> StoreResult<Vec<PhoneNumberRow>> {
        let r = self.inner.update_phone_numbers(updates, audit).await;
        self.registry_changed(r).await
    }
    async fn delete_phone_number(&self, id: i64, audit: Audit<'_>) -> StoreResult<()> {
        let r = self.inner.delete_phone_number(id, audit).await;
        self.registry_changed(r).await
    }
    async fn discover_phone_numbers(&self, audit: Audit<'_>) -> StoreResult<(u64, u64)> {
        let r = self.inner.discover_phone_numbers(audit).await;
        self.registry_changed(r).await
    }

    async fn list_groups(&self) -> StoreResult<Vec<GroupRow>> {
        self.cached("groups".into(), self.inner.list_groups()).await
    }
    async fn get_group(&self, id: i64) -> StoreResult<GroupRow> {
        self.inner.get_group(id).await
    }
    async fn create_group(
        &self,
        name: &str,
        description: Option<&str>,
        phone_number_ids: &[i64],
        audit: Audit<'_>,
    ) -> StoreResult<GroupRow> {
        let r = self
            .inner
            .create_group(name, description, phone_number_ids, audit)
            .await;
        self.registry_changed(r).await
    }
    async fn update_group(
        &self,
        id: i64,
        changes: GroupChanges,
        audit: Audit<'_>,
    ) -> StoreResult<GroupRow> {
        let r = self.inner.update_group(id, changes, audit).await;
        self.registry_changed(r).await
    }
    async fn delete_group(&self, id: i64, audit: Audit<'_>) -> StoreResult<()> {
        let r = self.inner.delete_group(id, audit).await;
        self.registry_changed(r).await
    }
    async fn add_group_members(
        &self,
        id: i64,
        phone_number_ids: &[i64],
        audit: Audit<'_>,
    ) -> StoreResult<GroupRow> {
        let r = self
            .inner
            .add_group_members(id, phone_number_ids, audit)
            .await;
        self.registry_changed(r).await
    }
    async fn remove_group_member(
        &self,
        id: i64,
        phone_number_id: i64,
        audit: Audit<'_>,
    ) -> StoreResult<GroupRow> {
        let r = self
            .inner
            .remove_group_member(id, phone_number_id, audit)
            .await;
        self.registry_changed(r).await
    }

    async fn upsert_calls(&self, calls: &[NewCall]) -> StoreResult<UpsertOutcome> {
        let r = self.inner.upsert_calls(calls).await;
        self.changed(r).await
    }
    async fn merge_calls(&self, calls: &[NewCall]) -> StoreResult<MergeOutcome> {
        let r = self.inner.merge_calls(calls).await;
        self.changed(r).await
    }
    async fn list_calls(&self, scope: &LineScope, q: &CallQuery) -> StoreResult<Vec<CallRow>> {
        self.inner.list_calls(scope, q).await
    }
    async fn call_counts(&self, scope: &LineScope, from: i64, to: i64) -> StoreResult<CallCounts> {
        self.cached(
            format!("counts|{}|{from}|{to}", scope_key(scope)),
            self.inner.call_counts(scope, from, to),
        )
        .await
    }
    async fn live_calls(&self, scope: &LineScope, since: i64) -> StoreResult<i64> {
        self.cached(
            format!("live|{}|{since}", scope_key(scope)),
            self.inner.live_calls(scope, since),
        )
        .await
    }
    async fn top_flows(
        &self,
        scope: &LineScope,
        from: i64,
        to: i64,
        limit: i64,
    ) -> StoreResult<Vec<FlowCounts>> {
        self.cached(
            format!("flows|{}|{from}|{to}|{limit}", scope_key(scope)),
            self.inner.top_flows(scope, from, to, limit),
        )
        .await
    }
    async fn slot_counts(
        &self,
        scope: &LineScope,
        from: i64,
        to: i64,
        base: i64,
    ) -> StoreResult<Vec<SlotCounts>> {
        self.cached(
            format!("slots|{}|{from}|{to}|{base}", scope_key(scope)),
            self.inner.slot_counts(scope, from, to, base),
        )
        .await
    }
    async fn grouped_counts(
        &self,
        scope: &LineScope,
        from: i64,
        to: i64,
        by: CallColumn,
    ) -> StoreResult<Vec<(Option<String>, CallCounts)>> {
        self.cached(
            format!("by|{}|{}|{from}|{to}", by.sql(), scope_key(scope)),
            self.inner.grouped_counts(scope, from, to, by),
        )
        .await
    }
    async fn flow_names(&self) -> StoreResult<HashMap<String, String>> {
        self.cached("flow-names".into(), self.inner.flow_names())
            .await
    }
    async fn rebuild_rollups(&self) -> StoreResult<u64> {
        let r = self.inner.rebuild_rollups().await;
        self.changed(r).await
    }
    async fn rollup_drift(&self) -> StoreResult<Vec<String>> {
        self.inner.rollup_drift().await
    }

    async fn warm_up(&self) -> StoreResult<()> {
        self.inner.warm_up().await
    }

    async fn count_users(&self) -> StoreResult<i64> {
        self.inner.count_users().await
    }
    async fn list_users(&self) -> StoreResult<Vec<UserRow>> {
        self.inner.list_users().await
    }
    async fn get_user(&self, id: i64) -> StoreResult<UserRow> {
        self.notice_other_writers();
        let version = self.registry_version.load(Ordering::SeqCst);
        if let Some(u) = self.users.get(&(version, id)) {
            return Ok(u);
        }
        let u = self.inner.get_user(id).await?;
        // As in `cached`: keep it only when no user write landed meanwhile.
        if self.registry_version.load(Ordering::SeqCst) == version {
            self.users.insert((version, id), u.clone());
        }
        Ok(u)
    }
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        self.inner.find_user_by_email(email).await
    }
    async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        phone_number_ids: &[i64],
        audit: Audit<'_>,
    ) -> StoreResult<UserRow> {
        let r = self
            .inner
            .create_user(email, password_hash, role, phone_number_ids, audit)
            .await;
        self.registry_changed(r).await
    }
    async fn update_user(
        &self,
        id: i64,
        changes: UserChanges,
        audit: Audit<'_>,
    ) -> StoreResult<UserRow> {
        let r = self.inner.update_user(id, changes, audit).await;
        self.registry_changed(r).await
    }
    async fn delete_user(&self, id: i64, audit: Audit<'_>) -> StoreResult<()> {
        let r = self.inner.delete_user(id, audit).await;
        self.registry_changed(r).await
    }
    async fn find_call(
        &self,
        provider: &str,
        provider_call_id: &str,
    ) -> StoreResult<Option<NewCall>> {
        self.inner.find_call(provider, provider_call_id).await
    }
    async fn revoke_token(&self, fingerprint: &str, expires_at: i64) -> StoreResult<()> {
        let r = self.inner.revoke_token(fingerprint, expires_at).await;
        self.registry_changed(r).await
    }
    async fn token_revoked(&self, fingerprint: &str) -> StoreResult<bool> {
        // Cached with the users: a sign-out is a registry write, on any node.
        // Asked right after `get_user`, whose look at other processes'
        // commits this answer's version already reflects.
        let version = self.registry_version.load(Ordering::SeqCst);
        let key = (version, fingerprint.to_string());
        if let Some(r) = self.revoked.get(&key) {
            return Ok(r);
        }
        let r = self.inner.token_revoked(fingerprint).await?;
        if self.registry_version.load(Ordering::SeqCst) == version {
            self.revoked.insert(key, r);
        }
        Ok(r)
    }

    async fn create_ingest_key(
        &self,
        name: &str,
        key_hash: &str,
        prefix: &str,
        created_by: Option<i64>,
        audit: Audit<'_>,
    ) -> StoreResult<IngestKeyRow> {
        let r = self
            .inner
            .create_ingest_key(name, key_hash, prefix, created_by, audit)
            .await;
        self.registry_changed(r).await
    }
    async fn list_ingest_keys(&self) -> StoreResult<Vec<IngestKeyRow>> {
        self.inner.list_ingest_keys().await
    }
    async fn revoke_ingest_key(&self, id: i64, audit: Audit<'_>) -> StoreResult<IngestKeyRow> {
        let r = self.inner.revoke_ingest_key(id, audit).await;
        self.registry_changed(r).await
    }
    async fn find_ingest_key(&self, key_hash: &str) -> StoreResult<Option<IngestKeyRow>> {
        let version = self.registry_version.load(Ordering::SeqCst);
        let key = (version, key_hash.to_string());
        if let Some(k) = self.keys.get(&key) {
            return Ok(k);
        }
        let k = self.inner.find_ingest_key(key_hash).await?;
        // As in `cached`: keep it only when no key write landed meanwhile.
        if self.registry_version.load(Ordering::SeqCst) == version {
            self.keys.insert(key, k.clone());
        }
        Ok(k)
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        self.inner.setting_or_insert(key, value).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRow>> {
        self.inner.list_audit(q).await
    }
    async fn backup_to(&self, path: &str) -> StoreResult<()> {
        self.inner.backup_to(path).await
    }
}
