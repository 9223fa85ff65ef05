//! Server-rendered pages (SPEC §4): login, dashboard, compare, phone
//! numbers, calls. Being written.

use axum::Router;

use crate::http::AppState;

/// The pages' routes, merged into the main router.
pub fn router() -> Router<AppState> {
    Router::new()
}
