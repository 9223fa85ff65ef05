//! One log line and one metrics sample per request.
//!
//! The line names the request id, the method, the *matched route*
//! (`/api/phone-numbers/{id}`, never the raw path), the status and the
//! latency; the query string is never logged, since it can carry phone
//! numbers and webhook tokens. The request id is made here (a client's
//! `X-Request-Id` is not trusted into the logs) and returned in
//! `X-Request-Id`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::AppState;

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "(unmatched)";

pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = crate::auth::random_token(16);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED.to_string());
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut res = next.run(req).instrument(span).await;
    let latency = started.elapsed();
    let status = res.status().as_u16();
    state
        .metrics
        .request(&route, method.as_str(), status, latency);
    tracing::info!(
        target: "linewise::request",
        request_id = %id,
        method = %method,
        route = %route,
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}
