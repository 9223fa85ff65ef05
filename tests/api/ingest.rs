//! Call records from the providers: files (`POST /api/import`, `linewise
//! import`), live webhooks (Exotel with an ingest key, Twilio with its
//! signature) and ingest keys — on both engines.

use std::collections::BTreeMap;

use linewise::domain::NewCall;
use linewise::ingest::{IngestContext, exotel, twilio};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

/// Every call the API lists, by provider call id.
async fn all_calls(app: &TestApp) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/calls?limit=500&cursor={c}"),
            None => "/api/calls?limit=500".into(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            out.insert(
                item["providerCallId"].as_str().unwrap().to_string(),
                item.clone(),
            );
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn upload(app: &TestApp, format: &str, body: String) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/import?format={format}")))
        .bearer_auth(&app.token)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (
        status,
        serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

/// What the parser makes of each record of a fixture: the expectation for
/// what is stored, field by field.
fn expected(format: &str, text: &str) -> Vec<NewCall> {
    let ctx = IngestContext::default();
    match format {
        "csv" => linewise::ingest::csv::CsvCalls::new(text.as_bytes(), &ctx)
            .unwrap()
            .filter_map(|(_, r)| r.ok())
            .collect(),
        _ => {
            let v: Value = serde_json::from_str(text).unwrap();
            let items = v
                .get("Calls")
                .or_else(|| v.get("calls"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap();
            items
                .iter()
                .filter_map(|i| {
                    if format == "exotel-json" {
                        exotel::call_from_details(i, &ctx).ok()
                    } else {
                        twilio::call_from_resource(i, &ctx).ok()
                    }
                })
                .collect()
        }
    }
}

fn assert_stored(stored: &Value, c: &NewCall) {
    let id = &c.provider_call_id;
    assert_eq!(stored["provider"], c.provider.as_str(), "{id}");
    assert_eq!(stored["phoneNumber"], c.phone_number.as_str(), "{id}");
    assert_eq!(stored["otherParty"], json!(c.other_party), "{id}");
    assert_eq!(stored["direction"], c.direction.as_str(), "{id}");
    assert_eq!(stored["status"], c.status.as_str(), "{id}");
    assert_eq!(stored["startedAt"], c.started_at.to_string(), "{id}");
    assert_eq!(
        stored["endedAt"],
        json!(c.ended_at.map(|t| t.to_string())),
        "{id}"
    );
    assert_eq!(stored["durationSeconds"], c.duration_seconds, "{id}");
    assert_eq!(stored["flowId"], json!(c.flow_id), "{id}");
    assert_eq!(stored["recordingUrl"], json!(c.recording_url), "{id}");
}

/// Callback params as strings, the way a provider sends them.
fn params(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    o => o.to_string(),
                },
            )
        })
        .collect()
}

fn query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn ingest_key(app: &TestApp) -> String {
    let (status, body) = app
        .post("/api/ingest-keys", json!({"name": "exotel"}))
        .await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().unwrap().to_string()
}

/// Sends one Exotel callback the way Exotel does: the passthru as a GET,
/// the StatusCallback as a form POST (every third one as JSON).
async fn exotel_callback(app: &TestApp, key: &str, cb: &Value, n: usize) -> (StatusCode, String) {
    let pairs = params(cb);
    let url = app.url(&format!("/api/webhooks/exotel?token={key}"));
    let req = if cb.get("CallFrom").is_some() {
        app.client.get(format!("{url}&{}", query(&pairs)))
    } else if n.is_multiple_of(3) {
        app.client.post(url).json(cb)
    } else {
        app.client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(query(&pairs))
    };
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

fn essentials(calls: &BTreeMap<String, Value>) -> Vec<Value> {
    calls
        .values()
        .map(|c| {
            json!([
                c["providerCallId"],
                c["phoneNumber"],
                c["direction"],
                c["status"],
                c["startedAt"],
                c["endedAt"],
                c["durationSeconds"],
                c["otherParty"],
                c["flowId"]
            ])
        })
        .collect()
}

both! {
    async fn every_fixture_is_stored_field_by_field_and_reimports_change_nothing(app) {
        for (file, format) in [
            ("exotel_calls.json", "exotel-json"),
            ("twilio_calls.json", "twilio-json"),
            ("calls.csv", "csv"),
            ("exotel_export.csv", "csv"),
        ] {
            let text = fixture(file);
            let want = expected(format, &text);
            assert!(want.len() >= 30, "{file}: {}", want.len());
            let (status, report) = upload(&app, format, text.clone()).await;
            assert_eq!(status, 200, "{file}: {report}");
            assert_eq!(report["rejected"], 0, "{file}: {report}");
            assert_eq!(report["read"], want.len(), "{file}: {report}");
            assert_eq!(report["created"], want.len(), "{file}: {report}");
            let stored = all_calls(&app).await;
            for c in &want {
                let s = stored.get(&c.provider_call_id).unwrap_or_else(|| panic!("{file}: {} not stored", c.provider_call_id));
                assert_stored(s, c);
            }
            let (_, again) = upload(&app, format, text).await;
            assert_eq!((again["created"].as_u64(), again["updated"].as_u64()), (Some(0), Some(0)), "{file}: {again}");
            assert_eq!(again["unchanged"], want.len(), "{file}");
        }
        // Hand-checked: IST just after midnight is the previous UTC day;
        // national and 91… numbers become E.164.
        let stored = all_calls(&app).await;
        assert_eq!(stored["c-1001"]["startedAt"], "2026-01-15T18:40:00Z");
        assert_eq!(stored["c-1001"]["otherParty"], "+919812345678");
        assert_eq!(stored["c-1002"]["phoneNumber"], "+918047180000");
        assert_eq!(stored["c-1002"]["otherParty"], "+919812345679");
        assert_eq!(stored["c-1002"]["flowName"], "Sales, North");
        assert_eq!(stored["c-1004"]["otherParty"], "anonymous");
        assert_eq!(stored["c-1004"]["status"], "in-progress");
    }

    async fn bad_records_are_reported_with_their_position_and_skipped(app) {
        let (status, report) = upload(&app, "csv", fixture("calls_bad.csv")).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["rejected"], 4, "{report}");
        let positions: Vec<&str> = report["errors"].as_array().unwrap().iter().map(|e| e["position"].as_str().unwrap()).collect();
        assert_eq!(positions, vec!["line 4", "line 5", "line 7", "line 9"]);
        assert!(report["errors"][0]["reason"].as_str().unwrap().contains("16/01/2026 10:00"), "{report}");
        let stored = all_calls(&app).await;
        assert_eq!(stored.len(), 4);
        assert!(stored.keys().all(|k| !k.starts_with("c-9")), "no bad row stored: {stored:?}");

        for (file, format) in [("exotel_calls_bad.json", "exotel-json"), ("twilio_calls_bad.json", "twilio-json")] {
            let (status, report) = upload(&app, format, fixture(file)).await;
            assert_eq!(status, 200, "{report}");
            assert!(report["rejected"].as_u64().unwrap() >= 3, "{file}: {report}");
            assert!(report["errors"][0]["position"].as_str().unwrap().starts_with("index "), "{report}");
        }

        // A truncated document stores nothing.
        let before = all_calls(&app).await.len();
        let text = fixture("exotel_calls.json");
        let (status, body) = upload(&app, "exotel-json", text[..text.len() / 2].to_string()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(all_calls(&app).await.len(), before);
        let (status, body) = upload(&app, "xml", "<calls/>".into()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], "format");
        let (status, body) = upload(&app, "csv", "colour,size\nred,2\n".into()).await;
        assert_eq!(status, 422, "{body}");
        // Past 32 MiB the upload is refused before it is read: a 413, or, when
        // the server's answer and close beat the client's last write, a
        // broken pipe while the body was still being sent.
        if let Some((status, body)) = app.send_oversized("/api/import?format=csv", "text/csv", "x".repeat(33 * 1024 * 1024)).await {
            assert_eq!(status, 413, "{body}");
        }
        assert_eq!(all_calls(&app).await.len(), before);
    }

    async fn ingest_keys_post_calls_and_nothing_else(app) {
        let (status, made) = app.post("/api/ingest-keys", json!({"name": "dialler"})).await;
        assert_eq!(status, 201);
        let key = made["key"].as_str().unwrap().to_string();
        assert!(key.starts_with("lwk_") && key.len() > 30);
        let (_, list) = app.get("/api/ingest-keys").await;
        assert_eq!(list["items"][0]["name"], "dialler");
        assert!(!list.to_string().contains(&key), "the key is shown once only");

        let batch = json!([call("k-1", "+919876543210", "completed", "2026-01-16T03:35:12Z", 60)]);
        let (status, body) = app.send(Method::POST, "/api/calls", Some(&key), Some(&batch)).await;
        assert_eq!(status, 200, "{body}");
        for (method, path) in [(Method::GET, "/api/calls"), (Method::GET, "/api/phone-numbers"), (Method::GET, "/api/analytics/dashboard"), (Method::POST, "/api/ingest-keys")] {
            let (status, _) = app.send(method, path, Some(&key), Some(&json!({"name": "x"}))).await;
            assert_eq!(status, 401, "{path}");
        }
        let (status, _) = app.send(Method::POST, "/api/calls", Some("lwk_wrongwrongwrong"), Some(&batch)).await;
        assert_eq!(status, 401);

        let (status, revoked) = app.delete(&format!("/api/ingest-keys/{}", made["id"])).await;
        assert_eq!(status, 200);
        assert!(revoked["revokedAt"].is_string());
        let late = json!([call("k-2", "+919876543210", "completed", "2026-01-16T03:35:12Z", 60)]);
        let (status, _) = app.send(Method::POST, "/api/calls", Some(&key), Some(&late)).await;
        assert_eq!(status, 401);
        assert_eq!(all_calls(&app).await.len(), 1, "a revoked key stores nothing");
        let (status, _) = app.delete("/api/ingest-keys/999").await;
        assert_eq!(status, 404);

        let (_, manager) = app.user("m@example.com", "manager", &[]).await;
        let (status, _) = app.send(Method::POST, "/api/ingest-keys", Some(&manager), Some(&json!({"name": "m"}))).await;
        assert_eq!(status, 403);
    }

    async fn exotel_callbacks_build_one_record_in_any_order(app) {
        let callbacks: Vec<Value> = serde_json::from_str(&fixture("exotel_callbacks.json")).unwrap();
        let key = ingest_key(&app).await;

        // Without a key, or with a wrong one: 401, nothing stored.
        let (status, _) = exotel_callback(&app, "", &callbacks[0], 1).await;
        assert_eq!(status, 401);
        let (status, _) = exotel_callback(&app, "lwk_not_a_key", &callbacks[0], 1).await;
        assert_eq!(status, 401);
        assert!(all_calls(&app).await.is_empty());

        for (n, cb) in callbacks.iter().enumerate() {
            let (status, body) = exotel_callback(&app, &key, cb, n).await;
            assert_eq!(status, 200, "callback {n}: {body}");
            assert_eq!(body, "", "Exotel gets an empty body");
        }
        let forward = all_calls(&app).await;
        let sids: std::collections::BTreeSet<&str> = callbacks.iter().filter_map(|c| c["CallSid"].as_str()).collect();
        assert_eq!(forward.len(), sids.len(), "one record per CallSid");

        // The same callbacks in reverse order, on a fresh database, build the same records.
        let other = try_spawn(app.backend).await.unwrap();
        let key2 = ingest_key(&other).await;
        for (n, cb) in callbacks.iter().enumerate().rev() {
            let (status, body) = exotel_callback(&other, &key2, cb, n).await;
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(essentials(&forward), essentials(&all_calls(&other).await));

        // A repeat changes nothing.
        for (n, cb) in callbacks.iter().enumerate() {
            exotel_callback(&app, &key, cb, n).await;
        }
        assert_eq!(all_calls(&app).await, forward);

        // The first CallSid: the passthru said completed with 221 s of talk,
        // a later attempt callback does not undo it.
        let first = &forward[callbacks[0]["CallSid"].as_str().unwrap()];
        assert_eq!(first["status"], "completed");
        assert_eq!(first["durationSeconds"], 221);
        assert_eq!(first["startedAt"], "2026-01-15T18:40:00Z");
        assert_eq!(first["phoneNumber"], "+918047180000");
        assert_eq!(first["otherParty"], "+919812345678");
        assert_eq!(first["flowId"], "231");

        // Bad callbacks are a clear 4xx and store nothing.
        let bad: Vec<Value> = serde_json::from_str(&fixture("exotel_callbacks_bad.json")).unwrap();
        for (n, cb) in bad.iter().enumerate() {
            let (status, body) = exotel_callback(&app, &key, cb, n + 1).await;
            assert_eq!(status, 422, "bad callback {n}: {body}");
        }
        assert_eq!(all_calls(&app).await, forward);
    }
}

mod twilio_webhook {
    use super::*;

    const TOKEN: &str = "twilio-auth-token-for-tests";
    const PUBLIC: &str = "https://linewise.example.com";

    async fn spawn(backend: Backend, configured: bool) -> Option<TestApp> {
        let (url, dir) = fresh_database(backend).await?;
        let mut s = settings(&url);
        if configured {
            s.twilio_auth_token = Some(TOKEN.into());
            s.public_url = Some(format!("{PUBLIC}/"));
        }
        Some(spawn_with(s, backend, dir).await)
    }

    async fn post(
        app: &TestApp,
        pairs: &[(String, String)],
        signature: Option<&str>,
    ) -> StatusCode {
        let mut req = app
            .client
            .post(app.url("/api/webhooks/twilio"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(query(pairs));
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        req.send().await.unwrap().status()
    }

    async fn run(backend: Backend) {
        let Some(app) = spawn(backend, true).await else {
            return;
        };
        let callbacks: Vec<Value> =
            serde_json::from_str(&fixture("twilio_callbacks.json")).unwrap();
        let url = format!("{PUBLIC}/api/webhooks/twilio");
        let first = params(&callbacks[0]);
        // No signature, a wrong one, one made with another token: 403, nothing stored.
        assert_eq!(post(&app, &first, None).await, 403);
        assert_eq!(post(&app, &first, Some("bm90IGEgc2lnbmF0dXJl")).await, 403);
        assert_eq!(
            post(
                &app,
                &first,
                Some(&twilio::signature("another-token", &url, &first))
            )
            .await,
            403
        );
        let mut tampered = first.clone();
        tampered.push(("CallDuration".into(), "9999".into()));
        assert_eq!(
            post(
                &app,
                &tampered,
                Some(&twilio::signature(TOKEN, &url, &first))
            )
            .await,
            403
        );
        assert!(all_calls(&app).await.is_empty());

        for cb in &callbacks {
            let pairs = params(cb);
            assert_eq!(
                post(&app, &pairs, Some(&twilio::signature(TOKEN, &url, &pairs))).await,
                200
            );
        }
        let stored = all_calls(&app).await;
        let sids: std::collections::BTreeSet<&str> = callbacks
            .iter()
            .filter_map(|c| c["CallSid"].as_str())
            .collect();
        assert_eq!(stored.len(), sids.len());
        let call = &stored[callbacks[0]["CallSid"].as_str().unwrap()];
        assert_eq!(call["provider"], "twilio");
        assert_eq!(call["status"], "completed");
        assert_eq!(call["durationSeconds"], 245);
        // Outbound: the business line is From.
        assert_eq!(call["phoneNumber"], "+918047180000");
        assert_eq!(call["otherParty"], "+919812345678");

        let Some(off) = spawn(backend, false).await else {
            return;
        };
        assert_eq!(
            post(&off, &first, Some(&twilio::signature(TOKEN, &url, &first))).await,
            404
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signed_callbacks_only_on_sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signed_callbacks_only_on_postgres() {
        run(Backend::Postgres).await;
    }
}

#[test]
fn the_import_command_streams_a_file_and_reports_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("l.db").display());
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_linewise"));
        cmd.args(args)
            .env("DATABASE_URL", &db)
            .env_remove("LINEWISE_JWT_SECRET");
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let good = format!("{FIXTURES}/calls.csv");
    let (code, out, err) = run(&["import", &good, "--format", "csv"], None);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("read 34, created 34, updated 0, unchanged 0, rejected 0"),
        "{out}"
    );
    let (code, out, _) = run(&["import", &good, "--format", "csv"], None);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("created 0, updated 0, unchanged 34"),
        "re-import changes nothing: {out}"
    );
    let (code, out, err) = run(
        &[
            "import",
            &format!("{FIXTURES}/calls_bad.csv"),
            "--format",
            "csv",
        ],
        None,
    );
    assert_eq!(code, Some(1), "rejected rows make a non-zero exit");
    assert!(out.contains("rejected 4"), "{out}");
    assert!(
        err.contains("rejected line 4:") && err.contains("rejected line 9:"),
        "{err}"
    );
    let (code, out, err) = run(
        &["import", "-", "--format", "exotel-json"],
        Some(&fixture("exotel_calls.json")),
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("read 38, created 38"), "{out}");
    let (code, _, err) = run(&["import", "/no/such/file.csv", "--format", "csv"], None);
    assert_ne!(code, Some(0));
    assert!(err.contains("No such file"), "{err}");
}
