//! Faults: the real binary killed with `kill -9` mid-ingest and restarted;
//! PostgreSQL cut off and restored under a running server; many writers on
//! one SQLite file, one of them another process. What a client was told is
//! stored must be stored, whole batches or nothing, rollups equal to a
//! recount, and no "database is locked".

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{Backend, JWT_SECRET, fresh_database};
use crate::process::{Server, bin};

/// Calls per batch in these tests; each batch's ids share a prefix.
const BATCH: usize = 50;
const LINE: &str = "+918041234567";

/// A batch for `POST /api/calls`: `{prefix}-0` … `{prefix}-{BATCH-1}`,
/// spread over days, hours and 97 callers so the rollups have work to do.
fn batch(prefix: &str, seed: usize) -> Value {
    Value::Array(
        (0..BATCH)
            .map(|i| {
                let n = seed * BATCH + i;
                let status = ["completed", "no-answer", "busy", "failed"][n % 4];
                json!({
                    "providerCallId": format!("{prefix}-{i}"), "phoneNumber": LINE,
                    "otherParty": format!("+9198765{:05}", n % 97),
                    "direction": if n.is_multiple_of(5) { "outbound" } else { "inbound" },
                    "status": status,
                    "startedAt": format!("2026-03-{:02}T{:02}:{:02}:00Z", 1 + n % 28, n % 24, n % 60),
                    "durationSeconds": n % 300,
                })
            })
            .collect(),
    )
}

/// An Exotel StatusCallback (form body) for call `sid`.
fn callback(sid: &str, n: usize) -> String {
    format!(
        "CallSid={sid}&Status=completed&EventType=terminal&PhoneNumberSid=08047180000\
         &From=0981234{:04}&To=08047180000&Direction=inbound\
         &StartTime=2026-03-{:02}+10%3A00%3A00&EndTime=2026-03-{:02}+10%3A03%3A00&ConversationDuration={}",
        n % 89,
        1 + n % 28,
        1 + n % 28,
        n % 200
    )
}

async fn ingest_key(client: &reqwest::Client, base: &str, token: &str) -> String {
    let res = client
        .post(format!("{base}/api/ingest-keys"))
        .bearer_auth(token)
        .json(&json!({"name": "faults"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn post_batch(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Value,
) -> reqwest::Result<(u16, String)> {
    let res = client
        .post(format!("{base}/api/calls"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    Ok((res.status().as_u16(), res.text().await?))
}

async fn post_callback(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    form: String,
) -> reqwest::Result<(u16, String)> {
    let res = client
        .post(format!("{base}/api/webhooks/exotel?token={key}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    Ok((res.status().as_u16(), res.text().await?))
}

/// Every stored call's provider id, read from the store itself.
async fn stored_ids(store: &dyn linewise::store::Store) -> HashSet<String> {
    use linewise::store::{CallQuery, LineScope};
    let mut ids = HashSet::new();
    let mut after = None;
    loop {
        let page = store
            .list_calls(
                &LineScope::All,
                &CallQuery {
                    period: None,
                    after,
                    limit: 5_000,
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { return ids };
        after = Some((last.started_at, last.id));
        ids.extend(page.into_iter().map(|c| c.provider_call_id));
    }
}

/// What the clients were told.
#[derive(Default)]
struct Ledger {
    /// Batch prefixes sent (answered or not) and those answered 2xx.
    batches_sent: Vec<String>,
    batches_acked: Vec<String>,
    /// Callback CallSids answered 2xx.
    callbacks_acked: Vec<String>,
    /// Any answer that was neither 2xx nor a dropped connection.
    other: Vec<(u16, String)>,
}

/// Four batch clients and eight callback clients post until `stop`, each
/// recording what it was told in the ledger.
fn start_clients(
    set: &mut JoinSet<()>,
    base: &str,
    token: &str,
    key: &str,
    stop: &Arc<AtomicBool>,
    ledger: &Arc<Mutex<Ledger>>,
) {
    let client = reqwest::Client::new();
    for c in 0..4 {
        let (client, base, token) = (client.clone(), base.to_string(), token.to_string());
        let (stop, ledger) = (stop.clone(), ledger.clone());
        set.spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                let prefix = format!("crash-b{c}-{k}");
                ledger.lock().unwrap().batches_sent.push(prefix.clone());
                let sent = post_batch(&client, &base, &token, &batch(&prefix, c * 1000 + k)).await;
                let mut l = ledger.lock().unwrap();
                match sent {
                    Ok((s, _)) if (200..300).contains(&s) => l.batches_acked.push(prefix),
                    Ok(other) => l.other.push(other),
                    Err(_) => {} // the server died with this request in flight
                }
                k += 1;
            }
        });
    }
    for c in 0..8 {
        let (client, base, key) = (client.clone(), base.to_string(), key.to_string());
        let (stop, ledger) = (stop.clone(), ledger.clone());
        set.spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let sid = format!("crash-w{c}-{n}");
                let sent = post_callback(&client, &base, &key, callback(&sid, c * 1000 + n)).await;
                let mut l = ledger.lock().unwrap();
                match sent {
                    Ok((s, _)) if (200..300).contains(&s) => l.callbacks_acked.push(sid),
                    Ok(other) => l.other.push(other),
                    Err(_) => {}
                }
                n += 1;
            }
        });
    }
}

async fn join_within(set: JoinSet<()>, limit: Duration) {
    tokio::time::timeout(limit, set.join_all())
        .await
        .expect("the clients stopped");
}

/// `kill -9` while batches and callbacks are being written; restarted on
/// the same database: every acknowledged call is there, every batch is
/// whole or absent, and the rollups equal a recount.
async fn a_crash_loses_nothing_acknowledged(backend: Backend) {
    let Some((url, _dir)) = fresh_database(backend).await else {
        eprintln!("PostgreSQL suite not configured (LINEWISE_TEST_POSTGRES_URL); skipped");
        return;
    };
    let env = [
        ("LINEWISE_JWT_SECRET", JWT_SECRET),
        ("LINEWISE_LOG", "warn"),
    ];
    let mut server = Server::start(&url, &[], &env);
    let client = reqwest::Client::new();
    let token = server.login().await;
    let key = ingest_key(&client, &server.base, &token).await;

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut clients = JoinSet::new();
    start_clients(&mut clients, &server.base, &token, &key, &stop, &ledger);
    // Killed once some of each kind were acknowledged, however long that
    // takes (at most a minute).
    let began = Instant::now();
    loop {
        let (batches, callbacks) = {
            let l = ledger.lock().unwrap();
            (l.batches_acked.len(), l.callbacks_acked.len())
        };
        if batches >= 10 && callbacks >= 10 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "only {batches} batches and {callbacks} callbacks acknowledged in a minute"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The clients check the flag only between requests: twelve are in
    // flight when the process dies.
    stop.store(true, Ordering::SeqCst);
    server.kill_9();
    join_within(clients, Duration::from_secs(30)).await;

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger.other.is_empty(),
        "answers other than 2xx before the crash: {:?}",
        &ledger.other[..ledger.other.len().min(5)]
    );
    assert!(
        !ledger.batches_acked.is_empty() && !ledger.callbacks_acked.is_empty(),
        "nothing was acknowledged before the crash: {} batches, {} callbacks",
        ledger.batches_acked.len(),
        ledger.callbacks_acked.len()
    );
    let unanswered = ledger.batches_sent.len() - ledger.batches_acked.len();
    eprintln!(
        "{backend:?}: killed after {} acknowledged batches ({unanswered} unanswered) and {} acknowledged callbacks",
        ledger.batches_acked.len(),
        ledger.callbacks_acked.len()
    );

    server.restart();
    let store = linewise::store::open(&url).await.unwrap();
    let ids = stored_ids(store.as_ref()).await;
    let acked: HashSet<&String> = ledger.batches_acked.iter().collect();
    for prefix in &ledger.batches_sent {
        let present = (0..BATCH)
            .filter(|i| ids.contains(&format!("{prefix}-{i}")))
            .count();
        if acked.contains(prefix) {
            assert_eq!(
                present, BATCH,
                "acknowledged batch {prefix}: {present} of {BATCH} calls"
            );
        } else {
            assert!(
                present == 0 || present == BATCH,
                "batch {prefix} is half-stored: {present} of {BATCH} calls"
            );
        }
    }
    let lost: Vec<&String> = ledger
        .callbacks_acked
        .iter()
        .filter(|sid| !ids.contains(*sid))
        .collect();
    assert!(lost.is_empty(), "acknowledged callbacks lost: {lost:?}");
    let drift = store.rollup_drift().await.unwrap();
    assert!(drift.is_empty(), "rollups differ from a recount: {drift:?}");

    // The restarted server takes writes again, and they keep the rollups right.
    let (status, body) = post_batch(&client, &server.base, &token, &batch("after", 7))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_callback(&client, &server.base, &key, callback("after-w", 3))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let ids = stored_ids(store.as_ref()).await;
    assert!(ids.contains("after-0") && ids.contains("after-w"));
    let drift = store.rollup_drift().await.unwrap();
    assert!(drift.is_empty(), "rollups after the restart: {drift:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_mid_ingest_loses_nothing_acknowledged() {
    a_crash_loses_nothing_acknowledged(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_9_mid_ingest_loses_nothing_acknowledged() {
    a_crash_loses_nothing_acknowledged(Backend::Postgres).await;
}

/// A TCP proxy between linewise and PostgreSQL that can be cut (every
/// connection dropped, new ones refused) and restored on the same port.
struct Proxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, rx) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(Proxy::run(listener, port, target, rx));
        Proxy { port, up, task }
    }

    async fn run(
        first: tokio::net::TcpListener,
        port: u16,
        target: String,
        mut up: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut listener = Some(first);
        loop {
            let l = match listener.take() {
                Some(l) => l,
                None => {
                    // Rebinding the port just closed can take a moment.
                    let mut tries = 0;
                    loop {
                        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                            Ok(l) => break l,
                            Err(_) if tries < 100 => {
                                tries += 1;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            Err(e) => panic!("cannot listen on port {port} again: {e}"),
                        }
                    }
                }
            };
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = l.accept() => if let Ok((mut inbound, _)) = accepted {
                        let target = target.clone();
                        conns.spawn(async move {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    },
                    changed = up.changed() => {
                        if changed.is_err() { return; }
                        if !*up.borrow_and_update() { break; }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            // Cut: refuse new connections and drop every open one.
            drop(l);
            conns.abort_all();
            while conns.join_next().await.is_some() {}
            loop {
                if up.changed().await.is_err() {
                    return;
                }
                if *up.borrow_and_update() {
                    break;
                }
            }
        }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `url` with its host and port replaced by `127.0.0.1:port`; also returns
/// the `host:port` it named.
fn through_port(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let target = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    };
    (format!("{scheme}://{user}127.0.0.1:{port}{tail}"), target)
}

/// How long a request may take to be refused while the database is down:
/// the pool's 5 s wait for a connection, with room for a loaded machine,
/// yet short of the 30 s a request would wait with sqlx's default.
const REFUSE_WITHIN: Duration = Duration::from_secs(20);
/// How long the server may take to answer again once the database is back.
const RECOVER_WITHIN: Duration = Duration::from_secs(20);

/// PostgreSQL unreachable under a running server: routes that need the
/// database answer 503 with Retry-After, promptly, and say nothing of SQL;
/// once it is back, the same process answers again by itself and stores
/// what it acknowledges.
async fn an_outage_answers_503_then_recovers(cache: bool) {
    let Some((url, _)) = fresh_database(Backend::Postgres).await else {
        eprintln!("PostgreSQL suite not configured (LINEWISE_TEST_POSTGRES_URL); skipped");
        return;
    };
    // A port for the proxy first, then the URL through it.
    let (_, target) = through_port(&url, 0);
    let proxy = Proxy::start(target).await;
    let (proxied, _) = through_port(&url, proxy.port);
    let env = [
        ("LINEWISE_JWT_SECRET", JWT_SECRET),
        ("LINEWISE_LOG", "warn"),
        ("LINEWISE_CACHE", if cache { "true" } else { "false" }),
    ];
    let mut server = Server::start(&proxied, &[], &env);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let token = server.login().await;
    let key = ingest_key(&client, &server.base, &token).await;
    let base = server.base.clone();
    let (status, body) = post_batch(&client, &base, &token, &batch("before", 1))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let dashboard = format!("{base}/api/analytics/dashboard?from=2026-03-01&to=2026-03-31");
    let calls = |client: reqwest::Client, token: String, url: String| async move {
        let res = client.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["calls"]
            .as_i64()
            .unwrap()
    };
    // Asked twice: with the cache on, the second answer is from memory.
    for _ in 0..2 {
        assert_eq!(
            calls(client.clone(), token.clone(), dashboard.clone()).await,
            BATCH as i64
        );
    }

    proxy.cut();
    // Every kind of request that needs the database, at once.
    let probes: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "calls",
            client
                .get(format!("{base}/api/calls?limit=5"))
                .bearer_auth(&token),
        ),
        (
            "dashboard",
            client
                .get(format!(
                    "{base}/api/analytics/dashboard?from=2026-03-01&to=2026-03-31"
                ))
                .bearer_auth(&token),
        ),
        (
            "batch",
            client
                .post(format!("{base}/api/calls"))
                .bearer_auth(&token)
                .json(&batch("during", 2)),
        ),
        (
            "webhook",
            client
                .post(format!("{base}/api/webhooks/exotel?token={key}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(callback("during-w", 1)),
        ),
        (
            "login",
            client.post(format!("{base}/api/auth/login")).json(
                &json!({"email": "admin@localhost", "password": crate::helpers::ADMIN_PASSWORD}),
            ),
        ),
    ];
    let mut set = JoinSet::new();
    for (name, req) in probes {
        set.spawn(async move {
            let t = Instant::now();
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let retry = res.headers().get("retry-after").cloned();
            let text = res.text().await.unwrap();
            (name, status, retry, text, t.elapsed())
        });
    }
    let mut slowest = Duration::ZERO;
    for (name, status, retry, text, took) in set.join_all().await {
        // With the cache on, the dashboard asked before the cut may still
        // come from memory until the change listener notices it lost its
        // connection: still exact, since no write can land while the
        // database is unreachable.
        if cache && name == "dashboard" && status == 200 {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                body["calls"], BATCH as i64,
                "cached answer during the outage: {body}"
            );
            continue;
        }
        assert_eq!(status, 503, "{name} while PostgreSQL is down: {text}");
        assert!(retry.is_some(), "{name}: 503 without Retry-After");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: {text}"));
        assert_eq!(body["error"]["code"], "unavailable", "{name}: {body}");
        let lower = text.to_lowercase();
        for leak in ["select", "insert", "sqlx", "postgres", "connection", "pool"] {
            assert!(!lower.contains(leak), "{name}'s 503 says '{leak}': {text}");
        }
        assert!(
            took < REFUSE_WITHIN,
            "{name} took {took:?} to answer 503 (bound {REFUSE_WITHIN:?})"
        );
        slowest = slowest.max(took);
    }
    eprintln!("PostgreSQL down (cache {cache}): every probe answered 503 within {slowest:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;

    proxy.restore();
    let restored = Instant::now();
    loop {
        let res = client
            .get(format!("{base}/api/calls?limit=5"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        match res.status().as_u16() {
            200 => break,
            503 => {}
            other => panic!(
                "{other} while PostgreSQL comes back: {}",
                res.text().await.unwrap()
            ),
        }
        assert!(
            restored.elapsed() < RECOVER_WITHIN,
            "still 503 {RECOVER_WITHIN:?} after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "answering again {:?} after PostgreSQL came back",
        restored.elapsed()
    );
    let (status, body) = post_batch(&client, &base, &token, &batch("after", 3))
        .await
        .unwrap();
    assert_eq!(status, 200, "batch after the outage: {body}");
    let (status, body) = post_callback(&client, &base, &key, callback("after-w", 2))
        .await
        .unwrap();
    assert_eq!(status, 200, "callback after the outage: {body}");
    // Nothing from before the outage is served: the new calls are counted.
    assert_eq!(
        calls(client.clone(), token.clone(), dashboard.clone()).await,
        2 * BATCH as i64 + 1
    );
    assert!(
        server.try_status().is_none(),
        "the server exited during the outage"
    );

    let store = linewise::store::open(&url).await.unwrap();
    let ids = stored_ids(store.as_ref()).await;
    for id in [
        "before-0",
        "after-0",
        &format!("after-{}", BATCH - 1),
        "after-w",
    ] {
        assert!(ids.contains(id), "{id} was acknowledged but is not stored");
    }
    assert!(
        !ids.iter().any(|i| i.starts_with("during")),
        "a write refused with 503 was stored"
    );
    assert!(store.rollup_drift().await.unwrap().is_empty());
}

/// What SQLite (through sqlx) says when a writer gives up waiting:
/// "(code: 5) database is locked", SQLITE_BUSY. ("busy" alone is a call
/// status these calls use.)
fn says_locked(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("locked")
        || t.contains("code: 5)")
        || t.contains("sqlite_busy")
        || t.contains("database busy")
}

/// 32 batch writers and 16 callback writers on one server, and `linewise
/// import` writing the same SQLite file from another process, all at once:
/// all succeed, nothing says "database is locked", every row is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_writers_never_see_database_is_locked() {
    let server = Server::sqlite(
        &[],
        &[
            ("LINEWISE_JWT_SECRET", JWT_SECRET),
            ("LINEWISE_LOG", "warn"),
        ],
    );
    let client = reqwest::Client::new();
    let token = server.login().await;
    let key = ingest_key(&client, &server.base, &token).await;

    const IMPORTED: usize = 10_000;
    let csv = server.dir().join("import.csv");
    let mut text = String::from(
        "providerCallId,phoneNumber,otherParty,direction,status,startedAt,durationSeconds\n",
    );
    for i in 0..IMPORTED {
        text.push_str(&format!(
            "imp-{i},{LINE},+9198766{:05},inbound,completed,2026-03-{:02}T{:02}:00:00Z,{}\n",
            i % 500,
            1 + i % 28,
            i % 24,
            i % 300
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let mut import = tokio::process::Command::from({
        let mut c = bin();
        c.args(["import", csv.to_str().unwrap(), "--format", "csv"])
            .env("DATABASE_URL", &server.url)
            .env("LINEWISE_JWT_SECRET", JWT_SECRET);
        c
    });
    let import = import.output();

    let answers: Arc<Mutex<BTreeMap<String, (u16, String)>>> = Default::default();
    let mut set = JoinSet::new();
    for c in 0..32 {
        let (client, base, token) = (client.clone(), server.base.clone(), token.clone());
        let answers = answers.clone();
        set.spawn(async move {
            for k in 0..4 {
                let prefix = format!("lock-b{c}-{k}");
                let r = post_batch(&client, &base, &token, &batch(&prefix, c * 10 + k))
                    .await
                    .unwrap();
                answers.lock().unwrap().insert(prefix, r);
            }
        });
    }
    for c in 0..16 {
        let (client, base, key) = (client.clone(), server.base.clone(), key.clone());
        let answers = answers.clone();
        set.spawn(async move {
            for n in 0..10 {
                let sid = format!("lock-w{c}-{n}");
                let r = post_callback(&client, &base, &key, callback(&sid, c * 10 + n))
                    .await
                    .unwrap();
                answers.lock().unwrap().insert(sid, r);
            }
        });
    }
    let (out, ()) = tokio::join!(import, async {
        tokio::time::timeout(Duration::from_secs(50), set.join_all())
            .await
            .expect("writers finished");
    });
    let out = out.unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !says_locked(&stdout) && !says_locked(&stderr),
        "{stdout}\n{stderr}"
    );
    assert!(out.status.success(), "import failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("created {IMPORTED}")),
        "import: {stdout}"
    );
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    assert_eq!(answers.len(), 32 * 4 + 16 * 10);
    for (what, (status, body)) in &answers {
        assert!(!says_locked(body), "{what}: {status} {body}");
        assert_eq!(*status, 200, "{what}: {body}");
    }
    let logs = server.log_text();
    assert!(!says_locked(&logs), "the server logged: {logs}");

    let store = linewise::store::open(&server.url).await.unwrap();
    let ids = stored_ids(store.as_ref()).await;
    let missing: Vec<String> = (0..IMPORTED)
        .map(|i| format!("imp-{i}"))
        .chain(answers.keys().flat_map(|k| {
            if k.starts_with("lock-b") {
                (0..BATCH).map(|i| format!("{k}-{i}")).collect()
            } else {
                vec![k.clone()]
            }
        }))
        .filter(|id| !ids.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} not stored, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(ids.len(), IMPORTED + 32 * 4 * BATCH + 16 * 10);
    assert!(store.rollup_drift().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers_without_a_restart() {
    an_outage_answers_503_then_recovers(false).await;
}

/// The same with the analytics cache on: its change listener loses its
/// connection too, and a failed write must not wait to announce itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_with_the_cache_on_answers_503_and_recovers() {
    an_outage_answers_503_then_recovers(true).await;
}

/// PostgreSQL ending linewise's sessions (as it does on a fast shutdown or
/// a restart: "terminating connection due to administrator command") while
/// requests are in flight: each is answered 200 or 503, never 500, and
/// whatever was acknowledged is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_terminated_mid_request_answer_503_not_500() {
    let Some((url, _)) = fresh_database(Backend::Postgres).await else {
        eprintln!("PostgreSQL suite not configured (LINEWISE_TEST_POSTGRES_URL); skipped");
        return;
    };
    // Our sessions carry a name of their own, so that only they are ended.
    let app_name = format!("lw_term_{}", std::process::id());
    let named = format!("{url}&application_name={app_name}");
    let env = [
        ("LINEWISE_JWT_SECRET", JWT_SECRET),
        ("LINEWISE_LOG", "warn"),
    ];
    let server = Server::start(&named, &[], &env);
    let client = reqwest::Client::new();
    let token = server.login().await;
    let key = ingest_key(&client, &server.base, &token).await;
    let admin = sqlx::PgPool::connect(&url).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut clients = JoinSet::new();
    start_clients(&mut clients, &server.base, &token, &key, &stop, &ledger);
    let mut ended = 0;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app_name)
        .fetch_one(&admin)
        .await
        .unwrap();
        ended += n;
    }
    stop.store(true, Ordering::SeqCst);
    join_within(clients, Duration::from_secs(30)).await;
    assert!(ended > 0, "no session was ended");

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let not_503: Vec<&(u16, String)> = ledger.other.iter().filter(|(s, _)| *s != 503).collect();
    assert!(
        not_503.is_empty(),
        "answers other than 2xx or 503 while sessions were ended: {:?}",
        &not_503[..not_503.len().min(3)]
    );
    eprintln!(
        "{ended} sessions ended; {} batches and {} callbacks acknowledged, {} answered 503",
        ledger.batches_acked.len(),
        ledger.callbacks_acked.len(),
        ledger.other.len()
    );
    // Still serving, and nothing acknowledged is missing.
    let (status, body) = post_batch(&client, &server.base, &token, &batch("after", 5))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let store = linewise::store::open(&url).await.unwrap();
    let ids = stored_ids(store.as_ref()).await;
    for prefix in &ledger.batches_acked {
        assert!(
            ids.contains(&format!("{prefix}-0"))
                && ids.contains(&format!("{prefix}-{}", BATCH - 1)),
            "{prefix}"
        );
    }
    for sid in &ledger.callbacks_acked {
        assert!(ids.contains(sid), "{sid}");
    }
    assert!(store.rollup_drift().await.unwrap().is_empty());
}
