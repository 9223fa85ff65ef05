//! `POST /api/calls` (one call or a batch) and `GET /api/calls`.

use axum::Json;
use axum::extract::{Request, State};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::analytics::read_list_view;
use crate::domain::NewCall;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ItemIssue};
use crate::http::extract::{Admin, AuthUser, QueryPairs, parse_json, read_body};
use crate::http::metrics::Way;
use crate::http::openapi as doc;
use crate::store::{CallQuery, CallRow};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// Most calls in one request.
pub const MAX_BATCH: usize = 10_000;
/// Most calls in one page.
pub const MAX_PAGE: i64 = 500;

/// A call as `GET /api/calls` shows it (the `calls` shape plus `id`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    id: i64,
    provider: String,
    provider_call_id: String,
    phone_number: String,
    other_party: Option<String>,
    direction: String,
    status: String,
    started_at: String,
    ended_at: Option<String>,
    duration_seconds: i64,
    flow_id: Option<String>,
    flow_name: Option<String>,
    recording_url: Option<String>,
}

/// One call in the `calls` shape, as `POST /api/calls` takes it. Calls are
/// read by [`NewCall::from_json`], which reports every bad field at once;
/// this type only describes that shape for the API document.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CallIn)]
pub struct CallInDoc {
    /// Default `manual`.
    pub provider: Option<crate::domain::Provider>,
    /// With `provider`, identifies the call: sending it again updates it.
    /// At most 128 characters.
    pub provider_call_id: ProviderId,
    /// The business line: E.164, or national in the configured region.
    pub phone_number: String,
    /// The customer's number; kept as given when it is not one (`anonymous`).
    pub other_party: Option<String>,
    pub direction: crate::domain::CallDirection,
    pub status: crate::domain::CallStatus,
    #[schema(format = DateTime)]
    pub started_at: String,
    /// Not before `startedAt`.
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    /// Talk time; default 0.
    #[schema(minimum = 0, maximum = 604800)]
    pub duration_seconds: Option<i64>,
    pub flow_id: Option<ProviderId>,
    /// Needs a `flowId`.
    pub flow_name: Option<String>,
    pub recording_url: Option<String>,
    /// The provider's original fields; default: the item itself.
    #[schema(value_type = Option<Object>)]
    pub raw: Option<Value>,
}

/// An identifier providers send as a string or a number.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProviderId {
    Text(String),
    Number(i64),
}

/// `POST /api/calls`: one call, or an array of them.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CallBatch {
    One(Box<CallInDoc>),
    Many(Vec<CallInDoc>),
}

/// What a stored batch did.
#[derive(Serialize, ToSchema)]
pub struct BatchOutcome {
    /// Calls in the batch.
    received: usize,
    created: u64,
    updated: u64,
}

/// A page of calls, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallPage {
    items: Vec<CallView>,
    /// Give as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// What `list` reads besides the view's filters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

fn instant(s: i64) -> String {
    jiff::Timestamp::from_second(s)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl From<CallRow> for CallView {
    fn from(c: CallRow) -> Self {
        CallView {
            id: c.id,
            provider: c.provider,
            provider_call_id: c.provider_call_id,
            phone_number: c.phone_number,
            other_party: c.other_party,
            direction: c.direction,
            status: c.status,
            started_at: instant(c.started_at),
            ended_at: c.ended_at.map(instant),
            duration_seconds: c.duration_seconds,
            flow_id: c.flow_id,
            flow_name: c.flow_name,
            recording_url: c.recording_url,
        }
    }
}

/// Validates a whole batch: every bad item is reported, nothing is stored
/// unless every item is good.
pub fn validate_batch(body: Value, region: crate::domain::Region) -> ApiResult<Vec<NewCall>> {
    let items = match body {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        other => {
            return Err(ApiError::invalid(
                "",
                format!("expected a call object or an array of calls, got {other}"),
            ));
        }
    };
    if items.is_empty() {
        return Err(ApiError::invalid(
            "",
            "the batch is empty: give at least one call",
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "",
            format!("{} calls in one batch; at most {MAX_BATCH}", items.len()),
        ));
    }
    let mut calls = Vec::with_capacity(items.len());
    let mut issues = Vec::new();
    let mut bad_items = 0;
    for (index, item) in items.iter().enumerate() {
        match NewCall::from_json(item, region) {
            Ok(c) => calls.push(c),
            Err(errs) => {
                bad_items += 1;
                issues.extend(errs.into_iter().map(|e| ItemIssue {
                    index,
                    field: e.field,
                    message: e.message,
                }));
            }
        }
    }
    if !issues.is_empty() {
        return Err(ApiError::InvalidItems {
            message: format!(
                "{bad_items} of {} calls are invalid; nothing was stored",
                items.len()
            ),
            details: issues,
        });
    }
    Ok(calls)
}

/// Proof that a request may write calls: an admin's token, or an ingest key
/// as the Bearer token.
pub struct CallWriter;

impl FromRequestParts<AppState> for CallWriter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string());
        match bearer {
            Some(t) if t.starts_with(super::ingest_keys::KEY_PREFIX) => {
                super::ingest_keys::check_key(state, Some(&t)).await?;
                Ok(CallWriter)
            }
            _ => Admin::from_request_parts(parts, state)
                .await
                .map(|_| CallWriter),
        }
    }
}

/// `POST /api/calls`: one call or an array of up to 10 000, in one
/// transaction; by an admin or with an ingest key.
#[utoipa::path(
    post,
    path = "/api/calls",
    tag = "calls",
    request_body(content = CallBatch, description = "One call, or an array of 1 to 10 000; checked whole, then stored in one transaction"),
    responses(
        (status = 200, description = "Every call stored", body = BatchOutcome),
        (status = 403, response = doc::Forbidden),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    _: CallWriter,
    req: Request,
) -> ApiResult<Json<BatchOutcome>> {
    let bytes = read_body(req, &state).await?;
    let body: Value = parse_json(&bytes)?;
    let calls = validate_batch(body, state.region).inspect_err(|e| {
        // Each bad item counts once; a batch refused whole counts as one.
        let n = match e {
            ApiError::InvalidItems { details, .. } => details
                .iter()
                .map(|d| d.index)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            _ => 1,
        };
        state.metrics.rejected(Way::Api, n as u64);
    })?;
    let outcome = state.store.upsert_calls(&calls).await?;
    state.metrics.ingested(Way::Api, calls.len() as u64);
    Ok(Json(BatchOutcome {
        received: calls.len(),
        created: outcome.created,
        updated: outcome.updated,
    }))
}

fn encode_cursor(started_at: i64, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{started_at}:{id}"))
}

fn decode_cursor(s: &str) -> ApiResult<(i64, i64)> {
    let bad = || {
        ApiError::invalid(
            "cursor",
            format!("'{s}' is not a cursor from a previous page"),
        )
    };
    let text = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

/// `GET /api/calls`: newest first, with the dashboard's filters; no period
/// means all time. `limit` ≤ 500 (default 100), `cursor` from `nextCursor`.
#[utoipa::path(
    get,
    path = "/api/calls",
    tag = "calls",
    params(super::analytics::ViewQuery, PageQuery),
    responses(
        (status = 200, description = "A page of the calls the user may see", body = CallPage),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        doc::SignedIn,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<CallPage>> {
    let view = read_list_view(&state, &user, q, &["limit", "cursor"]).await?;
    let limit = match view.rest.get("limit") {
        None => 100,
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("'{v}' must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let after = view
        .rest
        .get("cursor")
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    let query = CallQuery {
        period: view.period.as_ref().map(|p| p.second_bounds()),
        after,
        limit: limit + 1,
    };
    let mut rows = state.store.list_calls(&view.scope, &query).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor(r.started_at, r.id))
    } else {
        None
    };
    let items: Vec<CallView> = rows.into_iter().map(Into::into).collect();
    Ok(Json(CallPage {
        items,
        next_cursor: next,
    }))
}
