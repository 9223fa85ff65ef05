//! `POST /api/auth/login`, `GET /api/auth/me`, and the failed-login limiter.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::UserView;
use crate::auth::QueueFull;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, AuthUser};
use crate::http::openapi as doc;

/// Failed sign-ins one address may make at one account before it must wait.
pub const MAX_FAILURES_PER_ACCOUNT: u32 = 10;
/// Failed sign-ins one address may make at any accounts in a window.
pub const MAX_FAILURES_PER_CLIENT: u32 = 50;
/// Failed sign-ins at one account from addresses it has never signed in
/// from, in a window, before such addresses must wait too.
pub const MAX_FAILURES_PER_ACCOUNT_FROM_NEW_ADDRESSES: u32 = 100;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest an address waits for one account after its failures (the
/// wait doubles at each lockout: 15 min, 30 min, 1 h, … up to this).
pub const LONGEST_LOCKOUT: Duration = Duration::from_secs(24 * 3600);
/// How long an address an account signed in from is remembered.
const KNOWN_ADDRESS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Limits failed sign-ins, as OWASP's authentication guidance asks,
/// without letting an attacker lock the owner out:
///
/// - per account *and* address: ten failures, then that address waits
///   15 minutes for that account, twice as long at each further lockout;
/// - per address: fifty failures over any accounts in 15 minutes;
/// - per account from addresses it never signed in from: a hundred in 15
///   minutes (a guesser spread over many addresses); an address the
///   account signed in from in the last 30 days is not held by this one.
///
/// An attempt is counted before the password is checked, so parallel
/// guesses cannot slip past a limit; a success clears its account and
/// address's count and gives the address's back.
#[derive(Clone, Default)]
pub struct LoginLimiter {
    state: Arc<Mutex<Limits>>,
}

#[derive(Default)]
struct Limits {
    /// By (account, address).
    pairs: HashMap<(String, IpAddr), Backoff>,
    /// By address, and by account for unknown addresses.
    windows: HashMap<String, (u32, Instant)>,
    /// (account, address) pairs that signed in, and when.
    known: HashMap<(String, IpAddr), Instant>,
}

/// Failures of one address at one account, and its lockouts so far.
struct Backoff {
    failures: u32,
    first: Instant,
    lockouts: u32,
    locked_until: Option<Instant>,
}

impl LoginLimiter {
    /// Counts an attempt at `account` from `address`, or refuses it with the
    /// seconds to wait.
    pub fn attempt(&self, account: &str, address: IpAddr, now: Instant) -> Result<(), ApiError> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.forget_old(now);
        let client = format!("client:{address}");
        window_check(&s.windows, &client, MAX_FAILURES_PER_CLIENT, now)?;
        let key = (account.to_string(), address);
        let known = s.knows(&key, now);
        let spread = format!("account:{account}");
        if !known {
            window_check(
                &s.windows,
                &spread,
                MAX_FAILURES_PER_ACCOUNT_FROM_NEW_ADDRESSES,
                now,
            )?;
        }
        let pair = s.pairs.entry(key).or_insert(Backoff {
            failures: 0,
            first: now,
            lockouts: 0,
            locked_until: None,
        });
        if let Some(until) = pair.locked_until {
            if until > now {
                return Err(rate_limited(until - now));
            }
            pair.locked_until = None;
            pair.failures = 0;
            pair.first = now;
        }
        if now.duration_since(pair.first) >= FAILURE_WINDOW {
            pair.failures = 0;
            pair.first = now;
        }
        if pair.failures >= MAX_FAILURES_PER_ACCOUNT {
            let wait = FAILURE_WINDOW
                .saturating_mul(1 << pair.lockouts.min(16))
                .min(LONGEST_LOCKOUT);
            pair.lockouts += 1;
            pair.locked_until = Some(now + wait);
            return Err(rate_limited(wait));
        }
        pair.failures += 1;
        window_count(&mut s.windows, client, now);
        if !known {
            window_count(&mut s.windows, spread, now);
        }
        Ok(())
    }

    /// After a success: the pair starts afresh and is remembered, and the
    /// attempt is given back to the address and the account.
    pub fn succeeded(&self, account: &str, address: IpAddr, now: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = (account.to_string(), address);
        s.pairs.remove(&key);
        let was_known = s.known.insert(key, now).is_some();
        refund(&mut s.windows, &format!("client:{address}"));
        if !was_known {
            refund(&mut s.windows, &format!("account:{account}"));
        }
    }

    /// Whether the account signed in from this address in the last 30 days.
    pub fn is_known(&self, account: &str, address: IpAddr, now: Instant) -> bool {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.knows(&(account.to_string(), address), now)
    }

    /// Gives back an attempt whose password was never checked (the check
    /// queue was full, the database was down).
    pub fn not_checked(&self, account: &str, address: IpAddr) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = (account.to_string(), address);
        if let Some(pair) = s.pairs.get_mut(&key) {
            pair.failures = pair.failures.saturating_sub(1);
        }
        refund(&mut s.windows, &format!("client:{address}"));
        if !s.known.contains_key(&key) {
            refund(&mut s.windows, &format!("account:{account}"));
        }
    }
}

impl Limits {
    fn knows(&self, key: &(String, IpAddr), now: Instant) -> bool {
        self.known
            .get(key)
            .is_some_and(|at| now.duration_since(*at) < KNOWN_ADDRESS_TTL)
    }

    /// Bounds memory: drops what no longer limits anything once the maps
    /// grow large.
    fn forget_old(&mut self, now: Instant) {
        if self.windows.len() + self.pairs.len() > 100_000 {
            self.windows
                .retain(|_, (_, first)| now.duration_since(*first) < FAILURE_WINDOW);
            self.pairs.retain(|_, b| {
                b.locked_until.is_some_and(|u| u > now)
                    || now.duration_since(b.first) < FAILURE_WINDOW
            });
        }
        if self.known.len() > 100_000 {
            self.known
                .retain(|_, at| now.duration_since(*at) < KNOWN_ADDRESS_TTL);
        }
    }
}

fn window_check(
    windows: &HashMap<String, (u32, Instant)>,
    key: &str,
    max: u32,
    now: Instant,
) -> Result<(), ApiError> {
    match windows.get(key) {
        Some((n, first)) if *n >= max && now.duration_since(*first) < FAILURE_WINDOW => Err(
            rate_limited(FAILURE_WINDOW.saturating_sub(now.duration_since(*first))),
        ),
        _ => Ok(()),
    }
}

fn window_count(windows: &mut HashMap<String, (u32, Instant)>, key: String, now: Instant) {
    let e = windows.entry(key).or_insert((0, now));
    if now.duration_since(e.1) >= FAILURE_WINDOW {
        *e = (0, now);
    }
    e.0 += 1;
}

fn refund(windows: &mut HashMap<String, (u32, Instant)>, key: &str) {
    if let Some(e) = windows.get_mut(key) {
        e.0 = e.0.saturating_sub(1);
    }
}

fn rate_limited(wait: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after: wait.as_secs().max(1),
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
        (status = 429, response = doc::RateLimited),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<LoginView>> {
    let email = body.email.trim().to_lowercase();
    let address = peer.ip();
    state
        .login_limiter
        .attempt(&email, address, Instant::now())?;
    let user = match state.store.find_user_by_email(&email).await {
        Ok(u) => u,
        Err(e) => {
            state.login_limiter.not_checked(&email, address);
            return Err(e.into());
        }
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let trusted = state
        .login_limiter
        .is_known(&email, address, Instant::now());
    let ok = match state
        .password_checks
        .verify(trusted, body.password, hash)
        .await
    {
        Ok(ok) => ok,
        Err(QueueFull) => {
            state.login_limiter.not_checked(&email, address);
            return Err(ApiError::Busy {
                message: "too many sign-ins are being checked right now; try again in a moment"
                    .into(),
                retry_after: 1,
            });
        }
    };
    let user = match user {
        Some(u) if ok && u.is_active => u,
        _ => return Err(ApiError::Unauthorized("wrong email or password".into())),
    };
    state
        .login_limiter
        .succeeded(&email, address, Instant::now());
    let (token, expires_at) = state.keys.issue(user.id, user.token_version);
    Ok(Json(LoginView {
        access_token: token,
        token_type: "Bearer",
        expires_at: expires_at.to_string(),
        user: UserView::from(user),
    }))
}

/// Ends the session of the Bearer token sent: it is refused from now on
/// (on every node), whether sent as a Bearer token or as the page cookie.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        doc::SignedIn,
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    _: AuthUser,
    headers: axum::http::HeaderMap,
) -> ApiResult<axum::http::StatusCode> {
    if let Some(token) = crate::http::extract::bearer_token(&headers) {
        crate::http::extract::sign_out(&state, token).await?;
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "The signed-in user", body = UserView),
        doc::SignedIn,
    )
)]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<UserView>> {
    Ok(Json(state.store.get_user(user.id).await?.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn retry_after(r: Result<(), ApiError>) -> u64 {
        match r {
            Err(ApiError::RateLimited { retry_after }) => retry_after,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_attacker_at_one_address_does_not_lock_the_owner_out_at_another() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        let (attacker, owner) = (ip("203.0.113.9"), ip("198.51.100.7"));
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            limiter.attempt("owner@x", attacker, t0).unwrap();
        }
        assert_eq!(
            retry_after(limiter.attempt("owner@x", attacker, t0)),
            15 * 60
        );
        // The owner, elsewhere, is not held.
        limiter.attempt("owner@x", owner, t0).unwrap();
        limiter.succeeded("owner@x", owner, t0);
        // The lockout ends; the next one lasts twice as long.
        let later = t0 + FAILURE_WINDOW;
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            limiter.attempt("owner@x", attacker, later).unwrap();
        }
        assert_eq!(
            retry_after(limiter.attempt("owner@x", attacker, later)),
            30 * 60
        );
        assert_eq!(
            retry_after(limiter.attempt("owner@x", attacker, later + FAILURE_WINDOW)),
            15 * 60,
            "still locked halfway through the longer lockout"
        );
    }

    #[test]
    fn guesses_spread_over_many_addresses_hold_new_addresses_only() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        let home = ip("198.51.100.7");
        limiter.attempt("owner@x", home, t0).unwrap();
        limiter.succeeded("owner@x", home, t0);
        let per = MAX_FAILURES_PER_ACCOUNT;
        let addresses = MAX_FAILURES_PER_ACCOUNT_FROM_NEW_ADDRESSES / per;
        for a in 0..addresses {
            let from = ip(&format!("203.0.113.{a}"));
            for _ in 0..per {
                limiter.attempt("owner@x", from, t0).unwrap();
            }
        }
        assert!(retry_after(limiter.attempt("owner@x", ip("192.0.2.1"), t0)) >= 1);
        limiter.attempt("owner@x", home, t0).unwrap();
        // Other accounts are not held.
        limiter.attempt("other@x", ip("192.0.2.1"), t0).unwrap();
    }

    #[test]
    fn a_success_clears_the_count_and_an_unchecked_attempt_is_given_back() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        let a = ip("198.51.100.7");
        for _ in 0..MAX_FAILURES_PER_ACCOUNT - 1 {
            limiter.attempt("u@x", a, t0).unwrap();
        }
        limiter.succeeded("u@x", a, t0);
        for _ in 0..MAX_FAILURES_PER_ACCOUNT - 1 {
            limiter.attempt("u@x", a, t0).unwrap();
        }
        limiter.attempt("u@x", a, t0).unwrap();
        limiter.not_checked("u@x", a);
        limiter.attempt("u@x", a, t0).unwrap();
        assert!(retry_after(limiter.attempt("u@x", a, t0)) > 0);
    }
}
