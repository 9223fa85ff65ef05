//! The one body of SQL behind both engines.
//!
//! `store_impl!` expands to a full [`Store`](super::Store) implementation for
//! a concrete sqlx driver. The SQL in it is written to mean the same on
//! SQLite and PostgreSQL: `$N` placeholders (both accept them), instants as
//! whole epoch seconds in `BIGINT`, JSON as text, explicit `CAST(… AS BIGINT)`
//! around sums, and every ordering that depends on collation done in Rust.
//! Where the engines differ (how a write transaction starts), the engine's
//! file passes a constant in.

use jiff::Timestamp;
use serde_json::Value;

use super::callers::TxCallers;
use super::rollup::{self, Change, Key};
use super::{CallCounts, StoreError, StoreResult};

/// Maps a driver error to what it means for a caller.
pub(super) fn classify(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        // PostgreSQL ending the session (57P01 admin_shutdown on a fast
        // shutdown or restart, 57P02, 57P03 cannot_connect_now) or the
        // connection failing (class 08): the database is going away or not
        // yet back, not a bug.
        // A deadlock (40P01) or serialization failure (40001) rolled the
        // transaction back whole: try again shortly.
        sqlx::Error::Database(d)
            if d.code().is_some_and(|c| {
                c.starts_with("57P") || c.starts_with("08") || c == "40P01" || c == "40001"
            }) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict("a record with that value already exists".into())
        }
        // PostgreSQL text cannot hold U+0000 (SQLSTATE 22021; 22P05 in jsonb).
        // The HTTP layer refuses it by field first; this is the net for the
        // ways in it does not see (an imported file).
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("22021" | "22P05")) => {
            StoreError::Invalid {
                field: String::new(),
                message: "text must not contain a NUL character (\\u0000)".into(),
            }
        }
        _ => StoreError::Database(e),
    }
}

pub(super) fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub(super) fn json_text(s: &str) -> Result<Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("bad JSON column: {e}")))
}

pub(super) fn now_secs() -> i64 {
    Timestamp::now().as_second()
}

/// Sorts lines as the API lists them: primary first, then by name (or the
/// number when unnamed), case-insensitively, then by number.
pub(super) fn sort_lines(rows: &mut [super::PhoneNumberRow]) {
    rows.sort_by(|a, b| {
        let key = |r: &super::PhoneNumberRow| {
            (
                !r.is_primary,
                r.friendly_name
                    .as_deref()
                    .unwrap_or(&r.number)
                    .to_lowercase(),
                r.number.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}

/// Which calls of a chunk a multi-row insert stored.
pub(super) enum Inserted {
    /// Every one.
    All,
    /// Those with these `(provider, providerCallId)` keys.
    Some(std::collections::HashSet<(String, String)>),
}

impl Inserted {
    /// Whether `c` was inserted; a key answers yes once (the first of a
    /// chunk's records of one call is the one inserted).
    pub(super) fn take(&mut self, c: &crate::domain::NewCall) -> bool {
        match self {
            Inserted::All => true,
            Inserted::Some(keys) => {
                keys.remove(&(c.provider.as_str().to_string(), c.provider_call_id.clone()))
            }
        }
    }
}

/// A rollup row as stored, before a transaction changes it.
pub(super) struct StoredRow {
    pub counts: CallCounts,
    /// The caller set as encoded.
    pub callers: Vec<u8>,
    /// The breakdown as encoded.
    pub breakdown: Vec<u8>,
    /// The `rollup_sets` row holding its caller set (SQLite, large sets).
    pub set_ref: Option<i64>,
}

/// The stored rows of a chunk of rollup changes.
#[derive(Default)]
pub(super) struct StoredRows {
    pub rows: std::collections::HashMap<Key, StoredRow>,
    /// Caller sets recounted from the raw rows, for changes that ask.
    pub rebuilt: std::collections::HashMap<Key, roaring::RoaringBitmap>,
}

/// A rollup row changed and encoded, ready to store.
pub(super) struct PreparedRow {
    pub key: Key,
    pub counts: CallCounts,
    /// The caller set kept in the row (empty when kept apart).
    pub callers: Vec<u8>,
    pub breakdown: Vec<u8>,
    pub set_ref: Option<i64>,
}

/// A chunk of rollup rows changed and encoded, ready to store.
#[derive(Default)]
pub(super) struct Prepared {
    pub rows: Vec<PreparedRow>,
    /// Caller sets kept apart (SQLite), by id.
    pub sets: Vec<(i64, Vec<u8>)>,
    /// `rollup_sets` rows no longer named.
    pub dropped: Vec<i64>,
}

/// An insert-only batch's rollup work, done beside the writer's inserts
/// (SQLite): the callers to append, their ids, the rows to store.
pub(super) struct RolledUpBeside {
    pub new_callers: Vec<(i64, String)>,
    pub mine: TxCallers,
    pub rows: Vec<Prepared>,
}

/// A chunk of changes folded into its stored rows and encoded. `ids` holds
/// the caller id of each of the delta's caller numbers; `keep_apart`
/// (SQLite) keeps a set longer than [`rollup::INLINE_CALLERS`] in
/// `rollup_sets`, numbering new ones from `next_set`.
pub(super) fn finish_rows(
    chunk: &[(&Key, &Change)],
    mut stored: StoredRows,
    ids: &[u32],
    keep_apart: bool,
    next_set: &mut i64,
) -> StoreResult<Prepared> {
    let mut p = Prepared {
        rows: Vec::with_capacity(chunk.len()),
        ..Prepared::default()
    };
    for (k, ch) in chunk {
        let (mut row, old_ref) = match stored.rows.remove(*k) {
            Some(s) => (
                rollup::Row {
                    counts: s.counts,
                    callers: rollup::decode_callers(&s.callers)?,
                    breakdown: rollup::decode_breakdown(&s.breakdown)?,
                },
                s.set_ref,
            ),
            None => (rollup::Row::default(), None),
        };
        row.apply(ch, ids, stored.rebuilt.remove(*k))?;
        let set = rollup::encode_callers(&row.callers);
        let (callers, set_ref) = if keep_apart && set.len() > rollup::INLINE_CALLERS {
            let id = old_ref.unwrap_or_else(|| {
                *next_set += 1;
                *next_set - 1
            });
            p.sets.push((id, set));
            (Vec::new(), Some(id))
        } else {
            p.dropped.extend(old_ref);
            (set, None)
        };
        p.rows.push(PreparedRow {
            key: (*k).clone(),
            counts: row.counts,
            callers,
            breakdown: rollup::encode_breakdown(&row.breakdown),
            set_ref,
        });
    }
    Ok(p)
}

/// The id of the last row a statement inserted, where the engine tells it.
pub(super) trait LastId {
    fn last_id(&self) -> Option<i64>;
}

impl LastId for sqlx::sqlite::SqliteQueryResult {
    fn last_id(&self) -> Option<i64> {
        Some(self.last_insert_rowid())
    }
}

impl LastId for sqlx::postgres::PgQueryResult {
    fn last_id(&self) -> Option<i64> {
        None
    }
}

/// Batches of at least this many calls (an import's) roll up beside the
/// writer's inserts on SQLite ([`RolledUpBeside`]); a few callbacks' roll up in
/// less time than handing them over takes.
pub(super) const ROLL_UP_BESIDE_FROM: usize = 2_000;

/// Rows per multi-row INSERT: stays under SQLite's and PostgreSQL's bind limits.
pub(super) const INSERT_CHUNK: usize = 500;

pub(super) const LINE_COLUMNS: &str = "id, number, friendly_name, type, is_active, is_primary, capabilities, metadata, created_at, updated_at";

pub(super) const CALL_SELECT: &str = "SELECT c.id, c.provider, c.provider_call_id, c.phone_number, c.other_party, \
     c.direction, c.status, c.started_at, c.ended_at, c.duration_seconds, c.flow_id, f.name AS flow_name, \
     c.recording_url FROM calls c LEFT JOIN flows f ON f.id = c.flow_id WHERE 1 = 1";

/// What a call contributes to rollups, as read from `calls`.
pub(super) const FACT_COLUMNS: &str =
    "phone_number, started_at, direction, status, duration_seconds, flow_id, other_party";

/// Sums of the rollup counts; `unique_callers` is not summable.
pub(super) const ROLLUP_SUMS: &str = "CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(answered) AS BIGINT) AS answered, \
     CAST(SUM(missed) AS BIGINT) AS missed, CAST(SUM(abandoned) AS BIGINT) AS abandoned, \
     CAST(SUM(failed) AS BIGINT) AS failed, CAST(SUM(talk_seconds) AS BIGINT) AS talk_seconds";

pub(super) const ROLLUP_COLUMNS: &str = "level, bucket, phone_number, calls, answered, missed, abandoned, failed, \
     talk_seconds, callers, breakdown, callers_ref";

/// A rollup row's caller set as stored, inline or (a large one on SQLite,
/// see [`rollup::INLINE_CALLERS`]) in `rollup_sets`.
pub(super) const CALLER_SET: &str = "CASE WHEN callers_ref IS NULL THEN callers \
     ELSE (SELECT s.callers FROM rollup_sets s WHERE s.id = rollups.callers_ref) END AS callers";

/// Rollup rows per multi-row statement (12 binds each).
pub(super) const ROLLUP_CHUNK: usize = 300;

/// One call, inserted only when no call has its `(provider, providerCallId)`.
pub(super) const INSERT_CALL_IF_NEW: &str = "INSERT INTO calls (provider, provider_call_id, phone_number, other_party, \
     direction, status, started_at, ended_at, duration_seconds, flow_id, recording_url, raw, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
     ON CONFLICT (provider, provider_call_id) DO NOTHING";

pub(super) const INSERT_CALLS: &str = "INSERT INTO calls (provider, provider_call_id, phone_number, other_party, \
     direction, status, started_at, ended_at, duration_seconds, flow_id, recording_url, raw, created_at, updated_at) ";

pub(super) const UPDATE_CALL: &str = "UPDATE calls SET phone_number = $1, other_party = $2, direction = $3, status = $4, \
     started_at = $5, ended_at = $6, duration_seconds = $7, flow_id = $8, recording_url = $9, raw = $10, updated_at = $11 \
     WHERE id = $12";

pub(super) const KEY_COLUMNS: &str = "id, name, prefix, created_by, created_at, revoked_at";

macro_rules! store_impl {
    ($store:ident, $db:ty, $engine:literal, $begin_write:expr, $lock_row:literal) => {
        use async_trait::async_trait;
        use sqlx::{QueryBuilder, Row};

        use $crate::domain::{CallDirection, CallStatus, E164, NewCall, Provider, Role};
        use $crate::store::sql::{
            CALL_SELECT, FACT_COLUMNS, INSERT_CALL_IF_NEW, INSERT_CALLS, INSERT_CHUNK, Inserted, LastId, KEY_COLUMNS, LINE_COLUMNS,
            CALLER_SET, Prepared, ROLLUP_CHUNK, ROLLUP_COLUMNS, ROLLUP_SUMS, ROLL_UP_BESIDE_FROM, RolledUpBeside, StoredRow, StoredRows, UPDATE_CALL,
            classify, finish_rows, json_text, now_secs, sort_lines, ts,
        };
        use $crate::store::callers::{CallerIds, TxCallers, caller_id};
        use $crate::store::rollup::{self, Delta, Dim, Fact, Key};
        use $crate::store::{
            CallColumn, CallCounts, CallQuery, CallRow, FlowCounts, SlotCounts, GroupChanges, GroupRow, IngestKeyRow,
            Audit, LineScope, MergeOutcome, PhoneNumberChanges, PhoneNumberRow, Store, StoreError,
            StoreResult, UpsertOutcome, UserChanges, UserRow,
        };

        type Db = $db;
        type DbRow = <Db as sqlx::Database>::Row;
        type Tx = sqlx::Transaction<'static, Db>;
        type Conn = <Db as sqlx::Database>::Connection;
        /// A batch's rollups worked out beside its inserts, and the flag that stops it.
        type BesideInserts = (tokio::task::JoinHandle<StoreResult<Option<RolledUpBeside>>>, std::sync::Arc<std::sync::atomic::AtomicBool>);

        fn line_row(r: &DbRow) -> StoreResult<PhoneNumberRow> {
            Ok(PhoneNumberRow {
                id: r.try_get("id")?,
                number: r.try_get("number")?,
                friendly_name: r.try_get("friendly_name")?,
                kind: r.try_get("type")?,
                is_active: r.try_get("is_active")?,
                is_primary: r.try_get("is_primary")?,
                capabilities: json_text(&r.try_get::<String, _>("capabilities")?)?,
                metadata: json_text(&r.try_get::<String, _>("metadata")?)?,
                created_at: ts(r.try_get("created_at")?),
                updated_at: ts(r.try_get("updated_at")?),
            })
        }

        fn call_row(r: &DbRow) -> StoreResult<CallRow> {
            Ok(CallRow {
                id: r.try_get("id")?,
                provider: r.try_get("provider")?,
                provider_call_id: r.try_get("provider_call_id")?,
                phone_number: r.try_get("phone_number")?,
                other_party: r.try_get("other_party")?,
                direction: r.try_get("direction")?,
                status: r.try_get("status")?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
                duration_seconds: r.try_get("duration_seconds")?,
                flow_id: r.try_get("flow_id")?,
                flow_name: r.try_get("flow_name")?,
                recording_url: r.try_get("recording_url")?,
            })
        }

        fn key_row(r: &DbRow) -> StoreResult<IngestKeyRow> {
            Ok(IngestKeyRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                prefix: r.try_get("prefix")?,
                created_by: r.try_get("created_by")?,
                created_at: ts(r.try_get("created_at")?),
                revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(ts),
            })
        }

        /// A stored call back as the domain record it was written from.
        fn stored_call(r: &DbRow) -> StoreResult<NewCall> {
            let corrupt = |e: $crate::domain::Invalid| StoreError::Corrupt(e.to_string());
            let at = |s: i64| jiff::Timestamp::from_second(s).map_err(|e| StoreError::Corrupt(e.to_string()));
            let mut call = NewCall {
                provider: Provider::parse(&r.try_get::<String, _>("provider")?).map_err(corrupt)?,
                provider_call_id: r.try_get("provider_call_id")?,
                phone_number: E164::from_stored(r.try_get("phone_number")?),
                other_party: r.try_get("other_party")?,
                direction: CallDirection::parse(&r.try_get::<String, _>("direction")?).map_err(corrupt)?,
                status: CallStatus::parse(&r.try_get::<String, _>("status")?).map_err(corrupt)?,
                started_at: at(r.try_get("started_at")?)?,
                ended_at: r.try_get::<Option<i64>, _>("ended_at")?.map(at).transpose()?,
                duration_seconds: r.try_get("duration_seconds")?,
                flow_id: r.try_get("flow_id")?,
                flow_name: None,
                recording_url: r.try_get("recording_url")?,
                raw: serde_json::Value::Null.into(),
            };
            call.raw = super::raw_codec::decode(&r.try_get::<String, _>("raw")?, &call)?.into();
            Ok(call)
        }

        /// A row's stored caller set ([`CALLER_SET`]); a reference to a
        /// set that is not there reads as NULL, which is damage.
        fn stored_set(r: &DbRow) -> StoreResult<&[u8]> {
            r.try_get::<Option<&[u8]>, _>("callers")?
                .ok_or_else(|| StoreError::Corrupt("a rollup row names a caller set that is not stored".into()))
        }

        /// Counts summed over rollup rows ([`ROLLUP_SUMS`] or the plain columns).
        fn sums_from(r: &DbRow) -> StoreResult<CallCounts> {
            Ok(CallCounts {
                calls: r.try_get::<Option<i64>, _>("calls")?.unwrap_or(0),
                answered: r.try_get::<Option<i64>, _>("answered")?.unwrap_or(0),
                missed: r.try_get::<Option<i64>, _>("missed")?.unwrap_or(0),
                abandoned: r.try_get::<Option<i64>, _>("abandoned")?.unwrap_or(0),
                failed: r.try_get::<Option<i64>, _>("failed")?.unwrap_or(0),
                talk_seconds: r.try_get::<Option<i64>, _>("talk_seconds")?.unwrap_or(0),
                unique_callers: 0,
            })
        }

        fn fact_row(r: &DbRow) -> StoreResult<Fact> {
            let corrupt = |e: $crate::domain::Invalid| StoreError::Corrupt(e.to_string());
            Ok(Fact {
                phone_number: r.try_get("phone_number")?,
                started_at: r.try_get("started_at")?,
                direction: CallDirection::parse(&r.try_get::<String, _>("direction")?).map_err(corrupt)?,
                status: CallStatus::parse(&r.try_get::<String, _>("status")?).map_err(corrupt)?,
                duration_seconds: r.try_get("duration_seconds")?,
                flow_id: r.try_get("flow_id")?,
                other_party: r.try_get("other_party")?,
            })
        }

        /// Appends `AND <column> IN (…)` for a scope.
        fn push_scope(qb: &mut QueryBuilder<Db>, column: &str, scope: &LineScope) {
            if let LineScope::Only(numbers) = scope {
                if numbers.is_empty() {
                    qb.push(" AND 1 = 0");
                } else {
                    qb.push(format!(" AND {column} IN ("));
                    let mut sep = qb.separated(", ");
                    for n in numbers {
                        sep.push_bind(n.clone());
                    }
                    qb.push(")");
                }
            }
        }

        async fn begin_write(pool: &sqlx::Pool<Db>) -> StoreResult<Tx> {
            pool.begin_with($begin_write).await.map_err(classify)
        }

        impl $store {
            /// Waits for this process's turn to write, first come first
            /// served (see `writer_queue`).
            async fn wait_to_write(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
                match &self.writer_queue {
                    Some(m) => Some(m.clone().lock_owned().await),
                    None => None,
                }
            }

            /// A write transaction, begun in this writer's turn; keep the
            /// turn until the transaction ends.
            async fn begin_writing(&self) -> StoreResult<(Option<tokio::sync::OwnedMutexGuard<()>>, Tx)> {
                let turn = self.wait_to_write().await;
                Ok((turn, begin_write(&self.pool).await?))
            }

            /// SQLite, an import's batch (`calls`, in key order): its
            /// rollups worked out beside the writer's inserts ([`roll_up_beside_inserts`]),
            /// to use if every call goes in new; raise the flag otherwise.
            fn start_rolling_up_beside(&self, calls: &[&NewCall]) -> Option<BesideInserts> {
                (!CLAIM_ROWS && self.rolls_up_beside_inserts() && calls.len() >= ROLL_UP_BESIDE_FROM).then(|| {
                    let facts: Vec<Fact> = calls.iter().map(|c| Fact::of(c)).collect();
                    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let task = tokio::spawn(roll_up_beside_inserts(self.pool.clone(), facts, self.callers.clone(), stop.clone()));
                    (task, stop)
                })
            }

            /// Stores what a [`start_rolling_up_beside`](Self::start_rolling_up_beside) worked out,
            /// if it ran to its end unstopped: `Some(callers)` for
            /// [`CallerIds::remember`]; `None`: roll up after the writes.
            async fn store_rolled_up_beside(&self, tx: &mut Tx, beside: Option<BesideInserts>) -> StoreResult<Option<TxCallers>> {
                let s = match beside {
                    Some((task, stop)) if !stop.load(std::sync::atomic::Ordering::Relaxed) => match task.await {
                        Ok(Ok(Some(s))) => s,
                        Ok(Ok(None)) => return Ok(None),
                        Ok(Err(e)) => {
                            tracing::debug!(cause = %e, "rolling up beside the inserts failed; rolling up after them");
                            return Ok(None);
                        }
                        Err(e) => {
                            tracing::debug!(cause = %e, "rolling up beside the inserts stopped; rolling up after them");
                            return Ok(None);
                        }
                    },
                    _ => return Ok(None),
                };
                self.rolled_up_beside();
                append_callers(&mut **tx, &s.new_callers).await?;
                for rows in s.rows {
                    write_rows(&mut **tx, rows).await?;
                }
                Ok(Some(s.mine))
            }
        }

        /// PostgreSQL writers run concurrently: rollup rows are claimed
        /// (created empty) before they are read for update.
        const CLAIM_ROWS: bool = !$lock_row.is_empty();

        /// Folds a transaction's rollup changes into the rows, after its
        /// writes to `calls`, storing the callers it names that have no id
        /// yet (in `mine`, for [`CallerIds::remember`] once it commits).
        async fn flush(
            tx: &mut Tx,
            delta: &mut Delta,
            known: &CallerIds,
            mine: &mut TxCallers,
        ) -> StoreResult<()> {
            // An import's calls are rolled up to their rows on a thread
            // beside the one storing their callers (they are independent).
            let gathering = if delta.gathers_on_another_thread() {
                let mut rows = delta.take_rows();
                Some(tokio::task::spawn_blocking(move || {
                    rows.gather();
                    rows
                }))
            } else {
                delta.changes();
                None
            };
            let mut ids = vec![0u32; delta.caller_numbers().len()];
            if CLAIM_ROWS {
                claim_callers(tx, delta.caller_numbers(), &mut ids, known, mine).await?;
            } else {
                let new = assign_callers(&mut **tx, delta.caller_numbers(), &mut ids, known, mine).await?;
                append_callers(&mut **tx, &new).await?;
            }
            if let Some(gathering) = gathering {
                let rows = gathering
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("rolling calls up to their rows stopped: {e}")))?;
                delta.put_rows(rows);
            }
            let changes: Vec<(&Key, &rollup::Change)> = delta.changes().iter().collect();
            let mut next_set = next_caller_set(&mut **tx).await?;
            for chunk in changes.chunks(ROLLUP_CHUNK) {
                if CLAIM_ROWS {
                    let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO rollups ({ROLLUP_COLUMNS}) "));
                    qb.push_values(chunk, |mut b, (k, _)| {
                        b.push_bind(k.level)
                            .push_bind(k.bucket)
                            .push_bind(k.phone_number.clone())
                            .push("0, 0, 0, 0, 0, 0")
                            .push_bind(Vec::<u8>::new())
                            .push_bind(Vec::<u8>::new())
                            .push("NULL");
                    });
                    qb.push(" ON CONFLICT (level, bucket, phone_number) DO NOTHING");
                    qb.build().execute(&mut **tx).await.map_err(classify)?;
                }
                let stored = read_rows(&mut **tx, chunk, known, mine).await?;
                let prepared = finish_rows(chunk, stored, &ids, !CLAIM_ROWS, &mut next_set)?;
                write_rows(&mut **tx, prepared).await?;
            }
            Ok(())
        }

        /// PostgreSQL: ids for `numbers` into `ids`, claiming those no
        /// writer has stored yet. Writers run concurrently; the table's
        /// sequence numbers whichever claims a number first.
        async fn claim_callers(
            tx: &mut Tx,
            numbers: &[String],
            ids: &mut [u32],
            known: &CallerIds,
            mine: &mut TxCallers,
        ) -> StoreResult<()> {
            let mut missing: Vec<usize> = Vec::new();
            for i in known.lookup(numbers, ids) {
                match mine.get(&numbers[i]) {
                    Some(id) => ids[i] = id,
                    None => missing.push(i),
                }
            }
            // Claimed in sorted order, as every writer does: writers share
            // caller numbers, and two claiming the same numbers in
            // different orders deadlock on the unique index.
            missing.sort_unstable_by(|a, b| numbers[*a].cmp(&numbers[*b]));
            let positions: std::collections::HashMap<&str, usize> = missing.iter().map(|&i| (numbers[i].as_str(), i)).collect();
            for chunk in missing.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new("INSERT INTO callers (number) ");
                qb.push_values(chunk, |mut b, i| {
                    b.push_bind(numbers[*i].clone());
                });
                qb.push(" ON CONFLICT (number) DO NOTHING");
                qb.build().execute(&mut **tx).await.map_err(classify)?;
                let mut qb = QueryBuilder::<Db>::new("SELECT id, number FROM callers WHERE number IN (");
                let mut sep = qb.separated(", ");
                for i in chunk {
                    sep.push_bind(numbers[*i].clone());
                }
                qb.push(")");
                let rows = qb.build().fetch_all(&mut **tx).await.map_err(classify)?;
                if rows.len() != chunk.len() {
                    return Err(StoreError::Corrupt("a caller id was not stored".into()));
                }
                for r in rows {
                    let id = caller_id(r.try_get("id")?)?;
                    let number: String = r.try_get("number")?;
                    let i = *positions
                        .get(number.as_str())
                        .ok_or_else(|| StoreError::Corrupt(format!("caller {number} was not asked for")))?;
                    ids[i] = id;
                    mine.put(number, id);
                }
            }
            Ok(())
        }

        /// SQLite: ids for `numbers` into `ids`. One writer at a time, and
        /// once the book has read the log to its end (in this transaction,
        /// or beside it while this writer holds the write lock) it holds
        /// every committed caller and `mine` this transaction's: the rest
        /// are new and take the next ids, returned to append to the log.
        async fn assign_callers(
            conn: &mut Conn,
            numbers: &[String],
            ids: &mut [u32],
            known: &CallerIds,
            mine: &mut TxCallers,
        ) -> StoreResult<Vec<(i64, String)>> {
            if !mine.read {
                read_callers(&mut *conn, known).await?;
                mine.read = true;
            }
            let mut missing: Vec<usize> = Vec::new();
            for i in known.lookup(numbers, ids) {
                match mine.get(&numbers[i]) {
                    Some(id) => ids[i] = id,
                    None => missing.push(i),
                }
            }
            if missing.is_empty() {
                return Ok(Vec::new());
            }
            missing.sort_unstable_by(|a, b| numbers[*a].cmp(&numbers[*b]));
            let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM callers")
                .fetch_one(&mut *conn)
                .await
                .map_err(classify)?;
            let mut new = Vec::with_capacity(missing.len());
            for (k, i) in missing.into_iter().enumerate() {
                let id = first + k as i64;
                ids[i] = caller_id(id)?;
                mine.put(numbers[i].clone(), ids[i]);
                new.push((id, numbers[i].clone()));
            }
            Ok(new)
        }

        /// SQLite: appends callers [`assign_callers`] numbered to the log.
        async fn append_callers(conn: &mut Conn, new: &[(i64, String)]) -> StoreResult<()> {
            for chunk in new.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new("INSERT INTO callers (id, number) ");
                qb.push_values(chunk, |mut b, (id, n)| {
                    b.push_bind(*id).push_bind(n.clone());
                });
                qb.build().execute(&mut *conn).await.map_err(classify)?;
            }
            Ok(())
        }

        /// SQLite: the id the next caller set kept apart takes (one writer
        /// at a time). PostgreSQL keeps every set in its row.
        async fn next_caller_set(conn: &mut Conn) -> StoreResult<i64> {
            if CLAIM_ROWS {
                return Ok(0);
            }
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM rollup_sets")
                .fetch_one(&mut *conn)
                .await
                .map_err(classify)
        }

        /// The stored rows of a chunk of changes (PostgreSQL: locked), and
        /// the caller sets recounted for changes that ask.
        async fn read_rows(
            conn: &mut Conn,
            chunk: &[(&Key, &rollup::Change)],
            known: &CallerIds,
            mine: &TxCallers,
        ) -> StoreResult<StoredRows> {
            let mut qb = QueryBuilder::<Db>::new(format!(
                "SELECT level, bucket, phone_number, calls, answered, missed, abandoned, failed, talk_seconds, {CALLER_SET}, breakdown, callers_ref \
                 FROM rollups WHERE (level, bucket, phone_number) IN (VALUES "
            ));
            for (i, (k, _)) in chunk.iter().enumerate() {
                qb.push(if i == 0 { "(" } else { ", (" });
                qb.push_bind(k.level).push(", ").push_bind(k.bucket).push(", ").push_bind(k.phone_number.clone()).push(")");
            }
            qb.push(")");
            if CLAIM_ROWS {
                // Lock in key order (bytes, as Rust orders `Key`), the
                // order every writer uses: all of them share the
                // all-lines rows, and locks taken in scan order could
                // deadlock two writers.
                qb.push(" ORDER BY level, phone_number COLLATE \"C\", bucket");
            }
            qb.push($lock_row);
            let mut out = StoredRows::default();
            for r in qb.build().fetch_all(&mut *conn).await.map_err(classify)? {
                let key = Key { level: r.try_get("level")?, bucket: r.try_get("bucket")?, phone_number: r.try_get("phone_number")? };
                let row = StoredRow {
                    counts: sums_from(&r)?,
                    callers: stored_set(&r)?.to_vec(),
                    breakdown: r.try_get("breakdown")?,
                    set_ref: r.try_get("callers_ref")?,
                };
                out.rows.insert(key, row);
            }
            for (k, ch) in chunk {
                if ch.rebuild {
                    out.rebuilt.insert((*k).clone(), bucket_callers(&mut *conn, k, known, mine).await?);
                }
            }
            Ok(out)
        }

        /// Stores a chunk of rows [`finish_rows`] made.
        async fn write_rows(conn: &mut Conn, mut p: Prepared) -> StoreResult<()> {
            for part in p.sets.chunks_mut(INSERT_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new("INSERT INTO rollup_sets (id, callers) ");
                // The encoded sets move into the statement (they are
                // the largest values a flush writes).
                qb.push_values(part.iter_mut(), |mut b, (id, set)| {
                    b.push_bind(*id).push_bind(std::mem::take(set));
                });
                qb.push(" ON CONFLICT (id) DO UPDATE SET callers = excluded.callers");
                qb.build().execute(&mut *conn).await.map_err(classify)?;
            }
            if !p.dropped.is_empty() {
                let mut qb = QueryBuilder::<Db>::new("DELETE FROM rollup_sets WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in &p.dropped {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build().execute(&mut *conn).await.map_err(classify)?;
            }
            if p.rows.is_empty() {
                return Ok(());
            }
            let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO rollups ({ROLLUP_COLUMNS}) "));
            qb.push_values(p.rows, |mut b, r| {
                b.push_bind(r.key.level)
                    .push_bind(r.key.bucket)
                    .push_bind(r.key.phone_number)
                    .push_bind(r.counts.calls)
                    .push_bind(r.counts.answered)
                    .push_bind(r.counts.missed)
                    .push_bind(r.counts.abandoned)
                    .push_bind(r.counts.failed)
                    .push_bind(r.counts.talk_seconds)
                    .push_bind(r.callers)
                    .push_bind(r.breakdown)
                    .push_bind(r.set_ref);
            });
            qb.push(
                " ON CONFLICT (level, bucket, phone_number) DO UPDATE SET calls = excluded.calls, \
                 answered = excluded.answered, missed = excluded.missed, abandoned = excluded.abandoned, \
                 failed = excluded.failed, talk_seconds = excluded.talk_seconds, callers = excluded.callers, \
                 breakdown = excluded.breakdown, callers_ref = excluded.callers_ref",
            );
            qb.build().execute(&mut *conn).await.map_err(classify)?;
            Ok(())
        }

        /// SQLite, a batch of calls none of which is stored yet (an
        /// import's usual batch): its rollup rows read, changed and encoded
        /// on another connection and thread while the writer inserts the
        /// calls, for the writer to store once every call went in. Reading
        /// beside the writer sees what the writer's transaction would: the
        /// writer holds the write lock from `BEGIN IMMEDIATE` and has
        /// written no caller and no rollup row before it stores these.
        /// `None` when `stop` was raised (a call was stored already, so the
        /// writer rolls up what it inserted itself) or a change needs a
        /// bucket recounted from the raw rows.
        async fn roll_up_beside_inserts(
            pool: sqlx::Pool<Db>,
            facts: Vec<Fact>,
            known: CallerIds,
            stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        ) -> StoreResult<Option<RolledUpBeside>> {
            use std::sync::atomic::Ordering;
            let stopped = || stop.load(Ordering::Relaxed);
            let mut delta = tokio::task::spawn_blocking(move || {
                let mut delta = Delta::default();
                for f in &facts {
                    delta.insert(f);
                }
                delta.changes();
                delta
            })
            .await
            .map_err(|e| StoreError::Corrupt(format!("rolling calls up to their rows stopped: {e}")))?;
            if stopped() {
                return Ok(None);
            }
            let mut conn = pool.acquire().await.map_err(classify)?;
            let mut mine = TxCallers::default();
            let mut ids = vec![0u32; delta.caller_numbers().len()];
            let new = assign_callers(&mut *conn, delta.caller_numbers(), &mut ids, &known, &mut mine).await?;
            let mut next_set = next_caller_set(&mut *conn).await?;
            let mut stored = Vec::new();
            {
                let changes: Vec<(&Key, &rollup::Change)> = delta.changes().iter().collect();
                if changes.iter().any(|(_, ch)| ch.rebuild) {
                    return Ok(None);
                }
                for chunk in changes.chunks(ROLLUP_CHUNK) {
                    if stopped() {
                        return Ok(None);
                    }
                    stored.push(read_rows(&mut *conn, chunk, &known, &mine).await?);
                }
            }
            drop(conn);
            let rows = tokio::task::spawn_blocking(move || -> StoreResult<Vec<Prepared>> {
                let changes: Vec<(&Key, &rollup::Change)> = delta.changes().iter().collect();
                changes
                    .chunks(ROLLUP_CHUNK)
                    .zip(stored)
                    .map(|(chunk, s)| finish_rows(chunk, s, &ids, true, &mut next_set))
                    .collect()
            })
            .await
            .map_err(|e| StoreError::Corrupt(format!("rolling calls up to their rows stopped: {e}")))??;
            Ok(Some(RolledUpBeside { new_callers: new, mine, rows }))
        }

        /// SQLite: reads the callers log past the book's end into the book.
        async fn read_callers<'e, E>(ex: E, known: &CallerIds) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = Db>,
        {
            use futures_util::TryStreamExt;
            let after = known.through();
            let mut rows = sqlx::query_as::<_, (i64, String)>("SELECT id, number FROM callers WHERE id > $1 ORDER BY id")
                .bind(after)
                .fetch(ex);
            let mut part = Vec::with_capacity(4096);
            let mut from = after;
            while let Some(row) = rows.try_next().await.map_err(classify)? {
                part.push(row);
                if part.len() == 4096 {
                    known.absorb(from, &part)?;
                    from = part[part.len() - 1].0;
                    part.clear();
                }
            }
            known.absorb(from, &part)
        }

        /// The callers of one bucket, recounted from the raw rows.
        async fn bucket_callers(conn: &mut Conn, k: &Key, known: &CallerIds, mine: &TxCallers) -> StoreResult<roaring::RoaringBitmap> {
            let (from, to) = k.seconds();
            // All lines' row (`phone_number` '') takes every line's callers;
            // a line's reads through the (phone_number, started_at) index.
            let (column, id_of) = if CLAIM_ROWS {
                ("cl.id", "JOIN callers cl ON cl.number = c.other_party")
            } else {
                // SQLite: the callers log has no index on number; the book
                // (read to its end by this transaction) has every id.
                ("c.other_party", "")
            };
            let mut qb = QueryBuilder::<Db>::new(format!("SELECT DISTINCT {column} FROM calls c {id_of} WHERE c.other_party IS NOT NULL"));
            if k.phone_number != rollup::ALL_LINES {
                qb.push(" AND c.phone_number = ").push_bind(k.phone_number.clone());
            }
            qb.push(" AND c.started_at >= ").push_bind(from).push(" AND c.started_at < ").push_bind(to);
            let rows = qb.build().fetch_all(&mut *conn).await.map_err(classify)?;
            rows.iter()
                .map(|r| {
                    if CLAIM_ROWS {
                        return caller_id(r.try_get(0)?);
                    }
                    let n: &str = r.try_get(0)?;
                    known.get(n).or_else(|| mine.get(n)).ok_or_else(|| StoreError::Corrupt(format!("caller {n} has no id")))
                })
                .collect()
        }

        /// The stored facts of calls by `(provider, providerCallId)`.
        async fn stored_facts(
            tx: &mut Tx,
            calls: &[&NewCall],
        ) -> StoreResult<std::collections::HashMap<(String, String), Fact>> {
            let mut out = std::collections::HashMap::new();
            for chunk in calls.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new(format!(
                    "SELECT provider, provider_call_id, {FACT_COLUMNS} FROM calls WHERE (provider, provider_call_id) IN (VALUES "
                ));
                for (i, c) in chunk.iter().enumerate() {
                    qb.push(if i == 0 { "(" } else { ", (" });
                    qb.push_bind(c.provider.as_str()).push(", ").push_bind(c.provider_call_id.clone()).push(")");
                }
                qb.push(")");
                for r in qb.build().fetch_all(&mut **tx).await.map_err(classify)? {
                    out.insert((r.try_get("provider")?, r.try_get("provider_call_id")?), fact_row(&r)?);
                }
            }
            Ok(out)
        }

        /// Rebuilds every rollup row from the raw calls, in one transaction.
        async fn rebuild_all(pool: &sqlx::Pool<Db>, known: &CallerIds) -> StoreResult<u64> {
            let mut tx = begin_write(pool).await?;
            sqlx::query("DELETE FROM rollups").execute(&mut *tx).await.map_err(classify)?;
            sqlx::query("DELETE FROM rollup_sets").execute(&mut *tx).await.map_err(classify)?;
            let mut after = 0i64;
            let mut total = 0u64;
            let mut mine = TxCallers::default();
            loop {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT id, {FACT_COLUMNS} FROM calls WHERE id > $1 ORDER BY id LIMIT 20000"
                )))
                .bind(after)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                let Some(last) = rows.last() else { break };
                after = last.try_get("id")?;
                let mut delta = Delta::default();
                for r in &rows {
                    delta.insert(&fact_row(r)?);
                }
                total += rows.len() as u64;
                flush(&mut tx, &mut delta, known, &mut mine).await?;
            }
            tx.commit().await.map_err(classify)?;
            known.remember(mine);
            Ok(total)
        }

        /// Builds the rollups of a database whose calls predate them.
        async fn ensure_rollups(pool: &sqlx::Pool<Db>, known: &CallerIds) -> StoreResult<()> {
            let calls: Option<i64> = sqlx::query_scalar("SELECT id FROM calls LIMIT 1").fetch_optional(pool).await.map_err(classify)?;
            let rolled: Option<i64> = sqlx::query_scalar("SELECT bucket FROM rollups LIMIT 1").fetch_optional(pool).await.map_err(classify)?;
            if calls.is_some() && rolled.is_none() {
                let n = rebuild_all(pool, known).await?;
                tracing::info!(calls = n, "built the analytics rollups from the stored calls");
            }
            Ok(())
        }

        impl $store {
            /// Runs after migrations, before the store serves.
            async fn prepare(self) -> StoreResult<Self> {
                ensure_rollups(&self.pool, &self.callers).await?;
                Ok(self)
            }

            /// The raw rows behind a period, as rollup facts.
            async fn raw_facts(&self, scope: &LineScope, from: i64, to: i64) -> StoreResult<Vec<Fact>> {
                let mut qb = QueryBuilder::<Db>::new(format!("SELECT {FACT_COLUMNS} FROM calls WHERE started_at >= "));
                qb.push_bind(from).push(" AND started_at < ").push_bind(to);
                push_scope(&mut qb, "phone_number", scope);
                let rows = qb.build().fetch_all(&self.pool).await.map_err(classify)?;
                rows.iter().map(fact_row).collect()
            }

            /// [`raw_facts`](Self::raw_facts) of a plan's raw edges, together.
            async fn edge_facts(&self, scope: &LineScope, edges: &[(i64, i64)]) -> StoreResult<Vec<Fact>> {
                let mut out = Vec::new();
                for &(a, b) in edges {
                    out.extend(self.raw_facts(scope, a, b).await?);
                }
                Ok(out)
            }

            /// Rollup rows of the plan's `ranges` (`(level, lo, hi)`: the
            /// level's buckets in `[lo, hi)`), in one statement (a range a
            /// `SELECT {select} FROM rollups WHERE … {tail}`, joined by UNION
            /// ALL): one round trip to the database for the whole period.
            /// Every line together is one row a bucket (all lines' row)
            /// unless `per_line`.
            async fn rollup_rows(
                &self,
                select: &str,
                scope: &LineScope,
                per_line: bool,
                ranges: &[(i64, i64, i64)],
                tail: &str,
            ) -> StoreResult<Vec<DbRow>> {
                if ranges.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<Db>::new("");
                for (i, &(level, lo, hi)) in ranges.iter().enumerate() {
                    if i > 0 {
                        qb.push(" UNION ALL ");
                    }
                    qb.push(format!("SELECT {select} FROM rollups WHERE level = "));
                    qb.push_bind(level).push(" AND bucket >= ").push_bind(lo).push(" AND bucket < ").push_bind(hi);
                    match scope {
                        // The table is keyed line first: name the lines (every
                        // line has day rows) so each is one range of the key,
                        // not a scan of the whole level.
                        LineScope::All if per_line => {
                            qb.push(format!(
                                " AND phone_number IN (SELECT DISTINCT phone_number FROM rollups \
                                 WHERE level = {} AND phone_number <> '')",
                                rollup::LEVEL_DAY
                            ));
                        }
                        LineScope::All => {
                            qb.push(" AND phone_number = ''");
                        }
                        LineScope::Only(_) => {
                            push_scope(&mut qb, "phone_number", scope);
                            qb.push(" AND phone_number <> ''");
                        }
                    }
                    qb.push(tail);
                }
                qb.build().fetch_all(&self.pool).await.map_err(classify)
            }

            /// Counts over a period, per line or (`per_line` false) for all
            /// lines under `""`, distinct callers included: bitmaps of the
            /// rollups unioned with the raw edges' callers.
            async fn counts_per_line(
                &self,
                scope: &LineScope,
                from: i64,
                to: i64,
                per_line: bool,
            ) -> StoreResult<std::collections::BTreeMap<String, CallCounts>> {
                // Counts, the rows' caller sets (unioned once at the end),
                // and the raw edges' caller numbers.
                type Acc = (CallCounts, rollup::CallerUnion, std::collections::BTreeSet<String>);
                let plan = rollup::plan(from, to, true);
                let mut acc: std::collections::BTreeMap<String, Acc> = Default::default();
                let key = |line: String| if per_line { line } else { String::new() };
                // Hours keep no caller sets: their slots are read instead.
                let ranges = plan.caller_ranges();
                // The rollup rows and the raw edges on two connections at once.
                let select = format!("phone_number, calls, answered, missed, abandoned, failed, talk_seconds, {CALLER_SET}");
                let (rows, edges) = tokio::try_join!(
                    self.rollup_rows(
                        &select,
                        scope,
                        per_line,
                        &ranges,
                        "",
                    ),
                    self.edge_facts(scope, &plan.raw),
                )?;
                for r in &rows {
                    let a = acc.entry(key(r.try_get("phone_number")?)).or_default();
                    rollup::add_counts(&mut a.0, &sums_from(r)?, 1);
                    a.1.add(stored_set(r)?)?;
                }
                for f in edges {
                    let e = acc.entry(key(f.phone_number.clone())).or_default();
                    rollup::add_counts(&mut e.0, &f.counts(), 1);
                    e.2.extend(f.other_party);
                }
                // The edges' callers as ids, to union with the bitmaps.
                let numbers: std::collections::BTreeSet<String> = acc.values().flat_map(|a| a.2.iter().cloned()).collect();
                let numbers: Vec<String> = numbers.into_iter().collect();
                let mut ids: std::collections::HashMap<String, u32> = Default::default();
                if !ranges.is_empty() && !CLAIM_ROWS {
                    // SQLite: from the book, read to the log's end only when
                    // it lacks a number (ids never change once committed).
                    let mut found = vec![0u32; numbers.len()];
                    let mut missing = self.callers.lookup(&numbers, &mut found);
                    if !missing.is_empty() {
                        let _turn = self.callers.reading().lock().await;
                        read_callers(&self.pool, &self.callers).await?;
                        missing = self.callers.lookup(&numbers, &mut found);
                    }
                    let mut known = vec![true; numbers.len()];
                    missing.into_iter().for_each(|i| known[i] = false);
                    ids.extend(numbers.iter().zip(found).zip(known).filter(|(_, k)| *k).map(|((n, id), _)| (n.clone(), id)));
                }
                if !ranges.is_empty() && CLAIM_ROWS {
                    for chunk in numbers.chunks(INSERT_CHUNK) {
                        let mut qb = QueryBuilder::<Db>::new("SELECT id, number FROM callers WHERE number IN (");
                        let mut sep = qb.separated(", ");
                        for n in chunk {
                            sep.push_bind(n.clone());
                        }
                        qb.push(")");
                        for r in qb.build().fetch_all(&self.pool).await.map_err(classify)? {
                            let id = caller_id(r.try_get("id")?)?;
                            ids.insert(r.try_get("number")?, id);
                        }
                    }
                }
                Ok(acc
                    .into_iter()
                    .map(|(k, (mut counts, mut callers, edge))| {
                        let mut unknown = 0;
                        for n in &edge {
                            match ids.get(n) {
                                Some(id) => callers.insert(*id),
                                None => unknown += 1,
                            }
                        }
                        counts.unique_callers = callers.count() as i64 + unknown;
                        (k, counts)
                    })
                    .collect())
            }

            /// Counts per value of a breakdown dimension over a period.
            async fn dim_counts(
                &self,
                scope: &LineScope,
                from: i64,
                to: i64,
                dim: Dim,
            ) -> StoreResult<std::collections::BTreeMap<String, CallCounts>> {
                let plan = rollup::plan(from, to, true);
                let mut out: std::collections::BTreeMap<String, CallCounts> = Default::default();
                let (rows, edges) = tokio::try_join!(
                    self.rollup_rows("breakdown", scope, false, &plan.ranges, ""),
                    self.edge_facts(scope, &plan.raw),
                )?;
                for r in rows {
                    for ((d, value), c) in rollup::decode_breakdown(&r.try_get::<&[u8], _>("breakdown")?)? {
                        if d == dim {
                            rollup::add_counts(out.entry(value).or_default(), &c, 1);
                        }
                    }
                }
                for f in edges {
                    let value = f.values()[dim as usize].1.to_string();
                    rollup::add_counts(out.entry(value).or_default(), &f.counts(), 1);
                }
                out.retain(|_, c| c.calls != 0);
                Ok(out)
            }
        }

        /// The one row `sql` selects by the id `$1`, read by `map`; NotFound when there is none.
        async fn row_in<T>(tx: &mut Tx, sql: String, id: i64, map: fn(&DbRow) -> StoreResult<T>) -> StoreResult<T> {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(classify)?
                .ok_or(StoreError::NotFound)?;
            map(&row)
        }

        async fn line_in(tx: &mut Tx, id: i64) -> StoreResult<PhoneNumberRow> {
            row_in(tx, format!("SELECT {LINE_COLUMNS} FROM phone_numbers WHERE id = $1"), id, line_row).await
        }

        /// Checks that every id names a line, so a bad id is a clear 422.
        async fn check_lines_exist(tx: &mut Tx, ids: &[i64]) -> StoreResult<()> {
            for id in ids {
                let found: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM phone_numbers WHERE id = $1")
                        .bind(*id)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(classify)?;
                if found.is_none() {
                    return Err(StoreError::Invalid {
                        field: "phoneNumberIds".into(),
                        message: format!("no phone number has id {id}"),
                    });
                }
            }
            Ok(())
        }

        async fn apply_line_changes(
            tx: &mut Tx,
            id: i64,
            c: PhoneNumberChanges,
        ) -> StoreResult<PhoneNumberRow> {
            if c.is_primary == Some(true) {
                sqlx::query("UPDATE phone_numbers SET is_primary = FALSE WHERE is_primary = TRUE AND id <> $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(classify)?;
            }
            let mut qb = QueryBuilder::<Db>::new("UPDATE phone_numbers SET updated_at = ");
            qb.push_bind(now_secs());
            if let Some(v) = c.number {
                qb.push(", number = ").push_bind(v);
            }
            if let Some(v) = c.friendly_name {
                qb.push(", friendly_name = ").push_bind(v);
            }
            if let Some(v) = c.kind {
                qb.push(", type = ").push_bind(v);
            }
            if let Some(v) = c.is_active {
                qb.push(", is_active = ").push_bind(v);
            }
            if let Some(v) = c.is_primary {
                qb.push(", is_primary = ").push_bind(v);
            }
            if let Some(v) = c.capabilities {
                qb.push(", capabilities = ").push_bind(v.to_string());
            }
            if let Some(v) = c.metadata {
                qb.push(", metadata = ").push_bind(v.to_string());
            }
            qb.push(" WHERE id = ").push_bind(id);
            let done = qb.build().execute(&mut **tx).await.map_err(|e| match classify(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict("another phone number already has that number".into())
                }
                other => other,
            })?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            line_in(tx, id).await
        }

        async fn group_in(tx: &mut Tx, id: i64) -> StoreResult<GroupRow> {
            let row = sqlx::query("SELECT id, name, description FROM phone_number_groups WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(classify)?
                .ok_or(StoreError::NotFound)?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT phone_number_id FROM phone_number_group_members WHERE group_id = $1 ORDER BY phone_number_id",
            )
            .bind(id)
            .fetch_all(&mut **tx)
            .await
            .map_err(classify)?;
            Ok(GroupRow {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                phone_number_ids: ids,
            })
        }

        async fn set_members(tx: &mut Tx, group_id: i64, ids: &[i64], replace: bool) -> StoreResult<()> {
            check_lines_exist(tx, ids).await?;
            if replace {
                sqlx::query("DELETE FROM phone_number_group_members WHERE group_id = $1")
                    .bind(group_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(classify)?;
            }
            for id in ids {
                sqlx::query(
                    "INSERT INTO phone_number_group_members (group_id, phone_number_id) VALUES ($1, $2) \
                     ON CONFLICT (group_id, phone_number_id) DO NOTHING",
                )
                .bind(group_id)
                .bind(*id)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            }
            Ok(())
        }

        /// An ingest key, locked for update on PostgreSQL.
        async fn key_in(tx: &mut Tx, id: i64) -> StoreResult<IngestKeyRow> {
            row_in(tx, format!("SELECT {KEY_COLUMNS} FROM ingest_keys WHERE id = $1{}", $lock_row), id, key_row).await
        }

        /// Appends one change to the audit log, inside the change's transaction.
        async fn audit_in(
            tx: &mut Tx,
            audit: Audit<'_>,
            action: &str,
            object_type: &str,
            object_id: i64,
            before: Option<serde_json::Value>,
            after: Option<serde_json::Value>,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_log (at, actor_id, actor_email, action, object_type, object_id, before_json, after_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(now_secs())
            .bind(audit.actor_id)
            .bind(audit.actor_email)
            .bind(action)
            .bind(object_type)
            .bind(object_id)
            .bind(before.as_ref().map(|v| v.to_string()))
            .bind(after.as_ref().map(|v| v.to_string()))
            .execute(&mut **tx)
            .await
            .map_err(classify)?;
            Ok(())
        }

        /// A user, read on a transaction's connection or a pooled one (every
        /// authenticated request reads one: no BEGIN and COMMIT for it).
        async fn user_in(conn: &mut <Db as sqlx::Database>::Connection, id: i64) -> StoreResult<UserRow> {
            let row = sqlx::query(
                "SELECT id, email, password_hash, role, is_active, created_at, token_version FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(classify)?
            .ok_or(StoreError::NotFound)?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT phone_number_id FROM user_phone_numbers WHERE user_id = $1 ORDER BY phone_number_id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(classify)?;
            user_from(&row, ids)
        }

        fn user_from(row: &DbRow, ids: Vec<i64>) -> StoreResult<UserRow> {
            let role: String = row.try_get("role")?;
            Ok(UserRow {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
                password_hash: row.try_get("password_hash")?,
                role: role
                    .parse::<Role>()
                    .map_err(|_| StoreError::Corrupt(format!("unknown role '{role}'")))?,
                is_active: row.try_get("is_active")?,
                phone_number_ids: ids,
                created_at: ts(row.try_get("created_at")?),
                token_version: row.try_get("token_version")?,
            })
        }

        /// Refuses a change that would leave no active super_admin. The
        /// super_admins' rows are locked first, so two of them removing each
        /// other at once cannot both succeed.
        async fn keep_a_super_admin(tx: &mut Tx, target: &UserRow, loses: bool) -> StoreResult<()> {
            if !(loses && target.role == Role::SuperAdmin && target.is_active) {
                return Ok(());
            }
            let sql = format!("SELECT id FROM users WHERE role = 'super_admin' AND is_active = TRUE{}", $lock_row);
            let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut **tx)
                .await
                .map_err(classify)?;
            if ids.iter().all(|&i| i == target.id) {
                return Err(StoreError::Conflict(
                    "this is the last active super_admin; make another one first".into(),
                ));
            }
            Ok(())
        }

        async fn set_user_lines(tx: &mut Tx, user_id: i64, ids: &[i64]) -> StoreResult<()> {
            check_lines_exist(tx, ids).await?;
            sqlx::query("DELETE FROM user_phone_numbers WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            for id in ids {
                sqlx::query(
                    "INSERT INTO user_phone_numbers (user_id, phone_number_id) VALUES ($1, $2) \
                     ON CONFLICT (user_id, phone_number_id) DO NOTHING",
                )
                .bind(user_id)
                .bind(*id)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            }
            Ok(())
        }

        /// Creates the flows a batch names; a given name replaces only the
        /// placeholder `Flow <id>`, never a name someone chose.
        async fn ensure_flows(tx: &mut Tx, calls: &[&NewCall]) -> StoreResult<()> {
            let mut flows: std::collections::BTreeMap<&str, Option<&str>> = Default::default();
            for c in calls {
                if let Some(id) = c.flow_id.as_deref() {
                    let e = flows.entry(id).or_insert(None);
                    if let Some(name) = c.flow_name.as_deref() {
                        *e = Some(name);
                    }
                }
            }
            for (id, name) in flows {
                match name {
                    Some(name) => sqlx::query(
                        "INSERT INTO flows (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE \
                         SET name = excluded.name WHERE flows.name = 'Flow ' || flows.id",
                    )
                    .bind(id)
                    .bind(name),
                    None => sqlx::query(
                        "INSERT INTO flows (id, name) VALUES ($1, 'Flow ' || $2) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(id),
                }
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            }
            Ok(())
        }

        /// The multi-row insert of a chunk's calls whose `(provider,
        /// providerCallId)` is not stored yet; [`insert_built`] runs it.
        fn insert_new(chunk: &[&NewCall], now: i64) -> QueryBuilder<Db> {
            let mut qb = QueryBuilder::<Db>::new(INSERT_CALLS);
            push_call_values(&mut qb, chunk, now);
            qb.push(" ON CONFLICT (provider, provider_call_id) DO NOTHING");
            if CLAIM_ROWS {
                qb.push(" RETURNING provider, provider_call_id");
            }
            qb
        }

        /// Runs an [`insert_new`] of `n` calls and says which it inserted.
        /// The unique index decides, so this costs the same on a large
        /// table as on an empty one.
        ///
        /// PostgreSQL writers run concurrently: the statement returns the
        /// keys it inserted. SQLite has one writer at a time, so a chunk
        /// whose every row went in (an import's usual case) needs no list:
        /// handing each inserted key back through sqlx's row channel cost
        /// more than the insert's own index work. Otherwise the rows it
        /// inserted are those past `high_water`, the largest id before it
        /// (AUTOINCREMENT ids only grow), which this moves on.
        async fn insert_built(tx: &mut Tx, mut qb: QueryBuilder<Db>, n: usize, high_water: &mut i64) -> StoreResult<Inserted> {
            let keys = |rows: Vec<DbRow>| -> StoreResult<Inserted> {
                rows.iter()
                    .map(|r| Ok((r.try_get("provider")?, r.try_get("provider_call_id")?)))
                    .collect::<StoreResult<_>>()
                    .map(Inserted::Some)
            };
            if CLAIM_ROWS {
                return keys(qb.build().fetch_all(&mut **tx).await.map_err(classify)?);
            }
            let done = qb.build().execute(&mut **tx).await.map_err(classify)?;
            let before = *high_water;
            if done.rows_affected() > 0 {
                *high_water = done.last_id().ok_or_else(|| StoreError::Corrupt("no id for an inserted call".into()))?;
            }
            if done.rows_affected() == n as u64 {
                return Ok(Inserted::All);
            }
            if done.rows_affected() == 0 {
                return Ok(Inserted::Some(Default::default()));
            }
            keys(
                sqlx::query("SELECT provider, provider_call_id FROM calls WHERE id > $1")
                    .bind(before)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(classify)?,
            )
        }

        /// Counts and rolls up a chunk's inserted calls; the rest join
        /// `stored`, to merge into the stored records.
        fn split_inserted<'a>(
            chunk: &[&'a NewCall],
            mut inserted: Inserted,
            out: &mut MergeOutcome,
            delta: &mut Delta,
            stored: &mut Vec<&'a NewCall>,
        ) {
            for c in chunk {
                if inserted.take(c) {
                    out.created += 1;
                    delta.insert(&Fact::of(c));
                } else {
                    stored.push(*c);
                }
            }
        }

        /// The largest call id (SQLite: where [`insert_built`] starts).
        async fn high_water(tx: &mut Tx) -> StoreResult<i64> {
            if CLAIM_ROWS {
                return Ok(0);
            }
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM calls").fetch_one(&mut **tx).await.map_err(classify)
        }

        fn push_call_values(qb: &mut QueryBuilder<Db>, calls: &[&NewCall], now: i64) {
            qb.push_values(calls, |mut b, c| {
                b.push_bind(c.provider.as_str())
                    .push_bind(c.provider_call_id.clone())
                    .push_bind(c.phone_number.as_str().to_string())
                    .push_bind(c.other_party.clone())
                    .push_bind(c.direction.as_str())
                    .push_bind(c.status.as_str())
                    .push_bind(c.started_at.as_second())
                    .push_bind(c.ended_at.map(|t| t.as_second()))
                    .push_bind(c.duration_seconds)
                    .push_bind(c.flow_id.clone())
                    .push_bind(c.recording_url.clone())
                    .push_bind(super::raw_codec::encode(c))
                    .push_bind(now)
                    .push_bind(now);
            });
        }

        /// Folds reports of calls already stored (and repeats of a chunk's
        /// new calls) into the stored records by [`NewCall::merge`], in the
        /// order given. The stored rows of the whole lot are read (and on
        /// PostgreSQL locked, in key order) with one statement and merged in
        /// memory; a record is written back (and its rollups changed) once,
        /// and only when its reports left it different from what was
        /// stored. A call whose reports change nothing in the end (a file
        /// imported again, whatever its order) counts every report as
        /// unchanged. A report whose call is not there (deleted meanwhile)
        /// goes the one-by-one way, which stores it anew.
        async fn merge_stored(
            tx: &mut Tx,
            reports: &[&NewCall],
            now: i64,
            out: &mut MergeOutcome,
            delta: &mut Delta,
        ) -> StoreResult<()> {
            /// A stored call while its reports fold in.
            struct Folding {
                id: i64,
                stored: NewCall,
                current: NewCall,
                updated: u64,
                unchanged: u64,
            }
            if reports.is_empty() {
                return Ok(());
            }
            let mut keys: Vec<(&str, &str)> = reports.iter().map(|c| (c.provider.as_str(), c.provider_call_id.as_str())).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut calls: std::collections::HashMap<(String, String), Folding> = Default::default();
            for chunk in keys.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new(
                    "SELECT id, provider, provider_call_id, phone_number, other_party, direction, status, started_at, \
                     ended_at, duration_seconds, flow_id, recording_url, raw FROM calls \
                     WHERE (provider, provider_call_id) IN (VALUES ",
                );
                for (i, (provider, id)) in chunk.iter().enumerate() {
                    qb.push(if i == 0 { "(" } else { ", (" });
                    qb.push_bind(provider.to_string()).push(", ").push_bind(id.to_string()).push(")");
                }
                qb.push(")");
                if CLAIM_ROWS {
                    // Locked in key order (bytes, as Rust sorts them), the
                    // order every writer claims calls in.
                    qb.push(" ORDER BY provider COLLATE \"C\", provider_call_id COLLATE \"C\"");
                }
                qb.push($lock_row);
                for r in qb.build().fetch_all(&mut **tx).await.map_err(classify)? {
                    let id: i64 = r.try_get("id")?;
                    let stored = stored_call(&r)?;
                    let key = (stored.provider.as_str().to_string(), stored.provider_call_id.clone());
                    calls.insert(key, Folding { id, current: stored.clone(), stored, updated: 0, unchanged: 0 });
                }
            }
            for c in reports {
                let Some(f) = calls.get_mut(&(c.provider.as_str().to_string(), c.provider_call_id.clone())) else {
                    merge_one(tx, c, now, out, delta).await?;
                    continue;
                };
                let mut merged = f.current.clone().merge((*c).clone());
                merged.flow_name = None;
                if merged == f.current {
                    f.unchanged += 1;
                } else {
                    f.current = merged;
                    f.updated += 1;
                }
            }
            let mut changed: Vec<Folding> = Vec::new();
            for f in calls.into_values() {
                if f.current == f.stored {
                    out.unchanged += f.updated + f.unchanged;
                } else {
                    out.updated += f.updated;
                    out.unchanged += f.unchanged;
                    delta.change(&Fact::of(&f.stored), &Fact::of(&f.current));
                    changed.push(f);
                }
            }
            changed.sort_unstable_by_key(|f| f.id);
            for f in &changed {
                update_call(tx, f.id, &f.current, now).await?;
            }
            Ok(())
        }

        /// Writes a merged record over the stored row `id`.
        async fn update_call(tx: &mut Tx, id: i64, merged: &NewCall, now: i64) -> StoreResult<()> {
            sqlx::query(UPDATE_CALL)
                .bind(merged.phone_number.as_str().to_string())
                .bind(merged.other_party.clone())
                .bind(merged.direction.as_str())
                .bind(merged.status.as_str())
                .bind(merged.started_at.as_second())
                .bind(merged.ended_at.map(|t| t.as_second()))
                .bind(merged.duration_seconds)
                .bind(merged.flow_id.clone())
                .bind(merged.recording_url.clone())
                .bind(super::raw_codec::encode(merged))
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            Ok(())
        }

        /// Stores one report, or folds it into the stored call by [`NewCall::merge`].
        async fn merge_one(
            tx: &mut Tx,
            c: &NewCall,
            now: i64,
            out: &mut MergeOutcome,
            delta: &mut Delta,
        ) -> StoreResult<()> {
            // Claim the key first: a concurrent report of the same new call
            // waits here, then merges below.
            let inserted = sqlx::query(INSERT_CALL_IF_NEW)
                .bind(c.provider.as_str())
                .bind(c.provider_call_id.clone())
                .bind(c.phone_number.as_str().to_string())
                .bind(c.other_party.clone())
                .bind(c.direction.as_str())
                .bind(c.status.as_str())
                .bind(c.started_at.as_second())
                .bind(c.ended_at.map(|t| t.as_second()))
                .bind(c.duration_seconds)
                .bind(c.flow_id.clone())
                .bind(c.recording_url.clone())
                .bind(super::raw_codec::encode(c))
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(classify)?
                .rows_affected();
            if inserted == 1 {
                out.created += 1;
                delta.insert(&Fact::of(c));
                return Ok(());
            }
            let sql = format!(
                "SELECT id, provider, provider_call_id, phone_number, other_party, direction, status, started_at, \
                 ended_at, duration_seconds, flow_id, recording_url, raw FROM calls \
                 WHERE provider = $1 AND provider_call_id = $2{}",
                $lock_row
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(c.provider.as_str())
                .bind(c.provider_call_id.clone())
                .fetch_one(&mut **tx)
                .await
                .map_err(classify)?;
            let id: i64 = row.try_get("id")?;
            let existing = stored_call(&row)?;
            let mut merged = existing.clone().merge(c.clone());
            merged.flow_name = None;
            if merged == existing {
                out.unchanged += 1;
                return Ok(());
            }
            update_call(tx, id, &merged, now).await?;
            delta.change(&Fact::of(&existing), &Fact::of(&merged));
            out.updated += 1;
            Ok(())
        }

        #[async_trait]
        impl Store for $store {
            fn engine(&self) -> &'static str {
                $engine
            }

            async fn list_phone_numbers(&self, include_inactive: bool) -> StoreResult<Vec<PhoneNumberRow>> {
                let sql = if include_inactive {
                    format!("SELECT {LINE_COLUMNS} FROM phone_numbers")
                } else {
                    format!("SELECT {LINE_COLUMNS} FROM phone_numbers WHERE is_active = TRUE")
                };
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                let mut out = rows.iter().map(line_row).collect::<StoreResult<Vec<_>>>()?;
                sort_lines(&mut out);
                Ok(out)
            }

            async fn get_phone_number(&self, id: i64) -> StoreResult<PhoneNumberRow> {
                let mut tx = self.pool.begin().await.map_err(classify)?;
                let row = line_in(&mut tx, id).await?;
                tx.commit().await.map_err(classify)?;
                Ok(row)
            }

            async fn primary_phone_number(&self) -> StoreResult<Option<PhoneNumberRow>> {
                let sql = format!("SELECT {LINE_COLUMNS} FROM phone_numbers WHERE is_primary = TRUE");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?;
                row.as_ref().map(line_row).transpose()
            }

            async fn upsert_phone_number(
                &self,
                number: &str,
                mut changes: PhoneNumberChanges,
                audit: Audit<'_>,
            ) -> StoreResult<(PhoneNumberRow, bool)> {
                let (_turn, mut tx) = self.begin_writing().await?;
                changes.number = None;
                // Claim the number first, so two requests for the same new
                // number make one row: the second waits, then updates it.
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO phone_numbers (number, type, is_active, is_primary, capabilities, metadata, created_at, updated_at) \
                     VALUES ($1, 'exophone', TRUE, FALSE, '{}', '{}', $2, $2) ON CONFLICT (number) DO NOTHING RETURNING id",
                )
                .bind(number)
                .bind(now_secs())
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
                let (id, before) = match inserted {
                    Some(id) => (id, None),
                    None => {
                        let sql = format!("SELECT id FROM phone_numbers WHERE number = $1{}", $lock_row);
                        let id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                            .bind(number)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(classify)?;
                        (id, Some(line_in(&mut tx, id).await?))
                    }
                };
                let row = apply_line_changes(&mut tx, id, changes).await?;
                let created = before.is_none();
                let action = if created { "create" } else { "update" };
                let before = before.map(|b| audit.views.phone_number(&b));
                audit_in(&mut tx, audit, action, "phone_number", id, before, Some(audit.views.phone_number(&row))).await?;
                tx.commit().await.map_err(classify)?;
                Ok((row, created))
            }

            async fn update_phone_numbers(
                &self,
                updates: Vec<(i64, PhoneNumberChanges)>,
                audit: Audit<'_>,
            ) -> StoreResult<Vec<PhoneNumberRow>> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let mut befores = Vec::with_capacity(updates.len());
                for (id, changes) in updates {
                    befores.push(line_in(&mut tx, id).await?);
                    apply_line_changes(&mut tx, id, changes).await?;
                }
                // Read back after every change, so a later primary shows in earlier rows.
                let mut out = Vec::with_capacity(befores.len());
                for before in befores {
                    let row = line_in(&mut tx, before.id).await?;
                    let (b, a) = (audit.views.phone_number(&before), audit.views.phone_number(&row));
                    audit_in(&mut tx, audit, "update", "phone_number", row.id, Some(b), Some(a)).await?;
                    out.push(row);
                }
                tx.commit().await.map_err(classify)?;
                Ok(out)
            }

            async fn delete_phone_number(&self, id: i64, audit: Audit<'_>) -> StoreResult<()> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let before = line_in(&mut tx, id).await?;
                sqlx::query("DELETE FROM phone_numbers WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                audit_in(&mut tx, audit, "delete", "phone_number", id, Some(audit.views.phone_number(&before)), None).await?;
                tx.commit().await.map_err(classify)?;
                Ok(())
            }

            async fn discover_phone_numbers(&self, audit: Audit<'_>) -> StoreResult<(u64, u64)> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let ids: Vec<i64> = sqlx::query_scalar(
                    "INSERT INTO phone_numbers (number, type, is_active, is_primary, capabilities, metadata, created_at, updated_at) \
                     SELECT DISTINCT c.phone_number, 'exophone', TRUE, FALSE, '{}', '{}', $1, $1 FROM calls c \
                     WHERE NOT EXISTS (SELECT 1 FROM phone_numbers p WHERE p.number = c.phone_number) RETURNING id",
                )
                .bind(now_secs())
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                for &id in &ids {
                    let row = line_in(&mut tx, id).await?;
                    audit_in(&mut tx, audit, "discover", "phone_number", id, None, Some(audit.views.phone_number(&row))).await?;
                }
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM phone_numbers")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok((ids.len() as u64, total as u64))
            }

            async fn list_groups(&self) -> StoreResult<Vec<GroupRow>> {
                let rows = sqlx::query("SELECT id, name, description FROM phone_number_groups")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                let members = sqlx::query("SELECT group_id, phone_number_id FROM phone_number_group_members ORDER BY phone_number_id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                let mut by_group: std::collections::HashMap<i64, Vec<i64>> = Default::default();
                for m in &members {
                    by_group
                        .entry(m.try_get("group_id")?)
                        .or_default()
                        .push(m.try_get("phone_number_id")?);
                }
                let mut out = rows
                    .iter()
                    .map(|r| {
                        let id: i64 = r.try_get("id")?;
                        Ok(GroupRow {
                            id,
                            name: r.try_get("name")?,
                            description: r.try_get("description")?,
                            phone_number_ids: by_group.remove(&id).unwrap_or_default(),
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                out.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));
                Ok(out)
            }

            async fn get_group(&self, id: i64) -> StoreResult<GroupRow> {
                let mut tx = self.pool.begin().await.map_err(classify)?;
                let g = group_in(&mut tx, id).await?;
                tx.commit().await.map_err(classify)?;
                Ok(g)
            }

            async fn create_group(
                &self,
                name: &str,
                description: Option<&str>,
                phone_number_ids: &[i64],
                audit: Audit<'_>,
            ) -> StoreResult<GroupRow> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO phone_number_groups (name, description, created_at) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(name)
                .bind(description)
                .bind(now_secs())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match classify(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("a group named '{name}' already exists")),
                    other => other,
                })?;
                set_members(&mut tx, id, phone_number_ids, true).await?;
                let g = group_in(&mut tx, id).await?;
                audit_in(&mut tx, audit, "create", "group", id, None, Some(audit.views.group(&g))).await?;
                tx.commit().await.map_err(classify)?;
                Ok(g)
            }

            async fn update_group(&self, id: i64, changes: GroupChanges, audit: Audit<'_>) -> StoreResult<GroupRow> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let before = group_in(&mut tx, id).await?;
                if let Some(name) = &changes.name {
                    sqlx::query("UPDATE phone_number_groups SET name = $1 WHERE id = $2")
                        .bind(name)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| match classify(e) {
                            StoreError::Conflict(_) => StoreError::Conflict(format!("a group named '{name}' already exists")),
                            other => other,
                        })?;
                }
                if let Some(d) = changes.description {
                    sqlx::query("UPDATE phone_number_groups SET description = $1 WHERE id = $2")
                        .bind(d)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                if let Some(ids) = &changes.phone_number_ids {
                    set_members(&mut tx, id, ids, true).await?;
                }
                let g = group_in(&mut tx, id).await?;
                audit_in(&mut tx, audit, "update", "group", id, Some(audit.views.group(&before)), Some(audit.views.group(&g))).await?;
                tx.commit().await.map_err(classify)?;
                Ok(g)
            }

            async fn delete_group(&self, id: i64, audit: Audit<'_>) -> StoreResult<()> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let before = group_in(&mut tx, id).await?;
                sqlx::query("DELETE FROM phone_number_groups WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                audit_in(&mut tx, audit, "delete", "group", id, Some(audit.views.group(&before)), None).await?;
                tx.commit().await.map_err(classify)?;
                Ok(())
            }

            async fn add_group_members(&self, id: i64, phone_number_ids: &[i64], audit: Audit<'_>) -> StoreResult<GroupRow> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let before = group_in(&mut tx, id).await?;
                set_members(&mut tx, id, phone_number_ids, false).await?;
                let g = group_in(&mut tx, id).await?;
                audit_in(&mut tx, audit, "add_members", "group", id, Some(audit.views.group(&before)), Some(audit.views.group(&g))).await?;
                tx.commit().await.map_err(classify)?;
                Ok(g)
            }

            async fn remove_group_member(&self, id: i64, phone_number_id: i64, audit: Audit<'_>) -> StoreResult<GroupRow> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let before = group_in(&mut tx, id).await?;
                let done = sqlx::query("DELETE FROM phone_number_group_members WHERE group_id = $1 AND phone_number_id = $2")
                    .bind(id)
                    .bind(phone_number_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                let g = group_in(&mut tx, id).await?;
                audit_in(&mut tx, audit, "remove_member", "group", id, Some(audit.views.group(&before)), Some(audit.views.group(&g))).await?;
                tx.commit().await.map_err(classify)?;
                Ok(g)
            }

            async fn upsert_calls(&self, calls: &[NewCall]) -> StoreResult<UpsertOutcome> {
                // The last record for a (provider, id) wins within a batch.
                let mut last: std::collections::HashMap<(&str, &str), usize> = Default::default();
                for (i, c) in calls.iter().enumerate() {
                    last.insert((c.provider.as_str(), c.provider_call_id.as_str()), i);
                }
                // In key order: two batches naming the same calls claim
                // them in the same order, so they cannot deadlock.
                let mut batch: Vec<&NewCall> = last.into_values().map(|i| &calls[i]).collect();
                batch.sort_unstable_by(|a, b| (a.provider.as_str(), &a.provider_call_id).cmp(&(b.provider.as_str(), &b.provider_call_id)));
                if batch.is_empty() {
                    return Ok(UpsertOutcome::default());
                }
                let now = now_secs();
                let (_turn, mut tx) = self.begin_writing().await?;
                ensure_flows(&mut tx, &batch).await?;
                let mut outcome = UpsertOutcome::default();
                let mut delta = Delta::default();
                let beside = self.start_rolling_up_beside(&batch);
                let mut created: Vec<&NewCall> = Vec::new();
                let mut high = high_water(&mut tx).await?;
                for chunk in batch.chunks(INSERT_CHUNK) {
                    // New calls go in first; the rest overwrite what is stored.
                    let mut inserted = insert_built(&mut tx, insert_new(chunk, now), chunk.len(), &mut high).await?;
                    let (new, stored): (Vec<&NewCall>, Vec<&NewCall>) = chunk.iter().copied().partition(|c| inserted.take(c));
                    outcome.created += new.len() as u64;
                    created.extend(new);
                    if stored.is_empty() {
                        continue;
                    }
                    if let Some((_, stop)) = &beside {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    let before = stored_facts(&mut tx, &stored).await?;
                    for c in &stored {
                        let old = before
                            .get(&(c.provider.as_str().to_string(), c.provider_call_id.clone()))
                            .ok_or_else(|| StoreError::Corrupt("a stored call vanished mid-write".into()))?;
                        delta.change(old, &Fact::of(c));
                    }
                    outcome.updated += stored.len() as u64;
                    let mut qb = QueryBuilder::<Db>::new(INSERT_CALLS);
                    push_call_values(&mut qb, &stored, now);
                    qb.push(
                        " ON CONFLICT (provider, provider_call_id) DO UPDATE SET \
                         phone_number = excluded.phone_number, other_party = excluded.other_party, \
                         direction = excluded.direction, status = excluded.status, started_at = excluded.started_at, \
                         ended_at = excluded.ended_at, duration_seconds = excluded.duration_seconds, \
                         flow_id = excluded.flow_id, recording_url = excluded.recording_url, raw = excluded.raw, \
                         updated_at = excluded.updated_at",
                    );
                    qb.build().execute(&mut *tx).await.map_err(classify)?;
                }
                let mine = match self.store_rolled_up_beside(&mut tx, beside).await? {
                    Some(mine) => mine,
                    None => {
                        for c in created {
                            delta.insert(&Fact::of(c));
                        }
                        let mut mine = TxCallers::default();
                        flush(&mut tx, &mut delta, &self.callers, &mut mine).await?;
                        mine
                    }
                };
                tx.commit().await.map_err(classify)?;
                self.callers.remember(mine);
                Ok(outcome)
            }

            async fn merge_calls(&self, calls: &[NewCall]) -> StoreResult<MergeOutcome> {
                let mut out = MergeOutcome::default();
                if calls.is_empty() {
                    return Ok(out);
                }
                let now = now_secs();
                let began = std::time::Instant::now();
                let (_turn, mut tx) = self.begin_writing().await?;
                let turn_taken = began.elapsed();
                // In key order (stable: repeats of one call keep theirs), so
                // two batches naming the same calls cannot deadlock.
                let mut refs: Vec<&NewCall> = calls.iter().collect();
                refs.sort_by(|a, b| (a.provider.as_str(), &a.provider_call_id).cmp(&(b.provider.as_str(), &b.provider_call_id)));
                ensure_flows(&mut tx, &refs).await?;
                let mut delta = Delta::default();
                // SQLite, an import's batch: its rollups are worked out
                // beside the inserts, and used if every call went in new.
                let beside = self.start_rolling_up_beside(&refs);
                // Calls not stored yet go in with one multi-row insert a
                // chunk; the rest (and repeats) merge in one go after them.
                // Keys are sorted, so a call's first record is the one
                // inserted and its later ones merge in order.
                let chunks: Vec<&[&NewCall]> = refs.chunks(INSERT_CHUNK).collect();
                let mut high = high_water(&mut tx).await?;
                let mut stored: Vec<&NewCall> = Vec::new();
                // What each chunk inserted, sorted out once the beside
                // is known to be of no use.
                let mut pending: Vec<(&[&NewCall], Inserted)> = Vec::new();
                let mut next = chunks.first().map(|c| insert_new(c, now));
                let mut done: Option<(&[&NewCall], Inserted)> = None;
                for (i, chunk) in chunks.iter().enumerate() {
                    let qb = next.take().ok_or_else(|| StoreError::Corrupt("a chunk's insert was not built".into()))?;
                    // While sqlx's worker inserts this chunk, this thread
                    // builds the next one's insert and rolls up the last.
                    let (inserted, built) = futures_util::join!(insert_built(&mut tx, qb, chunk.len(), &mut high), async {
                        if let Some((c, ins)) = done.take() {
                            match &beside {
                                Some(_) => pending.push((c, ins)),
                                None => split_inserted(c, ins, &mut out, &mut delta, &mut stored),
                            }
                        }
                        chunks.get(i + 1).map(|c| insert_new(c, now))
                    });
                    let inserted = inserted?;
                    if let Some((_, stop)) = &beside
                        && !matches!(inserted, Inserted::All)
                    {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    done = Some((chunk, inserted));
                    next = built;
                }
                pending.extend(done.take());
                // Every call went in new: what was worked out beside the
                // inserts is stored (and nothing is left to merge).
                let stored_beside = if pending.iter().all(|(_, ins)| matches!(ins, Inserted::All)) {
                    self.store_rolled_up_beside(&mut tx, beside).await?
                } else {
                    None
                };
                if stored_beside.is_some() {
                    out.created += pending.iter().map(|(c, _)| c.len() as u64).sum::<u64>();
                } else {
                    for (c, ins) in pending {
                        split_inserted(c, ins, &mut out, &mut delta, &mut stored);
                    }
                }
                let inserted_by = began.elapsed();
                merge_stored(&mut tx, &stored, now, &mut out, &mut delta).await?;
                let merged_by = began.elapsed();
                let mine = match stored_beside {
                    Some(mine) => mine,
                    None => {
                        let mut mine = TxCallers::default();
                        flush(&mut tx, &mut delta, &self.callers, &mut mine).await?;
                        mine
                    }
                };
                let flushed_by = began.elapsed();
                tx.commit().await.map_err(classify)?;
                self.callers.remember(mine);
                // Where a batch's time went (LINEWISE_LOG=linewise::store=debug).
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
                tracing::debug!(
                    calls = calls.len(),
                    turn_ms = ms(turn_taken),
                    insert_ms = ms(inserted_by - turn_taken),
                    merge_ms = ms(merged_by - inserted_by),
                    rollups_ms = ms(flushed_by - merged_by),
                    commit_ms = ms(began.elapsed() - flushed_by),
                    "calls merged"
                );
                Ok(out)
            }

            async fn list_calls(&self, scope: &LineScope, q: &CallQuery) -> StoreResult<Vec<CallRow>> {
                let mut qb = QueryBuilder::<Db>::new(CALL_SELECT);
                push_scope(&mut qb, "c.phone_number", scope);
                if let Some((from, to)) = q.period {
                    qb.push(" AND c.started_at >= ").push_bind(from);
                    qb.push(" AND c.started_at < ").push_bind(to);
                }
                if let Some((at, id)) = q.after {
                    // (started_at, id) < (at, id), spelled so that both
                    // engines start the index scan at the cursor instead of
                    // filtering every newer row on each page.
                    qb.push(" AND c.started_at <= ").push_bind(at);
                    qb.push(" AND (c.started_at < ").push_bind(at);
                    qb.push(" OR c.id < ").push_bind(id);
                    qb.push(")");
                }
                qb.push(" ORDER BY c.started_at DESC, c.id DESC LIMIT ").push_bind(q.limit);
                let rows = qb.build().fetch_all(&self.pool).await.map_err(classify)?;
                rows.iter().map(call_row).collect()
            }

            async fn call_counts(&self, scope: &LineScope, from: i64, to: i64) -> StoreResult<CallCounts> {
                Ok(self.counts_per_line(scope, from, to, false).await?.remove("").unwrap_or_default())
            }

            async fn slot_counts(&self, scope: &LineScope, from: i64, to: i64, base: i64) -> StoreResult<Vec<SlotCounts>> {
                let mut slots: std::collections::BTreeMap<i64, CallCounts> = Default::default();
                let plan = if base.rem_euclid($crate::store::SLOT_SECONDS) == 0 {
                    rollup::plan(from, to, false)
                } else {
                    // Slots not on the 15-minute grid: only the raw rows can say.
                    rollup::Plan { raw: vec![(from, to)], ranges: vec![] }
                };
                let base_slot = base.div_euclid($crate::store::SLOT_SECONDS);
                let tail = " GROUP BY bucket";
                for r in self.rollup_rows(&format!("bucket, {ROLLUP_SUMS}"), scope, false, &plan.ranges, tail).await? {
                    let slot = r.try_get::<i64, _>("bucket")? - base_slot;
                    rollup::add_counts(slots.entry(slot).or_default(), &sums_from(&r)?, 1);
                }
                for (a, b) in plan.raw {
                    for f in self.raw_facts(scope, a, b).await? {
                        let slot = (f.started_at - base).div_euclid($crate::store::SLOT_SECONDS);
                        rollup::add_counts(slots.entry(slot).or_default(), &f.counts(), 1);
                    }
                }
                Ok(slots
                    .into_iter()
                    .filter(|(_, c)| c.calls != 0)
                    .map(|(slot, counts)| SlotCounts { slot, counts })
                    .collect())
            }

            async fn grouped_counts(
                &self,
                scope: &LineScope,
                from: i64,
                to: i64,
                by: CallColumn,
            ) -> StoreResult<Vec<(Option<String>, CallCounts)>> {
                let dim = match by {
                    CallColumn::Flow => Dim::Flow,
                    CallColumn::Status => Dim::Status,
                    CallColumn::Direction => Dim::Direction,
                    CallColumn::PhoneNumber => {
                        let per = self.counts_per_line(scope, from, to, true).await?;
                        return Ok(per.into_iter().filter(|(_, c)| c.calls != 0).map(|(n, c)| (Some(n), c)).collect());
                    }
                };
                Ok(self
                    .dim_counts(scope, from, to, dim)
                    .await?
                    .into_iter()
                    .map(|(v, c)| ((!v.is_empty()).then_some(v), c))
                    .collect())
            }

            async fn flow_names(&self) -> StoreResult<std::collections::HashMap<String, String>> {
                let rows = sqlx::query("SELECT id, name FROM flows").fetch_all(&self.pool).await.map_err(classify)?;
                rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("name")?))).collect()
            }

            async fn live_calls(&self, scope: &LineScope, since: i64) -> StoreResult<i64> {
                let mut qb = QueryBuilder::<Db>::new(
                    // Spelled as the partial indexes' predicate (migration 0007).
                    "SELECT COUNT(*) FROM calls WHERE (status = 'ringing' OR status = 'queued' OR status = 'in-progress') \
                     AND started_at > ",
                );
                qb.push_bind(since);
                push_scope(&mut qb, "phone_number", scope);
                let n: i64 = qb.build_query_scalar().fetch_one(&self.pool).await.map_err(classify)?;
                Ok(n)
            }

            async fn top_flows(
                &self,
                scope: &LineScope,
                from: i64,
                to: i64,
                limit: i64,
            ) -> StoreResult<Vec<FlowCounts>> {
                // The names and the counts on two connections at once: one
                // round trip of latency, not two, in every dashboard.
                let (names, counts) = tokio::try_join!(self.flow_names(), self.dim_counts(scope, from, to, Dim::Flow))?;
                let mut out: Vec<FlowCounts> = counts
                    .into_iter()
                    .filter(|(id, _)| !id.is_empty())
                    .map(|(id, c)| FlowCounts {
                        flow_name: names.get(&id).cloned().unwrap_or_else(|| format!("Flow {id}")),
                        flow_id: id,
                        calls: c.calls,
                        answered: c.answered,
                    })
                    .collect();
                // Ranking in Rust: the engines' collations differ.
                out.sort_by(|a, b| {
                    b.calls
                        .cmp(&a.calls)
                        .then_with(|| a.flow_name.cmp(&b.flow_name))
                        .then_with(|| a.flow_id.cmp(&b.flow_id))
                });
                out.truncate(limit.max(0) as usize);
                Ok(out)
            }

            async fn rebuild_rollups(&self) -> StoreResult<u64> {
                let _turn = self.wait_to_write().await;
                rebuild_all(&self.pool, &self.callers).await
            }

            async fn warm_up(&self) -> StoreResult<()> {
                if !CLAIM_ROWS {
                    let _turn = self.callers.reading().lock().await;
                    read_callers(&self.pool, &self.callers).await?;
                }
                Ok(())
            }

            async fn rollup_drift(&self) -> StoreResult<Vec<String>> {
                let mut drift = Vec::new();
                let mut ids: std::collections::HashMap<String, u32> = Default::default();
                for r in sqlx::query("SELECT id, number FROM callers").fetch_all(&self.pool).await.map_err(classify)? {
                    let number: String = r.try_get("number")?;
                    let id = u32::try_from(r.try_get::<i64, _>("id")?).unwrap_or(u32::MAX);
                    // SQLite's log of callers leaves a number's uniqueness to
                    // its one writer at a time.
                    if let Some(other) = ids.insert(number.clone(), id) {
                        drift.push(format!("caller {number} has two ids: {other} and {id}"));
                    }
                }
                let mut delta = Delta::default();
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {FACT_COLUMNS} FROM calls")))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                for r in &rows {
                    delta.insert(&fact_row(r)?);
                }
                delta.changes();
                let positions: Vec<u32> = delta
                    .caller_numbers()
                    .iter()
                    .map(|n| ids.get(n).copied().ok_or_else(|| StoreError::Corrupt(format!("caller {n} has no id"))))
                    .collect::<StoreResult<_>>()?;
                let mut expected: std::collections::BTreeMap<Key, rollup::Row> = Default::default();
                for (k, ch) in delta.changes() {
                    expected.entry(k.clone()).or_default().apply(ch, &positions, None)?;
                }
                let stored = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT level, bucket, phone_number, calls, answered, missed, abandoned, failed, talk_seconds, \
                     {CALLER_SET}, breakdown FROM rollups"
                )))
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                for r in &stored {
                    let key = Key { level: r.try_get("level")?, bucket: r.try_get("bucket")?, phone_number: r.try_get("phone_number")? };
                    let Some(set) = r.try_get::<Option<&[u8]>, _>("callers")? else {
                        drift.push(format!("{key:?}: names a caller set that is not stored"));
                        expected.remove(&key);
                        continue;
                    };
                    let row = rollup::Row {
                        counts: sums_from(r)?,
                        callers: rollup::decode_callers(set)?,
                        breakdown: rollup::decode_breakdown(&r.try_get::<Vec<u8>, _>("breakdown")?)?,
                    };
                    let want = expected.remove(&key).unwrap_or_default();
                    if row != want {
                        drift.push(format!("{key:?}: stored {row:?}, recount {want:?}"));
                    }
                }
                for (key, want) in expected {
                    drift.push(format!("{key:?}: missing, recount {want:?}"));
                }
                // Every set kept apart belongs to exactly one row.
                let (named, distinct): (i64, i64) = sqlx::query_as(
                    "SELECT COUNT(*), COUNT(DISTINCT callers_ref) FROM rollups WHERE callers_ref IS NOT NULL",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(classify)?;
                let sets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rollup_sets").fetch_one(&self.pool).await.map_err(classify)?;
                if named != distinct || sets != named {
                    drift.push(format!("{named} rows name {distinct} caller sets kept apart; {sets} are stored"));
                }
                Ok(drift)
            }

            async fn count_users(&self) -> StoreResult<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM users")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(classify)
            }

            async fn list_users(&self) -> StoreResult<Vec<UserRow>> {
                let rows = sqlx::query(
                    "SELECT id, email, password_hash, role, is_active, created_at, token_version FROM users ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                let links = sqlx::query("SELECT user_id, phone_number_id FROM user_phone_numbers ORDER BY phone_number_id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                let mut by_user: std::collections::HashMap<i64, Vec<i64>> = Default::default();
                for l in &links {
                    by_user.entry(l.try_get("user_id")?).or_default().push(l.try_get("phone_number_id")?);
                }
                rows.iter()
                    .map(|r| {
                        let id: i64 = r.try_get("id")?;
                        user_from(r, by_user.remove(&id).unwrap_or_default())
                    })
                    .collect()
            }

            async fn get_user(&self, id: i64) -> StoreResult<UserRow> {
                let mut conn = self.pool.acquire().await.map_err(classify)?;
                user_in(&mut conn, id).await
            }

            async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
                let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                    .bind(email.to_lowercase())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?;
                match id {
                    Some(id) => Ok(Some(self.get_user(id).await?)),
                    None => Ok(None),
                }
            }

            async fn create_user(
                &self,
                email: &str,
                password_hash: &str,
                role: Role,
                phone_number_ids: &[i64],
                audit: Audit<'_>,
            ) -> StoreResult<UserRow> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO users (email, password_hash, role, is_active, created_at) VALUES ($1, $2, $3, TRUE, $4) RETURNING id",
                )
                .bind(email.to_lowercase())
                .bind(password_hash)
                .bind(role.as_str())
                .bind(now_secs())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match classify(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("a user with email '{email}' already exists")),
                    other => other,
                })?;
                set_user_lines(&mut tx, id, phone_number_ids).await?;
                let u = user_in(&mut tx, id).await?;
                audit_in(&mut tx, audit, "create", "user", id, None, Some(audit.views.user(&u))).await?;
                tx.commit().await.map_err(classify)?;
                Ok(u)
            }

            async fn update_user(&self, id: i64, changes: UserChanges, audit: Audit<'_>) -> StoreResult<UserRow> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let target = user_in(&mut tx, id).await?;
                let loses = changes.role.is_some_and(|r| r != Role::SuperAdmin) || changes.is_active == Some(false);
                keep_a_super_admin(&mut tx, &target, loses).await?;
                if let Some(role) = changes.role {
                    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                        .bind(role.as_str())
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                if let Some(active) = changes.is_active {
                    sqlx::query("UPDATE users SET is_active = $1 WHERE id = $2")
                        .bind(active)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                if let Some(hash) = &changes.password_hash {
                    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                        .bind(hash)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                if let Some(ids) = &changes.phone_number_ids {
                    set_user_lines(&mut tx, id, ids).await?;
                }
                let password_changed = changes.password_hash.is_some();
                if password_changed || changes.is_active == Some(false) {
                    // Every token and session the user holds ends with this commit.
                    sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                let u = user_in(&mut tx, id).await?;
                let mut after = audit.views.user(&u);
                if password_changed {
                    // The log says that it changed, never what to.
                    after["passwordChanged"] = true.into();
                }
                audit_in(&mut tx, audit, "update", "user", id, Some(audit.views.user(&target)), Some(after)).await?;
                tx.commit().await.map_err(classify)?;
                Ok(u)
            }

            async fn delete_user(&self, id: i64, audit: Audit<'_>) -> StoreResult<()> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let target = user_in(&mut tx, id).await?;
                keep_a_super_admin(&mut tx, &target, true).await?;
                sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                audit_in(&mut tx, audit, "delete", "user", id, Some(audit.views.user(&target)), None).await?;
                tx.commit().await.map_err(classify)?;
                Ok(())
            }

            async fn find_call(&self, provider: &str, provider_call_id: &str) -> StoreResult<Option<NewCall>> {
                let row = sqlx::query(
                    "SELECT id, provider, provider_call_id, phone_number, other_party, direction, status, started_at, \
                     ended_at, duration_seconds, flow_id, recording_url, raw FROM calls \
                     WHERE provider = $1 AND provider_call_id = $2",
                )
                .bind(provider)
                .bind(provider_call_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
                row.as_ref().map(stored_call).transpose()
            }

            async fn revoke_token(&self, fingerprint: &str, expires_at: i64) -> StoreResult<()> {
                let now = jiff::Timestamp::now().as_second();
                let (_turn, mut tx) = self.begin_writing().await?;
                sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                sqlx::query("INSERT INTO revoked_tokens (fingerprint, expires_at) VALUES ($1, $2) ON CONFLICT (fingerprint) DO NOTHING")
                    .bind(fingerprint)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(())
            }

            async fn token_revoked(&self, fingerprint: &str) -> StoreResult<bool> {
                let found: Option<i64> = sqlx::query_scalar("SELECT expires_at FROM revoked_tokens WHERE fingerprint = $1")
                    .bind(fingerprint)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?;
                Ok(found.is_some())
            }

            async fn create_ingest_key(
                &self,
                name: &str,
                key_hash: &str,
                prefix: &str,
                created_by: Option<i64>,
                audit: Audit<'_>,
            ) -> StoreResult<IngestKeyRow> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let sql = format!(
                    "INSERT INTO ingest_keys (name, key_hash, prefix, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(name)
                    .bind(key_hash)
                    .bind(prefix)
                    .bind(created_by)
                    .bind(now_secs())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                let key = key_row(&row)?;
                audit_in(&mut tx, audit, "create", "ingest_key", key.id, None, Some(audit.views.ingest_key(&key))).await?;
                tx.commit().await.map_err(classify)?;
                Ok(key)
            }

            async fn list_ingest_keys(&self) -> StoreResult<Vec<IngestKeyRow>> {
                let sql = format!("SELECT {KEY_COLUMNS} FROM ingest_keys ORDER BY id");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(classify)?;
                rows.iter().map(key_row).collect()
            }

            async fn revoke_ingest_key(&self, id: i64, audit: Audit<'_>) -> StoreResult<IngestKeyRow> {
                let (_turn, mut tx) = self.begin_writing().await?;
                let before = key_in(&mut tx, id).await?;
                if before.revoked_at.is_some() {
                    return Ok(before);
                }
                sqlx::query("UPDATE ingest_keys SET revoked_at = $1 WHERE id = $2")
                    .bind(now_secs())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                let after = key_in(&mut tx, id).await?;
                audit_in(&mut tx, audit, "revoke", "ingest_key", id, Some(audit.views.ingest_key(&before)), Some(audit.views.ingest_key(&after))).await?;
                tx.commit().await.map_err(classify)?;
                Ok(after)
            }

            async fn find_ingest_key(&self, key_hash: &str) -> StoreResult<Option<IngestKeyRow>> {
                let sql = format!("SELECT {KEY_COLUMNS} FROM ingest_keys WHERE key_hash = $1 AND revoked_at IS NULL");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(key_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?;
                row.as_ref().map(key_row).transpose()
            }

            async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await
                    .map_err(classify)?;
                sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(classify)
            }

            // -- the audit log

            async fn backup_to(&self, path: &str) -> StoreResult<()> {
                if self.engine() != "sqlite" {
                    return Err(StoreError::Invalid {
                        field: "DATABASE_URL".into(),
                        message: "PostgreSQL databases are backed up with pg_dump".into(),
                    });
                }
                // Created here, private (SQLite would make it readable by all).
                $crate::store::create_backup_file(path)?;
                // One read transaction: the copy is the database as of its start.
                if let Err(e) = sqlx::query("VACUUM INTO $1").bind(path.to_string()).execute(&self.pool).await {
                    let _ = std::fs::remove_file(path);
                    return Err(classify(e));
                }
                Ok(())
            }

            async fn list_audit(&self, q: &$crate::store::AuditQuery) -> StoreResult<Vec<$crate::store::AuditRow>> {
                let mut qb = QueryBuilder::<Db>::new(
                    "SELECT id, at, actor_id, actor_email, action, object_type, object_id, before_json, after_json \
                     FROM audit_log WHERE 1 = 1",
                );
                if let Some(t) = &q.object_type {
                    qb.push(" AND object_type = ").push_bind(t.clone());
                }
                if let Some(t) = &q.exclude_object_type {
                    qb.push(" AND object_type <> ").push_bind(t.clone());
                }
                if let Some(id) = q.object_id {
                    qb.push(" AND object_id = ").push_bind(id);
                }
                if let Some(id) = q.before_id {
                    qb.push(" AND id < ").push_bind(id);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(q.limit);
                let rows = qb.build().fetch_all(&self.pool).await.map_err(classify)?;
                let json = |s: Option<String>| s.as_deref().map(json_text).transpose();
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::AuditRow {
                            id: r.try_get("id")?,
                            at: ts(r.try_get("at")?),
                            entry: $crate::store::NewAuditEntry {
                                actor_id: r.try_get("actor_id")?,
                                actor_email: r.try_get("actor_email")?,
                                action: r.try_get("action")?,
                                object_type: r.try_get("object_type")?,
                                object_id: r.try_get("object_id")?,
                                before: json(r.try_get("before_json")?)?,
                                after: json(r.try_get("after_json")?)?,
                            },
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(super) use store_impl;
