//! Timeseries, breakdown, compare and export on hand-made data.

use serde_json::{Value, json};

use crate::helpers::*;

both! {
    async fn timeseries_buckets_follow_local_days_and_dst(app) {
        app.calls(json!([
            call("t1", "+919876543210", "completed", "2026-03-08T04:59:59Z", 60),
            call("t2", "+919876543210", "busy", "2026-03-08T05:00:00Z", 0),
            call("t3", "+919876543210", "completed", "2026-03-09T03:59:59Z", 30),
            call("t4", "+919876543210", "completed", "2026-03-09T04:00:00Z", 90),
        ])).await;
        let (status, ts) = app.get("/api/analytics/timeseries?interval=day&from=2026-03-07&to=2026-03-10&tz=America/New_York").await;
        assert_eq!(status, 200, "{ts}");
        assert_eq!(ts["interval"], "day");
        let starts: Vec<&str> = ts["buckets"].as_array().unwrap().iter().map(|b| b["start"].as_str().unwrap()).collect();
        // The 8th (spring forward) has 23 hours.
        assert_eq!(starts, ["2026-03-07T05:00:00Z", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"]);
        let calls: Vec<i64> = ts["buckets"].as_array().unwrap().iter().map(|b| b["calls"].as_i64().unwrap()).collect();
        assert_eq!(calls, [1, 2, 1]);
        let b = &ts["buckets"][1];
        assert_eq!((b["answered"].as_i64(), b["missed"].as_i64(), b["successRate"].as_f64(), b["avgCallDuration"].as_f64()), (Some(1), Some(1), Some(50.0), Some(30.0)));
        // Hourly over a Kolkata day: 24 buckets at half past the UTC hour, empty ones included.
        let (_, ts) = app.get("/api/analytics/timeseries?interval=hour&from=2026-03-08&to=2026-03-09&tz=Asia/Kolkata").await;
        let buckets = ts["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 24);
        assert_eq!(buckets[0]["start"], "2026-03-07T18:30:00Z");
        assert_eq!(buckets.iter().map(|b| b["calls"].as_i64().unwrap()).sum::<i64>(), 2);
        let (status, body) = app.get("/api/analytics/timeseries?interval=hour&from=2020-01-01&to=2029-01-01").await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], "interval");
        let (status, _) = app.get("/api/analytics/timeseries?interval=minute").await;
        assert_eq!(status, 422);
    }

    async fn breakdown_by_every_dimension(app) {
        app.line("+919876543210", "Sales", json!({"department": "sales"})).await;
        let mut calls = vec![
            call("b1", "+919876543210", "completed", "2026-02-02T10:00:00Z", 100),
            call("b2", "+919876543210", "no-answer", "2026-02-02T10:30:00Z", 0),
            call("b3", "+911140845500", "completed", "2026-02-03T23:00:00Z", 20),
        ];
        calls[0]["flowId"] = json!("7");
        calls[0]["flowName"] = json!("Main menu");
        app.calls(Value::Array(calls)).await;
        let q = "from=2026-02-01&to=2026-02-08&tz=Asia/Kolkata";
        let (_, flow) = app.get(&format!("/api/analytics/breakdown?by=flow&{q}")).await;
        assert_eq!(flow["by"], "flow");
        assert_eq!(flow["rows"][0]["value"], Value::Null);
        assert_eq!(flow["rows"][0]["calls"], 2);
        assert_eq!(flow["rows"][1], json!({"value": "7", "label": "Main menu", "calls": 1, "answered": 1, "missed": 0, "avgCallDuration": 100.0, "successRate": 100.0, "totalTalkSeconds": 100}));
        let (_, lines) = app.get(&format!("/api/analytics/breakdown?by=phoneNumber&{q}")).await;
        assert_eq!(lines["rows"][0]["label"], "Sales");
        assert_eq!(lines["rows"][1]["label"], "+91 11 4084 5500");
        let (_, meta) = app.get(&format!("/api/analytics/breakdown?by=metadata.department&{q}")).await;
        let values: Vec<Value> = meta["rows"].as_array().unwrap().iter().map(|r| r["value"].clone()).collect();
        assert_eq!(values, vec![json!("sales"), Value::Null]);
        // 23:00Z on the 3rd is 04:30 on Wednesday the 4th in Kolkata.
        let (_, hours) = app.get(&format!("/api/analytics/breakdown?by=hourOfDay&{q}")).await;
        assert_eq!(hours["rows"].as_array().unwrap().len(), 24);
        assert_eq!(hours["rows"][4]["calls"], 1);
        assert_eq!(hours["rows"][15]["calls"], 1, "10:00Z is 15:30 IST");
        assert_eq!(hours["rows"][16]["calls"], 1, "10:30Z is 16:00 IST");
        let (_, days) = app.get(&format!("/api/analytics/breakdown?by=dayOfWeek&{q}")).await;
        assert_eq!(days["rows"][2]["label"], "Wednesday");
        assert_eq!(days["rows"][2]["calls"], 1);
        assert_eq!(days["rows"][0]["calls"], 2);
        let (status, body) = app.get(&format!("/api/analytics/breakdown?by=colour&{q}")).await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["field"], "by");
    }

    async fn compare_lines_with_the_period_before(app) {
        let mut calls = Vec::new();
        for i in 0..40 {
            let status = if i % 4 == 0 { "no-answer" } else { "completed" };
            calls.push(call(&format!("n{i}"), "+919876543210", status, &format!("2026-02-10T{:02}:{:02}:00Z", 8 + i / 10, i % 60), 60));
        }
        calls.push(call("p1", "+919876543210", "completed", "2026-02-03T09:00:00Z", 30));
        calls.push(call("p2", "+911140845500", "completed", "2026-02-10T09:00:00Z", 10));
        app.calls(Value::Array(calls)).await;
        let (status, c) = app.get("/api/analytics/compare?phoneNumbers=%2B919876543210,%2B911140845500&from=2026-02-09&to=2026-02-16").await;
        assert_eq!(status, 200, "{c}");
        assert_eq!(c["previousPeriod"]["from"], "2026-02-02T00:00:00Z");
        assert_eq!(c["previousPeriod"]["to"], "2026-02-09T00:00:00Z");
        let busy = &c["rows"][0];
        assert_eq!(busy["phoneNumber"], "+919876543210");
        assert_eq!(busy["current"]["calls"], 40);
        assert_eq!(busy["current"]["successRate"], 75.0);
        assert_eq!(busy["current"]["lowSample"], false);
        assert_eq!(busy["current"]["successRateInterval"], json!([59.81, 85.81]));
        assert_eq!(busy["previous"]["calls"], 1);
        assert_eq!(busy["change"], json!({"calls": 3900.0, "successRate": -25.0, "avgCallDuration": 100.0}));
        let quiet = &c["rows"][1];
        assert_eq!(quiet["current"]["lowSample"], true);
        assert_eq!(quiet["change"]["calls"], Value::Null, "no calls before: no percentage");
        let (status, body) = app.get("/api/analytics/compare?from=2026-02-09&to=2026-02-16").await;
        assert_eq!(status, 422, "{body}");
        let (_, all) = app.get("/api/analytics/compare?by=phoneNumber&from=2026-02-09&to=2026-02-16").await;
        assert_eq!(all["rows"].as_array().unwrap().len(), 2);
    }

    async fn export_streams_the_view_as_csv_for_the_users_lines(app) {
        let a = app.line("+919876543210", "A", json!({})).await;
        let mut calls = vec![
            call("x1", "+919876543210", "completed", "2026-02-02T10:00:00Z", 100),
            call("x2", "+911140845500", "completed", "2026-02-02T11:00:00Z", 100),
        ];
        calls[0]["flowId"] = json!("7");
        calls[0]["flowName"] = json!("Menu, main");
        app.calls(Value::Array(calls)).await;
        let res = app.client.get(app.url("/api/analytics/export.csv")).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = res.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id,provider,providerCallId,phoneNumber,otherParty,direction,status,startedAt,endedAt,durationSeconds,flowId,flowName,recordingUrl");
        assert_eq!(lines.len(), 3);
        assert!(lines[2].contains("x1,+919876543210,+919812345678,inbound,completed,2026-02-02T10:00:00Z,,100,7,\"Menu, main\","), "{}", lines[2]);
        let (_, manager) = app.user("m@example.com", "manager", &[a]).await;
        let res = app.client.get(app.url("/api/analytics/export.csv")).bearer_auth(&manager).send().await.unwrap();
        let text = res.text().await.unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("+911140845500"));
        let res = app.client.get(app.url("/api/analytics/export.csv?phoneNumber=%2B911140845500")).bearer_auth(&manager).send().await.unwrap();
        assert_eq!(res.status(), 403);
        for path in ["/api/analytics/timeseries?phoneNumber=%2B911140845500", "/api/analytics/breakdown?by=flow&phoneNumber=%2B911140845500", "/api/analytics/compare?phoneNumbers=%2B911140845500"] {
            let (status, _) = app.send(reqwest::Method::GET, path, Some(&manager), None).await;
            assert_eq!(status, 403, "{path}");
        }
    }
}
