//! The embedded engine: one SQLite file in WAL mode with foreign keys on,
//! its write-ahead log copied back by a task beside the writers ([`checkpointer`]).
//!
//! The file and the `-wal` and `-shm` files beside it hold password hashes:
//! only their owner may read them ([`keep_private`]). Other processes'
//! commits to the file are seen in the wal-index ([`CommitWatch`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
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
    writer_queue: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// Whether an import's rollups are worked out on a second connection
    /// while its writer inserts the calls: a file's, not an in-memory
    /// database's (`sqlite::memory:` or `?mode=memory`: its connections
    /// share one cache and lock tables).
    beside: bool,
    /// Batches rolled up that way (a test asserts the path is taken).
    rolled_up_beside: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The background checkpointer, stopped with the last clone (none for
    /// a test that checkpoints by hand).
    _checkpointer: Option<std::sync::Arc<AbortOnDrop>>,
}

impl SqliteStore {
    /// Opens (creating when missing) the file a `sqlite://` URL names and migrates it.
    pub async fn connect(url: &str) -> super::StoreResult<Self> {
        SqliteStore::open(url, true).await
    }

    /// [`connect`](Self::connect), with or without the background [`checkpointer`].
    async fn open(url: &str, checkpoints: bool) -> super::StoreResult<Self> {
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
        let on_disk = super::sqlite_path(url).is_some() && !url.contains("mode=memory");
        if on_disk {
            keep_private(options.get_filename())?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(super::sql::classify)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let turns: std::sync::Arc<tokio::sync::Mutex<()>> = Default::default();
        let checkpoints = checkpoints.then(|| {
            let task = tokio::spawn(checkpointer(pool.clone(), turns.clone()));
            std::sync::Arc::new(AbortOnDrop(task))
        });
        SqliteStore {
            pool,
            callers: super::callers::CallerIds::book(),
            writer_queue: Some(turns),
            beside: on_disk,
            rolled_up_beside: Default::default(),
            _checkpointer: checkpoints,
        }
        .prepare()
        .await
    }
}

/// Keeps the database file and the `-wal` and `-shm` files beside it
/// readable and writable by their owner only (mode 0600).
///
/// A missing database file is created so before SQLite opens it: SQLite
/// gives the `-wal` and `-shm` files it creates the mode of the database
/// file (and would create that one readable by all). An existing file that
/// others may read is narrowed to 0600, with a warning naming it.
fn keep_private(db: &Path) -> super::StoreResult<()> {
    match super::create_private_file(db) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(super::StoreError::Unavailable(format!(
                "cannot create the database file {}: {e}",
                db.display()
            )));
        }
    }
    #[cfg(unix)]
    for file in [db.to_path_buf(), beside(db, "-wal"), beside(db, "-shm")] {
        use std::os::unix::fs::PermissionsExt;
        // The -wal and -shm exist only while the database is open.
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            continue;
        }
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => tracing::warn!(
                file = %file.display(),
                was = format!("{mode:o}"),
                "the database file was readable by other users; it is now 0600"
            ),
            Err(e) => tracing::warn!(
                file = %file.display(),
                mode = format!("{mode:o}"),
                cause = %e,
                "the database file is readable by other users and could not be made 0600"
            ),
        }
    }
    Ok(())
}

/// `db` with `suffix` appended to its name: SQLite's `-wal` and `-shm`.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    name.into()
}

/// Tells whether anything was committed to a SQLite file, by any
/// connection of any process, since the last look.
///
/// Every process with the database open maps its `-shm` file, the
/// wal-index, which starts with the wal-index header (`WalIndexHdr` in
/// SQLite's `wal.c`): 48 bytes written twice, the second copy first, by
/// every commit. It holds a counter every commit bumps (`iChange`), the
/// log's last frame (`mxFrame`) and the log's salts, which change when a
/// writer starts the log afresh; SQLite itself takes a header that differs
/// from the one it saw last as "changed". A `-shm` file made afresh (the
/// last connection deleted it) starts from the same header whatever was
/// written meanwhile, so a header read from another file counts as changed
/// too. A look costs a `stat` and a read of 96 bytes.
pub(super) struct CommitWatch {
    shm: PathBuf,
    last: Mutex<Looked>,
}

/// What a [`CommitWatch`] saw last.
#[derive(Default)]
struct Looked {
    /// The `-shm` file it reads.
    file: Option<ShmFile>,
    /// The header, when it was whole, and the file it was read from.
    header: Option<([u8; WAL_INDEX_HEADER], FileId)>,
}

/// Which file a file is: its device and inode.
type FileId = (u64, u64);
/// An open `-shm` file, and which file it is.
type ShmFile = (Arc<std::fs::File>, FileId);

/// The length of one copy of the wal-index header.
const WAL_INDEX_HEADER: usize = 48;

/// Every `-shm` file this process reads, by (device, inode), shared by
/// every [`CommitWatch`].
///
/// Closing any descriptor of a file ends every POSIX lock the process
/// holds on it, and SQLite's connections in this process lock the `-shm`
/// (it is how writers exclude each other and checkpoints spare readers).
/// So a descriptor stays open until its file is deleted, which SQLite does
/// when the last connection of every process closes the database.
static SHM_FILES: Mutex<Vec<ShmFile>> = Mutex::new(Vec::new());

impl CommitWatch {
    /// Watches the database file `db`.
    pub(super) fn new(db: &Path) -> CommitWatch {
        CommitWatch {
            shm: beside(db, "-shm"),
            last: Mutex::new(Looked::default()),
        }
    }

    /// Looks at the wal-index header, and runs `changed` (before any other
    /// look returns) when something may have been committed since the last
    /// look: the header differs, is being written, was read from another
    /// file, or cannot be read (with no `-shm` file no connection has the
    /// database open, so what happened to it meanwhile is unknown).
    pub(super) fn look(&self, changed: impl FnOnce()) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let header = last.read(&self.shm);
        if header.is_none() || header != last.header {
            changed();
        }
        last.header = header;
    }
}

#[cfg(unix)]
impl Looked {
    fn read(&mut self, shm: &Path) -> Option<([u8; WAL_INDEX_HEADER], FileId)> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let Ok(meta) = std::fs::metadata(shm) else {
            self.file = None;
            return None;
        };
        let id = (meta.dev(), meta.ino());
        if self.file.as_ref().is_none_or(|(_, was)| *was != id) {
            self.file = Some(shm_file(shm, id)?);
        }
        let mut both = [0u8; 2 * WAL_INDEX_HEADER];
        let (file, id) = self.file.as_ref()?;
        file.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(WAL_INDEX_HEADER);
        // Copies that differ are being written; `isInit` is 1 once written.
        (first == second && first[12] == 1).then(|| (first.try_into().expect("48 bytes"), *id))
    }
}

#[cfg(not(unix))]
impl Looked {
    fn read(&mut self, _shm: &Path) -> Option<([u8; WAL_INDEX_HEADER], FileId)> {
        None
    }
}

/// The open `-shm` file at `path`, `id` when it was looked at; opened
/// when this process has not opened it yet. Forgets files since deleted.
#[cfg(unix)]
fn shm_file(path: &Path, id: FileId) -> Option<ShmFile> {
    use std::os::unix::fs::MetadataExt;
    let mut files = SHM_FILES.lock().unwrap_or_else(|e| e.into_inner());
    files.retain(|(f, _)| f.metadata().is_ok_and(|m| m.nlink() > 0));
    if let Some(open) = files.iter().find(|(_, was)| *was == id) {
        return Some(open.clone());
    }
    let file = Arc::new(std::fs::File::open(path).ok()?);
    // The file opened, which may have replaced the one looked at (kept
    // even if that one is open too: closing it would end the locks).
    let id = file.metadata().map_or(id, |m| (m.dev(), m.ino()));
    files.push((file.clone(), id));
    Some((file, id))
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
        copy_back(&pool, &turns, &mut last).await;
    }
}

/// One round of [`checkpointer`]: a passive checkpoint beside the writers,
/// then, when the log grew since `last` (its length after the last round's
/// checkpoint in a writer's turn), one in a writer's turn. Returns whether
/// that one ran.
async fn copy_back(
    pool: &SqlitePool,
    turns: &tokio::sync::Mutex<()>,
    last: &mut Option<i64>,
) -> bool {
    let began = std::time::Instant::now();
    let log = match checkpoint(pool).await {
        Ok((log, _)) => log,
        Err(e) => {
            tracing::debug!(cause = %e, "checkpoint failed");
            return false;
        }
    };
    // Nothing written since the last look; or -1: SQLite found the log
    // busy (another checkpoint, or a commit rewriting the wal-index as it
    // was read: the next round tries again), or not in WAL mode (an
    // in-memory database), so there is no log to copy back.
    if log <= 0 || *last == Some(log) {
        return false;
    }
    let beside = began.elapsed();
    let turn = turns.lock().await;
    let waited = began.elapsed() - beside;
    let finished = checkpoint(pool).await;
    drop(turn);
    tracing::debug!(
        log,
        beside_ms = beside.as_secs_f64() * 1e3,
        waited_ms = waited.as_secs_f64() * 1e3,
        in_turn_ms = (began.elapsed() - beside - waited).as_secs_f64() * 1e3,
        "checkpoint"
    );
    match finished {
        Ok((log, _)) => *last = Some(log),
        Err(e) => tracing::debug!(cause = %e, "checkpoint failed"),
    }
    true
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
    fn rolls_up_beside_inserts(&self) -> bool {
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

    /// The log's first salt (write-ahead log header bytes 16..20): one more
    /// every time a writer starts the log afresh.
    fn log_salt(wal: &Path) -> u32 {
        use std::os::unix::fs::FileExt;
        let mut salt = [0u8; 4];
        std::fs::File::open(wal)
            .unwrap()
            .read_exact_at(&mut salt, 16)
            .unwrap();
        u32::from_be_bytes(salt)
    }

    /// Whether every frame of the log is copied back into the database
    /// file: the wal-index's last frame (`mxFrame`, bytes 16..20) is its
    /// frames copied back (`nBackfill`, bytes 96..100), both native-endian.
    /// Read through the descriptors [`CommitWatch`] keeps open: closing one
    /// would end SQLite's locks on the file.
    fn log_copied_back(shm: &Path) -> bool {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let meta = std::fs::metadata(shm).unwrap();
        let (file, _) = shm_file(shm, (meta.dev(), meta.ino())).unwrap();
        let mut index = [0u8; 100];
        file.read_exact_at(&mut index, 0).unwrap();
        let word = |at: usize| u32::from_ne_bytes(index[at..at + 4].try_into().unwrap());
        word(16) > 0 && word(96) == word(16)
    }

    /// Writers back to back (three of them, so one always waits for its
    /// turn, as the callback batcher does under load) each begin before the
    /// checkpoint beside them ends, so SQLite alone would start the log
    /// afresh only past the backstop. After each round of the checkpointer
    /// (its last checkpoint in a writer's turn), the next writer starts the
    /// log afresh, however fast the writers go. The rounds are run here by
    /// hand (a second checkpointer would find the first one busy).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steady_writers_see_the_log_checkpointed_and_started_afresh() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ckpt.db");
        let store = SqliteStore::open(&format!("sqlite://{}", db.display()), false)
            .await
            .unwrap();
        let wal = dir.path().join("ckpt.db-wal");
        store.merge_calls(&[call(0)]).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let batches = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (store, stop, batches) = (store.clone(), stop.clone(), batches.clone());
                tokio::spawn(async move {
                    let mut b = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let n = 1 + w * 1_000_000 + b * 10;
                        let batch: Vec<NewCall> = (n..n + 10).map(call).collect();
                        store.merge_calls(&batch).await.unwrap();
                        batches.fetch_add(1, Ordering::SeqCst);
                        b += 1;
                    }
                })
            })
            .collect();
        let turns = store.writer_queue.clone().unwrap();
        for round in 0..5 {
            // The writers are writing.
            let seen = batches.load(Ordering::SeqCst);
            while batches.load(Ordering::SeqCst) < seen + 3 {
                tokio::task::yield_now().await;
            }
            let salt = log_salt(&wal);
            // A round gives up when SQLite finds the log busy, which a
            // commit under way can make it; the checkpointer tries again.
            let mut tries = 0;
            while !copy_back(&store.pool, &turns, &mut None).await {
                tries += 1;
                assert!(
                    tries < 100,
                    "round {round}: no checkpoint in a writer's turn"
                );
            }
            store.merge_calls(&[call(900_000 + round)]).await.unwrap();
            assert_ne!(
                log_salt(&wal),
                salt,
                "round {round}: the log did not start afresh after the checkpoint"
            );
        }
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
    }

    /// The store's own checkpointer copies the log back by itself, and the
    /// next writer then starts the log afresh.
    #[tokio::test]
    async fn the_checkpointer_copies_the_log_back_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("own.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let (wal, shm) = (beside(&db, "-wal"), beside(&db, "-shm"));
        store.merge_calls(&[call(1), call(2)]).await.unwrap();
        let salt = log_salt(&wal);
        // Nothing else checkpoints here (the backstop is far off); waiting
        // is bounded only against a hang.
        let began = std::time::Instant::now();
        while !log_copied_back(&shm) {
            assert!(
                began.elapsed() < Duration::from_secs(60),
                "the checkpointer never copied the log back"
            );
            tokio::time::sleep(CHECKPOINT_EVERY / 10).await;
        }
        store.merge_calls(&[call(3)]).await.unwrap();
        assert_eq!(
            log_salt(&wal),
            salt.wrapping_add(1),
            "the log started afresh"
        );
    }

    /// Two processes on one file, each caching its answers (a second store
    /// and cache on the same file stands for the second process): what one
    /// commits is in the other's very next answer, a deactivated user is
    /// refused, also once the log has started afresh, when new commits
    /// overwrite old frames and the log file keeps its size.
    #[tokio::test]
    async fn another_process_commits_are_in_the_next_cached_answer() {
        use crate::store::{CachedStore, LineScope, UserChanges};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("two.db");
        let url = format!("sqlite://{}", db.display());
        // No checkpointers: the log is checkpointed below, by hand.
        let a = SqliteStore::open(&url, false).await.unwrap();
        let b = SqliteStore::open(&url, false).await.unwrap();
        let cached_a = CachedStore::wrap(Arc::new(a.clone()), &url).await.unwrap();
        let cached_b = CachedStore::wrap(Arc::new(b), &url).await.unwrap();
        let audit = crate::http::audit::system("test");
        let agent = cached_a
            .create_user(
                "agent@example.com",
                "hash",
                crate::domain::Role::Agent,
                &[],
                audit,
            )
            .await
            .unwrap();
        // A log longer than what follows, all copied back: the next writer
        // starts it afresh.
        let batch: Vec<NewCall> = (1..=500).map(call).collect();
        cached_a.merge_calls(&batch).await.unwrap();
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&a.pool)
            .await
            .unwrap();
        assert_eq!(busy, 0);
        let wal = beside(&db, "-wal");
        let (size, salt) = (std::fs::metadata(&wal).unwrap().len(), log_salt(&wal));
        cached_a.merge_calls(&[call(501)]).await.unwrap();
        assert_eq!(
            log_salt(&wal),
            salt.wrapping_add(1),
            "the log started afresh"
        );

        async fn calls(store: &CachedStore) -> i64 {
            let all = LineScope::All;
            store
                .call_counts(&all, 0, 4_000_000_000)
                .await
                .unwrap()
                .calls
        }
        assert!(cached_b.get_user(agent.id).await.unwrap().is_active);
        assert_eq!(calls(&cached_b).await, 501);
        let hits = cached_b.stats.hits.get();
        assert_eq!(calls(&cached_b).await, 501);
        assert_eq!(cached_b.stats.hits.get(), hits + 1, "answered from memory");

        let off = UserChanges {
            is_active: Some(false),
            ..Default::default()
        };
        cached_a.update_user(agent.id, off, audit).await.unwrap();
        assert!(
            !cached_b.get_user(agent.id).await.unwrap().is_active,
            "the other process still lets the deactivated user in"
        );
        cached_a.merge_calls(&[call(502)]).await.unwrap();
        assert_eq!(
            calls(&cached_b).await,
            502,
            "the other process missed a call"
        );
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            size,
            "the log file kept its size"
        );
    }

    /// One copy of a wal-index header, as SQLite writes it: `iChange`
    /// (bytes 8..12) and `isInit` (byte 12) set.
    fn index_header(change: u32) -> [u8; WAL_INDEX_HEADER] {
        let mut h = [0u8; WAL_INDEX_HEADER];
        h[..4].copy_from_slice(&3_007_000u32.to_ne_bytes());
        h[8..12].copy_from_slice(&change.to_ne_bytes());
        h[12] = 1;
        h
    }

    /// What a watch reports, look by look: a header it has not seen, one
    /// half written, one in a file made afresh, or none at all count as
    /// changed; the same header in the same file does not.
    #[test]
    fn a_watch_reports_every_header_it_has_not_seen() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("watched.db");
        let shm = beside(&db, "-shm");
        let watch = CommitWatch::new(&db);
        let changed = || {
            let mut n = 0;
            watch.look(|| n += 1);
            n == 1
        };
        let write = |first: u32, second: u32| {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&shm)
                .unwrap();
            f.write_all_at(&index_header(first), 0).unwrap();
            f.write_all_at(&index_header(second), WAL_INDEX_HEADER as u64)
                .unwrap();
        };
        assert!(changed(), "no wal-index");
        assert!(changed(), "still none");
        write(1, 1);
        assert!(changed(), "the first header seen");
        assert!(!changed());
        assert!(!changed());
        write(2, 2);
        assert!(changed(), "a commit");
        assert!(!changed());
        // The second copy is written first: copies that differ are a
        // commit under way.
        write(2, 3);
        assert!(changed(), "copies that differ");
        assert!(changed(), "copies that still differ");
        write(3, 3);
        assert!(changed(), "the commit done");
        assert!(!changed());
        // Deleted and made afresh (by another process), with the same bytes.
        std::fs::remove_file(&shm).unwrap();
        assert!(changed(), "deleted");
        write(3, 3);
        assert!(changed(), "another file");
        assert!(!changed());
        let fresh = std::fs::read(&shm).unwrap();
        std::fs::remove_file(&shm).unwrap();
        std::fs::write(&shm, &fresh).unwrap();
        assert!(changed(), "replaced between two looks");
        assert!(!changed());
        // Not yet written (`isInit` 0).
        std::fs::write(&shm, [0u8; 2 * WAL_INDEX_HEADER]).unwrap();
        assert!(changed());
        assert!(changed());
    }

    /// A watch reads the wal-index through a file of its own, and closing
    /// any descriptor of a file ends every POSIX lock the process holds on
    /// it, SQLite's included (`/proc/locks` lists them): a watch dropped
    /// while the store is open leaves SQLite's lock on the wal-index (a
    /// shared lock on byte 128 while a connection has it open) in place.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_dropped_watch_leaves_sqlites_locks_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("locks.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.merge_calls(&[call(1)]).await.unwrap();
        let shm = beside(&db, "-shm");
        let inode = std::fs::metadata(&shm).unwrap().ino();
        let pid = std::process::id().to_string();
        let in_use = || {
            std::fs::read_to_string("/proc/locks")
                .unwrap()
                .lines()
                .any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() >= 8
                        && f[1] == "POSIX"
                        && f[4] == pid
                        && f[5].ends_with(&format!(":{inode}"))
                        && f[6] == "128"
                })
        };
        assert!(in_use(), "SQLite holds its lock on the wal-index");
        for _ in 0..2 {
            let watch = CommitWatch::new(&db);
            let mut looks = 0;
            watch.look(|| looks += 1);
            watch.look(|| looks += 1);
            assert_eq!(looks, 1, "the header was read");
            drop(watch);
            assert!(in_use(), "dropping a watch ended SQLite's lock");
        }
        assert_eq!(
            store
                .call_counts(&crate::store::LineScope::All, 0, 4_000_000_000)
                .await
                .unwrap()
                .calls,
            1
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
                .counts_per_line(&crate::store::LineScope::All, 0, 4_000_000_000, false)
                .await
                .unwrap();
            assert_eq!(all[""].unique_callers, 1_001);
            assert_eq!(all[""].calls, 600 + 600 + 150 + 2);
            // Cut inside the first slot (its raw rows read, their callers
            // looked up in the book): the first call and its caller drop out.
            let start = 1_768_550_400;
            let cut = store
                .counts_per_line(
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
        assert!(
            probe.gathers_on_another_thread(),
            "the batch is gathered apart"
        );
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
        let total = store
            .counts_per_line(&all, 0, 4_000_000_000, false)
            .await
            .unwrap();
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
        let upserted = store
            .counts_per_line(&all, 0, 4_000_000_000, false)
            .await
            .unwrap();
        assert_eq!(upserted[""].calls, 7_000 + 2_500 + 2_400);
        // The same batches into an in-memory database: the same figures,
        // rolled up after the writes.
        let memory = SqliteStore::connect("sqlite::memory:").await.unwrap();
        for b in [first, batch(3_000, 2_500, 1_700), mixed] {
            memory.merge_calls(&b).await.unwrap();
        }
        assert_eq!(beside(&memory), 0);
        assert_eq!(memory.rollup_drift().await.unwrap(), Vec::<String>::new());
        let again = memory
            .counts_per_line(&all, 0, 4_000_000_000, false)
            .await
            .unwrap();
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
        let task = store._checkpointer.as_ref().unwrap().0.abort_handle();
        let copy = store.clone();
        drop(store);
        tokio::time::sleep(CHECKPOINT_EVERY * 2).await;
        assert!(!task.is_finished(), "a clone of the store is still in use");
        drop(copy);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(task.is_finished());
    }
}
