//! Storage: one [`Store`] trait, implemented for SQLite and PostgreSQL.
//!
//! Both implementations are generated from one body (`sql.rs`) whose SQL is
//! written to mean the same on both engines; each engine keeps its own
//! migrations under `migrations/<engine>/`. The store knows nothing of HTTP:
//! it takes domain values and returns rows, and reports [`StoreError`].

pub mod cached;
mod callers;
mod postgres;
mod raw_codec;
pub mod rollup;
mod sql;
mod sqlite;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value;

use crate::domain::{CallDirection, CallStatus, NewCall, Role};

pub use cached::CachedStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// What can go wrong in storage, in terms the HTTP layer maps in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken; the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A value refers to something that does not exist (a line id, say).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the store a URL names: `sqlite://FILE` (created when missing) or
/// `postgres://…`. Runs the engine's migrations.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PostgresStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Unavailable(format!(
            "unsupported database URL '{}': use sqlite://FILE or postgres://…",
            url.split('@').next_back().unwrap_or(url)
        )))
    }
}

/// Creates `path` as a new, empty file only its owner may read or write
/// (mode 0600), as the SQLite database and its backups are: they hold
/// password hashes. Fails when it exists.
pub(crate) fn create_private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The file a backup is written to, created empty and private (see
/// [`create_private_file`]) for SQLite to fill; refused when it exists.
pub(crate) fn create_backup_file(path: &str) -> StoreResult<()> {
    match create_private_file(std::path::Path::new(path)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::Invalid {
            field: "file".into(),
            message: format!("'{path}' already exists; name a new file"),
        }),
        Err(e) => Err(StoreError::Invalid {
            field: "file".into(),
            message: format!("cannot create '{path}': {e}"),
        }),
    }
}

/// The file behind a `sqlite://` URL, if it is one.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(std::path::PathBuf::from(path))
    }
}

/// Which lines a read may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineScope {
    /// Every call, registered line or not.
    All,
    /// Only these business numbers (E.164); empty means nothing.
    Only(Vec<String>),
}

/// A registered business line, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumberRow {
    pub id: i64,
    pub number: String,
    pub friendly_name: Option<String>,
    pub kind: String,
    pub is_active: bool,
    pub is_primary: bool,
    pub capabilities: Value,
    pub metadata: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Fields to set on a line. `None` leaves a field as it is (or at its
/// default when the line is created); `friendly_name: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhoneNumberChanges {
    pub number: Option<String>,
    pub friendly_name: Option<Option<String>>,
    pub kind: Option<String>,
    pub is_active: Option<bool>,
    pub is_primary: Option<bool>,
    pub capabilities: Option<Value>,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub phone_number_ids: Vec<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub phone_number_ids: Option<Vec<i64>>,
}

/// A stored call record with its flow's name.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    pub id: i64,
    pub provider: String,
    pub provider_call_id: String,
    pub phone_number: String,
    pub other_party: Option<String>,
    pub direction: String,
    pub status: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub duration_seconds: i64,
    pub flow_id: Option<String>,
    pub flow_name: Option<String>,
    pub recording_url: Option<String>,
}

/// What a batch write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertOutcome {
    pub created: u64,
    pub updated: u64,
}

/// What merging reports into stored calls did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    pub created: u64,
    pub updated: u64,
    /// Reports that changed nothing (repeats).
    pub unchanged: u64,
}

/// An ingest key as stored (never the key itself).
#[derive(Debug, Clone, PartialEq)]
pub struct IngestKeyRow {
    pub id: i64,
    pub name: String,
    /// The key's first characters, so people can tell keys apart.
    pub prefix: String,
    pub created_by: Option<i64>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A page request over calls, newest first.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    /// `[from, to)` in whole seconds.
    pub period: Option<(i64, i64)>,
    /// Continue after this `(started_at, id)`.
    pub after: Option<(i64, i64)>,
    pub limit: i64,
}

/// Raw counts over a set of calls; the metrics are defined on these in
/// [`crate::analytics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub calls: i64,
    pub answered: i64,
    pub missed: i64,
    pub abandoned: i64,
    pub failed: i64,
    pub talk_seconds: i64,
    pub unique_callers: i64,
}

impl CallCounts {
    /// What one call adds to the counts: the definitions of the figures in
    /// [`crate::analytics`], in the one place they are written down.
    pub fn of(direction: CallDirection, status: CallStatus, duration_seconds: i64) -> CallCounts {
        let inbound = direction == CallDirection::Inbound;
        let answered = status == CallStatus::Completed;
        let missed = inbound
            && matches!(
                status,
                CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Failed | CallStatus::Canceled
            );
        CallCounts {
            calls: 1,
            answered: i64::from(answered),
            missed: i64::from(missed),
            abandoned: i64::from(inbound && status == CallStatus::Canceled),
            failed: i64::from(status == CallStatus::Failed),
            talk_seconds: if answered { duration_seconds } else { 0 },
            unique_callers: 0,
        }
    }
}

/// Counts over the calls of one 15-minute slot, `slot` counted from a base
/// instant. Every current timezone's hour and day boundaries fall on a slot
/// edge, so any local bucket is a whole number of slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotCounts {
    pub slot: i64,
    pub counts: CallCounts,
}

/// Length of a slot in seconds.
pub const SLOT_SECONDS: i64 = 900;

/// A column calls can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallColumn {
    Flow,
    Status,
    Direction,
    PhoneNumber,
}

impl CallColumn {
    pub fn sql(self) -> &'static str {
        match self {
            CallColumn::Flow => "flow_id",
            CallColumn::Status => "status",
            CallColumn::Direction => "direction",
            CallColumn::PhoneNumber => "phone_number",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowCounts {
    pub flow_id: String,
    pub flow_name: String,
    pub calls: i64,
    pub answered: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub is_active: bool,
    pub phone_number_ids: Vec<i64>,
    pub created_at: Timestamp,
    /// Tokens carrying another version are void: a password change or a
    /// deactivation bumps it.
    pub token_version: i64,
}

#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub phone_number_ids: Option<Vec<i64>>,
    pub password_hash: Option<String>,
}

/// Everything linewise keeps. Implemented by [`SqliteStore`] and [`PostgresStore`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn engine(&self) -> &'static str;

    // -- phone numbers
    async fn list_phone_numbers(&self, include_inactive: bool) -> StoreResult<Vec<PhoneNumberRow>>;
    async fn get_phone_number(&self, id: i64) -> StoreResult<PhoneNumberRow>;
    async fn primary_phone_number(&self) -> StoreResult<Option<PhoneNumberRow>>;
    /// Creates the line for `number` or updates the given fields of the
    /// existing one. Returns the row and whether it was created.
    ///
    /// Like every write to lines, groups, users and ingest keys below, it
    /// records the change in the audit log in its own transaction (see [`Audit`]).
    async fn upsert_phone_number(
        &self,
        number: &str,
        changes: PhoneNumberChanges,
        audit: Audit<'_>,
    ) -> StoreResult<(PhoneNumberRow, bool)>;
    /// All or nothing; NotFound when any id is unknown.
    async fn update_phone_numbers(
        &self,
        updates: Vec<(i64, PhoneNumberChanges)>,
        audit: Audit<'_>,
    ) -> StoreResult<Vec<PhoneNumberRow>>;
    async fn delete_phone_number(&self, id: i64, audit: Audit<'_>) -> StoreResult<()>;
    /// Registers every business number seen in calls that is not registered.
    /// Returns `(discovered, total registered after)`.
    async fn discover_phone_numbers(&self, audit: Audit<'_>) -> StoreResult<(u64, u64)>;

    // -- groups
    async fn list_groups(&self) -> StoreResult<Vec<GroupRow>>;
    async fn get_group(&self, id: i64) -> StoreResult<GroupRow>;
    async fn create_group(
        &self,
        name: &str,
        description: Option<&str>,
        phone_number_ids: &[i64],
        audit: Audit<'_>,
    ) -> StoreResult<GroupRow>;
    async fn update_group(
        &self,
        id: i64,
        changes: GroupChanges,
        audit: Audit<'_>,
    ) -> StoreResult<GroupRow>;
    async fn delete_group(&self, id: i64, audit: Audit<'_>) -> StoreResult<()>;
    async fn add_group_members(
        &self,
        id: i64,
        phone_number_ids: &[i64],
        audit: Audit<'_>,
    ) -> StoreResult<GroupRow>;
    async fn remove_group_member(
        &self,
        id: i64,
        phone_number_id: i64,
        audit: Audit<'_>,
    ) -> StoreResult<GroupRow>;

    // -- calls
    /// Stores a batch in one transaction, idempotent on `(provider, providerCallId)`.
    async fn upsert_calls(&self, calls: &[NewCall]) -> StoreResult<UpsertOutcome>;
    /// Folds each report into the stored call with the same `(provider,
    /// providerCallId)` by [`NewCall::merge`], or stores it when new; one
    /// transaction, safe against concurrent reports of the same call.
    async fn merge_calls(&self, calls: &[NewCall]) -> StoreResult<MergeOutcome>;
    async fn list_calls(&self, scope: &LineScope, q: &CallQuery) -> StoreResult<Vec<CallRow>>;
    /// Counts over calls with `from <= started_at < to` (whole seconds).
    async fn call_counts(&self, scope: &LineScope, from: i64, to: i64) -> StoreResult<CallCounts>;
    /// Calls `ringing|queued|in-progress` that started after `since`.
    async fn live_calls(&self, scope: &LineScope, since: i64) -> StoreResult<i64>;
    /// Calls per flow in the period, most first, ties by name, at most `limit`.
    async fn top_flows(
        &self,
        scope: &LineScope,
        from: i64,
        to: i64,
        limit: i64,
    ) -> StoreResult<Vec<FlowCounts>>;

    /// Counts per 15-minute slot since `base` (`(started_at - base) / 900`),
    /// over calls with `from <= started_at < to`; `base <= from`. Unique
    /// callers are not counted per slot (they do not add up).
    async fn slot_counts(
        &self,
        scope: &LineScope,
        from: i64,
        to: i64,
        base: i64,
    ) -> StoreResult<Vec<SlotCounts>>;
    /// Counts per value of a column over the period (`None` = no value).
    async fn grouped_counts(
        &self,
        scope: &LineScope,
        from: i64,
        to: i64,
        by: CallColumn,
    ) -> StoreResult<Vec<(Option<String>, CallCounts)>>;
    /// Every flow's name, by id.
    async fn flow_names(&self) -> StoreResult<std::collections::HashMap<String, String>>;
    /// Recomputes every rollup row from the raw calls in one transaction;
    /// returns how many calls it read.
    async fn rebuild_rollups(&self) -> StoreResult<u64>;
    /// The rollup rows that differ from a recount over the raw calls (empty
    /// when they agree). Reads everything: for checks, not for serving.
    async fn rollup_drift(&self) -> StoreResult<Vec<String>>;
    /// Reads ahead what the first answers would otherwise wait for (on
    /// SQLite, the callers log into memory: see `store/callers.rs`). The
    /// server runs it in the background as it starts.
    async fn warm_up(&self) -> StoreResult<()>;

    // -- users
    async fn count_users(&self) -> StoreResult<i64>;
    async fn list_users(&self) -> StoreResult<Vec<UserRow>>;
    async fn get_user(&self, id: i64) -> StoreResult<UserRow>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>>;
    async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        phone_number_ids: &[i64],
        audit: Audit<'_>,
    ) -> StoreResult<UserRow>;
    /// A new password or a deactivation also ends every token and session
    /// the user holds, in the same transaction.
    async fn update_user(
        &self,
        id: i64,
        changes: UserChanges,
        audit: Audit<'_>,
    ) -> StoreResult<UserRow>;
    async fn delete_user(&self, id: i64, audit: Audit<'_>) -> StoreResult<()>;
    /// One stored call by its provider and the provider's id, with its
    /// `raw` as the provider sent it (for people looking into a call).
    async fn find_call(
        &self,
        provider: &str,
        provider_call_id: &str,
    ) -> StoreResult<Option<NewCall>>;
    /// Ends a signed-in session: the token with this fingerprint is refused
    /// from now until it expires (`expires_at`, Unix seconds). Forgets
    /// tokens that have expired.
    async fn revoke_token(&self, fingerprint: &str, expires_at: i64) -> StoreResult<()>;
    /// Whether the token with this fingerprint was signed out.
    async fn token_revoked(&self, fingerprint: &str) -> StoreResult<bool>;

    // -- ingest keys
    async fn create_ingest_key(
        &self,
        name: &str,
        key_hash: &str,
        prefix: &str,
        created_by: Option<i64>,
        audit: Audit<'_>,
    ) -> StoreResult<IngestKeyRow>;
    async fn list_ingest_keys(&self) -> StoreResult<Vec<IngestKeyRow>>;
    /// Marks a key revoked (idempotent: a repeat records nothing); NotFound
    /// for an unknown id.
    async fn revoke_ingest_key(&self, id: i64, audit: Audit<'_>) -> StoreResult<IngestKeyRow>;
    /// The live (not revoked) key with this hash.
    async fn find_ingest_key(&self, key_hash: &str) -> StoreResult<Option<IngestKeyRow>>;

    // -- settings
    /// Returns the stored value for `key`, storing `value` first if there is none.
    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String>;

    // -- the audit log
    /// Audit entries, newest first.
    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRow>>;

    // -- operations
    /// SQLite: writes a consistent copy of the live database to `path` (a
    /// new file) while it keeps serving. PostgreSQL: refused (use pg_dump).
    async fn backup_to(&self, path: &str) -> StoreResult<()>;
}

// -- the audit log

/// Who makes a change. Every write to lines, groups, users and ingest keys
/// takes one and appends the change to the audit log inside its own
/// transaction, so a change and its entry commit together or not at all,
/// and `before` is read under the same lock as the change.
#[derive(Clone, Copy)]
pub struct Audit<'a> {
    pub actor_id: Option<i64>,
    /// The actor's email, or what made the change (`cli`, `demo`).
    pub actor_email: Option<&'a str>,
    /// How stored rows look in the log.
    pub views: &'a dyn AuditViews,
}

/// The snapshots the audit log keeps of each kind of object: the API's own
/// views (implemented by the HTTP layer), which never carry a password hash
/// or an ingest key or its hash.
pub trait AuditViews: Send + Sync {
    fn phone_number(&self, row: &PhoneNumberRow) -> Value;
    fn group(&self, row: &GroupRow) -> Value;
    fn user(&self, row: &UserRow) -> Value;
    fn ingest_key(&self, row: &IngestKeyRow) -> Value;
}

/// One change to record: who made it, what it was, and the object before
/// and after (API views, never password or key hashes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewAuditEntry {
    pub actor_id: Option<i64>,
    pub actor_email: Option<String>,
    /// `create`, `update`, `delete`, `revoke`, `add_members`, …
    pub action: String,
    /// `phone_number`, `group`, `user` or `ingest_key`.
    pub object_type: String,
    pub object_id: Option<i64>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub at: Timestamp,
    pub entry: NewAuditEntry,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub object_type: Option<String>,
    /// Leaves out entries about this kind of object (filtered in the query,
    /// so pages stay full and cursors stay exact).
    pub exclude_object_type: Option<String>,
    pub object_id: Option<i64>,
    /// Continue with entries older than this id.
    pub before_id: Option<i64>,
    pub limit: i64,
}
