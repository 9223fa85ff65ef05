//! Every route on one screen.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{delete, get, patch, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use super::api::{
    analytics, audit, auth, calls, groups, health, import, ingest_keys, phone_numbers, users,
    webhooks,
};
use super::error::ApiError;
use super::extract::BodyLimit;
use super::{AppState, BATCH_BODY_LIMIT, BODY_LIMIT, metrics, openapi, telemetry};

/// The pages load only their own stylesheet, script and images (and the
/// inline SVG favicon); no page may be framed, and forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

pub fn router(state: AppState) -> Router {
    let batch = Router::new()
        .route("/api/calls", post(calls::create).get(calls::list))
        .route("/api/import", post(import::upload))
        .layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT))
        .layer(axum::Extension(BodyLimit(BATCH_BODY_LIMIT)));

    let api = Router::new()
        .route("/api/health", get(health::health))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/me", get(auth::me))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/users", get(users::list).post(users::create))
        .route(
            "/api/users/{id}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route(
            "/api/phone-numbers",
            get(phone_numbers::list).post(phone_numbers::upsert),
        )
        .route("/api/phone-numbers/dropdown", get(phone_numbers::dropdown))
        .route("/api/phone-numbers/discover", post(phone_numbers::discover))
        .route(
            "/api/phone-numbers/primary/current",
            get(phone_numbers::primary),
        )
        .route("/api/phone-numbers/bulk", patch(phone_numbers::bulk))
        .route(
            "/api/phone-numbers/{id}",
            get(phone_numbers::get)
                .put(phone_numbers::update)
                .delete(phone_numbers::delete),
        )
        .route(
            "/api/phone-number-groups",
            get(groups::list).post(groups::create),
        )
        .route(
            "/api/phone-number-groups/{id}",
            get(groups::get).put(groups::update).delete(groups::delete),
        )
        .route(
            "/api/phone-number-groups/{id}/members",
            post(groups::add_members),
        )
        .route(
            "/api/phone-number-groups/{id}/members/{phone_number_id}",
            delete(groups::remove_member),
        )
        .route("/api/analytics/dashboard", get(analytics::dashboard))
        .route("/api/analytics/timeseries", get(analytics::timeseries))
        .route("/api/analytics/breakdown", get(analytics::breakdown))
        .route("/api/analytics/compare", get(analytics::compare))
        .route("/api/analytics/export.csv", get(analytics::export))
        .route(
            "/api/ingest-keys",
            get(ingest_keys::list).post(ingest_keys::create),
        )
        .route("/api/ingest-keys/{id}", delete(ingest_keys::revoke))
        .route(
            "/api/webhooks/exotel",
            get(webhooks::exotel_passthru).post(webhooks::exotel_status),
        )
        .route("/api/webhooks/twilio", post(webhooks::twilio))
        .route("/api/audit", get(audit::list))
        .route("/metrics", get(metrics::scrape))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(batch);
    let io_timeout = state.connection_limits.io_timeout;

    let mut app = api
        .merge(crate::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    for (name, value) in security_headers() {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    if let Some(cors) = cors(&state.cors_origins) {
        app = app.layer(cors);
    }
    // A request body that sends nothing for this long ends its request.
    app = app.layer(RequestBodyTimeoutLayer::new(io_timeout));
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        telemetry::observe,
    ))
    .with_state(state)
}

/// Sent on every response, pages and API alike.
fn security_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// Cross-origin reads: none unless `LINEWISE_CORS_ORIGINS` names origins,
/// and then only those, with a Bearer token (never cookies).
fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
