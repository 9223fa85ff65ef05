//! `/api/users`: super_admin only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{MIN_PASSWORD_LEN, hash_password_blocking};
use crate::domain::{Invalid, Role};
use crate::http::AppState;
use crate::http::audit;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, SuperAdmin, path_id};
use crate::http::openapi as doc;
use crate::store::{UserChanges, UserRow};

/// A user as the API shows one (never the hash).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    pub phone_number_ids: Vec<i64>,
    pub created_at: String,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            role: u.role,
            is_active: u.is_active,
            phone_number_ids: u.phone_number_ids,
            created_at: u.created_at.to_string(),
        }
    }
}

/// Checks an email address enough to catch typos and junk.
pub fn parse_email(s: &str) -> Result<String, Invalid> {
    let e = s.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c == ',');
    if ok {
        Ok(e)
    } else {
        Err(Invalid::new(
            "email",
            format!("'{s}' is not an email address"),
        ))
    }
}

pub fn check_password(p: &str) -> Result<(), Invalid> {
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(Invalid::new(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if p.len() > 1024 {
        return Err(Invalid::new("password", "must be at most 1024 bytes"));
    }
    Ok(())
}

fn parse_role(s: &str) -> Result<Role, Invalid> {
    s.parse()
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    items: Vec<UserView>,
}

/// The `{id}` of a user in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserId {
    /// The user's id.
    #[param(minimum = 1)]
    pub id: i64,
}

#[utoipa::path(
    get,
    path = "/api/users",
    tag = "users",
    responses(
        (status = 200, description = "Every user", body = UserList),
        (status = 403, response = doc::Forbidden),
        doc::SignedIn,
    )
)]
pub async fn list(State(state): State<AppState>, _: SuperAdmin) -> ApiResult<Json<UserList>> {
    let items: Vec<UserView> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(UserList { items }))
}

#[utoipa::path(
    get,
    path = "/api/users/{id}",
    tag = "users",
    params(UserId),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        doc::SignedIn,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    _: SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    let id = path_id("user", &id)?;
    Ok(Json(
        state
            .store
            .get_user(id)
            .await
            .map_err(not_found(id))?
            .into(),
    ))
}

fn not_found(id: i64) -> impl Fn(crate::store::StoreError) -> ApiError {
    move |e| match e {
        crate::store::StoreError::NotFound => ApiError::NotFound(format!("no user has id {id}")),
        other => other.into(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateUser {
    #[schema(format = Email)]
    email: String,
    /// At least 12 characters, at most 1024 bytes.
    #[schema(min_length = 12)]
    password: String,
    #[schema(value_type = Role)]
    role: String,
    /// The lines a manager or agent may see.
    #[serde(default)]
    phone_number_ids: Vec<i64>,
}

#[utoipa::path(
    post,
    path = "/api/users",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    admin: SuperAdmin,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let actor = admin.into_user();
    let email = parse_email(&body.email)?;
    let role = parse_role(&body.role)?;
    check_password(&body.password)?;
    let hash = hash_password_blocking(body.password).await;
    let user = state
        .store
        .create_user(
            &email,
            &hash,
            role,
            &body.phone_number_ids,
            audit::by(&actor),
        )
        .await?;
    tracing::info!(user = user.id, role = %role, "user created");
    Ok((StatusCode::CREATED, Json(UserView::from(user))))
}

/// The fields to change; every one optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateUser {
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
    is_active: Option<bool>,
    phone_number_ids: Option<Vec<i64>>,
    #[schema(min_length = 12)]
    password: Option<String>,
}

/// Changes a user. A new password or a deactivation also ends every token
/// and session the user holds.
#[utoipa::path(
    put,
    path = "/api/users/{id}",
    tag = "users",
    params(UserId),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The changed user", body = UserView),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn update(
    State(state): State<AppState>,
    admin: SuperAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    let actor = admin.into_user();
    let id = path_id("user", &id)?;
    let role = body.role.as_deref().map(parse_role).transpose()?;
    if let Some(p) = &body.password {
        check_password(p)?;
    }
    let password_hash = match body.password {
        Some(p) => Some(hash_password_blocking(p).await),
        None => None,
    };
    let user = state
        .store
        .update_user(
            id,
            UserChanges {
                role,
                is_active: body.is_active,
                phone_number_ids: body.phone_number_ids,
                password_hash,
            },
            audit::by(&actor),
        )
        .await
        .map_err(not_found(id))?;
    Ok(Json(UserView::from(user)))
}

#[utoipa::path(
    delete,
    path = "/api/users/{id}",
    tag = "users",
    params(UserId),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        doc::SignedIn,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    admin: SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let actor = admin.into_user();
    let id = path_id("user", &id)?;
    state
        .store
        .delete_user(id, audit::by(&actor))
        .await
        .map_err(not_found(id))?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_passwords() {
        assert_eq!(parse_email(" Ops@Example.COM ").unwrap(), "ops@example.com");
        assert!(parse_email("nope").is_err());
        assert!(parse_email("a@").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough password").is_ok());
    }
}
