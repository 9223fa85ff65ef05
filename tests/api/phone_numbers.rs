//! The eight phone-number endpoints, bulk updates and the primary rule.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

both! {
    async fn upsert_creates_then_updates_by_number(app) {
        let body = json!({"number": "+91 98765-43210", "friendlyName": "Customer Support - Mumbai", "type": "exophone",
            "capabilities": {"voice": true, "sms": true}, "metadata": {"department": "support", "region": "mumbai"}});
        let (status, created) = app.post("/api/phone-numbers", body).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(created["number"], "+919876543210");
        assert_eq!(created["friendlyName"], "Customer Support - Mumbai");
        assert_eq!(created["type"], "exophone");
        assert_eq!(created["isActive"], true);
        assert_eq!(created["isPrimary"], false);
        assert_eq!(created["capabilities"], json!({"voice": true, "sms": true}));
        assert_eq!(created["metadata"]["region"], "mumbai");
        for key in ["id", "createdAt", "updatedAt"] {
            assert!(!created[key].is_null(), "{key} missing: {created}");
        }
        // The same number written another way updates the same row.
        let (status, updated) = app.post("/api/phone-numbers", json!({"number": "09876543210", "friendlyName": "Support"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(updated["id"], created["id"]);
        assert_eq!(updated["friendlyName"], "Support");
        assert_eq!(updated["metadata"]["region"], "mumbai", "fields not given are kept");
        let (_, list) = app.get("/api/phone-numbers").await;
        assert_eq!(list.as_array().unwrap().len(), 1);
    }

    async fn list_is_primary_first_then_by_name_and_hides_inactive(app) {
        let a = app.line("+918047180000", "Zeta line", json!({})).await;
        let b = app.line("+911140845500", "alpha line", json!({})).await;
        let c = app.line("+912261234500", "Middle", json!({})).await;
        let (status, _) = app.put(&format!("/api/phone-numbers/{c}"), json!({"isPrimary": true})).await;
        assert_eq!(status, 200);
        let (status, _) = app.put(&format!("/api/phone-numbers/{a}"), json!({"isActive": false})).await;
        assert_eq!(status, 200);
        let (_, list) = app.get("/api/phone-numbers").await;
        let ids: Vec<i64> = list.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![c, b]);
        let (_, all) = app.get("/api/phone-numbers?includeInactive=true").await;
        let ids: Vec<i64> = all.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![c, b, a]);
        let (status, body) = app.get("/api/phone-numbers?includeInactive=maybe").await;
        assert_eq!(status, 422, "{body}");
    }

    async fn dropdown_labels_active_lines(app) {
        let a = app.line("+918047180000", "Support", json!({})).await;
        let (status, b) = app.post("/api/phone-numbers", json!({"number": "+919876543210"})).await;
        assert_eq!(status, 201);
        let inactive = app.line("+911140845500", "Old", json!({})).await;
        app.put(&format!("/api/phone-numbers/{inactive}"), json!({"isActive": false})).await;
        app.put(&format!("/api/phone-numbers/{a}"), json!({"isPrimary": true})).await;
        let (status, dd) = app.get("/api/phone-numbers/dropdown").await;
        assert_eq!(status, 200);
        assert_eq!(dd, json!([
            {"id": a, "number": "+918047180000", "label": "Support", "isPrimary": true},
            {"id": b["id"], "number": "+919876543210", "label": "+91 98765 43210", "isPrimary": false},
        ]));
    }

    async fn at_most_one_primary(app) {
        let a = app.line("+918047180000", "A", json!({})).await;
        let b = app.line("+911140845500", "B", json!({})).await;
        let (status, _) = app.get("/api/phone-numbers/primary/current").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.put(&format!("/api/phone-numbers/{a}"), json!({"isPrimary": true})).await;
        let (_, p) = app.get("/api/phone-numbers/primary/current").await;
        assert_eq!(p["id"], a);
        let (status, body) = app.put(&format!("/api/phone-numbers/{b}"), json!({"isPrimary": true})).await;
        assert_eq!(status, 200, "{body}");
        let (_, p) = app.get("/api/phone-numbers/primary/current").await;
        assert_eq!(p["id"], b);
        let (_, list) = app.get("/api/phone-numbers").await;
        let primaries = list.as_array().unwrap().iter().filter(|r| r["isPrimary"] == true).count();
        assert_eq!(primaries, 1);
        // Creating a new primary by upsert moves it too.
        let (status, c) = app.post("/api/phone-numbers", json!({"number": "+912261234500", "isPrimary": true})).await;
        assert_eq!(status, 201);
        let (_, p) = app.get("/api/phone-numbers/primary/current").await;
        assert_eq!(p["id"], c["id"]);
        let (_, a_now) = app.get(&format!("/api/phone-numbers/{b}")).await;
        assert_eq!(a_now["isPrimary"], false);
    }

    async fn partial_put_changes_only_given_fields(app) {
        let id = app.line("+918047180000", "Support", json!({"department": "support"})).await;
        let (status, row) = app.put(&format!("/api/phone-numbers/{id}"), json!({"type": "sip"})).await;
        assert_eq!(status, 200);
        assert_eq!(row["type"], "sip");
        assert_eq!(row["friendlyName"], "Support");
        assert_eq!(row["metadata"], json!({"department": "support"}));
        let (status, row) = app.put(&format!("/api/phone-numbers/{id}"), json!({"friendlyName": null, "metadata": {"team": "a"}})).await;
        assert_eq!(status, 200);
        assert_eq!(row["friendlyName"], serde_json::Value::Null);
        assert_eq!(row["metadata"], json!({"team": "a"}));
        let (status, body) = app.put(&format!("/api/phone-numbers/{id}"), json!({"colour": "red"})).await;
        assert_eq!(status, 422);
        assert!(body.to_string().contains("colour"), "{body}");
        let (status, _) = app.put("/api/phone-numbers/9999", json!({"type": "sip"})).await;
        assert_eq!(status, 404);
        // Renumbering onto another line's number is a conflict.
        app.line("+911140845500", "Other", json!({})).await;
        let (status, body) = app.put(&format!("/api/phone-numbers/{id}"), json!({"number": "+911140845500"})).await;
        assert_eq!(status, 409, "{body}");
    }

    async fn delete_keeps_the_calls(app) {
        let id = app.line("+918047180000", "Support", json!({})).await;
        app.calls(json!([call("k1", "+918047180000", "completed", "2026-01-16T03:35:12Z", 60)])).await;
        let (status, _) = app.delete(&format!("/api/phone-numbers/{id}")).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.get(&format!("/api/phone-numbers/{id}")).await;
        assert_eq!(status, 404);
        let (status, _) = app.delete(&format!("/api/phone-numbers/{id}")).await;
        assert_eq!(status, 404);
        let (_, calls) = app.get("/api/calls").await;
        assert_eq!(calls["items"].as_array().unwrap().len(), 1);
        // ...and discovery brings the line back.
        let (status, d) = app.post("/api/phone-numbers/discover", json!(null)).await;
        assert_eq!(status, 200);
        assert_eq!(d, json!({"discovered": 1, "total": 1}));
    }

    async fn discover_registers_unseen_business_numbers(app) {
        app.line("+918047180000", "Known", json!({})).await;
        app.calls(json!([
            call("d1", "+918047180000", "completed", "2026-01-16T03:35:12Z", 60),
            call("d2", "+911140845500", "busy", "2026-01-16T04:35:12Z", 0),
            call("d3", "+911140845500", "completed", "2026-01-16T05:35:12Z", 10),
            call("d4", "+912261234500", "completed", "2026-01-16T06:35:12Z", 10),
        ])).await;
        let (status, d) = app.post("/api/phone-numbers/discover", json!(null)).await;
        assert_eq!(status, 200);
        assert_eq!(d, json!({"discovered": 2, "total": 3}));
        let (_, list) = app.get("/api/phone-numbers").await;
        let found = list.as_array().unwrap().iter().find(|r| r["number"] == "+911140845500").unwrap().clone();
        assert_eq!(found["type"], "exophone");
        assert_eq!(found["isActive"], true);
        let (_, again) = app.post("/api/phone-numbers/discover", json!(null)).await;
        assert_eq!(again, json!({"discovered": 0, "total": 3}));
    }

    async fn bulk_is_all_or_nothing(app) {
        let a = app.line("+918047180000", "A", json!({})).await;
        let b = app.line("+911140845500", "B", json!({})).await;
        let (status, body) = app.patch("/api/phone-numbers/bulk", json!([
            {"id": a, "data": {"friendlyName": "A2"}},
            {"id": b, "data": {"isActive": false, "isPrimary": true}},
        ])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["updated"], 2);
        assert_eq!(body["items"][0]["friendlyName"], "A2");
        assert_eq!(body["items"][1]["isPrimary"], true);
        // One bad item (unknown id, bad number): nothing changes.
        let (status, body) = app.patch("/api/phone-numbers/bulk", json!([
            {"id": a, "data": {"friendlyName": "A3"}},
            {"id": 9999, "data": {"friendlyName": "ghost"}},
            {"id": b, "data": {"number": "12"}},
        ])).await;
        assert_eq!(status, 422, "{body}");
        let details = body["error"]["details"].as_array().unwrap();
        assert!(details.iter().any(|d| d["index"] == 1 && d["field"] == "id"), "{body}");
        assert!(details.iter().any(|d| d["index"] == 2 && d["field"] == "data.number"), "{body}");
        let (_, row) = app.get(&format!("/api/phone-numbers/{a}")).await;
        assert_eq!(row["friendlyName"], "A2");
    }
}
