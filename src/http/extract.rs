//! Request extractors: JSON bodies and query strings read into our error
//! shape, and the signed-in user with proofs of what they may do.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::domain::Role;
use crate::store::StoreError;

/// A JSON body: malformed JSON is 400; a well-formed body of the wrong shape
/// (wrong type, unknown or missing field) is 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Reads a whole body within the route's size limit.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map(|l| l.0)
        .unwrap_or(super::BODY_LIMIT);
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(limit)
        } else {
            ApiError::BadRequest(
                "the request body was cut off, or stopped arriving for too long".into(),
            )
        }
    })
}

/// The body limit a route runs under, for error messages.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Parses JSON into `T`, naming the path of a bad field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    if let Some(field) = nul_path(&value, String::new()) {
        return Err(nul(field));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = if path == "." {
            unknown_field(&inner).unwrap_or_default()
        } else {
            path
        };
        ApiError::invalid(field, inner)
    })
}

/// U+0000 is refused in every text a client sends: PostgreSQL cannot store
/// it, and both engines must answer alike.
fn nul(field: String) -> ApiError {
    ApiError::invalid(field, "must not contain a NUL character (\\u0000)")
}

/// The path (`data.friendlyName`, `[2].flowName`) of the first key or string
/// in `v` that holds U+0000.
fn nul_path(v: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(here)
            } else {
                nul_path(item, here)
            }
        }),
        _ => None,
    }
}

/// Refuses decoded `key=value` pairs (a query string, a form) holding U+0000,
/// naming the key.
pub fn refuse_nul(pairs: &[(String, String)]) -> Result<(), ApiError> {
    match pairs
        .iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        Some((k, _)) => Err(nul(k.clone())),
        None => Ok(()),
    }
}

fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.split("field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// The decoded `key=value` pairs of the query string, in order.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        refuse_nul(&pairs)?;
        Ok(QueryPairs(pairs))
    }
}

impl QueryPairs {
    /// Refuses any parameter not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        for (k, v) in &self.0 {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::invalid(
                    k.clone(),
                    format!(
                        "unknown query parameter '{k}={v}' (known: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A numeric id from the path.
pub fn path_id(field: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::NotFound(format!("no {field} has id '{raw}'")))
}

/// The signed-in user, loaded fresh on every request so that a deactivated
/// user or a changed role takes effect at once.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// The lines a manager or agent is assigned.
    pub phone_number_ids: Vec<i64>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Why a token names no signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Bad signature, expired, malformed.
    Invalid,
    /// The user was deactivated or deleted.
    Inactive,
    /// Issued before the user's password changed or they were deactivated.
    Revoked,
    /// Its session was signed out.
    SignedOut,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Invalid => "the token is invalid or expired",
            Refusal::Inactive => "the token's user is no longer active",
            Refusal::Revoked => "the token was revoked; sign in again",
            Refusal::SignedOut => "the session was signed out; sign in again",
        }
    }
}

/// The user a token (API bearer or page session) names: only when it is
/// valid, not signed out, the user active, and its token version current.
/// The user comes from the store, or from its cache when on, which every
/// write to users, lines, groups or sign-outs empties (on every node), so
/// a revocation bites at once.
pub async fn authenticate(
    state: &AppState,
    token: &str,
) -> Result<Result<AuthUser, Refusal>, StoreError> {
    let Some(subject) = state.keys.verify(token) else {
        return Ok(Err(Refusal::Invalid));
    };
    let user = match state.store.get_user(subject.user_id).await {
        Ok(u) if u.is_active => u,
        Ok(_) | Err(StoreError::NotFound) => return Ok(Err(Refusal::Inactive)),
        Err(e) => return Err(e),
    };
    if user.token_version != subject.version {
        return Ok(Err(Refusal::Revoked));
    }
    if state
        .store
        .token_revoked(&crate::auth::token_fingerprint(token))
        .await?
    {
        return Ok(Err(Refusal::SignedOut));
    }
    Ok(Ok(AuthUser {
        id: user.id,
        email: user.email,
        role: user.role,
        phone_number_ids: user.phone_number_ids,
    }))
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(u) = parts.extensions.get::<AuthUser>() {
            return Ok(u.clone());
        }
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::Unauthorized("an Authorization: Bearer token is required".into())
        })?;
        let u = authenticate(state, token)
            .await?
            .map_err(|r| ApiError::Unauthorized(r.message().into()))?;
        parts.extensions.insert(u.clone());
        Ok(u)
    }
}

/// Proof that the user may change lines, groups and calls (super_admin or
/// admin). Made only by [`Admin::check`], so holding one means the check
/// was done.
#[derive(Debug, Clone)]
pub struct Admin(AuthUser);

impl Admin {
    /// The proof for `user`, or 403 naming the role it needs.
    pub fn check(user: AuthUser) -> Result<Admin, ApiError> {
        if !user.role.can_manage_lines() {
            return Err(ApiError::Forbidden(format!(
                "the {} role cannot make this change; it needs admin or super_admin",
                user.role
            )));
        }
        Ok(Admin(user))
    }

    pub fn user(&self) -> &AuthUser {
        &self.0
    }

    pub fn into_user(self) -> AuthUser {
        self.0
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Admin::check(AuthUser::from_request_parts(parts, state).await?)
    }
}

/// Proof that the user may manage users (super_admin). Made only by
/// [`SuperAdmin::check`].
#[derive(Debug, Clone)]
pub struct SuperAdmin(AuthUser);

impl SuperAdmin {
    /// The proof for `user`, or 403 naming the role it needs.
    pub fn check(user: AuthUser) -> Result<SuperAdmin, ApiError> {
        if !user.role.can_manage_users() {
            return Err(ApiError::Forbidden(format!(
                "the {} role cannot manage users; it needs super_admin",
                user.role
            )));
        }
        Ok(SuperAdmin(user))
    }

    pub fn user(&self) -> &AuthUser {
        &self.0
    }

    pub fn into_user(self) -> AuthUser {
        self.0
    }
}

impl FromRequestParts<AppState> for SuperAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        SuperAdmin::check(AuthUser::from_request_parts(parts, state).await?)
    }
}

/// Signs a token out: it is refused from now on, on every node. A token
/// that is not valid anyway needs nothing.
pub async fn sign_out(state: &AppState, token: &str) -> Result<(), StoreError> {
    match state.keys.verify(token) {
        Some(subject) => {
            state
                .store
                .revoke_token(&crate::auth::token_fingerprint(token), subject.expires_at)
                .await
        }
        None => Ok(()),
    }
}

/// The bearer token of a request, if it carries one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers)
}
