//! What one user can learn or plant that they should not: page notices
//! that speak of other lines or repeat the URL, line ids that tell "not
//! yours" from "no such line", changes to users shown to admins, fields
//! without a size limit, and session cookies sent in the clear.

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::*;

const A: &str = "+918047180000";
const B: &str = "+911140845500";
/// Registered nowhere, with B's country code and last four digits.
const NOWHERE: &str = "+911140815500";
const SECRET: &str = "Secret line B";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A page fetched with `token` as the session cookie: status and text.
async fn page(app: &TestApp, path: &str, token: &str) -> (StatusCode, String) {
    let res = no_redirects()
        .get(app.url(path))
        .header("cookie", format!("lw_session={token}"))
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

fn csrf(token: &str) -> String {
    sha2::Sha256::digest(format!("csrf:{token}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A form posted with `token` as the session cookie and its CSRF token:
/// status, `Location` and text.
async fn post_form(
    app: &TestApp,
    path: &str,
    token: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let csrf = csrf(token);
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .extend_pairs(form)
        .finish();
    let res = no_redirects()
        .post(app.url(path))
        .header("cookie", format!("lw_session={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (res.status(), location, res.text().await.unwrap())
}

/// Lines A and B; a manager assigned A only.
async fn two_lines(app: &TestApp) -> (i64, i64, String) {
    let a = app.line(A, "Line A", json!({})).await;
    let b = app.line(B, SECRET, json!({})).await;
    let (_, manager) = app.user("manager@example.com", "manager", &[a]).await;
    (a, b, manager)
}

fn error_keys(b: &Value) -> Vec<String> {
    let mut k: Vec<String> = b["error"].as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// Every audit entry `token` reads, page by page of `limit`, each page
/// but the last full.
async fn audit_pages(app: &TestApp, token: &str, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/audit?limit={limit}{cursor}");
        let (s, b) = app.send(Method::GET, &path, Some(token), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let items = b["items"].as_array().unwrap();
        all.extend(items.iter().cloned());
        match b["nextCursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), limit, "a page before the last is full: {b}");
                cursor = format!("&cursor={c}");
            }
            None => break,
        }
    }
    all
}

/// The `Set-Cookie` values of an answer.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn is_secure(cookie: &str) -> bool {
    cookie
        .split(';')
        .any(|a| a.trim().eq_ignore_ascii_case("secure"))
}

/// Signs in through the login page, with `headers` on both requests; the
/// `Set-Cookie`s of the form and of the sign-in.
async fn page_login(app: &TestApp, headers: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
    let client = no_redirects();
    let mut get = client.get(app.url("/login"));
    for (k, v) in headers {
        get = get.header(*k, *v);
    }
    let res = get.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let form_cookies = set_cookies(&res);
    let login_token = form_cookies
        .iter()
        .find_map(|c| c.strip_prefix("lw_login="))
        .and_then(|c| c.split(';').next())
        .expect("the login form's cookie")
        .to_string();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &login_token)
        .append_pair("next", "/")
        .append_pair("email", ADMIN_EMAIL)
        .append_pair("password", ADMIN_PASSWORD)
        .finish();
    let mut post = client
        .post(app.url("/login"))
        .header("cookie", format!("lw_login={login_token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    for (k, v) in headers {
        post = post.header(*k, *v);
    }
    let res = post.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed in");
    let cookies = set_cookies(&res);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("lw_session=") && c.len() > 40),
        "{cookies:?}"
    );
    (form_cookies, cookies)
}

both! {
    async fn a_page_notice_never_names_a_line_the_viewer_may_not_see(app) {
        let (a, b, manager) = two_lines(&app).await;
        for path in [
            format!("/phone-numbers?done=added&id={b}"),
            format!("/phone-numbers?done=primary&id={b}"),
            format!("/phone-numbers?done=saved&id={a}"),
        ] {
            let (s, text) = page(&app, &path, &manager).await;
            assert_eq!(s, StatusCode::OK, "{path}");
            assert!(!text.contains(SECRET), "{path} names line B: {text}");
            assert!(
                !text.contains("was added") && !text.contains("primary line.") && !text.contains("was saved"),
                "{path} claims a change the manager did not make"
            );
            assert!(text.contains("Line A"), "{path} still lists the manager's line");
        }
    }

    async fn a_page_notice_repeats_nothing_from_the_url(app) {
        let t = app.token.as_str();
        for path in [
            "/phone-numbers?discovered=41&total=977",
            "/phone-numbers?discovered=1&total=Call+1800-555-0100+to+verify+your+account",
            "/phone-numbers?done=discovered&discovered=41&total=977&tag=00",
            "/phone-numbers?done=group-deleted",
        ] {
            let (s, text) = page(&app, path, t).await;
            assert_eq!(s, StatusCode::OK, "{path}");
            for planted in ["Discovery found", "41 new numbers", "977 in total", "verify your account", "group was deleted"] {
                assert!(!text.contains(planted), "{path} shows '{planted}'");
            }
        }

        // The notices of the admin's own changes still show, with real figures.
        app.line(A, "Line A", json!({})).await;
        app.calls(json!([call("d-1", B, "completed", "2026-01-05T10:00:00Z", 30)])).await;
        let (s, location, _) = post_form(&app, "/phone-numbers/discover", t, &[]).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert!(location.contains("discovered=1"), "{location}");
        let (s, text) = page(&app, &location, t).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            text.contains("Discovery found 1 new number in the call records and registered it (2 in total)."),
            "{text}"
        );
        // Changing a figure of that link, or following it in another
        // session, shows nothing.
        let (s, text) = page(&app, &location.replace("discovered=1", "discovered=9"), t).await;
        assert_eq!(s, StatusCode::OK);
        assert!(!text.contains("Discovery found"), "a changed figure is shown");
        let (_, other) = app.user("other-admin@example.com", "admin", &[]).await;
        let (_, text) = page(&app, &location, &other).await;
        assert!(!text.contains("Discovery found"), "another session's notice is shown");

        let (s, location, _) = post_form(&app, "/phone-numbers", t, &[("number", "+918047181111"), ("friendlyName", "Pune desk")]).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (_, text) = page(&app, &location, t).await;
        assert!(text.contains("Pune desk was added."), "{text}");
    }

    async fn a_line_the_viewer_may_not_see_is_answered_as_no_line(app) {
        let (a, b, manager) = two_lines(&app).await;
        let (_, agent) = app.user("agent@example.com", "agent", &[a]).await;
        let unknown = b + 1000;
        for token in [&manager, &agent] {
            let (s, hidden) = app.send(Method::GET, &format!("/api/phone-numbers/{b}"), Some(token), None).await;
            let (s2, missing) = app.send(Method::GET, &format!("/api/phone-numbers/{unknown}"), Some(token), None).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{hidden}");
            assert_eq!(s2, StatusCode::NOT_FOUND, "{missing}");
            assert_eq!(hidden["error"]["code"], "not_found");
            assert_eq!(hidden["error"]["message"], format!("no phone number has id {b}"));
            assert_eq!(missing["error"]["message"], format!("no phone number has id {unknown}"));
            assert_eq!(error_keys(&hidden), error_keys(&missing));
            assert!(!hidden.to_string().contains(SECRET) && !hidden.to_string().contains("1140845500"));
        }

        // A number filter answers for line B exactly as for a number no line has.
        for path in [
            "/api/calls?phoneNumber=",
            "/api/analytics/dashboard?from=2026-01-01&to=2026-02-01&tz=UTC&phoneNumber=",
        ] {
            let (s, hidden) = app.send(Method::GET, &format!("{path}{}", enc(B)), Some(&manager), None).await;
            let (s2, missing) = app.send(Method::GET, &format!("{path}{}", enc(NOWHERE)), Some(&manager), None).await;
            assert_eq!(s, s2, "{path}: {hidden} / {missing}");
            assert_eq!(hidden, missing, "{path}");
            assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {hidden}");
        }

        // Admins still see B; a manager's write is still refused by role.
        let (s, line) = app.send(Method::GET, &format!("/api/phone-numbers/{b}"), Some(&app.token), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(line["friendlyName"], SECRET);
        let (s, refused) = app.send(Method::PUT, &format!("/api/phone-numbers/{a}"), Some(&manager), Some(&json!({"friendlyName": "Mine"}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{refused}");
        assert_eq!(refused["error"]["code"], "forbidden");
    }

    async fn only_a_super_admin_reads_changes_to_users(app) {
        // Lines and users made in turn, so that user entries fall between.
        let mut users = Vec::new();
        for i in 0..4 {
            app.line(&format!("+91804718000{i}"), &format!("Line {i}"), json!({})).await;
            let (id, _) = app.user(&format!("person{i}@example.com"), "agent", &[]).await;
            users.push(id);
        }
        let (_, admin) = app.user("plain-admin@example.com", "admin", &[]).await;

        let (s, b) = app.send(Method::GET, "/api/audit?objectType=user", Some(&admin), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(b["error"]["code"], "forbidden");
        let message = b["error"]["message"].as_str().unwrap();
        assert!(message.contains("super_admin") && message.contains("admin role"), "{message}");
        let (s, b) = app.send(Method::GET, &format!("/api/audit?objectId={}", users[0]), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(b["items"].as_array().unwrap().iter().all(|e| e["objectType"] != "user"), "{b}");

        // The admin's pages hold every other entry, full, in order.
        let everything = audit_pages(&app, &app.token, 500).await;
        let want: Vec<&Value> = everything.iter().filter(|e| e["objectType"] != "user").map(|e| &e["id"]).collect();
        assert!(everything.len() > want.len() && want.len() >= 4);
        for limit in [1, 2, 3] {
            let seen = audit_pages(&app, &admin, limit).await;
            let ids: Vec<&Value> = seen.iter().map(|e| &e["id"]).collect();
            assert_eq!(ids, want, "pages of {limit}");
            let text = serde_json::to_string(&seen).unwrap();
            assert!(!text.contains("person0@example.com") && !text.contains("\"agent\""), "{text}");
        }

        // The super_admin still reads them.
        let (s, b) = app.get("/api/audit?objectType=user").await;
        assert_eq!(s, StatusCode::OK);
        assert!(b["items"].as_array().unwrap().len() >= 5, "{b}");
        assert!(b.to_string().contains("person0@example.com"));
    }

    async fn a_group_description_is_at_most_1000_characters(app) {
        let longest = "é".repeat(1000);
        let (s, g) = app.post("/api/phone-number-groups", json!({"name": "North", "description": longest})).await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        let id = g["id"].as_i64().unwrap();

        let too_long = "d".repeat(1001);
        let (s, b) = app.post("/api/phone-number-groups", json!({"name": "South", "description": too_long})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["error"]["field"], "description");
        assert_eq!(b["error"]["message"], "description: is 1001 characters long; at most 1000");
        let (s, b) = app.put(&format!("/api/phone-number-groups/{id}"), json!({"description": too_long})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["error"]["field"], "description");

        // The page form goes through the same check.
        let (s, _, text) = post_form(&app, "/groups", &app.token, &[("name", "West"), ("description", &too_long)]).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(text.contains("at most 1000"), "{text}");

        let (_, list) = app.get("/api/phone-number-groups").await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(items[0]["description"], longest.as_str());
    }

    async fn a_calls_raw_record_is_at_most_64_kib(app) {
        // `{"k":"…"}`: 8 bytes around the text.
        let raw = |bytes: usize| json!({"k": "x".repeat(bytes - 8)});
        let with_raw = |id: &str, bytes: usize| {
            let mut c = call(id, A, "completed", "2026-01-05T10:00:00Z", 30);
            c["raw"] = raw(bytes);
            c
        };
        assert_eq!(raw(65536).to_string().len(), 65536);

        let (s, b) = app.post("/api/calls", with_raw("r-big", 65537)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["error"]["code"], "invalid_items");
        assert_eq!(b["error"]["details"], json!([{
            "index": 0, "field": "raw",
            "message": "is more than 64 KiB of JSON text (at most 65536 bytes)",
        }]));

        let batch = json!([
            with_raw("r-0", 100),
            with_raw("r-1", 70_000),
            with_raw("r-2", 65536),
        ]);
        let (s, b) = app.post("/api/calls", batch).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let details = b["error"]["details"].as_array().unwrap();
        assert_eq!(details.len(), 1, "{b}");
        assert_eq!(details[0]["index"], 1);
        assert_eq!(details[0]["field"], "raw");
        assert!(details[0]["message"].as_str().unwrap().contains("64 KiB"), "{b}");
        let (_, page) = app.get("/api/calls").await;
        assert_eq!(page["items"], json!([]), "nothing of the batch is stored");

        let out = app.calls(json!([with_raw("r-0", 100), with_raw("r-2", 65536)])).await;
        assert_eq!(out["created"], 2, "{out}");
    }

    async fn the_session_cookie_is_secure_unless_on_localhost_over_http(app) {
        // The test server is reached on 127.0.0.1 over http.
        let (form, session) = page_login(&app, &[]).await;
        for c in form.iter().chain(&session) {
            assert!(!is_secure(c), "on 127.0.0.1: {c}");
        }
        for headers in [
            &[("host", "ops.example.com")][..],
            &[("host", "ops.example.com:8080")][..],
            &[("x-forwarded-proto", "https")][..],
        ] {
            let (form, session) = page_login(&app, headers).await;
            for c in form.iter().chain(&session) {
                assert!(is_secure(c), "with {headers:?}: {c}");
            }
        }
        let (_, session) = page_login(&app, &[("host", "localhost:3000")]).await;
        assert!(session.iter().all(|c| !is_secure(c)), "{session:?}");
    }
}

/// The public URL, when set, decides whatever the request says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_url_decides_the_secure_flag() {
    for (url, secure) in [
        ("https://calls.example.com", true),
        ("http://calls.example.com", true),
        ("http://localhost:8080/", false),
        ("http://127.0.0.1:3000", false),
        ("http://[::1]:3000", false),
    ] {
        let app = spawn_configured(Backend::Sqlite, |s| s.public_url = Some(url.into()))
            .await
            .unwrap();
        for headers in [&[][..], &[("host", "ops.example.com")][..]] {
            let (form, session) = page_login(&app, headers).await;
            for c in form.iter().chain(&session) {
                assert_eq!(is_secure(c), secure, "{url} with {headers:?}: {c}");
            }
        }
    }
}
