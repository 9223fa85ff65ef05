//! `GET /api/audit`: who changed which line, group, user or ingest key
//! (admin+), newest first.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::http::AppState;
use crate::http::audit::ObjectType;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Admin, QueryPairs};
use crate::store::AuditQuery;

/// Entries per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// `?objectType=&objectId=&limit=&cursor=` → `{"items": [...], "nextCursor"}`.
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    q: QueryPairs,
) -> ApiResult<Json<Value>> {
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
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": r.at.to_string(),
                "actorId": r.entry.actor_id,
                "actorEmail": r.entry.actor_email,
                "action": r.entry.action,
                "objectType": r.entry.object_type,
                "objectId": r.entry.object_id,
                "before": r.entry.before,
                "after": r.entry.after,
            })
        })
        .collect();
    Ok(Json(json!({"items": items, "nextCursor": next})))
}
