//! Two linewise processes over one PostgreSQL database: each caches
//! analytics answers, and a call written through one is in the other's
//! answers as soon as its change notification arrives (LISTEN/NOTIFY).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, JWT_SECRET, fresh_database};
use crate::process::Server as Node;

/// How long a node may take to hear another's change notification: only a
/// bound against waiting forever (one arrives in milliseconds), yet well
/// under [`linewise::store::cached::KEY_TTL_NOTIFIED`], after which a
/// cached key lookup would end without one.
const NOTIFIED_WITHIN: Duration = Duration::from_secs(30);

fn start(url: &str) -> Node {
    Node::start(
        url,
        &[],
        &[
            ("LINEWISE_JWT_SECRET", JWT_SECRET),
            ("LINEWISE_CACHE", "true"),
        ],
    )
}

/// Two nodes over a fresh PostgreSQL database, a client, and an admin's
/// token from node A; `None` when the PostgreSQL suite is not configured.
async fn two_nodes() -> Option<(Node, Node, reqwest::Client, String)> {
    let Some((url, _)) = fresh_database(Backend::Postgres).await else {
        eprintln!("PostgreSQL suite not configured; skipped");
        return None;
    };
    let a = start(&url);
    let b = start(&url);
    let admin = a.login().await;
    Some((a, b, reqwest::Client::new(), admin))
}

async fn calls(client: &reqwest::Client, node: &Node, token: &str) -> i64 {
    let res = client
        .get(format!(
            "{}/api/analytics/dashboard?from=2026-03-01&to=2026-03-31&tz=Asia/Kolkata",
            node.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["calls"]
        .as_i64()
        .unwrap()
}

async fn post_call(client: &reqwest::Client, node: &Node, token: &str, id: &str) {
    let res = client
        .post(format!("{}/api/calls", node.base))
        .bearer_auth(token)
        .json(&json!([{
            "providerCallId": id, "phoneNumber": "+918041234567", "otherParty": "+919876543210",
            "direction": "inbound", "status": "completed", "startedAt": "2026-03-10T10:00:00Z",
            "durationSeconds": 30,
        }]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Polls `node` until it reports `want` calls; returns how long that took.
async fn seen(client: &reqwest::Client, node: &Node, token: &str, want: i64) -> Duration {
    let t = Instant::now();
    loop {
        let got = calls(client, node, token).await;
        if got == want {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < NOTIFIED_WITHIN,
            "{} still answers {got} calls, not {want}: its cache was not invalidated",
            node.base
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_node_empties_the_other_nodes_cache() {
    let Some((a, b, client, token)) = two_nodes().await else {
        return;
    };

    // Both nodes cache the empty answer.
    for node in [&a, &b] {
        assert_eq!(calls(&client, node, &token).await, 0);
        assert_eq!(calls(&client, node, &token).await, 0);
    }
    post_call(&client, &a, &token, "one").await;
    assert_eq!(
        calls(&client, &a, &token).await,
        1,
        "the writing node's own next answer"
    );
    let waited = seen(&client, &b, &token, 1).await;
    eprintln!("node B saw node A's write after {waited:?}");

    post_call(&client, &b, &token, "two").await;
    assert_eq!(calls(&client, &b, &token).await, 2);
    seen(&client, &a, &token, 2).await;
}

/// The status of a dashboard request with `token` on `node`.
async fn dashboard_status(client: &reqwest::Client, node: &Node, token: &str) -> u16 {
    client
        .get(format!("{}/api/analytics/dashboard", node.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Users are cached too (every request reads its user): a deactivation
/// through one node is refused by that node at once and by the other as
/// soon as the notification arrives, while calls flowing in meanwhile do
/// not empty the user cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_through_one_node_is_refused_by_the_other() {
    let Some((a, b, client, admin)) = two_nodes().await else {
        return;
    };
    let res = client
        .post(format!("{}/api/users", a.base))
        .bearer_auth(&admin)
        .json(&json!({"email": "agent@example.com", "password": "a-long-enough-password", "role": "agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let agent = b
        .login_as("agent@example.com", "a-long-enough-password")
        .await;
    // Both nodes have the agent cached, and a call written meanwhile keeps it so.
    for node in [&a, &b] {
        assert_eq!(dashboard_status(&client, node, &agent).await, 200);
    }
    post_call(&client, &a, &admin, "between").await;
    for node in [&a, &b] {
        assert_eq!(dashboard_status(&client, node, &agent).await, 200);
    }

    let res = client
        .put(format!("{}/api/users/{id}", a.base))
        .bearer_auth(&admin)
        .json(&json!({"isActive": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        dashboard_status(&client, &a, &agent).await,
        401,
        "the writing node's own next answer"
    );
    let t = Instant::now();
    while dashboard_status(&client, &b, &agent).await != 401 {
        assert!(
            t.elapsed() < NOTIFIED_WITHIN,
            "node B still lets a deactivated user in: its user cache was not invalidated"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "node B refused the deactivated user after {:?}",
        t.elapsed()
    );
}

/// SQLite has no notifications: a `linewise import` run as a second process
/// beside a caching server writes the file, and the server's next answer
/// has the imported calls (its cache watches the write-ahead log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_beside_a_caching_sqlite_server_is_in_its_next_answer() {
    let server = Node::sqlite(
        &[],
        &[
            ("LINEWISE_JWT_SECRET", JWT_SECRET),
            ("LINEWISE_CACHE", "true"),
        ],
    );
    let client = reqwest::Client::new();
    let token = server.login().await;
    post_call(&client, &server, &token, "served").await;
    // Cached now: the second answer comes from memory.
    assert_eq!(calls(&client, &server, &token).await, 1);
    assert_eq!(calls(&client, &server, &token).await, 1);

    let csv = server.dir().join("more.csv");
    let mut text = String::from(
        "providerCallId,phoneNumber,otherParty,direction,status,startedAt,durationSeconds\n",
    );
    for i in 0..5 {
        text.push_str(&format!(
            "imported-{i},+918041234567,+91987654321{i},inbound,completed,2026-03-1{i}T08:00:00Z,40\n"
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let out = crate::process::bin()
        .args(["import", csv.to_str().unwrap(), "--format", "csv"])
        .env("DATABASE_URL", &server.url)
        .env("LINEWISE_JWT_SECRET", JWT_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        calls(&client, &server, &token).await,
        6,
        "the server answered from a cache that missed another process's import"
    );
}

/// Ingest keys are cached too (every provider callback looks its key up): a
/// key revoked through one node is refused by that node at once and by the
/// other as soon as the notification arrives. On PostgreSQL a cached lookup
/// would otherwise live for `KEY_TTL_NOTIFIED` (60 s), so the other node
/// refusing it within [`NOTIFIED_WITHIN`] shows the notification did it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_node_is_refused_by_the_other() {
    let Some((a, b, client, admin)) = two_nodes().await else {
        return;
    };
    let res = client
        .post(format!("{}/api/ingest-keys", a.base))
        .bearer_auth(&admin)
        .json(&json!({"name": "dialler"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let made = res.json::<Value>().await.unwrap();
    let key = made["key"].as_str().unwrap().to_string();
    let status = |node: &Node, id: &str| {
        let req = client
            .post(format!("{}/api/calls", node.base))
            .bearer_auth(&key)
            .json(&json!([{
                "providerCallId": id, "phoneNumber": "+918041234567", "otherParty": "+919876543210",
                "direction": "inbound", "status": "completed", "startedAt": "2026-03-10T10:00:00Z",
                "durationSeconds": 30,
            }]));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // Both nodes have the key cached.
    for node in [&a, &b] {
        assert_eq!(status(node, "before-1").await, 200);
        assert_eq!(status(node, "before-2").await, 200);
    }

    let res = client
        .delete(format!("{}/api/ingest-keys/{}", a.base, made["id"]))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        status(&a, "after-a").await,
        401,
        "the revoking node's own next answer"
    );
    let t = Instant::now();
    let mut n = 0;
    while status(&b, &format!("after-b-{n}")).await != 401 {
        assert!(
            t.elapsed() < NOTIFIED_WITHIN,
            "node B still takes calls with a revoked key: its key cache was not emptied"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("node B refused the revoked key after {:?}", t.elapsed());
}
