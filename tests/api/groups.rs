//! `/api/phone-number-groups`: CRUD and membership.

use serde_json::json;

use crate::helpers::*;

both! {
    async fn groups_crud_and_membership(app) {
        let a = app.line("+918047180000", "A", json!({})).await;
        let b = app.line("+911140845500", "B", json!({})).await;
        let c = app.line("+912261234500", "C", json!({})).await;
        let (status, g) = app.post("/api/phone-number-groups", json!({"name": "South", "description": "south lines", "phoneNumberIds": [a, b]})).await;
        assert_eq!(status, 201, "{g}");
        let id = g["id"].as_i64().unwrap();
        assert_eq!(g, json!({"id": id, "name": "South", "description": "south lines", "phoneNumberIds": [a, b]}));
        let (status, _) = app.post("/api/phone-number-groups", json!({"name": "South"})).await;
        assert_eq!(status, 409);
        let (status, body) = app.post("/api/phone-number-groups", json!({"name": "Bad", "phoneNumberIds": [9999]})).await;
        assert_eq!(status, 422, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("9999"));

        let (status, g) = app.post(&format!("/api/phone-number-groups/{id}/members"), json!({"phoneNumberIds": [c, a]})).await;
        assert_eq!(status, 200);
        assert_eq!(g["phoneNumberIds"], json!([a, b, c]));
        let (status, g) = app.delete(&format!("/api/phone-number-groups/{id}/members/{b}")).await;
        assert_eq!(status, 200);
        assert_eq!(g["phoneNumberIds"], json!([a, c]));
        let (status, _) = app.delete(&format!("/api/phone-number-groups/{id}/members/{b}")).await;
        assert_eq!(status, 404);

        let (status, g) = app.put(&format!("/api/phone-number-groups/{id}"), json!({"name": "South region", "phoneNumberIds": [b]})).await;
        assert_eq!(status, 200);
        assert_eq!(g["name"], "South region");
        assert_eq!(g["description"], "south lines");
        assert_eq!(g["phoneNumberIds"], json!([b]));

        // A line may be in several groups; deleting a line leaves the groups.
        let (_, g2) = app.post("/api/phone-number-groups", json!({"name": "All B", "phoneNumberIds": [b]})).await;
        app.delete(&format!("/api/phone-numbers/{b}")).await;
        let (_, list) = app.get("/api/phone-number-groups").await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|g| g["phoneNumberIds"] == json!([])), "{list}");

        let (status, _) = app.delete(&format!("/api/phone-number-groups/{}", g2["id"])).await;
        assert_eq!(status, 204);
        let (status, _) = app.get(&format!("/api/phone-number-groups/{}", g2["id"])).await;
        assert_eq!(status, 404);
    }
}
