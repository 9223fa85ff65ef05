//! Every route on one screen.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};
use tower_http::trace::TraceLayer;

use super::api::{
    analytics, auth, calls, groups, health, import, ingest_keys, phone_numbers, users, webhooks,
};
use super::error::ApiError;
use super::extract::BodyLimit;
use super::{AppState, BATCH_BODY_LIMIT, BODY_LIMIT};

pub fn router(state: AppState) -> Router {
    let batch = Router::new()
        .route("/api/calls", post(calls::create).get(calls::list))
        .route("/api/import", post(import::upload))
        .layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT))
        .layer(axum::Extension(BodyLimit(BATCH_BODY_LIMIT)));

    let api = Router::new()
        .route("/api/health", get(health::health))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/me", get(auth::me))
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
            get(webhooks::exotel).post(webhooks::exotel),
        )
        .route("/api/webhooks/twilio", post(webhooks::twilio))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(batch);

    api.merge(crate::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // The path only: query strings can carry phone numbers.
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
