//! `POST /api/calls` and `GET /api/calls`.

use serde_json::{Value, json};

use crate::helpers::*;

both! {
    async fn a_batch_is_stored_idempotently(app) {
        let batch = json!([
            {"provider": "manual", "providerCallId": "c-1001", "phoneNumber": "+919876543210",
             "otherParty": "09812345678", "direction": "inbound", "status": "completed",
             "startedAt": "2026-01-16T03:35:12Z", "endedAt": "2026-01-16T03:39:17Z",
             "durationSeconds": 198, "flowId": "231", "flowName": "Support menu", "recordingUrl": null},
            {"providerCallId": 1002, "phoneNumber": "919876543210", "direction": "outbound", "status": "no-answer",
             "startedAt": "2026-01-16T04:00:00+05:30", "flowId": 77},
        ]);
        let res = app.calls(batch.clone()).await;
        assert_eq!(res, json!({"received": 2, "created": 2, "updated": 0}));
        let res = app.calls(batch).await;
        assert_eq!(res, json!({"received": 2, "created": 0, "updated": 2}));
        // A later record for the same call updates it.
        let res = app.calls(json!({"providerCallId": "1002", "phoneNumber": "+919876543210", "direction": "outbound",
            "status": "completed", "startedAt": "2026-01-15T22:30:00Z", "durationSeconds": 30})).await;
        assert_eq!(res, json!({"received": 1, "created": 0, "updated": 1}));

        let (status, list) = app.get("/api/calls").await;
        assert_eq!(status, 200);
        assert_eq!(list["nextCursor"], Value::Null);
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let first = &items[0];
        assert_eq!(first["providerCallId"], "c-1001");
        assert_eq!(first["provider"], "manual");
        assert_eq!(first["otherParty"], "+919812345678");
        assert_eq!(first["startedAt"], "2026-01-16T03:35:12Z");
        assert_eq!(first["endedAt"], "2026-01-16T03:39:17Z");
        assert_eq!(first["durationSeconds"], 198);
        assert_eq!(first["flowId"], "231");
        assert_eq!(first["flowName"], "Support menu");
        assert!(first["id"].as_i64().is_some());
        let second = &items[1];
        assert_eq!(second["providerCallId"], "1002");
        assert_eq!(second["status"], "completed");
        assert_eq!(second["startedAt"], "2026-01-15T22:30:00Z");
        assert_eq!(second["flowId"], Value::Null);
    }

    async fn unknown_flows_get_a_placeholder_name_until_named(app) {
        app.calls(json!([{"providerCallId": "f1", "phoneNumber": "+919876543210", "direction": "inbound",
            "status": "completed", "startedAt": "2026-01-16T03:35:12Z", "flowId": "500"}])).await;
        let (_, list) = app.get("/api/calls").await;
        assert_eq!(list["items"][0]["flowName"], "Flow 500");
        app.calls(json!([{"providerCallId": "f2", "phoneNumber": "+919876543210", "direction": "inbound",
            "status": "completed", "startedAt": "2026-01-16T03:36:12Z", "flowId": "500", "flowName": "Main menu"}])).await;
        app.calls(json!([{"providerCallId": "f3", "phoneNumber": "+919876543210", "direction": "inbound",
            "status": "completed", "startedAt": "2026-01-16T03:37:12Z", "flowId": "500", "flowName": "Other name"}])).await;
        let (_, list) = app.get("/api/calls").await;
        for item in list["items"].as_array().unwrap() {
            assert_eq!(item["flowName"], "Main menu", "a chosen name is kept: {item}");
        }
    }

    async fn paging_walks_every_call_newest_first(app) {
        let calls: Vec<Value> = (0..23)
            .map(|i| call(&format!("p{i}"), "+919876543210", "completed", &format!("2026-01-16T03:{:02}:00Z", i / 2), 10))
            .collect();
        app.calls(Value::Array(calls)).await;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/calls?limit=5&cursor={c}"),
                None => "/api/calls?limit=5".to_string(),
            };
            let (status, page) = app.get(&path).await;
            assert_eq!(status, 200, "{page}");
            pages += 1;
            for item in page["items"].as_array().unwrap() {
                seen.push((item["startedAt"].as_str().unwrap().to_string(), item["id"].as_i64().unwrap()));
            }
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(pages < 10);
        }
        assert_eq!(pages, 5);
        assert_eq!(seen.len(), 23);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first, no duplicates");
        let (status, body) = app.get("/api/calls?limit=501").await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["field"], "limit");
        let (status, body) = app.get("/api/calls?cursor=nonsense!").await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["field"], "cursor");
    }

    async fn the_list_takes_the_dashboard_filters(app) {
        app.line("+919876543210", "A", json!({"department": "sales"})).await;
        app.calls(json!([
            call("x1", "+919876543210", "completed", "2026-01-16T03:00:00Z", 10),
            call("x2", "+911140845500", "completed", "2026-01-16T04:00:00Z", 10),
            call("x3", "+919876543210", "busy", "2026-01-17T03:00:00Z", 0),
        ])).await;
        let ids = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["providerCallId"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let (_, v) = app.get("/api/calls?phoneNumber=+919876543210").await;
        assert_eq!(ids(&v), vec!["x3", "x1"]);
        let (_, v) = app.get("/api/calls?metadata.department=sales&from=2026-01-16&to=2026-01-17").await;
        assert_eq!(ids(&v), vec!["x1"]);
        let (_, v) = app.get("/api/calls?from=2026-01-16&to=2026-01-17&tz=Asia/Kolkata").await;
        assert_eq!(ids(&v), vec!["x2", "x1"]);
    }

    async fn an_oversized_batch_is_refused_whole(app) {
        let calls: Vec<Value> = (0..10_001)
            .map(|i| call(&format!("o{i}"), "+919876543210", "completed", "2026-01-16T03:00:00Z", 1))
            .collect();
        let (status, body) = app.post("/api/calls", Value::Array(calls)).await;
        assert_eq!(status, 422, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("10000"));
        let (status, body) = app.post("/api/calls", json!([])).await;
        assert_eq!(status, 422, "{body}");
        let (_, list) = app.get("/api/calls").await;
        assert_eq!(list["items"], json!([]));
        // The largest batch goes in whole.
        let calls: Vec<Value> = (0..10_000)
            .map(|i| call(&format!("o{i}"), "+919876543210", "completed", "2026-01-16T03:00:00Z", 1))
            .collect();
        let res = app.calls(Value::Array(calls)).await;
        assert_eq!(res["created"], 10_000);
    }
}
