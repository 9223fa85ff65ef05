//! Two linewise processes over one PostgreSQL database: each caches
//! analytics answers, and a call written through one is in the other's
//! answers as soon as its change notification arrives (LISTEN/NOTIFY).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Backend, JWT_SECRET, fresh_database};

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(url: &str) -> Node {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linewise"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LINEWISE_") || k == "DATABASE_URL" {
            c.env_remove(k);
        }
    }
    let mut child = c
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", url)
        .env("LINEWISE_JWT_SECRET", JWT_SECRET)
        .env("LINEWISE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("LINEWISE_CACHE", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.split("listening on ").nth(1) {
            let base = rest.split_whitespace().next().unwrap().to_string();
            // Keep draining stdout so the node never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Node { child, base };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the node did not start");
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
    let login: Value = client
        .post(format!("{}/api/auth/login", a.base))
        .json(&json!({"email": "admin@localhost", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["accessToken"].as_str().expect("a token").to_string();

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
