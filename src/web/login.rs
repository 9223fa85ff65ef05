//! `/login` and `/logout`.
//!
//! Signing in goes through the API's own login handler, so a page login
//! and an API login share one failed-login limiter and one password check.
//! The login form itself is protected by a double-submit token: a random
//! value in a SameSite=Strict cookie that the form must echo.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::layout::{PageError, bare, notice};
use super::session::{
    COOKIE, FORM_LIMIT, Form, Posted, authenticate, cookie, safe_next, set_cookie,
};
use crate::http::AppState;
use crate::http::api::auth::{LoginBody, login};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, QueryPairs};

/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "lw_login";

fn login_page(next: &str, token: &str, email: &str, error: Option<&str>) -> Markup {
    bare(
        "Sign in",
        html! {
            section.card.login-card {
                h1 { "Sign in" }
                p.muted { "Call analytics for every one of your lines." }
                @if let Some(e) = error { (notice("error", e)) }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="token" value=(token);
                    div.field {
                        label for="email" { "Email" }
                        input type="email" id="email" name="email" value=(email)
                            autocomplete="username" required autofocus[email.is_empty()];
                    }
                    div.field {
                        label for="password" { "Password" }
                        input type="password" id="password" name="password"
                            autocomplete="current-password" required autofocus[!email.is_empty()];
                    }
                    button.btn.btn-primary.btn-block type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// Renders the form with a fresh double-submit token, in answer to a
/// request with headers `request`.
fn render(
    state: &AppState,
    request: &HeaderMap,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let token = crate::auth::random_token(32);
    let mut res = (status, login_page(next, &token, email, error)).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, Some(request), LOGIN_COOKIE, &token, "/login", 3600),
    );
    res
}

/// `GET /login?next=/path`: the form, or straight on when already signed in.
pub async fn form(State(state): State<AppState>, q: QueryPairs, req: Request) -> Response {
    let next = safe_next(q.get("next"));
    if let Some(t) = cookie(req.headers(), COOKIE)
        && let Ok(Some(_)) = authenticate(&state, &t).await
    {
        return Redirect::to(&next).into_response();
    }
    render(&state, req.headers(), StatusCode::OK, &next, "", None)
}

/// `POST /login`: checks the password through the API's login; on success
/// sets the session cookie and goes to `next`.
pub async fn submit(State(state): State<AppState>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let expected = cookie(req.headers(), LOGIN_COOKIE).unwrap_or_default();
    let headers = req.headers().clone();
    let bytes = match axum::body::to_bytes(req.into_body(), FORM_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "That form is too large", "")
                .into_response();
        }
    };
    let form = Form::parse(&bytes);
    let next = safe_next(form.get("next"));
    let email = form.text("email");
    let given = form.get("token").unwrap_or("");
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return render(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            &next,
            &email,
            Some("The sign-in form expired. Please sign in again."),
        );
    }
    let body: LoginBody = match serde_json::from_value(
        json!({"email": email, "password": form.get("password").unwrap_or("")}),
    ) {
        Ok(b) => b,
        Err(_) => {
            return render(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                &next,
                &email,
                None,
            );
        }
    };
    match login(State(state.clone()), ConnectInfo(peer), ApiJson(body)).await {
        Ok(axum::Json(v)) => {
            let token = v.access_token.as_str();
            let max_age = v
                .expires_at
                .parse::<jiff::Timestamp>()
                .ok()
                .map(|t| t.as_second() - jiff::Timestamp::now().as_second())
                .unwrap_or(3600);
            let mut res = Redirect::to(&next).into_response();
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&state, Some(&headers), COOKIE, token, "/", max_age),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(&state, Some(&headers), LOGIN_COOKIE, "", "/login", 0),
            );
            res
        }
        Err(ApiError::Unauthorized(_)) => render(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            &next,
            &email,
            Some("Wrong email or password."),
        ),
        Err(ApiError::RateLimited { retry_after }) => render(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            &email,
            Some(&format!(
                "Too many failed sign-ins. Try again in {} minute(s).",
                retry_after.div_ceil(60)
            )),
        ),
        Err(ApiError::Busy { .. }) => render(
            &state,
            &headers,
            StatusCode::SERVICE_UNAVAILABLE,
            &next,
            &email,
            Some("Many sign-ins are being checked right now. Try again in a moment."),
        ),
        Err(ApiError::Invalid(_)) => render(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            &next,
            &email,
            Some("Enter your email and password."),
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// `POST /logout`: ends the session on the server (its token is refused
/// from now on, as a cookie or a Bearer token, on every node) and clears
/// the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, _: Posted) -> Response {
    if let Some(token) = cookie(&headers, COOKIE)
        && let Err(e) = crate::http::extract::sign_out(&state, &token).await
    {
        return PageError::from(e).into_response();
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, Some(&headers), COOKIE, "", "/", 0),
    );
    res
}
