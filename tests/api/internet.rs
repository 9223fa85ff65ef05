//! Facing the internet: no client can starve the others (slow request heads,
//! idle connections, stalled downloads, sign-in floods), an attacker cannot
//! lock the owner out, and signing out ends the session on the server.
//! Every attack runs over real sockets against a real server; clients that
//! play the attacker connect from 127.0.0.2 and up.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::*;

/// The longest any check here waits for the server to do something by
/// itself; only a server that never does it takes this long.
const PATIENCE: Duration = Duration::from_secs(90);

fn address(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn server_addr(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("the test server's address")
}

/// A connection from `from` with a tiny receive buffer, so that a response
/// the client does not read fills the socket quickly.
async fn connect_from(app: &TestApp, from: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(server_addr(app)).await.expect("connect")
}

/// A client for requests from `from`, with no pooled connections.
fn client_from(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Starts a GET and reads its response head, then stops reading.
async fn stalled_get(app: &TestApp, from: IpAddr, path: &str, token: &str) -> (TcpStream, String) {
    let mut s = connect_from(app, from).await;
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: linewise\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).await.expect("a response head");
        assert_eq!(
            n,
            1,
            "closed before the head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

/// Reads until the server closes the connection (EOF or a reset), at most
/// [`PATIENCE`]; `true` when it did.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// `GET /api/health` on a connection of its own from 127.0.0.1.
async fn health(app: &TestApp) -> StatusCode {
    client_from(address(1))
        .get(app.url("/api/health"))
        .send()
        .await
        .expect("health answers")
        .status()
}

/// `n` calls on `line`, one a minute back from 2026-01-10, each with a
/// long recording URL: an export of 5 000 is 11 MB, more than a socket's
/// buffers hold (up to 4 MiB to send on Linux, plus what the client takes).
async fn many_calls(app: &TestApp, line: &str, n: usize) {
    let url = format!("https://recordings.example/{}", "r".repeat(2000));
    let calls: Vec<Value> = (0..n)
        .map(|i| {
            let at = jiff::Timestamp::from_second(1_768_000_000 - 60 * i as i64).unwrap();
            json!({
                "providerCallId": format!("bulk-{i}"), "phoneNumber": line,
                "otherParty": format!("+9198{:08}", i), "direction": "inbound",
                "status": "completed", "startedAt": at.to_string(), "durationSeconds": 30,
                "flowId": "7", "flowName": "Sales IVR", "recordingUrl": url,
            })
        })
        .collect();
    for batch in calls.chunks(2500) {
        app.calls(Value::Array(batch.to_vec())).await;
    }
}

both! {
    async fn stalled_downloads_hold_no_database_connection(app) {
        // Room for every download: what is tested is what they hold.
        let app = spawn_configured(app.backend, |s| {
            s.max_exports = 24;
            s.max_exports_per_user = 24;
        })
        .await
        .unwrap();
        let line = "+918047180001";
        app.line(line, "Sales", json!({})).await;
        many_calls(&app, line, 5000).await;
        // More stalled downloads than the database pool has connections
        // (8 on SQLite, 16 on PostgreSQL), each of far more than the
        // sockets can buffer.
        let mut stalled = Vec::new();
        for i in 0..24 {
            let path = if i % 2 == 0 {
                format!("/api/analytics/export.csv?phoneNumber={}", enc(line))
            } else {
                "/api/analytics/export.csv".to_string()
            };
            let (s, head) = stalled_get(&app, address(2), &path, &app.token).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            stalled.push(s);
        }
        // Everyone else is still answered.
        let token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let (s, body) = app
            .send(Method::GET, "/api/analytics/dashboard?from=2026-01-01&to=2026-01-11", Some(&token), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["calls"], 5000, "{body}");
        let (s, body) = app.post("/api/calls", json!([call("after-stall", line, "completed", "2026-01-10T12:00:00Z", 5)])).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        drop(stalled);
    }

    async fn exports_are_capped_per_user_and_in_all(app) {
        let app = spawn_configured(app.backend, |s| {
            s.max_exports = 2;
            s.max_exports_per_user = 1;
        })
        .await
        .unwrap();
        let line = "+918047180002";
        let id = app.line(line, "Support", json!({})).await;
        many_calls(&app, line, 5000).await;
        let (_, agent) = app.user("agent@example.com", "agent", &[id]).await;
        let (_, manager) = app.user("manager@example.com", "manager", &[id]).await;
        let (_stalled, head) = stalled_get(&app, address(2), "/api/analytics/export.csv", &app.token).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // The user's one export is running: a second is refused.
        let res = app.client.get(app.url("/api/analytics/export.csv")).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().get("retry-after").is_some());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("export"), "{body}");
        // Another user's runs; then the server has no more room.
        let (_agent_stalled, head) = stalled_get(&app, address(3), "/api/analytics/export.csv", &agent).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let res = app.client.get(app.url("/api/analytics/export.csv")).bearer_auth(&manager).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().get("retry-after").is_some());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "busy", "{body}");
    }

    async fn a_stalled_download_is_closed_by_the_server(app) {
        let app = spawn_configured(app.backend, |s| {
            s.max_exports_per_user = 1;
            s.io_timeout = 1;
        })
        .await
        .unwrap();
        let line = "+918047180004";
        app.line(line, "Support", json!({})).await;
        many_calls(&app, line, 5000).await;
        let (mut stalled, head) = stalled_get(&app, address(2), "/api/analytics/export.csv", &app.token).await;
        assert!(head.starts_with("HTTP/1.1 200") && head.contains("chunked"), "{head}");
        // The client never reads again (nor closes): the send makes no
        // progress, so the server closes the connection and gives the
        // export's place back.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let res = app.client.get(app.url("/api/analytics/export.csv")).bearer_auth(&app.token).send().await.unwrap();
            if res.status() == StatusCode::OK {
                let text = res.text().await.unwrap();
                assert_eq!(text.lines().count(), 5001, "the whole export, after its header");
                break;
            }
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(tokio::time::Instant::now() < deadline, "the stalled export's place was never given back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // What the stalled client gets when it reads at last: a cut body.
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(PATIENCE, stalled.read_to_end(&mut rest)).await.expect("closed");
        assert!(!rest.ends_with(b"0\r\n\r\n"), "the stalled download was not cut short");
    }

    async fn exported_cells_never_run_as_formulas(app) {
        let line = "+918047180003";
        app.line(line, "Campaign", json!({})).await;
        app.calls(json!([{
            "providerCallId": "=HYPERLINK(\"http://evil.example\",\"x\")", "phoneNumber": line,
            "otherParty": "+919812345678", "direction": "inbound", "status": "completed",
            "startedAt": "2026-01-10T10:00:00Z", "durationSeconds": 30,
            "flowId": "@SUM(A1)", "flowName": "+cmd|' /C calc'!A0",
            "recordingUrl": "-2+3",
        }])).await;
        let text = app.client.get(app.url("/api/analytics/export.csv?from=2026-01-10&to=2026-01-11"))
            .bearer_auth(&app.token).send().await.unwrap().text().await.unwrap();
        let mut rows = csv::Reader::from_reader(text.as_bytes());
        let row = rows.records().next().expect("one call").unwrap();
        assert_eq!(&row[2], "'=HYPERLINK(\"http://evil.example\",\"x\")");
        assert_eq!(&row[3], line, "an E.164 number stays as it is");
        assert_eq!(&row[4], "+919812345678");
        assert_eq!(&row[10], "'@SUM(A1)");
        assert_eq!(&row[11], "'+cmd|' /C calc'!A0");
        assert_eq!(&row[12], "'-2+3");
        // The calls page download is the same export.
        let page = reqwest::Client::new()
            .get(app.url(&format!("/calls.csv?phoneNumber={}&from=2026-01-10&to=2026-01-10", enc(line))))
            .header("cookie", format!("lw_session={}", app.token))
            .send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let text = page.text().await.unwrap();
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(!text.contains(",=HYPERLINK") && !text.contains(",@SUM"), "{text}");
    }

    async fn signing_out_ends_the_session_on_the_server(app) {
        // A page session: its cookie holds a token like the API's.
        let session = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let other = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let csrf: String = {
            use sha2::Digest as _;
            sha2::Sha256::digest(format!("csrf:{session}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
        };
        let pages = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let open = |path: &'static str| {
            pages.get(app.url(path)).header("cookie", format!("lw_session={session}")).send()
        };
        assert_eq!(open("/").await.unwrap().status(), StatusCode::OK);
        let res = pages.post(app.url("/logout"))
            .header("cookie", format!("lw_session={session}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let cleared = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
        assert!(cleared.starts_with("lw_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
        // The old cookie no longer opens a page, nor works as a Bearer token.
        let res = open("/").await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));
        let (s, body) = app.send(Method::GET, "/api/auth/me", Some(&session), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("signed out"), "{body}");
        // The user's other sessions go on.
        let (s, _) = app.send(Method::GET, "/api/auth/me", Some(&other), None).await;
        assert_eq!(s, StatusCode::OK);
        // The API signs a Bearer token out the same way.
        let (s, body) = app.send(Method::POST, "/api/auth/logout", Some(&other), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
        let (s, _) = app.send(Method::GET, "/api/auth/me", Some(&other), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app.send(Method::POST, "/api/auth/logout", Some(&other), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "a signed-out token cannot sign out again");
        let (s, _) = app.get("/api/auth/me").await;
        assert_eq!(s, StatusCode::OK, "the test's own token is untouched");
    }

    async fn an_attacker_elsewhere_cannot_lock_the_owner_out(app) {
        let attacker = client_from(address(2));
        for i in 0..10 {
            let res = attacker.post(app.url("/api/auth/login"))
                .json(&json!({"email": ADMIN_EMAIL, "password": format!("guess-{i}")}))
                .send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
        let res = attacker.post(app.url("/api/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the attacker's address waits");
        let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((60..=15 * 60).contains(&wait), "{wait}");
        // The owner, at another address, signs in.
        let owner = client_from(address(1));
        let res = owner.post(app.url("/api/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    async fn a_sign_in_flood_is_bounded_and_the_owner_still_gets_in(app) {
        // No queue: only as many checks as cores at once; the rest refused.
        let app = spawn_configured(app.backend, |s| s.login_queue = 0).await.unwrap();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..60u8 {
            let client = client_from(address(10 + i % 20));
            let url = app.url("/api/auth/login");
            set.spawn(async move {
                let res = client.post(url)
                    .json(&json!({"email": format!("nobody{i}@example.com"), "password": "not-the-password"}))
                    .send().await.unwrap();
                let status = res.status();
                let retry = res.headers().get("retry-after").is_some();
                let body: Value = res.json().await.unwrap();
                (status, retry, body)
            });
        }
        for (status, retry, body) in set.join_all().await {
            match status {
                StatusCode::UNAUTHORIZED => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert!(retry, "{body}");
                    assert_eq!(body["error"]["code"], "busy", "{body}");
                }
                other => panic!("{other}: {body}"),
            }
        }
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
}

/// `n` connections from 127.0.0.2, each having sent part of a request head.
async fn unfinished_heads(app: &TestApp, n: usize) -> Vec<TcpStream> {
    let mut slow = Vec::new();
    for _ in 0..n {
        let mut s = connect_from(app, address(2)).await;
        s.write_all(b"GET /api/health HTTP/1.1\r\nHost: linewise\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    slow
}

/// Unfinished request heads and idle keep-alive connections are closed;
/// the server answers meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed() {
    let app = spawn_configured(Backend::Sqlite, |s| {
        s.header_timeout = 2;
        s.max_connections_per_address = 1000;
    })
    .await
    .unwrap();
    let mut slow = unfinished_heads(&app, 300).await;
    // A kept-alive connection that asks once, then says nothing.
    let mut idle = connect_from(&app, address(3)).await;
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: linewise\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert_eq!(health(&app).await, StatusCode::OK);
    for (i, s) in slow.iter_mut().enumerate() {
        assert!(
            closed_by_server(s).await,
            "unfinished request {i} is still open"
        );
    }
    assert!(
        closed_by_server(&mut idle).await,
        "the idle connection is still open"
    );
    assert_eq!(health(&app).await, StatusCode::OK);
}

/// A request body that stops arriving ends its request with a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_ends_its_request() {
    let app = spawn_configured(Backend::Sqlite, |s| s.io_timeout = 1)
        .await
        .unwrap();
    let mut s = connect_from(&app, address(2)).await;
    let head = format!(
        "POST /api/phone-numbers HTTP/1.1\r\nHost: linewise\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"number\": ",
        app.token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, s.read_to_end(&mut answer))
        .await
        .expect("the server ends the request");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("stopped arriving"), "{answer}");
    let (status, lines) = app.get("/api/phone-numbers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines, json!([]), "nothing was written");
}

/// With every place taken by unfinished requests, a newcomer takes the
/// oldest one's place; one address cannot take more than its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_keeps_answering() {
    let app = spawn_configured(Backend::Sqlite, |s| {
        s.max_connections = 50;
        s.max_connections_per_address = 1000;
    })
    .await
    .unwrap();
    let mut slow = unfinished_heads(&app, 300).await;
    for _ in 0..5 {
        assert_eq!(health(&app).await, StatusCode::OK);
    }
    // The first unfinished requests made room for the later ones.
    assert!(closed_by_server(&mut slow[0]).await);

    let app = spawn_configured(Backend::Sqlite, |s| s.max_connections_per_address = 10)
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut s = connect_from(&app, address(2)).await;
        s.write_all(b"GET /api/health HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    let mut eleventh = connect_from(&app, address(2)).await;
    let mut answer = String::new();
    let _ = eleventh.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("retry-after: 1") && answer.contains("\"busy\""),
        "{answer}"
    );
    assert_eq!(
        health(&app).await,
        StatusCode::OK,
        "other addresses are answered"
    );
}
