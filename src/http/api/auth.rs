//! `POST /api/auth/login`, `GET /api/auth/me`, and the failed-login limiter.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::users::UserView;
use crate::auth::verify_password_blocking;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, AuthUser};

/// Failed logins allowed per account, and per client address, in a window.
pub const MAX_FAILURES_PER_ACCOUNT: u32 = 10;
pub const MAX_FAILURES_PER_CLIENT: u32 = 50;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts failed logins per account and per client address; past the limit
/// a login is refused with 429 until the window since the first failure ends.
#[derive(Clone)]
pub struct LoginLimiter {
    failures: moka::sync::Cache<String, (u32, Instant)>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            failures: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(FAILURE_WINDOW)
                .build(),
        }
    }
}

impl LoginLimiter {
    fn check(&self, key: &str, max: u32) -> Result<(), ApiError> {
        if let Some((n, first)) = self.failures.get(key)
            && n >= max
        {
            let left = FAILURE_WINDOW
                .saturating_sub(first.elapsed())
                .as_secs()
                .max(1);
            return Err(ApiError::RateLimited { retry_after: left });
        }
        Ok(())
    }

    fn fail(&self, key: String) {
        let next = match self.failures.get(&key) {
            Some((n, first)) => (n + 1, first),
            None => (1, Instant::now()),
        };
        self.failures.insert(key, next);
    }

    fn clear(&self, key: &str) {
        self.failures.invalidate(key);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<Value>> {
    let email = body.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    let client_key = format!("client:{}", peer.ip());
    state
        .login_limiter
        .check(&account_key, MAX_FAILURES_PER_ACCOUNT)?;
    state
        .login_limiter
        .check(&client_key, MAX_FAILURES_PER_CLIENT)?;

    let user = state.store.find_user_by_email(&email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = verify_password_blocking(body.password, hash).await;
    let user = match user {
        Some(u) if ok && u.is_active => u,
        _ => {
            state.login_limiter.fail(account_key);
            state.login_limiter.fail(client_key);
            return Err(ApiError::Unauthorized("wrong email or password".into()));
        }
    };
    state.login_limiter.clear(&account_key);
    let (token, expires_at) = state.keys.issue(user.id);
    Ok(Json(json!({
        "accessToken": token,
        "tokenType": "Bearer",
        "expiresAt": expires_at.to_string(),
        "user": UserView::from(user),
    })))
}

pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<UserView>> {
    Ok(Json(state.store.get_user(user.id).await?.into()))
}
