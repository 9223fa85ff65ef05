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

/// What a view asks for: the lines, the period, and the remaining
/// parameters for the endpoint's own use. `P` is [`Period`] for the
/// figures (no period means today) and `Option<Period>` for lists of calls
/// (no period means every call).
pub struct View<P = Period> {
    pub scope: LineScope,
    pub period: P,
    pub rest: QueryPairs,
}

/// Reads the line filters, `from`/`to`/`tz` and checks that nothing else
/// was given but `extra`; a missing period is today.
pub async fn read_view(
    state: &AppState,
    user: &AuthUser,
    q: QueryPairs,
    extra: &[&str],
) -> ApiResult<View> {
    let view = read_list_view(state, user, q, extra).await?;
    let period = match view.period {
        Some(p) => p,
        None => today(state, &view.rest)?,
    };
    Ok(View {
        scope: view.scope,
        period,
        rest: view.rest,
    })
}

/// Like [`read_view`], for lists of calls: a missing period is none.
pub async fn read_list_view(
    state: &AppState,
    user: &AuthUser,
    q: QueryPairs,
    extra: &[&str],
) -> ApiResult<View<Option<Period>>> {
    let (filter, rest) = LineFilter::take_from(q.0, state.region)?;
    let rest = QueryPairs(rest);
    let known: Vec<&str> = VIEW_PARAMS.iter().chain(extra).copied().collect();
    rest.only(&known)?;
    let (from, to) = (rest.get("from"), rest.get("to"));
    let period = if from.is_some() || to.is_some() {
        let (tz, tz_name) = timezone(state, &rest)?;
        Some(Period::parse(
            from,
            to,
            &tz,
            &tz_name,
            jiff::Timestamp::now(),
        )?)
    } else {
        // The timezone is checked even when no period uses it.
        timezone(state, &rest)?;
        None
    };
    let scope = access::scope(state, user, &filter).await?;
    Ok(View {
        scope,
        period,
        rest,
    })
}

/// The view's `tz`, or the business timezone.
fn timezone(state: &AppState, rest: &QueryPairs) -> ApiResult<(jiff::tz::TimeZone, String)> {
    Ok(match rest.get("tz") {
        Some(name) => (parse_timezone("tz", name)?, name.trim().to_string()),
        None => (state.tz.clone(), state.tz_name.clone()),
    })
}

/// Today in the view's timezone.
fn today(state: &AppState, rest: &QueryPairs) -> ApiResult<Period> {
    let (tz, tz_name) = timezone(state, rest)?;
    Ok(Period::parse(
        None,
        None,
        &tz,
        &tz_name,
        jiff::Timestamp::now(),
    )?)
}

/// `GET /api/analytics/dashboard`.
#[utoipa::path(
    get,
    path = "/api/analytics/dashboard",
    tag = "analytics",
    params(ViewQuery),
    responses(
        (status = 200, description = "The period's figures (default: today)", body = Dashboard),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        doc::SignedIn,
    )
)]
pub async fn dashboard(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Dashboard>> {
    let view = read_view(&state, &user, q, &[]).await?;
    let period = view.period;
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
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        doc::SignedIn,
    )
)]
pub async fn timeseries(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Timeseries>> {
    let view = read_view(&state, &user, q, &["interval"]).await?;
    let interval = Interval::parse(view.rest.get("interval").unwrap_or("day"))?;
    let period = view.period;
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
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        doc::SignedIn,
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
    let view = read_view(&state, &user, QueryPairs(rest), &[]).await?;
    let by = By::parse(
        by_value
            .as_deref()
            .ok_or_else(|| ApiError::invalid("by", "is required"))?,
    )?;
    let period = view.period;
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
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        doc::SignedIn,
    )
)]
pub async fn compare(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Comparison>> {
    let view = read_view(&state, &user, q, &["by"]).await?;
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
    let period = view.period;
    Ok(Json(
        views::compare(state.store.as_ref(), &view.scope, &period, lines).await?,
    ))
}

/// The CSV header of an export; one row per call follows.
pub const EXPORT_HEADER: &str = "id,provider,providerCallId,phoneNumber,otherParty,direction,status,startedAt,endedAt,durationSeconds,flowId,flowName,recordingUrl\n";

fn csv_row(c: &crate::store::CallRow, out: &mut csv::Writer<Vec<u8>>) {
    let at = |s: i64| {
        jiff::Timestamp::from_second(s)
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    let text = |v: &Option<String>| cell(v.as_deref().unwrap_or_default()).into_owned();
    let _ = out.write_record([
        c.id.to_string(),
        cell(&c.provider).into_owned(),
        cell(&c.provider_call_id).into_owned(),
        cell(&c.phone_number).into_owned(),
        text(&c.other_party),
        cell(&c.direction).into_owned(),
        cell(&c.status).into_owned(),
        at(c.started_at),
        c.ended_at.map(at).unwrap_or_default(),
        c.duration_seconds.to_string(),
        text(&c.flow_id),
        text(&c.flow_name),
        text(&c.recording_url),
    ]);
}

/// A text cell that a spreadsheet will show as text, never run as a
/// formula (OWASP's CSV injection guidance): a value starting with `=`,
/// `@`, a tab or a carriage return, or with `+` or `-` not followed by a
/// plain number, gets a leading `'`. E.164 numbers (`+919876543210`) and
/// signed numbers stay as they are.
pub fn cell(value: &str) -> std::borrow::Cow<'_, str> {
    let plain_number = |rest: &str| {
        !rest.is_empty()
            && rest.bytes().any(|b| b.is_ascii_digit())
            && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && rest.bytes().filter(|b| *b == b'.').count() <= 1
    };
    let risky = match value.as_bytes().first() {
        Some(b'=' | b'@' | b'\t' | b'\r') => true,
        Some(b'+' | b'-') => !plain_number(&value[1..]),
        _ => false,
    };
    if risky {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// Rows an export reads from the database at a time. Between two reads
/// the export holds no connection, so a client that stops reading holds
/// nothing but its own socket (which the send timeout then closes).
pub const EXPORT_CHUNK: i64 = 1000;

/// Caps the CSV exports running at once, per user and in all.
#[derive(Clone)]
pub struct ExportSlots {
    running: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, usize>>>,
    max: usize,
    per_user: usize,
}

/// One running export's place; given back when its body is dropped.
pub struct ExportSlot {
    slots: ExportSlots,
    user_id: i64,
}

impl ExportSlots {
    pub fn new(max: usize, per_user: usize) -> Self {
        ExportSlots {
            running: Default::default(),
            max,
            per_user,
        }
    }

    /// A place for one more export by `user_id`: 429 when the user has
    /// their share running, 503 when the server has.
    pub fn claim(&self, user_id: i64) -> Result<ExportSlot, ApiError> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mine = running.get(&user_id).copied().unwrap_or(0);
        if mine >= self.per_user {
            return Err(ApiError::TooMany {
                message: format!(
                    "you already have {mine} export(s) downloading, the most one user may run at once; \
                     wait for one to finish"
                ),
                retry_after: 5,
            });
        }
        let all: usize = running.values().sum();
        if all >= self.max {
            return Err(ApiError::Busy {
                message: format!(
                    "{all} exports are downloading, the most the server runs at once; try again shortly"
                ),
                retry_after: 5,
            });
        }
        *running.entry(user_id).or_default() += 1;
        Ok(ExportSlot {
            slots: self.clone(),
            user_id,
        })
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut running = self.slots.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = running.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.user_id);
            }
        }
    }
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
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::Invalid),
        (status = 429, response = doc::RateLimited),
        doc::SignedIn,
    )
)]
pub async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Response> {
    let view = read_list_view(&state, &user, q, &[]).await?;
    let period = view.period.as_ref().map(|p| p.second_bounds());
    let slot = state.exports.claim(user.id)?;
    let body = csv_body(state.store.clone(), view.scope.clone(), period, slot);
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

/// The CSV of a view's calls as a streamed body, read [`EXPORT_CHUNK`]
/// rows at a time as the client takes them: memory stays constant however
/// many calls there are, and no database connection waits on the client.
/// `slot` is held until the body ends or is dropped.
pub fn csv_body(
    store: std::sync::Arc<dyn crate::store::Store>,
    scope: crate::store::LineScope,
    period: Option<(i64, i64)>,
    slot: ExportSlot,
) -> Body {
    struct Export {
        store: std::sync::Arc<dyn crate::store::Store>,
        scope: crate::store::LineScope,
        query: crate::store::CallQuery,
        started: bool,
        done: bool,
        _slot: ExportSlot,
    }
    let export = Export {
        store,
        scope,
        query: crate::store::CallQuery {
            period,
            after: None,
            limit: EXPORT_CHUNK,
        },
        started: false,
        done: false,
        _slot: slot,
    };
    Body::from_stream(futures_util::stream::unfold(export, |mut e| async move {
        if !e.started {
            e.started = true;
            return Some((Ok(bytes::Bytes::from_static(EXPORT_HEADER.as_bytes())), e));
        }
        if e.done {
            return None;
        }
        let rows = match e.store.list_calls(&e.scope, &e.query).await {
            Ok(rows) => rows,
            Err(cause) => {
                tracing::error!(%cause, "export stopped");
                e.done = true;
                return Some((Err(std::io::Error::other("export stopped")), e));
            }
        };
        e.done = (rows.len() as i64) < EXPORT_CHUNK;
        let last = rows.last()?;
        e.query.after = Some((last.started_at, last.id));
        let mut out = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::with_capacity(rows.len() * 160));
        for row in &rows {
            csv_row(row, &mut out);
        }
        let chunk = out.into_inner().unwrap_or_default();
        Some((Ok(bytes::Bytes::from(chunk)), e))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_neutralised() {
        for risky in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "@SUM(A1)",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "\tTAB",
            "\rCR",
            "+",
            "-",
            "+1.2.3",
        ] {
            assert_eq!(cell(risky), format!("'{risky}"), "{risky:?}");
        }
        for plain in [
            "+919876543210",
            "-12.5",
            "+1",
            "42",
            "Sales IVR",
            "",
            "https://rec.example/a.mp3",
            "a=b",
        ] {
            assert_eq!(cell(plain), plain, "{plain:?}");
        }
    }

    #[test]
    fn export_slots_are_capped_per_user_and_in_all() {
        let slots = ExportSlots::new(3, 2);
        let a1 = slots.claim(1).unwrap();
        let _a2 = slots.claim(1).unwrap();
        let e = slots.claim(1).err().unwrap();
        assert_eq!(e.status_code(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        let _b1 = slots.claim(2).unwrap();
        let e = slots.claim(3).err().unwrap();
        assert_eq!(e.status_code(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        drop(a1);
        assert!(slots.claim(3).is_ok());
    }
}
