//! The dashboard on hand-made data: timezone edges, filters, flows, live calls.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::helpers::*;

fn at(secs_from_now: i64) -> String {
    Timestamp::from_second(Timestamp::now().as_second() + secs_from_now)
        .unwrap()
        .to_string()
}

both! {
    async fn day_edges_follow_the_timezone(app) {
        // 18:29:59Z is still 2026-01-16 in Kolkata; 18:30:00Z is the 17th.
        app.calls(json!([
            call("e1", "+919876543210", "completed", "2026-01-16T18:29:59Z", 60),
            call("e2", "+919876543210", "completed", "2026-01-16T18:30:00Z", 120),
            call("e3", "+919876543210", "no-answer", "2026-01-16T18:14:59Z", 0),
            call("e4", "+919876543210", "busy", "2026-01-16T18:15:00Z", 0),
        ])).await;
        let q = |tz: &str, day: &str| format!("/api/analytics/dashboard?tz={}&from={day}&to={}", enc(tz),
            day.parse::<jiff::civil::Date>().unwrap().tomorrow().unwrap());
        let (status, d) = app.get(&q("Asia/Kolkata", "2026-01-17")).await;
        assert_eq!(status, 200, "{d}");
        assert_eq!((d["calls"].as_i64(), d["answered"].as_i64()), (Some(1), Some(1)));
        assert_eq!(d["period"], json!({"from": "2026-01-16T18:30:00Z", "to": "2026-01-17T18:30:00Z", "tz": "Asia/Kolkata"}));
        let (_, d) = app.get(&q("Asia/Kolkata", "2026-01-16")).await;
        assert_eq!(d["calls"], 3);
        // Kathmandu (+5:45): the 17th starts at 18:15Z.
        let (_, d) = app.get(&q("Asia/Kathmandu", "2026-01-17")).await;
        assert_eq!(d["calls"], 3);
        assert_eq!(d["missed"], 1);
        let (_, d) = app.get(&q("UTC", "2026-01-16")).await;
        assert_eq!(d["calls"], 4);
    }

    async fn every_figure_on_a_known_day(app) {
        app.line("+919876543210", "Sales", json!({"department": "sales"})).await;
        app.line("+911140845500", "Support", json!({"department": "support"})).await;
        let mut calls = vec![
            call("k1", "+919876543210", "completed", "2026-02-02T10:00:00Z", 100),
            call("k2", "+919876543210", "completed", "2026-02-02T11:00:00Z", 47),
            call("k3", "+919876543210", "canceled", "2026-02-02T12:00:00Z", 0),
            call("k4", "+919876543210", "failed", "2026-02-02T13:00:00Z", 0),
            call("k5", "+911140845500", "busy", "2026-02-02T14:00:00Z", 0),
            call("k6", "+911140845500", "completed", "2026-02-02T15:00:00Z", 30),
        ];
        calls[1]["otherParty"] = json!("+919812345600");
        calls[3]["direction"] = json!("outbound");
        calls[0]["flowId"] = json!("9");
        calls[1]["flowId"] = json!("9");
        calls[2]["flowId"] = json!("2");
        calls[2]["flowName"] = json!("B menu");
        calls[5]["flowId"] = json!("3");
        calls[5]["flowName"] = json!("A menu");
        app.calls(Value::Array(calls)).await;
        let (status, d) = app.get("/api/analytics/dashboard?from=2026-02-02&to=2026-02-03&tz=UTC").await;
        assert_eq!(status, 200);
        assert_eq!(d["calls"], 6);
        assert_eq!(d["answered"], 3);
        assert_eq!(d["completedCalls"], 3);
        assert_eq!(d["missed"], 2, "canceled and busy inbound; the outbound failure is not missed");
        assert_eq!(d["missedCalls"], 2);
        assert_eq!(d["abandonedCalls"], 1);
        assert_eq!(d["failedCalls"], 1);
        assert_eq!(d["totalTalkSeconds"], 177);
        assert_eq!(d["avgCallDuration"], 59.0);
        assert_eq!(d["successRate"], 50.0);
        assert_eq!(d["uniqueCallers"], 2);
        assert_eq!(d["activeCalls"], 0);
        // Flow 9 has most calls; the two single-call flows tie and go by name.
        assert_eq!(d["topFlows"], json!([
            {"flowId": "9", "flowName": "Flow 9", "callCount": 2, "successRate": 100.0},
            {"flowId": "3", "flowName": "A menu", "callCount": 1, "successRate": 100.0},
            {"flowId": "2", "flowName": "B menu", "callCount": 1, "successRate": 0.0},
        ]));
        // Filters: one line (with the '+' that arrives as a space, or %2B), metadata.
        for q in ["phoneNumber=+919876543210", "phoneNumber=%2B919876543210", "metadata.department=sales", "phoneNumbers=%2B919876543210"] {
            let (status, d) = app.get(&format!("/api/analytics/dashboard?from=2026-02-02&to=2026-02-03&{q}")).await;
            assert_eq!(status, 200, "{q}: {d}");
            assert_eq!(d["calls"], 4, "{q}");
            assert_eq!(d["answered"], 2, "{q}");
        }
        let (_, d) = app.get("/api/analytics/dashboard?from=2026-02-02&to=2026-02-03&metadata.department=nobody").await;
        assert_eq!(d["calls"], 0);
        assert_eq!(d["successRate"], 0.0);
        assert_eq!(d["avgCallDuration"], 0.0);
    }

    async fn today_and_active_calls_are_live(app) {
        let mut calls = vec![
            call("l1", "+919876543210", "in-progress", &at(-3600), 0),
            call("l2", "+919876543210", "ringing", &at(-5 * 3600), 0),
            call("l3", "+919876543210", "queued", &at(-60), 0),
            call("l4", "+919876543210", "completed", &at(-30), 12),
        ];
        calls[2]["phoneNumber"] = json!("+911140845500");
        app.calls(Value::Array(calls)).await;
        let (status, d) = app.get("/api/analytics/dashboard").await;
        assert_eq!(status, 200);
        assert_eq!(d["activeCalls"], 2, "{d}");
        let (_, d) = app.get("/api/analytics/dashboard?phoneNumber=%2B919876543210").await;
        assert_eq!(d["activeCalls"], 1);
        // The default period is today in the configured timezone (UTC here).
        let today = Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        assert_eq!(d["period"]["from"], format!("{today}T00:00:00Z"));
        // l1, l2 and l4 are on this line; those past today's midnight count.
        let midnight = Timestamp::now().as_second() - Timestamp::now().as_second().rem_euclid(86_400);
        let now = Timestamp::now().as_second();
        let today_calls = [-3600, -5 * 3600, -30].iter().filter(|o| now + **o >= midnight).count();
        assert!(d["callsToday"].as_i64().unwrap() >= today_calls as i64, "{d}");
    }

    async fn bad_questions_name_the_parameter(app) {
        for (q, field) in [
            ("phoneNumber=12345", "phoneNumber"),
            ("tz=Mars/Olympus", "tz"),
            ("from=2026-13-01", "from"),
            ("from=2026-01-02&to=2026-01-02", "to"),
            ("from=2026-01-03&to=2026-01-02", "to"),
            ("groupId=777", "groupId"),
            ("colour=red", "colour"),
        ] {
            let (status, body) = app.get(&format!("/api/analytics/dashboard?{q}")).await;
            assert_eq!(status, 422, "{q}: {body}");
            assert_eq!(body["error"]["field"], field, "{q}: {body}");
        }
    }
}
