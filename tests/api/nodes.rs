//! Two linewise processes over one PostgreSQL database: each caches
//! analytics answers, and a call written through one is in the other's
//! answers as soon as its change notification arrives (LISTEN/NOTIFY).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, JWT_SECRET, fresh_database};
use crate::process::Server as Node;

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
            t.elapsed() < Duration::from_secs(5),
            "{} still answers {got} calls, not {want}: its cache was not invalidated",
            node.base
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_node_empties_the_other_nodes_cache() {
    let Some((url, _)) = fresh_database(Backend::Postgres).await else {
        eprintln!("PostgreSQL suite not configured; skipped");
        return;
    };
    let a = start(&url);
    let b = start(&url);
    let client = reqwest::Client::new();
    let token = a.login().await;

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
