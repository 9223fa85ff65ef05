//! Line access: a manager or agent sees only their lines, on
//! every route. Another line's id is 404, as an id no line has; a filter
//! naming another line's number is 403, as a number no line has.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const A: &str = "+918047180000";
const B: &str = "+911140845500";
const PERIOD: &str = "from=2026-01-01&to=2026-02-01&tz=UTC";

/// Everything that would give line B away.
const B_MARKS: [&str; 4] = [
    "+911140845500",
    "1140845500",
    "Line B private",
    "B private flow",
];

fn with(mut c: Value, other: &str, flow: Option<(&str, &str)>) -> Value {
    c["otherParty"] = json!(other);
    if let Some((id, name)) = flow {
        c["flowId"] = json!(id);
        c["flowName"] = json!(name);
    }
    c
}

struct World {
    a: i64,
    b: i64,
    group: i64,
    manager: String,
    agent: String,
    admin: String,
}

/// Lines A and B with calls on both; a group holding both; a manager and an
/// agent assigned A only; an admin assigned nothing.
async fn world(app: &TestApp) -> World {
    let a = app.line(A, "Line A", json!({"department": "sales"})).await;
    let b = app
        .line(B, "Line B private", json!({"department": "sales"}))
        .await;
    let fa = Some(("a-flow", "A menu"));
    let fb = Some(("b-flow", "B private flow"));
    app.calls(json!([
        with(
            call("a1", A, "completed", "2026-01-05T10:00:00Z", 100),
            "+919812345678",
            fa
        ),
        with(
            call("a2", A, "completed", "2026-01-06T10:00:00Z", 200),
            "+919812345679",
            fa
        ),
        with(
            call("a3", A, "no-answer", "2026-01-07T10:00:00Z", 0),
            "+919812345678",
            fa
        ),
        with(
            call("b1", B, "completed", "2026-01-05T11:00:00Z", 300),
            "+919812345670",
            fb
        ),
        with(
            call("b2", B, "busy", "2026-01-06T11:00:00Z", 0),
            "+919812345671",
            fb
        ),
        with(
            call("b3", B, "completed", "2026-01-07T11:00:00Z", 60),
            "+919812345672",
            fb
        ),
        with(
            call("b4", B, "canceled", "2026-01-08T11:00:00Z", 0),
            "+919812345670",
            fb
        ),
    ]))
    .await;
    let (s, g) = app
        .post(
            "/api/phone-number-groups",
            json!({"name": "Both", "phoneNumberIds": [a, b]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let (_, manager) = app.user("manager@example.com", "manager", &[a]).await;
    let (_, agent) = app.user("agent@example.com", "agent", &[a]).await;
    let (_, admin) = app.user("admin@example.com", "admin", &[]).await;
    World {
        a,
        b,
        group: g["id"].as_i64().unwrap(),
        manager,
        agent,
        admin,
    }
}

/// Asserts a dashboard's figures are line A's, to the call.
fn is_a(d: &Value, what: &str) {
    assert_eq!(d["calls"], 3, "{what}: {d}");
    assert_eq!(d["answered"], 2, "{what}: {d}");
    assert_eq!(d["completedCalls"], 2, "{what}: {d}");
    assert_eq!(d["missed"], 1, "{what}: {d}");
    assert_eq!(d["missedCalls"], 1, "{what}: {d}");
    assert_eq!(d["abandonedCalls"], 0, "{what}: {d}");
    assert_eq!(d["failedCalls"], 0, "{what}: {d}");
    assert_eq!(d["totalTalkSeconds"], 300, "{what}: {d}");
    assert_eq!(d["uniqueCallers"], 2, "{what}: {d}");
    assert!(
        (d["avgCallDuration"].as_f64().unwrap() - 150.0).abs() < 1e-9,
        "{what}: {d}"
    );
    assert!(
        (d["successRate"].as_f64().unwrap() - 200.0 / 3.0).abs() < 0.01,
        "{what}: {d}"
    );
    assert_eq!(d["topFlows"].as_array().unwrap().len(), 1, "{what}: {d}");
    assert_eq!(d["topFlows"][0]["flowId"], "a-flow", "{what}: {d}");
    assert_eq!(d["topFlows"][0]["callCount"], 3, "{what}: {d}");
}

/// Asserts a dashboard's figures are lines A and B together.
fn is_both(d: &Value, what: &str) {
    assert_eq!(d["calls"], 7, "{what}: {d}");
    assert_eq!(d["answered"], 4, "{what}: {d}");
    assert_eq!(d["missed"], 3, "{what}: {d}");
    assert_eq!(d["abandonedCalls"], 1, "{what}: {d}");
    assert_eq!(d["totalTalkSeconds"], 660, "{what}: {d}");
    assert_eq!(d["uniqueCallers"], 5, "{what}: {d}");
    assert_eq!(d["topFlows"].as_array().unwrap().len(), 2, "{what}: {d}");
}

fn numbers(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|l| l["number"].as_str().unwrap())
        .collect()
}

fn call_ids(page: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["providerCallId"].as_str().unwrap())
        .collect();
    ids.sort();
    ids
}

fn forbidden(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert_eq!(body["error"]["code"], "forbidden", "{what}: {body}");
}

/// The answer for a line id the user may not see: the one for no such line.
fn no_line(status: StatusCode, body: &Value, id: i64, what: &str) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {body}");
    assert_eq!(body["error"]["code"], "not_found", "{what}: {body}");
    assert_eq!(
        body["error"]["message"],
        format!("no phone number has id {id}"),
        "{what}: {body}"
    );
}

/// Sends as `token`, keeps the body's text for the leak check.
async fn as_user(
    app: &TestApp,
    token: &str,
    path: &str,
    seen: &mut Vec<(String, String)>,
) -> (StatusCode, Value) {
    let (s, b) = app.send(Method::GET, path, Some(token), None).await;
    seen.push((path.to_string(), b.to_string()));
    (s, b)
}

both! {
    async fn a_manager_sees_only_their_lines_everywhere(app) {
        let w = world(&app).await;
        let mut seen = Vec::new();
        let m = w.manager.as_str();

        let (s, b) = as_user(&app, m, "/api/phone-numbers", &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(numbers(&b), vec![A]);
        let (s, b) = as_user(&app, m, "/api/phone-numbers?includeInactive=true", &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(numbers(&b), vec![A]);
        let (s, b) = as_user(&app, m, "/api/phone-numbers/dropdown", &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(numbers(&b), vec![A]);
        let (s, b) = as_user(&app, m, &format!("/api/phone-numbers/{}", w.a), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["number"], A);

        let (s, b) = as_user(&app, m, "/api/calls", &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(call_ids(&b), vec!["a1", "a2", "a3"]);
        let (s, b) = as_user(&app, m, &format!("/api/calls?{PERIOD}"), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(call_ids(&b), vec!["a1", "a2", "a3"]);
        let (s, b) = as_user(&app, m, &format!("/api/calls?phoneNumber={}", enc(A)), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(call_ids(&b), vec!["a1", "a2", "a3"]);
        let (s, b) = as_user(&app, m, &format!("/api/calls?groupId={}", w.group), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(call_ids(&b), vec!["a1", "a2", "a3"]);
        let (s, b) = as_user(&app, m, "/api/calls?metadata.department=sales", &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(call_ids(&b), vec!["a1", "a2", "a3"]);

        // "All phone numbers" is all of theirs.
        let (s, d) = as_user(&app, m, &format!("/api/analytics/dashboard?{PERIOD}"), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        is_a(&d, "manager, no filter");
        let (s, d) = as_user(&app, m, &format!("/api/analytics/dashboard?{PERIOD}&phoneNumber={}", enc(A)), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        is_a(&d, "manager, phoneNumber=A");
        let (s, d) = as_user(&app, m, &format!("/api/analytics/dashboard?{PERIOD}&groupId={}", w.group), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        is_a(&d, "manager, group of A and B");
        let (s, d) = as_user(&app, m, &format!("/api/analytics/dashboard?{PERIOD}&metadata.department=sales"), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        is_a(&d, "manager, metadata matching A and B");

        // Groups show only their lines among the members.
        let (s, g) = as_user(&app, m, &format!("/api/phone-number-groups/{}", w.group), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{g}");
        assert_eq!(g["phoneNumberIds"], json!([w.a]), "{g}");
        let (s, g) = as_user(&app, m, "/api/phone-number-groups", &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{g}");
        assert_eq!(g["items"][0]["phoneNumberIds"], json!([w.a]), "{g}");

        let (s, me) = as_user(&app, m, "/api/auth/me", &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{me}");
        assert_eq!(me["phoneNumberIds"], json!([w.a]));

        // B's id is no line's; filtering by B's number is 403.
        let (s, b) = as_user(&app, m, &format!("/api/phone-numbers/{}", w.b), &mut seen).await;
        no_line(s, &b, w.b, "B by id");
        let refused = [
            format!("/api/analytics/dashboard?{PERIOD}&phoneNumber={}", enc(B)),
            format!("/api/analytics/dashboard?{PERIOD}&phoneNumber={}", B),
            format!("/api/analytics/dashboard?{PERIOD}&phoneNumbers={}", enc(&format!("{A},{B}"))),
            format!("/api/analytics/dashboard?{PERIOD}&phoneNumbers={}", enc(&format!("{B},{A}"))),
            format!("/api/analytics/dashboard?{PERIOD}&groupId={}&phoneNumber={}", w.group, enc(B)),
            format!("/api/calls?phoneNumber={}", enc(B)),
            format!("/api/calls?phoneNumbers={}", enc(&format!("{A},{B}"))),
        ];
        for path in &refused {
            let (s, b) = as_user(&app, m, path, &mut seen).await;
            forbidden(s, &b, path);
        }

        for (path, text) in &seen {
            for mark in B_MARKS {
                assert!(!text.contains(mark), "the manager's {path} gives line B away ('{mark}'): {text}");
            }
        }
    }

    async fn an_agent_is_held_to_their_lines_too(app) {
        let w = world(&app).await;
        let mut seen = Vec::new();
        let t = w.agent.as_str();
        let (s, b) = as_user(&app, t, "/api/phone-numbers", &mut seen).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(numbers(&b), vec![A]);
        let (s, b) = as_user(&app, t, "/api/phone-numbers/dropdown", &mut seen).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(numbers(&b), vec![A]);
        let (s, b) = as_user(&app, t, "/api/calls", &mut seen).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(call_ids(&b), vec!["a1", "a2", "a3"]);
        let (s, d) = as_user(&app, t, &format!("/api/analytics/dashboard?{PERIOD}"), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        is_a(&d, "agent");
        let (s, d) = as_user(&app, t, &format!("/api/analytics/dashboard?{PERIOD}&groupId={}", w.group), &mut seen).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        is_a(&d, "agent, group");
        let (s, b) = as_user(&app, t, &format!("/api/phone-numbers/{}", w.b), &mut seen).await;
        no_line(s, &b, w.b, "B by id");
        for path in [
            format!("/api/analytics/dashboard?{PERIOD}&phoneNumber={}", enc(B)),
            format!("/api/calls?phoneNumber={}", enc(B)),
        ] {
            let (s, b) = as_user(&app, t, &path, &mut seen).await;
            forbidden(s, &b, &path);
        }
        for (path, text) in &seen {
            for mark in B_MARKS {
                assert!(!text.contains(mark), "the agent's {path} gives line B away ('{mark}'): {text}");
            }
        }
    }

    async fn an_admin_and_the_super_admin_see_every_line(app) {
        let w = world(&app).await;
        for token in [w.admin.as_str(), app.token.as_str()] {
            let t = Some(token);
            let (s, b) = app.send(Method::GET, "/api/phone-numbers", t, None).await;
            assert_eq!(s, StatusCode::OK);
            let mut n = numbers(&b);
            n.sort();
            assert_eq!(n, vec![B, A]);
            let (s, b) = app.send(Method::GET, "/api/phone-numbers/dropdown", t, None).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(b.as_array().unwrap().len(), 2, "{b}");
            let (s, b) = app.send(Method::GET, &format!("/api/phone-numbers/{}", w.b), t, None).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(b["number"], B);
            let (s, b) = app.send(Method::GET, "/api/calls", t, None).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(call_ids(&b), vec!["a1", "a2", "a3", "b1", "b2", "b3", "b4"]);
            let (s, d) = app.send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}"), t, None).await;
            assert_eq!(s, StatusCode::OK, "{d}");
            is_both(&d, "admin, no filter");
            let (s, d) = app.send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}&groupId={}", w.group), t, None).await;
            assert_eq!(s, StatusCode::OK, "{d}");
            is_both(&d, "admin, group");
            let (s, d) = app.send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}&phoneNumber={}", enc(B)), t, None).await;
            assert_eq!(s, StatusCode::OK, "{d}");
            assert_eq!(d["calls"], 4, "{d}");
            assert_eq!(d["answered"], 2, "{d}");
            assert_eq!(d["missed"], 2, "{d}");
            let (s, d) = app.send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}&phoneNumber={}", enc(A)), t, None).await;
            assert_eq!(s, StatusCode::OK, "{d}");
            is_a(&d, "admin, phoneNumber=A");
            let (s, g) = app.send(Method::GET, &format!("/api/phone-number-groups/{}", w.group), t, None).await;
            assert_eq!(s, StatusCode::OK);
            let mut ids: Vec<i64> = g["phoneNumberIds"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            ids.sort();
            let mut want = vec![w.a, w.b];
            want.sort();
            assert_eq!(ids, want, "{g}");
        }
    }

    async fn primary_current_is_404_when_the_primary_is_not_theirs(app) {
        let w = world(&app).await;
        let (s, b) = app.put(&format!("/api/phone-numbers/{}", w.b), json!({"isPrimary": true})).await;
        assert_eq!(s, StatusCode::OK, "{b}");

        for token in [&w.manager, &w.agent] {
            let (s, b) = app.send(Method::GET, "/api/phone-numbers/primary/current", Some(token), None).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
            assert_eq!(b["error"]["code"], "not_found", "{b}");
            for mark in B_MARKS {
                assert!(!b.to_string().contains(mark), "{b}");
            }
            // The dropdown neither shows B nor marks anything primary.
            let (_, d) = app.send(Method::GET, "/api/phone-numbers/dropdown", Some(token), None).await;
            assert_eq!(d, json!([{"id": w.a, "number": A, "label": "Line A", "isPrimary": false}]));
        }
        for token in [&w.admin, &app.token] {
            let (s, b) = app.send(Method::GET, "/api/phone-numbers/primary/current", Some(token), None).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(b["number"], B);
        }

        // Once A is primary, the manager sees it.
        let (s, b) = app.put(&format!("/api/phone-numbers/{}", w.a), json!({"isPrimary": true})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = app.send(Method::GET, "/api/phone-numbers/primary/current", Some(&w.manager), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["number"], A);
        assert_eq!(b["isPrimary"], true);
    }

    async fn a_manager_with_no_lines_sees_nothing(app) {
        let w = world(&app).await;
        let (_, token) = app.user("idle@example.com", "manager", &[]).await;
        let t = Some(token.as_str());
        let (s, b) = app.send(Method::GET, "/api/phone-numbers", t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b, json!([]));
        let (s, b) = app.send(Method::GET, "/api/phone-numbers/dropdown", t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b, json!([]));
        let (s, b) = app.send(Method::GET, "/api/calls", t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["items"], json!([]));
        let (s, d) = app.send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}"), t, None).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!(d["calls"], 0, "{d}");
        assert_eq!(d["uniqueCallers"], 0, "{d}");
        assert_eq!(d["topFlows"], json!([]), "{d}");
        let (s, d) = app.send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}&groupId={}", w.group), t, None).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!(d["calls"], 0, "{d}");
        let (s, b) = app.send(Method::GET, &format!("/api/phone-numbers/{}", w.a), t, None).await;
        no_line(s, &b, w.a, "A with no lines");
    }

    async fn reassigning_lines_takes_effect_on_the_next_request(app) {
        let w = world(&app).await;
        let (id, token) = app.user("mover@example.com", "manager", &[w.a]).await;
        let (s, d) = app.send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}"), Some(&token), None).await;
        assert_eq!(s, StatusCode::OK);
        is_a(&d, "before the move");

        let (s, u) = app.put(&format!("/api/users/{id}"), json!({"phoneNumberIds": [w.b]})).await;
        assert_eq!(s, StatusCode::OK, "{u}");
        assert_eq!(u["phoneNumberIds"], json!([w.b]));

        // The same token now sees B and not A.
        let (s, b) = app.send(Method::GET, "/api/phone-numbers", Some(&token), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(numbers(&b), vec![B]);
        let (s, d) = app.send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}"), Some(&token), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(d["calls"], 4, "{d}");
        let (s, b) = app.send(Method::GET, &format!("/api/phone-numbers/{}", w.a), Some(&token), None).await;
        no_line(s, &b, w.a, "A after the move");
        let (s, b) = app
            .send(Method::GET, &format!("/api/analytics/dashboard?{PERIOD}&phoneNumber={}", enc(A)), Some(&token), None)
            .await;
        forbidden(s, &b, "dashboard for A after the move");
    }
}
