//! Bad input: malformed JSON is 400, a bad value 422 naming the
//! field (and the value), a bad batch stores nothing, and no error body ever
//! carries SQL, driver text or a panic.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const PERIOD: &str = "from=2026-01-01&to=2026-02-01&tz=UTC";

/// Words that must never reach a client.
const LEAKS: [&str; 9] = [
    "SQL",
    "sqlx",
    "panicked",
    "stack backtrace",
    "RUST_BACKTRACE",
    "src/",
    ".rs:",
    "SQLITE_",
    "constraint",
];

/// Asserts the `{"error": {"code", "message"}}` shape and that nothing leaks.
fn error_shape(status: StatusCode, body: &Value, what: &str) {
    assert!(
        status.is_client_error(),
        "{what}: expected a 4xx, got {status}: {body}"
    );
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: the error body is not a JSON object: {body}"));
    assert_eq!(
        obj.len(),
        1,
        "{what}: an error body has only 'error': {body}"
    );
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.code: {body}"));
    assert!(!code.is_empty(), "{what}: {body}");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.message: {body}"));
    assert!(!message.is_empty(), "{what}: {body}");
    no_leaks(body, what);
}

fn no_leaks(body: &Value, what: &str) {
    let text = body.to_string();
    for leak in LEAKS {
        assert!(
            !text.contains(leak),
            "{what}: the body carries '{leak}': {text}"
        );
    }
}

/// Asserts 422 with the error naming `field` (in error.field, the message, or
/// a batch item's field) and, when given, quoting `value`.
fn invalid(status: StatusCode, body: &Value, field: &str, value: Option<&str>, what: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
    error_shape(status, body, what);
    let e = &body["error"];
    let message = e["message"].as_str().unwrap();
    let details = e["details"].as_array().cloned().unwrap_or_default();
    let named = e["field"] == field
        || message.contains(field)
        || details.iter().any(|d| d["field"] == field);
    assert!(named, "{what}: the error does not name '{field}': {body}");
    if let Some(v) = value {
        let quoted = message.contains(v)
            || details
                .iter()
                .any(|d| d["field"] == field && d["message"].as_str().unwrap_or("").contains(v));
        assert!(quoted, "{what}: the error does not quote '{v}': {body}");
    }
}

fn good_call() -> Value {
    call(
        "c-1",
        "+918047180000",
        "completed",
        "2026-01-10T10:00:00Z",
        30,
    )
}

fn patched(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

async fn stored_calls(app: &TestApp) -> Vec<Value> {
    let (s, b) = app.get("/api/calls").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["items"].as_array().unwrap().clone()
}

both! {
    async fn malformed_json_is_400_on_every_body_route(app) {
        let id = app.line("+918047180000", "Head office", json!({})).await;
        let routes = [
            (Method::POST, "/api/phone-numbers".to_string()),
            (Method::PUT, format!("/api/phone-numbers/{id}")),
            (Method::POST, "/api/users".to_string()),
            (Method::POST, "/api/calls".to_string()),
        ];
        let bodies = ["{\"number\": \"+9180", "not json", "{'number': 1}", "[1, 2,", "{\"a\": 1} trailing", ""];
        for (method, path) in &routes {
            for raw in bodies {
                let (s, b) = app.send_raw(method.clone(), path, Some(&app.token), raw).await;
                let what = format!("{method} {path} with {raw:?}");
                assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {b}");
                error_shape(s, &b, &what);
                assert_eq!(b["error"]["code"], "bad_request", "{what}: {b}");
            }
        }
        // Nothing was written.
        let (_, lines) = app.get("/api/phone-numbers").await;
        assert_eq!(lines.as_array().unwrap().len(), 1, "{lines}");
        assert_eq!(lines[0]["friendlyName"], "Head office");
        let (_, users) = app.get("/api/users").await;
        assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");
        assert!(stored_calls(&app).await.is_empty());
    }

    async fn wrong_types_are_422_naming_the_field(app) {
        let id = app.line("+918047180000", "Head office", json!({})).await;
        let put = format!("/api/phone-numbers/{id}");
        let user = |k: &str, v: Value| {
            patched(json!({"email": "new@example.com", "password": "a-long-enough-password", "role": "agent"}), k, v)
        };
        let cases: Vec<(Method, &str, Value, &str)> = vec![
            (Method::POST, "/api/phone-numbers", json!({"number": 918047180001_i64}), "number"),
            (Method::POST, "/api/phone-numbers", json!({"number": "+919876543210", "isActive": "yes"}), "isActive"),
            (Method::POST, "/api/phone-numbers", json!({"number": "+919876543210", "isPrimary": 1}), "isPrimary"),
            (Method::POST, "/api/phone-numbers", json!({"number": "+919876543210", "friendlyName": ["a"]}), "friendlyName"),
            (Method::POST, "/api/phone-numbers", json!({"number": "+919876543210", "metadata": "sales"}), "metadata"),
            (Method::POST, "/api/phone-numbers", json!({"number": "+919876543210", "capabilities": [1]}), "capabilities"),
            (Method::POST, "/api/phone-numbers", json!([{"number": "+919876543210"}]), ""),
            (Method::PUT, &put, json!({"friendlyName": 5}), "friendlyName"),
            (Method::PUT, &put, json!({"isActive": "false"}), "isActive"),
            (Method::PUT, &put, json!({"metadata": 7}), "metadata"),
            (Method::PUT, &put, json!({"type": false}), "type"),
            (Method::POST, "/api/users", user("password", json!(123456789012345_i64)), "password"),
            (Method::POST, "/api/users", user("email", json!(true)), "email"),
            (Method::POST, "/api/users", user("role", json!(1)), "role"),
            (Method::POST, "/api/users", user("phoneNumberIds", json!("1")), "phoneNumberIds"),
            (Method::POST, "/api/users", user("phoneNumberIds", json!(["one"])), "phoneNumberIds"),
            (Method::POST, "/api/calls", patched(good_call(), "durationSeconds", json!("thirty")), "durationSeconds"),
            (Method::POST, "/api/calls", patched(good_call(), "durationSeconds", json!(1.5)), "durationSeconds"),
            (Method::POST, "/api/calls", patched(good_call(), "durationSeconds", json!(-1)), "durationSeconds"),
            (Method::POST, "/api/calls", patched(good_call(), "startedAt", json!(1768039200)), "startedAt"),
            (Method::POST, "/api/calls", patched(good_call(), "direction", json!(["inbound"])), "direction"),
            (Method::POST, "/api/calls", patched(good_call(), "raw", json!("text")), "raw"),
            (Method::POST, "/api/calls", json!("a call"), ""),
            (Method::POST, "/api/calls", json!([]), ""),
            (Method::POST, "/api/calls", json!([1]), ""),
        ];
        for (method, path, body, field) in &cases {
            let (s, b) = app.send(method.clone(), path, Some(&app.token), Some(body)).await;
            let what = format!("{method} {path} {body}");
            if field.is_empty() {
                assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {b}");
                error_shape(s, &b, &what);
            } else {
                invalid(s, &b, field, None, &what);
            }
        }
        // None of them changed anything.
        let (_, lines) = app.get("/api/phone-numbers?includeInactive=true").await;
        assert_eq!(lines.as_array().unwrap().len(), 1, "{lines}");
        assert_eq!(lines[0]["friendlyName"], "Head office");
        assert_eq!(lines[0]["isActive"], true);
        let (_, users) = app.get("/api/users").await;
        assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");
        assert!(stored_calls(&app).await.is_empty());
    }

    async fn unknown_fields_are_422_naming_them(app) {
        let id = app.line("+918047180000", "Head office", json!({})).await;
        let put = format!("/api/phone-numbers/{id}");
        let (_, me) = app.get("/api/auth/me").await;
        let admin = format!("/api/users/{}", me["id"]);
        let cases: Vec<(Method, &str, Value, &str)> = vec![
            (Method::POST, "/api/phone-numbers", json!({"number": "+919876543210", "colour": "red"}), "colour"),
            (Method::POST, "/api/phone-numbers", json!({"number": "+919876543210", "friendly_name": "snake"}), "friendly_name"),
            (Method::PUT, &put, json!({"nmae": "typo"}), "nmae"),
            (Method::PUT, &put, json!({"friendlyName": "ok", "isDefault": true}), "isDefault"),
            (
                Method::POST,
                "/api/users",
                json!({"email": "new@example.com", "password": "a-long-enough-password", "role": "agent", "isAdmin": true}),
                "isAdmin",
            ),
            // Read-only fields are refused too, never silently set (mass assignment).
            (Method::PUT, &put, json!({"id": 999}), "id"),
            (Method::PUT, &put, json!({"friendlyName": "ok", "createdAt": "2020-01-01T00:00:00Z"}), "createdAt"),
            (Method::PUT, &put, json!({"updatedAt": "2020-01-01T00:00:00Z"}), "updatedAt"),
            (Method::PUT, &admin, json!({"passwordHash": "$argon2id$v=19$m=8,t=1,p=1$AAAA$AAAA"}), "passwordHash"),
            (Method::PUT, &admin, json!({"email": "taken-over@example.com"}), "email"),
            (Method::PUT, &admin, json!({"tokenVersion": 0}), "tokenVersion"),
            (Method::POST, "/api/phone-number-groups", json!({"name": "G", "id": 1}), "id"),
            (Method::POST, "/api/ingest-keys", json!({"name": "k", "key": "lwk_chosen-by-the-caller"}), "key"),
            (Method::POST, "/api/ingest-keys", json!({"name": "k", "revokedAt": null}), "revokedAt"),
            (Method::POST, "/api/calls", patched(good_call(), "id", json!(1)), "id"),
            (Method::POST, "/api/calls", patched(good_call(), "createdAt", json!("2020-01-01T00:00:00Z")), "createdAt"),
            (Method::POST, "/api/calls", patched(good_call(), "colour", json!("red")), "colour"),
            (Method::POST, "/api/calls", json!([good_call(), patched(good_call(), "callerName", json!("x"))]), "callerName"),
        ];
        for (method, path, body, field) in &cases {
            let (s, b) = app.send(method.clone(), path, Some(&app.token), Some(body)).await;
            invalid(s, &b, field, None, &format!("{method} {path} {body}"));
        }
        let (_, line) = app.get(&put).await;
        assert_eq!(line["friendlyName"], "Head office", "a refused PUT changed the line");
        let (_, lines) = app.get("/api/phone-numbers?includeInactive=true").await;
        assert_eq!(lines.as_array().unwrap().len(), 1, "{lines}");
        let (_, users) = app.get("/api/users").await;
        assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");
        assert_eq!(users["items"][0]["email"], ADMIN_EMAIL, "{users}");
        let (_, groups) = app.get("/api/phone-number-groups").await;
        assert_eq!(groups["items"], json!([]), "{groups}");
        let (_, keys) = app.get("/api/ingest-keys").await;
        assert_eq!(keys["items"], json!([]), "{keys}");
        assert!(stored_calls(&app).await.is_empty());
        // The admin's password still works: the hash was not replaced.
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }

    async fn invalid_phone_numbers_are_422_naming_field_and_value(app) {
        let id = app.line("+918047180000", "Head office", json!({})).await;
        for bad in ["12345", "not-a-number", "+91123", "+1 555 0100 0000 0000 0000", "☎ 98765 43210"] {
            let (s, b) = app.post("/api/phone-numbers", json!({"number": bad})).await;
            invalid(s, &b, "number", Some(bad.trim()), &format!("POST number {bad}"));
            let (s, b) = app.put(&format!("/api/phone-numbers/{id}"), json!({"number": bad})).await;
            invalid(s, &b, "number", Some(bad.trim()), &format!("PUT number {bad}"));
            let (s, b) = app.post("/api/calls", patched(good_call(), "phoneNumber", json!(bad))).await;
            invalid(s, &b, "phoneNumber", Some(bad.trim()), &format!("call phoneNumber {bad}"));
            assert_eq!(b["error"]["details"][0]["index"], 0, "{b}");
        }
        let (s, b) = app.post("/api/phone-numbers", json!({"friendlyName": "no number"})).await;
        invalid(s, &b, "number", None, "POST without a number");
        let (s, b) = app.post("/api/calls", json!({"providerCallId": "x", "direction": "inbound", "status": "completed", "startedAt": "2026-01-10T10:00:00Z"})).await;
        invalid(s, &b, "phoneNumber", None, "call without a phoneNumber");

        for (q, field, value) in [
            (format!("phoneNumber={}", enc("12345")), "phoneNumber", "12345"),
            (format!("phoneNumber={}", enc("abc")), "phoneNumber", "abc"),
            (format!("phoneNumbers={}", enc("+918047180000,999")), "phoneNumbers", "999"),
            ("groupId=first".to_string(), "groupId", "first"),
        ] {
            let (s, b) = app.get(&format!("/api/analytics/dashboard?{PERIOD}&{q}")).await;
            invalid(s, &b, field, Some(value), &format!("dashboard {q}"));
            let (s, b) = app.get(&format!("/api/calls?{q}")).await;
            invalid(s, &b, field, Some(value), &format!("calls {q}"));
        }

        // The line is as it was, and nothing was stored.
        let (_, line) = app.get(&format!("/api/phone-numbers/{id}")).await;
        assert_eq!(line["number"], "+918047180000");
        let (_, lines) = app.get("/api/phone-numbers?includeInactive=true").await;
        assert_eq!(lines.as_array().unwrap().len(), 1, "{lines}");
        assert!(stored_calls(&app).await.is_empty());
    }

    async fn bad_dashboard_parameters_are_422_naming_the_parameter(app) {
        let (s, b) = app.get(&format!("/api/analytics/dashboard?{PERIOD}")).await;
        assert_eq!(s, StatusCode::OK, "{b}");

        let cases = [
            ("from=2026-01-01&to=2026-02-01&tz=Mars/Olympus", "tz", Some("Mars/Olympus")),
            ("from=2026-01-01&to=2026-02-01&tz=IST", "tz", Some("IST")),
            ("from=2026-01-01&to=2026-02-01&tz=", "tz", None),
            ("from=2026-13-45&to=2026-02-01&tz=UTC", "from", Some("2026-13-45")),
            ("from=yesterday&to=2026-02-01&tz=UTC", "from", Some("yesterday")),
            ("from=2026-01-01&to=2026-02-30&tz=UTC", "to", Some("2026-02-30")),
            ("from=2026-01-01&to=01/02/2026&tz=UTC", "to", Some("01/02/2026")),
            ("from=2026-01-10&to=2026-01-10&tz=UTC", "to", None),
            ("from=2026-01-10T00:00:00Z&to=2026-01-10T00:00:00Z", "to", None),
            ("from=2026-02-01&to=2026-01-01&tz=UTC", "to", None),
            ("from=2026-01-01T10:00:00Z&to=2026-01-01T09:59:59Z", "to", None),
            ("from=2026-01-01&to=2026-02-01&tz=UTC&colour=red", "colour", None),
            ("from=2026-01-01&to=2026-02-01&tz=UTC&phone_number=1", "phone_number", None),
            ("from=2026-01-01&to=2026-02-01&tz=UTC&limit=5", "limit", None),
        ];
        for (q, field, value) in cases {
            let (s, b) = app.get(&format!("/api/analytics/dashboard?{q}")).await;
            let what = format!("dashboard ?{q}");
            invalid(s, &b, field, value, &what);
            assert_eq!(b["error"]["field"], field, "{what}: {b}");
            assert_eq!(b["error"]["code"], "invalid", "{what}: {b}");
        }
    }

    async fn a_batch_with_one_bad_call_stores_nothing(app) {
        app.line("+918047180000", "Head office", json!({})).await;
        let batch = json!([
            call("ok-0", "+918047180000", "completed", "2026-01-10T10:00:00Z", 30),
            call("bad-1", "+918047180000", "answered", "2026-01-10T11:00:00Z", 30),
            call("ok-2", "+918047180000", "no-answer", "2026-01-10T12:00:00Z", 0),
        ]);
        let (s, b) = app.post("/api/calls", batch).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        error_shape(s, &b, "batch");
        let details = b["error"]["details"].as_array().unwrap_or_else(|| panic!("no details: {b}"));
        assert_eq!(details.len(), 1, "{b}");
        assert_eq!(details[0]["index"], 1, "{b}");
        assert_eq!(details[0]["field"], "status", "{b}");
        assert!(details[0]["message"].as_str().unwrap().contains("answered"), "{b}");
        assert!(stored_calls(&app).await.is_empty(), "a refused batch stored calls");
        let (_, d) = app.get(&format!("/api/analytics/dashboard?{PERIOD}")).await;
        assert_eq!(d["calls"], 0, "{d}");

        // Every bad item is listed, each with its own index.
        let mut late = call("bad-2", "+918047180000", "completed", "2026-01-10T12:00:00Z", 30);
        late["endedAt"] = json!("2026-01-10T11:00:00Z");
        let batch = json!([
            patched(good_call(), "direction", json!("sideways")),
            call("ok-1", "+918047180000", "completed", "2026-01-10T11:00:00Z", 30),
            late,
            patched(call("bad-3", "12", "completed", "not a time", 30), "durationSeconds", json!(-5)),
        ]);
        let (s, b) = app.post("/api/calls", batch).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        error_shape(s, &b, "batch of four");
        let mut got: Vec<(i64, String)> = b["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
                (d["index"].as_i64().unwrap(), d["field"].as_str().unwrap().to_string())
            })
            .collect();
        got.sort();
        let want: Vec<(i64, String)> = [
            (0, "direction"),
            (2, "endedAt"),
            (3, "durationSeconds"),
            (3, "phoneNumber"),
            (3, "startedAt"),
        ]
        .into_iter()
        .map(|(i, f)| (i, f.to_string()))
        .collect();
        assert_eq!(got, want, "{b}");
        assert!(stored_calls(&app).await.is_empty(), "a refused batch stored calls");

        // The same batch, fixed, is stored whole.
        let good = json!([
            call("ok-0", "+918047180000", "completed", "2026-01-10T10:00:00Z", 30),
            call("ok-1", "+918047180000", "busy", "2026-01-10T11:00:00Z", 0),
            call("ok-2", "+918047180000", "no-answer", "2026-01-10T12:00:00Z", 0),
        ]);
        let b = app.calls(good).await;
        assert_eq!(b, json!({"received": 3, "created": 3, "updated": 0}));
        assert_eq!(stored_calls(&app).await.len(), 3);
    }

    async fn posting_a_known_number_again_is_an_upsert(app) {
        let (s, first) = app.post("/api/phone-numbers", json!({"number": "+918047180000", "friendlyName": "Head office"})).await;
        assert_eq!(s, StatusCode::CREATED, "{first}");
        assert_eq!(first["number"], "+918047180000");
        // The same number written another way is the same line.
        let (s, second) = app.post("/api/phone-numbers", json!({"number": "+91 80 4718 0000", "friendlyName": "Bengaluru office"})).await;
        assert_eq!(s, StatusCode::OK, "{second}");
        assert_eq!(second["id"], first["id"]);
        assert_eq!(second["friendlyName"], "Bengaluru office");
        let (s, third) = app.post("/api/phone-numbers", json!({"number": "08047180000"})).await;
        assert_eq!(s, StatusCode::OK, "{third}");
        assert_eq!(third["id"], first["id"]);
        assert_eq!(third["friendlyName"], "Bengaluru office", "an upsert without a name kept the name");

        let (s, list) = app.get("/api/phone-numbers?includeInactive=true").await;
        assert_eq!(s, StatusCode::OK);
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["number"], "+918047180000");
        assert_eq!(list[0]["friendlyName"], "Bengaluru office");
    }

    async fn posting_one_new_number_at_once_is_still_an_upsert(app) {
        // A race: tried with a few numbers, since one try may miss it.
        let numbers = ["+918047180000", "+911140845500", "+912261234500", "+913340123400", "+914440123400"];
        for (round, number) in numbers.iter().enumerate() {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..6 {
                let req = app
                    .client
                    .post(app.url("/api/phone-numbers"))
                    .bearer_auth(&app.token)
                    .json(&json!({"number": number, "friendlyName": format!("Office {i}")}));
                set.spawn(async move {
                    let res = req.send().await.expect("request");
                    (res.status(), res.text().await.unwrap_or_default())
                });
            }
            let results = set.join_all().await;
            let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
            let updated = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
            assert_eq!((created, updated), (1, 5), "six upserts of {number} at once: {results:?}");
            let (_, list) = app.get("/api/phone-numbers?includeInactive=true").await;
            assert_eq!(list.as_array().unwrap().len(), round + 1, "{list}");
        }
    }

    async fn odd_but_harmless_values_never_leak_internals(app) {
        let id = app.line("+918047180000", "Head office", json!({})).await;
        // Text that looks like SQL is just text.
        let name = "x'); DROP TABLE phone_numbers; --";
        let (s, b) = app.put(&format!("/api/phone-numbers/{id}"), json!({"friendlyName": name})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["friendlyName"], name);
        let (s, b) = app.get(&format!("/api/phone-numbers/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["friendlyName"], name);

        let probes: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, "/api/phone-numbers/99999999999999999999".into(), None),
            (Method::GET, "/api/phone-numbers/9223372036854775807".into(), None),
            (Method::GET, "/api/phone-numbers/-1".into(), None),
            (Method::GET, "/api/phone-numbers/abc".into(), None),
            (Method::PUT, "/api/phone-numbers/9223372036854775807".into(), Some(json!({"friendlyName": "x"}))),
            (Method::DELETE, "/api/phone-numbers/0".into(), None),
            (Method::GET, "/api/users/1'%20OR%201=1".into(), None),
            (Method::POST, "/api/users".into(), Some(json!({"email": "x@example.com", "password": "a-long-enough-password", "role": "agent", "phoneNumberIds": [999999]}))),
            (Method::POST, "/api/users".into(), Some(json!({"email": "x@example.com", "password": "a-long-enough-password", "role": "agent", "phoneNumberIds": [9223372036854775807_i64]}))),
            (Method::POST, "/api/users".into(), Some(json!({"email": "not an email", "password": "a-long-enough-password", "role": "agent"}))),
            (Method::POST, "/api/phone-number-groups".into(), Some(json!({"name": "g", "phoneNumberIds": [999999]}))),
            (Method::POST, "/api/phone-number-groups".into(), Some(json!({"name": ""}))),
            (Method::PATCH, "/api/phone-numbers/bulk".into(), Some(json!([{"id": 999999, "data": {"friendlyName": "x"}}]))),
            (Method::PATCH, "/api/phone-numbers/bulk".into(), Some(json!([]))),
            (Method::GET, "/api/calls?cursor=garbage".into(), None),
            (Method::GET, "/api/calls?limit=100000".into(), None),
            (Method::GET, "/api/calls?groupId=99999".into(), None),
            (Method::GET, "/api/analytics/dashboard?groupId=9223372036854775807".into(), None),
            (Method::GET, "/api/no-such-route".into(), None),
            (Method::DELETE, "/api/phone-numbers/dropdown".into(), None),
            (Method::POST, "/api/calls".into(), Some(patched(good_call(), "startedAt", json!("99999-01-01T00:00:00Z")))),
            (Method::POST, "/api/calls".into(), Some(patched(good_call(), "durationSeconds", json!(1e300)))),
            (Method::POST, "/api/calls".into(), Some(patched(good_call(), "providerCallId", json!("x".repeat(500))))),
        ];
        for (method, path, body) in &probes {
            let (s, b) = app.send(method.clone(), path, Some(&app.token), body.as_ref()).await;
            error_shape(s, &b, &format!("{method} {path}"));
        }
        let (s, b) = app.send(Method::POST, "/api/users", Some(&app.token), Some(&json!({"email": "x@example.com", "password": "a-long-enough-password", "role": "agent", "phoneNumberIds": [999999]}))).await;
        invalid(s, &b, "phoneNumberIds", None, "a user assigned a line that does not exist");

        // The database is intact.
        let (s, list) = app.get("/api/phone-numbers").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().len(), 1);
        let (_, users) = app.get("/api/users").await;
        assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");
    }
}

/// U+0000 in any text a client sends.
mod nul {
    use super::*;

    both! {
        // PostgreSQL cannot store U+0000, so it was a 500 there (and stored on
        // SQLite). Both engines now refuse it as a 422 naming the field.
        async fn nul_characters_are_refused_naming_the_field(app) {
            let (status, body) = app.post("/api/phone-number-groups", json!({"name": "a\u{0}b"})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["error"]["field"], "name");

            let line = "+919876543210";
            let mut bad = call("nul-1", line, "completed", "2026-01-10T10:00:00Z", 30);
            bad["flowId"] = json!("7");
            bad["flowName"] = json!("menu\u{0}");
            let (status, body) = app.post("/api/calls", json!([bad])).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["error"]["field"], "[0].flowName");

            let (status, body) = app.get("/api/analytics/dashboard?tz=UTC%00").await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["error"]["field"], "tz");

            let (_, key) = app.post("/api/ingest-keys", json!({"name": "exotel"})).await;
            let res = app
                .client
                .post(app.url(&format!("/api/webhooks/exotel?token={}", key["key"].as_str().unwrap())))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("CallSid=ab%00&Direction=incoming&StartTime=2026-01-10+10:00:00&CallTo=08047180000&CallFrom=09876543210")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["field"], "CallSid");

            // In a file, the record is rejected and reported; the rest goes on.
            let csv = "providerCallId,phoneNumber,direction,status,startedAt\nz\u{0}z,+919876543210,inbound,completed,2026-01-10T10:00:00Z\n";
            let res = app
                .client
                .post(app.url("/api/import?format=csv"))
                .bearer_auth(&app.token)
                .body(csv)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let text = res.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{text}");
            let report: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(report["rejected"], 1, "{report}");
            assert!(report["errors"][0]["reason"].as_str().unwrap().contains("providerCallId"), "{report}");
            for leak in LEAKS {
                assert!(!text.contains(leak), "{text}");
            }
            let (status, calls) = app.get("/api/calls").await;
            assert_eq!(status, StatusCode::OK);
            assert!(calls["items"].as_array().unwrap().is_empty(), "nothing stored: {calls}");
        }
    }
}
