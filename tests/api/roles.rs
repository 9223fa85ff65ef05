//! The role matrix: who may read and who may change
//! lines, groups, users and calls, and that a refused change changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const ROLES: [&str; 4] = ["super_admin", "admin", "manager", "agent"];

/// A distinct valid Indian mobile number for `k`.
fn number(k: usize) -> String {
    format!("+9198765{:05}", 10_000 + k)
}

/// One user of each role: `(role, token)`. Every one is assigned `line`.
async fn users_of_every_role(app: &TestApp, line: i64) -> Vec<(&'static str, String)> {
    let mut out = vec![("super_admin", app.token.clone())];
    for role in &ROLES[1..] {
        let (_, token) = app
            .user(&format!("{role}@example.com"), role, &[line])
            .await;
        out.push((*role, token));
    }
    out
}

fn lines_of(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a bare array of lines")
        .iter()
        .map(|l| l["number"].as_str().unwrap().to_string())
        .collect()
}

fn forbidden(status: StatusCode, body: &Value, what: &str, role: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{role} {what}: {body}");
    assert_eq!(body["error"]["code"], "forbidden", "{role} {what}: {body}");
    assert!(
        body["error"]["message"].is_string(),
        "{role} {what}: {body}"
    );
}

/// Everything `send` needs for one request, plus the status a permitted role gets.
struct Op {
    method: Method,
    path: String,
    body: Option<Value>,
    ok: StatusCode,
}

fn op(method: Method, path: impl Into<String>, body: Option<Value>, ok: StatusCode) -> Op {
    Op {
        method,
        path: path.into(),
        body,
        ok,
    }
}

/// Every route the matrix covers, with fixed ids, for the no-token sweep.
fn every_route(line: i64, group: i64, user: i64) -> Vec<Op> {
    let one_call = call(
        "noauth-1",
        "+918047180000",
        "completed",
        "2026-01-10T10:00:00Z",
        30,
    );
    vec![
        op(Method::GET, "/api/phone-numbers", None, StatusCode::OK),
        op(
            Method::GET,
            "/api/phone-numbers?includeInactive=true",
            None,
            StatusCode::OK,
        ),
        op(
            Method::POST,
            "/api/phone-numbers",
            Some(json!({"number": "+919876543210"})),
            StatusCode::CREATED,
        ),
        op(
            Method::GET,
            "/api/phone-numbers/dropdown",
            None,
            StatusCode::OK,
        ),
        op(
            Method::POST,
            "/api/phone-numbers/discover",
            None,
            StatusCode::OK,
        ),
        op(
            Method::GET,
            "/api/phone-numbers/primary/current",
            None,
            StatusCode::OK,
        ),
        op(
            Method::PATCH,
            "/api/phone-numbers/bulk",
            Some(json!([{"id": line, "data": {"friendlyName": "x"}}])),
            StatusCode::OK,
        ),
        op(
            Method::GET,
            format!("/api/phone-numbers/{line}"),
            None,
            StatusCode::OK,
        ),
        op(
            Method::PUT,
            format!("/api/phone-numbers/{line}"),
            Some(json!({"friendlyName": "x"})),
            StatusCode::OK,
        ),
        op(
            Method::DELETE,
            format!("/api/phone-numbers/{line}"),
            None,
            StatusCode::NO_CONTENT,
        ),
        op(
            Method::GET,
            "/api/phone-number-groups",
            None,
            StatusCode::OK,
        ),
        op(
            Method::POST,
            "/api/phone-number-groups",
            Some(json!({"name": "x"})),
            StatusCode::CREATED,
        ),
        op(
            Method::GET,
            format!("/api/phone-number-groups/{group}"),
            None,
            StatusCode::OK,
        ),
        op(
            Method::PUT,
            format!("/api/phone-number-groups/{group}"),
            Some(json!({"name": "y"})),
            StatusCode::OK,
        ),
        op(
            Method::DELETE,
            format!("/api/phone-number-groups/{group}"),
            None,
            StatusCode::NO_CONTENT,
        ),
        op(
            Method::POST,
            format!("/api/phone-number-groups/{group}/members"),
            Some(json!({"phoneNumberIds": [line]})),
            StatusCode::OK,
        ),
        op(
            Method::DELETE,
            format!("/api/phone-number-groups/{group}/members/{line}"),
            None,
            StatusCode::OK,
        ),
        op(Method::GET, "/api/users", None, StatusCode::OK),
        op(
            Method::POST,
            "/api/users",
            Some(
                json!({"email": "n@example.com", "password": "a-long-enough-password", "role": "agent"}),
            ),
            StatusCode::CREATED,
        ),
        op(
            Method::GET,
            format!("/api/users/{user}"),
            None,
            StatusCode::OK,
        ),
        op(
            Method::PUT,
            format!("/api/users/{user}"),
            Some(json!({"role": "manager"})),
            StatusCode::OK,
        ),
        op(
            Method::DELETE,
            format!("/api/users/{user}"),
            None,
            StatusCode::NO_CONTENT,
        ),
        op(Method::POST, "/api/calls", Some(one_call), StatusCode::OK),
        op(Method::GET, "/api/calls", None, StatusCode::OK),
        op(Method::GET, "/api/auth/me", None, StatusCode::OK),
        op(
            Method::GET,
            "/api/analytics/dashboard",
            None,
            StatusCode::OK,
        ),
    ]
}

both! {
    async fn every_read_route_is_open_to_every_role(app) {
        let home = app.line("+918047180000", "Head office", json!({})).await;
        let (s, b) = app.put(&format!("/api/phone-numbers/{home}"), json!({"isPrimary": true})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, group) = app.post("/api/phone-number-groups", json!({"name": "Offices", "phoneNumberIds": [home]})).await;
        assert_eq!(s, StatusCode::CREATED, "{group}");
        let gid = group["id"].as_i64().unwrap();

        for (role, token) in users_of_every_role(&app, home).await {
            let t = Some(token.as_str());

            let (s, b) = app.send(Method::GET, "/api/phone-numbers", t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} list: {b}");
            assert_eq!(lines_of(&b), vec!["+918047180000"], "{role} list");

            let (s, b) = app.send(Method::GET, "/api/phone-numbers?includeInactive=true", t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} list inactive: {b}");

            let (s, b) = app.send(Method::GET, "/api/phone-numbers/dropdown", t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} dropdown: {b}");
            assert_eq!(b, json!([{"id": home, "number": "+918047180000", "label": "Head office", "isPrimary": true}]), "{role}");

            let (s, b) = app.send(Method::GET, &format!("/api/phone-numbers/{home}"), t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} get: {b}");
            assert_eq!(b["id"], home, "{role}");
            assert_eq!(b["friendlyName"], "Head office", "{role}");

            let (s, b) = app.send(Method::GET, "/api/phone-numbers/primary/current", t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} primary: {b}");
            assert_eq!(b["id"], home, "{role}");
            assert_eq!(b["isPrimary"], true, "{role}");

            let (s, b) = app.send(Method::GET, "/api/phone-number-groups", t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} groups: {b}");
            assert_eq!(b["items"][0]["id"], gid, "{role}");

            let (s, b) = app.send(Method::GET, &format!("/api/phone-number-groups/{gid}"), t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} group: {b}");
            assert_eq!(b["phoneNumberIds"], json!([home]), "{role}");

            let (s, b) = app.send(Method::GET, "/api/calls", t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} calls: {b}");

            let (s, b) = app.send(Method::GET, "/api/auth/me", t, None).await;
            assert_eq!(s, StatusCode::OK, "{role} me: {b}");
            assert_eq!(b["role"], role);
        }
    }

    async fn every_write_route_needs_admin_and_a_refusal_changes_nothing(app) {
        let home = app.line("+918047180000", "Head office", json!({})).await;
        let users = users_of_every_role(&app, home).await;
        let mut k = 0;
        let mut next = || {
            k += 1;
            number(k)
        };

        for (r, (role, token)) in users.iter().enumerate() {
            let t = Some(token.as_str());
            let permitted = r < 2;

            // Fresh things for this role to try to change, made by the super_admin.
            let (new_number, renamed_number, deleted_number, bulk_number, seen_number) =
                (next(), next(), next(), next(), next());
            let renamed = app.line(&renamed_number, "Original name", json!({})).await;
            let deleted = app.line(&deleted_number, "To delete", json!({})).await;
            let bulked = app.line(&bulk_number, "Bulk original", json!({})).await;
            app.calls(call(&format!("seen-{r}"), &seen_number, "completed", "2026-01-10T10:00:00Z", 30)).await;
            let (s, g) = app
                .post("/api/phone-number-groups", json!({"name": format!("group {r}"), "phoneNumberIds": [bulked]}))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{g}");
            let group = g["id"].as_i64().unwrap();
            let (s, g) = app.post("/api/phone-number-groups", json!({"name": format!("doomed {r}")})).await;
            assert_eq!(s, StatusCode::CREATED, "{g}");
            let doomed = g["id"].as_i64().unwrap();

            let ops = vec![
                ("upsert", op(Method::POST, "/api/phone-numbers", Some(json!({"number": new_number, "friendlyName": "New"})), StatusCode::CREATED)),
                ("update", op(Method::PUT, format!("/api/phone-numbers/{renamed}"), Some(json!({"friendlyName": "Renamed"})), StatusCode::OK)),
                ("delete", op(Method::DELETE, format!("/api/phone-numbers/{deleted}"), None, StatusCode::NO_CONTENT)),
                ("discover", op(Method::POST, "/api/phone-numbers/discover", None, StatusCode::OK)),
                ("bulk", op(Method::PATCH, "/api/phone-numbers/bulk", Some(json!([{"id": bulked, "data": {"friendlyName": "Bulk renamed"}}])), StatusCode::OK)),
                ("group create", op(Method::POST, "/api/phone-number-groups", Some(json!({"name": format!("new group {r}")})), StatusCode::CREATED)),
                ("group update", op(Method::PUT, format!("/api/phone-number-groups/{group}"), Some(json!({"name": format!("renamed group {r}")})), StatusCode::OK)),
                ("group add", op(Method::POST, format!("/api/phone-number-groups/{group}/members"), Some(json!({"phoneNumberIds": [renamed]})), StatusCode::OK)),
                ("group remove", op(Method::DELETE, format!("/api/phone-number-groups/{group}/members/{bulked}"), None, StatusCode::OK)),
                ("group delete", op(Method::DELETE, format!("/api/phone-number-groups/{doomed}"), None, StatusCode::NO_CONTENT)),
                ("calls", op(Method::POST, "/api/calls", Some(call(&format!("by-{role}"), "+918047180000", "completed", "2026-01-11T10:00:00Z", 40)), StatusCode::OK)),
            ];
            for (what, o) in &ops {
                let (s, b) = app.send(o.method.clone(), &o.path, t, o.body.as_ref()).await;
                if permitted {
                    assert_eq!(s, o.ok, "{role} {what} {} {}: {b}", o.method, o.path);
                } else {
                    forbidden(s, &b, what, role);
                }
            }

            // What the super_admin now sees.
            let (_, all) = app.get("/api/phone-numbers?includeInactive=true").await;
            let numbers = lines_of(&all);
            let (s, line) = app.get(&format!("/api/phone-numbers/{renamed}")).await;
            assert_eq!(s, StatusCode::OK);
            let (s, bulk_line) = app.get(&format!("/api/phone-numbers/{bulked}")).await;
            assert_eq!(s, StatusCode::OK);
            let (deleted_status, _) = app.get(&format!("/api/phone-numbers/{deleted}")).await;
            let (_, g) = app.get(&format!("/api/phone-number-groups/{group}")).await;
            let (doomed_status, _) = app.get(&format!("/api/phone-number-groups/{doomed}")).await;
            let (_, groups) = app.get("/api/phone-number-groups").await;
            let group_names: Vec<&str> = groups["items"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
            let (_, calls) = app.get("/api/calls").await;
            let call_ids: Vec<&str> = calls["items"].as_array().unwrap().iter().map(|c| c["providerCallId"].as_str().unwrap()).collect();

            if permitted {
                assert!(numbers.contains(&new_number), "{role} upsert: {all}");
                assert_eq!(line["friendlyName"], "Renamed", "{role}");
                assert_eq!(bulk_line["friendlyName"], "Bulk renamed", "{role}");
                assert_eq!(deleted_status, StatusCode::NOT_FOUND, "{role}");
                assert!(numbers.contains(&seen_number), "{role} discover: {all}");
                assert_eq!(g["name"], format!("renamed group {r}"), "{role}");
                assert_eq!(g["phoneNumberIds"], json!([renamed]), "{role}");
                assert_eq!(doomed_status, StatusCode::NOT_FOUND, "{role}");
                assert!(group_names.contains(&format!("new group {r}").as_str()), "{role}: {groups}");
                assert!(call_ids.contains(&format!("by-{role}").as_str()), "{role}: {calls}");
            } else {
                assert!(!numbers.contains(&new_number), "{role}'s refused upsert created a line: {all}");
                assert_eq!(line["friendlyName"], "Original name", "{role}'s refused PUT changed the name");
                assert_eq!(bulk_line["friendlyName"], "Bulk original", "{role}'s refused bulk changed the name");
                assert_eq!(deleted_status, StatusCode::OK, "{role}'s refused DELETE deleted the line");
                assert!(!numbers.contains(&seen_number), "{role}'s refused discover registered a line: {all}");
                assert_eq!(g["name"], format!("group {r}"), "{role}'s refused group PUT renamed it");
                assert_eq!(g["phoneNumberIds"], json!([bulked]), "{role}'s refused member change changed members");
                assert_eq!(doomed_status, StatusCode::OK, "{role}'s refused group DELETE deleted it");
                assert!(!group_names.contains(&format!("new group {r}").as_str()), "{role}: {groups}");
                assert!(!call_ids.contains(&format!("by-{role}").as_str()), "{role}'s refused calls were stored: {calls}");
            }
        }
    }

    async fn every_user_route_is_super_admin_only(app) {
        let home = app.line("+918047180000", "Head office", json!({})).await;
        let users = users_of_every_role(&app, home).await;
        for (r, (role, token)) in users.iter().enumerate() {
            let t = Some(token.as_str());
            let permitted = r == 0;
            let (target, _) = app.user(&format!("target{r}@example.com"), "agent", &[]).await;
            let (doomed, _) = app.user(&format!("doomed{r}@example.com"), "agent", &[]).await;
            let new_email = format!("new{r}@example.com");

            let ops = vec![
                ("list", op(Method::GET, "/api/users", None, StatusCode::OK)),
                ("create", op(Method::POST, "/api/users", Some(json!({"email": new_email, "password": "a-long-enough-password", "role": "agent"})), StatusCode::CREATED)),
                ("get", op(Method::GET, format!("/api/users/{target}"), None, StatusCode::OK)),
                ("update", op(Method::PUT, format!("/api/users/{target}"), Some(json!({"role": "manager", "phoneNumberIds": [home]})), StatusCode::OK)),
                ("delete", op(Method::DELETE, format!("/api/users/{doomed}"), None, StatusCode::NO_CONTENT)),
            ];
            for (what, o) in &ops {
                let (s, b) = app.send(o.method.clone(), &o.path, t, o.body.as_ref()).await;
                if permitted {
                    assert_eq!(s, o.ok, "{role} {what}: {b}");
                    if *what == "get" {
                        assert_eq!(b["email"], format!("target{r}@example.com"));
                        assert!(b.get("passwordHash").is_none() && !b.to_string().contains("argon2"), "{b}");
                    }
                    if *what == "list" {
                        assert!(b["items"].as_array().unwrap().len() >= 4, "{b}");
                    }
                } else {
                    forbidden(s, &b, what, role);
                    assert!(!b.to_string().contains("@example.com"), "a refusal leaked users: {b}");
                }
            }

            let (s, t_user) = app.get(&format!("/api/users/{target}")).await;
            assert_eq!(s, StatusCode::OK);
            let (doomed_status, _) = app.get(&format!("/api/users/{doomed}")).await;
            let (_, list) = app.get("/api/users").await;
            let emails: Vec<&str> = list["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
            if permitted {
                assert_eq!(t_user["role"], "manager");
                assert_eq!(t_user["phoneNumberIds"], json!([home]));
                assert_eq!(doomed_status, StatusCode::NOT_FOUND);
                assert!(emails.contains(&new_email.as_str()), "{list}");
            } else {
                assert_eq!(t_user["role"], "agent", "{role}'s refused PUT changed the role");
                assert_eq!(t_user["phoneNumberIds"], json!([]), "{role}'s refused PUT changed the lines");
                assert_eq!(doomed_status, StatusCode::OK, "{role}'s refused DELETE deleted the user");
                assert!(!emails.contains(&new_email.as_str()), "{role}'s refused POST created a user: {list}");
            }
        }
    }

    async fn a_manager_or_agent_cannot_lift_their_own_role(app) {
        let home = app.line("+918047180000", "Head office", json!({})).await;
        for role in ["manager", "agent", "admin"] {
            let (id, token) = app.user(&format!("self-{role}@example.com"), role, &[home]).await;
            let (s, b) = app
                .send(Method::PUT, &format!("/api/users/{id}"), Some(&token), Some(&json!({"role": "super_admin"})))
                .await;
            forbidden(s, &b, "self-promotion", role);
            let (_, me) = app.send(Method::GET, "/api/auth/me", Some(&token), None).await;
            assert_eq!(me["role"], role, "{me}");
        }
    }

    async fn no_token_is_401_on_every_route(app) {
        let home = app.line("+918047180000", "Head office", json!({})).await;
        let (s, g) = app.post("/api/phone-number-groups", json!({"name": "Offices", "phoneNumberIds": [home]})).await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        let group = g["id"].as_i64().unwrap();
        let (user, _) = app.user("someone@example.com", "agent", &[home]).await;

        for o in every_route(home, group, user) {
            let (s, b) = app.send(o.method.clone(), &o.path, None, o.body.as_ref()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{} {} without a token: {b}", o.method, o.path);
            assert_eq!(b["error"]["code"], "unauthorized", "{} {}: {b}", o.method, o.path);
            assert!(b["error"]["message"].is_string(), "{b}");
            // A malformed Authorization header is no better than none.
            for header in ["Bearer", "Basic YWRtaW46YWRtaW4=", "Bearer not.a.jwt"] {
                let mut req = app.client.request(o.method.clone(), app.url(&o.path)).header("authorization", header);
                if let Some(body) = &o.body {
                    req = req.json(body);
                }
                let res = req.send().await.unwrap();
                assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{} {} with '{header}'", o.method, o.path);
            }
        }

        // Nothing was changed by any of them.
        let (_, lines) = app.get("/api/phone-numbers").await;
        assert_eq!(lines_of(&lines), vec!["+918047180000"]);
        assert_eq!(lines[0]["friendlyName"], "Head office");
        let (_, g) = app.get(&format!("/api/phone-number-groups/{group}")).await;
        assert_eq!(g["name"], "Offices");
        assert_eq!(g["phoneNumberIds"], json!([home]));
        let (s, u) = app.get(&format!("/api/users/{user}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(u["role"], "agent");
        let (_, users) = app.get("/api/users").await;
        assert_eq!(users["items"].as_array().unwrap().len(), 2, "{users}");
        let (_, calls) = app.get("/api/calls").await;
        assert_eq!(calls["items"], json!([]));

        // And with the super_admin's token every one of those routes works.
        for o in every_route(home, group, user) {
            let (s, b) = app.send(o.method.clone(), &o.path, Some(&app.token), o.body.as_ref()).await;
            // Deleting the line first makes the later routes on it 404, so
            // only check that none of them is refused for want of a token.
            assert_ne!(s, StatusCode::UNAUTHORIZED, "{} {}: {b}", o.method, o.path);
            assert_ne!(s, StatusCode::FORBIDDEN, "{} {}: {b}", o.method, o.path);
            assert!(!s.is_server_error(), "{} {}: {b}", o.method, o.path);
        }
    }
}
