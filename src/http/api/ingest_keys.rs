//! `/api/ingest-keys`: keys for providers and scripts that send calls.
//!
//! A key is shown once, when made; only its SHA-256 is kept. It authorises
//! `POST /api/calls` (as a Bearer token) and the Exotel webhook (`?token=`),
//! nothing else.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::auth::random_token;
use crate::http::AppState;
use crate::http::audit;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Admin, ApiJson, path_id};
use crate::http::openapi as doc;
use crate::store::{IngestKeyRow, StoreError};

/// Every ingest key starts with this, so it is never mistaken for a JWT.
pub const KEY_PREFIX: &str = "lwk_";

/// The stored form of a key.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `key` is a live ingest key.
pub async fn check_key(state: &AppState, key: Option<&str>) -> ApiResult<IngestKeyRow> {
    let key = key
        .filter(|k| k.starts_with(KEY_PREFIX) && k.len() < 200)
        .ok_or_else(|| ApiError::Unauthorized("a valid ingest key is required".into()))?;
    state
        .store
        .find_ingest_key(&hash_key(key))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the ingest key is wrong or revoked".into()))
}

/// A key as lists show it: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    id: i64,
    name: String,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    /// The user who made it.
    created_by: Option<i64>,
    created_at: String,
    revoked_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    items: Vec<KeyView>,
}

/// A new key: the only answer that shows `key`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    id: i64,
    name: String,
    /// The key; only its SHA-256 is kept.
    key: String,
    prefix: String,
    created_at: String,
}

/// The `{id}` of a key in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyId {
    /// The key's id.
    #[param(minimum = 1)]
    pub id: i64,
}

impl From<IngestKeyRow> for KeyView {
    fn from(k: IngestKeyRow) -> Self {
        KeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_by: k.created_by,
            created_at: k.created_at.to_string(),
            revoked_at: k.revoked_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 100 characters.
    name: String,
}

/// `POST /api/ingest-keys {name}` → 201 `{id, name, key, prefix, createdAt}`.
#[utoipa::path(
    post,
    path = "/api/ingest-keys",
    tag = "ingest-keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The new key, shown this once", body = NewKey),
        (status = 403, response = doc::Forbidden),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<NewKey>)> {
    let user = admin.into_user();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid(
            "name",
            format!("'{}' must be 1 to 100 characters", body.name),
        ));
    }
    let key = format!("{KEY_PREFIX}{}", random_token(40));
    let prefix: String = key.chars().take(KEY_PREFIX.len() + 6).collect();
    let row = state
        .store
        .create_ingest_key(
            name,
            &hash_key(&key),
            &prefix,
            Some(user.id),
            audit::by(&user),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKey {
            id: row.id,
            name: row.name,
            key,
            prefix: row.prefix,
            created_at: row.created_at.to_string(),
        }),
    ))
}

/// `GET /api/ingest-keys`: every key, revoked ones too, never the key itself.
#[utoipa::path(
    get,
    path = "/api/ingest-keys",
    tag = "ingest-keys",
    responses(
        (status = 200, description = "Every key, revoked ones too", body = KeyList),
        (status = 403, response = doc::Forbidden),
        doc::SignedIn,
    )
)]
pub async fn list(State(state): State<AppState>, _: Admin) -> ApiResult<Json<KeyList>> {
    let items: Vec<KeyView> = state
        .store
        .list_ingest_keys()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(KeyList { items }))
}

/// `DELETE /api/ingest-keys/:id`: revokes the key at once.
#[utoipa::path(
    delete,
    path = "/api/ingest-keys/{id}",
    tag = "ingest-keys",
    params(KeyId),
    responses(
        (status = 200, description = "The revoked key (revoking twice changes nothing)", body = KeyView),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        doc::SignedIn,
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<KeyView>> {
    let actor = admin.into_user();
    let id = path_id("ingest key", &id)?;
    let row = state
        .store
        .revoke_ingest_key(id, audit::by(&actor))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound(format!("no ingest key has id {id}")),
            other => other.into(),
        })?;
    Ok(Json(KeyView::from(row)))
}
