//! `/api/phone-number-groups`: named sets of lines; a line may be in several.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::phone_numbers::visible_filter;
use crate::http::AppState;
use crate::http::audit;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Admin, ApiJson, AuthUser, path_id};
use crate::http::openapi as doc;
use crate::store::{GroupChanges, GroupRow, StoreError};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    id: i64,
    name: String,
    description: Option<String>,
    /// The members the user may see.
    phone_number_ids: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    items: Vec<GroupView>,
}

/// The `{id}` of a group in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GroupId {
    /// The group's id.
    #[param(minimum = 1)]
    pub id: i64,
}

/// A group and one of its member lines in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GroupMember {
    /// The group's id.
    #[param(minimum = 1)]
    pub id: i64,
    /// The member line's id.
    #[param(minimum = 1)]
    pub phone_number_id: i64,
}

fn view(user: &AuthUser, g: GroupRow) -> GroupView {
    GroupView {
        id: g.id,
        name: g.name,
        description: g.description,
        phone_number_ids: visible_filter(user, g.phone_number_ids),
    }
}

fn not_found(id: i64) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("no group has id {id}")),
        other => other.into(),
    }
}

/// The longest description a group may have, in characters.
pub const MAX_DESCRIPTION: usize = 1000;

fn check_description(description: Option<&str>) -> ApiResult<()> {
    match description.map(|d| d.chars().count()) {
        Some(n) if n > MAX_DESCRIPTION => Err(ApiError::invalid(
            "description",
            format!("is {n} characters long; at most {MAX_DESCRIPTION}"),
        )),
        _ => Ok(()),
    }
}

fn check_name(name: &str) -> ApiResult<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(ApiError::invalid(
            "name",
            format!("'{name}' must be 1 to 100 characters"),
        ));
    }
    Ok(n.to_string())
}

#[utoipa::path(
    get,
    path = "/api/phone-number-groups",
    tag = "groups",
    responses(
        (status = 200, description = "Every group, with the members the user may see", body = GroupList),
        doc::SignedIn,
    )
)]
pub async fn list(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<GroupList>> {
    let items: Vec<GroupView> = state
        .store
        .list_groups()
        .await?
        .into_iter()
        .map(|g| view(&user, g))
        .collect();
    Ok(Json(GroupList { items }))
}

#[utoipa::path(
    get,
    path = "/api/phone-number-groups/{id}",
    tag = "groups",
    params(GroupId),
    responses(
        (status = 200, description = "The group", body = GroupView),
        (status = 404, response = doc::NotFound),
        doc::SignedIn,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<GroupView>> {
    let id = path_id("group", &id)?;
    Ok(Json(view(
        &user,
        state.store.get_group(id).await.map_err(not_found(id))?,
    )))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateGroup {
    /// 1 to 100 characters, unique.
    name: String,
    /// At most 1000 characters.
    description: Option<String>,
    #[serde(default)]
    phone_number_ids: Vec<i64>,
}

#[utoipa::path(
    post,
    path = "/api/phone-number-groups",
    tag = "groups",
    request_body = CreateGroup,
    responses(
        (status = 201, description = "Created", body = GroupView),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let user = admin.into_user();
    let name = check_name(&body.name)?;
    check_description(body.description.as_deref())?;
    let g = state
        .store
        .create_group(
            &name,
            body.description.as_deref(),
            &body.phone_number_ids,
            audit::by(&user),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(&user, g))))
}

/// The fields to change; every one optional. `null` clears the description.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateGroup {
    name: Option<String>,
    /// At most 1000 characters.
    #[serde(default, deserialize_with = "optional_nullable")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    phone_number_ids: Option<Vec<i64>>,
}

fn optional_nullable<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(
    put,
    path = "/api/phone-number-groups/{id}",
    tag = "groups",
    params(GroupId),
    request_body = UpdateGroup,
    responses(
        (status = 200, description = "The changed group", body = GroupView),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateGroup>,
) -> ApiResult<Json<GroupView>> {
    let user = admin.into_user();
    let id = path_id("group", &id)?;
    let name = body.name.as_deref().map(check_name).transpose()?;
    check_description(body.description.as_ref().and_then(|d| d.as_deref()))?;
    let g = state
        .store
        .update_group(
            id,
            GroupChanges {
                name,
                description: body.description,
                phone_number_ids: body.phone_number_ids,
            },
            audit::by(&user),
        )
        .await
        .map_err(not_found(id))?;
    Ok(Json(view(&user, g)))
}

#[utoipa::path(
    delete,
    path = "/api/phone-number-groups/{id}",
    tag = "groups",
    params(GroupId),
    responses(
        (status = 204, description = "Deleted; its lines stay"),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        doc::SignedIn,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let actor = admin.into_user();
    let id = path_id("group", &id)?;
    state
        .store
        .delete_group(id, audit::by(&actor))
        .await
        .map_err(not_found(id))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Members {
    phone_number_ids: Vec<i64>,
}

/// `POST /api/phone-number-groups/:id/members {phoneNumberIds}`: adds lines.
#[utoipa::path(
    post,
    path = "/api/phone-number-groups/{id}/members",
    tag = "groups",
    params(GroupId),
    request_body = Members,
    responses(
        (status = 200, description = "The group with its new members", body = GroupView),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn add_members(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Members>,
) -> ApiResult<Json<GroupView>> {
    let user = admin.into_user();
    let id = path_id("group", &id)?;
    let g = state
        .store
        .add_group_members(id, &body.phone_number_ids, audit::by(&user))
        .await
        .map_err(not_found(id))?;
    Ok(Json(view(&user, g)))
}

/// `DELETE /api/phone-number-groups/:id/members/:phoneNumberId`.
#[utoipa::path(
    delete,
    path = "/api/phone-number-groups/{id}/members/{phone_number_id}",
    tag = "groups",
    params(GroupMember),
    responses(
        (status = 200, description = "The group without that line", body = GroupView),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        doc::SignedIn,
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, line)): Path<(String, String)>,
) -> ApiResult<Json<GroupView>> {
    let user = admin.into_user();
    let id = path_id("group", &id)?;
    let line = path_id("phone number", &line)?;
    state.store.get_group(id).await.map_err(not_found(id))?;
    let g = state
        .store
        .remove_group_member(id, line, audit::by(&user))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound(format!("group {id} has no member {line}")),
            other => other.into(),
        })?;
    Ok(Json(view(&user, g)))
}
