//! The real `linewise` binary: `--help`, `serve --demo`, `user add`, `demo`.

use serde_json::{Value, json};

use crate::helpers::ADMIN_PASSWORD as PASSWORD;
use crate::process::{Server, bin, succeeded};

#[test]
fn help_lists_every_setting() {
    let out = bin().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for var in [
        "LINEWISE_BIND",
        "DATABASE_URL",
        "LINEWISE_JWT_SECRET",
        "LINEWISE_TOKEN_TTL",
        "LINEWISE_CACHE",
        "LINEWISE_TIMEZONE",
        "LINEWISE_EXOTEL_TIMEZONE",
        "LINEWISE_DEFAULT_REGION",
        "LINEWISE_TWILIO_AUTH_TOKEN",
        "LINEWISE_PUBLIC_URL",
        "LINEWISE_ADMIN_EMAIL",
        "LINEWISE_ADMIN_PASSWORD",
        "LINEWISE_LOG",
        "LINEWISE_LOG_FORMAT",
        "LINEWISE_CORS_ORIGINS",
        "LINEWISE_METRICS",
        "LINEWISE_METRICS_TOKEN",
    ] {
        assert!(text.contains(var), "--help does not mention {var}:\n{text}");
    }
    for cmd in ["serve", "user", "demo"] {
        assert!(text.contains(cmd), "--help does not list {cmd}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_runs_the_product_with_demo_data() {
    let mut server = Server::sqlite(&["--demo"], &[("LINEWISE_ADMIN_PASSWORD", "")]);
    let password = server
        .printed
        .iter()
        .find_map(|line| line.split("password: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("first admin's password printed")
        .to_string();
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "admin@localhost", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["accessToken"]
        .as_str()
        .expect("login with the printed password")
        .to_string();
    let dd: Value = client
        .get(format!("{base}/api/phone-numbers/dropdown"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dd.as_array().unwrap().len(), 6, "{dd}");
    assert_eq!(dd[0]["isPrimary"], true);
    let d: Value = client
        .get(format!(
            "{base}/api/analytics/dashboard?from=2020-01-01&to=2030-01-01"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        d["calls"].as_i64().unwrap() > 10_000,
        "ninety days of demo calls: {d}"
    );
    assert!(d["topFlows"].as_array().unwrap().len() >= 3);
    let (_, groups) = (
        0,
        client
            .get(format!("{base}/api/phone-number-groups"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
    );
    assert_eq!(groups["items"].as_array().unwrap().len(), 2);
    server.sigterm();
    server.wait();
    let db = server.dir().join("linewise.db");

    // The secret is kept beside the database, private to its owner.
    let secret = server.dir().join("linewise.db.jwt-secret");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // `demo` again adds nothing new; `user add` makes a user who can log in.
    let out = bin()
        .args(["demo"])
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("(0 new,"),
        "a second run refreshes, never duplicates: {text}"
    );
    let out = bin()
        .args(["user", "add", "Manager@Example.com", "--role", "manager"])
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("LINEWISE_PASSWORD", "manager-password-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["user", "add", "x@example.com", "--role", "root"])
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("LINEWISE_PASSWORD", "manager-password-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("root"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_logs_are_json_lines_without_phone_numbers_or_tokens() {
    let mut server = Server::sqlite(
        &[],
        &[("LINEWISE_LOG_FORMAT", "json"), ("LINEWISE_LOG", "info")],
    );
    let token = server.login().await;
    let client = reqwest::Client::new();
    let base = &server.base;
    let number = "9876543210";
    let key = "lwk_NotARealKeyButSecretAllTheSame123";
    let get = |path: String| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
    };
    let res = get(format!(
        "/api/analytics/dashboard?phoneNumber=%2B91{number}"
    ))
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        get(format!("/api/phone-numbers/+91{number}"))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        get(format!("/nothing/here/+91{number}"))
            .await
            .unwrap()
            .status(),
        404
    );
    let res = client
        .get(format!(
            "{base}/api/webhooks/exotel?token={key}&CallFrom=0{number}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .post(format!("{base}/api/calls"))
        .bearer_auth(&token)
        .json(&json!({"providerCallId": "log-1", "phoneNumber": format!("+91{number}"), "direction": "inbound",
                      "status": "completed", "startedAt": "2026-01-10T10:00:00Z", "durationSeconds": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    server.sigterm();
    assert!(server.wait().success());

    let logs = server.log_text();
    for secret in [
        number,
        key,
        token.as_str(),
        token.split('.').nth(2).unwrap(),
        PASSWORD,
    ] {
        assert!(!logs.contains(secret), "the logs show {secret}:\n{logs}");
    }
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let request = |route: &str, status: u64| {
        lines
            .iter()
            .find(|l| l["route"] == route && l["status"] == status && l["message"] == "request")
    };
    let line = request("/api/analytics/dashboard", 200)
        .unwrap_or_else(|| panic!("no request line for the dashboard:\n{logs}"));
    assert_eq!(line["method"], "GET", "{line}");
    assert!(
        line["request_id"].as_str().is_some_and(|id| id.len() >= 8),
        "{line}"
    );
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    assert!(request("/api/phone-numbers/{id}", 404).is_some(), "{logs}");
    assert!(request("/api/webhooks/exotel", 401).is_some(), "{logs}");
    assert!(request("/api/calls", 200).is_some(), "{logs}");
    assert!(request("(unmatched)", 404).is_some(), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut server = Server::sqlite(&[], &[]);
    let token = server.login().await;
    let calls: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"providerCallId": format!("drain-{i}"), "phoneNumber": "+918047180000", "otherParty": "+919812345678",
                   "direction": "inbound", "status": "completed", "startedAt": "2026-01-10T10:00:00Z", "durationSeconds": i % 300})
        })
        .collect();
    let body = serde_json::to_vec(&calls).unwrap();
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/calls HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(first).await.unwrap();
    conn.flush().await.unwrap();
    // The request is in flight (half its body read) when the signal comes,
    // and the rest is sent once the server has begun to shut down.
    server.wait_until_read(&conn).await;
    server.sigterm();
    server.wait_until_not_listening().await;
    conn.write_all(rest).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""created":10000"#), "{response}");

    let status = server.wait();
    assert!(status.success(), "exit status {status:?}");
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
}

/// `linewise backup FILE` copies a live SQLite database while calls keep
/// arriving: the copy opens, holds only whole batches, and its rollups equal
/// a recount of its calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_a_live_database_consistently() {
    use crate::helpers::{Backend, fresh_database, settings, spawn_with};
    let (url, dir) = fresh_database(Backend::Sqlite).await.unwrap();
    let dir = dir.unwrap();
    let app = spawn_with(settings(&url), Backend::Sqlite, None).await;
    let batch = |b: usize| {
        serde_json::Value::Array(
            (0..50)
                .map(|i| {
                    json!({
                        "providerCallId": format!("b{b}-{i}"), "phoneNumber": "+918041234567",
                        "otherParty": format!("+9198765{:05}", b * 50 + i), "direction": "inbound",
                        "status": "completed", "startedAt": "2026-03-10T10:00:00Z", "durationSeconds": 30,
                    })
                })
                .collect(),
        )
    };
    app.calls(batch(0)).await;
    let writer = {
        let (base, token, client) = (app.base.clone(), app.token.clone(), app.client.clone());
        tokio::spawn(async move {
            for b in 1..40 {
                let res = client
                    .post(format!("{base}/api/calls"))
                    .bearer_auth(&token)
                    .json(&batch(b))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
        })
    };
    let copy = dir.path().join("copy.db");
    let out = bin()
        .args(["backup", copy.to_str().unwrap()])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    writer.await.unwrap();

    let copied = linewise::store::open(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let c = copied
        .call_counts(&linewise::store::LineScope::All, 0, 2_000_000_000)
        .await
        .unwrap();
    assert!(
        c.calls >= 50 && c.calls % 50 == 0,
        "a half-copied batch: {} calls",
        c.calls
    );
    assert_eq!(c.unique_callers, c.calls);
    assert!(copied.rollup_drift().await.unwrap().is_empty());

    // A second backup to the same file is refused, naming it.
    let out = bin()
        .args(["backup", copy.to_str().unwrap()])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

/// `linewise call` prints a stored call with its provider record as sent,
/// though the database keeps that record without what the row holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_prints_a_stored_call_with_its_raw_record() {
    for backend in [
        crate::helpers::Backend::Sqlite,
        crate::helpers::Backend::Postgres,
    ] {
        let Some(app) = crate::helpers::try_spawn(backend).await else {
            continue;
        };
        let raw = json!({
            "providerCallId": "r-1", "phoneNumber": "+918047180000", "status": "completed",
            "Price": "2.5", "Legs": [{"Number": "+919812345678"}],
        });
        app.calls(json!([{
            "providerCallId": "r-1", "phoneNumber": "+918047180000", "direction": "inbound",
            "status": "completed", "startedAt": "2026-01-10T10:00:00Z", "durationSeconds": 42,
            "raw": raw,
        }]))
        .await;
        // Stored without the three fields the row already holds.
        assert_eq!(
            app.sql_count(
                "SELECT COUNT(*) FROM calls WHERE raw LIKE '=%' AND raw NOT LIKE '%r-1%'"
            )
            .await,
            1
        );
        let out = succeeded(
            bin()
                .args(["call", "manual", "r-1"])
                .env("DATABASE_URL", &app.database_url),
        );
        let call: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(call["raw"], raw, "{backend:?}");
        assert_eq!(call["durationSeconds"], 42);
        assert_eq!(call["startedAt"], "2026-01-10T10:00:00Z");
        let out = bin()
            .args(["call", "manual", "nope"])
            .env("DATABASE_URL", &app.database_url)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no manual call has the id 'nope'"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
