//! `POST /api/auth/login`, `GET /api/auth/me`, and the failed-login limiter.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::UserView;
use crate::auth::verify_password_blocking;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, AuthUser};
use crate::http::openapi as doc;

/// Failed logins allowed per account, and per client address, in a window.
pub const MAX_FAILURES_PER_ACCOUNT: u32 = 10;
pub const MAX_FAILURES_PER_CLIENT: u32 = 50;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts login attempts per account and per client address in a window
/// that starts at the first attempt. An attempt is counted before the
/// password is checked (so parallel guesses cannot slip past the limit);
/// a successful login clears the account's count and refunds the client's.
#[derive(Clone, Default)]
pub struct LoginLimiter {
    attempts: Arc<Mutex<HashMap<String, (u32, Instant)>>>,
}

impl LoginLimiter {
    /// Counts an attempt, or refuses it with the seconds until the window ends.
    fn attempt(&self, key: &str, max: u32) -> Result<(), ApiError> {
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, first)| first.elapsed() < FAILURE_WINDOW);
        }
        let now = Instant::now();
        let entry = map.entry(key.to_string()).or_insert((0, now));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, now);
        }
        if entry.0 >= max {
            let left = FAILURE_WINDOW
                .saturating_sub(entry.1.elapsed())
                .as_secs()
                .max(1);
            return Err(ApiError::RateLimited { retry_after: left });
        }
        entry.0 += 1;
        Ok(())
    }

    fn clear(&self, key: &str) {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    fn refund(&self, key: &str) {
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(key) {
            e.0 = e.0.saturating_sub(1);
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// A signed-in session: the token to send as `Authorization: Bearer`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginView {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// When the token stops working (RFC 3339).
    pub expires_at: String,
    pub user: UserView,
}

/// Failed attempts are limited per account and per client address.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    security(()),
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = LoginView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::Invalid),
        (status = 429, response = doc::RateLimited),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<LoginView>> {
    let email = body.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    let client_key = format!("client:{}", peer.ip());
    state
        .login_limiter
        .attempt(&client_key, MAX_FAILURES_PER_CLIENT)?;
    if let Err(e) = state
        .login_limiter
        .attempt(&account_key, MAX_FAILURES_PER_ACCOUNT)
    {
        state.login_limiter.refund(&client_key);
        return Err(e);
    }

    let user = state.store.find_user_by_email(&email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = verify_password_blocking(body.password, hash).await;
    let user = match user {
        Some(u) if ok && u.is_active => u,
        _ => return Err(ApiError::Unauthorized("wrong email or password".into())),
    };
    state.login_limiter.clear(&account_key);
    state.login_limiter.refund(&client_key);
    let (token, expires_at) = state.keys.issue(user.id, user.token_version);
    Ok(Json(LoginView {
        access_token: token,
        token_type: "Bearer",
        expires_at: expires_at.to_string(),
        user: UserView::from(user),
    }))
}

#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "The signed-in user", body = UserView),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<UserView>> {
    Ok(Json(state.store.get_user(user.id).await?.into()))
}
