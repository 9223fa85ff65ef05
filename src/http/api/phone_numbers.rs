//! `/api/phone-numbers`: the line registry, eight endpoints answering bare
//! JSON arrays, plus `PATCH /api/phone-numbers/bulk`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{E164, Invalid, Region};
use crate::http::AppState;
use crate::http::access::{may_see, visible_ids};
use crate::http::audit;
use crate::http::error::{ApiError, ApiResult, ItemIssue};
use crate::http::extract::{Admin, ApiJson, AuthUser, QueryPairs, path_id};
use crate::http::openapi as doc;
use crate::store::{PhoneNumberChanges, PhoneNumberRow, StoreError};

/// A line as the phone-number endpoints show it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberView {
    pub id: i64,
    /// E.164.
    pub number: String,
    pub friendly_name: Option<String>,
    /// `exophone`, `sip`, `landline`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub is_active: bool,
    pub is_primary: bool,
    #[schema(value_type = Object)]
    pub capabilities: Value,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<PhoneNumberRow> for PhoneNumberView {
    fn from(r: PhoneNumberRow) -> Self {
        PhoneNumberView {
            id: r.id,
            number: r.number,
            friendly_name: r.friendly_name,
            kind: r.kind,
            is_active: r.is_active,
            is_primary: r.is_primary,
            capabilities: r.capabilities,
            metadata: r.metadata,
            created_at: r.created_at.to_string(),
            updated_at: r.updated_at.to_string(),
        }
    }
}

/// The label a line shows in the dropdown: its name, else its number for people.
pub fn label(r: &PhoneNumberRow) -> String {
    r.friendly_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| crate::domain::phone::human(&r.number))
}

/// Distinguishes an absent field (leave it) from `null` (clear it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The fields of a line a client may set; every one optional (`number`
/// is required to create one). `null` clears a name, capabilities or metadata.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LineBody {
    /// E.164, or national in the configured region.
    number: Option<String>,
    /// At most 100 characters; blank or `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    friendly_name: Option<Option<String>>,
    /// 1 to 32 letters, digits, `-` or `_`.
    #[serde(rename = "type")]
    kind: Option<String>,
    is_active: Option<bool>,
    is_primary: Option<bool>,
    /// A JSON object of at most 16 KiB.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    capabilities: Option<Option<Value>>,
    /// A JSON object of at most 16 KiB, keys 1 to 64 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Option<Value>>,
}

/// The `{id}` of a line in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LineId {
    /// The line's id.
    #[param(minimum = 1)]
    pub id: i64,
}

const MAX_NAME: usize = 100;

fn json_object(field: &str, v: Option<Option<Value>>) -> Result<Option<Value>, Invalid> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(json!({}))),
        Some(Some(v @ Value::Object(_))) => {
            if v.to_string().len() > 16 * 1024 {
                return Err(Invalid::new(field, "is larger than 16 KiB"));
            }
            if let Some(k) = v
                .as_object()
                .and_then(|o| o.keys().find(|k| k.trim().is_empty() || k.len() > 64))
            {
                return Err(Invalid::new(
                    field,
                    format!("key '{k}' must be 1 to 64 characters"),
                ));
            }
            Ok(Some(v))
        }
        Some(Some(v)) => Err(Invalid::new(
            field,
            format!("must be a JSON object, got {v}"),
        )),
    }
}

impl LineBody {
    /// Validates every field, collecting all problems.
    fn into_changes(self, region: Region) -> Result<PhoneNumberChanges, Vec<Invalid>> {
        let mut errs = Vec::new();
        let number = match &self.number {
            Some(n) => E164::parse("number", n, region)
                .map_err(|e| errs.push(e))
                .ok()
                .map(|n| n.as_str().to_string()),
            None => None,
        };
        let friendly_name = match self.friendly_name {
            Some(Some(n)) if n.trim().is_empty() => Some(None),
            Some(Some(n)) if n.trim().chars().count() > MAX_NAME => {
                errs.push(Invalid::new(
                    "friendlyName",
                    format!("must be at most {MAX_NAME} characters"),
                ));
                None
            }
            Some(n) => Some(n.map(|s| s.trim().to_string())),
            None => None,
        };
        let kind = match self.kind {
            Some(k) => {
                let t = k.trim().to_lowercase();
                let ok = !t.is_empty()
                    && t.len() <= 32
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    errs.push(Invalid::new(
                        "type",
                        format!("'{k}' is not a line type such as exophone, sip or landline"),
                    ));
                }
                Some(t)
            }
            None => None,
        };
        let capabilities = json_object("capabilities", self.capabilities)
            .map_err(|e| errs.push(e))
            .ok()
            .flatten();
        let metadata = json_object("metadata", self.metadata)
            .map_err(|e| errs.push(e))
            .ok()
            .flatten();
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(PhoneNumberChanges {
            number,
            friendly_name,
            kind,
            is_active: self.is_active,
            is_primary: self.is_primary,
            capabilities,
            metadata,
        })
    }
}

fn first(errs: Vec<Invalid>) -> ApiError {
    if errs.len() == 1 {
        ApiError::Invalid(errs.into_iter().next().expect("one error"))
    } else {
        ApiError::invalid_fields("", errs)
    }
}

fn not_found(id: i64) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("no phone number has id {id}")),
        other => other.into(),
    }
}

/// What `list` reads from the query string.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListQuery {
    /// `true` or `1` lists inactive lines too; `false`, `0` or empty do not.
    #[param(pattern = "^(true|false|1|0)?$")]
    pub include_inactive: Option<String>,
}

/// `GET /api/phone-numbers?includeInactive=`: primary first, then by name.
#[utoipa::path(
    get,
    path = "/api/phone-numbers",
    tag = "phone-numbers",
    params(ListQuery),
    responses(
        (status = 200, description = "The lines the user may see", body = Vec<PhoneNumberView>),
        (status = 422, response = doc::Invalid),
        doc::SignedIn,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Vec<PhoneNumberView>>> {
    q.only(&["includeInactive"])?;
    let include_inactive = match q.get("includeInactive") {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(v) => {
            return Err(ApiError::invalid(
                "includeInactive",
                format!("'{v}' is not true or false"),
            ));
        }
    };
    let rows = state.store.list_phone_numbers(include_inactive).await?;
    Ok(Json(
        rows.into_iter()
            .filter(|r| may_see(&user, r))
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DropdownItem {
    id: i64,
    number: String,
    /// The friendly name, else the number formatted for people.
    label: String,
    is_primary: bool,
}

/// `GET /api/phone-numbers/dropdown`: the active lines the user may see.
#[utoipa::path(
    get,
    path = "/api/phone-numbers/dropdown",
    tag = "phone-numbers",
    responses(
        (status = 200, description = "The active lines the user may see", body = Vec<DropdownItem>),
        doc::SignedIn,
    )
)]
pub async fn dropdown(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<DropdownItem>>> {
    let rows = state.store.list_phone_numbers(false).await?;
    Ok(Json(
        rows.into_iter()
            .filter(|r| may_see(&user, r))
            .map(|r| DropdownItem {
                id: r.id,
                label: label(&r),
                number: r.number,
                is_primary: r.is_primary,
            })
            .collect(),
    ))
}

/// `GET /api/phone-numbers/:id`. A line the user may not see is answered
/// as one that does not exist, so its id gives nothing away.
#[utoipa::path(
    get,
    path = "/api/phone-numbers/{id}",
    tag = "phone-numbers",
    params(LineId),
    responses(
        (status = 200, description = "The line", body = PhoneNumberView),
        (status = 404, response = doc::NotFound),
        doc::SignedIn,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PhoneNumberView>> {
    let id = path_id("phone number", &id)?;
    let row = state
        .store
        .get_phone_number(id)
        .await
        .map_err(not_found(id))?;
    if !may_see(&user, &row) {
        return Err(not_found(id)(StoreError::NotFound));
    }
    Ok(Json(row.into()))
}

/// `GET /api/phone-numbers/primary/current`: 404 when there is none (or the
/// user may not see it).
#[utoipa::path(
    get,
    path = "/api/phone-numbers/primary/current",
    tag = "phone-numbers",
    responses(
        (status = 200, description = "The primary line", body = PhoneNumberView),
        (status = 404, response = doc::NotFound),
        doc::SignedIn,
    )
)]
pub async fn primary(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<PhoneNumberView>> {
    match state.store.primary_phone_number().await? {
        Some(r) if may_see(&user, &r) => Ok(Json(r.into())),
        _ => Err(ApiError::NotFound("no primary phone number is set".into())),
    }
}

/// `POST /api/phone-numbers`: upsert by number; 201 when created, 200 when updated.
#[utoipa::path(
    post,
    path = "/api/phone-numbers",
    tag = "phone-numbers",
    request_body = LineBody,
    responses(
        (status = 200, description = "An existing line with that number, updated", body = PhoneNumberView),
        (status = 201, description = "A new line", body = PhoneNumberView),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn upsert(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<LineBody>,
) -> ApiResult<(StatusCode, Json<PhoneNumberView>)> {
    let actor = admin.into_user();
    if body.number.is_none() {
        return Err(ApiError::invalid("number", "is required"));
    }
    let changes = body.into_changes(state.region).map_err(first)?;
    let number = changes.number.clone().expect("checked above");
    let (row, created) = state
        .store
        .upsert_phone_number(&number, changes, audit::by(&actor))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PhoneNumberView::from(row))))
}

/// `PUT /api/phone-numbers/:id`: changes only the given fields.
#[utoipa::path(
    put,
    path = "/api/phone-numbers/{id}",
    tag = "phone-numbers",
    params(LineId),
    request_body = LineBody,
    responses(
        (status = 200, description = "The changed line", body = PhoneNumberView),
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
    ApiJson(body): ApiJson<LineBody>,
) -> ApiResult<Json<PhoneNumberView>> {
    let actor = admin.into_user();
    let id = path_id("phone number", &id)?;
    let changes = body.into_changes(state.region).map_err(first)?;
    let mut rows = state
        .store
        .update_phone_numbers(vec![(id, changes)], audit::by(&actor))
        .await
        .map_err(not_found(id))?;
    Ok(Json(PhoneNumberView::from(rows.remove(0))))
}

/// `DELETE /api/phone-numbers/:id`: 204; the line's call records stay.
#[utoipa::path(
    delete,
    path = "/api/phone-numbers/{id}",
    tag = "phone-numbers",
    params(LineId),
    responses(
        (status = 204, description = "Deleted; its call records stay"),
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
    let id = path_id("phone number", &id)?;
    state
        .store
        .delete_phone_number(id, audit::by(&actor))
        .await
        .map_err(not_found(id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/phone-numbers/discover`: registers business numbers seen in calls.
/// Each line it registers is audited as created.
#[utoipa::path(
    post,
    path = "/api/phone-numbers/discover",
    tag = "phone-numbers",
    responses(
        (status = 200, description = "What was registered", body = Discovered),
        (status = 403, response = doc::Forbidden),
        doc::SignedIn,
    )
)]
pub async fn discover(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<Discovered>> {
    let actor = admin.into_user();
    let (discovered, total) = state
        .store
        .discover_phone_numbers(audit::by(&actor))
        .await?;
    Ok(Json(Discovered { discovered, total }))
}

#[derive(Serialize, ToSchema)]
pub struct Discovered {
    /// Lines registered now.
    pub discovered: u64,
    /// Lines registered in all.
    pub total: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkItem {
    id: i64,
    data: LineBody,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    updated: usize,
    items: Vec<PhoneNumberView>,
}

/// `PATCH /api/phone-numbers/bulk`: `[{id, data}]`, all or nothing.
#[utoipa::path(
    patch,
    path = "/api/phone-numbers/bulk",
    tag = "phone-numbers",
    request_body(content = Vec<BulkItem>, description = "1 to 1000 changes, all or nothing"),
    responses(
        (status = 200, description = "Every line changed", body = BulkResult),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn bulk(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(items): ApiJson<Vec<BulkItem>>,
) -> ApiResult<Json<BulkResult>> {
    let actor = admin.into_user();
    if items.is_empty() {
        return Err(ApiError::invalid("", "give at least one {id, data} item"));
    }
    if items.len() > 1000 {
        return Err(ApiError::invalid("", "at most 1000 items at once"));
    }
    let known: std::collections::HashSet<i64> = state
        .store
        .list_phone_numbers(true)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut issues = Vec::new();
    let mut updates = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        if !known.contains(&item.id) {
            issues.push(ItemIssue {
                index,
                field: "id".into(),
                message: format!("no phone number has id {}", item.id),
            });
        }
        match item.data.into_changes(state.region) {
            Ok(c) => updates.push((item.id, c)),
            Err(errs) => issues.extend(errs.into_iter().map(|e| ItemIssue {
                index,
                field: format!("data.{}", e.field),
                message: e.message,
            })),
        }
    }
    if !issues.is_empty() {
        return Err(ApiError::InvalidItems {
            message: format!(
                "{} problem(s) in the batch; nothing was changed",
                issues.len()
            ),
            details: issues,
        });
    }
    // A line deleted since the check above makes the whole batch a 404.
    let rows = state
        .store
        .update_phone_numbers(updates, audit::by(&actor))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::NotFound("a phone number in the batch no longer exists".into())
            }
            other => other.into(),
        })?;
    let items: Vec<PhoneNumberView> = rows.into_iter().map(Into::into).collect();
    Ok(Json(BulkResult {
        updated: items.len(),
        items,
    }))
}

/// Lines the user may see, by id (for filtering other resources' id lists).
pub fn visible_filter(user: &AuthUser, ids: Vec<i64>) -> Vec<i64> {
    match visible_ids(user) {
        None => ids,
        Some(mine) => ids.into_iter().filter(|i| mine.contains(i)).collect(),
    }
}
