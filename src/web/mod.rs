//! Server-rendered pages: login, dashboard, compare, phone
//! numbers, calls.
//!
//! HTML is rendered with `maud`; one embedded stylesheet and one small
//! script (every page works without it). Pages read through the same
//! layers as the API — [`crate::http::access`] for line access,
//! [`crate::analytics`] for every figure — and every change goes through
//! the API's own handlers, so a form is validated exactly like a JSON body.
//!
//! | module | what |
//! |---|---|
//! | `session` | the session cookie, the signed-in [`session::Viewer`], CSRF-checked forms |
//! | `layout` | the page shell, error pages, notices |
//! | `format` | numbers, durations and times for people |
//! | `selection` | the line / period / timezone choice every analytics page reads from its URL |
//! | `chart` | the calls-over-time SVG |
//! | `login`, `dashboard`, `compare`, `calls`, `numbers` | one file per page |

mod assets;
mod calls;
mod chart;
mod compare;
mod dashboard;
mod format;
mod groups;
mod layout;
mod login;
mod numbers;
mod selection;
mod session;

use axum::Router;
use axum::routing::{get, post};

use crate::http::AppState;

/// The pages' routes, merged into the main router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/compare", get(compare::page))
        .route("/calls", get(calls::page))
        .route("/calls.csv", get(calls::csv))
        .route("/phone-numbers", get(numbers::page).post(numbers::add))
        .route("/phone-numbers/discover", post(numbers::discover))
        .route("/phone-numbers/{id}", post(numbers::update))
        .route("/phone-numbers/{id}/edit", get(numbers::edit_form))
        .route("/phone-numbers/{id}/primary", post(numbers::set_primary))
        .route("/phone-numbers/{id}/active", post(numbers::set_active))
        .route(
            "/phone-numbers/{id}/delete",
            get(numbers::delete_confirm).post(numbers::delete),
        )
        .route("/groups", post(groups::create_group))
        .route("/groups/{id}/members", post(groups::add_member))
        .route(
            "/groups/{id}/members/{line}/remove",
            post(groups::remove_member),
        )
        .route("/groups/{id}/delete", post(groups::delete_group))
        .route("/assets/style.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
}
