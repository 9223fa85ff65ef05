//! `/api/analytics/*`: figures for the lines a filter and the user's access
//! allow, over a period in a timezone.

use axum::Json;
use axum::extract::State;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::analytics::views::{self, Breakdown, By, Comparison, Interval, Timeseries, ViewError};
use crate::analytics::{self, Dashboard};
use crate::domain::{LineFilter, Period, parse_timezone};
use crate::http::AppState;
use crate::http::access;
use crate::http::error::ApiError;
use crate::http::error::ApiResult;
use crate::http::extract::{AuthUser, QueryPairs};
use crate::http::openapi as doc;
use crate::store::LineScope;

/// Query parameters every analytics view takes besides the line filters.
pub const VIEW_PARAMS: &[&str] = &["from", "to", "tz"];

/// The line filters and period every view reads (by [`read_view`]).
/// `metadata.KEY=VALUE` (lines whose metadata has that value) is read too,
/// but a parameter whose name holds the key cannot be described here.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ViewQuery {
    /// One line, E.164 (`%2B91…`; a leading space is read as `+`) or national.
    pub phone_number: Option<String>,
    /// Several lines, comma separated.
    pub phone_numbers: Option<String>,
    /// The lines of a group.
    pub group_id: Option<i64>,
    /// Start of the period: an RFC 3339 instant or a `YYYY-MM-DD` date in `tz`.
    pub from: Option<String>,
    /// End of the period (exclusive), like `from`.
    pub to: Option<String>,
    /// IANA timezone for dates and "today"; default the configured one.
    pub tz: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesQuery {
    /// Bucket size; default `day`.
    #[param(inline)]
    pub interval: Option<IntervalName>,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum IntervalName {
    Hour,
    Day,
    Week,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    /// What to group on: `flow`, `status`, `direction`, `phoneNumber`,
    /// `hourOfDay`, `dayOfWeek` or `metadata.KEY`.
    #[param(pattern = "^(flow|status|direction|phoneNumber|hourOfDay|dayOfWeek|metadata\\..+)$")]
    pub by: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// `phoneNumber`: a row for every line with calls, instead of naming
    /// the lines with `phoneNumbers` or `groupId`.
    #[param(pattern = "^phoneNumber$")]
    pub by: Option<String>,
}

/// What a view asks for: the lines, the period (when one applies), and the
/// remaining parameters for the endpoint's own use.
pub struct View {
    pub scope: LineScope,
    pub period: Option<Period>,
    pub rest: QueryPairs,
}

/// Reads the line filters, `from`/`to`/`tz` and checks that nothing else
/// was given but `extra`. With `default_today` a missing period is today.
pub async fn read_view(
    state: &AppState,
    user: &AuthUser,
    q: QueryPairs,
    extra: &[&str],
    default_today: bool,
) -> ApiResult<View> {
    let (filter, rest) = LineFilter::take_from(q.0, state.region)?;
    let rest = QueryPairs(rest);
    let known: Vec<&str> = VIEW_PARAMS.iter().chain(extra).copied().collect();
    rest.only(&known)?;
    let (tz, tz_name) = match rest.get("tz") {
        Some(name) => (parse_timezone("tz", name)?, name.trim().to_string()),
        None => (state.tz.clone(), state.tz_name.clone()),
    };
    let (from, to) = (rest.get("from"), rest.get("to"));
    let period = if from.is_some() || to.is_some() || default_today {
        Some(Period::parse(
            from,
            to,
            &tz,
            &tz_name,
            jiff::Timestamp::now(),
        )?)
    } else {
        None
    };
    let scope = access::scope(state, user, &filter).await?;
    Ok(View {
        scope,
        period,
        rest,
    })
}

/// `GET /api/analytics/dashboard`.
#[utoipa::path(
    get,
    path = "/api/analytics/dashboard",
    tag = "analytics",
    params(ViewQuery),
    responses(
        (status = 200, description = "The period's figures (default: today)", body = Dashboard),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn dashboard(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Dashboard>> {
    let view = read_view(&state, &user, q, &[], true).await?;
    let period = view.period.expect("dashboard periods default to today");
    let d = analytics::dashboard(
        state.store.as_ref(),
        &view.scope,
        &period,
        jiff::Timestamp::now(),
    )
    .await?;
    Ok(Json(d))
}

impl From<ViewError> for ApiError {
    fn from(e: ViewError) -> Self {
        match e {
            ViewError::Invalid(i) => ApiError::Invalid(i),
            ViewError::Store(s) => s.into(),
        }
    }
}

/// `GET /api/analytics/timeseries?interval=hour|day|week`.
#[utoipa::path(
    get,
    path = "/api/analytics/timeseries",
    tag = "analytics",
    params(ViewQuery, TimeseriesQuery),
    responses(
        (status = 200, description = "Buckets aligned to `tz`, empty ones included", body = Timeseries),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn timeseries(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Timeseries>> {
    let view = read_view(&state, &user, q, &["interval"], true).await?;
    let interval = Interval::parse(view.rest.get("interval").unwrap_or("day"))?;
    let period = view.period.expect("defaults to today");
    Ok(Json(
        views::timeseries(state.store.as_ref(), &view.scope, &period, interval).await?,
    ))
}

/// `GET /api/analytics/breakdown?by=…`.
#[utoipa::path(
    get,
    path = "/api/analytics/breakdown",
    tag = "analytics",
    params(ViewQuery, BreakdownQuery),
    responses(
        (status = 200, description = "The period's figures per value", body = Breakdown),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn breakdown(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Breakdown>> {
    // `by=metadata.KEY` must not be read as a metadata filter: take it out first.
    let by_value = q.get("by").map(str::to_string);
    let rest: Vec<(String, String)> = q.0.into_iter().filter(|(k, _)| k != "by").collect();
    let view = read_view(&state, &user, QueryPairs(rest), &[], true).await?;
    let by = By::parse(
        by_value
            .as_deref()
            .ok_or_else(|| ApiError::invalid("by", "is required"))?,
    )?;
    let period = view.period.expect("defaults to today");
    Ok(Json(
        views::breakdown(state.store.as_ref(), &view.scope, &period, by).await?,
    ))
}

/// `GET /api/analytics/compare?phoneNumbers=a,b` (or `groupId`, or `by=phoneNumber`).
#[utoipa::path(
    get,
    path = "/api/analytics/compare",
    tag = "analytics",
    params(ViewQuery, CompareQuery),
    responses(
        (status = 200, description = "Per line: the period, the period of equal length before, and the change", body = Comparison),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn compare(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Comparison>> {
    let view = read_view(&state, &user, q, &["by"], true).await?;
    let lines = match (&view.scope, view.rest.get("by")) {
        (_, Some("phoneNumber")) => None,
        (_, Some(other)) => {
            return Err(ApiError::invalid(
                "by",
                format!("'{other}' is not phoneNumber"),
            ));
        }
        (crate::store::LineScope::Only(list), None) => Some(list.clone()),
        (crate::store::LineScope::All, None) => {
            return Err(ApiError::invalid(
                "phoneNumbers",
                "name the lines to compare (phoneNumbers or groupId), or give by=phoneNumber",
            ));
        }
    };
    let period = view.period.expect("defaults to today");
    Ok(Json(
        views::compare(state.store.as_ref(), &view.scope, &period, lines).await?,
    ))
}

/// The CSV header of an export; one row per call follows.
pub const EXPORT_HEADER: &str = "id,provider,providerCallId,phoneNumber,otherParty,direction,status,startedAt,endedAt,durationSeconds,flowId,flowName,recordingUrl\n";

fn csv_row(c: &crate::store::CallRow) -> String {
    let at = |s: i64| {
        jiff::Timestamp::from_second(s)
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(256));
    let _ = w.write_record([
        c.id.to_string(),
        c.provider.clone(),
        c.provider_call_id.clone(),
        c.phone_number.clone(),
        c.other_party.clone().unwrap_or_default(),
        c.direction.clone(),
        c.status.clone(),
        at(c.started_at),
        c.ended_at.map(at).unwrap_or_default(),
        c.duration_seconds.to_string(),
        c.flow_id.clone().unwrap_or_default(),
        c.flow_name.clone().unwrap_or_default(),
        c.recording_url.clone().unwrap_or_default(),
    ]);
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// `GET /api/analytics/export.csv`: the calls behind a view, newest first,
/// streamed in constant memory. No `from`/`to` means every call.
#[utoipa::path(
    get,
    path = "/api/analytics/export.csv",
    tag = "analytics",
    params(ViewQuery),
    responses(
        (status = 200, description = "One row per call after a header row", content_type = "text/csv", body = String,
            headers(("Content-Disposition" = String, description = "attachment; filename=\"linewise-calls.csv\""))),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Response> {
    let view = read_view(&state, &user, q, &[], false).await?;
    let period = view.period.as_ref().map(|p| p.second_bounds());
    let body = csv_body(state.store.clone(), view.scope.clone(), period);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"linewise-calls.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// The CSV of a view's calls as a streamed body. Rows flow store → channel →
/// CSV lines → channel → body: each channel is bounded, so memory stays
/// constant however many calls there are.
pub fn csv_body(
    store: std::sync::Arc<dyn crate::store::Store>,
    scope: crate::store::LineScope,
    period: Option<(i64, i64)>,
) -> Body {
    let (rows_tx, mut rows) = tokio::sync::mpsc::channel(1024);
    let (lines_tx, lines) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(64);
    tokio::spawn(async move {
        let failed = rows_tx.clone();
        if let Err(e) = store.stream_calls(&scope, period, rows_tx).await {
            let _ = failed.send(Err(e)).await;
        }
    });
    tokio::spawn(async move {
        if lines_tx.send(Ok(EXPORT_HEADER.to_string())).await.is_err() {
            return;
        }
        while let Some(row) = rows.recv().await {
            let line = match row {
                Ok(c) => Ok(csv_row(&c)),
                Err(e) => {
                    tracing::error!(cause = %e, "export stopped");
                    Err(std::io::Error::other("export stopped"))
                }
            };
            let stop = line.is_err();
            if lines_tx.send(line).await.is_err() || stop {
                return;
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(lines, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}
