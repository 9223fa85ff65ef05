//! Hardening: token revocation, security headers, CORS, the audit
//! log and `/metrics`. The request log and the SIGTERM drain run the real
//! binary, in `binary.rs`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.send(Method::GET, "/api/auth/me", Some(token), None)
        .await
        .0
}

/// A page fetched with `token` as the session cookie, redirects not followed.
async fn page_with_session(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header("cookie", format!("lw_session={token}"))
        .send()
        .await
        .unwrap()
}

fn today_call(id: &str, line: &str, flow: &str) -> Value {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let mut c = call(id, line, "completed", &at.to_string(), 30);
    c["flowId"] = json!(flow);
    c["flowName"] = json!(format!("Flow named {flow}"));
    c
}

async fn audit(app: &TestApp, query: &str) -> Value {
    let (s, b) = app.get(&format!("/api/audit{query}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

both! {
    async fn a_password_change_ends_the_users_tokens_and_sessions(app) {
        let (id, token) = app.user("rotate@example.com", "manager", &[]).await;
        assert_eq!(me(&app, &token).await, StatusCode::OK);
        let res = page_with_session(&app, "/", &token).await;
        assert_eq!(res.status(), StatusCode::OK, "the session works before");

        let (s, b) = app.put(&format!("/api/users/{id}"), json!({"password": "a-brand-new-password"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");

        // The old token is refused on the API, and the old session sent to the login page.
        assert_eq!(me(&app, &token).await, StatusCode::UNAUTHORIZED);
        let (s, _) = app.send(Method::GET, "/api/phone-numbers", Some(&token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let res = page_with_session(&app, "/", &token).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));

        // The new password signs in; its token works.
        let (s, _) = app.send(Method::POST, "/api/auth/login", None, Some(&json!({"email": "rotate@example.com", "password": "a-long-enough-password"}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "the old password");
        let fresh = app.login("rotate@example.com", "a-brand-new-password").await;
        assert_eq!(me(&app, &fresh).await, StatusCode::OK);
        assert_eq!(page_with_session(&app, "/", &fresh).await.status(), StatusCode::OK);

        // Other users' tokens are untouched; other changes revoke nothing.
        assert_eq!(me(&app, &app.token).await, StatusCode::OK);
        let (s, b) = app.put(&format!("/api/users/{id}"), json!({"role": "agent"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(me(&app, &fresh).await, StatusCode::OK);
    }

    async fn deactivation_ends_tokens_for_good(app) {
        let (id, token) = app.user("leaver@example.com", "admin", &[]).await;
        let (s, b) = app.put(&format!("/api/users/{id}"), json!({"isActive": false})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(me(&app, &token).await, StatusCode::UNAUTHORIZED);
        // Reactivated, the old token stays dead: only a new login works.
        let (s, b) = app.put(&format!("/api/users/{id}"), json!({"isActive": true})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(me(&app, &token).await, StatusCode::UNAUTHORIZED);
        let (s, b) = app.send(Method::GET, "/api/auth/me", Some(&token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(b["error"]["message"].as_str().unwrap().contains("revoked"), "{b}");
        assert_eq!(page_with_session(&app, "/", &token).await.status(), StatusCode::SEE_OTHER);
        let fresh = app.login("leaver@example.com", "a-long-enough-password").await;
        assert_eq!(me(&app, &fresh).await, StatusCode::OK);
    }

    async fn every_response_carries_the_security_headers(app) {
        app.line("+918047180000", "Support", json!({})).await;
        app.calls(json!([today_call("h-1", "+918047180000", "f1"), today_call("h-2", "+918047180000", "f2")])).await;
        let anon = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let responses = vec![
            ("login page", anon.get(app.url("/login")).send().await.unwrap()),
            ("health", anon.get(app.url("/api/health")).send().await.unwrap()),
            ("401", anon.get(app.url("/api/auth/me")).send().await.unwrap()),
            ("404", anon.get(app.url("/no/such/page")).send().await.unwrap()),
            ("stylesheet", anon.get(app.url("/assets/style.css")).send().await.unwrap()),
            ("dashboard", page_with_session(&app, "/", &app.token).await),
            ("api list", app.client.get(app.url("/api/phone-numbers")).bearer_auth(&app.token).send().await.unwrap()),
        ];
        for (what, res) in responses {
            let h = res.headers();
            let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let csp = get("content-security-policy");
            assert!(csp.contains("default-src 'none'"), "{what}: CSP {csp:?}");
            assert!(csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp:?}");
            assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'"), "{what}: {csp:?}");
            assert!(!csp.contains("unsafe"), "{what}: {csp:?}");
            assert_eq!(get("x-frame-options"), "DENY", "{what}");
            assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
            assert_eq!(get("referrer-policy"), "same-origin", "{what}");
            assert!(!get("x-request-id").is_empty(), "{what}: a request id");
            if what == "dashboard" {
                assert_eq!(res.status(), StatusCode::OK);
                let html = res.text().await.unwrap();
                assert!(html.contains("Flow named f1"), "the top flows render");
                // What the policy would block: inline styles and inline scripts.
                assert!(!html.contains(" style="), "an inline style attribute: CSP blocks it");
                assert!(!html.contains("<style"), "an inline stylesheet: CSP blocks it");
                assert_eq!(html.matches("<script").count(), html.matches("<script src=\"/assets/").count(), "an inline script");
                assert!(!html.contains(" onclick=") && !html.contains(" onchange="), "an inline handler");
            }
        }
    }

    async fn cors_is_closed_unless_origins_are_named(app) {
        let allowed = "https://ops.example.com";
        let preflight = |app: &TestApp, origin: &str| {
            app.client
                .request(Method::OPTIONS, app.url("/api/phone-numbers"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization, content-type")
                .send()
        };
        let simple = |app: &TestApp, origin: &str| {
            app.client.get(app.url("/api/phone-numbers")).bearer_auth(&app.token).header("origin", origin).send()
        };
        let acao = |res: &reqwest::Response| res.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());

        // Closed by default: not even the origin that is allowed below.
        for origin in [allowed, "https://evil.example"] {
            assert_eq!(acao(&preflight(&app, origin).await.unwrap()), None, "{origin}");
            assert_eq!(acao(&simple(&app, origin).await.unwrap()), None, "{origin}");
        }

        let open = spawn_configured(app.backend, |s| {
            s.cors_origins = vec![allowed.to_string(), "http://localhost:5173".to_string()];
        })
        .await
        .unwrap();
        let res = preflight(&open, allowed).await.unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        assert_eq!(acao(&res).as_deref(), Some(allowed));
        let methods = res.headers()["access-control-allow-methods"].to_str().unwrap().to_uppercase();
        assert!(methods.contains("POST") && methods.contains("DELETE"), "{methods}");
        let headers = res.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
        assert!(headers.contains("authorization"), "{headers}");
        let res = simple(&open, allowed).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(acao(&res).as_deref(), Some(allowed));
        assert_eq!(acao(&simple(&open, "http://localhost:5173").await.unwrap()).as_deref(), Some("http://localhost:5173"));
        // Any other origin gets nothing, and no wildcard or credentials are ever offered.
        for origin in ["https://evil.example", "https://ops.example.com.evil.example", "null"] {
            let res = preflight(&open, origin).await.unwrap();
            assert_eq!(acao(&res), None, "{origin}");
            assert_eq!(acao(&simple(&open, origin).await.unwrap()), None, "{origin}");
        }
        assert!(res.headers().get("access-control-allow-credentials").is_none());
    }

    async fn every_change_is_audited_with_who_what_and_before_after(app) {
        let (s, me_body) = app.get("/api/auth/me").await;
        assert_eq!(s, StatusCode::OK);
        let admin_id = me_body["id"].as_i64().unwrap();

        let line = app.line("+918047180000", "Support", json!({})).await;
        let (s, b) = app.put(&format!("/api/phone-numbers/{line}"), json!({"friendlyName": "Support desk"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, g) = app.post("/api/phone-number-groups", json!({"name": "South"})).await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        let group = g["id"].as_i64().unwrap();
        let (s, b) = app.post(&format!("/api/phone-number-groups/{group}/members"), json!({"phoneNumberIds": [line]})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (user, _) = app.user("audited@example.com", "manager", &[line]).await;
        let (s, b) = app.put(&format!("/api/users/{user}"), json!({"password": "another-long-password"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, k) = app.post("/api/ingest-keys", json!({"name": "exotel"})).await;
        assert_eq!(s, StatusCode::CREATED, "{k}");
        let key = k["key"].as_str().unwrap().to_string();
        let key_id = k["id"].as_i64().unwrap();
        let (s, _) = app.delete(&format!("/api/ingest-keys/{key_id}")).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.delete(&format!("/api/phone-numbers/{line}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app.delete(&format!("/api/users/{user}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        // A refused change leaves no entry.
        let (s, _) = app.put("/api/phone-numbers/999999", json!({"friendlyName": "x"})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        let all = audit(&app, "").await;
        let items = all["items"].as_array().unwrap();
        // The oldest entry is the first super admin, made by linewise at its first start.
        let (first_run, items) = items.split_last().unwrap();
        assert_eq!(first_run["action"], "create", "{first_run}");
        assert_eq!(first_run["objectType"], "user", "{first_run}");
        assert_eq!(first_run["objectId"], admin_id, "{first_run}");
        assert_eq!(first_run["actorId"], Value::Null, "{first_run}");
        assert_eq!(first_run["actorEmail"], "first-run", "{first_run}");
        assert_eq!(first_run["after"]["email"], ADMIN_EMAIL, "{first_run}");
        let seen: Vec<(String, String)> = items
            .iter()
            .map(|e| (e["objectType"].as_str().unwrap().to_string(), e["action"].as_str().unwrap().to_string()))
            .collect();
        let expect: Vec<(String, String)> = [
            ("user", "delete"), ("phone_number", "delete"), ("ingest_key", "revoke"), ("ingest_key", "create"),
            ("user", "update"), ("user", "create"), ("group", "add_members"), ("group", "create"),
            ("phone_number", "update"), ("phone_number", "create"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(seen, expect, "newest first: {all}");
        for e in items {
            assert_eq!(e["actorId"], admin_id, "{e}");
            assert_eq!(e["actorEmail"], ADMIN_EMAIL, "{e}");
            let at: jiff::Timestamp = e["at"].as_str().unwrap().parse().unwrap();
            assert!((jiff::Timestamp::now().as_second() - at.as_second()).abs() < 120, "{e}");
        }
        let text = all.to_string();
        assert!(!text.contains("argon2") && !text.to_lowercase().contains("hash"), "a hash in the log: {text}");
        assert!(!text.contains(&key), "the ingest key in the log");
        assert!(!text.contains("another-long-password"), "a password in the log");

        // The line's history, kept after it was deleted, with before and after.
        let h = audit(&app, &format!("?objectType=phone_number&objectId={line}")).await;
        let h = h["items"].as_array().unwrap();
        assert_eq!(h.len(), 3, "{h:?}");
        assert_eq!(h[0]["action"], "delete");
        assert_eq!(h[0]["before"]["friendlyName"], "Support desk");
        assert_eq!(h[0]["after"], Value::Null);
        assert_eq!(h[1]["action"], "update");
        assert_eq!(h[1]["before"]["friendlyName"], "Support");
        assert_eq!(h[1]["after"]["friendlyName"], "Support desk");
        assert_eq!(h[2]["action"], "create");
        assert_eq!(h[2]["before"], Value::Null);
        assert_eq!(h[2]["after"]["number"], "+918047180000");
        let g = audit(&app, &format!("?objectType=group&objectId={group}")).await;
        assert_eq!(g["items"][0]["before"]["phoneNumberIds"], json!([]));
        assert_eq!(g["items"][0]["after"]["phoneNumberIds"], json!([line]));
        let u = audit(&app, &format!("?objectType=user&objectId={user}")).await;
        assert_eq!(u["items"][1]["after"]["passwordChanged"], true, "{u}");
        assert_eq!(u["items"][2]["after"]["email"], "audited@example.com");

        // Pages of three, newest first, until the cursor runs out.
        let mut ids = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = audit(&app, &format!("?limit=3{cursor}")).await;
            ids.extend(page["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()));
            match page["nextCursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        let all_ids: Vec<i64> = all["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, all_ids);
        assert!(ids.windows(2).all(|w| w[0] > w[1]));

        let (s, b) = app.get("/api/audit?objectType=calls").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["error"]["field"], "objectType");
        let (s, _) = app.get("/api/audit?limit=0").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // Admin and up only.
        let (_, admin) = app.user("second-admin@example.com", "admin", &[]).await;
        let (s, _) = app.send(Method::GET, "/api/audit", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        for role in ["manager", "agent"] {
            let (_, t) = app.user(&format!("{role}-reader@example.com"), role, &[]).await;
            let (s, _) = app.send(Method::GET, "/api/audit", Some(&t), None).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{role}");
        }
        let (s, _) = app.send(Method::GET, "/api/audit", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    async fn a_change_and_its_audit_entry_commit_together_or_not_at_all(app) {
        let line = app.line("+918047180001", "Sales", json!({})).await;
        let (s, g) = app.post("/api/phone-number-groups", json!({"name": "North"})).await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        let group = g["id"].as_i64().unwrap();
        let (user, _) = app.user("atomic@example.com", "manager", &[line]).await;
        let before = audit(&app, "?limit=500").await["items"].as_array().unwrap().len();

        // With the log unwritable, every audited change fails whole.
        app.sql("ALTER TABLE audit_log RENAME TO audit_log_away").await;
        let (s, b) = app.put(&format!("/api/phone-numbers/{line}"), json!({"friendlyName": "Renamed"})).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{b}");
        assert!(!b.to_string().contains("audit_log"), "SQL leaked: {b}");
        let (s, b) = app.post("/api/phone-numbers", json!({"number": "+918047180002"})).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{b}");
        let (s, _) = app.post(&format!("/api/phone-number-groups/{group}/members"), json!({"phoneNumberIds": [line]})).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        let (s, _) = app.delete(&format!("/api/phone-number-groups/{group}")).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        let (s, _) = app.put(&format!("/api/users/{user}"), json!({"isActive": false})).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        let (s, _) = app.post("/api/ingest-keys", json!({"name": "lost"})).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        app.sql("ALTER TABLE audit_log_away RENAME TO audit_log").await;

        // Nothing of it happened.
        let (_, l) = app.get(&format!("/api/phone-numbers/{line}")).await;
        assert_eq!(l["friendlyName"], "Sales", "{l}");
        let (_, lines) = app.get("/api/phone-numbers?includeInactive=true").await;
        assert!(!lines.to_string().contains("+918047180002"), "{lines}");
        let (s, g) = app.get(&format!("/api/phone-number-groups/{group}")).await;
        assert_eq!(s, StatusCode::OK, "{g}");
        assert_eq!(g["phoneNumberIds"], json!([]), "{g}");
        let (_, u) = app.get(&format!("/api/users/{user}")).await;
        assert_eq!(u["isActive"], true, "{u}");
        let (_, keys) = app.get("/api/ingest-keys").await;
        assert_eq!(keys["items"], json!([]), "{keys}");
        assert_eq!(audit(&app, "?limit=500").await["items"].as_array().unwrap().len(), before);

        // And with the log back, the same change and its entry land together.
        let (s, _) = app.put(&format!("/api/phone-numbers/{line}"), json!({"friendlyName": "Renamed"})).await;
        assert_eq!(s, StatusCode::OK);
        let e = audit(&app, &format!("?objectType=phone_number&objectId={line}&limit=1")).await;
        assert_eq!(e["items"][0]["after"]["friendlyName"], "Renamed", "{e}");
        assert_eq!(e["items"][0]["before"]["friendlyName"], "Sales", "{e}");
    }

    async fn request_bodies_are_limited_to_1_mib_and_32_mib_for_batches(app) {
        // Most routes: 1 MiB.
        let padded = json!({"number": "+918047180009", "friendlyName": "x".repeat(1024 * 1024 + 1)}).to_string();
        if let Some((s, b)) = app.send_oversized("/api/phone-numbers", "application/json", padded).await {
            assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
            assert_eq!(b["error"]["code"], "payload_too_large", "{b}");
        }
        let (_, lines) = app.get("/api/phone-numbers?includeInactive=true").await;
        assert_eq!(lines, json!([]), "an oversized body made a line");
        // Call batches: a 2 MiB batch is fine, 33 MiB is not.
        let calls: Vec<Value> = (0..9000)
            .map(|i| json!({"providerCallId": format!("big-{i:05}"), "phoneNumber": "+918047180009", "direction": "inbound",
                "status": "completed", "startedAt": "2026-01-10T10:00:00Z", "durationSeconds": 30, "flowName": null,
                "recordingUrl": format!("https://recordings.example.com/{}/{i}.mp3", "r".repeat(180))}))
            .collect();
        let body = Value::Array(calls).to_string();
        assert!(body.len() > 2 * 1024 * 1024, "{}", body.len());
        let (s, b) = app.post("/api/calls", serde_json::from_str(&body).unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let huge = format!("[{}]", vec![r#"{"providerCallId":"x"}"#; 33 * 1024 * 1024 / 22].join(","));
        if let Some((s, b)) = app.send_oversized("/api/calls", "application/json", huge).await {
            assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
        }
        let (_, counts) = app.get("/api/analytics/dashboard?from=2026-01-10&to=2026-01-11&tz=UTC").await;
        assert_eq!(counts["calls"], 9000, "{counts}");
    }

    async fn page_forms_bulk_changes_and_discovery_are_audited_too(app) {
        let a = app.line("+918047180001", "A", json!({})).await;
        let b = app.line("+918047180002", "B", json!({})).await;
        let (s, body) = app.patch("/api/phone-numbers/bulk", json!([{"id": a, "data": {"isActive": false}}, {"id": b, "data": {"friendlyName": "Bee"}}])).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let e = audit(&app, &format!("?objectType=phone_number&objectId={a}")).await;
        assert_eq!(e["items"][0]["before"]["isActive"], true);
        assert_eq!(e["items"][0]["after"]["isActive"], false);
        // A page form goes through the same handlers, so it is audited too.
        let csrf: String = {
            use sha2::Digest as _;
            sha2::Sha256::digest(format!("csrf:{}", app.token).as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
        };
        let res = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
            .post(app.url(&format!("/phone-numbers/{b}/primary")))
            .header("cookie", format!("lw_session={}", app.token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let e = audit(&app, &format!("?objectType=phone_number&objectId={b}")).await;
        assert_eq!(e["items"][0]["after"]["isPrimary"], true, "{e}");
        assert_eq!(e["items"][0]["before"]["isPrimary"], false, "{e}");
        assert_eq!(e["items"][0]["actorEmail"], ADMIN_EMAIL);
        // Discovery registers lines seen in calls: each is audited as created.
        app.calls(json!([call("d-1", "+918047189999", "completed", "2026-01-10T10:00:00Z", 10)])).await;
        let (s, body) = app.post("/api/phone-numbers/discover", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let e = audit(&app, "?objectType=phone_number&limit=1").await;
        assert_eq!(e["items"][0]["action"], "discover", "{e}");
        assert_eq!(e["items"][0]["after"]["number"], "+918047189999", "{e}");
    }

    async fn metrics_are_off_unless_asked_for(app) {
        let (s, _) = app.get("/metrics").await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        let open = spawn_configured(app.backend, |s| {
            s.metrics = true;
            s.cache = true;
        }).await.unwrap();
        open.line("+918047180000", "Support", json!({})).await;
        open.calls(json!([call("m-1", "+918047180000", "completed", "2026-01-10T10:00:00Z", 10), call("m-2", "+918047180000", "completed", "2026-01-10T11:00:00Z", 10)])).await;
        let bad = json!([call("m-3", "+918047180000", "completed", "2026-01-10T10:00:00Z", 10), {"providerCallId": "m-4"}, {"providerCallId": "m-5"}]);
        let (s, _) = open.post("/api/calls", bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let csv = "providerCallId,phoneNumber,otherParty,direction,status,startedAt,endedAt,durationSeconds,flowId,flowName,recordingUrl\n\
                   i-1,+918047180000,+919812345678,inbound,completed,2026-01-11T10:00:00Z,,5,,,\n\
                   i-2,+918047180000,+919812345678,inbound,bogus,2026-01-11T10:00:00Z,,5,,,\n";
        let res = open.client.post(open.url("/api/import?format=csv")).bearer_auth(&open.token).body(csv).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let (s, _) = open.get("/api/phone-numbers/12345").await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        let counter = |text: &str, name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        };
        // The same question twice: the second answer comes from the cache.
        // On PostgreSQL the writes above also reach the cache as
        // notifications, which may land between the two and rightly empty
        // it: ask again until they are all in (for at most 30 s).
        let mut text = String::new();
        let began = std::time::Instant::now();
        while began.elapsed() < std::time::Duration::from_secs(30) {
            for _ in 0..2 {
                let (s, _) = open.get("/api/analytics/dashboard").await;
                assert_eq!(s, StatusCode::OK);
            }
            let res = open.client.get(open.url("/metrics")).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            text = res.text().await.unwrap();
            if counter(&text, "linewise_cache_hits_total") >= 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(counter(&text, "linewise_cache_hits_total") >= 1, "{text}");
        assert!(counter(&text, "linewise_cache_misses_total") >= 1, "{text}");
        for want in [
            r#"linewise_http_requests_total{route="/api/calls",method="POST",status="200"} 1"#,
            r#"linewise_http_requests_total{route="/api/calls",method="POST",status="422"} 1"#,
            r#"linewise_http_requests_total{route="/api/phone-numbers/{id}",method="GET",status="404"} 1"#,
            r#"linewise_http_request_duration_seconds_count{route="/api/calls"} 2"#,
            r#"linewise_http_request_duration_seconds_bucket{le="+Inf",route="/api/calls"} 2"#,
            r#"linewise_calls_ingested_total{way="api"} 2"#,
            r#"linewise_calls_ingested_total{way="import"} 1"#,
            r#"linewise_inputs_rejected_total{way="api"} 2"#,
            r#"linewise_inputs_rejected_total{way="import"} 1"#,
        ] {
            assert!(text.contains(want), "missing {want} in:\n{text}");
        }
        assert!(!text.contains("12345"), "a raw path in a label:\n{text}");

        let secret = "metrics-token-0123456789";
        let guarded = spawn_configured(app.backend, |s| s.metrics_token = Some(secret.into())).await.unwrap();
        for token in [None, Some("wrong-token-0123456789"), Some(guarded.token.as_str())] {
            let (s, _) = guarded.send(Method::GET, "/metrics", token, None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{token:?}");
        }
        let res = guarded.client.get(guarded.url("/metrics")).bearer_auth(secret).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("linewise_http_requests_total"));
    }
}
