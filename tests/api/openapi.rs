//! `GET /api/openapi.json`: an OpenAPI 3.1 document that covers every route
//! of `src/http/router.rs`. A route added there without a `#[utoipa::path]`
//! (and an entry in `ROUTES`) fails here.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, spawn_configured};

/// Every API route of `src/http/router.rs`, as the document spells paths.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/auth/login"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("GET", "/api/users/{id}"),
    ("PUT", "/api/users/{id}"),
    ("DELETE", "/api/users/{id}"),
    ("GET", "/api/phone-numbers"),
    ("POST", "/api/phone-numbers"),
    ("GET", "/api/phone-numbers/dropdown"),
    ("POST", "/api/phone-numbers/discover"),
    ("GET", "/api/phone-numbers/primary/current"),
    ("PATCH", "/api/phone-numbers/bulk"),
    ("GET", "/api/phone-numbers/{id}"),
    ("PUT", "/api/phone-numbers/{id}"),
    ("DELETE", "/api/phone-numbers/{id}"),
    ("GET", "/api/phone-number-groups"),
    ("POST", "/api/phone-number-groups"),
    ("GET", "/api/phone-number-groups/{id}"),
    ("PUT", "/api/phone-number-groups/{id}"),
    ("DELETE", "/api/phone-number-groups/{id}"),
    ("POST", "/api/phone-number-groups/{id}/members"),
    (
        "DELETE",
        "/api/phone-number-groups/{id}/members/{phone_number_id}",
    ),
    ("POST", "/api/calls"),
    ("GET", "/api/calls"),
    ("POST", "/api/import"),
    ("GET", "/api/analytics/dashboard"),
    ("GET", "/api/analytics/timeseries"),
    ("GET", "/api/analytics/breakdown"),
    ("GET", "/api/analytics/compare"),
    ("GET", "/api/analytics/export.csv"),
    ("GET", "/api/ingest-keys"),
    ("POST", "/api/ingest-keys"),
    ("DELETE", "/api/ingest-keys/{id}"),
    ("GET", "/api/webhooks/exotel"),
    ("POST", "/api/webhooks/exotel"),
    ("POST", "/api/webhooks/twilio"),
    ("GET", "/api/audit"),
    ("GET", "/metrics"),
];

/// Routes anyone may call; every other one answers 401 without a token.
const PUBLIC: &[&str] = &[
    "/api/health",
    "/api/openapi.json",
    "/api/auth/login",
    "/api/webhooks/exotel",
    "/api/webhooks/twilio",
    "/metrics",
];

async fn document(app: &crate::helpers::TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "served without a token");
    let ct = res.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_covers_every_route() {
    let app = spawn_configured(Backend::Sqlite, |s| s.metrics = true)
        .await
        .unwrap();
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("an openapi field");
    assert!(version.starts_with("3.1"), "openapi is {version}");

    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in ROUTES {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not in the document"))[method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in the document");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents no success"
        );
        if !PUBLIC.contains(path) {
            assert!(
                responses.contains_key("401"),
                "{method} {path} needs a token but documents no 401"
            );
            assert!(
                op.get("security").is_none(),
                "{method} {path} needs the document's default (Bearer) security"
            );
        }
    }
    // And nothing is documented that the router does not serve.
    let documented: usize = paths
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, ROUTES.len(), "{:?}", paths.keys());

    // Every route of the list is one the router serves (not its fallback).
    for (method, path) in ROUTES {
        let url = app.url(&path.replace("{id}", "1").replace("{phone_number_id}", "1"));
        let res = app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            !message.starts_with("no route for"),
            "{method} {path} is not a route: {body}"
        );
        if !PUBLIC.contains(path) {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_security_are_described_once() {
    let app = spawn_configured(Backend::Sqlite, |_| {}).await.unwrap();
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["ingest_key"]["in"], "query");
    assert_eq!(schemes["ingest_key"]["name"], "token");
    assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));

    // The error body: {"error": {"code", "message", "field"?, "details"?}}.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ErrorBody"]["required"],
        serde_json::json!(["error"])
    );
    let detail = &schemas["ErrorDetail"];
    for field in ["code", "message", "field", "details"] {
        assert!(detail["properties"].get(field).is_some(), "{field}");
    }
    let required: Vec<&str> = detail["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["code", "message"]);

    // A real error answer has exactly the documented codes and shape.
    let (status, body) = app
        .post("/api/users", serde_json::json!({"email": 1}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes = schemas["ErrorCode"]["enum"].as_array().unwrap();
    assert!(codes.contains(&body["error"]["code"]), "{body}");
    assert_eq!(body["error"]["field"], "email");

    // Every shared error response points at that body.
    for (name, response) in doc["components"]["responses"].as_object().unwrap() {
        assert_eq!(
            response["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{name}"
        );
    }
    // A route's errors are among them: 422 on a body it validates.
    let create = &doc["paths"]["/api/users"]["post"]["responses"];
    assert_eq!(create["422"]["$ref"], "#/components/responses/Invalid");
    assert_eq!(create["409"]["$ref"], "#/components/responses/Conflict");
}
