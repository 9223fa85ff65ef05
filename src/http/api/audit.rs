//! `GET /api/audit`: who changed which line, group, user or ingest key
//! (admin+), newest first. Changes to users carry people's emails and
//! roles, so only a super_admin sees them.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::http::AppState;
use crate::http::audit::ObjectType;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Admin, QueryPairs};
use crate::http::openapi as doc;
use crate::store::AuditQuery;

/// Entries per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// What `list` reads from the query string. An empty value is the same as
/// none (the pages' filter forms send them).
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AuditQueryParams {
    /// Only changes to this kind of object; `user` needs super_admin.
    #[param(pattern = "^(phone_number|group|user|ingest_key)?$")]
    pub object_type: Option<String>,
    /// Only changes to this object: a positive whole number.
    #[param(pattern = "^([1-9][0-9]{0,17})?$")]
    pub object_id: Option<String>,
    /// 1 to 500; default 50.
    #[param(pattern = "^([1-9][0-9]?|[1-4][0-9]{2}|500)?$")]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    #[param(pattern = "^([1-9][0-9]{0,17})?$")]
    pub cursor: Option<String>,
}

/// One recorded change.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryView {
    id: i64,
    at: String,
    actor_id: Option<i64>,
    actor_email: Option<String>,
    /// `create`, `update`, `delete`, `revoke`, `discover`, `add_members`, `remove_member`.
    action: String,
    /// `phone_number`, `group`, `user` or `ingest_key`.
    object_type: String,
    object_id: Option<i64>,
    /// The object before the change; `null` when it was made.
    #[schema(value_type = Option<Object>)]
    before: Option<Value>,
    /// The object after the change; `null` when it was deleted.
    #[schema(value_type = Option<Object>)]
    after: Option<Value>,
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    items: Vec<AuditEntryView>,
    /// Give as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// `?objectType=&objectId=&limit=&cursor=` → `{"items": [...], "nextCursor"}`.
/// For an admin, changes to users are left out, and `objectType=user` is 403.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    params(AuditQueryParams),
    responses(
        (status = 200, description = "A page of changes, newest first", body = AuditPage),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        doc::SignedIn,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    q: QueryPairs,
) -> ApiResult<Json<AuditPage>> {
    let reader = admin.into_user();
    q.only(&["objectType", "objectId", "limit", "cursor"])?;
    let object_type = match q.get("objectType").filter(|s| !s.is_empty()) {
        None => None,
        Some(t) => Some(
            ObjectType::ALL
                .iter()
                .find(|o| o.as_str() == t)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "objectType",
                        format!(
                            "'{t}' is not one of {}",
                            ObjectType::ALL.map(|o| o.as_str()).join(", ")
                        ),
                    )
                })?
                .as_str()
                .to_string(),
        ),
    };
    let users = ObjectType::User.as_str();
    let sees_users = reader.role.can_manage_users();
    if !sees_users && object_type.as_deref() == Some(users) {
        return Err(ApiError::Forbidden(format!(
            "the {} role cannot read changes to users; it needs super_admin",
            reader.role
        )));
    }
    let positive = |field: &str| -> ApiResult<Option<i64>> {
        q.get(field)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::invalid(field, format!("'{s}' is not a positive whole number"))
                })
            })
            .transpose()
    };
    let object_id = positive("objectId")?;
    let before_id = positive("cursor")?;
    let limit = positive("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is more than {MAX_LIMIT}"),
        ));
    }
    // One more than asked tells whether there is a next page.
    let mut rows = state
        .store
        .list_audit(&AuditQuery {
            object_type,
            exclude_object_type: (!sees_users).then(|| users.to_string()),
            object_id,
            before_id,
            limit: limit + 1,
        })
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    let items = rows
        .into_iter()
        .map(|r| AuditEntryView {
            id: r.id,
            at: r.at.to_string(),
            actor_id: r.entry.actor_id,
            actor_email: r.entry.actor_email,
            action: r.entry.action,
            object_type: r.entry.object_type,
            object_id: r.entry.object_id,
            before: r.entry.before,
            after: r.entry.after,
        })
        .collect();
    Ok(Json(AuditPage {
        items,
        next_cursor: next,
    }))
}
